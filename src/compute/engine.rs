//! Backend selection and the engine that owns an item index on the chosen backend.

use crate::compute::cpu::{self, CpuScratch};
use crate::compute::gpu::{GpuContext, GpuIndex};
use crate::compute::{ItemMatrix, TopK};
use crate::error::{BackendKind, Error, Result};
use std::str::FromStr;

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Use a hardware WebGPU/Vulkan adapter when there is one; otherwise the CPU path. Software
    /// adapters (SwiftShader, lavapipe) are skipped: the optimized CPU path beats them.
    #[default]
    Auto,
    /// Use WebGPU whenever any adapter exists, software ones included; falls back to the CPU
    /// (and says why) only when there is none.
    WebGpu,
    /// Always the CPU path.
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = Error;

    /// Parses `"auto"`, `"webgpu"` or `"cpu"` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "webgpu" | "gpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(Error::InvalidArgument {
                name: "backend",
                reason: format!("{other:?} is not one of \"auto\", \"webgpu\", \"cpu\""),
            }),
        }
    }
}

/// Which backend an engine runs on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendReport {
    /// The backend in use.
    pub backend: BackendKind,
    /// Why it was chosen (or why the other one was not), in words a developer can act on.
    pub reason: String,
    /// The GPU adapter's name when one was found, even if it was not chosen.
    pub adapter: Option<String>,
}

/// The GPU half of an engine: the context and the index resident on it.
#[derive(Debug)]
struct GpuBackend {
    context: GpuContext,
    index: GpuIndex,
}

/// An item index on the chosen backend, answering top-k queries.
///
/// The CPU copy of the matrix is always kept: it serves the CPU path, and it lets the engine
/// fall back transparently if the GPU device is lost mid-session.
#[derive(Debug)]
pub struct ScoringEngine {
    items: ItemMatrix,
    scratch: CpuScratch,
    gpu: Option<GpuBackend>,
    report: BackendReport,
}

impl ScoringEngine {
    /// Builds the engine on the backend `choice` asks for. Never fails because WebGPU is
    /// missing: it falls back to the CPU and [`ScoringEngine::report`] says why.
    ///
    /// # Errors
    /// Only errors that no backend could avoid (currently none beyond the matrix's own checks).
    pub async fn new(items: ItemMatrix, choice: BackendChoice) -> Result<Self> {
        let cpu = |reason: String, adapter: Option<String>| BackendReport {
            backend: BackendKind::Cpu,
            reason,
            adapter,
        };
        let (gpu, report) = match choice {
            BackendChoice::Cpu => (None, cpu("the CPU backend was requested".into(), None)),
            BackendChoice::Auto | BackendChoice::WebGpu => match GpuContext::new().await {
                Err(e) => (None, cpu(format!("{e}; using the CPU path"), None)),
                Ok(context) => {
                    let name = context.adapter_info().name.clone();
                    if choice == BackendChoice::Auto && context.is_software() {
                        let reason = format!(
                            "only a software GPU adapter ({name}) is available; the optimized \
                             CPU path is faster"
                        );
                        (None, cpu(reason, Some(name)))
                    } else {
                        match GpuIndex::upload(&context, &items).await {
                            Ok(index) => {
                                let reason = match choice {
                                    BackendChoice::WebGpu => "WebGPU was requested".to_string(),
                                    _ => format!("hardware GPU adapter {name}"),
                                };
                                let report = BackendReport {
                                    backend: BackendKind::WebGpu,
                                    reason,
                                    adapter: Some(name),
                                };
                                (Some(GpuBackend { context, index }), report)
                            }
                            Err(e) => (None, cpu(format!("{e}; using the CPU path"), Some(name))),
                        }
                    }
                }
            },
        };
        Ok(Self { items, scratch: CpuScratch::new(), gpu, report })
    }

    /// Builds the engine on a GPU context the caller created (tests, shared devices). Unlike
    /// [`ScoringEngine::new`] this does not fall back: the caller asked for this device.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`], [`Error::DeviceLost`] or [`Error::Gpu`] from the upload.
    pub async fn with_context(items: ItemMatrix, context: GpuContext) -> Result<Self> {
        let index = GpuIndex::upload(&context, &items).await?;
        let name = context.adapter_info().name.clone();
        let report = BackendReport {
            backend: BackendKind::WebGpu,
            reason: "a GPU context was supplied by the caller".into(),
            adapter: Some(name),
        };
        Ok(Self {
            items,
            scratch: CpuScratch::new(),
            gpu: Some(GpuBackend { context, index }),
            report,
        })
    }

    /// The backend in use and why.
    pub fn report(&self) -> &BackendReport {
        &self.report
    }

    /// The item matrix this engine scores.
    pub fn items(&self) -> &ItemMatrix {
        &self.items
    }

    /// The best `k` items for `query` (score desc, exact ties to the lower index).
    ///
    /// If the GPU device is lost, the engine switches to the CPU path for this and every later
    /// call, and the report says so.
    ///
    /// # Errors
    /// Input errors as [`crate::compute::validate_query`]; [`Error::Gpu`] if the GPU fails in a
    /// way other than device loss.
    pub async fn top_k(&mut self, query: &[f32], k: usize) -> Result<TopK> {
        if let Some(gpu) = self.gpu.as_mut() {
            match gpu.index.top_k(&gpu.context, query, k).await {
                Err(Error::DeviceLost { reason }) => {
                    let adapter = Some(gpu.context.adapter_info().name.clone());
                    self.gpu = None;
                    self.report = BackendReport {
                        backend: BackendKind::Cpu,
                        reason: format!("GPU device lost ({reason}); switched to the CPU path"),
                        adapter,
                    };
                }
                other => return other,
            }
        }
        cpu::fast_top_k(&self.items, query, k, &mut self.scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!("auto".parse::<BackendChoice>(), Ok(BackendChoice::Auto));
        assert_eq!("WebGPU".parse::<BackendChoice>(), Ok(BackendChoice::WebGpu));
        assert_eq!("cpu".parse::<BackendChoice>(), Ok(BackendChoice::Cpu));
        assert!(matches!(
            "cuda".parse::<BackendChoice>(),
            Err(Error::InvalidArgument { name: "backend", .. })
        ));
    }

    #[test]
    fn cpu_engine_reports_and_answers() {
        let items = ItemMatrix::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        let mut engine = pollster::block_on(ScoringEngine::new(items, BackendChoice::Cpu)).unwrap();
        assert_eq!(engine.report().backend, BackendKind::Cpu);
        let top = pollster::block_on(engine.top_k(&[0.0, 2.0], 1)).unwrap();
        assert_eq!((top.ids, top.scores), (vec![1], vec![2.0]));
        assert_eq!(
            pollster::block_on(engine.top_k(&[0.0, 2.0], 0)),
            Err(Error::InvalidK { k: 0, max: 2 })
        );
    }
}
