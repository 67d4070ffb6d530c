//! Criterion benchmark of the scoring kernel: one query, scoring + top-100 over 100k × 64 and
//! 1M × 64 items stored as f32, f16 and int8, on the CPU fast path and (when an adapter exists)
//! the GPU, with a single-core memory-sum yardstick over a buffer of the same size.
//!
//! Throughput is the stored bytes one call reads (`QuantizedMatrix::stored_bytes`, the measure
//! `edgerec bench score` reports as GB/s), so criterion's "thrpt" of the `cpu` and `memsum`
//! rows compare directly: the issue asks the int8 CPU path for at least half the memory-sum
//! bandwidth.
//!
//! ```text
//! cargo bench --bench score                  # everything (GPU when an adapter exists)
//! cargo bench --bench score -- 1M/int8       # a criterion filter
//! EDGEREC_BENCH_NO_GPU=1 cargo bench --bench score
//! ```
//!
//! Kept short by default (10 samples, 2 s measurement); pass criterion's own flags
//! (`--sample-size`, `--measurement-time`) for longer runs.

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use criterion::{BenchmarkId, Criterion, Throughput};
    use edgerec::ItemMatrix;
    use edgerec::compute::cpu::{CpuScratch, fast_score_top_k};
    use edgerec::compute::gpu::{GpuContext, GpuIndex};
    use edgerec::compute::{ItemIndex, ScoreRequest, Similarity, parse_scheme};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::hint::black_box;
    use std::time::Duration;

    const DIM: usize = 64;
    const K: usize = 100;
    const SHAPES: [(&str, usize); 2] = [("100k", 100_000), ("1M", 1_000_000)];
    const DTYPES: [&str; 3] = ["f32", "f16", "int8"];

    /// The plain summing loop `edgerec bench score` uses as its bandwidth yardstick.
    fn memory_sum(data: &[u64]) -> u64 {
        data.iter().fold(0u64, |a, &b| a.wrapping_add(b))
    }

    fn gpu() -> Option<GpuContext> {
        if std::env::var_os("EDGEREC_BENCH_NO_GPU").is_some() {
            return None;
        }
        match pollster::block_on(GpuContext::new()) {
            Ok(ctx) => {
                eprintln!("gpu: {} ({:?})", ctx.adapter_info().name, ctx.adapter_info().backend);
                Some(ctx)
            }
            Err(e) => {
                eprintln!("gpu: skipped ({e})");
                None
            }
        }
    }

    pub fn score(c: &mut Criterion) {
        let gpu = gpu();
        let mut rng = SmallRng::seed_from_u64(7);
        let query: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for (label, rows) in SHAPES {
            let data: Vec<f32> = (0..rows * DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let items = ItemMatrix::new(data, DIM).expect("valid matrix");
            let mut group = c.benchmark_group(format!("score_top{K}/{label}x{DIM}"));
            for name in DTYPES {
                let scheme = parse_scheme(name).expect("known scheme");
                let index = ItemIndex::quantize(&items, scheme, Similarity::Dot).expect("valid");
                let bytes = index.matrix().stored_bytes();
                group.throughput(Throughput::Bytes(bytes as u64));
                let request = ScoreRequest::new(&query, K);

                let sum_buffer = vec![1u64; bytes.div_ceil(8)];
                group.bench_function(BenchmarkId::new(name, "memsum"), |b| {
                    b.iter(|| memory_sum(black_box(&sum_buffer)))
                });
                drop(sum_buffer);

                let mut scratch = CpuScratch::new();
                group.bench_function(BenchmarkId::new(name, "cpu"), |b| {
                    b.iter(|| {
                        fast_score_top_k(black_box(&index), &request, &mut scratch).expect("scores")
                    })
                });

                if let Some(ctx) = &gpu {
                    match pollster::block_on(GpuIndex::upload(ctx, &index)) {
                        Ok(mut on_gpu) => {
                            group.bench_function(BenchmarkId::new(name, "gpu"), |b| {
                                b.iter(|| {
                                    pollster::block_on(on_gpu.score_top_k(ctx, &request))
                                        .expect("scores")
                                })
                            });
                        }
                        Err(e) => eprintln!("gpu {label} {name}: upload failed ({e})"),
                    }
                }
            }
            group.finish();
        }
    }

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args()
    }
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group! {
    name = benches;
    config = bench::config();
    targets = bench::score
}
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
