//! Baselines of the session replay (`edgerec eval --replay`), scored on the very events the
//! SDK's settings are, so the replay table compares the shipped funnel with the classic models:
//!
//! * `itemcf` and `ease` — item-to-item over everything the user did so far: the train history
//!   plus the session's clicks up to the event, `score(j) = Σ_{i ∈ history} sim(i, j)`, history
//!   excluded (ItemCF with IUF-weighted cosine and EASE, Steck 2019, at `edgerec eval`'s
//!   settings, fitted on the train file). They see the session, like the funnel does. Scores are
//!   kept per user and grow by one neighbour row per click, so the replay stays fast.
//! * external lists (`--recs NAME=FILE`, e.g. ALS, BPR, BiVAE from `bench/`) — each user's
//!   fixed list computed from the train history (such models do not update within a session),
//!   with the items consumed so far dropped; a list that runs out counts as a miss, so pass
//!   long lists (`--k 500` in `bench/`).
//!
//! `popularity` is one of the replay's own settings (the popular channel alone).

use super::replay::Tally;
use crate::train::data::{Catalogue, Interaction as TrainInteraction};
use crate::train::error::Result;
use crate::train::{ease, i2i};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the replay's baselines are fitted with.
#[derive(Debug, Clone, Default)]
pub struct BaselineArgs {
    /// Skip them (`--no-baselines`).
    pub skip: bool,
    /// ItemCF neighbours per item.
    pub itemcf_neighbours: usize,
    /// EASE's λ (0 leaves EASE out).
    pub ease_lambda: f64,
    /// External lists, `NAME=FILE`.
    pub recs: Vec<String>,
}

/// EASE rows kept per item (as `edgerec eval`'s EASE baseline).
const EASE_NEIGHBOURS: usize = 1000;

/// One item-to-item baseline and its per-user running scores.
struct ItemToItem {
    name: &'static str,
    neighbours: i2i::Neighbours,
    scores: Vec<f32>,
}

/// The baselines of one replay, fed user by user, event by event.
pub struct ReplayBaselines {
    item_to_item: Vec<ItemToItem>,
    external: Vec<(String, HashMap<String, Vec<u32>>)>,
    tallies: BTreeMap<String, Tally>,
    /// Train popularity, a tie-breaker (users without neighbours get popular items).
    popularity: Vec<f32>,
    seen: HashSet<u32>,
    user: String,
}

impl ReplayBaselines {
    /// Fits the item-to-item baselines on `train` (per-user item lists) and reads the external
    /// lists.
    ///
    /// # Errors
    /// As [`super::read_recs`] for the list files; EASE's errors.
    pub fn new(
        train: &[Vec<TrainInteraction>],
        catalogue: &Catalogue,
        args: &BaselineArgs,
    ) -> Result<Self> {
        let n_items = catalogue.items.len();
        let mut popularity = vec![0f32; n_items];
        let sets: Vec<Vec<u32>> = train
            .iter()
            .map(|s| {
                let mut v: Vec<u32> = s.iter().map(|r| r.item).collect();
                v.iter().for_each(|&i| popularity[i as usize] += 1.0);
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut item_to_item = Vec::new();
        if !args.skip {
            let itemcf = i2i::item_cf(&sets, n_items, args.itemcf_neighbours, 0.5);
            item_to_item.push(ItemToItem {
                name: "itemcf",
                neighbours: itemcf,
                scores: vec![0.0; n_items],
            });
            if args.ease_lambda > 0.0 {
                let nb =
                    ease::ease(&sets, n_items, EASE_NEIGHBOURS.min(n_items), args.ease_lambda)?;
                item_to_item.push(ItemToItem {
                    name: "ease",
                    neighbours: nb,
                    scores: vec![0.0; n_items],
                });
            }
        }
        let mut external = Vec::new();
        for spec in &args.recs {
            let (name, lists) = super::read_recs(spec)?;
            let rows = lists
                .into_iter()
                .map(|(user, ids)| {
                    let rows = ids.iter().filter_map(|id| catalogue.row_of.get(id).copied());
                    (user, rows.collect())
                })
                .collect();
            external.push((name.to_string(), rows));
        }
        let mut tallies = BTreeMap::new();
        for name in item_to_item
            .iter()
            .map(|b| b.name.to_string())
            .chain(external.iter().map(|(name, _)| name.clone()))
        {
            tallies.insert(name, Tally::default());
        }
        Ok(Self {
            item_to_item,
            external,
            tallies,
            popularity,
            seen: HashSet::new(),
            user: String::new(),
        })
    }

    /// Starts `user`, whose train history (item rows) is `history`.
    pub fn start_user(&mut self, user: &str, history: &[u32]) {
        self.user = user.to_string();
        self.seen.clear();
        for b in &mut self.item_to_item {
            b.scores.iter_mut().zip(&self.popularity).for_each(|(s, c)| *s = 1e-6 * c / (1.0 + c));
        }
        for &row in history {
            self.add(row);
        }
    }

    fn add(&mut self, row: u32) {
        if self.seen.insert(row) {
            for b in &mut self.item_to_item {
                for (j, s) in b.neighbours.of(row as usize) {
                    b.scores[j as usize] += s;
                }
            }
        }
    }

    /// Scores every baseline's top-`k` before the event whose item is row `target` (accuracy,
    /// and the list's diversity by `distances`).
    pub fn score(&mut self, target: u32, k: usize, distances: &super::ItemDistances) {
        for b in &self.item_to_item {
            let list = super::top_by_score(&b.scores, &self.seen, k);
            if let Some(t) = self.tallies.get_mut(b.name) {
                t.add(&list, target, distances);
            }
        }
        for (name, lists) in &self.external {
            let list: Vec<u32> = lists
                .get(&self.user)
                .map(|l| l.iter().copied().filter(|r| !self.seen.contains(r)).take(k).collect())
                .unwrap_or_default();
            if let Some(t) = self.tallies.get_mut(name) {
                t.add(&list, target, distances);
            }
        }
    }

    /// Records the event's item: it joins the history.
    pub fn record(&mut self, row: u32) {
        self.add(row);
    }

    /// The baselines' next-item accuracy and diversity (coverage over `n_items`), by name.
    pub fn finish(&self, n_items: usize) -> BTreeMap<String, super::replay::NextItem> {
        self.tallies.iter().map(|(name, t)| (name.clone(), t.finish(n_items))).collect()
    }
}
