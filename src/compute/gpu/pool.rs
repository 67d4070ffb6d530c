//! An embedding table resident on the GPU, pooled per history by `pool_histories`.

use super::buffers::{Growable, check_size, create, entries};
use super::{GpuContext, readback};
use crate::bundle::{DType, QuantizedMatrix};
use crate::compute::pool::{PoolRequest, Pooling};
use crate::error::{Error, Result};

/// Bytes of `PoolParams` (`pool.wgsl`).
pub(crate) const POOL_PARAMS_BYTES: u64 = 32;

/// Mirrors `PoolParams` in `pool.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    slots: u32,
    dim: u32,
    row_vec4s: u32,
    query_vec4s: u32,
    attention: u32,
    scale: f32,
    pad: [u32; 2],
}
const _: () = assert!(size_of::<PoolParams>() as u64 == POOL_PARAMS_BYTES);

/// An embedding table (e.g. the item embeddings) uploaded once for history pooling.
#[derive(Debug)]
pub struct GpuTable {
    rows: usize,
    dim: usize,
    pipeline: usize,
    row_vec4s: usize,
    values_per_vec4: usize,
    table: wgpu::Buffer,
    row_scale: wgpu::Buffer,
    params: wgpu::Buffer,
    ids: Growable,
    weights: Growable,
    queries: Growable,
    pooled: Growable,
    staging: Growable,
    group: Option<wgpu::BindGroup>,
}

impl GpuTable {
    /// Uploads `table` (rows zero-padded to whole `vec4<u32>`) and its row scales.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`] when the table exceeds one storage binding (pooling reads
    /// arbitrary rows, so it is not chunked); [`Error::DeviceLost`]; [`Error::Gpu`].
    pub async fn upload(ctx: &GpuContext, table: &QuantizedMatrix) -> Result<Self> {
        ctx.check_alive()?;
        let (values_per_vec4, pipeline) = match table.scheme().dtype {
            DType::F32 => (4, 0),
            DType::F16 => (8, 1),
            DType::I8 => (16, 2),
        };
        let (rows, dim) = (table.rows(), table.dim());
        let row_vec4s = dim.div_ceil(values_per_vec4);
        let bytes = (rows * row_vec4s * 16) as u64;
        check_size(ctx, "embedding table", bytes)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let per_row = table.scheme().words_per_row(dim);
        let mut words = vec![0u32; rows * row_vec4s * 4];
        for (dst, src) in
            words.chunks_exact_mut(row_vec4s * 4).zip(table.words().chunks_exact(per_row))
        {
            dst[..per_row].copy_from_slice(src);
        }
        let table_buffer = create(ctx, "edgerec embedding table", storage, bytes);
        ctx.queue.write_buffer(&table_buffer, 0, bytemuck::cast_slice(&words));
        let scales: Vec<f32> = (0..rows)
            .map(|r| if table.scheme().dtype == DType::I8 { table.row_scale(r) } else { 1.0 })
            .collect();
        let row_scale = create(ctx, "edgerec table scales", storage, rows as u64 * 4);
        ctx.queue.write_buffer(&row_scale, 0, bytemuck::cast_slice(&scales));
        let params = create(
            ctx,
            "edgerec pool params",
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            POOL_PARAMS_BYTES,
        );
        let out = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let this = Self {
            rows,
            dim,
            pipeline,
            row_vec4s,
            values_per_vec4,
            table: table_buffer,
            row_scale,
            params,
            ids: Growable::new(ctx, "edgerec history ids", storage, 16),
            weights: Growable::new(ctx, "edgerec history weights", storage, 16),
            queries: Growable::new(ctx, "edgerec pool queries", storage, 16),
            pooled: Growable::new(ctx, "edgerec pooled", out, 16),
            staging: Growable::new(ctx, "edgerec pool readback", readback, 16),
            group: None,
        };
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "table upload", reason: e.to_string() });
        }
        Ok(this)
    }

    /// Pools every history of `request`; returns `batch × dim`.
    ///
    /// # Errors
    /// As [`PoolRequest::validate`]; [`Error::DeviceLost`]; [`Error::Gpu`].
    pub async fn pool(
        &mut self,
        ctx: &GpuContext,
        request: &PoolRequest<'_>,
        pooling: Pooling,
    ) -> Result<Vec<f32>> {
        let batch = request.validate(self.rows, self.dim, pooling)?;
        ctx.check_alive()?;
        let batch32 = u32::try_from(batch)
            .ok()
            .filter(|&b| b <= ctx.limits().max_compute_workgroups_per_dimension)
            .ok_or(Error::InvalidArgument {
                name: "ids",
                reason: format!("{batch} histories exceed the device's dispatch limit"),
            })?;
        let query_len = self.row_vec4s * self.values_per_vec4;
        let out_bytes = (batch * self.dim * 4) as u64;
        let mut stale = self.group.is_none();
        stale |= self.ids.reserve(ctx, request.ids.len() as u64 * 4)?;
        stale |= self.weights.reserve(ctx, request.weights.len() as u64 * 4)?;
        stale |= self.queries.reserve(ctx, (batch * query_len * 4) as u64)?;
        stale |= self.pooled.reserve(ctx, out_bytes)?;
        self.staging.reserve(ctx, out_bytes)?;
        if stale {
            self.group = Some(ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("edgerec pool"),
                layout: &ctx.pool_layout,
                entries: &entries(vec![
                    self.params.as_entire_binding(),
                    self.table.as_entire_binding(),
                    self.row_scale.as_entire_binding(),
                    self.ids.buffer.as_entire_binding(),
                    self.weights.buffer.as_entire_binding(),
                    self.queries.buffer.as_entire_binding(),
                    self.pooled.buffer.as_entire_binding(),
                ]),
            }));
        }
        ctx.queue.write_buffer(&self.ids.buffer, 0, bytemuck::cast_slice(request.ids));
        ctx.queue.write_buffer(&self.weights.buffer, 0, bytemuck::cast_slice(request.weights));
        let (attention, scale) = match pooling {
            Pooling::Mean => (0, 0.0),
            Pooling::Attention { scale } => (1, scale),
        };
        if let Some(queries) = request.queries.filter(|_| attention == 1) {
            let mut padded = vec![0.0f32; batch * query_len];
            for (dst, src) in padded.chunks_exact_mut(query_len).zip(queries.chunks_exact(self.dim))
            {
                dst[..self.dim].copy_from_slice(src);
            }
            ctx.queue.write_buffer(&self.queries.buffer, 0, bytemuck::cast_slice(&padded));
        }
        let params = PoolParams {
            slots: request.slots as u32,
            dim: self.dim as u32,
            row_vec4s: self.row_vec4s as u32,
            query_vec4s: (query_len / 4) as u32,
            attention,
            scale,
            pad: [0; 2],
        };
        ctx.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let Some(group) = self.group.as_ref() else {
            return Err(Error::Gpu { stage: "pool", reason: "bind group missing".into() });
        };
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&ctx.pool_pipelines[self.pipeline]);
            pass.set_bind_group(0, group, &[0]);
            pass.dispatch_workgroups(batch32, 1, 1);
        }
        encoder.copy_buffer_to_buffer(&self.pooled.buffer, 0, &self.staging.buffer, 0, out_bytes);
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "pool dispatch", reason: e.to_string() });
        }
        let raw = readback::read_mapped(&ctx.device, &self.staging.buffer, out_bytes).await?;
        ctx.check_alive()?;
        Ok(bytemuck::cast_slice(&raw).to_vec())
    }
}
