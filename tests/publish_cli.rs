//! `goshelf publish` (issue 7) end to end: the real binary builds a zip from a source tree,
//! uploads it to a real server, and the real go command downloads it with the h1 publish
//! printed. Git versions come from real repositories made with the `git` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{eqnice, http, Go, GoEnv, TestServer};

const OWNER: &str = "admin";

/// A module source tree written from (relative path, content) pairs.
fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

fn sample_tree(root: &Path, module: &str) {
    write_tree(
        root,
        &[
            ("go.mod", &format!("module {module}\n\ngo 1.19\n")),
            (
                "lib.go",
                "package lib\n\n// Answer is published.\nconst Answer = 42\n",
            ),
            ("internal/x/x.go", "package x\n"),
            ("vendor/example.com/dep/dep.go", "package dep\n"),
            ("vendor/modules.txt", "# example.com/dep v1.0.0\n"),
            ("sub/go.mod", "module example.com/other/sub\n"),
            ("sub/sub.go", "package sub\n"),
            (".hg_archival.txt", "repo: x\n"),
        ],
    );
}

/// Runs `goshelf publish <dir> <args>`, with a clean environment plus `env`.
fn publish(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["publish", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    crate::support::stress::goshelf(&all, env, std::time::Duration::from_secs(120))
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "publish failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "publish succeeded but should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// The two go.sum lines publish printed: (zip h1, go.mod h1).
fn printed_sums(stdout: &str, module: &str, version: &str) -> (String, String) {
    let find = |prefix: String| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stdout}"))
            .to_owned()
    };
    (
        find(format!("{module} {version} ")),
        find(format!("{module} {version}/go.mod ")),
    )
}

fn upload_env(server: &TestServer) -> Vec<(&'static str, String)> {
    vec![
        ("GOSHELF_SERVER", server.url().to_owned()),
        ("GOSHELF_OWNER", OWNER.to_owned()),
        ("GOSHELF_TOKEN", server.token().to_owned()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn publish_round_trip_go_download_reports_printed_h1() {
    for go in [Go::V1_27, Go::V1_19] {
        go.bin();
        let server = TestServer::start();
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path(), "example.com/pub");
        let env = upload_env(&server);
        let stdout = ok(&publish(
            src.path(),
            &["--version", "v1.0.0"],
            &env_refs(&env),
        ));
        assert!(
            stdout.contains("published example.com/pub@v1.0.0"),
            "{stdout}"
        );
        let (h1, mod_h1) = printed_sums(&stdout, "example.com/pub", "v1.0.0");

        let goenv = GoEnv::new(go, &server.base(OWNER));
        let dir = goenv.empty_dir("dl");
        let out = goenv.stdout(
            &["mod", "download", "-json", "example.com/pub@v1.0.0"],
            &dir,
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        eqnice!(
            h1,
            json["Sum"].as_str().unwrap().to_owned(),
            "{} Sum",
            go.release()
        );
        eqnice!(
            mod_h1,
            json["GoModSum"].as_str().unwrap().to_owned(),
            "GoModSum"
        );
        // The zip holds what the creation rules keep, and nothing else.
        let unzipped = PathBuf::from(json["Dir"].as_str().unwrap());
        assert!(unzipped.join("lib.go").is_file() && unzipped.join("internal/x/x.go").is_file());
        assert!(
            unzipped.join("vendor/modules.txt").is_file(),
            "kept below go 1.24"
        );
        assert!(!unzipped.join("vendor/example.com").exists());
        assert!(!unzipped.join("sub").exists() && !unzipped.join(".hg_archival.txt").exists());
    }
}

#[test]
fn publish_dry_run_lists_omissions_with_reasons_and_uploads_nothing() {
    let server = TestServer::start();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), "example.com/dry");
    let env = upload_env(&server);
    let stdout = ok(&publish(
        src.path(),
        &["--version", "v0.1.0", "--dry-run"],
        &env_refs(&env),
    ));
    for needle in [
        "included:",
        "  go.mod",
        "  lib.go",
        "  vendor/modules.txt",
        "vendor/example.com/dep/dep.go: file is in vendor directory",
        "sub: directory is in another module",
        ".hg_archival.txt: file is inserted by 'hg archive' and is always omitted",
        "dry run: nothing uploaded",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    printed_sums(&stdout, "example.com/dry", "v0.1.0");
    let r = http::get(&format!("{}/example.com/dry/@v/list", server.base(OWNER)));
    assert_eq!(r.status, 404, "dry run uploaded something");
}

#[test]
fn publish_output_writes_zip_that_server_hashes_identically() {
    let server = TestServer::start();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), "example.com/out");
    // example.com/out has a go.mod, so +incompatible is refused, and no file is left behind.
    let refused = src.path().parent().unwrap().join("out-refused.zip");
    let err = failed(&publish(
        src.path(),
        &[
            "--version",
            "v2.0.0+incompatible",
            "-o",
            refused.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(err.contains("+incompatible"), "{err}");
    assert!(!refused.exists(), "a refused zip was written");
    let zip = src.path().parent().unwrap().join("out-ok.zip");
    let stdout = ok(&publish(
        src.path(),
        &["--version", "v1.4.0", "-o", zip.to_str().unwrap()],
        &[],
    ));
    let (h1, _) = printed_sums(&stdout, "example.com/out", "v1.4.0");
    let bytes = std::fs::read(&zip).unwrap();
    let up = crate::support::server::parse_upload(&server.upload_bytes(OWNER, &bytes));
    eqnice!(h1, up.h1);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .output()
        .unwrap_or_else(|e| panic!("git is needed for these tests: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository with the module at `subdir` ("" for the root), one commit.
fn repo(module: &str, subdir: &str) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let root = repo.path().join(subdir);
    write_tree(
        &root,
        &[
            ("go.mod", &format!("module {module}\n\ngo 1.19\n")),
            ("a.go", "package a\n"),
        ],
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "first"]);
    repo
}

#[test]
fn publish_without_version_uses_exact_tag_at_head() {
    let server = TestServer::start();
    let r = repo("example.com/tagged", "");
    git(r.path(), &["tag", "v1.2.3"]);
    git(r.path(), &["tag", "v1.2"]); // not canonical: ignored
    git(r.path(), &["tag", "release-1"]); // not a version: ignored
    let env = upload_env(&server);
    let stdout = ok(&publish(r.path(), &[], &env_refs(&env)));
    assert!(
        stdout.contains("published example.com/tagged@v1.2.3"),
        "{stdout}"
    );
}

#[test]
fn publish_in_subdirectory_uses_prefixed_tag() {
    let server = TestServer::start();
    let r = repo("example.com/mono/tools", "tools");
    git(r.path(), &["tag", "v9.9.9"]); // the repository root's tag, not the module's
    git(r.path(), &["tag", "tools/v0.3.0"]);
    let env = upload_env(&server);
    let stdout = ok(&publish(&r.path().join("tools"), &[], &env_refs(&env)));
    assert!(
        stdout.contains("published example.com/mono/tools@v0.3.0"),
        "{stdout}"
    );
}

#[test]
fn publish_without_tag_or_version_refuses_with_hint() {
    let r = repo("example.com/untagged", "");
    let err = failed(&publish(r.path(), &["--dry-run"], &[]));
    assert!(
        err.contains("HEAD has no tag") && err.contains("--pseudo"),
        "{err}"
    );
    let plain = tempfile::tempdir().unwrap();
    write_tree(plain.path(), &[("go.mod", "module example.com/plain\n")]);
    let err = failed(&publish(plain.path(), &["--dry-run"], &[]));
    assert!(
        err.contains("not in a git work tree") && err.contains("--version"),
        "{err}"
    );
}

#[test]
fn publish_dirty_tree_is_refused_unless_allow_dirty() {
    let r = repo("example.com/dirty", "");
    git(r.path(), &["tag", "v0.1.0"]);
    std::fs::write(r.path().join("a.go"), "package a\n\n// changed\n").unwrap();
    let err = failed(&publish(r.path(), &["--dry-run"], &[]));
    assert!(
        err.contains("uncommitted changes") && err.contains("--allow-dirty"),
        "{err}"
    );
    let stdout = ok(&publish(r.path(), &["--dry-run", "--allow-dirty"], &[]));
    assert!(stdout.contains("example.com/dirty@v0.1.0"), "{stdout}");
}

#[test]
fn publish_pseudo_builds_version_from_head_commit_and_base_tag() {
    let r = repo("example.com/pseudo", "");
    let first = git_out(r.path(), &["rev-parse", "HEAD"]);
    let stdout = ok(&publish(r.path(), &["--pseudo", "--dry-run"], &[]));
    let want = format!("example.com/pseudo@v0.0.0-20240102030405-{}", &first[..12]);
    assert!(stdout.contains(&want), "{want} not in:\n{stdout}");

    git(r.path(), &["tag", "v1.2.3"]);
    std::fs::write(r.path().join("b.go"), "package a\n").unwrap();
    git(r.path(), &["add", "-A"]);
    git(r.path(), &["commit", "-q", "-m", "second"]);
    let second = git_out(r.path(), &["rev-parse", "HEAD"]);
    let stdout = ok(&publish(r.path(), &["--pseudo", "--dry-run"], &[]));
    let want = format!(
        "example.com/pseudo@v1.2.4-0.20240102030405-{}",
        &second[..12]
    );
    assert!(stdout.contains(&want), "{want} not in:\n{stdout}");
}

#[test]
fn publish_explains_401_and_409() {
    let server = TestServer::start();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), "example.com/errs");
    let mut env = upload_env(&server);
    env[2].1 = "wrong-token".into();
    let err = failed(&publish(
        src.path(),
        &["--version", "v1.0.0"],
        &env_refs(&env),
    ));
    assert!(
        err.contains("401") && err.contains("token was not accepted"),
        "{err}"
    );
    let env = upload_env(&server);
    ok(&publish(
        src.path(),
        &["--version", "v1.0.0"],
        &env_refs(&env),
    ));
    let err = failed(&publish(
        src.path(),
        &["--version", "v1.0.0"],
        &env_refs(&env),
    ));
    assert!(
        err.contains("409") && err.contains("already published"),
        "{err}"
    );
    let err = failed(&publish(src.path(), &["--version", "v1.0.1"], &[]));
    assert!(err.contains("--server"), "{err}");
}

#[test]
fn publish_refuses_tree_with_invalid_file_names() {
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            ("go.mod", "module example.com/bad\n"),
            ("bad'name.go", "package x\n"),
        ],
    );
    let err = failed(&publish(
        src.path(),
        &["--version", "v1.0.0", "--dry-run"],
        &[],
    ));
    assert!(
        err.contains("bad'name.go") && err.contains("invalid char"),
        "{err}"
    );
}
