//! The gradient step of the on-device user-embedding update: sampled softmax over a candidate
//! set with the logQ sampling-bias correction (Yi et al., "Sampling-Bias-Corrected Neural
//! Modeling for Large Corpus Item Recommendations", RecSys 2019).
//!
//! For a user vector `u`, a clicked item `p` and sampled candidates `C` (containing `p`), each
//! drawn with probability `Q(i)`: `logit_i = u·x_i / τ − ln Q(i)` and
//! `L = −ln softmax(logit)_p`. Its gradient with respect to `u` is
//! `∇L = (Σ_i π_i x_i − x_p) / τ` with `π = softmax(logit)`.
//!
//! `Σ_i π_i x_i` is exactly attention pooling with query `u`, scale `1/τ` and prior weights
//! `1/Q(i)` (`π_i ∝ exp(u·x_i/τ) / Q(i)`), so the expensive part runs on whichever backend runs
//! [`crate::compute::pool`] — the CPU paths here, or `GpuTable::pool` on the GPU via
//! [`softmax_gradient_from_expectation`].

use crate::bundle::QuantizedMatrix;
use crate::compute::pool::{PoolRequest, Pooling, pool_fast, pool_reference};
use crate::error::{Error, Result};

/// One update example: the clicked item, the sampled candidates and their sampling
/// probabilities.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxExample<'a> {
    /// The user vector the gradient is taken at.
    pub user: &'a [f32],
    /// Row of the clicked item; must also appear in `candidates`.
    pub positive: u32,
    /// Candidate rows (the positive plus sampled negatives), at most `pool::MAX_SLOTS`.
    pub candidates: &'a [u32],
    /// Sampling probability `Q(i)` of each candidate, in `(0, 1]`.
    pub sample_prob: &'a [f32],
    /// Softmax temperature `τ > 0` (the model's, from the bundle manifest).
    pub temperature: f32,
}

impl SoftmaxExample<'_> {
    /// The pooling request whose attention output is `Σ_i π_i x_i`, after validation.
    fn request(&self, table: &QuantizedMatrix) -> Result<(Vec<f32>, Pooling)> {
        if self.user.len() != table.dim() {
            return Err(Error::DimensionMismatch {
                expected: table.dim(),
                received: self.user.len(),
            });
        }
        if self.sample_prob.len() != self.candidates.len() {
            return Err(Error::DimensionMismatch {
                expected: self.candidates.len(),
                received: self.sample_prob.len(),
            });
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::InvalidArgument {
                name: "temperature",
                reason: "must be finite and > 0".into(),
            });
        }
        if let Some(i) =
            self.sample_prob.iter().position(|q| !(q.is_finite() && *q > 0.0 && *q <= 1.0))
        {
            return Err(Error::InvalidArgument {
                name: "sample_prob",
                reason: format!("candidate {i} has Q = {}; must be in (0, 1]", self.sample_prob[i]),
            });
        }
        if !self.candidates.contains(&self.positive) {
            return Err(Error::InvalidArgument {
                name: "positive",
                reason: format!("row {} is not among the candidates", self.positive),
            });
        }
        // Prior weights 1/Q, scaled by min Q so the largest is 1 (the softmax is unchanged).
        let min_q = self.sample_prob.iter().fold(1.0f32, |m, q| m.min(*q));
        let weights = self.sample_prob.iter().map(|q| min_q / q).collect();
        Ok((weights, Pooling::Attention { scale: 1.0 / self.temperature }))
    }

    /// `(E − x_p) / τ` from the pooled expectation `E = Σ π_i x_i`.
    fn gradient(&self, table: &QuantizedMatrix, expectation: &[f32]) -> Vec<f32> {
        let mut positive = vec![0.0f32; table.dim()];
        table.dequantize_row(self.positive as usize, &mut positive);
        expectation.iter().zip(&positive).map(|(e, x)| (e - x) / self.temperature).collect()
    }
}

fn run(
    table: &QuantizedMatrix,
    example: &SoftmaxExample<'_>,
    pool: fn(&QuantizedMatrix, &PoolRequest<'_>, Pooling) -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let (weights, pooling) = example.request(table)?;
    let request = PoolRequest {
        ids: example.candidates,
        weights: &weights,
        slots: example.candidates.len(),
        queries: Some(example.user),
    };
    let expectation = pool(table, &request, pooling)?;
    Ok(example.gradient(table, &expectation))
}

/// `∇_u L` by the scalar reference (f64 softmax and sums).
///
/// # Errors
/// [`Error::DimensionMismatch`], [`Error::InvalidArgument`] (temperature, probabilities,
/// positive not among the candidates, ids out of range), [`Error::NonFinite`].
pub fn softmax_gradient_reference(
    table: &QuantizedMatrix,
    example: &SoftmaxExample<'_>,
) -> Result<Vec<f32>> {
    run(table, example, pool_reference)
}

/// `∇_u L` on the fast CPU path.
///
/// # Errors
/// As [`softmax_gradient_reference`].
pub fn softmax_gradient(table: &QuantizedMatrix, example: &SoftmaxExample<'_>) -> Result<Vec<f32>> {
    run(table, example, pool_fast)
}

/// The pooling request and mode a GPU (or any other) backend must run for `example`; feed its
/// output to [`softmax_gradient_from_expectation`]. Returns `(weights, pooling)`: the request is
/// `PoolRequest { ids: example.candidates, weights: &weights, slots: candidates.len(),
/// queries: Some(example.user) }`.
///
/// # Errors
/// As [`softmax_gradient_reference`].
pub fn softmax_pool_request(
    table: &QuantizedMatrix,
    example: &SoftmaxExample<'_>,
) -> Result<(Vec<f32>, Pooling)> {
    example.request(table)
}

/// `(E − x_p) / τ`, given the pooled expectation `E` computed by any backend.
///
/// # Errors
/// [`Error::DimensionMismatch`] when `expectation` is not one vector of the table's dimension.
pub fn softmax_gradient_from_expectation(
    table: &QuantizedMatrix,
    example: &SoftmaxExample<'_>,
    expectation: &[f32],
) -> Result<Vec<f32>> {
    if expectation.len() != table.dim() {
        return Err(Error::DimensionMismatch {
            expected: table.dim(),
            received: expectation.len(),
        });
    }
    Ok(example.gradient(table, expectation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::QuantScheme;

    fn table() -> QuantizedMatrix {
        let data: Vec<f32> = (0..40 * 8).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        QuantizedMatrix::quantize(&data, 8, QuantScheme::F32).unwrap()
    }

    /// The loss the gradient belongs to, in f64, for finite differences.
    fn loss(t: &QuantizedMatrix, ex: &SoftmaxExample<'_>, u: &[f64]) -> f64 {
        let mut x = vec![0.0f32; t.dim()];
        let logits: Vec<f64> = ex
            .candidates
            .iter()
            .zip(ex.sample_prob)
            .map(|(&c, &q)| {
                t.dequantize_row(c as usize, &mut x);
                let d: f64 = x.iter().zip(u).map(|(a, b)| f64::from(*a) * b).sum();
                d / f64::from(ex.temperature) - f64::from(q).ln()
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        let p = ex.candidates.iter().position(|&c| c == ex.positive).unwrap();
        lse - logits[p]
    }

    #[test]
    fn gradient_matches_finite_differences_and_descends() {
        let t = table();
        let user: Vec<f32> = (0..8).map(|j| (j as f32 * 0.3).sin()).collect();
        let candidates = [3, 17, 5, 22, 39];
        let probs = [0.01, 0.2, 0.05, 0.5, 0.001];
        let ex = SoftmaxExample {
            user: &user,
            positive: 5,
            candidates: &candidates,
            sample_prob: &probs,
            temperature: 0.5,
        };
        let g = softmax_gradient_reference(&t, &ex).unwrap();
        let fast = softmax_gradient(&t, &ex).unwrap();
        let u: Vec<f64> = user.iter().map(|v| f64::from(*v)).collect();
        for j in 0..8 {
            let h = 1e-5;
            let (mut up, mut down) = (u.clone(), u.clone());
            up[j] += h;
            down[j] -= h;
            let numeric = (loss(&t, &ex, &up) - loss(&t, &ex, &down)) / (2.0 * h);
            assert!((f64::from(g[j]) - numeric).abs() < 1e-4, "dim {j}: {} vs {numeric}", g[j]);
            assert!(
                (g[j] - fast[j]).abs() < 1e-4 * (1.0 + g[j].abs()),
                "dim {j}: fast {}",
                fast[j]
            );
        }
        // A small step against the gradient lowers the loss.
        let stepped: Vec<f64> = u.iter().zip(&g).map(|(a, b)| a - 0.05 * f64::from(*b)).collect();
        assert!(loss(&t, &ex, &stepped) < loss(&t, &ex, &u));
    }

    #[test]
    fn bad_examples_are_typed_errors() {
        let t = table();
        let user = [0.0f32; 8];
        let ex = |positive, q: &'static [f32], temperature| SoftmaxExample {
            user: &[0.0; 8],
            positive,
            candidates: &[1, 2],
            sample_prob: q,
            temperature,
        };
        assert!(matches!(
            softmax_gradient(&t, &ex(3, &[0.5, 0.5], 1.0)),
            Err(Error::InvalidArgument { name: "positive", .. })
        ));
        assert!(matches!(
            softmax_gradient(&t, &ex(1, &[0.0, 0.5], 1.0)),
            Err(Error::InvalidArgument { name: "sample_prob", .. })
        ));
        assert!(matches!(
            softmax_gradient(&t, &ex(1, &[0.5, 0.5], 0.0)),
            Err(Error::InvalidArgument { name: "temperature", .. })
        ));
        assert!(matches!(
            softmax_gradient(&t, &ex(1, &[0.5], 1.0)),
            Err(Error::DimensionMismatch { .. })
        ));
        let short = SoftmaxExample { user: &user[..3], ..ex(1, &[0.5, 0.5], 1.0) };
        assert_eq!(
            softmax_gradient(&t, &short),
            Err(Error::DimensionMismatch { expected: 8, received: 3 })
        );
    }
}
