//! WGSL sources, assembled at compile time from `shaders/`.

/// Pass 1: score tiles of 2048 rows, keep each tile's best k.
pub const SCORE_TOPK: &str = concat!(
    include_str!("../../../shaders/topk_common.wgsl"),
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/score_topk.wgsl")
);

/// A dense layer (`act(W·x + b)`) over a batch, for the user tower and the ranker.
pub const DENSE: &str = concat!(
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/dense.wgsl")
);

/// MMoE mixing: each task's gate-weighted sum of the experts' outputs.
pub const MMOE: &str = include_str!("../../../shaders/mmoe.wgsl");

/// History pooling (mean / attention) for the user tower.
pub const POOL: &str = concat!(
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/pool.wgsl")
);

/// Passes 2..n: merge sorted lists until one is left.
pub const MERGE_TOPK: &str = concat!(
    include_str!("../../../shaders/topk_common.wgsl"),
    include_str!("../../../shaders/merge_topk.wgsl")
);

/// Every assembled module with a name, for validation tests and tooling.
pub const ALL: &[(&str, &str)] = &[
    ("score_topk", SCORE_TOPK),
    ("merge_topk", MERGE_TOPK),
    ("dense", DENSE),
    ("pool", POOL),
    ("mmoe", MMOE),
];

/// Rows per workgroup tile (`TILE` in `topk_common.wgsl`).
pub const TILE_ROWS: u32 = 2048;

/// Invocations per workgroup (`WORKGROUP` in `topk_common.wgsl`).
pub const WORKGROUP_SIZE: u32 = 256;

/// Invocations per workgroup of `dense_forward`.
pub const DENSE_WORKGROUP_SIZE: u32 = 64;

/// Invocations per workgroup of `softmax_rows` (one workgroup per row; `SOFTMAX_WORKGROUP`).
pub const SOFTMAX_WORKGROUP_SIZE: u32 = 64;

/// Invocations per workgroup of `mix_experts` (along the output dimension).
pub const MIX_WORKGROUP_SIZE: u32 = 64;

/// Invocations per workgroup of `pool_histories`.
pub const POOL_WORKGROUP_SIZE: u32 = 64;

/// Workgroup memory the top-k kernels use: two `u32` arrays of `TILE_ROWS`.
pub const WORKGROUP_STORAGE_BYTES: u32 = 2 * TILE_ROWS * 4;
