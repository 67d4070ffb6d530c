//! Quantization as a value type: [`QuantScheme`] describes how a tensor is stored, and the
//! functions here are the single CPU definition of quantize / dequantize that the bundle
//! builder, the loader, the CPU kernels and the GPU parity tests all share.
//!
//! int8 is symmetric (zero point 0): `s = max|x| / 127`, `q = round(x / s)` (round half away
//! from zero, as `f32::round`), so `|x − s·q| ≤ s / 2`. Four int8 values are packed little-endian
//! into one `u32` (value `j` of a row in byte `j % 4` of word `j / 4`; rows padded with zeros to
//! a whole word) so WGSL reads them with `unpack4xI8`. f16 values are packed two per `u32`
//! (element `2w` in the low half) for `unpack2x16float`. Every operation is plain IEEE
//! arithmetic, so the bytes are identical on native and wasm.

use crate::error::{Error, Result};
use half::f16;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16, packed two per `u32`.
    F16,
    /// Symmetric int8, packed four per `u32`, with scales in a separate tensor.
    I8,
}

impl DType {
    /// Values one packed `u32` word holds (1, 2 or 4).
    pub fn values_per_word(self) -> usize {
        match self {
            DType::F32 => 1,
            DType::F16 => 2,
            DType::I8 => 4,
        }
    }
}

/// Value `j` of one packed row (`row` = that row's words), dequantized with `scale` (int8 only;
/// ignored for f32/f16). The single unpacking definition shared by [`QuantizedMatrix`] and the
/// zero-copy bundle views. Panics if `j / values_per_word >= row.len()` (callers stay in range).
pub fn unpack_value(dtype: DType, row: &[u32], scale: f32, j: usize) -> f32 {
    let word = row[j / dtype.values_per_word()];
    match dtype {
        DType::F32 => f32::from_bits(word),
        DType::F16 => f16::from_bits((word >> (16 * (j % 2))) as u16).to_f32(),
        DType::I8 => f32::from(((word >> (8 * (j % 4))) & 0xff) as u8 as i8) * scale,
    }
}

/// Which values share one int8 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// One scale per row (per item vector / output neuron): the default, far more accurate.
    PerRow,
    /// One scale for the whole tensor.
    PerTensor,
}

/// How int8 scales are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaleDType {
    /// f32 scales.
    F32,
    /// f16 scales (half the size; the scale is rounded to f16 *before* quantizing, so the
    /// stored scale is exactly the one the values were divided by).
    F16,
}

/// How a tensor is stored: the dtype, and for int8 the scale granularity and scale type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantScheme {
    /// Element type.
    pub dtype: DType,
    /// Scale granularity (int8 only; ignored otherwise).
    pub granularity: Granularity,
    /// Scale storage type (int8 only; ignored otherwise).
    pub scale: ScaleDType,
}

impl QuantScheme {
    /// Unquantized f32.
    pub const F32: Self =
        Self { dtype: DType::F32, granularity: Granularity::PerRow, scale: ScaleDType::F32 };
    /// f16.
    pub const F16: Self =
        Self { dtype: DType::F16, granularity: Granularity::PerRow, scale: ScaleDType::F32 };
    /// int8, one f32 scale per row.
    pub const I8_PER_ROW: Self =
        Self { dtype: DType::I8, granularity: Granularity::PerRow, scale: ScaleDType::F32 };
    /// int8, one f16 scale per row.
    pub const I8_PER_ROW_F16_SCALE: Self =
        Self { dtype: DType::I8, granularity: Granularity::PerRow, scale: ScaleDType::F16 };
    /// int8, one f32 scale for the whole tensor.
    pub const I8_PER_TENSOR: Self =
        Self { dtype: DType::I8, granularity: Granularity::PerTensor, scale: ScaleDType::F32 };

    /// `u32` words one row of `dim` values occupies.
    pub fn words_per_row(&self, dim: usize) -> usize {
        match self.dtype {
            DType::F32 => dim,
            DType::F16 => dim.div_ceil(2),
            DType::I8 => dim.div_ceil(4),
        }
    }
}

/// A matrix in one of the stored formats, rows padded to whole `u32` words.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    scheme: QuantScheme,
    rows: usize,
    dim: usize,
    /// Row-major words: f32 bits, two f16, or four int8 per word.
    words: Vec<u32>,
    /// int8 only: one scale per row (`PerRow`) or one (`PerTensor`); empty otherwise.
    scales: Vec<f32>,
}

/// Symmetric int8 scale for values whose largest magnitude is `max_abs`, rounded to the scale
/// storage type. A zero row gets scale 1 so that dequantization stays exact (all zeros).
fn int8_scale(max_abs: f32, scale_type: ScaleDType) -> f32 {
    let s = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
    match scale_type {
        ScaleDType::F32 => s,
        // Round up to the next f16 so that |x / s| <= 127 still holds after rounding.
        ScaleDType::F16 => {
            let h = f16::from_f32(s);
            if h.to_f32() < s { f16::from_bits(h.to_bits() + 1).to_f32() } else { h.to_f32() }
        }
    }
}

/// Quantizes one value with scale `s` to int8 (round half away from zero, clamped).
pub fn quantize_i8(x: f32, s: f32) -> i8 {
    (x / s).round().clamp(-127.0, 127.0) as i8
}

impl QuantizedMatrix {
    /// Quantizes `data` (`rows × dim`, row-major, finite) with `scheme`.
    ///
    /// # Errors
    /// [`Error::EmptyIndex`], [`Error::ShapeMismatch`], [`Error::NonFinite`].
    pub fn quantize(data: &[f32], dim: usize, scheme: QuantScheme) -> Result<Self> {
        if dim == 0 || data.is_empty() {
            return Err(Error::EmptyIndex);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch { what: "matrix", len: data.len(), dim });
        }
        if let Some(position) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "matrix", position });
        }
        let rows = data.len() / dim;
        let per_row = scheme.words_per_row(dim);
        let mut words = vec![0u32; rows * per_row];
        let mut scales = Vec::new();
        let max_abs = |xs: &[f32]| xs.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        match scheme.dtype {
            DType::F32 => {
                for (w, x) in words.iter_mut().zip(data) {
                    *w = x.to_bits();
                }
            }
            DType::F16 => {
                for (dst, src) in words.chunks_exact_mut(per_row).zip(data.chunks_exact(dim)) {
                    for (j, x) in src.iter().enumerate() {
                        dst[j / 2] |= u32::from(f16::from_f32(*x).to_bits()) << (16 * (j % 2));
                    }
                }
            }
            DType::I8 => {
                scales = match scheme.granularity {
                    Granularity::PerRow => data
                        .chunks_exact(dim)
                        .map(|r| int8_scale(max_abs(r), scheme.scale))
                        .collect(),
                    Granularity::PerTensor => vec![int8_scale(max_abs(data), scheme.scale)],
                };
                for (row, (dst, src)) in
                    words.chunks_exact_mut(per_row).zip(data.chunks_exact(dim)).enumerate()
                {
                    let s = scales[if scales.len() == 1 { 0 } else { row }];
                    for (j, x) in src.iter().enumerate() {
                        let byte = quantize_i8(*x, s) as u8;
                        dst[j / 4] |= u32::from(byte) << (8 * (j % 4));
                    }
                }
            }
        }
        Ok(Self { scheme, rows, dim, words, scales })
    }

    /// Wraps already-packed words and scales (e.g. read from a bundle), checking their lengths.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `words` or `scales` do not fit `rows × dim` under `scheme`;
    /// [`Error::NonFinite`] for a non-finite or non-positive scale.
    pub fn from_parts(
        scheme: QuantScheme,
        rows: usize,
        dim: usize,
        words: Vec<u32>,
        scales: Vec<f32>,
    ) -> Result<Self> {
        if rows == 0 || dim == 0 {
            return Err(Error::EmptyIndex);
        }
        let per_row = scheme.words_per_row(dim);
        if words.len() != rows * per_row {
            return Err(Error::ShapeMismatch {
                what: "packed words",
                len: words.len(),
                dim: per_row,
            });
        }
        let want_scales = match (scheme.dtype, scheme.granularity) {
            (DType::I8, Granularity::PerRow) => rows,
            (DType::I8, Granularity::PerTensor) => 1,
            _ => 0,
        };
        if scales.len() != want_scales {
            return Err(Error::ShapeMismatch {
                what: "scales",
                len: scales.len(),
                dim: want_scales,
            });
        }
        if let Some(position) = scales.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::NonFinite { what: "scales", position });
        }
        Ok(Self { scheme, rows, dim, words, scales })
    }

    /// The storage scheme.
    pub fn scheme(&self) -> QuantScheme {
        self.scheme
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Packed words, row-major, `words_per_row(dim)` per row.
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    /// int8 scales (one per row, or one for the tensor); empty for f32/f16.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// The scale of `row` (int8), or 1.
    pub fn row_scale(&self, row: usize) -> f32 {
        match self.scales.len() {
            0 => 1.0,
            1 => self.scales[0],
            _ => self.scales[row],
        }
    }

    /// Value `j` of `row`, dequantized.
    pub fn get(&self, row: usize, j: usize) -> f32 {
        let per_row = self.scheme.words_per_row(self.dim);
        let words = &self.words[row * per_row..(row + 1) * per_row];
        unpack_value(self.scheme.dtype, words, self.row_scale(row), j)
    }

    /// Dequantizes `row` into `out` (length `dim`).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        for (j, o) in out.iter_mut().enumerate().take(self.dim) {
            *o = self.get(row, j);
        }
    }

    /// The whole matrix as f32, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.dim];
        for (row, chunk) in out.chunks_exact_mut(self.dim).enumerate() {
            self.dequantize_row(row, chunk);
        }
        out
    }

    /// Bytes the stored form occupies (words plus scales at their storage type).
    pub fn stored_bytes(&self) -> usize {
        let scale_bytes = match self.scheme.scale {
            ScaleDType::F32 => 4,
            ScaleDType::F16 => 2,
        };
        self.words.len() * 4 + self.scales.len() * scale_bytes
    }
}

/// Parses a scheme name: `f32`, `f16`, `i8` (alias `int8`; per row, f32 scales), `i8-f16` (per
/// row, f16 scales), `i8-tensor` (one f32 scale), `i8-tensor-f16`. Case-insensitive.
///
/// # Errors
/// [`Error::InvalidArgument`] for any other name.
pub fn parse_scheme(name: &str) -> Result<QuantScheme> {
    let i8 = |granularity, scale| QuantScheme { dtype: DType::I8, granularity, scale };
    Ok(match name.to_ascii_lowercase().as_str() {
        "f32" => QuantScheme::F32,
        "f16" => QuantScheme::F16,
        "i8" | "int8" => i8(Granularity::PerRow, ScaleDType::F32),
        "i8-f16" => i8(Granularity::PerRow, ScaleDType::F16),
        "i8-tensor" => i8(Granularity::PerTensor, ScaleDType::F32),
        "i8-tensor-f16" => i8(Granularity::PerTensor, ScaleDType::F16),
        other => {
            return Err(Error::InvalidArgument {
                name: "quant",
                reason: format!(
                    "unknown scheme {other:?} (f32, f16, i8, i8-f16, i8-tensor, i8-tensor-f16)"
                ),
            });
        }
    })
}

/// The name [`parse_scheme`] reads back.
pub fn scheme_name(s: QuantScheme) -> &'static str {
    match (s.dtype, s.granularity, s.scale) {
        (DType::F32, ..) => "f32",
        (DType::F16, ..) => "f16",
        (DType::I8, Granularity::PerRow, ScaleDType::F32) => "i8",
        (DType::I8, Granularity::PerRow, ScaleDType::F16) => "i8-f16",
        (DType::I8, Granularity::PerTensor, ScaleDType::F32) => "i8-tensor",
        (DType::I8, Granularity::PerTensor, ScaleDType::F16) => "i8-tensor-f16",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: usize, dim: usize) -> Vec<f32> {
        (0..rows * dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1 + i % 3) as f32)
            .collect()
    }

    #[test]
    fn int8_round_trip_is_within_half_a_step() {
        let (rows, dim) = (20, 13);
        let data = sample(rows, dim);
        for scheme in
            [QuantScheme::I8_PER_ROW, QuantScheme::I8_PER_ROW_F16_SCALE, QuantScheme::I8_PER_TENSOR]
        {
            let q = QuantizedMatrix::quantize(&data, dim, scheme).unwrap();
            assert_eq!(q.words().len(), rows * 4);
            let back = q.dequantize();
            for (i, (x, y)) in data.iter().zip(&back).enumerate() {
                let s = q.row_scale(i / dim);
                assert!((x - y).abs() <= s / 2.0 + 1e-6, "{scheme:?} at {i}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn f16_and_f32_round_trip() {
        let data = sample(5, 7);
        let f32m = QuantizedMatrix::quantize(&data, 7, QuantScheme::F32).unwrap();
        assert_eq!(f32m.dequantize(), data);
        let f16m = QuantizedMatrix::quantize(&data, 7, QuantScheme::F16).unwrap();
        assert_eq!(f16m.words().len(), 5 * 4);
        for (x, y) in data.iter().zip(f16m.dequantize()) {
            assert!((x - y).abs() <= x.abs() * 1e-3, "{x} vs {y}");
        }
    }

    #[test]
    fn packing_is_little_endian_and_padded() {
        let q =
            QuantizedMatrix::quantize(&[127.0, -127.0, 1.0, 0.0, 64.0], 5, QuantScheme::I8_PER_ROW)
                .unwrap();
        assert_eq!(q.row_scale(0), 1.0);
        assert_eq!(q.words(), &[0x00_01_81_7f, 0x00_00_00_40]);
    }

    #[test]
    fn zero_rows_and_bad_parts_are_handled() {
        let q = QuantizedMatrix::quantize(&[0.0; 8], 4, QuantScheme::I8_PER_ROW).unwrap();
        assert_eq!(q.dequantize(), vec![0.0; 8]);
        assert!(matches!(
            QuantizedMatrix::from_parts(QuantScheme::I8_PER_ROW, 2, 4, vec![0; 2], vec![1.0]),
            Err(Error::ShapeMismatch { what: "scales", .. })
        ));
        assert!(matches!(
            QuantizedMatrix::from_parts(
                QuantScheme::I8_PER_ROW,
                2,
                4,
                vec![0; 2],
                vec![1.0, f32::NAN]
            ),
            Err(Error::NonFinite { what: "scales", .. })
        ));
        assert!(QuantizedMatrix::quantize(&[1.0, f32::NAN], 2, QuantScheme::F16).is_err());
    }
}
