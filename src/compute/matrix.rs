//! A validated, row-major f32 item matrix: the item index the scoring kernels read.

use crate::error::{Error, Result};

/// Item vectors, one row per item, stored row-major.
///
/// Construction validates once (shape, emptiness, finiteness) so that every kernel can trust it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemMatrix {
    data: Vec<f32>,
    dim: usize,
    rows: usize,
}

impl ItemMatrix {
    /// Wraps `data` (`rows × dim` values, row-major).
    ///
    /// # Errors
    /// [`Error::EmptyIndex`] for no rows or `dim == 0`, [`Error::ShapeMismatch`] when the length
    /// is not a multiple of `dim`, [`Error::NonFinite`] for NaN or infinity.
    pub fn new(data: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || data.is_empty() {
            return Err(Error::EmptyIndex);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch { what: "item matrix", len: data.len(), dim });
        }
        if let Some(position) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "item matrix", position });
        }
        let rows = data.len() / dim;
        Ok(Self { data, dim, rows })
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of items.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The vector of item `row`. Panics if `row >= rows()` (internal callers iterate in range).
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert_eq!(ItemMatrix::new(vec![], 4), Err(Error::EmptyIndex));
        assert_eq!(ItemMatrix::new(vec![1.0], 0), Err(Error::EmptyIndex));
        assert_eq!(
            ItemMatrix::new(vec![1.0; 5], 2),
            Err(Error::ShapeMismatch { what: "item matrix", len: 5, dim: 2 })
        );
        assert_eq!(
            ItemMatrix::new(vec![1.0, f32::INFINITY], 1),
            Err(Error::NonFinite { what: "item matrix", position: 1 })
        );
    }

    #[test]
    fn exposes_rows() {
        let m = ItemMatrix::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3).unwrap();
        assert_eq!((m.rows(), m.dim()), (2, 3));
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
    }
}
