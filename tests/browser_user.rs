//! The on-device user model in headless Chromium: its GPU path (WebGPU, SwiftShader here)
//! against its CPU path on the shipped MovieLens bundle, by the suite in
//! `tests/common/user_parity.rs` (also run natively by `tests/user.rs`).
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "common/user_parity.rs"]
mod user_parity;

use edgerec::compute::gpu::GpuContext;

const MANIFEST: &[u8] = include_bytes!("../models/movielens-small/manifest.json");
const TENSORS: &[u8] = include_bytes!("../models/movielens-small/tensors.bin");
const ITEMS: &[u8] = include_bytes!("../models/movielens-small/items.bin");

/// Horror films, then a spread of other items, so the residual turns.
const CLICKS: [&str; 25] = [
    "1258", "1982", "3917", "3016", "2513", "1", "2", "3", "5", "6", "7", "10", "11", "16", "17",
    "19", "21", "22", "24", "25", "26", "29", "31", "32", "34",
];

#[wasm_bindgen_test]
async fn user_model_gpu_matches_cpu_in_the_browser() {
    let bundle = user_parity::movielens(MANIFEST, TENSORS, ITEMS).expect("bundle loads");
    let ctx = match GpuContext::new().await {
        Ok(ctx) => ctx,
        Err(e) => panic!("WebGPU is required in the browser tests: {e}"),
    };
    if let Err(e) =
        user_parity::check_user_model_gpu(&ctx, &bundle, &CLICKS, 1_537_000_000_000.0).await
    {
        panic!("{e}");
    }
}
