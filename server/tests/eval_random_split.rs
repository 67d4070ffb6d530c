//! `edgerec eval --split random` (the Microsoft Recommenders protocol), the metric definitions
//! on a hand-computed example, and `--funnel` / `--dump-model` on the shipped bundle.

mod common;

use common::{edgerec, movielens_dir, movielens_split, repo, scratch, stderr, write};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// One CSV row: `(user, item, rating, timestamp)`.
type Row = (String, String, String, String);

/// The rows of a split file, header skipped.
fn rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

/// Runs `edgerec eval --split random` and returns `(train, test)` rows.
fn split_random(inter: &str, items: &str, out: &Path, extra: &[&str]) -> (Vec<Row>, Vec<Row>) {
    let out_s = out.display().to_string();
    let mut args = vec![
        "eval",
        "--split",
        "random",
        "--interactions",
        inter,
        "--items",
        items,
        "--split-out",
        &out_s,
    ];
    args.extend_from_slice(extra);
    let o = edgerec(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    (rows(&out.join("train.csv")), rows(&out.join("test.csv")))
}

/// `round(x)` with ties to even, as Python's `round` in Recommenders' split.
fn round_even(x: f64) -> usize {
    x.round_ties_even() as usize
}

/// Synthetic data: item `i` (1..=12) has `3·i` interactions from distinct users, so every item
/// has a different count (3..=36) and several hit a rounding tie (n = 6, 18, 30: 0.75·n ends
/// in .5).
fn synthetic() -> (String, String) {
    let mut items = String::from("item,title,categories\n");
    let mut inter = String::from("user,item,rating,timestamp\n");
    for i in 1..=12 {
        items.push_str(&format!("{i},T{i},g{}\n", i % 3));
        for u in 0..3 * i {
            inter.push_str(&format!("u{u},{i},{},{}\n", 1 + (u + i) % 5, 1000 + 7 * u + i));
        }
    }
    (inter, items)
}

#[test]
fn random_split_is_stratified_deterministic_disjoint_and_complete() {
    let dir = scratch("strat");
    let (inter_text, items_text) = synthetic();
    let inter = write(&dir, "r.csv", &inter_text);
    let items = write(&dir, "m.csv", &items_text);
    write(&dir, "README.txt", "data licence");
    let (train, test) = split_random(&inter, &items, &dir.join("a"), &["--seed", "42"]);

    // Complete and disjoint: every input row lands in exactly one part, unchanged.
    let input: Vec<Row> = inter_text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect();
    let mut both: Vec<_> = train.iter().chain(&test).cloned().collect();
    both.sort();
    let mut want = input.clone();
    want.sort();
    assert_eq!(both, want, "train ∪ test must be the input, each row once");
    let pairs: HashSet<(&str, &str)> = train.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert!(test.iter().all(|r| !pairs.contains(&(r.0.as_str(), r.1.as_str()))));

    // Stratified by item: round(0.75 · n) of each item's interactions in train.
    let count = |rows: &[Row]| {
        let mut c: HashMap<String, usize> = HashMap::new();
        rows.iter().for_each(|r| *c.entry(r.1.clone()).or_default() += 1);
        c
    };
    let (tr, te) = (count(&train), count(&test));
    for i in 1..=12 {
        let n = 3 * i;
        let k = i.to_string();
        let t = tr.get(&k).copied().unwrap_or(0);
        assert_eq!(t + te.get(&k).copied().unwrap_or(0), n);
        assert_eq!(t, round_even(0.75 * n as f64), "item {i}: {t} of {n} in train");
        assert!((t as f64 - 0.75 * n as f64).abs() <= 0.5, "item {i}");
    }
    // The data's README travels with the split.
    assert!(dir.join("a/DATA_README.txt").is_file());

    // Deterministic for a seed, different for another.
    let (train2, test2) = split_random(&inter, &items, &dir.join("b"), &["--seed", "42"]);
    assert_eq!((&train, &test), (&train2, &test2));
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert_eq!(read("a/train.csv"), read("b/train.csv"));
    let (_, test3) = split_random(&inter, &items, &dir.join("c"), &["--seed", "7"]);
    assert_ne!(test, test3, "another seed shuffles differently");
    // The default seed is 42 and the default ratio 0.75.
    let (train4, _) = split_random(&inter, &items, &dir.join("d"), &[]);
    assert_eq!(train, train4);
    // Another ratio.
    let (train5, _) = split_random(&inter, &items, &dir.join("e"), &["--ratio", "0.5"]);
    let tr5 = count(&train5);
    for i in 1..=12 {
        assert_eq!(tr5[&i.to_string()], round_even(1.5 * i as f64), "item {i}");
    }
}

#[test]
fn bad_ratios_are_clear_errors() {
    let dir = scratch("ratio");
    let (inter_text, items_text) = synthetic();
    let inter = write(&dir, "r.csv", &inter_text);
    let items = write(&dir, "m.csv", &items_text);
    let out = dir.join("s").display().to_string();
    for (mode, ratio) in [("random", "1.5"), ("random", "0"), ("temporal", "nan")] {
        let o = edgerec(&[
            "eval",
            "--split",
            mode,
            "--ratio",
            ratio,
            "--interactions",
            &inter,
            "--items",
            &items,
            "--split-out",
            &out,
        ]);
        assert!(!o.status.success(), "{mode} {ratio}");
        assert!(stderr(&o).contains("--ratio"), "{}", stderr(&o));
    }
    let o = edgerec(&[
        "eval",
        "--split",
        "leave-last-out",
        "--ratio",
        "0.5",
        "--interactions",
        &inter,
        "--items",
        &items,
        "--split-out",
        &out,
    ]);
    assert!(stderr(&o).contains("leave-last-out"), "{}", stderr(&o));
}

/// The real benchmark data: every item with ≥ 4 ratings keeps round(75 %) in train.
#[test]
fn random_split_of_movielens_is_stratified_by_item() {
    let data = movielens_dir();
    let dir = scratch("ml");
    let (train, test) = split_random(
        &data.join("ratings.csv").display().to_string(),
        &data.join("movies.csv").display().to_string(),
        &dir.join("s"),
        &["--ratio", "0.75", "--seed", "42"],
    );
    assert_eq!(train.len() + test.len(), 100_836);
    let mut n: HashMap<&str, (usize, usize)> = HashMap::new();
    train.iter().for_each(|r| n.entry(&r.1).or_default().0 += 1);
    test.iter().for_each(|r| n.entry(&r.1).or_default().1 += 1);
    let mut checked = 0;
    for (item, (tr, te)) in &n {
        let total = tr + te;
        assert_eq!(*tr, round_even(0.75 * total as f64), "{item}: {tr} of {total}");
        checked += usize::from(total >= 4);
    }
    assert!(checked > 2000, "{checked} items with ≥ 4 ratings");
    // Most users have both train and test rows.
    let users = |rows: &[Row]| -> HashSet<String> { rows.iter().map(|r| r.0.clone()).collect() };
    assert!(users(&test).intersection(&users(&train)).count() > 600);
}

fn bundle() -> String {
    repo().join("models/movielens-small").display().to_string()
}

/// An external list scored by `edgerec eval`, checked against values worked by hand.
/// User a: list [50 (seen in train, dropped), 1, 2, 3], relevant {1, 3, 6, 10}: hits at
/// ranks 1 and 3. User b: list [4, 5], relevant {5}: hit at rank 2.
#[test]
fn metrics_match_hand_computed_values() {
    let dir = scratch("hand");
    let train = write(&dir, "train.csv", "user,item,rating,timestamp\na,50,4,1\nb,260,4,1\n");
    let test = write(
        &dir,
        "test.csv",
        "user,item,rating,timestamp\na,1,4,2\na,3,4,2\na,6,4,2\na,10,4,2\nb,5,4,2\n",
    );
    let recs = write(&dir, "hand.json", r#"{"a": ["50", "1", "2", "3"], "b": ["4", "5"]}"#);
    let json = dir.join("m.json").display().to_string();
    let o = edgerec(&[
        "eval",
        "--bundle",
        &bundle(),
        "--train",
        &train,
        "--test",
        &test,
        "--k",
        "3",
        "--no-baselines",
        "--recs",
        &format!("hand={recs}"),
        "--json",
        &json,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    for col in ["NDCG@10", "P@10", "R@10", "MAP@10"] {
        assert!(table.contains(col), "{table}");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let got = |k: &str, f: &str| m["models"]["hand"]["at"][k][f].as_f64().unwrap();
    let close = |k: &str, f: &str, want: f64| {
        let g = got(k, f);
        assert!((g - want).abs() < 1e-9, "{f}{k}: {g} vs {want}");
    };
    let l3 = 3f64.log2();
    // @3
    close("@3", "precision", (2.0 / 3.0 + 1.0 / 3.0) / 2.0);
    close("@3", "recall", (2.0 / 4.0 + 1.0) / 2.0);
    close("@3", "ndcg", ((1.0 + 0.5) / (1.0 + 1.0 / l3 + 0.5) + 1.0 / l3) / 2.0);
    close("@3", "map", ((1.0 + 2.0 / 3.0) / 4.0 + 0.5) / 2.0);
    close("@3", "map_min", ((1.0 + 2.0 / 3.0) / 3.0 + 0.5) / 2.0);
    close("@3", "hr", 1.0);
    // @10: precision over 10 slots however short the list; IDCG over min(|rel|, 10) = 4.
    close("@10", "precision", (2.0 / 10.0 + 1.0 / 10.0) / 2.0);
    close("@10", "recall", 0.75);
    let idcg4 = 1.0 + 1.0 / l3 + 0.5 + 1.0 / 5f64.log2();
    close("@10", "ndcg", (1.5 / idcg4 + 1.0 / l3) / 2.0);
    close("@10", "map", ((1.0 + 2.0 / 3.0) / 4.0 + 0.5) / 2.0);
    close("@10", "map_min", ((1.0 + 2.0 / 3.0) / 4.0 + 0.5) / 2.0);
    assert_eq!(m["models"]["hand"]["users"], 2);
}

/// `--funnel` adds the shipped funnel's rows; `--dump-recs` writes its lists by default and
/// `--dump-model` picks another model.
#[test]
fn funnel_rows_and_dumps_on_movielens() {
    let dir = scratch("funnel");
    let split = movielens_split(&dir);
    // The first 40 test users keep the run short.
    let text = std::fs::read_to_string(split.join("test.csv")).unwrap();
    let mut keep = HashSet::new();
    let mut small = String::from("user,item,rating,timestamp\n");
    for line in text.lines().skip(1) {
        let user = line.split(',').next().unwrap().to_string();
        if keep.len() < 40 || keep.contains(&user) {
            keep.insert(user);
            small.push_str(line);
            small.push('\n');
        }
    }
    let test = write(&dir, "test40.csv", &small);
    let train = split.join("train.csv").display().to_string();
    let json = dir.join("m.json").display().to_string();
    let dump = dir.join("funnel.json").display().to_string();
    let o = edgerec(&[
        "eval",
        "--bundle",
        &bundle(),
        "--train",
        &train,
        "--test",
        &test,
        "--funnel",
        "--k",
        "10",
        "--json",
        &json,
        "--dump-recs",
        &dump,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("funnel+rerank"), "{table}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for model in ["funnel", "funnel+rerank", "two_tower", "itemcf", "popularity"] {
        let at = &m["models"][model]["at"]["@10"];
        for f in ["ndcg", "precision", "recall", "map"] {
            let v = at[f].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{model} {f} {v}");
        }
        assert_eq!(m["models"][model]["users"], 40, "{model}");
    }
    assert!(m["models"]["funnel"]["at"]["@10"]["recall"].as_f64().unwrap() > 0.0);
    assert_eq!(m["funnel"]["seen_dropped"], 0);
    let seen: HashSet<(String, String)> =
        rows(&split.join("train.csv")).into_iter().map(|r| (r.0, r.1)).collect();
    let read = |p: &str| -> BTreeMap<String, Vec<String>> {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let funnel = read(&dump);
    assert_eq!(funnel.len(), 40);
    for (user, list) in &funnel {
        assert_eq!(list.len(), 10, "{user}");
        assert!(list.iter().all(|i| !seen.contains(&(user.clone(), i.clone()))), "{user}");
    }
    // --dump-model two_tower writes the tower's lists instead (no funnel run needed).
    let dump2 = dir.join("tower.json").display().to_string();
    let o = edgerec(&[
        "eval",
        "--bundle",
        &bundle(),
        "--train",
        &train,
        "--test",
        &test,
        "--no-baselines",
        "--k",
        "10",
        "--json",
        &json,
        "--dump-recs",
        &dump2,
        "--dump-model",
        "two_tower",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(m["models"].get("funnel").is_none(), "the funnel runs only when asked");
    let tower = read(&dump2);
    assert_eq!(tower.len(), 40);
    assert_ne!(tower, funnel);
    // A baseline's lists cannot be dumped when the baselines are skipped.
    let o = edgerec(&[
        "eval",
        "--bundle",
        &bundle(),
        "--train",
        &train,
        "--test",
        &test,
        "--no-baselines",
        "--dump-recs",
        &dump2,
        "--dump-model",
        "itemcf",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--no-baselines"), "{}", stderr(&o));
}

/// `edgerec eval --funnel` asks for 50 items to measure @20 and @50; its first 10 must be the
/// 10-item list, re-rank off and on (recall, rank and the greedy re-rank pick in order).
#[test]
fn funnel_top_10_is_the_prefix_of_its_top_50() {
    use edgerec::bundle::{Bundle, LoadOptions};
    use edgerec::compute::BackendChoice;
    use edgerec::recommender::{
        DiversityOptions, RecommendOptions, Recommender, RecommenderConfig,
    };
    use edgerec::user::{Interaction, InteractionKind};

    let data = movielens_dir();
    let text = std::fs::read_to_string(data.join("ratings.csv"))
        .unwrap_or_else(|e| panic!("MovieLens ml-latest-small at {}: {e}", data.display()));
    let mut by_user: BTreeMap<u32, Vec<Interaction>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let user: u32 = f[0].parse().unwrap();
        if user > 8 {
            continue;
        }
        let rating: f32 = f[2].parse().unwrap();
        by_user.entry(user).or_default().push(Interaction {
            item: f[1].to_string(),
            kind: if rating >= 4.0 { InteractionKind::Like } else { InteractionKind::Click },
            timestamp_ms: f[3].parse::<f64>().unwrap() * 1000.0,
        });
    }
    let bundle = Bundle::open(&repo().join("models/movielens-small"), &LoadOptions::default())
        .expect("the shipped bundle loads");
    let mut config = RecommenderConfig { filter_exposed: false, ..Default::default() };
    config.user.history_capacity = 5000;
    let mut rec = pollster::block_on(Recommender::new(&bundle, config, BackendChoice::Cpu))
        .expect("recommender");
    for (user, mut events) in by_user {
        events.sort_by(|a, b| a.timestamp_ms.total_cmp(&b.timestamp_ms));
        events.truncate(events.len() * 4 / 5);
        let now = events.last().unwrap().timestamp_ms;
        rec.reset_user();
        rec.import_history(&events, now).unwrap();
        for diversity in [Some(DiversityOptions::NONE), None] {
            let ids = |k: usize, rec: &mut Recommender| -> Vec<String> {
                let o = RecommendOptions { k, diversity, ..Default::default() };
                let r = pollster::block_on(rec.recommend_with(&o, now)).unwrap();
                r.items.into_iter().map(|i| i.id).collect()
            };
            let (ten, fifty) = (ids(10, &mut rec), ids(50, &mut rec));
            assert_eq!(ten.len(), 10);
            assert_eq!(ten[..], fifty[..10], "user {user}, diversity {diversity:?}");
        }
    }
}
