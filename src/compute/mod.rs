//! The compute seam: every kernel the funnel runs, behind one interface, on two backends.
//!
//! * [`cpu`] — a scalar reference (the definition of "correct") and an optimized path
//!   (auto-vectorized; `simd128` on wasm).
//! * [`gpu`] — WGSL kernels from `shaders/` on wgpu (WebGPU in the browser, Vulkan natively),
//!   with a context that is built once and reused.
//! * [`ScoringEngine`] — picks a backend (`auto | webgpu | cpu`), reports the choice and why,
//!   and falls back to the CPU instead of failing when WebGPU is missing.
//! * [`IvfIndex`] — an optional IVF coarse index (k-means lists, `nprobe` at query time) for
//!   catalogues of a million items and more.

pub mod cpu;
pub mod dense;
mod engine;
mod f16_path;
#[cfg(feature = "gpu")]
pub mod gpu;
// A build without the `gpu` feature: the same names, but no value of a GPU type can exist.
#[cfg(not(feature = "gpu"))]
#[path = "gpu_off.rs"]
pub mod gpu;
pub mod gradient;
mod index;
mod ivf;
mod matrix;
pub mod mmoe;
pub mod pool;
mod topk;

pub use crate::bundle::parse_scheme;
pub use dense::{Activation, DenseLayer, Mlp, MlpDevice, MlpScratch};
pub use engine::{BackendChoice, BackendReport, ScoringEngine, TrialTimings};
pub use index::{ItemIndex, RowMask, ScoreRequest, Similarity};
pub use ivf::{IvfIndex, IvfParams, IvfScratch};
pub use matrix::ItemMatrix;
pub use mmoe::{Mmoe, MmoeScratch};
pub use pool::{EMPTY_SLOT, PoolRequest, Pooling, pool_fast, pool_reference};
pub use topk::{MAX_K, TopK, validate_query};
