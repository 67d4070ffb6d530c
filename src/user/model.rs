//! [`UserModel`]: the bundle's user tower plus the on-device update, over a [`UserState`].
//!
//! * **Tower.** `q = W_L · … relu(W_0 · mean_{last N} H[item] + b_0) … + b_L` — the mean of the
//!   last `N` history rows (unweighted, duplicates counted, as `edgerec train` pools), then the
//!   `user_tower.w{l}` / `b{l}` MLP (ReLU between layers, identity output). This is the
//!   server-side `edgerec eval` computation; the SDK returns it normalized to unit length.
//! * **Residual.** A per-user vector `r` added to the normalized tower query. Each interaction
//!   with weight `w > 0` first decays it (`r ← (1 − decay)·r`), then takes `steps` SGD steps on
//!   the sampled softmax loss of the interacted item with logQ correction (Yi et al., RecSys
//!   2019), then clips `‖r‖ ≤ max_norm`. The gradient is taken at `u = q̂_before + r`, where
//!   `q̂_before` is the tower query of the history *before* this interaction: the residual
//!   learns to predict the next item from what came before, the objective the tower was trained
//!   on (for a cold user `q̂_before` is 0). Logits are `u·x_i/τ − ln Q(i)` over the positive and
//!   `negatives` rows drawn ∝ popularity^power; `x` are the `item_embeddings` rows (unit-norm
//!   under cosine similarity) and `τ` the manifest temperature.
//! * **Determinism.** The sampler is seeded with `config.seed` and the state's interaction
//!   count, so the same clicks from the same state give the same residual on every platform.
//! * **Backends.** The record / query logic is written once against a small private backend
//!   trait (history pooling + MLP, and the gradient's expectation); the CPU path runs it to
//!   completion synchronously, the GPU path (`UserModel::record_gpu`, …) awaits `GpuTable::pool`
//!   and `GpuMlp::forward`.

use super::config::UserConfig;
use super::sampler::NegativeSampler;
use super::state::{Interaction, ModelStamp, StoredInteraction, UserState, decay};
use crate::bundle::{Bundle, ItemTable, QuantizedMatrix};
use crate::compute::gradient::{SoftmaxExample, softmax_gradient};
use crate::compute::pool::{PoolRequest, Pooling, pool_fast};
use crate::compute::{Activation, Mlp, MlpScratch};
use crate::error::{Error, Result};
use crate::rng::SeededRng;
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Tensor names the user model reads.
pub const HISTORY_TENSOR: &str = "user_tower.history_embeddings";

/// What [`UserModel::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The state was derived with another model (id, version or dimension).
    pub model_changed: bool,
    /// A non-zero residual was dropped (it lives in the old model's space).
    pub residual_dropped: bool,
    /// History entries dropped because the bundle lacks their item.
    pub dropped_items: usize,
    /// History entries kept.
    pub kept_items: usize,
}

/// One fine-tuning step's example, for diagnostics and tests ([`UserModel::fine_tune_step`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The positive row followed by the sampled negatives.
    pub candidates: Vec<u32>,
    /// `Q(i)` of each candidate.
    pub sample_prob: Vec<f32>,
    /// The sampled softmax loss at the user vector before the step.
    pub loss_before: f32,
}

/// The user model of one bundle: immutable after construction, shared by all calls.
#[derive(Debug, Clone)]
pub struct UserModel {
    config: UserConfig,
    stamp: ModelStamp,
    items: ItemTable,
    pub(crate) history_table: QuantizedMatrix,
    pub(crate) mlp: Mlp,
    pub(crate) item_embeddings: QuantizedMatrix,
    sampler: NegativeSampler,
    temperature: f32,
}

fn missing(name: &str) -> Error {
    Error::InvalidArgument { name: "bundle", reason: format!("the bundle has no tensor {name:?}") }
}

/// The computations that differ between backends. CPU implementations never suspend.
pub(crate) trait Backend {
    /// The raw tower output for `rows` (non-empty, at most `MAX_SLOTS`).
    async fn tower(&mut self, model: &UserModel, rows: &[u32]) -> Result<Vec<f32>>;
    /// `∇_u` of the sampled softmax loss of `example`.
    async fn gradient(
        &mut self,
        model: &UserModel,
        example: &SoftmaxExample<'_>,
    ) -> Result<Vec<f32>>;
}

/// The CPU fast path.
pub(crate) struct Cpu;

impl Backend for Cpu {
    async fn tower(&mut self, model: &UserModel, rows: &[u32]) -> Result<Vec<f32>> {
        let weights = vec![1.0f32; rows.len()];
        let request =
            PoolRequest { ids: rows, weights: &weights, slots: rows.len(), queries: None };
        let pooled = pool_fast(&model.history_table, &request, Pooling::Mean)?;
        model.mlp.forward(&pooled, &mut MlpScratch::default())
    }

    async fn gradient(
        &mut self,
        model: &UserModel,
        example: &SoftmaxExample<'_>,
    ) -> Result<Vec<f32>> {
        softmax_gradient(&model.item_embeddings, example)
    }
}

/// Runs a future that never suspends (the CPU backend) to completion.
fn ready<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::InvalidArgument {
            name: "backend",
            reason: "the CPU user model suspended; use the async GPU methods".into(),
        }),
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl UserModel {
    /// The user model of `bundle`: `user_tower.history_embeddings` (`[items, dim]`), the
    /// `user_tower.w{l}` / `user_tower.b{l}` layers (`dim → … → dim`), `item_embeddings`,
    /// `stats.popularity` (optional: uniform negatives without it), the item table and the
    /// manifest's temperature.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad `config` or a missing tensor;
    /// [`Error::DimensionMismatch`] / [`Error::BundleShapeMismatch`] for tensors whose shapes do
    /// not fit together.
    pub fn from_bundle(bundle: &Bundle, config: UserConfig) -> Result<Self> {
        config.validate()?;
        let manifest = bundle.manifest();
        let items = bundle.items().clone();
        let embeddings = bundle.item_embeddings();
        let dim = embeddings.cols();
        let shape_err = |tensor: &str, file: &str, reason: String| Error::BundleShapeMismatch {
            file: file.to_string(),
            tensor: tensor.to_string(),
            reason,
        };
        let h = bundle.tensor(HISTORY_TENSOR).ok_or_else(|| missing(HISTORY_TENSOR))?;
        if h.rows() != items.len() || h.cols() != dim {
            return Err(shape_err(
                HISTORY_TENSOR,
                h.file(),
                format!(
                    "[{}, {}]; the user tower needs [items = {}, embedding_dim = {dim}]",
                    h.rows(),
                    h.cols(),
                    items.len()
                ),
            ));
        }
        let mlp = Mlp::from_bundle(bundle, "user_tower", Activation::Relu, Activation::Identity)?
            .ok_or_else(|| missing("user_tower.w0"))?;
        if mlp.in_dim() != dim {
            return Err(Error::DimensionMismatch { expected: dim, received: mlp.in_dim() });
        }
        if mlp.out_dim() != dim {
            return Err(Error::DimensionMismatch { expected: dim, received: mlp.out_dim() });
        }
        let sampler = match bundle.tensor("stats.popularity") {
            Some(p) => {
                let pop = p.dequantize();
                if pop.len() != items.len() {
                    return Err(shape_err(
                        "stats.popularity",
                        p.file(),
                        format!("{} values for {} items", pop.len(), items.len()),
                    ));
                }
                NegativeSampler::new(
                    &pop,
                    config.fine_tune.popularity_power,
                    config.fine_tune.popularity_floor,
                )?
            }
            None => NegativeSampler::uniform(items.len())?,
        };
        Ok(Self {
            stamp: ModelStamp {
                id: manifest.model.id.clone(),
                version: manifest.model.version.clone(),
                dim,
            },
            history_table: h.to_quantized_matrix()?,
            mlp,
            item_embeddings: embeddings.to_quantized_matrix()?,
            items,
            sampler,
            temperature: manifest.temperature,
            config,
        })
    }

    /// Dimension of the query vectors.
    pub fn dim(&self) -> usize {
        self.stamp.dim
    }

    /// The configuration.
    pub fn config(&self) -> &UserConfig {
        &self.config
    }

    /// The model identity states derived with this model are stamped with.
    pub fn stamp(&self) -> &ModelStamp {
        &self.stamp
    }

    /// The negative sampler (for diagnostics and tests).
    pub fn sampler(&self) -> &NegativeSampler {
        &self.sampler
    }

    /// The softmax temperature `τ` of the bundle.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// The row of item `id`, or `None`.
    pub fn row_of(&self, id: &str) -> Option<u32> {
        self.items.row_of(id).map(|r| r as u32)
    }

    /// Rows of the last `N` history entries whose item the bundle has, oldest first.
    fn tower_rows(&self, history: &[StoredInteraction]) -> Vec<u32> {
        let mut rows: Vec<u32> = history
            .iter()
            .rev()
            .filter_map(|h| self.row_of(&h.item))
            .take(self.config.history)
            .collect();
        rows.reverse();
        rows
    }

    /// The rows the user tower pools: the last `history` entries the bundle has, oldest first
    /// (the ranker's target attention reads the same window).
    pub fn history_rows(&self, state: &UserState) -> Vec<u32> {
        self.tower_rows(state.history())
    }

    /// The normalized tower output for `rows`; `None` for no rows or a zero output.
    async fn tower_on(&self, backend: &mut impl Backend, rows: &[u32]) -> Result<Option<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let mut q = backend.tower(self, rows).await?;
        if q.len() != self.dim() {
            return Err(Error::DimensionMismatch { expected: self.dim(), received: q.len() });
        }
        let n = norm(&q);
        if !n.is_finite() {
            let position = q.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(Error::NonFinite { what: "user tower output", position });
        }
        if n == 0.0 {
            return Ok(None);
        }
        q.iter_mut().for_each(|x| *x /= n);
        Ok(Some(q))
    }

    /// A residual the query may add: the state must have been derived with this model.
    fn usable_residual<'s>(&self, state: &'s UserState) -> Result<Option<&'s [f32]>> {
        let r = state.residual();
        if r.is_empty() {
            return Ok(None);
        }
        if state.model() != Some(&self.stamp) {
            return Err(Error::InvalidArgument {
                name: "state",
                reason: format!(
                    "its residual was derived with {:?}, not {:?}; call UserModel::migrate first",
                    state.model(),
                    self.stamp
                ),
            });
        }
        Ok(Some(r))
    }

    pub(crate) async fn tower_query_on(
        &self,
        backend: &mut impl Backend,
        state: &UserState,
    ) -> Result<Option<Vec<f32>>> {
        self.tower_on(backend, &self.tower_rows(state.history())).await
    }

    pub(crate) async fn query_on(
        &self,
        backend: &mut impl Backend,
        state: &UserState,
    ) -> Result<Option<Vec<f32>>> {
        let residual = self.usable_residual(state)?;
        let tower = self.tower_query_on(backend, state).await?;
        Ok(match (tower, residual) {
            (Some(mut q), Some(r)) => {
                q.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                Some(q)
            }
            (Some(q), None) => Some(q),
            (None, Some(r)) if r.iter().any(|x| *x != 0.0) => Some(r.to_vec()),
            (None, _) => None,
        })
    }

    /// The tower's query from the last `N` history entries (items the bundle lacks are skipped),
    /// normalized to unit length; `None` for a cold user (no usable history).
    ///
    /// # Errors
    /// [`Error::NonFinite`] if the tower produces NaN or infinity (a broken bundle).
    pub fn tower_query(&self, state: &UserState) -> Result<Option<Vec<f32>>> {
        ready(self.tower_query_on(&mut Cpu, state))
    }

    /// The vector recall uses: [`UserModel::tower_query`] plus the residual (not renormalized:
    /// cosine recall is invariant to the norm). `None` when cold and the residual is zero.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the state holds a residual derived with another model
    /// (call [`UserModel::migrate`] after loading a state or changing bundles); as
    /// [`UserModel::tower_query`].
    pub fn query(&self, state: &UserState) -> Result<Option<Vec<f32>>> {
        ready(self.query_on(&mut Cpu, state))
    }

    /// Checks an interaction; returns its item's row.
    fn validate(&self, interaction: &Interaction, now_ms: f64) -> Result<u32> {
        if !now_ms.is_finite() {
            return Err(Error::InvalidArgument {
                name: "now_ms",
                reason: format!("{now_ms} is not a time"),
            });
        }
        let bad =
            |reason: String| Error::InvalidInteraction { item: interaction.item.clone(), reason };
        let t = interaction.timestamp_ms;
        if !t.is_finite() || t < 0.0 {
            return Err(bad(format!("timestamp {t} ms is not a time (finite and ≥ 0)")));
        }
        if t > now_ms + self.config.max_future_skew_ms {
            return Err(bad(format!(
                "timestamp {t} ms is {} ms in the future (at most {} ms allowed)",
                t - now_ms,
                self.config.max_future_skew_ms
            )));
        }
        self.row_of(&interaction.item)
            .ok_or_else(|| Error::UnknownItem { id: interaction.item.clone() })
    }

    /// Records `interaction`: validates it, appends it to the history (in time order, trimmed
    /// to `history_capacity`), updates the interest statistics and counters, and — when
    /// fine-tuning is on and the interaction's weight is positive — decays the residual, takes
    /// `steps` gradient steps and clips it (see the module docs). Deterministic given
    /// `(config.seed, state, interaction)`. On error nothing changes.
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an id the bundle lacks; [`Error::InvalidInteraction`] for a
    /// NaN, infinite or negative timestamp or one more than `max_future_skew_ms` after `now_ms`;
    /// [`Error::InvalidArgument`] for a non-finite `now_ms` or a state holding a residual of
    /// another model (migrate it first); [`Error::NonFinite`] if an update diverges.
    pub fn record(
        &self,
        state: &mut UserState,
        interaction: &Interaction,
        now_ms: f64,
    ) -> Result<()> {
        ready(self.record_on(&mut Cpu, state, interaction, now_ms, true))
    }

    /// [`UserModel::record`] without the fine-tuning steps: for importing history the device
    /// did not see live (e.g. the server's, after sign-in). The residual is left as it is.
    ///
    /// # Errors
    /// As [`UserModel::record`].
    pub fn record_without_update(
        &self,
        state: &mut UserState,
        interaction: &Interaction,
        now_ms: f64,
    ) -> Result<()> {
        ready(self.record_on(&mut Cpu, state, interaction, now_ms, false))
    }

    pub(crate) async fn record_on(
        &self,
        backend: &mut impl Backend,
        state: &mut UserState,
        interaction: &Interaction,
        now_ms: f64,
        update: bool,
    ) -> Result<()> {
        let row = self.validate(interaction, now_ms)?;
        self.usable_residual(state)?;
        let t = interaction.timestamp_ms;
        let weight = interaction.kind.weight();
        // Work on a copy (a few KiB) and swap it in at the end: an error leaves `state` as it was.
        let mut next = state.clone();
        let before = self.tower_rows(&state.history()[..state.insertion_point(t)]);
        next.insert(StoredInteraction::from(interaction), self.config.history_capacity);
        if let Some(item) = self.items.get(row as usize) {
            next.add_interest(item.tags(), weight, t, self.config.interest_half_life_ms);
        }
        let counter = state.counters().interactions;
        let c = next.counters_mut();
        c.interactions += 1;
        match interaction.kind {
            super::InteractionKind::Click => c.clicks += 1,
            super::InteractionKind::Like => c.likes += 1,
            super::InteractionKind::Dwell { .. } => c.dwells += 1,
        }
        next.set_model(Some(self.stamp.clone()));
        let ft = &self.config.fine_tune;
        if update && ft.enabled && weight > 0.0 && ft.steps > 0 {
            let base = match self.tower_on(backend, &before).await? {
                Some(q) => q,
                None => vec![0.0; self.dim()],
            };
            let mut r = next.residual().to_vec();
            r.resize(self.dim(), 0.0);
            r.iter_mut().for_each(|x| *x *= 1.0 - ft.decay);
            // SplitMix inside `SeededRng::new` decorrelates consecutive counters.
            let mut rng =
                SeededRng::new(self.config.seed ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let lr = ft.learning_rate * weight;
            for _ in 0..ft.steps {
                self.step_on(backend, &base, &mut r, row, lr, &mut rng).await?;
            }
            let n = norm(&r);
            if n > ft.max_norm {
                let s = if n > 0.0 { ft.max_norm / n } else { 0.0 };
                r.iter_mut().for_each(|x| *x *= s);
            }
            if let Some(position) = r.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite { what: "residual", position });
            }
            *next.residual_mut() = r;
            next.counters_mut().gradient_steps += u64::from(ft.steps);
        }
        *state = next;
        Ok(())
    }

    /// One SGD step on `residual` at `u = base + residual`; returns the candidates, their
    /// probabilities and `u`.
    async fn step_on(
        &self,
        backend: &mut impl Backend,
        base: &[f32],
        residual: &mut [f32],
        positive: u32,
        learning_rate: f32,
        rng: &mut SeededRng,
    ) -> Result<(Vec<u32>, Vec<f32>, Vec<f32>)> {
        let dim = self.dim();
        for v in [base, &*residual] {
            if v.len() != dim {
                return Err(Error::DimensionMismatch { expected: dim, received: v.len() });
            }
        }
        let user: Vec<f32> = base.iter().zip(residual.iter()).map(|(a, b)| a + b).collect();
        let (candidates, probs) =
            self.sampler.sample(positive, self.config.fine_tune.negatives, rng);
        if candidates.len() < 2 {
            // No negatives (a one-item catalogue): the loss is 0 and so is the gradient.
            return Ok((candidates, probs, user));
        }
        let example = SoftmaxExample {
            user: &user,
            positive,
            candidates: &candidates,
            sample_prob: &probs,
            temperature: self.temperature,
        };
        let g = backend.gradient(self, &example).await?;
        if g.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, received: g.len() });
        }
        residual.iter_mut().zip(&g).for_each(|(r, g)| *r -= learning_rate * g);
        Ok((candidates, probs, user))
    }

    /// One fine-tuning step outside [`UserModel::record`]: samples negatives for `positive`,
    /// updates `residual ← residual − learning_rate · ∇_u L` at `u = base + residual`, and
    /// reports the example and its loss before the step. `base` is normally the unit tower
    /// query ([`UserModel::tower_query`]).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for vectors of another length; [`Error::InvalidArgument`]
    /// for a row out of range.
    pub fn fine_tune_step(
        &self,
        base: &[f32],
        residual: &mut [f32],
        positive: u32,
        learning_rate: f32,
        rng: &mut SeededRng,
    ) -> Result<StepReport> {
        if positive as usize >= self.items.len() {
            return Err(Error::InvalidArgument {
                name: "positive",
                reason: format!("row {positive} is out of range ({} items)", self.items.len()),
            });
        }
        let (candidates, sample_prob, user) =
            ready(self.step_on(&mut Cpu, base, residual, positive, learning_rate, rng))?;
        let loss_before = self.sampled_softmax_loss(&user, positive, &candidates, &sample_prob)?;
        Ok(StepReport { candidates, sample_prob, loss_before })
    }

    /// The sampled softmax loss `−ln softmax(u·x_i/τ − ln Q(i))_positive` over `candidates`
    /// (f64 accumulation).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] / [`Error::InvalidArgument`] as the gradient's checks.
    pub fn sampled_softmax_loss(
        &self,
        user: &[f32],
        positive: u32,
        candidates: &[u32],
        sample_prob: &[f32],
    ) -> Result<f32> {
        if user.len() != self.dim() {
            return Err(Error::DimensionMismatch { expected: self.dim(), received: user.len() });
        }
        if sample_prob.len() != candidates.len() {
            return Err(Error::DimensionMismatch {
                expected: candidates.len(),
                received: sample_prob.len(),
            });
        }
        let Some(p) = candidates.iter().position(|c| *c == positive) else {
            return Err(Error::InvalidArgument {
                name: "positive",
                reason: format!("row {positive} is not among the candidates"),
            });
        };
        if let Some(bad) = candidates.iter().find(|c| **c as usize >= self.items.len()) {
            return Err(Error::InvalidArgument {
                name: "candidates",
                reason: format!("row {bad} is out of range"),
            });
        }
        let mut x = vec![0.0f32; self.dim()];
        let tau = f64::from(self.temperature);
        let logits: Vec<f64> = candidates
            .iter()
            .zip(sample_prob)
            .map(|(&c, &q)| {
                self.item_embeddings.dequantize_row(c as usize, &mut x);
                let d: f64 = x.iter().zip(user).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                d / tau - f64::from(q).ln()
            })
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        Ok((lse - logits[p]) as f32)
    }

    /// Re-derives `state` for this model after loading it or changing bundles: when it was
    /// derived with another model (id, version or dimension) the residual is dropped (it lives
    /// in the old embedding space); history entries whose item this bundle lacks are dropped
    /// and counted; the history is trimmed to `history_capacity`; interests and counters are
    /// kept. Never fails on a well-formed state; migrating twice changes nothing.
    pub fn migrate(&self, state: &mut UserState) -> MigrationReport {
        let model_changed = state.model().is_some_and(|m| *m != self.stamp);
        let stale = model_changed || state.residual().len() != self.dim();
        let residual_dropped = stale && state.residual().iter().any(|x| *x != 0.0);
        if stale {
            state.residual_mut().clear();
        }
        let before = state.history().len();
        state.history_mut().retain(|h| self.items.row_of(&h.item).is_some());
        let dropped_items = before - state.history().len();
        let excess = state.history().len().saturating_sub(self.config.history_capacity);
        state.history_mut().drain(..excess);
        state.set_model(Some(self.stamp.clone()));
        let c = state.counters_mut();
        c.migrations += u64::from(model_changed);
        c.dropped_items += dropped_items as u64;
        MigrationReport {
            model_changed,
            residual_dropped,
            dropped_items,
            kept_items: state.history().len(),
        }
    }

    /// Seed items for item-to-item recall: distinct history rows, most recent first, each with
    /// weight `kind.weight() · 2^(−age / interest_half_life_ms)` (the largest over its
    /// occurrences; age = `now_ms − timestamp`, at least 0). Rows with weight 0 (a zero-length
    /// dwell, or fully decayed) and items the bundle lacks are left out; at most `max` rows.
    pub fn seeds(&self, state: &UserState, max: usize, now_ms: f64) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        let mut at: HashMap<u32, usize> = HashMap::new();
        for h in state.history().iter().rev() {
            let Some(row) = self.row_of(&h.item) else { continue };
            let age = if now_ms.is_finite() { now_ms - h.timestamp_ms } else { 0.0 };
            let w = h.kind.weight() * decay(age, self.config.interest_half_life_ms) as f32;
            match at.get(&row) {
                Some(&i) => out[i].1 = out[i].1.max(w),
                None => {
                    at.insert(row, out.len());
                    out.push((row, w));
                }
            }
        }
        out.retain(|(_, w)| *w > 0.0);
        out.truncate(max);
        out
    }

    /// Every history row the bundle has, ascending and distinct (for the consumed filter).
    pub fn consumed_rows(&self, state: &UserState) -> Vec<u32> {
        let mut rows: Vec<u32> =
            state.history().iter().filter_map(|h| self.row_of(&h.item)).collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use crate::bundle::builder::{BuildConfig, SourceData, SourceTensor, build};
    use crate::bundle::items::ItemRecord;
    use crate::bundle::{LoadOptions, Similarity};
    use crate::user::InteractionKind;

    /// A small bundle with a full user tower: `n` items `i0…`, dimension `dim`, deterministic
    /// pseudo-random weights, every third item tagged "odd-one".
    pub(crate) fn tiny_bundle(version: &str, n: usize, dim: usize) -> Bundle {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        };
        let mut t = |name: &str, shape: Vec<usize>| SourceTensor {
            name: name.into(),
            data: SourceData::F32((0..shape.iter().product()).map(|_| next()).collect()),
            shape,
        };
        let mut emb = t("item_embeddings", vec![n, dim]);
        if let SourceData::F32(v) = &mut emb.data {
            for row in v.chunks_exact_mut(dim) {
                let n = norm(row);
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
        let hidden = 2 * dim;
        let mut pop = t("stats.popularity", vec![n]);
        if let SourceData::F32(v) = &mut pop.data {
            v.iter_mut().for_each(|p| *p = p.abs());
        }
        let tensors = vec![
            emb,
            t(HISTORY_TENSOR, vec![n, dim]),
            t("user_tower.w0", vec![hidden, dim]),
            t("user_tower.b0", vec![hidden]),
            t("user_tower.w1", vec![dim, hidden]),
            t("user_tower.b1", vec![dim]),
            pop,
        ];
        let items: Vec<ItemRecord> = (0..n)
            .map(|i| ItemRecord {
                id: format!("i{i}"),
                tags: if i % 3 == 0 {
                    vec!["odd-one".into()]
                } else {
                    vec!["x".into(), "y".into()]
                },
                ..Default::default()
            })
            .collect();
        let config = BuildConfig {
            model_id: "tiny",
            model_version: version,
            created_at: "2025-01-01T00:00:00Z",
            similarity: Similarity::Cosine,
            temperature: 0.1,
            rules: &[],
            signing_key: None,
            eval_queries: 0,
            seed: 0,
        };
        build(&tensors, &items, &config).unwrap().load(&LoadOptions::default()).unwrap()
    }

    fn click(item: &str, t: f64) -> Interaction {
        Interaction::click(item, t)
    }

    #[test]
    fn cold_user_warms_up_and_bad_input_changes_nothing() {
        let model =
            UserModel::from_bundle(&tiny_bundle("1", 30, 8), UserConfig::default()).unwrap();
        let mut s = UserState::new();
        assert_eq!(model.tower_query(&s).unwrap(), None);
        assert_eq!(model.query(&s).unwrap(), None);
        model.record(&mut s, &click("i4", 1000.0), 1000.0).unwrap();
        let q = model.tower_query(&s).unwrap().unwrap();
        assert!((norm(&q) - 1.0).abs() < 1e-5);
        assert_eq!(s.residual().len(), 8);
        let bytes = s.to_bytes();
        let now = 2000.0;
        let skew = model.config().max_future_skew_ms;
        let bad = [
            (click("nope", now), "UNKNOWN_ITEM"),
            (click("i1", f64::NAN), "INVALID_INTERACTION"),
            (click("i1", f64::INFINITY), "INVALID_INTERACTION"),
            (click("i1", -1.0), "INVALID_INTERACTION"),
            (click("i1", now + skew + 1.0), "INVALID_INTERACTION"),
        ];
        for (i, code) in bad {
            let e = model.record(&mut s, &i, now).unwrap_err();
            assert_eq!(e.code(), code, "{i:?}");
            assert_eq!(s.to_bytes(), bytes);
        }
        let e = model.record(&mut s, &click("i1", 1.0), f64::NAN).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        // Exactly at the skew limit is fine.
        model.record(&mut s, &click("i1", now + skew), now).unwrap();
    }

    #[test]
    fn history_seeds_and_consumed_rows() {
        let config = UserConfig { history: 2, history_capacity: 3, ..UserConfig::default() };
        let model = UserModel::from_bundle(&tiny_bundle("1", 30, 8), config).unwrap();
        let mut s = UserState::new();
        let day = model.config().interest_half_life_ms / 7.0;
        for (item, t) in [("i1", 1.0), ("i2", 3.0), ("i1", 4.0), ("i3", 2.0)] {
            model.record(&mut s, &click(item, t * day), 10.0 * day).unwrap();
        }
        let kept: Vec<&str> = s.history().iter().map(|h| h.item.as_str()).collect();
        assert_eq!(kept, ["i3", "i2", "i1"]); // the t = 1 click fell off the end
        assert_eq!(model.consumed_rows(&s), vec![1, 2, 3]);
        let seeds = model.seeds(&s, 10, 11.0 * day);
        let rows: Vec<u32> = seeds.iter().map(|s| s.0).collect();
        assert_eq!(rows, [1, 2, 3]);
        assert!(seeds.windows(2).all(|w| w[0].1 > w[1].1), "{seeds:?}");
        assert!((seeds[0].1 - 0.5f32.powf(1.0)).abs() < 1e-5, "{seeds:?}"); // 7 days old
        assert_eq!(model.seeds(&s, 1, 11.0 * day).len(), 1);
        // A zero-length dwell is history (consumed) but no seed and no update.
        let before = s.residual().to_vec();
        model
            .record(
                &mut s,
                &Interaction {
                    item: "i9".into(),
                    kind: InteractionKind::Dwell { ms: 0 },
                    timestamp_ms: 10.0 * day,
                },
                10.0 * day,
            )
            .unwrap();
        assert_eq!(s.residual(), before.as_slice());
        assert!(model.consumed_rows(&s).contains(&9));
        assert!(model.seeds(&s, 10, 10.0 * day).iter().all(|(r, _)| *r != 9));
        // The tower reads the last N = 2 entries.
        let two = model.tower_rows(s.history());
        assert_eq!(two, [1, 9]);
    }

    #[test]
    fn residual_is_clipped_decays_and_is_deterministic() {
        let mut config = UserConfig::default();
        config.fine_tune.learning_rate = 10.0;
        config.fine_tune.max_norm = 0.3;
        let model = UserModel::from_bundle(&tiny_bundle("1", 30, 8), config.clone()).unwrap();
        let mut a = UserState::new();
        let mut b = UserState::new();
        for (i, item) in ["i1", "i5", "i7", "i5"].iter().enumerate() {
            model.record(&mut a, &click(item, i as f64), 10.0).unwrap();
            model.record(&mut b, &click(item, i as f64), 10.0).unwrap();
            assert!(norm(a.residual()) <= 0.3 + 1e-6);
        }
        assert_eq!(a.residual(), b.residual());
        assert!(norm(a.residual()) > 0.29);
        assert_eq!(a.counters().gradient_steps, 8);
        // Another seed, another residual.
        config.seed = 1;
        let other = UserModel::from_bundle(&tiny_bundle("1", 30, 8), config.clone()).unwrap();
        let mut c = UserState::new();
        for (i, item) in ["i1", "i5", "i7", "i5"].iter().enumerate() {
            other.record(&mut c, &click(item, i as f64), 10.0).unwrap();
        }
        assert_ne!(a.residual(), c.residual());
        // With no learning, each interaction only decays the residual.
        config.fine_tune.learning_rate = 0.0;
        config.fine_tune.decay = 0.5;
        let decaying = UserModel::from_bundle(&tiny_bundle("1", 30, 8), config).unwrap();
        let r0 = a.residual().to_vec();
        decaying.record(&mut a, &click("i2", 9.0), 10.0).unwrap();
        for (x, y) in a.residual().iter().zip(&r0) {
            assert!((x - 0.5 * y).abs() < 1e-7);
        }
    }

    #[test]
    fn migration_between_bundles() {
        let small =
            UserModel::from_bundle(&tiny_bundle("1", 30, 8), UserConfig::default()).unwrap();
        let mut s = UserState::new();
        for (i, item) in ["i1", "i25", "i28", "i2"].iter().enumerate() {
            small.record(&mut s, &click(item, i as f64), 10.0).unwrap();
        }
        let interests = s.top_categories(5, 10.0);
        // Same model: nothing to do.
        assert_eq!(
            small.migrate(&mut s),
            MigrationReport { kept_items: 4, ..MigrationReport::default() }
        );
        // A new export with fewer items and another dimension.
        let big = UserModel::from_bundle(&tiny_bundle("2", 20, 16), UserConfig::default()).unwrap();
        let e = big.query(&s).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(big.record(&mut s, &click("i3", 5.0), 10.0).is_err());
        let report = big.migrate(&mut s);
        assert_eq!(
            report,
            MigrationReport {
                model_changed: true,
                residual_dropped: true,
                dropped_items: 2,
                kept_items: 2
            }
        );
        assert!(s.residual().is_empty());
        assert_eq!(s.top_categories(5, 10.0), interests);
        assert_eq!(s.model(), Some(big.stamp()));
        assert_eq!(big.query(&s).unwrap().unwrap().len(), 16);
        big.record(&mut s, &click("i3", 5.0), 10.0).unwrap();
        assert_eq!(s.residual().len(), 16);
        assert_eq!(s.counters().migrations, 1);
        assert_eq!(s.counters().dropped_items, 2);
        let again = big.migrate(&mut s);
        assert!(!again.model_changed && !again.residual_dropped && again.dropped_items == 0);
    }

    #[test]
    fn bad_configs_and_bundles_are_errors() {
        let b = tiny_bundle("1", 30, 8);
        let mut c = UserConfig::default();
        c.fine_tune.negatives = 0;
        assert_eq!(UserModel::from_bundle(&b, c).unwrap_err().code(), "INVALID_ARGUMENT");
        // The fixture bundle has no history table.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixture");
        let fixture = Bundle::open(&dir, &LoadOptions::default()).unwrap();
        let e = UserModel::from_bundle(&fixture, UserConfig::default()).unwrap_err();
        assert!(e.to_string().contains(HISTORY_TENSOR), "{e}");
    }
}
