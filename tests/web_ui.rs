//! The web UI in a real browser (issue 4): Debian's headless chromium, driven by
//! tests/browser/ui.mjs through playwright-core, against the real binary. Publishes a module,
//! opens home, navigates to the module, checks the README and the install snippet, opens the
//! package's documentation, follows a doc link and a source link, uses the symbol search,
//! uses the copy button, checks a phone-sized dark view, signs in to see a private namespace, creates
//! and revokes a token, and saves screenshots to
//! `$CARGO_TARGET_TMPDIR/test-output/ui/`.
//!
//! Fails (never skips) without node, chromium or tests/browser/node_modules; `tests/run.sh`
//! installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use crate::support::server::ADMIN_TOKEN;
use crate::support::stress::goshelf;
use crate::support::{manifest_dir, ModZip, TestServer};

pub fn chromium() -> PathBuf {
    let path = std::env::var_os("GOSHELF_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: install Debian's chromium (apt-get install chromium chromium-driver) \
         or set GOSHELF_TEST_CHROMIUM; tests/run.sh does this",
        path.display()
    );
    path
}

pub fn browser_dir() -> PathBuf {
    let dir = manifest_dir().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (tests/run.sh \
         does this)"
    );
    dir
}

pub fn node() -> String {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "node is missing: apt-get install nodejs npm (tests/run.sh does this)"
    );
    "node".to_owned()
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-output/ui");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn browser_finds_module_reads_readme_and_copies_install_snippet() {
    let (chromium, browser, node) = (chromium(), browser_dir(), node());
    // An upstream with one public module, which the shelf caches before the browser looks.
    let up = crate::support::upstream::Upstream::start();
    up.publish(&ModZip::with_files(
        "public.example/cached",
        "v1.4.0",
        &[("go.mod", b"module public.example/cached\n")],
    ));
    let server = TestServer::start_with(
        &[],
        &[
            ("GOSHELF_UPSTREAM", &up.proxy_url()),
            ("GOSHELF_UPSTREAM_SUMDB", &up.setting()),
        ],
    );
    for _ in 0..2 {
        let zip = crate::support::http::get(&format!(
            "{}/go/public.example/cached/@v/v1.4.0.zip",
            server.url()
        ));
        assert_eq!(zip.status, 200, "{}", zip.text());
    }
    let module = "example.com/hello";
    let readme = "# Hello from goshelf\n\nThe **browser test** reads this README.\n\n\
                  ```go\nimport \"example.com/hello\"\n```\n\n- one\n- two\n";
    for v in ["v1.0.0", "v1.1.0"] {
        server.upload(
            "acme",
            &ModZip::with_files(
                module,
                v,
                &[
                    ("go.mod", format!("module {module}\n\ngo 1.21\n").as_bytes()),
                    ("README.md", readme.as_bytes()),
                    (
                        "hello.go",
                        b"// Package hello greets; see [World] for whom.\npackage hello\n\n\
                          // World is who is greeted.\ntype World struct{ Name string }\n\n\
                          // Hello says hi.\nfunc Hello() string { return \"hi\" }\n",
                    ),
                ],
            ),
        );
    }
    // A user and a private organisation they belong to, made through the real CLI.
    let env = [
        ("GOSHELF_SERVER", server.url()),
        ("GOSHELF_TOKEN", ADMIN_TOKEN),
        ("GOSHELF_PASSWORD", "correct horse battery"),
    ];
    for args in [
        &["user", "add", "alice"][..],
        &["org", "add", "secret", "--private"][..],
        &["org", "member", "secret", "alice"][..],
        &["user", "add", "root", "--admin"][..],
    ] {
        let o = goshelf(args, &env, Duration::from_secs(60));
        assert!(o.status.success(), "goshelf {args:?}: {o:?}");
    }
    server.upload(
        "secret",
        &ModZip::with_files(
            "example.com/private",
            "v0.1.0",
            &[("go.mod", b"module example.com/private\n\ngo 1.21\n")],
        ),
    );
    let gosumdb = crate::support::http::get(&format!("{}/sumdb-key", server.url())).text();
    let out = output_dir();
    let result = Command::new(node)
        .arg(browser.join("ui.mjs"))
        .args(["--url", server.url()])
        .arg("--out")
        .arg(&out)
        .args(["--owner", "acme", "--module", module, "--version", "v1.1.0"])
        .args(["--readme-text", "The browser test reads this README."])
        .args(["--doc-symbol", "World"])
        .args(["--user", "alice", "--password", "correct horse battery"])
        .args(["--private-owner", "secret"])
        .args(["--gosumdb", gosumdb.trim()])
        .args([
            "--admin-user",
            "root",
            "--admin-password",
            "correct horse battery",
        ])
        .args(["--new-pattern", "*.lab.example"])
        .args(["--cached-module", "public.example/cached@v1.4.0"])
        .args(["--retention-keep", "3"])
        .env("GOSHELF_TEST_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "browser test failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        result.status,
        server.stderr_log()
    );
    for shot in [
        "home-desktop.png",
        "module-desktop.png",
        "package-desktop.png",
        "source-desktop.png",
        "module-phone-dark.png",
        "home-phone-dark.png",
        "private-namespace.png",
        "tokens.png",
        "settings.png",
        "cache.png",
        "retention.png",
    ] {
        let path = out.join(shot);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{stdout}", path.display()))
            .len();
        assert!(len > 5_000, "{} is only {len} bytes", path.display());
    }
    assert!(
        stdout.contains("ok: clipboard holds the install snippet"),
        "{stdout}"
    );
    // The rule the browser set is the namespace's.
    let owners = crate::support::http::admin(&server, "GET", "/api/v1/owners", None, 200);
    let acme = owners
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "acme"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(acme["retention"]["keep_pseudo"], 3, "{owners}");
    // The pattern the browser added is kept, at once.
    let listed = crate::support::http::admin(&server, "GET", "/api/v1/private", None, 200);
    assert!(
        listed["patterns"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == "*.lab.example")),
        "{listed}"
    );
}
