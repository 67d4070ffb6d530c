//! Recall channels: their configuration, and the per-bundle tables the non-vector channels
//! read (built once by [`crate::recall::Recall::from_bundle`], never per request).
//!
//! | channel | source | order |
//! |---|---|---|
//! | [`ChannelKind::Vector`] | the item index, through the [`crate::compute::ScoringEngine`] | similarity to the user vector |
//! | [`ChannelKind::ItemToItem`] | `i2i.*` (ItemCF), `swing.*` (Swing) or `ease.*` (EASE) neighbour lists | `Σ_seeds seed.weight × sim(seed, j)` (U2I2I) |
//! | [`ChannelKind::Popular`] | `stats.popularity` or `stats.popularity_recent` | popularity |
//! | [`ChannelKind::Fresh`] | the item table's `created_at` | newest first, ties by popularity |
//! | [`ChannelKind::Category`] | the item table's tags | per interest category, newest or most popular |
//!
//! Every channel skips filtered rows *while* it fills its quota (the vector channel passes the
//! filter mask to the kernel), so filtering never costs a channel its quota when enough
//! unfiltered items exist. Ties are broken by the lower row everywhere.

use crate::bundle::Bundle;
use crate::bundle::manifest::{NEIGHBOR_IDS, NEIGHBOR_SCORES, NO_NEIGHBOR, POPULARITY};
use crate::compute::{MAX_K, RowMask};
use crate::error::{Error, Result};
use crate::recall::Seed;
use crate::recall::filter::Filters;
use std::collections::BTreeMap;

/// Name of the recent-popularity tensor (`[items]`, `edgerec train`: last 90 days).
pub const POPULARITY_RECENT: &str = "stats.popularity_recent";
/// Swing neighbour ids, `u32 [items, K]`, padded like [`NEIGHBOR_IDS`].
pub const SWING_IDS: &str = "swing.ids";
/// Swing neighbour scores, aligned with [`SWING_IDS`].
pub const SWING_SCORES: &str = "swing.scores";
/// EASE neighbour ids (Steck, WWW 2019: the top-`K` positive weights of each row of the
/// closed-form item-item model), `u32 [items, K]`, padded like [`NEIGHBOR_IDS`].
pub const EASE_IDS: &str = "ease.ids";
/// EASE weights, aligned with [`EASE_IDS`].
pub const EASE_SCORES: &str = "ease.scores";
/// The default merge cap ([`RecallConfig::default_channels`]).
pub const DEFAULT_TOTAL: usize = 500;
/// Profile items the default `ease` channel scores (most recent first).
const EASE_PROFILE: usize = 500;
/// The default `ease` channel's quota.
const EASE_QUOTA: usize = 200;
/// The default `ease` channel's merge weight.
const EASE_WEIGHT: f32 = 1.1;
/// The most channels a configuration may have: a candidate's sources are a `u64` bitmask.
pub const MAX_CHANNELS: usize = 64;

/// Which item-to-item neighbour lists an [`ChannelKind::ItemToItem`] channel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighbourSource {
    /// ItemCF: IUF-weighted, cosine-normalized co-occurrence (`i2i.ids`, `i2i.scores`).
    ItemCf,
    /// Swing (Yang et al. 2020, "Large scale product graph construction for recommendation in
    /// e-commerce"): co-occurrence discounted by user-pair overlap, robust to popular items
    /// (`swing.ids`, `swing.scores`).
    Swing,
    /// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the
    /// regularised least-squares item-item model, whose user score is exactly the sum of the
    /// history rows' weights (`ease.ids`, `ease.scores`).
    Ease,
}

impl NeighbourSource {
    /// The `(ids, scores)` tensor names.
    pub fn tensors(self) -> (&'static str, &'static str) {
        match self {
            NeighbourSource::ItemCf => (NEIGHBOR_IDS, NEIGHBOR_SCORES),
            NeighbourSource::Swing => (SWING_IDS, SWING_SCORES),
            NeighbourSource::Ease => (EASE_IDS, EASE_SCORES),
        }
    }
}

/// The order of a [`ChannelKind::Category`] channel's items within a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryOrder {
    /// Newest `created_at` first (ties: more popular first when `stats.popularity` exists,
    /// then the lower row).
    Newest,
    /// Most popular first (`stats.popularity`, required).
    Popular,
}

/// What a channel recalls.
///
/// Deserialized through `ChannelWire` (one flat struct), not serde's internally tagged enum
/// support, which buffers the object into serde's private `Content` tree (about 28 KB of the
/// release wasm module, 5 KB gzipped). The same spellings are accepted (camelCase fields, their
/// snake_case aliases) and the same objects refused: an unknown field, a field of another type or
/// a missing one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum ChannelKind {
    /// The `k` items nearest to the user vector over the item index, through the
    /// [`crate::compute::ScoringEngine`] with the filter mask (excluded rows are never scored).
    /// Yields nothing for a cold user (no vector). `k` is in `1..=MAX_K`; the channel asks
    /// for `min(k, quota)` items.
    Vector {
        /// Items requested from the index.
        k: usize,
    },
    /// U2I2I: `score(j) = Σ_seeds seed.weight × sim(seed, j)` over the first `max_seeds` seeds
    /// (most recent first) and their neighbour lists. Only items with a positive total are
    /// produced (a negative seed weight, e.g. a dislike, pushes its neighbours down). Seeds are
    /// not removed unless the filters exclude them (the caller passes them as consumed).
    ItemToItem {
        /// Which neighbour lists.
        source: NeighbourSource,
        /// How many of the most recent seeds to expand.
        #[serde(alias = "max_seeds")]
        max_seeds: usize,
    },
    /// The most popular items, descending (`stats.popularity`, or `stats.popularity_recent`
    /// when `recent`). The same for every user: a safety net and the cold-start fallback.
    Popular {
        /// Read `stats.popularity_recent` instead of `stats.popularity`.
        recent: bool,
    },
    /// Items created within `[now − window_s, now]`, newest first (ties: more popular first,
    /// then the lower row). Items dated after `now` are not fresh, they are not out yet.
    Fresh {
        /// Window length in seconds (`≥ 0`).
        #[serde(alias = "window_s")]
        window_s: i64,
    },
    /// For each interest category of the context (best first), its best `per_category` items
    /// in `order`; an item is scored `category weight × K / (K + rank in category)` (the merge's
    /// rank score, [`crate::recall::merge::rank_score`]) so categories interleave by weight.
    /// A category no item has is ignored — interest profiles outlive bundles, and a renamed or
    /// retired category must not fail the request. An item in two interest categories counts
    /// once, for the first.
    Category {
        /// Items per category.
        #[serde(alias = "per_category")]
        per_category: usize,
        /// Order within a category.
        order: CategoryOrder,
    },
}

impl ChannelKind {
    /// A short description for errors and traces (`"vector"`, `"item-to-item (swing)"`, …).
    pub fn label(&self) -> &'static str {
        match self {
            ChannelKind::Vector { .. } => "vector",
            ChannelKind::ItemToItem { source: NeighbourSource::ItemCf, .. } => {
                "item-to-item (itemcf)"
            }
            ChannelKind::ItemToItem { source: NeighbourSource::Swing, .. } => {
                "item-to-item (swing)"
            }
            ChannelKind::ItemToItem { source: NeighbourSource::Ease, .. } => "item-to-item (ease)",
            ChannelKind::Popular { recent: false } => "popular",
            ChannelKind::Popular { recent: true } => "popular (recent)",
            ChannelKind::Fresh { .. } => "fresh",
            ChannelKind::Category { .. } => "category",
        }
    }
}

/// The `type` of a channel's JSON: [`ChannelKind`]'s variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChannelType {
    Vector,
    ItemToItem,
    Popular,
    Fresh,
    Category,
}

impl ChannelType {
    /// The `type` string.
    fn name(self) -> &'static str {
        match self {
            ChannelType::Vector => "vector",
            ChannelType::ItemToItem => "item_to_item",
            ChannelType::Popular => "popular",
            ChannelType::Fresh => "fresh",
            ChannelType::Category => "category",
        }
    }

    /// The (camelCase) fields of the type's [`ChannelKind`] variant.
    fn fields(self) -> &'static [&'static str] {
        match self {
            ChannelType::Vector => &["k"],
            ChannelType::ItemToItem => &["source", "maxSeeds"],
            ChannelType::Popular => &["recent"],
            ChannelType::Fresh => &["windowS"],
            ChannelType::Category => &["perCategory", "order"],
        }
    }
}

/// A [`ChannelKind`] as it arrives: every field of every variant, `Some` when present (an
/// explicit `null` is an error, as with the derived variants), checked against `type` by
/// [`ChannelWire::into_kind`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChannelWire {
    #[serde(rename = "type")]
    kind: ChannelType,
    #[serde(default, deserialize_with = "present")]
    k: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    source: Option<NeighbourSource>,
    #[serde(default, alias = "max_seeds", deserialize_with = "present")]
    max_seeds: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    recent: Option<bool>,
    #[serde(default, alias = "window_s", deserialize_with = "present")]
    window_s: Option<i64>,
    #[serde(default, alias = "per_category", deserialize_with = "present")]
    per_category: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    order: Option<CategoryOrder>,
}

/// A field that is present: `Some` of its value (`null` is an error for every field here).
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Why a [`ChannelWire`] is not a channel of its `type`.
#[derive(Debug)]
enum ChannelWireError {
    /// A field of the type is absent.
    Missing(ChannelType, &'static str),
    /// A field of another type is present.
    Unknown(ChannelType, &'static str),
}

impl std::fmt::Display for ChannelWireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ChannelWireError::Missing(kind, field) => {
                write!(f, "missing field `{field}` for channel type `{}`", kind.name())
            }
            ChannelWireError::Unknown(kind, field) => {
                write!(f, "unknown field `{field}` for channel type `{}`, expected ", kind.name())?;
                let fields = kind.fields();
                for (i, name) in fields.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        i if i + 1 == fields.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}`{name}`")?;
                }
                Ok(())
            }
        }
    }
}

impl ChannelWire {
    /// The channel kind, if the fields present are exactly those of `type`.
    fn into_kind(self) -> std::result::Result<ChannelKind, ChannelWireError> {
        let kind = self.kind;
        let set = [
            ("k", self.k.is_some()),
            ("source", self.source.is_some()),
            ("maxSeeds", self.max_seeds.is_some()),
            ("recent", self.recent.is_some()),
            ("windowS", self.window_s.is_some()),
            ("perCategory", self.per_category.is_some()),
            ("order", self.order.is_some()),
        ];
        if let Some(&(field, _)) =
            set.iter().find(|(field, set)| *set && !kind.fields().contains(field))
        {
            return Err(ChannelWireError::Unknown(kind, field));
        }
        fn need<T>(
            kind: ChannelType,
            field: &'static str,
            value: Option<T>,
        ) -> std::result::Result<T, ChannelWireError> {
            value.ok_or(ChannelWireError::Missing(kind, field))
        }
        Ok(match kind {
            ChannelType::Vector => ChannelKind::Vector { k: need(kind, "k", self.k)? },
            ChannelType::ItemToItem => ChannelKind::ItemToItem {
                source: need(kind, "source", self.source)?,
                max_seeds: need(kind, "maxSeeds", self.max_seeds)?,
            },
            ChannelType::Popular => {
                ChannelKind::Popular { recent: need(kind, "recent", self.recent)? }
            }
            ChannelType::Fresh => {
                ChannelKind::Fresh { window_s: need(kind, "windowS", self.window_s)? }
            }
            ChannelType::Category => ChannelKind::Category {
                per_category: need(kind, "perCategory", self.per_category)?,
                order: need(kind, "order", self.order)?,
            },
        })
    }
}

impl<'de> crate::wire::Wire<'de> for ChannelWire {
    type Output = ChannelKind;
    type Error = ChannelWireError;
    const EXPECTING: &'static str = "internally tagged enum ChannelKind";

    fn finish(self) -> std::result::Result<ChannelKind, ChannelWireError> {
        self.into_kind()
    }
}

impl<'de> serde::Deserialize<'de> for ChannelKind {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        crate::wire::deserialize_object::<D, ChannelWire>(deserializer)
    }
}

/// One channel of a [`RecallConfig`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChannelConfig {
    /// A unique, non-empty name (traces, channel weights downstream).
    pub name: String,
    /// What it recalls.
    pub kind: ChannelKind,
    /// The most unfiltered items it contributes to the merge (0 disables it while keeping the
    /// other channels' indices, so `sources` bits stay stable).
    pub quota: usize,
    /// Its weight in the merge: finite and `≥ 0`.
    pub weight: f32,
    /// Leave the channel out (it produces nothing) when the bundle lacks its tensors, instead
    /// of failing: a default configuration can name a channel that only newer bundles carry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The channel's weight for a user without history; with `n` interactions the weight is
    /// `weight + (cold_weight − weight) · h / (h + n)`, `h` = [`COLD_HALF`] — halfway after `h`
    /// interactions, `weight` in the limit. The usual hybrid of content and collaborative
    /// filtering: with little evidence the content signal (a category, popularity) carries the
    /// list; as the history grows the collaborative channels take over. `None`: always `weight`.
    #[serde(default, alias = "cold_weight", skip_serializing_if = "Option::is_none")]
    pub cold_weight: Option<f32>,
}

/// Interactions after which a [`ChannelConfig::cold_weight`] is halfway to the warm weight.
pub const COLD_HALF: f32 = 5.0;

impl ChannelConfig {
    /// A channel configuration.
    pub fn new(name: impl Into<String>, kind: ChannelKind, quota: usize, weight: f32) -> Self {
        Self { name: name.into(), kind, quota, weight, optional: false, cold_weight: None }
    }

    /// The same channel with a weight of `cold_weight` for a user without history (see
    /// [`ChannelConfig::cold_weight`]).
    pub fn cold(mut self, cold_weight: f32) -> Self {
        self.cold_weight = Some(cold_weight);
        self
    }

    /// The merge weight for a user with `interactions` stored interactions.
    pub fn weight_for(&self, interactions: usize) -> f32 {
        match self.cold_weight {
            Some(cold) => {
                self.weight + (cold - self.weight) * COLD_HALF / (COLD_HALF + interactions as f32)
            }
            None => self.weight,
        }
    }

    /// The same channel, left out instead of failing when the bundle lacks its tensors.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// The recall channels and the merge's total cap.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallConfig {
    /// The channels; channel `c` is bit `c` of a candidate's `sources`. At most
    /// [`MAX_CHANNELS`].
    pub channels: Vec<ChannelConfig>,
    /// The most candidates the merge returns (`≥ 1`). Quotas are guarantees only when `total`
    /// is at least the sum of the quotas; otherwise the lowest merged scores are cut.
    pub total: usize,
}

impl Default for RecallConfig {
    /// [`RecallConfig::default_channels`].
    fn default() -> Self {
        Self::default_channels()
    }
}

impl RecallConfig {
    /// No channels yet, a cap of `total`.
    pub fn new(total: usize) -> Self {
        Self { channels: Vec::new(), total }
    }

    /// Adds a channel.
    pub fn with_channel(mut self, channel: ChannelConfig) -> Self {
        self.channels.push(channel);
        self
    }

    /// The default funnel entrance, [`DEFAULT_TOTAL`] candidates in total (channels overlap, and
    /// the excess over the total is cut by merged score):
    ///
    /// | # | name | kind | quota | weight | why |
    /// |---|---|---|---|---|---|
    /// | 0 | `vector` | `Vector { k: 200 }` | 200 | 1.0 | the personalised backbone: the two-tower model's nearest items |
    /// | 1 | `i2i` | `ItemToItem { ItemCf, max_seeds: 10 }` | 100 | 0.9 | "more like what you just did": reacts within the session |
    /// | 2 | `swing` | `ItemToItem { Swing, max_seeds: 10 }` | 100 | 0.9 | the same with Swing, which resists popular-item noise |
    /// | 3 | `popular` | `Popular { recent: false }` | 50 | 0.3 | a safety net, and all a cold user has |
    /// | 4 | `popular_recent` | `Popular { recent: true }` | 50 | 0.4 | what is trending now |
    /// | 5 | `fresh` | `Fresh { window_s: 7 days }` | 30 | 0.3 | gives new items a chance before they have interactions |
    /// | 6 | `category` | `Category { per_category: 20, Popular }` | 50 | 0.5 | breadth across the user's top interests |
    /// | 7 | `ease` (optional) | `ItemToItem { Ease, max_seeds: 500 }` | 200 | 1.1 | the whole profile through EASE, the strongest single model on MovieLens (model card) |
    ///
    /// The `ease` channel is optional: bundles without `ease.*` (trained before it, or with
    /// `--ease-lambda 0`) run the other seven. Its weight and quota were picked on validation
    /// splits of MovieLens (`models/movielens-small/MODEL_CARD.md`).
    ///
    /// It needs every tensor `edgerec train` writes (`models/README.md`); for a bundle without
    /// some, build a config with only the channels it supports.
    pub fn default_channels() -> Self {
        use ChannelKind::*;
        const WEEK_S: i64 = 7 * 86_400;
        Self::new(DEFAULT_TOTAL)
            .with_channel(ChannelConfig::new("vector", Vector { k: 200 }, 200, 1.0))
            .with_channel(ChannelConfig::new(
                "i2i",
                ItemToItem { source: NeighbourSource::ItemCf, max_seeds: 10 },
                100,
                0.9,
            ))
            .with_channel(ChannelConfig::new(
                "swing",
                ItemToItem { source: NeighbourSource::Swing, max_seeds: 10 },
                100,
                0.9,
            ))
            .with_channel(ChannelConfig::new("popular", Popular { recent: false }, 50, 0.3))
            .with_channel(ChannelConfig::new("popular_recent", Popular { recent: true }, 50, 0.4))
            .with_channel(ChannelConfig::new("fresh", Fresh { window_s: WEEK_S }, 30, 0.3))
            .with_channel(ChannelConfig::new(
                "category",
                Category { per_category: 20, order: CategoryOrder::Popular },
                50,
                0.5,
            ))
            .with_channel(
                ChannelConfig::new(
                    "ease",
                    ItemToItem { source: NeighbourSource::Ease, max_seeds: EASE_PROFILE },
                    EASE_QUOTA,
                    EASE_WEIGHT,
                )
                .optional(),
            )
    }

    /// The index of the channel called `name` (its bit in `sources`).
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }

    /// Checks the configuration without a bundle.
    ///
    /// # Errors
    /// [`Error::InvalidWeight`] for a NaN, infinite or negative channel weight;
    /// [`Error::InvalidArgument`] for no channels, more than [`MAX_CHANNELS`], an empty or
    /// repeated name, `total = 0`, a vector `k` outside `1..=MAX_K`, a negative fresh window.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidArgument { name: "recall.channels", reason };
        if self.channels.is_empty() {
            return Err(invalid("no channels configured".into()));
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(invalid(format!(
                "{} channels, at most {MAX_CHANNELS} are supported (sources is a 64-bit mask)",
                self.channels.len()
            )));
        }
        if self.total == 0 {
            return Err(Error::InvalidArgument {
                name: "recall.total",
                reason: "must be at least 1".into(),
            });
        }
        for (i, c) in self.channels.iter().enumerate() {
            if c.name.is_empty() {
                return Err(invalid(format!("channel {i} has an empty name")));
            }
            if self.channels[..i].iter().any(|o| o.name == c.name) {
                return Err(invalid(format!("channel name {:?} is used twice", c.name)));
            }
            for value in [Some(c.weight), c.cold_weight].into_iter().flatten() {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(Error::InvalidWeight {
                        name: c.name.clone(),
                        value,
                        reason: "a channel weight must be finite and non-negative".into(),
                    });
                }
            }
            match c.kind {
                ChannelKind::Vector { k } if k == 0 || k > MAX_K => {
                    return Err(invalid(format!(
                        "channel {:?}: vector k = {k} is outside 1..={MAX_K}",
                        c.name
                    )));
                }
                ChannelKind::Fresh { window_s } if window_s < 0 => {
                    return Err(invalid(format!(
                        "channel {:?}: fresh window {window_s} s is negative",
                        c.name
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One channel's kept rows (best first, at most its quota) and its counts for the trace.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelOutput {
    pub rows: Vec<u32>,
    pub produced: usize,
    pub filtered: usize,
}

/// Neighbour lists, dequantized once: row `r`'s neighbours are `ids[r·k..(r+1)·k]`.
#[derive(Debug, Clone)]
struct Neighbours {
    k: usize,
    ids: Vec<u32>,
    scores: Vec<f32>,
}

/// Everything the non-vector channels read, built once per bundle for the configured channels.
#[derive(Debug, Clone)]
pub(crate) struct ChannelTables {
    rows: usize,
    itemcf: Option<Neighbours>,
    swing: Option<Neighbours>,
    ease: Option<Neighbours>,
    /// Rows by `stats.popularity` descending.
    popular: Option<Vec<u32>>,
    /// Rows by `stats.popularity_recent` descending.
    popular_recent: Option<Vec<u32>>,
    /// Rows by `created_at` descending (ties: popularity descending, row), and their times.
    fresh: Option<(Vec<u32>, Vec<i64>)>,
    /// Per tag: rows newest first.
    category_newest: Option<BTreeMap<String, Vec<u32>>>,
    /// Per tag: rows most popular first.
    category_popular: Option<BTreeMap<String, Vec<u32>>>,
}

fn missing(channel: &ChannelConfig, tensor: &str) -> Error {
    Error::InvalidArgument {
        name: "recall.channels",
        reason: format!(
            "channel {:?} ({}) needs tensor {tensor:?}, which this bundle does not have",
            channel.name,
            channel.kind.label()
        ),
    }
}

/// A per-item float tensor (`[items]`, or `[items, 1]`), dequantized.
fn per_item(bundle: &Bundle, name: &str, rows: usize) -> Result<Option<Vec<f32>>> {
    let Some(t) = bundle.tensor(name) else { return Ok(None) };
    if t.scheme().is_none() {
        return Err(Error::BundleShapeMismatch {
            file: t.file().into(),
            tensor: name.into(),
            reason: "a per-item statistic must be a float tensor, not u32".into(),
        });
    }
    let values = t.dequantize();
    if values.len() != rows {
        return Err(Error::BundleShapeMismatch {
            file: t.file().into(),
            tensor: name.into(),
            reason: format!("{} values for {rows} items", values.len()),
        });
    }
    Ok(Some(values))
}

fn neighbours(bundle: &Bundle, source: NeighbourSource, rows: usize) -> Result<Neighbours> {
    let (ids_name, scores_name) = source.tensors();
    let (Some(ids), Some(scores)) = (bundle.tensor(ids_name), bundle.tensor(scores_name)) else {
        // Checked by the caller.
        return Err(Error::InvalidArgument {
            name: "recall.channels",
            reason: format!("bundle has no {ids_name:?} / {scores_name:?}"),
        });
    };
    let shape_error = |tensor: &str, file: &str, reason: String| Error::BundleShapeMismatch {
        file: file.into(),
        tensor: tensor.into(),
        reason,
    };
    let k = ids.cols();
    let id_words = ids.as_u32().ok_or_else(|| {
        shape_error(ids_name, ids.file(), "neighbour ids must be a u32 tensor".into())
    })?;
    if ids.rows() != rows || id_words.len() != rows * k {
        return Err(shape_error(
            ids_name,
            ids.file(),
            format!("{} × {k} neighbour ids for {rows} items", ids.rows()),
        ));
    }
    if scores.scheme().is_none() || scores.rows() != rows || scores.cols() != k {
        return Err(shape_error(
            scores_name,
            scores.file(),
            format!(
                "scores must be a float [{rows}, {k}] tensor aligned with {ids_name}, found \
                 [{}, {}]",
                scores.rows(),
                scores.cols()
            ),
        ));
    }
    // `i2i.ids` is range-checked at load; other neighbour tensors are checked here.
    if let Some(pos) = id_words.iter().position(|&id| id != NO_NEIGHBOR && id as usize >= rows) {
        return Err(Error::BundleCorrupt {
            file: ids.file().into(),
            reason: format!(
                "tensor {ids_name}: row {} holds neighbour id {} ≥ {rows} items",
                pos / k.max(1),
                id_words[pos]
            ),
        });
    }
    Ok(Neighbours { k, ids: id_words.to_vec(), scores: scores.dequantize() })
}

/// Rows sorted by `key` descending, ties to the lower row.
fn order_by(values: &[f32]) -> Vec<u32> {
    crate::order::rows_by_desc(values)
}

/// Keeps the first `quota` rows of `order` that the filters allow.
fn fill(order: impl Iterator<Item = u32>, filters: &Filters, quota: usize) -> ChannelOutput {
    let mut out = ChannelOutput::default();
    if quota == 0 {
        return out;
    }
    for row in order {
        out.produced += 1;
        if !filters.allows(row) {
            out.filtered += 1;
            continue;
        }
        out.rows.push(row);
        if out.rows.len() == quota {
            break;
        }
    }
    out
}

impl ChannelTables {
    /// Builds the tables `config`'s channels need from `bundle`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the channel and tensor when a configured channel's
    /// tensor is missing; [`Error::BundleShapeMismatch`] / [`Error::BundleCorrupt`] when one
    /// does not fit the item table.
    pub(crate) fn build(bundle: &Bundle, config: &RecallConfig) -> Result<Self> {
        let items = bundle.items();
        let rows = items.len();
        let popularity = per_item(bundle, POPULARITY, rows)?;
        let mut tables = Self {
            rows,
            itemcf: None,
            swing: None,
            ease: None,
            popular: None,
            popular_recent: None,
            fresh: None,
            category_newest: None,
            category_popular: None,
        };
        let created: Vec<i64> = items.iter().map(|i| i.created_at()).collect();
        // Newest first; ties by popularity (when known), then row: a row's place in the
        // (popularity desc, row) order breaks the ties of `created_at`.
        let (place, row_at): (Vec<u32>, Vec<u32>) = match &popularity {
            Some(p) => {
                let order = crate::order::rows_by_desc(p);
                let mut place = vec![0u32; rows];
                for (i, &row) in order.iter().enumerate() {
                    place[row as usize] = i as u32;
                }
                (place, order)
            }
            None => ((0..rows as u32).collect(), (0..rows as u32).collect()),
        };
        let newest_first = |list: &mut [u32]| {
            // Flipping the sign bit orders i64 as u64; inverting makes it descending.
            let mut keys: Vec<(u64, u32)> = list
                .iter()
                .map(|&r| (!((created[r as usize] as u64) ^ (1 << 63)), place[r as usize]))
                .collect();
            crate::order::sort_keys(&mut keys);
            for (slot, (_, at)) in list.iter_mut().zip(keys) {
                *slot = row_at[at as usize];
            }
        };
        for channel in &config.channels {
            match channel.kind {
                ChannelKind::Vector { .. } => {}
                ChannelKind::ItemToItem { source, .. } => {
                    let (ids_name, scores_name) = source.tensors();
                    if let Some(name) =
                        [ids_name, scores_name].into_iter().find(|n| bundle.tensor(n).is_none())
                    {
                        if channel.optional {
                            continue;
                        }
                        return Err(missing(channel, name));
                    }
                    let slot = match source {
                        NeighbourSource::ItemCf => &mut tables.itemcf,
                        NeighbourSource::Swing => &mut tables.swing,
                        NeighbourSource::Ease => &mut tables.ease,
                    };
                    if slot.is_none() {
                        *slot = Some(neighbours(bundle, source, rows)?);
                    }
                }
                ChannelKind::Popular { recent: false } => match &popularity {
                    Some(p) => {
                        tables.popular.get_or_insert_with(|| order_by(p));
                    }
                    None if channel.optional => {}
                    None => return Err(missing(channel, POPULARITY)),
                },
                ChannelKind::Popular { recent: true } => {
                    if tables.popular_recent.is_none() {
                        match per_item(bundle, POPULARITY_RECENT, rows)? {
                            Some(p) => tables.popular_recent = Some(order_by(&p)),
                            None if channel.optional => {}
                            None => return Err(missing(channel, POPULARITY_RECENT)),
                        }
                    }
                }
                ChannelKind::Fresh { .. } => {
                    tables.fresh.get_or_insert_with(|| {
                        let mut order: Vec<u32> = (0..rows as u32).collect();
                        newest_first(&mut order);
                        let times = order.iter().map(|&r| created[r as usize]).collect();
                        (order, times)
                    });
                }
                ChannelKind::Category { order, .. } => {
                    if order == CategoryOrder::Popular && popularity.is_none() {
                        if channel.optional {
                            continue;
                        }
                        return Err(missing(channel, POPULARITY));
                    }
                    let slot = match order {
                        CategoryOrder::Newest => &mut tables.category_newest,
                        CategoryOrder::Popular => &mut tables.category_popular,
                    };
                    if slot.is_some() {
                        continue;
                    }
                    let mut map: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                    for item in items.iter() {
                        for tag in item.tags() {
                            let list = map.entry(tag.to_string()).or_default();
                            // An item listing a tag twice is in its category once.
                            if list.last() != Some(&(item.row() as u32)) {
                                list.push(item.row() as u32);
                            }
                        }
                    }
                    for list in map.values_mut() {
                        match (order, &popularity) {
                            (CategoryOrder::Popular, Some(p)) => {
                                crate::order::sort_rows_by(list, |r| {
                                    u64::from(crate::order::desc_f32(p[r as usize]))
                                })
                            }
                            _ => newest_first(list),
                        }
                    }
                    *slot = Some(map);
                }
            }
        }
        Ok(tables)
    }

    /// Number of items.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// U2I2I over the first `max_seeds` seeds (validated by the caller: rows in range, finite
    /// weights).
    pub(crate) fn item_to_item(
        &self,
        source: NeighbourSource,
        max_seeds: usize,
        seeds: &[Seed],
        filters: &Filters,
        quota: usize,
    ) -> ChannelOutput {
        let lists = match source {
            NeighbourSource::ItemCf => &self.itemcf,
            NeighbourSource::Swing => &self.swing,
            NeighbourSource::Ease => &self.ease,
        };
        let Some(n) = lists else { return ChannelOutput::default() };
        if quota == 0 {
            return ChannelOutput::default();
        }
        let mut contributions: Vec<(u32, f32)> = Vec::new();
        for seed in seeds.iter().take(max_seeds) {
            let base = seed.row as usize * n.k;
            let (Some(ids), Some(sims)) =
                (n.ids.get(base..base + n.k), n.scores.get(base..base + n.k))
            else {
                continue;
            };
            for (&id, &sim) in ids.iter().zip(sims) {
                if id != NO_NEIGHBOR {
                    contributions.push((id, seed.weight * sim));
                }
            }
        }
        // Stable sort by row keeps seed order within a row: the sum is deterministic.
        crate::order::sort_by_key_stable(&mut contributions, |c| u64::from(c.0));
        let mut summed: Vec<(u32, f32)> = Vec::with_capacity(contributions.len());
        for (row, s) in contributions {
            match summed.last_mut() {
                Some(last) if last.0 == row => last.1 += s,
                _ => summed.push((row, s)),
            }
        }
        let mut out = ChannelOutput { produced: summed.len(), ..Default::default() };
        summed.retain(|&(row, s)| {
            let allowed = filters.allows(row);
            out.filtered += usize::from(!allowed);
            allowed && s > 0.0
        });
        crate::order::sort_scored_desc(&mut summed);
        out.rows = summed.into_iter().take(quota).map(|(row, _)| row).collect();
        out
    }

    /// The most popular unfiltered items.
    pub(crate) fn popular(&self, recent: bool, filters: &Filters, quota: usize) -> ChannelOutput {
        let order = if recent { &self.popular_recent } else { &self.popular };
        match order {
            Some(order) => fill(order.iter().copied(), filters, quota),
            None => ChannelOutput::default(),
        }
    }

    /// Unfiltered items created within `[now − window_s, now]`, newest first.
    pub(crate) fn fresh(
        &self,
        window_s: i64,
        now_s: i64,
        filters: &Filters,
        quota: usize,
    ) -> ChannelOutput {
        let Some((order, times)) = &self.fresh else { return ChannelOutput::default() };
        let oldest = now_s.saturating_sub(window_s);
        // `times` is descending: skip the items dated after now.
        let start = times.partition_point(|&t| t > now_s);
        let end = start + times[start..].partition_point(|&t| t >= oldest);
        fill(order[start..end].iter().copied(), filters, quota)
    }

    /// Per interest category, its best unfiltered items (see [`ChannelKind::Category`]).
    /// Category weights are validated by the caller (finite, `≥ 0`).
    pub(crate) fn category(
        &self,
        per_category: usize,
        order: CategoryOrder,
        categories: &[(String, f32)],
        filters: &Filters,
        quota: usize,
    ) -> ChannelOutput {
        let map = match order {
            CategoryOrder::Newest => &self.category_newest,
            CategoryOrder::Popular => &self.category_popular,
        };
        let Some(map) = map else { return ChannelOutput::default() };
        let mut out = ChannelOutput::default();
        if quota == 0 || per_category == 0 {
            return out;
        }
        let mut taken: Vec<(u32, f32)> = Vec::new();
        let mut seen = RowMask::new(self.rows);
        for (category, weight) in categories {
            // Unknown categories are ignored (see `ChannelKind::Category`).
            let Some(list) = map.get(category.as_str()) else { continue };
            let mut rank = 0;
            for &row in list {
                if rank == per_category {
                    break;
                }
                if seen.is_excluded(row as usize) {
                    continue;
                }
                seen.exclude(row as usize);
                out.produced += 1;
                if !filters.allows(row) {
                    out.filtered += 1;
                    continue;
                }
                taken.push((row, weight * crate::recall::merge::rank_score(rank)));
                rank += 1;
            }
        }
        crate::order::sort_scored_desc(&mut taken);
        out.rows = taken.into_iter().take(quota).map(|(row, _)| row).collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<ChannelKind, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_round_trips() {
        let kinds = [
            ChannelKind::Vector { k: 200 },
            ChannelKind::ItemToItem { source: NeighbourSource::ItemCf, max_seeds: 20 },
            ChannelKind::ItemToItem { source: NeighbourSource::Swing, max_seeds: 5 },
            ChannelKind::ItemToItem { source: NeighbourSource::Ease, max_seeds: 500 },
            ChannelKind::Popular { recent: false },
            ChannelKind::Popular { recent: true },
            ChannelKind::Fresh { window_s: 86_400 },
            ChannelKind::Category { per_category: 10, order: CategoryOrder::Newest },
            ChannelKind::Category { per_category: 3, order: CategoryOrder::Popular },
        ];
        for kind in kinds {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(parse(&json), Ok(kind), "{json}");
        }
        assert_eq!(
            serde_json::to_string(&ChannelKind::ItemToItem {
                source: NeighbourSource::Swing,
                max_seeds: 5
            })
            .unwrap(),
            r#"{"type":"item_to_item","source":"swing","maxSeeds":5}"#
        );
        for config in RecallConfig::default_channels().channels {
            let json = serde_json::to_string(&config).unwrap();
            assert_eq!(serde_json::from_str::<ChannelConfig>(&json).unwrap(), config, "{json}");
        }
    }

    #[test]
    fn snake_case_aliases_are_accepted() {
        let cases = [
            (
                r#"{"type":"item_to_item","source":"item_cf","max_seeds":7}"#,
                ChannelKind::ItemToItem { source: NeighbourSource::ItemCf, max_seeds: 7 },
            ),
            (r#"{"window_s":60,"type":"fresh"}"#, ChannelKind::Fresh { window_s: 60 }),
            (
                r#"{"type":"category","per_category":2,"order":"popular"}"#,
                ChannelKind::Category { per_category: 2, order: CategoryOrder::Popular },
            ),
        ];
        for (json, kind) in cases {
            assert_eq!(parse(json), Ok(kind), "{json}");
        }
        let err = parse(r#"{"type":"item_to_item","source":"ease","max_seeds":5,"maxSeeds":5}"#)
            .unwrap_err();
        assert!(err.contains("duplicate field `maxSeeds`"), "{err}");
    }

    #[test]
    fn missing_fields_are_errors() {
        let err = parse(r#"{"type":"item_to_item","source":"ease"}"#).unwrap_err();
        assert!(err.contains("missing field `maxSeeds` for channel type `item_to_item`"), "{err}");
        let err = parse(r#"{"type":"popular"}"#).unwrap_err();
        assert!(err.contains("missing field `recent` for channel type `popular`"), "{err}");
        let err = parse(r#"{"k":10}"#).unwrap_err();
        assert!(err.contains("missing field `type`"), "{err}");
        assert!(parse(r#"{"type":"vector","k":null}"#).is_err());
    }

    #[test]
    fn fields_of_another_kind_and_unknown_fields_are_errors() {
        let err = parse(r#"{"type":"vector","k":10,"recent":true}"#).unwrap_err();
        assert!(err.contains("unknown field `recent` for channel type `vector`"), "{err}");
        let err = parse(r#"{"type":"popular","recent":true,"per_category":3}"#).unwrap_err();
        assert!(err.contains("unknown field `perCategory` for channel type `popular`"), "{err}");
        let err = parse(r#"{"type":"vector","k":10,"foo":1}"#).unwrap_err();
        assert!(err.contains("unknown field `foo`"), "{err}");
        let err = parse(r#"{"type":"itemToItem","source":"swing","maxSeeds":5}"#).unwrap_err();
        assert!(err.contains("unknown variant `itemToItem`"), "{err}");
        for json in [r#""vector""#, "null", "{}", r#"["vector",10]"#] {
            assert!(parse(json).is_err(), "{json}");
        }
    }
}
