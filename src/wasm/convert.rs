//! Rust values ⇄ JS values through serde: objects cross the boundary as plain JS objects and
//! arrays, never as JSON strings for the caller to build or parse.
//!
//! Results are converted by `serde-wasm-bindgen` in its JSON-compatible mode (`None` → `null`,
//! maps → plain objects), so the TypeScript types describe them exactly. Inputs go through the
//! engine's own (strict) serde derive: `serde-wasm-bindgen` reads a struct by looking up its
//! known fields and so silently ignores unknown ones (`deny_unknown_fields` has no effect), and
//! a misspelt option such as `ranker_wieght` must be an error, not a no-op. So an input object
//! is serialised by the JS engine's native `JSON.stringify` and decoded with `serde_json`;
//! either way a bad input is a typed `INVALID_ARGUMENT` naming the argument.

use crate::error::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

/// `value` as a JS value (objects, arrays, numbers, strings, `null`).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| {
        Error::InvalidArgument { name: "result", reason: format!("could not convert: {e}") }.into()
    })
}

/// The JS value `value` (argument `name`) as a `T`; `undefined`/`null` give `T::default()`.
#[cfg(feature = "js-engine")]
pub(crate) fn from_js_or_default<T: DeserializeOwned + Default>(
    name: &'static str,
    value: JsValue,
) -> Result<T, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    from_js(name, value)
}

/// The JS value `value` (argument `name`) as a `T`; unknown fields are errors where `T` denies
/// them.
pub(crate) fn from_js<T: DeserializeOwned>(name: &'static str, value: JsValue) -> Result<T, Error> {
    let bad = |reason: String| Error::InvalidArgument { name, reason };
    let text =
        js_sys::JSON::stringify(&value).ok().and_then(|s| s.as_string()).ok_or_else(|| {
            bad("not a JSON-compatible value (a cycle, a BigInt or undefined)".into())
        })?;
    // `from_slice`, as every other decode in the engine: one instantiation of the JSON parser.
    serde_json::from_slice(text.as_bytes()).map_err(|e| bad(e.to_string()))
}
