//! Cold start: a dynamic boost for new items, driven by age and exposures against targets (the
//! seeds' `f(age / target_time, exposures / target_exposures)`).
//!
//! With `a = clamp(age / target_age, 0, 1)` and `e = clamp(exposures / target_exposures, 0, 1)`:
//!
//! ```text
//! boost = max_boost · (1 − a) · (1 − e)          ∈ [0, max_boost]
//! ```
//!
//! Why this `f`:
//! - **Zero on both targets.** Cold start ends when an item is no longer fresh *or* once it has
//!   gathered enough exposures for the ranker's own estimate to be trusted, so the boost vanishes
//!   as soon as either ratio reaches 1 and stays 0 beyond it. A linear decay reaches 0 exactly
//!   at the target; an exponential one would leave a tail that never ends.
//! - **Monotone and bounded.** Each factor is non-increasing in its ratio and lies in `[0, 1]`,
//!   so the product is non-increasing in age and in exposures, and peaks at `max_boost` for a
//!   brand-new, never-shown item. A product (rather than, say, a minimum) of the two decays
//!   keeps it smooth inside the square and lets an item that is old-ish *and* well-exposed fade
//!   faster than one that is only one of the two.
//!
//! The boost is applied to the (channel-weighted) fused score by [`BoostMode`]: multiplicatively
//! by default, which is scale-free (the score's scale depends on the fusion form and weights).
//! It is off by default: a [`RankPolicy`](super::RankPolicy) only boosts when given one.

use crate::error::{Error, Result};

/// How a boost `b` changes a score `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoostMode {
    /// `s · (1 + b)`: `max_boost = 1` doubles a brand-new item's score. Scale-free, but it
    /// cannot lift an item the ranker scores at 0 (that is what exploration slots are for).
    #[default]
    Multiplicative,
    /// `s + b`: a fixed lift in score units (choose `max_boost` on the fused score's scale).
    Additive,
}

/// The new-item boost: see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewItemBoost {
    max_boost: f32,
    target_age: f32,
    target_exposures: u32,
    mode: BoostMode,
}

impl NewItemBoost {
    /// A boost of at most `max_boost` (finite, ≥ 0) for items younger than `target_age`
    /// (finite, > 0; the unit of the items' ages, e.g. seconds) with fewer than
    /// `target_exposures` (> 0) exposures, applied multiplicatively.
    ///
    /// Errors: [`Error::InvalidArgument`] naming the offending parameter.
    pub fn new(max_boost: f32, target_age: f32, target_exposures: u32) -> Result<Self> {
        if !(max_boost.is_finite() && max_boost >= 0.0) {
            return Err(Error::InvalidArgument {
                name: "max_boost",
                reason: format!("{max_boost} is not a finite number ≥ 0"),
            });
        }
        if !(target_age.is_finite() && target_age > 0.0) {
            return Err(Error::InvalidArgument {
                name: "target_age",
                reason: format!("{target_age} is not a finite number > 0"),
            });
        }
        if target_exposures == 0 {
            return Err(Error::InvalidArgument {
                name: "target_exposures",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self { max_boost, target_age, target_exposures, mode: BoostMode::Multiplicative })
    }

    /// Sets how the boost is applied.
    pub fn with_mode(mut self, mode: BoostMode) -> Self {
        self.mode = mode;
        self
    }

    /// The largest boost (for age 0 and no exposures).
    pub fn max_boost(&self) -> f32 {
        self.max_boost
    }

    /// The age at which the boost reaches 0.
    pub fn target_age(&self) -> f32 {
        self.target_age
    }

    /// The exposure count at which the boost reaches 0.
    pub fn target_exposures(&self) -> u32 {
        self.target_exposures
    }

    /// How the boost is applied.
    pub fn mode(&self) -> BoostMode {
        self.mode
    }

    /// The boost of an item of `age` with `exposures` exposures, in `[0, max_boost]`.
    ///
    /// A negative age (an item published "in the future" of a skewed client clock) counts as
    /// age 0. A NaN age gets no boost; [`RankPolicy::rank`](super::RankPolicy::rank) rejects
    /// it before ([`Error::NonFinite`]).
    pub fn boost(&self, age: f32, exposures: u32) -> f32 {
        if age.is_nan() {
            return 0.0;
        }
        let a = (age.max(0.0) / self.target_age).min(1.0);
        // f64: exact for every u32, so the exposure ratio is monotone.
        let e = (f64::from(exposures) / f64::from(self.target_exposures)).min(1.0) as f32;
        (self.max_boost * (1.0 - a) * (1.0 - e)).clamp(0.0, self.max_boost)
    }

    /// `score` with boost `b` applied by the [`BoostMode`].
    pub fn apply(&self, score: f64, b: f32) -> f64 {
        match self.mode {
            BoostMode::Multiplicative => score * (1.0 + f64::from(b)),
            BoostMode::Additive => score + f64::from(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let b = NewItemBoost::new(2.0, 100.0, 10).unwrap();
        assert_eq!(b.boost(0.0, 0), 2.0);
        assert_eq!(b.boost(50.0, 0), 1.0);
        assert_eq!(b.boost(50.0, 5), 0.5);
        assert_eq!(b.boost(25.0, 5), 0.75);
        assert_eq!(b.boost(100.0, 0), 0.0);
        assert_eq!(b.boost(0.0, 10), 0.0);
        assert_eq!(b.boost(1e9, u32::MAX), 0.0);
        assert_eq!(b.boost(-5.0, 0), 2.0);
        assert_eq!(b.boost(f32::NAN, 0), 0.0);
        assert_eq!(b.boost(f32::INFINITY, 0), 0.0);
        assert_eq!(b.apply(0.5, 1.0), 1.0);
        assert_eq!(b.with_mode(BoostMode::Additive).apply(0.5, 1.0), 1.5);
        assert_eq!(NewItemBoost::new(0.0, 1.0, 1).unwrap().boost(0.0, 0), 0.0);
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        for (m, t, e, name) in [
            (-1.0, 1.0, 1, "max_boost"),
            (f32::NAN, 1.0, 1, "max_boost"),
            (f32::INFINITY, 1.0, 1, "max_boost"),
            (1.0, 0.0, 1, "target_age"),
            (1.0, -1.0, 1, "target_age"),
            (1.0, f32::NAN, 1, "target_age"),
            (1.0, f32::INFINITY, 1, "target_age"),
            (1.0, 1.0, 0, "target_exposures"),
        ] {
            match NewItemBoost::new(m, t, e) {
                Err(Error::InvalidArgument { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{m} {t} {e}: {other:?}"),
            }
        }
    }
}
