//! `edgerec eval --replay`: session replay of held-out users through the SDK's `Recommender`
//! (the code the browser runs), next-item HR@10 / NDCG@10, and latency per click.
//!
//! For each test user, the test interactions are fed in time order. Before each one, the
//! recommender produces its top-10 (items the user already consumed are filtered, so an event
//! whose item was consumed earlier is skipped and counted); the event is a hit when its item is
//! in that list (NDCG = 1/log2(rank + 1) for a single relevant item). Then the interaction is
//! recorded, which updates the user state on the device.
//!
//! Settings compared (same bundle, same events):
//! * `popularity` — the popular channel alone, no user model;
//! * `cold+updates` — a new user (no server history): cold start, then the on-device tower and
//!   fine-tuning from the session's own clicks;
//! * `tower` — the train history imported first, the user tower recomputed after each click, no
//!   fine-tuning;
//! * `tower+finetune` — the same plus local fine-tuning of the residual at each click.
//!
//! Each user-model setting is measured on two lists: `vector` (the user embedding's own top-10
//! over the item index — the embedding's quality in isolation) and `funnel` (the full
//! `recommend()`: every recall channel, merge, ranker). The exposure filter is off (in a replay,
//! "shown" is not "seen": the next item may well have been in an earlier list).

use crate::train::data::{Interactions, read_interactions};
use crate::train::error::{Result, TrainError};
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::{BackendChoice, RowMask, ScoreRequest};
use edgerec::recall::{ChannelConfig, ChannelKind, RecallConfig};
use edgerec::recommender::{Recommender, RecommenderConfig};
use edgerec::user::{Interaction, InteractionKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// The list length metrics are computed at.
const K: usize = 10;

/// Hits of one setting on one list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NextItem {
    /// Events evaluated.
    pub events: usize,
    /// HR@10: share of events whose item was in the top-10.
    pub hr10: f64,
    /// NDCG@10 (one relevant item).
    pub ndcg10: f64,
}

#[derive(Default)]
struct Tally {
    events: usize,
    hits: f64,
    gains: f64,
}

impl Tally {
    fn add(&mut self, list: &[u32], target: u32) {
        self.events += 1;
        if let Some(rank) = list.iter().take(K).position(|&r| r == target) {
            self.hits += 1.0;
            self.gains += 1.0 / ((rank + 2) as f64).log2();
        }
    }

    fn finish(&self) -> NextItem {
        let n = self.events.max(1) as f64;
        NextItem { events: self.events, hr10: self.hits / n, ndcg10: self.gains / n }
    }
}

/// Milliseconds per click (record + recommend), CPU path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Clicks timed.
    pub clicks: usize,
    /// Mean of `record` (user tower + fine-tuning).
    pub record_mean_ms: f64,
    /// Mean of `recommend(10)` (query, recall, rank).
    pub recommend_mean_ms: f64,
    /// Median of the two together.
    pub p50_ms: f64,
    /// 95th percentile of the two together.
    pub p95_ms: f64,
}

/// The JSON `edgerec eval --replay` writes.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    /// Users replayed.
    pub users: usize,
    /// Test events skipped because the item was already consumed (it cannot be recommended).
    pub skipped_consumed: usize,
    /// Per setting (`popularity`, `cold+updates`, …) and list (`vector`, `funnel`).
    pub settings: BTreeMap<String, BTreeMap<String, NextItem>>,
    /// Latency per click of `tower+finetune`.
    pub latency: Latency,
    /// The fine-tuning configuration used.
    pub fine_tune: serde_json::Value,
    /// Backend and why.
    pub backend: String,
}

fn kind_of(rating: f32) -> InteractionKind {
    if rating >= 4.0 { InteractionKind::Like } else { InteractionKind::Click }
}

#[derive(Clone, Copy, PartialEq)]
enum Setting {
    Popularity,
    Cold,
    Tower,
    FineTune,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Popularity => "popularity",
            Setting::Cold => "cold+updates",
            Setting::Tower => "tower",
            Setting::FineTune => "tower+finetune",
        }
    }
}

fn config_for(setting: Setting, base: &RecommenderConfig) -> RecommenderConfig {
    let mut config = base.clone();
    config.filter_exposed = false;
    match setting {
        Setting::Popularity => {
            config.recall = RecallConfig {
                channels: vec![ChannelConfig {
                    name: "popular".into(),
                    kind: ChannelKind::Popular { recent: false },
                    quota: K,
                    weight: 1.0,
                }],
                total: K,
            };
            config.use_ranker = false;
            config.user.fine_tune.enabled = false;
        }
        Setting::Tower => config.user.fine_tune.enabled = false,
        Setting::Cold | Setting::FineTune => config.user.fine_tune.enabled = true,
    }
    config
}

/// The vector list: the user embedding's top-10 over the index, consumed items masked; the
/// funnel's list for a cold user (there is no embedding yet).
async fn vector_list(rec: &mut Recommender, funnel: &[u32]) -> Result<Vec<u32>> {
    let Some(q) = rec.query()? else { return Ok(funnel.to_vec()) };
    let rows = rec.items().len();
    let mut mask = RowMask::new(rows);
    for row in rec.user_model().consumed_rows(rec.state()) {
        mask.exclude(row as usize);
    }
    let top = rec.engine_mut().score_top_k(&ScoreRequest::new(&q, K).with_mask(&mask)).await?;
    Ok(top.into_iter().next().map(|t| t.ids).unwrap_or_default())
}

/// Runs the replay.
///
/// # Errors
/// Bundle, data and SDK errors.
pub fn replay(
    dir: &Path,
    train_path: &Path,
    test_path: &Path,
    columns: &crate::train::data::ColumnArgs,
    max_users: Option<usize>,
    base: &RecommenderConfig,
) -> Result<ReplayReport> {
    let bundle = Bundle::open(dir, &LoadOptions::default())?;
    let catalogue = super::catalogue_of(&bundle);
    let train = read_interactions(train_path, columns, &catalogue, None)?;
    let test = read_interactions(test_path, columns, &catalogue, None)?;
    let history_of = histories(&train);
    let mut users: Vec<(&str, Vec<Interaction>)> = test
        .by_user()
        .into_iter()
        .enumerate()
        .filter(|(_, seq)| !seq.is_empty())
        .map(|(u, seq)| (test.users[u].as_str(), to_interactions(&seq, &catalogue)))
        .collect();
    users.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(n) = max_users {
        users.truncate(n);
    }
    if users.is_empty() {
        return Err(TrainError::NotEnoughData("no test user to replay".into()));
    }
    let mut settings = BTreeMap::new();
    let mut latency = Vec::new();
    let mut skipped = 0usize;
    let mut backend = String::new();
    let progress = indicatif::ProgressBar::new((users.len() * 4) as u64);
    for setting in [Setting::Popularity, Setting::Cold, Setting::Tower, Setting::FineTune] {
        let config = config_for(setting, base);
        let mut rec = pollster::block_on(Recommender::new(&bundle, config, BackendChoice::Cpu))?;
        backend = format!("{} ({})", rec.backend().backend, rec.backend().reason);
        let (mut vector, mut funnel) = (Tally::default(), Tally::default());
        skipped = 0;
        for (user, events) in &users {
            rec.reset_user();
            let warm = matches!(setting, Setting::Tower | Setting::FineTune);
            if let Some(history) = history_of.get(user).filter(|_| warm) {
                let history = to_interactions(history, &catalogue);
                let now = history.last().map_or(0.0, |i| i.timestamp_ms);
                rec.import_history(&history, now)?;
            }
            for event in events {
                let now = event.timestamp_ms;
                let target = rec.items().row_of(&event.item).map(|r| r as u32);
                let consumed = rec.user_model().consumed_rows(rec.state());
                let Some(target) = target.filter(|t| !consumed.contains(t)) else {
                    skipped += 1;
                    rec.record(event, now)?;
                    continue;
                };
                let start = Instant::now();
                let list: Vec<u32> = pollster::block_on(rec.recommend(K, now))?
                    .items
                    .iter()
                    .map(|i| i.row)
                    .collect();
                let recommend_ms = start.elapsed().as_secs_f64() * 1e3;
                funnel.add(&list, target);
                if setting != Setting::Popularity {
                    vector.add(&pollster::block_on(vector_list(&mut rec, &list))?, target);
                }
                let start = Instant::now();
                rec.record(event, now)?;
                let record_ms = start.elapsed().as_secs_f64() * 1e3;
                if setting == Setting::FineTune {
                    latency.push((record_ms, recommend_ms));
                }
            }
            progress.inc(1);
        }
        let mut lists = BTreeMap::new();
        lists.insert("funnel".to_string(), funnel.finish());
        if setting != Setting::Popularity {
            lists.insert("vector".to_string(), vector.finish());
        }
        settings.insert(setting.name().to_string(), lists);
    }
    progress.finish_and_clear();
    Ok(ReplayReport {
        users: users.len(),
        skipped_consumed: skipped,
        settings,
        latency: summarize(&latency),
        fine_tune: serde_json::to_value(&base.user.fine_tune).unwrap_or_default(),
        backend,
    })
}

fn histories(train: &Interactions) -> HashMap<&str, Vec<crate::train::data::Interaction>> {
    train.by_user().into_iter().enumerate().map(|(u, seq)| (train.users[u].as_str(), seq)).collect()
}

fn to_interactions(
    seq: &[crate::train::data::Interaction],
    catalogue: &crate::train::data::Catalogue,
) -> Vec<Interaction> {
    seq.iter()
        .map(|r| Interaction {
            item: catalogue.items[r.item as usize].id.clone(),
            kind: kind_of(r.rating),
            timestamp_ms: r.time as f64 * 1000.0,
        })
        .collect()
}

fn summarize(samples: &[(f64, f64)]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    let n = samples.len() as f64;
    let mut total: Vec<f64> = samples.iter().map(|(a, b)| a + b).collect();
    total.sort_by(f64::total_cmp);
    let at = |q: f64| total[((total.len() - 1) as f64 * q).round() as usize];
    Latency {
        clicks: samples.len(),
        record_mean_ms: samples.iter().map(|s| s.0).sum::<f64>() / n,
        recommend_mean_ms: samples.iter().map(|s| s.1).sum::<f64>() / n,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
    }
}

/// Prints the replay table.
pub fn print(report: &ReplayReport) {
    println!(
        "replay: {} users, {} events skipped (item already consumed), backend {}",
        report.users, report.skipped_consumed, report.backend
    );
    println!("{:<16} {:<8} {:>8} {:>9} {:>9}", "setting", "list", "events", "HR@10", "NDCG@10");
    for (setting, lists) in &report.settings {
        for (list, m) in lists {
            println!("{setting:<16} {list:<8} {:>8} {:>9.4} {:>9.4}", m.events, m.hr10, m.ndcg10);
        }
    }
    let l = &report.latency;
    println!(
        "latency per click (tower+finetune, CPU, {} clicks): record {:.3} ms + recommend {:.3} ms \
         mean; total p50 {:.3} ms, p95 {:.3} ms",
        l.clicks, l.record_mean_ms, l.recommend_mean_ms, l.p50_ms, l.p95_ms
    );
}
