//! `edgerec train`: interactions + items → a bundle the browser runs.
//!
//! Trains the two-tower retrieval model ([`two_tower`]), the item-to-item lists ([`i2i`]:
//! ItemCF and Swing), popularity and freshness statistics ([`stats`]) and the multi-task
//! ranker ([`ranker`]), then writes everything through the SDK's bundle builder. The tensor
//! names are documented in `models/README.md` ("Tensors written by `edgerec train`").
//!
//! Reproducible: the seed drives initialization, shuffling and sampling, and `created_at`
//! defaults to the newest interaction's time, so the same inputs and flags give the same
//! bundle.

pub mod data;
pub mod ease;
pub mod error;
pub mod frequency;
pub mod i2i;
pub mod ranker;
pub mod stats;
pub mod two_tower;

use clap::Args;
use data::{ColumnArgs, read_interactions, read_items};
use edgerec::bundle::builder::{self, BuildConfig, QuantRule, SourceData, SourceTensor};
use edgerec::bundle::items::ItemRecord;
use edgerec::bundle::{QuantScheme, Similarity};
use error::{Result, TrainError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `edgerec train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Interactions CSV with a header: user, item[, rating][, timestamp] (names mapped with
    /// the column flags or auto-detected, so MovieLens' ratings.csv works as is).
    #[arg(long)]
    pub interactions: PathBuf,
    /// Items CSV with a header: item, title, categories (`|`-separated); movies.csv works as is.
    #[arg(long)]
    pub items: PathBuf,
    /// Events exported by `edgerec events export --out FILE.jsonl`: their clicks, likes and
    /// dwells are added to `--interactions` (the seed data), users matched by id.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The event store of `edgerec serve` (its `--db`: `sqlite:PATH` or `postgres://…`): its
    /// clicks, likes and dwells are added to `--interactions` like `--events`.
    #[arg(long, value_name = "DB")]
    pub from_db: Option<String>,
    /// Output bundle directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Two-tower epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Keep only interactions with rating ≥ R as positives (default: every interaction).
    #[arg(long)]
    pub min_rating: Option<f32>,
    /// Embedding dimension.
    #[arg(long, default_value_t = 64)]
    pub dim: usize,
    /// Softmax temperature.
    #[arg(long, default_value_t = 0.1)]
    pub temperature: f32,
    /// Weight of the two-tower's logQ sampling-bias correction (1 = Yi et al.'s correction,
    /// 0 = none, above 1 adds a popularity prior; see `two_tower::TowerConfig::logq_weight`).
    #[arg(long, default_value_t = 1.5)]
    pub logq_weight: f32,
    /// Where the logQ correction gets each item's in-batch frequency: `exact` counts the whole
    /// training set; `streaming` estimates it batch by batch with Yi et al.'s sketch (RecSys
    /// 2019, Alg. 2–3; `train::frequency`), as training on a never-ending event stream must,
    /// and feeds the batches in time order. Exact is the default for every input, --from-db
    /// included: the store is read whole, so its counts are known, and on the temporal
    /// validation split streaming in time order cost the two-tower 0.009 NDCG@10
    /// (0.1194 → 0.1102; the funnel 0.1323 → 0.1317).
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "exact")]
    pub logq_frequencies: two_tower::LogqFrequencies,
    /// Order of the two-tower's training pairs: `shuffled` each epoch, or `time` (the stream,
    /// replayed every epoch). Default: time with streaming frequencies, shuffled with exact.
    #[arg(long, value_enum, value_name = "ORDER")]
    pub batch_order: Option<two_tower::BatchOrder>,
    /// Learning rate α of the streaming frequency sketch, in (0, 1]: larger follows a shifting
    /// popularity faster, smaller averages more gaps.
    #[arg(long, default_value_t = 0.01)]
    pub freq_alpha: f64,
    /// Buckets per hash array of the streaming frequency sketch.
    #[arg(long, default_value_t = 1 << 18)]
    pub freq_buckets: usize,
    /// Hash arrays of the streaming frequency sketch (the estimate reads the largest gap, so
    /// more arrays mean fewer collisions' over-estimates).
    #[arg(long, default_value_t = 2)]
    pub freq_hashes: usize,
    /// Learning rate of the two-tower model.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Batch size (in-batch negatives) of the two-tower model; as many extra negatives are
    /// sampled per batch.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// History length the user tower pools.
    #[arg(long, default_value_t = 50)]
    pub history: usize,
    /// Largest history offset δ of the training pairs (0 = next item only).
    #[arg(long, default_value_t = 8)]
    pub horizon: usize,
    /// Share of two-tower training pairs whose history is a random sample of the user's other
    /// items instead of the items before the target (see `two_tower::TowerConfig::bag_prob`).
    #[arg(long, default_value_t = 1.0)]
    pub bag_prob: f32,
    /// Neighbours per item in the i2i lists.
    #[arg(long, default_value_t = 100)]
    pub neighbours: usize,
    /// L2 weight λ of the EASE item-item model (Steck, WWW 2019) written as `ease.*` neighbour
    /// lists (as many per item as `--neighbours`); 0 skips it. See [`ease`].
    #[arg(long, default_value_t = 400.0)]
    pub ease_lambda: f64,
    /// Also build an IVF index with N lists over the item embeddings (for catalogues of a
    /// million items; the SDK uses it when `RecommenderConfig::ivf_nprobe` is set).
    #[arg(long, value_name = "N")]
    pub ivf_lists: Option<usize>,
    /// Ranker epochs (0 skips the ranker).
    #[arg(long, default_value_t = 3)]
    pub ranker_epochs: usize,
    /// Give the ranker target attention over the user's last `--history` items (DIN-style; see
    /// [`ranker`]).
    #[arg(long)]
    pub ranker_attention: bool,
    /// MMoE experts of the ranker (Ma et al. KDD 2018); 0 keeps the shared bottom.
    #[arg(long, default_value_t = 0)]
    pub ranker_experts: usize,
    /// Share of the ranker's negatives drawn from the ItemCF neighbours of the user's history
    /// (hard negatives, like the recall stage's candidates) instead of ∝ popularity^0.75.
    #[arg(long, default_value_t = 0.0)]
    pub ranker_hard_negatives: f32,
    /// Share of the ranker's samples whose history (user vector and attention window) is a bag
    /// of the user's other items, earlier or later, instead of the items before the positive
    /// (the ranker's `--bag-prob`).
    #[arg(long, default_value_t = 0.0)]
    pub ranker_bag_prob: f32,
    /// Model id written to the manifest.
    #[arg(long, default_value = "edgerec-two-tower")]
    pub model_id: String,
    /// Model version (default: derived from the seed and data size).
    #[arg(long)]
    pub model_version: Option<String>,
    /// Hide the progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Column mapping.
    #[command(flatten)]
    pub columns: ColumnArgs,
}

/// What `edgerec train` reports (printed as JSON and written to `DIR/train_report.json`).
#[derive(Debug, Serialize)]
pub struct TrainReport {
    /// Items file counts.
    pub items: data::LoadReport,
    /// Interactions file counts.
    pub interactions: data::LoadReport,
    /// What `--events` added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<data::EventsReport>,
    /// Users with at least one interaction.
    pub users: usize,
    /// Users whose single interaction gives no training pair (skipped by the two-tower).
    pub users_with_one_interaction: usize,
    /// Two-tower settings.
    pub two_tower: two_tower::TowerConfig,
    /// Per-epoch metrics.
    pub epochs: Vec<two_tower::EpochMetrics>,
    /// Ranker per-epoch metrics.
    pub ranker: Vec<ranker::RankerEpoch>,
    /// Ranker settings: head, target attention, negatives.
    pub ranker_settings: serde_json::Value,
    /// Seconds per stage.
    pub seconds: Vec<(String, f32)>,
    /// The builder's report.
    pub bundle: builder::BuildReport,
}

/// Runs `edgerec train`.
///
/// # Errors
/// Any [`TrainError`], as a message.
pub fn run(args: &TrainArgs) -> std::result::Result<(), String> {
    let report = train(args).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn check(args: &TrainArgs) -> Result<()> {
    let bad = |name, reason: &str| Err(TrainError::InvalidArgument { name, reason: reason.into() });
    if args.epochs == 0 {
        return bad("epochs", "must be ≥ 1");
    }
    if args.dim == 0 || args.dim > 1024 {
        return bad("dim", "must be in 1..=1024");
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return bad("temperature", "must be finite and > 0");
    }
    if !(args.logq_weight.is_finite() && args.logq_weight >= 0.0) {
        return bad("logq-weight", "must be finite and ≥ 0");
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return bad("lr", "must be finite and > 0");
    }
    if args.batch < 2 {
        return bad("batch", "must be ≥ 2");
    }
    if !(args.bag_prob.is_finite() && (0.0..=1.0).contains(&args.bag_prob)) {
        return bad("bag-prob", "must be in 0..=1");
    }
    frequency_config(args).validate()?;
    if args.history == 0 {
        return bad("history", "must be ≥ 1");
    }
    if args.neighbours == 0 {
        return bad("neighbours", "must be ≥ 1");
    }
    if !(0.0..=1.0).contains(&args.ranker_hard_negatives) {
        return bad("ranker-hard-negatives", "must be in 0..=1");
    }
    if !(0.0..=1.0).contains(&args.ranker_bag_prob) {
        return bad("ranker-bag-prob", "must be in 0..=1");
    }
    if args.ranker_experts > 64 {
        return bad("ranker-experts", "must be in 0..=64 (0: the shared bottom)");
    }
    Ok(())
}

/// The streaming sketch's settings from the `--freq-*` flags (hashes seeded with `--seed`).
fn frequency_config(args: &TrainArgs) -> frequency::StreamingConfig {
    frequency::StreamingConfig {
        alpha: args.freq_alpha,
        buckets: args.freq_buckets,
        hashes: args.freq_hashes,
        seed: args.seed,
        ..frequency::StreamingConfig::default()
    }
}

/// The logQ frequency source and batch order: the stream's time order for streaming
/// frequencies, shuffled batches for exact ones, unless `--batch-order` says otherwise.
fn logq_source(args: &TrainArgs) -> (two_tower::LogqFrequencies, two_tower::BatchOrder) {
    use two_tower::{BatchOrder, LogqFrequencies};
    let source = args.logq_frequencies;
    let order = args.batch_order.unwrap_or(match source {
        LogqFrequencies::Streaming => BatchOrder::Time,
        LogqFrequencies::Exact => BatchOrder::Shuffled,
    });
    (source, order)
}

/// Trains everything and writes the bundle.
///
/// # Errors
/// [`TrainError`] for unusable input, training failure or a rejected bundle.
pub fn train(args: &TrainArgs) -> Result<TrainReport> {
    check(args)?;
    let mut seconds = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, seconds: &mut Vec<(String, f32)>| {
        seconds.push((name.to_string(), clock.elapsed().as_secs_f32()));
        clock = Instant::now();
    };
    let catalogue = read_items(&args.items, &args.columns)?;
    let mut data =
        read_interactions(&args.interactions, &args.columns, &catalogue, args.min_rating)?;
    let events = match (&args.events, &args.from_db) {
        (Some(_), Some(_)) => {
            return Err(TrainError::InvalidArgument {
                name: "from-db",
                reason: "give --events or --from-db, not both".into(),
            });
        }
        (Some(path), None) => Some(data::read_events_jsonl(path)?),
        (None, Some(db)) => Some(data::read_events_db(db)?),
        (None, None) => None,
    };
    let events_report = match events {
        Some(events) => {
            let report = data::append_events(&mut data, events, &catalogue, args.min_rating);
            eprintln!(
                "events: {} read, {} added as interactions ({} impressions/custom, {} unknown \
                 items, {} below --min-rating)",
                report.events,
                report.kept,
                report.not_interactions,
                report.unknown_items,
                report.below_min_rating
            );
            Some(report)
        }
        None => None,
    };
    let r = &data.report;
    eprintln!(
        "read {} items ({} malformed, {} duplicate skipped); {} interactions kept of {} \
         ({} malformed, {} unknown items, {} below --min-rating skipped), {} users",
        catalogue.items.len(),
        catalogue.report.malformed,
        catalogue.report.duplicate_items,
        r.kept,
        r.rows,
        r.malformed,
        r.unknown_items,
        r.below_min_rating,
        data.users.len()
    );
    if data.rows.is_empty() {
        return Err(TrainError::NotEnoughData(format!(
            "{}: no usable interaction ({} rows: {} malformed, {} unknown items, {} below \
             --min-rating)",
            args.interactions.display(),
            r.rows,
            r.malformed,
            r.unknown_items,
            r.below_min_rating
        )));
    }
    let n_items = catalogue.items.len();
    let by_user = data.by_user();
    let seqs: Vec<Vec<u32>> = by_user.iter().map(|s| s.iter().map(|r| r.item).collect()).collect();
    let times: Vec<Vec<i64>> = by_user.iter().map(|s| s.iter().map(|r| r.time).collect()).collect();
    let single = seqs.iter().filter(|s| s.len() < 2).count();
    lap("read", &mut seconds);

    let (logq_frequencies, batch_order) = logq_source(args);
    let cfg = two_tower::TowerConfig {
        dim: args.dim,
        history: args.history,
        batch: args.batch,
        negatives: args.batch,
        temperature: args.temperature,
        logq_weight: args.logq_weight,
        logq_frequencies,
        frequency: frequency_config(args),
        batch_order,
        lr: args.lr,
        epochs: args.epochs,
        horizon: args.horizon,
        bag_prob: args.bag_prob,
        seed: args.seed,
        ..two_tower::TowerConfig::default()
    };
    let item_cats: Vec<Vec<u32>> = catalogue.items.iter().map(|i| i.categories.clone()).collect();
    let towers = two_tower::train(
        &cfg,
        &seqs,
        &times,
        n_items,
        &item_cats,
        catalogue.categories.len(),
        args.quiet,
    )?;
    lap("two_tower", &mut seconds);

    let user_sets: Vec<Vec<u32>> = seqs
        .iter()
        .map(|s| {
            let mut v = s.clone();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // Recent-last sequences without repeats, for Swing's "most recent items" cut.
    let recent: Vec<Vec<u32>> = seqs
        .iter()
        .map(|s| {
            let mut seen = std::collections::HashSet::new();
            let mut v: Vec<u32> = s.iter().rev().copied().filter(|i| seen.insert(*i)).collect();
            v.reverse();
            v
        })
        .collect();
    let cf = i2i::item_cf(&user_sets, n_items, args.neighbours, 0.5);
    let sw = i2i::swing(&recent, n_items, args.neighbours, 1.0, 64, 100);
    lap("i2i", &mut seconds);
    let ease = if args.ease_lambda > 0.0 {
        let e = ease::ease(&user_sets, n_items, args.neighbours, args.ease_lambda)?;
        lap("ease", &mut seconds);
        Some(e)
    } else {
        None
    };
    let st = stats::compute(&data.rows, &catalogue);
    lap("stats", &mut seconds);
    let (ranker, ranker_epochs) = if args.ranker_epochs > 0 {
        let (r, e) = ranker::train(
            &ranker::RankerInputs {
                by_user: &by_user,
                towers: &towers,
                stats: &st,
                catalogue: &catalogue,
                history: args.history,
                shape: ranker::RankerShape {
                    attention: args.ranker_attention,
                    experts: args.ranker_experts,
                },
                neighbours: &cf,
                hard_negatives: args.ranker_hard_negatives,
                bag_prob: args.ranker_bag_prob,
            },
            args.ranker_epochs,
            args.seed,
            args.quiet,
        )?;
        (Some(r), e)
    } else {
        (None, Vec::new())
    };
    lap("ranker", &mut seconds);

    let mut tensors = tensors(&towers, &cf, &sw, &st, ranker.as_ref(), &cfg, &catalogue);
    if let Some(e) = &ease {
        tensors.extend(neighbour_tensors("ease", e));
    }
    if let Some(nlist) = args.ivf_lists {
        let params = edgerec::compute::IvfParams {
            seed: args.seed,
            ..edgerec::compute::IvfParams::new(nlist)
        };
        edgerec::compute::IvfIndex::add_to_sources(&mut tensors, Similarity::Cosine, &params)?;
        lap("ivf", &mut seconds);
    }
    let items: Vec<ItemRecord> = catalogue
        .items
        .iter()
        .map(|i| ItemRecord {
            id: i.id.clone(),
            title: i.title.clone(),
            tags: i.categories.iter().map(|c| catalogue.categories[*c as usize].clone()).collect(),
            created_at: i.created_at,
            ..ItemRecord::default()
        })
        .collect();
    let newest = data.rows.iter().map(|r| r.time).max().unwrap_or(0);
    let created_at = builder::rfc3339_utc(newest);
    let version = args
        .model_version
        .clone()
        .unwrap_or_else(|| format!("{}-s{}-e{}", &created_at[..10], args.seed, args.epochs));
    let rules = [
        QuantRule { pattern: "user_tower.history_embeddings", scheme: QuantScheme::I8_PER_ROW },
        QuantRule { pattern: "user_tower.*", scheme: QuantScheme::F16 },
        // Biases and scalars stay f32 (int8 per row would quantize a bias as one row); the
        // first match wins.
        QuantRule { pattern: "ranker.b*", scheme: QuantScheme::F32 },
        QuantRule { pattern: "ranker.*.b*", scheme: QuantScheme::F32 },
        QuantRule { pattern: "ranker.attention_scale", scheme: QuantScheme::F32 },
        QuantRule { pattern: "ranker.*", scheme: QuantScheme::I8_PER_ROW },
        QuantRule { pattern: "i2i.scores", scheme: QuantScheme::F16 },
        QuantRule { pattern: "swing.scores", scheme: QuantScheme::F16 },
        QuantRule { pattern: "ease.scores", scheme: QuantScheme::F16 },
        QuantRule { pattern: "item_tower.*", scheme: QuantScheme::F16 },
        QuantRule { pattern: "stats.*", scheme: QuantScheme::F16 },
    ];
    let config = BuildConfig {
        model_id: &args.model_id,
        model_version: &version,
        created_at: &created_at,
        similarity: Similarity::Cosine,
        temperature: args.temperature,
        rules: &rules,
        signing_key: None,
        eval_queries: 500,
        seed: args.seed,
    };
    let built = builder::build(&tensors, &items, &config)?;
    built.write_to(&args.out)?;
    if let Some(readme) = data::data_readme(&args.interactions) {
        let to = args.out.join("DATA_README.txt");
        std::fs::copy(&readme, &to)
            .map_err(|e| TrainError::Io { path: to, reason: e.to_string() })?;
    }
    lap("export", &mut seconds);
    let report = TrainReport {
        items: catalogue.report.clone(),
        interactions: data.report.clone(),
        events: events_report,
        users: data.users.len(),
        users_with_one_interaction: single,
        two_tower: cfg,
        epochs: towers.epochs.clone(),
        ranker: ranker_epochs,
        ranker_settings: serde_json::json!({
            "head": if args.ranker_experts == 0 { "shared-bottom".to_string() }
                    else { format!("mmoe-{}", args.ranker_experts) },
            "attention_scale": args.ranker_attention.then_some(ranker::ATTENTION_SCALE),
            "hard_negatives": args.ranker_hard_negatives,
            "bag_prob": args.ranker_bag_prob,
        }),
        seconds,
        bundle: built.report,
    };
    write_json(&args.out.join("train_report.json"), &report)?;
    Ok(report)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| TrainError::Io { path: path.into(), reason: e.to_string() })?;
    std::fs::write(path, json + "\n")
        .map_err(|e| TrainError::Io { path: path.into(), reason: e.to_string() })
}

fn f32_tensor(name: &str, shape: &[usize], data: Vec<f32>) -> SourceTensor {
    SourceTensor { name: name.into(), shape: shape.to_vec(), data: SourceData::F32(data) }
}

/// `PREFIX.ids` (u32) and `PREFIX.scores` (`[items, K]`), the layout of every neighbour list.
fn neighbour_tensors(prefix: &str, nb: &i2i::Neighbours) -> [SourceTensor; 2] {
    let n = nb.ids.len() / nb.k.max(1);
    [
        SourceTensor {
            name: format!("{prefix}.ids"),
            shape: vec![n, nb.k],
            data: SourceData::U32(nb.ids.clone()),
        },
        f32_tensor(&format!("{prefix}.scores"), &[n, nb.k], nb.scores.clone()),
    ]
}

fn tensors(
    t: &two_tower::TrainedTowers,
    cf: &i2i::Neighbours,
    sw: &i2i::Neighbours,
    st: &stats::Stats,
    ranker: Option<&ranker::Ranker>,
    cfg: &two_tower::TowerConfig,
    catalogue: &data::Catalogue,
) -> Vec<SourceTensor> {
    let n = catalogue.items.len();
    let (d, h) = (cfg.dim, cfg.hidden);
    let mut out = vec![
        f32_tensor("item_embeddings", &[n, d], t.item_embeddings.clone()),
        f32_tensor("user_tower.history_embeddings", &[n, d], t.history_embeddings.clone()),
        f32_tensor("user_tower.w0", &[h, d], t.w0.clone()),
        f32_tensor("user_tower.b0", &[h], t.b0.clone()),
        f32_tensor("user_tower.w1", &[d, h], t.w1.clone()),
        f32_tensor("user_tower.b1", &[d], t.b1.clone()),
        f32_tensor("stats.popularity", &[n], st.popularity.clone()),
        f32_tensor("stats.popularity_recent", &[n], st.popularity_recent.clone()),
        f32_tensor("stats.freshness", &[n], st.freshness.clone()),
    ];
    out.extend(neighbour_tensors("i2i", cf));
    out.extend(neighbour_tensors("swing", sw));
    let cats = catalogue.categories.len();
    if cats > 0 {
        out.push(f32_tensor(
            "item_tower.category_embeddings",
            &[cats, d],
            t.category_embeddings[..cats * d].to_vec(),
        ));
    }
    if let Some(r) = ranker {
        out.extend(r.tensors());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use two_tower::{BatchOrder, LogqFrequencies};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
    }

    fn args(extra: &[&str]) -> TrainArgs {
        let base = ["edgerec", "--interactions", "r.csv", "--items", "m.csv", "--out", "b"];
        Cli::parse_from(base.iter().chain(extra)).train
    }

    #[test]
    fn streaming_frequencies_are_opt_in_and_follow_the_stream() {
        let (exact, shuffled) = (LogqFrequencies::Exact, BatchOrder::Shuffled);
        let (streaming, time) = (LogqFrequencies::Streaming, BatchOrder::Time);
        assert_eq!(logq_source(&args(&[])), (exact, shuffled));
        assert_eq!(logq_source(&args(&["--from-db", "sqlite:x.db"])), (exact, shuffled));
        assert_eq!(logq_source(&args(&["--logq-frequencies", "streaming"])), (streaming, time));
        let flags = ["--from-db", "sqlite:x.db", "--logq-frequencies", "streaming"];
        assert_eq!(logq_source(&args(&flags)), (streaming, time));
        let flags = ["--logq-frequencies", "streaming", "--batch-order", "shuffled"];
        assert_eq!(logq_source(&args(&flags)), (streaming, shuffled));
    }

    #[test]
    fn bad_sketch_settings_are_rejected_before_reading_anything() {
        for (flag, value) in
            [("--freq-alpha", "0"), ("--freq-alpha", "1.5"), ("--freq-buckets", "0")]
                .into_iter()
                .chain([("--freq-hashes", "0")])
        {
            let err = check(&args(&[flag, value])).unwrap_err();
            assert!(matches!(err, TrainError::Frequency(_)), "{flag} {value}: {err}");
            assert!(err.to_string().contains("invalid --freq-"), "{err}");
        }
        assert!(check(&args(&["--freq-alpha", "1"])).is_ok());
    }
}
