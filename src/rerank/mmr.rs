//! Maximal Marginal Relevance (Carbonell & Goldstein, SIGIR 1998).
//!
//! Each step picks the candidate maximizing
//!
//! ```text
//! MMR(i) = λ·rel(i) − (1 − λ)·max_{j ∈ W} sim(i, j)
//! ```
//!
//! where `W` is every item selected so far, or only the last `w` of them (a sliding window: a
//! feed only needs to look diverse locally, and older picks stop penalizing their neighbours).
//! The first pick is the most relevant candidate (with `W` empty the redundancy term is
//! undefined; this also matches the widely used implementation behind the fixtures). Ties go to
//! the lower candidate index.
//!
//! Incremental: a running max-similarity per candidate is updated with the similarities to the
//! newest pick only, so the whole selection costs `O(N·k)` similarity evaluations instead of the
//! `O(N·k²)` of recomputing the max over `W` from scratch. With a window, the similarities to the
//! last `w` picks are kept in a ring (`w × N` values) and the max is taken over the ring:
//! still `O(N·k)` similarities, plus `O(N·k·w)` comparisons.

use super::similarity::Similarity;
use super::{check_k, check_relevance};
use crate::error::{Error, Result};

/// Parameters of MMR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmrParams {
    /// Trade-off `λ ∈ [0, 1]`: 1 is pure relevance, 0 pure diversity.
    pub lambda: f64,
    /// `Some(w)`: only the last `w ≥ 1` picks count as redundant; `None`: all picks do.
    pub window: Option<usize>,
}

impl MmrParams {
    /// `λ` with no window.
    pub fn new(lambda: f64) -> Self {
        Self { lambda, window: None }
    }

    /// Checks `0 ≤ λ ≤ 1` and `w ≥ 1`: [`Error::InvalidArgument`] otherwise.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(Error::InvalidArgument {
                name: "lambda",
                reason: format!("{} is outside [0, 1]", self.lambda),
            });
        }
        if self.window == Some(0) {
            return Err(Error::InvalidArgument {
                name: "window",
                reason: "the MMR window must hold at least one item".into(),
            });
        }
        Ok(())
    }
}

/// Selects up to `k` candidates by MMR and returns their indices in selection order.
///
/// `relevance[i]` is candidate `i`'s relevance; `similarity` must cover the same candidates.
/// Errors: [`Error::NoCandidates`], [`Error::NonFinite`], [`Error::LengthMismatch`],
/// [`Error::InvalidK`] (`k` outside `1..=N`), [`Error::InvalidArgument`] (bad `λ` or window).
pub fn mmr(
    relevance: &[f64],
    similarity: &Similarity,
    k: usize,
    params: MmrParams,
) -> Result<Vec<usize>> {
    check_relevance(relevance)?;
    if similarity.len() != relevance.len() {
        return Err(Error::LengthMismatch {
            what: "similarity",
            expected: relevance.len(),
            received: similarity.len(),
        });
    }
    check_k(k, relevance.len())?;
    params.validate()?;
    let mut state = MmrState::new(relevance, similarity, params, k);
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let Some(pick) = state.best(|_| true) else { break };
        state.select(pick.item);
        out.push(pick.item);
    }
    Ok(out)
}

/// One MMR decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MmrPick {
    pub item: usize,
    /// The maximized value: the MMR score, or the relevance for the first pick.
    pub score: f64,
    /// `max_{j∈W} sim(item, j)` (0 when `W` is empty).
    pub penalty: f64,
}

/// Incremental MMR over a fixed candidate set; the caller restricts each pick to the candidates
/// its rules allow.
pub(crate) struct MmrState<'a> {
    relevance: &'a [f64],
    similarity: &'a Similarity,
    lambda: f64,
    window: Option<usize>,
    /// No window: running `max_{j∈W} sim(i, j)` per candidate.
    max_sim: Vec<f64>,
    /// Window `w`: `ring[slot·N + i] = sim(i, pick in slot)` for the last `min(w, picks)` picks.
    ring: Vec<f64>,
    ring_next: usize,
    ring_len: usize,
    selected: Vec<bool>,
    picks: usize,
}

impl<'a> MmrState<'a> {
    /// `relevance` and `similarity` are validated by the caller; `k` bounds the ring size.
    pub(crate) fn new(
        relevance: &'a [f64],
        similarity: &'a Similarity,
        params: MmrParams,
        k: usize,
    ) -> Self {
        let n = relevance.len();
        let (max_sim, ring) = match params.window {
            None => (vec![f64::NEG_INFINITY; n], Vec::new()),
            Some(w) => (Vec::new(), vec![0.0; w.min(k) * n]),
        };
        Self {
            relevance,
            similarity,
            lambda: params.lambda,
            window: params.window,
            max_sim,
            ring,
            ring_next: 0,
            ring_len: 0,
            selected: vec![false; n],
            picks: 0,
        }
    }

    /// Redundancy of candidate `i` against the current `W`.
    #[inline]
    fn penalty(&self, i: usize) -> f64 {
        if self.picks == 0 {
            return 0.0;
        }
        match self.window {
            None => self.max_sim[i],
            Some(_) => {
                let n = self.relevance.len();
                (0..self.ring_len).map(|s| self.ring[s * n + i]).fold(f64::NEG_INFINITY, f64::max)
            }
        }
    }

    /// The best unselected candidate among those `eligible` admits (ties → lower index), or
    /// `None` when none is left.
    pub(crate) fn best(&self, eligible: impl Fn(usize) -> bool) -> Option<MmrPick> {
        let mut best: Option<MmrPick> = None;
        for i in 0..self.relevance.len() {
            if self.selected[i] || !eligible(i) {
                continue;
            }
            let penalty = self.penalty(i);
            let score = if self.picks == 0 {
                self.relevance[i]
            } else {
                self.lambda * self.relevance[i] - (1.0 - self.lambda) * penalty
            };
            // Strictly greater: the lower index wins ties, as in the reference.
            if best.is_none_or(|b| score > b.score) {
                best = Some(MmrPick { item: i, score, penalty });
            }
        }
        best
    }

    /// Records `item` as selected and folds its similarities into the redundancy terms.
    pub(crate) fn select(&mut self, item: usize) {
        self.selected[item] = true;
        self.picks += 1;
        let n = self.relevance.len();
        match self.window {
            None => {
                for i in 0..n {
                    if !self.selected[i] {
                        let s = self.similarity.get(i, item);
                        if s > self.max_sim[i] {
                            self.max_sim[i] = s;
                        }
                    }
                }
            }
            Some(_) => {
                let slots = self.ring.len() / n;
                if slots == 0 {
                    return;
                }
                let row = &mut self.ring[self.ring_next * n..(self.ring_next + 1) * n];
                for (i, slot) in row.iter_mut().enumerate() {
                    *slot = if self.selected[i] { 0.0 } else { self.similarity.get(i, item) };
                }
                self.ring_next = (self.ring_next + 1) % slots;
                self.ring_len = (self.ring_len + 1).min(slots);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rerank::similarity::Embeddings;

    fn sim(rows: &[[f64; 2]]) -> Similarity {
        Similarity::cosine(Embeddings::new(rows.iter().flatten().copied().collect(), 2).unwrap())
    }

    #[test]
    fn lambda_one_is_relevance_order_with_ties_to_the_lower_index() {
        let s = sim(&[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
        let order = mmr(&[0.5, 0.9, 0.9, 0.1], &s, 4, MmrParams::new(1.0)).unwrap();
        assert_eq!(order, vec![1, 2, 0, 3]);
    }

    #[test]
    fn redundancy_pushes_near_duplicates_down() {
        // 0 and 1 are identical; 2 is orthogonal and a little less relevant.
        let s = sim(&[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]);
        let order = mmr(&[1.0, 0.95, 0.9], &s, 3, MmrParams::new(0.5)).unwrap();
        assert_eq!(order, vec![0, 2, 1]);
    }

    #[test]
    fn a_window_forgets_old_picks() {
        // Item 0 duplicates the first pick (3). With every pick in W it stays last; with a window
        // of 1 only the previous pick (2, pointing away from 0) counts, so 0 comes back earlier.
        let s = sim(&[[-1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [-1.0, 1.0]]);
        let rel = [0.2, 0.5, 0.3, 1.0];
        let all = mmr(&rel, &s, 4, MmrParams::new(0.5)).unwrap();
        let windowed = mmr(&rel, &s, 4, MmrParams { lambda: 0.5, window: Some(1) }).unwrap();
        assert_eq!(all, vec![3, 2, 1, 0]);
        assert_eq!(windowed, vec![3, 2, 0, 1]);
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let s = sim(&[[1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(
            mmr(&[1.0, 0.5], &s, 3, MmrParams::new(0.5)),
            Err(Error::InvalidK { k: 3, max: 2 })
        );
        assert_eq!(
            mmr(&[1.0, 0.5], &s, 0, MmrParams::new(0.5)),
            Err(Error::InvalidK { k: 0, max: 2 })
        );
        assert!(matches!(
            mmr(&[1.0, 0.5], &s, 1, MmrParams::new(1.5)),
            Err(Error::InvalidArgument { name: "lambda", .. })
        ));
        assert!(matches!(
            mmr(&[1.0, 0.5], &s, 1, MmrParams { lambda: 0.5, window: Some(0) }),
            Err(Error::InvalidArgument { name: "window", .. })
        ));
        assert_eq!(
            mmr(&[1.0], &s, 1, MmrParams::new(0.5)),
            Err(Error::LengthMismatch { what: "similarity", expected: 1, received: 2 })
        );
        assert_eq!(mmr(&[], &s, 1, MmrParams::new(0.5)), Err(Error::NoCandidates));
        assert_eq!(
            mmr(&[1.0, f64::NAN], &s, 1, MmrParams::new(0.5)),
            Err(Error::NonFinite { what: "relevance", position: 1 })
        );
    }
}
