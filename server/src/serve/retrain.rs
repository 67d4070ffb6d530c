//! `edgerec serve --retrain-every N`: after every N newly stored events, retrain from the seed
//! data plus every stored event (`edgerec train --from-db`), then publish the new bundle so open
//! pages pick it up on their next poll.
//!
//! Training runs as a child process (`edgerec train`, the same binary): a crash or an
//! out-of-memory kill there never takes the server down, and the server's runtime threads stay
//! free for ingest. The bundle is written to a hidden temporary directory (hidden names are
//! never served), moved into place when complete, and published by renaming a temporary file
//! onto `LATEST` — each step atomic, so a reader sees the old version or the new one.

use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Flags of `edgerec serve` that configure retraining.
#[derive(Args, Debug, Clone)]
pub struct RetrainArgs {
    /// Retrain and publish a new model version after every N newly stored events (needs
    /// `--models`, `--seed-interactions` and `--seed-items`).
    #[arg(long, value_name = "N", requires_all = ["models", "seed_interactions", "seed_items"])]
    pub retrain_every: Option<u64>,
    /// Also retrain every S seconds when any event was stored since the last retraining (a
    /// schedule for quiet periods; needs `--retrain-every`).
    #[arg(long, value_name = "S", requires = "retrain_every")]
    pub retrain_interval_secs: Option<u64>,
    /// The interactions CSV training starts from (e.g. MovieLens' ratings.csv); stored events
    /// are added to it.
    #[arg(long, value_name = "CSV")]
    pub seed_interactions: Option<PathBuf>,
    /// The items CSV (e.g. movies.csv).
    #[arg(long, value_name = "CSV")]
    pub seed_items: Option<PathBuf>,
    /// Extra arguments passed to `edgerec train` (e.g. `--retrain-arg=--epochs --retrain-arg=2`).
    #[arg(long = "retrain-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub retrain_args: Vec<String>,
}

/// Counts stored events and runs one retraining at a time.
#[derive(Debug)]
pub struct Retrainer {
    every: u64,
    db: String,
    models: PathBuf,
    interactions: PathBuf,
    items: PathBuf,
    extra: Vec<String>,
    interval: Option<std::time::Duration>,
    since_last: AtomicU64,
    running: AtomicBool,
    published: AtomicU64,
}

impl Retrainer {
    /// A retrainer for `args`, or `None` when `--retrain-every` is not set.
    ///
    /// # Errors
    /// A message when a required flag is missing or N is 0.
    pub fn from_args(
        args: &RetrainArgs,
        db: &str,
        models: Option<&Path>,
    ) -> Result<Option<Arc<Self>>, String> {
        let Some(every) = args.retrain_every else { return Ok(None) };
        if every == 0 {
            return Err("--retrain-every must be ≥ 1".into());
        }
        let need = |v: Option<&Path>, flag: &str| {
            v.map(Path::to_path_buf).ok_or_else(|| format!("--retrain-every needs {flag}"))
        };
        Ok(Some(Arc::new(Self {
            every,
            db: db.to_string(),
            models: need(models, "--models")?,
            interactions: need(args.seed_interactions.as_deref(), "--seed-interactions")?,
            items: need(args.seed_items.as_deref(), "--seed-items")?,
            extra: args.retrain_args.clone(),
            interval: match args.retrain_interval_secs {
                Some(0) => return Err("--retrain-interval-secs must be ≥ 1".into()),
                other => other.map(std::time::Duration::from_secs),
            },
            since_last: AtomicU64::new(0),
            running: AtomicBool::new(false),
            published: AtomicU64::new(0),
        })))
    }

    /// Versions published since the server started.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }

    /// True while a retraining runs.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Called after a batch stored `accepted` new events: starts a retraining in the background
    /// when N have accumulated and none is running (events arriving meanwhile count toward the
    /// next one).
    pub fn on_stored(self: &Arc<Self>, accepted: usize) {
        if accepted == 0 {
            return;
        }
        let total = self.since_last.fetch_add(accepted as u64, Ordering::SeqCst) + accepted as u64;
        if total >= self.every {
            self.start();
        }
    }

    /// Runs the `--retrain-interval-secs` schedule until the server stops: every S seconds,
    /// retrain if anything was stored since the last retraining.
    pub fn spawn_schedule(self: &Arc<Self>) {
        let Some(period) = self.interval else { return };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                if this.since_last.load(Ordering::SeqCst) > 0 {
                    this.start();
                }
            }
        });
    }

    /// Starts a retraining unless one is running (events stored meanwhile count toward the next).
    fn start(self: &Arc<Self>) {
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        self.since_last.store(0, Ordering::SeqCst);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let started = Instant::now();
            match this.retrain().await {
                Ok(version) => {
                    this.published.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(
                        version,
                        seconds = started.elapsed().as_secs_f32(),
                        "retrained and published a new model version"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "retraining failed; the current version stays")
                }
            }
            this.running.store(false, Ordering::SeqCst);
        });
    }

    async fn retrain(&self) -> Result<String, String> {
        let version = format!("r{}", super::store::now_ms());
        let tmp = self.models.join(format!(".{version}.tmp"));
        let exe = std::env::current_exe().map_err(|e| format!("cannot find edgerec: {e}"))?;
        tracing::info!(version, "retraining from the seed data and the stored events");
        let output = tokio::process::Command::new(exe)
            .arg("train")
            .arg("--interactions")
            .arg(&self.interactions)
            .arg("--items")
            .arg(&self.items)
            .args(["--from-db", &self.db, "--model-version", &version, "--quiet", "--out"])
            .arg(&tmp)
            .args(&self.extra)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot start edgerec train: {e}"))?;
        if !output.status.success() {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String =
                stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(format!("edgerec train exited with {}: {tail}", output.status));
        }
        let dir = self.models.join(&version);
        tokio::fs::rename(&tmp, &dir)
            .await
            .map_err(|e| format!("cannot move the bundle into {}: {e}", dir.display()))?;
        publish(&self.models, &version).await?;
        Ok(version)
    }
}

/// Makes `version` the latest: writes a temporary file and renames it onto `LATEST`.
///
/// # Errors
/// A message when the file cannot be written or renamed.
pub async fn publish(models: &Path, version: &str) -> Result<(), String> {
    let tmp = models.join(format!(".LATEST.{}", std::process::id()));
    tokio::fs::write(&tmp, format!("{version}\n"))
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let file = tokio::fs::File::open(&tmp).await.map_err(|e| e.to_string())?;
    file.sync_all().await.map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
    tokio::fs::rename(&tmp, models.join("LATEST"))
        .await
        .map_err(|e| format!("cannot publish {version}: {e}"))
}
