//! The user model's GPU path against its CPU path, written once and run natively on lavapipe
//! (`tests/user.rs`) and in Chromium's WebGPU (`tests/browser_user.rs`): the same clicks are
//! recorded on both paths (same negative samples, so the residuals may differ only by float
//! rounding), and the tower output, the residual and the final query are compared.

#![allow(dead_code)] // each test binary uses a different subset

use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::gpu::GpuContext;
use edgerec::user::{GpuUserModel, Interaction, UserConfig, UserModel, UserState};

/// The shipped MovieLens bundle from its bytes (embedded in browser tests).
pub fn movielens(manifest: &[u8], tensors: &[u8], items: &[u8]) -> Result<Bundle, String> {
    Bundle::from_bytes(
        manifest,
        &[("tensors.bin", tensors), ("items.bin", items)],
        &LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{what}: lengths {} and {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if (x - y).abs() > tol * (1.0 + x.abs()) {
            return Err(format!("{what} [{i}]: cpu {x}, gpu {y}"));
        }
    }
    Ok(())
}

/// Records `ids` as clicks a minute apart on both paths and compares every 10 clicks: tower
/// within 1e-4, residual and query within 1e-3 (relative to 1 + |cpu|).
pub async fn check_user_model_gpu(
    ctx: &GpuContext,
    bundle: &Bundle,
    ids: &[&str],
    start_ms: f64,
) -> Result<(), String> {
    let e = |e: edgerec::Error| e.to_string();
    let model = UserModel::from_bundle(bundle, UserConfig::default()).map_err(e)?;
    let mut gpu = GpuUserModel::upload(ctx, &model).await.map_err(e)?;
    let (mut cpu_state, mut gpu_state) = (UserState::new(), UserState::new());
    if model.tower_query_gpu(ctx, &mut gpu, &gpu_state).await.map_err(e)?.is_some() {
        return Err("a cold user has a tower query on the GPU".into());
    }
    for (i, id) in ids.iter().enumerate() {
        let t = start_ms + i as f64 * 60_000.0;
        let click = Interaction::click(*id, t);
        model.record(&mut cpu_state, &click, t).map_err(e)?;
        model.record_gpu(ctx, &mut gpu, &mut gpu_state, &click, t).await.map_err(e)?;
        if i % 10 == 0 || i == ids.len() - 1 {
            let cpu = model.tower_query(&cpu_state).map_err(e)?.ok_or("no CPU tower query")?;
            let on_gpu = model
                .tower_query_gpu(ctx, &mut gpu, &cpu_state)
                .await
                .map_err(e)?
                .ok_or("no GPU tower query")?;
            close(&cpu, &on_gpu, 1e-4, &format!("tower after {} clicks", i + 1))?;
            close(cpu_state.residual(), gpu_state.residual(), 1e-3, &format!("residual {i}"))?;
            let q_cpu = model.query(&cpu_state).map_err(e)?.ok_or("no CPU query")?;
            let q_gpu = model
                .query_gpu(ctx, &mut gpu, &gpu_state)
                .await
                .map_err(e)?
                .ok_or("no GPU query")?;
            close(&q_cpu, &q_gpu, 1e-3, &format!("query {i}"))?;
        }
    }
    if cpu_state.history() != gpu_state.history() {
        return Err("histories differ".into());
    }
    // Bad input is refused on the GPU path too, without changes.
    let bytes = gpu_state.to_bytes();
    match model
        .record_gpu(ctx, &mut gpu, &mut gpu_state, &Interaction::click("nope", start_ms), start_ms)
        .await
    {
        Err(err) if err.code() == "UNKNOWN_ITEM" => {}
        other => return Err(format!("an unknown id gave {other:?}")),
    }
    if gpu_state.to_bytes() != bytes {
        return Err("a refused click changed the state".into());
    }
    Ok(())
}
