//! Settings of the user model. Every field has a default (`#[serde(default)]`), so a partial JSON
//! object configures only what it names; unknown fields are rejected to catch typos.
//!
//! The fine-tuning defaults are a first guess, chosen so that a handful of clicks visibly moves
//! recall without letting the residual outweigh the tower (it is capped at half the norm of the
//! unit tower query); tune them on a replay.

use crate::compute::pool::MAX_SLOTS;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// History length the user tower of `edgerec train` is trained with (`N` in `models/README.md`).
/// The manifest does not carry it, so it is configuration.
pub const DEFAULT_HISTORY: usize = 50;

/// How the on-device residual is fine-tuned from interactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FineTuneConfig {
    /// Whether interactions update the residual at all. Default `true`.
    pub enabled: bool,
    /// Gradient steps per interaction, each with freshly sampled negatives. Default 2.
    pub steps: u32,
    /// Step size; multiplied by the interaction's [`crate::user::InteractionKind::weight`].
    /// Default 0.01 (gradients are `(E_π[x] − x_p) / τ`, of norm up to `2/τ` ≈ 29 at τ = 0.07,
    /// so one click moves the residual by at most ~0.3).
    #[serde(alias = "learning_rate")]
    pub learning_rate: f32,
    /// Negatives sampled per step, `1..=255` (the positive takes the 256th pooling slot).
    /// Default 64.
    pub negatives: usize,
    /// Fraction of the residual removed before each interaction's steps, in `[0, 1]`: pulls it
    /// back toward 0 (the plain tower output) so old sessions fade. Default 0.05.
    pub decay: f32,
    /// The residual's norm is clipped to this after each interaction (`0` keeps it at zero).
    /// Default 0.5: the tower query is unit-length, so the tower always dominates.
    #[serde(alias = "max_norm")]
    pub max_norm: f32,
    /// Negatives are drawn ∝ `max(popularity, popularity_floor)^popularity_power` from the
    /// bundle's `stats.popularity` (uniform when the bundle has none). Default 0.75
    /// (Mikolov et al. 2013's unigram^¾).
    #[serde(alias = "popularity_power")]
    pub popularity_power: f32,
    /// Lower bound on an item's popularity before the power, `> 0`, so never-seen items can be
    /// drawn and every sampling probability is positive (the logQ correction needs `ln Q`).
    /// Default 0.01.
    #[serde(alias = "popularity_floor")]
    pub popularity_floor: f32,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            steps: 2,
            learning_rate: 0.01,
            negatives: 64,
            decay: 0.05,
            max_norm: 0.5,
            popularity_power: 0.75,
            popularity_floor: 0.01,
        }
    }
}

/// Settings of [`crate::user::UserModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UserConfig {
    /// `N`: the tower pools the last `N` history items, `1..=256`. Default
    /// [`DEFAULT_HISTORY`] (50, what `edgerec train` uses).
    pub history: usize,
    /// History entries kept in the state, `≥ history` (the consumed filter and the
    /// item-to-item seeds read further back than the tower). Default `2 · DEFAULT_HISTORY`.
    #[serde(alias = "history_capacity")]
    pub history_capacity: usize,
    /// Fine-tuning of the residual.
    #[serde(alias = "fine_tune")]
    pub fine_tune: FineTuneConfig,
    /// Half-life of interest statistics and of seed weights, in ms. Default 7 days.
    #[serde(alias = "interest_half_life_ms")]
    pub interest_half_life_ms: f64,
    /// How far in the future (relative to `now_ms`) an interaction's timestamp may be before it
    /// is rejected, in ms (clock skew between devices). Default 5 minutes.
    #[serde(alias = "max_future_skew_ms")]
    pub max_future_skew_ms: f64,
    /// Seed of the negative sampler (combined with the state's interaction count, so replays
    /// are deterministic). Default 0.
    pub seed: u64,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            history: DEFAULT_HISTORY,
            history_capacity: 2 * DEFAULT_HISTORY,
            fine_tune: FineTuneConfig::default(),
            interest_half_life_ms: 7.0 * 24.0 * 3_600_000.0,
            max_future_skew_ms: 5.0 * 60_000.0,
            seed: 0,
        }
    }
}

/// The most history entries a state keeps, whatever the configuration says.
pub const MAX_HISTORY_CAPACITY: usize = 100_000;

fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name, reason: reason.into() }
}

impl UserConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first offending field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_SLOTS).contains(&self.history) {
            return Err(invalid(
                "history",
                format!("{}; must be in 1..={MAX_SLOTS}", self.history),
            ));
        }
        if !(self.history..=MAX_HISTORY_CAPACITY).contains(&self.history_capacity) {
            return Err(invalid(
                "history_capacity",
                format!(
                    "{}; must be in history ({})..={MAX_HISTORY_CAPACITY}",
                    self.history_capacity, self.history
                ),
            ));
        }
        if !(self.interest_half_life_ms.is_finite() && self.interest_half_life_ms > 0.0) {
            return Err(invalid("interest_half_life_ms", "must be finite and > 0"));
        }
        if !(self.max_future_skew_ms.is_finite() && self.max_future_skew_ms >= 0.0) {
            return Err(invalid("max_future_skew_ms", "must be finite and ≥ 0"));
        }
        let f = &self.fine_tune;
        if f.steps > 1000 {
            return Err(invalid("fine_tune.steps", format!("{}; must be ≤ 1000", f.steps)));
        }
        if !(f.learning_rate.is_finite() && f.learning_rate >= 0.0) {
            return Err(invalid("fine_tune.learning_rate", "must be finite and ≥ 0"));
        }
        if !(1..MAX_SLOTS).contains(&f.negatives) {
            return Err(invalid(
                "fine_tune.negatives",
                format!("{}; must be in 1..={}", f.negatives, MAX_SLOTS - 1),
            ));
        }
        if !(0.0..=1.0).contains(&f.decay) {
            return Err(invalid("fine_tune.decay", "must be in [0, 1]"));
        }
        if !(f.max_norm.is_finite() && f.max_norm >= 0.0) {
            return Err(invalid("fine_tune.max_norm", "must be finite and ≥ 0"));
        }
        if !(f.popularity_power.is_finite() && f.popularity_power >= 0.0) {
            return Err(invalid("fine_tune.popularity_power", "must be finite and ≥ 0"));
        }
        if !(f.popularity_floor.is_finite() && f.popularity_floor > 0.0) {
            return Err(invalid("fine_tune.popularity_floor", "must be finite and > 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_camel_case_and_the_snake_case_names_still_parse() {
        let camel: UserConfig = serde_json::from_str(
            r#"{"historyCapacity": 120, "fineTune": {"learningRate": 0.02, "maxNorm": 0.4}}"#,
        )
        .unwrap();
        let snake: UserConfig = serde_json::from_str(
            r#"{"history_capacity": 120, "fine_tune": {"learning_rate": 0.02, "max_norm": 0.4}}"#,
        )
        .unwrap();
        assert_eq!(camel, snake);
        assert_eq!((camel.history_capacity, camel.fine_tune.max_norm), (120, 0.4));
        let json = serde_json::to_string(&camel).unwrap();
        assert!(
            json.contains("\"historyCapacity\":120") && json.contains("\"fineTune\""),
            "{json}"
        );
    }

    #[test]
    fn defaults_are_valid_and_partial_json_fills_in() {
        UserConfig::default().validate().unwrap();
        let c: UserConfig =
            serde_json::from_str(r#"{"history": 20, "fine_tune": {"steps": 5}}"#).unwrap();
        assert_eq!(c.history, 20);
        assert_eq!(c.fine_tune.steps, 5);
        assert_eq!(c.fine_tune.negatives, FineTuneConfig::default().negatives);
        assert!(serde_json::from_str::<UserConfig>(r#"{"histroy": 20}"#).is_err());
        let json = serde_json::to_string(&UserConfig::default()).unwrap();
        assert_eq!(serde_json::from_str::<UserConfig>(&json).unwrap(), UserConfig::default());
    }

    #[test]
    fn bad_values_name_the_field() {
        type Edit = fn(&mut UserConfig);
        let cases: [(Edit, &str); 8] = [
            (|c| c.history = 0, "history"),
            (|c| c.history = 300, "history"),
            (|c| c.history_capacity = 10, "history_capacity"),
            (|c| c.interest_half_life_ms = f64::NAN, "interest_half_life_ms"),
            (|c| c.max_future_skew_ms = -1.0, "max_future_skew_ms"),
            (|c| c.fine_tune.negatives = 256, "fine_tune.negatives"),
            (|c| c.fine_tune.decay = 1.5, "fine_tune.decay"),
            (|c| c.fine_tune.popularity_floor = 0.0, "fine_tune.popularity_floor"),
        ];
        for (edit, field) in cases {
            let mut c = UserConfig::default();
            edit(&mut c);
            match c.validate() {
                Err(Error::InvalidArgument { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
