//! `edgerec events export`: JSON Lines and Parquet round trips of what `serve` stored, once per
//! store.

mod common;

use arrow_array::{Array, Int32Array, Int64Array, StringArray};
use common::server::{Db, batch, click, new_id, post};
use edgerec::sync::Event;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

store_tests!(export_round_trips);

fn sample_events() -> Vec<serde_json::Value> {
    let mut events = vec![
        json!({"id": new_id(), "user": "u1", "item": "7", "kind": "impression", "ts": 30,
               "position": 3, "requestId": "r1", "modelVersion": "1",
               "experiments": {"ranking": "dpp/a", "recall": "i2i/b"}}),
        json!({"id": new_id(), "user": "u2", "item": "8", "kind": "dwell", "ts": 10,
               "dwellMs": 1500}),
        json!({"id": new_id(), "user": "u2", "kind": "custom", "ts": 20, "name": "checkout"}),
        json!({"id": new_id(), "user": "u3", "item": "9", "kind": "like", "ts": 20}),
    ];
    events.extend((0..40).map(|i| {
        let mut e = click("u4", &i.to_string());
        e["ts"] = json!(100 + i % 7);
        e
    }));
    events
}

fn sorted_by_ts_id(events: &[serde_json::Value]) -> Vec<Event> {
    let mut parsed: Vec<Event> =
        events.iter().map(|e| serde_json::from_value(e.clone()).expect("valid event")).collect();
    parsed.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    parsed
}

fn export(db: &Db, out: &std::path::Path) -> String {
    let o = common::edgerec(&[
        "events",
        "export",
        "--db",
        &db.spec(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "export failed: {}", common::stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn export_round_trips(db: Db) {
    let events = sample_events();
    {
        let server = db.serve(&[]);
        let r = post(&server.at("/v1/events"), &batch(&events), &[]);
        assert_eq!(r.status, 200, "{r:?}");
    }
    let expected = sorted_by_ts_id(&events);

    // JSON Lines: the wire format, one event per line, ordered by (ts, id).
    let jsonl = db.dir().join("events.jsonl");
    let printed = export(&db, &jsonl);
    assert!(printed.contains(&format!("wrote {} events", events.len())), "{printed}");
    let text = std::fs::read_to_string(&jsonl).expect("read jsonl");
    let back: Vec<Event> =
        text.lines().map(|l| serde_json::from_str(l).expect("an Event per line")).collect();
    assert_eq!(back, expected);

    // Parquet: the table's columns.
    let pq = db.dir().join("events.parquet");
    let printed = export(&db, &pq);
    assert!(printed.contains(&format!("wrote {} events", events.len())), "{printed}");
    let file = std::fs::File::open(&pq).expect("open parquet");
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let (mut ids, mut ts, mut positions, mut experiments, mut received) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rb in reader {
        let rb = rb.expect("record batch");
        let col = |name: &str| rb.column_by_name(name).unwrap_or_else(|| panic!("column {name}"));
        let strings = |name: &str| {
            col(name).as_any().downcast_ref::<StringArray>().expect("utf8 column").clone()
        };
        let id = strings("id");
        let exp = strings("experiments");
        let t = col("ts").as_any().downcast_ref::<Int64Array>().expect("ts i64").clone();
        let pos = col("position").as_any().downcast_ref::<Int32Array>().expect("i32").clone();
        let rec = col("received_at").as_any().downcast_ref::<Int64Array>().expect("i64").clone();
        for i in 0..rb.num_rows() {
            ids.push(id.value(i).to_owned());
            ts.push(t.value(i));
            positions.push(pos.is_valid(i).then(|| pos.value(i)));
            experiments.push(exp.is_valid(i).then(|| exp.value(i).to_owned()));
            received.push(rec.value(i));
        }
        assert_eq!(rb.schema().fields().len(), 12, "the table's 12 columns");
    }
    let want_ids: Vec<String> = expected.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want_ids);
    assert_eq!(ts, expected.iter().map(|e| e.ts as i64).collect::<Vec<_>>());
    assert_eq!(
        positions,
        expected.iter().map(|e| e.position.map(|p| p as i32)).collect::<Vec<_>>()
    );
    let impression = expected.iter().position(|e| e.position.is_some()).expect("impression");
    let exp: serde_json::Value =
        serde_json::from_str(experiments[impression].as_deref().expect("experiments JSON"))
            .expect("experiments is JSON");
    assert_eq!(exp, json!({"ranking": "dpp/a", "recall": "i2i/b"}));
    assert!(received.iter().all(|&r| r > 1_600_000_000_000), "received_at is server time");

    // A bad output name fails clearly and writes nothing.
    let o = common::edgerec(&["events", "export", "--db", &db.spec(), "--out", "events.csv"]);
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains(".parquet"), "{}", common::stderr(&o));
}
