//! Typed errors → JS `Error` objects with `name = "EdgerecError"` and a stable `code`.

use crate::error::Error;
use wasm_bindgen::JsValue;

impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        let js = js_sys::Error::new(&error.to_string());
        js.set_name("EdgerecError");
        // Reflect::set only fails on frozen objects; a fresh Error is not frozen.
        let _ = js_sys::Reflect::set(&js, &"code".into(), &error.code().into());
        js.into()
    }
}
