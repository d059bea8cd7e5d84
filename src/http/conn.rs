//! Plain-HTTP connections: anonymous GOPROXY reads are answered here, cached answers
//! straight from the answer cache; a connection's first request that is anything else hands
//! the connection, with the bytes read so far, to hyper for the rest of its life.
//!
//! Why: with the hot GOPROXY answers cached (`fast`), what was left of a request's cost in user
//! space was hyper's (request and header map, response encoding, its state machine), and a
//! 404 for an import-path prefix reached 1.31x to 1.62x nginx's rate against a 1.5x target
//! (BENCHMARKS.md). Here a cache hit costs one parse (`httparse`, hyper's own parser), one
//! lookup and one `write`; measured, half the user time per request.
//!
//! What is answered here is deliberately narrow, so that the go command's connections stay
//! here (its requests are all of this kind) and anything else goes to hyper unchanged:
//! `GET`/`HEAD`, HTTP/1.1, a GOPROXY path (`fast::goproxy_read`) without a query, no
//! `Authorization` (the cache holds anonymous answers only, and credentials are hyper's to
//! check), no body or framing headers (`Content-Length`, `Transfer-Encoding`), no
//! `Connection`, `Expect` or `Upgrade`. A cached answer is written from its pre-built bytes
//! (a body over 4 KiB after them, with `writev`); any other (a miss, a zip not cached, a range, a
//! revalidation) is computed by the same handler as on hyper's side
//! (`fast::serve`) and written by `write_response` as hyper would write it. A partial head
//! that starts as a GOPROXY read is read on here, up to `HEAD_LIMIT` and `header_timeout`;
//! past `HEAD_LIMIT` it goes to hyper if it came quickly and is closed if not (so that no head
//! gets more than one and a half header timeouts in all). Any other partial head, and a
//! malformed one, is hyper's. An idle connection is closed after `header_timeout`, as hyper
//! does. A target with a fragment or query, or one the URI parser would change, is hyper's:
//! the cache is keyed by the parsed path, and the handler must answer that same path.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use warp::http::{header, HeaderValue, Method, Request, StatusCode};
use warp::hyper::Body;
use warp::reply::Response;

use super::{fast, metrics, AppState, Peer};

/// A connection handed to hyper: the socket, and the bytes already read from it, which hyper
/// reads first.
pub struct Handed {
    pre: Bytes,
    io: TcpStream,
    pub peer: IpAddr,
}

impl AsyncRead for Handed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            buf.put_slice(&this.pre.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Handed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The connections handed over, as hyper's `Accept`.
pub struct HandedOver(pub mpsc::Receiver<Handed>);

impl warp::hyper::server::accept::Accept for HandedOver {
    type Conn = Handed;
    type Error = io::Error;

    fn poll_accept(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Handed, io::Error>>> {
        self.get_mut().0.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// Accepts plain-HTTP connections until `stop`, each served by `serve_connection`, or handed
/// over at once when `fast` is off.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: AppState,
    hand: mpsc::Sender<Handed>,
    mut stop: watch::Receiver<bool>,
    fast: bool,
    alive: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((io, addr)) => {
                // As hyper's listener did: small answers leave at once.
                io.set_nodelay(true).ok();
                let peer = addr.ip();
                state.metrics.connection_accepted();
                if fast {
                    let (state, hand, stop) = (state.clone(), hand.clone(), stop.clone());
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        serve_connection(state, io, peer, hand, stop).await;
                        drop(alive);
                    });
                } else if !hand_over(&state, &hand, &mut stop, Bytes::new(), io, peer).await {
                    return;
                }
            }
            // The connection went away before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors and the like: wait rather than spin, as hyper does.
            Err(e) => {
                tracing::error!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Gives hyper the connection `io` and the bytes `pre` already read from it. After a
/// shutdown hyper takes no more connections, and the connection is dropped instead. Returns
/// whether hyper took it.
async fn hand_over(
    state: &AppState,
    hand: &mpsc::Sender<Handed>,
    stop: &mut watch::Receiver<bool>,
    pre: Bytes,
    io: TcpStream,
    peer: IpAddr,
) -> bool {
    state.metrics.connection_handed();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        r = hand.send(Handed { pre, io, peer }) => r.is_ok(),
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A request head longer than this is not ours: hyper reads it (and refuses heads over its
/// own, larger limit).
const HEAD_LIMIT: usize = 8 << 10;

/// Serves one connection's GOPROXY reads, until it closes, the server stops, a request head
/// takes longer than `header_timeout` (an idle connection too, as hyper does), or a request
/// is not ours (then hyper gets the connection).
async fn serve_connection(
    state: AppState,
    mut io: TcpStream,
    peer: IpAddr,
    hand: mpsc::Sender<Handed>,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = state.config.header_timeout;
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(1024);
    // When the head being read began: the last answer, or the connection's start. The timer
    // is moved only when it fires early, not at every request: arming a timer per read cost
    // more than the rest of a cached answer's user time.
    let mut since = Instant::now();
    let timer = tokio::time::sleep(timeout);
    tokio::pin!(timer);
    // Made once: a new `wait_for` at every read registered and unregistered a waiter on the
    // channel each time (about 1 % of a cached answer's CPU time).
    let mut stopped = stop.clone();
    let stopping = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    tokio::pin!(stopping);
    loop {
        while !buf.is_empty() {
            // After a shutdown, no new request is begun, pipelined or not (hyper's way too).
            if *stop.borrow() {
                return;
            }
            out.clear();
            match answer(&state, &buf, &mut out) {
                Answer::Written(used, body) => {
                    let written = match body {
                        None => io.write_all(&out).await,
                        Some(body) => {
                            let mut queue = vec![Bytes::copy_from_slice(&out), body];
                            write_queue(&mut io, &mut queue).await
                        }
                    };
                    if written.is_err() {
                        return;
                    }
                    buf.advance(used);
                    since = Instant::now();
                }
                Answer::Compute(used, req, owner, tail) => {
                    buf.advance(used);
                    let head = req.method() == Method::HEAD;
                    let resp = fast::serve(state.clone(), *req, owner, tail, Peer(peer)).await;
                    match write_response(&mut io, resp, head, &mut out).await {
                        Ok(true) => {}
                        Ok(false) | Err(_) => return,
                    }
                    since = Instant::now();
                }
                Answer::Partial => break,
                // hyper reads it on with a header timeout of its own: only if it arrived
                // quickly, so that a slow head gets at most one and a half timeouts in all.
                Answer::TooLong if since.elapsed() >= timeout / 2 => return,
                Answer::NotOurs | Answer::TooLong => {
                    let pre = buf.split().freeze();
                    hand_over(&state, &hand, &mut stop, pre, io, peer).await;
                    return;
                }
            }
        }
        // Room for a whole head: `advance` leaves the space before it unused until the
        // buffer is reclaimed, and a short read would cut a head in two.
        buf.reserve(READ_SIZE);
        let read = tokio::select! {
            () = &mut stopping => return,
            () = &mut timer => {
                let deadline = since + timeout;
                if Instant::now() >= deadline {
                    return;
                }
                timer.as_mut().reset(deadline.into());
                continue;
            }
            r = io.read_buf(&mut buf) => r,
        };
        match read {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

/// Bytes read at a time.
const READ_SIZE: usize = 4096;

/// What became of the request at the start of the buffer.
enum Answer {
    /// Answered from the cache; the request took this many bytes. The answer is in `out`,
    /// but for a large body, to be written after it.
    Written(usize, Option<Bytes>),
    /// Ours, not in the cache: the handler computes it (`fast::serve`, which may cache it).
    Compute(usize, Box<Request<Body>>, String, String),
    /// Its head is not complete yet.
    Partial,
    /// A GOPROXY-looking head over `HEAD_LIMIT` and still not complete: not a go command's.
    TooLong,
    /// Not a request this path answers.
    NotOurs,
}

/// The answer to the request at the start of `buf` under the rules of the module docs:
/// written into `out` when cached, or the request to compute.
fn answer(state: &AppState, buf: &[u8], out: &mut Vec<u8>) -> Answer {
    let start = Instant::now();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        // Read on here only what may be ours, and no further than `HEAD_LIMIT`: a head handed
        // over later would get a new `header_timeout` from hyper on top of the time spent.
        Ok(httparse::Status::Partial) if may_be_ours(buf) => {
            return if buf.len() < HEAD_LIMIT {
                Answer::Partial
            } else {
                Answer::TooLong
            };
        }
        _ => return Answer::NotOurs,
    };
    let Some((method, path)) = ours(&req) else {
        return Answer::NotOurs;
    };
    let head = method == Method::HEAD;
    // Only GOPROXY answers are ever cached (by `fast::serve`, under the path it was given),
    // so a hit needs no more checking of the path; a miss does. A zip asked for in part or
    // on condition is the handler's (`fast::conditional`).
    let hit = if path.ends_with(".zip") && req.headers.iter().any(|h| conditional_header(h.name)) {
        None
    } else {
        state.answers.write_hit(
            &state.ui.downloads,
            path,
            state.store.generation(),
            head,
            &date(),
            out,
        )
    };
    if let Some(hit) = hit {
        let sent = if head { 0 } else { hit.len };
        state
            .metrics
            .record(metrics::route_of(method.as_str(), path), hit.status, sent);
        crate::logging::request(
            method.as_str(),
            path,
            hit.status,
            Some(hit.len),
            start.elapsed().as_secs_f64() * 1000.0,
        );
        return Answer::Written(used, hit.body);
    }
    let Some((owner, tail)) = fast::goproxy_read(&method, path) else {
        return Answer::NotOurs;
    };
    match request(&req, method, path) {
        Some(request) => Answer::Compute(used, Box::new(request), owner, tail),
        None => Answer::NotOurs,
    }
}

/// Whether a header of a raw head is one of `fast::CONDITIONAL`.
fn conditional_header(name: &str) -> bool {
    fast::CONDITIONAL
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_str()))
}

/// Whether a partial head starts as a GOPROXY read would (or is too short to tell).
fn may_be_ours(buf: &[u8]) -> bool {
    [&b"GET /api/packages/"[..], b"HEAD /api/packages/"]
        .iter()
        .any(|p| buf.starts_with(p) || p.starts_with(buf))
}

/// Method and path of a request this path may answer (a GOPROXY read if the path is one),
/// else `None`.
fn ours<'r>(req: &httparse::Request<'_, 'r>) -> Option<(Method, &'r str)> {
    if req.version != Some(1) {
        return None;
    }
    let method = match req.method? {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return None,
    };
    let path = req.path?;
    // A query, or a fragment (which the URI parser drops, so the handler would answer one
    // path under another's cache key): hyper's.
    if path.contains(['?', '#']) {
        return None;
    }
    let refused = [
        "authorization",
        "content-length",
        "transfer-encoding",
        "connection",
        "expect",
        "upgrade",
    ];
    if req
        .headers
        .iter()
        .any(|h| refused.iter().any(|r| h.name.eq_ignore_ascii_case(r)))
    {
        return None;
    }
    Some((method, path))
}

/// The parsed request as the handler takes it; `None` for what hyper would refuse (a target
/// or a header that does not parse), so hyper refuses it.
fn request(req: &httparse::Request<'_, '_>, method: Method, path: &str) -> Option<Request<Body>> {
    let uri: warp::http::Uri = path.parse().ok()?;
    // The owner and tail were taken from `path`, and the cache keys by the URI's path: they
    // must be the same string.
    if uri.path() != path {
        return None;
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    for h in req.headers.iter() {
        let name = warp::http::header::HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    Some(request)
}

/// Writes a handler's response as HTTP/1.1, as hyper would: its headers, `content-length`
/// (theirs, else the body's known size), `date`, then the body, frame by frame as the
/// handler yields them (a zip's stored pieces, without copying them). Returns whether the
/// connection may carry another request.
async fn write_response(
    io: &mut TcpStream,
    resp: Response,
    head: bool,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    use warp::hyper::body::HttpBody;
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    out.clear();
    fast::status_line(status, out);
    let mut keep = true;
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close") {
            keep = false;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let given = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let declared = match (given, body.size_hint().exact()) {
        _ if bodiless => None,
        (Some(n), _) => Some(n),
        (None, Some(n)) => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
            Some(n)
        }
        (None, None) => {
            // No GOPROXY answer lacks a length today; should one, its end is the
            // connection's end (RFC 9112 6.3), simpler than chunked and as correct.
            out.extend_from_slice(b"connection: close\r\n");
            keep = false;
            None
        }
    };
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\n\r\n");
    if head || bodiless {
        io.write_all(out).await?;
        return Ok(keep);
    }
    // What is to be written, in order: the head and small frames copied into `out` (then
    // moved to the queue when a large frame follows), large frames as they are (no copy),
    // written together with one `writev` once `FLUSH` bytes are queued and at the end.
    let mut queue: Vec<Bytes> = Vec::new();
    let mut queued = 0usize;
    let mut sent = 0u64;
    while let Some(frame) = body.data().await {
        let Ok(data) = frame else {
            // A zip that cannot be read to its end: as hyper does, end the connection
            // (the client sees a short body, never a wrong one).
            return Ok(false);
        };
        sent += data.len() as u64;
        if declared.is_some_and(|n| sent > n) {
            return Ok(false);
        }
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
        } else {
            if !out.is_empty() {
                queued += out.len();
                queue.push(Bytes::copy_from_slice(out));
                out.clear();
            }
            queued += data.len();
            queue.push(data);
        }
        if queued + out.len() >= FLUSH || queue.len() >= 16 {
            if !out.is_empty() {
                queue.push(Bytes::copy_from_slice(out));
                out.clear();
            }
            write_queue(io, &mut queue).await?;
            queued = 0;
        }
    }
    if !out.is_empty() {
        queue.push(Bytes::copy_from_slice(out));
    }
    write_queue(io, &mut queue).await?;
    // A body shorter than its length would leave the client waiting for the rest.
    Ok(keep && declared.is_none_or(|n| sent == n))
}

/// Writes `queue` in order, with as few `writev` calls as the socket takes, and empties it.
async fn write_queue(io: &mut TcpStream, queue: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < queue.len() {
        let slices: Vec<io::IoSlice<'_>> =
            queue[first..].iter().map(|b| io::IoSlice::new(b)).collect();
        let mut n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let Some(b) = queue.get_mut(first) else {
                break;
            };
            if n >= b.len() {
                n -= b.len();
                first += 1;
            } else {
                b.advance(n);
                n = 0;
            }
        }
    }
    queue.clear();
    Ok(())
}

/// Bytes queued before they are written: a 255 KiB chunk goes at once, a 100 KiB zip's
/// pieces in one call.
const FLUSH: usize = 192 << 10;

/// A body frame this small is copied next to what precedes it instead of queued alone.
const COALESCE: usize = 4 << 10;

/// The `Date` header's value for now, formatted once a second per thread.
fn date() -> Bytes {
    thread_local! {
        static NOW: RefCell<(u64, Bytes)> = const { RefCell::new((u64::MAX, Bytes::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    NOW.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            *cell = (secs, Bytes::from(httpdate::fmt_http_date(now)));
        }
        cell.1.clone()
    })
}
