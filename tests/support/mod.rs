//! Test support shared by the integration tests, modelled on ripgrep's tests/util.rs.
//!
//! - [`TestServer`] runs the real `goshelf` binary on `127.0.0.1:0` over a fresh temp database.
//! - [`http`] talks to it through the real `curl` (and raw sockets where timing matters).
//! - [`ModZip`] builds module zips in memory, from literal files or from tests/fixtures/modules.
//! - [`GoEnv`] runs the real `go` (1.27 and 1.19) against the server with an isolated,
//!   offline environment (spec.md §6.4).
//!
//! Nothing here skips a test: a missing tool is a failure that says how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cgroup;
pub mod go;
pub mod hostile;
pub mod http;
pub mod inproc;
pub mod modzip;
pub mod nginx;
pub mod server;
pub mod stress;
pub mod upstream;
pub mod wire;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use go::{Go, GoEnv};
pub use modzip::ModZip;
pub use server::TestServer;

/// Asserts that two values are equal, printing both in full (`{:#?}`) on failure, like
/// ripgrep's `eqnice!` (tests/macros.rs). An optional trailing format string adds context.
macro_rules! eqnice {
    ($expected:expr, $got:expr $(,)?) => {
        $crate::support::eqnice!($expected, $got, "values differ")
    };
    ($expected:expr, $got:expr, $($context:tt)+) => {
        // `match` keeps temporaries alive for the comparison, as `assert_eq!` does.
        match (&$expected, &$got) {
            (expected, got) => {
                if expected != got {
                    panic!(
                        "\n{}\n\nexpected:\n{:#?}\n\ngot:\n{:#?}\n",
                        format!($($context)+),
                        expected,
                        got
                    );
                }
            }
        }
    };
}
pub(crate) use eqnice;

/// One `#[test]` per toolchain for each scenario fn: `<scenario>::go1_27`, `<scenario>::go1_19`.
macro_rules! for_each_go {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn go1_27() {
                super::$scenario(crate::support::Go::V1_27);
            }
            #[test]
            fn go1_19() {
                super::$scenario(crate::support::Go::V1_19);
            }
        }
    )*};
}
pub(crate) use for_each_go;

/// The root of the source tree, for fixtures (STYLE.md §3: never `../../tests` paths).
/// The schema version a database file records, read with redb alone from a copy (the file
/// is left as it is: opening a file through the store would upgrade it).
pub fn schema_of(path: &Path) -> u32 {
    use redb::ReadableDatabase;
    let copy = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(path, copy.path()).unwrap();
    let db = redb::Database::open(copy.path()).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(goshelf::store::schema::META).unwrap();
    let v = meta
        .get(goshelf::store::schema::META_SCHEMA_VERSION)
        .unwrap()
        .unwrap();
    u32::from_be_bytes(v.value().try_into().unwrap())
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/modules/<name>`.
pub fn fixture_module_dir(name: &str) -> PathBuf {
    let dir = manifest_dir().join("tests/fixtures/modules").join(name);
    assert!(
        dir.is_dir(),
        "fixture module {} does not exist",
        dir.display()
    );
    dir
}

/// Lists every regular file under `root` as (slash-separated relative name, absolute path),
/// sorted by name so that zips and copies are deterministic.
pub fn walk_files(root: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let name: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap().to_owned())
                    .collect();
                out.push((name.join("/"), path));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Copies the fixture module `name` into `dest` (created if missing) and returns `dest`.
pub fn copy_fixture(name: &str, dest: &Path) -> PathBuf {
    let src = fixture_module_dir(name);
    for (rel, path) in walk_files(&src) {
        let target = dest.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&path, &target).unwrap();
    }
    dest.to_path_buf()
}

/// Runs `cmd` to completion with a deadline, capturing stdout and stderr through files (no
/// pipe can fill up and stall the child). On timeout the child is killed and the test fails
/// with whatever it printed so far.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "timed out after {timeout:?}: {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default(),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

/// Formats a finished command for a failure message.
pub fn describe_output(cmd: &str, out: &Output) -> String {
    format!(
        "command: {cmd}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Deterministic incompressible bytes (BLAKE3 in XOF mode), for size and dedup tests.
pub fn incompressible(seed: &str, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut buf);
    buf
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to `timeout` for `child` to exit; if it does not, kills it and panics with `log`
/// (the server's stderr, read lazily).
pub fn wait_for_exit(
    mut child: std::process::Child,
    timeout: Duration,
    log: impl FnOnce() -> String,
) -> std::process::ExitStatus {
    let mut exit = None;
    let exited = poll_until(timeout, || {
        exit = child.try_wait().unwrap();
        exit.is_some()
    });
    if !exited {
        child.kill().ok();
        child.wait().ok();
        panic!(
            "server did not exit within {timeout:?}\n--- server stderr ---\n{}",
            log()
        );
    }
    exit.unwrap()
}
