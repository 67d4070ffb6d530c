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
    }
}
