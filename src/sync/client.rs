//! [`SyncClient`]: queues events on the device and uploads them to `POST /v1/events`,
//! at-least-once, over any [`Storage`] and [`Transport`].
//!
//! **Delivery.** Every event gets a UUIDv7 id when it is tracked and is persisted before
//! [`SyncClient::track`] resolves. Uploads take the oldest events; only a 2xx answer removes
//! them — exactly the ids that were sent, so events tracked while the request was in flight
//! stay queued. Anything else keeps them, so a lost reply (the server stored the batch, the
//! client saw a network error) re-sends the batch; the server ignores ids it already holds
//! (`duplicates` in its reply), which makes the effect exactly-once.
//!
//! **What each answer does** ([`SyncClient::finish_upload`]):
//!
//! | answer | events | next try |
//! |---|---|---|
//! | 2xx | the sent ids are removed | at once; backoff reset |
//! | no response, 408, 429, 5xx, other | kept | after a backoff ([`crate::sync::backoff`]), `Retry-After` honoured; typed error |
//! | 401, 403 | kept | after a backoff; [`Error::Unauthorized`] (set a new token) |
//! | 413 | kept | at once, with half the batch size (down to 1, for the session) |
//! | 400, batch > 1 | kept | at once, with half the batch: a binary search for the bad event |
//! | 400 or 413, batch of 1 | that event is dropped and counted in `rejected` | at once |
//!
//! The last row is what keeps a "poison" event (one the server will never take) from blocking
//! the queue forever: bisection isolates it in `log2(batch)` extra requests.
//!
//! **Two phases.** [`SyncClient::begin_upload`] hands out the request and marks it in flight
//! (no second upload starts until it is finished, so a batch is never in two requests at once);
//! the caller performs it without holding the client, then passes the outcome to
//! [`SyncClient::finish_upload`]. [`SyncClient::flush`] runs that loop with a [`Transport`].
//! [`SyncClient::drain_body`] is for page unload, where nobody waits for the reply.

use crate::error::{Error, Result};
use crate::sync::backoff::{Backoff, DEFAULT_BASE_MS, DEFAULT_CAP_MS};
use crate::sync::event::{Event, EventKind, IngestReply, MAX_BATCH_EVENTS, MAX_BODY_BYTES};
use crate::sync::ids::{IdGenerator, millis, seed_from_entropy};
use crate::sync::queue::{DEFAULT_MAX_EVENTS, EventQueue};
use crate::sync::transport::{HttpResponse, Transport};
use crate::user::Storage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The storage key of the anonymous device user id.
pub const DEVICE_KEY: &str = "edgerec/sync/device";
/// The path of the event upload, appended to [`SyncConfig::endpoint`].
pub const EVENTS_PATH: &str = "/v1/events";
/// The default number of events per upload.
pub const DEFAULT_BATCH_SIZE: usize = 50;

/// How the sync client talks to the server. JSON form (camelCase, unknown fields refused):
/// `{"endpoint": "https://api.example.com", "token": "…", "batchSize": 50}`; every field but
/// `endpoint` has a default.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncConfig {
    /// Base URL of the server (`http://` or `https://`), e.g. `http://127.0.0.1:8787`.
    pub endpoint: String,
    /// Bearer token sent with uploads.
    #[serde(default)]
    pub token: Option<String>,
    /// The application's user id; `None` uses an anonymous device id, made once and persisted.
    #[serde(default)]
    pub user: Option<String>,
    /// Events per upload, `1..=500` (default 50).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Bound on queued events, at least 1 (default 5000; see [`crate::sync::queue`]).
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// First backoff interval in ms (default 1000).
    #[serde(default = "default_base_ms")]
    pub backoff_base_ms: f64,
    /// Longest backoff interval in ms, at least `backoff_base_ms` (default 60000).
    #[serde(default = "default_cap_ms")]
    pub backoff_cap_ms: f64,
}

/// Debug output never shows the token (it ends up in logs).
impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user", &self.user)
            .field("batch_size", &self.batch_size)
            .field("max_queue", &self.max_queue)
            .field("backoff_base_ms", &self.backoff_base_ms)
            .field("backoff_cap_ms", &self.backoff_cap_ms)
            .finish()
    }
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}
fn default_max_queue() -> usize {
    DEFAULT_MAX_EVENTS
}
fn default_base_ms() -> f64 {
    DEFAULT_BASE_MS
}
fn default_cap_ms() -> f64 {
    DEFAULT_CAP_MS
}

fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name, reason: reason.into() }
}

/// A field check shared by the config and the client setters: the wire format's rules for
/// text fields, checked through [`Event::validate`] so they are written once.
fn probe(
    user: &str,
    model_version: Option<&str>,
    experiments: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    Event {
        id: "00000000-0000-7000-8000-000000000000".into(),
        user: user.to_string(),
        item: Some("probe".into()),
        kind: EventKind::Click,
        ts: 0,
        position: None,
        request_id: None,
        dwell_ms: None,
        name: None,
        model_version: model_version.map(str::to_string),
        experiments: experiments.clone(),
    }
    .validate()
}

impl SyncConfig {
    /// A configuration with defaults for everything but the endpoint.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            token: None,
            user: None,
            batch_size: DEFAULT_BATCH_SIZE,
            max_queue: DEFAULT_MAX_EVENTS,
            backoff_base_ms: DEFAULT_BASE_MS,
            backoff_cap_ms: DEFAULT_CAP_MS,
        }
    }

    /// Parses (camelCase JSON) and validates a configuration.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self =
            serde_json::from_str(json).map_err(|e| invalid("sync", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field; the error's `name` is the camelCase field.
    pub fn validate(&self) -> Result<()> {
        let endpoint = self.endpoint.as_str();
        let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
        if rest.is_none_or(|r| r.trim_end_matches('/').is_empty())
            || endpoint.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(invalid("endpoint", format!("{endpoint:?} is not an http(s) base URL")));
        }
        if let Some(token) = &self.token
            && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid("token", "must be non-empty printable ASCII without spaces"));
        }
        if let Some(user) = &self.user {
            probe(user, None, &BTreeMap::new()).map_err(|r| invalid("user", r))?;
        }
        if !(1..=MAX_BATCH_EVENTS).contains(&self.batch_size) {
            return Err(invalid(
                "batchSize",
                format!("{} is not in 1..={MAX_BATCH_EVENTS}", self.batch_size),
            ));
        }
        if self.max_queue == 0 {
            return Err(invalid("maxQueue", "must be at least 1"));
        }
        if !(self.backoff_base_ms.is_finite() && self.backoff_base_ms > 0.0) {
            return Err(invalid(
                "backoffBaseMs",
                format!("{} is not a positive number", self.backoff_base_ms),
            ));
        }
        if !(self.backoff_cap_ms.is_finite() && self.backoff_cap_ms >= self.backoff_base_ms) {
            return Err(invalid(
                "backoffCapMs",
                format!("{} is not a number >= backoffBaseMs", self.backoff_cap_ms),
            ));
        }
        Ok(())
    }

    /// The upload URL: the endpoint (without trailing `/`) + [`EVENTS_PATH`].
    pub fn events_url(&self) -> String {
        format!("{}{EVENTS_PATH}", self.endpoint.trim_end_matches('/'))
    }
}

/// What the application reports; the client adds id, user, time, model version and
/// experiment assignments. JSON form: camelCase, like [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInput {
    /// What happened.
    pub kind: EventKind,
    /// The item (every kind but `custom`).
    #[serde(default)]
    pub item: Option<String>,
    /// Impressions: the 0-based position in the list.
    #[serde(default)]
    pub position: Option<u32>,
    /// The `requestId` of the `recommend()` call the item came from.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Dwell events: milliseconds spent.
    #[serde(default)]
    pub dwell_ms: Option<u64>,
    /// Custom events: the application's event name.
    #[serde(default)]
    pub name: Option<String>,
}

impl EventInput {
    /// An event of `kind` about `item`, other fields empty.
    pub fn new(kind: EventKind, item: impl Into<String>) -> Self {
        Self {
            kind,
            item: Some(item.into()),
            position: None,
            request_id: None,
            dwell_ms: None,
            name: None,
        }
    }

    /// A `custom` event named `name`, without an item.
    pub fn custom(name: impl Into<String>) -> Self {
        Self { item: None, name: Some(name.into()), ..Self::new(EventKind::Custom, "") }
    }
}

/// One upload request, from [`SyncClient::begin_upload`] or [`SyncClient::drain_body`].
/// (Its `Debug` output hides the token.)
#[derive(Clone, PartialEq)]
pub struct Upload {
    /// The ids of the events in the body, oldest first.
    pub ids: Vec<String>,
    /// The request body: an `EventBatch` as JSON.
    pub body: Vec<u8>,
    /// Where to POST it: endpoint + `/v1/events`.
    pub url: String,
    /// The bearer token to send.
    pub token: Option<String>,
    seq: u64,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("ids", &self.ids)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// What [`SyncClient::finish_upload`] did with an answered upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadReport {
    /// Events in the upload.
    pub sent: usize,
    /// Events acknowledged and removed from the queue.
    pub delivered: usize,
    /// The server's reply to a 2xx (`None` when its body was not an `IngestReply`).
    pub reply: Option<IngestReply>,
    /// Events the server refused for good, dropped (see [`SyncClient::rejected`]).
    pub rejected: usize,
    /// True when a 400 or 413 made the client split the batch; the next upload is smaller.
    pub split: bool,
    /// The queue could not be saved after the change (storage still holds the events removed
    /// from memory: they would be re-sent after a reload, and deduplicated by the server).
    pub storage_error: Option<Error>,
}

/// What [`SyncClient::flush`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlushReport {
    /// Requests made.
    pub uploads: usize,
    /// Events acknowledged and removed from the queue.
    pub delivered: usize,
    /// Of those, events the server already held (re-sent after a lost reply).
    pub duplicates: usize,
    /// Events the server refused for good, dropped.
    pub rejected: usize,
    /// The last failure to save the queue, if any (see [`UploadReport::storage_error`]).
    pub storage_error: Option<Error>,
}

/// 400 bisection state: the ids of the last batch refused with 400, and the batch size to
/// try next. Cleared when a lone event is rejected or every suspect was delivered.
#[derive(Debug, Clone)]
struct Isolation {
    suspects: BTreeSet<String>,
    limit: usize,
}

/// The device side of event sync (see the module docs). Not `Clone`: two copies would make
/// the same ids and overwrite each other's queue.
#[derive(Debug)]
pub struct SyncClient {
    config: SyncConfig,
    url: String,
    user: String,
    model_version: Option<String>,
    assignments: BTreeMap<String, String>,
    queue: EventQueue,
    ids: IdGenerator,
    backoff: Backoff,
    size_limit: usize,
    isolation: Option<Isolation>,
    in_flight: Option<u64>,
    seq: u64,
    warnings: Vec<Error>,
}

/// Mixed into the seed of the backoff jitter so it is a different stream from the ids'.
const JITTER_STREAM: u64 = 0x6a09_e667_f3bc_c908;

fn body_reason(response: &HttpResponse) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let text: String = text.chars().take(200).collect();
    if text.trim().is_empty() { format!("HTTP {}", response.status) } else { text }
}

impl SyncClient {
    /// Opens the client: validates `config`, restores the queue and its counters from
    /// `storage`, and — when `config.user` is `None` — the anonymous device id (a UUIDv7 made
    /// on first use and persisted under [`DEVICE_KEY`]). `entropy` seeds ids and jitter (16
    /// bytes from `crypto.getRandomValues`); `now_ms` is the current time.
    ///
    /// A stored queue or device id that cannot be read is replaced and reported in
    /// [`SyncClient::warnings`] ([`Error::StorageCorrupt`]). Errors: [`Error::InvalidArgument`]
    /// for the config or the clock, the storage's errors when it cannot be read or written.
    pub async fn open(
        config: SyncConfig,
        storage: &impl Storage,
        entropy: [u8; 16],
        now_ms: f64,
    ) -> Result<Self> {
        config.validate()?;
        millis(now_ms)?;
        let seed = seed_from_entropy(&entropy);
        let mut ids = IdGenerator::new(seed);
        let mut warnings = Vec::new();
        let (queue, damage) = EventQueue::load(storage, config.max_queue).await?;
        warnings.extend(damage);
        let user = match &config.user {
            Some(user) => user.clone(),
            None => {
                let stored = storage.get(DEVICE_KEY).await?;
                let text = stored.as_deref().map(|b| std::str::from_utf8(b).map(str::to_string));
                match text {
                    Some(Ok(id)) if crate::sync::event::is_uuid_text(&id) => id,
                    other => {
                        if other.is_some() {
                            warnings.push(Error::StorageCorrupt {
                                key: DEVICE_KEY.to_string(),
                                reason: "not a UUID; a new device id was made".into(),
                            });
                        }
                        let id = ids.next_id(now_ms)?;
                        storage.put(DEVICE_KEY, id.as_bytes()).await?;
                        id
                    }
                }
            }
        };
        Ok(Self {
            url: config.events_url(),
            backoff: Backoff::new(
                config.backoff_base_ms,
                config.backoff_cap_ms,
                seed ^ JITTER_STREAM,
            ),
            size_limit: config.batch_size,
            config,
            user,
            model_version: None,
            assignments: BTreeMap::new(),
            queue,
            ids,
            isolation: None,
            in_flight: None,
            seq: 0,
            warnings,
        })
    }

    /// The user every event is attributed to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The configuration the client was opened with (the token as last set).
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Damage found and repaired at [`SyncClient::open`] ([`Error::StorageCorrupt`]).
    pub fn warnings(&self) -> &[Error] {
        &self.warnings
    }

    /// Replaces the bearer token (after an [`Error::Unauthorized`]) and clears the backoff so
    /// the next upload may go at once.
    pub fn set_token(&mut self, token: Option<String>) -> Result<()> {
        let mut config = self.config.clone();
        config.token = token;
        config.validate()?;
        self.config = config;
        self.backoff.succeed();
        Ok(())
    }

    /// The bundle's model version, attached to every event tracked from now on.
    /// [`Error::InvalidArgument`] (`modelVersion`) for text the wire format refuses.
    pub fn set_model_version(&mut self, version: Option<String>) -> Result<()> {
        probe(&self.user, version.as_deref(), &BTreeMap::new())
            .map_err(|r| invalid("modelVersion", r))?;
        self.model_version = version;
        Ok(())
    }

    /// Experiment assignments (layer → `experiment/variant`, e.g. from
    /// [`crate::sync::ExperimentConfig::assign`]), attached to every event tracked from now on.
    /// [`Error::InvalidArgument`] (`experiments`) for more than 32 or text the wire refuses.
    pub fn set_assignments(&mut self, assignments: BTreeMap<String, String>) -> Result<()> {
        probe(&self.user, None, &assignments).map_err(|r| invalid("experiments", r))?;
        self.assignments = assignments;
        Ok(())
    }

    /// The current assignments.
    pub fn assignments(&self) -> &BTreeMap<String, String> {
        &self.assignments
    }

    /// Queues an event and persists the queue before resolving; returns the event's id.
    /// Errors: [`Error::InvalidArgument`] (`event`: the wire format's check failed, `now_ms`),
    /// the storage's error (e.g. [`Error::StorageQuotaExceeded`]) — in every error case nothing
    /// was queued, in memory or in storage.
    pub async fn track(
        &mut self,
        storage: &impl Storage,
        input: EventInput,
        now_ms: f64,
    ) -> Result<String> {
        let ts = millis(now_ms)?;
        let event = Event {
            id: self.ids.next_id(now_ms)?,
            user: self.user.clone(),
            item: input.item,
            kind: input.kind,
            ts,
            position: input.position,
            request_id: input.request_id,
            dwell_ms: input.dwell_ms,
            name: input.name,
            model_version: self.model_version.clone(),
            experiments: self.assignments.clone(),
        };
        event.validate().map_err(|reason| invalid("event", reason))?;
        let id = event.id.clone();
        self.queue.push(storage, event).await?;
        Ok(id)
    }

    /// Events waiting for an acknowledgement (including any in flight).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The queued events, oldest first.
    pub fn queued(&self) -> impl ExactSizeIterator<Item = &Event> {
        self.queue.events()
    }

    /// Events dropped by the queue's overflow policy (persisted).
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Events the server refused for good and that were dropped (persisted).
    pub fn rejected(&self) -> u64 {
        self.queue.rejected()
    }

    /// When the next retry is due after a failure (for the platform's timer); `None` when no
    /// backoff is pending or nothing is queued.
    pub fn next_attempt_at(&self) -> Option<f64> {
        if self.queue.is_empty() { None } else { self.backoff.next_at() }
    }

    /// True while an upload from [`SyncClient::begin_upload`] awaits its
    /// [`SyncClient::finish_upload`].
    pub fn upload_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The batch size the next upload uses (smaller than configured after a 413 or a 400).
    pub fn batch_limit(&self) -> usize {
        let limit = self.config.batch_size.min(self.size_limit);
        self.isolation.as_ref().map_or(limit, |i| limit.min(i.limit))
    }

    /// The oldest queued events, at most `max_events`, whose `EventBatch` JSON fits `max_bytes`
    /// (at least one event when `at_least_one`). `None` when nothing fits.
    fn batch(&self, max_events: usize, max_bytes: usize, at_least_one: bool) -> Option<Upload> {
        const OPEN: &[u8] = b"{\"events\":[";
        const CLOSE: &[u8] = b"]}";
        let mut body = OPEN.to_vec();
        let mut ids = Vec::new();
        for event in self.queue.events().take(max_events) {
            let json = serde_json::to_vec(event).unwrap_or_default();
            let separator = usize::from(!ids.is_empty());
            let fits = body.len() + separator + json.len() + CLOSE.len() <= max_bytes;
            let forced = at_least_one && ids.is_empty();
            if !(fits || forced) {
                break;
            }
            if separator == 1 {
                body.push(b',');
            }
            body.extend_from_slice(&json);
            ids.push(event.id.clone());
        }
        if ids.is_empty() {
            return None;
        }
        body.extend_from_slice(CLOSE);
        Some(Upload { ids, body, url: self.url.clone(), token: self.config.token.clone(), seq: 0 })
    }

    fn begin(&mut self, now_ms: f64, ignore_deadline: bool) -> Option<Upload> {
        if self.in_flight.is_some() || self.queue.is_empty() {
            return None;
        }
        if !ignore_deadline && !self.backoff.ready(now_ms) {
            return None;
        }
        // The suspects of a 400 were the front of the queue and the queue only grows at the
        // back, so when the front is no suspect none is left (delivered, or dropped by the
        // overflow policy): stop bisecting.
        if let (Some(isolation), Some(front)) = (&self.isolation, self.queue.events().next())
            && !isolation.suspects.contains(&front.id)
        {
            self.isolation = None;
        }
        let mut upload = self.batch(self.batch_limit(), MAX_BODY_BYTES, true)?;
        self.seq += 1;
        upload.seq = self.seq;
        self.in_flight = Some(self.seq);
        Some(upload)
    }

    /// Starts an upload of the oldest events (up to [`SyncClient::batch_limit`] and the
    /// server's 1 MiB body limit) and marks it in flight. `None` when nothing is queued, an
    /// upload is already in flight, or a backoff is pending until [`SyncClient::next_attempt_at`].
    /// POST `body` to `url` with `token`, then call [`SyncClient::finish_upload`] — also when
    /// the request failed.
    pub fn begin_upload(&mut self, now_ms: f64) -> Option<Upload> {
        self.begin(now_ms, false)
    }

    /// [`SyncClient::begin_upload`] ignoring a pending backoff: for a flush the application
    /// asked for explicitly (what [`SyncClient::flush`] does with its first try). `None` when
    /// nothing is queued or an upload is in flight.
    pub fn begin_upload_now(&mut self, now_ms: f64) -> Option<Upload> {
        self.begin(now_ms, true)
    }

    /// Applies the outcome of `upload` (see the table in the module docs). `Ok` for a 2xx and
    /// for a 400/413 the client handles itself (split, or a lone poison event dropped); `Err`
    /// when the events stay queued behind a backoff: the transport's error (no response),
    /// [`Error::Unauthorized`] (401/403) or [`Error::HttpStatus`] (anything else).
    pub async fn finish_upload(
        &mut self,
        storage: &impl Storage,
        upload: Upload,
        outcome: Result<HttpResponse>,
        now_ms: f64,
    ) -> Result<UploadReport> {
        if self.in_flight == Some(upload.seq) {
            self.in_flight = None;
        }
        let mut report = UploadReport { sent: upload.ids.len(), ..UploadReport::default() };
        let response = match outcome {
            Ok(response) => response,
            Err(e) => {
                self.backoff.fail(now_ms, None);
                return Err(e);
            }
        };
        match response.status {
            200..=299 => {
                report.reply = serde_json::from_slice(&response.body).ok();
                report.delivered = self.queue.remove(&upload.ids, 0);
                self.backoff.succeed();
            }
            400 | 413 if upload.ids.len() == 1 => {
                // The server will never take this event: drop it rather than retry forever.
                self.queue.remove(&upload.ids, 1);
                report.rejected = 1;
                self.isolation = None;
            }
            400 => {
                let limit = (upload.ids.len() / 2).max(1);
                let suspects = upload.ids.iter().cloned().collect();
                self.isolation = Some(Isolation { suspects, limit });
                report.split = true;
                return Ok(report);
            }
            413 => {
                self.size_limit = (upload.ids.len() / 2).max(1);
                report.split = true;
                return Ok(report);
            }
            401 | 403 => {
                self.backoff.fail(now_ms, response.retry_after_ms);
                let reason = body_reason(&response);
                return Err(Error::Unauthorized { status: response.status, reason });
            }
            status => {
                self.backoff.fail(now_ms, response.retry_after_ms);
                return Err(Error::HttpStatus { status, reason: body_reason(&response) });
            }
        }
        report.storage_error = self.queue.save(storage).await.err();
        Ok(report)
    }

    /// Uploads until the queue is empty: begin, POST, finish, repeat — ignoring a pending
    /// backoff for the first try. Resolves when the server acknowledged every queued event
    /// (poison events aside: those are dropped and counted); stops at the first failure and
    /// returns it, with the events still queued and a backoff scheduled.
    /// [`Error::InvalidArgument`] (`flush`) while a two-phase upload is in flight.
    pub async fn flush(
        &mut self,
        storage: &impl Storage,
        transport: &impl Transport,
        now_ms: f64,
    ) -> Result<FlushReport> {
        if self.in_flight.is_some() {
            return Err(invalid("flush", "an upload is in flight: finish it first"));
        }
        let mut report = FlushReport::default();
        while let Some(mut upload) = self.begin(now_ms, true) {
            let body = std::mem::take(&mut upload.body);
            let outcome = transport.post_json(&upload.url, upload.token.as_deref(), body).await;
            let done = self.finish_upload(storage, upload, outcome, now_ms).await?;
            report.uploads += 1;
            report.delivered += done.delivered;
            report.duplicates += done.reply.map_or(0, |r| r.duplicates);
            report.rejected += done.rejected;
            if done.storage_error.is_some() {
                report.storage_error = done.storage_error;
            }
        }
        Ok(report)
    }

    /// A last upload for page unload (`fetch(url, {keepalive: true, …})`, whose body limit is
    /// 64 KiB; `navigator.sendBeacon` cannot send the `Authorization` header): the oldest events
    /// whose body fits `max_bytes`, at most 500. Nothing changes here — nobody will see the
    /// reply — so those events stay queued and are sent again next time; the server ignores
    /// the ids it already holds. `None` when nothing is queued or the oldest event alone is
    /// larger than `max_bytes`.
    pub fn drain_body(&self, max_bytes: usize) -> Option<Upload> {
        self.batch(MAX_BATCH_EVENTS, max_bytes, false)
    }
}
