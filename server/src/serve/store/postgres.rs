//! The PostgreSQL store: a small pool of `tokio-postgres` connections. A batch is one
//! `INSERT … SELECT FROM UNNEST(…) ON CONFLICT (id) DO NOTHING` statement (one round trip, one
//! transaction); with PostgreSQL's default `synchronous_commit = on` it is durable when the
//! statement returns.
//!
//! The URL may carry libpq-style parameters, e.g.
//! `postgres://postgres@127.0.0.1:55432/edgerec_test?options=-c%20search_path%3Dmy_schema`
//! keeps the table in `my_schema` (which must exist).

use super::{COLUMNS, InsertOutcome, Row, ScanSender, Store, StoreError, StoreFuture, dedup_batch};
use edgerec::sync::Event;
use futures_util::StreamExt;
use std::sync::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

/// Connections a server keeps open.
pub const DEFAULT_POOL: usize = 8;

use super::SCHEMA;

fn insert_sql() -> String {
    format!(
        "INSERT INTO events ({COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
         $4::text[], $5::int8[], $6::int4[], $7::text[], $8::int8[], $9::text[], $10::text[], \
         $11::text[], $12::int8[]) ON CONFLICT (id) DO NOTHING"
    )
}

/// One pooled connection with its prepared insert.
struct Conn {
    client: Client,
    insert: Statement,
}

/// Events in a PostgreSQL database.
pub struct PostgresStore {
    url: String,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

fn pg(context: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    // `{:#}`-like detail: tokio-postgres puts the server's message in the source.
    move |e| match e.as_db_error() {
        Some(db) => StoreError(format!("{context}: {}", db.message())),
        None => StoreError::wrap(context, e),
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl PostgresStore {
    /// Connects (one connection now, up to `pool` on demand) and creates the table and index.
    pub async fn connect(url: &str, pool: usize) -> Result<Self, StoreError> {
        let store = PostgresStore {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(pool.max(1)),
        };
        let first = store.open_conn().await?;
        first.client.batch_execute(SCHEMA).await.map_err(pg("creating the events table"))?;
        store.put_back(first);
        Ok(store)
    }

    async fn open_conn(&self) -> Result<Conn, StoreError> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, NoTls).await.map_err(|e| {
                StoreError(format!("cannot connect to PostgreSQL at {}: {e}", redact(&self.url)))
            })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        // The table may not exist yet on the very first connection: prepare lazily there.
        let insert = match client.prepare(&insert_sql()).await {
            Ok(s) => s,
            Err(_) => {
                client.batch_execute(SCHEMA).await.map_err(pg("creating the events table"))?;
                client.prepare(&insert_sql()).await.map_err(pg("preparing the insert"))?
            }
        };
        Ok(Conn { client, insert })
    }

    fn put_back(&self, conn: Conn) {
        if !conn.client.is_closed() {
            self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
        }
    }

    /// A pooled connection (waiting for a free one; reconnecting a closed one); it goes back
    /// to the pool when dropped.
    async fn checkout(&self) -> Result<Pooled<'_>, StoreError> {
        let permit =
            self.permits.acquire().await.map_err(|e| StoreError::wrap("connection pool", e))?;
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|c| !c.client.is_closed());
            idle.pop()
        };
        let conn = match pooled {
            Some(c) => c,
            None => self.open_conn().await?,
        };
        Ok(Pooled { store: self, conn: Some(conn), _permit: permit })
    }
}

/// A checked-out connection.
struct Pooled<'a> {
    store: &'a PostgresStore,
    conn: Option<Conn>,
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("pooled connection already returned"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.store.put_back(conn);
        }
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn insert_batch<'a>(&'a self, events: &'a [Event]) -> StoreFuture<'a, InsertOutcome> {
        Box::pin(async move {
            let (mut unique, _) = dedup_batch(events);
            // A fixed lock order: two batches sharing ids cannot deadlock.
            unique.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            let now = super::now_ms();
            let rows: Vec<Row> = unique.iter().map(|e| Row::from_event(e, now)).collect();
            let col = |f: fn(&Row) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let users: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();
            let items = col(|r| r.item.clone());
            let kinds: Vec<String> = rows.iter().map(|r| r.kind.clone()).collect();
            let ts: Vec<i64> = rows.iter().map(|r| r.ts).collect();
            let positions: Vec<Option<i32>> = rows.iter().map(|r| r.position).collect();
            let request_ids = col(|r| r.request_id.clone());
            let dwell: Vec<Option<i64>> = rows.iter().map(|r| r.dwell_ms).collect();
            let names = col(|r| r.name.clone());
            let versions = col(|r| r.model_version.clone());
            let experiments = col(|r| r.experiments.clone());
            let received: Vec<i64> = rows.iter().map(|r| r.received_at).collect();
            let params: [&(dyn ToSql + Sync); 12] = [
                &ids,
                &users,
                &items,
                &kinds,
                &ts,
                &positions,
                &request_ids,
                &dwell,
                &names,
                &versions,
                &experiments,
                &received,
            ];
            let c = self.checkout().await?;
            let written =
                c.client.execute(&c.insert, &params).await.map_err(pg("inserting events"))?;
            let accepted = usize::try_from(written).unwrap_or(usize::MAX).min(events.len());
            Ok(InsertOutcome { accepted, duplicates: events.len() - accepted })
        })
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let c = self.checkout().await?;
            let row = c
                .client
                .query_one("SELECT count(*) FROM events", &[])
                .await
                .map_err(pg("counting events"))?;
            let n: i64 = row.try_get(0).map_err(pg("counting events"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn scan(&self, out: ScanSender) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            {
                let c = self.checkout().await?;
                let stmt = c
                    .client
                    .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY ts, id"))
                    .await
                    .map_err(pg("preparing the export query"))?;
                let rows = c
                    .client
                    .query_raw(&stmt, std::iter::empty::<&(dyn ToSql + Sync)>())
                    .await
                    .map_err(pg("reading events"))?;
                let mut rows = std::pin::pin!(rows);
                while let Some(row) = rows.next().await {
                    let item = row.map_err(pg("reading an event")).and_then(|r| {
                        let get = pg("decoding an event");
                        let row = Row {
                            id: r.try_get(0).map_err(&get)?,
                            user_id: r.try_get(1).map_err(&get)?,
                            item: r.try_get(2).map_err(&get)?,
                            kind: r.try_get(3).map_err(&get)?,
                            ts: r.try_get(4).map_err(&get)?,
                            position: r.try_get(5).map_err(&get)?,
                            request_id: r.try_get(6).map_err(&get)?,
                            dwell_ms: r.try_get(7).map_err(&get)?,
                            name: r.try_get(8).map_err(&get)?,
                            model_version: r.try_get(9).map_err(&get)?,
                            experiments: r.try_get(10).map_err(&get)?,
                            received_at: r.try_get(11).map_err(&get)?,
                        };
                        row.into_stored()
                    });
                    let failed = item.is_err();
                    if out.send(item).await.is_err() || failed {
                        break;
                    }
                }
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
