//! Event and device ids: UUIDv7 (RFC 9562 §5.7) from the caller's clock and the SDK's seeded
//! PRNG, monotonic within a generator.
//!
//! Layout (RFC 9562 §5.7): 48 bits of Unix milliseconds, the version `0b0111`, 12 bits
//! `rand_a`, the variant `0b10`, 62 bits `rand_b`. The 74 bits `rand_a ‖ rand_b` are treated as
//! one counter: a new millisecond starts it at a random value with its top bit clear (so at
//! least 2^73 increments fit before it overflows), and another id in the same millisecond — or
//! after the clock went backwards — adds a random increment of 1..=2^32 ("Monotonic Random",
//! RFC 9562 §6.2, method 2). Ids from one generator therefore sort, as text and as bytes, in
//! the order they were made; the server's primary-key index stays append-mostly.
//!
//! Randomness comes from [`SeededRng`] seeded with entropy the platform hands in
//! (`crypto.getRandomValues` in the browser): no OS randomness in the engine, so it builds for
//! `wasm32-unknown-unknown` without `getrandom`. Two devices collide only if they share both the
//! millisecond and the 64-bit seed; a collision would be stored once by the server.

use crate::error::{Error, Result};
use crate::rng::SeededRng;
use uuid::{Builder, Uuid};

/// The largest timestamp a UUIDv7 holds (48 bits of milliseconds: the year 10889).
const MAX_MS: u64 = (1 << 48) - 1;
/// The counter is 74 bits (`rand_a` 12 + `rand_b` 62).
const COUNTER_BITS: u32 = 74;

/// Folds 16 bytes of platform entropy into the 64-bit seed of [`SeededRng`].
pub fn seed_from_entropy(entropy: &[u8; 16]) -> u64 {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&entropy[..8]);
    hi.copy_from_slice(&entropy[8..]);
    u64::from_le_bytes(lo) ^ u64::from_le_bytes(hi).rotate_left(29)
}

/// The UUIDv7 with timestamp `ms` and the 74-bit `counter` as `rand_a ‖ rand_b`.
pub fn uuid_v7(ms: u64, counter: u128) -> Uuid {
    let rand_a = (counter >> 62) as u16 & 0x0FFF;
    let rand_b = counter as u64 & ((1 << 62) - 1);
    let mut bytes = [0u8; 10];
    bytes[..2].copy_from_slice(&rand_a.to_be_bytes());
    bytes[2..].copy_from_slice(&rand_b.to_be_bytes());
    Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
}

/// Validates a caller's clock reading and turns it into whole milliseconds.
pub(crate) fn millis(now_ms: f64) -> Result<u64> {
    if !now_ms.is_finite() || now_ms < 0.0 || now_ms > MAX_MS as f64 {
        return Err(Error::InvalidArgument {
            name: "now_ms",
            reason: format!("{now_ms} is not a time in milliseconds since 1970"),
        });
    }
    Ok(now_ms as u64)
}

/// Makes UUIDv7 ids that sort in creation order. Not `Clone`: a copy would repeat the ids.
#[derive(Debug)]
pub struct IdGenerator {
    rng: SeededRng,
    last_ms: u64,
    counter: u128,
    started: bool,
}

impl IdGenerator {
    /// A generator drawing from a PRNG seeded with `seed` (see [`seed_from_entropy`]).
    pub fn new(seed: u64) -> Self {
        Self { rng: SeededRng::new(seed), last_ms: 0, counter: 0, started: false }
    }

    fn random_bits(&mut self, bits: u32) -> u128 {
        let wide = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        wide >> (128 - bits)
    }

    /// The next id for an event at `now_ms`; [`Error::InvalidArgument`] (`now_ms`) for a time
    /// that is not finite, negative or past the year 10889.
    pub fn next_uuid(&mut self, now_ms: f64) -> Result<Uuid> {
        let ms = millis(now_ms)?;
        if self.started && ms <= self.last_ms {
            // Same millisecond, or the clock went backwards: stay on the last timestamp and
            // step the counter, so the order still follows creation.
            let step = 1 + self.random_bits(32);
            self.counter += step;
            if self.counter >> COUNTER_BITS != 0 {
                // 2^73 ids in one millisecond: borrow the next one.
                self.last_ms = (self.last_ms + 1).min(MAX_MS);
                self.counter = self.random_bits(COUNTER_BITS - 1);
            }
        } else {
            self.started = true;
            self.last_ms = ms;
            self.counter = self.random_bits(COUNTER_BITS - 1);
        }
        Ok(uuid_v7(self.last_ms, self.counter))
    }

    /// [`IdGenerator::next_uuid`] in canonical lower-case text (36 characters).
    pub fn next_id(&mut self, now_ms: f64) -> Result<String> {
        Ok(self.next_uuid(now_ms)?.hyphenated().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_variant_and_timestamp_bits() {
        let mut ids = IdGenerator::new(7);
        let id = ids.next_uuid(1_700_000_000_123.9).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let b = id.as_bytes();
        let ms = b[..6].iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        assert_eq!(ms, 1_700_000_000_123);
        assert!(crate::sync::event::is_uuid_text(&id.hyphenated().to_string()));
    }

    #[test]
    fn monotonic_in_one_millisecond_and_when_the_clock_goes_back() {
        let mut ids = IdGenerator::new(1);
        let mut last = String::new();
        for now in [5.0, 5.0, 5.0, 4.0, 3.0, 5.0, 6.0, 6.0, 1.0] {
            let id = ids.next_id(now).unwrap();
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }

    #[test]
    fn counter_overflow_moves_to_the_next_millisecond() {
        let mut ids = IdGenerator::new(3);
        let a = ids.next_uuid(10.0).unwrap();
        ids.counter = (1 << COUNTER_BITS) - 1;
        let b = ids.next_uuid(10.0).unwrap();
        assert!(b > a);
        assert_eq!(ids.last_ms, 11);
    }

    #[test]
    fn bad_clocks_are_typed_errors() {
        let mut ids = IdGenerator::new(3);
        for bad in [f64::NAN, -1.0, f64::INFINITY, 1e20] {
            assert!(matches!(ids.next_id(bad), Err(Error::InvalidArgument { name: "now_ms", .. })));
        }
    }

    #[test]
    fn entropy_changes_the_seed() {
        let a = seed_from_entropy(&[0; 16]);
        let mut e = [0; 16];
        e[15] = 1;
        assert_ne!(a, seed_from_entropy(&e));
        e = [0; 16];
        e[0] = 1;
        assert_ne!(a, seed_from_entropy(&e));
    }
}
