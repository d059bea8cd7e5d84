//! The store against a model: random publishes and deletes compared with a `BTreeMap`, the
//! blob reference counts and chunks checked after every step, and the failure paths (a file
//! of a newer schema, a file open twice, a disk that fails mid-commit).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use goshelf::gomod::zip::ZipSummary;
use goshelf::gomod::{ModulePath, Version};
use goshelf::store::{self, NewVersion, Store, VersionLookup, ZipLookup, CHUNK_SIZE};

/// Content number `id`: sizes from empty to several chunks, small ones wholly packed and
/// others with a packed remainder (`store::Layout`).
fn content(id: u8) -> Vec<u8> {
    let len = match id % 7 {
        0 => 0,
        1 => 10,
        2 => CHUNK_SIZE as usize,
        3 => CHUNK_SIZE as usize * 2 + 17,
        4 => 100_000,
        5 => 2_147,
        _ => 3_967,
    };
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(id))
        .collect()
}

fn summary(module: &str, version: &str, id: u8) -> ZipSummary {
    ZipSummary {
        path: ModulePath::from_store_unchecked(module.to_owned()),
        version: Version::from_store_unchecked(version.to_owned()),
        h1: format!("h1:content-{id}"),
        mod_bytes: format!("module {module}\n").into_bytes(),
        mod_h1: format!("h1:mod-{module}"),
        has_go_mod: false,
        files: 0,
    }
}

fn put(store: &Store, owner: &str, module: &str, version: &str, id: u8) -> store::Result<()> {
    put_bytes(store, owner, module, version, content(id), id)
}

/// Stores `bytes` as a version (`id` names them in the summary's fake h1).
fn put_bytes(
    store: &Store,
    owner: &str,
    module: &str,
    version: &str,
    bytes: Vec<u8>,
    id: u8,
) -> store::Result<()> {
    let s = summary(module, version, id);
    let new = NewVersion {
        owner,
        summary: &s,
        blake3: *blake3::hash(&bytes).as_bytes(),
        size: bytes.len() as u64,
        uploader: "test",
        time: 1_700_000_000,
    };
    store.put_version(&new, &mut Cursor::new(bytes))
}

fn read_zip(store: &Store, owner: &str, module: &str, version: &str) -> Option<Vec<u8>> {
    match store.open_zip(owner, module, version).unwrap() {
        ZipLookup::Found(_, reader) => {
            let mut out = Vec::new();
            while (out.len() as u64) < reader.size() {
                let n = reader.read_at(out.len() as u64, 100_000, &mut out).unwrap();
                assert!(n > 0, "reader stalled");
            }
            Some(out)
        }
        _ => None,
    }
}

type Key = (String, String, String);

/// A tiny deterministic generator (xorshift), so a failure replays.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn check_against_model(store: &Store, live: &BTreeMap<Key, u8>, deleted: &BTreeMap<Key, u8>) {
    for ((o, m, v), id) in live {
        assert_eq!(
            read_zip(store, o, m, v).as_deref(),
            Some(content(*id).as_slice()),
            "{o} {m}@{v}"
        );
    }
    for (o, m, v) in deleted.keys() {
        assert_eq!(
            store.get_version(o, m, v).unwrap(),
            VersionLookup::Deleted,
            "{o} {m}@{v}"
        );
    }
    // Ids 0 and 7 are both empty: distinct means distinct bytes.
    let distinct: BTreeSet<Vec<u8>> = live.values().map(|id| content(*id)).collect();
    let stats = store.stats().unwrap();
    assert_eq!(stats.versions, live.len() as u64);
    assert_eq!(
        stats.blobs,
        distinct.len() as u64,
        "one blob per distinct content"
    );
    let chunks: u64 = distinct
        .iter()
        .map(|bytes| u64::from(store::Layout::new(bytes.len() as u64).count()))
        .sum();
    assert_eq!(stats.chunks, chunks, "no orphan or missing chunk");
    let bytes: u64 = distinct.iter().map(|b| b.len() as u64).sum();
    assert_eq!(stats.blob_bytes, bytes);
    let referenced: u64 = live.values().map(|id| content(*id).len() as u64).sum();
    assert_eq!(
        stats.referenced_bytes, referenced,
        "reference counts match the versions"
    );
    // Reference counts, orphan chunks, the pack stream's positions and live counts.
    assert_eq!(storage_problems(store), Vec::<String>::new());
}

#[test]
fn random_publish_and_delete_match_model_and_leave_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("model.redb")).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut live: BTreeMap<Key, u8> = BTreeMap::new();
    let mut deleted: BTreeMap<Key, u8> = BTreeMap::new();
    for step in 0..200 {
        let owner = ["acme", "zeta"][rng.below(2) as usize];
        let module = ["example.com/a", "example.com/b", "example.com/a/v2"][rng.below(3) as usize];
        let version = [
            "v1.0.0",
            "v1.1.0",
            "v2.0.0-rc.1",
            "v0.0.0-20240101000000-abcdefabcdef",
        ][rng.below(4) as usize];
        let key: Key = (owner.into(), module.into(), version.into());
        if rng.below(3) == 0 {
            let existed = live.remove(&key);
            let got = store.delete_version(owner, module, version, step).unwrap();
            assert_eq!(got, existed.is_some(), "step {step}: delete {key:?}");
            if let Some(id) = existed {
                deleted.insert(key, id);
            }
        } else {
            let id = rng.below(9) as u8;
            let got = put(&store, owner, module, version, id);
            match (live.get(&key), deleted.get(&key)) {
                (Some(_), _) => {
                    assert!(
                        matches!(got, Err(store::Error::VersionExists { .. })),
                        "step {step}: {got:?}"
                    );
                }
                (None, Some(&old)) if old != id => {
                    assert!(
                        matches!(got, Err(store::Error::TombstoneMismatch { .. })),
                        "step {step}: {got:?}"
                    );
                }
                (None, _) => {
                    got.unwrap();
                    deleted.remove(&key);
                    live.insert(key, id);
                }
            }
        }
        if step % 10 == 9 {
            check_against_model(&store, &live, &deleted);
        }
    }
    check_against_model(&store, &live, &deleted);
    // Delete everything: nothing may remain of the blobs.
    for (o, m, v) in live.keys().cloned().collect::<Vec<_>>() {
        assert!(store.delete_version(&o, &m, &v, 0).unwrap());
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.versions, stats.blobs, stats.chunks, stats.blob_bytes),
        (0, 0, 0, 0)
    );
    // Of the pack stream, at most the last record stays (new bytes are appended to it).
    let report = store.verify().unwrap();
    assert!(report.pack_records <= 1, "{report:?}");
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn store_reopened_from_file_has_everything_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persist.redb");
    {
        let store = Store::open(&path).unwrap();
        put(&store, "acme", "example.com/a", "v1.0.0", 3).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        read_zip(&store, "acme", "example.com/a", "v1.0.0").unwrap(),
        content(3)
    );
    assert_eq!(
        store.schema_version().unwrap(),
        store::schema::SCHEMA_VERSION
    );
}

#[test]
fn open_refuses_a_file_of_a_newer_schema_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(store::schema::META)
            .unwrap()
            .insert(
                store::schema::META_SCHEMA_VERSION,
                99u32.to_be_bytes().as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, store::Error::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 99") && msg.contains("newer goshelf"),
        "{msg}"
    );
}

#[test]
fn open_of_a_file_already_open_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.redb");
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, store::Error::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("already open in another process"),
        "{err}"
    );
}

/// An in-memory disk that can be told to fail every write and sync.
#[derive(Debug, Clone)]
struct FlakyDisk {
    mem: Arc<redb::backends::InMemoryBackend>,
    failing: Arc<AtomicBool>,
}

impl FlakyDisk {
    fn check(&self) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(std::io::Error::other("injected write failure"))
        } else {
            Ok(())
        }
    }
}

impl redb::StorageBackend for FlakyDisk {
    fn len(&self) -> std::io::Result<u64> {
        self.mem.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.mem.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.mem.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.mem.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.mem.write(offset, data)
    }
}

#[test]
fn failed_commit_keeps_earlier_versions_and_adds_nothing() {
    let disk = FlakyDisk {
        mem: Arc::new(redb::backends::InMemoryBackend::new()),
        failing: Arc::new(AtomicBool::new(false)),
    };
    let label = Path::new("flaky.redb");
    {
        let store = Store::open_with_backend(disk.clone(), label).unwrap();
        put(&store, "acme", "example.com/a", "v1.0.0", 3).unwrap();
        disk.failing.store(true, Ordering::SeqCst);
        let err = put(&store, "acme", "example.com/a", "v1.1.0", 4).unwrap_err();
        assert!(matches!(err, store::Error::Storage(_)), "{err:?}");
        disk.failing.store(false, Ordering::SeqCst);
    }
    // A new process on the same bytes sees the last durable state.
    let store = Store::open_with_backend(disk, label).unwrap();
    assert_eq!(
        read_zip(&store, "acme", "example.com/a", "v1.0.0").unwrap(),
        content(3)
    );
    assert_eq!(
        store
            .get_version("acme", "example.com/a", "v1.1.0")
            .unwrap(),
        VersionLookup::Missing
    );
    let stats = store.stats().unwrap();
    assert_eq!((stats.versions, stats.blobs), (1, 1));
    assert_eq!(
        stats.chunks,
        u64::from(store::Layout::new(content(3).len() as u64).count())
    );
    put(&store, "acme", "example.com/a", "v1.1.0", 4).unwrap();
}

/// The committed file written by schema 1 (the first release), frozen: it proves old files
/// still open. It was written once with this crate's store API: `bootstrap_admin` with token
/// `fixture-token`, then `content(4)` as acme example.com/a@v0.9.0, `content(1)` as v1.0.0,
/// `content(3)` (two chunks) as v1.1.0, and v0.9.0 deleted. A new schema adds its own fixture
/// beside it; this one is never rewritten.
const SCHEMA1_FIXTURE: &str = "tests/fixtures/db/schema1.redb";

/// Values the schema-1 fixture holds for `content(id)`: whole chunks and one tail value.
fn schema1_chunks(id: u8) -> u64 {
    (content(id).len() as u64).div_ceil(u64::from(CHUNK_SIZE))
}

/// A copy of the schema-1 fixture in a fresh temp dir (kept alive by the first value).
fn schema1_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("schema1.redb");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA1_FIXTURE),
        &copy,
    )
    .unwrap();
    (dir, copy)
}

#[test]
fn schema1_fixture_opens_and_serves_its_versions() {
    let (_dir, copy) = schema1_copy();
    let store = Store::open(&copy).unwrap();
    // Opened by this binary, the file is marked with the schema it now writes.
    assert_eq!(
        store.schema_version().unwrap(),
        store::schema::SCHEMA_VERSION
    );
    assert_eq!(
        read_zip(&store, "acme", "example.com/a", "v1.0.0").unwrap(),
        content(1)
    );
    assert_eq!(
        read_zip(&store, "acme", "example.com/a", "v1.1.0").unwrap(),
        content(3)
    );
    assert_eq!(
        store
            .get_version("acme", "example.com/a", "v0.9.0")
            .unwrap(),
        VersionLookup::Deleted
    );
    let (_, m) = store.get_go_mod("acme", "example.com/a", "v1.0.0").unwrap();
    assert_eq!(m.unwrap(), b"module example.com/a\n");
    assert!(store
        .user_for_token("fixture-token")
        .unwrap()
        .is_some_and(|(u, _)| u.is_admin));
    assert_eq!(storage_problems(&store), Vec::<String>::new());
}

/// What `verify` finds wrong with blobs and chunks. The fixture's contents are not zips (the
/// store does not care), so the problems about zip validity are left out.
fn storage_problems(store: &Store) -> Vec<String> {
    let report = store.verify().unwrap();
    let whats = report.whats();
    whats
        .into_iter()
        .filter(|what| !what.starts_with("zip no longer valid"))
        .map(str::to_owned)
        .collect()
}

/// A schema-1 file keeps its blobs in their old layout (one value for the tail) while new
/// blobs use the split tail: both read back, share by content, are freed with their last
/// version, and the file verifies clean, also after a reopen.
#[test]
fn schema1_blobs_and_new_blobs_live_side_by_side() {
    let (_dir, copy) = schema1_copy();
    {
        let store = Store::open(&copy).unwrap();
        // content(3) again: the old-layout blob gains a reference; content(4): a new blob.
        put(&store, "acme", "example.com/a", "v1.2.0", 3).unwrap();
        put(&store, "acme", "example.com/a", "v1.3.0", 4).unwrap();
        let stats = store.stats().unwrap();
        let old_chunks = schema1_chunks(3) + schema1_chunks(1);
        let new_chunks = u64::from(store::Layout::new(content(4).len() as u64).count());
        assert!(new_chunks > 1, "100,000 bytes are split");
        assert_eq!(stats.chunks, old_chunks + new_chunks);
        assert_eq!(storage_problems(&store), Vec::<String>::new());
        assert!(store
            .delete_version("acme", "example.com/a", "v1.0.0", 5)
            .unwrap());
        assert!(store
            .delete_version("acme", "example.com/a", "v1.1.0", 5)
            .unwrap());
        assert_eq!(storage_problems(&store), Vec::<String>::new());
        assert_eq!(
            store.verify().unwrap().chunks,
            schema1_chunks(3) + new_chunks
        );
    }
    let store = Store::open(&copy).unwrap();
    for (version, id) in [("v1.2.0", 3), ("v1.3.0", 4)] {
        assert_eq!(
            read_zip(&store, "acme", "example.com/a", version).unwrap(),
            content(id),
            "{version}"
        );
    }
    assert_eq!(storage_problems(&store), Vec::<String>::new());
}

/// `BlobReader::bytes_at` hands out the database's own pages (no copy). Those bytes must stay
/// the zip's bytes after the reader is gone, the version deleted (its blob freed) and many
/// writes that reuse freed pages: the bytes keep their snapshot alive, so redb neither reuses
/// their pages nor rewrites them in place under us.
#[test]
fn zip_bytes_outlive_their_reader_a_delete_and_page_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    put(&store, "acme", "example.com/keep", "v1.0.0", 4).unwrap();
    put(&store, "acme", "example.com/keep", "v1.1.0", 3).unwrap();
    let held: Vec<(u8, bytes::Bytes)> = ["v1.0.0", "v1.1.0"]
        .iter()
        .zip([4u8, 3])
        .map(|(v, id)| {
            let ZipLookup::Found(_, reader) =
                store.open_zip("acme", "example.com/keep", v).unwrap()
            else {
                panic!("{v} missing");
            };
            (id, reader.bytes_at(0, usize::MAX).unwrap())
        })
        .collect();
    for v in ["v1.0.0", "v1.1.0"] {
        assert!(store
            .delete_version("acme", "example.com/keep", v, 1_700_000_001)
            .unwrap());
    }
    for id in 10..=250u8 {
        put(
            &store,
            "acme",
            &format!("example.com/churn{id}"),
            "v1.0.0",
            id,
        )
        .unwrap();
    }
    for (id, bytes) in held {
        let want = content(id);
        let want = &want[..bytes.len()];
        assert!(!bytes.is_empty());
        assert!(bytes[..] == *want, "content {id} changed under its Bytes");
    }
}

/// The GOPROXY answer cache (`http::fast`) keeps an answer for one `Store::generation`.
/// Every write that can change an answer or who may read it moves the generation; the
/// periodic flushes that cannot (download counts, the UI's zip facts, tokens' last-used
/// times) leave it, so they do not empty the cache. Each write is checked to have happened.
#[test]
fn generation_moves_with_answer_changing_writes_only() {
    use goshelf::auth::Visibility;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("generation.redb")).unwrap();
    let moved = |write: &dyn Fn()| {
        let before = store.generation();
        write();
        store.generation() != before
    };
    let (owner, module, version) = ("admin", "example.com/gen/m", "v1.0.0");
    let id = *blake3::hash(&content(7)).as_bytes();

    assert!(moved(&|| assert!(store
        .bootstrap_admin("gs_generation", 1)
        .unwrap())));
    assert!(moved(&|| put(&store, owner, module, version, 7).unwrap()));

    assert!(!moved(&|| assert!(store
        .put_zip_facts(&id, b"facts")
        .unwrap())));
    assert_eq!(
        store.get_zip_facts(&id).unwrap().as_deref(),
        Some(&b"facts"[..])
    );
    assert!(!moved(&|| store.forget_zip_facts(&id).unwrap()));
    assert_eq!(store.get_zip_facts(&id).unwrap(), None);

    let key = (owner.to_owned(), module.to_owned(), version.to_owned());
    assert!(!moved(&|| store
        .add_downloads(&[(
            key.clone(),
            goshelf::web::downloads::Pending { count: 3, last: 0 },
        )])
        .unwrap()));
    assert_eq!(
        store.download_counts(owner, module).unwrap().get(version),
        Some(&3)
    );

    let hash = store::token_hash("gs_generation");
    assert!(!moved(&|| store
        .record_token_use(&[(hash, 1_700_000_123)])
        .unwrap()));
    let tokens = store.list_tokens(owner).unwrap();
    assert_eq!(tokens[0].last_used, Some(1_700_000_123));

    let private = store::OwnerUpdate {
        visibility: Some(Visibility::Private),
        ..store::OwnerUpdate::default()
    };
    assert!(moved(&|| store.update_owner(owner, &private).unwrap()));
    assert!(moved(&|| assert!(store
        .delete_version(owner, module, version, 2)
        .unwrap())));
}

/// `n` distinct byte strings of `len` bytes each.
fn distinct_bytes(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (i as u64 + 1));
            (0..len).map(|_| rng.below(256) as u8).collect()
        })
        .collect()
}

/// Stores each of `contents` as acme `{prefix}{i}`@v1.0.0.
fn put_each(store: &Store, prefix: &str, contents: &[Vec<u8>]) {
    for (i, bytes) in contents.iter().enumerate() {
        put_bytes(
            store,
            "acme",
            &format!("{prefix}{i}"),
            "v1.0.0",
            bytes.clone(),
            1,
        )
        .unwrap();
    }
}

/// Small zips share pages: 400 zips of 2,147 bytes (the size of the perf harness's small
/// versions) take no `chunks` value, and the pack stream's records each fill one page,
/// checked with redb's own statistics of the file. Before packing, each took a 4 KiB page.
#[test]
fn packed_tails_fill_their_pages() {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.redb");
    let contents = distinct_bytes(400, 2_147);
    {
        let store = Store::open(&path).unwrap();
        put_each(&store, "example.com/m", &contents);
        for (i, bytes) in contents.iter().enumerate() {
            let got = read_zip(&store, "acme", &format!("example.com/m{i}"), "v1.0.0");
            assert_eq!(got.as_ref(), Some(bytes), "m{i}");
        }
        assert_eq!(store.stats().unwrap().chunks, 0);
        assert_eq!(storage_problems(&store), Vec::<String>::new());
    }
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(store::schema::BLOB_STORE).unwrap();
    let stats = table.stats().unwrap();
    let zips = 400 * 2_147u64;
    // The pack records: every key one, and the bytes they hold (the zips', and the room that
    // a record left when the next zip started a record of its own: under an eighth each).
    let (mut records, mut held) = (0u64, 0u64);
    for item in table.range(&b"p"[..]..&b"q"[..]).unwrap() {
        let (k, v) = item.unwrap();
        assert_eq!(
            k.value(),
            store::pack_key(records).as_slice(),
            "records in order"
        );
        records += 1;
        held += v.value().len() as u64 - 4;
    }
    assert!(
        held >= zips && held - zips < records * store::PACK_DATA / 8,
        "{held}"
    );
    assert!(records >= zips.div_ceil(store::PACK_DATA), "{records}");
    // Keys and values: the pack records (9-byte key, 4-byte count) and the 400 blob records
    // (33-byte key, 28-byte value).
    assert_eq!(
        stats.stored_bytes(),
        held + records * (9 + 4) + 400 * (33 + 28),
        "{stats:?}"
    );
    // Every page of the tree is one 4 KiB page (a record one byte too long for its page would
    // be given two), and the records take one leaf each: the other leaves hold the 400 blob
    // records (69 bytes each with their offsets: 7 leaves full, 14 half full).
    assert_eq!(
        stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes(),
        (stats.leaf_pages() + stats.branch_pages()) * 4096,
        "{stats:?}"
    );
    let blob_leaves = stats.leaf_pages() - records;
    assert!((7..=14).contains(&blob_leaves), "{blob_leaves}: {stats:?}");
}

/// A packed remainder may span two records; a record goes once no blob uses it, except the
/// last; new bytes are appended after the old ones, and everything reads back and verifies.
#[test]
fn packed_bytes_span_records_and_records_go_when_unused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("span.redb");
    // 3,000 bytes each, end to end in the stream, so most span two of its 4,071-byte records
    // (blob 4 and later start 213 bytes further on: record 2 had 213 bytes of room left, under
    // an eighth of a record, so blob 4 opened record 3).
    let contents = distinct_bytes(11, 3_000);
    let name = |i: usize| format!("example.com/s{i}");
    {
        let store = Store::open(&path).unwrap();
        for (i, bytes) in contents.iter().take(10).enumerate() {
            put_bytes(&store, "acme", &name(i), "v1.0.0", bytes.clone(), 1).unwrap();
        }
        assert_eq!(store.verify().unwrap().pack_records, 8, "30,000 bytes");
        // Keep blob 9 only, at [27213, 30213): in records 6 and 7.
        for i in 0..9 {
            assert!(store.delete_version("acme", &name(i), "v1.0.0", 1).unwrap());
        }
        let report = store.verify().unwrap();
        assert_eq!(report.pack_records, 2, "{report:?}");
        assert_eq!(storage_problems(&store), Vec::<String>::new());
        // Appended to record 7, after blob 9.
        put_bytes(&store, "acme", &name(10), "v1.0.0", contents[10].clone(), 1).unwrap();
        assert_eq!(store.verify().unwrap().pack_records, 3);
    }
    let store = Store::open(&path).unwrap();
    for i in [9, 10] {
        assert_eq!(
            read_zip(&store, "acme", &name(i), "v1.0.0").as_ref(),
            Some(&contents[i]),
            "s{i}"
        );
    }
    // Every byte of every zip read one at a time, across the record boundary.
    let ZipLookup::Found(_, reader) = store.open_zip("acme", &name(9), "v1.0.0").unwrap() else {
        panic!("s9 missing");
    };
    for offset in 0..3_000u64 {
        let b = reader.bytes_at(offset, 1).unwrap();
        assert_eq!(
            b[..],
            contents[9][offset as usize..=offset as usize],
            "at {offset}"
        );
    }
    assert_eq!(storage_problems(&store), Vec::<String>::new());
    assert!(store.delete_version("acme", &name(9), "v1.0.0", 2).unwrap());
    assert!(store
        .delete_version("acme", &name(10), "v1.0.0", 2)
        .unwrap());
    assert_eq!(
        store.verify().unwrap().pack_records,
        1,
        "the last record stays"
    );
    assert_eq!(storage_problems(&store), Vec::<String>::new());
}

/// `verify` finds damage to the pack stream: a wrong live count, a record of no blob, a
/// packed blob whose position was lost.
#[test]
fn verify_reports_pack_stream_damage() {
    use redb::ReadableTable;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damage.redb");
    let contents = distinct_bytes(3, 3_000);
    let id: [u8; 32];
    {
        let store = Store::open(&path).unwrap();
        put_each(&store, "example.com/d", &contents);
        assert_eq!(storage_problems(&store), Vec::<String>::new());
    }
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(store::schema::BLOB_STORE).unwrap();
            let key = store::pack_key;
            let mut first = table
                .get(key(0).as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            first[..4].copy_from_slice(&7u32.to_le_bytes());
            table.insert(key(0).as_slice(), first.as_slice()).unwrap();
            // A record past the end, then a real last one: the stray is used by nobody.
            let mut stray = 0u32.to_le_bytes().to_vec();
            stray.extend_from_slice(b"stray");
            table.insert(key(40).as_slice(), stray.as_slice()).unwrap();
            table.insert(key(41).as_slice(), stray.as_slice()).unwrap();
            // A packed blob whose position was lost, as the migration of a damaged older file
            // leaves it (past every record).
            let (lost, rec) = table
                .range(&b"b"[..]..&b"c"[..])
                .unwrap()
                .map(|item| {
                    let (k, v) = item.unwrap();
                    let id: [u8; 32] = k.value()[1..].try_into().unwrap();
                    (id, store::BlobRecord::decode(v.value()).unwrap())
                })
                .find(|(_, rec)| rec.packed_at > 0)
                .unwrap();
            let gone = store::BlobRecord {
                packed_at: u64::MAX,
                ..rec
            };
            table
                .insert(store::blob_key(&lost).as_slice(), gone.encode().as_slice())
                .unwrap();
            id = lost;
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let problems = storage_problems(&store);
    let has = |s: &str| problems.iter().any(|p| p.contains(s));
    assert!(has("pack record 0 counts 7 live bytes"), "{problems:?}");
    assert!(has("pack record 40 holds bytes of no blob"), "{problems:?}");
    assert!(
        !has("pack record 41 holds"),
        "the last record may be unused: {problems:?}"
    );
    assert!(
        problems.iter().any(|p| p
            == &format!(
                "blob {}: the database is damaged: blob {} lacks its packed bytes",
                hex::encode(id),
                hex::encode(id)
            )),
        "{problems:?}"
    );
}

/// A blob's site (where its bytes are, from `zip_start`) reads back its bytes without the
/// blob being looked up again, for every layout; once the blob is deleted, and new blobs
/// have been stored after it, the site reads nothing or the blob's own bytes, never another
/// blob's.
#[test]
fn a_blob_site_reads_its_bytes_until_the_blob_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("site.redb")).unwrap();
    let ids = [0u8, 1, 2, 3, 4, 5, 6];
    let mut sites = Vec::new();
    for id in ids {
        let module = format!("example.com/site{id}");
        put(&store, "acme", &module, "v1.0.0", id).unwrap();
        let (lookup, first, site) = store.zip_start("acme", &module, "v1.0.0", 0, 10).unwrap();
        assert!(matches!(lookup, VersionLookup::Found(_)), "{module}");
        let bytes = content(id);
        assert_eq!(first[..], bytes[..bytes.len().min(10)]);
        let site = site.unwrap();
        assert_eq!(site.size(), bytes.len() as u64);
        assert_eq!(
            store.site_bytes(site).unwrap().as_deref(),
            Some(&bytes[..]),
            "{module}"
        );
        sites.push((module, id, site));
    }
    let missing = store
        .zip_start("acme", "example.com/none", "v1.0.0", 0, 10)
        .unwrap();
    assert!(matches!(missing.0, VersionLookup::NoModule));
    assert!(missing.2.is_none());
    for (module, id, site) in &sites {
        assert!(store.delete_version("acme", module, "v1.0.0", 1).unwrap());
        // New bytes of the same sizes, appended where the stream ends.
        put_bytes(
            &store,
            "acme",
            &format!("{module}-next"),
            "v1.0.0",
            content(*id).iter().map(|b| b ^ 0x5a).collect(),
            *id,
        )
        .unwrap();
        // Its chunks are gone; packed bytes may stay in a record other blobs still use (or
        // the stream's last): read, they are its own, as they were before the delete.
        let got = store.site_bytes(*site).unwrap();
        if site.size() >= u64::from(CHUNK_SIZE) {
            assert_eq!(got, None, "{module}: its chunks are gone");
        } else if let Some(got) = got {
            assert_eq!(got[..], content(*id)[..], "{module}: its own bytes or none");
        }
    }
}

/// The schema-3 and schema-4 fixtures (`tests/fixtures/db/schema3`, `schema4`, each made by
/// the last binary of its schema) as a file and as that binary's backup stream (`GET
/// /api/v1/admin/backup`), whose frames use the tables later schemas replaced: both become
/// the same current store, with every version's `.mod` and zip, the blobs' layouts and the
/// same log, and both verify clean (real module zips: every zip is validated again).
#[test]
fn a_schema3_file_and_a_schema3_backup_stream_both_migrate() {
    older_file_and_backup_stream_migrate("schema3");
}

#[test]
fn a_schema4_file_and_a_schema4_backup_stream_both_migrate() {
    older_file_and_backup_stream_migrate("schema4");
}

fn older_file_and_backup_stream_migrate(schema: &str) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/db")
        .join(schema);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("file.redb");
    std::fs::copy(fixture.join(format!("{schema}.redb")), &copy).unwrap();
    let found = format!("schema{}", crate::support::schema_of(&copy));
    assert_eq!(
        found, schema,
        "the fixture is of the schema it is named after"
    );
    let restored = dir.path().join("restored.redb");
    let stream = std::fs::read(fixture.join("backup")).unwrap();
    Store::import(&restored, &mut stream.as_slice()).unwrap();
    let mut seen = Vec::new();
    for path in [&copy, &restored] {
        let store = Store::open(path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            store::schema::SCHEMA_VERSION
        );
        let report = store.verify().unwrap();
        assert!(report.is_clean(), "{}: {report:?}", path.display());
        assert_eq!((report.versions, report.log_records), (6, 7), "{report:?}");
        let mut got = Vec::new();
        for (module, version) in [
            ("example.com/tool", "v1.0.0"),
            ("example.com/tool", "v1.1.0"),
            ("example.com/Upper/Lib", "v1.0.0"),
            ("example.com/big", "v1.0.0"),
            ("example.com/big", "v1.1.0"),
            ("example.com/tool/v2", "v2.0.0"),
        ] {
            let (_, go_mod) = store.get_go_mod("acme", module, version).unwrap();
            let go_mod = go_mod.unwrap();
            assert!(
                go_mod.starts_with(format!("module {module}\n").as_bytes()),
                "{module}@{version}: {}",
                String::from_utf8_lossy(&go_mod)
            );
            let zip = read_zip(&store, "acme", module, version).unwrap();
            let summary =
                goshelf::gomod::zip::validate(Cursor::new(&zip), zip.len() as u64, module, version)
                    .unwrap();
            assert_eq!(summary.mod_bytes, go_mod);
            let record = store.sumdb_record(module, version).unwrap().unwrap().1;
            assert!(record.contains(&summary.h1), "{record}");
            got.push((go_mod, zip));
        }
        assert_eq!(
            store
                .get_version("acme", "example.com/tool", "v1.2.0")
                .unwrap(),
            VersionLookup::Deleted
        );
        assert_eq!(store.sumdb_size().unwrap(), 7);
        got.push((store.sumdb_tree_hash(7).unwrap().to_vec(), Vec::new()));
        seen.push(got);
    }
    assert!(
        seen[0] == seen[1],
        "the file and the backup differ once migrated"
    );
}
