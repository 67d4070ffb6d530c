//! What the re-rank did at each position: the pick, its scores, and what each rule did. The demo
//! pages and the benchmarks read the same trace.

/// The diversity term of a pick, per strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Diversity {
    /// Plain relevance order: no diversity term.
    None,
    /// MMR: the redundancy `max_{j∈W} sim(item, j)` that was subtracted (0 for the first pick).
    MmrRedundancy(f64),
    /// DPP: the marginal gain `d²` (the determinant of `L_Y` grows by this factor).
    DppGain(f64),
}

/// The candidates one rule kept out of a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Index of the rule in the rule list.
    pub rule: usize,
    /// Candidate indices it excluded (among those still unplaced), ascending.
    pub items: Vec<usize>,
}

/// One output position.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStep {
    /// Zero-based output position.
    pub position: usize,
    /// The chosen candidate.
    pub item: usize,
    /// Its relevance.
    pub relevance: f64,
    /// The value the strategy maximized: relevance, the MMR score (relevance for MMR's first
    /// pick), or the DPP gain `d²`.
    pub objective: f64,
    /// The diversity term.
    pub diversity: Diversity,
    /// For every rule enforced here, the candidates it excluded (rules that excluded nothing are
    /// left out).
    pub excluded: Vec<Exclusion>,
    /// Soft rules that gave way at this position because nothing else was eligible, in the order
    /// they gave way (least important first).
    pub relaxed: Vec<usize>,
}

/// Why the list ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// `k` items were placed.
    ReachedK,
    /// DPP: the best eligible marginal gain fell below `ε` (further picks would make `L_Y`
    /// numerically singular).
    GainBelowEpsilon {
        /// The position that stayed empty.
        position: usize,
        /// The best eligible gain there.
        gain: f64,
    },
}

/// The whole re-rank, position by position.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankTrace {
    /// One entry per output position.
    pub steps: Vec<TraceStep>,
    /// Why the list ended.
    pub stop: StopReason,
}
