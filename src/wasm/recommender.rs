//! `Recommender` for JavaScript: the on-device funnel with its state persisted in a JS
//! `KeyValueStore` (IndexedDB in the browser, see `pkg/src/storage.ts`).
//!
//! Storage failures never lose a click: the interaction is applied in memory first, then saved;
//! a failed save is reported in the resolved value (`persisted: false` plus the error code) and
//! the next successful save writes everything.

use super::convert::{from_js, from_js_or_default, to_js};
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

/// One `Storage` whose variants are chosen per operation, so the save/restore/forget logic is
/// compiled once for both stores instead of once per store type (it is large in wasm).
impl Storage for Store {
    async fn get(&self, key: &str) -> crate::Result<Option<Vec<u8>>> {
        match self {
            Store::Js(s) => s.get(key).await,
            Store::Memory(s) => s.get(key).await,
        }
    }

    async fn put(&self, key: &str, value: &[u8]) -> crate::Result<()> {
        match self {
            Store::Js(s) => s.put(key, value).await,
            Store::Memory(s) => s.put(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> crate::Result<()> {
        match self {
            Store::Js(s) => s.delete(key).await,
            Store::Memory(s) => s.delete(key).await,
        }
    }

    async fn put_all(&self, entries: &[(&str, &[u8])]) -> crate::Result<()> {
        match self {
            Store::Js(s) => s.put_all(entries).await,
            Store::Memory(s) => s.put_all(entries).await,
        }
    }
}

impl Store {
    async fn probe(&self) -> crate::Result<()> {
        match self {
            Store::Js(s) => s.get("edgerec/probe").await.map(drop),
            Store::Memory(_) => Ok(()),
        }
    }
}

/// A state change applied before a save (see `WasmRecommender::change_and_save`).
type ChangeFn = Box<dyn FnOnce(&mut Recommender) -> crate::Result<()>>;

struct Inner {
    rec: Recommender,
    store: Store,
}

/// The on-device recommender. Create with `Recommender.create(bundle, store?, config?,
/// backend?)`.
#[wasm_bindgen(js_name = Recommender)]
pub struct WasmRecommender {
    inner: Rc<Mutex<Inner>>,
    // The backend report as last seen; refreshed by the getters whenever no call holds the
    // recommender (an `auto` engine can switch to the GPU after its background trial).
    report: RefCell<BackendReport>,
    restore_report: JsValue,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
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

/// `{persisted: true}` or `{persisted: false, code, message}`: a failed save keeps the state in
/// memory, so it resolves rather than rejects.
#[derive(serde::Serialize)]
struct SaveOutcome {
    persisted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

fn save_outcome(result: crate::Result<()>) -> Result<JsValue, JsValue> {
    to_js(&match result {
        Ok(()) => SaveOutcome { persisted: true, code: None, message: None },
        Err(e) => {
            SaveOutcome { persisted: false, code: Some(e.code()), message: Some(e.to_string()) }
        }
    })
}

#[wasm_bindgen(js_class = Recommender)]
impl WasmRecommender {
    /// Builds the funnel over `bundle`, restores the state found in `store` (a
    /// `KeyValueStore`; memory when omitted). `config` is a `RecommenderConfig` object (fields
    /// omitted take their defaults). If the store cannot be read the recommender works in
    /// memory and `restoreReport` says why.
    pub async fn create(
        bundle: &super::bundle::WasmBundle,
        store: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] config: JsValue,
        backend: Option<String>,
    ) -> Result<WasmRecommender, JsValue> {
        let config: RecommenderConfig = from_js_or_default("config", config)?;
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
            Ok(()) => match rec.restore(&store).await {
                Ok(report) => to_js(&report)?,
                Err(e) => fallback(&mut store, &e)?,
            },
            Err(e) => fallback(&mut store, &e)?,
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

    /// What was restored from storage at creation (`RestoreReport`, snake_case fields).
    #[wasm_bindgen(getter, js_name = restoreReport)]
    pub fn restore_report(&self) -> JsValue {
        self.restore_report.clone()
    }

    /// Records an interaction (`kind`: `"click"` default, `"like"`, `"dwell"` with `dwellMs`;
    /// `timestampMs` defaults to now), updates the embedding, then saves. Rejects with a typed
    /// error for bad input (nothing changes); resolves to the save outcome.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
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

    /// Resolves to `{items, trace}` (see `Recommendations`): the funnel with the
    /// `RecommendOptions` object given (camelCase; `{}` or `undefined` for the defaults).
    /// Side-effect free unless `markShown` is true.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn recommend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] options: JsValue,
    ) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let options: RecommendOptions = from_js_or_default("options", options)?;
            let mut guard = inner.lock().await;
            let result = guard.rec.recommend_with(&options, now_ms()).await?;
            to_js(&result)
        })
    }

    /// Records that `ids` were shown (exposure filter, channel impressions), then saves;
    /// resolves to the save outcome.
    #[wasm_bindgen(js_name = markShown, unchecked_return_type = "Promise<unknown>")]
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
    #[wasm_bindgen(js_name = resetUser, unchecked_return_type = "Promise<unknown>")]
    pub fn reset_user(&self) -> js_sys::Promise {
        self.change_and_save(|rec| {
            rec.reset_user();
            Ok(())
        })
    }

    /// The stored history, oldest first (`{item, kind: {type, ms?}, timestamp_ms}[]`).
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn history(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let guard = inner.lock().await;
            to_js(guard.rec.state().history())
        })
    }

    /// Never recommends item `id` again; resolves (to the save outcome) once the blocklist is
    /// saved.
    #[wasm_bindgen(js_name = blockItem, unchecked_return_type = "Promise<unknown>")]
    pub fn block_item(&self, id: String) -> js_sys::Promise {
        self.change_and_save(move |rec| rec.block_item(&id))
    }

    /// Never recommends items whose attribute `key` equals `value` (`key` `"tag"` matches
    /// tags); resolves once saved.
    #[wasm_bindgen(js_name = blockAttribute, unchecked_return_type = "Promise<unknown>")]
    pub fn block_attribute(&self, key: String, value: String) -> js_sys::Promise {
        self.change_and_save(move |rec| {
            rec.block_attribute(&key, &value);
            Ok(())
        })
    }

    /// Lifts every block; resolves once saved.
    #[wasm_bindgen(js_name = clearBlocklist, unchecked_return_type = "Promise<unknown>")]
    pub fn clear_blocklist(&self) -> js_sys::Promise {
        self.change_and_save(|rec| {
            rec.clear_blocklist();
            Ok(())
        })
    }

    /// Imports interactions the device did not see (`[{item, kind: {type}, timestamp_ms}]`,
    /// e.g. the server's history after sign-in) without fine-tuning steps; resolves once saved.
    #[wasm_bindgen(js_name = importHistory, unchecked_return_type = "Promise<unknown>")]
    pub fn import_history(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] interactions: JsValue,
    ) -> js_sys::Promise {
        let interactions: Result<Vec<Interaction>, Error> = from_js("interactions", interactions);
        self.change_and_save(move |rec| rec.import_history(&interactions?, now_ms()))
    }

    /// Applies `change` (a typed error rejects and changes nothing), then saves; resolves to
    /// the save outcome (a failed save keeps the change in memory).
    fn change_and_save(
        &self,
        change: impl FnOnce(&mut Recommender) -> crate::Result<()> + 'static,
    ) -> js_sys::Promise {
        self.change_and_save_boxed(Box::new(change))
    }

    /// The body of [`Self::change_and_save`], not generic: one copy of the save future for
    /// every method that changes state.
    fn change_and_save_boxed(&self, change: ChangeFn) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = inner.lock().await;
            change(&mut guard.rec)?;
            let inner = &*guard;
            save_outcome(inner.rec.save_changes(&inner.store).await)
        })
    }

    /// Saves now; resolves to the save outcome.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn save(&self) -> js_sys::Promise {
        self.change_and_save(|_| Ok(()))
    }

    /// Erases everything local (memory and store). The memory is cleared even if the store
    /// fails, in which case the promise rejects with the storage error.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = inner.lock().await;
            let Inner { rec, store } = &mut *guard;
            rec.forget(store).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// What `restoreReport` holds when the store failed at creation.
#[derive(serde::Serialize)]
struct FallbackReport {
    user_restored: bool,
    storage: &'static str,
    code: &'static str,
    message: String,
}

/// Switches to memory after the store failed at creation; the report says why.
fn fallback(store: &mut Store, e: &Error) -> Result<JsValue, JsValue> {
    *store = Store::Memory(MemoryStorage::new());
    to_js(&FallbackReport {
        user_restored: false,
        storage: "memory",
        code: e.code(),
        message: e.to_string(),
    })
}
