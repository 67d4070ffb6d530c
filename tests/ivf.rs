//! The IVF index: k-means determinism, exact parity at `nprobe = nlist`, recall on clustered
//! data, the bundle round trip (`ivf.*` tensors) and the loader's rejection of malformed lists.

use edgerec::bundle::QuantScheme;
use edgerec::bundle::builder::{self, BuildConfig, SourceData, SourceTensor};
use edgerec::bundle::items::ItemRecord;
use edgerec::bundle::{IVF_CENTROIDS, IVF_LIST_OFFSETS, IVF_LIST_ROWS, LoadOptions};
use edgerec::compute::cpu::{CpuScratch, fast_score_top_k};
use edgerec::compute::{
    BackendChoice, ItemIndex, ItemMatrix, IvfIndex, IvfParams, IvfScratch, RowMask, ScoreRequest,
    ScoringEngine, Similarity,
};
use edgerec::rng::SeededRng;
use edgerec::{BackendKind, Error, TopK};

/// A seeded Gaussian mixture: `clusters` centres ~ N(0, I), each row a centre plus
/// N(0, spread² I) — shaped like real embeddings (clumped, not uniform).
fn mixture(rows: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    let mut normal = move || {
        let r = (-2.0 * rng.next_f64().ln()).sqrt();
        (r * (std::f64::consts::TAU * rng.next_f64()).cos()) as f32
    };
    let centres: Vec<f32> = (0..clusters * dim).map(|_| normal()).collect();
    let mut pick = SeededRng::new(seed ^ 0x9e37);
    let mut data = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        let c = pick.below(clusters as u64) as usize;
        for j in 0..dim {
            data.push(centres[c * dim + j] + spread * normal());
        }
    }
    data
}

/// Queries: item rows plus noise (in distribution, never an item itself).
fn queries(data: &[f32], dim: usize, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let rows = data.len() / dim;
    let mut rng = SeededRng::new(seed);
    (0..count)
        .map(|_| {
            let r = rng.below(rows as u64) as usize;
            (0..dim).map(|j| data[r * dim + j] + 0.3 * (rng.next_f64() as f32 - 0.5)).collect()
        })
        .collect()
}

fn int8_index(data: &[f32], dim: usize, similarity: Similarity) -> ItemIndex {
    let m = ItemMatrix::new(data.to_vec(), dim).unwrap();
    ItemIndex::quantize(&m, edgerec::bundle::QuantScheme::I8_PER_ROW, similarity).unwrap()
}

fn exact(index: &ItemIndex, q: &[f32], k: usize, mask: Option<&RowMask>) -> TopK {
    let mut request = ScoreRequest::new(q, k);
    if let Some(m) = mask {
        request = request.with_mask(m);
    }
    fast_score_top_k(index, &request, &mut CpuScratch::new()).unwrap().remove(0)
}

#[test]
fn kmeans_is_deterministic_for_a_seed_and_lists_cover_every_row() {
    let (dim, rows) = (16, 3000);
    let data = mixture(rows, dim, 20, 0.3, 1);
    for similarity in [Similarity::Cosine, Similarity::Dot] {
        let params = IvfParams { iters: 5, ..IvfParams::new(32) };
        let a = IvfIndex::train(&data, dim, similarity, &params).unwrap();
        let b = IvfIndex::train(&data, dim, similarity, &params).unwrap();
        assert_eq!(a, b, "{similarity:?}");
        let c = IvfIndex::train(&data, dim, similarity, &IvfParams { seed: 7, ..params }).unwrap();
        assert_ne!(a.centroids(), c.centroids(), "another seed, other centroids");
        assert_eq!((a.nlist(), a.rows(), a.dim()), (32, rows, dim));
        let mut all: Vec<u32> = a.list_rows().to_vec();
        all.sort_unstable();
        assert_eq!(all, (0..rows as u32).collect::<Vec<_>>());
        for l in 0..a.nlist() {
            assert!(a.list(l).windows(2).all(|w| w[0] < w[1]), "rows ascending in list {l}");
        }
        if similarity == Similarity::Cosine {
            for c in a.centroids().chunks_exact(dim) {
                let norm: f32 = c.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "spherical centroids are unit: {norm}");
            }
        }
    }
}

#[test]
fn training_rejects_bad_inputs_with_typed_errors() {
    let data = mixture(10, 4, 2, 0.1, 2);
    let train = |d: &[f32], dim, nlist| {
        IvfIndex::train(d, dim, Similarity::Dot, &IvfParams::new(nlist)).map(|_| ())
    };
    assert!(matches!(train(&data, 4, 0), Err(Error::InvalidArgument { name: "ivf", .. })));
    assert!(matches!(train(&data, 4, 11), Err(Error::InvalidArgument { name: "ivf", .. })));
    assert_eq!(
        train(&data, 3, 2),
        Err(Error::ShapeMismatch { what: "ivf training data", len: 40, dim: 3 })
    );
    assert_eq!(train(&[], 4, 1), Err(Error::EmptyIndex));
    let mut bad = data.clone();
    bad[5] = f32::NAN;
    assert_eq!(train(&bad, 4, 2), Err(Error::NonFinite { what: "ivf training data", position: 5 }));
}

#[test]
fn nprobe_equal_to_nlist_is_exactly_the_exact_int8_search() {
    let (dim, rows) = (24, 4000);
    // Integer-valued rows repeat exactly, so exact ties occur and must go to the lower row.
    let mut data = mixture(rows, dim, 30, 0.4, 3);
    for x in &mut data {
        *x = (*x * 2.0).round();
    }
    let (copy_from, copy_to) = (dim * 17, dim * 3001);
    let row17: Vec<f32> = data[copy_from..copy_from + dim].to_vec();
    data[copy_to..copy_to + dim].copy_from_slice(&row17);
    for similarity in [Similarity::Cosine, Similarity::Dot] {
        let index = int8_index(&data, dim, similarity);
        let ivf = IvfIndex::train(&data, dim, similarity, &IvfParams::new(40)).unwrap();
        let mut scratch = IvfScratch::new();
        let mut mask = RowMask::new(rows);
        (0..rows).step_by(11).for_each(|r| mask.exclude(r));
        let mut qs = queries(&data, dim, 20, 4);
        qs.push(row17.clone());
        for q in &qs {
            for k in [1, 10, 100] {
                for m in [None, Some(&mask)] {
                    let want = exact(&index, q, k, m);
                    for nprobe in [ivf.nlist(), ivf.nlist() + 5] {
                        let got = ivf.search(&index, q, k, nprobe, m, &mut scratch).unwrap();
                        assert_eq!(got.ids, want.ids, "{similarity:?} k {k}");
                        let bits = |t: &TopK| t.scores.iter().map(|s| s.to_bits()).collect();
                        let (g, w): (Vec<u32>, Vec<u32>) = (bits(&got), bits(&want));
                        assert_eq!(g, w, "{similarity:?} k {k}: bit-identical scores");
                    }
                }
            }
        }
        // The duplicated row ties with row 17 exactly: the lower row comes first.
        let top = ivf.search(&index, &row17, 2, ivf.nlist(), None, &mut scratch).unwrap();
        assert_eq!(top.scores[0], top.scores[1]);
        assert!(top.ids[0] < top.ids[1], "{:?}", top.ids);
    }
}

#[test]
fn probed_rows_are_scored_exactly_and_small_lists_are_topped_up_to_k() {
    let (dim, rows) = (16, 2000);
    let data = mixture(rows, dim, 10, 0.3, 5);
    let index = int8_index(&data, dim, Similarity::Cosine);
    let ivf = IvfIndex::train(&data, dim, Similarity::Cosine, &IvfParams::new(64)).unwrap();
    let mut scratch = IvfScratch::new();
    for q in queries(&data, dim, 10, 6) {
        // nprobe = 1 with k = 500: more lists are probed until they hold ≥ 500 rows.
        let lists = ivf.probe(&q, 1, 500);
        let probed: Vec<u32> = {
            let mut v: Vec<u32> =
                lists.iter().flat_map(|&l| ivf.list(l as usize)).copied().collect();
            v.sort_unstable();
            v
        };
        assert!(probed.len() >= 500);
        let got = ivf.search(&index, &q, 500, 1, None, &mut scratch).unwrap();
        assert_eq!(got.len(), 500);
        let want = fast_score_top_k(
            &index,
            &ScoreRequest::new(&q, 500).with_candidates(&probed),
            &mut CpuScratch::new(),
        )
        .unwrap()
        .remove(0);
        assert_eq!(got, want);
    }
    let q = vec![1.0; dim];
    assert!(matches!(
        ivf.search(&index, &q, 10, 0, None, &mut scratch),
        Err(Error::InvalidArgument { name: "nprobe", .. })
    ));
    assert_eq!(
        ivf.search(&index, &q[..3], 10, 4, None, &mut scratch),
        Err(Error::DimensionMismatch { expected: dim, received: 3 })
    );
    let other = int8_index(&data[..dim * 100], dim, Similarity::Cosine);
    assert!(matches!(
        ivf.search(&other, &q, 10, 4, None, &mut scratch),
        Err(Error::InvalidArgument { name: "ivf", .. })
    ));
}

/// A quality test on seeded data, not a timing test.
#[test]
fn recall_at_100_is_at_least_095_at_a_moderate_nprobe() {
    let (dim, rows) = (32, 20_000);
    let data = mixture(rows, dim, 100, 0.5, 8);
    let index = int8_index(&data, dim, Similarity::Cosine);
    let ivf = IvfIndex::train(&data, dim, Similarity::Cosine, &IvfParams::new(128)).unwrap();
    let mut scratch = IvfScratch::new();
    let qs = queries(&data, dim, 50, 9);
    let nprobe = 16; // 1/8 of the lists
    let mut recall = 0.0;
    for q in &qs {
        let want = exact(&index, q, 100, None);
        let got = ivf.search(&index, q, 100, nprobe, None, &mut scratch).unwrap();
        recall += got.ids.iter().filter(|id| want.ids.contains(id)).count() as f64 / 100.0;
    }
    recall /= qs.len() as f64;
    assert!(recall >= 0.95, "recall@100 at nprobe {nprobe}: {recall:.4}");
}

#[test]
fn the_gpu_scans_the_probed_lists_like_the_cpu() {
    // f32 storage: both paths compute f32 dot products, so lists agree up to summation order.
    let (dim, rows) = (24, 30_000);
    let data = mixture(rows, dim, 60, 0.5, 21);
    let matrix = ItemMatrix::new(data.clone(), dim).unwrap();
    let index = ItemIndex::quantize(&matrix, QuantScheme::F32, Similarity::Dot).unwrap();
    let ivf = IvfIndex::train(&data, dim, Similarity::Dot, &IvfParams::new(64)).unwrap();
    let mut engine =
        pollster::block_on(ScoringEngine::new(index.clone(), BackendChoice::WebGpu)).unwrap();
    if engine.report().backend != BackendKind::WebGpu {
        assert!(
            std::env::var_os("EDGEREC_REQUIRE_GPU").is_none(),
            "EDGEREC_REQUIRE_GPU is set but the engine runs on the CPU: {}",
            engine.report().reason
        );
        eprintln!("skipping: {}", engine.report().reason);
        return;
    }
    engine.set_ivf(ivf.clone(), 6).unwrap();
    let mut mask = RowMask::new(rows);
    for r in (0..rows).step_by(7) {
        mask.exclude(r);
    }
    let mut scratch = IvfScratch::new();
    for (i, q) in queries(&data, dim, 12, 22).iter().enumerate() {
        let mask = (i % 2 == 1).then_some(&mask);
        let mut request = ScoreRequest::new(q, 100);
        if let Some(mask) = mask {
            request = request.with_mask(mask);
        }
        let gpu = pollster::block_on(engine.score_top_k(&request)).unwrap().pop().unwrap();
        let cpu = ivf.search(&index, q, 100, 6, mask, &mut scratch).unwrap();
        assert_eq!(gpu.ids.len(), cpu.ids.len());
        for (rank, (g, c)) in gpu.ids.iter().zip(&cpu.ids).enumerate() {
            let (gs, cs) = (gpu.scores[rank], cpu.scores[rank]);
            assert!((gs - cs).abs() <= 1e-4 * cs.abs().max(1.0), "rank {rank}: {gs} vs {cs}");
            // Different ids only as a swap of (near-)equal scores.
            if g != c {
                let other = cpu.ids.iter().position(|id| id == g).expect("same rows");
                assert!((cpu.scores[other] - gs).abs() <= 1e-4 * gs.abs().max(1.0));
            }
        }
    }
    assert_eq!(engine.report().backend, BackendKind::WebGpu);
}

fn items(n: usize) -> Vec<ItemRecord> {
    (0..n).map(|i| ItemRecord { id: format!("item-{i}"), ..ItemRecord::default() }).collect()
}

fn config() -> BuildConfig<'static> {
    BuildConfig {
        model_id: "ivf-test",
        model_version: "1",
        created_at: "2025-01-01T00:00:00Z",
        similarity: edgerec::bundle::Similarity::Cosine,
        temperature: 0.05,
        rules: &[],
        signing_key: None,
        eval_queries: 16,
        seed: 0,
    }
}

fn embeddings(data: &[f32], dim: usize) -> SourceTensor {
    SourceTensor {
        name: "item_embeddings".into(),
        shape: vec![data.len() / dim, dim],
        data: SourceData::F32(data.to_vec()),
    }
}

#[test]
fn bundle_round_trip_builds_loads_and_searches() {
    let (dim, rows) = (16, 1500);
    let data = mixture(rows, dim, 12, 0.3, 10);
    let mut sources = vec![embeddings(&data, dim)];
    let params = IvfParams { iters: 6, ..IvfParams::new(24) };
    let built_ivf =
        IvfIndex::add_to_sources(&mut sources, edgerec::bundle::Similarity::Cosine, &params)
            .unwrap();
    assert!(matches!(
        IvfIndex::add_to_sources(&mut sources, edgerec::bundle::Similarity::Cosine, &params),
        Err(Error::InvalidArgument { name: "ivf", .. })
    ));
    let built = builder::build(&sources, &items(rows), &config()).unwrap();
    let bundle = built.load(&LoadOptions::default()).unwrap();
    let tensors = bundle.ivf().expect("ivf tensors");
    assert_eq!(tensors.centroids.shape(), &[24, dim as u64]);
    let ivf = IvfIndex::from_bundle(&bundle).unwrap().expect("ivf present");
    assert_eq!(ivf, built_ivf);
    let index = ItemIndex::from_bundle(&bundle).unwrap();
    let q = queries(&data, dim, 1, 11).remove(0);
    let mut scratch = IvfScratch::new();
    let all = ivf.search(&index, &q, 50, ivf.nlist(), None, &mut scratch).unwrap();
    assert_eq!(all, exact(&index, &q, 50, None));

    // Through the engine: exact by default, IVF once set.
    let mut engine =
        pollster::block_on(ScoringEngine::new(index.clone(), BackendChoice::Cpu)).unwrap();
    assert_eq!(engine.ivf_nprobe(), None);
    let approx = ivf.search(&index, &q, 50, 3, None, &mut scratch).unwrap();
    engine.set_ivf(ivf.clone(), 3).unwrap();
    assert_eq!(engine.ivf_nprobe(), Some(3));
    let batch: Vec<f32> = q.iter().chain(&q).copied().collect();
    let got = pollster::block_on(engine.score_top_k(&ScoreRequest::new(&batch, 50))).unwrap();
    assert_eq!(got, vec![approx.clone(), approx]);
    assert_eq!(engine.clear_ivf(), Some(ivf.clone()));
    assert_eq!(pollster::block_on(engine.top_k(&q, 50)).unwrap(), all);
    assert!(matches!(engine.set_ivf(ivf, 0), Err(Error::InvalidArgument { name: "nprobe", .. })));

    // A bundle without IVF tensors has none.
    let plain = builder::build(&sources[..1], &items(rows), &config()).unwrap();
    assert!(
        IvfIndex::from_bundle(&plain.load(&LoadOptions::default()).unwrap()).unwrap().is_none()
    );
}

#[test]
fn malformed_ivf_tensors_are_rejected_with_typed_errors() {
    let (dim, rows) = (8, 40);
    let data = mixture(rows, dim, 4, 0.3, 12);
    let mut base = vec![embeddings(&data, dim)];
    IvfIndex::add_to_sources(&mut base, edgerec::bundle::Similarity::Cosine, &IvfParams::new(4))
        .unwrap();
    let build = |edit: &dyn Fn(&mut Vec<SourceTensor>)| {
        let mut s = base.clone();
        edit(&mut s);
        builder::build(&s, &items(rows), &config()).map(|_| ())
    };
    let set_u32 = |s: &mut Vec<SourceTensor>, name: &str, v: Vec<u32>| {
        let t = s.iter_mut().find(|t| t.name == name).unwrap();
        t.shape = vec![v.len()];
        t.data = SourceData::U32(v);
    };
    assert_eq!(build(&|_| {}), Ok(()));
    let corrupt = |r: Result<(), Error>, needle: &str| match r {
        Err(Error::BundleCorrupt { reason, .. }) => {
            assert!(reason.contains(needle), "{reason}")
        }
        other => panic!("expected BUNDLE_CORRUPT ({needle}), got {other:?}"),
    };
    let shape = |r: Result<(), Error>, tensor: &str| match r {
        Err(Error::BundleShapeMismatch { tensor: t, .. }) => assert_eq!(t, tensor),
        other => panic!("expected BUNDLE_SHAPE_MISMATCH for {tensor}, got {other:?}"),
    };
    // Partial set.
    corrupt(build(&|s| s.retain(|t| t.name != IVF_LIST_ROWS)), "needs all of");
    // Offsets: decreasing, not starting at 0, not ending at the item count.
    corrupt(build(&|s| set_u32(s, IVF_LIST_OFFSETS, vec![0, 30, 20, 35, 40])), "decrease");
    corrupt(build(&|s| set_u32(s, IVF_LIST_OFFSETS, vec![1, 10, 20, 30, 40])), "must be 0");
    corrupt(build(&|s| set_u32(s, IVF_LIST_OFFSETS, vec![0, 10, 20, 30, 39])), "hold 39 rows");
    // Rows: repeated, out of range.
    let mut repeated: Vec<u32> = (0..rows as u32).collect();
    repeated[5] = 6;
    corrupt(build(&|s| set_u32(s, IVF_LIST_ROWS, repeated.clone())), "permutation");
    let mut out_of_range: Vec<u32> = (0..rows as u32).collect();
    out_of_range[0] = 1000;
    corrupt(build(&|s| set_u32(s, IVF_LIST_ROWS, out_of_range.clone())), "permutation");
    // Shapes: offsets not nlist + 1, rows not items, centroids of another dimension.
    shape(build(&|s| set_u32(s, IVF_LIST_OFFSETS, vec![0, 20, 40])), IVF_LIST_OFFSETS);
    shape(build(&|s| set_u32(s, IVF_LIST_ROWS, (0..39).collect())), IVF_LIST_ROWS);
    shape(
        build(&|s| {
            let t = s.iter_mut().find(|t| t.name == IVF_CENTROIDS).unwrap();
            t.shape = vec![8, 4];
        }),
        IVF_CENTROIDS,
    );
    // And through `from_parts`, the same checks as InvalidArgument.
    assert!(matches!(
        IvfIndex::from_parts(vec![0.0; 8], 4, Similarity::Dot, vec![0, 2, 1], vec![0, 1]),
        Err(Error::InvalidArgument { name: "ivf", .. })
    ));
    assert!(matches!(
        IvfIndex::from_parts(vec![0.0; 7], 4, Similarity::Dot, vec![0, 1, 2], vec![0, 1]),
        Err(Error::InvalidArgument { name: "ivf", .. })
    ));
}
