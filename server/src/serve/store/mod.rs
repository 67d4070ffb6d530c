//! Event storage behind `edgerec serve` and `edgerec events export`: one [`Store`] trait, two
//! implementations (SQLite, PostgreSQL) with the same schema.
//!
//! ```sql
//! CREATE TABLE events (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, item TEXT NULL,
//!   kind TEXT NOT NULL, ts BIGINT NOT NULL, position INTEGER NULL, request_id TEXT NULL,
//!   dwell_ms BIGINT NULL, name TEXT NULL, model_version TEXT NULL,
//!   experiments TEXT NULL /* JSON object */, received_at BIGINT NOT NULL);
//! CREATE INDEX events_user_ts ON events (user_id, ts);
//! ```
//!
//! A batch is written in one transaction that is durable before [`Store::insert_batch`]
//! returns, so an acknowledged event survives a crash of the server.

mod postgres;
mod sqlite;

use edgerec::sync::{Event, EventKind};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A storage failure (connection, I/O, SQL), with a message for logs and the 500 answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// Prefixes `context` to any displayable error.
    pub fn wrap(context: &str, e: impl std::fmt::Display) -> Self {
        StoreError(format!("{context}: {e}"))
    }
}

/// The future every [`Store`] method returns (boxed so that the trait stays object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where [`Store::scan`] sends the stored events, in `(ts, id)` order.
pub type ScanSender = tokio::sync::mpsc::Sender<Result<StoredEvent, StoreError>>;

/// What one [`Store::insert_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertOutcome {
    /// Rows written by this call.
    pub accepted: usize,
    /// Events whose id was already stored (or repeated earlier in the same batch).
    pub duplicates: usize,
}

/// An event as stored: the wire event plus the server's receive time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The event as the device sent it.
    pub event: Event,
    /// When the server stored it, milliseconds since the Unix epoch.
    pub received_at: i64,
}

/// The event table, implemented for SQLite ([`SqliteStore`]) and PostgreSQL
/// ([`PostgresStore`]).
pub trait Store: Send + Sync {
    /// `"sqlite"` or `"postgres"`, for logs.
    fn backend(&self) -> &'static str;

    /// Stores `events` (already validated, see [`check_storable`]) in one durable transaction:
    /// ids already present, or repeated within `events`, are counted as duplicates and not
    /// written again. Nothing is written when it fails.
    fn insert_batch<'a>(&'a self, events: &'a [Event]) -> StoreFuture<'a, InsertOutcome>;

    /// Number of stored events.
    fn count(&self) -> StoreFuture<'_, u64>;

    /// Sends every stored event to `out` in `(ts, id)` order, streaming (bounded memory); stops
    /// early without error when the receiver is dropped.
    fn scan(&self, out: ScanSender) -> StoreFuture<'_, ()>;
}

/// Opens the store named by `spec`: `sqlite:PATH` (the file is created if missing) or a
/// `postgres://…` / `postgresql://…` URL. Creates the table and index if they are missing.
/// Must be called inside a tokio runtime (PostgreSQL connections are driven by it).
pub async fn open(spec: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(StoreError("--db sqlite: needs a file path (sqlite:PATH)".into()));
        }
        let path = std::path::PathBuf::from(path);
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .map_err(|e| StoreError::wrap("opening SQLite", e))??;
        Ok(Arc::new(store))
    } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(spec, postgres::DEFAULT_POOL).await?))
    } else {
        Err(StoreError(format!(
            "unsupported --db {spec:?}: use sqlite:PATH or postgres://user@host:port/database"
        )))
    }
}

/// The one schema both stores create (the same SQL runs on SQLite and PostgreSQL), so a
/// database moves between them with a plain export/import.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    item TEXT NULL,
    kind TEXT NOT NULL,
    ts BIGINT NOT NULL,
    position INTEGER NULL,
    request_id TEXT NULL,
    dwell_ms BIGINT NULL,
    name TEXT NULL,
    model_version TEXT NULL,
    experiments TEXT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_id, ts);
";

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks what the table's column types need beyond [`Event::validate`]: `ts` and `dwellMs`
/// fit a signed 64-bit integer, `position` a signed 32-bit one. The message names the field.
pub fn check_storable(event: &Event) -> Result<(), String> {
    if i64::try_from(event.ts).is_err() {
        return Err(format!("ts {} is out of range (at most {})", event.ts, i64::MAX));
    }
    if let Some(d) = event.dwell_ms
        && i64::try_from(d).is_err()
    {
        return Err(format!("dwellMs {d} is out of range (at most {})", i64::MAX));
    }
    if let Some(p) = event.position
        && i32::try_from(p).is_err()
    {
        return Err(format!("position {p} is out of range (at most {})", i32::MAX));
    }
    Ok(())
}

/// Splits `events` into the first occurrence of each id (to insert) and the number of repeats.
pub fn dedup_batch(events: &[Event]) -> (Vec<&Event>, usize) {
    let mut seen = HashSet::with_capacity(events.len());
    let unique: Vec<&Event> = events.iter().filter(|e| seen.insert(e.id.as_str())).collect();
    let repeats = events.len() - unique.len();
    (unique, repeats)
}

/// One row in column form: what both stores bind and read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `id`.
    pub id: String,
    /// `user_id`.
    pub user_id: String,
    /// `item`.
    pub item: Option<String>,
    /// `kind` (the wire name).
    pub kind: String,
    /// `ts`.
    pub ts: i64,
    /// `position`.
    pub position: Option<i32>,
    /// `request_id`.
    pub request_id: Option<String>,
    /// `dwell_ms`.
    pub dwell_ms: Option<i64>,
    /// `name`.
    pub name: Option<String>,
    /// `model_version`.
    pub model_version: Option<String>,
    /// `experiments`: a JSON object, NULL when there are none.
    pub experiments: Option<String>,
    /// `received_at`.
    pub received_at: i64,
}

impl Row {
    /// The row for `event` received at `received_at`. Values out of the columns' range are
    /// clamped; [`check_storable`] refuses them before this is reached.
    pub fn from_event(event: &Event, received_at: i64) -> Self {
        Row {
            id: event.id.clone(),
            user_id: event.user.clone(),
            item: event.item.clone(),
            kind: event.kind.as_str().to_owned(),
            ts: i64::try_from(event.ts).unwrap_or(i64::MAX),
            position: event.position.map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
            request_id: event.request_id.clone(),
            dwell_ms: event.dwell_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
            name: event.name.clone(),
            model_version: event.model_version.clone(),
            experiments: if event.experiments.is_empty() {
                None
            } else {
                serde_json::to_string(&event.experiments).ok()
            },
            received_at,
        }
    }

    /// The stored event back; fails on a row the server could not have written (unknown kind,
    /// negative numbers, an `experiments` value that is not a JSON object of strings).
    pub fn into_stored(self) -> Result<StoredEvent, StoreError> {
        let bad = |what: String| StoreError(format!("event {}: {what}", self.id));
        let kind: EventKind = serde_json::from_value(serde_json::Value::String(self.kind.clone()))
            .map_err(|_| bad(format!("unknown kind {:?}", self.kind)))?;
        let ts = u64::try_from(self.ts).map_err(|_| bad(format!("negative ts {}", self.ts)))?;
        let position = match self.position {
            Some(p) => Some(u32::try_from(p).map_err(|_| bad(format!("negative position {p}")))?),
            None => None,
        };
        let dwell_ms = match self.dwell_ms {
            Some(d) => Some(u64::try_from(d).map_err(|_| bad(format!("negative dwell_ms {d}")))?),
            None => None,
        };
        let experiments: BTreeMap<String, String> = match &self.experiments {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| bad(format!("experiments is not a JSON object of strings: {e}")))?,
            None => BTreeMap::new(),
        };
        Ok(StoredEvent {
            event: Event {
                id: self.id,
                user: self.user_id,
                item: self.item,
                kind,
                ts,
                position,
                request_id: self.request_id,
                dwell_ms,
                name: self.name,
                model_version: self.model_version,
                experiments,
            },
            received_at: self.received_at,
        })
    }
}

/// The column list, in [`Row`] order, shared by both stores' SQL.
pub const COLUMNS: &str = "id, user_id, item, kind, ts, position, request_id, dwell_ms, name, \
                           model_version, experiments, received_at";
