//! The top-k parity suite, written once and run on every backend: natively on Vulkan
//! (lavapipe in CI; `tests/gpu_parity.rs`) and in headless Chromium's WebGPU
//! (`tests/browser.rs`).
//!
//! Tolerance: a score may differ from the f64 reference by `1e-4 × Σ_j |q_j · x_j|`, i.e. 1e-4
//! relative to the dot product's condition scale (which equals |score| when all terms share a
//! sign, and keeps the bound meaningful for scores that cancel to near zero). Ids must be the
//! reference's, in its order, except where two true scores lie within that tolerance of each
//! other (near-ties may swap); exactly equal scores must come out with the lower id first.

#![allow(dead_code)] // each test binary uses a different subset

use edgerec::compute::cpu::{CpuScratch, fast_top_k, reference_top_k};
use edgerec::compute::gpu::{GpuContext, GpuIndex};
use edgerec::{ItemMatrix, MAX_K, TopK};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Relative tolerance of the suite.
pub const REL_TOL: f64 = 1e-4;

/// One randomized case; everything derives from `seed`, which failures print.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Seed for the item and query values.
    pub seed: u64,
    /// Item rows.
    pub rows: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Results requested.
    pub k: usize,
    /// Copy some rows over others so exact ties occur.
    pub duplicates: bool,
}

impl Case {
    /// A case whose shape is also drawn from the seed (for runners without proptest).
    pub fn from_seed(seed: u64, max_rows: usize) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let rows = rng.random_range(1..=max_rows);
        let dim = rng.random_range(1..=130);
        let k = rng.random_range(1..=rows.min(MAX_K));
        Self { seed, rows, dim, k, duplicates: rng.random_bool(0.5) }
    }

    /// The item matrix and query of this case: values uniform in [-1, 1).
    pub fn inputs(&self) -> (ItemMatrix, Vec<f32>) {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut data: Vec<f32> =
            (0..self.rows * self.dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        if self.duplicates && self.rows > 1 {
            for _ in 0..self.rows.div_ceil(4) {
                let (from, to) = (rng.random_range(0..self.rows), rng.random_range(0..self.rows));
                data.copy_within(from * self.dim..(from + 1) * self.dim, to * self.dim);
            }
        }
        let query = (0..self.dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        (ItemMatrix::new(data, self.dim).expect("generated matrix is valid"), query)
    }
}

/// Σ_j |q_j · x_j| in f64: the scale the tolerance is relative to.
fn condition_scale(row: &[f32], query: &[f32]) -> f64 {
    row.iter().zip(query).map(|(x, q)| (f64::from(*x) * f64::from(*q)).abs()).sum()
}

fn exact_score(row: &[f32], query: &[f32]) -> f64 {
    row.iter().zip(query).map(|(x, q)| f64::from(*x) * f64::from(*q)).sum()
}

/// Checks `got` against `reference` under the suite's rules; `Err` explains the first violation.
pub fn check_top_k(
    items: &ItemMatrix,
    query: &[f32],
    reference: &TopK,
    got: &TopK,
) -> Result<(), String> {
    if got.ids.len() != reference.ids.len() || got.scores.len() != reference.ids.len() {
        return Err(format!(
            "returned {} results, expected {}",
            got.ids.len(),
            reference.ids.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (rank, (&id, &score)) in got.ids.iter().zip(&got.scores).enumerate() {
        let row = id as usize;
        if row >= items.rows() || !seen.insert(id) {
            return Err(format!("rank {rank}: id {id} out of range or repeated"));
        }
        let exact = exact_score(items.row(row), query);
        let tol = REL_TOL * condition_scale(items.row(row), query);
        if (f64::from(score) - exact).abs() > tol {
            return Err(format!("rank {rank}: id {id} scored {score}, exact {exact}, tol {tol}"));
        }
        // The item must belong at this rank: its true score within tolerance of the reference's.
        let ref_row = reference.ids[rank] as usize;
        let ref_exact = exact_score(items.row(ref_row), query);
        let tie_tol = tol.max(REL_TOL * condition_scale(items.row(ref_row), query));
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

/// The optimized CPU path against the reference.
pub fn cpu_case(case: &Case) -> Result<(), String> {
    let (items, query) = case.inputs();
    let reference = reference_top_k(&items, &query, case.k).map_err(|e| e.to_string())?;
    let fast =
        fast_top_k(&items, &query, case.k, &mut CpuScratch::new()).map_err(|e| e.to_string())?;
    check_top_k(&items, &query, &reference, &fast).map_err(|e| format!("{case:?} cpu fast: {e}"))
}

/// The GPU kernels on `ctx` against the reference; the index is uploaded once and queried twice
/// (with different k) so buffer reuse is covered.
pub async fn gpu_case(ctx: &GpuContext, case: &Case) -> Result<(), String> {
    let (items, query) = case.inputs();
    let mut index = GpuIndex::upload(ctx, &items).await.map_err(|e| format!("{case:?}: {e}"))?;
    for k in [case.k, (case.k / 3).max(1)] {
        let reference = reference_top_k(&items, &query, k).map_err(|e| e.to_string())?;
        let got = index.top_k(ctx, &query, k).await.map_err(|e| format!("{case:?}: {e}"))?;
        check_top_k(&items, &query, &reference, &got)
            .map_err(|e| format!("{case:?} gpu (k={k}): {e}"))?;
    }
    Ok(())
}

/// Shapes every backend must get right whatever the random draw: tile boundaries (2048 rows),
/// k at both limits, a single row, odd dimensions, all-identical rows.
pub fn edge_cases() -> Vec<Case> {
    let case = |seed, rows, dim, k, duplicates| Case { seed, rows, dim, k, duplicates };
    vec![
        case(1, 1, 1, 1, false),
        case(2, 2047, 3, 1, false),
        case(3, 2048, 64, 1024, false),
        case(4, 2049, 64, 1024, true),
        case(5, 4097, 17, 1000, false),
        case(6, 1024, 8, 1024, true),
        case(7, 50_000, 64, 100, false),
        case(8, 20_000, 5, 513, true),
    ]
}

/// All rows identical: every score ties, so the result must be exactly ids 0..k.
pub fn identical_rows() -> (ItemMatrix, Vec<f32>, usize) {
    let dim = 12;
    let row: Vec<f32> = (0..dim).map(|j| j as f32 * 0.25 - 1.0).collect();
    let data = row.iter().copied().cycle().take(5000 * dim).collect();
    (ItemMatrix::new(data, dim).expect("valid"), vec![0.5; dim], 300)
}
