//! `edgerec serve --retrain-every N`: the loop closes on the server. Clicks uploaded by devices
//! are stored; after N of them the server retrains (`edgerec train --from-db`, seed data plus
//! stored events) and publishes a new version that `GET /v1/models/latest` serves and
//! `edgerec bundle verify` accepts — on SQLite and on PostgreSQL.

mod common;

use common::server::{Db, Server, batch, click, get, post};
use common::{edgerec, movielens_dir};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A small slice of MovieLens as the seed data, so a retraining takes seconds.
fn seed(dir: &std::path::Path) -> (String, String) {
    let ml = movielens_dir();
    let ratings = std::fs::read_to_string(ml.join("ratings.csv")).expect("ratings.csv");
    let head: Vec<&str> = ratings.lines().take(8_001).collect();
    let interactions = dir.join("ratings-8k.csv");
    std::fs::write(&interactions, head.join("\n") + "\n").expect("write seed ratings");
    // MovieLens' terms: keep its README beside anything derived from it.
    std::fs::copy(ml.join("README.txt"), dir.join("README.txt")).expect("copy README");
    (interactions.display().to_string(), ml.join("movies.csv").display().to_string())
}

/// A server on `db` that retrains into `DIR/models` from the seed slice (1 epoch, ranker
/// epochs as given), with `schedule` (`--retrain-every …` and friends) added.
fn retraining_server(db: &Db, schedule: &[&str], ranker_epochs: &str) -> (Server, PathBuf) {
    let dir = db.dir().to_path_buf();
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let (interactions, items) = seed(&dir);
    let models_arg = models.display().to_string();
    let ranker = format!("--retrain-arg={ranker_epochs}");
    let mut args = vec!["--models", &models_arg, "--seed-interactions", &interactions];
    args.extend(["--seed-items", &items, "--retrain-arg=--epochs", "--retrain-arg=1"]);
    args.extend(["--retrain-arg=--ranker-epochs", &ranker]);
    args.extend_from_slice(schedule);
    (db.serve(&args), models)
}

fn retrains_after_n_events(db: Db) {
    let (server, models) = retraining_server(&db, &["--retrain-every", "30"], "1");
    assert_eq!(get(&server.at("/v1/models/latest"), &[]).status, 404, "no model yet");

    // 20 clicks: below N, nothing happens.
    let films = ["1", "2", "3", "6", "10", "32", "47", "50", "110", "150"];
    let events: Vec<_> = (0..20).map(|i| click("device-7", films[i % films.len()])).collect();
    assert_eq!(post(&server.at("/v1/events"), &batch(&events), &[]).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&server.at("/healthz"), &[]).json()["retraining"], false);

    // 10 more (and 5 impressions, which count as stored events too): N reached.
    let mut more: Vec<_> = (0..10).map(|i| click("device-8", films[i])).collect();
    more.extend((0..5).map(|i| {
        let mut e = click("device-8", films[i]);
        e["kind"] = "impression".into();
        e["position"] = i.into();
        e
    }));
    assert_eq!(post(&server.at("/v1/events"), &batch(&more), &[]).status, 200);

    wait_for_versions(&server, 1);
    let latest = get(&server.at("/v1/models/latest"), &[]);
    assert_eq!(latest.status, 200);
    let version = latest.header("x-edgerec-model-version").to_string();
    assert!(version.starts_with('r'), "{version}");
    let bundle = models.join(&version);
    let verify = edgerec(&["bundle", "verify", &bundle.display().to_string()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("train_report.json")).unwrap()).unwrap();
    assert_eq!(report["events"]["kept"], 30, "{}", report["events"]);
    assert_eq!(report["events"]["not_interactions"], 5);
    assert!(
        !models.read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );
}

fn wait_for_versions(server: &common::server::Server, n: u64) {
    let started = Instant::now();
    while get(&server.at("/healthz"), &[]).json()["retrained"] != n {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no new version; server log:\n{}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn retrains_on_a_schedule_only_after_new_events(db: Db) {
    let schedule = ["--retrain-every", "1000000", "--retrain-interval-secs", "1"];
    let (server, _models) = retraining_server(&db, &schedule, "0");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(&server.at("/healthz"), &[]).json()["retrained"], 0, "nothing stored yet");
    let events: Vec<_> = ["1", "2", "3"].iter().map(|i| click("device-9", i)).collect();
    assert_eq!(post(&server.at("/v1/events"), &batch(&events), &[]).status, 200);
    wait_for_versions(&server, 1);
    // No new events: the schedule does not retrain again.
    std::thread::sleep(Duration::from_millis(2500));
    let health = get(&server.at("/healthz"), &[]).json();
    assert_eq!(health["retrained"], 1, "{health}");
    assert_eq!(get(&server.at("/v1/models/latest"), &[]).status, 200);
}

store_tests!(retrains_after_n_events, retrains_on_a_schedule_only_after_new_events);
