//! JavaScript bindings — the only module with `#[wasm_bindgen]`.
//!
//! Thin by design: each export converts JS values, calls the engine, and converts the result or
//! the typed [`crate::Error`] (which becomes a JS `Error` with a stable `code`). Nothing here
//! panics on input; the npm package's TypeScript wrapper (`pkg/src/index.ts`) is the public face.

mod bundle;
mod convert;
mod engine;
mod error;
mod recommender;
mod rerank;
mod storage;
mod sync;

pub use bundle::{WasmBundle, WasmBundleLoader};
pub use engine::{TopKResult, WasmScoringEngine, reference_top_k};
pub use recommender::WasmRecommender;
pub use rerank::{WasmDppKernel, WasmMmrIndex, dpp_select, mmr_select};
pub use storage::JsStorage;
pub use sync::WasmSyncClient;
