//! Model bundles from `--models DIR` (`DIR/<version>/manifest.json` + its files), and the
//! experiments file.
//!
//! "Latest" is the version named in `DIR/LATEST` (trimmed) when that file exists, else the
//! version directory whose manifest has the greatest `created_at` (ties: the greatest directory
//! name). Both are re-read on every request, so publishing — write `DIR/<version>/`, then rename
//! a temporary file onto `DIR/LATEST` — takes effect without a restart. The directory name
//! should equal the manifest's `model.version`; the answer's `Content-Location` names the
//! directory the files are served from either way.

use super::AppState;
use super::http::{ApiError, etag, json_ok, not_modified, not_modified_response};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgerec::bundle::integrity::sha256_hex;
use edgerec::bundle::parse_manifest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The header carrying the latest bundle's `model.version`.
pub const MODEL_VERSION_HEADER: HeaderName = HeaderName::from_static("x-edgerec-model-version");
/// Cache policy of `GET /v1/models/latest` (always revalidate).
const LATEST_CACHE: &str = "no-cache";
/// Cache policy of versioned files (never change).
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Cache policy of the experiments document.
const EXPERIMENTS_CACHE: &str = "no-cache";
/// The manifest's file name inside a version directory.
const MANIFEST: &str = "manifest.json";

/// A version or file name that is safe as one path component: `[A-Za-z0-9._-]+`, no leading
/// dot, at most 128 bytes (the bundle format's own rule for file names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The models directory, with a cache of file hashes keyed by modification time and length.
pub struct ModelsDir {
    root: PathBuf,
    hashes: Mutex<HashMap<PathBuf, (SystemTime, u64, String)>>,
}

/// The latest bundle's manifest.
struct Latest {
    dir: String,
    bytes: Vec<u8>,
    sha256: String,
    model_version: String,
}

fn read_manifest(dir: &Path) -> Result<(Vec<u8>, edgerec::bundle::CheckedManifest), String> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let checked =
        parse_manifest(&bytes, None).map_err(|e| format!("invalid {}: {e}", path.display()))?;
    Ok((bytes, checked))
}

impl ModelsDir {
    /// The directory `root` (which must exist).
    pub fn new(root: PathBuf) -> Result<Self, String> {
        if !root.is_dir() {
            return Err(format!("--models {} is not a directory", root.display()));
        }
        Ok(ModelsDir { root, hashes: Mutex::default() })
    }

    fn latest_version_dir(&self) -> Result<Option<String>, ApiError> {
        let pointer = self.root.join("LATEST");
        match std::fs::read_to_string(&pointer) {
            Ok(text) => {
                let name = text.trim();
                if !valid_name(name) {
                    return Err(ApiError::internal(format!(
                        "{} names an invalid version {name:?}",
                        pointer.display()
                    )));
                }
                return Ok(Some(name.to_owned()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ApiError::internal(format!("cannot read {}: {e}", pointer.display())));
            }
        }
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| ApiError::internal(format!("cannot list {}: {e}", self.root.display())))?;
        let mut best: Option<(String, String)> = None; // (created_at, dir name)
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            if !valid_name(&name) || !entry.path().is_dir() {
                continue;
            }
            match read_manifest(&entry.path()) {
                Ok((_, checked)) => {
                    let key = (checked.manifest.created_at, name);
                    if best.as_ref().is_none_or(|b| key > *b) {
                        best = Some(key);
                    }
                }
                Err(e) => tracing::warn!(version = %name, error = %e, "skipping model directory"),
            }
        }
        Ok(best.map(|(_, name)| name))
    }

    fn latest(&self) -> Result<Option<Latest>, ApiError> {
        let Some(dir) = self.latest_version_dir()? else { return Ok(None) };
        let (bytes, checked) = read_manifest(&self.root.join(&dir)).map_err(ApiError::internal)?;
        if checked.manifest.model.version != dir {
            tracing::debug!(dir = %dir, version = %checked.manifest.model.version,
                "model directory name differs from model.version");
        }
        Ok(Some(Latest {
            dir,
            sha256: checked.manifest_sha256,
            model_version: checked.manifest.model.version,
            bytes,
        }))
    }

    /// The bytes of `version/file` and their SHA-256 (cached while mtime and length hold).
    fn file(&self, version: &str, file: &str) -> Result<(Vec<u8>, String), ApiError> {
        let not_found = || {
            ApiError::new(StatusCode::NOT_FOUND, format!("no file {file:?} in model {version:?}"))
        };
        let path = self.root.join(version).join(file);
        let meta = std::fs::metadata(&path).map_err(|_| not_found())?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", path.display())))?;
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mut hashes = self.hashes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let hash = match hashes.get(&path) {
            Some((t, len, hash)) if *t == mtime && *len == bytes.len() as u64 => hash.clone(),
            _ => {
                let hash = sha256_hex(&bytes);
                hashes.insert(path, (mtime, bytes.len() as u64, hash.clone()));
                hash
            }
        };
        Ok((bytes, hash))
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text)
        .map_err(|_| ApiError::internal(format!("bad header value {text:?}")))
}

fn models_dir(app: &AppState) -> Result<Arc<ModelsDir>, ApiError> {
    app.models.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no models directory is configured (--models)")
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("file worker failed: {e}")))?
}

/// `GET /v1/models/latest`: the latest manifest, `ETag`, `X-Edgerec-Model-Version`,
/// `Content-Location`; 304 on a matching `If-None-Match`.
pub async fn latest(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let models = models_dir(&app)?;
    let latest = blocking(move || models.latest())
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no model has been published yet"))?;
    let tag = etag(&latest.sha256);
    let version = header_value(&latest.model_version)?;
    let location = header_value(&format!("/v1/models/{}/{MANIFEST}", latest.dir))?;
    let mut response = if not_modified(&headers, &tag) {
        not_modified_response(&tag, LATEST_CACHE)
    } else {
        let mut r = latest.bytes.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut().insert(header::ETAG, header_value(&tag)?);
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(LATEST_CACHE));
        r
    };
    response.headers_mut().insert(MODEL_VERSION_HEADER, version);
    response.headers_mut().insert(header::CONTENT_LOCATION, location);
    Ok(response)
}

/// `GET /v1/models/{version}/{file}`: an immutable bundle file with its `ETag`.
pub async fn file(
    State(app): State<Arc<AppState>>,
    UrlPath((version, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !valid_name(&version) || !valid_name(&file) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "version and file names must match [A-Za-z0-9._-]+ and not start with a dot",
        ));
    }
    let models = models_dir(&app)?;
    let content_type =
        if file.ends_with(".json") { "application/json" } else { "application/octet-stream" };
    let (bytes, hash) = blocking(move || models.file(&version, &file)).await?;
    let tag = etag(&hash);
    if not_modified(&headers, &tag) {
        return Ok(not_modified_response(&tag, IMMUTABLE_CACHE));
    }
    let mut r = bytes.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::ETAG, header_value(&tag)?);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE_CACHE));
    Ok(r)
}

/// `GET /v1/experiments`: the `--experiments` file (re-read on every request, checked to be
/// JSON) with an `ETag`, or `{"layers":[]}` when none is configured.
pub async fn experiments(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(path) = app.experiments.clone() else {
        return Ok(json_ok(&serde_json::json!({ "layers": [] })));
    };
    let bytes = blocking(move || {
        let bytes = std::fs::read(&path)
            .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| {
            ApiError::internal(format!("{} is not valid JSON: {e}", path.display()))
        })?;
        Ok(bytes)
    })
    .await?;
    let tag = etag(&sha256_hex(&bytes));
    if not_modified(&headers, &tag) {
        return Ok(not_modified_response(&tag, EXPERIMENTS_CACHE));
    }
    let mut r = bytes.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::ETAG, header_value(&tag)?);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(EXPERIMENTS_CACHE));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_cannot_escape_the_directory() {
        for bad in ["", ".", "..", ".hidden", "a/b", "..%2F", "a\\b", "a b", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        for good in ["1", "2025-06-01.3", "manifest.json", "tensors_v2.bin"] {
            assert!(valid_name(good), "{good:?}");
        }
    }
}
