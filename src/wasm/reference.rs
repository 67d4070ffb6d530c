//! The scalar reference scorer and the memory-bandwidth yardstick for JavaScript (tests, demos,
//! benchmarks); in the npm package's kernels module, next to the re-rank primitives.

use super::topk::TopKResult;
use crate::compute::{ItemMatrix, cpu};
use wasm_bindgen::prelude::*;

/// The scalar CPU reference: the definition of a correct top-k, for tests and demos.
#[wasm_bindgen(js_name = referenceTopK)]
pub fn reference_top_k(
    items: Vec<f32>,
    dim: usize,
    query: Vec<f32>,
    k: usize,
) -> Result<TopKResult, JsValue> {
    let items = ItemMatrix::new(items, dim)?;
    Ok(TopKResult { inner: cpu::reference_top_k(&items, &query, k)? })
}

/// Single-core read bandwidth of this WebAssembly instance in GB/s: the median of five plain
/// sums over `megabytes` MB — the yardstick the scoring benchmark's GB/s are compared with.
#[wasm_bindgen(js_name = memorySumBandwidth)]
pub fn memory_sum_bandwidth(megabytes: usize) -> f64 {
    let data = vec![1u64; megabytes.max(1) * (1 << 20) / 8];
    let samples: Vec<f64> = (0..5)
        .map(|_| {
            let start = web_time::Instant::now();
            let sum = data.iter().fold(0u64, |a, &b| a.wrapping_add(b));
            std::hint::black_box(sum);
            start.elapsed().as_secs_f64()
        })
        .collect();
    (data.len() * 8) as f64 / crate::order::median(&samples).max(1e-9) / 1e9
}
