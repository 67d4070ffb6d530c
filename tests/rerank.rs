//! The re-rank stage: conformance with the published reference outputs, properties of MMR, DPP
//! and the rule pipeline (proptest), and the typed error of every bad input.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/rerank_conformance.rs"]
mod rerank_conformance;

use edgerec::Error;
use edgerec::rerank::{
    Candidates, Constraint, DppParams, Embeddings, Enforcement, Kernel, MmrParams, Reranker, Rule,
    Selector, Similarity, StopReason, Strategy, dpp_greedy, mmr,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Conformance

#[test]
fn selections_match_the_reference_implementations() {
    if let Err(e) = rerank_conformance::check_all(&rerank_conformance::EMBEDDED) {
        panic!("{e}");
    }
}

#[test]
fn the_conformance_check_detects_a_wrong_selection() {
    // Guard against a check that passes vacuously: corrupt one index of each expected list.
    let f = rerank_conformance::EMBEDDED;
    let dpp = String::from_utf8_lossy(f.dpp_json).replacen("[950, 603", "[950, 604", 1);
    assert!(rerank_conformance::check_dpp(f.dpp_kernel_npy, dpp.as_bytes()).is_err());
    let sw = String::from_utf8_lossy(f.dpp_json).replacen("774, 373", "373, 774", 1);
    let err = rerank_conformance::check_dpp(f.dpp_kernel_npy, sw.as_bytes()).unwrap_err();
    assert!(err.contains("window 10") && err.contains("position 10"), "{err}");
    let mmr = String::from_utf8_lossy(f.mmr_json).replacen("[376, 853", "[376, 332", 1);
    let err = rerank_conformance::check_mmr(f.mmr_items_npy, f.mmr_query_npy, mmr.as_bytes())
        .unwrap_err();
    assert!(err.contains("λ=0.7"), "{err}");
}

/// The fixtures are copies of the reference outputs (the DPP authors' code, a well-known MMR
/// implementation); `tests/fixtures/SHA256SUMS` records their digests as copied, so an edited
/// or truncated fixture fails here instead of silently moving the conformance target.
#[test]
fn fixtures_match_their_recorded_digests() {
    use sha2::{Digest, Sha256};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("tests/fixtures/SHA256SUMS");
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hex, name) = line.split_once("  ").expect("sha256sum format: HEX  NAME");
        let bytes = std::fs::read(dir.join(name)).expect("fixture readable");
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, hex, "tests/fixtures/{name} changed since it was copied");
        checked += 1;
    }
    assert_eq!(checked, 5, "every fixture is listed");
}

#[test]
fn npy_reader_accepts_f32_and_rejects_garbage() {
    // A hand-built f32 C-order (2, 2) array.
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for x in [1.5f32, -2.0, 0.25, 3.0] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let (values, shape) = rerank_conformance::read_npy(&bytes).unwrap();
    assert_eq!(shape, vec![2, 2]);
    assert_eq!(values, vec![1.5, -2.0, 0.25, 3.0]);
    assert!(rerank_conformance::read_npy(&bytes[..bytes.len() - 2]).is_err());
    assert!(rerank_conformance::read_npy(b"not an npy file").is_err());
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Relevance order: descending, ties to the lower index.
fn relevance_order(rel: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rel.len()).collect();
    order.sort_by(|&a, &b| rel[b].total_cmp(&rel[a]).then(a.cmp(&b)));
    order
}

fn gram(features: &[Vec<f64>]) -> Vec<f64> {
    let n = features.len();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            l[i * n + j] = features[i].iter().zip(&features[j]).map(|(a, b)| a * b).sum();
        }
    }
    l
}

/// Determinant of the principal submatrix of `l` on `idx`, by Gaussian elimination with partial
/// pivoting (the naive oracle: nothing shared with the incremental Cholesky under test).
fn det(l: &[f64], n: usize, idx: &[usize]) -> f64 {
    let m = idx.len();
    let mut a: Vec<f64> =
        idx.iter().flat_map(|&i| idx.iter().map(move |&j| l[i * n + j])).collect();
    let mut d = 1.0;
    for col in 0..m {
        let piv = (col..m).max_by(|&x, &y| a[x * m + col].abs().total_cmp(&a[y * m + col].abs()));
        let Some(piv) = piv else { return 0.0 };
        if a[piv * m + col] == 0.0 {
            return 0.0;
        }
        if piv != col {
            for c in 0..m {
                a.swap(piv * m + c, col * m + c);
            }
            d = -d;
        }
        d *= a[col * m + col];
        for r in col + 1..m {
            let f = a[r * m + col] / a[col * m + col];
            for c in col..m {
                a[r * m + c] -= f * a[col * m + c];
            }
        }
    }
    d
}

/// Naive greedy log-det MAP: at each step the candidate maximizing
/// `det(L_{W∪i}) / det(L_W)` over the window `W` (the last `w − 1` picks, or all), ties to the
/// lower index; stop when the best ratio is below `epsilon`.
fn naive_dpp(l: &[f64], n: usize, k: usize, window: Option<usize>, epsilon: f64) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < k {
        let keep = window.map_or(picked.len(), |w| picked.len().min(w - 1));
        let w_set = &picked[picked.len() - keep..];
        let base = det(l, n, w_set);
        let mut best: Option<(usize, f64)> = None;
        for i in (0..n).filter(|i| !picked.contains(i)) {
            let mut with = w_set.to_vec();
            with.push(i);
            let gain = det(l, n, &with) / base;
            if best.is_none_or(|(_, g)| gain > g) {
                best = Some((i, gain));
            }
        }
        match best {
            Some((i, g)) if g >= epsilon => picked.push(i),
            _ => break,
        }
    }
    picked
}

fn features(values: &[f64], n: usize, dim: usize) -> Vec<Vec<f64>> {
    values.chunks(dim).take(n).map(<[f64]>::to_vec).collect()
}

// ---------------------------------------------------------------------------------------------
// MMR and DPP properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn dpp_greedy_equals_naive_log_det_search(
        n in 2usize..9,
        dim in 2usize..10,
        values in prop::collection::vec(-1.0f64..1.0, 90),
        scale in prop::collection::vec(0.2f64..2.0, 9),
        k_frac in 0.0f64..1.0,
        window in prop::option::of(1usize..5),
    ) {
        let f: Vec<Vec<f64>> = features(&values, n, dim)
            .into_iter()
            .zip(&scale)
            .map(|(row, s)| row.into_iter().map(|x| x * s).collect())
            .collect();
        prop_assume!(f.iter().all(|row| row.iter().any(|x| x.abs() > 1e-3)));
        let l = gram(&f);
        let k = 1 + ((n - 1) as f64 * k_frac) as usize;
        let kernel = Kernel::new(l.clone(), n, n).unwrap();
        let params = DppParams { window, ..DppParams::default() };
        let fast = dpp_greedy(&kernel, k, params).unwrap();
        // When dim < n the kernel has rank < n and both must stop at the same point; gains
        // within 1e-6 of ε would be decided by rounding, so such cases are skipped.
        let naive = naive_dpp(&l, n, k, window, params.epsilon);
        let naive_loose = naive_dpp(&l, n, k, window, 1e-6);
        prop_assume!(naive == naive_loose);
        prop_assert_eq!(fast, naive);
    }

    #[test]
    fn dpp_with_theta_near_one_is_relevance_order(
        n in 2usize..9,
        values in prop::collection::vec(-1.0f64..1.0, 9 * 16),
        perm_seed in prop::collection::vec(0u32..1000, 9),
    ) {
        // Distinct relevance with gaps of 0.05; α = 300 makes e^{2αδ} = e^30 dwarf any
        // diversity factor of random 16-d embeddings.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (perm_seed[i], i));
        let mut rel = vec![0.0; n];
        for (rank, &i) in order.iter().enumerate() {
            rel[i] = 0.05 * rank as f64;
        }
        let e = Embeddings::new(values[..n * 16].to_vec(), 16).unwrap();
        let s = Similarity::cosine(e);
        let theta = 600.0 / 601.0; // α = θ / (2(1 − θ)) = 300
        let kernel = Kernel::from_quality(&rel, &s, theta).unwrap();
        let picked =
            dpp_greedy(&kernel, n, DppParams { window: None, epsilon: 1e-300 }).unwrap();
        prop_assert_eq!(picked.clone(), relevance_order(&rel));
        // The pipeline (rows computed on demand) agrees with the dense kernel.
        let candidates = Candidates::new(rel.clone()).unwrap().with_similarity(s).unwrap();
        let strategy = Strategy::Dpp { theta, params: DppParams { window: None, epsilon: 1e-300 } };
        let out = Reranker::new(strategy).unwrap().rerank(&candidates, n).unwrap();
        prop_assert_eq!(out.items, picked);
    }

    #[test]
    fn mmr_with_lambda_one_is_relevance_order(
        n in 1usize..40,
        rel in prop::collection::vec(prop::sample::select(vec![0.0, 0.25, 0.5, 0.75, 1.0]), 40),
        values in prop::collection::vec(-1.0f64..1.0, 40 * 3),
        window in prop::option::of(1usize..4),
    ) {
        let rel = &rel[..n];
        let s = Similarity::cosine(Embeddings::new(values[..n * 3].to_vec(), 3).unwrap());
        let picked = mmr(rel, &s, n, MmrParams { lambda: 1.0, window }).unwrap();
        prop_assert_eq!(picked, relevance_order(rel));
    }

    #[test]
    fn mmr_matches_a_naive_recomputation(
        n in 2usize..30,
        rel in prop::collection::vec(0.0f64..1.0, 30),
        values in prop::collection::vec(-1.0f64..1.0, 30 * 4),
        lambda in 0.0f64..1.0,
        window in prop::option::of(1usize..5),
    ) {
        let rel = &rel[..n];
        let e = Embeddings::new(values[..n * 4].to_vec(), 4).unwrap();
        let s = Similarity::cosine(e);
        let picked = mmr(rel, &s, n, MmrParams { lambda, window }).unwrap();
        // Naive: recompute max over W from scratch at every step.
        let mut naive: Vec<usize> = vec![relevance_order(rel)[0]];
        while naive.len() < n {
            let w = &naive[naive.len() - window.map_or(naive.len(), |w| w.min(naive.len()))..];
            let mut best: Option<(usize, f64)> = None;
            for i in (0..n).filter(|i| !naive.contains(i)) {
                let red = w.iter().map(|&j| s.get(i, j)).fold(f64::NEG_INFINITY, f64::max);
                let score = lambda * rel[i] - (1.0 - lambda) * red;
                if best.is_none_or(|(_, b)| score > b) {
                    best = Some((i, score));
                }
            }
            naive.push(best.unwrap().0);
        }
        prop_assert_eq!(picked, naive);
    }
}

// ---------------------------------------------------------------------------------------------
// Rules

/// An independent check of one rule on a finished list: `true` when the list violates it.
fn violates(rule: &Rule, out: &[usize], c: &Candidates) -> bool {
    let col = |a: &str| c.attribute(a).expect("attribute exists");
    let matches = |sel: &Selector, i: usize| match sel {
        Selector::Item(x) => *x == i,
        Selector::Value { attribute, value } => col(attribute)[i] == Some(*value),
    };
    let over = |vals: Vec<Option<u32>>, max: usize, only: Option<u32>| {
        let mut seen: Vec<u32> = vals.into_iter().flatten().collect();
        seen.sort_unstable();
        seen.chunk_by(|a, b| a == b).any(|g| only.is_none_or(|v| v == g[0]) && g.len() > max)
    };
    match &rule.constraint {
        Constraint::MaxConsecutive { attribute, n } => out.windows(n + 1).any(|w| {
            let a = col(attribute);
            a[w[0]].is_some() && w.iter().all(|&i| a[i] == a[w[0]])
        }),
        Constraint::MaxPerWindow { attribute, max, window } => (0..out.len()).any(|s| {
            let end = (s + window).min(out.len());
            over(out[s..end].iter().map(|&i| col(attribute)[i]).collect(), *max, None)
        }),
        Constraint::MaxInTop { attribute, value, max, top } => {
            let end = (*top).min(out.len());
            over(out[..end].iter().map(|&i| col(attribute)[i]).collect(), *max, *value)
        }
        Constraint::MinInTop { attribute, value, min, top } => {
            // Only a full top can be judged (a shorter list had fewer positions to fill).
            out.len() >= *top
                && out[..*top].iter().filter(|&&i| col(attribute)[i] == Some(*value)).count() < *min
        }
        Constraint::Pin { selector, position } => {
            *position < out.len() && !matches(selector, out[*position])
        }
        Constraint::Promote { selector, every, offset } => {
            (*offset..out.len()).step_by(*every).any(|p| !matches(selector, out[p]))
        }
        Constraint::Dedupe { attribute } => {
            over(out.iter().map(|&i| col(attribute)[i]).collect(), 1, None)
        }
    }
}

fn attr_name() -> impl proptest::strategy::Strategy<Value = String> {
    prop::sample::select(vec!["cat".to_string(), "kind".to_string()])
}

fn constraint(n: usize) -> impl proptest::strategy::Strategy<Value = Constraint> {
    let selector = prop_oneof![
        (0..n).prop_map(Selector::Item),
        (attr_name(), 0u32..3).prop_map(|(attribute, value)| Selector::Value { attribute, value }),
    ];
    prop_oneof![
        (attr_name(), 1usize..4)
            .prop_map(|(attribute, n)| Constraint::MaxConsecutive { attribute, n }),
        (attr_name(), 1usize..3, 1usize..6).prop_map(|(attribute, max, window)| {
            Constraint::MaxPerWindow { attribute, max, window }
        }),
        (attr_name(), prop::option::of(0u32..3), 0usize..3, 1usize..8).prop_map(
            |(attribute, value, max, top)| Constraint::MaxInTop { attribute, value, max, top }
        ),
        (attr_name(), 0u32..3, 0usize..4, 1usize..8).prop_map(|(attribute, value, min, top)| {
            Constraint::MinInTop { attribute, value, min: min.min(top), top }
        }),
        (selector.clone(), 0usize..12)
            .prop_map(|(selector, position)| Constraint::Pin { selector, position }),
        (selector, 2usize..6, 0usize..4)
            .prop_map(|(selector, every, offset)| Constraint::Promote { selector, every, offset }),
        attr_name().prop_map(|attribute| Constraint::Dedupe { attribute }),
    ]
}

fn rule(n: usize) -> impl proptest::strategy::Strategy<Value = Rule> {
    (constraint(n), prop::option::of(0u32..4)).prop_map(|(c, p)| match p {
        None => Rule::hard(c),
        Some(priority) => Rule::soft(c, priority),
    })
}

fn priority(rule: &Rule) -> u32 {
    match rule.enforcement {
        Enforcement::Soft { priority } => priority,
        Enforcement::Hard => u32::MAX,
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    rel: Vec<f64>,
    cat: Vec<Option<u32>>,
    kind: Vec<Option<u32>>,
    emb: Vec<f64>,
    rules: Vec<Rule>,
    k: usize,
    strategy: u8,
}

fn scenario() -> impl proptest::strategy::Strategy<Value = Scenario> {
    (4usize..24).prop_flat_map(|n| {
        (
            prop::collection::vec(0.0f64..1.0, n),
            prop::collection::vec(prop::option::weighted(0.9, 0u32..4), n),
            prop::collection::vec(prop::option::weighted(0.8, 0u32..3), n),
            prop::collection::vec(-1.0f64..1.0, n * 5),
            prop::collection::vec(rule(n), 0..5),
            1..=n,
            0u8..4,
        )
            .prop_map(|(rel, cat, kind, emb, rules, k, strategy)| Scenario {
                rel,
                cat,
                kind,
                emb,
                rules,
                k,
                strategy,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn rules_hold_unless_a_soft_rule_gave_way_in_priority_order(s in scenario()) {
        let sim = Similarity::cosine(Embeddings::new(s.emb.clone(), 5).unwrap());
        let candidates = Candidates::new(s.rel.clone()).unwrap()
            .with_similarity(sim).unwrap()
            .with_attribute("cat", s.cat.clone()).unwrap()
            .with_attribute("kind", s.kind.clone()).unwrap();
        let strategy = match s.strategy {
            0 => Strategy::Relevance,
            1 => Strategy::Mmr(MmrParams::new(0.6)),
            2 => Strategy::Mmr(MmrParams { lambda: 0.3, window: Some(2) }),
            _ => Strategy::Dpp { theta: 0.7, params: DppParams { window: Some(3), ..DppParams::default() } },
        };
        let reranker = Reranker::new(strategy).unwrap()
            .with_rules(s.rules.clone()).unwrap()
            .with_trace(true);
        match reranker.rerank(&candidates, s.k) {
            Err(Error::RulesInfeasible { rules, .. }) => {
                prop_assert!(!rules.is_empty());
                prop_assert!(rules.iter().all(|&r| s.rules[r].is_hard()), "{rules:?}");
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(out) => {
                let trace = out.trace.expect("trace on");
                prop_assert_eq!(trace.steps.iter().map(|t| t.item).collect::<Vec<_>>(), out.items.clone());
                // A distinct permutation prefix of length k, unless DPP ran out of gain.
                let mut sorted = out.items.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), out.items.len());
                match trace.stop {
                    StopReason::ReachedK => prop_assert_eq!(out.items.len(), s.k),
                    StopReason::GainBelowEpsilon { position, .. } => {
                        prop_assert_eq!(position, out.items.len())
                    }
                }
                let mut relaxed_anywhere = vec![false; s.rules.len()];
                for step in &trace.steps {
                    // Only soft rules give way, least important first.
                    for pair in step.relaxed.windows(2) {
                        let (a, b) = (&s.rules[pair[0]], &s.rules[pair[1]]);
                        prop_assert!(
                            priority(a) < priority(b) || (priority(a) == priority(b) && pair[0] > pair[1]),
                            "relaxed out of order: {:?}", step.relaxed
                        );
                    }
                    for &r in &step.relaxed {
                        prop_assert!(!s.rules[r].is_hard(), "hard rule {r} relaxed");
                        relaxed_anywhere[r] = true;
                    }
                    // The chosen item was not excluded by an enforced rule.
                    for ex in &step.excluded {
                        prop_assert!(!ex.items.contains(&step.item));
                        prop_assert!(!step.relaxed.contains(&ex.rule));
                    }
                }
                for (r, rule) in s.rules.iter().enumerate() {
                    if violates(rule, &out.items, &candidates) {
                        prop_assert!(
                            relaxed_anywhere[r],
                            "rule {r} {rule:?} violated by {:?} without being relaxed", out.items
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn soft_rules_give_way_lowest_priority_first() {
    // Every candidate has category 0, so "at most 1 consecutive" and "at most 1 per window of 3"
    // both block position 1. Dedupe (priority 5) blocks too; the least important goes first,
    // and a more important rule gives way only when keeping it leaves nothing.
    let c = Candidates::new(vec![0.9, 0.8, 0.7])
        .unwrap()
        .with_attribute("cat", vec![Some(0), Some(0), Some(1)])
        .unwrap();
    let rules = vec![
        Rule::soft(Constraint::MaxConsecutive { attribute: "cat".into(), n: 1 }, 3),
        Rule::soft(Constraint::Dedupe { attribute: "cat".into() }, 5),
        Rule::soft(Constraint::MaxPerWindow { attribute: "cat".into(), max: 1, window: 3 }, 1),
    ];
    let out = Reranker::new(Strategy::Relevance)
        .unwrap()
        .with_rules(rules)
        .unwrap()
        .with_trace(true)
        .rerank(&c, 3)
        .unwrap();
    // Position 1: all three rules exclude item 1, item 2 (category 1) is chosen. Position 2:
    // only item 1 is left; dedupe (rule 1) and the window quota (rule 2) block it and give way,
    // least important first; the run limit (rule 0) no longer blocks after item 2 and is kept.
    assert_eq!(out.items, vec![0, 2, 1]);
    let trace = out.trace.unwrap();
    assert!(trace.steps[1].relaxed.is_empty());
    assert_eq!(trace.steps[1].excluded.len(), 3);
    assert_eq!(trace.steps[2].relaxed, vec![2, 1]);
    assert_eq!(trace.steps[2].excluded, vec![]);
}

#[test]
fn pins_and_promotions_reserve_their_items() {
    // Item 0 is the most relevant but pinned at 3; items of kind 1 are promoted at 1 and 4.
    let c = Candidates::new(vec![1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
        .unwrap()
        .with_attribute("kind", vec![None, Some(1), None, None, None, Some(1), None])
        .unwrap();
    let rules = vec![
        Rule::hard(Constraint::Pin { selector: Selector::Item(0), position: 3 }),
        Rule::hard(Constraint::Promote {
            selector: Selector::Value { attribute: "kind".into(), value: 1 },
            every: 3,
            offset: 1,
        }),
    ];
    let out = Reranker::new(Strategy::Relevance).unwrap().with_rules(rules).unwrap();
    let out = out.with_trace(true).rerank(&c, 6).unwrap();
    assert_eq!(out.items, vec![2, 1, 3, 0, 5, 4]);
    let trace = out.trace.unwrap();
    // Position 0: the pin holds item 0 back and the promotion both kind-1 items.
    assert_eq!(trace.steps[0].excluded[0].items, vec![0]);
    assert_eq!(trace.steps[0].excluded[1].items, vec![1, 5]);
}

#[test]
fn scatter_rules_shape_the_list() {
    let cat = vec![Some(0), Some(0), Some(0), Some(1), Some(1), Some(2), Some(0), Some(1)];
    let rel: Vec<f64> = (0..8).map(|i| 1.0 - 0.1 * i as f64).collect();
    let c = Candidates::new(rel).unwrap().with_attribute("cat", cat).unwrap();
    let rerank = |rule: Constraint, k: usize| {
        Reranker::new(Strategy::Relevance)
            .unwrap()
            .with_rules(vec![Rule::hard(rule)])
            .unwrap()
            .rerank(&c, k)
            .map(|out| out.items)
    };
    let a = || "cat".to_string();
    assert_eq!(
        rerank(Constraint::MaxConsecutive { attribute: a(), n: 2 }, 6),
        Ok(vec![0, 1, 3, 2, 4, 5])
    );
    let per_window = || Constraint::MaxPerWindow { attribute: a(), max: 1, window: 3 };
    assert_eq!(rerank(per_window(), 5), Ok(vec![0, 3, 5, 1, 4]));
    // A sixth item would need a category other than 0 (item 1) and 1 (item 4): none is left.
    assert_eq!(
        rerank(per_window(), 6),
        Err(Error::RulesInfeasible { position: 5, rules: vec![0] })
    );
    assert_eq!(
        rerank(Constraint::MaxInTop { attribute: a(), value: Some(0), max: 1, top: 4 }, 6),
        Ok(vec![0, 3, 4, 5, 1, 2])
    );
    assert_eq!(rerank(Constraint::Dedupe { attribute: a() }, 3), Ok(vec![0, 3, 5]));
}

// ---------------------------------------------------------------------------------------------
// Typed errors of the pipeline (the functions' own are in the unit tests)

fn two() -> Candidates {
    Candidates::new(vec![1.0, 0.5]).unwrap().with_attribute("cat", vec![Some(1), Some(1)]).unwrap()
}

#[test]
fn bad_candidates_are_typed_errors() {
    assert_eq!(Candidates::new(vec![]), Err(Error::NoCandidates));
    assert_eq!(
        Candidates::new(vec![0.1, f64::NAN]),
        Err(Error::NonFinite { what: "relevance", position: 1 })
    );
    assert_eq!(
        two().with_attribute("x", vec![None]),
        Err(Error::LengthMismatch { what: "attribute values", expected: 2, received: 1 })
    );
    assert!(matches!(
        two().with_attribute("cat", vec![None, None]),
        Err(Error::InvalidArgument { name: "attribute", .. })
    ));
    let k1 = Kernel::new(vec![1.0], 1, 1).unwrap();
    assert_eq!(
        two().with_kernel(k1),
        Err(Error::LengthMismatch { what: "DPP kernel", expected: 2, received: 1 })
    );
    let s3 = Similarity::cosine(Embeddings::new(vec![1.0; 3], 1).unwrap());
    assert_eq!(
        two().with_similarity(s3),
        Err(Error::LengthMismatch { what: "similarity", expected: 2, received: 3 })
    );
}

#[test]
fn bad_pipelines_are_typed_errors() {
    let relevance = Reranker::new(Strategy::Relevance).unwrap();
    assert_eq!(relevance.rerank(&two(), 3), Err(Error::InvalidK { k: 3, max: 2 }));
    assert_eq!(relevance.rerank(&two(), 0), Err(Error::InvalidK { k: 0, max: 2 }));
    let mmr = Reranker::new(Strategy::Mmr(MmrParams::new(0.5))).unwrap();
    assert!(matches!(
        mmr.rerank(&two(), 1),
        Err(Error::InvalidArgument { name: "similarity", .. })
    ));
    assert!(matches!(
        Reranker::new(Strategy::Mmr(MmrParams::new(-0.1))),
        Err(Error::InvalidArgument { name: "lambda", .. })
    ));
    assert!(matches!(
        Reranker::new(Strategy::Dpp { theta: 1.0, params: DppParams::default() }),
        Err(Error::InvalidArgument { name: "theta", .. })
    ));
    assert!(matches!(
        Reranker::new(Strategy::Dpp {
            theta: 0.5,
            params: DppParams { epsilon: 0.0, window: None }
        }),
        Err(Error::InvalidArgument { name: "epsilon", .. })
    ));
    let dpp = Reranker::new(Strategy::Dpp { theta: 0.5, params: DppParams::default() }).unwrap();
    assert!(matches!(
        dpp.rerank(&two(), 1),
        Err(Error::InvalidArgument { name: "similarity", .. })
    ));
}

#[test]
fn bad_rules_are_typed_errors() {
    let base = || Reranker::new(Strategy::Relevance).unwrap();
    let zero = [
        Constraint::MaxConsecutive { attribute: "cat".into(), n: 0 },
        Constraint::MaxPerWindow { attribute: "cat".into(), max: 1, window: 0 },
        Constraint::MaxPerWindow { attribute: "cat".into(), max: 0, window: 2 },
        Constraint::MaxInTop { attribute: "cat".into(), value: None, max: 1, top: 0 },
        Constraint::Promote { selector: Selector::Item(0), every: 0, offset: 0 },
    ];
    for c in zero {
        let rules =
            vec![Rule::soft(Constraint::Dedupe { attribute: "cat".into() }, 0), Rule::hard(c)];
        assert!(matches!(base().with_rules(rules), Err(Error::InvalidRule { rule: 1, .. })));
    }
    let too_many = vec![Rule::hard(Constraint::Dedupe { attribute: "cat".into() }); 65];
    assert!(matches!(
        base().with_rules(too_many),
        Err(Error::InvalidArgument { name: "rules", .. })
    ));
    let unknown =
        base().with_rules(vec![Rule::hard(Constraint::Dedupe { attribute: "genre".into() })]);
    assert!(matches!(unknown.unwrap().rerank(&two(), 1), Err(Error::InvalidRule { rule: 0, .. })));
    let out_of_range = base()
        .with_rules(vec![Rule::hard(Constraint::Pin { selector: Selector::Item(2), position: 0 })]);
    assert!(matches!(
        out_of_range.unwrap().rerank(&two(), 1),
        Err(Error::InvalidRule { rule: 0, .. })
    ));
}

#[test]
fn infeasible_hard_rules_are_a_typed_error_and_soft_ones_give_way() {
    let dedupe = Constraint::Dedupe { attribute: "cat".into() };
    let hard = Reranker::new(Strategy::Relevance).unwrap().with_rules(vec![
        Rule::soft(Constraint::MaxConsecutive { attribute: "cat".into(), n: 1 }, 0),
        Rule::hard(dedupe.clone()),
    ]);
    let err = hard.unwrap().rerank(&two(), 2).unwrap_err();
    assert_eq!(err, Error::RulesInfeasible { position: 1, rules: vec![1] });
    assert_eq!(err.code(), "RULES_INFEASIBLE");
    let soft = Reranker::new(Strategy::Relevance).unwrap().with_rules(vec![Rule::soft(dedupe, 0)]);
    let out = soft.unwrap().with_trace(true).rerank(&two(), 2).unwrap();
    assert_eq!(out.items, vec![0, 1]);
    assert_eq!(out.trace.unwrap().steps[1].relaxed, vec![0]);
}
