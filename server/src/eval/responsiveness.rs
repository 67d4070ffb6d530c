//! `edgerec eval --responsiveness`: does a session steer the list?
//!
//! For every category with at least [`MIN_ITEMS`] items, and `draws` times per category: a cold
//! user of the shipped [`Recommender`] (default config, or `--funnel-config`) clicks `clicks`
//! random distinct items of the category, one a minute, then asks for `k` items with the
//! config's default re-rank — what an app shows after the clicks. The category's share of that
//! list, median over the draws, is the category's responsiveness (issue 14's goal: ≥ 50 % for
//! every category after 5 clicks). Draws are seeded (`--seed`), so a run is reproducible.

use crate::train::data::Catalogue;
use crate::train::error::Result;
use edgerec::bundle::Bundle;
use edgerec::compute::BackendChoice;
use edgerec::recommender::{RecommendOptions, Recommender, RecommenderConfig};
use edgerec::rng::SeededRng;
use edgerec::user::{Interaction, InteractionKind};
use serde::Serialize;

/// Categories with fewer items are not measured (too few to fill a list).
pub const MIN_ITEMS: usize = 50;

/// One category's result.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryResponse {
    /// The category (tag) name.
    pub category: String,
    /// Items of the category in the catalogue.
    pub items: usize,
    /// Median share of the category in the list after the clicks, over the draws.
    pub median_share: f64,
    /// The share after the clicks, per draw.
    pub shares: Vec<f64>,
    /// The category's share of a cold user's list (before any click), for reference.
    pub cold_share: f64,
}

/// What `--responsiveness` writes.
#[derive(Debug, Clone, Serialize)]
pub struct ResponsivenessReport {
    /// Clicks per draw.
    pub clicks: usize,
    /// Draws per category.
    pub draws: usize,
    /// List length.
    pub k: usize,
    /// Per category, by name.
    pub categories: Vec<CategoryResponse>,
    /// Categories whose median share is at least 0.5.
    pub at_least_half: usize,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Runs the measurement (see the module docs).
///
/// # Errors
/// Anything [`Recommender::new`], `record` or `recommend_with` reports.
pub fn run(
    bundle: &Bundle,
    catalogue: &Catalogue,
    config: RecommenderConfig,
    clicks: usize,
    draws: usize,
    k: usize,
    seed: u64,
) -> Result<ResponsivenessReport> {
    let config = RecommenderConfig { filter_exposed: false, ..config };
    let mut rec = pollster::block_on(Recommender::new(bundle, config, BackendChoice::Cpu))?;
    let opts = RecommendOptions { k, ..Default::default() };
    // Late in the data (MovieLens ends in 2018), so the fresh channel has nothing special.
    let start_ms = 1.6e12;
    let share = |rows: &[u32], c: u32| {
        let hits =
            rows.iter().filter(|&&r| catalogue.items[r as usize].categories.contains(&c)).count();
        hits as f64 / rows.len().max(1) as f64
    };
    rec.reset_user();
    let cold: Vec<u32> = pollster::block_on(rec.recommend_with(&opts, start_ms))?
        .items
        .iter()
        .filter_map(|i| i.row)
        .collect();
    let mut out = Vec::new();
    for (c, name) in catalogue.categories.iter().enumerate() {
        let c = c as u32;
        let members: Vec<u32> = (0..catalogue.items.len() as u32)
            .filter(|&r| catalogue.items[r as usize].categories.contains(&c))
            .collect();
        if members.len() < MIN_ITEMS {
            continue;
        }
        let mut shares = Vec::with_capacity(draws);
        for d in 0..draws {
            let mut rng = SeededRng::new(seed ^ (u64::from(c) << 32) ^ d as u64);
            // `clicks` distinct members (partial Fisher–Yates).
            let mut pool = members.clone();
            let n = clicks.min(pool.len());
            for i in 0..n {
                let j = i + rng.below((pool.len() - i) as u64) as usize;
                pool.swap(i, j);
            }
            rec.reset_user();
            let mut now = start_ms;
            for &row in &pool[..n] {
                now += 60_000.0;
                let interaction = Interaction {
                    item: catalogue.items[row as usize].id.clone(),
                    kind: InteractionKind::Click,
                    timestamp_ms: now,
                };
                rec.record(&interaction, now)?;
            }
            let recs = pollster::block_on(rec.recommend_with(&opts, now + 1_000.0))?;
            let rows: Vec<u32> = recs.items.iter().filter_map(|i| i.row).collect();
            shares.push(share(&rows, c));
        }
        out.push(CategoryResponse {
            category: name.clone(),
            items: members.len(),
            median_share: median(&shares),
            shares,
            cold_share: share(&cold, c),
        });
    }
    let at_least_half = out.iter().filter(|c| c.median_share >= 0.5).count();
    Ok(ResponsivenessReport { clicks, draws, k, categories: out, at_least_half })
}

/// Prints the per-category table.
pub fn print(report: &ResponsivenessReport) {
    println!(
        "share of the category in the top-{} after {} clicks on it (median of {} draws)",
        report.k, report.clicks, report.draws
    );
    println!("{:<20} {:>6} {:>8} {:>8}", "category", "items", "cold", "after");
    for c in &report.categories {
        println!("{:<20} {:>6} {:>8.2} {:>8.2}", c.category, c.items, c.cold_share, c.median_share);
    }
    println!("{} of {} categories at ≥ 0.50", report.at_least_half, report.categories.len());
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&[0.3, 0.1, 0.2]), 0.2);
        assert_eq!(median(&[0.4, 0.1, 0.2, 0.3]), 0.25);
        assert_eq!(median(&[]), 0.0);
    }
}
