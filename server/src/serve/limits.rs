//! Who may upload (bearer tokens) and how fast (a token bucket per token or client address).

use axum::http::{HeaderMap, header};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bearer tokens of `--token-file`.
#[derive(Debug, Clone)]
pub struct Tokens(HashSet<String>);

impl Tokens {
    /// Reads one token per line; blank lines and lines starting with `#` are skipped.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --token-file {}: {e}", path.display()))?;
        let tokens: HashSet<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if tokens.is_empty() {
            return Err(format!("--token-file {} holds no token", path.display()));
        }
        if let Some(bad) = tokens.iter().find(|t| t.chars().any(char::is_whitespace)) {
            return Err(format!(
                "--token-file {}: a token contains whitespace ({} characters)",
                path.display(),
                bad.len()
            ));
        }
        Ok(Tokens(tokens))
    }

    /// Whether `token` is one of them.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Whom a rate limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A valid bearer token.
    Token(String),
    /// The peer address (no token, or auth is off).
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per client: `rate` requests per second sustained, bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    /// `rate` requests per second per client, with a burst of `burst` requests (both ≥ 1).
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter { rate: rate.max(1e-3), burst: burst.max(1.0), buckets: Mutex::default() }
    }

    /// Takes one request from `key`'s bucket; `Err(wait)` says how long until one is available.
    pub fn check(&self, key: ClientKey) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: ClientKey, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: self.burst, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let limiter = RateLimiter::new(2.0, 3.0);
        let key = ClientKey::Token("t".into());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(key.clone(), t0).is_ok());
        }
        let wait = limiter.check_at(key.clone(), t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.check_at(key.clone(), t0 + Duration::from_millis(500)).is_ok());
        let other = ClientKey::Addr(IpAddr::from([127, 0, 0, 1]));
        assert!(limiter.check_at(other, t0).is_ok(), "buckets are per client");
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
