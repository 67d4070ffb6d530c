//! The bundle manifest (`manifest.json`): what the bundle contains and how to check it.
//!
//! The file is an *envelope* `{"manifest": {…}, "signature": …}`. The Ed25519 signature covers
//! the exact bytes of the `manifest` value as they appear in the file, so no JSON
//! canonicalization is involved: the signer writes the manifest bytes once and the verifier
//! checks those same bytes (see `models/README.md`, "Signature").
//!
//! Parsing order, so that each failure gets the most useful error: envelope → signature (when a
//! public key is configured) → format version → full manifest → structural checks (names,
//! offsets, shapes vs. byte lengths, scales). Nothing here reads tensor bytes; that happens after
//! the files' hashes are checked (`loader`).

use super::integrity;
use super::quant::{DType, Granularity, QuantScheme, ScaleDType};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The bundle format version this SDK reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Name of the required item-embedding tensor (the recall index), `[items, embedding_dim]`.
pub const ITEM_EMBEDDINGS: &str = "item_embeddings";
/// Item-to-item neighbour ids, `u32 [items, K]`; `u32::MAX` pads rows with fewer than K.
pub const NEIGHBOR_IDS: &str = "i2i.ids";
/// Item-to-item neighbour scores, float `[items, K]`, aligned with [`NEIGHBOR_IDS`].
pub const NEIGHBOR_SCORES: &str = "i2i.scores";
/// Per-item popularity, float `[items]`.
pub const POPULARITY: &str = "stats.popularity";
/// Per-item freshness, float `[items]`.
pub const FRESHNESS: &str = "stats.freshness";
/// Prefix of user-tower weight tensors.
pub const USER_TOWER_PREFIX: &str = "user_tower.";
/// Prefix of ranker weight tensors.
pub const RANKER_PREFIX: &str = "ranker.";
/// Suffix of the scale tensor the builder writes for an int8 tensor.
pub const SCALES_SUFFIX: &str = ".scales";
/// Padding value in [`NEIGHBOR_IDS`] rows with fewer than K neighbours.
pub const NO_NEIGHBOR: u32 = u32::MAX;

/// How the recall stage compares a query with an item vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Similarity {
    /// Inner product.
    Dot,
    /// Cosine similarity (vectors normalized before the inner product).
    Cosine,
}

/// Element type of a stored tensor as written in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorDType {
    /// IEEE binary32, one per word.
    F32,
    /// IEEE binary16, two per word (element `2w` in the low half).
    F16,
    /// Symmetric int8, four per word (little-endian), with a separate scale tensor.
    I8,
    /// Unsigned 32-bit integers (neighbour ids).
    U32,
}

impl TensorDType {
    /// The float storage type, or `None` for integer tensors.
    pub fn float(self) -> Option<DType> {
        match self {
            TensorDType::F32 => Some(DType::F32),
            TensorDType::F16 => Some(DType::F16),
            TensorDType::I8 => Some(DType::I8),
            TensorDType::U32 => None,
        }
    }

    /// `u32` words one row of `cols` values occupies (rows are padded to whole words).
    pub fn words_per_row(self, cols: u64) -> u64 {
        match self {
            TensorDType::F32 | TensorDType::U32 => cols,
            TensorDType::F16 => cols.div_ceil(2),
            TensorDType::I8 => cols.div_ceil(4),
        }
    }
}

impl From<DType> for TensorDType {
    fn from(d: DType) -> Self {
        match d {
            DType::F32 => TensorDType::F32,
            DType::F16 => TensorDType::F16,
            DType::I8 => TensorDType::I8,
        }
    }
}

/// int8 scale granularity as written in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GranularityWire {
    /// One scale per row.
    PerRow,
    /// One scale for the tensor.
    PerTensor,
}

impl From<GranularityWire> for Granularity {
    fn from(g: GranularityWire) -> Self {
        match g {
            GranularityWire::PerRow => Granularity::PerRow,
            GranularityWire::PerTensor => Granularity::PerTensor,
        }
    }
}

impl From<Granularity> for GranularityWire {
    fn from(g: Granularity) -> Self {
        match g {
            Granularity::PerRow => GranularityWire::PerRow,
            Granularity::PerTensor => GranularityWire::PerTensor,
        }
    }
}

/// Model identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Stable model name (e.g. `"movies-two-tower"`).
    pub id: String,
    /// Version of this export (e.g. `"2025-06-01.3"`); clients compare it for updates.
    pub version: String,
}

/// Where the item table lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsRef {
    /// The binary file holding the item table (one of [`Manifest::files`]).
    pub file: String,
    /// Number of items; every per-item tensor has this many rows.
    pub count: u64,
}

/// One binary file of the bundle, with its integrity data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name relative to the manifest (`[A-Za-z0-9._-]+`, no leading dot).
    pub name: String,
    /// Exact length in bytes (a multiple of 4).
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// One tensor: where its bytes are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorEntry {
    /// Unique name (reserved names: [`ITEM_EMBEDDINGS`], [`NEIGHBOR_IDS`], …).
    pub name: String,
    /// The file holding it.
    pub file: String,
    /// Byte offset in the file (a multiple of 4).
    pub offset: u64,
    /// Byte length: `rows × words_per_row(cols) × 4`.
    pub bytes: u64,
    /// Element type.
    pub dtype: TensorDType,
    /// `[n]` (one row of n values) or `[rows, cols]`.
    pub shape: Vec<u64>,
    /// int8 only: which values share a scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<GranularityWire>,
    /// int8 only: the name of the f32/f16 scale tensor (`[rows]` per row, `[1]` per tensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scales: Option<String>,
}

impl TensorEntry {
    /// `(rows, cols)`: a rank-1 shape `[n]` is one row of `n` values.
    pub fn rows_cols(&self) -> (u64, u64) {
        match self.shape.as_slice() {
            [n] => (1, *n),
            [r, c] => (*r, *c),
            _ => (0, 0),
        }
    }
}

/// The manifest proper (the signed part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Bundle format version ([`FORMAT_VERSION`]).
    pub format_version: u64,
    /// Model identity.
    pub model: ModelInfo,
    /// Export time, RFC 3339 UTC (`"2025-06-01T12:00:00Z"`).
    pub created_at: String,
    /// Dimension of item (and query) embeddings.
    pub embedding_dim: u64,
    /// Similarity used by recall.
    pub similarity: Similarity,
    /// Softmax temperature the model was trained with (scores are divided by it).
    pub temperature: f32,
    /// The item table.
    pub items: ItemsRef,
    /// The binary files, in the order a loader should fetch them.
    pub files: Vec<FileEntry>,
    /// The tensors.
    pub tensors: Vec<TensorEntry>,
}

/// The signature block of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always `"ed25519"` in format version 1.
    pub algorithm: String,
    /// Hex of the 32-byte public key that signed (informational; trust comes from the key the
    /// application configures, never from this field).
    pub public_key: String,
    /// Hex of the 64-byte signature over the raw bytes of the `manifest` value.
    pub value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    manifest: &'a RawValue,
    #[serde(default)]
    signature: Option<SignatureBlock>,
}

/// Only `format_version`, read as raw JSON text: a `serde_json::Value` here would link its
/// decoder and two printers into the wasm module for one number.
#[derive(Deserialize)]
struct VersionProbe<'a> {
    #[serde(borrow)]
    format_version: Option<&'a RawValue>,
}

/// A manifest that parsed, whose signature verified (when a key was configured) and whose
/// structure is consistent. Tensor and item bytes are not checked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedManifest {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The signature block, when the bundle is signed.
    pub signature: Option<SignatureBlock>,
    /// Whether the signature was verified against a configured key.
    pub signature_verified: bool,
    /// Lower-case hex SHA-256 of the whole `manifest.json` file (a cache key for the bundle).
    pub manifest_sha256: String,
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::BundleCorrupt { file: MANIFEST_FILE.into(), reason: reason.into() }
}

/// A file name that is safe as a path component and as a relative URL.
fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses and checks `manifest.json` bytes. `public_key`, when given, must have signed the
/// manifest; without it a signature present in the file is reported but not trusted.
///
/// # Errors
/// [`Error::BundleCorrupt`] (unparsable JSON, inconsistent structure), [`Error::BadSignature`],
/// [`Error::UnsupportedVersion`], [`Error::BundleShapeMismatch`] (byte length vs. shape).
pub fn parse_manifest(bytes: &[u8], public_key: Option<&[u8; 32]>) -> Result<CheckedManifest> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("invalid envelope: {e}")))?;
    let raw = envelope.manifest.get().as_bytes();
    let signature_verified = match (public_key, &envelope.signature) {
        (Some(key), Some(sig)) => {
            integrity::verify_signature(key, raw, sig)?;
            true
        }
        (Some(_), None) => {
            return Err(Error::BadSignature {
                reason: "a public key is configured but the manifest is unsigned".into(),
            });
        }
        (None, Some(sig)) => {
            // Still reject a malformed block: a bundle should not carry garbage it cannot check.
            integrity::check_signature_shape(sig)?;
            false
        }
        (None, None) => false,
    };
    let probe: VersionProbe<'_> = serde_json::from_slice(raw)
        .map_err(|e| corrupt(format!("manifest is not a JSON object: {e}")))?;
    match probe.format_version {
        None => return Err(corrupt("missing format_version")),
        Some(v) => match v.get().parse::<u64>() {
            Ok(FORMAT_VERSION) => {}
            Ok(found) => {
                return Err(Error::UnsupportedVersion { found, supported: FORMAT_VERSION });
            }
            Err(_) => return Err(corrupt(format!("format_version {v} is not an integer"))),
        },
    }
    let manifest: Manifest =
        serde_json::from_slice(raw).map_err(|e| corrupt(format!("invalid manifest: {e}")))?;
    check_structure(&manifest)?;
    Ok(CheckedManifest {
        manifest,
        signature: envelope.signature,
        signature_verified,
        manifest_sha256: integrity::sha256_hex(bytes),
    })
}

/// The scheme of a float tensor, resolved with its scale tensor's dtype.
pub(crate) fn scheme_of(m: &Manifest, t: &TensorEntry) -> Option<QuantScheme> {
    let dtype = t.dtype.float()?;
    Some(match dtype {
        DType::F32 => QuantScheme::F32,
        DType::F16 => QuantScheme::F16,
        DType::I8 => {
            let scale_tensor =
                t.scales.as_ref().and_then(|s| m.tensors.iter().find(|x| &x.name == s));
            QuantScheme {
                dtype,
                granularity: t.granularity.map_or(Granularity::PerRow, Granularity::from),
                scale: match scale_tensor.map(|x| x.dtype) {
                    Some(TensorDType::F16) => ScaleDType::F16,
                    _ => ScaleDType::F32,
                },
            }
        }
    })
}

/// Every check that needs only the manifest. The loader relies on these holding.
fn check_structure(m: &Manifest) -> Result<()> {
    if m.model.id.is_empty() || m.model.version.is_empty() {
        return Err(corrupt("model.id and model.version must be non-empty"));
    }
    if m.embedding_dim == 0 || m.embedding_dim > u64::from(u32::MAX) {
        return Err(corrupt(format!("embedding_dim {} out of range", m.embedding_dim)));
    }
    if !(m.temperature.is_finite() && m.temperature > 0.0) {
        return Err(corrupt(format!("temperature {} must be finite and > 0", m.temperature)));
    }
    if m.items.count == 0 || m.items.count > u64::from(u32::MAX - 1) {
        return Err(corrupt(format!("items.count {} out of range", m.items.count)));
    }
    for (i, f) in m.files.iter().enumerate() {
        if !valid_file_name(&f.name) || f.name == MANIFEST_FILE {
            return Err(corrupt(format!("file name {:?} is not allowed", f.name)));
        }
        if m.files[..i].iter().any(|g| g.name == f.name) {
            return Err(corrupt(format!("file {:?} listed twice", f.name)));
        }
        if !f.bytes.is_multiple_of(4) {
            return Err(corrupt(format!(
                "file {}: length {} is not a multiple of 4",
                f.name, f.bytes
            )));
        }
        if integrity::decode_hex::<32>(&f.sha256).is_none()
            || f.sha256.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(corrupt(format!(
                "file {}: sha256 must be 64 lower-case hex digits",
                f.name
            )));
        }
    }
    if !m.files.iter().any(|f| f.name == m.items.file) {
        return Err(corrupt(format!("items file {:?} is not in files", m.items.file)));
    }
    for (i, t) in m.tensors.iter().enumerate() {
        check_tensor(m, t)?;
        if m.tensors[..i].iter().any(|u| u.name == t.name) {
            return Err(corrupt(format!("tensor {:?} listed twice", t.name)));
        }
    }
    check_overlaps(m)?;
    check_roles(m)
}

fn shape_err(t: &TensorEntry, reason: impl Into<String>) -> Error {
    Error::BundleShapeMismatch {
        file: t.file.clone(),
        tensor: t.name.clone(),
        reason: reason.into(),
    }
}

fn check_tensor(m: &Manifest, t: &TensorEntry) -> Result<()> {
    if t.name.is_empty() || t.name.len() > 256 {
        return Err(corrupt("tensor names must be 1..=256 bytes"));
    }
    let Some(file) = m.files.iter().find(|f| f.name == t.file) else {
        return Err(corrupt(format!("tensor {}: file {:?} is not in files", t.name, t.file)));
    };
    if t.file == m.items.file {
        return Err(corrupt(format!("tensor {} points into the item table file", t.name)));
    }
    if !t.offset.is_multiple_of(4) {
        return Err(corrupt(format!(
            "tensor {}: offset {} is not a multiple of 4",
            t.name, t.offset
        )));
    }
    match t.offset.checked_add(t.bytes) {
        Some(end) if end <= file.bytes => {}
        _ => {
            return Err(corrupt(format!(
                "tensor {}: bytes {}..{}+{} out of range of {} ({} bytes)",
                t.name, t.offset, t.offset, t.bytes, t.file, file.bytes
            )));
        }
    }
    if !(1..=2).contains(&t.shape.len()) || t.shape.contains(&0) {
        return Err(shape_err(
            t,
            format!("shape {:?} must be [n] or [rows, cols], non-zero", t.shape),
        ));
    }
    let (rows, cols) = t.rows_cols();
    let expected = rows
        .checked_mul(t.dtype.words_per_row(cols))
        .and_then(|w| w.checked_mul(4))
        .ok_or_else(|| shape_err(t, format!("shape {:?} overflows", t.shape)))?;
    if expected != t.bytes {
        return Err(shape_err(
            t,
            format!(
                "shape {:?} as {:?} needs {expected} bytes, the manifest says {}",
                t.shape, t.dtype, t.bytes
            ),
        ));
    }
    // Everything indexes with usize/u32 downstream: keep sizes where that is lossless.
    if rows > u64::from(u32::MAX) || cols > u64::from(u32::MAX) {
        return Err(shape_err(t, "more than 2^32 - 1 rows or columns"));
    }
    match (t.dtype, t.granularity, &t.scales) {
        (TensorDType::I8, Some(g), Some(scales)) => {
            let Some(s) = m.tensors.iter().find(|x| &x.name == scales) else {
                return Err(corrupt(format!("tensor {}: scale tensor {scales:?} missing", t.name)));
            };
            if !matches!(s.dtype, TensorDType::F32 | TensorDType::F16) || s.scales.is_some() {
                return Err(corrupt(format!(
                    "tensor {}: scale tensor {scales:?} must be plain f32 or f16",
                    t.name
                )));
            }
            let want = match g {
                GranularityWire::PerRow => rows,
                GranularityWire::PerTensor => 1,
            };
            if s.shape != [want] {
                return Err(shape_err(
                    t,
                    format!("{g:?} scales need shape [{want}], {scales} has {:?}", s.shape),
                ));
            }
            Ok(())
        }
        (TensorDType::I8, _, _) => {
            Err(corrupt(format!("tensor {}: int8 needs granularity and scales", t.name)))
        }
        (_, None, None) => Ok(()),
        _ => Err(corrupt(format!("tensor {}: granularity/scales are for int8 only", t.name))),
    }
}

/// Tensors must not overlap: a byte belongs to one tensor, so a view can never alias another.
fn check_overlaps(m: &Manifest) -> Result<()> {
    let mut spans: Vec<(&str, u64, u64, &str)> = m
        .tensors
        .iter()
        .map(|t| (t.file.as_str(), t.offset, t.offset + t.bytes, t.name.as_str()))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[0].0 == w[1].0 && w[1].1 < w[0].2 {
            return Err(corrupt(format!(
                "tensors {} and {} overlap in {}",
                w[0].3, w[1].3, w[0].0
            )));
        }
    }
    Ok(())
}

/// Reserved tensors must have the shapes the stages expect.
fn check_roles(m: &Manifest) -> Result<()> {
    let find = |name: &str| m.tensors.iter().find(|t| t.name == name);
    let n = m.items.count;
    let Some(emb) = find(ITEM_EMBEDDINGS) else {
        return Err(corrupt(format!("required tensor {ITEM_EMBEDDINGS} missing")));
    };
    if emb.dtype == TensorDType::U32 || emb.shape != [n, m.embedding_dim] {
        return Err(shape_err(
            emb,
            format!(
                "must be float [{n}, {}] (items × embedding_dim), is {:?} {:?}",
                m.embedding_dim, emb.dtype, emb.shape
            ),
        ));
    }
    match (find(NEIGHBOR_IDS), find(NEIGHBOR_SCORES)) {
        (None, None) => {}
        (Some(ids), Some(scores)) => {
            if ids.dtype != TensorDType::U32 || ids.shape.len() != 2 || ids.shape[0] != n {
                return Err(shape_err(
                    ids,
                    format!("must be u32 [{n}, K], is {:?} {:?}", ids.dtype, ids.shape),
                ));
            }
            if scores.dtype == TensorDType::U32 || scores.shape != ids.shape {
                return Err(shape_err(
                    scores,
                    format!("must be float {:?} like {NEIGHBOR_IDS}", ids.shape),
                ));
            }
        }
        (Some(t), None) | (None, Some(t)) => {
            return Err(corrupt(format!(
                "{} needs both {NEIGHBOR_IDS} and {NEIGHBOR_SCORES}",
                t.name
            )));
        }
    }
    for name in [POPULARITY, FRESHNESS] {
        if let Some(t) = find(name)
            && (t.dtype == TensorDType::U32 || t.shape != [n])
        {
            return Err(shape_err(
                t,
                format!("must be float [{n}], is {:?} {:?}", t.dtype, t.shape),
            ));
        }
    }
    Ok(())
}
