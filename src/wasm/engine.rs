//! `ScoringEngine` for JavaScript.

use super::topk::TopKResult;
use crate::compute::{
    BackendChoice, BackendReport, ItemIndex, ItemMatrix, IvfIndex, RowMask, ScoreRequest,
    ScoringEngine, Similarity, TopK, parse_scheme,
};
use crate::error::Error;
use futures_util::lock::Mutex;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// An item index on the chosen backend (`webgpu` or `cpu`).
#[wasm_bindgen(js_name = ScoringEngine)]
pub struct WasmScoringEngine {
    // Queries are async; the mutex queues concurrent calls instead of failing them.
    inner: Rc<Mutex<ScoringEngine>>,
    rows: usize,
    // The report as last seen: the getters refresh it whenever no query holds the engine, so
    // an `auto` engine's switch after its background GPU trial shows without a query.
    report: RefCell<BackendReport>,
    // The bundle's IVF index while the engine searches exactly (`setNprobe(null)`), kept for the
    // next `setNprobe(n)`.
    parked_ivf: RefCell<Option<IvfIndex>>,
}

fn to_array(results: Vec<TopK>) -> js_sys::Array {
    results.into_iter().map(|inner| JsValue::from(TopKResult { inner })).collect()
}

#[wasm_bindgen(js_class = ScoringEngine)]
impl WasmScoringEngine {
    /// Uploads `items` (`rows × dim` floats, row-major) stored as `dtype` (`"f32"` default,
    /// `"f16"`, `"int8"`) with `similarity` (`"dot"` default, `"cosine"`) to the backend
    /// `backend` asks for (`"auto"` default, `"webgpu"`, `"cpu"`). Falls back to the CPU when
    /// WebGPU is missing.
    pub async fn create(
        items: Vec<f32>,
        dim: usize,
        backend: Option<String>,
        dtype: Option<String>,
        similarity: Option<String>,
    ) -> Result<WasmScoringEngine, JsValue> {
        let choice = match backend {
            Some(name) => name.parse::<BackendChoice>()?,
            None => BackendChoice::Auto,
        };
        let scheme = parse_scheme(dtype.as_deref().unwrap_or("f32"))?;
        let similarity = similarity.as_deref().unwrap_or("dot").parse::<Similarity>()?;
        let index = ItemIndex::quantize(&ItemMatrix::new(items, dim)?, scheme, similarity)?;
        Self::with_index(index, choice).await
    }

    /// Builds the engine over a loaded bundle's item index (stored format and similarity as
    /// exported; nothing is copied through JavaScript). With `nprobe`, whole-index queries go
    /// through the bundle's IVF index (`edgerec bundle build --ivf-lists N`), scanning the
    /// `nprobe` best lists; without it they scan every row.
    #[wasm_bindgen(js_name = fromBundle)]
    pub async fn from_bundle(
        bundle: &super::bundle::WasmBundle,
        backend: Option<String>,
        nprobe: Option<usize>,
    ) -> Result<WasmScoringEngine, JsValue> {
        let choice = match backend {
            Some(name) => name.parse::<BackendChoice>()?,
            None => BackendChoice::Auto,
        };
        let index = ItemIndex::from_bundle(bundle.inner())?;
        let ivf = IvfIndex::from_bundle(bundle.inner())?;
        let engine = Self::with_index(index, choice).await?;
        *engine.parked_ivf.borrow_mut() = ivf;
        if nprobe.is_some() {
            engine.set_nprobe(nprobe).await?;
        }
        Ok(engine)
    }

    /// Searches through the bundle's IVF index with `nprobe` lists per query from now on, or
    /// exactly again with `null`. `INVALID_ARGUMENT` when the engine has no IVF index (one made
    /// by `create`, or a bundle built without `--ivf-lists`) or `nprobe` is 0.
    #[wasm_bindgen(js_name = setNprobe)]
    pub async fn set_nprobe(&self, nprobe: Option<usize>) -> Result<(), JsValue> {
        // Checked before the index is touched: a refused call leaves the search as it was.
        if nprobe == Some(0) {
            return Err(Error::InvalidArgument {
                name: "nprobe",
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let mut engine = self.inner.lock().await;
        let ivf = engine.clear_ivf().or_else(|| self.parked_ivf.borrow_mut().take()).ok_or_else(
            || Error::InvalidArgument {
                name: "nprobe",
                reason: "this engine has no IVF index (build the bundle with `edgerec bundle \
                         build --ivf-lists N` and use ScoringEngine.fromBundle)"
                    .into(),
            },
        )?;
        match nprobe {
            None => *self.parked_ivf.borrow_mut() = Some(ivf),
            Some(n) => engine.set_ivf(ivf, n)?,
        }
        Ok(())
    }

    async fn with_index(
        index: ItemIndex,
        choice: BackendChoice,
    ) -> Result<WasmScoringEngine, JsValue> {
        let rows = index.rows();
        let engine = ScoringEngine::new(index, choice).await?;
        let report = RefCell::new(engine.report().clone());
        Ok(Self {
            inner: Rc::new(Mutex::new(engine)),
            rows,
            report,
            parked_ivf: RefCell::new(None),
        })
    }

    /// The engine's report now, adopting a finished background trial first (the last one seen
    /// while a query holds the engine).
    fn report(&self) -> BackendReport {
        if let Some(mut engine) = self.inner.try_lock() {
            engine.poll_trial();
            *self.report.borrow_mut() = engine.report().clone();
        }
        self.report.borrow().clone()
    }

    /// `"webgpu"` or `"cpu"`: the backend answering queries. `auto` starts on `"cpu"` and
    /// becomes `"webgpu"` when its background trial finds a hardware GPU faster; a lost device
    /// turns it back to `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.report().backend.as_str().to_string()
    }

    /// Why that backend is in use (a software adapter, a trial in progress, the trial's
    /// timings, no WebGPU, …).
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.report().reason
    }

    /// The GPU adapter's description, when one was found.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        self.report().adapter
    }

    /// `[cpuMs, gpuMs]` from the `auto` backend trial, once it has finished.
    #[wasm_bindgen(getter)]
    pub fn trial(&self) -> Option<Vec<f64>> {
        self.report().trial.map(|t| vec![t.cpu_ms, t.gpu_ms])
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

    /// Resolves to one result per query of the batch (`B × dim` floats), leaving out the rows
    /// in `exclude` and, when `candidates` is given, scoring only those rows.
    #[wasm_bindgen(unchecked_return_type = "Promise<TopKResult[]>")]
    pub fn search(
        &self,
        queries: Vec<f32>,
        k: usize,
        exclude: Option<Vec<u32>>,
        candidates: Option<Vec<u32>>,
    ) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        let rows = self.rows;
        wasm_bindgen_futures::future_to_promise(async move {
            let mask = exclude.map(|rows_out| {
                let mut mask = RowMask::new(rows);
                rows_out.iter().for_each(|&r| mask.exclude(r as usize));
                mask
            });
            let mut request = ScoreRequest::new(&queries, k);
            if let Some(mask) = mask.as_ref() {
                request = request.with_mask(mask);
            }
            if let Some(candidates) = candidates.as_deref() {
                request = request.with_candidates(candidates);
            }
            let mut engine = inner.lock().await;
            Ok(to_array(engine.score_top_k(&request).await?).into())
        })
    }

    /// The backend currently answering queries, once queued queries have run (`backend` is the
    /// same without waiting for them).
    #[wasm_bindgen(js_name = currentBackend, unchecked_return_type = "Promise<string>")]
    pub fn current_backend(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = inner.lock().await;
            engine.poll_trial();
            Ok(JsValue::from_str(engine.report().backend.as_str()))
        })
    }
}
