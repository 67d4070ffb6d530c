//! Device setup, done once per engine: adapter, device, bind-group layout and pipelines.

use super::shaders;
use crate::error::{BackendKind, Error, Result};
use std::sync::{Arc, Mutex};

pub use crate::compute::f16_path::F16Path;

/// Options for [`GpuContext::new_with`] and [`GpuContext::from_device_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuContextOptions {
    /// Keep f16 data on the [`F16Path::Unpack`] path even where the adapter offers
    /// `shader-f16` (which is then not requested). Tests use it to exercise both paths on one
    /// adapter; it is also the switch for a driver whose f16 support misbehaves.
    pub force_f16_unpack: bool,
}

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
    /// `score_tiles` specialized per stored dtype: [f32, f16, int8] (override `DTYPE`; the f16
    /// entry is the `shader-f16` build under [`F16Path::ShaderF16`]).
    pub(crate) score_pipelines: [wgpu::ComputePipeline; 3],
    pub(crate) merge_pipeline: wgpu::ComputePipeline,
    pub(crate) dense_layout: wgpu::BindGroupLayout,
    /// `dense_forward` per weight dtype: [f32, f16, int8] (f16 as for `score_pipelines`).
    pub(crate) dense_pipelines: [wgpu::ComputePipeline; 3],
    /// `softmax_rows`: the row-wise normalization of a softmax dense layer (dense layout).
    pub(crate) softmax_pipeline: wgpu::ComputePipeline,
    pub(crate) mix_layout: wgpu::BindGroupLayout,
    /// `mix_experts`: MMoE gate-weighted mixing.
    pub(crate) mix_pipeline: wgpu::ComputePipeline,
    pub(crate) pool_layout: wgpu::BindGroupLayout,
    /// `pool_histories` per table dtype: [f32, f16, int8] (f16 as for `score_pipelines`).
    pub(crate) pool_pipelines: [wgpu::ComputePipeline; 3],
    /// Which build the f16 entries of the pipeline arrays above come from, and why.
    f16_path: F16Path,
    f16_reason: String,
    lost: Arc<Mutex<Option<String>>>,
}

/// Storage buffers `score_tiles` binds (WebGPU's default limit is 8; downlevel's is 4).
const STORAGE_BUFFERS_NEEDED: u32 = 6;

/// [`F16Path::Unpack`]'s reason under [`GpuContextOptions::force_f16_unpack`].
const FORCED_UNPACK: &str = "shader-f16 disabled by GpuContextOptions::force_f16_unpack";

fn unavailable(reason: impl Into<String>) -> Error {
    Error::BackendUnavailable { backend: BackendKind::WebGpu, reason: reason.into() }
}

/// Creates the wgpu instance, or says why there is none. In the browser this checks for
/// `navigator.gpu` *and* a real adapter first (and returns what the browser says about that
/// adapter): wgpu's `Instance::new` panics in Node and other scopes without a `navigator`, and
/// Chrome on Linux exposes `navigator.gpu` without support.
async fn instance() -> Result<(wgpu::Instance, Option<BrowserAdapterInfo>)> {
    #[cfg(target_arch = "wasm32")]
    {
        let Some(browser) = browser::adapter_info().await else {
            return Err(unavailable(
                "navigator.gpu is missing or offers no adapter (Node, a worker-less scope, or a \
                 browser without WebGPU enabled)",
            ));
        };
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::BROWSER_WEBGPU;
        Ok((wgpu::Instance::new(desc), Some(browser)))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN;
        Ok((wgpu::Instance::new(desc), None))
    }
}

/// What the browser's `GPUAdapterInfo` says. wgpu 30 maps only `description` (to the name,
/// empty in Chrome unless unmasked) and `isFallbackAdapter` (to `DeviceType::Cpu`, and only the
/// `info.isFallbackAdapter` spelling of Chrome ≥ 131); `vendor` and `architecture` are how
/// Chrome names SwiftShader (`google` / `swiftshader`).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // only the browser fills it
struct BrowserAdapterInfo {
    vendor: String,
    architecture: String,
    description: String,
    /// `GPUAdapterInfo.isFallbackAdapter`, or the older `GPUAdapter.isFallbackAdapter`.
    fallback: bool,
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::BrowserAdapterInfo;
    use wasm_bindgen::{JsCast, JsValue};

    fn get(target: &JsValue, key: &str) -> Option<JsValue> {
        js_sys::Reflect::get(target, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    /// `navigator.gpu.requestAdapter({ powerPreference: 'high-performance' })` (the options the
    /// context's own request uses) and its info; `None` when there is no `navigator.gpu` or no
    /// adapter. Costs one adapter request (a few ms), no device.
    pub(super) async fn adapter_info() -> Option<BrowserAdapterInfo> {
        let navigator = get(&js_sys::global().into(), "navigator")?;
        let gpu = get(&navigator, "gpu")?;
        let request = get(&gpu, "requestAdapter")?.dyn_into::<js_sys::Function>().ok()?;
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"powerPreference".into(), &"high-performance".into())
            .ok()?;
        let promise =
            request.call1(&gpu, &options.into()).ok()?.dyn_into::<js_sys::Promise>().ok()?;
        let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
        if adapter.is_undefined() || adapter.is_null() {
            return None;
        }
        let info = get(&adapter, "info");
        let text = |key| info.as_ref().and_then(|i| get(i, key)).and_then(|v| v.as_string());
        let flag = |target: Option<&JsValue>| {
            target.and_then(|t| get(t, "isFallbackAdapter")).and_then(|v| v.as_bool())
        };
        Some(BrowserAdapterInfo {
            vendor: text("vendor").unwrap_or_default(),
            architecture: text("architecture").unwrap_or_default(),
            description: text("description").unwrap_or_default(),
            fallback: flag(info.as_ref()).or(flag(Some(&adapter))).unwrap_or(false),
        })
    }
}

/// Lower-case names of software rasterizers, as adapters, drivers and browsers report them.
/// ("Microsoft Basic Render Driver" is WARP.)
const SOFTWARE_ADAPTERS: [&str; 5] =
    ["swiftshader", "llvmpipe", "lavapipe", "softpipe", "microsoft basic render driver"];

/// Why an adapter is a software one (CPU rasterizer), or `None` for hardware. Decided from the
/// adapter info alone, before any device exists.
fn software_reason(
    info: &wgpu::AdapterInfo,
    browser: Option<&BrowserAdapterInfo>,
) -> Option<String> {
    if browser.is_some_and(|b| b.fallback) {
        return Some("the browser marks it as a fallback adapter".into());
    }
    if info.device_type == wgpu::DeviceType::Cpu {
        return Some("its device type is CPU".into());
    }
    let mut names = vec![info.name.as_str(), info.driver.as_str()];
    if let Some(b) = browser {
        names.extend([b.vendor.as_str(), b.architecture.as_str(), b.description.as_str()]);
    }
    names.iter().find_map(|name| {
        let lower = name.to_lowercase();
        SOFTWARE_ADAPTERS
            .iter()
            .find(|s| lower.contains(*s))
            .map(|s| format!("{s} is a software rasterizer"))
    })
}

/// An adapter found but not yet opened: what `auto` looks at before it pays for a device and
/// the pipelines. Opening compiles every kernel; on a software adapter (SwiftShader in headless
/// Chromium) that takes seconds (issue 15: ~2 s per top-k pipeline), so the decision is made
/// here, from the adapter info, first.
#[derive(Debug)]
pub struct GpuAdapter {
    adapter: wgpu::Adapter,
    info: wgpu::AdapterInfo,
    software: Option<String>,
}

impl GpuAdapter {
    /// Requests the high-performance adapter and checks the limits the kernels need. No device
    /// is created.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when there is no WebGPU/Vulkan adapter or it lacks a limit.
    pub async fn request() -> Result<Self> {
        let (instance, browser) = instance().await?;
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
        let mut info = adapter.get_info();
        let software = software_reason(&info, browser.as_ref());
        // Chrome leaves `description` (wgpu's name) empty; "google swiftshader" names the
        // adapter in reports instead of "".
        if let Some(b) = browser.as_ref().filter(|_| info.name.trim().is_empty()) {
            info.name = [b.vendor.as_str(), b.architecture.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        Ok(Self { adapter, info, software })
    }

    /// The adapter's info (in the browser, `name` falls back to `vendor architecture`).
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// True for software adapters (SwiftShader, lavapipe/llvmpipe, WARP): correct, but slower
    /// than the optimized CPU path, so `auto` does not open them.
    pub fn is_software(&self) -> bool {
        self.software.is_some()
    }

    /// Why [`GpuAdapter::is_software`] holds, in words (`None` for a hardware adapter).
    pub fn software_reason(&self) -> Option<&str> {
        self.software.as_deref()
    }

    /// Requests a device with the limits the kernels need (and `shader-f16` when the adapter
    /// offers it) and compiles the pipelines: the expensive step.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when the device request is refused; [`Error::Gpu`] when a
    /// pipeline fails to compile.
    pub async fn open(self, options: GpuContextOptions) -> Result<GpuContext> {
        let Self { adapter, info, .. } = self;
        let supported = adapter.limits();
        let required_limits = wgpu::Limits {
            max_compute_workgroup_storage_size: shaders::WORKGROUP_STORAGE_BYTES,
            max_storage_buffers_per_shader_stage: STORAGE_BUFFERS_NEEDED,
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            ..wgpu::Limits::downlevel_defaults()
        };
        // shader-f16 is optional: without it f16 data takes the unpack path (F16Path).
        let offers_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let f16 = match (offers_f16, options.force_f16_unpack) {
            (_, true) => Err(FORCED_UNPACK.to_string()),
            (false, false) => Err("the adapter does not offer shader-f16".to_string()),
            (true, false) => Ok(()),
        };
        let required_features =
            if f16.is_ok() { wgpu::Features::SHADER_F16 } else { wgpu::Features::empty() };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("edgerec"),
                required_features,
                required_limits,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(format!("device request refused: {e}")))?;
        GpuContext::build(device, queue, info, f16).await
    }
}

impl GpuContext {
    /// Finds an adapter, requests a device with the limits the kernels need (and `shader-f16`
    /// when the adapter offers it) and compiles the pipelines ([`GpuAdapter::request`], then
    /// [`GpuAdapter::open`]).
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when there is no WebGPU/Vulkan adapter, the adapter lacks a
    /// needed limit, or the device request is refused.
    pub async fn new() -> Result<Self> {
        Self::new_with(GpuContextOptions::default()).await
    }

    /// [`GpuContext::new`] with options.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub async fn new_with(options: GpuContextOptions) -> Result<Self> {
        GpuAdapter::request().await?.open(options).await
    }

    /// Wraps a device the caller already owns (tests, or an app that shares its device) and
    /// compiles the pipelines on it. f16 data takes [`F16Path::ShaderF16`] if the device was
    /// created with `wgpu::Features::SHADER_F16`, else [`F16Path::Unpack`].
    ///
    /// # Errors
    /// [`Error::Gpu`] when a pipeline fails to compile on this device.
    pub async fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
    ) -> Result<Self> {
        Self::from_device_with(device, queue, info, GpuContextOptions::default()).await
    }

    /// [`GpuContext::from_device`] with options.
    ///
    /// # Errors
    /// As [`GpuContext::from_device`].
    pub async fn from_device_with(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        options: GpuContextOptions,
    ) -> Result<Self> {
        let f16 = if options.force_f16_unpack {
            Err(FORCED_UNPACK.to_string())
        } else if device.features().contains(wgpu::Features::SHADER_F16) {
            Ok(())
        } else {
            Err("the device was created without shader-f16".to_string())
        };
        Self::build(device, queue, info, f16).await
    }

    /// Compiles every pipeline. `f16` is `Ok` when the device has `shader-f16` and may use it,
    /// or says why f16 data takes the unpack path.
    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        f16: std::result::Result<(), String>,
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
        let dense =
            |dtype| pipeline("dense", shaders::DENSE, "dense_forward", &dense_layout, Some(dtype));
        let pool =
            |dtype| pipeline("pool", shaders::POOL, "pool_histories", &pool_layout, Some(dtype));
        let [score_f32, score_i8] = [score(0.0), score(2.0)];
        let [dense_f32, dense_i8] = [dense(0.0), dense(2.0)];
        let [pool_f32, pool_i8] = [pool(0.0), pool(2.0)];
        let merge_pipeline =
            pipeline("merge_topk", shaders::MERGE_TOPK, "merge_lists", &merge_layout, None);
        let softmax_pipeline =
            pipeline("softmax", shaders::DENSE, "softmax_rows", &dense_layout, None);
        let mix_pipeline = pipeline("mmoe mix", shaders::MMOE, "mix_experts", &mix_layout, None);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "pipeline creation", reason: e.to_string() });
        }

        // f16 data: the shader-f16 build where the device allows it, in its own error scope (a
        // driver or browser that offers shader-f16 but rejects these modules costs the native
        // f16 loads, not the GPU backend), else the packed build with DTYPE 1.
        let native = match f16 {
            Err(reason) => Err(reason),
            Ok(()) => {
                let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
                let (score_src, dense_src, pool_src) =
                    (shaders::SCORE_TOPK_F16, shaders::DENSE_F16, shaders::POOL_F16);
                let pipelines = [
                    pipeline("score_topk f16", score_src, "score_tiles", &score_layout, None),
                    pipeline("dense f16", dense_src, "dense_forward", &dense_layout, None),
                    pipeline("pool f16", pool_src, "pool_histories", &pool_layout, None),
                ];
                match scope.pop().await {
                    None => Ok(pipelines),
                    Some(e) => {
                        Err(format!("the device has shader-f16, but its pipelines failed: {e}"))
                    }
                }
            }
        };
        let (f16_path, f16_reason, [score_f16, dense_f16, pool_f16]) = match native {
            Ok(pipelines) => {
                (F16Path::ShaderF16, "the device has shader-f16".to_string(), pipelines)
            }
            Err(reason) => {
                let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
                let pipelines = [score(1.0), dense(1.0), pool(1.0)];
                if let Some(e) = scope.pop().await {
                    return Err(Error::Gpu { stage: "pipeline creation", reason: e.to_string() });
                }
                (F16Path::Unpack, reason, pipelines)
            }
        };
        Ok(Self {
            device,
            queue,
            info,
            score_layout,
            merge_layout,
            score_pipelines: [score_f32, score_f16, score_i8],
            merge_pipeline,
            dense_layout,
            dense_pipelines: [dense_f32, dense_f16, dense_i8],
            softmax_pipeline,
            mix_layout,
            mix_pipeline,
            pool_layout,
            pool_pipelines: [pool_f32, pool_f16, pool_i8],
            f16_path,
            f16_reason,
            lost,
        })
    }

    /// The adapter this context runs on (name, backend, device type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// How f16 data is read on this context, chosen at creation.
    pub fn f16_path(&self) -> F16Path {
        self.f16_path
    }

    /// Why [`GpuContext::f16_path`] is what it is, in words (for backend reports and logs).
    pub fn f16_reason(&self) -> &str {
        &self.f16_reason
    }

    /// True for software adapters (lavapipe, SwiftShader, WARP): correct, but slower than the
    /// optimized CPU path, so `auto` does not pick them (it decides on [`GpuAdapter`], before a
    /// context exists).
    pub fn is_software(&self) -> bool {
        software_reason(&self.info, None).is_some()
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

#[cfg(test)]
mod tests {
    use super::{BrowserAdapterInfo, software_reason};

    fn info(name: &str, driver: &str, device_type: wgpu::DeviceType) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            vendor: 0,
            device: 0,
            device_type,
            device_pci_bus_id: String::new(),
            driver: driver.into(),
            driver_info: String::new(),
            backend: wgpu::Backend::Vulkan,
            subgroup_min_size: 0,
            subgroup_max_size: 0,
            transient_saves_memory: None,
            limit_bucket: None,
        }
    }

    #[test]
    fn software_adapters_are_recognised_from_their_info_alone() {
        use wgpu::DeviceType::{Cpu, DiscreteGpu, Other};
        let lavapipe = info("llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe", Cpu);
        assert_eq!(software_reason(&lavapipe, None).as_deref(), Some("its device type is CPU"));
        // A software rasterizer that does not report the CPU device type is caught by name.
        let swiftshader = info("SwiftShader Device (Subzero)", "", Other);
        assert!(software_reason(&swiftshader, None).unwrap().contains("swiftshader"));
        let warp = info("Microsoft Basic Render Driver", "", Other);
        assert!(software_reason(&warp, None).is_some());
        assert_eq!(software_reason(&info("NVIDIA H200", "NVIDIA", DiscreteGpu), None), None);
        // Chrome: empty description; the browser's own info says it.
        let browser = info("", "", Other);
        let fallback = BrowserAdapterInfo { fallback: true, ..Default::default() };
        assert!(software_reason(&browser, Some(&fallback)).unwrap().contains("fallback"));
        let named = BrowserAdapterInfo {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            ..Default::default()
        };
        assert!(software_reason(&browser, Some(&named)).unwrap().contains("swiftshader"));
        let hardware = BrowserAdapterInfo {
            vendor: "nvidia".into(),
            architecture: "hopper".into(),
            ..Default::default()
        };
        assert_eq!(software_reason(&browser, Some(&hardware)), None);
    }
}
