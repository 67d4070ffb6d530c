//! The top-k result object shared by `ScoringEngine` and `referenceTopK`.

use crate::compute::TopK;
use wasm_bindgen::prelude::*;

/// A top-k result: `ids` (Uint32Array, row indices) and `scores` (Float32Array), best first.
#[wasm_bindgen]
pub struct TopKResult {
    pub(crate) inner: TopK,
}

#[wasm_bindgen]
impl TopKResult {
    /// Row indices, best first.
    #[wasm_bindgen(getter)]
    pub fn ids(&self) -> Vec<u32> {
        self.inner.ids.clone()
    }

    /// Scores aligned with `ids`.
    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f32> {
        self.inner.scores.clone()
    }
}
