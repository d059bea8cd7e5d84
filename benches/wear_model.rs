//! A model of what one small upload writes to the disk under other table layouts (issue 24,
//! SD-card wear): redb alone, without the server, so that a layout can be judged before it
//! is built. `cargo bench --bench wear_model`.
//!
//! Each layout is 220 uploads of a 2,000-byte zip into a fresh file (20 to warm up, 200
//! measured), one durable commit each, writing the values an upload writes today (a version
//! record of 250 bytes and its go.mod, a blob record, the zip appended to the pack stream, a
//! checksum-log record of 150 bytes, its index entry, its stored hashes and the log's size;
//! a module record and a log path every 20th upload), into the tables the layout names. The
//! floor is the issue's: one 2 KB value into one table. Bytes are `write_bytes -
//! cancelled_write_bytes` of this thread (`/proc/thread-self/io`), so the directory must be
//! on a disk (`TMPDIR`; tmpfs counts nothing). Figures in BENCHMARKS.md ("SD-card wear").

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any failure

mod common;

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition as T};

fn written() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/io").expect("/proc/thread-self/io");
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .expect("a field of /proc/thread-self/io")
    };
    field("write_bytes:").saturating_sub(field("cancelled_write_bytes:"))
}

fn hash32(seed: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h.copy_from_slice(&common::noise(32, seed));
    h
}

const VERSIONS: T<(&str, &str, &str), &[u8]> = T::new("versions");
const GO_MODS: T<(&str, &str, &str), &[u8]> = T::new("go_mods");
const MODULES: T<(&str, &str), &[u8]> = T::new("modules");
const BLOBS: T<&[u8; 32], (u64, u64, u32)> = T::new("blobs");
const PACKS: T<u64, &[u8]> = T::new("packs");
const PACKED: T<&[u8; 32], u64> = T::new("packed");
const RECORDS: T<u64, &[u8]> = T::new("sumdb_records");
const INDEX: T<&str, u64> = T::new("sumdb_index");
const HASHES: T<u64, &[u8; 32]> = T::new("sumdb_hashes");
const META: T<&str, &[u8]> = T::new("sumdb_meta");
const PATHS: T<&str, &str> = T::new("sumdb_paths");
/// The blob record with the packed bytes' position: size, references, chunk field, position.
const BLOB_RECORDS: T<&[u8; 32], &[u8]> = T::new("blob_records");
/// One tree for the log: keys tagged `r` (record), `i` (index), `h` (hash), `m` (size).
const LOG: T<&[u8], &[u8]> = T::new("log");
/// One tree for the blob records (`b` + id) and the pack stream (`p` + record number, u64
/// big-endian), as schema 5 has it.
const BLOB_STORE: T<&[u8], &[u8]> = T::new("blob_store");

#[derive(Clone, Copy)]
struct Layout {
    name: &'static str,
    /// The go.mod bytes inside the version's value, not a table of their own.
    mod_in_version: bool,
    /// The log's records, index, hashes and size in one tree (`LOG`).
    one_log_tree: bool,
    /// With `one_log_tree`: a record's stored hashes in its value, and no size kept (the
    /// last record's id gives it).
    hashes_with_record: bool,
    /// The packed bytes' position inside the blob's record, not a table of its own.
    packed_in_blob: bool,
    /// With `packed_in_blob`: the blob records and the pack stream in one tree.
    blob_store: bool,
    /// The file also holds the server's other tables (empty), as a shelf's file does: their
    /// definitions share redb's table tree with the ones an upload writes.
    other_tables: bool,
}

const LAYOUTS: [Layout; 7] = [
    Layout {
        name: "schema 3's tables",
        mod_in_version: false,
        one_log_tree: false,
        hashes_with_record: false,
        packed_in_blob: false,
        blob_store: false,
        other_tables: false,
    },
    Layout {
        name: "go.mod inside the version's value",
        mod_in_version: true,
        one_log_tree: false,
        hashes_with_record: false,
        packed_in_blob: false,
        blob_store: false,
        other_tables: false,
    },
    Layout {
        name: "that, and the log's four tables as one tree",
        mod_in_version: true,
        one_log_tree: true,
        hashes_with_record: false,
        packed_in_blob: false,
        blob_store: false,
        other_tables: false,
    },
    Layout {
        name: "that, hashes inside their record's value, no size kept",
        mod_in_version: true,
        one_log_tree: true,
        hashes_with_record: true,
        packed_in_blob: false,
        blob_store: false,
        other_tables: false,
    },
    Layout {
        name: "that, the packed position inside the blob's record",
        mod_in_version: true,
        one_log_tree: true,
        hashes_with_record: true,
        packed_in_blob: true,
        blob_store: false,
        other_tables: false,
    },
    Layout {
        name: "that, in a file with the server's 19 other tables",
        mod_in_version: true,
        one_log_tree: true,
        hashes_with_record: true,
        packed_in_blob: true,
        blob_store: false,
        other_tables: true,
    },
    Layout {
        name: "that, the blob records and the pack stream as one tree (schema 5)",
        mod_in_version: true,
        one_log_tree: true,
        hashes_with_record: true,
        packed_in_blob: true,
        blob_store: true,
        other_tables: true,
    },
];

fn upload(db: &Database, layout: Layout, i: u64, quick_repair: bool) {
    let module = format!("example.com/wear/m{:03}", i / 20);
    let version = format!("v1.0.{}", i % 20);
    let key = ("acme", module.as_str(), version.as_str());
    let record = vec![b'r'; 250];
    let go_mod = format!("module {module}\n");
    let zip = common::noise(2000, i);
    let blob = hash32(i);
    let log_text = vec![b'l'; 150];
    // x/mod's stored hashes for record i: one leaf and one per trailing 1 bit.
    let hashes: Vec<[u8; 32]> = (0..=u64::from(i.trailing_ones()))
        .map(|k| hash32(i * 64 + k))
        .collect();
    let mut txn = db.begin_write().expect("begin_write");
    txn.set_quick_repair(quick_repair);
    (|| -> Result<(), redb::Error> {
        if layout.mod_in_version {
            let mut value = record.clone();
            value.extend_from_slice(go_mod.as_bytes());
            txn.open_table(VERSIONS)?.insert(key, value.as_slice())?;
        } else {
            txn.open_table(VERSIONS)?.insert(key, record.as_slice())?;
            txn.open_table(GO_MODS)?.insert(key, go_mod.as_bytes())?;
        }
        if i.is_multiple_of(20) {
            txn.open_table(MODULES)?
                .insert(("acme", module.as_str()), b"{}".as_slice())?;
            txn.open_table(PATHS)?.insert(module.as_str(), "acme")?;
        }
        // The pack stream: records of up to 4,000 bytes, the zip appended to the last.
        if layout.blob_store {
            // The store's own keys and record encoding (`goshelf::store`).
            use goshelf::store::{blob_key, pack_key, BlobRecord};
            let mut store = txn.open_table(BLOB_STORE)?;
            let last = store
                .range(&b"p"[..]..&b"q"[..])?
                .next_back()
                .transpose()?
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()));
            let (key, mut bytes) = last.unwrap_or((pack_key(0).to_vec(), Vec::new()));
            let at = u64::from_be_bytes(key[1..].try_into().expect("a record key"));
            if bytes.len() + zip.len() > 4000 {
                store.insert(pack_key(at + 1).as_slice(), zip.as_slice())?;
            } else {
                bytes.extend_from_slice(&zip);
                store.insert(pack_key(at).as_slice(), bytes.as_slice())?;
            }
            let record = BlobRecord {
                size: 2000,
                refs: 1,
                chunk: 1 << 30,
                packed_at: i * 2000,
            };
            store.insert(blob_key(&blob).as_slice(), record.encode().as_slice())?;
        } else {
            let mut packs = txn.open_table(PACKS)?;
            let last = packs.last()?.map(|(k, v)| (k.value(), v.value().to_vec()));
            let (at, mut bytes) = last.unwrap_or((0, Vec::new()));
            if bytes.len() + zip.len() > 4000 {
                packs.insert(at + 1, zip.as_slice())?;
            } else {
                bytes.extend_from_slice(&zip);
                packs.insert(at, bytes.as_slice())?;
            }
        }
        if layout.blob_store {
            // Written above, with the pack stream.
        } else if layout.packed_in_blob {
            let value = [2000u64, 1, 1 << 30, i * 2000]
                .map(u64::to_le_bytes)
                .concat();
            txn.open_table(BLOB_RECORDS)?
                .insert(&blob, value.as_slice())?;
        } else {
            txn.open_table(BLOBS)?.insert(&blob, (2000, 1, 1 << 30))?;
            txn.open_table(PACKED)?.insert(&blob, i * 2000)?;
        }
        let index_key = format!("{module}@{version}");
        if layout.one_log_tree {
            let mut log = txn.open_table(LOG)?;
            let tagged = |tag: u8, rest: &[u8]| [&[tag][..], rest].concat();
            let mut value = log_text.clone();
            if layout.hashes_with_record {
                hashes.iter().for_each(|h| value.extend_from_slice(h));
            } else {
                for (k, h) in hashes.iter().enumerate() {
                    log.insert(
                        tagged(b'h', &(i * 2 + k as u64).to_be_bytes()).as_slice(),
                        h.as_slice(),
                    )?;
                }
                log.insert(b"msize".as_slice(), i.to_be_bytes().as_slice())?;
            }
            log.insert(tagged(b'r', &i.to_be_bytes()).as_slice(), value.as_slice())?;
            log.insert(
                tagged(b'i', index_key.as_bytes()).as_slice(),
                i.to_be_bytes().as_slice(),
            )?;
        } else {
            txn.open_table(RECORDS)?.insert(i, log_text.as_slice())?;
            txn.open_table(INDEX)?.insert(index_key.as_str(), i)?;
            let mut table = txn.open_table(HASHES)?;
            for (k, h) in hashes.iter().enumerate() {
                table.insert(i * 2 + k as u64, h)?;
            }
            txn.open_table(META)?
                .insert("size", (i + 1).to_be_bytes().as_slice())?;
        }
        Ok(())
    })()
    .expect("an upload's writes");
    txn.commit().expect("commit");
}

/// Creates the tables of a shelf's file that a small upload does not write (schema 4's
/// names and types), empty.
fn other_tables(db: &Database) {
    let txn = db.begin_write().expect("begin_write");
    (|| -> Result<(), redb::Error> {
        txn.open_table(T::<&str, &[u8]>::new("meta"))?;
        txn.open_table(T::<&str, &[u8]>::new("namespaces"))?;
        txn.open_table(T::<(&str, &str, &str), &[u8]>::new("tombstones"))?;
        txn.open_table(T::<(&[u8; 32], u32), &[u8]>::new("chunks"))?;
        txn.open_table(T::<&str, &[u8]>::new("users"))?;
        txn.open_table(T::<&[u8; 32], &[u8]>::new("tokens"))?;
        txn.open_table(T::<(&str, &str), &[u8]>::new("members"))?;
        txn.open_table(T::<&str, &[u8]>::new("tls"))?;
        txn.open_table(T::<&str, &[u8]>::new("sumdb_meta"))?;
        txn.open_table(T::<(&str, &str), u8>::new("sumdb_shares"))?;
        txn.open_table(T::<&str, u8>::new("private_patterns"))?;
        txn.open_table(T::<(&str, &str), u8>::new("sumdb_claims"))?;
        txn.open_table(T::<&str, u8>::new("sumdb_upstream_paths"))?;
        txn.open_table(T::<(&str, &str, &str), u64>::new("downloads"))?;
        txn.open_table(T::<(&str, &str), &[u8]>::new("cached"))?;
        txn.open_table(T::<(&str, &str), &[u8]>::new("cached_mods"))?;
        txn.open_table(T::<&str, &[u8]>::new("upstream_sumdb"))?;
        txn.open_table(T::<&[u8; 32], &[u8]>::new("zip_facts"))?;
        txn.open_table(T::<&[u8; 32], &[u8]>::new("doc_facts"))?;
        Ok(())
    })()
    .expect("the other tables");
    txn.commit().expect("commit");
}

/// Bytes per upload of `layout` over `n` uploads (after 20) in a fresh file in `dir`.
fn per_upload(dir: &Path, layout: Layout, quick_repair: bool, n: u64) -> u64 {
    let path = dir.join("model.redb");
    let _ = std::fs::remove_file(&path);
    let db = Database::create(&path).expect("create");
    if layout.other_tables {
        other_tables(&db);
    }
    for i in 10_000..10_020 {
        upload(&db, layout, i, quick_repair);
    }
    let before = written();
    for i in 0..n {
        upload(&db, layout, i, quick_repair);
    }
    let bytes = (written() - before) / n;
    drop(db);
    let _ = std::fs::remove_file(&path);
    bytes
}

/// Bytes per durable commit of one 2 KB value into one table of a fresh file in `dir`.
fn floor(dir: &Path, quick_repair: bool) -> u64 {
    let path = dir.join("floor.redb");
    let _ = std::fs::remove_file(&path);
    let db = Database::create(&path).expect("create");
    let table: T<u64, &[u8]> = T::new("t");
    let commit = |k: u64| {
        let mut txn = db.begin_write().expect("begin_write");
        txn.set_quick_repair(quick_repair);
        txn.open_table(table)
            .expect("open_table")
            .insert(k, common::noise(2048, k).as_slice())
            .expect("insert");
        txn.commit().expect("commit");
    };
    (0..20).for_each(commit);
    let before = written();
    (20..220).for_each(commit);
    let bytes = (written() - before) / 200;
    drop(db);
    let _ = std::fs::remove_file(&path);
    bytes
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // `cargo test --all-targets` runs this too, without `--bench`: then every layout is only
    // written a few times, to show that the model runs, whatever the file system.
    if !std::env::args().any(|a| a == "--bench") {
        for layout in LAYOUTS {
            for quick_repair in [false, true] {
                per_upload(dir.path(), layout, quick_repair, 3);
            }
        }
        floor(dir.path(), true);
        println!("wear_model: ran; `cargo bench --bench wear_model` prints the figures");
        return;
    }
    println!(
        "| layout | quick_repair off: bytes per upload | x floor | on: bytes per upload | x floor |"
    );
    println!("|---|---|---|---|---|");
    let floors = [floor(dir.path(), false), floor(dir.path(), true)];
    if floors[0] == 0 {
        eprintln!(
            "wear_model: the file system of {} counts no writes (tmpfs?): set TMPDIR to a disk",
            dir.path().display()
        );
        std::process::exit(1);
    }
    println!(
        "| floor: one 2 KB value, one table | {} | 1.00x | {} | 1.00x |",
        floors[0], floors[1]
    );
    for layout in LAYOUTS {
        let off = per_upload(dir.path(), layout, false, 200);
        let on = per_upload(dir.path(), layout, true, 200);
        println!(
            "| {} | {off} | {:.2}x | {on} | {:.2}x |",
            layout.name,
            off as f64 / floors[0] as f64,
            on as f64 / floors[1] as f64
        );
    }
}
