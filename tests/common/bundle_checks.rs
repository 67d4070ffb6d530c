//! Bundle checks written once and run natively (`tests/bundle.rs`) and in the browser
//! (`tests/browser.rs`): each takes the fixture's bytes and returns `Err(description)` instead
//! of panicking, so the harness decides how to report.
//!
//! - [`check_fixture_round_trip`]: load → every tensor dequantizes to the f32 source within its
//!   scheme's bound, and re-quantizing the source on *this* platform gives bit-identical int8
//!   words and scales (run on wasm, that proves native and wasm bytes agree).
//! - [`check_fixture_corruptions`]: every corruption class is rejected with its own error code.

#![allow(dead_code)] // each test binary uses a different subset

use edgerec::bundle::integrity::{public_key_of, sha256_hex};
use edgerec::bundle::{Bundle, DType, LoadOptions, QuantizedMatrix};
use serde_json::Value;

/// Secret key the fixture is signed with. TEST ONLY: it is public, so it proves nothing
/// outside the test suite. Also in `models/fixture/input/TEST_ONLY_signing_key.hex`.
pub const FIXTURE_SIGNING_SEED: [u8; 32] = [0x5e; 32];

/// The fixture bundle's files plus the f32 source they were built from.
#[derive(Debug, Clone, Copy)]
pub struct FixtureBytes<'a> {
    /// `manifest.json`.
    pub manifest: &'a [u8],
    /// `tensors.bin`.
    pub tensors: &'a [u8],
    /// `items.bin`.
    pub items: &'a [u8],
    /// `input/tensors.safetensors` (the f32 source).
    pub source: &'a [u8],
}

/// The committed fixture, embedded at compile time (works on native and wasm).
pub fn fixture() -> FixtureBytes<'static> {
    FixtureBytes {
        manifest: include_bytes!("../../models/fixture/manifest.json"),
        tensors: include_bytes!("../../models/fixture/tensors.bin"),
        items: include_bytes!("../../models/fixture/items.bin"),
        source: include_bytes!("../../models/fixture/input/tensors.safetensors"),
    }
}

/// The public key matching [`FIXTURE_SIGNING_SEED`].
pub fn fixture_public_key() -> [u8; 32] {
    public_key_of(&FIXTURE_SIGNING_SEED)
}

/// Loads `manifest` with the given tensor and item bytes.
pub fn load(
    manifest: &[u8],
    tensors: &[u8],
    items: &[u8],
    key: Option<[u8; 32]>,
) -> edgerec::Result<Bundle> {
    Bundle::from_bytes(
        manifest,
        &[("tensors.bin", tensors), ("items.bin", items)],
        &LoadOptions { public_key: key },
    )
}

/// Minimal safetensors reader for f32 tensors (the `safetensors` crate is a native-only
/// dependency of the builder; this keeps the check runnable on wasm).
pub fn read_f32_source(bytes: &[u8]) -> Result<Vec<(String, Vec<f32>)>, String> {
    let n = u64::from_le_bytes(bytes.get(..8).ok_or("short")?.try_into().map_err(|_| "short")?);
    let header_end = 8 + n as usize;
    let header: Value = serde_json::from_slice(bytes.get(8..header_end).ok_or("short header")?)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (name, info) in header.as_object().ok_or("header is not an object")? {
        if name == "__metadata__" || info["dtype"] != "F32" {
            continue;
        }
        let offs = info["data_offsets"].as_array().ok_or("no data_offsets")?;
        let (a, b) = (offs[0].as_u64().ok_or("offset")?, offs[1].as_u64().ok_or("offset")?);
        let data = bytes
            .get(header_end + a as usize..header_end + b as usize)
            .ok_or("data out of range")?;
        let values =
            data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.push((name.clone(), values));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Round trip: every float source tensor dequantizes within its scheme's bound, and int8
/// tensors re-quantized here are bit-identical to the bundle's words and scales. Returns a
/// one-line summary.
pub fn check_fixture_round_trip(f: &FixtureBytes<'_>) -> Result<String, String> {
    let bundle = load(f.manifest, f.tensors, f.items, Some(fixture_public_key()))
        .map_err(|e| format!("fixture does not load: {e}"))?;
    if !bundle.signature_verified() {
        return Err("fixture signature was not verified".into());
    }
    let sources = read_f32_source(f.source)?;
    let (mut int8_tensors, mut checked) = (0, 0);
    for (name, source) in &sources {
        let view = bundle.tensor(name).ok_or_else(|| format!("{name} missing from the bundle"))?;
        let scheme = view.scheme().ok_or_else(|| format!("{name} is not a float tensor"))?;
        let back = view.dequantize();
        if back.len() != source.len() {
            return Err(format!("{name}: {} values, source has {}", back.len(), source.len()));
        }
        let cols = view.cols();
        for (i, (x, y)) in source.iter().zip(&back).enumerate() {
            let bound = match scheme.dtype {
                DType::F32 => 0.0,
                // Round to nearest f16: relative 2^-11 for normals, 2^-25 absolute below.
                DType::F16 => x.abs() * 2f32.powi(-11) + 2f32.powi(-25),
                DType::I8 => {
                    let s = view.row_scale(i / cols);
                    s / 2.0 + s * 1e-5
                }
            };
            if (x - y).abs() > bound {
                return Err(format!("{name}[{i}]: source {x}, dequantized {y}, bound {bound}"));
            }
        }
        if scheme.dtype == DType::I8 {
            let q = QuantizedMatrix::quantize(source, cols, scheme).map_err(|e| e.to_string())?;
            if q.words() != view.words() {
                return Err(format!("{name}: int8 words differ from a fresh quantization here"));
            }
            let same_scales = q.scales().len() == view.scales().len()
                && q.scales().iter().zip(view.scales()).all(|(a, b)| a.to_bits() == b.to_bits());
            if !same_scales {
                return Err(format!("{name}: scales differ from a fresh quantization here"));
            }
            int8_tensors += 1;
        }
        checked += 1;
    }
    if int8_tensors < 3 {
        return Err(format!("expected ≥ 3 int8 tensors in the fixture, found {int8_tensors}"));
    }
    Ok(format!(
        "{checked} float tensors within bounds, {int8_tensors} int8 tensors bit-identical, \
         {} items",
        bundle.items().len()
    ))
}

/// Applies `edit` to the manifest JSON and re-wraps it unsigned.
pub fn edit_manifest(manifest: &[u8], edit: impl FnOnce(&mut Value)) -> Result<Vec<u8>, String> {
    let mut envelope: Value = serde_json::from_slice(manifest).map_err(|e| e.to_string())?;
    edit(&mut envelope["manifest"]);
    envelope["signature"] = Value::Null;
    serde_json::to_vec(&envelope).map_err(|e| e.to_string())
}

/// Sets the manifest's SHA-256 of `file` to that of `bytes` (to reach the checks behind it).
pub fn rehash(manifest: &[u8], file: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    edit_manifest(manifest, |m| {
        if let Some(files) = m["files"].as_array_mut() {
            for f in files.iter_mut().filter(|f| f["name"] == file) {
                f["sha256"] = Value::String(sha256_hex(bytes));
            }
        }
    })
}

fn expect_code(what: &str, result: edgerec::Result<Bundle>, code: &str) -> Result<(), String> {
    match result {
        Ok(_) => Err(format!("{what}: loaded, expected {code}")),
        Err(e) if e.code() == code => Ok(()),
        Err(e) => Err(format!("{what}: expected {code}, got {} ({e})", e.code())),
    }
}

fn tensor_offset(manifest: &[u8], name: &str) -> Result<usize, String> {
    let v: Value = serde_json::from_slice(manifest).map_err(|e| e.to_string())?;
    v["manifest"]["tensors"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .and_then(|t| t["offset"].as_u64())
        .map(|o| o as usize)
        .ok_or_else(|| format!("{name} not in the manifest"))
}

/// Every corruption class, each rejected with its own error code. Returns the classes checked.
pub fn check_fixture_corruptions(f: &FixtureBytes<'_>) -> Result<Vec<&'static str>, String> {
    let key = Some(fixture_public_key());
    let (m, t, i) = (f.manifest, f.tensors, f.items);
    let mut done = Vec::new();

    // The intact fixture loads, with and without the key.
    load(m, t, i, key).map_err(|e| format!("intact fixture rejected: {e}"))?;
    load(m, t, i, None).map_err(|e| format!("intact fixture rejected without key: {e}"))?;

    // Truncated: a file shorter than declared.
    expect_code("truncated tensors.bin", load(m, &t[..t.len() - 4], i, key), "BUNDLE_TRUNCATED")?;
    expect_code("empty items.bin", load(m, t, &[], key), "BUNDLE_TRUNCATED")?;
    done.push("truncated");

    // Hash mismatch: one flipped bit.
    let mut flipped = t.to_vec();
    flipped[t.len() / 2] ^= 1;
    expect_code("flipped bit", load(m, &flipped, i, key), "HASH_MISMATCH")?;
    done.push("hash mismatch");

    // Bad signature: wrong key; tampered manifest with the right key; unsigned with a key.
    let other = public_key_of(&[1u8; 32]);
    expect_code("wrong key", load(m, t, i, Some(other)), "BAD_SIGNATURE")?;
    let text = std::str::from_utf8(m).map_err(|e| e.to_string())?;
    let tampered = text.replacen("\"temperature\": 0.05", "\"temperature\": 0.5", 1);
    if tampered == text {
        return Err("fixture manifest has no temperature 0.05 to tamper with".into());
    }
    expect_code("tampered manifest", load(tampered.as_bytes(), t, i, key), "BAD_SIGNATURE")?;
    let unsigned = edit_manifest(m, |_| {})?;
    expect_code("unsigned with key", load(&unsigned, t, i, key), "BAD_SIGNATURE")?;
    done.push("bad signature");

    // Unknown version.
    let v2 = edit_manifest(m, |m| m["format_version"] = 2.into())?;
    expect_code("format_version 2", load(&v2, t, i, None), "UNSUPPORTED_VERSION")?;
    done.push("unknown version");

    // Shape mismatch: the shape no longer fits the byte length.
    let reshaped = edit_manifest(m, |m| {
        if let Some(ts) = m["tensors"].as_array_mut() {
            for t in ts.iter_mut().filter(|t| t["name"] == "ranker.w0") {
                t["shape"] = serde_json::json!([16, 39]);
            }
        }
    })?;
    expect_code("ranker.w0 [16, 39]", load(&reshaped, t, i, None), "BUNDLE_SHAPE_MISMATCH")?;
    done.push("shape mismatch");

    // Duplicate id: item 1's id points at item 0's id string (a record's first word).
    let mut dup = i.to_vec();
    let (rec0, rec1) = (8 * 4, (8 + 9) * 4);
    let id0: [u8; 4] = dup[rec0..rec0 + 4].try_into().map_err(|_| "items too short")?;
    dup[rec1..rec1 + 4].copy_from_slice(&id0);
    let m_dup = rehash(m, "items.bin", &dup)?;
    expect_code("duplicate id", load(&m_dup, t, &dup, None), "DUPLICATE_ID")?;
    done.push("duplicate id");

    // NaN in an f32 tensor and in an f16 tensor.
    for (name, nan) in [("ranker.w0", f32::NAN.to_bits()), ("user_tower.w0", 0x7e00)] {
        let mut bad = t.to_vec();
        let at = tensor_offset(m, name)?;
        bad[at..at + 4].copy_from_slice(&nan.to_le_bytes());
        let m_nan = rehash(m, "tensors.bin", &bad)?;
        expect_code(name, load(&m_nan, &bad, i, None), "BUNDLE_NON_FINITE")?;
    }
    done.push("NaN");

    // Offsets out of range (structural corruption).
    let past_end = edit_manifest(m, |m| {
        if let Some(ts) = m["tensors"].as_array_mut() {
            for t in ts.iter_mut().filter(|t| t["name"] == "ranker.w0") {
                t["offset"] = (1u64 << 40).into();
            }
        }
    })?;
    expect_code("offset past the end", load(&past_end, t, i, None), "BUNDLE_CORRUPT")?;
    expect_code("not JSON", load(b"{\"manifest\": [", t, i, None), "BUNDLE_CORRUPT")?;
    done.push("offset out of range / unparsable");
    Ok(done)
}
