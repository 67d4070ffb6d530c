//! The optimized CPU path: one pass over the stored rows, scoring every query of the batch
//! while a row is in cache, and keeping each query's best `k` in a bounded heap.
//!
//! * Dot products keep [`LANES`] independent accumulators so the compiler maps them onto SIMD
//!   registers (SSE/AVX natively, `simd128` on wasm — the build enables it) without
//!   reassociating a sequential sum. int8 rows are widened in registers, never materialized.
//! * On x86-64 the scan is compiled a second time with AVX2+FMA and picked at run time.
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
use half::f16;
use half::slice::HalfFloatSliceExt;
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
    row: Vec<f32>,
    candidates: Vec<u32>,
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

/// The scan itself, inlined into each target-feature variant.
#[inline(always)]
fn scan(index: &ItemIndex, request: &ScoreRequest<'_>, rows: &[u32], scratch: &mut CpuScratch) {
    let dim = index.dim();
    let matrix = index.matrix();
    let per_row = matrix.scheme().words_per_row(dim);
    let words = matrix.words();
    let mult = index.row_mult();
    let CpuScratch { heaps, query_scale, row: row_buf, .. } = scratch;
    let row_id = |i: usize| rows.get(i).map_or(i, |&r| r as usize);
    let count = if rows.is_empty() { index.rows() } else { rows.len() };
    match matrix.scheme().dtype {
        DType::F32 => {
            let values: &[f32] = bytemuck::cast_slice(words);
            for i in 0..count {
                let r = row_id(i);
                let stored = &values[r * dim..(r + 1) * dim];
                offer_row(heaps, request, query_scale, dim, mult[r], r, |q| dot(stored, q));
            }
        }
        DType::F16 => {
            let halves: &[f16] = bytemuck::cast_slice(words);
            row_buf.resize(dim, 0.0);
            for i in 0..count {
                let r = row_id(i);
                halves[r * per_row * 2..r * per_row * 2 + dim].convert_to_f32_slice(row_buf);
                let stored = &*row_buf;
                offer_row(heaps, request, query_scale, dim, mult[r], r, |q| dot(stored, q));
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
    rows: &[u32],
    scratch: &mut CpuScratch,
) {
    scan(index, request, rows, scratch)
}

fn scan_dispatch(
    index: &ItemIndex,
    request: &ScoreRequest<'_>,
    rows: &[u32],
    scratch: &mut CpuScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features `scan_avx2` is compiled for (checked above).
        return unsafe { scan_avx2(index, request, rows, scratch) };
    }
    scan(index, request, rows, scratch)
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
    // Candidates are visited in row order so that ties resolve to the lower row, as everywhere.
    let mut rows = std::mem::take(&mut scratch.candidates);
    rows.clear();
    if let Some(c) = request.candidates {
        rows.extend_from_slice(c);
        rows.sort_unstable();
    }
    scan_dispatch(index, request, &rows, scratch);
    scratch.candidates = rows;
    Ok(scratch
        .heaps
        .iter_mut()
        .map(|heap| {
            let mut best: Vec<Candidate> = heap.drain().collect();
            best.sort_unstable();
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
        for len in [1usize, 7, 8, 9, 63, 64, 65] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (fast, exact) = (dot(&a, &b), reference::dot(&a, &b));
            assert!((fast - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "len {len}");
            let ints: Vec<i8> = (0..len).map(|i| (i as i32 * 37 % 255 - 127) as i8).collect();
            let as_f32: Vec<f32> = ints.iter().map(|&x| f32::from(x)).collect();
            let (fast, exact) = (dot_i8(&ints, &b), reference::dot(&as_f32, &b));
            assert!((fast - exact).abs() <= 1e-4 * (1.0 + exact.abs()), "i8 len {len}");
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
}
