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
    pub(crate) layout: wgpu::BindGroupLayout,
    pub(crate) score_pipeline: wgpu::ComputePipeline,
    pub(crate) merge_pipeline: wgpu::ComputePipeline,
    lost: Arc<Mutex<Option<String>>>,
}

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
        let required_limits = wgpu::Limits {
            max_compute_workgroup_storage_size: shaders::WORKGROUP_STORAGE_BYTES,
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

        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = bind_group_layout(&device);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("edgerec top-k"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |name: &str, source: &str, entry: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let score_pipeline = pipeline("score_topk", shaders::SCORE_TOPK, "score_tiles");
        let merge_pipeline = pipeline("merge_topk", shaders::MERGE_TOPK, "merge_lists");
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "pipeline creation", reason: e.to_string() });
        }
        Ok(Self { device, queue, info, layout, score_pipeline, merge_pipeline, lost })
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

/// One explicit layout shared by both top-k pipelines (see `shaders/README.md`).
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("edgerec top-k"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(super::index::PARAMS_BYTES),
                },
                count: None,
            },
            storage(1, true),
            storage(2, true),
            storage(3, false),
        ],
    })
}
