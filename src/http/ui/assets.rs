//! The embedded CSS and JS (`assets/static/`): their fingerprinted URLs, and serving them
//! under `/assets/{hash}/{file}`.

use std::collections::HashMap;
use std::sync::OnceLock;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use rust_embed::RustEmbed;

use crate::http::body::{Body, Response};
use crate::http::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Assets;

/// The fingerprinted URL of an embedded asset: `/assets/{first 16 hex of SHA-256}/{name}`.
pub(super) fn asset_url(name: &str) -> String {
    static URLS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let urls = URLS.get_or_init(|| {
        Assets::iter()
            .filter_map(|n| {
                let file = Assets::get(&n)?;
                let hash = hex::encode(file.metadata.sha256_hash());
                Some((n.to_string(), format!("/assets/{}/{n}", &hash[..16])))
            })
            .collect()
    });
    urls.get(name)
        .cloned()
        .unwrap_or_else(|| format!("/assets/0/{name}"))
}

pub(super) fn serve_asset(hash: &str, name: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(name) else {
        return not_found_plain();
    };
    let full = hex::encode(file.metadata.sha256_hash());
    let etag = format!("\"{full}\"");
    let content_type = match name.rsplit_once('.').map(|(_, e)| e) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(file.data.into_owned().into())
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A matching fingerprint never changes; a stale one (a page from before an upgrade) gets
    // today's file, revalidated.
    let cache = if full.starts_with(hash) && hash.len() == 16 {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

fn not_found_plain() -> Response {
    ApiError::not_found("not found").into_response()
}
