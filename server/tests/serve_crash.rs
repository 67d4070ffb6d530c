//! Crash safety: `kill -9` the server at random moments while a client uploads; every batch
//! that got a 200 must be stored, exactly once, after a restart — once per store.

mod common;

use common::server::{Db, batch, click, post, try_post};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

store_tests!(acknowledged_events_survive_kill_9);

/// One upload: its body, its ids, and whether the server acknowledged it.
struct Sent {
    body: Vec<u8>,
    ids: Vec<String>,
    acked: bool,
}

/// Posts batches of fresh events until `stop` or until the server is gone.
fn upload_until_killed(url: String, stop: Arc<AtomicBool>, round: usize) -> Vec<Sent> {
    let mut sent = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let events: Vec<_> =
            (0..20).map(|i| click(&format!("crash-{round}"), &format!("{n}-{i}"))).collect();
        n += 1;
        let ids = events.iter().map(|e| e["id"].as_str().unwrap_or_default().to_owned()).collect();
        let body = batch(&events);
        let result = try_post(&url, &body, &[("Content-Type", "application/json")]);
        let acked = match &result {
            Ok(r) => {
                assert_eq!(r.status, 200, "{r:?}");
                assert_eq!(r.json()["accepted"], 20, "{r:?}");
                true
            }
            Err(_) => false,
        };
        sent.push(Sent { body, ids, acked });
        if result.is_err() {
            break;
        }
    }
    sent
}

fn acknowledged_events_survive_kill_9(db: Db) {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    eprintln!("crash test seed {seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut all: Vec<Sent> = Vec::new();
    for round in 0..10 {
        let mut server = db.serve(&[]);
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let (url, stop) = (server.at("/v1/events"), Arc::clone(&stop));
            std::thread::spawn(move || upload_until_killed(url, stop, round))
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(30..150)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        all.extend(client.join().expect("client thread"));
    }
    let acked: Vec<String> =
        all.iter().filter(|s| s.acked).flat_map(|s| s.ids.iter().cloned()).collect();
    let sent_ids: usize = all.iter().map(|s| s.ids.len()).sum();
    assert!(!acked.is_empty(), "no batch was acknowledged before the kills");
    eprintln!("{} batches sent, {} events acknowledged", all.len(), acked.len());

    // Every acknowledged event is stored, once (the primary key forbids more; count them).
    assert_eq!(db.count_ids(&acked), acked.len() as u64, "acknowledged events were lost");
    let stored = db.count();
    assert!(stored >= acked.len() as u64 && stored <= sent_ids as u64, "{stored} stored");

    // Re-send everything: acknowledged batches are pure duplicates; afterwards all is stored.
    let server = db.serve(&[]);
    for s in &all {
        let r = post(&server.at("/v1/events"), &s.body, &[("Content-Type", "application/json")]);
        assert_eq!(r.status, 200, "{r:?}");
        if s.acked {
            assert_eq!(r.json(), serde_json::json!({"accepted": 0, "duplicates": 20}));
        }
    }
    assert_eq!(db.count(), sent_ids as u64);
}
