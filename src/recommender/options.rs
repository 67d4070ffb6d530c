//! Per-call options of [`super::Recommender::recommend_with`]: list length, diversity, business
//! rules, exploration, server candidates (hybrid mode) and whether the list counts as shown.
//!
//! The same JSON in Rust, in the CLI (`edgerec recommend`) and in JavaScript (camelCase), e.g.
//!
//! ```json
//! { "k": 20,
//!   "diversity": { "method": "dpp", "theta": 0.6, "window": 8, "similarity": "embedding" },
//!   "rules": [ { "kind": "max_consecutive", "attribute": "category", "max": 2 },
//!              { "kind": "pin", "item": "318", "position": 0, "hard": true } ],
//!   "candidates": [ { "id": "1", "score": 0.9 }, { "id": "50", "score": 0.7 } ],
//!   "markShown": false }
//! ```
//!
//! Fields left out take the [`super::RecommenderConfig`] defaults (`diversity`, `rules`,
//! `explore`), so an app sets its policy once in the config and overrides it per call.

use crate::error::{Error, Result};
use crate::rank::{ExplorePolicy, Slots};
use crate::rerank::{DppParams, MmrParams, Strategy};

/// How the re-rank trades relevance for diversity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
#[serde(rename_all = "lowercase")]
pub enum DiversityMethod {
    /// Keep the ranked order (rules still apply).
    None,
    /// Maximal Marginal Relevance (Carbonell & Goldstein 1998).
    #[default]
    Mmr,
    /// Greedy DPP MAP inference (Chen, Zhang & Zhou 2018).
    Dpp,
}

/// Which item–item similarity the diversity term uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimilarityKind {
    /// Cosine of the bundle's item embeddings.
    Embedding,
    /// Jaccard of the items' category sets.
    #[default]
    Category,
    /// `mixWeight · cosine + (1 − mixWeight) · jaccard`.
    Mix,
}

/// The diversity stage.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DiversityOptions {
    /// `none`, `mmr` or `dpp`.
    pub method: DiversityMethod,
    /// MMR trade-off λ ∈ [0, 1]: 1 keeps the ranked order.
    pub lambda: f64,
    /// DPP trade-off θ ∈ [0, 1): relevance weight `α = θ / (2(1 − θ))`; θ → 1 keeps the ranked
    /// order.
    pub theta: f64,
    /// Sliding window (MMR: recent picks that count as redundant; DPP: Alg. 2's window).
    pub window: Option<usize>,
    /// The similarity measure.
    pub similarity: SimilarityKind,
    /// Cosine weight of the `mix` similarity.
    pub mix_weight: f64,
}

impl Default for DiversityOptions {
    /// MMR, λ = 0.9, category similarity: of the settings tuned on the first 150 replay users
    /// (`edgerec eval --replay --replay-users 150 --replay-fine-grid`), the one with the largest
    /// intra-list distance by category (+8 %, 12 % more categories per list) within a 5 % loss
    /// of next-item NDCG@10 (−2.9 %). θ = 0.9 is the best DPP setting under the same budget.
    /// Reported on the other 460 users in the model card.
    fn default() -> Self {
        Self {
            method: DiversityMethod::Mmr,
            lambda: 0.9,
            theta: 0.9,
            window: None,
            similarity: SimilarityKind::Category,
            mix_weight: 0.5,
        }
    }
}

impl DiversityOptions {
    /// No diversity term.
    pub const NONE: Self = Self {
        method: DiversityMethod::None,
        lambda: 1.0,
        theta: 0.7,
        window: None,
        similarity: SimilarityKind::Embedding,
        mix_weight: 0.5,
    };

    /// The re-rank strategy these options select.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for λ, θ, window or mix weight out of range.
    pub fn strategy(&self) -> Result<Strategy> {
        if !(0.0..=1.0).contains(&self.mix_weight) {
            return Err(Error::InvalidArgument {
                name: "mixWeight",
                reason: format!("{} is outside [0, 1]", self.mix_weight),
            });
        }
        let strategy = match self.method {
            DiversityMethod::None => Strategy::Relevance,
            DiversityMethod::Mmr => {
                Strategy::Mmr(MmrParams { lambda: self.lambda, window: self.window })
            }
            DiversityMethod::Dpp => Strategy::Dpp {
                theta: self.theta,
                params: DppParams { window: self.window, ..DppParams::default() },
            },
        };
        crate::rerank::Reranker::new(strategy)?;
        Ok(strategy)
    }
}

/// A business rule as data. `attribute: "category"` is the item's first listed category;
/// any other attribute name is read from the bundle's item attributes (`year`, `decade`, …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// At most `max` consecutive items share a value.
    MaxConsecutive {
        /// Attribute name.
        attribute: String,
        /// Longest allowed run (≥ 1).
        max: usize,
    },
    /// At most `max` items of any one value in every `window` consecutive positions.
    MaxPerWindow {
        /// Attribute name.
        attribute: String,
        /// Window length (≥ 1).
        window: usize,
        /// Items of one value allowed per window (≥ 1).
        max: usize,
    },
    /// At most `max` items of `value` (of any one value when omitted) in the first `top`.
    MaxInTop {
        /// Attribute name.
        attribute: String,
        /// The value limited.
        #[serde(default)]
        value: Option<String>,
        /// Leading positions covered.
        top: usize,
        /// Items allowed.
        max: usize,
    },
    /// At least `min` items of `value` in the first `top` positions.
    MinInTop {
        /// Attribute name.
        attribute: String,
        /// The wanted value.
        value: String,
        /// Leading positions covered.
        top: usize,
        /// Items required (≤ `top`).
        min: usize,
    },
    /// Item `item` (an id; added to the candidates when recall missed it) at `position`.
    Pin {
        /// Item id.
        item: String,
        /// Zero-based position.
        position: usize,
    },
    /// At most one item per value in the whole list.
    Dedupe {
        /// Attribute name.
        attribute: String,
    },
}

/// A rule with its enforcement: `hard` rules never give way (an impossible one is the typed
/// error `RULES_INFEASIBLE`); soft rules (the default) give way when nothing else is eligible,
/// lowest `priority` first, and the trace says where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleSpec {
    /// The constraint.
    #[serde(flatten)]
    pub rule: RuleKind,
    /// Never relaxed.
    #[serde(default)]
    pub hard: bool,
    /// Importance of a soft rule: higher gives way later.
    #[serde(default)]
    pub priority: u32,
}

impl RuleSpec {
    /// A soft rule of priority 0.
    pub fn soft(rule: RuleKind) -> Self {
        Self { rule, hard: false, priority: 0 }
    }

    /// A hard rule.
    pub fn hard(rule: RuleKind) -> Self {
        Self { rule, hard: true, priority: 0 }
    }

    /// The attribute the rule reads, if any.
    pub fn attribute(&self) -> Option<&str> {
        match &self.rule {
            RuleKind::MaxConsecutive { attribute, .. }
            | RuleKind::MaxPerWindow { attribute, .. }
            | RuleKind::MaxInTop { attribute, .. }
            | RuleKind::MinInTop { attribute, .. }
            | RuleKind::Dedupe { attribute } => Some(attribute),
            RuleKind::Pin { .. } => None,
        }
    }
}

/// The bandit that fills exploration slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExploreMethod {
    /// Thompson sampling, Beta(1, 1) prior.
    #[default]
    Thompson,
    /// UCB1, c = 1.
    Ucb,
}

/// Exploration slots: positions `first, first + every, …` are filled by a bandit over the recall
/// channels (arms), using the clicks and impressions this device has seen per channel. The
/// explored items are pinned through re-rank, so the slots survive it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExploreOptions {
    /// Distance between slots (≥ 1).
    pub every: usize,
    /// The first slot (zero-based).
    pub first: usize,
    /// The bandit.
    pub method: ExploreMethod,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        Self { every: 5, first: 4, method: ExploreMethod::Thompson }
    }
}

impl ExploreOptions {
    pub(crate) fn slots(&self) -> Slots {
        Slots { first: self.first, every: self.every }
    }

    pub(crate) fn policy(&self) -> ExplorePolicy {
        match self.method {
            ExploreMethod::Thompson => ExplorePolicy::THOMPSON,
            ExploreMethod::Ucb => ExplorePolicy::UCB1,
        }
    }
}

/// One candidate from the app's own server (hybrid mode).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerCandidate {
    /// Item id.
    pub id: String,
    /// The server's score (higher is better; only its order within the list is used).
    pub score: f64,
}

/// Options of one [`super::Recommender::recommend_with`] call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RecommendOptions {
    /// List length (≥ 1).
    pub k: usize,
    /// The diversity stage (default: the config's).
    pub diversity: Option<DiversityOptions>,
    /// Business rules (default: the config's).
    pub rules: Option<Vec<RuleSpec>>,
    /// Exploration slots (default: the config's, off unless set there).
    pub explore: Option<ExploreOptions>,
    /// Hybrid mode: the server's candidates replace recall; the device re-scores, fuses and
    /// re-ranks them.
    pub candidates: Option<Vec<ServerCandidate>>,
    /// Record the returned items as shown (exposure filter, channel impressions). Off by
    /// default: `recommend` is side-effect free; call `mark_shown` when the list is displayed.
    pub mark_shown: bool,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        Self {
            k: 20,
            diversity: None,
            rules: None,
            explore: None,
            candidates: None,
            mark_shown: false,
        }
    }
}

impl RecommendOptions {
    /// `k` items with every other option at its default.
    pub fn top(k: usize) -> Self {
        Self { k, ..Self::default() }
    }
}
