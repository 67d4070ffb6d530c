//! The whole funnel — recall → rank → re-rank under rules — on the shipped MovieLens bundle,
//! natively: rules hold for random configurations, the diversity limits give the ranked order,
//! pins, hybrid mode, typed errors, and a feed of 1,000 lists that never goes blank.

use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::BackendChoice;
use edgerec::recall::ExposureFilter;
use edgerec::recommender::{
    DiversityMethod, DiversityOptions, ExploreOptions, Placement, RecommendOptions,
    Recommendations, Recommender, RecommenderConfig, RuleKind, RuleSpec, ServerCandidate,
    SimilarityKind,
};
use edgerec::user::Interaction;
use pollster::block_on;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::OnceLock;

const NOW: f64 = 1_537_000_000_000.0;
const CLICKS: [&str; 5] = ["1258", "1982", "3917", "1", "2571"];

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/movielens-small");
        Bundle::open(&dir, &LoadOptions::default()).expect("the sample bundle loads")
    })
}

fn recommender(config: RecommenderConfig) -> Recommender {
    let mut rec = block_on(Recommender::new(bundle(), config, BackendChoice::Cpu)).unwrap();
    for (i, id) in CLICKS.iter().enumerate() {
        rec.record(&Interaction::click(*id, NOW - 1000.0 * (5 - i) as f64), NOW).unwrap();
    }
    rec
}

fn run(rec: &mut Recommender, options: &RecommendOptions) -> Recommendations {
    block_on(rec.recommend_with(options, NOW)).unwrap()
}

fn diversity(method: DiversityMethod, lambda: f64, theta: f64) -> DiversityOptions {
    DiversityOptions {
        method,
        lambda,
        theta,
        similarity: SimilarityKind::Embedding,
        ..DiversityOptions::default()
    }
}

/// The value of `attribute` the funnel's rules see, recomputed independently from the bundle.
fn value_of(id: &str, attribute: &str) -> Option<String> {
    let items = bundle().items();
    let item = items.get(items.row_of(id)?)?;
    match attribute {
        "category" => item.tags().next().map(str::to_string),
        "decade" => {
            let year = 1970 + item.created_at().div_euclid(31_556_952);
            (item.created_at() != 0).then(|| format!("{}s", year - year.rem_euclid(10)))
        }
        other => item.attribute(other).map(str::to_string),
    }
}

/// Whether `rule` holds on `ids` (the reference check, written from the rule's definition).
fn holds(rule: &RuleKind, ids: &[String]) -> bool {
    let col = |a: &str| ids.iter().map(|id| value_of(id, a)).collect::<Vec<_>>();
    match rule {
        RuleKind::MaxConsecutive { attribute, max } => {
            col(attribute).windows(max + 1).all(|w| w[0].is_none() || w.iter().any(|v| v != &w[0]))
        }
        RuleKind::MaxPerWindow { attribute, window, max } => {
            let c = col(attribute);
            (0..c.len()).all(|s| {
                let w = &c[s..(s + window).min(c.len())];
                w.iter()
                    .flatten()
                    .all(|v| w.iter().filter(|x| x.as_ref() == Some(v)).count() <= *max)
            })
        }
        RuleKind::MinInTop { attribute, value, top, min } => {
            ids.len() < *top
                || col(attribute)[..*top].iter().filter(|v| v.as_deref() == Some(value)).count()
                    >= *min
        }
        RuleKind::MaxInTop { attribute, value, top, max } => {
            let c = col(attribute);
            let head = &c[..(*top).min(c.len())];
            head.iter().flatten().all(|v| {
                value.as_ref().is_some_and(|w| w != v)
                    || head.iter().filter(|x| x.as_ref() == Some(v)).count() <= *max
            })
        }
        RuleKind::Pin { item, position } => *position >= ids.len() || ids[*position] == *item,
        RuleKind::Dedupe { attribute } => {
            let c: Vec<String> = col(attribute).into_iter().flatten().collect();
            c.iter().all(|v| c.iter().filter(|x| *x == v).count() == 1)
        }
    }
}

fn rule_kind() -> impl Strategy<Value = RuleKind> {
    let attribute = prop::sample::select(vec!["category".to_string(), "decade".to_string()]);
    let genre =
        prop::sample::select(vec!["Comedy".to_string(), "Drama".to_string(), "Action".to_string()]);
    prop_oneof![
        (attribute.clone(), 1usize..4)
            .prop_map(|(attribute, max)| RuleKind::MaxConsecutive { attribute, max }),
        (attribute.clone(), 2usize..6, 1usize..3)
            .prop_map(|(attribute, window, max)| RuleKind::MaxPerWindow { attribute, window, max }),
        (genre, 1usize..4, 5usize..12).prop_map(|(value, min, top)| RuleKind::MinInTop {
            attribute: "category".into(),
            value,
            top,
            min
        }),
        (prop::sample::select(vec!["318", "296", "1", "4993"]), 0usize..10)
            .prop_map(|(item, position)| RuleKind::Pin { item: item.into(), position }),
        attribute.prop_map(|attribute| RuleKind::Dedupe { attribute }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every rule holds in the final list, unless it is soft and the trace says it gave way;
    /// an infeasible hard set is the typed error.
    #[test]
    fn every_rule_holds_or_is_reported(
        kinds in prop::collection::vec(rule_kind(), 1..4),
        hard in prop::collection::vec(any::<bool>(), 4),
        method in 0u8..3,
        param in 0.1f64..0.95,
        k in 5usize..25,
    ) {
        // One pin per position (two pins on one slot are infeasible by construction).
        let mut specs: Vec<RuleSpec> = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            if let RuleKind::Pin { position, .. } = &kind
                && specs.iter().any(|s| matches!(&s.rule, RuleKind::Pin { position: p, .. } if p == position))
            {
                continue;
            }
            specs.push(RuleSpec { rule: kind, hard: hard[i], priority: i as u32 });
        }
        let method = [DiversityMethod::None, DiversityMethod::Mmr, DiversityMethod::Dpp][method as usize];
        let options = RecommendOptions {
            k,
            diversity: Some(diversity(method, param, param)),
            rules: Some(specs.clone()),
            ..RecommendOptions::default()
        };
        let mut rec = recommender(RecommenderConfig::default());
        match block_on(rec.recommend_with(&options, NOW)) {
            Err(e) => {
                prop_assert_eq!(e.code(), "RULES_INFEASIBLE", "{}", e);
                prop_assert!(specs.iter().any(|s| s.hard));
            }
            Ok(out) => {
                let ids: Vec<String> = out.items.iter().map(|i| i.id.clone()).collect();
                prop_assert_eq!(ids.len(), k);
                let mut distinct = ids.clone();
                distinct.sort();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), k, "no item twice");
                for (r, spec) in specs.iter().enumerate() {
                    let gave_way = out.trace.relaxed_rules.iter().any(|&(rule, _)| rule == r);
                    prop_assert!(
                        holds(&spec.rule, &ids) || (!spec.hard && gave_way),
                        "rule {r} {:?} broken in {ids:?}", spec
                    );
                }
            }
        }
    }
}

#[test]
fn diversity_limits_return_the_ranked_order() {
    let mut rec = recommender(RecommenderConfig::default());
    let none = run(
        &mut rec,
        &RecommendOptions {
            k: 20,
            diversity: Some(DiversityOptions::NONE),
            ..RecommendOptions::default()
        },
    );
    let ranked: Vec<&str> = none.trace.pool.iter().take(20).map(|p| p.id.as_str()).collect();
    let ids = |r: &Recommendations| r.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&none), ranked);
    assert!(none.items.iter().enumerate().all(|(p, i)| i.ranked_position == p));
    for d in
        [diversity(DiversityMethod::Mmr, 1.0, 0.0), diversity(DiversityMethod::Dpp, 0.0, 0.99999)]
    {
        let out =
            run(&mut rec, &RecommendOptions { k: 20, diversity: Some(d), ..Default::default() });
        assert_eq!(ids(&out), ranked, "{d:?}");
    }
    // And a real trade-off moves items, with the reason recorded.
    let dpp = run(
        &mut rec,
        &RecommendOptions {
            k: 20,
            diversity: Some(diversity(DiversityMethod::Dpp, 0.0, 0.5)),
            ..Default::default()
        },
    );
    assert_ne!(ids(&dpp), ranked);
    assert!(dpp.items.iter().any(|i| i.placed_by == Placement::Diversity));
}

#[test]
fn diversity_raises_intra_list_distance() {
    let mut rec = recommender(RecommenderConfig::default());
    let embeddings = bundle().item_embeddings().to_quantized_matrix().unwrap();
    let ild = |r: &Recommendations| {
        let rows: Vec<Vec<f32>> = r
            .items
            .iter()
            .map(|i| {
                let mut v = vec![0.0; embeddings.dim()];
                embeddings.dequantize_row(i.row.unwrap() as usize, &mut v);
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect();
        let mut sum = 0.0;
        let mut pairs = 0.0;
        for a in 0..rows.len() {
            for b in a + 1..rows.len() {
                sum += 1.0 - rows[a].iter().zip(&rows[b]).map(|(x, y)| x * y).sum::<f32>();
                pairs += 1.0;
            }
        }
        sum / pairs
    };
    let options = |d| RecommendOptions { k: 20, diversity: Some(d), ..Default::default() };
    let base = ild(&run(&mut rec, &options(DiversityOptions::NONE)));
    for d in [
        diversity(DiversityMethod::Mmr, 0.5, 0.0),
        diversity(DiversityMethod::Dpp, 0.0, 0.5),
        DiversityOptions { window: Some(5), ..diversity(DiversityMethod::Dpp, 0.0, 0.5) },
    ] {
        let diverse = ild(&run(&mut rec, &options(d)));
        assert!(diverse > base * 1.05, "{d:?}: ILD {diverse} vs {base}");
    }
    let by_category = run(
        &mut rec,
        &options(DiversityOptions {
            similarity: SimilarityKind::Category,
            ..diversity(DiversityMethod::Mmr, 0.5, 0.0)
        }),
    );
    let firsts: std::collections::HashSet<_> =
        by_category.items.iter().filter_map(|i| i.categories.first().cloned()).collect();
    let base_firsts: std::collections::HashSet<_> = run(&mut rec, &options(DiversityOptions::NONE))
        .items
        .iter()
        .filter_map(|i| i.categories.first().cloned())
        .collect();
    assert!(firsts.len() >= base_firsts.len(), "{firsts:?} vs {base_firsts:?}");
}

#[test]
fn pins_hold_and_say_so() {
    let mut rec = recommender(RecommenderConfig::default());
    let out = run(
        &mut rec,
        &RecommendOptions {
            k: 10,
            rules: Some(vec![
                RuleSpec::hard(RuleKind::Pin { item: "4993".into(), position: 3 }),
                RuleSpec::hard(RuleKind::MaxConsecutive { attribute: "category".into(), max: 1 }),
            ]),
            ..Default::default()
        },
    );
    assert_eq!(out.items[3].id, "4993");
    assert_eq!(out.items[3].placed_by, Placement::Pin);
    assert_eq!(out.items[3].rule, Some(0));
    // An id the bundle lacks is a typed error, not a silent no-op.
    let err = block_on(rec.recommend_with(
        &RecommendOptions {
            rules: Some(vec![RuleSpec::hard(RuleKind::Pin {
                item: "no-such".into(),
                position: 0,
            })]),
            ..Default::default()
        },
        NOW,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "INVALID_RULE");
}

#[test]
fn infeasible_hard_rules_are_a_typed_error_and_soft_ones_relax() {
    let mut rec = recommender(RecommenderConfig::default());
    // Two different items pinned to the same slot cannot both hold.
    let pins = |hard: bool| {
        vec![
            RuleSpec { rule: RuleKind::Pin { item: "1".into(), position: 0 }, hard, priority: 2 },
            RuleSpec { rule: RuleKind::Pin { item: "318".into(), position: 0 }, hard, priority: 1 },
        ]
    };
    let err = block_on(rec.recommend_with(
        &RecommendOptions { k: 5, rules: Some(pins(true)), ..Default::default() },
        NOW,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "RULES_INFEASIBLE");
    let out =
        run(&mut rec, &RecommendOptions { k: 5, rules: Some(pins(false)), ..Default::default() });
    assert_eq!(out.items[0].id, "1", "the higher priority wins");
    assert!(out.trace.relaxed_rules.contains(&(1, 0)), "{:?}", out.trace.relaxed_rules);
}

#[test]
fn hybrid_mode_reranks_only_the_servers_candidates() {
    let mut rec = recommender(RecommenderConfig::default());
    let mut candidates: Vec<ServerCandidate> =
        ["296", "318", "356", "593", "2571", "260", "480", "110", "589", "1196"]
            .iter()
            .enumerate()
            .map(|(i, id)| ServerCandidate { id: id.to_string(), score: 1.0 - i as f64 * 0.05 })
            .collect();
    candidates.push(ServerCandidate { id: "sponsored-42".into(), score: 0.99 });
    let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
    let out = run(
        &mut rec,
        &RecommendOptions {
            k: 8,
            candidates: Some(candidates.clone()),
            rules: Some(vec![RuleSpec::soft(RuleKind::MaxConsecutive {
                attribute: "category".into(),
                max: 1,
            })]),
            ..Default::default()
        },
    );
    assert_eq!(out.items.len(), 8);
    assert!(out.items.iter().all(|i| ids.contains(&i.id.as_str())));
    assert_eq!(out.trace.unknown_candidates, vec!["sponsored-42".to_string()]);
    assert!(out.trace.recall.is_empty());
    assert!(out.items.iter().all(|i| i.channels == ["server"]));
    // The device's signal changes the server's order for this user.
    let mut sorted = candidates.clone();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let server_order: Vec<&str> = sorted.iter().take(8).map(|c| c.id.as_str()).collect();
    let device: Vec<&str> = out.items.iter().map(|i| i.id.as_str()).collect();
    assert_ne!(device, server_order);
    // Exploration picks among recall channels: not with server candidates.
    let err = block_on(rec.recommend_with(
        &RecommendOptions {
            candidates: Some(candidates),
            explore: Some(ExploreOptions::default()),
            ..Default::default()
        },
        NOW,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

#[test]
fn recommend_is_side_effect_free_unless_marked_shown() {
    let mut rec = recommender(RecommenderConfig::default());
    let a = run(&mut rec, &RecommendOptions::top(10));
    let b = run(&mut rec, &RecommendOptions::top(10));
    assert_eq!(
        a.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        b.items.iter().map(|i| &i.id).collect::<Vec<_>>()
    );
    let shown = run(&mut rec, &RecommendOptions { k: 10, mark_shown: true, ..Default::default() });
    let after = run(&mut rec, &RecommendOptions::top(10));
    assert!(after.items.iter().all(|i| shown.items.iter().all(|s| s.id != i.id)));
    assert_ne!(a.trace.request_id, b.trace.request_id);
}

#[test]
fn exploration_slots_survive_rerank() {
    let config = RecommenderConfig {
        explore: Some(ExploreOptions { every: 4, first: 3, ..Default::default() }),
        ..Default::default()
    };
    let mut rec = recommender(config);
    let out = run(&mut rec, &RecommendOptions::top(12));
    for p in [3, 7, 11] {
        let pool_item = &out.trace.pool[p];
        if pool_item.explored {
            assert_eq!(out.items[p].id, pool_item.id, "slot {p}");
            assert_eq!(out.items[p].placed_by, Placement::Explore);
        }
    }
    assert!(out.trace.pool.iter().take(12).any(|p| p.explored), "exploration placed something");
}

/// A feed: 1,000 lists of 20, each marked shown, a random click between them. Every list is
/// full (the catalogue of 9,742 runs out after ~480 lists: the oldest exposures give way), and
/// the exposure filter's false-positive rate, measured on ids never shown, stays within 2× the
/// configured rate.
#[test]
fn a_thousand_lists_never_go_blank() {
    let mut rec = recommender(RecommenderConfig::default());
    let mut rng = SmallRng::seed_from_u64(7);
    let n = bundle().items().len();
    let mut relaxed_lists = 0;
    let mut shown = std::collections::HashSet::new();
    for call in 0..1000 {
        let now = NOW + call as f64 * 1000.0;
        let out = block_on(rec.recommend_with(
            &RecommendOptions { k: 20, mark_shown: true, ..Default::default() },
            now,
        ))
        .unwrap();
        assert_eq!(out.items.len(), 20, "call {call}: {:?}", out.trace.recall);
        relaxed_lists += usize::from(out.trace.exposure_relaxed > 0);
        if shown.len() < n / 2 {
            // Until half the catalogue is shown, nothing repeats.
            assert!(out.items.iter().all(|i| !shown.contains(&i.id)), "call {call} repeats");
        }
        shown.extend(out.items.iter().map(|i| i.id.clone()));
        if call % 3 == 0 {
            let id = bundle().items().get(rng.random_range(0..n)).unwrap().id().to_string();
            rec.record(&Interaction::click(id, now), now).unwrap();
        }
    }
    assert!(
        relaxed_lists > 0,
        "the catalogue ran out, so the oldest exposures must have given way"
    );
    let filter: &ExposureFilter = rec.exposure();
    let now_s = ((NOW + 1e6) / 1000.0) as i64;
    let probes = 50_000;
    let false_positives =
        (0..probes).filter(|i| filter.contains(&format!("never-shown-{i}"), now_s)).count();
    let rate = false_positives as f64 / probes as f64;
    let configured = RecommenderConfig::default().exposure.false_positive_rate;
    eprintln!(
        "exposure filter after 20,000 impressions: false-positive rate {rate:.4} (configured {configured})"
    );
    assert!(rate <= 2.0 * configured, "{rate} > 2 × {configured}");
}

/// The cut before the ranker (candidates whose prior cannot reach the re-rank pool are not
/// scored) changes nothing: a zero boost turns the cut off without changing any score.
#[test]
fn the_cut_before_the_ranker_is_lossless() {
    use edgerec::recommender::BoostConfig;
    let mut cut = recommender(RecommenderConfig::default());
    let mut full = recommender(RecommenderConfig {
        boost: Some(BoostConfig { max_boost: 0.0, target_age_days: 30.0 }),
        ..RecommenderConfig::default()
    });
    for (k, d) in [
        (10, DiversityOptions::NONE),
        (20, DiversityOptions::default()),
        (50, diversity(DiversityMethod::Dpp, 0.0, 0.7)),
    ] {
        let options = RecommendOptions { k, diversity: Some(d), ..Default::default() };
        let (a, b) = (run(&mut cut, &options), run(&mut full, &options));
        let ids = |r: &Recommendations| r.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "k = {k}, {d:?}");
        let pool =
            |r: &Recommendations| r.trace.pool.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(pool(&a), pool(&b));
    }
}
