//! The recall stage on the real MovieLens bundle (and the fixture for attributes and missing
//! tensors): every channel's rows are valid, filtered and deduplicated; U2I2I, category and
//! fresh channels against brute force; the merge's quotas, source bits and filtering (property
//! tests); typed errors; and the exposure Bloom filter's false-positive rate on 1M inserts,
//! expiry and persistence.
//!
//! The FPR tests print their measurements: `cargo test --test recall fpr -- --nocapture`.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::Error;
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::{BackendChoice, ItemIndex, MAX_K, ScoringEngine};
use edgerec::recall::bloom::{EXPOSURE_MAGIC, EXPOSURE_VERSION, MAX_BUCKETS};
use edgerec::recall::{
    CategoryOrder, ChannelConfig, ChannelKind, ExposureConfig, ExposureFilter, Filters,
    NeighbourSource, Recall, RecallConfig, RecallContext, RecallResult, Seed, rank_score,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Helpers

const DAY: i64 = 86_400;
/// 2018-01-01T00:00:00Z: the newest `created_at` in the MovieLens bundle.
const Y2018: i64 = 1_514_764_800;

fn open(name: &str) -> Bundle {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(name);
    Bundle::open(&dir, &LoadOptions::default()).unwrap()
}

fn movielens() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| open("movielens-small"))
}

fn fixture() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| open("fixture"))
}

fn engine(bundle: &Bundle) -> ScoringEngine {
    let index = ItemIndex::from_bundle(bundle).unwrap();
    pollster::block_on(ScoringEngine::new(index, BackendChoice::Cpu)).unwrap()
}

fn row(bundle: &Bundle, id: &str) -> u32 {
    bundle.items().row_of(id).unwrap() as u32
}

/// The item embedding of `row`, as a user vector "like that item".
fn query_like(bundle: &Bundle, row: u32) -> Vec<f32> {
    let index = bundle.item_embeddings();
    let mut q = vec![0.0; index.cols()];
    index.dequantize_row(row as usize, &mut q);
    q
}

fn per_item(bundle: &Bundle, name: &str) -> Vec<f32> {
    bundle.tensor(name).unwrap().dequantize()
}

fn single(kind: ChannelKind, quota: usize) -> RecallConfig {
    RecallConfig::new(quota.max(1)).with_channel(ChannelConfig::new("only", kind, quota, 1.0))
}

fn run(
    recall: &Recall,
    engine: &mut ScoringEngine,
    ctx: &RecallContext<'_>,
    filters: &Filters,
) -> edgerec::Result<RecallResult> {
    pollster::block_on(recall.recall(engine, ctx, filters))
}

fn rows_of(result: &RecallResult) -> Vec<u32> {
    result.candidates.iter().map(|c| c.row).collect()
}

/// Valid, allowed, unique rows; sorted by score (ties to the lower row); source bits only of
/// configured channels; trace counts consistent with quotas.
fn check_result(result: &RecallResult, config: &RecallConfig, filters: &Filters, rows: usize) {
    assert!(result.candidates.len() <= config.total);
    let mut seen = BTreeSet::new();
    for c in &result.candidates {
        assert!((c.row as usize) < rows, "row {} out of range", c.row);
        assert!(filters.allows(c.row), "filtered row {} returned", c.row);
        assert!(seen.insert(c.row), "row {} returned twice", c.row);
        assert!(c.sources != 0 && c.sources >> config.channels.len() == 0, "{c:?}");
        assert!(c.score.is_finite() && c.score >= 0.0);
    }
    for w in result.candidates.windows(2) {
        assert!(
            w[0].score > w[1].score || (w[0].score == w[1].score && w[0].row < w[1].row),
            "{:?} before {:?}",
            w[0],
            w[1]
        );
    }
    assert_eq!(result.channels.len(), config.channels.len());
    for (t, c) in result.channels.iter().zip(&config.channels) {
        assert_eq!(t.name, c.name);
        assert!(t.kept <= c.quota, "{t:?}");
        assert!(t.produced >= t.filtered + t.kept, "{t:?}");
    }
}

struct Setup {
    query: Vec<f32>,
    seeds: Vec<Seed>,
    categories: Vec<(String, f32)>,
}

/// A user who watched Toy Story and Jumanji and likes comedy and animation.
fn toy_story_fan(bundle: &Bundle) -> Setup {
    let (toy, jumanji) = (row(bundle, "1"), row(bundle, "2"));
    Setup {
        query: query_like(bundle, toy),
        seeds: vec![Seed { row: toy, weight: 1.0 }, Seed { row: jumanji, weight: 0.6 }],
        categories: vec![("Comedy".into(), 1.0), ("Animation".into(), 0.7)],
    }
}

impl Setup {
    fn ctx(&self, now_s: i64) -> RecallContext<'_> {
        RecallContext {
            query: Some(&self.query),
            seeds: &self.seeds,
            profile: &self.seeds,
            categories: &self.categories,
            now_s,
            interactions: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channels

#[test]
fn default_channels_return_valid_filtered_deduped_rows() {
    let bundle = movielens();
    let n = bundle.items().len();
    let config = RecallConfig::default_channels();
    config.validate().unwrap();
    let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
    assert_eq!(recall.rows(), n);
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let filters = Filters::new(n).consumed(user.seeds.iter().map(|s| s.row));
    let out = run(&recall, &mut engine, &user.ctx(Y2018 + 3 * DAY), &filters).unwrap();
    check_result(&out, &config, &filters, n);
    // Channels with large pools fill their quotas; the item-to-item ones have at most 20
    // neighbours per seed (K = 20) and two seeds, the category one 20 items per category and
    // two categories.
    let kept: Vec<usize> = out.channels.iter().map(|t| t.kept).collect();
    let i2i =
        |s| expected_u2i2i(bundle, s, &user.seeds).iter().filter(|&&r| filters.allows(r)).count();
    assert_eq!(
        kept,
        // The committed bundle predates EASE: the optional `ease` channel yields nothing.
        [200, i2i(NeighbourSource::ItemCf), i2i(NeighbourSource::Swing), 50, 50, 30, 40, 0]
    );
    assert!(bundle.tensor("ease.ids").is_none() && config.channels[7].optional);
    // Channels overlap (deduplicated): fewer candidates than the quotas' sum.
    assert!(out.candidates.len() < kept.iter().sum::<usize>());
    // Every channel with a table contributes at least one candidate to the merged list.
    for c in 0..7 {
        assert!(out.candidates.iter().any(|x| x.from_channel(c)), "channel {c} absent");
    }
    for t in &out.channels {
        println!(
            "{:>15}: produced {:4} filtered {:3} kept {:3} in {:5} µs",
            t.name, t.produced, t.filtered, t.kept, t.micros
        );
    }
}

#[test]
fn each_channel_alone_returns_valid_rows() {
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    // Block a third of the catalogue so filtering is exercised on every channel.
    let filters = Filters::new(n).consumed((0..n as u32).filter(|r| r % 3 == 0));
    for channel in RecallConfig::default_channels().channels {
        let config = RecallConfig::new(60).with_channel(ChannelConfig { quota: 60, ..channel });
        let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
        let out = run(&recall, &mut engine, &user.ctx(Y2018 + 3 * DAY), &filters).unwrap();
        check_result(&out, &config, &filters, n);
        if config.channels[0].name == "ease" {
            // Optional, and the committed bundle has no `ease.*`: left out, not an error.
            assert!(out.candidates.is_empty() && bundle.tensor("ease.ids").is_none());
            continue;
        }
        assert!(out.candidates.iter().all(|c| c.sources == 1));
        assert!(!out.candidates.is_empty(), "{}", config.channels[0].name);
        // A channel alone: merged order is the channel's own order, scored by rank.
        for (rank, c) in out.candidates.iter().enumerate() {
            assert_eq!(c.score, config.channels[0].weight * rank_score(rank));
        }
    }
}

/// The expected U2I2I list from the bundle tensors: Σ weight × sim, positive, score desc, row.
fn expected_u2i2i(bundle: &Bundle, source: NeighbourSource, seeds: &[Seed]) -> Vec<u32> {
    let (ids_name, scores_name) = source.tensors();
    let ids = bundle.tensor(ids_name).unwrap();
    let k = ids.cols();
    let ids = ids.as_u32().unwrap();
    let sims = per_item(bundle, scores_name);
    let mut acc: BTreeMap<u32, f32> = BTreeMap::new();
    for s in seeds {
        for j in 0..k {
            let id = ids[s.row as usize * k + j];
            if id != u32::MAX {
                *acc.entry(id).or_default() += s.weight * sims[s.row as usize * k + j];
            }
        }
    }
    let mut v: Vec<(u32, f32)> = acc.into_iter().filter(|(_, s)| *s > 0.0).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|x| x.0).collect()
}

#[test]
fn u2i2i_returns_the_seeds_neighbours_weighted() {
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    let (toy, jumanji, heat) = (row(bundle, "1"), row(bundle, "2"), row(bundle, "6"));
    for source in [NeighbourSource::ItemCf, NeighbourSource::Swing] {
        let config = single(ChannelKind::ItemToItem { source, max_seeds: 2 }, 200);
        let recall = Recall::from_bundle(bundle, config).unwrap();
        let filters = Filters::new(n);
        let one = [Seed { row: toy, weight: 2.0 }];
        let ctx = RecallContext {
            query: None,
            seeds: &one,
            profile: &[],
            categories: &[],
            now_s: 0,
            interactions: 0,
        };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        let expected = expected_u2i2i(bundle, source, &one);
        assert!(!expected.is_empty());
        assert_eq!(rows_of(&out), expected, "{source:?}: one seed = its neighbour list");

        // Two seeds: scores add up, weighted.
        let two = [Seed { row: toy, weight: 1.0 }, Seed { row: heat, weight: 0.5 }];
        let ctx = RecallContext { seeds: &two, ..ctx };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        assert_eq!(rows_of(&out), expected_u2i2i(bundle, source, &two));

        // Only the first `max_seeds` seeds (most recent first) are expanded.
        let three = [two[0], two[1], Seed { row: jumanji, weight: 5.0 }];
        let ctx = RecallContext { seeds: &three, ..ctx };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        assert_eq!(rows_of(&out), expected_u2i2i(bundle, source, &two));

        // A negative (dislike) seed pushes its neighbours down; only positive totals remain.
        let mixed = [Seed { row: toy, weight: 1.0 }, Seed { row: heat, weight: -10.0 }];
        let ctx = RecallContext { seeds: &mixed, ..ctx };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        assert_eq!(rows_of(&out), expected_u2i2i(bundle, source, &mixed));

        // Filtering the best neighbours does not cost quota: the next ones move up.
        let config = single(ChannelKind::ItemToItem { source, max_seeds: 2 }, 5);
        let recall = Recall::from_bundle(bundle, config).unwrap();
        let blocked = Filters::new(n).consumed(expected[..3].iter().copied());
        let ctx = RecallContext { seeds: &one, ..ctx };
        let out = run(&recall, &mut engine, &ctx, &blocked).unwrap();
        assert_eq!(rows_of(&out), expected[3..8]);
        assert_eq!((out.channels[0].filtered, out.channels[0].kept), (3, 5));
    }
}

#[test]
fn category_channel_returns_items_of_the_category() {
    let bundle = movielens();
    let items = bundle.items();
    let n = items.len();
    let popularity = per_item(bundle, "stats.popularity");
    let has = |r: u32, tag: &str| items.get(r as usize).unwrap().tags().any(|t| t == tag);
    let created = |r: u32| items.get(r as usize).unwrap().created_at();
    let mut engine = engine(bundle);
    let filters = Filters::new(n);
    for order in [CategoryOrder::Popular, CategoryOrder::Newest] {
        let config = single(ChannelKind::Category { per_category: 30, order }, 100);
        let recall = Recall::from_bundle(bundle, config).unwrap();
        let animation = [("Animation".to_string(), 1.0)];
        let ctx = RecallContext {
            query: None,
            seeds: &[],
            profile: &[],
            categories: &animation,
            now_s: 0,
            interactions: 0,
        };
        let out = rows_of(&run(&recall, &mut engine, &ctx, &filters).unwrap());
        assert_eq!(out.len(), 30);
        assert!(out.iter().all(|&r| has(r, "Animation")));
        // Brute force: the category's items in the channel's order.
        let mut all: Vec<u32> = (0..n as u32).filter(|&r| has(r, "Animation")).collect();
        match order {
            CategoryOrder::Popular => all.sort_by(|&a, &b| {
                popularity[b as usize].total_cmp(&popularity[a as usize]).then(a.cmp(&b))
            }),
            CategoryOrder::Newest => all.sort_by(|&a, &b| {
                created(b)
                    .cmp(&created(a))
                    .then(popularity[b as usize].total_cmp(&popularity[a as usize]))
                    .then(a.cmp(&b))
            }),
        }
        assert_eq!(out, all[..30]);

        // Two categories: both present, interleaved by weight; every item has one of them.
        let two = [("Western".to_string(), 1.0), ("Film-Noir".to_string(), 0.8)];
        let ctx = RecallContext { categories: &two, ..ctx };
        let out = rows_of(&run(&recall, &mut engine, &ctx, &filters).unwrap());
        assert_eq!(out.len(), 60);
        assert!(out.iter().all(|&r| has(r, "Western") || has(r, "Film-Noir")));
        // Rank scores decay slowly (K = 60): Film-Noir's best (0.8) comes after Western's 15
        // best (60 / (60 + r) > 0.8 for r < 15) and before the rest.
        let first_noir = out.iter().position(|&r| !has(r, "Western")).unwrap();
        assert!((15..=16).contains(&first_noir), "{first_noir}");

        // Unknown categories are ignored, not errors.
        let with_unknown = [("No Such Genre".to_string(), 1.0), ("Animation".to_string(), 0.5)];
        let ctx = RecallContext { categories: &with_unknown, ..ctx };
        let out = rows_of(&run(&recall, &mut engine, &ctx, &filters).unwrap());
        assert_eq!(out, all[..30]);
        let unknown = [("No Such Genre".to_string(), 1.0)];
        let ctx = RecallContext { categories: &unknown, ..ctx };
        assert!(run(&recall, &mut engine, &ctx, &filters).unwrap().candidates.is_empty());
    }
}

#[test]
fn popular_channels_are_descending_by_their_tensor() {
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    for (recent, tensor) in [(false, "stats.popularity"), (true, "stats.popularity_recent")] {
        let pop = per_item(bundle, tensor);
        let recall =
            Recall::from_bundle(bundle, single(ChannelKind::Popular { recent }, 50)).unwrap();
        let ctx = RecallContext {
            query: None,
            seeds: &[],
            profile: &[],
            categories: &[],
            now_s: 0,
            interactions: 0,
        };
        let out = rows_of(&run(&recall, &mut engine, &ctx, &Filters::new(n)).unwrap());
        let max = pop.iter().copied().fold(f32::MIN, f32::max);
        assert_eq!(pop[out[0] as usize], max);
        for w in out.windows(2) {
            let (a, b) = (pop[w[0] as usize], pop[w[1] as usize]);
            assert!(a > b || (a == b && w[0] < w[1]));
        }
    }
}

/// Brute force of the fresh channel: allowed items in `[now − w, now]`, newest first, ties by
/// popularity then row, first `quota`.
fn expected_fresh(bundle: &Bundle, filters: &Filters, now: i64, w: i64, quota: usize) -> Vec<u32> {
    let items = bundle.items();
    let pop = per_item(bundle, "stats.popularity");
    let created = |r: u32| items.get(r as usize).unwrap().created_at();
    let mut v: Vec<u32> = (0..items.len() as u32)
        .filter(|&r| filters.allows(r) && created(r) <= now && created(r) >= now - w)
        .collect();
    v.sort_by(|&a, &b| {
        created(b)
            .cmp(&created(a))
            .then(pop[b as usize].total_cmp(&pop[a as usize]))
            .then(a.cmp(&b))
    });
    v.truncate(quota);
    v
}

#[test]
fn fresh_window_respects_created_at() {
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    let recall =
        Recall::from_bundle(bundle, single(ChannelKind::Fresh { window_s: 30 * DAY }, 500))
            .unwrap();
    let filters = Filters::new(n);
    let at = |now_s| RecallContext {
        query: None,
        seeds: &[],
        profile: &[],
        categories: &[],
        now_s,
        interactions: 0,
    };
    // Ten days into 2018: exactly the items dated 2018-01-01.
    let out = rows_of(&run(&recall, &mut engine, &at(Y2018 + 10 * DAY), &filters).unwrap());
    let in_2018 = bundle.items().iter().filter(|i| i.created_at() == Y2018).count();
    assert!(in_2018 > 10);
    assert_eq!(out.len(), in_2018);
    assert!(out.iter().all(|&r| bundle.items().get(r as usize).unwrap().created_at() == Y2018));
    // The day before: items dated after `now` are not out yet, and 2017-01-01 is too old.
    assert!(run(&recall, &mut engine, &at(Y2018 - DAY), &filters).unwrap().candidates.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn fresh_matches_brute_force(
        years_back in 0i64..40,
        days in 0i64..400,
        window_days in 0i64..2000,
        quota in 1usize..200,
        drop_mod in 2u32..7,
    ) {
        let bundle = movielens();
        let n = bundle.items().len();
        let mut engine = engine(bundle);
        let w = window_days * DAY;
        let recall = Recall::from_bundle(bundle, single(ChannelKind::Fresh { window_s: w }, quota))
            .unwrap();
        let filters = Filters::new(n).consumed((0..n as u32).filter(|r| r % drop_mod == 0));
        let now = Y2018 - years_back * 365 * DAY + days * DAY;
        let ctx = RecallContext { query: None, seeds: &[], profile: &[], categories: &[], now_s: now, interactions: 0 };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        prop_assert_eq!(rows_of(&out), expected_fresh(bundle, &filters, now, w, quota));
    }
}

// ---------------------------------------------------------------------------------------------
// Merge: quotas, source bits, filters before quotas

fn mixed_config() -> RecallConfig {
    use ChannelKind::*;
    RecallConfig::new(1000)
        .with_channel(ChannelConfig::new("vector", Vector { k: 100 }, 40, 1.0))
        .with_channel(ChannelConfig::new(
            "i2i",
            ItemToItem { source: NeighbourSource::ItemCf, max_seeds: 3 },
            30,
            0.9,
        ))
        .with_channel(ChannelConfig::new(
            "swing",
            ItemToItem { source: NeighbourSource::Swing, max_seeds: 3 },
            30,
            0.8,
        ))
        .with_channel(ChannelConfig::new("popular", Popular { recent: false }, 30, 0.3))
        .with_channel(ChannelConfig::new("recent", Popular { recent: true }, 30, 0.4))
        .with_channel(ChannelConfig::new("fresh", Fresh { window_s: 3 * 365 * DAY }, 25, 0.2))
        .with_channel(ChannelConfig::new(
            "category",
            Category { per_category: 10, order: CategoryOrder::Newest },
            20,
            0.5,
        ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// With heavy random filtering (50–99% of the catalogue), each channel still fills its
    /// quota whenever enough unfiltered items exist; merged source bits are exactly the channels
    /// whose own list holds the row, and the score is the best weighted rank score.
    #[test]
    fn merge_fills_quotas_after_filtering_and_keeps_every_source(
        seed in any::<u64>(),
        keep_per_mille in 10u64..500,
        cold in any::<bool>(),
    ) {
        let bundle = movielens();
        let n = bundle.items().len();
        let config = mixed_config();
        let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
        let mut engine = engine(bundle);
        let mut rng = edgerec::rng::SeededRng::new(seed);
        let filters = Filters::new(n)
            .consumed((0..n as u32).filter(|_| rng.next_u64() % 1000 >= keep_per_mille));
        let user = toy_story_fan(bundle);
        let now = Y2018 + 3 * DAY;
        let ctx = RecallContext { query: if cold { None } else { Some(&user.query) }, ..user.ctx(now) };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        check_result(&out, &config, &filters, n);
        let allowed = n - filters.excluded();

        // Quotas are filled whenever the channel's pool has enough unfiltered items.
        let kept = |name: &str| out.channels.iter().find(|t| t.name == name).unwrap().kept;
        prop_assert_eq!(kept("vector"), if cold { 0 } else { 40.min(allowed) });
        prop_assert_eq!(kept("popular"), 30.min(allowed));
        prop_assert_eq!(kept("recent"), 30.min(allowed));
        prop_assert_eq!(kept("fresh"), expected_fresh(bundle, &filters, now, 3 * 365 * DAY, 25).len());

        // Each channel alone, same inputs: the merged candidate carries exactly the channels
        // whose list holds it, with the best weighted rank score.
        let mut solo: Vec<BTreeMap<u32, usize>> = Vec::new();
        for c in &config.channels {
            let one = RecallConfig::new(1000).with_channel(c.clone());
            let r = Recall::from_bundle(bundle, one).unwrap();
            let o = run(&r, &mut engine, &ctx, &filters).unwrap();
            prop_assert_eq!(o.channels[0].kept, kept(&c.name));
            solo.push(rows_of(&o).into_iter().enumerate().map(|(rank, row)| (row, rank)).collect());
        }
        let union: BTreeSet<u32> = solo.iter().flat_map(|m| m.keys().copied()).collect();
        prop_assert_eq!(out.candidates.len(), union.len());
        for cand in &out.candidates {
            let mut bits = 0u64;
            let mut best = 0.0f32;
            for (c, m) in solo.iter().enumerate() {
                if let Some(&rank) = m.get(&cand.row) {
                    bits |= 1 << c;
                    best = best.max(config.channels[c].weight * rank_score(rank));
                }
            }
            prop_assert_eq!(cand.sources, bits);
            prop_assert_eq!(cand.score, best);
        }
    }

    /// Items the user consumed never come back, whatever the channels.
    #[test]
    fn consumed_items_never_come_back(consumed in prop::collection::vec(0u32..9742, 0..400)) {
        let bundle = movielens();
        let n = bundle.items().len();
        let config = RecallConfig::default_channels();
        let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
        let mut engine = engine(bundle);
        let user = toy_story_fan(bundle);
        // Consume the most obvious recommendations too: the vector channel's own top items.
        let first = run(&recall, &mut engine, &user.ctx(Y2018), &Filters::new(n)).unwrap();
        let filters = Filters::new(n)
            .consumed(consumed.iter().copied())
            .consumed(first.candidates.iter().take(50).map(|c| c.row))
            .consumed(user.seeds.iter().map(|s| s.row));
        let out = run(&recall, &mut engine, &user.ctx(Y2018), &filters).unwrap();
        check_result(&out, &config, &filters, n);
        let gone: BTreeSet<u32> = consumed.iter().copied().collect();
        prop_assert!(out.candidates.iter().all(|c| !gone.contains(&c.row)));
    }
}

#[test]
fn total_caps_the_merge_by_score() {
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let filters = Filters::new(n);
    let full =
        Recall::from_bundle(bundle, RecallConfig { total: 10_000, ..mixed_config() }).unwrap();
    let capped = Recall::from_bundle(bundle, RecallConfig { total: 25, ..mixed_config() }).unwrap();
    let full = run(&full, &mut engine, &user.ctx(Y2018), &filters).unwrap();
    let capped = run(&capped, &mut engine, &user.ctx(Y2018), &filters).unwrap();
    assert_eq!(capped.candidates, full.candidates[..25]);
    assert_eq!(
        capped.channels.iter().map(|t| t.kept).collect::<Vec<_>>(),
        full.channels.iter().map(|t| t.kept).collect::<Vec<_>>()
    );
}

#[test]
fn recall_is_deterministic_and_serves_cold_users() {
    let bundle = movielens();
    let n = bundle.items().len();
    let config = RecallConfig::default_channels();
    let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let filters = Filters::new(n);
    let a = run(&recall, &mut engine, &user.ctx(Y2018), &filters).unwrap();
    let b = recall.recall_blocking(&mut engine, &user.ctx(Y2018), &filters).unwrap();
    assert_eq!(a.candidates, b.candidates);

    // Cold user: no vector, no seeds, no interests — popular and fresh still answer.
    let ctx = RecallContext {
        query: None,
        seeds: &[],
        profile: &[],
        categories: &[],
        now_s: Y2018 + DAY,
        interactions: 0,
    };
    let cold = run(&recall, &mut engine, &ctx, &filters).unwrap();
    check_result(&cold, &config, &filters, n);
    let kept: Vec<usize> = cold.channels.iter().map(|t| t.kept).collect();
    assert_eq!(kept, [0, 0, 0, 50, 50, 30, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// Filters

#[test]
fn blocklists_by_item_and_by_tag() {
    let bundle = movielens();
    let items = bundle.items();
    let n = items.len();
    let recall = Recall::from_bundle(bundle, RecallConfig::default_channels()).unwrap();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let before = run(&recall, &mut engine, &user.ctx(Y2018), &Filters::new(n)).unwrap();
    let top: Vec<u32> = before.candidates.iter().take(20).map(|c| c.row).collect();
    let mut filters = Filters::new(n).block_attribute(items, "tag", "Comedy");
    for &r in &top {
        filters = filters.block_item(r);
    }
    let filters = filters.block_id(items, "2571").unwrap(); // The Matrix
    let out = run(&recall, &mut engine, &user.ctx(Y2018), &filters).unwrap();
    check_result(&out, recall.config(), &filters, n);
    for c in &out.candidates {
        let item = items.get(c.row as usize).unwrap();
        assert!(item.tags().all(|t| t != "Comedy"), "{}", item.title());
        assert!(!top.contains(&c.row) && item.id() != "2571");
    }
    // The popularity channels still fill their quotas from the remaining items.
    assert_eq!(out.channels[3].kept, 50);
    // Comedy was the user's top interest: the category channel moves on to Animation.
    assert!(out.channels[6].kept > 0);

    assert_eq!(
        Filters::new(n).block_id(items, "no-such-movie").unwrap_err(),
        Error::UnknownItem { id: "no-such-movie".into() }
    );
    // A table of the wrong size excludes nothing and fails the request with a typed error.
    let wrong = Filters::new(n + 1).block_attribute(items, "tag", "Drama").block_item(0);
    assert_eq!(wrong.excluded(), 1);
    assert!(matches!(wrong.check(), Err(Error::InvalidArgument { name: "items", .. })));
    let wrong = Filters::new(n).exposure(
        &ExposureFilter::new(ExposureConfig::default()).unwrap(),
        fixture().items(),
        0,
    );
    let mut engine = self::engine(bundle);
    let e = run(&recall, &mut engine, &user.ctx(Y2018), &wrong);
    assert!(matches!(e, Err(Error::InvalidArgument { name: "items", .. })), "{e:?}");
}

#[test]
fn blocklists_by_attribute_and_type_on_the_fixture() {
    let bundle = fixture();
    let items = bundle.items();
    let n = items.len();
    let config = single(ChannelKind::Popular { recent: false }, n);
    let recall = Recall::from_bundle(bundle, config).unwrap();
    let mut engine = engine(bundle);
    let ctx = RecallContext {
        query: None,
        seeds: &[],
        profile: &[],
        categories: &[],
        now_s: 0,
        interactions: 0,
    };
    for (key, value) in
        [("brand", "acme"), ("author", "author-0"), ("type", "book"), ("tag", "drama")]
    {
        let filters = Filters::new(n).block_attribute(items, key, value);
        let blocked = |r: u32| {
            let i = items.get(r as usize).unwrap();
            match key {
                "type" => i.item_type() == value,
                "tag" => i.tags().any(|t| t == value),
                _ => i.attribute(key) == Some(value),
            }
        };
        let expected: BTreeSet<u32> = (0..n as u32).filter(|&r| !blocked(r)).collect();
        assert!(expected.len() < n && !expected.is_empty(), "{key}={value}");
        assert_eq!(filters.excluded(), n - expected.len());
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        assert_eq!(out.candidates.iter().map(|c| c.row).collect::<BTreeSet<_>>(), expected);
    }
    // An attribute no item has blocks nothing.
    let none = Filters::new(n).block_attribute(items, "colour", "red");
    assert_eq!(none.excluded(), 0);
}

#[test]
fn shown_items_are_not_recalled_again() {
    let bundle = movielens();
    let items = bundle.items();
    let n = items.len();
    let config = RecallConfig::default_channels();
    let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let now = Y2018 + 2 * DAY;
    let mut exposure = ExposureFilter::new(ExposureConfig::default()).unwrap();
    let first = run(&recall, &mut engine, &user.ctx(now), &Filters::new(n)).unwrap();
    for c in first.candidates.iter().take(100) {
        exposure.insert(items.get(c.row as usize).unwrap().id(), now - 3600);
    }
    let start = std::time::Instant::now();
    let filters = Filters::new(n).exposure(&exposure, items, now);
    println!("exposure mask over {n} items: {} µs", start.elapsed().as_micros());
    // 100 shown plus a handful of false positives (1% of the rest at most, in expectation).
    assert!(
        filters.excluded() >= 100 && filters.excluded() < 100 + 3 * n / 100,
        "{}",
        filters.excluded()
    );
    let second = run(&recall, &mut engine, &user.ctx(now), &filters).unwrap();
    check_result(&second, &config, &filters, n);
    let shown: BTreeSet<u32> = first.candidates.iter().take(100).map(|c| c.row).collect();
    assert!(second.candidates.iter().all(|c| !shown.contains(&c.row)));
    // Shown items take no quota: the vector and popularity channels still fill theirs.
    assert_eq!(second.channels[0].kept, 200);
    assert_eq!(second.channels[3].kept, 50);
    // A month later the exposures have expired.
    let later = Filters::new(n).exposure(&exposure, items, now + 31 * DAY);
    assert_eq!(later.excluded(), 0);
}

// ---------------------------------------------------------------------------------------------
// Typed errors

#[test]
fn bad_configs_are_typed_errors() {
    let bundle = movielens();
    let base = mixed_config();
    let with = |f: &dyn Fn(&mut RecallConfig)| {
        let mut c = base.clone();
        f(&mut c);
        Recall::from_bundle(bundle, c).unwrap_err()
    };
    for w in [f32::NAN, -0.5, f32::INFINITY] {
        let e = with(&|c| c.channels[3].weight = w);
        assert!(matches!(&e, Error::InvalidWeight { name, .. } if name == "popular"), "{e:?}");
        assert_eq!(e.code(), "INVALID_WEIGHT");
    }
    for (f, what) in [
        (
            &(|c: &mut RecallConfig| c.channels[0].kind = ChannelKind::Vector { k: 0 })
                as &dyn Fn(&mut RecallConfig),
            "k = 0",
        ),
        (
            &|c: &mut RecallConfig| c.channels[0].kind = ChannelKind::Vector { k: MAX_K + 1 },
            "k > MAX_K",
        ),
        (&|c: &mut RecallConfig| c.channels[1].name = "vector".into(), "duplicate name"),
        (&|c: &mut RecallConfig| c.channels[1].name.clear(), "empty name"),
        (&|c: &mut RecallConfig| c.channels.clear(), "no channels"),
        (
            &|c: &mut RecallConfig| c.channels[5].kind = ChannelKind::Fresh { window_s: -1 },
            "window",
        ),
        (
            &|c: &mut RecallConfig| {
                let p = c.channels[3].clone();
                c.channels =
                    (0..65).map(|i| ChannelConfig { name: format!("p{i}"), ..p.clone() }).collect();
            },
            "65 channels",
        ),
    ] {
        assert!(
            matches!(with(f), Error::InvalidArgument { name: "recall.channels", .. }),
            "{what}"
        );
    }
    assert!(matches!(with(&|c| c.total = 0), Error::InvalidArgument { name: "recall.total", .. }));
    // Quota 0 disables a channel without shifting the others' source bits.
    let mut c = base.clone();
    c.channels[0].quota = 0;
    assert!(Recall::from_bundle(bundle, c).is_ok());
}

#[test]
fn missing_tensors_are_typed_errors() {
    // The fixture has i2i and popularity but neither Swing nor recent popularity.
    let bundle = fixture();
    let e = Recall::from_bundle(bundle, RecallConfig::default_channels()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument { name: "recall.channels", reason } if reason.contains("swing.ids")),
        "{e:?}"
    );
    let e =
        Recall::from_bundle(bundle, single(ChannelKind::Popular { recent: true }, 5)).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument { reason, .. } if reason.contains("stats.popularity_recent")),
        "{e:?}"
    );
    // What the fixture has works.
    for kind in [
        ChannelKind::Vector { k: 5 },
        ChannelKind::ItemToItem { source: NeighbourSource::ItemCf, max_seeds: 3 },
        ChannelKind::Popular { recent: false },
        ChannelKind::Fresh { window_s: DAY },
        ChannelKind::Category { per_category: 3, order: CategoryOrder::Popular },
        ChannelKind::Category { per_category: 3, order: CategoryOrder::Newest },
    ] {
        Recall::from_bundle(bundle, single(kind, 5)).unwrap();
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let bundle = movielens();
    let n = bundle.items().len();
    let recall = Recall::from_bundle(bundle, RecallConfig::default_channels()).unwrap();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let filters = Filters::new(n);
    let ctx = user.ctx(Y2018);

    let short = &user.query[..63];
    let e = run(&recall, &mut engine, &RecallContext { query: Some(short), ..ctx }, &filters);
    assert_eq!(e.unwrap_err(), Error::DimensionMismatch { expected: 64, received: 63 });
    let mut nan = user.query.clone();
    nan[5] = f32::NAN;
    let e = run(&recall, &mut engine, &RecallContext { query: Some(&nan), ..ctx }, &filters);
    assert_eq!(e.unwrap_err(), Error::NonFinite { what: "query", position: 5 });

    let seeds = [Seed { row: 0, weight: f32::NAN }];
    let e = run(&recall, &mut engine, &RecallContext { seeds: &seeds, ..ctx }, &filters);
    assert!(matches!(e, Err(Error::InvalidWeight { .. })));
    let seeds = [Seed { row: n as u32, weight: 1.0 }];
    let e = run(&recall, &mut engine, &RecallContext { seeds: &seeds, ..ctx }, &filters);
    assert!(matches!(e, Err(Error::InvalidArgument { name: "seeds", .. })));

    for w in [f32::NAN, -1.0, f32::INFINITY] {
        let cats = [("Drama".to_string(), w)];
        let e = run(&recall, &mut engine, &RecallContext { categories: &cats, ..ctx }, &filters);
        assert!(matches!(&e, Err(Error::InvalidWeight { name, .. }) if name == "Drama"), "{e:?}");
    }

    let e = run(&recall, &mut engine, &ctx, &Filters::new(n - 1));
    assert!(matches!(e, Err(Error::InvalidArgument { name: "filters", .. })));
    let mut other = self::engine(fixture());
    let e = run(&recall, &mut other, &RecallContext { query: None, ..ctx }, &filters);
    assert!(matches!(e, Err(Error::InvalidArgument { name: "engine", .. })));
}

// ---------------------------------------------------------------------------------------------
// Exposure Bloom filter

fn measure_fpr(config: ExposureConfig, inserts: usize, probes: usize) -> f64 {
    let mut f = ExposureFilter::new(config).unwrap();
    let t0 = 1_700_000_000 - 1_700_000_000 % config.bucket_s;
    let per_bucket = config.expected_per_bucket;
    let time_of = |i: usize| t0 + (i / per_bucket) as i64 * config.bucket_s + 7;
    for i in 0..inserts {
        f.insert(&format!("item-{i}"), time_of(i));
    }
    let now = time_of(inserts - 1);
    // No false negatives: every id is still in a live bucket.
    for i in (0..inserts).step_by(97) {
        assert!(f.contains(&format!("item-{i}"), now), "item-{i} lost");
    }
    let hits = (0..probes).filter(|i| f.contains(&format!("probe-{i}"), now)).count();
    let fpr = hits as f64 / probes as f64;
    println!(
        "exposure filter: {inserts} inserts over {} bucket(s) of {} ids, {probes} probes: measured \
         FPR {fpr:.5} ({hits} hits), configured {}, per-bucket {:.3e}, m_0 = {} bits/bucket, \
         k = {}, {} bytes",
        config.buckets,
        per_bucket,
        config.false_positive_rate,
        config.bucket_false_positive_rate(),
        f.first_layer_bits(),
        f.hashes(),
        f.memory_bytes()
    );
    fpr
}

#[test]
fn fpr_of_1m_inserts_across_30_buckets_meets_the_configured_rate() {
    // A full month: 30 one-day buckets, each at capacity, 1M ids in all.
    let config = ExposureConfig {
        false_positive_rate: 0.01,
        expected_per_bucket: 1_000_000usize.div_ceil(30),
        bucket_s: DAY,
        buckets: 30,
    };
    let fpr = measure_fpr(config, 1_000_000, 1_000_000);
    assert!(fpr <= 1.5 * config.false_positive_rate, "measured {fpr}");
}

#[test]
fn fpr_of_1m_inserts_in_one_bucket_meets_the_configured_rate() {
    let config = ExposureConfig {
        false_positive_rate: 0.01,
        expected_per_bucket: 1_000_000,
        bucket_s: DAY,
        buckets: 1,
    };
    let fpr = measure_fpr(config, 1_000_000, 1_000_000);
    assert!(fpr <= 1.5 * config.false_positive_rate, "measured {fpr}");
    // Also at a stricter rate.
    let strict = ExposureConfig { false_positive_rate: 0.001, ..config };
    let fpr = measure_fpr(strict, 1_000_000, 1_000_000);
    assert!(fpr <= 1.5 * strict.false_positive_rate, "measured {fpr}");
}

#[test]
fn fpr_of_20k_inserts_in_one_default_bucket_stays_within_twice_the_rate() {
    // The product bug: a feed session shows 2,000+ ids in one day against a default sizing of
    // 500 a day. Each bucket now adds layers instead of saturating.
    let config = ExposureConfig::default();
    let mut f = ExposureFilter::new(config).unwrap();
    let now = 1_700_000_000 - 1_700_000_000 % DAY + 12 * 3600;
    for i in 0..20_000 {
        f.insert(&format!("shown-{i}"), now - 3600 + i as i64 / 10);
    }
    assert!((0..20_000).all(|i| f.contains(&format!("shown-{i}"), now)), "a shown id was lost");
    let probes = 100_000;
    let hits = (0..probes).filter(|i| f.contains(&format!("never-{i}"), now)).count();
    let fpr = hits as f64 / probes as f64;
    eprintln!(
        "exposure filter, default config, 20,000 ids in one bucket: measured FPR {fpr:.6} \
         ({hits}/{probes}), configured {} (per bucket {:.3e}), {} layers, {} ids counted, {} bytes",
        config.false_positive_rate,
        config.bucket_false_positive_rate(),
        f.live_layers(now),
        f.live_ids(now),
        f.memory_bytes()
    );
    assert!(fpr <= 2.0 * config.false_positive_rate, "measured {fpr}");
    // Held to its bucket's share, not just the whole filter's rate.
    assert!(fpr <= 2.0 * config.bucket_false_positive_rate(), "measured {fpr}");
    // 500 + 1,000 + … + 16,000: six layers; memory follows what was shown.
    assert_eq!(f.live_layers(now), 6);
    assert!(f.live_ids(now) > 19_990 && f.live_ids(now) <= 20_000, "{}", f.live_ids(now));
    assert!(f.memory_bytes() < 100 * 1024, "{}", f.memory_bytes());
    // It persists and comes back bit for bit.
    let g = ExposureFilter::from_bytes(&f.to_bytes()).unwrap();
    assert_eq!(g, f);
}

#[test]
fn exposure_recent_brings_back_the_oldest_exposures_first() {
    let items = fixture().items();
    let n = items.len();
    assert!(n >= 8, "{n}");
    let id = |r: usize| items.get(r).unwrap().id().to_string();
    // Two ids per first layer: day 0 shows the first half, day 1 the rest, so every item has
    // been shown and each day has several layers.
    let config = ExposureConfig { expected_per_bucket: 2, ..ExposureConfig::default() };
    let mut f = ExposureFilter::new(config).unwrap();
    let day0 = Y2018 + 600;
    let day1 = day0 + DAY;
    for r in 0..n {
        f.insert(&id(r), if r < n / 2 { day0 } else { day1 });
    }
    let now = day1 + 60;
    let live = f.live_layers(now);
    assert!(live >= 4, "{live}");
    let all = Filters::new(n).exposure(&f, items, now);
    assert_eq!(all.excluded(), n, "every item was shown");
    assert_eq!(Filters::new(n).exposure_recent(&f, items, now, 0), all);
    assert_eq!(Filters::new(n).exposure_recent(&f, items, now, live).excluded(), 0);
    assert_eq!(Filters::new(n).exposure_recent(&f, items, now, usize::MAX).excluded(), 0);
    // Relaxing one layer at a time: day 0's items come back before any of day 1's.
    let day0_layers =
        (0..=live).find(|&skip| (0..n / 2).all(|r| !f.contains_recent(&id(r), now, skip))).unwrap();
    assert!(day0_layers >= 2 && day0_layers < live, "{day0_layers} of {live}");
    let mut previous = n;
    for skip in 0..=live {
        let relaxed = Filters::new(n).exposure_recent(&f, items, now, skip);
        assert!(relaxed.excluded() <= previous, "skip {skip}");
        previous = relaxed.excluded();
        for r in 0..n {
            assert_eq!(!relaxed.allows(r as u32), f.contains_recent(&id(r), now, skip), "row {r}");
        }
        if skip <= day0_layers {
            assert!((n / 2..n).all(|r| !relaxed.allows(r as u32)), "skip {skip}: day 1 kept");
        }
    }
}

#[test]
fn buckets_expire_after_their_window() {
    let mut f = ExposureFilter::new(ExposureConfig::default()).unwrap();
    let t0 = 1_700_000_000 - 1_700_000_000 % DAY + 3600; // 01:00 on some day
    f.insert("seen", t0);
    assert!(f.contains("seen", t0));
    assert!(f.contains("seen", t0 + 29 * DAY), "29 days later: still live");
    assert!(!f.contains("seen", t0 + 30 * DAY), "30 buckets later: expired");
    assert!(!f.contains("seen", t0 + 31 * DAY), "31 days later: gone");
    assert!(!f.contains("never", t0));

    // Rotation: daily inserts reuse the oldest slot and clear it.
    let mut g = ExposureFilter::new(ExposureConfig::default()).unwrap();
    g.insert("old", t0);
    for day in 1..=31 {
        g.insert(&format!("day-{day}"), t0 + day * DAY);
    }
    let now = t0 + 31 * DAY;
    assert!(!g.contains("old", now));
    assert!(!g.contains("day-1", now) && g.contains("day-2", now) && g.contains("day-31", now));
    // Looking back in time never resurrects a cleared bucket's ids.
    assert!(!g.contains("old", t0));

    f.clear();
    assert!(!f.contains("seen", t0));
}

#[test]
fn exposure_filter_round_trips() {
    let mut f = ExposureFilter::new(ExposureConfig::default()).unwrap();
    let t0 = 1_700_000_000;
    for i in 0..2_000 {
        f.insert(&format!("id-{i}"), t0 + (i as i64 % 40) * DAY / 2);
    }
    let bytes = f.to_bytes();
    assert_eq!(&bytes[..4], &EXPOSURE_MAGIC);
    let g = ExposureFilter::from_bytes(&bytes).unwrap();
    assert_eq!(g, f);
    assert_eq!(g.to_bytes(), bytes);
    let now = t0 + 20 * DAY;
    for i in 0..3_000 {
        let id = format!("id-{i}");
        assert_eq!(f.contains(&id, now), g.contains(&id, now));
    }
    let empty = ExposureFilter::new(ExposureConfig::default()).unwrap();
    assert_eq!(ExposureFilter::from_bytes(&empty.to_bytes()).unwrap(), empty);
}

fn is_storage_corrupt(r: edgerec::Result<ExposureFilter>) -> bool {
    matches!(r, Err(Error::StorageCorrupt { ref key, .. }) if key == "exposure_filter")
}

#[test]
fn corrupt_exposure_bytes_are_storage_corrupt() {
    let config = ExposureConfig {
        false_positive_rate: 0.05,
        expected_per_bucket: 20,
        bucket_s: 60,
        buckets: 3,
    };
    let mut f = ExposureFilter::new(config).unwrap();
    f.insert("a", 0);
    f.insert("b", 61);
    let bytes = f.to_bytes();
    // Every truncation and every extension.
    for len in 0..bytes.len() {
        assert!(is_storage_corrupt(ExposureFilter::from_bytes(&bytes[..len])), "len {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(is_storage_corrupt(ExposureFilter::from_bytes(&longer)));
    // Every single-bit flip.
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(is_storage_corrupt(ExposureFilter::from_bytes(&b)), "byte {i} bit {bit}");
        }
    }
    // A newer layout version.
    let mut v2 = bytes.clone();
    v2[4..8].copy_from_slice(&(EXPOSURE_VERSION + 1).to_le_bytes());
    let e = ExposureFilter::from_bytes(&v2).unwrap_err();
    assert!(
        matches!(&e, Error::StorageCorrupt { reason, .. } if reason.contains("version")),
        "{e}"
    );
    // A header claiming an enormous filter is rejected before anything is allocated.
    let mut huge = bytes[..48].to_vec();
    huge[32..36].copy_from_slice(&(MAX_BUCKETS as u32).to_le_bytes());
    huge[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(is_storage_corrupt(ExposureFilter::from_bytes(&huge)));
    assert_eq!(ExposureFilter::from_bytes(b"").unwrap_err().code(), "STORAGE_CORRUPT");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 8 {
            bytes[..4].copy_from_slice(&EXPOSURE_MAGIC);
            bytes[4..8].copy_from_slice(&EXPOSURE_VERSION.to_le_bytes());
        }
        if let Ok(f) = ExposureFilter::from_bytes(&bytes) {
            prop_assert_eq!(f.to_bytes(), bytes);
        }
    }

    #[test]
    fn contains_recent_agrees_with_contains(
        ids in prop::collection::vec("[a-z0-9]{0,12}", 1..60),
        times in prop::collection::vec(0i64..40_000, 1..60),
        now in 0i64..60_000,
    ) {
        let config = ExposureConfig { expected_per_bucket: 3, bucket_s: 3600, buckets: 5, ..Default::default() };
        let mut f = ExposureFilter::new(config).unwrap();
        for (id, t) in ids.iter().zip(times.iter().cycle()) {
            f.insert(id, *t);
        }
        let live = f.live_layers(now);
        for id in &ids {
            prop_assert_eq!(f.contains(id, now), f.contains_recent(id, now, 0));
            prop_assert!(!f.contains_recent(id, now, live));
            // Skipping more never remembers more.
            for skip in 0..live {
                prop_assert!(f.contains_recent(id, now, skip) >= f.contains_recent(id, now, skip + 1));
            }
        }
        let back = ExposureFilter::from_bytes(&f.to_bytes()).unwrap();
        prop_assert_eq!(back, f);
    }

    #[test]
    fn no_false_negatives(
        ids in prop::collection::vec("[a-z0-9]{0,24}", 1..50),
        times in prop::collection::vec(-10_000_000i64..10_000_000, 1..50),
    ) {
        let mut f = ExposureFilter::new(ExposureConfig { bucket_s: 3600, buckets: 5, ..Default::default() }).unwrap();
        for (id, t) in ids.iter().zip(times.iter().cycle()) {
            f.insert(id, *t);
            prop_assert!(f.contains(id, *t));
            prop_assert!(f.contains(id, *t + 4 * 3600));
        }
    }
}

/// The EASE channel scores the whole profile (`RecallContext::profile`), ItemCF and Swing the
/// decayed recent seeds: with `profile = [A]` and `seeds = [B]`, EASE yields A's neighbour and
/// ItemCF B's. A bundle without `ease.*` fails a required EASE channel with the tensor's name
/// and skips an optional one.
#[test]
fn ease_reads_the_profile_and_optional_channels_are_skipped_when_tensors_are_missing() {
    use edgerec::bundle::builder::{self, BuildConfig, QuantRule, SourceData, SourceTensor};
    use edgerec::bundle::items::ItemRecord;
    use edgerec::bundle::{QuantScheme, Similarity};
    let n = 4;
    let items: Vec<ItemRecord> = (0..n)
        .map(|i| ItemRecord { id: format!("m{i}"), title: format!("M{i}"), ..Default::default() })
        .collect();
    let emb: Vec<f32> = (0..n * 4).map(|i| ((i * 7 % 5) as f32 - 2.0) / 3.0 + 0.1).collect();
    // Row i's only neighbour is i + 1 (the last row has none).
    let ids: Vec<u32> =
        (0..n as u32).map(|i| if i + 1 < n as u32 { i + 1 } else { u32::MAX }).collect();
    let lists = |prefix: &str| {
        [
            SourceTensor {
                name: format!("{prefix}.ids"),
                shape: vec![n, 1],
                data: SourceData::U32(ids.clone()),
            },
            SourceTensor {
                name: format!("{prefix}.scores"),
                shape: vec![n, 1],
                data: SourceData::F32(vec![0.5; n]),
            },
        ]
    };
    let emb_tensor = SourceTensor {
        name: "item_embeddings".into(),
        shape: vec![n, 4],
        data: SourceData::F32(emb),
    };
    let rules = [QuantRule { pattern: "*.scores", scheme: QuantScheme::F32 }];
    let config = BuildConfig {
        model_id: "ease-test",
        model_version: "1",
        created_at: "2025-01-01T00:00:00Z",
        similarity: Similarity::Cosine,
        temperature: 0.05,
        rules: &rules,
        signing_key: None,
        eval_queries: 4,
        seed: 0,
    };
    let dir = std::env::temp_dir().join(format!("edgerec-ease-recall-{}", std::process::id()));
    let mut with = vec![emb_tensor.clone()];
    with.extend(lists("i2i"));
    with.extend(lists("ease"));
    builder::build(&with, &items, &config).unwrap().write_to(&dir.join("with")).unwrap();
    let mut without = vec![emb_tensor];
    without.extend(lists("i2i"));
    builder::build(&without, &items, &config).unwrap().write_to(&dir.join("without")).unwrap();
    let with = Bundle::open(&dir.join("with"), &LoadOptions::default()).unwrap();
    let without = Bundle::open(&dir.join("without"), &LoadOptions::default()).unwrap();

    let channel = |name: &str, source| {
        ChannelConfig::new(name, ChannelKind::ItemToItem { source, max_seeds: 5 }, 5, 1.0)
    };
    let config = RecallConfig::new(10)
        .with_channel(channel("ease", NeighbourSource::Ease))
        .with_channel(channel("i2i", NeighbourSource::ItemCf));
    let recall = Recall::from_bundle(&with, config.clone()).unwrap();
    let mut engine = engine(&with);
    let profile = [Seed { row: 0, weight: 1.0 }];
    let seeds = [Seed { row: 1, weight: 1.0 }];
    let ctx = RecallContext {
        query: None,
        seeds: &seeds,
        profile: &profile,
        categories: &[],
        now_s: 0,
        interactions: 0,
    };
    let out = run(&recall, &mut engine, &ctx, &Filters::new(n)).unwrap();
    let by_channel = |c: usize| -> Vec<u32> {
        out.candidates.iter().filter(|x| x.sources & (1 << c) != 0).map(|x| x.row).collect()
    };
    assert_eq!(by_channel(0), [1], "EASE expands the profile (row 0 → 1)");
    assert_eq!(by_channel(1), [2], "ItemCF expands the recent seeds (row 1 → 2)");

    let err = Recall::from_bundle(&without, config.clone()).unwrap_err();
    assert!(err.to_string().contains("ease.ids"), "{err}");
    let mut optional = config;
    optional.channels[0] = optional.channels[0].clone().optional();
    let recall = Recall::from_bundle(&without, optional).unwrap();
    let mut engine = self::engine(&without);
    let out = run(&recall, &mut engine, &ctx, &Filters::new(n)).unwrap();
    assert_eq!(out.channels[0].produced, 0);
    assert_eq!(out.candidates.iter().map(|c| c.row).collect::<Vec<_>>(), [2]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cold_weight`: a channel weighs `cold_weight` for a user without history and moves to its
/// weight as interactions accumulate (halfway at `COLD_HALF`), so the merge order follows.
#[test]
fn a_cold_weight_leads_for_new_users_and_fades_with_history() {
    use ChannelKind::{Category, Popular};
    use edgerec::recall::COLD_HALF;
    let bundle = movielens();
    let n = bundle.items().len();
    let mut engine = engine(bundle);
    let user = toy_story_fan(bundle);
    let filters = Filters::new(n);
    let category = Category { per_category: 20, order: CategoryOrder::Popular };
    let config = RecallConfig::new(40)
        .with_channel(ChannelConfig::new("popular", Popular { recent: false }, 20, 1.0))
        .with_channel(ChannelConfig::new("category", category, 20, 0.5).cold(2.0));
    let channel = &config.channels[1];
    assert_eq!(channel.weight_for(0), 2.0);
    assert_eq!(channel.weight_for(COLD_HALF as usize), 1.25, "halfway at COLD_HALF");
    assert!((channel.weight_for(1_000_000) - 0.5).abs() < 1e-4);
    assert_eq!(config.channels[0].weight_for(0), 1.0, "no cold weight: always the weight");

    let recall = Recall::from_bundle(bundle, config.clone()).unwrap();
    let mut top_source = |interactions: usize| {
        let ctx = RecallContext { interactions, ..user.ctx(Y2018) };
        let out = run(&recall, &mut engine, &ctx, &filters).unwrap();
        check_result(&out, &config, &filters, n);
        let best = out.candidates[0];
        (best.from_channel(1), best.score)
    };
    // Cold: the category channel's best item leads with score 2.0 × rank score 1.
    assert_eq!(top_source(0), (true, 2.0));
    // A long history: popular (1.0) leads again — the best merged score is its weight, as the
    // category channel weighs about 0.5.
    assert_eq!(top_source(10_000).1, 1.0);

    // Serialized camelCase; the snake_case name parses too; a negative cold weight is refused.
    let json = serde_json::to_string(&config.channels[1]).unwrap();
    assert!(json.contains("\"coldWeight\":2.0"), "{json}");
    let snake = json.replace("coldWeight", "cold_weight");
    assert_eq!(serde_json::from_str::<ChannelConfig>(&snake).unwrap(), config.channels[1]);
    let bad = RecallConfig::new(10)
        .with_channel(ChannelConfig::new("category", category, 10, 0.5).cold(-1.0));
    assert!(matches!(Recall::from_bundle(bundle, bad), Err(Error::InvalidWeight { .. })));
}
