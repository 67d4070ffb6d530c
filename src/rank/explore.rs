//! Exploration slots: some output positions go to the candidate a bandit policy wants to learn
//! about instead of the best-scored one, so new and under-exposed items and channels get the
//! feedback the ranker needs.
//!
//! - **Arms** ([`ArmKind`]) are recall channels (the caller keeps clicks/exposures per channel)
//!   or the candidates themselves (clicks/exposures per item).
//! - **Policies** ([`ExplorePolicy`]), with a Bernoulli reward (a click per exposure):
//!   - Thompson sampling (Thompson 1933; Chapelle & Li, NeurIPS 2011 for its use on click
//!     rates): each arm's click rate has the posterior `Beta(α + clicks, β + exposures −
//!     clicks)`; one draw per arm, the highest draw wins. Beta draws are `X / (X + Y)` with
//!     `X ~ Gamma(α')`, `Y ~ Gamma(β')` (Marsaglia & Tsang, ACM TOMS 2000).
//!   - UCB1 (Auer, Cesa-Bianchi & Fischer, Machine Learning 2002, Fig. 1): the index
//!     `mean + c·sqrt(2·ln N / n)` with `n` the arm's exposures and `N` the total over arms;
//!     `c = 1` is the paper's bound. An arm never exposed has index `+∞` (played first).
//! - **Slots** ([`Slots`]): positions `first, first + every, first + 2·every, …`.
//!
//! Within one request: with item arms, every candidate's value is computed once and each slot
//! takes the best remaining one (ties: higher score, then lower index). With channel arms each
//! slot is one pull: the winning channel places its best-scored remaining candidate, and counts
//! as one more exposure without a click for the following slots (Thompson redraws; UCB's `n`
//! and `N` grow), so consecutive slots spread over channels instead of draining one.
//!
//! Randomness comes from [`ExploreRng`] (xoshiro256++ seeded with SplitMix64): the same seed
//! gives the same slots on every platform. `rand`'s `SmallRng` is not used because it is
//! xoshiro128++ on 32-bit targets such as wasm32, so a browser and a server replaying a trace
//! with the same seed would disagree.

use crate::error::{Error, Result};
pub use crate::rng::SeededRng as ExploreRng;

/// Clicks and exposures of one arm (a channel or an item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArmStats {
    /// Clicks (≤ exposures).
    pub clicks: u32,
    /// Exposures (impressions).
    pub exposures: u32,
}

impl ArmStats {
    /// `clicks` out of `exposures`.
    pub fn new(clicks: u32, exposures: u32) -> Self {
        Self { clicks, exposures }
    }

    /// Checks `clicks ≤ exposures`: [`Error::InvalidArmStats`] for arm `arm` otherwise.
    pub fn validate(&self, arm: usize) -> Result<()> {
        if self.clicks <= self.exposures {
            Ok(())
        } else {
            Err(Error::InvalidArmStats { arm, clicks: self.clicks, exposures: self.exposures })
        }
    }
}

/// The bandit policy that fills exploration slots. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExplorePolicy {
    /// Thompson sampling with a `Beta(alpha, beta)` prior on each arm's click rate.
    Thompson {
        /// Prior pseudo-clicks (finite, > 0).
        alpha: f64,
        /// Prior pseudo-non-clicks (finite, > 0).
        beta: f64,
    },
    /// UCB1 with exploration coefficient `c` (finite, ≥ 0; 0 is greedy).
    Ucb1 {
        /// Multiplies the confidence radius `sqrt(2·ln N / n)`.
        c: f64,
    },
}

impl ExplorePolicy {
    /// Thompson sampling with the uniform prior `Beta(1, 1)`.
    pub const THOMPSON: Self = Self::Thompson { alpha: 1.0, beta: 1.0 };
    /// UCB1 with the paper's `c = 1`.
    pub const UCB1: Self = Self::Ucb1 { c: 1.0 };

    /// Checks the parameters: [`Error::InvalidArgument`] naming the offending one.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: f64, need: &str| Error::InvalidArgument {
            name,
            reason: format!("{value} is not a finite number {need}"),
        };
        match *self {
            Self::Thompson { alpha, beta } => {
                if !(alpha.is_finite() && alpha > 0.0) {
                    return Err(bad("alpha", alpha, "> 0"));
                }
                if !(beta.is_finite() && beta > 0.0) {
                    return Err(bad("beta", beta, "> 0"));
                }
            }
            Self::Ucb1 { c } => {
                if !(c.is_finite() && c >= 0.0) {
                    return Err(bad("c", c, "≥ 0"));
                }
            }
        }
        Ok(())
    }

    /// One value per arm (a Thompson draw or a UCB1 index); the policy plays the highest. For
    /// UCB1, `N` is the sum of the arms' exposures.
    ///
    /// Errors: [`Error::InvalidArgument`] (bad parameters), [`Error::InvalidArmStats`].
    pub fn arm_values(&self, arms: &[ArmStats], rng: &mut ExploreRng) -> Result<Vec<f64>> {
        self.validate()?;
        for (i, a) in arms.iter().enumerate() {
            a.validate(i)?;
        }
        let total = total_exposures(arms);
        Ok(arms.iter().map(|&a| self.value(a, total, rng)).collect())
    }

    /// The value of one validated arm, with `total` exposures over all arms.
    pub(crate) fn value(&self, arm: ArmStats, total: u64, rng: &mut ExploreRng) -> f64 {
        match *self {
            Self::Thompson { alpha, beta } => {
                let clicks = f64::from(arm.clicks);
                let misses = f64::from(arm.exposures.saturating_sub(arm.clicks));
                rng.beta(alpha + clicks, beta + misses)
            }
            Self::Ucb1 { c } => {
                if arm.exposures == 0 {
                    return f64::INFINITY;
                }
                let n = f64::from(arm.exposures);
                // total ≥ n ≥ 1, so ln N ≥ 0.
                let radius = (2.0 * (total.max(1) as f64).ln() / n).sqrt();
                f64::from(arm.clicks) / n + c * radius
            }
        }
    }
}

pub(crate) fn total_exposures(arms: &[ArmStats]) -> u64 {
    arms.iter().map(|a| u64::from(a.exposures)).sum()
}

/// What the bandit's arms are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmKind {
    /// One arm per recall channel: stats from
    /// [`RankInput::with_channel_stats`](super::RankInput::with_channel_stats), candidates'
    /// channels from [`RankInput::with_channels`](super::RankInput::with_channels).
    Channels,
    /// One arm per candidate: clicks and exposures from
    /// [`RankInput::with_item_stats`](super::RankInput::with_item_stats).
    Items,
}

/// Which output positions are exploration slots: `first, first + every, first + 2·every, …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// The first exploration position (zero-based).
    pub first: usize,
    /// The distance between slots (≥ 1).
    pub every: usize,
}

impl Slots {
    /// Every `k`-th position: `k − 1, 2k − 1, …` (so the top `k − 1` stay exploitative).
    pub fn every(k: usize) -> Self {
        Self { first: k.saturating_sub(1), every: k }
    }

    /// Whether `position` is an exploration slot.
    pub fn is_slot(&self, position: usize) -> bool {
        self.every > 0
            && position >= self.first
            && (position - self.first).is_multiple_of(self.every)
    }
}

/// An exploration configuration: policy, arms and slots. Off unless a
/// [`RankPolicy`](super::RankPolicy) is given one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exploration {
    /// The bandit policy.
    pub policy: ExplorePolicy,
    /// What the arms are.
    pub arms: ArmKind,
    /// Which positions explore.
    pub slots: Slots,
}

impl Exploration {
    /// Checks the policy and `slots.every ≥ 1`: [`Error::InvalidArgument`] otherwise.
    pub fn validate(&self) -> Result<()> {
        self.policy.validate()?;
        if self.slots.every == 0 {
            return Err(Error::InvalidArgument {
                name: "slots",
                reason: "exploration slots need `every` ≥ 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn the_stream_matches_rands_64_bit_small_rng() {
        use rand::{RngCore, SeedableRng, rngs::SmallRng};
        for seed in [0u64, 1, 42, u64::MAX] {
            let mut ours = ExploreRng::new(seed);
            let mut theirs = SmallRng::seed_from_u64(seed);
            for _ in 0..100 {
                assert_eq!(ours.next_u64(), theirs.next_u64(), "seed {seed}");
            }
        }
    }

    #[test]
    fn uniform_draws_stay_in_the_open_interval() {
        let mut rng = ExploreRng::new(7);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let u = rng.next_f64();
            assert!(u > 0.0 && u < 1.0);
            sum += u;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }

    #[test]
    fn beta_draws_have_the_right_mean_and_variance() {
        // Mean a/(a+b), variance ab/((a+b)²(a+b+1)); 20 000 draws put the sample mean within
        // ~4σ/√n of the truth with overwhelming probability (seeded, so deterministic anyway).
        let mut rng = ExploreRng::new(2024);
        for (a, b) in [(1.0, 1.0), (0.5, 0.5), (3.0, 27.0), (200.0, 800.0), (0.2, 5.0)] {
            let n = 20_000;
            let draws: Vec<f64> = (0..n).map(|_| rng.beta(a, b)).collect();
            assert!(draws.iter().all(|x| (0.0..=1.0).contains(x)));
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let true_mean = a / (a + b);
            let true_var = a * b / ((a + b).powi(2) * (a + b + 1.0));
            assert!(
                (mean - true_mean).abs() < 5.0 * (true_var / n as f64).sqrt(),
                "Beta({a}, {b}): mean {mean} vs {true_mean}"
            );
            assert!((var / true_var - 1.0).abs() < 0.1, "Beta({a}, {b}): var {var} vs {true_var}");
        }
        assert!(rng.beta(0.0, 1.0).is_nan());
        assert!(rng.beta(1.0, f64::INFINITY).is_nan());
    }

    #[test]
    fn ucb1_index_by_hand() {
        let mut rng = ExploreRng::new(0);
        let arms = [ArmStats::new(1, 4), ArmStats::new(0, 0), ArmStats::new(3, 4)];
        let v = ExplorePolicy::UCB1.arm_values(&arms, &mut rng).unwrap();
        let radius = (2.0 * 8f64.ln() / 4.0).sqrt();
        assert_eq!(v, vec![0.25 + radius, f64::INFINITY, 0.75 + radius]);
        let greedy = ExplorePolicy::Ucb1 { c: 0.0 }.arm_values(&arms, &mut rng).unwrap();
        assert_eq!(greedy, vec![0.25, f64::INFINITY, 0.75]);
        // The PRNG is untouched by UCB.
        assert_eq!(rng, ExploreRng::new(0));
    }

    #[test]
    fn bad_policies_and_stats_are_typed_errors() {
        let mut rng = ExploreRng::new(0);
        for (p, name) in [
            (ExplorePolicy::Thompson { alpha: 0.0, beta: 1.0 }, "alpha"),
            (ExplorePolicy::Thompson { alpha: f64::NAN, beta: 1.0 }, "alpha"),
            (ExplorePolicy::Thompson { alpha: 1.0, beta: -1.0 }, "beta"),
            (ExplorePolicy::Thompson { alpha: 1.0, beta: f64::INFINITY }, "beta"),
            (ExplorePolicy::Ucb1 { c: -0.1 }, "c"),
            (ExplorePolicy::Ucb1 { c: f64::NAN }, "c"),
        ] {
            match p.arm_values(&[], &mut rng) {
                Err(Error::InvalidArgument { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{p:?}: {other:?}"),
            }
        }
        assert_eq!(
            ExplorePolicy::THOMPSON
                .arm_values(&[ArmStats::new(0, 0), ArmStats::new(3, 2)], &mut rng),
            Err(Error::InvalidArmStats { arm: 1, clicks: 3, exposures: 2 })
        );
        let slots = Exploration {
            policy: ExplorePolicy::UCB1,
            arms: ArmKind::Items,
            slots: Slots { first: 0, every: 0 },
        };
        assert!(matches!(slots.validate(), Err(Error::InvalidArgument { name: "slots", .. })));
    }

    #[test]
    fn slot_positions() {
        let s = Slots::every(5);
        let hits: Vec<usize> = (0..20).filter(|&p| s.is_slot(p)).collect();
        assert_eq!(hits, vec![4, 9, 14, 19]);
        let s = Slots { first: 1, every: 3 };
        assert_eq!((0..8).filter(|&p| s.is_slot(p)).collect::<Vec<_>>(), vec![1, 4, 7]);
        assert!(!Slots { first: 0, every: 0 }.is_slot(0));
    }
}
