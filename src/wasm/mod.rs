//! JavaScript bindings — the only module with `#[wasm_bindgen]`.
//!
//! Thin by design: each export converts JS values, calls the engine, and converts the result or
//! the typed [`crate::Error`] (which becomes a JS `Error` with a stable `code`). Nothing here
//! panics on input; the npm package's TypeScript wrapper (`pkg/src/index.ts`) is the public face.
//!
//! The cargo features pick which exports a build carries, so that the npm package's core module
//! holds only what every page needs (`scripts/build-pkg.sh`):
//! - `js-engine`: `Recommender`, `Bundle`, `ScoringEngine` — the core (and, with `gpu`, the full
//!   module);
//! - `js-kernels`: the one-shot re-rank primitives (`dppSelect`, `mmrSelect`, `DppKernel`,
//!   `MmrIndex`) and `referenceTopK` — a module loaded on their first call;
//! - `js-sync`: `SyncClient` — a module loaded by the first `Recommender` with `sync`.
//!
//! Built with `+atomics` (the package's `threads` module, on shared memory), `js-engine` also
//! exports `threadWorkerLoop`, which the package's thread workers enter.
//!
//! They share no objects, so each module stands alone.

#[cfg(feature = "js-engine")]
mod bundle;
#[cfg(any(feature = "js-engine", feature = "js-sync"))]
mod convert;
#[cfg(feature = "js-engine")]
mod engine;
mod error;
#[cfg(feature = "js-engine")]
mod recommender;
#[cfg(feature = "js-kernels")]
mod reference;
#[cfg(feature = "js-kernels")]
mod rerank;
#[cfg(any(feature = "js-engine", feature = "js-sync"))]
mod storage;
#[cfg(feature = "js-sync")]
mod sync;
#[cfg(feature = "js-engine")]
mod threads;
#[cfg(any(feature = "js-engine", feature = "js-kernels"))]
mod topk;

#[cfg(feature = "js-engine")]
pub use bundle::{WasmBundle, WasmBundleLoader};
#[cfg(feature = "js-engine")]
pub use engine::WasmScoringEngine;
#[cfg(feature = "js-engine")]
pub use recommender::WasmRecommender;
#[cfg(feature = "js-kernels")]
pub use reference::{memory_sum_bandwidth, reference_top_k};
#[cfg(feature = "js-kernels")]
pub use rerank::{WasmDppKernel, WasmMmrIndex, dpp_select, mmr_select};
#[cfg(any(feature = "js-engine", feature = "js-sync"))]
pub use storage::JsStorage;
#[cfg(feature = "js-sync")]
pub use sync::WasmSyncClient;
#[cfg(feature = "js-engine")]
pub use threads::cpu_threads;
#[cfg(any(feature = "js-engine", feature = "js-kernels"))]
pub use topk::TopKResult;
