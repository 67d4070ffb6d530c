//! Helpers for the `edgerec serve` tests: start the built binary on a free port, talk HTTP to
//! it, and look into its database (SQLite file or a fresh PostgreSQL schema).
//!
//! PostgreSQL tests read `EDGEREC_PG_URL` (e.g. `postgres://postgres@127.0.0.1:55432/edgerec_test`,
//! what `scripts/setup.sh postgres` starts). Unset, they are skipped with a message — unless
//! `EDGEREC_REQUIRE_PG=1`, then they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generates one test per store from a function `fn name(db: Db)`:
/// `store_tests!(name, …)` → `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::common::server::Db::sqlite(stringify!($name)));
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                if let Some(db) = super::common::server::Db::postgres(stringify!($name)) {
                    super::$name(db);
                }
            })*
        }
    };
}

/// A running `edgerec serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's log (stderr).
    pub log: PathBuf,
}

impl Server {
    /// Starts `edgerec serve --addr 127.0.0.1:0 ARGS…`, logging to `log`, and waits for the
    /// `listening on` line.
    pub fn start(args: &[&str], log: &Path) -> Server {
        let log_file = std::fs::File::create(log).expect("server log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgerec"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env("EDGEREC_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("edgerec serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let prefix = "edgerec serve listening on ";
        if read.is_err() || !line.starts_with(prefix) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "edgerec serve did not start (stdout {line:?}); log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let url = line[prefix.len()..].trim().to_owned();
        Server { child, url, log: log.to_owned() }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status (a graceful shutdown exits 0).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("edgerec serve did not exit after SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: ureq::http::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body))
        })
    }

    /// The `error` message of a JSON error body, checking the content type.
    pub fn error(&self) -> String {
        assert!(
            self.header("content-type").starts_with("application/json"),
            "error answers are JSON: {self:?}"
        );
        let v = self.json();
        v["error"].as_str().unwrap_or_else(|| panic!("no error message in {v}")).to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, ureq::Error> {
    let mut r = r?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().with_config().limit(64 << 20).read_to_vec()?;
    Ok(Reply { status, headers, body })
}

/// GET with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.call()).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// POST `body` with extra headers; transport errors are returned.
pub fn try_post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<Reply, ureq::Error> {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body))
}

/// POST `body` with extra headers.
pub fn post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    try_post(url, body, headers).unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// Any method, e.g. `OPTIONS` for a CORS preflight.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(()).expect("request");
    reply(agent().run(req)).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// A fresh UUIDv7-shaped id, unique within this process.
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let pid = u64::from(std::process::id());
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        (ms >> 16) as u32,
        ms & 0xffff,
        pid & 0xfff,
        (pid >> 12) & 0xfff,
        n
    )
}

/// A click event with a fresh id.
pub fn click(user: &str, item: &str) -> serde_json::Value {
    serde_json::json!({ "id": new_id(), "user": user, "item": item, "kind": "click",
                        "ts": 1_700_000_000_000u64 })
}

/// `{"events": events}` as bytes.
pub fn batch(events: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "events": events })).expect("batch JSON")
}

/// Where a test's events are stored.
pub enum Db {
    /// A SQLite file in the test's scratch directory.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The scratch directory.
        dir: PathBuf,
    },
    /// A fresh schema in the PostgreSQL database of `EDGEREC_PG_URL`, dropped at the end.
    Postgres {
        /// The base URL.
        base: String,
        /// The schema.
        schema: String,
        /// A scratch directory for logs and files.
        dir: PathBuf,
    },
}

fn pg_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to EDGEREC_PG_URL {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

impl Db {
    /// A SQLite database in a fresh scratch directory named after the test.
    pub fn sqlite(name: &str) -> Db {
        let dir = super::scratch(&format!("sqlite-{name}"));
        Db::Sqlite { path: dir.join("events.db"), dir }
    }

    /// A fresh schema for the test in `EDGEREC_PG_URL`; `None` (after printing why) when the
    /// variable is unset, which fails the test instead when `EDGEREC_REQUIRE_PG=1`.
    pub fn postgres(name: &str) -> Option<Db> {
        let Ok(base) = std::env::var("EDGEREC_PG_URL") else {
            assert!(
                std::env::var("EDGEREC_REQUIRE_PG").as_deref() != Ok("1"),
                "EDGEREC_REQUIRE_PG=1 but EDGEREC_PG_URL is unset: run `scripts/setup.sh postgres` \
                 and export the URL it prints"
            );
            eprintln!(
                "skipped: PostgreSQL test `{name}` (EDGEREC_PG_URL is unset; \
                 `scripts/setup.sh postgres` starts a server)"
            );
            return None;
        };
        let schema = format!(
            "t_{}_{}_{}",
            env!("CARGO_CRATE_NAME"),
            name.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id()
        );
        pg_block_on(async {
            let client = pg_client(&base).await;
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                ))
                .await
                .expect("create the test schema");
        });
        let dir = super::scratch(&format!("pg-{name}"));
        Some(Db::Postgres { base, schema, dir })
    }

    /// The `--db` argument.
    pub fn spec(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Db::Postgres { base, schema, .. } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        }
    }

    /// A scratch directory for this test.
    pub fn dir(&self) -> &Path {
        match self {
            Db::Sqlite { dir, .. } | Db::Postgres { dir, .. } => dir,
        }
    }

    /// Starts a server on this database with extra arguments.
    pub fn serve(&self, args: &[&str]) -> Server {
        let spec = self.spec();
        let mut all = vec!["--db", spec.as_str()];
        all.extend_from_slice(args);
        Server::start(&all, &self.dir().join("server.log"))
    }

    /// How many times each of `ids` is stored, summed (the primary key makes it ≤ 1 each).
    pub fn count_ids(&self, ids: &[String]) -> u64 {
        match self {
            Db::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
                let mut stmt =
                    conn.prepare("SELECT count(*) FROM events WHERE id = ?1").expect("prepare");
                ids.iter()
                    .map(|id| stmt.query_row([id], |r| r.get::<_, i64>(0)).expect("count") as u64)
                    .sum()
            }
            Db::Postgres { base, schema, .. } => pg_block_on(async {
                let client = pg_client(base).await;
                let row = client
                    .query_one(
                        &format!("SELECT count(*) FROM {schema}.events WHERE id = ANY($1)"),
                        &[&ids],
                    )
                    .await
                    .expect("count ids");
                row.get::<_, i64>(0) as u64
            }),
        }
    }

    /// Rows in the table.
    pub fn count(&self) -> u64 {
        match self {
            Db::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
                conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    .expect("count") as u64
            }
            Db::Postgres { base, schema, .. } => pg_block_on(async {
                let client = pg_client(base).await;
                let row = client
                    .query_one(&format!("SELECT count(*) FROM {schema}.events"), &[])
                    .await
                    .expect("count");
                row.get::<_, i64>(0) as u64
            }),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres { base, schema, .. } = self
            && !std::thread::panicking()
        {
            pg_block_on(async {
                let client = pg_client(base).await;
                let _ =
                    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            });
        }
    }
}
