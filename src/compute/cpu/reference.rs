//! The scalar reference: the definition of a correct top-k.
//!
//! Deliberately simple — score every row with an `f64` accumulator (so its own rounding error is
//! far below any tolerance a test uses), sort everything, keep `k`. Slow by design; never on a
//! hot path.

use crate::compute::topk::rank_order;
use crate::compute::{ItemMatrix, TopK, validate_query};
use crate::error::Result;

/// Exact dot product of `a` and `b`, accumulated in f64 and rounded once to f32.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>() as f32
}

/// Scores every item against `query` and returns the best `k` (score desc, ties to lower index).
///
/// # Errors
/// As [`validate_query`].
pub fn top_k(items: &ItemMatrix, query: &[f32], k: usize) -> Result<TopK> {
    validate_query(items, query, k)?;
    let mut scored: Vec<(f32, u32)> =
        (0..items.rows()).map(|row| (dot(items.row(row), query), row as u32)).collect();
    scored.sort_by(|a, b| rank_order(*a, *b));
    scored.truncate(k);
    Ok(TopK {
        ids: scored.iter().map(|s| s.1).collect(),
        scores: scored.iter().map(|s| s.0).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
