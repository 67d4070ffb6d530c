//! `edgerec recommend`: one recommendation from a bundle, by the SDK's own funnel
//! ([`Recommender::recommend_with`]: recall or server candidates → rank → re-rank → rules), for
//! trying a bundle, a diversity setting or a rule set from the shell. Prints the
//! `Recommendations` (items and trace) as one camelCase JSON object, exactly as JavaScript
//! receives it.
//!
//! ```text
//! edgerec recommend --bundle models/movielens-small --clicks 1,50,260 --k 10 \
//!     --diversity dpp --theta 0.6 \
//!     --rule '{"kind":"max_consecutive","attribute":"category","max":2}'
//! ```
//!
//! The clicks are recorded in order, one second apart, ending one second before `--now`.

use clap::Args;
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::BackendChoice;
use edgerec::recommender::{
    DiversityMethod, RecommendOptions, Recommender, RecommenderConfig, RuleSpec, ServerCandidate,
    SimilarityKind,
};
use edgerec::user::{Interaction, InteractionKind};
use std::path::{Path, PathBuf};

/// Arguments of `edgerec recommend`.
#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// The bundle directory.
    #[arg(long)]
    bundle: PathBuf,
    /// Item ids the user clicked, oldest first (comma-separated).
    #[arg(long, value_delimiter = ',')]
    clicks: Vec<String>,
    /// List length.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Diversity method: none, mmr or dpp (default: the config's).
    #[arg(long, value_parser = parse_diversity)]
    diversity: Option<DiversityMethod>,
    /// MMR relevance weight λ in [0, 1].
    #[arg(long)]
    lambda: Option<f64>,
    /// DPP relevance trade-off θ in [0, 1).
    #[arg(long)]
    theta: Option<f64>,
    /// Sliding window of the diversity term.
    #[arg(long)]
    window: Option<usize>,
    /// Similarity of the diversity term: embedding, category or mix.
    #[arg(long, value_parser = parse_similarity)]
    similarity: Option<SimilarityKind>,
    /// Cosine weight of the `mix` similarity, in [0, 1].
    #[arg(long)]
    mix_weight: Option<f64>,
    /// A business rule as JSON, e.g. '{"kind":"max_consecutive","attribute":"category","max":2}'
    /// (repeatable; replaces the config's rules).
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// Hybrid mode: a JSON file `[{"id": "…", "score": 0.5}, …]` of server candidates that
    /// replace recall.
    #[arg(long)]
    candidates: Option<PathBuf>,
    /// A JSON `RecommenderConfig` (omitted fields take their defaults).
    #[arg(long)]
    config: Option<String>,
    /// Scoring backend: cpu (default, deterministic), auto or webgpu.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Record the returned list as shown (exposure filter, channel impressions).
    #[arg(long)]
    mark_shown: bool,
    /// The time of the request, milliseconds since the Unix epoch (default: now).
    #[arg(long)]
    now: Option<f64>,
    /// Pretty-print the JSON.
    #[arg(long)]
    pretty: bool,
}

fn parse_serde<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|e| e.to_string())
}

fn parse_diversity(s: &str) -> Result<DiversityMethod, String> {
    parse_serde(s)
}

fn parse_similarity(s: &str) -> Result<SimilarityKind, String> {
    parse_serde(s)
}

/// Runs `edgerec recommend`.
///
/// # Errors
/// A message naming the flag or file at fault.
pub fn run(args: &RecommendArgs) -> Result<(), String> {
    let config: RecommenderConfig = match &args.config {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("invalid --config: {e}"))?,
        None => RecommenderConfig::default(),
    };
    let options = options(args, &config)?;
    let now = match args.now {
        Some(t) if t.is_finite() => t,
        Some(t) => return Err(format!("invalid --now: {t} is not a finite time")),
        None => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| format!("system clock before 1970: {e}"))?
                .as_secs_f64()
                * 1e3
        }
    };
    let backend: BackendChoice = args.backend.parse().map_err(|e| format!("{e}"))?;
    let bundle = Bundle::open(&args.bundle, &LoadOptions::default())
        .map_err(|e| format!("cannot load bundle {}: {e}", args.bundle.display()))?;
    let mut rec = pollster::block_on(Recommender::new(&bundle, config, backend))
        .map_err(|e| e.to_string())?;
    let n = args.clicks.len();
    for (i, id) in args.clicks.iter().enumerate() {
        let at = now - (n - i) as f64 * 1e3;
        let click =
            Interaction { item: id.clone(), kind: InteractionKind::Click, timestamp_ms: at };
        rec.record(&click, at).map_err(|e| format!("--clicks: {e}"))?;
    }
    let recs = pollster::block_on(rec.recommend_with(&options, now)).map_err(|e| e.to_string())?;
    let json = if args.pretty {
        serde_json::to_string_pretty(&recs)
    } else {
        serde_json::to_string(&recs)
    };
    println!("{}", json.map_err(|e| e.to_string())?);
    Ok(())
}

/// The per-call options from the flags.
fn options(args: &RecommendArgs, config: &RecommenderConfig) -> Result<RecommendOptions, String> {
    if args.k == 0 {
        return Err("invalid --k: must be at least 1".into());
    }
    let rules = if args.rules.is_empty() {
        None
    } else {
        let parsed = args
            .rules
            .iter()
            .enumerate()
            .map(|(i, text)| {
                serde_json::from_str::<RuleSpec>(text)
                    .map_err(|e| format!("invalid --rule #{} {text}: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(parsed)
    };
    let candidates = args.candidates.as_deref().map(read_candidates).transpose()?;
    Ok(RecommendOptions {
        k: args.k,
        diversity: diversity(args, config)?,
        rules,
        explore: None,
        candidates,
        mark_shown: args.mark_shown,
    })
}

/// The diversity options: the config's, with each flag given overriding its field; `None`
/// (the config's, untouched) when no diversity flag is given.
fn diversity(
    args: &RecommendArgs,
    config: &RecommenderConfig,
) -> Result<Option<edgerec::recommender::DiversityOptions>, String> {
    let any = args.diversity.is_some()
        || args.lambda.is_some()
        || args.theta.is_some()
        || args.window.is_some()
        || args.similarity.is_some()
        || args.mix_weight.is_some();
    if !any {
        return Ok(None);
    }
    let mut d = config.diversity;
    d.method = args.diversity.unwrap_or(d.method);
    d.lambda = args.lambda.unwrap_or(d.lambda);
    d.theta = args.theta.unwrap_or(d.theta);
    d.window = args.window.or(d.window);
    d.similarity = args.similarity.unwrap_or(d.similarity);
    d.mix_weight = args.mix_weight.unwrap_or(d.mix_weight);
    // Range checks with the flag's name, before the bundle is loaded.
    d.strategy().map_err(|e| format!("invalid diversity options: {e}"))?;
    Ok(Some(d))
}

fn read_candidates(path: &Path) -> Result<Vec<ServerCandidate>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!("{}: not a JSON list of {{\"id\", \"score\"}} candidates: {e}", path.display())
    })
}
