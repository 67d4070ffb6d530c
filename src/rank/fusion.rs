//! Score fusion: from a multi-task ranker's per-task probabilities to one score per candidate,
//! plus per-recall-channel weights and the pre-rank truncation that runs before the ranker.
//!
//! Two forms, both anchored on a *primary* task (usually `click`) whose weight is fixed at 1 so
//! that the fused score keeps the primary probability's scale:
//!
//! ```text
//! WeightedSum:     s = p_primary + Σ_t w_t·p_t
//! Multiplicative:  s = p_primary · (1 + Σ_t w_t·p_t)
//! ```
//!
//! The weighted sum is the classic linear blend; the multiplicative form is the seeds' fusion
//! (the secondary tasks re-weight the click probability instead of competing with it, so an item
//! nobody clicks cannot be carried by its like rate alone). Tasks without a configured weight
//! count with weight 0; with every weight 0 both forms reduce to `p_primary`.
//!
//! **Negative weights.** The fused score must be non-negative for every probability vector,
//! because the channel weight and the new-item boost multiply it: on a negative score a larger
//! multiplier would push the candidate *down*. For the weighted sum this rules out negative
//! weights (take `p_primary = 0`, `p_t = 1`); the multiplicative form allows them (a dislike or
//! skip head) as long as the factor's minimum `1 + Σ_{w_t<0} w_t` stays ≥ 0.
//!
//! **Channels.** A candidate carries the recall channels it came from as a [`ChannelSet`]
//! bitmask; its fused score is multiplied by one weight derived from those channels
//! ([`ChannelCombine`], default [`ChannelCombine::Max`]).

use crate::error::{Error, Result};

/// The most recall channels a [`ChannelSet`] (a `u64` bitmask) can name.
pub const MAX_CHANNELS: usize = 64;

/// How the task probabilities are combined. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusionForm {
    /// `p_primary + Σ w_t·p_t` (weights ≥ 0).
    #[default]
    WeightedSum,
    /// `p_primary · (1 + Σ w_t·p_t)` (negative weights allowed while `1 + Σ_{w_t<0} w_t ≥ 0`).
    Multiplicative,
}

/// Fusion configuration: the ranker's task names in column order, the primary task, one weight
/// per secondary task and the [`FusionForm`]. Immutable once built; reusable across requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Fusion {
    form: FusionForm,
    tasks: Vec<String>,
    primary: usize,
    /// One per task; the primary's entry stays 0 (its weight is the fixed 1 of the formula).
    weights: Vec<f32>,
}

impl Fusion {
    /// Fusion over `tasks` (the ranker's heads, in the column order of the probability matrix)
    /// anchored on `primary`, with every secondary weight 0.
    ///
    /// Errors: [`Error::InvalidArgument`] (no tasks, a repeated name), [`Error::UnknownTask`]
    /// (`primary` is not among `tasks`).
    pub fn new<S: Into<String>>(
        form: FusionForm,
        tasks: impl IntoIterator<Item = S>,
        primary: &str,
    ) -> Result<Self> {
        let tasks: Vec<String> = tasks.into_iter().map(Into::into).collect();
        if tasks.is_empty() {
            return Err(Error::InvalidArgument {
                name: "tasks",
                reason: "the ranker must have at least one task".into(),
            });
        }
        for (i, t) in tasks.iter().enumerate() {
            if tasks[..i].contains(t) {
                return Err(Error::InvalidArgument {
                    name: "tasks",
                    reason: format!("task {t:?} is listed twice"),
                });
            }
        }
        let primary = tasks
            .iter()
            .position(|t| t == primary)
            .ok_or_else(|| Error::UnknownTask { name: primary.into(), known: tasks.clone() })?;
        let weights = vec![0.0; tasks.len()];
        Ok(Self { form, tasks, primary, weights })
    }

    /// Sets the weight of secondary task `task`.
    ///
    /// Errors: [`Error::UnknownTask`]; [`Error::InvalidWeight`] for the primary task (its weight
    /// is the formula's fixed 1), a non-finite weight, or a negative one the form does not allow
    /// (see the [module docs](self)).
    pub fn with_weight(mut self, task: &str, weight: f32) -> Result<Self> {
        let Some(t) = self.tasks.iter().position(|name| name == task) else {
            return Err(Error::UnknownTask { name: task.into(), known: self.tasks.clone() });
        };
        let invalid = |reason: &str| Error::InvalidWeight {
            name: task.into(),
            value: weight,
            reason: reason.into(),
        };
        if t == self.primary {
            return Err(invalid("the primary task's weight is fixed at 1 (it anchors the scale)"));
        }
        if !weight.is_finite() {
            return Err(invalid("weights must be finite"));
        }
        if weight < 0.0 {
            match self.form {
                FusionForm::WeightedSum => {
                    return Err(invalid(
                        "a weighted sum with a negative weight can go negative, and channel \
                         weights and boosts would then push the candidate down",
                    ));
                }
                FusionForm::Multiplicative => {
                    let others: f64 = (self.weights.iter().enumerate())
                        .filter(|&(i, &w)| i != t && w < 0.0)
                        .map(|(_, &w)| f64::from(w))
                        .sum();
                    if 1.0 + others + f64::from(weight) < 0.0 {
                        return Err(invalid(
                            "the negative weights sum below −1, so the factor 1 + Σ w·p can turn \
                             negative",
                        ));
                    }
                }
            }
        }
        self.weights[t] = weight;
        Ok(self)
    }

    /// The form.
    pub fn form(&self) -> FusionForm {
        self.form
    }

    /// The task names, in column order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// The primary task's column.
    pub fn primary(&self) -> usize {
        self.primary
    }

    /// The weight of each task, in column order (the primary's entry is 0: its weight is the
    /// formula's fixed 1).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Checks a row-major `n × tasks` probability matrix and returns `n`.
    ///
    /// Errors: [`Error::ShapeMismatch`] (length not a multiple of the task count),
    /// [`Error::InvalidProbability`] (NaN or outside `[0, 1]`; the first in row-major order).
    pub fn rows(&self, probabilities: &[f32]) -> Result<usize> {
        let dim = self.tasks.len();
        if !probabilities.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch {
                what: "task probabilities",
                len: probabilities.len(),
                dim,
            });
        }
        // `contains` is false for NaN, so NaN is rejected here too.
        if let Some(at) = probabilities.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return Err(Error::InvalidProbability {
                task: self.tasks[at % dim].clone(),
                candidate: at / dim,
                value: probabilities[at],
            });
        }
        Ok(probabilities.len() / dim)
    }

    /// The fused score of one candidate's row (one probability per task, unchecked: pass rows
    /// validated by [`Fusion::rows`]). Accumulated in `f64`, so no finite weight overflows.
    pub fn fuse_row(&self, row: &[f32]) -> f64 {
        let secondary: f64 =
            row.iter().zip(&self.weights).map(|(&p, &w)| f64::from(w) * f64::from(p)).sum();
        let primary = row.get(self.primary).map_or(0.0, |&p| f64::from(p));
        match self.form {
            FusionForm::WeightedSum => primary + secondary,
            FusionForm::Multiplicative => primary * (1.0 + secondary),
        }
    }

    /// Fused scores of every candidate of a row-major `n × tasks` matrix. Errors: those of
    /// [`Fusion::rows`].
    pub fn fuse(&self, probabilities: &[f32]) -> Result<Vec<f64>> {
        self.rows(probabilities)?;
        Ok(probabilities.chunks_exact(self.tasks.len()).map(|row| self.fuse_row(row)).collect())
    }
}

/// The recall channels a candidate came from, as a bitmask: bit `c` set = channel `c`
/// (`c < 64`). The recall merge produces it; [`ChannelWeights`] names the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelSet(pub u64);

impl ChannelSet {
    /// No channel.
    pub const EMPTY: Self = Self(0);

    /// The set of the given channel indices. Errors: [`Error::InvalidArgument`] for an index
    /// ≥ [`MAX_CHANNELS`].
    pub fn from_channels(channels: &[usize]) -> Result<Self> {
        channels.iter().try_fold(Self::EMPTY, |set, &c| {
            if c < MAX_CHANNELS {
                Ok(Self(set.0 | 1 << c))
            } else {
                Err(Error::InvalidArgument {
                    name: "channel",
                    reason: format!("channel {c} is not below the limit of {MAX_CHANNELS}"),
                })
            }
        })
    }

    /// Whether channel `c` is in the set.
    pub fn contains(self, c: usize) -> bool {
        c < MAX_CHANNELS && self.0 & (1 << c) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of channels in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The channel indices, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_CHANNELS).filter(move |&c| self.contains(c))
    }

    /// The largest channel index, if any.
    pub fn highest(self) -> Option<usize> {
        (self.0 != 0).then(|| MAX_CHANNELS - 1 - self.0.leading_zeros() as usize)
    }
}

/// How the weights of a candidate recalled by several channels combine into its multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelCombine {
    /// The largest weight among its channels. Being found by one more channel never lowers a
    /// candidate's score, and the multiplier stays within the configured weights (a product
    /// would compound for items many channels agree on).
    #[default]
    Max,
    /// The arithmetic mean of its channels' weights (a low-weight channel drags it down).
    Mean,
}

/// One multiplicative weight per recall channel (finite, ≥ 0), how several combine, and the
/// multiplier of a candidate that carries no channel (default 1, i.e. unweighted).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelWeights {
    names: Vec<String>,
    weights: Vec<f32>,
    combine: ChannelCombine,
    unassigned: f32,
}

impl ChannelWeights {
    /// Channels in index order (the bit of [`ChannelSet`]), each with its weight.
    ///
    /// Errors: [`Error::InvalidArgument`] (more than [`MAX_CHANNELS`], a repeated name),
    /// [`Error::InvalidWeight`] (NaN, infinite or negative).
    pub fn new<S: Into<String>>(channels: impl IntoIterator<Item = (S, f32)>) -> Result<Self> {
        let mut names = Vec::new();
        let mut weights = Vec::new();
        for (name, weight) in channels {
            let name = name.into();
            check_channel_weight(&name, weight)?;
            if names.contains(&name) {
                return Err(Error::InvalidArgument {
                    name: "channels",
                    reason: format!("channel {name:?} is listed twice"),
                });
            }
            names.push(name);
            weights.push(weight);
        }
        if names.len() > MAX_CHANNELS {
            return Err(Error::InvalidArgument {
                name: "channels",
                reason: format!("{} channels, at most {MAX_CHANNELS} are supported", names.len()),
            });
        }
        Ok(Self { names, weights, combine: ChannelCombine::Max, unassigned: 1.0 })
    }

    /// Sets how several channels combine.
    pub fn with_combine(mut self, combine: ChannelCombine) -> Self {
        self.combine = combine;
        self
    }

    /// Sets the multiplier of a candidate with no channel. Errors: [`Error::InvalidWeight`].
    pub fn with_unassigned(mut self, weight: f32) -> Result<Self> {
        check_channel_weight("(no channel)", weight)?;
        self.unassigned = weight;
        Ok(self)
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The channel names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The index of channel `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The weights, in index order.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// How several channels combine.
    pub fn combine(&self) -> ChannelCombine {
        self.combine
    }

    /// The multiplier for a candidate from `set`. Bits beyond the configured channels are
    /// ignored here; [`RankPolicy::rank`](super::RankPolicy::rank) rejects them first
    /// ([`Error::UnknownChannel`]).
    pub fn weight_of(&self, set: ChannelSet) -> f32 {
        let known = set.iter().take_while(|&c| c < self.weights.len()).map(|c| self.weights[c]);
        match self.combine {
            ChannelCombine::Max => known.reduce(f32::max),
            ChannelCombine::Mean => {
                let (sum, count) =
                    known.fold((0.0f64, 0u32), |(s, k), w| (s + f64::from(w), k + 1));
                (count > 0).then(|| (sum / f64::from(count)) as f32)
            }
        }
        .unwrap_or(self.unassigned)
    }
}

fn check_channel_weight(name: &str, weight: f32) -> Result<()> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidWeight {
            name: name.into(),
            value: weight,
            reason: "channel weights must be finite and ≥ 0".into(),
        })
    }
}

/// Pre-rank truncation: the indices of the `keep` candidates with the highest cheap prior score
/// (a recall score, popularity, …), best first, ties to the lower index; every candidate when
/// there are at most `keep`. Runs before the (expensive) ranker so it only sees the head.
///
/// `O(N + keep·log keep)` (selection, then a sort of the head only).
///
/// Errors: [`Error::InvalidArgument`] (`keep` = 0), [`Error::NonFinite`] (a NaN or infinite
/// prior).
pub fn truncate_by_prior(prior: &[f32], keep: usize) -> Result<Vec<usize>> {
    if keep == 0 {
        return Err(Error::InvalidArgument {
            name: "keep",
            reason: "pre-rank truncation must keep at least one candidate".into(),
        });
    }
    if let Some(position) = prior.iter().position(|p| !p.is_finite()) {
        return Err(Error::NonFinite { what: "prior score", position });
    }
    // A total order (no NaN left, index tie-break).
    let mut idx: Vec<usize> =
        crate::order::rows_by_desc(prior).into_iter().map(|i| i as usize).collect();
    idx.truncate(keep);
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks() -> [&'static str; 3] {
        ["click", "like", "finish"]
    }

    #[test]
    fn both_forms_match_hand_computed_values() {
        let row = [0.5f32, 0.25, 0.75];
        let sum = Fusion::new(FusionForm::WeightedSum, tasks(), "click")
            .unwrap()
            .with_weight("like", 2.0)
            .unwrap()
            .with_weight("finish", 0.5)
            .unwrap();
        // 0.5 + 2·0.25 + 0.5·0.75 = 1.375
        assert_eq!(sum.fuse_row(&row), 1.375);
        let mul = Fusion::new(FusionForm::Multiplicative, tasks(), "click")
            .unwrap()
            .with_weight("like", 2.0)
            .unwrap()
            .with_weight("finish", 0.5)
            .unwrap();
        // 0.5 · (1 + 0.5 + 0.375) = 0.9375
        assert_eq!(mul.fuse_row(&row), 0.9375);
        // The primary need not be the first column.
        let like = Fusion::new(FusionForm::Multiplicative, tasks(), "like")
            .unwrap()
            .with_weight("click", 1.0)
            .unwrap();
        assert_eq!(like.fuse_row(&row), 0.25 * 1.5);
        assert_eq!(like.primary(), 1);
    }

    #[test]
    fn fuse_checks_shape_and_probabilities() {
        let f = Fusion::new(FusionForm::WeightedSum, tasks(), "click").unwrap();
        assert_eq!(f.fuse(&[]).unwrap(), Vec::<f64>::new());
        assert_eq!(f.fuse(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap().len(), 2);
        assert_eq!(
            f.fuse(&[0.1, 0.2]),
            Err(Error::ShapeMismatch { what: "task probabilities", len: 2, dim: 3 })
        );
        for bad in [f32::NAN, -0.01, 1.01, f32::INFINITY] {
            match f.fuse(&[0.1, 0.2, 0.3, 0.4, bad, 0.6]) {
                Err(Error::InvalidProbability { task, candidate: 1, value }) => {
                    assert_eq!(task, "like");
                    assert_eq!(value.to_bits(), bad.to_bits());
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_configurations_are_typed_errors() {
        let none: [&str; 0] = [];
        assert!(matches!(
            Fusion::new(FusionForm::WeightedSum, none, "click"),
            Err(Error::InvalidArgument { name: "tasks", .. })
        ));
        assert!(matches!(
            Fusion::new(FusionForm::WeightedSum, ["click", "click"], "click"),
            Err(Error::InvalidArgument { name: "tasks", .. })
        ));
        assert_eq!(
            Fusion::new(FusionForm::WeightedSum, ["click"], "ctr"),
            Err(Error::UnknownTask { name: "ctr".into(), known: vec!["click".into()] })
        );
        let sum = Fusion::new(FusionForm::WeightedSum, tasks(), "click").unwrap();
        assert!(matches!(
            sum.clone().with_weight("share", 1.0),
            Err(Error::UnknownTask { name, .. }) if name == "share"
        ));
        for (task, w) in [("click", 1.0), ("like", f32::NAN), ("like", f32::INFINITY)] {
            assert!(matches!(
                sum.clone().with_weight(task, w),
                Err(Error::InvalidWeight { name, .. }) if name == task
            ));
        }
        assert!(matches!(sum.with_weight("like", -0.1), Err(Error::InvalidWeight { .. })));
        // Multiplicative: negatives allowed while 1 + Σ negatives ≥ 0.
        let mul = Fusion::new(FusionForm::Multiplicative, tasks(), "click")
            .unwrap()
            .with_weight("like", -0.75)
            .unwrap();
        let ok = mul.clone().with_weight("finish", -0.25).unwrap();
        assert_eq!(ok.fuse_row(&[1.0, 1.0, 1.0]), 0.0); // 1 · (1 − 0.75 − 0.25)
        assert_eq!(ok.fuse_row(&[0.5, 1.0, 0.0]), 0.125); // 0.5 · (1 − 0.75)
        assert!(matches!(
            mul.clone().with_weight("finish", -0.5),
            Err(Error::InvalidWeight { .. })
        ));
        // Overwriting a weight does not count the old value twice.
        assert!(mul.with_weight("like", -1.0).is_ok());
    }

    #[test]
    fn channel_sets_and_weights() {
        let set = ChannelSet::from_channels(&[0, 2, 63]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 2, 63]);
        assert_eq!((set.len(), set.highest()), (3, Some(63)));
        assert!(set.contains(2) && !set.contains(1) && !set.contains(64));
        assert_eq!(ChannelSet::EMPTY.highest(), None);
        assert!(matches!(
            ChannelSet::from_channels(&[64]),
            Err(Error::InvalidArgument { name: "channel", .. })
        ));

        let w = ChannelWeights::new([("vector", 1.0), ("popular", 0.5), ("fresh", 2.0)]).unwrap();
        assert_eq!(w.index("fresh"), Some(2));
        let both = ChannelSet::from_channels(&[0, 1]).unwrap();
        assert_eq!(w.weight_of(both), 1.0);
        assert_eq!(w.clone().with_combine(ChannelCombine::Mean).weight_of(both), 0.75);
        assert_eq!(w.weight_of(ChannelSet::EMPTY), 1.0);
        assert_eq!(w.clone().with_unassigned(0.25).unwrap().weight_of(ChannelSet::EMPTY), 0.25);
        for bad in [-1.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(ChannelWeights::new([("a", bad)]), Err(Error::InvalidWeight { .. })));
            assert!(matches!(w.clone().with_unassigned(bad), Err(Error::InvalidWeight { .. })));
        }
        assert!(matches!(
            ChannelWeights::new([("a", 1.0), ("a", 2.0)]),
            Err(Error::InvalidArgument { name: "channels", .. })
        ));
        let many = (0..65).map(|i| (format!("c{i}"), 1.0));
        assert!(matches!(
            ChannelWeights::new(many),
            Err(Error::InvalidArgument { name: "channels", .. })
        ));
    }

    #[test]
    fn truncation_keeps_the_best_prior_scores() {
        let prior = [0.3, 0.9, 0.1, 0.9, 0.5];
        assert_eq!(truncate_by_prior(&prior, 3).unwrap(), vec![1, 3, 4]);
        assert_eq!(truncate_by_prior(&prior, 10).unwrap(), vec![1, 3, 4, 0, 2]);
        assert_eq!(truncate_by_prior(&[], 10).unwrap(), Vec::<usize>::new());
        assert!(matches!(
            truncate_by_prior(&prior, 0),
            Err(Error::InvalidArgument { name: "keep", .. })
        ));
        assert_eq!(
            truncate_by_prior(&[0.1, f32::NAN], 1),
            Err(Error::NonFinite { what: "prior score", position: 1 })
        );
    }
}
