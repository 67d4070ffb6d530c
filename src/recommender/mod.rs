//! [`Recommender`]: the funnel on the device — user state → recall → rank — with local
//! persistence. It owns the configuration and passes each stage only what that stage needs
//! (recall gets a query vector, seed items and interest categories, never the user module).
//!
//! ```no_run
//! # async fn demo(bundle: &edgerec::bundle::Bundle) -> edgerec::Result<()> {
//! use edgerec::recommender::{Recommender, RecommenderConfig};
//! use edgerec::user::{Interaction, InteractionKind, MemoryStorage};
//! use edgerec::compute::BackendChoice;
//!
//! let storage = MemoryStorage::new();
//! let mut rec = Recommender::new(bundle, RecommenderConfig::default(), BackendChoice::Auto).await?;
//! rec.restore(&storage).await?; // state from an earlier session, if any
//! let now = 1_700_000_000_000.0;
//! rec.record(&Interaction { item: "1".into(), kind: InteractionKind::Click, timestamp_ms: now }, now)?;
//! rec.save(&storage).await?;
//! let top = rec.recommend(20, now).await?;
//! for item in &top.items {
//!     println!("{} {} via {:?}", item.id, item.score, item.channels);
//! }
//! # Ok(()) }
//! ```

mod funnel;
pub mod options;
pub mod result;

pub use options::{
    DiversityMethod, DiversityOptions, ExploreMethod, ExploreOptions, RecommendOptions, RuleKind,
    RuleSpec, ServerCandidate, SimilarityKind,
};
pub use result::{
    Placement, PoolItem, RecommendTrace, Recommendation, Recommendations, StageTimings,
};

use crate::bundle::{Bundle, ItemTable, QuantizedMatrix};
use crate::compute::gpu::GpuMlp;
use crate::compute::{BackendChoice, BackendReport, ScoringEngine};
use crate::error::{Error, Result};
use crate::rank::{ArmStats, CategoryPrior, FocusBoost, NewItemBoost, Ranker, RankerScratch};
use crate::recall::{
    ChannelKind, ExposureConfig, ExposureFilter, Filters, NeighbourSource, Recall, RecallConfig,
    RecallContext, Seed, rank_score,
};
use crate::rerank::{Constraint, Rule, Selector};
use crate::user::{Interaction, Storage, UserConfig, UserModel, UserState};
use funnel::{PinKind, PoolEntry, RankSignals, RerankInput};
use std::collections::HashMap;
use web_time::Instant;

/// Storage key of the exposure filter (the user state has its own, in [`crate::user`]).
pub const EXPOSURE_KEY: &str = "edgerec/exposure";
/// Storage key of the blocklists.
pub const BLOCKLIST_KEY: &str = "edgerec/blocklist";

/// Items and attributes the user asked never to see, kept by id so they survive bundle updates.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Blocklist {
    items: Vec<String>,
    attributes: Vec<(String, String)>,
}

/// The new-item boost of the rank stage (see [`crate::rank::NewItemBoost`]): items younger than
/// `target_age_days` (from the item's `created_at`) get their score multiplied by up to
/// `1 + max_boost`. The device does not know an item's global impressions, so the boost decays
/// by age only.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct BoostConfig {
    /// The largest boost (≥ 0).
    #[serde(alias = "max_boost")]
    pub max_boost: f32,
    /// Age at which the boost reaches 0, in days (> 0).
    #[serde(alias = "target_age_days")]
    pub target_age_days: f32,
}

impl Default for BoostConfig {
    fn default() -> Self {
        Self { max_boost: 0.5, target_age_days: 30.0 }
    }
}

/// Everything the funnel can be tuned by. `Default` is a sensible production setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RecommenderConfig {
    /// History length, fine-tuning and interest decay of the user model.
    pub user: UserConfig,
    /// Recall channels, their quotas and weights.
    pub recall: RecallConfig,
    /// The exposure filter (items already shown are not recommended again while it remembers).
    pub exposure: ExposureConfig,
    /// Whether items already shown are filtered (the exposure filter still records them).
    #[serde(alias = "filter_exposed")]
    pub filter_exposed: bool,
    /// Rank recalled candidates with the bundle's multi-task ranker when it has one (otherwise,
    /// and for a cold user, the merged recall score orders them).
    #[serde(alias = "use_ranker")]
    pub use_ranker: bool,
    /// Weight of P(like) next to P(watch) in the ranker's score
    /// `r = (P(watch) + w·P(like)) / (1 + w)`.
    #[serde(alias = "like_weight")]
    pub like_weight: f32,
    /// How much the ranker's score `r` counts next to the merged recall score `m` (rank-based,
    /// in (0, 1]): items are ordered by `m + ranker_weight · r`. 0 keeps the recall order.
    #[serde(alias = "ranker_weight")]
    pub ranker_weight: f32,
    /// Hybrid mode: weight of the live user embedding's affinity `(1 + cos(q, v)) / 2` next to
    /// the server's rank score (the ranker adds `ranker_weight · r` as in recall mode).
    #[serde(alias = "affinity_weight")]
    pub affinity_weight: f32,
    /// Recent items used as item-to-item seeds.
    #[serde(alias = "max_seeds")]
    pub max_seeds: usize,
    /// The default diversity stage of [`Recommender::recommend`] (per-call override:
    /// [`RecommendOptions::diversity`]).
    pub diversity: DiversityOptions,
    /// Default business rules (per-call override: [`RecommendOptions::rules`]).
    pub rules: Vec<RuleSpec>,
    /// Default exploration slots (off unless set).
    pub explore: Option<ExploreOptions>,
    /// The new-item boost (off unless set).
    pub boost: Option<BoostConfig>,
    /// How many of the ranked candidates the re-rank chooses from (at least `k`).
    #[serde(alias = "rerank_pool")]
    pub rerank_pool: usize,
    /// Vector recall through the bundle's IVF index (`edgerec bundle build --ivf-lists N`),
    /// scanning the `nprobe` nearest lists instead of every item (Jégou et al. 2011); `None`
    /// (default) searches exactly. For catalogues of a million items and more.
    #[serde(alias = "ivf_nprobe")]
    pub ivf_nprobe: Option<usize>,
    /// Session focus in the rank stage: when the recent clicks concentrate on one category
    /// ([`crate::rank::focus`]: its lift over the catalogue, faded by a long history), the
    /// recalled candidates of that category have their merged recall score multiplied by up to
    /// `1 + weight`, rising from lift `from` to lift `to`. Unlike a heavier category channel, it
    /// lifts the personalised candidates of the genre (vector, EASE, item-to-item), not only
    /// its popular items. Default [`FocusBoost::default`] (weight 1.5, lifts 4 → 6); `None`: off.
    #[serde(alias = "focus_boost")]
    pub focus_boost: Option<FocusBoost>,
    /// How much more a recent item of the profile counts in the EASE channel: a profile item's
    /// weight is its interaction weight plus `profile_recency` times the same weight decayed
    /// with the interest half-life, so the session's clicks steer the whole-profile model too.
    /// Default 3: on MovieLens it leaves the validation splits level (random −0.4 %, temporal
    /// +2.1 % NDCG@10) and lifts the session replay's next-click NDCG@10 by 9–19 % (model card).
    #[serde(alias = "profile_recency")]
    pub profile_recency: f32,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        Self {
            user: UserConfig::default(),
            recall: RecallConfig::default_channels(),
            exposure: ExposureConfig::default(),
            filter_exposed: true,
            use_ranker: true,
            like_weight: 1.0,
            ranker_weight: 0.3,
            affinity_weight: 0.5,
            max_seeds: 10,
            diversity: DiversityOptions::default(),
            rules: Vec::new(),
            explore: None,
            boost: None,
            rerank_pool: 100,
            ivf_nprobe: None,
            focus_boost: Some(FocusBoost::default()),
            profile_recency: 3.0,
        }
    }
}

/// What [`Recommender::restore`] found in storage.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RestoreReport {
    /// A user state was found and loaded.
    pub user_restored: bool,
    /// History entries dropped because the bundle no longer has their items.
    pub history_dropped: usize,
    /// The residual was reset (the stored one belongs to another model or dimension).
    pub residual_reset: bool,
    /// An exposure filter was found and loaded.
    pub exposure_restored: bool,
    /// Blocked items and attributes restored.
    pub blocked: usize,
    /// Stored values that could not be decoded and were replaced by fresh state (key: reason).
    pub discarded: Vec<String>,
}

/// The on-device recommender: one per user and bundle.
pub struct Recommender {
    items: ItemTable,
    engine: ScoringEngine,
    user: UserModel,
    recall: Recall,
    ranker: Option<Ranker>,
    /// The ranker's MLP on the GPU, when scoring runs there (uploaded once).
    ranker_gpu: Option<GpuMlp>,
    ranker_scratch: RankerScratch,
    state: UserState,
    exposure: ExposureFilter,
    blocked: Blocklist,
    config: RecommenderConfig,
    /// Dequantized-on-demand item embeddings (similarity and hybrid affinity).
    embeddings: QuantizedMatrix,
    /// Category ids of each row (tags interned once; "category" = the first).
    categories: Vec<Vec<u32>>,
    /// The interned tag strings.
    category_ids: HashMap<String, u32>,
    /// Each tag's share of the catalogue (the session focus of recall channels).
    category_prior: CategoryPrior,
    /// Clicks and impressions per recall channel on this device (exploration arms).
    channel_stats: Vec<ArmStats>,
    /// Channel bits of the rows of the lists returned, until shown or replaced.
    last_sources: HashMap<u32, u64>,
    /// Channel bits of the rows marked shown (a click on one counts for its channels).
    shown_sources: HashMap<u32, u64>,
    /// Requests served (request ids, exploration seeds).
    requests: u64,
    /// Digests of the user state, exposure filter and blocklist as last saved (`None`: not
    /// saved by this recommender), so a save writes only what changed.
    saved: std::cell::Cell<[Option<u64>; 3]>,
}

/// Digest of a saved value (MurmurHash3, low 64 bits): equal bytes, equal digest.
fn digest(bytes: &[u8]) -> u64 {
    crate::recall::bloom::murmur3_x64_128(bytes, 0x5a17).0
}

/// Channel bit of an item a `pin` rule added (past the recall channels' 64 bits is impossible,
/// so it takes the last bit; the configuration allows at most 63 channels in practice).
const PIN_BIT: u64 = 1 << 63;

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("items", &self.items.len())
            .field("backend", &self.engine.report().backend)
            .field("history", &self.state.history().len())
            .finish_non_exhaustive()
    }
}

impl Recommender {
    /// Builds every stage from a loaded bundle and uploads the item index to `backend`.
    ///
    /// # Errors
    /// Missing tensors for a configured stage ([`Error::InvalidArgument`]), invalid
    /// configuration, and everything [`ScoringEngine::new`] reports.
    pub async fn new(
        bundle: &Bundle,
        config: RecommenderConfig,
        backend: BackendChoice,
    ) -> Result<Self> {
        for (name, value) in [
            ("like", config.like_weight),
            ("ranker", config.ranker_weight),
            ("profileRecency", config.profile_recency),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidWeight {
                    name: name.into(),
                    value,
                    reason: "must be finite and ≥ 0".into(),
                });
            }
        }
        let user = UserModel::from_bundle(bundle, config.user.clone())?;
        let recall = Recall::from_bundle(bundle, config.recall.clone())?;
        let ranker = if config.use_ranker && Ranker::in_bundle(bundle) {
            Some(Ranker::from_bundle(bundle)?)
        } else {
            None
        };
        let exposure = ExposureFilter::new(config.exposure)?;
        config.diversity.strategy()?;
        if let Some(focus) = config.focus_boost {
            focus.validate()?;
        }
        if let Some(boost) = config.boost {
            NewItemBoost::new(boost.max_boost, boost.target_age_days * 86_400.0, 1)?;
        }
        let index = crate::compute::ItemIndex::from_bundle(bundle)?;
        let mut engine = ScoringEngine::new(index, backend).await?;
        if let Some(nprobe) = config.ivf_nprobe {
            let ivf = crate::compute::IvfIndex::from_bundle(bundle)?.ok_or_else(|| {
                Error::InvalidArgument {
                    name: "ivf_nprobe",
                    reason: "the bundle has no IVF index (build it with `edgerec bundle build \
                             --ivf-lists N`)"
                        .into(),
                }
            })?;
            engine.set_ivf(ivf, nprobe)?;
        }
        // When scoring runs on the GPU, so does the ranker (one upload, reused per request).
        let ranker_gpu = match (engine.gpu_context(), &ranker) {
            (Some(ctx), Some(r)) => match r.mlp() {
                Some(mlp) => Some(GpuMlp::upload(ctx, mlp).await?),
                None => None,
            },
            _ => None,
        };
        let (categories, category_ids) = bundle.items().category_numbers();
        let channels = config.recall.channels.len();
        Ok(Self {
            embeddings: bundle.item_embeddings().to_quantized_matrix()?,
            category_prior: CategoryPrior::new(&categories, category_ids.len()),
            categories,
            category_ids,
            channel_stats: vec![ArmStats::default(); channels],
            last_sources: HashMap::new(),
            shown_sources: HashMap::new(),
            requests: 0,
            saved: std::cell::Cell::new([None; 3]),
            items: bundle.items().clone(),
            engine,
            user,
            recall,
            ranker,
            ranker_gpu,
            ranker_scratch: RankerScratch::default(),
            state: UserState::new(),
            exposure,
            blocked: Blocklist::default(),
            config,
        })
    }

    /// The backend scoring runs on, and why.
    pub fn backend(&self) -> &BackendReport {
        self.engine.report()
    }

    /// The GPU the funnel runs on, if any (shared with the scoring engine).
    pub fn gpu_context(&self) -> Option<&crate::compute::gpu::GpuContext> {
        self.engine.gpu_context()
    }

    /// The configuration.
    pub fn config(&self) -> &RecommenderConfig {
        &self.config
    }

    /// The user state (history, residual, interests).
    pub fn state(&self) -> &UserState {
        &self.state
    }

    /// The user model (tower, fine-tuning).
    pub fn user_model(&self) -> &UserModel {
        &self.user
    }

    /// The exposure filter (what was shown, for how long).
    pub fn exposure(&self) -> &ExposureFilter {
        &self.exposure
    }

    /// The item table of the bundle.
    pub fn items(&self) -> &ItemTable {
        &self.items
    }

    /// The user's current query vector (tower output plus fine-tuned residual); `None` for a
    /// cold user.
    ///
    /// # Errors
    /// As [`UserModel::query`].
    pub fn query(&self) -> Result<Option<Vec<f32>>> {
        self.user.query(&self.state)
    }

    /// The scoring engine (for direct top-k queries over the item index).
    pub fn engine_mut(&mut self) -> &mut ScoringEngine {
        &mut self.engine
    }

    /// Records an interaction: validates it (nothing changes on error), appends it to the
    /// history and updates the embedding on the device. Call [`Recommender::save`] to persist.
    ///
    /// # Errors
    /// [`Error::UnknownItem`], [`Error::InvalidInteraction`], [`Error::NonFinite`].
    pub fn record(&mut self, interaction: &Interaction, now_ms: f64) -> Result<()> {
        self.user.record(&mut self.state, interaction, now_ms)?;
        // A click on an item shown from a list counts for the channels that produced it.
        if let Some(row) = self.items.row_of(&interaction.item)
            && let Some(sources) = self.shown_sources.remove(&(row as u32))
        {
            for (c, arm) in self.channel_stats.iter_mut().enumerate() {
                if sources >> c & 1 == 1 {
                    arm.clicks = arm.clicks.saturating_add(1).min(arm.exposures);
                }
            }
        }
        Ok(())
    }

    /// Imports interactions the device did not see (e.g. the server's history after sign-in):
    /// each is validated and appended like [`Recommender::record`], but without fine-tuning
    /// steps (the residual adapts to this device's session). Stops at the first invalid one.
    ///
    /// # Errors
    /// As [`Recommender::record`]; the interactions before the invalid one stay imported.
    pub fn import_history(&mut self, interactions: &[Interaction], now_ms: f64) -> Result<()> {
        for interaction in interactions {
            self.user.record_without_update(&mut self.state, interaction, now_ms)?;
        }
        Ok(())
    }

    /// Starts over as a new user in memory (the store is untouched; see
    /// [`Recommender::forget`] to erase it too).
    pub fn reset_user(&mut self) {
        self.state = UserState::new();
        self.exposure.clear();
        self.clear_session();
    }

    /// Forgets the per-channel click statistics and the lists in flight.
    fn clear_session(&mut self) {
        self.channel_stats.fill(ArmStats::default());
        self.last_sources.clear();
        self.shown_sources.clear();
    }

    /// Remembers that `ids` were shown at `now_ms` (the exposure filter).
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an id the bundle lacks (nothing is recorded then);
    /// [`Error::NonFinite`] for a non-finite time.
    pub fn mark_shown(&mut self, ids: &[&str], now_ms: f64) -> Result<()> {
        let now_s = seconds(now_ms)?;
        if let Some(id) = ids.iter().find(|id| self.items.row_of(id).is_none()) {
            return Err(Error::UnknownItem { id: id.to_string() });
        }
        for id in ids {
            self.exposure.insert(id, now_s);
            let row = self.items.row_of(id).unwrap_or_default() as u32;
            if let Some(sources) = self.last_sources.remove(&row) {
                for (c, arm) in self.channel_stats.iter_mut().enumerate() {
                    if sources >> c & 1 == 1 {
                        arm.exposures = arm.exposures.saturating_add(1);
                    }
                }
                self.shown_sources.insert(row, sources);
            }
        }
        Ok(())
    }

    /// Never recommends `id` again (saved with the state by [`Recommender::save`]).
    ///
    /// # Errors
    /// [`Error::UnknownItem`].
    pub fn block_item(&mut self, id: &str) -> Result<()> {
        if self.items.row_of(id).is_none() {
            return Err(Error::UnknownItem { id: id.into() });
        }
        if !self.blocked.items.iter().any(|b| b == id) {
            self.blocked.items.push(id.to_string());
        }
        Ok(())
    }

    /// Never recommends items whose attribute `key` is `value` (`key` `"tag"` matches tags);
    /// saved with the state.
    pub fn block_attribute(&mut self, key: &str, value: &str) {
        let pair = (key.to_string(), value.to_string());
        if !self.blocked.attributes.contains(&pair) {
            self.blocked.attributes.push(pair);
        }
    }

    /// Lifts every block set by [`Recommender::block_item`] and [`Recommender::block_attribute`].
    pub fn clear_blocklist(&mut self) {
        self.blocked = Blocklist::default();
    }

    /// The filters of one request: consumed items, blocklists and (optionally) exposure,
    /// ignoring the `skip_oldest` oldest exposure layers.
    fn filters(&self, now_s: i64, skip_oldest: usize) -> Filters {
        let mut filters = self.block_filters();
        filters = filters.consumed(self.user.consumed_rows(&self.state));
        if self.config.filter_exposed {
            filters = filters.exposure_recent(&self.exposure, &self.items, now_s, skip_oldest);
        }
        filters
    }

    /// The blocklists alone (hybrid mode applies only these to the server's candidates).
    fn block_filters(&self) -> Filters {
        let mut filters = Filters::new(self.items.len());
        // Ids from an older bundle that this one lacks block nothing.
        for row in self.blocked.items.iter().filter_map(|id| self.items.row_of(id)) {
            filters = filters.block_item(row as u32);
        }
        for (key, value) in &self.blocked.attributes {
            filters = filters.block_attribute(&self.items, key, value);
        }
        filters
    }

    /// The best `k` items now with the configuration's diversity and rules:
    /// [`Recommender::recommend_with`] with [`RecommendOptions::top`]`(k)`.
    ///
    /// # Errors
    /// As [`Recommender::recommend_with`].
    pub async fn recommend(&mut self, k: usize, now_ms: f64) -> Result<Recommendations> {
        self.recommend_with(&RecommendOptions::top(k), now_ms).await
    }

    /// The funnel: user state → recall (or the server's `candidates`) → rank (ranker fusion,
    /// new-item boost, exploration slots) → re-rank (none | MMR | DPP) under the rules → the
    /// list and its trace. Side-effect free unless `options.mark_shown`.
    ///
    /// When the exposure filter leaves fewer than `k` candidates (the user has been shown
    /// everything recall can find), the oldest exposures are ignored first, layer by layer
    /// (doubling), until the list fills; the trace's `exposureRelaxed` says how many layers.
    ///
    /// # Errors
    /// [`Error::InvalidK`] for `k` = 0; [`Error::NonFinite`] for a bad time;
    /// [`Error::InvalidArgument`] for bad diversity parameters or exploration with
    /// `candidates`; [`Error::InvalidRule`] for a bad rule (unknown pinned item, zero window,
    /// …); [`Error::RulesInfeasible`] when the hard rules cannot be met; backend errors.
    pub async fn recommend_with(
        &mut self,
        options: &RecommendOptions,
        now_ms: f64,
    ) -> Result<Recommendations> {
        let total = Instant::now();
        let k = options.k;
        if k == 0 {
            return Err(Error::InvalidK { k, max: self.items.len() });
        }
        let now_s = seconds(now_ms)?;
        let diversity = options.diversity.unwrap_or(self.config.diversity);
        diversity.strategy()?;
        let specs = options.rules.as_ref().unwrap_or(&self.config.rules).clone();
        let explore = options.explore.or(self.config.explore);
        if explore.is_some() && options.candidates.is_some() {
            return Err(Error::InvalidArgument {
                name: "explore",
                reason: "exploration slots pick among recall channels; hybrid mode has none".into(),
            });
        }
        self.requests += 1;
        let request = self.requests;

        let start = Instant::now();
        let query = self.user.query(&self.state)?;
        let user_ms = ms_since(start);

        let start = Instant::now();
        let mut recall_trace = Vec::new();
        let mut unknown = Vec::new();
        let mut exposure_relaxed = 0;
        let mut pool = match &options.candidates {
            Some(candidates) => self.server_pool(candidates, &mut unknown)?,
            None => {
                let seeds: Vec<Seed> = self
                    .user
                    .seeds(&self.state, self.config.max_seeds, now_ms)
                    .into_iter()
                    .map(|(row, weight)| Seed { row, weight })
                    .collect();
                // EASE scores the whole profile without recency decay (`RecallContext::profile`).
                let profile_len = self
                    .config
                    .recall
                    .channels
                    .iter()
                    .filter_map(|c| match c.kind {
                        ChannelKind::ItemToItem { source: NeighbourSource::Ease, max_seeds } => {
                            Some(max_seeds)
                        }
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let profile: Vec<Seed> = if profile_len == 0 {
                    Vec::new()
                } else {
                    // Recent items weigh up to `1 + profile_recency` times an old one.
                    let recent: HashMap<u32, f32> = if self.config.profile_recency > 0.0 {
                        self.user.seeds(&self.state, profile_len, now_ms).into_iter().collect()
                    } else {
                        HashMap::new()
                    };
                    self.user
                        .seeds(&self.state, profile_len, f64::NAN)
                        .into_iter()
                        .map(|(row, weight)| Seed {
                            row,
                            weight: weight
                                + self.config.profile_recency
                                    * recent.get(&row).copied().unwrap_or(0.0),
                        })
                        .collect()
                };
                let categories = self.state.top_categories(3, now_ms);
                let ctx = RecallContext {
                    query: query.as_deref(),
                    seeds: &seeds,
                    profile: &profile,
                    categories: &categories,
                    now_s,
                    interactions: self.state.history().len(),
                };
                let layers =
                    if self.config.filter_exposed { self.exposure.live_layers(now_s) } else { 0 };
                let recalled = loop {
                    let filters = self.filters(now_s, exposure_relaxed);
                    let recalled = self.recall.recall(&mut self.engine, &ctx, &filters).await?;
                    if recalled.candidates.len() >= k || exposure_relaxed >= layers {
                        break recalled;
                    }
                    exposure_relaxed = (exposure_relaxed * 2).clamp(1, layers);
                };
                recall_trace = recalled.channels;
                let mut candidates = recalled.candidates;
                if let Some(boost) = self.config.focus_boost {
                    // The session's focus category rises (`crate::rank::focus`).
                    let focus = self
                        .category_prior
                        .focus(&seeds, &self.categories)
                        .faded(self.state.history().len());
                    let factor = boost.factor(focus.lift);
                    if factor > 1.0 {
                        for c in candidates.iter_mut() {
                            if self.categories[c.row as usize].contains(&focus.category) {
                                c.score *= factor;
                            }
                        }
                    }
                }
                let best = candidates.iter().map(|c| c.score).fold(0.0f32, f32::max);
                candidates
                    .iter()
                    .map(|c| PoolEntry {
                        row: Some(c.row),
                        id: self.item_id(c.row),
                        prior: if best > 0.0 { c.score / best } else { 1.0 },
                        server: None,
                        sources: c.sources,
                    })
                    .collect()
            }
        };
        let recall_ms = if options.candidates.is_some() { 0.0 } else { ms_since(start) };
        let candidates = pool.len();
        if explore.is_none() && self.config.boost.is_none() {
            let gain = self.config.ranker_weight
                + if options.candidates.is_some() { self.config.affinity_weight } else { 0.0 };
            cut_before_rank(&mut pool, self.config.rerank_pool.max(k), gain, &specs);
        }
        let pinned = self.add_pinned(&specs, &mut pool)?;

        let start = Instant::now();
        let ranker_on = self.ranker.is_some() && self.config.ranker_weight > 0.0;
        // `auto` may have switched to the GPU in the background since `new`: the ranker follows.
        if let (None, Some(ctx), Some(mlp)) = (
            &self.ranker_gpu,
            self.engine.gpu_context(),
            self.ranker.as_ref().and_then(Ranker::mlp),
        ) {
            // An upload failure keeps the ranker on the CPU (same results).
            self.ranker_gpu = GpuMlp::upload(ctx, mlp).await.ok();
        }
        let probabilities = match (&self.ranker, query.as_deref()) {
            (Some(ranker), Some(q)) if ranker_on && !pool.is_empty() => {
                let known: Vec<u32> = pool.iter().filter_map(|e| e.row).collect();
                // The target attention's window (empty and unused without the block).
                let history = match ranker.attention() {
                    Some(_) => self.user.history_rows(&self.state),
                    None => Vec::new(),
                };
                let gpu = match (self.engine.gpu_context(), self.ranker_gpu.as_mut()) {
                    (Some(ctx), Some(mlp)) => Some((ctx, mlp)),
                    _ => None,
                };
                let p = match ranker
                    .predict_on(gpu, q, &history, &known, &mut self.ranker_scratch)
                    .await
                {
                    // A lost device: the engine falls back on its next query; the ranker now.
                    Err(Error::DeviceLost { .. }) => {
                        self.ranker_gpu = None;
                        ranker.predict(q, &history, &known, &mut self.ranker_scratch)?
                    }
                    p => p?,
                };
                Some(per_candidate(&pool, &p, ranker.tasks().len()))
            }
            _ => None,
        };
        let affinity = match (&options.candidates, query.as_deref()) {
            (Some(_), Some(q)) if self.config.affinity_weight > 0.0 => {
                Some(self.affinity(q, &pool))
            }
            _ => None,
        };
        let ages: Vec<f32> = pool.iter().map(|e| self.age_s(e.row, now_s)).collect();
        let boost = match self.config.boost {
            Some(b) => {
                Some((NewItemBoost::new(b.max_boost, b.target_age_days * 86_400.0, 1)?, &ages[..]))
            }
            None => None,
        };
        let signals = RankSignals {
            ranker: probabilities.as_deref(),
            affinity: affinity.as_deref(),
            ranker_weight: self.config.ranker_weight,
            like_weight: self.config.like_weight,
            affinity_weight: self.config.affinity_weight,
            boost,
            explore: explore.map(|e| (funnel::exploration(&e), &self.channel_stats[..])),
            seed: request ^ (now_ms.to_bits().rotate_left(17)),
        };
        let ranked = if pool.is_empty() {
            funnel::RankedPool {
                order: Vec::new(),
                scores: Vec::new(),
                ranker: Vec::new(),
                boost: Vec::new(),
                explored: Vec::new(),
            }
        } else {
            funnel::rank(&pool, &signals)?
        };
        let ordered_by = match (probabilities.is_some(), options.candidates.is_some()) {
            (true, _) => "ranker",
            (false, true) => "server",
            (false, false) => "recall",
        };
        // The re-rank pool: the best `rerank_pool` (at least k), plus pinned items wherever
        // they ranked.
        let keep = self.config.rerank_pool.max(k);
        let mut order: Vec<usize> = ranked.order.iter().copied().take(keep).collect();
        for &i in &ranked.order[order.len()..] {
            if pinned.contains(&i) {
                order.push(i);
            }
        }
        let rank_ms = ms_since(start);

        let start = Instant::now();
        let pool_trace: Vec<PoolItem> = order
            .iter()
            .map(|&i| {
                let e = &pool[i];
                PoolItem {
                    row: e.row,
                    id: e.id.clone(),
                    title: self.title(e.row),
                    categories: self.tags(e.row),
                    channels: self.channel_names(e.sources, options.candidates.is_some()),
                    recall_score: e.prior,
                    server_score: e.server,
                    ranker_score: ranked.ranker[i],
                    boost: ranked.boost[i],
                    explored: ranked.explored[i],
                    score: ranked.scores[i] as f32,
                }
            })
            .collect();
        let mut items = Vec::new();
        let mut relaxed_rules = Vec::new();
        let mut dpp_exhausted_at = None;
        if !order.is_empty() {
            let input = self.rerank_input(&pool, &order, &ranked.scores, &specs);
            let rules = self.rules_for(&specs, &pool, &order)?;
            let pins: Vec<(usize, usize, PinKind)> = order
                .iter()
                .enumerate()
                .take(k)
                .filter_map(|(position, &i)| {
                    if ranked.explored[i] {
                        Some((position, position, PinKind::Explore))
                    } else if ranked.boost[i] > 0.0 {
                        Some((position, position, PinKind::Boost))
                    } else {
                        None
                    }
                })
                .collect();
            let out = funnel::rerank(input, &diversity, rules, &pins, k)?;
            dpp_exhausted_at = out.dpp_exhausted_at;
            for (position, p) in out.placed.into_iter().enumerate() {
                for &r in &p.relaxed {
                    relaxed_rules.push((r, position));
                }
                let pooled = &pool_trace[p.candidate];
                items.push(Recommendation {
                    row: pooled.row,
                    id: pooled.id.clone(),
                    title: pooled.title.clone(),
                    score: pooled.score,
                    categories: pooled.categories.clone(),
                    channels: pooled.channels.clone(),
                    ranked_position: p.candidate,
                    diversity: p.diversity,
                    placed_by: p.placed_by,
                    rule: p.rule,
                    relaxed: p.relaxed,
                });
            }
        }
        let rerank_ms = ms_since(start);

        self.last_sources =
            order.iter().filter_map(|&i| pool[i].row.map(|r| (r, pool[i].sources))).collect();
        if options.mark_shown {
            let ids: Vec<&str> =
                items.iter().filter(|i| i.row.is_some()).map(|i| i.id.as_str()).collect();
            self.mark_shown(&ids, now_ms)?;
        }
        let (h, _) = crate::recall::bloom::murmur3_x64_128(
            &[request.to_le_bytes(), now_ms.to_bits().to_le_bytes()].concat(),
            0x6564_6765,
        );
        Ok(Recommendations {
            items,
            trace: RecommendTrace {
                request_id: format!("{h:016x}"),
                backend: self.engine.report().backend.as_str().to_string(),
                cold: query.is_none(),
                ordered_by,
                recall: recall_trace,
                candidates,
                pool: pool_trace,
                diversity: diversity.method,
                relaxed_rules,
                unknown_candidates: unknown,
                exposure_relaxed,
                dpp_exhausted_at,
                timings: StageTimings {
                    user_ms,
                    recall_ms,
                    rank_ms,
                    rerank_ms,
                    total_ms: ms_since(total),
                },
            },
        })
    }

    /// Hybrid mode's pool: the server's candidates in the server's order (ties keep the given
    /// order), scored `K / (K + rank)`; blocked and consumed items dropped, duplicates keep the
    /// first.
    fn server_pool(
        &self,
        candidates: &[ServerCandidate],
        unknown: &mut Vec<String>,
    ) -> Result<Vec<PoolEntry>> {
        if let Some(position) = candidates.iter().position(|c| !c.score.is_finite()) {
            return Err(Error::NonFinite { what: "candidate score", position });
        }
        let scores: Vec<f64> = candidates.iter().map(|c| c.score).collect();
        let order = crate::order::indices_by_desc_f64(&scores);
        // What the user blocked or already consumed is dropped, as in recall mode; exposure
        // is the server's business (it chose to send them).
        let blocked = self.block_filters().consumed(self.user.consumed_rows(&self.state));
        let mut seen = std::collections::HashSet::new();
        let mut pool = Vec::with_capacity(candidates.len());
        for i in order {
            let c = &candidates[i];
            if !seen.insert(c.id.as_str()) {
                continue;
            }
            let row = self.items.row_of(&c.id).map(|r| r as u32);
            match row {
                Some(r) if !blocked.allows(r) => continue,
                None => unknown.push(c.id.clone()),
                Some(_) => {}
            }
            pool.push(PoolEntry {
                row,
                id: c.id.clone(),
                prior: rank_score(pool.len()),
                server: Some(c.score),
                sources: 1,
            });
        }
        Ok(pool)
    }

    /// Adds the items of `pin` rules that are not in the pool yet; returns the pool indices of
    /// every pinned item.
    fn add_pinned(&self, specs: &[RuleSpec], pool: &mut Vec<PoolEntry>) -> Result<Vec<usize>> {
        let mut pinned = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let RuleKind::Pin { item, .. } = &spec.rule else { continue };
            let at = match pool.iter().position(|e| &e.id == item) {
                Some(at) => at,
                None => {
                    let row = self.items.row_of(item).ok_or_else(|| Error::InvalidRule {
                        rule: index,
                        reason: format!("pinned item {item:?} is not in the bundle"),
                    })?;
                    pool.push(PoolEntry {
                        row: Some(row as u32),
                        id: item.clone(),
                        prior: 0.0,
                        server: None,
                        sources: PIN_BIT,
                    });
                    pool.len() - 1
                }
            };
            pinned.push(at);
        }
        Ok(pinned)
    }

    /// `(1 + cos(q, v)) / 2` per candidate; 0.5 (no opinion) for unknown items.
    fn affinity(&self, q: &[f32], pool: &[PoolEntry]) -> Vec<f32> {
        let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut v = vec![0.0; self.embeddings.dim()];
        pool.iter()
            .map(|e| match e.row {
                Some(row) => {
                    self.embeddings.dequantize_row(row as usize, &mut v);
                    let vn = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    let dot: f32 = q.iter().zip(&v).map(|(a, b)| a * b).sum();
                    if qn > 0.0 && vn > 0.0 { (1.0 + dot / (qn * vn)) / 2.0 } else { 0.5 }
                }
                None => 0.5,
            })
            .collect()
    }

    /// Item age in seconds (infinite when unknown).
    fn age_s(&self, row: Option<u32>, now_s: i64) -> f32 {
        match row.and_then(|r| self.items.get(r as usize)).map(|i| i.created_at()) {
            Some(t) if t > 0 => (now_s - t).max(0) as f32,
            _ => f32::INFINITY,
        }
    }

    /// Relevance, embeddings, categories and rule attributes of the pool in ranked order.
    fn rerank_input(
        &self,
        pool: &[PoolEntry],
        order: &[usize],
        scores: &[f64],
        specs: &[RuleSpec],
    ) -> RerankInput {
        let dim = self.embeddings.dim();
        let mut embeddings = vec![0.0; order.len() * dim];
        let mut categories = Vec::with_capacity(order.len());
        for (j, &i) in order.iter().enumerate() {
            if let Some(row) = pool[i].row {
                self.embeddings
                    .dequantize_row(row as usize, &mut embeddings[j * dim..(j + 1) * dim]);
                categories.push(self.categories.get(row as usize).cloned().unwrap_or_default());
            } else {
                categories.push(Vec::new());
            }
        }
        let mut attributes: Vec<(String, Vec<Option<u32>>)> = Vec::new();
        for name in specs.iter().filter_map(RuleSpec::attribute) {
            if attributes.iter().any(|(n, _)| n == name) {
                continue;
            }
            let column = order
                .iter()
                .map(|&i| pool[i].row.and_then(|r| self.attribute_value(r, name)).map(|v| v.0))
                .collect();
            attributes.push((name.to_string(), column));
        }
        RerankInput {
            relevance: order.iter().map(|&i| scores[i]).collect(),
            embeddings,
            dim,
            categories,
            attributes,
        }
    }

    /// The value of attribute `name` of `row` as `(id, text)`: `category` is the first tag
    /// (ids shared with the similarity), `type` the item type, `decade` and `year` are derived
    /// from `created_at` unless the bundle has such an attribute, anything else is a bundle
    /// attribute (ids are stable hashes of the text, so the same value has the same id).
    fn attribute_value(&self, row: u32, name: &str) -> Option<(u32, String)> {
        let item = self.items.get(row as usize)?;
        let text = match name {
            "category" => {
                let first = item.tags().next()?;
                return self.category_ids.get(first).map(|&id| (id, first.to_string()));
            }
            "type" => Some(item.item_type().to_string()).filter(|t| !t.is_empty()),
            _ => match item.attribute(name) {
                Some(v) => Some(v.to_string()),
                None if name == "decade" || name == "year" => {
                    let t = item.created_at();
                    (t != 0).then(|| {
                        let year = 1970 + t.div_euclid(31_556_952);
                        if name == "decade" {
                            format!("{}s", year - year.rem_euclid(10))
                        } else {
                            year.to_string()
                        }
                    })
                }
                None => None,
            },
        }?;
        Some((value_id(&text), text))
    }

    /// The caller's rules as [`Rule`]s over the re-rank pool (ranked order).
    fn rules_for(
        &self,
        specs: &[RuleSpec],
        pool: &[PoolEntry],
        order: &[usize],
    ) -> Result<Vec<Rule>> {
        let value = |attribute: &str, text: &str| -> u32 {
            if attribute == "category" {
                // Ids of categories the bundle lacks can match nothing.
                self.category_ids.get(text).copied().unwrap_or(u32::MAX)
            } else {
                value_id(text)
            }
        };
        specs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let constraint = match &spec.rule {
                    RuleKind::MaxConsecutive { attribute, max } => {
                        Constraint::MaxConsecutive { attribute: attribute.clone(), n: *max }
                    }
                    RuleKind::MaxPerWindow { attribute, window, max } => Constraint::MaxPerWindow {
                        attribute: attribute.clone(),
                        max: *max,
                        window: *window,
                    },
                    RuleKind::MaxInTop { attribute, value: v, top, max } => Constraint::MaxInTop {
                        attribute: attribute.clone(),
                        value: v.as_deref().map(|t| value(attribute, t)),
                        max: *max,
                        top: *top,
                    },
                    RuleKind::MinInTop { attribute, value: v, top, min } => Constraint::MinInTop {
                        attribute: attribute.clone(),
                        value: value(attribute, v),
                        min: *min,
                        top: *top,
                    },
                    RuleKind::Pin { item, position } => {
                        let at =
                            order.iter().position(|&i| &pool[i].id == item).ok_or_else(|| {
                                Error::InvalidRule {
                                    rule: index,
                                    reason: format!("pinned item {item:?} is not a candidate"),
                                }
                            })?;
                        Constraint::Pin { selector: Selector::Item(at), position: *position }
                    }
                    RuleKind::Dedupe { attribute } => {
                        Constraint::Dedupe { attribute: attribute.clone() }
                    }
                };
                let rule = if spec.hard {
                    Rule::hard(constraint)
                } else {
                    Rule::soft(constraint, spec.priority)
                };
                rule.validate(index)?;
                Ok(rule)
            })
            .collect()
    }

    fn item_id(&self, row: u32) -> String {
        self.items.get(row as usize).map(|it| it.id().to_string()).unwrap_or_default()
    }

    fn title(&self, row: Option<u32>) -> String {
        row.and_then(|r| self.items.get(r as usize))
            .map(|it| it.title().to_string())
            .unwrap_or_default()
    }

    fn tags(&self, row: Option<u32>) -> Vec<String> {
        row.and_then(|r| self.items.get(r as usize))
            .map(|it| it.tags().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn channel_names(&self, sources: u64, server: bool) -> Vec<String> {
        if server {
            return vec!["server".into()];
        }
        let mut names: Vec<String> = self
            .recall
            .config()
            .channels
            .iter()
            .enumerate()
            .filter(|(c, _)| sources >> c & 1 == 1)
            .map(|(_, c)| c.name.clone())
            .collect();
        if sources & PIN_BIT != 0 {
            names.push("pin".into());
        }
        names
    }

    /// Writes the user state, the exposure filter and the blocklists to `storage` in one atomic
    /// change ([`Storage::put_all`]: one IndexedDB transaction), so a quota failure never leaves
    /// mixed generations. On error the in-memory state is unchanged and the previously stored
    /// values stay readable.
    ///
    /// # Errors
    /// [`Error::StorageUnavailable`], [`Error::StorageQuotaExceeded`].
    pub async fn save(&self, storage: &impl Storage) -> Result<()> {
        self.write(storage, true).await
    }

    /// [`Recommender::save`] of only the parts that changed since this recommender last saved
    /// (to the same store: use it when a recommender always saves to one store, as the JS
    /// binding does). A click then rewrites the small user state, not the exposure filter.
    ///
    /// # Errors
    /// As [`Recommender::save`].
    pub async fn save_changes(&self, storage: &impl Storage) -> Result<()> {
        self.write(storage, false).await
    }

    async fn write(&self, storage: &impl Storage, everything: bool) -> Result<()> {
        let parts = [
            (crate::user::USER_STATE_KEY, self.state.to_bytes()),
            (EXPOSURE_KEY, self.exposure.to_bytes()),
            (BLOCKLIST_KEY, serde_json::to_vec(&self.blocked).unwrap_or_default()),
        ];
        let digests = parts.each_ref().map(|(_, bytes)| digest(bytes));
        let saved = self.saved.get();
        let changed: Vec<(&str, &[u8])> = parts
            .iter()
            .zip(digests.iter().zip(saved.iter()))
            .filter(|(_, (now, before))| everything || Some(**now) != **before)
            .map(|((key, bytes), _)| (*key, bytes.as_slice()))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        storage.put_all(&changed).await?;
        self.saved.set(digests.map(Some));
        Ok(())
    }

    /// Loads state saved by an earlier session (this bundle or an older one: it is migrated,
    /// re-deriving the embedding from the history). Undecodable values are discarded and
    /// reported, never fatal.
    ///
    /// # Errors
    /// [`Error::StorageUnavailable`] when the store cannot be read (the recommender keeps
    /// working in memory).
    pub async fn restore(&mut self, storage: &impl Storage) -> Result<RestoreReport> {
        let mut report = RestoreReport::default();
        match crate::user::load(storage).await {
            Ok(Some(mut state)) => {
                let migration = self.user.migrate(&mut state);
                report.history_dropped = migration.dropped_items;
                report.residual_reset = migration.residual_dropped;
                report.user_restored = true;
                self.state = state;
            }
            Ok(None) => {}
            Err(Error::StorageCorrupt { key, reason }) => {
                report.discarded.push(format!("{key}: {reason}"))
            }
            Err(e) => return Err(e),
        }
        if let Some(bytes) = storage.get(EXPOSURE_KEY).await? {
            match ExposureFilter::from_bytes(&bytes) {
                Ok(filter) => {
                    self.exposure = filter;
                    report.exposure_restored = true;
                }
                Err(e) => report.discarded.push(format!("{EXPOSURE_KEY}: {e}")),
            }
        }
        if let Some(bytes) = storage.get(BLOCKLIST_KEY).await? {
            match serde_json::from_slice::<Blocklist>(&bytes) {
                Ok(blocked) => {
                    report.blocked = blocked.items.len() + blocked.attributes.len();
                    self.blocked = blocked;
                }
                Err(e) => report.discarded.push(format!("{BLOCKLIST_KEY}: {e}")),
            }
        }
        Ok(report)
    }

    /// Erases everything local: the in-memory state, the exposure filter, the blocklists and the
    /// stored copies.
    /// The in-memory state is cleared even when the store fails.
    ///
    /// # Errors
    /// [`Error::StorageUnavailable`] when the stored copies could not be deleted.
    pub async fn forget(&mut self, storage: &impl Storage) -> Result<()> {
        self.state = UserState::new();
        self.exposure.clear();
        self.blocked = Blocklist::default();
        self.saved.set([None; 3]);
        crate::user::forget(storage).await?;
        storage.delete(EXPOSURE_KEY).await?;
        storage.delete(BLOCKLIST_KEY).await
    }
}

fn seconds(now_ms: f64) -> Result<i64> {
    if !now_ms.is_finite() {
        return Err(Error::NonFinite { what: "now", position: 0 });
    }
    Ok((now_ms / 1000.0).floor() as i64)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// A stable id for an attribute value (MurmurHash3 of the text, low 32 bits; `u32::MAX` is
/// reserved for "matches nothing").
fn value_id(text: &str) -> u32 {
    (crate::recall::bloom::murmur3_x64_128(text.as_bytes(), 0).0 as u32).min(u32::MAX - 1)
}

/// The ranker's `known × tasks` output spread over the pool as `n × 2` (watch, like); zeros for
/// the unknown candidates of hybrid mode.
fn per_candidate(pool: &[PoolEntry], p: &[f32], tasks: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(pool.len() * 2);
    let mut next = p.chunks_exact(tasks.max(1));
    for e in pool {
        match e.row.and_then(|_| next.next()) {
            Some(t) => out.extend([t[0], t.get(1).copied().unwrap_or(0.0)]),
            None => out.extend([0.0, 0.0]),
        }
    }
    out
}

/// Drops, before the ranker runs, the candidates that cannot reach the re-rank pool: the rank
/// stage adds at most `gain` to a prior in (0, 1] (`ranker_weight · r` with `r ∈ [0, 1]`, plus
/// the hybrid affinity), so a candidate whose prior is more than `gain` below the `keep`-th best
/// prior scores below at least `keep` others whatever the ranker says. Lossless (the lists are
/// the same), and the ranker — the costliest stage on the CPU — scores a fraction of the
/// candidates. Not applied with the boost or exploration, which can lift any candidate.
fn cut_before_rank(pool: &mut Vec<PoolEntry>, keep: usize, gain: f32, specs: &[RuleSpec]) {
    if pool.len() <= keep || keep == 0 {
        return;
    }
    let priors: Vec<f32> = pool.iter().map(|e| e.prior).collect();
    let kth = priors[crate::order::rows_by_desc(&priors)[keep - 1] as usize];
    // A margin for the f32/f64 rounding of the fused score.
    let threshold = kth - gain - 1e-4;
    let pinned = |id: &str| {
        specs.iter().any(|s| matches!(&s.rule, RuleKind::Pin { item, .. } if item == id))
    };
    pool.retain(|e| e.prior >= threshold || pinned(&e.id));
}
