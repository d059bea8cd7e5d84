//! Small-RAM defaults (issue 24): inside a 256 MiB memory cgroup, `goshelf config check` reports
//! that memory and caches and default pools sized down from it; a server started there says
//! the same in its log, and explicit settings still win.

use std::process::Command;

use crate::support::cgroup::MemoryCgroup;

/// `goshelf <args>` with its process moved into `cgroup` first.
fn in_cgroup(cgroup: &MemoryCgroup, args: &[&str]) -> String {
    let procs = cgroup.0.join("cgroup.procs");
    let script = format!("echo $$ > '{}' && exec \"$@\"", procs.display());
    let out = Command::new("sh")
        .args(["-c", &script, "sh", env!("CARGO_BIN_EXE_goshelf")])
        .args(args)
        .env("GOSHELF_DB", "/nonexistent-dir/goshelf.redb")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn caches_and_default_pools_shrink_inside_a_small_memory_cgroup() {
    let cgroup = MemoryCgroup::new(256 << 20);
    let text = in_cgroup(&cgroup, &["config", "check"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("memory available:"))
        .unwrap_or_else(|| panic!("no memory line: {text}"));
    // A quarter of the full sizes (16 MiB page cache, 22 MiB answer cache, 8 MiB of small
    // zips in memory, 16 upstream lookups); one upload validated at a time.
    assert!(line.starts_with("memory available: 256 MiB; "), "{line}");
    assert!(line.contains("page cache 4 MiB"), "{line}");
    assert!(line.contains("answer cache 5 MiB"), "{line}");
    assert!(line.contains("small zips held in memory 2 MiB"), "{line}");
    assert!(line.contains("upload_concurrency 1,"), "{line}");
    assert!(line.contains("upstream_concurrency 4 "), "{line}");
    assert!(text.contains("upload_concurrency = 1  (default)"), "{text}");
    // Explicit settings win.
    let text = in_cgroup(
        &cgroup,
        &[
            "config",
            "check",
            "--upload-concurrency",
            "3",
            "--upstream-concurrency",
            "16",
        ],
    );
    assert!(
        text.contains("upload_concurrency 3, upstream_concurrency 16 "),
        "{text}"
    );
    // Outside the cgroup, on this machine (more than 1 GiB), nothing shrinks.
    let out = Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["config", "check"])
        .env("GOSHELF_DB", "/nonexistent-dir/goshelf.redb")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("page cache 16 MiB, answer cache 22 MiB, small zips held in memory 8 MiB"),
        "{text}"
    );
}
