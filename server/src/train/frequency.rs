//! Streaming item-frequency estimation for the logQ correction of a model trained from a
//! stream (Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
//! Recommendations", RecSys 2019, §5, Algorithms 2 and 3).
//!
//! The two-tower's in-batch softmax is biased towards popular items, which appear as
//! negatives more often; the logQ correction subtracts `log p(j)` from each logit, with `p(j)`
//! the probability that item `j` is in a batch. On a finite file the exact frequencies are
//! known; on a stream they are not, and they drift. Yi et al. estimate them with a fixed-size
//! sketch in one pass:
//!
//! * two arrays of `H` buckets, `A` (the last step at which an item hashing to the bucket was
//!   seen) and `B` (the estimated gap δ, in steps, between two of its occurrences);
//! * at global step `t` (one step per batch), for every item `y` of the batch:
//!   `B[h(y)] ← (1 − α)·B[h(y)] + α·(t − A[h(y)])`, then `A[h(y)] ← t` (Algorithm 2);
//! * the estimated sampling probability is `p̂(y) = 1 / B[h(y)]`.
//!
//! `α` is the learning rate of that exponential moving average: a large `α` forgets quickly and
//! follows a shifting distribution, a small one averages more gaps and is less noisy. Because the
//! step is a *batch*, `1/δ` is the expected number of occurrences of `y` per batch (an item seen
//! twice in one batch contributes a gap of 0), exactly the `B · p_target(j)` term of the logQ
//! correction. Items that share a bucket pool their occurrences, so a collision shortens the
//! gap and *over*-estimates the frequency; Algorithm 3 keeps `m` independent hash arrays and
//! reads `1 / max_i B_i[h_i(y)]` — the largest gap is the least collided one.
//!
//! Two choices the paper leaves open, made here:
//! * **Hash.** XXH64 of the key's little-endian bytes, array `i` seeded with `seed + i`: the
//!   standard library's hasher is not stable across Rust releases, and a sketch written by one
//!   build must read the same in the next.
//! * **Initialization.** Arrays start at 0, as in the paper (the first gap of an item first seen
//!   at step `t` is `t`: the stream started at step 0). A zero-initialized moving average is
//!   biased towards 0 until it has seen about `1/α` values, which would over-estimate every
//!   rarely seen item by up to `1/α`. With [`StreamingConfig::bias_correction`] (the default) a
//!   third array counts the updates `n` of each bucket and the gap is read as
//!   `B / (1 − (1 − α)^n)`, Adam's correction of the same bias (Kingma & Ba, ICLR 2015, §3):
//!   the estimate is the plain mean of the gaps seen while `n ≪ 1/α`, and the paper's
//!   moving average after.

use serde::Serialize;
use std::hash::Hasher;
use twox_hash::XxHash64;

/// Invalid settings of a [`FrequencyEstimator`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FrequencyError {
    /// The learning rate α must be in (0, 1].
    #[error("the frequency estimator's learning rate α must be in (0, 1], got {alpha}")]
    Alpha {
        /// The value given.
        alpha: f64,
    },
    /// A hash array needs at least one bucket.
    #[error("the frequency estimator needs at least one bucket per hash array")]
    ZeroBuckets,
    /// At least one hash array is needed.
    #[error("the frequency estimator needs at least one hash array")]
    ZeroHashes,
}

/// Settings of a [`FrequencyEstimator`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StreamingConfig {
    /// Learning rate α of the moving average of gaps, in (0, 1].
    pub alpha: f64,
    /// Buckets per hash array (`H` in the paper).
    pub buckets: usize,
    /// Independent hash arrays (`m` in Algorithm 3; 1 = Algorithm 2).
    pub hashes: usize,
    /// Seed of the hash functions.
    pub seed: u64,
    /// Read the gap through Adam's bias correction of the zero-initialized average (see the
    /// module docs); `false` reads the paper's `1 / B` as is.
    pub bias_correction: bool,
}

impl Default for StreamingConfig {
    /// α = 0.01 (about the last hundred gaps of an item), 2^18 buckets and 2 hashes: for a
    /// catalogue of 10⁴ items a bucket is shared by 4 % of them per array and by 0.1 % in both.
    fn default() -> Self {
        Self { alpha: 0.01, buckets: 1 << 18, hashes: 2, seed: 0, bias_correction: true }
    }
}

impl StreamingConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`FrequencyError::Alpha`] for α outside (0, 1] (NaN included),
    /// [`FrequencyError::ZeroBuckets`], [`FrequencyError::ZeroHashes`].
    pub fn validate(&self) -> Result<(), FrequencyError> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(FrequencyError::Alpha { alpha: self.alpha });
        }
        if self.buckets == 0 {
            return Err(FrequencyError::ZeroBuckets);
        }
        if self.hashes == 0 {
            return Err(FrequencyError::ZeroHashes);
        }
        Ok(())
    }
}

/// The sketch of Yi et al.'s Algorithms 2 and 3: feed it batches in stream order with
/// [`observe_batch`](Self::observe_batch), read [`probability`](Self::probability).
#[derive(Debug, Clone)]
pub struct FrequencyEstimator {
    cfg: StreamingConfig,
    /// `A`: last step each bucket was hit (`hashes × buckets`, array-major).
    last: Vec<u64>,
    /// `B`: moving average of the gaps, in steps.
    gap: Vec<f64>,
    /// Updates of each bucket (for the bias correction).
    updates: Vec<u32>,
    /// Global step `t` of the last batch observed (0 before the first).
    step: u64,
}

impl FrequencyEstimator {
    /// An empty sketch.
    ///
    /// # Errors
    /// See [`StreamingConfig::validate`].
    pub fn new(cfg: StreamingConfig) -> Result<Self, FrequencyError> {
        cfg.validate()?;
        let n = cfg.buckets * cfg.hashes;
        Ok(Self { cfg, last: vec![0; n], gap: vec![0.0; n], updates: vec![0; n], step: 0 })
    }

    /// Batches observed so far (the global step `t`).
    #[cfg(test)]
    fn step(&self) -> u64 {
        self.step
    }

    /// Index into the flat arrays of `key` in hash array `i`.
    fn slot(&self, i: usize, key: u64) -> usize {
        let mut h = XxHash64::with_seed(self.cfg.seed.wrapping_add(i as u64));
        h.write(&key.to_le_bytes());
        i * self.cfg.buckets + (h.finish() % self.cfg.buckets as u64) as usize
    }

    /// Advances the step and records every item of one batch (repeats included: an item twice
    /// in a batch is twice as frequent), Algorithm 2's inner loop.
    pub fn observe_batch(&mut self, items: impl IntoIterator<Item = u64>) {
        self.step += 1;
        let (t, alpha) = (self.step, self.cfg.alpha);
        for key in items {
            for i in 0..self.cfg.hashes {
                let s = self.slot(i, key);
                self.gap[s] = (1.0 - alpha) * self.gap[s] + alpha * (t - self.last[s]) as f64;
                self.last[s] = t;
                self.updates[s] = self.updates[s].saturating_add(1);
            }
        }
    }

    /// The estimated gap of bucket `s`, or `None` if it was never hit.
    fn bucket_gap(&self, s: usize) -> Option<f64> {
        let n = self.updates[s];
        if n == 0 {
            return None;
        }
        let g = self.gap[s];
        Some(if self.cfg.bias_correction {
            g / (1.0 - (1.0 - self.cfg.alpha).powi(n.min(i32::MAX as u32) as i32))
        } else {
            g
        })
    }

    /// Estimated occurrences of `key` per batch, `1 / max_i B_i[h_i(key)]` (Algorithm 3; a
    /// probability when batches hold one item), or 0 for a key whose buckets were never hit.
    pub fn probability(&self, key: u64) -> f64 {
        let mut widest: Option<f64> = None;
        for i in 0..self.cfg.hashes {
            match self.bucket_gap(self.slot(i, key)) {
                // One array never hit: the key itself was never seen.
                None => return 0.0,
                Some(g) => widest = Some(widest.map_or(g, |w: f64| w.max(g))),
            }
        }
        // A gap is a weighted mean of non-negative gaps whose first is ≥ 1, so it is > 0.
        widest.map_or(0.0, |g| 1.0 / g.max(f64::MIN_POSITIVE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn cfg(alpha: f64, buckets: usize, hashes: usize) -> StreamingConfig {
        StreamingConfig { alpha, buckets, hashes, ..StreamingConfig::default() }
    }

    /// Inverse-CDF sampler of a Zipf(1) law over `n` items; returns it and the probabilities.
    fn zipf(n: usize, s: f64) -> (Vec<f64>, Vec<f64>) {
        let w: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-s)).collect();
        let total: f64 = w.iter().sum();
        let p: Vec<f64> = w.iter().map(|x| x / total).collect();
        let mut acc = 0.0;
        let cdf = p
            .iter()
            .map(|x| {
                acc += x;
                acc
            })
            .collect();
        (cdf, p)
    }

    fn draw(cdf: &[f64], rng: &mut SmallRng) -> u64 {
        let x = rng.random::<f64>();
        cdf.partition_point(|c| *c <= x).min(cdf.len() - 1) as u64
    }

    /// Runs `steps` batches of `batch` Zipf draws; returns (estimates, true per-batch counts).
    fn zipf_stream(
        c: StreamingConfig,
        n: usize,
        batch: usize,
        steps: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let (cdf, p) = zipf(n, 1.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut est = FrequencyEstimator::new(c).unwrap();
        for _ in 0..steps {
            est.observe_batch((0..batch).map(|_| draw(&cdf, &mut rng)).collect::<Vec<_>>());
        }
        let got = (0..n as u64).map(|k| est.probability(k)).collect();
        (got, p.iter().map(|x| x * batch as f64).collect())
    }

    /// Mean relative error over `items`.
    fn rel_error(got: &[f64], want: &[f64], items: std::ops::Range<usize>) -> f64 {
        let n = items.len() as f64;
        items.map(|i| (got[i] - want[i]).abs() / want[i]).sum::<f64>() / n
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        for alpha in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let err = FrequencyEstimator::new(cfg(alpha, 8, 1)).unwrap_err();
            assert!(matches!(err, FrequencyError::Alpha { .. }), "{alpha}: {err}");
        }
        assert_eq!(
            FrequencyEstimator::new(cfg(0.1, 0, 1)).unwrap_err(),
            FrequencyError::ZeroBuckets
        );
        assert_eq!(
            FrequencyEstimator::new(cfg(0.1, 8, 0)).unwrap_err(),
            FrequencyError::ZeroHashes
        );
        assert!(FrequencyEstimator::new(cfg(1.0, 1, 1)).is_ok());
    }

    #[test]
    fn a_periodic_item_is_estimated_exactly() {
        // Item 1 every 4th batch, item 2 three times in every batch, from the start.
        let mut est = FrequencyEstimator::new(cfg(0.05, 1 << 10, 2)).unwrap();
        assert_eq!(est.probability(1), 0.0);
        for t in 1..=400u64 {
            let mut batch = vec![2, 2, 2];
            if t % 4 == 0 {
                batch.push(1);
            }
            est.observe_batch(batch);
        }
        assert!((est.probability(1) - 0.25).abs() < 1e-9, "{}", est.probability(1));
        // Gaps 1, 0, 0 repeated: mean 1/3 per occurrence, 3 per batch; the moving average
        // weights the last gap most, so allow the within-batch ripple.
        assert!((est.probability(2) - 3.0).abs() < 0.3, "{}", est.probability(2));
        assert_eq!(est.probability(3), 0.0);
        assert_eq!(est.step(), 400);
    }

    #[test]
    fn zipf_estimates_converge_to_the_true_frequencies() {
        // 1000 items, Zipf(1), 64 draws per batch, 20 000 batches; 2^16 buckets × 2 hashes.
        let (got, want) = zipf_stream(cfg(0.01, 1 << 16, 2), 1000, 64, 20_000);
        // The head, seen 10⁴–10⁵ times: what is left is the noise of a moving average over
        // ~1/α gaps (a Python replica of this test measures 6 % on the top 20).
        let head = rel_error(&got, &want, 0..20);
        assert!(head < 0.08, "head error {head}");
        for (i, (g, w)) in got.iter().zip(&want).take(5).enumerate() {
            assert!((g - w).abs() / w < 0.2, "item {i}: {g} vs {w}");
        }
        // The tail, items seen 170–340 times (replica: 6 %).
        let tail = rel_error(&got, &want, 500..1000);
        assert!(tail < 0.1, "tail error {tail}");
        // More steps help: after 500 batches (4–9 occurrences) the tail is much worse
        // (replica: 42 %).
        let (early, _) = zipf_stream(cfg(0.01, 1 << 16, 2), 1000, 64, 500);
        let early_tail = rel_error(&early, &want, 500..1000);
        assert!(early_tail > 2.0 * tail, "{early_tail} vs {tail}");
    }

    #[test]
    fn bias_correction_removes_the_cold_start_overestimate() {
        let plain = StreamingConfig { bias_correction: false, ..cfg(0.01, 1 << 16, 2) };
        let (got, want) = zipf_stream(plain, 1000, 64, 2_000);
        let (fixed, _) = zipf_stream(cfg(0.01, 1 << 16, 2), 1000, 64, 2_000);
        // Items seen ~10 times: the zero-started average still carries (1 − α)^10 of its 0.
        let (e_plain, e_fixed) =
            (rel_error(&got, &want, 200..1000), rel_error(&fixed, &want, 200..1000));
        // Replica: 3.2 against 0.15.
        assert!(e_plain > 10.0 * e_fixed, "plain {e_plain}, corrected {e_fixed}");
        assert!(got[500] > 3.0 * want[500], "{} vs {}", got[500], want[500]);
    }

    #[test]
    fn a_distribution_shift_is_tracked_by_a_large_alpha() {
        // Item 1 in every batch for 2000 steps, then every 10th; item 2 the other way round.
        let run = |alpha: f64| {
            let mut est = FrequencyEstimator::new(cfg(alpha, 1 << 10, 2)).unwrap();
            for t in 1..=2_500u64 {
                let (often, rare) = if t <= 2_000 { (1, 2) } else { (2, 1) };
                let mut batch = vec![often];
                if t % 10 == 0 {
                    batch.push(rare);
                }
                est.observe_batch(batch);
            }
            (est.probability(1), est.probability(2))
        };
        // 500 steps after the shift: item 2 was seen 500 times, item 1 50 times.
        let (one, two) = run(0.2);
        assert!((two - 1.0).abs() < 0.05 && (one - 0.1).abs() < 0.02, "α 0.2: {one} {two}");
        // A small α lags: 50 gaps of 10 have only partly replaced item 1's 2000 gaps of 1,
        // and item 2's 500 gaps of 1 its 200 gaps of 10.
        let (one_slow, two_slow) = run(0.001);
        assert!(one_slow > 0.5 && two_slow < 0.5, "α 0.001: {one_slow} {two_slow}");
    }

    #[test]
    fn collisions_overestimate_and_more_hashes_reduce_the_error() {
        // 1000 items in 128 buckets: ~8 items per bucket, each bucket sees their summed rate.
        let (one, want) = zipf_stream(cfg(0.01, 128, 1), 1000, 64, 5_000);
        let over = (0..1000).filter(|&i| one[i] > want[i]).count();
        assert!(over > 900, "only {over} of 1000 items over-estimated");
        let e1 = rel_error(&one, &want, 0..1000);
        // Replica: 29 with one hash, 7.6 with four, 0.11 with 2^16 buckets and one hash.
        assert!(e1 > 5.0, "collided error {e1}");
        let (four, _) = zipf_stream(cfg(0.01, 128, 4), 1000, 64, 5_000);
        let e4 = rel_error(&four, &want, 0..1000);
        assert!(e4 < 0.4 * e1, "4 hashes {e4} vs 1 hash {e1}");
        // Same memory per array, no collisions to speak of: far better still.
        let (wide, _) = zipf_stream(cfg(0.01, 1 << 16, 1), 1000, 64, 5_000);
        assert!(rel_error(&wide, &want, 0..1000) < 0.3 * e4);
    }

    #[test]
    fn estimates_are_deterministic_and_the_seed_picks_the_hash() {
        let c = cfg(0.05, 64, 2);
        let (a, _) = zipf_stream(c, 300, 16, 300);
        let (b, _) = zipf_stream(c, 300, 16, 300);
        assert_eq!(a, b);
        let (other, _) = zipf_stream(StreamingConfig { seed: 1, ..c }, 300, 16, 300);
        assert_ne!(a, other);
        // The hash itself is pinned: XXH64 of 42u64's bytes with seed 0, bucket count 2^18.
        let est = FrequencyEstimator::new(StreamingConfig::default()).unwrap();
        assert_eq!(
            est.slot(0, 42),
            (XxHash64::oneshot(0, &42u64.to_le_bytes()) % (1 << 18)) as usize
        );
    }

    proptest! {
        #[test]
        fn estimates_are_finite_and_bounded(
            batches in proptest::collection::vec(proptest::collection::vec(0u64..50, 0..20), 1..60),
            alpha in 0.001f64..=1.0,
            hashes in 1usize..4,
        ) {
            let mut est = FrequencyEstimator::new(cfg(alpha, 1 << 12, hashes)).unwrap();
            for b in &batches {
                est.observe_batch(b.iter().copied());
            }
            let seen: std::collections::HashSet<u64> = batches.iter().flatten().copied().collect();
            for k in 0..50u64 {
                let p = est.probability(k);
                prop_assert!(p.is_finite() && p >= 0.0);
                if seen.contains(&k) {
                    // Every gap is at most t, so the mean gap is too.
                    prop_assert!(p >= 1.0 / est.step() as f64 - 1e-12, "{} < 1/{}", p, est.step());
                }
            }
        }

        #[test]
        fn more_hashes_never_raise_an_estimate(
            batches in proptest::collection::vec(proptest::collection::vec(0u64..400, 1..30), 1..40),
        ) {
            // Array 0 of the 3-hash sketch is the 1-hash sketch; the max of gaps only widens it.
            let mut one = FrequencyEstimator::new(cfg(0.1, 16, 1)).unwrap();
            let mut three = FrequencyEstimator::new(cfg(0.1, 16, 3)).unwrap();
            for b in &batches {
                one.observe_batch(b.iter().copied());
                three.observe_batch(b.iter().copied());
            }
            for k in batches.iter().flatten() {
                prop_assert!(three.probability(*k) <= one.probability(*k) + 1e-12);
            }
        }
    }
}
