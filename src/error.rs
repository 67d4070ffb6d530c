//! The one error type of the SDK.
//!
//! Every fallible public function returns [`Result`]. Variants are structured (they carry the
//! values a caller needs to react) and each has a stable string [`Error::code`] that the
//! JavaScript bindings expose as `error.code`, so applications can branch on it without parsing
//! messages.

use std::fmt;

/// Shorthand for `Result<T, edgerec::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Which compute backend an error or report refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The WebAssembly / native CPU path.
    Cpu,
    /// WebGPU in the browser, or Vulkan through wgpu natively.
    WebGpu,
}

impl BackendKind {
    /// The lower-case name used in configuration and in JavaScript (`"cpu"`, `"webgpu"`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::WebGpu => "webgpu",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in edgerec, with the values needed to explain it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length does not match the dimension of the index or model it is used with.
    /// Shapes are never padded or truncated silently.
    #[error("dimension mismatch: expected {expected}, received {received}")]
    DimensionMismatch {
        /// The dimension the index or model was built with.
        expected: usize,
        /// The length the caller passed.
        received: usize,
    },

    /// `k` is outside `1..=max` (the number of rows, capped at the kernel's limit).
    #[error("invalid k = {k}: must be between 1 and {max}")]
    InvalidK {
        /// The requested number of results.
        k: usize,
        /// The largest `k` allowed for this index (`min(rows, MAX_K)`).
        max: usize,
    },

    /// The item index has no rows (or a zero dimension).
    #[error("the item index is empty")]
    EmptyIndex,

    /// A flat matrix buffer's length is not `rows × dim`.
    #[error("{what}: {len} values is not a whole number of rows of dimension {dim}")]
    ShapeMismatch {
        /// Which input was malformed.
        what: &'static str,
        /// The number of values received.
        len: usize,
        /// The row length it should be a multiple of.
        dim: usize,
    },

    /// A NaN or infinite value where only finite numbers are meaningful.
    #[error("{what} contains a non-finite value (NaN or infinity) at position {position}")]
    NonFinite {
        /// Which input contained it (`"query"`, `"item matrix"`, …).
        what: &'static str,
        /// Flat index of the first offending value.
        position: usize,
    },

    /// A configuration value could not be understood.
    #[error("invalid value for {name}: {reason}")]
    InvalidArgument {
        /// The option or argument name.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// The requested backend cannot be used here (no WebGPU, no adapter, device request refused).
    #[error("{backend} backend unavailable: {reason}")]
    BackendUnavailable {
        /// The backend that was asked for.
        backend: BackendKind,
        /// Why it is unavailable, in words a developer can act on.
        reason: String,
    },

    /// A buffer would exceed what the GPU device allows.
    #[error("{what} needs {bytes} bytes, more than the device limit of {limit} bytes")]
    BufferTooLarge {
        /// Which buffer.
        what: &'static str,
        /// Bytes required.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },

    /// The GPU device was lost (driver reset, tab backgrounded, out of memory).
    #[error("GPU device lost: {reason}")]
    DeviceLost {
        /// The reason the platform gave.
        reason: String,
    },

    /// The GPU reported an error while running a kernel (validation, out of memory, readback).
    #[error("GPU error during {stage}: {reason}")]
    Gpu {
        /// What edgerec was doing.
        stage: &'static str,
        /// The platform's message.
        reason: String,
    },

    /// A bundle file is malformed: unparsable manifest, offsets out of range, bad item table, ….
    #[error("bundle file {file} is corrupt: {reason}")]
    BundleCorrupt {
        /// The bundle file (`manifest.json`, `tensors.bin`, …).
        file: String,
        /// What is wrong, in words that point at the offending field or byte range.
        reason: String,
    },

    /// A bundle file has fewer (or more) bytes than the manifest declares.
    #[error("bundle file {file} is truncated: expected {expected} bytes, received {received}")]
    BundleTruncated {
        /// The bundle file.
        file: String,
        /// Bytes the manifest declares.
        expected: u64,
        /// Bytes actually received.
        received: u64,
    },

    /// A bundle file's SHA-256 differs from the one in the manifest.
    #[error("bundle file {file} does not match its SHA-256 in the manifest")]
    HashMismatch {
        /// The bundle file.
        file: String,
    },

    /// The manifest's Ed25519 signature is missing, malformed, or does not verify with the
    /// configured public key.
    #[error("bundle signature rejected: {reason}")]
    BadSignature {
        /// Why it was rejected.
        reason: String,
    },

    /// The bundle's format version is not one this SDK reads.
    #[error("unsupported bundle format version {found} (this SDK reads version {supported})")]
    UnsupportedVersion {
        /// The version the manifest declares.
        found: u64,
        /// The version this SDK supports.
        supported: u64,
    },

    /// A bundle tensor's shape disagrees with its byte length, its scales, or the item table.
    #[error("tensor {tensor} in {file}: shape mismatch: {reason}")]
    BundleShapeMismatch {
        /// The bundle file holding the tensor.
        file: String,
        /// The tensor name.
        tensor: String,
        /// What disagrees with what.
        reason: String,
    },

    /// Two items share an id; ids must be unique for id → row lookups.
    #[error("duplicate item id {id:?} in {file}")]
    DuplicateId {
        /// The file holding the item table (or the builder's items input).
        file: String,
        /// The repeated id.
        id: String,
    },

    /// A float tensor of a bundle holds NaN or infinity.
    #[error("tensor {tensor} in {file} contains a non-finite value at position {position}")]
    BundleNonFinite {
        /// The bundle file holding the tensor.
        file: String,
        /// The tensor name.
        tensor: String,
        /// Flat index (row-major, unpadded) of the first offending value.
        position: usize,
    },

    /// Reading or writing a file failed (native only: the builder and `Bundle::open`).
    #[error("I/O error on {path}: {reason}")]
    Io {
        /// The path involved.
        path: String,
        /// The operating system's message.
        reason: String,
    },

    /// There are no candidates to re-rank.
    #[error("no candidates to re-rank")]
    NoCandidates,

    /// A per-candidate input (relevance, embeddings, an attribute column, …) does not have one
    /// entry per candidate.
    #[error("{what}: expected {expected} entries (one per candidate), received {received}")]
    LengthMismatch {
        /// Which input disagrees.
        what: &'static str,
        /// The number of candidates.
        expected: usize,
        /// The number of entries received.
        received: usize,
    },

    /// A DPP kernel matrix is not square.
    #[error("DPP kernel must be square, received {rows} × {cols}")]
    KernelNotSquare {
        /// Rows received.
        rows: usize,
        /// Columns received.
        cols: usize,
    },

    /// A DPP kernel matrix is not symmetric (beyond a relative tolerance of 1e-9 of its largest
    /// diagonal entry).
    #[error(
        "DPP kernel is not symmetric: L[{row}][{col}] = {value} but L[{col}][{row}] = {transposed}"
    )]
    KernelNotSymmetric {
        /// Row of the first offending entry (upper triangle).
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// `L[row][col]`.
        value: f64,
        /// `L[col][row]`.
        transposed: f64,
    },

    /// A DPP kernel matrix has a negative diagonal entry, so it cannot be positive semi-definite.
    #[error("DPP kernel is not positive semi-definite: diagonal entry {index} is {value}")]
    KernelNotPsd {
        /// The candidate whose diagonal entry is negative.
        index: usize,
        /// The entry.
        value: f64,
    },

    /// A re-rank rule is malformed (unknown attribute, zero window, item out of range, …).
    #[error("invalid re-rank rule #{rule}: {reason}")]
    InvalidRule {
        /// The rule's index in the rule list.
        rule: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The hard re-rank rules exclude every remaining candidate at some position (soft rules have
    /// already been relaxed).
    #[error(
        "hard re-rank rules {rules:?} exclude every remaining candidate at position {position}"
    )]
    RulesInfeasible {
        /// The output position that could not be filled.
        position: usize,
        /// Indices of the hard rules that excluded at least one remaining candidate there.
        rules: Vec<usize>,
    },

    /// A task probability is NaN or outside `[0, 1]` (ranker heads are sigmoids; anything else
    /// is a bug upstream, not a score to fuse).
    #[error("probability of task {task:?} for candidate {candidate} is {value}, not in [0, 1]")]
    InvalidProbability {
        /// The task (column) name.
        task: String,
        /// The candidate (row).
        candidate: usize,
        /// The value received.
        value: f32,
    },

    /// A rank configuration names a task the ranker does not have.
    #[error("unknown task {name:?} (the ranker's tasks are {known:?})")]
    UnknownTask {
        /// The name that was not found.
        name: String,
        /// The tasks that exist, in column order.
        known: Vec<String>,
    },

    /// A fusion or channel weight is NaN, infinite, or negative where that is not allowed.
    #[error("invalid weight {value} for {name:?}: {reason}")]
    InvalidWeight {
        /// The task or channel the weight belongs to.
        name: String,
        /// The weight received.
        value: f32,
        /// Why it was rejected.
        reason: String,
    },

    /// A candidate claims a recall channel that is not configured.
    #[error(
        "candidate {candidate} comes from channel {channel}, but only {channels} are configured"
    )]
    UnknownChannel {
        /// The candidate.
        candidate: usize,
        /// The channel index it carries.
        channel: usize,
        /// The number of configured channels.
        channels: usize,
    },

    /// Bandit statistics with more clicks than exposures.
    #[error("arm {arm} has {clicks} clicks but only {exposures} exposures")]
    InvalidArmStats {
        /// The arm (channel or candidate index).
        arm: usize,
        /// Clicks received.
        clicks: u32,
        /// Exposures received.
        exposures: u32,
    },

    /// An interaction or filter names an item id the loaded bundle does not have.
    #[error("unknown item id {id:?}: not in the loaded bundle")]
    UnknownItem {
        /// The id received.
        id: String,
    },

    /// An interaction that cannot be recorded (timestamp far in the future, bad dwell time, …).
    /// Nothing is changed when it is returned.
    #[error("invalid interaction with item {item:?}: {reason}")]
    InvalidInteraction {
        /// The item id of the interaction.
        item: String,
        /// Why it was rejected.
        reason: String,
    },

    /// Local storage cannot be used (IndexedDB missing or blocked, e.g. private browsing).
    /// The SDK keeps working in memory; state is not persisted until storage is available.
    #[error("storage unavailable: {reason}")]
    StorageUnavailable {
        /// What the platform reported.
        reason: String,
    },

    /// Local storage refused a write because its quota is exhausted. The previous stored value
    /// is left intact and the in-memory state is kept.
    #[error("storage quota exceeded writing {key:?} ({bytes} bytes)")]
    StorageQuotaExceeded {
        /// The key being written.
        key: String,
        /// The size of the rejected value.
        bytes: usize,
    },

    /// Stored state could not be read back (corrupt bytes, or a schema newer than this SDK).
    #[error("stored state {key:?} is unreadable: {reason}")]
    StorageCorrupt {
        /// The key read.
        key: String,
        /// Why it could not be decoded.
        reason: String,
    },

    /// A request got no response (offline, DNS, connection reset, CORS, timeout). Queued
    /// events are kept and retried after a backoff.
    #[error("network error: {reason}")]
    Network {
        /// What the platform reported.
        reason: String,
    },

    /// The server answered with an error status (5xx, 429, an unexpected 4xx). Queued events
    /// are kept (or, for a 400 naming one event, set aside) as the sync client documents.
    #[error("server answered HTTP {status}: {reason}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, or a description of the status.
        reason: String,
    },

    /// The server refused the credentials (HTTP 401 or 403). Queued events are kept; a new
    /// token is needed before they can be delivered.
    #[error("not authorized (HTTP {status}): {reason}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The start of the response body, or a description of the status.
        reason: String,
    },
}

impl Error {
    /// A stable, machine-readable identifier (`"DIMENSION_MISMATCH"`, …) for each variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "DIMENSION_MISMATCH",
            Error::InvalidK { .. } => "INVALID_K",
            Error::EmptyIndex => "EMPTY_INDEX",
            Error::ShapeMismatch { .. } => "SHAPE_MISMATCH",
            Error::NonFinite { .. } => "NON_FINITE",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::BackendUnavailable { .. } => "BACKEND_UNAVAILABLE",
            Error::BufferTooLarge { .. } => "BUFFER_TOO_LARGE",
            Error::DeviceLost { .. } => "DEVICE_LOST",
            Error::Gpu { .. } => "GPU_ERROR",
            Error::BundleCorrupt { .. } => "BUNDLE_CORRUPT",
            Error::BundleTruncated { .. } => "BUNDLE_TRUNCATED",
            Error::HashMismatch { .. } => "HASH_MISMATCH",
            Error::BadSignature { .. } => "BAD_SIGNATURE",
            Error::UnsupportedVersion { .. } => "UNSUPPORTED_VERSION",
            Error::BundleShapeMismatch { .. } => "BUNDLE_SHAPE_MISMATCH",
            Error::DuplicateId { .. } => "DUPLICATE_ID",
            Error::BundleNonFinite { .. } => "BUNDLE_NON_FINITE",
            Error::Io { .. } => "IO_ERROR",
            Error::NoCandidates => "NO_CANDIDATES",
            Error::LengthMismatch { .. } => "LENGTH_MISMATCH",
            Error::KernelNotSquare { .. } => "KERNEL_NOT_SQUARE",
            Error::KernelNotSymmetric { .. } => "KERNEL_NOT_SYMMETRIC",
            Error::KernelNotPsd { .. } => "KERNEL_NOT_PSD",
            Error::InvalidRule { .. } => "INVALID_RULE",
            Error::RulesInfeasible { .. } => "RULES_INFEASIBLE",
            Error::InvalidProbability { .. } => "INVALID_PROBABILITY",
            Error::UnknownTask { .. } => "UNKNOWN_TASK",
            Error::InvalidWeight { .. } => "INVALID_WEIGHT",
            Error::UnknownChannel { .. } => "UNKNOWN_CHANNEL",
            Error::InvalidArmStats { .. } => "INVALID_ARM_STATS",
            Error::UnknownItem { .. } => "UNKNOWN_ITEM",
            Error::InvalidInteraction { .. } => "INVALID_INTERACTION",
            Error::StorageUnavailable { .. } => "STORAGE_UNAVAILABLE",
            Error::StorageQuotaExceeded { .. } => "STORAGE_QUOTA_EXCEEDED",
            Error::StorageCorrupt { .. } => "STORAGE_CORRUPT",
            Error::Network { .. } => "NETWORK_ERROR",
            Error::HttpStatus { .. } => "HTTP_ERROR",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_upper_snake_case() {
        let all = [
            Error::DimensionMismatch { expected: 1, received: 2 },
            Error::InvalidK { k: 0, max: 1 },
            Error::EmptyIndex,
            Error::ShapeMismatch { what: "x", len: 3, dim: 2 },
            Error::NonFinite { what: "query", position: 0 },
            Error::InvalidArgument { name: "backend", reason: "x".into() },
            Error::BackendUnavailable { backend: BackendKind::WebGpu, reason: "x".into() },
            Error::BufferTooLarge { what: "items", bytes: 2, limit: 1 },
            Error::DeviceLost { reason: "x".into() },
            Error::Gpu { stage: "x", reason: "y".into() },
            Error::BundleCorrupt { file: "f".into(), reason: "x".into() },
            Error::BundleTruncated { file: "f".into(), expected: 2, received: 1 },
            Error::HashMismatch { file: "f".into() },
            Error::BadSignature { reason: "x".into() },
            Error::UnsupportedVersion { found: 2, supported: 1 },
            Error::BundleShapeMismatch { file: "f".into(), tensor: "t".into(), reason: "x".into() },
            Error::DuplicateId { file: "f".into(), id: "a".into() },
            Error::BundleNonFinite { file: "f".into(), tensor: "t".into(), position: 0 },
            Error::Io { path: "p".into(), reason: "x".into() },
            Error::NoCandidates,
            Error::LengthMismatch { what: "relevance", expected: 2, received: 1 },
            Error::KernelNotSquare { rows: 2, cols: 3 },
            Error::KernelNotSymmetric { row: 0, col: 1, value: 1.0, transposed: 0.5 },
            Error::KernelNotPsd { index: 0, value: -1.0 },
            Error::InvalidRule { rule: 0, reason: "x".into() },
            Error::RulesInfeasible { position: 0, rules: vec![0] },
            Error::InvalidProbability { task: "click".into(), candidate: 0, value: f32::NAN },
            Error::UnknownTask { name: "x".into(), known: vec!["click".into()] },
            Error::InvalidWeight { name: "like".into(), value: -1.0, reason: "x".into() },
            Error::UnknownChannel { candidate: 0, channel: 3, channels: 2 },
            Error::InvalidArmStats { arm: 0, clicks: 2, exposures: 1 },
            Error::Network { reason: "offline".into() },
            Error::HttpStatus { status: 503, reason: "x".into() },
            Error::Unauthorized { status: 401, reason: "x".into() },
        ];
        let mut codes: Vec<_> = all.iter().map(Error::code).collect();
        assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn messages_carry_the_values() {
        let e = Error::DimensionMismatch { expected: 64, received: 768 };
        assert_eq!(e.to_string(), "dimension mismatch: expected 64, received 768");
        let e = Error::HttpStatus { status: 503, reason: "overloaded".into() };
        assert_eq!(e.to_string(), "server answered HTTP 503: overloaded");
        assert_eq!(Error::Unauthorized { status: 401, reason: "x".into() }.code(), "UNAUTHORIZED");
    }
}
