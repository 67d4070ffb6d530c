//! The GPU seam in a build without the `gpu` feature (the npm package's CPU-only core module).
//!
//! The names the rest of the crate uses exist, but their types are uninhabited (enums without
//! variants, like [`std::convert::Infallible`]): no GPU value can ever be made, so every
//! `Option<GpuContext>` is `None`, every GPU branch is statically dead and the compiler drops it
//! — along with wgpu, the WGSL sources and the WebGPU bindings, which are not linked at all.
//! The one entry point that runs, [`GpuAdapter::request`], answers what is true in this build:
//! there is no GPU path, so `auto` and `webgpu` serve on the CPU and their report says why.

use crate::compute::ItemIndex;
use crate::compute::dense::Mlp;
use crate::compute::index::ScoreRequest;
use crate::compute::topk::TopK;
use crate::error::{BackendKind, Error, Result};

/// Why a CPU-only build serves on the CPU (also the text of the backend report).
#[cfg(not(target_feature = "atomics"))]
pub const NO_GPU_PATH: &str = "the CPU-only core module of edgerec is loaded (it is chosen where \
     navigator.gpu is missing or offers no adapter, or when the app asks for it); the full module \
     has the WebGPU path";
/// Why a CPU-only build serves on the CPU: the `threads` module's wording.
#[cfg(target_feature = "atomics")]
pub const NO_GPU_PATH: &str = "the CPU-only threads module of edgerec is loaded (the core on \
     shared memory, chosen on cross-origin isolated pages where navigator.gpu is missing or \
     offers no adapter, or when the app asks for it); the full module has the WebGPU path";

/// What a GPU adapter describes; only the name is read outside the GPU module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterInfo {
    /// The adapter's name.
    pub name: String,
}

pub use crate::compute::f16_path::F16Path;

/// Options of a GPU context (none apply without a GPU).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuContextOptions {
    /// Keep f16 data on the unpack path.
    pub force_f16_unpack: bool,
}

/// A GPU adapter: none can exist in this build.
#[derive(Debug)]
pub enum GpuAdapter {}

impl GpuAdapter {
    /// Always [`Error::BackendUnavailable`]: this build has no GPU path.
    ///
    /// # Errors
    /// Always, as above.
    pub async fn request() -> Result<Self> {
        Err(Error::BackendUnavailable { backend: BackendKind::WebGpu, reason: NO_GPU_PATH.into() })
    }

    /// The adapter's info.
    pub fn info(&self) -> &AdapterInfo {
        match *self {}
    }

    /// Why the adapter is a software one, if it is.
    pub fn software_reason(&self) -> Option<&str> {
        match *self {}
    }

    /// Opens a device on the adapter.
    ///
    /// # Errors
    /// Unreachable: no adapter exists.
    pub async fn open(self, _options: GpuContextOptions) -> Result<GpuContext> {
        match self {}
    }
}

/// A GPU device with the kernels compiled: none can exist in this build.
#[derive(Debug)]
pub enum GpuContext {}

impl GpuContext {
    /// The adapter's info.
    pub fn adapter_info(&self) -> &AdapterInfo {
        match *self {}
    }

    /// How f16 data is read.
    pub fn f16_path(&self) -> F16Path {
        match *self {}
    }

    /// Why f16 data takes that path.
    pub fn f16_reason(&self) -> &str {
        match *self {}
    }

    /// Releases the device.
    pub fn destroy(&self) {
        match *self {}
    }
}

/// An item index resident on a GPU: none can exist in this build.
#[derive(Debug)]
pub enum GpuIndex {}

impl GpuIndex {
    /// Uploads `index` to `ctx`.
    ///
    /// # Errors
    /// Unreachable: no context exists.
    pub async fn upload(ctx: &GpuContext, _index: &ItemIndex) -> Result<Self> {
        match *ctx {}
    }

    /// Top-k on the GPU.
    ///
    /// # Errors
    /// Unreachable: no index exists.
    pub async fn score_top_k(
        &mut self,
        _ctx: &GpuContext,
        _request: &ScoreRequest<'_>,
    ) -> Result<Vec<TopK>> {
        match *self {}
    }
}

/// An MLP resident on a GPU: none can exist in this build.
#[derive(Debug)]
pub enum GpuMlp {}

impl GpuMlp {
    /// Uploads `mlp` to `ctx`.
    ///
    /// # Errors
    /// Unreachable: no context exists.
    pub async fn upload(ctx: &GpuContext, _mlp: &Mlp) -> Result<Self> {
        match *ctx {}
    }

    /// The forward pass on the GPU.
    ///
    /// # Errors
    /// Unreachable: no MLP exists.
    pub async fn forward(&mut self, _ctx: &GpuContext, _inputs: &[f32]) -> Result<Vec<f32>> {
        match *self {}
    }
}
