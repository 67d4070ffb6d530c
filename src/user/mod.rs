//! The user model on the device: recent interactions, the user embedding computed from them by
//! the bundle's user tower, a per-user residual fine-tuned from the session's clicks, interest
//! statistics, and persistence behind the [`Storage`] trait.
//!
//! - [`UserState`]: plain, serializable data (history, residual, interests, counters) with a
//!   versioned encoding ([`UserState::to_bytes`] / [`UserState::from_bytes`]).
//! - [`UserModel`]: built once per bundle; reads and updates a state — [`UserModel::record`],
//!   [`UserModel::query`] (the recall vector), [`UserModel::seeds`] (item-to-item seeds),
//!   [`UserModel::consumed_rows`], [`UserModel::migrate`] (after a bundle change). The GPU
//!   variants take a [`GpuUserModel`].
//! - [`save`] / [`load`] / [`forget`]: the state under [`USER_STATE_KEY`] in any [`Storage`].
//!
//! ```
//! use edgerec::bundle::{Bundle, LoadOptions};
//! use edgerec::user::{Interaction, UserConfig, UserModel, UserState};
//!
//! # fn main() -> edgerec::Result<()> {
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/movielens-small");
//! let bundle = Bundle::open(&dir, &LoadOptions::default())?;
//! let model = UserModel::from_bundle(&bundle, UserConfig::default())?;
//! let mut state = UserState::new();
//! assert_eq!(model.query(&state)?, None); // a cold user
//! let now = 1_700_000_000_000.0;
//! model.record(&mut state, &Interaction::click("1", now), now)?; // Toy Story
//! let query = model.query(&state)?.expect("one click is enough");
//! assert_eq!(query.len(), model.dim());
//! let restored = UserState::from_bytes(&state.to_bytes())?;
//! assert_eq!(restored, state);
//! # Ok(())
//! # }
//! ```

mod config;
#[cfg(feature = "gpu")]
mod gpu;
mod model;
mod sampler;
mod state;
pub mod storage;

pub use config::{DEFAULT_HISTORY, FineTuneConfig, MAX_HISTORY_CAPACITY, UserConfig};
#[cfg(feature = "gpu")]
pub use gpu::GpuUserModel;
pub use model::{HISTORY_TENSOR, MigrationReport, StepReport, UserModel};
pub use sampler::NegativeSampler;
pub use state::{
    DEFAULT_HALF_LIFE_MS, FULL_DWELL_MS, Interaction, InteractionKind, MAX_INTERESTS, ModelStamp,
    StoredInteraction, USER_STATE_KEY, USER_STATE_SCHEMA, UserCounters, UserState,
};
#[cfg(not(target_arch = "wasm32"))]
pub use storage::FileStorage;
pub use storage::{MemoryStorage, Storage};

use crate::error::Result;

/// Saves `state` under [`USER_STATE_KEY`]. The storage replaces the value atomically, so a
/// refused write leaves the previous value readable; `state` itself is never touched.
///
/// # Errors
/// [`crate::Error::StorageQuotaExceeded`], [`crate::Error::StorageUnavailable`].
pub async fn save(storage: &impl Storage, state: &UserState) -> Result<()> {
    storage.put(USER_STATE_KEY, &state.to_bytes()).await
}

/// The state saved under [`USER_STATE_KEY`], or `None` when nothing is stored. Call
/// [`UserModel::migrate`] on it before use.
///
/// # Errors
/// [`crate::Error::StorageUnavailable`]; [`crate::Error::StorageCorrupt`] for unreadable bytes
/// or a schema newer than this SDK (the caller may [`forget`] it and start cold).
pub async fn load(storage: &impl Storage) -> Result<Option<UserState>> {
    match storage.get(USER_STATE_KEY).await? {
        Some(bytes) => UserState::from_bytes(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Deletes the saved state (no error when there is none).
///
/// # Errors
/// [`crate::Error::StorageUnavailable`].
pub async fn forget(storage: &impl Storage) -> Result<()> {
    storage.delete(USER_STATE_KEY).await
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::error::Error;
    use pollster::block_on;

    fn some_state() -> UserState {
        let mut s = UserState::new();
        s.insert(
            StoredInteraction { item: "42".into(), kind: InteractionKind::Like, timestamp_ms: 5.0 },
            10,
        );
        s
    }

    #[test]
    fn save_load_forget() {
        let store = MemoryStorage::new();
        block_on(async {
            assert_eq!(load(&store).await.unwrap(), None);
            save(&store, &some_state()).await.unwrap();
            assert_eq!(load(&store).await.unwrap(), Some(some_state()));
            forget(&store).await.unwrap();
            forget(&store).await.unwrap();
            assert_eq!(load(&store).await.unwrap(), None);
        });
    }

    #[test]
    fn a_refused_write_keeps_both_copies() {
        let first = UserState::new();
        let bytes = first.to_bytes().len();
        let store = MemoryStorage::with_quota(bytes);
        block_on(async {
            save(&store, &first).await.unwrap();
            let bigger = some_state();
            let e = save(&store, &bigger).await.unwrap_err();
            assert!(matches!(e, Error::StorageQuotaExceeded { .. }), "{e:?}");
            assert_eq!(load(&store).await.unwrap(), Some(first));
            assert_eq!(bigger, some_state());
        });
    }

    #[test]
    fn unavailable_and_corrupt_storage_are_typed() {
        let e = block_on(load(&MemoryStorage::unavailable())).unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
        let e = block_on(save(&MemoryStorage::unavailable(), &UserState::new())).unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
        let store = MemoryStorage::new();
        block_on(store.put(USER_STATE_KEY, b"{not json")).unwrap();
        let e = block_on(load(&store)).unwrap_err();
        assert!(matches!(&e, Error::StorageCorrupt { key, .. } if key == USER_STATE_KEY), "{e:?}");
    }
}
