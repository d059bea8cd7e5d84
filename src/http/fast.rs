//! The GOPROXY read path, served before warp's filters, with a cache of small answers.
//!
//! Every `go build` on the LAN asks for `.info`, `.mod`, `list`, `@latest` and a 404 for each
//! prefix of an import path, so these small answers are the hot path (issue 6). Two things
//! make them cheaper than going through `routes`:
//!
//! - **Routing**: `App` (the per-connection service of `serve`) sends `GET`/`HEAD` under
//!   `/api/packages/{owner}/go/` straight to `goproxy::handle`, skipping the chain of warp
//!   filters (each request otherwise clones its header map and tries filters in turn). The
//!   warp route stays, with the same handler, for requests that reach it another way (tests
//!   through `warp::test`, odd spellings of the path): one handler, two ways in.
//! - **Answer cache**: anonymous answers that are small (at most `MAX_ENTRY` bytes) and
//!   final (200, 404 and 410; never a zip, never an error of the server) are kept by request
//!   path. An entry is used only while the store's `generation` is the one read before the
//!   answer was computed; any write to the store that can change an answer (an upload, a
//!   delete, a visibility change, an account change) changes it, so nothing stale is ever
//!   served and a new version shows at once. The periodic flushes of download counts and
//!   tokens' last-used times, and the UI's zip facts, do not (`Store::commit_txn_unseen`).
//!   The cache is bounded by bytes (`BUDGET`); when full, it starts again empty, so a client
//!   asking for endless distinct paths costs memory up to the budget and no more.
//!
//! Requests with credentials never touch the cache: they are checked (401, 403, 429) every time.
//! "Credentials" means an `Authorization` header, the only thing `authn::authenticate_optional`
//! reads on these routes (session cookies are for `/ui` pages only), so an answer cached for
//! a request without one is exactly what any request without one gets.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use warp::http::{header, HeaderValue, Method, Request, StatusCode};
use warp::hyper::Body;
use warp::reply::Response;

use super::{goproxy, into_response, AppState, Peer};

/// The largest answer kept.
pub const MAX_ENTRY: usize = 16 << 10;
/// Bytes of paths and answers kept in all (a few thousand answers).
pub const BUDGET: usize = 4 << 20;
/// Per-entry bookkeeping counted against the budget besides path and body.
const ENTRY_OVERHEAD: usize = 96;

/// A cached answer.
struct Cached {
    status: StatusCode,
    content_type: HeaderValue,
    cache_control: HeaderValue,
    body: Bytes,
    /// Its header lines but `Date` as `conn` writes them, made once.
    lines: Bytes,
}

impl Cached {
    fn new(
        status: StatusCode,
        content_type: HeaderValue,
        cache_control: HeaderValue,
        body: Bytes,
    ) -> Self {
        let mut lines = Vec::with_capacity(160);
        status_line(status, &mut lines);
        lines.extend_from_slice(b"content-type: ");
        lines.extend_from_slice(content_type.as_bytes());
        lines.extend_from_slice(b"\r\ncache-control: ");
        lines.extend_from_slice(cache_control.as_bytes());
        lines.extend_from_slice(b"\r\nx-content-type-options: nosniff\r\ncontent-length: ");
        lines.extend_from_slice(body.len().to_string().as_bytes());
        lines.extend_from_slice(b"\r\n");
        Self {
            status,
            content_type,
            cache_control,
            body,
            lines: lines.into(),
        }
    }

    fn response(&self) -> Response {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, self.content_type.clone());
        h.insert(header::CACHE_CONTROL, self.cache_control.clone());
        resp
    }
}

#[derive(Default)]
struct Inner {
    /// The store generation every entry was computed at.
    generation: u64,
    bytes: usize,
    map: HashMap<Box<str>, Cached>,
}

/// Appends the HTTP/1.1 status line of `status`, as hyper writes it.
pub fn status_line(status: StatusCode, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Small anonymous GOPROXY answers by request path, valid for one store generation.
#[derive(Default)]
pub struct AnswerCache {
    inner: Mutex<Inner>,
}

impl AnswerCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `path` if it was computed at store generation `generation`.
    fn get(&self, path: &str, generation: u64) -> Option<Response> {
        let inner = self.lock();
        if inner.generation != generation {
            return None;
        }
        inner.map.get(path).map(Cached::response)
    }

    /// Writes the whole HTTP/1.1 response for `path` into `out` if it was computed at store
    /// generation `generation`: status line, the headers the hyper path sends (`finish` adds
    /// `x-content-type-options`), `date`, and the body unless `head_only`. Returns the status
    /// and the body's length.
    pub fn write_hit(
        &self,
        path: &str,
        generation: u64,
        head_only: bool,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<(u16, u64)> {
        let (status, lines, body) = {
            let inner = self.lock();
            if inner.generation != generation {
                return None;
            }
            let c = inner.map.get(path)?;
            (c.status, c.lines.clone(), c.body.clone())
        };
        out.extend_from_slice(&lines);
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n\r\n");
        if !head_only {
            out.extend_from_slice(&body);
        }
        Some((status.as_u16(), body.len() as u64))
    }

    /// Keeps an answer computed after reading `generation`. An answer from an older
    /// generation is dropped; one from a newer generation first empties the cache.
    fn insert(&self, path: &str, generation: u64, entry: Cached) {
        let weight = path.len() + entry.body.len() + ENTRY_OVERHEAD;
        let mut inner = self.lock();
        if generation < inner.generation {
            return;
        }
        if generation > inner.generation || inner.bytes + weight > BUDGET {
            inner.map.clear();
            inner.bytes = 0;
            inner.generation = generation;
        }
        if inner.map.insert(path.into(), entry).is_none() {
            inner.bytes += weight;
        }
    }

    /// Entries and bytes held (tests, metrics).
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

/// `(owner, tail)` of a GOPROXY read (`GET`/`HEAD /api/packages/{owner}/go/{tail}`), else
/// `None` (the request goes through warp).
#[must_use]
pub fn goproxy_read(method: &Method, path: &str) -> Option<(String, String)> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let rest = path.strip_prefix("/api/packages/")?;
    let (owner, rest) = rest.split_once('/')?;
    let tail = rest.strip_prefix("go/")?;
    if owner.is_empty() {
        return None;
    }
    Some((owner.to_owned(), tail.to_owned()))
}

/// Whether an answer may be kept: final statuses, the two headers every GOPROXY text answer
/// has and nothing else, a known small length.
fn cacheable(resp: &Response) -> bool {
    use warp::hyper::body::HttpBody;
    matches!(
        resp.status(),
        StatusCode::OK | StatusCode::NOT_FOUND | StatusCode::GONE
    ) && resp.headers().len() == 2
        && resp.headers().contains_key(header::CONTENT_TYPE)
        && resp.headers().contains_key(header::CACHE_CONTROL)
        && resp
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n <= MAX_ENTRY as u64)
}

/// Answers a GOPROXY read (`goproxy_read` matched), from the cache when it can.
pub async fn serve(
    state: AppState,
    req: Request<Body>,
    owner: String,
    tail: String,
    peer: Peer,
) -> Response {
    let start = Instant::now();
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path();
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    let use_cache = anonymous && parts.uri.query().is_none() && !tail.ends_with(".zip");
    let resp = if use_cache {
        let generation = state.store.generation();
        if let Some(hit) = state.answers.get(path, generation) {
            hit
        } else {
            let resp = into_response(
                goproxy::handle(
                    state.clone(),
                    owner,
                    tail,
                    parts.method.clone(),
                    parts.headers.clone(),
                    Some(peer),
                )
                .await,
            );
            keep(&state, path, generation, resp).await
        }
    } else {
        into_response(
            goproxy::handle(
                state.clone(),
                owner,
                tail,
                parts.method.clone(),
                parts.headers,
                Some(peer),
            )
            .await,
        )
    };
    super::finish(&state.metrics, start, &parts.method, path, resp)
}

/// Puts a cacheable answer into the cache and gives it back.
async fn keep(state: &AppState, path: &str, generation: u64, resp: Response) -> Response {
    if !cacheable(&resp) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // A body of known small size is in memory already: this completes at once.
    let body = match warp::hyper::body::to_bytes(body).await {
        Ok(b) => b,
        Err(e) => return super::error::ApiError::internal("reading an answer", &e).into_response(),
    };
    let (Some(content_type), Some(cache_control)) = (
        parts.headers.get(header::CONTENT_TYPE),
        parts.headers.get(header::CACHE_CONTROL),
    ) else {
        return Response::from_parts(parts, Body::from(body));
    };
    state.answers.insert(
        path,
        generation,
        Cached::new(
            parts.status,
            content_type.clone(),
            cache_control.clone(),
            body.clone(),
        ),
    );
    Response::from_parts(parts, Body::from(body))
}

/// A connection's service in `serve`: puts the client's address into each request's
/// extensions (warp's own `addr::remote` only works under `warp::serve`), and sends GOPROXY
/// reads to `serve` above, everything else to warp.
#[derive(Clone)]
pub struct App<S> {
    pub inner: S,
    pub state: AppState,
    pub peer: Peer,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> warp::hyper::service::Service<Request<Body>> for App<S>
where
    S: warp::hyper::service::Service<Request<Body>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        if let Some((owner, tail)) = goproxy_read(req.method(), req.uri().path()) {
            let state = self.state.clone();
            let peer = self.peer;
            return Box::pin(async move { Ok(serve(state, req, owner, tail, peer).await) });
        }
        req.extensions_mut().insert(self.peer);
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &'static str) -> Cached {
        Cached::new(
            StatusCode::OK,
            HeaderValue::from_static("text/plain"),
            HeaderValue::from_static("no-store"),
            Bytes::from_static(body.as_bytes()),
        )
    }

    async fn body_of(resp: Response) -> Bytes {
        warp::hyper::body::to_bytes(resp.into_body()).await.unwrap()
    }

    #[tokio::test]
    async fn an_entry_lives_exactly_as_long_as_its_generation() {
        let cache = AnswerCache::default();
        cache.insert("/a", 3, entry("v1.0.0\n"));
        assert_eq!(body_of(cache.get("/a", 3).unwrap()).await, "v1.0.0\n");
        assert!(cache.get("/b", 3).is_none());
        // A write happened: the entry is not served any more.
        assert!(cache.get("/a", 4).is_none());
        cache.insert("/a", 4, entry("v1.0.0\nv1.1.0\n"));
        // An answer read before that write arrives late: dropped, not kept.
        cache.insert("/c", 3, entry("old\n"));
        assert!(cache.get("/c", 4).is_none());
        assert!(cache.get("/a", 3).is_none());
        assert_eq!(
            body_of(cache.get("/a", 4).unwrap()).await,
            "v1.0.0\nv1.1.0\n"
        );
        assert_eq!(cache.usage().0, 1);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_budget() {
        let cache = AnswerCache::default();
        let body: &'static str = Box::leak("x".repeat(MAX_ENTRY).into_boxed_str());
        for i in 0..(2 * BUDGET / MAX_ENTRY) {
            cache.insert(&format!("/p{i}"), 1, entry(body));
            let (_, bytes) = cache.usage();
            assert!(bytes <= BUDGET, "{bytes} after {i}");
        }
        assert!(cache.usage().0 > 0);
    }

    #[test]
    fn only_goproxy_reads_take_the_fast_path() {
        let m = Method::GET;
        assert_eq!(
            goproxy_read(&m, "/api/packages/acme/go/example.com/m/@v/list"),
            Some(("acme".into(), "example.com/m/@v/list".into()))
        );
        assert_eq!(
            goproxy_read(&Method::HEAD, "/api/packages/acme/go/x/@latest"),
            Some(("acme".into(), "x/@latest".into()))
        );
        assert!(goproxy_read(&Method::PUT, "/api/packages/acme/go/upload").is_none());
        assert!(goproxy_read(&Method::DELETE, "/api/packages/acme/go/x/@v/list").is_none());
        assert!(goproxy_read(&m, "/api/packages//go/x/@v/list").is_none());
        assert!(goproxy_read(&m, "/api/packages/acme/npm/x").is_none());
        assert!(goproxy_read(&m, "/api/v1/packages/acme/go/x").is_none());
        assert!(goproxy_read(&m, "/ui/acme").is_none());
    }

    #[test]
    fn only_small_final_text_answers_are_cacheable() {
        let ok = |status: StatusCode, body: Vec<u8>| {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        };
        assert!(cacheable(&ok(StatusCode::OK, b"v1.0.0\n".to_vec())));
        assert!(cacheable(&ok(
            StatusCode::NOT_FOUND,
            b"unknown module x\n".to_vec()
        )));
        assert!(cacheable(&ok(StatusCode::GONE, b"deleted\n".to_vec())));
        assert!(!cacheable(&ok(
            StatusCode::INTERNAL_SERVER_ERROR,
            b"x".to_vec()
        )));
        assert!(!cacheable(&ok(StatusCode::UNAUTHORIZED, b"x".to_vec())));
        assert!(!cacheable(&ok(StatusCode::OK, vec![b'x'; MAX_ENTRY + 1])));
        let mut extra = ok(StatusCode::OK, b"x".to_vec());
        extra
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        assert!(!cacheable(&extra));
    }
}
