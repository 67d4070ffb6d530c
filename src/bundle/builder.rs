//! The bundle builder (native only): tensors from safetensors plus an items file (JSONL or CSV)
//! → `manifest.json`, `tensors.bin`, `items.bin`, with a report of what quantization cost.
//!
//! Training frameworks publish safetensors (PyTorch, JAX, Spark jobs all can) and never touch
//! Rust. The quantization of each float tensor comes from [`QuantRule`]s (first match wins); the
//! report measures the item index's quantization error the way recall sees it: recall@10 and
//! recall@100 of search over the dequantized index against exact f32 search, on sampled queries.
//!
//! Output is a pure function of the inputs and [`BuildConfig`] (no clock, no randomness beyond
//! the seeded query sampler), so a bundle can be rebuilt byte for byte.

use super::integrity::{self, encode_hex};
use super::items::{ItemRecord, encode_items};
use super::loader::{Bundle, LoadOptions};
use super::manifest::{
    FORMAT_VERSION, FileEntry, GranularityWire, ITEM_EMBEDDINGS, ItemsRef, MANIFEST_FILE, Manifest,
    ModelInfo, NO_NEIGHBOR, SCALES_SUFFIX, Similarity, TensorDType, TensorEntry,
};
use super::quant::{DType, QuantScheme, QuantizedMatrix, ScaleDType};
use crate::error::{Error, Result};
use half::f16;
use serde::Serialize;
use std::str::FromStr;

/// Name of the tensor file the builder writes.
pub const TENSORS_FILE: &str = "tensors.bin";
/// Name of the item table file the builder writes.
pub const ITEMS_FILE: &str = "items.bin";
/// Tensor offsets are multiples of this: cache-line aligned and friendly to range requests.
pub const TENSOR_ALIGN: usize = 64;

/// Values of a source tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceData {
    /// Float values (f64/f32/f16/bf16 inputs are converted to f32).
    F32(Vec<f32>),
    /// Integer values (neighbour ids); negative inputs become [`NO_NEIGHBOR`].
    U32(Vec<u32>),
}

/// One input tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTensor {
    /// Name (becomes the bundle tensor name).
    pub name: String,
    /// `[n]` or `[rows, cols]`.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: SourceData,
}

/// "Tensors matching `pattern` are stored as `scheme`". `pattern` is a name in which each `*`
/// stands for any run of characters: an exact name, `prefix*`, `*` alone, or e.g.
/// `ranker.*.b*` (every bias of the ranker's sub-networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantRule<'a> {
    /// Exact name, or a pattern with `*` wildcards.
    pub pattern: &'a str,
    /// The storage scheme.
    pub scheme: QuantScheme,
}

impl QuantRule<'_> {
    fn matches(&self, name: &str) -> bool {
        let mut parts = self.pattern.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = name.strip_prefix(first) else { return false };
        let mut parts = parts.peekable();
        if parts.peek().is_none() {
            return rest.is_empty(); // no `*`: the exact name
        }
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                return rest.ends_with(part); // the last part ends the name
            }
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

pub use super::quant::{parse_scheme, scheme_name};

/// Everything about a build that is not in the input files.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig<'a> {
    /// Model id.
    pub model_id: &'a str,
    /// Model version.
    pub model_version: &'a str,
    /// RFC 3339 UTC timestamp (passed in, so builds are reproducible; see [`rfc3339_utc`]).
    pub created_at: &'a str,
    /// Recall similarity.
    pub similarity: Similarity,
    /// Softmax temperature.
    pub temperature: f32,
    /// Quantization rules, first match wins; unmatched float tensors use
    /// [`BuildConfig::DEFAULT_RULES`].
    pub rules: &'a [QuantRule<'a>],
    /// Ed25519 secret key (32-byte seed) to sign the manifest with.
    pub signing_key: Option<[u8; 32]>,
    /// Queries sampled for the recall report.
    pub eval_queries: usize,
    /// Seed of the query sampler.
    pub seed: u64,
}

impl BuildConfig<'_> {
    /// Applied after the caller's rules: int8 per-row item index, everything else f32.
    pub const DEFAULT_RULES: [QuantRule<'static>; 2] = [
        QuantRule { pattern: ITEM_EMBEDDINGS, scheme: QuantScheme::I8_PER_ROW },
        QuantRule { pattern: "*", scheme: QuantScheme::F32 },
    ];

    fn scheme_for(&self, name: &str) -> QuantScheme {
        self.rules
            .iter()
            .chain(&Self::DEFAULT_RULES)
            .find(|r| r.matches(name))
            .map_or(QuantScheme::F32, |r| r.scheme)
    }
}

/// Quantization error of the item index, as recall sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexReport {
    /// Scheme of `item_embeddings` (`"i8"`, …).
    pub scheme: &'static str,
    /// Bytes of the index as f32.
    pub f32_bytes: usize,
    /// Bytes stored (words plus scales).
    pub stored_bytes: usize,
    /// `stored_bytes / f32_bytes`.
    pub size_ratio: f64,
    /// Queries evaluated.
    pub queries: usize,
    /// The k of the first recall figure (10, or the item count when smaller).
    pub k10: usize,
    /// Mean recall@k10 of the stored index vs exact f32 search.
    pub recall_at_10: f64,
    /// The k of the second recall figure (100, or the item count when smaller).
    pub k100: usize,
    /// Mean recall@k100.
    pub recall_at_100: f64,
}

/// Per-tensor outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// Stored dtype / scheme (`"u32"` for integer tensors).
    pub scheme: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Bytes stored, scales included.
    pub stored_bytes: usize,
    /// Bytes the values take as f32 / u32.
    pub f32_bytes: usize,
    /// Largest `|x − dequantized(x)|`.
    pub max_abs_error: f32,
}

/// What the builder reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildReport {
    /// The item index.
    pub item_index: IndexReport,
    /// Every source tensor.
    pub tensors: Vec<TensorReport>,
    /// Items written.
    pub items: usize,
    /// Bytes of all binary files.
    pub total_bytes: usize,
    /// Hex public key of the signer, when signed.
    pub public_key: Option<String>,
}

/// A built bundle, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltBundle {
    /// `manifest.json` bytes.
    pub manifest_json: Vec<u8>,
    /// `(file name, bytes)` of each binary file, in manifest order.
    pub files: Vec<(String, Vec<u8>)>,
    /// Quantization report.
    pub report: BuildReport,
}

impl BuiltBundle {
    /// Writes the files, then `manifest.json` last (readers start from the manifest, so a
    /// half-written directory is never mistaken for a bundle), creating `dir` if needed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_to(&self, dir: &std::path::Path) -> Result<()> {
        let io = |p: &std::path::Path, e: std::io::Error| Error::Io {
            path: p.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for (name, bytes) in &self.files {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
        }
        let p = dir.join(MANIFEST_FILE);
        std::fs::write(&p, &self.manifest_json).map_err(|e| io(&p, e))
    }

    /// Loads it back through the normal loader (the builder's own self-check).
    ///
    /// # Errors
    /// As [`Bundle::from_bytes`].
    pub fn load(&self, options: &LoadOptions) -> Result<Bundle> {
        let files: Vec<(&str, &[u8])> =
            self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        Bundle::from_bytes(&self.manifest_json, &files, options)
    }
}

fn input_err(reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name: "tensors", reason: reason.into() }
}

/// Reads every tensor of a safetensors file, sorted by name.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unparsable file, an unsupported dtype, a rank other than
/// 1 or 2, or an integer out of `u32` range.
pub fn read_safetensors(bytes: &[u8]) -> Result<Vec<SourceTensor>> {
    use safetensors::{Dtype, SafeTensors};
    let st = SafeTensors::deserialize(bytes).map_err(|e| input_err(format!("safetensors: {e}")))?;
    let mut out = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let t = st.tensor(&name).map_err(|e| input_err(format!("{name}: {e}")))?;
        let shape = t.shape().to_vec();
        if !(1..=2).contains(&shape.len()) {
            return Err(input_err(format!(
                "{name}: rank {} (only [n] or [rows, cols])",
                shape.len()
            )));
        }
        let d = t.data();
        let le = |n: usize| d.chunks_exact(n);
        let ints = |v: Vec<i64>| -> Result<SourceData> {
            v.into_iter()
                .map(|x| match x {
                    // Negative values and the bundle's own padding (u32::MAX, what a u32
                    // input holds) both mean "no neighbour".
                    x if x < 0 || x == i64::from(NO_NEIGHBOR) => Ok(NO_NEIGHBOR),
                    x if x < i64::from(NO_NEIGHBOR) => Ok(x as u32),
                    x => Err(input_err(format!("{name}: integer {x} out of u32 range"))),
                })
                .collect::<Result<Vec<u32>>>()
                .map(SourceData::U32)
        };
        let data = match t.dtype() {
            Dtype::F32 => SourceData::F32(
                le(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            ),
            Dtype::F64 => SourceData::F32(
                le(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
            ),
            Dtype::F16 => {
                SourceData::F32(le(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect())
            }
            Dtype::BF16 => SourceData::F32(
                le(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            ),
            Dtype::I32 => ints(
                le(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
            )?,
            Dtype::I64 => {
                ints(le(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())?
            }
            Dtype::U32 => ints(
                le(4).map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
            )?,
            other => return Err(input_err(format!("{name}: unsupported dtype {other:?}"))),
        };
        out.push(SourceTensor { name, shape, data });
    }
    Ok(out)
}

fn items_err(reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name: "items", reason: reason.into() }
}

/// Reads items from JSON Lines: one [`ItemRecord`] object per non-empty line.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the line.
pub fn read_items_jsonl(text: &str) -> Result<Vec<ItemRecord>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| items_err(format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// Reads items from CSV with a header row: `id` (required), `title`, `type`, `created_at`
/// (Unix seconds), `tags` (`|`-separated); every other column is a free attribute (empty cells
/// are omitted).
///
/// # Errors
/// [`Error::InvalidArgument`] naming the record.
pub fn read_items_csv(bytes: &[u8]) -> Result<Vec<ItemRecord>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().map_err(|e| items_err(format!("CSV header: {e}")))?.clone();
    if !headers.iter().any(|h| h == "id") {
        return Err(items_err("CSV header has no id column"));
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| items_err(format!("CSV record {}: {e}", i + 1)))?;
        let mut item = ItemRecord::default();
        for (h, v) in headers.iter().zip(record.iter()) {
            match h {
                "id" => item.id = v.to_string(),
                "title" => item.title = v.to_string(),
                "type" => item.item_type = v.to_string(),
                "created_at" if !v.is_empty() => {
                    item.created_at = v.parse().map_err(|e| {
                        items_err(format!("CSV record {}: created_at {v:?}: {e}", i + 1))
                    })?;
                }
                "created_at" => {}
                "tags" | "categories" => {
                    item.tags =
                        v.split('|').filter(|t| !t.is_empty()).map(str::to_string).collect();
                }
                _ if !v.is_empty() => {
                    item.attributes.insert(h.to_string(), v.to_string());
                }
                _ => {}
            }
        }
        out.push(item);
    }
    Ok(out)
}

/// Formats Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`), for `created_at`.
pub fn rfc3339_utc(unix_seconds: i64) -> String {
    // Civil-from-days, Howard Hinnant's algorithm (proleptic Gregorian calendar).
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// SplitMix64 (Steele et al. 2014): a tiny seeded generator for the query sampler, so the
/// report is reproducible without a dependency on an RNG crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn normalize_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
        }
    }
}

/// Row indices of the `k` best scores (ties broken by lower row), computed in f64.
fn top_rows(index: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = index
        .chunks_exact(dim)
        .enumerate()
        .map(|(r, row)| {
            (row.iter().zip(query).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum(), r)
        })
        .collect();
    let k = k.min(scored.len());
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(k);
    scored.into_iter().map(|(_, r)| r).collect()
}

/// Mean recall@k of search over `approx` against exact search over `exact` (both `rows × dim`),
/// for each query in `queries`: `|top_k(approx) ∩ top_k(exact)| / k`. `k` is capped at `rows`.
pub fn recall_at_k(
    exact: &[f32],
    approx: &[f32],
    dim: usize,
    queries: &[Vec<f32>],
    k: usize,
) -> f64 {
    if queries.is_empty() || dim == 0 {
        return 1.0;
    }
    let mut total = 0.0;
    for q in queries {
        let truth = top_rows(exact, dim, q, k);
        let found = top_rows(approx, dim, q, k);
        let hits = found.iter().filter(|r| truth.contains(r)).count();
        total += hits as f64 / truth.len().max(1) as f64;
    }
    total / queries.len() as f64
}

/// Sampled evaluation queries: each the sum of two random item vectors (an in-distribution
/// "mixed interest" query that is not itself an item, so recall is not inflated by self-hits).
pub fn sample_queries(index: &[f32], dim: usize, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let rows = index.len() / dim.max(1);
    if rows == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix(seed);
    (0..count)
        .map(|_| {
            let (a, b) = (rng.below(rows), rng.below(rows));
            (0..dim).map(|j| index[a * dim + j] + index[b * dim + j]).collect()
        })
        .collect()
}

struct Placed {
    entry: TensorEntry,
    bytes: Vec<u8>,
}

fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn scales_tensor(name: &str, q: &QuantizedMatrix) -> Placed {
    let scales = q.scales();
    let (dtype, bytes) = match q.scheme().scale {
        ScaleDType::F32 => {
            (TensorDType::F32, scales.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())
        }
        ScaleDType::F16 => {
            // Exact: f16 scales are rounded to f16 before quantizing (see `quant`).
            let mut b: Vec<u8> =
                scales.iter().flat_map(|s| f16::from_f32(*s).to_le_bytes()).collect();
            b.resize(b.len().next_multiple_of(4), 0);
            (TensorDType::F16, b)
        }
    };
    Placed {
        entry: TensorEntry {
            name: format!("{name}{SCALES_SUFFIX}"),
            file: TENSORS_FILE.into(),
            offset: 0,
            bytes: bytes.len() as u64,
            dtype,
            shape: vec![scales.len() as u64],
            granularity: None,
            scales: None,
        },
        bytes,
    }
}

/// Builds a bundle in memory.
///
/// # Errors
/// [`Error::InvalidArgument`] for inputs that do not form a bundle (no `item_embeddings`,
/// shapes that disagree with the item count, a name clash with a scale tensor, …),
/// [`Error::BundleNonFinite`] for NaN/inf in a float tensor, [`Error::DuplicateId`].
pub fn build(
    tensors: &[SourceTensor],
    items: &[ItemRecord],
    config: &BuildConfig<'_>,
) -> Result<BuiltBundle> {
    let emb = tensors
        .iter()
        .find(|t| t.name == ITEM_EMBEDDINGS)
        .ok_or_else(|| input_err(format!("no {ITEM_EMBEDDINGS} tensor")))?;
    let (n_items, dim) = match emb.shape.as_slice() {
        [r, c] => (*r, *c),
        _ => return Err(input_err(format!("{ITEM_EMBEDDINGS} must be [items, dim]"))),
    };
    if n_items != items.len() {
        return Err(input_err(format!(
            "{ITEM_EMBEDDINGS} has {n_items} rows, the items file {} items",
            items.len()
        )));
    }
    let items_bytes = encode_items(ITEMS_FILE, items)?;

    // Item index first, then the rest by name: the index is a contiguous prefix of tensors.bin.
    let mut order: Vec<&SourceTensor> = tensors.iter().collect();
    order.sort_by_key(|t| (t.name != ITEM_EMBEDDINGS, t.name.as_str()));
    let mut placed: Vec<Placed> = Vec::new();
    let mut reports = Vec::new();
    let mut index_report = None;
    for t in order {
        if t.name.ends_with(SCALES_SUFFIX) {
            return Err(input_err(format!(
                "{}: names ending in {SCALES_SUFFIX} are reserved",
                t.name
            )));
        }
        let numel: usize = t.shape.iter().product();
        let cols = *t.shape.last().unwrap_or(&0);
        let len = match &t.data {
            SourceData::F32(v) => v.len(),
            SourceData::U32(v) => v.len(),
        };
        if numel == 0 || len != numel {
            return Err(input_err(format!("{}: shape {:?} but {len} values", t.name, t.shape)));
        }
        let shape: Vec<u64> = t.shape.iter().map(|d| *d as u64).collect();
        match &t.data {
            SourceData::U32(v) => {
                placed.push(Placed {
                    entry: TensorEntry {
                        name: t.name.clone(),
                        file: TENSORS_FILE.into(),
                        offset: 0,
                        bytes: (v.len() * 4) as u64,
                        dtype: TensorDType::U32,
                        shape,
                        granularity: None,
                        scales: None,
                    },
                    bytes: words_to_bytes(v),
                });
                reports.push(TensorReport {
                    name: t.name.clone(),
                    scheme: "u32",
                    shape: t.shape.clone(),
                    stored_bytes: v.len() * 4,
                    f32_bytes: v.len() * 4,
                    max_abs_error: 0.0,
                });
            }
            SourceData::F32(v) => {
                if let Some(position) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::BundleNonFinite {
                        file: "tensors input".into(),
                        tensor: t.name.clone(),
                        position,
                    });
                }
                let scheme = config.scheme_for(&t.name);
                let q = QuantizedMatrix::quantize(v, cols, scheme)?;
                let back = q.dequantize();
                let max_abs_error =
                    v.iter().zip(&back).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                let scale = (scheme.dtype == DType::I8).then(|| scales_tensor(&t.name, &q));
                placed.push(Placed {
                    entry: TensorEntry {
                        name: t.name.clone(),
                        file: TENSORS_FILE.into(),
                        offset: 0,
                        bytes: (q.words().len() * 4) as u64,
                        dtype: scheme.dtype.into(),
                        shape,
                        granularity: scale
                            .as_ref()
                            .map(|_| GranularityWire::from(scheme.granularity)),
                        scales: scale.as_ref().map(|s| s.entry.name.clone()),
                    },
                    bytes: words_to_bytes(q.words()),
                });
                placed.extend(scale);
                reports.push(TensorReport {
                    name: t.name.clone(),
                    scheme: scheme_name(scheme),
                    shape: t.shape.clone(),
                    stored_bytes: q.stored_bytes(),
                    f32_bytes: v.len() * 4,
                    max_abs_error,
                });
                if t.name == ITEM_EMBEDDINGS {
                    index_report = Some(index_quality(v, &back, dim, scheme, &q, config));
                }
            }
        }
    }
    let Some(item_index) = index_report else {
        return Err(input_err(format!("{ITEM_EMBEDDINGS} must be a float tensor")));
    };
    let mut tensors_bytes = Vec::new();
    for p in &mut placed {
        tensors_bytes.resize(tensors_bytes.len().next_multiple_of(TENSOR_ALIGN), 0);
        p.entry.offset = tensors_bytes.len() as u64;
        tensors_bytes.extend_from_slice(&p.bytes);
    }
    tensors_bytes.resize(tensors_bytes.len().next_multiple_of(4), 0);
    let files =
        vec![(TENSORS_FILE.to_string(), tensors_bytes), (ITEMS_FILE.to_string(), items_bytes)];
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        model: ModelInfo { id: config.model_id.into(), version: config.model_version.into() },
        created_at: config.created_at.into(),
        embedding_dim: dim as u64,
        similarity: config.similarity,
        temperature: config.temperature,
        items: ItemsRef { file: ITEMS_FILE.into(), count: n_items as u64 },
        files: files
            .iter()
            .map(|(name, b)| FileEntry {
                name: name.clone(),
                bytes: b.len() as u64,
                sha256: integrity::sha256_hex(b),
            })
            .collect(),
        tensors: placed.into_iter().map(|p| p.entry).collect(),
    };
    let manifest_json = envelope(&manifest, config.signing_key.as_ref())?;
    let report = BuildReport {
        item_index,
        tensors: reports,
        items: items.len(),
        total_bytes: files.iter().map(|(_, b)| b.len()).sum(),
        public_key: config.signing_key.map(|k| encode_hex(&integrity::public_key_of(&k))),
    };
    let built = BuiltBundle { manifest_json, files, report };
    // Self-check: whatever the builder writes, the loader must accept.
    built.load(&LoadOptions {
        public_key: config.signing_key.map(|k| integrity::public_key_of(&k)),
    })?;
    Ok(built)
}

/// Serializes the manifest and wraps it in the signed envelope. The signature covers exactly
/// the manifest bytes embedded in the file.
pub(crate) fn envelope(manifest: &Manifest, signing_key: Option<&[u8; 32]>) -> Result<Vec<u8>> {
    let ser =
        |e: serde_json::Error| Error::InvalidArgument { name: "manifest", reason: e.to_string() };
    let raw = serde_json::to_string_pretty(manifest).map_err(ser)?;
    let signature = match signing_key {
        Some(seed) => serde_json::to_string(&integrity::sign(seed, raw.as_bytes())).map_err(ser)?,
        None => "null".into(),
    };
    Ok(format!("{{\"manifest\": {raw},\n\"signature\": {signature}}}\n").into_bytes())
}

fn index_quality(
    source: &[f32],
    stored: &[f32],
    dim: usize,
    scheme: QuantScheme,
    q: &QuantizedMatrix,
    config: &BuildConfig<'_>,
) -> IndexReport {
    let (mut exact, mut approx) = (source.to_vec(), stored.to_vec());
    if config.similarity == Similarity::Cosine {
        normalize_rows(&mut exact, dim);
        normalize_rows(&mut approx, dim);
    }
    let queries = sample_queries(&exact, dim, config.eval_queries, config.seed);
    let rows = source.len() / dim;
    let (k10, k100) = (10.min(rows), 100.min(rows));
    let f32_bytes = source.len() * 4;
    IndexReport {
        scheme: scheme_name(scheme),
        f32_bytes,
        stored_bytes: q.stored_bytes(),
        size_ratio: q.stored_bytes() as f64 / f32_bytes as f64,
        queries: queries.len(),
        k10,
        recall_at_10: recall_at_k(&exact, &approx, dim, &queries, k10),
        k100,
        recall_at_100: recall_at_k(&exact, &approx, dim, &queries, k100),
    }
}

impl FromStr for Similarity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dot" => Ok(Similarity::Dot),
            "cosine" => Ok(Similarity::Cosine),
            other => Err(Error::InvalidArgument {
                name: "similarity",
                reason: format!("{other:?} is not dot or cosine"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn schemes_parse_and_print_back() {
        for name in ["f32", "f16", "i8", "i8-f16", "i8-tensor", "i8-tensor-f16"] {
            assert_eq!(scheme_name(parse_scheme(name).unwrap()), name);
        }
        assert!(parse_scheme("int4").is_err());
    }

    #[test]
    fn rules_match_exact_prefix_and_default() {
        let rules = [QuantRule { pattern: "user_tower.*", scheme: QuantScheme::F16 }];
        let c = BuildConfig {
            model_id: "m",
            model_version: "1",
            created_at: "1970-01-01T00:00:00Z",
            similarity: Similarity::Dot,
            temperature: 1.0,
            rules: &rules,
            signing_key: None,
            eval_queries: 1,
            seed: 0,
        };
        assert_eq!(c.scheme_for("user_tower.w0"), QuantScheme::F16);
        assert_eq!(c.scheme_for(ITEM_EMBEDDINGS), QuantScheme::I8_PER_ROW);
        assert_eq!(c.scheme_for("ranker.w0"), QuantScheme::F32);
    }

    #[test]
    fn rule_patterns_take_wildcards_anywhere() {
        let rule = |pattern| QuantRule { pattern, scheme: QuantScheme::F16 };
        let cases = [
            ("ranker.b0", "ranker.b0", true),
            ("ranker.b0", "ranker.b01", false),
            ("ranker.b*", "ranker.b2", true),
            ("ranker.b*", "ranker.w2", false),
            ("*", "anything", true),
            ("ranker.*.b*", "ranker.expert3.b1", true),
            ("ranker.*.b*", "ranker.gate0.w0", false),
            ("ranker.*.b*", "ranker.b0", false),
            ("*.scales", "item_embeddings.scales", true),
            ("*.scales", "item_embeddings.scale", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "ab", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(rule(pattern).matches(name), want, "{pattern} on {name}");
        }
    }

    #[test]
    fn csv_items_map_columns() {
        let csv = b"id,title,type,created_at,tags,brand\na,A,book,5,x|y,acme\nb,,,,,\n";
        let items = read_items_csv(csv).unwrap();
        assert_eq!(items[0].tags, ["x", "y"]);
        assert_eq!(items[0].attributes.get("brand").map(String::as_str), Some("acme"));
        assert_eq!((items[1].id.as_str(), items[1].created_at), ("b", 0));
        assert!(read_items_csv(b"name\nx\n").is_err());
    }

    #[test]
    fn recall_is_one_for_identical_indexes() {
        let idx: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        let qs = sample_queries(&idx, 4, 5, 1);
        assert_eq!(recall_at_k(&idx, &idx, 4, &qs, 3), 1.0);
    }
}
