//! The exposure filter: a time-bucketed, scalable Bloom filter over item ids, so items a user was
//! already shown are not recalled again for a while, in a few kilobytes that persist across
//! sessions and grow only with what is shown.
//!
//! ## Buckets
//!
//! Time is cut into buckets of `bucket_s` seconds (epoch `e = ⌊now / bucket_s⌋`); the filter
//! keeps `B = buckets` buckets in a ring, bucket `e` in slot `e mod B`. An insert goes into the
//! current bucket; when the current bucket's slot still holds an older epoch, that slot is
//! cleared first (all its layers are dropped) — that is how the oldest bucket expires (lazily,
//! on the first insert of a new period). A lookup at time `now` checks every *live* bucket:
//! epochs in `(E − B, E]`, `E` the current epoch. So an exposure stays visible for the current
//! bucket and the `B − 1` before it (with one-day buckets and `B = 30`: between 29 and 30 days,
//! depending on the time of day), and an id inserted 30 or more buckets ago is gone. Buckets from
//! the "future" (the clock went backwards) also count as live, so a clock correction never
//! resurrects shown items.
//!
//! ## Sizing
//!
//! A Bloom filter with `m` bits and `k` hashes holding `n` ids has false-positive rate
//! `p ≈ (1 − e^(−kn/m))^k`, minimized by `m = −n·ln p / (ln 2)²` and `k = (m/n)·ln 2`
//! (Bloom 1970; Broder & Mitzenmacher 2004, "Network applications of Bloom filters", §2.1).
//! A lookup that checks `B` independent live buckets, each with rate `p_b`, is a false positive
//! when *any* bucket is: `P = 1 − (1 − p_b)^B ≈ B·p_b`. Sizing every bucket at the configured `p`
//! would therefore give a whole filter about `B` times worse than configured (≈ 26% for
//! `p = 1%`, `B = 30`). Each bucket is instead held to `p_b = 1 − (1 − p)^(1/B)` (≈ `p / B`), so
//! the whole filter meets the configured rate. The price is `log2(B)/ln 2 ≈ 1.44·log2 B` more
//! bits per id.
//!
//! ## Scalable layers
//!
//! A fixed-size filter saturates when a bucket receives more ids than it was sized for — its
//! rate tends to 1 and every lookup answers "shown", which would empty every recall channel. So
//! each bucket is a *scalable Bloom filter* (Almeida, Baquero, Preguiça & Hutchison 2007,
//! "Scalable Bloom Filters", Information Processing Letters 101(6)): a series of layers, each a
//! classic Bloom filter sized by the formulas above for its own capacity `n_i` and rate `P_i`.
//! Inserts go into the newest layer; when it holds `n_i` ids, a layer is added with capacity
//! `n_{i+1} = s·n_i` and rate `P_{i+1} = r·P_i` ([`LAYER_GROWTH`] `s = 2`, [`LAYER_TIGHTENING`]
//! `r = 1/2`). With `n_0 = expected_per_bucket` and `P_0 = p_b·(1 − r)`, the bucket's compound
//! rate is at most `Σ P_0·r^i = p_b` however many ids it holds (the paper's §4), so the whole
//! filter stays within `p`. An insert is counted only when the id is not already (probably) in
//! the bucket, so showing the same items again does not grow it. Layer `i` costs
//! `(−ln P_0 + i·ln 2)/(ln 2)²` bits per id: 18.1 bits for layer 0 with `p = 1%`, `B = 30`, and
//! 1.44 more for each later layer. (The paper splits each layer into `k` slices; a classic
//! filter of the same `m` and `k` has about the same rate.)
//!
//! Memory follows what is shown: an empty filter holds no bits; a bucket gets its first layer
//! (about 1.1 KB with the default configuration) on its first insert, and the default filter with
//! every bucket at `expected_per_bucket` ids takes about 34 KB; 20,000 ids in one day take about
//! 95 KB. The bits of all layers together never exceed [`MAX_FILTER_BYTES`] (room for every
//! empty bucket's first layer is kept in reserve): when a new layer would pass it, expired
//! buckets are released first, and if that is not enough the bucket stops growing and keeps
//! inserting into its last layer, whose rate then rises past `P_i` (the filter degrades instead
//! of failing).
//!
//! ## Relaxation: oldest exposures first
//!
//! When every candidate has already been shown, the funnel can ignore the oldest layers
//! ([`ExposureFilter::contains_recent`], [`crate::recall::Filters::exposure_recent`]): live layers
//! are ordered oldest first by (bucket epoch, layer index), and skipping the first `j` of them
//! brings back the items shown longest ago while still hiding the recent ones.
//!
//! ## Hashing
//!
//! Ids are hashed once with MurmurHash3 x64-128 (Appleby; the same function Guava's
//! `BloomFilter` uses, stable across platforms and Rust versions — `std`'s `DefaultHasher` is
//! neither, and the bits persist), and the `k` probe positions of each layer derived by
//! Kirsch–Mitzenmacher double hashing `g_i = h1 + i·h2 mod m` ("Less hashing, same
//! performance", 2006), which keeps the asymptotic false-positive rate of `k` independent
//! hashes. One hash serves every layer of every bucket.
//!
//! ## Persistence
//!
//! [`ExposureFilter::to_bytes`] writes a versioned little-endian image (layout on
//! [`EXPOSURE_MAGIC`]) with a trailing checksum; [`ExposureFilter::from_bytes`] checks the magic,
//! version, every size (against the length, before allocating) and the checksum, and answers
//! [`Error::StorageCorrupt`] instead of panicking or allocating on garbage. A version-1 image
//! (one fixed-size filter per bucket, written by older SDKs) is converted: each bucket becomes a
//! one-layer bucket whose id count is estimated from its fill (Swamidass & Baldi 2007,
//! `n ≈ −(m/k)·ln(1 − X/m)` for `X` set bits), and a bucket whose own false-positive rate
//! `(X/m)^k` is above the configured `p` — one saturated by the bug layers fix — is dropped, so a
//! user who hit it gets a working feed back rather than a blank one for up to `B` buckets.

use crate::error::{Error, Result};

/// `"ERBF"`: the first four bytes of a persisted [`ExposureFilter`].
///
/// Layout (little-endian), version 2:
///
/// ```text
///  0  magic "ERBF"                    4 bytes
///  4  version = 2                     u32
///  8  false_positive_rate             f64
/// 16  expected_per_bucket             u64
/// 24  bucket_s                        i64
/// 32  buckets (B)                     u32
/// 36  layers in all buckets (L)       u32
/// 40  bit words in all layers (W)     u64
/// 48  for each of the B slots, in slot order:
///       epoch                         i64       (i64::MIN = empty slot, then 0 layers)
///       layer count                   u32
///       for each layer, oldest first:
///         bits (m)                    u64
///         hashes (k)                  u32
///         ids counted                 u64       (≥ 1)
///         bit words                   ⌈m/64⌉ × u64
///  …  checksum                        u64       (MurmurHash3 x64-128 h1 of all bytes before it)
/// ```
///
/// The length is therefore `48 + 12·B + 20·L + 8·W + 8` bytes. Version 1 (read, converted, never
/// written) had at 36 `hashes (k)` u32, at 40 `bits per bucket (m)` u64, then `B` epochs and
/// `B × ⌈m/64⌉` words, then the checksum.
pub const EXPOSURE_MAGIC: [u8; 4] = *b"ERBF";
/// The persisted layout version this SDK writes (it also reads version 1, see the module docs).
pub const EXPOSURE_VERSION: u32 = 2;
/// The storage key named in [`Error::StorageCorrupt`] errors from [`ExposureFilter::from_bytes`].
pub const EXPOSURE_STORAGE_KEY: &str = "exposure_filter";
/// The most buckets a filter may have (a year of one-day buckets with room to spare).
pub const MAX_BUCKETS: usize = 1024;
/// The most bytes a filter's bits may take (64 MiB): configurations whose first layers alone
/// would pass it are rejected, and so are persisted images that claim more; a bucket stops
/// adding layers at it (see the module docs).
pub const MAX_FILTER_BYTES: u64 = 64 << 20;
/// The most hash probes per id in one layer (reached only for layer rates below 2⁻⁶⁴).
pub const MAX_HASHES: u32 = 64;
/// The most layers one bucket may have (the byte limit stops growth long before).
pub const MAX_LAYERS: usize = 64;
/// Capacity growth factor `s` from one layer of a bucket to the next (Almeida et al. 2007).
pub const LAYER_GROWTH: u64 = 2;
/// False-positive tightening ratio `r` from one layer of a bucket to the next (Almeida et al.
/// 2007); the first layer gets `p_b·(1 − r)` so that all of them together stay within `p_b`.
pub const LAYER_TIGHTENING: f64 = 0.5;

const HEADER_BYTES: usize = 48;
const SLOT_BYTES: u64 = 12;
const LAYER_BYTES: u64 = 20;
const MAX_WORDS: usize = (MAX_FILTER_BYTES / 8) as usize;
const EMPTY_SLOT: i64 = i64::MIN;
const CHECKSUM_SEED: u64 = 0x0065_6467_6572_6563; // "edgerec"

/// How an [`ExposureFilter`] is sized and how long it remembers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExposureConfig {
    /// The target false-positive rate of a lookup across *all* live buckets, in `(0, 1)`. A false
    /// positive hides an item the user was never shown; it never shows a shown one.
    #[serde(alias = "false_positive_rate")]
    pub false_positive_rate: f64,
    /// Distinct ids expected per bucket: the capacity of each bucket's first layer. Inserting
    /// more adds layers (see the module docs): the rate stays within bounds, memory grows.
    #[serde(alias = "expected_per_bucket")]
    pub expected_per_bucket: usize,
    /// Bucket length in seconds (≥ 1).
    #[serde(alias = "bucket_s")]
    pub bucket_s: i64,
    /// Number of buckets `B` in `1..=MAX_BUCKETS`: an exposure is remembered for `B` buckets.
    pub buckets: usize,
}

impl Default for ExposureConfig {
    /// 1% false positives, one-day buckets, 30 buckets (a month), 500 ids a day before a bucket
    /// adds a layer: about 1.1 KB per day that has exposures, 34 KB for a full month of 500 a
    /// day.
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
    /// `1..=MAX_BUCKETS`, or first layers over [`MAX_FILTER_BYTES`] in all.
    pub fn validate(&self) -> Result<()> {
        self.sizing().map(|_| ())
    }

    /// The false-positive rate each bucket is held to: `1 − (1 − p)^(1/B)`, so that a lookup
    /// across `B` buckets has rate `p` (see the module docs).
    pub fn bucket_false_positive_rate(&self) -> f64 {
        let b = self.buckets.max(1) as f64;
        // −expm1(ln(1 − p) / B), precise for small p.
        -((-self.false_positive_rate).ln_1p() / b).exp_m1()
    }

    /// The false-positive rate layer `layer` of a bucket is sized for: `p_b·(1 − r)·r^layer`.
    pub fn layer_false_positive_rate(&self, layer: usize) -> f64 {
        self.ln_layer_rate(layer).exp()
    }

    /// The ids layer `layer` of a bucket holds before the next one is added:
    /// `expected_per_bucket · s^layer` (saturating).
    pub fn layer_capacity(&self, layer: usize) -> u64 {
        let growth = LAYER_GROWTH.checked_pow(layer.min(64) as u32).unwrap_or(u64::MAX);
        (self.expected_per_bucket as u64).saturating_mul(growth)
    }

    /// `ln P_layer`, without underflow for deep layers.
    fn ln_layer_rate(&self, layer: usize) -> f64 {
        let p0 = self.bucket_false_positive_rate() * (1.0 - LAYER_TIGHTENING);
        p0.ln() + layer as f64 * LAYER_TIGHTENING.ln()
    }

    /// `(bits m, hashes k)` of layer `layer` as `f64` bits (unbounded) and `u32` hashes.
    fn layer_bits(&self, layer: usize) -> (f64, u32) {
        let n = self.layer_capacity(layer) as f64;
        let ln2 = std::f64::consts::LN_2;
        // Infinite when the rate underflowed to 0 (`max` maps a NaN to 1): the callers reject it.
        let m = (-n * self.ln_layer_rate(layer) / (ln2 * ln2)).ceil().max(1.0);
        let k = (m / n * ln2).round().clamp(1.0, f64::from(MAX_HASHES));
        (m, k as u32)
    }

    /// `(bits m, hashes k)` of layer `layer`, or `None` when one layer alone would pass
    /// [`MAX_FILTER_BYTES`].
    fn layer_sizing(&self, layer: usize) -> Option<(u64, u32)> {
        let (m, k) = self.layer_bits(layer);
        // Also false for an infinite m (a rate that underflowed).
        (m <= 8.0 * MAX_FILTER_BYTES as f64).then_some((m as u64, k))
    }

    /// `(bits m, hashes k)` of a bucket's first layer, after validation.
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
        let (m, k) = self.layer_bits(0);
        let total_bytes = (m / 64.0).ceil() * 8.0 * self.buckets as f64;
        // Infinite when the per-bucket rate underflows to 0: rejected too.
        if !total_bytes.is_finite() || total_bytes > MAX_FILTER_BYTES as f64 {
            return Err(Error::InvalidArgument {
                name: "expected_per_bucket",
                reason: format!(
                    "{} ids per bucket × {} buckets at rate {p} need {total_bytes:.0} bytes, \
                     more than the {MAX_FILTER_BYTES}-byte limit",
                    self.expected_per_bucket, self.buckets
                ),
            });
        }
        // Fits: m ≤ 8 · MAX_FILTER_BYTES.
        Ok((m as u64, k))
    }
}

/// One layer of a bucket: a classic Bloom filter of its own size.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    /// Bits (`m ≥ 1`).
    bits: u64,
    /// Probes per id (`k` in `1..=MAX_HASHES`).
    hashes: u32,
    /// Ids counted into it (inserts that were not already in the bucket); ≥ 1.
    count: u64,
    /// `⌈m / 64⌉` words.
    words: Vec<u64>,
}

impl Layer {
    fn new(bits: u64, hashes: u32) -> Self {
        Self { bits, hashes, count: 0, words: vec![0; bits.div_ceil(64) as usize] }
    }

    fn probes(&self, (h1, h2): (u64, u64)) -> impl Iterator<Item = usize> + use<> {
        let m = self.bits;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn contains(&self, hash: (u64, u64)) -> bool {
        self.probes(hash).all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    fn insert(&mut self, hash: (u64, u64)) {
        for bit in self.probes(hash) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
        self.count = self.count.saturating_add(1);
    }
}

/// The bucket of one ring slot: its epoch ([`EMPTY_SLOT`] when unused, then no layers) and its
/// layers, oldest first (none until its first insert).
#[derive(Debug, Clone, PartialEq)]
struct Bucket {
    epoch: i64,
    layers: Vec<Layer>,
}

impl Bucket {
    const EMPTY: Self = Self { epoch: EMPTY_SLOT, layers: Vec::new() };

    fn words(&self) -> usize {
        self.layers.iter().map(|l| l.words.len()).sum()
    }
}

/// Which layers a lookup checks: live buckets (epoch above `oldest_live`), and in them the layers
/// at or after `from` in (epoch, layer index) order; `None` checks nothing. Computed once per
/// request by [`ExposureFilter::window`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerWindow {
    oldest_live: i64,
    from: Option<(i64, usize)>,
}

/// A time-bucketed scalable Bloom filter of shown item ids (see the module docs). Owns its bits;
/// clone it to snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureFilter {
    config: ExposureConfig,
    /// Bits of a bucket's first layer (`m_0`).
    first_bits: u64,
    /// Probes per id of a bucket's first layer (`k_0`).
    first_hashes: u32,
    /// One bucket per ring slot (`B`).
    slots: Vec<Bucket>,
    /// Words held by all layers (kept in step with `slots`).
    total_words: usize,
}

impl ExposureFilter {
    /// An empty filter sized for `config` (it holds no bits until the first insert).
    ///
    /// # Errors
    /// As [`ExposureConfig::validate`].
    pub fn new(config: ExposureConfig) -> Result<Self> {
        let (first_bits, first_hashes) = config.sizing()?;
        Ok(Self {
            config,
            first_bits,
            first_hashes,
            slots: vec![Bucket::EMPTY; config.buckets],
            total_words: 0,
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ExposureConfig {
        &self.config
    }

    /// Bits of a bucket's first layer (`m_0`, for `expected_per_bucket` ids).
    pub fn first_layer_bits(&self) -> u64 {
        self.first_bits
    }

    /// Hash probes per id in a bucket's first layer (`k_0`; each later layer has about one
    /// more).
    pub fn hashes(&self) -> u32 {
        self.first_hashes
    }

    /// Bytes held by the bit arrays of all layers (about what [`ExposureFilter::to_bytes`]
    /// writes, less the headers): 0 for an empty filter.
    pub fn memory_bytes(&self) -> usize {
        self.total_words * 8
    }

    /// The ids counted into the live buckets at `now_s`: distinct ids, less the few an insert
    /// took for already present (false positives), plus re-inserts into different buckets.
    pub fn live_ids(&self, now_s: i64) -> usize {
        let oldest_live = self.oldest_live(now_s);
        let count: u64 = self
            .live_buckets(oldest_live)
            .flat_map(|b| &b.layers)
            .fold(0, |n, l| n.saturating_add(l.count));
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    /// The number of non-empty layers over all live buckets at `now_s` (the most
    /// [`ExposureFilter::contains_recent`] can usefully skip).
    pub fn live_layers(&self, now_s: i64) -> usize {
        self.live_buckets(self.oldest_live(now_s)).map(|b| b.layers.len()).sum()
    }

    fn epoch(&self, now_s: i64) -> i64 {
        // Never the empty-slot sentinel (only reachable at now = i64::MIN with 1-second buckets).
        now_s.div_euclid(self.config.bucket_s).max(EMPTY_SLOT + 1)
    }

    /// Buckets with an epoch above this one are live at `now_s`.
    fn oldest_live(&self, now_s: i64) -> i64 {
        self.epoch(now_s).saturating_sub(self.config.buckets as i64)
    }

    fn live_buckets(&self, oldest_live: i64) -> impl Iterator<Item = &Bucket> {
        // `epoch > oldest_live ≥ i64::MIN` also rules out empty slots.
        self.slots.iter().filter(move |b| b.epoch > oldest_live && !b.layers.is_empty())
    }

    fn slot_of(&self, epoch: i64) -> usize {
        // rem_euclid of a positive modulus ≤ MAX_BUCKETS is in 0..B.
        epoch.rem_euclid(self.config.buckets as i64) as usize
    }

    /// Empties `slot`, releasing its layers.
    fn release(&mut self, slot: usize) {
        self.total_words -= self.slots[slot].words();
        self.slots[slot] = Bucket::EMPTY;
    }

    /// Whether a new layer of `words` fits under [`MAX_FILTER_BYTES`] with a first layer's room
    /// kept for every empty slot (so a new bucket can always start).
    fn has_room(&self, words: usize) -> bool {
        let empty = self.slots.iter().filter(|b| b.layers.is_empty()).count();
        let reserve = empty.saturating_mul(self.first_bits.div_ceil(64) as usize);
        self.total_words.saturating_add(words).saturating_add(reserve) <= MAX_WORDS
    }

    /// Adds a layer to `slot` if it may grow: always a first layer; a later one while under
    /// [`MAX_LAYERS`] and [`MAX_FILTER_BYTES`] (after releasing buckets expired at `epoch`).
    fn grow(&mut self, slot: usize, epoch: i64) {
        let index = self.slots[slot].layers.len();
        let (bits, hashes) = if index == 0 {
            (self.first_bits, self.first_hashes)
        } else {
            let Some((bits, hashes)) =
                self.config.layer_sizing(index).filter(|_| index < MAX_LAYERS)
            else {
                return;
            };
            let words = bits.div_ceil(64) as usize;
            if !self.has_room(words) {
                let oldest_live = epoch.saturating_sub(self.config.buckets as i64);
                for s in 0..self.slots.len() {
                    let e = self.slots[s].epoch;
                    if e != EMPTY_SLOT && e <= oldest_live {
                        self.release(s);
                    }
                }
                if !self.has_room(words) {
                    return;
                }
            }
            (bits, hashes)
        };
        let layer = Layer::new(bits, hashes);
        self.total_words += layer.words.len();
        self.slots[slot].layers.push(layer);
    }

    /// Records that `id` was shown at `now_s` (unix seconds), in the current bucket. If the
    /// current bucket's slot still holds an expired bucket, that bucket is released first. An id
    /// the bucket already (probably) holds changes nothing; a new one goes into the bucket's
    /// newest layer, after adding a layer when that one is at capacity (see the module docs).
    pub fn insert(&mut self, id: &str, now_s: i64) {
        let epoch = self.epoch(now_s);
        let slot = self.slot_of(epoch);
        if self.slots[slot].epoch < epoch {
            // An older epoch in the same slot is at least B buckets old: expired.
            self.release(slot);
            self.slots[slot].epoch = epoch;
        }
        // A newer epoch in the slot means the clock went back by B buckets or more: record the
        // exposure in that (live) bucket rather than lose it.
        let hash = murmur3_x64_128(id.as_bytes(), 0);
        let bucket = &self.slots[slot];
        if bucket.layers.iter().any(|l| l.contains(hash)) {
            return;
        }
        let last = bucket.layers.len().checked_sub(1);
        if last.is_none_or(|i| bucket.layers[i].count >= self.config.layer_capacity(i)) {
            self.grow(slot, epoch);
        }
        // Present: `grow` always gives an empty bucket its first layer.
        if let Some(layer) = self.slots[slot].layers.last_mut() {
            layer.insert(hash);
        }
    }

    /// Whether `id` was (probably) shown within the live buckets at `now_s`: never `false` for
    /// an id inserted in a live bucket; `true` for an id never inserted with at most the
    /// configured false-positive rate (unless buckets stopped growing at [`MAX_FILTER_BYTES`]).
    /// The same as [`ExposureFilter::contains_recent`] with `skip_oldest = 0`.
    pub fn contains(&self, id: &str, now_s: i64) -> bool {
        self.contains_in(id, &self.window(now_s, 0))
    }

    /// [`ExposureFilter::contains`] ignoring the `skip_oldest` oldest live layers, ordered oldest
    /// first by (bucket epoch, layer index within the bucket): ids inserted only into skipped
    /// layers are forgotten, ids in newer layers or buckets are not. With `skip_oldest` at least
    /// [`ExposureFilter::live_layers`], always `false`.
    ///
    /// Within a bucket an id belongs to the layer that took it first: showing it again in the
    /// same bucket does not move it to the newest layer, and an id whose insert found it already
    /// (falsely) present — probability below `p_b` — is forgotten with the layer that matched.
    pub fn contains_recent(&self, id: &str, now_s: i64, skip_oldest: usize) -> bool {
        self.contains_in(id, &self.window(now_s, skip_oldest))
    }

    /// The layers a lookup at `now_s` skipping the `skip_oldest` oldest live ones checks (worth
    /// computing once for many lookups: it sorts the live buckets).
    pub(crate) fn window(&self, now_s: i64, skip_oldest: usize) -> LayerWindow {
        let oldest_live = self.oldest_live(now_s);
        let from = if skip_oldest == 0 {
            Some((i64::MIN, 0))
        } else {
            let mut live: Vec<(i64, usize)> =
                self.live_buckets(oldest_live).map(|b| (b.epoch, b.layers.len())).collect();
            // Oldest epoch first (flipping the sign bit orders i64 as u64).
            crate::order::sort_by_key_stable(&mut live, |&(epoch, _)| (epoch as u64) ^ (1 << 63));
            let mut left = skip_oldest;
            live.into_iter().find_map(|(epoch, layers)| {
                if left < layers {
                    Some((epoch, left))
                } else {
                    left -= layers;
                    None
                }
            })
        };
        LayerWindow { oldest_live, from }
    }

    /// Whether `id` is (probably) in a layer of `window`.
    pub(crate) fn contains_in(&self, id: &str, window: &LayerWindow) -> bool {
        let Some((from_epoch, from_layer)) = window.from else {
            return false;
        };
        let hash = murmur3_x64_128(id.as_bytes(), 0);
        self.live_buckets(window.oldest_live).any(|b| {
            let skip = match b.epoch.cmp(&from_epoch) {
                std::cmp::Ordering::Less => return false,
                std::cmp::Ordering::Equal => from_layer,
                std::cmp::Ordering::Greater => 0,
            };
            b.layers.iter().skip(skip).any(|l| l.contains(hash))
        })
    }

    /// Forgets every exposure and releases every layer (keeps the configuration).
    pub fn clear(&mut self) {
        self.slots.fill(Bucket::EMPTY);
        self.total_words = 0;
    }

    /// The persisted image (layout on [`EXPOSURE_MAGIC`], version 2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let layers: usize = self.slots.iter().map(|b| b.layers.len()).sum();
        let len = HEADER_BYTES
            + SLOT_BYTES as usize * self.slots.len()
            + LAYER_BYTES as usize * layers
            + 8 * self.total_words
            + 8;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&EXPOSURE_MAGIC);
        out.extend_from_slice(&EXPOSURE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.config.false_positive_rate.to_le_bytes());
        out.extend_from_slice(&(self.config.expected_per_bucket as u64).to_le_bytes());
        out.extend_from_slice(&self.config.bucket_s.to_le_bytes());
        out.extend_from_slice(&(self.config.buckets as u32).to_le_bytes());
        // ≤ MAX_BUCKETS · MAX_LAYERS and ≤ MAX_WORDS.
        out.extend_from_slice(&(layers as u32).to_le_bytes());
        out.extend_from_slice(&(self.total_words as u64).to_le_bytes());
        for bucket in &self.slots {
            out.extend_from_slice(&bucket.epoch.to_le_bytes());
            out.extend_from_slice(&(bucket.layers.len() as u32).to_le_bytes());
            for layer in &bucket.layers {
                out.extend_from_slice(&layer.bits.to_le_bytes());
                out.extend_from_slice(&layer.hashes.to_le_bytes());
                out.extend_from_slice(&layer.count.to_le_bytes());
                for w in &layer.words {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
        let checksum = murmur3_x64_128(&out, CHECKSUM_SEED).0;
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), len);
        out
    }

    /// Reads an image written by [`ExposureFilter::to_bytes`], or converts a version-1 image
    /// (see the module docs). Each layer's stored `m` and `k` are used as written (not
    /// recomputed from the rate, whose floating-point sizing could differ by a bit between
    /// platforms), after range checks; layers added later are sized here.
    ///
    /// # Errors
    /// [`Error::StorageCorrupt`] (key [`EXPOSURE_STORAGE_KEY`]) for anything that is not an
    /// intact image of version 1 or 2: wrong magic, another version, an invalid configuration,
    /// sizes that disagree with the length or each other, a failed checksum.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let header = bytes.get(..HEADER_BYTES).ok_or_else(|| {
            corrupt(format!("{} bytes is shorter than the {HEADER_BYTES}-byte header", bytes.len()))
        })?;
        let mut r = Reader { bytes: header, at: 0 };
        if r.take(4) != Some(&EXPOSURE_MAGIC[..]) {
            return Err(corrupt("bad magic (not an edgerec exposure filter)".into()));
        }
        // The header is 48 bytes long: every read below succeeds.
        let version = r.u32().unwrap_or_default();
        if version != EXPOSURE_VERSION && version != 1 {
            return Err(corrupt(format!(
                "layout version {version} is neither {EXPOSURE_VERSION} nor 1 (written by another \
                 SDK version)"
            )));
        }
        let rate = f64::from_bits(r.u64().unwrap_or_default());
        let expected_per_bucket = usize::try_from(r.u64().unwrap_or_default())
            .map_err(|_| corrupt("expected_per_bucket does not fit this platform".into()))?;
        let config = ExposureConfig {
            false_positive_rate: rate,
            expected_per_bucket,
            bucket_s: r.i64().unwrap_or_default(),
            buckets: r.u32().unwrap_or_default() as usize,
        };
        let (first_bits, first_hashes) =
            config.sizing().map_err(|e| corrupt(format!("stored configuration: {e}")))?;
        // Version 2: total layers and words; version 1: hashes and bits per bucket.
        let (at_36, at_40) = (r.u32().unwrap_or_default(), r.u64().unwrap_or_default());
        let body = if version == 1 {
            v1_body(bytes, &config, at_36, at_40)?
        } else {
            v2_body(bytes, &config, at_36, at_40)?
        };
        let mut values = Reader { bytes: &body[HEADER_BYTES..], at: 0 };
        let mut filter = Self {
            config,
            first_bits,
            first_hashes,
            slots: Vec::with_capacity(config.buckets),
            total_words: 0,
        };
        if version == 1 {
            filter.read_v1(&mut values, at_36, at_40)?;
        } else {
            filter.read_v2(&mut values)?;
        }
        Ok(filter)
    }

    /// Reads the version-2 slots (sizes already checked against the length by [`v2_body`]).
    fn read_v2(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let short = || corrupt("layer sizes disagree with the header's totals".into());
        let buckets = self.config.buckets;
        for slot in 0..buckets {
            let epoch = r.i64().ok_or_else(short)?;
            let layers = r.u32().ok_or_else(short)? as usize;
            if (epoch == EMPTY_SLOT) != (layers == 0) {
                return Err(corrupt(format!(
                    "slot {slot}: epoch {epoch} with {layers} layers (an empty slot has none, \
                     a used one at least one)"
                )));
            }
            if epoch != EMPTY_SLOT && epoch.rem_euclid(buckets as i64) as usize != slot {
                return Err(corrupt(format!("slot {slot}: epoch {epoch} belongs to another slot")));
            }
            if layers > MAX_LAYERS {
                return Err(corrupt(format!("slot {slot}: {layers} layers, over {MAX_LAYERS}")));
            }
            let mut bucket = Bucket { epoch, layers: Vec::with_capacity(layers) };
            for index in 0..layers {
                let bits = r.u64().ok_or_else(short)?;
                let hashes = r.u32().ok_or_else(short)?;
                let count = r.u64().ok_or_else(short)?;
                if bits == 0 || bits > 8 * MAX_FILTER_BYTES {
                    return Err(corrupt(format!("slot {slot} layer {index}: {bits} bits")));
                }
                if hashes == 0 || hashes > MAX_HASHES {
                    return Err(corrupt(format!(
                        "slot {slot} layer {index}: {hashes} hashes is outside 1..={MAX_HASHES}"
                    )));
                }
                if count == 0 {
                    return Err(corrupt(format!("slot {slot} layer {index}: no ids")));
                }
                let words = bits.div_ceil(64) as usize;
                // Checked against what is left before allocating.
                if r.remaining() < words * 8 {
                    return Err(short());
                }
                let words: Vec<u64> = (0..words).map_while(|_| r.u64()).collect();
                self.total_words += words.len();
                bucket.layers.push(Layer { bits, hashes, count, words });
            }
            self.slots.push(bucket);
        }
        if r.remaining() != 0 {
            return Err(short());
        }
        Ok(())
    }

    /// Converts the version-1 slots: `hashes` and `bits` from its header, sizes checked by
    /// [`v1_body`].
    fn read_v1(&mut self, r: &mut Reader<'_>, hashes: u32, bits: u64) -> Result<()> {
        let buckets = self.config.buckets;
        let words = bits.div_ceil(64) as usize;
        let epochs: Vec<i64> = (0..buckets).map_while(|_| r.i64()).collect();
        let limit = self.config.false_positive_rate;
        for (slot, &epoch) in epochs.iter().enumerate() {
            let layer_words: Vec<u64> = (0..words).map_while(|_| r.u64()).collect();
            let set: u64 = layer_words.iter().map(|w| u64::from(w.count_ones())).sum();
            let fill = set as f64 / bits as f64;
            // Its own rate (X/m)^k; an unused, saturated or over-filled bucket is dropped.
            let keep = epoch != EMPTY_SLOT
                && epoch.rem_euclid(buckets as i64) as usize == slot
                && set > 0
                && fill.powi(hashes as i32) <= limit;
            if !keep {
                self.slots.push(Bucket::EMPTY);
                continue;
            }
            // Swamidass & Baldi 2007: n ≈ −(m/k)·ln(1 − X/m); fill < 1 here.
            let estimate = -(bits as f64 / f64::from(hashes)) * (-fill).ln_1p();
            let count = (estimate.round() as u64).max(1);
            self.total_words += layer_words.len();
            let layer = Layer { bits, hashes, count, words: layer_words };
            self.slots.push(Bucket { epoch, layers: vec![layer] });
        }
        if r.remaining() != 0 || self.slots.len() != buckets {
            return Err(corrupt("slot sizes disagree with the length".into()));
        }
        Ok(())
    }
}

fn corrupt(reason: String) -> Error {
    Error::StorageCorrupt {
        key: EXPOSURE_STORAGE_KEY.into(),
        reason: format!("exposure filter: {reason}"),
    }
}

/// Checks a checksum-terminated image's stored checksum; returns the bytes before it.
fn checked_body(bytes: &[u8], expected: u64) -> Result<&[u8]> {
    if bytes.len() as u64 != expected {
        return Err(corrupt(format!(
            "length {} does not match the {expected} bytes its header declares",
            bytes.len()
        )));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let mut stored = [0u8; 8];
    stored.copy_from_slice(tail);
    if u64::from_le_bytes(stored) != murmur3_x64_128(body, CHECKSUM_SEED).0 {
        return Err(corrupt("checksum mismatch (damaged bytes)".into()));
    }
    Ok(body)
}

/// The version-2 body, its declared `layers` and `words` totals checked against the limits and
/// the length, and its checksum verified.
fn v2_body<'a>(
    bytes: &'a [u8],
    config: &ExposureConfig,
    layers: u32,
    words: u64,
) -> Result<&'a [u8]> {
    let buckets = config.buckets as u64;
    if u64::from(layers) > buckets * MAX_LAYERS as u64 {
        return Err(corrupt(format!("{layers} layers for {buckets} buckets is out of range")));
    }
    if words > MAX_WORDS as u64 {
        return Err(corrupt(format!(
            "{words} words of bits is more than the {MAX_FILTER_BYTES}-byte limit"
        )));
    }
    // Small: every term is bounded above.
    let expected = HEADER_BYTES as u64
        + SLOT_BYTES * buckets
        + LAYER_BYTES * u64::from(layers)
        + 8 * words
        + 8;
    checked_body(bytes, expected)
}

/// The version-1 body (one filter of `bits` bits and `hashes` probes per slot), checked as
/// [`v2_body`].
fn v1_body<'a>(
    bytes: &'a [u8],
    config: &ExposureConfig,
    hashes: u32,
    bits: u64,
) -> Result<&'a [u8]> {
    if hashes == 0 || hashes > MAX_HASHES {
        return Err(corrupt(format!("{hashes} hashes is outside 1..={MAX_HASHES}")));
    }
    let buckets = config.buckets as u64;
    if bits == 0 || bits.div_ceil(64).saturating_mul(8 * buckets) > MAX_FILTER_BYTES {
        return Err(corrupt(format!("{bits} bits per bucket is out of range")));
    }
    let expected = HEADER_BYTES as u64 + 8 * (buckets + bits.div_ceil(64) * buckets) + 8;
    let body = checked_body(bytes, expected).map_err(|e| match e {
        Error::StorageCorrupt { key, reason } => Error::StorageCorrupt {
            key,
            reason: format!("{reason} (a version-1 image, written by an older SDK)"),
        },
        e => e,
    })?;
    Ok(body)
}

/// Little-endian reads off a byte slice; `None` past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
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

    const DAY: i64 = 86_400;
    /// Midnight of some day.
    const T0: i64 = 1_700_000_000 - 1_700_000_000 % DAY;

    fn hex(data: &str, seed: u64) -> String {
        let (h1, h2) = murmur3_x64_128(data.as_bytes(), seed);
        let mut bytes = h1.to_le_bytes().to_vec();
        bytes.extend_from_slice(&h2.to_le_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn default_filter() -> ExposureFilter {
        ExposureFilter::new(ExposureConfig::default()).unwrap()
    }

    fn layer_counts(f: &ExposureFilter) -> Vec<(i64, Vec<u64>)> {
        f.slots
            .iter()
            .filter(|b| !b.layers.is_empty())
            .map(|b| (b.epoch, b.layers.iter().map(|l| l.count).collect()))
            .collect()
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
        let mut f = ExposureFilter::new(c).unwrap();
        let pb = c.bucket_false_positive_rate();
        assert!((pb - 0.01 / 30.0).abs() < 2e-6, "{pb}");
        // Layer 0 at P_0 = p_b / 2: m/n = −ln P_0 / ln²2 ≈ 18.1 bits per id,
        // k = round(m/n · ln 2) = 13.
        assert!((c.layer_false_positive_rate(0) - pb / 2.0).abs() < 1e-12);
        let per_id = f.first_layer_bits() as f64 / 500.0;
        assert!((17.5..18.7).contains(&per_id), "{per_id}");
        assert_eq!(f.hashes(), 13);
        // Nothing is allocated before the first insert; then one first layer.
        assert_eq!(f.memory_bytes(), 0);
        f.insert("x", T0);
        assert_eq!(f.memory_bytes(), f.first_layer_bits().div_ceil(64) as usize * 8);
        assert!(f.memory_bytes() < 1200);
        // A full month of 500 a day: about 34 KB.
        assert!(30 * f.memory_bytes() < 35 * 1024);
    }

    #[test]
    fn layers_follow_the_scalable_schedule() {
        let c = ExposureConfig::default();
        let pb = c.bucket_false_positive_rate();
        let mut sum = 0.0;
        for i in 0..40 {
            let p = c.layer_false_positive_rate(i);
            assert!((p / (pb * 0.5 * 0.5f64.powi(i as i32)) - 1.0).abs() < 1e-9, "layer {i}");
            assert_eq!(c.layer_capacity(i), 500 << i);
            let (m, k) = c.layer_sizing(i).unwrap_or((u64::MAX, 0));
            if i < 12 {
                // k_i ≈ k_0 + i·log2(1/r) (the paper's §4), m_i/n_i ≈ m_0/n_0 + 1.44·i.
                assert!(k.abs_diff(13 + i as u32) <= 1, "layer {i}: k = {k}");
                let per_id = m as f64 / c.layer_capacity(i) as f64;
                assert!(
                    (per_id - 18.1 - std::f64::consts::LOG2_E * i as f64).abs() < 0.1,
                    "layer {i}: {per_id}"
                );
            }
            sum += p;
        }
        // Σ P_i ≤ p_b: a bucket with any number of layers stays within its share.
        assert!(sum <= pb, "{sum} > {pb}");
        assert_eq!(c.layer_capacity(200), u64::MAX);
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
            let live = f.live_layers(t);
            assert!(f.contains_recent("x", t, live - 1) && !f.contains_recent("x", t, live));
            assert!(!f.contains_recent("x", t, usize::MAX));
        }
    }

    #[test]
    fn a_bucket_grows_layers_past_its_capacity() {
        let mut f = default_filter();
        for i in 0..3_600 {
            f.insert(&format!("id-{i}"), T0 + 60);
        }
        // 500 + 1000 + 2000 = 3,500 < 3,600: a fourth layer (barring insert-time false
        // positives, which are not counted).
        let counts = layer_counts(&f);
        assert_eq!(counts.len(), 1);
        let layers = &counts[0].1;
        assert_eq!(layers.len(), 4, "{layers:?}");
        assert_eq!(&layers[..3], &[500, 1000, 2000]);
        assert_eq!(f.live_ids(T0 + 60) as u64, layers.iter().sum::<u64>());
        assert!(f.live_ids(T0 + 60) > 3_590);
        assert_eq!(f.live_layers(T0 + 60), 4);
        assert!((0..3_600).all(|i| f.contains(&format!("id-{i}"), T0 + 60)));
        let words: usize =
            (0..4).map(|i| f.config.layer_sizing(i).unwrap().0.div_ceil(64) as usize).sum();
        assert_eq!(f.memory_bytes(), 8 * words);
    }

    #[test]
    fn reinserting_the_same_ids_adds_no_layers() {
        let mut f = default_filter();
        let now = T0 + 3_600;
        for _ in 0..1_000 {
            for i in 0..100 {
                f.insert(&format!("again-{i}"), now);
            }
        }
        assert_eq!(f.live_layers(now), 1);
        assert_eq!(f.live_ids(now), 100);
        assert_eq!(f.memory_bytes(), f.first_layer_bits().div_ceil(64) as usize * 8);
        // The same ids on another day go into that day's bucket (remembered longer), once.
        for _ in 0..10 {
            for i in 0..100 {
                f.insert(&format!("again-{i}"), now + DAY);
            }
        }
        assert_eq!(f.live_layers(now + DAY), 2);
        assert_eq!(f.live_ids(now + DAY), 200);
    }

    #[test]
    fn contains_recent_skips_the_oldest_layers_first() {
        let mut f = default_filter();
        let day0 = T0 + 100;
        for i in 0..600 {
            f.insert(&format!("d0-{i}"), day0);
        }
        let now = day0;
        assert_eq!(layer_counts(&f)[0].1, vec![500, 100]);
        assert_eq!(f.live_layers(now), 2);
        let all = |f: &ExposureFilter, prefix: &str, range: std::ops::Range<usize>, skip| {
            range
                .map(|i| f.contains_recent(&format!("{prefix}-{i}"), now, skip))
                .collect::<Vec<_>>()
        };
        // Skip 0 is `contains`.
        for i in 0..700 {
            let id = format!("d0-{i}");
            assert_eq!(f.contains(&id, now), f.contains_recent(&id, now, 0), "{id}");
        }
        // Skipping layer 0 forgets the first 500 ids and keeps the last 100.
        assert!(all(&f, "d0", 0..500, 1).iter().all(|&c| !c));
        assert!(all(&f, "d0", 500..600, 1).iter().all(|&c| c));
        assert!(all(&f, "d0", 0..600, 2).iter().all(|&c| !c));

        // A second, newer bucket: its layer is skipped after the older bucket's two.
        let day1 = day0 + DAY;
        let mut g = default_filter();
        for i in 0..600 {
            g.insert(&format!("d0-{i}"), day0);
        }
        for i in 0..50 {
            g.insert(&format!("d1-{i}"), day1);
        }
        let now = day1;
        assert_eq!(g.live_layers(now), 3);
        let check = |skip: usize, d0_old: bool, d0_new: bool, d1: bool| {
            for i in 0..600 {
                let want = if i < 500 { d0_old } else { d0_new };
                assert_eq!(
                    g.contains_recent(&format!("d0-{i}"), now, skip),
                    want,
                    "skip {skip} d0-{i}"
                );
            }
            for i in 0..50 {
                assert_eq!(
                    g.contains_recent(&format!("d1-{i}"), now, skip),
                    d1,
                    "skip {skip} d1-{i}"
                );
            }
        };
        check(0, true, true, true);
        check(1, false, true, true);
        check(2, false, false, true);
        check(3, false, false, false);
        check(usize::MAX, false, false, false);
        // Expired buckets neither count nor answer.
        assert_eq!(g.live_layers(day0 + 30 * DAY), 1);
        assert!(!g.contains("d0-550", day0 + 30 * DAY) && g.contains("d1-0", day0 + 30 * DAY));
    }

    #[test]
    fn buckets_order_by_epoch_not_slot() {
        // Slot order and age order disagree: epoch 29 sits in slot 29, epoch 30 in slot 0.
        let c = ExposureConfig { bucket_s: 10, buckets: 30, ..ExposureConfig::default() };
        let mut f = ExposureFilter::new(c).unwrap();
        f.insert("older", 295);
        f.insert("newer", 305);
        assert_eq!((f.slot_of(29), f.slot_of(30)), (29, 0));
        assert_eq!(f.live_layers(305), 2);
        assert!(!f.contains_recent("older", 305, 1) && f.contains_recent("newer", 305, 1));
        // A bucket from the future (the clock went back) is the newest.
        f.insert("future", 5_000);
        assert_eq!(f.live_layers(305), 3);
        assert!(f.contains_recent("future", 305, 2) && !f.contains_recent("newer", 305, 2));
    }

    #[test]
    fn growth_stops_at_the_byte_limit() {
        // 1,024 buckets whose first layers fill the limit to within two of them: no bucket can
        // add a second layer (≈ 2.1 first layers), yet every bucket can still start.
        let base = ExposureConfig {
            false_positive_rate: 0.5,
            expected_per_bucket: 31_000,
            bucket_s: DAY,
            buckets: MAX_BUCKETS,
        };
        let config = (31_000..33_000)
            .map(|n| ExposureConfig { expected_per_bucket: n, ..base })
            .find(|c| {
                let w = c.sizing().unwrap().0.div_ceil(64) as usize;
                w * MAX_BUCKETS <= MAX_WORDS && (w * (MAX_BUCKETS + 2)) > MAX_WORDS
            })
            .unwrap();
        let mut f = ExposureFilter::new(config).unwrap();
        let first = f.first_layer_bits().div_ceil(64) as usize * 8;
        let n = config.expected_per_bucket + 3_000;
        for i in 0..n {
            f.insert(&format!("id-{i}"), T0);
        }
        assert_eq!(f.live_layers(T0), 1);
        assert!(f.live_ids(T0) > config.expected_per_bucket + 2_900);
        assert_eq!(f.memory_bytes(), first);
        assert!((0..n).all(|i| f.contains(&format!("id-{i}"), T0)));
        f.insert("next-day", T0 + DAY);
        assert_eq!(f.memory_bytes(), 2 * first);
        assert!(f.memory_bytes() as u64 <= MAX_FILTER_BYTES);
        // It is the limit that stops growth: the second layer exists and is smaller than it.
        let (bits, _) = config.layer_sizing(1).unwrap();
        assert!(bits.div_ceil(8) < MAX_FILTER_BYTES && !f.has_room(bits.div_ceil(64) as usize));
    }

    #[test]
    fn expired_buckets_release_their_layers() {
        let c = ExposureConfig { buckets: 3, ..ExposureConfig::default() };
        let mut f = ExposureFilter::new(c).unwrap();
        for i in 0..2_000 {
            f.insert(&format!("a-{i}"), T0);
        }
        let grown = f.memory_bytes();
        assert_eq!(f.live_layers(T0), 3);
        // Three buckets later the slot is reused: its layers are dropped for one new layer.
        f.insert("b", T0 + 3 * DAY);
        assert_eq!(f.memory_bytes(), f.first_layer_bits().div_ceil(64) as usize * 8);
        assert!(f.memory_bytes() < grown);
        assert!(!f.contains("a-0", T0) && f.contains("b", T0 + 3 * DAY));
        f.clear();
        assert_eq!((f.memory_bytes(), f.live_layers(T0 + 3 * DAY)), (0, 0));
    }

    /// A filter with several layers in several buckets (and empty slots).
    fn layered() -> ExposureFilter {
        let c = ExposureConfig { expected_per_bucket: 20, buckets: 4, ..ExposureConfig::default() };
        let mut f = ExposureFilter::new(c).unwrap();
        for i in 0..130 {
            f.insert(&format!("x-{i}"), T0 + 5);
        }
        for i in 0..30 {
            f.insert(&format!("y-{i}"), T0 + 2 * DAY);
        }
        f
    }

    #[test]
    fn layered_filters_round_trip_bit_exactly() {
        let f = layered();
        let mut counts = layer_counts(&f);
        counts.sort();
        assert_eq!(counts.iter().map(|(_, l)| l.len()).collect::<Vec<_>>(), [3, 2]);
        let bytes = f.to_bytes();
        assert_eq!(&bytes[4..8], &2u32.to_le_bytes());
        let g = ExposureFilter::from_bytes(&bytes).unwrap();
        assert_eq!(g, f);
        assert_eq!(g.to_bytes(), bytes);
        assert_eq!(g.memory_bytes(), f.memory_bytes());
        // A loaded filter keeps growing the same way.
        let (mut f, mut g) = (f, g);
        for i in 0..200 {
            f.insert(&format!("z-{i}"), T0 + 2 * DAY);
            g.insert(&format!("z-{i}"), T0 + 2 * DAY);
        }
        assert_eq!(g, f);
        assert_eq!(g.live_layers(T0 + 2 * DAY), 3 + 4);
    }

    #[test]
    fn damaged_layered_images_are_storage_corrupt() {
        let bytes = layered().to_bytes();
        let corrupt = |b: &[u8]| matches!(ExposureFilter::from_bytes(b), Err(Error::StorageCorrupt { ref key, .. }) if key == EXPOSURE_STORAGE_KEY);
        for len in 0..bytes.len() {
            assert!(corrupt(&bytes[..len]), "len {len}");
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(corrupt(&b), "byte {i}");
        }
        // Sizes that agree with the length but not with each other, under a valid checksum.
        let resign = |mut b: Vec<u8>| {
            b.truncate(b.len() - 8);
            let sum = murmur3_x64_128(&b, CHECKSUM_SEED).0;
            b.extend_from_slice(&sum.to_le_bytes());
            b
        };
        let body = HEADER_BYTES;
        // Slot 0's layer count (empty slot claiming a layer), and its epoch (used slot in the
        // wrong place).
        let mut b = bytes.clone();
        b[body + 8..body + 12].copy_from_slice(&1u32.to_le_bytes());
        assert!(corrupt(&resign(b)));
        let mut b = bytes.clone();
        let f = layered();
        assert!(f.slots[0].layers.is_empty());
        // Empty slots take 12 bytes each.
        let first_used = f.slots.iter().position(|s| !s.layers.is_empty()).unwrap();
        let at = body + 12 * first_used;
        b[at..at + 8].copy_from_slice(&(f.slots[first_used].epoch + 1).to_le_bytes());
        assert!(corrupt(&resign(b)));
        // Its first layer: zero hashes, zero bits, zero ids, a huge bit count.
        let layer = at + 12;
        for (range, value) in [
            (layer + 8..layer + 12, 0u64.to_le_bytes()[..4].to_vec()),
            (layer..layer + 8, 0u64.to_le_bytes().to_vec()),
            (layer + 12..layer + 20, 0u64.to_le_bytes().to_vec()),
            (layer..layer + 8, u64::MAX.to_le_bytes().to_vec()),
            (layer..layer + 8, (1u64 << 20).to_le_bytes().to_vec()),
        ] {
            let mut b = bytes.clone();
            b[range].copy_from_slice(&value);
            assert!(corrupt(&resign(b)));
        }
        // Header totals: more layers or words than the body holds.
        for (range, value) in
            [(36..40, 99u32.to_le_bytes().to_vec()), (40..48, 1u64.to_le_bytes().to_vec())]
        {
            let mut b = bytes.clone();
            b[range].copy_from_slice(&value);
            assert!(corrupt(&resign(b)));
        }
        assert!(ExposureFilter::from_bytes(&bytes).is_ok());
    }

    /// The version-1 image older SDKs wrote: one `m`-bit, `k`-hash filter per slot, sized at
    /// `p_b` for `expected_per_bucket` ids, `(epoch, ids)` per used slot.
    fn v1_image(c: ExposureConfig, used: &[(i64, Vec<String>)]) -> Vec<u8> {
        let n = c.expected_per_bucket as f64;
        let ln2 = std::f64::consts::LN_2;
        let m = (-n * c.bucket_false_positive_rate().ln() / (ln2 * ln2)).ceil() as u64;
        let k = (m as f64 / n * ln2).round() as u32;
        let wpb = m.div_ceil(64) as usize;
        let mut epochs = vec![EMPTY_SLOT; c.buckets];
        let mut words = vec![0u64; wpb * c.buckets];
        for (now, ids) in used {
            let e = now.div_euclid(c.bucket_s);
            let slot = e.rem_euclid(c.buckets as i64) as usize;
            epochs[slot] = e;
            let mut layer = Layer::new(m, k);
            for id in ids {
                layer.insert(murmur3_x64_128(id.as_bytes(), 0));
            }
            words[slot * wpb..(slot + 1) * wpb].copy_from_slice(&layer.words);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&EXPOSURE_MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&c.false_positive_rate.to_le_bytes());
        out.extend_from_slice(&(c.expected_per_bucket as u64).to_le_bytes());
        out.extend_from_slice(&c.bucket_s.to_le_bytes());
        out.extend_from_slice(&(c.buckets as u32).to_le_bytes());
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&m.to_le_bytes());
        for e in epochs {
            out.extend_from_slice(&e.to_le_bytes());
        }
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = murmur3_x64_128(&out, CHECKSUM_SEED).0;
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    #[test]
    fn version_1_images_are_converted() {
        let c = ExposureConfig::default();
        let ids = |p: &str, n: usize| (0..n).map(|i| format!("{p}-{i}")).collect::<Vec<_>>();
        // Day 0 normal (300 ids), day 1 saturated by the old bug (3,000 ids into 500).
        let bytes = v1_image(c, &[(T0 + 10, ids("ok", 300)), (T0 + DAY + 10, ids("flood", 3_000))]);
        let now = T0 + DAY + 20;
        let f = ExposureFilter::from_bytes(&bytes).unwrap();
        assert!(ids("ok", 300).iter().all(|id| f.contains(id, now)));
        // The saturated bucket is dropped: not everything looks shown any more.
        let false_hits = (0..10_000).filter(|i| f.contains(&format!("never-{i}"), now)).count();
        assert!(false_hits < 100, "{false_hits}");
        assert_eq!(f.live_layers(now), 1);
        // The count is estimated from the fill.
        assert!(f.live_ids(now).abs_diff(300) < 15, "{}", f.live_ids(now));
        // It goes on as a version-2 filter: new inserts and new layers.
        let mut f = f;
        for id in ids("more", 400) {
            f.insert(&id, T0 + 30);
        }
        assert_eq!(f.live_layers(now), 2);
        let again = ExposureFilter::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(again, f);
        // A damaged version-1 image says so.
        let mut bad = bytes.clone();
        bad[60] ^= 1;
        let e = ExposureFilter::from_bytes(&bad).unwrap_err();
        assert!(
            matches!(&e, Error::StorageCorrupt { reason, .. } if reason.contains("older SDK")),
            "{e}"
        );
        for len in (0..bytes.len()).step_by(97) {
            assert!(ExposureFilter::from_bytes(&bytes[..len]).is_err());
        }
    }
}
