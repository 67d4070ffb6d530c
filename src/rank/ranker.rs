//! The multi-task ranker's forward pass: the bundle's `ranker.*` network over features built
//! from the user query, the user's recent history and each candidate, on the CPU or (the
//! shared-bottom MLP) the GPU through the compute seam.
//!
//! Feature layout (written by `edgerec train`, specified in `models/README.md`):
//! `[q̂, v, q̂ ⊙ v, popularity, popularity_recent, freshness, category one-hot]` with `q̂ = q/‖q‖`,
//! `v` the candidate's `item_embeddings` row (dequantized), the three statistics from `stats.*`
//! and categories numbered in the order they first appear in the item table; when the bundle has
//! `ranker.attention_scale` (`s`), then `[a, a ⊙ v]`: target attention over the history rows
//! `h_i` (DIN, Zhou et al. KDD 2018), `a = Σ softmax_i(s · v·h_i) h_i`, computed by the
//! attention-pooling kernel ([`crate::compute::pool_fast`]) with the candidate as the query.
//!
//! Heads: a shared-bottom MLP (`ranker.w{l}`), or an MMoE block (Ma et al. KDD 2018:
//! `ranker.expert{e}.*`, one softmax gate `ranker.gate{t}.*` per task, [`Mmoe`]) followed by one
//! sigmoid tower `ranker.tower{t}.*` per task. Outputs are one sigmoid per task, in the order
//! of [`Ranker::tasks`].

use crate::bundle::{Bundle, QuantizedMatrix};
#[cfg(test)]
use crate::compute::DenseLayer;
use crate::compute::gpu::{GpuContext, GpuMlp};
use crate::compute::{
    Activation, EMPTY_SLOT, Mlp, MlpDevice, MlpScratch, Mmoe, MmoeScratch, PoolRequest, Pooling,
    pool_fast,
};
use crate::error::{Error, Result};

/// Task names of the ranker `edgerec train` exports, in output order.
pub const RANKER_TASKS: [&str; 2] = ["watch", "like"];

/// Statistics tensors the features read, in feature order.
const STATS: [&str; 3] = ["stats.popularity", "stats.popularity_recent", "stats.freshness"];

/// The network that maps feature rows to task probabilities.
#[derive(Debug, Clone)]
pub enum RankerHead {
    /// One MLP with a sigmoid output per task.
    Shared(Mlp),
    /// An MMoE block, then one tower (sigmoid output of width 1) per task.
    Mmoe {
        /// Experts and per-task gates.
        mmoe: Mmoe,
        /// One tower per task, over that task's mixture.
        towers: Vec<Mlp>,
    },
}

impl RankerHead {
    fn in_dim(&self) -> usize {
        match self {
            Self::Shared(mlp) => mlp.in_dim(),
            Self::Mmoe { mmoe, .. } => mmoe.in_dim(),
        }
    }

    fn tasks(&self) -> usize {
        match self {
            Self::Shared(mlp) => mlp.out_dim(),
            Self::Mmoe { towers, .. } => towers.len(),
        }
    }
}

/// The ranker and everything its features need, detached from the bundle's bytes.
#[derive(Debug, Clone)]
pub struct Ranker {
    head: RankerHead,
    /// The target attention's scale `s`; `None` without the attention block.
    attention: Option<f32>,
    items: QuantizedMatrix,
    stats: [Vec<f32>; 3],
    /// Category numbers of each item.
    categories: Vec<Vec<u32>>,
    n_categories: usize,
    tasks: Vec<String>,
}

fn missing(name: &str) -> Error {
    Error::InvalidArgument { name: "bundle", reason: format!("the bundle has no tensor {name:?}") }
}

/// The one-layer MLPs `{prefix}{t}` for every task `t`.
fn per_task(bundle: &Bundle, prefix: &str, output: Activation) -> Result<Vec<Mlp>> {
    (0..RANKER_TASKS.len())
        .map(|t| {
            let name = format!("{prefix}{t}");
            Mlp::from_bundle(bundle, &name, Activation::Relu, output)?
                .ok_or_else(|| missing(&format!("{name}.w0")))
        })
        .collect()
}

impl Ranker {
    /// Whether `bundle` carries a ranker (either head).
    pub fn in_bundle(bundle: &Bundle) -> bool {
        bundle.tensor("ranker.w0").is_some() || bundle.tensor("ranker.expert0.w0").is_some()
    }

    /// Assembles the ranker from a loaded bundle: the head (`ranker.w{l}` / `ranker.b{l}`, ReLU
    /// layers and a sigmoid output; or `ranker.expert{e}.*`, `ranker.gate{t}.*`,
    /// `ranker.tower{t}.*`), `ranker.attention_scale` when present, `item_embeddings`,
    /// `stats.*` and the item table's categories.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a missing tensor; [`Error::DimensionMismatch`] when the
    /// first layer's inputs are not the feature width or the output is not one row per task.
    pub fn from_bundle(bundle: &Bundle) -> Result<Self> {
        let head = if bundle.tensor("ranker.expert0.w0").is_some() {
            let mut experts = Vec::new();
            while let Some(e) = Mlp::from_bundle(
                bundle,
                &format!("ranker.expert{}", experts.len()),
                Activation::Relu,
                Activation::Relu,
            )? {
                experts.push(e);
            }
            // A gate is one softmax layer over the experts.
            let gates = per_task(bundle, "ranker.gate", Activation::Softmax)?
                .into_iter()
                .map(|g| match g.layers() {
                    [layer] => Ok(layer.clone()),
                    _ => Err(Error::InvalidArgument {
                        name: "bundle",
                        reason: "an MMoE gate (ranker.gate{t}.*) must be a single layer".into(),
                    }),
                })
                .collect::<Result<Vec<_>>>()?;
            let towers = per_task(bundle, "ranker.tower", Activation::Sigmoid)?;
            RankerHead::Mmoe { mmoe: Mmoe::new(experts, gates)?, towers }
        } else {
            RankerHead::Shared(
                Mlp::from_bundle(bundle, "ranker", Activation::Relu, Activation::Sigmoid)?
                    .ok_or_else(|| missing("ranker.w0"))?,
            )
        };
        let attention = bundle.tensor("ranker.attention_scale").map(|t| t.dequantize());
        let attention = match attention.as_deref() {
            None => None,
            Some([s]) if s.is_finite() && *s > 0.0 => Some(*s),
            Some(_) => {
                return Err(Error::InvalidArgument {
                    name: "bundle",
                    reason: "ranker.attention_scale must be one finite positive number".into(),
                });
            }
        };
        let stats = STATS.map(|name| bundle.tensor(name).map(|t| t.dequantize()));
        let [Some(pop), Some(recent), Some(fresh)] = stats else {
            return Err(missing(
                STATS.iter().find(|n| bundle.tensor(n).is_none()).unwrap_or(&STATS[0]),
            ));
        };
        let (categories, numbers) = bundle.items().category_numbers();
        Self::from_parts(
            head,
            attention,
            bundle.item_embeddings().to_quantized_matrix()?,
            [pop, recent, fresh],
            categories,
            numbers.len(),
            RANKER_TASKS.iter().map(|t| t.to_string()).collect(),
        )
    }

    /// A shared-bottom ranker without target attention, from parts (tests, other exporters).
    ///
    /// # Errors
    /// As [`Ranker::from_parts`].
    pub fn new(
        mlp: Mlp,
        items: QuantizedMatrix,
        stats: [Vec<f32>; 3],
        categories: Vec<Vec<u32>>,
        n_categories: usize,
        tasks: Vec<String>,
    ) -> Result<Self> {
        Self::from_parts(
            RankerHead::Shared(mlp),
            None,
            items,
            stats,
            categories,
            n_categories,
            tasks,
        )
    }

    /// Any ranker from parts: `attention` is the target attention's scale (`None`: no block).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when the head's input is not `3·dim + 3 + n_categories`
    /// (plus `2·dim` with attention), the output is not one per task (an MMoE tower must have
    /// one output), or a statistic / category list does not cover every item;
    /// [`Error::InvalidArgument`] for a category number out of range.
    pub fn from_parts(
        head: RankerHead,
        attention: Option<f32>,
        items: QuantizedMatrix,
        stats: [Vec<f32>; 3],
        categories: Vec<Vec<u32>>,
        n_categories: usize,
        tasks: Vec<String>,
    ) -> Result<Self> {
        let block = if attention.is_some() { 2 * items.dim() } else { 0 };
        let width = 3 * items.dim() + STATS.len() + n_categories + block;
        if head.in_dim() != width {
            return Err(Error::DimensionMismatch { expected: width, received: head.in_dim() });
        }
        if head.tasks() != tasks.len() {
            return Err(Error::DimensionMismatch { expected: tasks.len(), received: head.tasks() });
        }
        if let RankerHead::Mmoe { mmoe, towers } = &head {
            for tower in towers {
                if tower.in_dim() != mmoe.out_dim() || tower.out_dim() != 1 {
                    return Err(Error::DimensionMismatch {
                        expected: mmoe.out_dim(),
                        received: tower.in_dim(),
                    });
                }
            }
            if mmoe.tasks() != towers.len() {
                return Err(Error::DimensionMismatch {
                    expected: towers.len(),
                    received: mmoe.tasks(),
                });
            }
        }
        for column in stats.iter().map(Vec::len).chain([categories.len()]) {
            if column != items.rows() {
                return Err(Error::DimensionMismatch { expected: items.rows(), received: column });
            }
        }
        if categories.iter().flatten().any(|&c| c as usize >= n_categories) {
            return Err(Error::InvalidArgument {
                name: "categories",
                reason: format!("a category number is ≥ the {n_categories} categories"),
            });
        }
        Ok(Self { head, attention, items, stats, categories, n_categories, tasks })
    }

    /// Task names, in output order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// Number of item categories the one-hot block covers.
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// The shared-bottom MLP (for uploading it to a GPU); `None` for an MMoE head, which runs
    /// on the CPU.
    pub fn mlp(&self) -> Option<&Mlp> {
        match &self.head {
            RankerHead::Shared(mlp) => Some(mlp),
            RankerHead::Mmoe { .. } => None,
        }
    }

    /// The head.
    pub fn head(&self) -> &RankerHead {
        &self.head
    }

    /// The target attention's scale, `None` when the features have no attention block.
    pub fn attention(&self) -> Option<f32> {
        self.attention
    }

    /// Feature rows for `candidates` (item rows) under user query `query` and the user's
    /// `history` (item rows, oldest first; read only with target attention), appended to `out`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for a query of the wrong length; [`Error::NonFinite`];
    /// [`Error::InvalidArgument`] for a candidate or history row out of range.
    pub fn features(
        &self,
        query: &[f32],
        history: &[u32],
        candidates: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let dim = self.items.dim();
        if query.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, received: query.len() });
        }
        if let Some(position) = query.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "query", position });
        }
        for (name, rows) in [("candidates", candidates), ("history", history)] {
            if let Some(&bad) = rows.iter().find(|&&c| c as usize >= self.items.rows()) {
                return Err(Error::InvalidArgument {
                    name,
                    reason: format!("row {bad} is out of range (items: {})", self.items.rows()),
                });
            }
        }
        let norm = query.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let q: Vec<f32> = query
            .iter()
            .map(|x| if norm > 0.0 { (f64::from(*x) / norm) as f32 } else { 0.0 })
            .collect();
        let width = self.head.in_dim();
        let base = 3 * dim + STATS.len() + self.n_categories;
        let attended = self.target_attention(history, candidates)?;
        let mut v = vec![0.0f32; dim];
        for (i, &c) in candidates.iter().enumerate() {
            let row = c as usize;
            self.items.dequantize_row(row, &mut v);
            let start = out.len();
            out.extend_from_slice(&q);
            out.extend_from_slice(&v);
            out.extend(q.iter().zip(&v).map(|(a, b)| a * b));
            out.extend(self.stats.iter().map(|s| s[row]));
            out.resize(start + base, 0.0);
            for &category in &self.categories[row] {
                out[start + 3 * dim + STATS.len() + category as usize] = 1.0;
            }
            if let Some(all) = &attended {
                let a = &all[i * dim..(i + 1) * dim];
                out.extend_from_slice(a);
                out.extend(a.iter().zip(&v).map(|(x, y)| x * y));
            }
            debug_assert_eq!(out.len(), start + width);
        }
        Ok(())
    }

    /// `a` for every candidate (`candidates × dim`): the history pooled with attention, the
    /// candidate's embedding as the query; zeros for an empty history; `None` without the block.
    fn target_attention(&self, history: &[u32], candidates: &[u32]) -> Result<Option<Vec<f32>>> {
        let Some(scale) = self.attention else { return Ok(None) };
        let dim = self.items.dim();
        // The window the trainer used is the user tower's; longer histories keep the newest.
        let history = &history[history.len().saturating_sub(crate::compute::pool::MAX_SLOTS)..];
        if history.is_empty() || candidates.is_empty() {
            return Ok(Some(vec![0.0; candidates.len() * dim]));
        }
        let slots = history.len();
        let mut ids = Vec::with_capacity(candidates.len() * slots);
        let mut queries = vec![0.0f32; candidates.len() * dim];
        for (&c, q) in candidates.iter().zip(queries.chunks_exact_mut(dim)) {
            ids.extend_from_slice(history);
            self.items.dequantize_row(c as usize, q);
        }
        debug_assert!(!ids.contains(&EMPTY_SLOT));
        let weights = vec![1.0f32; ids.len()];
        let request = PoolRequest { ids: &ids, weights: &weights, slots, queries: Some(&queries) };
        pool_fast(&self.items, &request, Pooling::Attention { scale }).map(Some)
    }

    /// Task probabilities (`candidates × tasks`, row-major) on the CPU.
    ///
    /// # Errors
    /// As [`Ranker::features`].
    pub fn predict(
        &self,
        query: &[f32],
        history: &[u32],
        candidates: &[u32],
        scratch: &mut RankerScratch,
    ) -> Result<Vec<f32>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        scratch.features.clear();
        self.features(query, history, candidates, &mut scratch.features)?;
        match &self.head {
            RankerHead::Shared(mlp) => mlp.forward(&scratch.features, &mut scratch.mlp),
            RankerHead::Mmoe { mmoe, towers } => {
                // `batch × tasks × out_dim`, then each task's tower on its own slice.
                let mixed = mmoe.forward(&scratch.features, &mut scratch.mmoe)?;
                let (batch, tasks, width) = (candidates.len(), towers.len(), mmoe.out_dim());
                let mut out = vec![0.0f32; batch * tasks];
                for (t, tower) in towers.iter().enumerate() {
                    scratch.task.clear();
                    for b in 0..batch {
                        let at = (b * tasks + t) * width;
                        scratch.task.extend_from_slice(&mixed[at..at + width]);
                    }
                    let p = tower.forward(&scratch.task, &mut scratch.mlp)?;
                    for (b, v) in p.into_iter().enumerate() {
                        out[b * tasks + t] = v;
                    }
                }
                Ok(out)
            }
        }
    }

    /// Task probabilities on `gpu` (an upload of [`Ranker::mlp`]) when given and the head is
    /// the shared MLP, else on the CPU: the same features, the one forward pass of
    /// [`Mlp::forward_on`].
    ///
    /// # Errors
    /// As [`Ranker::features`] and [`Mlp::forward_on`].
    pub async fn predict_on(
        &self,
        gpu: Option<(&GpuContext, &mut GpuMlp)>,
        query: &[f32],
        history: &[u32],
        candidates: &[u32],
        scratch: &mut RankerScratch,
    ) -> Result<Vec<f32>> {
        let (Some((ctx, gpu)), Some(mlp)) = (gpu, self.mlp()) else {
            return self.predict(query, history, candidates, scratch);
        };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        scratch.features.clear();
        self.features(query, history, candidates, &mut scratch.features)?;
        mlp.forward_on(MlpDevice::Gpu(ctx, gpu), &scratch.features).await
    }
}

/// Reusable buffers for [`Ranker::predict`].
#[derive(Debug, Default)]
pub struct RankerScratch {
    features: Vec<f32>,
    mlp: MlpScratch,
    mmoe: MmoeScratch,
    task: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::QuantScheme;

    fn ranker() -> Ranker {
        let dim = 2;
        let items =
            QuantizedMatrix::quantize(&[1.0, 0.0, 0.0, 2.0, 3.0, 4.0], dim, QuantScheme::F32)
                .unwrap();
        let width = 3 * dim + 3 + 2;
        // One linear layer that reads feature j into output j (for j < 2): a probe of the layout.
        let mut w = vec![0.0f32; 2 * width];
        w[0] = 1.0; // output 0 ← q̂[0]
        w[width + 3 * dim + 3 + 1] = 1.0; // output 1 ← category 1
        let layer = DenseLayer::new(
            QuantizedMatrix::quantize(&w, width, QuantScheme::F32).unwrap(),
            vec![0.0, 0.0],
            Activation::Identity,
        )
        .unwrap();
        Ranker::new(
            Mlp::new(vec![layer]).unwrap(),
            items,
            [vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6], vec![0.7, 0.8, 0.9]],
            vec![vec![0], vec![1], vec![0, 1]],
            2,
            vec!["watch".into(), "like".into()],
        )
        .unwrap()
    }

    fn items() -> QuantizedMatrix {
        QuantizedMatrix::quantize(&[1.0, 0.0, 0.0, 2.0, 3.0, 4.0], 2, QuantScheme::F32).unwrap()
    }

    /// A dense layer `width → out` with weights `0.1·(i + 1) / (j + 1)`, bias 0.
    fn layer(width: usize, out: usize, activation: Activation) -> DenseLayer {
        layer_seeded(width, out, activation, 0)
    }

    /// The same with weights that differ by `seed` (in sign and size).
    fn layer_seeded(width: usize, out: usize, activation: Activation, seed: usize) -> DenseLayer {
        let w: Vec<f32> = (0..out * width)
            .map(|k| {
                let sign = if (k + seed).is_multiple_of(3) { -1.0 } else { 1.0 };
                sign * 0.1 * ((k / width) + 1 + seed) as f32 / ((k % width) + 1) as f32
            })
            .collect();
        DenseLayer::new(
            QuantizedMatrix::quantize(&w, width, QuantScheme::F32).unwrap(),
            vec![0.0; out],
            activation,
        )
        .unwrap()
    }

    fn stats() -> [Vec<f32>; 3] {
        [vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6], vec![0.7, 0.8, 0.9]]
    }

    fn with_head(head: RankerHead, attention: Option<f32>) -> Result<Ranker> {
        Ranker::from_parts(
            head,
            attention,
            items(),
            stats(),
            vec![vec![0], vec![1], vec![0, 1]],
            2,
            vec!["watch".into(), "like".into()],
        )
    }

    #[test]
    fn target_attention_pools_the_history_by_the_candidate() {
        // Width 3·2 + 3 + 2 + 2·2 = 15.
        let head = RankerHead::Shared(Mlp::new(vec![layer(15, 2, Activation::Sigmoid)]).unwrap());
        let r = with_head(head.clone(), Some(1.0)).unwrap();
        let mut f = Vec::new();
        r.features(&[3.0, 4.0], &[0, 1], &[2], &mut f).unwrap();
        assert_eq!(f.len(), 15);
        // v = (3, 4): logits v·h = 3 (item 0) and 8 (item 1).
        let (e0, e1) = (3f64.exp(), 8f64.exp());
        let a = [e0 / (e0 + e1), 2.0 * e1 / (e0 + e1)];
        let want = [a[0], a[1], 3.0 * a[0], 4.0 * a[1]];
        for (got, want) in f[11..].iter().zip(want) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{f:?}");
        }
        // No history: the block is zero; the rest is the plain layout.
        f.clear();
        r.features(&[3.0, 4.0], &[], &[2], &mut f).unwrap();
        assert!(f[11..].iter().all(|x| *x == 0.0), "{f:?}");
        assert!(matches!(
            r.features(&[3.0, 4.0], &[7], &[2], &mut f),
            Err(Error::InvalidArgument { name: "history", .. })
        ));
        // A head without room for the block is refused.
        assert_eq!(
            with_head(head, None).unwrap_err(),
            Error::DimensionMismatch { expected: 11, received: 15 }
        );
    }

    #[test]
    fn mmoe_head_runs_each_task_tower_on_its_mixture() {
        let width = 15;
        let expert = |e| {
            let (a, b) =
                (layer_seeded(width, 4, Activation::Relu, e), layer(4, 3, Activation::Relu));
            Mlp::new(vec![a, b]).unwrap()
        };
        let experts = (0..3).map(expert).collect();
        let gates = (0..2).map(|t| layer_seeded(width, 3, Activation::Softmax, t + 1)).collect();
        let mmoe = Mmoe::new(experts, gates).unwrap();
        let towers: Vec<Mlp> = (0..2)
            .map(|t| Mlp::new(vec![layer_seeded(3, 1, Activation::Sigmoid, t)]).unwrap())
            .collect();
        let r =
            with_head(RankerHead::Mmoe { mmoe: mmoe.clone(), towers: towers.clone() }, Some(2.0))
                .unwrap();
        assert!(r.mlp().is_none());
        let (history, candidates) = ([0u32, 1, 1], [2u32, 0, 1]);
        let p =
            r.predict(&[0.5, -1.0], &history, &candidates, &mut RankerScratch::default()).unwrap();
        // The reference: the scalar MMoE, then each task's tower on its slice.
        let mut x = Vec::new();
        r.features(&[0.5, -1.0], &history, &candidates, &mut x).unwrap();
        let mixed = mmoe.forward_reference(&x).unwrap();
        for b in 0..3 {
            for t in 0..2 {
                let slice = &mixed[(b * 2 + t) * 3..(b * 2 + t + 1) * 3];
                let want = towers[t].forward_reference(slice).unwrap()[0];
                assert!((p[b * 2 + t] - want).abs() < 1e-5, "{p:?} at {b},{t}: {want}");
            }
            assert!((p[b * 2] - p[b * 2 + 1]).abs() > 1e-4, "the tasks differ: {p:?}");
        }
    }

    #[test]
    fn features_follow_the_documented_layout() {
        let r = ranker();
        let mut f = Vec::new();
        r.features(&[3.0, 4.0], &[], &[2], &mut f).unwrap();
        let want = [0.6, 0.8, 3.0, 4.0, 1.8, 3.2, 0.3, 0.6, 0.9, 1.0, 1.0];
        for (a, b) in f.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{f:?}");
        }
        let p = r.predict(&[3.0, 4.0], &[], &[0, 1], &mut RankerScratch::default()).unwrap();
        assert_eq!(p.len(), 4);
        assert!((p[0] - 0.6).abs() < 1e-6 && p[1] == 0.0 && p[3] == 1.0, "{p:?}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let r = ranker();
        let mut s = RankerScratch::default();
        assert_eq!(
            r.predict(&[1.0], &[], &[0], &mut s),
            Err(Error::DimensionMismatch { expected: 2, received: 1 })
        );
        assert!(matches!(
            r.predict(&[1.0, 1.0], &[], &[3], &mut s),
            Err(Error::InvalidArgument { name: "candidates", .. })
        ));
        assert_eq!(
            r.predict(&[f32::NAN, 1.0], &[], &[0], &mut s),
            Err(Error::NonFinite { what: "query", position: 0 })
        );
        assert_eq!(r.predict(&[1.0, 1.0], &[], &[], &mut s), Ok(vec![]));
    }
}
