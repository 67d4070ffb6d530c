//! The optimized CPU path: one pass over the stored rows, scoring every query of the batch
//! while a row is in cache, and keeping each query's best `k` in a bounded heap.
//!
//! * Dot products keep [`LANES`] independent accumulators so the compiler maps them onto SIMD
//!   registers (SSE/AVX natively, `simd128` on wasm — the build enables it) without
//!   reassociating a sequential sum. int8 rows are widened in registers, never materialized.
//! * On x86-64 the scan is compiled a second time with AVX2+FMA and picked at run time.
//! * int8 rows are scanned in blocks: integer dots eight rows at a time, then the block's scores,
//!   then a threshold test against each heap's current worst before any heap work — scoring
//!   kept apart from k-selection, as in FAISS's blocked exhaustive search.
//! * Heaps hold the `k` best seen so far; rows are visited in increasing order (candidates in
//!   the order given), and an equal score never displaces an earlier entry, so exact ties go to
//!   the lower index as in the reference (candidates are sorted first for that reason).
//! * Working memory lives in caller-owned [`CpuScratch`]: no allocation per call beyond the
//!   returned results once it has grown.

use crate::bundle::DType;
use crate::compute::index::{ItemIndex, ScoreRequest, Similarity};
use crate::compute::topk::rank_order;
use crate::compute::{ItemMatrix, TopK};
use crate::error::Result;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Independent accumulators in the dot products: two 128-bit or one 256-bit vector of f32.
pub const LANES: usize = 8;

/// f32 · f32 with [`LANES`] partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            acc[lane] += x[lane] * y[lane];
        }
    }
    reduce(acc) + tail
}

/// int8 · f32 with [`LANES`] partial sums (the caller applies the row scale).
#[inline(always)]
pub fn dot_i8(a: &[i8], b: &[f32]) -> f32 {
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 =
        chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| f32::from(*x) * y).sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            acc[lane] += f32::from(x[lane]) * y[lane];
        }
    }
    reduce(acc) + tail
}

/// Widens finite f16 bit patterns to f32, branch-free so it vectorizes (wasm has no F16C):
/// shifting the 15 magnitude bits into place gives the value times 2^-112 as an f32 — exact for
/// normals and subnormals alike — and one multiply by 2^112 restores it (Giesen's "magic"
/// conversion). Bundles hold only finite values, so infinities and NaN need no handling here.
#[inline(always)]
pub fn f16_to_f32(halves: &[u16], out: &mut [f32]) {
    for (o, &h) in out.iter_mut().zip(halves) {
        *o = f16_bits_to_f32(h);
    }
}

/// One value of [`f16_to_f32`].
#[inline(always)]
fn f16_bits_to_f32(h: u16) -> f32 {
    let magnitude = f32::from_bits(u32::from(h & 0x7fff) << 13) * TWO_POW_112;
    f32::from_bits(magnitude.to_bits() | (u32::from(h & 0x8000) << 16))
}

/// 2^112: an f16 magnitude's bits shifted into an f32's place read as the value times 2^-112.
const TWO_POW_112: f32 = 5.192_297e33;

/// Queries at least this large in magnitude are not pre-scaled by 2^112 for
/// [`IntDot::dots8_f16_prescaled`] (`q · 2^112` must stay finite: f32's largest is just under
/// 2^128, so any |q| below 65536 would do; 65504 is f16's largest).
const PRESCALE_MAX: f32 = 65504.0;

/// One finite f16 bit pattern as its value times 2^-112, in three integer steps: sign-extend,
/// shift left 13 (the 15 magnitude bits land at 13..27, the sign at 31), clear bits 28..30
/// (copies of the sign). Exact for normals and subnormals, and `scaled_down(h) · (q · 2^112)`
/// is the exact product `x · q` before rounding — both factors are exact — so it rounds to the
/// same f32 as `f16_bits_to_f32(h) · q` whenever `q · 2^112` is finite. That moves the
/// [`f16_bits_to_f32`] multiply by 2^112 off every stored value onto the query, once per call.
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn f16_bits_scaled_down(h: u16) -> f32 {
    f32::from_bits(((i32::from(h as i16) << 13) as u32) & 0x8fff_e000)
}

/// Query values are rounded to this many fractional steps (16-bit fixed point) for the int8
/// path: `q16 = round(q / s_q)`, `s_q = max|q| / 32767`. Scores then carry an extra error of at
/// most `s_row · s_q / 2 · Σ|x8_j|` = `max|q| / 65534 · Σ|x̂_j|` — stated in the parity suite.
pub const QUERY_I16_MAX: f32 = 32767.0;

/// Longest row the exact i32 accumulation of [`dot_i8_i16`] supports: the whole sum, not just
/// each lane, must fit an i32, and every product is at most 127 · 32767, so
/// `dim ≤ ⌊(2³¹ − 1) / (127 · 32767)⌋ = 516`. Longer rows take the f32 path.
pub const MAX_I16_DIM: usize = (i32::MAX as usize) / (127 * 32767);

/// The relaxed-SIMD int8 filter's query: `q6 = round(q / s6)`, `s6 = max|q| / 31`, stored as
/// `u = q6 + 32` in 1..=63. `i16x8.relaxed_dot_i8x16_i7x16_s` is deterministic only when every
/// byte of its second operand is in 0..=127 (the Relaxed SIMD proposal, "Relaxed integer dot
/// product": with the top bit set the result may read the byte as signed or unsigned, and the
/// pair sums may saturate or wrap, depending on the CPU), hence the offset; `Σ x·u − 32 · Σ x`
/// recovers `Σ x·q6`. Six bits rather than seven so that the pair sums of two 16-value steps
/// still fit an i16 ([`dots8_i8_u6_relaxed`]); the filter's bound doubles, which lets a few more
/// rows through to the exact dot.
const U6_QUERY_MAX: f32 = 31.0;
/// See [`U6_QUERY_MAX`].
const U6_OFFSET: i32 = 32;
/// Relative slack added to the filter's error bound for f32 rounding: a score is four rounded
/// operations (≤ 2.4e-7 relative error) on each side, the bound two more; 1e-5 covers them.
const U6_SLACK: f32 = 1e-5;
/// Absolute slack for products that fall to f32 subnormals (error ≤ 2^-150 per operation).
const U6_TINY: f32 = 1e-37;

/// `Σ x_j · u_j`: the portable form of [`IntDot::dots8_u6`] for one row.
#[inline(always)]
fn dot_u6(x: &[i8], u: &[u8]) -> i32 {
    x.iter().zip(u).map(|(&x, &u)| i32::from(x) * i32::from(u)).sum()
}

/// The 6-bit form of each query for the relaxed-SIMD filter (see [`U6_QUERY_MAX`]), and per
/// query `δ = max_j |q16_j · s16 − q6_j · s6|`: the filter's score then differs from the exact
/// i16 score by at most `Σ|x| · δ · |mult · query scale|` before rounding. `false` (no filter)
/// when a query is all zeros or not finite.
fn quantize_u6(
    queries: &[f32],
    dim: usize,
    (q16, s16): (&[i16], &[f32]),
    u6: &mut Vec<u8>,
    scales: &mut Vec<f32>,
    deltas: &mut Vec<f32>,
) -> bool {
    u6.clear();
    scales.clear();
    deltas.clear();
    for (b, q) in queries.chunks_exact(dim).enumerate() {
        let max = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if !(max.is_finite() && max > 0.0) {
            return false;
        }
        let s6 = max / U6_QUERY_MAX;
        let mut delta = 0.0f64;
        for (&x, &i16_value) in q.iter().zip(&q16[b * dim..(b + 1) * dim]) {
            // As integers first (a NaN component becomes 0, as in the i16 query), so that δ is
            // computed from exactly the values the two dots use.
            let q6 = ((x / s6).round() as i32).clamp(-31, 31);
            u6.push((q6 + U6_OFFSET) as u8);
            let exact = f64::from(i16_value) * f64::from(s16[b]);
            delta = delta.max((exact - f64::from(q6) * f64::from(s6)).abs());
        }
        scales.push(s6);
        deltas.push(delta as f32);
    }
    true
}

/// int8 · int16 with exact i32 accumulation (the caller applies both scales). Integer
/// multiply-adds map onto `pmaddwd` (x86) / `i32x4.dot_i16x8_s` (wasm): twice the elements per
/// instruction of the f32 path, which is what makes int8 faster than f32 instead of slower.
#[inline(always)]
pub fn dot_i8_i16(x: &[i8], q: &[i16]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_i8_i16_simd128(x, q)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        const W: usize = 16;
        let (chunks_x, chunks_q) = (x.chunks_exact(W), q.chunks_exact(W));
        let tail: i32 = chunks_x
            .remainder()
            .iter()
            .zip(chunks_q.remainder())
            .map(|(a, b)| i32::from(*a) * i32::from(*b))
            .sum();
        let mut acc = [0i32; W / 2];
        for (a, b) in chunks_x.zip(chunks_q) {
            for lane in 0..W / 2 {
                // Adjacent pairs summed first: the pattern LLVM lowers to pmaddwd.
                acc[lane] += i32::from(a[2 * lane]) * i32::from(b[2 * lane])
                    + i32::from(a[2 * lane + 1]) * i32::from(b[2 * lane + 1]);
            }
        }
        acc.iter().sum::<i32>() + tail
    }
}

/// Which int8 · int16 dot product a scan uses: portable (auto-vectorized / simd128) or, on
/// x86-64 CPUs that have it, hand-written AVX2 — and whether f16 rows can be widened in
/// registers (F16C) and scanned in blocks like int8.
trait IntDot {
    fn dot(x: &[i8], q: &[i16]) -> i32;

    /// [`IntDot::dot`] of eight rows against one query.
    #[inline(always)]
    fn dots8(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
        std::array::from_fn(|t| Self::dot(rows[t], q))
    }

    /// Whether [`IntDot::dots8_f16`] is implemented; without it f16 rows are widened into a
    /// buffer with [`f16_to_f32`] one at a time.
    const F16C: bool = false;

    /// Eight f16 rows against one f32 query, each bit-identical to widening the row and
    /// taking [`dot`] with the query (same lanes, same products, same reduction order).
    #[inline(always)]
    fn dots8_f16(rows: &[&[u16]; ROW_GROUP], q: &[f32]) -> [f32; ROW_GROUP] {
        std::array::from_fn(|t| {
            let widened: Vec<f32> = rows[t].iter().map(|&h| f16_bits_to_f32(h)).collect();
            dot(&widened, q)
        })
    }

    /// Whether the int8 scan first filters rows with [`IntDot::dots8_u6`] (a 6-bit query) and
    /// computes the exact i16 dot only for the rows that may enter a heap.
    const U6_FILTER: bool = false;

    /// `Σ x_j · u_j` of eight rows against a query of 6-bit values (0..=63).
    #[inline(always)]
    fn dots8_u6(rows: &[&[i8]; ROW_GROUP], u: &[u8]) -> [i32; ROW_GROUP] {
        std::array::from_fn(|t| dot_u6(rows[t], u))
    }

    /// Whether [`IntDot::dots8_f16_prescaled`] is faster than [`IntDot::dots8_f16`]: the scan
    /// then multiplies the query by 2^112 once per call (when every value is below
    /// [`PRESCALE_MAX`] in magnitude) and passes it here.
    const F16_PRESCALE: bool = false;

    /// [`IntDot::dots8_f16`] with the query already multiplied by 2^112 (`q_scaled`; `q` is the
    /// query itself): the same bits, with the widening's multiply folded into the query.
    #[inline(always)]
    fn dots8_f16_prescaled(
        rows: &[&[u16]; ROW_GROUP],
        _q_scaled: &[f32],
        q: &[f32],
    ) -> [f32; ROW_GROUP] {
        Self::dots8_f16(rows, q)
    }
}

/// Rows [`IntDot::dots8`] scores together.
const ROW_GROUP: usize = 8;

/// Rows the int8 scan scores before offering their scores to the heaps.
const BLOCK: usize = 256;

struct PortableDot;
impl IntDot for PortableDot {
    #[inline(always)]
    fn dot(x: &[i8], q: &[i16]) -> i32 {
        dot_i8_i16(x, q)
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn dots8(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
        dots8_i8_i16_simd128(rows, q)
    }

    // Relaxed SIMD multiplies 16 int8 values per instruction against the 6-bit query (twice
    // the i16 path's 8); the exact i16 dot is computed only for rows the filter lets through.
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    const U6_FILTER: bool = true;

    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    #[inline(always)]
    fn dots8_u6(rows: &[&[i8]; ROW_GROUP], u: &[u8]) -> [i32; ROW_GROUP] {
        dots8_i8_u6_relaxed(rows, u)
    }

    // In wasm the f16 rows are widened in registers too (simd128 has no f16 conversion, but
    // the magic-multiply widening is four integer ops and a multiply per four values).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    const F16C: bool = true;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn dots8_f16(rows: &[&[u16]; ROW_GROUP], q: &[f32]) -> [f32; ROW_GROUP] {
        dots8_f16_simd128::<false>(rows, q)
    }

    // Three integer ops per four values instead of seven ops and a multiply: the f16 scan was
    // slower than f32 in the browser (1.9 against 1.7 ms over 100k × 64) on the widening alone.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    const F16_PRESCALE: bool = true;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn dots8_f16_prescaled(
        rows: &[&[u16]; ROW_GROUP],
        q_scaled: &[f32],
        _q: &[f32],
    ) -> [f32; ROW_GROUP] {
        dots8_f16_simd128::<true>(rows, q_scaled)
    }
}

/// Eight f16 rows against one f32 query in wasm simd128, bit-identical to widening each row
/// with [`f16_to_f32`] and calling [`dot`]: the same magic-multiply widening lane by lane, the
/// [`LANES`] accumulators of [`dot`] as two `f32x4` per row (multiply, then add — wasm never
/// fuses), [`reduce`]'s order, then the tail. The widened row never goes through memory, which
/// is what made f16 slower than f32 in the browser (3.1 against 1.7 ms over 100k × 64).
///
/// `PRESCALED`: `q` is the query times 2^112 and each value is widened by
/// [`f16_bits_scaled_down`]'s three integer ops (`i32x4.extend_low_i16x8_s`, shift, and) to its
/// value times 2^-112 — every product, hence every sum, is the same f32 as without it.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dots8_f16_simd128<const PRESCALED: bool>(
    rows: &[&[u16]; ROW_GROUP],
    q: &[f32],
) -> [f32; ROW_GROUP] {
    use core::arch::wasm32::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let body = n - n % LANES;
    let magnitude = u32x4_splat(0x7fff);
    let sign = u32x4_splat(0x8000);
    let sign_and_magnitude = u32x4_splat(0x8fff_e000);
    let two_pow_112 = f32x4_splat(TWO_POW_112);
    let widen_low = |h: v128| {
        if PRESCALED {
            v128_and(i32x4_shl(i32x4_extend_low_i16x8(h), 13), sign_and_magnitude)
        } else {
            let h = u32x4_extend_low_u16x8(h);
            let m = f32x4_mul(u32x4_shl(v128_and(h, magnitude), 13), two_pow_112);
            v128_or(m, u32x4_shl(v128_and(h, sign), 16))
        }
    };
    let widen_high = |h: v128| {
        if PRESCALED {
            v128_and(i32x4_shl(i32x4_extend_high_i16x8(h), 13), sign_and_magnitude)
        } else {
            let h = u32x4_extend_high_u16x8(h);
            let m = f32x4_mul(u32x4_shl(v128_and(h, magnitude), 13), two_pow_112);
            v128_or(m, u32x4_shl(v128_and(h, sign), 16))
        }
    };
    let mut lo = [f32x4_splat(0.0); ROW_GROUP];
    let mut hi = [f32x4_splat(0.0); ROW_GROUP];
    // Four rows at a time: eight accumulators, the two query vectors and the temporaries fit
    // V8's x64 registers; sixteen accumulators did not (spills made the scan's time vary from
    // run to run). Each row's sums are the same either way.
    for ((lo4, hi4), rows4) in
        lo.chunks_exact_mut(4).zip(hi.chunks_exact_mut(4)).zip(rows.chunks_exact(4))
    {
        let mut j = 0;
        while j < body {
            // SAFETY: j + 8 <= body <= n bounds every read: 8 f32 of the query, 8 u16 of each
            // row; wasm loads have no alignment requirement.
            let (q_lo, q_hi) = unsafe {
                (v128_load(q.as_ptr().add(j).cast()), v128_load(q.as_ptr().add(j + 4).cast()))
            };
            for ((l, h), row) in lo4.iter_mut().zip(hi4.iter_mut()).zip(rows4) {
                // SAFETY: as above.
                let halves = unsafe { v128_load(row.as_ptr().add(j).cast()) };
                let x_lo = widen_low(halves);
                let x_hi = widen_high(halves);
                *l = f32x4_add(*l, f32x4_mul(x_lo, q_lo));
                *h = f32x4_add(*h, f32x4_mul(x_hi, q_hi));
            }
            j += LANES;
        }
    }
    std::array::from_fn(|t| {
        // acc[i] + acc[i + 4], then (p0 + p2) + (p1 + p3): `reduce`.
        let p = f32x4_add(lo[t], hi[t]);
        let (p0, p1) = (f32x4_extract_lane::<0>(p), f32x4_extract_lane::<1>(p));
        let (p2, p3) = (f32x4_extract_lane::<2>(p), f32x4_extract_lane::<3>(p));
        let widen_one = if PRESCALED { f16_bits_scaled_down } else { f16_bits_to_f32 };
        let tail: f32 =
            rows[t][body..n].iter().zip(&q[body..n]).map(|(&h, y)| widen_one(h) * y).sum();
        ((p0 + p2) + (p1 + p3)) + tail
    })
}

#[cfg(target_arch = "x86_64")]
struct Avx2Dot;
#[cfg(target_arch = "x86_64")]
impl IntDot for Avx2Dot {
    #[inline(always)]
    fn dot(x: &[i8], q: &[i16]) -> i32 {
        // SAFETY: `Avx2Dot` is only used by `scan_avx2`, which runs after run-time detection.
        unsafe { dot_i8_i16_avx2(x, q) }
    }

    #[inline(always)]
    fn dots8(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
        // SAFETY: as above.
        unsafe { dots8_i8_i16_avx2(rows, q) }
    }
}

/// AVX2 for int8 plus F16C for f16 rows.
#[cfg(target_arch = "x86_64")]
struct F16cDot;
#[cfg(target_arch = "x86_64")]
impl IntDot for F16cDot {
    #[inline(always)]
    fn dot(x: &[i8], q: &[i16]) -> i32 {
        Avx2Dot::dot(x, q)
    }

    #[inline(always)]
    fn dots8(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
        Avx2Dot::dots8(rows, q)
    }

    const F16C: bool = true;

    #[inline(always)]
    fn dots8_f16(rows: &[&[u16]; ROW_GROUP], q: &[f32]) -> [f32; ROW_GROUP] {
        // SAFETY: `F16cDot` is only used by `scan_f16c`, which runs after run-time detection.
        unsafe { dots8_f16_f16c(rows, q) }
    }
}

/// Eight f16 rows against one f32 query: `vcvtph2ps` widens eight halves exactly, and each
/// row keeps the [`LANES`] accumulators of [`dot`] (multiply, then add: never fused, as in
/// [`dot`]). The reduction is [`reduce`]'s, done for eight rows at once: the two halves of
/// each accumulator are added (`acc[l] + acc[l + 4]`), a 4×4 in-lane transpose lines up the
/// four pair sums of rows r and r + 4, and `(p0 + p2) + (p1 + p3)` finishes them. The tail
/// (dim mod 8) is summed per row in the same order as [`dot`]'s, so every score is
/// bit-identical to widening the row with [`f16_to_f32`] and calling [`dot`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
fn dots8_f16_f16c(rows: &[&[u16]; ROW_GROUP], q: &[f32]) -> [f32; ROW_GROUP] {
    use core::arch::x86_64::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let body = n - n % LANES;
    let mut out = [0.0f32; ROW_GROUP];
    // SAFETY: every load reads [j, j + 8) with j + 8 <= body <= n, in bounds of the query and
    // of all eight rows; the unaligned load/store intrinsics have no alignment requirement,
    // and the store writes exactly the 32 bytes of `out`.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); ROW_GROUP];
        let mut j = 0;
        while j < body {
            let qs = _mm256_loadu_ps(q.as_ptr().add(j));
            for (a, row) in acc.iter_mut().zip(rows) {
                let xs = _mm256_cvtph_ps(_mm_loadu_si128(row.as_ptr().add(j).cast()));
                *a = _mm256_add_ps(*a, _mm256_mul_ps(xs, qs));
            }
            j += LANES;
        }
        // v[r] = [acc[r] lanes 0..4 + lanes 4..8 | the same for acc[r + 4]].
        let v: [__m256; 4] = std::array::from_fn(|r| {
            let low = _mm256_permute2f128_ps::<0x20>(acc[r], acc[r + 4]);
            let high = _mm256_permute2f128_ps::<0x31>(acc[r], acc[r + 4]);
            _mm256_add_ps(low, high)
        });
        let lo01 = _mm256_unpacklo_ps(v[0], v[1]);
        let lo23 = _mm256_unpacklo_ps(v[2], v[3]);
        let hi01 = _mm256_unpackhi_ps(v[0], v[1]);
        let hi23 = _mm256_unpackhi_ps(v[2], v[3]);
        let p0 = _mm256_shuffle_ps::<0b01_00_01_00>(lo01, lo23);
        let p1 = _mm256_shuffle_ps::<0b11_10_11_10>(lo01, lo23);
        let p2 = _mm256_shuffle_ps::<0b01_00_01_00>(hi01, hi23);
        let p3 = _mm256_shuffle_ps::<0b11_10_11_10>(hi01, hi23);
        let sums = _mm256_add_ps(_mm256_add_ps(p0, p2), _mm256_add_ps(p1, p3));
        _mm256_storeu_ps(out.as_mut_ptr(), sums);
    }
    for (o, row) in out.iter_mut().zip(rows) {
        let tail: f32 =
            row[body..n].iter().zip(&q[body..n]).map(|(&h, y)| f16_bits_to_f32(h) * y).sum();
        *o += tail;
    }
    out
}

/// Eight rows against one query: each 16-value step loads the query once and feeds eight
/// `vpmovsxbw` + `vpmaddwd` pairs into eight accumulators; at the end a `vphaddd` tree
/// transposes and reduces the eight accumulators into one vector of eight sums, instead of
/// eight separate horizontal reductions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots8_i8_i16_avx2(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
    use core::arch::x86_64::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let mut j = 0;
    let mut out = [0i32; ROW_GROUP];
    // SAFETY: every load reads [j, j + 16) with j + 16 <= n, in bounds of the query and of all
    // eight rows; the unaligned load/store intrinsics have no alignment requirement, and the
    // store writes exactly the 32 bytes of `out`.
    unsafe {
        let mut acc = [_mm256_setzero_si256(); ROW_GROUP];
        while j + 16 <= n {
            let qs = _mm256_loadu_si256(q.as_ptr().add(j).cast());
            for (a, row) in acc.iter_mut().zip(rows) {
                let xs = _mm256_cvtepi8_epi16(_mm_loadu_si128(row.as_ptr().add(j).cast()));
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xs, qs));
            }
            j += 16;
        }
        // hadd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3 | a4+a5, a6+a7, b4+b5, b6+b7]; two levels
        // leave row r's partial sums in lane r % 4 of both 128-bit halves.
        let h01 = _mm256_hadd_epi32(acc[0], acc[1]);
        let h23 = _mm256_hadd_epi32(acc[2], acc[3]);
        let h45 = _mm256_hadd_epi32(acc[4], acc[5]);
        let h67 = _mm256_hadd_epi32(acc[6], acc[7]);
        let h0123 = _mm256_hadd_epi32(h01, h23);
        let h4567 = _mm256_hadd_epi32(h45, h67);
        let low = _mm256_permute2x128_si256::<0x20>(h0123, h4567);
        let high = _mm256_permute2x128_si256::<0x31>(h0123, h4567);
        _mm256_storeu_si256(out.as_mut_ptr().cast(), _mm256_add_epi32(low, high));
    }
    while j < n {
        for (o, row) in out.iter_mut().zip(rows) {
            *o += i32::from(row[j]) * i32::from(q[j]);
        }
        j += 1;
    }
    out
}

/// `vpmovsxbw` widens 16 int8 to int16, `vpmaddwd` multiplies by the int16 query and adds
/// adjacent pairs into 8 int32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_i16_avx2(x: &[i8], q: &[i16]) -> i32 {
    use core::arch::x86_64::*;
    let n = x.len().min(q.len());
    let mut j = 0;
    // SAFETY: every load reads [j, j + 16) with j + 16 <= n, in bounds of both slices; the
    // unaligned load intrinsics have no alignment requirement.
    let mut sum = unsafe {
        let mut acc = _mm256_setzero_si256();
        while j + 16 <= n {
            let xs = _mm256_cvtepi8_epi16(_mm_loadu_si128(x.as_ptr().add(j).cast()));
            let qs = _mm256_loadu_si256(q.as_ptr().add(j).cast());
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xs, qs));
            j += 16;
        }
        let halves = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let pairs = _mm_add_epi32(halves, _mm_shuffle_epi32::<0b01_00_11_10>(halves));
        let one = _mm_add_epi32(pairs, _mm_shuffle_epi32::<0b10_11_00_01>(pairs));
        _mm_cvtsi128_si32(one)
    };
    while j < n {
        sum += i32::from(x[j]) * i32::from(q[j]);
        j += 1;
    }
    sum
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot_i8_i16_simd128(x: &[i8], q: &[i16]) -> i32 {
    use core::arch::wasm32::*;
    let n = x.len().min(q.len());
    let mut acc = i32x4_splat(0);
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 <= n bounds both reads: 8 i8 (64 bits) from x, 8 i16 (128 bits) from q;
        // wasm loads have no alignment requirement.
        let (xs, qs) = unsafe {
            (i16x8_load_extend_i8x8(x.as_ptr().add(j)), v128_load(q.as_ptr().add(j).cast()))
        };
        acc = i32x4_add(acc, i32x4_dot_i16x8(xs, qs));
        j += 8;
    }
    let mut sum = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    while j < n {
        sum += i32::from(x[j]) * i32::from(q[j]);
        j += 1;
    }
    sum
}

/// Eight rows against one query in wasm simd128, like [`dots8_i8_i16_avx2`]: each 8-value step
/// loads the query once and feeds eight `i16x8.load8x8_s` + `i32x4.dot_i16x8_s` pairs into
/// eight accumulators, and one transpose (`i32x4.shuffle` + add, twice) reduces four
/// accumulators into one vector of four sums, instead of four lane extracts per row. Integer
/// sums in any order are the same sums (no overflow below [`MAX_I16_DIM`]): bit-identical to
/// [`dot_i8_i16_simd128`] per row.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dots8_i8_i16_simd128(rows: &[&[i8]; ROW_GROUP], q: &[i16]) -> [i32; ROW_GROUP] {
    use core::arch::wasm32::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let mut acc = [i32x4_splat(0); ROW_GROUP];
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 <= n bounds every read: 8 i16 of the query, 8 i8 of each row; wasm
        // loads have no alignment requirement.
        let qs = unsafe { v128_load(q.as_ptr().add(j).cast()) };
        for (a, row) in acc.iter_mut().zip(rows) {
            // SAFETY: as above.
            let xs = unsafe { i16x8_load_extend_i8x8(row.as_ptr().add(j)) };
            *a = i32x4_add(*a, i32x4_dot_i16x8(xs, qs));
        }
        j += 8;
    }
    let mut out = sums8_i32x4(&acc);
    while j < n {
        for (o, row) in out.iter_mut().zip(rows) {
            *o += i32::from(row[j]) * i32::from(q[j]);
        }
        j += 1;
    }
    out
}

/// The lane sums of eight `i32x4` accumulators: `[a0 + a2, b0 + b2, a1 + a3, b1 + b3]` for two
/// rows at a time, then the two halves of two such pairs give `[Σa, Σb, Σc, Σd]`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn sums8_i32x4(acc: &[core::arch::wasm32::v128; ROW_GROUP]) -> [i32; ROW_GROUP] {
    use core::arch::wasm32::*;
    let pair = |a: v128, b: v128| {
        i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b))
    };
    let four = |ab: v128, cd: v128| {
        i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
    };
    let low = four(pair(acc[0], acc[1]), pair(acc[2], acc[3]));
    let high = four(pair(acc[4], acc[5]), pair(acc[6], acc[7]));
    let mut out = [0i32; ROW_GROUP];
    // SAFETY: the two stores write exactly the 32 bytes of `out`.
    unsafe {
        v128_store(out.as_mut_ptr().cast(), low);
        v128_store(out.as_mut_ptr().add(4).cast(), high);
    }
    out
}

/// Eight int8 rows against the 6-bit query `u` (every byte in 1..=63, see [`U6_QUERY_MAX`]):
/// `i16x8.relaxed_dot_i8x16_i7x16_s` multiplies 16 values and adds adjacent pairs into i16
/// lanes (one `pmaddubsw` in V8 on x86). With `|x| ≤ 128` and `u ≤ 63` a pair is at most 16128
/// in magnitude, so the pairs of two steps add up in i16 without overflow (≤ 32256) before one
/// widening to i32 (`i32x4.extadd_pairwise_i16x8_s`): about half the instructions of the i16
/// path per value. No sum saturates, so the result is exact on every CPU.
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
#[inline(always)]
fn dots8_i8_u6_relaxed(rows: &[&[i8]; ROW_GROUP], u: &[u8]) -> [i32; ROW_GROUP] {
    use core::arch::wasm32::*;
    let n = rows.iter().fold(u.len(), |n, r| n.min(r.len()));
    let body = n - n % 16;
    let mut acc = [i32x4_splat(0); ROW_GROUP];
    // Four rows at a time: four accumulators, two query and two row vectors stay in registers
    // (with eight rows V8 spilled, and the relaxed scan was slower than the i16 one).
    for (acc4, rows4) in acc.chunks_exact_mut(4).zip(rows.chunks_exact(4)) {
        let mut j = 0;
        while j + 32 <= n {
            // SAFETY: j + 32 <= n bounds every read: 32 bytes of the query and of each row; wasm
            // loads have no alignment requirement.
            let (u0, u1) = unsafe {
                (v128_load(u.as_ptr().add(j).cast()), v128_load(u.as_ptr().add(j + 16).cast()))
            };
            for (a, row) in acc4.iter_mut().zip(rows4) {
                // SAFETY: as above.
                let (x0, x1) = unsafe {
                    let p = row.as_ptr().add(j);
                    (v128_load(p.cast()), v128_load(p.add(16).cast()))
                };
                let pairs = i16x8_add(
                    i16x8_relaxed_dot_i8x16_i7x16(x0, u0),
                    i16x8_relaxed_dot_i8x16_i7x16(x1, u1),
                );
                *a = i32x4_add(*a, i32x4_extadd_pairwise_i16x8(pairs));
            }
            j += 32;
        }
        if j < body {
            // SAFETY: j + 16 <= body <= n bounds every read, as above.
            let us = unsafe { v128_load(u.as_ptr().add(j).cast()) };
            for (a, row) in acc4.iter_mut().zip(rows4) {
                // SAFETY: as above.
                let xs = unsafe { v128_load(row.as_ptr().add(j).cast()) };
                *a = i32x4_relaxed_dot_i8x16_i7x16_add(xs, us, *a);
            }
        }
    }
    let mut out = sums8_i32x4(&acc);
    for (o, row) in out.iter_mut().zip(rows) {
        *o += dot_u6(&row[body..n], &u[body..n]);
    }
    out
}

#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    let pairs = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
}

/// A heap entry ordered so that the heap's maximum is the *worst* of the current top-k.
#[derive(Debug, Clone, Copy)]
struct Candidate(f32, u32);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order((self.0, self.1), (other.0, other.1))
    }
}

/// Reusable working memory for [`score_top_k`]; keep one per engine and pass it to every call.
#[derive(Debug, Default)]
pub struct CpuScratch {
    heaps: Vec<BinaryHeap<Candidate>>,
    query_scale: Vec<f32>,
    query_i16: Vec<i16>,
    query_i16_scale: Vec<f32>,
    /// The queries times 2^112, for [`IntDot::dots8_f16_prescaled`].
    query_f16_scaled: Vec<f32>,
    /// The 6-bit queries of the int8 filter, their scales and error bounds ([`quantize_u6`]).
    query_u6: Vec<u8>,
    query_u6_scale: Vec<f32>,
    query_u6_delta: Vec<f32>,
    row: Vec<f32>,
    candidates: Vec<u32>,
    thresholds: Vec<f32>,
}

impl CpuScratch {
    /// Empty scratch; grows on first use and keeps its capacity.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Offers `score` for `row` to a bounded heap of the best `k`.
#[inline(always)]
fn offer(heap: &mut BinaryHeap<Candidate>, k: usize, candidate: Candidate) {
    if heap.len() < k {
        heap.push(candidate);
    } else if let Some(mut worst) = heap.peek_mut()
        && candidate < *worst
    {
        *worst = candidate;
    }
}

/// Offers a chunk of the int8 scan's scores (rows `ids`, in increasing order) to a heap of the
/// best `k`: a row enters when its score is strictly above `threshold` — the worst kept score
/// once the heap holds `k`, −∞ before — and is not excluded; `threshold` follows the heap.
#[inline(always)]
fn offer_chunk(
    heap: &mut BinaryHeap<Candidate>,
    k: usize,
    threshold: &mut f32,
    scores: &[f32],
    ids: &[u32],
    excluded: &impl Fn(usize) -> bool,
) {
    for (&score, &r) in scores.iter().zip(ids) {
        if score > *threshold && !excluded(r as usize) {
            offer(heap, k, Candidate(score, r));
            if heap.len() == k
                && let Some(worst) = heap.peek()
            {
                *threshold = worst.0;
            }
        }
    }
}

/// Offers item `r` to every query's heap; `score_row` computes the raw dot for one query.
#[inline(always)]
fn offer_row<F: FnMut(&[f32]) -> f32>(
    heaps: &mut [BinaryHeap<Candidate>],
    request: &ScoreRequest<'_>,
    query_scale: &[f32],
    dim: usize,
    mult: f32,
    r: usize,
    mut score_row: F,
) {
    if request.mask.is_some_and(|m| m.is_excluded(r)) {
        return;
    }
    for (b, heap) in heaps.iter_mut().enumerate() {
        let query = &request.queries[b * dim..(b + 1) * dim];
        offer(heap, request.k, Candidate(score_row(query) * mult * query_scale[b], r as u32));
    }
}

/// Fills a block's row ids (`start..` of the candidates, or of the rows from `base` on) and row
/// multipliers.
#[inline(always)]
fn block_rows(
    rows: &[u32],
    base: usize,
    mult: &[f32],
    start: usize,
    ids: &mut [u32],
    mults: &mut [f32],
) {
    let n = ids.len();
    // Two plain loops, not `row_id` per element: LLVM vectorizes that one into masked loads
    // from the (empty, dangling) candidate slice, which AMD cores execute via a slow
    // fault-suppression assist — it was over half the scan's time.
    if rows.is_empty() {
        let first = base + start;
        for (t, id) in ids.iter_mut().enumerate() {
            *id = (first + t) as u32;
        }
        mults.copy_from_slice(&mult[first..first + n]);
    } else {
        ids.copy_from_slice(&rows[start..start + n]);
        for (m, &r) in mults.iter_mut().zip(&*ids) {
            *m = mult[r as usize];
        }
    }
}

/// The rows one scan visits: the given candidates (sorted), or, when there are none, the
/// contiguous rows `range` — the whole index, or one shard of it ([`score_top_k_sharded`]).
#[derive(Clone, Copy)]
struct Rows<'a> {
    candidates: &'a [u32],
    range: (usize, usize),
}

/// The scan itself, inlined into each target-feature variant.
#[inline(always)]
fn scan<D: IntDot>(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    visit: Rows<'_>,
    scratch: &mut CpuScratch,
) {
    let rows = visit.candidates;
    let (base, end) = visit.range;
    let dim = index.dim();
    let matrix = index.matrix();
    let per_row = matrix.scheme().words_per_row(dim);
    let words = matrix.words();
    let mult = index.row_mult();
    let CpuScratch {
        heaps,
        query_scale,
        query_i16,
        query_i16_scale,
        query_f16_scaled,
        query_u6,
        query_u6_scale,
        query_u6_delta,
        row: row_buf,
        thresholds,
        ..
    } = scratch;
    let excluded = |r: usize| request.mask.is_some_and(|m| m.is_excluded(r));
    let row_id = |i: usize| rows.get(i).map_or(base + i, |&r| r as usize);
    let count = if rows.is_empty() { end - base } else { rows.len() };
    match matrix.scheme().dtype {
        DType::F32 => {
            let values: &[f32] = bytemuck::cast_slice(words);
            for i in 0..count {
                let r = row_id(i);
                let stored = &values[r * dim..(r + 1) * dim];
                offer_row(heaps, request, query_scale, dim, mult[r], r, |q| dot(stored, q));
            }
        }
        DType::F16 if D::F16C => {
            // Blocked like int8 below: f32 dots of BLOCK rows, eight at a time (widened in
            // registers), then their scores, then the threshold test before any heap work.
            let halves: &[u16] = bytemuck::cast_slice(words);
            let stride = per_row * 2;
            let stored = |r: u32| &halves[r as usize * stride..r as usize * stride + dim];
            row_buf.resize(dim, 0.0);
            // A NaN fails `<` too, so such a query stays on the plain path.
            let prescale =
                D::F16_PRESCALE && request.queries.iter().all(|x| x.abs() < PRESCALE_MAX);
            if prescale {
                query_f16_scaled.clear();
                query_f16_scaled.extend(request.queries.iter().map(|x| x * TWO_POW_112));
            }
            let mut raw = [0.0f32; BLOCK];
            let mut ids = [0u32; BLOCK];
            let mut mults = [0.0f32; BLOCK];
            let mut scores = [0.0f32; BLOCK];
            let mut start = 0;
            while start < count {
                let n = BLOCK.min(count - start);
                block_rows(rows, base, mult, start, &mut ids[..n], &mut mults[..n]);
                for (b, heap) in heaps.iter_mut().enumerate() {
                    let q = &request.queries[b * dim..(b + 1) * dim];
                    let mut t = 0;
                    while t + ROW_GROUP <= n {
                        let group: [&[u16]; ROW_GROUP] =
                            std::array::from_fn(|u| stored(ids[t + u]));
                        raw[t..t + ROW_GROUP].copy_from_slice(&if prescale {
                            let scaled = &query_f16_scaled[b * dim..(b + 1) * dim];
                            D::dots8_f16_prescaled(&group, scaled, q)
                        } else {
                            D::dots8_f16(&group, q)
                        });
                        t += ROW_GROUP;
                    }
                    for t in t..n {
                        f16_to_f32(stored(ids[t]), row_buf);
                        raw[t] = dot(row_buf, q);
                    }
                    // As `offer_row`: (dot · mult) · query scale.
                    let cs = query_scale[b];
                    for ((s, &v), &m) in scores[..n].iter_mut().zip(&raw[..n]).zip(&mults[..n]) {
                        *s = v * m * cs;
                    }
                    // Until the heap holds k entries every eligible row is offered (f16 scores
                    // can overflow to −∞ or NaN, which `> −∞` would drop); after that, a row
                    // enters exactly when its score is strictly above the worst kept one —
                    // NaN never is, as `offer` would also reject it.
                    let k = request.k;
                    let mut threshold = heap.peek().map_or(f32::NEG_INFINITY, |w| w.0);
                    for (c, chunk) in scores[..n].chunks(ROW_GROUP).enumerate() {
                        if heap.len() == k
                            && !chunk.iter().fold(false, |hit, &s| hit | (s > threshold))
                        {
                            continue;
                        }
                        for (u, &score) in chunk.iter().enumerate() {
                            let r = ids[c * ROW_GROUP + u];
                            if (heap.len() < k || score > threshold) && !excluded(r as usize) {
                                offer(heap, k, Candidate(score, r));
                                if heap.len() == k
                                    && let Some(worst) = heap.peek()
                                {
                                    threshold = worst.0;
                                }
                            }
                        }
                    }
                }
                start += n;
            }
        }
        DType::F16 => {
            let halves: &[u16] = bytemuck::cast_slice(words);
            row_buf.resize(dim, 0.0);
            for i in 0..count {
                let r = row_id(i);
                f16_to_f32(&halves[r * per_row * 2..r * per_row * 2 + dim], row_buf);
                let stored = &*row_buf;
                offer_row(heaps, request, query_scale, dim, mult[r], r, |q| dot(stored, q));
            }
        }
        DType::I8 if dim <= MAX_I16_DIM => {
            // Blocked: first the integer dots of BLOCK rows (eight at a time, so each query
            // load serves eight rows and one transpose-reduction serves eight sums), then their
            // scores in one vectorized pass, then a pass that offers only scores above the
            // heap's current worst, testing eight at a time. Once the heap is full almost every
            // row fails that test (a few hundred of 1M rows enter the top-100 of a random
            // order), so selection costs a fraction of a compare per row.
            let bytes: &[i8] = bytemuck::cast_slice(words);
            let stride = per_row * 4;
            let stored = |r: u32| &bytes[r as usize * stride..r as usize * stride + dim];
            let mut raw = [0i32; BLOCK];
            let mut ids = [0u32; BLOCK];
            let mut mults = [0.0f32; BLOCK];
            let mut scores = [0.0f32; BLOCK];
            thresholds.clear();
            thresholds.resize(heaps.len(), f32::NEG_INFINITY);
            // The relaxed-SIMD filter (builds with it): a 6-bit dot of every row, an upper
            // bound on its exact score from it, and the exact i16 dot only for chunks of eight
            // rows where some bound reaches the heap's threshold — every other row would fail
            // `score > threshold` anyway, so the lists are the same, bit for bit.
            let (row_sums, row_l1_mults) = index.row_sums();
            let filter = D::U6_FILTER
                && row_sums.len() == index.rows()
                && row_l1_mults.len() == index.rows()
                && quantize_u6(
                    request.queries,
                    dim,
                    (query_i16, query_i16_scale),
                    query_u6,
                    query_u6_scale,
                    query_u6_delta,
                );
            // The filter's `Σx` and `Σ|x| · |mult|` of a block of candidates (all rows: slices
            // of the index's).
            let mut block_sums = [0i32; BLOCK];
            let mut block_l1_mults = [0.0f32; BLOCK];
            let mut start = 0;
            while start < count {
                let n = BLOCK.min(count - start);
                block_rows(rows, base, mult, start, &mut ids[..n], &mut mults[..n]);
                let (sums, l1_mults): (&[i32], &[f32]) = if !filter {
                    (&[], &[])
                } else if rows.is_empty() {
                    (
                        &row_sums[base + start..base + start + n],
                        &row_l1_mults[base + start..base + start + n],
                    )
                } else {
                    for (t, &r) in ids[..n].iter().enumerate() {
                        block_sums[t] = row_sums[r as usize];
                        block_l1_mults[t] = row_l1_mults[r as usize];
                    }
                    (&block_sums[..n], &block_l1_mults[..n])
                };
                for (b, heap) in heaps.iter_mut().enumerate() {
                    let q = &query_i16[b * dim..(b + 1) * dim];
                    let (qs, cs) = (query_i16_scale[b], query_scale[b]);
                    // Rows come in increasing order, so a new row beats the worst kept entry
                    // exactly when its score is strictly greater (ties stay with the lower id);
                    // `threshold` is −∞ until the heap holds k entries.
                    let mut threshold = thresholds[b];
                    if filter {
                        let u = &query_u6[b * dim..(b + 1) * dim];
                        let mut t = 0;
                        while t + ROW_GROUP <= n {
                            let group: [&[i8]; ROW_GROUP] =
                                std::array::from_fn(|v| stored(ids[t + v]));
                            raw[t..t + ROW_GROUP].copy_from_slice(&D::dots8_u6(&group, u));
                            t += ROW_GROUP;
                        }
                        for t in t..n {
                            raw[t] = dot_u6(stored(ids[t]), u);
                        }
                        // `scores` holds upper bounds here: the 6-bit score (`Σ x·q6 · s6 ·
                        // mult · query scale`) plus `Σ|x| · δ · |mult · query scale|`, with
                        // slack for rounding on both sides.
                        let (s6, dq) =
                            (query_u6_scale[b], query_u6_delta[b] * cs.abs() * (1.0 + U6_SLACK));
                        let rows_n = raw[..n].iter().zip(sums).zip(&mults[..n]);
                        for ((h, ((&v, &sum), &m)), &l1m) in
                            scores[..n].iter_mut().zip(rows_n).zip(l1_mults)
                        {
                            let approx = (v - U6_OFFSET * sum) as f32 * s6 * m * cs;
                            *h = approx + (l1m * dq + U6_SLACK * approx.abs() + U6_TINY);
                        }
                        for (c, bounds) in scores[..n].chunks(ROW_GROUP).enumerate() {
                            // Skipped only when every bound is below (a NaN one is not).
                            if bounds.iter().fold(true, |below, &h| below & (h < threshold)) {
                                continue;
                            }
                            let chunk = &ids[c * ROW_GROUP..c * ROW_GROUP + bounds.len()];
                            let exact: [i32; ROW_GROUP] = if chunk.len() == ROW_GROUP {
                                D::dots8(&std::array::from_fn(|v| stored(chunk[v])), q)
                            } else {
                                std::array::from_fn(|v| {
                                    chunk.get(v).map_or(0, |&r| D::dot(stored(r), q))
                                })
                            };
                            let mut exact_scores = [0.0f32; ROW_GROUP];
                            for (v, s) in exact_scores[..chunk.len()].iter_mut().enumerate() {
                                *s = exact[v] as f32 * qs * mults[c * ROW_GROUP + v] * cs;
                            }
                            offer_chunk(
                                heap,
                                request.k,
                                &mut threshold,
                                &exact_scores[..chunk.len()],
                                chunk,
                                &excluded,
                            );
                        }
                        thresholds[b] = threshold;
                        continue;
                    }
                    let mut t = 0;
                    while t + ROW_GROUP <= n {
                        let group: [&[i8]; ROW_GROUP] = std::array::from_fn(|u| stored(ids[t + u]));
                        raw[t..t + ROW_GROUP].copy_from_slice(&D::dots8(&group, q));
                        t += ROW_GROUP;
                    }
                    for t in t..n {
                        raw[t] = D::dot(stored(ids[t]), q);
                    }
                    // Same operations in the same order as one row at a time: bit-identical.
                    for ((s, &v), &m) in scores[..n].iter_mut().zip(&raw[..n]).zip(&mults[..n]) {
                        *s = v as f32 * qs * m * cs;
                    }
                    for (c, chunk) in scores[..n].chunks(ROW_GROUP).enumerate() {
                        // `|` rather than `any`: no early exit, so the eight compares vectorize.
                        if !chunk.iter().fold(false, |hit, &s| hit | (s > threshold)) {
                            continue;
                        }
                        let chunk_ids = &ids[c * ROW_GROUP..c * ROW_GROUP + chunk.len()];
                        offer_chunk(heap, request.k, &mut threshold, chunk, chunk_ids, &excluded);
                    }
                    thresholds[b] = threshold;
                }
                start += n;
            }
        }
        DType::I8 => {
            let bytes: &[i8] = bytemuck::cast_slice(words);
            for i in 0..count {
                let r = row_id(i);
                let stored = &bytes[r * per_row * 4..r * per_row * 4 + dim];
                offer_row(heaps, request, query_scale, dim, mult[r], r, |q| dot_i8(stored, q));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_avx2(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    rows: Rows<'_>,
    scratch: &mut CpuScratch,
) {
    scan::<Avx2Dot>(index, request, rows, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn scan_f16c(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    rows: Rows<'_>,
    scratch: &mut CpuScratch,
) {
    scan::<F16cDot>(index, request, rows, scratch)
}

fn scan_dispatch(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    rows: Rows<'_>,
    scratch: &mut CpuScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // SAFETY: the CPU supports the features `scan_f16c` is compiled for (checked above).
        return unsafe { scan_f16c(index, request, rows, scratch) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features `scan_avx2` is compiled for (checked above).
        return unsafe { scan_avx2(index, request, rows, scratch) };
    }
    scan::<PortableDot>(index, request, rows, scratch)
}

/// Scores every eligible item (the candidates, or all rows; minus the mask) against each query
/// of the batch and returns each query's best `k` — fewer when fewer items are eligible.
///
/// # Errors
/// As [`ItemIndex::validate`].
pub fn score_top_k(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    scratch: &mut CpuScratch,
) -> Result<Vec<TopK>> {
    score_top_k_with(index, request, scratch, scan_dispatch, Shard::WHOLE)
}

/// One of `of` contiguous, near-equal shares of the rows a request visits (of the sorted
/// candidates, or of all rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, `0..of`.
    pub part: usize,
    /// How many shares.
    pub of: usize,
}

impl Shard {
    /// Everything: one share.
    pub const WHOLE: Shard = Shard { part: 0, of: 1 };

    /// The share's bounds within `0..len`.
    fn bounds(self, len: usize) -> (usize, usize) {
        (len * self.part / self.of, len * (self.part + 1) / self.of)
    }
}

/// [`score_top_k`] split into `scratches.len()` shards of the rows, each scanned by
/// `run(parts, job)` calling `job(part)` once per part — on other threads where there are any
/// ([`super::pool`]) — then merged. Each shard keeps its own best `k` under the same total
/// order (score descending, exact ties to the lower row), so the union holds the global best
/// `k` and the merged lists are the single-threaded ones, bit for bit.
///
/// # Errors
/// As [`score_top_k`].
pub fn score_top_k_sharded(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    scratches: &[std::sync::Mutex<CpuScratch>],
    run: impl FnOnce(usize, &(dyn Fn(usize) + Sync)),
) -> Result<Vec<TopK>> {
    let of = scratches.len().max(1);
    if of == 1 {
        let mut scratch = lock(&scratches[0]);
        return score_top_k(index, request, &mut scratch);
    }
    let results: Vec<std::sync::Mutex<Option<Result<Vec<TopK>>>>> =
        (0..of).map(|_| std::sync::Mutex::new(None)).collect();
    run(of, &|part: usize| {
        let mut scratch = lock(&scratches[part]);
        let shard = Shard { part, of };
        *lock(&results[part]) =
            Some(score_top_k_with(index, request, &mut scratch, scan_dispatch, shard));
    });
    let mut merged: Vec<Vec<(f32, u32)>> = Vec::new();
    for (part, slot) in results.into_iter().enumerate() {
        let done = slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A part the runner did not run is scanned here: no rows are ever dropped.
        let lists = match done {
            Some(lists) => lists?,
            None => score_top_k_with(
                index,
                request,
                &mut lock(&scratches[part]),
                scan_dispatch,
                Shard { part, of },
            )?,
        };
        merged.resize_with(lists.len(), Vec::new);
        for (all, top) in merged.iter_mut().zip(lists) {
            all.extend(top.scores.into_iter().zip(top.ids));
        }
    }
    Ok(merged
        .into_iter()
        .map(|mut all| {
            crate::order::sort_ranked(&mut all);
            all.truncate(request.k);
            TopK {
                ids: all.iter().map(|c| c.1).collect(),
                scores: all.iter().map(|c| c.0).collect(),
            }
        })
        .collect())
}

/// Locks a mutex that only one part ever holds (no contention: on the browser's main thread,
/// where blocking is forbidden, a lock never has to wait); a poisoned one is still usable.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A scan variant: [`scan_dispatch`] or, in tests, one particular instantiation of [`scan`].
type ScanFn = fn(&ItemIndex, &ScoreRequest<'_>, Rows<'_>, &mut CpuScratch);

/// [`score_top_k`] with the scan given.
fn score_top_k_with(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    scratch: &mut CpuScratch,
    scan: ScanFn,
    shard: Shard,
) -> Result<Vec<TopK>> {
    let batch = index.validate(request)?;
    let dim = index.dim();
    scratch.heaps.resize_with(batch, BinaryHeap::new);
    scratch.heaps.truncate(batch);
    for heap in &mut scratch.heaps {
        heap.clear();
    }
    scratch.query_scale.clear();
    scratch.query_scale.extend(request.queries.chunks_exact(dim).map(
        |q| match index.similarity() {
            Similarity::Dot => 1.0,
            Similarity::Cosine => {
                let norm = q.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 }
            }
        },
    ));
    if index.matrix().scheme().dtype == DType::I8 {
        scratch.query_i16.clear();
        scratch.query_i16_scale.clear();
        for q in request.queries.chunks_exact(dim) {
            let max = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if max > 0.0 { max / QUERY_I16_MAX } else { 1.0 };
            scratch.query_i16.extend(q.iter().map(|x| (x / s).round() as i16));
            scratch.query_i16_scale.push(s);
        }
    }
    // Candidates are visited in row order so that ties resolve to the lower row, as everywhere.
    let mut rows = std::mem::take(&mut scratch.candidates);
    rows.clear();
    if let Some(c) = request.candidates {
        rows.extend_from_slice(c);
        rows.sort_unstable();
    }
    let visit = if request.candidates.is_some() {
        let (from, to) = shard.bounds(rows.len());
        Rows { candidates: &rows[from..to], range: (0, 0) }
    } else {
        Rows { candidates: &[], range: shard.bounds(index.rows()) }
    };
    // An empty share of the candidates must not read as "all rows".
    if request.candidates.is_none() || !visit.candidates.is_empty() {
        scan(index, request, visit, scratch);
    }
    scratch.candidates = rows;
    Ok(scratch
        .heaps
        .iter_mut()
        .map(|heap| {
            let mut best: Vec<(f32, u32)> = heap.drain().map(|c| (c.0, c.1)).collect();
            crate::order::sort_ranked(&mut best);
            TopK {
                ids: best.iter().map(|c| c.1).collect(),
                scores: best.iter().map(|c| c.0).collect(),
            }
        })
        .collect())
}

/// One f32 query against an f32 matrix, dot product (the simple form of [`score_top_k`]).
///
/// # Errors
/// As [`ItemIndex::validate`].
pub fn top_k(
    items: &ItemMatrix,
    query: &[f32],
    k: usize,
    scratch: &mut CpuScratch,
) -> Result<TopK> {
    let index = ItemIndex::quantize(items, crate::bundle::QuantScheme::F32, Similarity::Dot)?;
    Ok(score_top_k(&index, &ScoreRequest::new(query, k), scratch)?.pop().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::reference;

    #[test]
    fn dots_match_reference_on_odd_lengths() {
        for len in [1usize, 7, 8, 9, 16, 17, 63, 64, 65, 130] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (fast, exact) = (dot(&a, &b), reference::dot(&a, &b));
            assert!((fast - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "len {len}");
            let ints: Vec<i8> = (0..len).map(|i| (i as i32 * 37 % 255 - 127) as i8).collect();
            let as_f32: Vec<f32> = ints.iter().map(|&x| f32::from(x)).collect();
            let (fast, exact) = (dot_i8(&ints, &b), reference::dot(&as_f32, &b));
            assert!((fast - exact).abs() <= 1e-4 * (1.0 + exact.abs()), "i8 len {len}");
            let q16: Vec<i16> =
                (0..len).map(|i| (i as i32 * 7919 % 65535 - 32767) as i16).collect();
            let exact: i64 =
                ints.iter().zip(&q16).map(|(a, b)| i64::from(*a) * i64::from(*b)).sum();
            assert_eq!(i64::from(dot_i8_i16(&ints, &q16)), exact, "i8·i16 len {len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 detected just above.
                let avx2 = unsafe { dot_i8_i16_avx2(&ints, &q16) };
                assert_eq!(i64::from(avx2), exact, "avx2 i8·i16 len {len}");
            }
            // Eight different rows (rotations of `ints`) at once, against the one-row dot.
            let rows: Vec<Vec<i8>> = (0..ROW_GROUP)
                .map(|t| ints.iter().cycle().skip(t * 5).take(len).copied().collect())
                .collect();
            let group: [&[i8]; ROW_GROUP] = std::array::from_fn(|t| rows[t].as_slice());
            let expected: [i32; ROW_GROUP] = std::array::from_fn(|t| dot_i8_i16(&rows[t], &q16));
            assert_eq!(PortableDot::dots8(&group, &q16), expected, "dots8 len {len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 detected just above.
                let avx2 = unsafe { dots8_i8_i16_avx2(&group, &q16) };
                assert_eq!(avx2, expected, "avx2 dots8 len {len}");
            }
        }
    }

    #[test]
    fn f16_widening_is_exact_for_every_finite_value() {
        let finite: Vec<u16> = (0..=u16::MAX).filter(|h| (h >> 10) & 0x1f != 0x1f).collect();
        let mut out = vec![0.0f32; finite.len()];
        f16_to_f32(&finite, &mut out);
        for (&h, &x) in finite.iter().zip(&out) {
            assert_eq!(x.to_bits(), half::f16::from_bits(h).to_f32().to_bits(), "{h:#06x}");
        }
    }

    /// The arithmetic of the pre-scaled f16 widening (wasm's `dots8_f16_simd128::<true>`): for
    /// every finite f16 value `x` and queries from f32 subnormals up to just below 65504,
    /// `scaled_down(x) · (q · 2^112)` has the bits of `f16_to_f32(x) · q`.
    #[test]
    fn prescaled_f16_products_are_bit_identical() {
        let mut rng = crate::rng::SeededRng::new(0x5eed_2112);
        let mut queries = vec![
            0.0f32,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(0x007f_ffff),
            f32::MIN_POSITIVE,
            1e-30,
            1.0,
            -1.0,
            0.1,
            std::f32::consts::PI,
            65503.996,
            -65503.996,
            1e4,
        ];
        for _ in 0..48 {
            // Random bits: every exponent, both signs; kept when below PRESCALE_MAX.
            let q = f32::from_bits((rng.next_u64() >> 32) as u32);
            if q.abs() < PRESCALE_MAX {
                queries.push(q);
            }
        }
        for h in (0..=u16::MAX).filter(|h| (h >> 10) & 0x1f != 0x1f) {
            let (x, down) = (f16_bits_to_f32(h), f16_bits_scaled_down(h));
            for &q in &queries {
                let (want, got) = (x * q, down * (q * TWO_POW_112));
                assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x} · {q:e}");
            }
        }
    }

    /// The F16C scan (blocked, widened in registers) against the portable one (row at a time,
    /// software widening): same top-k ids and the same score bits, for dims on and off the
    /// 8-lane grid, both similarities, masks and candidates, k from 1 to past a block.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f16c_scan_is_bit_identical_to_the_portable_scan() {
        use crate::bundle::QuantScheme;
        use crate::compute::index::RowMask;
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c"))
        {
            return;
        }
        let f16c: ScanFn = |index, request, rows, scratch| {
            // SAFETY: the features `scan_f16c` is compiled for were detected above.
            unsafe { scan_f16c(index, request, rows, scratch) }
        };
        let mut rng = crate::rng::SeededRng::new(0x5eed_f16c);
        let mut uniform = move || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        let rows = 1000;
        for dim in [1usize, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64, 100] {
            let data: Vec<f32> = (0..rows * dim).map(|_| uniform()).collect();
            let m = ItemMatrix::new(data, dim).unwrap();
            let queries: Vec<f32> = (0..3 * dim).map(|_| uniform() * 4.0).collect();
            let mut mask = RowMask::new(rows);
            for r in (0..rows).step_by(7) {
                mask.exclude(r);
            }
            let candidates: Vec<u32> = (0..rows as u32).rev().filter(|r| r % 3 != 1).collect();
            for similarity in [Similarity::Dot, Similarity::Cosine] {
                let index = ItemIndex::quantize(&m, QuantScheme::F16, similarity).unwrap();
                for k in [1, 10, 100, 300] {
                    for (batch, masked, candidate) in
                        [(1, false, false), (3, false, false), (2, true, false), (3, true, true)]
                    {
                        let mut request = ScoreRequest::new(&queries[..batch * dim], k);
                        if masked {
                            request = request.with_mask(&mask);
                        }
                        if candidate {
                            request = request.with_candidates(&candidates);
                        }
                        let run = |scan: ScanFn| {
                            score_top_k_with(
                                &index,
                                &request,
                                &mut CpuScratch::new(),
                                scan,
                                Shard::WHOLE,
                            )
                            .unwrap()
                        };
                        let (fast, portable) = (run(f16c), run(scan::<PortableDot>));
                        assert_eq!(fast.len(), portable.len());
                        for (f, p) in fast.iter().zip(&portable) {
                            let case = format!("dim {dim} k {k} batch {batch} {similarity:?}");
                            assert_eq!(f.ids, p.ids, "{case}");
                            let bits = |t: &TopK| t.scores.iter().map(|s| s.to_bits()).collect();
                            let (fb, pb): (Vec<u32>, Vec<u32>) = (bits(f), bits(p));
                            assert_eq!(fb, pb, "{case}");
                        }
                    }
                }
            }
            // The kernel alone, against widening each row and calling `dot`.
            let halves: Vec<u16> =
                (0..8 * dim).map(|_| half::f16::from_f32(uniform() * 100.0).to_bits()).collect();
            let group: [&[u16]; ROW_GROUP] =
                std::array::from_fn(|t| &halves[t * dim..(t + 1) * dim]);
            let q = &queries[..dim];
            // SAFETY: F16C and AVX2 detected above.
            let got = unsafe { dots8_f16_f16c(&group, q) };
            let expected = PortableDot::dots8_f16(&group, q);
            assert_eq!(got.map(f32::to_bits), expected.map(f32::to_bits), "dots8 dim {dim}");
        }
    }

    /// The relaxed-SIMD build's int8 filter, with the portable 6-bit dot in place of
    /// `i16x8.relaxed_dot_i8x16_i7x16_s` (the same integer sums).
    struct ScalarU6Dot;
    impl IntDot for ScalarU6Dot {
        fn dot(x: &[i8], q: &[i16]) -> i32 {
            dot_i8_i16(x, q)
        }
        const U6_FILTER: bool = true;
    }

    /// The filtered int8 scan returns the plain scan's lists, ids and score bits, including
    /// where the filter's bound is tight: rows that are tiny perturbations of each other (scores
    /// within the 6-bit error of the threshold), exact ties, a query with one component far
    /// larger than the rest (a coarse 6-bit step), negative and zero rows, dims on and off the
    /// 8/16 grid, both similarities, masks, candidates, batches and k past a block.
    #[test]
    fn u6_filtered_int8_scan_is_bit_identical_to_the_plain_scan() {
        use crate::bundle::QuantScheme;
        use crate::compute::index::RowMask;
        let mut rng = crate::rng::SeededRng::new(0x5eed_0007);
        let mut uniform = move || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        let rows = 1500;
        let mut filtered_cases = 0;
        for dim in [1usize, 3, 8, 15, 16, 17, 33, 64, 100] {
            for data_kind in 0..3 {
                let base: Vec<f32> = (0..dim).map(|_| uniform()).collect();
                let data: Vec<f32> = (0..rows * dim)
                    .map(|i| match data_kind {
                        0 => uniform(),
                        // Near-duplicates of one row: scores packed around the threshold.
                        1 => base[i % dim] + uniform() * 1e-3,
                        // Exact copies in runs, some zero rows.
                        _ => {
                            if (i / dim) % 17 == 0 {
                                0.0
                            } else {
                                base[i % dim] * (((i / dim) % 5) as f32 - 2.0)
                            }
                        }
                    })
                    .collect();
                let m = ItemMatrix::new(data, dim).unwrap();
                let mut queries: Vec<f32> = (0..3 * dim).map(|_| uniform() * 3.0).collect();
                queries[dim] = 1e4; // one dominant component in the second query
                let mut mask = RowMask::new(rows);
                for r in (0..rows).step_by(7) {
                    mask.exclude(r);
                }
                let candidates: Vec<u32> = (0..rows as u32).rev().filter(|r| r % 3 != 1).collect();
                for similarity in [Similarity::Dot, Similarity::Cosine] {
                    let index =
                        ItemIndex::quantize(&m, QuantScheme::I8_PER_ROW, similarity).unwrap();
                    assert_eq!(index.row_sums().0.len(), rows);
                    assert_eq!(index.row_sums().1.len(), rows);
                    for k in [1, 10, 100, 300] {
                        for (first, batch, masked, candidate) in [
                            (0, 1, false, false),
                            (1, 1, false, false),
                            (0, 3, false, false),
                            (0, 2, true, false),
                            (0, 3, true, true),
                        ] {
                            let q = &queries[first * dim..(first + batch) * dim];
                            let mut request = ScoreRequest::new(q, k);
                            if masked {
                                request = request.with_mask(&mask);
                            }
                            if candidate {
                                request = request.with_candidates(&candidates);
                            }
                            let run = |scan: ScanFn, shard: Shard| {
                                score_top_k_with(
                                    &index,
                                    &request,
                                    &mut CpuScratch::new(),
                                    scan,
                                    shard,
                                )
                                .unwrap()
                            };
                            // The whole index, and a middle shard (the filter's per-row data
                            // must line up with a shard's rows too).
                            for shard in [Shard::WHOLE, Shard { part: 1, of: 3 }] {
                                let filtered = run(scan::<ScalarU6Dot>, shard);
                                let plain = run(scan::<PortableDot>, shard);
                                assert_eq!(filtered.len(), plain.len());
                                for (f, p) in filtered.iter().zip(&plain) {
                                    let case = format!(
                                        "dim {dim} data {data_kind} k {k} batch {batch} {similarity:?} {shard:?}"
                                    );
                                    assert_eq!(f.ids, p.ids, "{case}");
                                    let bits =
                                        |t: &TopK| t.scores.iter().map(|s| s.to_bits()).collect();
                                    let (fb, pb): (Vec<u32>, Vec<u32>) = (bits(f), bits(p));
                                    assert_eq!(fb, pb, "{case}");
                                }
                            }
                            filtered_cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(filtered_cases, 9 * 3 * 2 * 4 * 5);
    }

    /// The 6-bit query stays in the operand range the Relaxed SIMD proposal makes deterministic
    /// (0..=127; 1..=63 here, for the i16 sums), and δ bounds the gap between the two
    /// quantized queries.
    #[test]
    fn u6_query_is_in_the_deterministic_range() {
        let queries = [0.3f32, -7.0, 7.0, 1e-30, -6.99, f32::NAN, 0.0, 2.5];
        let max = 7.0f32;
        let s16 = max / QUERY_I16_MAX;
        let q16: Vec<i16> = queries.iter().map(|x| (x / s16).round() as i16).collect();
        let (mut u6, mut scales, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
        let dim = queries.len();
        assert!(quantize_u6(&queries, dim, (&q16, &[s16]), &mut u6, &mut scales, &mut deltas));
        assert!(u6.iter().all(|&u| (1..=63).contains(&u)), "{u6:?}");
        assert_eq!(u6[1], 1);
        assert_eq!(u6[2], 63);
        assert_eq!(u6[5], 32, "NaN → 0, as in the i16 query");
        let s6 = scales[0];
        for j in 0..dim {
            let gap = (f64::from(q16[j]) * f64::from(s16)
                - (f64::from(u6[j]) - 32.0) * f64::from(s6))
            .abs();
            assert!(gap <= f64::from(deltas[0]) * (1.0 + 1e-6), "{j}: {gap} > {}", deltas[0]);
        }
        assert!(deltas[0] <= s6 / 2.0 * 1.001 + s16, "δ about half a 6-bit step");
        // No filter for an all-zero or infinite query.
        for bad in [[0.0f32; 2], [f32::INFINITY, 1.0]] {
            let q16 = [0i16; 2];
            assert!(!quantize_u6(&bad, 2, (&q16, &[1.0]), &mut u6, &mut scales, &mut deltas));
        }
    }

    #[test]
    fn long_int8_rows_do_not_overflow_the_integer_path() {
        // All-equal rows and query put every product at 127 · 32767, the worst case of the
        // i32 accumulation: 600 of them overflowed before MAX_I16_DIM was derived from it.
        for dim in [MAX_I16_DIM, MAX_I16_DIM + 1, 600] {
            let m = ItemMatrix::new(vec![1.0; 20 * dim], dim).unwrap();
            let index =
                ItemIndex::quantize(&m, crate::bundle::QuantScheme::I8_PER_ROW, Similarity::Dot)
                    .unwrap();
            let query = vec![1.0; dim];
            let top = score_top_k(&index, &ScoreRequest::new(&query, 3), &mut CpuScratch::new())
                .unwrap()
                .remove(0);
            assert_eq!(top.ids, vec![0, 1, 2], "dim {dim}");
            for s in top.scores {
                assert!((s - dim as f32).abs() <= 1e-3 * dim as f32, "dim {dim}: {s}");
            }
        }
    }

    #[test]
    fn identical_rows_come_out_in_index_order() {
        let m = ItemMatrix::new(vec![1.0; 40], 4).unwrap();
        let top = top_k(&m, &[1.0; 4], 5, &mut CpuScratch::new()).unwrap();
        assert_eq!(top.ids, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn matches_reference_and_reuses_scratch() {
        let data: Vec<f32> = (0..300 * 5).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        let m = ItemMatrix::new(data, 5).unwrap();
        let mut scratch = CpuScratch::new();
        for k in [1, 17, 300] {
            let q = [0.5, -1.0, 2.0, 0.25, 1.0];
            // Integer-valued data: every path computes these sums exactly, so ids must match.
            assert_eq!(top_k(&m, &q, k, &mut scratch), reference::top_k(&m, &q, k));
        }
    }

    #[test]
    fn sharded_scans_return_the_single_threaded_lists_bit_for_bit() {
        use crate::bundle::QuantScheme;
        use crate::compute::RowMask;
        let (rows, dim) = (1_003, 13);
        let mut data: Vec<f32> =
            (0..rows * dim).map(|i| (((i * 7919) % 211) as f32 - 105.0) / 37.0).collect();
        // Copies of one row planted in different shards: exact ties that only the merge's
        // tie rule (the lower row) orders as the single scan does.
        let planted: Vec<f32> = data[..dim].to_vec();
        for r in [250, 251, 500, 999] {
            data[r * dim..(r + 1) * dim].copy_from_slice(&planted);
        }
        let matrix = ItemMatrix::new(data, dim).unwrap();
        let mut mask = RowMask::new(rows);
        [3, 251, 640].iter().for_each(|&r| mask.exclude(r));
        let candidates: Vec<u32> = (0..rows as u32).rev().step_by(3).collect();
        let queries: Vec<f32> = (0..2 * dim).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        for scheme in [QuantScheme::F32, QuantScheme::F16, QuantScheme::I8_PER_ROW] {
            for similarity in [Similarity::Dot, Similarity::Cosine] {
                let index = ItemIndex::quantize(&matrix, scheme, similarity).unwrap();
                for (masked, candidate) in
                    [(false, false), (true, false), (false, true), (true, true)]
                {
                    let mut request = ScoreRequest::new(&queries, 40);
                    if masked {
                        request = request.with_mask(&mask);
                    }
                    if candidate {
                        request = request.with_candidates(&candidates);
                    }
                    let single = score_top_k(&index, &request, &mut CpuScratch::new()).unwrap();
                    for parts in [2, 3, 7] {
                        let scratches: Vec<_> =
                            (0..parts).map(|_| std::sync::Mutex::new(CpuScratch::new())).collect();
                        // Parts run in reverse order, and part 1 not at all (the merge scans a
                        // part its runner skipped itself).
                        let sharded =
                            score_top_k_sharded(&index, &request, &scratches, |n, job| {
                                (0..n).rev().filter(|&p| p != 1).for_each(job)
                            })
                            .unwrap();
                        let case =
                            format!("{scheme:?} {similarity:?} {masked} {candidate} {parts}");
                        assert_eq!(sharded.len(), single.len(), "{case}");
                        for (a, b) in sharded.iter().zip(&single) {
                            assert_eq!(a.ids, b.ids, "{case}");
                            let bits = |t: &TopK| -> Vec<u32> {
                                t.scores.iter().map(|s| s.to_bits()).collect()
                            };
                            assert_eq!(bits(a), bits(b), "{case}");
                        }
                    }
                }
            }
        }
    }
}
