//! WGSL sources, assembled at compile time from `shaders/`.
//!
//! The kernels that read stored values (`score_topk`, `dense`, `pool`) come in two builds: the
//! packed one (`unpack.wgsl`: f32, f16 and int8 in `vec4<u32>` words, f16 widened with
//! `unpack2x16float`; runs everywhere) and the `_F16` one (`f16_native.wgsl`: the same bytes
//! declared as `f16` storage; needs `shader-f16`, serves f16 data only). The context picks one
//! for f16 data once, at creation ([`super::F16Path`]).

/// Pass 1: score tiles of 2048 rows, keep each tile's best k.
pub const SCORE_TOPK: &str = concat!(
    include_str!("../../../shaders/topk_common.wgsl"),
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/score_topk.wgsl")
);

/// [`SCORE_TOPK`] for f16 rows on a device with `shader-f16`.
pub const SCORE_TOPK_F16: &str = concat!(
    include_str!("../../../shaders/f16_native.wgsl"),
    include_str!("../../../shaders/topk_common.wgsl"),
    include_str!("../../../shaders/score_topk.wgsl")
);

/// A dense layer (`act(W·x + b)`) over a batch, for the user tower and the ranker.
pub const DENSE: &str = concat!(
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/dense.wgsl")
);

/// [`DENSE`] for f16 weights on a device with `shader-f16`.
pub const DENSE_F16: &str = concat!(
    include_str!("../../../shaders/f16_native.wgsl"),
    include_str!("../../../shaders/dense.wgsl")
);

/// MMoE mixing: each task's gate-weighted sum of the experts' outputs.
pub const MMOE: &str = include_str!("../../../shaders/mmoe.wgsl");

/// History pooling (mean / attention) for the user tower.
pub const POOL: &str = concat!(
    include_str!("../../../shaders/unpack.wgsl"),
    include_str!("../../../shaders/pool.wgsl")
);

/// [`POOL`] for f16 tables on a device with `shader-f16`.
pub const POOL_F16: &str = concat!(
    include_str!("../../../shaders/f16_native.wgsl"),
    include_str!("../../../shaders/pool.wgsl")
);

/// Passes 2..n: merge sorted lists until one is left.
pub const MERGE_TOPK: &str = concat!(
    include_str!("../../../shaders/topk_common.wgsl"),
    include_str!("../../../shaders/merge_topk.wgsl")
);

/// Every assembled module with a name, for validation tests and tooling. The `_f16` ones start
/// with `enable f16;` ([`needs_shader_f16`]).
pub const ALL: &[(&str, &str)] = &[
    ("score_topk", SCORE_TOPK),
    ("score_topk_f16", SCORE_TOPK_F16),
    ("merge_topk", MERGE_TOPK),
    ("dense", DENSE),
    ("dense_f16", DENSE_F16),
    ("pool", POOL),
    ("pool_f16", POOL_F16),
    ("mmoe", MMOE),
];

/// True when `source` enables the `f16` extension, i.e. compiles only on a device with
/// `shader-f16` (`wgpu::Features::SHADER_F16`).
pub fn needs_shader_f16(source: &str) -> bool {
    source.trim_start().starts_with("enable f16;")
}

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

/// Workgroup memory the top-k kernels use: two `u32` arrays of `TILE_ROWS`, plus the score
/// kernel's two fill counters, which Dawn counts at 16 bytes each (it rounds every workgroup
/// variable up to 16). WebGPU's default limit is 16 KiB; adapters offer 32 KiB or more
/// (SwiftShader, lavapipe, desktop and mobile GPUs).
pub const WORKGROUP_STORAGE_BYTES: u32 = 2 * TILE_ROWS * 4 + 2 * 16;
