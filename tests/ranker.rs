//! The multi-task ranker assembled from the shipped MovieLens bundle: features, CPU forward pass,
//! and GPU parity (lavapipe natively; skipped without a Vulkan adapter unless
//! `EDGEREC_REQUIRE_GPU=1`).
#![cfg(not(target_arch = "wasm32"))]

use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::gpu::{GpuContext, GpuMlp};
use edgerec::rank::{RANKER_TASKS, Ranker, RankerScratch};
use pollster::block_on;

fn sample() -> Bundle {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/movielens-small");
    Bundle::open(std::path::Path::new(dir), &LoadOptions::default()).expect("sample bundle loads")
}

#[test]
fn ranker_from_the_sample_bundle_predicts_probabilities() {
    let bundle = sample();
    let ranker = Ranker::from_bundle(&bundle).unwrap();
    assert_eq!(ranker.tasks(), RANKER_TASKS);
    let dim = bundle.manifest().embedding_dim as usize;
    // The user query: the item tower vector of Toy Story stands in for a fan's history.
    let mut query = vec![0.0; dim];
    bundle.item_embeddings().dequantize_row(0, &mut query);
    let candidates: Vec<u32> = (0..200).collect();
    let p = ranker.predict(&query, &[], &candidates, &mut RankerScratch::default()).unwrap();
    assert_eq!(p.len(), candidates.len() * RANKER_TASKS.len());
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "probabilities in [0, 1]");
    // P(watch ∧ like) never exceeds P(watch) by much: the like head is trained on the joint.
    let violations = p.chunks_exact(2).filter(|w| w[1] > w[0] + 0.1).count();
    assert!(violations < candidates.len() / 10, "{violations} rows with like ≫ watch");
    // Scores are not constant: the ranker discriminates.
    let watch: Vec<f32> = p.chunks_exact(2).map(|w| w[0]).collect();
    let spread = watch.iter().cloned().fold(f32::MIN, f32::max)
        - watch.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 0.1, "spread {spread}");
}

#[test]
fn ranker_gpu_forward_matches_the_cpu() {
    let ctx = match block_on(GpuContext::new()) {
        Ok(ctx) => ctx,
        Err(e) if std::env::var_os("EDGEREC_REQUIRE_GPU").is_some() => panic!("no GPU: {e}"),
        Err(e) => return eprintln!("skipping: {e}"),
    };
    let bundle = sample();
    let ranker = Ranker::from_bundle(&bundle).unwrap();
    let dim = bundle.manifest().embedding_dim as usize;
    let mut query = vec![0.0; dim];
    bundle.item_embeddings().dequantize_row(42, &mut query);
    let candidates: Vec<u32> = (0..bundle.items().len() as u32).step_by(7).collect();
    let mut scratch = RankerScratch::default();
    let cpu = ranker.predict(&query, &[], &candidates, &mut scratch).unwrap();
    let mut gpu_mlp =
        block_on(GpuMlp::upload(&ctx, ranker.mlp().expect("a shared-bottom ranker"))).unwrap();
    let gpu = block_on(ranker.predict_on(
        Some((&ctx, &mut gpu_mlp)),
        &query,
        &[],
        &candidates,
        &mut scratch,
    ))
    .unwrap();
    assert_eq!(cpu.len(), gpu.len());
    for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
        assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "output {i}: cpu {a}, gpu {b}");
    }
}
