//! Loading a bundle: from bytes, from a directory (native), or chunk by chunk as it downloads.
//!
//! [`BundleLoader`] is the streaming core: give it `manifest.json`, then feed each listed file's
//! bytes in any chunk sizes ([`BundleLoader::push`]); it hashes as bytes arrive and reports
//! progress (bytes loaded / total) through a [`ProgressCallback`]. [`BundleLoader::finish`]
//! validates everything and returns an immutable [`Bundle`]. The wasm bindings drive the same
//! loader from `fetch` response streams, so native and browser run one validation path.
//!
//! Memory: each file is copied once, into a `Vec<u32>` (which guarantees the 4-byte alignment
//! the zero-copy `&[u32]` / `&[f32]` views need, whatever the caller's buffer alignment); after
//! that no tensor or item is copied or allocated per row.

use super::integrity::StreamingHash;
use super::items::ItemTable;
use super::manifest::{
    CheckedManifest, FileEntry, ITEM_EMBEDDINGS, Manifest, NEIGHBOR_IDS, NEIGHBOR_SCORES,
    parse_manifest, scheme_of,
};
use super::view::{TensorView, check_values, decode_scales};
use crate::error::{Error, Result};

/// What the caller configures for loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The application's Ed25519 public key. When set, the manifest must carry a signature that
    /// verifies with it; when `None`, a signature is not checked (hashes always are).
    pub public_key: Option<[u8; 32]>,
}

impl LoadOptions {
    /// Options requiring a signature by `public_key`.
    pub fn with_public_key(public_key: [u8; 32]) -> Self {
        Self { public_key: Some(public_key) }
    }
}

/// Download progress: totals over all of the bundle's binary files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The file the last chunk belonged to.
    pub file: &'a str,
    /// Bytes received so far, all files.
    pub loaded: u64,
    /// Bytes the manifest declares, all files.
    pub total: u64,
}

/// Called after every pushed chunk with the running totals.
pub type ProgressCallback = Box<dyn FnMut(Progress<'_>)>;

struct Pending {
    words: Vec<u32>,
    /// Bytes of an incomplete trailing word, carried to the next chunk.
    tail: [u8; 4],
    tail_len: usize,
    received: u64,
    hash: StreamingHash,
}

/// Streaming loader; see the module docs.
pub struct BundleLoader {
    checked: CheckedManifest,
    pending: Vec<Pending>,
    loaded: u64,
    total: u64,
    progress: Option<ProgressCallback>,
}

impl std::fmt::Debug for BundleLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleLoader")
            .field("model", &self.checked.manifest.model)
            .field("loaded", &self.loaded)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Cap on what is reserved up front from a declared size, so a hostile manifest cannot make the
/// loader allocate more than it actually receives.
const MAX_RESERVE_BYTES: u64 = 64 << 20;

impl BundleLoader {
    /// Parses and checks `manifest.json` (signature first when a key is configured).
    ///
    /// # Errors
    /// See [`parse_manifest`].
    pub fn new(manifest_json: &[u8], options: &LoadOptions) -> Result<Self> {
        let checked = parse_manifest(manifest_json, options.public_key.as_ref())?;
        let pending = checked
            .manifest
            .files
            .iter()
            .map(|f| Pending {
                words: Vec::with_capacity((f.bytes.min(MAX_RESERVE_BYTES) / 4) as usize),
                tail: [0; 4],
                tail_len: 0,
                received: 0,
                hash: StreamingHash::default(),
            })
            .collect();
        let total = checked.manifest.files.iter().map(|f| f.bytes).fold(0u64, u64::saturating_add);
        Ok(Self { checked, pending, loaded: 0, total, progress: None })
    }

    /// The checked manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.checked.manifest
    }

    /// The files to fetch, in order, with their sizes.
    pub fn files(&self) -> &[FileEntry] {
        &self.checked.manifest.files
    }

    /// Bytes declared by the manifest over all files (the denominator of progress).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Bytes received so far.
    pub fn loaded_bytes(&self) -> u64 {
        self.loaded
    }

    /// Installs the progress callback.
    pub fn on_progress(&mut self, callback: ProgressCallback) {
        self.progress = Some(callback);
    }

    /// Appends `chunk` to `file`. Chunks of one file must arrive in order; files may interleave.
    ///
    /// # Errors
    /// [`Error::BundleCorrupt`] for a file the manifest does not list or one longer than
    /// declared (caught as soon as the excess arrives, before it is buffered).
    pub fn push(&mut self, file: &str, chunk: &[u8]) -> Result<()> {
        let Some(i) = self.checked.manifest.files.iter().position(|f| f.name == file) else {
            return Err(Error::BundleCorrupt {
                file: file.into(),
                reason: "not listed in the manifest".into(),
            });
        };
        let declared = self.checked.manifest.files[i].bytes;
        let p = &mut self.pending[i];
        let received = p.received.saturating_add(chunk.len() as u64);
        if received > declared {
            return Err(Error::BundleCorrupt {
                file: file.into(),
                reason: format!("longer than the {declared} bytes the manifest declares"),
            });
        }
        p.received = received;
        p.hash.update(chunk);
        let mut rest = chunk;
        if p.tail_len > 0 {
            let take = (4 - p.tail_len).min(rest.len());
            p.tail[p.tail_len..p.tail_len + take].copy_from_slice(&rest[..take]);
            p.tail_len += take;
            rest = &rest[take..];
            if p.tail_len == 4 {
                p.words.push(u32::from_le_bytes(p.tail));
                p.tail_len = 0;
            }
        }
        let whole = rest.len() / 4 * 4;
        p.words.extend(
            rest[..whole].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        let extra = &rest[whole..];
        p.tail[..extra.len()].copy_from_slice(extra);
        p.tail_len += extra.len();
        self.loaded = self.loaded.saturating_add(chunk.len() as u64);
        if let Some(cb) = self.progress.as_mut() {
            cb(Progress { file, loaded: self.loaded, total: self.total });
        }
        Ok(())
    }

    /// Checks lengths, hashes, tensors and items, and returns the bundle.
    ///
    /// # Errors
    /// [`Error::BundleTruncated`], [`Error::HashMismatch`], [`Error::BundleCorrupt`],
    /// [`Error::BundleNonFinite`], [`Error::DuplicateId`], [`Error::BundleShapeMismatch`].
    pub fn finish(self) -> Result<Bundle> {
        let Self { checked, pending, .. } = self;
        let m = &checked.manifest;
        let mut files = Vec::with_capacity(pending.len());
        for (entry, p) in m.files.iter().zip(pending) {
            if p.received != entry.bytes {
                return Err(Error::BundleTruncated {
                    file: entry.name.clone(),
                    expected: entry.bytes,
                    received: p.received,
                });
            }
            if p.hash.finish_hex() != entry.sha256 {
                return Err(Error::HashMismatch { file: entry.name.clone() });
            }
            files.push(p.words);
        }
        let file_index = |name: &str| m.files.iter().position(|f| f.name == name).unwrap_or(0);
        let items_at = file_index(&m.items.file);
        let items = ItemTable::from_words(&m.items.file, std::mem::take(&mut files[items_at]))?;
        if items.len() as u64 != m.items.count {
            return Err(Error::BundleCorrupt {
                file: m.items.file.clone(),
                reason: format!("{} items, the manifest says {}", items.len(), m.items.count),
            });
        }
        let mut tensors = Vec::with_capacity(m.tensors.len());
        for t in &m.tensors {
            let file = file_index(&t.file);
            let start = (t.offset / 4) as usize;
            let end = start + (t.bytes / 4) as usize;
            // In range: the manifest check bounds offset + bytes by the file's declared length,
            // which the received length now equals.
            let words = files[file].get(start..end).ok_or_else(|| Error::BundleCorrupt {
                file: t.file.clone(),
                reason: format!("tensor {} out of range", t.name),
            })?;
            check_values(t, words, m.items.count)?;
            tensors.push(Resolved { file, start, end, scales: Vec::new() });
        }
        for (i, t) in m.tensors.iter().enumerate() {
            if let Some(scale_name) = &t.scales {
                let s = m.tensors.iter().position(|x| &x.name == scale_name).unwrap_or(i);
                let r = &tensors[s];
                let scales = decode_scales(&m.tensors[s], &files[r.file][r.start..r.end], &t.name)?;
                tensors[i].scales = scales;
            }
        }
        let bundle = Bundle { checked, files, tensors, items };
        // Optional IVF tensors: all three or none, shapes and list values (`bundle::ivf`).
        super::ivf::validate(&bundle)?;
        Ok(bundle)
    }
}

#[derive(Debug)]
struct Resolved {
    file: usize,
    start: usize,
    end: usize,
    scales: Vec<f32>,
}

/// A loaded, fully validated bundle. Immutable; views borrow from it.
#[derive(Debug)]
pub struct Bundle {
    checked: CheckedManifest,
    files: Vec<Vec<u32>>,
    tensors: Vec<Resolved>,
    items: ItemTable,
}

/// Item-to-item neighbour lists: row `r` holds item `r`'s neighbours, best first.
#[derive(Debug, Clone, Copy)]
pub struct Neighbors<'a> {
    /// `u32 [items, K]`, [`super::manifest::NO_NEIGHBOR`] as padding.
    pub ids: TensorView<'a>,
    /// Scores aligned with `ids`.
    pub scores: TensorView<'a>,
}

impl Bundle {
    /// Loads from in-memory bytes: `manifest_json` plus `(file name, bytes)` for every file the
    /// manifest lists.
    ///
    /// # Errors
    /// Everything [`BundleLoader::new`], [`BundleLoader::push`] and [`BundleLoader::finish`]
    /// report; a listed file missing from `files` is [`Error::BundleTruncated`].
    pub fn from_bytes(
        manifest_json: &[u8],
        files: &[(&str, &[u8])],
        options: &LoadOptions,
    ) -> Result<Self> {
        let mut loader = BundleLoader::new(manifest_json, options)?;
        for (name, bytes) in files {
            loader.push(name, bytes)?;
        }
        loader.finish()
    }

    /// Loads the bundle in directory `dir` (`manifest.json` and its files), reporting progress.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be read, plus everything [`Bundle::from_bytes`] reports.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_with_progress(
        dir: &std::path::Path,
        options: &LoadOptions,
        progress: Option<ProgressCallback>,
    ) -> Result<Self> {
        use std::io::Read;
        let io = |path: &std::path::Path, e: std::io::Error| Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let manifest_path = dir.join(super::manifest::MANIFEST_FILE);
        let manifest = std::fs::read(&manifest_path).map_err(|e| io(&manifest_path, e))?;
        let mut loader = BundleLoader::new(&manifest, options)?;
        if let Some(cb) = progress {
            loader.on_progress(cb);
        }
        let names: Vec<String> = loader.files().iter().map(|f| f.name.clone()).collect();
        let mut buf = vec![0u8; 1 << 20];
        for name in names {
            // Names are checked to be plain file names, so this cannot leave `dir`.
            let path = dir.join(&name);
            let mut f = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
            loop {
                let n = f.read(&mut buf).map_err(|e| io(&path, e))?;
                if n == 0 {
                    break;
                }
                loader.push(&name, &buf[..n])?;
            }
        }
        loader.finish()
    }

    /// [`Bundle::open_with_progress`] without a progress callback.
    ///
    /// # Errors
    /// As [`Bundle::open_with_progress`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(dir: &std::path::Path, options: &LoadOptions) -> Result<Self> {
        Self::open_with_progress(dir, options, None)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.checked.manifest
    }

    /// Whether the manifest's signature was verified against a configured key.
    pub fn signature_verified(&self) -> bool {
        self.checked.signature_verified
    }

    /// Whether the manifest carries a signature (verified or not).
    pub fn is_signed(&self) -> bool {
        self.checked.signature.is_some()
    }

    /// Lower-case hex SHA-256 of `manifest.json`: identifies this exact bundle (cache key).
    pub fn manifest_sha256(&self) -> &str {
        &self.checked.manifest_sha256
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let i = self.checked.manifest.tensors.iter().position(|t| t.name == name)?;
        Some(self.view(i))
    }

    /// Every tensor, in manifest order (scale tensors included).
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'_>> {
        (0..self.tensors.len()).map(|i| self.view(i))
    }

    fn view(&self, i: usize) -> TensorView<'_> {
        let m = &self.checked.manifest;
        let r = &self.tensors[i];
        TensorView {
            entry: &m.tensors[i],
            scheme: scheme_of(m, &m.tensors[i]),
            words: &self.files[r.file][r.start..r.end],
            scales: &r.scales,
        }
    }

    /// The item embeddings (the recall index), `[items, embedding_dim]`.
    pub fn item_embeddings(&self) -> TensorView<'_> {
        // Present: the manifest check requires it. The fallback keeps this panic-free.
        self.tensor(ITEM_EMBEDDINGS).unwrap_or_else(|| self.view(0))
    }

    /// The item-to-item neighbour lists, when the bundle has them.
    pub fn neighbors(&self) -> Option<Neighbors<'_>> {
        Some(Neighbors { ids: self.tensor(NEIGHBOR_IDS)?, scores: self.tensor(NEIGHBOR_SCORES)? })
    }

    /// Tensors whose name starts with `prefix` (`"user_tower."`, `"ranker."`), scale tensors
    /// excluded.
    pub fn tensors_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = TensorView<'a>> + 'a {
        let scale_names: Vec<&str> =
            self.checked.manifest.tensors.iter().filter_map(|t| t.scales.as_deref()).collect();
        self.tensors()
            .filter(move |t| t.name().starts_with(prefix) && !scale_names.contains(&t.name()))
    }

    /// The item table.
    pub fn items(&self) -> &ItemTable {
        &self.items
    }

    /// Bytes of every binary file together.
    pub fn stored_bytes(&self) -> u64 {
        self.checked.manifest.files.iter().map(|f| f.bytes).sum()
    }
}
