//! The multi-task ranker's forward pass: the bundle's `ranker.*` MLP over features built from the
//! user query and each candidate, on the CPU or the GPU through the compute seam.
//!
//! Feature layout (written by `edgerec train`, specified in `models/README.md`):
//! `[q̂, v, q̂ ⊙ v, popularity, popularity_recent, freshness, category one-hot]` with `q̂ = q/‖q‖`,
//! `v` the candidate's `item_embeddings` row (dequantized), the three statistics from `stats.*`
//! and categories numbered in the order they first appear in the item table. Outputs are one
//! sigmoid per task, in the order of [`Ranker::tasks`].

use crate::bundle::{Bundle, QuantizedMatrix};
#[cfg(test)]
use crate::compute::DenseLayer;
use crate::compute::gpu::{GpuContext, GpuMlp};
use crate::compute::{Activation, Mlp, MlpDevice, MlpScratch};
use crate::error::{Error, Result};

/// Task names of the ranker `edgerec train` exports, in output order.
pub const RANKER_TASKS: [&str; 2] = ["watch", "like"];

/// Statistics tensors the features read, in feature order.
const STATS: [&str; 3] = ["stats.popularity", "stats.popularity_recent", "stats.freshness"];

/// The ranker and everything its features need, detached from the bundle's bytes.
#[derive(Debug, Clone)]
pub struct Ranker {
    mlp: Mlp,
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

impl Ranker {
    /// Assembles the ranker from a loaded bundle's `ranker.w{l}` / `ranker.b{l}` (ReLU layers,
    /// sigmoid output), `item_embeddings`, `stats.*` and the item table's categories.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a missing tensor; [`Error::DimensionMismatch`] when the
    /// first layer's inputs are not the feature width or the output is not one row per task.
    pub fn from_bundle(bundle: &Bundle) -> Result<Self> {
        let mlp = Mlp::from_bundle(bundle, "ranker", Activation::Relu, Activation::Sigmoid)?
            .ok_or_else(|| missing("ranker.w0"))?;
        let stats = STATS.map(|name| bundle.tensor(name).map(|t| t.dequantize()));
        let [Some(pop), Some(recent), Some(fresh)] = stats else {
            return Err(missing(
                STATS.iter().find(|n| bundle.tensor(n).is_none()).unwrap_or(&STATS[0]),
            ));
        };
        let (categories, numbers) = bundle.items().category_numbers();
        Self::new(
            mlp,
            bundle.item_embeddings().to_quantized_matrix()?,
            [pop, recent, fresh],
            categories,
            numbers.len(),
            RANKER_TASKS.iter().map(|t| t.to_string()).collect(),
        )
    }

    /// Assembles a ranker from parts (tests, other exporters).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when the MLP input is not `3·dim + 3 + n_categories`, the
    /// output is not one per task, or a statistic / category list does not cover every item;
    /// [`Error::InvalidArgument`] for a category number out of range.
    pub fn new(
        mlp: Mlp,
        items: QuantizedMatrix,
        stats: [Vec<f32>; 3],
        categories: Vec<Vec<u32>>,
        n_categories: usize,
        tasks: Vec<String>,
    ) -> Result<Self> {
        let width = 3 * items.dim() + STATS.len() + n_categories;
        if mlp.in_dim() != width {
            return Err(Error::DimensionMismatch { expected: width, received: mlp.in_dim() });
        }
        if mlp.out_dim() != tasks.len() {
            return Err(Error::DimensionMismatch {
                expected: tasks.len(),
                received: mlp.out_dim(),
            });
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
        Ok(Self { mlp, items, stats, categories, n_categories, tasks })
    }

    /// Task names, in output order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// Number of item categories the one-hot block covers.
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// The MLP (for uploading it to a GPU).
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// Feature rows for `candidates` (item rows) under user query `query`, appended to `out`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for a query of the wrong length; [`Error::NonFinite`];
    /// [`Error::InvalidArgument`] for a candidate row out of range.
    pub fn features(&self, query: &[f32], candidates: &[u32], out: &mut Vec<f32>) -> Result<()> {
        let dim = self.items.dim();
        if query.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, received: query.len() });
        }
        if let Some(position) = query.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "query", position });
        }
        if let Some(&bad) = candidates.iter().find(|&&c| c as usize >= self.items.rows()) {
            return Err(Error::InvalidArgument {
                name: "candidates",
                reason: format!("row {bad} is out of range (items: {})", self.items.rows()),
            });
        }
        let norm = query.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let q: Vec<f32> = query
            .iter()
            .map(|x| if norm > 0.0 { (f64::from(*x) / norm) as f32 } else { 0.0 })
            .collect();
        let width = self.mlp.in_dim();
        let mut v = vec![0.0f32; dim];
        for &c in candidates {
            let row = c as usize;
            self.items.dequantize_row(row, &mut v);
            let start = out.len();
            out.extend_from_slice(&q);
            out.extend_from_slice(&v);
            out.extend(q.iter().zip(&v).map(|(a, b)| a * b));
            out.extend(self.stats.iter().map(|s| s[row]));
            out.resize(start + width, 0.0);
            for &category in &self.categories[row] {
                out[start + 3 * dim + STATS.len() + category as usize] = 1.0;
            }
        }
        Ok(())
    }

    /// Task probabilities (`candidates × tasks`, row-major) on the CPU.
    ///
    /// # Errors
    /// As [`Ranker::features`].
    pub fn predict(
        &self,
        query: &[f32],
        candidates: &[u32],
        scratch: &mut RankerScratch,
    ) -> Result<Vec<f32>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        scratch.features.clear();
        self.features(query, candidates, &mut scratch.features)?;
        self.mlp.forward(&scratch.features, &mut scratch.mlp)
    }

    /// Task probabilities on `gpu` (an upload of [`Ranker::mlp`]) when given, else on the CPU:
    /// the same features, the one forward pass of [`Mlp::forward_on`].
    ///
    /// # Errors
    /// As [`Ranker::features`] and [`Mlp::forward_on`].
    pub async fn predict_on(
        &self,
        gpu: Option<(&GpuContext, &mut GpuMlp)>,
        query: &[f32],
        candidates: &[u32],
        scratch: &mut RankerScratch,
    ) -> Result<Vec<f32>> {
        let Some((ctx, gpu)) = gpu else { return self.predict(query, candidates, scratch) };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        scratch.features.clear();
        self.features(query, candidates, &mut scratch.features)?;
        self.mlp.forward_on(MlpDevice::Gpu(ctx, gpu), &scratch.features).await
    }
}

/// Reusable buffers for [`Ranker::predict`].
#[derive(Debug, Default)]
pub struct RankerScratch {
    features: Vec<f32>,
    mlp: MlpScratch,
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

    #[test]
    fn features_follow_the_documented_layout() {
        let r = ranker();
        let mut f = Vec::new();
        r.features(&[3.0, 4.0], &[2], &mut f).unwrap();
        let want = [0.6, 0.8, 3.0, 4.0, 1.8, 3.2, 0.3, 0.6, 0.9, 1.0, 1.0];
        for (a, b) in f.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{f:?}");
        }
        let p = r.predict(&[3.0, 4.0], &[0, 1], &mut RankerScratch::default()).unwrap();
        assert_eq!(p.len(), 4);
        assert!((p[0] - 0.6).abs() < 1e-6 && p[1] == 0.0 && p[3] == 1.0, "{p:?}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let r = ranker();
        let mut s = RankerScratch::default();
        assert_eq!(
            r.predict(&[1.0], &[0], &mut s),
            Err(Error::DimensionMismatch { expected: 2, received: 1 })
        );
        assert!(matches!(
            r.predict(&[1.0, 1.0], &[3], &mut s),
            Err(Error::InvalidArgument { name: "candidates", .. })
        ));
        assert_eq!(
            r.predict(&[f32::NAN, 1.0], &[0], &mut s),
            Err(Error::NonFinite { what: "query", position: 0 })
        );
        assert_eq!(r.predict(&[1.0, 1.0], &[], &mut s), Ok(vec![]));
    }
}
