//! Issue 28, "An HTTP cache in front": Debian's nginx with the shipped
//! `contrib/nginx-cache.conf` between the go command and goshelf. Version files are served by
//! nginx after the first request, nothing of a private namespace is ever stored or served to
//! another client, requests with credentials never come from the cache, and clients behind
//! it keep their own lookup budgets (nginx's `X-Forwarded-For`, goshelf's `trusted_proxies`).

use std::time::Duration;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::nginx::{Nginx, Relay};
use crate::support::server::ADMIN_TOKEN;
use crate::support::upstream::Upstream;
use crate::support::{Go, GoEnv, ModZip, TestServer};

fn module(path: &str) -> ModZip {
    ModZip::new(path, "v1.0.0")
        .file("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes())
        .file(
            "p.go",
            b"package p\n\nfunc Name() string { return \"p\" }\n",
        )
}

fn vkey(base: &str) -> String {
    http::get(&format!("{base}/sumdb-key"))
        .text()
        .trim()
        .to_owned()
}

/// The version-file requests (`.info`, `.mod`, `.zip`) goshelf's request log shows.
fn version_file_requests(server: &TestServer) -> Vec<String> {
    // The request log is written every 200 ms.
    std::thread::sleep(Duration::from_millis(500));
    server
        .stderr_log()
        .lines()
        .filter(|l| l.contains("goshelf::request: GET "))
        .filter(|l| [".info ", ".mod ", ".zip "].iter().any(|s| l.contains(s)))
        .map(str::to_owned)
        .collect()
}

/// `go mod download -json` of `modules` (at v1.0.0) through `proxy`, verifying with
/// `gosumdb`, from a fresh module cache; every module must come without error.
fn download(go: Go, proxy: &str, gosumdb: &str, modules: &[String]) -> Result<(), String> {
    let mut env = GoEnv::new(go, proxy);
    env.set_env("GONOSUMDB", "");
    env.set_env("GOPRIVATE", "");
    env.set_env("GOSUMDB", gosumdb);
    let mut args = vec!["mod".to_owned(), "download".to_owned(), "-json".to_owned()];
    args.extend(modules.iter().map(|m| format!("{m}@v1.0.0")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.command(&args, &env.empty_dir("work")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .filter(|j| j.get("Error").is_some())
        .collect();
    if out.status.success() && errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} errors, first: {:?}\n{}",
            errors.len(),
            errors.first(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn a_cache_in_front_serves_version_files_and_never_private_ones(go: Go) {
    go.bin();
    let server = TestServer::start_with(&["--trusted-proxies", "127.0.0.1"], &[]);
    server.add_org("acme", "public");
    server.add_org("corp", "private");
    let modules: Vec<String> = (0..5).map(|k| format!("example.com/c{k}")).collect();
    for m in &modules {
        server.upload("acme", &module(m));
    }
    server.upload("corp", &module("corp.example/secret"));
    let nginx = Nginx::start(server.addr());
    let front = nginx.url();
    let key = vkey(server.url());
    let name = key.split('+').next().unwrap().to_owned();
    let gosumdb = format!("{key} {front}/sumdb/{name}");
    // A warm-up pass through nginx, verifying everything with the shelf's log (also through
    // nginx); then a fresh module cache: every version file comes from nginx.
    for base in ["/go", "/api/packages/acme/go"] {
        let proxy = format!("{front}{base}");
        download(go, &proxy, &gosumdb, &modules).unwrap();
        let warm = version_file_requests(&server);
        assert!(!warm.is_empty(), "the warm-up asked goshelf nothing");
        download(go, &proxy, &gosumdb, &modules).unwrap();
        let again = version_file_requests(&server);
        assert_eq!(
            again.len(),
            warm.len(),
            "{base}: the repeat asked goshelf for version files:\n{}",
            again[warm.len()..].join("\n")
        );
    }
    // Private: an authenticated read is never kept for the next anonymous one, and an
    // anonymous 404 never hides the module from its reader.
    let admin = Auth::Bearer(ADMIN_TOKEN);
    let at = |auth: &Auth, path: &str| http::curl(auth, &[&format!("{front}{path}")]);
    for base in ["/go", "/api/packages/corp/go"] {
        let seen_first = format!("{base}/corp.example/secret/@v/v1.0.0.info");
        let r = at(&admin, &seen_first);
        assert_eq!(r.status, 200, "{seen_first}: {r:?}");
        for _ in 0..2 {
            let r = at(&Auth::None, &seen_first);
            assert_eq!(r.status, 404, "{seen_first}: an anonymous client got {r:?}");
        }
        for tail in ["@v/v1.0.0.mod", "@v/v1.0.0.zip", "@v/list", "@latest"] {
            let path = format!("{base}/corp.example/secret/{tail}");
            let r = at(&Auth::None, &path);
            assert_eq!(r.status, 404, "{path}: {r:?}");
            let r = at(&admin, &path);
            assert_eq!(r.status, 200, "{path}: its reader got {r:?}");
            let r = at(&Auth::None, &path);
            assert_eq!(r.status, 404, "{path}: {r:?}");
        }
    }
    // A public answer stored for anonymous clients is never given to one with credentials.
    let public = "/go/example.com/c0/@v/v1.0.0.info";
    assert_eq!(
        at(&Auth::None, public).header("x-cache-status"),
        Some("HIT"),
        "{}",
        nginx.error_log()
    );
    let signed = at(&admin, public);
    assert_eq!(signed.status, 200);
    assert_eq!(signed.header("x-cache-status"), Some("BYPASS"));
    // Nothing private is in nginx's cache directory.
    let mut stored = Vec::new();
    crate::support::walk_files(&nginx.dir().join("cache"))
        .into_iter()
        .for_each(|(_, p)| stored.push(std::fs::read(p).unwrap()));
    assert!(!stored.is_empty(), "nginx stored nothing");
    for bytes in &stored {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("corp.example"),
            "a private answer was stored:\n{text}"
        );
    }
}

for_each_go!(a_cache_in_front_serves_version_files_and_never_private_ones);

/// Two clients behind the cache, each under the lookup budget, whose sum exceeds it, both
/// finish a 300-module download (goshelf charges the address nginx's `X-Forwarded-For`
/// names); without `trusted_proxies` they share nginx's budget and the second is refused.
#[test]
fn clients_behind_the_cache_keep_their_own_lookup_budgets() {
    let go = Go::V1_27;
    go.bin();
    let up = Upstream::start();
    up.grow(30, "before");
    let set = |tag: &str| -> Vec<String> {
        (0..300)
            .map(|k| format!("public.example/{tag}{k}"))
            .collect()
    };
    let (a, b) = (set("a"), set("b"));
    for m in a.iter().chain(&b) {
        up.publish(&module(m));
    }
    let run = |trusted: bool| -> (Result<(), String>, Result<(), String>) {
        let mut args = vec!["--sumdb-lookup-budget", "400"];
        if trusted {
            args.extend(["--trusted-proxies", "127.0.0.1"]);
        }
        let server = TestServer::start_with(
            &args,
            &[
                ("GOSHELF_UPSTREAM", up.proxy_url().as_str()),
                ("GOSHELF_UPSTREAM_SUMDB", up.setting().as_str()),
            ],
        );
        let nginx = Nginx::start(server.addr());
        let to: std::net::SocketAddr = format!("127.0.0.1:{}", nginx.port).parse().unwrap();
        let key = vkey(server.url());
        let name = key.split('+').next().unwrap().to_owned();
        let client = |from: [u8; 4], modules: &[String]| {
            let relay = Relay::start(from, to);
            let gosumdb = format!("{key} {}/sumdb/{name}", relay.url());
            download(go, &format!("{}/go", relay.url()), &gosumdb, modules)
        };
        (client([127, 0, 0, 2], &a), client([127, 0, 0, 3], &b))
    };
    let (first, second) = run(true);
    first.unwrap();
    second.unwrap();
    // The control: one budget for both.
    let (first, second) = run(false);
    first.unwrap();
    let refused =
        second.expect_err("without trusted_proxies the second client shares the first's budget");
    assert!(refused.contains("sumdb_lookup_budget"), "{refused}");
}
