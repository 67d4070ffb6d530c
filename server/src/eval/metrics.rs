//! Top-K ranking metrics, accumulated over users.
//!
//! Conventions (binary relevance, seen items already excluded from the ranking):
//! `Recall@K = hits / |relevant|`, `Precision@K = hits / K`, `HR@K = [hits > 0]`,
//! `NDCG@K = DCG / IDCG` with `DCG = Σ 1/log2(rank + 1)` and IDCG over `min(|relevant|, K)`
//! (Järvelin & Kekäläinen 2002), `MAP@K = Σ_{hit ranks r} Precision@r / min(|relevant|, K)`.
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
    /// Mean average precision.
    pub map: f64,
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
            s.map += ap / ideal.max(1) as f64;
            self.covered[c].extend(top.iter().copied());
        }
        let top = &ranked[..ILD_K.min(ranked.len())];
        let (mut cat, mut emb, mut pairs) = (0f64, 0f64, 0usize);
        for (a, &x) in top.iter().enumerate() {
            for &y in &top[a + 1..] {
                cat += distance_cat(x, y);
                emb += distance_emb(x, y);
                pairs += 1;
            }
        }
        if pairs > 0 {
            self.ild_cat += cat / pairs as f64;
            self.ild_emb += emb / pairs as f64;
        }
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
        assert_eq!((a.recall, a.map, a.precision), (1.0, 0.5, 0.5));
    }
}
