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

use crate::bundle::{Bundle, ItemTable};
use crate::compute::{BackendChoice, BackendReport, ScoringEngine};
use crate::error::{Error, Result};
use crate::rank::{Ranker, RankerScratch};
use crate::recall::{
    ChannelTrace, ExposureConfig, ExposureFilter, Filters, Recall, RecallConfig, RecallContext,
    Seed,
};
use crate::user::{Interaction, Storage, UserConfig, UserModel, UserState};
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

/// Everything the funnel can be tuned by. `Default` is a sensible production setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecommenderConfig {
    /// History length, fine-tuning and interest decay of the user model.
    pub user: UserConfig,
    /// Recall channels, their quotas and weights.
    pub recall: RecallConfig,
    /// The exposure filter (items already shown are not recommended again while it remembers).
    pub exposure: ExposureConfig,
    /// Whether items already shown are filtered (the exposure filter still records them).
    pub filter_exposed: bool,
    /// Rank recalled candidates with the bundle's multi-task ranker when it has one (otherwise,
    /// and for a cold user, the merged recall score orders them).
    pub use_ranker: bool,
    /// Weight of P(like) next to P(watch) in the ranker's score
    /// `r = (P(watch) + w·P(like)) / (1 + w)`.
    pub like_weight: f32,
    /// How much the ranker's score `r` counts next to the merged recall score `m` (rank-based,
    /// in (0, 1]): items are ordered by `m + ranker_weight · r`. 0 keeps the recall order.
    pub ranker_weight: f32,
    /// Recent items used as item-to-item seeds.
    pub max_seeds: usize,
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
            ranker_weight: 0.1,
            max_seeds: 10,
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// Row in the bundle.
    pub row: u32,
    /// Item id.
    pub id: String,
    /// Item title.
    pub title: String,
    /// The score it was ordered by (ranker score, or merged recall score).
    pub score: f32,
    /// The recall channels that produced it.
    pub channels: Vec<String>,
}

/// What one [`Recommender::recommend`] did, for demos, debugging and benchmarks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecommendTrace {
    /// Per recall channel: produced, filtered, kept, time.
    pub recall: Vec<ChannelTrace>,
    /// Candidates after the merge.
    pub candidates: usize,
    /// `"ranker"` or `"recall"` (cold user, or no ranker).
    pub ordered_by: &'static str,
    /// Whether the user was cold (no history and no residual).
    pub cold: bool,
    /// Milliseconds spent computing the user query.
    pub user_ms: f64,
    /// Milliseconds spent in recall.
    pub recall_ms: f64,
    /// Milliseconds spent ranking.
    pub rank_ms: f64,
}

/// The result of [`Recommender::recommend`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendations {
    /// Best first.
    pub items: Vec<Recommendation>,
    /// What happened.
    pub trace: RecommendTrace,
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
    ranker_scratch: RankerScratch,
    state: UserState,
    exposure: ExposureFilter,
    blocked: Blocklist,
    config: RecommenderConfig,
}

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
        for (name, value) in [("like", config.like_weight), ("ranker", config.ranker_weight)] {
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
        let ranker = if config.use_ranker && bundle.tensor("ranker.w0").is_some() {
            Some(Ranker::from_bundle(bundle)?)
        } else {
            None
        };
        let exposure = ExposureFilter::new(config.exposure)?;
        let index = crate::compute::ItemIndex::from_bundle(bundle)?;
        let engine = ScoringEngine::new(index, backend).await?;
        Ok(Self {
            items: bundle.items().clone(),
            engine,
            user,
            recall,
            ranker,
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
        self.user.record(&mut self.state, interaction, now_ms)
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
        ids.iter().for_each(|id| self.exposure.insert(id, now_s));
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

    /// The filters of one request: consumed items, blocklists and (optionally) exposure.
    fn filters(&self, now_s: i64) -> Filters {
        let mut filters =
            Filters::new(self.items.len()).consumed(self.user.consumed_rows(&self.state));
        // Ids from an older bundle that this one lacks block nothing.
        for row in self.blocked.items.iter().filter_map(|id| self.items.row_of(id)) {
            filters = filters.block_item(row as u32);
        }
        for (key, value) in &self.blocked.attributes {
            filters = filters.block_attribute(&self.items, key, value);
        }
        if self.config.filter_exposed {
            filters = filters.exposure(&self.exposure, &self.items, now_s);
        }
        filters
    }

    /// The best `k` items now: recall over every configured channel, then the ranker (for a
    /// known user), best first.
    ///
    /// # Errors
    /// [`Error::InvalidK`] for `k` = 0; [`Error::NonFinite`] for a bad time; backend errors.
    pub async fn recommend(&mut self, k: usize, now_ms: f64) -> Result<Recommendations> {
        if k == 0 {
            return Err(Error::InvalidK { k, max: self.items.len() });
        }
        let now_s = seconds(now_ms)?;
        let start = Instant::now();
        let query = self.user.query(&self.state)?;
        let seeds: Vec<Seed> = self
            .user
            .seeds(&self.state, self.config.max_seeds, now_ms)
            .into_iter()
            .map(|(row, weight)| Seed { row, weight })
            .collect();
        let categories = self.state.top_categories(3, now_ms);
        let user_ms = ms_since(start);

        let start = Instant::now();
        let filters = self.filters(now_s);
        let ctx = RecallContext {
            query: query.as_deref(),
            seeds: &seeds,
            categories: &categories,
            now_s,
        };
        let recalled = self.recall.recall(&mut self.engine, &ctx, &filters).await?;
        let recall_ms = ms_since(start);

        let start = Instant::now();
        let rows: Vec<u32> = recalled.candidates.iter().map(|c| c.row).collect();
        let mut scores: Vec<f32> = recalled.candidates.iter().map(|c| c.score).collect();
        let mut ordered_by = "recall";
        let blend = self.config.ranker_weight;
        if let (Some(ranker), Some(q), false, true) =
            (&self.ranker, query.as_deref(), rows.is_empty(), blend > 0.0)
        {
            let p = ranker.predict(q, &rows, &mut self.ranker_scratch)?;
            let tasks = ranker.tasks().len();
            let like = self.config.like_weight;
            for (score, t) in scores.iter_mut().zip(p.chunks_exact(tasks)) {
                let r = (t[0] + like * t.get(1).copied().unwrap_or(0.0)) / (1.0 + like);
                *score += blend * r;
            }
            ordered_by = "ranker";
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(rows[a].cmp(&rows[b])));
        order.truncate(k);
        let rank_ms = ms_since(start);

        let names: Vec<&str> =
            self.recall.config().channels.iter().map(|c| c.name.as_str()).collect();
        let items = order
            .into_iter()
            .map(|i| {
                let row = rows[i];
                let item = self.items.get(row as usize);
                Recommendation {
                    row,
                    id: item.map(|it| it.id().to_string()).unwrap_or_default(),
                    title: item.map(|it| it.title().to_string()).unwrap_or_default(),
                    score: scores[i],
                    channels: (0..names.len())
                        .filter(|c| recalled.candidates[i].sources >> c & 1 == 1)
                        .map(|c| names[c].to_string())
                        .collect(),
                }
            })
            .collect();
        Ok(Recommendations {
            items,
            trace: RecommendTrace {
                candidates: rows.len(),
                recall: recalled.channels,
                ordered_by,
                cold: query.is_none(),
                user_ms,
                recall_ms,
                rank_ms,
            },
        })
    }

    /// Writes the user state, the exposure filter and the blocklists to `storage`. On error the
    /// in-memory state is unchanged and the previously stored values stay readable.
    ///
    /// # Errors
    /// [`Error::StorageUnavailable`], [`Error::StorageQuotaExceeded`].
    pub async fn save(&self, storage: &impl Storage) -> Result<()> {
        crate::user::save(storage, &self.state).await?;
        storage.put(EXPOSURE_KEY, &self.exposure.to_bytes()).await?;
        let blocklist = serde_json::to_vec(&self.blocked).unwrap_or_default();
        storage.put(BLOCKLIST_KEY, &blocklist).await
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
