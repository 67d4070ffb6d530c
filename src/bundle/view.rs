//! Zero-copy tensor views over a loaded bundle, and the value checks run once at load.

use super::manifest::{NEIGHBOR_IDS, NO_NEIGHBOR, TensorDType, TensorEntry};
use super::quant::{DType, QuantScheme, QuantizedMatrix, unpack_value};
use crate::error::{Error, Result};
use half::f16;

/// A read-only view of one tensor: its packed words borrow the bundle's file buffer (no copy),
/// its int8 scales were decoded to f32 once at load.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub(crate) entry: &'a TensorEntry,
    pub(crate) scheme: Option<QuantScheme>,
    pub(crate) words: &'a [u32],
    pub(crate) scales: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// Tensor name.
    pub fn name(&self) -> &'a str {
        &self.entry.name
    }
    /// The bundle file holding it.
    pub fn file(&self) -> &'a str {
        &self.entry.file
    }
    /// Shape as written in the manifest (`[n]` or `[rows, cols]`).
    pub fn shape(&self) -> &'a [u64] {
        &self.entry.shape
    }
    /// The manifest entry.
    pub fn entry(&self) -> &'a TensorEntry {
        self.entry
    }
    /// Stored element type.
    pub fn dtype(&self) -> TensorDType {
        self.entry.dtype
    }
    /// The quantization scheme (float tensors), `None` for `u32` tensors.
    pub fn scheme(&self) -> Option<QuantScheme> {
        self.scheme
    }
    /// Rows (1 for a rank-1 tensor). Fits `usize`: the manifest check bounds it by 2^32 - 1.
    pub fn rows(&self) -> usize {
        self.entry.rows_cols().0 as usize
    }
    /// Values per row.
    pub fn cols(&self) -> usize {
        self.entry.rows_cols().1 as usize
    }
    /// `u32` words per (padded) row.
    pub fn words_per_row(&self) -> usize {
        self.entry.dtype.words_per_row(self.cols() as u64) as usize
    }
    /// All packed words, row-major: exactly the layout of [`QuantizedMatrix::words`], ready to
    /// upload to a GPU buffer.
    pub fn words(&self) -> &'a [u32] {
        self.words
    }
    /// The packed words of `row`, or `None` past the end.
    pub fn row_words(&self, row: usize) -> Option<&'a [u32]> {
        let w = self.words_per_row();
        self.words.get(row * w..(row + 1) * w)
    }
    /// int8 scales as f32 (one per row or one per tensor); empty otherwise.
    pub fn scales(&self) -> &'a [f32] {
        self.scales
    }
    /// The int8 scale of `row` (1 for other dtypes).
    pub fn row_scale(&self, row: usize) -> f32 {
        match self.scales.len() {
            0 => 1.0,
            1 => self.scales[0],
            _ => self.scales.get(row).copied().unwrap_or(1.0),
        }
    }
    /// The values of an `f32` tensor, zero-copy; `None` for other dtypes.
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        (self.entry.dtype == TensorDType::F32).then(|| bytemuck::cast_slice(self.words))
    }
    /// The values of a `u32` tensor (neighbour ids), zero-copy; `None` for other dtypes.
    pub fn as_u32(&self) -> Option<&'a [u32]> {
        (self.entry.dtype == TensorDType::U32).then_some(self.words)
    }
    /// Value `j` of `row`, dequantized (`u32` values are converted to f32). `None` when out of
    /// range.
    pub fn get(&self, row: usize, j: usize) -> Option<f32> {
        if j >= self.cols() {
            return None;
        }
        let words = self.row_words(row)?;
        Some(match self.scheme {
            Some(s) => unpack_value(s.dtype, words, self.row_scale(row), j),
            None => words[j] as f32,
        })
    }
    /// Dequantizes `row` into `out` (`min(out.len(), cols)` values); `false` past the end.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) -> bool {
        let Some(words) = self.row_words(row) else { return false };
        let scale = self.row_scale(row);
        for (j, o) in out.iter_mut().enumerate().take(self.cols()) {
            *o = match self.scheme {
                Some(s) => unpack_value(s.dtype, words, scale, j),
                None => words[j] as f32,
            };
        }
        true
    }
    /// The whole tensor as f32, row-major (one allocation).
    pub fn dequantize(&self) -> Vec<f32> {
        let cols = self.cols();
        let mut out = vec![0.0; self.rows() * cols];
        for (row, chunk) in out.chunks_exact_mut(cols).enumerate() {
            self.dequantize_row(row, chunk);
        }
        out
    }
    /// An owned [`QuantizedMatrix`] (copies the words) for code that takes one.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `u32` tensor.
    pub fn to_quantized_matrix(&self) -> Result<QuantizedMatrix> {
        let scheme = self.scheme.ok_or_else(|| Error::InvalidArgument {
            name: "tensor",
            reason: format!("{} is a u32 tensor, not a float matrix", self.entry.name),
        })?;
        QuantizedMatrix::from_parts(
            scheme,
            self.rows(),
            self.cols(),
            self.words.to_vec(),
            self.scales.to_vec(),
        )
    }
    /// Bytes stored for this tensor (excluding its scale tensor).
    pub fn stored_bytes(&self) -> usize {
        self.words.len() * 4
    }
}

/// Checks a tensor's values once at load: floats finite, int8 within ±127 with zero padding,
/// f16 padding zero, neighbour ids in range. `items` bounds the neighbour ids.
pub(crate) fn check_values(t: &TensorEntry, words: &[u32], items: u64) -> Result<()> {
    let (rows, cols) = t.rows_cols();
    let (rows, cols) = (rows as usize, cols as usize);
    let per_row = t.dtype.words_per_row(cols as u64) as usize;
    let corrupt = |reason: String| Error::BundleCorrupt {
        file: t.file.clone(),
        reason: format!("tensor {}: {reason}", t.name),
    };
    let non_finite = |position: usize| Error::BundleNonFinite {
        file: t.file.clone(),
        tensor: t.name.clone(),
        position,
    };
    for (r, row) in words.chunks_exact(per_row).enumerate().take(rows) {
        match t.dtype {
            TensorDType::F32 => {
                if let Some(j) = row.iter().position(|w| !f32::from_bits(*w).is_finite()) {
                    return Err(non_finite(r * cols + j));
                }
            }
            TensorDType::F16 => {
                for j in 0..cols {
                    if !unpack_value(DType::F16, row, 1.0, j).is_finite() {
                        return Err(non_finite(r * cols + j));
                    }
                }
                if cols % 2 == 1 && row[per_row - 1] >> 16 != 0 {
                    return Err(corrupt(format!("row {r}: non-zero f16 padding")));
                }
            }
            TensorDType::I8 => {
                let bytes: &[u8] = bytemuck::cast_slice(row);
                if let Some(j) = bytes[..cols].iter().position(|b| *b == 0x80) {
                    return Err(corrupt(format!(
                        "row {r} value {j} is -128, outside symmetric ±127"
                    )));
                }
                if bytes[cols..].iter().any(|b| *b != 0) {
                    return Err(corrupt(format!("row {r}: non-zero int8 padding")));
                }
            }
            TensorDType::U32 => {
                if t.name == NEIGHBOR_IDS
                    && let Some(j) =
                        row.iter().position(|id| *id != NO_NEIGHBOR && u64::from(*id) >= items)
                {
                    return Err(corrupt(format!(
                        "row {r}: neighbour id {} ≥ {items} items",
                        row[j]
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Decodes a scale tensor (already value-checked as a float tensor) to f32, rejecting scales
/// that are not strictly positive (a zero scale would make every value of its row zero).
pub(crate) fn decode_scales(t: &TensorEntry, words: &[u32], owner: &str) -> Result<Vec<f32>> {
    let n = t.rows_cols().1 as usize;
    let scales: Vec<f32> = match t.dtype {
        TensorDType::F32 => words.iter().take(n).map(|w| f32::from_bits(*w)).collect(),
        TensorDType::F16 => (0..n)
            .map(|j| f16::from_bits((words[j / 2] >> (16 * (j % 2))) as u16).to_f32())
            .collect(),
        _ => Vec::new(),
    };
    if let Some(i) = scales.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::BundleCorrupt {
            file: t.file.clone(),
            reason: format!("scale {i} of {owner} ({}) is not finite and positive", t.name),
        });
    }
    Ok(scales)
}
