//! The exposure filter: a time-bucketed Bloom filter over item ids, so items a user was already
//! shown are not recalled again for a while, in a few kilobytes that persist across sessions.
//!
//! ## Buckets
//!
//! Time is cut into buckets of `bucket_s` seconds (epoch `e = ⌊now / bucket_s⌋`); the filter
//! keeps `B = buckets` Bloom filters in a ring, bucket `e` in slot `e mod B`. An insert goes into
//! the current bucket; when the current bucket's slot still holds an older epoch, that slot is
//! cleared first — that is how the oldest bucket expires (lazily, on the first insert of a new
//! period). A lookup at time `now` checks every *live* bucket: epochs in `(E − B, E]`, `E` the
//! current epoch. So an exposure stays visible for the current bucket and the `B − 1` before it
//! (with one-day buckets and `B = 30`: between 29 and 30 days, depending on the time of day), and
//! an id inserted 30 or more buckets ago is gone. Buckets from the "future" (the clock went
//! backwards) also count as live, so a clock correction never resurrects shown items.
//!
//! ## Sizing
//!
//! A Bloom filter with `m` bits and `k` hashes holding `n` ids has false-positive rate
//! `p ≈ (1 − e^(−kn/m))^k`, minimized by `m = −n·ln p / (ln 2)²` and `k = (m/n)·ln 2`
//! (Bloom 1970; Broder & Mitzenmacher 2004, "Network applications of Bloom filters", §2.1).
//! A lookup that checks `B` independent live buckets, each with rate `p_b`, is a false positive
//! when *any* bucket is: `P = 1 − (1 − p_b)^B ≈ B·p_b`. Sizing every bucket at the configured `p`
//! would therefore give a whole filter about `B` times worse than configured (≈ 26% for
//! `p = 1%`, `B = 30`). Each bucket is instead sized at `p_b = 1 − (1 − p)^(1/B)` (≈ `p / B`), so
//! a full filter — every live bucket holding `expected_per_bucket` ids — meets the configured
//! rate. The price is `log2(B)/ln 2 ≈ 1.44·log2 B` more bits per id: 16.7 instead of 9.6 bits
//! for `p = 1%`, `B = 30` (the default filter is about 31 KB).
//!
//! ## Hashing
//!
//! Ids are hashed once with MurmurHash3 x64-128 (Appleby; the same function Guava's
//! `BloomFilter` uses, stable across platforms and Rust versions — `std`'s `DefaultHasher` is
//! neither, and the bits persist), and the `k` probe positions derived by Kirsch–Mitzenmacher
//! double hashing `g_i = h1 + i·h2 mod m` ("Less hashing, same performance", 2006), which keeps
//! the asymptotic false-positive rate of `k` independent hashes. All buckets share `m` and `k`,
//! so one hash serves every bucket.
//!
//! ## Persistence
//!
//! [`ExposureFilter::to_bytes`] writes a versioned little-endian image (layout on
//! [`EXPOSURE_MAGIC`]) with a trailing checksum; [`ExposureFilter::from_bytes`] checks the magic,
//! version, every size and the checksum, and answers [`Error::StorageCorrupt`] instead of
//! panicking or allocating on garbage.

use crate::error::{Error, Result};

/// `"ERBF"`: the first four bytes of a persisted [`ExposureFilter`].
///
/// Layout (little-endian), version 1:
///
/// ```text
///  0  magic "ERBF"                    4 bytes
///  4  version = 1                     u32
///  8  false_positive_rate             f64
/// 16  expected_per_bucket             u64
/// 24  bucket_s                        i64
/// 32  buckets (B)                     u32
/// 36  hashes (k)                      u32
/// 40  bits per bucket (m)             u64
/// 48  epoch of each slot              B × i64   (i64::MIN = empty slot)
///  …  bit words of each slot          B × ⌈m/64⌉ × u64
///  …  checksum                        u64       (MurmurHash3 x64-128 h1 of all bytes before it)
/// ```
pub const EXPOSURE_MAGIC: [u8; 4] = *b"ERBF";
/// The persisted layout version this SDK reads and writes.
pub const EXPOSURE_VERSION: u32 = 1;
/// The storage key named in [`Error::StorageCorrupt`] errors from [`ExposureFilter::from_bytes`].
pub const EXPOSURE_STORAGE_KEY: &str = "exposure_filter";
/// The most buckets a filter may have (a year of one-day buckets with room to spare).
pub const MAX_BUCKETS: usize = 1024;
/// The most bytes a filter's bits may take (64 MiB); larger configurations are rejected, and so
/// are persisted images that claim more.
pub const MAX_FILTER_BYTES: u64 = 64 << 20;
/// The most hash probes per id (reached only for per-bucket rates below 2⁻⁶⁴).
pub const MAX_HASHES: u32 = 64;

const HEADER_BYTES: usize = 48;
const EMPTY_SLOT: i64 = i64::MIN;
const CHECKSUM_SEED: u64 = 0x0065_6467_6572_6563; // "edgerec"

/// How an [`ExposureFilter`] is sized and how long it remembers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExposureConfig {
    /// The target false-positive rate of a lookup across *all* live buckets when each holds
    /// `expected_per_bucket` ids, in `(0, 1)`. A false positive hides an item the user was never
    /// shown; it never shows a shown one.
    pub false_positive_rate: f64,
    /// Distinct ids expected per bucket. Inserting more still works, with a rising
    /// false-positive rate.
    pub expected_per_bucket: usize,
    /// Bucket length in seconds (≥ 1).
    pub bucket_s: i64,
    /// Number of buckets `B` in `1..=MAX_BUCKETS`: an exposure is remembered for `B` buckets.
    pub buckets: usize,
}

impl Default for ExposureConfig {
    /// 1% false positives, one-day buckets, 30 buckets (a month), 500 ids a day (a generous
    /// feed session count): about 31 KB.
    fn default() -> Self {
        Self { false_positive_rate: 0.01, expected_per_bucket: 500, bucket_s: 86_400, buckets: 30 }
    }
}

impl ExposureConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending field: a rate not strictly between 0 and
    /// 1 (or NaN), zero expected ids, a bucket length below one second, a bucket count outside
    /// `1..=MAX_BUCKETS`, or a filter over [`MAX_FILTER_BYTES`].
    pub fn validate(&self) -> Result<()> {
        self.sizing().map(|_| ())
    }

    /// The false-positive rate each bucket is sized for: `1 − (1 − p)^(1/B)`, so that a lookup
    /// across `B` full buckets has rate `p` (see the module docs).
    pub fn bucket_false_positive_rate(&self) -> f64 {
        let b = self.buckets.max(1) as f64;
        // −expm1(ln(1 − p) / B), precise for small p.
        -((-self.false_positive_rate).ln_1p() / b).exp_m1()
    }

    /// `(bits per bucket m, hashes k)` after validation.
    fn sizing(&self) -> Result<(u64, u32)> {
        let p = self.false_positive_rate;
        if !(p.is_finite() && p > 0.0 && p < 1.0) {
            return Err(Error::InvalidArgument {
                name: "false_positive_rate",
                reason: format!("{p} is not strictly between 0 and 1"),
            });
        }
        if self.expected_per_bucket == 0 {
            return Err(Error::InvalidArgument {
                name: "expected_per_bucket",
                reason: "must be at least 1".into(),
            });
        }
        if self.bucket_s < 1 {
            return Err(Error::InvalidArgument {
                name: "bucket_s",
                reason: format!("{} s is not a positive bucket length", self.bucket_s),
            });
        }
        if self.buckets == 0 || self.buckets > MAX_BUCKETS {
            return Err(Error::InvalidArgument {
                name: "buckets",
                reason: format!("{} is outside 1..={MAX_BUCKETS}", self.buckets),
            });
        }
        let n = self.expected_per_bucket as f64;
        let pb = self.bucket_false_positive_rate();
        let ln2 = std::f64::consts::LN_2;
        let m = (-n * pb.ln() / (ln2 * ln2)).ceil().max(1.0);
        let total_bytes = m / 8.0 * self.buckets as f64;
        // Infinite when the per-bucket rate underflows to 0: rejected too.
        if total_bytes > MAX_FILTER_BYTES as f64 {
            return Err(Error::InvalidArgument {
                name: "expected_per_bucket",
                reason: format!(
                    "{} ids per bucket × {} buckets at rate {p} need {total_bytes:.0} bytes, \
                     more than the {MAX_FILTER_BYTES}-byte limit",
                    self.expected_per_bucket, self.buckets
                ),
            });
        }
        let k = (m / n * ln2).round().clamp(1.0, f64::from(MAX_HASHES));
        // Both fit: m ≤ 8 · MAX_FILTER_BYTES, k ≤ MAX_HASHES.
        Ok((m as u64, k as u32))
    }
}

/// A time-bucketed Bloom filter of shown item ids (see the module docs). Owns its bits; clone it
/// to snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureFilter {
    config: ExposureConfig,
    /// Bits per bucket (`m`).
    bits: u64,
    /// Probes per id (`k`).
    hashes: u32,
    /// `⌈m / 64⌉`.
    words_per_bucket: usize,
    /// Epoch held by each slot, [`EMPTY_SLOT`] when unused.
    epochs: Vec<i64>,
    /// `B × words_per_bucket` words, slot-major.
    words: Vec<u64>,
}

impl ExposureFilter {
    /// An empty filter sized for `config`.
    ///
    /// # Errors
    /// As [`ExposureConfig::validate`].
    pub fn new(config: ExposureConfig) -> Result<Self> {
        let (bits, hashes) = config.sizing()?;
        let words_per_bucket = bits.div_ceil(64) as usize;
        Ok(Self {
            config,
            bits,
            hashes,
            words_per_bucket,
            epochs: vec![EMPTY_SLOT; config.buckets],
            words: vec![0; words_per_bucket * config.buckets],
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ExposureConfig {
        &self.config
    }

    /// Bits per bucket (`m`).
    pub fn bits_per_bucket(&self) -> u64 {
        self.bits
    }

    /// Hash probes per id (`k`).
    pub fn hashes(&self) -> u32 {
        self.hashes
    }

    /// Bytes held by the bit arrays (what [`ExposureFilter::to_bytes`] writes, minus a small
    /// header).
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }

    fn epoch(&self, now_s: i64) -> i64 {
        // Never the empty-slot sentinel (only reachable at now = i64::MIN with 1-second buckets).
        now_s.div_euclid(self.config.bucket_s).max(EMPTY_SLOT + 1)
    }

    fn slot_of(&self, epoch: i64) -> usize {
        // rem_euclid of a positive modulus ≤ MAX_BUCKETS is in 0..B.
        epoch.rem_euclid(self.config.buckets as i64) as usize
    }

    fn probes(&self, id: &str) -> impl Iterator<Item = usize> + use<> {
        let (h1, h2) = murmur3_x64_128(id.as_bytes(), 0);
        let m = self.bits;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    /// Records that `id` was shown at `now_s` (unix seconds), in the current bucket. If the
    /// current bucket's slot still holds an expired bucket, that bucket is cleared first.
    pub fn insert(&mut self, id: &str, now_s: i64) {
        let epoch = self.epoch(now_s);
        let slot = self.slot_of(epoch);
        if self.epochs[slot] < epoch {
            // An older epoch in the same slot is at least B buckets old: expired.
            self.words[slot * self.words_per_bucket..(slot + 1) * self.words_per_bucket].fill(0);
            self.epochs[slot] = epoch;
        }
        // A newer epoch in the slot means the clock went back by B buckets or more: record the
        // exposure in that (live) bucket rather than lose it.
        let base = slot * self.words_per_bucket;
        for bit in self.probes(id) {
            self.words[base + bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether `id` was (probably) shown within the live buckets at `now_s`: never `false` for
    /// an id inserted in a live bucket; `true` for an id never inserted with the configured
    /// false-positive rate (when the buckets are not over-filled).
    pub fn contains(&self, id: &str, now_s: i64) -> bool {
        let oldest_live = self.epoch(now_s).saturating_sub(self.config.buckets as i64);
        let mut probes = [0usize; MAX_HASHES as usize];
        for (p, bit) in probes.iter_mut().zip(self.probes(id)) {
            *p = bit;
        }
        let probes = &probes[..self.hashes as usize];
        self.epochs.iter().enumerate().any(|(slot, &epoch)| {
            epoch != EMPTY_SLOT && epoch > oldest_live && {
                let words = &self.words[slot * self.words_per_bucket..];
                probes.iter().all(|&bit| words[bit / 64] & (1 << (bit % 64)) != 0)
            }
        })
    }

    /// Forgets every exposure (keeps the configuration and the allocation).
    pub fn clear(&mut self) {
        self.epochs.fill(EMPTY_SLOT);
        self.words.fill(0);
    }

    /// The persisted image (layout on [`EXPOSURE_MAGIC`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_BYTES + 8 * (self.epochs.len() + self.words.len() + 1));
        out.extend_from_slice(&EXPOSURE_MAGIC);
        out.extend_from_slice(&EXPOSURE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.config.false_positive_rate.to_le_bytes());
        out.extend_from_slice(&(self.config.expected_per_bucket as u64).to_le_bytes());
        out.extend_from_slice(&self.config.bucket_s.to_le_bytes());
        out.extend_from_slice(&(self.config.buckets as u32).to_le_bytes());
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        for e in &self.epochs {
            out.extend_from_slice(&e.to_le_bytes());
        }
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let checksum = murmur3_x64_128(&out, CHECKSUM_SEED).0;
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads an image written by [`ExposureFilter::to_bytes`]. The stored `m` and `k` are used
    /// as written (not recomputed from the rate, whose floating-point sizing could differ by a
    /// bit between platforms), after range checks.
    ///
    /// # Errors
    /// [`Error::StorageCorrupt`] (key [`EXPOSURE_STORAGE_KEY`]) for anything that is not an
    /// intact image of this version: wrong magic, another version, an invalid configuration,
    /// sizes that disagree with the length, a failed checksum.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::StorageCorrupt {
            key: EXPOSURE_STORAGE_KEY.into(),
            reason: format!("exposure filter: {reason}"),
        };
        let header = bytes.get(..HEADER_BYTES).ok_or_else(|| {
            corrupt(format!("{} bytes is shorter than the {HEADER_BYTES}-byte header", bytes.len()))
        })?;
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(b)
        };
        if header[..4] != EXPOSURE_MAGIC {
            return Err(corrupt("bad magic (not an edgerec exposure filter)".into()));
        }
        let version = u32_at(4);
        if version != EXPOSURE_VERSION {
            return Err(corrupt(format!(
                "layout version {version} is not {EXPOSURE_VERSION} (written by another SDK \
                 version)"
            )));
        }
        let config = ExposureConfig {
            false_positive_rate: f64::from_bits(u64_at(8)),
            expected_per_bucket: usize::try_from(u64_at(16))
                .map_err(|_| corrupt("expected_per_bucket does not fit this platform".into()))?,
            bucket_s: u64_at(24) as i64,
            buckets: u32_at(32) as usize,
        };
        config.validate().map_err(|e| corrupt(format!("stored configuration: {e}")))?;
        let hashes = u32_at(36);
        let bits = u64_at(40);
        if hashes == 0 || hashes > MAX_HASHES {
            return Err(corrupt(format!("{hashes} hashes is outside 1..={MAX_HASHES}")));
        }
        if bits == 0 || bits.div_ceil(8).saturating_mul(config.buckets as u64) > MAX_FILTER_BYTES {
            return Err(corrupt(format!("{bits} bits per bucket is out of range")));
        }
        let words_per_bucket = bits.div_ceil(64) as usize;
        let body_words = config.buckets + words_per_bucket * config.buckets;
        let expected = HEADER_BYTES + 8 * body_words + 8;
        if bytes.len() != expected {
            return Err(corrupt(format!(
                "length {} does not match the {expected} bytes its header declares",
                bytes.len()
            )));
        }
        let (body, tail) = bytes.split_at(expected - 8);
        let mut stored = [0u8; 8];
        stored.copy_from_slice(tail);
        if u64::from_le_bytes(stored) != murmur3_x64_128(body, CHECKSUM_SEED).0 {
            return Err(corrupt("checksum mismatch (damaged bytes)".into()));
        }
        let mut values = body[HEADER_BYTES..].chunks_exact(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        });
        let epochs: Vec<i64> = values.by_ref().take(config.buckets).map(|v| v as i64).collect();
        let words: Vec<u64> = values.collect();
        Ok(Self { config, bits, hashes, words_per_bucket, epochs, words })
    }
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3 x64-128 (Austin Appleby, public domain reference `MurmurHash3_x64_128`), with
/// the 32-bit reference seed widened to `u64`. Returns `(h1, h2)`, the two 64-bit halves in the
/// order the reference writes them. Stable on every platform.
pub fn murmur3_x64_128(data: &[u8], seed: u64) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (seed, seed);
    let mut blocks = data.chunks_exact(16);
    let le = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    for block in blocks.by_ref() {
        let (k1, k2) = (le(&block[..8]), le(&block[8..]));
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 = h1.rotate_left(27).wrapping_add(h2).wrapping_mul(5).wrapping_add(0x52dc_e729);
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 = h2.rotate_left(31).wrapping_add(h1).wrapping_mul(5).wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= le(&tail[8..]).wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= le(&tail[..tail.len().min(8)]).wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(data: &str, seed: u64) -> String {
        let (h1, h2) = murmur3_x64_128(data.as_bytes(), seed);
        let mut bytes = h1.to_le_bytes().to_vec();
        bytes.extend_from_slice(&h2.to_le_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn murmur3_matches_reference_vectors() {
        // Published vectors (the reference's output bytes: h1 then h2, little-endian), as used
        // by independent implementations' test suites (seed 0x9747b28c) and Python's `mmh3`.
        assert_eq!(hex("", 0x9747_b28c), "b3bbaa1d8a202b397a9502e38f60b093");
        assert_eq!(
            hex("The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            "213163d23b7f8a73e516c07e727345f9"
        );
        assert_eq!(hex("Hello world", 0), "09c01ad2296d65bdb32ceb54cdb5b54a");
        assert_eq!(murmur3_x64_128(b"", 0), (0, 0));
    }

    #[test]
    fn sizing_follows_the_formulas() {
        let c = ExposureConfig::default();
        let f = ExposureFilter::new(c).unwrap();
        let pb = c.bucket_false_positive_rate();
        assert!((pb - 0.01 / 30.0).abs() < 2e-6, "{pb}");
        // m/n = −ln p_b / ln²2 ≈ 16.7 bits per id, k = round(m/n · ln 2) = 12.
        let per_id = f.bits_per_bucket() as f64 / 500.0;
        assert!((16.0..17.5).contains(&per_id), "{per_id}");
        assert_eq!(f.hashes(), 12);
        assert!(f.memory_bytes() < 32 * 1024);
    }

    #[test]
    fn rejects_bad_configs() {
        let ok = ExposureConfig::default();
        for (c, name) in [
            (ExposureConfig { false_positive_rate: 0.0, ..ok }, "false_positive_rate"),
            (ExposureConfig { false_positive_rate: 1.0, ..ok }, "false_positive_rate"),
            (ExposureConfig { false_positive_rate: f64::NAN, ..ok }, "false_positive_rate"),
            (ExposureConfig { expected_per_bucket: 0, ..ok }, "expected_per_bucket"),
            (ExposureConfig { expected_per_bucket: usize::MAX, ..ok }, "expected_per_bucket"),
            (ExposureConfig { bucket_s: 0, ..ok }, "bucket_s"),
            (ExposureConfig { buckets: 0, ..ok }, "buckets"),
            (ExposureConfig { buckets: MAX_BUCKETS + 1, ..ok }, "buckets"),
        ] {
            assert!(
                matches!(ExposureFilter::new(c), Err(Error::InvalidArgument { name: n, .. }) if n == name),
                "{c:?}"
            );
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let mut f =
            ExposureFilter::new(ExposureConfig { bucket_s: 1, ..Default::default() }).unwrap();
        for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            f.insert("x", t);
            assert!(f.contains("x", t));
        }
    }
}
