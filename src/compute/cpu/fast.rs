//! The optimized CPU path: a fused score-and-select pass over the item matrix.
//!
//! * The dot product keeps [`LANES`] independent accumulators so the compiler can map it onto
//!   SIMD registers (SSE/AVX natively, `simd128` on wasm — the build enables it) without
//!   `-ffast-math`-style reassociation.
//! * Selection keeps a bounded heap of the `k` best seen so far, so memory stays O(k) and rows
//!   that cannot enter the top-k cost one comparison. Rows are visited in increasing index order,
//!   so an equal score never displaces an earlier row: ties go to the lower index for free.
//! * The heap lives in caller-owned [`CpuScratch`] so repeated queries do not allocate for it.

use crate::compute::topk::rank_order;
use crate::compute::{ItemMatrix, TopK, validate_query};
use crate::error::Result;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Independent accumulators in [`dot`]: two 128-bit or one 256-bit vector of f32.
pub const LANES: usize = 8;

/// Dot product with [`LANES`] parallel partial sums (vectorizes; not bit-identical to a
/// sequential sum, within the tolerances the parity suite states).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let pairs = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]) + tail
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

/// Reusable working memory for [`top_k`]; keep one per thread and pass it to every call.
#[derive(Debug, Default)]
pub struct CpuScratch {
    heap: BinaryHeap<Candidate>,
}

impl CpuScratch {
    /// Empty scratch; grows to `k` entries on first use and keeps that capacity.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Scores every item against `query` and returns the best `k` (score desc, ties to lower index).
///
/// # Errors
/// As [`validate_query`].
pub fn top_k(
    items: &ItemMatrix,
    query: &[f32],
    k: usize,
    scratch: &mut CpuScratch,
) -> Result<TopK> {
    validate_query(items, query, k)?;
    let heap = &mut scratch.heap;
    heap.clear();
    for (row, vector) in items.as_slice().chunks_exact(items.dim()).enumerate() {
        let candidate = Candidate(dot(vector, query), row as u32);
        if heap.len() < k {
            heap.push(candidate);
        } else if let Some(mut worst) = heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }
    let mut best: Vec<Candidate> = heap.drain().collect();
    best.sort_unstable();
    Ok(TopK { ids: best.iter().map(|c| c.1).collect(), scores: best.iter().map(|c| c.0).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::reference;

    #[test]
    fn dot_matches_reference_on_odd_lengths() {
        for len in [1usize, 7, 8, 9, 63, 64, 65] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (fast, exact) = (dot(&a, &b), reference::dot(&a, &b));
            assert!((fast - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "len {len}");
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
