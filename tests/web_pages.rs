//! The web UI's pages without sockets: `support::inproc` requests through the edge's dispatch (`http::oneshot`) over a fresh
//! store (issue 4). Content of each page, escaping of hostile READMEs, go.mod files, file names
//! and queries, the 404 page, `?go-get=1`, headers, assets and download counts.

use bytes::Bytes;
use goshelf::config::{Key, RawConfig};
use goshelf::http::{ui, AppState};
use goshelf::store::Store;
use http::{Response, StatusCode};
use tempfile::TempDir;

use crate::support::ModZip;

const TOKEN: &str = "web-test-token-0123456789";

struct Harness {
    _dir: TempDir,
    state: AppState,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawConfig::default()
            .with(Key::Listen, "127.0.0.1:0")
            .with_path(Key::Db, &dir.path().join("goshelf.redb"))
            .with(Key::UpstreamSumdb, "off")
            .with(Key::Upstream, "off")
            .with(Key::Private, "example.com,nas.lan");
        let config = raw.resolve().unwrap();
        let store = Store::open(&config.db).unwrap();
        assert!(store.bootstrap_admin(TOKEN, 0).unwrap());
        Self {
            _dir: dir,
            state: AppState::new(store, config).unwrap(),
        }
    }

    async fn request(&self, req: crate::support::inproc::RequestBuilder) -> Response<Bytes> {
        req.reply(&self.state).await
    }

    /// A browser-like GET: `Host: nas.lan:8080`, accepts HTML.
    async fn page(&self, path: &str) -> Response<Bytes> {
        self.request(
            crate::support::inproc::request()
                .method("GET")
                .path(path)
                .header("host", "nas.lan:8080")
                .header("accept", "text/html,application/xhtml+xml"),
        )
        .await
    }

    async fn upload(&self, owner: &str, zip: &ModZip) {
        let body = zip.bytes();
        let r = self
            .request(
                crate::support::inproc::request()
                    .method("PUT")
                    .path(&format!("/api/packages/{owner}/go/upload"))
                    .header("content-length", body.len().to_string())
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .body(body),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", text(&r));
    }
}

fn text(r: &Response<Bytes>) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}

fn ok_html(r: &Response<Bytes>) -> String {
    assert_eq!(r.status(), StatusCode::OK, "{}", text(r));
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    text(r)
}

fn gomod(path: &str, extra: &str) -> Vec<u8> {
    format!("module {path}\n\ngo 1.21\n{extra}").into_bytes()
}

fn simple(path: &str, version: &str) -> ModZip {
    ModZip::with_files(
        path,
        version,
        &[("go.mod", &gomod(path, "")), ("lib.go", b"package lib\n")],
    )
}

/// The markup of every real tag of a page (what lies between `<` and `>`).
fn real_tags(page: &str) -> Vec<&str> {
    page.split('<')
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap())
        .collect()
}

/// The text of the element whose opening tag contains `marker`, up to its closing `</tag>`.
fn section<'a>(page: &'a str, marker: &str, close: &str) -> &'a str {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page:\n{page}"));
    let end = page[start..].find(close).unwrap() + start;
    &page[start..end]
}

#[tokio::test]
async fn home_lists_namespaces_recent_versions_and_storage_figures() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    h.upload("acme", &simple("example.com/beta", "v0.1.0"))
        .await;
    // The same zip in a second namespace is stored once: deduplication saves its size.
    h.state.store.sumdb_share("team", "example.com").unwrap();
    h.upload("team", &simple("example.com/alpha", "v1.0.0"))
        .await;
    let page = ok_html(&h.page("/").await);
    for want in [
        "href=\"/ui/acme\"",
        "href=\"/ui/team\"",
        "2 modules, 2 versions",
        "1 modules, 1 versions",
        "href=\"/ui/acme/example.com/alpha/@v/v1.0.0\"",
        "href=\"/ui/acme/example.com/beta/@v/v0.1.0\"",
        "<dd id=\"stat-versions\">3</dd>",
        "name=\"q\"",
    ] {
        assert!(page.contains(want), "{want} missing:\n{page}");
    }
    let saved = section(&page, "id=\"stat-saved\"", "</dd>");
    assert!(!saved.ends_with(">0 B"), "dedup saved nothing: {saved}");
}

#[tokio::test]
async fn home_search_finds_module_path_substrings_only() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    h.upload("acme", &simple("example.com/beta", "v1.0.0"))
        .await;
    let page = ok_html(&h.page("/?q=ALP").await);
    let results = section(&page, "Modules matching", "</section>");
    assert!(results.contains("example.com/alpha"), "{results}");
    assert!(!results.contains("example.com/beta"), "{results}");
    let page = ok_html(&h.page("/?q=nothing-like-this").await);
    assert!(page.contains("No module path contains"), "{page}");
}

#[tokio::test]
async fn namespace_page_lists_modules_with_latest_version_date_and_size() {
    let h = Harness::new();
    for v in ["v1.2.0", "v1.10.0", "v1.9.0", "v1.11.0-rc.1"] {
        h.upload("acme", &simple("example.com/alpha", v)).await;
    }
    h.upload("acme", &simple("example.com/beta", "v0.1.0"))
        .await;
    let page = ok_html(&h.page("/ui/acme").await);
    assert!(
        page.contains("http://nas.lan:8080/api/packages/acme/go"),
        "{page}"
    );
    let alpha = section(&page, "href=\"/ui/acme/example.com/alpha\"", "</tr>");
    assert!(
        alpha.contains("v1.10.0"),
        "latest by semver, not string order: {alpha}"
    );
    assert!(alpha.contains(" UTC"), "{alpha}");
    assert!(alpha.contains(" B<") || alpha.contains("KiB"), "{alpha}");
    assert!(alpha.contains(">4<"), "version count: {alpha}");
    assert!(
        page.contains("href=\"/ui/acme/example.com/beta\""),
        "{page}"
    );
}

#[tokio::test]
async fn module_page_sorts_versions_by_semver_and_marks_latest() {
    let h = Harness::new();
    // Upload order and string order both differ from semver order.
    for v in [
        "v1.9.0",
        "v1.10.0",
        "v1.2.0",
        "v1.10.0-rc.1",
        "v0.0.0-20240101000000-abcdefabcdef",
    ] {
        h.upload("acme", &simple("example.com/alpha", v)).await;
    }
    let page = ok_html(&h.page("/ui/acme/example.com/alpha").await);
    let list = section(&page, "id=\"versions\"", "</ol>");
    let order: Vec<&str> = list
        .split("<a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "v1.10.0",
            "v1.10.0-rc.1",
            "v1.9.0",
            "v1.2.0",
            "v0.0.0-20240101000000-abcdefabcdef"
        ]
    );
    let first = section(list, "<li", "</li>");
    assert!(first.contains("badge latest"), "{first}");
    assert_eq!(list.matches("badge latest").count(), 1, "{list}");
    assert!(
        page.contains("<span class=\"version\">v1.10.0</span>"),
        "{page}"
    );
}

#[tokio::test]
async fn module_page_shows_install_snippet_gosum_gomod_files_and_readme() {
    let h = Harness::new();
    let path = "example.com/Widget";
    let zip = ModZip::with_files(
        path,
        "v1.2.3",
        &[
            ("go.mod", &gomod(path, "require example.com/other v1.0.0\n")),
            (
                "README.md",
                b"# Widget\n\nMakes **widgets**.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
            ),
            ("widget.go", b"package widget\n"),
            ("internal/x/x.go", &vec![b'/'; 3000]),
        ],
    );
    h.upload("acme", &zip).await;
    let info: serde_json::Value = {
        let r = h
            .page("/api/packages/acme/go/example.com/!widget/@v/list")
            .await;
        assert_eq!(text(&r), "v1.2.3\n");
        serde_json::Value::Null
    };
    let _ = info;
    let page = ok_html(&h.page("/ui/acme/example.com/!widget").await);
    let version_page = ok_html(&h.page("/ui/acme/example.com/!widget/@v/v1.2.3").await);
    for p in [&page, &version_page] {
        assert!(
            p.contains(&format!(
                "GOPROXY=http://nas.lan:8080/api/packages/acme/go GOSUMDB={} go get \
                 example.com/Widget@v1.2.3",
                h.state.sumdb.vkey()
            )),
            "{p}"
        );
        assert!(
            p.contains("record 0 of this shelf&#39;s checksum database"),
            "{p}"
        );
        let sum = section(p, "id=\"gosum\"", "</pre>");
        assert!(sum.contains("example.com/Widget v1.2.3 h1:"), "{sum}");
        assert!(
            sum.contains("example.com/Widget v1.2.3/go.mod h1:"),
            "{sum}"
        );
        let readme = section(p, "id=\"readme\"", "</section>");
        assert!(readme.contains("<h1>Widget</h1>"), "{readme}");
        assert!(readme.contains("<strong>widgets</strong>"), "{readme}");
        assert!(readme.contains("<table>"), "{readme}");
        let gm = section(p, "id=\"gomod\"", "</pre>");
        assert!(gm.contains("require example.com/other v1.0.0"), "{gm}");
        let files = section(p, "class=\"list files\"", "</table>");
        for f in ["go.mod", "README.md", "widget.go", "internal/x/x.go"] {
            assert!(files.contains(&format!("<code>{f}</code>")), "{f}: {files}");
        }
        assert!(
            files.contains("2.9 KiB"),
            "size of internal/x/x.go: {files}"
        );
        assert!(p.contains("0 downloads"), "{p}");
    }
}

#[tokio::test]
async fn module_page_shows_retractions_and_deprecation_from_latest_gomod() {
    let h = Harness::new();
    let path = "example.com/old";
    h.upload("acme", &simple(path, "v1.0.0")).await;
    h.upload("acme", &simple(path, "v1.1.0")).await;
    let latest = ModZip::with_files(
        path,
        "v1.2.0",
        &[(
            "go.mod",
            &format!(
                "// Deprecated: use example.com/new instead.\nmodule {path}\n\ngo 1.21\n\n\
                 // Data loss bug.\nretract v1.0.0\nretract [v1.1.0, v1.1.9] // broken build\n"
            )
            .into_bytes(),
        )],
    );
    h.upload("acme", &latest).await;
    let page = ok_html(&h.page("/ui/acme/example.com/old").await);
    let dep = section(&page, "id=\"deprecated\"", "</div>");
    assert!(dep.contains("use example.com/new instead."), "{dep}");
    let list = section(&page, "id=\"versions\"", "</ol>");
    let row = |v: &str| section(list, &format!("/@v/{v}\""), "</li>").to_owned();
    assert!(
        row("v1.0.0").contains("title=\"Data loss bug.\">retracted"),
        "{list}"
    );
    assert!(
        row("v1.1.0").contains("title=\"broken build\">retracted"),
        "{list}"
    );
    assert!(!row("v1.2.0").contains("retracted"), "{list}");
    // The retracted version's own page says so, with the reason, and links the latest.
    let page = ok_html(&h.page("/ui/acme/example.com/old/@v/v1.0.0").await);
    let note = section(&page, "id=\"retracted\"", "</div>");
    assert!(note.contains("Data loss bug."), "{note}");
    assert!(note.contains("href=\"/ui/acme/example.com/old\""), "{note}");
}

#[tokio::test]
async fn hostile_readme_gomod_file_names_and_query_are_shown_inert() {
    let h = Harness::new();
    let path = "example.com/evil";
    let readme = b"# Hi\n\n<script>alert('readme')</script>\n\n<img src=x onerror=alert(1)>\n\n\
[click](javascript:alert(1)) [also](JAVASCRIPT:alert(2)) <a href=\"javascript:alert(3)\">raw</a>\n\n\
<iframe src=\"https://evil.example\"></iframe>\n\n[ok](https://go.dev/)\n";
    let zip = ModZip::with_files(
        path,
        "v1.0.0",
        &[
            (
                "go.mod",
                &gomod(path, "// </code></pre><script>alert('gomod')</script>\n"),
            ),
            ("README.md", readme),
            ("a&b<i>.go", b"package evil\n"),
        ],
    )
    .file("x.go", b"package evil\n");
    let upload = {
        let body = zip.bytes();
        h.request(
            crate::support::inproc::request()
                .method("PUT")
                .path("/api/packages/acme/go/upload")
                .header("content-length", body.len().to_string())
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(body),
        )
        .await
    };
    // `<` is not allowed in module file names; without it the `&` name still must be escaped.
    if upload.status() != StatusCode::CREATED {
        let zip = ModZip::with_files(
            path,
            "v1.0.0",
            &[
                (
                    "go.mod",
                    &gomod(path, "// </code></pre><script>alert('gomod')</script>\n"),
                ),
                ("README.md", readme),
                ("a&b.go", b"package evil\n"),
            ],
        );
        h.upload("acme", &zip).await;
    }
    let page = ok_html(&h.page("/ui/acme/example.com/evil").await);
    let lower = page.to_lowercase();
    // The only <script> is our own external one in <head>.
    assert_eq!(lower.matches("<script").count(), 1, "{page}");
    assert!(lower.contains("<script src=\"/assets/"), "{page}");
    // Every real tag (text from the module is escaped, so has no `<`) is free of event
    // handlers and javascript: URLs.
    for tag in real_tags(&lower) {
        assert!(!tag.contains(" on"), "event handler in {tag}");
        assert!(!tag.contains("javascript:"), "javascript: URL in {tag}");
        assert!(
            !tag.starts_with("iframe") && !tag.starts_with("img"),
            "{tag}"
        );
    }
    assert!(
        page.contains("onerror=alert(1)&gt;"),
        "shown as text:\n{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert("),
        "README script shown as text:\n{page}"
    );
    assert!(page.contains("href=\"https://go.dev/\""), "{page}");
    assert!(
        (page.contains("a&#38;b") || page.contains("a&amp;b")) && !page.contains("a&b"),
        "file name escaped:\n{page}"
    );
    // Search text is reflected escaped.
    let page = ok_html(&h.page("/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E").await);
    assert_eq!(page.to_lowercase().matches("<script").count(), 1, "{page}");
    assert!(
        page.contains("value=\"&#34;&#62;&#60;script&#62;alert(1)"),
        "query escaped in the search box:\n{page}"
    );
}

#[tokio::test]
async fn module_path_crafted_as_html_is_a_plain_404_page() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    for path in [
        "/ui/acme/example.com/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/ui/acme/example.com/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
        "/ui/%3Cb%3E",
    ] {
        let r = h.page(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = text(&r).to_lowercase();
        assert_eq!(body.matches("<script").count(), 1, "{path}: {body}");
        assert!(
            !body.contains("<img") && !body.contains("<b>"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_pages_are_an_html_404_and_api_404s_stay_text() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    for path in [
        "/ui/nobody",
        "/ui/acme/example.com/missing",
        "/ui/acme/example.com/alpha/@v/v9.9.9",
        "/ui/acme/Example.com/alpha",
        "/no/such/page",
    ] {
        let r = h.page(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(text(&r).contains("<h1>Not found</h1>"), "{path}");
    }
    // The go command and curl (no text/html in Accept) still get one line of text.
    let r = h
        .request(crate::support::inproc::request().path("/no/such/page"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(&r), "not found\n");
    let r = h
        .page("/api/packages/acme/go/example.com/nope/@v/list")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
}

#[tokio::test]
async fn go_get_answers_the_mod_meta_tag_for_modules_under_this_host() {
    let h = Harness::new();
    h.upload("acme", &simple("nas.lan/tools", "v1.0.0")).await;
    // The module itself, and a package inside it.
    for path in ["/tools?go-get=1", "/tools/cmd/x?go-get=1"] {
        let r = h.page(path).await;
        let body = ok_html(&r);
        let tag = "<meta name=\"go-import\" content=\"nas.lan/tools mod http://nas.lan:8080/api/packages/acme/go\">";
        assert!(body.contains(tag), "{path}: {body}");
        let head_end = body.find("</head>").unwrap();
        assert!(body.find(tag).unwrap() < head_end, "tag must be in <head>");
    }
    let r = h.page("/unknown?go-get=1").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!text(&r).contains("go-import"));
    // A package deep inside the module is still found (only a module path's depth is
    // bounded); a path of thousands of elements costs no read per element.
    let deep = format!("/tools{}?go-get=1", "/d".repeat(100));
    assert!(ok_html(&h.page(&deep).await).contains("content=\"nas.lan/tools mod "));
    let r = h.page(&format!("{}?go-get=1", "/a".repeat(20_000))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A module whose path's second element is `go` is found, though `/go/` is also the LAN's
    // GOPROXY base (the go command's probe is never a GOPROXY request).
    h.upload("acme", &simple("nas.lan/go/tool", "v1.0.0")).await;
    let body = ok_html(&h.page("/go/tool/cmd?go-get=1").await);
    assert!(body.contains("content=\"nas.lan/go/tool mod "), "{body}");
    // Another host name finds nothing.
    let r = h
        .request(
            crate::support::inproc::request()
                .path("/tools?go-get=1")
                .header("host", "other.lan"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_carry_security_and_cache_headers_and_assets_are_immutable() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    let mut css = String::new();
    for path in ["/", "/ui/acme", "/ui/acme/example.com/alpha", "/ui/nobody"] {
        let r = h.page(path).await;
        let hd = r.headers();
        let csp = hd["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(hd["x-frame-options"], "DENY", "{path}");
        assert!(hd.contains_key("referrer-policy"), "{path}");
        // Pages depend on who looks: no shared cache may keep one (issue 16).
        assert_eq!(hd["cache-control"], "private, no-cache", "{path}");
        assert_eq!(hd["x-content-type-options"], "nosniff", "{path}");
        let body = text(&r);
        assert!(!body.contains("<script>"), "no inline script in {path}");
        assert!(!body.contains(" style=\""), "no inline style in {path}");
        css = body
            .split("<link rel=\"stylesheet\" href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
    }
    assert!(
        css.starts_with("/assets/") && css.ends_with("/style.css"),
        "{css}"
    );
    let r = h.page(&css).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(text(&r).contains("prefers-color-scheme"));
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = h
        .request(
            crate::support::inproc::request()
                .path(&css)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // A stale fingerprint still gets the file, but not cached for a year.
    let r = h.page("/assets/0000000000000000/style.css").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let r = h.page("/assets/0000000000000000/nothing.js").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn zip_downloads_are_counted_shown_and_flushed_in_one_batch() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    h.upload("acme", &simple("example.com/alpha", "v1.1.0"))
        .await;
    let zip = "/api/packages/acme/go/example.com/alpha/@v/v1.0.0.zip";
    for _ in 0..3 {
        assert_eq!(h.page(zip).await.status(), StatusCode::OK);
    }
    // HEAD, a resumed range and a revalidation are not downloads.
    let r = h
        .request(crate::support::inproc::request().method("HEAD").path(zip))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = h
        .request(
            crate::support::inproc::request()
                .path(zip)
                .header("range", "bytes=10-"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let page = ok_html(&h.page("/ui/acme/example.com/alpha/@v/v1.0.0").await);
    assert!(page.contains("· 3 downloads"), "{page}");
    assert!(h
        .state
        .store
        .download_counts("acme", "example.com/alpha")
        .unwrap()
        .is_empty());
    ui::flush_downloads(&h.state).await;
    let stored = h
        .state
        .store
        .download_counts("acme", "example.com/alpha")
        .unwrap();
    assert_eq!(stored.get("v1.0.0"), Some(&3), "{stored:?}");
    assert_eq!(stored.get("v1.1.0"), None, "{stored:?}");
    h.page(zip).await;
    let page = ok_html(&h.page("/ui/acme/example.com/alpha/@v/v1.0.0").await);
    assert!(
        page.contains("· 4 downloads"),
        "stored plus pending: {page}"
    );
}

#[tokio::test]
async fn version_facts_are_read_once_and_cached() {
    let h = Harness::new();
    h.upload("acme", &simple("example.com/alpha", "v1.0.0"))
        .await;
    assert_eq!(h.state.ui.facts.usage().1, 0);
    ok_html(&h.page("/ui/acme/example.com/alpha").await);
    assert_eq!(h.state.ui.facts.usage().1, 1);
    ok_html(&h.page("/ui/acme/example.com/alpha/@v/v1.0.0").await);
    assert_eq!(h.state.ui.facts.usage().1, 1, "same version, same entry");
}

/// Posts a form as a browser on `http://nas.lan:8080` would, with an optional session cookie.
async fn post_form(
    h: &Harness,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    origin: &str,
) -> Response<Bytes> {
    let mut req = crate::support::inproc::request()
        .method("POST")
        .path(path)
        .header("host", "nas.lan:8080")
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    h.request(req).await
}

async fn page_as(h: &Harness, path: &str, cookie: &str) -> Response<Bytes> {
    h.request(
        crate::support::inproc::request()
            .path(path)
            .header("host", "nas.lan:8080")
            .header("accept", "text/html")
            .header("cookie", cookie),
    )
    .await
}

fn csrf_of(page: &str) -> String {
    section(page, "name=\"csrf\" value=\"", "\">")
        .trim_start_matches("name=\"csrf\" value=\"")
        .to_owned()
}

const ORIGIN: &str = "http://nas.lan:8080";

fn accounts(h: &Harness) {
    use goshelf::auth::{hash_password, Scope, Visibility};
    let store = &h.state.store;
    let pw = hash_password("correct horse").unwrap();
    store.create_user("alice", Some(pw), false, 0).unwrap();
    let pw = hash_password("other pw").unwrap();
    store.create_user("bob", Some(pw), false, 0).unwrap();
    store.create_org("secret", Visibility::Private, 0).unwrap();
    store.set_member("secret", "alice", Scope::Read, 0).unwrap();
}

/// `accounts`, and an admin `root` with password `root pw`.
fn accounts_and_root(h: &Harness) {
    accounts(h);
    let pw = goshelf::auth::hash_password("root pw").unwrap();
    h.state
        .store
        .create_user("root", Some(pw), true, 0)
        .unwrap();
}

async fn sign_in(h: &Harness, user: &str, password: &str) -> String {
    let r = post_form(
        h,
        "/signin",
        &format!("user={user}&password={password}&next=/"),
        None,
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(&r));
    assert_eq!(r.headers()["location"], "/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag: {set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn private_namespace_is_a_404_until_a_member_signs_in() {
    let h = Harness::new();
    accounts(&h);
    h.upload("secret", &simple("nas.lan/hidden", "v1.0.0"))
        .await;
    h.upload("acme", &simple("example.com/open", "v1.0.0"))
        .await;
    let home = ok_html(&h.page("/").await);
    assert!(!home.contains("/ui/secret"), "{home}");
    assert!(!home.contains("nas.lan/hidden"), "{home}");
    for path in [
        "/ui/secret",
        "/ui/secret/nas.lan/hidden",
        "/ui/secret/nas.lan/hidden/@v/v1.0.0",
        "/hidden?go-get=1",
    ] {
        let r = h.page(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!text(&r).contains("nas.lan/hidden mod"), "{path}");
    }
    // Wrong password and unknown user: the same generic answer.
    for body in ["user=alice&password=nope", "user=nobody&password=nope"] {
        let r = post_form(&h, "/signin", body, None, ORIGIN).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{body}");
        assert!(text(&r).contains("wrong user name or password"), "{body}");
        assert!(r.headers().get("set-cookie").is_none());
    }
    // A sign-in form posted from another site is refused.
    let r = post_form(
        &h,
        "/signin",
        "user=alice&password=correct%20horse",
        None,
        "http://evil.example",
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let alice = sign_in(&h, "alice", "correct%20horse").await;
    let home = ok_html(&page_as(&h, "/", &alice).await);
    assert!(home.contains("href=\"/ui/secret\""), "{home}");
    assert!(home.contains("badge\">private"), "{home}");
    assert!(home.contains(">alice</a>"), "{home}");
    let page = ok_html(&page_as(&h, "/ui/secret/nas.lan/hidden", &alice).await);
    // Not logged (a private namespace): the snippet keeps it out of verification.
    assert!(
        page.contains("GONOSUMDB=nas.lan/hidden go get nas.lan/hidden@v1.0.0"),
        "{page}"
    );
    let r = page_as(&h, "/hidden?go-get=1", &alice).await;
    assert!(text(&r)
        .contains("content=\"nas.lan/hidden mod http://nas.lan:8080/api/packages/secret/go\""));
    // A signed-in non-member still sees nothing.
    let bob = sign_in(&h, "bob", "other%20pw").await;
    let r = page_as(&h, "/ui/secret", &bob).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Signing out ends the session (with its CSRF token only).
    let csrf = csrf_of(&ok_html(&page_as(&h, "/", &alice).await));
    let r = post_form(&h, "/signout", "csrf=wrong", Some(&alice), ORIGIN).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_form(
        &h,
        "/signout",
        &format!("csrf={csrf}"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        page_as(&h, "/ui/secret", &alice).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Issue 26: `private` changes from the settings page at once, no restart; the page is an
/// admin's, and a form without the session's token changes nothing.
#[tokio::test]
async fn settings_page_adds_private_patterns_for_admins_only() {
    let h = Harness::new();
    accounts_and_root(&h);
    let r = h.page("/settings").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/signin?next=/settings");
    let alice = sign_in(&h, "alice", "correct%20horse").await;
    let home = ok_html(&page_as(&h, "/", &alice).await);
    assert!(!home.contains("href=\"/settings\""), "{home}");
    assert_eq!(
        page_as(&h, "/settings", &alice).await.status(),
        StatusCode::FORBIDDEN
    );
    let csrf = csrf_of(&home);
    let r = post_form(
        &h,
        "/settings/private",
        &format!("csrf={csrf}&pattern=alice.example"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", text(&r));
    let root = sign_in(&h, "root", "root%20pw").await;
    let home = ok_html(&page_as(&h, "/", &root).await);
    assert!(home.contains("href=\"/settings\""), "{home}");
    let page = ok_html(&page_as(&h, "/settings", &root).await);
    assert!(page.contains("<li><code>example.com</code></li>"), "{page}");
    assert!(
        page.contains(&format!("GOSUMDB={}", h.state.sumdb.vkey())),
        "{page}"
    );
    let csrf = csrf_of(&page);
    for (body, origin) in [
        ("csrf=wrong&pattern=lab.example".to_owned(), ORIGIN),
        (
            format!("csrf={csrf}&pattern=lab.example"),
            "http://evil.example",
        ),
    ] {
        let r = post_form(&h, "/settings/private", &body, Some(&root), origin).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{body}");
    }
    let r = post_form(
        &h,
        "/settings/private",
        &format!("csrf={csrf}&pattern=x%5Ba-"),
        Some(&root),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(&r).contains("malformed glob"), "{}", text(&r));
    assert_eq!(
        h.state.store.private_patterns().unwrap(),
        "example.com,nas.lan"
    );
    let r = post_form(
        &h,
        "/settings/private",
        &format!("csrf={csrf}&pattern=%2A.lab.example"),
        Some(&root),
        ORIGIN,
    )
    .await;
    let page = ok_html(&r);
    assert!(page.contains("Pattern *.lab.example added."), "{page}");
    assert!(
        page.contains("<li><code>*.lab.example</code></li>"),
        "{page}"
    );
    let patterns = h.state.store.private_patterns().unwrap();
    assert!(
        patterns.split(',').any(|p| p == "*.lab.example"),
        "{patterns}"
    );
    // At once: a private namespace may now hold a path under it.
    h.state
        .store
        .create_org("lab", goshelf::auth::Visibility::Private, 0)
        .unwrap();
    h.upload("lab", &simple("git.lab.example/tool", "v1.0.0"))
        .await;
}

#[tokio::test]
async fn tokens_page_creates_and_revokes_own_tokens_with_csrf_checks() {
    let h = Harness::new();
    accounts(&h);
    let r = h.page("/tokens").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/signin?next=/tokens");
    let alice = sign_in(&h, "alice", "correct%20horse").await;
    let page = ok_html(&page_as(&h, "/tokens", &alice).await);
    assert!(page.contains("You have no tokens."), "{page}");
    let csrf = csrf_of(&page);
    // Without the session's token, or from another origin: refused, nothing created.
    let body = "name=laptop&scope=read&days=30";
    let r = post_form(&h, "/tokens", body, Some(&alice), ORIGIN).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_form(
        &h,
        "/tokens",
        &format!("csrf={csrf}&{body}"),
        Some(&alice),
        "http://evil.example",
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(h.state.store.list_tokens("alice").unwrap().is_empty());
    let r = post_form(
        &h,
        "/tokens",
        &format!("csrf={csrf}&name=bad&scope=root"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = post_form(
        &h,
        "/tokens",
        &format!("csrf={csrf}&{body}"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    let page = ok_html(&r);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let secret = section(&page, "id=\"new-secret\"><code>", "</code>")
        .trim_start_matches("id=\"new-secret\"><code>")
        .to_owned();
    assert!(secret.starts_with("gs_"), "{secret}");
    let tokens = h.state.store.list_tokens("alice").unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "laptop");
    assert!(tokens[0].expires_at.is_some());
    assert!(page.contains(">laptop</td>"), "{page}");
    // The secret works against the API.
    let r = h
        .request(
            crate::support::inproc::request()
                .path("/api/packages/secret/go/example.com/x/@v/list")
                .header("authorization", format!("Bearer {secret}")),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "valid token, unknown module: {}",
        text(&r)
    );
    // Bob cannot revoke Alice's token.
    let bob = sign_in(&h, "bob", "other%20pw").await;
    let bob_csrf = csrf_of(&ok_html(&page_as(&h, "/tokens", &bob).await));
    let id = tokens[0].id.clone();
    let r = post_form(
        &h,
        "/tokens/revoke",
        &format!("csrf={bob_csrf}&id={id}"),
        Some(&bob),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.state.store.list_tokens("alice").unwrap().len(), 1);
    let r = post_form(
        &h,
        "/tokens/revoke",
        &format!("csrf={csrf}&id={id}"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(h.state.store.list_tokens("alice").unwrap().is_empty());
}

/// A README is rendered once, at publish, and kept in the database: a page view with an
/// empty memory cache (as after a restart) reads it from there; an entry that does not
/// decode is computed again and replaced; the entry goes with the zip's last version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_is_rendered_at_publish_and_read_back_from_the_database() {
    let h = Harness::new();
    let path = "example.com/stored";
    let with_readme = |version: &str| {
        let zip = ModZip::with_files(
            path,
            version,
            &[
                ("go.mod", &gomod(path, "")),
                ("README.md", b"# Stored readme\n\nSome *text*.\n"),
            ],
        );
        let id: [u8; 32] = *blake3::hash(&zip.bytes()).as_bytes();
        (zip, id)
    };
    let (zip, id) = with_readme("v1.0.0");
    h.upload("acme", &zip).await;
    let store = std::sync::Arc::clone(&h.state.store);
    // Publishing stored it, without anyone looking at the page.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stored = loop {
        if let Some(bytes) = store.get_zip_facts(&id).unwrap() {
            break bytes;
        }
        assert!(std::time::Instant::now() < deadline, "facts never stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let facts = ui_facts_decode(&stored);
    assert!(facts.contains("<h1>Stored readme</h1>"), "{facts}");
    assert_eq!(
        h.state.ui.facts.usage().1,
        0,
        "publishing fills no memory cache"
    );

    // The page takes the README from the table: make the stored one recognisable.
    let marked = stored_with_html(&stored, "<p>marked: from the table</p>");
    assert!(store.put_zip_facts(&id, &marked).unwrap());
    let page = ok_html(&h.page("/ui/acme/example.com/stored").await);
    assert!(page.contains("marked: from the table"), "{page}");

    // A damaged entry is not an error page: the README is rendered again and stored again.
    h.state.ui.facts.clear();
    assert!(store.put_zip_facts(&id, b"\x01garbage").unwrap());
    let page = ok_html(&h.page("/ui/acme/example.com/stored").await);
    assert!(page.contains("<h1>Stored readme</h1>"), "{page}");
    let again = store.get_zip_facts(&id).unwrap().unwrap();
    assert!(ui_facts_decode(&again).contains("<h1>Stored readme</h1>"));

    // A second version with the same README but another zip has its own entry; deleting
    // the first version removes the first entry only.
    let (zip2, id2) = with_readme("v1.1.0");
    h.upload("acme", &zip2).await;
    ok_html(&h.page("/ui/acme/example.com/stored/@v/v1.1.0").await);
    assert!(store.get_zip_facts(&id2).unwrap().is_some());
    assert!(store
        .delete_version("acme", path, "v1.0.0", 1_700_000_000)
        .unwrap());
    assert!(
        store.get_zip_facts(&id).unwrap().is_none(),
        "gone with its zip"
    );
    assert!(store.get_zip_facts(&id2).unwrap().is_some());
    // And a zip that is gone gets no entry back.
    assert!(!store.put_zip_facts(&id, &again).unwrap());
    assert!(store.get_zip_facts(&id).unwrap().is_none());
}

/// The HTML part of a stored facts entry (format 1: byte, u32 JSON length, JSON, HTML).
fn ui_facts_decode(bytes: &[u8]) -> String {
    assert_eq!(bytes[0], 1, "format");
    let len = u32::from_le_bytes(bytes[1..5].try_into().unwrap()) as usize;
    String::from_utf8(bytes[5 + len..].to_vec()).unwrap()
}

fn stored_with_html(bytes: &[u8], html: &str) -> Vec<u8> {
    let len = u32::from_le_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let mut out = bytes[..5 + len].to_vec();
    out.extend_from_slice(html.as_bytes());
    out
}

/// Issue 16: what a page says of its URL and its cookie follows the connection the request
/// came on, not a flag of the server: over HTTPS the sign-in (an `https://` Origin) works and
/// the cookie is `Secure`; sign-ins are limited per client address.
#[tokio::test]
async fn https_requests_get_secure_cookies_and_sign_ins_are_limited_per_address() {
    let h = Harness::new();
    accounts(&h);
    let post = |peer: [u8; 4], tls: bool, origin: &str| {
        let mut req = crate::support::inproc::request()
            .method("POST")
            .path("/signin")
            .header("host", "nas.lan:8443")
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user=alice&password=correct%20horse&next=/")
            .peer(std::net::IpAddr::from(peer));
        if tls {
            req = req.tls();
        }
        req
    };
    let r = h
        .request(post([192, 0, 2, 1], true, "https://nas.lan:8443"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(&r));
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // An http:// Origin on an HTTPS connection is another site.
    let r = h
        .request(post([192, 0, 2, 1], true, "http://nas.lan:8443"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Ten sign-ins a minute from one address (auth_failures_per_minute), whatever their
    // outcome; another address is not affected.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..12 {
            v.push(
                h.request(post([192, 0, 2, 1], true, "https://nas.lan:8443"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = h
        .request(post([192, 0, 2, 2], true, "https://nas.lan:8443"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(&r));
    // A page over HTTPS prints https:// GOPROXY URLs.
    h.upload("acme", &simple("example.com/open", "v1.0.0"))
        .await;
    let page = h
        .request(
            crate::support::inproc::request()
                .path("/ui/acme")
                .header("host", "nas.lan:8443")
                .header("accept", "text/html")
                .tls(),
        )
        .await;
    assert!(
        text(&page).contains("https://nas.lan:8443/api/packages/acme/go"),
        "{}",
        text(&page)
    );
}

/// Issue 27: the pull-through cache's versions on their own page, an admin's.
#[tokio::test]
async fn cache_page_lists_cached_versions_for_admins_only() {
    let h = Harness::new();
    accounts_and_root(&h);
    let r = h.page("/cache").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/signin?next=/cache");
    let alice = sign_in(&h, "alice", "correct%20horse").await;
    assert_eq!(
        page_as(&h, "/cache", &alice).await.status(),
        StatusCode::FORBIDDEN
    );
    let root = sign_in(&h, "root", "root%20pw").await;
    let empty = ok_html(&page_as(&h, "/cache", &root).await);
    assert!(empty.contains("Nothing cached yet."), "{empty}");
    assert!(empty.contains("none configured"), "{empty}");
    assert!(ok_html(&page_as(&h, "/", &root).await).contains("href=\"/cache\""));
    let rec = goshelf::store::CachedRecord {
        info: "{\"Version\":\"v1.2.3\"}".into(),
        time: 0,
        mod_h1: "h1:x".into(),
        h1: None,
        blake3: None,
        size: None,
        fetched_at: 1_704_207_845,
        origin: "https://proxy.example".into(),
        private: false,
        last_used: None,
    };
    h.state
        .store
        .cache_put_meta("golang.org/x/<text>", "v1.2.3", &rec, b"module x\n")
        .unwrap();
    let page = ok_html(&page_as(&h, "/cache", &root).await);
    assert!(
        page.contains("<code>golang.org/x/&#60;text&#62;</code>"),
        "escaped: {page}"
    );
    assert!(page.contains("2024-01-02T15:04:05Z"), "{page}");
    assert!(page.contains("https://proxy.example"), "{page}");
}

/// Issue 28: a namespace's writers set its retention rules on its page (the same operation
/// as `goshelf owner set-retention`); others see the rules but no form, and a form of theirs
/// changes nothing.
#[tokio::test]
async fn namespace_writers_set_retention_rules_on_its_page() {
    use goshelf::auth::{Scope, Visibility};
    let h = Harness::new();
    accounts_and_root(&h);
    let store = &h.state.store;
    store.create_org("acme", Visibility::Public, 0).unwrap();
    store.set_member("acme", "alice", Scope::Write, 0).unwrap();
    let rules = || store.get_namespace("acme").unwrap().unwrap().retention;
    let bob = sign_in(&h, "bob", "other%20pw").await;
    let page = ok_html(&page_as(&h, "/ui/acme", &bob).await);
    assert!(page.contains("Rules: no rules."), "{page}");
    assert!(
        !page.contains("retention-form"),
        "a reader gets no form: {page}"
    );
    let csrf = csrf_of(&page);
    let r = post_form(
        &h,
        "/retention",
        &format!("csrf={csrf}&owner=acme&keep_pseudo=1"),
        Some(&bob),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", text(&r));
    assert_eq!(rules(), None);
    let alice = sign_in(&h, "alice", "correct%20horse").await;
    let page = ok_html(&page_as(&h, "/ui/acme", &alice).await);
    assert!(page.contains("retention-form"), "{page}");
    let csrf = csrf_of(&page);
    let r = post_form(
        &h,
        "/retention",
        "csrf=wrong&owner=acme&keep_pseudo=1",
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_form(
        &h,
        "/retention",
        &format!("csrf={csrf}&owner=acme&keep_pseudo=x"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(&r).contains("keep_pseudo"), "{}", text(&r));
    assert_eq!(rules(), None);
    let r = post_form(
        &h,
        "/retention",
        &format!("csrf={csrf}&owner=acme&keep_pseudo=2&keep_pseudo_days=&prerelease_days=30"),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(&r));
    assert_eq!(r.headers()["location"], "/ui/acme");
    assert_eq!(
        rules(),
        Some(goshelf::gomod::retention::Retention {
            keep_pseudo: Some(2),
            keep_pseudo_days: None,
            prerelease_days: Some(30),
        })
    );
    let page = ok_html(&page_as(&h, "/ui/acme", &alice).await);
    assert!(
        page.contains(
            "Rules: keep the newest 2 pseudo-versions of each module; remove prereleases \
             uploaded more than 30 days ago."
        ),
        "{page}"
    );
    assert!(
        page.contains("name=\"keep_pseudo\" type=\"number\" min=\"0\" max=\"1000000\" value=\"2\""),
        "{page}"
    );
    // Every field empty: no rules.
    let r = post_form(
        &h,
        "/retention",
        &format!("csrf={csrf}&owner=acme&keep_pseudo=&keep_pseudo_days=&prerelease_days="),
        Some(&alice),
        ORIGIN,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(rules(), None);
}

/// Issue 22: a private namespace's package docs, source view, symbols and "imported by" are
/// invisible (404, no hint) to anonymous viewers and non-members, and there for a member.
#[tokio::test]
async fn private_package_docs_are_a_404_until_a_member_signs_in() {
    let h = Harness::new();
    accounts(&h);
    h.upload(
        "acme",
        &ModZip::with_files(
            "example.com/open",
            "v1.0.0",
            &[
                ("go.mod", &gomod("example.com/open", "")),
                ("open.go", b"// Package open is public.\npackage open\n\n// Shared is used by a secret package.\nfunc Shared() {}\n"),
            ],
        ),
    )
    .await;
    h.upload(
        "secret",
        &ModZip::with_files(
            "nas.lan/hidden",
            "v1.0.0",
            &[
                ("go.mod", &gomod("nas.lan/hidden", "")),
                ("lib.go", b"// Package hidden is secret.\npackage hidden\n\nimport \"example.com/open\"\n\n// HiddenFunc is secret.\nfunc HiddenFunc() { open.Shared() }\n"),
            ],
        ),
    )
    .await;
    let secret_paths = [
        "/ui/secret/nas.lan/hidden/@v/v1.0.0/pkg",
        "/ui/secret/nas.lan/hidden/@latest/pkg",
        "/ui/secret/nas.lan/hidden/@v/v1.0.0/src/lib.go",
    ];
    for path in secret_paths {
        let r = h.page(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        // The answer for a namespace that does not exist is the same, word for word.
        let none = h.page(&path.replace("/secret/", "/nobody/")).await;
        assert_eq!(text(&r), text(&none), "{path}");
        assert!(!text(&r).contains("HiddenFunc"));
    }
    let search = ok_html(&h.page("/?q=HiddenFunc").await);
    assert!(!search.contains("nas.lan/hidden"), "{search}");
    let open = ok_html(&h.page("/ui/acme/example.com/open/@v/v1.0.0/pkg").await);
    assert!(open.contains("id=\"Shared\""), "{open}");
    assert!(
        !open.contains("nas.lan/hidden"),
        "imported by leaks: {open}"
    );

    let alice = sign_in(&h, "alice", "correct%20horse").await;
    for path in secret_paths {
        let page = ok_html(&page_as(&h, path, &alice).await);
        assert!(page.contains("HiddenFunc"), "{path}: {page}");
    }
    let search = ok_html(&page_as(&h, "/?q=HiddenFunc", &alice).await);
    assert!(
        search.contains("/ui/secret/nas.lan/hidden/@v/v1.0.0/pkg#HiddenFunc\""),
        "{search}"
    );
    let open = ok_html(&page_as(&h, "/ui/acme/example.com/open/@v/v1.0.0/pkg", &alice).await);
    assert!(
        open.contains("href=\"/ui/secret/nas.lan/hidden/@v/v1.0.0/pkg\""),
        "a member sees who imports it: {open}"
    );
    let bob = sign_in(&h, "bob", "other%20pw").await;
    for path in secret_paths {
        assert_eq!(
            page_as(&h, path, &bob).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// Issue 22: the docs are kept in the database (for modules with 32 KiB of Go or more; smaller
/// ones are built on each view, no commit per version); removed, they are rebuilt from the zip
/// on the next view; a package page is escaped whatever the comments hold; unknown packages
/// are 404.
#[tokio::test]
async fn package_docs_are_stored_rebuilt_and_escaped() {
    let h = Harness::new();
    let mut big = String::from("package sub\n\n");
    for i in 0..1_000 {
        big.push_str(&format!(
            "// F{i} is function {i}.\nfunc F{i}() int {{ return {i} }}\n\n"
        ));
    }
    assert!(big.len() > 32 << 10);
    h.upload(
        "acme",
        &ModZip::with_files(
            "example.com/evil",
            "v1.0.0",
            &[
                ("go.mod", &gomod("example.com/evil", "")),
                ("evil.go", b"// Package evil <script>alert(1)</script> [x]: javascript:alert(2)\npackage evil\n\n// F <img src=x onerror=alert(3)> see [x].\nfunc F() {}\n"),
                ("sub/sub.go", b"// Package sub is below.\npackage sub\n"),
                ("sub/big.go", big.as_bytes()),
                ("testdata/t.go", b"package t\n"),
            ],
        ),
    )
    .await;
    let page = ok_html(&h.page("/ui/acme/example.com/evil/@v/v1.0.0/pkg").await);
    for bad in ["<script>alert", "<img", "javascript:alert(2)\""] {
        assert!(!page.contains(bad), "{bad} in {page}");
    }
    assert!(page.contains("&lt;script&gt;"));
    let module = ok_html(&h.page("/ui/acme/example.com/evil").await);
    assert!(module.contains("href=\"/ui/acme/example.com/evil/@v/v1.0.0/pkg/sub\""));
    assert!(module.contains("Package sub is below."));
    assert!(!module.contains("/pkg/testdata"), "testdata is no package");
    for path in [
        "/ui/acme/example.com/evil/@v/v1.0.0/pkg/testdata",
        "/ui/acme/example.com/evil/@v/v1.0.0/pkg/nope",
        "/ui/acme/example.com/evil/@v/v9.0.0/pkg",
        "/ui/acme/example.com/evil/@v/v1.0.0/src/nope.go",
        "/ui/acme/example.com/evil/@latest/src/evil.go",
    ] {
        assert_eq!(h.page(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let source = ok_html(
        &h.page("/ui/acme/example.com/evil/@v/v1.0.0/src/evil.go")
            .await,
    );
    assert!(source.contains("id=\"L4\""), "{source}");
    assert!(!source.contains("<img"), "{source}");

    let store = &h.state.store;
    let id = store
        .zip_id("acme", "example.com/evil", "v1.0.0")
        .unwrap()
        .unwrap();
    use goshelf::store::Derived;
    assert!(
        store.get_derived(Derived::Docs, &id).unwrap().is_some(),
        "built by the views"
    );
    store.forget_derived(Derived::Docs, &id).unwrap();
    h.state.ui.docs.clear();
    let again = ok_html(&h.page("/ui/acme/example.com/evil/@v/v1.0.0/pkg/sub").await);
    assert!(again.contains("Package sub is below."));
    assert!(again.contains("id=\"F999\""));
    assert!(
        store.get_derived(Derived::Docs, &id).unwrap().is_some(),
        "stored again"
    );

    // A small module's docs are built on each view and never stored.
    h.upload("acme", &simple("example.com/small", "v1.0.0"))
        .await;
    let page = ok_html(&h.page("/ui/acme/example.com/small/@v/v1.0.0/pkg").await);
    assert!(page.contains("package lib"), "{page}");
    let small = store
        .zip_id("acme", "example.com/small", "v1.0.0")
        .unwrap()
        .unwrap();
    assert!(store.get_derived(Derived::Docs, &small).unwrap().is_none());
}
