//! CPU kernels: the scalar reference every other path is tested against, and the fast path.

pub mod fast;
pub mod reference;

pub use fast::{CpuScratch, top_k as fast_top_k};
pub use reference::top_k as reference_top_k;
