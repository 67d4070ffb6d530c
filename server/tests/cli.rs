//! The `edgerec` binary's command-line contract.

mod common;

use common::edgerec;

#[test]
fn help_lists_the_subcommands() {
    let out = edgerec(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: edgerec"), "{text}");
    assert!(text.contains("bench"), "{text}");
}

#[test]
fn bench_score_runs_on_the_cpu_and_prints_json_lines() {
    let out = edgerec(&[
        "bench", "score", "--rows", "3000", "--dim", "8", "--k", "5", "--iters", "2", "--no-gpu",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r#""path":"cpu fast""#), "{text}");
    assert!(text.contains(r#""bench":"memory_sum""#), "{text}");
}

#[test]
fn bad_arguments_fail_with_a_message_not_a_panic() {
    let out = edgerec(&["bench", "score", "--rows", "10", "--k", "0", "--no-gpu"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid k = 0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = edgerec(&["frobnicate"]);
    assert!(!out.status.success());
}
