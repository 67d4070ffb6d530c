//! Browser tests: the same parity suite as `tests/gpu_parity.rs`, on Chromium's real WebGPU
//! (SwiftShader in headless CI) and on the wasm CPU path, plus the typed-error contract.
//!
//! Run with `make test-browser` (wasm-bindgen-test-runner + chromedriver; `webdriver.json` at
//! the crate root passes `--enable-unsafe-webgpu`).
#![cfg(target_arch = "wasm32")]

#[path = "common/parity.rs"]
mod parity;

use edgerec::compute::gpu::{GpuContext, GpuIndex};
use edgerec::compute::{BackendChoice, ScoringEngine};
use edgerec::{BackendKind, Error, ItemMatrix};
use parity::Case;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn context() -> GpuContext {
    match GpuContext::new().await {
        Ok(ctx) => ctx,
        Err(e) => panic!("the browser test runs Chromium with WebGPU enabled, yet: {e}"),
    }
}

#[wasm_bindgen_test]
async fn webgpu_matches_reference_on_random_shapes() {
    let ctx = context().await;
    web_sys_log(&format!("adapter: {:?}", ctx.adapter_info()));
    for seed in 0..40u64 {
        let case = Case::from_seed(seed, 12_000);
        if let Err(e) = parity::gpu_case(&ctx, &case).await {
            panic!("seed {seed}: {e}");
        }
    }
}

#[wasm_bindgen_test]
async fn webgpu_gets_the_edge_cases_right() {
    let ctx = context().await;
    for case in parity::edge_cases() {
        if let Err(e) = parity::gpu_case(&ctx, &case).await {
            panic!("{e}");
        }
    }
    let (items, query, k) = parity::identical_rows();
    let mut index = GpuIndex::upload(&ctx, &items).await.unwrap();
    let ids = index.top_k(&ctx, &query, k).await.unwrap().ids;
    assert_eq!(ids, (0..k as u32).collect::<Vec<_>>());
}

#[wasm_bindgen_test]
async fn webgpu_reads_quantized_bytes_exactly() {
    let ctx = context().await;
    if let Err(e) = parity::gpu_reads_stored_values_exactly(&ctx).await {
        panic!("{e}");
    }
}

/// Issue 5: SwiftShader, headless Chromium's adapter, offers no `shader-f16`, so f16 data takes
/// the unpack path here (lavapipe covers the shader-f16 path natively), and the f16 share of the
/// suite matches the reference on it.
#[wasm_bindgen_test]
async fn webgpu_f16_is_unpacked_without_shader_f16() {
    let ctx = context().await;
    web_sys_log(&format!("f16 path: {} ({})", ctx.f16_path(), ctx.f16_reason()));
    let name = ctx.adapter_info().name.to_lowercase();
    if ctx.is_software() || name.contains("swiftshader") {
        assert_eq!(ctx.f16_path().as_str(), "unpack", "{}", ctx.f16_reason());
        assert_eq!(ctx.f16_reason(), "the adapter does not offer shader-f16");
    }
    if let Err(e) = parity::gpu_f16_cases(&ctx, 0..8).await {
        panic!("{e}");
    }
}

#[wasm_bindgen_test]
async fn webgpu_mlp_matches_reference() {
    let ctx = context().await;
    for seed in 0..16u64 {
        let case = parity::MlpCase::from_seed(seed);
        if let Err(e) = parity::gpu_mlp_case(&ctx, &case).await {
            panic!("{e}");
        }
        parity::cpu_mlp_case(&case).unwrap();
    }
}

#[wasm_bindgen_test]
async fn webgpu_pooling_matches_reference() {
    let ctx = context().await;
    for seed in 0..12u64 {
        if let Err(e) = parity::pool_case(Some(&ctx), &parity::PoolCase::from_seed(seed)).await {
            panic!("{e}");
        }
    }
}

#[wasm_bindgen_test]
async fn webgpu_user_update_gradient_matches_reference() {
    let ctx = context().await;
    for seed in 0..10u64 {
        if let Err(e) = parity::gradient_case(Some(&ctx), seed).await {
            panic!("{e}");
        }
    }
}

#[wasm_bindgen_test]
fn wasm_cpu_path_matches_reference() {
    for seed in 100..160u64 {
        let case = Case::from_seed(seed, 20_000);
        if let Err(e) = parity::cpu_case(&case) {
            panic!("seed {seed}: {e}");
        }
    }
    for case in parity::edge_cases() {
        parity::cpu_case(&case).unwrap();
    }
}

#[wasm_bindgen_test]
async fn bad_input_is_a_typed_error_on_both_backends() {
    let items = || ItemMatrix::new(vec![1.0; 40], 4).unwrap();
    for choice in [BackendChoice::WebGpu, BackendChoice::Cpu] {
        let mut engine = ScoringEngine::from_matrix(items(), choice).await.unwrap();
        let expected =
            if choice == BackendChoice::Cpu { BackendKind::Cpu } else { BackendKind::WebGpu };
        assert_eq!(engine.report().backend, expected, "{:?}", engine.report());
        assert_eq!(
            engine.top_k(&[1.0; 3], 1).await,
            Err(Error::DimensionMismatch { expected: 4, received: 3 })
        );
        assert_eq!(engine.top_k(&[1.0; 4], 0).await, Err(Error::InvalidK { k: 0, max: 10 }));
        assert_eq!(engine.top_k(&[1.0; 4], 11).await, Err(Error::InvalidK { k: 11, max: 10 }));
        assert_eq!(
            engine.top_k(&[1.0, f32::NAN, 1.0, 1.0], 1).await,
            Err(Error::NonFinite { what: "query", position: 1 })
        );
        assert_eq!(engine.top_k(&[1.0; 4], 2).await.unwrap().ids, vec![0, 1]);
    }
    assert_eq!(ItemMatrix::new(vec![], 4), Err(Error::EmptyIndex));
}

#[wasm_bindgen_test]
async fn auto_skips_the_software_adapter_and_says_why() {
    // Headless Chromium's WebGPU adapter is SwiftShader, a fallback (software) adapter.
    let engine =
        ScoringEngine::from_matrix(ItemMatrix::new(vec![1.0; 8], 2).unwrap(), BackendChoice::Auto)
            .await
            .unwrap();
    let ctx = context().await;
    assert_eq!(engine.report().backend, BackendKind::Cpu, "{:?}", engine.report());
    if ctx.is_software() {
        // Decided from the adapter info (GPUAdapterInfo.isFallbackAdapter / "swiftshader"),
        // before any device or pipeline: the reason names the adapter.
        // In headless Chromium the name is "google swiftshader" (vendor and architecture: the
        // description is empty).
        let reason = &engine.report().reason;
        assert!(reason.contains("software"), "{:?}", engine.report());
        assert!(reason.contains(&ctx.adapter_info().name), "{:?}", engine.report());
        assert!(engine.gpu_context().is_none() && !engine.trial_pending());
    } else {
        // Hardware: the CPU answers first; the GPU is timed in the background.
        assert!(engine.trial_pending(), "{:?}", engine.report());
    }
}

fn web_sys_log(message: &str) {
    wasm_bindgen_test::console_log!("{message}");
}

#[path = "common/rerank_conformance.rs"]
mod rerank_conformance;

/// DPP (with and without a sliding window) and MMR select exactly what the published reference
/// implementations select, in wasm too.
#[wasm_bindgen_test]
fn rerank_matches_the_reference_fixtures() {
    if let Err(e) = rerank_conformance::check_all(&rerank_conformance::EMBEDDED) {
        panic!("{e}");
    }
}

#[path = "common/bundle_checks.rs"]
mod bundle_checks;

/// The fixture bundle loads in the browser, dequantizes within each scheme's bound, int8 bytes
/// re-quantized here are bit-identical to the native build's, and every corruption class is
/// rejected with its own error.
#[wasm_bindgen_test]
fn bundle_round_trip_and_corruptions_in_the_browser() {
    let fixture = bundle_checks::fixture();
    if let Err(e) = bundle_checks::check_fixture_round_trip(&fixture) {
        panic!("{e}");
    }
    match bundle_checks::check_fixture_corruptions(&fixture) {
        Ok(codes) => assert!(codes.len() >= 7, "{codes:?}"),
        Err(e) => panic!("{e}"),
    }
}

#[wasm_bindgen_test]
async fn webgpu_softmax_and_mmoe_match_reference() {
    let ctx = context().await;
    if let Err(e) = parity::gpu_softmax_is_stable(&ctx).await {
        panic!("{e}");
    }
    for seed in 0..12u64 {
        if let Err(e) = parity::mmoe_case(Some(&ctx), &parity::MmoeCase::from_seed(seed)).await {
            panic!("{e}");
        }
    }
}

#[wasm_bindgen_test]
fn f16_scan_in_wasm_is_bit_identical_to_widen_then_dot() {
    parity::f16_scan_is_bit_identical_to_widen_then_dot().unwrap();
}

#[wasm_bindgen_test]
fn int8_scan_in_wasm_is_bit_identical_to_row_dots() {
    parity::int8_scan_is_bit_identical_to_row_dots().unwrap();
}
