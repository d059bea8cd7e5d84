//! HTTPS beside the edge: the plain-HTTP redirect to the HTTPS URL (`redirect_http`), and
//! `GET /ca.pem`. (TLS connections are accepted, and their handshakes timed, by `edge`.)

use std::sync::Arc;

use http::{header, HeaderValue, Request, StatusCode};

use super::body::{typed_response, Response};
use super::error::ApiError;
use super::{blocking, AppState};

/// The `308` a plain-HTTP request gets under `--redirect-http`: same path and query, the
/// host from the `Host` header, the HTTPS port.
#[must_use]
pub fn redirect<B>(req: &Request<B>, tls_port: u16) -> Response {
    match redirect_location(req, tls_port) {
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
    }
}

/// `https://{the Host header's host}:{tls_port}{path and query}`.
///
/// # Errors
/// 400 without a plausible `Host`.
pub fn redirect_location<B>(req: &Request<B>, tls_port: u16) -> Result<HeaderValue, ApiError> {
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
    Ok(typed_response(pem, "application/x-pem-file", "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: Option<&str>, uri: &str, port: u16) -> Result<String, StatusCode> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        let req = b.body(()).unwrap();
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
