//! Issue 16's adversarial mix: every hostile client of tests/edge_hostile.rs at once, from
//! several addresses, for 30 s, beside an ordinary reader and writer. Shared by the test
//! binaries `hostile_mix` and `hostile_mix_cgroup` (each run alone: cargo runs test binaries
//! one after another, and two storms in one process, even one after the other, left the
//! second's idle clients past their deadlines).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::hostile::{
    basic, file_space, many_entry_zip, memory, mz, reset_peak, server_pid,
};

/// `memory` reports KiB.
pub const MIB: u64 = 1024;
use crate::support::server::ADMIN_TOKEN;
use crate::support::TestServer;

/// Held by each test of this binary for its whole run: two storms at once would each miss
/// the deadlines they measure (cargo runs a binary's tests in parallel).
static MACHINE: Mutex<()> = Mutex::new(());

pub fn machine() -> std::sync::MutexGuard<'static, ()> {
    MACHINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long the hostile clients run.
pub const STORM: Duration = Duration::from_secs(30);
/// Deadlines shortened so that the test ends soon after the storm; the bounds on memory
/// and work are the defaults.
pub const HEADER_TIMEOUT: u64 = 5;
pub const SEND_TIMEOUT: u64 = 10;
/// What the ordinary writer publishes in each run.
pub const SMALL_UPLOADS: usize = 300;

async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::from(from), 0))?;
    socket.connect(to).await
}

/// Reads the status line of the response on `c` (0 when none came).
async fn status(c: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match c.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return 0,
        }
    }
    crate::support::hostile::status_code(&head)
}

/// Reads until the server closes `c`; how long that took.
/// The kernel's count of connections dropped for a full accept queue (all listeners on the
/// machine): one dropped there is not the server's yet, and no deadline of its own ends it.
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn until_closed(c: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

/// One ordinary GET on a keep-alive connection: the whole body, or why not.
async fn get(c: &mut TcpStream, path: &str) -> Result<(u16, Vec<u8>), String> {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: goshelf\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            other => return Err(format!("head cut: {other:?}")),
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no length: {text}"))?;
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// A raw upload of `zip` as the admin; the status.
async fn put(from: [u8; 4], to: SocketAddr, zip: &[u8]) -> u16 {
    let Ok(mut c) = connect_from(from, to).await else {
        return 0;
    };
    let head = format!(
        "PUT /api/packages/admin/go/upload HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        zip.len()
    );
    if c.write_all(head.as_bytes()).await.is_err() || c.write_all(zip).await.is_err() {
        return status(&mut c).await;
    }
    status(&mut c).await
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reads: u64,
    pub read_failures: Vec<String>,
    pub uploads_created: usize,
    pub peak_kib: u64,
    pub db: (u64, u64),
    /// Per kind of hostile client: requests (or connections) that ended, and the longest
    /// any of them lasted.
    pub hostile: Vec<(&'static str, u64, Duration)>,
    pub stalled_cut: usize,
}

impl Outcome {
    /// The ordinary client's side of a run: every read succeeded (and there were some), and
    /// every one of its small uploads was created.
    pub fn assert_ordinary_client_served(&self) {
        assert!(
            self.read_failures.is_empty(),
            "ordinary reads failed: {:?}",
            self.read_failures
        );
        assert!(self.reads > 0);
        assert_eq!(self.uploads_created, SMALL_UPLOADS);
    }
}

/// Longest lifetime seen, per kind.
#[derive(Default)]
struct Lifetimes {
    ended: AtomicU64,
    longest_ms: AtomicU64,
    /// Requests (or connections) of this kind under way.
    running: std::sync::atomic::AtomicI64,
}

/// Counts one request of a kind as under way until dropped.
struct Running<'a>(&'a std::sync::atomic::AtomicI64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lifetimes {
    fn begin(&self) -> Running<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        Running(&self.running)
    }

    fn note(&self, took: Duration) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.longest_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

pub fn run(hostile: bool) -> Outcome {
    run_in(hostile, None)
}

/// The mix, with the server started inside the memory cgroup `cgroup` when given (its
/// directory: the server's shell writes its pid to `cgroup.procs`, then execs it).
pub fn run_in(hostile: bool, cgroup: Option<&std::path::Path>) -> Outcome {
    // The hostile clients hold about 600 sockets in this process at once, on top of what
    // the tests running beside this one hold: a soft limit of 1,024 would make connects
    // fail here, not in the server. Raise it to the hard limit, as the server does.
    let fds = goshelf::http::edge::raise_open_file_limit(4096);
    assert!(
        fds >= 1024,
        "the mix needs about 1,000 open files; the limit allows {fds}"
    );
    let t0 = Instant::now();
    let header = HEADER_TIMEOUT.to_string();
    let send = SEND_TIMEOUT.to_string();
    let args = ["--header-timeout", &header, "--upload-idle-timeout", &send];
    let env = [("GOSHELF_SEND_TIMEOUT", send.as_str())];
    let server = match cgroup {
        None => TestServer::start_with(&args, &env),
        Some(dir) => {
            let procs = dir.join("cgroup.procs");
            let script = format!("echo $$ > '{}' && exec \"$@\"", procs.display());
            TestServer::start_wrapped(&["sh", "-c", &script, "sh"], &args, &env)
        }
    };
    let addr: SocketAddr = server.addr().parse().unwrap();
    // What the hostile clients aim at: a 200,000-entry zip that exists (finding 2: ten
    // uploads of it at once), and a 20 MiB zip to stall on.
    let many = many_entry_zip("x.io/many", "v1.0.0", 200_000);
    let f = server.write_scratch("many.zip", &many);
    let r = crate::support::http::put_file(
        &server.upload_url("admin"),
        &crate::support::http::Auth::Bearer(ADMIN_TOKEN),
        &f,
        &[],
    );
    assert_eq!(r.status, 201, "{r:?}");
    let big = mz("example.com/big", "v1.0.0")
        .file("data.bin", &crate::support::incompressible("mix", 20 << 20));
    server.upload("admin", &big);
    let small: Vec<String> = (0..20)
        .map(|k| {
            let path = format!("example.com/read{k}");
            server.upload("admin", &mz(&path, "v1.0.0"));
            path
        })
        .collect();
    eprintln!("mix: set up in {:?}", t0.elapsed());
    let pid = server_pid(&server);
    let db_path = server.db_path().to_path_buf();
    std::thread::sleep(Duration::from_millis(500));
    assert!(reset_peak(pid));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let many = Arc::new(many);
    let overflows_before = listen_overflows();
    let outcome = runtime.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let kinds = [
            "bad password",
            "200,000-entry upload",
            "endless multipart header",
            "idle or h2 connection",
            "stalled zip reader",
        ];
        let lifetimes: Arc<Vec<Lifetimes>> =
            Arc::new(kinds.iter().map(|_| Lifetimes::default()).collect());
        let cut = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        if hostile {
            for i in 0..300_u32 {
                let (stop, lt) = (Arc::clone(&stop), Arc::clone(&lifetimes));
                let from = [127, 0, 0, if i % 2 == 0 { 2 } else { 12 }];
                tasks.push(tokio::spawn(async move {
                    let mut k = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let _running = lt[0].begin();
                        if let Ok(mut c) = connect_from(from, addr).await {
                            let req = format!(
                                "GET /api/packages/admin/go/x.io/none/@v/list HTTP/1.1\r\nHost: g\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
                                basic(if k % 2 == 0 { "admin" } else { "nobody" }, &format!("guess-{i}-{k}"))
                            );
                            if c.write_all(req.as_bytes()).await.is_ok() {
                                status(&mut c).await;
                            }
                        }
                        lt[0].note(started.elapsed());
                        k += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }));
            }
            for _ in 0..10 {
                let (stop, lt) = (Arc::clone(&stop), Arc::clone(&lifetimes));
                let zip = Arc::clone(&many);
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let _running = lt[1].begin();
                        let s = put([127, 0, 0, 3], addr, &zip).await;
                        assert_eq!(s, 409, "hostile upload answered {s}");
                        lt[1].note(started.elapsed());
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }));
            }
            for _ in 0..50 {
                let (stop, lt) = (Arc::clone(&stop), Arc::clone(&lifetimes));
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let _running = lt[2].begin();
                        if let Ok(mut c) = connect_from([127, 0, 0, 4], addr).await {
                            let head = format!(
                                "PUT /api/packages/admin/go/upload HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000000\r\n\r\n--B\r\nX-Pad: "
                            );
                            let _ = c.write_all(head.as_bytes()).await;
                            let pad = vec![b'a'; 16384];
                            let (mut r, mut w) = c.into_split();
                            let writer = tokio::spawn(async move {
                                for _ in 0..64 {
                                    if w.write_all(&pad).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            let mut buf = vec![0u8; 4096];
                            while let Ok(n) = r.read(&mut buf).await {
                                if n == 0 {
                                    break;
                                }
                            }
                            writer.abort();
                        }
                        lt[2].note(started.elapsed());
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }));
            }
            for i in 0..200 {
                let (stop, lt) = (Arc::clone(&stop), Arc::clone(&lifetimes));
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut c) = connect_from([127, 0, 0, 5], addr).await else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        let _running = lt[3].begin();
                        if i % 2 == 0 {
                            let _ = c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
                        }
                        lt[3].note(until_closed(&mut c).await);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }));
            }
            for _ in 0..20 {
                let (lt, cut) = (Arc::clone(&lifetimes), Arc::clone(&cut));
                tasks.push(tokio::spawn(async move {
                    let _running = lt[4].begin();
                    let Ok(mut c) = connect_from([127, 0, 0, 6], addr).await else {
                        return;
                    };
                    let _ = c
                        .write_all(b"GET /api/packages/admin/go/example.com/big/@v/v1.0.0.zip HTTP/1.1\r\nHost: g\r\n\r\n")
                        .await;
                    let mut first = vec![0u8; 65536];
                    let _ = c.read_exact(&mut first).await;
                    let started = Instant::now();
                    // Stalled until past the send timeout; what is left then must end.
                    tokio::time::sleep(Duration::from_secs(SEND_TIMEOUT + 3)).await;
                    let mut rest = 0usize;
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        rest += n;
                    }
                    if 65536 + rest < 20 << 20 {
                        cut.fetch_add(1, Ordering::Relaxed);
                    }
                    lt[4].note(started.elapsed());
                }));
            }
        }
        // The ordinary clients, from 127.0.0.1: a reader for the storm's length (or the
        // writer's, without one), and a writer of SMALL_UPLOADS versions.
        let writer = tokio::spawn(async move {
            let mut created = 0;
            for k in 0..SMALL_UPLOADS {
                let zip = mz("example.com/ordinary", &format!("v0.1.{k}")).bytes();
                if put([127, 0, 0, 1], addr, &zip).await == 201 {
                    created += 1;
                }
            }
            created
        });
        let (reads, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(Vec::new())));
        let reader = {
            let (reads, failures, small) = (Arc::clone(&reads), Arc::clone(&failures), small.clone());
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut c = match TcpStream::connect(addr).await {
                    Ok(c) => c,
                    Err(e) => {
                        failures.lock().unwrap().push(format!("connect: {e}"));
                        return;
                    }
                };
                let mut k = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let m = &small[k % small.len()];
                    let suffix = ["@v/list", "@v/v1.0.0.info", "@v/v1.0.0.mod", "@v/v1.0.0.zip"][k % 4];
                    let path = format!("/api/packages/admin/go/{m}/{suffix}");
                    match tokio::time::timeout(Duration::from_secs(30), get(&mut c, &path)).await {
                        Ok(Ok((200, _))) => {
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failures.lock().unwrap().push(format!("{path}: {other:?}"));
                            match TcpStream::connect(addr).await {
                                Ok(again) => c = again,
                                Err(e) => {
                                    failures.lock().unwrap().push(format!("reconnect: {e}"));
                                    break;
                                }
                            }
                        }
                    }
                    k += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let started = Instant::now();
        let created = writer.await.unwrap();
        eprintln!("mix: the writer took {:?}", started.elapsed());
        if hostile {
            tokio::time::sleep(STORM.saturating_sub(started.elapsed())).await;
        }
        let peak_kib = memory(pid).hwm_kib;
        let db = file_space(&db_path);
        stop.store(true, Ordering::Relaxed);
        reader.await.unwrap();
        // Every hostile client ends within its deadline of the storm's end.
        let drained = tokio::time::timeout(
            Duration::from_secs(SEND_TIMEOUT + HEADER_TIMEOUT + 15),
            futures_util::future::join_all(tasks),
        )
        .await;
        let Ok(joined) = drained else {
            let running: Vec<(&str, i64)> = kinds
                .iter()
                .zip(lifetimes.iter())
                .map(|(k, l)| (*k, l.running.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect();
            panic!(
                "hostile clients still connected after their deadlines: {running:?} \
                 (connections dropped for a full accept queue meanwhile: {})",
                listen_overflows().saturating_sub(overflows_before)
            );
        };
        // A panic inside a client task (an unexpected status) surfaces here.
        for j in joined {
            if let Err(e) = j {
                panic!("a hostile client failed: {e}");
            }
        }
        eprintln!(
            "mix: drained {:?} after the start; {} connections dropped for a full accept queue",
            started.elapsed(),
            listen_overflows().saturating_sub(overflows_before)
        );
        let hostile = kinds
            .iter()
            .zip(lifetimes.iter())
            .map(|(k, l)| {
                (*k, l.ended.load(Ordering::Relaxed), Duration::from_millis(l.longest_ms.load(Ordering::Relaxed)))
            })
            .collect();
        let failures = failures.lock().unwrap().clone();
        Outcome {
            reads: reads.load(Ordering::Relaxed),
            read_failures: failures,
            uploads_created: created,
            peak_kib,
            db,
            hostile,
            stalled_cut: usize::try_from(cut.load(Ordering::Relaxed)).unwrap(),
        }
    });
    drop(server);
    outcome
}
