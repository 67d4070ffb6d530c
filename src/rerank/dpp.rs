//! Greedy MAP inference for a determinantal point process: Chen, Zhang & Zhou, "Fast Greedy MAP
//! Inference for Determinantal Point Process to Improve Recommendation Diversity", NeurIPS 2018.
//!
//! The greedy step adds the item with the largest marginal gain of `log det(L_Y)`. With the
//! Cholesky factor of `L_Y` maintained incrementally (Alg. 1), the gain of item `i` is
//! `log d_i²`, where `d_i²` is the squared length of `i`'s feature vector orthogonal to the
//! selected items, and one step costs `O(N·|Y|)`: `O(N·k²)` in all, with `O(N·k)` memory.
//!
//! The sliding-window variant (Alg. 2) keeps only the last `w` selected items in the determinant,
//! so diversity is enforced between neighbours in the list rather than across it. When the
//! window is full, the oldest item leaves and the factors are re-triangulated with Givens
//! rotations. The arithmetic here follows the authors' reference code step for step (same update
//! order, same `f64` operations, no fused multiply-adds), so the selections match its output
//! exactly, not just approximately; `tests/fixtures/` holds its results.
//!
//! Kernel: `L = diag(q)·S·diag(q)` with quality `q_i = exp(α·r_i)`, `α = θ / (2(1 − θ))`
//! (§5 of the paper: `log det L_Y = 2α·Σ r_i + log det S_Y`, i.e. θ trades relevance against
//! diversity), or any precomputed symmetric PSD matrix.
//!
//! Stopping: at most `k` items; earlier when the best marginal gain `d²` falls below `ε`
//! (default `1e-10`), since further picks would make `L_Y` numerically singular. Ties go to the
//! lower index (NumPy's `argmax`). One deliberate difference from the reference code: the first
//! pick is also subject to `ε` (the reference would divide by `d = 0` on a kernel whose diagonal
//! is all below `ε`).

use super::check_k;
use super::similarity::Similarity;
use crate::error::{Error, Result};
use ndarray::Array2;

/// Default stopping threshold on the marginal gain `d²`, as in the reference implementation.
pub const DEFAULT_EPSILON: f64 = 1e-10;

/// Relative tolerance of the symmetry check, against the largest diagonal entry (which bounds
/// every entry of a PSD matrix). Kernels computed as `F·Fᵀ` by BLAS are symmetric only to
/// rounding.
pub const SYMMETRY_TOLERANCE: f64 = 1e-9;

/// A dense, validated DPP kernel: square, finite, symmetric, non-negative diagonal.
///
/// Full positive semi-definiteness is not checked (that would cost a factorization); on an
/// indefinite kernel the greedy search still terminates, it just optimizes a meaningless
/// objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// `n × n`, row-major (standard layout).
    matrix: Array2<f64>,
}

impl Kernel {
    /// Wraps a row-major `rows × cols` matrix. Errors: [`Error::NoCandidates`] (empty),
    /// [`Error::ShapeMismatch`] (`data.len() != rows·cols`), [`Error::KernelNotSquare`],
    /// [`Error::NonFinite`], [`Error::KernelNotPsd`] (negative diagonal),
    /// [`Error::KernelNotSymmetric`].
    pub fn new(data: Vec<f64>, rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(Error::NoCandidates);
        }
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::ShapeMismatch { what: "DPP kernel", len: data.len(), dim: cols });
        }
        if rows != cols {
            return Err(Error::KernelNotSquare { rows, cols });
        }
        if let Some(position) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "DPP kernel", position });
        }
        let matrix = Array2::from_shape_vec((rows, cols), data).map_err(|_| {
            Error::ShapeMismatch { what: "DPP kernel", len: rows * cols, dim: cols }
        })?;
        let mut max_diag = 0.0f64;
        for (i, &d) in matrix.diag().iter().enumerate() {
            if d < 0.0 {
                return Err(Error::KernelNotPsd { index: i, value: d });
            }
            max_diag = max_diag.max(d);
        }
        let tol = SYMMETRY_TOLERANCE * max_diag;
        if let Some((row, col)) = first_asymmetry(&matrix, tol) {
            return Err(Error::KernelNotSymmetric {
                row,
                col,
                value: matrix[[row, col]],
                transposed: matrix[[col, row]],
            });
        }
        Ok(Self { matrix })
    }

    /// Builds `L = diag(q)·S·diag(q)`, `q_i = exp(α·(r_i − max r))`, `α = θ / (2(1 − θ))`.
    ///
    /// `q` is scaled so the most relevant item has quality 1: a common factor `c` multiplies every
    /// marginal gain by `c²`, so the greedy order is unchanged, and `exp` cannot overflow as
    /// `θ → 1`. `ε` is then relative to that unit scale. Costs `O(N²)` similarity evaluations;
    /// the re-rank pipeline avoids it by computing only the rows it needs.
    ///
    /// Errors: those of [`quality`], and [`Error::LengthMismatch`].
    pub fn from_quality(relevance: &[f64], similarity: &Similarity, theta: f64) -> Result<Self> {
        let q = QualityKernel::new(relevance, similarity, theta)?;
        let n = relevance.len();
        let mut matrix = Array2::zeros((n, n));
        for (i, mut row) in matrix.rows_mut().into_iter().enumerate() {
            // A fresh standard-layout array: every row is contiguous.
            if let Some(row) = row.as_slice_mut() {
                q.row_into(i, row);
            }
        }
        Ok(Self { matrix })
    }

    /// Number of candidates (rows).
    pub fn len(&self) -> usize {
        self.matrix.nrows()
    }

    /// Always `false`: construction rejects empty kernels.
    pub fn is_empty(&self) -> bool {
        self.matrix.is_empty()
    }

    /// Entry `L[i][j]`.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.matrix[[i, j]]
    }

    /// Row `i` (contiguous: the kernel is stored row-major).
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        let n = self.matrix.ncols();
        self.matrix.as_slice().map_or(&[], |all| &all[i * n..(i + 1) * n])
    }
}

/// `α = θ / (2(1 − θ))` for `θ ∈ [0, 1)` (Chen et al. 2018, §5). Errors:
/// [`Error::InvalidArgument`] for θ outside `[0, 1)`.
pub fn alpha(theta: f64) -> Result<f64> {
    if !(0.0..1.0).contains(&theta) {
        return Err(Error::InvalidArgument {
            name: "theta",
            reason: format!("{theta} is outside [0, 1)"),
        });
    }
    Ok(theta / (2.0 * (1.0 - theta)))
}

/// The qualities `q_i = exp(α·(r_i − max r))` of [`Kernel::from_quality`]. Errors:
/// [`Error::NoCandidates`], [`Error::NonFinite`] (relevance), [`Error::InvalidArgument`] (θ).
pub fn quality(relevance: &[f64], theta: f64) -> Result<Vec<f64>> {
    super::check_relevance(relevance)?;
    let a = alpha(theta)?;
    let top = relevance.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(relevance.iter().map(|r| (a * (r - top)).exp()).collect())
}

/// Row access to a kernel: dense, or computed on demand from quality and similarity.
pub(crate) trait KernelRows {
    fn size(&self) -> usize;
    fn diag(&self, i: usize) -> f64;
    fn row_into(&self, i: usize, out: &mut [f64]);
}

impl KernelRows for Kernel {
    fn size(&self) -> usize {
        self.len()
    }
    #[inline]
    fn diag(&self, i: usize) -> f64 {
        self.get(i, i)
    }
    #[inline]
    fn row_into(&self, i: usize, out: &mut [f64]) {
        out.copy_from_slice(self.row(i));
    }
}

/// `L_ij = q_i·S_ij·q_j` without materializing the `N × N` matrix: greedy inference only reads
/// the diagonal and the rows of the selected items, `O(N·k)` similarities instead of `O(N²)`.
pub(crate) struct QualityKernel<'a> {
    q: Vec<f64>,
    similarity: &'a Similarity,
}

impl<'a> QualityKernel<'a> {
    pub(crate) fn new(relevance: &[f64], similarity: &'a Similarity, theta: f64) -> Result<Self> {
        let q = quality(relevance, theta)?;
        if similarity.len() != q.len() {
            return Err(Error::LengthMismatch {
                what: "similarity",
                expected: q.len(),
                received: similarity.len(),
            });
        }
        Ok(Self { q, similarity })
    }
}

impl KernelRows for QualityKernel<'_> {
    fn size(&self) -> usize {
        self.q.len()
    }
    #[inline]
    fn diag(&self, i: usize) -> f64 {
        self.q[i] * self.similarity.get(i, i) * self.q[i]
    }
    #[inline]
    fn row_into(&self, i: usize, out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = self.q[i] * self.similarity.get(i, j) * self.q[j];
        }
    }
}

/// Side of the square blocks the symmetry check compares: 32 × 32 f64 of a row band and of the
/// matching column band stay in L1, where a plain row-against-column walk strides the whole
/// matrix once per row (an 8 MB kernel took milliseconds in wasm).
const SYMMETRY_BLOCK: usize = 32;

/// The first `(i, j)`, `i < j`, in row-major order with `|L_ij − L_ji| > tol`, if any. The blocked
/// pass only finds whether one exists; the row-major pass then names the first, so the error is
/// the same whatever the blocking.
fn first_asymmetry(matrix: &Array2<f64>, tol: f64) -> Option<(usize, usize)> {
    let n = matrix.nrows();
    let asymmetric = |i: usize, j: usize| (matrix[[i, j]] - matrix[[j, i]]).abs() > tol;
    let any = (0..n).step_by(SYMMETRY_BLOCK).any(|bi| {
        (bi..n).step_by(SYMMETRY_BLOCK).any(|bj| {
            (bi..(bi + SYMMETRY_BLOCK).min(n))
                .any(|i| ((i + 1).max(bj)..(bj + SYMMETRY_BLOCK).min(n)).any(|j| asymmetric(i, j)))
        })
    });
    if !any {
        return None;
    }
    (0..n).find_map(|i| (i + 1..n).find(|&j| asymmetric(i, j)).map(|j| (i, j)))
}

/// Parameters of greedy DPP inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DppParams {
    /// `Some(w)`: sliding window of `w ≥ 1` items (Alg. 2); `None`: the whole list (Alg. 1).
    pub window: Option<usize>,
    /// Stop when the best marginal gain `d²` is below this (`> 0`; default [`DEFAULT_EPSILON`]).
    pub epsilon: f64,
}

impl Default for DppParams {
    fn default() -> Self {
        Self { window: None, epsilon: DEFAULT_EPSILON }
    }
}

impl DppParams {
    /// Checks `ε > 0` (finite) and `w ≥ 1`: [`Error::InvalidArgument`] otherwise.
    pub fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::InvalidArgument {
                name: "epsilon",
                reason: format!("{} is not a positive finite number", self.epsilon),
            });
        }
        if self.window == Some(0) {
            return Err(Error::InvalidArgument {
                name: "window",
                reason: "the DPP window must hold at least one item".into(),
            });
        }
        Ok(())
    }
}

/// Greedy MAP inference on `kernel`: up to `k` candidate indices in selection order (fewer when
/// the marginal gain drops below `ε`). Errors: [`Error::InvalidK`] (`k` outside `1..=N`),
/// [`Error::InvalidArgument`] (bad `ε` or window).
pub fn dpp_greedy(kernel: &Kernel, k: usize, params: DppParams) -> Result<Vec<usize>> {
    greedy(kernel, k, params)
}

/// [`dpp_greedy`] on the quality kernel `L = diag(q)·S·diag(q)` of [`Kernel::from_quality`]
/// (`q` from `relevance` and `θ`, `S` the item similarity), without materialising it: greedy
/// inference reads the diagonal and the rows of the picked items only, `O(N·k)` similarities
/// instead of the `O(N²)` of an explicit kernel. This is what the funnel's DPP re-rank does, and
/// the same picks as `dpp_greedy(&Kernel::from_quality(…))`.
///
/// Errors: those of [`quality`] and [`dpp_greedy`], [`Error::LengthMismatch`].
pub fn dpp_greedy_quality(
    relevance: &[f64],
    similarity: &Similarity,
    theta: f64,
    k: usize,
    params: DppParams,
) -> Result<Vec<usize>> {
    greedy(&QualityKernel::new(relevance, similarity, theta)?, k, params)
}

fn greedy<K: KernelRows>(kernel: &K, k: usize, params: DppParams) -> Result<Vec<usize>> {
    check_k(k, kernel.size())?;
    params.validate()?;
    let mut state = DppState::new(kernel, params, k);
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        match state.best(|_| true) {
            Some((item, gain)) if gain >= params.epsilon => {
                state.select(item);
                out.push(item);
            }
            _ => break,
        }
    }
    Ok(out)
}

/// Incremental Cholesky state of Chen et al.'s Alg. 1 / Alg. 2 (variable names follow the
/// reference code: `cis`, `di2s`, `v`, `window_left_index`).
pub(crate) struct DppState<'k, K: KernelRows> {
    kernel: &'k K,
    n: usize,
    /// Rows of the Cholesky-derived vectors `c_i`, one row per selection (capacity × N).
    cis: Vec<f64>,
    /// Squared marginal gains `d_i²`; `-∞` for selected items.
    di2s: Vec<f64>,
    /// Window variant only: the lower-triangular factor `V` of the windowed `L_Y` (capacity²).
    v: Vec<f64>,
    window: Option<usize>,
    left: usize,
    capacity: usize,
    count: usize,
    selected: Vec<bool>,
    /// Scratch: the kernel row of the newest pick and `Σ_r c_r[sel]·cis[r]`.
    row: Vec<f64>,
    acc: Vec<f64>,
}

impl<'k, K: KernelRows> DppState<'k, K> {
    /// State for up to `capacity ≥ 1` picks; parameters are validated by the caller.
    pub(crate) fn new(kernel: &'k K, params: DppParams, capacity: usize) -> Self {
        let n = kernel.size();
        let v = if params.window.is_some() { vec![0.0; capacity * capacity] } else { Vec::new() };
        Self {
            kernel,
            n,
            cis: vec![0.0; capacity * n],
            di2s: (0..n).map(|i| kernel.diag(i)).collect(),
            v,
            window: params.window,
            left: 0,
            capacity,
            count: 0,
            selected: vec![false; n],
            row: vec![0.0; n],
            acc: vec![0.0; n],
        }
    }

    /// The unselected candidate with the largest `d²` among those `eligible` admits (ties → lower
    /// index), with its `d²`; `None` when none is left.
    pub(crate) fn best(&self, eligible: impl Fn(usize) -> bool) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for i in 0..self.n {
            if self.selected[i] || !eligible(i) {
                continue;
            }
            if best.is_none_or(|(_, g)| self.di2s[i] > g) {
                best = Some((i, self.di2s[i]));
            }
        }
        best
    }

    /// Adds `item` (whose gain must be `≥ ε > 0`) and updates the factors and gains.
    pub(crate) fn select(&mut self, item: usize) {
        let n = self.n;
        self.selected[item] = true;
        self.count += 1;
        if self.count >= self.capacity {
            // The reference stops here too: the last pick's update is never read.
            self.di2s[item] = f64::NEG_INFINITY;
            return;
        }
        let k = self.count - 1;
        let left = self.left;
        let di = self.di2s[item].sqrt();
        if self.window.is_some() {
            let cap = self.capacity;
            for r in left..k {
                self.v[k * cap + r] = self.cis[r * n + item];
            }
            self.v[k * cap + k] = di;
        }
        // eis = (L[item, :] − ci_optimal · cis[left:k, :]) / di, summed over r in order.
        self.kernel.row_into(item, &mut self.row);
        self.acc.fill(0.0);
        for r in left..k {
            let c = self.cis[r * n + item];
            let cis_r = &self.cis[r * n..(r + 1) * n];
            for (a, x) in self.acc.iter_mut().zip(cis_r) {
                *a += c * x;
            }
        }
        let eis = &mut self.cis[k * n..(k + 1) * n];
        for (((e, d), x), a) in eis.iter_mut().zip(&mut self.di2s).zip(&self.row).zip(&self.acc) {
            *e = (x - a) / di;
            *d -= *e * *e;
        }
        if let Some(w) = self.window
            && self.count >= w
        {
            self.slide(k);
        }
        self.di2s[item] = f64::NEG_INFINITY;
    }

    /// Alg. 2's window step: drop the oldest windowed item (row `left`) and restore the
    /// triangular form with Givens rotations, applying each rotation to `V` and to `cis`; the
    /// dropped item's row then holds exactly what its removal gives back to every `d²`.
    fn slide(&mut self, k: usize) {
        let n = self.n;
        let cap = self.capacity;
        self.left += 1;
        let old = self.left - 1;
        let v = &mut self.v;
        for ind in self.left..=k {
            let a = v[ind * cap + ind];
            let b = v[ind * cap + old];
            let t = (a * a + b * b).sqrt();
            let c = t / a;
            let s = b / a;
            v[ind * cap + ind] = t;
            for r in ind + 1..=k {
                let mut x = v[r * cap + ind];
                x += s * v[r * cap + old];
                x /= c;
                v[r * cap + ind] = x;
                let mut y = v[r * cap + old];
                y *= c;
                y -= s * x;
                v[r * cap + old] = y;
            }
            // cis[ind] = (cis[ind] + s·cis[old]) / c; cis[old] = cis[old]·c − s·cis[ind].
            let (lo, hi) = self.cis.split_at_mut(ind * n);
            let cis_old = &mut lo[old * n..(old + 1) * n];
            let cis_ind = &mut hi[..n];
            for (x, y) in cis_ind.iter_mut().zip(cis_old.iter_mut()) {
                *x += s * *y;
                *x /= c;
                *y *= c;
                *y -= s * *x;
            }
        }
        let cis_old = &self.cis[old * n..(old + 1) * n];
        for (d, x) in self.di2s.iter_mut().zip(cis_old) {
            *d += x * x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rerank::similarity::Embeddings;

    fn gram(rows: &[&[f64]]) -> Kernel {
        let n = rows.len();
        let mut data = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                data[i * n + j] = rows[i].iter().zip(rows[j]).map(|(a, b)| a * b).sum();
            }
        }
        Kernel::new(data, n, n).unwrap()
    }

    #[test]
    fn picks_the_largest_diagonal_then_the_most_orthogonal() {
        let l = gram(&[&[2.0, 0.0, 0.0], &[1.9, 0.1, 0.0], &[0.0, 1.5, 0.0], &[0.0, 0.0, 1.0]]);
        // Item 1 nearly duplicates 0 and lies in the span of 0, 2, 3 (rank 3): never picked.
        assert_eq!(dpp_greedy(&l, 4, DppParams::default()).unwrap(), vec![0, 2, 3]);
    }

    #[test]
    fn stops_when_the_gain_vanishes() {
        // Rank 2: a third item adds nothing.
        let l = gram(&[&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0]]);
        let picked = dpp_greedy(&l, 3, DppParams::default()).unwrap();
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn window_one_is_quality_order() {
        let l = gram(&[&[1.0, 0.0], &[3.0, 0.0], &[0.0, 2.0], &[2.9, 0.1]]);
        let params = DppParams { window: Some(1), ..DppParams::default() };
        assert_eq!(dpp_greedy(&l, 4, params).unwrap(), vec![1, 3, 2, 0]);
        // Without the window the near-duplicate 3 of item 1 loses to the orthogonal 2.
        assert_eq!(dpp_greedy(&l, 2, DppParams::default()).unwrap(), vec![1, 2]);
    }

    #[test]
    fn quality_kernel_matches_the_formula() {
        let e = Embeddings::new(vec![1.0, 0.0, 0.6, 0.8], 2).unwrap();
        let s = Similarity::cosine(e);
        let l = Kernel::from_quality(&[1.0, 0.5], &s, 0.5).unwrap();
        let a = alpha(0.5).unwrap();
        assert_eq!(a, 0.5);
        let q1 = (a * (0.5 - 1.0)).exp();
        assert_eq!(l.get(0, 0), 1.0);
        assert!((l.get(0, 1) - 0.6 * q1).abs() < 1e-15);
        assert!((l.get(1, 1) - q1 * q1).abs() < 1e-15);
    }

    #[test]
    fn the_blocked_symmetry_check_names_the_first_asymmetry_in_row_order() {
        let n = 100;
        let mut data: Vec<f64> =
            (0..n * n).map(|x| if x / n == x % n { 2.0 } else { 0.01 }).collect();
        // Within the tolerance (1e-9 of the largest diagonal): accepted.
        data[5 * n + 70] += 1e-10;
        assert!(Kernel::new(data.clone(), n, n).is_ok());
        // Two asymmetries in different blocks; the later-found block holds the row-major first.
        data[40 * n + 95] = 0.3;
        data[3 * n + 90] = 0.2;
        assert_eq!(
            Kernel::new(data.clone(), n, n),
            Err(Error::KernelNotSymmetric { row: 3, col: 90, value: 0.2, transposed: 0.01 })
        );
        // Below the diagonal counts too: reported at its mirror (row < col).
        data[3 * n + 90] = 0.01;
        data[40 * n + 95] = 0.01;
        data[99 * n + 33] = 0.5;
        assert_eq!(
            Kernel::new(data, n, n),
            Err(Error::KernelNotSymmetric { row: 33, col: 99, value: 0.01, transposed: 0.5 })
        );
    }

    #[test]
    fn bad_kernels_are_typed_errors() {
        assert_eq!(Kernel::new(vec![], 0, 0), Err(Error::NoCandidates));
        assert_eq!(
            Kernel::new(vec![1.0; 6], 2, 3),
            Err(Error::KernelNotSquare { rows: 2, cols: 3 })
        );
        assert_eq!(
            Kernel::new(vec![1.0; 5], 2, 2),
            Err(Error::ShapeMismatch { what: "DPP kernel", len: 5, dim: 2 })
        );
        assert_eq!(
            Kernel::new(vec![1.0, 0.5, 0.4, 1.0], 2, 2),
            Err(Error::KernelNotSymmetric { row: 0, col: 1, value: 0.5, transposed: 0.4 })
        );
        assert_eq!(
            Kernel::new(vec![1.0, f64::NAN, f64::NAN, 1.0], 2, 2),
            Err(Error::NonFinite { what: "DPP kernel", position: 1 })
        );
        assert_eq!(
            Kernel::new(vec![1.0, 0.0, 0.0, -0.5], 2, 2),
            Err(Error::KernelNotPsd { index: 1, value: -0.5 })
        );
        // Rounding-level asymmetry (BLAS-computed Gram matrices) is accepted.
        assert!(Kernel::new(vec![1.0, 0.5, 0.5 + 1e-16, 1.0], 2, 2).is_ok());
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let l = gram(&[&[1.0, 0.0], &[0.0, 1.0]]);
        assert_eq!(dpp_greedy(&l, 3, DppParams::default()), Err(Error::InvalidK { k: 3, max: 2 }));
        assert_eq!(dpp_greedy(&l, 0, DppParams::default()), Err(Error::InvalidK { k: 0, max: 2 }));
        for epsilon in [0.0, -1.0, f64::NAN] {
            assert!(matches!(
                dpp_greedy(&l, 1, DppParams { epsilon, window: None }),
                Err(Error::InvalidArgument { name: "epsilon", .. })
            ));
        }
        assert!(matches!(
            dpp_greedy(&l, 1, DppParams { window: Some(0), ..DppParams::default() }),
            Err(Error::InvalidArgument { name: "window", .. })
        ));
        for theta in [1.0, -0.1, f64::NAN] {
            assert!(matches!(alpha(theta), Err(Error::InvalidArgument { name: "theta", .. })));
        }
    }
}
