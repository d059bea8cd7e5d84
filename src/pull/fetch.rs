//! GETs from an upstream GOPROXY with the shelf's limits on every phase: a connect timeout,
//! an idle timeout (no byte for `upstream_timeout` fails the request, from the request's
//! start to its last byte), a minimum average rate after the first minute (a transfer slower
//! than `upstream_min_rate` is cut), and a cap on the bytes of each kind of answer, checked
//! against `Content-Length` first and counted as bytes arrive.
//!
//! hyper 1's client connection (with tokio-rustls for HTTPS), not the blocking `ureq` the CLI
//! uses: ureq's body timeout is one deadline for the whole body, which would either cut a
//! large zip arriving steadily over a slow link or let a dripping one hold a fetch for as
//! long as that deadline; per-frame timeouts need the body as a stream.
//!
//! Redirects are followed (at most 10, never from `https` to `http`), as the go command
//! does. Connections are kept (16 idle per origin) and reused; one the upstream closed
//! meanwhile is replaced once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;

/// A connection's request handle.
type Conn = SendRequest<Empty<Bytes>>;

/// How long a transfer may run before `min_rate` applies.
pub const RATE_GRACE: Duration = Duration::from_secs(60);

/// The most redirects followed.
const MAX_REDIRECTS: usize = 10;

/// Why a GET gave no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `404` or `410`: the upstream does not have it.
    NotFound,
    /// Anything else (unreachable, a timeout, another status, too large, too slow): the
    /// one-line reason, and whether it was a timeout (`504` rather than `502`).
    Failed { reason: String, timeout: bool },
}

impl Failure {
    fn failed(reason: impl Into<String>) -> Self {
        Failure::Failed {
            reason: reason.into(),
            timeout: false,
        }
    }

    fn timed_out(reason: impl Into<String>) -> Self {
        Failure::Failed {
            reason: reason.into(),
            timeout: true,
        }
    }
}

/// The limits of every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Duration,
    pub idle: Duration,
    /// Bytes per second a transfer must average after `RATE_GRACE`; 0: no minimum.
    pub min_rate: u64,
}

/// Where a body goes as it arrives.
pub trait Sink {
    /// Takes the next piece.
    ///
    /// # Errors
    /// A one-line reason (the spool's disk full, for one); the request is abandoned.
    fn put(&mut self, piece: &[u8]) -> Result<(), String>;
}

impl Sink for Vec<u8> {
    fn put(&mut self, piece: &[u8]) -> Result<(), String> {
        self.extend_from_slice(piece);
        Ok(())
    }
}

/// The client: TLS roots and limits.
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    limits: Limits,
    /// Idle connections by origin, reused by the next request (an upstream answers many
    /// small files in a row: a TLS handshake each would cost more than the files).
    pool: Arc<Mutex<HashMap<Origin, Vec<Conn>>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client trusting the bundled Mozilla roots, or the certificates of `SSL_CERT_FILE`
    /// when it is set (as `goshelf publish` does), plus those of `extra_ca` (PEM).
    ///
    /// # Errors
    /// A certificate file that cannot be read or holds no certificate.
    pub fn new(limits: Limits, extra_ca: Option<&[u8]>) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        let add_pem = |roots: &mut rustls::RootCertStore, pem: &[u8], what: &str| {
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("{what}: {e}"))?;
                roots.add(cert).map_err(|e| format!("{what}: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("{what} holds no certificate"));
            }
            Ok(())
        };
        match std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
            Some(path) => {
                let shown = std::path::Path::new(&path).display().to_string();
                let pem =
                    std::fs::read(&path).map_err(|e| format!("SSL_CERT_FILE {shown}: {e}"))?;
                add_pem(&mut roots, &pem, &format!("SSL_CERT_FILE {shown}"))?;
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        if let Some(pem) = extra_ca {
            add_pem(&mut roots, pem, "upstream_ca_file")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            limits,
            pool: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// GETs `url` into `sink`, taking at most `cap` bytes, sending `authorization` (the
    /// header's value: `Bearer ...` or `Basic ...`; over https
    /// only, and only to the URL's own host: a redirect elsewhere drops it). Returns the bytes
    /// received.
    ///
    /// # Errors
    /// `NotFound` for 404 and 410; `Failed` with the reason for anything else.
    pub async fn get(
        &self,
        url: &str,
        cap: u64,
        sink: &mut (dyn Sink + Send),
        authorization: Option<&str>,
    ) -> Result<u64, Failure> {
        let start = Instant::now();
        let host_of = |u: &str| u.parse::<Uri>().ok().and_then(|u| u.authority().cloned());
        let home = host_of(url);
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let auth =
                authorization.filter(|_| url.starts_with("https://") && host_of(&url) == home);
            match self.get_once(&url, cap, sink, start, auth).await? {
                Fetched::Body(n) => return Ok(n),
                Fetched::Redirect(to) => {
                    if url.starts_with("https://") && to.starts_with("http://") {
                        return Err(Failure::failed(format!(
                            "{url}: redirected from https to http ({to}); refused"
                        )));
                    }
                    url = to;
                }
            }
        }
        Err(Failure::failed(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    async fn get_once(
        &self,
        url: &str,
        cap: u64,
        sink: &mut (dyn Sink + Send),
        start: Instant,
        authorization: Option<&str>,
    ) -> Result<Fetched, Failure> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Failure::failed(format!("{url}: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Failure::failed(format!("{url}: not an http(s) URL"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| Failure::failed(format!("{url}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map_or_else(|| host.clone(), |a| a.as_str().to_owned());
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let limits = self.limits;
        let origin = Origin { https, host, port };
        let request = || {
            let mut r = Request::get(path.as_str())
                .header(header::HOST, authority.as_str())
                .header(header::USER_AGENT, "goshelf")
                .header(header::ACCEPT_ENCODING, "identity");
            if let Some(value) = authorization {
                r = r.header(header::AUTHORIZATION, value);
            }
            r.body(Empty::<Bytes>::new())
                .map_err(|e| Failure::failed(format!("{url}: {e}")))
        };
        let no_answer = || {
            Failure::timed_out(format!(
                "{url}: no answer within {} s",
                limits.idle.as_secs()
            ))
        };
        // A kept connection first; one the server closed meanwhile is replaced once.
        let (sender, resp) = match self.pooled(&origin) {
            Some(mut sender) => {
                match tokio::time::timeout(limits.idle, sender.send_request(request()?)).await {
                    Ok(Ok(resp)) => (sender, resp),
                    Ok(Err(_)) => {
                        let mut fresh = self.connect(&origin, url).await?;
                        let resp = send(&mut fresh, request()?, limits.idle, url).await?;
                        (fresh, resp)
                    }
                    Err(_) => return Err(no_answer()),
                }
            }
            None => {
                let mut fresh = self.connect(&origin, url).await?;
                let resp = send(&mut fresh, request()?, limits.idle, url).await?;
                (fresh, resp)
            }
        };
        let status = resp.status();
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| Failure::failed(format!("{url}: {status} without a Location")))?;
            return Ok(Fetched::Redirect(resolve(&uri, to)));
        }
        if status != StatusCode::OK {
            // A short error body is read, so the connection can be kept.
            let mut ignored = Vec::new();
            let drained = read_body(resp, 4 << 10, &mut ignored, limits, start, url).await;
            if drained.is_ok() {
                self.keep(origin, sender);
            }
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Err(Failure::NotFound);
            }
            return Err(Failure::failed(format!("{url}: {status}")));
        }
        let got = read_body(resp, cap, sink, limits, start, url).await?;
        self.keep(origin, sender);
        Ok(Fetched::Body(got))
    }

    /// A kept connection to `origin` that is still open.
    fn pooled(&self, origin: &Origin) -> Option<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = pool.get_mut(origin)?;
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read whole, for the next request to `origin`.
    fn keep(&self, origin: Origin, sender: Conn) {
        if sender.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = pool.entry(origin).or_default();
        if idle.len() < MAX_IDLE_PER_ORIGIN {
            idle.push(sender);
        }
    }

    /// A new connection to `origin` (TCP within the connect timeout, then TLS for https).
    async fn connect(&self, origin: &Origin, url: &str) -> Result<Conn, Failure> {
        let limits = self.limits;
        let tcp = within(
            limits.connect,
            (url, "connection", ""),
            tokio::net::TcpStream::connect((origin.host.as_str(), origin.port)),
        )
        .await?;
        let _ = tcp.set_nodelay(true);
        if origin.https {
            let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|e| Failure::failed(format!("{url}: {e}")))?;
            let tls = within(
                limits.idle,
                (url, "TLS handshake", "TLS: "),
                self.tls.connect(name, tcp),
            )
            .await?;
            handshake(TokioIo::new(tls), limits.idle, url).await
        } else {
            handshake(TokioIo::new(tcp), limits.idle, url).await
        }
    }
}

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 16;

enum Fetched {
    Body(u64),
    Redirect(String),
}

/// Reads a 200's body into `sink`, at most `cap` bytes, each piece within the idle timeout,
/// the whole at the minimum rate after the grace. Returns the bytes read.
async fn read_body(
    resp: http::Response<hyper::body::Incoming>,
    cap: u64,
    sink: &mut (dyn Sink + Send),
    limits: Limits,
    start: Instant,
    url: &str,
) -> Result<u64, Failure> {
    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Failure::failed(format!(
            "{url}: the answer is larger than the limit of {cap} bytes"
        ))
    };
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let idle_fail = || {
        Failure::timed_out(format!(
            "{url}: nothing received for {} s",
            limits.idle.as_secs()
        ))
    };
    let mut body = resp.into_body();
    let mut got: u64 = 0;
    loop {
        let frame = tokio::time::timeout(limits.idle, body.frame())
            .await
            .map_err(|_| idle_fail())?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| Failure::failed(format!("{url}: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        got += data.len() as u64;
        if got > cap {
            return Err(too_large());
        }
        sink.put(&data)
            .map_err(|e| Failure::failed(format!("{url}: {e}")))?;
        let elapsed = start.elapsed();
        if too_slow(got, elapsed, limits.min_rate) {
            return Err(Failure::timed_out(format!(
                "{url}: {got} bytes in {} s, below the minimum rate of {} bytes/s",
                elapsed.as_secs(),
                limits.min_rate
            )));
        }
    }
    if let Some(n) = declared.filter(|n| *n != got) {
        return Err(Failure::failed(format!(
            "{url}: {got} bytes received of the {n} announced"
        )));
    }
    Ok(got)
}

/// The HTTP/1.1 handshake on `io`; the connection is driven by a task of its own, which
/// ends when the connection closes or its last handle is dropped.
async fn handshake<T>(io: TokioIo<T>, idle: Duration, url: &str) -> Result<Conn, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = within(
        idle,
        (url, "answer", ""),
        hyper::client::conn::http1::handshake(io),
    )
    .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends `req` on a fresh connection and waits for the answer's head.
async fn send(
    sender: &mut Conn,
    req: Request<Empty<Bytes>>,
    idle: Duration,
    url: &str,
) -> Result<http::Response<hyper::body::Incoming>, Failure> {
    within(idle, (url, "answer", ""), sender.send_request(req)).await
}

/// `step` within `limit`. `(url, what, context)` name the failures: past the limit, a timeout
/// "`url`: no `what` within N s"; the step's own error `e`, "`url`: `context``e`".
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    (url, what, context): (&str, &str, &str),
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    // Boxed: the step's future lives on the heap, so that every caller's future (and each
    // request's, up to the service's) stays small on the stack of the thread polling it.
    tokio::time::timeout(limit, Box::pin(step))
        .await
        .map_err(|_| Failure::timed_out(format!("{url}: no {what} within {} s", limit.as_secs())))?
        .map_err(|e| Failure::failed(format!("{url}: {context}{e}")))
}

/// Whether `bytes` after `elapsed` is below `min_rate` bytes per second, counted only after
/// `RATE_GRACE` (a `min_rate` of 0 is never undercut).
#[must_use]
pub fn too_slow(bytes: u64, elapsed: Duration, min_rate: u64) -> bool {
    elapsed > RATE_GRACE && u128::from(bytes) * 1000 < u128::from(min_rate) * elapsed.as_millis()
}

/// A `Location` resolved against the URL it came from: absolute, absolute path, or
/// relative to the request's directory.
fn resolve(base: &Uri, location: &str) -> String {
    if location.starts_with("https://") || location.starts_with("http://") {
        return location.to_owned();
    }
    let origin = format!(
        "{}://{}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map_or("", |a| a.as_str())
    );
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_step_past_its_limit_or_failing_says_which() {
        let limit = Duration::from_secs(30);
        let never = std::future::pending::<Result<(), String>>();
        let err = within(
            limit,
            ("https://u.example/m", "TLS handshake", "TLS: "),
            never,
        )
        .await;
        assert_eq!(
            err,
            Err(Failure::timed_out(
                "https://u.example/m: no TLS handshake within 30 s"
            ))
        );
        let refused = async { Err::<(), _>("refused") };
        let err = within(limit, ("https://u.example/m", "answer", "TLS: "), refused).await;
        assert_eq!(
            err,
            Err(Failure::failed("https://u.example/m: TLS: refused"))
        );
        let ok = within(limit, ("u", "answer", ""), async { Ok::<_, String>(7) }).await;
        assert_eq!(ok, Ok(7));
    }

    #[test]
    fn the_rate_applies_after_the_grace_only() {
        let min = 10 << 10;
        assert!(!too_slow(0, Duration::from_secs(59), min));
        assert!(!too_slow(0, RATE_GRACE, min), "at the grace's end exactly");
        assert!(too_slow((10 << 10) * 61 - 1, Duration::from_secs(61), min));
        assert!(!too_slow((10 << 10) * 61, Duration::from_secs(61), min));
        assert!(!too_slow(0, Duration::from_secs(3600), 0), "0: no minimum");
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base: Uri = "https://a.example:8443/p/m/@v/v1.0.0.zip".parse().unwrap();
        assert_eq!(resolve(&base, "https://b.example/z"), "https://b.example/z");
        assert_eq!(resolve(&base, "/z/1"), "https://a.example:8443/z/1");
        assert_eq!(
            resolve(&base, "x.zip"),
            "https://a.example:8443/p/m/@v/x.zip"
        );
    }
}
