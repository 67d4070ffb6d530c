//! The top-k result type, its ordering rule, and query validation shared by every backend.

use crate::compute::ItemMatrix;
use crate::error::{Error, Result};
use std::cmp::Ordering;

/// The largest `k` any backend returns. The GPU kernel keeps `k` rounded up to a power of two
/// per 2048-row tile in workgroup memory (see `shaders/README.md`).
pub const MAX_K: usize = 1024;

/// The `k` best items for a query, best first.
///
/// Order: score descending; exactly equal scores go to the lower row index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopK {
    /// Row indices into the item matrix.
    pub ids: Vec<u32>,
    /// Scores (dot products), aligned with `ids`.
    pub scores: Vec<f32>,
}

impl TopK {
    /// Number of results.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no results.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The ranking order: higher score first, then lower index. Total for finite scores.
pub(crate) fn rank_order(a: (f32, u32), b: (f32, u32)) -> Ordering {
    b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal).then(a.1.cmp(&b.1))
}

/// Checks a query against an index before any backend runs it.
///
/// # Errors
/// [`Error::DimensionMismatch`], [`Error::InvalidK`] (k = 0, k > rows, k > [`MAX_K`]),
/// [`Error::NonFinite`] for NaN or infinity in the query.
pub fn validate_query(items: &ItemMatrix, query: &[f32], k: usize) -> Result<()> {
    check_query(items.dim(), items.rows(), query, k)
}

/// [`validate_query`] for an index known only by its shape (e.g. one resident on the GPU).
pub(crate) fn check_query(dim: usize, rows: usize, query: &[f32], k: usize) -> Result<()> {
    if query.len() != dim {
        return Err(Error::DimensionMismatch { expected: dim, received: query.len() });
    }
    let max = rows.min(MAX_K);
    if k == 0 || k > max {
        return Err(Error::InvalidK { k, max });
    }
    if let Some(position) = query.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { what: "query", position });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> ItemMatrix {
        ItemMatrix::new(vec![0.5; 12], 4).unwrap()
    }

    #[test]
    fn rejects_each_bad_input_with_its_own_error() {
        let m = items();
        assert_eq!(
            validate_query(&m, &[1.0; 3], 1),
            Err(Error::DimensionMismatch { expected: 4, received: 3 })
        );
        assert_eq!(validate_query(&m, &[1.0; 4], 0), Err(Error::InvalidK { k: 0, max: 3 }));
        assert_eq!(validate_query(&m, &[1.0; 4], 4), Err(Error::InvalidK { k: 4, max: 3 }));
        assert_eq!(
            validate_query(&m, &[1.0, f32::NAN, 1.0, 1.0], 1),
            Err(Error::NonFinite { what: "query", position: 1 })
        );
        assert_eq!(validate_query(&m, &[1.0; 4], 3), Ok(()));
    }

    #[test]
    fn caps_k_at_max_k() {
        let m = ItemMatrix::new(vec![1.0; 2000], 1).unwrap();
        assert_eq!(
            validate_query(&m, &[1.0], MAX_K + 1),
            Err(Error::InvalidK { k: MAX_K + 1, max: MAX_K })
        );
    }

    #[test]
    fn order_breaks_ties_by_lower_index() {
        assert_eq!(rank_order((1.0, 3), (1.0, 5)), Ordering::Less);
        assert_eq!(rank_order((2.0, 9), (1.0, 0)), Ordering::Less);
        assert_eq!(rank_order((0.0, 1), (-0.0, 0)), Ordering::Greater);
    }
}
