//! `edgerec bench`: kernel timings on this machine, printed as a table and JSON lines.

use clap::{Args, Subcommand};
use edgerec::compute::cpu::{CpuScratch, fast_top_k, reference_top_k};
use edgerec::compute::gpu::{GpuContext, GpuIndex};
use edgerec::{ItemMatrix, TopK};
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
        /// Also time the scalar reference (slow: sorts every score).
        #[arg(long)]
        reference: bool,
        /// Skip the GPU even if one is present.
        #[arg(long)]
        no_gpu: bool,
    },
}

/// Runs the chosen benchmark.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    match &args.what {
        BenchWhat::Score { rows, dim, k, iters, reference, no_gpu } => {
            score(*rows, *dim, *k, (*iters).max(1), *reference, *no_gpu)
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Times `iters` calls of `f` after one warm-up; returns the median.
fn time<F: FnMut() -> Result<TopK, String>>(iters: usize, mut f: F) -> Result<Duration, String> {
    f()?;
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

fn row(name: &str, d: Duration, bytes: f64) {
    let ms = d.as_secs_f64() * 1e3;
    let gbps = bytes / d.as_secs_f64() / 1e9;
    println!("| {name:<28} | {ms:>10.3} | {gbps:>8.2} |");
    println!(
        "{{\"bench\":\"score\",\"path\":\"{name}\",\"median_ms\":{ms:.4},\"gb_per_s\":{gbps:.3}}}"
    );
}

fn score(
    rows: usize,
    dim: usize,
    k: usize,
    iters: usize,
    with_reference: bool,
    no_gpu: bool,
) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(7);
    let data: Vec<f32> = (0..rows * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let query: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let items = ItemMatrix::new(data, dim).map_err(|e| e.to_string())?;
    let bytes = (rows * dim * 4) as f64;
    println!("scoring + top-{k}: {rows} × {dim} f32 ({:.1} MB), median of {iters}", bytes / 1e6);
    println!("| {:<28} | {:>10} | {:>8} |", "path", "ms", "GB/s");
    println!("|{:-<30}|{:-<12}|{:-<10}|", "", "", "");
    let bandwidth = memory_sum_bandwidth(256 << 20, 5);
    println!("| {:<28} | {:>10} | {bandwidth:>8.2} |", "memory sum (1 core, 256 MB)", "");
    println!("{{\"bench\":\"memory_sum\",\"gb_per_s\":{bandwidth:.3}}}");
    if with_reference {
        let d =
            time(iters.min(5), || reference_top_k(&items, &query, k).map_err(|e| e.to_string()))?;
        row("cpu reference (scalar, f64)", d, bytes);
    }
    let mut scratch = CpuScratch::new();
    let d = time(iters, || fast_top_k(&items, &query, k, &mut scratch).map_err(|e| e.to_string()))?;
    row("cpu fast", d, bytes);
    if no_gpu {
        return Ok(());
    }
    match pollster::block_on(GpuContext::new()) {
        Err(e) => println!("gpu: skipped ({e})"),
        Ok(ctx) => {
            let mut index =
                pollster::block_on(GpuIndex::upload(&ctx, &items)).map_err(|e| e.to_string())?;
            let d = time(iters, || {
                pollster::block_on(index.top_k(&ctx, &query, k)).map_err(|e| e.to_string())
            })?;
            row(&format!("gpu ({})", ctx.adapter_info().name), d, bytes);
        }
    }
    Ok(())
}
