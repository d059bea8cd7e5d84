//! What opening a large file of schema 3 costs once, when it is migrated to the current schema
//! (issue 24: schema 4, then 5): `cargo bench --bench migrate`. Writes a schema-3 file (the
//! tables as the last schema-3 release wrote them) with 100,000 versions of 2,000-byte zips
//! (all their bytes in the pack stream, which schema 5 writes again) and 100,000
//! checksum-log records, then opens it in a child process (`Store::open` migrates it) and
//! prints the child's wall time and peak RSS (`VmHWM`), and the file's size before and after.
//! Figures in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any failure

use std::path::Path;
use std::time::Instant;

use goshelf::store::{schema, Layout, Store};
use goshelf::sumdb::tlog;
use redb::TableDefinition as T;

/// The schema-3 tables the migration reads (their definitions as that release had them).
const BLOBS: T<&[u8; 32], (u64, u64, u32)> = T::new("blobs");
const GO_MODS: T<(&str, &str, &str), &[u8]> = T::new("go_mods");
const RECORDS: T<u64, &[u8]> = T::new("sumdb_records");
const INDEX: T<&str, u64> = T::new("sumdb_index");
const HASHES: T<u64, &[u8; 32]> = T::new("sumdb_hashes");
const PACKS: T<u64, &[u8]> = T::new("packs");
const PACKED: T<&[u8; 32], u64> = T::new("packed");
/// Schema 3's pack records: a live count, then this many bytes of the stream.
const PACK_DATA: u64 = 4076;
/// Each version's zip, whole in the pack stream.
const ZIP: u64 = 2000;

fn write_schema3(path: &Path, n: u64) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(schema::META).unwrap();
        meta.insert(schema::META_SCHEMA_VERSION, 3u32.to_be_bytes().as_slice())
            .unwrap();
        let mut versions = txn.open_table(schema::VERSIONS).unwrap();
        let mut mods = txn.open_table(GO_MODS).unwrap();
        let mut modules = txn.open_table(schema::MODULES).unwrap();
        let mut blobs = txn.open_table(BLOBS).unwrap();
        let mut records = txn.open_table(RECORDS).unwrap();
        let mut index = txn.open_table(INDEX).unwrap();
        let mut hashes = txn.open_table(HASHES).unwrap();
        let mut packed = txn.open_table(PACKED).unwrap();
        let mut packs = txn.open_table(PACKS).unwrap();
        let field = Layout::new(ZIP).field();
        // The pack stream's record being filled: its number and bytes.
        let mut record: (u64, Vec<u8>) = (0, Vec::new());
        let mut stored: Vec<tlog::Hash> = Vec::new();
        for i in 0..n {
            let module = format!("example.com/m{:05}", i / 20);
            let version = format!("v1.0.{}", i % 20);
            let blake3 = *blake3::hash(&i.to_le_bytes()).as_bytes();
            let h1 = format!("h1:{}", hex::encode(&blake3[..16]));
            let rec = format!(
                "{{\"blake3\":\"{}\",\"size\":2000,\"h1\":\"{h1}\",\"mod_h1\":\"{h1}\",\
                 \"time\":{i},\"uploader\":\"admin\"}}",
                hex::encode(blake3)
            );
            let key = ("acme", module.as_str(), version.as_str());
            versions.insert(key, rec.as_bytes()).unwrap();
            mods.insert(key, format!("module {module}\n\ngo 1.21\n").as_bytes())
                .unwrap();
            if i % 20 == 0 {
                modules
                    .insert(("acme", module.as_str()), b"{\"created_at\":0}".as_slice())
                    .unwrap();
            }
            // The zip's bytes end to end in the stream, as schema 3 packed them.
            blobs.insert(&blake3, (ZIP, 1, field)).unwrap();
            packed.insert(&blake3, i * ZIP).unwrap();
            let mut left = ZIP;
            while left > 0 {
                let room = PACK_DATA - record.1.len() as u64;
                let n = left.min(room);
                record.1.resize(record.1.len() + n as usize, i as u8);
                left -= n;
                if record.1.len() as u64 == PACK_DATA {
                    let value = [&(PACK_DATA as u32).to_le_bytes()[..], &record.1].concat();
                    packs.insert(record.0, value.as_slice()).unwrap();
                    record = (record.0 + 1, Vec::new());
                }
            }
            let text = format!("{module} {version} {h1}\n{module} {version}/go.mod {h1}\n");
            let new = tlog::stored_hashes_for_record_hash(
                i,
                tlog::record_hash(text.as_bytes()),
                &mut |idx: &[u64]| Ok(idx.iter().map(|&k| stored[k as usize]).collect()),
            )
            .unwrap();
            let first = tlog::stored_hash_index(0, i);
            for (k, h) in new.iter().enumerate() {
                hashes.insert(first + k as u64, h).unwrap();
            }
            stored.extend(new);
            records.insert(i, text.as_bytes()).unwrap();
            index
                .insert(format!("{module}@{version}").as_str(), i)
                .unwrap();
        }
        if !record.1.is_empty() {
            let live = record.1.len() as u32;
            let value = [&live.to_le_bytes()[..], &record.1].concat();
            packs.insert(record.0, value.as_slice()).unwrap();
        }
        txn.open_table(schema::SUMDB_META)
            .unwrap()
            .insert("size", n.to_be_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--open") {
        let path = Path::new(&args[i + 1]);
        let start = Instant::now();
        let store = Store::open(path).unwrap();
        let took = start.elapsed();
        assert_eq!(store.schema_version().unwrap(), schema::SCHEMA_VERSION);
        println!("{:.2} s, peak RSS {} KiB", took.as_secs_f64(), vm_hwm_kib());
        return;
    }
    // `cargo test --all-targets` runs this too, without `--bench`: a small file only.
    let n = if args.iter().any(|a| a == "--bench") {
        100_000
    } else {
        2_000
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema3.redb");
    write_schema3(&path, n);
    let before = std::fs::metadata(&path).unwrap().len();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--open", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let after = std::fs::metadata(&path).unwrap();
    // The file's length, and the disk blocks it uses (redb grows a file by doubling, and the
    // part never written is a hole).
    let on_disk = {
        use std::os::unix::fs::MetadataExt;
        after.blocks() * 512
    };
    println!(
        "migrate: {n} versions and log records, file {before} bytes before, {} after ({on_disk} \
         on disk): {}",
        after.len(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(store.sumdb_size().unwrap(), n);
    let (_, go_mod) = store
        .get_go_mod("acme", "example.com/m00000", "v1.0.3")
        .unwrap();
    assert_eq!(go_mod.unwrap(), b"module example.com/m00000\n\ngo 1.21\n");
    // A zip's packed bytes, appended again to the new stream, read back as they were.
    for i in [0u64, 3, n / 2, n - 1] {
        let module = format!("example.com/m{:05}", i / 20);
        let version = format!("v1.0.{}", i % 20);
        let (_, bytes, _) = store.zip_start("acme", &module, &version, 0, 4096).unwrap();
        assert_eq!(
            bytes.to_vec(),
            vec![i as u8; ZIP as usize],
            "{module}@{version}"
        );
    }
}
