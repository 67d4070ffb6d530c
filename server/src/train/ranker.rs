//! The multi-task ranker: a shared-bottom MLP (Caruana, "Multitask Learning", 1997) with one
//! sigmoid head per task, trained with BCE in candle.
//!
//! Tasks on MovieLens: `watch` (the user interacted) and `like` (interacted with rating ≥ 4).
//! Both heads are trained over the *entire* sample space — sampled negatives have
//! `watch = like = 0` — so `like` estimates P(watch ∧ like) as in ESMM (Ma et al. SIGIR 2018),
//! avoiding the sample-selection bias of training it on watched items only.
//!
//! Input (`RANKER_INPUT` layout, documented in `models/README.md`):
//! `[q (dim), v (dim), q ⊙ v (dim), popularity, recent popularity, freshness,
//! category one-hot (categories)]`, where `q` is the user tower's output and `v` the item's
//! row of `item_embeddings`. Exported layers: `ranker.w0/b0` (ReLU), `ranker.w1/b1` (ReLU),
//! `ranker.w2/b2` (sigmoid, row 0 = watch, row 1 = like) — rows are output neurons, the layout
//! `edgerec::compute::Mlp` loads.

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
    /// History length of the user tower.
    pub history: usize,
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

/// Trained ranker weights, rows = output neurons.
#[derive(Debug, Clone)]
pub struct Ranker {
    /// `(weights [out, in], bias [out])` per layer.
    pub layers: Vec<(Vec<f32>, Vec<f32>, usize, usize)>,
}

impl Ranker {
    /// The `ranker.*` tensors.
    pub fn tensors(&self) -> Vec<SourceTensor> {
        let mut out = Vec::new();
        for (l, (w, b, o, i)) in self.layers.iter().enumerate() {
            out.push(SourceTensor {
                name: format!("ranker.w{l}"),
                shape: vec![*o, *i],
                data: SourceData::F32(w.clone()),
            });
            out.push(SourceTensor {
                name: format!("ranker.b{l}"),
                shape: vec![*o],
                data: SourceData::F32(b.clone()),
            });
        }
        out
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

/// The ranker input row of (user vector `q`, item `item`).
pub fn features(
    q: &[f32],
    item: usize,
    towers: &TrainedTowers,
    stats: &Stats,
    catalogue: &Catalogue,
    out: &mut Vec<f32>,
) {
    let dim = q.len();
    let v = &towers.item_embeddings[item * dim..][..dim];
    out.extend_from_slice(q);
    out.extend_from_slice(v);
    out.extend(q.iter().zip(v).map(|(a, b)| a * b));
    out.extend([stats.popularity[item], stats.popularity_recent[item], stats.freshness[item]]);
    let start = out.len();
    out.resize(start + catalogue.categories.len(), 0.0);
    for c in &catalogue.items[item].categories {
        out[start + *c as usize] = 1.0;
    }
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
    let mut x = Vec::new();
    let mut y = Vec::new();
    for &(u, t) in &positives {
        let seq = &inputs.by_user[u];
        let hist: Vec<u32> =
            seq[t.saturating_sub(inputs.history)..t].iter().map(|r| r.item).collect();
        let q = user_vector(inputs.towers, &hist, dim);
        features(&q, seq[t].item as usize, inputs.towers, inputs.stats, inputs.catalogue, &mut x);
        y.extend([1.0, f32::from(u8::from(seq[t].rating >= LIKE_RATING))]);
        let r = rng.random_range(0.0..acc.max(1e-9));
        let neg = cdf.partition_point(|c| *c <= r).min(n_items - 1);
        features(&q, neg, inputs.towers, inputs.stats, inputs.catalogue, &mut x);
        y.extend([0.0, 0.0]);
    }
    let rows = y.len() / 2;
    let in_dim = x.len() / rows;
    // rows ≥ 2 (each positive brings a negative).
    let holdout = (rows / 10).clamp(1, rows - 1);
    let train_rows = rows - holdout;
    let dev = Device::Cpu;
    let xs = Tensor::from_vec(x, (rows, in_dim), &dev)?;
    let ys = Tensor::from_vec(y, (rows, 2), &dev)?;
    let dims = [in_dim, HIDDEN[0], HIDDEN[1], 2];
    let mut vars = Vec::new();
    for w in dims.windows(2) {
        let a = (6.0 / (w[0] + w[1]) as f32).sqrt();
        let data: Vec<f32> = (0..w[0] * w[1]).map(|_| rng.random_range(-a..a)).collect();
        vars.push(Var::from_tensor(&Tensor::from_vec(data, (w[1], w[0]), &dev)?)?);
        vars.push(Var::from_tensor(&Tensor::zeros(w[1], candle_core::DType::F32, &dev)?)?);
    }
    let forward = |x: &Tensor| -> Result<Tensor> {
        let mut h = x.clone();
        for l in 0..3 {
            h = h
                .matmul(&vars[2 * l].as_tensor().t()?)?
                .broadcast_add(vars[2 * l + 1].as_tensor())?;
            if l < 2 {
                h = h.relu()?;
            }
        }
        Ok(h)
    };
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW { lr: 2e-3, weight_decay: 1e-4, ..Default::default() },
    )?;
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
            let z = forward(&xs.index_select(&ids, 0)?)?;
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
        let z = forward(&hx)?;
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
    let mut layers = Vec::new();
    for l in 0..3 {
        let w = vars[2 * l].as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let b = vars[2 * l + 1].as_tensor().to_vec1::<f32>()?;
        layers.push((w, b, dims[l + 1], dims[l]));
    }
    Ok((Ranker { layers }, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_and_reversed_scores() {
        assert_eq!(auc(&[0.1, 0.2, 0.9, 0.8], &[0.0, 0.0, 1.0, 1.0]), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.1, 0.2], &[0.0, 0.0, 1.0, 1.0]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), 0.5);
    }
}
