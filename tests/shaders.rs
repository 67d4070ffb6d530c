//! Every WGSL module parses and validates with naga, so a shader typo fails `cargo test` rather
//! than a browser session.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::compute::gpu::shaders;

fn validate(
    name: &str,
    source: &str,
    capabilities: naga::valid::Capabilities,
) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("{name}: {}", e.emit_to_string(source)))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|e| format!("{name}: {}", e.emit_to_string(source)))?;
    Ok(())
}

/// unpack2x16float (core WGSL) is gated on this capability in naga; every WebGPU device grants
/// it, so it is all the packed modules may use.
const CORE: naga::valid::Capabilities = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;

#[test]
fn every_shader_parses_and_validates() {
    for (name, source) in shaders::ALL {
        let capabilities = if shaders::needs_shader_f16(source) {
            // What wgpu grants a device created with `Features::SHADER_F16`.
            CORE | naga::valid::Capabilities::SHADER_FLOAT16
        } else {
            CORE
        };
        validate(name, source, capabilities).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Each kernel that reads stored values has a packed build (runs on every device, SwiftShader
/// included) and a `shader-f16` build, and only the latter needs the feature.
#[test]
fn f16_builds_need_shader_f16_and_packed_builds_do_not() {
    let pairs = [
        (shaders::SCORE_TOPK, shaders::SCORE_TOPK_F16),
        (shaders::DENSE, shaders::DENSE_F16),
        (shaders::POOL, shaders::POOL_F16),
    ];
    for (packed, native) in pairs {
        assert!(!shaders::needs_shader_f16(packed) && shaders::needs_shader_f16(native));
        assert!(!packed.contains("f16>") && !packed.contains("enable f16"));
        let err = validate("f16 build", native, CORE).expect_err("f16 without the capability");
        assert!(err.contains("f16") || err.contains("F16"), "{err}");
    }
    for (name, source) in shaders::ALL {
        assert_eq!(shaders::needs_shader_f16(source), name.ends_with("_f16"), "{name}");
    }
}

/// naga (wgpu 30) lowers `bitcast<T>(e)` to a cast that keeps `e`'s width and vector size and
/// takes only T's scalar kind (`Expression::As { convert: None }`), so `bitcast<vec2<f16>>(w)`
/// validates but computes `vec2(bitcast<f32>(w))`: on lavapipe the f16 word 0xc000_3c00
/// (1.0, -2.0) read back as (-2.0037, -2.0037). gfx-rs/wgpu#8896, gfx-rs/wgpu#4403. The f16
/// build declares f16 storage instead (`shaders/f16_native.wgsl`); keep the bitcast out.
#[test]
fn no_shader_bitcasts_between_f16_vectors_and_words() {
    for (name, source) in shaders::ALL {
        let code: String = source
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for bad in ["bitcast<vec2<f16>>", "bitcast<vec4<f16>>", "bitcast<f16>"] {
            assert!(!code.contains(bad), "{name} uses {bad}");
        }
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
    for source in [shaders::SCORE_TOPK, shaders::SCORE_TOPK_F16, shaders::MERGE_TOPK] {
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

/// The workgroup memory every module declares, counted as Dawn counts it (each variable rounded
/// up to 16 bytes), fits the limit the device is asked for: Chromium refuses the pipeline
/// otherwise, which only a browser run would show.
#[test]
fn workgroup_memory_fits_the_requested_limit() {
    for (name, source) in shaders::ALL {
        let module = naga::front::wgsl::parse_str(source).unwrap();
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let bytes: u32 = module
            .global_variables
            .iter()
            .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
            .map(|(_, v)| layouter[v.ty].size.next_multiple_of(16))
            .sum();
        assert!(
            bytes <= shaders::WORKGROUP_STORAGE_BYTES,
            "{name}: {bytes} bytes of workgroup memory, the device is asked for {}",
            shaders::WORKGROUP_STORAGE_BYTES
        );
        if name.starts_with("score_topk") {
            assert_eq!(bytes, shaders::WORKGROUP_STORAGE_BYTES, "{name}: the limit is exact");
        }
    }
}
