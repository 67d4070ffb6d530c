//! `BundleLoader` and `Bundle` for JavaScript: the JS side fetches `manifest.json`, then streams
//! each listed file's response body into `push` (reading `response.body` chunk by chunk), and
//! the engine's loader hashes as bytes arrive and reports progress through a JS callback.

use crate::bundle::integrity::decode_hex;
use crate::bundle::{Bundle, BundleLoader, LoadOptions, Progress};
use crate::error::Error;
use wasm_bindgen::prelude::*;

fn consumed() -> JsValue {
    Error::InvalidArgument { name: "loader", reason: "finish() was already called".into() }.into()
}

/// Streaming bundle loader. `new BundleLoader(manifestBytes, publicKeyHex?)` checks the
/// manifest (and its signature when a key is given); then `push(file, chunk)` for every chunk
/// of every file in `fileNames`, and `finish()` validates everything and returns a `Bundle`.
#[wasm_bindgen(js_name = BundleLoader)]
pub struct WasmBundleLoader {
    inner: Option<BundleLoader>,
}

#[wasm_bindgen(js_class = BundleLoader)]
impl WasmBundleLoader {
    /// Parses `manifest.json`; `public_key_hex` (64 hex digits) requires a valid signature.
    #[wasm_bindgen(constructor)]
    pub fn new(
        manifest_json: &[u8],
        public_key_hex: Option<String>,
    ) -> Result<WasmBundleLoader, JsValue> {
        let public_key = match public_key_hex {
            Some(hex) => {
                Some(decode_hex::<32>(hex.trim()).ok_or_else(|| Error::InvalidArgument {
                    name: "publicKey",
                    reason: "expected 64 hex digits (a 32-byte Ed25519 public key)".into(),
                })?)
            }
            None => None,
        };
        let inner = BundleLoader::new(manifest_json, &LoadOptions { public_key })?;
        Ok(Self { inner: Some(inner) })
    }

    /// The files to fetch, relative to the manifest URL, in order.
    #[wasm_bindgen(getter, js_name = fileNames)]
    pub fn file_names(&self) -> Vec<String> {
        self.inner.iter().flat_map(|l| l.files().iter().map(|f| f.name.clone())).collect()
    }

    /// Declared byte size of each file in `fileNames`.
    #[wasm_bindgen(getter, js_name = fileSizes)]
    pub fn file_sizes(&self) -> Vec<f64> {
        self.inner.iter().flat_map(|l| l.files().iter().map(|f| f.bytes as f64)).collect()
    }

    /// Bytes of all files together (the progress denominator).
    #[wasm_bindgen(getter, js_name = totalBytes)]
    pub fn total_bytes(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |l| l.total_bytes() as f64)
    }

    /// Bytes pushed so far.
    #[wasm_bindgen(getter, js_name = loadedBytes)]
    pub fn loaded_bytes(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |l| l.loaded_bytes() as f64)
    }

    /// Calls `callback(loaded, total, file)` after every chunk. An exception thrown by the
    /// callback is ignored: progress reporting must not abort a load.
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(&mut self, callback: js_sys::Function) {
        if let Some(l) = self.inner.as_mut() {
            l.on_progress(Box::new(move |p: Progress<'_>| {
                let _ = callback.call3(
                    &JsValue::NULL,
                    &JsValue::from_f64(p.loaded as f64),
                    &JsValue::from_f64(p.total as f64),
                    &JsValue::from_str(p.file),
                );
            }));
        }
    }

    /// Appends a chunk of `file` (chunks of one file in order).
    pub fn push(&mut self, file: &str, chunk: &[u8]) -> Result<(), JsValue> {
        Ok(self.inner.as_mut().ok_or_else(consumed)?.push(file, chunk)?)
    }

    /// Validates everything and returns the bundle. The loader cannot be used afterwards.
    pub fn finish(&mut self) -> Result<WasmBundle, JsValue> {
        let loader = self.inner.take().ok_or_else(consumed)?;
        Ok(WasmBundle { inner: loader.finish()? })
    }
}

/// A loaded, validated bundle.
#[wasm_bindgen(js_name = Bundle)]
pub struct WasmBundle {
    inner: Bundle,
}

impl WasmBundle {
    /// The engine bundle (for the other bindings).
    pub fn inner(&self) -> &Bundle {
        &self.inner
    }
}

#[wasm_bindgen(js_class = Bundle)]
impl WasmBundle {
    /// Model id.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.manifest().model.id.clone()
    }

    /// Model version.
    #[wasm_bindgen(getter, js_name = modelVersion)]
    pub fn model_version(&self) -> String {
        self.inner.manifest().model.version.clone()
    }

    /// Number of items.
    #[wasm_bindgen(getter, js_name = itemCount)]
    pub fn item_count(&self) -> usize {
        self.inner.items().len()
    }

    /// Embedding dimension.
    #[wasm_bindgen(getter, js_name = embeddingDim)]
    pub fn embedding_dim(&self) -> usize {
        self.inner.item_embeddings().cols()
    }

    /// Whether the signature was verified against the configured key.
    #[wasm_bindgen(getter, js_name = signatureVerified)]
    pub fn signature_verified(&self) -> bool {
        self.inner.signature_verified()
    }

    /// Hex SHA-256 of `manifest.json` (a cache key for this exact bundle).
    #[wasm_bindgen(getter, js_name = manifestSha256)]
    pub fn manifest_sha256(&self) -> String {
        self.inner.manifest_sha256().to_string()
    }

    /// The row of item `id`, or `undefined`.
    #[wasm_bindgen(js_name = rowOf)]
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.inner.items().row_of(id)
    }

    /// The id of the item at `row`, or `undefined`.
    #[wasm_bindgen(js_name = itemId)]
    pub fn item_id(&self, row: usize) -> Option<String> {
        self.inner.items().get(row).map(|i| i.id().to_string())
    }

    /// The title of the item at `row`, or `undefined`.
    #[wasm_bindgen(js_name = itemTitle)]
    pub fn item_title(&self, row: usize) -> Option<String> {
        self.inner.items().get(row).map(|i| i.title().to_string())
    }

    /// The categories / tags of the item at `row` (empty for an unknown row).
    #[wasm_bindgen(js_name = itemTags)]
    pub fn item_tags(&self, row: usize) -> Vec<String> {
        self.inner
            .items()
            .get(row)
            .map(|i| i.tags().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The item index dequantized to f32, row-major (`itemCount × embeddingDim`).
    #[wasm_bindgen(js_name = itemEmbeddings)]
    pub fn item_embeddings(&self) -> Vec<f32> {
        self.inner.item_embeddings().dequantize()
    }

    /// The item index's packed words as stored (int8 four per word, f16 two, f32 one).
    #[wasm_bindgen(js_name = itemEmbeddingWords)]
    pub fn item_embedding_words(&self) -> Vec<u32> {
        self.inner.item_embeddings().words().to_vec()
    }
}
