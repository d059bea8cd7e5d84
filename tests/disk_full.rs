//! Issue 5: the database on a filesystem that fills up (a 24 MiB tmpfs, mounted by the test;
//! CI runs as root). Uploads of distinct ~1 MiB incompressible versions go on until one fails:
//! it must fail with 507 and a one-line reason, never 500 and never a crash. While the disk is
//! full, earlier versions stay readable; once there is room again (the tmpfs is remounted
//! larger) uploads succeed again and nothing earlier is lost; verify is clean afterwards.
//!
//! redb latches every read and write to `PreviousIo` after one I/O error until the database
//! is reopened; the store reopens it (src/store/mod.rs), which is what these tests exercise.
//!
//! Where mounting is impossible (no root, a sandbox without CAP_SYS_ADMIN) the tests fail with
//! the mount error, unless `GOSHELF_TEST_NO_MOUNT=1` says to skip them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::stress::{self, observe, Artefact, Seen, ServeProc, Tally};
use crate::support::wire::{Client, Reply};

/// A tmpfs mounted on a fresh temp dir, unmounted on drop (also when the test fails).
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `24m`); `None` when `GOSHELF_TEST_NO_MOUNT=1` and the
    /// mount is impossible. Otherwise an impossible mount fails the test with its error text.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new()
            .prefix("goshelf-full-")
            .tempdir()
            .unwrap();
        let uid = Command::new("id").arg("-u").output().unwrap();
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let error = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => format!(
                "mount exited with {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let skip = std::env::var("GOSHELF_TEST_NO_MOUNT").is_ok_and(|v| v == "1");
        if skip {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs (uid {uid}): {error} (GOSHELF_TEST_NO_MOUNT=1)"
            );
            return None;
        }
        panic!(
            "the disk-full tests mount a small tmpfs and need root (uid here: {uid}): {error}\n\
             set GOSHELF_TEST_NO_MOUNT=1 to skip them where mounting is impossible"
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, size: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `used/size` in KiB, from df.
    fn usage(&self) -> String {
        let o = Command::new("df")
            .args(["-k", "--output=used,size"])
            .arg(self.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let last = text
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>();
        format!(
            "{} of {} KiB used",
            last.first().unwrap_or(&"?"),
            last.get(1).unwrap_or(&"?")
        )
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds a file there (a server that was not stopped): detach.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Lines of the server log that explain failures.
fn log_excerpt(server: &ServeProc) -> String {
    server
        .stderr_log()
        .lines()
        .filter(|l| {
            l.contains("ERROR") || l.contains("WARN") || l.contains(" 507 ") || l.contains(" 500 ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest a read may wait while the disk fills (the store reopens the database meanwhile).
const READ_STALL_LIMIT: Duration = Duration::from_secs(5);

fn version(i: usize) -> Artefact {
    Artefact::new(
        "acme",
        "example.com/full/m",
        &format!("v1.0.{i}"),
        1 << 20,
        &format!("full-{i}"),
    )
}

/// Checks every artefact is complete, listed and byte-identical; returns failures.
fn check_all(client: &mut Client, arts: &[Artefact]) -> Vec<String> {
    let mut failures = Vec::new();
    for a in arts {
        let listed = match stress::list(client, &a.owner, &a.module) {
            Ok(l) => l.contains(&a.version),
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        match observe(client, a, listed, true) {
            Ok(Seen::Complete) => {}
            Ok(other) => failures.push(format!("{a:?}: {other:?}")),
            Err(e) => failures.push(e),
        }
    }
    failures
}

/// Uploads `version(i)` for i in `from..` until one is refused; returns the accepted ones and
/// the refusal.
fn fill(server: &mut ServeProc, from: usize) -> (Vec<Artefact>, Artefact, Reply) {
    let mut stored = Vec::new();
    for i in from..from + 80 {
        let a = version(i);
        match a.upload(&mut Client::new(server.addr())) {
            Ok(r) if r.status == 201 => stored.push(a),
            Ok(r) => return (stored, a, r),
            Err(e) => panic!(
                "upload {i}: no answer ({e}); server running: {}\n{}",
                server.is_running(),
                server.stderr_log()
            ),
        }
    }
    panic!("80 uploads of 1 MiB fit on the small filesystem");
}

/// A thread that asks for `probe`'s .info, .mod and list in a loop until `stop`.
fn spawn_reader(
    addr: &str,
    probe: &Artefact,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<Tally> {
    let (addr, stop, probe) = (addr.to_owned(), Arc::clone(stop), probe.clone());
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        let mut client = Client::new(&addr);
        while !stop.load(Ordering::Relaxed) {
            read_probe(&mut client, &probe, &mut tally);
        }
        tally
    })
}

/// GETs `probe`'s .info, .mod and list once each.
fn read_probe(client: &mut Client, probe: &Artefact, tally: &mut Tally) {
    for (op, file) in [
        ("info", "v1.0.0.info"),
        ("mod", "v1.0.0.mod"),
        ("list", "list"),
    ] {
        let started = Instant::now();
        match client.get(&probe.proxy_path(file)) {
            Ok(r) => tally.record(op, r.status, started.elapsed()),
            Err(e) => tally.errors.push(format!("{op}: {e}")),
        }
    }
}

/// Asserts that a reader saw only 200s and no read slower than `max`.
fn assert_reads_unharmed(reads: &mut Tally, max: Duration, context: &str, server: &ServeProc) {
    let not_ok: Vec<((&str, u16), u64)> = reads
        .statuses
        .iter()
        .filter(|((_, s), _)| *s != 200)
        .map(|(k, n)| (*k, *n))
        .collect();
    let slowest = reads
        .latencies
        .values()
        .flatten()
        .max()
        .copied()
        .unwrap_or_default();
    let table = reads.table();
    assert!(
        reads.errors.is_empty() && not_ok.is_empty() && slowest <= max,
        "{context}: reads saw transport errors {:?}, statuses other than 200 {not_ok:?}, the \
         slowest took {slowest:?} (at most {max:?} expected)\n{}\n--- server log ---\n{}",
        reads.errors,
        table,
        log_excerpt(server)
    );
}

fn assert_disk_full_answer(reply: &Reply, context: &str) {
    let text = reply.text();
    assert!(
        reply.status == 507
            && text.trim_end().lines().count() == 1
            && text.contains("disk is full"),
        "{context}: expected 507 with one line saying the disk is full, got {reply:?}"
    );
}

#[test]
fn disk_full_upload_is_507_reads_continue_and_uploads_resume_after_space() {
    let Some(mnt) = Tmpfs::mount("24m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let db = mnt.path().join("goshelf.redb");
    let mut server = ServeProc::start(&db, logs.path(), &["--max-upload", "16MiB"]);
    let mut client = Client::new(server.addr());
    // A reader asks for a small version's .info, .mod and list all along, also while the
    // store reopens the database after the first failed write.
    let probe = Artefact::new("acme", "example.com/full/probe", "v1.0.0", 0, "probe");
    assert_eq!(probe.upload(&mut client).unwrap().status, 201);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(server.addr(), &probe, &stop);

    let (mut stored, refused, reply) = fill(&mut server, 0);
    stop.store(true, Ordering::Relaxed);
    let mut reads = reader.join().unwrap();
    eprintln!(
        "filled: {} uploads of ~1 MiB accepted, upload {} answered {} {:?}; {}\nreads \
         meanwhile: {} answered, {} transport errors\n{}",
        stored.len(),
        stored.len(),
        reply.status,
        reply.text().trim_end(),
        mnt.usage(),
        reads.requests(),
        reads.errors.len(),
        reads.table()
    );
    assert_reads_unharmed(
        &mut reads,
        READ_STALL_LIMIT,
        "while the disk filled",
        &server,
    );
    stored.insert(0, probe);
    assert!(
        server.is_running(),
        "the server died when the disk filled\n{}",
        server.stderr_log()
    );
    assert!(
        stored.len() >= 5,
        "only {} uploads fit in 24 MiB",
        stored.len()
    );
    assert_disk_full_answer(&reply, "the first refused upload");

    // Nothing of the refused upload is visible; everything before it reads back.
    let listed = stress::list(&mut client, &refused.owner, &refused.module).unwrap_or_default();
    let seen = observe(
        &mut client,
        &refused,
        listed.contains(&refused.version),
        true,
    );
    assert!(
        matches!(seen, Ok(Seen::Absent)),
        "the refused upload: {seen:?}\n{}",
        log_excerpt(&server)
    );
    let failures = check_all(&mut client, &stored);
    assert!(
        failures.is_empty(),
        "reads while the disk is full ({}):\n{}\n--- server log ---\n{}",
        mnt.usage(),
        failures.join("\n"),
        log_excerpt(&server)
    );
    // Still full: still a clean 507, also when the spool file (not redb) is what cannot grow.
    let again = refused
        .upload(&mut Client::new(server.addr()))
        .expect("an answer to the second upload");
    assert_disk_full_answer(&again, "an upload while the disk is still full");
    let huge = Artefact::new(
        "acme",
        "example.com/full/huge",
        "v1.0.0",
        6 << 20,
        "full-huge",
    );
    // A refusal before the whole body is read closes the connection: upload on fresh ones.
    let spooling = huge.upload(&mut Client::new(server.addr()));
    eprintln!("a 6 MiB upload with ~1 MiB free: {spooling:?}");
    assert_disk_full_answer(
        &spooling.expect("an answer to an upload larger than the free space"),
        "an upload larger than the free space",
    );
    assert_eq!(
        stress::spool_files(&db),
        Vec::<String>::new(),
        "spool files left by refused uploads"
    );

    mnt.remount("64m");
    for i in 0..5 {
        let a = version(1000 + i);
        let r = a
            .upload(&mut Client::new(server.addr()))
            .expect("an answer after making space");
        assert_eq!(
            r.status,
            201,
            "upload {i} after making space ({}): {r:?}\n{}",
            mnt.usage(),
            log_excerpt(&server)
        );
        stored.push(a);
    }
    let r = refused
        .upload(&mut Client::new(server.addr()))
        .expect("an answer");
    assert_eq!(
        r.status, 201,
        "the once-refused upload, now with room: {r:?}"
    );
    stored.push(refused);
    let failures = check_all(&mut client, &stored);
    assert!(
        failures.is_empty(),
        "after making space:\n{}",
        failures.join("\n")
    );

    let status = server.terminate();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        server.stderr_log()
    );
    let v = stress::verify_db(&db, "after the disk-full episode");
    assert_eq!(v.versions, stored.len() as u64, "{v:?}");
    eprintln!(
        "after making space: {} versions, all identical; verify OK {v:?}; {}\n--- server \
         errors and warnings ---\n{}",
        stored.len(),
        mnt.usage(),
        log_excerpt(&server)
    );
}

/// A `.zip` download that is still streaming when an upload hits the full disk (and the store
/// reopens the database) must still deliver every byte.
///
/// Fails at the time of writing: the zip is streamed from a `BlobReader` that holds a redb
/// read transaction, not the store's `Arc<Database>`, so the reopen (src/store/mod.rs) does
/// not wait for it; dropping the old `Database` invalidates that transaction, the next chunk
/// read fails with "Database has been closed" (logged as `reading blob ... at N`), and the
/// client gets a 200 whose body stops short of its Content-Length.
#[test]
fn disk_full_during_zip_download_keeps_the_download_whole() {
    let Some(mnt) = Tmpfs::mount("40m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let db = mnt.path().join("goshelf.redb");
    let mut server = ServeProc::start(&db, logs.path(), &["--max-upload", "32MiB"]);
    let mut client = Client::new(server.addr());
    // Bigger than what the socket buffers hold, so that the server is still reading it from
    // the database when the disk fills.
    let big = Artefact::new(
        "acme",
        "example.com/full/big",
        "v1.0.0",
        12 << 20,
        "full-big",
    );
    let r = big.upload(&mut client).unwrap();
    assert_eq!(r.status, 201, "{r:?}");

    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        big.proxy_path("v1.0.0.zip"),
        server.addr()
    )
    .unwrap();
    let mut first = vec![0u8; 64 << 10];
    stream.read_exact(&mut first).unwrap();

    let (_, _, reply) = fill(&mut server, 0);
    assert_disk_full_answer(&reply, "the upload that filled the disk");

    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    let mut raw = first;
    raw.extend_from_slice(&rest);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split..];
    eprintln!(
        "download during the disk-full episode: {} of {} body bytes received ({read:?}); {}\n\
         --- server errors and warnings ---\n{}",
        body.len(),
        big.zip.len(),
        mnt.usage(),
        log_excerpt(&server)
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body == big.zip.as_slice(),
        "the zip download was cut short or damaged by the reopen after the full disk: {} of {} \
         bytes",
        body.len(),
        big.zip.len()
    );
}

/// An online backup being streamed (to a slow client, here one that pauses) while an upload
/// fills the disk: reads must go on (the backup itself may fail: redb latches the handle it
/// reads from to `PreviousIo`).
///
/// Fails at the time of writing: the backup's export holds the store's `Arc<Database>` for as
/// long as it streams, so the reopen after ENOSPC (src/store/mod.rs) waits `REOPEN_WAIT`
/// (10 s) with the store's lock held, blocking every request (a read took 10.0 s, the 507
/// 10.1 s), then cannot open the file because that handle still locks it ("already open in
/// another process", logged) and every later request answers 500 until the export lets go.
#[test]
fn disk_full_during_online_backup_keeps_reads_working() {
    let Some(mnt) = Tmpfs::mount("40m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let db = mnt.path().join("goshelf.redb");
    let mut server = ServeProc::start(&db, logs.path(), &["--max-upload", "16MiB"]);
    let mut client = Client::new(server.addr());
    let probe = Artefact::new("acme", "example.com/full/probe", "v1.0.0", 0, "probe");
    assert_eq!(probe.upload(&mut client).unwrap().status, 201);
    // More than the socket buffers hold, so that the export is still running.
    let base: Vec<Artefact> = (0..12).map(|i| version(500 + i)).collect();
    for a in &base {
        assert_eq!(a.upload(&mut client).unwrap().status, 201);
    }

    let mut backup = TcpStream::connect(server.addr()).unwrap();
    backup
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        backup,
        "GET /api/v1/admin/backup HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: \
         close\r\n\r\n",
        server.addr(),
        stress::admin_auth()
    )
    .unwrap();
    let mut first = vec![0u8; 64 << 10];
    backup.read_exact(&mut first).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(server.addr(), &probe, &stop);
    let started = Instant::now();
    let (_, _, reply) = fill(&mut server, 0);
    let refused_after = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut reads = reader.join().unwrap();
    // Reads after the refusal, the backup still paused.
    for _ in 0..10 {
        read_probe(&mut client, &probe, &mut reads);
    }
    let mut rest = Vec::new();
    let drained = backup.read_to_end(&mut rest);
    eprintln!(
        "disk filled {} ms into the paused backup: {} {:?}; reads meanwhile and after: {} \
         answered, {} transport errors\n{}backup stream: {} more bytes ({drained:?}); {}\n\
         --- server errors and warnings ---\n{}",
        refused_after.as_millis(),
        reply.status,
        reply.text().trim_end(),
        reads.requests(),
        reads.errors.len(),
        reads.table(),
        rest.len(),
        mnt.usage(),
        log_excerpt(&server)
    );
    assert_disk_full_answer(&reply, "the upload that filled the disk");
    assert_reads_unharmed(
        &mut reads,
        READ_STALL_LIMIT,
        "while the disk filled during an online backup",
        &server,
    );
}
