//! SD-card wear (issues 24 and 26): bytes the server writes to its disk per small version
//! published one after another, checksum-log append included, beside the floor measured the
//! same way in the same run: one durable redb commit of one 2 KB value into one table of a
//! file of the same size, the commits paced like the uploads. Both are `write_bytes -
//! cancelled_write_bytes` of `/proc/.../io`: the kernel's count of pages made dirty, in
//! bytes, file system blocks (inodes, directories, bitmaps) included. A page written again
//! before it was written back counts once; one removed before it was written back, not at all.
//!
//! Six measurements: a fresh (1 MB) file with `quick_repair` on, the default; the same with
//! eight clients publishing at once (group commit); a fresh file with `quick_repair` off (the
//! issue's comparison: the floor is redb's default commit); the same while a thread makes the
//! kernel write back every 5 ms, beside a floor measured under the same writeback (what a busy
//! disk does: a page written twice between two commits, or a file made and removed per upload,
//! shows there); the file grown past 256 MiB, still on; and that file with `quick_repair`
//! off. The floor is also measured with `quick_repair` on, the server's own setting, and
//! printed beside the (redb's default commit). With it on, every commit rewrites
//! redb's allocator state, which covers every region of the file, so the cost per version
//! grows with the file (about 100 KB per GB, BENCHMARKS.md). The figures are printed
//! (`--nocapture`) and kept in BENCHMARKS.md; the test fails when the file system reports no
//! writes (tmpfs), when turning `quick_repair` off does not save what the allocator state
//! costs, and when a version costs more than a bound above today's figures.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{ModZip, TestServer};

/// The wear servers log warnings only. In production standard error goes to journald or a
/// pipe; here it is a file on the measured disk, and its line per upload is counted against the
/// server (a page per line when other writes bring writeback: the harness's cost, not the
/// layout's).
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

/// Versions timed on the fresh file, and in each of the two later runs.
const VERSIONS: usize = 200;
const LATER: usize = 100;
/// Clients publishing at once in the group-commit run.
const CLIENTS: usize = 8;

/// `write_bytes - cancelled_write_bytes` of an `io` file under `/proc`.
fn written(io: &Path) -> u64 {
    let text = std::fs::read_to_string(io).unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}: {text}", io.display()))
    };
    field("write_bytes:").saturating_sub(field("cancelled_write_bytes:"))
}

/// About 2 KB of zip, distinct per `i`.
fn small(i: usize) -> ModZip {
    let path = format!("example.com/wear/m{:03}", i / 20);
    let body = crate::support::incompressible(&format!("wear{i}"), 1500);
    ModZip::new(&path, &format!("v1.0.{}", i % 20))
        .file("go.mod", format!("module {path}\n").as_bytes())
        .file("data.bin", &body)
}

/// Bytes the server wrote per version while publishing versions `range` one at a time, and
/// the time between two uploads.
fn per_version(server: &TestServer, range: std::ops::Range<usize>) -> (u64, Duration) {
    let io = format!("/proc/{}/io", server.pid());
    let before = written(Path::new(&io));
    let n = range.len() as u64;
    let start = Instant::now();
    for i in range {
        server.upload("acme", &small(i));
    }
    let pace = start.elapsed() / n as u32;
    let per_version = (written(Path::new(&io)) - before) / n;
    assert!(
        per_version > 0,
        "the database's file system reports no writes (tmpfs?): {}",
        server.dir().display()
    );
    (per_version, pace)
}

/// Runs `f` while a thread calls `syncfs` on `dir`'s file system every 5 ms: the writeback
/// that other processes' writes bring (a busy machine; the suite's other tests). A page
/// written back is counted again when it is next written, so what a layout writes more than
/// once between two commits, or outside the database, shows.
fn under_writeback<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let stop = AtomicBool::new(false);
    let fs = std::fs::File::open(dir).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                rustix::fs::syncfs(&fs).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let out = f();
        stop.store(true, Ordering::Release);
        out
    })
}

/// Bytes the server wrote per version while `clients` clients published versions `range` at
/// once, each its share one after another (group commit: versions that arrive together share
/// one durable commit).
fn per_version_concurrent(
    server: &TestServer,
    range: std::ops::Range<usize>,
    clients: usize,
) -> u64 {
    let io = format!("/proc/{}/io", server.pid());
    let before = written(Path::new(&io));
    let n = range.len() as u64;
    let all: Vec<usize> = range.collect();
    std::thread::scope(|s| {
        for share in all.chunks(all.len().div_ceil(clients)) {
            s.spawn(move || {
                for &i in share {
                    server.upload("acme", &small(i));
                }
            });
        }
    });
    (written(Path::new(&io)) - before) / n
}

/// Bytes per durable commit of one 2 KB value into one table of a fresh redb file grown to
/// `size` bytes, in this thread, on the same file system as the server's file; with redb's
/// defaults (`quick_repair` off) unless `quick_repair`. The commits start `pace` apart, as the
/// server's uploads did (back to back, they share what the file system dirties per commit,
/// the file's times, when something else writes back in between).
fn floor(dir: &Path, size: u64, quick_repair: bool, pace: Duration) -> u64 {
    let path = dir.join(format!("floor-{size}-{quick_repair}.redb"));
    let db = redb::Database::create(&path).unwrap();
    let filler: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("filler");
    let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("t");
    let txn = db.begin_write().unwrap();
    {
        let mut f = txn.open_table(filler).unwrap();
        let chunk = vec![7u8; 64 << 10];
        for k in 0..(size / (64 << 10)).max(1) {
            f.insert(k, chunk.as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
    let value = crate::support::incompressible("floor", 2048);
    let me = Path::new("/proc/thread-self/io");
    let before = written(me);
    for k in 0..LATER as u64 {
        let start = Instant::now();
        let mut txn = db.begin_write().unwrap();
        txn.set_quick_repair(quick_repair);
        txn.open_table(table)
            .unwrap()
            .insert(k, value.as_slice())
            .unwrap();
        txn.commit().unwrap();
        std::thread::sleep(pace.saturating_sub(start.elapsed()));
    }
    let floor = (written(me) - before) / LATER as u64;
    assert!(
        floor > 0,
        "one durable commit wrote nothing? {}",
        path.display()
    );
    drop(db);
    std::fs::remove_file(&path).unwrap();
    floor
}

#[test]
fn bytes_written_per_small_version_against_one_durable_commit() {
    let server = TestServer::start_with(&[], QUIET);
    // Warm up: the file has grown and the log has a tree before measuring.
    for i in 0..20 {
        server.upload("acme", &small(10_000 + i));
    }
    let (fresh_on, pace_on) = per_version(&server, 0..VERSIONS);
    let fresh_size = std::fs::metadata(server.db_path()).unwrap().len();
    // The same on the same file, eight clients at once.
    let concurrent_on = per_version_concurrent(&server, 20_000..20_000 + VERSIONS, CLIENTS);
    // The issue's own comparison: a fresh file written with redb's default commit, like the
    // floor (a server of its own, so that the file's history is the same as the first run's).
    let fresh_off_server = || {
        let other = TestServer::start_with(&["--quick-repair", "false"], QUIET);
        for i in 0..20 {
            other.upload("acme", &small(10_000 + i));
        }
        other
    };
    let (fresh_off, pace_off) = per_version(&fresh_off_server(), 0..VERSIONS);
    // The same while something else makes the kernel write back all the time (the run that
    // failed in CI on 2026-12-06 at 2.05x: there the suite's other tests did, and each small
    // upload's spool file, made, written and removed, cost metadata blocks counted again at
    // every writeback; small zips are now held in memory).
    let pressed_server = fresh_off_server();
    let (pressed_off, pace_pressed) = under_writeback(pressed_server.dir(), || {
        per_version(&pressed_server, 0..VERSIONS)
    });

    // A grown file, on a server of its own: four versions of 64 MiB, as a shelf's zips grow
    // it, then small ones. (Grown after the fresh runs on their server, the file's size
    // depended on their history: redb doubles a file until it holds one full region, so a
    // fresh file of 1.1 MB grew to 285 MB and one of 0.84 MB to 542 MB, and the cost per
    // version with it; from an empty file it is always the same.)
    let mut grown = TestServer::start_with(&[], QUIET);
    for k in 0..4 {
        let body = crate::support::incompressible(&format!("big{k}"), 64 << 20);
        let zip = ModZip::new("example.com/wear/big", &format!("v1.0.{k}"))
            .file("go.mod", b"module example.com/wear/big\n")
            .file("data.bin", &body);
        grown.upload("acme", &zip);
    }
    for i in 0..20 {
        grown.upload("acme", &small(10_000 + i));
    }
    // Both grown-file runs follow a restart, so that they differ only in `quick_repair` (a
    // restart alone moved the figure with it off: 96 KB before, 109 KB after, one run).
    grown.restart();
    let (grown_on, pace_grown) = per_version(&grown, VERSIONS..VERSIONS + LATER);
    grown.set_args(&["--quick-repair", "false"]);
    grown.restart();
    let (grown_off, _) = per_version(&grown, VERSIONS + LATER..VERSIONS + 2 * LATER);
    let grown_size = std::fs::metadata(grown.db_path()).unwrap().len();
    assert!(
        grown_size > 256 << 20,
        "the file did not grow: {grown_size}"
    );

    let fresh_floor = floor(server.dir(), fresh_size, false, pace_off);
    let grown_floor = floor(server.dir(), grown_size, false, pace_grown);
    let pressed_floor = under_writeback(server.dir(), || {
        floor(server.dir(), fresh_size, false, pace_pressed)
    });
    let ratio = |bytes: u64, floor: u64| bytes as f64 / floor as f64;
    // The floor with the server's default setting: a durable commit that also records redb's
    // allocator state (printed beside the floor, which is redb's default commit).
    let fresh_floor_on = floor(server.dir(), fresh_size, true, pace_on);
    println!(
        "sd wear, floor with quick_repair on: {fresh_floor_on} bytes per durable commit of \
         2 KB into one table of a {fresh_size}-byte file; a small version on that file costs \
         {:.2}x it one client at a time, {:.2}x with {CLIENTS} at once",
        ratio(fresh_on, fresh_floor_on),
        ratio(concurrent_on, fresh_floor_on)
    );
    let concurrent_what = format!("fresh file, quick_repair on, {CLIENTS} clients at once");
    for (what, bytes, size, floor) in [
        (
            "fresh file, quick_repair on",
            fresh_on,
            fresh_size,
            fresh_floor,
        ),
        (
            "fresh file, quick_repair off",
            fresh_off,
            fresh_size,
            fresh_floor,
        ),
        (
            "fresh file, quick_repair off, under constant writeback",
            pressed_off,
            fresh_size,
            pressed_floor,
        ),
        (
            concurrent_what.as_str(),
            concurrent_on,
            fresh_size,
            fresh_floor,
        ),
        (
            "grown file, quick_repair on",
            grown_on,
            grown_size,
            grown_floor,
        ),
        (
            "grown file, quick_repair off",
            grown_off,
            grown_size,
            grown_floor,
        ),
    ] {
        println!(
            "sd wear, {what}: {bytes} bytes written per small version, floor {floor} bytes per \
             durable commit of 2 KB into one table of a {size}-byte file: {:.2}x",
            ratio(bytes, floor)
        );
    }
    // The allocator state grows with the file; without it a commit writes what the trees need.
    assert!(
        grown_off + 16_000 < grown_on,
        "quick_repair off saved less than 16 KB per version ({grown_on} -> {grown_off})"
    );
    // Schema 4 (four trees per small upload) took these from 3.6x and 3.1x to 2.7x and 2.1x,
    // schema 5 (three trees, and small bytes kept to one pack record) to 2.5x and 1.93x
    // (2026-12-06). The target is 2x with redb's default commit; the bound leaves
    // 2.5 % above it for the noise between runs, and catches a layout that writes one page
    // more per upload (3.5 %). That noise was 4 % while the spool file's pages and blocks
    // were counted whenever something wrote them back first (1.91-2.00x here, 2.05x in CI);
    // with small zips in memory and the floor paced like the uploads, three runs gave 1.91x.
    let fresh = ratio(fresh_on, fresh_floor);
    assert!(
        fresh < 2.8,
        "a small version costs {fresh:.2}x one durable commit on a fresh file \
         ({fresh_on} against {fresh_floor} bytes; 2.51x on 2026-12-06)"
    );
    let fresh_default = ratio(fresh_off, fresh_floor);
    assert!(
        fresh_default < 2.05,
        "with redb's default commit, like the floor, a small version costs \
         {fresh_default:.2}x it ({fresh_off} against {fresh_floor} bytes; 1.91x on 2026-12-06)"
    );
    // Under constant writeback the floor pays the file system's blocks per commit (the
    // file's times) too: 1.56-1.60x in three runs; 04d8659, whose every upload made, wrote
    // and removed a spool file, 1.97x. The bound fails a layout that writes outside the
    // database per upload, or writes a page twice per commit.
    let pressed = ratio(pressed_off, pressed_floor);
    assert!(
        pressed < 1.8,
        "under constant writeback a small version costs {pressed:.2}x one durable commit \
         ({pressed_off} against {pressed_floor} bytes; 1.56x on 2026-12-06, 1.97x with a \
         spool file per upload)"
    );
    // Group commit shares a commit's fixed cost and the tables' root paths between the
    // versions of a group (69 KB against 104 KB on 2026-12-06; how many share one depends on
    // the disk's fsync time, so only "never more than one at a time" is asserted).
    assert!(
        concurrent_on < fresh_on + fresh_on / 10,
        "{CLIENTS} clients at once wrote {concurrent_on} bytes per version, one client \
         {fresh_on}"
    );
    // With quick_repair off the figure moved between runs of the same code: 3.8x in release
    // runs on a 285 MB file, 4.9x once in the debug build under the whole suite, where the
    // four large uploads left a 542 MB file (the fresh runs' history, above; the grown file
    // now has a server of its own). The bound catches a layout that writes much more, not
    // that noise.
    let off = ratio(grown_off, grown_floor);
    assert!(
        off < 6.0,
        "a small version costs {off:.1}x one durable commit with quick_repair off \
         ({grown_off} against {grown_floor} bytes; 2.9x on 2026-12-05, 3.8-4.9x on \
         2026-12-06)"
    );
}
