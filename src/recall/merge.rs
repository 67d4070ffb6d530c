//! Merging the channels' lists into one candidate list.
//!
//! **Normalization.** Channel raw scores live on unrelated scales: cosine similarities in
//! `[−1, 1]`, sums of weighted co-occurrence scores, popularity in `[0, 1]`, creation times,
//! category weights. Dividing by each channel's best score is fragile — a negative best cosine
//! flips the order, one outlier squashes the rest, and a timestamp is not a score at all. So
//! each channel's list is scored by *rank* only: the item at rank `r` (0-based) gets
//! `K / (K + r)` with `K` = [`RANK_OFFSET`] = 60, the reciprocal-rank shape of Cormack, Clarke &
//! Büttcher (2009, "Reciprocal rank fusion outperforms Condorcet and individual rank learning
//! methods"), scaled so every channel's best item scores exactly 1. `K = 60` decays slowly, so a
//! channel's 20th item is still worth 0.75 of its first: the channel weight, not list noise,
//! decides the mix.
//!
//! **Merge.** A candidate's score is `max_c weight_c · K / (K + rank_c)` over the channels that
//! produced it (dedupe keeping the best score), and its `sources` bitmask has bit `c` set for
//! every one of them. The union is sorted by score descending, exact ties to the lower row, and
//! cut at `total`.

use crate::recall::Candidate;

/// `K` of the rank score `K / (K + rank)` (see the module docs).
pub const RANK_OFFSET: f32 = 60.0;

/// The normalized score of the item at 0-based `rank` in its channel's list: `K / (K + rank)`,
/// 1 for the best item, decreasing, always in `(0, 1]`.
pub fn rank_score(rank: usize) -> f32 {
    RANK_OFFSET / (RANK_OFFSET + rank as f32)
}

/// One channel's output for the merge: its weight and its kept rows, best first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RankedList {
    /// The channel weight (finite, `≥ 0`; the configuration validates it).
    pub weight: f32,
    /// Rows, best first. A row repeated within a list keeps its best rank.
    pub rows: Vec<u32>,
}

/// Merges `lists` (list `c` is channel `c`, so bit `c` of `sources`; lists past the 64th are
/// ignored, the configuration allows at most 64) into at most `total` candidates, best first
/// (see the module docs). Deterministic: the output depends only on the inputs.
pub fn merge(lists: &[RankedList], total: usize) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = lists
        .iter()
        .take(64)
        .enumerate()
        .flat_map(|(c, list)| {
            list.rows.iter().enumerate().map(move |(rank, &row)| Candidate {
                row,
                score: list.weight * rank_score(rank),
                sources: 1 << c,
            })
        })
        .collect();
    crate::order::sort_by_key_stable(&mut all, |c| u64::from(c.row));
    let mut merged: Vec<Candidate> = Vec::with_capacity(all.len());
    for c in all {
        match merged.last_mut() {
            Some(last) if last.row == c.row => {
                last.score = last.score.max(c.score);
                last.sources |= c.sources;
            }
            _ => merged.push(c),
        }
    }
    crate::order::sort_by_key_stable(&mut merged, |c| {
        crate::order::pair(crate::order::desc_f32(c.score), c.row)
    });
    merged.truncate(total);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_scores_start_at_one_and_decrease() {
        assert_eq!(rank_score(0), 1.0);
        assert!(rank_score(1) < 1.0 && rank_score(1) > rank_score(2));
        assert!((rank_score(20) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn dedupes_keeping_best_score_and_all_sources() {
        let lists = [
            RankedList { weight: 1.0, rows: vec![5, 3, 9] },
            RankedList { weight: 0.5, rows: vec![3, 7] },
            RankedList { weight: 2.0, rows: vec![] },
            RankedList { weight: 0.1, rows: vec![9, 9] },
        ];
        let out = merge(&lists, 10);
        let rows: Vec<u32> = out.iter().map(|c| c.row).collect();
        assert_eq!(rows, [5, 3, 9, 7]);
        assert_eq!(out[1].sources, 0b11);
        assert_eq!(out[1].score, rank_score(1));
        assert_eq!(out[2].sources, 0b1001);
        assert_eq!(out[3].score, 0.5 * rank_score(1));
        assert_eq!(merge(&lists, 2).len(), 2);
        // Exact ties go to the lower row.
        let tie =
            [RankedList { weight: 1.0, rows: vec![8] }, RankedList { weight: 1.0, rows: vec![2] }];
        assert_eq!(merge(&tie, 5).iter().map(|c| c.row).collect::<Vec<_>>(), [2, 8]);
    }
}
