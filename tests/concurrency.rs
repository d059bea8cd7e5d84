//! Issue 5: many clients at once, and a backup taken while uploads run.
//!
//! - 64 keep-alive clients for 15 s: 24 writers mix uploads of distinct versions, races to
//!   upload the very same module@version (exactly one 201, every other attempt 409), the same
//!   zip under many owners (one stored blob) and deletes; 40 readers download .info, .mod,
//!   .zip, list and @latest of what was created. No 5xx and no transport error may occur
//!   (but one: a zip download that the deletion of its last copy cut short, issue 16: zips
//!   are read piece by piece from short snapshots, so a delete frees the bytes at once, and
//!   the client sees a short body, never a wrong one); afterwards every 201 reads back
//!   byte-identical unless a 204 deleted it (then 410), and verify is clean.
//! - `goshelf backup --server` while writers keep uploading: the backup opens, verifies clean,
//!   and holds every version acknowledged before it started (later ones only if complete).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goshelf::store::Store;

use crate::support::stress::{self, observe, Artefact, Rng, Seen, Tally};
use crate::support::wire::Client;
use crate::support::TestServer;

const CLIENTS: usize = 64;
/// Clients `0..WRITERS` upload and delete; the others read.
const WRITERS: usize = 24;
const RUN_FOR: Duration = Duration::from_secs(15);
/// Versions that many clients race to upload with identical bytes, released one after another
/// during the run so that the clients pile onto the newest one at the same time.
const CONTESTED: usize = 30;
/// Zips uploaded under each of `DEDUP_OWNERS`.
const DEDUP_ZIPS: usize = 6;
const DEDUP_OWNERS: [&str; 8] = ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"];

struct Shared {
    started: Instant,
    stop: AtomicBool,
    contested: Vec<Artefact>,
    dedup: Vec<Artefact>,
    /// Everything answered with 201, for downloads and the final read-back.
    created: Mutex<Vec<Artefact>>,
    /// Distinct versions (never a module's first) that a client may delete, each once.
    deletable: Mutex<Vec<Artefact>>,
    /// Keys a DELETE was sent for (before sending), and those answered with 204.
    delete_sent: Mutex<BTreeSet<String>>,
    deleted: Mutex<BTreeSet<String>>,
    /// Statuses of every attempt, per contested index and per (owner, dedup index).
    contested_statuses: Mutex<BTreeMap<usize, Vec<u16>>>,
    dedup_statuses: Mutex<BTreeMap<(String, usize), Vec<u16>>>,
}

fn client_loop(
    idx: usize,
    addr: String,
    shared: Arc<Shared>,
    mut rng: Rng,
) -> (Tally, Vec<String>) {
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    let mut client = Client::with_timeout(&addr, Duration::from_secs(60));
    let module = format!("example.com/load/c{idx}");
    let mut next_version = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        // Writers: 45% distinct versions, 20% racing, 20% shared zips, 15% deletes (their
        // first version is never deleted, so that @latest always has an answer). Readers:
        // .info, .mod and .zip 70%, list 15%, @latest 15%.
        let op = if idx < WRITERS {
            match rng.range(0, 100) {
                _ if next_version == 0 => Op::Upload,
                0..=44 => Op::Upload,
                45..=64 => Op::Race,
                65..=84 => Op::Dedup,
                _ => Op::Delete,
            }
        } else {
            match rng.range(0, 100) {
                0..=69 => Op::Read,
                70..=84 => Op::List,
                _ => Op::Latest,
            }
        };
        // A version some client created, for the reads.
        let picked = if matches!(op, Op::Read | Op::List | Op::Latest) {
            let created = shared.created.lock().unwrap();
            if created.is_empty() {
                drop(created);
                // Polling until the writers have created something.
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Some(created[rng.index(created.len())].clone())
        } else {
            None
        };
        let started = Instant::now();
        let (op, result, expect): (&'static str, _, Expected) = match op {
            Op::Upload => {
                let payload = match rng.range(0, 100) {
                    0..=89 => 0,
                    90..=97 => usize::try_from(rng.range(280 << 10, 320 << 10)).unwrap(),
                    _ => 1 << 20,
                };
                let version = format!("v1.0.{next_version}");
                let seed = format!("load-{idx}-{next_version}");
                let art = Artefact::new("acme", &module, &version, payload, &seed);
                next_version += 1;
                let result = art.upload(&mut client);
                ("upload", result, Expected::Created(art, next_version > 1))
            }
            Op::Race => {
                let elapsed = shared.started.elapsed().as_millis();
                let step = RUN_FOR.as_millis() / CONTESTED as u128;
                let j = usize::try_from(elapsed / step).unwrap().min(CONTESTED - 1);
                let art = shared.contested[j].clone();
                (
                    "upload-same",
                    art.upload(&mut client),
                    Expected::Contested(j, art),
                )
            }
            Op::Dedup => {
                let d = rng.index(DEDUP_ZIPS);
                let owner = DEDUP_OWNERS[rng.index(DEDUP_OWNERS.len())];
                let art = shared.dedup[d].with_owner(owner);
                (
                    "upload-dedup",
                    art.upload(&mut client),
                    Expected::Dedup(d, art),
                )
            }
            Op::Delete => {
                let target = {
                    let mut pool = shared.deletable.lock().unwrap();
                    if pool.is_empty() {
                        continue;
                    }
                    let i = rng.index(pool.len());
                    pool.swap_remove(i)
                };
                shared.delete_sent.lock().unwrap().insert(target.key());
                (
                    "delete",
                    target.delete(&mut client),
                    Expected::Deleted(target),
                )
            }
            Op::Read => {
                let a = picked.unwrap();
                let (op, file) = match rng.range(0, 3) {
                    0 => ("get-info", format!("{}.info", a.version)),
                    1 => ("get-mod", format!("{}.mod", a.version)),
                    _ => ("get-zip", format!("{}.zip", a.version)),
                };
                (op, client.get(&a.proxy_path(&file)), Expected::Content(a))
            }
            Op::List => {
                let a = picked.unwrap();
                (
                    "get-list",
                    client.get(&a.proxy_path("list")),
                    Expected::Listing(a),
                )
            }
            Op::Latest => {
                let a = picked.unwrap();
                ("get-latest", client.get(&a.latest_path()), Expected::Latest)
            }
        };
        let took = started.elapsed();
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                let deleted = match &expect {
                    Expected::Content(a) => shared.delete_sent.lock().unwrap().contains(&a.key()),
                    _ => false,
                };
                if op == "get-zip"
                    && deleted
                    && matches!(e, crate::support::wire::WireError::Receive(_))
                {
                    tally.cut_by_delete += 1;
                } else {
                    tally.errors.push(format!("client {idx}: {op}: {e}"));
                }
                continue;
            }
        };
        tally.record(op, reply.status, took);
        let status = reply.status;
        match expect {
            Expected::Created(art, deletable) => {
                if status == 201 {
                    if let Err(e) = art.check_created(&reply) {
                        violations.push(e);
                    }
                    shared.created.lock().unwrap().push(art.clone());
                    if deletable {
                        shared.deletable.lock().unwrap().push(art);
                    }
                } else {
                    violations.push(format!("upload of {art:?}: {reply:?}"));
                }
            }
            Expected::Contested(j, art) => {
                shared
                    .contested_statuses
                    .lock()
                    .unwrap()
                    .entry(j)
                    .or_default()
                    .push(status);
                match status {
                    201 => shared.created.lock().unwrap().push(art),
                    409 => {}
                    _ => violations.push(format!("racing upload of {art:?}: {reply:?}")),
                }
            }
            Expected::Dedup(d, art) => {
                shared
                    .dedup_statuses
                    .lock()
                    .unwrap()
                    .entry((art.owner.clone(), d))
                    .or_default()
                    .push(status);
                match status {
                    201 => shared.created.lock().unwrap().push(art),
                    409 => {}
                    _ => violations.push(format!("dedup upload of {art:?}: {reply:?}")),
                }
            }
            Expected::Deleted(art) => {
                if status == 204 {
                    shared.deleted.lock().unwrap().insert(art.key());
                } else {
                    violations.push(format!("delete of {art:?}: {reply:?}"));
                }
            }
            Expected::Content(a) => {
                let ok = match op {
                    "get-info" => {
                        status == 200
                            && serde_json::from_slice::<serde_json::Value>(&reply.body)
                                .is_ok_and(|j| j["Version"] == a.version.as_str())
                    }
                    "get-mod" => status == 200 && reply.body == *a.go_mod,
                    _ => status == 200 && reply.body == *a.zip,
                };
                // 410 only for a version whose DELETE was sent before this answer came.
                let gone_ok =
                    status == 410 && shared.delete_sent.lock().unwrap().contains(&a.key());
                if !ok && !gone_ok {
                    violations.push(format!("{op} of {a:?}: {reply:?}"));
                }
            }
            Expected::Listing(a) => {
                let listed = reply.text().lines().any(|l| l == a.version);
                let gone = shared.delete_sent.lock().unwrap().contains(&a.key());
                if status != 200 || (!listed && !gone) {
                    violations.push(format!("list lacks {a:?}: {reply:?}"));
                }
            }
            Expected::Latest => {
                if status != 200 {
                    violations.push(format!("@latest: {reply:?}"));
                }
            }
        }
    }
    (tally, violations)
}

#[derive(Clone, Copy)]
enum Op {
    Upload,
    Race,
    Dedup,
    Delete,
    Read,
    List,
    Latest,
}

enum Expected {
    /// A distinct version: 201. The flag: it may be deleted later.
    Created(Artefact, bool),
    Contested(usize, Artefact),
    Dedup(usize, Artefact),
    Deleted(Artefact),
    Content(Artefact),
    Listing(Artefact),
    Latest,
}

#[test]
fn many_clients_mixed_load_no_5xx_and_every_201_reads_back() {
    let seed = stress::test_seed("many_clients_mixed_load_no_5xx_and_every_201_reads_back");
    let mut rng = Rng::new(seed);
    let mut server = TestServer::start();
    // Same paths in several namespaces: shared by the admin first (the checksum database
    // gives a path to the namespace that logged it first).
    for owner in DEDUP_OWNERS {
        server.share(owner, "example.com");
    }
    let contested = (0..CONTESTED)
        .map(|j| {
            let payload = if j % 3 == 0 { 300 << 10 } else { 0 };
            Artefact::new(
                "acme",
                &format!("example.com/race/r{j}"),
                "v1.0.0",
                payload,
                &format!("race-{j}"),
            )
        })
        .collect();
    let dedup = (0..DEDUP_ZIPS)
        .map(|d| {
            let payload = if d % 2 == 0 { 300 << 10 } else { 4096 };
            Artefact::new(
                "o0",
                &format!("example.com/shared/s{d}"),
                "v1.2.3",
                payload,
                &format!("dedup-{d}"),
            )
        })
        .collect();
    let shared = Arc::new(Shared {
        started: Instant::now(),
        stop: AtomicBool::new(false),
        contested,
        dedup,
        created: Mutex::new(Vec::new()),
        deletable: Mutex::new(Vec::new()),
        delete_sent: Mutex::new(BTreeSet::new()),
        deleted: Mutex::new(BTreeSet::new()),
        contested_statuses: Mutex::new(BTreeMap::new()),
        dedup_statuses: Mutex::new(BTreeMap::new()),
    });
    let handles: Vec<_> = (0..CLIENTS)
        .map(|idx| {
            let (addr, shared, rng) = (server.addr().to_owned(), Arc::clone(&shared), rng.fork());
            std::thread::spawn(move || client_loop(idx, addr, shared, rng))
        })
        .collect();
    std::thread::sleep(RUN_FOR);
    shared.stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    for h in handles {
        let (t, v) = h.join().unwrap();
        tally.merge(t);
        violations.extend(v);
    }
    let ran_for = shared.started.elapsed();
    let cut = tally.cut_by_delete;
    eprintln!(
        "{CLIENTS} clients for {:.1} s (seed {seed}): {} requests answered ({:.0}/s), {} \
         transport errors, {} zip downloads cut short by their version's delete, {} answers \
         >= 500\n{}",
        ran_for.as_secs_f64(),
        tally.requests(),
        tally.requests() as f64 / ran_for.as_secs_f64(),
        tally.errors.len(),
        cut,
        tally.server_errors(),
        tally.table()
    );
    assert!(
        tally.errors.is_empty(),
        "transport errors under load:\n{}",
        tally.errors.join("\n")
    );
    assert_eq!(tally.server_errors(), 0, "5xx answers under load");
    assert!(
        violations.is_empty(),
        "{} wrong answers:\n{}",
        violations.len(),
        violations.join("\n")
    );

    // Races: exactly one 201 per contested version and per (owner, shared zip).
    let races = shared.contested_statuses.lock().unwrap().clone();
    let mut raced_attempts = 0;
    for (j, statuses) in &races {
        raced_attempts += statuses.len();
        let created = statuses.iter().filter(|s| **s == 201).count();
        assert_eq!(created, 1, "contested version {j}: statuses {statuses:?}");
    }
    let dedups = shared.dedup_statuses.lock().unwrap().clone();
    for (key, statuses) in &dedups {
        let created = statuses.iter().filter(|s| **s == 201).count();
        assert_eq!(created, 1, "shared zip {key:?}: statuses {statuses:?}");
    }
    let max_race = races.values().map(Vec::len).max().unwrap_or(0);
    eprintln!(
        "races: {} contested versions, {raced_attempts} attempts (up to {max_race} on one), \
         one 201 each; {} (owner, shared zip) pairs, one 201 each",
        races.len(),
        dedups.len()
    );
    assert!(
        races.len() >= CONTESTED / 2,
        "too few contested versions were tried"
    );

    // Read-back: every 201 is there byte for byte, unless a 204 deleted it.
    let created = shared.created.lock().unwrap().clone();
    let deleted = shared.deleted.lock().unwrap().clone();
    let live: Vec<&Artefact> = created
        .iter()
        .filter(|a| !deleted.contains(&a.key()))
        .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let chunk = created.len().div_ceil(4).max(1);
        let handles: Vec<_> = created
            .chunks(chunk)
            .map(|part| {
                let (addr, deleted) = (server.addr(), &deleted);
                s.spawn(move || {
                    let mut client = Client::new(addr);
                    let mut failures = Vec::new();
                    for a in part {
                        let listed = match stress::list(&mut client, &a.owner, &a.module) {
                            Ok(l) => l.contains(&a.version),
                            Err(e) => {
                                failures.push(e);
                                continue;
                            }
                        };
                        let want = if deleted.contains(&a.key()) {
                            Seen::Gone
                        } else {
                            Seen::Complete
                        };
                        match observe(&mut client, a, listed, true) {
                            Ok(seen) if seen == want => {}
                            Ok(seen) => {
                                failures.push(format!("{a:?}: expected {want:?}, got {seen:?}"))
                            }
                            Err(e) => failures.push(e),
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "read-back after the load:\n{}",
        failures.join("\n")
    );
    let live_bytes: u64 = live.iter().map(|a| a.zip.len() as u64).sum();
    let distinct: BTreeSet<&str> = live.iter().map(|a| a.blake3.as_str()).collect();
    eprintln!(
        "read-back: {} versions created ({} deleted by 204), {} live with {live_bytes} bytes \
         in {} distinct zips: all identical",
        created.len(),
        deleted.len(),
        live.len(),
        distinct.len()
    );

    let online = stress::verify_online(server.url(), "after the load");
    assert_eq!(
        online.versions,
        live.len() as u64,
        "verify counts other versions"
    );
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM exit {status}\n{}",
        server.stderr_log()
    );
    let offline = stress::verify_db(&server.db_path(), "after the load, offline");
    assert_eq!(online, offline, "online and offline verify disagree");
    // Deduplication: one blob per distinct live zip, however many owners use it.
    let store = Store::open(&server.db_path()).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.versions, stats.blobs),
        (live.len() as u64, distinct.len() as u64),
        "versions and blobs in the file: {stats:?}"
    );
    eprintln!("file: {stats:?}");
}

/// Writers that upload distinct versions until told to stop, recording when each 201 came.
fn writer(
    idx: usize,
    addr: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(Instant, Artefact)>>>,
    sent: Arc<Mutex<Vec<Artefact>>>,
    mut rng: Rng,
) -> Vec<String> {
    let mut client = Client::new(&addr);
    let mut problems = Vec::new();
    let module = format!("example.com/backup/w{idx}");
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let payload = if rng.percent(30) { 300 << 10 } else { 0 };
        let art = Artefact::new(
            "acme",
            &module,
            &format!("v0.1.{n}"),
            payload,
            &format!("bk-{idx}-{n}"),
        );
        sent.lock().unwrap().push(art.clone());
        match art.upload(&mut client) {
            Ok(r) if r.status == 201 => acked.lock().unwrap().push((Instant::now(), art)),
            Ok(r) => problems.push(format!("upload of {art:?}: {r:?}")),
            Err(e) => problems.push(format!("upload of {art:?}: {e}")),
        }
    }
    problems
}

#[test]
fn backup_during_uploads_holds_everything_acknowledged_before_it() {
    const WRITERS: usize = 4;
    let seed = stress::test_seed("backup_during_uploads_holds_everything_acknowledged_before_it");
    let mut rng = Rng::new(seed);
    let server = TestServer::start();
    // A base of multi-chunk zips, so that the snapshot takes a while to stream.
    let mut client = Client::new(server.addr());
    let mut base = Vec::new();
    for i in 0..24 {
        let a = Artefact::new(
            "acme",
            "example.com/backup/base",
            &format!("v1.0.{i}"),
            1 << 20,
            &format!("base-{i}"),
        );
        let r = a.upload(&mut client).unwrap();
        assert_eq!(r.status, 201, "{r:?}");
        base.push(a);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|idx| {
            let (addr, stop, acked, sent, rng) = (
                server.addr().to_owned(),
                Arc::clone(&stop),
                Arc::clone(&acked),
                Arc::clone(&sent),
                rng.fork(),
            );
            std::thread::spawn(move || writer(idx, addr, stop, acked, sent, rng))
        })
        .collect();
    let warmed = crate::support::poll_until(Duration::from_secs(30), || {
        acked.lock().unwrap().len() >= 20
    });
    assert!(
        warmed,
        "writers did not get 20 uploads acknowledged in 30 s"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backup.redb");
    let before: Vec<Artefact> = {
        let acked = acked.lock().unwrap();
        base.iter()
            .cloned()
            .chain(acked.iter().map(|(_, a)| a.clone()))
            .collect()
    };
    let backup_started = Instant::now();
    let o = stress::goshelf(
        &["backup", out.to_str().unwrap(), "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
        Duration::from_secs(120),
    );
    let backup_ended = Instant::now();
    // Writers keep going a little after the backup, then stop.
    let after_target = acked.lock().unwrap().len() + 5;
    crate::support::poll_until(Duration::from_secs(10), || {
        acked.lock().unwrap().len() >= after_target
    });
    stop.store(true, Ordering::Relaxed);
    let problems: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        o.status.success(),
        "{}",
        crate::support::describe_output("goshelf backup --server", &o)
    );
    assert!(problems.is_empty(), "writers saw:\n{}", problems.join("\n"));
    let acked = acked.lock().unwrap().clone();
    let during = acked
        .iter()
        .filter(|(t, _)| *t > backup_started && *t < backup_ended)
        .count();

    let summary = stress::verify_db(&out, "the backup");
    let store = Store::open(&out).unwrap();
    let mut missing = Vec::new();
    for a in &before {
        match stress::store_holds(&store, a) {
            Ok(true) => {}
            Ok(false) => missing.push(format!("{a:?} acknowledged before the backup, not in it")),
            Err(e) => missing.push(e),
        }
    }
    assert!(
        missing.is_empty(),
        "the backup lacks:\n{}",
        missing.join("\n")
    );
    // Anything else in it is a later upload, stored whole.
    let sent = sent.lock().unwrap().clone();
    let mut later = 0;
    for a in sent
        .iter()
        .filter(|a| !before.iter().any(|b| b.key() == a.key()))
    {
        match stress::store_holds(&store, a) {
            Ok(true) => later += 1,
            Ok(false) => {}
            Err(e) => panic!("the backup holds a later upload partly: {e}"),
        }
    }
    assert_eq!(
        summary.versions,
        (before.len() + later) as u64,
        "the backup holds versions nobody sent"
    );
    eprintln!(
        "backup took {} ms ({} bytes file): {} versions acknowledged before it, all in it; {} \
         acknowledged while it ran; it also holds {later} later ones, complete; {} uploads \
         acknowledged in all; verify of the backup: {summary:?}",
        (backup_ended - backup_started).as_millis(),
        std::fs::metadata(&out).unwrap().len(),
        before.len(),
        during,
        acked.len() + base.len(),
    );
    assert!(
        during > 0,
        "no upload was acknowledged while the backup ran, so this run did not test a backup \
         during writes"
    );
}

/// Many admins deleting the same version at the same moment: one 204, the rest 404; with the
/// zip shared by two owners, the blob survives the first owner's delete and goes with the
/// second's (verify: reference counts and orphan chunks).
#[test]
fn concurrent_deletes_of_one_version_one_204_rest_404() {
    const DELETERS: usize = 16;
    let mut server = TestServer::start();
    server.share("beta", "example.com");
    let mut client = Client::new(server.addr());
    let shared = Artefact::new(
        "acme",
        "example.com/del/race",
        "v1.0.0",
        300 << 10,
        "del-race",
    );
    let keep = Artefact::new("acme", "example.com/del/race", "v1.0.1", 0, "del-keep");
    for a in [&shared, &shared.with_owner("beta"), &keep] {
        assert_eq!(a.upload(&mut client).unwrap().status, 201);
    }
    let mut outcome = Vec::new();
    for owner in ["acme", "beta"] {
        let target = shared.with_owner(owner);
        let barrier = Arc::new(std::sync::Barrier::new(DELETERS));
        let handles: Vec<_> = (0..DELETERS)
            .map(|_| {
                let (addr, target, barrier) = (
                    server.addr().to_owned(),
                    target.clone(),
                    Arc::clone(&barrier),
                );
                std::thread::spawn(move || {
                    let mut client = Client::new(&addr);
                    barrier.wait();
                    target.delete(&mut client).map(|r| r.status)
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        statuses.sort_unstable();
        let mut expected = vec![204];
        expected.extend([404; DELETERS - 1]);
        assert_eq!(
            statuses, expected,
            "{DELETERS} DELETEs of {target:?} at once"
        );
        let v = stress::verify_online(server.url(), &format!("after the deletes under {owner}"));
        outcome.push((owner, v));
    }
    eprintln!("{DELETERS} racing DELETEs per owner: one 204 each; verify after each: {outcome:?}");
    // acme's delete left the blob to beta; beta's freed it: only `keep`'s blob remains.
    assert_eq!((outcome[0].1.blobs, outcome[1].1.blobs), (2, 1));
    assert!(server.terminate().success());
    stress::verify_db(&server.db_path(), "after the racing deletes");
}

/// DELETE and a re-upload of the identical zip (allowed: same checksum as the tombstone) of
/// one version, raced by several clients for a few seconds: every answer is 201, 204, 404 or
/// 409, the version ends up wholly present or wholly gone, and verify stays clean.
#[test]
fn delete_and_identical_reupload_races_stay_consistent() {
    const CLIENTS: usize = 8;
    const RUN: Duration = Duration::from_secs(4);
    let mut server = TestServer::start();
    server.share("beta", "example.com");
    let a = Artefact::new("acme", "example.com/flip/m", "v1.0.0", 300 << 10, "flip");
    let also = a.with_owner("beta");
    let mut client = Client::new(server.addr());
    for x in [&a, &also] {
        assert_eq!(x.upload(&mut client).unwrap().status, 201);
    }
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, a) = (server.addr().to_owned(), a.clone());
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut client = Client::new(&addr);
                let mut n = i;
                while started.elapsed() < RUN {
                    let t = Instant::now();
                    let (op, r) = if n % 2 == 0 {
                        ("delete", a.delete(&mut client))
                    } else {
                        ("upload", a.upload(&mut client))
                    };
                    match r {
                        Ok(r) => tally.record(op, r.status, t.elapsed()),
                        Err(e) => tally.errors.push(format!("{op}: {e}")),
                    }
                    n += 1;
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(h.join().unwrap());
    }
    eprintln!(
        "{CLIENTS} clients flipping one version for {RUN:?}: {} requests\n{}",
        tally.requests(),
        tally.table()
    );
    assert!(tally.errors.is_empty(), "{:?}", tally.errors);
    let odd: Vec<(&str, u16)> = tally
        .statuses
        .keys()
        .copied()
        .filter(|(op, s)| !matches!((*op, *s), ("delete", 204 | 404) | ("upload", 201 | 409)))
        .collect();
    assert!(
        odd.is_empty(),
        "unexpected answers: {odd:?}\n{}",
        tally.table()
    );
    let listed = stress::list(&mut client, &a.owner, &a.module)
        .unwrap()
        .contains(&a.version);
    let seen = observe(&mut client, &a, listed, true);
    assert!(
        matches!(seen, Ok(Seen::Complete | Seen::Gone)),
        "after the races: {seen:?}"
    );
    let v = stress::verify_online(server.url(), "after the races");
    let present = u64::from(seen == Ok(Seen::Complete));
    assert_eq!((v.versions, v.blobs), (1 + present, 1), "{v:?}");
    assert!(server.terminate().success());
    stress::verify_db(&server.db_path(), "after the races, offline");
}
