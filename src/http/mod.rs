//! HTTP: `routes(state)` composes the warp filters; `serve` binds, logs one line per request
//! and shuts down gracefully. Handlers are plain async fns returning `Result<Response,
//! ApiError>`; rejections only mean "not this route".

pub mod api;
pub mod authn;
mod conn;
pub mod error;
pub mod fast;
pub mod goproxy;
pub mod metrics;
pub mod tls;
pub mod ui;
pub mod upload;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use warp::http::{header, HeaderValue, Method};
use warp::hyper::body::HttpBody;
use warp::path::{FullPath, Tail};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::config::Config;
use crate::store::Store;
use error::ApiError;

/// How often batched bookkeeping (tokens' last use) is written to the store.
pub const BACKGROUND_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    pub auth: Arc<authn::AuthState>,
    /// Web UI: zip facts cache, download counters, sessions.
    pub ui: Arc<ui::UiState>,
    /// Small anonymous GOPROXY answers (`fast`).
    pub answers: Arc<fast::AnswerCache>,
}

impl AppState {
    /// State for a store and a configuration, with fresh counters.
    #[must_use]
    pub fn new(store: Store, config: Config) -> Self {
        let auth = authn::AuthState::new(config.auth_failures_per_minute);
        Self {
            store: Arc::new(store),
            config: Arc::new(config),
            metrics: Arc::new(metrics::Metrics::default()),
            auth: Arc::new(auth),
            ui: Arc::new(ui::UiState::default()),
            answers: Arc::new(fast::AnswerCache::default()),
        }
    }
}

/// Runs a synchronous store call on the blocking pool; a panic or cancellation is a 500.
pub async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(ApiError::internal("blocking task", &e)),
    }
}

pub use authn::{authenticate, authenticate_optional, Peer};

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The client's address, when `serve` recorded it (not under `warp::test`).
fn peer() -> impl Filter<Extract = (Option<Peer>,), Error = Infallible> + Clone {
    warp::ext::optional::<Peer>()
}

fn into_response(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(ApiError::into_response)
}

/// Every route, with error mapping, security headers and the request log.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let get_or_head = warp::get().or(warp::head()).unify();

    // Path first, method second: an unknown path must be 404, not warp's 405 (warp ranks a
    // method mismatch above "not found" when it merges rejections).
    let upload = warp::path!("api" / "packages" / String / "go" / "upload")
        .and(warp::put())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(peer())
        .and(warp::body::stream())
        .then(|owner, state, headers, peer, body| async move {
            let mut resp =
                into_response(upload::handle(state, owner, headers, peer, Box::pin(body)).await);
            // A refused upload may leave body bytes unread; say the connection ends, so a
            // keep-alive client does not send its next request into a closed socket.
            if resp.status().is_client_error() || resp.status().is_server_error() {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        });

    let goproxy = warp::path!("api" / "packages" / String / "go" / ..)
        .and(warp::path::tail())
        .and(get_or_head)
        .and(with_state(state.clone()))
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(peer())
        .then(
            |owner: String, tail: Tail, state, method, headers, peer| async move {
                let tail = tail.as_str().to_owned();
                into_response(goproxy::handle(state, owner, tail, method, headers, peer).await)
            },
        );

    let delete = warp::path!("api" / "v1" / "packages" / String / "go" / String / String)
        .and(warp::delete())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(peer())
        .then(
            |owner,
             module,
             version,
             query: std::collections::HashMap<String, String>,
             state,
             headers,
             peer| async move {
                let purge = query.get("purge").is_some_and(|v| v == "true" || v == "1");
                into_response(
                    api::delete_version(state, owner, module, version, purge, headers, peer).await,
                )
            },
        );

    let backup = warp::path!("api" / "v1" / "admin" / "backup")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(peer())
        .then(|state, headers, peer| async move {
            into_response(api::backup(state, headers, peer).await)
        });

    let verify = warp::path!("api" / "v1" / "admin" / "verify")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(peer())
        .then(|state, headers, peer| async move {
            into_response(api::verify(state, headers, peer).await)
        });

    // Accounts and owners: one route, parsed by `admin::Op::from_request`.
    let accounts = warp::path!("api" / "v1" / ..)
        .and(warp::path::tail())
        .and(warp::method())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(peer())
        .and(warp::body::stream())
        .then(
            |tail: Tail, method: Method, query: String, state, headers, peer, body| async move {
                let tail = tail.as_str().to_owned();
                let req = api::AccountsRequest {
                    method,
                    tail,
                    query,
                    headers,
                    peer,
                };
                into_response(api::accounts(state, req, Box::pin(body)).await)
            },
        );

    let metrics = warp::path!("metrics")
        .and(get_or_head)
        .and(with_state(state.clone()))
        .then(|state: AppState| async move {
            let s = state.clone();
            let text = blocking(move || s.metrics.render(&s.store)).await;
            into_response(text.map(|t| {
                let mut r = Response::new(t.into());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }))
        });

    let ca_pem = warp::path!("ca.pem")
        .and(get_or_head)
        .and(with_state(state.clone()))
        .then(|state| async move { into_response(tls::ca_pem(state).await) });

    let healthz = warp::path!("healthz").and(get_or_head).map(|| {
        let mut r = Response::new("ok\n".into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    });

    // Each route is boxed: unboxed, the `or` chain's type is so deep that compiling the
    // crate took minutes. The GOPROXY reads that matter for speed are answered by `fast`.
    let app = upload
        .boxed()
        .or(goproxy.boxed())
        .unify()
        .or(delete.boxed())
        .unify()
        .or(backup.boxed())
        .unify()
        .or(verify.boxed())
        .unify()
        .or(accounts.boxed())
        .unify()
        .or(metrics.boxed())
        .unify()
        .or(healthz.boxed())
        .unify()
        .or(ca_pem.boxed())
        .unify()
        .or(ui::routes(state.clone()))
        .unify()
        .or(ui::fallback(state.clone()))
        .unify()
        .boxed()
        .recover(|rej: warp::Rejection| async move {
            Ok::<_, Infallible>(error::from_rejection(&rej).into_response())
        })
        .unify();

    let metrics = Arc::clone(&state.metrics);
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(warp::path::full())
        .and(app)
        .map(
            move |start: Instant, method: Method, path: FullPath, resp: Response| {
                finish(&metrics, start, &method, path.as_str(), resp)
            },
        )
}

/// What every answer gets on its way out, whichever way it was made (`routes` or `fast`):
/// the `nosniff` header, the counters of `/metrics` and the request log line.
pub(crate) fn finish(
    metrics: &metrics::Metrics,
    start: Instant,
    method: &Method,
    path: &str,
    mut resp: Response,
) -> Response {
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let bytes = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| HttpBody::size_hint(resp.body()).exact());
    let route = metrics::route_of(method.as_str(), path);
    let sent = if method == Method::HEAD {
        0
    } else {
        bytes.unwrap_or(0)
    };
    metrics.record(route, resp.status().as_u16(), sent);
    crate::logging::request(
        method.as_str(),
        path,
        resp.status().as_u16(),
        bytes,
        start.elapsed().as_secs_f64() * 1000.0,
    );
    resp
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

type ServerFuture = std::pin::Pin<Box<dyn Future<Output = warp::hyper::Result<()>> + Send>>;

/// Binds every listener and serves until `shutdown` resolves, then lets requests in flight
/// finish for at most `config::SHUTDOWN_GRACE`. `on_bound` gets the bound addresses (port 0
/// resolved). Every listener has the same header-read timeout; HTTPS connections must also
/// finish their handshake within `config::TLS_HANDSHAKE_TIMEOUT`.
///
/// # Errors
/// When an address cannot be bound.
pub async fn serve(
    state: AppState,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    use tokio::net::TcpStream;
    use tokio_rustls::server::TlsStream;
    use warp::hyper::service::make_service_fn;

    let service = warp::service(routes(state.clone()));
    let header_timeout = state.config.header_timeout;
    let tls = match listeners.tls {
        Some((addr, config)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen (HTTPS) on {addr}: {e}"))?;
            Some((listener.local_addr()?, listener, config))
        }
        None => None,
    };
    let plain = match listeners.plain {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
        ),
        None => None,
    };
    let bound = Bound {
        plain: match &plain {
            Some(l) => Some(l.local_addr()?),
            None => None,
        },
        tls: tls.as_ref().map(|(a, _, _)| *a),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_conns = stop_rx.clone();
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            rx.wait_for(|stop| *stop).await.ok();
        }
    };
    let mut servers: Vec<ServerFuture> = Vec::new();
    if let Some(listener) = plain {
        // Connections are accepted by `conn`, which answers anonymous GOPROXY reads itself and
        // hands every other connection to this hyper server (`conn::HandedOver`).
        let (hand, handed) = tokio::sync::mpsc::channel(64);
        // Every connection `conn` serves holds a clone of `alive`: after a shutdown, the
        // listener's future ends once hyper's connections and these have all finished.
        let (alive, mut drained) = tokio::sync::mpsc::channel::<()>(1);
        let redirect = bound.tls.filter(|_| listeners.redirect_http);
        tokio::spawn(conn::accept_loop(
            listener,
            state.clone(),
            hand,
            stop_conns,
            redirect.is_none(),
            alive,
        ));
        let builder = warp::hyper::Server::builder(conn::HandedOver(handed))
            .http1_header_read_timeout(header_timeout);
        servers.push(Box::pin(async move {
            drained.recv().await;
            Ok(())
        }));
        match redirect {
            Some(tls_addr) => {
                let redirect = tls::redirect_service(tls_addr.port());
                let make = make_service_fn(move |_conn| {
                    let redirect = redirect.clone();
                    async move { Ok::<_, Infallible>(redirect) }
                });
                servers.push(Box::pin(
                    builder.serve(make).with_graceful_shutdown(stopped()),
                ));
            }
            None => {
                let service = service.clone();
                let state = state.clone();
                let make = make_service_fn(move |conn: &conn::Handed| {
                    let service = fast::App {
                        inner: service.clone(),
                        state: state.clone(),
                        peer: Peer(conn.peer),
                    };
                    async move { Ok::<_, Infallible>(service) }
                });
                servers.push(Box::pin(
                    builder.serve(make).with_graceful_shutdown(stopped()),
                ));
            }
        }
    }
    if let Some((_, listener, config)) = tls {
        let make = make_service_fn(move |conn: &TlsStream<TcpStream>| {
            let ip = conn.get_ref().0.peer_addr().map(|a| a.ip()).ok();
            let service = fast::App {
                inner: service.clone(),
                state: state.clone(),
                peer: Peer(ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))),
            };
            async move { Ok::<_, Infallible>(service) }
        });
        servers.push(Box::pin(
            warp::hyper::Server::builder(tls::incoming(listener, config))
                .http1_header_read_timeout(header_timeout)
                .serve(make)
                .with_graceful_shutdown(stopped()),
        ));
    }
    on_bound(bound);
    let mut all = std::pin::pin!(futures_util::future::try_join_all(servers));
    let shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        r = &mut all => { r?; }
        () = shutdown => {
            stop_tx.send(true).ok();
            tracing::info!("shutting down: finishing requests in flight");
            match tokio::time::timeout(crate::config::SHUTDOWN_GRACE, &mut all).await {
                Ok(r) => { r?; }
                Err(_) => tracing::warn!(
                    "requests still running after {}s; closing them",
                    crate::config::SHUTDOWN_GRACE.as_secs()
                ),
            }
        }
    }
    Ok(())
}

/// Wraps a reply type for handlers that build one with warp's helpers.
pub fn reply(r: impl Reply) -> Response {
    r.into_response()
}
