//! Two-tower retrieval trained with candle (CPU autodiff).
//!
//! * **User tower** — the browser recomputes it from its own clicks, so it sees only the last
//!   `N` item ids: `q = normalize(W1 · relu(W0 · mean_{last N} H[item] + b0) + b1)`, where `H`
//!   is a history embedding table (`user_tower.history_embeddings`). Pooling is a plain mean
//!   (YouTube DNN, Covington et al. RecSys 2016), so a brand-new user with one click has a
//!   query vector too.
//! * **Item tower** — `v = normalize(E[item] + mean_{c ∈ categories(item)} C[c])`: an id
//!   embedding plus the mean of its category embeddings. Its output for every item is the
//!   recall index (`item_embeddings`).
//! * **Loss** — sampled softmax over `B` in-batch targets plus `M` shared negatives drawn
//!   ∝ popularity^0.75 (mixed negative sampling, Yang et al. WWW 2020), with the logQ
//!   sampling-bias correction of Yi et al. (RecSys 2019): every logit `s(u, j)/τ` is reduced
//!   by `log E[count of j among the candidates] = log(B·p_target(j) + M·p_neg(j))`.
//!   Accidental hits (the row's own target appearing as another column) are masked out.
//! * **Where `B·p_target` comes from** ([`LogqFrequencies`]) — `exact`: the whole training set
//!   is known, so its exact frequencies, and the batches are shuffled each epoch. `streaming`:
//!   Yi et al. estimate `p_target` with a streaming sketch because their data never stops and
//!   drifts ([`super::frequency`], their Algorithms 2–3); the batches then follow the stream —
//!   training pairs in the time order of their targets ([`BatchOrder::Time`]), every epoch a
//!   replay of it with the sketch carried on — and each batch's targets are fed to the sketch
//!   *before* the batch's logQ terms are read (their Algorithm 1 "obtains the estimated sampling
//!   probability" of the batch from the sketch updated with it; a target seen for the first time
//!   thus has an estimate). The sketch counts occurrences per batch step, so `1/δ` replaces
//!   `B·p_target` directly. `M·p_neg` stays exact in both: it is this sampler's own law.
//!
//! Training samples are (history, next item) pairs from each user's time-ordered sequence:
//! the target is the item at position `t`, the history the `N` items before `t − δ`, with
//! `δ` drawn in `0..=horizon` each epoch, so the model learns to predict the *near future*
//! rather than only the very next click (the temporal split scores a window of future items).

use super::error::{Result, TrainError};
use super::frequency::{FrequencyEstimator, StreamingConfig};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Where the logQ correction's target frequencies come from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogqFrequencies {
    /// Exact frequencies of the targets over the whole training set.
    Exact,
    /// Yi et al.'s streaming estimate (`train::frequency`), updated batch by batch.
    Streaming,
}

/// Order of the training pairs within an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BatchOrder {
    /// A fresh shuffle every epoch (i.i.d. batches).
    Shuffled,
    /// The time order of the targets (ties: user, then position), every epoch: the stream.
    Time,
}

/// Hyper-parameters of the two-tower model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TowerConfig {
    /// Embedding dimension.
    pub dim: usize,
    /// Hidden units of the user tower.
    pub hidden: usize,
    /// History length `N` the user tower pools.
    pub history: usize,
    /// Batch size `B` (in-batch negatives).
    pub batch: usize,
    /// Extra negatives `M` per batch, sampled ∝ popularity^`neg_power`.
    pub negatives: usize,
    /// Exponent of the negative sampler (word2vec's 0.75, Mikolov et al. 2013).
    pub neg_power: f64,
    /// Softmax temperature τ.
    pub temperature: f32,
    /// Weight α of the logQ correction: logits are reduced by `α · log Q(j)` while training.
    /// α = 1 is Yi et al.'s correction: the model then estimates the full softmax, whose
    /// serving score `s(u, j)` already carries item j's popularity (no per-item bias exists in
    /// the cosine index). α = 0 trains against popularity-sampled negatives uncorrected, which
    /// pushes popular items down and the lists into the long tail. α > 1 learns
    /// `s ≈ log p(j | u) + (α − 1) · log Q(j)`, i.e. puts a popularity prior into the
    /// embeddings — the serving-side `β · log pop` term, folded into training. Picked on a
    /// validation split (`models/movielens-small/MODEL_CARD.md`).
    pub logq_weight: f32,
    /// Source of `p_target` in the logQ correction.
    pub logq_frequencies: LogqFrequencies,
    /// The streaming sketch's settings (used with [`LogqFrequencies::Streaming`]).
    pub frequency: StreamingConfig,
    /// Order of the training pairs.
    pub batch_order: BatchOrder,
    /// Adam learning rate.
    pub lr: f64,
    /// Decoupled weight decay (Loshchilov & Hutter, ICLR 2019).
    pub weight_decay: f64,
    /// Epochs.
    pub epochs: usize,
    /// Largest history offset δ (0 = next-item only).
    pub horizon: usize,
    /// Share of training pairs whose history is a random sample of the user's *other* items
    /// (before and after the target, up to `history` of them) instead of the items before it:
    /// the "predict a held-out item from the rest of the profile" task of a random split,
    /// next to the sequential one (0 = sequential only).
    pub bag_prob: f32,
    /// Seed of initialization, shuffling and sampling.
    pub seed: u64,
}

impl Default for TowerConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            hidden: 128,
            history: 50,
            batch: 512,
            negatives: 512,
            neg_power: 0.75,
            temperature: 0.1,
            logq_weight: 1.5,
            logq_frequencies: LogqFrequencies::Exact,
            frequency: StreamingConfig::default(),
            batch_order: BatchOrder::Shuffled,
            lr: 3e-3,
            weight_decay: 1e-4,
            epochs: 10,
            horizon: 8,
            bag_prob: 1.0,
            seed: 42,
        }
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f32,
    /// Fraction of rows whose target has the top logit among the batch's candidates.
    pub batch_accuracy: f32,
    /// Next-item hit rate @20 over the full catalogue on a fixed sample of training pairs
    /// (a fit check, not a held-out metric: `edgerec eval` is the held-out one).
    pub train_hr_at_20: f32,
    /// Seconds this epoch took.
    pub seconds: f32,
    /// With [`LogqFrequencies::Streaming`]: the sketch's error at the end of the epoch against
    /// the exact frequencies of the whole training set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logq_estimate: Option<EstimateError>,
}

/// Error of the streaming estimate of `B·p_target(j)` against `B · count(j) / total`, over the
/// items that are targets of some training pair.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EstimateError {
    /// Mean over items of `|estimate − exact| / exact`.
    pub mean_relative: f32,
    /// The same, weighted by each item's count (the error an average training pair sees).
    pub weighted_relative: f32,
}

impl EstimateError {
    /// Compares `sketch` with the exact per-batch counts `batch · counts / total`.
    pub fn of(sketch: &FrequencyEstimator, counts: &[f64], batch: usize) -> Self {
        let total: f64 = counts.iter().sum();
        let (mut sum, mut weighted, mut items) = (0f64, 0f64, 0usize);
        for (j, &c) in counts.iter().enumerate().filter(|(_, c)| **c > 0.0) {
            let exact = batch as f64 * c / total;
            let rel = (sketch.probability(j as u64) - exact).abs() / exact;
            sum += rel;
            weighted += rel * c;
            items += 1;
        }
        Self {
            mean_relative: (sum / items.max(1) as f64) as f32,
            weighted_relative: (weighted / total.max(1.0)) as f32,
        }
    }
}

/// The trained towers, as plain f32 arrays ready for export (row-major, rows = outputs).
#[derive(Debug, Clone)]
pub struct TrainedTowers {
    /// Normalized item-tower output `[items, dim]`.
    pub item_embeddings: Vec<f32>,
    /// History table `H` `[items, dim]`.
    pub history_embeddings: Vec<f32>,
    /// Category embeddings `C` `[categories, dim]` (for cold-start items).
    pub category_embeddings: Vec<f32>,
    /// `W0` `[hidden, dim]`.
    pub w0: Vec<f32>,
    /// `b0` `[hidden]`.
    pub b0: Vec<f32>,
    /// `W1` `[dim, hidden]`.
    pub w1: Vec<f32>,
    /// `b1` `[dim]`.
    pub b1: Vec<f32>,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochMetrics>,
}

struct Model {
    id_emb: Var,
    cat_emb: Var,
    hist_emb: Var,
    w0: Var,
    b0: Var,
    w1: Var,
    b1: Var,
    /// `[items, categories]` row-normalized multi-hot (constant).
    cat_matrix: Tensor,
}

fn uniform(rng: &mut SmallRng, n: usize, a: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-a..a)).collect()
}

fn var(data: Vec<f32>, shape: &[usize]) -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)?)
}

fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.affine(1.0, 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

impl Model {
    fn new(
        cfg: &TowerConfig,
        n_items: usize,
        item_categories: &[Vec<u32>],
        n_cats: usize,
        rng: &mut SmallRng,
    ) -> Result<Self> {
        let (d, h) = (cfg.dim, cfg.hidden);
        let n_cats = n_cats.max(1);
        let mut cm = vec![0f32; n_items * n_cats];
        for (r, cats) in item_categories.iter().enumerate() {
            for c in cats {
                cm[r * n_cats + *c as usize] = 1.0 / cats.len() as f32;
            }
        }
        // Glorot/Xavier uniform for the dense layers (Glorot & Bengio, AISTATS 2010); small
        // uniform embeddings.
        let xavier = |i: usize, o: usize| (6.0 / (i + o) as f32).sqrt();
        Ok(Self {
            id_emb: var(uniform(rng, n_items * d, 0.1), &[n_items, d])?,
            cat_emb: var(uniform(rng, n_cats * d, 0.1), &[n_cats, d])?,
            hist_emb: var(uniform(rng, n_items * d, 0.1), &[n_items, d])?,
            w0: var(uniform(rng, h * d, xavier(d, h)), &[h, d])?,
            b0: var(vec![0.0; h], &[h])?,
            w1: var(uniform(rng, d * h, xavier(h, d)), &[d, h])?,
            b1: var(vec![0.0; d], &[d])?,
            cat_matrix: Tensor::from_vec(cm, &[n_items, n_cats], &Device::Cpu)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        [&self.id_emb, &self.cat_emb, &self.hist_emb, &self.w0, &self.b0, &self.w1, &self.b1]
            .into_iter()
            .cloned()
            .collect()
    }

    /// Item tower for `items` → `[len, dim]`, L2-normalized.
    fn items(&self, items: &Tensor) -> Result<Tensor> {
        let id = self.id_emb.as_tensor().index_select(items, 0)?;
        let cats = self.cat_matrix.index_select(items, 0)?.matmul(self.cat_emb.as_tensor())?;
        l2_normalize(&(id + cats)?)
    }

    /// User tower: `hist` `[B·N]` ids, `weights` `[B, N, 1]` (rows sum to 1, or 0 when empty).
    fn users(&self, hist: &Tensor, weights: &Tensor, b: usize, n: usize) -> Result<Tensor> {
        let d = self.b1.as_tensor().dims1()?;
        let e = self.hist_emb.as_tensor().index_select(hist, 0)?.reshape((b, n, d))?;
        let pooled = e.broadcast_mul(weights)?.sum(1)?;
        let h = pooled.matmul(&self.w0.as_tensor().t()?)?.broadcast_add(self.b0.as_tensor())?;
        let u = h.relu()?.matmul(&self.w1.as_tensor().t()?)?.broadcast_add(self.b1.as_tensor())?;
        l2_normalize(&u)
    }
}

/// Cumulative distribution ∝ `count^power` for sampling with a binary search.
fn cumulative(counts: &[f64], power: f64) -> Vec<f64> {
    let mut acc = 0.0;
    counts
        .iter()
        .map(|c| {
            acc += c.powf(power);
            acc
        })
        .collect()
}

fn sample(cdf: &[f64], rng: &mut SmallRng) -> u32 {
    let total = *cdf.last().unwrap_or(&1.0);
    let x = rng.random_range(0.0..total);
    cdf.partition_point(|c| *c <= x).min(cdf.len().saturating_sub(1)) as u32
}

/// Builds the padded history ids and pooling weights of one batch.
fn histories(seqs: &[Vec<u32>], pairs: &[(u32, u32, u32)], n: usize) -> (Vec<u32>, Vec<f32>) {
    histories_mixed(seqs, pairs, n, &[], None)
}

/// [`histories`], where a pair flagged in `bag` gets up to `n` of the user's other items
/// (every position but the target's, sampled with `rng`) as its history.
fn histories_mixed(
    seqs: &[Vec<u32>],
    pairs: &[(u32, u32, u32)],
    n: usize,
    bag: &[bool],
    mut rng: Option<&mut SmallRng>,
) -> (Vec<u32>, Vec<f32>) {
    let mut ids = vec![0u32; pairs.len() * n];
    let mut w = vec![0f32; pairs.len() * n];
    for (b, (u, t, end)) in pairs.iter().enumerate() {
        let seq = &seqs[*u as usize];
        if let (true, Some(rng)) = (bag.get(b).copied().unwrap_or(false), rng.as_deref_mut()) {
            let (t, others) = (*t as usize, seq.len() - 1);
            let k = others.min(n);
            for (j, i) in rand::seq::index::sample(rng, others, k).into_iter().enumerate() {
                ids[b * n + j] = seq[if i >= t { i + 1 } else { i }];
                w[b * n + j] = 1.0 / k as f32;
            }
            continue;
        }
        let end = *end as usize;
        let start = end.saturating_sub(n);
        let len = end - start;
        for (j, item) in seq[start..end].iter().enumerate() {
            ids[b * n + j] = *item;
            w[b * n + j] = 1.0 / len as f32;
        }
    }
    (ids, w)
}

/// Sorts (user, position) pairs by the time of their target; ties by user, then position.
fn time_order(pairs: &mut [(u32, u32)], times: &[Vec<i64>]) {
    pairs.sort_by_key(|&(u, t)| (times[u as usize][t as usize], u, t));
}

/// Trains the towers on per-user, time-ordered item sequences (catalogue rows); `times` holds
/// each interaction's timestamp, in the same shape (used by [`BatchOrder::Time`]).
///
/// # Errors
/// [`TrainError::NotEnoughData`] when no user has two interactions,
/// [`TrainError::InvalidArgument`] when `times` is not shaped like `seqs`,
/// [`TrainError::Frequency`] for bad sketch settings, [`TrainError::Diverged`],
/// [`TrainError::Candle`].
pub fn train(
    cfg: &TowerConfig,
    seqs: &[Vec<u32>],
    times: &[Vec<i64>],
    n_items: usize,
    item_categories: &[Vec<u32>],
    n_cats: usize,
    quiet: bool,
) -> Result<TrainedTowers> {
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    // (user, target position) for every position with at least one earlier item.
    let positions: Vec<(u32, u32)> = seqs
        .iter()
        .enumerate()
        .flat_map(|(u, s)| (1..s.len()).map(move |t| (u as u32, t as u32)))
        .collect();
    if positions.len() < 2 {
        return Err(TrainError::NotEnoughData(format!(
            "the two-tower model needs at least 2 (history, next item) pairs, found {} \
             (users need 2+ interactions)",
            positions.len()
        )));
    }
    if times.len() != seqs.len() || times.iter().zip(seqs).any(|(t, s)| t.len() != s.len()) {
        return Err(TrainError::InvalidArgument {
            name: "batch-order",
            reason: "the timestamps are not shaped like the item sequences".into(),
        });
    }
    let mut sketch = match cfg.logq_frequencies {
        LogqFrequencies::Exact => None,
        LogqFrequencies::Streaming => Some(FrequencyEstimator::new(cfg.frequency)?),
    };
    let mut counts = vec![0f64; n_items];
    for &(u, t) in &positions {
        counts[seqs[u as usize][t as usize] as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let neg_weights: Vec<f64> = counts.iter().map(|c| c.powf(cfg.neg_power)).collect();
    let neg_total: f64 = neg_weights.iter().sum();
    let cdf = cumulative(&counts, cfg.neg_power);
    let batch = cfg.batch.min(positions.len()).max(2);
    let model = Model::new(cfg, n_items, item_categories, n_cats, &mut rng)?;
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() },
    )?;
    // Fixed fit-check sample.
    let mut probe: Vec<(u32, u32)> = positions.clone();
    probe.shuffle(&mut rng);
    probe.truncate(512);

    let steps = positions.len().div_ceil(batch);
    let bar =
        if quiet { ProgressBar::hidden() } else { ProgressBar::new((steps * cfg.epochs) as u64) };
    bar.set_style(
        ProgressStyle::with_template("two-tower {bar:30} {pos}/{len} steps, {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut order = positions.clone();
    if cfg.batch_order == BatchOrder::Time {
        time_order(&mut order, times);
    }
    let mut epochs = Vec::new();
    for epoch in 1..=cfg.epochs {
        let started = std::time::Instant::now();
        if cfg.batch_order == BatchOrder::Shuffled {
            order.shuffle(&mut rng);
        }
        let (mut loss_sum, mut acc_sum, mut rows) = (0f64, 0f64, 0usize);
        for chunk in order.chunks(batch) {
            if chunk.len() < 2 {
                continue;
            }
            let b = chunk.len();
            let pairs: Vec<(u32, u32, u32)> = chunk
                .iter()
                .map(|&(u, t)| {
                    let delta = rng.random_range(0..=cfg.horizon.min(t as usize - 1)) as u32;
                    (u, t, t - delta)
                })
                .collect();
            let targets: Vec<u32> =
                pairs.iter().map(|&(u, t, _)| seqs[u as usize][t as usize]).collect();
            if let Some(s) = sketch.as_mut() {
                s.observe_batch(targets.iter().map(|&j| u64::from(j)));
            }
            let mut cands = targets.clone();
            cands.extend((0..cfg.negatives).map(|_| sample(&cdf, &mut rng)));
            let m = cands.len();
            // logQ correction + accidental-hit mask, on the host.
            let mut bias = vec![0f32; b * m];
            let log_q: Vec<f32> = cands
                .iter()
                .map(|&j| {
                    let j = j as usize;
                    let in_batch = match &sketch {
                        Some(s) => s.probability(j as u64),
                        None => b as f64 * counts[j] / total,
                    };
                    let q = in_batch + cfg.negatives as f64 * neg_weights[j] / neg_total;
                    cfg.logq_weight * q.max(1e-12).ln() as f32
                })
                .collect();
            for r in 0..b {
                for (c, &j) in cands.iter().enumerate() {
                    bias[r * m + c] = if c != r && j == targets[r] { -1e4 } else { -log_q[c] };
                }
            }
            // No draws at all when off, so a sequential-only recipe keeps its random stream.
            let bag: Vec<bool> = if cfg.bag_prob > 0.0 {
                (0..b).map(|_| rng.random::<f32>() < cfg.bag_prob).collect()
            } else {
                Vec::new()
            };
            let (hist, w) = histories_mixed(seqs, &pairs, cfg.history, &bag, Some(&mut rng));
            let dev = Device::Cpu;
            let hist = Tensor::from_vec(hist, b * cfg.history, &dev)?;
            let w = Tensor::from_vec(w, (b, cfg.history, 1), &dev)?;
            let u = model.users(&hist, &w, b, cfg.history)?;
            let v = model.items(&Tensor::from_vec(cands, m, &dev)?)?;
            let logits = (u.matmul(&v.t()?)? / f64::from(cfg.temperature))?;
            let logits = (logits + Tensor::from_vec(bias, (b, m), &dev)?)?;
            let labels = Tensor::arange(0u32, b as u32, &dev)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
            opt.backward_step(&loss)?;
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                return Err(TrainError::Diverged { epoch, loss: l });
            }
            let argmax = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            acc_sum += argmax.iter().enumerate().filter(|(i, a)| **a as usize == *i).count() as f64;
            loss_sum += f64::from(l) * b as f64;
            rows += b;
            bar.inc(1);
        }
        let hr = probe_hit_rate(&model, cfg, seqs, &probe)?;
        let m = EpochMetrics {
            epoch,
            loss: (loss_sum / rows.max(1) as f64) as f32,
            batch_accuracy: (acc_sum / rows.max(1) as f64) as f32,
            train_hr_at_20: hr,
            seconds: started.elapsed().as_secs_f32(),
            logq_estimate: sketch.as_ref().map(|s| EstimateError::of(s, &counts, batch)),
        };
        let sketch_error = m.logq_estimate.map_or(String::new(), |e| {
            format!(
                "  logQ sketch error {:.3} (weighted {:.3})",
                e.mean_relative, e.weighted_relative
            )
        });
        bar.suspend(|| {
            eprintln!(
                "epoch {:>2}: loss {:.4}  batch acc {:.3}  train HR@20 {:.3}{sketch_error}  \
                 ({:.1}s)",
                m.epoch, m.loss, m.batch_accuracy, m.train_hr_at_20, m.seconds
            )
        });
        epochs.push(m);
    }
    bar.finish_and_clear();
    export(&model, n_items, epochs)
}

/// Next-item HR@20 of the probe pairs over the whole catalogue.
fn probe_hit_rate(
    model: &Model,
    cfg: &TowerConfig,
    seqs: &[Vec<u32>],
    probe: &[(u32, u32)],
) -> Result<f32> {
    let dev = Device::Cpu;
    let n_items = model.id_emb.as_tensor().dims2()?.0;
    let all = model.items(&Tensor::arange(0u32, n_items as u32, &dev)?)?;
    let pairs: Vec<(u32, u32, u32)> = probe.iter().map(|&(u, t)| (u, t, t)).collect();
    let (hist, w) = histories(seqs, &pairs, cfg.history);
    let b = pairs.len();
    let u = model.users(
        &Tensor::from_vec(hist, b * cfg.history, &dev)?,
        &Tensor::from_vec(w, (b, cfg.history, 1), &dev)?,
        b,
        cfg.history,
    )?;
    let scores = u.matmul(&all.t()?)?.to_vec2::<f32>()?;
    let mut hits = 0usize;
    for (row, &(uu, t, _)) in scores.iter().zip(&pairs) {
        let target = seqs[uu as usize][t as usize] as usize;
        let s = row[target];
        let better = row.iter().filter(|x| **x > s).count();
        hits += usize::from(better < 20);
    }
    Ok(hits as f32 / b.max(1) as f32)
}

fn export(model: &Model, n_items: usize, epochs: Vec<EpochMetrics>) -> Result<TrainedTowers> {
    let flat =
        |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?) };
    let all = model.items(&Tensor::arange(0u32, n_items as u32, &Device::Cpu)?)?;
    Ok(TrainedTowers {
        item_embeddings: flat(&all)?,
        history_embeddings: flat(model.hist_emb.as_tensor())?,
        category_embeddings: flat(model.cat_emb.as_tensor())?,
        w0: flat(model.w0.as_tensor())?,
        b0: flat(model.b0.as_tensor())?,
        w1: flat(model.w1.as_tensor())?,
        b1: flat(model.b1.as_tensor())?,
        epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_follows_the_weights() {
        let cdf = cumulative(&[0.0, 1.0, 0.0, 3.0], 1.0);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seen = [0usize; 4];
        for _ in 0..4000 {
            seen[sample(&cdf, &mut rng) as usize] += 1;
        }
        assert_eq!((seen[0], seen[2]), (0, 0));
        assert!(seen[3] > 2 * seen[1], "{seen:?}");
    }

    #[test]
    fn histories_pad_and_average() {
        let seqs = vec![vec![5, 6, 7]];
        let (ids, w) = histories(&seqs, &[(0, 2, 2)], 4);
        assert_eq!(ids, [5, 6, 0, 0]);
        assert_eq!(w, [0.5, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn time_order_follows_the_targets_timestamps() {
        let times = vec![vec![5, 30, 40], vec![10, 20, 20]];
        let mut pairs = vec![(0, 1), (0, 2), (1, 1), (1, 2)];
        time_order(&mut pairs, &times);
        assert_eq!(pairs, [(1, 1), (1, 2), (0, 1), (0, 2)]);
    }

    fn tiny(source: LogqFrequencies, order: BatchOrder) -> TowerConfig {
        TowerConfig {
            dim: 8,
            hidden: 8,
            history: 4,
            batch: 4,
            negatives: 4,
            epochs: 2,
            logq_frequencies: source,
            batch_order: order,
            frequency: StreamingConfig { buckets: 64, ..StreamingConfig::default() },
            ..TowerConfig::default()
        }
    }

    #[test]
    fn streaming_logq_trains_reproducibly_and_reports_the_sketch_error() {
        let seqs: Vec<Vec<u32>> =
            vec![vec![0, 1, 2, 3, 4, 5], vec![1, 2, 3, 1, 2, 3], vec![5, 4, 3, 2, 1, 0]];
        let times: Vec<Vec<i64>> = (0..3).map(|u| (0..6).map(|t| 100 * t + u).collect()).collect();
        let cats = vec![Vec::new(); 6];
        let cfg = tiny(LogqFrequencies::Streaming, BatchOrder::Time);
        let a = train(&cfg, &seqs, &times, 6, &cats, 0, true).unwrap();
        let b = train(&cfg, &seqs, &times, 6, &cats, 0, true).unwrap();
        assert_eq!(a.item_embeddings, b.item_embeddings);
        for e in &a.epochs {
            let err = e.logq_estimate.expect("a streaming epoch reports the sketch error");
            assert!(err.mean_relative.is_finite() && err.weighted_relative >= 0.0, "{err:?}");
        }
        assert!(a.item_embeddings.iter().all(|x| x.is_finite()));
        // The estimate changes the logQ terms, so the model, against exact frequencies in
        // the same order.
        let exact = tiny(LogqFrequencies::Exact, BatchOrder::Time);
        let c = train(&exact, &seqs, &times, 6, &cats, 0, true).unwrap();
        assert!(c.epochs.iter().all(|e| e.logq_estimate.is_none()));
        assert_ne!(a.item_embeddings, c.item_embeddings);
        // Timestamps must line up with the items.
        let err = train(&cfg, &seqs, &times[..2], 6, &cats, 0, true).unwrap_err();
        assert!(matches!(err, TrainError::InvalidArgument { .. }), "{err}");
        let bad = TowerConfig {
            frequency: StreamingConfig { alpha: 0.0, ..cfg.frequency },
            ..cfg.clone()
        };
        let err = train(&bad, &seqs, &times, 6, &cats, 0, true).unwrap_err();
        assert!(matches!(err, TrainError::Frequency(_)), "{err}");
    }

    #[test]
    fn bag_histories_leave_the_target_out() {
        let seqs = vec![vec![5, 6, 7, 8]];
        let mut rng = SmallRng::seed_from_u64(3);
        let (ids, w) = histories_mixed(&seqs, &[(0, 1, 1)], 4, &[true], Some(&mut rng));
        let mut got = ids[..3].to_vec();
        got.sort_unstable();
        assert_eq!(got, [5, 7, 8]);
        assert_eq!((ids[3], w[3]), (0, 0.0));
        assert!(w[..3].iter().all(|x| (*x - 1.0 / 3.0).abs() < 1e-6));
    }
}
