//! The item index every scoring backend reads: stored vectors (f32, f16 or packed int8), the
//! similarity, and a per-row multiplier folding the int8 scale and the cosine normalization
//! into one number, so kernels compute `mult[row] · Σ_j q_j · stored_j` whatever the format.

use crate::bundle::{DType, QuantScheme, QuantizedMatrix};
use crate::compute::{ItemMatrix, MAX_K};
use crate::error::{Error, Result};

/// How a query is compared with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Similarity {
    /// Inner product `q · x`.
    #[default]
    Dot,
    /// `q · x / (‖q‖ ‖x‖)`; a zero vector has similarity 0 with everything.
    Cosine,
}

impl std::str::FromStr for Similarity {
    type Err = Error;

    /// Parses `"dot"` or `"cosine"` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dot" => Ok(Self::Dot),
            "cosine" => Ok(Self::Cosine),
            other => Err(Error::InvalidArgument {
                name: "similarity",
                reason: format!("{other:?} is not one of \"dot\", \"cosine\""),
            }),
        }
    }
}

impl ItemIndex {
    /// The item index of a loaded bundle: its `item_embeddings` tensor (in the stored format,
    /// no re-quantization) with the manifest's similarity.
    ///
    /// # Errors
    /// As [`crate::bundle::TensorView::to_quantized_matrix`].
    pub fn from_bundle(bundle: &crate::bundle::Bundle) -> Result<Self> {
        let similarity = match bundle.manifest().similarity {
            crate::bundle::manifest::Similarity::Dot => Similarity::Dot,
            crate::bundle::manifest::Similarity::Cosine => Similarity::Cosine,
        };
        Ok(Self::new(bundle.item_embeddings().to_quantized_matrix()?, similarity))
    }
}

/// Items to leave out of a top-k (already shown, consumed, blocked): a bitset over rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMask {
    rows: usize,
    words: Vec<u32>,
}

impl RowMask {
    /// A mask over `rows` rows with nothing excluded.
    pub fn new(rows: usize) -> Self {
        Self { rows, words: vec![0; rows.div_ceil(32)] }
    }

    /// Excludes `row`. Rows past the end are ignored (the index validates masks by size).
    pub fn exclude(&mut self, row: usize) {
        if row < self.rows {
            self.words[row / 32] |= 1 << (row % 32);
        }
    }

    /// True when `row` is excluded.
    #[inline]
    pub fn is_excluded(&self, row: usize) -> bool {
        self.words.get(row / 32).is_some_and(|w| w & (1 << (row % 32)) != 0)
    }

    /// Number of rows the mask covers.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The bitset words (bit `r % 32` of word `r / 32` set = row `r` excluded).
    pub fn words(&self) -> &[u32] {
        &self.words
    }
}

/// One scoring call: a batch of queries and what to consider.
#[derive(Debug, Clone, Copy)]
pub struct ScoreRequest<'a> {
    /// `B × dim` query values, row-major (`B >= 1`).
    pub queries: &'a [f32],
    /// Results per query.
    pub k: usize,
    /// Rows to leave out.
    pub mask: Option<&'a RowMask>,
    /// Score only these rows (unique, in range); `None` scores the whole index.
    pub candidates: Option<&'a [u32]>,
}

impl<'a> ScoreRequest<'a> {
    /// A request for the best `k` items over the whole index, for one or more queries.
    pub fn new(queries: &'a [f32], k: usize) -> Self {
        Self { queries, k, mask: None, candidates: None }
    }

    /// Leaves out the rows `mask` excludes.
    pub fn with_mask(mut self, mask: &'a RowMask) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Scores only `candidates`.
    pub fn with_candidates(mut self, candidates: &'a [u32]) -> Self {
        self.candidates = Some(candidates);
        self
    }
}

/// A validated item index in its stored format.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemIndex {
    matrix: QuantizedMatrix,
    similarity: Similarity,
    row_mult: Vec<f32>,
    /// Per int8 row, for the relaxed-SIMD scan's 6-bit filter (`cpu::fast`): `Σ x_j` of the
    /// stored values (removes the query offset) and `Σ |x_j| · |row_mult|` (bounds the
    /// filter's error), one slice each so that the scan reads a block of rows contiguously.
    /// Empty for other dtypes; only in builds that have the filter.
    #[cfg(any(test, all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
    row_sums: (Vec<i32>, Vec<f32>),
}

impl ItemIndex {
    /// Wraps a stored matrix. Computes each row's multiplier: the int8 scale (or 1) times, for
    /// cosine, `1 / ‖dequantized row‖` (0 for a zero row).
    pub fn new(matrix: QuantizedMatrix, similarity: Similarity) -> Self {
        let mut row = vec![0.0f32; matrix.dim()];
        let row_mult: Vec<f32> = (0..matrix.rows())
            .map(|r| {
                let scale =
                    if matrix.scheme().dtype == DType::I8 { matrix.row_scale(r) } else { 1.0 };
                match similarity {
                    Similarity::Dot => scale,
                    Similarity::Cosine => {
                        matrix.dequantize_row(r, &mut row);
                        let norm = row.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                        if norm > 0.0 { (f64::from(scale) / norm) as f32 } else { 0.0 }
                    }
                }
            })
            .collect();
        #[cfg(any(test, all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
        let row_sums = if matrix.scheme().dtype == DType::I8 {
            let bytes: &[i8] = bytemuck::cast_slice(matrix.words());
            let (dim, stride) = (matrix.dim(), matrix.scheme().words_per_row(matrix.dim()) * 4);
            let row = |r: usize| &bytes[r * stride..r * stride + dim];
            let sums = (0..matrix.rows()).map(|r| row(r).iter().map(|&x| i32::from(x)).sum());
            let l1 = |r: usize| row(r).iter().map(|&x| i32::from(x).abs()).sum::<i32>();
            let l1_mults = row_mult.iter().enumerate().map(|(r, m)| l1(r) as f32 * m.abs());
            (sums.collect(), l1_mults.collect())
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            matrix,
            similarity,
            row_mult,
            #[cfg(any(test, all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
            row_sums,
        }
    }

    /// Quantizes an f32 matrix with `scheme` and wraps it.
    ///
    /// # Errors
    /// As [`QuantizedMatrix::quantize`].
    pub fn quantize(
        items: &ItemMatrix,
        scheme: QuantScheme,
        similarity: Similarity,
    ) -> Result<Self> {
        Ok(Self::new(QuantizedMatrix::quantize(items.as_slice(), items.dim(), scheme)?, similarity))
    }

    /// The stored matrix.
    pub fn matrix(&self) -> &QuantizedMatrix {
        &self.matrix
    }
    /// The similarity.
    pub fn similarity(&self) -> Similarity {
        self.similarity
    }
    /// Per-row multipliers (see the type docs).
    pub fn row_mult(&self) -> &[f32] {
        &self.row_mult
    }
    /// Per int8 row `Σ x_j` and `Σ |x_j| · |row_mult|` (see the field); empty in builds
    /// without the filter.
    pub(crate) fn row_sums(&self) -> (&[i32], &[f32]) {
        #[cfg(any(test, all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
        {
            (&self.row_sums.0, &self.row_sums.1)
        }
        #[cfg(not(any(test, all(target_arch = "wasm32", target_feature = "relaxed-simd"))))]
        {
            (&[], &[])
        }
    }
    /// Number of items.
    pub fn rows(&self) -> usize {
        self.matrix.rows()
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.matrix.dim()
    }

    /// Checks a request against this index; returns the batch size `B`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] (queries not a whole number of `dim` rows, or no query),
    /// [`Error::InvalidK`] (`k` outside `1..=min(rows or candidates, MAX_K)`),
    /// [`Error::NonFinite`] in a query, [`Error::InvalidArgument`] for a mask of the wrong size
    /// or candidates out of range / repeated.
    pub fn validate(&self, request: &ScoreRequest<'_>) -> Result<usize> {
        validate_request(self.rows(), self.dim(), request)
    }
}

/// [`ItemIndex::validate`] for an index known by its shape (e.g. one resident on the GPU).
pub(crate) fn validate_request(
    rows: usize,
    dim: usize,
    request: &ScoreRequest<'_>,
) -> Result<usize> {
    if request.queries.is_empty() || !request.queries.len().is_multiple_of(dim) {
        return Err(Error::DimensionMismatch { expected: dim, received: request.queries.len() });
    }
    let pool = request.candidates.map_or(rows, <[u32]>::len);
    let max = pool.min(MAX_K);
    if request.k == 0 || request.k > max {
        return Err(Error::InvalidK { k: request.k, max });
    }
    if let Some(position) = request.queries.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { what: "query", position });
    }
    if let Some(mask) = request.mask
        && mask.rows() != rows
    {
        return Err(Error::InvalidArgument {
            name: "mask",
            reason: format!("covers {} rows, the index has {rows}", mask.rows()),
        });
    }
    if let Some(candidates) = request.candidates {
        let mut seen = RowMask::new(rows);
        for &c in candidates {
            if c as usize >= rows || seen.is_excluded(c as usize) {
                return Err(Error::InvalidArgument {
                    name: "candidates",
                    reason: format!("row {c} is out of range (rows: {rows}) or repeated"),
                });
            }
            seen.exclude(c as usize);
        }
    }
    Ok(request.queries.len() / dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ItemIndex {
        let items = ItemMatrix::new(vec![3.0, 4.0, 0.0, 0.0, 1.0, 0.0], 2).unwrap();
        ItemIndex::quantize(&items, QuantScheme::F32, Similarity::Cosine).unwrap()
    }

    #[test]
    fn cosine_multipliers_are_inverse_norms_and_zero_for_zero_rows() {
        assert_eq!(index().row_mult(), &[0.2, 0.0, 1.0]);
    }

    #[test]
    fn masks_set_and_test_bits() {
        let mut m = RowMask::new(70);
        m.exclude(0);
        m.exclude(69);
        m.exclude(1000);
        assert!(m.is_excluded(0) && m.is_excluded(69) && !m.is_excluded(33));
        assert_eq!(m.words().len(), 3);
    }

    #[test]
    fn validation_covers_every_input() {
        let idx = index();
        let ok = [1.0, 0.0];
        assert_eq!(idx.validate(&ScoreRequest::new(&[1.0, 0.0, 0.0, 1.0], 2)), Ok(2));
        assert!(matches!(
            idx.validate(&ScoreRequest::new(&[1.0; 3], 1)),
            Err(Error::DimensionMismatch { expected: 2, received: 3 })
        ));
        assert!(matches!(
            idx.validate(&ScoreRequest::new(&[], 1)),
            Err(Error::DimensionMismatch { .. })
        ));
        assert_eq!(idx.validate(&ScoreRequest::new(&ok, 4)), Err(Error::InvalidK { k: 4, max: 3 }));
        assert_eq!(
            idx.validate(&ScoreRequest::new(&ok, 2).with_candidates(&[1])),
            Err(Error::InvalidK { k: 2, max: 1 })
        );
        assert!(matches!(
            idx.validate(&ScoreRequest::new(&ok, 1).with_candidates(&[1, 1])),
            Err(Error::InvalidArgument { name: "candidates", .. })
        ));
        assert!(matches!(
            idx.validate(&ScoreRequest::new(&ok, 1).with_candidates(&[3])),
            Err(Error::InvalidArgument { name: "candidates", .. })
        ));
        let wrong = RowMask::new(2);
        assert!(matches!(
            idx.validate(&ScoreRequest::new(&ok, 1).with_mask(&wrong)),
            Err(Error::InvalidArgument { name: "mask", .. })
        ));
        assert_eq!(
            idx.validate(&ScoreRequest::new(&[0.0, f32::NAN], 1)),
            Err(Error::NonFinite { what: "query", position: 1 })
        );
    }
}
