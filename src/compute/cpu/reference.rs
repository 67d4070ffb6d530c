//! The scalar reference: the definition of a correct top-k.
//!
//! Deliberately simple — dequantize each row, score it with an `f64` accumulator (so its own
//! rounding error is far below any tolerance a test uses; cosine divides by f64 norms), sort
//! everything, keep `k`. Slow by design; never on a hot path.

use crate::bundle::QuantScheme;
use crate::compute::index::{ItemIndex, ScoreRequest, Similarity};
use crate::compute::{ItemMatrix, TopK};
use crate::error::{Error, Result};
use ndarray::ArrayView2;

/// Exact dot product of `a` and `b`, accumulated in f64 and rounded once to f32.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_f64(a, b) as f32
}

fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

/// The exact score of dequantized `row` against `query` under `similarity`, in f64.
pub fn exact_score(row: &[f32], query: &[f32], similarity: Similarity) -> f64 {
    let d = dot_f64(row, query);
    match similarity {
        Similarity::Dot => d,
        Similarity::Cosine => {
            let norms = (dot_f64(row, row) * dot_f64(query, query)).sqrt();
            if norms > 0.0 { d / norms } else { 0.0 }
        }
    }
}

/// Scores every eligible item (the candidates, or all rows; minus the mask) against each query
/// and returns each query's best `k` — fewer when fewer items are eligible.
///
/// # Errors
/// As [`ItemIndex::validate`].
pub fn score_top_k(index: &ItemIndex, request: &ScoreRequest<'_>) -> Result<Vec<TopK>> {
    let batch = index.validate(request)?;
    let dim = index.dim();
    // `validate` checked `queries.len() == batch · dim`: one query per row.
    let queries = ArrayView2::from_shape((batch, dim), request.queries)
        .map_err(|_| Error::DimensionMismatch { expected: dim, received: request.queries.len() })?;
    let rows: Vec<u32> = match request.candidates {
        Some(c) => c.to_vec(),
        None => (0..index.rows() as u32).collect(),
    };
    let eligible: Vec<u32> = rows
        .into_iter()
        .filter(|&r| !request.mask.is_some_and(|m| m.is_excluded(r as usize)))
        .collect();
    let mut row = vec![0.0f32; dim];
    let mut per_query: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(eligible.len()); batch];
    for &r in &eligible {
        index.matrix().dequantize_row(r as usize, &mut row);
        for (query, scored) in queries.rows().into_iter().zip(per_query.iter_mut()) {
            let query = query.as_slice().unwrap_or_default();
            scored.push((exact_score(&row, query, index.similarity()) as f32, r));
        }
    }
    Ok(per_query
        .into_iter()
        .map(|mut scored| {
            crate::order::sort_ranked(&mut scored);
            scored.truncate(request.k);
            TopK {
                ids: scored.iter().map(|s| s.1).collect(),
                scores: scored.iter().map(|s| s.0).collect(),
            }
        })
        .collect())
}

/// One f32 query, dot product, whole matrix: the simplest form, for tests and demos.
///
/// # Errors
/// As [`ItemIndex::validate`].
pub fn top_k(items: &ItemMatrix, query: &[f32], k: usize) -> Result<TopK> {
    let index = ItemIndex::quantize(items, QuantScheme::F32, Similarity::Dot)?;
    let mut all = score_top_k(&index, &ScoreRequest::new(query, k))?;
    Ok(all.pop().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::RowMask;

    #[test]
    fn ranks_by_score_then_index() {
        // rows: [1,0] [0,1] [1,0] [2,2]
        let m = ItemMatrix::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 2.0], 2).unwrap();
        let top = top_k(&m, &[1.0, 0.0], 3).unwrap();
        assert_eq!(top.ids, vec![3, 0, 2]);
        assert_eq!(top.scores, vec![2.0, 1.0, 1.0]);
    }

    #[test]
    fn accumulates_in_f64() {
        // 1e8 + 1 - 1e8 loses the 1 in f32 but not in f64.
        assert_eq!(dot(&[1e8, 1.0, -1e8], &[1.0, 1.0, 1.0]), 1.0);
    }

    #[test]
    fn cosine_masks_candidates_and_batches() {
        let m = ItemMatrix::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 2.0], 2).unwrap();
        let index = ItemIndex::quantize(&m, QuantScheme::F32, Similarity::Cosine).unwrap();
        let mut mask = RowMask::new(4);
        mask.exclude(0);
        let queries = [1.0, 0.0, 0.0, 3.0];
        let request = ScoreRequest::new(&queries, 3).with_mask(&mask);
        let out = score_top_k(&index, &request).unwrap();
        assert_eq!(out[0].ids, vec![2, 3, 1]);
        assert_eq!(out[1].ids, vec![1, 3, 2]);
        assert!((out[0].scores[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        // Candidates minus the mask leave one row: fewer than k results.
        let out = score_top_k(
            &index,
            &ScoreRequest::new(&queries[..2], 2).with_candidates(&[0, 3]).with_mask(&mask),
        )
        .unwrap();
        assert_eq!(out[0].ids, vec![3]);
    }
}
