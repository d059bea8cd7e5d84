//! The HTTP edge: one accept loop per listener (plain and TLS alike), a bounded table of
//! connections, and one way to serve a connection: `conn` reads it while its requests are
//! anonymous GOPROXY reads, and hyper 1 (HTTP/1.1 only) serves it from the first request that
//! is anything else. Every request reaches [`dispatch`], which sends GOPROXY reads to
//! `fast::serve` and everything else to the warp routes, and every answer leaves through
//! `finish`.
//!
//! Deadlines, each named by a setting (README, Configuration):
//! - TLS handshake: `config::TLS_HANDSHAKE_TIMEOUT` (10 s);
//! - request head: `header_timeout`, counted from the connection's start or the end of the
//!   previous answer, so it is also how long a kept-alive connection may sit idle (hyper's
//!   header timer starts when it begins waiting for a head; `conn` does the same);
//! - request body: `upload_idle_timeout` without a byte while the handler waits for one
//!   (`body::Timed`, on every route); small bodies (forms, JSON) also as a whole within
//!   `header_timeout` (their handlers);
//! - response: `send_timeout` without the client taking a byte (`io::SendDeadline`, under
//!   hyper, `conn` and TLS alike).
//!
//! Bounds: at most `max_connections` connections (lowered to what the open-file limit allows),
//! at most `max_connections_per_ip` from one address. At the first cap the longest-idle
//! kept-alive connection is closed to make room, and when none is idle the accept loop waits
//! (new clients wait in the kernel's backlog); at the second, that address's longest-idle
//! connection is closed, or the new one is answered `503` and closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body::{Frame, SizeHint};
use http_body_util::Either;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::body::{BoxError, Timed};
use super::io::SendDeadline;
use super::{conn, fast, finish, tls, AppState, Peer};
use crate::config::{SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT};

/// What a request knows of its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub peer: Peer,
    /// Whether the request came over TLS: links, origin checks and the cookie's `Secure`
    /// follow it.
    pub tls: bool,
}

impl ConnInfo {
    /// A connection from nowhere (in-process requests: tests, benches).
    #[must_use]
    pub fn local() -> Self {
        Self {
            peer: Peer(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            tls: false,
        }
    }
}

/// What `serve` listens on.
#[derive(Clone)]
pub struct Listeners {
    /// Plain HTTP; `None` when turned off.
    pub plain: Option<SocketAddr>,
    /// Plain HTTP answers 308 to the HTTPS URL instead of serving (needs `tls`).
    pub redirect_http: bool,
    /// HTTPS, with its rustls configuration.
    pub tls: Option<(SocketAddr, Arc<tokio_rustls::rustls::ServerConfig>)>,
}

impl Listeners {
    /// Plain HTTP only, on `addr`.
    #[must_use]
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            plain: Some(addr),
            redirect_http: false,
            tls: None,
        }
    }
}

/// What `serve` bound, port 0 resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub plain: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

/// A request body as the routes get it: a connection's, or bytes (in-process requests).
pub enum ReqBody {
    Incoming(hyper::body::Incoming),
    Bytes(http_body_util::Full<Bytes>),
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ReqBody::Incoming(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            ReqBody::Bytes(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Incoming(b) => b.is_end_stream(),
            ReqBody::Bytes(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Incoming(b) => b.size_hint(),
            ReqBody::Bytes(b) => b.size_hint(),
        }
    }
}

type WarpFuture = Pin<Box<dyn Future<Output = warp::reply::Response> + Send>>;

/// The warp routes as one callable service, made once per server.
#[derive(Clone)]
pub struct Router {
    call: Arc<dyn Fn(Request<Timed<ReqBody>>) -> WarpFuture + Send + Sync>,
}

impl Router {
    /// The routes of `state` (`super::routes`).
    #[must_use]
    pub fn new(state: &AppState) -> Self {
        use tower_service::Service;
        let service = warp::service(super::routes(state.clone()));
        Self {
            call: Arc::new(move |req| {
                let mut service = service.clone();
                Box::pin(async move {
                    match service.call(req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    }
                })
            }),
        }
    }

    async fn call(&self, req: Request<Timed<ReqBody>>) -> warp::reply::Response {
        (self.call)(req).await
    }
}

/// An answer's body at the edge: ours, or one the warp routes made.
pub type EdgeBody = Either<super::body::Body, WarpBody>;
/// A warp answer's body, boxed.
pub type WarpBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The server as every connection sees it.
pub struct Shared {
    pub state: AppState,
    pub router: Router,
    conns: Arc<Conns>,
    stop: watch::Receiver<bool>,
    /// Under `redirect_http`: the HTTPS port plain requests are sent to.
    redirect_to: Option<u16>,
}

impl Shared {
    /// Becomes `true` when the server stops.
    #[must_use]
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }
}

/// Answers one request: GOPROXY reads through `fast::serve` (the answer cache), the rest
/// through the warp routes, every answer through `finish`.
/// Whether a `POST` to the API comes from another site's page: the only kind of request to
/// it a browser sends across sites without asking first (a cross-site `PUT`, `PATCH` or
/// `DELETE` needs a preflight the server never grants), with credentials it may hold for this
/// server (Basic ones typed at a prompt). Browsers name the page's origin in `Origin`;
/// clients that are not browsers (curl, the go command, the CLI) send none.
fn cross_site_api_post(method: &Method, path: &str, headers: &http::HeaderMap) -> bool {
    if method != Method::POST || !path.starts_with("/api/") {
        return false;
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    !matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

pub async fn dispatch(
    shared: &Shared,
    conn: ConnInfo,
    req: Request<ReqBody>,
) -> http::Response<EdgeBody> {
    let state = &shared.state;
    if let (Some(port), false) = (shared.redirect_to, conn.tls) {
        let start = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let resp = tls::redirect(&req, port);
        return finish::finish(&state.metrics, start, &method, &path, resp).map(Either::Left);
    }
    // `?go-get=1` is the go command's vanity-import probe, never a GOPROXY request: a module
    // path like `nas.lan/go/tool` is found by the UI's answer, not under the `/go/` base.
    let go_get = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "go-get=1"));
    if let Some((owner, tail)) =
        fast::goproxy_read(req.method(), req.uri().path()).filter(|_| !go_get)
    {
        let (parts, _body) = req.into_parts();
        return fast::serve(state.clone(), parts, owner, tail, conn)
            .await
            .map(Either::Left);
    }
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if cross_site_api_post(&method, &path, req.headers()) {
        let resp = super::error::ApiError::new(
            http::StatusCode::FORBIDDEN,
            "a POST to the API from another site's page is refused (its Origin is not this \
             server's)",
        )
        .into_response();
        return finish::finish(&state.metrics, start, &method, &path, resp).map(Either::Left);
    }
    let mut req = req.map(|b| Timed::new(b, state.config.upload_idle_timeout));
    req.extensions_mut().insert(conn);
    req.extensions_mut().insert(conn.peer);
    let resp = shared.router.call(req).await;
    let (mut parts, body) = resp.into_parts();
    finish::decorate(&path, &mut parts.headers);
    let resp = http::Response::from_parts(parts, ());
    let len = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| http_body::Body::size_hint(&body).exact());
    finish::record(
        &state.metrics,
        start,
        &method,
        &path,
        resp.status().as_u16(),
        len,
    );
    use http_body_util::BodyExt;
    resp.map(|()| Either::Right(body.map_err(Into::into).boxed()))
}

/// Answers one request in-process, as a connection's would be (for tests and benches): the
/// same routes, cache and finishing, without a socket.
pub async fn oneshot(
    state: &AppState,
    conn: ConnInfo,
    req: Request<Bytes>,
) -> http::Response<Bytes> {
    use http_body_util::BodyExt;
    let shared = Shared {
        state: state.clone(),
        router: Router::new(state),
        conns: Arc::new(Conns::new(1, 1)),
        stop: watch::channel(false).1,
        redirect_to: None,
    };
    let req = req.map(|b| ReqBody::Bytes(http_body_util::Full::new(b)));
    let head = req.method() == Method::HEAD;
    let resp = dispatch(&shared, conn, req).await;
    let (parts, body) = resp.into_parts();
    let bytes = if head {
        Bytes::new()
    } else {
        match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => Bytes::from(format!("(the body failed: {e})")),
        }
    };
    http::Response::from_parts(parts, bytes)
}

// ------------------------------------------------------------------------------------------
// Connections

/// One live connection in the table.
pub struct Slot {
    ip: IpAddr,
    /// Requests being answered; 0 means idle (waiting for a request).
    busy: AtomicUsize,
    /// When it last became idle, in milliseconds since the table was made.
    idle_since: AtomicU64,
    /// Set when the table asks it to close (`evict`).
    evicting: AtomicBool,
    evict: Notify,
    epoch: Instant,
}

impl Slot {
    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks a request begun; the guard marks it done.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// Resolves when the table asks this connection to close (it was idle and its place is
    /// needed). A request begun since is let finish by the caller.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && !self.evicting.load(Ordering::Acquire)
    }
}

/// A request in progress on a connection (see `Slot::busy`).
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.millis(), Ordering::Release);
        }
    }
}

/// The table of live connections (module docs: bounds).
pub struct Conns {
    max: usize,
    per_ip: usize,
    table: Mutex<Table>,
    freed: Notify,
    epoch: Instant,
    evictions: AtomicU64,
    refusals: AtomicU64,
}

#[derive(Default)]
struct Table {
    next: u64,
    live: HashMap<u64, Arc<Slot>>,
    by_ip: HashMap<IpAddr, usize>,
}

/// A place in the table; dropping it frees the place.
pub struct Admitted {
    conns: Arc<Conns>,
    id: u64,
    pub slot: Arc<Slot>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = self.conns.lock();
        if t.live.remove(&self.id).is_some() {
            if let Some(n) = t.by_ip.get_mut(&self.slot.ip) {
                *n -= 1;
                if *n == 0 {
                    t.by_ip.remove(&self.slot.ip);
                }
            }
        }
        drop(t);
        self.conns.freed.notify_waiters();
    }
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns")
            .field("max", &self.max)
            .field("per_ip", &self.per_ip)
            .field("open", &self.len())
            .finish_non_exhaustive()
    }
}

impl Conns {
    /// A table for at most `max` connections, `per_ip` from one address.
    #[must_use]
    pub fn new(max: usize, per_ip: usize) -> Self {
        Self {
            max: max.max(1),
            per_ip: per_ip.max(1),
            table: Mutex::default(),
            freed: Notify::new(),
            epoch: Instant::now(),
            evictions: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections live now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether none is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Idle connections closed to make room, and connections refused, so far.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        (
            self.evictions.load(Ordering::Relaxed),
            self.refusals.load(Ordering::Relaxed),
        )
    }

    /// Asks the longest-idle connection among `candidates` to close; whether there was one.
    fn evict_one<'a>(&self, candidates: impl Iterator<Item = &'a Arc<Slot>>) -> bool {
        let victim = candidates
            .filter(|s| s.is_idle())
            .min_by_key(|s| s.idle_since.load(Ordering::Acquire));
        match victim {
            Some(v) => {
                v.evicting.store(true, Ordering::Release);
                v.evict.notify_one();
                self.evictions.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Waits until a connection may be accepted: below the cap, or an idle one asked to
    /// leave (which it does at once; the table may run over by the few still leaving).
    pub async fn room(&self) {
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let t = self.lock();
                if t.live.len() < self.max {
                    return;
                }
                let leaving = t
                    .live
                    .values()
                    .filter(|s| s.evicting.load(Ordering::Acquire))
                    .count();
                if leaving < LEAVING_SLACK && self.evict_one(t.live.values()) {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Takes a place for a connection from `ip`; `None` when that address holds its cap and
    /// none of its connections is idle.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        // An IPv6 /64 counts as one address.
        let ip = super::budget::network_of(ip);
        let mut t = self.lock();
        let held = t.by_ip.get(&ip).copied().unwrap_or(0);
        if held >= self.per_ip && !self.evict_one(t.live.values().filter(|s| s.ip == ip)) {
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let id = t.next;
        t.next += 1;
        let slot = Arc::new(Slot {
            ip,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(
                u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
            epoch: self.epoch,
        });
        t.live.insert(id, Arc::clone(&slot));
        *t.by_ip.entry(ip).or_insert(0) += 1;
        Some(Admitted {
            conns: Arc::clone(self),
            id,
            slot,
        })
    }

    /// Waits until every connection has ended.
    async fn drained(&self) {
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// The most connections the open-file limit allows, after raising its soft value to the hard
/// one: each connection takes one descriptor, and `RESERVED_FDS` stay for the database, spool
/// files, listeners and logs.
#[must_use]
pub fn raise_open_file_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let mut current = limit.current;
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => current = limit.maximum,
            Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
        }
    }
    let Some(current) = current else {
        return wanted;
    };
    let allowed = usize::try_from(current.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    if allowed < wanted {
        tracing::warn!(
            "the open-file limit ({current}) allows {allowed} connections, fewer than \
             max_connections ({wanted}); raise it (systemd: LimitNOFILE=) to serve more"
        );
    }
    allowed.clamp(1, wanted.max(1))
}

/// Connections asked to leave that may still count against the cap while new ones come in.
const LEAVING_SLACK: usize = 16;

/// Descriptors kept for everything but connections.
const RESERVED_FDS: u64 = 64;

/// The most bytes hyper buffers per connection (a request head must fit).
const MAX_BUF: usize = 64 << 10;

type ServerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The accept queue asked of the kernel: as long as it allows (Linux cuts it to
/// `net.core.somaxconn`, 4,096 by default). A burst of connections while the accept loop
/// is busy waits there; a full queue drops the client's last handshake packet, and a client
/// that then sends nothing (an idle connection) is neither served nor closed until the
/// kernel's own retries, a minute or more later. tokio's `bind` asks for 1,024, which the
/// hostile mix (tests/hostile_mix.rs: 570 clients reconnecting at once on two busy cores)
/// overflowed.
const ACCEPT_BACKLOG: u32 = 65_535;

/// A listening socket on `addr` with the longest accept queue the system allows.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's own bind: a restarted server may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Binds every listener and serves until `shutdown` resolves, then lets requests in flight
/// finish for at most `config::SHUTDOWN_GRACE`. `on_bound` gets the bound addresses (port 0
/// resolved).
///
/// # Errors
/// When an address cannot be bound.
pub async fn serve(
    state: AppState,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    let config = Arc::clone(&state.config);
    let tls = match listeners.tls {
        Some((addr, config)) => {
            let listener =
                bind(addr).map_err(|e| anyhow::anyhow!("cannot listen (HTTPS) on {addr}: {e}"))?;
            Some((listener, tokio_rustls::TlsAcceptor::from(config)))
        }
        None => None,
    };
    let plain = match listeners.plain {
        Some(addr) => {
            Some(bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?)
        }
        None => None,
    };
    let bound = Bound {
        plain: match &plain {
            Some(l) => Some(l.local_addr()?),
            None => None,
        },
        tls: match &tls {
            Some((l, _)) => Some(l.local_addr()?),
            None => None,
        },
    };
    if let Some(addr) = bound.tls {
        state.https_port.set(addr.port()).ok();
    }
    let max = raise_open_file_limit(config.max_connections);
    let conns = Arc::new(Conns::new(max, config.max_connections_per_ip.min(max)));
    state.metrics.watch_connections(Arc::clone(&conns));
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        router: Router::new(&state),
        state,
        conns: Arc::clone(&conns),
        stop: stop_rx,
        redirect_to: bound
            .tls
            .filter(|_| listeners.redirect_http)
            .map(|a| a.port()),
    });
    let mut loops: Vec<ServerFuture> = Vec::new();
    if let Some(listener) = plain {
        loops.push(Box::pin(accept_loop(Arc::clone(&shared), listener, None)));
    }
    if let Some((listener, acceptor)) = tls {
        loops.push(Box::pin(accept_loop(
            Arc::clone(&shared),
            listener,
            Some(acceptor),
        )));
    }
    on_bound(bound);
    let all = futures_util::future::join_all(loops);
    tokio::select! {
        _ = all => {}
        () = shutdown => {}
    }
    stop_tx.send(true).ok();
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, conns.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {}s; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut stop = shared.stop.clone();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = shared.conns.room() => {}
        }
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            // The connection went away before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => continue,
            // Out of file descriptors and the like: wait rather than spin.
            Err(e) => {
                tracing::error!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Small answers leave at once.
        tcp.set_nodelay(true).ok();
        let ip = addr.ip();
        let Some(admitted) = shared.conns.admit(ip) else {
            tokio::spawn(refuse(tcp, ip));
            continue;
        };
        shared.state.metrics.connection_accepted();
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = ConnInfo {
                peer: Peer(ip),
                tls: tls.is_some(),
            };
            let io = SendDeadline::new(tcp, shared.state.config.send_timeout);
            match tls {
                None => serve_conn(&shared, io, conn, &admitted.slot).await,
                Some(acceptor) => {
                    let busy = admitted.slot.busy();
                    let shake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io));
                    match shake.await {
                        Ok(Ok(io)) => {
                            drop(busy);
                            serve_conn(&shared, io, conn, &admitted.slot).await;
                        }
                        Ok(Err(e)) => tracing::info!(
                            target: "goshelf::tls",
                            "TLS handshake with {ip} failed: {e}"
                        ),
                        Err(_) => tracing::info!(
                            target: "goshelf::tls",
                            "TLS handshake with {ip} took over {}s; dropped",
                            TLS_HANDSHAKE_TIMEOUT.as_secs()
                        ),
                    }
                }
            }
            drop(admitted);
        });
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The answer to a connection over its address's cap: one line the go command shows, then
/// the connection ends.
async fn refuse(mut tcp: TcpStream, ip: IpAddr) {
    const REASON: &str = "too many connections from your address; try again soon\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\nretry-after: 5\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REASON}",
        REASON.len()
    );
    tracing::info!(target: "goshelf::request", peer = %ip, "connection refused: too many from this address");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Serves one connection: through `conn` while its requests are anonymous GOPROXY reads
/// (unless `fast_path` is off, or the listener redirects), through hyper from then on.
async fn serve_conn<IO>(shared: &Arc<Shared>, io: IO, conn: ConnInfo, slot: &Arc<Slot>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if shared.state.config.fast_path && shared.redirect_to.is_none() {
        conn::serve(shared, io, conn, slot).await;
    } else {
        serve_hyper(shared, io, conn, slot).await;
    }
}

/// Serves a connection with hyper 1 (HTTP/1.1 only) until it ends, the server stops, or the
/// table asks for its place while it is idle.
pub async fn serve_hyper<IO>(shared: &Arc<Shared>, io: IO, conn: ConnInfo, slot: &Arc<Slot>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    shared.state.metrics.connection_handed();
    let service = {
        let shared = Arc::clone(shared);
        let slot = Arc::clone(slot);
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let shared = Arc::clone(&shared);
            let busy = slot.busy();
            async move {
                let req = req.map(ReqBody::Incoming);
                let resp = dispatch(&shared, conn, req).await;
                Ok::<_, Infallible>(resp.map(|body| Guarded { body, _busy: busy }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(shared.state.config.header_timeout)
        .max_buf_size(MAX_BUF)
        .keep_alive(true);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut stop = shared.stop.clone();
    tokio::select! {
        r = connection.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection from {}: {e}", conn.peer.0);
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
        () = slot.evicted() => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(e) = connection.await {
        tracing::debug!("connection from {}: {e}", conn.peer.0);
    }
}

/// A response body that keeps its connection marked busy until it is sent (or dropped).
pub struct Guarded {
    body: EdgeBody,
    _busy: Busy,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn an_api_post_from_another_sites_page_is_told_apart() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = http::HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, http::HeaderValue::from_static(v));
            }
            m
        };
        let host = ("host", "nas:8080");
        for (method, path, headers, cross) in [
            (
                Method::POST,
                "/api/v1/users",
                h(&[host, ("origin", "http://evil.example")]),
                true,
            ),
            (
                Method::POST,
                "/api/v1/users",
                h(&[host, ("origin", "null")]),
                true,
            ),
            (
                Method::POST,
                "/api/v1/users",
                h(&[("origin", "http://nas:8080")]),
                true,
            ),
            (
                Method::POST,
                "/api/v1/users",
                h(&[host, ("origin", "http://nas:8080")]),
                false,
            ),
            (
                Method::POST,
                "/api/v1/users",
                h(&[host, ("origin", "https://NAS:8080")]),
                false,
            ),
            (Method::POST, "/api/v1/users", h(&[host]), false),
            (
                Method::PUT,
                "/api/v1/users/x/password",
                h(&[host, ("origin", "http://e")]),
                false,
            ),
            (
                Method::POST,
                "/signin",
                h(&[host, ("origin", "http://evil.example")]),
                false,
            ),
        ] {
            assert_eq!(
                cross_site_api_post(&method, path, &headers),
                cross,
                "{method} {path} {headers:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_address_over_its_cap_is_refused_unless_one_of_its_connections_idles() {
        let conns = Arc::new(Conns::new(100, 2));
        let a = conns.admit(ip(1)).unwrap();
        let b = conns.admit(ip(1)).unwrap();
        let _busy_a = a.slot.busy();
        let _busy_b = b.slot.busy();
        assert!(conns.admit(ip(1)).is_none(), "both busy: refused");
        assert!(
            conns.admit(ip(2)).is_some(),
            "another address is not affected"
        );
        drop(_busy_b);
        // b is idle now: it is asked to leave, and the newcomer gets in.
        let c = conns.admit(ip(1)).unwrap();
        tokio::time::timeout(Duration::from_secs(1), b.slot.evicted())
            .await
            .unwrap();
        assert_eq!(conns.counts(), (1, 1));
        drop((a, b, c));
        assert!(conns.is_empty());
    }

    /// An IPv6 /64 is one address for the cap: a host may pick any address in its /64.
    #[tokio::test]
    async fn an_ipv6_slash_64_shares_one_cap() {
        let conns = Arc::new(Conns::new(100, 2));
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = conns.admit(v6("2001:db8:1:2::1")).unwrap();
        let b = conns.admit(v6("2001:db8:1:2:ffff::9")).unwrap();
        let _busy = (a.slot.busy(), b.slot.busy());
        assert!(
            conns.admit(v6("2001:db8:1:2:abcd::7")).is_none(),
            "same /64"
        );
        assert!(conns.admit(v6("2001:db8:1:3::1")).is_some(), "another /64");
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_make_us_wait() {
        let conns = Arc::new(Conns::new(2, 10));
        let old = conns.admit(ip(1)).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let young = conns.admit(ip(2)).unwrap();
        // Both idle: room is made by asking the older one to leave.
        tokio::time::timeout(Duration::from_secs(1), conns.room())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), old.slot.evicted())
            .await
            .unwrap();
        drop(old);
        let busy = young.slot.busy();
        let third = conns.admit(ip(3)).unwrap();
        let _busy_third = third.slot.busy();
        // Both busy: no room until one ends.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), conns.room())
                .await
                .is_err()
        );
        drop(busy);
        drop(young);
        tokio::time::timeout(Duration::from_secs(1), conns.room())
            .await
            .unwrap();
    }
}
