//! An IVF (inverted file) index for large catalogues: a k-means coarse quantizer splits the
//! items into `nlist` lists; a query scores the centroids, keeps the `nprobe` best lists and
//! scans only their rows with the exact int8 (or f16 / f32) kernel of [`crate::compute::cpu`].
//!
//! This is the non-exhaustive search of Jégou, Douze & Schmid, "Product quantization for
//! nearest neighbor search" (IEEE TPAMI 33(1), 2011, §IV "IVFADC"), without the residual
//! product codes: the lists hold the bundle's own per-row int8 vectors, as FAISS's
//! `IndexIVFFlat` / `IndexIVFScalarQuantizer` do. Like FAISS's `IndexIVF`:
//!
//! * the coarse quantizer is trained by Lloyd's k-means on a sample of at most
//!   `max_points_per_list × nlist` rows (FAISS's `max_points_per_centroid`), initialised with
//!   `nlist` distinct random sample rows (FAISS's default, not k-means++: k-means++ costs
//!   `O(n · nlist)` per seeding step, too much for 1M rows × 1024 lists), and an empty cluster is
//!   re-seeded with a random sample row;
//! * with [`Similarity::Cosine`] the k-means is *spherical* (rows and centroids normalized, so
//!   assignment is by inner product — FAISS's `spherical = true`); with [`Similarity::Dot`] it
//!   is Euclidean, and queries probe lists by inner product with the centroids (FAISS's
//!   `METRIC_INNER_PRODUCT` search);
//! * the lists store row ids grouped by list (`list_offsets`, `list_rows`), and search returns
//!   original row ids.
//!
//! The list scan is [`crate::compute::cpu::fast_score_top_k`] restricted to the probed rows, in
//! increasing row order: each row's score is bit-identical to the exhaustive scan's and ties go
//! to the lower row, so with `nprobe = nlist` the result *is* the exact result.
//!
//! Everything here is single-threaded and deterministic for a given seed, on every target
//! (wasm included): the dot products keep a fixed accumulation order whatever SIMD width runs
//! them.

use crate::bundle::Bundle;
use crate::compute::TopK;
use crate::compute::cpu::fast::dot;
use crate::compute::cpu::{CpuScratch, fast_score_top_k};
use crate::compute::index::{ItemIndex, RowMask, ScoreRequest, Similarity};
use crate::compute::topk::{check_query, rank_order};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// How [`IvfIndex::train`] builds the coarse quantizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// Number of lists (k-means clusters), `1 ..= rows`. A common choice is about `√rows` to
    /// `4·√rows` (1024 for 1M items).
    pub nlist: usize,
    /// Lloyd iterations on the training sample.
    pub iters: usize,
    /// Training sample size per list: k-means runs on at most `nlist × max_points_per_list`
    /// rows (all rows when there are fewer), then every row is assigned to its nearest centroid.
    pub max_points_per_list: usize,
    /// Seed of the sampler and of the initial centroids.
    pub seed: u64,
}

impl IvfParams {
    /// `nlist` lists with the defaults: 10 iterations, 128 sample rows per list, seed 0.
    pub fn new(nlist: usize) -> Self {
        Self { nlist, iters: 10, max_points_per_list: 128, seed: 0 }
    }
}

/// A trained IVF coarse index over the rows of an [`ItemIndex`]. It holds no vectors: the
/// lists address the item index's stored rows by row id (`item_embeddings` in a bundle).
#[derive(Debug, Clone, PartialEq)]
pub struct IvfIndex {
    dim: usize,
    similarity: Similarity,
    centroids: Vec<f32>,
    /// `centroids` transposed, `dim × nlist` (derived; see [`centroid_scores`]).
    transposed: Vec<f32>,
    list_offsets: Vec<u32>,
    list_rows: Vec<u32>,
}

/// Reusable working memory for [`IvfIndex::search`]: keep one per engine.
#[derive(Debug, Default)]
pub struct IvfScratch {
    cpu: CpuScratch,
    lists: Vec<(f32, u32)>,
    scores: Vec<f32>,
    member: Vec<u64>,
    candidates: Vec<u32>,
    row: Vec<f32>,
}

impl IvfScratch {
    /// Empty scratch; grows on first use and keeps its capacity.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows the last [`IvfIndex::gather`] that returned `true` selected, increasing.
    pub fn candidates(&self) -> &[u32] {
        &self.candidates
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name: "ivf", reason: reason.into() }
}

/// Normalizes `row` in place (f64 norm, as the item index does); a zero row stays zero.
fn normalize(row: &mut [f32]) {
    let norm = row.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        row.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

/// Centroids transposed (`dim × nlist`, column `l` = centroid `l`), the layout of
/// [`centroid_scores`].
fn transpose(centroids: &[f32], dim: usize) -> Vec<f32> {
    let nlist = centroids.len() / dim;
    let mut t = vec![0.0f32; centroids.len()];
    for (l, c) in centroids.chunks_exact(dim).enumerate() {
        for (j, &v) in c.iter().enumerate() {
            t[j * nlist + l] = v;
        }
    }
    t
}

/// `out[l] += Σ_j x_j · c_l,j` for every centroid at once: one contiguous
/// multiply-add over `nlist` scores per coordinate (a GEMV on the transposed centroids), which
/// vectorizes fully with no horizontal reductions — the coarse-quantizer scoring of FAISS's
/// `IndexFlat`, as a BLAS `sgemv` would do it. Accumulation order is fixed (j ascending), so
/// results are the same at any SIMD width.
#[inline(always)]
fn centroid_scores_impl(x: &[f32], t: &[f32], out: &mut [f32]) {
    let nlist = out.len();
    for (&xj, col) in x.iter().zip(t.chunks_exact(nlist)) {
        for (o, &c) in out.iter_mut().zip(col) {
            *o += xj * c;
        }
    }
}

/// Nearest centroid of each point: argmax of `x·c + bias[c]` (ties to the lower list), where
/// `bias = −‖c‖²/2` for Euclidean k-means (so the argmax is the nearest in L2) and 0 for
/// spherical k-means. `scores` is `nlist` values of scratch.
#[inline(always)]
fn assign_impl(
    points: &[f32],
    dim: usize,
    t: &[f32],
    bias: &[f32],
    scores: &mut [f32],
    out: &mut [u32],
) {
    for (x, o) in points.chunks_exact(dim).zip(out.iter_mut()) {
        scores.copy_from_slice(bias);
        centroid_scores_impl(x, t, scores);
        let mut best = (f32::NEG_INFINITY, 0u32);
        for (l, &s) in scores.iter().enumerate() {
            if s > best.0 {
                best = (s, l as u32);
            }
        }
        *o = best.1;
    }
}

/// [`assign_impl`] compiled for AVX2 (same operations in the same order: same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn assign_avx2(
    points: &[f32],
    dim: usize,
    t: &[f32],
    bias: &[f32],
    scores: &mut [f32],
    out: &mut [u32],
) {
    assign_impl(points, dim, t, bias, scores, out);
}

/// [`centroid_scores_impl`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn centroid_scores_avx2(x: &[f32], t: &[f32], out: &mut [f32]) {
    centroid_scores_impl(x, t, out);
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

fn assign(points: &[f32], dim: usize, centroids: &[f32], bias: &[f32], out: &mut [u32]) {
    let t = transpose(centroids, dim);
    let mut scores = vec![0.0f32; bias.len()];
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports the features `assign_avx2` is compiled for (checked above).
        return unsafe { assign_avx2(points, dim, &t, bias, &mut scores, out) };
    }
    assign_impl(points, dim, &t, bias, &mut scores, out);
}

fn centroid_scores(x: &[f32], t: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports the features the kernel is compiled for (checked above).
        return unsafe { centroid_scores_avx2(x, t, out) };
    }
    centroid_scores_impl(x, t, out);
}

impl IvfIndex {
    /// Trains the coarse quantizer on `data` (`rows × dim` f32 values, row-major: the item
    /// vectors before quantization, or dequantized) and assigns every row to a list.
    ///
    /// # Errors
    /// [`Error::EmptyIndex`], [`Error::ShapeMismatch`], [`Error::NonFinite`] for bad data;
    /// [`Error::InvalidArgument`] (`"ivf"`) for `nlist` outside `1 ..= rows` or more than
    /// `u32::MAX` rows.
    pub fn train(
        data: &[f32],
        dim: usize,
        similarity: Similarity,
        params: &IvfParams,
    ) -> Result<Self> {
        if dim == 0 || data.is_empty() {
            return Err(Error::EmptyIndex);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch { what: "ivf training data", len: data.len(), dim });
        }
        if let Some(position) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "ivf training data", position });
        }
        let n = data.len() / dim;
        let nlist = params.nlist;
        if nlist == 0 || nlist > n {
            return Err(invalid(format!("nlist = {nlist} must be between 1 and {n} (rows)")));
        }
        if u32::try_from(n).is_err() {
            return Err(invalid(format!("{n} rows: at most {} supported", u32::MAX)));
        }
        let cosine = similarity == Similarity::Cosine;
        let prepared = |r: usize, out: &mut Vec<f32>| {
            let start = out.len();
            out.extend_from_slice(&data[r * dim..(r + 1) * dim]);
            if cosine {
                normalize(&mut out[start..]);
            }
        };

        // Sample: a seeded partial Fisher–Yates; its first nlist rows seed the centroids.
        let mut rng = SeededRng::new(params.seed);
        let m = n.min(nlist.saturating_mul(params.max_points_per_list.max(1)));
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in 0..m {
            let j = i + rng.below((n - i) as u64) as usize;
            perm.swap(i, j);
        }
        let mut centroids = Vec::with_capacity(nlist * dim);
        for &r in &perm[..nlist] {
            prepared(r as usize, &mut centroids);
        }
        let mut sample_rows = perm[..m].to_vec();
        drop(perm);
        sample_rows.sort_unstable();
        let mut sample = Vec::with_capacity(m * dim);
        for &r in &sample_rows {
            prepared(r as usize, &mut sample);
        }

        // Lloyd iterations on the sample.
        let mut labels = vec![0u32; m];
        let mut bias = vec![0.0f32; nlist];
        let mut sums = vec![0.0f64; nlist * dim];
        let mut counts = vec![0usize; nlist];
        let set_bias = |centroids: &[f32], bias: &mut [f32]| {
            for (b, c) in bias.iter_mut().zip(centroids.chunks_exact(dim)) {
                *b = if cosine { 0.0 } else { -0.5 * dot(c, c) };
            }
        };
        for _ in 0..params.iters {
            set_bias(&centroids, &mut bias);
            assign(&sample, dim, &centroids, &bias, &mut labels);
            sums.iter_mut().for_each(|s| *s = 0.0);
            counts.iter_mut().for_each(|c| *c = 0);
            for (x, &l) in sample.chunks_exact(dim).zip(&labels) {
                let l = l as usize;
                counts[l] += 1;
                for (s, v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(x) {
                    *s += f64::from(*v);
                }
            }
            for (l, c) in centroids.chunks_exact_mut(dim).enumerate() {
                if counts[l] == 0 {
                    // Empty cluster: re-seed it with a random sample row.
                    let r = rng.below(m as u64) as usize;
                    c.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
                    continue;
                }
                let inv = 1.0 / counts[l] as f64;
                for (v, s) in c.iter_mut().zip(&sums[l * dim..(l + 1) * dim]) {
                    *v = (s * inv) as f32;
                }
                if cosine {
                    normalize(c);
                }
            }
        }
        drop(sample);

        // Assign every row, in chunks, then group rows by list (counting sort: rows stay in
        // increasing order inside each list).
        set_bias(&centroids, &mut bias);
        let mut list_of = vec![0u32; n];
        const CHUNK: usize = 4096;
        let mut buf = Vec::with_capacity(CHUNK * dim);
        for (chunk, out) in list_of.chunks_mut(CHUNK).enumerate() {
            buf.clear();
            for r in chunk * CHUNK..chunk * CHUNK + out.len() {
                prepared(r, &mut buf);
            }
            assign(&buf, dim, &centroids, &bias, out);
        }
        let mut list_offsets = vec![0u32; nlist + 1];
        for &l in &list_of {
            list_offsets[l as usize + 1] += 1;
        }
        for l in 0..nlist {
            list_offsets[l + 1] += list_offsets[l];
        }
        let mut next: Vec<u32> = list_offsets[..nlist].to_vec();
        let mut list_rows = vec![0u32; n];
        for (r, &l) in list_of.iter().enumerate() {
            list_rows[next[l as usize] as usize] = r as u32;
            next[l as usize] += 1;
        }
        let transposed = transpose(&centroids, dim);
        Ok(Self { dim, similarity, centroids, transposed, list_offsets, list_rows })
    }

    /// An index from stored parts (e.g. read from elsewhere than a bundle).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`"ivf"`) unless `centroids` is `nlist × dim` finite values
    /// with `nlist + 1 = list_offsets.len()`, and the offsets and rows form valid lists over
    /// `list_rows.len()` rows (offsets from 0, non-decreasing, ending at the row count; rows a
    /// permutation).
    pub fn from_parts(
        centroids: Vec<f32>,
        dim: usize,
        similarity: Similarity,
        list_offsets: Vec<u32>,
        list_rows: Vec<u32>,
    ) -> Result<Self> {
        let nlist = list_offsets.len().saturating_sub(1);
        if dim == 0 || nlist == 0 || centroids.len() != nlist * dim {
            return Err(invalid(format!(
                "{} centroid values for {nlist} lists of dimension {dim}",
                centroids.len()
            )));
        }
        if let Some(p) = centroids.iter().position(|x| !x.is_finite()) {
            return Err(invalid(format!("centroid value {p} is not finite")));
        }
        crate::bundle::ivf::check_lists(&list_offsets, &list_rows, list_rows.len())
            .map_err(invalid)?;
        let transposed = transpose(&centroids, dim);
        Ok(Self { dim, similarity, centroids, transposed, list_offsets, list_rows })
    }

    /// The IVF index stored in `bundle` (`ivf.*` tensors, checked by the loader), or `None`
    /// when the bundle has none. Centroids stored as f16 or int8 are dequantized.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] only if the tensors are inconsistent, which the loader
    /// already rules out.
    pub fn from_bundle(bundle: &Bundle) -> Result<Option<Self>> {
        let Some(t) = bundle.ivf() else { return Ok(None) };
        let similarity = match bundle.manifest().similarity {
            crate::bundle::Similarity::Dot => Similarity::Dot,
            crate::bundle::Similarity::Cosine => Similarity::Cosine,
        };
        Self::from_parts(
            t.centroids.dequantize(),
            bundle.manifest().embedding_dim as usize,
            similarity,
            t.list_offsets.to_vec(),
            t.list_rows.to_vec(),
        )
        .map(Some)
    }

    /// The three bundle tensors (`ivf.centroids` f32, `ivf.list_offsets`, `ivf.list_rows`),
    /// ready to pass to [`crate::bundle::builder::build`] beside `item_embeddings`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn source_tensors(&self) -> Vec<crate::bundle::builder::SourceTensor> {
        use crate::bundle::builder::{SourceData, SourceTensor};
        use crate::bundle::{IVF_CENTROIDS, IVF_LIST_OFFSETS, IVF_LIST_ROWS};
        vec![
            SourceTensor {
                name: IVF_CENTROIDS.into(),
                shape: vec![self.nlist(), self.dim],
                data: SourceData::F32(self.centroids.clone()),
            },
            SourceTensor {
                name: IVF_LIST_OFFSETS.into(),
                shape: vec![self.list_offsets.len()],
                data: SourceData::U32(self.list_offsets.clone()),
            },
            SourceTensor {
                name: IVF_LIST_ROWS.into(),
                shape: vec![self.list_rows.len()],
                data: SourceData::U32(self.list_rows.clone()),
            },
        ]
    }

    /// The builder's helper (`edgerec bundle build --ivf-lists N`): trains an IVF index on the
    /// f32 `item_embeddings` among `sources` (the values before quantization) with the
    /// bundle's similarity and appends its three tensors to `sources`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`"ivf"`) when `sources` has no f32 `item_embeddings`
    /// `[items, dim]` or already holds IVF tensors; otherwise as [`IvfIndex::train`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn add_to_sources(
        sources: &mut Vec<crate::bundle::builder::SourceTensor>,
        similarity: crate::bundle::Similarity,
        params: &IvfParams,
    ) -> Result<Self> {
        use crate::bundle::builder::SourceData;
        use crate::bundle::manifest::ITEM_EMBEDDINGS;
        if sources.iter().any(|t| t.name.starts_with("ivf.")) {
            return Err(invalid("the input tensors already hold ivf.* tensors"));
        }
        let emb = sources
            .iter()
            .find(|t| t.name == ITEM_EMBEDDINGS)
            .ok_or_else(|| invalid(format!("no {ITEM_EMBEDDINGS} tensor")))?;
        let (SourceData::F32(data), [_, dim]) = (&emb.data, emb.shape.as_slice()) else {
            return Err(invalid(format!("{ITEM_EMBEDDINGS} must be a float [items, dim] tensor")));
        };
        let similarity = match similarity {
            crate::bundle::Similarity::Dot => Similarity::Dot,
            crate::bundle::Similarity::Cosine => Similarity::Cosine,
        };
        let ivf = Self::train(data, *dim, similarity, params)?;
        sources.extend(ivf.source_tensors());
        Ok(ivf)
    }

    /// Number of lists.
    pub fn nlist(&self) -> usize {
        self.list_offsets.len() - 1
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of rows the lists cover.
    pub fn rows(&self) -> usize {
        self.list_rows.len()
    }
    /// The similarity the quantizer was trained for.
    pub fn similarity(&self) -> Similarity {
        self.similarity
    }
    /// Centroids, `nlist × dim`, row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }
    /// List boundaries (`nlist + 1` values).
    pub fn list_offsets(&self) -> &[u32] {
        &self.list_offsets
    }
    /// Rows grouped by list.
    pub fn list_rows(&self) -> &[u32] {
        &self.list_rows
    }
    /// The rows of list `l` (in increasing order when built by [`IvfIndex::train`]); empty
    /// past the last list.
    pub fn list(&self, l: usize) -> &[u32] {
        match (self.list_offsets.get(l), self.list_offsets.get(l + 1)) {
            (Some(&a), Some(&b)) => &self.list_rows[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The lists a query probes, best first: the `nprobe` lists whose centroids score highest
    /// against `query` (inner product; ties to the lower list), plus further lists in the same
    /// order until together they hold at least `min_rows` rows.
    pub fn probe(&self, query: &[f32], nprobe: usize, min_rows: usize) -> Vec<u32> {
        let (mut lists, mut scores) = (Vec::new(), Vec::new());
        self.probe_into(query, nprobe, min_rows, &mut lists, &mut scores);
        lists.into_iter().map(|(_, l)| l).collect()
    }

    fn probe_into(
        &self,
        query: &[f32],
        nprobe: usize,
        min_rows: usize,
        lists: &mut Vec<(f32, u32)>,
        scores: &mut Vec<f32>,
    ) {
        let nlist = self.nlist();
        scores.clear();
        scores.resize(nlist, 0.0);
        // No bias: the query probes by inner product with the centroids.
        centroid_scores(query, &self.transposed, scores);
        lists.clear();
        lists.extend(scores.iter().enumerate().map(|(l, &s)| (s, l as u32)));
        let cmp = |a: &(f32, u32), b: &(f32, u32)| rank_order(*a, *b);
        // The best nprobe in order (a selection, then a sort of those only); the rest sorted
        // only when they are needed to reach min_rows. Same order as sorting everything.
        let n = nprobe.clamp(1, nlist);
        if n < nlist {
            lists.select_nth_unstable_by(n - 1, cmp);
        }
        lists[..n].sort_unstable_by(cmp);
        let mut rows: usize = lists[..n].iter().map(|&(_, l)| self.list(l as usize).len()).sum();
        let mut taken = n;
        if rows < min_rows {
            lists[n..].sort_unstable_by(cmp);
            while taken < nlist && rows < min_rows {
                rows += self.list(lists[taken].1 as usize).len();
                taken += 1;
            }
        }
        lists.truncate(taken);
    }

    /// The best `k` rows of `index` for `query` among the rows of the probed lists (see
    /// [`IvfIndex::probe`]; more than `nprobe` lists are scanned when those hold fewer than `k`
    /// rows), minus `mask`. Scores and order are exactly those of the exhaustive scan
    /// ([`crate::compute::cpu::fast_score_top_k`]) restricted to those rows, so
    /// `nprobe ≥ nlist` gives the exact result. Returns fewer than `k` only when the mask
    /// leaves fewer eligible rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`"ivf"`) when `index` is not the one this IVF was built for
    /// (row count, dimension), (`"nprobe"`) for `nprobe = 0`; query errors as
    /// [`ItemIndex::validate`].
    pub fn search(
        &self,
        index: &ItemIndex,
        query: &[f32],
        k: usize,
        nprobe: usize,
        mask: Option<&RowMask>,
        scratch: &mut IvfScratch,
    ) -> Result<TopK> {
        let restricted = self.gather(index, query, k, nprobe, scratch)?;
        let IvfScratch { cpu, candidates, .. } = scratch;
        let mut request = ScoreRequest::new(query, k);
        if let Some(mask) = mask {
            request = request.with_mask(mask);
        }
        if restricted {
            request = request.with_candidates(candidates);
        }
        Ok(fast_score_top_k(index, &request, cpu)?.pop().unwrap_or_default())
    }

    /// The rows [`IvfIndex::search`] scans for `query`, in increasing order, left in `scratch`
    /// ([`IvfScratch::candidates`]); `false` when the probed lists cover every row (the scan is
    /// then the exhaustive one and the candidates are not written). The GPU path scans them with
    /// its candidate-list kernel. Errors as [`IvfIndex::search`].
    pub fn gather(
        &self,
        index: &ItemIndex,
        query: &[f32],
        k: usize,
        nprobe: usize,
        scratch: &mut IvfScratch,
    ) -> Result<bool> {
        if index.rows() != self.rows() || index.dim() != self.dim {
            return Err(invalid(format!(
                "built for {} rows of dimension {}, the index has {} of dimension {}",
                self.rows(),
                self.dim,
                index.rows(),
                index.dim()
            )));
        }
        if nprobe == 0 {
            return Err(Error::InvalidArgument {
                name: "nprobe",
                reason: "must be at least 1".into(),
            });
        }
        check_query(self.dim, self.rows(), query, k)?;
        let IvfScratch { lists, scores, member, candidates, row, .. } = scratch;
        // For cosine, probe with the normalized query (same order; keeps scores comparable).
        let probe_query: &[f32] = if self.similarity == Similarity::Cosine {
            row.clear();
            row.extend_from_slice(query);
            normalize(row);
            row
        } else {
            query
        };
        self.probe_into(probe_query, nprobe, k, lists, scores);
        let total: usize = lists.iter().map(|&(_, l)| self.list(l as usize).len()).sum();
        if total >= self.rows() {
            return Ok(false);
        }
        // The probed rows in increasing order (a bitset, O(rows / 64 + probed)), so the scan
        // visits them as the exhaustive scan does and ties resolve identically.
        member.clear();
        member.resize(self.rows().div_ceil(64), 0);
        for &(_, l) in lists.iter() {
            for &r in self.list(l as usize) {
                member[r as usize / 64] |= 1 << (r % 64);
            }
        }
        candidates.clear();
        for (w, &bits) in member.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                candidates.push((w * 64) as u32 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        Ok(true)
    }
}
