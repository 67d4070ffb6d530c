//! The HTTP seam of the sync client: a two-method [`Transport`] trait (POST JSON, conditional
//! GET) that the browser implements with `fetch` (in `src/wasm/`) and tests implement with
//! [`MockTransport`], a scripted in-memory stand-in for `edgerec serve`.
//!
//! A transport reports only what happened on the wire: `Err` when no response arrived
//! ([`Error::Network`]), otherwise the status, `ETag`, `Retry-After` and body. What a status
//! means for the queue is the client's business (`client.rs`).

use crate::error::{Error, Result};
use crate::sync::event::{EventBatch, IngestReply, MAX_BODY_BYTES};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A response as the client needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `ETag` header, when present.
    pub etag: Option<String>,
    /// The `Retry-After` header in milliseconds, when present and understood (see
    /// [`crate::sync::parse_retry_after`]).
    pub retry_after_ms: Option<u64>,
    /// The response body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status` and `body`, no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, body: body.into(), ..Self::default() }
    }
}

/// HTTP as the sync client uses it. Not `Send`: browser `fetch` is bound to its thread.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// POST `body` (JSON) to `url` with an optional bearer token. `Err` = network failure (no
    /// response), as [`Error::Network`].
    async fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<HttpResponse>;
    /// GET `url`, with `If-None-Match` when `etag` is given.
    async fn get(&self, url: &str, etag: Option<&str>) -> Result<HttpResponse>;
}

/// What [`MockTransport`] does with the next POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockReply {
    /// Behave like `edgerec serve`: check the token, the size limits and every event, store the
    /// new ids and answer `200 {"accepted", "duplicates"}` (or 400 / 401 / 413).
    Serve,
    /// No response: `Err(Error::Network)`, nothing stored.
    Offline,
    /// Answer `status` (with an optional `Retry-After`, in ms) without storing anything.
    Status {
        /// The status to answer (500, 503, 429, 401, 413, 400, …).
        status: u16,
        /// The `Retry-After` to send along, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The reply is lost: the server handles the request as [`MockReply::Serve`] (so it stores
    /// the batch) but the client sees `Err(Error::Network)`.
    LostReply,
}

/// One request [`MockTransport`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRequest {
    /// `"POST"` or `"GET"`.
    pub method: &'static str,
    /// The URL requested.
    pub url: String,
    /// The bearer token (POST) or `If-None-Match` value (GET).
    pub header: Option<String>,
    /// The request body (empty for GET).
    pub body: Vec<u8>,
}

impl MockRequest {
    /// The event ids of a POST body (empty when it is not an event batch).
    pub fn event_ids(&self) -> Vec<String> {
        serde_json::from_slice::<EventBatch>(&self.body)
            .map(|b| b.events.into_iter().map(|e| e.id).collect())
            .unwrap_or_default()
    }
}

type Rejecter = Box<dyn Fn(&crate::sync::Event) -> bool>;

/// An in-memory server for tests and demos, in the library like
/// [`crate::user::MemoryStorage`]. It records every request, answers POSTs from a script of
/// [`MockReply`]s (then [`MockReply::Serve`] once the script is empty), keeps the set of
/// stored event ids so re-sent events count as duplicates like on the real server, and serves
/// GETs from a table of resources with `ETag`s.
///
/// Switches: [`MockTransport::set_offline`] (every call fails), [`MockTransport::require_token`]
/// (401 without it), [`MockTransport::set_max_batch`] (413 above it) and
/// [`MockTransport::set_rejecter`] (400 for a batch holding an event the closure refuses — a
/// "poison" event).
#[derive(Default)]
pub struct MockTransport {
    script: RefCell<VecDeque<MockReply>>,
    requests: RefCell<Vec<MockRequest>>,
    stored: RefCell<Vec<crate::sync::Event>>,
    ids: RefCell<BTreeSet<String>>,
    resources: RefCell<BTreeMap<String, (String, Vec<u8>)>>,
    offline: Cell<bool>,
    token: RefCell<Option<String>>,
    max_batch: Cell<Option<usize>>,
    rejecter: RefCell<Option<Rejecter>>,
}

impl std::fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockTransport")
            .field("script", &self.script.borrow())
            .field("requests", &self.requests.borrow().len())
            .field("stored", &self.stored.borrow().len())
            .field("offline", &self.offline.get())
            .finish_non_exhaustive()
    }
}

impl MockTransport {
    /// A server that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues replies for the next POSTs, in order.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = MockReply>) {
        self.script.borrow_mut().extend(replies);
    }

    /// Forgets the scripted replies not used yet: from now on every POST is served.
    pub fn clear_replies(&self) {
        self.script.borrow_mut().clear();
    }

    /// While `offline`, every call fails with [`Error::Network`] (the script is not consumed).
    pub fn set_offline(&self, offline: bool) {
        self.offline.set(offline);
    }

    /// Serving answers 401 unless the request carries this bearer token (`None`: no check).
    pub fn require_token(&self, token: Option<&str>) {
        *self.token.borrow_mut() = token.map(str::to_string);
    }

    /// Serving answers 413 for a batch of more than `max` events (`None`: the wire limits only).
    pub fn set_max_batch(&self, max: Option<usize>) {
        self.max_batch.set(max);
    }

    /// Serving answers 400 for a batch holding an event for which `reject` is true.
    pub fn set_rejecter(&self, reject: impl Fn(&crate::sync::Event) -> bool + 'static) {
        *self.rejecter.borrow_mut() = Some(Box::new(reject));
    }

    /// Serves `body` with `etag` at `url` for GET (304 when `If-None-Match` matches).
    pub fn set_resource(&self, url: &str, etag: &str, body: impl Into<Vec<u8>>) {
        self.resources.borrow_mut().insert(url.to_string(), (etag.to_string(), body.into()));
    }

    /// Every request received so far (including those answered `Offline`).
    pub fn requests(&self) -> Vec<MockRequest> {
        self.requests.borrow().clone()
    }

    /// The events the server stored, each id once, in arrival order.
    pub fn stored(&self) -> Vec<crate::sync::Event> {
        self.stored.borrow().clone()
    }

    /// The ids the server holds.
    pub fn stored_ids(&self) -> BTreeSet<String> {
        self.ids.borrow().clone()
    }

    fn serve(&self, token: Option<&str>, body: &[u8]) -> HttpResponse {
        let required = self.token.borrow();
        if let Some(required) = required.as_deref()
            && token != Some(required)
        {
            return HttpResponse::new(401, "missing or wrong bearer token");
        }
        if body.len() > MAX_BODY_BYTES {
            return HttpResponse::new(413, "body too large");
        }
        let batch = match EventBatch::parse(body) {
            Ok(batch) => batch,
            Err(crate::sync::BatchError::TooMany(n)) => {
                return HttpResponse::new(413, format!("{n} events"));
            }
            Err(e) => return HttpResponse::new(400, e.to_string()),
        };
        if self.max_batch.get().is_some_and(|max| batch.events.len() > max) {
            return HttpResponse::new(413, "batch larger than this server takes");
        }
        if let Some(reject) = self.rejecter.borrow().as_ref()
            && let Some(i) = batch.events.iter().position(reject)
        {
            return HttpResponse::new(400, format!("events[{i}]: rejected"));
        }
        let mut reply = IngestReply { accepted: 0, duplicates: 0 };
        let mut ids = self.ids.borrow_mut();
        for event in batch.events {
            if ids.insert(event.id.clone()) {
                reply.accepted += 1;
                self.stored.borrow_mut().push(event);
            } else {
                reply.duplicates += 1;
            }
        }
        HttpResponse::new(200, serde_json::to_vec(&reply).unwrap_or_default())
    }
}

fn offline() -> Error {
    Error::Network { reason: "mock transport offline".into() }
}

impl Transport for MockTransport {
    async fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<HttpResponse> {
        self.requests.borrow_mut().push(MockRequest {
            method: "POST",
            url: url.to_string(),
            header: token.map(str::to_string),
            body: body.clone(),
        });
        if self.offline.get() {
            return Err(offline());
        }
        let reply = self.script.borrow_mut().pop_front().unwrap_or(MockReply::Serve);
        match reply {
            MockReply::Serve => Ok(self.serve(token, &body)),
            MockReply::Offline => Err(offline()),
            MockReply::Status { status, retry_after_ms } => Ok(HttpResponse {
                status,
                retry_after_ms,
                ..HttpResponse::new(status, format!("scripted {status}"))
            }),
            MockReply::LostReply => {
                self.serve(token, &body);
                Err(Error::Network { reason: "mock transport lost the reply".into() })
            }
        }
    }

    async fn get(&self, url: &str, etag: Option<&str>) -> Result<HttpResponse> {
        self.requests.borrow_mut().push(MockRequest {
            method: "GET",
            url: url.to_string(),
            header: etag.map(str::to_string),
            body: Vec::new(),
        });
        if self.offline.get() {
            return Err(offline());
        }
        Ok(match self.resources.borrow().get(url) {
            None => HttpResponse::new(404, "not found"),
            Some((tag, _)) if etag == Some(tag.as_str()) => {
                HttpResponse { etag: Some(tag.clone()), ..HttpResponse::new(304, Vec::new()) }
            }
            Some((tag, body)) => {
                HttpResponse { etag: Some(tag.clone()), ..HttpResponse::new(200, body.clone()) }
            }
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn serves_dedupes_and_answers_scripted_statuses() {
        let t = MockTransport::new();
        let body = br#"{"events":[{"id":"01890a5d-ac96-774b-bcce-b302099a8057","user":"u","item":"1","kind":"click","ts":1}]}"#;
        let first = pollster::block_on(t.post_json("u", None, body.to_vec())).unwrap();
        assert_eq!(first.status, 200);
        assert_eq!(first.body, br#"{"accepted":1,"duplicates":0}"#);
        t.push_replies([MockReply::Status { status: 503, retry_after_ms: Some(2000) }]);
        let busy = pollster::block_on(t.post_json("u", None, body.to_vec())).unwrap();
        assert_eq!((busy.status, busy.retry_after_ms), (503, Some(2000)));
        let again = pollster::block_on(t.post_json("u", None, body.to_vec())).unwrap();
        assert_eq!(again.body, br#"{"accepted":0,"duplicates":1}"#);
        assert_eq!(t.stored().len(), 1);
        assert_eq!(t.requests().len(), 3);
        let bad = pollster::block_on(t.post_json("u", None, b"{}".to_vec())).unwrap();
        assert_eq!(bad.status, 400);
    }

    #[test]
    fn get_uses_etags() {
        let t = MockTransport::new();
        t.set_resource("/m", "\"v1\"", "model");
        let r = pollster::block_on(t.get("/m", None)).unwrap();
        assert_eq!((r.status, r.etag.as_deref()), (200, Some("\"v1\"")));
        assert_eq!(pollster::block_on(t.get("/m", Some("\"v1\""))).unwrap().status, 304);
        assert_eq!(pollster::block_on(t.get("/x", None)).unwrap().status, 404);
        t.set_offline(true);
        assert!(matches!(pollster::block_on(t.get("/m", None)), Err(Error::Network { .. })));
    }
}
