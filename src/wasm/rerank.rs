//! Re-rank primitives for JavaScript: DPP and MMR selection, exactly the engine's (and the
//! reference implementations') choices.

use crate::rerank::{
    DEFAULT_EPSILON, DppParams, Embeddings, Kernel, MmrParams, Similarity, dpp_greedy,
    dpp_greedy_quality, mmr,
};
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

/// DPP fast greedy MAP from item vectors and scores, as the funnel's re-rank builds it: the
/// kernel `L = diag(q)·S·diag(q)` with `S` the cosine similarity of the `rows × dim` vectors and
/// `q_i = exp(α·(r_i − max r))`, `α = θ / (2(1 − θ))` (Chen et al. 2018, §5), never materialised —
/// greedy inference reads only the rows of the picked items. `θ` in `[0, 1)` trades relevance
/// (→ 1) for diversity (→ 0). Same picks as `dppSelect` on that kernel.
#[wasm_bindgen(js_name = dppSelectEmbeddings)]
pub fn dpp_select_embeddings(
    items: Vec<f64>,
    dim: usize,
    scores: Vec<f64>,
    k: usize,
    theta: f64,
    window: Option<usize>,
    epsilon: Option<f64>,
) -> Result<Vec<u32>, JsValue> {
    let similarity = Similarity::cosine(Embeddings::new(items, dim)?);
    let params = DppParams { window, epsilon: epsilon.unwrap_or(DEFAULT_EPSILON) };
    Ok(to_u32(dpp_greedy_quality(&scores, &similarity, theta, k, params)?))
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

/// A DPP kernel validated and held in WebAssembly memory, for repeated selections without
/// copying the `n × n` matrix across the JS boundary each time.
#[wasm_bindgen(js_name = DppKernel)]
pub struct WasmDppKernel {
    kernel: Kernel,
}

#[wasm_bindgen(js_class = DppKernel)]
impl WasmDppKernel {
    /// Validates (square, finite, symmetric, non-negative diagonal) and keeps an `n × n` kernel.
    #[wasm_bindgen(constructor)]
    pub fn new(kernel: Vec<f64>, n: usize) -> Result<WasmDppKernel, JsValue> {
        Ok(Self { kernel: Kernel::new(kernel, n, n)? })
    }

    /// Up to `k` indices in selection order (see `dppSelect`).
    pub fn select(
        &self,
        k: usize,
        window: Option<usize>,
        epsilon: Option<f64>,
    ) -> Result<Vec<u32>, JsValue> {
        let params = DppParams { window, epsilon: epsilon.unwrap_or(DEFAULT_EPSILON) };
        Ok(to_u32(dpp_greedy(&self.kernel, k, params)?))
    }
}

/// Item vectors held in WebAssembly memory for repeated MMR selections.
#[wasm_bindgen(js_name = MmrIndex)]
pub struct WasmMmrIndex {
    similarity: crate::rerank::Similarity,
    embeddings: Embeddings,
}

#[wasm_bindgen(js_class = MmrIndex)]
impl WasmMmrIndex {
    /// Keeps `rows × dim` item vectors.
    #[wasm_bindgen(constructor)]
    pub fn new(items: Vec<f64>, dim: usize) -> Result<WasmMmrIndex, JsValue> {
        let embeddings = Embeddings::new(items, dim)?;
        Ok(Self { similarity: crate::rerank::Similarity::cosine(embeddings.clone()), embeddings })
    }

    /// Up to `k` indices in selection order for `query` (see `mmrSelect`).
    pub fn select(
        &self,
        query: Vec<f64>,
        k: usize,
        lambda: f64,
        window: Option<usize>,
    ) -> Result<Vec<u32>, JsValue> {
        let relevance = self.embeddings.cosine_to(&query)?;
        Ok(to_u32(mmr(&relevance, &self.similarity, k, MmrParams { lambda, window })?))
    }
}
