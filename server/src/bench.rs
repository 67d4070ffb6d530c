//! `edgerec bench`: kernel timings on this machine, printed as a table and JSON lines.

use clap::{Args, Subcommand};
use edgerec::ItemMatrix;
use edgerec::compute::cpu::{CpuScratch, fast_score_top_k, reference_score_top_k};
use edgerec::compute::gpu::{GpuContext, GpuIndex, GpuIndexOptions};
use edgerec::compute::{ItemIndex, ScoreRequest, Similarity, parse_scheme};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// Arguments of `edgerec bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Dot-product scoring + top-k over a random f32 item matrix, per backend.
    Score {
        /// Item rows.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Vector dimension.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// Results per query.
        #[arg(long, default_value_t = 100)]
        k: usize,
        /// Timed queries per backend (after one warm-up).
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Stored formats to time, comma-separated: f32, f16, int8.
        #[arg(long, default_value = "f32,f16,int8")]
        dtype: String,
        /// Similarity: dot or cosine.
        #[arg(long, default_value = "dot")]
        similarity: String,
        /// Queries per call.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Also time the scalar reference (slow: sorts every score).
        #[arg(long)]
        reference: bool,
        /// Skip the GPU even if one is present.
        #[arg(long)]
        no_gpu: bool,
        /// GPU: tiles of 2048 rows each score workgroup streams through (default: chosen per
        /// call from the index size); several values, comma-separated, time each.
        #[arg(long, value_delimiter = ',')]
        tiles_per_group: Vec<u32>,
        /// Skip the CPU fast path (GPU runs only).
        #[arg(long)]
        no_cpu: bool,
    },
    /// The product path: `record(click) + recommend(20)` with DPP and a rule, on the CPU, over a
    /// shipped bundle; p50 / p95 of each call.
    Funnel {
        /// Bundle directory.
        #[arg(long, default_value = "models/movielens-small")]
        bundle: std::path::PathBuf,
        /// Timed rounds (after 10 warm-up rounds).
        #[arg(long, default_value_t = 300)]
        iters: usize,
        /// List length.
        #[arg(long, default_value_t = 20)]
        k: usize,
        /// Diversity: none, mmr or dpp.
        #[arg(long, default_value = "dpp")]
        diversity: String,
        /// Backend: cpu, webgpu (any adapter) or auto. On a GPU the ranker runs there too, and
        /// the user model's GPU path is timed beside the CPU `record`.
        #[arg(long, default_value = "cpu")]
        backend: String,
    },
    /// IVF index: build time, recall@k and latency per nprobe against the exact int8 scan.
    Ivf(crate::bench_ivf::IvfBenchArgs),
    /// Ingest load against a running `edgerec serve`: concurrent clients posting event
    /// batches; sustained events/s and p50 / p99 latency.
    Serve {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// Concurrent clients (one thread and connection each).
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// How long to post, in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Events per request.
        #[arg(long, default_value_t = 20)]
        batch: usize,
        /// Bearer token, when the server has a --token-file.
        #[arg(long)]
        token: Option<String>,
    },
}

/// Runs the chosen benchmark.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    match &args.what {
        BenchWhat::Score {
            rows,
            dim,
            k,
            iters,
            dtype,
            similarity,
            batch,
            reference,
            no_gpu,
            tiles_per_group,
            no_cpu,
        } => {
            let shape = Shape { rows: *rows, dim: *dim, k: *k, batch: (*batch).max(1) };
            let similarity = similarity.parse::<Similarity>().map_err(|e| e.to_string())?;
            let gpu = GpuRuns { skip: *no_gpu, tiles_per_group };
            score(shape, dtype, similarity, (*iters).max(1), *reference, !*no_cpu, gpu)
        }
        BenchWhat::Funnel { bundle, iters, k, diversity, backend } => {
            funnel(bundle, (*iters).max(1), *k, diversity, backend)
        }
        BenchWhat::Ivf(ivf) => crate::bench_ivf::run(ivf),
        BenchWhat::Serve { url, clients, seconds, batch, token } => {
            crate::serve::load::run(&crate::serve::load::LoadConfig {
                url: url.clone(),
                clients: *clients,
                seconds: *seconds,
                batch: *batch,
                token: token.clone(),
            })
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Times `iters` calls of `f` after one warm-up; returns the median (shared by every
/// benchmark command).
pub(crate) fn time<T, F: FnMut() -> Result<T, String>>(
    iters: usize,
    f: F,
) -> Result<Duration, String> {
    time_warm(iters, Duration::ZERO, f)
}

/// [`time`] after calling `f` for at least `warm_up` (and once): a GPU idle during a long CPU
/// phase runs at low clocks for its first calls, which would otherwise bias short runs.
fn time_warm<T, F: FnMut() -> Result<T, String>>(
    iters: usize,
    warm_up: Duration,
    mut f: F,
) -> Result<Duration, String> {
    let start = Instant::now();
    f()?;
    while start.elapsed() < warm_up {
        std::hint::black_box(f()?);
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        std::hint::black_box(f()?);
        samples.push(start.elapsed());
    }
    Ok(median(samples))
}

/// Single-core read bandwidth: a plain sum over a buffer much larger than the caches.
fn memory_sum_bandwidth(bytes: usize, iters: usize) -> f64 {
    let data = vec![1u64; bytes / 8];
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters.max(3) {
        let start = Instant::now();
        let sum: u64 = data.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        std::hint::black_box(sum);
        samples.push(start.elapsed());
    }
    bytes as f64 / median(samples).as_secs_f64() / 1e9
}

/// The problem size of a scoring benchmark.
struct Shape {
    rows: usize,
    dim: usize,
    k: usize,
    batch: usize,
}

fn report(dtype: &str, path: &str, d: Duration, bytes: f64, shape: &Shape) {
    let ms = d.as_secs_f64() * 1e3;
    let gbps = bytes / d.as_secs_f64() / 1e9;
    println!("| {dtype:<5} | {path:<40} | {ms:>10.3} | {gbps:>8.2} |");
    println!(
        "{{\"bench\":\"score\",\"rows\":{},\"dim\":{},\"k\":{},\"batch\":{},\"dtype\":\"{dtype}\",\"path\":\"{path}\",\"median_ms\":{ms:.4},\"gb_per_s\":{gbps:.3}}}",
        shape.rows, shape.dim, shape.k, shape.batch
    );
}

/// How long each GPU configuration runs untimed first (clocks ramp up after an idle phase).
const GPU_WARM_UP: Duration = Duration::from_millis(500);

/// Which GPU runs `edgerec bench score` times.
struct GpuRuns<'a> {
    skip: bool,
    /// Forced spans of a score workgroup; empty: the default span only.
    tiles_per_group: &'a [u32],
}

fn score(
    shape: Shape,
    dtypes: &str,
    similarity: Similarity,
    iters: usize,
    with_reference: bool,
    with_cpu: bool,
    gpu_runs: GpuRuns,
) -> Result<(), String> {
    let Shape { rows, dim, k, batch } = shape;
    let mut rng = SmallRng::seed_from_u64(7);
    let data: Vec<f32> = (0..rows * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let queries: Vec<f32> = (0..batch * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let items = ItemMatrix::new(data, dim).map_err(|e| e.to_string())?;
    let request = ScoreRequest::new(&queries, k);
    println!(
        "scoring + top-{k}: {rows} × {dim}, batch {batch}, {similarity:?}; median of {iters}; \
         GB/s = stored bytes read per call / time"
    );
    let bandwidth = memory_sum_bandwidth(256 << 20, 5);
    println!("single-core memory-sum bandwidth (256 MB): {bandwidth:.2} GB/s");
    println!("{{\"bench\":\"memory_sum\",\"gb_per_s\":{bandwidth:.3}}}");
    println!("| {:<5} | {:<40} | {:>10} | {:>8} |", "dtype", "path", "ms", "GB/s");
    println!("|{:-<7}|{:-<42}|{:-<12}|{:-<10}|", "", "", "", "");
    let gpu = if gpu_runs.skip {
        None
    } else {
        match pollster::block_on(GpuContext::new()) {
            Ok(ctx) => Some(ctx),
            Err(e) => {
                println!("gpu: skipped ({e})");
                None
            }
        }
    };
    for name in dtypes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let scheme = parse_scheme(name).map_err(|e| e.to_string())?;
        let index = ItemIndex::quantize(&items, scheme, similarity).map_err(|e| e.to_string())?;
        let bytes = index.matrix().stored_bytes() as f64 * batch as f64;
        if with_reference {
            let d = time(iters.min(3), || {
                reference_score_top_k(&index, &request).map_err(|e| e.to_string())
            })?;
            report(name, "cpu reference (scalar, f64)", d, bytes, &shape);
        }
        if with_cpu {
            let mut scratch = CpuScratch::new();
            let d = time(iters, || {
                fast_score_top_k(&index, &request, &mut scratch).map_err(|e| e.to_string())
            })?;
            report(name, "cpu fast", d, bytes, &shape);
        }
        let Some(ctx) = &gpu else { continue };
        let spans: Vec<Option<u32>> = if gpu_runs.tiles_per_group.is_empty() {
            vec![None]
        } else {
            gpu_runs.tiles_per_group.iter().map(|&t| Some(t)).collect()
        };
        for tiles_per_group in spans {
            let options = GpuIndexOptions { tiles_per_group, ..Default::default() };
            let mut gpu_index = pollster::block_on(GpuIndex::upload_with(ctx, &index, options))
                .map_err(|e| e.to_string())?;
            let d = time_warm(iters, GPU_WARM_UP, || {
                pollster::block_on(gpu_index.score_top_k(ctx, &request)).map_err(|e| e.to_string())
            })?;
            let span = tiles_per_group.map_or(String::new(), |t| format!(", {t} tiles/group"));
            report(name, &format!("gpu ({}{span})", ctx.adapter_info().name), d, bytes, &shape);
        }
    }
    Ok(())
}

/// `edgerec bench funnel`: each round clicks a random item, then asks for `k` items with the
/// chosen diversity and "at most 2 of a category in a row", marking them shown (a feed).
fn funnel(
    dir: &std::path::Path,
    iters: usize,
    k: usize,
    diversity: &str,
    backend: &str,
) -> Result<(), String> {
    use edgerec::bundle::{Bundle, LoadOptions};
    use edgerec::compute::BackendChoice;
    use edgerec::recommender::{
        DiversityOptions, RecommendOptions, Recommender, RecommenderConfig, RuleKind, RuleSpec,
    };
    use edgerec::user::GpuUserModel;
    use edgerec::user::Interaction;
    let bundle = Bundle::open(dir, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let method = serde_json::from_value(serde_json::Value::String(diversity.into()))
        .map_err(|_| format!("--diversity {diversity:?}: expected none, mmr or dpp"))?;
    let options = RecommendOptions {
        k,
        diversity: Some(DiversityOptions { method, ..DiversityOptions::default() }),
        rules: Some(vec![RuleSpec::soft(RuleKind::MaxConsecutive {
            attribute: "category".into(),
            max: 2,
        })]),
        mark_shown: true,
        ..RecommendOptions::default()
    };
    let choice = backend.parse::<BackendChoice>().map_err(|e| e.to_string())?;
    let mut rec =
        pollster::block_on(Recommender::new(&bundle, RecommenderConfig::default(), choice))
            .map_err(|e| e.to_string())?;
    let report = rec.backend().clone();
    let mut gpu_user = match rec.gpu_context() {
        Some(ctx) => Some(
            pollster::block_on(GpuUserModel::upload(ctx, rec.user_model()))
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let mut record_gpu = Vec::new();
    let mut rng = SmallRng::seed_from_u64(11);
    let n = bundle.items().len();
    let now = 1_537_000_000_000.0;
    let (mut record, mut recommend, mut stages) = (Vec::new(), Vec::new(), [0.0f64; 4]);
    for round in 0..iters + 10 {
        let t = now + round as f64 * 1000.0;
        let id = bundle.items().get(rng.random_range(0..n)).map(|i| i.id().to_string());
        let click = Interaction::click(id.unwrap_or_default(), t);
        if let Some(gpu) = gpu_user.as_mut() {
            // The same update on the GPU, on a copy of the state (the funnel keeps the CPU's).
            let mut state = rec.state().clone();
            let model = rec.user_model().clone();
            let start = Instant::now();
            let ctx = rec.gpu_context().ok_or("the GPU went away")?;
            pollster::block_on(model.record_gpu(ctx, gpu, &mut state, &click, t))
                .map_err(|e| e.to_string())?;
            if round >= 10 {
                record_gpu.push(start.elapsed());
            }
        }
        let start = Instant::now();
        rec.record(&click, t).map_err(|e| e.to_string())?;
        let r = start.elapsed();
        let start = Instant::now();
        let out = pollster::block_on(rec.recommend_with(&options, t)).map_err(|e| e.to_string())?;
        let q = start.elapsed();
        if round >= 10 {
            record.push(r);
            recommend.push(q);
            let s = &out.trace.timings;
            for (acc, v) in stages.iter_mut().zip([s.user_ms, s.recall_ms, s.rank_ms, s.rerank_ms])
            {
                *acc += v / iters as f64;
            }
        }
    }
    let quantile = |samples: &[Duration], q: f64| {
        let mut s: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        s.sort_by(f64::total_cmp);
        s[((s.len() - 1) as f64 * q).round() as usize]
    };
    let both: Vec<Duration> = record.iter().zip(&recommend).map(|(a, b)| *a + *b).collect();
    println!(
        "funnel ({n} items, k = {k}, {diversity} + max 2 per category in a row, {} [{}], {iters} \
         rounds)",
        report.backend, report.reason
    );
    let mut rows =
        vec![("record", &record), ("recommend", &recommend), ("record+recommend", &both)];
    if !record_gpu.is_empty() {
        rows.insert(1, ("record on the GPU", &record_gpu));
    }
    for (name, samples) in rows {
        println!(
            "  {name:<17} p50 {:>7.3} ms   p95 {:>7.3} ms",
            quantile(samples, 0.5),
            quantile(samples, 0.95)
        );
    }
    println!(
        "  stages (mean ms): user {:.3}, recall {:.3}, rank {:.3}, re-rank {:.3}",
        stages[0], stages[1], stages[2], stages[3]
    );
    Ok(())
}
