//! The shelf's own checksum database (issue 26), driven by the real go command with
//! `GOSUMDB=<the shelf's verifier key>` and nothing switched off (no `GONOSUMDB`, no
//! `GOPRIVATE`, no `GOFLAGS` tricks), and over plain HTTP for what the go command never asks.
//!
//! What the go command does with a checksum database (checksum-db.md §6): it looks every
//! module version up before using it, checks the signed tree note with the key it was given,
//! proves the record is in that tree and that the tree extends every tree it saw before
//! (kept in `$GOPATH/pkg/sumdb/<name>/latest`), and refuses with `SECURITY ERROR` otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::json;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::server::{Upload, ADMIN_TOKEN};
use crate::support::{Go, GoEnv, ModZip, TestServer};

const OWNER: &str = "admin";

for_each_go!(
    hosted_modules_verify_through_the_proxy_probe,
    hosted_modules_verify_with_an_explicit_url,
    clients_keep_verifying_as_the_log_grows_past_a_tile_and_past_65536_records,
);

/// `GOSUMDB=<vkey>` as `goshelf sumdb key --server` prints it.
fn vkey(server: &TestServer) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["sumdb", "key", "--server", server.url()])
        .env_remove("GOSHELF_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "goshelf sumdb key: {out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let key = line
        .trim()
        .strip_prefix("GOSUMDB=")
        .unwrap_or_else(|| panic!("{line:?}"));
    key.to_owned()
}

/// The log's name: the verifier key's first field.
fn log_name(vkey: &str) -> String {
    vkey.split('+').next().unwrap().to_owned()
}

/// A go environment that verifies everything with the shelf's database.
fn verifying_env(go: Go, server: &TestServer, gosumdb: &str) -> GoEnv {
    let mut env = GoEnv::new(go, &server.base(OWNER));
    env.set_env("GONOSUMDB", "");
    env.set_env("GOPRIVATE", "");
    env.set_env("GOSUMDB", gosumdb);
    env
}

fn download_json(env: &GoEnv, query: &str) -> serde_json::Value {
    let dir = env.empty_dir("download");
    let out = env.stdout(&["mod", "download", "-json", query], &dir);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("go printed invalid JSON ({e}): {out}"))
}

fn assert_sums(json: &serde_json::Value, up: &Upload) {
    assert_eq!(json["Sum"], up.h1.as_str(), "{json}");
    assert_eq!(json["GoModSum"], up.go_mod_h1.as_str(), "{json}");
}

/// The go command verified with the shelf's log: it asked for the lookup, and it keeps the
/// signed tree it saw.
fn assert_verified(env_gopath: &Path, server: &TestServer, name: &str, lookup: &str) {
    let latest = env_gopath.join("pkg/sumdb").join(name).join("latest");
    let note = std::fs::read_to_string(&latest)
        .unwrap_or_else(|e| panic!("go kept no tree of {name} at {}: {e}", latest.display()));
    assert!(note.starts_with("go.sum database tree\n"), "{note}");
    // The request log is written in batches (at most 200 ms late).
    let logged = crate::support::poll_until(std::time::Duration::from_secs(5), || {
        let log = server.stderr_log();
        log.contains(lookup) || log.contains(&lookup.replace('!', "%21"))
    });
    assert!(
        logged,
        "the server never answered {lookup}:\n{}",
        server.stderr_log()
    );
}

fn gopath(env: &GoEnv) -> std::path::PathBuf {
    let out = env.stdout(&["env", "GOPATH"], &env.empty_dir("env"));
    out.trim().into()
}

fn hosted_modules_verify_through_the_proxy_probe(go: Go) {
    go.bin();
    let server = TestServer::start();
    let key = vkey(&server);
    let name = log_name(&key);
    let tool = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let upper = server.upload(
        OWNER,
        &ModZip::from_fixture("upper", "example.com/Upper/Lib", "v1.0.0"),
    );
    let env = verifying_env(go, &server, &key);

    assert_sums(&download_json(&env, "example.com/tool@v1.0.0"), &tool);
    let main = env.main_module("consumer-upper");
    env.run(&["get", "example.com/Upper/Lib@v1.0.0"], &main);
    env.run(&["build", "-o", "consumer", "."], &main);
    let go_sum = std::fs::read_to_string(main.join("go.sum")).unwrap();
    for line in [
        format!("example.com/Upper/Lib v1.0.0 {}", upper.h1),
        format!("example.com/Upper/Lib v1.0.0/go.mod {}", upper.go_mod_h1),
    ] {
        assert!(
            go_sum.lines().any(|l| l == line),
            "go.sum lacks {line:?}:\n{go_sum}"
        );
    }
    env.install_and_run_hello();
    // `!` escapes, sent as they are or percent-encoded (go 1.27 sends `%21` here).
    assert_verified(
        &gopath(&env),
        &server,
        &name,
        &format!("/api/packages/{OWNER}/go/sumdb/{name}/lookup/example.com/!upper/!lib@v1.0.0"),
    );
}

fn hosted_modules_verify_with_an_explicit_url(go: Go) {
    go.bin();
    let server = TestServer::start();
    let key = vkey(&server);
    let name = log_name(&key);
    let upper = server.upload(
        OWNER,
        &ModZip::from_fixture("upper", "example.com/Upper/Lib", "v1.0.0"),
    );
    let env = verifying_env(go, &server, &format!("{key} {}/sumdb/{name}", server.url()));
    assert_sums(&download_json(&env, "example.com/Upper/Lib@v1.0.0"), &upper);
    // Through an explicit URL, percent-encoded (checksum-db.md §2).
    assert_verified(
        &gopath(&env),
        &server,
        &name,
        &format!("/sumdb/{name}/lookup/example.com/%21upper/%21lib@v1.0.0"),
    );
}

/// Appends `count` records for modules no one hosts, with the server stopped (a fast bulk
/// path: the records the go command verifies around them are real uploads).
fn bulk_append(server: &mut TestServer, count: usize, tag: &str) {
    let status = server.terminate();
    assert!(status.success());
    let store = goshelf::store::Store::open(&server.db_path()).unwrap();
    let entries: Vec<(String, String, String, String)> = (0..count)
        .map(|i| {
            (
                format!("bulk.example/{tag}/m{i}"),
                "v1.0.0".to_owned(),
                "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_owned(),
                "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_owned(),
            )
        })
        .collect();
    store.sumdb_append_for_test(&entries).unwrap();
    drop(store);
    server.restart();
}

fn clients_keep_verifying_as_the_log_grows_past_a_tile_and_past_65536_records(go: Go) {
    go.bin();
    let mut server = TestServer::start();
    let key = vkey(&server);
    let name = log_name(&key);
    let mut env = verifying_env(go, &server, &key);
    let first = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    assert_sums(&download_json(&env, "example.com/tool@v1.0.0"), &first);

    // Past one full tile of 256 records, then past 65,536 (a second level of tiles).
    for (count, version) in [(300, "v1.1.0"), (65_300, "v1.2.0")] {
        bulk_append(&mut server, count, version);
        env.set_env("GOPROXY", &server.base(OWNER));
        let up = server.upload(
            OWNER,
            &ModZip::from_fixture("tool", "example.com/tool", version),
        );
        assert_sums(
            &download_json(&env, &format!("example.com/tool@{version}")),
            &up,
        );
    }
    let latest =
        std::fs::read_to_string(gopath(&env).join("pkg/sumdb").join(&name).join("latest")).unwrap();
    let size: u64 = latest.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(size, 1 + 300 + 1 + 65_300 + 1, "{latest}");
    // The first version, looked up again from a fresh module cache (the same GOPATH keeps
    // the newest tree): still proven against it.
    env.set_env("GOMODCACHE", env.empty_dir("fresh-cache").to_str().unwrap());
    assert_sums(&download_json(&env, "example.com/tool@v1.0.0"), &first);
}

// ---- Over plain HTTP: what the go command never asks, and the rules of the log ----

fn get(server: &TestServer, path: &str) -> http::Response {
    http::get(&format!("{}{path}", server.url()))
}

#[test]
fn supported_answers_under_every_owner_and_only_for_the_shelfs_own_name() {
    let server = TestServer::start();
    let name = log_name(&vkey(&server));
    for owner in ["admin", "no-such-owner"] {
        let r = get(
            &server,
            &format!("/api/packages/{owner}/go/sumdb/{name}/supported"),
        );
        assert_eq!(r.status, 200, "{owner}: {r:?}");
        assert!(r.body.is_empty());
        // Clients keeping GOSUMDB=sum.golang.org are not pinned to the shelf.
        let r = get(
            &server,
            &format!("/api/packages/{owner}/go/sumdb/sum.golang.org/supported"),
        );
        assert_eq!(r.status, 404, "{r:?}");
    }
    assert_eq!(
        get(&server, &format!("/sumdb/{name}/supported")).status,
        200
    );
    assert_eq!(get(&server, "/sumdb/sum.golang.org/supported").status, 404);
}

#[test]
fn lookups_tiles_and_latest_are_the_log_in_the_reference_formats() {
    let server = TestServer::start();
    let key = vkey(&server);
    let name = log_name(&key);
    let a = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let b = server.upload(
        OWNER,
        &ModZip::from_fixture("upper", "example.com/Upper/Lib", "v1.0.0"),
    );
    let base = format!("/sumdb/{name}");
    // lookup: id, record, blank line, signed tree note; `!` and `%21` alike.
    let record_b = format!(
        "example.com/Upper/Lib v1.0.0 {}\nexample.com/Upper/Lib v1.0.0/go.mod {}\n",
        b.h1, b.go_mod_h1
    );
    let latest = get(&server, &format!("{base}/latest"));
    assert_eq!(latest.status, 200);
    let note = latest.text();
    for path in [
        format!("{base}/lookup/example.com/!upper/!lib@v1.0.0"),
        format!("{base}/lookup/example.com/%21upper/%21lib@v1.0.0"),
        format!("/api/packages/{OWNER}/go/sumdb/{name}/lookup/example.com/!upper/!lib@v1.0.0"),
    ] {
        let r = get(&server, &path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.text(), format!("1\n{record_b}\n{note}"), "{path}");
    }
    // The note: the tree of both records, signed by the key `sumdb key` printed.
    let verifier = goshelf::sumdb::Verifier::parse(&key).unwrap();
    let (tree, _) = goshelf::sumdb::open_tree_note(&verifier, note.as_bytes()).unwrap();
    assert_eq!(tree.n, 2);
    let record_a = format!(
        "example.com/tool v1.0.0 {}\nexample.com/tool v1.0.0/go.mod {}\n",
        a.h1, a.go_mod_h1
    );
    let leaves = [
        goshelf::sumdb::record_hash(record_a.as_bytes()),
        goshelf::sumdb::record_hash(record_b.as_bytes()),
    ];
    assert_eq!(tree.hash, goshelf::sumdb::node_hash(&leaves[0], &leaves[1]));
    // The hash tile at this size: the stored hashes 0, 1 (the leaves; the interior hash 2
    // lives at level 1).
    let tile = get(&server, &format!("{base}/tile/8/0/000.p/2"));
    assert_eq!(tile.status, 200);
    assert_eq!(tile.body, leaves.concat());
    assert_eq!(
        tile.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let data = get(&server, &format!("{base}/tile/8/data/000.p/2"));
    assert_eq!(data.text(), format!("{record_a}\n{record_b}\n"));
    // Beyond the log, malformed, unknown.
    assert_eq!(
        get(&server, &format!("{base}/tile/8/0/000.p/3")).status,
        404
    );
    assert_eq!(get(&server, &format!("{base}/tile/8/0/000")).status, 404);
    assert_eq!(
        get(&server, &format!("{base}/tile/8/0/000.p/0")).status,
        400
    );
    assert_eq!(
        get(&server, &format!("{base}/tile/3/5/123/456/078")).status,
        400
    );
    assert_eq!(
        get(&server, &format!("{base}/lookup/example.com/tool@latest")).status,
        400
    );
    let miss = get(&server, &format!("{base}/lookup/example.com/tool@v9.9.9"));
    assert_eq!(miss.status, 404);
    assert_eq!(miss.header("cache-control"), Some("no-store"));
}

#[test]
fn a_logged_version_keeps_its_content_forever_across_namespaces_deletes_and_purges() {
    let server = TestServer::start();
    let first = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0");
    let up = server.upload("holder", &first);
    let other = first.clone().file("extra.go", b"package tool\n");
    // The path belongs to the namespace that logged it first: another one is refused,
    // without being told which, until an admin shares the path.
    http::admin(
        &server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": "acme", "visibility": "public"})),
        201,
    );
    let r = server.upload_bytes("acme", &first.bytes());
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.text()
            .contains("goshelf owner share acme example.com/tool")
            && !r.text().contains("holder"),
        "{r:?}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args([
            "owner",
            "share",
            "acme",
            "example.com/tool",
            "--server",
            server.url(),
        ])
        .env("GOSHELF_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Shared: other content is still refused (naming the recorded hash), the same content is
    // the same record.
    let r = server.upload_bytes("acme", &other.bytes());
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.text().contains(&up.h1), "{r:?}");
    let r = server.upload_bytes("acme", &first.bytes());
    assert_eq!(r.status, 201, "{r:?}");
    // Deleted and purged: the record stays, so different content is still refused.
    assert_eq!(
        server.delete("holder", "example.com/tool", "v1.0.0").status,
        204
    );
    let purge = http::curl(
        &Auth::Bearer(ADMIN_TOKEN),
        &[
            "-X",
            "DELETE",
            &format!(
                "{}/api/v1/packages/holder/go/example.com%2Ftool/v1.0.0?purge=true",
                server.url()
            ),
        ],
    );
    assert!(purge.status < 300, "{purge:?}");
    let r = server.upload_bytes("holder", &other.bytes());
    assert_eq!(r.status, 409, "{r:?}");
    let name = log_name(&vkey(&server));
    let lookup = get(
        &server,
        &format!("/sumdb/{name}/lookup/example.com/tool@v1.0.0"),
    );
    assert_eq!(lookup.status, 200);
    assert!(lookup.text().contains(&up.h1));
}

#[test]
fn private_namespaces_are_not_logged_and_their_misses_look_like_any_other() {
    let server = TestServer::start();
    let name = log_name(&vkey(&server));
    http::admin(
        &server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": "secret", "visibility": "private"})),
        201,
    );
    let module = |path: &str| {
        ModZip::new(path, "v1.0.0").file("go.mod", format!("module {path}\n").as_bytes())
    };
    server.upload("secret", &module("corp.example/hidden"));
    server.upload(OWNER, &module("example.com/open"));
    let hosted = get(
        &server,
        &format!("/sumdb/{name}/lookup/corp.example/hidden@v1.0.0"),
    );
    let unknown = get(
        &server,
        &format!("/sumdb/{name}/lookup/corp.example/nothin@v1.0.0"),
    );
    assert_eq!((hosted.status, unknown.status), (404, 404));
    assert_eq!(
        hosted.text().replace("corp.example/hidden", "P"),
        unknown.text().replace("corp.example/nothin", "P")
    );
    let without_date = |r: &http::Response| -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
            .cloned()
            .collect()
    };
    assert_eq!(without_date(&hosted), without_date(&unknown));
    // The log holds one record, the public module's.
    let data = get(&server, &format!("/sumdb/{name}/tile/8/data/000.p/1"));
    assert_eq!(data.status, 200);
    assert!(
        data.text().starts_with("example.com/open v1.0.0 "),
        "{}",
        data.text()
    );
    assert_eq!(
        get(&server, &format!("/sumdb/{name}/tile/8/data/000.p/2")).status,
        404
    );
}

/// Flips one byte inside every copy of `needle` in the stopped server's database file;
/// returns how many copies were changed.
fn corrupt_file(server: &mut TestServer, needle: &[u8], at: usize) -> usize {
    let status = server.terminate();
    assert!(status.success());
    let path = server.db_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let mut changed = 0;
    let mut i = 0;
    while let Some(pos) = bytes[i..].windows(needle.len()).position(|w| w == needle) {
        let p = i + pos + at;
        bytes[p] = if bytes[p] == b'A' { b'B' } else { b'A' };
        changed += 1;
        i = i + pos + needle.len();
    }
    std::fs::write(&path, &bytes).unwrap();
    changed
}

fn verify_db(server: &TestServer) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["verify", "--db", server.db_path().to_str().unwrap()])
        .env_remove("GOSHELF_SERVER")
        .output()
        .unwrap()
}

#[test]
fn an_edited_record_makes_verify_fail_naming_the_log() {
    let mut server = TestServer::start();
    let up = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.1.0"),
    );
    let status = server.terminate();
    assert!(status.success());
    let clean = verify_db(&server);
    assert!(clean.status.success(), "{clean:?}");
    assert!(String::from_utf8_lossy(&clean.stdout).contains("checksum database: 2 records"));
    server.restart();
    // The record's zip hash, one character changed where the log keeps it.
    let record = format!("example.com/tool v1.0.0 {}", up.h1);
    let changed = corrupt_file(&mut server, record.as_bytes(), record.len() - 3);
    assert!(changed > 0, "the record is not in the file as text");
    let out = verify_db(&server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "verify passed an edited record:\n{stdout}"
    );
    assert!(stdout.contains("checksum database"), "{stdout}");
}

/// Replaces, in the stopped server's file, the stored bytes of zip `from` with those of
/// `to` (the same length and layout: only CRCs and content bytes differ), region by region,
/// each found by its context in `from`.
fn replace_zip_in_file(server: &mut TestServer, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let status = server.terminate();
    assert!(status.success());
    let path = server.db_path();
    let mut file = std::fs::read(&path).unwrap();
    let mut i = 0;
    while i < from.len() {
        if from[i] == to[i] {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < from.len() && from[end] != to[end] {
            end += 1;
        }
        let (lo, hi) = (i.saturating_sub(12), (end + 12).min(from.len()));
        let context = &from[lo..hi];
        let mut found = 0;
        let mut at = 0;
        while let Some(pos) = file[at..].windows(context.len()).position(|w| w == context) {
            let p = at + pos;
            file[p..p + context.len()].copy_from_slice(&to[lo..hi]);
            found += 1;
            at = p + context.len();
        }
        assert!(
            found > 0,
            "bytes {lo}..{hi} of the zip are not in the file as they are"
        );
        i = end;
    }
    std::fs::write(&path, &file).unwrap();
}

fn altered_zip_bytes_are_refused_by_the_go_command_and_named_by_verify(go: Go) {
    go.bin();
    let mut server = TestServer::start();
    let key = vkey(&server);
    let payload = crate::support::incompressible("sumdb-tamper", 64 << 10);
    let zip = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0").file("data.bin", &payload);
    let up = server.upload(OWNER, &zip);
    // The stored zip becomes another valid zip of the same module version: one byte of
    // data.bin changed, CRCs right. Only the checksum database can tell.
    let mut other = payload.clone();
    other[30_000] ^= 0x55;
    let forged = zip.clone().file("data.bin", &other);
    replace_zip_in_file(&mut server, &zip.bytes(), &forged.bytes());
    server.restart();
    let env = verifying_env(go, &server, &key);
    let out = env.run_expect_fail(
        &["mod", "download", "example.com/tool@v1.0.0"],
        &env.empty_dir("download"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECURITY ERROR") && stderr.contains(&up.h1),
        "go did not refuse the zip by its checksum database record:\n{stderr}"
    );
    let status = server.terminate();
    assert!(status.success());
    let report = verify_db(&server);
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(!report.status.success(), "{stdout}");
    assert!(stdout.contains("admin example.com/tool@v1.0.0"), "{stdout}");
}

for_each_go!(altered_zip_bytes_are_refused_by_the_go_command_and_named_by_verify);

/// A file written by the release before the checksum database (b2c6307), frozen: acme
/// published example.com/tool v1.0.0; then beta published v1.0.0 with other content (that
/// release allowed it) and v1.1.0, a second apart. Made with that release's binary and
/// `curl --upload-file` of zips of tests/fixtures/modules/tool (beta's v1.0.0 with an extra
/// `extra.go`); never rewritten.
const PRE_SUMDB_FIXTURE: &str = "tests/fixtures/db/pre-sumdb.redb";

fn upgrade_logs_existing_versions_and_reports_the_conflict(go: Go) {
    go.bin();
    let mut server = TestServer::start();
    assert!(server.terminate().success());
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(PRE_SUMDB_FIXTURE),
        server.db_path(),
    )
    .unwrap();
    server.restart();
    assert!(
        server.stderr_log().contains("logged 2 existing versions"),
        "{}",
        server.stderr_log()
    );
    assert!(server
        .stderr_log()
        .contains("beta: example.com/tool@v1.0.0 is served but not logged"));
    let key = vkey(&server);
    assert!(server.terminate().success());
    let report = verify_db(&server);
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "verify is not clean after the upgrade:\n{stdout}"
    );
    assert!(stdout.contains("checksum database: 2 records"), "{stdout}");
    assert!(stdout.contains("NOTE: served but not logged"), "{stdout}");
    assert!(stdout.contains("beta example.com/tool@v1.0.0"), "{stdout}");
    server.restart();
    // The logged versions verify, from each namespace.
    let mut env = verifying_env(go, &server, &key);
    env.set_env("GOPROXY", &server.base("acme"));
    download_json(&env, "example.com/tool@v1.0.0");
    env.set_env("GOPROXY", &server.base("beta"));
    download_json(&env, "example.com/tool@v1.1.0");
    let main = env.main_module("consumer-tool");
    env.run(&["get", "example.com/tool@v1.1.0"], &main);
    env.run(&["build", "-o", "consumer", "."], &main);
    // beta's other v1.0.0 is served, and refused by a client that verifies.
    env.set_env("GOMODCACHE", env.empty_dir("fresh").to_str().unwrap());
    let out = env.run_expect_fail(
        &["mod", "download", "example.com/tool@v1.0.0"],
        &env.empty_dir("conflict"),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SECURITY ERROR"),
        "{out:?}"
    );
}

for_each_go!(upgrade_logs_existing_versions_and_reports_the_conflict);

/// Files written by the last binaries of schemas 3 (acae4ee) and 4 (007aba3), frozen, with
/// what they served from them: `tests/fixtures/db/schema3/make.sh` (and `schema4/make.sh`)
/// made each with its binary (acme published example.com/tool v1.0.0 to v1.2.0,
/// example.com/Upper/Lib v1.0.0, example.com/big v1.0.0 and v1.1.0 (300,000 random bytes
/// each: whole chunks, tail pieces and packed bytes), example.com/tool/v2 v2.0.0; then
/// deleted tool v1.2.0; then compacted). Never rewritten.
const FIXTURES: &str = "tests/fixtures/db";

/// Issue 24's schema 4 moves the `.mod` bytes, the blob records and the whole checksum log
/// into new trees when a schema-3 file is first opened, and schema 5 the blob records and
/// packed bytes into one tree. The migrated log must be the same log: the same signed head
/// and lookup bytes the old release served, a client holding that head verifies every
/// version (and so every zip) and a version published after the migration, and `verify` is
/// clean.
fn a_schema3_file_is_migrated_and_serves_the_same_log(go: Go) {
    an_older_file_is_migrated_and_serves_the_same_log(go, "schema3");
}

for_each_go!(a_schema3_file_is_migrated_and_serves_the_same_log);

fn a_schema4_file_is_migrated_and_serves_the_same_log(go: Go) {
    an_older_file_is_migrated_and_serves_the_same_log(go, "schema4");
}

for_each_go!(a_schema4_file_is_migrated_and_serves_the_same_log);

fn an_older_file_is_migrated_and_serves_the_same_log(go: Go, schema: &str) {
    go.bin();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(schema);
    let read = |name: &str| std::fs::read(fixture.join(name)).unwrap();
    let mut server = TestServer::start();
    assert!(server.terminate().success());
    std::fs::copy(fixture.join(format!("{schema}.redb")), server.db_path()).unwrap();
    server.restart();
    let key = String::from_utf8(read("vkey")).unwrap().trim().to_owned();
    assert_eq!(vkey(&server), key, "the log keeps its name and key");
    let name = log_name(&key);
    let latest = get(&server, &format!("/sumdb/{name}/latest"));
    assert_eq!(latest.status, 200, "{latest:?}");
    assert!(
        latest.body == read("latest"),
        "the signed head differs from the old release's:\n{}",
        latest.text()
    );
    let lookup = get(
        &server,
        &format!("/sumdb/{name}/lookup/example.com/tool@v1.1.0"),
    );
    assert!(
        lookup.body == read("lookup-tool-v1.1.0"),
        "the lookup differs from the old release's:\n{}",
        lookup.text()
    );
    // A client that kept the old release's head verifies every version against it.
    let env = verifying_env(go, &server, &format!("{key} {}/sumdb/{name}", server.url()));
    let kept = env.gopath().join("pkg/sumdb").join(&name).join("latest");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, read("latest")).unwrap();
    let mut env = env;
    env.set_env("GOPROXY", &server.base("acme"));
    for query in [
        "example.com/tool@v1.0.0",
        "example.com/tool@v1.1.0",
        "example.com/Upper/Lib@v1.0.0",
        "example.com/big@v1.0.0",
        "example.com/big@v1.1.0",
        "example.com/tool/v2@v2.0.0",
    ] {
        let json = download_json(&env, query);
        assert!(json["Sum"].as_str().unwrap().starts_with("h1:"), "{json}");
    }
    // The deleted version stays deleted.
    let gone = get(
        &server,
        "/api/packages/acme/go/example.com/tool/@v/v1.2.0.info",
    );
    assert_eq!(gone.status, 410, "{gone:?}");
    // Appends go on from the migrated log: record 7, proven against the old head.
    let next = server.upload(
        "acme",
        &ModZip::from_fixture("tool", "example.com/tool", "v1.3.0"),
    );
    assert_sums(&download_json(&env, "example.com/tool@v1.3.0"), &next);
    let head = get(&server, &format!("/sumdb/{name}/latest")).text();
    assert_eq!(head.lines().nth(1), Some("8"), "{head}");
    assert!(server.terminate().success());
    let report = verify_db(&server);
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "verify after the migration:\n{stdout}"
    );
    assert!(stdout.contains("checksum database: 8 records"), "{stdout}");
}

/// Issue 26, crash safety: SIGKILL while four clients publish. After the restart every
/// version answered `201` has its record, the log is dense and verifies clean, and a client
/// that kept a tree head from before the crash verifies a version published after it.
#[test]
fn a_kill_during_concurrent_uploads_keeps_every_acknowledged_record() {
    let go = Go::V1_27;
    go.bin();
    let mut server = TestServer::start();
    let key = vkey(&server);
    let name = log_name(&key);
    let first = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let mut env = verifying_env(go, &server, &key);
    assert_sums(&download_json(&env, "example.com/tool@v1.0.0"), &first);

    let addr = server.addr().to_owned();
    let files: Vec<Vec<(String, std::path::PathBuf)>> = (0..4)
        .map(|t| {
            (0..200)
                .map(|i| {
                    let path = format!("example.com/crash/t{t}/m{i}");
                    let zip = crate::support::hostile::mz(&path, "v1.0.0");
                    (
                        path,
                        server.write_scratch(&format!("c{t}-{i}.zip"), &zip.bytes()),
                    )
                })
                .collect()
        })
        .collect();
    let acked = std::sync::Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for list in &files {
            let (addr, acked, stop) = (&addr, &acked, &stop);
            s.spawn(move || {
                for (path, file) in list {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    if raw_upload(addr, &std::fs::read(file).unwrap()) == Some(201) {
                        acked.lock().unwrap().push(path.clone());
                    }
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(1500));
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() > 4,
        "too few uploads before the kill: {}",
        acked.len()
    );
    server.restart();
    for path in &acked {
        let r = get(&server, &format!("/sumdb/{name}/lookup/{path}@v1.0.0"));
        assert_eq!(
            r.status, 200,
            "{path} was acknowledged but has no record: {r:?}"
        );
    }
    // Dense: the data tiles hold exactly the records 0 .. size, each a go.sum pair.
    let latest = get(&server, &format!("/sumdb/{name}/latest")).text();
    let size: u64 = latest.lines().nth(1).unwrap().parse().unwrap();
    assert!(
        size > acked.len() as u64,
        "{size} records for {} acknowledged",
        acked.len()
    );
    let mut seen = 0u64;
    for tile in 0..size.div_ceil(256) {
        let w = (size - tile * 256).min(256);
        let suffix = if w == 256 {
            String::new()
        } else {
            format!(".p/{w}")
        };
        let r = get(
            &server,
            &format!("/sumdb/{name}/tile/8/data/{tile:03}{suffix}"),
        );
        assert_eq!(r.status, 200, "{r:?}");
        seen += r.text().split("\n\n").filter(|rec| !rec.is_empty()).count() as u64;
    }
    assert_eq!(seen, size);
    // The client's head from before the crash, and a version published after it.
    let next = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.1.0"),
    );
    env.set_env("GOPROXY", &server.base(OWNER));
    assert_sums(&download_json(&env, "example.com/tool@v1.1.0"), &next);
    assert!(server.terminate().success());
    let report = verify_db(&server);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stdout)
    );
}

/// A raw `PUT` of `zip` as the admin; the status, or `None` when the server went away.
fn raw_upload(addr: &str, zip: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).ok()?;
    let head = format!(
        "PUT /api/packages/{OWNER}/go/upload HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer \
         {ADMIN_TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        zip.len()
    );
    c.write_all(head.as_bytes()).ok()?;
    c.write_all(zip).ok()?;
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).ok()?;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// `sumdb_readers = "signed-in"`: every namespace is logged, every URL of the log needs a
/// token, and a go client with netrc credentials over HTTPS verifies a private module.
fn signed_in_readers_need_a_token_and_verify_private_modules_over_https(go: Go) {
    use crate::private_modules::{go_env, private_with, write_netrc};
    go.bin();
    let p = private_with(&["--sumdb-readers", "signed-in"]);
    let cacert = p.ca.to_str().unwrap().to_owned();
    let key = http::curl(
        &Auth::None,
        &[
            "--cacert",
            &cacert,
            &format!("{}/sumdb-key", p.server.tls_url()),
        ],
    )
    .text()
    .trim()
    .to_owned();
    let name = log_name(&key);
    let tls = p.server.tls_url().to_owned();
    for path in [
        format!("/sumdb/{name}/supported"),
        format!("/sumdb/{name}/latest"),
        format!("/sumdb/{name}/lookup/example.com/tool@v1.0.0"),
        format!("/sumdb/{name}/tile/8/0/000.p/1"),
        format!("/sumdb/{name}/tile/8/data/000.p/1"),
        format!("/api/packages/secret/go/sumdb/{name}/supported"),
        format!("/api/packages/nobody/go/sumdb/{name}/lookup/example.com/tool@v1.0.0"),
    ] {
        let anon = http::curl(&Auth::None, &["--cacert", &cacert, &format!("{tls}{path}")]);
        assert_eq!(anon.status, 401, "{path}: {anon:?}");
        let member = http::curl(
            &Auth::Bearer(&p.token),
            &["--cacert", &cacert, &format!("{tls}{path}")],
        );
        assert_eq!(member.status, 200, "{path}: {member:?}");
        if path.ends_with("lookup/example.com/tool@v1.0.0") {
            // The private namespace's version is logged in this mode.
            assert!(member.text().contains(&p.h1), "{member:?}");
            assert_eq!(member.header("cache-control"), Some("private, max-age=60"));
        }
    }
    let mut env = go_env(&p, go);
    env.set_env("GONOSUMDB", "");
    env.set_env("GOPRIVATE", "");
    env.set_env("GOSUMDB", &key);
    let netrc = write_netrc(&p, &env.empty_dir("netrc"));
    env.set_env("NETRC", netrc.to_str().unwrap());
    let out = env.stdout(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &env.empty_dir("download"),
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["Sum"].as_str(), Some(p.h1.as_str()), "{json:#}");
    let latest = gopath(&env).join("pkg/sumdb").join(&name).join("latest");
    assert!(latest.is_file(), "the go command kept no tree of {name}");
}

for_each_go!(signed_in_readers_need_a_token_and_verify_private_modules_over_https);

/// A log read by signed-in clients only holds the private namespaces' records, and records
/// are forever: the server refuses to start on it with `sumdb_readers = anyone` (which would
/// publish them to anyone), saying so in one line, and starts again as it was.
#[test]
fn a_log_read_with_tokens_is_never_opened_to_anyone() {
    use crate::private_modules::private_with;
    let mut p = private_with(&["--sumdb-readers", "signed-in"]);
    assert!(p.server.terminate().success());
    let db = p.server.db_path();
    let out = crate::support::stress::goshelf(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--sumdb-readers",
            "anyone",
        ],
        &[("RUST_BACKTRACE", "0")],
        std::time::Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("sumdb_readers = anyone would publish")
            && last.contains("example.com/tool@v1.0.0"),
        "{stderr}"
    );
    p.server.restart();
    let key = http::curl(
        &Auth::None,
        &[
            "--cacert",
            p.ca.to_str().unwrap(),
            &format!("{}/sumdb-key", p.server.tls_url()),
        ],
    )
    .text()
    .trim()
    .to_owned();
    let lookup = http::curl(
        &Auth::None,
        &[
            "--cacert",
            p.ca.to_str().unwrap(),
            &format!(
                "{}/sumdb/{}/lookup/example.com/tool@v1.0.0",
                p.server.tls_url(),
                log_name(&key)
            ),
        ],
    );
    assert_eq!(
        lookup.status, 401,
        "still for signed-in readers only: {lookup:?}"
    );
}

// ---- The upstream checksum database (a server of the test's own) ----

use crate::support::upstream::{self as upstream_db, Lie};

fn dep(path: &str) -> ModZip {
    ModZip::new(path, "v1.0.0")
        .file("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes())
        .file(
            "dep.go",
            b"package dep\n\nfunc Name() string { return \"dep\" }\n",
        )
}

fn shelf_with(up: &upstream_db::Upstream, args: &[&str]) -> TestServer {
    TestServer::start_with(args, &[("GOSHELF_UPSTREAM_SUMDB", &up.setting())])
}

fn public_dependencies_verify_through_the_shelf(go: Go) {
    go.bin();
    let up = upstream_db::Upstream::start();
    up.grow(300, "before");
    let (dep_h1, dep_mod_h1) = up.publish(&dep("public.example/dep"));
    up.grow(20, "after");
    let server = shelf_with(&up, &[]);
    let key = vkey(&server);
    let app = ModZip::new("example.com/app", "v1.0.0")
        .file(
            "go.mod",
            b"module example.com/app\n\ngo 1.19\n\nrequire public.example/dep v1.0.0\n",
        )
        .file(
            "app.go",
            b"package app\n\nimport \"public.example/dep\"\n\nfunc Hello() string { return \"app uses \" + dep.Name() }\n",
        );
    server.upload(OWNER, &app);
    let mut env = verifying_env(go, &server, &key);
    env.set_env(
        "GOPROXY",
        &format!("{},{}", server.base(OWNER), up.proxy_url()),
    );
    let main = env.empty_dir("consumer");
    std::fs::write(
        main.join("go.mod"),
        "module example.com/consumer\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(
        main.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/app\"\n)\n\nfunc main() { fmt.Println(app.Hello()) }\n",
    )
    .unwrap();
    env.run(&["get", "example.com/app@v1.0.0"], &main);
    env.run(&["build", "-o", "consumer", "."], &main);
    let out = std::process::Command::new(main.join("consumer"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "app uses dep\n");
    let go_sum = std::fs::read_to_string(main.join("go.sum")).unwrap();
    for line in [
        format!("public.example/dep v1.0.0 {dep_h1}"),
        format!("public.example/dep v1.0.0/go.mod {dep_mod_h1}"),
    ] {
        assert!(
            go_sum.lines().any(|l| l == line),
            "go.sum lacks {line:?}:\n{go_sum}"
        );
    }
    let asked = up.requests();
    assert!(
        asked
            .iter()
            .any(|r| r == "/lookup/public.example/dep@v1.0.0"),
        "{asked:?}"
    );
    // A hosted path never leaves for the upstream.
    assert!(
        !asked.iter().any(|r| r.contains("example.com/app")),
        "{asked:?}"
    );
}

for_each_go!(public_dependencies_verify_through_the_shelf);

fn lookup_status(server: &TestServer, name: &str, target: &str) -> http::Response {
    get(server, &format!("/sumdb/{name}/lookup/{target}"))
}

fn log_size(server: &TestServer, name: &str) -> u64 {
    let latest = get(server, &format!("/sumdb/{name}/latest")).text();
    latest.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn upstream_lies_are_refused_with_a_security_line_and_nothing_is_appended() {
    let up = upstream_db::Upstream::start();
    for i in 0..6 {
        if i == 3 {
            up.publish_zip_line_only(&dep("public.example/d3"));
        } else {
            up.publish(&dep(&format!("public.example/d{i}")));
        }
    }
    let server = shelf_with(&up, &[]);
    let name = log_name(&vkey(&server));
    // Honest: verified, appended, answered; the upstream head is stored.
    let r = lookup_status(&server, &name, "public.example/d0@v1.0.0");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(log_size(&server, &name), 1);
    for (lie, target) in [
        (Lie::BadSignature, "public.example/d1@v1.0.0"),
        (Lie::Fork, "public.example/d2@v1.0.0"),
        (Lie::LineInNote, "public.example/d3@v1.0.0"),
    ] {
        up.lie(lie);
        let r = lookup_status(&server, &name, target);
        assert_eq!(r.status, 404, "{lie:?}: {r:?}");
        let text = r.text();
        assert!(
            text.contains("unreachable since") && text.contains("failed verification"),
            "{lie:?}: {text}"
        );
        assert!(!text.contains("h1:AAAA"), "{lie:?}: {text}");
        assert_eq!(log_size(&server, &name), 1, "{lie:?} appended something");
    }
    let logged = crate::support::poll_until(std::time::Duration::from_secs(5), || {
        server
            .stderr_log()
            .matches("SECURITY: the upstream checksum database")
            .count()
            >= 3
    });
    assert!(logged, "{}", server.stderr_log());
    for line in server
        .stderr_log()
        .lines()
        .filter(|l| l.contains("SECURITY"))
    {
        eprintln!("{line}");
    }
    // Down: a miss says so; back up: answered, and the line is gone.
    up.lie(Lie::Down);
    let r = lookup_status(&server, &name, "public.example/d4@v1.0.0");
    assert_eq!(r.status, 404);
    up.lie(Lie::None);
    let r = lookup_status(&server, &name, "public.example/d4@v1.0.0");
    assert_eq!(r.status, 200, "{r:?}");
    let miss = lookup_status(&server, &name, "public.example/none@v1.0.0");
    assert_eq!(miss.status, 404);
    assert!(!miss.text().contains("unreachable"), "{}", miss.text());
    assert_eq!(log_size(&server, &name), 2);
}

#[test]
fn private_and_hosted_paths_never_leave_and_their_misses_look_alike() {
    let up = upstream_db::Upstream::start();
    up.publish(&dep("public.example/d0"));
    let server = shelf_with(&up, &["--private", "corp.example"]);
    let name = log_name(&vkey(&server));
    http::admin(
        &server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": "secret", "visibility": "private"})),
        201,
    );
    server.upload(
        "secret",
        &ModZip::new("corp.example/hidden", "v1.0.0")
            .file("go.mod", b"module corp.example/hidden\n"),
    );
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let without_date = |r: &http::Response| -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
            .cloned()
            .collect()
    };
    for lie in [Lie::None, Lie::Down] {
        up.lie(lie);
        // Make the upstream's state known to the shelf (a public miss asks it).
        lookup_status(&server, &name, "public.example/none@v1.0.0");
        let hosted = lookup_status(&server, &name, "corp.example/hidden@v1.0.0");
        let unknown = lookup_status(&server, &name, "corp.example/nothin@v1.0.0");
        assert_eq!((hosted.status, unknown.status), (404, 404));
        assert_eq!(
            hosted.text().replace("corp.example/hidden", "P"),
            unknown.text().replace("corp.example/nothin", "P"),
            "{lie:?}"
        );
        assert_eq!(without_date(&hosted), without_date(&unknown), "{lie:?}");
        // An organisation's hosted path, another version, and the path above it (the go
        // command asks for every prefix of an import path): answered here only.
        assert_eq!(
            lookup_status(&server, &name, "example.com/tool@v9.9.9").status,
            404
        );
        let above = lookup_status(&server, &name, "example.com@v0.0.1");
        assert_eq!(above.status, 404, "{lie:?}");
        assert_eq!(
            above.text().replace("example.com", "P"),
            unknown.text().replace("corp.example/nothin", "P"),
            "{lie:?}"
        );
    }
    let asked = up.requests();
    assert!(
        !asked.iter().any(|r| r.contains("corp.example")
            || r.contains("example.com/tool")
            || r.contains("example.com@")),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|r| r.contains("public.example/none")),
        "{asked:?}"
    );
}

/// Tiles are served at height 8 only, the go command's: a taller one would make one request
/// read up to 2^30 records (found by a review: `tile/30/data/000.p/<size>` read the whole
/// log into memory for any anonymous client).
#[test]
fn only_tiles_of_height_8_are_served() {
    let server = TestServer::start();
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let name = log_name(&vkey(&server));
    let size = log_size(&server, &name);
    assert!(size >= 1);
    let ok = get(&server, &format!("/sumdb/{name}/tile/8/data/000.p/{size}"));
    assert_eq!(ok.status, 200, "{ok:?}");
    for what in [
        format!("tile/30/data/000.p/{size}"),
        format!("tile/30/0/000.p/{size}"),
        "tile/1/0/000.p/1".to_owned(),
        format!("tile/9/data/000.p/{size}"),
    ] {
        let r = get(&server, &format!("/sumdb/{name}/{what}"));
        assert_eq!(r.status, 404, "{what}: {r:?}");
        assert!(r.text().contains("tiles of height 8 only"), "{what}: {r:?}");
    }
}

/// A requester past its lookup budget is refused every miss alike: a path that matches
/// `private`, one hosted here (another version, the path above it) and a public one all get
/// the same 503, so the refusal tells nothing of which paths are private (a 404 for private
/// paths alone would test paths against the patterns, which only admins may read).
#[test]
fn a_requester_past_its_budget_is_refused_alike_for_every_path() {
    let up = upstream_db::Upstream::start();
    up.publish(&dep("public.example/b0"));
    let server = shelf_with(
        &up,
        &["--private", "corp.example", "--sumdb-lookup-budget", "1"],
    );
    let name = log_name(&vkey(&server));
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let lookup = |target: &str| {
        get_from(
            &server,
            "127.0.0.2",
            &format!("/sumdb/{name}/lookup/{target}"),
        )
    };
    assert_eq!(lookup("public.example/b0@v1.0.0").status, 200);
    let answers: Vec<(u16, String, Option<String>)> = [
        "public.example/none@v1.0.0",
        "corp.example/x@v1.0.0",
        "example.com/tool@v9.9.9",
        "example.com@v0.0.1",
    ]
    .iter()
    .map(|target| {
        let r = lookup(target);
        let retry = r.header("retry-after").map(str::to_owned);
        (r.status, r.text(), retry)
    })
    .collect();
    assert_eq!(answers[0].0, 503, "{answers:?}");
    assert!(answers[0].1.contains("sumdb_lookup_budget"), "{answers:?}");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // Records in the log are still answered, and another address is not refused.
    assert_eq!(lookup("public.example/b0@v1.0.0").status, 200);
    let other = get_from(
        &server,
        "127.0.0.3",
        &format!("/sumdb/{name}/lookup/corp.example/x@v1.0.0"),
    );
    assert_eq!(other.status, 404, "{other:?}");
}

/// Issue 26, "Paths": modules of famous paths uploaded to a personal namespace change nothing
/// a verifying client gets for other versions or for paths below them.
#[test]
fn famous_paths_in_a_personal_namespace_change_nothing_upstream_records() {
    let up = upstream_db::Upstream::start();
    let (gin_h1, _) = up.publish(&dep("github.com/gin-gonic/gin"));
    let text = ModZip::new("golang.org/x/text", "v1.0.0")
        .file("go.mod", b"module golang.org/x/text\n")
        .file("t.go", b"package text\n");
    let (text_h1, _) = up.publish(&text);
    let server = shelf_with(&up, &[]);
    let name = log_name(&vkey(&server));
    server.add_user("bob", "bob password 123");
    let token = http::curl(
        &Auth::Bearer(ADMIN_TOKEN),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &json!({"user": "bob", "name": "t", "scope": "write"}).to_string(),
            &format!("{}/api/v1/tokens", server.url()),
        ],
    );
    let token: serde_json::Value = serde_json::from_slice(&token.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    for (path, version) in [
        ("github.com/gin-gonic/gin", "v1.99.0"),
        ("golang.org/x", "v0.0.1"),
    ] {
        let zip = ModZip::new(path, version).file("go.mod", format!("module {path}\n").as_bytes());
        let file = server.write_scratch("famous.zip", &zip.bytes());
        let r = http::put_file(&server.upload_url("bob"), &Auth::Bearer(&token), &file, &[]);
        assert_eq!(r.status, 201, "{r:?}");
    }
    // Upstream has gin v1.0.0 (`dep`) and golang.org/x/text v1.0.0.
    let gin = lookup_status(&server, &name, "github.com/gin-gonic/gin@v1.0.0");
    assert_eq!(gin.status, 200, "{gin:?}");
    assert!(gin.text().contains(&gin_h1), "{}", gin.text());
    let x = lookup_status(&server, &name, "golang.org/x/text@v1.0.0");
    assert_eq!(x.status, 200, "{x:?}");
    assert!(x.text().contains(&text_h1), "{}", x.text());
}

/// Issue 26, "Who may take a module path": an organisation hosting a path the log holds from
/// upstream, or a proper prefix of one, needs an admin's `goshelf owner claim`; after it the
/// organisation publishes, and lookups of paths at or below the claim are answered here
/// (records already logged stay), never upstream.
#[test]
fn hosting_an_upstream_path_in_an_organisation_needs_an_admins_claim() {
    let up = upstream_db::Upstream::start();
    let v1 = ModZip::new("golang.org/x/text", "v1.0.0")
        .file("go.mod", b"module golang.org/x/text\n")
        .file("t.go", b"package text\n");
    let (text_h1, _) = up.publish(&v1);
    let v2 = ModZip::new("golang.org/x/text", "v1.1.0")
        .file("go.mod", b"module golang.org/x/text\n")
        .file("t.go", b"package text // 1.1\n");
    up.publish(&v2);
    let server = shelf_with(&up, &[]);
    let name = log_name(&vkey(&server));
    http::admin(
        &server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": "gophers", "visibility": "public"})),
        201,
    );
    let logged = lookup_status(&server, &name, "golang.org/x/text@v1.0.0");
    assert_eq!(logged.status, 200, "{logged:?}");
    let upload = |path: &str, version: &str| {
        let zip = ModZip::new(path, version).file("go.mod", format!("module {path}\n").as_bytes());
        server.upload_bytes("gophers", &zip.bytes())
    };
    // The path itself and a proper prefix of it are refused, naming the command.
    for path in ["golang.org/x/text", "golang.org/x"] {
        let before = log_size(&server, &name);
        let r = upload(path, "v0.0.1");
        assert_eq!(r.status, 409, "{path}: {r:?}");
        assert!(
            r.text()
                .contains(&format!("goshelf owner claim gophers {path}")),
            "{r:?}"
        );
        assert!(r.text().contains("golang.org/x/text"), "{r:?}");
        assert_eq!(log_size(&server, &name), before, "a refusal appended");
    }
    // A sibling is not a prefix (`golang.org/xy`).
    assert_eq!(upload("golang.org/xy", "v0.0.1").status, 201);
    // A personal namespace needs no claim (and stops no upstream lookups).
    server.add_user("carol", "carol password 123");
    let zip =
        ModZip::new("golang.org/x/text", "v0.9.0").file("go.mod", b"module golang.org/x/text\n");
    assert_eq!(server.upload_bytes("carol", &zip.bytes()).status, 201);
    // Only an admin may claim.
    let claim_url = format!(
        "{}/api/v1/owners/gophers/claims/golang.org%2Fx",
        server.url()
    );
    let r = http::curl(
        &Auth::Basic("carol", "carol password 123"),
        &["-X", "PUT", &claim_url],
    );
    assert_eq!(r.status, 403, "{r:?}");
    let out = goshelf_cli(&server, &["owner", "claim", "gophers", "golang.org/x"]);
    assert!(out.status.success(), "{out:?}");
    let asked_before = up.requests().len();
    // Versions the upstream has but the log does not are now answered here: a miss.
    let miss = lookup_status(&server, &name, "golang.org/x/text@v1.1.0");
    assert_eq!(miss.status, 404, "{miss:?}");
    assert_eq!(up.requests().len(), asked_before, "{:?}", up.requests());
    // The record already logged stays.
    let kept = lookup_status(&server, &name, "golang.org/x/text@v1.0.0");
    assert_eq!(kept.status, 200, "{kept:?}");
    assert!(kept.text().contains(&text_h1), "{}", kept.text());
    // The organisation publishes below its claim; a logged path@version keeps its hashes.
    assert_eq!(upload("golang.org/x", "v0.0.1").status, 201);
    assert_eq!(upload("golang.org/x/text", "v1.2.0").status, 201);
    let r = upload("golang.org/x/text", "v1.0.0");
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.text().contains(&text_h1), "{r:?}");
    assert_eq!(up.requests().len(), asked_before, "{:?}", up.requests());
}

/// Issue 26, "Bounded": an admin may give a signed-in user a lookup budget of their own
/// (`goshelf user lookup-budget`); it is charged to the user, not the address, and `default`
/// gives the setting back.
#[test]
fn an_admin_sets_one_users_lookup_budget() {
    let up = upstream_db::Upstream::start();
    for i in 0..8 {
        up.publish(&dep(&format!("public.example/u{i}")));
    }
    let server = shelf_with(&up, &["--sumdb-lookup-budget", "2"]);
    let name = log_name(&vkey(&server));
    server.add_user("ci", "ci password 1234");
    let lookup = |auth: &Auth, i: usize| {
        http::curl(
            auth,
            &[&format!(
                "{}/sumdb/{name}/lookup/public.example/u{i}@v1.0.0",
                server.url()
            )],
        )
        .status
    };
    let ci = Auth::Basic("ci", "ci password 1234");
    // Only an admin sets budgets.
    let r = http::curl(
        &ci,
        &[
            "-X",
            "PUT",
            "--data-binary",
            r#"{"lookup_budget":100}"#,
            &format!("{}/api/v1/users/ci/lookup-budget", server.url()),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    let out = goshelf_cli(&server, &["user", "lookup-budget", "ci", "4"]);
    assert!(out.status.success(), "{out:?}");
    let statuses: Vec<u16> = (0..5).map(|i| lookup(&ci, i)).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 503]);
    // The address the user came from still has its own (default) budget.
    let anon: Vec<u16> = (5..8).map(|i| lookup(&Auth::None, i)).collect();
    assert_eq!(anon, [200, 200, 503]);
    let listed = goshelf_cli(&server, &["user", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let row = listed.lines().find(|l| l.starts_with("ci ")).unwrap_or("");
    assert!(row.ends_with(" 4/hour"), "{listed}");
    // Back to the setting: the 4 records of this hour are over it.
    let out = goshelf_cli(&server, &["user", "lookup-budget", "ci", "default"]);
    assert!(out.status.success(), "{out:?}");
    up.publish(&dep("public.example/u8"));
    assert_eq!(lookup(&ci, 8), 503);
    let bad = goshelf_cli(&server, &["user", "lookup-budget", "ci", "lots"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`default`"),
        "{bad:?}"
    );
}

/// Issue 26, "Records are forever": an older copy of the file restored is noticed through
/// `<db>.sumdb-head` (every URL of the log answers 503, the log says why) until `goshelf
/// sumdb rotate` gives the log a new name, which a fresh client then verifies.
fn an_older_backup_restored_is_503_until_rotated(go: Go) {
    go.bin();
    let mut server = TestServer::start();
    let a = server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let name = log_name(&vkey(&server));
    assert_eq!(log_size(&server, &name), 1);
    assert!(server.terminate().success());
    let backup = server.dir().join("backup.redb");
    std::fs::copy(server.db_path(), &backup).unwrap();
    server.restart();
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.1.0"),
    );
    assert_eq!(log_size(&server, &name), 2);
    assert!(server.terminate().success());
    std::fs::copy(&backup, server.db_path()).unwrap();
    server.restart();
    for path in [
        "supported",
        "latest",
        "lookup/example.com/tool@v1.0.0",
        "tile/8/0/000.p/1",
    ] {
        let r = get(&server, &format!("/sumdb/{name}/{path}"));
        assert_eq!(r.status, 503, "{path}: {r:?}");
        assert!(r.text().contains("goshelf sumdb rotate --name"), "{r:?}");
    }
    assert!(
        server
            .stderr_log()
            .contains("holds 1 records but published 2"),
        "{}",
        server.stderr_log()
    );
    assert!(server.terminate().success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["sumdb", "rotate", "--name", "shelf.test/sumdb/2"])
        .args(["--db", server.db_path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    let new_key = printed.trim().strip_prefix("GOSUMDB=").unwrap().to_owned();
    assert!(new_key.starts_with("shelf.test/sumdb/2+"), "{new_key}");
    server.restart();
    assert_eq!(vkey(&server), new_key);
    assert_eq!(log_size(&server, "shelf.test/sumdb/2"), 1);
    let env = verifying_env(go, &server, &new_key);
    assert_sums(&download_json(&env, "example.com/tool@v1.0.0"), &a);
}

for_each_go!(an_older_backup_restored_is_503_until_rotated);

/// A curl GET from a chosen loopback address.
fn get_from(server: &TestServer, from: &str, path: &str) -> http::Response {
    http::curl(
        &Auth::None,
        &["--interface", from, &format!("{}{path}", server.url())],
    )
}

/// Issue 26, "Bounded": one address past its budget gets 503 (with the reason, a metric and a
/// log line) and appends nothing more, while another address, and then a go client, are
/// still served; past the global cap, everyone gets 503.
fn lookup_budgets_bound_what_one_requester_appends(go: Go) {
    go.bin();
    let up = upstream_db::Upstream::start();
    for i in 0..12 {
        up.publish(&dep(&format!("public.example/b{i}")));
    }
    let (dep_h1, _) = up.publish(&dep("public.example/dep"));
    let server = shelf_with(&up, &["--sumdb-lookup-budget", "5"]);
    let key = vkey(&server);
    let name = log_name(&key);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let r = get_from(
            &server,
            "127.0.0.2",
            &format!("/sumdb/{name}/lookup/public.example/b{i}@v1.0.0"),
        );
        statuses.push(r.status);
        if r.status == 503 {
            assert!(r.text().contains("sumdb_lookup_budget"), "{r:?}");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 503, 503, 503, 503, 503]);
    assert_eq!(log_size(&server, &name), 5);
    // A record already in the log costs nothing: still answered.
    let r = get_from(
        &server,
        "127.0.0.2",
        &format!("/sumdb/{name}/lookup/public.example/b0@v1.0.0"),
    );
    assert_eq!(r.status, 200);
    // Another address has its own budget.
    let r = get_from(
        &server,
        "127.0.0.3",
        &format!("/sumdb/{name}/lookup/public.example/b10@v1.0.0"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let metrics = get(&server, "/metrics").text();
    assert!(
        metrics.contains("goshelf_sumdb_lookups_refused_total{reason=\"budget\"} 5"),
        "{metrics}"
    );
    // A go client from 127.0.0.1 verifies a public dependency meanwhile.
    let mut env = verifying_env(go, &server, &key);
    env.set_env(
        "GOPROXY",
        &format!("{},{}", server.base(OWNER), up.proxy_url()),
    );
    let json = download_json(&env, "public.example/dep@v1.0.0");
    assert_eq!(json["Sum"], dep_h1.as_str());

    // The global cap: 7 records from upstream so far.
    let capped = shelf_with(&up, &["--sumdb-upstream-max-records", "1"]);
    let cname = log_name(&vkey(&capped));
    let r = get(
        &capped,
        &format!("/sumdb/{cname}/lookup/public.example/b0@v1.0.0"),
    );
    assert_eq!(r.status, 200);
    let r = get(
        &capped,
        &format!("/sumdb/{cname}/lookup/public.example/b1@v1.0.0"),
    );
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.text().contains("sumdb_upstream_max_records"), "{r:?}");
}

for_each_go!(lookup_budgets_bound_what_one_requester_appends);

/// Issue 26, "Operations": a backup carries the log and its key: a server started on it has
/// the same name, key, records and signed head.
#[test]
fn a_backup_carries_the_log_and_its_key() {
    let mut server = TestServer::start();
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let key = vkey(&server);
    let name = log_name(&key);
    let lookup = format!("/sumdb/{name}/lookup/example.com/tool@v1.0.0");
    let before = get(&server, &lookup);
    assert_eq!(before.status, 200);
    let out = server.dir().join("backup.redb");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["backup", out.to_str().unwrap(), "--server", server.url()])
        .env("GOSHELF_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(server.terminate().success());
    std::fs::copy(&out, server.db_path()).unwrap();
    server.restart();
    assert_eq!(vkey(&server), key);
    let after = get(&server, &lookup);
    assert_eq!((after.status, after.body), (200, before.body));
}

fn goshelf_cli(server: &TestServer, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(args)
        .args(["--server", server.url()])
        .env("GOSHELF_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap()
}

/// Issue 26, "Private stays invisible": every path of a private namespace matches a `private`
/// pattern. On a fresh shelf with default settings README's flow (`goshelf org add NAME
/// --private --pattern P`) gives 201; an uncovered path, or a visibility change that would
/// uncover one, is 409 with the admin's command.
#[test]
fn private_namespaces_hold_only_paths_their_patterns_cover() {
    let server = TestServer::start_with(&[], &[("GOSHELF_PRIVATE", "")]);
    let out = goshelf_cli(
        &server,
        &[
            "org",
            "add",
            "secret",
            "--private",
            "--pattern",
            "corp.example.com",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let lib = |path: &str| {
        ModZip::new(path, "v1.0.0").file("go.mod", format!("module {path}\n").as_bytes())
    };
    server.upload("secret", &lib("corp.example.com/lib"));
    let r = server.upload_bytes("secret", &lib("elsewhere.example/lib").bytes());
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.text().contains("goshelf private add elsewhere.example"),
        "{r:?}"
    );
    // A public organisation made private: refused until its paths are covered.
    server.upload("team", &lib("team.example/lib"));
    let set_private = || {
        http::curl(
            &Auth::Bearer(ADMIN_TOKEN),
            &[
                "-X",
                "PATCH",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                r#"{"visibility":"private"}"#,
                &format!("{}/api/v1/owners/team", server.url()),
            ],
        )
    };
    let r = set_private();
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.text().contains("goshelf private add team.example"),
        "{r:?}"
    );
    assert!(goshelf_cli(&server, &["private", "add", "team.example"])
        .status
        .success());
    assert_eq!(set_private().status, 204);
    let listed = goshelf_cli(&server, &["private", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "corp.example.com\nteam.example\n"
    );
}

/// Issue 26, "Bounded": at most `upstream_concurrency` lookups are at the upstream at once;
/// another waits its turn up to `upstream_queue_timeout`, then gets 503 saying so.
#[test]
fn upstream_lookups_wait_their_turn_then_get_503() {
    let up = upstream_db::Upstream::start();
    for i in 0..3 {
        up.publish(&dep(&format!("public.example/q{i}")));
    }
    let server = shelf_with(
        &up,
        &[
            "--upstream-concurrency",
            "1",
            "--upstream-queue-timeout",
            "1",
        ],
    );
    let name = log_name(&vkey(&server));
    up.lie(Lie::Slow);
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (server, name) = (&server, &name);
                s.spawn(move || {
                    let r = lookup_status(server, name, &format!("public.example/q{i}@v1.0.0"));
                    (r.status, r.text())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut codes: Vec<u16> = statuses.iter().map(|(c, _)| *c).collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 503], "{statuses:?}");
    let busy = statuses.iter().find(|(c, _)| *c == 503).unwrap();
    assert!(busy.1.contains("busy"), "{busy:?}");
    up.lie(Lie::None);
    assert_eq!(
        lookup_status(&server, &name, "public.example/q2@v1.0.0").status,
        200
    );
}

/// The stored upstream head never goes backwards, even if an older verified tree were
/// offered after a newer one (the store's own guard, beneath the verifier's).
#[test]
fn the_stored_upstream_head_never_goes_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let store = goshelf::store::Store::open(&dir.path().join("g.redb")).unwrap();
    store
        .sumdb_open(
            None,
            "shelf.test/sumdb",
            [7; 32],
            goshelf::store::sumdb::Readers::Anyone,
        )
        .unwrap();
    let signer = goshelf::sumdb::Signer::parse(upstream_db::SKEY).unwrap();
    let note = |n: u64| {
        let text = goshelf::sumdb::format_tree(&goshelf::sumdb::Tree {
            n,
            hash: [n as u8; 32],
        });
        goshelf::sumdb::sign(&text, &[&signer]).unwrap()
    };
    let h1 = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for (i, n) in [(0, 5u64), (1, 3)] {
        store
            .sumdb_append_upstream(
                &format!("public.example/h{i}"),
                "v1.0.0",
                (h1, h1),
                "localhost.localdev/sumdb",
                Some((n, note(n).as_bytes())),
                &[],
            )
            .unwrap();
    }
    let (tree, _) = store
        .sumdb_upstream_head("localhost.localdev/sumdb")
        .unwrap()
        .unwrap();
    assert_eq!(tree.n, 5);
    assert_eq!(store.sumdb_upstream_records().unwrap(), 2);
}
