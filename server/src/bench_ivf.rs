//! `edgerec bench ivf`: the IVF index's recall@k / latency curve against the exact int8 scan,
//! measured in one run on the same data, queries and machine.
//!
//! Data: a seeded Gaussian mixture (`--clusters` centres ~ N(0, I), rows = centre +
//! N(0, spread² I)) — clumped like real embeddings — or a bundle's `item_embeddings`
//! (`--bundle`). Queries: fresh draws from the mixture (or, for a bundle, the sum of two random
//! items), never items themselves. Truth is the exact int8 search over the same stored index,
//! so recall measures only what the IVF probe loses.

use clap::Args;
use edgerec::ItemMatrix;
use edgerec::bundle::{Bundle, LoadOptions, QuantScheme};
use edgerec::compute::cpu::{CpuScratch, fast_score_top_k};
use edgerec::compute::{ItemIndex, IvfIndex, IvfParams, IvfScratch, ScoreRequest, Similarity};
use edgerec::rng::SeededRng;
use std::time::{Duration, Instant};

/// Arguments of `edgerec bench ivf`.
#[derive(Args)]
pub struct IvfBenchArgs {
    /// Item rows (synthetic data).
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Vector dimension (synthetic data).
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Results per query (recall@k).
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// IVF lists (k-means clusters).
    #[arg(long, default_value_t = 1024)]
    lists: usize,
    /// Lloyd iterations.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Training sample rows per list.
    #[arg(long, default_value_t = 128)]
    points_per_list: usize,
    /// nprobe values to measure, comma-separated.
    #[arg(long, default_value = "8,16,32,64")]
    nprobe: String,
    /// Timed queries (each also a recall sample).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Mixture components of the synthetic data.
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    /// Standard deviation of each component (the centres have unit variance per coordinate).
    #[arg(long, default_value_t = 0.6)]
    spread: f32,
    /// Similarity: cosine or dot.
    #[arg(long, default_value = "cosine")]
    similarity: String,
    /// Use this bundle's item_embeddings (dequantized) instead of synthetic data.
    #[arg(long)]
    bundle: Option<std::path::PathBuf>,
    /// Seed of the data, queries and k-means.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also time the GPU (WebGPU/Vulkan adapter, software ones included): the exact scan and
    /// the IVF search through `ScoringEngine` (probe on the CPU, the probed rows scanned on the
    /// GPU as a candidate list).
    #[arg(long)]
    gpu: bool,
}

fn normal(rng: &mut SeededRng) -> f32 {
    let r = (-2.0 * rng.next_f64().ln()).sqrt();
    (r * (std::f64::consts::TAU * rng.next_f64()).cos()) as f32
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Runs `edgerec bench ivf`.
pub fn run(a: &IvfBenchArgs) -> Result<(), String> {
    let similarity = a.similarity.parse::<Similarity>().map_err(|e| e.to_string())?;
    let nprobes: Vec<usize> = a
        .nprobe
        .split(',')
        .map(|s| s.trim().parse::<usize>().map_err(|e| format!("--nprobe {s:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let mut rng = SeededRng::new(a.seed);
    let (data, dim, queries, source) = match &a.bundle {
        Some(dir) => {
            let bundle = Bundle::open(dir, &LoadOptions::default()).map_err(|e| e.to_string())?;
            let data = bundle.item_embeddings().dequantize();
            let dim = bundle.manifest().embedding_dim as usize;
            let rows = data.len() / dim;
            let queries: Vec<Vec<f32>> = (0..a.queries)
                .map(|_| {
                    let (x, y) = (rng.below(rows as u64) as usize, rng.below(rows as u64) as usize);
                    (0..dim).map(|j| data[x * dim + j] + data[y * dim + j]).collect()
                })
                .collect();
            (data, dim, queries, dir.display().to_string())
        }
        None => {
            let dim = a.dim;
            let centres: Vec<f32> = (0..a.clusters * dim).map(|_| normal(&mut rng)).collect();
            let draw = |rng: &mut SeededRng, out: &mut Vec<f32>| {
                let c = rng.below(a.clusters as u64) as usize;
                for j in 0..dim {
                    out.push(centres[c * dim + j] + a.spread * normal(rng));
                }
            };
            let mut data = Vec::with_capacity(a.rows * dim);
            for _ in 0..a.rows {
                draw(&mut rng, &mut data);
            }
            let queries: Vec<Vec<f32>> = (0..a.queries)
                .map(|_| {
                    let mut q = Vec::with_capacity(dim);
                    draw(&mut rng, &mut q);
                    q
                })
                .collect();
            (data, dim, queries, format!("mixture({} x {spread})", a.clusters, spread = a.spread))
        }
    };
    let rows = data.len() / dim;
    let k = a.k.min(rows);

    let start = Instant::now();
    let params = IvfParams {
        nlist: a.lists,
        iters: a.iters,
        max_points_per_list: a.points_per_list,
        seed: a.seed,
    };
    let ivf = IvfIndex::train(&data, dim, similarity, &params).map_err(|e| e.to_string())?;
    let build_s = start.elapsed().as_secs_f64();
    let matrix = ItemMatrix::new(data, dim).map_err(|e| e.to_string())?;
    let index = ItemIndex::quantize(&matrix, QuantScheme::I8_PER_ROW, similarity)
        .map_err(|e| e.to_string())?;
    drop(matrix);
    let sizes: Vec<usize> = (0..ivf.nlist()).map(|l| ivf.list(l).len()).collect();
    let largest = sizes.iter().max().copied().unwrap_or(0);
    let empty = sizes.iter().filter(|&&s| s == 0).count();

    // Exact int8 path: truth and baseline latency (one warm-up).
    let mut scratch = CpuScratch::new();
    let exact = |q: &[f32], scratch: &mut CpuScratch| {
        fast_score_top_k(&index, &ScoreRequest::new(q, k), scratch).map(|mut v| v.remove(0))
    };
    exact(&queries[0], &mut scratch).map_err(|e| e.to_string())?;
    let mut truth = Vec::with_capacity(queries.len());
    let mut exact_times = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let top = exact(q, &mut scratch).map_err(|e| e.to_string())?;
        exact_times.push(t.elapsed());
        truth.push(top.ids);
    }
    let exact_ms = median(exact_times).as_secs_f64() * 1e3;

    println!(
        "ivf bench: {rows} rows × {dim} ({source}, {similarity:?}, int8 per row), k = {k}, \
         {} queries",
        queries.len()
    );
    println!(
        "build: {} lists, {} iters, sample {} rows/list: {build_s:.2} s (largest list {largest}, \
         {empty} empty)",
        ivf.nlist(),
        a.iters,
        a.points_per_list
    );
    println!("exact int8 scan: median {exact_ms:.3} ms/query");
    println!();
    println!("| nprobe | rows scanned | recall@{k} | median ms | speedup vs exact |");
    println!("|---:|---:|---:|---:|---:|");
    let mut iscratch = IvfScratch::new();
    for &nprobe in &nprobes {
        ivf.search(&index, &queries[0], k, nprobe, None, &mut iscratch)
            .map_err(|e| e.to_string())?;
        let (mut times, mut recall, mut scanned) = (Vec::new(), 0.0, 0usize);
        for (q, want) in queries.iter().zip(&truth) {
            let t = Instant::now();
            let got =
                ivf.search(&index, q, k, nprobe, None, &mut iscratch).map_err(|e| e.to_string())?;
            times.push(t.elapsed());
            recall += got.ids.iter().filter(|id| want.contains(id)).count() as f64
                / want.len().max(1) as f64;
            scanned += ivf.probe(q, nprobe, k).iter().map(|&l| sizes[l as usize]).sum::<usize>();
        }
        let n = queries.len() as f64;
        let (recall, scanned) = (recall / n, scanned as f64 / n);
        let ms = median(times).as_secs_f64() * 1e3;
        let speedup = exact_ms / ms;
        println!(
            "| {nprobe} | {scanned:.0} ({:.2}%) | {recall:.4} | {ms:.3} | {speedup:.1}× |",
            100.0 * scanned / rows as f64
        );
        println!(
            "{{\"bench\":\"ivf\",\"rows\":{rows},\"dim\":{dim},\"k\":{k},\"lists\":{},\"nprobe\":{nprobe},\"build_s\":{build_s:.3},\"recall\":{recall:.5},\"median_ms\":{ms:.4},\"exact_median_ms\":{exact_ms:.4},\"speedup\":{speedup:.3},\"rows_scanned\":{scanned:.1}}}",
            ivf.nlist()
        );
    }
    if a.gpu {
        gpu_table(&index, &ivf, &queries, &truth, k, &nprobes)?;
    }
    Ok(())
}

/// The GPU half of `edgerec bench ivf --gpu`: exact scan and IVF through the engine, with the
/// recall of its lists against the CPU's exact lists.
fn gpu_table(
    index: &ItemIndex,
    ivf: &IvfIndex,
    queries: &[Vec<f32>],
    truth: &[Vec<u32>],
    k: usize,
    nprobes: &[usize],
) -> Result<(), String> {
    use edgerec::BackendKind;
    use edgerec::compute::{BackendChoice, ScoringEngine};
    let mut engine = pollster::block_on(ScoringEngine::new(index.clone(), BackendChoice::WebGpu))
        .map_err(|e| e.to_string())?;
    if engine.report().backend != BackendKind::WebGpu {
        return Err(format!("--gpu: no GPU ({})", engine.report().reason));
    }
    let adapter = engine.report().adapter.clone().unwrap_or_default();
    // Median ms per query and mean recall@k over the queries, after 0.5 s of untimed calls.
    let timed = |engine: &mut ScoringEngine| -> Result<(f64, f64), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) {
            pollster::block_on(engine.top_k(&queries[0], k)).map_err(|e| e.to_string())?;
        }
        let (mut times, mut recall) = (Vec::new(), 0.0);
        for (q, want) in queries.iter().zip(truth) {
            let t = Instant::now();
            let got = pollster::block_on(engine.top_k(q, k)).map_err(|e| e.to_string())?;
            times.push(t.elapsed());
            recall += got.ids.iter().filter(|id| want.contains(id)).count() as f64
                / want.len().max(1) as f64;
        }
        Ok((median(times).as_secs_f64() * 1e3, recall / queries.len() as f64))
    };
    let (exact_ms, exact_recall) = timed(&mut engine)?;
    println!();
    println!(
        "GPU ({adapter}): exact int8 scan median {exact_ms:.3} ms/query (recall {exact_recall:.4} against the CPU's lists)"
    );
    println!("| nprobe | recall@{k} | GPU median ms | speedup vs GPU exact |");
    println!("|---:|---:|---:|---:|");
    for &nprobe in nprobes {
        engine.set_ivf(ivf.clone(), nprobe).map_err(|e| e.to_string())?;
        let (ms, recall) = timed(&mut engine)?;
        println!("| {nprobe} | {recall:.4} | {ms:.3} | {:.1}× |", exact_ms / ms);
        println!(
            "{{\"bench\":\"ivf_gpu\",\"rows\":{},\"k\":{k},\"nprobe\":{nprobe},\"recall\":{recall:.5},\"median_ms\":{ms:.4},\"exact_median_ms\":{exact_ms:.4}}}",
            index.rows()
        );
    }
    Ok(())
}
