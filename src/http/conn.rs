//! Plain-HTTP connections: answers already in the answer cache are written straight to the
//! socket; a connection's first request that is anything else hands the connection, with the
//! bytes read so far, to hyper for the rest of its life.
//!
//! Why: with the hot GOPROXY answers cached (`fast`), what was left of a request's cost in user
//! space was hyper's (request and header map, response encoding, its state machine), and a
//! 404 for an import-path prefix reached 1.31x to 1.62x nginx's rate against a 1.5x target
//! (BENCHMARKS.md). Here a cache hit costs one parse (`httparse`, hyper's own parser), one
//! lookup and one `write`.
//!
//! What takes this path is deliberately narrow; anything else goes to hyper unchanged:
//! `GET`/`HEAD`, HTTP/1.1, a GOPROXY path (`fast::goproxy_read`) without a query, no
//! `Authorization` (the cache holds anonymous answers only), no body or framing headers
//! (`Content-Length`, `Transfer-Encoding`), no `Connection`, `Expect` or `Upgrade`, and a
//! request head that arrived whole. A head that is partial or malformed is hyper's to time out
//! or reject, with the same settings as every other connection. An idle connection is closed
//! after `header_timeout`, as hyper does.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::{fast, metrics, AppState};

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
                if fast {
                    let (state, hand, stop) = (state.clone(), hand.clone(), stop.clone());
                    tokio::spawn(serve_connection(state, io, peer, hand, stop));
                } else if hand
                    .send(Handed {
                        pre: Bytes::new(),
                        io,
                        peer,
                    })
                    .await
                    .is_err()
                {
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

/// Serves one connection's cached answers, until it closes, the server stops, a request head
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
    loop {
        while !buf.is_empty() {
            out.clear();
            match answer(&state, &buf, &mut out) {
                Answer::Written(used) => {
                    if io.write_all(&out).await.is_err() {
                        return;
                    }
                    buf.advance(used);
                    since = Instant::now();
                }
                Answer::Partial => break,
                Answer::NotOurs => {
                    let pre = buf.split().freeze();
                    hand.send(Handed { pre, io, peer }).await.ok();
                    return;
                }
            }
        }
        // Room for a whole head: `advance` leaves the space before it unused until the
        // buffer is reclaimed, and a short read would cut a head in two.
        buf.reserve(READ_SIZE);
        let read = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
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
    /// Answered from the cache; the request took this many bytes.
    Written(usize),
    /// Its head is not complete yet.
    Partial,
    /// Not a request this path answers.
    NotOurs,
}

/// Writes into `out` the answer to the request at the start of `buf` when it is a cached
/// GOPROXY answer under the rules of the module docs.
fn answer(state: &AppState, buf: &[u8], out: &mut Vec<u8>) -> Answer {
    let start = Instant::now();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if buf.len() < HEAD_LIMIT => return Answer::Partial,
        _ => return Answer::NotOurs,
    };
    match cached(state, &req, out) {
        Some((method, path, status, len)) => {
            let sent = if method == "HEAD" { 0 } else { len };
            state
                .metrics
                .record(metrics::route_of(method, path), status, sent);
            crate::logging::request(
                method,
                path,
                status,
                Some(len),
                start.elapsed().as_secs_f64() * 1000.0,
            );
            Answer::Written(used)
        }
        None => Answer::NotOurs,
    }
}

/// The cached answer to a parsed request that qualifies, written into `out`: its method,
/// path, status and body length.
fn cached<'r>(
    state: &AppState,
    req: &httparse::Request<'_, 'r>,
    out: &mut Vec<u8>,
) -> Option<(&'r str, &'r str, u16, u64)> {
    if req.version != Some(1) {
        return None;
    }
    let method = req.method?;
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    let path = req.path?;
    if path.contains('?') || path.ends_with(".zip") {
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
    let m = if head {
        warp::http::Method::HEAD
    } else {
        warp::http::Method::GET
    };
    fast::goproxy_read(&m, path)?;
    let (status, len) =
        state
            .answers
            .write_hit(path, state.store.generation(), head, &date(), out)?;
    Some((method, path, status, len))
}

/// The `Date` header's value for now, formatted once a second per thread.
fn date() -> Bytes {
    thread_local! {
        static NOW: std::cell::RefCell<(u64, Bytes)> = const { std::cell::RefCell::new((u64::MAX, Bytes::new())) };
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
