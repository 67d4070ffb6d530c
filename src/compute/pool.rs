//! Pooling a batch of histories into one vector each — the first step of the user tower: gather
//! the embeddings of the items a user interacted with and average them, either weighted by
//! interaction weight (mean) or by attention over a query vector (softmax of scaled dot products,
//! as in DIN — Zhou et al., KDD 2018 — with the interaction weight as a prior:
//! `a_i ∝ w_i · exp(s · q·x_i)`). With all logits equal, attention reduces to the weighted mean.
//!
//! Histories are fixed-width rows of `slots` item rows; [`EMPTY_SLOT`] marks unused slots, so a
//! batch of users with different history lengths is one rectangular request. A history with no
//! item (or only zero weights) pools to the zero vector.

use crate::bundle::QuantizedMatrix;
use crate::error::{Error, Result};

/// Marks an unused history slot.
pub const EMPTY_SLOT: u32 = u32::MAX;

/// The most slots a history may have (the GPU kernel keeps one coefficient per slot in
/// workgroup memory).
pub const MAX_SLOTS: usize = 256;

/// How a history is reduced to one vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pooling {
    /// `Σ w_i x_i / Σ w_i`.
    Mean,
    /// `Σ a_i x_i` with `a_i = w_i·exp(scale·q·x_i) / Σ_j w_j·exp(scale·q·x_j)`; the request
    /// carries one query per history. `scale` is typically `1/√dim`.
    Attention {
        /// Multiplies the dot products before the softmax.
        scale: f32,
    },
}

/// A batch of histories to pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolRequest<'a> {
    /// `batch × slots` item rows ([`EMPTY_SLOT`] for none).
    pub ids: &'a [u32],
    /// `batch × slots` non-negative interaction weights (ignored for empty slots).
    pub weights: &'a [f32],
    /// Slots per history.
    pub slots: usize,
    /// `batch × dim` attention queries (attention pooling only).
    pub queries: Option<&'a [f32]>,
}

impl PoolRequest<'_> {
    /// Checks the request against a table of `rows × dim`; returns the batch size.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a slot count outside `1..=MAX_SLOTS`, ids out of range,
    /// negative weights or a missing query; [`Error::DimensionMismatch`] for lengths that do
    /// not match; [`Error::NonFinite`] for NaN or infinity.
    pub fn validate(&self, rows: usize, dim: usize, pooling: Pooling) -> Result<usize> {
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(Error::InvalidArgument {
                name: "slots",
                reason: format!("{} slots; must be between 1 and {MAX_SLOTS}", self.slots),
            });
        }
        if self.ids.is_empty() || !self.ids.len().is_multiple_of(self.slots) {
            return Err(Error::DimensionMismatch {
                expected: self.slots,
                received: self.ids.len(),
            });
        }
        if self.weights.len() != self.ids.len() {
            return Err(Error::DimensionMismatch {
                expected: self.ids.len(),
                received: self.weights.len(),
            });
        }
        if let Some(&bad) = self.ids.iter().find(|&&id| id != EMPTY_SLOT && id as usize >= rows) {
            return Err(Error::InvalidArgument {
                name: "ids",
                reason: format!("row {bad} is out of range (rows: {rows})"),
            });
        }
        if let Some(position) = self.weights.iter().position(|w| !w.is_finite()) {
            return Err(Error::NonFinite { what: "history weights", position });
        }
        if self.weights.iter().any(|w| *w < 0.0) {
            return Err(Error::InvalidArgument {
                name: "weights",
                reason: "weights must be ≥ 0".into(),
            });
        }
        let batch = self.ids.len() / self.slots;
        match (pooling, self.queries) {
            (Pooling::Mean, _) => {}
            (Pooling::Attention { scale }, queries) => {
                if !scale.is_finite() {
                    return Err(Error::NonFinite { what: "attention scale", position: 0 });
                }
                let Some(queries) = queries else {
                    return Err(Error::InvalidArgument {
                        name: "queries",
                        reason: "attention pooling needs one query per history".into(),
                    });
                };
                if queries.len() != batch * dim {
                    return Err(Error::DimensionMismatch {
                        expected: batch * dim,
                        received: queries.len(),
                    });
                }
                if let Some(position) = queries.iter().position(|q| !q.is_finite()) {
                    return Err(Error::NonFinite { what: "attention query", position });
                }
            }
        }
        Ok(batch)
    }
}

/// The pooling coefficients of one history (summing to 1, or all 0 for an empty history),
/// computed in f64 from the given logits (ignored for mean pooling).
fn coefficients(ids: &[u32], weights: &[f32], logits: &[f64], pooling: Pooling) -> Vec<f64> {
    let valid = |i: usize| ids[i] != EMPTY_SLOT && weights[i] > 0.0;
    let max =
        (0..ids.len()).filter(|&i| valid(i)).map(|i| logits[i]).fold(f64::NEG_INFINITY, f64::max);
    let raw: Vec<f64> = (0..ids.len())
        .map(|i| {
            if !valid(i) {
                0.0
            } else {
                match pooling {
                    Pooling::Mean => f64::from(weights[i]),
                    // Subtracting the max keeps exp in range (the usual stable softmax).
                    Pooling::Attention { .. } => f64::from(weights[i]) * (logits[i] - max).exp(),
                }
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|c| if total > 0.0 { c / total } else { 0.0 }).collect()
}

/// The scalar reference: dequantized rows, f64 throughout. Returns `batch × dim`.
///
/// # Errors
/// As [`PoolRequest::validate`].
pub fn pool_reference(
    table: &QuantizedMatrix,
    request: &PoolRequest<'_>,
    pooling: Pooling,
) -> Result<Vec<f32>> {
    let dim = table.dim();
    let batch = request.validate(table.rows(), dim, pooling)?;
    let n = request.slots;
    let mut out = vec![0.0f32; batch * dim];
    let mut row = vec![0.0f32; dim];
    for b in 0..batch {
        let ids = &request.ids[b * n..(b + 1) * n];
        let weights = &request.weights[b * n..(b + 1) * n];
        let mut logits = vec![0.0f64; n];
        if let (Pooling::Attention { scale }, Some(queries)) = (pooling, request.queries) {
            let q = &queries[b * dim..(b + 1) * dim];
            for (i, &id) in ids.iter().enumerate().filter(|(_, id)| **id != EMPTY_SLOT) {
                table.dequantize_row(id as usize, &mut row);
                let d: f64 = row.iter().zip(q).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
                logits[i] = f64::from(scale) * d;
            }
        }
        let coef = coefficients(ids, weights, &logits, pooling);
        let mut acc = vec![0.0f64; dim];
        for (&id, &c) in ids.iter().zip(&coef).filter(|(_, c)| **c > 0.0) {
            table.dequantize_row(id as usize, &mut row);
            for (a, x) in acc.iter_mut().zip(&row) {
                *a += c * f64::from(*x);
            }
        }
        for (o, a) in out[b * dim..(b + 1) * dim].iter_mut().zip(acc) {
            *o = a as f32;
        }
    }
    Ok(out)
}

/// The CPU fast path: f32 accumulation over dequantized rows, reusing `row` scratch.
///
/// # Errors
/// As [`PoolRequest::validate`].
pub fn pool_fast(
    table: &QuantizedMatrix,
    request: &PoolRequest<'_>,
    pooling: Pooling,
) -> Result<Vec<f32>> {
    let dim = table.dim();
    let batch = request.validate(table.rows(), dim, pooling)?;
    let n = request.slots;
    let mut out = vec![0.0f32; batch * dim];
    // Histories are short (≤ MAX_SLOTS); widening each row once per history is the whole cost.
    let mut rows = vec![0.0f32; n * dim];
    for b in 0..batch {
        let ids = &request.ids[b * n..(b + 1) * n];
        let weights = &request.weights[b * n..(b + 1) * n];
        for (i, &id) in ids.iter().enumerate().filter(|(_, id)| **id != EMPTY_SLOT) {
            table.dequantize_row(id as usize, &mut rows[i * dim..(i + 1) * dim]);
        }
        let mut logits = vec![0.0f64; n];
        if let (Pooling::Attention { scale }, Some(queries)) = (pooling, request.queries) {
            let q = &queries[b * dim..(b + 1) * dim];
            for (i, _) in ids.iter().enumerate().filter(|(_, id)| **id != EMPTY_SLOT) {
                logits[i] =
                    f64::from(scale * super::cpu::fast::dot(&rows[i * dim..(i + 1) * dim], q));
            }
        }
        let coef = coefficients(ids, weights, &logits, pooling);
        let dst = &mut out[b * dim..(b + 1) * dim];
        for (i, &c) in coef.iter().enumerate().filter(|(_, c)| **c > 0.0) {
            let c = c as f32;
            for (o, x) in dst.iter_mut().zip(&rows[i * dim..(i + 1) * dim]) {
                *o += c * x;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::QuantScheme;

    fn table() -> QuantizedMatrix {
        QuantizedMatrix::quantize(&[1.0, 0.0, 0.0, 1.0, 3.0, 3.0], 2, QuantScheme::F32).unwrap()
    }

    #[test]
    fn mean_is_weighted_and_skips_empty_slots() {
        let req = PoolRequest {
            ids: &[0, 1, EMPTY_SLOT, 2, EMPTY_SLOT, EMPTY_SLOT],
            weights: &[1.0, 3.0, 9.0, 1.0, 1.0, 1.0],
            slots: 3,
            queries: None,
        };
        for f in [pool_reference, pool_fast] {
            let out = f(&table(), &req, Pooling::Mean).unwrap();
            assert_eq!(out, vec![0.25, 0.75, 3.0, 3.0]);
        }
        let empty =
            PoolRequest { ids: &[EMPTY_SLOT, 0], weights: &[1.0, 0.0], slots: 2, queries: None };
        assert_eq!(pool_reference(&table(), &empty, Pooling::Mean).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn attention_prefers_items_aligned_with_the_query() {
        let req = PoolRequest {
            ids: &[0, 1],
            weights: &[1.0, 1.0],
            slots: 2,
            queries: Some(&[5.0, 0.0]),
        };
        for f in [pool_reference, pool_fast] {
            let out = f(&table(), &req, Pooling::Attention { scale: 1.0 }).unwrap();
            let a0 = 1.0 / (1.0 + (-5.0f32).exp());
            assert!((out[0] - a0).abs() < 1e-6 && (out[1] - (1.0 - a0)).abs() < 1e-6, "{out:?}");
        }
        // A zero scale makes every logit equal: attention is the weighted mean.
        let att = pool_reference(&table(), &req, Pooling::Attention { scale: 0.0 }).unwrap();
        assert_eq!(att, pool_reference(&table(), &req, Pooling::Mean).unwrap());
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let t = table();
        let ok = |ids: &'static [u32], w: &'static [f32]| PoolRequest {
            ids,
            weights: w,
            slots: 2,
            queries: None,
        };
        assert!(matches!(
            ok(&[0, 7], &[1.0, 1.0]).validate(3, 2, Pooling::Mean),
            Err(Error::InvalidArgument { name: "ids", .. })
        ));
        assert!(matches!(
            ok(&[0, 1], &[1.0, -1.0]).validate(3, 2, Pooling::Mean),
            Err(Error::InvalidArgument { name: "weights", .. })
        ));
        assert_eq!(
            ok(&[0, 1], &[1.0, f32::NAN]).validate(3, 2, Pooling::Mean),
            Err(Error::NonFinite { what: "history weights", position: 1 })
        );
        assert_eq!(
            ok(&[0, 1, 2], &[1.0; 3]).validate(3, 2, Pooling::Mean),
            Err(Error::DimensionMismatch { expected: 2, received: 3 })
        );
        assert!(matches!(
            ok(&[0, 1], &[1.0, 1.0]).validate(3, 2, Pooling::Attention { scale: 1.0 }),
            Err(Error::InvalidArgument { name: "queries", .. })
        ));
        let zero = PoolRequest { ids: &[0], weights: &[1.0], slots: 0, queries: None };
        assert!(matches!(
            zero.validate(3, 2, Pooling::Mean),
            Err(Error::InvalidArgument { name: "slots", .. })
        ));
        assert!(pool_fast(&t, &ok(&[0, 1], &[1.0, 1.0]), Pooling::Mean).is_ok());
    }
}
