//! An MLP resident on the GPU: weights uploaded once, activations ping-ponging between two
//! device buffers, one dispatch per layer inside one compute pass, one readback at the end.

use super::buffers::{Growable, check_size, create, entries};
use super::{GpuContext, readback};
use crate::bundle::DType;
use crate::compute::dense::{Activation, Mlp};
use crate::error::{Error, Result};

/// Bytes of `DenseParams` (`dense.wgsl`).
pub(crate) const DENSE_PARAMS_BYTES: u64 = 32;
/// Distance between per-layer uniform slots (WebGPU's maximum offset alignment).
const PARAMS_SLOT: u64 = 256;
/// Activation rows are padded to this many floats, enough for one int8 word-vector.
const ROW_ALIGN: usize = 16;
/// `@workgroup_size` of `dense_forward`.
const WORKGROUP: u32 = super::shaders::DENSE_WORKGROUP_SIZE;

/// Mirrors `DenseParams` in `dense.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DenseParams {
    batch: u32,
    out_dim: u32,
    row_vec4s: u32,
    in_stride: u32,
    out_stride: u32,
    activation: u32,
    pad: [u32; 2],
}
const _: () = assert!(size_of::<DenseParams>() as u64 == DENSE_PARAMS_BYTES);

#[derive(Debug)]
struct GpuLayer {
    weights: wgpu::Buffer,
    mult: wgpu::Buffer,
    bias: wgpu::Buffer,
    pipeline: usize,
    out_dim: u32,
    row_vec4s: u32,
    in_stride: u32,
    out_stride: u32,
    activation: u32,
}

/// An [`Mlp`] uploaded to the GPU, with reusable activation buffers.
#[derive(Debug)]
pub struct GpuMlp {
    layers: Vec<GpuLayer>,
    in_dim: usize,
    out_dim: usize,
    params: wgpu::Buffer,
    acts: [Growable; 2],
    staging: Growable,
    /// One bind group per layer over the current activation buffers (rebuilt when they grow).
    groups: Vec<wgpu::BindGroup>,
    input_staging: Vec<f32>,
}

fn padded(n: usize) -> usize {
    n.next_multiple_of(ROW_ALIGN)
}

impl GpuMlp {
    /// Uploads the weights (rows zero-padded to whole `vec4<u32>`), scales and biases.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`], [`Error::DeviceLost`], [`Error::Gpu`].
    pub async fn upload(ctx: &GpuContext, mlp: &Mlp) -> Result<Self> {
        ctx.check_alive()?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let mut layers = Vec::with_capacity(mlp.layers().len());
        for layer in mlp.layers() {
            let w = layer.weights();
            let (values_per_vec4, pipeline) = match w.scheme().dtype {
                DType::F32 => (4, 0),
                DType::F16 => (8, 1),
                DType::I8 => (16, 2),
            };
            let row_vec4s = layer.in_dim().div_ceil(values_per_vec4);
            let words_per_row = w.scheme().words_per_row(layer.in_dim());
            let bytes = (layer.out_dim() * row_vec4s * 16) as u64;
            check_size(ctx, "dense weights", bytes)?;
            let mut words = vec![0u32; layer.out_dim() * row_vec4s * 4];
            for (dst, src) in
                words.chunks_exact_mut(row_vec4s * 4).zip(w.words().chunks_exact(words_per_row))
            {
                dst[..words_per_row].copy_from_slice(src);
            }
            let weights = create(ctx, "edgerec dense weights", storage, bytes);
            ctx.queue.write_buffer(&weights, 0, bytemuck::cast_slice(&words));
            let scales: Vec<f32> = (0..layer.out_dim())
                .map(|o| if w.scheme().dtype == DType::I8 { w.row_scale(o) } else { 1.0 })
                .collect();
            let mult = create(ctx, "edgerec dense scales", storage, scales.len() as u64 * 4);
            ctx.queue.write_buffer(&mult, 0, bytemuck::cast_slice(&scales));
            let bias = create(ctx, "edgerec dense bias", storage, layer.bias().len() as u64 * 4);
            ctx.queue.write_buffer(&bias, 0, bytemuck::cast_slice(layer.bias()));
            layers.push(GpuLayer {
                weights,
                mult,
                bias,
                pipeline,
                out_dim: layer.out_dim() as u32,
                row_vec4s: row_vec4s as u32,
                in_stride: (padded(layer.in_dim()) / 4) as u32,
                out_stride: padded(layer.out_dim()) as u32,
                activation: layer.activation().code(),
            });
        }
        let params = create(
            ctx,
            "edgerec dense params",
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            PARAMS_SLOT * layers.len() as u64,
        );
        let acts = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let mut this = Self {
            layers,
            in_dim: mlp.in_dim(),
            out_dim: mlp.out_dim(),
            params,
            acts: [
                Growable::new(ctx, "edgerec activations (a)", acts, 16),
                Growable::new(ctx, "edgerec activations (b)", acts, 16),
            ],
            staging: Growable::new(ctx, "edgerec dense readback", readback, 16),
            groups: Vec::new(),
            input_staging: Vec::new(),
        };
        this.groups = this.bind_groups(ctx);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "MLP upload", reason: e.to_string() });
        }
        Ok(this)
    }

    fn bind_groups(&self, ctx: &GpuContext) -> Vec<wgpu::BindGroup> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let (input, output) = (&self.acts[i % 2].buffer, &self.acts[(i + 1) % 2].buffer);
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("edgerec dense"),
                    layout: &ctx.dense_layout,
                    entries: &entries(vec![
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &self.params,
                            offset: 0,
                            size: wgpu::BufferSize::new(DENSE_PARAMS_BYTES),
                        }),
                        layer.weights.as_entire_binding(),
                        layer.mult.as_entire_binding(),
                        layer.bias.as_entire_binding(),
                        input.as_entire_binding(),
                        output.as_entire_binding(),
                    ]),
                })
            })
            .collect()
    }

    /// Runs the MLP over `inputs` (`batch × in_dim`) and returns `batch × out_dim` outputs.
    ///
    /// # Errors
    /// Input errors as [`Mlp::validate`]; [`Error::BufferTooLarge`] for a batch too large for
    /// the device; [`Error::DeviceLost`]; [`Error::Gpu`].
    pub async fn forward(&mut self, ctx: &GpuContext, inputs: &[f32]) -> Result<Vec<f32>> {
        let batch = self.stage(ctx, inputs)?;
        let out_stride = padded(self.out_dim);
        let bytes = (batch as usize * out_stride * 4) as u64;
        self.staging.reserve(ctx, bytes)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            self.record(ctx, &mut pass, batch);
        }
        encoder.copy_buffer_to_buffer(self.output(), 0, &self.staging.buffer, 0, bytes);
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "MLP dispatch", reason: e.to_string() });
        }
        let raw = readback::read_mapped(&ctx.device, &self.staging.buffer, bytes).await?;
        ctx.check_alive()?;
        let values: &[f32] = bytemuck::cast_slice(&raw);
        Ok(values
            .chunks_exact(out_stride)
            .flat_map(|row| row[..self.out_dim].iter().copied())
            .collect())
    }

    /// Checks `inputs`, sizes the activation buffers, and queues the inputs and the per-layer
    /// parameters; returns the batch size. [`GpuMlp::record`] then encodes the layers.
    pub(crate) fn stage(&mut self, ctx: &GpuContext, inputs: &[f32]) -> Result<u32> {
        if inputs.is_empty() || !inputs.len().is_multiple_of(self.in_dim) {
            return Err(Error::DimensionMismatch { expected: self.in_dim, received: inputs.len() });
        }
        if let Some(position) = inputs.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "MLP input", position });
        }
        ctx.check_alive()?;
        let batch = inputs.len() / self.in_dim;
        let batch32 = u32::try_from(batch)
            .ok()
            .filter(|&b| b <= ctx.limits().max_compute_workgroups_per_dimension)
            .ok_or(Error::InvalidArgument {
                name: "inputs",
                reason: format!("a batch of {batch} rows exceeds the device's dispatch limit"),
            })?;
        let widest = self
            .layers
            .iter()
            .map(|l| l.out_stride as usize)
            .chain([padded(self.in_dim)])
            .max()
            .unwrap_or(ROW_ALIGN);
        let act_bytes = (batch * widest * 4) as u64;
        let mut stale = false;
        for act in &mut self.acts {
            stale |= act.reserve(ctx, act_bytes)?;
        }
        if stale {
            self.groups = self.bind_groups(ctx);
        }

        let in_stride = padded(self.in_dim);
        self.input_staging.clear();
        self.input_staging.resize(batch * in_stride, 0.0);
        for (dst, src) in
            self.input_staging.chunks_exact_mut(in_stride).zip(inputs.chunks_exact(self.in_dim))
        {
            dst[..self.in_dim].copy_from_slice(src);
        }
        ctx.queue.write_buffer(&self.acts[0].buffer, 0, bytemuck::cast_slice(&self.input_staging));
        let mut slots = vec![0u8; self.layers.len() * PARAMS_SLOT as usize];
        for (slot, layer) in slots.chunks_exact_mut(PARAMS_SLOT as usize).zip(&self.layers) {
            let params = DenseParams {
                batch: batch32,
                out_dim: layer.out_dim,
                row_vec4s: layer.row_vec4s,
                in_stride: layer.in_stride,
                out_stride: layer.out_stride,
                activation: layer.activation,
                pad: [0; 2],
            };
            slot[..DENSE_PARAMS_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&params));
        }
        ctx.queue.write_buffer(&self.params, 0, &slots);
        Ok(batch32)
    }

    /// Encodes one dispatch per layer (two for a softmax layer: the logits, then the row-wise
    /// normalization) into `pass`, for the batch [`GpuMlp::stage`] queued.
    pub(crate) fn record(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, batch: u32) {
        for (i, (layer, group)) in self.layers.iter().zip(&self.groups).enumerate() {
            pass.set_pipeline(&ctx.dense_pipelines[layer.pipeline]);
            pass.set_bind_group(0, group, &[(i as u64 * PARAMS_SLOT) as u32]);
            pass.dispatch_workgroups(layer.out_stride.div_ceil(WORKGROUP), batch, 1);
            if layer.activation == Activation::Softmax.code() {
                // Same bind group: the pass orders the two dispatches, so the normalization
                // sees every logit of its row.
                pass.set_pipeline(&ctx.softmax_pipeline);
                pass.set_bind_group(0, group, &[(i as u64 * PARAMS_SLOT) as u32]);
                pass.dispatch_workgroups(1, batch, 1);
            }
        }
    }

    /// The buffer holding the last layer's outputs after [`GpuMlp::record`]'s dispatches:
    /// `batch` rows of [`GpuMlp::out_stride`] floats.
    pub(crate) fn output(&self) -> &wgpu::Buffer {
        &self.acts[self.layers.len() % 2].buffer
    }

    /// Floats per output row on the device (`out_dim` padded to 16; padding is zero).
    pub(crate) fn out_stride(&self) -> usize {
        padded(self.out_dim)
    }

    /// Outputs per row.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Inputs per row.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }
}
