//! `edgerec events export`: the stored events of a `serve` database as JSON Lines (the wire
//! format, one event per line) or Parquet (the table's columns), ordered by `(ts, id)`.

use crate::serve::store::{self, Row, StoreError, StoredEvent};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use clap::{Args, Subcommand};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `edgerec events`.
#[derive(Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    what: EventsWhat,
}

#[derive(Subcommand)]
enum EventsWhat {
    /// Write every stored event to FILE.jsonl (wire format) or FILE.parquet (table columns,
    /// `experiments` as a JSON string), ordered by (ts, id).
    Export {
        /// Event store: `sqlite:PATH` or `postgres://user@host:port/db`.
        #[arg(long, default_value = "sqlite:edgerec-events.db")]
        db: String,
        /// Output file; the extension picks the format: `.jsonl` / `.ndjson` or `.parquet`.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLines,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Self, String> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson") => Ok(Format::JsonLines),
            Some("parquet") => Ok(Format::Parquet),
            _ => Err(format!(
                "--out {}: the file name must end in .jsonl, .ndjson or .parquet",
                path.display()
            )),
        }
    }
}

/// Runs `edgerec events …`.
pub fn run(args: &EventsArgs) -> Result<(), String> {
    match &args.what {
        EventsWhat::Export { db, out } => {
            let format = Format::of(out)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))?;
            let n = runtime.block_on(export(db, out, format))?;
            println!("wrote {n} events to {}", out.display());
            Ok(())
        }
    }
}

/// Where events go.
trait Sink {
    fn push(&mut self, event: StoredEvent) -> Result<(), String>;
    fn finish(self: Box<Self>) -> Result<(), String>;
}

async fn export(db: &str, out: &Path, format: Format) -> Result<u64, String> {
    let store = store::open(db).await.map_err(|e| e.to_string())?;
    // Write beside the target, rename when complete: a failed export leaves no half file.
    let tmp = out.with_extension(format!(
        "{}.tmp",
        out.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    let file = File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut sink: Box<dyn Sink> = match format {
        Format::JsonLines => Box::new(JsonLines(BufWriter::new(file))),
        Format::Parquet => Box::new(ParquetSink::new(file)?),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<StoredEvent, StoreError>>(1024);
    let consume = async {
        let mut n = 0u64;
        while let Some(item) = rx.recv().await {
            sink.push(item.map_err(|e| e.to_string())?)?;
            n += 1;
        }
        Ok::<_, String>(n)
    };
    let (scanned, written) = tokio::join!(store.scan(tx), consume);
    let result = scanned.map_err(|e| e.to_string()).and(written).and_then(|n| {
        sink.finish()?;
        std::fs::rename(&tmp, out)
            .map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), out.display()))?;
        Ok(n)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

struct JsonLines(BufWriter<File>);

impl Sink for JsonLines {
    fn push(&mut self, event: StoredEvent) -> Result<(), String> {
        serde_json::to_writer(&mut self.0, &event.event)
            .map_err(|e| format!("writing JSON: {e}"))?;
        self.0.write_all(b"\n").map_err(|e| format!("writing: {e}"))
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        let file = self.0.into_inner().map_err(|e| format!("writing: {}", e.error()))?;
        file.sync_all().map_err(|e| format!("writing: {e}"))
    }
}

/// Rows per Parquet row group (and per Arrow batch handed to the writer).
const ROWS_PER_BATCH: usize = 16 * 1024;

struct ParquetSink {
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    rows: Vec<Row>,
}

/// The Parquet schema: the table's columns.
fn schema() -> Arc<Schema> {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("id", false),
        text("user_id", false),
        text("item", true),
        text("kind", false),
        Field::new("ts", DataType::Int64, false),
        Field::new("position", DataType::Int32, true),
        text("request_id", true),
        Field::new("dwell_ms", DataType::Int64, true),
        text("name", true),
        text("model_version", true),
        text("experiments", true),
        Field::new("received_at", DataType::Int64, false),
    ]))
}

impl ParquetSink {
    fn new(file: File) -> Result<Self, String> {
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_size(ROWS_PER_BATCH)
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
            .map_err(|e| format!("starting the Parquet file: {e}"))?;
        Ok(ParquetSink { writer, schema, rows: Vec::with_capacity(ROWS_PER_BATCH) })
    }

    fn flush_rows(&mut self) -> Result<(), String> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let strings = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let columns: Vec<ArrayRef> = vec![
            strings(|r| Some(r.id.as_str())),
            strings(|r| Some(r.user_id.as_str())),
            strings(|r| r.item.as_deref()),
            strings(|r| Some(r.kind.as_str())),
            Arc::new(rows.iter().map(|r| r.ts).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.position).collect::<Int32Array>()),
            strings(|r| r.request_id.as_deref()),
            Arc::new(rows.iter().map(|r| r.dwell_ms).collect::<Int64Array>()),
            strings(|r| r.name.as_deref()),
            strings(|r| r.model_version.as_deref()),
            strings(|r| r.experiments.as_deref()),
            Arc::new(rows.iter().map(|r| r.received_at).collect::<Int64Array>()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| format!("building a Parquet batch: {e}"))?;
        self.writer.write(&batch).map_err(|e| format!("writing Parquet: {e}"))?;
        self.rows = rows;
        self.rows.clear();
        Ok(())
    }
}

impl Sink for ParquetSink {
    fn push(&mut self, event: StoredEvent) -> Result<(), String> {
        self.rows.push(Row::from_event(&event.event, event.received_at));
        if self.rows.len() >= ROWS_PER_BATCH { self.flush_rows() } else { Ok(()) }
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        self.flush_rows()?;
        let file = self.writer.into_inner().map_err(|e| format!("finishing Parquet: {e}"))?;
        file.sync_all().map_err(|e| format!("writing: {e}"))
    }
}
