//! Typed errors of `edgerec train` and `edgerec eval` (native only, so local to the server).

use std::path::PathBuf;

/// What can go wrong while reading data, training, exporting or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The CSV header lacks a required column (after mapping and auto-detection).
    #[error(
        "{file}: no {role} column (looked for {looked_for}; header is {header}); map it with {flag}"
    )]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// What the column holds (`user`, `item`, …).
        role: &'static str,
        /// The names tried.
        looked_for: String,
        /// The header found.
        header: String,
        /// The flag that maps it.
        flag: &'static str,
    },
    /// The CSV could not be parsed at all (bad header, invalid UTF-8 in the header, …).
    #[error("{file}: {reason}")]
    Csv {
        /// The file.
        file: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Not enough usable data to do what was asked (counts of what was skipped included).
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A command-line value is out of range.
    #[error("invalid --{name}: {reason}")]
    InvalidArgument {
        /// The flag.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The streaming frequency estimator's settings are out of range (`--freq-*`).
    #[error("invalid --freq-* setting: {0}")]
    Frequency(#[from] super::frequency::FrequencyError),
    /// The autodiff library failed (shape bug or numerical problem).
    #[error("training failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Training diverged (NaN or infinite loss).
    #[error("training diverged at epoch {epoch}: loss {loss}")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// The loss seen.
        loss: f32,
    },
    /// The SDK rejected something (bundle build or load, scoring).
    #[error("{0}")]
    Sdk(#[from] edgerec::Error),
    /// The bundle lacks a tensor `eval` needs.
    #[error("bundle {dir}: {reason}")]
    Bundle {
        /// The bundle directory.
        dir: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, TrainError>;
