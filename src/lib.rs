//! # edgerec
//!
//! A client-side recommender SDK. A server trains models and exports them as a quantized bundle;
//! the browser loads the bundle and runs recall → rank → re-rank locally on WebGPU compute
//! shaders, or on a WebAssembly CPU path when WebGPU is missing or slower.
//!
//! This crate is the engine. Everything here compiles and tests natively; the JavaScript
//! bindings live in `src/wasm/` (wasm32 only) and the npm package in `pkg/`.
//!
//! ## Scoring an item index
//!
//! ```
//! use edgerec::compute::{BackendChoice, ItemMatrix, ScoringEngine};
//!
//! # fn main() -> edgerec::Result<()> {
//! // Three items of dimension 2, row-major.
//! let items = ItemMatrix::new(vec![1.0, 0.0, 0.0, 1.0, 0.7, 0.7], 2)?;
//! // `Cpu` here keeps the doc test independent of the machine's GPU; `Auto` probes WebGPU.
//! let mut engine = pollster::block_on(ScoringEngine::from_matrix(items, BackendChoice::Cpu))?;
//! let top = pollster::block_on(engine.top_k(&[1.0, 0.5], 2))?;
//! assert_eq!(top.ids, vec![2, 0]); // 0.7 + 0.35 = 1.05 beats 1.0
//! println!("{} chose {}: {}", "auto", engine.report().backend, engine.report().reason);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
// The `threads` build (nightly, `+atomics`) parks its pool's workers in `memory.atomic.wait32`.
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

pub mod bundle;
pub mod compute;
pub mod error;
pub(crate) mod order;
pub mod rank;
pub mod recall;
pub mod recommender;
pub mod rerank;
pub mod rng;
pub mod sync;
pub mod user;
pub(crate) mod wire;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use compute::{BackendChoice, BackendReport, ItemMatrix, MAX_K, ScoringEngine, TopK};
pub use error::{BackendKind, Error, Result};
