//! The GPU backend: one [`GpuContext`] per engine (device, queue, compiled pipelines), and
//! [`GpuIndex`], an item matrix resident on the device with its reusable per-query buffers.
//!
//! Top-k runs in `1 + ⌈log_{2048/k'}(tiles)⌉` dispatches inside one compute pass, where
//! `k' = k.next_power_of_two()`: `score_tiles` reduces each 2048-row tile to its best `k'`,
//! then `merge_lists` merges `2048 / k'` lists at a time until one is left; only `k'` entries
//! come back to the CPU. See `shaders/README.md`.

mod buffers;
mod context;
mod index;
mod mlp;
mod mmoe;
mod pool;
mod readback;
pub mod shaders;

pub use context::{F16Path, GpuAdapter, GpuContext, GpuContextOptions};
pub use index::{GpuIndex, GpuIndexOptions};
pub use mlp::GpuMlp;
pub use mmoe::GpuMmoe;
pub use pool::GpuTable;

/// Maps an order-preserving key (see `score_key` in `topk_common.wgsl`) back to its f32.
pub(crate) fn key_to_score(key: u32) -> f32 {
    let bits = if key & 0x8000_0000 != 0 { key & 0x7fff_ffff } else { !key };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::key_to_score;

    /// The CPU mirror of the shader's `score_key`, used to check the round trip.
    fn score_key(score: f32) -> u32 {
        let bits = if score == 0.0 { 0 } else { score.to_bits() };
        if bits & 0x8000_0000 != 0 { !bits } else { bits | 0x8000_0000 }
    }

    #[test]
    fn keys_preserve_order_and_round_trip() {
        let values = [-f32::MAX, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
        for pair in values.windows(2) {
            assert!(score_key(pair[0]) <= score_key(pair[1]), "{pair:?}");
        }
        for v in values {
            assert_eq!(key_to_score(score_key(v)), if v == 0.0 { 0.0 } else { v });
        }
        assert!(score_key(-f32::MAX) > 0, "padding key 0 must rank below every finite score");
    }
}
