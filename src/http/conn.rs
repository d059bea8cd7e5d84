//! The fast path: a connection's anonymous GOPROXY reads are answered here, cached answers
//! straight from the answer cache; the connection's first request that is anything else hands
//! it, with the bytes read so far, to hyper (`edge::serve_hyper`) for the rest of its life.
//! Plain and TLS connections alike.
//!
//! Why (BENCHMARKS.md, the A/B of `fast_path`): with the hot answers cached, what is left of a
//! small answer's cost in user space is hyper's (request and header map, response encoding,
//! its state machine). Here a cache hit costs one parse (`httparse`, hyper's own parser), one
//! lookup and one `write`.
//!
//! What is answered here is deliberately narrow ([`parse_head`]), so that the go command's
//! connections stay here (its requests are all of this kind) and anything else goes to hyper
//! unchanged: `GET`/`HEAD`, HTTP/1.1, a GOPROXY path without a query or fragment, no
//! `Authorization` (the cache holds anonymous answers only, and credentials are hyper's to
//! check), no body or framing headers (`Content-Length`, `Transfer-Encoding`), no
//! `Connection`, `Expect` or `Upgrade`. A cached answer is written from its pre-built bytes
//! (a body over 4 KiB after them, with `writev`); any other (a miss, a zip not cached, a
//! range, a revalidation) is computed by the same handler as on hyper's side (`fast::serve`)
//! and written by `write_response` as hyper writes it. A partial head that starts as a GOPROXY
//! read is read on here, up to `HEAD_LIMIT` and `header_timeout`; past `HEAD_LIMIT` it goes to
//! hyper if it came quickly and is closed if not (so no head gets more than one and a half
//! header timeouts in all). Any other partial head, and a malformed one, is hyper's. An idle
//! connection is closed after `header_timeout`, as hyper does, or at once when the connection
//! table needs its place (`edge::Slot::evicted`). Writes are under `send_timeout`
//! (`io::SendDeadline`, below this layer).

use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderValue, Method, Request, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::Response;
use super::edge::{self, ConnInfo, Shared, Slot};
use super::io::Rewind;
use super::{fast, finish, AppState};

/// A request head longer than this is not ours: hyper reads it (and refuses heads over its
/// own limit).
pub const HEAD_LIMIT: usize = 8 << 10;

/// What the request at the start of a buffer is, for this path.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<'b> {
    /// A complete head this path answers: `used` bytes long.
    Ours {
        used: usize,
        method: Method,
        path: &'b str,
        /// It has a header of `fast::CONDITIONAL` (a zip's is then the handler's).
        conditional: bool,
    },
    /// Not complete yet, and may be ours.
    Partial,
    /// Starts as ours, but is over `HEAD_LIMIT` and still not complete: not a go command's.
    TooLong,
    /// Not a request this path answers (hyper's).
    NotOurs,
}

/// Headers that send a request to hyper: credentials, a body, and connection management.
const REFUSED: [&str; 6] = [
    "authorization",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
];

/// Classifies the request at the start of `buf` (module docs). Pure: fuzzed by
/// `fuzz/fuzz_targets/request_head.rs`.
#[must_use]
pub fn parse_head<'b>(buf: &'b [u8], headers: &mut [httparse::Header<'b>]) -> Head<'b> {
    let mut req = httparse::Request::new(headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        // Read on here only what may be ours, and no further than `HEAD_LIMIT`: a head handed
        // over later would get a new `header_timeout` from hyper on top of the time spent.
        Ok(httparse::Status::Partial) if may_be_ours(buf) => {
            return if buf.len() < HEAD_LIMIT {
                Head::Partial
            } else {
                Head::TooLong
            };
        }
        _ => return Head::NotOurs,
    };
    if req.version != Some(1) {
        return Head::NotOurs;
    }
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Head::NotOurs,
    };
    let Some(path) = req.path else {
        return Head::NotOurs;
    };
    // A query, or a fragment (which the URI parser drops, so the handler would answer one
    // path under another's cache key): hyper's.
    if path.contains(['?', '#']) || fast::goproxy_read(&method, path).is_none() {
        return Head::NotOurs;
    }
    let mut conditional = false;
    for h in req.headers.iter() {
        if REFUSED.iter().any(|r| h.name.eq_ignore_ascii_case(r)) {
            return Head::NotOurs;
        }
        conditional |= fast::CONDITIONAL
            .iter()
            .any(|c| h.name.eq_ignore_ascii_case(c.as_str()));
    }
    Head::Ours {
        used,
        method,
        path,
        conditional,
    }
}

/// Whether a partial head starts as a GOPROXY read would (or is too short to tell).
fn may_be_ours(buf: &[u8]) -> bool {
    let bases = [crate::gomod::proxy::PACKAGES.as_bytes(), b"/go/"];
    [&b"GET "[..], b"HEAD "]
        .iter()
        .any(|m| match buf.strip_prefix(*m) {
            Some(rest) => bases
                .iter()
                .any(|base| rest.starts_with(base) || base.starts_with(rest)),
            None => m.starts_with(buf),
        })
}

/// The most headers a head of ours may have.
const MAX_HEADERS: usize = 32;

/// What became of the request at the start of the buffer.
enum Answer {
    /// Answered from the cache; the request took this many bytes. The answer is in `out`,
    /// but for a large body, to be written after it.
    Written(usize, Option<Bytes>),
    /// Ours, not in the cache: the handler computes it (`fast::serve`, which may cache it).
    Compute(usize, Box<http::request::Parts>, String, String),
    Partial,
    TooLong,
    NotOurs,
}

/// Whether `buf` holds the end of a request head (the empty line after the headers).
fn head_ends(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// The answer to the request at the start of `buf`: written into `out` when cached, or the
/// request to compute.
fn answer(state: &AppState, buf: &[u8], out: &mut Vec<u8>) -> Answer {
    let start = Instant::now();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (used, method, path, conditional) = match parse_head(buf, &mut headers) {
        Head::Ours {
            used,
            method,
            path,
            conditional,
        } => (used, method, path, conditional),
        Head::Partial => return Answer::Partial,
        Head::TooLong => return Answer::TooLong,
        Head::NotOurs => return Answer::NotOurs,
    };
    let head = method == Method::HEAD;
    // Only GOPROXY answers are ever cached (by `fast::serve`, under the path it was given),
    // so a hit needs no more checking of the path. A zip asked for in part or on condition
    // is the handler's (`fast::conditional`).
    let zip = path.ends_with(".zip");
    let hit = if conditional && zip {
        None
    } else {
        let generation = state.store.generation();
        let date = date();
        state
            .answers
            .write_hit(&state.ui.downloads, path, generation, head, &date, out)
            .or_else(|| {
                zip.then(|| {
                    state
                        .answers
                        .write_head_hit(state, path, generation, head, &date, out)
                })
                .flatten()
            })
    };
    if let Some(hit) = hit {
        finish::record(
            &state.metrics,
            start,
            &method,
            path,
            hit.status,
            Some(hit.len),
        );
        return Answer::Written(used, hit.body);
    }
    let Some((owner, tail)) = fast::goproxy_read(&method, path) else {
        return Answer::NotOurs;
    };
    // `parse_head` gave a complete head: parse it again into the handler's request.
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(buf), Ok(httparse::Status::Complete(_))) {
        return Answer::NotOurs;
    }
    match request(&req, method, path) {
        Some(parts) => Answer::Compute(used, Box::new(parts), owner, tail),
        None => Answer::NotOurs,
    }
}

/// The parsed request as the handler takes it; `None` for what hyper would refuse (a target
/// or a header that does not parse), so hyper refuses it.
fn request(
    req: &httparse::Request<'_, '_>,
    method: Method,
    path: &str,
) -> Option<http::request::Parts> {
    let uri: http::Uri = path.parse().ok()?;
    // The owner and tail were taken from `path`, and the cache keys by the URI's path: they
    // must be the same string.
    if uri.path() != path {
        return None;
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    for h in req.headers.iter() {
        let name = header::HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    Some(request.into_parts().0)
}

/// Serves one connection's GOPROXY reads, until it closes, the server stops, the table needs
/// its place while it is idle, a head takes longer than `header_timeout` (an idle connection
/// too, as hyper does), or a request is not ours (then hyper gets the connection).
pub async fn serve<IO>(shared: &Arc<Shared>, mut io: IO, conn: ConnInfo, slot: &Arc<Slot>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = &shared.state;
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
    let mut stopped = shared.stop_signal();
    let stopping = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    tokio::pin!(stopping);
    let stop = shared.stop_signal();
    loop {
        while !buf.is_empty() {
            // After a shutdown, no new request is begun, pipelined or not (hyper's way too).
            if *stop.borrow() {
                return;
            }
            out.clear();
            match answer(state, &buf, &mut out) {
                Answer::Written(used, body) => {
                    let _busy = slot.busy();
                    let written = match body {
                        None => write_all(&mut io, &out).await,
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
                Answer::Compute(used, parts, owner, tail) => {
                    let _busy = slot.busy();
                    buf.advance(used);
                    let head = parts.method == Method::HEAD;
                    let resp = fast::serve(state.clone(), *parts, owner, tail, conn).await;
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
                // The same for a head that is not ours and not yet whole: hyper would wait for
                // the rest with a header timeout of its own, up to two in all.
                Answer::NotOurs if since.elapsed() >= timeout / 2 && !head_ends(&buf) => return,
                Answer::NotOurs | Answer::TooLong => {
                    let pre = buf.split().freeze();
                    edge::serve_hyper(shared, Rewind::new(pre, io), conn, slot).await;
                    return;
                }
            }
        }
        // Room for a whole head: `advance` leaves the space before it unused until the
        // buffer is reclaimed, and a short read would cut a head in two.
        buf.reserve(READ_SIZE);
        let idle = buf.is_empty();
        let read = tokio::select! {
            () = &mut stopping => return,
            () = slot.evicted(), if idle => return,
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

/// Writes a handler's response as HTTP/1.1, as hyper writes it: its headers, `content-length`
/// (theirs, else the body's known size), `date`, then the body, frame by frame as the handler
/// yields them. Returns whether the connection may carry another request.
async fn write_response<IO>(
    io: &mut IO,
    resp: Response,
    head: bool,
    out: &mut Vec<u8>,
) -> io::Result<bool>
where
    IO: AsyncWrite + Unpin,
{
    use http_body_util::BodyExt;
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
    let declared = match (given, http_body::Body::size_hint(&body).exact()) {
        _ if bodiless => None,
        (Some(n), _) => Some(n),
        (None, Some(n)) => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
            Some(n)
        }
        (None, None) => {
            // No GOPROXY answer lacks a length; should one, its end is the connection's end
            // (RFC 9112 6.3), simpler than chunked and as correct.
            out.extend_from_slice(b"connection: close\r\n");
            keep = false;
            None
        }
    };
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\n\r\n");
    if head || bodiless {
        write_all(io, out).await?;
        return Ok(keep);
    }
    // What is to be written, in order: the head and small frames copied into `out` (then
    // moved to the queue when a large frame follows), large frames as they are (no copy),
    // written together with one `writev` once `FLUSH` bytes are queued and at the end.
    let mut queue: Vec<Bytes> = Vec::new();
    let mut queued = 0usize;
    let mut sent = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(Ok(data)) = frame.map(http_body::Frame::into_data) else {
            // A zip that cannot be read to its end: as hyper does, end the connection (the
            // client sees a short body, never a wrong one).
            write_queue(io, &mut queue).await.ok();
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

/// Writes `bytes` and flushes them (TLS keeps written bytes until a flush).
async fn write_all<IO: AsyncWrite + Unpin>(io: &mut IO, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Writes `queue` in order, with as few `writev` calls as the connection takes, and empties
/// it.
async fn write_queue<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    queue: &mut Vec<Bytes>,
) -> io::Result<()> {
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
    io.flush().await
}

/// Bytes queued before they are written: a 255 KiB piece goes at once, a 100 KiB zip's
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head<'_> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        // The headers array only lives here; the result keeps borrows of `text` alone.
        match parse_head(text.as_bytes(), &mut headers) {
            Head::Ours {
                used,
                method,
                path,
                conditional,
            } => Head::Ours {
                used,
                method,
                path,
                conditional,
            },
            other => other,
        }
    }

    #[test]
    fn only_plain_anonymous_goproxy_reads_are_ours() {
        let get = "GET /api/packages/acme/go/x/@v/list HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            head(get),
            Head::Ours {
                used: get.len(),
                method: Method::GET,
                path: "/api/packages/acme/go/x/@v/list",
                conditional: false,
            }
        );
        // The LAN's base too, and its partial heads wait for the rest.
        let lan = "GET /go/x.y/m/@v/list HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(matches!(
            head(lan),
            Head::Ours {
                path: "/go/x.y/m/@v/list",
                ..
            }
        ));
        assert_eq!(head("GET /go/x.y/m/@v/li"), Head::Partial);
        assert_eq!(head("GET /g"), Head::Partial);
        let ranged = "HEAD /api/packages/a/go/x/@v/v1.0.0.zip HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n";
        assert!(matches!(
            head(ranged),
            Head::Ours {
                conditional: true,
                ..
            }
        ));
        for not_ours in [
            "GET /api/packages/a/go/x/@v/list HTTP/1.0\r\n\r\n",
            "POST /api/packages/a/go/x/@v/list HTTP/1.1\r\n\r\n",
            "GET /api/packages/a/go/x/@v/list?x=1 HTTP/1.1\r\n\r\n",
            "GET /api/packages/a/go/x/@v/list#f HTTP/1.1\r\n\r\n",
            "GET /ui/acme HTTP/1.1\r\n\r\n",
            "GET /api/packages//go/x/@v/list HTTP/1.1\r\n\r\n",
            "GET /api/packages/a/go/x HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n",
            "GET /api/packages/a/go/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /api/packages/a/go/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /api/packages/a/go/x HTTP/1.1\r\nconnection: close\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "\x16\x03\x01\x02\x00",
        ] {
            assert_eq!(head(not_ours), Head::NotOurs, "{not_ours:?}");
        }
        assert_eq!(head("GET /api/pack"), Head::Partial);
        assert_eq!(
            head("GET /api/packages/a/go/x HTTP/1.1\r\nHost"),
            Head::Partial
        );
        assert_eq!(head("GET /ui/x HTTP/1.1\r\nHost"), Head::NotOurs);
        let long = format!(
            "GET /api/packages/a/go/x HTTP/1.1\r\nX-Pad: {}",
            "p".repeat(HEAD_LIMIT)
        );
        assert_eq!(head(&long), Head::TooLong);
    }
}
