//! Issue 28, `goshelf export`: a shelf's hosted modules written as a module-cache-layout
//! GOPROXY tree with its checksum database's lookups and tiles, which the real go command
//! uses offline as `GOPROXY=file:///...`, verifying every module against the shelf's log read
//! from the same tree; a byte changed in an exported zip is caught.

use std::time::Duration;

use crate::support::for_each_go;
use crate::support::http;
use crate::support::{Go, GoEnv, ModZip, TestServer};

fn module(path: &str, version: &str) -> ModZip {
    ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.19\n").as_bytes())
        .file(
            "lib.go",
            format!("package lib\n\nfunc Version() string {{ return \"{version}\" }}\n").as_bytes(),
        )
}

fn export_then_build_offline(go: Go) {
    go.bin();
    let mut server = TestServer::start_with(&[], &[]);
    server.add_org("acme", "public");
    for v in ["v1.0.0", "v1.1.0", "v1.2.0-rc.1"] {
        server.upload("acme", &module("example.com/lib", v));
    }
    server.upload("acme", &module("example.com/Upper", "v0.1.0"));
    server.add_org("other", "public");
    server.upload("other", &module("example.com/elsewhere", "v1.0.0"));
    server.cli(&["owner", "share", "other", "example.com/lib"]);
    server.upload("other", &module("example.com/lib", "v1.9.0"));
    let key = http::get(&format!("{}/sumdb-key", server.url()))
        .text()
        .trim()
        .to_owned();
    server.signal("TERM");
    assert!(server.wait().success());
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    let db = server.db_path().to_str().unwrap().to_owned();
    let ran = crate::support::stress::goshelf(
        &[
            "export",
            bundle.to_str().unwrap(),
            "--owner",
            "acme",
            "--db",
            &db,
        ],
        &[],
        Duration::from_secs(60),
    );
    let said = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(said.starts_with("exported 4 versions"), "{said}");
    // The layout: escaped paths, list without the others' modules.
    assert_eq!(
        std::fs::read_to_string(bundle.join("example.com/lib/@v/list")).unwrap(),
        "v1.0.0\nv1.1.0\nv1.2.0-rc.1\n"
    );
    assert!(bundle.join("example.com/!upper/@v/v0.1.0.zip").is_file());
    assert!(!bundle.join("example.com/elsewhere").exists());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("goshelf-bundle.json")).unwrap())
            .unwrap();
    assert_eq!(record["modules"]["example.com/lib"], "acme");
    assert_eq!(record["namespaces"][0]["visibility"], "public");
    // Everything: a path hosted twice comes from the first namespace only, said so.
    let whole = out.path().join("whole");
    let ran = crate::support::stress::goshelf(
        &["export", whole.to_str().unwrap(), "--db", &db],
        &[],
        Duration::from_secs(60),
    );
    let said = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(ran.status.success(), "{said}");
    assert!(said.starts_with("exported 5 versions"), "{said}");
    assert!(
        said.contains("example.com/lib is hosted by acme and other: exported from acme only"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(whole.join("example.com/lib/@v/list")).unwrap(),
        "v1.0.0\nv1.1.0\nv1.2.0-rc.1\n"
    );
    assert!(whole.join("example.com/elsewhere/@v/v1.0.0.mod").is_file());
    // A client with no network: the tree is its proxy and its checksum database.
    let proxy = format!("file://{}", bundle.display());
    let client = |name: &str| {
        let mut env = GoEnv::new(go, &proxy);
        env.set_env("GONOSUMDB", "");
        env.set_env("GOPRIVATE", "");
        env.set_env("GOSUMDB", &key);
        env.set_env("GOFLAGS", "-mod=mod -modcacherw");
        let dir = env.empty_dir(name);
        std::fs::write(
            dir.join("go.mod"),
            "module example.com/app\n\ngo 1.19\n\nrequire example.com/lib v1.1.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.go"),
            "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Version()) }\n",
        )
        .unwrap();
        let out = env.command(&["run", "."], &dir).output().unwrap();
        (out, env)
    };
    let (ran, env) = client("app");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "v1.1.0\n");
    // It verified against the log from the tree: the go command kept the tree's head.
    let name = key.split('+').next().unwrap();
    let gopath = env.stdout(&["env", "GOPATH"], &env.empty_dir("env"));
    let latest = std::path::Path::new(gopath.trim())
        .join("pkg/sumdb")
        .join(name)
        .join("latest");
    assert!(
        latest.is_file(),
        "the go command verified nothing against {name}"
    );
    // Another zip of the same version (valid, other bytes) in the tree: a fresh client
    // refuses it, since the log says otherwise.
    let forged = ModZip::new("example.com/lib", "v1.1.0")
        .file("go.mod", b"module example.com/lib\n\ngo 1.19\n")
        .file(
            "lib.go",
            b"package lib\n\nfunc Version() string { return \"forged\" }\n",
        );
    std::fs::write(bundle.join("example.com/lib/@v/v1.1.0.zip"), forged.bytes()).unwrap();
    std::fs::remove_file(bundle.join("example.com/lib/@v/v1.1.0.ziphash")).unwrap();
    let (ran, _) = client("tampered");
    let err = String::from_utf8_lossy(&ran.stderr);
    assert!(!ran.status.success(), "a forged zip was accepted: {err}");
    assert!(err.contains("SECURITY ERROR"), "{err}");
}

for_each_go!(export_then_build_offline);
