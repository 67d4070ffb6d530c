//! Buffer helpers shared by the GPU kernels: sized creation against the device limits, buffers
//! that grow and are reused across calls, and bind-group entry numbering.

use super::GpuContext;
use crate::error::{Error, Result};

/// A buffer that grows (never shrinks) to the largest size requested so far.
#[derive(Debug)]
pub(crate) struct Growable {
    label: &'static str,
    usage: wgpu::BufferUsages,
    pub(crate) buffer: wgpu::Buffer,
}

impl Growable {
    pub(crate) fn new(
        ctx: &GpuContext,
        label: &'static str,
        usage: wgpu::BufferUsages,
        size: u64,
    ) -> Self {
        let buffer = create(ctx, label, usage, size);
        Self { label, usage, buffer }
    }

    /// Ensures capacity; returns true when the buffer was replaced (bind groups go stale).
    pub(crate) fn reserve(&mut self, ctx: &GpuContext, bytes: u64) -> Result<bool> {
        if self.buffer.size() >= bytes {
            return Ok(false);
        }
        check_size(ctx, self.label, bytes)?;
        // Grow geometrically so a slowly increasing batch does not reallocate every call.
        let size = bytes.max(self.buffer.size() * 2).min(max_binding(ctx)).max(bytes);
        self.buffer = create(ctx, self.label, self.usage, size.next_multiple_of(4));
        Ok(true)
    }
}

pub(crate) fn create(
    ctx: &GpuContext,
    label: &str,
    usage: wgpu::BufferUsages,
    size: u64,
) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage,
        mapped_at_creation: false,
    })
}

pub(crate) fn max_binding(ctx: &GpuContext) -> u64 {
    let limits = ctx.limits();
    limits.max_storage_buffer_binding_size.min(limits.max_buffer_size)
}

pub(crate) fn check_size(ctx: &GpuContext, what: &'static str, bytes: u64) -> Result<()> {
    let limit = max_binding(ctx);
    if bytes > limit { Err(Error::BufferTooLarge { what, bytes, limit }) } else { Ok(()) }
}

/// Numbers bindings in order: entry `i` is `@binding(i)`.
pub(crate) fn entries<'a>(
    resources: Vec<wgpu::BindingResource<'a>>,
) -> Vec<wgpu::BindGroupEntry<'a>> {
    resources
        .into_iter()
        .enumerate()
        .map(|(binding, resource)| wgpu::BindGroupEntry { binding: binding as u32, resource })
        .collect()
}
