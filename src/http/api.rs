//! The JSON API under `/api/v1/`: deleting a version, backups, verify, and accounts (users,
//! tokens, organisations, owners; the operations are `crate::admin`).

use futures_util::StreamExt;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::body::{typed_response, Body, Response};
use super::error::ApiError;
use super::{authenticate, blocking, AppState, BodyStream, Peer};
use crate::admin;
use crate::auth::{self, Access};
use crate::gomod::{self, proxy};
use crate::store;

/// Largest JSON body the accounts API reads.
pub const MAX_JSON_BODY: usize = 64 << 10;

/// `DELETE /api/v1/packages/{owner}/go/{module, / as %2F}/{version}[?purge=true]`: 204.
/// Writers of the namespace may delete; the version's tombstone keeps its h1 so the same
/// version can only come back with the same content. `purge=true` (admins) also removes the
/// tombstone.
pub async fn delete_version(
    state: AppState,
    owner: String,
    module: String,
    version: String,
    purge: bool,
    headers: HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers, peer).await?;
    let forbidden = |owner: &str| auth::Error::Forbidden {
        user: principal.user.clone(),
        action: "delete versions in",
        owner: owner.to_owned(),
    };
    let owner = auth::normalize_owner(&owner).ok_or_else(|| forbidden(&owner))?;
    let (store, o, p) = (
        std::sync::Arc::clone(&state.store),
        owner.clone(),
        principal.clone(),
    );
    let access = blocking(move || store.namespace_access(&o, Some(&p))).await?;
    if access < Access::Write {
        return Err(forbidden(&owner).into());
    }
    if purge && !principal.is_admin_writer() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only an admin may purge a tombstone",
        ));
    }
    let module = proxy::percent_decode(&module)
        .ok_or_else(|| ApiError::not_found("malformed module path"))?;
    let version =
        proxy::percent_decode(&version).ok_or_else(|| ApiError::not_found("malformed version"))?;
    gomod::path::check_path(&module).map_err(|e| ApiError::not_found(e.to_string()))?;
    let (m, v) = (module.clone(), version.clone());
    let deleted = blocking(move || {
        state
            .store
            .remove_version(&owner, &m, &v, store::now_unix(), purge)
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "unknown version {module}@{version}"
        )));
    }
    tracing::info!(module = %module, version = %version, by = %principal.user, purge, "deleted");
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Answers 403 unless the request comes from an admin.
async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<(), ApiError> {
    let principal = authenticate(state, headers, peer).await?;
    if principal.is_admin_writer() {
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
pub async fn backup(
    state: AppState,
    headers: HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, peer).await?;
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
    Ok(typed_response(
        Body::stream(None, stream),
        "application/octet-stream",
        "no-store",
    ))
}

/// `GET /api/v1/admin/verify` (admin): the verify report as JSON (200 even with problems; the
/// report says what is wrong).
pub async fn verify(
    state: AppState,
    headers: HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, peer).await?;
    let store = std::sync::Arc::clone(&state.store);
    let report = blocking(move || store.verify()).await?;
    let body =
        serde_json::to_value(&report).map_err(|e| ApiError::internal("verify report", &e))?;
    Ok(json_response(StatusCode::OK, Some(&body)))
}

/// One import or export at a time on a running server (each is long, and an import moves
/// the upstream head it proves against).
static BUNDLE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn bundle_turn() -> Result<std::sync::MutexGuard<'static, ()>, ApiError> {
    match BUNDLE_TURN.try_lock() {
        Ok(g) => Ok(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "an import or export is running on this server; try again when it ends",
        )),
    }
}

/// An admin's JSON request body (`what`: its name in the refusal).
async fn admin_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Peer>,
    body: BodyStream,
    what: &str,
) -> Result<T, ApiError> {
    require_admin(state, headers, peer).await?;
    let raw = read_json_body(state, body).await?;
    serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("not an {what} request: {e}")))
}

/// A failed import or export: the store's failures as the store's errors map (a full disk is
/// `507`, ...), the rest (a bundle refused whole, a directory that cannot be read) `400`.
fn bundle_error(e: anyhow::Error) -> ApiError {
    match e.downcast::<store::Error>() {
        Ok(store_error) => store_error.into(),
        Err(e) => ApiError::bad_request(format!("{e:#}")),
    }
}

/// `POST /api/v1/admin/import` (admin): `goshelf import --server`. The directory is read by
/// the server, on its machine; the upstream checksum database is the server's setting. The
/// report as JSON (200 even when entries were refused: the report says which; 400 when the
/// bundle is refused whole).
pub async fn import(
    state: AppState,
    headers: HeaderMap,
    peer: Option<Peer>,
    body: BodyStream,
) -> Result<Response, ApiError> {
    use crate::bundle::import;
    let req: import::Request = admin_request(&state, &headers, peer, body, "import").await?;
    let upstream = state
        .config
        .upstream_sumdb
        .as_ref()
        .and_then(|u| crate::sumdb::Verifier::parse(&u.vkey).ok());
    let name = upstream.as_ref().map(|v| v.name().to_owned());
    let options = req.options(upstream).map_err(ApiError::bad_request)?;
    let store = std::sync::Arc::clone(&state.store);
    let report = blocking(move || {
        let _turn = bundle_turn()?;
        import::import(&store, &req.dir, &options).map_err(bundle_error)
    })
    .await?;
    // The pull-through cache's memory of each module goes with what the file holds now.
    for name in &report.cached {
        if let Some((module, _)) = name.rsplit_once('@') {
            state.pull.forget(module);
        }
    }
    let store = std::sync::Arc::clone(&state.store);
    let bytes = blocking(move || store.cached_zip_bytes()).await?;
    state.pull.set_cached_bytes(bytes);
    state.metrics.set_pull_cached_bytes(bytes);
    let body = serde_json::json!({ "report": report, "upstream": name });
    Ok(json_response(StatusCode::OK, Some(&body)))
}

/// `POST /api/v1/admin/export` (admin): `goshelf export --server`. The server writes the
/// tree on its machine, into a directory that is absent or empty.
pub async fn export(
    state: AppState,
    headers: HeaderMap,
    peer: Option<Peer>,
    body: BodyStream,
) -> Result<Response, ApiError> {
    use crate::bundle::export;
    let req: export::Request = admin_request(&state, &headers, peer, body, "export").await?;
    let wanted = if req.for_files.is_empty() {
        None
    } else {
        Some(export::wanted(&req.for_files).map_err(|e| ApiError::bad_request(format!("{e:#}")))?)
    };
    let st = state.clone();
    let (done, name, vkey) = blocking(move || {
        let _turn = bundle_turn()?;
        let out = &req.out;
        let busy = std::fs::read_dir(out).map(|mut d| d.next().is_some());
        if matches!(busy, Ok(true)) {
            return Err(ApiError::bad_request(format!(
                "{}: not empty; the server exports into an absent or empty directory",
                out.display()
            )));
        }
        std::fs::create_dir_all(out)
            .map_err(|e| ApiError::bad_request(format!("creating {}: {e}", out.display())))?;
        let up = super::sumdb_proxy::upstream_name(&st.config).map(|name| export::UpstreamDb {
            name,
            remote: st.upstream.as_deref(),
            unreachable: false.into(),
        });
        let done = export::export(
            &st.store,
            &st.sumdb,
            req.owner.as_deref().map(str::to_ascii_lowercase).as_deref(),
            out,
            up.as_ref(),
            wanted.as_ref(),
        )
        .map_err(bundle_error)?;
        Ok::<_, ApiError>((done, st.sumdb.name().to_owned(), st.sumdb.vkey().to_owned()))
    })
    .await?;
    let body = serde_json::json!({ "exported": done, "name": name, "vkey": vkey });
    Ok(json_response(StatusCode::OK, Some(&body)))
}

/// A JSON answer (none for 204), never cached.
fn json_response(status: StatusCode, body: Option<&serde_json::Value>) -> Response {
    let mut resp = match body {
        Some(v) => {
            let mut r = Response::new(v.to_string().into());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An accounts API request, before its body is read.
pub struct AccountsRequest {
    pub method: Method,
    /// The path after `/api/v1/`.
    pub tail: String,
    /// The raw query string.
    pub query: String,
    pub headers: HeaderMap,
    pub peer: Option<Peer>,
}

/// Reads a small request body (a form, a JSON document): at most `limit` bytes, all of it
/// within `deadline` (a body that trickles is cut off like a slow head).
///
/// # Errors
/// 413 over the limit, 408 past the deadline or the edge's idle time, 400 for a broken body.
pub async fn read_small_body(
    mut body: BodyStream,
    limit: usize,
    deadline: std::time::Duration,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    let read = async {
        let mut raw = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| super::error::body_error_named(&e, what))?;
            if raw.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the {what} is over {limit} bytes"),
                ));
            }
            raw.extend_from_slice(&chunk);
        }
        Ok(raw)
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the {what} did not arrive within {} seconds",
                deadline.as_secs()
            ),
        )),
    }
}

/// The JSON body of an API request: at most `MAX_JSON_BODY`, within `header_timeout`.
async fn read_json_body(state: &AppState, body: BodyStream) -> Result<Vec<u8>, ApiError> {
    read_small_body(
        body,
        MAX_JSON_BODY,
        state.config.header_timeout,
        "JSON body",
    )
    .await
}

/// Everything else under `/api/v1/`: parses the route into an `admin::Op`, authenticates,
/// reads the JSON body (at most `MAX_JSON_BODY`, within `header_timeout`), runs the
/// operation.
pub async fn accounts(
    state: AppState,
    req: AccountsRequest,
    body: BodyStream,
) -> Result<Response, ApiError> {
    let segments: Vec<String> = req
        .tail
        .trim_end_matches('/')
        .split('/')
        .map(|s| proxy::percent_decode(s).ok_or_else(|| ApiError::not_found("malformed path")))
        .collect::<Result<_, _>>()?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
        .into_owned()
        .collect();
    // The route is checked before credentials, so an unknown path is 404 for everyone.
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let Err(e @ admin::Error::NoRoute(..)) =
        admin::Op::from_request(req.method.as_str(), &segs, &query, b"{}")
    {
        return Err(e.into());
    }
    let principal = authenticate(&state, &req.headers, req.peer).await?;
    let raw = read_json_body(&state, body).await?;
    let op = admin::Op::from_request(req.method.as_str(), &segs, &query, &raw)?;
    // The pull-through cache's memory of a module goes with what the file holds of it.
    let cached_module = match &op {
        admin::Op::CacheEvict { module, .. } | admin::Op::CacheRefresh { module } => {
            Some(module.clone())
        }
        _ => None,
    };
    let store = std::sync::Arc::clone(&state.store);
    let actor = principal.clone();
    let outcome = blocking(move || admin::execute(&store, &actor, op, store::now_unix())).await?;
    if let Some(module) = cached_module {
        state.pull.forget(&module);
        let store = std::sync::Arc::clone(&state.store);
        let bytes = blocking(move || store.cached_zip_bytes()).await?;
        state.pull.set_cached_bytes(bytes);
        state.metrics.set_pull_cached_bytes(bytes);
    }
    tracing::info!(target: "goshelf::admin", by = %principal.user, "{} /api/v1/{} -> {}", req.method, req.tail, outcome.status);
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    Ok(json_response(status, outcome.body.as_ref()))
}
