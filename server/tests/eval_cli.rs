//! `edgerec eval`: split mode, metrics JSON, dumped recommendations, bad input.

mod common;

use common::{edgerec, scratch, stderr, write};
use std::path::Path;

const ITEMS: &str = "item,title,categories\n1,A,x|y\n2,B,y\n3,C,x\n4,D,z\n5,E,z|x\n6,F,y\n";

fn interactions() -> String {
    let mut s = String::from("user,item,rating,timestamp\n");
    for u in 0..10 {
        for t in 0..5 {
            s.push_str(&format!("u{u},{},4,{}\n", (u + t) % 6 + 1, 100 + t));
        }
    }
    s
}

/// Splits, trains on the train part, evaluates with baselines and an external list.
#[test]
fn split_train_eval_round_trip() {
    let dir = scratch("round");
    let inter = write(&dir, "r.csv", &interactions());
    let items = write(&dir, "m.csv", ITEMS);
    let split = dir.join("split").display().to_string();
    let o = edgerec(&[
        "eval",
        "--split",
        "temporal",
        "--interactions",
        &inter,
        "--items",
        &items,
        "--split-out",
        &split,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let test = std::fs::read_to_string(dir.join("split/test.csv")).unwrap();
    assert_eq!(test.lines().count(), 1 + 10, "one of five per user is test: {test}");
    let bundle = dir.join("b").display().to_string();
    let train = format!("{split}/train.csv");
    let o = edgerec(&[
        "train",
        "--interactions",
        &train,
        "--items",
        &items,
        "--out",
        &bundle,
        "--epochs",
        "1",
        "--dim",
        "8",
        "--batch",
        "8",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = write(&dir, "ext.json", r#"{"u0": ["1", "2", "999"], "u1": ["3"]}"#);
    let json = dir.join("m.json").display().to_string();
    let dump = dir.join("d.json").display().to_string();
    let o = edgerec(&[
        "eval",
        "--bundle",
        &bundle,
        "--train",
        &train,
        "--test",
        &format!("{split}/test.csv"),
        "--k",
        "3",
        "--json",
        &json,
        "--dump-recs",
        &dump,
        "--recs",
        &format!("ext={recs}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("two_tower") && table.contains("itemcf"), "{table}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for model in ["two_tower", "popularity", "itemcf", "ext"] {
        for k in ["@3", "@10", "@20", "@50"] {
            let r = m["models"][model]["at"][k]["recall"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&r), "{model} {k} {r}");
        }
    }
    assert_eq!(m["data"]["users"], 10);
    let d: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap();
    assert_eq!(d.len(), 10);
    // 6 items, 4 seen in train: 2 left to recommend (k = 3 is capped, not padded).
    assert!(d.values().all(|l| l.len() == 2), "{d:?}");
    // Seen items never recommended.
    let train_text = std::fs::read_to_string(&train).unwrap();
    for (user, list) in &d {
        for item in list {
            assert!(!train_text.contains(&format!("{user},{item},")), "{user} saw {item}");
        }
    }
    assert!(stderr(&o).contains("skipped 1 recommended ids"), "{}", stderr(&o));
}

#[test]
fn leave_last_out_and_one_user() {
    let dir = scratch("loo");
    let inter = write(&dir, "r.csv", "user,item\nsolo,1\nsolo,2\nsolo,3\n");
    let items = write(&dir, "m.csv", ITEMS);
    let split = dir.join("s").display().to_string();
    let o = edgerec(&[
        "eval",
        "--split",
        "leave-last-out",
        "--interactions",
        &inter,
        "--items",
        &items,
        "--split-out",
        &split,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let test = std::fs::read_to_string(dir.join("s/test.csv")).unwrap();
    assert_eq!(test.lines().skip(1).collect::<Vec<_>>(), ["solo,3,1,2"]);
}

#[test]
fn bad_eval_input_is_a_clear_error() {
    let dir = scratch("bad");
    let o = edgerec(&["eval", "--train", "a.csv", "--test", "b.csv"]);
    assert!(stderr(&o).contains("invalid --bundle"), "{}", stderr(&o));
    let o = edgerec(&["eval", "--bundle", "/nonexistent", "--train", "a.csv", "--test", "b.csv"]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    // A test file whose items are all unknown to the bundle: nothing to evaluate.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixture");
    let t = write(&dir, "t.csv", "user,item\nu,nope\n");
    let o =
        edgerec(&["eval", "--bundle", &fixture.display().to_string(), "--train", &t, "--test", &t]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("no test user") || err.contains("user_tower"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = edgerec(&["eval", "--split", "temporal", "--interactions", &t]);
    assert!(stderr(&o).contains("invalid --items"), "{}", stderr(&o));
}
