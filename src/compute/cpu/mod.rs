//! CPU kernels: the scalar reference every other path is tested against, and the fast path.

pub mod fast;
pub mod reference;

pub use fast::{CpuScratch, score_top_k as fast_score_top_k, top_k as fast_top_k};
pub use reference::{score_top_k as reference_score_top_k, top_k as reference_top_k};
