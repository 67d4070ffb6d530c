//! `edgerec rerank dpp|mmr|bench` against the reference fixtures in `tests/fixtures/`: the
//! binary's output must equal the reference selections exactly.

mod common;

use common::edgerec;

use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
    path.to_string_lossy().into_owned()
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture JSON readable");
    serde_json::from_str(&text).expect("fixture JSON parses")
}

/// Runs the command, requires success, and parses the single JSON line it prints.
fn selected(args: &[&str]) -> Value {
    let out = edgerec(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn failure(args: &[&str]) -> String {
    let out = edgerec(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Writes a small float64 `.npy` into the target directory and returns its path.
fn write_npy(name: &str, shape: &str, values: &[f64]) -> String {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp npy");
    path.to_string_lossy().into_owned()
}

#[test]
fn dpp_matches_the_authors_reference() {
    let want = expected("dpp_n1000_d64_k50_seed42.json");
    let kernel = fixture("dpp_kernel_n1000_d64_seed42.npy");
    let got = selected(&["rerank", "dpp", "--kernel", &kernel, "--k", "50"]);
    assert_eq!(got, json!({ "selected": want["selected"] }));
    let got = selected(&["rerank", "dpp", "--kernel", &kernel, "--k", "50", "--window", "10"]);
    assert_eq!(got, json!({ "selected": want["selected_sw_window10"] }));
    let eps = selected(&["rerank", "dpp", "--kernel", &kernel, "--k", "50", "--epsilon", "1e-10"]);
    assert_eq!(eps, json!({ "selected": want["selected"] }));
}

#[test]
fn mmr_matches_the_reference_for_every_lambda() {
    let want = expected("mmr_n1000_d64_k50_seed2024.json");
    let (items, query) =
        (fixture("mmr_E_n1000_d64_seed2024.npy"), fixture("mmr_q_d64_seed2024.npy"));
    let mut checked = 0;
    for (key, case) in want.as_object().expect("object") {
        let Some(lambda) = key.strip_prefix("lambda=") else { continue };
        let args = [
            "rerank", "mmr", "--items", &items, "--query", &query, "--k", "50", "--lambda", lambda,
        ];
        assert_eq!(selected(&args), json!({ "selected": case["selected"] }), "λ = {lambda}");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn bench_prints_a_table_and_json_lines() {
    let out = edgerec(&[
        "rerank",
        "bench",
        "--kernel",
        &fixture("dpp_kernel_n1000_d64_seed42.npy"),
        "--items",
        &fixture("mmr_E_n1000_d64_seed2024.npy"),
        "--query",
        &fixture("mmr_q_d64_seed2024.npy"),
        "--k",
        "10",
        "--iters",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for algo in ["dpp", "dpp_window10", "mmr_lambda0.5"] {
        assert!(text.contains(&format!(r#""algo":"{algo}""#)), "{text}");
    }
    assert!(text.contains("median ms"), "{text}");
}

#[test]
fn bad_inputs_fail_with_a_message_not_a_panic() {
    let kernel = fixture("dpp_kernel_n1000_d64_seed42.npy");
    let err = failure(&["rerank", "dpp", "--kernel", &kernel, "--k", "1001"]);
    assert!(err.contains("invalid k = 1001"), "{err}");
    let err = failure(&["rerank", "dpp", "--kernel", "/nonexistent/k.npy", "--k", "5"]);
    assert!(err.contains("/nonexistent/k.npy"), "{err}");
    let err = failure(&["rerank", "dpp", "--kernel", &kernel, "--k", "5", "--epsilon", "0"]);
    assert!(err.contains("epsilon"), "{err}");
    let err = failure(&["rerank", "dpp", "--kernel", &kernel, "--k", "5", "--window", "0"]);
    assert!(err.contains("window"), "{err}");
    let rect = write_npy("rect.npy", "(2, 3)", &[1.0; 6]);
    let err = failure(&["rerank", "dpp", "--kernel", &rect, "--k", "1"]);
    assert!(err.contains("must be square"), "{err}");
    let asym = write_npy("asym.npy", "(2, 2)", &[1.0, 0.5, 0.1, 1.0]);
    let err = failure(&["rerank", "dpp", "--kernel", &asym, "--k", "1"]);
    assert!(err.contains("not symmetric"), "{err}");
    let nan = write_npy("nan.npy", "(2, 2)", &[1.0, f64::NAN, f64::NAN, 1.0]);
    let err = failure(&["rerank", "dpp", "--kernel", &nan, "--k", "1"]);
    assert!(err.contains("non-finite"), "{err}");
    let flat = write_npy("flat.npy", "(4,)", &[1.0; 4]);
    let err = failure(&["rerank", "dpp", "--kernel", &flat, "--k", "1"]);
    assert!(err.contains("2-d"), "{err}");
    let items = fixture("mmr_E_n1000_d64_seed2024.npy");
    let query = write_npy("q3.npy", "(3,)", &[1.0, 0.0, 0.0]);
    let args = ["rerank", "mmr", "--items", &items, "--query", &query, "--k", "5", "--lambda"];
    let err = failure(&[&args[..], &["0.5"]].concat());
    assert!(err.contains("dimension mismatch: expected 64, received 3"), "{err}");
    let query = fixture("mmr_q_d64_seed2024.npy");
    let args = ["rerank", "mmr", "--items", &items, "--query", &query, "--k", "5", "--lambda"];
    let err = failure(&[&args[..], &["1.5"]].concat());
    assert!(err.contains("lambda"), "{err}");
}
