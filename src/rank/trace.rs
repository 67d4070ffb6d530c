//! What the rank stage did to each candidate: its task probabilities, fused score, channel
//! weight, boost, final score and position, and every exploration decision. The demo pages and
//! the benchmarks read the same trace.

/// The arm an exploration slot played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExploreArm {
    /// A recall channel (its index).
    Channel(usize),
    /// A candidate (its index).
    Item(usize),
}

/// One exploration slot that placed a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExploreStep {
    /// The output position.
    pub position: usize,
    /// The candidate placed there.
    pub item: usize,
    /// The arm that won.
    pub arm: ExploreArm,
    /// The winning value: the Thompson draw or the UCB1 index (`+∞` for a never-exposed arm).
    pub value: f64,
    /// The candidate exploitation would have placed there (may equal `item`).
    pub exploit: usize,
}

/// One candidate, by candidate index.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateTrace {
    /// Its task probabilities, in the order of [`RankTrace::tasks`].
    pub probabilities: Vec<f32>,
    /// The fused score before channel weight and boost.
    pub fused: f64,
    /// The channel multiplier (1 without channel weights).
    pub channel_weight: f32,
    /// The new-item boost (0 without one, or past the targets).
    pub boost: f32,
    /// The final score: `fused · channel_weight`, then boosted.
    pub score: f64,
    /// Its zero-based output position.
    pub position: usize,
    /// Whether an exploration slot placed it.
    pub explored: bool,
}

/// The whole rank stage.
#[derive(Debug, Clone, PartialEq)]
pub struct RankTrace {
    /// The task names (column order of the probabilities).
    pub tasks: Vec<String>,
    /// One entry per candidate, by candidate index.
    pub candidates: Vec<CandidateTrace>,
    /// The exploration slots that placed a candidate, in position order (empty when exploration
    /// is off).
    pub exploration: Vec<ExploreStep>,
}
