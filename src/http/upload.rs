//! `PUT /api/packages/{owner}/go/upload`: a module zip, raw or as a multipart form field.
//!
//! The body is streamed to a spool file beside the database (never held in memory), hashed
//! with BLAKE3 on the way, capped at `--max-upload` while streaming, validated with the go
//! command's rules, and published in one durable transaction. The spool file is removed in
//! every case (after a success, once the answer is on its way).
//!
//! Bounds: the body arrives under the edge's idle deadline (`body::Timed`: 408); a multipart
//! body's preamble, part headers and fields before the file take at most
//! `MULTIPART_HEAD_LIMIT` bytes; a version that exists already is refused (409) from the
//! zip's first entry, before the whole zip is read; and at most `upload_concurrency` uploads
//! are validated and stored at once (the others wait with their bytes on disk).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::body::Response;
use super::error::ApiError;
use super::{authenticate, blocking, AppState, BodyStream};
use crate::gomod;
use crate::gomod::zip::ZipSummary;
use crate::store::{self, NewVersion, VersionLookup};

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
        let file = crate::store::private_file_options()
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
pub async fn handle(
    state: AppState,
    owner: String,
    headers: HeaderMap,
    peer: Option<super::Peer>,
    body: BodyStream,
) -> Result<Response, ApiError> {
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
        let (limited, in_body) = HeadLimit::new(body);
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new().whole_stream(max.saturating_add(MULTIPART_HEAD_LIMIT)),
        );
        let mut form = multer::Multipart::with_constraints(limited, boundary, constraints);
        let field = loop {
            match form.next_field().await {
                Err(e) => return Err(multipart_error(&e, max)),
                Ok(None) => {
                    return Err(ApiError::bad_request("multipart body has no file field"));
                }
                Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break f,
                Ok(Some(_)) => {}
            }
        };
        in_body.store(true, Ordering::Release);
        let field = field.map(|r| r.map_err(|e| multipart_error(&e, max)));
        spool_body(spool, field, max).await?
    } else {
        let stream = body.map(|r| r.map_err(|e| super::error::body_error(&e)));
        spool_body(spool, stream, max).await?
    };
    if size == 0 {
        return Err(ApiError::bad_request(
            "empty body: send the module zip as the request body",
        ));
    }
    // A version that exists is refused from the zip's first entry, before anything else of
    // it is read (a zip of 200,000 entries costs its validation only when it may be stored).
    let (st, ns) = (Arc::clone(&state.store), owner.clone());
    let (spool, existing) = blocking(move || conflict(&st, spool, &ns)).await?;
    if let Some(e) = existing {
        return Err(e.into());
    }
    let uploader = principal.user.clone();
    // Validation (memory and CPU by the zip's entries) runs `upload_concurrency` at a time;
    // storing does not hold a slot: it mostly waits for the group commit's fsync, and
    // uploads waiting together share one (holding the slot through it halved small-version
    // ingest, BENCHMARKS.md "Issue 26").
    let (summary, spool) = state
        .uploads
        .run(move || validate_spool(spool, size))
        .await?;
    let (st, ns) = (state.clone(), owner.clone());
    let (published, spool) =
        blocking(move || publish(&st, spool, &summary, &ns, size, blake3, &uploader)).await?;
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

/// The `path@version` the spooled zip claims, if it exists in namespace `owner` already: the
/// store's 409. A zip whose first entry cannot be read is left to the validation to refuse.
fn conflict(
    store: &store::Store,
    mut spool: Spool,
    owner: &str,
) -> Result<(Spool, Option<store::Error>), ApiError> {
    use std::io::{Seek, SeekFrom};
    let file = spool.file().map_err(|e| ApiError::internal("spool", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    let Ok((module, version)) = gomod::zip::read_prefix(std::io::BufReader::new(&mut *file)) else {
        return Ok((spool, None));
    };
    let existing = match store.get_version(owner, &module, &version)? {
        VersionLookup::Found(_) => Some(store::Error::VersionExists { module, version }),
        _ => None,
    };
    Ok((spool, existing))
}

/// The most bytes of a multipart body before its file's data starts: the preamble, the
/// part headers and any fields before the file.
pub const MULTIPART_HEAD_LIMIT: u64 = 64 << 10;

/// The largest piece `HeadLimit` hands on before the file's data starts, so that what multer
/// reads past the file's headers while it looks for their end is small.
const HEAD_PIECE: usize = 4 << 10;

/// A multipart body under `MULTIPART_HEAD_LIMIT`: until `in_body` is set (the file field was
/// found), it hands on pieces of at most `HEAD_PIECE` bytes and fails past the limit, so multer
/// never buffers (or scans again and again) more than that looking for headers that never
/// end.
struct HeadLimit {
    inner: BodyStream,
    rest: Bytes,
    seen: AtomicU64,
    in_body: Arc<AtomicBool>,
}

impl HeadLimit {
    fn new(inner: BodyStream) -> (Self, Arc<AtomicBool>) {
        let in_body = Arc::new(AtomicBool::new(false));
        let me = Self {
            inner,
            rest: Bytes::new(),
            seen: AtomicU64::new(0),
            in_body: Arc::clone(&in_body),
        };
        (me, in_body)
    }
}

/// The error of a multipart body whose headers run past `MULTIPART_HEAD_LIMIT`.
#[derive(Debug)]
struct HeadersTooLong;

impl std::fmt::Display for HeadersTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the multipart preamble and part headers before the file take over \
             {MULTIPART_HEAD_LIMIT} bytes"
        )
    }
}

impl std::error::Error for HeadersTooLong {}

impl Stream for HeadLimit {
    type Item = Result<Bytes, super::body::BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(Some(Ok(b))) => this.rest = b,
            }
        }
        if this.in_body.load(Ordering::Acquire) {
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.rest))));
        }
        let piece = this.rest.split_to(this.rest.len().min(HEAD_PIECE));
        let seen = this.seen.fetch_add(piece.len() as u64, Ordering::Relaxed) + piece.len() as u64;
        if seen > MULTIPART_HEAD_LIMIT {
            return Poll::Ready(Some(Err(Box::new(HeadersTooLong))));
        }
        Poll::Ready(Some(Ok(piece)))
    }
}

/// Validates the spooled zip (on the upload pool).
fn validate_spool(mut spool: Spool, size: u64) -> Result<(ZipSummary, Spool), ApiError> {
    use std::io::{Seek, SeekFrom};
    let file = spool.file().map_err(|e| ApiError::internal("spool", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    let reader = std::io::BufReader::new(&mut *file);
    let summary = validate(reader, size)?;
    Ok((summary, spool))
}

/// Stores a validated version (its zip read again from the spool, 64 KiB at a time).
fn publish(
    state: &super::AppState,
    mut spool: Spool,
    summary: &ZipSummary,
    owner: &str,
    size: u64,
    blake3: [u8; 32],
    uploader: &str,
) -> Result<(Published, Spool), ApiError> {
    use std::io::{Seek, SeekFrom};
    let file = spool.file().map_err(|e| ApiError::internal("spool", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal("spool", &e))?;
    let new = NewVersion {
        owner,
        summary,
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
) -> Result<(Spool, u64, [u8; 32]), ApiError>
where
    S: Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
{
    let mut hasher = blake3::Hasher::new();
    let mut size: u64 = 0;
    // Grown as bytes arrive (a 2 KiB upload takes 2 KiB, not a whole step).
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
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

fn multipart_error(e: &multer::Error, max: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(max)
        }
        multer::Error::StreamReadFailed(inner) => {
            if let Some(too_long) = inner.downcast_ref::<HeadersTooLong>() {
                return ApiError::bad_request(format!("bad multipart body: {too_long}"));
            }
            super::error::body_error(inner.as_ref())
        }
        other => ApiError::bad_request(format!("bad multipart body: {other}")),
    }
}
