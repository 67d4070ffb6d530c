//! `edgerec eval`: offline evaluation of a bundle against baselines, by one code path.
//!
//! * The two-tower model is evaluated **as shipped**: the quantized bundle is loaded with the
//!   SDK's loader, the user tower runs through `edgerec::compute::Mlp` on the stored
//!   (f16 / int8) weights, and items are ranked by the SDK's `ScoringEngine` over the stored
//!   int8 item index — the code path the browser runs.
//! * Baselines by the same metric code on the same split: popularity (train counts) and
//!   ItemCF (computed from the train file), plus any external recommendation lists given with
//!   `--recs NAME=FILE` (e.g. `implicit`'s ALS from `bench/als_baseline.py`).
//! * `--funnel`: the shipped on-device funnel (`Recommender`, history imported from train),
//!   re-rank off and on, as rows `funnel` and `funnel+rerank` ([`funnel`]).
//! * Items a user has in the train file are excluded from every ranking.
//! * Metrics: NDCG, Precision, Recall, MAP (Microsoft Recommenders' definitions, see
//!   [`metrics`]), HR, coverage and ILD at 10, 20, 50 and `--k`.
//!
//! `--split temporal|leave-last-out|random --interactions I.csv --items M.csv --split-out DIR`
//! writes `DIR/train.csv` and `DIR/test.csv` (and the data set's README beside them), and
//! evaluates `--bundle` on them when given; the bundle must have been trained on
//! `DIR/train.csv`, or its metrics are not held out. `random` is the Microsoft Recommenders
//! benchmark protocol: stratified by item, `--ratio` (0.75) of each item's interactions to
//! train at random with `--seed` (42); see [`data::split_with`].

pub mod funnel;
pub mod metrics;
pub mod replay;
pub mod replay_baselines;
pub mod responsiveness;

use crate::train::data::{
    self, Catalogue, ColumnArgs, Interactions, Item, SplitMode, read_interactions, read_items,
};
use crate::train::error::{Result, TrainError};
use crate::train::{ease, i2i};
use clap::Args;
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::{
    Activation, BackendChoice, ItemIndex, Mlp, MlpScratch, RowMask, ScoreRequest, ScoringEngine,
    Similarity,
};
use metrics::{Accumulator, CUTOFFS, ModelMetrics};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Arguments of `edgerec eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The bundle to evaluate (trained on the train file).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Train interactions (their items are "seen" and excluded from rankings).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Test interactions (the relevant items).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Length of the dumped lists (metrics are always at 10, 20, 50, plus K).
    #[arg(long, default_value_t = 50)]
    pub k: usize,
    /// Write `{"<user>": ["<item>", …]}` with each test user's top-K ids of `--dump-model`.
    #[arg(long)]
    pub dump_recs: Option<PathBuf>,
    /// Whose lists `--dump-recs` writes (`funnel` and `funnel+rerank` run the funnel).
    #[arg(long, value_enum, default_value_t = DumpModel::Funnel)]
    pub dump_model: DumpModel,
    /// Also rank every test user with the shipped funnel (`Recommender` with the train history
    /// imported), re-rank off and on: rows `funnel` and `funnel+rerank`.
    #[arg(long)]
    pub funnel: bool,
    /// A JSON `RecommenderConfig` for the `--funnel` rows (omitted fields take their defaults;
    /// `filter_exposed` and `user.history_capacity` are still set as the funnel module says).
    #[arg(long)]
    pub funnel_config: Option<String>,
    /// Write the metrics as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// External recommendation lists to score with the same code: NAME=FILE, FILE a JSON
    /// object `{"<user>": ["<item>", …]}` (repeatable). With `--replay`, each user's list is
    /// fixed for the session, with consumed items dropped: pass long lists (e.g. 500 items).
    #[arg(long = "recs")]
    pub recs: Vec<String>,
    /// Split mode: split `--interactions` per user and write the split to `--split-out`.
    #[arg(long, value_enum)]
    pub split: Option<SplitMode>,
    /// Interactions to split (with `--split`).
    #[arg(long)]
    pub interactions: Option<PathBuf>,
    /// Items file (with `--split`; resolves ids and drops unknown items).
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Where `--split` writes train.csv and test.csv.
    #[arg(long)]
    pub split_out: Option<PathBuf>,
    /// Train share of `--split temporal` (default 0.8) or `random` (default 0.75), in (0, 1).
    #[arg(long)]
    pub ratio: Option<f64>,
    /// Seed of `--split random`.
    #[arg(long, default_value_t = data::RANDOM_SPLIT_SEED)]
    pub seed: u64,
    /// History length of the user tower (default: the bundle's train_report.json, else 50).
    #[arg(long)]
    pub history: Option<usize>,
    /// Scoring backend: cpu (default, deterministic), auto or webgpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Neighbours per item of the ItemCF baseline.
    #[arg(long, default_value_t = 200)]
    pub itemcf_neighbours: usize,
    /// λ of the EASE baseline (Steck, WWW 2019); 0 skips it.
    #[arg(long, default_value_t = 400.0)]
    pub ease_lambda: f64,
    /// Skip the popularity, ItemCF and EASE baselines (with `--replay`: the ItemCF and EASE
    /// baselines).
    #[arg(long)]
    pub no_baselines: bool,
    /// Session replay instead of the static evaluation: feed each test user's interactions in
    /// time order through the SDK's `Recommender` and report next-item HR@10 / NDCG@10 for
    /// popularity, a cold user with on-device updates, the user tower, and tower + local
    /// fine-tuning, plus latency per click.
    #[arg(long)]
    pub replay: bool,
    /// Replay only the first N test users (by id), after `--replay-skip`.
    #[arg(long)]
    pub replay_users: Option<usize>,
    /// Skip the first N test users (by id): tune on one range, report on another.
    #[arg(long, default_value_t = 0)]
    pub replay_skip: usize,
    /// Also replay the fine re-rank grid the defaults are tuned on.
    #[arg(long)]
    pub replay_fine_grid: bool,
    /// A JSON `RecommenderConfig` for the replay (omitted fields take their defaults), e.g.
    /// `{"user": {"fine_tune": {"learning_rate": 0.1}}}`.
    #[arg(long)]
    pub replay_config: Option<String>,
    /// Session responsiveness instead: for every category with ≥ 50 items, a cold user clicks
    /// `--clicks` random items of it and the category's share of the next `--k` items (median
    /// of `--draws`, seeded by `--seed`) is reported. Needs only `--bundle`; `--funnel-config`
    /// sets the recommender's config.
    #[arg(long)]
    pub responsiveness: bool,
    /// Clicks per draw of `--responsiveness`.
    #[arg(long, default_value_t = 5)]
    pub clicks: usize,
    /// Draws per category of `--responsiveness`.
    #[arg(long, default_value_t = 20)]
    pub draws: usize,
    /// Column mapping of the CSV files.
    #[command(flatten)]
    pub columns: ColumnArgs,
}

/// The models `--dump-recs` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpModel {
    /// The shipped funnel, re-rank off.
    Funnel,
    /// The shipped funnel with the config's default re-rank.
    #[value(name = "funnel+rerank", alias = "funnel-rerank")]
    FunnelRerank,
    /// The two-tower model on its own.
    #[value(name = "two_tower", alias = "two-tower")]
    TwoTower,
    /// The ItemCF baseline.
    Itemcf,
    /// The EASE baseline.
    Ease,
    /// The popularity baseline.
    Popularity,
}

impl DumpModel {
    /// The row name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Funnel => "funnel",
            Self::FunnelRerank => "funnel+rerank",
            Self::TwoTower => "two_tower",
            Self::Itemcf => "itemcf",
            Self::Ease => "ease",
            Self::Popularity => "popularity",
        }
    }
}

/// The JSON `edgerec eval` writes.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// Train / test counts.
    pub data: DataSummary,
    /// Metrics per model, by name.
    pub models: BTreeMap<String, ModelMetrics>,
    /// The scoring backend and why.
    pub backend: String,
    /// How the funnel rows were made (with `--funnel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funnel: Option<funnel::FunnelSummary>,
}

/// What was evaluated and what was skipped.
#[derive(Debug, Serialize, Default)]
pub struct DataSummary {
    /// Train file counts.
    pub train: data::LoadReport,
    /// Test file counts.
    pub test: data::LoadReport,
    /// Test users evaluated (with at least one unseen relevant item).
    pub users: usize,
    /// Test users without train history (ranked from an empty history).
    pub cold_users: usize,
    /// Test rows skipped because the user already has the item in train.
    pub test_items_seen_in_train: usize,
    /// Test users skipped because every test item was seen in train.
    pub users_without_unseen_items: usize,
}

/// Runs `edgerec eval`.
///
/// # Errors
/// Any [`TrainError`], as a message.
pub fn run(args: &EvalArgs) -> std::result::Result<(), String> {
    eval(args).map_err(|e| e.to_string())
}

fn need<'a, T>(v: &'a Option<T>, name: &'static str, why: &str) -> Result<&'a T> {
    v.as_ref()
        .ok_or_else(|| TrainError::InvalidArgument { name, reason: format!("required {why}") })
}

fn funnel_config(args: &EvalArgs) -> Result<edgerec::recommender::RecommenderConfig> {
    match &args.funnel_config {
        Some(text) => serde_json::from_str(text).map_err(|e| TrainError::InvalidArgument {
            name: "funnel-config",
            reason: e.to_string(),
        }),
        None => Ok(Default::default()),
    }
}

fn eval(args: &EvalArgs) -> Result<()> {
    if args.responsiveness {
        let dir = need(&args.bundle, "bundle", "with --responsiveness")?;
        if args.clicks == 0 || args.draws == 0 || args.k == 0 || args.k > edgerec::compute::MAX_K {
            return Err(TrainError::InvalidArgument {
                name: "responsiveness",
                reason: "--clicks, --draws and --k must be at least 1 (k ≤ MAX_K)".into(),
            });
        }
        let bundle = Bundle::open(dir, &LoadOptions::default())?;
        let catalogue = catalogue_of(&bundle);
        let report = responsiveness::run(
            &bundle,
            &catalogue,
            funnel_config(args)?,
            args.clicks,
            args.draws,
            args.k,
            args.seed,
        )?;
        responsiveness::print(&report);
        return write_json(args, &report);
    }
    let (train_path, test_path) = if let Some(mode) = args.split {
        let input = need(&args.interactions, "interactions", "with --split")?;
        let items = need(&args.items, "items", "with --split")?;
        let out = need(&args.split_out, "split-out", "with --split")?;
        let catalogue = read_items(items, &args.columns)?;
        let all = read_interactions(input, &args.columns, &catalogue, None)?;
        let (train, test) = data::split_with(&all, mode, args.ratio, args.seed)?;
        std::fs::create_dir_all(out)
            .map_err(|e| TrainError::Io { path: out.clone(), reason: e.to_string() })?;
        let (tp, sp) = (out.join("train.csv"), out.join("test.csv"));
        data::write_interactions(&tp, &train, &all.users, &catalogue)?;
        data::write_interactions(&sp, &test, &all.users, &catalogue)?;
        if let Some(readme) = data::data_readme(input) {
            let to = out.join("DATA_README.txt");
            std::fs::copy(&readme, &to)
                .map_err(|e| TrainError::Io { path: to, reason: e.to_string() })?;
        }
        let how = match mode {
            SplitMode::Random => format!(
                "random by item, ratio {}, seed {}",
                args.ratio.unwrap_or(data::RANDOM_SPLIT_RATIO),
                args.seed
            ),
            _ => format!("{mode:?}"),
        };
        eprintln!(
            "split {}: {} train rows, {} test rows ({} users; skipped {} malformed, {} unknown \
             items) → {}",
            how,
            train.len(),
            test.len(),
            all.users.len(),
            all.report.malformed,
            all.report.unknown_items,
            out.display()
        );
        if args.bundle.is_none() {
            return Ok(());
        }
        (tp, sp)
    } else {
        (
            need(&args.train, "train", "(or --split)")?.clone(),
            need(&args.test, "test", "(or --split)")?.clone(),
        )
    };
    let dir = need(&args.bundle, "bundle", "to evaluate")?;
    if args.k == 0 || args.k > edgerec::compute::MAX_K {
        return Err(TrainError::InvalidArgument {
            name: "k",
            reason: format!("{} is outside 1..={}", args.k, edgerec::compute::MAX_K),
        });
    }
    if args.replay {
        let config: edgerec::recommender::RecommenderConfig = match &args.replay_config {
            Some(text) => serde_json::from_str(text).map_err(|e| TrainError::InvalidArgument {
                name: "replay-config",
                reason: e.to_string(),
            })?,
            None => Default::default(),
        };
        let report = replay::replay(
            dir,
            &train_path,
            &test_path,
            &args.columns,
            &replay::ReplaySetup {
                users: replay::UserRange { skip: args.replay_skip, take: args.replay_users },
                config: &config,
                fine_grid: args.replay_fine_grid,
                baselines: replay_baselines::BaselineArgs {
                    skip: args.no_baselines,
                    itemcf_neighbours: args.itemcf_neighbours,
                    ease_lambda: args.ease_lambda,
                    recs: args.recs.clone(),
                },
            },
        )?;
        replay::print(&report);
        return write_json(args, &report);
    }
    let report = evaluate(dir, &train_path, &test_path, args)?;
    print_table(&report);
    write_json(args, &report)
}

fn write_json(args: &EvalArgs, report: &impl Serialize) -> Result<()> {
    if let Some(p) = &args.json {
        let json = serde_json::to_string_pretty(report)
            .map_err(|e| TrainError::Io { path: p.clone(), reason: e.to_string() })?;
        std::fs::write(p, json + "\n")
            .map_err(|e| TrainError::Io { path: p.clone(), reason: e.to_string() })?;
    }
    Ok(())
}

/// The catalogue of a bundle's item table (rows = bundle rows, tags = categories).
pub(crate) fn catalogue_of(bundle: &Bundle) -> Catalogue {
    let mut cat = Catalogue::default();
    let mut index: HashMap<String, u32> = HashMap::new();
    for item in bundle.items().iter() {
        let categories = item
            .tags()
            .map(|t| {
                let next = index.len() as u32;
                *index.entry(t.to_string()).or_insert_with(|| {
                    cat.categories.push(t.to_string());
                    next
                })
            })
            .collect();
        cat.row_of.insert(item.id().to_string(), item.row() as u32);
        cat.items.push(Item {
            id: item.id().to_string(),
            title: item.title().to_string(),
            categories,
            created_at: item.created_at(),
        });
    }
    cat
}

/// Pairwise item distances for intra-list diversity (Ziegler et al. 2005): `1 − Jaccard` of the
/// category sets and `1 − cosine` of the bundle's (dequantized) item embeddings.
pub(crate) struct ItemDistances {
    unit: Vec<f32>,
    dim: usize,
    categories: Vec<HashSet<u32>>,
}

impl ItemDistances {
    /// From the bundle's item embeddings and the catalogue's categories (same rows).
    pub(crate) fn new(bundle: &Bundle, catalogue: &Catalogue) -> Self {
        let emb = bundle.item_embeddings();
        let dim = emb.cols();
        let mut unit = emb.dequantize();
        for row in unit.chunks_exact_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        let categories =
            catalogue.items.iter().map(|i| i.categories.iter().copied().collect()).collect();
        Self { unit, dim, categories }
    }

    /// `1 − |A ∩ B| / |A ∪ B|` of the two items' categories (0 when neither has any).
    pub(crate) fn category(&self, a: u32, b: u32) -> f64 {
        let (x, y) = (&self.categories[a as usize], &self.categories[b as usize]);
        let union = x.union(y).count();
        if union == 0 { 0.0 } else { 1.0 - x.intersection(y).count() as f64 / union as f64 }
    }

    /// `1 − cosine` of the two items' embeddings.
    pub(crate) fn embedding(&self, a: u32, b: u32) -> f64 {
        let d = self.dim;
        let (x, y) = (&self.unit[a as usize * d..][..d], &self.unit[b as usize * d..][..d]);
        1.0 - f64::from(x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>())
    }

    /// ILD of `list` by category and by embedding ([`metrics::intra_list`]).
    pub(crate) fn intra_list(&self, list: &[u32]) -> (f64, f64) {
        metrics::intra_list(list, |a, b| self.category(a, b), |a, b| self.embedding(a, b))
    }

    /// The item's categories.
    pub(crate) fn categories(&self, row: u32) -> &HashSet<u32> {
        &self.categories[row as usize]
    }
}

/// The user tower of a bundle, on the stored weights.
struct UserTower {
    history: Vec<f32>,
    dim: usize,
    mlp: Mlp,
    scratch: MlpScratch,
    n: usize,
}

impl UserTower {
    fn load(bundle: &Bundle, dir: &Path, n: usize) -> Result<Self> {
        let missing = |name: &str| TrainError::Bundle {
            dir: dir.to_path_buf(),
            reason: format!("no {name} tensor (not written by edgerec train?)"),
        };
        let t = |name: &str| bundle.tensor(name).ok_or_else(|| missing(name));
        let h = t("user_tower.history_embeddings")?;
        let mlp = Mlp::from_bundle(bundle, "user_tower", Activation::Relu, Activation::Identity)?
            .ok_or_else(|| missing("user_tower.w0"))?;
        Ok(Self { history: h.dequantize(), dim: h.cols(), mlp, scratch: MlpScratch::default(), n })
    }

    /// Query vector from the last `n` items of `history` (time order). Not normalized: the
    /// engine's cosine similarity is invariant to the query's norm.
    fn query(&mut self, history: &[u32]) -> Result<Vec<f32>> {
        let last = &history[history.len().saturating_sub(self.n)..];
        let mut pooled = vec![0f32; self.dim];
        for &i in last {
            for (p, x) in pooled.iter_mut().zip(&self.history[i as usize * self.dim..][..self.dim])
            {
                *p += x / last.len() as f32;
            }
        }
        Ok(self.mlp.forward(&pooled, &mut self.scratch)?)
    }
}

pub(crate) fn top_by_score(scores: &[f32], seen: &HashSet<u32>, k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..scores.len() as u32).filter(|i| !seen.contains(i)).collect();
    let k = k.min(idx.len());
    let cmp = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]).then(a.cmp(b));
    if k < idx.len() && k > 0 {
        idx.select_nth_unstable_by(k - 1, cmp);
    }
    idx.truncate(k);
    idx.sort_unstable_by(cmp);
    idx
}

fn history_file(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("two_tower")?.get("history")?.as_u64().map(|n| n as usize)
}

fn evaluate(
    dir: &Path,
    train_path: &Path,
    test_path: &Path,
    args: &EvalArgs,
) -> Result<EvalReport> {
    let bundle = Bundle::open(dir, &LoadOptions::default())?;
    let catalogue = catalogue_of(&bundle);
    let n_items = catalogue.items.len();
    let train = read_interactions(train_path, &args.columns, &catalogue, None)?;
    let test = read_interactions(test_path, &args.columns, &catalogue, None)?;
    let mut summary = DataSummary {
        train: train.report.clone(),
        test: test.report.clone(),
        ..Default::default()
    };
    // Train histories keyed by the external user id.
    let train_by_user: HashMap<&str, Vec<u32>> = train
        .by_user()
        .into_iter()
        .enumerate()
        .map(|(u, s)| (train.users[u].as_str(), s.iter().map(|r| r.item).collect()))
        .collect();
    let users = test_users(&test, &train_by_user, &mut summary);
    if users.is_empty() {
        return Err(TrainError::NotEnoughData(format!(
            "no test user with an unseen relevant item ({} test rows kept of {}; {} seen in train)",
            test.report.kept, test.report.rows, summary.test_items_seen_in_train
        )));
    }
    summary.users = users.len();
    let kmax = CUTOFFS.iter().copied().max().unwrap_or(50).max(args.k);
    let mut cutoffs = CUTOFFS.to_vec();
    if !cutoffs.contains(&args.k) {
        cutoffs.push(args.k);
        cutoffs.sort_unstable();
    }

    let distances = ItemDistances::new(&bundle, &catalogue);
    let d_cat = |a: u32, b: u32| distances.category(a, b);
    let d_emb = |a: u32, b: u32| distances.embedding(a, b);
    let emb = bundle.item_embeddings();
    let mut models = BTreeMap::new();
    let want_dump = args.dump_recs.as_ref().map(|_| args.dump_model.name());
    let mut dump: Option<BTreeMap<String, Vec<&str>>> = None;
    // Scores one model's lists (in `users` order) and keeps them when they are the dump's.
    let mut score = |name: &str, lists: &[Vec<u32>], models: &mut BTreeMap<_, _>| {
        let mut acc = Accumulator::new(&cutoffs, n_items);
        for ((user, _, rel), ranked) in users.iter().zip(lists) {
            acc.add(ranked, rel, d_cat, d_emb);
            if want_dump == Some(name) {
                let ids =
                    ranked.iter().take(args.k).map(|r| catalogue.items[*r as usize].id.as_str());
                dump.get_or_insert_with(BTreeMap::new).insert(user.to_string(), ids.collect());
            }
        }
        models.insert(name.to_string(), acc.finish());
    };

    // Two-tower, through the SDK's engine on the stored index.
    let history =
        args.history.or_else(|| history_file(&dir.join("train_report.json"))).unwrap_or(50);
    let mut tower = UserTower::load(&bundle, dir, history)?;
    let similarity = match bundle.manifest().similarity {
        edgerec::bundle::Similarity::Cosine => Similarity::Cosine,
        edgerec::bundle::Similarity::Dot => Similarity::Dot,
    };
    let index = ItemIndex::new(emb.to_quantized_matrix()?, similarity);
    let choice: BackendChoice = args.backend.parse()?;
    let mut engine = pollster::block_on(ScoringEngine::new(index, choice))?;
    let backend = format!("{} ({})", engine.report().backend, engine.report().reason);
    let mut lists = Vec::with_capacity(users.len());
    for (_, hist, _) in &users {
        let q = tower.query(hist)?;
        let mut mask = RowMask::new(n_items);
        hist.iter().for_each(|i| mask.exclude(*i as usize));
        let k = kmax.min(n_items - hist.iter().collect::<HashSet<_>>().len()).max(1);
        let top =
            pollster::block_on(engine.score_top_k(&ScoreRequest::new(&q, k).with_mask(&mask)))?;
        lists.push(top.into_iter().next().map(|t| t.ids).unwrap_or_default());
    }
    score("two_tower", &lists, &mut models);

    if !args.no_baselines {
        // Popularity: train counts.
        let mut counts = vec![0f32; n_items];
        for r in &train.rows {
            counts[r.item as usize] += 1.0;
        }
        let lists: Vec<Vec<u32>> = users
            .iter()
            .map(|(_, hist, _)| top_by_score(&counts, &hist.iter().copied().collect(), kmax))
            .collect();
        score("popularity", &lists, &mut models);
        // ItemCF from the train file: score(u, j) = Σ_{i ∈ history(u)} sim(i, j).
        let sets: Vec<Vec<u32>> = train
            .by_user()
            .into_iter()
            .map(|s| {
                let mut v: Vec<u32> = s.iter().map(|r| r.item).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let nb = i2i::item_cf(&sets, n_items, args.itemcf_neighbours, 0.5);
        score("itemcf", &neighbour_lists(&nb, &users, &counts, kmax), &mut models);
        // EASE (Steck 2019) at the same λ as the trainer's default, with 1,000 neighbours
        // per item (the full rows would be 9,742² entries on MovieLens; beyond the first
        // thousand the weights no longer change a top-50).
        if args.ease_lambda > 0.0 {
            let nb = ease::ease(&sets, n_items, 1000.min(n_items), args.ease_lambda)?;
            score("ease", &neighbour_lists(&nb, &users, &counts, kmax), &mut models);
        }
    } else if matches!(args.dump_model, DumpModel::Itemcf | DumpModel::Ease | DumpModel::Popularity)
        && args.dump_recs.is_some()
    {
        return Err(TrainError::InvalidArgument {
            name: "dump-model",
            reason: format!(
                "{} is a baseline, and --no-baselines skips it",
                args.dump_model.name()
            ),
        });
    }

    // The shipped funnel: the SDK's `Recommender`, history imported from train.
    let dump_funnel = args.dump_recs.is_some()
        && matches!(args.dump_model, DumpModel::Funnel | DumpModel::FunnelRerank);
    let mut funnel_summary = None;
    if args.funnel || dump_funnel {
        let seen: Vec<HashSet<u32>> =
            users.iter().map(|(_, hist, _)| hist.iter().copied().collect()).collect();
        let who: Vec<(&str, &HashSet<u32>)> =
            users.iter().zip(&seen).map(|((user, _, _), s)| (*user, s)).collect();
        let config = funnel_config(args)?;
        let lists = funnel::rank(&bundle, &catalogue, &train, &who, kmax, config)?;
        score("funnel", &lists.plain, &mut models);
        score("funnel+rerank", &lists.rerank, &mut models);
        if lists.summary.seen_dropped > 0 {
            eprintln!(
                "funnel: dropped {} train items from its lists (consumed filter missed them)",
                lists.summary.seen_dropped
            );
        }
        funnel_summary = Some(lists.summary);
    }

    if let Some(p) = &args.dump_recs {
        let json = serde_json::to_string(&dump.unwrap_or_default())
            .map_err(|e| TrainError::Io { path: p.clone(), reason: e.to_string() })?;
        std::fs::write(p, json)
            .map_err(|e| TrainError::Io { path: p.clone(), reason: e.to_string() })?;
    }

    for spec in &args.recs {
        let (name, lists) = read_recs(spec)?;
        let mut acc = Accumulator::new(&cutoffs, n_items);
        let mut unknown = 0usize;
        for (user, hist, rel) in &users {
            let seen: HashSet<u32> = hist.iter().copied().collect();
            let ranked: Vec<u32> = lists
                .get(*user)
                .map(|l| {
                    l.iter()
                        .filter_map(|id| {
                            let r = catalogue.row_of.get(id).copied();
                            unknown += usize::from(r.is_none());
                            r
                        })
                        .filter(|r| !seen.contains(r))
                        .collect()
                })
                .unwrap_or_default();
            acc.add(&ranked, rel, d_cat, d_emb);
        }
        if unknown > 0 {
            eprintln!("{name}: skipped {unknown} recommended ids not in the bundle");
        }
        models.insert(name.to_string(), acc.finish());
    }
    Ok(EvalReport { data: summary, models, backend, funnel: funnel_summary })
}

/// An external list file, `--recs NAME=FILE` with FILE `{"<user>": ["<item>", …]}`.
///
/// # Errors
/// [`TrainError::InvalidArgument`] when `spec` is not `NAME=FILE`; [`TrainError::Io`] for a file
/// that cannot be read; [`TrainError::Csv`] for one that is not such an object.
pub(crate) fn read_recs(spec: &str) -> Result<(&str, HashMap<String, Vec<String>>)> {
    let (name, file) = spec.split_once('=').ok_or_else(|| TrainError::InvalidArgument {
        name: "recs",
        reason: format!("{spec:?} is not NAME=FILE"),
    })?;
    let path = PathBuf::from(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TrainError::Io { path: path.clone(), reason: e.to_string() })?;
    let lists = serde_json::from_str(&text)
        .map_err(|e| TrainError::Csv { file: path, reason: format!("recs JSON: {e}") })?;
    Ok((name, lists))
}

/// Item-to-item lists: `score(u, j) = Σ_{i ∈ history(u)} sim(i, j)` over `nb`, ties (e.g. a
/// user with no neighbours) broken by train popularity.
fn neighbour_lists(
    nb: &i2i::Neighbours,
    users: &[(&str, Vec<u32>, HashSet<u32>)],
    counts: &[f32],
    kmax: usize,
) -> Vec<Vec<u32>> {
    let mut scores = vec![0f32; counts.len()];
    let mut lists = Vec::with_capacity(users.len());
    for (_, hist, _) in users {
        scores.iter_mut().for_each(|s| *s = 0.0);
        let seen: HashSet<u32> = hist.iter().copied().collect();
        for &i in &seen {
            for (j, s) in nb.of(i as usize) {
                scores[j as usize] += s;
            }
        }
        for (s, c) in scores.iter_mut().zip(counts) {
            *s += 1e-6 * c / (1.0 + c);
        }
        lists.push(top_by_score(&scores, &seen, kmax));
    }
    lists
}

/// `(user id, train history in time order, unseen relevant test items)` per test user.
fn test_users<'a>(
    test: &'a Interactions,
    train: &HashMap<&str, Vec<u32>>,
    summary: &mut DataSummary,
) -> Vec<(&'a str, Vec<u32>, HashSet<u32>)> {
    let mut out = Vec::new();
    for (u, seq) in test.by_user().into_iter().enumerate() {
        if seq.is_empty() {
            continue;
        }
        let id = test.users[u].as_str();
        let hist = train.get(id).cloned().unwrap_or_default();
        if hist.is_empty() {
            summary.cold_users += 1;
        }
        let seen: HashSet<u32> = hist.iter().copied().collect();
        let mut rel = HashSet::new();
        for r in &seq {
            if seen.contains(&r.item) {
                summary.test_items_seen_in_train += 1;
            } else {
                rel.insert(r.item);
            }
        }
        if rel.is_empty() {
            summary.users_without_unseen_items += 1;
            continue;
        }
        out.push((id, hist, rel));
    }
    out
}

fn print_table(report: &EvalReport) {
    let d = &report.data;
    println!(
        "users {} (cold {}; skipped {} with no unseen test item); test rows {} kept of {} \
         ({} malformed, {} unknown items); {} test rows already in train; backend {}",
        d.users,
        d.cold_users,
        d.users_without_unseen_items,
        d.test.kept,
        d.test.rows,
        d.test.malformed,
        d.test.unknown_items,
        d.test_items_seen_in_train,
        report.backend
    );
    // Best NDCG@10 first.
    let mut rows: Vec<(&String, &ModelMetrics)> = report.models.iter().collect();
    let at = |m: &ModelMetrics, k: &str, f: fn(&metrics::AtK) -> f64| m.at.get(k).map_or(0.0, f);
    rows.sort_by(|a, b| at(b.1, "@10", |x| x.ndcg).total_cmp(&at(a.1, "@10", |x| x.ndcg)));
    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "model",
        "NDCG@10",
        "P@10",
        "R@10",
        "MAP@10",
        "MAPmin@10",
        "HR@10",
        "Cov@10",
        "ILDcat",
        "ILDemb"
    );
    for (name, m) in &rows {
        if let Some(a) = m.at.get("@10") {
            println!(
                "{name:<14} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>8.4} {:>8.4} {:>7.4} {:>7.4}",
                a.ndcg,
                a.precision,
                a.recall,
                a.map,
                a.map_min,
                a.hr,
                a.coverage,
                m.ild_category,
                m.ild_embedding
            );
        }
    }
    let mut ks: Vec<&String> = rows
        .first()
        .map(|(_, m)| m.at.keys().filter(|k| k.as_str() != "@10").collect())
        .unwrap_or_default();
    ks.sort_by_key(|k| k.trim_start_matches('@').parse::<usize>().unwrap_or(0));
    if ks.is_empty() {
        return;
    }
    print!("{:<14}", "model");
    for k in &ks {
        for m in ["NDCG", "P", "R", "MAP"] {
            print!(" {:>8}", format!("{m}{k}"));
        }
    }
    println!();
    for (name, m) in &rows {
        print!("{name:<14}");
        for k in &ks {
            if let Some(a) = m.at.get(k.as_str()) {
                for v in [a.ndcg, a.precision, a.recall, a.map] {
                    print!(" {v:>8.4}");
                }
            }
        }
        println!();
    }
    if let Some(f) = &report.funnel {
        println!(
            "funnel: k {}, history capacity {}, {:.2} ms/user (both lists), {} train items \
             dropped; re-rank {}",
            f.k, f.history_capacity, f.ms_per_user, f.seen_dropped, f.rerank
        );
    }
}
