//! Re-rank conformance against the published reference outputs in `tests/fixtures/` (see its
//! README): the DPP authors' fast greedy MAP (Chen et al. 2018) with and without the sliding
//! window, and a widely used MMR implementation at several λ.
//!
//! Written once, run natively (`tests/rerank.rs`) and in the browser (`tests/browser.rs`): every
//! check takes the fixture files as bytes and returns `Err(message)` instead of panicking, so a
//! wasm test can `include_bytes!` them ([`EMBEDDED`]) and report the message.
//!
//! Selections must be *identical* to the reference, position by position.

#![allow(dead_code)] // each test binary uses a different subset

use edgerec::rerank::{
    DppParams, Embeddings, Kernel, MmrParams, Similarity, dpp_greedy, dpp_greedy_quality, mmr,
};
use serde_json::Value;

/// The five fixture files, as bytes.
#[derive(Clone, Copy)]
pub struct Fixtures<'a> {
    /// `dpp_kernel_n1000_d64_seed42.npy`: the kernel L (1000 × 1000, float64).
    pub dpp_kernel_npy: &'a [u8],
    /// `dpp_n1000_d64_k50_seed42.json`: `selected`, `selected_sw_window10`, `k`, `epsilon`.
    pub dpp_json: &'a [u8],
    /// `mmr_E_n1000_d64_seed2024.npy`: item embeddings (1000 × 64).
    pub mmr_items_npy: &'a [u8],
    /// `mmr_q_d64_seed2024.npy`: the query (64).
    pub mmr_query_npy: &'a [u8],
    /// `mmr_n1000_d64_k50_seed2024.json`: `k` and one `"lambda=…"` entry per λ.
    pub mmr_json: &'a [u8],
}

/// The fixtures compiled into the test binary (about 8.5 MB, mostly the DPP kernel).
pub const EMBEDDED: Fixtures<'static> = Fixtures {
    dpp_kernel_npy: include_bytes!("../fixtures/dpp_kernel_n1000_d64_seed42.npy"),
    dpp_json: include_bytes!("../fixtures/dpp_n1000_d64_k50_seed42.json"),
    mmr_items_npy: include_bytes!("../fixtures/mmr_E_n1000_d64_seed2024.npy"),
    mmr_query_npy: include_bytes!("../fixtures/mmr_q_d64_seed2024.npy"),
    mmr_json: include_bytes!("../fixtures/mmr_n1000_d64_k50_seed2024.json"),
};

/// Runs every check: [`check_dpp`] then [`check_mmr`].
pub fn check_all(f: &Fixtures<'_>) -> Result<(), String> {
    check_dpp(f.dpp_kernel_npy, f.dpp_json)?;
    check_dpp_low_rank(f.dpp_kernel_npy, f.dpp_json)?;
    check_mmr(f.mmr_items_npy, f.mmr_query_npy, f.mmr_json)
}

/// A C-order `.npy` array of `f64` or `f32` (widened), with its shape.
pub fn read_npy(bytes: &[u8]) -> Result<(Vec<f64>, Vec<usize>), String> {
    let file = npyz::NpyFile::new(bytes).map_err(|e| format!("not a .npy file: {e}"))?;
    if file.order() != npyz::Order::C {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let values = match file.try_data::<f64>() {
        Ok(data) => data.collect::<Result<Vec<f64>, _>>(),
        Err(file) => match file.try_data::<f32>() {
            Ok(data) => data.map(|x| x.map(f64::from)).collect(),
            Err(file) => return Err(format!("unsupported dtype {}", file.dtype().descr())),
        },
    }
    .map_err(|e| format!("truncated or unreadable .npy data: {e}"))?;
    Ok((values, shape))
}

fn json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("fixture JSON: {e}"))
}

fn indices(v: &Value, key: &str) -> Result<Vec<usize>, String> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("fixture JSON lacks the array {key:?}"))?
        .iter()
        .map(|x| {
            x.as_u64().map(|i| i as usize).ok_or_else(|| format!("{key}: {x} is not an index"))
        })
        .collect()
}

fn number(v: &Value, key: &str) -> Result<f64, String> {
    v.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("fixture JSON lacks the number {key:?}"))
}

fn compare(what: &str, got: &[usize], want: &[usize]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    Err(format!(
        "{what}: selection differs from the reference at position {at} (lengths {} vs {}):\n  got  {got:?}\n  want {want:?}",
        got.len(),
        want.len()
    ))
}

/// DPP greedy MAP on the fixture kernel: `selected` (Alg. 1) and `selected_sw_window10`
/// (Alg. 2, window 10), both with the fixture's `k` and `epsilon`.
pub fn check_dpp(kernel_npy: &[u8], expected_json: &[u8]) -> Result<(), String> {
    let (values, shape) = read_npy(kernel_npy)?;
    let [rows, cols] = shape[..] else { return Err(format!("kernel shape {shape:?} is not 2-d")) };
    let kernel = Kernel::new(values, rows, cols).map_err(|e| e.to_string())?;
    let want = json(expected_json)?;
    let k = number(&want, "k")? as usize;
    let epsilon = number(&want, "epsilon")?;
    let full =
        dpp_greedy(&kernel, k, DppParams { window: None, epsilon }).map_err(|e| e.to_string())?;
    compare("DPP", &full, &indices(&want, "selected")?)?;
    let windowed = dpp_greedy(&kernel, k, DppParams { window: Some(10), epsilon })
        .map_err(|e| e.to_string())?;
    compare("DPP window 10", &windowed, &indices(&want, "selected_sw_window10")?)
}

/// The low-rank path (`dpp_greedy_quality`, what the funnel and `dppSelectEmbeddings` run) on
/// the same fixture. The fixture kernel is `L_ij = q_i·<f_i, f_j>·q_j` with unit-norm 64-d
/// features, so `q_i = √L_ii`, and with `θ = 0.5` (α = 0.5) the relevance `r_i = ln L_ii` gives
/// `q_i / max q` — a common scale that leaves the greedy order unchanged. The features are
/// recovered (up to rotation, which cosine ignores) by a pivoted Cholesky factorisation of
/// `S_ij = L_ij / (q_i q_j)`, which stops at its rank (64).
pub fn check_dpp_low_rank(kernel_npy: &[u8], expected_json: &[u8]) -> Result<(), String> {
    let (l, shape) = read_npy(kernel_npy)?;
    let [n, cols] = shape[..] else { return Err(format!("kernel shape {shape:?} is not 2-d")) };
    if n != cols {
        return Err(format!("kernel shape {shape:?} is not square"));
    }
    let q: Vec<f64> = (0..n).map(|i| l[i * n + i].sqrt()).collect();
    let s = |i: usize, j: usize| l[i * n + j] / (q[i] * q[j]);
    let mut residual: Vec<f64> = (0..n).map(|i| s(i, i)).collect();
    let mut columns: Vec<Vec<f64>> = Vec::new();
    loop {
        let (p, &d) =
            residual.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).ok_or("empty kernel")?;
        if d < 1e-9 || columns.len() == n {
            break;
        }
        let root = d.sqrt();
        let col: Vec<f64> = (0..n)
            .map(|i| (s(i, p) - columns.iter().map(|c| c[i] * c[p]).sum::<f64>()) / root)
            .collect();
        for (r, c) in residual.iter_mut().zip(&col) {
            *r -= c * c;
        }
        columns.push(col);
    }
    let rank = columns.len();
    let features: Vec<f64> = (0..n).flat_map(|i| columns.iter().map(move |c| c[i])).collect();
    let similarity =
        Similarity::cosine(Embeddings::new(features, rank).map_err(|e| e.to_string())?);
    let relevance: Vec<f64> = (0..n).map(|i| l[i * n + i].ln()).collect();
    let want = json(expected_json)?;
    let k = number(&want, "k")? as usize;
    let epsilon = number(&want, "epsilon")?;
    for (window, key) in [(None, "selected"), (Some(10), "selected_sw_window10")] {
        let got =
            dpp_greedy_quality(&relevance, &similarity, 0.5, k, DppParams { window, epsilon })
                .map_err(|e| e.to_string())?;
        compare(
            &format!("DPP low-rank (rank {rank}), window {window:?}"),
            &got,
            &indices(&want, key)?,
        )?;
    }
    Ok(())
}

/// MMR on the fixture items and query (relevance = cosine to the query, redundancy = max cosine
/// to the selected items) for every `"lambda=…"` entry of the JSON; at least one is required.
pub fn check_mmr(items_npy: &[u8], query_npy: &[u8], expected_json: &[u8]) -> Result<(), String> {
    let (items, shape) = read_npy(items_npy)?;
    let [_, dim] = shape[..] else { return Err(format!("items shape {shape:?} is not 2-d")) };
    let (query, _) = read_npy(query_npy)?;
    let embeddings = Embeddings::new(items, dim).map_err(|e| e.to_string())?;
    let relevance = embeddings.cosine_to(&query).map_err(|e| e.to_string())?;
    let similarity = Similarity::cosine(embeddings);
    let want = json(expected_json)?;
    let k = number(&want, "k")? as usize;
    let cases = want.as_object().ok_or("fixture JSON is not an object")?;
    let mut checked = 0;
    for (key, case) in cases {
        let Some(lambda) = key.strip_prefix("lambda=") else { continue };
        let lambda: f64 = lambda.parse().map_err(|_| format!("bad key {key:?}"))?;
        let got =
            mmr(&relevance, &similarity, k, MmrParams::new(lambda)).map_err(|e| e.to_string())?;
        compare(&format!("MMR λ={lambda}"), &got, &indices(case, "selected")?)?;
        checked += 1;
    }
    if checked == 0 {
        return Err("the MMR fixture has no \"lambda=…\" case".into());
    }
    Ok(())
}
