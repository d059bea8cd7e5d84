//! HTTPS serving: a TLS acceptor stream for the hyper server (each handshake in its own task,
//! with a deadline, so a slow or garbage handshake holds up nobody else), the plain-HTTP
//! redirect to the HTTPS URL, and `GET /ca.pem`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use warp::http::{header, HeaderValue, Request, StatusCode};
use warp::hyper::Body;
use warp::reply::Response;

use super::error::ApiError;
use super::{blocking, AppState};
use crate::config::TLS_HANDSHAKE_TIMEOUT;

/// Connections whose handshake finished but that hyper has not taken yet.
const READY_BACKLOG: usize = 64;

/// An `Accept` of TLS connections on `listener`: a task accepts TCP connections and spawns
/// one handshake task per connection; finished handshakes are handed to hyper. The tasks
/// end when hyper drops the stream (at shutdown).
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl warp::hyper::server::accept::Accept<Conn = TlsStream<TcpStream>, Error = io::Error> {
    let (tx, rx) = mpsc::channel(READY_BACKLOG);
    tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|conn| (Ok::<_, io::Error>(conn), rx))
    });
    warp::hyper::server::accept::from_stream(stream)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<TlsStream<TcpStream>>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = tx.closed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Per-connection errors (reset before accept) need no pause; running out of
                // file descriptors does, or the loop would spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                ) {
                    tracing::warn!("accepting an HTTPS connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        tcp.set_nodelay(true).ok();
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(conn)) => {
                    // Fails only at shutdown, when nobody takes connections any more.
                    tx.send(conn).await.ok();
                }
                Ok(Err(e)) => {
                    tracing::info!(target: "goshelf::tls", "TLS handshake with {peer} failed: {e}");
                }
                Err(_) => tracing::info!(
                    target: "goshelf::tls",
                    "TLS handshake with {peer} took over {}s; dropped",
                    TLS_HANDSHAKE_TIMEOUT.as_secs()
                ),
            }
        });
    }
}

/// The `308` a plain-HTTP request gets under `--redirect-http`: same path and query, the
/// host from the `Host` header, the HTTPS port.
#[must_use]
pub fn redirect(req: &Request<Body>, tls_port: u16) -> Response {
    let started = std::time::Instant::now();
    let resp = match redirect_location(req, tls_port) {
        Ok(location) => {
            let text = format!("see {}\n", location.to_str().unwrap_or("the HTTPS URL"));
            let mut resp = Response::new(text.into());
            *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
            let h = resp.headers_mut();
            h.insert(header::LOCATION, location);
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        Err(e) => e.into_response(),
    };
    tracing::info!(
        target: "goshelf::request",
        "{} {} {} redirect {:.1}ms",
        req.method(),
        req.uri().path(),
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

fn redirect_location(req: &Request<Body>, tls_port: u16) -> Result<HeaderValue, ApiError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(ToString::to_string))
        .ok_or_else(|| ApiError::bad_request("a Host header is needed to redirect to HTTPS"))?;
    let name = host_name(&host)
        .ok_or_else(|| ApiError::bad_request("the Host header is not a host name"))?;
    let port = if tls_port == 443 {
        String::new()
    } else {
        format!(":{tls_port}")
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    HeaderValue::try_from(format!("https://{name}{port}{path}"))
        .map_err(|_| ApiError::bad_request("the request cannot be redirected"))
}

/// The host part of a `Host` header (port dropped; IPv6 literals keep their brackets), if it
/// is a plausible host: letters, digits, `-`, `.`, `_`, or an IPv6 literal.
fn host_name(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        let (v6, rest) = host.split_at(end + 1);
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        v6[1..v6.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        return Some(v6);
    } else {
        host.split_once(':').map_or(host, |(h, _)| h)
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then_some(name)
}

/// `GET /ca.pem`: the local CA certificate of `--tls-self-signed`, 404 without one.
///
/// # Errors
/// 404 when no local CA exists; 500 for storage errors.
pub async fn ca_pem(state: AppState) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.store);
    let pem = blocking(move || store.tls_ca_pem()).await?.ok_or_else(|| {
        ApiError::not_found("no local CA: this server does not run with --tls-self-signed")
    })?;
    let mut resp = Response::new(pem.into());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// A hyper service answering every request with [`redirect`].
pub fn redirect_service(
    tls_port: u16,
) -> impl warp::hyper::service::Service<
    Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = std::future::Ready<Result<Response, Infallible>>,
> + Clone {
    warp::hyper::service::service_fn(move |req: Request<Body>| {
        std::future::ready(Ok::<_, Infallible>(redirect(&req, tls_port)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: Option<&str>, uri: &str, port: u16) -> Result<String, StatusCode> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        let req = b.body(Body::empty()).unwrap();
        redirect_location(&req, port)
            .map(|v| v.to_str().unwrap().to_owned())
            .map_err(|e| e.status)
    }

    #[test]
    fn redirect_keeps_path_and_query_and_swaps_the_port() {
        assert_eq!(
            location(
                Some("nas.lan:8080"),
                "/api/packages/a/go/x/@v/list?x=1",
                8443
            )
            .unwrap(),
            "https://nas.lan:8443/api/packages/a/go/x/@v/list?x=1"
        );
        assert_eq!(
            location(Some("nas.lan"), "/", 443).unwrap(),
            "https://nas.lan/"
        );
        assert_eq!(
            location(Some("[::1]:8080"), "/healthz", 8443).unwrap(),
            "https://[::1]:8443/healthz"
        );
        assert_eq!(
            location(Some("192.168.1.10"), "/ca.pem", 8443).unwrap(),
            "https://192.168.1.10:8443/ca.pem"
        );
    }

    #[test]
    fn redirect_refuses_missing_or_hostile_hosts() {
        for bad in ["evil.com/x", "a@b", "", "[::1]x", "[zz]:1", "a b"] {
            assert_eq!(
                location(Some(bad), "/", 8443),
                Err(StatusCode::BAD_REQUEST),
                "{bad:?}"
            );
        }
        assert_eq!(location(None, "/", 8443), Err(StatusCode::BAD_REQUEST));
    }
}
