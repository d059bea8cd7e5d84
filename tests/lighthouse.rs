//! Lighthouse scores of the web UI (issue 22): the npm package `lighthouse` (pinned in
//! tests/browser/package.json, installed by tests/run.sh) drives Debian's chromium over the
//! real binary with lighthouse's desktop preset. Accessibility must be 100 on the home,
//! namespace, module, version, package and source pages and the symbol search, and
//! performance 100 on the package page of `net/http` (the largest page the UI makes).
//!
//! Fails (never skips) without node, chromium or the npm packages.

use std::process::Command;

use crate::doc_api::{go_files, goroot};
use crate::support::{ModZip, TestServer};
use crate::web_ui::{browser_dir, chromium, node};

#[test]
fn lighthouse_scores_accessibility_and_performance_100() {
    let (chromium, browser, node) = (chromium(), browser_dir(), node());
    assert!(
        browser
            .join("node_modules/lighthouse/package.json")
            .is_file(),
        "lighthouse is not installed: run `npm ci --prefix tests/browser` (tests/run.sh does this)"
    );
    let server = TestServer::start();
    let root = goroot();
    let mut zip = ModZip::new("example.com/std", "v1.0.0")
        .file("go.mod", b"module example.com/std\n\ngo 1.27\n")
        .file(
            "README.md",
            b"# std\n\nSome **standard** packages, with their [docs](https://go.dev/).\n",
        );
    for pkg in ["net/http", "strings"] {
        for (name, src) in go_files(&root.join("src").join(pkg)) {
            if !name.ends_with("_test.go") || name.starts_with("example") {
                zip = zip.file(&format!("{pkg}/{name}"), src.as_bytes());
            }
        }
    }
    server.upload("acme", &zip);
    let base = server.url();
    let package = format!("{base}/ui/acme/example.com/std/@v/v1.0.0/pkg/net/http");
    let urls = [
        format!("{base}/"),
        format!("{base}/ui/acme"),
        format!("{base}/ui/acme/example.com/std"),
        format!("{base}/ui/acme/example.com/std/@v/v1.0.0"),
        package.clone(),
        format!("{base}/ui/acme/example.com/std/@v/v1.0.0/src/net/http/client.go"),
        format!("{base}/?q=NewReader"),
    ];
    let out = Command::new(node)
        .arg(browser.join("lighthouse.mjs"))
        .args(&urls)
        .env("GOSHELF_TEST_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lighthouse failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), urls.len(), "{stdout}");
    for r in &results {
        println!("{r}");
        assert!(r["runtimeError"].is_null(), "{r}");
        assert_eq!(r["accessibility"], 100, "accessibility: {r}");
        if r["url"] == package.as_str() {
            assert_eq!(r["performance"], 100, "performance of net/http's page: {r}");
        }
    }
}
