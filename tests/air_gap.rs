//! Issue 28, the air gap: modules fetched on a connected machine (through a shelf, from the
//! test upstream standing in for proxy.golang.org and sum.golang.org) carried to an offline
//! shelf with `goshelf import`, as a go-only module cache or a `goshelf export` tree; on the
//! offline side a fresh client keeping `GOSUMDB=<the upstream's key>` verifies everything
//! through the offline shelf's proxy of that database. Later deliveries, tampered bundles,
//! interrupted imports and visibility.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::upstream::{Lie, Upstream, VKEY};
use crate::support::{Go, GoEnv, ModZip, TestServer};

const PSEUDO: &str = "v0.0.0-20240102030405-abcdefabcdef";

/// A module whose package `p` (at its root) has `Name()` return `name`.
fn module(path: &str, version: &str, name: &str, go_mod: bool) -> ModZip {
    let zip = ModZip::new(path, version).file(
        "p.go",
        format!("package p\n\nfunc Name() string {{ return \"{name}\" }}\n").as_bytes(),
    );
    if go_mod {
        zip.file("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes())
    } else {
        zip
    }
}

/// The upstream's modules of the first project: an uppercase path, a `+incompatible`
/// version (no go.mod), a pseudo-version.
fn publish_first(up: &Upstream) {
    up.grow(30, "before");
    up.publish(&module("public.example/Upper/Kit", "v1.2.0", "kit", true));
    up.publish(&module(
        "public.example/old",
        "v2.0.0+incompatible",
        "old",
        false,
    ));
    up.publish(&module("public.example/pseudo", PSEUDO, "pseudo", true));
    up.grow(5, "after");
}

/// A main module requiring `requires` (path, version, import name) whose `main` prints
/// every `Name()`.
fn write_app(dir: &Path, requires: &[(&str, &str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut go_mod = "module example.com/app\n\ngo 1.19\n\nrequire (\n".to_owned();
    let mut imports = String::new();
    let mut calls = Vec::new();
    for (path, version, alias) in requires {
        go_mod.push_str(&format!("\t{path} {version}\n"));
        imports.push_str(&format!("\t{alias} \"{path}\"\n"));
        calls.push(format!("{alias}.Name()"));
    }
    go_mod.push_str(")\n");
    std::fs::write(dir.join("go.mod"), go_mod).unwrap();
    std::fs::write(
        dir.join("main.go"),
        format!(
            "package main\n\nimport (\n\t\"fmt\"\n\n{imports})\n\nfunc main() {{\n\tfmt.Println({})\n}}\n",
            calls.join(", ")
        ),
    )
    .unwrap();
}

const FIRST: &[(&str, &str, &str)] = &[
    ("public.example/Upper/Kit", "v1.2.0", "kit"),
    ("public.example/old", "v2.0.0+incompatible", "old"),
    ("public.example/pseudo", PSEUDO, "pseudo"),
];

/// A connected shelf fetching from `up`.
fn connected(up: &Upstream) -> TestServer {
    TestServer::start_with(
        &[],
        &[
            ("GOSHELF_UPSTREAM_SUMDB", &up.setting()),
            ("GOSHELF_UPSTREAM", &up.proxy_url()),
            ("GOSHELF_UPSTREAM_TIMEOUT", "5"),
        ],
    )
}

/// An offline shelf that verifies against `up`'s checksum database (never reached).
fn offline(up: &Upstream) -> TestServer {
    offline_with(up, &[])
}

fn offline_with(up: &Upstream, env: &[(&str, &str)]) -> TestServer {
    let setting = up.setting();
    let mut all = vec![
        ("GOSHELF_UPSTREAM_SUMDB", setting.as_str()),
        ("GOSHELF_OFFLINE", "true"),
    ];
    all.extend_from_slice(env);
    TestServer::start_with(&[], &all)
}

/// A client of `server`'s `/go` keeping the upstream's checksum database (through the
/// shelf's proxy of it), with no test prefix exempted.
fn client(go: Go, server: &TestServer) -> GoEnv {
    let mut env = GoEnv::new(go, &format!("{}/go", server.url()));
    env.set_env("GONOSUMDB", "");
    env.set_env("GOPRIVATE", "");
    env.set_env("GOSUMDB", VKEY);
    env
}

/// `go mod tidy` then `go mod download -json all` of a project needing `requires`, in a
/// fresh environment through `server`; returns the environment (its module cache is the
/// bundle).
fn download(go: Go, server: &TestServer, requires: &[(&str, &str, &str)]) -> GoEnv {
    let env = client(go, server);
    let app = env.empty_dir("app");
    write_app(&app, requires);
    env.run(&["mod", "tidy"], &app);
    let json = env.stdout(&["mod", "download", "-json", "all"], &app);
    assert!(!json.contains("\"Error\""), "{json}");
    env
}

/// Builds and runs a project needing `requires` in `env`, from scratch (no go.sum: every
/// module is verified against the checksum database), and checks what it prints.
fn build(env: &GoEnv, dir: &str, requires: &[(&str, &str, &str)]) {
    let app = env.empty_dir(dir);
    write_app(&app, requires);
    env.run(&["mod", "tidy"], &app);
    let out = env.run(&["run", "."], &app);
    let want: Vec<&str> = requires.iter().map(|(_, _, alias)| *alias).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", want.join(" "))
    );
}

/// `goshelf import` of `dir` into `server`'s file (the server stopped for it, then started
/// again).
fn import(server: &mut TestServer, up: &Upstream, dir: &Path, extra: &[&str]) -> Output {
    let status = server.terminate();
    assert!(status.success(), "{}", server.stderr_log());
    let out = import_into(&server.db_path(), up, dir, extra);
    server.restart();
    out
}

fn import_into(db: &Path, up: &Upstream, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        dir.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    crate::support::stress::goshelf(
        &args,
        &[("GOSHELF_UPSTREAM_SUMDB", &up.setting())],
        Duration::from_secs(120),
    )
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `goshelf export OUT` of `server`'s file (stopped for it, then started again).
fn export(server: &mut TestServer, up: &Upstream, out: &Path) -> String {
    let status = server.terminate();
    assert!(status.success(), "{}", server.stderr_log());
    let ran = crate::support::stress::goshelf(
        &[
            "export",
            out.to_str().unwrap(),
            "--db",
            server.db_path().to_str().unwrap(),
        ],
        &[("GOSHELF_UPSTREAM_SUMDB", &up.setting())],
        Duration::from_secs(120),
    );
    assert!(ran.status.success(), "{}", said(&ran));
    server.restart();
    said(&ran)
}

/// GET `path` of `server` without credentials.
fn anon(server: &TestServer, path: &str) -> http::Response {
    http::curl(&Auth::None, &[&format!("{}{path}", server.url())])
}

/// `server`'s checksum database key, and its name.
fn log_key(server: &TestServer) -> (String, String) {
    let key = http::get(&format!("{}/sumdb-key", server.url()))
        .text()
        .trim()
        .to_owned();
    let name = key.split('+').next().unwrap().to_owned();
    (key, name)
}

fn verify_clean(db: &Path) {
    let out = crate::support::stress::goshelf(
        &["verify", "--db", db.to_str().unwrap()],
        &[],
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("verify: OK"), "{}", said(&out));
}

/// `go mod download -json all` on the connected side, its module cache imported into an
/// offline shelf, a fresh client builds through it with the upstream's GOSUMDB.
fn a_module_cache_carried_across_the_gap_builds_offline(go: Go) {
    let up = Upstream::start();
    publish_first(&up);
    let site = connected(&up);
    let bundle = download(go, &site, FIRST);
    let cache = bundle.modcache();
    assert!(
        cache
            .join("cache/download/sumdb/localhost.localdev/sumdb/lookup")
            .is_dir(),
        "the go command kept its lookups"
    );
    up.lie(Lie::Down);
    let asked = up.requests().len();
    let mut gap = offline(&up);
    let out = import(&mut gap, &up, &cache, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).starts_with(
            "imported 3 versions (3 into the cache, 0 hosted), 0 already present, 0 refused"
        ),
        "{}",
        said(&out)
    );
    let env = client(go, &gap);
    build(&env, "offline", FIRST);
    assert_eq!(up.requests().len(), asked, "nothing reached the upstream");
    // Again: everything is present, nothing changes.
    let again = import(&mut gap, &up, &cache, &[]);
    assert!(again.status.success(), "{}", said(&again));
    assert!(
        said(&again).contains("0 versions (0 into the cache, 0 hosted), 3 already present"),
        "{}",
        said(&again)
    );
    gap.terminate();
    verify_clean(&gap.db_path());
}

/// The same across two shelves: `goshelf export` on the connected one, `goshelf import` on
/// the offline one.
fn an_export_imported_on_an_offline_shelf_builds(go: Go) {
    let up = Upstream::start();
    publish_first(&up);
    let mut site = connected(&up);
    drop(download(go, &site, FIRST));
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let report = export(&mut site, &up, &bundle);
    assert!(
        report.contains("3 of them cached public modules"),
        "{report}"
    );
    up.lie(Lie::Down);
    let mut gap = offline(&up);
    let out = import(&mut gap, &up, &bundle, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).starts_with("imported 3 versions (3 into the cache"),
        "{}",
        said(&out)
    );
    build(&client(go, &gap), "offline", FIRST);
    // The export is itself a GOPROXY for the go command, offline.
    let mut file_env = GoEnv::new(go, &format!("file://{}", bundle.display()));
    file_env.set_env("GONOSUMDB", "");
    file_env.set_env("GOPRIVATE", "");
    file_env.set_env("GOSUMDB", VKEY);
    build(&file_env, "file", FIRST);
}

for_each_go!(
    a_module_cache_carried_across_the_gap_builds_offline,
    an_export_imported_on_an_offline_shelf_builds
);

/// `goshelf export --for go.sum`: only the versions a project needs, the ones this shelf
/// lacks named; the bundle builds that project offline.
#[test]
fn an_export_for_a_go_sum_holds_what_the_project_needs() {
    let go = Go::V1_27;
    let up = Upstream::start();
    publish_first(&up);
    let mut site = connected(&up);
    let env = download(go, &site, FIRST);
    let app = env.empty_dir("app");
    let sum = std::fs::read_to_string(app.join("go.sum")).unwrap();
    let kit: String = sum
        .lines()
        .filter(|l| l.starts_with("public.example/Upper/Kit "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(kit.lines().count(), 2, "{sum}");
    let project = env.empty_dir("kit-only");
    std::fs::write(
        project.join("go.sum"),
        format!("{kit}elsewhere.example/gone v1.0.0/go.mod h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let status = site.terminate();
    assert!(status.success());
    let ran = crate::support::stress::goshelf(
        &[
            "export",
            bundle.to_str().unwrap(),
            "--for",
            project.join("go.sum").to_str().unwrap(),
            "--db",
            site.db_path().to_str().unwrap(),
        ],
        &[("GOSHELF_UPSTREAM_SUMDB", &up.setting())],
        Duration::from_secs(120),
    );
    let text = said(&ran);
    assert!(ran.status.success(), "{text}");
    assert!(text.starts_with("exported 1 versions"), "{text}");
    assert!(
        text.contains(
            "1 versions the --for files need are not on this shelf: elsewhere.example/gone@v1.0.0"
        ),
        "{text}"
    );
    assert!(bundle
        .join("public.example/!upper/!kit/@v/v1.2.0.zip")
        .is_file());
    assert!(!bundle.join("public.example/old").exists());
    let mut gap = offline(&up);
    let out = import(&mut gap, &up, &bundle, &[]);
    assert!(out.status.success(), "{}", said(&out));
    build(&client(go, &gap), "kit", &FIRST[..1]);
}

/// `--server`: a running offline shelf imports a module cache (no restart: clients build at
/// once), and exports into an empty directory on its machine; only an admin may ask.
#[test]
fn a_running_shelf_imports_and_exports_with_server() {
    let go = Go::V1_27;
    let up = Upstream::start();
    publish_first(&up);
    let site = connected(&up);
    let bundle = download(go, &site, FIRST);
    up.lie(Lie::Down);
    let gap = offline(&up);
    let run = |args: &[&str], token: &str| {
        let mut all = args.to_vec();
        all.extend(["--server", gap.url()]);
        crate::support::stress::goshelf(&all, &[("GOSHELF_TOKEN", token)], Duration::from_secs(120))
    };
    let cache = bundle.modcache();
    gap.add_user("dev", "a-long-password-1");
    let dev = http::api(
        &gap,
        &Auth::Basic("dev", "a-long-password-1"),
        "POST",
        "/api/v1/tokens",
        Some(serde_json::json!({"name": "t", "scope": "write"})),
    );
    assert_eq!(dev.status, 201, "{}", dev.text());
    let dev: serde_json::Value = serde_json::from_str(&dev.text()).unwrap();
    let dev_token = dev["token"].as_str().unwrap().to_owned();
    let refused = run(&["import", cache.to_str().unwrap()], &dev_token);
    assert!(!refused.status.success(), "{}", said(&refused));
    let out = run(&["import", cache.to_str().unwrap()], gap.token());
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).starts_with("imported 3 versions (3 into the cache"),
        "{}",
        said(&out)
    );
    build(&client(go, &gap), "online", FIRST);
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let out = run(&["export", tree.to_str().unwrap()], gap.token());
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("3 of them cached public modules"),
        "{}",
        said(&out)
    );
    assert!(tree
        .join("public.example/!upper/!kit/@v/v1.2.0.zip")
        .is_file());
    let again = run(&["export", tree.to_str().unwrap()], gap.token());
    assert!(!again.status.success());
    assert!(said(&again).contains("not empty"), "{}", said(&again));
}

/// Writes `zip` as a version of a GOPROXY tree under `root` (`.mod` from its go.mod).
fn put_version(root: &Path, zip: &ModZip) {
    let dir = root
        .join(goshelf::gomod::path::escape_path(zip.path()).unwrap())
        .join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let v = zip.version();
    std::fs::write(dir.join(format!("{v}.mod")), zip.content("go.mod").unwrap()).unwrap();
    std::fs::write(dir.join(format!("{v}.zip")), zip.bytes()).unwrap();
}

/// A version already present with other hashes is a conflict: reported, never overwritten,
/// in the cache and in a namespace alike.
#[test]
fn a_version_present_with_other_hashes_is_never_overwritten() {
    let up = Upstream::start();
    let work = tempfile::tempdir().unwrap();
    let (first, second) = (work.path().join("first"), work.path().join("second"));
    let one = module("public.example/twice", "v1.0.0", "one", true);
    let two = module("public.example/twice", "v1.0.0", "two", true);
    put_version(&first, &one);
    put_version(&second, &two);
    let db = work.path().join("g.redb");
    for ns in [None, Some("corp")] {
        let mut extra = vec!["--allow-unverified"];
        if let Some(ns) = ns {
            extra.extend(["--namespace", ns]);
            let ok = crate::support::stress::goshelf(
                &[
                    "private",
                    "add",
                    "public.example",
                    "--db",
                    db.to_str().unwrap(),
                ],
                &[],
                Duration::from_secs(30),
            );
            assert!(ok.status.success(), "{}", said(&ok));
        }
        let out = import_into(&db, &up, &first, &extra);
        assert!(out.status.success(), "{ns:?}: {}", said(&out));
        let out = import_into(&db, &up, &second, &extra);
        let text = said(&out);
        assert!(!out.status.success(), "{ns:?}: {text}");
        assert!(
            text.contains("refused: public.example/twice@v1.0.0: conflict: ")
                && text.contains("never overwritten"),
            "{ns:?}: {text}"
        );
        // The first stays: the same bundle again is present, not a conflict.
        let out = import_into(&db, &up, &first, &extra);
        assert!(
            said(&out).contains("1 already present, 0 refused"),
            "{ns:?}: {}",
            said(&out)
        );
    }
    let mut server = offline(&up);
    server.terminate();
    std::fs::copy(&db, server.db_path()).unwrap();
    server.restart();
    // (The path is now hosted in the private namespace corp, which hides the cached copy
    // from anonymous readers: read corp's as the admin.)
    let zip = http::curl(
        &Auth::Bearer(server.token()),
        &[&format!(
            "{}/api/packages/corp/go/public.example/twice/@v/v1.0.0.zip",
            server.url()
        )],
    );
    assert_eq!(zip.status, 200);
    assert!(zip.body == one.bytes(), "the first zip is served");
    server.terminate();
    verify_clean(&server.db_path());
}

/// Two deliveries made 1,000 upstream records apart: a client that verified after the first
/// still verifies after the second (one head at a time, each proven consistent with the one
/// before); a go-only bundle made later without that proof is refused whole.
#[test]
fn later_deliveries_keep_the_clients_timeline() {
    let go = Go::V1_27;
    let up = Upstream::start();
    publish_first(&up);
    let mut site = connected(&up);
    drop(download(go, &site, FIRST));
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    export(&mut site, &up, &first);
    let mut gap = offline(&up);
    let out = import(&mut gap, &up, &first, &[]);
    assert!(out.status.success(), "{}", said(&out));
    let mut offline_client = client(go, &gap);
    build(&offline_client, "one", FIRST);
    let latest = |env: &GoEnv| {
        std::fs::read_to_string(
            env.gopath()
                .join("pkg/sumdb/localhost.localdev/sumdb/latest"),
        )
        .unwrap()
    };
    let seen = latest(&offline_client);

    // 1,000 records later, a new module, fetched through the connected shelf.
    up.grow(1000, "gap");
    up.publish(&module("public.example/second", "v1.0.0", "second", true));
    let second_req = [("public.example/second", "v1.0.0", "second")];
    drop(download(go, &site, &second_req));
    let second = dir.path().join("second");
    export(&mut site, &up, &second);
    let out = import(&mut gap, &up, &second, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("1 into the cache"), "{}", said(&out));
    // The same client (it remembers the first head) with a fresh module cache.
    std::fs::remove_dir_all(offline_client.modcache()).unwrap();
    offline_client.set_env("GOPROXY", &format!("{}/go", gap.url()));
    build(&offline_client, "two", &second_req);
    build(&offline_client, "one-again", FIRST);
    assert_ne!(
        latest(&offline_client),
        seen,
        "the client moved to the second head"
    );

    // A go-only bundle made 1,000 records later still: its lookups are in a head whose
    // consistency with the shelf's it cannot prove.
    up.grow(1000, "later");
    up.publish(&module("public.example/third", "v1.0.0", "third", true));
    let third_req = [("public.example/third", "v1.0.0", "third")];
    let go_only = download(go, &site, &third_req);
    let out = import(&mut gap, &up, &go_only.modcache(), &[]);
    assert!(!out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(
        text.contains("is not proven consistent with the head this shelf holds")
            && text.contains("nothing was imported"),
        "{text}"
    );
    let r = anon(&gap, "/go/public.example/third/@v/v1.0.0.info");
    assert_eq!(r.status, 404, "refused whole: {}", r.text());
}

/// Every bad entry of a tampered bundle refused with its reason, every good one imported,
/// exit non-zero, `verify` clean.
#[test]
fn a_tampered_bundle_loses_only_its_bad_entries() {
    let up = Upstream::start();
    publish_first(&up);
    for name in ["a", "b", "c", "d"] {
        up.publish(&module(
            &format!("public.example/{name}"),
            "v1.0.0",
            name,
            true,
        ));
    }
    let site = connected(&up);
    let mut requires = FIRST.to_vec();
    requires.extend([
        ("public.example/a", "v1.0.0", "a"),
        ("public.example/b", "v1.0.0", "b"),
        ("public.example/c", "v1.0.0", "c"),
        ("public.example/d", "v1.0.0", "d"),
    ]);
    let env = download(Go::V1_27, &site, &requires);
    let root = env.modcache().join("cache/download");
    let v = |m: &str| root.join(m).join("@v");
    // A graph-only version (as `go mod tidy` leaves some): its .mod and lookup, no zip.
    for ext in ["zip", "ziphash", "info"] {
        std::fs::remove_file(v("public.example/d").join(format!("v1.0.0.{ext}"))).unwrap();
    }
    // A zip byte changed.
    let zip = v("public.example/a").join("v1.0.0.zip");
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(&zip, bytes).unwrap();
    // A .ziphash that lies.
    std::fs::write(
        v("public.example/b").join("v1.0.0.ziphash"),
        "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap();
    // A lookup whose signature is bad.
    let lookup = root.join("sumdb/localhost.localdev/sumdb/lookup/public.example/c@v1.0.0");
    let text = std::fs::read_to_string(&lookup).unwrap();
    let sig_at = text.rfind("\u{2014} ").unwrap() + 30;
    let mut forged = text.into_bytes();
    forged[sig_at] = if forged[sig_at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&lookup, forged).unwrap();
    // Paths with `..`.
    std::fs::write(v("public.example/old").join("...mod"), b"module x\n").unwrap();
    std::fs::create_dir_all(root.join("public.example/..evil/@v")).unwrap();
    std::fs::write(
        root.join("public.example/..evil/@v/v1.0.0.mod"),
        b"module x\n",
    )
    .unwrap();

    let mut gap = offline(&up);
    let out = import(&mut gap, &up, &env.modcache(), &[]);
    let text = said(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.starts_with(
            "imported 4 versions (4 into the cache, 0 hosted), 0 already present, 5 refused"
        ),
        "{text}"
    );
    let reasons: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("refused: "))
        .filter_map(|l| l.split_once(": "))
        .collect();
    assert!(reasons["public.example/a@v1.0.0"].contains("zip"), "{text}");
    assert!(
        reasons["public.example/b@v1.0.0"].contains("its .ziphash says"),
        "{text}"
    );
    assert!(
        reasons["public.example/c@v1.0.0"].contains("fails verification"),
        "{text}"
    );
    assert!(
        reasons["public.example/old@.."].contains("version"),
        "{text}"
    );
    assert!(
        reasons["public.example/..evil"].contains("not a module path"),
        "{text}"
    );
    for bad in ["a", "b", "c"] {
        let r = anon(&gap, &format!("/go/public.example/{bad}/@v/v1.0.0.info"));
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
    }
    // The graph-only version: .mod and .info served, no zip.
    let base = "/go/public.example/d/@v/v1.0.0";
    let d_mod = anon(&gap, &format!("{base}.mod"));
    assert_eq!(d_mod.status, 200, "{}", d_mod.text());
    assert_eq!(d_mod.text(), "module public.example/d\n\ngo 1.19\n");
    let d_info = anon(&gap, &format!("{base}.info"));
    assert_eq!(d_info.status, 200, "{}", d_info.text());
    assert!(
        d_info.text().contains("\"Version\":\"v1.0.0\""),
        "{}",
        d_info.text()
    );
    let d_zip = anon(&gap, &format!("{base}.zip"));
    assert_eq!(d_zip.status, 404, "{}", d_zip.text());
    build(&client(Go::V1_27, &gap), "good", FIRST);
    gap.terminate();
    verify_clean(&gap.db_path());
}

/// Every file of an export of `db` but the shelf's own signatures: the module files, the
/// upstream database's lookups and tiles, and the own log's records with their ids.
fn state_of(db: &Path, up: &Upstream, out: &Path) -> BTreeMap<String, Vec<u8>> {
    let ran = crate::support::stress::goshelf(
        &[
            "export",
            out.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        &[("GOSHELF_UPSTREAM_SUMDB", &up.setting())],
        Duration::from_secs(120),
    );
    assert!(ran.status.success(), "{}", said(&ran));
    let mut state = BTreeMap::new();
    for (rel, path) in crate::support::walk_files(out) {
        let bytes = std::fs::read(&path).unwrap();
        if rel.starts_with("sumdb/localhost.localdev/") || !rel.starts_with("sumdb/") {
            if rel != "goshelf-bundle.json" {
                state.insert(rel, bytes);
            }
        } else if rel.contains("/lookup/") {
            // The own log: the record and its id, not the signature of this file's key.
            let text = String::from_utf8_lossy(&bytes);
            let record = text.split("\n\n").next().unwrap().to_owned();
            state.insert(
                format!("own {}", rel.split("/lookup/").nth(1).unwrap()),
                record.into_bytes(),
            );
        }
    }
    state
}

/// An import killed (`kill -9`) at 20 random points: each re-run ends identical to an
/// uninterrupted import, `verify` clean. The killed imports make their progress durable
/// after every version (`--checkpoint 0`), so that the kills leave every kind of part.
#[test]
fn an_import_killed_anywhere_is_finished_by_running_it_again() {
    let up = Upstream::start();
    publish_first(&up);
    let names: Vec<String> = (0..12).map(|i| format!("public.example/many{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut zip = module(name, "v1.0.0", &format!("m{i}"), true);
        zip = zip.file("data.bin", &crate::support::incompressible(name, 64 << 10));
        up.publish(&zip);
    }
    let site = connected(&up);
    // No need to build: download the graph.
    let env = client(Go::V1_27, &site);
    let app = env.empty_dir("app");
    write_app(&app, FIRST);
    env.run(&["mod", "tidy"], &app);
    for name in &names {
        env.run(
            &["mod", "download", "-json", &format!("{name}@v1.0.0")],
            &app,
        );
    }
    let bundle = env.modcache();
    let work = tempfile::tempdir().unwrap();
    // The uninterrupted import, timed.
    let reference = work.path().join("reference.redb");
    let started = std::time::Instant::now();
    let out = import_into(&reference, &up, &bundle, &[]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("15 versions"), "{}", said(&out));
    let want = state_of(&reference, &up, &work.path().join("reference-export"));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(std::process::id());
    let mut progress = Vec::new();
    for round in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let db = work.path().join(format!("killed-{round}.redb"));
        // Made first, so that the import's own start-up is not what is timed.
        let empty = work.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(import_into(&db, &up, &empty, &[]).status.success());
        let delay = Duration::from_micros(seed % (took.as_micros() as u64).max(1));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
            .args([
                "import",
                bundle.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
                "--checkpoint",
                "0",
            ])
            .env("GOSHELF_UPSTREAM_SUMDB", up.setting())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // How far it got (versions with their zip), as the file shows after the crash.
        let listed = crate::support::stress::goshelf(
            &["cache", "list", "--db", db.to_str().unwrap()],
            &[],
            Duration::from_secs(30),
        );
        assert!(listed.status.success(), "{}", said(&listed));
        let with_zip = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|l| l.split('\t').nth(1).is_some_and(|z| z != "-"))
            .count();
        progress.push(with_zip);
        let out = import_into(&db, &up, &bundle, &[]);
        assert!(
            out.status.success(),
            "round {round} (killed after {delay:?}): {}",
            said(&out)
        );
        verify_clean(&db);
        let got = state_of(&db, &up, &work.path().join(format!("export-{round}")));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "round {round}, killed after {delay:?}"
        );
        for (k, v) in &want {
            assert!(
                got[k] == *v,
                "round {round}, killed after {delay:?}: {k} differs"
            );
        }
    }
    // The kills fell inside imports: some left a part of the versions, not only none or all.
    let partial = progress.iter().filter(|&&n| n > 0 && n < 15).count();
    assert!(
        partial >= 3,
        "versions present after each kill: {progress:?}"
    );
}

/// A private namespace exported and imported into a shelf without its pattern is refused
/// with the command to run; after it, the re-run imports it and it stays private; an
/// `--allow-unverified` version is served but has no record.
#[test]
fn visibility_travels_with_the_bundle() {
    let up = Upstream::start();
    let mut central = TestServer::start_with(&[], &[("GOSHELF_UPSTREAM", "off")]);
    central.add_org("corp", "private");
    central.cli(&["private", "add", "corp.example"]);
    central.upload(
        "corp",
        &module("corp.example/secret", "v1.0.0", "secret", true),
    );
    central.add_org("acme", "public");
    central.upload("acme", &module("open.example/open", "v1.0.0", "open", true));
    let (central_key, central_name) = log_key(&central);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    export(&mut central, &up, &bundle);
    // A shelf with no private pattern.
    let mut gap = offline_with(&up, &[("GOSHELF_PRIVATE", "")]);
    let out = import(&mut gap, &up, &bundle, &["--allow-unverified"]);
    let text = said(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("run: goshelf private add corp.example"),
        "{text}"
    );
    assert!(
        text.contains("refused: corp.example/secret@v1.0.0: namespace corp is not public"),
        "{text}"
    );
    // The public one came (unverified: this shelf trusts no key of central's).
    assert!(
        text.contains("unverified (in no checksum database"),
        "{text}"
    );
    let open = anon(&gap, "/go/open.example/open/@v/v1.0.0.info");
    assert_eq!(open.status, 200, "{}", open.text());
    let (_, name) = log_key(&gap);
    let lookup = anon(
        &gap,
        &format!("/sumdb/{name}/lookup/open.example/open@v1.0.0"),
    );
    assert_eq!(
        lookup.status,
        404,
        "no record of an unverified version: {}",
        lookup.text()
    );

    gap.cli(&["private", "add", "corp.example"]);
    let out = import(&mut gap, &up, &bundle, &["--allow-unverified"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("hosted in corp: 1 versions"),
        "{}",
        said(&out)
    );
    let hidden = anon(&gap, "/go/corp.example/secret/@v/v1.0.0.info");
    assert_eq!(hidden.status, 404, "{}", hidden.text());
    let admin = http::curl(
        &Auth::Bearer(gap.token()),
        &[&format!(
            "{}/api/packages/corp/go/corp.example/secret/@v/v1.0.0.info",
            gap.url()
        )],
    );
    assert_eq!(admin.status, 200, "{}", admin.text());
    // The log's data tiles, read anonymously, never name the private path.
    let latest = anon(&gap, &format!("/sumdb/{name}/latest")).text();
    let size: u64 = latest.lines().nth(1).unwrap().parse().unwrap();
    if size > 0 {
        let tile = anon(&gap, &format!("/sumdb/{name}/tile/8/data/000.p/{size}"));
        assert_eq!(tile.status, 200, "{}", tile.text());
        assert!(!tile.text().contains("corp.example"), "{}", tile.text());
    }
    // A shelf that trusts central's log: the public module is verified by its bundled
    // lookup and logged here; the private one (central does not log it) only with
    // --allow-unverified.
    let mut trusting = offline_with(&up, &[("GOSHELF_PRIVATE", "corp.example")]);
    let out = import(
        &mut trusting,
        &up,
        &bundle,
        &["--trust-sumdb", &central_key, "--allow-unverified"],
    );
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("unverified (in no checksum database; their clients need GONOSUMDB): corp.example/secret@v1.0.0\n"),
        "{text}"
    );
    let (_, name) = log_key(&trusting);
    let lookup = anon(
        &trusting,
        &format!("/sumdb/{name}/lookup/open.example/open@v1.0.0"),
    );
    assert_eq!(lookup.status, 200, "{}", lookup.text());
    // A byte of central's lookup changed: that version is refused.
    let path = bundle.join(format!(
        "sumdb/{central_name}/lookup/open.example/open@v1.0.0"
    ));
    let body = std::fs::read_to_string(&path)
        .unwrap()
        .replace(" h1:", " h1:A");
    std::fs::write(&path, body).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let out = import_into(
        &fresh.path().join("g.redb"),
        &up,
        &bundle,
        &["--trust-sumdb", &central_key, "--namespace", "acme"],
    );
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("refused: open.example/open@v1.0.0: its lookup in"),
        "{}",
        said(&out)
    );
}
