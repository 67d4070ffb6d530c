//! When to retry a failed upload: capped exponential backoff with full jitter.
//!
//! "Full jitter" from Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog
//! (2015): after the `attempt`-th consecutive failure (0-based) wait
//! `random(0, min(cap, base · 2^attempt))`. Spreading the whole interval, instead of adding a
//! little noise to a fixed delay, is what stops a fleet of devices that went offline together
//! from coming back in synchronized waves; the post measures it as the least total work.
//!
//! A server `Retry-After` (RFC 9110 §10.2.3) is a floor: the delay is
//! `max(retry_after, jittered delay)`, so the client never comes back before it was asked to.

use crate::rng::SeededRng;

/// Default first backoff interval: 1 s.
pub const DEFAULT_BASE_MS: f64 = 1_000.0;
/// Default longest backoff interval: 60 s.
pub const DEFAULT_CAP_MS: f64 = 60_000.0;

/// Backoff state: the number of consecutive failures and the time the next try is due.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: f64,
    cap_ms: f64,
    attempt: u32,
    next_at: Option<f64>,
    rng: SeededRng,
}

impl Backoff {
    /// Backoff with interval `base_ms · 2^attempt` capped at `cap_ms` (both finite, positive,
    /// `base_ms <= cap_ms`: the sync config validates them), jitter drawn from a PRNG seeded
    /// with `seed`.
    pub fn new(base_ms: f64, cap_ms: f64, seed: u64) -> Self {
        Self { base_ms, cap_ms, attempt: 0, next_at: None, rng: SeededRng::new(seed) }
    }

    /// The upper bound of the next delay: `min(cap, base · 2^attempt)`.
    pub fn ceiling_ms(&self) -> f64 {
        // 2^attempt overflows nothing: powi saturates to infinity and `min` takes the cap.
        (self.base_ms * 2f64.powi(self.attempt.min(1_000) as i32)).min(self.cap_ms)
    }

    /// Records a failure at `now_ms` and returns the delay before the next try, in ms:
    /// uniform in `[0, ceiling_ms())`, raised to `retry_after_ms` when the server sent one.
    pub fn fail(&mut self, now_ms: f64, retry_after_ms: Option<u64>) -> f64 {
        let jittered = self.rng.next_f64() * self.ceiling_ms();
        let delay = retry_after_ms.map_or(jittered, |r| jittered.max(r as f64));
        self.attempt = self.attempt.saturating_add(1);
        self.next_at = Some(now_ms + delay);
        delay
    }

    /// Records a success: the next failure starts again from `base`.
    pub fn succeed(&mut self) {
        self.attempt = 0;
        self.next_at = None;
    }

    /// Consecutive failures so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the next try is due, if a failure scheduled one.
    pub fn next_at(&self) -> Option<f64> {
        self.next_at
    }

    /// True when a try at `now_ms` respects the schedule.
    pub fn ready(&self, now_ms: f64) -> bool {
        self.next_at.is_none_or(|at| now_ms >= at)
    }
}

/// Parses a `Retry-After` header value into milliseconds from `now_ms`: either delay-seconds
/// (`"120"`) or an IMF-fixdate (`"Sun, 06 Nov 1994 08:49:37 GMT"`, RFC 9110 §5.6.7; a date in
/// the past gives 0). `None` for anything else (the obsolete RFC 850 and asctime forms included).
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(|s| s.saturating_mul(1000));
    }
    let at_ms = parse_imf_fixdate(value)?;
    Some((at_ms - now_ms).max(0.0) as u64)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → milliseconds since the epoch.
fn parse_imf_fixdate(value: &str) -> Option<f64> {
    let (_, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: i64 = day.parse().ok()?;
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day)
        || !(0..24).contains(h)
        || !(0..60).contains(m)
        || !(0..61).contains(s)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + h * 3_600 + m * 60 + s) * 1_000) as f64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant, "chrono-Compatible
/// Low-Level Date Algorithms", `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_growing_ceiling() {
        let mut b = Backoff::new(1_000.0, 60_000.0, 9);
        for attempt in 0..12 {
            let ceiling = (1_000.0 * 2f64.powi(attempt)).min(60_000.0);
            assert_eq!(b.ceiling_ms(), ceiling);
            let d = b.fail(0.0, None);
            assert!((0.0..ceiling).contains(&d), "attempt {attempt}: {d}");
        }
        b.succeed();
        assert_eq!((b.attempt(), b.next_at(), b.ceiling_ms()), (0, None, 1_000.0));
        for _ in 0..5_000 {
            b.fail(0.0, None);
        }
        assert_eq!(b.ceiling_ms(), 60_000.0);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut b = Backoff::new(1_000.0, 60_000.0, 9);
        assert_eq!(b.fail(100.0, Some(30_000)), 30_000.0);
        assert_eq!(b.next_at(), Some(30_100.0));
        assert!(!b.ready(30_099.0) && b.ready(30_100.0));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        assert_eq!(parse_retry_after(" 120 ", 0.0), Some(120_000));
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        let at = 784_111_777_000.0;
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 5_000.0), Some(5_000));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 1.0), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for bad in
            ["", "-1", "soon", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"]
        {
            assert_eq!(parse_retry_after(bad, 0.0), None, "{bad}");
        }
    }
}
