//! Sync with the server: the event wire format, the persistent upload queue, model-update
//! polling and experiment assignment. Pure logic over two small platform traits — the
//! [`crate::user::Storage`] the user state already uses, and a `Transport` for HTTP — so it
//! compiles and tests natively; the browser's fetch transport lives in `src/wasm/`.

pub mod backoff;
pub mod client;
pub mod event;
pub mod experiments;
pub mod ids;
pub mod queue;
pub mod transport;

pub use backoff::{Backoff, parse_retry_after};
pub use client::{
    DEVICE_KEY, EventInput, FlushReport, SyncClient, SyncConfig, Upload, UploadReport,
};
pub use event::{
    BatchError, Event, EventBatch, EventKind, IngestReply, MAX_BATCH_EVENTS, MAX_BODY_BYTES,
};
pub use experiments::{Assignment, ExperimentConfig, bucket, merge_options};
pub use ids::IdGenerator;
pub use queue::{EventQueue, QUEUE_KEY};
pub use transport::{HttpResponse, MockReply, MockRequest, MockTransport, Transport};
