//! The real binary as a process, driven with the real `curl`: persistence across restarts and
//! crashes, dedup on disk, concurrent uploads, size limits, signals, auth and HEAD.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::support::http::{self, Auth, PendingRequest, Response};
use crate::support::server::parse_upload;
use crate::support::{eqnice, incompressible, poll_until, ModZip, TestServer};

const OWNER: &str = "admin";

fn small_module(path: &str, version: &str) -> ModZip {
    ModZip::with_files(
        path,
        version,
        &[
            ("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes()),
            ("a.go", b"package a\n"),
        ],
    )
}

/// A module whose zip is about `len` bytes of incompressible data.
fn big_module(path: &str, version: &str, seed: &str, len: usize) -> ModZip {
    small_module(path, version).file("data.bin", &incompressible(seed, len))
}

/// GET `$base/$module/@v/$file` of `owner`.
fn proxy_get(server: &TestServer, owner: &str, module: &str, file: &str) -> Response {
    http::get(&format!("{}/{module}/@v/{file}", server.base(owner)))
}

fn list(server: &TestServer, module: &str) -> Response {
    proxy_get(server, OWNER, module, "list")
}

fn list_versions(resp: &Response) -> Vec<String> {
    resp.text().split_whitespace().map(str::to_owned).collect()
}

fn db_len(server: &TestServer) -> u64 {
    std::fs::metadata(server.db_path()).unwrap().len()
}

/// Asserts `module@version` serves exactly `zip` (zip bytes, .mod, listed).
fn assert_serves(server: &TestServer, zip: &ModZip) {
    let got = proxy_get(server, OWNER, zip.path(), &format!("{}.zip", zip.version()));
    eqnice!(200, got.status, "zip after restart: {got:?}");
    assert!(
        got.body == zip.bytes(),
        "served zip differs from the upload"
    );
    let listed = list(server, zip.path());
    eqnice!(200, listed.status, "{listed:?}");
    assert!(
        list_versions(&listed).iter().any(|v| v == zip.version()),
        "{} missing from list: {listed:?}",
        zip.version()
    );
}

#[test]
fn restart_after_sigterm_serves_identical_bytes() {
    let mut server = TestServer::start();
    let zip = big_module("example.com/persist", "v1.0.0", "persist", 64 * 1024);
    server.upload(OWNER, &zip);
    let info_before = proxy_get(&server, OWNER, zip.path(), "v1.0.0.info");
    let mod_before = proxy_get(&server, OWNER, zip.path(), "v1.0.0.mod");
    eqnice!(200, info_before.status, "{info_before:?}");

    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit: {status}");
    server.restart();

    assert_serves(&server, &zip);
    eqnice!(
        info_before.text(),
        proxy_get(&server, OWNER, zip.path(), "v1.0.0.info").text()
    );
    let mod_after = proxy_get(&server, OWNER, zip.path(), "v1.0.0.mod");
    assert!(
        mod_before.body == mod_after.body,
        "{mod_before:?} vs {mod_after:?}"
    );
}

#[test]
fn sigterm_after_serving_exits_zero() {
    let mut server = TestServer::start();
    eqnice!(200, http::get(&format!("{}/healthz", server.url())).status);
    let status = server.terminate();
    eqnice!(Some(0), status.code(), "exit status on SIGTERM: {status}");
}

#[test]
fn sigint_exits_zero() {
    let mut server = TestServer::start();
    eqnice!(200, http::get(&format!("{}/healthz", server.url())).status);
    server.signal("INT");
    let status = server.wait();
    eqnice!(Some(0), status.code(), "exit status on SIGINT: {status}");
}

/// The listening line is the readiness signal (supervisors and these tests wait for it), so
/// a SIGTERM or SIGINT sent the moment it appears must already shut down gracefully rather
/// than kill the process with the default signal disposition. Several rounds, because a
/// handler installed only after the line is printed loses the race only some of the time.
#[test]
fn signal_right_after_listening_line_exits_zero() {
    for round in 0..10 {
        let signal = if round % 2 == 0 { "TERM" } else { "INT" };
        let mut server = TestServer::start();
        server.signal(signal);
        let status = server.wait();
        eqnice!(
            Some(0),
            status.code(),
            "round {round}: exit status on SIG{signal} sent right after the listening line: \
             {status}"
        );
    }
}

/// Graceful shutdown: the listener closes at once, but a request already being received is
/// completed and committed before the process exits.
#[test]
fn sigterm_during_upload_completes_it_then_exits_zero() {
    let mut server = TestServer::start();
    let zip = big_module("example.com/inflight", "v1.0.0", "inflight", 64 * 1024);
    let pending = PendingRequest::open(
        server.addr(),
        "PUT",
        &format!("/api/packages/{OWNER}/go/upload"),
        &[
            ("Authorization", &format!("Bearer {}", server.token())),
            ("Expect", "100-continue"),
        ],
        &zip.bytes(),
    );
    server.signal("TERM");
    let addr = server.addr().to_owned();
    let closed = poll_until(Duration::from_secs(20), || {
        TcpStream::connect(&addr).is_err()
    });
    assert!(
        closed,
        "the server still accepts connections 20 s after SIGTERM"
    );

    let (status, raw) = pending.finish();
    eqnice!(201, status, "in-flight upload during shutdown: {raw}");
    let exit = server.wait();
    eqnice!(Some(0), exit.code(), "exit status: {exit}");
    server.restart();
    assert_serves(&server, &zip);
}

#[test]
fn first_start_without_admin_token_prints_one_it_accepts() {
    // An empty GOSHELF_ADMIN_TOKEN counts as unset: the server generates the token.
    let mut server = TestServer::start_with(&[], &[("GOSHELF_ADMIN_TOKEN", "")]);
    let tokens = |log: &str| -> Vec<String> {
        log.split_whitespace()
            .filter(|w| w.starts_with("gs_"))
            .map(str::to_owned)
            .collect()
    };
    let printed = tokens(&server.stderr_log());
    assert!(
        !printed.is_empty(),
        "no generated token on stderr:\n{}",
        server.stderr_log()
    );
    let zip = small_module("example.com/gen", "v1.0.0");
    let file = server.write_scratch("gen.zip", &zip.bytes());
    let url = server.upload_url(OWNER);
    let known = http::put_file(&url, &Auth::Bearer(server.token()), &file, &[]);
    eqnice!(
        401,
        known.status,
        "the test token must not work here: {known:?}"
    );
    parse_upload(&http::put_file(
        &url,
        &Auth::Bearer(&printed[0]),
        &file,
        &[],
    ));

    server.restart();
    eqnice!(
        printed,
        tokens(&server.stderr_log()),
        "the token is shown only once"
    );
}

#[test]
fn owners_are_separate_namespaces() {
    let server = TestServer::start();
    let zip = small_module("example.com/mine", "v1.0.0");
    server.upload(OWNER, &zip);
    eqnice!(
        200,
        proxy_get(&server, OWNER, zip.path(), "v1.0.0.info").status
    );
    for file in ["list", "v1.0.0.info", "v1.0.0.zip"] {
        let resp = proxy_get(&server, "someone-else", zip.path(), file);
        eqnice!(404, resp.status, "{file} under another owner: {resp:?}");
    }
}

/// A crash in the middle of an upload leaves no version, and the next start removes the
/// partial spool file the upload was streamed to (`<db>.upload-*`, src/http/upload.rs).
#[test]
fn kill9_mid_upload_stores_nothing_and_restart_removes_spool() {
    let mut server = TestServer::start();
    let zip = big_module("example.com/halfway", "v1.0.0", "halfway", 256 * 1024);
    let pending = PendingRequest::open(
        server.addr(),
        "PUT",
        &format!("/api/packages/{OWNER}/go/upload"),
        &[
            ("Authorization", &format!("Bearer {}", server.token())),
            ("Expect", "100-continue"),
        ],
        &zip.bytes(),
    );
    let spools = |server: &TestServer| -> Vec<String> {
        std::fs::read_dir(server.db_path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("goshelf.redb.upload-"))
            .collect()
    };
    let spooled = poll_until(Duration::from_secs(20), || !spools(&server).is_empty());
    assert!(spooled, "no spool file while an upload is being received");
    server.kill9();
    drop(pending);

    server.restart();
    eqnice!(
        Vec::<String>::new(),
        spools(&server),
        "spool files after restart"
    );
    eqnice!(404, list(&server, zip.path()).status);
    server.upload(OWNER, &zip);
}

#[test]
fn reupload_after_delete_needs_identical_content() {
    let server = TestServer::start();
    let zip = small_module("example.com/again", "v1.0.0");
    server.upload(OWNER, &zip);
    eqnice!(204, server.delete(OWNER, zip.path(), "v1.0.0").status);

    // go.sum files still pin the deleted content (spec.md §1.2, immutability).
    let changed = zip.clone().file("b.go", b"package a\n");
    let resp = server.upload_bytes(OWNER, &changed.bytes());
    eqnice!(
        409,
        resp.status,
        "different content under a deleted version: {resp:?}"
    );
    server.upload(OWNER, &zip);
    assert_serves(&server, &zip);
}

#[test]
fn kill9_right_after_201_keeps_version() {
    let mut server = TestServer::start();
    let zip = big_module("example.com/crash", "v1.0.0", "crash", 64 * 1024);
    server.upload(OWNER, &zip);
    server.kill9();
    server.restart();
    assert_serves(&server, &zip);
}

#[test]
fn kill9_right_after_delete_keeps_it_deleted() {
    let mut server = TestServer::start();
    let keep = small_module("example.com/crashdel", "v1.0.0");
    let gone = small_module("example.com/crashdel", "v1.1.0");
    server.upload(OWNER, &keep);
    server.upload(OWNER, &gone);
    eqnice!(
        204,
        server.delete(OWNER, gone.path(), gone.version()).status
    );
    server.kill9();
    server.restart();
    eqnice!(
        vec!["v1.0.0".to_owned()],
        list_versions(&list(&server, keep.path()))
    );
    let info = proxy_get(&server, OWNER, gone.path(), "v1.1.0.info");
    assert!(info.status == 404 || info.status == 410, "{info:?}");
    assert_serves(&server, &keep);
}

#[test]
fn same_zip_under_two_owners_is_stored_once() {
    const ZIP_LEN: usize = 1024 * 1024;
    let server = TestServer::start();
    let zip = big_module("example.com/dedup", "v1.0.0", "dedup", ZIP_LEN);
    let first = server.upload(OWNER, &zip);
    let before = db_len(&server);

    server.share("team", "example.com");
    let second = server.upload("team", &zip);
    eqnice!(first.h1, second.h1);
    let after = db_len(&server);
    let growth = after.saturating_sub(before);
    assert!(
        growth < ZIP_LEN as u64 / 4,
        "a second owner's copy of a {ZIP_LEN}-byte zip grew the db by {growth} bytes \
         ({before} -> {after})"
    );
    let served = proxy_get(&server, "team", zip.path(), "v1.0.0.zip");
    assert!(
        served.body == zip.bytes(),
        "team's copy differs: {served:?}"
    );

    // Control: the measurement can see a zip's worth of new content, so the check above
    // could fail. Several distinct zips cannot all fit in space redb had already reserved.
    for i in 0..4 {
        let other = big_module(
            "example.com/dedup",
            &format!("v1.0.{}", i + 1),
            &format!("c{i}"),
            ZIP_LEN,
        );
        server.upload(OWNER, &other);
    }
    let control = db_len(&server).saturating_sub(after);
    assert!(
        control > ZIP_LEN as u64,
        "four distinct {ZIP_LEN}-byte zips grew the db by only {control} bytes; the dedup \
         measurement is meaningless"
    );
}

#[test]
fn concurrent_uploads_of_same_version_one_201_rest_409() {
    const N: usize = 20;
    let server = TestServer::start();
    let body = big_module("example.com/race", "v1.0.0", "race", 32 * 1024).bytes();
    let path = format!("/api/packages/{OWNER}/go/upload");
    let auth = format!("Bearer {}", server.token());
    // Every request is sent except its last byte; then all are completed at once.
    let pending: Vec<PendingRequest> = (0..N)
        .map(|_| {
            PendingRequest::open(
                server.addr(),
                "PUT",
                &path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/zip"),
                ],
                &body,
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = pending
        .into_iter()
        .map(|req| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                req.finish()
            })
        })
        .collect();
    let results: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    let mut expected = vec![201];
    expected.extend([409; N - 1]);
    eqnice!(
        expected,
        statuses,
        "statuses of {N} concurrent uploads: {results:#?}"
    );

    let served = proxy_get(&server, OWNER, "example.com/race", "v1.0.0.zip");
    assert!(served.body == body, "served zip differs after the race");
}

#[test]
fn concurrent_uploads_of_distinct_versions_all_land() {
    const N: usize = 20;
    let server = TestServer::start();
    let path = format!("/api/packages/{OWNER}/go/upload");
    let auth = format!("Bearer {}", server.token());
    let zips: Vec<ModZip> = (0..N)
        .map(|i| {
            big_module(
                "example.com/many",
                &format!("v1.{i}.0"),
                &format!("m{i}"),
                8192,
            )
        })
        .collect();
    let pending: Vec<PendingRequest> = zips
        .iter()
        .map(|zip| {
            PendingRequest::open(
                server.addr(),
                "PUT",
                &path,
                &[("Authorization", &auth)],
                &zip.bytes(),
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = pending
        .into_iter()
        .map(|req| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                req.finish()
            })
        })
        .collect();
    for handle in handles {
        let (status, raw) = handle.join().unwrap();
        eqnice!(201, status, "{raw}");
    }
    let mut listed = list_versions(&list(&server, "example.com/many"));
    listed.sort();
    let mut expected: Vec<String> = zips.iter().map(|z| z.version().to_owned()).collect();
    expected.sort();
    eqnice!(expected, listed);
    for zip in &zips {
        assert_serves(&server, zip);
    }
}

#[test]
fn chunked_upload_over_max_upload_is_413_and_stores_nothing() {
    let server = TestServer::start_with(&["--max-upload", "65536"], &[]);
    let zip = big_module("example.com/toobig", "v1.0.0", "toobig", 256 * 1024);
    let file = server.write_scratch("big.zip", &zip.bytes());
    let resp = http::put_file(
        &server.upload_url(OWNER),
        &Auth::Bearer(server.token()),
        &file,
        &["-H", "Transfer-Encoding: chunked"],
    );
    eqnice!(413, resp.status, "{resp:?}");

    eqnice!(404, list(&server, zip.path()).status);
    eqnice!(
        404,
        proxy_get(&server, OWNER, zip.path(), "v1.0.0.info").status
    );
    // The server still takes uploads under the limit.
    server.upload(OWNER, &small_module("example.com/toobig", "v1.0.1"));
    eqnice!(
        vec!["v1.0.1".to_owned()],
        list_versions(&list(&server, zip.path()))
    );
}

#[test]
fn upload_with_content_length_over_max_upload_is_413() {
    let server = TestServer::start_with(&["--max-upload", "65536"], &[]);
    let zip = big_module("example.com/toobig", "v1.0.0", "toobig-cl", 256 * 1024);
    let resp = server.upload_bytes(OWNER, &zip.bytes());
    eqnice!(413, resp.status, "{resp:?}");
    eqnice!(404, list(&server, zip.path()).status);
}

#[test]
fn multipart_upload_is_accepted() {
    let server = TestServer::start();
    let zip = small_module("example.com/multipart", "v1.0.0");
    let file = zip.write_to(server.dir(), "multipart.zip");
    let resp = http::curl(
        &Auth::Bearer(server.token()),
        &[
            "-X",
            "PUT",
            "-F",
            &format!("file=@{}", file.display()),
            &server.upload_url(OWNER),
        ],
    );
    let up = parse_upload(&resp);
    eqnice!(
        ("example.com/multipart", "v1.0.0"),
        (up.module.as_str(), up.version.as_str())
    );
    eqnice!(zip.bytes().len() as u64, up.size);
    assert_serves(&server, &zip);
}

#[test]
fn upload_without_credentials_is_401_with_www_authenticate() {
    let server = TestServer::start();
    let zip = small_module("example.com/auth", "v1.0.0");
    let file = server.write_scratch("a.zip", &zip.bytes());
    for auth in [
        Auth::None,
        Auth::Bearer("wrong-token"),
        Auth::Basic("admin", "wrong"),
    ] {
        let resp = http::put_file(&server.upload_url(OWNER), &auth, &file, &[]);
        eqnice!(401, resp.status, "{resp:?}");
        let challenge = resp.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.to_ascii_lowercase().starts_with("basic"),
            "401 without a Basic challenge: {resp:?}"
        );
    }
    eqnice!(404, list(&server, zip.path()).status);
}

#[test]
fn upload_accepts_bearer_token_and_basic_credentials() {
    let server = TestServer::start();
    let token = server.token();
    let forms = [
        ("v1.0.0", Auth::Bearer(token)),
        ("v1.0.1", Auth::Token(token)),
        ("v1.0.2", Auth::Basic("admin", token)),
    ];
    for (version, auth) in &forms {
        let zip = small_module("example.com/authforms", version);
        let file = server.write_scratch("a.zip", &zip.bytes());
        let resp = http::put_file(&server.upload_url(OWNER), auth, &file, &[]);
        parse_upload(&resp);
    }
    let mut versions = list_versions(&list(&server, "example.com/authforms"));
    versions.sort();
    eqnice!(vec!["v1.0.0", "v1.0.1", "v1.0.2"], versions);
}

#[test]
fn head_on_info_and_zip_matches_get() {
    let server = TestServer::start();
    let zip = small_module("example.com/head", "v1.0.0");
    server.upload(OWNER, &zip);
    for file in ["v1.0.0.info", "v1.0.0.zip"] {
        let url = format!("{}/example.com/head/@v/{file}", server.base(OWNER));
        let get = http::get(&url);
        let head = http::head(&url);
        eqnice!(200, get.status, "GET {file}: {get:?}");
        eqnice!(200, head.status, "HEAD {file}: {head:?}");
        let raw = http::raw_exchange(
            server.addr(),
            &format!(
                "HEAD {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                url.trim_start_matches(server.url()),
                server.addr()
            ),
        );
        let raw = String::from_utf8_lossy(&raw);
        let (_, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        assert!(body.is_empty(), "HEAD {file} sent a body: {raw:?}");
        eqnice!(
            Some(get.body.len().to_string()),
            head.header("content-length").map(str::to_owned),
            "HEAD {file} Content-Length: {head:?}"
        );
        eqnice!(
            get.media_type(),
            head.media_type(),
            "HEAD {file} Content-Type"
        );
    }
}

/// `.zip` is stored in chunks (src/store/blobs.rs); byte ranges, as go 1.27 sends to resume a
/// download (spec.md §1.7), must come back exact, also across chunk boundaries.
#[test]
fn zip_ranges_across_chunks_return_exact_bytes() {
    let server = TestServer::start();
    let zip = big_module("example.com/ranges", "v1.0.0", "ranges", 1024 * 1024);
    server.upload(OWNER, &zip);
    let bytes = zip.bytes();
    let len = bytes.len();
    let url = format!("{}/example.com/ranges/@v/v1.0.0.zip", server.base(OWNER));
    let boundary = 255 * 1024;
    let cases = [
        (0, 0),
        (boundary - 10, boundary + 10),
        (boundary, 3 * boundary + 1),
        (len - 100, len - 1),
    ];
    for (first, last) in cases {
        let resp = http::curl(&Auth::None, &["-r", &format!("{first}-{last}"), &url]);
        eqnice!(206, resp.status, "range {first}-{last}: {resp:?}");
        eqnice!(
            Some(format!("bytes {first}-{last}/{len}")),
            resp.header("content-range").map(str::to_owned),
            "range {first}-{last}"
        );
        assert!(
            resp.body == bytes[first..=last],
            "range {first}-{last}: wrong bytes ({} received)",
            resp.body.len()
        );
    }
    // An open-ended range resumes to the end.
    let from = len - 5000;
    let resp = http::curl(&Auth::None, &["-r", &format!("{from}-"), &url]);
    eqnice!(206, resp.status, "{resp:?}");
    assert!(resp.body == bytes[from..], "open-ended range: wrong bytes");

    // If-Range: the validator of the full response keeps the range; any other gets it all.
    let etag = resp.header("etag").map(str::to_owned);
    let etag = etag.unwrap_or_else(|| panic!("no ETag on .zip: {resp:?}"));
    let if_range = |validator: &str| {
        http::curl(
            &Auth::None,
            &["-r", "10-19", "-H", &format!("If-Range: {validator}"), &url],
        )
    };
    let same = if_range(&etag);
    eqnice!(206, same.status, "If-Range with the current ETag: {same:?}");
    assert!(same.body == bytes[10..20]);
    let other = if_range("\"not-the-etag\"");
    eqnice!(200, other.status, "If-Range with another ETag: {other:?}");
    assert!(
        other.body == bytes,
        "If-Range mismatch must send the whole zip"
    );
}

/// Small zips are packed end to end in records of 4,076 bytes (src/store/packs.rs), so some
/// lie across two records: whole and in ranges they must come back exact, byte for byte.
#[test]
fn small_zips_packed_across_records_come_back_exact() {
    let server = TestServer::start();
    let zips: Vec<ModZip> = (0..8)
        .map(|i| {
            let path = format!("example.com/packed{i}");
            big_module(&path, "v1.0.0", &format!("packed{i}"), 900 + 150 * i)
        })
        .collect();
    let mut stream = 0;
    for zip in &zips {
        server.upload(OWNER, zip);
        let len = zip.bytes().len();
        assert!(len < 3968, "a zip under one page is packed whole: {len}");
        stream += len;
    }
    // Uploaded one after another into a new file, they lie end to end: across two record
    // boundaries at least.
    assert!(stream > 2 * 4076, "{stream} bytes");
    for (i, zip) in zips.iter().enumerate() {
        let bytes = zip.bytes();
        let url = format!("{}/example.com/packed{i}/@v/v1.0.0.zip", server.base(OWNER));
        let whole = http::get(&url);
        eqnice!(200, whole.status, "{whole:?}");
        assert!(whole.body == bytes, "packed{i}: wrong bytes");
        let len = bytes.len();
        for (first, last) in [(0, 0), (1, len / 2), (len / 3, len - 1), (len - 1, len - 1)] {
            let resp = http::curl(&Auth::None, &["-r", &format!("{first}-{last}"), &url]);
            eqnice!(206, resp.status, "packed{i} range {first}-{last}: {resp:?}");
            assert!(
                resp.body == bytes[first..=last],
                "packed{i} range {first}-{last}: wrong bytes"
            );
        }
    }
}

#[test]
fn duplicate_upload_is_409_and_keeps_first_bytes() {
    let server = TestServer::start();
    let first = small_module("example.com/dup", "v1.0.0");
    server.upload(OWNER, &first);
    let second = first.clone().file("b.go", b"package a\n");
    let resp = server.upload_bytes(OWNER, &second.bytes());
    eqnice!(409, resp.status, "{resp:?}");
    assert_serves(&server, &first);
}

#[test]
fn invalid_zip_upload_is_400_text_plain() {
    let server = TestServer::start();
    let resp = server.upload_bytes(OWNER, b"this is not a zip file");
    eqnice!(400, resp.status, "{resp:?}");
    eqnice!(Some("text/plain".to_owned()), resp.media_type(), "{resp:?}");
    eqnice!(
        1,
        resp.text().trim_end().lines().count(),
        "one line: {resp:?}"
    );
}

#[test]
fn delete_removes_version_from_list_info_and_zip() {
    let server = TestServer::start();
    let keep = small_module("example.com/del", "v1.0.0");
    let gone = small_module("example.com/del", "v1.1.0");
    server.upload(OWNER, &keep);
    server.upload(OWNER, &gone);

    let resp = server.delete(OWNER, "example.com/del", "v1.1.0");
    eqnice!(204, resp.status, "{resp:?}");
    eqnice!(
        vec!["v1.0.0".to_owned()],
        list_versions(&list(&server, "example.com/del"))
    );
    for file in ["v1.1.0.info", "v1.1.0.mod", "v1.1.0.zip"] {
        let resp = proxy_get(&server, OWNER, "example.com/del", file);
        assert!(
            resp.status == 404 || resp.status == 410,
            "{file} after delete: {resp:?}"
        );
    }
    assert_serves(&server, &keep);
}

#[test]
fn delete_without_credentials_is_401() {
    let server = TestServer::start();
    let zip = small_module("example.com/del", "v1.0.0");
    server.upload(OWNER, &zip);
    let url = format!(
        "{}/api/v1/packages/{OWNER}/go/example.com%2Fdel/v1.0.0",
        server.url()
    );
    let resp = http::curl(&Auth::None, &["-X", "DELETE", &url]);
    eqnice!(401, resp.status, "{resp:?}");
    assert_serves(&server, &zip);
}

#[test]
fn healthz_is_200() {
    let server = TestServer::start();
    let resp = http::get(&format!("{}/healthz", server.url()));
    eqnice!(200, resp.status, "{resp:?}");
}

#[test]
fn sumdb_supported_is_404_without_credentials() {
    let server = TestServer::start();
    let resp = http::get(&format!(
        "{}/sumdb/sum.golang.org/supported",
        server.base(OWNER)
    ));
    eqnice!(404, resp.status, "spec.md §1.2: {resp:?}");
}
