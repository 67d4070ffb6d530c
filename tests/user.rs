//! The on-device user model on the shipped MovieLens bundle: the tower against the server-side
//! formula, recall moving toward clicked genres (with and without fine-tuning), the gradient
//! step, validation, persistence and migration, determinism, and GPU/CPU parity (lavapipe
//! natively; skipped without a Vulkan adapter unless `EDGEREC_REQUIRE_GPU=1`).
#![cfg(not(target_arch = "wasm32"))]

use edgerec::Error;
use edgerec::bundle::builder::{BuildConfig, SourceData, SourceTensor, build};
use edgerec::bundle::items::ItemRecord;
use edgerec::bundle::{Bundle, LoadOptions, Similarity};
use edgerec::compute::gpu::GpuContext;
use edgerec::rng::SeededRng;
use edgerec::user::{
    self, GpuUserModel, Interaction, InteractionKind, MemoryStorage, UserConfig, UserModel,
    UserState,
};
use pollster::block_on;

#[path = "common/user_parity.rs"]
mod user_parity;
use std::sync::OnceLock;

const NOW: f64 = 1_700_000_000_000.0;
const MINUTE: f64 = 60_000.0;

fn bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/movielens-small");
        Bundle::open(std::path::Path::new(dir), &LoadOptions::default()).expect("sample bundle")
    })
}

fn model(config: UserConfig) -> UserModel {
    UserModel::from_bundle(bundle(), config).expect("user model")
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Item ids with `tag` (or without it), most popular first.
fn popular(tag: &str, with: bool, n: usize) -> Vec<String> {
    let b = bundle();
    let pop = b.tensor("stats.popularity").expect("popularity").dequantize();
    let mut rows: Vec<usize> =
        b.items().iter().filter(|i| i.tags().any(|t| t == tag) == with).map(|i| i.row()).collect();
    rows.sort_by(|a, b| pop[*b].total_cmp(&pop[*a]).then(a.cmp(b)));
    rows.iter().take(n).map(|r| b.items().get(*r).expect("row").id().to_string()).collect()
}

fn clicks(model: &UserModel, state: &mut UserState, ids: &[String], start: f64) {
    for (i, id) in ids.iter().enumerate() {
        let t = start + i as f64 * MINUTE;
        model.record(state, &Interaction::click(id.clone(), t), t).expect("click");
    }
}

/// The server-side user tower (`server/src/eval`'s `UserTower`), recomputed here from the
/// dequantized tensors in f64: mean of the last `n` history rows, then relu(W0·x + b0), then
/// W1·h + b1; normalized.
fn server_tower(ids: &[&str], n: usize) -> Vec<f32> {
    let b = bundle();
    let t = |name: &str| b.tensor(name).expect(name);
    let h = t("user_tower.history_embeddings");
    let dim = h.cols();
    let (hist, w0, b0, w1, b1) = (
        h.dequantize(),
        t("user_tower.w0").dequantize(),
        t("user_tower.b0").dequantize(),
        t("user_tower.w1").dequantize(),
        t("user_tower.b1").dequantize(),
    );
    let rows: Vec<usize> = ids.iter().map(|id| b.items().row_of(id).expect("id")).collect();
    let last = &rows[rows.len().saturating_sub(n)..];
    let mut pooled = vec![0.0f64; dim];
    for r in last {
        for (p, x) in pooled.iter_mut().zip(&hist[r * dim..(r + 1) * dim]) {
            *p += f64::from(*x) / last.len() as f64;
        }
    }
    let layer = |x: &[f64], w: &[f32], bias: &[f32], relu: bool| -> Vec<f64> {
        bias.iter()
            .enumerate()
            .map(|(o, bo)| {
                let z: f64 = w[o * x.len()..(o + 1) * x.len()]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| f64::from(*a) * b)
                    .sum::<f64>()
                    + f64::from(*bo);
                if relu { z.max(0.0) } else { z }
            })
            .collect()
    };
    let hidden = layer(&pooled, &w0, &b0, true);
    let q = layer(&hidden, &w1, &b1, false);
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    q.iter().map(|v| (v / n) as f32).collect()
}

/// The top `k` rows by cosine with `query`, excluding `consumed`.
fn top_k(query: &[f32], consumed: &[u32], k: usize) -> Vec<usize> {
    let emb = bundle().item_embeddings();
    let dim = emb.cols();
    let q = norm(query);
    let mut row = vec![0.0f32; dim];
    let mut scored: Vec<(f32, usize)> = (0..emb.rows())
        .filter(|r| !consumed.contains(&(*r as u32)))
        .map(|r| {
            emb.dequantize_row(r, &mut row);
            let d: f32 = row.iter().zip(query).map(|(a, b)| a * b).sum();
            (d / (norm(&row) * q), r)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|s| s.1).collect()
}

fn count_tag(rows: &[usize], tag: &str) -> usize {
    let items = bundle().items();
    rows.iter().filter(|r| items.get(**r).is_some_and(|i| i.tags().any(|t| t == tag))).count()
}

#[test]
fn tower_query_equals_the_server_formula() {
    let m = model(UserConfig::default());
    let ids: Vec<String> = popular("Drama", true, 70);
    for len in [1, 3, 50, 70] {
        let mut state = UserState::new();
        clicks(&m, &mut state, &ids[..len], NOW);
        let refs: Vec<&str> = ids[..len].iter().map(String::as_str).collect();
        let expected = server_tower(&refs, 50);
        let got = m.tower_query(&state).unwrap().expect("warm user");
        assert!((norm(&got) - 1.0).abs() < 1e-5);
        for (j, (a, b)) in got.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-5, "history {len}, dim {j}: {a} vs {b}");
        }
    }
}

#[test]
fn cold_user_gets_a_query_after_one_click() {
    let m = model(UserConfig::default());
    let mut state = UserState::new();
    assert!(state.is_empty());
    assert_eq!(m.tower_query(&state).unwrap(), None);
    assert_eq!(m.query(&state).unwrap(), None);
    assert!(m.seeds(&state, 10, NOW).is_empty() && m.consumed_rows(&state).is_empty());
    m.record(&mut state, &Interaction::click("1", NOW), NOW).unwrap();
    assert!(!state.is_empty());
    let tower = m.tower_query(&state).unwrap().expect("one click warms the user up");
    assert_eq!(tower.len(), m.dim());
    let q = m.query(&state).unwrap().expect("query");
    assert_ne!(q, tower, "fine-tuning is on by default: the residual moved");
    assert_eq!(m.seeds(&state, 10, NOW), vec![(0, 1.0)]);
    assert_eq!(m.consumed_rows(&state), vec![0]);
    assert_eq!(state.top_categories(1, NOW)[0].1, 1.0);
}

/// The most popular items tagged only `tag` (the bundle's popular "Horror" films are mostly
/// multi-genre blockbusters — Silence of the Lambs, Alien — that the embeddings place with other
/// blockbusters, not with horror).
fn popular_pure(tag: &str, n: usize) -> Vec<String> {
    let items = bundle().items();
    popular(tag, true, usize::MAX)
        .into_iter()
        .filter(|id| items.get(items.row_of(id).unwrap()).unwrap().tags().eq([tag]))
        .take(n)
        .collect()
}

#[test]
fn clicking_horror_moves_recall_toward_horror() {
    let others = popular("Horror", false, 10);
    let horror = popular_pure("Horror", 8);
    let mut after_by_mode = Vec::new();
    for fine_tune in [false, true] {
        let mut config = UserConfig::default();
        config.fine_tune.enabled = fine_tune;
        let m = model(config);
        let mut state = UserState::new();
        clicks(&m, &mut state, &others, NOW - 60.0 * MINUTE);
        let before = top_k(&m.query(&state).unwrap().unwrap(), &m.consumed_rows(&state), 20);
        clicks(&m, &mut state, &horror, NOW - 20.0 * MINUTE);
        let after = top_k(&m.query(&state).unwrap().unwrap(), &m.consumed_rows(&state), 20);
        let (b, a) = (count_tag(&before, "Horror"), count_tag(&after, "Horror"));
        eprintln!("fine-tuning {fine_tune}: Horror in top-20 {b} → {a}");
        assert!(a > b, "fine-tuning {fine_tune}: {b} → {a}");
        after_by_mode.push(a);
        let top = state.top_categories(3, NOW);
        assert_eq!(top[0].0, "Horror", "{top:?}");
        // A horror-only history: the tower alone already leans to horror.
        let mut only = UserState::new();
        clicks(&m, &mut only, &horror, NOW);
        let top = top_k(&m.query(&only).unwrap().unwrap(), &m.consumed_rows(&only), 20);
        assert!(count_tag(&top, "Horror") >= 10, "fine-tuning {fine_tune}: {top:?}");
    }
    // 10 blockbusters then 8 horror films: the mean-pooling tower shifts a little (0 → 3 with
    // the shipped bundle), the fine-tuned residual much more (2 → 20).
    assert!(
        after_by_mode[1] >= after_by_mode[0] + 5 && after_by_mode[1] >= 12,
        "{after_by_mode:?}"
    );
}

#[test]
fn a_gradient_step_lowers_the_sampled_loss() {
    let m = model(UserConfig::default());
    let mut state = UserState::new();
    clicks(&m, &mut state, &popular("Comedy", true, 5), NOW);
    let base = m.tower_query(&state).unwrap().unwrap();
    let emb = bundle().item_embeddings();
    let tau = f64::from(bundle().manifest().temperature);
    // The loss, recomputed independently from the dequantized item vectors.
    let loss = |u: &[f32], positive: u32, cands: &[u32], q: &[f32]| -> f64 {
        let mut x = vec![0.0f32; emb.cols()];
        let logits: Vec<f64> = cands
            .iter()
            .zip(q)
            .map(|(c, q)| {
                emb.dequantize_row(*c as usize, &mut x);
                let d: f64 = x.iter().zip(u).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                d / tau - f64::from(*q).ln()
            })
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        lse - logits[cands.iter().position(|c| *c == positive).unwrap()]
    };
    let mut rng = SeededRng::new(3);
    for positive in [m.row_of("2571").unwrap(), m.row_of("1").unwrap(), 5000] {
        let mut r = vec![0.0f32; m.dim()];
        let step = m.fine_tune_step(&base, &mut r, positive, 0.01, &mut rng).unwrap();
        assert_eq!(step.candidates[0], positive);
        assert_eq!(step.candidates.len(), 1 + m.config().fine_tune.negatives);
        assert!(step.candidates[1..].iter().all(|c| *c != positive));
        let before = loss(&base, positive, &step.candidates, &step.sample_prob);
        assert!(
            (before - f64::from(step.loss_before)).abs() < 1e-4,
            "{before} vs {}",
            step.loss_before
        );
        let u: Vec<f32> = base.iter().zip(&r).map(|(a, b)| a + b).collect();
        let after = loss(&u, positive, &step.candidates, &step.sample_prob);
        assert!(after < before, "row {positive}: loss {before} → {after}");
        // The positive's score went up.
        let mut x = vec![0.0f32; m.dim()];
        emb.dequantize_row(positive as usize, &mut x);
        assert!(x.iter().zip(&r).map(|(a, b)| a * b).sum::<f32>() > 0.0);
    }
}

#[test]
fn the_residual_is_bounded_and_decays() {
    let mut config = UserConfig::default();
    config.fine_tune.learning_rate = 1.0; // large steps, so the clip is exercised
    config.fine_tune.max_norm = 0.25;
    let m = model(config.clone());
    let mut state = UserState::new();
    for (i, id) in popular("Horror", true, 10).iter().enumerate() {
        let t = NOW + i as f64;
        m.record(&mut state, &Interaction::click(id.clone(), t), t).unwrap();
        assert!(norm(state.residual()) <= 0.25 + 1e-6, "{}", norm(state.residual()));
    }
    assert!(norm(state.residual()) > 0.2);
    // Likes count double: one like moves the residual further than one click would.
    config.fine_tune.max_norm = 100.0;
    config.fine_tune.learning_rate = 0.01;
    let m = model(config.clone());
    let moved = |kind| {
        let mut s = UserState::new();
        m.record(&mut s, &Interaction { item: "1".into(), kind, timestamp_ms: NOW }, NOW).unwrap();
        norm(s.residual())
    };
    assert!(moved(InteractionKind::Like) > 1.5 * moved(InteractionKind::Click));
    // Decay alone (no learning) pulls the residual back toward 0, i.e. the query back to the
    // tower output.
    let r0 = state.residual().to_vec();
    config.fine_tune.learning_rate = 0.0;
    config.fine_tune.decay = 0.2;
    let m = model(config);
    for i in 0..10 {
        let t = NOW + 100.0 + i as f64;
        m.record(&mut state, &Interaction::click("1", t), t).unwrap();
    }
    let shrunk = norm(state.residual());
    assert!((shrunk - 0.8f32.powi(10) * norm(&r0)).abs() < 1e-5, "{shrunk}");
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let m = model(UserConfig::default());
    let mut state = UserState::new();
    clicks(&m, &mut state, &popular("Drama", true, 3), NOW - 10.0 * MINUTE);
    let bytes = state.to_bytes();
    let cases = [
        (Interaction::click("no-such-movie", NOW), "UNKNOWN_ITEM"),
        (Interaction::click("1", NOW + 10.0 * MINUTE), "INVALID_INTERACTION"),
        (Interaction::click("1", f64::NAN), "INVALID_INTERACTION"),
        (Interaction::click("1", f64::NEG_INFINITY), "INVALID_INTERACTION"),
        (Interaction::click("1", -5.0), "INVALID_INTERACTION"),
    ];
    for (interaction, code) in cases {
        let e = m.record(&mut state, &interaction, NOW).unwrap_err();
        assert_eq!(e.code(), code, "{interaction:?}: {e}");
        assert_eq!(state.to_bytes(), bytes, "{interaction:?} changed the state");
    }
    assert!(matches!(
        m.record(&mut state, &Interaction::click("no-such-movie", NOW), NOW),
        Err(Error::UnknownItem { id }) if id == "no-such-movie"
    ));
    // Late (out-of-order) interactions are fine and land in time order.
    m.record(&mut state, &Interaction::click("1", NOW - 30.0 * MINUTE), NOW).unwrap();
    assert_eq!(state.history()[0].item, "1");
    assert!(state.history().windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
}

#[test]
fn state_round_trips_and_persists() {
    let m = model(UserConfig::default());
    let mut state = UserState::new();
    clicks(&m, &mut state, &popular("Horror", true, 5), NOW);
    m.record(
        &mut state,
        &Interaction {
            item: "1".into(),
            kind: InteractionKind::Dwell { ms: 12_000 },
            timestamp_ms: NOW,
        },
        NOW,
    )
    .unwrap();
    let back = UserState::from_bytes(&state.to_bytes()).unwrap();
    assert_eq!(back, state);
    assert_eq!(m.query(&back).unwrap(), m.query(&state).unwrap());
    for garbage in
        [&b"\x00\x01\x02"[..], b"{}", br#"{"schema": 99, "history": []}"#, &state.to_bytes()[..40]]
    {
        let e = UserState::from_bytes(garbage).unwrap_err();
        assert!(matches!(e, Error::StorageCorrupt { .. }), "{e:?}");
    }

    block_on(async {
        // Through storage, with a quota that fits this state but not a longer one.
        let store = MemoryStorage::with_quota(state.to_bytes().len() + 10);
        user::save(&store, &state).await.unwrap();
        let mut longer = state.clone();
        clicks(&m, &mut longer, &popular("Comedy", true, 20), NOW + MINUTE);
        let snapshot = longer.clone();
        let e = user::save(&store, &longer).await.unwrap_err();
        assert_eq!(e.code(), "STORAGE_QUOTA_EXCEEDED");
        assert_eq!(user::load(&store).await.unwrap(), Some(state.clone()), "previous value kept");
        assert_eq!(longer, snapshot, "in-memory state kept");
        user::forget(&store).await.unwrap();
        assert_eq!(user::load(&store).await.unwrap(), None);

        let off = MemoryStorage::unavailable();
        assert_eq!(user::save(&off, &state).await.unwrap_err().code(), "STORAGE_UNAVAILABLE");
        assert_eq!(user::load(&off).await.unwrap_err().code(), "STORAGE_UNAVAILABLE");
        assert_eq!(user::forget(&off).await.unwrap_err().code(), "STORAGE_UNAVAILABLE");
    });
}

/// A small bundle of another model: dimension 16, items "1", "2" (also in MovieLens) and
/// "only-here-0…".
fn other_bundle() -> Bundle {
    let (n, dim, hidden) = (6usize, 16usize, 8usize);
    let mut rng = SeededRng::new(11);
    let mut t = |name: &str, shape: Vec<usize>| SourceTensor {
        name: name.into(),
        data: SourceData::F32(
            (0..shape.iter().product()).map(|_| rng.next_f64() as f32 - 0.5).collect(),
        ),
        shape,
    };
    let tensors = vec![
        t("item_embeddings", vec![n, dim]),
        t("user_tower.history_embeddings", vec![n, dim]),
        t("user_tower.w0", vec![hidden, dim]),
        t("user_tower.b0", vec![hidden]),
        t("user_tower.w1", vec![dim, hidden]),
        t("user_tower.b1", vec![dim]),
    ];
    let items: Vec<ItemRecord> = (0..n)
        .map(|i| ItemRecord {
            id: if i < 2 { format!("{}", i + 1) } else { format!("only-here-{i}") },
            tags: vec!["Elsewhere".into()],
            ..Default::default()
        })
        .collect();
    let config = BuildConfig {
        model_id: "other",
        model_version: "0",
        created_at: "2025-01-01T00:00:00Z",
        similarity: Similarity::Cosine,
        temperature: 0.1,
        rules: &[],
        signing_key: None,
        eval_queries: 0,
        seed: 0,
    };
    build(&tensors, &items, &config).unwrap().load(&LoadOptions::default()).unwrap()
}

#[test]
fn a_state_from_another_bundle_migrates() {
    let other = UserModel::from_bundle(&other_bundle(), UserConfig::default()).unwrap();
    assert_eq!(other.dim(), 16);
    let mut state = UserState::new();
    for (i, id) in ["only-here-3", "1", "only-here-4", "2"].iter().enumerate() {
        let t = NOW + i as f64;
        other.record(&mut state, &Interaction::click(*id, t), t).unwrap();
    }
    assert_eq!(state.residual().len(), 16);
    // Saved by the old app, loaded by the new one.
    let mut state = UserState::from_bytes(&state.to_bytes()).unwrap();
    let m = model(UserConfig::default());
    assert!(m.query(&state).is_err(), "an unmigrated residual of another model is refused");
    let report = m.migrate(&mut state);
    assert!(report.model_changed && report.residual_dropped);
    assert_eq!((report.dropped_items, report.kept_items), (2, 2));
    assert_eq!(state.model(), Some(m.stamp()));
    assert!(state.residual().is_empty());
    assert_eq!(state.top_categories(5, NOW)[0].0, "Elsewhere", "interests are kept");
    assert_eq!(m.consumed_rows(&state), vec![0, 1]);
    let q = m.query(&state).unwrap().expect("the kept history still gives a query");
    assert_eq!(q.len(), m.dim());
    m.record(&mut state, &Interaction::click("3", NOW + 10.0), NOW + 10.0).unwrap();
    assert_eq!(state.residual().len(), m.dim());
    // A hand-written state of an unknown model with a residual of the wrong size.
    let json = br#"{"schema": 1, "model": {"id": "x", "version": "y", "dim": 3},
        "residual": [0.5, 0.5, 0.5],
        "history": [{"item": "1", "kind": {"type": "like"}, "timestamp_ms": 1.0},
                    {"item": "gone", "kind": {"type": "dwell", "ms": 100}, "timestamp_ms": 2.0}]}"#;
    let mut foreign = UserState::from_bytes(json).unwrap();
    let report = m.migrate(&mut foreign);
    assert!(report.model_changed && report.residual_dropped);
    assert_eq!((report.dropped_items, report.kept_items), (1, 1));
    assert!(m.query(&foreign).unwrap().is_some());
}

#[test]
fn same_seed_same_clicks_same_residual() {
    let ids = popular("Sci-Fi", true, 12);
    let run = |seed| {
        let m = model(UserConfig { seed, ..UserConfig::default() });
        let mut s = UserState::new();
        clicks(&m, &mut s, &ids, NOW);
        s
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a.residual(), b.residual());
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_ne!(a.residual(), c.residual(), "the seed drives the negative sampler");
    // Resuming from saved bytes continues the same stream.
    let m = model(UserConfig { seed: 7, ..UserConfig::default() });
    let mut split = UserState::new();
    clicks(&m, &mut split, &ids[..6], NOW);
    let mut split = UserState::from_bytes(&split.to_bytes()).unwrap();
    clicks(&m, &mut split, &ids[6..], NOW + 6.0 * MINUTE);
    assert_eq!(split.residual(), a.residual());
}

#[test]
fn gpu_user_model_matches_the_cpu() {
    let ctx = match block_on(GpuContext::new()) {
        Ok(ctx) => ctx,
        Err(e) if std::env::var_os("EDGEREC_REQUIRE_GPU").is_some() => panic!("no GPU: {e}"),
        Err(e) => return eprintln!("skipping: {e}"),
    };
    eprintln!("GPU adapter: {:?}", ctx.adapter_info());
    let ids = popular("Horror", true, 60);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    if let Err(e) = block_on(user_parity::check_user_model_gpu(&ctx, bundle(), &ids, NOW)) {
        panic!("{e}");
    }
    let m = model(UserConfig::default());
    let mut gpu = block_on(GpuUserModel::upload(&ctx, &m)).unwrap();
    // Buffers of another model are refused.
    let other = UserModel::from_bundle(&other_bundle(), UserConfig::default()).unwrap();
    let e = block_on(other.tower_query_gpu(&ctx, &mut gpu, &UserState::new())).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}
