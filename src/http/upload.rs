//! `PUT /api/packages/{owner}/go/upload`: a module zip, raw or as a multipart form field, fed
//! to `crate::ingest` (spool, early refusal, validation, publish). What is HTTP's is here: the
//! credentials and the namespace's access, `Content-Length` against `max_upload`, reading the
//! body (raw, or the file field of a multipart form) into the spool, and the answer.
//!
//! Bounds: the body arrives under the edge's idle deadline (`body::Timed`: 408); a multipart
//! body's preamble, part headers and fields before the file take at most
//! `MULTIPART_HEAD_LIMIT` bytes; a version that exists already is refused (409) from the
//! zip's first entry, before the whole zip is read; and at most `upload_concurrency` uploads
//! are validated at once (the others wait with their bytes on disk, or in memory for a zip of
//! at most `ingest::SMALL_SPOOL` within `AppState::spools`). A spool file is removed in every
//! case (after a success, once the answer is on its way).

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
use crate::ingest::{self, Spool};

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
    let announced = content_length(&headers);
    if announced.is_some_and(|len| len > max) {
        return Err(ingest::Error::TooLarge { max }.into());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A small zip stays in memory (`ingest::SMALL_SPOOL`): a multipart body's length is
    // that of the form, close enough.
    let (db_path, budget) = (state.config.db.clone(), Arc::clone(&state.spools));
    let spool =
        blocking(move || Ok::<_, ingest::Error>(Spool::start(&db_path, max, announced, &budget)?))
            .await?;
    let mut spool = if content_type.starts_with("multipart/form-data") {
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
        spool_body(spool, field).await?
    } else {
        let stream = body.map(|r| r.map_err(|e| super::error::body_error(&e)));
        spool_body(spool, stream).await?
    };
    // A version that exists is refused from the zip's first entry, before anything else of
    // it is read (a zip of 200,000 entries costs its validation only when it may be stored).
    let (st, ns) = (Arc::clone(&state.store), owner.clone());
    let (spool, found) = blocking(move || {
        let found = ingest::existing(&st, &mut spool, &ns)?;
        Ok::<_, ingest::Error>((spool, found))
    })
    .await?;
    let mut spool = spool;
    if let Some(e) = found {
        return Err(e.into());
    }
    // Validation (memory and CPU by the zip's entries) runs `upload_concurrency` at a time;
    // storing does not hold a slot: it mostly waits for the group commit's fsync, which
    // uploads waiting together share.
    let (summary, spool) = state
        .uploads
        .run(move || {
            let summary = ingest::validate(&mut spool)?;
            Ok::<_, ingest::Error>((summary, spool))
        })
        .await?;
    let mut spool = spool;
    let (st, ns, uploader) = (Arc::clone(&state.store), owner.clone(), principal.user);
    let (published, spool) = blocking(move || {
        let published = ingest::publish(&st, &mut spool, &summary, &ns, &uploader)?;
        Ok::<_, ingest::Error>((published, spool))
    })
    .await?;
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

/// Bytes gathered before one write to the spool file: large enough for few system calls,
/// small enough that 16 concurrent uploads hold 4 MiB.
const SPOOL_STEP: usize = 256 << 10;

/// Reads a body into the spool, `SPOOL_STEP` bytes per write (on the blocking pool).
async fn spool_body<S>(mut spool: Spool, mut stream: S) -> Result<Spool, ApiError>
where
    S: Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
{
    // Grown as bytes arrive (a 2 KiB upload takes 2 KiB, not a whole step).
    let mut pending: Vec<u8> = Vec::new();
    let mut seen = spool.size();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        // Refused as soon as the limit is passed, not at the next write.
        seen += chunk.len() as u64;
        if seen > spool.max() {
            return Err(ingest::Error::TooLarge { max: spool.max() }.into());
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= SPOOL_STEP {
            spool = append(spool, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        spool = append(spool, pending).await?;
    }
    Ok(spool)
}

async fn append(mut spool: Spool, buf: Vec<u8>) -> Result<Spool, ApiError> {
    blocking(move || {
        spool.append(&buf)?;
        Ok::<_, ingest::Error>(spool)
    })
    .await
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

fn multipart_error(e: &multer::Error, max: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ingest::Error::TooLarge { max }.into()
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
