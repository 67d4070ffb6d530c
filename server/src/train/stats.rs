//! Popularity and freshness statistics for the popular / fresh recall channels and the ranker.

use super::data::{Catalogue, Interaction};

/// Window of the "recent" popularity, before the newest interaction.
pub const RECENT_WINDOW_SECONDS: i64 = 90 * 86_400;
/// Half-life of freshness.
pub const FRESHNESS_HALF_LIFE_SECONDS: f64 = 3.0 * 365.25 * 86_400.0;

/// Per-item statistics, each `[items]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// `ln(1 + count) / ln(1 + max count)`, in `[0, 1]`.
    pub popularity: Vec<f32>,
    /// The same over the last [`RECENT_WINDOW_SECONDS`] of the data.
    pub popularity_recent: Vec<f32>,
    /// `2^(−age / half-life)` with age = newest interaction − the item's creation time (or
    /// its first interaction when the catalogue has none), in `[0, 1]`.
    pub freshness: Vec<f32>,
    /// Raw interaction counts.
    pub counts: Vec<u32>,
}

fn log_scaled(counts: &[u32]) -> Vec<f32> {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    counts.iter().map(|c| (1.0 + *c as f32).ln() / (1.0 + max).ln()).collect()
}

/// Computes the statistics of `rows` over `catalogue`.
pub fn compute(rows: &[Interaction], catalogue: &Catalogue) -> Stats {
    let n = catalogue.items.len();
    let newest = rows.iter().map(|r| r.time).max().unwrap_or(0);
    let (mut counts, mut recent) = (vec![0u32; n], vec![0u32; n]);
    let mut first_seen = vec![i64::MAX; n];
    for r in rows {
        let i = r.item as usize;
        counts[i] += 1;
        if r.time >= newest - RECENT_WINDOW_SECONDS {
            recent[i] += 1;
        }
        first_seen[i] = first_seen[i].min(r.time);
    }
    let freshness = catalogue
        .items
        .iter()
        .zip(&first_seen)
        .map(|(item, first)| {
            let born = if item.created_at != 0 { item.created_at } else { *first };
            if born == i64::MAX {
                return 0.0;
            }
            let age = (newest - born).max(0) as f64;
            (-age / FRESHNESS_HALF_LIFE_SECONDS * std::f64::consts::LN_2).exp() as f32
        })
        .collect();
    Stats {
        popularity: log_scaled(&counts),
        popularity_recent: log_scaled(&recent),
        freshness,
        counts,
    }
}
