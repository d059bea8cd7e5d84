//! The pull-through cache behind `/go` (issue 27): public modules fetched from an upstream
//! proxy on a miss, only what was asked, verified against the upstream checksum database,
//! kept, and served when the upstream is gone; the shelf's own paths never asked upstream.
//! The upstream is `support::upstream` (a GOPROXY tree and a checksum database signing it
//! with x/mod's test key, recording every request); tests never reach the internet.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::upstream::{Lie, Upstream};
use crate::support::{Go, GoEnv, ModZip, TestServer};

fn vkey(server: &TestServer) -> String {
    http::get(&format!("{}/sumdb-key", server.url()))
        .text()
        .trim()
        .to_owned()
}

fn org(server: &TestServer, name: &str) {
    http::admin(
        server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": name, "visibility": "public"})),
        201,
    );
}

/// A module with one package at `pkg` (relative to its root) whose `Name` returns `name`.
fn module(path: &str, version: &str, pkg: &str, name: &str, go_mod: bool) -> ModZip {
    let file = if pkg.is_empty() {
        "p.go".to_owned()
    } else {
        format!("{pkg}/p.go")
    };
    let package = pkg
        .rsplit('/')
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("p");
    let zip = ModZip::new(path, version).file(
        &file,
        format!("package {package}\n\nfunc Name() string {{ return \"{name}\" }}\n").as_bytes(),
    );
    if go_mod {
        zip.file("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes())
    } else {
        zip
    }
}

/// A shelf fetching from `up`, verifying against its checksum database, with `args`.
fn shelf(up: &Upstream, args: &[&str], env: &[(&str, &str)]) -> TestServer {
    let mut all = vec![
        ("GOSHELF_UPSTREAM_SUMDB", up.setting()),
        ("GOSHELF_UPSTREAM", up.proxy_url()),
        ("GOSHELF_UPSTREAM_TIMEOUT", "5".to_owned()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestServer::start_with(args, &refs)
}

fn get(server: &TestServer, path: &str) -> http::Response {
    http::curl(&Auth::None, &[&format!("{}{path}", server.url())])
}

const PSEUDO: &str = "v0.0.0-20240102030405-abcdefabcdef";

/// What the go command asks of a module at `/go`: its `list` and `@latest`, and v1.0.0's
/// `.info`, `.mod` and `.zip`.
const TAILS: [&str; 5] = [
    "@v/list",
    "@latest",
    "@v/v1.0.0.info",
    "@v/v1.0.0.mod",
    "@v/v1.0.0.zip",
];

/// The upstream modules of the build: an uppercase path, a `+incompatible` version (no
/// go.mod), one with only a pseudo-version, and one whose package is two directories below
/// its root.
fn publish_public(up: &Upstream) {
    up.grow(50, "before");
    up.publish(&module(
        "public.example/Upper/Kit",
        "v1.2.0",
        "",
        "kit",
        true,
    ));
    up.publish(&module(
        "public.example/old",
        "v2.0.0+incompatible",
        "",
        "old",
        false,
    ));
    up.publish(&module("public.example/pseudo", PSEUDO, "", "pseudo", true));
    up.publish(&module(
        "public.example/deep",
        "v1.0.0",
        "a/b",
        "deep",
        true,
    ));
    up.grow(10, "after");
}

fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("go.mod"),
        format!(
            "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/hosted v1.0.0\n\t\
             public.example/Upper/Kit v1.2.0\n\tpublic.example/old v2.0.0+incompatible\n\t\
             public.example/pseudo {PSEUDO}\n\tpublic.example/deep v1.0.0\n)\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\thosted \"example.com/hosted\"\n\t\
         kit \"public.example/Upper/Kit\"\n\t\"public.example/deep/a/b\"\n\t\
         old \"public.example/old\"\n\tpseudo \"public.example/pseudo\"\n)\n\n\
         func main() {\n\tfmt.Println(hosted.Name(), kit.Name(), old.Name(), pseudo.Name(), \
         b.Name())\n}\n",
    )
    .unwrap();
}

fn env_for(go: Go, server: &TestServer, key: &str) -> GoEnv {
    let mut env = GoEnv::new(go, &format!("{}/go", server.url()));
    env.set_env("GONOSUMDB", "");
    env.set_env("GOPRIVATE", "");
    env.set_env("GOSUMDB", key);
    env
}

fn builds_through_a_cold_shelf_and_then_without_the_upstream(go: Go) {
    go.bin();
    let up = Upstream::start();
    publish_public(&up);
    let server = shelf(&up, &[], &[]);
    org(&server, "acme");
    server.upload(
        "acme",
        &module("example.com/hosted", "v1.0.0", "", "hosted", true),
    );
    let key = vkey(&server);

    let env = env_for(go, &server, &key);
    let app = env.empty_dir("app");
    write_app(&app);
    // Only what was asked: the module graph needs `.mod` files, no zip.
    env.run(&["mod", "graph"], &app);
    assert_eq!(up.count(".zip"), 0, "{:?}", up.requests());
    assert_eq!(
        up.count("example.com/hosted"),
        0,
        "hosted paths never go upstream"
    );
    env.run(&["mod", "tidy"], &app);
    let out = env.run(&["run", "."], &app);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hosted kit old pseudo deep\n"
    );
    let zips = up.count(".zip");
    assert_eq!(zips, 4, "each zip fetched once: {:?}", up.requests());

    // The upstream gone: a fresh GOPATH builds from the shelf alone, verifying go.sum.
    up.lie(Lie::Down);
    let offline = env_for(go, &server, &key);
    let again = offline.empty_dir("app");
    write_app(&again);
    std::fs::copy(app.join("go.sum"), again.join("go.sum")).unwrap();
    let out = offline.run(&["run", "."], &again);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hosted kit old pseudo deep\n"
    );
    // `go get` of a package two directories below a cached module's root: the never-seen
    // prefixes (`.../deep/a/b`, `.../deep/a`) answer 404, so the search goes on.
    let getter = offline.empty_dir("getter");
    offline.run(&["mod", "init", "example.com/getter"], &getter);
    offline.run(&["get", "public.example/deep/a/b@v1.0.0"], &getter);
    // ... and `go mod tidy` of an import without a version: the list comes from the cache.
    std::fs::write(
        getter.join("main.go"),
        "package main\n\nimport \"public.example/deep/a/b\"\n\nfunc main() { println(b.Name()) }\n",
    )
    .unwrap();
    offline.run(&["mod", "tidy"], &getter);
    assert_eq!(up.count(".zip"), zips, "nothing fetched again");
    // A client that keeps the upstream's own checksum database verifies through the shelf's
    // proxy of it: the lookups and tiles the shelf's verification kept.
    let mut upstream_db = GoEnv::new(go, &format!("{}/go", server.url()));
    upstream_db.set_env("GONOSUMDB", "");
    upstream_db.set_env("GOPRIVATE", "");
    upstream_db.set_env("GOSUMDB", crate::support::upstream::VKEY);
    let third = upstream_db.empty_dir("third");
    upstream_db.run(&["mod", "init", "example.com/third"], &third);
    upstream_db.run(&["get", "public.example/deep/a/b@v1.0.0"], &third);
    let sum = std::fs::read_to_string(third.join("go.sum")).unwrap();
    assert!(sum.contains("public.example/deep v1.0.0 h1:"), "{sum}");
    // The shelf's file checks out, cached versions included.
    let verify = crate::support::stress::goshelf(
        &["verify", "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
        Duration::from_secs(120),
    );
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(
        report.contains("5 versions") && report.contains("verify: OK"),
        "{report}"
    );
}

for_each_go!(builds_through_a_cold_shelf_and_then_without_the_upstream);

#[test]
fn a_zip_that_differs_from_the_log_is_refused_and_nothing_is_kept() {
    let up = Upstream::start();
    up.publish(&module("public.example/evil", "v1.0.0", "", "honest", true));
    // The proxy now serves other bytes than the log records.
    let forged = module("public.example/evil", "v1.0.0", "", "forged", true);
    up.set_file("public.example/evil/@v/v1.0.0.zip", forged.bytes());
    let server = shelf(&up, &[], &[]);
    let info = get(&server, "/go/public.example/evil/@v/v1.0.0.info");
    assert_eq!(info.status, 200, "{}", info.text());
    for _ in 0..2 {
        let zip = get(&server, "/go/public.example/evil/@v/v1.0.0.zip");
        assert_eq!(zip.status, 502, "{}", zip.text());
        assert!(
            zip.text().contains("checksum database says"),
            "{}",
            zip.text()
        );
        assert_eq!(
            zip.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    assert_eq!(up.count("evil/@v/v1.0.0.zip"), 2, "refused, so asked again");
    assert!(
        server.stderr_log().contains("SECURITY"),
        "{}",
        server.stderr_log()
    );
    assert_eq!(
        metric_values(&server)["goshelf_pull_verification_failures_total"],
        2
    );
    // A real client fails too.
    let env = env_for(Go::V1_27, &server, &vkey(&server));
    let dir = env.empty_dir("evil");
    env.run(&["mod", "init", "example.com/e"], &dir);
    let failed = env.run_expect_fail(&["get", "public.example/evil@v1.0.0"], &dir);
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("502"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}

#[test]
fn a_go_mod_that_differs_from_the_log_is_refused() {
    let up = Upstream::start();
    up.publish(&module("public.example/modlie", "v1.0.0", "", "x", true));
    up.set_file(
        "public.example/modlie/@v/v1.0.0.mod",
        b"module public.example/modlie\n\nrequire evil.example/x v1.0.0\n".to_vec(),
    );
    let server = shelf(&up, &[], &[]);
    let m = get(&server, "/go/public.example/modlie/@v/v1.0.0.mod");
    assert_eq!(m.status, 502, "{}", m.text());
    assert!(m.text().contains("go.mod hashes to"), "{}", m.text());
    // Nothing was kept: the next request asks again.
    get(&server, "/go/public.example/modlie/@v/v1.0.0.mod");
    assert_eq!(up.count("modlie/@v/v1.0.0.mod"), 2);
}

#[test]
fn a_forked_upstream_log_is_refused() {
    let up = Upstream::start();
    up.publish(&module("public.example/first", "v1.0.0", "", "x", true));
    up.publish(&module("public.example/second", "v1.0.0", "", "y", true));
    let server = shelf(&up, &[], &[]);
    assert_eq!(
        get(&server, "/go/public.example/first/@v/v1.0.0.mod").status,
        200
    );
    up.lie(Lie::Fork);
    let m = get(&server, "/go/public.example/second/@v/v1.0.0.mod");
    assert_eq!(m.status, 502, "{}", m.text());
    assert!(server.stderr_log().contains("SECURITY"));
}

#[test]
fn upstream_failures_keep_the_prefix_search_going_and_serve_stale_lists() {
    let up = Upstream::start();
    up.publish(&module("public.example/lib", "v1.0.0", "", "x", true));
    up.publish(&module("public.example/lib", "v1.1.0", "", "x", true));
    up.publish(&module("public.example/lib", "v1.2.0", "", "x", true));
    let server = shelf(&up, &[], &[("GOSHELF_LIST_TTL", "1")]);
    let all = "v1.0.0\nv1.1.0\nv1.2.0\n";
    let list = get(&server, "/go/public.example/lib/@v/list");
    assert_eq!((list.status, list.text()), (200, all.into()));
    assert_eq!(list.header("cache-control"), Some("public, max-age=1"));
    let latest = get(&server, "/go/public.example/lib/@latest");
    assert_eq!(latest.status, 200);
    assert!(latest.text().contains("v1.2.0"), "{}", latest.text());
    assert_eq!(
        get(&server, "/go/public.example/lib/@v/v1.0.0.mod").status,
        200
    );

    up.lie(Lie::Down);
    std::thread::sleep(Duration::from_millis(1200));
    let asked = up.count("lib/@v/list");
    let stale = get(&server, "/go/public.example/lib/@v/list");
    assert_eq!((stale.status, stale.text()), (200, all.into()));
    assert!(
        up.count("lib/@v/list") > asked,
        "the list was asked again after list_ttl"
    );
    assert_eq!(get(&server, "/go/public.example/lib/@latest").status, 200);
    // A cached version is served; an uncached one of a known module is a 502.
    assert_eq!(
        get(&server, "/go/public.example/lib/@v/v1.0.0.info").status,
        200
    );
    let uncached = get(&server, "/go/public.example/lib/@v/v1.1.0.info");
    assert_eq!(uncached.status, 502, "{}", uncached.text());
    // A never-seen path: 404 (no-store) for list, @latest and .info, saying why; 502 for
    // .mod and .zip.
    for tail in ["@v/list", "@latest", "@v/v1.0.0.info"] {
        let r = get(&server, &format!("/go/public.example/never/{tail}"));
        assert_eq!(r.status, 404, "{tail}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{tail}");
        assert!(
            r.text().starts_with("upstream unavailable: "),
            "{tail}: {}",
            r.text()
        );
    }
    for tail in ["@v/v1.0.0.mod", "@v/v1.0.0.zip"] {
        let r = get(&server, &format!("/go/public.example/never/{tail}"));
        assert_eq!(r.status, 502, "{tail}: {}", r.text());
        assert!(r.text().contains("503"), "{tail}: {}", r.text());
    }
    // Back up: answers are fresh again.
    up.lie(Lie::None);
    let r = get(&server, "/go/public.example/lib/@v/v1.1.0.info");
    assert_eq!(r.status, 200, "{}", r.text());
    let m = metric_values(&server);
    assert!(m["goshelf_pull_stale_answers_total"] >= 2, "{m:?}");
    assert!(m["goshelf_pull_hits_total"] >= 1, "{m:?}");
    assert!(m["goshelf_pull_misses_total"] >= 2, "{m:?}");
}

/// The unlabelled counters of `/metrics`.
fn metric_values(server: &TestServer) -> std::collections::HashMap<String, u64> {
    get(server, "/metrics")
        .text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains('{'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn a_hanging_upstream_is_answered_within_upstream_timeout() {
    let up = Upstream::start();
    let server = shelf(&up, &[], &[("GOSHELF_UPSTREAM_TIMEOUT", "2")]);
    up.lie(Lie::Hang);
    let t = Instant::now();
    let r = get(&server, "/go/public.example/slow/@v/v1.0.0.mod");
    let took = t.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(took < Duration::from_secs(6), "{took:?}");
    let t = Instant::now();
    let r = get(&server, "/go/public.example/slow/@v/list");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(6));
}

#[test]
fn oversize_upstream_answers_are_refused() {
    let up = Upstream::start();
    up.publish(&module("public.example/big", "v1.0.0", "", "x", true));
    let mut info = br#"{"Version":"v1.0.0","Pad":""#.to_vec();
    info.extend(std::iter::repeat_n(b'x', 70 << 10));
    info.extend_from_slice(b"\"}");
    up.set_file("public.example/big/@v/v1.0.0.info", info);
    let server = shelf(&up, &[], &[]);
    let r = get(&server, "/go/public.example/big/@v/v1.0.0.info");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("larger than the limit of 65536 bytes"),
        "{}",
        r.text()
    );
    let r = get(&server, "/go/public.example/big/@v/v1.0.0.mod");
    assert_eq!(r.status, 502, "{}", r.text());
}

#[test]
fn the_shelfs_own_paths_never_go_upstream() {
    let up = Upstream::start();
    // What the upstream offers: higher versions of a hosted path, its /v2, a nested module,
    // a private-pattern path, and the real gin.
    for (path, version) in [
        ("acme.test/lib", "v1.5.0"),
        ("acme.test/lib/v2", "v2.0.0"),
        ("acme.test/lib/sub", "v1.0.0"),
        ("git.internal/x", "v1.0.0"),
        ("github.com/gin-gonic/gin", "v1.9.1"),
    ] {
        up.publish(&module(path, version, "", "upstream", true));
    }
    let server = shelf(&up, &[], &[("GOSHELF_PRIVATE", "example.com,*.internal")]);
    org(&server, "acme");
    server.upload(
        "acme",
        &module("acme.test/lib", "v1.0.0", "", "hosted", true),
    );
    // A user squats a public path (and a prefix of one) in a personal namespace.
    server.add_user("bob", "bob password 123");
    server.upload(
        "bob",
        &module("github.com/gin-gonic/gin", "v1.99.0", "", "squat", true),
    );
    server.upload("bob", &module("golang.org/x", "v0.0.1", "", "squat", true));

    let hosted = get(&server, "/go/acme.test/lib/@v/list");
    assert_eq!((hosted.status, hosted.text()), (200, "v1.0.0\n".into()));
    for path in [
        "acme.test/lib/v2",
        "acme.test/lib/sub",
        "acme.test",
        "git.internal/x",
    ] {
        for tail in [
            "@v/list",
            "@latest",
            "@v/v1.5.0.info",
            "@v/v1.0.0.mod",
            "@v/v1.0.0.zip",
        ] {
            let r = get(&server, &format!("/go/{path}/{tail}"));
            assert_eq!(
                (r.status, r.text()),
                (404, format!("unknown module {path}\n")),
                "{path}/{tail}"
            );
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
    let v = get(&server, "/go/acme.test/lib/@v/v1.5.0.info");
    assert_eq!(v.status, 404, "{}", v.text());
    // The squatter changes nothing: gin comes from upstream.
    let gin = get(&server, "/go/github.com/gin-gonic/gin/@v/list");
    assert_eq!((gin.status, gin.text()), (200, "v1.9.1\n".into()));
    assert_eq!(
        get(&server, "/go/github.com/gin-gonic/gin/@v/v1.99.0.info").status,
        404
    );
    assert_eq!(
        get(&server, "/go/github.com/gin-gonic/gin/@v/v1.9.1.mod").status,
        200
    );
    let requests = up.requests();
    for needle in ["acme.test", "internal"] {
        assert!(
            !requests.iter().any(|r| r.contains(needle)),
            "{needle} went upstream: {requests:?}"
        );
    }

    // A build that imports them gets none from upstream.
    let env = env_for(Go::V1_27, &server, &vkey(&server));
    let dir = env.empty_dir("confused");
    env.run(&["mod", "init", "example.com/confused"], &dir);
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport _ \"acme.test/lib/sub\"\n\nfunc main() {}\n",
    )
    .unwrap();
    env.run_expect_fail(&["mod", "tidy"], &dir);
    assert!(
        !up.requests().iter().any(|r| r.contains("acme.test")),
        "{:?}",
        up.requests()
    );
}

#[test]
fn without_an_upstream_misses_say_so() {
    let server = TestServer::start();
    let r = get(&server, "/go/public.example/x/@v/list");
    assert_eq!(
        (r.status, r.text()),
        (
            404,
            "unknown module public.example/x: not cached (no upstream configured)\n".into()
        )
    );
    let up = Upstream::start();
    let offline = shelf(&up, &["--offline"], &[]);
    let r = get(&offline, "/go/public.example/x/@v/v1.0.0.mod");
    assert_eq!(
        (r.status, r.text()),
        (
            404,
            "unknown module public.example/x: not cached (offline)\n".into()
        )
    );
    assert!(up.requests().is_empty());
}

#[test]
fn fifty_clients_asking_for_one_uncached_zip_make_one_fetch() {
    let up = Upstream::start();
    let data = crate::support::incompressible("single flight", 20 << 20);
    let zip = module("public.example/large", "v1.0.0", "", "large", true)
        .stored()
        .file("blob.bin", &data);
    up.publish(&zip);
    let server = shelf(&up, &[], &[]);
    let url = format!("{}/go/public.example/large/@v/v1.0.0.zip", server.url());
    let rss = |field: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    };
    let idle_kib = rss("VmRSS:");
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                s.spawn(|| {
                    let out = std::process::Command::new("curl")
                        .args(["-s", "-o", "-", "-w", "%{http_code}", &url])
                        .output()
                        .unwrap();
                    out.stdout
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let want = zip.bytes();
    for a in &answers {
        let (body, code) = a.split_at(a.len() - 3);
        assert_eq!(code, b"200");
        assert!(body == want.as_slice(), "every answer is the zip");
    }
    assert_eq!(up.count("large/@v/v1.0.0.zip"), 1, "{:?}", up.requests());
    assert_eq!(up.count("large/@v/v1.0.0.info"), 1);
    let m = metric_values(&server);
    assert_eq!(m["goshelf_pull_upstream_requests_total"], 3, "{m:?}");
    assert!(m["goshelf_pull_upstream_bytes_total"] > 20 << 20, "{m:?}");
    // The peak over the idle server's own size: a release build idles at 12 MiB (a debug
    // build, which tests run, at 27), so the release server stays under 64 MiB in all
    // (measured: 41 MiB peak, answered from the spool while it is stored; 51 MiB when the
    // clients waited for the store; README "Limits").
    let hwm_kib = rss("VmHWM:");
    eprintln!("idle {idle_kib} KiB, peak {hwm_kib} KiB");
    assert!(
        hwm_kib - idle_kib < 48 << 10,
        "peak RSS {hwm_kib} KiB, idle {idle_kib} KiB"
    );
}

/// Six modules `public.example/<tag>N` published with 300 records between two: each
/// record in its own level-0 tile, as a build's modules lie in sum.golang.org's tree.
fn far_apart(up: &Upstream, tag: &str) -> Vec<ModZip> {
    (0..6)
        .map(|i| {
            up.grow(300, &format!("{tag}-gap{i}"));
            let m = module(&format!("public.example/{tag}{i}"), "v1.0.0", "", tag, true);
            up.publish(&m);
            m
        })
        .collect()
}

/// A checksum database across the internet answers each tile a round trip late. Cold
/// `.mod` misses of modules whose records lie in different tiles verify at once, each
/// fetching the tiles it lacks together: the misses take about one round trip of tiles, not
/// one per tile of every module in turn. Until 2026-12-07 verifications ran one at a time
/// with their tiles fetched one after another: six misses here took 3.5 s (seven tiles in
/// turn); now 0.56 s (the tiles of each at once, all six verifications together).
#[test]
fn lookups_of_a_distant_checksum_database_fetch_their_tiles_at_once() {
    const DELAY: Duration = Duration::from_millis(500);
    let up = Upstream::start();
    let modules = far_apart(&up, "far");
    // Turns enough for every request of the six at once (each miss asks three answers
    // and its tiles): the round trips measured are the verifications', not a queue's.
    let server = shelf(&up, &[], &[("GOSHELF_UPSTREAM_CONCURRENCY", "48")]);
    up.delay_tiles(DELAY);
    let start = Instant::now();
    let answers: Vec<(u16, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = modules
            .iter()
            .map(|m| {
                let url = format!("/go/{}/@v/v1.0.0.mod", m.path());
                let server = &server;
                s.spawn(move || {
                    let r = get(server, &url);
                    (r.status, r.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = start.elapsed();
    for (m, (status, body)) in modules.iter().zip(&answers) {
        assert_eq!(
            *status,
            200,
            "{}: {}",
            m.path(),
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            String::from_utf8_lossy(body),
            format!("module {}\n\ngo 1.19\n", m.path())
        );
    }
    let tiles = up.count("/tile/");
    eprintln!("six cold .mod misses: {took:?}, {tiles} tile requests");
    assert!(
        tiles >= 6,
        "each record's own tile was fetched: {:?}",
        up.requests()
    );
    assert!(
        took < DELAY * 4,
        "six misses took {took:?}: their tiles were fetched one round trip at a time"
    );
    // Verified as before: every record is in the shelf's log, each lookup answered by it.
    let name = vkey(&server).split('+').next().unwrap().to_owned();
    for m in &modules {
        let r = get(
            &server,
            &format!("/go/sumdb/{name}/lookup/{}@v1.0.0", m.path()),
        );
        assert_eq!(r.status, 200, "{}: {}", m.path(), r.text());
        assert!(r
            .text()
            .contains(&format!("{} v1.0.0/go.mod h1:", m.path())));
    }
}

/// Tiles fetched at once take turns of `upstream_concurrency` like every other upstream
/// request: with two turns, six cold misses whose tiles the upstream answers late never have
/// more than two requests at the upstream, and all are answered.
#[test]
fn tiles_fetched_at_once_stay_within_upstream_concurrency() {
    let up = Upstream::start();
    let modules = far_apart(&up, "turn");
    let server = shelf(&up, &[], &[("GOSHELF_UPSTREAM_CONCURRENCY", "2")]);
    up.delay_tiles(Duration::from_millis(200));
    std::thread::scope(|s| {
        for m in &modules {
            let server = &server;
            s.spawn(move || {
                let r = get(server, &format!("/go/{}/@v/v1.0.0.mod", m.path()));
                assert_eq!(r.status, 200, "{}: {}", m.path(), r.text());
            });
        }
    });
    assert!(up.count("/tile/") >= 6, "{:?}", up.requests());
    assert_eq!(up.max_in_flight(), 2, "at most two at once, and two were");
}

/// Tiles a verification authenticated are kept in the file: after a restart (nothing held in
/// memory) a miss whose proof needs the same tiles fetches none of them again.
#[test]
fn kept_tiles_are_not_fetched_again_after_a_restart() {
    let up = Upstream::start();
    up.grow(40, "before");
    let (a, b) = (
        module("public.example/kept/a", "v1.0.0", "", "a", true),
        module("public.example/kept/b", "v1.0.0", "", "b", true),
    );
    up.publish(&a);
    up.publish(&b);
    up.grow(10, "after");
    let mut server = shelf(&up, &[], &[]);
    let first = get(&server, "/go/public.example/kept/a/@v/v1.0.0.mod");
    assert_eq!(first.status, 200, "{}", first.text());
    let tiles = up.count("/tile/");
    assert!(tiles > 0, "{:?}", up.requests());
    server.restart();
    // b's record shares a's tiles, and the tree is the same.
    let second = get(&server, "/go/public.example/kept/b/@v/v1.0.0.mod");
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        up.count("lookup/public.example/kept/b@"),
        1,
        "b was looked up"
    );
    assert_eq!(
        up.count("/tile/"),
        tiles,
        "no tile fetched again: {:?}",
        up.requests()
    );
}

/// A lookup signed with an older tree than the one the shelf holds (a stale cache in front
/// of the checksum database) is proven in that older tree, whose partial tiles the upstream
/// no longer serves: the shelf cuts them from the full tiles, as the go command does.
#[test]
fn partial_tiles_the_upstream_no_longer_serves_are_cut_from_full_ones() {
    let up = Upstream::start();
    up.grow(20, "before");
    let old = module("public.example/cut/old", "v1.0.0", "", "old", true);
    up.publish(&old);
    up.grow(779, "middle");
    let new = module("public.example/cut/new", "v1.0.0", "", "new", true);
    up.publish(&new);
    up.grow(500, "after");
    let server = shelf(&up, &[], &[]);
    // The newest tree (1,301 records) is stored with the first record fetched, whose own
    // tile is the fourth (the tiles kept hold nothing of the third).
    let first = get(&server, "/go/public.example/cut/new/@v/v1.0.0.mod");
    assert_eq!(first.status, 200, "{}", first.text());
    // The old module's lookup comes signed with the tree of its first 600 records: its
    // right edge is partial tile 2 (88 hashes), which only exists full upstream now.
    up.stale_lookups_without_partial_tiles(600);
    let second = get(&server, "/go/public.example/cut/old/@v/v1.0.0.mod");
    assert_eq!(second.status, 200, "{}", second.text());
    let requests = up.requests();
    assert!(
        requests.iter().any(|r| r == "/tile/8/0/002.p/88")
            && requests.iter().any(|r| r == "/tile/8/0/002"),
        "the partial tile asked, then the full one: {requests:?}"
    );
}

#[test]
fn an_offline_shelf_serves_what_it_cached() {
    let up = Upstream::start();
    let zip = module("public.example/kept", "v1.0.0", "", "kept", true);
    up.publish(&zip);
    up.publish(&module("public.example/kept", "v1.1.0", "", "later", true));
    let mut server = shelf(&up, &[], &[]);
    let base = "/go/public.example/kept/@v";
    assert_eq!(get(&server, &format!("{base}/v1.0.0.zip")).status, 200);
    let asked = up.requests().len();
    // A graceful stop keeps what was cached; offline, nothing is asked upstream.
    server.set_args(&["--offline"]);
    server.restart();
    let r = get(&server, &format!("{base}/v1.0.0.zip"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, zip.bytes());
    assert_eq!(get(&server, &format!("{base}/v1.0.0.mod")).status, 200);
    let list = get(&server, &format!("{base}/list"));
    assert_eq!((list.status, list.text()), (200, "v1.0.0\n".into()));
    let latest = get(&server, "/go/public.example/kept/@latest");
    assert!(latest.text().contains("v1.0.0"), "{}", latest.text());
    let r = get(&server, &format!("{base}/v1.1.0.info"));
    assert_eq!(
        (r.status, r.text()),
        (
            404,
            "unknown module public.example/kept: not cached (offline)\n".into()
        )
    );
    assert_eq!(up.requests().len(), asked);
}

/// `count` modules `public.example/<tag><i>` published upstream, each zip holding `size`
/// incompressible bytes (stored, so the zip's size is about that).
fn publish_blobs(up: &Upstream, tag: &str, count: usize, size: usize) -> Vec<ModZip> {
    (0..count)
        .map(|i| {
            let zip = module(&format!("public.example/{tag}{i}"), "v1.0.0", "", tag, true)
                .stored()
                .file(
                    "blob.bin",
                    &crate::support::incompressible(&format!("{tag}{i}"), size),
                );
            up.publish(&zip);
            zip
        })
        .collect()
}

#[test]
fn eviction_keeps_the_cache_under_its_cap_and_brings_versions_back_identical() {
    let up = Upstream::start();
    let zips = publish_blobs(&up, "e", 5, 1 << 20);
    let cap = (5 << 20) / 2;
    let mut server = shelf(&up, &["--cache-max-bytes", "2560KiB"], &[]);
    org(&server, "acme");
    let hosted = module("example.com/hosted", "v1.0.0", "", "h", true)
        .stored()
        .file(
            "blob.bin",
            &crate::support::incompressible("hosted", 1 << 20),
        );
    server.upload("acme", &hosted);
    let name = vkey(&server).split('+').next().unwrap().to_owned();
    let record = |server: &TestServer| {
        get(
            server,
            &format!("/go/sumdb/{name}/lookup/public.example/e0@v1.0.0"),
        )
        .text()
    };
    let fetch_all = |server: &TestServer| {
        for (i, z) in zips.iter().enumerate() {
            let r = get(server, &format!("/go/public.example/e{i}/@v/v1.0.0.zip"));
            assert_eq!(r.status, 200, "{}", r.text());
            assert!(r.body == z.bytes(), "e{i} comes back byte-identical");
            let m = metric_values(server);
            assert!(m["goshelf_pull_cached_bytes"] <= cap, "{m:?}");
        }
    };
    fetch_all(&server);
    let logged = record(&server);
    assert!(logged.contains("public.example/e0 v1.0.0 h1:"), "{logged}");
    let db_len = || std::fs::metadata(server.db_path()).unwrap().len();
    fetch_all(&server);
    let after_two = db_len();
    for _ in 0..3 {
        fetch_all(&server);
    }
    assert_eq!(
        up.count("e0/@v/v1.0.0.zip"),
        5,
        "evicted and fetched again each round"
    );
    assert!(
        db_len() <= after_two,
        "the file grew from {after_two} to {} bytes",
        db_len()
    );
    let m = metric_values(&server);
    assert!(m["goshelf_pull_evictions_total"] >= 15, "{m:?}");
    // The log record stays as it was; hosted versions are untouched.
    assert_eq!(record(&server).lines().next(), logged.lines().next());
    let h = get(
        &server,
        "/api/packages/acme/go/example.com/hosted/@v/v1.0.0.zip",
    );
    assert!(h.body == hosted.bytes());
    let verify = crate::support::stress::goshelf(
        &["verify", "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
        Duration::from_secs(120),
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // Offline, nothing is evicted, even under a smaller cap: what is held is served.
    server.set_args(&["--offline", "--cache-max-bytes", "1"]);
    server.restart();
    let held = (0..5)
        .filter(|i| get(&server, &format!("/go/public.example/e{i}/@v/v1.0.0.zip")).status == 200)
        .count();
    assert_eq!(held, 2, "the last two fetched are held");
    let again = (0..5)
        .filter(|i| get(&server, &format!("/go/public.example/e{i}/@v/v1.0.0.zip")).status == 200)
        .count();
    assert_eq!(again, 2);
}

#[test]
fn an_admin_lists_evicts_and_refreshes_the_cache() {
    let up = Upstream::start();
    let zip = module("public.example/tool", "v1.0.0", "", "tool", true);
    up.publish(&zip);
    up.publish(&module("public.example/other", "v1.0.0", "", "other", true));
    let server = shelf(&up, &[], &[]);
    assert_eq!(
        get(&server, "/go/public.example/tool/@v/v1.0.0.zip").status,
        200
    );
    assert_eq!(
        get(&server, "/go/public.example/other/@v/v1.0.0.mod").status,
        200
    );
    assert_eq!(get(&server, "/go/public.example/tool/@v/list").status, 200);
    let cli = |args: &[&str]| server.cli(args);
    let list = cli(&["cache", "list"]);
    assert!(list.contains("public.example/tool@v1.0.0\t"), "{list}");
    assert!(list.contains("public.example/other@v1.0.0\t-\t"), "{list}");
    assert!(list.contains("2 cached versions"), "{list}");
    // Evicted, it comes back from upstream, the same bytes.
    let evicted = cli(&["cache", "evict", "public.example/tool@v1.0.0"]);
    assert!(evicted.contains("evicted 1"), "{evicted}");
    let again = get(&server, "/go/public.example/tool/@v/v1.0.0.zip");
    assert!(again.body == zip.bytes());
    assert_eq!(up.count("tool/@v/v1.0.0.zip"), 2);
    // Refreshed, the list is asked again at once (list_ttl is 60 s). (An eviction forgets
    // the module's list too.)
    get(&server, "/go/public.example/tool/@v/list");
    let asked = up.count("tool/@v/list");
    get(&server, "/go/public.example/tool/@v/list");
    assert_eq!(up.count("tool/@v/list"), asked, "remembered");
    cli(&["cache", "refresh", "public.example/tool"]);
    get(&server, "/go/public.example/tool/@v/list");
    assert_eq!(up.count("tool/@v/list"), asked + 1, "asked again");
    // Not an admin's: 403, nothing changed.
    server.add_user("bob", "bob password 123");
    let r = http::curl(
        &Auth::Basic("bob", "bob password 123"),
        &[
            "-X",
            "DELETE",
            &format!("{}/api/v1/cache/public.example%2Fother", server.url()),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let missing = crate::support::stress::goshelf(
        &[
            "cache",
            "evict",
            "public.example/none",
            "--server",
            server.url(),
        ],
        &[("GOSHELF_TOKEN", server.token())],
        Duration::from_secs(60),
    );
    assert!(!missing.status.success());
    assert!(cli(&["cache", "list"]).contains("public.example/other@v1.0.0"));
}

#[test]
fn the_upstream_checksum_database_is_proxied_without_private_paths() {
    let up = Upstream::start();
    up.publish(&module("public.example/sum", "v1.0.0", "", "x", true));
    up.publish(&module("git.internal/secret", "v1.0.0", "", "x", true));
    let name = "localhost.localdev/sumdb";
    let server = shelf(&up, &[], &[("GOSHELF_PRIVATE", "example.com,*.internal")]);
    let at = |base: &str, what: &str| get(&server, &format!("{base}/sumdb/{name}/{what}"));
    assert_eq!(at("/go", "supported").status, 200);
    assert_eq!(at("", "supported").status, 200, "at the fixed root too");
    assert_eq!(
        at("/api/packages/acme/go", "supported").status,
        404,
        "not at a namespace's base"
    );
    let lookup = at("/go", "lookup/public.example/sum@v1.0.0");
    assert_eq!(lookup.status, 200, "{}", lookup.text());
    assert!(lookup.text().contains("public.example/sum v1.0.0 h1:"));
    assert!(
        lookup.text().contains("— localhost.localdev/sumdb"),
        "the upstream's note"
    );
    // The tile that proves it is kept, and served with the upstream down.
    up.lie(Lie::Down);
    let tile = at("/go", "tile/8/0/000.p/2");
    assert_eq!(tile.status, 200, "{}", tile.text());
    assert_eq!(tile.body.len(), 64);
    let again = at("/go", "lookup/public.example/sum@v1.0.0");
    assert_eq!(again.status, 200, "served from what was kept");
    let never = at("/go", "lookup/public.example/never@v1.0.0");
    assert_eq!(never.status, 502, "{}", never.text());
    up.lie(Lie::None);
    let private = at("/go", "lookup/git.internal/secret@v1.0.0");
    assert_eq!(
        (private.status, private.text()),
        (404, "not found: git.internal/secret@v1.0.0\n".into())
    );
    assert!(
        !up.requests().iter().any(|r| r.contains("internal")),
        "{:?}",
        up.requests()
    );
    // Offline, `supported` stays while the shelf holds answers of the database.
    let up2 = Upstream::start();
    let bare = shelf(&up2, &["--offline"], &[]);
    assert_eq!(
        get(&bare, &format!("/go/sumdb/{name}/supported")).status,
        404
    );
}

/// The proxy of the upstream checksum database appends what it fetches to the shelf's own
/// log, so it is bounded like a lookup miss of that log: a requester past its
/// `sumdb_lookup_budget` gets 503 (a copy already kept is still served), and tiles of any
/// height but 8 are refused without asking the upstream. (Found by a review: any anonymous
/// client could make the log grow without bound through the proxy.)
#[test]
fn the_checksum_database_proxy_is_charged_to_the_lookup_budget() {
    let up = Upstream::start();
    for i in 0..4 {
        up.publish(&module(
            &format!("public.example/b{i}"),
            "v1.0.0",
            "",
            "x",
            true,
        ));
    }
    let name = "localhost.localdev/sumdb";
    let server = shelf(&up, &["--sumdb-lookup-budget", "2"], &[]);
    let from = |addr: &str, what: &str| {
        http::curl(
            &Auth::None,
            &[
                "--interface",
                addr,
                &format!("{}/go/sumdb/{name}/{what}", server.url()),
            ],
        )
    };
    let statuses: Vec<u16> = (0..4)
        .map(|i| from("127.0.0.2", &format!("lookup/public.example/b{i}@v1.0.0")).status)
        .collect();
    assert_eq!(statuses, [200, 200, 503, 503]);
    let refused = from("127.0.0.2", "lookup/public.example/b3@v1.0.0");
    assert!(
        refused.text().contains("sumdb_lookup_budget"),
        "{refused:?}"
    );
    assert_eq!(refused.header("retry-after"), Some("3600"));
    // What was kept is still answered; another address has its own budget.
    assert_eq!(
        from("127.0.0.2", "lookup/public.example/b0@v1.0.0").status,
        200
    );
    assert_eq!(
        from("127.0.0.3", "lookup/public.example/b3@v1.0.0").status,
        200
    );
    let asked = up.requests().len();
    for what in [
        "tile/30/0/000.p/5",
        "tile/9/0/000.p/5",
        "tile/30/data/000.p/5",
    ] {
        let r = from("127.0.0.4", what);
        assert_eq!(r.status, 404, "{what}: {r:?}");
    }
    assert_eq!(up.requests().len(), asked, "{:?}", up.requests());
}

/// A central shelf on HTTPS (and plain HTTP) with its own CA, whose private organisation
/// `corp` holds `corp.example/secret`: (the server, the module, its CA file, corp's base).
fn central_with_secret() -> (TestServer, ModZip, std::path::PathBuf, String) {
    let central = TestServer::start_tls(true, &["--tls-self-signed", "localhost,127.0.0.1"], &[]);
    central.add_org("corp", "private");
    let secret = module("corp.example/secret", "v1.0.0", "", "secret", true);
    central.upload("corp", &secret);
    let ca = central.write_scratch(
        "ca.pem",
        &http::get(&format!("{}/ca.pem", central.url())).body,
    );
    let base = format!("{}/api/packages/corp/go", central.tls_url());
    (central, secret, ca, base)
}

#[test]
fn a_private_upstream_is_read_with_credentials_and_served_to_signed_in_viewers_only() {
    let (central, secret, ca, base) = central_with_secret();
    let site = TestServer::start_with(
        &[],
        &[
            ("GOSHELF_UPSTREAM_PRIVATE", base.as_str()),
            ("GOSHELF_UPSTREAM_PRIVATE_PATHS", "corp.example"),
            (
                "GOSHELF_UPSTREAM_PRIVATE_TOKEN",
                crate::support::server::ADMIN_TOKEN,
            ),
            ("GOSHELF_UPSTREAM_CA_FILE", ca.to_str().unwrap()),
        ],
    );
    site.add_user("alice", "alice password 1");
    let alice = Auth::Basic("alice", "alice password 1");
    // The central's request log is written every 200 ms: read it after that.
    let asked = || {
        std::thread::sleep(Duration::from_millis(400));
        central
            .stderr_log()
            .lines()
            .filter(|l| l.contains("/api/packages/corp/go/corp.example/secret"))
            .count()
    };
    let at = |auth: &Auth, tail: &str| {
        http::curl(
            auth,
            &[&format!("{}/go/corp.example/secret/{tail}", site.url())],
        )
    };
    let nowhere = get(&site, "/go/corp.example/nowhere/@v/v1.0.0.info");
    let hidden = |r: &http::Response, tail: &str| {
        assert_eq!(r.status, 404, "{tail}: {}", r.text());
        assert_eq!(
            r.text(),
            nowhere.text().replace("nowhere", "secret"),
            "{tail}: the answer of a path that exists nowhere"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"), "{tail}");
    };
    let tails = TAILS;
    // Anonymous, before anything is cached: the local 404, and no upstream is asked.
    for tail in tails {
        hidden(&at(&Auth::None, tail), tail);
    }
    assert_eq!(asked(), 0, "an anonymous request contacts no upstream");
    // Signed in: fetched with the token over HTTPS, every answer private.
    for tail in tails {
        let r = at(&alice, tail);
        assert_eq!(r.status, 200, "{tail}: {}", r.text());
        let cc = r.header("cache-control").unwrap_or("");
        assert!(cc.starts_with("private"), "{tail}: {cc}");
        if tail.ends_with(".zip") {
            assert!(r.body == secret.bytes());
        }
    }
    assert!(asked() >= 3, "{}", central.stderr_log());
    // Anonymous after it is cached: still the local 404, still nothing asked.
    let before = asked();
    for tail in tails {
        hidden(&at(&Auth::None, tail), tail);
    }
    assert_eq!(asked(), before);
    // Its paths never go to the checksum database proxy either.
    let lookup = get(
        &site,
        "/go/sumdb/sum.golang.org/lookup/corp.example/secret@v1.0.0",
    );
    assert_eq!(lookup.status, 404, "{}", lookup.text());
}

/// While the public upstream fails, a path kept from it (hosted in a private organisation,
/// matching `private`, above a hosted path) is answered exactly as a never-seen path that
/// exists nowhere: the same status, text and headers, for every kind of request, for an
/// upstream answering 503 and for one that refuses connections. (Found by a review: they were
/// the 404 "unknown module" while the others said the upstream was unavailable, which told
/// anyone which paths are private.)
#[test]
fn an_outage_does_not_tell_protected_paths_from_the_rest() {
    let up = Upstream::start();
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/proxy", l.local_addr().unwrap())
    };
    let answering = shelf(&up, &[], &[]);
    let closed = shelf(&up, &[], &[("GOSHELF_UPSTREAM", &refused)]);
    for server in [&answering, &closed] {
        http::admin(
            server,
            "POST",
            "/api/v1/orgs",
            Some(json!({"name": "corp", "visibility": "private"})),
            201,
        );
        server.upload(
            "corp",
            &module("corp.example.com/secret", "v1.0.0", "", "s", true),
        );
    }
    let seen = |r: &http::Response, path: &str| {
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            // The date moves, the length follows the path's.
            .filter(|(k, _)| !["date", "content-length"].contains(&k.to_ascii_lowercase().as_str()))
            .cloned()
            .collect();
        (r.status, r.text().replace(path, "P"), headers)
    };
    let mut n = 0;
    for (server, lie) in [
        (&answering, Lie::None),
        (&answering, Lie::Down),
        (&closed, Lie::None),
    ] {
        up.lie(lie);
        for tail in [
            "@v/list",
            "@latest",
            "@v/v1.0.0.info",
            "@v/master.info",
            "@v/v1.0.0.mod",
            "@v/v1.0.0.zip",
        ] {
            n += 1;
            // A fresh path each time: nothing remembered of it.
            let nowhere = format!("public.example/none{n}");
            let want = seen(&get(server, &format!("/go/{nowhere}/{tail}")), &nowhere);
            assert!(matches!(want.0, 404 | 502), "{lie:?} {tail}: {want:?}");
            for path in [
                "corp.example.com/secret",
                "corp.example/anything",
                "corp.example.com",
            ] {
                let got = seen(&get(server, &format!("/go/{path}/{tail}")), path);
                assert_eq!(got, want, "{lie:?} {tail} {path}");
            }
        }
    }
    up.lie(Lie::None);
    assert!(
        up.requests().iter().all(|r| !r.contains("corp.example")),
        "{:?}",
        up.requests()
    );
}

/// Every answer to a signed-in viewer at `/go` is `private`, the cached public modules' too
/// (the README's promise for shared caches in front of the shelf); an anonymous one stays
/// `public`, with `Vary: Authorization`. (Found by a review: a signed-in viewer's cached
/// public module was `public`.)
#[test]
fn answers_to_a_signed_in_viewer_are_never_for_shared_caches() {
    let up = Upstream::start();
    publish_public(&up);
    let server = shelf(&up, &[], &[]);
    server.add_user("alice", "alice password 1");
    let alice = Auth::Basic("alice", "alice password 1");
    for tail in TAILS {
        let url = format!("{}/go/public.example/deep/{tail}", server.url());
        let signed_in = http::curl(&alice, &[&url]);
        assert_eq!(signed_in.status, 200, "{tail}: {signed_in:?}");
        let cc = signed_in.header("cache-control").unwrap_or("");
        assert!(cc.starts_with("private, max-age="), "{tail}: {cc}");
        let anonymous = http::curl(&Auth::None, &[&url]);
        assert_eq!(anonymous.status, 200, "{tail}");
        assert_eq!(anonymous.body, signed_in.body, "{tail}");
        let cc = anonymous.header("cache-control").unwrap_or("");
        assert!(cc.starts_with("public, max-age="), "{tail}: {cc}");
        assert_eq!(anonymous.header("vary"), Some("Authorization"), "{tail}");
    }
}

/// A version fetched with credentials stays private when the settings change: after a
/// restart without the credentialed upstream (its paths now those of the public one), its
/// list, `@latest`, version files and the paths below it are the 404 of a path that exists
/// nowhere, to a signed-in viewer too, and the public upstream is never asked for them (its
/// proxy nor its checksum database). Found by a review: the list and `@latest` served the
/// cached private version to anyone, and the list was asked of the public upstream.
#[test]
fn versions_fetched_with_credentials_stay_private_when_the_settings_change() {
    let (central, _secret, ca, base) = central_with_secret();
    let public = Upstream::start();
    // No `private` pattern covers the credentialed paths (the tests' default does).
    let public_env = [
        ("GOSHELF_PRIVATE", "nas.lan".to_owned()),
        ("GOSHELF_UPSTREAM", public.proxy_url()),
        ("GOSHELF_UPSTREAM_SUMDB", public.setting()),
        ("GOSHELF_UPSTREAM_TIMEOUT", "5".to_owned()),
    ];
    let mut env: Vec<(&str, &str)> = public_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let public_only = env.clone();
    env.extend([
        ("GOSHELF_UPSTREAM_PRIVATE", base.as_str()),
        ("GOSHELF_UPSTREAM_PRIVATE_PATHS", "corp.example"),
        (
            "GOSHELF_UPSTREAM_PRIVATE_TOKEN",
            crate::support::server::ADMIN_TOKEN,
        ),
        ("GOSHELF_UPSTREAM_CA_FILE", ca.to_str().unwrap()),
    ]);
    let mut site = TestServer::start_with(&[], &env);
    site.add_user("alice", "alice password 1");
    let alice = Auth::Basic("alice", "alice password 1");
    let tails = TAILS;
    let at = |site: &TestServer, auth: &Auth, path: &str, tail: &str| {
        http::curl(auth, &[&format!("{}/go/{path}/{tail}", site.url())])
    };
    for tail in tails {
        let r = at(&site, &alice, "corp.example/secret", tail);
        assert_eq!(r.status, 200, "{tail}: {}", r.text());
    }
    drop(central);

    site.set_env(&public_only);
    site.restart();
    let nowhere = get(&site, "/go/corp.example/nowhere/@v/v1.0.0.info");
    assert_eq!(nowhere.status, 404, "{}", nowhere.text());
    let before = public.requests().len();
    for (who, auth) in [("anonymous", &Auth::None), ("alice", &alice)] {
        for (path, tails) in [
            ("corp.example/secret", &tails[..]),
            ("corp.example/secret/sub", &tails[..1]),
        ] {
            for tail in tails {
                let r = at(&site, auth, path, tail);
                assert_eq!(r.status, 404, "{path}/{tail} ({who}): {}", r.text());
                assert_eq!(
                    r.text(),
                    nowhere.text().replace("corp.example/nowhere", path),
                    "{path}/{tail} ({who})"
                );
                assert_eq!(r.header("cache-control"), Some("no-store"), "{path}/{tail}");
            }
        }
    }
    let lookup = get(
        &site,
        "/go/sumdb/sum.golang.org/lookup/corp.example/secret@v1.0.0",
    );
    assert_eq!(lookup.status, 404, "{}", lookup.text());
    let asked = public.requests();
    assert!(
        asked[before..].iter().all(|r| !r.contains("secret")),
        "{asked:?}"
    );
}

/// A transfer slower on average than `upstream_min_rate` after its first minute is cut, and
/// every client waiting for it is answered; one that is slow but above it is kept. (Each
/// takes a little over a minute: the rule's grace.)
#[test]
fn a_dripping_zip_is_cut_after_a_minute_and_its_waiters_answered() {
    let up = Upstream::start();
    let zip = module("public.example/drip", "v1.0.0", "", "drip", true)
        .stored()
        .file("blob.bin", &crate::support::incompressible("drip", 2 << 20));
    up.publish(&zip);
    // 4 KiB/s: well under the default 10 KiB/s; the idle timeout (5 s) never fires.
    up.throttle_zips(4 << 10);
    let server = shelf(&up, &[], &[]);
    assert_eq!(
        get(&server, "/go/public.example/drip/@v/v1.0.0.mod").status,
        200
    );
    let url = format!("{}/go/public.example/drip/@v/v1.0.0.zip", server.url());
    let t = Instant::now();
    let codes: Vec<u16> = std::thread::scope(|s| {
        let waiters: Vec<_> = (0..3).map(|_| s.spawn(|| slow_get(&url).0)).collect();
        waiters.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let took = t.elapsed();
    assert_eq!(codes, [504, 504, 504], "every waiter answered");
    assert!(
        took > Duration::from_secs(60) && took < Duration::from_secs(75),
        "{took:?}"
    );
    assert_eq!(up.count("drip/@v/v1.0.0.zip"), 1, "one fetch for all");
    assert!(server.stderr_log().contains("below the minimum rate"));
}

#[test]
fn a_slow_but_steady_zip_is_kept() {
    let up = Upstream::start();
    // 960 KiB at 12 KiB/s: 80 s, above the 10 KiB/s minimum all along.
    let zip = module("public.example/steady", "v1.0.0", "", "steady", true)
        .stored()
        .file(
            "blob.bin",
            &crate::support::incompressible("steady", 960 << 10),
        );
    up.publish(&zip);
    up.throttle_zips(12 << 10);
    let server = shelf(&up, &[], &[]);
    let t = Instant::now();
    let (status, body) = slow_get(&format!(
        "{}/go/public.example/steady/@v/v1.0.0.zip",
        server.url()
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body == zip.bytes());
    assert!(t.elapsed() > Duration::from_secs(60), "{:?}", t.elapsed());
}

/// A GET that may take two minutes (the support helper stops at one): status and body.
fn slow_get(url: &str) -> (u16, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--noproxy",
            "*",
            "--max-time",
            "120",
            "-o",
            "-",
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .unwrap();
    let (body, code) = out.stdout.split_at(out.stdout.len().saturating_sub(3));
    (
        String::from_utf8_lossy(code).parse().unwrap_or(0),
        body.to_vec(),
    )
}

/// Eviction goes by last use, and every whole download counts as a use, the answer cache's
/// too (a small zip is served from memory without reaching the pull-through code): the
/// popular zip stays, the one nobody asked for again goes.
#[test]
fn eviction_spares_the_zip_downloaded_last_even_from_the_answer_cache() {
    let up = Upstream::start();
    let zips = publish_blobs(&up, "z", 3, 100 << 10);
    let mut server = shelf(&up, &["--cache-max-bytes", "300KiB"], &[]);
    let zip_of = |server: &TestServer, i: usize| {
        let r = get(server, &format!("/go/public.example/z{i}/@v/v1.0.0.zip"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body == zips[i].bytes());
    };
    zip_of(&server, 0);
    zip_of(&server, 1);
    std::thread::sleep(Duration::from_millis(1100));
    // z0 again, twice: the second answer comes from the answer cache.
    let hits = |s: &TestServer| {
        get(s, "/metrics")
            .text()
            .lines()
            .filter(|l| l.starts_with("goshelf_answer_cache_hits_total{shelf=\"zips\"}"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = hits(&server);
    zip_of(&server, 0);
    zip_of(&server, 0);
    assert!(hits(&server) > before, "one was answered from memory");
    // A graceful stop writes the download counts, and with them the last uses.
    server.restart();
    zip_of(&server, 2);
    let asked = |i: usize| up.count(&format!("z{i}/@v/v1.0.0.zip"));
    zip_of(&server, 0);
    assert_eq!(asked(0), 1, "z0, used last, was kept");
    zip_of(&server, 1);
    assert_eq!(asked(1), 2, "z1, unused since its fetch, was dropped");
}

/// A query (`@v/master.info`) passes through to the upstream and is never stored as a
/// version: the cache holds nothing after it, and `.mod` of a query is not a request.
#[test]
fn queries_pass_through_and_are_never_stored() {
    let up = Upstream::start();
    up.publish(&module("public.example/q", "v1.2.0", "", "q", true));
    let answer = br#"{"Version":"v1.2.0","Time":"2026-01-01T00:00:00Z"}"#.to_vec();
    up.set_file("public.example/q/@v/master.info", answer.clone());
    let server = shelf(&up, &[], &[]);
    let r = get(&server, "/go/public.example/q/@v/master.info");
    assert_eq!((r.status, r.body), (200, answer));
    assert_eq!(up.count("q/@v/master.info"), 1);
    let m = get(&server, "/go/public.example/q/@v/master.mod");
    assert_eq!(m.status, 404, "{}", m.text());
    let listed = http::curl(
        &Auth::Bearer(server.token()),
        &[&format!("{}/api/v1/cache", server.url())],
    );
    assert_eq!(listed.status, 200);
    assert!(
        !listed.text().contains("public.example/q"),
        "{}",
        listed.text()
    );
    // An answer naming no version of the module is not passed on.
    up.set_file(
        "public.example/q/@v/bogus.info",
        br#"{"Version":"v9.0.0"}"#.to_vec(),
    );
    let bad = get(&server, "/go/public.example/q/@v/bogus.info");
    assert_eq!(bad.status, 404, "{}", bad.text());
}

/// Shelves in a chain (issues 27 and 28): a site shelf whose upstream is a central shelf,
/// once with both logs readable by anyone, once with both read with a token
/// (`sumdb_readers = "signed-in"`). The site reads central's public modules plainly and its
/// private ones with `upstream_private`'s token; with a signed-in central it verifies both
/// against central's log read with `upstream_sumdb_token` and appends them to its own
/// signed-in log, while with an `anyone` central the private ones have no record there and
/// are pinned (its clients name them in `GONOSUMDB`). A signed-in site client over HTTPS
/// (netrc) builds a program importing both with `GOSUMDB=<site>`; an anonymous one gets
/// `404` for the private module; the site's anonymously readable data tiles never hold the
/// private path; with central stopped, the site still serves what it cached.
fn a_site_shelf_serves_a_central_shelfs_modules(go: Go, signed_in: bool) {
    use crate::private_modules::{api, private_with};
    go.bin();
    let readers = if signed_in { "signed-in" } else { "anyone" };
    // Central: HTTPS only; a private organisation holding example.com/tool (and a read token
    // of its member), a public one holding pub.example/lib.
    let central = private_with(&["--sumdb-readers", readers]);
    let cacert = central.ca.to_str().unwrap().to_owned();
    let ctls = central.server.tls_url().to_owned();
    api(
        &central.server,
        &central.ca,
        "POST",
        "/api/v1/orgs",
        json!({"name": "pub", "visibility": "public"}),
    );
    let lib = module("pub.example/lib", "v1.0.0", "", "lib", true);
    let file = central.server.write_scratch("lib.zip", &lib.bytes());
    let up = http::put_file(
        &format!("{ctls}/api/packages/pub/go/upload"),
        &Auth::Bearer(crate::support::server::ADMIN_TOKEN),
        &file,
        &["--cacert", &cacert],
    );
    assert_eq!(up.status, 201, "{up:?}");
    let central_key = http::curl(
        &Auth::None,
        &["--cacert", &cacert, &format!("{ctls}/sumdb-key")],
    )
    .text()
    .trim()
    .to_owned();
    let central_name = central_key.split('+').next().unwrap().to_owned();
    let central_sumdb = format!("{central_key} {ctls}/sumdb/{central_name}");
    let anon_latest = http::curl(
        &Auth::None,
        &[
            "--cacert",
            &cacert,
            &format!("{ctls}/sumdb/{central_name}/latest"),
        ],
    );
    assert_eq!(
        anon_latest.status,
        if signed_in { 401 } else { 200 },
        "{anon_latest:?}"
    );

    let mut env = vec![
        ("GOSHELF_UPSTREAM", format!("{ctls}/go")),
        ("GOSHELF_UPSTREAM_SUMDB", central_sumdb.clone()),
        ("GOSHELF_UPSTREAM_PRIVATE", central.base.clone()),
        (
            "GOSHELF_UPSTREAM_PRIVATE_PATHS",
            "example.com/tool".to_owned(),
        ),
        ("GOSHELF_UPSTREAM_PRIVATE_TOKEN", central.token.clone()),
        ("GOSHELF_UPSTREAM_CA_FILE", cacert.clone()),
        ("GOSHELF_UPSTREAM_TIMEOUT", "5".to_owned()),
    ];
    if signed_in {
        env.push(("GOSHELF_UPSTREAM_SUMDB_TOKEN", central.token.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let site = TestServer::start_tls(
        true,
        &[
            "--tls-self-signed",
            "localhost,127.0.0.1",
            "--sumdb-readers",
            readers,
            "--private",
            "example.com/tool",
        ],
        &env,
    );
    site.add_user("alice", "alice-password-1");
    let site_ca = site.write_scratch(
        "site-ca.pem",
        &http::get(&format!("{}/ca.pem", site.url())).body,
    );
    let site_key = vkey(&site);
    let site_name = site_key.split('+').next().unwrap().to_owned();
    let stls = site.tls_url().to_owned();
    let addr = site.tls_addr().to_owned();
    let go_env = |name: &str| {
        let mut env = GoEnv::new(go, &format!("{stls}/go"));
        env.set_env("SSL_CERT_FILE", site_ca.to_str().unwrap());
        env.set_env("SSL_CERT_DIR", "/nonexistent");
        env.set_env("GOPRIVATE", "");
        // What is pinned has no record in the site's log: its clients say so.
        env.set_env("GONOSUMDB", if signed_in { "" } else { "example.com/tool" });
        env.set_env("GOSUMDB", &format!("{site_key} {stls}/sumdb/{site_name}"));
        env.set_env("GOFLAGS", "-mod=mod -modcacherw");
        let host = addr.rsplit_once(':').unwrap().0;
        let netrc = env.empty_dir(name).join("netrc");
        std::fs::write(
            &netrc,
            format!(
                "machine {host} login alice password alice-password-1\nmachine {addr} login alice password alice-password-1\n"
            ),
        )
        .unwrap();
        env.set_env("NETRC", netrc.to_str().unwrap());
        env
    };
    let build = |env: &GoEnv| {
        let dir = env.empty_dir("app");
        std::fs::write(
            dir.join("go.mod"),
            "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/tool v1.0.0\n\tpub.example/lib v1.0.0\n)\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.go"),
            "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/tool/greet\"\n\tlib \"pub.example/lib\"\n)\n\nfunc main() { fmt.Println(greet.Message(), lib.Name()) }\n",
        )
        .unwrap();
        let bin = dir.join("app");
        env.run(&["build", "-o", bin.to_str().unwrap(), "."], &dir);
        let out = std::process::Command::new(&bin).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from a module served by goshelf lib\n"
        );
    };
    build(&go_env("first"));
    // An anonymous site client: the private module exists nowhere for it.
    let anon = http::curl(
        &Auth::None,
        &[&format!(
            "{}/go/example.com/tool/@v/v1.0.0.info",
            site.url()
        )],
    );
    assert_eq!(anon.status, 404, "{anon:?}");
    let alice = Auth::Basic("alice", "alice-password-1");
    let site_ca_s = site_ca.to_str().unwrap().to_owned();
    let own = |auth: &Auth, path: &str| {
        http::curl(auth, &["--cacert", &site_ca_s, &format!("{stls}{path}")])
    };
    std::thread::sleep(Duration::from_millis(400));
    let central_log = central.server.stderr_log();
    if signed_in {
        // Both records came from central's log, read with the token (a 200 there needs it),
        // and the site's own log holds the private one for signed-in readers only.
        for record in ["example.com/tool@v1.0.0", "pub.example/lib@v1.0.0"] {
            assert!(
                central_log
                    .lines()
                    .any(|l| l.contains(&format!("/sumdb/{central_name}/lookup/{record} 200"))),
                "central's log was not read for {record}:\n{central_log}"
            );
        }
        let lookup = format!("/sumdb/{site_name}/lookup/example.com/tool@v1.0.0");
        let r = own(&alice, &lookup);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.text().contains(&central.h1), "{r:?}");
        assert_eq!(own(&Auth::None, &lookup).status, 401);
        // The proxy of central's log: signed-in viewers only, never for shared caches.
        let proxied = format!("/go/sumdb/{central_name}/lookup/pub.example/lib@v1.0.0");
        assert_eq!(own(&Auth::None, &proxied).status, 401);
        let r = own(&alice, &proxied);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.header("cache-control")
                .unwrap_or("")
                .starts_with("private"),
            "{r:?}"
        );
    } else {
        // Central's log was never asked for the private path; the site's log, readable by
        // anyone, holds the public module and never the private one.
        assert!(
            !central_log.contains(&format!("/sumdb/{central_name}/lookup/example.com/tool")),
            "{central_log}"
        );
        let latest = own(&Auth::None, &format!("/sumdb/{site_name}/latest"));
        assert_eq!(latest.status, 200, "{latest:?}");
        let size: u64 = latest.text().lines().nth(1).unwrap().parse().unwrap();
        assert!(size > 0 && size < 256, "{size}");
        let tile = own(
            &Auth::None,
            &format!("/sumdb/{site_name}/tile/8/data/000.p/{size}"),
        );
        assert_eq!(tile.status, 200, "{tile:?}");
        assert!(
            tile.text().contains("pub.example/lib v1.0.0"),
            "{}",
            tile.text()
        );
        assert!(!tile.text().contains("example.com/tool"), "{}", tile.text());
    }
    // Central stops: the site serves what it cached, to a fresh client.
    drop(central);
    build(&go_env("second"));
    let anon = http::curl(
        &Auth::None,
        &[&format!("{}/go/example.com/tool/@v/v1.0.0.zip", site.url())],
    );
    assert_eq!(anon.status, 404, "{anon:?}");
}

fn a_chain_of_shelves_read_by_anyone(go: Go) {
    a_site_shelf_serves_a_central_shelfs_modules(go, false);
}

fn a_chain_of_shelves_read_with_tokens(go: Go) {
    a_site_shelf_serves_a_central_shelfs_modules(go, true);
}

for_each_go!(
    a_chain_of_shelves_read_by_anyone,
    a_chain_of_shelves_read_with_tokens
);

/// Upstream records are appended without `fsync` (a cold fetch does not wait for one per
/// version) and made durable before anything of the log is published: after a lookup
/// answered with a signed head, `kill -9` loses neither the record nor the head, and the
/// restarted shelf's log extends what it published (a lost record would be a fork, and the
/// shelf would refuse to serve, `rolled back`).
#[test]
fn a_published_upstream_record_survives_kill_9() {
    let up = Upstream::start();
    up.grow(40, "before");
    up.publish(&module("public.example/crash", "v1.0.0", "", "crash", true));
    let mut server = shelf(&up, &[], &[]);
    let name = vkey(&server).split('+').next().unwrap().to_owned();
    let size_of = |body: &str| -> u64 {
        let size = body
            .lines()
            .skip_while(|l| *l != "go.sum database tree")
            .nth(1);
        size.and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("no tree size in {body}"))
    };
    // A cold fetch through /go, then its lookup: the lookup's signed head is published.
    let r = get(&server, "/go/public.example/crash/@v/v1.0.0.mod");
    assert_eq!(r.status, 200, "{}", r.text());
    let lookup = format!("/sumdb/{name}/lookup/public.example/crash@v1.0.0");
    let before = get(&server, &lookup);
    assert_eq!(before.status, 200, "{}", before.text());
    assert!(size_of(&before.text()) >= 1, "{}", before.text());
    // A second cold fetch whose record nothing publishes: it may be lost, and is fetched
    // again.
    up.publish(&module("public.example/later", "v1.0.0", "", "later", true));
    let r = get(&server, "/go/public.example/later/@v/v1.0.0.mod");
    assert_eq!(r.status, 200, "{}", r.text());
    // Last, a record appended by a lookup miss of the shelf's own log (after the /go fetches
    // have settled): only its answer's flush makes it durable before it is published.
    std::thread::sleep(Duration::from_millis(300));
    up.publish(&module(
        "public.example/direct",
        "v1.0.0",
        "",
        "direct",
        true,
    ));
    let direct = format!("/sumdb/{name}/lookup/public.example/direct@v1.0.0");
    let direct_before = get(&server, &direct);
    assert_eq!(direct_before.status, 200, "{}", direct_before.text());
    let published = size_of(&direct_before.text());
    assert!(
        published > size_of(&before.text()),
        "{}",
        direct_before.text()
    );
    server.kill9();
    server.restart();
    for (path, was) in [(&lookup, &before), (&direct, &direct_before)] {
        let after = get(&server, path);
        assert_eq!(after.status, 200, "{path}: {}", after.text());
        assert_eq!(
            after.text().lines().next(),
            was.text().lines().next(),
            "{path}: the record's id changed"
        );
    }
    let latest = get(&server, &format!("/sumdb/{name}/latest"));
    assert_eq!(latest.status, 200, "{}", latest.text());
    assert!(size_of(&latest.text()) >= published, "{}", latest.text());
    let r = get(&server, "/go/public.example/later/@v/v1.0.0.mod");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(
        &server,
        &format!("/sumdb/{name}/lookup/public.example/later@v1.0.0"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A cold zip is answered from its spool as soon as it is verified, while it is being
/// stored: the answer is the stored one's, byte for byte and header for header, ranges and
/// HEAD included.
#[test]
fn a_cold_zip_is_answered_before_it_is_stored_exactly_as_after() {
    let up = Upstream::start();
    let zips = publish_blobs(&up, "s", 3, 600 << 10);
    let server = shelf(&up, &[], &[]);
    let url = |i: usize| format!("{}/go/public.example/s{i}/@v/v1.0.0.zip", server.url());
    let range = |i: usize| http::curl(&Auth::None, &["-H", "Range: bytes=300000-300099", &url(i)]);
    let same = [
        "etag",
        "content-type",
        "cache-control",
        "last-modified",
        "accept-ranges",
    ];
    // A range of a cold zip (its pieces read from the spool: 600 KiB is three of them).
    let cold = range(0);
    assert_eq!(cold.status, 206, "{}", cold.text());
    assert_eq!(cold.body, zips[0].bytes()[300_000..300_100]);
    assert_eq!(
        cold.header("content-range"),
        Some(format!("bytes 300000-300099/{}", zips[0].bytes().len()).as_str())
    );
    // A whole cold zip, then HEAD of a cold one.
    let whole = get(&server, "/go/public.example/s1/@v/v1.0.0.zip");
    assert_eq!((whole.status, whole.body == zips[1].bytes()), (200, true));
    // (`-I`: curl writes the headers where the body would go.)
    let head = http::curl(&Auth::None, &["-I", &url(2)]);
    assert_eq!(head.status, 200, "{}", head.text());
    assert_eq!(
        head.header("content-length"),
        Some(zips[2].bytes().len().to_string().as_str())
    );
    // Once stored, from the store: the same answers.
    std::thread::sleep(Duration::from_millis(500));
    let stored = range(0);
    assert_eq!((stored.status, &stored.body), (206, &cold.body));
    for (first, again) in [
        (&cold, stored),
        (&whole, get(&server, "/go/public.example/s1/@v/v1.0.0.zip")),
        (&head, http::curl(&Auth::None, &["-I", &url(2)])),
    ] {
        if !std::ptr::eq(first, &head) {
            assert_eq!(first.body, again.body);
        }
        for h in same.iter().chain(&["content-length", "content-range"]) {
            assert_eq!(first.header(h), again.header(h), "{h}");
        }
    }
    assert_eq!(
        up.requests().iter().filter(|r| r.ends_with(".zip")).count(),
        3
    );
}

/// What the cache fetches is written without `fsync`, and made durable within the settle
/// interval (`http::SETTLE_INTERVAL`, one second): a `kill -9` after it loses none of it.
#[test]
fn a_cached_version_survives_kill_9_once_settled() {
    let up = Upstream::start();
    let zip = module("public.example/settled", "v1.0.0", "", "settled", true);
    up.publish(&zip);
    let mut server = shelf(&up, &[], &[]);
    let base = "/go/public.example/settled/@v";
    let r = get(&server, &format!("{base}/v1.0.0.zip"));
    assert_eq!(
        (r.status, r.body == zip.bytes()),
        (200, true),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(2500));
    server.kill9();
    // Offline: what is served now comes from the file alone.
    server.set_args(&["--offline"]);
    server.restart();
    let r = get(&server, &format!("{base}/v1.0.0.zip"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, zip.bytes());
    let r = get(&server, &format!("{base}/v1.0.0.mod"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&server, &format!("{base}/list"));
    assert_eq!((r.status, r.text()), (200, "v1.0.0\n".into()));
}

/// `upstream_private_user`: the token goes as the password of Basic credentials for that
/// user (as Gitea and goshelf accept), checked by the central server with the user's name.
#[test]
fn a_private_upstream_is_read_with_basic_credentials() {
    let (central, secret, ca, base) = central_with_secret();
    let site_as = |user: &str| {
        TestServer::start_with(
            &[],
            &[
                ("GOSHELF_UPSTREAM_PRIVATE", base.as_str()),
                ("GOSHELF_UPSTREAM_PRIVATE_PATHS", "corp.example"),
                ("GOSHELF_UPSTREAM_PRIVATE_USER", user),
                (
                    "GOSHELF_UPSTREAM_PRIVATE_TOKEN",
                    crate::support::server::ADMIN_TOKEN,
                ),
                ("GOSHELF_UPSTREAM_CA_FILE", ca.to_str().unwrap()),
            ],
        )
    };
    let fetch = |site: &TestServer| {
        site.add_user("alice", "alice password 1");
        http::curl(
            &Auth::Basic("alice", "alice password 1"),
            &[&format!(
                "{}/go/corp.example/secret/@v/v1.0.0.zip",
                site.url()
            )],
        )
    };
    let site = site_as("admin");
    let r = fetch(&site);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == secret.bytes());
    // The token of another user under this name: central refuses it, and says so.
    let wrong = site_as("nobody");
    let r = fetch(&wrong);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("401"), "{}", r.text());
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        central
            .stderr_log()
            .lines()
            .any(|l| l.contains("/api/packages/corp/go/corp.example/secret/@v/v1.0.0.info 401")),
        "{}",
        central.stderr_log()
    );
}

/// More than one credentialed upstream (the configuration file's `[[upstream_private]]`
/// tables): each path goes to the first whose `paths` it matches, with that one's
/// credentials, and to no other upstream; a signed-in viewer gets both, an anonymous one
/// neither.
#[test]
fn two_credentialed_upstreams_each_serve_their_own_paths() {
    let (central, secret, ca, base) = central_with_secret();
    let other = TestServer::start_tls(true, &["--tls-self-signed", "localhost,127.0.0.1"], &[]);
    other.add_org("team", "private");
    let tool = module("nas.lan/tool", "v1.0.0", "", "tool", true);
    other.upload("team", &tool);
    let other_ca = http::get(&format!("{}/ca.pem", other.url())).body;
    let other_base = format!("{}/api/packages/team/go", other.tls_url());
    // One CA file for both self-signed servers.
    let mut cas = std::fs::read(&ca).unwrap();
    cas.extend_from_slice(&other_ca);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("cas.pem");
    std::fs::write(&ca_file, cas).unwrap();
    let toml = dir.path().join("goshelf.toml");
    let token = crate::support::server::ADMIN_TOKEN;
    std::fs::write(
        &toml,
        format!(
            "upstream_ca_file = \"{}\"\n\n[[upstream_private]]\nurl = \"{base}\"\n\
             paths = \"corp.example\"\ntoken = \"{token}\"\n\n[[upstream_private]]\n\
             url = \"{other_base}\"\npaths = \"nas.lan\"\ntoken = \"{token}\"\nuser = \"admin\"\n",
            ca_file.display()
        ),
    )
    .unwrap();
    let site = TestServer::start_with(&["--config", toml.to_str().unwrap()], &[]);
    site.add_user("alice", "alice password 1");
    let alice = Auth::Basic("alice", "alice password 1");
    let zip = |auth: &Auth, path: &str| {
        http::curl(auth, &[&format!("{}/go/{path}/@v/v1.0.0.zip", site.url())])
    };
    for path in ["corp.example/secret", "nas.lan/tool"] {
        let r = zip(&Auth::None, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    let r = zip(&alice, "corp.example/secret");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == secret.bytes());
    let r = zip(&alice, "nas.lan/tool");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == tool.bytes());
    for path in ["corp.example/secret", "nas.lan/tool"] {
        let r = zip(&Auth::None, path);
        assert_eq!(r.status, 404, "{path} after caching: {}", r.text());
    }
    // Each upstream was asked for its own paths only.
    std::thread::sleep(Duration::from_millis(400));
    let (a, b) = (central.stderr_log(), other.stderr_log());
    assert!(
        a.contains("/api/packages/corp/go/corp.example/secret/@v/v1.0.0.zip 200"),
        "{a}"
    );
    assert!(
        b.contains("/api/packages/team/go/nas.lan/tool/@v/v1.0.0.zip 200"),
        "{b}"
    );
    assert!(!a.contains("nas.lan"), "{a}");
    assert!(!b.contains("corp.example"), "{b}");
}

/// A cold fetch through `/go` appends the version's record to the shelf's log forever, as a
/// lookup miss does: it is charged to the requester's `sumdb_lookup_budget` (the address
/// `X-Forwarded-For` names behind a trusted proxy), and past it the answer is `503` saying
/// whose budget; versions already kept cost nothing, and another client is unaffected.
#[test]
fn cold_fetches_are_charged_to_the_requesters_lookup_budget() {
    let up = Upstream::start();
    up.grow(20, "before");
    for k in 0..5 {
        up.publish(&module(
            &format!("public.example/b{k}"),
            "v1.0.0",
            "",
            "b",
            true,
        ));
    }
    let server = shelf(
        &up,
        &[
            "--sumdb-lookup-budget",
            "3",
            "--trusted-proxies",
            "127.0.0.1",
        ],
        &[],
    );
    let from = |client: &str, k: usize| {
        http::curl(
            &Auth::None,
            &[
                "-H",
                &format!("X-Forwarded-For: {client}"),
                &format!("{}/go/public.example/b{k}/@v/v1.0.0.mod", server.url()),
            ],
        )
    };
    for k in 0..3 {
        let r = from("10.0.0.1", k);
        assert_eq!(r.status, 200, "{k}: {}", r.text());
    }
    let over = from("10.0.0.1", 3);
    assert_eq!(over.status, 503, "{}", over.text());
    assert!(
        over.text().contains("address 10.0.0.1") && over.text().contains("sumdb_lookup_budget"),
        "{}",
        over.text()
    );
    assert_eq!(over.header("retry-after"), Some("3600"));
    // What is kept costs nothing; another client has its own budget.
    assert_eq!(from("10.0.0.1", 0).status, 200);
    let other = from("10.0.0.2", 3);
    assert_eq!(other.status, 200, "{}", other.text());
    assert_eq!(from("10.0.0.1", 3).status, 200, "now kept");
}

/// `upstream_nosumdb` (issue 27: content no checksum database covers, pinned on first
/// fetch): its paths are never sent to a checksum database (not for its `.mod`, not for a
/// lookup of the shelf's own log, not through the proxy of the upstream's); its zip is
/// checked by what it holds (the module and version, its go.mod against the `.mod`); its hash
/// is pinned at the first fetch, so the same version evicted (`cache_max_bytes`) and changed
/// upstream is refused; and it is not appended to the shelf's log.
#[test]
fn pinned_modules_are_never_looked_up_and_keep_their_first_hash() {
    let up = Upstream::start();
    let blob = |path: &str, version: &str, tag: &str| {
        module(path, version, "", tag, true)
            .stored()
            .file("blob.bin", &crate::support::incompressible(tag, 1 << 20))
    };
    let first = blob("pinned.example/m", "v1.0.0", "one");
    // Logged upstream too: the shelf must not ask whether they are.
    up.publish(&first);
    up.publish(&module("pinned.example/m", "v1.1.0", "", "two", true));
    up.publish(&module("pinned.example/m", "v1.2.0", "", "three", true));
    up.publish(&blob("pinned.example/n", "v1.0.0", "other"));
    // v1.1.0's zip is v1.0.0's; v1.2.0's .mod is not the go.mod in its zip.
    up.set_file("pinned.example/m/@v/v1.1.0.zip", first.bytes());
    up.set_file(
        "pinned.example/m/@v/v1.2.0.mod",
        b"module pinned.example/m\n\ngo 1.21\n".to_vec(),
    );
    let server = shelf(
        &up,
        &["--cache-max-bytes", "1536KiB"],
        &[("GOSHELF_UPSTREAM_NOSUMDB", "pinned.example")],
    );
    let zip = get(&server, "/go/pinned.example/m/@v/v1.0.0.zip");
    assert_eq!(zip.status, 200, "{}", zip.text());
    assert!(zip.body == first.bytes());
    let refused = |path: &str, why: &str| {
        let r = get(&server, path);
        assert_eq!(r.status, 502, "{path}: {}", r.text());
        assert!(r.text().contains(why), "{path}: {}", r.text());
    };
    refused(
        "/go/pinned.example/m/@v/v1.1.0.zip",
        "its zip holds pinned.example/m@v1.0.0",
    );
    refused(
        "/go/pinned.example/m/@v/v1.2.0.zip",
        "the go.mod in its zip hashes to",
    );
    // Not in the shelf's log, and not fetched into it; not asked through the proxy.
    let name = vkey(&server).split('+').next().unwrap().to_owned();
    let own = get(
        &server,
        &format!("/sumdb/{name}/lookup/pinned.example/m@v1.0.0"),
    );
    assert_eq!(own.status, 404, "{}", own.text());
    let proxied = get(
        &server,
        "/go/sumdb/localhost.localdev/sumdb/lookup/pinned.example/m@v1.0.0",
    );
    assert_eq!(proxied.status, 404, "{}", proxied.text());
    let asked: Vec<String> = up
        .requests()
        .into_iter()
        .filter(|r| r.contains("lookup/pinned.example"))
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
    // Pinned: evicted by the cap (another module's zip), then changed upstream, it is
    // refused; as it was, it is served again.
    let n = get(&server, "/go/pinned.example/n/@v/v1.0.0.zip");
    assert_eq!(n.status, 200, "{}", n.text());
    let changed = blob("pinned.example/m", "v1.0.0", "changed");
    up.set_file("pinned.example/m/@v/v1.0.0.zip", changed.bytes());
    refused(
        "/go/pinned.example/m/@v/v1.0.0.zip",
        "it was pinned at its first fetch as h1:",
    );
    assert_eq!(up.count("m/@v/v1.0.0.zip"), 2, "fetched again once evicted");
    up.set_file("pinned.example/m/@v/v1.0.0.zip", first.bytes());
    let back = get(&server, "/go/pinned.example/m/@v/v1.0.0.zip");
    assert_eq!(back.status, 200, "{}", back.text());
    assert!(back.body == first.bytes());
}
