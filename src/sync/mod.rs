//! Sync with the server: the event wire format, the persistent upload queue, model-update
//! polling and experiment assignment. Pure logic over two small platform traits — the
//! [`crate::user::Storage`] the user state already uses, and a `Transport` for HTTP — so it
//! compiles and tests natively; the browser's fetch transport lives in `src/wasm/`.

pub mod event;

pub use event::{
    BatchError, Event, EventBatch, EventKind, IngestReply, MAX_BATCH_EVENTS, MAX_BODY_BYTES,
};
