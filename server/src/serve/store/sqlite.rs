//! The SQLite store: one connection behind a mutex, used from tokio's blocking pool. WAL mode
//! with `synchronous=FULL`, so a committed batch is on disk before the reply is sent.

use super::{COLUMNS, InsertOutcome, Row, ScanSender, Store, StoreError, StoreFuture, dedup_batch};
use edgerec::sync::Event;
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::SCHEMA;

/// Events in a SQLite file (created if missing).
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn sql(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::wrap(context, e)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, switches it to WAL with full fsync, and creates
    /// the table and index. Blocking.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| {
            StoreError(format!("cannot open SQLite database {}: {e}", path.display()))
        })?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql("setting WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "{}: SQLite refused WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")
            .map_err(sql("setting pragmas"))?;
        conn.execute_batch(SCHEMA).map_err(sql("creating the events table"))?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)) })
    }

    fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on
        // drop), so the connection is still usable.
        conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert_blocking(conn: &Mutex<Connection>, rows: &[Row]) -> Result<usize, StoreError> {
        let mut conn = Self::lock(conn);
        let tx = conn.transaction().map_err(sql("beginning a transaction"))?;
        let mut accepted = 0;
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                     ?10, ?11, ?12) ON CONFLICT(id) DO NOTHING"
                ))
                .map_err(sql("preparing the insert"))?;
            for r in rows {
                accepted += stmt
                    .execute(params![
                        r.id,
                        r.user_id,
                        r.item,
                        r.kind,
                        r.ts,
                        r.position,
                        r.request_id,
                        r.dwell_ms,
                        r.name,
                        r.model_version,
                        r.experiments,
                        r.received_at
                    ])
                    .map_err(sql("inserting an event"))?;
            }
        }
        tx.commit().map_err(sql("committing the batch"))?;
        Ok(accepted)
    }

    fn scan_blocking(conn: &Mutex<Connection>, out: &ScanSender) -> Result<(), StoreError> {
        let conn = Self::lock(conn);
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY ts, id"))
            .map_err(sql("preparing the export query"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    item: r.get(2)?,
                    kind: r.get(3)?,
                    ts: r.get(4)?,
                    position: r.get(5)?,
                    request_id: r.get(6)?,
                    dwell_ms: r.get(7)?,
                    name: r.get(8)?,
                    model_version: r.get(9)?,
                    experiments: r.get(10)?,
                    received_at: r.get(11)?,
                })
            })
            .map_err(sql("reading events"))?;
        for row in rows {
            let item = row.map_err(sql("reading an event")).and_then(Row::into_stored);
            let failed = item.is_err();
            if out.blocking_send(item).is_err() || failed {
                break;
            }
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::wrap("SQLite worker failed", e))?
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert_batch<'a>(&'a self, events: &'a [Event]) -> StoreFuture<'a, InsertOutcome> {
        Box::pin(async move {
            let (unique, _) = dedup_batch(events);
            let now = super::now_ms();
            let rows: Vec<Row> = unique.iter().map(|e| Row::from_event(e, now)).collect();
            let conn = Arc::clone(&self.conn);
            let accepted = blocking(move || Self::insert_blocking(&conn, &rows)).await?;
            Ok(InsertOutcome { accepted, duplicates: events.len().saturating_sub(accepted) })
        })
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = Arc::clone(&self.conn);
            blocking(move || {
                let n: i64 = Self::lock(&conn)
                    .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                    .map_err(sql("counting events"))?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
        })
    }

    fn scan(&self, out: ScanSender) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = Arc::clone(&self.conn);
            blocking(move || Self::scan_blocking(&conn, &out)).await
        })
    }
}
