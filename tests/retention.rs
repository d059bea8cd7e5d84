//! Issue 28, "Retention for hosted namespaces": rules set per namespace (CLI, admin API),
//! applied by `goshelf retention run` (a dry run lists exactly what a run removes), each
//! removed version answering `410` as a deleted one does; a build needing only kept versions
//! still works, one needing a removed pseudo-version fails naming it.

use std::time::Duration;

use serde_json::json;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::{Go, GoEnv, ModZip, TestServer};

const MODULE: &str = "example.com/lib";

/// Pseudo-versions of four commits (January to April 2024), uploaded out of their order.
const PSEUDO: [&str; 4] = [
    "v0.0.0-20240301000000-cccccccccccc",
    "v0.0.0-20240101000000-aaaaaaaaaaaa",
    "v0.0.0-20240401000000-dddddddddddd",
    "v0.0.0-20240201000000-bbbbbbbbbbbb",
];

fn version(v: &str) -> ModZip {
    ModZip::new(MODULE, v)
        .file("go.mod", format!("module {MODULE}\n\ngo 1.19\n").as_bytes())
        .file(
            "lib.go",
            format!("package lib\n\nfunc Version() string {{ return \"{v}\" }}\n").as_bytes(),
        )
}

fn cli(server: &TestServer, args: &[&str]) -> String {
    server.cli(args)
}

/// A shelf (with `args`) whose public organisation `acme` holds `versions` of `MODULE`.
fn shelf_with(args: &[&str], versions: &[&str]) -> TestServer {
    let server = TestServer::start_with(args, &[]);
    server.add_org("acme", "public");
    for v in versions {
        server.upload("acme", &version(v));
    }
    server
}

fn status(server: &TestServer, v: &str) -> u16 {
    http::get(&format!(
        "{}/api/packages/acme/go/{MODULE}/@v/{v}.info",
        server.url()
    ))
    .status
}

fn build(go: Go, server: &TestServer, v: &str) -> std::process::Output {
    let mut env = GoEnv::new(go, &server.base("acme"));
    env.set_env("GOFLAGS", "-mod=mod -modcacherw");
    env.set_env("GONOSUMDB", MODULE);
    let dir = env.empty_dir("app");
    std::fs::write(
        dir.join("go.mod"),
        format!("module example.com/app\n\ngo 1.19\n\nrequire {MODULE} {v}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.go"),
        format!("package main\n\nimport (\n\t\"fmt\"\n\n\t\"{MODULE}\"\n)\n\nfunc main() {{ fmt.Println(lib.Version()) }}\n"),
    )
    .unwrap();
    env.command(&["build", "-o", "app", "."], &dir)
        .output()
        .unwrap()
}

fn a_run_removes_what_its_dry_run_lists_and_builds_see_410(go: Go) {
    go.bin();
    let all: Vec<&str> = ["v1.0.0", "v1.1.0-rc.1"]
        .into_iter()
        .chain(PSEUDO)
        .collect();
    let server = shelf_with(&[], &all);
    // Without rules nothing goes.
    let dry = cli(&server, &["retention", "run", "--dry-run"]);
    assert!(
        dry.ends_with("0 versions would be removed (dry run)\n"),
        "{dry}"
    );
    // Keep the newest two pseudo-versions (by commit time: April and March).
    let set = cli(
        &server,
        &["owner", "set-retention", "acme", "--keep-pseudo", "2"],
    );
    assert_eq!(
        set,
        "retention of acme: keep the newest 2 pseudo-versions of each module\n"
    );
    let dry = cli(&server, &["retention", "run", "--dry-run"]);
    let listed: Vec<&str> = dry.lines().filter(|l| l.starts_with("acme\t")).collect();
    assert_eq!(
        listed,
        [
            format!(
                "acme\t{MODULE}@{}\tpseudo-version beyond the kept ones",
                PSEUDO[1]
            ),
            format!(
                "acme\t{MODULE}@{}\tpseudo-version beyond the kept ones",
                PSEUDO[3]
            ),
        ],
        "{dry}"
    );
    // The dry run removed nothing.
    for v in PSEUDO {
        assert_eq!(status(&server, v), 200, "{v}");
    }
    // The admin API's dry run says the same.
    let api = http::admin(
        &server,
        "POST",
        "/api/v1/retention/run",
        Some(json!({"dry_run": true})),
        200,
    );
    let api_listed: Vec<String> = api["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r["module"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        api_listed,
        [
            format!("{MODULE}@{}", PSEUDO[1]),
            format!("{MODULE}@{}", PSEUDO[3])
        ]
    );
    // The run removes exactly those.
    let run = cli(&server, &["retention", "run"]);
    let removed: Vec<&str> = run.lines().filter(|l| l.starts_with("acme\t")).collect();
    assert_eq!(removed, listed, "{run}");
    assert!(run.ends_with("2 versions removed\n"), "{run}");
    for (v, want) in [
        ("v1.0.0", 200),
        ("v1.1.0-rc.1", 200),
        (PSEUDO[0], 200),
        (PSEUDO[2], 200),
        (PSEUDO[1], 410),
        (PSEUDO[3], 410),
    ] {
        assert_eq!(status(&server, v), want, "{v}");
    }
    let list = http::get(&format!(
        "{}/api/packages/acme/go/{MODULE}/@v/list",
        server.url()
    ));
    assert_eq!(list.text(), "v1.0.0\nv1.1.0-rc.1\n");
    // A second run finds nothing more.
    let again = cli(&server, &["retention", "run"]);
    assert!(again.ends_with("0 versions removed\n"), "{again}");
    // From a fresh module cache: a kept pseudo-version builds, a removed one fails naming it.
    let ok = build(go, &server, PSEUDO[2]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let gone = build(go, &server, PSEUDO[1]);
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(!gone.status.success(), "{err}");
    assert!(err.contains("410 Gone") && err.contains(PSEUDO[1]), "{err}");
    // Rules are writers' business: a reader may not set them; clearing stops removals.
    let clear = cli(&server, &["owner", "set-retention", "acme", "--clear"]);
    assert_eq!(clear, "retention of acme: no rules\n");
    server.upload("acme", &version("v0.0.0-20230101000000-eeeeeeeeeeee"));
    let dry = cli(&server, &["retention", "run", "--dry-run"]);
    assert!(
        dry.ends_with("0 versions would be removed (dry run)\n"),
        "{dry}"
    );
    let r = http::curl(
        &Auth::None,
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            r#"{"keep_pseudo":1}"#,
            &format!("{}/api/v1/owners/acme/retention", server.url()),
        ],
    );
    assert_eq!(r.status, 401, "{r:?}");
}

for_each_go!(a_run_removes_what_its_dry_run_lists_and_builds_see_410);

/// `retention_schedule`: a running server applies the rules at its start and then every
/// interval, by itself.
#[test]
fn the_schedule_applies_the_rules_at_start_and_on_its_interval() {
    let mut server = shelf_with(&["--retention-schedule", "1h"], &PSEUDO);
    cli(
        &server,
        &["owner", "set-retention", "acme", "--keep-pseudo", "3"],
    );
    // Nothing goes until the schedule runs again: here, at the next start.
    assert_eq!(status(&server, PSEUDO[1]), 200);
    server.restart();
    let gone = crate::support::poll_until(Duration::from_secs(10), || {
        status(&server, PSEUDO[1]) == 410
    });
    assert!(gone, "{}", server.stderr_log());
    for v in [PSEUDO[0], PSEUDO[2], PSEUDO[3]] {
        assert_eq!(status(&server, v), 200, "{v}");
    }
    assert!(server
        .stderr_log()
        .contains("retention run: 1 versions removed"));
}
