//! The fuzz targets' bodies, shared by the libFuzzer entry points (fuzz_targets/*.rs) and the
//! stable runner (src/bin/fuzz_stable.rs), so both exercise exactly the same code.
//!
//! Each target feeds arbitrary bytes to goshelf's parsers of untrusted input and checks, beyond
//! "no panic", invariants that must hold for every input: a zip the validator accepts is one
//! checkZip finds no fault in; escaping round-trips; `compare` is antisymmetric; a satisfiable
//! range lies inside the body. A broken invariant panics, which both runners report as a crash.

use std::cmp::Ordering;
use std::io::Cursor;

use goshelf::gomod::proxy::{self, Request as ProxyRequest};
use goshelf::gomod::zip::{self, ZipError, MAX_FILES, MAX_ZIP_FILE};
use goshelf::gomod::{modfile, path, version, ModulePath, Version};
use goshelf::http::goproxy;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the stable runner.
pub const TARGETS: &[(&str, Target)] = &[
    ("zip_validate", zip_validate),
    ("path_version", path_version),
    ("modfile", modfile),
    ("goproxy_request", goproxy_request),
    ("request_head", request_head),
    ("sumdb_parse", sumdb_parse),
];

/// The module version a zip is checked against when its first entry names none.
const FALLBACK: (&str, &str) = ("example.com/m", "v1.0.0");

/// What the upload handler does with a body (src/http/upload.rs `validate`): read the claimed
/// `path@version` from the first entry, then validate fully against it; plus `check_zip`.
///
/// Invariants: reading from memory never yields [`ZipError::Io`] (the server turns that into a
/// 500); an accepted zip passes `check_zip` too, names the claimed module version, has at most
/// [`MAX_FILES`] entries, and declares at most [`MAX_ZIP_FILE`] bytes in total.
pub fn zip_validate(data: &[u8]) {
    let size = data.len() as u64;
    let prefix = zip::read_prefix(Cursor::new(data));
    let (path, version) = match &prefix {
        Ok((p, v)) => (p.as_str(), v.as_str()),
        Err(_) => FALLBACK,
    };
    let checked = zip::check_zip(Cursor::new(data), size, path, version);
    let validated = zip::validate(Cursor::new(data), size, path, version);
    for err in [
        prefix.as_ref().err(),
        checked.as_ref().err(),
        validated.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            !matches!(err, ZipError::Io(_)),
            "an in-memory zip was blamed on the reader: {err:?}"
        );
        assert!(!err.message().is_empty(), "empty error text: {err:?}");
    }
    if let Ok(summary) = &validated {
        let cf = match &checked {
            Ok(cf) => cf,
            Err(e) => panic!("validate accepted a zip that check_zip rejects: {e:?}"),
        };
        assert_eq!(
            cf.error_text(),
            None,
            "validate accepted, check_zip did not"
        );
        assert_eq!(summary.path.as_str(), path);
        assert_eq!(summary.version.as_str(), version);
        assert!(summary.files <= MAX_FILES);
        let listing = match zip::Listing::read(Cursor::new(data), size) {
            Ok(l) => l,
            Err(e) => panic!("validate accepted a zip whose directory does not list: {e:?}"),
        };
        assert_eq!(listing.entries().count(), summary.files, "files counted");
        let total = listing
            .entries()
            .try_fold(0_u64, |t, f| t.checked_add(f.size));
        assert!(
            total.is_some_and(|t| t <= MAX_ZIP_FILE),
            "accepted zip declares {total:?} bytes"
        );
        assert!(summary.h1.starts_with("h1:") && summary.mod_h1.starts_with("h1:"));
        if summary.has_go_mod {
            let declared = modfile::module_path(&summary.mod_bytes);
            assert_eq!(
                declared.as_deref(),
                Ok(path),
                "accepted a go.mod for another module"
            );
        }
    }
}

/// Module paths, file paths, escaping and versions (`gomod::path`, `gomod::version`). The input
/// is split at its first newline into `a` and `b`, so that two-argument functions see both.
pub fn path_version(data: &[u8]) {
    let file_ok = path::check_file_path_bytes(data).is_ok();
    let module_ok = path::check_path_bytes(data).is_ok();
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(!file_ok && !module_ok, "accepted a non-UTF-8 path");
        return;
    };
    assert_eq!(path::check_file_path(text).is_ok(), file_ok);
    assert_eq!(path::check_path(text).is_ok(), module_ok);
    let _ = path::check_import_path(text);
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));

    if let Ok(p) = path::unescape_path(a) {
        assert_eq!(
            path::escape_path(p.as_str()).ok().as_deref(),
            Some(a),
            "unescape_path then escape_path does not round-trip"
        );
    }
    if let Ok(p) = ModulePath::parse(a) {
        let escaped = p.escaped();
        let back = path::unescape_path(&escaped).map(|q| q.as_str().to_owned());
        assert_eq!(
            back.as_deref(),
            Ok(a),
            "escape then unescape of a valid path"
        );
    }
    if let Ok(v) = path::unescape_version(a) {
        assert_eq!(
            path::escape_version(&v).ok().as_deref(),
            Some(a),
            "unescape_version then escape_version does not round-trip"
        );
    }
    if let Some((prefix, major)) = path::split_path_version(a) {
        assert_eq!(format!("{prefix}{major}"), a);
    }

    if let Some(c) = version::canonical(a) {
        assert!(version::is_valid(&c), "canonical form {c:?} is not valid");
        assert_eq!(version::canonical(&c).as_deref(), Some(c.as_str()));
        assert_eq!(version::compare(a, &c), Ordering::Equal);
    } else {
        assert!(!version::is_valid(a));
    }
    let _ = version::canonical_version(a);
    assert_eq!(version::compare(a, a), Ordering::Equal);
    assert_eq!(version::compare(a, b), version::compare(b, a).reverse());
    if version::is_pseudo(a) {
        assert!(version::is_valid(a), "pseudo-version {a:?} is not semver");
        let _ = version::pseudo_time(a);
        let _ = version::pseudo_base(a);
    }
    if let Ok(v) = Version::parse(a) {
        assert_eq!(version::canonical_version(a).as_deref(), Some(v.as_str()));
    }
    let _ = version::check(a, b);
    let _ = (version::major(a), version::prerelease(a), version::build(a));
    let _ = path::check_path_major(b, a);
}

/// The go.mod reader (`gomod::modfile`): `module_path` and `go_version` must not panic. (An
/// empty path is a valid answer: ParseLax reads `module ""` as the path "", and the upload then
/// refuses it as another module's go.mod; fuzz/regressions/modfile/ keeps that input.)
pub fn modfile(data: &[u8]) {
    let _ = modfile::module_path(data);
    let _ = modfile::go_version(data);
}

/// Request routing: `gomod::proxy::parse` and `percent_decode`, and `http::goproxy::parse_range`. The
/// input is text in lines: the path after the GOPROXY base, a `Range` header value, and the body
/// size in decimal (1000 when missing or not a number).
///
/// Invariants: decoding never grows the text; a parsed request names a valid module path and,
/// for a version request, a version that escapes back; a satisfiable range is non-empty and
/// lies inside the body.
pub fn goproxy_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let tail = lines.next().unwrap_or_default();
    let range = lines.next().unwrap_or_default();
    let size = lines
        .next()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .unwrap_or(1000);
    for input in [tail, range] {
        if let Some(decoded) = proxy::percent_decode(input) {
            assert!(decoded.len() <= input.len());
        }
    }
    match proxy::parse(tail) {
        Ok(ProxyRequest::List { module } | ProxyRequest::Latest { module }) => {
            assert!(
                path::check_path(&module).is_ok(),
                "routed invalid path {module:?}"
            );
        }
        Ok(
            ProxyRequest::Info { module, version }
            | ProxyRequest::Mod { module, version }
            | ProxyRequest::Zip { module, version },
        ) => {
            assert!(
                path::check_path(&module).is_ok(),
                "routed invalid path {module:?}"
            );
            assert!(
                path::escape_version(&version).is_ok(),
                "routed a version that cannot be escaped: {version:?}"
            );
        }
        Ok(ProxyRequest::Sumdb { .. }) | Err(_) => {}
    }
    for input in [range, tail] {
        if let Ok(Some(r)) = goproxy::parse_range(input, size) {
            assert!(
                r.start < r.end && r.end <= size,
                "range {r:?} outside a body of {size} bytes"
            );
        }
    }
}

/// The fast path's request-head classifier (src/http/conn.rs `parse_head`), which reads bytes
/// straight off a socket before hyper sees them.
///
/// Invariants: a head it keeps (`Ours`) is a complete HTTP/1.1 `GET`/`HEAD` of a GOPROXY path
/// without query or fragment, whose length lies within the input, carrying none of the headers
/// that belong to hyper (credentials, a body, connection management), and whose path the
/// routing takes for a GOPROXY read; `Partial` is shorter than the head limit and `TooLong` is
/// not; the classification does not depend on bytes after the head (pipelined requests).
pub fn request_head(data: &[u8]) {
    use goshelf::http::conn::{parse_head, Head, HEAD_LIMIT};
    use goshelf::http::fast;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    match parse_head(data, &mut headers) {
        Head::Ours {
            used,
            method,
            path,
            conditional,
        } => {
            assert!(used <= data.len());
            assert!(method == "GET" || method == "HEAD", "{method}");
            assert!(path.starts_with("/api/packages/"), "{path:?}");
            assert!(!path.contains(['?', '#']), "{path:?}");
            assert!(fast::goproxy_read(&method, path).is_some(), "{path:?}");
            // Re-read with httparse directly: an HTTP/1.1 head with no refused header.
            let mut again = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut again);
            assert_eq!(req.parse(data), Ok(httparse::Status::Complete(used)));
            assert_eq!(req.version, Some(1));
            for h in req.headers.iter() {
                let name = h.name.to_ascii_lowercase();
                assert!(
                    ![
                        "authorization",
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "expect",
                        "upgrade"
                    ]
                    .contains(&name.as_str()),
                    "kept a head with {name}"
                );
            }
            let asks = req.headers.iter().any(|h| {
                fast::CONDITIONAL
                    .iter()
                    .any(|c| h.name.eq_ignore_ascii_case(c.as_str()))
            });
            assert_eq!(asks, conditional);
            // What follows the head changes nothing.
            let mut longer = data[..used].to_vec();
            longer.extend_from_slice(b"GARBAGE AFTER THE HEAD\r\n");
            let mut third = [httparse::EMPTY_HEADER; 32];
            assert!(matches!(
                parse_head(&longer, &mut third),
                Head::Ours { used: u, .. } if u == used
            ));
        }
        Head::Partial => assert!(data.len() < HEAD_LIMIT),
        Head::TooLong => assert!(data.len() >= HEAD_LIMIT),
        Head::NotOurs => {}
    }
}

/// The checksum database's parsers of untrusted bytes (an upstream's answers, a client's
/// tile paths, GOPRIVATE patterns): `src/sumdb` and `gomod::patterns`.
///
/// Invariants: a tile path that parses re-encodes to itself; a tree text that parses formats
/// to one that parses to the same tree; a record that parses is framed as `format_record`
/// frames it; a note that opens has a text ending in a newline; verifying an upstream lookup
/// answer (with tiles cut from the input) and matching patterns never panic.
pub fn sumdb_parse(data: &[u8]) {
    use goshelf::sumdb::{self as log, Verifier};
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = log::parse_tile_path(&text) {
        assert_eq!(t.path(), text, "tile path does not re-encode");
    }
    if let Ok(tree) = log::parse_tree(&text) {
        let again = log::parse_tree(&log::format_tree(&tree));
        assert_eq!(again.ok(), Some(tree), "tree text does not round-trip");
    }
    if let Ok((id, record, _rest)) = log::parse_record(data) {
        if let Ok(framed) = log::format_record(id, record) {
            assert!(data.starts_with(&framed), "record framing differs");
        }
    }
    // x/mod's test key (checksum-db.md V5).
    let Ok(verifier) = Verifier::parse(
        "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6",
    ) else {
        panic!("the test verifier key does not parse");
    };
    if let Ok(note) = log::open(data, &[&verifier]) {
        assert!(
            note.text.ends_with('\n'),
            "an opened note's text must end in a newline"
        );
    }
    let mut fetch = |tiles: &[log::Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let want = t.w as usize * 32;
                data.iter()
                    .copied()
                    .cycle()
                    .take(want.min(1 << 16))
                    .collect()
            })
            .collect())
    };
    let _ = log::verify_lookup(&verifier, None, data, &mut fetch);
    let (globs, target) = text.split_once('\n').unwrap_or((&text, "example.com/m"));
    let _ = goshelf::gomod::patterns::match_prefix_patterns(globs, target);
}
