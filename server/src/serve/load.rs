//! `edgerec bench serve`: concurrent clients posting event batches to a running server;
//! sustained events/s and ingest latency percentiles.

use edgerec::sync::{Event, EventBatch, EventKind};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's base URL (`http://127.0.0.1:8787`).
    pub url: String,
    /// Concurrent clients (one thread and one keep-alive connection each).
    pub clients: usize,
    /// How long to post.
    pub seconds: f64,
    /// Events per request.
    pub batch: usize,
    /// Bearer token, when the server wants one.
    pub token: Option<String>,
}

/// A UUIDv7 in canonical text: 48-bit Unix milliseconds, version 7, variant 10, random rest.
pub fn uuid_v7(ms: u64, random: u128) -> String {
    let mut v: u128 = (u128::from(ms) & 0xffff_ffff_ffff) << 80;
    v |= 0x7 << 76;
    v |= (random & 0xfff) << 64;
    v |= 0b10 << 62;
    v |= (random >> 12) & ((1 << 62) - 1);
    let h = format!("{v:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One request's body: `batch` unique click events of user `load-<client>`.
fn batch_body(rng: &mut SmallRng, client: usize, batch: usize) -> Result<Vec<u8>, String> {
    let ts = now_ms();
    let events = (0..batch)
        .map(|_| Event {
            id: uuid_v7(ts, rng.random()),
            user: format!("load-{client}"),
            item: Some(rng.random_range(0..10_000u32).to_string()),
            kind: EventKind::Click,
            ts,
            position: None,
            request_id: None,
            dwell_ms: None,
            name: None,
            model_version: Some("bench".into()),
            experiments: BTreeMap::new(),
        })
        .collect();
    serde_json::to_vec(&EventBatch { events }).map_err(|e| e.to_string())
}

#[derive(Default)]
struct ClientReport {
    latencies: Vec<Duration>,
    accepted: u64,
    failed: u64,
    first_error: Option<String>,
}

fn client(cfg: &LoadConfig, id: usize, seed: u64, deadline: Instant) -> ClientReport {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}/v1/events", cfg.url.trim_end_matches('/'));
    // Distinct seeds per client: equal streams would repeat ids (counted as duplicates).
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(id as u64));
    let mut report = ClientReport::default();
    while Instant::now() < deadline {
        let body = match batch_body(&mut rng, id, cfg.batch) {
            Ok(b) => b,
            Err(e) => {
                report.first_error.get_or_insert(e);
                break;
            }
        };
        let mut request = agent.post(&url).header("Content-Type", "application/json");
        if let Some(t) = &cfg.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        let start = Instant::now();
        let outcome = request.send(&body[..]).and_then(|mut r| {
            let status = r.status().as_u16();
            r.body_mut().read_to_string().map(|text| (status, text))
        });
        let elapsed = start.elapsed();
        match outcome {
            Ok((200, text)) => {
                report.latencies.push(elapsed);
                let accepted = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["accepted"].as_u64())
                    .unwrap_or(0);
                report.accepted += accepted;
            }
            Ok((status, text)) => {
                report.failed += 1;
                report.first_error.get_or_insert(format!("HTTP {status}: {text}"));
            }
            Err(e) => {
                report.failed += 1;
                report.first_error.get_or_insert(e.to_string());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    report
}

fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

/// Runs the load and prints a summary line and a JSON line.
pub fn run(cfg: &LoadConfig) -> Result<(), String> {
    if cfg.clients == 0 || cfg.batch == 0 || cfg.seconds.is_nan() || cfg.seconds <= 0.0 {
        return Err("--clients, --batch and --seconds must be positive".into());
    }
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(cfg.seconds);
    let reports: Vec<ClientReport> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..cfg.clients).map(|id| s.spawn(move || client(cfg, id, seed, deadline))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> =
        reports.iter().flat_map(|r| r.latencies.iter().copied()).collect();
    latencies.sort_unstable();
    let accepted: u64 = reports.iter().map(|r| r.accepted).sum();
    let failed: u64 = reports.iter().map(|r| r.failed).sum();
    let requests = latencies.len();
    let events_per_s = accepted as f64 / elapsed;
    let (p50, p99) = (quantile_ms(&latencies, 0.5), quantile_ms(&latencies, 0.99));
    println!(
        "serve ingest against {} ({} clients, {} events per batch, {elapsed:.1} s)",
        cfg.url, cfg.clients, cfg.batch
    );
    println!(
        "  {requests} batches ok, {failed} failed; {accepted} events stored: {events_per_s:.0} \
         events/s ({:.0} requests/s); latency p50 {p50:.2} ms, p99 {p99:.2} ms",
        requests as f64 / elapsed
    );
    if let Some(e) = reports.iter().find_map(|r| r.first_error.as_ref()) {
        println!("  first error: {e}");
    }
    println!(
        "{}",
        serde_json::json!({
            "bench": "serve", "url": cfg.url, "clients": cfg.clients, "batch": cfg.batch,
            "seconds": elapsed, "requests": requests, "failed": failed, "events": accepted,
            "events_per_s": events_per_s, "p50_ms": p50, "p99_ms": p99,
        })
    );
    if requests == 0 {
        return Err("no request succeeded".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::uuid_v7;

    #[test]
    fn uuid_v7_is_canonical_and_time_ordered() {
        let a = uuid_v7(1_700_000_000_000, u128::MAX);
        let b = uuid_v7(1_700_000_000_001, 0);
        assert!(edgerec::sync::event::is_uuid_text(&a), "{a}");
        assert_eq!(&a[14..15], "7");
        assert!(a < b);
    }
}
