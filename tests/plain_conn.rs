//! Plain-HTTP connections (`src/http/conn.rs`): cached GOPROXY answers are written to the
//! socket without hyper, and every other request hands its connection to hyper. Raw sockets,
//! so the bytes on the wire are what is compared: the cached answer must be hyper's answer,
//! byte for byte but the `date` line, and pipelined, split, authenticated, bodied and HTTP/1.0
//! requests on the same connection must all be answered as hyper answers them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::server::{TestServer, ADMIN_TOKEN};
use crate::support::ModZip;

fn mz(path: &str, version: &str) -> ModZip {
    ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.21\n").as_bytes())
        .file("m.go", b"package m\n")
}

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// One response read off `c`: its bytes as received, with the `date` line taken out (it
/// changes every second), and its body. `head`: the request was HEAD (no body follows).
fn read_response(c: &mut TcpStream, pending: &mut Vec<u8>, head: bool) -> (String, Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed mid-response: {pending:?}");
        pending.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8(pending[..end].to_vec()).unwrap();
    let len: usize = head_text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let body_len = if head { 0 } else { len };
    while pending.len() < end + body_len {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed mid-body");
        pending.extend_from_slice(&chunk[..n]);
    }
    let body = pending[end..end + body_len].to_vec();
    pending.drain(..end + body_len);
    let without_date: String = head_text
        .split_inclusive("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("date: "))
        .collect();
    (without_date, body)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: goshelf\r\n\r\n")
}

/// The same request on a new connection each time: the first answer (computed by the
/// handler, through hyper) and the second (from the cache, written by `conn`) are the same
/// bytes but the date.
#[test]
fn cached_answers_on_the_wire_are_hypers_answers() {
    let s = TestServer::start();
    s.upload("admin", &mz("example.com/wire/m", "v1.0.0"));
    // Zips: one stored value; several pieces (gathered into one cached answer); and one
    // over the cached size, read from the store each time.
    let medium = mz("example.com/wire/m", "v1.1.0").file(
        "data.bin",
        &crate::support::incompressible("wire-m", 60_000),
    );
    let large = mz("example.com/wire/m", "v1.2.0").file(
        "data.bin",
        &crate::support::incompressible("wire-l", 200_000),
    );
    s.upload("admin", &medium);
    s.upload("admin", &large);
    let base = "/api/packages/admin/go/example.com/wire";
    let paths = [
        format!("{base}/m/@v/list"),
        format!("{base}/m/@v/v1.0.0.info"),
        format!("{base}/m/@v/v1.0.0.mod"),
        format!("{base}/m/@latest"),
        format!("{base}/@v/list"),
        format!("{base}/m/@v/v9.9.9.info"),
        format!("{base}/m/@v/v1.0.0.zip"),
        format!("{base}/m/@v/v1.1.0.zip"),
        format!("{base}/m/@v/v1.2.0.zip"),
        format!("{base}/m/@v/v9.9.9.zip"),
    ];
    for path in &paths {
        for method in ["GET", "HEAD"] {
            let request = format!("{method} {path} HTTP/1.1\r\nHost: goshelf\r\n\r\n");
            // The third through hyper (a `Connection` header hands the connection over),
            // which answers from the same cache.
            let via_hyper = format!(
                "{method} {path} HTTP/1.1\r\nHost: goshelf\r\nConnection: keep-alive\r\n\r\n"
            );
            let answers: Vec<(String, Vec<u8>)> = [&request, &request, &via_hyper, &request]
                .iter()
                .map(|r| {
                    let mut c = connect(&s);
                    c.write_all(r.as_bytes()).unwrap();
                    read_response(&mut c, &mut Vec::new(), method == "HEAD")
                })
                .collect();
            assert!(
                answers[0].0.starts_with("HTTP/1.1 200 OK\r\n")
                    || answers[0].0.starts_with("HTTP/1.1 404 Not Found\r\n"),
                "{method} {path}: {:?}",
                answers[0].0
            );
            assert!(answers[0]
                .0
                .contains("\r\nx-content-type-options: nosniff\r\n"));
            assert_eq!(answers[0], answers[1], "{method} {path}");
            assert_eq!(answers[1], answers[2], "{method} {path}");
            assert_eq!(answers[2], answers[3], "{method} {path}");
        }
    }
    let zips = [(1, &medium), (2, &large)];
    for (minor, zip) in zips {
        let mut c = connect(&s);
        c.write_all(get(&format!("{base}/m/@v/v1.{minor}.0.zip")).as_bytes())
            .unwrap();
        let (_, body) = read_response(&mut c, &mut Vec::new(), false);
        assert!(body == zip.bytes(), "v1.{minor}.0's bytes");
    }
    // A deleted version's 410, cached the same way.
    assert_eq!(
        s.delete("admin", "example.com/wire/m", "v1.0.0").status,
        204
    );
    let gone = get(&format!("{base}/m/@v/v1.0.0.info"));
    let answers: Vec<(String, Vec<u8>)> = (0..2)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(gone.as_bytes()).unwrap();
            read_response(&mut c, &mut Vec::new(), false)
        })
        .collect();
    assert!(
        answers[0].0.starts_with("HTTP/1.1 410 Gone\r\n"),
        "{answers:?}"
    );
    assert_eq!(answers[0], answers[1]);
}

/// On one connection: pipelined requests are answered in order; a request split across
/// writes is answered; a request with credentials, one with a body, and the cached requests
/// after them (now on hyper's side of the connection) are all answered right.
#[test]
fn one_connection_carries_cached_and_other_requests_in_order() {
    let s = TestServer::start();
    s.upload("admin", &mz("example.com/wire/p", "v1.0.0"));
    s.upload("admin", &mz("example.com/wire/p", "v1.1.0"));
    let base = "/api/packages/admin/go/example.com/wire/p";
    let list = format!("{base}/@v/list");
    let info = format!("{base}/@v/v1.1.0.info");
    let prefix = "/api/packages/admin/go/example.com/wire/@v/list";
    // Into the cache.
    for path in [&list, &info, &prefix.to_owned()] {
        let mut c = connect(&s);
        c.write_all(get(path).as_bytes()).unwrap();
        read_response(&mut c, &mut Vec::new(), false);
    }

    let mut c = connect(&s);
    let mut pending = Vec::new();
    // Three pipelined in one write.
    c.write_all(format!("{}{}{}", get(&list), get(prefix), get(&info)).as_bytes())
        .unwrap();
    let (h, body) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert_eq!(body, b"v1.0.0\nv1.1.0\n");
    let (h, _) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 404 Not Found\r\n"), "{h}");
    let (h, body) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert!(body.starts_with(b"{\"Version\":\"v1.1.0\""), "{body:?}");

    // One request in three writes, with pauses.
    let request = get(&list);
    let (a, rest) = request.split_at(10);
    let (b, d) = rest.split_at(30);
    for part in [a, b, d] {
        c.write_all(part.as_bytes()).unwrap();
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (h, body) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert_eq!(body, b"v1.0.0\nv1.1.0\n");

    // Wrong credentials: never a cached answer, always checked.
    c.write_all(
        format!("GET {list} HTTP/1.1\r\nHost: goshelf\r\nAuthorization: Bearer nope\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let (h, _) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 401 "), "{h}");
    // Right credentials.
    c.write_all(
        format!(
            "GET {list} HTTP/1.1\r\nHost: goshelf\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (h, body) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert_eq!(body, b"v1.0.0\nv1.1.0\n");
    // A body on a GET: read as a body, not as the next request.
    c.write_all(
        format!(
            "GET {prefix} HTTP/1.1\r\nHost: goshelf\r\nContent-Length: 14\r\n\r\nGET / HTTP/1.1"
        )
        .as_bytes(),
    )
    .unwrap();
    let (h, _) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 404 Not Found\r\n"), "{h}");
    // And cached paths again, now answered by hyper on this connection.
    c.write_all(format!("{}{}", get(&info), get(&list)).as_bytes())
        .unwrap();
    let (h, body) = read_response(&mut c, &mut pending, false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert!(body.starts_with(b"{\"Version\":\"v1.1.0\""));
    let (_, body) = read_response(&mut c, &mut pending, false);
    assert_eq!(body, b"v1.0.0\nv1.1.0\n");
    assert!(pending.is_empty(), "nothing more was sent: {pending:?}");
}

/// HTTP/1.0 and `Connection: close` are hyper's: the answer comes, then the connection ends.
#[test]
fn http10_and_connection_close_end_the_connection_after_the_answer() {
    let s = TestServer::start();
    s.upload("admin", &mz("example.com/wire/c", "v1.0.0"));
    let list = "/api/packages/admin/go/example.com/wire/c/@v/list";
    for _ in 0..2 {
        for request in [
            format!("GET {list} HTTP/1.0\r\n\r\n"),
            format!("GET {list} HTTP/1.1\r\nHost: goshelf\r\nConnection: close\r\n\r\n"),
        ] {
            let mut c = connect(&s);
            c.write_all(request.as_bytes()).unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).unwrap();
            let text = String::from_utf8_lossy(&all);
            assert!(text.starts_with("HTTP/1."), "{text}");
            assert!(text.contains(" 200 OK\r\n"), "{text}");
            assert!(text.ends_with("\r\n\r\nv1.0.0\n"), "{text}");
        }
    }
}

/// A connection that sends nothing, or nothing more after a cached answer, is closed once
/// the header timeout has passed, as hyper closes its own; a head sent slowly but within it
/// is answered.
#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    let s = TestServer::start_with(&["--header-timeout", "2"], &[]);
    s.upload("admin", &mz("example.com/wire/i", "v1.0.0"));
    let list = "/api/packages/admin/go/example.com/wire/i/@v/list";
    let mut warm = connect(&s);
    warm.write_all(get(list).as_bytes()).unwrap();
    read_response(&mut warm, &mut Vec::new(), false);

    let closed_after = |c: &mut TcpStream| {
        let t = Instant::now();
        let mut b = [0u8; 64];
        let n = c.read(&mut b).expect("closed, not timed out on our side");
        assert_eq!(n, 0, "nothing is sent on an idle connection");
        t.elapsed()
    };
    let mut idle = connect(&s);
    let waited = closed_after(&mut idle);
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "{waited:?}"
    );

    let mut after = connect(&s);
    after.write_all(get(list).as_bytes()).unwrap();
    let (h, _) = read_response(&mut after, &mut Vec::new(), false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    let waited = closed_after(&mut after);
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "{waited:?}"
    );

    // A head in pieces over 1.2 s, within the 2 s.
    let mut slow = connect(&s);
    let request = get(list);
    for piece in request.as_bytes().chunks(request.len() / 4 + 1) {
        slow.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let (h, body) = read_response(&mut slow, &mut Vec::new(), false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert_eq!(body, b"v1.0.0\n");
}

/// `goshelf_http_connections_general_total` from `/metrics` (read on a connection of its
/// own, which itself counts as one: `/metrics` is not a GOPROXY read).
fn general_connections(s: &TestServer) -> u64 {
    let text = crate::support::http::get(&format!("{}/metrics", s.url())).text();
    text.lines()
        .find_map(|l| l.strip_prefix("goshelf_http_connections_general_total "))
        .unwrap_or_else(|| panic!("no counter in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The go command's requests, misses, zips and ranges included, keep one connection on the
/// direct path; a request with credentials moves it to the general one. Counted by the
/// server's own metric, so a regression in what stays direct shows here.
#[test]
fn the_go_commands_requests_stay_on_the_direct_path() {
    let s = TestServer::start();
    let data = crate::support::incompressible("wire-g", 300_000);
    let zip = mz("example.com/wire/g", "v1.0.0").file("data.bin", &data);
    s.upload("admin", &zip);
    let bytes = zip.bytes();
    assert!(
        bytes.len() > 255 << 10,
        "more than one stored chunk: {}",
        bytes.len()
    );
    let base = "/api/packages/admin/go/example.com/wire/g";
    let before = general_connections(&s);

    let mut c = connect(&s);
    let mut pending = Vec::new();
    let ask = |c: &mut TcpStream, pending: &mut Vec<u8>, request: String, head: bool| {
        c.write_all(request.as_bytes()).unwrap();
        read_response(c, pending, head)
    };
    // Misses first, then the same again (hits), as a go command would over a build.
    for _ in 0..2 {
        for path in [
            "/api/packages/admin/go/example.com/@v/list".to_owned(),
            format!("{base}/@v/list"),
            format!("{base}/@latest"),
            format!("{base}/@v/v1.0.0.info"),
            format!("{base}/@v/v1.0.0.mod"),
        ] {
            let (h, _) = ask(&mut c, &mut pending, get(&path), false);
            assert!(
                h.starts_with("HTTP/1.1 200 ") || h.starts_with("HTTP/1.1 404 "),
                "{h}"
            );
        }
        let (h, body) = ask(
            &mut c,
            &mut pending,
            get(&format!("{base}/@v/v1.0.0.zip")),
            false,
        );
        assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
        assert!(body == bytes, "the zip's bytes");
        let (h, _) = ask(
            &mut c,
            &mut pending,
            format!("HEAD {base}/@v/v1.0.0.zip HTTP/1.1\r\nHost: g\r\n\r\n"),
            true,
        );
        assert!(
            h.contains(&format!("\r\ncontent-length: {}\r\n", bytes.len())),
            "{h}"
        );
        let (h, body) = ask(
            &mut c,
            &mut pending,
            format!(
                "GET {base}/@v/v1.0.0.zip HTTP/1.1\r\nHost: g\r\nRange: bytes=100-265099\r\n\r\n"
            ),
            false,
        );
        assert!(h.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{h}");
        let want = &bytes[100..265_100];
        let first_diff = body.iter().zip(want).position(|(a, b)| a != b);
        assert!(
            body == want,
            "the range's bytes, across a chunk's end: {} bytes, first difference at {first_diff:?}; {h}",
            body.len()
        );
    }
    // A revalidation: 304 without a body, and the connection goes on.
    let (h, _) = ask(
        &mut c,
        &mut pending,
        get(&format!("{base}/@v/v1.0.0.zip")),
        false,
    );
    let etag = h
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no etag: {h}"))
        .to_owned();
    let (h, _) = ask(
        &mut c,
        &mut pending,
        format!("GET {base}/@v/v1.0.0.zip HTTP/1.1\r\nHost: g\r\nIf-None-Match: {etag}\r\n\r\n"),
        true,
    );
    assert!(h.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{h}");
    let (_, body) = ask(&mut c, &mut pending, get(&format!("{base}/@v/list")), false);
    assert_eq!(body, b"v1.0.0\n");
    assert!(pending.is_empty(), "{pending:?}");

    let after = general_connections(&s);
    assert_eq!(
        after,
        before + 1,
        "only the /metrics connection went to the general path"
    );

    // Credentials: the general path from then on, still answered right.
    let (h, _) = ask(
        &mut c,
        &mut pending,
        format!(
            "GET {base}/@v/list HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
        ),
        false,
    );
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    let (_, body) = ask(&mut c, &mut pending, get(&format!("{base}/@v/list")), false);
    assert_eq!(body, b"v1.0.0\n");
    assert_eq!(
        general_connections(&s),
        after + 2,
        "this connection, and /metrics again"
    );
}

/// A fragment in the request target is dropped by the URI parser: answered here, the handler
/// would have answered `list#x` (a 404) under `list`'s cache key, and every later `list` would
/// have been that 404. Such targets are hyper's, which answers them as the path without the
/// fragment; the cache keeps the right answers.
#[test]
fn a_fragment_in_the_target_cannot_poison_the_cache() {
    let s = TestServer::start();
    s.upload("admin", &mz("example.com/wire/f", "v1.0.0"));
    let base = "/api/packages/admin/go/example.com/wire/f";
    for (path, want) in [
        (format!("{base}/@v/list"), &b"v1.0.0\n"[..]),
        (format!("{base}/@latest"), &b"{\"Version\":\"v1.0.0\""[..]),
        (
            format!("{base}/@v/v1.0.0.mod"),
            &b"module example.com/wire/f"[..],
        ),
    ] {
        let mut c = connect(&s);
        c.write_all(get(&format!("{path}#x")).as_bytes()).unwrap();
        read_response(&mut c, &mut Vec::new(), false);
        for _ in 0..3 {
            let mut c = connect(&s);
            c.write_all(get(&path).as_bytes()).unwrap();
            let (h, body) = read_response(&mut c, &mut Vec::new(), false);
            assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {h}");
            assert!(body.starts_with(want), "{path}: {body:?}");
        }
    }
}

/// A GOPROXY-looking head that grows past 8 KiB without ending, after half the header
/// timeout, is no go command's: the connection is closed then rather than handed to hyper
/// (which would give it a new header timeout). A large head that arrives at once still goes
/// to hyper and is answered.
#[test]
fn a_slow_endless_goproxy_head_is_closed() {
    let s = TestServer::start_with(&["--header-timeout", "4"], &[]);
    s.upload("admin", &mz("example.com/wire/h", "v1.0.0"));
    let list = "/api/packages/admin/go/example.com/wire/h/@v/list";
    let pad = "a".repeat(9000);
    let mut c = connect(&s);
    let t = Instant::now();
    c.write_all(format!("GET {list} HTTP/1.1\r\nHost: g\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    c.write_all(format!("X-Pad: {pad}").as_bytes()).unwrap();
    // Closed with our bytes unread: an end of stream, or a reset; never an answer.
    let mut rest = Vec::new();
    match c.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    // Within the one header timeout (4 s); handed over, it would have lasted 6.5 s.
    assert!(
        t.elapsed() < Duration::from_millis(3800),
        "{:?}",
        t.elapsed()
    );

    let mut c = connect(&s);
    c.write_all(format!("GET {list} HTTP/1.1\r\nHost: g\r\nX-Pad: {pad}\r\n\r\n").as_bytes())
        .unwrap();
    let (h, body) = read_response(&mut c, &mut Vec::new(), false);
    assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
    assert_eq!(body, b"v1.0.0\n");
}

/// What a server answers to `request` on a fresh connection, followed by a pipelined
/// probe (a `list`): each response's bytes but the `date` line, then whether the connection was
/// kept for the probe (`[probe answered]`) or closed after the answer (`[closed]`).
fn exchange(s: &TestServer, request: &[u8], head: bool) -> String {
    let mut c = connect(s);
    // A GOPROXY read, so that it does not itself hand the connection to hyper.
    let probe =
        b"GET /api/packages/admin/go/example.com/diff/m/@v/list HTTP/1.1\r\nHost: goshelf\r\n\r\n";
    c.write_all(&[request, probe].concat()).unwrap();
    let mut pending = Vec::new();
    let mut out = String::new();
    for (i, head) in [head, false].into_iter().enumerate() {
        let mut chunk = [0u8; 16 << 10];
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break Some(i + 4);
            }
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => break None,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        };
        let Some(end) = end else {
            assert!(pending.is_empty(), "a partial answer: {pending:?}");
            out.push_str(if i == 0 { "[nothing]" } else { "[closed]" });
            return out;
        };
        let head_text = String::from_utf8(pending[..end].to_vec()).unwrap();
        let len: usize = head_text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .map_or(0, |v| v.trim().parse().unwrap());
        let body_len = if head { 0 } else { len };
        while pending.len() < end + body_len {
            let n = c.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed mid-body");
            pending.extend_from_slice(&chunk[..n]);
        }
        out.extend(
            head_text
                .split_inclusive("\r\n")
                .filter(|l| !l.to_ascii_lowercase().starts_with("date: ")),
        );
        out.push_str(&String::from_utf8_lossy(&pending[end..end + body_len]));
        pending.drain(..end + body_len);
        if i == 0 {
            out.push_str("\n--\n");
        }
    }
    out.push_str("[probe answered]");
    out
}

/// The differential test of the raw path (`conn`, `fast_path` on) against hyper's
/// (`fast_path` off), on the same database: every request of a corpus of ordinary, odd and
/// malformed ones, asked twice (computed, then cached where it can be), is answered with the
/// same bytes (but the date) and leaves the connection open or closed alike.
#[test]
fn the_raw_path_answers_every_request_as_hyper_does() {
    let mut s = TestServer::start();
    s.upload("admin", &mz("example.com/diff/m", "v1.0.0"));
    s.upload(
        "admin",
        &mz("example.com/diff/m", "v1.1.0").file(
            "data.bin",
            &crate::support::incompressible("diff-m", 60_000),
        ),
    );
    s.upload(
        "admin",
        &mz("example.com/diff/m", "v1.2.0").file(
            "data.bin",
            &crate::support::incompressible("diff-l", 300_000),
        ),
    );
    s.upload("admin", &mz("example.com/diff/m", "v1.3.0"));
    assert_eq!(
        s.delete("admin", "example.com/diff/m", "v1.3.0").status,
        204
    );
    let b = "/api/packages/admin/go/example.com/diff/m";
    let etag = crate::support::http::get(&format!("{}{b}/@v/v1.1.0.zip", s.url()))
        .header("etag")
        .unwrap()
        .to_owned();
    let line =
        |method: &str, target: &str| format!("{method} {target} HTTP/1.1\r\nHost: goshelf\r\n");
    let mut corpus: Vec<(String, bool)> = Vec::new();
    for target in [
        format!("{b}/@v/list"),
        format!("{b}/@latest"),
        format!("{b}/@v/v1.0.0.info"),
        format!("{b}/@v/v1.0.0.mod"),
        format!("{b}/@v/v1.0.0.zip"),
        format!("{b}/@v/v1.1.0.zip"),
        format!("{b}/@v/v1.2.0.zip"),
        format!("{b}/@v/v1.3.0.info"),
        format!("{b}/@v/v1.3.0.zip"),
        format!("{b}/@v/v9.0.0.zip"),
        format!("{b}/@v/v1.0.0.info?x=1"),
        format!("{b}/@v/v1.0.0.INFO"),
        format!("{b}/@v/%zz.info"),
        format!("{b}/@v/v1.0.0.info/"),
        format!("{b}/../m/@v/list"),
        format!("{b}//@v/list"),
        "/api/packages/admin/go/example.com/%21diff/m/@v/list".to_owned(),
        "/api/packages/nobody/go/example.com/diff/m/@v/list".to_owned(),
        "/api/packages/admin/go/".to_owned(),
        "/api/packages/admin/go/github.com/not/here/@v/list".to_owned(),
        format!("{b}/@v/{}.info", "v".repeat(6000)),
        format!("http://goshelf{b}/@v/list"),
    ] {
        for method in ["GET", "HEAD"] {
            corpus.push((format!("{}\r\n", line(method, &target)), method == "HEAD"));
        }
        corpus.push((format!("{}\r\n", line("POST", &target)), false));
    }
    let zip = format!("{b}/@v/v1.1.0.zip");
    let big = format!("{b}/@v/v1.2.0.zip");
    let info = format!("{b}/@v/v1.0.0.info");
    for (target, extra) in [
        (&zip, "Range: bytes=0-9\r\n"),
        (&big, "Range: bytes=299000-\r\n"),
        (&zip, "Range: bytes=9999999-\r\n"),
        (&zip, &format!("If-None-Match: {etag}\r\n")),
        (&zip, "If-None-Match: \"other\"\r\n"),
        (&zip, "If-Modified-Since: Thu, 01 Jan 2037 00:00:00 GMT\r\n"),
        (&info, "Accept-Encoding: gzip\r\n"),
        (&info, "Authorization: Bearer not-a-token\r\n"),
        (&info, "Content-Length: 0\r\n"),
        (&info, "Transfer-Encoding: chunked\r\n\r\n0\r\n"),
        (
            &info,
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        ),
        (&info, "Content-Length: 1\r\nContent-Length: 2\r\n"),
        (&info, "X-Folded: a\r\n b\r\n"),
        (&info, "Bad Header: x\r\n"),
        (&info, "Expect: 100-continue\r\n"),
        (&info, "Connection: close\r\n"),
    ] {
        corpus.push((format!("{}{extra}\r\n", line("GET", target)), false));
    }
    corpus.push((format!("GET {info} HTTP/1.0\r\n\r\n"), false));
    corpus.push((format!("GET {info} HTTP/1.1\r\n\r\n"), false));
    corpus.push((
        format!("GET {info} HTTP/2.0\r\nHost: goshelf\r\n\r\n"),
        false,
    ));
    corpus.push((
        format!("get {info} HTTP/1.1\r\nHost: goshelf\r\n\r\n"),
        false,
    ));
    corpus.push((
        format!("GET {info}  HTTP/1.1\r\nHost: goshelf\r\n\r\n"),
        false,
    ));
    corpus.push((format!("GET {info} HTTP/1.1\nHost: goshelf\n\n"), false));

    let run = |s: &TestServer| -> Vec<String> {
        corpus
            .iter()
            .flat_map(|(request, head)| {
                [
                    exchange(s, request.as_bytes(), *head),
                    exchange(s, request.as_bytes(), *head),
                ]
            })
            .collect()
    };
    let raw = run(&s);
    // Most of those connections stayed on the raw path...
    let handed = general_connections(&s);
    assert!(
        handed < corpus.len() as u64,
        "{handed} of {} connections handed to hyper",
        2 * corpus.len()
    );
    s.set_args(&["--fast-path=false"]);
    s.restart();
    let hyper = run(&s);
    // ... and with it off, every one is hyper's (and the one asking).
    assert_eq!(general_connections(&s), 2 * corpus.len() as u64 + 1);
    let mut differences = Vec::new();
    for (i, (a, b)) in raw.iter().zip(&hyper).enumerate() {
        if a != b {
            differences.push(format!(
                "{:?} (ask {}):\n raw:   {a:?}\n hyper: {b:?}",
                corpus[i / 2].0,
                i % 2 + 1
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The corpus reaches the cases it is for.
    let all = raw.join("\n");
    for status in [
        "200 OK",
        "206 Partial",
        "304 Not",
        "400 Bad",
        "401 Unauth",
        "404 Not",
        "405 Method",
        "410 Gone",
        "416 Range",
    ] {
        assert!(
            all.contains(&format!("HTTP/1.1 {status}")),
            "no {status} in {all}"
        );
    }
}
