//! HTTP behaviour without sockets: `support::inproc` requests through the edge's dispatch (`http::oneshot`) over a fresh
//! store, for every status code of the GOPROXY and upload endpoints (issue 2).

use bytes::Bytes;
use goshelf::config::{Key, RawConfig};
use goshelf::http::AppState;
use goshelf::store::Store;
use http::{Response, StatusCode};
use tempfile::TempDir;

use crate::support::ModZip;

const TOKEN: &str = "test-token-0123456789";

struct Harness {
    _dir: TempDir,
    state: AppState,
}

impl Harness {
    fn new() -> Self {
        Self::with_max_upload("500MiB")
    }

    fn with_max_upload(max: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawConfig::default()
            .with(Key::Listen, "127.0.0.1:0")
            .with_path(Key::Db, &dir.path().join("goshelf.redb"))
            .with(Key::UpstreamSumdb, "off")
            .with(Key::Upstream, "off")
            .with(Key::Private, "example.com,nas.lan")
            .with(Key::MaxUpload, max);
        let config = raw.resolve().unwrap();
        let store = Store::open(&config.db).unwrap();
        assert!(store.bootstrap_admin(TOKEN, 0).unwrap());
        let state = AppState::new(store, config).unwrap();
        Self { _dir: dir, state }
    }

    async fn request(&self, req: crate::support::inproc::RequestBuilder) -> Response<Bytes> {
        req.reply(&self.state).await
    }

    async fn get(&self, path: &str) -> Response<Bytes> {
        self.request(crate::support::inproc::request().method("GET").path(path))
            .await
    }

    async fn upload_raw(&self, owner: &str, body: Vec<u8>, auth: Option<&str>) -> Response<Bytes> {
        let mut req = crate::support::inproc::request()
            .method("PUT")
            .path(&format!("/api/packages/{owner}/go/upload"))
            .header("content-length", body.len().to_string())
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        self.request(req).await
    }

    async fn upload(&self, owner: &str, zip: &ModZip) -> Response<Bytes> {
        self.upload_raw(owner, zip.bytes(), Some(&format!("Bearer {TOKEN}")))
            .await
    }

    async fn upload_ok(&self, owner: &str, zip: &ModZip) -> serde_json::Value {
        let r = self.upload(owner, zip).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", text(&r));
        serde_json::from_slice(r.body()).unwrap()
    }

    fn db_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.state.config.db).unwrap()
    }
}

fn text(r: &Response<Bytes>) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}

fn header<'a>(r: &'a Response<Bytes>, name: &str) -> &'a str {
    r.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// Asserts a one-line `text/plain; charset=utf-8` error with `status` whose text has `needle`.
fn assert_error(r: &Response<Bytes>, status: StatusCode, needle: &str) {
    let body = text(r);
    assert_eq!(r.status(), status, "body: {body}");
    assert_eq!(header(r, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(body.matches('\n').count(), 1, "one line: {body:?}");
    assert!(body.contains(needle), "{body:?} lacks {needle:?}");
    assert_eq!(header(r, "cache-control"), "no-store");
}

fn simple(path: &str, version: &str) -> ModZip {
    ModZip::with_files(
        path,
        version,
        &[
            ("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes()),
            ("lib.go", b"package lib\n\nconst V = 1\n"),
        ],
    )
}

const BASE: &str = "/api/packages/acme/go";

#[tokio::test]
async fn upload_then_every_endpoint_serves_the_version() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.2.3");
    let up = h.upload_ok("acme", &zip).await;
    assert_eq!(up["module"], "example.com/lib");
    assert_eq!(up["version"], "v1.2.3");
    assert!(up["h1"].as_str().unwrap().starts_with("h1:"));
    assert_eq!(up["size"], zip.bytes().len());

    let list = h.get(&format!("{BASE}/example.com/lib/@v/list")).await;
    assert_eq!(list.status(), 200);
    assert_eq!(text(&list), "v1.2.3\n");
    // Kept by a cache in front for list_ttl, then asked again.
    assert_eq!(header(&list, "cache-control"), "public, max-age=60");

    let info = h
        .get(&format!("{BASE}/example.com/lib/@v/v1.2.3.info"))
        .await;
    assert_eq!(info.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(info.body()).unwrap();
    assert_eq!(v["Version"], "v1.2.3");
    let t = v["Time"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.len() == 20, "RFC 3339 UTC: {t}");
    assert!(header(&info, "cache-control").contains("immutable"));

    let m = h
        .get(&format!("{BASE}/example.com/lib/@v/v1.2.3.mod"))
        .await;
    assert_eq!(m.status(), 200);
    assert_eq!(text(&m), "module example.com/lib\n\ngo 1.19\n");
    assert!(header(&m, "cache-control").contains("immutable"));

    let z = h
        .get(&format!("{BASE}/example.com/lib/@v/v1.2.3.zip"))
        .await;
    assert_eq!(z.status(), 200);
    assert_eq!(z.body().as_ref(), zip.bytes().as_slice());
    assert_eq!(header(&z, "content-type"), "application/zip");
    assert_eq!(header(&z, "content-length"), zip.bytes().len().to_string());
    assert!(header(&z, "etag").starts_with('"'), "strong etag");
    assert!(header(&z, "cache-control").contains("immutable"));

    let latest = h.get(&format!("{BASE}/example.com/lib/@latest")).await;
    assert_eq!(latest.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(latest.body()).unwrap();
    assert_eq!(v["Version"], "v1.2.3");
    assert_eq!(header(&latest, "cache-control"), "public, max-age=60");
}

#[tokio::test]
async fn zip_without_go_mod_serves_synthetic_mod() {
    let h = Harness::new();
    let zip = ModZip::with_files(
        "example.com/old",
        "v3.0.0+incompatible",
        &[("a.go", b"package a\n")],
    );
    h.upload_ok("acme", &zip).await;
    let m = h
        .get(&format!(
            "{BASE}/example.com/old/@v/v3.0.0+incompatible.mod"
        ))
        .await;
    assert_eq!(m.status(), 200);
    assert_eq!(text(&m), "module example.com/old\n");
    let list = h.get(&format!("{BASE}/example.com/old/@v/list")).await;
    assert_eq!(text(&list), "v3.0.0+incompatible\n");
}

#[tokio::test]
async fn upper_case_module_is_served_under_bang_and_percent_escapes() {
    let h = Harness::new();
    h.upload_ok("acme", &simple("example.com/Upper/Lib", "v0.1.0"))
        .await;
    for path in ["example.com/%21upper/%21lib", "example.com/!upper/!lib"] {
        let r = h.get(&format!("{BASE}/{path}/@v/v0.1.0.info")).await;
        assert_eq!(r.status(), 200, "{path}: {}", text(&r));
    }
    // A bare upper-case letter is a malformed escape: 404, not a match.
    let r = h
        .get(&format!("{BASE}/example.com/Upper/Lib/@v/v0.1.0.info"))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "invalid module path");
}

#[tokio::test]
async fn list_omits_pseudo_versions_and_latest_uses_semver_not_upload_order() {
    let h = Harness::new();
    for v in [
        "v1.10.0",
        "v0.0.0-20240102030405-abcdefabcdef",
        "v1.9.0",
        "v2.0.0-rc.1+incompatible",
    ] {
        h.upload_ok(
            "acme",
            &ModZip::with_files("example.com/x", v, &[("x.go", b"package x\n")]),
        )
        .await;
    }
    let list = text(&h.get(&format!("{BASE}/example.com/x/@v/list")).await);
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["v1.10.0", "v1.9.0", "v2.0.0-rc.1+incompatible"]);
    let latest = h.get(&format!("{BASE}/example.com/x/@latest")).await;
    let v: serde_json::Value = serde_json::from_slice(latest.body()).unwrap();
    assert_eq!(v["Version"], "v1.10.0");
}

#[tokio::test]
async fn latest_with_only_pseudo_versions_picks_newest_time() {
    let h = Harness::new();
    for v in [
        "v0.0.0-20240102030405-abcdefabcdef",
        "v0.0.0-20230102030405-aaaaaaaaaaaa",
    ] {
        h.upload_ok(
            "acme",
            &ModZip::with_files("example.com/p", v, &[("p.go", b"package p\n")]),
        )
        .await;
    }
    assert_eq!(
        text(&h.get(&format!("{BASE}/example.com/p/@v/list")).await),
        ""
    );
    let latest = h.get(&format!("{BASE}/example.com/p/@latest")).await;
    let v: serde_json::Value = serde_json::from_slice(latest.body()).unwrap();
    assert_eq!(v["Version"], "v0.0.0-20240102030405-abcdefabcdef");
}

#[tokio::test]
async fn unknown_module_version_prefix_and_sumdb_are_404_one_line() {
    let h = Harness::new();
    h.upload_ok("acme", &simple("example.com/lib", "v1.0.0"))
        .await;
    let cases = [
        (format!("{BASE}/example.com/nope/@v/list"), "unknown module"),
        (format!("{BASE}/example.com/nope/@latest"), "unknown module"),
        (
            format!("{BASE}/example.com/lib/@v/v9.9.9.info"),
            "unknown version",
        ),
        (
            format!("{BASE}/example.com/lib/@v/v9.9.9.mod"),
            "unknown version",
        ),
        (
            format!("{BASE}/example.com/lib/@v/v9.9.9.zip"),
            "unknown version",
        ),
        (
            format!("{BASE}/example.com/lib/sub/@v/list"),
            "unknown module",
        ),
        (format!("{BASE}/example.com/@v/list"), "unknown module"),
        (
            format!("{BASE}/example.com/lib/@v/master.info"),
            "unknown version",
        ),
        (
            format!("{BASE}/sumdb/sum.golang.org/supported"),
            "checksum database",
        ),
        (format!("{BASE}/example.com/%zz/@v/list"), "percent"),
        (
            format!("{BASE}/example.com/lib"),
            "not a module proxy request",
        ),
        (
            "/api/packages/Other/go/example.com/lib/@v/list".to_owned(),
            "unknown module",
        ),
        ("/nothing/here".to_owned(), "not found"),
    ];
    for (path, needle) in cases {
        let r = h.get(&path).await;
        assert_error(&r, StatusCode::NOT_FOUND, needle);
    }
}

#[tokio::test]
async fn head_answers_like_get_without_body() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.0.0");
    h.upload_ok("acme", &zip).await;
    for suffix in [
        "@v/list",
        "@v/v1.0.0.info",
        "@v/v1.0.0.mod",
        "@v/v1.0.0.zip",
        "@latest",
    ] {
        let r = h
            .request(
                crate::support::inproc::request()
                    .method("HEAD")
                    .path(&format!("{BASE}/example.com/lib/{suffix}")),
            )
            .await;
        assert_eq!(r.status(), 200, "{suffix}");
    }
    let r = h
        .request(
            crate::support::inproc::request()
                .method("HEAD")
                .path(&format!("{BASE}/example.com/lib/@v/v1.0.0.zip")),
        )
        .await;
    assert_eq!(header(&r, "content-length"), zip.bytes().len().to_string());
    assert!(r.body().is_empty());
}

#[tokio::test]
async fn zip_range_etag_and_if_range_follow_rfc_9110() {
    let h = Harness::new();
    let big = crate::support::incompressible("range", 600 * 1024);
    let zip = ModZip::with_files("example.com/big", "v1.0.0", &[("blob.bin", &big)]);
    h.upload_ok("acme", &zip).await;
    let bytes = zip.bytes();
    let n = bytes.len();
    let url = format!("{BASE}/example.com/big/@v/v1.0.0.zip");
    let full = h.get(&url).await;
    assert_eq!(
        full.body().as_ref(),
        bytes.as_slice(),
        "multi-chunk body is byte-identical"
    );
    let etag = header(&full, "etag").to_owned();
    let last_modified = header(&full, "last-modified").to_owned();

    // A range across the chunk boundary.
    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("range", "bytes=261000-262999"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body().as_ref(), &bytes[261_000..263_000]);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 261000-262999/{n}")
    );
    assert_eq!(header(&r, "content-length"), "2000");

    // Resume as go 1.27 does: Range + If-Range with the ETag.
    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("range", "bytes=100-")
                .header("if-range", &etag),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body().as_ref(), &bytes[100..]);
    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("range", "bytes=100-")
                .header("if-range", &last_modified),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);

    // A stale validator: the whole body, 200.
    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("range", "bytes=100-")
                .header("if-range", "\"other\""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body().len(), n);

    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("range", format!("bytes={n}-")),
        )
        .await;
    assert_error(
        &r,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range not satisfiable",
    );
    assert_eq!(header(&r, "content-range"), format!("bytes */{n}"));

    let r = h
        .request(
            crate::support::inproc::request()
                .path(&url)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.body().is_empty());
}

#[tokio::test]
async fn upload_without_or_with_bad_credentials_is_401_with_challenge() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.0.0");
    let basic_wrong_user = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("bob:{TOKEN}")
        )
    );
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Digest abc"),
        Some(basic_wrong_user.as_str()),
    ] {
        let r = h.upload_raw("acme", zip.bytes(), auth).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "");
        assert_eq!(
            header(&r, "www-authenticate"),
            "Basic realm=\"goshelf\"",
            "{auth:?}"
        );
    }
    assert_eq!(
        h.get(&format!("{BASE}/example.com/lib/@v/list"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn upload_accepts_bearer_token_and_basic_schemes() {
    let h = Harness::new();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("admin:{TOKEN}")
        )
    );
    let auths = [format!("Bearer {TOKEN}"), format!("token {TOKEN}"), basic];
    for (i, auth) in auths.iter().enumerate() {
        let zip = simple("example.com/lib", &format!("v1.0.{i}"));
        let r = h.upload_raw("acme", zip.bytes(), Some(auth)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{auth}: {}", text(&r));
    }
}

#[tokio::test]
async fn upload_invalid_zip_is_400_and_leaves_database_unchanged() {
    let h = Harness::new();
    h.upload_ok("acme", &simple("example.com/lib", "v1.0.0"))
        .await;
    let before = h.db_bytes();
    let bad_cases: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not a zip".to_vec(), "invalid module zip"),
        (Vec::new(), "empty body"),
        (simple("example.com/lib", "v1.0").bytes(), "not canonical"),
        (
            simple("example.com/lib", "v2.0.0").bytes(),
            "should be v0 or v1",
        ),
        (
            ModZip::with_files(
                "example.com/lib",
                "v1.1.0",
                &[("go.mod", b"module example.com/other\n")],
            )
            .bytes(),
            "example.com/other",
        ),
        (
            ModZip::with_files(
                "example.com/lib",
                "v1.1.0",
                &[("a.go", b"x"), ("A.GO", b"y")],
            )
            .bytes(),
            "case-insensitive file name collision",
        ),
        (
            ModZip::with_files(
                "example.com/lib",
                "v1.1.0",
                &[("sub/go.mod", b"module example.com/lib/sub\n")],
            )
            .bytes(),
            "go.mod file not in module root directory",
        ),
    ];
    for (body, needle) in bad_cases {
        let r = h
            .upload_raw("acme", body, Some(&format!("Bearer {TOKEN}")))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, needle);
    }
    assert!(
        h.db_bytes() == before,
        "a rejected upload changed the database file"
    );
    assert_eq!(
        text(&h.get(&format!("{BASE}/example.com/lib/@v/list")).await),
        "v1.0.0\n"
    );
}

#[tokio::test]
async fn upload_of_existing_version_is_409_and_changes_nothing() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.0.0");
    h.upload_ok("acme", &zip).await;
    let before = h.db_bytes();
    let r = h.upload("acme", &zip).await;
    assert_error(&r, StatusCode::CONFLICT, "already exists");
    let other = ModZip::with_files("example.com/lib", "v1.0.0", &[("x.go", b"package x\n")]);
    assert_eq!(
        h.upload("acme", &other).await.status(),
        StatusCode::CONFLICT
    );
    assert!(h.db_bytes() == before, "a 409 changed the database file");
}

#[tokio::test]
async fn upload_over_limit_is_413() {
    let h = Harness::with_max_upload("64KiB");
    let big = crate::support::incompressible("413", 100 * 1024);
    let zip = ModZip::with_files("example.com/big", "v1.0.0", &[("blob.bin", &big)]);
    let r = h.upload("acme", &zip).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "limit of 65536 bytes");
    // The same, announced without Content-Length: caught while streaming.
    let r = h
        .request(
            crate::support::inproc::request()
                .method("PUT")
                .path("/api/packages/acme/go/upload")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(zip.bytes()),
        )
        .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "limit");
    assert_eq!(
        h.get(&format!("{BASE}/example.com/big/@v/list"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn upload_as_multipart_form_field_is_accepted() {
    let h = Harness::new();
    let zip = simple("example.com/form", "v0.3.0");
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n",
    );
    body.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.zip\"\r\n\
          Content-Type: application/zip\r\n\r\n",
    );
    body.extend_from_slice(&zip.bytes());
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let r = h
        .request(
            crate::support::inproc::request()
                .method("PUT")
                .path("/api/packages/acme/go/upload")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(body),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", text(&r));
    let z = h
        .get(&format!("{BASE}/example.com/form/@v/v0.3.0.zip"))
        .await;
    assert_eq!(z.body().as_ref(), zip.bytes().as_slice());
}

#[tokio::test]
async fn owner_name_is_case_insensitive_and_validated() {
    let h = Harness::new();
    h.upload_ok("Acme", &simple("example.com/lib", "v1.0.0"))
        .await;
    assert_eq!(
        h.get(&format!("{BASE}/example.com/lib/@v/list"))
            .await
            .status(),
        200
    );
    let r = h
        .upload("-bad-", &simple("example.com/lib", "v1.0.1"))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid owner name");
}

async fn delete(
    h: &Harness,
    owner: &str,
    module: &str,
    version: &str,
    auth: Option<&str>,
) -> Response<Bytes> {
    let mut req = crate::support::inproc::request()
        .method("DELETE")
        .path(&format!(
            "/api/v1/packages/{owner}/go/{}/{version}",
            module.replace('/', "%2F")
        ));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    h.request(req).await
}

#[tokio::test]
async fn delete_hides_version_frees_blob_and_pins_checksum() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.0.0");
    h.upload_ok("acme", &zip).await;
    h.upload_ok("acme", &simple("example.com/lib", "v1.1.0"))
        .await;
    let auth = format!("Bearer {TOKEN}");

    assert_error(
        &delete(&h, "acme", "example.com/lib", "v1.0.0", None).await,
        StatusCode::UNAUTHORIZED,
        "",
    );
    let r = delete(&h, "acme", "example.com/lib", "v1.0.0", Some(&auth)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(&r));
    assert_error(
        &delete(&h, "acme", "example.com/lib", "v1.0.0", Some(&auth)).await,
        StatusCode::NOT_FOUND,
        "unknown version",
    );

    assert_eq!(
        text(&h.get(&format!("{BASE}/example.com/lib/@v/list")).await),
        "v1.1.0\n"
    );
    for suffix in ["info", "mod", "zip"] {
        let r = h
            .get(&format!("{BASE}/example.com/lib/@v/v1.0.0.{suffix}"))
            .await;
        assert_error(&r, StatusCode::GONE, "was deleted");
    }
    // Same bytes may come back; other bytes may not (clients pinned the old h1).
    let other = ModZip::with_files("example.com/lib", "v1.0.0", &[("x.go", b"package x\n")]);
    assert_error(
        &h.upload("acme", &other).await,
        StatusCode::CONFLICT,
        "different checksum",
    );
    h.upload_ok("acme", &zip).await;
    let z = h
        .get(&format!("{BASE}/example.com/lib/@v/v1.0.0.zip"))
        .await;
    assert_eq!(z.body().as_ref(), zip.bytes().as_slice());
}

#[tokio::test]
async fn same_zip_under_two_owners_is_stored_once_and_survives_one_delete() {
    let h = Harness::new();
    let big = crate::support::incompressible("dedup", 512 * 1024);
    let zip = ModZip::with_files("example.com/dup", "v1.0.0", &[("blob.bin", &big)]);
    h.upload_ok("acme", &zip).await;
    let size_one = std::fs::metadata(&h.state.config.db).unwrap().len();
    h.state.store.sumdb_share("other", "example.com").unwrap();
    h.upload_ok("other", &zip).await;
    let size_two = std::fs::metadata(&h.state.config.db).unwrap().len();
    assert!(
        size_two.saturating_sub(size_one) < zip.bytes().len() as u64 / 4,
        "second copy grew the file from {size_one} to {size_two}"
    );
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(
        delete(&h, "acme", "example.com/dup", "v1.0.0", Some(&auth))
            .await
            .status(),
        204
    );
    let z = h
        .get("/api/packages/other/go/example.com/dup/@v/v1.0.0.zip")
        .await;
    assert_eq!(z.status(), 200);
    assert_eq!(z.body().as_ref(), zip.bytes().as_slice());
}

#[tokio::test]
async fn wrong_method_is_405_and_healthz_is_200() {
    let h = Harness::new();
    let r = h
        .request(
            crate::support::inproc::request()
                .method("POST")
                .path(&format!("{BASE}/example.com/lib/@v/list")),
        )
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    let r = h.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(text(&r), "ok\n");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn metrics_count_requests_uploads_and_store_figures() {
    let h = Harness::new();
    let zip = simple("example.com/lib", "v1.0.0");
    h.upload_ok("acme", &zip).await;
    h.state.store.sumdb_share("other", "example.com").unwrap();
    h.upload_ok("other", &zip).await; // deduplicated
    assert_eq!(h.upload("acme", &zip).await.status(), 409);
    h.get(&format!("{BASE}/example.com/lib/@v/v1.0.0.zip"))
        .await;
    h.get(&format!("{BASE}/example.com/nope/@v/list")).await;
    let r = h.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/plain; version=0.0.4"));
    let m = text(&r);
    let n = zip.bytes().len();
    for line in [
        "goshelf_http_requests_total{route=\"upload\",status=\"201\"} 2".to_owned(),
        "goshelf_http_requests_total{route=\"upload\",status=\"409\"} 1".to_owned(),
        "goshelf_http_requests_total{route=\"zip\",status=\"200\"} 1".to_owned(),
        "goshelf_http_requests_total{route=\"list\",status=\"404\"} 1".to_owned(),
        "goshelf_uploads_total{outcome=\"created\"} 2".to_owned(),
        "goshelf_uploads_total{outcome=\"conflict\"} 1".to_owned(),
        "goshelf_versions 2".to_owned(),
        "goshelf_namespaces 2".to_owned(),
        "goshelf_blobs 1".to_owned(),
        format!("goshelf_blob_bytes {n}"),
        format!("goshelf_dedup_saved_bytes {n}"),
    ] {
        assert!(m.lines().any(|l| l == line), "{line:?} missing from:\n{m}");
    }
    let served: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("goshelf_http_response_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(served >= n as u64, "bytes served {served} < one zip {n}");
    assert!(m
        .lines()
        .any(|l| l.starts_with("goshelf_database_bytes ") && !l.ends_with(" 0")));
}
