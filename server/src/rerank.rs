//! `edgerec rerank`: the re-rank algorithms on `.npy` inputs, for conformance checks against the
//! reference implementations (`dpp`, `mmr`: print `{"selected": [...]}`) and for timing them
//! (`bench`).

use crate::bench::time;
use clap::{Args, Subcommand};
use edgerec::rerank::{
    DEFAULT_EPSILON, DppParams, Embeddings, Kernel, MmrParams, Similarity, dpp_greedy, mmr,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `edgerec rerank`.
#[derive(Args)]
pub struct RerankArgs {
    #[command(subcommand)]
    what: RerankWhat,
}

#[derive(Subcommand)]
enum RerankWhat {
    /// Greedy DPP MAP inference (Chen et al. 2018) on a precomputed kernel; prints
    /// {"selected": [...]}.
    Dpp {
        /// Kernel matrix L (N × N, float64 or float32 .npy, C order).
        #[arg(long)]
        kernel: PathBuf,
        /// Items to select.
        #[arg(long)]
        k: usize,
        /// Sliding window (Alg. 2 of the paper); the whole list when absent.
        #[arg(long)]
        window: Option<usize>,
        /// Stop when the best marginal gain d² falls below this.
        #[arg(long, default_value_t = DEFAULT_EPSILON)]
        epsilon: f64,
    },
    /// Maximal Marginal Relevance with relevance = cosine(query, item) and redundancy = max
    /// cosine to the selected items; prints {"selected": [...]}.
    Mmr {
        /// Item embeddings (N × d .npy).
        #[arg(long)]
        items: PathBuf,
        /// Query embedding (d, or 1 × d, .npy).
        #[arg(long)]
        query: PathBuf,
        /// Items to select.
        #[arg(long)]
        k: usize,
        /// Relevance weight λ in [0, 1].
        #[arg(long)]
        lambda: f64,
        /// Only the last W selected items count as redundant.
        #[arg(long)]
        window: Option<usize>,
    },
    /// Times DPP, DPP with a window of 10 and MMR (λ = 0.5) on the conformance fixtures; prints
    /// a table and JSON lines.
    Bench {
        /// DPP kernel (.npy).
        #[arg(long, default_value = "tests/fixtures/dpp_kernel_n1000_d64_seed42.npy")]
        kernel: PathBuf,
        /// MMR item embeddings (.npy).
        #[arg(long, default_value = "tests/fixtures/mmr_E_n1000_d64_seed2024.npy")]
        items: PathBuf,
        /// MMR query (.npy).
        #[arg(long, default_value = "tests/fixtures/mmr_q_d64_seed2024.npy")]
        query: PathBuf,
        /// Items to select.
        #[arg(long, default_value_t = 50)]
        k: usize,
        /// Timed runs per algorithm (after one warm-up); the median is reported.
        #[arg(long, default_value_t = 50)]
        iters: usize,
    },
}

/// Runs the chosen subcommand.
pub fn run(args: &RerankArgs) -> Result<(), String> {
    match &args.what {
        RerankWhat::Dpp { kernel, k, window, epsilon } => {
            let kernel = load_kernel(kernel)?;
            let params = DppParams { window: *window, epsilon: *epsilon };
            print_selected(&dpp_greedy(&kernel, *k, params).map_err(|e| e.to_string())?);
            Ok(())
        }
        RerankWhat::Mmr { items, query, k, lambda, window } => {
            let (relevance, similarity) = load_mmr(items, query)?;
            let params = MmrParams { lambda: *lambda, window: *window };
            print_selected(&mmr(&relevance, &similarity, *k, params).map_err(|e| e.to_string())?);
            Ok(())
        }
        RerankWhat::Bench { kernel, items, query, k, iters } => {
            bench(kernel, items, query, *k, (*iters).max(1))
        }
    }
}

fn print_selected(selected: &[usize]) {
    println!("{}", serde_json::json!({ "selected": selected }));
}

/// A `.npy` array of float64 or float32 values (widened), C order, with its shape. Errors name
/// the file and what is wrong with it.
pub fn read_npy(path: &Path) -> Result<(Vec<f64>, Vec<usize>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`read_npy`] on bytes.
pub fn parse_npy(bytes: &[u8]) -> Result<(Vec<f64>, Vec<usize>), String> {
    let file = npyz::NpyFile::new(bytes).map_err(|e| format!("not a .npy file: {e}"))?;
    if file.order() != npyz::Order::C {
        return Err(
            "Fortran-order arrays are not supported (save with np.ascontiguousarray)".into()
        );
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let values = match file.try_data::<f64>() {
        Ok(data) => data.collect::<Result<Vec<f64>, _>>(),
        Err(file) => match file.try_data::<f32>() {
            Ok(data) => data.map(|x| x.map(f64::from)).collect(),
            Err(file) => {
                return Err(format!(
                    "dtype {} is not supported (float64 or float32 only)",
                    file.dtype().descr()
                ));
            }
        },
    }
    .map_err(|e| format!("truncated or unreadable data: {e}"))?;
    Ok((values, shape))
}

fn load_kernel(path: &Path) -> Result<Kernel, String> {
    let (values, shape) = read_npy(path)?;
    let [rows, cols] = shape[..] else {
        return Err(format!("{}: a kernel must be 2-d, got shape {shape:?}", path.display()));
    };
    Kernel::new(values, rows, cols).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_mmr(items: &Path, query: &Path) -> Result<(Vec<f64>, Similarity), String> {
    let (values, shape) = read_npy(items)?;
    let [_, dim] = shape[..] else {
        return Err(format!("{}: items must be 2-d (N × d), got {shape:?}", items.display()));
    };
    let (q, qshape) = read_npy(query)?;
    if !matches!(qshape[..], [_] | [1, _]) {
        return Err(format!("{}: the query must be 1-d (d), got {qshape:?}", query.display()));
    }
    let embeddings =
        Embeddings::new(values, dim).map_err(|e| format!("{}: {e}", items.display()))?;
    let relevance = embeddings.cosine_to(&q).map_err(|e| format!("{}: {e}", query.display()))?;
    Ok((relevance, Similarity::cosine(embeddings)))
}

fn bench(kernel: &Path, items: &Path, query: &Path, k: usize, iters: usize) -> Result<(), String> {
    let kernel = load_kernel(kernel)?;
    let (relevance, similarity) = load_mmr(items, query)?;
    let err = |e: edgerec::Error| e.to_string();
    let full = DppParams::default();
    let windowed = DppParams { window: Some(10), ..DppParams::default() };
    let runs: [(&str, usize, Duration); 3] = [
        ("dpp", kernel.len(), time(iters, || dpp_greedy(&kernel, k, full).map_err(err))?),
        (
            "dpp_window10",
            kernel.len(),
            time(iters, || dpp_greedy(&kernel, k, windowed).map_err(err))?,
        ),
        (
            "mmr_lambda0.5",
            relevance.len(),
            time(iters, || mmr(&relevance, &similarity, k, MmrParams::new(0.5)).map_err(err))?,
        ),
    ];
    println!("{:<16} {:>6} {:>4} {:>12}", "algorithm", "N", "k", "median ms");
    for (name, n, t) in &runs {
        println!("{name:<16} {n:>6} {k:>4} {:>12.3}", t.as_secs_f64() * 1e3);
    }
    for (name, n, t) in &runs {
        println!(
            "{}",
            serde_json::json!({
                "bench": "rerank", "impl": "edgerec", "algo": name, "n": n, "k": k,
                "iters": iters, "median_ms": t.as_secs_f64() * 1e3,
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
        let f = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}");
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_f64_and_f32() {
        let f64s: Vec<u8> = [1.0f64, -0.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy("<f8", false, "(2,)", &f64s)), Ok((vec![1.0, -0.5], vec![2])));
        let f32s: Vec<u8> = [0.25f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (v, s) = parse_npy(&npy("<f4", false, "(2, 2)", &f32s)).unwrap();
        assert_eq!((v, s), (vec![0.25, 2.0, 3.0, 4.0], vec![2, 2]));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let f64s: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let fortran = parse_npy(&npy("<f8", true, "(1, 2)", &f64s)).unwrap_err();
        assert!(fortran.contains("Fortran"), "{fortran}");
        let ints = parse_npy(&npy("<i4", false, "(2,)", &[0; 8])).unwrap_err();
        assert!(ints.contains("not supported"), "{ints}");
        let short = parse_npy(&npy("<f8", false, "(3,)", &f64s)).unwrap_err();
        assert!(short.contains("truncated"), "{short}");
        assert!(parse_npy(b"\x93NUMPX").unwrap_err().contains("not a .npy"));
    }
}
