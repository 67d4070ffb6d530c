//! The event wire format shared by the device and the server (`POST /v1/events`).
//!
//! One definition serves both ends: the SDK builds [`Event`]s and queues them, the server
//! (`edgerec serve`) parses the same type from the request body and stores it. Field names are
//! camelCase on the wire, like every JSON the SDK exchanges with JavaScript.
//!
//! Every event carries a unique `id` (a UUIDv7: time-ordered, so the server's primary key index
//! stays append-mostly) chosen on the device when the event happens. Uploads are at-least-once
//! and the server ignores ids it already holds, so the effect is exactly-once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most events one `POST /v1/events` may carry (larger batches get 413).
pub const MAX_BATCH_EVENTS: usize = 500;
/// The largest request body `POST /v1/events` accepts, in bytes (larger bodies get 413).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Longest accepted `user`, `item`, `requestId`, `name`, `modelVersion`, experiment key/value.
pub const MAX_FIELD_CHARS: usize = 256;
/// Most experiment assignments one event may carry.
pub const MAX_EXPERIMENTS: usize = 32;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The item was displayed at `position` of the list `requestId` returned.
    Impression,
    /// The user opened the item.
    Click,
    /// An explicit positive signal (like, add to cart, rating ≥ 4).
    Like,
    /// The user stayed `dwellMs` on the item.
    Dwell,
    /// An application-defined event named by `name` (item optional).
    Custom,
}

impl EventKind {
    /// The wire name (`"impression"`, `"click"`, …), also the value stored by the server.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::Click => "click",
            EventKind::Like => "like",
            EventKind::Dwell => "dwell",
            EventKind::Custom => "custom",
        }
    }
}

/// One interaction event, as queued on the device and stored by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique id chosen on the device (UUIDv7 text, 36 characters); the server's dedup key.
    pub id: String,
    /// The user (an application id, or the device's anonymous id).
    pub user: String,
    /// The item (required for every kind except `custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// When it happened, milliseconds since the Unix epoch (device clock).
    pub ts: u64,
    /// Impressions: the 0-based position in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The `requestId` of the `recommend()` call whose list the item came from (joins
    /// impressions and clicks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Dwell events: milliseconds spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<u64>,
    /// Custom events: the application's event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The bundle's `model.version` when the event happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Experiment assignments when the event happened: layer → `experiment/variant`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub experiments: BTreeMap<String, String>,
}

/// The body of `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events, at most [`MAX_BATCH_EVENTS`].
    pub events: Vec<Event>,
}

/// The server's answer to an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    /// Events stored by this request.
    pub accepted: usize,
    /// Events whose id the server already held (re-sent after a lost reply): not stored again.
    pub duplicates: usize,
}

fn check_text(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!("{field} is longer than {MAX_FIELD_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

/// True when `id` is a UUID in canonical text form (8-4-4-4-12 lower- or upper-case hex).
pub fn is_uuid_text(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl Event {
    /// Checks what serde cannot: the id's form, field lengths, and the fields each kind needs.
    /// The message names the field, for the server's 400 answer.
    pub fn validate(&self) -> Result<(), String> {
        if !is_uuid_text(&self.id) {
            return Err(format!("id {:?} is not a UUID (8-4-4-4-12 hex)", self.id));
        }
        check_text("user", &self.user)?;
        if let Some(item) = &self.item {
            check_text("item", item)?;
        }
        for (field, value) in [
            ("requestId", &self.request_id),
            ("name", &self.name),
            ("modelVersion", &self.model_version),
        ] {
            if let Some(v) = value {
                check_text(field, v)?;
            }
        }
        if self.experiments.len() > MAX_EXPERIMENTS {
            return Err(format!("more than {MAX_EXPERIMENTS} experiments"));
        }
        for (layer, variant) in &self.experiments {
            check_text("experiments key", layer)?;
            check_text("experiments value", variant)?;
        }
        let kind = self.kind.as_str();
        if self.kind != EventKind::Custom && self.item.is_none() {
            return Err(format!("a {kind} event needs an item"));
        }
        if self.kind == EventKind::Impression && self.position.is_none() {
            return Err("an impression event needs a position".into());
        }
        if self.kind == EventKind::Dwell && self.dwell_ms.is_none() {
            return Err("a dwell event needs dwellMs".into());
        }
        if self.kind == EventKind::Custom && self.name.is_none() {
            return Err("a custom event needs a name".into());
        }
        Ok(())
    }
}

impl EventBatch {
    /// Parses and validates a request body; the message says what is wrong and, for a bad
    /// event, which one (`events[3]: …`). Size limits are the caller's ([`MAX_BODY_BYTES`]
    /// before parsing, [`MAX_BATCH_EVENTS`] after: see [`BatchError`]).
    pub fn parse(body: &[u8]) -> Result<Self, BatchError> {
        let batch: EventBatch =
            serde_json::from_slice(body).map_err(|e| BatchError::Malformed(e.to_string()))?;
        if batch.events.len() > MAX_BATCH_EVENTS {
            return Err(BatchError::TooMany(batch.events.len()));
        }
        for (i, event) in batch.events.iter().enumerate() {
            event
                .validate()
                .map_err(|reason| BatchError::Malformed(format!("events[{i}]: {reason}")))?;
        }
        Ok(batch)
    }
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Not JSON, wrong shape, unknown kind, missing or invalid field (HTTP 400).
    Malformed(String),
    /// More than [`MAX_BATCH_EVENTS`] events (HTTP 413).
    TooMany(usize),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Malformed(m) => write!(f, "{m}"),
            BatchError::TooMany(n) => {
                write!(f, "{n} events in one batch; at most {MAX_BATCH_EVENTS}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click() -> Event {
        Event {
            id: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
            user: "u1".into(),
            item: Some("42".into()),
            kind: EventKind::Click,
            ts: 1_700_000_000_000,
            position: None,
            request_id: Some("abc".into()),
            dwell_ms: None,
            name: None,
            model_version: Some("v1".into()),
            experiments: BTreeMap::from([("ranking".into(), "dpp/theta07".into())]),
        }
    }

    #[test]
    fn round_trips_in_camel_case() {
        let text = serde_json::to_string(&click()).unwrap();
        assert!(text.contains("\"requestId\":\"abc\"") && text.contains("\"modelVersion\""));
        assert!(!text.contains("position"), "absent options are omitted: {text}");
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, click());
    }

    #[test]
    fn each_kind_needs_its_fields() {
        let mut e = click();
        e.kind = EventKind::Impression;
        assert!(e.validate().unwrap_err().contains("position"));
        e.position = Some(3);
        assert!(e.validate().is_ok());
        e.kind = EventKind::Dwell;
        assert!(e.validate().unwrap_err().contains("dwellMs"));
        e.kind = EventKind::Custom;
        e.item = None;
        assert!(e.validate().unwrap_err().contains("name"));
        e.kind = EventKind::Click;
        assert!(e.validate().unwrap_err().contains("item"));
    }

    #[test]
    fn batch_errors_name_the_problem() {
        let err = EventBatch::parse(br#"{"events":[{"id":"x","user":"u","kind":"click","ts":1}]}"#)
            .unwrap_err();
        assert!(
            matches!(&err, BatchError::Malformed(m) if m.starts_with("events[0]: id")),
            "{err}"
        );
        let err = EventBatch::parse(br#"{"events":[{"id":"x","user":"u","kind":"poke","ts":1}]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown variant `poke`"), "{err}");
        let err = EventBatch::parse(b"{not json").unwrap_err();
        assert!(matches!(err, BatchError::Malformed(_)));
        let many = EventBatch { events: vec![click(); MAX_BATCH_EVENTS + 1] };
        let err = EventBatch::parse(&serde_json::to_vec(&many).unwrap()).unwrap_err();
        assert_eq!(err, BatchError::TooMany(MAX_BATCH_EVENTS + 1));
    }
}
