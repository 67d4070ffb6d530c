//! The model bundle: the contract between server-side training and the browser.
//!
//! A bundle is a directory (or a URL prefix) holding `manifest.json` and a few immutable binary
//! files: `tensors.bin` (every tensor, 64-byte aligned, the item index first so one byte range
//! fetches it) and `items.bin` (the item table). The format is specified in `models/README.md`.
//!
//! - [`quant`]: the quantization value type and the one quantize / dequantize definition.
//! - [`manifest`]: the manifest types and their structural checks.
//! - [`loader`]: [`BundleLoader`] (streaming, with progress) and the immutable [`Bundle`].
//! - [`view`]: zero-copy [`TensorView`]s.
//! - [`items`]: the compact [`ItemTable`] with O(1) id → row.
//! - [`integrity`]: SHA-256 and Ed25519.
//! - [`ivf`]: the optional IVF coarse index's tensors and their load-time checks.
//! - `builder` (native only): safetensors + items → bundle, with a quantization report.
//!
//! ```
//! # fn main() -> edgerec::Result<()> {
//! use edgerec::bundle::{Bundle, LoadOptions};
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixture");
//! let bundle = Bundle::open(&dir, &LoadOptions::default())?;
//! let index = bundle.item_embeddings();
//! let row = bundle.items().row_of("item-007").expect("fixture item");
//! let mut v = vec![0.0; index.cols()];
//! index.dequantize_row(row, &mut v);
//! assert_eq!(v.len(), bundle.manifest().embedding_dim as usize);
//! # Ok(())
//! # }
//! ```

pub mod integrity;
pub mod items;
pub mod ivf;
pub mod loader;
pub mod manifest;
pub mod quant;
pub mod view;

#[cfg(not(target_arch = "wasm32"))]
pub mod builder;

pub use items::{ItemRef, ItemTable};
pub use ivf::{IVF_CENTROIDS, IVF_LIST_OFFSETS, IVF_LIST_ROWS, IvfTensors};
pub use loader::{Bundle, BundleLoader, LoadOptions, Neighbors, Progress, ProgressCallback};
pub use manifest::{
    CheckedManifest, FORMAT_VERSION, Manifest, Similarity, TensorDType, TensorEntry, parse_manifest,
};
pub use quant::{
    DType, Granularity, QuantScheme, QuantizedMatrix, ScaleDType, parse_scheme, scheme_name,
};
pub use view::TensorView;

/// Parser entry points for fuzzing: each takes arbitrary bytes and must never panic.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Parses a manifest with and without a (fixed) public key.
    pub fn manifest(bytes: &[u8]) {
        let _ = parse_manifest(bytes, None);
        let _ = parse_manifest(bytes, Some(&[7u8; 32]));
    }

    /// Parses an item table.
    pub fn items(bytes: &[u8]) {
        if let Ok(t) = ItemTable::parse("items.bin", bytes) {
            for item in t.iter() {
                let _ = t.row_of(item.id());
                let _ = (item.tags().count(), item.attributes().count(), item.title());
            }
        }
    }

    /// Loads `files` (whose hashes need not match: the manifest's are rewritten first, so the
    /// tensor and item parsers behind the hash check are reached) under `manifest_json`.
    pub fn bundle(manifest_json: &[u8], files: &[(&str, &[u8])]) {
        let Ok(text) = std::str::from_utf8(manifest_json) else { return };
        let mut text = text.to_string();
        for (name, bytes) in files {
            if let Ok(c) = parse_manifest(text.as_bytes(), None)
                && let Some(f) = c.manifest.files.iter().find(|f| f.name == *name)
            {
                text = text.replace(&f.sha256, &integrity::sha256_hex(bytes));
                text = text.replace(
                    &format!("\"bytes\": {}", f.bytes),
                    &format!("\"bytes\": {}", bytes.len()),
                );
            }
        }
        if let Ok(b) = Bundle::from_bytes(text.as_bytes(), files, &LoadOptions::default()) {
            for t in b.tensors() {
                let _ = t.dequantize();
            }
        }
    }
}
