//! The top-k parity suite, written once and run on every backend × stored dtype × similarity:
//! natively on Vulkan (lavapipe in CI; `tests/gpu_parity.rs`) and in headless Chromium's WebGPU
//! (`tests/browser.rs`), and for the optimized CPU path on both.
//!
//! The reference scores the *stored* (dequantized) rows in f64, so parity measures the kernels,
//! not quantization (that is reported as recall by the bundle builder).
//!
//! Tolerance: a score may differ from the reference by `1e-4 × Σ_j |q_j · x_j|` (divided by
//! `‖q‖‖x‖` for cosine), i.e. 1e-4 relative to the dot product's condition scale — equal to
//! |score| when all terms share a sign, and still meaningful for scores that cancel to near zero.
//! Ids must be the reference's, in its order, except where two true scores lie within that
//! tolerance of each other (near-ties may swap); exactly equal scores must come out with the
//! lower id first.
//!
//! The CPU int8 path rounds the query to 16-bit fixed point (`s_q = max|q| / 32767`) to use
//! integer multiply-adds; its scores get the extra, stated allowance `max|q| / 65534 · Σ_j |x_j|`
//! (divided by `‖q‖‖x‖` for cosine) — the exact worst case of that rounding.

#![allow(dead_code)] // each test binary uses a different subset

use edgerec::bundle::QuantScheme;
use edgerec::compute::cpu::{CpuScratch, fast_score_top_k, reference_score_top_k};
use edgerec::compute::gpu::{GpuContext, GpuIndex, GpuIndexOptions};
use edgerec::compute::{ItemIndex, RowMask, ScoreRequest, Similarity};
use edgerec::{ItemMatrix, MAX_K, TopK};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Relative tolerance of the suite.
pub const REL_TOL: f64 = 1e-4;

/// Every stored format the kernels support.
pub const SCHEMES: [QuantScheme; 4] = [
    QuantScheme::F32,
    QuantScheme::F16,
    QuantScheme::I8_PER_ROW,
    QuantScheme::I8_PER_ROW_F16_SCALE,
];

/// One randomized case; everything derives from `seed`, which failures print.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Seed for the values, mask and candidates.
    pub seed: u64,
    /// Item rows.
    pub rows: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Results requested.
    pub k: usize,
    /// Queries in the batch.
    pub batch: usize,
    /// Stored format.
    pub scheme: QuantScheme,
    /// Similarity.
    pub similarity: Similarity,
    /// Copy some rows over others so exact ties occur.
    pub duplicates: bool,
    /// Exclude about a tenth of the rows.
    pub masked: bool,
    /// Score only a random half of the rows.
    pub candidates: bool,
    /// Split the GPU copy into buffers of at most this many bytes.
    pub chunk_bytes: Option<u64>,
    /// Force the span of a GPU score workgroup, in tiles (the streaming top-k's cuts).
    pub tiles_per_group: Option<u32>,
}

impl Case {
    /// A plain case: f32, dot, one query, whole index, no chunking.
    pub fn plain(seed: u64, rows: usize, dim: usize, k: usize, duplicates: bool) -> Self {
        Self {
            seed,
            rows,
            dim,
            k,
            batch: 1,
            scheme: QuantScheme::F32,
            similarity: Similarity::Dot,
            duplicates,
            masked: false,
            candidates: false,
            chunk_bytes: None,
            tiles_per_group: None,
        }
    }

    /// A case whose every parameter is drawn from the seed (for runners without proptest).
    pub fn from_seed(seed: u64, max_rows: usize) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let rows = rng.random_range(1..=max_rows);
        let dim: usize = rng.random_range(1..=130);
        let candidates = rng.random_bool(0.3);
        let pool = if candidates { rows.div_ceil(2) } else { rows };
        let row_bytes = dim.div_ceil(4) as u64 * 16;
        Self {
            seed,
            rows,
            dim,
            k: rng.random_range(1..=pool.min(MAX_K)),
            batch: rng.random_range(1..=3),
            scheme: SCHEMES[rng.random_range(0..SCHEMES.len())],
            similarity: if rng.random_bool(0.5) { Similarity::Dot } else { Similarity::Cosine },
            duplicates: rng.random_bool(0.5),
            masked: rng.random_bool(0.3),
            candidates,
            chunk_bytes: rng.random_bool(0.3).then(|| row_bytes * rng.random_range(1..=3000)),
            tiles_per_group: rng.random_bool(0.5).then(|| rng.random_range(1..=8)),
        }
    }

    /// The index, the queries, and the optional mask and candidate list of this case.
    pub fn inputs(&self) -> Inputs {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut data: Vec<f32> =
            (0..self.rows * self.dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        if self.duplicates && self.rows > 1 {
            for _ in 0..self.rows.div_ceil(4) {
                let (from, to) = (rng.random_range(0..self.rows), rng.random_range(0..self.rows));
                data.copy_within(from * self.dim..(from + 1) * self.dim, to * self.dim);
            }
        }
        let queries = (0..self.batch * self.dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let matrix = ItemMatrix::new(data, self.dim).expect("generated matrix is valid");
        let index = ItemIndex::quantize(&matrix, self.scheme, self.similarity).expect("quantizes");
        let mask = self.masked.then(|| {
            let mut mask = RowMask::new(self.rows);
            for _ in 0..self.rows / 10 {
                mask.exclude(rng.random_range(0..self.rows));
            }
            mask
        });
        let candidates = self.candidates.then(|| {
            let mut all: Vec<u32> = (0..self.rows as u32).collect();
            all.shuffle(&mut rng);
            all.truncate(self.rows.div_ceil(2));
            all
        });
        Inputs { index, queries, mask, candidates, k: self.k }
    }
}

/// Everything one case scores.
pub struct Inputs {
    /// The item index.
    pub index: ItemIndex,
    /// `batch × dim` queries.
    pub queries: Vec<f32>,
    /// Rows to leave out.
    pub mask: Option<RowMask>,
    /// Rows to score.
    pub candidates: Option<Vec<u32>>,
    /// Results per query.
    pub k: usize,
}

impl Inputs {
    /// The request these inputs describe.
    pub fn request(&self) -> ScoreRequest<'_> {
        let mut request = ScoreRequest::new(&self.queries, self.k);
        if let Some(mask) = &self.mask {
            request = request.with_mask(mask);
        }
        if let Some(candidates) = &self.candidates {
            request = request.with_candidates(candidates);
        }
        request
    }
}

/// How a backend computed its scores, for the tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// f32 query, f32 accumulation (GPU, CPU f32/f16).
    F32,
    /// Query rounded to 16-bit fixed point, exact integer accumulation (CPU int8).
    QueryI16,
}

/// The exact score of stored `row` against `query` (f64) and the tolerance allowed for it.
fn exact_and_tol(
    index: &ItemIndex,
    row: usize,
    query: &[f32],
    arithmetic: Arithmetic,
) -> (f64, f64) {
    let mut x = vec![0.0f32; index.dim()];
    index.matrix().dequantize_row(row, &mut x);
    let dot: f64 = x.iter().zip(query).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
    let scale: f64 = x.iter().zip(query).map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs()).sum();
    let mut tol = REL_TOL * scale;
    if arithmetic == Arithmetic::QueryI16 {
        let max_q = query.iter().fold(0.0f64, |m, b| m.max(f64::from(*b).abs()));
        tol +=
            max_q / 65534.0 * x.iter().map(|a| f64::from(*a).abs()).sum::<f64>() * (1.0 + REL_TOL);
    }
    match index.similarity() {
        Similarity::Dot => (dot, tol),
        Similarity::Cosine => {
            let norms = (x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>()
                * query.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>())
            .sqrt();
            if norms > 0.0 { (dot / norms, tol / norms) } else { (0.0, 0.0) }
        }
    }
}

/// Checks one query's `got` against `reference` under the suite's rules; `Err` explains the
/// first violation.
pub fn check_top_k(
    inputs: &Inputs,
    query: &[f32],
    reference: &TopK,
    got: &TopK,
    arithmetic: Arithmetic,
) -> Result<(), String> {
    if got.ids.len() != reference.ids.len() || got.scores.len() != reference.ids.len() {
        return Err(format!(
            "returned {} results, expected {}",
            got.ids.len(),
            reference.ids.len()
        ));
    }
    let index = &inputs.index;
    let mut seen = std::collections::HashSet::new();
    for (rank, (&id, &score)) in got.ids.iter().zip(&got.scores).enumerate() {
        let row = id as usize;
        if row >= index.rows() || !seen.insert(id) {
            return Err(format!("rank {rank}: id {id} out of range or repeated"));
        }
        if inputs.mask.as_ref().is_some_and(|m| m.is_excluded(row)) {
            return Err(format!("rank {rank}: id {id} is masked out"));
        }
        if inputs.candidates.as_ref().is_some_and(|c| !c.contains(&id)) {
            return Err(format!("rank {rank}: id {id} is not a candidate"));
        }
        let (exact, tol) = exact_and_tol(index, row, query, arithmetic);
        if (f64::from(score) - exact).abs() > tol {
            return Err(format!("rank {rank}: id {id} scored {score}, exact {exact}, tol {tol}"));
        }
        // The item must belong at this rank: its true score within tolerance of the reference's.
        let ref_row = reference.ids[rank] as usize;
        let (ref_exact, ref_tol) = exact_and_tol(index, ref_row, query, arithmetic);
        let tie_tol = tol.max(ref_tol);
        if (exact - ref_exact).abs() > tie_tol {
            return Err(format!(
                "rank {rank}: id {id} (exact {exact}) where the reference has id {ref_row} \
                 (exact {ref_exact}); not a near-tie (tol {tie_tol})"
            ));
        }
        if rank > 0 && got.scores[rank - 1] == score && got.ids[rank - 1] > id {
            return Err(format!(
                "ranks {}..={rank}: equal scores {score} but ids {} > {id} (ties go to the lower id)",
                rank - 1,
                got.ids[rank - 1]
            ));
        }
    }
    Ok(())
}

fn check_all(
    inputs: &Inputs,
    reference: &[TopK],
    got: &[TopK],
    arithmetic: Arithmetic,
    what: &str,
) -> Result<(), String> {
    if got.len() != reference.len() {
        return Err(format!("{what}: {} result lists for {} queries", got.len(), reference.len()));
    }
    let dim = inputs.index.dim();
    for (b, (r, g)) in reference.iter().zip(got).enumerate() {
        check_top_k(inputs, &inputs.queries[b * dim..(b + 1) * dim], r, g, arithmetic)
            .map_err(|e| format!("{what}, query {b}: {e}"))?;
    }
    Ok(())
}

/// The optimized CPU path against the reference.
pub fn cpu_case(case: &Case) -> Result<(), String> {
    let inputs = case.inputs();
    let request = inputs.request();
    let reference = reference_score_top_k(&inputs.index, &request).map_err(|e| e.to_string())?;
    let fast = fast_score_top_k(&inputs.index, &request, &mut CpuScratch::new())
        .map_err(|e| format!("{case:?}: {e}"))?;
    let arithmetic = match case.scheme.dtype {
        edgerec::bundle::DType::I8 => Arithmetic::QueryI16,
        _ => Arithmetic::F32,
    };
    check_all(&inputs, &reference, &fast, arithmetic, &format!("{case:?} cpu fast"))
}

/// The GPU kernels on `ctx` against the reference; the index is uploaded once and queried with
/// two different k, so buffer and bind-group reuse is covered.
pub async fn gpu_case(ctx: &GpuContext, case: &Case) -> Result<(), String> {
    let mut inputs = case.inputs();
    let options = GpuIndexOptions {
        max_chunk_bytes: case.chunk_bytes,
        tiles_per_group: case.tiles_per_group,
    };
    let mut index = GpuIndex::upload_with(ctx, &inputs.index, options)
        .await
        .map_err(|e| format!("{case:?}: {e}"))?;
    for k in [case.k, (case.k / 3).max(1)] {
        inputs.k = k;
        let request = inputs.request();
        let reference =
            reference_score_top_k(&inputs.index, &request).map_err(|e| e.to_string())?;
        let got = index.score_top_k(ctx, &request).await.map_err(|e| format!("{case:?}: {e}"))?;
        let what = format!("{case:?} gpu k={k} chunks={}", index.chunks());
        check_all(&inputs, &reference, &got, Arithmetic::F32, &what)?;
    }
    Ok(())
}

/// Shapes every backend must get right whatever the random draw: tile boundaries (2048 rows),
/// k at both limits, a single row, odd dimensions, every dtype and similarity, chunked indexes
/// (including chunks smaller than a tile), masks that leave fewer than k rows, candidates.
pub fn edge_cases() -> Vec<Case> {
    let plain = Case::plain;
    let mut cases = vec![
        plain(1, 1, 1, 1, false),
        plain(2, 2047, 3, 1, false),
        plain(3, 2048, 64, 1024, false),
        plain(4, 2049, 64, 1024, true),
        plain(5, 4097, 17, 1000, false),
        plain(6, 1024, 8, 1024, true),
        plain(7, 50_000, 64, 100, false),
        plain(8, 20_000, 5, 513, true),
    ];
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        for similarity in [Similarity::Dot, Similarity::Cosine] {
            let seed = 100 + i as u64 * 2 + u64::from(similarity == Similarity::Cosine);
            cases.push(Case { scheme, similarity, batch: 3, ..plain(seed, 9000, 37, 64, true) });
            cases.push(Case {
                scheme,
                similarity,
                masked: true,
                candidates: true,
                chunk_bytes: Some(16 * 3 * 700),
                ..plain(seed + 50, 7000, 45, 200, false)
            });
        }
    }
    // A mask that leaves fewer eligible rows than k: fewer results, no padding ids.
    cases.push(Case { masked: true, ..plain(300, 12, 4, 12, false) });
    // Chunks of whole tiles.
    cases.push(Case { chunk_bytes: Some(16 * 2048 * 2), ..plain(301, 10_000, 16, 300, true) });
    // Long spans: one workgroup streams many tiles, cutting its buffer to k as rows pass its
    // threshold — with k at the limit (a cut every few rounds), ties, masks, candidates, chunks.
    let span = |t, case: Case| Case { tiles_per_group: Some(t), ..case };
    cases.push(span(16, plain(302, 50_000, 64, 100, true)));
    cases.push(span(5, plain(303, 9000, 24, 1024, true)));
    cases.push(span(
        3,
        Case { masked: true, candidates: true, ..plain(304, 30_000, 19, 700, true) },
    ));
    cases.push(span(
        4,
        Case { chunk_bytes: Some(16 * 2048 * 3), batch: 2, ..plain(305, 20_000, 16, 64, false) },
    ));
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        cases.push(span(
            7,
            Case { scheme, batch: 2, ..plain(310 + i as u64, 16_000, 33, 128, true) },
        ));
    }
    cases
}

/// Rows whose scores rise with the row index against the query `[1, 0, …]`: every row beats the
/// running threshold of a streaming workgroup, the worst case for its cuts.
pub fn rising_rows(rows: usize, dim: usize) -> (ItemIndex, Vec<f32>) {
    let data: Vec<f32> =
        (0..rows * dim).map(|i| if i % dim == 0 { (i / dim) as f32 * 1e-3 } else { 0.5 }).collect();
    let matrix = ItemMatrix::new(data, dim).expect("valid matrix");
    let index = ItemIndex::quantize(&matrix, QuantScheme::F32, Similarity::Dot).expect("quantizes");
    let mut query = vec![0.0; dim];
    query[0] = 1.0;
    (index, query)
}

/// All rows identical: every score ties, so the result must be exactly ids 0..k.
pub fn identical_rows() -> (ItemIndex, Vec<f32>, usize) {
    let dim = 12;
    let row: Vec<f32> = (0..dim).map(|j| j as f32 * 0.25 - 1.0).collect();
    let data = row.iter().copied().cycle().take(5000 * dim).collect();
    let matrix = ItemMatrix::new(data, dim).expect("valid");
    (
        ItemIndex::quantize(&matrix, QuantScheme::F32, Similarity::Dot).expect("valid"),
        vec![0.5; dim],
        300,
    )
}

/// A random MLP case: layer widths, weight format, batch.
#[derive(Debug, Clone)]
pub struct MlpCase {
    /// Seed for weights, biases and inputs.
    pub seed: u64,
    /// Widths, input first: `[in, hidden…, out]`.
    pub widths: Vec<usize>,
    /// Weight storage format.
    pub scheme: QuantScheme,
    /// Input rows.
    pub batch: usize,
    /// Activation of the output layer (hidden layers use ReLU).
    pub output: edgerec::compute::Activation,
}

/// Output activations the MLP cases draw from.
pub const OUTPUT_ACTIVATIONS: [edgerec::compute::Activation; 4] = [
    edgerec::compute::Activation::Sigmoid,
    edgerec::compute::Activation::Softmax,
    edgerec::compute::Activation::Identity,
    edgerec::compute::Activation::Relu,
];

impl MlpCase {
    /// A case drawn entirely from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xd15e);
        let depth = rng.random_range(1..=4);
        let widths = (0..=depth).map(|_| rng.random_range(1..=150)).collect();
        let scheme = SCHEMES[rng.random_range(0..SCHEMES.len())];
        let batch = rng.random_range(1..=40);
        let output = OUTPUT_ACTIVATIONS[rng.random_range(0..OUTPUT_ACTIVATIONS.len())];
        Self { seed, widths, scheme, batch, output }
    }

    /// The MLP (ReLU hidden layers, `output` last) and a batch of inputs.
    pub fn inputs(&self) -> (edgerec::compute::Mlp, Vec<f32>) {
        use edgerec::bundle::QuantizedMatrix;
        use edgerec::compute::{Activation, DenseLayer, Mlp};
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let last = self.widths.len() - 2;
        let layers = self
            .widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                // He-style scale keeps activations O(1) through the stack.
                let scale = (2.0 / w[0] as f32).sqrt();
                let weights: Vec<f32> =
                    (0..w[0] * w[1]).map(|_| rng.random_range(-1.0f32..1.0) * scale).collect();
                let bias = (0..w[1]).map(|_| rng.random_range(-0.1f32..0.1)).collect();
                let act = if i == last { self.output } else { Activation::Relu };
                let stored = QuantizedMatrix::quantize(&weights, w[0], self.scheme).expect("valid");
                DenseLayer::new(stored, bias, act).expect("valid")
            })
            .collect();
        let inputs =
            (0..self.batch * self.widths[0]).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        (Mlp::new(layers).expect("widths chain"), inputs)
    }
}

/// MLP outputs agree when `|got − ref| ≤ 1e-4 · (1 + |ref|)` (f32 accumulation through every
/// layer against the f64 reference on the same stored weights).
pub fn check_mlp(reference: &[f32], got: &[f32], what: &str) -> Result<(), String> {
    if reference.len() != got.len() {
        return Err(format!("{what}: {} outputs, expected {}", got.len(), reference.len()));
    }
    for (i, (r, g)) in reference.iter().zip(got).enumerate() {
        if (f64::from(*g) - f64::from(*r)).abs() > REL_TOL * (1.0 + f64::from(r.abs())) {
            return Err(format!("{what}: output {i} is {g}, reference {r}"));
        }
    }
    Ok(())
}

/// The fast CPU forward pass against the reference.
pub fn cpu_mlp_case(case: &MlpCase) -> Result<(), String> {
    let (mlp, inputs) = case.inputs();
    let reference = mlp.forward_reference(&inputs).map_err(|e| e.to_string())?;
    let fast = mlp.forward(&inputs, &mut Default::default()).map_err(|e| e.to_string())?;
    check_mlp(&reference, &fast, &format!("{case:?} cpu fast"))
}

/// The GPU forward pass against the reference, twice (buffer reuse), with a smaller batch second.
pub async fn gpu_mlp_case(ctx: &GpuContext, case: &MlpCase) -> Result<(), String> {
    let (mlp, inputs) = case.inputs();
    let mut gpu =
        edgerec::compute::gpu::GpuMlp::upload(ctx, &mlp).await.map_err(|e| e.to_string())?;
    let rows = [inputs.len(), (case.batch / 2).max(1) * case.widths[0]];
    for n in rows {
        let reference = mlp.forward_reference(&inputs[..n]).map_err(|e| e.to_string())?;
        let got = gpu.forward(ctx, &inputs[..n]).await.map_err(|e| format!("{case:?}: {e}"))?;
        check_mlp(&reference, &got, &format!("{case:?} gpu ({n} values)"))?;
    }
    Ok(())
}

/// A random pooling case: table, histories (with empty slots and zero weights), mode.
#[derive(Debug, Clone, Copy)]
pub struct PoolCase {
    /// Seed for everything.
    pub seed: u64,
    /// Table rows.
    pub rows: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Histories.
    pub batch: usize,
    /// Slots per history.
    pub slots: usize,
    /// Table storage format.
    pub scheme: QuantScheme,
    /// Attention (with scale 1/√dim) instead of the weighted mean.
    pub attention: bool,
}

impl PoolCase {
    /// A case drawn entirely from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x9001);
        Self {
            seed,
            rows: rng.random_range(1..=3000),
            dim: rng.random_range(1..=130),
            batch: rng.random_range(1..=20),
            slots: rng.random_range(1..=edgerec::compute::pool::MAX_SLOTS),
            scheme: SCHEMES[rng.random_range(0..SCHEMES.len())],
            attention: rng.random_bool(0.5),
        }
    }

    /// Table, ids, weights, queries and the pooling mode.
    pub fn inputs(
        &self,
    ) -> (edgerec::bundle::QuantizedMatrix, Vec<u32>, Vec<f32>, Vec<f32>, edgerec::compute::Pooling)
    {
        use edgerec::compute::{EMPTY_SLOT, Pooling};
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let data: Vec<f32> =
            (0..self.rows * self.dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let table = edgerec::bundle::QuantizedMatrix::quantize(&data, self.dim, self.scheme)
            .expect("valid");
        let n = self.batch * self.slots;
        let ids = (0..n)
            .map(|_| {
                if rng.random_bool(0.2) {
                    EMPTY_SLOT
                } else {
                    rng.random_range(0..self.rows as u32)
                }
            })
            .collect();
        let weights = (0..n)
            .map(|_| if rng.random_bool(0.1) { 0.0 } else { rng.random_range(0.1f32..3.0) })
            .collect();
        let queries = (0..self.batch * self.dim).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let pooling = if self.attention {
            Pooling::Attention { scale: 1.0 / (self.dim as f32).sqrt() }
        } else {
            Pooling::Mean
        };
        (table, ids, weights, queries, pooling)
    }
}

/// Pooled vectors agree when `|got − ref| ≤ 1e-4 · (1 + |ref|)`: convex combinations of O(1)
/// values, with f32 softmax coefficients on the fast paths.
pub fn check_pooled(reference: &[f32], got: &[f32], what: &str) -> Result<(), String> {
    check_mlp(reference, got, what)
}

/// CPU fast and (when given) GPU pooling against the reference.
pub async fn pool_case(ctx: Option<&GpuContext>, case: &PoolCase) -> Result<(), String> {
    use edgerec::compute::{PoolRequest, pool_fast, pool_reference};
    let (table, ids, weights, queries, pooling) = case.inputs();
    let request =
        PoolRequest { ids: &ids, weights: &weights, slots: case.slots, queries: Some(&queries) };
    let reference = pool_reference(&table, &request, pooling).map_err(|e| e.to_string())?;
    let fast = pool_fast(&table, &request, pooling).map_err(|e| e.to_string())?;
    check_pooled(&reference, &fast, &format!("{case:?} cpu fast"))?;
    if let Some(ctx) = ctx {
        let mut gpu = edgerec::compute::gpu::GpuTable::upload(ctx, &table)
            .await
            .map_err(|e| e.to_string())?;
        let got = gpu.pool(ctx, &request, pooling).await.map_err(|e| format!("{case:?}: {e}"))?;
        check_pooled(&reference, &got, &format!("{case:?} gpu"))?;
    }
    Ok(())
}

/// The user-update gradient (sampled softmax with logQ correction) on the CPU fast path and,
/// when given, the GPU, against the reference; tolerance `1e-4 · (1 + |ref|)` per component.
pub async fn gradient_case(ctx: Option<&GpuContext>, seed: u64) -> Result<(), String> {
    use edgerec::compute::PoolRequest;
    use edgerec::compute::gradient::{
        SoftmaxExample, softmax_gradient, softmax_gradient_from_expectation,
        softmax_gradient_reference, softmax_pool_request,
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let (rows, dim) = (rng.random_range(2..2000), rng.random_range(1..100));
    let scheme = SCHEMES[rng.random_range(0..SCHEMES.len())];
    let data: Vec<f32> = (0..rows * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let table = edgerec::bundle::QuantizedMatrix::quantize(&data, dim, scheme).expect("valid");
    let mut candidates: Vec<u32> = (0..rows as u32).collect();
    candidates.shuffle(&mut rng);
    candidates.truncate(rng.random_range(1..=rows.min(200)));
    let probs: Vec<f32> = candidates.iter().map(|_| rng.random_range(1e-4f32..1.0)).collect();
    let user: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let example = SoftmaxExample {
        user: &user,
        positive: candidates[rng.random_range(0..candidates.len())],
        candidates: &candidates,
        sample_prob: &probs,
        temperature: rng.random_range(0.05f32..1.0),
    };
    let what =
        format!("gradient seed {seed} ({rows}×{dim} {scheme:?}, {} candidates)", candidates.len());
    let reference = softmax_gradient_reference(&table, &example).map_err(|e| e.to_string())?;
    let fast = softmax_gradient(&table, &example).map_err(|e| e.to_string())?;
    check_mlp(&reference, &fast, &format!("{what} cpu fast"))?;
    if let Some(ctx) = ctx {
        let (weights, pooling) =
            softmax_pool_request(&table, &example).map_err(|e| e.to_string())?;
        let request = PoolRequest {
            ids: &candidates,
            weights: &weights,
            slots: candidates.len(),
            queries: Some(&user),
        };
        let mut gpu = edgerec::compute::gpu::GpuTable::upload(ctx, &table)
            .await
            .map_err(|e| e.to_string())?;
        let expectation =
            gpu.pool(ctx, &request, pooling).await.map_err(|e| format!("{what}: {e}"))?;
        let got = softmax_gradient_from_expectation(&table, &example, &expectation)
            .map_err(|e| e.to_string())?;
        check_mlp(&reference, &got, &format!("{what} gpu"))?;
    }
    Ok(())
}

/// The GPU reads the packed words exactly as quantized on the CPU: scoring a one-hot query
/// against stored rows must return each stored value (times its scale) bit-for-bit as the CPU
/// dequantizes it, for every format.
pub async fn gpu_reads_stored_values_exactly(ctx: &GpuContext) -> Result<(), String> {
    let data: Vec<f32> = (0..64 * 20).map(|i| ((i * 37) % 255) as f32 / 127.0 - 1.0).collect();
    let matrix = ItemMatrix::new(data, 20).map_err(|e| e.to_string())?;
    for scheme in SCHEMES {
        let index =
            ItemIndex::quantize(&matrix, scheme, Similarity::Dot).map_err(|e| e.to_string())?;
        let mut gpu = GpuIndex::upload(ctx, &index).await.map_err(|e| e.to_string())?;
        for j in [0, 3, 19] {
            let mut query = vec![0.0; 20];
            query[j] = 1.0;
            let top = gpu.top_k(ctx, &query, 64).await.map_err(|e| e.to_string())?;
            for (&id, &score) in top.ids.iter().zip(&top.scores) {
                let stored = index.matrix().get(id as usize, j);
                if score.to_bits() != stored.to_bits() {
                    return Err(format!(
                        "{scheme:?} row {id} col {j}: GPU {score}, stored {stored}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The f16 share of the suite, on whichever f16 path `ctx` took (`GpuContext::f16_path`:
/// shader-f16 or unpack): the f16 edge cases and `seeds` random top-k shapes, dense layers with
/// f16 weights and pooling over f16 tables, all against the reference, plus the exact read-back
/// of stored values (f16 extremes and subnormals included). Native runs it once per path on
/// lavapipe; the browser on SwiftShader's, which is unpack.
pub async fn gpu_f16_cases(ctx: &GpuContext, seeds: std::ops::Range<u64>) -> Result<(), String> {
    let path = ctx.f16_path();
    for case in edge_cases().into_iter().filter(|c| c.scheme == QuantScheme::F16) {
        gpu_case(ctx, &case).await.map_err(|e| format!("f16 path {path}: {e}"))?;
    }
    for seed in seeds {
        let case = Case { scheme: QuantScheme::F16, ..Case::from_seed(seed, 12_000) };
        gpu_case(ctx, &case).await.map_err(|e| format!("f16 path {path}: {e}"))?;
        let mlp = MlpCase { scheme: QuantScheme::F16, ..MlpCase::from_seed(seed) };
        gpu_mlp_case(ctx, &mlp).await.map_err(|e| format!("f16 path {path}: {e}"))?;
        let pool = PoolCase { scheme: QuantScheme::F16, ..PoolCase::from_seed(seed) };
        pool_case(Some(ctx), &pool).await.map_err(|e| format!("f16 path {path}: {e}"))?;
    }
    gpu_reads_stored_values_exactly(ctx).await.map_err(|e| format!("f16 path {path}: {e}"))?;
    gpu_reads_f16_extremes_exactly(ctx).await.map_err(|e| format!("f16 path {path}: {e}"))
}

/// f16 rows holding the format's edges — subnormals (down to 2⁻²⁴), the smallest normal, the
/// largest finite value, ±1 — score back bit-for-bit through a one-hot query: neither f16 path
/// may flush subnormals or saturate.
pub async fn gpu_reads_f16_extremes_exactly(ctx: &GpuContext) -> Result<(), String> {
    let specials: Vec<f32> = [0x0001u16, 0x0002, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0x8001, 0x83ff]
        .into_iter()
        .chain((0..56).map(|i| 0x0155 + 0x0111 * i as u16)) // spread over the exponents
        .map(|bits| half::f16::from_bits(bits).to_f32())
        .collect();
    // Row r holds specials rotated by r, so each column sees every value.
    let dim = 9;
    let rows = specials.len();
    let data: Vec<f32> = (0..rows * dim).map(|i| specials[(i / dim + i % dim) % rows]).collect();
    let matrix = ItemMatrix::new(data, dim).map_err(|e| e.to_string())?;
    let index = ItemIndex::quantize(&matrix, QuantScheme::F16, Similarity::Dot)
        .map_err(|e| e.to_string())?;
    let mut gpu = GpuIndex::upload(ctx, &index).await.map_err(|e| e.to_string())?;
    for j in [0, 4, 8] {
        let mut query = vec![0.0; dim];
        query[j] = 1.0;
        let top = gpu.top_k(ctx, &query, rows).await.map_err(|e| e.to_string())?;
        for (&id, &score) in top.ids.iter().zip(&top.scores) {
            let stored = index.matrix().get(id as usize, j);
            if score.to_bits() != stored.to_bits() {
                return Err(format!("f16 row {id} col {j}: GPU {score:e}, stored {stored:e}"));
            }
        }
    }
    Ok(())
}

/// A softmax layer whose logits reach ±2000 (far past f32's `exp` range) must still give finite
/// distributions on the GPU: the kernel subtracts the row maximum, as the reference does.
pub async fn gpu_softmax_is_stable(ctx: &GpuContext) -> Result<(), String> {
    use edgerec::bundle::QuantizedMatrix;
    use edgerec::compute::{Activation, DenseLayer, Mlp};
    // 70 outputs (more than one 64-wide workgroup stride) from 2 inputs.
    let weights: Vec<f32> = (0..70 * 2).map(|i| ((i * 37) % 41) as f32 - 20.0).collect();
    let stored =
        QuantizedMatrix::quantize(&weights, 2, QuantScheme::F32).map_err(|e| e.to_string())?;
    let layer =
        DenseLayer::new(stored, vec![0.0; 70], Activation::Softmax).map_err(|e| e.to_string())?;
    let mlp = Mlp::new(vec![layer]).map_err(|e| e.to_string())?;
    let inputs = [100.0, -50.0, 0.5, 0.25, -100.0, 7.0];
    let reference = mlp.forward_reference(&inputs).map_err(|e| e.to_string())?;
    let mut gpu =
        edgerec::compute::gpu::GpuMlp::upload(ctx, &mlp).await.map_err(|e| e.to_string())?;
    let got = gpu.forward(ctx, &inputs).await.map_err(|e| e.to_string())?;
    check_mlp(&reference, &got, "large-logit softmax on the GPU")?;
    for (b, row) in got.chunks(70).enumerate() {
        let total: f32 = row.iter().sum();
        if !row.iter().all(|p| p.is_finite() && *p >= 0.0) || (total - 1.0).abs() > 1e-5 {
            return Err(format!("row {b} is not a distribution: sum {total}, {row:?}"));
        }
    }
    Ok(())
}

/// A random MMoE case (Ma et al., KDD 2018): ReLU experts of equal shape, softmax gates.
#[derive(Debug, Clone)]
pub struct MmoeCase {
    /// Seed for weights, biases and inputs.
    pub seed: u64,
    /// Expert widths, input first: `[in, hidden…, out]`.
    pub widths: Vec<usize>,
    /// Number of experts.
    pub experts: usize,
    /// Number of tasks (gates).
    pub tasks: usize,
    /// Weight storage format (experts and gates).
    pub scheme: QuantScheme,
    /// Input rows.
    pub batch: usize,
}

impl MmoeCase {
    /// A case drawn entirely from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x33e0);
        let depth = rng.random_range(1..=3);
        let widths = (0..=depth).map(|_| rng.random_range(1..=90)).collect();
        Self {
            seed,
            widths,
            experts: rng.random_range(1..=8),
            tasks: rng.random_range(1..=4),
            scheme: SCHEMES[rng.random_range(0..SCHEMES.len())],
            batch: rng.random_range(1..=30),
        }
    }

    /// The block and a batch of inputs. Gate weights are drawn large enough that the gates are
    /// far from uniform, so a wrong gate or expert index changes the mixture.
    pub fn inputs(&self) -> (edgerec::compute::Mmoe, Vec<f32>) {
        use edgerec::bundle::QuantizedMatrix;
        use edgerec::compute::{Activation, DenseLayer, Mlp, Mmoe};
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut dense = |inp: usize, out: usize, scale: f32, act: Activation| {
            let weights: Vec<f32> =
                (0..inp * out).map(|_| rng.random_range(-1.0f32..1.0) * scale).collect();
            let bias = (0..out).map(|_| rng.random_range(-0.5f32..0.5)).collect();
            let stored = QuantizedMatrix::quantize(&weights, inp, self.scheme).expect("valid");
            DenseLayer::new(stored, bias, act).expect("valid")
        };
        let experts = (0..self.experts)
            .map(|_| {
                let layers = self
                    .widths
                    .windows(2)
                    .map(|w| dense(w[0], w[1], (2.0 / w[0] as f32).sqrt(), Activation::Relu))
                    .collect();
                Mlp::new(layers).expect("widths chain")
            })
            .collect();
        let in_dim = self.widths[0];
        let gates = (0..self.tasks)
            .map(|_| dense(in_dim, self.experts, 3.0 / (in_dim as f32).sqrt(), Activation::Softmax))
            .collect();
        let inputs = (0..self.batch * in_dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        (Mmoe::new(experts, gates).expect("consistent shapes"), inputs)
    }
}

/// The MMoE block on the CPU fast path and, when given, the GPU (twice, the second time with a
/// smaller batch, so buffer reuse is covered), against the f64 reference; tolerance
/// `1e-4 · (1 + |ref|)` per output (a convex combination of expert outputs checked that way).
pub async fn mmoe_case(ctx: Option<&GpuContext>, case: &MmoeCase) -> Result<(), String> {
    let (mmoe, inputs) = case.inputs();
    let reference = mmoe.forward_reference(&inputs).map_err(|e| e.to_string())?;
    let expected = case.batch * case.tasks * case.widths[case.widths.len() - 1];
    if reference.len() != expected {
        return Err(format!(
            "{case:?}: reference has {} outputs, expected {expected}",
            reference.len()
        ));
    }
    let fast = mmoe.forward(&inputs, &mut Default::default()).map_err(|e| e.to_string())?;
    check_mlp(&reference, &fast, &format!("{case:?} cpu fast"))?;
    if let Some(ctx) = ctx {
        let mut gpu = edgerec::compute::gpu::GpuMmoe::upload(ctx, &mmoe)
            .await
            .map_err(|e| format!("{case:?}: {e}"))?;
        for rows in [case.batch, case.batch.div_ceil(2)] {
            let x = &inputs[..rows * case.widths[0]];
            let reference = mmoe.forward_reference(x).map_err(|e| e.to_string())?;
            let got = gpu.forward(ctx, x).await.map_err(|e| format!("{case:?}: {e}"))?;
            check_mlp(&reference, &got, &format!("{case:?} gpu ({rows} rows)"))?;
        }
    }
    Ok(())
}

/// One large case, inputs generated once: the reference, the CPU fast path and (when given)
/// the GPU, for `case.k` and `case.k / 3`. Returns the number of storage buffers the GPU copy
/// of the matrix was split into (0 without a GPU). Progress and phase times go to stderr, so a
/// slow run can be read, but nothing here depends on time.
pub async fn large_case(ctx: Option<&GpuContext>, case: &Case) -> Result<usize, String> {
    let clock = web_time::Instant::now();
    let phase = |what: &str| eprintln!("{:>8.1} s  {what}", clock.elapsed().as_secs_f64());
    let mut inputs = case.inputs();
    phase("inputs generated");
    let arithmetic = match case.scheme.dtype {
        edgerec::bundle::DType::I8 => Arithmetic::QueryI16,
        _ => Arithmetic::F32,
    };
    let mut gpu = match ctx {
        Some(ctx) => {
            let options = GpuIndexOptions {
                max_chunk_bytes: case.chunk_bytes,
                tiles_per_group: case.tiles_per_group,
            };
            let index = GpuIndex::upload_with(ctx, &inputs.index, options)
                .await
                .map_err(|e| format!("{case:?}: {e}"))?;
            phase(&format!("uploaded in {} chunks", index.chunks()));
            Some((ctx, index))
        }
        None => None,
    };
    let mut scratch = CpuScratch::new();
    for k in [case.k, (case.k / 3).max(1)] {
        inputs.k = k;
        let request = inputs.request();
        let reference =
            reference_score_top_k(&inputs.index, &request).map_err(|e| e.to_string())?;
        phase(&format!("reference k={k}"));
        let fast = fast_score_top_k(&inputs.index, &request, &mut scratch)
            .map_err(|e| format!("{case:?}: {e}"))?;
        check_all(&inputs, &reference, &fast, arithmetic, &format!("{case:?} cpu fast k={k}"))?;
        phase(&format!("cpu fast k={k} checked"));
        if let Some((ctx, index)) = gpu.as_mut() {
            let got =
                index.score_top_k(ctx, &request).await.map_err(|e| format!("{case:?}: {e}"))?;
            let what = format!("{case:?} gpu k={k} chunks={}", index.chunks());
            check_all(&inputs, &reference, &got, Arithmetic::F32, &what)?;
            phase(&format!("gpu k={k} checked"));
        }
    }
    Ok(gpu.map_or(0, |(_, index)| index.chunks()))
}

/// The f16 scan's scores (dot similarity: no row multiplier, no query scale) are bit-identical
/// to widening each stored row ([`edgerec::compute::cpu::f16_to_f32`]) and taking the f32
/// [`edgerec::compute::cpu::dot`] — whichever widening the platform's scan uses (F16C natively,
/// simd128 in the browser, the portable loop elsewhere). Dimensions cover the 8-value body and
/// tails; rows cover whole and partial groups of eight; values cover f16 subnormals and large
/// query values.
pub fn f16_scan_is_bit_identical_to_widen_then_dot() -> Result<(), String> {
    use edgerec::compute::cpu::fast::{dot, f16_to_f32};
    let cases = [
        (1u64, 1000usize, 64usize, 4.0f32, 1.0f32),
        (2, 37, 13, 4.0, 1.0),
        (3, 300, 7, 4.0, 1.0),
        (4, 129, 100, 4.0, 1.0),
        // f16 subnormals (below 6.1e-5) and tiny products.
        (5, 200, 24, 2e-5, 1e-3),
        // Query values up to 1e5 (at or above 65504: the wasm scan does not pre-scale the query).
        (6, 200, 24, 1.0, 1e5),
        // Just below that: pre-scaled by 2^112 in wasm, products up to 2.6e5.
        (7, 200, 24, 4.0, 65000.0),
    ];
    for (seed, rows, dim, data_range, query_range) in cases {
        let mut rng = SmallRng::seed_from_u64(seed);
        let data: Vec<f32> =
            (0..rows * dim).map(|_| rng.random_range(-data_range..data_range)).collect();
        let query: Vec<f32> =
            (0..dim).map(|_| rng.random_range(-query_range..query_range)).collect();
        let matrix = ItemMatrix::new(data, dim).expect("valid matrix");
        let index = ItemIndex::quantize(&matrix, QuantScheme::F16, Similarity::Dot).expect("f16");
        let top =
            fast_score_top_k(&index, &ScoreRequest::new(&query, rows), &mut CpuScratch::new())
                .map_err(|e| e.to_string())?
                .remove(0);
        let halves: &[u16] = bytemuck::cast_slice(index.matrix().words());
        let stride = index.matrix().scheme().words_per_row(dim) * 2;
        let mut widened = vec![0.0f32; dim];
        for (&id, &score) in top.ids.iter().zip(&top.scores) {
            let r = id as usize;
            f16_to_f32(&halves[r * stride..r * stride + dim], &mut widened);
            let expected = dot(&widened, &query);
            if score.to_bits() != expected.to_bits() {
                return Err(format!(
                    "{rows} × {dim}, row {r}: scan {score:e}, widen + dot {expected:e}"
                ));
            }
        }
    }
    Ok(())
}

/// The CPU int8 scan (blocked, eight rows per query load in wasm, and the 7-bit relaxed-SIMD
/// filter where the build has it) returns exactly the rows and score bits of scoring each row
/// on its own with [`edgerec::compute::cpu::fast::dot_i8_i16`]: `dot · s_q · mult · query
/// scale`, best first, ties to the lower row — with a mask, candidates, dot and cosine.
pub fn int8_scan_is_bit_identical_to_row_dots() -> Result<(), String> {
    use edgerec::compute::cpu::fast::{QUERY_I16_MAX, dot_i8_i16};
    for (seed, rows, dim) in [(1u64, 3000usize, 64usize), (2, 1001, 7), (3, 777, 16), (4, 500, 100)]
    {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut data: Vec<f32> = (0..rows * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        // Exact ties: copies of row 0.
        for copy in [rows / 3, rows / 2, rows - 1] {
            data.copy_within(0..dim, copy * dim);
        }
        let matrix = ItemMatrix::new(data, dim).expect("valid matrix");
        let mut mask = RowMask::new(rows);
        for r in (0..rows).step_by(11) {
            mask.exclude(r);
        }
        let candidates: Vec<u32> = (0..rows as u32).rev().filter(|r| r % 3 != 1).collect();
        for similarity in [Similarity::Dot, Similarity::Cosine] {
            let index =
                ItemIndex::quantize(&matrix, QuantScheme::I8_PER_ROW, similarity).expect("int8");
            let bytes: &[i8] = bytemuck::cast_slice(index.matrix().words());
            let stride = index.matrix().scheme().words_per_row(dim) * 4;
            for query_seed in 0..3u64 {
                let mut qrng = SmallRng::seed_from_u64(seed * 100 + query_seed);
                let mut query: Vec<f32> = (0..dim).map(|_| qrng.random_range(-2.0..2.0)).collect();
                if query_seed == 0 {
                    query.copy_from_slice(&matrix.as_slice()[..dim]);
                }
                let max = query.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let s = if max > 0.0 { max / QUERY_I16_MAX } else { 1.0 };
                let q16: Vec<i16> = query.iter().map(|x| (x / s).round() as i16).collect();
                let cs = match similarity {
                    Similarity::Dot => 1.0,
                    Similarity::Cosine => {
                        let norm = query.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                        (1.0 / norm) as f32
                    }
                };
                let score = |r: usize| {
                    let row = &bytes[r * stride..r * stride + dim];
                    dot_i8_i16(row, &q16) as f32 * s * index.row_mult()[r] * cs
                };
                for (masked, candidate) in [(false, false), (true, false), (true, true)] {
                    let mut eligible: Vec<usize> = if candidate {
                        candidates.iter().map(|&r| r as usize).collect()
                    } else {
                        (0..rows).collect()
                    };
                    if masked {
                        eligible.retain(|&r| r % 11 != 0);
                    }
                    let mut expected: Vec<(f32, usize)> =
                        eligible.iter().map(|&r| (score(r), r)).collect();
                    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    for k in [1usize, 10, 100, 300] {
                        let mut request = ScoreRequest::new(&query, k);
                        if masked {
                            request = request.with_mask(&mask);
                        }
                        if candidate {
                            request = request.with_candidates(&candidates);
                        }
                        let top = fast_score_top_k(&index, &request, &mut CpuScratch::new())
                            .map_err(|e| e.to_string())?
                            .remove(0);
                        let want = &expected[..k.min(expected.len())];
                        let got: Vec<(u32, usize)> = top
                            .scores
                            .iter()
                            .zip(&top.ids)
                            .map(|(s, &r)| (s.to_bits(), r as usize))
                            .collect();
                        let want: Vec<(u32, usize)> =
                            want.iter().map(|&(s, r)| (s.to_bits(), r)).collect();
                        if got != want {
                            return Err(format!(
                                "seed {seed} {rows} × {dim} {similarity:?} query {query_seed} \
                                 k {k} masked {masked} candidates {candidate}: the scan differs \
                                 from per-row dots"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
