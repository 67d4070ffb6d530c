//! The model bundle: the contract between server-side training and the browser.
//!
//! Today: the quantization value type shared by the builder, the loader and the kernels.

pub mod quant;

pub use quant::{DType, Granularity, QuantScheme, QuantizedMatrix, ScaleDType};
