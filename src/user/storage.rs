//! Where user state lives between sessions: a small async key–value [`Storage`] trait, so the
//! engine never sees a platform API. Implementations: [`MemoryStorage`] (tests, private
//! browsing fallback), `FileStorage` (native), and the browser's IndexedDB store, which lives
//! in `src/wasm/` and is written in TypeScript (`pkg/src/storage.ts`).
//!
//! Contract every implementation keeps (tested for each):
//! * `put` replaces the value atomically: after a failed `put` the previous value is still
//!   readable (a quota error never leaves half a record);
//! * errors are typed: [`Error::StorageUnavailable`] when the store cannot be opened or used,
//!   [`Error::StorageQuotaExceeded`] when a write is refused for space;
//! * keys are short ASCII strings chosen by the SDK (`"edgerec/user"`, `"edgerec/exposure"`).

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// An async key–value store for the SDK's local state. Not `Send`: browser stores are bound to
/// their thread.
#[allow(async_fn_in_trait)]
pub trait Storage {
    /// The value stored under `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`, replacing any previous value atomically.
    async fn put(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key` (no error when it is absent).
    async fn delete(&self, key: &str) -> Result<()>;
}

/// Storage in memory, with an optional byte quota (to exercise quota handling) and a switch
/// that makes every call fail as unavailable (to exercise private-mode handling).
#[derive(Debug, Default)]
pub struct MemoryStorage {
    entries: RefCell<BTreeMap<String, Vec<u8>>>,
    quota: Option<usize>,
    unavailable: bool,
}

impl MemoryStorage {
    /// An empty store without a quota.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that refuses writes that would take the total stored bytes over `bytes`.
    pub fn with_quota(bytes: usize) -> Self {
        Self { quota: Some(bytes), ..Self::default() }
    }

    /// A store whose every call fails with [`Error::StorageUnavailable`].
    pub fn unavailable() -> Self {
        Self { unavailable: true, ..Self::default() }
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    fn check(&self) -> Result<()> {
        if self.unavailable {
            return Err(Error::StorageUnavailable { reason: "memory store switched off".into() });
        }
        Ok(())
    }
}

impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.check()?;
        Ok(self.entries.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check()?;
        let mut entries = self.entries.borrow_mut();
        if let Some(quota) = self.quota {
            let others: usize =
                entries.iter().filter(|(k, _)| k.as_str() != key).map(|(_, v)| v.len()).sum();
            if others + value.len() > quota {
                return Err(Error::StorageQuotaExceeded {
                    key: key.to_string(),
                    bytes: value.len(),
                });
            }
        }
        entries.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.check()?;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

/// Storage in a directory, one file per key, written to a temporary file and renamed into
/// place so a crash or a full disk never leaves a torn record (native only).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct FileStorage {
    dir: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileStorage {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// [`Error::StorageUnavailable`] when the directory cannot be created.
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::StorageUnavailable { reason: format!("{}: {e}", dir.display()) })?;
        Ok(Self { dir })
    }

    /// The file of `key`: keys are hex-encoded so any key maps to a safe file name.
    fn path(&self, key: &str) -> std::path::PathBuf {
        let name: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(name)
    }

    fn failed(&self, key: &str, bytes: usize, e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Error::StorageQuotaExceeded { key: key.to_string(), bytes }
        } else {
            Error::StorageUnavailable { reason: format!("{}: {e}", self.dir.display()) }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Storage for FileStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed(key, 0, &e)),
        }
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let path = self.path(key);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, value).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.failed(key, value.len(), &e)
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.failed(key, 0, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn contract(store: &impl Storage) {
        assert_eq!(store.get("edgerec/user").await.unwrap(), None);
        store.put("edgerec/user", b"one").await.unwrap();
        store.put("edgerec/user", b"two").await.unwrap();
        assert_eq!(store.get("edgerec/user").await.unwrap().as_deref(), Some(&b"two"[..]));
        store.delete("edgerec/user").await.unwrap();
        store.delete("edgerec/user").await.unwrap();
        assert_eq!(store.get("edgerec/user").await.unwrap(), None);
    }

    #[test]
    fn memory_storage_keeps_the_contract() {
        pollster::block_on(contract(&MemoryStorage::new()));
    }

    #[test]
    fn file_storage_keeps_the_contract() {
        let dir = std::env::temp_dir().join(format!("edgerec-storage-{}", std::process::id()));
        pollster::block_on(contract(&FileStorage::open(&dir).unwrap()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_refused_write_keeps_the_previous_value() {
        let store = MemoryStorage::with_quota(4);
        pollster::block_on(async {
            store.put("k", b"1234").await.unwrap();
            let e = store.put("k", b"12345").await.unwrap_err();
            assert_eq!(e.code(), "STORAGE_QUOTA_EXCEEDED");
            assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"1234"[..]));
        });
    }

    #[test]
    fn an_unavailable_store_says_so() {
        let store = MemoryStorage::unavailable();
        let e = pollster::block_on(store.get("k")).unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
    }
}
