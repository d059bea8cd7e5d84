//! SD-card wear (issues 24 and 26): bytes the server writes to its disk per small version
//! published one after another, checksum-log append included, beside the floor measured the
//! same way in the same run: one durable redb commit of one 2 KB value into one table of a
//! file of the same size. Both are `write_bytes - cancelled_write_bytes` of `/proc/.../io`
//! (the kernel's count of bytes sent to the storage layer; a spool file deleted before
//! writeback is cancelled).
//!
//! Three measurements: a fresh (1 MB) file with `quick_repair` on, the default; the same file
//! grown past 256 MiB, still on; and that file with `quick_repair` off. With it on, every
//! commit rewrites redb's allocator state, which covers every region of the file, so the
//! cost per version grows with the file (about 100 KB per GB, BENCHMARKS.md). The figures
//! are printed (`--nocapture`) and kept in BENCHMARKS.md; the test fails when the file system
//! reports no writes (tmpfs), when turning `quick_repair` off does not save what the allocator
//! state costs, and when a version costs more than a bound above today's figures.

use std::path::Path;

use crate::support::{ModZip, TestServer};

/// Versions timed on the fresh file, and in each of the two later runs.
const VERSIONS: usize = 200;
const LATER: usize = 100;

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

/// Bytes the server wrote per version while publishing versions `range` one at a time.
fn per_version(server: &TestServer, range: std::ops::Range<usize>) -> u64 {
    let io = format!("/proc/{}/io", server.pid());
    let before = written(Path::new(&io));
    let n = range.len() as u64;
    for i in range {
        server.upload("acme", &small(i));
    }
    let per_version = (written(Path::new(&io)) - before) / n;
    assert!(
        per_version > 0,
        "the database's file system reports no writes (tmpfs?): {}",
        server.dir().display()
    );
    per_version
}

/// Bytes per durable commit of one 2 KB value into one table of a fresh redb file grown to
/// `size` bytes, in this thread, on the same file system as the server's file.
fn floor(dir: &Path, size: u64) -> u64 {
    let path = dir.join(format!("floor-{size}.redb"));
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
        let txn = db.begin_write().unwrap();
        txn.open_table(table)
            .unwrap()
            .insert(k, value.as_slice())
            .unwrap();
        txn.commit().unwrap();
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
    let mut server = TestServer::start();
    // Warm up: the file has grown and the log has a tree before measuring.
    for i in 0..20 {
        server.upload("acme", &small(10_000 + i));
    }
    let fresh_on = per_version(&server, 0..VERSIONS);
    let fresh_size = std::fs::metadata(server.db_path()).unwrap().len();

    // Grow the file as a shelf's zips do: four versions of 64 MiB.
    for k in 0..4 {
        let body = crate::support::incompressible(&format!("big{k}"), 64 << 20);
        let zip = ModZip::new("example.com/wear/big", &format!("v1.0.{k}"))
            .file("go.mod", b"module example.com/wear/big\n")
            .file("data.bin", &body);
        server.upload("acme", &zip);
    }
    // Both grown-file runs follow a restart, so that they differ only in `quick_repair` (a
    // restart alone moved the figure with it off: 96 KB before, 109 KB after, one run).
    server.restart();
    let grown_on = per_version(&server, VERSIONS..VERSIONS + LATER);
    server.set_args(&["--quick-repair", "false"]);
    server.restart();
    let grown_off = per_version(&server, VERSIONS + LATER..VERSIONS + 2 * LATER);
    let grown_size = std::fs::metadata(server.db_path()).unwrap().len();
    assert!(
        grown_size > 256 << 20,
        "the file did not grow: {grown_size}"
    );

    let fresh_floor = floor(server.dir(), fresh_size);
    let grown_floor = floor(server.dir(), grown_size);
    let ratio = |bytes: u64, floor: u64| bytes as f64 / floor as f64;
    for (what, bytes, size, floor) in [
        (
            "fresh file, quick_repair on",
            fresh_on,
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
    let fresh = ratio(fresh_on, fresh_floor);
    assert!(
        fresh < 5.0,
        "a small version costs {fresh:.1}x one durable commit on a fresh file \
         ({fresh_on} against {fresh_floor} bytes; 3.5x on 2026-12-05)"
    );
    let off = ratio(grown_off, grown_floor);
    assert!(
        off < 4.0,
        "a small version costs {off:.1}x one durable commit with quick_repair off \
         ({grown_off} against {grown_floor} bytes; 2.9x on 2026-12-05)"
    );
}
