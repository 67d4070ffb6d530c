//! `edgerec recommend` on the shipped MovieLens bundle: the SDK's whole funnel from the command
//! line, printed as the camelCase `Recommendations` JSON.

mod common;

use common::{edgerec, repo, scratch, stderr, write};
use serde_json::Value;
use std::collections::HashSet;

/// A fixed request time, so runs are reproducible.
const NOW: &str = "1700000000000";
/// Toy Story, Star Wars IV, The Matrix.
const CLICKS: &str = "1,260,2571";

fn bundle() -> String {
    repo().join("models/movielens-small").display().to_string()
}

/// Runs `edgerec recommend --bundle <sample> --now NOW <args>`, requires success and parses the
/// one JSON object it prints.
fn recommend(args: &[&str]) -> Value {
    let bundle = bundle();
    let out = edgerec(&[&["recommend", "--bundle", &bundle, "--now", NOW], args].concat());
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn failure(args: &[&str]) -> String {
    let out = edgerec(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items array")
}

fn ids(v: &Value) -> Vec<String> {
    items(v).iter().map(|i| i["id"].as_str().expect("id").to_string()).collect()
}

#[test]
fn prints_k_items_and_a_trace() {
    let v = recommend(&["--clicks", CLICKS, "--k", "10"]);
    let list = items(&v);
    assert_eq!(list.len(), 10, "{v}");
    let unique: HashSet<String> = ids(&v).into_iter().collect();
    assert_eq!(unique.len(), 10, "no duplicates: {v}");
    for clicked in CLICKS.split(',') {
        assert!(!unique.contains(clicked), "consumed item {clicked} recommended");
    }
    for item in list {
        assert!(item["score"].as_f64().is_some_and(f64::is_finite), "{item}");
        assert!(item["categories"].is_array() && item["channels"].is_array(), "{item}");
        assert!(item["rankedPosition"].is_u64() && item["placedBy"].is_string(), "{item}");
        assert!(!item["channels"].as_array().unwrap().is_empty(), "{item}");
    }
    let trace = &v["trace"];
    assert_eq!(trace["backend"], "cpu", "{trace}");
    assert_eq!(trace["cold"], false, "{trace}");
    assert!(trace["candidates"].as_u64().unwrap_or(0) >= 10, "{trace}");
    assert!(!trace["recall"].as_array().expect("recall").is_empty(), "{trace}");
    assert!(trace["timings"]["totalMs"].is_number(), "{trace}");
    // The same request gives the same list.
    assert_eq!(ids(&recommend(&["--clicks", CLICKS, "--k", "10"])), ids(&v));
    // A cold user gets a list too.
    assert_eq!(items(&recommend(&["--k", "5"])).len(), 5);
}

/// The longest run of items sharing their first category, and the first categories.
fn longest_run(v: &Value) -> (usize, Vec<String>) {
    let first: Vec<String> =
        items(v).iter().map(|i| i["categories"][0].as_str().unwrap_or("").to_string()).collect();
    let (mut run, mut longest) = (0, 0);
    for (i, c) in first.iter().enumerate() {
        run = if i > 0 && first[i - 1] == *c { run + 1 } else { 1 };
        longest = longest.max(run);
    }
    (longest, first)
}

#[test]
fn max_consecutive_rule_holds_on_the_first_category() {
    // Science-fiction action: without the rule, the list is mostly "Action" in long runs.
    let clicks = "2571,1240,589,1200,1214";
    let rule = r#"{"kind":"max_consecutive","attribute":"category","max":2}"#;
    for diversity in ["none", "dpp"] {
        let base = ["--clicks", clicks, "--k", "20", "--diversity", diversity];
        let (free, first) = longest_run(&recommend(&base));
        assert!(free > 2, "{diversity}: the rule has nothing to do: {first:?}");
        let v = recommend(&[&base[..], &["--rule", rule]].concat());
        assert_eq!(items(&v).len(), 20);
        let (longest, first) = longest_run(&v);
        assert!(longest <= 2, "{diversity}: run of {longest} in {first:?}");
        assert_eq!(v["trace"]["relaxedRules"], serde_json::json!([]), "{diversity}: {v}");
        assert!(items(&v).iter().any(|i| i["placedBy"] == "rule"), "{diversity}: {v}");
    }
}

#[test]
fn dpp_changes_the_list_and_none_keeps_the_ranked_order() {
    let none = recommend(&["--clicks", CLICKS, "--k", "10", "--diversity", "none"]);
    let dpp = recommend(&["--clicks", CLICKS, "--k", "10", "--diversity", "dpp"]);
    assert_ne!(ids(&none), ids(&dpp), "dpp should re-order\n{none}\n{dpp}");
    assert_eq!(none["trace"]["diversity"], "none");
    assert_eq!(dpp["trace"]["diversity"], "dpp");
    for (i, item) in items(&none).iter().enumerate() {
        assert_eq!(item["rankedPosition"], i, "none keeps the ranked order: {item}");
    }
    assert!(
        items(&dpp).iter().any(|i| i["placedBy"] == "diversity"),
        "dpp placed something by diversity: {dpp}"
    );
    let mmr = recommend(&[
        "--clicks",
        CLICKS,
        "--k",
        "10",
        "--diversity",
        "mmr",
        "--lambda",
        "0.5",
        "--similarity",
        "category",
    ]);
    assert_eq!(items(&mmr).len(), 10);
    assert_eq!(mmr["trace"]["diversity"], "mmr");
}

#[test]
fn candidates_replace_recall_and_unknown_ids_are_reported() {
    let dir = scratch("candidates");
    // Popular MovieLens ids, best first, plus two the bundle does not know.
    let known = [
        "318", "356", "296", "593", "2959", "527", "110", "589", "480", "1196", "50", "47", "780",
        "150", "1198", "4993", "1210", "858", "457", "592",
    ];
    let mut list: Vec<Value> = known
        .iter()
        .enumerate()
        .map(|(i, id)| serde_json::json!({ "id": id, "score": 1.0 - i as f64 / 100.0 }))
        .collect();
    list.insert(3, serde_json::json!({ "id": "no-such-item", "score": 0.97 }));
    list.push(serde_json::json!({ "id": "999999999", "score": 0.1 }));
    let file = write(&dir, "candidates.json", &Value::Array(list).to_string());
    let v = recommend(&["--clicks", CLICKS, "--k", "10", "--candidates", &file]);
    assert_eq!(items(&v).len(), 10, "{v}");
    let allowed: HashSet<&str> =
        known.iter().copied().chain(["no-such-item", "999999999"]).collect();
    for id in ids(&v) {
        assert!(allowed.contains(id.as_str()), "{id} is not a server candidate: {v}");
    }
    let mut unknown: Vec<&str> = v["trace"]["unknownCandidates"]
        .as_array()
        .expect("unknownCandidates")
        .iter()
        .map(|x| x.as_str().unwrap_or(""))
        .collect();
    unknown.sort_unstable();
    assert_eq!(unknown, ["999999999", "no-such-item"], "{}", v["trace"]);
    assert!(v["trace"]["recall"].as_array().is_none_or(Vec::is_empty), "{}", v["trace"]);
}

#[test]
fn bad_inputs_fail_with_a_message_not_a_panic() {
    let bundle = bundle();
    let base = ["recommend", "--bundle", bundle.as_str(), "--now", NOW];
    let with = |extra: &[&str]| failure(&[&base[..], extra].concat());

    let err = with(&["--rule", r#"{"kind":"max_consecutive","attribute":"category""#]);
    assert!(err.contains("--rule #1"), "{err}");
    let err = with(&["--rule", r#"{"kind":"max_consecutiv","attribute":"category","max":2}"#]);
    assert!(err.contains("--rule #1") && err.contains("max_consecutiv"), "{err}");
    let err = with(&["--clicks", "1,no-such-movie"]);
    assert!(err.contains("--clicks") && err.contains("no-such-movie"), "{err}");
    let err = with(&["--k", "ten"]);
    assert!(err.contains("--k") && err.contains("ten"), "{err}");
    let err = with(&["--k", "0"]);
    assert!(err.contains("--k"), "{err}");
    let err = with(&["--theta", "1.5", "--diversity", "dpp"]);
    assert!(err.contains("theta"), "{err}");
    let err = with(&["--lambda=-1", "--diversity", "mmr"]);
    assert!(err.contains("lambda"), "{err}");
    let err = with(&["--diversity", "random"]);
    assert!(err.contains("random"), "{err}");
    let err = with(&["--candidates", "/nonexistent/candidates.json"]);
    assert!(err.contains("/nonexistent/candidates.json"), "{err}");
    let dir = scratch("bad");
    let file = write(&dir, "c.json", r#"{"id": "1"}"#);
    let err = with(&["--candidates", &file]);
    assert!(err.contains("c.json"), "{err}");
    let err = failure(&["recommend", "--bundle", "/nonexistent/bundle"]);
    assert!(err.contains("/nonexistent/bundle"), "{err}");
}
