//! An item matrix resident on the GPU, and the top-k query that runs over it.

use super::shaders::TILE_ROWS;
use super::{GpuContext, key_to_score, readback};
use crate::compute::topk::check_query;
use crate::compute::{ItemMatrix, TopK};
use crate::error::{Error, Result};

/// Bytes of one `PassParams` uniform (`topk_common.wgsl`).
pub(crate) const PARAMS_BYTES: u64 = 16;
/// Distance between per-pass uniform slots; WebGPU guarantees
/// `minUniformBufferOffsetAlignment <= 256`.
const PARAMS_SLOT: u64 = 256;
/// Uniform slots: the score pass plus merges; each merge divides the lists by >= 2, so 40
/// slots cover any index a 32-bit row count allows.
const PARAMS_SLOTS: u64 = 40;

/// Mirrors `PassParams` in `topk_common.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PassParams {
    rows: u32,
    dim4: u32,
    k: u32,
    lists: u32,
}
const _: () = assert!(size_of::<PassParams>() as u64 == PARAMS_BYTES);

/// Buffers sized for one `k'` (k rounded up to a power of two), kept until a larger one is needed.
#[derive(Debug)]
struct QueryBuffers {
    k_pow2: u32,
    ping: wgpu::Buffer,
    pong: wgpu::Buffer,
    staging: wgpu::Buffer,
    score_group: wgpu::BindGroup,
    merge_ping_to_pong: wgpu::BindGroup,
    merge_pong_to_ping: wgpu::BindGroup,
}

/// An item index uploaded once, plus the per-query buffers reused across calls.
#[derive(Debug)]
pub struct GpuIndex {
    rows: u32,
    dim: usize,
    dim4: u32,
    items: wgpu::Buffer,
    query: wgpu::Buffer,
    params: wgpu::Buffer,
    query_staging: Vec<f32>,
    buffers: Option<QueryBuffers>,
}

fn check_size(ctx: &GpuContext, what: &'static str, bytes: u64) -> Result<()> {
    let limits = ctx.limits();
    let limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    if bytes > limit { Err(Error::BufferTooLarge { what, bytes, limit }) } else { Ok(()) }
}

/// Number of lists after each pass, starting with one list per tile.
fn pass_list_counts(rows: u32, k_pow2: u32) -> Vec<u32> {
    let per_merge = TILE_ROWS / k_pow2;
    let mut counts = vec![rows.div_ceil(TILE_ROWS)];
    while let Some(&last) = counts.last()
        && last > 1
    {
        counts.push(last.div_ceil(per_merge));
    }
    counts
}

impl GpuIndex {
    /// Uploads `items` (rows zero-padded to a multiple of 4 floats for `vec4` loads).
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`] when the matrix exceeds the device's storage-binding limit,
    /// [`Error::DeviceLost`], or [`Error::Gpu`] when the allocation fails.
    pub async fn upload(ctx: &GpuContext, items: &ItemMatrix) -> Result<Self> {
        ctx.check_alive()?;
        let dim = items.dim();
        let dim4 = dim.div_ceil(4);
        let rows = u32::try_from(items.rows()).map_err(|_| Error::BufferTooLarge {
            what: "item matrix rows",
            bytes: items.rows() as u64,
            limit: u64::from(u32::MAX),
        })?;
        let item_bytes = items.rows() as u64 * dim4 as u64 * 16;
        check_size(ctx, "item matrix", item_bytes)?;

        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = |label, size| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let items_buffer = storage("edgerec items", item_bytes);
        let query = storage("edgerec query", dim4 as u64 * 16);
        let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("edgerec pass params"),
            size: PARAMS_SLOT * PARAMS_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "item upload", reason: e.to_string() });
        }
        if dim.is_multiple_of(4) {
            ctx.queue.write_buffer(&items_buffer, 0, bytemuck::cast_slice(items.as_slice()));
        } else {
            let mut padded = vec![0.0f32; items.rows() * dim4 * 4];
            for (dst, src) in padded.chunks_exact_mut(dim4 * 4).zip(items.as_slice().chunks(dim)) {
                dst[..dim].copy_from_slice(src);
            }
            ctx.queue.write_buffer(&items_buffer, 0, bytemuck::cast_slice(&padded));
        }
        Ok(Self {
            rows,
            dim,
            dim4: dim4 as u32,
            items: items_buffer,
            query,
            params,
            query_staging: vec![0.0; dim4 * 4],
            buffers: None,
        })
    }

    /// Number of items on the device.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn ensure_buffers(&mut self, ctx: &GpuContext, k_pow2: u32) -> Result<()> {
        if self.buffers.as_ref().is_some_and(|b| b.k_pow2 >= k_pow2) {
            return Ok(());
        }
        let tiles = u64::from(self.rows.div_ceil(TILE_ROWS));
        let entry = 8u64; // vec2<u32>
        let ping_bytes = tiles * u64::from(k_pow2) * entry;
        let pong_bytes = tiles.div_ceil(2).max(1) * u64::from(k_pow2) * entry;
        check_size(ctx, "top-k candidate lists", ping_bytes)?;
        let list = |label, size| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let ping = list("edgerec top-k ping", ping_bytes);
        let pong = list("edgerec top-k pong", pong_bytes);
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("edgerec top-k readback"),
            size: u64::from(k_pow2) * entry,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = |label, input: &wgpu::Buffer, output: &wgpu::Buffer| {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &ctx.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &self.params,
                            offset: 0,
                            size: wgpu::BufferSize::new(PARAMS_BYTES),
                        }),
                    },
                    wgpu::BindGroupEntry { binding: 1, resource: input.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: self.query.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: output.as_entire_binding() },
                ],
            })
        };
        let score_group = group("edgerec score", &self.items, &ping);
        let merge_ping_to_pong = group("edgerec merge ping→pong", &ping, &pong);
        let merge_pong_to_ping = group("edgerec merge pong→ping", &pong, &ping);
        self.buffers = Some(QueryBuffers {
            k_pow2,
            ping,
            pong,
            staging,
            score_group,
            merge_ping_to_pong,
            merge_pong_to_ping,
        });
        Ok(())
    }

    /// Scores every item against `query` on the GPU and returns the best `k` (score desc, exact
    /// ties to the lower index).
    ///
    /// # Errors
    /// Input errors as [`crate::compute::validate_query`]; [`Error::DeviceLost`]; [`Error::Gpu`]
    /// when the device reports a failure.
    pub async fn top_k(&mut self, ctx: &GpuContext, query: &[f32], k: usize) -> Result<TopK> {
        check_query(self.dim, self.rows(), query, k)?;
        ctx.check_alive()?;
        // k <= MAX_K = 1024 after validation, so the power of two fits the 2048-entry tile twice.
        let k_pow2 = (k as u32).next_power_of_two();
        self.ensure_buffers(ctx, k_pow2)?;
        let Some(buffers) = self.buffers.as_ref() else {
            return Err(Error::Gpu { stage: "top-k", reason: "query buffers missing".into() });
        };

        self.query_staging[..self.dim].copy_from_slice(query);
        ctx.queue.write_buffer(&self.query, 0, bytemuck::cast_slice(&self.query_staging));
        let counts = pass_list_counts(self.rows, k_pow2);
        let mut slots = vec![0u8; counts.len() * PARAMS_SLOT as usize];
        for (pass, slot) in slots.chunks_exact_mut(PARAMS_SLOT as usize).enumerate() {
            // Pass 0 scores tiles; pass p >= 1 merges the lists pass p - 1 produced.
            let lists = if pass == 0 { 0 } else { counts[pass - 1] };
            let params = PassParams { rows: self.rows, dim4: self.dim4, k: k_pow2, lists };
            slot[..PARAMS_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&params));
        }
        ctx.queue.write_buffer(&self.params, 0, &slots);

        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let mut result_in_ping = true;
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&ctx.score_pipeline);
            pass.set_bind_group(0, &buffers.score_group, &[0]);
            pass.dispatch_workgroups(counts[0], 1, 1);
            pass.set_pipeline(&ctx.merge_pipeline);
            for (step, &groups) in counts.iter().enumerate().skip(1) {
                let group = if result_in_ping {
                    &buffers.merge_ping_to_pong
                } else {
                    &buffers.merge_pong_to_ping
                };
                pass.set_bind_group(0, group, &[(step as u64 * PARAMS_SLOT) as u32]);
                pass.dispatch_workgroups(groups, 1, 1);
                result_in_ping = !result_in_ping;
            }
        }
        let result = if result_in_ping { &buffers.ping } else { &buffers.pong };
        let bytes = u64::from(k_pow2) * 8;
        encoder.copy_buffer_to_buffer(result, 0, &buffers.staging, 0, bytes);
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "top-k dispatch", reason: e.to_string() });
        }
        let raw = readback::read_mapped(&ctx.device, &buffers.staging, bytes).await?;
        ctx.check_alive()?;
        let pairs: &[[u32; 2]] = bytemuck::cast_slice(&raw);
        let mut top = TopK { ids: Vec::with_capacity(k), scores: Vec::with_capacity(k) };
        for &[key, id] in &pairs[..k] {
            if id >= self.rows {
                return Err(Error::Gpu {
                    stage: "top-k readback",
                    reason: format!("kernel returned row {id} of {}", self.rows),
                });
            }
            top.ids.push(id);
            top.scores.push(key_to_score(key));
        }
        Ok(top)
    }
}

#[cfg(test)]
mod tests {
    use super::pass_list_counts;

    #[test]
    fn pass_counts_shrink_to_one_list() {
        assert_eq!(pass_list_counts(100, 16), vec![1]);
        assert_eq!(pass_list_counts(2049, 1024), vec![2, 1]);
        // 1M rows, k' = 1024: 489 tiles, halved each merge.
        assert_eq!(pass_list_counts(1_000_000, 1024), vec![489, 245, 123, 62, 31, 16, 8, 4, 2, 1]);
        // k' = 16 merges 128 lists per workgroup.
        assert_eq!(pass_list_counts(10_000_000, 16), vec![4883, 39, 1]);
    }
}
