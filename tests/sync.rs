//! The sync client end to end against `MockTransport` (an in-memory `edgerec serve`) and
//! `MemoryStorage`: offline → reload → online delivers every event exactly once; lost replies,
//! 5xx / 429 backoff with jitter and `Retry-After`, 413 splitting, poison-event isolation, the
//! overflow policy, quota errors, corrupt storage, id order and UUIDv7 bits; and the experiment
//! layer: determinism, exclusivity, the holdout, validation, and a χ² test that two layers'
//! bucketings are independent and uniform.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::Error;
use edgerec::sync::{
    EventInput, EventKind, EventQueue, ExperimentConfig, HttpResponse, MockReply, MockTransport,
    QUEUE_KEY, SyncClient, SyncConfig, Transport, bucket, merge_options,
};
use edgerec::user::{MemoryStorage, Storage};
use pollster::block_on;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

const NOW: f64 = 1_700_000_000_000.0;
const ENDPOINT: &str = "http://127.0.0.1:8787";

fn config() -> SyncConfig {
    SyncConfig::new(ENDPOINT)
}

fn open_with(storage: &MemoryStorage, config: SyncConfig, seed: u8) -> SyncClient {
    block_on(SyncClient::open(config, storage, [seed; 16], NOW)).expect("open")
}

fn open(storage: &MemoryStorage) -> SyncClient {
    open_with(storage, config(), 1)
}

fn click(item: usize) -> EventInput {
    EventInput::new(EventKind::Click, item.to_string())
}

fn impression(item: usize) -> EventInput {
    EventInput { position: Some(0), ..EventInput::new(EventKind::Impression, item.to_string()) }
}

fn track(client: &mut SyncClient, storage: &MemoryStorage, input: EventInput, at: f64) -> String {
    block_on(client.track(storage, input, at)).expect("track")
}

fn queued_ids(client: &SyncClient) -> Vec<String> {
    client.queued().map(|e| e.id.clone()).collect()
}

#[test]
fn offline_then_reload_then_online_delivers_each_event_once() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    server.set_offline(true);
    let mut client = open(&storage);
    let user = client.user().to_string();
    assert!(edgerec::sync::event::is_uuid_text(&user), "anonymous device id: {user}");
    let mut tracked = Vec::new();
    for i in 0..120 {
        tracked.push(track(&mut client, &storage, click(i), NOW + i as f64));
        if i % 40 == 39 {
            let err = block_on(client.flush(&storage, &server, NOW + i as f64)).unwrap_err();
            assert!(matches!(err, Error::Network { .. }), "{err}");
            assert!(client.next_attempt_at().is_some());
        }
    }
    assert_eq!(client.pending(), 120);

    // Reload: a new client over the same storage finds the queue and the device id.
    drop(client);
    let mut client = open(&storage);
    assert_eq!(client.user(), user);
    assert_eq!(queued_ids(&client), tracked);
    assert!(client.warnings().is_empty());

    server.set_offline(false);
    let report = block_on(client.flush(&storage, &server, NOW + 10_000.0)).unwrap();
    assert_eq!((report.delivered, report.duplicates, report.rejected), (120, 0, 0));
    assert_eq!(report.uploads, 3, "batches of 50");
    assert_eq!(client.pending(), 0);
    assert_eq!(client.next_attempt_at(), None);
    let stored: Vec<String> = server.stored().into_iter().map(|e| e.id).collect();
    assert_eq!(stored, tracked, "every event once, in order");
    assert!(server.stored().iter().all(|e| e.user == user));
    let urls: BTreeSet<String> = server.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(urls, BTreeSet::from([format!("{ENDPOINT}/v1/events")]));

    let client = open(&storage);
    assert_eq!(client.pending(), 0, "the acknowledged queue was persisted");
}

#[test]
fn lost_replies_are_resent_and_deduplicated_by_the_server() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    let mut client = open(&storage);
    let ids: Vec<String> = (0..10).map(|i| track(&mut client, &storage, click(i), NOW)).collect();
    server.push_replies([MockReply::LostReply]);
    let err = block_on(client.flush(&storage, &server, NOW)).unwrap_err();
    assert!(matches!(err, Error::Network { .. }));
    assert_eq!(server.stored().len(), 10, "the server stored the batch");
    assert_eq!(client.pending(), 10, "the client could not know");

    let report = block_on(client.flush(&storage, &server, NOW + 1.0)).unwrap();
    assert_eq!((report.delivered, report.duplicates), (10, 10));
    assert_eq!(server.stored_ids(), ids.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(server.stored().len(), 10, "each id held once");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn events_tracked_during_an_upload_stay_queued_and_are_sent_once() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    let mut client = open(&storage);
    let first: Vec<String> = (0..5).map(|i| track(&mut client, &storage, click(i), NOW)).collect();
    let upload = client.begin_upload(NOW).expect("an upload");
    assert_eq!(upload.ids, first);
    assert_eq!(upload.url, format!("{ENDPOINT}/v1/events"));
    assert!(client.begin_upload(NOW).is_none(), "one upload at a time");
    assert!(matches!(
        block_on(client.flush(&storage, &server, NOW)),
        Err(Error::InvalidArgument { name: "flush", .. })
    ));
    let later: Vec<String> =
        (5..8).map(|i| track(&mut client, &storage, click(i), NOW + 1.0)).collect();
    let outcome = block_on(server.post_json(&upload.url, None, upload.body.clone()));
    let report = block_on(client.finish_upload(&storage, upload, outcome, NOW + 2.0)).unwrap();
    assert_eq!(report.delivered, 5);
    assert_eq!(report.reply.map(|r| (r.accepted, r.duplicates)), Some((5, 0)));
    assert_eq!(queued_ids(&client), later);
    let report = block_on(client.flush(&storage, &server, NOW + 3.0)).unwrap();
    assert_eq!(report.delivered, 3);
    let requests = server.requests();
    assert_eq!(requests[1].event_ids(), later, "only the new events in the second request");
    assert_eq!(server.stored().len(), 8);
}

#[test]
fn server_errors_back_off_with_growing_jittered_delays() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    let config = SyncConfig { backoff_base_ms: 1_000.0, backoff_cap_ms: 8_000.0, ..config() };
    let mut client = open_with(&storage, config, 3);
    track(&mut client, &storage, click(1), NOW);
    let statuses = [500, 503, 502, 408, 429, 504, 500, 500];
    server.push_replies(statuses.map(|status| MockReply::Status { status, retry_after_ms: None }));
    let mut now = NOW;
    let mut delays = Vec::new();
    for (attempt, status) in statuses.into_iter().enumerate() {
        let upload = client.begin_upload(now).expect("due");
        let outcome = block_on(server.post_json(&upload.url, None, upload.body.clone()));
        let err = block_on(client.finish_upload(&storage, upload, outcome, now)).unwrap_err();
        assert_eq!(err, Error::HttpStatus { status, reason: format!("scripted {status}") });
        let at = client.next_attempt_at().expect("a retry is scheduled");
        let delay = at - now;
        let ceiling = (1_000.0 * 2f64.powi(attempt as i32)).min(8_000.0);
        assert!(delay >= 0.0 && delay < ceiling, "attempt {attempt}: {delay} vs {ceiling}");
        assert!(client.begin_upload(at - 1.0).is_none(), "not before the deadline");
        delays.push(delay);
        now = at;
    }
    // An explicit flush may go before the deadline.
    let early = client.begin_upload_now(now - 1.0).expect("not held back by the backoff");
    let outcome = Err(Error::Network { reason: "still down".into() });
    assert!(block_on(client.finish_upload(&storage, early, outcome, now)).is_err());
    now = client.next_attempt_at().unwrap();
    let distinct: BTreeSet<u64> = delays.iter().map(|d| d.to_bits()).collect();
    assert_eq!(distinct.len(), delays.len(), "jittered: {delays:?}");
    assert_eq!(client.pending(), 1, "nothing lost");

    // Retry-After is a floor, even above the cap.
    server.push_replies([MockReply::Status { status: 429, retry_after_ms: Some(30_000) }]);
    let upload = client.begin_upload(now).expect("due");
    let outcome = block_on(server.post_json(&upload.url, None, upload.body.clone()));
    assert!(block_on(client.finish_upload(&storage, upload, outcome, now)).is_err());
    assert!(client.next_attempt_at().unwrap() - now >= 30_000.0);

    // Success resets the schedule.
    let report = block_on(client.flush(&storage, &server, now)).unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(client.next_attempt_at(), None);
}

#[test]
fn mean_backoff_doubles_per_attempt_until_the_cap() {
    // Full jitter: the delay after attempt k is uniform on [0, min(cap, base·2^k)), mean half
    // of that. Averaged over 400 devices, each mean is within 10% of it.
    let devices = 400;
    let attempts = 6;
    let mut sums = vec![0.0; attempts];
    for device in 0..devices {
        let storage = MemoryStorage::new();
        let server = MockTransport::new();
        server.set_offline(true);
        let config = SyncConfig { backoff_base_ms: 1_000.0, backoff_cap_ms: 16_000.0, ..config() };
        let entropy = [device as u8, (device >> 8) as u8, 7, 7, 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut client = block_on(SyncClient::open(config, &storage, entropy, NOW)).unwrap();
        track(&mut client, &storage, click(1), NOW);
        let mut now = NOW;
        for sum in sums.iter_mut() {
            assert!(block_on(client.flush(&storage, &server, now)).is_err());
            let at = client.next_attempt_at().unwrap();
            *sum += at - now;
            now = at;
        }
    }
    for (k, sum) in sums.iter().enumerate() {
        let mean = sum / devices as f64;
        let expected = (1_000.0 * 2f64.powi(k as i32)).min(16_000.0) / 2.0;
        assert!((mean - expected).abs() < 0.1 * expected, "attempt {k}: mean {mean} vs {expected}");
    }
}

#[test]
fn unauthorized_keeps_events_until_a_new_token() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    server.require_token(Some("s3cret"));
    let mut client = open_with(&storage, SyncConfig { token: Some("old".into()), ..config() }, 1);
    assert!(!format!("{:?}", client.config()).contains("old"), "Debug hides the token");
    track(&mut client, &storage, click(1), NOW);
    let err = block_on(client.flush(&storage, &server, NOW)).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { status: 401, .. }), "{err}");
    assert_eq!(err.code(), "UNAUTHORIZED");
    assert_eq!(client.pending(), 1);
    assert!(client.next_attempt_at().is_some(), "backs off");
    client.set_token(Some("s3cret".into())).unwrap();
    assert_eq!(client.next_attempt_at(), None);
    assert_eq!(block_on(client.flush(&storage, &server, NOW)).unwrap().delivered, 1);
    assert_eq!(server.requests()[1].header.as_deref(), Some("s3cret"));
    assert!(client.set_token(Some("has space".into())).is_err());
}

#[test]
fn payload_too_large_halves_the_batch() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    server.set_max_batch(Some(10));
    let mut client = open(&storage);
    let ids: Vec<String> = (0..40).map(|i| track(&mut client, &storage, click(i), NOW)).collect();
    let report = block_on(client.flush(&storage, &server, NOW)).unwrap();
    assert_eq!((report.delivered, report.rejected), (40, 0));
    // 40 → 413, 20 → 413, then four batches of 10.
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.event_ids().len()).collect();
    assert_eq!(sizes, [40, 20, 10, 10, 10, 10]);
    assert_eq!(client.batch_limit(), 10, "the smaller size is kept");
    assert_eq!(server.stored().into_iter().map(|e| e.id).collect::<Vec<_>>(), ids);

    // A server that takes nothing: the lone event is given up, not retried forever.
    server.set_max_batch(Some(0));
    track(&mut client, &storage, click(99), NOW);
    let report = block_on(client.flush(&storage, &server, NOW)).unwrap();
    assert_eq!((report.delivered, report.rejected, client.rejected()), (0, 1, 1));
}

#[test]
fn poison_events_are_isolated_and_dropped_the_rest_delivered() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    server.set_rejecter(|e| e.item.as_deref().is_some_and(|i| i.starts_with("poison")));
    let mut client = open(&storage);
    let mut good = BTreeSet::new();
    for i in 0..50 {
        let input = if i == 13 || i == 37 {
            EventInput::new(EventKind::Click, format!("poison{i}"))
        } else {
            click(i)
        };
        let id = track(&mut client, &storage, input, NOW);
        if i != 13 && i != 37 {
            good.insert(id);
        }
    }
    let report = block_on(client.flush(&storage, &server, NOW)).unwrap();
    assert_eq!((report.delivered, report.rejected), (48, 2));
    assert_eq!(server.stored_ids(), good);
    assert_eq!(client.pending(), 0);
    // Bisection: a handful of requests per poison event, not one per event.
    assert!(server.requests().len() <= 2 * (1 + 2 * 6), "{} requests", server.requests().len());
    assert_eq!(client.batch_limit(), 50, "back to full batches");
    let reopened = open(&storage);
    assert_eq!(reopened.rejected(), 2, "the counter is persisted");
}

#[test]
fn a_full_queue_drops_old_impressions_first_and_counts_them() {
    let storage = MemoryStorage::new();
    let mut client = open_with(&storage, SyncConfig { max_queue: 10, ..config() }, 1);
    for i in 0..6 {
        track(&mut client, &storage, impression(i), NOW + i as f64);
        track(&mut client, &storage, click(100 + i), NOW + i as f64);
    }
    // 12 tracked into 10 slots: the two oldest impressions went.
    assert_eq!((client.pending(), client.dropped()), (10, 2));
    let items: Vec<&str> = client.queued().filter_map(|e| e.item.as_deref()).collect();
    assert_eq!(items, ["100", "101", "2", "102", "3", "103", "4", "104", "5", "105"]);
    for i in 6..14 {
        track(&mut client, &storage, click(100 + i), NOW + i as f64);
    }
    // 4 impressions left to drop, then the oldest clicks.
    assert_eq!(client.dropped(), 10);
    assert!(client.queued().all(|e| e.kind == EventKind::Click));
    let items: Vec<&str> = client.queued().filter_map(|e| e.item.as_deref()).collect();
    assert_eq!(items, ["104", "105", "106", "107", "108", "109", "110", "111", "112", "113"]);
    let reopened = open_with(&storage, SyncConfig { max_queue: 10, ..config() }, 1);
    assert_eq!((reopened.pending(), reopened.dropped()), (10, 10), "persisted");
}

#[test]
fn quota_exceeded_is_a_typed_error_and_nothing_is_half_written() {
    let storage = MemoryStorage::with_quota(2_000);
    let mut client = open(&storage);
    let mut ok = 0;
    let err = loop {
        match block_on(client.track(&storage, click(ok), NOW)) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
        assert!(ok < 100, "the quota never bit");
    };
    assert!(
        matches!(err, Error::StorageQuotaExceeded { ref key, .. } if key == QUEUE_KEY),
        "{err}"
    );
    assert_eq!(client.pending(), ok, "the refused event is not queued");
    let reopened = open(&storage);
    assert_eq!(queued_ids(&reopened), queued_ids(&client), "storage holds the last good queue");
    assert!(reopened.warnings().is_empty());
}

#[test]
fn a_corrupt_stored_queue_is_reported_and_replaced() {
    let storage = MemoryStorage::new();
    block_on(storage.put(QUEUE_KEY, b"\x01{\"events\": [1, 2")).unwrap();
    block_on(storage.put(edgerec::sync::DEVICE_KEY, b"\xff\xfe")).unwrap();
    let mut client = open(&storage);
    let keys: Vec<String> = client
        .warnings()
        .iter()
        .map(|w| match w {
            Error::StorageCorrupt { key, .. } => key.clone(),
            other => panic!("unexpected warning {other}"),
        })
        .collect();
    assert_eq!(keys, [QUEUE_KEY, edgerec::sync::DEVICE_KEY]);
    assert_eq!(client.pending(), 0);
    track(&mut client, &storage, click(1), NOW);
    let reopened = open(&storage);
    assert!(reopened.warnings().is_empty());
    assert_eq!((reopened.pending(), reopened.user()), (1, client.user()));
}

#[test]
fn unavailable_storage_is_a_typed_error() {
    let err = block_on(SyncClient::open(config(), &MemoryStorage::unavailable(), [0; 16], NOW))
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE_UNAVAILABLE");
}

#[test]
fn ids_are_unique_sorted_uuid_v7() {
    let storage = MemoryStorage::new();
    let mut client = open(&storage);
    let mut ids = Vec::new();
    // Bursts in one millisecond, and a clock that jumps back.
    for i in 0..1_000 {
        let at = NOW + (i / 100) as f64 - if i >= 500 { 3.0 } else { 0.0 };
        ids.push(track(&mut client, &storage, click(i), at));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted in creation order");
    for id in &ids {
        let uuid = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(uuid.get_version_num(), 7, "{id}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        let ms = uuid.as_bytes()[..6].iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
        assert!((NOW as u64..NOW as u64 + 10).contains(&ms), "{id}");
    }
    let ts: Vec<u64> = client.queued().map(|e| e.ts).collect();
    assert_eq!(ts[0], NOW as u64, "the event keeps the caller's time");
    // Two devices with different entropy at the same millisecond do not collide.
    let other = MemoryStorage::new();
    let mut b = open_with(&other, config(), 2);
    let theirs: BTreeSet<String> =
        (0..1_000).map(|i| track(&mut b, &other, click(i), NOW)).collect();
    assert!(ids.iter().all(|id| !theirs.contains(id)));
}

#[test]
fn events_carry_user_model_version_and_assignments() {
    let storage = MemoryStorage::new();
    let mut client = open_with(&storage, SyncConfig { user: Some("alice".into()), ..config() }, 1);
    assert_eq!(client.user(), "alice");
    assert_eq!(block_on(storage.get(edgerec::sync::DEVICE_KEY)).unwrap(), None);
    client.set_model_version(Some("2026-01-01".into())).unwrap();
    client.set_assignments(BTreeMap::from([("rerank".into(), "theta/dpp07".into())])).unwrap();
    let input = EventInput {
        request_id: Some("r1".into()),
        dwell_ms: Some(1_500),
        ..EventInput::new(EventKind::Dwell, "42")
    };
    track(&mut client, &storage, input, NOW);
    let event = client.queued().next().unwrap().clone();
    assert_eq!(event.user, "alice");
    assert_eq!(event.model_version.as_deref(), Some("2026-01-01"));
    assert_eq!(event.experiments["rerank"], "theta/dpp07");
    assert_eq!((event.dwell_ms, event.request_id.as_deref()), (Some(1_500), Some("r1")));
    let id = track(&mut client, &storage, EventInput::custom("signup"), NOW);
    let custom = client.queued().last().unwrap();
    assert_eq!((custom.id.as_str(), custom.item.as_deref()), (id.as_str(), None));
    assert_eq!(custom.name.as_deref(), Some("signup"));

    assert!(matches!(
        client.set_model_version(Some(String::new())),
        Err(Error::InvalidArgument { name: "modelVersion", .. })
    ));
    let many: BTreeMap<String, String> = (0..40).map(|i| (format!("l{i}"), "e/v".into())).collect();
    assert!(matches!(
        client.set_assignments(many),
        Err(Error::InvalidArgument { name: "experiments", .. })
    ));
    assert_eq!(client.assignments().len(), 1, "a refused change changes nothing");
}

#[test]
fn invalid_events_and_configs_are_typed_errors() {
    let storage = MemoryStorage::new();
    let mut client = open(&storage);
    let bad = [
        EventInput { item: None, ..click(1) },
        EventInput::new(EventKind::Impression, "1"),
        EventInput::new(EventKind::Dwell, "1"),
        EventInput { name: None, ..EventInput::custom("x") },
        EventInput { request_id: Some("a\nb".into()), ..click(1) },
    ];
    for input in bad {
        let err = block_on(client.track(&storage, input.clone(), NOW)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "event", .. }), "{input:?}: {err}");
    }
    let err = block_on(client.track(&storage, click(1), f64::NAN)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "now_ms", .. }));
    assert_eq!(client.pending(), 0);

    let parsed = SyncConfig::from_json(r#"{"endpoint": "https://x.example/", "batchSize": 20}"#);
    let parsed = parsed.unwrap();
    assert_eq!((parsed.batch_size, parsed.max_queue, parsed.backoff_cap_ms), (20, 5000, 60_000.0));
    assert_eq!(parsed.events_url(), "https://x.example/v1/events");
    let cases = [
        (r#"{"endpoint": "ftp://x"}"#, "endpoint"),
        (r#"{"endpoint": "http://"}"#, "endpoint"),
        (r#"{"endpoint": "http://x", "batchSize": 0}"#, "batchSize"),
        (r#"{"endpoint": "http://x", "batchSize": 501}"#, "batchSize"),
        (r#"{"endpoint": "http://x", "maxQueue": 0}"#, "maxQueue"),
        (r#"{"endpoint": "http://x", "backoffBaseMs": -1}"#, "backoffBaseMs"),
        (r#"{"endpoint": "http://x", "backoffCapMs": 10}"#, "backoffCapMs"),
        (r#"{"endpoint": "http://x", "user": ""}"#, "user"),
        (r#"{"endpoint": "http://x", "token": "a b"}"#, "token"),
        (r#"{"endpoint": "http://x", "batchsize": 5}"#, "sync"),
        (r#"{}"#, "sync"),
    ];
    for (json, field) in cases {
        let err = SyncConfig::from_json(json).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { name, .. } if name == field),
            "{json}: {err}"
        );
    }
    let err = block_on(SyncClient::open(
        SyncConfig { batch_size: 0, ..config() },
        &storage,
        [0; 16],
        NOW,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "batchSize", .. }));
}

#[test]
fn drain_body_fits_the_limit_and_changes_nothing() {
    let storage = MemoryStorage::new();
    let server = MockTransport::new();
    let mut client = open(&storage);
    for i in 0..100 {
        track(&mut client, &storage, click(i), NOW);
    }
    let upload = client.drain_body(4_096).expect("some events fit");
    assert!(upload.body.len() <= 4_096);
    assert!(!upload.ids.is_empty() && upload.ids.len() < 100);
    assert_eq!(upload.ids, queued_ids(&client)[..upload.ids.len()]);
    let batch = edgerec::sync::EventBatch::parse(&upload.body).unwrap();
    assert_eq!(batch.events.len(), upload.ids.len());
    assert!(client.drain_body(10).is_none());
    assert_eq!(client.pending(), 100);
    // The page goes away; the beacon arrives; the next session re-sends and the server dedupes.
    let sent = upload.ids.len();
    block_on(server.post_json(&upload.url, None, upload.body)).unwrap();
    let mut client = open(&storage);
    let report = block_on(client.flush(&storage, &server, NOW)).unwrap();
    assert_eq!((report.delivered, report.duplicates), (100, sent));
    assert_eq!(server.stored().len(), 100);
}

#[test]
fn a_2xx_with_an_unexpected_body_still_acknowledges() {
    let storage = MemoryStorage::new();
    let mut client = open(&storage);
    track(&mut client, &storage, click(1), NOW);
    let upload = client.begin_upload(NOW).unwrap();
    let outcome = Ok(HttpResponse::new(204, Vec::new()));
    let report = block_on(client.finish_upload(&storage, upload, outcome, NOW)).unwrap();
    assert_eq!((report.delivered, report.reply), (1, None));
}

#[test]
fn queue_survives_reload_with_counters_in_one_value() {
    let storage = MemoryStorage::new();
    let mut client = open_with(&storage, SyncConfig { max_queue: 2, ..config() }, 1);
    for i in 0..3 {
        track(&mut client, &storage, click(i), NOW);
    }
    let bytes = block_on(storage.get(QUEUE_KEY)).unwrap().unwrap();
    assert_eq!(bytes[0], 1, "version byte");
    let queue = EventQueue::from_bytes(&bytes, 2).unwrap();
    assert_eq!((queue.len(), queue.dropped()), (2, 1));
    assert_eq!(storage.len(), 2, "the queue and the device id");
}

// ---------------------------------------------------------------------------------------------
// Experiments

const EXPERIMENTS: &str = r#"{
  "holdout": {"salt": "holdout-2026", "from": 0, "to": 5},
  "layers": [
    {"name": "rerank", "salt": "rerank-v1", "experiments": [
      {"name": "theta", "from": 0, "to": 50, "variants": [
        {"name": "control", "from": 0, "to": 25, "options": {}},
        {"name": "dpp07", "from": 25, "to": 50,
         "options": {"diversity": {"method": "dpp", "theta": 0.7}}}]},
      {"name": "mmr", "from": 50, "to": 80, "variants": [
        {"name": "lambda05", "from": 50, "to": 80,
         "options": {"diversity": {"method": "mmr", "lambda": 0.5}}}]}]},
    {"name": "rank", "salt": "rank-v2", "experiments": [
      {"name": "fusion", "from": 0, "to": 100, "variants": [
        {"name": "a", "from": 0, "to": 50, "options": {"diversity": {"window": 8}, "k": 10}},
        {"name": "b", "from": 50, "to": 100, "options": {"k": 20}}]}]}
  ]}"#;

#[test]
fn assignment_is_deterministic_exclusive_and_respects_the_holdout() {
    let config = ExperimentConfig::parse(EXPERIMENTS).unwrap();
    let mut held_out = 0;
    let mut per_variant: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..10_000 {
        let user = format!("user-{i}");
        let a = config.assign(&user);
        assert_eq!(a, config.assign(&user), "deterministic");
        if (0..5).contains(&bucket(&user, "holdout-2026")) {
            assert!(a.holdout && a.assignments.is_empty() && a.options == json!({}));
            held_out += 1;
            continue;
        }
        assert!(!a.holdout);
        let b = bucket(&user, "rerank-v1");
        let expected = match b {
            0..25 => Some("theta/control"),
            25..50 => Some("theta/dpp07"),
            50..80 => Some("mmr/lambda05"),
            _ => None,
        };
        assert_eq!(a.assignments.get("rerank").map(String::as_str), expected, "{user}");
        let rank = &a.assignments["rank"];
        for (layer, label) in &a.assignments {
            *per_variant.entry(format!("{layer}:{label}")).or_default() += 1;
        }
        // Options merged in layer order: `rank` sets `diversity.window` beside `rerank`'s
        // method, and its `k`.
        if rank == "fusion/a" {
            assert_eq!(a.options["diversity"]["window"], 8);
            assert_eq!(a.options["k"], 10);
        } else {
            assert_eq!(a.options["k"], 20);
        }
        if expected == Some("theta/dpp07") {
            assert_eq!(a.options["diversity"]["theta"], 0.7);
            assert_eq!(a.options["diversity"]["method"], "dpp");
        }
    }
    // 5% held out, 95% split by bucket ranges (binomial sd ≈ 22 for 500).
    assert!((400..600).contains(&held_out), "{held_out}");
    let share = |k: &str| per_variant.get(k).copied().unwrap_or(0) as f64 / 9_500.0;
    assert!((share("rerank:theta/control") - 0.25).abs() < 0.03, "{per_variant:?}");
    assert!((share("rerank:mmr/lambda05") - 0.30).abs() < 0.03, "{per_variant:?}");
    assert!((share("rank:fusion/b") - 0.5).abs() < 0.03, "{per_variant:?}");
}

#[test]
fn experiment_validation_names_the_problem() {
    let layer = |experiments: serde_json::Value| {
        json!({"layers": [{"name": "l", "salt": "s", "experiments": experiments}]}).to_string()
    };
    let variant = |name: &str, from: u32, to: u32| json!({"name": name, "from": from, "to": to});
    let cases = [
        (
            layer(json!([
                {"name": "a", "from": 0, "to": 50, "variants": []},
                {"name": "b", "from": 40, "to": 60, "variants": []}])),
            "experiments \"a\" and \"b\" overlap",
        ),
        (
            layer(json!([{"name": "a", "from": 10, "to": 50, "variants": [variant("v", 0, 20)]}])),
            "is not inside the experiment's [10, 50)",
        ),
        (
            layer(json!([{"name": "a", "from": 0, "to": 50,
                "variants": [variant("v", 0, 30), variant("w", 20, 50)]}])),
            "variants \"v\" and \"w\" overlap",
        ),
        (layer(json!([{"name": "a", "from": 30, "to": 30, "variants": []}])), "from < to <= 100"),
        (layer(json!([{"name": "a", "from": 0, "to": 101, "variants": []}])), "from < to <= 100"),
        (layer(json!([{"name": "a/b", "from": 0, "to": 10, "variants": []}])), "'/'"),
        (
            layer(json!([{"name": "a", "from": 0, "to": 10,
                "variants": [{"name": "v", "from": 0, "to": 10, "options": [1]}]}])),
            "options must be a JSON object",
        ),
        (
            json!({"holdout": {"salt": "s", "from": 0, "to": 5},
                   "layers": [{"name": "l", "salt": "s", "experiments": []}]})
            .to_string(),
            "salt \"s\" is already used",
        ),
        (
            json!({"layers": [{"name": "l", "salt": "a"}, {"name": "l", "salt": "b"}]}).to_string(),
            "another layer has this name",
        ),
        (r#"{"layers": [{"name": "l"}]}"#.to_string(), "missing field `salt`"),
        ("not json".to_string(), "expected"),
    ];
    for (json, needle) in cases {
        match ExperimentConfig::parse(&json) {
            Err(Error::InvalidArgument { name: "experiments", reason }) => {
                assert!(reason.contains(needle), "{json}: {reason:?} lacks {needle:?}");
            }
            other => panic!("{json}: expected a validation error, got {other:?}"),
        }
    }
    // Adjacent half-open ranges do not overlap; an empty configuration assigns nothing.
    let ok = layer(json!([
        {"name": "a", "from": 0, "to": 50, "variants": [variant("v", 0, 50)]},
        {"name": "b", "from": 50, "to": 100, "variants": []}]));
    assert!(ExperimentConfig::parse(&ok).is_ok());
    let empty = ExperimentConfig::parse("{}").unwrap();
    assert_eq!(empty.assign("u").assignments, BTreeMap::new());
}

#[test]
fn merge_options_is_deep_and_overlay_wins() {
    let mut base = json!({"diversity": {"method": "mmr", "lambda": 0.5}, "k": 10, "tags": [1]});
    merge_options(&mut base, &json!({"diversity": {"lambda": 0.3}, "tags": [2], "new": null}));
    assert_eq!(
        base,
        json!({"diversity": {"method": "mmr", "lambda": 0.3}, "k": 10, "tags": [2], "new": null})
    );
}

/// χ² statistic of observed counts against expected counts.
fn chi_square(observed: &[f64], expected: &[f64]) -> f64 {
    observed.iter().zip(expected).map(|(o, e)| (o - e) * (o - e) / e).sum()
}

#[test]
fn layer_buckets_are_uniform_and_independent() {
    // Tang et al.'s layers only work if the bucketings of different salts are independent.
    // 100 000 users; critical values of χ² at the 0.999 quantile: 148.2 (99 dof), 129.0 (81).
    let n = 100_000;
    let mut marginal = [[0f64; 100]; 2];
    let mut table = [[0f64; 10]; 10];
    for i in 0..n {
        let user = format!("user-{i}");
        let a = bucket(&user, "rerank-v1") as usize;
        let b = bucket(&user, "rank-v2") as usize;
        marginal[0][a] += 1.0;
        marginal[1][b] += 1.0;
        table[a / 10][b / 10] += 1.0;
    }
    for counts in &marginal {
        let chi = chi_square(counts, &[n as f64 / 100.0; 100]);
        assert!(chi < 148.2, "marginal χ² = {chi}");
    }
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..10).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    let observed: Vec<f64> = table.iter().flatten().copied().collect();
    let expected: Vec<f64> = (0..100).map(|k| rows[k / 10] * cols[k % 10] / n as f64).collect();
    let chi = chi_square(&observed, &expected);
    assert!(chi < 129.0, "independence χ² = {chi}");
}

// ---------------------------------------------------------------------------------------------
// Properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn reply() -> impl Strategy<Value = MockReply> {
        prop_oneof![
            3 => Just(MockReply::Serve),
            1 => Just(MockReply::Offline),
            1 => Just(MockReply::LostReply),
            // (413 and 400 are left out: at a batch of one they drop the event, by design.)
            1 => (prop_oneof![Just(500u16), Just(503), Just(429), Just(401)], any::<bool>())
                .prop_map(|(status, ra)| MockReply::Status { status, retry_after_ms: ra.then_some(10) }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the network does, once it recovers the server holds every tracked event
        /// exactly once (nothing lost, nothing stored twice), and the queue is empty.
        #[test]
        fn at_least_once_becomes_exactly_once(
            steps in proptest::collection::vec((0usize..8, reply(), any::<bool>()), 1..25),
            batch in 1usize..20,
        ) {
            let storage = MemoryStorage::new();
            let server = MockTransport::new();
            let config = SyncConfig { batch_size: batch, ..config() };
            let mut client = open_with(&storage, config.clone(), 9);
            let mut tracked = BTreeSet::new();
            let mut now = NOW;
            for (new_events, reply, reload) in steps {
                for i in 0..new_events {
                    tracked.insert(track(&mut client, &storage, click(i), now));
                }
                server.push_replies([reply]);
                let _ = block_on(client.flush(&storage, &server, now));
                if reload {
                    client = open_with(&storage, config.clone(), 9);
                }
                now += 1.0;
            }
            server.clear_replies();
            let report = block_on(client.flush(&storage, &server, now));
            prop_assert!(report.is_ok(), "{:?}", report);
            prop_assert_eq!(client.pending(), 0);
            prop_assert_eq!(server.stored_ids(), tracked.clone());
            prop_assert_eq!(server.stored().len(), tracked.len());
            prop_assert_eq!(client.rejected(), 0);
        }

        /// The overflow policy against a direct model of it: drop the oldest impression, else
        /// the oldest event.
        #[test]
        fn overflow_matches_the_policy(
            kinds in proptest::collection::vec(any::<bool>(), 0..60),
            max in 1usize..12,
        ) {
            let storage = MemoryStorage::new();
            let mut client = open_with(&storage, SyncConfig { max_queue: max, ..config() }, 1);
            let mut model: Vec<(usize, bool)> = Vec::new();
            for (i, &is_impression) in kinds.iter().enumerate() {
                let input = if is_impression { impression(i) } else { click(i) };
                track(&mut client, &storage, input, NOW);
                if model.len() == max {
                    let victim = model.iter().position(|&(_, imp)| imp).unwrap_or(0);
                    model.remove(victim);
                }
                model.push((i, is_impression));
            }
            let kept: Vec<String> = client.queued().map(|e| e.item.clone().unwrap()).collect();
            let expected: Vec<String> = model.iter().map(|(i, _)| i.to_string()).collect();
            prop_assert_eq!(kept, expected);
            prop_assert_eq!(client.dropped() as usize, kinds.len() - client.pending());
        }
    }
}
