//! The rank stage's pure logic: fusion against the formulas, the boost's shape, exploration on
//! simulated bandits (seeded), identity when exploration is off, and the typed error of every bad
//! input.
#![cfg(not(target_arch = "wasm32"))]

use edgerec::Error;
use edgerec::rank::{
    ArmKind, ArmStats, ChannelCombine, ChannelSet, ChannelWeights, Exploration, ExploreArm,
    ExplorePolicy, ExploreRng, Fusion, FusionForm, ItemStats, NewItemBoost, RankInput, RankPolicy,
    Slots, truncate_by_prior,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers

const TASKS: [&str; 4] = ["click", "like", "finish", "share"];

/// Descending, ties to the lower index.
fn order_by(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

fn fusion(form: FusionForm, tasks: usize, weights: &[f32]) -> Fusion {
    let mut f = Fusion::new(form, TASKS[..tasks].iter().copied(), "click").unwrap();
    for (t, &w) in weights.iter().enumerate().skip(1).take(tasks - 1) {
        f = f.with_weight(TASKS[t], w).unwrap();
    }
    f
}

/// A random probability matrix: (tasks, n, values).
fn matrix() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..=4, 0usize..40).prop_flat_map(|(tasks, n)| {
        // Coarse values too, so that ties (broken by the lower index) actually occur.
        let value = prop_oneof![0.0f32..=1.0, (0u8..=4).prop_map(|q| f32::from(q) / 4.0)];
        (Just(tasks), Just(n), prop::collection::vec(value, n * tasks))
    })
}

fn items_strategy(n: usize) -> impl Strategy<Value = Vec<ItemStats>> {
    prop::collection::vec(
        (-10.0f32..200.0, 0u32..50, 0u32..50).prop_map(|(age, a, b)| ItemStats {
            age,
            exposures: a.max(b),
            clicks: a.min(b),
        }),
        n,
    )
}

fn explore_items(policy: ExplorePolicy, slots: Slots) -> Exploration {
    Exploration { policy, arms: ArmKind::Items, slots }
}

/// Plays `rounds` rounds of a Bernoulli bandit with `ctr` per arm, pulling the arm with the
/// highest policy value each round; returns the pulls per arm and the pulls in the second half.
fn simulate(policy: ExplorePolicy, ctr: &[f64], rounds: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut policy_rng = ExploreRng::new(seed);
    let mut world = ExploreRng::new(seed ^ 0x5eed);
    let mut stats = vec![ArmStats::default(); ctr.len()];
    let mut late = vec![0u32; ctr.len()];
    for round in 0..rounds {
        let values = policy.arm_values(&stats, &mut policy_rng).unwrap();
        // First maximum: ties to the lower arm, like the rank stage.
        let arm = (0..ctr.len()).fold(0, |b, a| if values[a] > values[b] { a } else { b });
        stats[arm].exposures += 1;
        if world.next_f64() < ctr[arm] {
            stats[arm].clicks += 1;
        }
        if round >= rounds / 2 {
            late[arm] += 1;
        }
    }
    (stats.iter().map(|s| s.exposures).collect(), late)
}

// ---------------------------------------------------------------------------------------------
// Fusion

#[test]
fn fusion_forms_match_hand_computed_values() {
    let p = [0.5f32, 0.25, 0.75, 1.0, /* second candidate */ 0.1, 0.0, 0.5, 0.0];
    let w = [0.0, 2.0, 0.5, 0.25];
    let sum = fusion(FusionForm::WeightedSum, 4, &w).fuse(&p).unwrap();
    // 0.5 + 2·0.25 + 0.5·0.75 + 0.25·1 = 1.625; 0.1 + 0.25 = 0.35
    assert_eq!(sum[0], 1.625);
    assert!((sum[1] - 0.35).abs() < 1e-7);
    let mul = fusion(FusionForm::Multiplicative, 4, &w).fuse(&p).unwrap();
    // 0.5 · (1 + 1.125) = 1.0625; 0.1 · 1.25 = 0.125
    assert_eq!(mul[0], 1.0625);
    assert!((mul[1] - 0.125).abs() < 1e-8);
}

#[test]
fn ties_go_to_the_lower_index() {
    // 300 candidates on three score levels, interleaved: each level lists its indices ascending.
    let p: Vec<f32> = (0..300).map(|i| [0.25f32, 0.75, 0.5][(i * 7) % 3]).collect();
    let ranked = RankPolicy::new(fusion(FusionForm::WeightedSum, 1, &[0.0]))
        .rank(&RankInput::new(&p))
        .unwrap();
    let scores = &p;
    let level = |x: f32| (0..300).filter(move |&i| scores[i] == x);
    let want: Vec<usize> = level(0.75).chain(level(0.5)).chain(level(0.25)).collect();
    assert_eq!(ranked.order, want);
    assert_eq!(truncate_by_prior(&p, 150).unwrap(), want[..150]);
}

#[test]
fn a_zero_click_probability_sinks_an_item_only_in_the_multiplicative_form() {
    // The seeds' reason for the multiplicative form: likes alone cannot carry an unclicked item.
    let p = [0.0f32, 1.0, 0.2, 0.1];
    let w = [0.0, 1.0];
    let sum = fusion(FusionForm::WeightedSum, 2, &w).fuse(&p).unwrap();
    let mul = fusion(FusionForm::Multiplicative, 2, &w).fuse(&p).unwrap();
    assert_eq!(order_by(&sum), vec![0, 1]);
    assert_eq!(order_by(&mul), vec![1, 0]);
}

proptest! {
    #[test]
    fn fusion_matches_the_formula(
        (tasks, _n, p) in matrix(),
        w in prop::collection::vec(0.0f32..4.0, 4),
        neg in prop::collection::vec(-0.33f32..0.0, 4),
        multiplicative in any::<bool>(),
    ) {
        // Multiplicative weights may be negative (at most 3 × 0.33 < 1 in total).
        let form = if multiplicative { FusionForm::Multiplicative } else { FusionForm::WeightedSum };
        let weights: Vec<f32> = if multiplicative {
            w.iter().zip(&neg).enumerate().map(|(i, (&a, &b))| if i % 2 == 0 { a } else { b }).collect()
        } else {
            w.clone()
        };
        let f = fusion(form, tasks, &weights);
        let got = f.fuse(&p).unwrap();
        for (i, row) in p.chunks_exact(tasks).enumerate() {
            let secondary: f64 = (1..tasks).map(|t| f64::from(weights[t]) * f64::from(row[t])).sum();
            let want = match form {
                FusionForm::WeightedSum => f64::from(row[0]) + secondary,
                FusionForm::Multiplicative => f64::from(row[0]) * (1.0 + secondary),
            };
            prop_assert!((got[i] - want).abs() <= 1e-12 * want.abs().max(1.0), "{} vs {}", got[i], want);
            prop_assert!(got[i] >= 0.0);
        }
    }

    #[test]
    fn zero_weights_reduce_to_click_order((tasks, n, p) in matrix(), multiplicative in any::<bool>()) {
        let form = if multiplicative { FusionForm::Multiplicative } else { FusionForm::WeightedSum };
        let f = fusion(form, tasks, &[0.0; 4]);
        let ranked = RankPolicy::new(f).rank(&RankInput::new(&p)).unwrap();
        let clicks: Vec<f64> = (0..n).map(|i| f64::from(p[i * tasks])).collect();
        prop_assert_eq!(&ranked.scores, &clicks);
        prop_assert_eq!(ranked.order, order_by(&clicks));
    }

    #[test]
    fn channel_weights_multiply_the_fused_score(
        (tasks, n, p) in matrix(),
        weights in prop::collection::vec(0.0f32..3.0, 3),
        bits in prop::collection::vec(0u64..8, 40),
        mean in any::<bool>(),
    ) {
        let combine = if mean { ChannelCombine::Mean } else { ChannelCombine::Max };
        let cw = ChannelWeights::new(["a", "b", "c"].into_iter().zip(weights.iter().copied()))
            .unwrap()
            .with_combine(combine);
        let f = fusion(FusionForm::WeightedSum, tasks, &[0.0, 0.5, 0.5, 0.5]);
        let fused = f.fuse(&p).unwrap();
        let sets: Vec<ChannelSet> = bits[..n].iter().map(|&b| ChannelSet(b)).collect();
        let ranked = RankPolicy::new(f)
            .with_channel_weights(cw)
            .rank(&RankInput::new(&p).with_channels(&sets))
            .unwrap();
        for i in 0..n {
            let ws: Vec<f32> = sets[i].iter().map(|c| weights[c]).collect();
            let w = if ws.is_empty() {
                1.0
            } else if mean {
                (ws.iter().map(|&w| f64::from(w)).sum::<f64>() / ws.len() as f64) as f32
            } else {
                ws.iter().copied().fold(0.0, f32::max)
            };
            prop_assert_eq!(ranked.scores[i], fused[i] * f64::from(w));
        }
        prop_assert_eq!(ranked.order, order_by(&ranked.scores));
    }

    #[test]
    fn truncation_keeps_the_top_prior_scores(
        prior in prop::collection::vec(prop_oneof![0.0f32..1.0, Just(0.5)], 0..60),
        keep in 1usize..70,
    ) {
        let kept = truncate_by_prior(&prior, keep).unwrap();
        let all: Vec<f64> = prior.iter().map(|&x| f64::from(x)).collect();
        let mut want = order_by(&all);
        want.truncate(keep);
        prop_assert_eq!(&kept, &want);
        let policy = RankPolicy::new(fusion(FusionForm::WeightedSum, 1, &[0.0]));
        prop_assert_eq!(policy.pre_rank(&prior).unwrap(), (0..prior.len()).collect::<Vec<_>>());
        prop_assert_eq!(policy.with_pre_rank(keep).unwrap().pre_rank(&prior).unwrap(), want);
    }
}

// ---------------------------------------------------------------------------------------------
// Boost

proptest! {
    #[test]
    fn boost_is_bounded_monotone_and_zero_past_the_targets(
        max_boost in 0.0f32..5.0,
        target_age in 0.01f32..1e6,
        target_exposures in 1u32..10_000,
        age in (-1e3f32..2e6, -1e3f32..2e6),
        exposures in (0u32..20_000, 0u32..20_000),
    ) {
        let b = NewItemBoost::new(max_boost, target_age, target_exposures).unwrap();
        let (a0, a1) = if age.0 <= age.1 { age } else { (age.1, age.0) };
        let (e0, e1) = if exposures.0 <= exposures.1 { exposures } else { (exposures.1, exposures.0) };
        for (a, e) in [(a0, e0), (a0, e1), (a1, e0), (a1, e1)] {
            let v = b.boost(a, e);
            prop_assert!((0.0..=max_boost).contains(&v), "boost({a}, {e}) = {v}");
            if a >= target_age || e >= target_exposures {
                prop_assert_eq!(v, 0.0);
            }
        }
        // Non-increasing in age (exposures fixed) and in exposures (age fixed).
        prop_assert!(b.boost(a1, e0) <= b.boost(a0, e0));
        prop_assert!(b.boost(a1, e1) <= b.boost(a0, e1));
        prop_assert!(b.boost(a0, e1) <= b.boost(a0, e0));
        prop_assert!(b.boost(a1, e1) <= b.boost(a1, e0));
        // Strictly positive inside the targets (when there is anything to give).
        if max_boost > 0.0 && a0 < target_age * 0.99 && e0 < target_exposures {
            prop_assert!(b.boost(a0, e0) > 0.0);
        }
    }
}

#[test]
fn the_boost_is_off_by_default_and_traced_when_on() {
    let f = fusion(FusionForm::WeightedSum, 1, &[0.0]);
    let p = [0.5f32, 0.4];
    let items = [ItemStats { age: 1e9, exposures: 1000, clicks: 0 }, ItemStats::default()];
    let off = RankPolicy::new(f.clone()).with_trace(true);
    let r = off.rank(&RankInput::new(&p).with_item_stats(&items)).unwrap();
    assert_eq!(r.order, vec![0, 1]);
    assert!(r.trace.unwrap().candidates.iter().all(|c| c.boost == 0.0));
    let on = off.with_boost(NewItemBoost::new(0.5, 3600.0, 100).unwrap());
    let r = on.rank(&RankInput::new(&p).with_item_stats(&items)).unwrap();
    assert_eq!(r.order, vec![1, 0]); // 0.4 · 1.5 = 0.6 > 0.5
    let t = r.trace.unwrap();
    assert_eq!((t.candidates[0].boost, t.candidates[1].boost), (0.0, 0.5));
    assert_eq!(t.candidates[1].score, 0.4f32 as f64 * 1.5);
}

// ---------------------------------------------------------------------------------------------
// Exploration

#[test]
fn thompson_and_ucb_converge_to_the_best_arm() {
    // Click rates 0.1 / 0.3 / 0.5 (gaps of 0.2), 3000 rounds, three seeds: in the second half
    // the best arm takes ≥ 80% of the pulls (measured over seeds 0..200: ≥ 96% for Thompson,
    // ≥ 89% for UCB1), it has the most pulls overall, and every arm is tried.
    let ctr = [0.1, 0.3, 0.5];
    for policy in [ExplorePolicy::THOMPSON, ExplorePolicy::UCB1] {
        for seed in [1u64, 7, 42] {
            let (pulls, late) = simulate(policy, &ctr, 3000, seed);
            let share = f64::from(late[2]) / 1500.0;
            assert!(share >= 0.8, "{policy:?} seed {seed}: best-arm share {share}, {pulls:?}");
            assert!(pulls.iter().all(|&n| n > 0), "{policy:?} seed {seed}: {pulls:?}");
            assert!(pulls[2] > pulls[0] + pulls[1], "{policy:?} seed {seed}: {pulls:?}");
        }
    }
}

#[test]
fn under_exposed_arms_are_explored_more() {
    // Two arms with the same observed click rate 0.08 as a third, better-known arm at 0.10: the
    // well-exposed one is almost never played over it, the under-exposed one often.
    let best = ArmStats::new(1000, 10_000);
    let known = ArmStats::new(800, 10_000);
    let fresh = ArmStats::new(2, 25);
    let mut rng = ExploreRng::new(99);
    let (mut known_wins, mut fresh_wins) = (0, 0);
    let draws = 2000;
    for _ in 0..draws {
        let v = ExplorePolicy::THOMPSON.arm_values(&[best, known, fresh], &mut rng).unwrap();
        known_wins += usize::from(v[1] > v[0]);
        fresh_wins += usize::from(v[2] > v[0]);
    }
    assert!(known_wins < draws / 100, "known arm beat the best {known_wins} times");
    assert!(fresh_wins > draws / 5, "fresh arm beat the best only {fresh_wins} times");

    let v = ExplorePolicy::UCB1.arm_values(&[best, known, fresh], &mut rng).unwrap();
    assert!(v[2] > v[0] && v[0] > v[1], "{v:?}");
}

#[test]
fn exploration_through_the_pipeline_converges_to_the_best_channel() {
    // One exploration slot (position 0) per request over three channels whose items are clicked
    // at 0.05 / 0.15 / 0.4 in that slot; the ranker prefers channel 0's items. In the second
    // 1000 requests the slot goes to channel 2 at least 800 times (measured over 100 world seeds:
    // ≥ 988 for Thompson, ≥ 912 for UCB1).
    let ctr = [0.05, 0.15, 0.4];
    let p = [0.9f32, 0.8, 0.7, 0.6, 0.5, 0.4];
    let sets: Vec<ChannelSet> =
        [0, 0, 1, 1, 2, 2].iter().map(|&c| ChannelSet::from_channels(&[c]).unwrap()).collect();
    let weights = ChannelWeights::new([("vector", 1.0), ("i2i", 1.0), ("fresh", 1.0)]).unwrap();
    for policy in [ExplorePolicy::THOMPSON, ExplorePolicy::UCB1] {
        let ranker = RankPolicy::new(fusion(FusionForm::WeightedSum, 1, &[0.0]))
            .with_channel_weights(weights.clone())
            .with_exploration(Exploration {
                policy,
                arms: ArmKind::Channels,
                slots: Slots { first: 0, every: 100 },
            })
            .unwrap()
            .with_trace(true);
        let mut stats = [ArmStats::default(); 3];
        let mut world = ExploreRng::new(3);
        let mut late_best = 0;
        for request in 0..2000u64 {
            let input = RankInput::new(&p)
                .with_channels(&sets)
                .with_channel_stats(&stats)
                .with_seed(request);
            let ranked = ranker.rank(&input).unwrap();
            let steps = ranked.trace.unwrap().exploration;
            assert_eq!(steps.len(), 1);
            let ExploreArm::Channel(ch) = steps[0].arm else { panic!("{:?}", steps[0]) };
            assert_eq!(ranked.order[0], steps[0].item);
            assert!(sets[steps[0].item].contains(ch));
            stats[ch].exposures += 1;
            if world.next_f64() < ctr[ch] {
                stats[ch].clicks += 1;
            }
            if request >= 1000 && ch == 2 {
                late_best += 1;
            }
        }
        assert!(late_best >= 800, "{policy:?}: channel 2 took {late_best} of 1000, {stats:?}");
    }
}

proptest! {
    #[test]
    fn exploration_off_is_identity(
        (tasks, n, p) in matrix(),
        items in items_strategy(40),
        seed in any::<u64>(),
        thompson in any::<bool>(),
    ) {
        let items = &items[..n];
        let policy = if thompson { ExplorePolicy::THOMPSON } else { ExplorePolicy::UCB1 };
        let f = fusion(FusionForm::Multiplicative, tasks, &[0.0, 0.5, 0.25, 1.0]);
        let input = RankInput::new(&p).with_item_stats(items).with_seed(seed);
        let off = RankPolicy::new(f.clone()).with_trace(true).rank(&input).unwrap();
        prop_assert_eq!(&off.order, &order_by(&off.scores));
        prop_assert!(off.trace.as_ref().unwrap().exploration.is_empty());
        // Slots past the end never fire: same output.
        let never = RankPolicy::new(f)
            .with_trace(true)
            .with_exploration(explore_items(policy, Slots { first: n, every: 1 }))
            .unwrap()
            .rank(&input)
            .unwrap();
        prop_assert_eq!(&never.order, &off.order);
        prop_assert_eq!(&never.scores, &off.scores);
    }

    #[test]
    fn exploration_is_a_seeded_permutation_that_only_touches_its_slots(
        (tasks, n, p) in matrix(),
        items in items_strategy(40),
        seed in any::<u64>(),
        thompson in any::<bool>(),
        first in 0usize..5,
        every in 1usize..5,
    ) {
        let items = &items[..n];
        let policy = if thompson { ExplorePolicy::THOMPSON } else { ExplorePolicy::UCB1 };
        let slots = Slots { first, every };
        let ranker = RankPolicy::new(fusion(FusionForm::WeightedSum, tasks, &[0.0, 1.0, 1.0, 1.0]))
            .with_exploration(explore_items(policy, slots))
            .unwrap()
            .with_trace(true);
        let input = RankInput::new(&p).with_item_stats(items).with_seed(seed);
        let a = ranker.rank(&input).unwrap();
        prop_assert_eq!(&a, &ranker.rank(&input).unwrap()); // deterministic
        let mut sorted = a.order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let trace = a.trace.unwrap();
        let mut placed = vec![false; n];
        for (pos, &c) in a.order.iter().enumerate() {
            let best_left = order_by(&a.scores).into_iter().find(|&x| !placed[x]).unwrap();
            if slots.is_slot(pos) {
                let step = trace.exploration.iter().find(|s| s.position == pos).unwrap();
                prop_assert_eq!((step.item, step.exploit), (c, best_left));
                prop_assert!(trace.candidates[c].explored);
            } else {
                // Exploit positions hold the best remaining candidate by score.
                prop_assert_eq!(c, best_left);
            }
            prop_assert_eq!(trace.candidates[c].position, pos);
            placed[c] = true;
        }
        prop_assert_eq!(trace.exploration.len(), (0..n).filter(|&q| slots.is_slot(q)).count());
    }

    #[test]
    fn no_input_panics(
        tasks in 1usize..4,
        p in prop::collection::vec(prop_oneof![any::<f32>(), 0.0f32..1.0], 0..30),
        ages in prop::collection::vec(prop_oneof![any::<f32>(), 0.0f32..10.0], 0..12),
        counts in prop::collection::vec((any::<u32>(), any::<u32>()), 0..12),
        bits in prop::collection::vec(any::<u64>(), 0..12),
        stats in prop::collection::vec((0u32..5, 0u32..5), 0..5),
        channel_arms in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let items: Vec<ItemStats> = ages
            .iter()
            .zip(&counts)
            .map(|(&age, &(exposures, clicks))| ItemStats { age, exposures, clicks })
            .collect();
        let sets: Vec<ChannelSet> = bits.iter().map(|&b| ChannelSet(b)).collect();
        let stats: Vec<ArmStats> = stats.iter().map(|&(c, e)| ArmStats::new(c, e)).collect();
        let arms = if channel_arms { ArmKind::Channels } else { ArmKind::Items };
        let ranker = RankPolicy::new(fusion(FusionForm::Multiplicative, tasks, &[0.0, 1.0, -0.5]))
            .with_boost(NewItemBoost::new(1.0, 5.0, 3).unwrap())
            .with_exploration(Exploration { policy: ExplorePolicy::THOMPSON, arms, slots: Slots::every(2) })
            .unwrap()
            .with_trace(true);
        let input = RankInput::new(&p)
            .with_item_stats(&items)
            .with_channels(&sets)
            .with_channel_stats(&stats)
            .with_seed(seed);
        if let Ok(r) = ranker.rank(&input) {
            prop_assert_eq!(r.order.len(), p.len() / tasks);
            prop_assert!(r.scores.iter().all(|s| s.is_finite() && *s >= 0.0));
        }
        let _ = truncate_by_prior(&p, tasks);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn every_bad_input_is_a_typed_error() {
    let f = fusion(FusionForm::WeightedSum, 2, &[0.0, 1.0]);
    let p = [0.5f32, 0.5, 0.25, 0.25];
    let plain = RankPolicy::new(f.clone());

    // The probability matrix.
    assert_eq!(
        plain.rank(&RankInput::new(&p[..3])),
        Err(Error::ShapeMismatch { what: "task probabilities", len: 3, dim: 2 })
    );
    assert!(matches!(
        plain.rank(&RankInput::new(&[0.5, 0.5, 0.25, f32::NAN])),
        Err(Error::InvalidProbability { task, candidate: 1, value }) if task == "like" && value.is_nan()
    ));
    assert!(matches!(
        plain.rank(&RankInput::new(&[1.5, 0.5])),
        Err(Error::InvalidProbability { candidate: 0, value: 1.5, .. })
    ));

    // Configuration.
    assert!(matches!(
        Fusion::new(FusionForm::WeightedSum, ["click"], "ctr"),
        Err(Error::UnknownTask { .. })
    ));
    assert!(matches!(f.clone().with_weight("shares", 1.0), Err(Error::UnknownTask { .. })));
    for w in [f32::NAN, -1.0] {
        assert!(matches!(f.clone().with_weight("like", w), Err(Error::InvalidWeight { .. })));
        assert!(matches!(ChannelWeights::new([("a", w)]), Err(Error::InvalidWeight { .. })));
    }
    assert!(matches!(
        NewItemBoost::new(1.0, f32::NAN, 1),
        Err(Error::InvalidArgument { name: "target_age", .. })
    ));
    assert!(matches!(
        plain
            .clone()
            .with_exploration(explore_items(ExplorePolicy::Ucb1 { c: -1.0 }, Slots::every(3))),
        Err(Error::InvalidArgument { name: "c", .. })
    ));
    assert!(matches!(
        plain.clone().with_exploration(explore_items(ExplorePolicy::UCB1, Slots::every(0))),
        Err(Error::InvalidArgument { name: "slots", .. })
    ));
    assert!(matches!(plain.clone().with_pre_rank(0), Err(Error::InvalidArgument { .. })));
    assert_eq!(
        plain.pre_rank(&[0.1, f32::INFINITY]),
        Err(Error::NonFinite { what: "prior score", position: 1 })
    );

    // Per-candidate inputs.
    let weighted =
        plain.clone().with_channel_weights(ChannelWeights::new([("a", 1.0), ("b", 2.0)]).unwrap());
    let one_set = [ChannelSet(1)];
    assert_eq!(
        weighted.rank(&RankInput::new(&p).with_channels(&one_set)),
        Err(Error::LengthMismatch { what: "channels", expected: 2, received: 1 })
    );
    assert_eq!(
        weighted.rank(&RankInput::new(&p).with_channels(&[ChannelSet(1), ChannelSet(0b100)])),
        Err(Error::UnknownChannel { candidate: 1, channel: 2, channels: 2 })
    );
    assert!(matches!(
        weighted.rank(
            &RankInput::new(&p)
                .with_channels(&[ChannelSet(1), ChannelSet(2)])
                .with_channel_stats(&[ArmStats::new(0, 1)])
        ),
        Err(Error::InvalidArgument { name: "channel stats", .. })
    ));
    assert!(matches!(weighted.rank(&RankInput::new(&p)), Err(Error::InvalidArgument { .. })));
    assert_eq!(
        plain.rank(&RankInput::new(&p).with_item_stats(&[ItemStats::default()])),
        Err(Error::LengthMismatch { what: "item stats", expected: 2, received: 1 })
    );
    let nan_age = [ItemStats::default(), ItemStats { age: f32::NAN, ..ItemStats::default() }];
    assert_eq!(
        plain.rank(&RankInput::new(&p).with_item_stats(&nan_age)),
        Err(Error::NonFinite { what: "item age", position: 1 })
    );
    let too_many_clicks = [ItemStats { age: 0.0, exposures: 1, clicks: 2 }, ItemStats::default()];
    assert_eq!(
        plain.rank(&RankInput::new(&p).with_item_stats(&too_many_clicks)),
        Err(Error::InvalidArmStats { arm: 0, clicks: 2, exposures: 1 })
    );
    let channel_arms = plain
        .clone()
        .with_exploration(Exploration {
            policy: ExplorePolicy::THOMPSON,
            arms: ArmKind::Channels,
            slots: Slots::every(2),
        })
        .unwrap();
    let sets = [ChannelSet(1), ChannelSet(2)];
    assert!(matches!(
        channel_arms.rank(&RankInput::new(&p)),
        Err(Error::InvalidArgument { name: "channels", .. })
    ));
    assert!(matches!(
        channel_arms.rank(&RankInput::new(&p).with_channels(&sets)),
        Err(Error::InvalidArgument { name: "channel stats", .. })
    ));
    assert_eq!(
        channel_arms.rank(
            &RankInput::new(&p)
                .with_channels(&sets)
                .with_channel_stats(&[ArmStats::new(0, 0), ArmStats::new(5, 4)])
        ),
        Err(Error::InvalidArmStats { arm: 1, clicks: 5, exposures: 4 })
    );
    assert_eq!(
        channel_arms.rank(
            &RankInput::new(&p).with_channels(&sets).with_channel_stats(&[ArmStats::new(0, 0)])
        ),
        Err(Error::UnknownChannel { candidate: 1, channel: 1, channels: 1 })
    );
    let item_arms =
        plain.with_exploration(explore_items(ExplorePolicy::THOMPSON, Slots::every(2))).unwrap();
    assert!(matches!(
        item_arms.rank(&RankInput::new(&p)),
        Err(Error::InvalidArgument { name: "item stats", .. })
    ));
}
