//! `edgerec bundle build | inspect | verify`: the documented fixture command reproduces the
//! committed fixture byte for byte, and `verify` fails with a non-zero exit on any mismatch.

mod common;

use common::edgerec;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixture")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgerec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The public key of the fixture's TEST-ONLY signing key.
const FIXTURE_PUBLIC_KEY_FILE: &str = "input/TEST_ONLY_signing_key.hex";

fn public_key_hex() -> String {
    let seed = std::fs::read_to_string(fixture().join(FIXTURE_PUBLIC_KEY_FILE)).expect("key");
    let seed = edgerec::bundle::integrity::decode_hex::<32>(seed.trim()).expect("hex seed");
    edgerec::bundle::integrity::encode_hex(&edgerec::bundle::integrity::public_key_of(&seed))
}

fn build_fixture_into(out: &Path) -> Output {
    let f = fixture();
    let p = |s: &str| f.join(s).to_string_lossy().into_owned();
    // Keep in sync with models/README.md ("Regenerating the fixture").
    edgerec(&[
        "bundle",
        "build",
        "--tensors",
        &p("input/tensors.safetensors"),
        "--items",
        &p("input/items.jsonl"),
        "--out",
        &out.to_string_lossy(),
        "--model-id",
        "fixture",
        "--model-version",
        "1",
        "--created-at",
        "2025-01-01T00:00:00Z",
        "--similarity",
        "cosine",
        "--temperature",
        "0.05",
        "--quant",
        "user_tower.w0=f16",
        "--quant",
        "user_tower.w1=i8-f16",
        "--quant",
        "ranker.w1=i8-tensor",
        "--quant",
        "i2i.scores=f16",
        "--quant",
        "stats.freshness=f16",
        "--signing-key",
        &p(FIXTURE_PUBLIC_KEY_FILE),
    ])
}

#[test]
fn build_reproduces_the_committed_fixture_and_reports_quality() {
    let out = scratch("build");
    let o = build_fixture_into(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let index = &report["item_index"];
    assert!(index["size_ratio"].as_f64().unwrap() <= 0.30, "{report}");
    assert!(index["recall_at_100"].as_f64().unwrap() >= 0.99, "{report}");
    assert_eq!(report["public_key"], public_key_hex());
    for name in ["manifest.json", "tensors.bin", "items.bin"] {
        let a = std::fs::read(out.join(name)).expect("built file");
        let b = std::fs::read(fixture().join(name)).expect("fixture file");
        assert!(a == b, "{name} differs from models/fixture");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn inspect_prints_manifest_sizes_and_checks() {
    let key = public_key_hex();
    let fx = fixture();
    let o = edgerec(&["bundle", "inspect", &fx.to_string_lossy(), "--public-key", &key]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    for needle in [
        "fixture 1",
        "tensors.bin",
        "sha256 ok",
        "item_embeddings",
        "all checks passed",
        "verified",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
}

#[test]
fn verify_passes_on_the_fixture_and_fails_on_any_mismatch() {
    let key = public_key_hex();
    let fx = fixture();
    let ok = edgerec(&["bundle", "verify", &fx.to_string_lossy(), "--public-key", &key]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("signature verified"));

    let wrong = "00".repeat(31) + "01";
    let bad_key = edgerec(&["bundle", "verify", &fx.to_string_lossy(), "--public-key", &wrong]);
    assert!(!bad_key.status.success());
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("BAD_SIGNATURE"));

    let dir = scratch("verify");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["manifest.json", "tensors.bin", "items.bin"] {
        std::fs::copy(fx.join(name), dir.join(name)).unwrap();
    }
    let mut t = std::fs::read(dir.join("tensors.bin")).unwrap();
    t[100] ^= 0x40;
    std::fs::write(dir.join("tensors.bin"), &t).unwrap();
    let o = edgerec(&["bundle", "verify", &dir.to_string_lossy()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("HASH_MISMATCH") && err.contains("tensors.bin"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = edgerec(&["bundle", "inspect", &dir.to_string_lossy()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("HASH MISMATCH"));
    let _ = std::fs::remove_dir_all(&dir);
}
