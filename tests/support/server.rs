//! [`TestServer`]: the real `goshelf serve` on `127.0.0.1:0` over a temp database.
//!
//! The binary is `env!("CARGO_BIN_EXE_goshelf")`, or `$GOSHELF_TEST_BIN` when set (to test a
//! release build). The server's stdout and stderr go to files in the temp dir; a test that
//! panics while a server is alive gets the server's stderr printed by `Drop`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use super::http::{self, Auth, Response};
use super::ModZip;

/// The admin token every test server is started with (`GOSHELF_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "goshelf-test-admin-token-8f2c61d0a7e94b3c";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `goshelf serve` child process.
pub struct TestServer {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    url: String,
    /// Serve plain HTTP (`--listen 127.0.0.1:0`; else `--listen off`).
    plain: bool,
    /// Serve HTTPS (`--tls-listen 127.0.0.1:0`; the test passes the certificate flags).
    tls: bool,
    tls_url: String,
    /// A command the server runs under (`prlimit --nofile=256:256`), which must exec it.
    wrapper: Vec<String>,
}

/// The JSON a successful upload answers with (201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub module: String,
    pub version: String,
    pub h1: String,
    pub go_mod_h1: String,
    pub size: u64,
}

impl TestServer {
    /// Starts a server with default options.
    pub fn start() -> TestServer {
        TestServer::start_with(&[], &[])
    }

    /// Starts a server with extra `serve` arguments and environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::start_listening(true, false, args, env)
    }

    /// Starts a server that also serves HTTPS on `127.0.0.1:0` (`plain`: and plain HTTP);
    /// `args` must give the certificate (`--tls-self-signed NAMES`, or `--tls-cert` and
    /// `--tls-key`). [`TestServer::tls_url`] is the `https://` URL.
    pub fn start_tls(plain: bool, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::start_listening(plain, true, args, env)
    }

    /// Starts a server under `wrapper` (a command that execs the rest of its arguments, such
    /// as `prlimit --nofile=256:256`).
    pub fn start_wrapped(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::unstarted(true, false, args, env);
        server.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        server.spawn();
        server
    }

    fn start_listening(plain: bool, tls: bool, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::unstarted(plain, tls, args, env);
        server.spawn();
        server
    }

    fn unstarted(plain: bool, tls: bool, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer {
            dir: tempfile::Builder::new()
                .prefix("goshelf-test-")
                .tempdir()
                .unwrap(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            url: String::new(),
            plain,
            tls,
            tls_url: String::new(),
            wrapper: Vec::new(),
        }
    }

    pub fn binary() -> PathBuf {
        match std::env::var_os("GOSHELF_TEST_BIN") {
            Some(bin) => PathBuf::from(bin),
            None => PathBuf::from(env!("CARGO_BIN_EXE_goshelf")),
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server is already running");
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(Self::binary());
                // A group of its own: the wrapper (strace) is the child, the server its child,
                // which a kill of the wrapper alone would leave running (`kill9`).
                std::os::unix::process::CommandExt::process_group(&mut c, 0);
                c
            }
            None => Command::new(Self::binary()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(if self.plain { "127.0.0.1:0" } else { "off" });
        if self.tls {
            cmd.arg("--tls-listen").arg("127.0.0.1:0");
        }
        cmd.arg("--db")
            .arg(self.db_path())
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        // The server must see only what the test chose, not the developer's configuration.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GOSHELF_") {
                cmd.env_remove(key);
            }
        }
        // No test may reach the internet: the upstream checksum database and module proxy
        // are off unless a test names its own (tests/support/upstream.rs).
        cmd.env("GOSHELF_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("GOSHELF_UPSTREAM_SUMDB", "off")
            .env("GOSHELF_UPSTREAM", "off")
            // The module paths tests put in private namespaces (every path of a private
            // namespace must match a `private` pattern); a test of that rule sets its own.
            .env(
                "GOSHELF_PRIVATE",
                "example.com,nas.lan,corp.example,corp.example.com",
            )
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", Self::binary().display()));

        // A thread forwards stdout to a log file and reports the listening URL once seen; it
        // keeps draining until the child closes stdout, so the server never blocks on a pipe.
        let stdout = child.stdout.take().unwrap();
        let mut log = File::create(self.dir.path().join("server.stdout.log")).unwrap();
        // The server prints one line per listener: plain HTTP first, then HTTPS.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                writeln!(log, "{line}").ok();
                if let Some((_, url)) = line.split_once("listening on ") {
                    tx.send(url.trim().to_owned()).ok();
                }
            }
        });
        let wanted = usize::from(self.plain) + usize::from(self.tls);
        let urls: Result<Vec<String>, _> = (0..wanted)
            .map(|_| rx.recv_timeout(STARTUP_TIMEOUT))
            .collect();
        self.child = Some(child);
        match urls {
            Ok(urls) => {
                self.tls_url = urls
                    .iter()
                    .find(|u| u.starts_with("https://"))
                    .cloned()
                    .unwrap_or_default();
                self.url = urls[0].clone();
                assert_eq!(
                    self.tls,
                    !self.tls_url.is_empty(),
                    "listening lines {urls:?} do not match the listeners asked for"
                );
            }
            Err(e) => {
                let status = self.child.as_mut().unwrap().try_wait().unwrap();
                self.kill9();
                panic!(
                    "server did not print `goshelf listening on <url>` ({e}); exit status: \
                     {status:?}\n--- server stderr ---\n{}",
                    self.stderr_log()
                );
            }
        }
    }

    /// `http://127.0.0.1:PORT` (changes on every restart).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, for raw sockets.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// `https://127.0.0.1:PORT` of a server started with [`TestServer::start_tls`].
    pub fn tls_url(&self) -> &str {
        assert!(self.tls, "the server was not started with HTTPS");
        &self.tls_url
    }

    /// `host:port` of the HTTPS listener, for raw sockets.
    pub fn tls_addr(&self) -> &str {
        self.tls_url().trim_start_matches("https://")
    }

    /// Replaces the extra `serve` arguments for the next [`TestServer::restart`].
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| s.to_string()).collect();
    }

    /// Replaces the extra environment for the next [`TestServer::restart`].
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// The GOPROXY base of `owner`: `$url/api/packages/{owner}/go`.
    pub fn base(&self, owner: &str) -> String {
        format!("{}/api/packages/{owner}/go", self.url)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("goshelf.redb")
    }

    pub fn token(&self) -> &str {
        ADMIN_TOKEN
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("server.stderr.log")
    }

    /// Everything the server (all its runs) wrote to stderr so far.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Creates user `name` with `password` through the admin API (201 expected).
    pub fn add_user(&self, name: &str, password: &str) {
        super::http::admin(
            self,
            "POST",
            "/api/v1/users",
            Some(serde_json::json!({"name": name, "password": password})),
            201,
        );
    }

    /// Creates organisation `name` (`public` or `private`) through the admin API.
    pub fn add_org(&self, name: &str, visibility: &str) {
        super::http::admin(
            self,
            "POST",
            "/api/v1/orgs",
            Some(serde_json::json!({"name": name, "visibility": visibility})),
            201,
        );
    }

    /// Runs `goshelf ARGS --server <this server>` with its admin token; it must succeed.
    /// Returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--server", self.url()]);
        let out = super::stress::goshelf(
            &all,
            &[("GOSHELF_TOKEN", self.token())],
            std::time::Duration::from_secs(60),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "goshelf {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// SIGKILL: no chance to clean up, as after a power cut.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            if !self.wrapper.is_empty() {
                // The wrapper's whole group, the server in it.
                if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                    rustix::process::kill_process_group(group, rustix::process::Signal::KILL).ok();
                }
            }
            child.kill().ok();
            child.wait().unwrap();
        }
    }

    /// Sends a signal (`TERM`, `INT`, ...) with `kill(1)` and returns without waiting.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("server is not running");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {} failed", child.id());
    }

    /// Waits (at most 20 s) for the server to exit and returns its status.
    pub fn wait(&mut self) -> ExitStatus {
        let child = self.child.take().expect("server is not running");
        super::wait_for_exit(child, SHUTDOWN_TIMEOUT, || self.stderr_log())
    }

    /// SIGTERM, then waits for the exit and returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait()
    }

    /// Starts the server again on the same database (terminating it first if it runs). The
    /// port changes.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "server exited with {status} on SIGTERM\n{}",
                self.stderr_log()
            );
        }
        self.spawn();
    }

    /// Uploads `zip` bytes to `owner` as the admin (raw body, bearer token).
    pub fn upload_bytes(&self, owner: &str, zip: &[u8]) -> Response {
        let file = self.write_scratch("upload.zip", zip);
        http::put_file(
            &self.upload_url(owner),
            &Auth::Bearer(ADMIN_TOKEN),
            &file,
            &[],
        )
    }

    /// Uploads `zip` and asserts a 201 whose JSON names the zip's module and version.
    pub fn upload(&self, owner: &str, zip: &ModZip) -> Upload {
        let resp = self.upload_bytes(owner, &zip.bytes());
        let upload = parse_upload(&resp);
        assert_eq!(
            (upload.module.as_str(), upload.version.as_str()),
            (zip.path(), zip.version()),
            "upload answered for another module version: {resp:?}"
        );
        upload
    }

    /// Lets `owner` publish module `path`, which another namespace holds in the checksum
    /// database (`goshelf owner share`), as the admin.
    pub fn share(&self, owner: &str, path: &str) {
        let url = format!(
            "{}/api/v1/owners/{owner}/shares/{}",
            self.url,
            path.replace('/', "%2F")
        );
        let r = http::curl(&Auth::Bearer(ADMIN_TOKEN), &["-X", "PUT", &url]);
        assert!(
            (200..300).contains(&r.status),
            "share {owner} {path}: {r:?}"
        );
    }

    /// `PUT /api/packages/{owner}/go/upload`.
    pub fn upload_url(&self, owner: &str) -> String {
        format!("{}/upload", self.base(owner))
    }

    /// `DELETE /api/v1/packages/{owner}/go/{module, / as %2F}/{version}` as the admin.
    pub fn delete(&self, owner: &str, module: &str, version: &str) -> Response {
        let url = format!(
            "{}/api/v1/packages/{owner}/go/{}/{version}",
            self.url,
            module.replace('/', "%2F")
        );
        http::curl(&Auth::Bearer(ADMIN_TOKEN), &["-X", "DELETE", &url])
    }

    /// Writes `bytes` to a fresh file in the server's temp dir and returns its path.
    pub fn write_scratch(&self, name: &str, bytes: &[u8]) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("scratch-{n}-{name}"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

/// Parses the 201 JSON of an upload, failing with the whole response otherwise.
pub fn parse_upload(resp: &Response) -> Upload {
    assert_eq!(resp.status, 201, "upload failed: {resp:?}");
    let json: serde_json::Value = serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("upload answered invalid JSON ({e}): {resp:?}"));
    let field = |name: &str| {
        json[name]
            .as_str()
            .unwrap_or_else(|| panic!("upload JSON lacks string {name:?}: {json}"))
            .to_owned()
    };
    Upload {
        module: field("module"),
        version: field("version"),
        h1: field("h1"),
        go_mod_h1: field("go_mod_h1"),
        size: json["size"]
            .as_u64()
            .unwrap_or_else(|| panic!("upload JSON lacks number \"size\": {json}")),
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            // Only the tail: a CI log keeps the last lines of a run, and a busy server's whole
            // log would push the panic message above out of it.
            const TAIL: usize = 30;
            let log = self.stderr_log();
            let lines: Vec<&str> = log.lines().collect();
            let skipped = lines.len().saturating_sub(TAIL);
            eprintln!(
                "--- goshelf stderr ({}), last {} of {} lines ---\n{}\n--- end of goshelf stderr; the test's panic message is above it ---",
                self.url,
                lines.len() - skipped,
                lines.len(),
                lines[skipped..].join("\n")
            );
        }
    }
}
