//! An MMoE block ([`Mmoe`]) resident on the GPU: every expert and every gate is a device MLP
//! (`dense_forward`, plus `softmax_rows` for the gates), their outputs are stacked on the
//! device by buffer copies, and `mix_experts` forms each task's gate-weighted sum — one
//! submission and one readback per call, nothing created per call once the buffers have grown.

use super::buffers::{Growable, create, entries};
use super::mlp::GpuMlp;
use super::shaders::MIX_WORKGROUP_SIZE;
use super::{GpuContext, readback};
use crate::compute::dense::Mlp;
use crate::compute::mmoe::Mmoe;
use crate::error::{Error, Result};

/// Bytes of `MixParams` (`mmoe.wgsl`).
pub(crate) const MIX_PARAMS_BYTES: u64 = 32;

/// Mirrors `MixParams` in `mmoe.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MixParams {
    batch: u32,
    tasks: u32,
    experts: u32,
    dim: u32,
    expert_stride: u32,
    gate_stride: u32,
    pad: [u32; 2],
}
const _: () = assert!(size_of::<MixParams>() as u64 == MIX_PARAMS_BYTES);

/// An [`Mmoe`] uploaded to the GPU, with reusable working buffers.
#[derive(Debug)]
pub struct GpuMmoe {
    experts: Vec<GpuMlp>,
    gates: Vec<GpuMlp>,
    in_dim: usize,
    out_dim: usize,
    params: wgpu::Buffer,
    expert_stack: Growable,
    gate_stack: Growable,
    mixed: Growable,
    staging: Growable,
    group: Option<wgpu::BindGroup>,
}

impl GpuMmoe {
    /// Uploads every expert and gate (weights once, as [`GpuMlp::upload`]).
    ///
    /// # Errors
    /// As [`GpuMlp::upload`].
    pub async fn upload(ctx: &GpuContext, mmoe: &Mmoe) -> Result<Self> {
        let mut experts = Vec::with_capacity(mmoe.experts().len());
        for expert in mmoe.experts() {
            experts.push(GpuMlp::upload(ctx, expert).await?);
        }
        let mut gates = Vec::with_capacity(mmoe.tasks());
        for gate in mmoe.gates() {
            gates.push(GpuMlp::upload(ctx, &Mlp::new(vec![gate.clone()])?).await?);
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let out = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        Ok(Self {
            experts,
            gates,
            in_dim: mmoe.in_dim(),
            out_dim: mmoe.out_dim(),
            params: create(
                ctx,
                "edgerec mmoe params",
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                MIX_PARAMS_BYTES,
            ),
            expert_stack: Growable::new(ctx, "edgerec mmoe experts", storage, 16),
            gate_stack: Growable::new(ctx, "edgerec mmoe gates", storage, 16),
            mixed: Growable::new(ctx, "edgerec mmoe mixed", out, 16),
            staging: Growable::new(ctx, "edgerec mmoe readback", readback, 16),
            group: None,
        })
    }

    /// Inputs per row.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Outputs per task and row.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Number of tasks.
    pub fn tasks(&self) -> usize {
        self.gates.len()
    }

    /// Runs the block over `inputs` (`batch × in_dim`); returns `batch × tasks × out_dim`, as
    /// [`Mmoe::forward_reference`].
    ///
    /// # Errors
    /// Input errors as [`Mmoe::validate`]; [`Error::InvalidArgument`] for a batch or task count
    /// beyond the device's dispatch limit; [`Error::BufferTooLarge`]; [`Error::DeviceLost`];
    /// [`Error::Gpu`].
    pub async fn forward(&mut self, ctx: &GpuContext, inputs: &[f32]) -> Result<Vec<f32>> {
        // The first expert validates; the others see the same, already valid, inputs.
        let batch = self.experts[0].stage(ctx, inputs)?;
        for mlp in self.experts[1..].iter_mut().chain(&mut self.gates) {
            mlp.stage(ctx, inputs)?;
        }
        let tasks = u32::try_from(self.gates.len())
            .ok()
            .filter(|&t| t <= ctx.limits().max_compute_workgroups_per_dimension)
            .ok_or(Error::InvalidArgument {
                name: "gates",
                reason: format!("{} tasks exceed the device's dispatch limit", self.gates.len()),
            })?;
        let rows = batch as usize;
        let expert_stride = self.experts[0].out_stride();
        let gate_stride = self.gates[0].out_stride();
        let expert_bytes = (rows * expert_stride * 4) as u64;
        let gate_bytes = (rows * gate_stride * 4) as u64;
        let mixed_bytes = (rows * self.gates.len() * self.out_dim * 4) as u64;
        let mut stale = self.group.is_none();
        stale |= self.expert_stack.reserve(ctx, expert_bytes * self.experts.len() as u64)?;
        stale |= self.gate_stack.reserve(ctx, gate_bytes * u64::from(tasks))?;
        stale |= self.mixed.reserve(ctx, mixed_bytes)?;
        self.staging.reserve(ctx, mixed_bytes)?;
        if stale {
            self.group = Some(ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("edgerec mmoe mix"),
                layout: &ctx.mix_layout,
                entries: &entries(vec![
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &self.params,
                        offset: 0,
                        size: wgpu::BufferSize::new(MIX_PARAMS_BYTES),
                    }),
                    self.expert_stack.buffer.as_entire_binding(),
                    self.gate_stack.buffer.as_entire_binding(),
                    self.mixed.buffer.as_entire_binding(),
                ]),
            }));
        }
        let params = MixParams {
            batch,
            tasks,
            experts: self.experts.len() as u32,
            dim: self.out_dim as u32,
            expert_stride: expert_stride as u32,
            gate_stride: gate_stride as u32,
            pad: [0; 2],
        };
        ctx.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let Some(group) = self.group.as_ref() else {
            return Err(Error::Gpu { stage: "MMoE", reason: "bind group missing".into() });
        };

        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for mlp in self.experts.iter().chain(&self.gates) {
                mlp.record(ctx, &mut pass, batch);
            }
        }
        for (e, expert) in self.experts.iter().enumerate() {
            let at = e as u64 * expert_bytes;
            encoder.copy_buffer_to_buffer(
                expert.output(),
                0,
                &self.expert_stack.buffer,
                at,
                expert_bytes,
            );
        }
        for (t, gate) in self.gates.iter().enumerate() {
            let at = t as u64 * gate_bytes;
            encoder.copy_buffer_to_buffer(
                gate.output(),
                0,
                &self.gate_stack.buffer,
                at,
                gate_bytes,
            );
        }
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&ctx.mix_pipeline);
            pass.set_bind_group(0, group, &[0]);
            pass.dispatch_workgroups(
                (self.out_dim as u32).div_ceil(MIX_WORKGROUP_SIZE),
                batch,
                tasks,
            );
        }
        encoder.copy_buffer_to_buffer(&self.mixed.buffer, 0, &self.staging.buffer, 0, mixed_bytes);
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "MMoE dispatch", reason: e.to_string() });
        }
        let raw = readback::read_mapped(&ctx.device, &self.staging.buffer, mixed_bytes).await?;
        ctx.check_alive()?;
        Ok(bytemuck::cast_slice(&raw).to_vec())
    }
}
