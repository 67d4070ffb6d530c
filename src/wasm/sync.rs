//! `SyncClient` for JavaScript: the engine's event queue and upload policy ([`crate::sync`])
//! over the page's `KeyValueStore` (IndexedDB) and a JS transport object (`fetchTransport` in
//! `pkg/src/sync.ts`: `post(url, token, body)` and `get(url, etag)` returning
//! `{status, etag?, retryAfterMs?, body}`; a rejected promise means the network failed).
//!
//! Uploads are two-phase ([`SyncClient::begin_upload`] / [`SyncClient::finish_upload`]): the
//! client's lock is released while the request is in flight, so `track()` (called by
//! `record()`) never waits for the network.

use super::convert::{from_js, to_js};
use super::storage::JsStorage;
use crate::error::Error;
use crate::sync::{EventInput, ExperimentConfig, HttpResponse, SyncClient, SyncConfig, Transport};
use futures_util::lock::Mutex;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The JS transport object.
struct JsTransport {
    inner: JsValue,
}

fn network(e: &JsValue) -> Error {
    let message = js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the request failed".into());
    Error::Network { reason: message }
}

impl JsTransport {
    fn new(inner: JsValue) -> Result<Self, Error> {
        for name in ["post", "get"] {
            let method = js_sys::Reflect::get(&inner, &name.into()).unwrap_or(JsValue::UNDEFINED);
            if !method.is_function() {
                return Err(Error::InvalidArgument {
                    name: "transport",
                    reason: format!("a transport needs a {name}() method"),
                });
            }
        }
        Ok(Self { inner })
    }

    async fn call(&self, name: &str, args: &[JsValue]) -> crate::Result<HttpResponse> {
        let method: js_sys::Function = js_sys::Reflect::get(&self.inner, &name.into())
            .ok()
            .and_then(|m| m.dyn_into().ok())
            .ok_or_else(|| Error::Network { reason: format!("no {name}() method") })?;
        let array: js_sys::Array = args.iter().collect();
        let returned = method.apply(&self.inner, &array).map_err(|e| network(&e))?;
        let value =
            JsFuture::from(js_sys::Promise::resolve(&returned)).await.map_err(|e| network(&e))?;
        let field =
            |key: &str| js_sys::Reflect::get(&value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        let status = field("status").as_f64().filter(|s| (100.0..600.0).contains(s));
        let Some(status) = status else {
            return Err(Error::Network { reason: "the transport returned no HTTP status".into() });
        };
        let body = field("body");
        let body = body
            .dyn_ref::<js_sys::Uint8Array>()
            .map(js_sys::Uint8Array::to_vec)
            .unwrap_or_default();
        Ok(HttpResponse {
            status: status as u16,
            etag: field("etag").as_string(),
            retry_after_ms: field("retryAfterMs")
                .as_f64()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v as u64),
            body,
        })
    }
}

impl Transport for JsTransport {
    async fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> crate::Result<HttpResponse> {
        let token = token.map_or(JsValue::UNDEFINED, JsValue::from_str);
        self.call("post", &[url.into(), token, js_sys::Uint8Array::from(body.as_slice()).into()])
            .await
    }

    async fn get(&self, url: &str, etag: Option<&str>) -> crate::Result<HttpResponse> {
        let etag = etag.map_or(JsValue::UNDEFINED, JsValue::from_str);
        self.call("get", &[url.into(), etag]).await
    }
}

/// Event sync with an `edgerec serve` server.
#[wasm_bindgen(js_name = SyncClient)]
pub struct WasmSyncClient {
    client: Rc<Mutex<SyncClient>>,
    storage: Rc<JsStorage>,
    transport: Rc<JsTransport>,
    /// Held for a whole flush: a second flush (timer, `online`, the app) waits for the first,
    /// then uploads what is left — so `flush()` resolves only when everything was acknowledged.
    flushing: Rc<Mutex<()>>,
    /// Snapshot of the counters, refreshed after every call (getters are synchronous).
    pending: std::cell::Cell<usize>,
    dropped: std::cell::Cell<u64>,
    rejected: std::cell::Cell<u64>,
    next_attempt: std::cell::Cell<Option<f64>>,
    user: String,
}

/// What `flush()` resolves with.
#[derive(serde::Serialize)]
struct FlushReport {
    sent: usize,
    accepted: usize,
    duplicates: usize,
    pending: usize,
}

/// What `drain()` returns: one upload to send with `keepalive`.
#[derive(serde::Serialize)]
struct DrainedUpload<'a> {
    url: &'a str,
    token: Option<&'a str>,
    body: std::borrow::Cow<'a, str>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen(js_class = SyncClient)]
impl WasmSyncClient {
    /// Opens the client: `config` is a `SyncConfig` object (camelCase), `store` a
    /// `KeyValueStore`, `transport` the JS transport, `entropy` 16 random bytes
    /// (`crypto.getRandomValues`).
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "unknown")] config: JsValue,
        store: JsValue,
        transport: JsValue,
        entropy: Vec<u8>,
    ) -> Result<WasmSyncClient, JsValue> {
        let config: SyncConfig = from_js("sync", config)?;
        config.validate()?;
        let storage = JsStorage::new(store)?;
        let transport = JsTransport::new(transport)?;
        let seed: [u8; 16] = entropy.as_slice().try_into().map_err(|_| Error::InvalidArgument {
            name: "entropy",
            reason: format!("expected 16 bytes, got {}", entropy.len()),
        })?;
        let client = SyncClient::open(config, &storage, seed, now_ms()).await?;
        let user = client.user().to_string();
        let this = WasmSyncClient {
            client: Rc::new(Mutex::new(client)),
            storage: Rc::new(storage),
            transport: Rc::new(transport),
            flushing: Rc::new(Mutex::new(())),
            pending: Default::default(),
            dropped: Default::default(),
            rejected: Default::default(),
            next_attempt: Default::default(),
            user,
        };
        this.refresh(&*this.client.lock().await);
        Ok(this)
    }

    fn refresh(&self, client: &SyncClient) {
        self.pending.set(client.pending());
        self.dropped.set(client.dropped());
        self.rejected.set(client.rejected());
        self.next_attempt.set(client.next_attempt_at());
    }

    /// The user id events carry.
    #[wasm_bindgen(getter)]
    pub fn user(&self) -> String {
        self.user.clone()
    }

    /// Events queued (including any in flight).
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> usize {
        self.pending.get()
    }

    /// Events dropped because the queue was full.
    #[wasm_bindgen(getter)]
    pub fn dropped(&self) -> f64 {
        self.dropped.get() as f64
    }

    /// Events the server refused for good.
    #[wasm_bindgen(getter)]
    pub fn rejected(&self) -> f64 {
        self.rejected.get() as f64
    }

    /// When a retry is due after a failure (ms since the epoch).
    #[wasm_bindgen(getter, js_name = nextAttemptAt)]
    pub fn next_attempt_at(&self) -> Option<f64> {
        self.next_attempt.get()
    }

    /// The model version attached to events from now on.
    #[wasm_bindgen(js_name = setModelVersion)]
    pub async fn set_model_version(&self, version: Option<String>) -> Result<(), JsValue> {
        let mut client = self.client.lock().await;
        client.set_model_version(version)?;
        Ok(())
    }

    /// Applies an experiment config (the server's JSON text, as fetched): assigns this user,
    /// attaches the assignments to events from now on, and returns
    /// `{assignments, options, holdout}`.
    #[wasm_bindgen(js_name = setExperiments, unchecked_return_type = "unknown")]
    pub async fn set_experiments(&self, config_json: String) -> Result<JsValue, JsValue> {
        let config = ExperimentConfig::parse(&config_json)?;
        let mut client = self.client.lock().await;
        let assignment = config.assign(client.user());
        client.set_assignments(assignment.assignments.clone())?;
        to_js(&assignment)
    }

    /// Queues an event (`{kind, item?, position?, requestId?, dwellMs?, name?}`) and persists
    /// the queue; resolves with the event id.
    pub async fn track(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] input: JsValue,
    ) -> Result<String, JsValue> {
        let input: EventInput = from_js("event", input)?;
        let mut client = self.client.lock().await;
        let result = client.track(&*self.storage, input, now_ms()).await;
        self.refresh(&client);
        Ok(result?)
    }

    /// Uploads everything queued; resolves with `{sent, accepted, duplicates, pending}` once
    /// the server acknowledged it, rejects with the first failure (events stay queued).
    #[wasm_bindgen(unchecked_return_type = "unknown")]
    pub async fn flush(&self) -> Result<JsValue, JsValue> {
        let _flushing = self.flushing.lock().await;
        let (mut sent, mut accepted, mut duplicates) = (0usize, 0usize, 0usize);
        loop {
            let upload = {
                let mut client = self.client.lock().await;
                // An explicit flush tries at once, whatever backoff is pending.
                let upload = client.begin_upload_now(now_ms());
                self.refresh(&client);
                upload
            };
            let Some(mut upload) = upload else { break };
            let body = std::mem::take(&mut upload.body);
            let outcome =
                self.transport.post_json(&upload.url, upload.token.as_deref(), body).await;
            let mut client = self.client.lock().await;
            let done = client.finish_upload(&*self.storage, upload, outcome, now_ms()).await;
            self.refresh(&client);
            let done = done?;
            sent += done.sent;
            if let Some(reply) = done.reply {
                accepted += reply.accepted;
                duplicates += reply.duplicates;
            }
        }
        to_js(&FlushReport { sent, accepted, duplicates, pending: self.pending.get() })
    }

    /// For page unload: `{url, token, body}` of the oldest events fitting `max_bytes`, to POST
    /// with `keepalive`; they stay queued (the server dedupes the re-send).
    #[wasm_bindgen(unchecked_return_type = "unknown")]
    pub fn drain(&self, max_bytes: usize) -> Result<JsValue, JsValue> {
        let Some(client) = self.client.try_lock() else { return Ok(JsValue::UNDEFINED) };
        let Some(upload) = client.drain_body(max_bytes) else { return Ok(JsValue::UNDEFINED) };
        to_js(&DrainedUpload {
            url: &upload.url,
            token: upload.token.as_deref(),
            body: String::from_utf8_lossy(&upload.body),
        })
    }
}
