//! Debian's nginx, started by a test with the shipped `contrib/nginx-cache.conf` in front of a
//! goshelf, and a relay that reaches it from a chosen loopback address (so that nginx sees
//! distinct clients, as on a LAN). A test needing nginx fails when it is missing.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The nginx binary: `GOSHELF_TEST_NGINX`, else Debian's.
fn nginx_bin() -> PathBuf {
    let bin = std::env::var_os("GOSHELF_TEST_NGINX")
        .map_or_else(|| PathBuf::from("/usr/sbin/nginx"), PathBuf::from);
    assert!(
        bin.is_file(),
        "nginx not found at {} (tests/run.sh installs Debian's nginx; set GOSHELF_TEST_NGINX)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces `from` (which must occur exactly once) in the shipped file: a change of its shape
/// fails here rather than testing something else.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "contrib/nginx-cache.conf should hold {from:?} exactly once"
    );
    text.replacen(from, to, 1)
}

/// A running nginx caching in front of a goshelf.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Nginx {
    /// nginx on a free loopback port, configured by `contrib/nginx-cache.conf` with its
    /// goshelf address (`goshelf`, host:port), listen address and cache directory replaced.
    pub fn start(goshelf: &str) -> Nginx {
        let bin = nginx_bin();
        let dir = tempfile::Builder::new()
            .prefix("goshelf-nginx-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let port = free_port();
        let shipped =
            std::fs::read_to_string(super::manifest_dir().join("contrib/nginx-cache.conf"))
                .unwrap();
        let conf = replace_once(
            &shipped,
            "server 127.0.0.1:8080;",
            &format!("server {goshelf};"),
        );
        let conf = replace_once(&conf, "listen 8081;", &format!("listen 127.0.0.1:{port};"));
        let conf = replace_once(
            &conf,
            "/var/cache/nginx/goshelf",
            &d.join("cache").display().to_string(),
        );
        std::fs::write(d.join("goshelf-cache.conf"), conf).unwrap();
        let user = if is_root() { "user root;\n" } else { "" };
        let p = |name: &str| d.join(name).display().to_string();
        std::fs::write(
            d.join("nginx.conf"),
            format!(
                "{user}worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {err};\n\
                 events {{ worker_connections 1024; }}\nhttp {{\n    access_log {access};\n    \
                 client_body_temp_path {b};\n    proxy_temp_path {t};\n    fastcgi_temp_path {f};\n    \
                 uwsgi_temp_path {u};\n    scgi_temp_path {s};\n    include {inc};\n}}\n",
                pid = p("nginx.pid"),
                err = p("error.log"),
                access = p("access.log"),
                b = p("body"),
                t = p("proxy"),
                f = p("fastcgi"),
                u = p("uwsgi"),
                s = p("scgi"),
                inc = p("goshelf-cache.conf"),
            ),
        )
        .unwrap();
        let child = Command::new(&bin)
            .args(["-p", &p(""), "-c", &p("nginx.conf"), "-e", &p("error.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut nginx = Nginx { child, dir, port };
        let up = super::poll_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            let _ = nginx.child.kill();
            panic!("nginx did not start:\n{}", nginx.error_log());
        }
        nginx
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which ends its workers (a SIGKILL would leave them behind,
    /// still listening); SIGKILL only if it has not ended within 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let ended = super::poll_until(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether this process runs as root (the effective uid, from /proc): nginx's workers then
/// run as root too, so that they may write the cache directory the test made.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Forwards connections made to `url()` on to `to`, each from the address `from`.
pub struct Relay {
    runtime: Option<tokio::runtime::Runtime>,
    pub port: u16,
}

impl Relay {
    pub fn start(from: [u8; 4], to: SocketAddr) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                        return;
                    };
                    if socket.bind(SocketAddr::new(IpAddr::from(from), 0)).is_err() {
                        return;
                    }
                    let Ok(mut outbound) = socket.connect(to).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Relay {
            runtime: Some(runtime),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
