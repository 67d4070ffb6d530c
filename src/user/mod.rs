//! The user model on the device: recent interactions, the user embedding computed from them by
//! the bundle's user tower, a per-user residual fine-tuned from the session's clicks, interest
//! statistics, and persistence behind the [`Storage`] trait.

pub mod storage;

pub use storage::{MemoryStorage, Storage};
#[cfg(not(target_arch = "wasm32"))]
pub use storage::FileStorage;
