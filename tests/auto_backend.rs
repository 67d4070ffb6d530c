//! `auto` backend selection, issue 15's "instant start": a software adapter is recognised from
//! its adapter info, before any device is requested or pipeline compiled; a hardware adapter is
//! opened and timed against the CPU in the background while the CPU answers.
//!
//! Natively the adapter is Vulkan: lavapipe (a CPU-type adapter) in `make test`. Without one
//! these tests skip with a message, unless `EDGEREC_REQUIRE_GPU=1` turns the skip into a
//! failure. No wall-clock assertions: the decisions are checked through the report.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::bundle::QuantScheme;
use edgerec::compute::gpu::GpuAdapter;
use edgerec::compute::{BackendChoice, ItemIndex, ScoringEngine, Similarity};
use edgerec::{BackendKind, ItemMatrix};
use pollster::block_on;

fn adapter() -> Option<GpuAdapter> {
    match block_on(GpuAdapter::request()) {
        Ok(adapter) => {
            eprintln!(
                "GPU adapter: {:?}; software: {:?}",
                adapter.info(),
                adapter.software_reason()
            );
            Some(adapter)
        }
        Err(e) if std::env::var_os("EDGEREC_REQUIRE_GPU").is_some() => {
            panic!("EDGEREC_REQUIRE_GPU is set but no GPU adapter was found: {e}")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// Small integers: every dot product is exact in f32 on both backends, so results compare
/// exactly (ties go to the lower row on both).
fn index(rows: usize, dim: usize) -> ItemIndex {
    let data = (0..rows * dim).map(|i| ((i * 31 + 7) % 13) as f32 - 6.0).collect();
    ItemIndex::quantize(&ItemMatrix::new(data, dim).unwrap(), QuantScheme::F32, Similarity::Dot)
        .unwrap()
}

#[test]
fn auto_on_a_software_adapter_keeps_the_cpu_without_opening_a_device() {
    let Some(adapter) = adapter() else { return };
    let name = adapter.info().name.clone();
    if name.to_lowercase().contains("llvmpipe") {
        assert!(adapter.is_software(), "lavapipe must be recognised as software: {name}");
    }
    let mut engine = block_on(ScoringEngine::new(index(500, 8), BackendChoice::Auto)).unwrap();
    let report = engine.report().clone();
    assert_eq!(report.backend, BackendKind::Cpu, "{report:?}");
    assert_eq!(report.adapter.as_deref(), Some(name.as_str()));
    assert!(report.trial.is_none(), "{report:?}");
    if adapter.is_software() {
        // Decided from the adapter info: no device, no pipelines, no upload, no trial.
        assert!(report.reason.contains("software"), "{report:?}");
        assert!(report.reason.contains(&name), "the reason names the adapter: {report:?}");
        assert!(report.reason.contains("no GPU device was opened"), "{report:?}");
        assert!(engine.gpu_context().is_none());
        assert!(!engine.trial_pending(), "no background trial on a software adapter");
    } else {
        // Hardware: the CPU answers at once while the GPU is prepared in the background.
        assert!(engine.trial_pending(), "{report:?}");
        assert!(report.reason.contains("in the background"), "{report:?}");
    }
    assert_eq!(block_on(engine.top_k(&[1.0; 8], 3)).unwrap().ids.len(), 3);
}

#[test]
fn background_trial_answers_on_the_cpu_then_adopts_the_faster_backend() {
    let Some(adapter) = adapter() else { return };
    let dim = 32;
    let mut engine = block_on(ScoringEngine::new(index(20_000, dim), BackendChoice::Cpu)).unwrap();
    let query: Vec<f32> = (0..dim).map(|i| (i % 5) as f32 - 2.0).collect();
    let reference = block_on(engine.top_k(&query, 10)).unwrap();

    // What `auto` does for a hardware adapter, forced here onto whatever adapter there is.
    engine.start_trial(adapter);
    assert!(engine.trial_pending());
    let report = engine.report().clone();
    assert_eq!(report.backend, BackendKind::Cpu, "{report:?}");
    assert!(report.reason.contains("in the background"), "{report:?}");
    // Queries are answered while the trial runs (by the CPU, or by the winner if it is done).
    assert_eq!(block_on(engine.top_k(&query, 10)).unwrap(), reference);

    block_on(engine.finish_trial());
    assert!(!engine.trial_pending());
    let report = engine.report().clone();
    let trial = report.trial.unwrap_or_else(|| panic!("trial timings recorded: {report:?}"));
    assert!(trial.cpu_ms > 0.0 && trial.gpu_ms > 0.0, "{trial:?}");
    let faster = if trial.gpu_ms <= trial.cpu_ms { BackendKind::WebGpu } else { BackendKind::Cpu };
    assert_eq!(report.backend, faster, "{report:?}");
    assert_eq!(engine.gpu_context().is_some(), faster == BackendKind::WebGpu);
    assert!(report.reason.contains("timed trial (in the background)"), "{report:?}");
    eprintln!("background trial: {report:?}");
    assert_eq!(block_on(engine.top_k(&query, 10)).unwrap(), reference);
}
