//! `PUT /api/packages/{owner}/go/upload`: a module zip, raw or as a multipart form field.
//!
//! The body is streamed to a spool file beside the database (never held in memory), hashed
//! with BLAKE3 on the way, capped at `--max-upload` while streaming, validated with the go
//! command's rules, and published in one durable transaction. The spool file is removed in
//! every case (after a success, once the answer is on its way).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::ApiError;
use super::{authenticate, blocking, AppState};
use crate::gomod;
use crate::store::{self, NewVersion};

/// A spool file that removes itself when dropped.
pub struct Spool {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Spool {
    /// Creates `<db file>.upload-<random>` beside the database.
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn create(db: &Path) -> std::io::Result<Self> {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(format!(
            ".upload-{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let path = db.with_file_name(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    fn file(&mut self) -> std::io::Result<&mut std::fs::File> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("spool file closed"))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.file = None;
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!("removing spool file {}: {e}", self.path.display());
        }
    }
}

/// Removes spool files left by a crash, at startup.
pub fn clean_stale_spools(db: &Path) {
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(".upload-");
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("removed stale upload spool {}", entry.path().display()),
                Err(e) => tracing::warn!("removing {}: {e}", entry.path().display()),
            }
        }
    }
}

/// The JSON answered with `201 Created`.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Published {
    pub module: String,
    pub version: String,
    pub h1: String,
    pub go_mod_h1: String,
    pub size: u64,
}

/// Handles one upload.
pub async fn handle<S, B>(
    state: AppState,
    owner: String,
    headers: HeaderMap,
    peer: Option<super::Peer>,
    body: S,
) -> Result<Response, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin + 'static,
    B: Buf + Send,
{
    let principal = authenticate(&state, &headers, peer).await?;
    let owner = crate::auth::normalize_owner(&owner).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid owner name {owner:?}: use letters, digits, '.', '_' and '-'"
        ))
    })?;
    let (store, o, p) = (Arc::clone(&state.store), owner.clone(), principal.clone());
    let access = blocking(move || store.namespace_access(&o, Some(&p))).await?;
    if access < crate::auth::Access::Write {
        // The same answer whether the namespace exists or not, public or private.
        return Err(crate::auth::Error::Forbidden {
            user: principal.user,
            action: "publish to",
            owner,
        }
        .into());
    }
    let max = state.config.max_upload;
    let idle = state.config.upload_idle_timeout;
    if let Some(len) = content_length(&headers) {
        if len > max {
            return Err(too_large(max));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let db_path = state.config.db.clone();
    let spool = blocking_io(move || Spool::create(&db_path)).await?;
    let (spool, size, blake3) = if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|e| ApiError::bad_request(format!("bad multipart body: {e}")))?;
        let stream = body.map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining())));
        let mut form = multer::Multipart::new(stream, boundary);
        let field = loop {
            let next = tokio::time::timeout(idle, form.next_field()).await;
            match next {
                Err(_) => return Err(idle_timeout(idle)),
                Ok(Err(e)) => return Err(multipart_error(&e, max)),
                Ok(Ok(None)) => {
                    return Err(ApiError::bad_request("multipart body has no file field"));
                }
                Ok(Ok(Some(f))) if f.file_name().is_some() || f.name() == Some("file") => break f,
                Ok(Ok(Some(_))) => {}
            }
        };
        let field = field.map(|r| r.map_err(|e| multipart_error(&e, max)));
        spool_body(spool, field, max, idle).await?
    } else {
        let stream = body.map(|r| {
            r.map(|mut b| b.copy_to_bytes(b.remaining()))
                .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
        });
        spool_body(spool, stream, max, idle).await?
    };
    if size == 0 {
        return Err(ApiError::bad_request(
            "empty body: send the module zip as the request body",
        ));
    }
    let uploader = principal.user.clone();
    let (st, ns) = (state.clone(), owner.clone());
    let (published, spool) =
        blocking(move || publish(&st, spool, &ns, size, blake3, &uploader)).await?;
    // Removing a large spool file takes a while (ext4 frees its blocks in the unlink): not
    // on the way to the answer. A crash before it is cleaned up at the next start.
    tokio::task::spawn_blocking(move || drop(spool));
    super::ui::warm_facts(
        &state,
        owner,
        published.module.clone(),
        published.version.clone(),
    );
    tracing::info!(
        module = %published.module, version = %published.version, size = published.size,
        "published"
    );
    let body = serde_json::to_vec(&published)
        .map_err(|e| ApiError::internal("encoding upload answer", &e))?;
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::CREATED;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn publish(
    state: &super::AppState,
    mut spool: Spool,
    owner: &str,
    size: u64,
    blake3: [u8; 32],
    uploader: &str,
) -> Result<(Published, Spool), ApiError> {
    use std::io::{Seek, SeekFrom};
    let file = spool.file().map_err(|e| ApiError::internal("spool", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    let reader = std::io::BufReader::new(&mut *file);
    let summary = validate(reader, size)?;
    let file = spool.file().map_err(|e| ApiError::internal("spool", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    let new = NewVersion {
        owner,
        summary: &summary,
        blake3,
        size,
        uploader,
        time: store::now_unix(),
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, &mut *file);
    state.store.put_version(&new, &mut reader)?;
    let published = Published {
        module: summary.path.as_str().to_owned(),
        version: summary.version.as_str().to_owned(),
        h1: summary.h1.clone(),
        go_mod_h1: summary.mod_h1.clone(),
        size,
    };
    Ok((published, spool))
}

/// Reads the claimed `path@version` from the zip, then validates it fully.
fn validate<R: std::io::Read + std::io::Seek>(
    mut reader: R,
    size: u64,
) -> Result<gomod::zip::ZipSummary, ApiError> {
    let (path, version) = gomod::zip::read_prefix(&mut reader).map_err(zip_error)?;
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    gomod::zip::validate(reader, size, &path, &version).map_err(zip_error)
}

fn zip_error(e: gomod::zip::ZipError) -> ApiError {
    match e {
        gomod::zip::ZipError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("invalid module zip: {e}"),
        ),
        gomod::zip::ZipError::Io(_) => ApiError::internal("reading the upload spool", &e),
        _ => ApiError::bad_request(format!("invalid module zip: {e}")),
    }
}

/// Bytes gathered before one write to the spool file: large enough for few system calls,
/// small enough that 16 concurrent uploads hold 4 MiB.
const SPOOL_STEP: usize = 256 << 10;

async fn spool_body<S>(
    mut spool: Spool,
    mut stream: S,
    max: u64,
    idle: Duration,
) -> Result<(Spool, u64, [u8; 32]), ApiError>
where
    S: Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
{
    let mut hasher = blake3::Hasher::new();
    let mut size: u64 = 0;
    // Grown as bytes arrive (a 2 KiB upload takes 2 KiB, not a whole step).
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let next = tokio::time::timeout(idle, stream.next()).await;
        let chunk = match next {
            Err(_) => return Err(idle_timeout(idle)),
            Ok(None) => break,
            Ok(Some(r)) => r?,
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        pending.extend_from_slice(&chunk);
        if pending.len() >= SPOOL_STEP {
            let buf = std::mem::take(&mut pending);
            spool = write_spool(spool, buf).await?;
        }
    }
    if !pending.is_empty() {
        spool = write_spool(spool, pending).await?;
    }
    Ok((spool, size, *hasher.finalize().as_bytes()))
}

async fn write_spool(mut spool: Spool, buf: Vec<u8>) -> Result<Spool, ApiError> {
    blocking_io(move || {
        spool.file()?.write_all(&buf)?;
        Ok(spool)
    })
    .await
}

async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::StorageFull => Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the server's disk is full; the upload was not stored",
        )),
        Ok(Err(e)) => Err(ApiError::internal("upload spool", &e)),
        Err(e) => Err(ApiError::internal("upload task", &e)),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("upload larger than the limit of {max} bytes"),
    )
}

fn idle_timeout(idle: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!("upload stalled: no data for {} seconds", idle.as_secs()),
    )
}

fn multipart_error(e: &multer::Error, max: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(max)
        }
        other => ApiError::bad_request(format!("bad multipart body: {other}")),
    }
}
