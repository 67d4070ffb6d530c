//! `edgerec eval --replay`: session replay of held-out users through the SDK's `Recommender`
//! (the code the browser runs), next-item HR@10 / NDCG@10, and latency per click.
//!
//! For each test user, the test interactions are fed in time order. Before each one, the
//! recommender produces its top-10 (items the user already consumed are filtered, so an event
//! whose item was consumed earlier is skipped and counted); the event is a hit when its item is
//! in that list (NDCG = 1/log2(rank + 1) for a single relevant item). Then the interaction is
//! recorded, which updates the user state on the device.
//!
//! Settings compared (same bundle, same events):
//! * `popularity` — the popular channel alone, no user model;
//! * `cold+updates` — a new user (no server history): cold start, then the on-device tower and
//!   fine-tuning from the session's own clicks;
//! * `tower` — the train history imported first, the user tower recomputed after each click, no
//!   fine-tuning;
//! * `tower+finetune` — the same plus local fine-tuning of the residual at each click.
//!
//! Each user-model setting is measured on two lists: `vector` (the user embedding's own top-10
//! over the item index — the embedding's quality in isolation) and `funnel` (the full
//! `recommend()`: every recall channel, merge, ranker, then the config's re-rank and rules). The
//! exposure filter is off (in a replay, "shown" is not "seen": the next item may well have been
//! in an earlier list). Every list — settings, baselines, re-rank rows, hybrid mode — also gets
//! catalogue coverage (the share of the catalogue in any of its top-10s) and ILD@10 (below).
//!
//! **Re-rank table.** On the `tower+finetune` setting, before each event, the same live
//! recommender also lists 10 items by `recommend_with` under each diversity setting of
//! [`rerank_settings`] (`none`, MMR and DPP at several trade-offs, windowed variants; embedding
//! similarity; the config's rules). Per setting: HR@10 and NDCG@10 as above, and over the same
//! lists intra-list diversity (Ziegler et al. 2005) — ILD@10 by category (mean pairwise
//! `1 − Jaccard` of the category sets) and by embedding (mean pairwise `1 − cosine` of the
//! bundle's item embeddings) — and category coverage: the number of distinct categories in a
//! top-10 list (the union of its items' categories) over the number of categories in the
//! catalogue, averaged over lists (`categories_per_list` is the same before the division).
//!
//! **Hybrid mode.** Also on `tower+finetune`: at each user's session start (train history
//! imported, nothing of the session recorded yet) a stand-in for the app's server computes a
//! fixed top-100 once — `recommend_with(k = 100, no diversity, no rules)`, i.e. the user tower
//! and the funnel over the train history only. At each event, with the items consumed since
//! dropped from that list (by the app: hybrid mode itself filters only blocked items), it is
//! scored two ways: `server`, the list's first 10 (what a server-only app shows), and `device`,
//! `recommend_with({candidates: the list, k: 10, no diversity})` on the live recommender, which
//! re-scores the server's candidates with the session's clicks (`device+rerank`: the same with
//! the config's default diversity).

use super::funnel::to_interactions;
use super::replay_baselines::{BaselineArgs, ReplayBaselines};
use crate::train::data::{Interactions, read_interactions};
use crate::train::error::{Result, TrainError};
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::{BackendChoice, RowMask, ScoreRequest};
use edgerec::recall::{ChannelConfig, ChannelKind, RecallConfig};
use edgerec::recommender::{
    DiversityMethod, DiversityOptions, RecommendOptions, Recommender, RecommenderConfig,
    ServerCandidate, SimilarityKind,
};
use edgerec::user::Interaction;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// The list length metrics are computed at.
const K: usize = 10;
/// Length of the server's list in hybrid mode.
const HYBRID_SERVER_K: usize = 100;
/// The NDCG@10 loss (relative to no re-rank) within which the best diversity gain is named.
const NDCG_LOSS_BUDGET: f64 = 0.05;

/// Accuracy and diversity of one setting's lists over the events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NextItem {
    /// Events evaluated.
    pub events: usize,
    /// HR@10: share of events whose item was in the top-10 (= Recall@10: one relevant item).
    pub hr10: f64,
    /// NDCG@10 (one relevant item).
    pub ndcg10: f64,
    /// Catalogue coverage: the share of the catalogue in any of the top-10 lists.
    pub coverage: f64,
    /// ILD@10 by category: mean pairwise `1 − Jaccard` of category sets, over lists.
    pub ild_category: f64,
    /// ILD@10 by embedding: mean pairwise `1 − cosine`, over lists.
    pub ild_embedding: f64,
}

/// Hits, gains and diversity of one list over events.
#[derive(Default)]
pub(super) struct Tally {
    events: usize,
    hits: f64,
    gains: f64,
    ild_cat: f64,
    ild_emb: f64,
    categories: f64,
    covered: HashSet<u32>,
}

impl Tally {
    /// Scores `list` (best first) against the event's item, and its top-10's diversity.
    pub(super) fn add(&mut self, list: &[u32], target: u32, d: &super::ItemDistances) {
        self.events += 1;
        let top = &list[..K.min(list.len())];
        if let Some(rank) = top.iter().position(|&r| r == target) {
            self.hits += 1.0;
            self.gains += 1.0 / ((rank + 2) as f64).log2();
        }
        let (cat, emb) = d.intra_list(top);
        self.ild_cat += cat;
        self.ild_emb += emb;
        let seen: HashSet<u32> =
            top.iter().flat_map(|&r| d.categories(r).iter().copied()).collect();
        self.categories += seen.len() as f64;
        self.covered.extend(top.iter().copied());
    }

    /// The averages, coverage over a catalogue of `n_items`.
    pub(super) fn finish(&self, n_items: usize) -> NextItem {
        let n = self.events.max(1) as f64;
        NextItem {
            events: self.events,
            hr10: self.hits / n,
            ndcg10: self.gains / n,
            coverage: self.covered.len() as f64 / n_items.max(1) as f64,
            ild_category: self.ild_cat / n,
            ild_embedding: self.ild_emb / n,
        }
    }

    /// Mean number of distinct categories in a top-10 list.
    fn categories_per_list(&self) -> f64 {
        self.categories / self.events.max(1) as f64
    }
}

/// Milliseconds per click (record + recommend), CPU path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Clicks timed.
    pub clicks: usize,
    /// Mean of `record` (user tower + fine-tuning).
    pub record_mean_ms: f64,
    /// Mean of `recommend(10)` (query, recall, rank).
    pub recommend_mean_ms: f64,
    /// Median of the two together.
    pub p50_ms: f64,
    /// 95th percentile of the two together.
    pub p95_ms: f64,
}

/// The JSON `edgerec eval --replay` writes.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    /// Users replayed.
    pub users: usize,
    /// Test events skipped because the item was already consumed (it cannot be recommended).
    pub skipped_consumed: usize,
    /// Per setting (`popularity`, `cold+updates`, …) and list (`vector`, `funnel`).
    pub settings: BTreeMap<String, BTreeMap<String, NextItem>>,
    /// The baselines on the same events (`itemcf`, `ease`, external lists; see
    /// [`super::replay_baselines`]).
    pub baselines: BTreeMap<String, NextItem>,
    /// Latency per click of `tower+finetune`.
    pub latency: Latency,
    /// The re-rank table on `tower+finetune`'s funnel, in [`rerank_settings`] order.
    pub rerank: Vec<RerankRow>,
    /// Hybrid mode on `tower+finetune`: the server's fixed list vs. the device re-ranking it.
    pub hybrid: Hybrid,
    /// The fine-tuning configuration used.
    pub fine_tune: serde_json::Value,
    /// Backend and why.
    pub backend: String,
}

/// One re-rank setting's lists on `tower+finetune` (see the module docs for the definitions).
#[derive(Debug, Clone, Serialize)]
pub struct RerankRow {
    /// Short name, e.g. `dpp θ=0.7 w=8`.
    pub name: String,
    /// The diversity options passed to `recommend_with`.
    pub diversity: DiversityOptions,
    /// Events evaluated.
    pub events: usize,
    /// HR@10.
    pub hr10: f64,
    /// NDCG@10.
    pub ndcg10: f64,
    /// ILD@10 by category: mean pairwise `1 − Jaccard` of category sets.
    pub ild_category: f64,
    /// ILD@10 by embedding: mean pairwise `1 − cosine`.
    pub ild_embedding: f64,
    /// Mean number of distinct categories in a top-10 list.
    pub categories_per_list: f64,
    /// `categories_per_list` over the catalogue's number of categories.
    pub category_coverage: f64,
    /// NDCG@10 relative to `none` (−0.05 is a 5% loss).
    pub ndcg_change: f64,
}

/// Hybrid mode's next-item accuracy (see the module docs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hybrid {
    /// Length of the server's fixed list.
    pub server_k: usize,
    /// Mean length of the server lists actually produced.
    pub server_list_mean: f64,
    /// The server's fixed order, consumed items removed.
    pub server: NextItem,
    /// The device re-scoring the server's candidates (no diversity).
    pub device: NextItem,
    /// The same with the config's default diversity.
    pub device_rerank: NextItem,
}

/// Which test users (sorted by id) a replay feeds: skip the first `skip`, then take `take` (all
/// when `None`). Tuning on one range and reporting on a disjoint one keeps the chosen defaults
/// off the reported users.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRange {
    /// Users skipped.
    pub skip: usize,
    /// Users replayed after them.
    pub take: Option<usize>,
}

/// The re-rank settings of the table: the baseline, MMR (Carbonell & Goldstein 1998) at
/// λ = 0.9 / 0.7 / 0.5, greedy DPP (Chen et al. 2018) at θ = 0.9 / 0.7 / 0.5, and both with a
/// window of 8, with embedding similarity. `fine` adds the grid the defaults are tuned on:
/// λ, θ ∈ {0.95, 0.85, 0.8}, category and mixed similarity, and windows of 5.
pub fn rerank_settings(fine: bool) -> Vec<(String, DiversityOptions)> {
    let base = DiversityOptions::NONE;
    let mmr = |lambda: f64, window: Option<usize>| DiversityOptions {
        method: DiversityMethod::Mmr,
        lambda,
        window,
        ..base
    };
    let dpp = |theta: f64, window: Option<usize>| DiversityOptions {
        method: DiversityMethod::Dpp,
        theta,
        window,
        ..base
    };
    let mut settings: Vec<(String, DiversityOptions)> = vec![
        ("none".into(), base),
        ("mmr λ=0.9".into(), mmr(0.9, None)),
        ("mmr λ=0.7".into(), mmr(0.7, None)),
        ("mmr λ=0.5".into(), mmr(0.5, None)),
        ("dpp θ=0.9".into(), dpp(0.9, None)),
        ("dpp θ=0.7".into(), dpp(0.7, None)),
        ("dpp θ=0.5".into(), dpp(0.5, None)),
        ("dpp θ=0.7 w=8".into(), dpp(0.7, Some(8))),
        ("mmr λ=0.7 w=8".into(), mmr(0.7, Some(8))),
        ("mmr λ=0.9 cat (default)".into(), DiversityOptions::default()),
    ];
    if fine {
        let with = |d: DiversityOptions, similarity| DiversityOptions { similarity, ..d };
        settings.extend([
            ("mmr λ=0.95".into(), mmr(0.95, None)),
            ("mmr λ=0.85".into(), mmr(0.85, None)),
            ("mmr λ=0.8".into(), mmr(0.8, None)),
            ("dpp θ=0.95".into(), dpp(0.95, None)),
            ("dpp θ=0.85".into(), dpp(0.85, None)),
            ("dpp θ=0.8".into(), dpp(0.8, None)),
            ("dpp θ=0.9 w=5".into(), dpp(0.9, Some(5))),
            ("mmr λ=0.9 w=5".into(), mmr(0.9, Some(5))),
            ("mmr λ=0.8 cat".into(), with(mmr(0.8, None), SimilarityKind::Category)),
            ("dpp θ=0.9 cat".into(), with(dpp(0.9, None), SimilarityKind::Category)),
            ("dpp θ=0.9 mix".into(), with(dpp(0.9, None), SimilarityKind::Mix)),
            ("mmr λ=0.9 mix".into(), with(mmr(0.9, None), SimilarityKind::Mix)),
        ]);
    }
    settings
}

impl RerankRow {
    fn new(
        name: &str,
        diversity: DiversityOptions,
        tally: &Tally,
        catalogue: (usize, usize),
    ) -> Self {
        let (n_items, n_categories) = catalogue;
        let m = tally.finish(n_items);
        RerankRow {
            name: name.to_string(),
            diversity,
            events: m.events,
            hr10: m.hr10,
            ndcg10: m.ndcg10,
            ild_category: m.ild_category,
            ild_embedding: m.ild_embedding,
            categories_per_list: tally.categories_per_list(),
            category_coverage: tally.categories_per_list() / n_categories.max(1) as f64,
            ndcg_change: 0.0,
        }
    }
}

fn rows_of(recs: &edgerec::recommender::Recommendations) -> Vec<u32> {
    recs.items.iter().filter_map(|i| i.row).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Setting {
    Popularity,
    Cold,
    Tower,
    FineTune,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Popularity => "popularity",
            Setting::Cold => "cold+updates",
            Setting::Tower => "tower",
            Setting::FineTune => "tower+finetune",
        }
    }
}

fn config_for(setting: Setting, base: &RecommenderConfig) -> RecommenderConfig {
    let mut config = base.clone();
    config.filter_exposed = false;
    match setting {
        Setting::Popularity => {
            config.recall = RecallConfig {
                channels: vec![ChannelConfig::new(
                    "popular",
                    ChannelKind::Popular { recent: false },
                    K,
                    1.0,
                )],
                total: K,
            };
            config.use_ranker = false;
            config.user.fine_tune.enabled = false;
        }
        Setting::Tower => config.user.fine_tune.enabled = false,
        Setting::Cold | Setting::FineTune => config.user.fine_tune.enabled = true,
    }
    config
}

/// The vector list: the user embedding's top-10 over the index, consumed items masked; the
/// funnel's list for a cold user (there is no embedding yet).
async fn vector_list(rec: &mut Recommender, funnel: &[u32]) -> Result<Vec<u32>> {
    let Some(q) = rec.query()? else { return Ok(funnel.to_vec()) };
    let rows = rec.items().len();
    let mut mask = RowMask::new(rows);
    for row in rec.user_model().consumed_rows(rec.state()) {
        mask.exclude(row as usize);
    }
    let top = rec.engine_mut().score_top_k(&ScoreRequest::new(&q, K).with_mask(&mask)).await?;
    Ok(top.into_iter().next().map(|t| t.ids).unwrap_or_default())
}

/// What a replay runs beside the data: users, the funnel's configuration, the re-rank grid and
/// the baselines.
#[derive(Debug, Clone)]
pub struct ReplaySetup<'a> {
    /// Which test users.
    pub users: UserRange,
    /// The funnel's configuration (the settings adjust it, see [`config_for`]).
    pub config: &'a RecommenderConfig,
    /// The finer re-rank grid of [`rerank_settings`].
    pub fine_grid: bool,
    /// The baselines.
    pub baselines: BaselineArgs,
}

/// Runs the replay.
///
/// # Errors
/// Bundle, data and SDK errors.
pub fn replay(
    dir: &Path,
    train_path: &Path,
    test_path: &Path,
    columns: &crate::train::data::ColumnArgs,
    setup: &ReplaySetup<'_>,
) -> Result<ReplayReport> {
    let (users_range, base, fine_grid) = (setup.users, setup.config, setup.fine_grid);
    let bundle = Bundle::open(dir, &LoadOptions::default())?;
    let catalogue = super::catalogue_of(&bundle);
    let train = read_interactions(train_path, columns, &catalogue, None)?;
    let test = read_interactions(test_path, columns, &catalogue, None)?;
    let history_of = histories(&train);
    let mut baselines = ReplayBaselines::new(&train.by_user(), &catalogue, &setup.baselines)?;
    let mut users: Vec<(&str, Vec<Interaction>)> = test
        .by_user()
        .into_iter()
        .enumerate()
        .filter(|(_, seq)| !seq.is_empty())
        .map(|(u, seq)| (test.users[u].as_str(), to_interactions(&seq, &catalogue)))
        .collect();
    users.sort_by(|a, b| a.0.cmp(b.0));
    users.drain(..users_range.skip.min(users.len()));
    if let Some(n) = users_range.take {
        users.truncate(n);
    }
    if users.is_empty() {
        return Err(TrainError::NotEnoughData("no test user to replay".into()));
    }
    let distances = super::ItemDistances::new(&bundle, &catalogue);
    let n_items = catalogue.items.len();
    let reranks = rerank_settings(fine_grid);
    let mut rerank_stats: Vec<Tally> = reranks.iter().map(|_| Tally::default()).collect();
    let (mut server_tally, mut device_tally, mut device_rerank_tally) =
        (Tally::default(), Tally::default(), Tally::default());
    let mut server_lengths = Vec::new();
    let mut settings = BTreeMap::new();
    let mut latency = Vec::new();
    let mut skipped = 0usize;
    let mut backend = String::new();
    let progress = indicatif::ProgressBar::new((users.len() * 4) as u64);
    for setting in [Setting::Popularity, Setting::Cold, Setting::Tower, Setting::FineTune] {
        let config = config_for(setting, base);
        let mut rec = pollster::block_on(Recommender::new(&bundle, config, BackendChoice::Cpu))?;
        backend = format!("{} ({})", rec.backend().backend, rec.backend().reason);
        let (mut vector, mut funnel) = (Tally::default(), Tally::default());
        skipped = 0;
        for (user, events) in &users {
            rec.reset_user();
            let warm = matches!(setting, Setting::Tower | Setting::FineTune);
            // The baselines run once, beside the `tower` setting (train history, then the
            // session's clicks).
            let with_baselines = setting == Setting::Tower;
            if with_baselines {
                let rows: Vec<u32> = history_of
                    .get(user)
                    .map(|h| h.iter().map(|i| i.item).collect())
                    .unwrap_or_default();
                baselines.start_user(user, &rows);
            }
            if let Some(history) = history_of.get(user).filter(|_| warm) {
                let history = to_interactions(history, &catalogue);
                let now = history.last().map_or(0.0, |i| i.timestamp_ms);
                rec.import_history(&history, now)?;
            }
            // Hybrid mode: the server's list, once per session, from the train history alone.
            let server: Vec<(u32, ServerCandidate)> = match (setting, events.first()) {
                (Setting::FineTune, Some(first)) => {
                    let options = RecommendOptions {
                        k: HYBRID_SERVER_K,
                        diversity: Some(DiversityOptions::NONE),
                        rules: Some(Vec::new()),
                        ..Default::default()
                    };
                    let recs =
                        pollster::block_on(rec.recommend_with(&options, first.timestamp_ms))?;
                    server_lengths.push(recs.items.len());
                    recs.items
                        .iter()
                        .filter_map(|i| {
                            let c = ServerCandidate { id: i.id.clone(), score: f64::from(i.score) };
                            i.row.map(|r| (r, c))
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            for event in events {
                let now = event.timestamp_ms;
                let target = rec.items().row_of(&event.item).map(|r| r as u32);
                let consumed = rec.user_model().consumed_rows(rec.state());
                if let (true, Some(row)) = (with_baselines, target) {
                    if consumed.binary_search(&row).is_err() {
                        baselines.score(row, K, &distances);
                    }
                    baselines.record(row);
                }
                let Some(target) = target.filter(|t| consumed.binary_search(t).is_err()) else {
                    skipped += 1;
                    rec.record(event, now)?;
                    continue;
                };
                let start = Instant::now();
                let list = rows_of(&pollster::block_on(rec.recommend(K, now))?);
                let recommend_ms = start.elapsed().as_secs_f64() * 1e3;
                funnel.add(&list, target, &distances);
                if setting != Setting::Popularity {
                    let own = pollster::block_on(vector_list(&mut rec, &list))?;
                    vector.add(&own, target, &distances);
                }
                if setting == Setting::FineTune {
                    for ((_, diversity), stats) in reranks.iter().zip(&mut rerank_stats) {
                        let options = RecommendOptions {
                            k: K,
                            diversity: Some(*diversity),
                            ..Default::default()
                        };
                        let list = rows_of(&pollster::block_on(rec.recommend_with(&options, now))?);
                        stats.add(&list, target, &distances);
                    }
                    // The app drops what the user consumed since the server's list was made (hybrid
                    // mode applies only the blocklists to server candidates).
                    let live: Vec<&(u32, ServerCandidate)> =
                        server.iter().filter(|(r, _)| consumed.binary_search(r).is_err()).collect();
                    let fixed: Vec<u32> = live.iter().take(K).map(|(r, _)| *r).collect();
                    server_tally.add(&fixed, target, &distances);
                    let mut options = RecommendOptions {
                        k: K,
                        diversity: Some(DiversityOptions::NONE),
                        candidates: Some(live.iter().map(|(_, c)| c.clone()).collect()),
                        ..Default::default()
                    };
                    let list = rows_of(&pollster::block_on(rec.recommend_with(&options, now))?);
                    device_tally.add(&list, target, &distances);
                    options.diversity = None;
                    let list = rows_of(&pollster::block_on(rec.recommend_with(&options, now))?);
                    device_rerank_tally.add(&list, target, &distances);
                }
                let start = Instant::now();
                rec.record(event, now)?;
                let record_ms = start.elapsed().as_secs_f64() * 1e3;
                if setting == Setting::FineTune {
                    latency.push((record_ms, recommend_ms));
                }
            }
            progress.inc(1);
        }
        let mut lists = BTreeMap::new();
        lists.insert("funnel".to_string(), funnel.finish(n_items));
        if setting != Setting::Popularity {
            lists.insert("vector".to_string(), vector.finish(n_items));
        }
        settings.insert(setting.name().to_string(), lists);
    }
    progress.finish_and_clear();
    let sizes = (n_items, catalogue.categories.len());
    let mut rerank: Vec<RerankRow> = reranks
        .iter()
        .zip(&rerank_stats)
        .map(|((name, diversity), stats)| RerankRow::new(name, *diversity, stats, sizes))
        .collect();
    let baseline = rerank.first().map_or(0.0, |r| r.ndcg10);
    for row in &mut rerank {
        row.ndcg_change = if baseline > 0.0 { row.ndcg10 / baseline - 1.0 } else { 0.0 };
    }
    let hybrid = Hybrid {
        server_k: HYBRID_SERVER_K,
        server_list_mean: server_lengths.iter().sum::<usize>() as f64
            / server_lengths.len().max(1) as f64,
        server: server_tally.finish(n_items),
        device: device_tally.finish(n_items),
        device_rerank: device_rerank_tally.finish(n_items),
    };
    Ok(ReplayReport {
        users: users.len(),
        skipped_consumed: skipped,
        settings,
        baselines: baselines.finish(n_items),
        latency: summarize(&latency),
        rerank,
        hybrid,
        fine_tune: serde_json::to_value(&base.user.fine_tune).unwrap_or_default(),
        backend,
    })
}

fn histories(train: &Interactions) -> HashMap<&str, Vec<crate::train::data::Interaction>> {
    train.by_user().into_iter().enumerate().map(|(u, seq)| (train.users[u].as_str(), seq)).collect()
}

fn summarize(samples: &[(f64, f64)]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    let n = samples.len() as f64;
    let mut total: Vec<f64> = samples.iter().map(|(a, b)| a + b).collect();
    total.sort_by(f64::total_cmp);
    let at = |q: f64| total[((total.len() - 1) as f64 * q).round() as usize];
    Latency {
        clicks: samples.len(),
        record_mean_ms: samples.iter().map(|s| s.0).sum::<f64>() / n,
        recommend_mean_ms: samples.iter().map(|s| s.1).sum::<f64>() / n,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
    }
}

/// Prints the replay table.
pub fn print(report: &ReplayReport) {
    println!(
        "replay: {} users, {} events skipped (item already consumed), backend {}",
        report.users, report.skipped_consumed, report.backend
    );
    println!(
        "{:<16} {:<8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "setting", "list", "events", "HR@10", "NDCG@10", "Cov@10", "ILDcat", "ILDemb"
    );
    let rows = report.settings.iter().flat_map(|(setting, lists)| {
        lists.iter().map(move |(list, m)| (setting.as_str(), list.as_str(), m))
    });
    let baselines = report.baselines.iter().map(|(name, m)| ("baseline", name.as_str(), m));
    for (setting, list, m) in rows.chain(baselines) {
        println!(
            "{setting:<16} {list:<8} {:>8} {:>9.4} {:>9.4} {:>8.4} {:>8.4} {:>8.4}",
            m.events, m.hr10, m.ndcg10, m.coverage, m.ild_category, m.ild_embedding
        );
    }
    let l = &report.latency;
    println!(
        "latency per click (tower+finetune, CPU, {} clicks): record {:.3} ms + recommend {:.3} ms \
         mean; total p50 {:.3} ms, p95 {:.3} ms",
        l.clicks, l.record_mean_ms, l.recommend_mean_ms, l.p50_ms, l.p95_ms
    );
    println!();
    println!(
        "re-rank on tower+finetune's funnel (top-10; embedding similarity unless marked cat or mix):"
    );
    println!(
        "{:<24} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "diversity", "events", "HR@10", "NDCG@10", "ΔNDCG", "ILDcat", "ILDemb", "cats", "catCov"
    );
    for r in &report.rerank {
        println!(
            "{:<24} {:>8} {:>9.4} {:>9.4} {:>7.1}% {:>8.4} {:>8.4} {:>8.2} {:>8.4}",
            r.name,
            r.events,
            r.hr10,
            r.ndcg10,
            r.ndcg_change * 100.0,
            r.ild_category,
            r.ild_embedding,
            r.categories_per_list,
            r.category_coverage
        );
    }
    let by_category: fn(&RerankRow) -> f64 = |r| r.ild_category;
    let by_embedding: fn(&RerankRow) -> f64 = |r| r.ild_embedding;
    for (what, ild) in [("category", by_category), ("embedding", by_embedding)] {
        if let Some((best, base)) = best_within_budget(&report.rerank, ild) {
            println!(
                "best ILD-by-{what} gain within {:.0}% NDCG@10 loss: {} ({:+.4} ILD, {:+.1}% NDCG)",
                NDCG_LOSS_BUDGET * 100.0,
                best.name,
                ild(best) - ild(base),
                best.ndcg_change * 100.0
            );
        }
    }
    let h = &report.hybrid;
    println!();
    println!(
        "hybrid mode on tower+finetune (server top-{} from the train history, mean {:.1} items):",
        h.server_k, h.server_list_mean
    );
    println!("{:<16} {:>8} {:>9} {:>9}", "list", "events", "HR@10", "NDCG@10");
    for (name, m) in
        [("server", &h.server), ("device", &h.device), ("device+rerank", &h.device_rerank)]
    {
        println!("{name:<16} {:>8} {:>9.4} {:>9.4}", m.events, m.hr10, m.ndcg10);
    }
}

/// The setting with the largest `ild` gain over `none` (the first row) among those losing at
/// most [`NDCG_LOSS_BUDGET`] of its NDCG@10, with `none`.
fn best_within_budget(
    rows: &[RerankRow],
    ild: impl Fn(&RerankRow) -> f64,
) -> Option<(&RerankRow, &RerankRow)> {
    let base = rows.first()?;
    let best = rows[1..]
        .iter()
        .filter(|r| r.ndcg_change >= -NDCG_LOSS_BUDGET)
        .max_by(|a, b| ild(a).total_cmp(&ild(b)))?;
    Some((best, base))
}
