//! The `Recommender` end to end on the shipped MovieLens bundle, natively: persistence through
//! a `Storage` (files), recovery from corrupt or foreign stored state, quota errors that lose
//! nothing, the exposure filter, blocklists, and the same lists on the GPU (lavapipe) as on the
//! CPU.

use edgerec::BackendKind;
use edgerec::bundle::{Bundle, LoadOptions};
use edgerec::compute::BackendChoice;
use edgerec::recommender::{BLOCKLIST_KEY, EXPOSURE_KEY, Recommender, RecommenderConfig};
use edgerec::user::{FileStorage, Interaction, MemoryStorage, Storage, USER_STATE_KEY};
use pollster::block_on;
use std::path::Path;

const NOW: f64 = 1_537_000_000_000.0; // September 2018, after the data's last rating
const HORROR: [&str; 5] = ["1258", "1982", "3917", "3016", "2513"];
/// Five Westerns (1.7 % of the catalogue): a session clearly focused on a rare genre.
const WESTERN: [&str; 5] = ["2896", "2921", "2922", "2951", "3037"];

fn bundle() -> Bundle {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/movielens-small");
    Bundle::open(&dir, &LoadOptions::default()).expect("the sample bundle loads")
}

fn recommender(bundle: &Bundle) -> Recommender {
    block_on(Recommender::new(bundle, RecommenderConfig::default(), BackendChoice::Cpu)).unwrap()
}

fn click(rec: &mut Recommender, ids: &[&str]) {
    for (i, id) in ids.iter().enumerate() {
        let t = NOW - 60_000.0 * (ids.len() - i) as f64;
        rec.record(&Interaction::click(*id, t), NOW).unwrap();
    }
}

fn top_ids(rec: &mut Recommender, k: usize) -> Vec<String> {
    block_on(rec.recommend(k, NOW)).unwrap().items.into_iter().map(|i| i.id).collect()
}

fn tagged(bundle: &Bundle, ids: &[String], tag: &str) -> usize {
    ids.iter()
        .filter(|id| {
            let row = bundle.items().row_of(id).unwrap();
            bundle.items().get(row).unwrap().tags().any(|t| t == tag)
        })
        .count()
}

fn horror_share(bundle: &Bundle, ids: &[String]) -> usize {
    tagged(bundle, ids, "Horror")
}

#[test]
fn a_session_focused_on_a_rare_genre_steers_the_list_and_a_mixed_one_does_not() {
    let bundle = bundle();
    let westerns = |config: RecommenderConfig, history: usize| {
        let mut rec = block_on(Recommender::new(&bundle, config, BackendChoice::Cpu)).unwrap();
        // Other films first (an hour apart, a day before the session).
        let other: Vec<String> = bundle
            .items()
            .iter()
            .filter(|item| !item.tags().any(|t| t == "Western"))
            .take(history)
            .map(|item| item.id().to_string())
            .collect();
        for (i, id) in other.iter().enumerate() {
            let t = NOW - 86_400_000.0 - 3_600_000.0 * (history - i) as f64;
            rec.record(&Interaction::click(id.as_str(), t), NOW).unwrap();
        }
        click(&mut rec, &WESTERN);
        tagged(&bundle, &top_ids(&mut rec, 20), "Western")
    };
    let off = RecommenderConfig { focus_boost: None, ..RecommenderConfig::default() };
    let (focused, unfocused) =
        (westerns(RecommenderConfig::default(), 0), westerns(off.clone(), 0));
    println!(
        "Westerns in the top-20 after five Western clicks: {focused} (focus boost), {unfocused} (off)"
    );
    assert!(focused >= 10, "the focus boost makes the genre at least half the list: {focused}");
    assert!(focused > unfocused, "{focused} vs {unfocused} without the boost");
    // With five other films among the ten recent seeds, Westerns are half of them, below the
    // concentration the focus needs: the boost leaves the list as it is.
    let (mixed, mixed_off) = (westerns(RecommenderConfig::default(), 5), westerns(off, 5));
    println!("… after five other films first: {mixed} (focus boost), {mixed_off} (off)");
    assert_eq!(mixed, mixed_off);
}

#[test]
fn cold_start_then_personalized_and_persisted_in_files() {
    let bundle = bundle();
    let dir = std::env::temp_dir().join(format!("edgerec-recommender-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = FileStorage::open(&dir).unwrap();
    let mut rec = recommender(&bundle);
    let cold = block_on(rec.recommend(20, NOW)).unwrap();
    assert!(cold.trace.cold);
    assert_eq!(cold.trace.ordered_by, "recall");
    assert_eq!(cold.items.len(), 20);
    let cold_ids: Vec<String> = cold.items.iter().map(|i| i.id.clone()).collect();
    click(&mut rec, &HORROR);
    let warm = block_on(rec.recommend(20, NOW)).unwrap();
    assert!(!warm.trace.cold);
    assert_eq!(warm.trace.ordered_by, "ranker");
    let warm_ids: Vec<String> = warm.items.iter().map(|i| i.id.clone()).collect();
    let (before, after) = (horror_share(&bundle, &cold_ids), horror_share(&bundle, &warm_ids));
    println!("Horror in the top-20: cold {before}, after five horror clicks {after}");
    assert!(after >= before + 4, "{before} → {after}");
    assert!(warm_ids.iter().all(|id| !HORROR.contains(&id.as_str())), "consumed items return");
    assert!(warm.items.iter().all(|i| !i.channels.is_empty()));
    block_on(rec.save(&store)).unwrap();

    let mut again = recommender(&bundle);
    let report = block_on(again.restore(&store)).unwrap();
    assert!(report.user_restored && report.exposure_restored, "{report:?}");
    assert!(report.discarded.is_empty());
    assert_eq!(again.state().history().len(), 5);
    assert_eq!(top_ids(&mut again, 20), warm_ids);

    block_on(again.forget(&store)).unwrap();
    assert!(again.state().is_empty());
    assert_eq!(block_on(store.get(USER_STATE_KEY)).unwrap(), None);
    assert_eq!(block_on(store.get(EXPOSURE_KEY)).unwrap(), None);
    assert_eq!(top_ids(&mut again, 20), cold_ids);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn corrupt_stored_state_is_discarded_and_reported() {
    let bundle = bundle();
    let store = MemoryStorage::new();
    block_on(store.put(USER_STATE_KEY, b"{not json")).unwrap();
    block_on(store.put(EXPOSURE_KEY, b"ERBF garbage")).unwrap();
    let mut rec = recommender(&bundle);
    let report = block_on(rec.restore(&store)).unwrap();
    assert!(!report.user_restored && !report.exposure_restored);
    assert_eq!(report.discarded.len(), 2, "{report:?}");
    assert_eq!(top_ids(&mut rec, 10).len(), 10);
}

#[test]
fn state_from_another_model_is_migrated_from_its_history() {
    let bundle = bundle();
    let store = MemoryStorage::new();
    let mut rec = recommender(&bundle);
    click(&mut rec, &HORROR);
    block_on(rec.save(&store)).unwrap();
    // Pretend an older 16-dimensional model wrote it, with one item this bundle lacks.
    let bytes = block_on(store.get(USER_STATE_KEY)).unwrap().unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    state["model"]["dim"] = 16.into();
    state["model"]["version"] = "old".into();
    state["residual"] = serde_json::json!(vec![0.01f32; 16]);
    let mut gone = state["history"][0].clone();
    gone["item"] = "retired-item".into();
    state["history"].as_array_mut().unwrap().insert(0, gone);
    block_on(store.put(USER_STATE_KEY, &serde_json::to_vec(&state).unwrap())).unwrap();

    let mut fresh = recommender(&bundle);
    let report = block_on(fresh.restore(&store)).unwrap();
    assert!(report.user_restored && report.residual_reset, "{report:?}");
    assert_eq!(report.history_dropped, 1);
    assert_eq!(fresh.state().history().len(), 5);
    // Re-derived from the history: the tower sees the same clicks, so horror leads again.
    let ids = top_ids(&mut fresh, 20);
    assert!(horror_share(&bundle, &ids) >= 3, "{ids:?}");
}

#[test]
fn a_full_store_refuses_the_write_and_keeps_both_copies() {
    let bundle = bundle();
    let mut rec = recommender(&bundle);
    click(&mut rec, &HORROR[..1]);
    let probe = MemoryStorage::new();
    block_on(rec.save(&probe)).unwrap();
    let saved: usize = [USER_STATE_KEY, EXPOSURE_KEY, BLOCKLIST_KEY]
        .iter()
        .map(|k| block_on(probe.get(k)).unwrap().map_or(0, |v| v.len()))
        .sum();
    let store = MemoryStorage::with_quota(saved + 8);
    block_on(rec.save(&store)).unwrap();
    let stored = block_on(store.get(USER_STATE_KEY)).unwrap();
    click(&mut rec, &HORROR[1..]);
    let e = block_on(rec.save(&store)).unwrap_err();
    assert_eq!(e.code(), "STORAGE_QUOTA_EXCEEDED");
    assert_eq!(rec.state().history().len(), 5, "the clicks are kept in memory");
    assert_eq!(block_on(store.get(USER_STATE_KEY)).unwrap(), stored, "the old copy is intact");
}

#[test]
fn shown_and_blocked_items_are_filtered() {
    let bundle = bundle();
    let mut rec = recommender(&bundle);
    click(&mut rec, &HORROR);
    let first = top_ids(&mut rec, 10);
    let shown: Vec<&str> = first.iter().map(String::as_str).collect();
    rec.mark_shown(&shown, NOW).unwrap();
    let second = top_ids(&mut rec, 10);
    assert!(second.iter().all(|id| !first.contains(id)), "{first:?} then {second:?}");
    assert_eq!(rec.mark_shown(&["no-such-item"], NOW).unwrap_err().code(), "UNKNOWN_ITEM");
    rec.block_attribute("tag", "Horror");
    rec.block_item(&second[0]).unwrap();
    let third = top_ids(&mut rec, 20);
    assert_eq!(horror_share(&bundle, &third), 0);
    assert!(!third.contains(&second[0]));
    assert_eq!(rec.block_item("no-such-item").unwrap_err().code(), "UNKNOWN_ITEM");

    // Blocks are saved with the state and come back in the next session; forget() lifts them.
    let store = MemoryStorage::new();
    block_on(rec.save(&store)).unwrap();
    let mut next = recommender(&bundle);
    let report = block_on(next.restore(&store)).unwrap();
    assert_eq!(report.blocked, 2, "{report:?}");
    let restored = top_ids(&mut next, 20);
    assert_eq!(horror_share(&bundle, &restored), 0);
    assert!(!restored.contains(&second[0]));
    block_on(next.forget(&store)).unwrap();
    assert_eq!(block_on(store.get(BLOCKLIST_KEY)).unwrap(), None);
    let mut after = recommender(&bundle);
    assert_eq!(block_on(after.restore(&store)).unwrap().blocked, 0);
    assert_eq!(block_on(rec.recommend(0, NOW)).unwrap_err().code(), "INVALID_K");
    assert_eq!(block_on(rec.recommend(10, f64::NAN)).unwrap_err().code(), "NON_FINITE");
}

#[test]
fn the_gpu_recommender_gives_the_cpu_lists() {
    let bundle = bundle();
    let gpu =
        block_on(Recommender::new(&bundle, RecommenderConfig::default(), BackendChoice::WebGpu));
    let mut gpu = match gpu {
        Ok(rec) if rec.backend().backend == BackendKind::WebGpu => rec,
        _ if std::env::var_os("EDGEREC_REQUIRE_GPU").is_some() => panic!("no GPU backend"),
        _ => return eprintln!("skipping: no GPU"),
    };
    let mut cpu = recommender(&bundle);
    for rec in [&mut cpu, &mut gpu] {
        click(rec, &HORROR);
    }
    let (a, b) = (top_ids(&mut cpu, 20), top_ids(&mut gpu, 20));
    // Recall's top-200 may differ among near-ties within the parity tolerance; the lists agree
    // almost entirely.
    let common = a.iter().filter(|id| b.contains(id)).count();
    assert!(common >= 18, "cpu {a:?}\ngpu {b:?}");
}

/// A store that records what each atomic write contained.
#[derive(Default)]
struct Recording {
    inner: MemoryStorage,
    writes: std::cell::RefCell<Vec<Vec<(String, usize)>>>,
}

impl Storage for Recording {
    async fn get(&self, key: &str) -> edgerec::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> edgerec::Result<()> {
        self.writes.borrow_mut().push(vec![(key.to_string(), value.len())]);
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> edgerec::Result<()> {
        self.inner.delete(key).await
    }
    async fn put_all(&self, entries: &[(&str, &[u8])]) -> edgerec::Result<()> {
        self.writes
            .borrow_mut()
            .push(entries.iter().map(|(k, v)| (k.to_string(), v.len())).collect());
        self.inner.put_all(entries).await
    }
}

#[test]
fn saves_are_one_atomic_write_of_what_changed() {
    let bundle = bundle();
    let mut rec = recommender(&bundle);
    let store = Recording::default();
    block_on(rec.save_changes(&store)).unwrap();
    let keys = |w: &[(String, usize)]| w.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&store.writes.borrow()[0]),
        [USER_STATE_KEY, EXPOSURE_KEY, BLOCKLIST_KEY],
        "the first save writes everything, in one write"
    );
    // A session's worth of impressions: the exposure filter grows.
    let shown: Vec<String> =
        (0..400).filter_map(|r| bundle.items().get(r).map(|i| i.id().to_string())).collect();
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    rec.mark_shown(&shown, NOW).unwrap();
    block_on(rec.save_changes(&store)).unwrap();
    assert_eq!(keys(&store.writes.borrow()[1]), [EXPOSURE_KEY], "impressions: the filter only");
    let exposure_bytes = store.writes.borrow()[1][0].1;
    click(&mut rec, &HORROR[..1]);
    block_on(rec.save_changes(&store)).unwrap();
    let click_write = store.writes.borrow()[2].clone();
    assert_eq!(keys(&click_write), [USER_STATE_KEY], "a click rewrites the user state only");
    assert!(
        click_write[0].1 < exposure_bytes,
        "a click costs {} bytes, rewriting the exposure filter would cost {exposure_bytes}",
        click_write[0].1
    );
    rec.block_item("3").unwrap();
    block_on(rec.save_changes(&store)).unwrap();
    assert_eq!(keys(&store.writes.borrow()[3]), [BLOCKLIST_KEY]);
    block_on(rec.save_changes(&store)).unwrap();
    assert_eq!(store.writes.borrow().len(), 4, "nothing changed, nothing written");
    block_on(rec.save(&store)).unwrap();
    assert_eq!(store.writes.borrow()[4].len(), 3, "save() writes everything");
}

#[test]
fn a_quota_failure_in_a_save_keeps_the_previous_generation_whole() {
    let bundle = bundle();
    let mut rec = recommender(&bundle);
    click(&mut rec, &HORROR[..2]);
    let probe = MemoryStorage::new();
    block_on(rec.save(&probe)).unwrap();
    let generation = |s: &MemoryStorage| {
        [USER_STATE_KEY, EXPOSURE_KEY, BLOCKLIST_KEY].map(|k| block_on(s.get(k)).unwrap())
    };
    let first = generation(&probe);
    let size: usize = first.iter().map(|v| v.as_ref().map_or(0, Vec::len)).sum();
    // Room for the first generation and a few bytes: the next save, whose exposure filter and
    // user state both grow, fails in the middle of writing them.
    let store = MemoryStorage::with_quota(size + 16);
    block_on(rec.save(&store)).unwrap();
    click(&mut rec, &HORROR[2..]);
    rec.mark_shown(&["1", "2", "50", "318"], NOW).unwrap();
    rec.block_item("296").unwrap();
    let e = block_on(rec.save(&store)).unwrap_err();
    assert_eq!(e.code(), "STORAGE_QUOTA_EXCEEDED");
    assert_eq!(generation(&store), first, "all three values are the previous generation");
}

#[test]
fn ivf_recall_needs_an_ivf_index_in_the_bundle() {
    let bundle = bundle();
    let config = RecommenderConfig { ivf_nprobe: Some(8), ..RecommenderConfig::default() };
    let e = block_on(Recommender::new(&bundle, config, BackendChoice::Cpu)).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("--ivf-lists"), "{e}");
}

/// The config is camelCase (as the JS API passes it); the snake_case names of earlier releases
/// and the Rust field names still parse to the same value, and a misspelt name is an error.
#[test]
fn the_config_reads_camel_case_and_snake_case_alike_and_refuses_typos() {
    const CAMEL: &str = r#"{"rankerWeight": 0.3, "filterExposed": false, "rerankPool": 60, "ivfNprobe": 8,
            "boost": {"maxBoost": 0.2, "targetAgeDays": 10},
            "exposure": {"falsePositiveRate": 0.02, "bucketS": 3600},
            "recall": {"total": 50, "channels": [
                {"name": "i2i", "kind": {"type": "item_to_item", "source": "swing", "maxSeeds": 7},
                 "quota": 50, "weight": 1},
                {"name": "new", "kind": {"type": "fresh", "windowS": 86400}, "quota": 5, "weight": 1},
                {"name": "cat", "kind": {"type": "category", "perCategory": 4, "order": "newest"},
                 "quota": 5, "weight": 1}]}}"#;
    let camel: RecommenderConfig = serde_json::from_str(CAMEL).unwrap();
    // The same text with every camelCase key in its snake_case spelling.
    let renames = [
        ("rankerWeight", "ranker_weight"),
        ("filterExposed", "filter_exposed"),
        ("rerankPool", "rerank_pool"),
        ("ivfNprobe", "ivf_nprobe"),
        ("maxBoost", "max_boost"),
        ("targetAgeDays", "target_age_days"),
        ("falsePositiveRate", "false_positive_rate"),
        ("bucketS", "bucket_s"),
        ("maxSeeds", "max_seeds"),
        ("windowS", "window_s"),
        ("perCategory", "per_category"),
    ];
    let snake_text = renames.iter().fold(CAMEL.to_string(), |s, (c, k)| s.replace(c, k));
    assert!(!snake_text.contains("Weight\""), "every key renamed: {snake_text}");
    let snake: RecommenderConfig = serde_json::from_str(&snake_text).unwrap();
    assert_eq!(camel, snake);
    assert_eq!((camel.ranker_weight, camel.rerank_pool, camel.ivf_nprobe), (0.3, 60, Some(8)));
    assert!(!camel.filter_exposed);
    let err = serde_json::from_str::<RecommenderConfig>(r#"{"rankerWieght": 1}"#).unwrap_err();
    assert!(err.to_string().contains("rankerWieght"), "{err}");
}
