//! What [`super::Recommender::recommend_with`] returns: the list and one trace of every stage
//! (the demo pages, `edgerec recommend` and the benchmarks read the same trace). Serialized in
//! camelCase, as JavaScript sees it.

use super::options::DiversityMethod;
use crate::recall::ChannelTrace;

/// Why an item is at its position in the final list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// It was the most relevant item still eligible.
    Relevance,
    /// The diversity term preferred it over a more relevant eligible item.
    Diversity,
    /// A rule kept a more relevant item out of this position (`rule` names it).
    Rule,
    /// A `pin` rule put it here.
    Pin,
    /// An exploration slot (pinned through re-rank).
    Explore,
    /// The new-item boost put it in the top `k` (its position is kept through re-rank).
    Boost,
    /// Appended by relevance after DPP ran out of marginal gain (see
    /// [`RecommendTrace::dpp_exhausted_at`]).
    Fill,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Row in the bundle (`None` for a hybrid-mode candidate the bundle does not know).
    pub row: Option<u32>,
    /// Item id.
    pub id: String,
    /// Item title (empty when unknown).
    pub title: String,
    /// The relevance the re-rank started from (fused rank score: recall or server order,
    /// ranker, boost).
    pub score: f32,
    /// Categories / tags.
    pub categories: Vec<String>,
    /// The recall channels that produced it (`server` in hybrid mode, `pin` for a pinned item
    /// recall missed).
    pub channels: Vec<String>,
    /// Zero-based position in the ranked list, before re-rank.
    pub ranked_position: usize,
    /// The diversity term at its pick: MMR's redundancy `max sim` to earlier picks, DPP's
    /// marginal gain `d²`; 0 without diversity.
    pub diversity: f64,
    /// Why it is here.
    pub placed_by: Placement,
    /// The rule that placed it (`pin`) or moved a more relevant item away (`rule`): its index
    /// in the request's rules.
    pub rule: Option<usize>,
    /// Rules that gave way at this position (soft rules, least important first).
    pub relaxed: Vec<usize>,
}

/// A candidate of the re-rank pool (what the lab's "recall" and "ranked" columns show).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "camelCase")]
pub struct PoolItem {
    /// Row in the bundle (`None`: unknown hybrid candidate).
    pub row: Option<u32>,
    /// Item id.
    pub id: String,
    /// Title (empty when unknown).
    pub title: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Channels that produced it.
    pub channels: Vec<String>,
    /// The merged recall score (or the server's rank score in hybrid mode), in (0, 1].
    pub recall_score: f32,
    /// The server's own score (hybrid mode).
    pub server_score: Option<f64>,
    /// The ranker's fused probability, when the ranker ran for this user.
    pub ranker_score: Option<f32>,
    /// The new-item boost applied (0 when off).
    pub boost: f32,
    /// Placed by an exploration slot.
    pub explored: bool,
    /// The final ranked score (the re-rank's relevance).
    pub score: f32,
}

/// Milliseconds per stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "camelCase")]
pub struct StageTimings {
    /// User query, seeds and interests.
    pub user_ms: f64,
    /// Recall channels, filters and merge (0 in hybrid mode).
    pub recall_ms: f64,
    /// Ranker, fusion, boost and exploration.
    pub rank_ms: f64,
    /// Diversity and rules.
    pub rerank_ms: f64,
    /// The whole call.
    pub total_ms: f64,
}

/// What one recommendation did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecommendTrace {
    /// Identifies this list: attach it to impressions and clicks so they join.
    pub request_id: String,
    /// `webgpu` or `cpu`.
    #[cfg_attr(test, ts(type = "'webgpu' | 'cpu'"))]
    pub backend: String,
    /// Whether the user was cold (no history and no residual).
    pub cold: bool,
    /// `ranker` (the ranker's score fused in), `recall` (cold user or no ranker) or `server`
    /// (hybrid mode without a ranker).
    #[cfg_attr(test, ts(type = "'ranker' | 'recall' | 'server'"))]
    pub ordered_by: &'static str,
    /// Per recall channel: produced, filtered, kept, time (empty in hybrid mode).
    pub recall: Vec<ChannelTrace>,
    /// Candidates that reached the rank stage.
    pub candidates: usize,
    /// The re-rank pool in ranked order.
    pub pool: Vec<PoolItem>,
    /// The diversity method used.
    pub diversity: DiversityMethod,
    /// Soft rules that gave way somewhere, by index, with the positions.
    pub relaxed_rules: Vec<(usize, usize)>,
    /// Hybrid mode: candidate ids the bundle does not know (kept with their server score only).
    pub unknown_candidates: Vec<String>,
    /// Oldest exposure layers ignored so the list could fill (0 normally; see
    /// [`crate::recall::ExposureFilter::contains_recent`]).
    pub exposure_relaxed: usize,
    /// DPP stopped at this position (no marginal gain left); the rest was filled by relevance
    /// under the same rules.
    pub dpp_exhausted_at: Option<usize>,
    /// Stage timings.
    pub timings: StageTimings,
}

/// The result of [`super::Recommender::recommend_with`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export, rename = "RecommendResult"))]
#[serde(rename_all = "camelCase")]
pub struct Recommendations {
    /// Best first.
    pub items: Vec<Recommendation>,
    /// What happened.
    pub trace: RecommendTrace,
}
