//! Tools for hostile-input tests (issue 5): the raw zip writer and deflate "bomb kernel" of
//! `src/gomod/zip/rawzip.rs` (one file, included here and in the unit tests of `gomod::zip`),
//! and the peak memory of a running server process.

use std::path::Path;

use super::TestServer;

#[path = "../../src/gomod/zip/rawzip.rs"]
mod rawzip;
pub use rawzip::*;

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set since start or since [`reset_peak`].
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+), so the
/// next reading is the peak of what happens in between. Returns false when not permitted.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// The status code of a response's first line (`HTTP/1.1 200 OK\r\n`), 0 when it has none.
pub fn status_code(line: &[u8]) -> u16 {
    String::from_utf8_lossy(line)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The pid of `server`'s process, found by its `--db` argument (unique per test server).
pub fn server_pid(server: &TestServer) -> u32 {
    let db = server.db_path();
    let want = db.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
        else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        if args.any(|a| a == b"--db") && args.next() == Some(want) {
            return pid;
        }
    }
    panic!("no process serves {}", db.display())
}

// ---- Shared by tests/edge_hostile.rs and tests/hostile_mix.rs ----

pub fn mz(path: &str, version: &str) -> super::ModZip {
    super::ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.21\n").as_bytes())
        .file("m.go", b"package m\n")
}

pub fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
    )
}

/// A stored zip of `n` empty files (and a go.mod) for `module@version`, with zip64 records
/// when `n` needs them; names are short so that 200,000 of them fit goshelf's 16 MiB limit
/// on the central directory.
pub fn many_entry_zip(module: &str, version: &str, n: usize) -> Vec<u8> {
    let prefix = format!("{module}@{version}/");
    let go_mod = format!("module {module}\n");
    let mut out = Vec::with_capacity(n * 80);
    let mut central = Vec::with_capacity(n * 70);
    for i in 0..n {
        let name = if i == 0 {
            format!("{prefix}go.mod")
        } else {
            format!("{prefix}{:03}/{i:06}", i % 1000)
        };
        let data: &[u8] = if i == 0 { go_mod.as_bytes() } else { b"" };
        let crc = crc32(data);
        let at = u32::try_from(out.len()).unwrap();
        let len = u32::try_from(data.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x1e\x03\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&(0o100_644_u32 << 16).to_le_bytes());
        central.extend_from_slice(&at.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_at = out.len();
    let cd_len = central.len();
    out.extend_from_slice(&central);
    if n > 0xFFFF {
        // The zip64 record, its locator and a saturated end record.
        let record_at = out.len() as u64;
        out.extend_from_slice(&zip64_end(n as u64, cd_len as u64, cd_at as u64, record_at));
        return out;
    }
    let count = u16::try_from(n.min(0xFFFF)).unwrap();
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&u32::try_from(cd_len).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(cd_at).unwrap().to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The database file's length and blocks on disk.
pub fn file_space(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.blocks() * 512)
}

/// Asserts that a database's (length, blocks on disk) `with` ends within 1.2x of `without`'s,
/// the same work done without the hostile clients.
pub fn assert_space_within(with: (u64, u64), without: (u64, u64), what: &str) {
    assert!(
        with.0 * 10 <= without.0 * 12,
        "{what}: database length {} against {}",
        with.0,
        without.0
    );
    assert!(
        with.1 * 10 <= without.1 * 12,
        "{what}: database blocks {} against {}",
        with.1,
        without.1
    );
}
