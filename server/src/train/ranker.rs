//! The multi-task ranker, trained with BCE in candle: a shared-bottom MLP (Caruana, "Multitask
//! Learning", 1997) with one sigmoid head per task, or — `--ranker-experts N` — a multi-gate
//! mixture of experts (MMoE; Ma et al., KDD 2018): `N` expert MLPs, one softmax gate per task
//! mixing them, one sigmoid tower per task (the SDK's `compute::Mmoe` runs it).
//!
//! Tasks on MovieLens: `watch` (the user interacted) and `like` (interacted with rating ≥ 4).
//! Both heads are trained over the *entire* sample space — sampled negatives have
//! `watch = like = 0` — so `like` estimates P(watch ∧ like) as in ESMM (Ma et al. SIGIR 2018),
//! avoiding the sample-selection bias of training it on watched items only.
//!
//! Input (`RANKER_INPUT` layout, documented in `models/README.md`):
//! `[q (dim), v (dim), q ⊙ v (dim), popularity, recent popularity, freshness,
//! category one-hot (categories)]`, where `q` is the user tower's output and `v` the item's
//! row of `item_embeddings`; with `--ranker-attention`, then `[a (dim), a ⊙ v (dim)]`: target
//! attention over the user's last `history` items (DIN, Zhou et al. KDD 2018), `a = Σ α_i h_i`,
//! `α = softmax(s · v·h_i)` over the history rows `h_i` of `item_embeddings`, `s` =
//! [`ATTENTION_SCALE`] (the candidate picks the part of the history that speaks for it, where the
//! mean-pooled `q` blurs a mixed history). The SDK computes `a` with its attention-pooling
//! kernel (`compute::pool`, `Pooling::Attention`).
//!
//! Exported tensors: shared bottom — `ranker.w0/b0` (ReLU), `ranker.w1/b1` (ReLU),
//! `ranker.w2/b2` (sigmoid, row 0 = watch, row 1 = like), rows are output neurons (the layout
//! `edgerec::compute::Mlp` loads); MMoE — `ranker.expert{e}.w0/b0/w1/b1` (ReLU),
//! `ranker.gate{t}.w0/b0` (softmax over experts), `ranker.tower{t}.w0/b0` (sigmoid); attention —
//! `ranker.attention_scale` (`[1]`, its presence switches the attention block on).

use super::data::{Catalogue, Interaction};
use super::error::{Result, TrainError};
use super::stats::Stats;
use super::two_tower::TrainedTowers;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use edgerec::bundle::builder::{SourceData, SourceTensor};
use indicatif::ProgressBar;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Hidden widths of the shared bottom.
pub const HIDDEN: [usize; 2] = [64, 32];
/// Rating at or above which an interaction is a "like".
pub const LIKE_RATING: f32 = 4.0;
/// Positives used for training at most (a random subset beyond that keeps training fast).
pub const MAX_POSITIVES: usize = 40_000;
/// Scale `s` of the target attention's dot products: the item embeddings are unit vectors and
/// the towers are trained at temperature ≈ 0.1, so `s = 10` makes `exp(s·v·h)` the towers' own
/// item-to-item affinity.
pub const ATTENTION_SCALE: f32 = 10.0;
/// Output width of each MMoE expert (its hidden layer is [`HIDDEN`]`[0]` wide).
pub const EXPERT_OUT: usize = 32;
/// Tasks (`watch`, `like`).
const TASKS: usize = 2;

/// The ranker's architecture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RankerShape {
    /// Append the target-attention block to the input.
    pub attention: bool,
    /// MMoE experts; 0 is the shared bottom.
    pub experts: usize,
}

/// What the ranker trains on.
#[derive(Debug)]
pub struct RankerInputs<'a> {
    /// Each user's time-ordered interactions.
    pub by_user: &'a [Vec<Interaction>],
    /// The trained towers.
    pub towers: &'a TrainedTowers,
    /// Item statistics.
    pub stats: &'a Stats,
    /// The catalogue.
    pub catalogue: &'a Catalogue,
    /// History length of the user tower (and of the target attention).
    pub history: usize,
    /// The architecture.
    pub shape: RankerShape,
    /// ItemCF neighbour lists, where hard negatives are drawn from.
    pub neighbours: &'a super::i2i::Neighbours,
    /// Share of negatives drawn from the neighbours of the user's history (items the recall
    /// stage would bring, that the user did not take) instead of ∝ popularity^0.75.
    pub hard_negatives: f32,
    /// Share of samples whose history is a bag of the user's other items (earlier or later)
    /// instead of the items just before the positive.
    pub bag_prob: f32,
}

/// Metrics of one ranker epoch (on a 10% holdout of the generated samples).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RankerEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training loss (sum of both tasks' BCE).
    pub train_loss: f32,
    /// Holdout BCE of `watch`.
    pub watch_bce: f32,
    /// Holdout BCE of `like`.
    pub like_bce: f32,
    /// Holdout AUC of `watch`.
    pub watch_auc: f32,
    /// Holdout AUC of `like`.
    pub like_auc: f32,
}

/// One exported tensor: name, shape, values.
type Named = (String, Vec<usize>, Vec<f32>);

/// Trained ranker tensors (weights `[out, in]`, rows = output neurons).
#[derive(Debug, Clone)]
pub struct Ranker {
    tensors: Vec<Named>,
}

impl Ranker {
    /// The `ranker.*` tensors.
    pub fn tensors(&self) -> Vec<SourceTensor> {
        self.tensors
            .iter()
            .map(|(name, shape, data)| SourceTensor {
                name: name.clone(),
                shape: shape.clone(),
                data: SourceData::F32(data.clone()),
            })
            .collect()
    }
}

/// The user tower in f32 on the host: mean of the history rows → MLP → L2 normalize.
pub fn user_vector(t: &TrainedTowers, history: &[u32], dim: usize) -> Vec<f32> {
    let hidden = t.b0.len();
    let mut pooled = vec![0f32; dim];
    for &i in history {
        for (p, x) in pooled.iter_mut().zip(&t.history_embeddings[i as usize * dim..][..dim]) {
            *p += x / history.len() as f32;
        }
    }
    let h: Vec<f32> = (0..hidden)
        .map(|o| {
            let w = &t.w0[o * dim..][..dim];
            (w.iter().zip(&pooled).map(|(a, b)| a * b).sum::<f32>() + t.b0[o]).max(0.0)
        })
        .collect();
    let mut q: Vec<f32> = (0..dim)
        .map(|o| {
            t.w1[o * hidden..][..hidden].iter().zip(&h).map(|(a, b)| a * b).sum::<f32>() + t.b1[o]
        })
        .collect();
    let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    q.iter_mut().for_each(|x| *x /= norm);
    q
}

/// The ranker input row of (user vector `q`, item `item`); with `attention`, the target
/// attention block over `history` (item rows, oldest first) follows.
#[allow(clippy::too_many_arguments)]
pub fn features(
    q: &[f32],
    history: &[u32],
    item: usize,
    towers: &TrainedTowers,
    stats: &Stats,
    catalogue: &Catalogue,
    attention: bool,
    out: &mut Vec<f32>,
) {
    let dim = q.len();
    let row = |i: usize| &towers.item_embeddings[i * dim..][..dim];
    let v = row(item);
    out.extend_from_slice(q);
    out.extend_from_slice(v);
    out.extend(q.iter().zip(v).map(|(a, b)| a * b));
    out.extend([stats.popularity[item], stats.popularity_recent[item], stats.freshness[item]]);
    let start = out.len();
    out.resize(start + catalogue.categories.len(), 0.0);
    for c in &catalogue.items[item].categories {
        out[start + *c as usize] = 1.0;
    }
    if attention {
        let a = target_attention(history.iter().map(|&h| row(h as usize)), v);
        out.extend_from_slice(&a);
        out.extend(a.iter().zip(v).map(|(x, y)| x * y));
    }
}

/// A random neighbour, never taken by the user (`owned`, sorted), of a random history item —
/// up to four history items are tried; `None` when none of them has such a neighbour.
fn hard_negative(
    history: &[u32],
    owned: &[u32],
    neighbours: &super::i2i::Neighbours,
    rng: &mut SmallRng,
) -> Option<usize> {
    for _ in 0..4 {
        let h = *history.get(rng.random_range(0..history.len().max(1)))?;
        let untaken: Vec<u32> = neighbours
            .of(h as usize)
            .map(|(j, _)| j)
            .filter(|j| owned.binary_search(j).is_err())
            .collect();
        if let Some(&j) = untaken.get(rng.random_range(0..untaken.len().max(1))) {
            return Some(j as usize);
        }
    }
    None
}

/// `Σ α_i h_i` with `α = softmax(ATTENTION_SCALE · v·h_i)` (the zero vector for no history) —
/// the SDK's `Pooling::Attention` with unit interaction weights.
fn target_attention<'a>(history: impl Iterator<Item = &'a [f32]> + Clone, v: &[f32]) -> Vec<f32> {
    let logits: Vec<f32> = history
        .clone()
        .map(|h| ATTENTION_SCALE * h.iter().zip(v).map(|(a, b)| a * b).sum::<f32>())
        .collect();
    let mut a = vec![0f32; v.len()];
    let Some(max) = logits.iter().copied().reduce(f32::max) else { return a };
    let weights: Vec<f32> = logits.iter().map(|z| (z - max).exp()).collect();
    let total: f32 = weights.iter().sum();
    for (w, h) in weights.iter().zip(history) {
        for (p, x) in a.iter_mut().zip(h) {
            *p += w / total * x;
        }
    }
    a
}

/// Area under the ROC curve (Mann–Whitney U with average ranks for ties).
pub fn auc(scores: &[f32], labels: &[f32]) -> f32 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let (mut rank_sum, mut pos) = (0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            if labels[idx[k]] > 0.5 {
                rank_sum += avg;
                pos += 1.0;
            }
        }
        i = j + 1;
    }
    let neg = scores.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    ((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)) as f32
}

/// Numerically stable BCE with logits: `max(z, 0) − z·y + ln(1 + e^{−|z|})`, mean.
fn bce(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let l = ((z.relu()? - (z * y)?)? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
    Ok(l.mean_all()?)
}

/// Trains the ranker for `epochs` epochs.
///
/// # Errors
/// [`TrainError::NotEnoughData`] without positives; [`TrainError::Candle`];
/// [`TrainError::Diverged`].
pub fn train(
    inputs: &RankerInputs<'_>,
    epochs: usize,
    seed: u64,
    quiet: bool,
) -> Result<(Ranker, Vec<RankerEpoch>)> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x005e_ed0f_4a4e_4b52);
    let dim = inputs.towers.b1.len();
    let n_items = inputs.catalogue.items.len();
    // Positives: (user, position) with at least one earlier item.
    let mut positives: Vec<(usize, usize)> = inputs
        .by_user
        .iter()
        .enumerate()
        .flat_map(|(u, s)| (1..s.len()).map(move |t| (u, t)))
        .collect();
    positives.shuffle(&mut rng);
    positives.truncate(MAX_POSITIVES);
    if positives.is_empty() {
        return Err(TrainError::NotEnoughData(
            "the ranker needs a user with 2+ interactions".into(),
        ));
    }
    // Negatives ∝ popularity^0.75, one per positive.
    let mut acc = 0f64;
    let cdf: Vec<f64> = inputs
        .stats
        .counts
        .iter()
        .map(|c| {
            acc += f64::from(*c).powf(0.75);
            acc
        })
        .collect();
    // Each user's items, sorted (a hard negative must not be one of them).
    let owned: Vec<Vec<u32>> = inputs
        .by_user
        .iter()
        .map(|s| {
            let mut v: Vec<u32> = s.iter().map(|r| r.item).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for &(u, t) in &positives {
        let seq = &inputs.by_user[u];
        let hist: Vec<u32> = if inputs.bag_prob > 0.0 && rng.random::<f32>() < inputs.bag_prob {
            // A bag: up to `history` of the user's other items, earlier or later (the towers'
            // `--bag-prob`), for protocols where the next item is not the point.
            let others = seq.len() - 1;
            rand::seq::index::sample(&mut rng, others, others.min(inputs.history))
                .into_iter()
                .map(|i| seq[if i >= t { i + 1 } else { i }].item)
                .collect()
        } else {
            seq[t.saturating_sub(inputs.history)..t].iter().map(|r| r.item).collect()
        };
        let q = user_vector(inputs.towers, &hist, dim);
        // (No draw at share 0: the default ranker's samples stay those of earlier releases.)
        let hard = (inputs.hard_negatives > 0.0 && rng.random::<f32>() < inputs.hard_negatives)
            .then(|| hard_negative(&hist, &owned[u], inputs.neighbours, &mut rng))
            .flatten();
        let neg = hard.unwrap_or_else(|| {
            let r = rng.random_range(0.0..acc.max(1e-9));
            cdf.partition_point(|c| *c <= r).min(n_items - 1)
        });
        for item in [seq[t].item as usize, neg] {
            features(
                &q,
                &hist,
                item,
                inputs.towers,
                inputs.stats,
                inputs.catalogue,
                inputs.shape.attention,
                &mut x,
            );
        }
        y.extend([1.0, f32::from(u8::from(seq[t].rating >= LIKE_RATING)), 0.0, 0.0]);
    }
    let rows = y.len() / 2;
    let in_dim = x.len() / rows;
    // rows ≥ 2 (each positive brings a negative).
    let holdout = (rows / 10).clamp(1, rows - 1);
    let train_rows = rows - holdout;
    let dev = Device::Cpu;
    let xs = Tensor::from_vec(x, (rows, in_dim), &dev)?;
    let ys = Tensor::from_vec(y, (rows, 2), &dev)?;
    let net = Net::new(inputs.shape, in_dim, &mut rng)?;
    let mut opt =
        AdamW::new(net.vars(), ParamsAdamW { lr: 2e-3, weight_decay: 1e-4, ..Default::default() })?;
    let batch = 512;
    let mut order: Vec<u32> = (0..train_rows as u32).collect();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((epochs * train_rows.div_ceil(batch)) as u64)
    };
    let hx = xs.narrow(0, train_rows, holdout)?;
    let hy = ys.narrow(0, train_rows, holdout)?;
    let mut log = Vec::new();
    for epoch in 1..=epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut n) = (0f64, 0usize);
        for chunk in order.chunks(batch) {
            let ids = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let z = net.forward(&xs.index_select(&ids, 0)?)?;
            let loss = bce(&z, &ys.index_select(&ids, 0)?)?;
            opt.backward_step(&loss)?;
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                return Err(TrainError::Diverged { epoch, loss: l });
            }
            sum += f64::from(l) * 2.0 * chunk.len() as f64;
            n += chunk.len();
            bar.inc(1);
        }
        let z = net.forward(&hx)?;
        let zs = z.to_vec2::<f32>()?;
        let ls = hy.to_vec2::<f32>()?;
        let col = |m: &[Vec<f32>], c: usize| m.iter().map(|r| r[c]).collect::<Vec<f32>>();
        let e = RankerEpoch {
            epoch,
            train_loss: (sum / n.max(1) as f64) as f32,
            watch_bce: bce(&z.narrow(1, 0, 1)?, &hy.narrow(1, 0, 1)?)?.to_scalar()?,
            like_bce: bce(&z.narrow(1, 1, 1)?, &hy.narrow(1, 1, 1)?)?.to_scalar()?,
            watch_auc: auc(&col(&zs, 0), &col(&ls, 0)),
            like_auc: auc(&col(&zs, 1), &col(&ls, 1)),
        };
        bar.suspend(|| eprintln!(
            "ranker epoch {}: loss {:.4}  holdout watch BCE {:.4} AUC {:.3}  like BCE {:.4} AUC {:.3}",
            e.epoch, e.train_loss, e.watch_bce, e.watch_auc, e.like_bce, e.like_auc
        ));
        log.push(e);
    }
    bar.finish_and_clear();
    let mut tensors = net.export()?;
    if inputs.shape.attention {
        tensors.push(("ranker.attention_scale".into(), vec![1], vec![ATTENTION_SCALE]));
    }
    Ok((Ranker { tensors }, log))
}

/// One dense layer `x·Wᵀ + b` and the names it is exported under.
struct Dense {
    w: Var,
    b: Var,
    prefix: String,
    layer: usize,
}

impl Dense {
    /// Glorot-uniform weights, zero bias.
    fn new(
        rng: &mut SmallRng,
        (n_in, n_out): (usize, usize),
        prefix: &str,
        layer: usize,
    ) -> Result<Self> {
        let dev = Device::Cpu;
        let a = (6.0 / (n_in + n_out) as f32).sqrt();
        let data: Vec<f32> = (0..n_in * n_out).map(|_| rng.random_range(-a..a)).collect();
        Ok(Self {
            w: Var::from_tensor(&Tensor::from_vec(data, (n_out, n_in), &dev)?)?,
            b: Var::from_tensor(&Tensor::zeros(n_out, candle_core::DType::F32, &dev)?)?,
            prefix: prefix.to_string(),
            layer,
        })
    }

    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.w.as_tensor().t()?)?.broadcast_add(self.b.as_tensor())?)
    }

    /// `{prefix}.w{layer}` `[out, in]` and `{prefix}.b{layer}` `[out]`.
    fn export(&self, out: &mut Vec<Named>) -> Result<()> {
        let (rows, cols) = self.w.as_tensor().dims2()?;
        let w = self.w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        out.push((format!("{}.w{}", self.prefix, self.layer), vec![rows, cols], w));
        let b = self.b.as_tensor().to_vec1::<f32>()?;
        out.push((format!("{}.b{}", self.prefix, self.layer), vec![rows], b));
        Ok(())
    }
}

/// The network: a shared-bottom MLP, or MMoE experts, per-task gates and per-task towers.
enum Net {
    Shared(Vec<Dense>),
    Mmoe { experts: Vec<[Dense; 2]>, gates: Vec<Dense>, towers: Vec<Dense> },
}

impl Net {
    fn new(shape: RankerShape, in_dim: usize, rng: &mut SmallRng) -> Result<Self> {
        if shape.experts == 0 {
            let dims = [in_dim, HIDDEN[0], HIDDEN[1], TASKS];
            let layers = dims
                .windows(2)
                .enumerate()
                .map(|(l, w)| Dense::new(rng, (w[0], w[1]), "ranker", l))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Self::Shared(layers));
        }
        let experts = (0..shape.experts)
            .map(|e| {
                let prefix = format!("ranker.expert{e}");
                Ok([
                    Dense::new(rng, (in_dim, HIDDEN[0]), &prefix, 0)?,
                    Dense::new(rng, (HIDDEN[0], EXPERT_OUT), &prefix, 1)?,
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        let gates = (0..TASKS)
            .map(|t| Dense::new(rng, (in_dim, shape.experts), &format!("ranker.gate{t}"), 0))
            .collect::<Result<Vec<_>>>()?;
        let towers = (0..TASKS)
            .map(|t| Dense::new(rng, (EXPERT_OUT, 1), &format!("ranker.tower{t}"), 0))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::Mmoe { experts, gates, towers })
    }

    fn layers(&self) -> Vec<&Dense> {
        match self {
            Self::Shared(layers) => layers.iter().collect(),
            Self::Mmoe { experts, gates, towers } => {
                experts.iter().flatten().chain(gates).chain(towers).collect()
            }
        }
    }

    fn vars(&self) -> Vec<Var> {
        self.layers().into_iter().flat_map(|d| [d.w.clone(), d.b.clone()]).collect()
    }

    /// Logits `[batch, tasks]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Shared(layers) => {
                let mut h = x.clone();
                for (l, layer) in layers.iter().enumerate() {
                    h = layer.apply(&h)?;
                    if l + 1 < layers.len() {
                        h = h.relu()?;
                    }
                }
                Ok(h)
            }
            Self::Mmoe { experts, gates, towers } => {
                let outs = experts
                    .iter()
                    .map(|[a, b]| Ok(b.apply(&a.apply(x)?.relu()?)?.relu()?))
                    .collect::<Result<Vec<_>>>()?;
                // [batch, experts, EXPERT_OUT]
                let stacked = Tensor::stack(&outs, 1)?;
                let logits = gates
                    .iter()
                    .zip(towers)
                    .map(|(gate, tower)| {
                        let g = candle_nn::ops::softmax_last_dim(&gate.apply(x)?)?;
                        let mixed = stacked.broadcast_mul(&g.unsqueeze(2)?)?.sum(1)?;
                        tower.apply(&mixed)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Tensor::cat(&logits, 1)?)
            }
        }
    }

    fn export(&self) -> Result<Vec<Named>> {
        let mut out = Vec::new();
        for layer in self.layers() {
            layer.export(&mut out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_negatives_are_neighbours_of_the_history_the_user_never_took() {
        use super::super::i2i::Neighbours;
        use edgerec::bundle::manifest::NO_NEIGHBOR;
        // Item 0's neighbours: 1 and 2; item 3 has none.
        let nb = Neighbours {
            k: 2,
            ids: vec![1, 2, 0, 2, 0, 1, NO_NEIGHBOR, NO_NEIGHBOR],
            scores: vec![1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 0.0, 0.0],
        };
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..20 {
            assert_eq!(hard_negative(&[0], &[0, 1], &nb, &mut rng), Some(2));
        }
        assert_eq!(hard_negative(&[3], &[3], &nb, &mut rng), None, "no neighbours");
        assert_eq!(hard_negative(&[0], &[0, 1, 2], &nb, &mut rng), None, "all taken");
        assert_eq!(hard_negative(&[], &[], &nb, &mut rng), None, "no history");
    }

    #[test]
    fn target_attention_weights_the_history_by_similarity() {
        let (h0, h1) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        let a = target_attention([&h0[..], &h1[..]].into_iter(), &[1.0, 0.0]);
        let w0 = 1.0 / (1.0 + (-ATTENTION_SCALE).exp());
        assert!((a[0] - w0).abs() < 1e-6 && (a[1] - (1.0 - w0)).abs() < 1e-6, "{a:?}");
        assert_eq!(target_attention(std::iter::empty(), &[1.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn auc_of_perfect_and_reversed_scores() {
        assert_eq!(auc(&[0.1, 0.2, 0.9, 0.8], &[0.0, 0.0, 1.0, 1.0]), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.1, 0.2], &[0.0, 0.0, 1.0, 1.0]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), 0.5);
    }
}
