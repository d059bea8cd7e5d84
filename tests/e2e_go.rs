//! End-to-end: the real `go` command (1.27 and 1.19) against the real `goshelf` binary.
//!
//! `go` is the oracle (STYLE.md §3): it verifies every zip and go.mod it downloads against the
//! hashes it computes itself, so a `Sum` equal to the upload's `h1` proves the server's h1,
//! and a successful build proves the served files. Each scenario runs once per toolchain,
//! with its own server and its own GOPATH (support/go.rs describes the environment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use crate::support::for_each_go;
use crate::support::{eqnice, http, Go, GoEnv, ModZip, TestServer};

/// The owner every e2e module is uploaded to.
const OWNER: &str = "admin";

for_each_go!(
    download_json_sums_equal_upload_hashes,
    unusual_zip_layouts_sums_equal_upload_hashes,
    install_uploaded_command_runs,
    get_uppercase_module_path_builds_consumer,
    tidy_resolves_package_import_to_latest_module,
    major_v2_module_downloads_and_builds,
    incompatible_version_is_listed_and_downloads,
    latest_with_only_prereleases_picks_highest_prerelease,
    latest_with_only_pseudo_version_resolves_via_latest_endpoint,
    retracted_version_is_hidden_but_still_served,
    missing_version_error_shows_server_response,
);

fn setup(go: Go) -> (TestServer, GoEnv) {
    go.bin(); // a missing toolchain fails before a server is started
    let server = TestServer::start();
    let env = GoEnv::new(go, &server.base(OWNER));
    (server, env)
}

/// `go mod download -json <query>` parsed.
fn download_json(env: &GoEnv, query: &str) -> serde_json::Value {
    let dir = env.empty_dir("download");
    let out = env.stdout(&["mod", "download", "-json", query], &dir);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("go printed invalid JSON ({e}): {out}"))
}

fn json_str<'a>(json: &'a serde_json::Value, key: &str) -> &'a str {
    json[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {json:#}"))
}

/// Runs a binary that `go` built and returns its stdout.
fn run_binary(path: &Path) -> String {
    let out = Command::new(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(out.status.success(), "{} failed: {out:?}", path.display());
    String::from_utf8(out.stdout).unwrap()
}

fn simple_module(path: &str, version: &str, go_mod: &str) -> ModZip {
    let package = path.rsplit('/').next().unwrap();
    ModZip::with_files(
        path,
        version,
        &[
            ("go.mod", go_mod.as_bytes()),
            ("lib.go", format!("package {package}\n").as_bytes()),
        ],
    )
}

fn download_json_sums_equal_upload_hashes(go: Go) {
    let (server, env) = setup(go);
    let zip = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0");
    let up = server.upload(OWNER, &zip);

    let json = download_json(&env, "example.com/tool@v1.0.0");
    eqnice!(
        up.h1.as_str(),
        json_str(&json, "Sum"),
        "go's zip hash vs upload h1"
    );
    eqnice!(
        up.go_mod_h1.as_str(),
        json_str(&json, "GoModSum"),
        "go's go.mod hash vs upload"
    );
    eqnice!("v1.0.0", json_str(&json, "Version"));
    // The served files are the uploaded bytes, unchanged (spec.md §1.10).
    let served_zip = std::fs::read(json_str(&json, "Zip")).unwrap();
    assert!(
        served_zip == zip.bytes(),
        "served zip differs from the uploaded zip"
    );
    let served_mod = std::fs::read(json_str(&json, "GoMod")).unwrap();
    eqnice!(
        String::from_utf8_lossy(zip.content("go.mod").unwrap()),
        String::from_utf8_lossy(&served_mod)
    );
}

/// Layouts `go mod` never creates but the go command accepts: directory entries (part of
/// `HashZip`) and stored (uncompressed) entries.
fn unusual_zip_layouts_sums_equal_upload_hashes(go: Go) {
    let (server, env) = setup(go);
    let go_mod = "module example.com/layout\n\ngo 1.19\n";
    let zips = [
        simple_module("example.com/layout", "v1.0.0", go_mod)
            .dir("sub")
            .file("sub/x.go", b"package sub\n"),
        simple_module("example.com/layout", "v1.0.1", go_mod).stored(),
    ];
    for zip in &zips {
        let up = server.upload(OWNER, zip);
        let json = download_json(&env, &format!("{}@{}", zip.path(), zip.version()));
        eqnice!(up.h1.as_str(), json_str(&json, "Sum"), "{}", zip.version());
        eqnice!(
            up.go_mod_h1.as_str(),
            json_str(&json, "GoModSum"),
            "{}",
            zip.version()
        );
    }
}

fn install_uploaded_command_runs(go: Go) {
    let (server, env) = setup(go);
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );

    env.install_and_run_hello();
}

fn get_uppercase_module_path_builds_consumer(go: Go) {
    let (server, env) = setup(go);
    let up = server.upload(
        OWNER,
        &ModZip::from_fixture("upper", "example.com/Upper/Lib", "v1.0.0"),
    );

    let main = env.main_module("consumer-upper");
    env.run(&["get", "example.com/Upper/Lib@v1.0.0"], &main);
    env.run(&["build", "-o", "consumer", "."], &main);
    eqnice!(
        "consumer uses example.com/Upper/Lib\n",
        run_binary(&main.join("consumer")).as_str()
    );
    let go_sum = std::fs::read_to_string(main.join("go.sum")).unwrap();
    let expected = format!("example.com/Upper/Lib v1.0.0 {}", up.h1);
    assert!(
        go_sum.lines().any(|l| l == expected),
        "go.sum lacks {expected:?}:\n{go_sum}"
    );
}

fn tidy_resolves_package_import_to_latest_module(go: Go) {
    let (server, env) = setup(go);
    server.upload(
        OWNER,
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    let newer = ModZip::from_fixture("tool", "example.com/tool", "v1.1.0").file(
        "greet/greet.go",
        b"package greet\n\nfunc Message() string { return \"greetings from v1.1.0\" }\n",
    );
    server.upload(OWNER, &newer);

    // The import is example.com/tool/greet: go asks for example.com/tool/greet (not a
    // module: must be 404), example.com/tool and example.com (404) and picks the module.
    let main = env.main_module("consumer-tool");
    env.run(&["mod", "tidy"], &main);
    let go_mod = std::fs::read_to_string(main.join("go.mod")).unwrap();
    assert!(
        go_mod.contains("example.com/tool v1.1.0"),
        "go.mod does not require example.com/tool v1.1.0:\n{go_mod}"
    );
    env.run(&["build", "-o", "consumer", "."], &main);
    eqnice!(
        "greetings from v1.1.0\n",
        run_binary(&main.join("consumer")).as_str()
    );
}

fn major_v2_module_downloads_and_builds(go: Go) {
    let (server, env) = setup(go);
    let up = server.upload(
        OWNER,
        &ModZip::from_fixture("mv2", "example.com/m/v2", "v2.1.0"),
    );

    let json = download_json(&env, "example.com/m/v2@v2.1.0");
    eqnice!(up.h1.as_str(), json_str(&json, "Sum"));
    eqnice!(up.go_mod_h1.as_str(), json_str(&json, "GoModSum"));

    // No version: `go get` resolves latest through the list.
    let main = env.main_module("consumer-v2");
    env.run(&["get", "example.com/m/v2"], &main);
    let go_mod = std::fs::read_to_string(main.join("go.mod")).unwrap();
    assert!(
        go_mod.contains("example.com/m/v2 v2.1.0"),
        "go.mod does not require v2.1.0:\n{go_mod}"
    );
    env.run(&["build", "-o", "consumer", "."], &main);
    eqnice!(
        "consumer uses example.com/m/v2\n",
        run_binary(&main.join("consumer")).as_str()
    );
}

fn incompatible_version_is_listed_and_downloads(go: Go) {
    let (server, env) = setup(go);
    let zip = ModZip::from_fixture("old", "example.com/old", "v3.0.0+incompatible");
    assert!(
        zip.content("go.mod").is_none(),
        "+incompatible needs a zip without go.mod"
    );
    let up = server.upload(OWNER, &zip);

    let dir = env.empty_dir("list");
    eqnice!(
        "example.com/old v3.0.0+incompatible\n",
        env.stdout(&["list", "-m", "-versions", "example.com/old"], &dir)
    );
    let json = download_json(&env, "example.com/old@v3.0.0+incompatible");
    eqnice!(up.h1.as_str(), json_str(&json, "Sum"));
    eqnice!(up.go_mod_h1.as_str(), json_str(&json, "GoModSum"));
    // spec.md §1.2: the synthetic go.mod of a module without one.
    eqnice!(
        "module example.com/old\n",
        std::fs::read_to_string(json_str(&json, "GoMod")).unwrap()
    );
}

fn latest_with_only_prereleases_picks_highest_prerelease(go: Go) {
    let (server, env) = setup(go);
    let go_mod = "module example.com/pre\n\ngo 1.19\n";
    // beta.10 > beta.2 only under numeric comparison of identifiers (spec.md §3.3).
    for v in [
        "v0.9.0-rc.1",
        "v1.0.0-alpha.1",
        "v1.0.0-beta.10",
        "v1.0.0-beta.2",
    ] {
        server.upload(OWNER, &simple_module("example.com/pre", v, go_mod));
    }

    let dir = env.empty_dir("list");
    eqnice!(
        "example.com/pre v1.0.0-beta.10\n",
        env.stdout(&["list", "-m", "example.com/pre@latest"], &dir)
    );
}

fn latest_with_only_pseudo_version_resolves_via_latest_endpoint(go: Go) {
    let (server, env) = setup(go);
    let pseudo = "v0.0.0-20240102030405-abcdefabcdef";
    let go_mod = "module example.com/pseudo\n\ngo 1.19\n";
    let up = server.upload(OWNER, &simple_module("example.com/pseudo", pseudo, go_mod));

    // spec.md §1.2: the list leaves pseudo-versions out but still answers 200.
    let list = http::get(&format!(
        "{}/example.com/pseudo/@v/list",
        server.base(OWNER)
    ));
    eqnice!(
        200,
        list.status,
        "list of a module with only a pseudo-version: {list:?}"
    );
    assert!(
        !list.text().contains(pseudo),
        "list shows the pseudo-version: {list:?}"
    );

    let dir = env.empty_dir("list");
    let out = env.stdout(&["list", "-m", "-json", "example.com/pseudo@latest"], &dir);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    eqnice!(
        pseudo,
        json_str(&json, "Version"),
        "go list -m -json: {out}"
    );

    let json = download_json(&env, "example.com/pseudo@latest");
    eqnice!(up.h1.as_str(), json_str(&json, "Sum"));
}

fn retracted_version_is_hidden_but_still_served(go: Go) {
    let (server, env) = setup(go);
    let plain = "module example.com/retract\n\ngo 1.19\n";
    let retracting = "module example.com/retract\n\ngo 1.19\n\nretract v1.1.0 // broken\n";
    server.upload(
        OWNER,
        &simple_module("example.com/retract", "v1.0.0", plain),
    );
    let retracted = server.upload(
        OWNER,
        &simple_module("example.com/retract", "v1.1.0", plain),
    );
    server.upload(
        OWNER,
        &simple_module("example.com/retract", "v1.2.0", retracting),
    );

    let dir = env.empty_dir("list");
    eqnice!(
        "example.com/retract v1.0.0 v1.2.0\n",
        env.stdout(&["list", "-m", "-versions", "example.com/retract"], &dir)
    );
    eqnice!(
        "example.com/retract v1.0.0 v1.1.0 v1.2.0\n",
        env.stdout(
            &[
                "list",
                "-m",
                "-retracted",
                "-versions",
                "example.com/retract"
            ],
            &dir
        )
    );
    eqnice!(
        "example.com/retract v1.2.0\n",
        env.stdout(&["list", "-m", "example.com/retract@latest"], &dir)
    );
    eqnice!(
        "example.com/retract v1.1.0 (retracted)\n",
        env.stdout(
            &["list", "-m", "-retracted", "example.com/retract@v1.1.0"],
            &dir
        )
    );
    // Retraction is client-side (spec.md §3.6): the version is still served.
    let json = download_json(&env, "example.com/retract@v1.1.0");
    eqnice!(retracted.h1.as_str(), json_str(&json, "Sum"));
}

fn missing_version_error_shows_server_response(go: Go) {
    let (server, env) = setup(go);
    let info = http::get(&format!(
        "{}/example.com/missing/@v/v1.0.0.info",
        server.base(OWNER)
    ));
    eqnice!(404, info.status, "{info:?}");
    eqnice!(Some("text/plain".to_owned()), info.media_type(), "{info:?}");
    let reason = info.text().lines().next().unwrap_or("").trim().to_owned();
    assert!(!reason.is_empty(), "404 without a reason line: {info:?}");

    let dir = env.empty_dir("download");
    let out = env.run_expect_fail(&["mod", "download", "example.com/missing@v1.0.0"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("server response: {reason}");
    assert!(
        stderr.contains(&expected),
        "go's error does not show {expected:?}:\n{stderr}"
    );
}
