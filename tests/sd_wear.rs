//! SD-card wear (issues 24 and 26): bytes the server writes to its disk per small version
//! published one after another, checksum-log append included, beside the floor measured the
//! same way in the same run: one durable redb commit of one 2 KB value into one table of a
//! file of the same size. Both are `write_bytes - cancelled_write_bytes` of `/proc/.../io`
//! (the kernel's count of bytes sent to the storage layer; a spool file deleted before
//! writeback is cancelled). The figures are printed (`--nocapture`) and kept in
//! BENCHMARKS.md; the test fails when the file system reports no writes (tmpfs) and when a
//! version costs more than ten times the floor (today about 3.5).

use std::path::Path;

use crate::support::{ModZip, TestServer};

const VERSIONS: usize = 200;

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

#[test]
fn bytes_written_per_small_version_against_one_durable_commit() {
    let server = TestServer::start();
    // Warm up: the file has grown and the log has a tree before measuring.
    for i in 0..20 {
        server.upload("acme", &small(10_000 + i));
    }
    let io = format!("/proc/{}/io", server.pid());
    let before = written(Path::new(&io));
    let mut zip_bytes = 0;
    for i in 0..VERSIONS {
        zip_bytes += server.upload("acme", &small(i)).size;
    }
    let per_version = (written(Path::new(&io)) - before) / VERSIONS as u64;
    assert!(
        per_version > 0,
        "the database's file system reports no writes (tmpfs?): {}",
        server.dir().display()
    );

    // The floor, in this thread, in a file of the same size on the same file system.
    let size = std::fs::metadata(server.db_path()).unwrap().len();
    let path = server.dir().join("floor.redb");
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
    for k in 0..VERSIONS as u64 {
        let txn = db.begin_write().unwrap();
        txn.open_table(table)
            .unwrap()
            .insert(k, value.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let floor = (written(me) - before) / VERSIONS as u64;
    assert!(
        floor > 0,
        "one durable commit wrote nothing? {}",
        path.display()
    );
    let ratio = per_version as f64 / floor as f64;
    println!(
        "sd wear: {per_version} bytes written per small version ({} zip bytes each), floor \
         {floor} bytes per durable commit of 2 KB into one table of a {size}-byte file: {ratio:.2}x",
        zip_bytes / VERSIONS as u64
    );
    assert!(
        ratio < 10.0,
        "a small version costs {ratio:.1}x one durable commit ({per_version} against {floor} bytes)"
    );
}
