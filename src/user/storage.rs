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

    /// Stores every `(key, value)` as one change: after an error *none* of them was written,
    /// so the stored generation stays whole (one IndexedDB transaction in the browser; files
    /// written first and renamed into place natively). The default writes one by one — correct
    /// only for a single entry; every store of this crate overrides it.
    async fn put_all(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        for (key, value) in entries {
            self.put(key, value).await?;
        }
        Ok(())
    }
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

    async fn put_all(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        self.check()?;
        let mut stored = self.entries.borrow_mut();
        if let Some(quota) = self.quota {
            let replaced = |k: &str| entries.iter().any(|(e, _)| *e == k);
            let kept: usize =
                stored.iter().filter(|(k, _)| !replaced(k)).map(|(_, v)| v.len()).sum();
            let new: usize = entries.iter().map(|(_, v)| v.len()).sum();
            if kept + new > quota {
                let (key, value) = entries.last().copied().unwrap_or(("", &[]));
                return Err(Error::StorageQuotaExceeded {
                    key: key.to_string(),
                    bytes: value.len(),
                });
            }
        }
        for (key, value) in entries {
            stored.insert(key.to_string(), value.to_vec());
        }
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

    async fn put_all(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        // Every byte is written before anything is renamed: a full disk fails a write, and
        // then no key has changed. Renames within one directory do not need space.
        let mut written = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let path = self.path(key);
            let tmp = path.with_extension("tmp");
            if let Err(e) = std::fs::write(&tmp, value) {
                let _ = std::fs::remove_file(&tmp);
                for (t, _) in &written {
                    let _ = std::fs::remove_file(t);
                }
                return Err(self.failed(key, value.len(), &e));
            }
            written.push((tmp, path));
        }
        for (tmp, path) in written {
            std::fs::rename(&tmp, &path).map_err(|e| self.failed("rename", 0, &e))?;
        }
        Ok(())
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
    fn put_all_is_all_or_nothing() {
        let store = MemoryStorage::with_quota(10);
        pollster::block_on(async {
            store.put_all(&[("a", b"1111"), ("b", b"2222")]).await.unwrap();
            let e = store.put_all(&[("a", b"11111"), ("b", b"222222")]).await.unwrap_err();
            assert_eq!(e.code(), "STORAGE_QUOTA_EXCEEDED");
            assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"1111"[..]));
            assert_eq!(store.get("b").await.unwrap().as_deref(), Some(&b"2222"[..]));
            store.put_all(&[("a", b"x"), ("b", b"y")]).await.unwrap();
            assert_eq!(store.get("b").await.unwrap().as_deref(), Some(&b"y"[..]));
        });
        let dir = std::env::temp_dir().join(format!("edgerec-put-all-{}", std::process::id()));
        let files = FileStorage::open(&dir).unwrap();
        pollster::block_on(async {
            files.put_all(&[("a", b"1"), ("b", b"2")]).await.unwrap();
            assert_eq!(files.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unavailable_store_says_so() {
        let store = MemoryStorage::unavailable();
        let e = pollster::block_on(store.get("k")).unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
    }
}
