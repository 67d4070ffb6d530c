//! Every WGSL module parses and validates with naga, so a shader typo fails `cargo test` rather
//! than a browser session.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::compute::gpu::shaders;

#[test]
fn every_shader_parses_and_validates() {
    for (name, source) in shaders::ALL {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            // unpack2x16float (core WGSL) is gated on this capability in naga; every WebGPU
            // device grants it, so it is the only one allowed.
            naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    }
}

#[test]
fn every_shader_file_is_used() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                shaders::ALL.iter().any(|(_, source)| source.contains(text.trim())),
                "{} is not part of any assembled module",
                path.display()
            );
        }
    }
}

#[test]
fn workgroup_constants_match_the_rust_side() {
    let common = include_str!("../shaders/topk_common.wgsl");
    assert!(common.contains(&format!("const TILE: u32 = {}u;", shaders::TILE_ROWS)));
    assert!(common.contains(&format!("const WORKGROUP: u32 = {}u;", shaders::WORKGROUP_SIZE)));
    for source in [shaders::SCORE_TOPK, shaders::MERGE_TOPK] {
        assert!(source.contains(&format!("@workgroup_size({})", shaders::WORKGROUP_SIZE)));
    }
    assert!(
        shaders::DENSE.contains(&format!("@workgroup_size({})", shaders::DENSE_WORKGROUP_SIZE))
    );
    assert!(shaders::POOL.contains(&format!("@workgroup_size({})", shaders::POOL_WORKGROUP_SIZE)));
    assert!(shaders::DENSE.contains(&format!(
        "const SOFTMAX_WORKGROUP: u32 = {}u;",
        shaders::SOFTMAX_WORKGROUP_SIZE
    )));
    assert!(shaders::DENSE.contains(&format!(
        "var<workgroup> partial: array<f32, {}>;",
        shaders::SOFTMAX_WORKGROUP_SIZE
    )));
    assert!(shaders::MMOE.contains(&format!("@workgroup_size({})", shaders::MIX_WORKGROUP_SIZE)));
    assert!(
        shaders::POOL
            .contains(&format!("const POOL_WORKGROUP: u32 = {}u;", shaders::POOL_WORKGROUP_SIZE))
    );
}
