//! The GOPROXY fast path and its answer cache (`src/http/fast.rs`, issue 6), and the buffered
//! request log (`src/logging.rs`), against the real binary with curl.
//!
//! Every answer below is asked for twice before the write that changes it, so the second
//! comes from the cache; the answer right after the write must already be the new one.

use std::time::Duration;

use crate::support::http::{self, Auth};
use crate::support::server::{TestServer, ADMIN_TOKEN};
use crate::support::{poll_until, ModZip};

fn mz(path: &str, version: &str) -> ModZip {
    ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.21\n").as_bytes())
        .file("m.go", b"package m\n")
}

/// `(status, body)` of a GET, asked twice; both answers must agree.
fn get_twice(url: &str) -> (u16, String) {
    let a = http::get(url);
    let b = http::get(url);
    assert_eq!((a.status, &a.body), (b.status, &b.body), "{url}");
    assert_eq!(a.header("content-type"), b.header("content-type"), "{url}");
    assert_eq!(b.header("x-content-type-options"), Some("nosniff"), "{url}");
    (b.status, b.text())
}

#[test]
fn cached_answers_follow_every_write_at_once() {
    let s = TestServer::start_with(&[], &[("RUST_LOG", "info")]);
    let base = format!("{}/example.com/cache/m", s.base("admin"));
    let list = format!("{base}/@v/list");
    let latest = format!("{base}/@latest");
    let info2 = format!("{base}/@v/v1.1.0.info");
    let prefix = format!("{}/example.com/cache/@v/list", s.base("admin"));

    // Nothing yet: 404s, cached.
    assert_eq!(get_twice(&list).0, 404);
    assert_eq!(get_twice(&latest).0, 404);

    s.upload("admin", &mz("example.com/cache/m", "v1.0.0"));
    assert_eq!(get_twice(&list), (200, "v1.0.0\n".into()));
    assert!(get_twice(&latest).1.contains("\"Version\":\"v1.0.0\""));
    assert_eq!(get_twice(&info2).0, 404);
    let (status, prefix_body) = get_twice(&prefix);
    assert_eq!(status, 404, "{prefix_body}");

    s.upload("admin", &mz("example.com/cache/m", "v1.1.0"));
    assert_eq!(get_twice(&list), (200, "v1.0.0\nv1.1.0\n".into()));
    assert!(get_twice(&latest).1.contains("\"Version\":\"v1.1.0\""));
    let (status, info) = get_twice(&info2);
    assert_eq!(status, 200, "{info}");
    assert!(
        info.starts_with("{\"Version\":\"v1.1.0\",\"Time\":\""),
        "{info}"
    );

    // HEAD of a cached answer: same length, no body.
    let head = http::head(&info2);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(info.len().to_string().as_str())
    );
    assert!(head.body.is_empty());

    // A delete shows at once: 410 for the version, gone from the list and from @latest.
    assert_eq!(
        s.delete("admin", "example.com/cache/m", "v1.1.0").status,
        204
    );
    let (status, gone) = get_twice(&info2);
    assert_eq!(status, 410, "{gone}");
    assert_eq!(get_twice(&list), (200, "v1.0.0\n".into()));
    assert!(get_twice(&latest).1.contains("\"Version\":\"v1.0.0\""));

    // The fast path still counts its answers for /metrics.
    let metrics = http::get(&format!("{}/metrics", s.url())).text();
    let count = |route: &str, status: u16| -> u64 {
        let key = format!("goshelf_http_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert!(count("list", 200) >= 6, "{metrics}");
    assert!(count("info", 410) >= 2, "{metrics}");
}

/// Zips of up to `fast::MAX_ZIP_ENTRY` are cached whole, and larger ones up to
/// `fast::MAX_HEAD_READ` by their head (their bytes read again by id); either way, on the raw
/// fast path and on hyper's: the same bytes and headers from the cache, every `GET` still a
/// download (shown by the UI), ranges and revalidations still the handler's, and a delete
/// shows at once.
#[test]
fn cached_zips_follow_writes_and_count_their_downloads() {
    // 60 kB: on the zip shelf; 200 kB: too large for it, kept as a head.
    for (size, fast_path) in [
        (60_000, "true"),
        (200_000, "true"),
        (60_000, "false"),
        (200_000, "false"),
    ] {
        let s = TestServer::start_with(&[], &[("GOSHELF_FAST_PATH", fast_path)]);
        cached_zip_case(&s, size);
        // The repeated GETs and the HEAD came from the shelf the size calls for.
        let metrics = http::get(&format!("{}/metrics", s.url())).text();
        let hits = |shelf: &str| -> u64 {
            let line = format!("goshelf_answer_cache_hits_total{{shelf=\"{shelf}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&line))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {shelf} hits in {metrics}"))
        };
        let (used, unused) = if size < 128 << 10 {
            ("zips", "heads")
        } else {
            ("heads", "zips")
        };
        assert!(
            hits(used) >= 3,
            "{size} bytes, fast path {fast_path}: {metrics}"
        );
        // The one exception: the 410 asked twice after the delete is a small answer kept on
        // the zip shelf.
        let exceptions = u64::from(unused == "zips");
        assert_eq!(
            hits(unused),
            exceptions,
            "{size} bytes, fast path {fast_path}: {metrics}"
        );
    }
}

fn cached_zip_case(s: &TestServer, size: usize) {
    // The version's page in the web UI says how many downloads it has had.
    let shown_downloads = |s: &TestServer, n: u32| {
        let page = http::get(&format!(
            "{}/ui/admin/example.com/cache/z/@v/v1.0.0",
            s.url()
        ))
        .text();
        assert!(page.contains(&format!("· {n} downloads")), "{page}");
    };
    // Several stored pieces: the cached answer is gathered from them.
    let zip = mz("example.com/cache/z", "v1.0.0")
        .file("data.bin", &crate::support::incompressible("cache-z", size));
    s.upload("admin", &zip);
    let bytes = zip.bytes();
    let url = format!("{}/example.com/cache/z/@v/v1.0.0.zip", s.base("admin"));
    let first = http::get(&url);
    assert_eq!(first.status, 200);
    assert!(first.body == bytes, "the zip's bytes");
    for _ in 0..2 {
        let again = http::get(&url);
        assert_eq!(again.status, 200);
        assert!(again.body == bytes, "the zip's bytes, from the cache");
        for h in [
            "content-type",
            "etag",
            "last-modified",
            "content-length",
            "cache-control",
        ] {
            assert_eq!(again.header(h), first.header(h), "{h}");
        }
    }
    // Not downloads: a HEAD, a range, a revalidation; each answered right.
    let head = http::head(&url);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    let part = http::curl(&Auth::None, &["-H", "Range: bytes=100-199", &url]);
    assert_eq!(part.status, 206, "{part:?}");
    assert!(part.body == bytes[100..200], "the range's bytes");
    let etag = first.header("etag").unwrap().to_owned();
    let same = http::curl(
        &Auth::None,
        &["-H", &format!("If-None-Match: {etag}"), &url],
    );
    assert_eq!(same.status, 304, "{same:?}");
    assert!(same.body.is_empty());
    shown_downloads(s, 3);
    // The owner as typed in a GOPROXY URL is normalized (`Admin` is `admin`): downloads
    // served from the cache under that spelling count for the same version.
    let spelled = url.replace("/api/packages/admin/", "/api/packages/Admin/");
    assert_ne!(spelled, url);
    for _ in 0..2 {
        let r = http::get(&spelled);
        assert_eq!(r.status, 200);
        assert!(r.body == bytes);
    }
    shown_downloads(s, 5);

    assert_eq!(
        s.delete("admin", "example.com/cache/z", "v1.0.0").status,
        204
    );
    assert_eq!(get_twice(&url).0, 410);
}

#[test]
fn answers_with_credentials_are_checked_every_time() {
    let s = TestServer::start();
    s.upload("admin", &mz("example.com/cache/auth", "v1.0.0"));
    let list = format!("{}/example.com/cache/auth/@v/list", s.base("admin"));
    assert_eq!(get_twice(&list).0, 200);
    // A wrong token is refused even though the anonymous answer is cached.
    for _ in 0..2 {
        let r = http::curl(&Auth::Bearer("not-a-token"), &[&list]);
        assert_eq!(r.status, 401, "{r:?}");
        assert!(r.header("www-authenticate").is_some(), "{r:?}");
    }
    let r = http::curl(&Auth::Bearer(ADMIN_TOKEN), &[&list]);
    assert_eq!((r.status, r.text()), (200, "v1.0.0\n".into()));
}

/// Request lines are buffered but reach the log within a second or so, in the layout of the
/// other lines; `RUST_LOG=warn` leaves them out.
#[test]
fn request_lines_reach_the_log_and_obey_rust_log() {
    let s = TestServer::start_with(&[], &[("RUST_LOG", "info")]);
    let url = format!("{}/example.com/logged/@v/list", s.base("admin"));
    assert_eq!(http::get(&url).status, 404);
    let want = " INFO goshelf::request: GET /api/packages/admin/go/example.com/logged/@v/list 404 ";
    assert!(
        poll_until(Duration::from_secs(5), || s.stderr_log().contains(want)),
        "{}",
        s.stderr_log()
    );
    let log = s.stderr_log();
    let line = log.lines().find(|l| l.contains(want)).unwrap();
    // 2026-11-27T00:42:30.370129Z  INFO goshelf::request: GET /... 404 37 0.2ms
    let (stamp, rest) = line.split_once("  INFO ").unwrap();
    assert_eq!(stamp.len(), 27, "{line}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{line}"
    );
    assert!(rest.ends_with("ms"), "{line}");
    let year: i32 = stamp[..4].parse().unwrap();
    assert!(year >= 2024, "{line}");

    let mut quiet = TestServer::start_with(&[], &[("RUST_LOG", "warn")]);
    let url = format!("{}/example.com/quiet/@v/list", quiet.base("admin"));
    for _ in 0..3 {
        assert_eq!(http::get(&url).status, 404);
    }
    // Stopping flushes whatever is buffered, so an absent line is really absent.
    assert!(quiet.terminate().success());
    assert!(
        !quiet.stderr_log().contains("goshelf::request"),
        "{}",
        quiet.stderr_log()
    );

    // And the same stop flushes request lines when they are on.
    let mut loud = TestServer::start_with(&[], &[("RUST_LOG", "info")]);
    let url = format!("{}/example.com/loud/@v/list", loud.base("admin"));
    assert_eq!(http::get(&url).status, 404);
    assert!(loud.terminate().success());
    assert!(
        loud.stderr_log()
            .contains("goshelf::request: GET /api/packages/admin/go/example.com/loud/@v/list 404"),
        "{}",
        loud.stderr_log()
    );
}
