//! The engine's [`Storage`] trait over a JavaScript object with `get`, `put` and `delete`
//! methods returning promises (`KeyValueStore` in `pkg/src/storage.ts`: IndexedDB or memory).
//! Errors thrown by the store keep their `STORAGE_*` code; anything else is reported as
//! [`Error::StorageUnavailable`].

use crate::error::{Error, Result};
use crate::user::Storage;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A JS `KeyValueStore`.
pub struct JsStorage {
    store: JsValue,
}

impl JsStorage {
    /// Wraps `store`; checks that it has the three methods.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a method is missing.
    pub fn new(store: JsValue) -> Result<Self> {
        for name in ["get", "put", "delete"] {
            let method = js_sys::Reflect::get(&store, &name.into()).unwrap_or(JsValue::UNDEFINED);
            if !method.is_function() {
                return Err(Error::InvalidArgument {
                    name: "store",
                    reason: format!("a KeyValueStore needs a {name}() method"),
                });
            }
        }
        Ok(Self { store })
    }

    async fn call(&self, name: &str, key: &str, value: Option<&[u8]>) -> Result<JsValue> {
        let method: js_sys::Function = js_sys::Reflect::get(&self.store, &name.into())
            .ok()
            .and_then(|m| m.dyn_into().ok())
            .ok_or_else(|| Error::StorageUnavailable { reason: format!("no {name}() method") })?;
        let size = value.map_or(0, <[u8]>::len);
        let returned = match value {
            Some(bytes) => {
                method.call2(&self.store, &key.into(), &js_sys::Uint8Array::from(bytes).into())
            }
            None => method.call1(&self.store, &key.into()),
        };
        let promise = returned.map_err(|e| storage_error(&e, key, size))?;
        JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .map_err(|e| storage_error(&e, key, size))
    }
}

/// Maps a thrown JS value to a typed error, keeping a `STORAGE_*` code the store set.
fn storage_error(e: &JsValue, key: &str, bytes: usize) -> Error {
    let code = js_sys::Reflect::get(e, &"code".into()).ok().and_then(|c| c.as_string());
    let name = js_sys::Reflect::get(e, &"name".into()).ok().and_then(|c| c.as_string());
    let message = js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the store threw a non-Error value".into());
    if code.as_deref() == Some("STORAGE_QUOTA_EXCEEDED")
        || name.as_deref() == Some("QuotaExceededError")
    {
        Error::StorageQuotaExceeded { key: key.to_string(), bytes }
    } else {
        Error::StorageUnavailable { reason: message }
    }
}

impl Storage for JsStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self.call("get", key, None).await?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        if let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() {
            return Ok(Some(bytes.to_vec()));
        }
        if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
            return Ok(Some(js_sys::Uint8Array::new(buffer).to_vec()));
        }
        Err(Error::StorageCorrupt {
            key: key.to_string(),
            reason: "the store returned something other than bytes".into(),
        })
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.call("put", key, Some(value)).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.call("delete", key, None).await.map(drop)
    }

    /// The store's `putAll([[key, bytes], …])` (one IndexedDB transaction) when it has one;
    /// a custom store without it gets the entries one `put` at a time.
    async fn put_all(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let method = js_sys::Reflect::get(&self.store, &"putAll".into())
            .ok()
            .and_then(|m| m.dyn_into::<js_sys::Function>().ok());
        let Some(method) = method else {
            for (key, value) in entries {
                self.put(key, value).await?;
            }
            return Ok(());
        };
        let first = entries.first().map_or("", |(k, _)| *k);
        let size: usize = entries.iter().map(|(_, v)| v.len()).sum();
        let list: js_sys::Array = entries
            .iter()
            .map(|(key, value)| {
                let pair: js_sys::Array =
                    [JsValue::from_str(key), js_sys::Uint8Array::from(*value).into()]
                        .iter()
                        .collect();
                JsValue::from(pair)
            })
            .collect();
        let returned =
            method.call1(&self.store, &list).map_err(|e| storage_error(&e, first, size))?;
        JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map(drop)
            .map_err(|e| storage_error(&e, first, size))
    }
}
