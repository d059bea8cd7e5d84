//! The JSON/admin API under `/api/v1/`: for now, deleting a version.

use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::ApiError;
use super::{authenticate, blocking, AppState};
use crate::gomod;
use crate::store;

/// `DELETE /api/v1/packages/{owner}/go/{module, / as %2F}/{version}` (admin): 204.
pub async fn delete_version(
    state: AppState,
    owner: String,
    module: String,
    version: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let owner = crate::auth::normalize_owner(&owner)
        .ok_or_else(|| ApiError::not_found(format!("no such owner: {owner}")))?;
    principal.check_delete(&owner)?;
    let module = super::goproxy::percent_decode(&module)
        .ok_or_else(|| ApiError::not_found("malformed module path"))?;
    let version = super::goproxy::percent_decode(&version)
        .ok_or_else(|| ApiError::not_found("malformed version"))?;
    gomod::path::check_path(&module).map_err(|e| ApiError::not_found(e.to_string()))?;
    let (m, v) = (module.clone(), version.clone());
    let deleted = blocking(move || {
        state
            .store
            .delete_version(&owner, &m, &v, store::now_unix())
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "unknown version {module}@{version}"
        )));
    }
    tracing::info!(module = %module, version = %version, by = %principal.user, "deleted");
    let mut resp = Response::new(warp::hyper::Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Answers 403 unless the request comes from an admin.
async fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let principal = authenticate(state, headers).await?;
    if principal.is_admin && principal.scope == "write" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only an admin may do this",
        ))
    }
}

/// A `Write` that sends what it is given, in pieces of at most `PIECE` bytes, to a channel.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const PIECE: usize = 256 << 10;

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// `GET /api/v1/admin/backup` (admin): a consistent snapshot of the whole store, streamed in
/// the backup frame format (`goshelf backup` turns it into a database file).
pub async fn backup(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let store = std::sync::Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(PIECE),
        };
        match store.export(&mut w) {
            Ok(n) => tracing::info!(entries = n, "backup streamed"),
            Err(e) => {
                tracing::error!("backup failed: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other("backup failed")));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(warp::hyper::Body::wrap_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/v1/admin/verify` (admin): the verify report as JSON (200 even with problems; the
/// report says what is wrong).
pub async fn verify(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let store = std::sync::Arc::clone(&state.store);
    let report = blocking(move || store.verify()).await?;
    let body = serde_json::to_vec(&report).map_err(|e| ApiError::internal("verify report", &e))?;
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
