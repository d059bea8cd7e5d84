//! `GET`/`HEAD` of the GOPROXY protocol: `@v/list`, `@v/$v.info`, `.mod`, `.zip`, `@latest`
//! (spec.md §1.2), under `/api/packages/{owner}/go/`.
//!
//! Store reads run inline on the async worker, not through `blocking`: a lookup is a few
//! microseconds from redb's page cache and a zip step reads one chunk (at most 255 KiB), while a
//! hand-off to the blocking pool costs two thread wake-ups per request and, measured with
//! `perf/run.sh`, halved the requests per second of small objects (BENCHMARKS.md).
//!
//! A zip is read piece by piece, each piece copied out of a short read transaction of its own
//! (`Store::zip_start`, `Store::blob_piece`): a client that reads slowly, or not at all, holds
//! at most one piece in memory and no database snapshot, so redb can reuse freed pages while
//! it dawdles (and `send_timeout` ends it).
//!
//! Caching headers: an answer from a public namespace may be kept by any cache (`public`,
//! immutable for `.info`, `.mod` and `.zip`); one from any other namespace only by the
//! client's own (`private`), so a shared cache in front of the shelf never hands it to
//! someone else.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::body::{typed_response, Body, Response};
use super::edge::ConnInfo;
use super::error::ApiError;
use super::AppState;
use crate::auth::Access;
use crate::gomod::proxy::select_latest;
use crate::gomod::proxy::{self, Request as ProxyRequest};
use crate::gomod::version;
use crate::store::{self, VersionLookup};

/// The `.info` body: `{"Version":"...","Time":"<RFC 3339 UTC>"}`.
#[must_use]
pub fn info_json(version: &str, time: i64) -> String {
    let time = rfc3339(time);
    // Canonical versions contain only [0-9A-Za-z.+-], so they need no JSON escaping; serde
    // does it anyway for safety.
    let v = serde_json::Value::String(version.to_owned());
    format!("{{\"Version\":{v},\"Time\":\"{time}\"}}\n")
}

/// Unix seconds as `2006-01-02T15:04:05Z`.
#[must_use]
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The `Cache-Control` of an answer that never changes: `public` for a public namespace,
/// `private` for any other.
fn immutable(public: bool) -> &'static str {
    if public {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    }
}

/// Answers one GOPROXY request for namespace `owner`.
pub async fn handle(
    state: AppState,
    owner: String,
    tail: String,
    method: Method,
    headers: HeaderMap,
    conn: Option<ConnInfo>,
) -> Result<Response, ApiError> {
    // An anonymous answer at the LAN's base may differ from a signed-in viewer's (who may be
    // answered from a private organisation listed first): a shared cache must keep it apart
    // from requests with credentials, which `Vary: Authorization` says to any of them.
    let lan_anonymous = owner == proxy::LAN && !headers.contains_key(header::AUTHORIZATION);
    let mut answered: Result<Response, ApiError> = async {
        let req = proxy::parse(&tail).map_err(ApiError::not_found)?;
        // Credentials, when sent, must be right (401), whatever the namespace.
        let viewer = super::authenticate_optional(&state, &headers, conn.map(|c| c.peer)).await?;
        // Who a fetch from an upstream is charged to (`sumdb_lookup_budget`).
        let requester = super::budget::Requester::of(
            conn.map(|c| c.peer.0),
            headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
            &state.config.trusted_proxies,
            viewer.as_ref().map(|v| v.user.as_str()),
        );
        if let ProxyRequest::Sumdb { rest } = &req {
            // The upstream database's proxy, at the LAN's base only.
            if owner == proxy::LAN {
                if let Some(answer) = Box::pin(super::sumdb_proxy::route(
                    &state,
                    rest,
                    viewer.is_some(),
                    &requester,
                ))
                .await
                {
                    return answer;
                }
            }
            // One log for the whole shelf: it answers the same under every owner's base,
            // existing or not, so the probe tells nothing about namespaces.
            return super::sumdb::handle(
                &state,
                rest,
                viewer.as_ref(),
                conn.map(|c| c.peer.0),
                &headers,
            )
            .await;
        }
        let (owner, public) = if owner == proxy::LAN {
            match lan_owner(&state, &req, viewer.as_ref())? {
                Some(found) => found,
                // Not hosted for this viewer: the pull-through cache's (which keeps the shelf's
                // own paths from any upstream).
                None => {
                    // Boxed: the pull-through cache's future (upstream fetches, verification)
                    // is the largest of any route's, and would otherwise size every request's
                    // future on the stack of the thread that polls it.
                    return Ok(Box::pin(super::pull::answer(
                        &state,
                        req,
                        viewer.as_ref(),
                        method == Method::HEAD,
                        &headers,
                        &requester,
                    ))
                    .await);
                }
            }
        } else {
            let Some(owner) = crate::auth::normalize_owner(&owner) else {
                return Err(hidden(&req));
            };
            let (access, public) = state.store.namespace_view(&owner, viewer.as_ref())?;
            if access == Access::None {
                return Err(hidden(&req));
            }
            (owner, public)
        };
        let head = method == Method::HEAD;
        let hosted = Hosted {
            state,
            owner,
            public,
        };
        match req {
            ProxyRequest::Sumdb { rest } => {
                super::sumdb::handle(
                    &hosted.state,
                    &rest,
                    viewer.as_ref(),
                    conn.map(|c| c.peer.0),
                    &headers,
                )
                .await
            }
            ProxyRequest::List { module } => list(&hosted, &module),
            ProxyRequest::Latest { module } => latest(&hosted, &module),
            ProxyRequest::Info { module, version } => info(&hosted, &module, &version),
            ProxyRequest::Mod { module, version } => go_mod(&hosted, &module, &version),
            ProxyRequest::Zip { module, version } => {
                let want = Zip {
                    owner: Some(hosted.owner),
                    module,
                    version,
                    head,
                    public: hosted.public,
                };
                zip(hosted.state, want, &headers).await
            }
        }
    }
    .await;
    if let Ok(resp) = &mut answered {
        let shared = resp
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("public"));
        if lan_anonymous && shared {
            resp.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Authorization"));
        }
    }
    answered
}

/// Which namespace answers a request at the LAN's one base (`/go/`): the first organisation of
/// `lan_namespaces` (every organisation by name when unset) that the viewer may read and that
/// hosts the module; personal namespaces never (anyone may make one, so no user can shadow a
/// module for the whole LAN). With it, whether the answer may be kept by shared caches: only
/// from a public organisation to an anonymous viewer (a signed-in viewer may be answered from
/// a private organisation listed first).
fn lan_owner(
    state: &AppState,
    req: &ProxyRequest,
    viewer: Option<&crate::auth::Principal>,
) -> Result<Option<(String, bool)>, ApiError> {
    let module = match req {
        ProxyRequest::List { module }
        | ProxyRequest::Latest { module }
        | ProxyRequest::Info { module, .. }
        | ProxyRequest::Mod { module, .. }
        | ProxyRequest::Zip { module, .. } => module,
        ProxyRequest::Sumdb { .. } => return Ok(None),
    };
    // The organisations hosting the module (usually none or one), in the LAN's order; a
    // deleted user's namespace only when `lan_namespaces` names it.
    let listed = state.config.lan_namespaces.as_ref();
    let mut hosts: Vec<(String, bool)> = state
        .store
        .hosts_of(module)?
        .into_iter()
        .filter(|(_, ns)| {
            ns.kind == crate::auth::Kind::Org && (!ns.former_user || listed.is_some())
        })
        .map(|(owner, ns)| (owner, ns.visibility() == crate::auth::Visibility::Public))
        .collect();
    if let Some(listed) = listed {
        hosts.retain(|(o, _)| listed.contains(o));
        hosts.sort_by_key(|(o, _)| listed.iter().position(|l| l == o));
    }
    for (owner, public) in hosts {
        if state.store.namespace_view(&owner, viewer)?.0 >= Access::Read {
            return Ok(Some((owner, public && viewer.is_none())));
        }
    }
    Ok(None)
}

/// The answer for a namespace the viewer may not read, or that does not exist: the same 404,
/// word for word, as for a module that does not exist, so that nothing is learnt of a private
/// namespace (not even from the `sumdb` probe).
fn hidden(req: &ProxyRequest) -> ApiError {
    match req {
        ProxyRequest::Sumdb { .. } => ApiError::not_found("not found"),
        ProxyRequest::List { module }
        | ProxyRequest::Latest { module }
        | ProxyRequest::Info { module, .. }
        | ProxyRequest::Mod { module, .. }
        | ProxyRequest::Zip { module, .. } => unknown_module(module),
    }
}

/// The 404 of a module that is not there, or not visible: one text, so a private namespace
/// answers word for word as an empty one.
fn unknown_module(module: &str) -> ApiError {
    ApiError::not_found(format!("unknown module {module}"))
}

fn missing(lookup: &VersionLookup, module: &str, version: &str) -> ApiError {
    match lookup {
        VersionLookup::Deleted => ApiError::gone(format!("{module}@{version} was deleted")),
        VersionLookup::NoModule => unknown_module(module),
        _ => ApiError::not_found(format!("unknown version {module}@{version}")),
    }
}

/// The `Cache-Control` of a `list` or `@latest` answer: kept by caches for `list_ttl`, then
/// asked again (an upload shows through a cache in front after at most that long); `private`
/// unless `public`.
pub(super) fn changing_cache(state: &AppState, public: bool) -> HeaderValue {
    let scope = if public { "public" } else { "private" };
    HeaderValue::from_str(&format!(
        "{scope}, max-age={}",
        state.config.list_ttl.as_secs()
    ))
    .unwrap_or(HeaderValue::from_static("no-store"))
}

/// The namespace a GOPROXY request is answered from, and whether it is public (which
/// decides the answers' `Cache-Control`).
struct Hosted {
    state: AppState,
    owner: String,
    public: bool,
}

fn list(hosted: &Hosted, module: &str) -> Result<Response, ApiError> {
    let versions = hosted
        .state
        .store
        .list_version_names(&hosted.owner, module)?;
    let versions = versions.ok_or_else(|| unknown_module(module))?;
    let mut body = String::new();
    for v in &versions {
        if !version::is_pseudo(v) {
            body.push_str(v);
            body.push('\n');
        }
    }
    let mut resp = typed_response(body, "text/plain; charset=utf-8", "no-store");
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        changing_cache(&hosted.state, hosted.public),
    );
    Ok(resp)
}

fn latest(hosted: &Hosted, module: &str) -> Result<Response, ApiError> {
    let versions = hosted.state.store.list_versions(&hosted.owner, module)?;
    let versions = versions.ok_or_else(|| unknown_module(module))?;
    let chosen = select_latest(versions.iter().map(|(v, _)| v.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("no versions of {module}")))?;
    let time = versions
        .iter()
        .find(|(v, _)| v == chosen)
        .map_or(0, |(_, r)| r.time);
    let mut resp = typed_response(info_json(chosen, time), "application/json", "no-store");
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        changing_cache(&hosted.state, hosted.public),
    );
    Ok(resp)
}

fn info(hosted: &Hosted, module: &str, version: &str) -> Result<Response, ApiError> {
    let lookup = hosted
        .state
        .store
        .get_version(&hosted.owner, module, version)?;
    match lookup {
        VersionLookup::Found(rec) => Ok(typed_response(
            info_json(version, rec.time),
            "application/json",
            immutable(hosted.public),
        )),
        other => Err(missing(&other, module, version)),
    }
}

fn go_mod(hosted: &Hosted, module: &str, version: &str) -> Result<Response, ApiError> {
    let (lookup, bytes) = hosted
        .state
        .store
        .get_go_mod(&hosted.owner, module, version)?;
    match bytes {
        Some(bytes) => Ok(typed_response(
            bytes,
            "text/plain; charset=utf-8",
            immutable(hosted.public),
        )),
        None => Err(missing(&lookup, module, version)),
    }
}

/// A byte range to serve, inclusive of `start`, exclusive of `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// Parses a `Range` header against a body of `size` bytes. `Ok(None)`: serve the whole body
/// (no header, a unit other than bytes, or several ranges, which we may ignore per RFC 9110).
///
/// # Errors
/// `Err(())` when the range is syntactically valid but unsatisfiable (416).
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &str, size: u64) -> Result<Option<ByteRange>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        ByteRange {
            start: size.saturating_sub(n),
            end: size,
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size
        } else {
            let Ok(last) = b.parse::<u64>() else {
                return Ok(None);
            };
            if last < start {
                return Ok(None);
            }
            last.saturating_add(1).min(size)
        };
        ByteRange { start, end }
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// Makes an answer `private` for shared caches (one that depends on the viewer).
pub fn make_private(resp: &mut Response) {
    let h = resp.headers_mut();
    let now = h
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no-store")
        .to_owned();
    let private = format!("private, {}", now.trim_start_matches("public, "));
    if let Ok(v) = HeaderValue::from_str(&private) {
        h.insert(header::CACHE_CONTROL, v);
    }
}

/// The `.info` answer of a cached public module's version: as the upstream sent it.
#[must_use]
pub fn cached_info(rec: &store::CachedRecord) -> Response {
    typed_response(rec.info.clone(), "application/json", immutable(true))
}

/// The `.mod` answer of a cached public module's version.
#[must_use]
pub fn cached_mod(bytes: Vec<u8>) -> Response {
    typed_response(bytes, "text/plain; charset=utf-8", immutable(true))
}

/// The `.zip` answer of a cached public module's version (stored: `http::pull` fetched it).
///
/// # Errors
/// As for a hosted zip.
pub async fn cached_zip(
    state: &AppState,
    module: String,
    version: String,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    zip(state.clone(), Zip::cached(module, version, head), headers).await
}

/// Bytes of a zip by position, from elsewhere than the store: the spool of a zip the
/// pull-through cache verified and is storing (`http::pull`).
pub trait Pieces: Send + Sync {
    /// Up to `want` bytes from `offset` (fewer only at the end).
    ///
    /// # Errors
    /// I/O errors.
    fn piece(&self, offset: u64, want: usize) -> std::io::Result<Bytes>;
}

/// A cached version's zip answered from a spool (`Pieces`) before it is stored: `rec` is the
/// cached version as it is once stored.
pub struct Spooled<'a> {
    pub rec: &'a store::CachedRecord,
    pub spool: Arc<dyn Pieces>,
}

/// The answer to a cached version's zip whose bytes are still in its spool: the same status,
/// headers and bytes as the stored zip's (`cached_zip`), ranges included.
///
/// # Errors
/// Range errors, as `cached_zip`.
pub fn spooled_zip(
    state: &AppState,
    module: String,
    version: String,
    zip: Spooled<'_>,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let rec = cached_version_record(zip.rec.clone());
    let want = Zip::cached(module, version, head);
    zip_answer(state, want, headers, rec, ZipBytes::Spool(zip.spool))
}

/// A cached version's record as a hosted version's, for the zip's answer.
fn cached_version_record(c: store::CachedRecord) -> store::VersionRecord {
    store::VersionRecord {
        blake3: c.blake3.unwrap_or_default(),
        size: c.size.unwrap_or(0),
        h1: c.h1.unwrap_or_default(),
        mod_h1: c.mod_h1,
        time: c.time,
        uploader: c.origin,
    }
}

/// Where a zip's answer reads its bytes.
enum ZipBytes {
    /// From the store: `piece`, the bytes from `range_start` read with the record (one
    /// snapshot), then the blob; `site`, where its stored bytes are (for the answer cache).
    Store {
        piece: Bytes,
        range_start: u64,
        site: Option<store::BlobSite>,
    },
    /// From a spool.
    Spool(Arc<dyn Pieces>),
}

/// A zip asked for: of a namespace's version, or of a cached one (`owner` none).
struct Zip {
    owner: Option<String>,
    module: String,
    version: String,
    head: bool,
    public: bool,
}

impl Zip {
    /// A cached version's zip (public: what `/go` caches is the LAN's).
    fn cached(module: String, version: String, head: bool) -> Self {
        Zip {
            owner: None,
            module,
            version,
            head,
            public: true,
        }
    }
}

async fn zip(state: AppState, want: Zip, headers: &HeaderMap) -> Result<Response, ApiError> {
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // The first piece is read with the record (one snapshot, copied out); what a range or a
    // large zip needs beyond it, piece by piece below. A HEAD needs no bytes.
    let first = if want.head { 0 } else { STREAM_STEP };
    let range_start = header_str(header::RANGE)
        .and_then(|r| r.trim().strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, _)| a.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let (module, version) = (&want.module, &want.version);
    let (rec, piece, site) = match &want.owner {
        Some(owner) => {
            let (lookup, piece, site) =
                state
                    .store
                    .zip_start(owner, module, version, range_start, first)?;
            match lookup {
                VersionLookup::Found(rec) => (rec, piece, site),
                other => return Err(missing(&other, module, version)),
            }
        }
        None => {
            let (c, piece, site) = state
                .store
                .cached_zip_start(module, version, range_start, first)?
                .ok_or_else(|| unknown_module(module))?;
            (cached_version_record(c), piece, Some(site))
        }
    };
    let bytes = ZipBytes::Store {
        piece,
        range_start,
        site,
    };
    zip_answer(&state, want, headers, rec, bytes)
}

/// The answer to `want`, a zip whose record is `rec` and bytes are read from `bytes`.
fn zip_answer(
    state: &AppState,
    want: Zip,
    headers: &HeaderMap,
    rec: store::VersionRecord,
    bytes: ZipBytes,
) -> Result<Response, ApiError> {
    let Zip {
        owner,
        module,
        version,
        head,
        public,
    } = want;
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let size = rec.size;
    let etag = format!("\"{}\"", rec.blake3);
    let last_modified = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(rec.time).unwrap_or(0)),
    );

    let mut resp_headers = HeaderMap::new();
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    resp_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(immutable(public)),
    );
    resp_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp_headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        resp_headers.insert(header::LAST_MODIFIED, v);
    }

    if header_str(header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        *resp.headers_mut() = resp_headers;
        return Ok(resp);
    }

    // If-Range: honour Range only when the validator still matches (strong comparison).
    let if_range_ok =
        header_str(header::IF_RANGE).is_none_or(|v| v.trim() == etag || v.trim() == last_modified);
    let range = match header_str(header::RANGE) {
        Some(r) if if_range_ok => match parse_range(r, size) {
            Ok(range) => range,
            Err(()) => {
                let mut e = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("range not satisfiable (size {size})"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    e = e.with_header(header::CONTENT_RANGE, v);
                }
                return Err(e);
            }
        },
        _ => None,
    };

    let (status, start, end) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end),
        None => (StatusCode::OK, 0, size),
    };
    if let Some(r) = range {
        let value = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp_headers.insert(header::CONTENT_RANGE, v);
        }
    }
    resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    // A download is a full GET answered 200 (not HEAD, 206 resumes or 304), counted when
    // the answer starts (web UI; flushed to the store in batches). The answer carries its
    // key, so that the answer cache counts its later hits under the same one.
    // A cached version's downloads are counted under the LAN's empty owner name.
    let download = (!head && status == StatusCode::OK).then(|| {
        Arc::new((
            owner.unwrap_or_else(|| proxy::LAN.to_owned()),
            module.clone(),
            version.clone(),
        ))
    });
    if let Some(key) = &download {
        state.ui.downloads.record(key);
    }
    let mut blob = None;
    let body = match bytes {
        _ if head || start == end => Body::empty(),
        ZipBytes::Store {
            piece,
            range_start,
            site,
        } => {
            blob = site.filter(|s| status == StatusCode::OK && s.size() == size);
            // The piece read with the record starts at `range_start`, which is `start` unless
            // the range was not honoured (If-Range) or not satisfiable as written.
            let piece = if range_start == start {
                piece
            } else {
                Bytes::new()
            };
            let piece = piece.slice(..piece.len().min(usize::try_from(end - start).unwrap_or(0)));
            if piece.len() as u64 == end - start {
                Body::from(piece)
            } else {
                let id = store::parse_blake3(&rec.blake3)?;
                let len = end - start;
                Body::stream(
                    Some(len),
                    zip_stream(Arc::clone(&state.store), id, piece, start, end),
                )
            }
        }
        ZipBytes::Spool(spool) => Body::stream(Some(end - start), spool_stream(spool, start, end)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = resp_headers;
    if let Some(key) = download {
        resp.extensions_mut().insert(Download(key));
    }
    if let Some(site) = blob {
        resp.extensions_mut().insert(ZipBlob(site));
    }
    Ok(resp)
}

/// Streams `[start, end)` of a spool, one `STREAM_STEP` at a time.
fn spool_stream(
    spool: Arc<dyn Pieces>,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures_util::stream::try_unfold(start, move |offset: u64| {
        let spool = Arc::clone(&spool);
        async move {
            if offset >= end {
                return Ok(None);
            }
            let want = usize::try_from(end - offset)
                .unwrap_or(usize::MAX)
                .min(STREAM_STEP);
            let piece = spool.piece(offset, want)?;
            if piece.is_empty() {
                tracing::error!("a spooled zip ended early at {offset}");
                return Err(std::io::Error::other("spool ended early"));
            }
            let next = offset + piece.len() as u64;
            Ok(Some((piece, next)))
        }
    })
}

/// Where the stored bytes a zip's whole answer (200) sends are: attached to the answer for
/// the cache of zip heads (`fast::ZipHead`), which reads them again from there.
#[derive(Clone, Copy, Debug)]
pub struct ZipBlob(pub store::BlobSite);

/// The version a zip's whole answer to a `GET` (200) is a download of, as the handler counted
/// it (the owner normalized): attached to the answer for the cache, which counts every later
/// `GET` it serves of it.
#[derive(Clone, Debug)]
pub struct Download(pub Arc<crate::web::facts::FactsKey>);

/// How much one step of a zip stream reads: one store chunk at most.
const STREAM_STEP: usize = store::CHUNK_SIZE as usize;

/// Streams `[start, end)` of blob `id`: `first` (the bytes from `start` already read), then one
/// stored value at a time, each copied out of a short read transaction (module docs). A blob
/// that disappears meanwhile (its last version deleted) ends the stream with an error, so the
/// client sees a short body, never a wrong one.
fn zip_stream(
    store: Arc<store::Store>,
    id: [u8; 32],
    first: Bytes,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    let first = (!first.is_empty()).then_some(first);
    futures_util::stream::try_unfold(
        (start, first),
        move |(offset, first): (u64, Option<Bytes>)| {
            let store = Arc::clone(&store);
            async move {
                if offset >= end {
                    return Ok(None);
                }
                if let Some(piece) = first {
                    let next = offset + piece.len() as u64;
                    return Ok(Some((piece, (next, None))));
                }
                // No yield between pieces: tried (every piece, every 4, 8, 16), it made the
                // tail of the download mix 15-20x longer (a 50 MiB zip waited a full round of
                // every other connection per piece) without shortening that of concurrent
                // 10 MiB downloads measurably (BENCHMARKS.md, 2026-12-04).
                let want = usize::try_from(end - offset)
                    .unwrap_or(usize::MAX)
                    .min(STREAM_STEP);
                match store.blob_piece(&id, offset, want) {
                    Ok(Some(piece)) if !piece.is_empty() => {
                        let next = offset + piece.len() as u64;
                        Ok(Some((piece, (next, None))))
                    }
                    Ok(Some(_)) => {
                        tracing::error!("blob {} ended early at {offset}", hex::encode(id));
                        Err(std::io::Error::other("blob ended early"))
                    }
                    Ok(None) => {
                        tracing::info!(
                            "blob {} was deleted during a download (at {offset}); the \
                             download is cut short",
                            hex::encode(id)
                        );
                        Err(std::io::Error::other("the zip was deleted"))
                    }
                    Err(e) => {
                        tracing::error!("reading blob {} at {offset}: {e}", hex::encode(id));
                        Err(std::io::Error::other(e.to_string()))
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_range_handles_forms_and_unsatisfiable() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            Ok(Some(ByteRange { start: 0, end: 10 }))
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            Ok(Some(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            Ok(Some(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            parse_range("bytes=95-200", 100),
            Ok(Some(ByteRange {
                start: 95,
                end: 100
            }))
        );
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=5-1", 100), Ok(None));
    }

    #[test]
    fn info_json_is_rfc3339_utc() {
        assert_eq!(
            info_json("v1.2.3", 1_704_207_845),
            "{\"Version\":\"v1.2.3\",\"Time\":\"2024-01-02T15:04:05Z\"}\n"
        );
    }
}
