//! Issue 5: the server killed with SIGKILL at random moments while several clients upload
//! (tiny, multi-chunk and multi-MiB zips) and an admin deletes. After every restart on the same
//! database file:
//!
//! - every version ever acknowledged with 201 is listed and serves its .info, .mod and the
//!   very same .zip bytes; every acknowledged delete (204) stays deleted (410);
//! - a version whose answer was lost in the kill is either wholly absent (404 everywhere) or
//!   wholly there and byte-identical, never partly visible; likewise a delete whose answer
//!   was lost is either undone or complete;
//! - no `<db>.upload-*` spool file is left behind;
//! - every third round the next start is killed too, at a random moment of its start (crash
//!   recovery included), before the server is started for the checks;
//! - `goshelf verify` is clean (offline on the stopped file every few rounds and after the
//!   last, `verify --server` after the other rounds): reference counts match and there are no
//!   orphan chunks, so the blobs of deleted versions were freed; its version count equals the
//!   model's.
//!
//! The kill delays and upload sizes come from a seeded RNG; the seed is printed and
//! `GOSHELF_TEST_SEED` replays it (thread interleavings still differ between runs).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goshelf::store::{Store, VersionLookup};

use crate::support::server::ADMIN_TOKEN;
use crate::support::stress::{self, observe, spool_files, Artefact, Rng, Seen};
use crate::support::wire::{Client, WireError};
use crate::support::TestServer;

const ROUNDS: usize = 30;
/// Every this many rounds (and after the last) the check is full: every zip is downloaded
/// (HEAD with its ETag otherwise; new versions are always downloaded), deleted and absent
/// versions are asked for .info, .mod and .zip (.info otherwise), and the stopped file is
/// verified offline (online otherwise).
const FULL_EVERY: usize = 5;
const UPLOADERS: usize = 4;
const OWNER: &str = "acme";
/// Uploader 3 also puts every zip under this owner: the same blob, referenced twice.
const MIRROR: &str = "mirror";

/// What the test knows about one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// 201 received, or seen complete after a restart.
    Present,
    /// Upload sent, no answer before the kill.
    UploadUnknown,
    /// Never stored: not sent, or seen absent after a restart.
    Absent,
    /// 204 received, or seen gone after a restart.
    Deleted,
    /// DELETE sent, no answer before the kill.
    DeleteUnknown,
}

struct Entry {
    art: Artefact,
    state: State,
    /// Whether the zip was downloaded in full since it became present.
    full_checked: bool,
}

#[derive(Default)]
struct Model {
    entries: BTreeMap<String, Entry>,
    /// Server answers that no correct run gives (e.g. a 500 to an upload), with context.
    unexpected: Vec<String>,
    acked_uploads: u64,
    acked_deletes: u64,
    acked_bytes: u64,
}

impl Model {
    fn set(&mut self, key: &str, state: State) {
        self.entries.get_mut(key).unwrap().state = state;
    }
}

/// What one client thread saw in a round.
#[derive(Default)]
struct ThreadReport {
    /// Transport errors, with when they happened: the kill explains only those after it.
    errors: Vec<(Instant, String)>,
    requests: u64,
    /// (kind, latency) of every answered request.
    answered: Vec<(&'static str, Duration)>,
}

fn uploader(
    idx: usize,
    round: usize,
    addr: String,
    model: Arc<Mutex<Model>>,
    mut rng: Rng,
) -> ThreadReport {
    let mut report = ThreadReport::default();
    let mut client = Client::with_timeout(&addr, Duration::from_secs(30));
    let module = format!("example.com/crash/u{idx}");
    for seq in 0.. {
        let payload = match rng.range(0, 100) {
            0..=54 => 0,
            55..=91 => usize::try_from(rng.range(280 << 10, 340 << 10)).unwrap(),
            _ => usize::try_from(rng.range(2 << 20, 3 << 20)).unwrap(),
        };
        let version = format!("v1.{round}.{seq}");
        let seed = format!("crash-{idx}-{round}-{seq}-{}", rng.next_u64());
        let art = Artefact::new(OWNER, &module, &version, payload, &seed);
        let owners: &[&str] = if idx == 3 { &[OWNER, MIRROR] } else { &[OWNER] };
        for owner in owners {
            let art = art.with_owner(owner);
            let key = art.key();
            model.lock().unwrap().entries.insert(
                key.clone(),
                Entry {
                    art: art.clone(),
                    state: State::UploadUnknown,
                    full_checked: false,
                },
            );
            report.requests += 1;
            let sent = Instant::now();
            let result = art.upload(&mut client);
            if result.is_ok() {
                report.answered.push(("upload", sent.elapsed()));
            }
            match result {
                Ok(reply) if reply.status == 201 => {
                    let mut m = model.lock().unwrap();
                    if let Err(e) = art.check_created(&reply) {
                        m.unexpected.push(format!("round {round}: {e}"));
                    }
                    m.set(&key, State::Present);
                    m.acked_uploads += 1;
                    m.acked_bytes += art.zip.len() as u64;
                }
                Ok(reply) => {
                    // Refused: nothing may be stored. (No refusal is expected at all.)
                    let mut m = model.lock().unwrap();
                    m.unexpected
                        .push(format!("round {round}: upload of {art:?}: {reply:?}"));
                    m.set(&key, State::Absent);
                }
                Err(WireError::Connect(e)) => {
                    model.lock().unwrap().set(&key, State::Absent);
                    report
                        .errors
                        .push((Instant::now(), format!("connect: {e}")));
                    return report;
                }
                Err(e) => {
                    report
                        .errors
                        .push((Instant::now(), format!("upload {art:?}: {e}")));
                    return report;
                }
            }
        }
    }
    report
}

fn deleter(
    round: usize,
    addr: String,
    model: Arc<Mutex<Model>>,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) -> ThreadReport {
    let mut report = ThreadReport::default();
    let mut client = Client::with_timeout(&addr, Duration::from_secs(30));
    while !stop.load(Ordering::Relaxed) {
        // Pacing, not synchronisation: deletes are a fraction of the traffic.
        std::thread::sleep(Duration::from_millis(rng.range(10, 60)));
        let target = {
            let mut m = model.lock().unwrap();
            let present: Vec<&String> = m
                .entries
                .iter()
                .filter(|(_, e)| e.state == State::Present)
                .map(|(k, _)| k)
                .collect();
            let deleted = m
                .entries
                .values()
                .filter(|e| e.state == State::Deleted)
                .count();
            // Keep about three quarters of what was published.
            if present.is_empty() || deleted * 3 > present.len() {
                continue;
            }
            let key = present[rng.index(present.len())].clone();
            m.set(&key, State::DeleteUnknown);
            m.entries[&key].art.clone()
        };
        report.requests += 1;
        let sent = Instant::now();
        let result = target.delete(&mut client);
        if result.is_ok() {
            report.answered.push(("delete", sent.elapsed()));
        }
        match result {
            Ok(reply) if reply.status == 204 => {
                let mut m = model.lock().unwrap();
                m.set(&target.key(), State::Deleted);
                m.acked_deletes += 1;
            }
            Ok(reply) => {
                let mut m = model.lock().unwrap();
                m.unexpected
                    .push(format!("round {round}: delete of {target:?}: {reply:?}"));
                // Unknown again: the check after the restart decides.
            }
            Err(WireError::Connect(e)) => {
                model.lock().unwrap().set(&target.key(), State::Present);
                report
                    .errors
                    .push((Instant::now(), format!("connect: {e}")));
                return report;
            }
            Err(e) => {
                report
                    .errors
                    .push((Instant::now(), format!("delete {target:?}: {e}")));
                return report;
            }
        }
    }
    report
}

/// Starts `goshelf serve` on `db` and SIGKILLs it after `delay`, wherever its start (crash
/// recovery of the file included) has got to. Returns whether it had printed its listening
/// line by then.
fn kill_during_startup(db: &Path, delay: Duration) -> bool {
    let scratch = tempfile::tempdir().unwrap();
    let stdout = scratch.path().join("stdout");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_goshelf"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GOSHELF_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("GOSHELF_ADMIN_TOKEN", ADMIN_TOKEN);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::read_to_string(&stdout)
        .unwrap()
        .contains("listening on")
}

/// Counts of what a check after a restart resolved.
#[derive(Default, Debug)]
struct Resolved {
    checked: u64,
    full_zips: u64,
    unacked_committed: u64,
    unacked_absent: u64,
    unacked_delete_done: u64,
    unacked_delete_undone: u64,
}

impl Resolved {
    fn add(&mut self, r: &Resolved) {
        self.checked += r.checked;
        self.full_zips += r.full_zips;
        self.unacked_committed += r.unacked_committed;
        self.unacked_absent += r.unacked_absent;
        self.unacked_delete_done += r.unacked_delete_done;
        self.unacked_delete_undone += r.unacked_delete_undone;
    }
}

/// Checks every version the model knows against the restarted server (on three connections
/// at once) and resolves the unknown ones. Panics, naming the seed, on anything partly
/// visible or lost.
fn check_after_restart(
    server: &TestServer,
    model: &mut Model,
    full: bool,
    seed: u64,
    round: usize,
) -> Resolved {
    const CHECKERS: usize = 3;
    let mut entries: Vec<&mut Entry> = model.entries.values_mut().collect();
    let per_thread = entries.len().div_ceil(CHECKERS).max(1);
    let addr = server.addr();
    let results: Vec<(Resolved, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks_mut(per_thread)
            .map(|chunk| s.spawn(move || check_entries(addr, chunk, full)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut resolved = Resolved::default();
    let mut failures = Vec::new();
    for (r, f) in results {
        resolved.add(&r);
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "seed {seed}, after the restart of round {round}: {} version(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    resolved
}

fn check_entries(addr: &str, entries: &mut [&mut Entry], full: bool) -> (Resolved, Vec<String>) {
    let mut client = Client::with_timeout(addr, Duration::from_secs(60));
    let mut listed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut resolved = Resolved::default();
    for entry in entries.iter_mut() {
        let a = &entry.art;
        let key = (a.owner.clone(), a.module.clone());
        if !listed.contains_key(&key) {
            match stress::list(&mut client, &a.owner, &a.module) {
                Ok(versions) => listed.insert(key.clone(), versions),
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
        }
        let is_listed = listed[&key].contains(&a.version);
        resolved.checked += 1;
        // Settled absent or deleted versions: one request, unless this is a full check.
        let settled = match entry.state {
            State::Absent => Some((404, Seen::Absent)),
            State::Deleted => Some((410, Seen::Gone)),
            _ => None,
        };
        if let (Some((status, seen)), false) = (settled, full) {
            let path = a.proxy_path(&format!("{}.info", a.version));
            match client.get(&path) {
                Ok(r) if r.status == status && !is_listed => {}
                Ok(r) => failures.push(format!(
                    "{a:?} is {:?}, expected {seen:?}; listed: {is_listed}; GET .info: {r:?}",
                    entry.state
                )),
                Err(e) => failures.push(format!("GET {path}: {e}")),
            }
            continue;
        }
        let full_zip = full || !entry.full_checked;
        let seen = match observe(&mut client, a, is_listed, full_zip) {
            Ok(seen) => seen,
            Err(e) => {
                failures.push(format!("{:?}: {e}", entry.state));
                continue;
            }
        };
        if seen == Seen::Complete && full_zip {
            resolved.full_zips += 1;
            entry.full_checked = true;
        }
        let next = match (entry.state, seen) {
            (State::Present, Seen::Complete) => State::Present,
            (State::Absent, Seen::Absent) => State::Absent,
            (State::Deleted, Seen::Gone) => State::Deleted,
            (State::UploadUnknown, Seen::Complete) => {
                resolved.unacked_committed += 1;
                State::Present
            }
            (State::UploadUnknown, Seen::Absent) => {
                resolved.unacked_absent += 1;
                State::Absent
            }
            (State::DeleteUnknown, Seen::Complete) => {
                resolved.unacked_delete_undone += 1;
                State::Present
            }
            (State::DeleteUnknown, Seen::Gone) => {
                resolved.unacked_delete_done += 1;
                State::Deleted
            }
            (state, seen) => {
                failures.push(format!(
                    "{a:?} was {state:?} but the server shows it {seen:?}"
                ));
                continue;
            }
        };
        entry.state = next;
    }
    (resolved, failures)
}

#[test]
fn kill9_during_uploads_and_deletes_loses_nothing_acknowledged() {
    let seed = stress::test_seed("kill9_during_uploads_and_deletes_loses_nothing_acknowledged");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut server = TestServer::start();
    // The mirror hosts the same paths: shared by the admin (the checksum database gives a
    // path to the namespace that logged it first).
    server.share(MIRROR, "example.com");
    let db = server.db_path();
    let model = Arc::new(Mutex::new(Model::default()));
    let mut premature = Vec::new();
    let mut total_requests = 0u64;
    let mut answered = Vec::new();
    let mut totals = Resolved::default();
    let mut last_restart_ms = 100;
    let mut startup_kills = Vec::new();
    for round in 0..ROUNDS {
        let round_start = Instant::now();
        // Writers for this round, on the address of this run of the server.
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for idx in 0..UPLOADERS {
            let (addr, model, rng) = (server.addr().to_owned(), Arc::clone(&model), rng.fork());
            threads.push(std::thread::spawn(move || {
                uploader(idx, round, addr, model, rng)
            }));
        }
        {
            let (addr, model, stop, rng) = (
                server.addr().to_owned(),
                Arc::clone(&model),
                Arc::clone(&stop),
                rng.fork(),
            );
            threads.push(std::thread::spawn(move || {
                deleter(round, addr, model, stop, rng)
            }));
        }
        let delay = Duration::from_millis(rng.range(20, 700));
        std::thread::sleep(delay);
        let killed_at = Instant::now();
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let report = t.join().unwrap();
            total_requests += report.requests;
            answered.extend(report.answered);
            for (at, what) in report.errors {
                if at < killed_at {
                    premature.push(format!("round {round}: {what}"));
                }
            }
        }

        // Every third round, one more crash: during the next start, crash recovery included.
        let startup_kill = if round % 3 == 1 {
            let delay = Duration::from_millis(rng.range(0, last_restart_ms + 50));
            let listened = kill_during_startup(&db, delay);
            startup_kills.push((delay.as_millis(), listened));
            format!(
                "; killed {} ms into a start ({})",
                delay.as_millis(),
                if listened {
                    "after its listening line"
                } else {
                    "before it listened"
                }
            )
        } else {
            String::new()
        };
        // Every other run of the server commits without the allocator state
        // (`quick_repair = false`): the start after its kill rebuilds it from the whole file.
        server.set_args(if round % 2 == 0 {
            &["--quick-repair", "false"]
        } else {
            &[]
        });
        let t_restart = Instant::now();
        server.restart();
        let restart_ms = t_restart.elapsed().as_millis();
        last_restart_ms = u64::try_from(restart_ms).unwrap();
        let spools = spool_files(&db);
        assert!(
            spools.is_empty(),
            "seed {seed}, round {round}: spool files after the restart: {spools:?}"
        );
        let last = round + 1 == ROUNDS;
        let full = last || round % FULL_EVERY == FULL_EVERY - 1;
        let t_check = Instant::now();
        let resolved = {
            let mut m = model.lock().unwrap();
            check_after_restart(&server, &mut m, full, seed, round)
        };
        let check_ms = t_check.elapsed().as_millis();
        totals.add(&resolved);
        let t_verify = Instant::now();
        let context = format!("seed {seed}, after round {round}");
        let (verified, how) = if full {
            let status = server.terminate();
            assert!(
                status.success(),
                "SIGTERM exit {status}\n{}",
                server.stderr_log()
            );
            let v = stress::verify_db(&db, &context);
            let verify_ms = t_verify.elapsed().as_millis();
            let t = Instant::now();
            server.restart();
            let how = format!(
                "offline verify {verify_ms} ms, restart after SIGTERM {} ms",
                t.elapsed().as_millis()
            );
            (v, how)
        } else {
            let v = stress::verify_online(server.url(), &context);
            (
                v,
                format!("online verify {} ms", t_verify.elapsed().as_millis()),
            )
        };
        let m = model.lock().unwrap();
        let present = m
            .entries
            .values()
            .filter(|e| e.state == State::Present)
            .count();
        assert_eq!(
            verified.versions, present as u64,
            "seed {seed}, round {round}: verify counts {} versions, the model {present}",
            verified.versions
        );
        eprintln!(
            "round {round:2}: killed after {:3} ms{startup_kill}; {} versions known, {present} present; \
             {resolved:?}; verify OK: {} versions, {} blobs, {} bytes, {} chunks, {} pack records; round took \
             {} ms (restart after kill {restart_ms} ms, check {check_ms} ms, {how})",
            delay.as_millis(),
            m.entries.len(),
            verified.versions,
            verified.blobs,
            verified.bytes,
            verified.chunks,
            verified.pack_records,
            round_start.elapsed().as_millis()
        );
    }
    let m = model.lock().unwrap();
    let count = |s: State| m.entries.values().filter(|e| e.state == s).count();
    eprintln!(
        "kill9 loop: {ROUNDS} rounds in {:.1} s, seed {seed}; {total_requests} requests; \
         {} uploads acknowledged ({} bytes), {} deletes acknowledged; final: {} present, {} \
         deleted, {} never stored; db file {} bytes",
        started.elapsed().as_secs_f64(),
        m.acked_uploads,
        m.acked_bytes,
        m.acked_deletes,
        count(State::Present),
        count(State::Deleted),
        count(State::Absent),
        std::fs::metadata(&db).unwrap().len()
    );
    eprintln!("kill9 loop: answers lost in the kills, resolved after restarts: {totals:?}");
    eprintln!(
        "kill9 loop: {} kills during a start: {} before the listening line; (ms, listened): \
         {startup_kills:?}",
        startup_kills.len(),
        startup_kills.iter().filter(|(_, l)| !l).count()
    );
    for kind in ["upload", "delete"] {
        let mut ms: Vec<u128> = answered
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d.as_millis())
            .collect();
        ms.sort_unstable();
        if let Some(max) = ms.last() {
            eprintln!(
                "kill9 loop: {} {kind}s answered; latency p50 {} ms, p90 {} ms, max {max} ms",
                ms.len(),
                ms[ms.len() / 2],
                ms[ms.len() * 9 / 10]
            );
        }
    }
    assert!(
        m.unexpected.is_empty(),
        "seed {seed}: answers no correct server gives:\n{}",
        m.unexpected.join("\n")
    );
    assert!(
        premature.is_empty(),
        "seed {seed}: transport errors while the server was alive:\n{}",
        premature.join("\n")
    );
    assert!(
        m.acked_uploads >= 60 && m.acked_deletes >= 10,
        "seed {seed}: too little traffic to mean anything: {} uploads, {} deletes acknowledged",
        m.acked_uploads,
        m.acked_deletes
    );
}

/// `goshelf compact` (offline, after deletes) killed with SIGKILL at random moments: each time
/// the file must open again, verify clean and hold every kept version byte for byte and every
/// deleted one as deleted; a compaction left to finish afterwards still shrinks the file.
#[test]
fn compact_killed_midway_loses_nothing_and_verifies_clean() {
    const KILLS: usize = 6;
    let seed = stress::test_seed("compact_killed_midway_loses_nothing_and_verifies_clean");
    let mut rng = Rng::new(seed);
    let mut server = TestServer::start();
    let mut client = Client::new(server.addr());
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for i in 0..40 {
        let payload = if i % 2 == 0 { 1 << 20 } else { 300 << 10 };
        let a = Artefact::new(
            OWNER,
            "example.com/compact/m",
            &format!("v1.0.{i}"),
            payload,
            &format!("compact-{i}"),
        );
        let r = a.upload(&mut client).unwrap();
        assert_eq!(r.status, 201, "{r:?}");
        kept.push(a);
    }
    for i in (0..40).rev().step_by(3) {
        let a = kept.remove(i);
        let r = a.delete(&mut client).unwrap();
        assert_eq!(r.status, 204, "{r:?}");
        deleted.push(a);
    }
    assert!(server.terminate().success());
    let db = server.db_path();
    let before = std::fs::metadata(&db).unwrap().len();

    // How long a whole compaction of this file takes, on a copy.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy.redb");
    std::fs::copy(&db, &copy).unwrap();
    let t = Instant::now();
    let o = stress::goshelf(
        &["compact", "--db", copy.to_str().unwrap()],
        &[],
        Duration::from_secs(120),
    );
    let full = t.elapsed();
    assert!(
        o.status.success(),
        "{}",
        crate::support::describe_output("compact", &o)
    );

    let mut delays = Vec::new();
    for kill in 0..KILLS {
        let delay = Duration::from_millis(rng.range(0, u64::try_from(full.as_millis()).unwrap()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_goshelf"))
            .args(["compact", "--db"])
            .arg(&db)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        delays.push((delay.as_millis(), finished));
        let context = format!("seed {seed}: after compact killed at {delay:?} (kill {kill})");
        let v = stress::verify_db(&db, &context);
        assert_eq!(v.versions, kept.len() as u64, "{context}: {v:?}");
        let store = Store::open(&db).unwrap();
        for a in &kept {
            assert_eq!(stress::store_holds(&store, a), Ok(true), "{context}");
        }
        for a in &deleted {
            let found = store.get_version(&a.owner, &a.module, &a.version).unwrap();
            assert_eq!(found, VersionLookup::Deleted, "{context}: {a:?}");
        }
    }
    let o = stress::goshelf(
        &["compact", "--db", db.to_str().unwrap()],
        &[],
        Duration::from_secs(120),
    );
    assert!(
        o.status.success(),
        "{}",
        crate::support::describe_output("compact", &o)
    );
    let after = std::fs::metadata(&db).unwrap().len();
    let v = stress::verify_db(&db, &format!("seed {seed}: after the last compact"));
    eprintln!(
        "compact: a whole compaction of a copy took {} ms; {KILLS} compactions killed at (ms, \
         had it finished): {delays:?}; file {before} bytes before, {after} after the last one; \
         {} versions kept, {} deleted; verify {v:?}",
        full.as_millis(),
        kept.len(),
        deleted.len()
    );
    assert!(after < before, "compaction did not shrink the file");
    server.restart();
    let mut client = Client::new(server.addr());
    for a in &kept {
        let listed = stress::list(&mut client, &a.owner, &a.module)
            .unwrap()
            .contains(&a.version);
        assert_eq!(observe(&mut client, a, listed, true), Ok(Seen::Complete));
    }
}
