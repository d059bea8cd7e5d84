//! The systemd unit must not kill (or cripple) its own binary (issue 24): the server's start,
//! one upload and one download run under `strace -f`, and every system call made must be
//! allowed by the unit's `SystemCallFilter=` lines as `systemd-analyze syscall-filter` expands
//! them (no systemd needs to run for that). A negative control adds
//! `SystemCallFilter=~@sync` to a copy of the unit: durable commits call `fdatasync`, so the
//! check must refuse it. Fails (never skips) without strace or systemd-analyze; `tests/run.sh`
//! installs them.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{manifest_dir, ModZip, TestServer};

fn tool(name: &str) -> String {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{name} is missing: apt-get install strace systemd (tests/run.sh does this)"
    );
    name.to_owned()
}

/// The system calls of a `@group` or a name, groups expanded recursively.
fn expand(item: &str, out: &mut BTreeSet<String>) {
    if !item.starts_with('@') {
        out.insert(item.to_owned());
        return;
    }
    let o = Command::new(tool("systemd-analyze"))
        .args(["syscall-filter", item])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "systemd-analyze syscall-filter {item}: {o:?}"
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for line in text.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        expand(line, out);
    }
}

/// The calls a unit's `SystemCallFilter=` lines allow: the first allow list, less every `~`
/// deny list (systemd's rule when the first line is an allow list).
fn allowed_by(unit: &str) -> BTreeSet<String> {
    let mut allowed: Option<BTreeSet<String>> = None;
    let mut denied = BTreeSet::new();
    for line in unit.lines() {
        let Some(value) = line.trim().strip_prefix("SystemCallFilter=") else {
            continue;
        };
        match value.strip_prefix('~') {
            Some(deny) => deny.split_whitespace().for_each(|i| expand(i, &mut denied)),
            None => {
                let set = allowed.get_or_insert_with(BTreeSet::new);
                value.split_whitespace().for_each(|i| expand(i, set));
            }
        }
    }
    let allowed = allowed.expect("the unit has an allow list (SystemCallFilter=@system-service)");
    allowed.difference(&denied).cloned().collect()
}

/// The names of the system calls in an `strace -f` log.
fn calls_in(log: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in log.lines() {
        // `1234  name(args...` or `1234  <... name resumed>...`
        let rest = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('(') {
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_unit_allows_every_system_call_the_server_makes() {
    let strace = tool("strace");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    // The unit sets LimitNOFILE=65536, soft = hard: the binary then leaves the limit alone.
    // The same here, at this machine's hard limit (raising it needs a privilege).
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(65_536);
    let nofile = format!("--nofile={hard}:{hard}");
    let server = TestServer::start_wrapped(
        &[
            "prlimit",
            &nofile,
            &strace,
            "-f",
            "-qq",
            "-o",
            log.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    let zip = ModZip::new("example.com/unit", "v1.0.0")
        .file("go.mod", b"module example.com/unit\n")
        .file("u.go", b"package unit\n");
    server.upload("acme", &zip);
    let got = crate::support::http::get(&format!(
        "{}/api/packages/acme/go/example.com/unit/@v/v1.0.0.zip",
        server.url()
    ));
    assert_eq!(got.body, zip.bytes());
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let calls = calls_in(&text);
    assert!(
        calls.contains("fdatasync") || calls.contains("fsync"),
        "no durable commit seen: {calls:?}"
    );
    // Soft limit = hard limit: read, never set (a set would need @resources, which the unit
    // denies).
    let sets: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("setrlimit(RLIMIT_NOFILE") || l.contains("RLIMIT_NOFILE, {"))
        .collect();
    assert!(sets.is_empty(), "the binary set RLIMIT_NOFILE: {sets:?}");
    let unit = std::fs::read_to_string(manifest_dir().join("contrib/goshelf.service")).unwrap();
    let allowed = allowed_by(&unit);
    let refused: Vec<&String> = calls.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "contrib/goshelf.service refuses system calls the server makes: {refused:?}"
    );
    // The negative control: a unit that forbids the durable commit's call is caught.
    let broken = format!("{unit}\n[Service]\nSystemCallFilter=~@sync\n");
    let control = allowed_by(&broken);
    let refused: Vec<&String> = calls.difference(&control).collect();
    assert!(
        refused.iter().any(|c| *c == "fdatasync" || *c == "fsync"),
        "the control unit (~@sync) was not caught: {refused:?}"
    );
}
