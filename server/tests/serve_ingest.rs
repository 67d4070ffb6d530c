//! `POST /v1/events` and `/healthz` against the real binary, once per store (SQLite and
//! PostgreSQL): acceptance and dedup, every kind of bad input (nothing written), tokens, rate
//! limits, CORS, graceful shutdown.

mod common;

use common::server::{Db, batch, click, new_id, post};
use serde_json::json;

store_tests!(happy_path, bad_input_writes_nothing, rate_limit_answers_429);

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn healthz_events(server: &common::server::Server) -> u64 {
    let r = common::server::get(&server.at("/healthz"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["ok"], json!(true));
    r.json()["events"].as_u64().expect("events count")
}

fn happy_path(db: Db) {
    let server = db.serve(&[]);
    assert_eq!(healthz_events(&server), 0);
    let events = vec![
        click("u1", "42"),
        json!({"id": new_id(), "user": "u1", "item": "7", "kind": "impression", "ts": 5,
               "position": 3, "requestId": "r1", "modelVersion": "1",
               "experiments": {"ranking": "dpp/a"}}),
        json!({"id": new_id(), "user": "u2", "item": "8", "kind": "dwell", "ts": 6,
               "dwellMs": 1500}),
        json!({"id": new_id(), "user": "u2", "kind": "custom", "ts": 7, "name": "checkout"}),
        json!({"id": new_id(), "user": "u3", "item": "9", "kind": "like", "ts": 8}),
    ];
    let body = batch(&events);
    let r = post(&server.at("/v1/events"), &body, &[JSON]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"accepted": 5, "duplicates": 0}));

    // The same batch again (a lost reply, retried): all duplicates, nothing stored twice.
    let r = post(&server.at("/v1/events"), &body, &[JSON]);
    assert_eq!(r.json(), json!({"accepted": 0, "duplicates": 5}));
    assert_eq!(healthz_events(&server), 5);

    // Repeats inside one batch count as duplicates too; sendBeacon's text/plain is accepted.
    let fresh = click("u4", "1");
    let r = post(
        &server.at("/v1/events"),
        &batch(&[fresh.clone(), fresh, events[0].clone()]),
        &[("Content-Type", "text/plain;charset=UTF-8")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"accepted": 1, "duplicates": 2}));
    assert_eq!(healthz_events(&server), 6);
    assert_eq!(db.count(), 6);

    // An empty batch is fine.
    let r = post(&server.at("/v1/events"), &batch(&[]), &[JSON]);
    assert_eq!(r.json(), json!({"accepted": 0, "duplicates": 0}));

    // SIGTERM: graceful shutdown, exit status 0.
    assert!(server.terminate().success());
}

fn bad_input_writes_nothing(db: Db) {
    let tokens = common::write(db.dir(), "tokens.txt", "# upload tokens\nsecret-1\n\nsecret-2\n");
    let server = db.serve(&["--token-file", &tokens]);
    let url = server.at("/v1/events");
    let auth = ("Authorization", "Bearer secret-2");
    let good = batch(&[click("u", "1")]);

    let expect = |status: u16, body: &[u8], headers: &[(&str, &str)], needle: &str| {
        let r = post(&url, body, headers);
        assert_eq!(r.status, status, "{r:?}");
        let message = r.error();
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
        r
    };

    // Tokens.
    let r = expect(401, &good, &[JSON], "Authorization");
    assert_eq!(r.header("www-authenticate"), "Bearer");
    expect(401, &good, &[JSON, ("Authorization", "Bearer nope")], "invalid token");
    expect(401, &good, &[JSON, ("Authorization", "Basic c2VjcmV0LTE=")], "Authorization");

    // Malformed bodies.
    expect(400, b"{not json", &[JSON, auth], "");
    expect(400, b"[]", &[JSON, auth], "");
    expect(400, br#"{"events":[],"extra":1}"#, &[JSON, auth], "extra");
    let unknown_kind = json!({"id": new_id(), "user": "u", "item": "1", "kind": "poke", "ts": 1});
    expect(400, &batch(&[unknown_kind]), &[JSON, auth], "poke");
    let no_user = json!({"id": new_id(), "item": "1", "kind": "click", "ts": 1});
    expect(400, &batch(&[no_user]), &[JSON, auth], "user");
    let no_position = json!({"id": new_id(), "user": "u", "item": "1", "kind": "impression",
                             "ts": 1});
    expect(400, &batch(&[no_position]), &[JSON, auth], "position");
    let huge_position = json!({"id": new_id(), "user": "u", "item": "1", "kind": "impression",
                               "ts": 1, "position": 3_000_000_000u64});
    expect(400, &batch(&[huge_position]), &[JSON, auth], "position");

    // A batch whose third event is bad writes none of the first two.
    let (a, b) = (click("u", "1"), click("u", "2"));
    let bad_id = json!({"id": "not-a-uuid", "user": "u", "item": "3", "kind": "click", "ts": 1});
    expect(400, &batch(&[a.clone(), b.clone(), bad_id]), &[JSON, auth], "events[2]");
    let ids: Vec<String> =
        [&a, &b].iter().map(|e| e["id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(db.count_ids(&ids), 0, "a refused batch wrote events");

    // Too many events, too many bytes (declared and actual).
    let many: Vec<_> = (0..501).map(|i| click("u", &i.to_string())).collect();
    expect(413, &batch(&many), &[JSON, auth], "500");
    let mut padded = br#"{"events":[]}"#.to_vec();
    padded.resize((1 << 20) + 512 * 1024, b' ');
    expect(413, &padded, &[JSON, auth], "larger than");

    // Not JSON at all.
    expect(415, &good, &[("Content-Type", "application/xml"), auth], "Content-Type");

    // Other methods and paths: JSON errors too.
    let r = common::server::get(&url, &[]);
    assert_eq!(r.status, 405, "{r:?}");
    r.error();
    let r = common::server::get(&server.at("/nope"), &[]);
    assert_eq!(r.status, 404, "{r:?}");
    r.error();

    assert_eq!(db.count(), 0, "refused requests wrote events");
    let r = post(&url, &good, &[JSON, ("Authorization", "Bearer secret-1")]);
    assert_eq!(r.json(), json!({"accepted": 1, "duplicates": 0}));
    assert_eq!(db.count(), 1);
}

fn rate_limit_answers_429(db: Db) {
    let tokens = common::write(db.dir(), "tokens.txt", "t1\nt2\n");
    let server = db.serve(&["--token-file", &tokens, "--rate-limit", "1", "--rate-burst", "3"]);
    let url = server.at("/v1/events");
    let mut statuses = Vec::new();
    let mut accepted = 0;
    for _ in 0..6 {
        let r = post(&url, &batch(&[click("u", "1")]), &[JSON, ("Authorization", "Bearer t1")]);
        if r.status == 429 {
            let retry: u64 = r.header("retry-after").parse().expect("Retry-After seconds");
            assert!((1..=2).contains(&retry), "{r:?}");
            assert!(r.error().contains("rate limit"));
        } else {
            assert_eq!(r.status, 200, "{r:?}");
            accepted += 1;
        }
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst passes: {statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    // Another token has its own bucket.
    let r = post(&url, &batch(&[click("u", "1")]), &[JSON, ("Authorization", "Bearer t2")]);
    assert_eq!(r.status, 200, "{r:?}");
    accepted += 1;
    assert_eq!(db.count(), accepted, "a rate-limited request wrote events");
}

#[test]
fn cors_preflight_and_exposed_headers() {
    let db = Db::sqlite("cors");
    let server = db.serve(&["--cors-origin", "http://app.example", "http://other.example"]);
    let r = common::server::request(
        "OPTIONS",
        &server.at("/v1/events"),
        &[
            ("Origin", "http://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization, content-type"),
        ],
    );
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), "http://app.example");
    let allowed = r.header("access-control-allow-headers").to_ascii_lowercase();
    for h in ["authorization", "content-type", "if-none-match"] {
        assert!(allowed.contains(h), "{h} not allowed: {allowed}");
    }
    let r = common::server::get(&server.at("/healthz"), &[("Origin", "http://app.example")]);
    assert_eq!(r.header("access-control-allow-origin"), "http://app.example");
    let exposed = r.header("access-control-expose-headers").to_ascii_lowercase();
    assert!(exposed.contains("etag") && exposed.contains("x-edgerec-model-version"), "{exposed}");
    let r = common::server::get(&server.at("/healthz"), &[("Origin", "http://evil.example")]);
    assert_eq!(r.header("access-control-allow-origin"), "");
}

#[test]
fn bad_arguments_fail_clearly() {
    let dir = common::scratch("bad-args");
    for (args, needle) in [
        (vec!["--db", "mysql://x"], "sqlite:PATH"),
        (vec!["--db", "sqlite:"], "path"),
        (vec!["--models", "/nonexistent/models"], "not a directory"),
        (vec!["--token-file", "/nonexistent/tokens"], "token-file"),
        (vec!["--rate-limit", "0"], "positive"),
    ] {
        let db = format!("sqlite:{}", dir.join("x.db").display());
        let mut all = vec!["serve", "--addr", "127.0.0.1:0"];
        if !args.contains(&"--db") {
            all.extend(["--db", db.as_str()]);
        }
        all.extend(args.iter().copied());
        let out = common::edgerec(&all);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = common::stderr(&out);
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
}
