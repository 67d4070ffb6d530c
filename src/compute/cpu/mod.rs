//! CPU kernels: the scalar reference every other path is tested against, the fast path, and the
//! threads the fast path's scan is split across where the build has them.

pub mod fast;
pub mod pool;
pub mod reference;

pub use fast::{
    CpuScratch, Shard, score_top_k as fast_score_top_k, score_top_k_sharded, top_k as fast_top_k,
};
pub use reference::{score_top_k as reference_score_top_k, top_k as reference_top_k};
