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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn fingerprint(name: &str) -> String {
        let file = Assets::get(name).unwrap();
        hex::encode(Sha256::digest(&file.data))
    }

    fn if_none_match(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn asset_urls_carry_the_first_16_hex_of_the_sha256() {
        for name in ["style.css", "app.js"] {
            let full = fingerprint(name);
            assert_eq!(asset_url(name), format!("/assets/{}/{name}", &full[..16]));
        }
        assert_eq!(asset_url("nothing.js"), "/assets/0/nothing.js");
    }

    /// Only the exact 16-hex fingerprint of today's file is cached for a year; any other
    /// (from a page before an upgrade) still gets the file, revalidated.
    #[test]
    fn only_the_current_fingerprint_is_immutable() {
        let full = fingerprint("style.css");
        let r = serve_asset(&full[..16], "style.css", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(r.headers()[header::ETAG], format!("\"{full}\"").as_str());
        for stale in [
            "0000000000000000",
            "0",
            &full[..15],
            &full[..17],
            full.as_str(),
            &full[..16].to_ascii_uppercase(),
        ] {
            let r = serve_asset(stale, "style.css", &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK, "{stale}");
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache", "{stale}");
        }
        let js = fingerprint("app.js");
        let r = serve_asset(&js[..16], "app.js", &HeaderMap::new());
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn an_unknown_asset_is_not_found_whatever_its_hash() {
        let full = fingerprint("style.css");
        for name in ["nothing.js", "../Cargo.toml", "style.css.map", ""] {
            let r = serve_asset(&full[..16], name, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
        }
    }

    #[test]
    fn a_matching_etag_is_not_modified() {
        let full = fingerprint("app.js");
        let etag = format!("\"{full}\"");
        let r = serve_asset(&full[..16], "app.js", &if_none_match(&etag));
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::ETAG], etag.as_str());
        let r = serve_asset(
            &full[..16],
            "app.js",
            &if_none_match(&format!("\"other\", {etag}")),
        );
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let r = serve_asset(&full[..16], "app.js", &if_none_match("\"other\""));
        assert_eq!(r.status(), StatusCode::OK);
    }
}
