//! The read-only routes of `edgerec serve`: model bundles (latest, versioned files, publishing
//! without restart, path traversal), experiments, static files.

mod common;

use common::server::{Db, Reply, get};
use std::path::Path;

fn sha256_hex(bytes: &[u8]) -> String {
    edgerec::bundle::integrity::sha256_hex(bytes)
}

/// Copies `models/fixture` to `dir/<version>`, rewriting `model.version` and `created_at` in
/// the copy's manifest (the fixture is signed, but the server checks no signature).
fn publish_copy(dir: &Path, version: &str, created_at: &str) -> Vec<u8> {
    let src = common::repo().join("models/fixture");
    let dst = dir.join(version);
    std::fs::create_dir_all(&dst).expect("version dir");
    for file in ["items.bin", "tensors.bin"] {
        std::fs::copy(src.join(file), dst.join(file)).expect("copy a bundle file");
    }
    let manifest = std::fs::read_to_string(src.join("manifest.json")).expect("fixture manifest");
    let edited = manifest
        .replacen("\"version\": \"1\"", &format!("\"version\": \"{version}\""), 1)
        .replacen("2025-01-01T00:00:00Z", created_at, 1);
    assert!(
        edited.contains(&format!("\"version\": \"{version}\"")) && edited.contains(created_at),
        "the fixture manifest changed shape"
    );
    std::fs::write(dst.join("manifest.json"), &edited).expect("write manifest");
    edited.into_bytes()
}

/// Points `dir/LATEST` at `version` the way a publisher should: temp file + atomic rename.
fn set_latest(dir: &Path, version: &str) {
    let tmp = dir.join(".LATEST.tmp");
    std::fs::write(&tmp, format!("{version}\n")).expect("write LATEST.tmp");
    std::fs::rename(&tmp, dir.join("LATEST")).expect("rename onto LATEST");
}

fn assert_latest(r: &Reply, manifest: &[u8], version: &str) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, manifest);
    assert_eq!(r.header("etag"), format!("\"{}\"", sha256_hex(manifest)));
    assert_eq!(r.header("x-edgerec-model-version"), version);
    assert_eq!(r.header("cache-control"), "no-cache");
    assert_eq!(r.header("content-location"), format!("/v1/models/{version}/manifest.json"));
}

#[test]
fn latest_model_etag_304_and_publishing_without_restart() {
    let db = Db::sqlite("models-latest");
    let models = db.dir().join("models");
    let m1 = publish_copy(&models, "1", "2025-01-01T00:00:00Z");
    let m2 = publish_copy(&models, "2", "2025-02-01T00:00:00Z");
    let server = db.serve(&["--models", &models.display().to_string()]);
    let latest = server.at("/v1/models/latest");

    // No LATEST: the newest created_at wins.
    assert_latest(&get(&latest, &[]), &m2, "2");

    // LATEST names the version.
    set_latest(&models, "1");
    let r = get(&latest, &[]);
    assert_latest(&r, &m1, "1");
    let etag1 = r.header("etag").to_owned();
    let r = get(&latest, &[("If-None-Match", &etag1)]);
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), etag1);
    assert_eq!(r.header("x-edgerec-model-version"), "1");

    // Publish version 3 by writing its directory, then renaming onto LATEST: no restart.
    let m3 = publish_copy(&models, "3", "2024-01-01T00:00:00Z");
    set_latest(&models, "3");
    let r = get(&latest, &[("If-None-Match", &etag1)]);
    assert_latest(&r, &m3, "3");
    assert_ne!(r.header("etag"), etag1);

    // A broken LATEST is a server-side error, reported as JSON.
    set_latest(&models, "../etc");
    let r = get(&latest, &[]);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.error().contains("invalid version"));
}

#[test]
fn versioned_files_are_immutable_and_traversal_is_refused() {
    let db = Db::sqlite("models-files");
    let models = db.dir().join("models");
    let manifest = publish_copy(&models, "1", "2025-01-01T00:00:00Z");
    std::fs::write(db.dir().join("secret.txt"), "top secret").expect("write secret");
    let server = db.serve(&["--models", &models.display().to_string()]);

    let tensors = std::fs::read(models.join("1/tensors.bin")).expect("tensors");
    let r = get(&server.at("/v1/models/1/tensors.bin"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body == tensors, "tensors.bin bytes differ");
    assert_eq!(r.header("cache-control"), "public, max-age=31536000, immutable");
    let etag = format!("\"{}\"", sha256_hex(&tensors));
    assert_eq!(r.header("etag"), etag);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    let r = get(&server.at("/v1/models/1/tensors.bin"), &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304, "{r:?}");

    let r = get(&server.at("/v1/models/1/manifest.json"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, manifest);

    for (path, status) in [
        ("/v1/models/9/manifest.json", 404),
        ("/v1/models/1/nope.bin", 404),
        ("/v1/models/1/..%2F..%2Fsecret.txt", 400),
        ("/v1/models/..%2Fmodels%2F1/tensors.bin", 400),
        ("/v1/models/1/.hidden", 400),
        ("/v1/models/../secret.txt", 400),
        ("/v1/models/1/..", 400),
    ] {
        let r = get(&server.at(path), &[]);
        // A client may normalise `..` away before sending; what matters is no file leaks.
        assert!(r.status == status || r.status == 404, "{path}: {r:?}");
        assert!(!String::from_utf8_lossy(&r.body).contains("top secret"), "{path} leaked");
        r.error();
    }
}

#[test]
fn model_routes_without_models_dir_are_404() {
    let db = Db::sqlite("models-none");
    let server = db.serve(&[]);
    for path in ["/v1/models/latest", "/v1/models/1/manifest.json"] {
        let r = get(&server.at(path), &[]);
        assert_eq!(r.status, 404, "{r:?}");
        assert!(r.error().contains("--models"));
    }
    // An empty models directory: nothing published yet.
    let empty = db.dir().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let server = db.serve(&["--models", &empty.display().to_string()]);
    let r = get(&server.at("/v1/models/latest"), &[]);
    assert_eq!(r.status, 404, "{r:?}");
    r.error();
}

#[test]
fn experiments_file_with_etag_and_reload() {
    let db = Db::sqlite("experiments");
    let server = db.serve(&[]);
    let r = get(&server.at("/v1/experiments"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), serde_json::json!({"layers": []}));
    drop(server);

    let v1 = r#"{"layers":[{"name":"ranking","experiments":[]}]}"#;
    let path = common::write(db.dir(), "experiments.json", v1);
    let server = db.serve(&["--experiments", &path]);
    let url = server.at("/v1/experiments");
    let r = get(&url, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, v1.as_bytes());
    let etag = r.header("etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(v1.as_bytes())));
    assert_eq!(get(&url, &[("If-None-Match", &etag)]).status, 304);

    let v2 = r#"{"layers":[]}"#;
    common::write(db.dir(), "experiments.json", v2);
    let r = get(&url, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, v2.as_bytes());

    common::write(db.dir(), "experiments.json", "{broken");
    let r = get(&url, &[]);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.error().contains("not valid JSON"));
}

#[test]
fn static_files_share_the_origin() {
    let db = Db::sqlite("static");
    let www = db.dir().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").expect("write index");
    let server = db.serve(&["--static", &www.display().to_string()]);
    let r = get(&server.at("/"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"<h1>demo</h1>");
    assert!(r.header("content-type").starts_with("text/html"));
    // Cross-origin isolated, so the npm package's `threads` module may share memory.
    assert_eq!(r.header("cross-origin-opener-policy"), "same-origin");
    assert_eq!(r.header("cross-origin-embedder-policy"), "require-corp");
    let r = get(&server.at("/missing.js"), &[]);
    assert_eq!(r.status, 404, "{r:?}");
    r.error();
    // The API still answers on the same origin.
    assert_eq!(get(&server.at("/healthz"), &[]).status, 200);
}
