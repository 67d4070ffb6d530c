//! The rank stage's pure logic: from a multi-task ranker's per-task probabilities to a scored,
//! ordered candidate list. No GPU, no I/O.
//!
//! - [`fusion`]: weighted-sum or multiplicative score fusion over named tasks
//!   ([`Fusion`]), per-recall-channel weights ([`ChannelWeights`]) and pre-rank truncation
//!   ([`truncate_by_prior`]).
//! - [`boost`]: the cold-start boost `max_boost · (1 − age/target_age) · (1 − exposures /
//!   target_exposures)` for new items ([`NewItemBoost`]), off by default.
//! - [`explore`]: exploration slots filled by Thompson sampling or UCB1 over channels or items
//!   ([`Exploration`]), deterministic given a seed, off by default.
//! - [`RankPolicy`]: the pipeline. Per candidate: `score = fuse(p) · channel_weight`, then the
//!   boost; order by score (ties → lower index); then exploration slots replace some positions.
//!   The optional [`RankTrace`] records every step.
//!
//! ```
//! use edgerec::rank::{ChannelSet, ChannelWeights, Fusion, FusionForm, ItemStats, NewItemBoost,
//!     RankInput, RankPolicy};
//!
//! # fn main() -> edgerec::Result<()> {
//! // Three ranker heads; the multiplicative fusion p_click · (1 + 0.5·p_like + 1·p_finish).
//! let fusion = Fusion::new(FusionForm::Multiplicative, ["click", "like", "finish"], "click")?
//!     .with_weight("like", 0.5)?
//!     .with_weight("finish", 1.0)?;
//! let policy = RankPolicy::new(fusion)
//!     .with_channel_weights(ChannelWeights::new([("vector", 1.0), ("fresh", 1.2)])?)
//!     .with_boost(NewItemBoost::new(1.0, 86_400.0, 100)?) // one day, 100 exposures
//!     .with_trace(true);
//! // Three candidates × three tasks, row-major.
//! let probabilities = [0.30, 0.10, 0.50, 0.20, 0.40, 0.90, 0.25, 0.00, 0.00];
//! let channels = [ChannelSet(0b01), ChannelSet(0b01), ChannelSet(0b10)];
//! let items = [
//!     ItemStats { age: 900_000.0, exposures: 5_000, clicks: 300 },
//!     ItemStats { age: 400_000.0, exposures: 2_000, clicks: 90 },
//!     ItemStats { age: 3_600.0, exposures: 0, clicks: 0 }, // an hour old, never shown
//! ];
//! let input = RankInput::new(&probabilities).with_channels(&channels).with_item_stats(&items);
//! let ranked = policy.rank(&input)?;
//! // 0.465 and 0.42 for the old items; the new one: 0.25 · 1.2 · (1 + 23/24) ≈ 0.59.
//! assert_eq!(ranked.order, vec![2, 0, 1]);
//! let trace = ranked.trace.expect("tracing was on");
//! assert!(trace.candidates[2].boost > 0.95 && trace.candidates[0].boost == 0.0);
//! # Ok(())
//! # }
//! ```

pub mod boost;
pub mod explore;
pub mod focus;
pub mod fusion;
pub mod ranker;
pub mod trace;

pub use boost::{BoostMode, NewItemBoost};
pub use explore::{ArmKind, ArmStats, Exploration, ExplorePolicy, ExploreRng, Slots};
pub use focus::{CategoryPrior, Focus, FocusBoost};
pub use fusion::{
    ChannelCombine, ChannelSet, ChannelWeights, Fusion, FusionForm, MAX_CHANNELS, truncate_by_prior,
};
pub use ranker::{RANKER_TASKS, Ranker, RankerHead, RankerScratch};
pub use trace::{CandidateTrace, ExploreArm, ExploreStep, RankTrace};

use crate::error::{Error, Result};
use explore::total_exposures;

/// Freshness and feedback of one candidate item.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ItemStats {
    /// Time since publication, in the unit of [`NewItemBoost::target_age`]. Negative (clock
    /// skew) counts as 0; `f32::INFINITY` means "unknown / old"; NaN is rejected.
    pub age: f32,
    /// Times it was shown.
    pub exposures: u32,
    /// Times it was clicked (≤ `exposures`).
    pub clicks: u32,
}

/// The inputs of one request. Only the probabilities are required; the rest is needed by the
/// features that use it (channel weights and channel exploration need channels, the boost and
/// item exploration need item stats), and is checked whenever given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankInput<'a> {
    probabilities: &'a [f32],
    channels: Option<&'a [ChannelSet]>,
    channel_stats: Option<&'a [ArmStats]>,
    items: Option<&'a [ItemStats]>,
    seed: u64,
}

impl<'a> RankInput<'a> {
    /// The ranker's output: a row-major `n × tasks` matrix of probabilities in `[0, 1]`, columns
    /// in the order of [`Fusion::tasks`].
    pub fn new(probabilities: &'a [f32]) -> Self {
        Self { probabilities, channels: None, channel_stats: None, items: None, seed: 0 }
    }

    /// The recall channels of each candidate (one set per candidate).
    pub fn with_channels(mut self, channels: &'a [ChannelSet]) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Clicks and exposures per channel, for channel-arm exploration (one per channel; as many
    /// as [`ChannelWeights`] has when both are used).
    pub fn with_channel_stats(mut self, stats: &'a [ArmStats]) -> Self {
        self.channel_stats = Some(stats);
        self
    }

    /// Age, exposures and clicks of each candidate (one per candidate).
    pub fn with_item_stats(mut self, items: &'a [ItemStats]) -> Self {
        self.items = Some(items);
        self
    }

    /// The exploration seed (default 0): the same seed and inputs give the same output. Derive
    /// it per request (e.g. from the user and a request counter) so slots vary between requests.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// The result of [`RankPolicy::rank`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Candidate indices in display order: by score, except at exploration slots.
    pub order: Vec<usize>,
    /// The final score of each candidate, by candidate index (fused, channel-weighted, boosted;
    /// finite and ≥ 0).
    pub scores: Vec<f64>,
    /// The trace, when [`RankPolicy::with_trace`] is on.
    pub trace: Option<RankTrace>,
}

/// The rank stage's configuration: fusion, optional channel weights, boost, exploration and
/// pre-rank truncation. Immutable and reusable across requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RankPolicy {
    fusion: Fusion,
    channels: Option<ChannelWeights>,
    boost: Option<NewItemBoost>,
    exploration: Option<Exploration>,
    pre_rank: Option<usize>,
    trace: bool,
}

impl RankPolicy {
    /// Fusion only: no channel weights, boost, exploration or truncation, no trace.
    pub fn new(fusion: Fusion) -> Self {
        Self {
            fusion,
            channels: None,
            boost: None,
            exploration: None,
            pre_rank: None,
            trace: false,
        }
    }

    /// Multiplies each candidate's fused score by its channels' weight.
    pub fn with_channel_weights(mut self, channels: ChannelWeights) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Turns on the new-item boost.
    pub fn with_boost(mut self, boost: NewItemBoost) -> Self {
        self.boost = Some(boost);
        self
    }

    /// Turns on exploration slots. Errors: [`Error::InvalidArgument`] (bad policy parameters,
    /// `slots.every` = 0).
    pub fn with_exploration(mut self, exploration: Exploration) -> Result<Self> {
        exploration.validate()?;
        self.exploration = Some(exploration);
        Ok(self)
    }

    /// Keeps only the `keep` best candidates by prior score in [`RankPolicy::pre_rank`].
    /// Errors: [`Error::InvalidArgument`] (`keep` = 0).
    pub fn with_pre_rank(mut self, keep: usize) -> Result<Self> {
        if keep == 0 {
            return Err(Error::InvalidArgument {
                name: "keep",
                reason: "pre-rank truncation must keep at least one candidate".into(),
            });
        }
        self.pre_rank = Some(keep);
        Ok(self)
    }

    /// Records a [`RankTrace`] with each result.
    pub fn with_trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// The fusion.
    pub fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    /// The channel weights, if any.
    pub fn channel_weights(&self) -> Option<&ChannelWeights> {
        self.channels.as_ref()
    }

    /// The boost, if on.
    pub fn boost(&self) -> Option<&NewItemBoost> {
        self.boost.as_ref()
    }

    /// The exploration, if on.
    pub fn exploration(&self) -> Option<&Exploration> {
        self.exploration.as_ref()
    }

    /// Which candidates the ranker should score: with [`RankPolicy::with_pre_rank`], those of
    /// [`truncate_by_prior`] (best prior first); without, all of them in input order.
    ///
    /// Errors: [`Error::NonFinite`] (a NaN or infinite prior).
    pub fn pre_rank(&self, prior: &[f32]) -> Result<Vec<usize>> {
        match self.pre_rank {
            Some(keep) => truncate_by_prior(prior, keep),
            None => {
                if let Some(position) = prior.iter().position(|p| !p.is_finite()) {
                    return Err(Error::NonFinite { what: "prior score", position });
                }
                Ok((0..prior.len()).collect())
            }
        }
    }

    /// Scores and orders the candidates of `input`. No candidates (an empty matrix) give an
    /// empty result.
    ///
    /// Errors: [`Error::ShapeMismatch`] and [`Error::InvalidProbability`] (the probability
    /// matrix), [`Error::LengthMismatch`] (channels or item stats not one per candidate),
    /// [`Error::InvalidArgument`] (a feature's input is missing, channel stats not one per
    /// configured channel), [`Error::UnknownChannel`], [`Error::NonFinite`] (a NaN age),
    /// [`Error::InvalidArmStats`] (clicks > exposures).
    pub fn rank(&self, input: &RankInput<'_>) -> Result<Ranked> {
        let n = self.fusion.rows(input.probabilities)?;
        let arms = self.exploration.map(|e| e.arms);
        let (sets, channel_stats) =
            self.check_channels(input, n, arms == Some(ArmKind::Channels))?;
        let items = self.check_items(input, n, arms == Some(ArmKind::Items))?;

        let dim = self.fusion.tasks().len();
        let mut fused = Vec::with_capacity(n);
        let mut channel_weights = Vec::with_capacity(n);
        let mut boosts = Vec::with_capacity(n);
        let mut scores = Vec::with_capacity(n);
        for (i, row) in input.probabilities.chunks_exact(dim).enumerate() {
            let f = self.fusion.fuse_row(row);
            let w = match (&self.channels, sets) {
                (Some(cw), Some(sets)) => cw.weight_of(sets[i]),
                _ => 1.0,
            };
            let mut score = f * f64::from(w);
            let mut b = 0.0;
            if let (Some(boost), Some(items)) = (&self.boost, items) {
                b = boost.boost(items[i].age, items[i].exposures);
                score = boost.apply(score, b);
            }
            fused.push(f);
            channel_weights.push(w);
            boosts.push(b);
            scores.push(score);
        }

        let mut order = crate::order::indices_by_desc_f64(&scores);
        let mut steps = Vec::new();
        if let Some(exploration) = self.exploration {
            let ctx = ExploreInput { order: &order, sets, channel_stats, items };
            order = explore(&exploration, &ctx, input.seed, &mut steps);
        }

        let trace = self.trace.then(|| {
            let mut position = vec![0; n];
            for (p, &c) in order.iter().enumerate() {
                position[c] = p;
            }
            let mut explored = vec![false; n];
            for s in &steps {
                explored[s.item] = true;
            }
            let candidates = (0..n)
                .map(|i| CandidateTrace {
                    probabilities: input.probabilities[i * dim..(i + 1) * dim].to_vec(),
                    fused: fused[i],
                    channel_weight: channel_weights[i],
                    boost: boosts[i],
                    score: scores[i],
                    position: position[i],
                    explored: explored[i],
                })
                .collect();
            RankTrace { tasks: self.fusion.tasks().to_vec(), candidates, exploration: steps }
        });
        Ok(Ranked { order, scores, trace })
    }

    /// Checks the channel inputs; returns the per-candidate sets and the per-channel stats.
    fn check_channels<'a>(
        &self,
        input: &RankInput<'a>,
        n: usize,
        channel_arms: bool,
    ) -> Result<ChannelInputs<'a>> {
        let sets = match input.channels {
            Some(sets) if sets.len() != n => {
                return Err(Error::LengthMismatch {
                    what: "channels",
                    expected: n,
                    received: sets.len(),
                });
            }
            None if self.channels.is_some() || channel_arms => {
                return Err(Error::InvalidArgument {
                    name: "channels",
                    reason: "channel weights and channel exploration need each candidate's \
                             channels (RankInput::with_channels)"
                        .into(),
                });
            }
            sets => sets,
        };
        let stats = match input.channel_stats {
            Some(stats) => {
                if let Some(cw) = &self.channels
                    && stats.len() != cw.len()
                {
                    return Err(Error::InvalidArgument {
                        name: "channel stats",
                        reason: format!(
                            "{} entries for {} configured channels",
                            stats.len(),
                            cw.len()
                        ),
                    });
                }
                for (arm, s) in stats.iter().enumerate() {
                    s.validate(arm)?;
                }
                Some(stats)
            }
            None if channel_arms => {
                return Err(Error::InvalidArgument {
                    name: "channel stats",
                    reason: "channel exploration needs clicks and exposures per channel \
                             (RankInput::with_channel_stats)"
                        .into(),
                });
            }
            None => None,
        };
        let limit = self.channels.as_ref().map(ChannelWeights::len).or(stats.map(<[_]>::len));
        if let (Some(sets), Some(channels)) = (sets, limit) {
            for (candidate, set) in sets.iter().enumerate() {
                match set.highest() {
                    Some(channel) if channel >= channels => {
                        return Err(Error::UnknownChannel { candidate, channel, channels });
                    }
                    _ => {}
                }
            }
        }
        Ok((sets, stats))
    }

    /// Checks the item stats (length, NaN ages, clicks ≤ exposures).
    fn check_items<'a>(
        &self,
        input: &RankInput<'a>,
        n: usize,
        item_arms: bool,
    ) -> Result<Option<&'a [ItemStats]>> {
        let Some(items) = input.items else {
            if self.boost.is_some() || item_arms {
                return Err(Error::InvalidArgument {
                    name: "item stats",
                    reason: "the new-item boost and item exploration need each candidate's \
                             age, exposures and clicks (RankInput::with_item_stats)"
                        .into(),
                });
            }
            return Ok(None);
        };
        if items.len() != n {
            return Err(Error::LengthMismatch {
                what: "item stats",
                expected: n,
                received: items.len(),
            });
        }
        if let Some(position) = items.iter().position(|s| s.age.is_nan()) {
            return Err(Error::NonFinite { what: "item age", position });
        }
        for (arm, s) in items.iter().enumerate() {
            ArmStats::new(s.clicks, s.exposures).validate(arm)?;
        }
        Ok(Some(items))
    }
}

/// Per-candidate channel sets and per-channel stats, when given.
type ChannelInputs<'a> = (Option<&'a [ChannelSet]>, Option<&'a [ArmStats]>);

/// What exploration reads (already validated by [`RankPolicy::rank`]).
struct ExploreInput<'a> {
    /// Candidates by score, best first.
    order: &'a [usize],
    sets: Option<&'a [ChannelSet]>,
    channel_stats: Option<&'a [ArmStats]>,
    items: Option<&'a [ItemStats]>,
}

/// The display order with exploration slots filled; records each slot that placed a candidate.
fn explore(
    e: &Exploration,
    input: &ExploreInput<'_>,
    seed: u64,
    steps: &mut Vec<ExploreStep>,
) -> Vec<usize> {
    let order = input.order;
    let n = order.len();
    let mut rng = ExploreRng::new(seed);
    // Item arms: one value per candidate per request, drawn in candidate order (deterministic).
    let item_values: Vec<f64> = match (e.arms, input.items) {
        (ArmKind::Items, Some(items)) => {
            let arms: Vec<ArmStats> =
                items.iter().map(|s| ArmStats::new(s.clicks, s.exposures)).collect();
            let total = total_exposures(&arms);
            arms.iter().map(|&a| e.policy.value(a, total, &mut rng)).collect()
        }
        _ => Vec::new(),
    };
    let mut pulls = vec![0u32; input.channel_stats.map_or(0, <[_]>::len)];
    let mut placed = vec![false; n];
    let mut out = Vec::with_capacity(n);
    let mut cursor = 0;
    for position in 0..n {
        while cursor < n && placed[order[cursor]] {
            cursor += 1;
        }
        // Some candidate is unplaced while `out` is shorter than `n`.
        let Some(&exploit) = order.get(cursor) else { break };
        let remaining = || order.iter().copied().filter(|&c| !placed[c]);
        let pick = if !e.slots.is_slot(position) {
            None
        } else {
            match e.arms {
                // Strict `>` over score order: ties go to the higher score, then lower index.
                ArmKind::Items => remaining()
                    .filter(|&c| c < item_values.len())
                    .fold(None, |best: Option<(usize, f64)>, c| match best {
                        Some((_, v)) if item_values[c] <= v => best,
                        _ => Some((c, item_values[c])),
                    })
                    .map(|(c, v)| (c, ExploreArm::Item(c), v)),
                ArmKind::Channels => match (input.sets, input.channel_stats) {
                    (Some(sets), Some(stats)) => {
                        let available = remaining().fold(0u64, |acc, c| acc | sets[c].0);
                        let total = total_exposures(stats)
                            + pulls.iter().map(|&p| u64::from(p)).sum::<u64>();
                        let mut best: Option<(usize, f64)> = None;
                        for ch in ChannelSet(available).iter().filter(|&ch| ch < stats.len()) {
                            // Slots already given to a channel in this request count as
                            // exposures without a click.
                            let arm = ArmStats::new(
                                stats[ch].clicks,
                                stats[ch].exposures.saturating_add(pulls[ch]),
                            );
                            let v = e.policy.value(arm, total, &mut rng);
                            if best.is_none_or(|(_, b)| v > b) {
                                best = Some((ch, v));
                            }
                        }
                        best.and_then(|(ch, v)| {
                            pulls[ch] = pulls[ch].saturating_add(1);
                            let c = remaining().find(|&c| sets[c].contains(ch))?;
                            Some((c, ExploreArm::Channel(ch), v))
                        })
                    }
                    _ => None,
                },
            }
        };
        let item = match pick {
            Some((item, arm, value)) => {
                steps.push(ExploreStep { position, item, arm, value, exploit });
                item
            }
            None => exploit,
        };
        placed[item] = true;
        out.push(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click_like() -> Fusion {
        Fusion::new(FusionForm::WeightedSum, ["click", "like"], "click").unwrap()
    }

    #[test]
    fn scores_are_fused_weighted_and_boosted() {
        let fusion = click_like().with_weight("like", 1.0).unwrap();
        let policy = RankPolicy::new(fusion)
            .with_channel_weights(ChannelWeights::new([("a", 0.5), ("b", 2.0)]).unwrap())
            .with_boost(NewItemBoost::new(1.0, 10.0, 10).unwrap())
            .with_trace(true);
        let p = [0.5, 0.5, 0.25, 0.25, 0.5, 0.0];
        let sets = [ChannelSet(0b01), ChannelSet(0b11), ChannelSet(0)];
        let items = [
            ItemStats { age: 20.0, exposures: 0, clicks: 0 },
            ItemStats { age: 5.0, exposures: 5, clicks: 1 },
            ItemStats { age: 0.0, exposures: 0, clicks: 0 },
        ];
        let input = RankInput::new(&p).with_channels(&sets).with_item_stats(&items);
        let r = policy.rank(&input).unwrap();
        // 1.0·0.5 = 0.5; 0.5·2 · (1 + 0.25) = 1.25; 0.5 · 1 · (1 + 1) = 1.0
        assert_eq!(r.scores, vec![0.5, 1.25, 1.0]);
        assert_eq!(r.order, vec![1, 2, 0]);
        let t = r.trace.unwrap();
        assert_eq!(t.tasks, vec!["click", "like"]);
        assert_eq!(t.candidates[1].probabilities, vec![0.25, 0.25]);
        assert_eq!(t.candidates[1].fused, 0.5);
        assert_eq!(t.candidates[1].channel_weight, 2.0);
        assert_eq!(t.candidates[1].boost, 0.25);
        assert_eq!(t.candidates.iter().map(|c| c.position).collect::<Vec<_>>(), vec![2, 0, 1]);
        assert!(t.exploration.is_empty() && t.candidates.iter().all(|c| !c.explored));
    }

    #[test]
    fn empty_input_gives_an_empty_result() {
        let policy = RankPolicy::new(click_like())
            .with_exploration(Exploration {
                policy: ExplorePolicy::THOMPSON,
                arms: ArmKind::Items,
                slots: Slots::every(1),
            })
            .unwrap();
        let r = policy.rank(&RankInput::new(&[]).with_item_stats(&[])).unwrap();
        assert!(r.order.is_empty() && r.scores.is_empty());
    }

    #[test]
    fn item_exploration_fills_the_slots_with_unexposed_items() {
        // Scores descend with the index; items 3 and 4 were never shown, the rest often.
        let p = [0.9, 0.0, 0.8, 0.0, 0.7, 0.0, 0.6, 0.0, 0.5, 0.0];
        let mut items = [ItemStats { age: 0.0, exposures: 1000, clicks: 100 }; 5];
        items[3].exposures = 0;
        items[3].clicks = 0;
        items[4].exposures = 0;
        items[4].clicks = 0;
        let policy = RankPolicy::new(click_like())
            .with_exploration(Exploration {
                policy: ExplorePolicy::UCB1,
                arms: ArmKind::Items,
                slots: Slots { first: 1, every: 2 },
            })
            .unwrap()
            .with_trace(true);
        let r = policy.rank(&RankInput::new(&p).with_item_stats(&items)).unwrap();
        assert_eq!(r.order, vec![0, 3, 1, 4, 2]);
        let steps = r.trace.unwrap().exploration;
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0],
            ExploreStep {
                position: 1,
                item: 3,
                arm: ExploreArm::Item(3),
                value: f64::INFINITY,
                exploit: 1
            }
        );
        assert_eq!((steps[1].position, steps[1].item, steps[1].exploit), (3, 4, 2));
    }

    #[test]
    fn channel_exploration_spreads_slots_over_channels() {
        // Channel 0 holds the best-scored items; channels 1 and 2 were never explored.
        let p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let fusion = Fusion::new(FusionForm::WeightedSum, ["click"], "click").unwrap();
        let sets: Vec<ChannelSet> =
            [0, 0, 0, 1, 2, 1].iter().map(|&c| ChannelSet::from_channels(&[c]).unwrap()).collect();
        let stats = [ArmStats::new(50, 1000), ArmStats::new(0, 0), ArmStats::new(0, 0)];
        let policy = RankPolicy::new(fusion)
            .with_exploration(Exploration {
                policy: ExplorePolicy::UCB1,
                arms: ArmKind::Channels,
                slots: Slots { first: 0, every: 1 },
            })
            .unwrap()
            .with_trace(true);
        let input = RankInput::new(&p).with_channels(&sets).with_channel_stats(&stats);
        let r = policy.rank(&input).unwrap();
        // Slot 0: channels 1 and 2 tie at +∞ → channel 1, its best item 3. Slot 1: channel 2
        // is still unexposed → item 4. Then channel 1 (1 virtual exposure, index
        // sqrt(2 ln 1002) ≈ 3.7) beats channel 0 (0.05 + sqrt(2 ln 1002 / 1000) ≈ 0.17).
        let arms: Vec<ExploreArm> = r.trace.unwrap().exploration.iter().map(|s| s.arm).collect();
        assert_eq!(&r.order[..3], &[3, 4, 5]);
        assert_eq!(
            &arms[..3],
            &[ExploreArm::Channel(1), ExploreArm::Channel(2), ExploreArm::Channel(1)]
        );
    }

    #[test]
    fn missing_inputs_are_typed_errors() {
        let p = [0.5, 0.5];
        let with_channels = RankPolicy::new(click_like())
            .with_channel_weights(ChannelWeights::new([("a", 1.0)]).unwrap());
        assert!(matches!(
            with_channels.rank(&RankInput::new(&p)),
            Err(Error::InvalidArgument { name: "channels", .. })
        ));
        let boosted =
            RankPolicy::new(click_like()).with_boost(NewItemBoost::new(1.0, 1.0, 1).unwrap());
        assert!(matches!(
            boosted.rank(&RankInput::new(&p)),
            Err(Error::InvalidArgument { name: "item stats", .. })
        ));
        let channel_arms = RankPolicy::new(click_like())
            .with_exploration(Exploration {
                policy: ExplorePolicy::UCB1,
                arms: ArmKind::Channels,
                slots: Slots::every(2),
            })
            .unwrap();
        let sets = [ChannelSet(1)];
        assert!(matches!(
            channel_arms.rank(&RankInput::new(&p).with_channels(&sets)),
            Err(Error::InvalidArgument { name: "channel stats", .. })
        ));
        assert!(matches!(
            RankPolicy::new(click_like()).with_pre_rank(0),
            Err(Error::InvalidArgument { name: "keep", .. })
        ));
    }
}
