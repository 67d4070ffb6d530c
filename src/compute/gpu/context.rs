//! Device setup, done once per engine: adapter, device, bind-group layout and pipelines.

use super::shaders;
use crate::error::{BackendKind, Error, Result};
use std::sync::{Arc, Mutex};

/// A wgpu device with the top-k pipelines compiled, ready to host [`super::GpuIndex`]es.
///
/// Build it once with [`GpuContext::new`] (or inject a device with
/// [`GpuContext::from_device`]) and reuse it; nothing here is created per query.
#[derive(Debug)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    pub(crate) score_layout: wgpu::BindGroupLayout,
    pub(crate) merge_layout: wgpu::BindGroupLayout,
    /// `score_tiles` specialized per stored dtype: [f32, f16, int8] (override `DTYPE`).
    pub(crate) score_pipelines: [wgpu::ComputePipeline; 3],
    pub(crate) merge_pipeline: wgpu::ComputePipeline,
    pub(crate) dense_layout: wgpu::BindGroupLayout,
    /// `dense_forward` per weight dtype: [f32, f16, int8].
    pub(crate) dense_pipelines: [wgpu::ComputePipeline; 3],
    /// `softmax_rows`: the row-wise normalization of a softmax dense layer (dense layout).
    pub(crate) softmax_pipeline: wgpu::ComputePipeline,
    pub(crate) mix_layout: wgpu::BindGroupLayout,
    /// `mix_experts`: MMoE gate-weighted mixing.
    pub(crate) mix_pipeline: wgpu::ComputePipeline,
    pub(crate) pool_layout: wgpu::BindGroupLayout,
    /// `pool_histories` per table dtype: [f32, f16, int8].
    pub(crate) pool_pipelines: [wgpu::ComputePipeline; 3],
    lost: Arc<Mutex<Option<String>>>,
}

/// Storage buffers `score_tiles` binds (WebGPU's default limit is 8; downlevel's is 4).
const STORAGE_BUFFERS_NEEDED: u32 = 6;

fn unavailable(reason: impl Into<String>) -> Error {
    Error::BackendUnavailable { backend: BackendKind::WebGpu, reason: reason.into() }
}

/// Creates the wgpu instance, or says why there is none. In the browser this checks for
/// `navigator.gpu` *and* a real adapter first: wgpu's `Instance::new` panics in Node and other
/// scopes without a `navigator`, and Chrome on Linux exposes `navigator.gpu` without support.
async fn instance() -> Result<wgpu::Instance> {
    #[cfg(target_arch = "wasm32")]
    {
        if !wgpu::util::is_browser_webgpu_supported().await {
            return Err(unavailable(
                "navigator.gpu is missing or offers no adapter (Node, a worker-less scope, or a \
                 browser without WebGPU enabled)",
            ));
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::BROWSER_WEBGPU;
        Ok(wgpu::Instance::new(desc))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN;
        Ok(wgpu::Instance::new(desc))
    }
}

impl GpuContext {
    /// Finds an adapter, requests a device with the limits the kernels need and compiles the
    /// pipelines.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when there is no WebGPU/Vulkan adapter, the adapter lacks a
    /// needed limit, or the device request is refused.
    pub async fn new() -> Result<Self> {
        let instance = instance().await?;
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(format!("no GPU adapter: {e}")))?;
        let supported = adapter.limits();
        if supported.max_compute_workgroup_storage_size < shaders::WORKGROUP_STORAGE_BYTES {
            return Err(unavailable(format!(
                "adapter offers {} bytes of workgroup memory, the kernels need {}",
                supported.max_compute_workgroup_storage_size,
                shaders::WORKGROUP_STORAGE_BYTES
            )));
        }
        if supported.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
            return Err(unavailable(format!(
                "adapter offers {} storage buffers per shader stage, the kernels need {}",
                supported.max_storage_buffers_per_shader_stage, STORAGE_BUFFERS_NEEDED
            )));
        }
        let required_limits = wgpu::Limits {
            max_compute_workgroup_storage_size: shaders::WORKGROUP_STORAGE_BYTES,
            max_storage_buffers_per_shader_stage: STORAGE_BUFFERS_NEEDED,
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("edgerec"),
                required_features: wgpu::Features::empty(),
                required_limits,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(format!("device request refused: {e}")))?;
        Self::from_device(device, queue, adapter.get_info()).await
    }

    /// Wraps a device the caller already owns (tests, or an app that shares its device) and
    /// compiles the pipelines on it.
    ///
    /// # Errors
    /// [`Error::Gpu`] when a pipeline fails to compile on this device.
    pub async fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
    ) -> Result<Self> {
        let lost = Arc::new(Mutex::new(None));
        let lost_flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_flag.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });

        // Pipelines are created synchronously: wgpu 30 has no async pipeline creation
        // (`Device::create_compute_pipeline` only, which calls `GPUDevice.createComputePipeline`
        // in the browser; the `createComputePipelineAsync` binding stays private to wgpu, and a
        // raw `GPUComputePipeline` cannot be wrapped back into a `wgpu::ComputePipeline`) —
        // gfx-rs/wgpu#3794. All pipelines are created once, here, per context.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let score_layout = layout(&device, "edgerec score", &SCORE_BINDINGS);
        let merge_layout = layout(&device, "edgerec merge", &MERGE_BINDINGS);
        let dense_layout = layout(&device, "edgerec dense", &DENSE_BINDINGS);
        let pool_layout = layout(&device, "edgerec pool", &POOL_BINDINGS);
        let mix_layout = layout(&device, "edgerec mmoe mix", &MIX_BINDINGS);
        let pipeline = |name: &str, source: &str, entry: &str, layout, dtype: Option<f64>| {
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            let constants: Vec<(&str, f64)> = dtype.map(|d| ("DTYPE", d)).into_iter().collect();
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    // Every kernel writes its whole tile before reading it.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
        };
        let score = |dtype| {
            pipeline("score_topk", shaders::SCORE_TOPK, "score_tiles", &score_layout, Some(dtype))
        };
        let score_pipelines = [score(0.0), score(1.0), score(2.0)];
        let merge_pipeline =
            pipeline("merge_topk", shaders::MERGE_TOPK, "merge_lists", &merge_layout, None);
        let dense =
            |dtype| pipeline("dense", shaders::DENSE, "dense_forward", &dense_layout, Some(dtype));
        let dense_pipelines = [dense(0.0), dense(1.0), dense(2.0)];
        let softmax_pipeline =
            pipeline("softmax", shaders::DENSE, "softmax_rows", &dense_layout, None);
        let mix_pipeline = pipeline("mmoe mix", shaders::MMOE, "mix_experts", &mix_layout, None);
        let pool =
            |dtype| pipeline("pool", shaders::POOL, "pool_histories", &pool_layout, Some(dtype));
        let pool_pipelines = [pool(0.0), pool(1.0), pool(2.0)];
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "pipeline creation", reason: e.to_string() });
        }
        Ok(Self {
            device,
            queue,
            info,
            score_layout,
            merge_layout,
            score_pipelines,
            merge_pipeline,
            dense_layout,
            dense_pipelines,
            softmax_pipeline,
            mix_layout,
            mix_pipeline,
            pool_layout,
            pool_pipelines,
            lost,
        })
    }

    /// The adapter this context runs on (name, backend, device type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// True for software adapters (lavapipe, SwiftShader, WARP): correct, but slower than the
    /// optimized CPU path, so `auto` does not pick them.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The device's limits as granted.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Destroys the device now (frees GPU memory without waiting for drops). Every later call
    /// on this context, or on an index or MLP built on it, returns [`Error::DeviceLost`]; an
    /// engine that owns it falls back to the CPU. This is also how tests simulate a lost device.
    pub fn destroy(&self) {
        self.device.destroy();
        if let Ok(mut slot) = self.lost.lock()
            && slot.is_none()
        {
            *slot = Some("the device was destroyed".into());
        }
    }

    /// `Err(DeviceLost)` once the platform has reported the device lost.
    pub(crate) fn check_alive(&self) -> Result<()> {
        match self.lost.lock() {
            Ok(slot) => match slot.as_ref() {
                Some(reason) => Err(Error::DeviceLost { reason: reason.clone() }),
                None => Ok(()),
            },
            Err(_) => Err(Error::DeviceLost { reason: "device-lost state poisoned".into() }),
        }
    }
}

/// How a binding is used: a uniform with a dynamic offset of `size` bytes, or a storage buffer.
#[derive(Clone, Copy)]
enum Slot {
    Uniform(u64),
    Read,
    ReadWrite,
}

/// `score_tiles`: params, items, row_mult, queries, mask, candidates, out (shaders/README.md).
const SCORE_BINDINGS: [Slot; 7] = [
    Slot::Uniform(super::index::SCORE_PARAMS_BYTES),
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
];
/// `merge_lists`: params, in, out.
const MERGE_BINDINGS: [Slot; 3] =
    [Slot::Uniform(super::index::MERGE_PARAMS_BYTES), Slot::Read, Slot::ReadWrite];

/// `dense_forward`: params, weights, mult, bias, inputs, outputs.
const DENSE_BINDINGS: [Slot; 6] = [
    Slot::Uniform(super::mlp::DENSE_PARAMS_BYTES),
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
];

/// `mix_experts`: params, stacked expert outputs, stacked gate outputs, mixed outputs.
const MIX_BINDINGS: [Slot; 4] =
    [Slot::Uniform(super::mmoe::MIX_PARAMS_BYTES), Slot::Read, Slot::Read, Slot::ReadWrite];

/// `pool_histories`: params, table, row scales, ids, weights, queries, pooled.
const POOL_BINDINGS: [Slot; 7] = [
    Slot::Uniform(super::pool::POOL_PARAMS_BYTES),
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
];

/// An explicit bind-group layout (never the shader-derived default, which ties bind groups to
/// one pipeline).
fn layout(device: &wgpu::Device, label: &str, slots: &[Slot]) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(binding, slot)| wgpu::BindGroupLayoutEntry {
            binding: binding as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match slot {
                    Slot::Uniform(_) => wgpu::BufferBindingType::Uniform,
                    Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Slot::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: matches!(slot, Slot::Uniform(_)),
                min_binding_size: match slot {
                    Slot::Uniform(size) => wgpu::BufferSize::new(*size),
                    _ => None,
                },
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}
