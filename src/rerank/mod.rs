//! The re-rank stage: turn a relevance-ordered candidate list into the list a user sees, trading
//! relevance against diversity and honouring business rules. Pure logic: no GPU, no I/O.
//!
//! - [`mmr()`]: Maximal Marginal Relevance (Carbonell & Goldstein 1998), optionally over a sliding
//!   window of recent picks.
//! - [`dpp_greedy`]: fast greedy MAP inference for a DPP (Chen, Zhang & Zhou, NeurIPS 2018,
//!   Alg. 1) and its sliding-window variant (Alg. 2), matching the authors' reference code.
//! - [`rules`]: PAI-Rec style constraints (scatter, quotas, pins, promoted slots, dedupe), hard or
//!   soft with a priority.
//! - [`Reranker`]: the pipeline. At each position the rules filter the remaining candidates, then
//!   the [`Strategy`] picks among the eligible ones; the optional [`RerankTrace`] records every
//!   decision.
//!
//! ```
//! use edgerec::rerank::{Candidates, Constraint, Embeddings, MmrParams, Reranker, Rule,
//!     Similarity, Strategy};
//!
//! # fn main() -> edgerec::Result<()> {
//! // Four candidates: 0 and 1 are near-duplicates, and 0, 1, 2 share genre 7.
//! let embeddings = Embeddings::new(vec![1.0, 0.0, 0.99, 0.1, 0.0, 1.0, 0.7, 0.7], 2)?;
//! let candidates = Candidates::new(vec![0.9, 0.85, 0.5, 0.4])?
//!     .with_similarity(Similarity::cosine(embeddings))?
//!     .with_attribute("genre", vec![Some(7), Some(7), Some(7), Some(3)])?;
//! let reranker = Reranker::new(Strategy::Mmr(MmrParams::new(0.7)))?
//!     .with_rules(vec![Rule::soft(
//!         Constraint::MaxConsecutive { attribute: "genre".into(), n: 2 },
//!         1,
//!     )])?
//!     .with_trace(true);
//! let out = reranker.rerank(&candidates, 4)?;
//! assert_eq!(out.items[0], 0); // the most relevant first
//! assert_ne!(out.items[1], 1); // its near-duplicate is pushed down
//! let trace = out.trace.expect("tracing was on");
//! assert_eq!(trace.steps.len(), 4);
//! # Ok(())
//! # }
//! ```

pub mod dpp;
pub mod mmr;
pub mod rules;
pub mod similarity;
pub mod trace;

pub use dpp::{DEFAULT_EPSILON, DppParams, Kernel, dpp_greedy, dpp_greedy_quality};
pub use mmr::{MmrParams, mmr};
pub use rules::{Constraint, Enforcement, MAX_RULES, Rule, Selector};
pub use similarity::{Categories, Embeddings, Similarity};
pub use trace::{Diversity, Exclusion, RerankTrace, StopReason, TraceStep};

use crate::error::{Error, Result};
use dpp::{DppState, KernelRows, QualityKernel};
use mmr::MmrState;
use rules::RuleSet;

/// `k` must be in `1..=n`.
pub(crate) fn check_k(k: usize, n: usize) -> Result<()> {
    if k == 0 || k > n { Err(Error::InvalidK { k, max: n }) } else { Ok(()) }
}

/// Relevance must be non-empty and finite.
pub(crate) fn check_relevance(relevance: &[f64]) -> Result<()> {
    if relevance.is_empty() {
        return Err(Error::NoCandidates);
    }
    if let Some(position) = relevance.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { what: "relevance", position });
    }
    Ok(())
}

/// The candidates of one re-rank: relevance, plus what the strategy and the rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    relevance: Vec<f64>,
    similarity: Option<Similarity>,
    kernel: Option<Kernel>,
    attributes: Vec<(String, Vec<Option<u32>>)>,
}

impl Candidates {
    /// One relevance score per candidate (higher is better). Errors: [`Error::NoCandidates`],
    /// [`Error::NonFinite`].
    pub fn new(relevance: Vec<f64>) -> Result<Self> {
        check_relevance(&relevance)?;
        Ok(Self { relevance, similarity: None, kernel: None, attributes: Vec::new() })
    }

    /// Similarity for MMR, and for DPP when no kernel is given. Errors: [`Error::LengthMismatch`].
    pub fn with_similarity(mut self, similarity: Similarity) -> Result<Self> {
        self.expect_len("similarity", similarity.len())?;
        self.similarity = Some(similarity);
        Ok(self)
    }

    /// A precomputed DPP kernel (used as is; the strategy's θ is then not applied). Errors:
    /// [`Error::LengthMismatch`].
    pub fn with_kernel(mut self, kernel: Kernel) -> Result<Self> {
        self.expect_len("DPP kernel", kernel.len())?;
        self.kernel = Some(kernel);
        Ok(self)
    }

    /// A named attribute column for the rules (`None` = no value). Errors:
    /// [`Error::LengthMismatch`], [`Error::InvalidArgument`] for a repeated name.
    pub fn with_attribute(
        mut self,
        name: impl Into<String>,
        values: Vec<Option<u32>>,
    ) -> Result<Self> {
        let name = name.into();
        self.expect_len("attribute values", values.len())?;
        if self.attribute(&name).is_some() {
            return Err(Error::InvalidArgument {
                name: "attribute",
                reason: format!("attribute {name:?} is defined twice"),
            });
        }
        self.attributes.push((name, values));
        Ok(self)
    }

    fn expect_len(&self, what: &'static str, received: usize) -> Result<()> {
        if received == self.relevance.len() {
            Ok(())
        } else {
            Err(Error::LengthMismatch { what, expected: self.relevance.len(), received })
        }
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.relevance.len()
    }

    /// Always `false`: construction rejects an empty list.
    pub fn is_empty(&self) -> bool {
        self.relevance.is_empty()
    }

    /// The relevance scores.
    pub fn relevance(&self) -> &[f64] {
        &self.relevance
    }

    /// The column of attribute `name`, if defined.
    pub fn attribute(&self, name: &str) -> Option<&[Option<u32>]> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// How the pipeline chooses among the eligible candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Highest relevance first (ties → lower index).
    Relevance,
    /// MMR; needs [`Candidates::with_similarity`].
    Mmr(MmrParams),
    /// Greedy DPP on the candidates' kernel if they carry one ([`Candidates::with_kernel`]),
    /// else on `L = diag(q)·S·diag(q)` built from relevance and similarity with trade-off `θ ∈
    /// [0, 1)` (see [`Kernel::from_quality`]; only the needed rows are computed).
    Dpp {
        /// Relevance–diversity trade-off (ignored with a precomputed kernel).
        theta: f64,
        /// Window and stopping threshold.
        params: DppParams,
    },
}

/// The result of [`Reranker::rerank`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reranked {
    /// Candidate indices in display order (shorter than `k` only when DPP ran out of gain).
    pub items: Vec<usize>,
    /// The trace, when [`Reranker::with_trace`] is on.
    pub trace: Option<RerankTrace>,
}

/// The re-rank pipeline: rules filter, the strategy chooses, position by position. Immutable
/// and reusable across requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Reranker {
    strategy: Strategy,
    rules: Vec<Rule>,
    trace: bool,
    fill: bool,
}

impl Reranker {
    /// A pipeline without rules. Errors: [`Error::InvalidArgument`] for bad strategy
    /// parameters (λ, θ, ε, window).
    pub fn new(strategy: Strategy) -> Result<Self> {
        match strategy {
            Strategy::Relevance => {}
            Strategy::Mmr(p) => p.validate()?,
            Strategy::Dpp { theta, params } => {
                dpp::alpha(theta)?;
                params.validate()?;
            }
        }
        Ok(Self { strategy, rules: Vec::new(), trace: false, fill: false })
    }

    /// Sets the rules (their order is their index in traces and errors). Errors:
    /// [`Error::InvalidRule`], [`Error::InvalidArgument`] (more than [`MAX_RULES`]).
    pub fn with_rules(mut self, rules: Vec<Rule>) -> Result<Self> {
        if rules.len() > MAX_RULES {
            return Err(Error::InvalidArgument {
                name: "rules",
                reason: format!("{} rules, at most {MAX_RULES} are supported", rules.len()),
            });
        }
        for (i, rule) in rules.iter().enumerate() {
            rule.validate(i)?;
        }
        self.rules = rules;
        Ok(self)
    }

    /// Records a [`RerankTrace`] with each result.
    pub fn with_trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// When DPP runs out of marginal gain before `k` (the kernel's rank is at most the
    /// embedding dimension, and near-duplicates drive the gain to 0), fills the remaining
    /// positions by relevance under the same rules instead of returning a shorter list. The
    /// trace's [`StopReason::GainBelowEpsilon`] still says where the gain ran out.
    pub fn with_fill(mut self, on: bool) -> Self {
        self.fill = on;
        self
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Re-ranks `candidates` into at most `k` items.
    ///
    /// Errors: [`Error::InvalidK`] (`k` outside `1..=N`), [`Error::InvalidArgument`] (the
    /// strategy needs a similarity the candidates lack), [`Error::LengthMismatch`],
    /// [`Error::InvalidRule`] (unknown attribute, item out of range), and
    /// [`Error::RulesInfeasible`] when the hard rules exclude every remaining candidate.
    pub fn rerank(&self, candidates: &Candidates, k: usize) -> Result<Reranked> {
        check_k(k, candidates.len())?;
        let rules = RuleSet::compile(&self.rules, candidates)?;
        let need_similarity = || {
            candidates.similarity.as_ref().ok_or_else(|| Error::InvalidArgument {
                name: "similarity",
                reason: "this strategy needs candidate similarity (Candidates::with_similarity)"
                    .into(),
            })
        };
        match self.strategy {
            Strategy::Relevance => self.run(candidates, &rules, k, Engine::<Kernel>::Relevance),
            Strategy::Mmr(p) => {
                let state = MmrState::new(&candidates.relevance, need_similarity()?, p, k);
                self.run(candidates, &rules, k, Engine::<Kernel>::Mmr(state))
            }
            Strategy::Dpp { theta, params } => match &candidates.kernel {
                Some(kernel) => {
                    let state = DppState::new(kernel, params, k);
                    self.run(candidates, &rules, k, Engine::Dpp(state, params.epsilon))
                }
                None => {
                    let kernel =
                        QualityKernel::new(&candidates.relevance, need_similarity()?, theta)?;
                    let state = DppState::new(&kernel, params, k);
                    self.run(candidates, &rules, k, Engine::Dpp(state, params.epsilon))
                }
            },
        }
    }

    fn run<K: KernelRows>(
        &self,
        candidates: &Candidates,
        rules: &RuleSet<'_>,
        k: usize,
        mut engine: Engine<'_, K>,
    ) -> Result<Reranked> {
        let n = candidates.len();
        let relevance = &candidates.relevance;
        let mut remaining = vec![true; n];
        let mut items = Vec::with_capacity(k);
        let mut masks = vec![0u64; n];
        let mut steps = Vec::new();
        let mut stop = StopReason::ReachedK;
        let mut exhausted = false;
        for position in 0..k {
            let (active, relaxed) = if rules.is_empty() {
                (0, Vec::new())
            } else {
                masks.fill(0);
                rules.exclusions(&items, &remaining, k, &mut masks);
                choose_rules(rules, &masks, &remaining, position)?
            };
            let eligible = |c: usize| masks[c] & active == 0;
            let by_relevance = || {
                (0..n)
                    .filter(|&c| remaining[c] && eligible(c))
                    .fold(None, |best: Option<usize>, c| match best {
                        Some(b) if relevance[b] >= relevance[c] => Some(b),
                        _ => Some(c),
                    })
                    .map(|c| (c, relevance[c], Diversity::None))
            };
            let pick = match &mut engine {
                _ if exhausted => by_relevance(),
                Engine::Relevance => by_relevance(),
                Engine::Mmr(state) => state
                    .best(eligible)
                    .map(|p| (p.item, p.score, Diversity::MmrRedundancy(p.penalty))),
                Engine::Dpp(state, epsilon) => match state.best(eligible) {
                    Some((c, gain)) if gain >= *epsilon => {
                        Some((c, gain, Diversity::DppGain(gain)))
                    }
                    Some((_, gain)) => {
                        stop = StopReason::GainBelowEpsilon { position, gain };
                        exhausted = self.fill;
                        if exhausted { by_relevance() } else { None }
                    }
                    None => None,
                },
            };
            // Unreachable with `k ≤ N` and a non-empty eligible set, except for the DPP stop.
            let Some((item, objective, diversity)) = pick else { break };
            if self.trace {
                let excluded = (0..rules.len())
                    .filter(|r| active & (1 << r) != 0)
                    .filter_map(|rule| {
                        let items: Vec<usize> = (0..n)
                            .filter(|&c| remaining[c] && masks[c] & (1 << rule) != 0)
                            .collect();
                        (!items.is_empty()).then_some(Exclusion { rule, items })
                    })
                    .collect();
                steps.push(TraceStep {
                    position,
                    item,
                    relevance: relevance[item],
                    objective,
                    diversity,
                    excluded,
                    relaxed,
                });
            }
            match &mut engine {
                _ if exhausted => {}
                Engine::Relevance => {}
                Engine::Mmr(state) => state.select(item),
                Engine::Dpp(state, _) => state.select(item),
            }
            remaining[item] = false;
            items.push(item);
        }
        let trace = self.trace.then_some(RerankTrace { steps, stop });
        Ok(Reranked { items, trace })
    }
}

/// The rules enforced at `position` and the soft rules relaxed there (least important first).
fn choose_rules(
    rules: &RuleSet<'_>,
    masks: &[u64],
    remaining: &[bool],
    position: usize,
) -> Result<(u64, Vec<usize>)> {
    let any_eligible =
        |active: u64| masks.iter().zip(remaining).any(|(&m, &left)| left && m & active == 0);
    let all = rules.all();
    if any_eligible(all) {
        return Ok((all, Vec::new()));
    }
    if !any_eligible(rules.hard) {
        let blocking = masks
            .iter()
            .zip(remaining)
            .filter(|&(_, &left)| left)
            .fold(0u64, |acc, (&m, _)| acc | (m & rules.hard));
        let rules = (0..64).filter(|r| blocking & (1u64 << r) != 0).collect();
        return Err(Error::RulesInfeasible { position, rules });
    }
    // Add soft rules back from the most important down, keeping each that leaves something.
    let mut active = rules.hard;
    let mut relaxed = Vec::new();
    for &r in &rules.soft_order {
        if any_eligible(active | (1 << r)) {
            active |= 1 << r;
        } else {
            relaxed.push(r);
        }
    }
    relaxed.reverse();
    Ok((active, relaxed))
}

/// The strategy's incremental state.
enum Engine<'a, K: KernelRows> {
    Relevance,
    Mmr(MmrState<'a>),
    Dpp(DppState<'a, K>, f64),
}
