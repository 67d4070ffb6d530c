//! Model bundle v1: fixture reproducibility, round trip, corruption classes, index quality,
//! streaming load with progress, and "arbitrary bytes never panic".
//!
//! Regenerate the fixture (inputs and bundle) after a deliberate format change with
//! `EDGEREC_REGEN_FIXTURE=1 cargo test --test bundle fixture_is_reproducible`.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/bundle_checks.rs"]
mod bundle_checks;

use bundle_checks::{FIXTURE_SIGNING_SEED, fixture, fixture_public_key, load};
use edgerec::bundle::builder::{
    self, BuildConfig, QuantRule, SourceData, SourceTensor, parse_scheme, read_items_csv,
    read_items_jsonl, read_safetensors,
};
use edgerec::bundle::items::ItemRecord;
use edgerec::bundle::{Bundle, BundleLoader, LoadOptions, Similarity, TensorDType};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

const ITEMS: usize = 48;
const DIM: usize = 32;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixture")
}

/// SplitMix64: a generator whose output never changes with a dependency upgrade, so the
/// fixture stays byte-reproducible.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

/// Clustered item vectors: `clusters` centres plus noise, as trained embeddings tend to be.
fn clustered(rng: &mut Mix, rows: usize, dim: usize, clusters: usize) -> Vec<f32> {
    let centres = rng.vec(clusters * dim, 1.0);
    (0..rows)
        .flat_map(|r| {
            let c = r % clusters;
            (0..dim).map(|j| centres[c * dim + j] + 0.35 * rng.uniform()).collect::<Vec<_>>()
        })
        .collect()
}

/// The fixture's inputs: source tensors (safetensors bytes) and items (JSONL text).
fn fixture_inputs() -> (Vec<u8>, String) {
    let mut rng = Mix(20_250_101);
    let emb = clustered(&mut rng, ITEMS, DIM, 6);
    // Neighbours: top-5 cosine, self excluded; every 11th item keeps only 3 (padding -1).
    let norm: Vec<f32> =
        emb.chunks_exact(DIM).map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt()).collect();
    let mut ids: Vec<i64> = Vec::new();
    let mut scores: Vec<f32> = Vec::new();
    for a in 0..ITEMS {
        let mut s: Vec<(f32, usize)> = (0..ITEMS)
            .filter(|b| *b != a)
            .map(|b| {
                let dot: f32 = (0..DIM).map(|j| emb[a * DIM + j] * emb[b * DIM + j]).sum();
                (dot / (norm[a] * norm[b]), b)
            })
            .collect();
        s.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let keep = if a % 11 == 0 { 3 } else { 5 };
        for (k, (score, b)) in s.iter().take(5).enumerate() {
            if k < keep {
                ids.push(*b as i64);
                scores.push(*score);
            } else {
                ids.push(-1);
                scores.push(0.0);
            }
        }
    }
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut tensors: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = vec![
        ("item_embeddings", safetensors::Dtype::F32, vec![ITEMS, DIM], f32s(&emb)),
        ("user_tower.w0", safetensors::Dtype::F32, vec![24, DIM], f32s(&rng.vec(24 * DIM, 0.3))),
        ("user_tower.b0", safetensors::Dtype::F32, vec![24], f32s(&rng.vec(24, 0.1))),
        ("user_tower.w1", safetensors::Dtype::F32, vec![DIM, 24], f32s(&rng.vec(DIM * 24, 0.3))),
        ("ranker.w0", safetensors::Dtype::F32, vec![16, 40], f32s(&rng.vec(16 * 40, 0.5))),
        ("ranker.w1", safetensors::Dtype::F32, vec![1, 16], f32s(&rng.vec(16, 0.5))),
        ("i2i.scores", safetensors::Dtype::F32, vec![ITEMS, 5], f32s(&scores)),
        ("stats.popularity", safetensors::Dtype::F32, vec![ITEMS], {
            f32s(&(0..ITEMS).map(|i| 1000.0 / (1.0 + i as f32)).collect::<Vec<_>>())
        }),
        ("stats.freshness", safetensors::Dtype::F32, vec![ITEMS], {
            f32s(&(0..ITEMS).map(|i| (-(i as f32) / 24.0).exp()).collect::<Vec<_>>())
        }),
    ];
    tensors.push((
        "i2i.ids",
        safetensors::Dtype::I64,
        vec![ITEMS, 5],
        ids.iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (*n, safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("valid view"))
        })
        .collect();
    let st = safetensors::serialize(views, None).expect("serializes");

    let genres = ["drama", "comedy", "thriller", "documentary", "sci-fi", "romance"];
    let mut jsonl = String::new();
    for i in 0..ITEMS {
        let mut attributes = serde_json::Map::new();
        attributes.insert("author".into(), format!("author-{}", i % 7).into());
        if i % 3 == 0 {
            attributes.insert("brand".into(), "acme".into());
        }
        let item = serde_json::json!({
            "id": format!("item-{i:03}"),
            "title": format!("Fixture item {i} — ünïcödé"),
            "tags": [genres[i % 6], genres[(i / 6) % 6]],
            "type": if i % 4 == 0 { "book" } else { "movie" },
            "created_at": 1_700_000_000i64 + 3600 * i as i64,
            "attributes": attributes,
        });
        jsonl.push_str(&item.to_string());
        jsonl.push('\n');
    }
    (st, jsonl)
}

/// The build configuration of the fixture; `models/README.md` gives the same as a CLI command.
fn fixture_rules() -> Vec<QuantRule<'static>> {
    [
        ("user_tower.w0", "f16"),
        ("user_tower.w1", "i8-f16"),
        ("ranker.w1", "i8-tensor"),
        ("i2i.scores", "f16"),
        ("stats.freshness", "f16"),
    ]
    .into_iter()
    .map(|(pattern, s)| QuantRule { pattern, scheme: parse_scheme(s).expect("known scheme") })
    .collect()
}

fn fixture_config<'a>(rules: &'a [QuantRule<'static>]) -> BuildConfig<'a> {
    BuildConfig {
        model_id: "fixture",
        model_version: "1",
        created_at: "2025-01-01T00:00:00Z",
        similarity: Similarity::Cosine,
        temperature: 0.05,
        rules,
        signing_key: Some(FIXTURE_SIGNING_SEED),
        eval_queries: 256,
        seed: 0,
    }
}

fn build_fixture() -> (Vec<u8>, String, builder::BuiltBundle) {
    let (st, jsonl) = fixture_inputs();
    let tensors = read_safetensors(&st).expect("safetensors parse");
    let items = read_items_jsonl(&jsonl).expect("items parse");
    let rules = fixture_rules();
    let built = builder::build(&tensors, &items, &fixture_config(&rules)).expect("fixture builds");
    (st, jsonl, built)
}

#[test]
fn fixture_is_reproducible() {
    let (st, jsonl, built) = build_fixture();
    let dir = fixture_dir();
    let input = dir.join("input");
    let key_hex = edgerec::bundle::integrity::encode_hex(&FIXTURE_SIGNING_SEED) + "\n";
    if std::env::var_os("EDGEREC_REGEN_FIXTURE").is_some() {
        std::fs::create_dir_all(&input).unwrap();
        std::fs::write(input.join("tensors.safetensors"), &st).unwrap();
        std::fs::write(input.join("items.jsonl"), &jsonl).unwrap();
        std::fs::write(input.join("TEST_ONLY_signing_key.hex"), &key_hex).unwrap();
        built.write_to(&dir).unwrap();
        eprintln!("fixture regenerated: {}", serde_json::to_string(&built.report).unwrap());
    }
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(read(input.join("tensors.safetensors")) == st, "input/tensors.safetensors differs");
    assert!(read(input.join("items.jsonl")) == jsonl.as_bytes(), "input/items.jsonl differs");
    assert_eq!(read(input.join("TEST_ONLY_signing_key.hex")), key_hex.as_bytes());
    assert!(read(dir.join("manifest.json")) == built.manifest_json, "manifest.json differs");
    for (name, bytes) in &built.files {
        assert!(&read(dir.join(name)) == bytes, "{name} differs");
    }
}

#[test]
fn round_trip_matches_source_and_int8_bytes_are_reproduced() {
    match bundle_checks::check_fixture_round_trip(&fixture()) {
        Ok(summary) => eprintln!("{summary}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_corruption_class_is_rejected_with_its_own_error() {
    match bundle_checks::check_fixture_corruptions(&fixture()) {
        Ok(classes) => assert_eq!(classes.len(), 8, "{classes:?}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn fixture_has_every_dtype_and_role() {
    let b = Bundle::open(&fixture_dir(), &LoadOptions::with_public_key(fixture_public_key()))
        .expect("fixture loads from disk");
    assert!(b.signature_verified());
    let dtypes: Vec<TensorDType> = b.tensors().map(|t| t.dtype()).collect();
    for d in [TensorDType::F32, TensorDType::F16, TensorDType::I8, TensorDType::U32] {
        assert!(dtypes.contains(&d), "{d:?} missing");
    }
    let emb = b.item_embeddings();
    assert_eq!((emb.rows(), emb.cols(), emb.dtype()), (ITEMS, DIM, TensorDType::I8));
    // Zero-copy: the view's words live inside the loaded file buffer, not a copy per call.
    assert_eq!(emb.words().as_ptr(), b.item_embeddings().words().as_ptr());
    let n = b.neighbors().expect("fixture has i2i lists");
    let ids = n.ids.as_u32().expect("u32 ids");
    assert_eq!(&ids[..5][3..], &[u32::MAX, u32::MAX], "item 0 has 3 neighbours + padding");
    assert!(ids.iter().all(|id| *id == u32::MAX || (*id as usize) < ITEMS));
    assert_eq!(b.tensors_with_prefix("user_tower.").count(), 3);
    assert_eq!(b.tensors_with_prefix("ranker.").count(), 2);
    assert!(b.tensor("stats.popularity").and_then(|t| t.as_f32()).is_some());
    let items = b.items();
    for (row, item) in items.iter().enumerate() {
        assert_eq!(items.row_of(item.id()), Some(row));
    }
    let it = items.get(items.row_of("item-003").expect("present")).expect("row");
    assert_eq!(it.title(), "Fixture item 3 — ünïcödé");
    assert_eq!(it.tags().collect::<Vec<_>>(), ["documentary", "drama"]);
    assert_eq!((it.item_type(), it.created_at()), ("movie", 1_700_010_800));
    assert_eq!(it.attribute("author"), Some("author-3"));
    assert_eq!(it.attribute("brand"), Some("acme"));
    assert_eq!(items.row_of("item-999"), None);
}

#[test]
fn int8_index_is_small_and_keeps_recall_on_the_fixture() {
    let (_, _, built) = build_fixture();
    let r = &built.report.item_index;
    eprintln!("fixture item index: {}", serde_json::to_string(r).unwrap());
    assert!(r.size_ratio <= 0.30, "size ratio {}", r.size_ratio);
    assert!(r.recall_at_100 >= 0.99, "recall@{} = {}", r.k100, r.recall_at_100);
    assert!(r.recall_at_10 >= 0.9, "recall@{} = {}", r.k10, r.recall_at_10);
}

/// The fixture has fewer than 100 items, so recall@100 there is recall@48. This measures the
/// int8 index where k = 100 is a real cut: 5,000 clustered items of dimension 64.
#[test]
fn int8_index_keeps_recall_at_100_on_a_larger_index() {
    let mut rng = Mix(7);
    let (rows, dim) = (5000, 64);
    let emb = clustered(&mut rng, rows, dim, 50);
    let tensors = vec![SourceTensor {
        name: "item_embeddings".into(),
        shape: vec![rows, dim],
        data: SourceData::F32(emb),
    }];
    let items: Vec<ItemRecord> =
        (0..rows).map(|i| ItemRecord { id: format!("i{i}"), ..Default::default() }).collect();
    for similarity in [Similarity::Dot, Similarity::Cosine] {
        let config =
            BuildConfig { similarity, signing_key: None, eval_queries: 200, ..fixture_config(&[]) };
        let built = builder::build(&tensors, &items, &config).expect("builds");
        let r = &built.report.item_index;
        eprintln!("{similarity:?} 5000x64 int8: {}", serde_json::to_string(r).unwrap());
        assert!(r.size_ratio <= 0.30, "{}", r.size_ratio);
        assert!(r.recall_at_100 >= 0.99, "recall@100 = {}", r.recall_at_100);
    }
}

#[test]
fn streaming_load_reports_progress_and_matches_from_bytes() {
    let f = fixture();
    let mut loader = BundleLoader::new(f.manifest, &LoadOptions::default()).expect("manifest");
    let total = loader.total_bytes();
    assert_eq!(total, (f.tensors.len() + f.items.len()) as u64);
    let seen: Rc<RefCell<Vec<(u64, u64)>>> = Rc::default();
    let sink = Rc::clone(&seen);
    loader.on_progress(Box::new(move |p| sink.borrow_mut().push((p.loaded, p.total))));
    // Odd chunk sizes cross word boundaries; files interleave.
    let (mut a, mut b) = (f.tensors.chunks(7), f.items.chunks(13));
    loop {
        let (x, y) = (a.next(), b.next());
        if let Some(c) = x {
            loader.push("tensors.bin", c).expect("push");
        }
        if let Some(c) = y {
            loader.push("items.bin", c).expect("push");
        }
        if x.is_none() && y.is_none() {
            break;
        }
    }
    assert!(loader.push("tensors.bin", &[0]).is_err(), "bytes past the declared length");
    let streamed = loader.finish().expect("streamed bundle loads");
    let seen = seen.borrow();
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "progress is monotonic");
    assert_eq!(seen.last(), Some(&(total, total)));
    let whole = load(f.manifest, f.tensors, f.items, None).expect("loads");
    assert_eq!(streamed.item_embeddings().words(), whole.item_embeddings().words());
    assert!(loader_rejects_unknown_file(f.manifest));
}

fn loader_rejects_unknown_file(manifest: &[u8]) -> bool {
    let mut l = BundleLoader::new(manifest, &LoadOptions::default()).expect("manifest");
    matches!(l.push("../etc/passwd", b"x"), Err(edgerec::Error::BundleCorrupt { .. }))
}

#[test]
fn csv_and_jsonl_items_build_the_same_table() {
    let (st, jsonl, _) = build_fixture();
    let from_json = read_items_jsonl(&jsonl).unwrap();
    let mut csv = String::from("id,title,type,created_at,tags,author,brand\n");
    for it in &from_json {
        let brand = it.attributes.get("brand").cloned().unwrap_or_default();
        csv.push_str(&format!(
            "{},\"{}\",{},{},{},{},{brand}\n",
            it.id,
            it.title,
            it.item_type,
            it.created_at,
            it.tags.join("|"),
            it.attributes["author"],
        ));
    }
    let from_csv = read_items_csv(csv.as_bytes()).unwrap();
    assert_eq!(from_csv, from_json);
    let tensors = read_safetensors(&st).unwrap();
    let rules = fixture_rules();
    let a = builder::build(&tensors, &from_csv, &fixture_config(&rules)).unwrap();
    let b = builder::build(&tensors, &from_json, &fixture_config(&rules)).unwrap();
    assert_eq!(a.files, b.files);
}

#[test]
fn builder_rejects_bad_inputs_with_typed_errors() {
    let (st, jsonl, _) = build_fixture();
    let tensors = read_safetensors(&st).unwrap();
    let mut items = read_items_jsonl(&jsonl).unwrap();
    let rules = fixture_rules();
    let config = fixture_config(&rules);
    items[5].id = items[4].id.clone();
    assert!(matches!(
        builder::build(&tensors, &items, &config),
        Err(edgerec::Error::DuplicateId { .. })
    ));
    items.pop();
    assert!(matches!(
        builder::build(&tensors, &items[..items.len() - 1], &config),
        Err(edgerec::Error::InvalidArgument { .. })
    ));
    let items = read_items_jsonl(&jsonl).unwrap();
    let mut nan = tensors.clone();
    let emb = nan.iter_mut().find(|t| t.name == "item_embeddings").expect("present");
    if let SourceData::F32(v) = &mut emb.data {
        v[3] = f32::NAN;
    }
    assert!(matches!(
        builder::build(&nan, &items, &config),
        Err(edgerec::Error::BundleNonFinite { position: 3, .. })
    ));
    assert!(read_items_jsonl("{\"id\": \"a\", \"colour\": 1}").is_err(), "unknown field");
    assert!(read_safetensors(b"not safetensors").is_err());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn manifest_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            edgerec::bundle::fuzzing::manifest(&bytes);
        }

        #[test]
        fn item_table_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            edgerec::bundle::fuzzing::items(&bytes);
        }

        /// Mutations of the real fixture reach deep into the tensor and item checks.
        #[test]
        fn mutated_fixture(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            target in 0..3usize,
        ) {
            let f = fixture();
            let mut files = [f.manifest.to_vec(), f.tensors.to_vec(), f.items.to_vec()];
            let file = &mut files[target];
            for (at, byte) in flips {
                let i = at.index(file.len());
                file[i] = byte;
            }
            edgerec::bundle::fuzzing::bundle(
                &files[0],
                &[("tensors.bin", &files[1]), ("items.bin", &files[2])],
            );
        }
    }
}
