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
///
/// Deserialized through `RuleWire` (one flat struct), not serde's `flatten` over the internally
/// tagged [`RuleKind`], which buffers every rule into serde's private `Content` tree (about 34 KB
/// of the release wasm module, 7 KB gzipped). Accepted inputs and the strictness are the same: an
/// unknown field, a field of another kind or a missing one is an error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// The `kind` of a rule's JSON: [`RuleKind`]'s variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum RuleName {
    MaxConsecutive,
    MaxPerWindow,
    MaxInTop,
    MinInTop,
    Pin,
    Dedupe,
}

impl RuleName {
    /// The `kind` string.
    fn name(self) -> &'static str {
        match self {
            RuleName::MaxConsecutive => "max_consecutive",
            RuleName::MaxPerWindow => "max_per_window",
            RuleName::MaxInTop => "max_in_top",
            RuleName::MinInTop => "min_in_top",
            RuleName::Pin => "pin",
            RuleName::Dedupe => "dedupe",
        }
    }

    /// The fields of the kind's [`RuleKind`] variant.
    fn fields(self) -> &'static [&'static str] {
        match self {
            RuleName::MaxConsecutive => &["attribute", "max"],
            RuleName::MaxPerWindow => &["attribute", "window", "max"],
            RuleName::MaxInTop => &["attribute", "value", "top", "max"],
            RuleName::MinInTop => &["attribute", "value", "top", "min"],
            RuleName::Pin => &["item", "position"],
            RuleName::Dedupe => &["attribute"],
        }
    }
}

/// A [`RuleSpec`] as it arrives: every field of every [`RuleKind`] variant, `Some` when present
/// (an explicit `null` is not absence: it is `Some(None)` for `value`, an error elsewhere, as
/// with the derived variants), checked against `kind` by [`RuleWire::into_spec`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleWire {
    kind: RuleName,
    #[serde(default, deserialize_with = "present")]
    attribute: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    item: Option<String>,
    #[serde(default, deserialize_with = "present")]
    window: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    top: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    max: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    min: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    position: Option<usize>,
    #[serde(default)]
    hard: bool,
    #[serde(default)]
    priority: u32,
}

/// A field that is present: `Some` of its value, `null` included where `T` takes it.
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Why a [`RuleWire`] is not a rule of its `kind`.
#[derive(Debug)]
enum RuleWireError {
    /// A field of the kind is absent.
    Missing(RuleName, &'static str),
    /// A field of another kind is present.
    Unknown(RuleName, &'static str),
    /// `min_in_top`'s `value` is `null`.
    NullValue,
}

impl std::fmt::Display for RuleWireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            RuleWireError::Missing(kind, field) => {
                write!(f, "missing field `{field}` for rule kind `{}`", kind.name())
            }
            RuleWireError::Unknown(kind, field) => {
                write!(f, "unknown field `{field}` for rule kind `{}`, expected ", kind.name())?;
                for (i, name) in kind.fields().iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{name}`")?;
                }
                f.write_str(", `hard` or `priority`")
            }
            RuleWireError::NullValue => f.write_str("invalid type: null, expected a string"),
        }
    }
}

impl RuleWire {
    /// The rule, if the fields present are exactly those of `kind` (`value` of `max_in_top`
    /// optional).
    fn into_spec(self) -> std::result::Result<RuleSpec, RuleWireError> {
        let RuleWire {
            kind,
            attribute,
            value,
            item,
            window,
            top,
            max,
            min,
            position,
            hard,
            priority,
        } = self;
        let set = [
            ("attribute", attribute.is_some()),
            ("value", value.is_some()),
            ("item", item.is_some()),
            ("window", window.is_some()),
            ("top", top.is_some()),
            ("max", max.is_some()),
            ("min", min.is_some()),
            ("position", position.is_some()),
        ];
        if let Some(&(field, _)) =
            set.iter().find(|(field, set)| *set && !kind.fields().contains(field))
        {
            return Err(RuleWireError::Unknown(kind, field));
        }
        fn need<T>(
            kind: RuleName,
            field: &'static str,
            value: Option<T>,
        ) -> std::result::Result<T, RuleWireError> {
            value.ok_or(RuleWireError::Missing(kind, field))
        }
        let rule = match kind {
            RuleName::MaxConsecutive => RuleKind::MaxConsecutive {
                attribute: need(kind, "attribute", attribute)?,
                max: need(kind, "max", max)?,
            },
            RuleName::MaxPerWindow => RuleKind::MaxPerWindow {
                attribute: need(kind, "attribute", attribute)?,
                window: need(kind, "window", window)?,
                max: need(kind, "max", max)?,
            },
            RuleName::MaxInTop => RuleKind::MaxInTop {
                attribute: need(kind, "attribute", attribute)?,
                value: value.flatten(),
                top: need(kind, "top", top)?,
                max: need(kind, "max", max)?,
            },
            RuleName::MinInTop => RuleKind::MinInTop {
                attribute: need(kind, "attribute", attribute)?,
                value: need(kind, "value", value)?.ok_or(RuleWireError::NullValue)?,
                top: need(kind, "top", top)?,
                min: need(kind, "min", min)?,
            },
            RuleName::Pin => RuleKind::Pin {
                item: need(kind, "item", item)?,
                position: need(kind, "position", position)?,
            },
            RuleName::Dedupe => RuleKind::Dedupe { attribute: need(kind, "attribute", attribute)? },
        };
        Ok(RuleSpec { rule, hard, priority })
    }
}

impl<'de> crate::wire::Wire<'de> for RuleWire {
    type Output = RuleSpec;
    type Error = RuleWireError;
    const EXPECTING: &'static str = "struct RuleSpec";

    fn finish(self) -> std::result::Result<RuleSpec, RuleWireError> {
        self.into_spec()
    }
}

impl<'de> serde::Deserialize<'de> for RuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        crate::wire::deserialize_object::<D, RuleWire>(deserializer)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<RuleSpec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn every_kind() -> Vec<RuleKind> {
        let a = || "category".to_string();
        vec![
            RuleKind::MaxConsecutive { attribute: a(), max: 2 },
            RuleKind::MaxPerWindow { attribute: a(), window: 5, max: 2 },
            RuleKind::MaxInTop { attribute: a(), value: None, top: 10, max: 3 },
            RuleKind::MaxInTop { attribute: a(), value: Some("Drama".into()), top: 10, max: 3 },
            RuleKind::MinInTop { attribute: a(), value: "Comedy".into(), top: 10, min: 1 },
            RuleKind::Pin { item: "318".into(), position: 0 },
            RuleKind::Dedupe { attribute: a() },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for rule in every_kind() {
            for spec in [
                RuleSpec::soft(rule.clone()),
                RuleSpec::hard(rule.clone()),
                RuleSpec { rule: rule.clone(), hard: false, priority: 7 },
            ] {
                let json = serde_json::to_string(&spec).unwrap();
                assert_eq!(parse(&json), Ok(spec), "{json}");
            }
        }
    }

    #[test]
    fn serialized_shape_is_flat() {
        let spec =
            RuleSpec::hard(RuleKind::MaxPerWindow { attribute: "year".into(), window: 4, max: 1 });
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"kind":"max_per_window","attribute":"year","window":4,"max":1,"hard":true,"priority":0}"#
        );
        let spec = RuleSpec::soft(RuleKind::MaxInTop {
            attribute: "category".into(),
            value: None,
            top: 5,
            max: 2,
        });
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"kind":"max_in_top","attribute":"category","value":null,"top":5,"max":2,"hard":false,"priority":0}"#
        );
    }

    #[test]
    fn hard_and_priority_default() {
        let spec = parse(r#"{"attribute":"category","kind":"dedupe"}"#).unwrap();
        assert_eq!(spec, RuleSpec::soft(RuleKind::Dedupe { attribute: "category".into() }));
        let spec = parse(r#"{"kind":"pin","item":"1","position":3,"priority":2}"#).unwrap();
        assert_eq!((spec.hard, spec.priority), (false, 2));
    }

    #[test]
    fn optional_value_of_max_in_top() {
        let base = r#""kind":"max_in_top","attribute":"category","top":3,"max":1"#;
        for json in [format!("{{{base}}}"), format!(r#"{{{base},"value":null}}"#)] {
            let RuleKind::MaxInTop { value, .. } = parse(&json).unwrap().rule else { panic!() };
            assert_eq!(value, None);
        }
    }

    #[test]
    fn missing_fields_are_errors() {
        let err = parse(r#"{"kind":"max_consecutive","attribute":"category"}"#).unwrap_err();
        assert!(err.contains("missing field `max` for rule kind `max_consecutive`"), "{err}");
        let err = parse(r#"{"kind":"min_in_top","attribute":"c","top":3,"min":1}"#).unwrap_err();
        assert!(err.contains("missing field `value` for rule kind `min_in_top`"), "{err}");
        let err = parse(r#"{"kind":"min_in_top","attribute":"c","value":null,"top":3,"min":1}"#)
            .unwrap_err();
        assert!(err.contains("invalid type: null, expected a string"), "{err}");
        let err = parse(r#"{"attribute":"category","max":2}"#).unwrap_err();
        assert!(err.contains("missing field `kind`"), "{err}");
    }

    #[test]
    fn fields_of_another_kind_are_errors() {
        let err =
            parse(r#"{"kind":"max_consecutive","attribute":"c","max":2,"window":3}"#).unwrap_err();
        assert!(err.contains("unknown field `window` for rule kind `max_consecutive`"), "{err}");
        let err = parse(r#"{"kind":"dedupe","attribute":"c","value":"x"}"#).unwrap_err();
        assert!(err.contains("unknown field `value` for rule kind `dedupe`"), "{err}");
        // An explicit null is not absence.
        assert!(parse(r#"{"kind":"dedupe","attribute":"c","value":null}"#).is_err());
        assert!(parse(r#"{"kind":"pin","item":"1","position":0,"attribute":"c"}"#).is_err());
    }

    #[test]
    fn unknown_fields_and_shapes_are_errors() {
        let err = parse(r#"{"kind":"dedupe","attribute":"c","Hard":true}"#).unwrap_err();
        assert!(err.contains("unknown field `Hard`"), "{err}");
        let err = parse(r#"{"kind":"maxConsecutive","attribute":"c","max":2}"#).unwrap_err();
        assert!(err.contains("unknown variant `maxConsecutive`"), "{err}");
        let err = parse(r#"{"kind":"dedupe","attribute":"c","attribute":"d"}"#).unwrap_err();
        assert!(err.contains("duplicate field `attribute`"), "{err}");
        for json in [r#"["dedupe","c"]"#, r#""dedupe""#, "null", "{}"] {
            assert!(parse(json).is_err(), "{json}");
        }
        let err = serde_json::from_str::<RecommendOptions>(
            r#"{"rules":[{"kind":"pin","item":"1","position":0,"max":1}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `max` for rule kind `pin`"), "{err}");
    }
}
