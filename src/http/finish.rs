//! What every answer gets on its way out, whichever way it was made (hyper, `conn`, the answer
//! cache): the standard headers ([`decorate`]), the counters of `/metrics` and the request log
//! line ([`record`]). The answer cache keeps answers already decorated, so a cached answer
//! carries exactly the headers a computed one does, and is only recorded.
//!
//! The headers:
//! - every answer: `X-Content-Type-Options: nosniff`, and a `Cache-Control` (`no-store` when
//!   the handler chose none: an answer nobody said may be kept is not kept);
//! - every answer outside the GOPROXY protocol (`/api/packages/...`), that is the web UI, the
//!   JSON API and the rest: `Content-Security-Policy`, `X-Frame-Options: DENY` and
//!   `Referrer-Policy: same-origin` (STYLE.md §2.7). GOPROXY answers are read by the go
//!   command, never rendered, and are the hot path: they carry `nosniff` only.

use std::time::{Duration, Instant};

use http::{header, HeaderMap, HeaderValue, Method};

use super::body::Response;
use super::metrics::{self, Metrics};

/// The content security policy of every page: nothing but our own files, no inline script or
/// style, no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether `path` is under a GOPROXY base (`/api/packages/{owner}/go/...`, `/go/...`).
#[must_use]
pub fn is_goproxy_path(path: &str) -> bool {
    path.starts_with(crate::gomod::proxy::PACKAGES) || crate::gomod::proxy::split(path).is_some()
}

/// Adds the standard headers (module docs) to an answer for `path`.
pub fn decorate(path: &str, h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // A GOPROXY answer is data, but a page is a page wherever it is served (the go-get page
    // and the UI's 404 under `/go/...?go-get=1`).
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html || !is_goproxy_path(path) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
}

/// The body length an answer declares: its `content-length`, else its exact size.
#[must_use]
pub fn declared_len(resp: &Response) -> Option<u64> {
    use http_body::Body as _;
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact())
}

/// Counts an answer in `/metrics` and writes its request log line.
pub fn record(
    metrics: &Metrics,
    start: Instant,
    method: &Method,
    path: &str,
    status: u16,
    len: Option<u64>,
) {
    let sent = if method == Method::HEAD {
        0
    } else {
        len.unwrap_or(0)
    };
    metrics.record(metrics::route_of(method.as_str(), path), status, sent);
    crate::logging::request(method.as_str(), path, status, len, millis(start.elapsed()));
}

/// A duration in milliseconds, as the request log gives it.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Decorates, counts and logs a computed answer.
pub fn finish(
    metrics: &Metrics,
    start: Instant,
    method: &Method,
    path: &str,
    mut resp: Response,
) -> Response {
    decorate(path, resp.headers_mut());
    let len = declared_len(&resp);
    record(metrics, start, method, path, resp.status().as_u16(), len);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_gets_nosniff_and_a_cache_policy_and_pages_the_security_set() {
        let mut h = HeaderMap::new();
        decorate("/api/packages/acme/go/x/@v/list", &mut h);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(!h.contains_key(header::CONTENT_SECURITY_POLICY));

        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        decorate("/ui/acme", &mut h);
        assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::REFERRER_POLICY], "same-origin");
        // Decorating twice changes nothing (a cached answer served by hyper is not doubled).
        let before = h.clone();
        decorate("/ui/acme", &mut h);
        assert_eq!(h, before);
        // The LAN's base is a GOPROXY base too.
        let mut h = HeaderMap::new();
        decorate("/go/example.com/x/@v/list", &mut h);
        assert!(!h.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(is_goproxy_path("/go/example.com/x/@v/list"));
        assert!(!is_goproxy_path("/ui/acme"));
        // A page under a GOPROXY base (the go-get page, the UI's 404) gets the set too.
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        decorate("/go/nas.lan/tool", &mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    }

    #[test]
    fn an_answer_is_counted_with_its_length_and_a_head_sends_none() {
        let metrics = Metrics::default();
        let start = Instant::now();
        let path = "/api/packages/acme/go/x/@v/list";
        let route = metrics::route_of("GET", path);
        let resp = http::Response::builder()
            .status(201)
            .body(super::super::body::Body::from("v1.0.0\n"))
            .unwrap();
        let resp = finish(&metrics, start, &Method::GET, path, resp);
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(declared_len(&resp), Some(7), "the body's exact size");
        assert_eq!(metrics.counted(route, 201), (1, 7));
        record(&metrics, start, &Method::HEAD, path, 201, Some(7));
        assert_eq!(metrics.counted(route, 201), (2, 7), "a HEAD sends no bytes");
        record(&metrics, start, &Method::GET, path, 404, None);
        assert_eq!(metrics.counted(route, 404), (1, 7));

        let mut told = http::Response::new(super::super::body::Body::empty());
        told.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("1234"));
        assert_eq!(declared_len(&told), Some(1234), "the header wins");
        assert_eq!(millis(Duration::from_micros(1_500)), 1.5);
    }
}
