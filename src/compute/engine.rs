//! Backend selection and the engine that owns an item index on the chosen backend.

use crate::bundle::QuantScheme;
use crate::compute::cpu::{self, CpuScratch};
use crate::compute::gpu::{GpuContext, GpuIndex};
use crate::compute::index::{ItemIndex, ScoreRequest, Similarity};
use crate::compute::{ItemMatrix, TopK};
use crate::error::{BackendKind, Error, Result};
use std::str::FromStr;
use web_time::Instant;

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Probe WebGPU; on a hardware adapter run a short timed trial of both backends on the
    /// loaded index and keep the faster. Software adapters (SwiftShader, lavapipe) are skipped
    /// without a trial: the optimized CPU path always beats them.
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

/// Median milliseconds per query measured by the `auto` trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrialTimings {
    /// CPU path.
    pub cpu_ms: f64,
    /// GPU path.
    pub gpu_ms: f64,
}

/// Which backend an engine runs on, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendReport {
    /// The backend in use.
    pub backend: BackendKind,
    /// Why it was chosen (or why the other one was not), in words a developer can act on.
    pub reason: String,
    /// The GPU adapter's name when one was found, even if it was not chosen.
    pub adapter: Option<String>,
    /// The `auto` trial's timings, when one ran.
    pub trial: Option<TrialTimings>,
}

impl BackendReport {
    fn cpu(reason: String, adapter: Option<String>) -> Self {
        Self { backend: BackendKind::Cpu, reason, adapter, trial: None }
    }
}

/// The GPU half of an engine: the context and the index resident on it.
#[derive(Debug)]
struct GpuBackend {
    context: GpuContext,
    index: GpuIndex,
}

/// An item index on the chosen backend, answering top-k queries.
///
/// The CPU copy of the index is always kept: it serves the CPU path, and it lets the engine
/// fall back transparently if the GPU device is lost mid-session.
#[derive(Debug)]
pub struct ScoringEngine {
    index: ItemIndex,
    scratch: CpuScratch,
    gpu: Option<GpuBackend>,
    report: BackendReport,
}

/// Queries the `auto` trial times per backend (after one warm-up each).
const TRIAL_QUERIES: usize = 3;

impl ScoringEngine {
    /// Builds the engine on the backend `choice` asks for. Never fails because WebGPU is
    /// missing or too small for the index: it falls back to the CPU and
    /// [`ScoringEngine::report`] says why.
    ///
    /// # Errors
    /// Only errors of the timed trial's own queries (none for a valid index).
    pub async fn new(index: ItemIndex, choice: BackendChoice) -> Result<Self> {
        let mut engine = Self {
            index,
            scratch: CpuScratch::new(),
            gpu: None,
            report: BackendReport::cpu("the CPU backend was requested".into(), None),
        };
        if choice == BackendChoice::Cpu {
            return Ok(engine);
        }
        let context = match GpuContext::new().await {
            Ok(context) => context,
            Err(e) => {
                engine.report = BackendReport::cpu(format!("{e}; using the CPU path"), None);
                return Ok(engine);
            }
        };
        let name = context.adapter_info().name.clone();
        if choice == BackendChoice::Auto && context.is_software() {
            engine.report = BackendReport::cpu(
                format!(
                    "only a software GPU adapter ({name}) is available; the optimized CPU path is \
                     faster"
                ),
                Some(name),
            );
            return Ok(engine);
        }
        let index = match GpuIndex::upload(&context, &engine.index).await {
            Ok(index) => index,
            Err(e) => {
                engine.report = BackendReport::cpu(format!("{e}; using the CPU path"), Some(name));
                return Ok(engine);
            }
        };
        let f16 =
            format!("f16 read via {} ({})", context.f16_path().as_str(), context.f16_reason());
        engine.gpu = Some(GpuBackend { context, index });
        engine.report = BackendReport {
            backend: BackendKind::WebGpu,
            reason: format!("WebGPU was requested; {f16}"),
            adapter: Some(name),
            trial: None,
        };
        if choice == BackendChoice::Auto {
            engine.run_trial().await?;
        }
        Ok(engine)
    }

    /// An f32, dot-product engine over `items` (the simple form of [`ScoringEngine::new`]).
    ///
    /// # Errors
    /// As [`ScoringEngine::new`].
    pub async fn from_matrix(items: ItemMatrix, choice: BackendChoice) -> Result<Self> {
        Self::new(ItemIndex::quantize(&items, QuantScheme::F32, Similarity::Dot)?, choice).await
    }

    /// Builds the engine on a GPU context the caller created (tests, shared devices). Unlike
    /// [`ScoringEngine::new`] this does not fall back: the caller asked for this device.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`], [`Error::DeviceLost`] or [`Error::Gpu`] from the upload.
    pub async fn with_context(index: ItemIndex, context: GpuContext) -> Result<Self> {
        let gpu_index = GpuIndex::upload(&context, &index).await?;
        let report = BackendReport {
            backend: BackendKind::WebGpu,
            reason: "a GPU context was supplied by the caller".into(),
            adapter: Some(context.adapter_info().name.clone()),
            trial: None,
        };
        Ok(Self {
            index,
            scratch: CpuScratch::new(),
            gpu: Some(GpuBackend { context, index: gpu_index }),
            report,
        })
    }

    /// Times both backends on this index (the first row as query, k = min(100, rows)) and keeps
    /// the faster; the report records both timings. Public so callers can re-run it, e.g. after
    /// the page regains focus.
    ///
    /// # Errors
    /// A GPU failure other than device loss during the trial.
    pub async fn run_trial(&mut self) -> Result<()> {
        let Some(gpu) = self.gpu.as_mut() else { return Ok(()) };
        let mut query = vec![0.0; self.index.dim()];
        self.index.matrix().dequantize_row(0, &mut query);
        let request = ScoreRequest::new(&query, self.index.rows().min(100));
        let mut gpu_samples = Vec::with_capacity(TRIAL_QUERIES);
        let mut cpu_samples = Vec::with_capacity(TRIAL_QUERIES);
        for run in 0..=TRIAL_QUERIES {
            let start = Instant::now();
            match gpu.index.score_top_k(&gpu.context, &request).await {
                Ok(_) => {}
                Err(Error::DeviceLost { reason }) => {
                    self.fall_back(format!("GPU device lost during the backend trial ({reason})"));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
            let start = Instant::now();
            cpu::fast_score_top_k(&self.index, &request, &mut self.scratch)?;
            let cpu_ms = start.elapsed().as_secs_f64() * 1e3;
            if run > 0 {
                gpu_samples.push(gpu_ms);
                cpu_samples.push(cpu_ms);
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let trial = TrialTimings { cpu_ms: median(cpu_samples), gpu_ms: median(gpu_samples) };
        let adapter = self.report.adapter.clone();
        let verdict = format!(
            "timed trial: GPU {:.3} ms, CPU {:.3} ms per query",
            trial.gpu_ms, trial.cpu_ms
        );
        self.report = if trial.gpu_ms <= trial.cpu_ms {
            BackendReport {
                backend: BackendKind::WebGpu,
                reason: verdict,
                adapter,
                trial: Some(trial),
            }
        } else {
            self.gpu = None;
            BackendReport {
                backend: BackendKind::Cpu,
                reason: verdict,
                adapter,
                trial: Some(trial),
            }
        };
        Ok(())
    }

    fn fall_back(&mut self, reason: String) {
        let adapter = self.gpu.take().map(|g| g.context.adapter_info().name.clone());
        self.report = BackendReport::cpu(format!("{reason}; switched to the CPU path"), adapter);
    }

    /// The GPU context this engine runs on, if it uses the GPU (e.g. to share the device).
    pub fn gpu_context(&self) -> Option<&GpuContext> {
        self.gpu.as_ref().map(|g| &g.context)
    }

    /// The backend in use and why.
    pub fn report(&self) -> &BackendReport {
        &self.report
    }

    /// The item index this engine scores.
    pub fn index(&self) -> &ItemIndex {
        &self.index
    }

    /// Each query's best `k` items (score desc, exact ties to the lower index).
    ///
    /// If the GPU device is lost, the engine switches to the CPU path for this and every later
    /// call, and the report says so.
    ///
    /// # Errors
    /// Input errors as [`ItemIndex::validate`]; [`Error::Gpu`] if the GPU fails in a way other
    /// than device loss.
    pub async fn score_top_k(&mut self, request: &ScoreRequest<'_>) -> Result<Vec<TopK>> {
        if let Some(gpu) = self.gpu.as_mut() {
            match gpu.index.score_top_k(&gpu.context, request).await {
                Err(Error::DeviceLost { reason }) => {
                    self.fall_back(format!("GPU device lost ({reason})"))
                }
                other => return other,
            }
        }
        cpu::fast_score_top_k(&self.index, request, &mut self.scratch)
    }

    /// The best `k` items for one query over the whole index.
    ///
    /// # Errors
    /// As [`ScoringEngine::score_top_k`].
    pub async fn top_k(&mut self, query: &[f32], k: usize) -> Result<TopK> {
        Ok(self.score_top_k(&ScoreRequest::new(query, k)).await?.pop().unwrap_or_default())
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
        let mut engine =
            pollster::block_on(ScoringEngine::from_matrix(items, BackendChoice::Cpu)).unwrap();
        assert_eq!(engine.report().backend, BackendKind::Cpu);
        let top = pollster::block_on(engine.top_k(&[0.0, 2.0], 1)).unwrap();
        assert_eq!((top.ids, top.scores), (vec![1], vec![2.0]));
        assert_eq!(
            pollster::block_on(engine.top_k(&[0.0, 2.0], 0)),
            Err(Error::InvalidK { k: 0, max: 2 })
        );
    }
}
