//! Re-rank primitives for JavaScript: DPP and MMR selection, exactly the engine's (and the
//! reference implementations') choices.

use crate::rerank::{DEFAULT_EPSILON, DppParams, Embeddings, Kernel, MmrParams, dpp_greedy, mmr};
use wasm_bindgen::prelude::*;

fn to_u32(selection: Vec<usize>) -> Vec<u32> {
    selection.into_iter().map(|i| i as u32).collect()
}

/// DPP fast greedy MAP (Chen et al. 2018) over an `n × n` kernel (row-major): up to `k` indices
/// in selection order; `window` for the sliding-window variant; `epsilon` (default 1e-10) stops
/// early when the marginal gain vanishes.
#[wasm_bindgen(js_name = dppSelect)]
pub fn dpp_select(
    kernel: Vec<f64>,
    n: usize,
    k: usize,
    window: Option<usize>,
    epsilon: Option<f64>,
) -> Result<Vec<u32>, JsValue> {
    let kernel = Kernel::new(kernel, n, n)?;
    let params = DppParams { window, epsilon: epsilon.unwrap_or(DEFAULT_EPSILON) };
    Ok(to_u32(dpp_greedy(&kernel, k, params)?))
}

/// MMR (Carbonell & Goldstein 1998): relevance = cosine(query, item), redundancy = max cosine to
/// the selected items (the last `window` of them when given); up to `k` indices in selection
/// order, ties to the lower index.
#[wasm_bindgen(js_name = mmrSelect)]
pub fn mmr_select(
    items: Vec<f64>,
    dim: usize,
    query: Vec<f64>,
    k: usize,
    lambda: f64,
    window: Option<usize>,
) -> Result<Vec<u32>, JsValue> {
    let embeddings = Embeddings::new(items, dim)?;
    let relevance = embeddings.cosine_to(&query)?;
    let similarity = crate::rerank::Similarity::cosine(embeddings);
    Ok(to_u32(mmr(&relevance, &similarity, k, MmrParams { lambda, window })?))
}
