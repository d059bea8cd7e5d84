//! Shared pieces of the crash, disk-full and load tests (issue 5): a seeded RNG whose seed is
//! printed, module versions with known bytes ([`Artefact`]), a classifier that says whether a
//! version is wholly there, wholly absent or gone ([`observe`]), the `goshelf` admin commands
//! with a deadline, and [`ServeProc`] for a server whose database lives where the test says
//! (a small tmpfs) rather than in [`super::TestServer`]'s temp dir.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use goshelf::store::{self, Store};

use super::server::ADMIN_TOKEN;
use super::wire::{Client, Reply, WireError};
use super::{incompressible, run_with_timeout, ModZip};

/// SplitMix64: tiny, seedable, good enough to pick sizes and delays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }

    /// An index into a non-empty collection of `len` items.
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.range(0, len as u64)).unwrap()
    }

    /// A generator for another thread, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// The seed of a randomized test: `GOSHELF_TEST_SEED` when set (to replay a failure), else
/// the clock. Printed either way, so that every failure can be rerun.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("GOSHELF_TEST_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("GOSHELF_TEST_SEED={s:?} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("{test}: seed {seed} (rerun with GOSHELF_TEST_SEED={seed})");
    seed
}

/// `Authorization` value of the test admin.
pub fn admin_auth() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

/// A module version with known bytes, under one owner.
#[derive(Clone)]
pub struct Artefact {
    pub owner: String,
    pub module: String,
    pub version: String,
    pub zip: Arc<Vec<u8>>,
    pub go_mod: Arc<Vec<u8>>,
    /// Hex BLAKE3 of the zip: the server's ETag for it.
    pub blake3: String,
}

impl std::fmt::Debug for Artefact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.key(), self.zip.len())
    }
}

impl Artefact {
    /// `module@version` with a go.mod, a Go file and, when `payload > 0`, `payload` bytes of
    /// incompressible data derived from `seed`. Zips with a payload are stored rather than
    /// deflated, so that their size is the payload's and building them costs little.
    pub fn new(owner: &str, module: &str, version: &str, payload: usize, seed: &str) -> Artefact {
        let go_mod = format!("module {module}\n\ngo 1.21\n").into_bytes();
        let mut zip = ModZip::with_files(
            module,
            version,
            &[
                ("go.mod", go_mod.as_slice()),
                ("a.go", format!("package a\n\n// {seed}\n").as_bytes()),
            ],
        );
        if payload > 0 {
            zip = zip
                .file("data.bin", &incompressible(seed, payload))
                .stored();
        }
        let bytes = zip.bytes();
        Artefact {
            owner: owner.to_owned(),
            module: module.to_owned(),
            version: version.to_owned(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            zip: Arc::new(bytes),
            go_mod: Arc::new(go_mod),
        }
    }

    /// The same bytes under another owner.
    pub fn with_owner(&self, owner: &str) -> Artefact {
        Artefact {
            owner: owner.to_owned(),
            ..self.clone()
        }
    }

    /// `owner module@version`, as verify names versions.
    pub fn key(&self) -> String {
        format!("{} {}@{}", self.owner, self.module, self.version)
    }

    pub fn upload_path(&self) -> String {
        format!("/api/packages/{}/go/upload", self.owner)
    }

    /// `/api/packages/{owner}/go/{module}/@v/{file}` (the test modules need no `!` escapes).
    pub fn proxy_path(&self, file: &str) -> String {
        format!("/api/packages/{}/go/{}/@v/{file}", self.owner, self.module)
    }

    pub fn latest_path(&self) -> String {
        format!("/api/packages/{}/go/{}/@latest", self.owner, self.module)
    }

    pub fn delete_path(&self) -> String {
        format!(
            "/api/v1/packages/{}/go/{}/{}",
            self.owner,
            self.module.replace('/', "%2F"),
            self.version
        )
    }

    /// PUT of the zip as the admin.
    pub fn upload(&self, client: &mut Client) -> Result<Reply, WireError> {
        let auth = admin_auth();
        client.request(
            "PUT",
            &self.upload_path(),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/zip"),
            ],
            &self.zip,
        )
    }

    /// DELETE as the admin.
    pub fn delete(&self, client: &mut Client) -> Result<Reply, WireError> {
        let auth = admin_auth();
        client.request(
            "DELETE",
            &self.delete_path(),
            &[("Authorization", &auth)],
            &[],
        )
    }

    /// Checks a 201's JSON against this artefact; `Err` says what differs.
    pub fn check_created(&self, reply: &Reply) -> Result<(), String> {
        let json: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("201 with invalid JSON ({e}): {reply:?}"))?;
        let size = json["size"].as_u64();
        if json["module"] != self.module.as_str()
            || json["version"] != self.version.as_str()
            || size != Some(self.zip.len() as u64)
        {
            return Err(format!("201 for {self:?} names something else: {json}"));
        }
        Ok(())
    }
}

/// What a restarted (or running) server shows of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Listed; .info, .mod and .zip all 200 with the expected content.
    Complete,
    /// Not listed; .info, .mod and .zip all 404.
    Absent,
    /// Not listed; .info, .mod and .zip all 410.
    Gone,
}

/// The versions `@v/list` shows for `module` of `owner`; empty when the module is unknown
/// (404). Anything else is an error.
pub fn list(client: &mut Client, owner: &str, module: &str) -> Result<BTreeSet<String>, String> {
    let path = format!("/api/packages/{owner}/go/{module}/@v/list");
    match client.get(&path) {
        Ok(r) if r.status == 200 => Ok(r.text().split_whitespace().map(str::to_owned).collect()),
        Ok(r) if r.status == 404 => Ok(BTreeSet::new()),
        Ok(r) => Err(format!("GET {path}: {r:?}")),
        Err(e) => Err(format!("GET {path}: {e}")),
    }
}

/// Classifies what the server shows of `a`, given whether `@v/list` named it. With
/// `full_zip` the whole zip is downloaded and compared; otherwise a HEAD must show its
/// ETag (the BLAKE3 of the expected bytes) and length. A mixture (partly visible) or any
/// other status is an `Err` that describes every answer.
pub fn observe(
    client: &mut Client,
    a: &Artefact,
    listed: bool,
    full_zip: bool,
) -> Result<Seen, String> {
    let mut answers = Vec::new();
    let mut get = |method: &str, file: String| -> Result<Reply, String> {
        let path = a.proxy_path(&file);
        let r = client
            .request(method, &path, &[], &[])
            .map_err(|e| format!("{method} {path}: {e}"))?;
        answers.push(format!("{method} {file}: {}", r.status));
        Ok(r)
    };
    let info = get("GET", format!("{}.info", a.version))?;
    let go_mod = get("GET", format!("{}.mod", a.version))?;
    let zip = get(
        if full_zip { "GET" } else { "HEAD" },
        format!("{}.zip", a.version),
    )?;
    let statuses = [info.status, go_mod.status, zip.status];
    let describe = |why: &str| format!("{a:?}: {why}; listed: {listed}; {}", answers.join(", "));
    if statuses == [200; 3] && listed {
        let info_json: serde_json::Value = serde_json::from_slice(&info.body)
            .map_err(|e| describe(&format!(".info is not JSON ({e}): {info:?}")))?;
        if info_json["Version"] != a.version.as_str() {
            return Err(describe(&format!(
                ".info names another version: {info_json}"
            )));
        }
        if go_mod.body != *a.go_mod {
            return Err(describe(&format!(".mod differs: {:?}", go_mod.text())));
        }
        if full_zip {
            if zip.body != *a.zip {
                return Err(describe(&format!(
                    ".zip differs: {} bytes served, {} expected",
                    zip.body.len(),
                    a.zip.len()
                )));
            }
        } else {
            let etag = format!("\"{}\"", a.blake3);
            let len = a.zip.len().to_string();
            if zip.header("etag") != Some(etag.as_str())
                || zip.header("content-length") != Some(len.as_str())
            {
                return Err(describe(&format!("HEAD .zip shows other content: {zip:?}")));
            }
        }
        return Ok(Seen::Complete);
    }
    if statuses == [404; 3] && !listed {
        return Ok(Seen::Absent);
    }
    if statuses == [410; 3] && !listed {
        return Ok(Seen::Gone);
    }
    Err(describe("partly visible or failing"))
}

/// Whether a database file (opened with [`Store::open`]) holds `a` wholly and byte for byte:
/// `Ok(true)`; `Ok(false)` when it has no such version; `Err` for anything in between.
pub fn store_holds(store: &Store, a: &Artefact) -> Result<bool, String> {
    let reader = match store
        .open_zip(&a.owner, &a.module, &a.version)
        .map_err(|e| format!("{a:?}: {e}"))?
    {
        store::ZipLookup::Found(_, reader) => reader,
        store::ZipLookup::Missing | store::ZipLookup::NoModule => return Ok(false),
        other => return Err(format!("{a:?}: {other:?}")),
    };
    let mut zip = Vec::new();
    while (zip.len() as u64) < reader.size() {
        let n = reader
            .read_at(zip.len() as u64, 1 << 20, &mut zip)
            .map_err(|e| format!("{a:?}: reading the zip: {e}"))?;
        if n == 0 {
            return Err(format!("{a:?}: zip ends early at {}", zip.len()));
        }
    }
    if zip != *a.zip {
        return Err(format!("{a:?}: stored zip differs ({} bytes)", zip.len()));
    }
    match store.get_go_mod(&a.owner, &a.module, &a.version) {
        Ok((_, Some(m))) if m == *a.go_mod => Ok(true),
        other => Err(format!("{a:?}: .mod: {other:?}")),
    }
}

/// Request counts by (operation, status), transport errors and latencies, per client thread,
/// merged at the end and printed as a table.
#[derive(Default)]
pub struct Tally {
    pub statuses: BTreeMap<(&'static str, u16), u64>,
    pub errors: Vec<String>,
    pub latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// Zip downloads cut short because their version's last copy was deleted meanwhile.
    pub cut_by_delete: u64,
}

impl Tally {
    pub fn record(&mut self, op: &'static str, status: u16, took: Duration) {
        *self.statuses.entry((op, status)).or_default() += 1;
        self.latencies.entry(op).or_default().push(took);
    }

    pub fn merge(&mut self, other: Tally) {
        for (k, n) in other.statuses {
            *self.statuses.entry(k).or_default() += n;
        }
        self.errors.extend(other.errors);
        self.cut_by_delete += other.cut_by_delete;
        for (op, mut l) in other.latencies {
            self.latencies.entry(op).or_default().append(&mut l);
        }
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers with a status of 500 or more.
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|((_, s), _)| *s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// One line per operation: statuses with counts, then latency percentiles.
    pub fn table(&mut self) -> String {
        let mut out = String::new();
        for (op, lat) in &mut self.latencies {
            lat.sort_unstable();
            let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)].as_millis();
            let statuses: Vec<String> = self
                .statuses
                .iter()
                .filter(|((o, _), _)| o == op)
                .map(|((_, s), n)| format!("{s}x{n}"))
                .collect();
            out.push_str(&format!(
                "  {op:<14} {:>6} requests: {:<28} latency p50 {} ms, p99 {} ms, max {} ms\n",
                lat.len(),
                statuses.join(" "),
                pct(50),
                pct(99),
                lat.last().unwrap().as_millis()
            ));
        }
        out
    }
}

/// Runs the goshelf binary with `args` (no inherited `GOSHELF_*`) and a deadline.
pub fn goshelf(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_goshelf"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GOSHELF_") {
            cmd.env_remove(key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(&mut cmd, timeout)
}

/// What `goshelf verify` printed on its summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifySummary {
    pub versions: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub chunks: u64,
    pub pack_records: u64,
}

/// Asserts that a `goshelf verify` run reported OK and returns its counts.
pub fn assert_verify_ok(out: &Output, context: &str) -> VerifySummary {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = super::describe_output("goshelf verify", out);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "verify: OK"),
        "{context}: verify is not clean\n{all}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("verify: ") && l.contains(" versions, "))
        .unwrap_or_else(|| panic!("{context}: no summary line\n{all}"));
    // verify: 4 versions, 3 blobs (123 bytes), 5 chunks, 2 pack records
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 5, "{context}: summary line {line:?}");
    VerifySummary {
        versions: numbers[0],
        blobs: numbers[1],
        bytes: numbers[2],
        chunks: numbers[3],
        pack_records: numbers[4],
    }
}

/// `goshelf verify --db FILE` (the server must be stopped).
pub fn verify_db(db: &Path, context: &str) -> VerifySummary {
    let out = goshelf(
        &["verify", "--db", db.to_str().unwrap()],
        &[],
        Duration::from_secs(120),
    );
    assert_verify_ok(&out, context)
}

/// `goshelf verify --server URL` with the admin token.
pub fn verify_online(url: &str, context: &str) -> VerifySummary {
    let out = goshelf(
        &["verify", "--server", url],
        &[("GOSHELF_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(120),
    );
    assert_verify_ok(&out, context)
}

/// Names of `<db>.upload-*` spool files beside `db`.
pub fn spool_files(db: &Path) -> Vec<String> {
    let prefix = format!("{}.upload-", db.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

/// `goshelf serve` on a database file the test chooses, logging to `log_dir`.
pub struct ServeProc {
    db: PathBuf,
    log_dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    url: String,
}

impl ServeProc {
    pub fn start(db: &Path, log_dir: &Path, args: &[&str]) -> ServeProc {
        let mut p = ServeProc {
            db: db.to_owned(),
            log_dir: log_dir.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
            url: String::new(),
        };
        p.spawn();
        p
    }

    fn stderr_path(&self) -> PathBuf {
        self.log_dir.join("serve.stderr.log")
    }

    fn spawn(&mut self) {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_goshelf"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(&self.db)
            .args(&self.args)
            .current_dir(&self.log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GOSHELF_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("GOSHELF_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("NO_COLOR", "1");
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut log = File::create(self.log_dir.join("serve.stdout.log")).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                writeln!(log, "{line}").ok();
                if let Some((_, url)) = line.split_once("listening on ") {
                    if let Some(tx) = tx.take() {
                        tx.send(url.trim().to_owned()).ok();
                    }
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => self.url = url,
            Err(e) => {
                self.kill9();
                panic!(
                    "server did not print its listening line ({e})\n--- stderr ---\n{}",
                    self.stderr_log()
                );
            }
        }
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// SIGTERM and wait (20 s at most).
    pub fn terminate(&mut self) -> ExitStatus {
        let child = self.child.take().expect("server is not running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        super::wait_for_exit(child, Duration::from_secs(20), || self.stderr_log())
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "--- goshelf stderr ({}) ---\n{}",
                self.url,
                self.stderr_log()
            );
        }
    }
}
