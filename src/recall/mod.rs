//! Candidate generation: recall channels over the shipped item index and bundle tensors, the
//! merge with per-channel quotas, and the filters (exposure Bloom filter, consumed items,
//! blocklists).
//!
//! - [`channels`]: the channel kinds and [`RecallConfig`] (with documented defaults).
//! - [`merge`]: rank-normalized, weighted, deduplicated merge.
//! - [`filter`]: [`Filters`], resolved once per request into a [`RowMask`].
//! - [`bloom`]: the time-bucketed [`ExposureFilter`] and its persisted form.
//!
//! [`Recall`] is built once per bundle (neighbour lists, popularity orders, creation times and
//! per-category lists are precomputed) and answers each request from a [`RecallContext`]: the
//! user vector, recent seed items and interest categories the `Recommender` derived from the
//! user state — recall does not depend on the user module.
//!
//! ```
//! # fn main() -> edgerec::Result<()> {
//! use edgerec::bundle::{Bundle, LoadOptions};
//! use edgerec::compute::{BackendChoice, ItemIndex, ScoringEngine};
//! use edgerec::recall::{ChannelConfig, ChannelKind, Filters, Recall, RecallConfig, RecallContext, Seed};
//!
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixture");
//! let bundle = Bundle::open(&dir, &LoadOptions::default())?;
//! let config = RecallConfig::new(20)
//!     .with_channel(ChannelConfig::new("vector", ChannelKind::Vector { k: 10 }, 10, 1.0))
//!     .with_channel(ChannelConfig::new("popular", ChannelKind::Popular { recent: false }, 10, 0.3));
//! let recall = Recall::from_bundle(&bundle, config)?;
//! let mut engine =
//!     pollster::block_on(ScoringEngine::new(ItemIndex::from_bundle(&bundle)?, BackendChoice::Cpu))?;
//! let query = vec![0.1; bundle.manifest().embedding_dim as usize];
//! let seeds = [Seed { row: 3, weight: 1.0 }];
//! let ctx = RecallContext { query: Some(&query), seeds: &seeds, profile: &seeds, categories: &[], now_s: 1_700_000_000, interactions: 1 };
//! let filters = Filters::new(bundle.items().len()).consumed([3]);
//! let out = pollster::block_on(recall.recall(&mut engine, &ctx, &filters))?;
//! assert!(out.candidates.iter().all(|c| c.row != 3));
//! assert_eq!(out.channels.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod bloom;
pub mod channels;
pub mod filter;
pub mod merge;

pub use bloom::{ExposureConfig, ExposureFilter};
pub use channels::{
    COLD_HALF, CategoryOrder, ChannelConfig, ChannelKind, MAX_CHANNELS, NeighbourSource,
    RecallConfig,
};
pub use filter::Filters;
pub use merge::{RankedList, rank_score};

use crate::bundle::Bundle;
use crate::compute::{MAX_K, RowMask, ScoreRequest, ScoringEngine};
use crate::error::{Error, Result};
use channels::{ChannelOutput, ChannelTables};
use web_time::Instant;

/// A recent interaction the item-to-item channels expand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    /// The item's row in the bundle.
    pub row: u32,
    /// Interaction weight × recency decay, computed by the caller. Finite; may be negative
    /// (a dislike pushes the item's neighbours down).
    pub weight: f32,
}

/// What recall knows about the user for one request.
#[derive(Debug, Clone, Copy)]
pub struct RecallContext<'a> {
    /// The user vector (dimension of the item index); `None` for a cold user, for whom the
    /// vector channel yields nothing.
    pub query: Option<&'a [f32]>,
    /// Recent items, most recent first, weighted by interaction kind × recency decay: what the
    /// ItemCF and Swing channels expand ("more like what you just did").
    pub seeds: &'a [Seed],
    /// The user's whole profile, distinct items most recent first, weighted by interaction kind
    /// only (no recency decay): what the EASE channel scores, since EASE's user score is the
    /// plain sum of the profile's rows (Steck 2019). Empty unless a channel reads it.
    pub profile: &'a [Seed],
    /// Top interest categories (tag names as in the item table) with finite, non-negative
    /// weights, best first. Categories no item has are ignored.
    pub categories: &'a [(String, f32)],
    /// Unix seconds: the fresh window ends here.
    pub now_s: i64,
    /// Interactions in the user's stored history: channels with a
    /// [`channels::ChannelConfig::cold_weight`] weigh by it.
    pub interactions: usize,
}

/// One merged candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The item's row in the bundle.
    pub row: u32,
    /// Merged score: the best `channel weight × rank score` over its channels
    /// ([`merge`] module docs), in `[0, max weight]`.
    pub score: f32,
    /// Bit `c` set = channel `c` of the configuration produced it.
    pub sources: u64,
}

impl Candidate {
    /// Whether channel `channel` produced this candidate.
    pub fn from_channel(&self, channel: usize) -> bool {
        channel < 64 && self.sources & (1 << channel) != 0
    }
}

/// What one channel did in a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(export))]
pub struct ChannelTrace {
    /// The channel's name.
    pub name: String,
    /// Items it generated before filtering (for channels that walk a list, the items it looked
    /// at until its quota was filled). The vector channel applies the mask inside the kernel,
    /// so its items are all unfiltered.
    pub produced: usize,
    /// Of those, items the filters removed.
    pub filtered: usize,
    /// Items it passed to the merge (`≤ quota`).
    pub kept: usize,
    /// Wall time of the channel, microseconds.
    #[cfg_attr(test, ts(type = "number"))]
    pub micros: u64,
}

/// The merged candidates and the per-channel trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecallResult {
    /// Deduplicated candidates, best first (score descending, ties to the lower row), at most
    /// `config.total`.
    pub candidates: Vec<Candidate>,
    /// One entry per configured channel, in configuration order.
    pub channels: Vec<ChannelTrace>,
}

/// The recall stage over one bundle: the configuration and every table its channels read.
#[derive(Debug, Clone)]
pub struct Recall {
    config: RecallConfig,
    tables: ChannelTables,
}

impl Recall {
    /// Validates `config` and precomputes what its channels read from `bundle`: neighbour
    /// lists, popularity orders, creation-time order, per-category lists.
    ///
    /// # Errors
    /// As [`RecallConfig::validate`]; [`Error::InvalidArgument`] naming the channel and tensor
    /// when a configured channel's tensor is missing (e.g. `swing.ids`);
    /// [`Error::BundleShapeMismatch`] / [`Error::BundleCorrupt`] when such a tensor does not fit
    /// the item table.
    pub fn from_bundle(bundle: &Bundle, config: RecallConfig) -> Result<Self> {
        config.validate()?;
        let tables = ChannelTables::build(bundle, &config)?;
        Ok(Self { config, tables })
    }

    /// The configuration.
    pub fn config(&self) -> &RecallConfig {
        &self.config
    }

    /// Number of items of the bundle it was built from.
    pub fn rows(&self) -> usize {
        self.tables.rows()
    }

    fn validate(
        &self,
        engine: &ScoringEngine,
        ctx: &RecallContext<'_>,
        filters: &Filters,
    ) -> Result<()> {
        let rows = self.rows();
        filters.check()?;
        if filters.rows() != rows {
            return Err(Error::InvalidArgument {
                name: "filters",
                reason: format!("cover {} rows, the bundle has {rows} items", filters.rows()),
            });
        }
        if engine.index().rows() != rows {
            return Err(Error::InvalidArgument {
                name: "engine",
                reason: format!(
                    "its index has {} rows, the bundle has {rows} items",
                    engine.index().rows()
                ),
            });
        }
        if let Some(query) = ctx.query {
            let dim = engine.index().dim();
            if query.len() != dim {
                return Err(Error::DimensionMismatch { expected: dim, received: query.len() });
            }
            if let Some(position) = query.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite { what: "query", position });
            }
        }
        for seed in ctx.seeds.iter().chain(ctx.profile) {
            if seed.row as usize >= rows {
                return Err(Error::InvalidArgument {
                    name: "seeds",
                    reason: format!("seed row {} is not below the {rows} items", seed.row),
                });
            }
            if !seed.weight.is_finite() {
                return Err(Error::InvalidWeight {
                    name: format!("seed row {}", seed.row),
                    value: seed.weight,
                    reason: "a seed weight must be finite".into(),
                });
            }
        }
        for (category, weight) in ctx.categories {
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(Error::InvalidWeight {
                    name: category.clone(),
                    value: *weight,
                    reason: "a category weight must be finite and non-negative".into(),
                });
            }
        }
        Ok(())
    }

    /// Runs every channel with `filters` applied while quotas fill, and merges (see
    /// [`merge`]). Deterministic for a given engine backend.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] / [`Error::NonFinite`] for a bad query;
    /// [`Error::InvalidWeight`] for a non-finite seed weight or a NaN, infinite or negative
    /// category weight; [`Error::InvalidArgument`] for a seed row out of range, filters or an
    /// engine built for another item count, or the error the filters recorded
    /// ([`Filters::check`]); errors of the engine's top-k.
    pub async fn recall(
        &self,
        engine: &mut ScoringEngine,
        ctx: &RecallContext<'_>,
        filters: &Filters,
    ) -> Result<RecallResult> {
        self.validate(engine, ctx, filters)?;
        let mut lists = Vec::with_capacity(self.config.channels.len());
        let mut traces = Vec::with_capacity(self.config.channels.len());
        for channel in &self.config.channels {
            let start = Instant::now();
            let quota = channel.quota;
            let out = match channel.kind {
                ChannelKind::Vector { k } => {
                    vector(engine, ctx.query, k.min(quota), filters.mask()).await?
                }
                ChannelKind::ItemToItem { source, max_seeds } => {
                    let seeds = match source {
                        NeighbourSource::Ease => ctx.profile,
                        NeighbourSource::ItemCf | NeighbourSource::Swing => ctx.seeds,
                    };
                    self.tables.item_to_item(source, max_seeds, seeds, filters, quota)
                }
                ChannelKind::Popular { recent } => self.tables.popular(recent, filters, quota),
                ChannelKind::Fresh { window_s } => {
                    self.tables.fresh(window_s, ctx.now_s, filters, quota)
                }
                ChannelKind::Category { per_category, order } => {
                    self.tables.category(per_category, order, ctx.categories, filters, quota)
                }
            };
            traces.push(ChannelTrace {
                name: channel.name.clone(),
                produced: out.produced,
                filtered: out.filtered,
                kept: out.rows.len(),
                micros: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            });
            lists.push(RankedList { weight: channel.weight_for(ctx.interactions), rows: out.rows });
        }
        Ok(RecallResult { candidates: merge::merge(&lists, self.config.total), channels: traces })
    }

    /// [`Recall::recall`], blocking (native only).
    ///
    /// # Errors
    /// As [`Recall::recall`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn recall_blocking(
        &self,
        engine: &mut ScoringEngine,
        ctx: &RecallContext<'_>,
        filters: &Filters,
    ) -> Result<RecallResult> {
        pollster::block_on(self.recall(engine, ctx, filters))
    }
}

/// The vector channel: the best `k` unmasked items for `query` (none for a cold user).
async fn vector(
    engine: &mut ScoringEngine,
    query: Option<&[f32]>,
    k: usize,
    mask: &RowMask,
) -> Result<ChannelOutput> {
    let Some(query) = query else { return Ok(ChannelOutput::default()) };
    let k = k.min(engine.index().rows()).min(MAX_K);
    if k == 0 {
        return Ok(ChannelOutput::default());
    }
    let request = ScoreRequest::new(query, k).with_mask(mask);
    let top = engine.score_top_k(&request).await?.pop().unwrap_or_default();
    let produced = top.ids.len();
    // The kernel already left masked rows out; checking again costs nothing and guarantees it
    // on every backend.
    let rows: Vec<u32> = top.ids.into_iter().filter(|&r| !mask.is_excluded(r as usize)).collect();
    Ok(ChannelOutput { filtered: produced - rows.len(), produced, rows })
}
