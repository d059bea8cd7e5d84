//! `goshelf backup`, `verify` and `compact` (issue 5) against real servers and files.

use std::path::Path;
use std::process::Output;

use goshelf::store::{self, Store};
use redb::ReadableTable;

use crate::support::{http, ModZip, TestServer};

fn goshelf(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::support::stress::goshelf(args, env, std::time::Duration::from_secs(120))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sample(server: &TestServer) -> Vec<ModZip> {
    let big = crate::support::incompressible("admin-ops", 700 * 1024);
    let zips = vec![
        ModZip::with_files(
            "example.com/a",
            "v1.0.0",
            &[
                ("go.mod", b"module example.com/a\n"),
                ("a.go", b"package a\n"),
            ],
        ),
        ModZip::with_files(
            "example.com/a",
            "v1.1.0",
            &[("a.go", b"package a\n// 1.1\n")],
        ),
        ModZip::with_files("example.com/big", "v0.1.0", &[("blob.bin", &big)]),
        ModZip::with_files("example.com/gone", "v1.0.0", &[("g.go", b"package g\n")]),
    ];
    for z in &zips {
        server.upload("acme", z);
    }
    // A deduplicated blob: the same module in a second namespace, shared by the admin (the
    // checksum database gives a path to the namespace that logged it first).
    server.share("other", "example.com/big");
    server.upload("other", &zips[2]);
    assert_eq!(
        server.delete("acme", "example.com/gone", "v1.0.0").status,
        204
    );
    zips
}

/// Asserts that the database at `path` serves the sample's versions byte for byte.
fn assert_has_sample(path: &Path, zips: &[ModZip]) {
    let store = Store::open(path).unwrap();
    for (owner, z) in [
        ("acme", &zips[0]),
        ("acme", &zips[1]),
        ("acme", &zips[2]),
        ("other", &zips[2]),
    ] {
        match store.open_zip(owner, z.path(), z.version()).unwrap() {
            store::ZipLookup::Found(_, reader) => {
                let mut out = Vec::new();
                while (out.len() as u64) < reader.size() {
                    reader.read_at(out.len() as u64, 1 << 20, &mut out).unwrap();
                }
                assert!(
                    out == z.bytes(),
                    "{owner} {}@{} differs",
                    z.path(),
                    z.version()
                );
            }
            other => panic!("{owner} {}@{}: {other:?}", z.path(), z.version()),
        }
    }
    assert_eq!(
        store
            .get_version("acme", "example.com/gone", "v1.0.0")
            .unwrap(),
        store::VersionLookup::Deleted,
        "the tombstone is part of the backup"
    );
    let stats = store.stats().unwrap();
    assert_eq!((stats.versions, stats.blobs), (4, 3));
    assert!(store
        .user_for_token(crate::support::server::ADMIN_TOKEN)
        .unwrap()
        .is_some());
}

#[test]
fn backup_of_running_server_is_consistent_and_verifies_clean() {
    let server = TestServer::start();
    let zips = sample(&server);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("backup.redb");
    let o = goshelf(
        &["backup", out.to_str().unwrap(), "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("entries written to"),
        "{}",
        text(&o)
    );
    let v = goshelf(&["verify", "--db", out.to_str().unwrap()], &[]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(String::from_utf8_lossy(&v.stdout).contains("verify: OK"));
    assert_has_sample(&out, &zips);
    // The server kept serving while and after it was copied.
    assert_eq!(
        http::get(&format!("{}/example.com/a/@v/list", server.base("acme"))).status,
        200
    );
}

#[test]
fn backup_needs_admin_token_and_a_new_file() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.redb");
    let o = goshelf(
        &["backup", out.to_str().unwrap(), "--server", server.url()],
        &[("GOSHELF_TOKEN", "nope")],
    );
    assert!(
        !o.status.success() && text(&o).contains("401"),
        "{}",
        text(&o)
    );
    assert!(
        !out.exists() && !dir.path().join("b.redb.partial").exists(),
        "nothing left behind"
    );
    std::fs::write(&out, b"keep me").unwrap();
    let o = goshelf(
        &["backup", out.to_str().unwrap(), "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
    );
    assert!(
        !o.status.success() && text(&o).contains("exists"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn offline_backup_of_stopped_server_copies_everything_and_refuses_while_running() {
    let mut server = TestServer::start();
    let zips = sample(&server);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("offline.redb");
    let db = server.db_path();
    let o = goshelf(
        &[
            "backup",
            out.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("already open") && text(&o).contains("--server"),
        "{}",
        text(&o)
    );
    assert!(server.terminate().success());
    let o = goshelf(
        &[
            "backup",
            out.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_has_sample(&out, &zips);
    let v = goshelf(&["verify", "--db", out.to_str().unwrap()], &[]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn verify_online_reports_clean_and_needs_admin() {
    let server = TestServer::start();
    sample(&server);
    let o = goshelf(
        &["verify", "--server", server.url()],
        &[("GOSHELF_TOKEN", server.token())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        s.contains("4 versions, 3 blobs") && s.contains("verify: OK"),
        "{s}"
    );
    let r = http::get(&format!("{}/api/v1/admin/verify", server.url()));
    assert_eq!(r.status, 401);
}

/// The first blob record of a blob store: its id and record.
fn only_blob(
    table: &impl redb::ReadableTable<&'static [u8], &'static [u8]>,
) -> ([u8; 32], store::BlobRecord) {
    let (k, v) = table
        .range(&b"b"[..]..&b"c"[..])
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let id = k.value()[1..].try_into().unwrap();
    (id, store::BlobRecord::decode(v.value()).unwrap())
}

/// Flips the first byte of the only blob in a stopped database file, wherever the blob keeps
/// it: its first chunk, or the pack stream when the whole blob is packed (a small zip).
fn corrupt_first_byte(db: &Path) {
    let raw = redb::Database::create(db).unwrap();
    let txn = raw.begin_write().unwrap();
    {
        let mut table = txn.open_table(store::schema::BLOB_STORE).unwrap();
        let (id, rec) = only_blob(&table);
        let pos = rec.packed_at;
        match store::Layout::from_field(rec.size, rec.chunk)
            .locate(0)
            .unwrap()
        {
            store::Place::Chunk { index, .. } => {
                let mut chunks = txn.open_table(store::schema::CHUNKS).unwrap();
                let mut bad = chunks.get((&id, index)).unwrap().unwrap().value().to_vec();
                bad[0] ^= 0xFF;
                chunks.insert((&id, index), bad.as_slice()).unwrap();
            }
            store::Place::Packed { .. } => {
                let key = store::pack_key(pos / store::PACK_DATA);
                let mut bad = table.get(key.as_slice()).unwrap().unwrap().value().to_vec();
                // After the record's 4-byte live count.
                bad[4 + (pos % store::PACK_DATA) as usize] ^= 0xFF;
                table.insert(key.as_slice(), bad.as_slice()).unwrap();
            }
        }
    }
    txn.commit().unwrap();
}

#[test]
fn verify_names_the_versions_of_a_damaged_blob_and_exits_non_zero() {
    let mut server = TestServer::start();
    let z = ModZip::with_files("example.com/only", "v1.0.0", &[("x.go", b"package x\n")]);
    server.upload("acme", &z);
    server.share("zeta", "example.com");
    server.upload("zeta", &z);
    assert!(server.terminate().success());
    let db = server.db_path();
    corrupt_first_byte(&db);
    let o = goshelf(&["verify", "--db", db.to_str().unwrap()], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(s.contains("does not match its BLAKE3"), "{s}");
    assert!(s.contains("affects acme example.com/only@v1.0.0"), "{s}");
    assert!(s.contains("affects zeta example.com/only@v1.0.0"), "{s}");
}

#[test]
fn verify_reports_reference_count_and_orphan_chunk_damage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.redb");
    {
        let store = Store::open(&db).unwrap();
        let z = ModZip::with_files("example.com/rc", "v1.0.0", &[("x.go", b"package x\n")]);
        let bytes = z.bytes();
        let summary = goshelf::gomod::zip::validate(
            std::io::Cursor::new(&bytes),
            bytes.len() as u64,
            "example.com/rc",
            "v1.0.0",
        )
        .unwrap();
        let new = store::NewVersion {
            owner: "acme",
            summary: &summary,
            blake3: *blake3::hash(&bytes).as_bytes(),
            size: bytes.len() as u64,
            uploader: "t",
            time: 0,
        };
        store
            .put_version(&new, &mut std::io::Cursor::new(&bytes))
            .unwrap();
        assert!(store.verify().unwrap().is_clean());
    }
    {
        let raw = redb::Database::create(&db).unwrap();
        let txn = raw.begin_write().unwrap();
        {
            let mut table = txn.open_table(store::schema::BLOB_STORE).unwrap();
            let (id, rec) = only_blob(&table);
            let five = store::BlobRecord { refs: 5, ..rec };
            table
                .insert(store::blob_key(&id).as_slice(), five.encode().as_slice())
                .unwrap();
            let mut chunks = txn.open_table(store::schema::CHUNKS).unwrap();
            chunks
                .insert((&[7u8; 32], 0u32), b"stray".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let report = Store::open(&db).unwrap().verify().unwrap();
    let whats = report.whats();
    assert!(
        whats
            .iter()
            .any(|w| w.contains("reference count 5 but 1 versions")),
        "{whats:?}"
    );
    assert!(
        whats.iter().any(|w| w.contains("1 orphan chunks")),
        "{whats:?}"
    );
}

/// Space freed in the middle of the file (six 1 MiB versions deleted, a later one kept, so
/// redb cannot just cut the free pages off the end) comes back with `goshelf compact`, and
/// the kept version is intact afterwards.
#[test]
fn compact_reclaims_space_after_deletes() {
    let mut server = TestServer::start();
    for i in 0..6 {
        let big = crate::support::incompressible(&format!("compact-{i}"), 1 << 20);
        server.upload(
            "acme",
            &ModZip::with_files("example.com/c", &format!("v1.0.{i}"), &[("b.bin", &big)]),
        );
    }
    // As large as the others, so that it cannot fill a gap below them: it must come after
    // them in the file (a 100 KB one found room below them in some layouts, and the file
    // then shrank at close, nothing left for compact to do).
    let kept = crate::support::incompressible("compact-kept", 1 << 20);
    server.upload(
        "acme",
        &ModZip::with_files("example.com/c", "v1.1.0", &[("b.bin", &kept)]),
    );
    for i in 0..6 {
        assert_eq!(
            server
                .delete("acme", "example.com/c", &format!("v1.0.{i}"))
                .status,
            204
        );
    }
    assert!(server.terminate().success());
    let db = server.db_path();
    let before = std::fs::metadata(&db).unwrap().len();
    let o = goshelf(&["compact", "--db", db.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(after < before / 2, "compact left {after} of {before} bytes");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{before} bytes before")),
        "{}",
        text(&o)
    );
    let v = goshelf(&["verify", "--db", db.to_str().unwrap()], &[]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("1 versions"), "{}", text(&v));
}

/// The file's length and its bytes of blocks on disk.
fn length_and_blocks(db: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(db).unwrap();
    (m.len(), m.blocks() * 512)
}

/// Twelve 7 MiB versions, uploaded one after the other: redb doubles the file to 162 MiB for
/// 85 MiB of pages, with pages in use above the unwritten part (a hole). The same uploads on
/// a server that compacts at stop and on one that does not: only the compacting stop cuts
/// the file down to its blocks.
#[test]
fn a_graceful_stop_compacts_a_file_with_large_holes() {
    for compact in [true, false] {
        let mut server = if compact {
            TestServer::start()
        } else {
            TestServer::start_with(&["--compact-on-stop", "false"], &[])
        };
        let zips: Vec<ModZip> = (0..12)
            .map(|i| {
                let big = crate::support::incompressible(&format!("holes-{i}"), 7 << 20);
                ModZip::with_files("example.com/h", &format!("v1.0.{i}"), &[("b.bin", &big)])
            })
            .collect();
        for zip in &zips {
            server.upload("acme", zip);
        }
        let db = server.db_path();
        let (length, blocks) = length_and_blocks(&db);
        assert!(
            length > blocks + (48 << 20),
            "the premise: a running file much longer than its blocks ({length} against {blocks})"
        );
        assert!(server.terminate().success(), "{}", server.stderr_log());
        let (after, after_blocks) = length_and_blocks(&db);
        let log = server.stderr_log();
        if compact {
            assert!(
                after <= after_blocks + (4 << 20),
                "the compacting stop left {after} bytes for {after_blocks} of blocks\n{log}"
            );
            assert!(log.contains("compacted the database file"), "{log}");
        } else {
            assert!(
                after > after_blocks + (48 << 20),
                "without compact_on_stop, the stop left {after} bytes for {after_blocks} of \
                 blocks: redb trimmed the holes itself, and the compacting run proves nothing\n{log}"
            );
            assert!(!log.contains("compacting"), "{log}");
        }
        // What is left is whole: it verifies clean and is served after a restart.
        let v = goshelf(&["verify", "--db", db.to_str().unwrap()], &[]);
        assert!(v.status.success(), "{}", text(&v));
        assert!(text(&v).contains("12 versions"), "{}", text(&v));
        server.restart();
        for zip in [&zips[0], &zips[11]] {
            let url = format!(
                "{}/example.com/h/@v/{}.zip",
                server.base("acme"),
                zip.version()
            );
            let got = http::get(&url);
            assert_eq!(got.status, 200, "{url}");
            assert!(got.body == zip.bytes(), "{url} differs after the stop");
        }
    }
}

#[test]
fn offline_commands_refuse_a_missing_file_instead_of_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.redb");
    for args in [vec!["verify", "--db"], vec!["compact", "--db"]] {
        let mut a = args.clone();
        a.push(db.to_str().unwrap());
        let o = goshelf(&a, &[]);
        assert!(
            !o.status.success() && text(&o).contains("no database file"),
            "{}",
            text(&o)
        );
        assert!(!db.exists());
    }
}

/// A file copied over the database of a running server (a restore done without stopping it)
/// is damaged by that server's stop, which writes its own idea of the file's state: redb then
/// panics when it opens the file. `verify` and `serve` say so in one line and exit 1, instead
/// of crashing (exit 101) with a panic message as the only explanation.
#[test]
fn a_file_damaged_under_a_running_server_is_refused_with_a_clear_error() {
    let mut a = TestServer::start();
    for i in 0..40 {
        let z = ModZip::with_files(
            &format!("example.com/dmg{}", i % 8),
            &format!("v1.{i}.0"),
            &[("x.go", b"package x\n")],
        );
        a.upload("acme", &z);
    }
    assert!(a.terminate().success());
    let mut b = TestServer::start();
    std::fs::copy(a.db_path(), b.db_path()).unwrap();
    b.terminate();
    let db = b.db_path();
    let db = db.to_str().unwrap();
    for args in [
        vec!["verify", "--db", db],
        vec!["serve", "--listen", "127.0.0.1:0", "--db", db],
    ] {
        let o = goshelf(&args, &[("RUST_BACKTRACE", "0")]);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("goshelf: error: opening")
                && last.contains("the database is damaged: reading it stopped on a page")
                && last.contains("restore it from a backup"),
            "{args:?}: {}",
            text(&o)
        );
    }
}

/// A tmpfs of a given size mounted on a temp dir for the length of a test (root only), and
/// unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("the mount command");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs (as root, like the README test command): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Upgrading a schema-4 file writes its packed bytes again; on a disk without the room for
/// that (a 2 MiB tmpfs holding the 0.8 MB schema-4 fixture), the command refuses before it
/// starts, says what it needs and what is free, and the file holds what it held.
#[test]
fn an_upgrade_that_would_not_fit_its_disk_is_refused_and_changes_nothing() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db/schema4/schema4.redb");
    let disk = SmallDisk::mount("2m");
    let db = disk.path().join("goshelf.redb");
    std::fs::copy(&fixture, &db).unwrap();
    let o = goshelf(&["verify", "--db", db.to_str().unwrap()], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("to schema 5 writes its small zips' packed bytes again")
            && err.contains("MiB free: free some space and start again (the file is unchanged)"),
        "{}",
        text(&o)
    );
    // redb rewrites its own header on opening and closing a file, so the bytes differ; what
    // the file holds does not: still schema 4, with schema 4's blob tables as they were.
    assert_eq!(schema4_contents(&db), schema4_contents(&fixture));
    assert_eq!(schema4_contents(&db).0, 4);
}

/// A file's schema version and the lengths of schema 4's blob records and pack stream, read
/// with redb alone (those tables are the store's no longer).
fn schema4_contents(path: &Path) -> (u32, u64, u64) {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    let version = crate::support::schema_of(path);
    let records: TableDefinition<&[u8; 32], (u64, u64, u32, u64)> =
        TableDefinition::new("blob_records");
    let packs: TableDefinition<u64, &[u8]> = TableDefinition::new("packs");
    let copy = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(path, copy.path()).unwrap();
    let db = redb::Database::open(copy.path()).unwrap();
    let txn = db.begin_read().unwrap();
    let records = txn.open_table(records).unwrap().len().unwrap();
    let packs = txn.open_table(packs).unwrap().len().unwrap();
    (version, records, packs)
}
