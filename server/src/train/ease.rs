//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the
//! item-item weight matrix `B` that minimises `‖X − XB‖² + λ‖B‖²` subject to `diag(B) = 0`,
//! for the binary user × item matrix `X`. Its closed form is
//!
//! ```text
//! P = (XᵀX + λI)⁻¹,   B_ij = −P_ij / P_jj  (i ≠ j),   B_jj = 0
//! ```
//!
//! and a user's score for item `j` is `Σ_{i ∈ history} B_ij` — exactly what the SDK's
//! item-to-item channel sums over its seeds, so the top-`K` of each row of `B` ship as
//! neighbour lists (`ease.ids`, `ease.scores`) and the funnel needs no new code path.
//!
//! Two exact ways to get `P`, picked by the smaller side of `X` (m users × n items):
//! - **primal** (`n ≤ m`): invert the `n × n` Gram matrix directly (O(n³)).
//! - **dual** (`m < n`, e.g. MovieLens: 610 users, 9,742 items): the Woodbury identity
//!   `(λI + XᵀX)⁻¹ = (I − Xᵀ(λI + XXᵀ)⁻¹X) / λ` needs only an `m × m` inverse; with
//!   `Y = (λI + XXᵀ)⁻¹X`, `B_ij = (x_i·y_j) / (1 − x_j·y_j)` where `x_i` is item `i`'s column
//!   of `X`, so a row of `B` is the sum of `Y`'s rows over the item's users.
//!
//! Both use faer's Cholesky factorisation (the matrices are symmetric positive definite for
//! `λ > 0`). Only items with at least one interaction take part; the others get no neighbours.

use super::error::{Result, TrainError};
use super::i2i::{Neighbours, best_first};
use edgerec::bundle::manifest::NO_NEIGHBOR;
use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, Side};

/// The largest side (`min(users, items)`) EASE inverts: 20,000² doubles is 3.2 GB, and the
/// O(n³) factorisation about 10 minutes on two cores. Larger data should cut the catalogue to
/// its most popular items first (the tail gains little from an item-item model).
pub const MAX_SIDE: usize = 20_000;

/// EASE neighbour lists: the top-`k` positive entries of each row of `B`, best first.
///
/// `user_items` are per-user item rows (deduplicated, any order).
///
/// # Errors
/// [`TrainError::InvalidArgument`] for `λ ≤ 0` or data whose smaller side exceeds
/// [`MAX_SIDE`]; [`TrainError::NotEnoughData`] when the factorisation fails.
pub fn ease(user_items: &[Vec<u32>], n_items: usize, k: usize, lambda: f64) -> Result<Neighbours> {
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(TrainError::InvalidArgument {
            name: "ease-lambda",
            reason: format!("must be finite and > 0, got {lambda}"),
        });
    }
    // Active items (≥ 1 interaction) → dense columns.
    let mut column = vec![u32::MAX; n_items];
    let mut active: Vec<u32> = Vec::new();
    for items in user_items {
        for &i in items {
            if column[i as usize] == u32::MAX {
                column[i as usize] = 0;
            }
        }
    }
    for (i, c) in column.iter_mut().enumerate() {
        if *c == 0 {
            *c = active.len() as u32;
            active.push(i as u32);
        }
    }
    let users: Vec<&Vec<u32>> = user_items.iter().filter(|s| !s.is_empty()).collect();
    let (m, n) = (users.len(), active.len());
    let mut ids = vec![NO_NEIGHBOR; n_items * k];
    let mut scores = vec![0.0f32; n_items * k];
    if n == 0 || k == 0 {
        return Ok(Neighbours { k, ids, scores });
    }
    if m.min(n) > MAX_SIDE {
        return Err(TrainError::InvalidArgument {
            name: "ease-lambda",
            reason: format!(
                "EASE over {m} users × {n} items needs a {}² inverse, above the {MAX_SIDE}² \
                 this trainer allows; pass --ease-lambda 0 to skip it, or train on fewer items",
                m.min(n)
            ),
        });
    }
    // Item columns of X as user lists (dense user index).
    let mut item_users: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, items) in users.iter().enumerate() {
        for &i in items.iter() {
            item_users[column[i as usize] as usize].push(u as u32);
        }
    }
    let mut row = vec![0.0f64; n];
    let emit = |c: usize, row: &[f64], out_ids: &mut [u32], out_scores: &mut [f32]| {
        let positive: Vec<(f64, u32)> = row
            .iter()
            .enumerate()
            .filter(|&(j, &b)| j != c && b > 0.0)
            .map(|(j, &b)| (b, j as u32))
            .collect();
        for (slot, (b, j)) in best_first(positive, k, f64::total_cmp).into_iter().enumerate() {
            out_ids[slot] = active[j as usize];
            out_scores[slot] = b as f32;
        }
    };
    if m < n {
        // Dual: K = XXᵀ + λI (m × m), Y = K⁻¹X (m × n).
        let mut x = Mat::<f64>::zeros(m, n);
        for (c, us) in item_users.iter().enumerate() {
            for &u in us {
                x[(u as usize, c)] = 1.0;
            }
        }
        let mut gram = &x * x.transpose();
        for u in 0..m {
            gram[(u, u)] += lambda;
        }
        let llt = gram.llt(Side::Lower).map_err(not_definite)?;
        let y = llt.solve(&x);
        drop(x);
        // c_j = x_j·y_j, and B_ij = (Σ_{u ∈ U_i} Y_uj) / (1 − c_j).
        let denom: Vec<f64> = (0..n)
            .map(|j| 1.0 - item_users[j].iter().map(|&u| y[(u as usize, j)]).sum::<f64>())
            .collect();
        for (c, us) in item_users.iter().enumerate() {
            row.iter_mut().for_each(|v| *v = 0.0);
            for &u in us {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += y[(u as usize, j)];
                }
            }
            for (v, d) in row.iter_mut().zip(&denom) {
                *v /= d;
            }
            let i = active[c] as usize;
            emit(c, &row, &mut ids[i * k..(i + 1) * k], &mut scores[i * k..(i + 1) * k]);
        }
    } else {
        // Primal: P = (XᵀX + λI)⁻¹, B_ij = −P_ij / P_jj.
        let mut gram = Mat::<f64>::zeros(n, n);
        for items in &users {
            let cols: Vec<usize> = items.iter().map(|&i| column[i as usize] as usize).collect();
            for &a in &cols {
                for &b in &cols {
                    gram[(a, b)] += 1.0;
                }
            }
        }
        for c in 0..n {
            gram[(c, c)] += lambda;
        }
        let llt = gram.llt(Side::Lower).map_err(not_definite)?;
        drop(gram);
        let p = llt.inverse();
        for c in 0..n {
            for (j, v) in row.iter_mut().enumerate() {
                *v = -p[(c, j)] / p[(j, j)];
            }
            let i = active[c] as usize;
            emit(c, &row, &mut ids[i * k..(i + 1) * k], &mut scores[i * k..(i + 1) * k]);
        }
    }
    Ok(Neighbours { k, ids, scores })
}

fn not_definite(e: faer::linalg::cholesky::llt::factor::LltError) -> TrainError {
    TrainError::NotEnoughData(format!(
        "EASE: the regularised Gram matrix is not positive definite ({e:?})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn random_sets(users: usize, items: usize, p: f64, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..users)
            .map(|_| (0..items as u32).filter(|_| rng.random_bool(p)).collect::<Vec<u32>>())
            .collect()
    }

    /// Full `B` (k = items) as a dense matrix; missing entries are those ≤ 0 or padding.
    fn dense(nb: &Neighbours, items: usize) -> Vec<f64> {
        let mut b = vec![0.0; items * items];
        for i in 0..items {
            for (j, s) in nb.of(i) {
                b[i * items + j as usize] = s as f64;
            }
        }
        b
    }

    /// Fewer users than items takes the dual (Woodbury) branch: its lists must equal the
    /// direct closed form `−P_ij / P_jj` with `P = (XᵀX + λI)⁻¹`, and that `B` must satisfy the
    /// optimality condition of the constrained least squares problem, `((G + λI)B − G)_ij = 0`
    /// for every `i ≠ j` (`G = XᵀX`; the diagonal carries the constraint's multipliers).
    #[test]
    fn dual_form_equals_the_closed_form_which_is_optimal() {
        let sets = random_sets(6, 9, 0.45, 7);
        let dual = ease(&sets, 9, 9, 2.0).unwrap();
        let mut active = [false; 9];
        sets.iter().flatten().for_each(|&i| active[i as usize] = true);
        let idx: Vec<usize> = (0..9).filter(|&i| active[i]).collect();
        let n = idx.len();
        let mut g = Mat::<f64>::zeros(n, n);
        for s in &sets {
            for &a in s {
                for &b in s {
                    let (a, b) = (
                        idx.iter().position(|&x| x == a as usize).unwrap(),
                        idx.iter().position(|&x| x == b as usize).unwrap(),
                    );
                    g[(a, b)] += 1.0;
                }
            }
        }
        let mut gl = g.clone();
        for c in 0..n {
            gl[(c, c)] += 2.0;
        }
        let p = gl.llt(Side::Lower).unwrap().inverse();
        let d = dense(&dual, 9);
        for (a, &i) in idx.iter().enumerate() {
            for (b, &j) in idx.iter().enumerate() {
                let want = if a == b { 0.0 } else { -p[(a, b)] / p[(b, b)] };
                let got = d[i * 9 + j];
                if want > 0.0 {
                    assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "B[{i},{j}]");
                } else {
                    assert_eq!(got, 0.0, "B[{i},{j}] ≤ 0 is not listed");
                }
            }
        }
        // The optimality condition of the closed form: ((G + λI)B − G)_ij = 0 off the diagonal.
        let mut b = Mat::<f64>::zeros(n, n);
        for a in 0..n {
            for c in 0..n {
                if a != c {
                    b[(a, c)] = -p[(a, c)] / p[(c, c)];
                }
            }
        }
        let r = &gl * &b - &g;
        for a in 0..n {
            for c in 0..n {
                if a != c {
                    assert!(r[(a, c)].abs() < 1e-9, "KKT at ({a},{c}): {}", r[(a, c)]);
                }
            }
        }
    }

    /// More users than items takes the primal branch: its lists must equal the Woodbury form
    /// `B_ij = (XᵀY)_ij / (1 − (XᵀY)_jj)` with `Y = (XXᵀ + λI)⁻¹X`, computed here by hand.
    #[test]
    fn primal_form_equals_the_woodbury_form() {
        let sets = random_sets(12, 5, 0.5, 11);
        let primal = ease(&sets, 5, 5, 3.0).unwrap();
        // Dual by hand: Y = (XXᵀ + λI)⁻¹X.
        let m = sets.len();
        let mut x = Mat::<f64>::zeros(m, 5);
        for (u, s) in sets.iter().enumerate() {
            for &i in s {
                x[(u, i as usize)] = 1.0;
            }
        }
        let mut k = &x * x.transpose();
        for u in 0..m {
            k[(u, u)] += 3.0;
        }
        let y = k.llt(Side::Lower).unwrap().solve(&x);
        let xy = x.transpose() * &y;
        let d = dense(&primal, 5);
        for i in 0..5 {
            for j in 0..5 {
                if i == j {
                    continue;
                }
                let want = xy[(i, j)] / (1.0 - xy[(j, j)]);
                let got = d[i * 5 + j];
                if want > 0.0 {
                    assert!(
                        (got - want).abs() < 1e-5 * want.max(1.0),
                        "B[{i},{j}] {got} vs {want}"
                    );
                } else {
                    assert_eq!(got, 0.0);
                }
            }
        }
    }

    #[test]
    fn items_without_interactions_have_no_neighbours_and_lambda_is_checked() {
        let sets = vec![vec![0, 1], vec![0, 1], vec![1, 3]];
        let nb = ease(&sets, 5, 3, 1.0).unwrap();
        assert_eq!(nb.of(2).count(), 0);
        assert_eq!(nb.of(4).count(), 0);
        assert_eq!(nb.of(0).next().map(|(j, _)| j), Some(1));
        assert!(matches!(ease(&sets, 5, 3, 0.0), Err(TrainError::InvalidArgument { .. })));
        assert!(matches!(ease(&sets, 5, 3, f64::NAN), Err(TrainError::InvalidArgument { .. })));
    }
}
