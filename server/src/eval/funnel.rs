//! `edgerec eval --funnel`: the shipped on-device funnel, scored like every other model.
//!
//! Each test user is ranked by the very [`Recommender`] an app builds —
//! `Recommender::new(&bundle, config, BackendChoice::Cpu)` — after `reset_user()` and
//! `import_history(train interactions in time order, now = the user's last train time)`
//! (rating ≥ 4 imported as a like, else a click, the convention of `--replay`). Two lists
//! per user, both from `recommend_with` at `now`:
//!
//! * `funnel`: `diversity: Some(DiversityOptions::NONE)` — recall → rank, re-rank off;
//! * `funnel+rerank`: `diversity: None`, i.e. the config's default diversity stage.
//!
//! The configuration is [`RecommenderConfig::default`] (or `--funnel-config`) with two changes
//! an offline evaluation needs: `filter_exposed = false` (nothing was shown), and
//! `user.history_capacity` raised to the longest train history (the default keeps the last 100
//! interactions, so the funnel's consumed filter would let older train items through, while
//! every other model excludes all of them). Any train item still in a list is dropped and counted
//! ([`FunnelSummary::seen_dropped`], expected 0).
//!
//! Lists are requested at the evaluation's longest cut-off (50) so @20 and @50 are measured
//! too; recall, rank and the greedy re-rank (MMR, and DPP by Chen et al. 2018, Alg. 1) pick
//! in order, so the first 10 are the `k = 10` list (`server/tests/eval_random_split.rs`
//! checks this on the shipped bundle).

use crate::train::data::{Catalogue, Interaction as Row, Interactions};
use crate::train::error::Result;
use edgerec::bundle::Bundle;
use edgerec::compute::BackendChoice;
use edgerec::recommender::{DiversityOptions, RecommendOptions, Recommender, RecommenderConfig};
use edgerec::user::{Interaction, InteractionKind, MAX_HISTORY_CAPACITY};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// How the funnel was run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FunnelSummary {
    /// `user.history_capacity` used (the longest train history, at least the default).
    pub history_capacity: usize,
    /// List length requested per user.
    pub k: usize,
    /// The re-rank of `funnel+rerank` (the config's default diversity), as JSON.
    pub rerank: serde_json::Value,
    /// Train items that came back in a list and were dropped (the consumed filter should
    /// leave none).
    pub seen_dropped: usize,
    /// Mean wall time per user: reset, import and both lists, in ms (CPU, one thread).
    pub ms_per_user: f64,
}

/// The two lists of every user (in `users` order) and how they were made.
pub struct FunnelLists {
    /// Re-rank off.
    pub plain: Vec<Vec<u32>>,
    /// The config's default re-rank.
    pub rerank: Vec<Vec<u32>>,
    /// Settings and counts.
    pub summary: FunnelSummary,
}

/// A rating of 4 or more is a like, anything else a click (the replay's and the funnel's rule).
fn kind_of(rating: f32) -> InteractionKind {
    if rating >= 4.0 { InteractionKind::Like } else { InteractionKind::Click }
}

/// Training rows as the SDK's interactions, in the given order.
pub(super) fn to_interactions(seq: &[Row], catalogue: &Catalogue) -> Vec<Interaction> {
    seq.iter()
        .map(|r| Interaction {
            item: catalogue.items[r.item as usize].id.clone(),
            kind: kind_of(r.rating),
            timestamp_ms: r.time as f64 * 1000.0,
        })
        .collect()
}

/// Ranks each of `users` (external id, seen rows) with the funnel built from `config` (the
/// default, or `--funnel-config`); lists of up to `k` rows.
///
/// # Errors
/// Anything [`Recommender::new`], `import_history` or `recommend_with` reports.
pub fn rank(
    bundle: &Bundle,
    catalogue: &Catalogue,
    train: &Interactions,
    users: &[(&str, &HashSet<u32>)],
    k: usize,
    config: RecommenderConfig,
) -> Result<FunnelLists> {
    let history: HashMap<&str, Vec<Row>> = train
        .by_user()
        .into_iter()
        .enumerate()
        .map(|(u, seq)| (train.users[u].as_str(), seq))
        .collect();
    let longest = history.values().map(Vec::len).max().unwrap_or(0);
    let mut config = RecommenderConfig { filter_exposed: false, ..config };
    config.user.history_capacity =
        longest.max(config.user.history_capacity).min(MAX_HISTORY_CAPACITY);
    let summary = FunnelSummary {
        history_capacity: config.user.history_capacity,
        k,
        rerank: serde_json::to_value(config.diversity).unwrap_or_default(),
        ..Default::default()
    };
    let mut rec = pollster::block_on(Recommender::new(bundle, config, BackendChoice::Cpu))?;
    let k = k.min(rec.items().len()).max(1);
    // Cold users (no train history) are asked at the end of the train period.
    let train_end = train.rows.iter().map(|r| r.time).max().unwrap_or(0) as f64 * 1000.0;
    let plain_opts =
        RecommendOptions { k, diversity: Some(DiversityOptions::NONE), ..Default::default() };
    let rerank_opts = RecommendOptions { k, diversity: None, ..Default::default() };
    let mut out = FunnelLists { plain: Vec::new(), rerank: Vec::new(), summary };
    let start = Instant::now();
    for (user, seen) in users {
        rec.reset_user();
        let now = match history.get(user) {
            Some(seq) if !seq.is_empty() => {
                let imported = to_interactions(seq, catalogue);
                let now = imported.last().map_or(train_end, |i| i.timestamp_ms);
                rec.import_history(&imported, now)?;
                now
            }
            _ => train_end,
        };
        for (opts, lists) in [(&plain_opts, &mut out.plain), (&rerank_opts, &mut out.rerank)] {
            let recs = pollster::block_on(rec.recommend_with(opts, now))?;
            let rows: Vec<u32> = recs.items.iter().filter_map(|i| i.row).collect();
            let kept: Vec<u32> = rows.iter().copied().filter(|r| !seen.contains(r)).collect();
            out.summary.seen_dropped += rows.len() - kept.len();
            lists.push(kept);
        }
    }
    out.summary.ms_per_user = start.elapsed().as_secs_f64() * 1000.0 / users.len().max(1) as f64;
    Ok(out)
}
