//! `ScoringEngine` and `referenceTopK` for JavaScript.

use crate::compute::cpu;
use crate::compute::{BackendChoice, ItemMatrix, ScoringEngine, TopK};
use futures_util::lock::Mutex;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A top-k result: `ids` (Uint32Array, row indices) and `scores` (Float32Array), best first.
#[wasm_bindgen]
pub struct TopKResult {
    inner: TopK,
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

/// An item index on the chosen backend (`webgpu` or `cpu`).
#[wasm_bindgen(js_name = ScoringEngine)]
pub struct WasmScoringEngine {
    // Queries are async; the mutex queues concurrent `topK` calls instead of failing them.
    inner: Rc<Mutex<ScoringEngine>>,
    backend: String,
    reason: String,
    adapter: Option<String>,
}

#[wasm_bindgen(js_class = ScoringEngine)]
impl WasmScoringEngine {
    /// Uploads `items` (`rows × dim` floats, row-major) to the backend `backend` asks for
    /// (`"auto"` default, `"webgpu"`, `"cpu"`). Falls back to the CPU when WebGPU is missing.
    pub async fn create(
        items: Vec<f32>,
        dim: usize,
        backend: Option<String>,
    ) -> Result<WasmScoringEngine, JsValue> {
        let choice = match backend {
            Some(name) => name.parse::<BackendChoice>()?,
            None => BackendChoice::Auto,
        };
        let engine = ScoringEngine::new(ItemMatrix::new(items, dim)?, choice).await?;
        let report = engine.report().clone();
        Ok(Self {
            inner: Rc::new(Mutex::new(engine)),
            backend: report.backend.as_str().to_string(),
            reason: report.reason,
            adapter: report.adapter,
        })
    }

    /// `"webgpu"` or `"cpu"`: the backend chosen at creation.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why that backend was chosen.
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.reason.clone()
    }

    /// The GPU adapter's description, when one was found.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        self.adapter.clone()
    }

    /// Resolves to the best `k` items for `query`; rejects with an `EdgerecError`.
    #[wasm_bindgen(js_name = topK, unchecked_return_type = "Promise<TopKResult>")]
    pub fn top_k(&self, query: Vec<f32>, k: usize) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = inner.lock().await;
            let top = engine.top_k(&query, k).await?;
            Ok(TopKResult { inner: top }.into())
        })
    }

    /// The backend currently answering queries: differs from `backend` after a lost GPU device
    /// made the engine fall back to the CPU.
    #[wasm_bindgen(js_name = currentBackend, unchecked_return_type = "Promise<string>")]
    pub fn current_backend(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let engine = inner.lock().await;
            Ok(JsValue::from_str(engine.report().backend.as_str()))
        })
    }
}

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
