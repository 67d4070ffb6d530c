//! `Recommender` for JavaScript: the on-device funnel with its state persisted in a JS
//! `KeyValueStore` (IndexedDB in the browser, see `pkg/src/storage.ts`).
//!
//! Storage failures never lose a click: the interaction is applied in memory first, then saved;
//! a failed save is reported in the resolved value (`persisted: false` plus the error code) and
//! the next successful save writes everything.

use super::storage::JsStorage;
use crate::compute::{BackendChoice, BackendReport};
use crate::error::Error;
use crate::recommender::{RecommendOptions, Recommender, RecommenderConfig};
use crate::user::{Interaction, InteractionKind, MemoryStorage, Storage};
use futures_util::lock::Mutex;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Where state is kept: the caller's store, or memory when none was given.
enum Store {
    Js(JsStorage),
    Memory(MemoryStorage),
}

impl Store {
    async fn save(&self, rec: &Recommender) -> crate::Result<()> {
        match self {
            Store::Js(s) => rec.save_changes(s).await,
            Store::Memory(s) => rec.save_changes(s).await,
        }
    }

    async fn restore(&self, rec: &mut Recommender) -> crate::Result<String> {
        let report = match self {
            Store::Js(s) => rec.restore(s).await?,
            Store::Memory(s) => rec.restore(s).await?,
        };
        Ok(serde_json::to_string(&report).unwrap_or_default())
    }

    async fn forget(&self, rec: &mut Recommender) -> crate::Result<()> {
        match self {
            Store::Js(s) => rec.forget(s).await,
            Store::Memory(s) => rec.forget(s).await,
        }
    }

    async fn probe(&self) -> crate::Result<()> {
        match self {
            Store::Js(s) => s.get("edgerec/probe").await.map(drop),
            Store::Memory(_) => Ok(()),
        }
    }
}

struct Inner {
    rec: Recommender,
    store: Store,
}

/// The on-device recommender. Create with `Recommender.create(bundle, store?, configJson?,
/// backend?)`.
#[wasm_bindgen(js_name = Recommender)]
pub struct WasmRecommender {
    inner: Rc<Mutex<Inner>>,
    // The backend report as last seen; refreshed by the getters whenever no call holds the
    // recommender (an `auto` engine can switch to the GPU after its background trial).
    report: RefCell<BackendReport>,
    restore_report: String,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn json<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| Error::InvalidArgument {
        name: "result",
        reason: format!("could not encode: {e}"),
    })?;
    Ok(JsValue::from_str(&text))
}

fn parse_kind(kind: Option<String>, dwell_ms: Option<u32>) -> Result<InteractionKind, Error> {
    match kind.as_deref().unwrap_or("click") {
        "click" => Ok(InteractionKind::Click),
        "like" => Ok(InteractionKind::Like),
        "dwell" => Ok(InteractionKind::Dwell { ms: dwell_ms.unwrap_or(0) }),
        other => Err(Error::InvalidArgument {
            name: "kind",
            reason: format!("{other:?} is not click, like or dwell"),
        }),
    }
}

/// `{"persisted": true}` or `{"persisted": false, "code": …, "message": …}`.
fn save_outcome(result: crate::Result<()>) -> JsValue {
    let text = match result {
        Ok(()) => r#"{"persisted":true}"#.to_string(),
        Err(e) => {
            serde_json::json!({"persisted": false, "code": e.code(), "message": e.to_string()})
                .to_string()
        }
    };
    JsValue::from_str(&text)
}

#[wasm_bindgen(js_class = Recommender)]
impl WasmRecommender {
    /// Builds the funnel over `bundle`, restores the state found in `store` (a
    /// `KeyValueStore`; memory when omitted). `config_json` is a JSON `RecommenderConfig`
    /// (fields omitted take their defaults). If the store cannot be read the recommender works
    /// in memory and `restoreReport` says why.
    pub async fn create(
        bundle: &super::bundle::WasmBundle,
        store: JsValue,
        config_json: Option<String>,
        backend: Option<String>,
    ) -> Result<WasmRecommender, JsValue> {
        let config: RecommenderConfig = match config_json.as_deref() {
            Some(text) if !text.trim().is_empty() => serde_json::from_str(text)
                .map_err(|e| Error::InvalidArgument { name: "config", reason: e.to_string() })?,
            _ => RecommenderConfig::default(),
        };
        let choice = match backend {
            Some(name) => name.parse::<BackendChoice>()?,
            None => BackendChoice::Auto,
        };
        let mut rec = Recommender::new(bundle.inner(), config, choice).await?;
        let mut store = if store.is_undefined() || store.is_null() {
            Store::Memory(MemoryStorage::new())
        } else {
            Store::Js(JsStorage::new(store)?)
        };
        let restore_report = match store.probe().await.and(Ok(())) {
            Ok(()) => match store.restore(&mut rec).await {
                Ok(report) => report,
                Err(e) => fallback(&mut store, &e),
            },
            Err(e) => fallback(&mut store, &e),
        };
        let report = RefCell::new(rec.backend().clone());
        Ok(Self { inner: Rc::new(Mutex::new(Inner { rec, store })), report, restore_report })
    }

    fn report(&self) -> BackendReport {
        if let Some(inner) = self.inner.try_lock() {
            *self.report.borrow_mut() = inner.rec.backend().clone();
        }
        self.report.borrow().clone()
    }

    /// `"webgpu"` or `"cpu"`: the backend scoring runs on. `auto` starts on `"cpu"`; after its
    /// background GPU trial finds a hardware GPU faster, the next recommendation switches.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.report().backend.as_str().to_string()
    }

    /// Why that backend is in use.
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.report().reason
    }

    /// JSON: what was restored from storage at creation (see `RestoreReport`).
    #[wasm_bindgen(getter, js_name = restoreReport)]
    pub fn restore_report(&self) -> String {
        self.restore_report.clone()
    }

    /// Records an interaction (`kind`: `"click"` default, `"like"`, `"dwell"` with `dwellMs`;
    /// `timestampMs` defaults to now), updates the embedding, then saves. Rejects with a typed
    /// error for bad input (nothing changes); resolves to the save outcome as JSON.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn record(
        &self,
        item: String,
        kind: Option<String>,
        timestamp_ms: Option<f64>,
        dwell_ms: Option<u32>,
    ) -> js_sys::Promise {
        self.change_and_save(move |rec| {
            let kind = parse_kind(kind, dwell_ms)?;
            let now = now_ms();
            rec.record(&Interaction { item, kind, timestamp_ms: timestamp_ms.unwrap_or(now) }, now)
        })
    }

    /// Resolves to JSON `{items, trace}` (see `Recommendations`): the funnel with the options
    /// given as JSON `RecommendOptions` (camelCase; `{}` for the defaults). Side-effect free
    /// unless `markShown` is true.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn recommend(&self, options_json: String) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let options: RecommendOptions = serde_json::from_str(&options_json)
                .map_err(|e| Error::InvalidArgument { name: "options", reason: e.to_string() })?;
            let mut guard = inner.lock().await;
            let result = guard.rec.recommend_with(&options, now_ms()).await?;
            json(&result)
        })
    }

    /// Records that `ids` were shown (exposure filter, channel impressions), then saves;
    /// resolves to the save outcome as JSON.
    #[wasm_bindgen(js_name = markShown, unchecked_return_type = "Promise<string>")]
    pub fn mark_shown(&self, ids: Vec<String>) -> js_sys::Promise {
        self.change_and_save(move |rec| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            rec.mark_shown(&ids, now_ms())
        })
    }

    /// The user's query vector (tower output plus residual), or `undefined` for a cold user.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array | undefined>")]
    pub fn query(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let guard = inner.lock().await;
            Ok(match guard.rec.query()? {
                Some(q) => js_sys::Float32Array::from(q.as_slice()).into(),
                None => JsValue::UNDEFINED,
            })
        })
    }

    /// Starts over as a new user in memory and saves (blocklists are kept; `forget` erases
    /// everything).
    #[wasm_bindgen(js_name = resetUser, unchecked_return_type = "Promise<string>")]
    pub fn reset_user(&self) -> js_sys::Promise {
        self.change_and_save(|rec| {
            rec.reset_user();
            Ok(())
        })
    }

    /// JSON: the stored history, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn history(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let guard = inner.lock().await;
            json(&guard.rec.state().history())
        })
    }

    /// Never recommends item `id` again; resolves (to the save outcome as JSON) once the
    /// blocklist is saved.
    #[wasm_bindgen(js_name = blockItem, unchecked_return_type = "Promise<string>")]
    pub fn block_item(&self, id: String) -> js_sys::Promise {
        self.change_and_save(move |rec| rec.block_item(&id))
    }

    /// Never recommends items whose attribute `key` equals `value` (`key` `"tag"` matches
    /// tags); resolves once saved.
    #[wasm_bindgen(js_name = blockAttribute, unchecked_return_type = "Promise<string>")]
    pub fn block_attribute(&self, key: String, value: String) -> js_sys::Promise {
        self.change_and_save(move |rec| {
            rec.block_attribute(&key, &value);
            Ok(())
        })
    }

    /// Lifts every block; resolves once saved.
    #[wasm_bindgen(js_name = clearBlocklist, unchecked_return_type = "Promise<string>")]
    pub fn clear_blocklist(&self) -> js_sys::Promise {
        self.change_and_save(|rec| {
            rec.clear_blocklist();
            Ok(())
        })
    }

    /// Imports interactions the device did not see (JSON `[{item, kind, timestamp_ms}]`, e.g.
    /// the server's history after sign-in) without fine-tuning steps; resolves once saved.
    #[wasm_bindgen(js_name = importHistory, unchecked_return_type = "Promise<string>")]
    pub fn import_history(&self, interactions_json: String) -> js_sys::Promise {
        self.change_and_save(move |rec| {
            let interactions: Vec<Interaction> =
                serde_json::from_str(&interactions_json).map_err(|e| Error::InvalidArgument {
                    name: "interactions",
                    reason: e.to_string(),
                })?;
            rec.import_history(&interactions, now_ms())
        })
    }

    /// Applies `change` (a typed error rejects and changes nothing), then saves; resolves to
    /// the save outcome as JSON (a failed save keeps the change in memory).
    fn change_and_save(
        &self,
        change: impl FnOnce(&mut Recommender) -> crate::Result<()> + 'static,
    ) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = inner.lock().await;
            change(&mut guard.rec)?;
            let inner = &*guard;
            Ok(save_outcome(inner.store.save(&inner.rec).await))
        })
    }

    /// Saves now; resolves to the save outcome as JSON.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn save(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let guard = inner.lock().await;
            Ok(save_outcome(guard.store.save(&guard.rec).await))
        })
    }

    /// Erases everything local (memory and store). The memory is cleared even if the store
    /// fails, in which case the promise rejects with the storage error.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = inner.lock().await;
            let Inner { rec, store } = &mut *guard;
            store.forget(rec).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// Switches to memory after the store failed at creation; the report says why.
fn fallback(store: &mut Store, e: &Error) -> String {
    *store = Store::Memory(MemoryStorage::new());
    serde_json::json!({
        "user_restored": false,
        "storage": "memory",
        "code": e.code(),
        "message": e.to_string(),
    })
    .to_string()
}
