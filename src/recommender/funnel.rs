//! The rank and re-rank stages of the funnel over one candidate pool, written once for recall
//! mode and hybrid mode. Pure functions of their inputs: the [`super::Recommender`] gathers the
//! pool, the ranker's probabilities, embeddings and attributes, and calls these.
//!
//! **Rank.** Every candidate has a prior in (0, 1] — the merged recall score scaled so the best
//! is 1, or in hybrid mode the rank score `K / (K + rank)` of the server's order (the same
//! reciprocal-rank shape as the recall merge, so only the server's *order* matters and any
//! score scale works). The rank stage fuses the prior with the device's own signals by
//! [`Fusion`]'s weighted sum, `prior + w_a·affinity + w_r·(P(watch) + w_l·P(like)) / (1 + w_l)`,
//! then applies the new-item boost and the exploration slots of [`RankPolicy`].
//!
//! **Re-rank.** The best `pool` ranked candidates go to the [`Reranker`] (none | MMR | DPP under
//! the rules). Exploration slots and boosted items that made the top `k` are pinned at their
//! ranked positions by soft rules of the highest priority, so they survive re-rank and give way
//! only to the caller's hard rules. When DPP runs out of marginal gain (the kernel's rank is at
//! most the embedding dimension), the remaining positions are filled by relevance under the
//! same rules.

use super::options::{DiversityOptions, SimilarityKind};
use super::result::Placement;
use crate::error::Result;
use crate::rank::{
    ArmKind, ArmStats, ChannelSet, Exploration, Fusion, FusionForm, ItemStats, NewItemBoost,
    RankInput, RankPolicy,
};
use crate::rerank::{
    Candidates, Categories, Constraint, Diversity, Embeddings, Reranker, Rule, Selector,
    Similarity, StopReason,
};

/// One candidate before ranking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolEntry {
    /// Bundle row; `None` for an unknown hybrid candidate.
    pub row: Option<u32>,
    /// Item id.
    pub id: String,
    /// Prior score in (0, 1].
    pub prior: f32,
    /// The server's score (hybrid mode).
    pub server: Option<f64>,
    /// Channel bits.
    pub sources: u64,
}

/// The device's signals for the rank stage.
pub(crate) struct RankSignals<'a> {
    /// `n × 2` ranker probabilities (watch, like) for known rows; `None` for a cold user or
    /// without a ranker.
    pub ranker: Option<&'a [f32]>,
    /// Affinity `(1 + cos(q, v)) / 2` per candidate (hybrid mode).
    pub affinity: Option<&'a [f32]>,
    /// Weight of the ranker's score.
    pub ranker_weight: f32,
    /// Weight of P(like) within it.
    pub like_weight: f32,
    /// Weight of the affinity.
    pub affinity_weight: f32,
    /// The boost and each candidate's age in seconds.
    pub boost: Option<(NewItemBoost, &'a [f32])>,
    /// Exploration, with per-channel stats.
    pub explore: Option<(Exploration, &'a [ArmStats])>,
    /// Seed of the exploration draws.
    pub seed: u64,
}

/// The rank stage's output.
pub(crate) struct RankedPool {
    /// Candidate indices in ranked order.
    pub order: Vec<usize>,
    /// Final score per candidate (by candidate index).
    pub scores: Vec<f64>,
    /// The ranker's fused probability per candidate.
    pub ranker: Vec<Option<f32>>,
    /// Boost per candidate.
    pub boost: Vec<f32>,
    /// Placed by an exploration slot.
    pub explored: Vec<bool>,
}

/// Ranks `pool` (see the module docs).
pub(crate) fn rank(pool: &[PoolEntry], s: &RankSignals<'_>) -> Result<RankedPool> {
    let n = pool.len();
    let mut tasks = vec!["prior"];
    if s.affinity.is_some() {
        tasks.push("affinity");
    }
    if s.ranker.is_some() {
        tasks.extend(["watch", "like"]);
    }
    let width = tasks.len();
    let mut probabilities = Vec::with_capacity(n * width);
    let mut ranker = vec![None; n];
    for (i, entry) in pool.iter().enumerate() {
        probabilities.push(entry.prior.clamp(0.0, 1.0));
        if let Some(a) = s.affinity {
            probabilities.push(a[i].clamp(0.0, 1.0));
        }
        if let Some(p) = s.ranker {
            let (w, l) = (p[2 * i].clamp(0.0, 1.0), p[2 * i + 1].clamp(0.0, 1.0));
            probabilities.extend([w, l]);
            if entry.row.is_some() {
                ranker[i] = Some((w + s.like_weight * l) / (1.0 + s.like_weight));
            }
        }
    }
    let mut fusion = Fusion::new(FusionForm::WeightedSum, tasks.iter().copied(), "prior")?;
    if s.affinity.is_some() {
        fusion = fusion.with_weight("affinity", s.affinity_weight)?;
    }
    if s.ranker.is_some() {
        let scale = s.ranker_weight / (1.0 + s.like_weight);
        fusion = fusion.with_weight("watch", scale)?.with_weight("like", scale * s.like_weight)?;
    }
    let mut policy = RankPolicy::new(fusion).with_trace(true);
    let sets: Vec<ChannelSet> = pool.iter().map(|e| ChannelSet(e.sources)).collect();
    let mut input = RankInput::new(&probabilities).with_channels(&sets).with_seed(s.seed);
    let stats: Vec<ItemStats>;
    if let Some((boost, ages)) = s.boost {
        policy = policy.with_boost(boost);
        stats = ages.iter().map(|&age| ItemStats { age, exposures: 0, clicks: 0 }).collect();
        input = input.with_item_stats(&stats);
    }
    if let Some((exploration, arms)) = s.explore {
        policy = policy.with_exploration(exploration)?;
        input = input.with_channel_stats(arms);
    }
    let ranked = policy.rank(&input)?;
    let (boost, explored) = match &ranked.trace {
        Some(t) => (
            t.candidates.iter().map(|c| c.boost).collect(),
            t.candidates.iter().map(|c| c.explored).collect(),
        ),
        None => (vec![0.0; n], vec![false; n]),
    };
    Ok(RankedPool { order: ranked.order, scores: ranked.scores, ranker, boost, explored })
}

/// The re-rank inputs of the pool, in ranked order (index `i` = ranked position `i`).
pub(crate) struct RerankInput {
    /// Relevance (the ranked scores).
    pub relevance: Vec<f64>,
    /// Row-major embeddings (zeros for unknown items).
    pub embeddings: Vec<f32>,
    /// Embedding dimension.
    pub dim: usize,
    /// Category ids of each candidate.
    pub categories: Vec<Vec<u32>>,
    /// Named attribute columns for the rules.
    pub attributes: Vec<(String, Vec<Option<u32>>)>,
}

/// A pin the funnel adds on top of the caller's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinKind {
    Explore,
    Boost,
}

/// One output position of [`rerank`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    /// Ranked position of the candidate.
    pub candidate: usize,
    /// The diversity term.
    pub diversity: f64,
    /// Why it is here.
    pub placed_by: Placement,
    /// The rule that placed it or moved a more relevant item away.
    pub rule: Option<usize>,
    /// Soft rules relaxed at this position.
    pub relaxed: Vec<usize>,
}

/// The re-rank's output.
pub(crate) struct Reranked {
    /// The final list.
    pub placed: Vec<Placed>,
    /// Where DPP ran out of gain.
    pub dpp_exhausted_at: Option<usize>,
}

/// Re-ranks the pool into `k` items under `user_rules` plus the funnel's `pins` (see the
/// module docs). Rule indices in the result refer to `user_rules`.
pub(crate) fn rerank(
    input: RerankInput,
    diversity: &DiversityOptions,
    user_rules: Vec<Rule>,
    pins: &[(usize, usize, PinKind)],
    k: usize,
) -> Result<Reranked> {
    let n = input.relevance.len();
    let k = k.min(n);
    let strategy = diversity.strategy()?;
    let needs_similarity = !matches!(strategy, crate::rerank::Strategy::Relevance);
    let mut candidates = Candidates::new(input.relevance)?;
    if needs_similarity {
        let similarity = match diversity.similarity {
            SimilarityKind::Embedding => {
                Similarity::cosine(Embeddings::from_f32(&input.embeddings, input.dim)?)
            }
            SimilarityKind::Category => Similarity::jaccard(Categories::new(input.categories)?),
            SimilarityKind::Mix => Similarity::mixed(
                Embeddings::from_f32(&input.embeddings, input.dim)?,
                Categories::new(input.categories)?,
                diversity.mix_weight,
            )?,
        };
        candidates = candidates.with_similarity(similarity)?;
    }
    for (name, values) in input.attributes {
        candidates = candidates.with_attribute(name, values)?;
    }
    let users = user_rules.len();
    let mut rules = user_rules;
    for &(candidate, position, _) in pins {
        rules.push(Rule::soft(
            Constraint::Pin { selector: Selector::Item(candidate), position },
            u32::MAX,
        ));
    }
    let out = Reranker::new(strategy)?
        .with_rules(rules.clone())?
        .with_fill(true)
        .with_trace(true)
        .rerank(&candidates, k)?;
    let trace = out
        .trace
        .unwrap_or(crate::rerank::RerankTrace { steps: Vec::new(), stop: StopReason::ReachedK });
    let dpp_exhausted_at = match trace.stop {
        StopReason::GainBelowEpsilon { position, .. } => Some(position),
        StopReason::ReachedK => None,
    };
    let mut placed_mask = vec![false; n];
    let mut placed = Vec::with_capacity(trace.steps.len());
    for step in &trace.steps {
        // The most relevant candidate still unplaced (the pool is in ranked order, so the
        // lowest index, up to exploration's reordering: compare relevance).
        let best = (0..n).filter(|&c| !placed_mask[c]).max_by(|&a, &b| {
            candidates.relevance()[a].total_cmp(&candidates.relevance()[b]).then(b.cmp(&a))
        });
        let pin = pins.iter().find(|p| p.1 == step.position && p.0 == step.item);
        let user_pin = (0..users).find(|&r| {
            !step.relaxed.contains(&r)
                && matches!(&rules[r].constraint,
                    Constraint::Pin { selector: Selector::Item(c), position }
                        if *c == step.item && *position == step.position)
        });
        let blocker = |c: usize| {
            step.excluded.iter().find(|e| e.rule < users && e.items.contains(&c)).map(|e| e.rule)
        };
        let (placed_by, rule) = if let Some(r) = user_pin {
            (Placement::Pin, Some(r))
        } else if let Some(&(_, _, kind)) = pin {
            (if kind == PinKind::Explore { Placement::Explore } else { Placement::Boost }, None)
        } else if dpp_exhausted_at.is_some_and(|p| step.position >= p) {
            (Placement::Fill, None)
        } else if best == Some(step.item) {
            (Placement::Relevance, None)
        } else if let Some(r) = best.and_then(blocker) {
            (Placement::Rule, Some(r))
        } else {
            (Placement::Diversity, None)
        };
        let diversity = match step.diversity {
            Diversity::None => 0.0,
            Diversity::MmrRedundancy(x) | Diversity::DppGain(x) => x,
        };
        placed_mask[step.item] = true;
        placed.push(Placed {
            candidate: step.item,
            diversity,
            placed_by,
            rule,
            relaxed: step.relaxed.iter().copied().filter(|&r| r < users).collect(),
        });
    }
    Ok(Reranked { placed, dpp_exhausted_at })
}

/// Channel arms for exploration: one per channel.
pub(crate) fn exploration(options: &super::options::ExploreOptions) -> Exploration {
    Exploration { policy: options.policy(), arms: ArmKind::Channels, slots: options.slots() }
}
