//! Backend selection and the engine that owns an item index on the chosen backend.

use crate::bundle::QuantScheme;
use crate::compute::cpu::{self, CpuScratch};
use crate::compute::gpu::{GpuAdapter, GpuContext, GpuContextOptions, GpuIndex};
use crate::compute::index::{ItemIndex, ScoreRequest, Similarity};
use crate::compute::ivf::{IvfIndex, IvfScratch};
use crate::compute::{ItemMatrix, TopK};
use crate::error::{BackendKind, Error, Result};
use futures_channel::oneshot;
use std::str::FromStr;
use std::sync::Arc;
use web_time::Instant;

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Start on the CPU at once. A software adapter (SwiftShader, lavapipe) is recognised from
    /// its adapter info and never opened: the optimized CPU path always beats it. On a hardware
    /// adapter the device, pipelines and index upload are prepared and timed against the CPU in
    /// the background ([`ScoringEngine::start_trial`]); the engine switches to the GPU when
    /// that trial finds it faster.
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

/// A GPU prepared and timed off the caller's path, waiting to be adopted or dropped.
#[derive(Debug)]
struct Trialed {
    backend: GpuBackend,
    timings: TrialTimings,
}

/// A background trial in flight ([`ScoringEngine::start_trial`]).
#[derive(Debug)]
struct PendingTrial {
    outcome: oneshot::Receiver<Result<Trialed>>,
    adapter: String,
}

/// An item index on the chosen backend, answering top-k queries.
///
/// The CPU copy of the index is always kept: it serves the CPU path (also while a background
/// trial prepares the GPU), and it lets the engine fall back transparently if the GPU device is
/// lost mid-session.
#[derive(Debug)]
pub struct ScoringEngine {
    // Shared (not copied) with a background trial, which uploads and times it.
    index: Arc<ItemIndex>,
    scratch: CpuScratch,
    // One per part of a scan split across the thread pool (`cpu::pool`; empty without one).
    shard_scratch: Vec<std::sync::Mutex<CpuScratch>>,
    gpu: Option<GpuBackend>,
    pending: Option<PendingTrial>,
    report: BackendReport,
    ivf: Option<IvfSearch>,
}

/// An IVF index the engine searches instead of the exhaustive scan ([`ScoringEngine::set_ivf`]).
#[derive(Debug)]
struct IvfSearch {
    index: IvfIndex,
    nprobe: usize,
    scratch: IvfScratch,
}

/// Queries the `auto` trial times per backend (after one warm-up each).
const TRIAL_QUERIES: usize = 3;

impl ScoringEngine {
    /// Builds the engine on the backend `choice` asks for. Never fails because WebGPU is
    /// missing or too small for the index: it falls back to the CPU and
    /// [`ScoringEngine::report`] says why.
    ///
    /// With [`BackendChoice::Auto`] this returns as soon as the adapter is known (no device is
    /// requested and no pipeline compiled here): on the CPU for a software adapter, and on the
    /// CPU with a background trial started for a hardware one.
    ///
    /// # Errors
    /// None at present for a valid index (the signature leaves room for upload errors).
    pub async fn new(index: ItemIndex, choice: BackendChoice) -> Result<Self> {
        let mut engine = Self {
            index: Arc::new(index),
            scratch: CpuScratch::new(),
            shard_scratch: Vec::new(),
            gpu: None,
            pending: None,
            report: BackendReport::cpu("the CPU backend was requested".into(), None),
            ivf: None,
        };
        if choice == BackendChoice::Cpu {
            return Ok(engine);
        }
        let adapter = match GpuAdapter::request().await {
            Ok(adapter) => adapter,
            Err(e) => {
                engine.report = BackendReport::cpu(format!("{e}; using the CPU path"), None);
                return Ok(engine);
            }
        };
        let name = adapter.info().name.clone();
        if choice == BackendChoice::Auto {
            if let Some(why) = adapter.software_reason() {
                engine.report = BackendReport::cpu(
                    format!(
                        "only a software GPU adapter ({name}: {why}) is available; the optimized \
                         CPU path is faster, so no GPU device was opened"
                    ),
                    Some(name),
                );
            } else {
                engine.start_trial(adapter);
            }
            return Ok(engine);
        }
        let opened = match adapter.open(GpuContextOptions::default()).await {
            Ok(context) => GpuIndex::upload(&context, &engine.index)
                .await
                .map(|index| GpuBackend { context, index }),
            Err(e) => Err(e),
        };
        match opened {
            Ok(gpu) => {
                let f16 = f16_note(&gpu.context);
                engine.gpu = Some(gpu);
                engine.report = BackendReport {
                    backend: BackendKind::WebGpu,
                    reason: format!("WebGPU was requested; {f16}"),
                    adapter: Some(name),
                    trial: None,
                };
            }
            Err(e) => {
                engine.report = BackendReport::cpu(format!("{e}; using the CPU path"), Some(name));
            }
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
            index: Arc::new(index),
            scratch: CpuScratch::new(),
            shard_scratch: Vec::new(),
            gpu: Some(GpuBackend { context, index: gpu_index }),
            pending: None,
            report,
            ivf: None,
        })
    }

    /// Opens `adapter` (device, pipelines), uploads the index and times it against the CPU,
    /// all off the caller's path: on a spawned local task in the browser, on a thread natively.
    /// Meanwhile the engine answers on the CPU; the first query after the trial ends (or
    /// [`ScoringEngine::poll_trial`], [`ScoringEngine::finish_trial`]) adopts the GPU if it
    /// was faster, and the report gives both timings. `auto` calls this for hardware adapters;
    /// it also works on a software adapter, for tests.
    ///
    /// In the browser the trial's GPU timings include any time the page's own work holds the
    /// thread between its awaits, which can only make the GPU look slower than it is.
    pub fn start_trial(&mut self, adapter: GpuAdapter) {
        let name = adapter.info().name.clone();
        // Dropped, not destroyed: the caller may share this context (e.g. the ranker's MLP).
        self.gpu = None;
        self.report = BackendReport::cpu(
            format!(
                "serving on the CPU while the GPU ({name}) is prepared and timed in the \
                 background; the engine switches if the GPU is faster"
            ),
            Some(name.clone()),
        );
        self.pending = Some(PendingTrial {
            outcome: spawn_trial(adapter, Arc::clone(&self.index)),
            adapter: name,
        });
    }

    /// True while a background trial is running (its outcome not yet adopted).
    pub fn trial_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Adopts the background trial's outcome if it has arrived; true if it did. Every query
    /// calls this first, so callers only need it to refresh [`ScoringEngine::report`] between
    /// queries.
    pub fn poll_trial(&mut self) -> bool {
        let Some(pending) = self.pending.as_mut() else { return false };
        let outcome = match pending.outcome.try_recv() {
            Ok(None) => return false,
            Ok(Some(outcome)) => outcome,
            Err(oneshot::Canceled) => Err(abandoned()),
        };
        self.adopt(outcome);
        true
    }

    /// Waits for the background trial, if one is running, and adopts its outcome.
    pub async fn finish_trial(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            let outcome = (&mut pending.outcome).await.unwrap_or_else(|_| Err(abandoned()));
            self.adopt(outcome);
        }
    }

    fn adopt(&mut self, outcome: Result<Trialed>) {
        let Some(PendingTrial { adapter, .. }) = self.pending.take() else { return };
        self.report = match outcome {
            Ok(Trialed { backend, timings }) => {
                let verdict = format!(
                    "timed trial (in the background): GPU {:.3} ms, CPU {:.3} ms per query",
                    timings.gpu_ms, timings.cpu_ms
                );
                if timings.gpu_ms <= timings.cpu_ms {
                    let f16 = f16_note(&backend.context);
                    self.gpu = Some(backend);
                    BackendReport {
                        backend: BackendKind::WebGpu,
                        reason: format!("{verdict}; switched to WebGPU; {f16}"),
                        adapter: Some(adapter),
                        trial: Some(timings),
                    }
                } else {
                    backend.context.destroy();
                    BackendReport {
                        backend: BackendKind::Cpu,
                        reason: format!("{verdict}; kept the CPU"),
                        adapter: Some(adapter),
                        trial: Some(timings),
                    }
                }
            }
            Err(e) => BackendReport::cpu(
                format!("the background GPU trial failed ({e}); using the CPU path"),
                Some(adapter),
            ),
        };
    }

    /// Times both backends on this index (the first row as query, k = min(100, rows)) and keeps
    /// the faster; the report records both timings. Public so callers can re-run it, e.g. after
    /// the page regains focus. Unlike [`ScoringEngine::start_trial`] this runs in the caller's
    /// `await`, on the GPU the engine already has.
    ///
    /// # Errors
    /// A GPU failure other than device loss during the trial.
    pub async fn run_trial(&mut self) -> Result<()> {
        let Some(gpu) = self.gpu.as_mut() else { return Ok(()) };
        let trial = match time_backends(gpu, &self.index, &mut self.scratch).await {
            Ok(trial) => trial,
            Err(Error::DeviceLost { reason }) => {
                self.fall_back(format!("GPU device lost during the backend trial ({reason})"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
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

    /// Answers whole-index requests (no `candidates`) through `ivf` from now on, scanning the
    /// `nprobe` best lists per query instead of every row (approximate; `nprobe ≥ nlist` is
    /// exact). Requests with candidates still scan exactly those. On the GPU backend the probed
    /// rows go to the GPU's candidate-list scan; the probe (centroid scores) stays on the CPU.
    /// Exact search stays the default: an engine uses IVF only after this call.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `ivf` was built for another index (row count,
    /// dimension, similarity) or `nprobe` is 0.
    pub fn set_ivf(&mut self, ivf: IvfIndex, nprobe: usize) -> Result<()> {
        if ivf.rows() != self.index.rows()
            || ivf.dim() != self.index.dim()
            || ivf.similarity() != self.index.similarity()
        {
            return Err(Error::InvalidArgument {
                name: "ivf",
                reason: format!(
                    "built for {} rows of dimension {} ({:?}), the index has {} of dimension {} \
                     ({:?})",
                    ivf.rows(),
                    ivf.dim(),
                    ivf.similarity(),
                    self.index.rows(),
                    self.index.dim(),
                    self.index.similarity()
                ),
            });
        }
        if nprobe == 0 {
            return Err(Error::InvalidArgument {
                name: "nprobe",
                reason: "must be at least 1".into(),
            });
        }
        self.ivf = Some(IvfSearch { index: ivf, nprobe, scratch: IvfScratch::new() });
        Ok(())
    }

    /// Goes back to exact search for every request; returns the IVF index, if one was set.
    pub fn clear_ivf(&mut self) -> Option<IvfIndex> {
        self.ivf.take().map(|s| s.index)
    }

    /// `nprobe` of the IVF search in use, `None` when the engine searches exactly.
    pub fn ivf_nprobe(&self) -> Option<usize> {
        self.ivf.as_ref().map(|s| s.nprobe)
    }

    /// Each query's best `k` items (score desc, exact ties to the lower index).
    ///
    /// With an IVF index set ([`ScoringEngine::set_ivf`]) a request without candidates is
    /// answered by [`IvfIndex::search`] per query, on the CPU.
    ///
    /// A finished background trial is adopted first ([`ScoringEngine::poll_trial`]). If the GPU
    /// device is lost, the engine switches to the CPU path for this and every later
    /// call, and the report says so.
    ///
    /// # Errors
    /// Input errors as [`ItemIndex::validate`]; [`Error::Gpu`] if the GPU fails in a way other
    /// than device loss.
    pub async fn score_top_k(&mut self, request: &ScoreRequest<'_>) -> Result<Vec<TopK>> {
        self.poll_trial();
        if self.ivf.is_some() && request.candidates.is_none() {
            return self.ivf_top_k(request).await;
        }
        if let Some(gpu) = self.gpu.as_mut() {
            match gpu.index.score_top_k(&gpu.context, request).await {
                Err(Error::DeviceLost { reason }) => {
                    self.fall_back(format!("GPU device lost ({reason})"))
                }
                other => return other,
            }
        }
        self.cpu_score_top_k(request)
    }

    /// The CPU scan: split across the thread pool when the build has one and the scan is large
    /// enough ([`cpu::pool::parts_for`]), else on this thread. The same lists either way.
    fn cpu_score_top_k(&mut self, request: &ScoreRequest<'_>) -> Result<Vec<TopK>> {
        let visited = request.candidates.map_or(self.index.rows(), <[u32]>::len);
        let parts = cpu::pool::parts_for(visited);
        if parts == 1 {
            return cpu::fast_score_top_k(&self.index, request, &mut self.scratch);
        }
        self.shard_scratch.resize_with(parts, Default::default);
        self.shard_scratch.truncate(parts);
        cpu::score_top_k_sharded(&self.index, request, &self.shard_scratch, cpu::pool::run)
    }

    /// [`ScoringEngine::score_top_k`] through the IVF index: per query, the probed lists'
    /// rows ([`IvfIndex::gather`]) scanned as a candidate list — by the GPU kernel on the GPU
    /// backend, by [`IvfIndex::search`] on the CPU. A lost device switches to the CPU as
    /// everywhere else.
    async fn ivf_top_k(&mut self, request: &ScoreRequest<'_>) -> Result<Vec<TopK>> {
        let batch = self.index.validate(request)?;
        let dim = self.index.dim();
        let Some(ivf) = self.ivf.as_mut() else {
            return cpu::fast_score_top_k(&self.index, request, &mut self.scratch);
        };
        let mut out = Vec::with_capacity(batch);
        for b in 0..batch {
            let query = &request.queries[b * dim..(b + 1) * dim];
            let Some(gpu) = self.gpu.as_mut() else {
                let (index, nprobe) = (&self.index, ivf.nprobe);
                out.push(ivf.index.search(
                    index,
                    query,
                    request.k,
                    nprobe,
                    request.mask,
                    &mut ivf.scratch,
                )?);
                continue;
            };
            let restricted =
                ivf.index.gather(&self.index, query, request.k, ivf.nprobe, &mut ivf.scratch)?;
            let mut one = ScoreRequest::new(query, request.k);
            if let Some(mask) = request.mask {
                one = one.with_mask(mask);
            }
            if restricted {
                one = one.with_candidates(ivf.scratch.candidates());
            }
            match gpu.index.score_top_k(&gpu.context, &one).await {
                Err(Error::DeviceLost { reason }) => {
                    self.fall_back(format!("GPU device lost ({reason})"));
                    // Start over on the CPU: this and every later call.
                    return Box::pin(self.ivf_top_k(request)).await;
                }
                result => out.push(result?.pop().unwrap_or_default()),
            }
        }
        Ok(out)
    }

    /// The best `k` items for one query over the whole index.
    ///
    /// # Errors
    /// As [`ScoringEngine::score_top_k`].
    pub async fn top_k(&mut self, query: &[f32], k: usize) -> Result<TopK> {
        Ok(self.score_top_k(&ScoreRequest::new(query, k)).await?.pop().unwrap_or_default())
    }
}

/// "f16 read via …", for reports.
fn f16_note(context: &GpuContext) -> String {
    format!("f16 read via {} ({})", context.f16_path().as_str(), context.f16_reason())
}

fn abandoned() -> Error {
    Error::Gpu { stage: "backend trial", reason: "the trial task ended without a result".into() }
}

/// Median per-query milliseconds of the GPU and the CPU on `index` (the first row as query,
/// k = min(100, rows); one warm-up each, then [`TRIAL_QUERIES`] alternating runs).
async fn time_backends(
    gpu: &mut GpuBackend,
    index: &ItemIndex,
    scratch: &mut CpuScratch,
) -> Result<TrialTimings> {
    let mut query = vec![0.0; index.dim()];
    index.matrix().dequantize_row(0, &mut query);
    let request = ScoreRequest::new(&query, index.rows().min(100));
    let mut gpu_samples = Vec::with_capacity(TRIAL_QUERIES);
    let mut cpu_samples = Vec::with_capacity(TRIAL_QUERIES);
    for run in 0..=TRIAL_QUERIES {
        let start = Instant::now();
        gpu.index.score_top_k(&gpu.context, &request).await?;
        let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        cpu::fast_score_top_k(index, &request, scratch)?;
        let cpu_ms = start.elapsed().as_secs_f64() * 1e3;
        if run > 0 {
            gpu_samples.push(gpu_ms);
            cpu_samples.push(cpu_ms);
        }
    }
    let median = crate::order::median;
    Ok(TrialTimings { cpu_ms: median(&cpu_samples), gpu_ms: median(&gpu_samples) })
}

/// The background half of [`ScoringEngine::start_trial`]: open, upload, time.
async fn prepare_and_time(adapter: GpuAdapter, index: Arc<ItemIndex>) -> Result<Trialed> {
    let context = adapter.open(GpuContextOptions::default()).await?;
    let gpu_index = GpuIndex::upload(&context, &index).await?;
    let mut backend = GpuBackend { context, index: gpu_index };
    let timings = time_backends(&mut backend, &index, &mut CpuScratch::new()).await?;
    Ok(Trialed { backend, timings })
}

/// Runs [`prepare_and_time`] off the caller's path. In the browser a local task: WebGPU calls
/// return at once and the work happens in the GPU process, so the page's thread is free between
/// them. Natively a thread, since wgpu's native calls block (pipeline compilation above all).
/// If the task cannot start, the receiver reports it as abandoned.
fn spawn_trial(adapter: GpuAdapter, index: Arc<ItemIndex>) -> oneshot::Receiver<Result<Trialed>> {
    let (sender, receiver) = oneshot::channel();
    let task = async move {
        // The engine may have been dropped meanwhile; the GPU is then dropped with the result.
        let _ = sender.send(prepare_and_time(adapter, index).await);
    };
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_futures::spawn_local(task);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = std::thread::Builder::new()
            .name("edgerec-gpu-trial".into())
            .spawn(move || pollster::block_on(task));
    }
    receiver
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

    /// The adoption half of the background trial, driven by hand: the switch branch cannot be
    /// reached through timings on lavapipe or SwiftShader, where the CPU always wins.
    #[test]
    fn adopts_a_gpu_the_trial_found_faster_and_answers_on_it() {
        let context = match pollster::block_on(GpuContext::new()) {
            Ok(context) => context,
            Err(e) if std::env::var_os("EDGEREC_REQUIRE_GPU").is_some() => panic!("no GPU: {e}"),
            Err(e) => return eprintln!("skipping GPU test: {e}"),
        };
        let items = ItemMatrix::new((0..300 * 4).map(|i| (i % 7) as f32).collect(), 4).unwrap();
        let mut engine =
            pollster::block_on(ScoringEngine::from_matrix(items, BackendChoice::Cpu)).unwrap();
        let query = [1.0, -2.0, 3.0, 0.5];
        let expected = pollster::block_on(engine.top_k(&query, 7)).unwrap();
        let index = pollster::block_on(GpuIndex::upload(&context, &engine.index)).unwrap();
        let (sender, outcome) = oneshot::channel();
        engine.pending = Some(PendingTrial { outcome, adapter: "test adapter".into() });
        assert!(!engine.poll_trial(), "nothing has arrived yet");
        assert!(engine.trial_pending());
        let timings = TrialTimings { cpu_ms: 1.0, gpu_ms: 0.5 };
        let trialed = Trialed { backend: GpuBackend { context, index }, timings };
        sender.send(Ok(trialed)).unwrap();
        // The next query adopts the outcome first, then runs on the GPU.
        assert_eq!(pollster::block_on(engine.top_k(&query, 7)).unwrap(), expected);
        let report = engine.report();
        assert_eq!(report.backend, BackendKind::WebGpu, "{report:?}");
        assert_eq!(report.trial, Some(timings));
        assert!(report.reason.contains("switched to WebGPU"), "{report:?}");
        assert!(engine.gpu_context().is_some() && !engine.trial_pending());
    }

    #[test]
    fn an_abandoned_trial_leaves_the_cpu_and_says_so() {
        let items = ItemMatrix::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        let mut engine =
            pollster::block_on(ScoringEngine::from_matrix(items, BackendChoice::Cpu)).unwrap();
        let (sender, outcome) = oneshot::channel::<Result<Trialed>>();
        engine.pending = Some(PendingTrial { outcome, adapter: "test adapter".into() });
        drop(sender);
        pollster::block_on(engine.finish_trial());
        let report = engine.report();
        assert_eq!(report.backend, BackendKind::Cpu);
        assert!(report.reason.contains("background GPU trial failed"), "{report:?}");
        assert_eq!(report.adapter.as_deref(), Some("test adapter"));
        assert!(!engine.trial_pending());
    }
}
