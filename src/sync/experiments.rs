//! Layered A/B experiments with a global holdout, after Tang, Agarwal, O'Brien and Meyer,
//! "Overlapping Experiment Infrastructure: More, Better, Faster Experimentation" (KDD 2010).
//!
//! Users are hashed into 100 buckets once per *layer*, with the layer's own salt. Experiments in
//! one layer own disjoint bucket ranges, so a user is in at most one experiment per layer (the
//! experiments of a layer change the same parameters and must not meet); different layers use
//! different salts, so their bucketings are independent and every user is in one experiment of
//! every layer at once. A *holdout* — a bucket range under its own salt — takes users out of
//! every layer, to measure the sum of all launched changes against an untouched baseline.
//!
//! **Bucketing formula** (reproducible by a server in any language):
//!
//! ```text
//! bucket(user, salt) = u64_be(SHA-256(utf8(salt + ":" + user))[0..8]) mod 100
//! ```
//!
//! i.e. the first 8 bytes of the SHA-256 digest of the UTF-8 string `salt:user`, read as a
//! big-endian unsigned 64-bit integer, modulo 100. (The modulo bias is 2^64 mod 100 / 2^64 <
//! 10^-17.) A range `{"from": a, "to": b}` is the half-open `[a, b)` of buckets.
//!
//! ```json
//! {"holdout": {"salt": "holdout-2026", "from": 0, "to": 5},
//!  "layers": [{"name": "rerank", "salt": "rerank-v1", "experiments": [
//!      {"name": "theta", "from": 0, "to": 50, "variants": [
//!          {"name": "control", "from": 0, "to": 25, "options": {}},
//!          {"name": "dpp07", "from": 25, "to": 50,
//!           "options": {"diversity": {"method": "dpp", "theta": 0.7}}}]}]}]}
//! ```
//!
//! A user in a layer's experiment and variant gets the assignment `layer → "experiment/variant"`
//! (attached to every event) and the variant's `options`, deep-merged over the options of the
//! layers before it ([`merge_options`]).

use crate::error::{Error, Result};
use crate::sync::event::{MAX_EXPERIMENTS, MAX_FIELD_CHARS};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Number of buckets of every bucketing.
pub const BUCKETS: u32 = 100;

/// The bucket of `user` under `salt`, in `0..100` (see the module docs for the formula).
pub fn bucket(user: &str, salt: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b":");
    hasher.update(user.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

/// The users a holdout takes out of every experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// The salt of the holdout's own bucketing.
    pub salt: String,
    /// First bucket held out.
    pub from: u32,
    /// One past the last bucket held out.
    pub to: u32,
}

/// One variant (arm) of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// The variant's name (`"control"`, `"dpp07"`); no `/`.
    pub name: String,
    /// First bucket (within the experiment's range).
    pub from: u32,
    /// One past the last bucket.
    pub to: u32,
    /// Recommender options this variant sets (a JSON object; absent = `{}`).
    #[serde(default = "empty_object")]
    pub options: Value,
}

/// One experiment: a bucket range of its layer, split among variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The experiment's name; no `/`.
    pub name: String,
    /// First bucket of the layer this experiment owns.
    pub from: u32,
    /// One past the last bucket.
    pub to: u32,
    /// The variants, with disjoint ranges inside `[from, to)`; buckets no variant covers are in
    /// no variant (no assignment in this layer).
    pub variants: Vec<Variant>,
}

/// A layer: an independent bucketing (its own salt) whose experiments exclude each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer's name, the key of its assignment (`"rerank"`).
    pub name: String,
    /// The salt of the layer's bucketing; distinct from every other layer's and the holdout's.
    pub salt: String,
    /// The experiments, with disjoint ranges.
    #[serde(default)]
    pub experiments: Vec<Experiment>,
}

/// A validated experiment configuration (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Users taken out of every layer.
    #[serde(default)]
    pub holdout: Option<Holdout>,
    /// The layers, in the order their options are merged.
    #[serde(default)]
    pub layers: Vec<Layer>,
}

/// What [`ExperimentConfig::assign`] decided for one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// Layer → `"experiment/variant"`, for the layers where the user is in a variant.
    pub assignments: BTreeMap<String, String>,
    /// The variants' options deep-merged in layer order (`{}` when none).
    pub options: Value,
    /// True when the holdout took the user out of every experiment.
    pub holdout: bool,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn invalid(reason: String) -> Error {
    Error::InvalidArgument { name: "experiments", reason }
}

fn check_name(path: &str, what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().count() > MAX_FIELD_CHARS {
        return Err(invalid(format!("{path}: {what} must have 1 to {MAX_FIELD_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{path}: {what} {value:?} contains control characters")));
    }
    Ok(())
}

fn check_range(path: &str, from: u32, to: u32) -> Result<()> {
    if from >= to || to > BUCKETS {
        return Err(invalid(format!(
            "{path}: range [{from}, {to}) must satisfy from < to <= {BUCKETS}"
        )));
    }
    Ok(())
}

/// Checks that half-open ranges `(label, from, to)` do not overlap.
fn check_disjoint(path: &str, what: &str, mut ranges: Vec<(&str, u32, u32)>) -> Result<()> {
    crate::order::sort_by_key_stable(&mut ranges, |&(_, from, _)| u64::from(from));
    for pair in ranges.windows(2) {
        let ((a, _, a_to), (b, b_from, _)) = (pair[0], pair[1]);
        if b_from < a_to {
            return Err(invalid(format!("{path}: {what} {a:?} and {b:?} overlap")));
        }
    }
    Ok(())
}

impl ExperimentConfig {
    /// Parses and validates a configuration (JSON as in the module docs). Errors are
    /// [`Error::InvalidArgument`] (`experiments`) naming the offending path, e.g.
    /// `layers[0] ("rerank"): experiments "a" and "b" overlap`.
    pub fn parse(json: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges, names, salts and options (see [`ExperimentConfig::parse`]).
    pub fn validate(&self) -> Result<()> {
        if self.layers.len() > MAX_EXPERIMENTS {
            return Err(invalid(format!(
                "{} layers; events carry at most {MAX_EXPERIMENTS} assignments",
                self.layers.len()
            )));
        }
        let mut salts = BTreeSet::new();
        if let Some(h) = &self.holdout {
            check_name("holdout", "salt", &h.salt)?;
            check_range("holdout", h.from, h.to)?;
            salts.insert(h.salt.as_str());
        }
        let mut layer_names = BTreeSet::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let path = format!("layers[{l}] ({:?})", layer.name);
            check_name(&path, "name", &layer.name)?;
            check_name(&path, "salt", &layer.salt)?;
            if !layer_names.insert(layer.name.as_str()) {
                return Err(invalid(format!("{path}: another layer has this name")));
            }
            // Equal salts would make two layers (or a layer and the holdout) the same
            // bucketing: their experiments would be perfectly correlated, not independent.
            if !salts.insert(layer.salt.as_str()) {
                return Err(invalid(format!(
                    "{path}: salt {:?} is already used (by the holdout or another layer)",
                    layer.salt
                )));
            }
            let mut experiment_names = BTreeSet::new();
            for (e, exp) in layer.experiments.iter().enumerate() {
                let path = format!("{path}.experiments[{e}] ({:?})", exp.name);
                check_name(&path, "name", &exp.name)?;
                if exp.name.contains('/') {
                    return Err(invalid(format!("{path}: name must not contain '/'")));
                }
                if !experiment_names.insert(exp.name.as_str()) {
                    return Err(invalid(format!("{path}: another experiment has this name")));
                }
                check_range(&path, exp.from, exp.to)?;
                let mut variant_names = BTreeSet::new();
                for (v, variant) in exp.variants.iter().enumerate() {
                    let path = format!("{path}.variants[{v}] ({:?})", variant.name);
                    check_name(&path, "name", &variant.name)?;
                    if variant.name.contains('/') {
                        return Err(invalid(format!("{path}: name must not contain '/'")));
                    }
                    if !variant_names.insert(variant.name.as_str()) {
                        return Err(invalid(format!("{path}: another variant has this name")));
                    }
                    check_range(&path, variant.from, variant.to)?;
                    if variant.from < exp.from || variant.to > exp.to {
                        return Err(invalid(format!(
                            "{path}: range [{}, {}) is not inside the experiment's [{}, {})",
                            variant.from, variant.to, exp.from, exp.to
                        )));
                    }
                    if !(variant.options.is_object() || variant.options.is_null()) {
                        return Err(invalid(format!("{path}: options must be a JSON object")));
                    }
                    let label = format!("{}/{}", exp.name, variant.name);
                    if label.chars().count() > MAX_FIELD_CHARS {
                        return Err(invalid(format!(
                            "{path}: \"{label}\" is longer than {MAX_FIELD_CHARS} characters"
                        )));
                    }
                }
                let ranges = exp.variants.iter().map(|v| (v.name.as_str(), v.from, v.to));
                check_disjoint(&path, "variants", ranges.collect())?;
            }
            let ranges = layer.experiments.iter().map(|e| (e.name.as_str(), e.from, e.to));
            check_disjoint(&path, "experiments", ranges.collect())?;
        }
        Ok(())
    }

    /// The experiments and options of `user` (deterministic: the same user always gets the
    /// same answer from the same configuration).
    pub fn assign(&self, user: &str) -> Assignment {
        let mut assignment =
            Assignment { assignments: BTreeMap::new(), options: empty_object(), holdout: false };
        if let Some(h) = &self.holdout
            && (h.from..h.to).contains(&bucket(user, &h.salt))
        {
            assignment.holdout = true;
            return assignment;
        }
        for layer in &self.layers {
            let b = bucket(user, &layer.salt);
            let Some(exp) = layer.experiments.iter().find(|e| (e.from..e.to).contains(&b)) else {
                continue;
            };
            let Some(variant) = exp.variants.iter().find(|v| (v.from..v.to).contains(&b)) else {
                continue;
            };
            assignment
                .assignments
                .insert(layer.name.clone(), format!("{}/{}", exp.name, variant.name));
            merge_options(&mut assignment.options, &variant.options);
        }
        assignment
    }
}

/// Deep-merges `overlay` into `base`: where both are JSON objects, keys merge recursively;
/// anywhere else (scalars, arrays, a type change) the overlay's value replaces the base's.
/// A `null` overlay leaves `base` unchanged (an absent `options`).
pub fn merge_options(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(slot) if slot.is_object() && value.is_object() => {
                        merge_options(slot, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bucket_matches_the_documented_formula() {
        // Reference values from Python, independently of this code:
        // int.from_bytes(hashlib.sha256((salt + ":" + user).encode()).digest()[:8], "big") % 100
        assert_eq!(bucket("u", "s"), 31);
        assert_eq!(bucket("alice", "rerank-v1"), 0);
        assert_eq!(bucket("alice", "holdout-2026"), 64);
        assert!((0..100).contains(&bucket("", "")));
    }

    #[test]
    fn merge_is_deep_and_overlay_wins() {
        let mut base = json!({"a": {"x": 1, "y": [1]}, "b": 2});
        merge_options(&mut base, &json!({"a": {"y": [2], "z": true}, "b": {"c": 3}}));
        assert_eq!(base, json!({"a": {"x": 1, "y": [2], "z": true}, "b": {"c": 3}}));
        merge_options(&mut base, &Value::Null);
        assert_eq!(base["b"], json!({"c": 3}));
    }
}
