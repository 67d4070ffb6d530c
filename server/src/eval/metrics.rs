//! Top-K ranking metrics, accumulated over users.
//!
//! Conventions (binary relevance, seen items already excluded from the ranking, every user
//! with at least one relevant item counts, a user whose list has no hit scores 0), as in
//! Microsoft Recommenders' `recommenders/evaluation/python_evaluation.py`
//! (`precision_at_k`, `recall_at_k`, `ndcg_at_k`, `map_at_k`), so numbers are comparable with
//! its published MovieLens benchmark (`examples/06_benchmarks`):
//!
//! * `Precision@K = hits / K` (also when the list is shorter than K, as Recommenders and Spark);
//! * `Recall@K = hits / |relevant|`; `HR@K = [hits > 0]`;
//! * `NDCG@K = DCG / IDCG`, `DCG = Σ_{hit ranks r} 1 / log(r + 1)` (ranks from 1), IDCG the
//!   same sum over ranks `1..=min(|relevant|, K)` (Järvelin & Kekäläinen 2002; the log's base
//!   cancels, Recommenders uses `ln`);
//! * `MAP@K = Σ_{hit ranks r ≤ K} Precision@r / |relevant|` — divided by the number of
//!   relevant items, not by `min(|relevant|, K)`: Recommenders' `map_at_k` as its benchmark
//!   table was computed ("normalized by the number of relevant items in the ground truth data,
//!   instead of k", e.g. commit 20b0b53f of recommenders-team/recommenders). Later releases
//!   kept that formula under the name `map` and made `map_at_k` divide by
//!   `min(|relevant|, K)` (Spark's `RankingMetrics.meanAveragePrecisionAt`); that variant is
//!   reported too, as `map_min` (it is what edgerec called MAP before).
//!
//! Coverage is the share of the catalogue appearing in any user's top K; intra-list diversity
//! (Ziegler et al. WWW 2005) is the mean pairwise distance inside each top-10 list, by
//! category (`1 − Jaccard`) and by embedding (`1 − cosine`).

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The cut-offs reported.
pub const CUTOFFS: [usize; 3] = [10, 20, 50];
/// The list length ILD is measured on.
pub const ILD_K: usize = 10;

/// Metrics at one cut-off, averaged over users.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AtK {
    /// Recall.
    pub recall: f64,
    /// NDCG.
    pub ndcg: f64,
    /// Hit rate.
    pub hr: f64,
    /// Mean average precision, divided by `|relevant|` (Recommenders' benchmark MAP@K).
    pub map: f64,
    /// Mean average precision, divided by `min(|relevant|, K)` (Spark's MAP@K).
    pub map_min: f64,
    /// Precision.
    pub precision: f64,
    /// Catalogue coverage.
    pub coverage: f64,
}

/// All metrics of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelMetrics {
    /// Users evaluated.
    pub users: usize,
    /// Per cut-off, keyed `"@10"` etc.
    pub at: BTreeMap<String, AtK>,
    /// ILD@10 by category.
    pub ild_category: f64,
    /// ILD@10 by embedding.
    pub ild_embedding: f64,
}

/// Accumulates per-user results.
#[derive(Debug)]
pub struct Accumulator {
    cutoffs: Vec<usize>,
    sums: Vec<AtK>,
    covered: Vec<HashSet<u32>>,
    users: usize,
    ild_cat: f64,
    ild_emb: f64,
    n_items: usize,
}

impl Accumulator {
    /// For `cutoffs` over a catalogue of `n_items`.
    pub fn new(cutoffs: &[usize], n_items: usize) -> Self {
        Self {
            cutoffs: cutoffs.to_vec(),
            sums: vec![AtK::default(); cutoffs.len()],
            covered: vec![HashSet::new(); cutoffs.len()],
            users: 0,
            ild_cat: 0.0,
            ild_emb: 0.0,
            n_items,
        }
    }

    /// Adds one user's ranking (best first) against their relevant set.
    /// `distance_cat` / `distance_emb` give the pairwise distances for ILD.
    pub fn add(
        &mut self,
        ranked: &[u32],
        relevant: &HashSet<u32>,
        distance_cat: impl Fn(u32, u32) -> f64,
        distance_emb: impl Fn(u32, u32) -> f64,
    ) {
        self.users += 1;
        for (c, &k) in self.cutoffs.iter().enumerate() {
            let top = &ranked[..k.min(ranked.len())];
            let (mut hits, mut dcg, mut ap) = (0usize, 0f64, 0f64);
            for (r, item) in top.iter().enumerate() {
                if relevant.contains(item) {
                    hits += 1;
                    dcg += 1.0 / ((r + 2) as f64).log2();
                    ap += hits as f64 / (r + 1) as f64;
                }
            }
            let ideal = relevant.len().min(k);
            let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
            let s = &mut self.sums[c];
            s.recall += hits as f64 / relevant.len().max(1) as f64;
            s.precision += hits as f64 / k as f64;
            s.hr += f64::from(u8::from(hits > 0));
            s.ndcg += if idcg > 0.0 { dcg / idcg } else { 0.0 };
            s.map += ap / relevant.len().max(1) as f64;
            s.map_min += ap / ideal.max(1) as f64;
            self.covered[c].extend(top.iter().copied());
        }
        let (cat, emb) = intra_list(&ranked[..ILD_K.min(ranked.len())], distance_cat, distance_emb);
        self.ild_cat += cat;
        self.ild_emb += emb;
    }

    /// The averages.
    pub fn finish(&self) -> ModelMetrics {
        let n = self.users.max(1) as f64;
        let at = self
            .cutoffs
            .iter()
            .zip(&self.sums)
            .zip(&self.covered)
            .map(|((k, s), cov)| {
                (
                    format!("@{k}"),
                    AtK {
                        recall: s.recall / n,
                        ndcg: s.ndcg / n,
                        hr: s.hr / n,
                        map: s.map / n,
                        map_min: s.map_min / n,
                        precision: s.precision / n,
                        coverage: cov.len() as f64 / self.n_items.max(1) as f64,
                    },
                )
            })
            .collect();
        ModelMetrics {
            users: self.users,
            at,
            ild_category: self.ild_cat / n,
            ild_embedding: self.ild_emb / n,
        }
    }
}

/// Intra-list diversity of `list` (Ziegler et al. WWW 2005): the mean pairwise distance by each
/// of the two distances, `(0, 0)` for a list of fewer than two items.
pub fn intra_list(
    list: &[u32],
    distance_a: impl Fn(u32, u32) -> f64,
    distance_b: impl Fn(u32, u32) -> f64,
) -> (f64, f64) {
    let (mut a_sum, mut b_sum, mut pairs) = (0f64, 0f64, 0usize);
    for (i, &x) in list.iter().enumerate() {
        for &y in &list[i + 1..] {
            a_sum += distance_a(x, y);
            b_sum += distance_b(x, y);
            pairs += 1;
        }
    }
    if pairs == 0 { (0.0, 0.0) } else { (a_sum / pairs as f64, b_sum / pairs as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_ranking_scores_one() {
        let mut acc = Accumulator::new(&[2], 10);
        let rel: HashSet<u32> = [3, 4].into_iter().collect();
        acc.add(&[3, 4, 5], &rel, |_, _| 1.0, |_, _| 0.5);
        let m = acc.finish();
        let a = &m.at["@2"];
        assert_eq!((a.recall, a.ndcg, a.hr, a.map, a.precision), (1.0, 1.0, 1.0, 1.0, 1.0));
        assert_eq!(a.coverage, 0.2);
        assert_eq!((m.ild_category, m.ild_embedding), (1.0, 0.5));
    }

    #[test]
    fn one_hit_at_rank_two() {
        let mut acc = Accumulator::new(&[2], 10);
        let rel: HashSet<u32> = [4].into_iter().collect();
        acc.add(&[3, 4], &rel, |_, _| 0.0, |_, _| 0.0);
        let a = &acc.finish().at["@2"];
        assert!((a.ndcg - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!((a.recall, a.map, a.map_min, a.precision), (1.0, 0.5, 0.5, 0.5));
    }

    /// Two users, worked by hand. K = 3.
    /// User A: ranked [1, 2, 3], relevant {1, 3, 7, 8} (hits at ranks 1 and 3).
    ///   P = 2/3, R = 2/4, DCG = 1/log2 2 + 1/log2 4 = 1.5, IDCG = 1 + 1/log2 3 + 1/2,
    ///   AP sum = 1/1 + 2/3 = 5/3 → MAP = (5/3)/4, MAP_min = (5/3)/3.
    /// User B: ranked [4, 5] (short list), relevant {5}: hit at rank 2.
    ///   P = 1/3, R = 1, DCG = 1/log2 3, IDCG = 1, AP sum = 1/2 → MAP = MAP_min = 1/2.
    #[test]
    fn hand_computed_two_users() {
        let mut acc = Accumulator::new(&[3], 10);
        acc.add(&[1, 2, 3], &[1, 3, 7, 8].into_iter().collect(), |_, _| 0.0, |_, _| 0.0);
        acc.add(&[4, 5], &[5].into_iter().collect(), |_, _| 0.0, |_, _| 0.0);
        let a = &acc.finish().at["@3"];
        let l3 = 3f64.log2();
        let close = |x: f64, y: f64| assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        close(a.precision, (2.0 / 3.0 + 1.0 / 3.0) / 2.0);
        close(a.recall, (0.5 + 1.0) / 2.0);
        close(a.ndcg, (1.5 / (1.5 + 1.0 / l3) + 1.0 / l3) / 2.0);
        close(a.map, (5.0 / 12.0 + 0.5) / 2.0);
        close(a.map_min, (5.0 / 9.0 + 0.5) / 2.0);
        close(a.hr, 1.0);
        close(a.coverage, 0.5);
    }
}
