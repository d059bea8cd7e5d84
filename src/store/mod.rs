//! The only code that touches redb: one file holds namespaces, modules, versions, their
//! `.mod` bytes, deduplicated zip blobs, users and token hashes.
//!
//! The API is synchronous, like redb; the HTTP layer calls writes through `spawn_blocking` and
//! makes small reads inline. Every logical change is one write transaction committed with
//! `Durability::Immediate`, so a version is either wholly visible and durable or absent;
//! concurrent uploads may share one such transaction (`group.rs`), each acknowledged only once
//! it is durable.

pub mod accounts;
mod backup;
mod blobs;
mod browse;
pub mod cached;
mod group;
mod modules;
mod packs;
pub mod records;
pub mod schema;
pub mod sumdb;
mod tls;
mod verify;
mod writeback;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

pub use accounts::{
    token_hash, MemberInfo, OwnerInfo, OwnerUpdate, Quota, TokenCheck, TokenInfo, UserInfo,
};
pub use backup::FileSpace;
pub use blobs::{blob_key, BlobReader, BlobRecord, BlobSite, Layout, Place, CHUNK_SIZE};
pub use browse::{Derived, VersionBrief};
pub use modules::{parse_blake3, NewVersion, Retired, VersionLookup, ZipLookup};
pub use packs::{pack_key, PACK_DATA};
pub use records::{
    CachedRecord, MemberRecord, ModuleRecord, NamespaceRecord, TokenRecord, UserRecord,
    VersionRecord,
};
pub use verify::{Problem, VerifyReport};

/// What went wrong in the store. Storage and I/O details are for the log, never for a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The version is already published.
    #[error("{module}@{version} already exists")]
    VersionExists { module: String, version: String },
    /// The version was deleted, and the new upload's content differs from what clients pinned.
    #[error(
        "{module}@{version} was deleted, and this upload has a different checksum than the \
         deleted one ({h1}) that clients have pinned in go.sum; publish a new version instead"
    )]
    TombstoneMismatch {
        module: String,
        version: String,
        h1: String,
    },
    /// The checksum database holds other hashes for this module version.
    #[error(
        "{module}@{version} is recorded in this shelf's checksum database with {h1}, and this \
         upload's content differs; records are permanent, so publish a new version instead"
    )]
    LogConflict {
        module: String,
        version: String,
        h1: String,
    },
    /// The module path belongs to another logged namespace (never named: the writer may not
    /// be allowed to see it).
    #[error(
        "the module path {module} is hosted by another namespace of this shelf, and its \
         checksum database records are permanent; an admin can let {owner} publish it too: \
         goshelf owner share {owner} {module}"
    )]
    PathTaken { module: String, owner: String },
    /// An organisation would host a path the log holds from upstream (`held`: that path or
    /// one below it) without an admin's claim.
    #[error(
        "the checksum database holds {held} from the upstream checksum database, so hosting \
         {module} in organisation {owner} would answer its lookups here instead; an admin can \
         allow it: goshelf owner claim {owner} {module}"
    )]
    NeedsClaim {
        module: String,
        owner: String,
        held: String,
    },
    /// A path of a non-public namespace that no `private` pattern covers.
    #[error(
        "{module} would be in a private namespace without a private pattern covering it, so \
         lookups of it could go to the upstream checksum database; an admin must first run \
         goshelf private add {suggestion}"
    )]
    PrivateUncovered { module: String, suggestion: String },
    /// The configured checksum database name is not the log's.
    #[error(
        "the checksum database in this file is named {stored}, not {configured}: a log keeps \
         its name (clients remember its key); set sumdb_name = \"{stored}\" or remove the setting"
    )]
    LogName { stored: String, configured: String },
    /// `sumdb_readers` would open to anyone a log that holds records only signed-in readers
    /// may see.
    #[error(
        "sumdb_readers = anyone would publish records this checksum database holds for \
         signed-in readers only ({record}: a private module); keep sumdb_readers = signed-in"
    )]
    LogReaders { record: String },
    /// A user of that name exists.
    #[error("user {name} already exists")]
    UserExists { name: String },
    /// The name belongs to a user or an organisation already.
    #[error("the name {name} is taken by another user or organisation")]
    NameTaken { name: String },
    /// A namespace of that name exists.
    #[error("owner {name} already exists")]
    OwnerExists { name: String },
    #[error("no such user: {name}")]
    NoSuchUser { name: String },
    #[error("no such owner: {name}")]
    NoSuchOwner { name: String },
    /// Members can only be added to organisations.
    #[error("{name} is a user's namespace, not an organisation")]
    NotAnOrg { name: String },
    /// The change would leave no admin.
    #[error("this would leave no admin; make another user admin first")]
    LastAdmin,
    /// An upload would take a namespace over a quota.
    #[error("{message}")]
    QuotaExceeded {
        quota: accounts::Quota,
        message: String,
    },
    /// Another process holds the file.
    #[error(
        "the database {} is already open in another process (is a goshelf server running on \
         it?)",
        path.display()
    )]
    Locked { path: PathBuf },
    /// The file was written by a newer goshelf.
    #[error(
        "the database {} has schema version {found}, newer than this goshelf supports \
         ({supported}); use a newer goshelf",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Upgrading the file would not fit its disk (`room_to_upgrade`).
    #[error(
        "upgrading the database {} to schema 5 writes its small zips' packed bytes again, \
         about {need_mib} MiB, and its disk has {free_mib} MiB free: free some space and start \
         again (the file is unchanged)",
        path.display()
    )]
    NoRoomToUpgrade {
        path: PathBuf,
        need_mib: u64,
        free_mib: u64,
    },
    /// A record or blob is not what it must be.
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    /// An error inside redb.
    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
    /// An error reading an upload's spool file.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The shared commit of a group of uploads failed (`put_version`); the details are in
    /// the log of the upload that committed it.
    #[error("committing a group of uploads failed: {0}")]
    Commit(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result of a store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The database, opened once per process and shared behind an `Arc`.
///
/// redb latches every later read and write to `PreviousIo` after one I/O error (a full disk,
/// say) until the database is reopened. So a file-backed store reopens itself after such an
/// error: the failed request fails, and the next ones see a fresh handle (reads work again at
/// once; writes once there is space).
pub struct Store {
    db: RwLock<Option<Arc<redb::Database>>>,
    path: PathBuf,
    /// redb's page cache, in bytes (kept for a reopen).
    cache_bytes: usize,
    /// Whether the file can be reopened (not for a caller-supplied backend).
    reopenable: bool,
    /// Uploads being committed together (`put_version`).
    group: group::Group,
    /// Bumped after every write transaction ends (`generation`).
    generation: std::sync::atomic::AtomicU64,
    /// The checksum log's appends committed without `fsync` (upstream records), and how
    /// many of them the last durable commit covers (`sumdb::LogDurability`).
    log_durability: sumdb::LogDurability,
    /// Whether a write without `fsync` began since the last `settle` (`begin_write_lazy`).
    unsettled: std::sync::atomic::AtomicBool,
    /// Whether commits record the allocator state (`with_quick_repair`).
    quick_repair: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Counts of what a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub namespaces: u64,
    pub modules: u64,
    pub versions: u64,
    pub tombstones: u64,
    /// Distinct zips stored.
    pub blobs: u64,
    /// Chunks stored; every one belongs to a blob.
    pub chunks: u64,
    /// Bytes of distinct zips stored.
    pub blob_bytes: u64,
    /// Bytes the versions would take without deduplication.
    pub referenced_bytes: u64,
}

/// Memory redb may use for its page cache (reads and the write buffer together). Small on
/// purpose: goshelf runs on boards with little RAM, the hot records are small, the hottest
/// GOPROXY answers are cached above the store (`http::fast`), and zip pages are read once per
/// download anyway (the OS page cache keeps the file). 32 MiB put the peak of 64 concurrent
/// zip downloads plus a 200 MiB upload at 75 MiB; 16 MiB at 58 MiB (BENCHMARKS.md).
pub const CACHE_BYTES: usize = 16 << 20;

impl Store {
    /// Opens `path`, creating it (and its tables) when absent.
    ///
    /// # Errors
    /// `Locked` when another process has it open, `SchemaTooNew` for a file written by a newer
    /// goshelf, `Storage` for anything redb reports.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// As `open`, with a page cache of `cache_bytes` (the server's is sized down on small
    /// machines, `crate::memory`).
    ///
    /// # Errors
    /// As for `open`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self> {
        // redb stops with a panic on some damage (an offset past a page's end) instead of an
        // error; at open that is a clear error here, not a crash of the command.
        guard_damage(|| Self::open_unguarded(path, cache_bytes))
    }

    fn open_unguarded(path: &Path, cache_bytes: usize) -> Result<Self> {
        let db = open_file(path, cache_bytes)?;
        Self::around(db, path, cache_bytes, true)
    }

    /// The store around an open database, its tables created when absent.
    fn around(
        db: redb::Database,
        path: &Path,
        cache_bytes: usize,
        reopenable: bool,
    ) -> Result<Self> {
        let store = Self {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_owned(),
            cache_bytes,
            reopenable,
            group: group::Group::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
            log_durability: sumdb::LogDurability::default(),
            unsettled: std::sync::atomic::AtomicBool::new(false),
            quick_repair: true,
        };
        store.init_schema()?;
        Ok(store)
    }

    /// Opens a store on any redb storage backend: tests use an in-memory or fault-injecting
    /// one. `label` names it in messages.
    ///
    /// # Errors
    /// As for `open`.
    pub fn open_with_backend(backend: impl redb::StorageBackend, label: &Path) -> Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend)?;
        Self::around(db, label, CACHE_BYTES, false)
    }

    /// Counts of what the file holds, from one snapshot.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn stats(&self) -> Result<Stats> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let mut stats = Stats {
                namespaces: txn.open_table(schema::NAMESPACES)?.len()?,
                modules: txn.open_table(schema::MODULES)?.len()?,
                versions: txn.open_table(schema::VERSIONS)?.len()?,
                tombstones: txn.open_table(schema::TOMBSTONES)?.len()?,
                blobs: 0,
                chunks: txn.open_table(schema::CHUNKS)?.len()?,
                blob_bytes: 0,
                referenced_bytes: 0,
            };
            for item in txn
                .open_table(schema::BLOB_STORE)?
                .range(blobs::all_keys())?
            {
                let (_, v) = item?;
                let rec = blobs::BlobRecord::decode(v.value())?;
                stats.blobs += 1;
                stats.blob_bytes += rec.size;
                stats.referenced_bytes += rec.size.saturating_mul(rec.refs);
            }
            Ok(stats)
        })
    }

    /// Whether the store lives in a file of its own (not a caller-supplied backend).
    #[must_use]
    pub fn is_file_backed(&self) -> bool {
        self.reopenable
    }

    /// The file this store lives in.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_schema(&self) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut meta = txn.open_table(schema::META)?;
                let found = match meta.get(schema::META_SCHEMA_VERSION)? {
                    Some(v) => Some(decode_u32(v.value())?),
                    None => None,
                };
                match found {
                    Some(found) if found > schema::SCHEMA_VERSION => {
                        return Err(Error::SchemaTooNew {
                            path: self.path.clone(),
                            found,
                            supported: schema::SCHEMA_VERSION,
                        });
                    }
                    Some(found) if found == schema::SCHEMA_VERSION => {}
                    // New, or an older schema this binary reads: from now on it is this one.
                    _ => {
                        if found.is_some_and(|f| f < 4) {
                            modules::migrate_go_mods(&txn)?;
                            blobs::migrate(&txn)?;
                            sumdb::migrate_log(&txn)?;
                        }
                        if found.is_some_and(|f| f < 5) {
                            if self.reopenable {
                                self.room_to_upgrade(&txn)?;
                            }
                            blobs::migrate_store(&txn)?;
                        }
                        meta.insert(
                            schema::META_SCHEMA_VERSION,
                            schema::SCHEMA_VERSION.to_be_bytes().as_slice(),
                        )?;
                        if found.is_none() {
                            meta.insert(
                                schema::META_CREATED_AT,
                                now_unix().to_be_bytes().as_slice(),
                            )?;
                        }
                    }
                }
                drop(meta);
                // Create every table, so read transactions never meet a missing one.
                macro_rules! create {
                    (legacy $id:tt, $def:expr, $txn:expr) => {};
                    ($id:tt, $def:expr, $txn:expr) => {
                        $txn.open_table($def)?;
                    };
                }
                schema::for_each_table!(create, txn);
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Refuses to start the upgrade to schema 5 when the file's disk lacks the room it writes
    /// (`upgrade_bytes`): a full disk in the middle would fail the open with a bare I/O error.
    /// A disk whose free space cannot be read is not checked.
    fn room_to_upgrade(&self, txn: &redb::WriteTransaction) -> Result<()> {
        let pack_records = txn.open_table(schema::PACKS)?.len()?;
        let blob_records = txn.open_table(schema::BLOB_RECORDS)?.len()?;
        let need = upgrade_bytes(pack_records, blob_records);
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match rustix::fs::statvfs(dir) {
            Ok(fs) => room_for(&self.path, need, fs.f_bavail.saturating_mul(fs.f_frsize)),
            Err(_) => Ok(()),
        }
    }

    /// The schema version recorded in the file.
    ///
    /// # Errors
    /// Storage errors, or a missing or malformed record.
    pub fn schema_version(&self) -> Result<u32> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(schema::META)?;
            let v = meta
                .get(schema::META_SCHEMA_VERSION)?
                .ok_or_else(|| Error::Corrupt("schema version missing".into()))?;
            decode_u32(v.value())
        })
    }

    /// The current database handle, reopening the file if an earlier reopen failed.
    fn handle(&self) -> Result<Arc<redb::Database>> {
        if let Some(db) = &*self.db.read().unwrap_or_else(PoisonError::into_inner) {
            return Ok(Arc::clone(db));
        }
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = &*slot {
            return Ok(Arc::clone(db));
        }
        let db = Arc::new(open_file(&self.path, self.cache_bytes)?);
        tracing::warn!("reopened the database {}", self.path.display());
        *slot = Some(Arc::clone(&db));
        Ok(db)
    }

    /// A read transaction (a snapshot) that does not keep the database handle.
    fn begin_read(&self) -> Result<redb::ReadTransaction> {
        self.with_db(|db| Ok(db.begin_read()?))
    }

    /// Runs `f` on a read transaction, through `with_db`: a read that meets a handle failed
    /// by someone else's I/O error (`PreviousIo`, at any step, not only at `begin_read`) runs
    /// again on the reopened handle instead of failing with a 500. It holds the handle while
    /// `f` runs, so a reopen waits for it (at most `REOPEN_WAIT`): keep `f` short.
    fn read<T>(&self, f: impl Fn(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        self.with_db(|db| f(&db.begin_read()?))
    }

    /// `with_db` for an `f` that can run only once (it moves what it captured): no second
    /// run after `PreviousIo`; the reopen is the same.
    fn with_db_once<T>(&self, f: impl FnOnce(&redb::Database) -> Result<T>) -> Result<T> {
        let db = self.handle()?;
        let result = f(&db);
        if let Err(e) = &result {
            if self.reopenable && e.needs_reopen() {
                tracing::error!("database I/O error, reopening: {e}");
                self.reopen(db);
            }
        }
        result
    }

    /// Runs `f` on the database; after an I/O error, reopens it for the next caller.
    ///
    /// `PreviousIo` means the handle was already failed by someone else's I/O error (a write
    /// that met a full disk) and `f` did nothing: `f` runs once more on the reopened handle, so
    /// a read that raced the reopen is answered instead of failing with a 500.
    fn with_db<T>(&self, f: impl Fn(&redb::Database) -> Result<T>) -> Result<T> {
        match self.with_db_once(&f) {
            Err(Error::Storage(redb::Error::PreviousIo)) if self.reopenable => self.with_db_once(f),
            result => result,
        }
    }

    /// Drops the failed handle `failed` (once every operation in flight has let go of it, for
    /// at most `REOPEN_WAIT`) and opens the file again.
    fn reopen(&self, failed: Arc<redb::Database>) {
        // Let go of our handle before waiting for the lock: whoever holds the lock is waiting
        // for every holder of the failed handle. The weak reference keeps its address unique.
        let weak = Arc::downgrade(&failed);
        drop(failed);
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let Some(current) = slot.take_if(|cur| std::ptr::eq(Arc::as_ptr(cur), weak.as_ptr()))
        else {
            return; // another caller reopened it already
        };
        let deadline = Instant::now() + REOPEN_WAIT;
        while Arc::strong_count(&current) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(current);
        match open_file(&self.path, self.cache_bytes) {
            Ok(db) => *slot = Some(Arc::new(db)),
            Err(e) => tracing::error!(
                "reopening {}: {e} (retried on the next request)",
                self.path.display()
            ),
        }
    }

    /// A number that changes after every write transaction that can change a GOPROXY answer
    /// or who may read a namespace, committed or not (see `commit_txn_unseen` for the rest).
    ///
    /// For caches of answers derived from the store: read the generation *before* reading the
    /// store, and keep the answer only while the generation is still that number. A commit
    /// becomes visible before its bump, so an answer tagged with the current generation was
    /// read after every commit that bumped to it or below: it is never stale.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Commits `txn`, then bumps `generation` (also when the commit fails: cheap and safe).
    /// Every write transaction of the store ends here or in `commit_txn_unseen`.
    fn commit_txn(
        &self,
        txn: redb::WriteTransaction,
    ) -> std::result::Result<(), redb::CommitError> {
        let result = txn.commit();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        result
    }

    /// Commits `txn` without bumping `generation`: only for writes that no GOPROXY answer
    /// depends on (download counts, the web UI's zip facts, tokens' last-used times), so that
    /// their periodic flushes do not empty the answer cache. Anything that can change a
    /// `list`, `.info`, `.mod`, `@latest` or a 404/410, or who may read a namespace, must use
    /// `commit_txn`.
    fn commit_txn_unseen(
        &self,
        txn: redb::WriteTransaction,
    ) -> std::result::Result<(), redb::CommitError> {
        txn.commit()
    }

    /// A write transaction that is durable on commit; with `quick_repair` (the default) its
    /// commit also records redb's allocator state, so that a start after a crash need not read
    /// the whole file to rebuild it.
    fn begin_write(&self, db: &redb::Database) -> Result<redb::WriteTransaction> {
        let mut txn = db.begin_write()?;
        txn.set_quick_repair(self.quick_repair);
        Ok(txn)
    }

    /// A write transaction whose commit is not made durable by itself (no `fsync`): the next
    /// durable commit carries it to the disk. For what a crash may lose but never tear:
    /// derived data, cache bookkeeping, last-used times, and the checksum log's appends,
    /// which nothing publishes before `log_make_durable`.
    fn begin_write_lazy(&self, db: &redb::Database) -> Result<redb::WriteTransaction> {
        let mut txn = self.begin_write(db)?;
        // Marked once this transaction holds redb's one writer, for `settle`: one that clears
        // the mark after this begins its durable commit after this transaction ends, so it
        // covers it; one that cleared it before committed before this began, or waits for
        // this too, and the mark stays for the next.
        self.unsettled
            .store(true, std::sync::atomic::Ordering::Release);
        txn.set_durability(redb::Durability::None)
            .map_err(|e| Error::Corrupt(format!("a write without fsync: {e}")))?;
        Ok(txn)
    }

    /// Sets whether write transactions record redb's allocator state (`quick_repair`, on
    /// unless turned off): with it, a start after a crash or power loss is immediate; without
    /// it, that start reads and checks the whole file, and every commit writes less (the state
    /// of every region of the file, rewritten on each commit: about 16 KB on a 1 MB file and
    /// 150 KB on a 1.6 GB one, BENCHMARKS.md). Durability is the same either way.
    #[must_use]
    pub fn with_quick_repair(mut self, on: bool) -> Self {
        self.quick_repair = on;
        self
    }
}

/// Runs `f`, turning a panic inside it (redb meeting a damaged page) into `Error::Corrupt`.
/// Only around whole operations whose panic used to end the process or the task: `open`,
/// whose half-opened store is dropped, and `verify`, which only reads (on a running server
/// its panic was already caught by tokio as a failed task; now the admin reads why).
pub(crate) fn guard_damage<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::Corrupt(format!(
            "reading it stopped on a page it could not read ({what}); the file is \
             probably damaged: restore it from a backup (README, Backup and restore)"
        )))
    })
}

/// How long a reopen waits for operations in flight on the failed handle.
const REOPEN_WAIT: Duration = Duration::from_secs(2);

fn open_file(path: &Path, cache_bytes: usize) -> Result<redb::Database> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create_with_backend(writeback::Backend::open(path)?)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked {
                path: path.to_owned(),
            },
            other => other.into(),
        })
}

impl Error {
    /// Whether redb reported an I/O failure, after which the handle must be reopened.
    #[must_use]
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            Error::Storage(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// Whether the failure is a full disk (or quota): worth a 507, not a 500.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        let io = match self {
            Error::Storage(redb::Error::Io(e)) | Error::Io(e) => e,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    }
}

/// What the upgrade to schema 5 writes, at most, for a file of `pack_records` records of the
/// old pack stream and `blob_records` blobs: every record again (a page each), each blob's
/// record (under 128 bytes with its share of a leaf), and 8 MiB for the trees' other pages
/// and redb's own.
fn upgrade_bytes(pack_records: u64, blob_records: u64) -> u64 {
    pack_records
        .saturating_mul(blobs::PAGE)
        .saturating_add(blob_records.saturating_mul(128))
        .saturating_add(8 << 20)
}

/// `NoRoomToUpgrade` for the file at `path` when `free` bytes are fewer than `need`.
fn room_for(path: &Path, need: u64, free: u64) -> Result<()> {
    if free < need {
        return Err(Error::NoRoomToUpgrade {
            path: path.to_owned(),
            need_mib: need.div_ceil(1 << 20),
            free_mib: free >> 20,
        });
    }
    Ok(())
}

fn decode_u32(bytes: &[u8]) -> Result<u32> {
    let arr: [u8; 4] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("bad u32 in meta table".into()))?;
    Ok(u32::from_be_bytes(arr))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("{what} record: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt(format!("encoding a record: {e}")))
}

/// `.mod` bytes up to this size live inside their version's `VERSIONS` value; longer ones
/// (up to `MAX_GO_MOD`, 16 MiB) are kept apart in `GO_MODS`, so that reading a version's
/// record (every `.info`, `list` and `@latest`) never reads more than this of `.mod` bytes.
/// Most go.mod files are well under it.
pub const INLINE_MOD_MAX: usize = 4096;

/// Flag in a `VERSIONS` value's length word: the version's `.mod` bytes are not inline but in
/// `GO_MODS` (too long, or, after the migration of a damaged file, missing: then reading them
/// fails as it did before).
const MOD_APART: u32 = 1 << 31;

/// A `VERSIONS` value (schema 4): the record's JSON length (u32 little-endian, with
/// `MOD_APART` when the `.mod` bytes are in `GO_MODS`), the JSON, then the version's `.mod`
/// bytes unless they are apart (`None`).
fn version_value(rec: &VersionRecord, go_mod: Option<&[u8]>) -> Result<Vec<u8>> {
    version_value_raw(&encode(rec)?, go_mod)
}

/// `version_value` of a record's JSON as stored (the migration copies it unread, so that a
/// damaged record stays what `verify` reports, not a reason the file cannot open).
fn version_value_raw(json: &[u8], go_mod: Option<&[u8]>) -> Result<Vec<u8>> {
    let len = u32::try_from(json.len())
        .ok()
        .filter(|&n| n < MOD_APART)
        .ok_or_else(|| Error::Corrupt(format!("a version record of {} bytes", json.len())))?;
    let word = if go_mod.is_some() {
        len
    } else {
        len | MOD_APART
    };
    let go_mod = go_mod.unwrap_or_default();
    let mut value = Vec::with_capacity(4 + json.len() + go_mod.len());
    value.extend_from_slice(&word.to_le_bytes());
    value.extend_from_slice(json);
    value.extend_from_slice(go_mod);
    Ok(value)
}

/// The JSON and the inline `.mod` bytes of a `VERSIONS` value (`None`: in `GO_MODS`).
fn version_parts(value: &[u8]) -> Result<(&[u8], Option<&[u8]>)> {
    let short = || Error::Corrupt(format!("a version value of {} bytes", value.len()));
    let (word, rest) = value.split_first_chunk::<4>().ok_or_else(short)?;
    let word = u32::from_le_bytes(*word);
    let len = usize::try_from(word & !MOD_APART).map_err(|_| short())?;
    if rest.len() < len {
        return Err(short());
    }
    let (json, go_mod) = rest.split_at(len);
    if word & MOD_APART != 0 {
        if !go_mod.is_empty() {
            return Err(short());
        }
        return Ok((json, None));
    }
    Ok((json, Some(go_mod)))
}

/// The record of a `VERSIONS` value.
fn version_record(value: &[u8]) -> Result<VersionRecord> {
    decode("version", version_parts(value)?.0)
}

/// The `.mod` bytes of version `key` whose `VERSIONS` value is `value`: inline, or those
/// kept apart, which `apart` reads from `GO_MODS` (of whichever transaction the caller holds).
fn version_go_mod(
    key: (&str, &str, &str),
    value: &[u8],
    apart: impl FnOnce() -> Result<Option<Vec<u8>>>,
) -> Result<Vec<u8>> {
    match version_parts(value)?.1 {
        Some(inline) => Ok(inline.to_vec()),
        None => apart()?
            .ok_or_else(|| Error::Corrupt(format!("{}@{} has no .mod stored", key.1, key.2))),
    }
}

/// Options that create a file only its owner may read and write (mode 0600, whatever the
/// umask): the database, backups and upload spools hold password and token hashes and the
/// local CA's private key.
#[must_use]
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Whether the file at `path` may be read by others than its owner (group or world bits);
/// `None` when that cannot be told (no such file, or not Unix).
#[must_use]
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Now, in Unix seconds.
#[must_use]
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unit tests' shortcut: stores `bytes` as version `v1.0.0` of `example.com/m` in namespace
/// `acme`, as a publish stores a zip (no zip checks: the bytes need not be a zip).
#[cfg(test)]
pub(crate) fn put_test_version(store: &Store, bytes: &[u8]) {
    put_test_module(store, "acme", "example.com/m", "v1.0.0", "h1:zip", bytes).unwrap();
}

/// Unit tests' way past every rule: `f` writes the store's tables directly, in one commit
/// (damage, or what an older release wrote).
#[cfg(test)]
pub(crate) fn write_raw(store: &Store, f: impl Fn(&redb::WriteTransaction) -> Result<()>) {
    store
        .with_db_once(|db| {
            let txn = db.begin_write()?;
            f(&txn)?;
            Ok(txn.commit()?)
        })
        .unwrap();
}

/// `put_test_version` of any `owner module@version` with zip hash `h1` (its go.mod hash is
/// `h1:mod`), giving the store's answer: refusals are for the test to check.
#[cfg(test)]
pub(crate) fn put_test_module(
    store: &Store,
    owner: &str,
    module: &str,
    version: &str,
    h1: &str,
    bytes: &[u8],
) -> Result<()> {
    let go_mod = format!("module {module}\n").into_bytes();
    put_test_module_with_mod(store, (owner, module, version), h1, bytes, go_mod)
}

/// `put_test_module` with the given `.mod` bytes.
#[cfg(test)]
pub(crate) fn put_test_module_with_mod(
    store: &Store,
    (owner, module, version): (&str, &str, &str),
    h1: &str,
    bytes: &[u8],
    go_mod: Vec<u8>,
) -> Result<()> {
    use crate::gomod::zip::ZipSummary;
    use crate::gomod::{ModulePath, Version};
    let summary = ZipSummary {
        path: ModulePath::from_store_unchecked(module.into()),
        version: Version::from_store_unchecked(version.into()),
        h1: h1.into(),
        mod_bytes: go_mod,
        mod_h1: "h1:mod".into(),
        has_go_mod: true,
        files: 1,
    };
    let new = NewVersion {
        owner,
        summary: &summary,
        blake3: *blake3::hash(bytes).as_bytes(),
        size: bytes.len() as u64,
        uploader: "test",
        time: 1_700_000_000,
    };
    store.put_version(&new, &mut std::io::Cursor::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> VersionRecord {
        VersionRecord {
            blake3: hex::encode([7u8; 32]),
            size: 2000,
            h1: format!("h1:{i}"),
            mod_h1: "h1:m".into(),
            time: i as i64,
            uploader: "t".into(),
        }
    }

    #[test]
    fn a_version_value_holds_its_record_and_its_mod_bytes() {
        for go_mod in [
            Some(&b""[..]),
            Some(b"module m\n"),
            Some(&[0u8, 255, 10][..]),
            None,
        ] {
            let value = version_value(&record(3), go_mod).unwrap();
            assert_eq!(version_record(&value).unwrap(), record(3));
            assert_eq!(version_parts(&value).unwrap().1, go_mod);
        }
        // Kept apart, with bytes after the record: damaged.
        let mut apart = version_value(&record(3), None).unwrap();
        apart.push(b'm');
        assert!(matches!(version_parts(&apart), Err(Error::Corrupt(_))));
        let value = version_value(&record(3), Some(b"module m\n")).unwrap();
        // Too short for the length, or for the record the length announces.
        for cut in [0, 3, 4, value.len() - 10] {
            assert!(
                matches!(version_parts(&value[..cut]), Err(Error::Corrupt(m)) if m == format!("a version value of {cut} bytes")),
                "{cut}"
            );
        }
        // The record alone is not a version value.
        assert!(version_record(&encode(&record(3)).unwrap()).is_err());
    }

    /// The packed bytes of blob `id` in `a_schema3_file_is_migrated_when_opened`.
    fn old_packed(id: u8) -> Vec<u8> {
        (0..2000u32).map(|i| (i % 251) as u8 ^ id).collect()
    }

    /// A schema-3 file made by hand: versions (more than one batch of the migration) whose
    /// `.mod` bytes are in `GO_MODS`, one without them and one with an unreadable record (a
    /// damaged file), one with a `.mod` too long to move; packed blobs whose position is in
    /// `PACKED` (within one pack record, across two, and past the stream's end), one whose
    /// position was lost, one with none packed; an empty log. Opened, it is the current schema
    /// with everything moved (through schema 4's tables to schema 5's blob store), the damage
    /// left for `verify` to name, and the old tables gone.
    #[test]
    fn a_schema3_file_is_migrated_when_opened() {
        use redb::TableHandle;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        const N: usize = 2500;
        let long_mod = format!("module m\n\n// {}\n", "x".repeat(INLINE_MOD_MAX));
        let packed_layout = blobs::Layout::new(2000);
        assert!(packed_layout.packed_len() > 0);
        let whole = blobs::Layout::new(u64::from(CHUNK_SIZE));
        assert_eq!(whole.packed_len(), 0);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(schema::META).unwrap();
                meta.insert(schema::META_SCHEMA_VERSION, 3u32.to_be_bytes().as_slice())
                    .unwrap();
                txn.open_table(schema::MODULES)
                    .unwrap()
                    .insert(("acme", "example.com/m"), b"{\"created_at\":0}".as_slice())
                    .unwrap();
                let mut versions = txn.open_table(schema::VERSIONS).unwrap();
                let mut mods = txn.open_table(schema::GO_MODS).unwrap();
                for i in 0..N {
                    let v = format!("v1.0.{i}");
                    let key = ("acme", "example.com/m", v.as_str());
                    let json = if i == 99 {
                        b"{".to_vec()
                    } else {
                        encode(&record(i)).unwrap()
                    };
                    versions.insert(key, json.as_slice()).unwrap();
                    match i {
                        1234 => {}
                        2000 => {
                            mods.insert(key, long_mod.as_bytes()).unwrap();
                        }
                        _ => {
                            mods.insert(key, format!("module m{i}\n").as_bytes())
                                .unwrap();
                        }
                    }
                }
                let mut blobs = txn.open_table(schema::BLOBS).unwrap();
                let packed_blob = (2000, packed_layout.field());
                let whole_blob = (u64::from(CHUNK_SIZE), whole.field());
                for (id, (size, field), refs) in [
                    (1u8, packed_blob, 2),
                    (2, packed_blob, 1),
                    (3, whole_blob, 1),
                    (4, packed_blob, 1),
                    (5, packed_blob, 1),
                ] {
                    blobs.insert(&[id; 32], (size, refs, field)).unwrap();
                }
                let mut packed = txn.open_table(schema::PACKED).unwrap();
                packed.insert(&[1u8; 32], 4321).unwrap();
                // Blob 4's packed bytes are not in the stream (a damaged file); blob 5's
                // straddle two of its records.
                packed.insert(&[4u8; 32], 9 * packs::PACK_DATA_V4).unwrap();
                packed
                    .insert(&[5u8; 32], 3 * packs::PACK_DATA_V4 - 1000)
                    .unwrap();
                let mut stream = txn.open_table(schema::PACKS).unwrap();
                let record = |live: u32, skip: usize, bytes: &[u8]| {
                    let mut r = live.to_le_bytes().to_vec();
                    r.resize(4 + skip, 0);
                    r.extend_from_slice(bytes);
                    r
                };
                let d = usize::try_from(packs::PACK_DATA_V4).unwrap();
                stream
                    .insert(1, record(2000, 4321 - d, &old_packed(1)).as_slice())
                    .unwrap();
                stream
                    .insert(2, record(1000, d - 1000, &old_packed(5)[..1000]).as_slice())
                    .unwrap();
                stream
                    .insert(3, record(1000, 0, &old_packed(5)[1000..]).as_slice())
                    .unwrap();
                // An empty log of schema 3: its size was kept in the meta table.
                txn.open_table(schema::SUMDB_META)
                    .unwrap()
                    .insert("size", 0u64.to_be_bytes().as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::SCHEMA_VERSION);
        for i in [0, 1023, 1024, 1025, 2048, N - 1] {
            let (_, go_mod) = store
                .get_go_mod("acme", "example.com/m", &format!("v1.0.{i}"))
                .unwrap();
            assert_eq!(go_mod.unwrap(), format!("module m{i}\n").as_bytes(), "{i}");
        }
        // The long `.mod` stays apart and reads back; the missing one still fails to read.
        let (_, go_mod) = store
            .get_go_mod("acme", "example.com/m", "v1.0.2000")
            .unwrap();
        assert_eq!(go_mod.unwrap(), long_mod.as_bytes());
        assert!(matches!(
            store.get_go_mod("acme", "example.com/m", "v1.0.1234"),
            Err(Error::Corrupt(m)) if m.contains("has no .mod stored")
        ));
        store
            .read(|txn| {
                let versions = txn.open_table(schema::VERSIONS)?;
                let value = |v: &str| {
                    versions
                        .get(("acme", "example.com/m", v))
                        .unwrap()
                        .unwrap()
                        .value()
                        .to_vec()
                };
                for i in (0..N).filter(|&i| ![99, 1234].contains(&i)) {
                    let v = value(&format!("v1.0.{i}"));
                    assert_eq!(version_record(&v).unwrap(), record(i), "{i}");
                }
                // The unreadable record is carried as it was.
                assert_eq!(version_parts(&value("v1.0.99")).unwrap().0, b"{");
                let mods = txn.open_table(schema::GO_MODS)?;
                assert_eq!(mods.len()?, 1, "only the long .mod is left apart");
                Ok(())
            })
            .unwrap();
        let report = store.verify().unwrap();
        let named = |what: &str| {
            report
                .problems
                .iter()
                .find(|p| p.what.starts_with(what))
                .map(|p| p.versions.clone())
        };
        assert_eq!(
            named("no .mod stored"),
            Some(vec!["acme example.com/m@v1.0.1234".to_owned()])
        );
        assert_eq!(
            named("unreadable version record"),
            Some(vec!["acme example.com/m@v1.0.99".to_owned()])
        );
        store
            .read(|txn| {
                let table = txn.open_table(schema::BLOB_STORE)?;
                let get = |id: u8| blobs::record(&table, &[id; 32]).unwrap().unwrap();
                let (size, field) = (2000, packed_layout.field());
                let rec = |refs, packed_at| blobs::BlobRecord {
                    size,
                    refs,
                    chunk: field,
                    packed_at,
                };
                // Packed bytes were appended again to the new stream, in id order.
                assert_eq!(get(1), rec(2, 0));
                assert_eq!(get(2), rec(1, blobs::LOST));
                let whole_rec = blobs::BlobRecord {
                    size: u64::from(CHUNK_SIZE),
                    refs: 1,
                    chunk: whole.field(),
                    packed_at: 0,
                };
                assert_eq!(get(3), whole_rec);
                assert_eq!(get(4), rec(1, blobs::LOST), "its bytes were missing");
                assert_eq!(get(5), rec(1, 2000));
                for (id, lost) in [(2u8, true), (4, true), (1, false), (5, false)] {
                    match BlobReader::open(txn, &[id; 32]) {
                        Err(Error::Corrupt(m)) if lost => {
                            assert!(m.contains("lacks its packed bytes"), "{m}");
                        }
                        Ok(Some(reader)) if !lost => {
                            let mut bytes = Vec::new();
                            while reader.read_at(bytes.len() as u64, 4096, &mut bytes)? > 0 {}
                            assert_eq!(bytes, old_packed(id), "blob {id}");
                        }
                        other => panic!("blob {id}: {other:?}"),
                    }
                }
                assert!(
                    txn.open_table(schema::SUMDB_META)?.get("size")?.is_none(),
                    "the log's size is its last record's id now"
                );
                let names: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
                for gone in [
                    "blobs",
                    "packed",
                    "blob_records",
                    "packs",
                    "sumdb_records",
                    "sumdb_index",
                    "sumdb_hashes",
                ] {
                    assert!(
                        !names.iter().any(|n| n == gone),
                        "{gone} is left: {names:?}"
                    );
                }
                Ok(())
            })
            .unwrap();
        // A blob whose position was lost is still released (nothing of the pack stream).
        store
            .with_db_once(|db| {
                let txn = db.begin_write()?;
                blobs::release(&txn, &[2u8; 32])?;
                Ok(txn.commit()?)
            })
            .unwrap();
    }

    /// The upgrade to schema 5 asks for a page per old pack record and a little per blob, and
    /// is refused, with what it needs and what is free, when the disk has less.
    #[test]
    fn the_upgrade_is_refused_when_its_disk_lacks_the_room() {
        assert_eq!(upgrade_bytes(0, 0), 8 << 20);
        assert_eq!(upgrade_bytes(1000, 10), 1000 * 4096 + 10 * 128 + (8 << 20));
        assert_eq!(upgrade_bytes(u64::MAX, 1), u64::MAX);
        let path = Path::new("/srv/goshelf.redb");
        let need = upgrade_bytes(100_000, 100_000);
        assert!(room_for(path, need, need).is_ok());
        let Err(e) = room_for(path, need, need - 1) else {
            panic!("one byte short fits?");
        };
        assert_eq!(
            e.to_string(),
            "upgrading the database /srv/goshelf.redb to schema 5 writes its small zips' packed \
             bytes again, about 411 MiB, and its disk has 410 MiB free: free some space and \
             start again (the file is unchanged)"
        );
    }

    /// A schema-4 file made by hand: 300 blobs whose packed bytes (1 to 3,967 bytes) lie end to
    /// end in the old stream of 4,076-byte records, many across two. Opened, each blob reads
    /// back byte for byte from the new stream, whose live counts `verify` finds right, and the
    /// old tables are gone; a damaged blob claiming more packed bytes than a page is `LOST`.
    #[test]
    fn a_schema4_pack_stream_is_appended_again_when_opened() {
        use redb::TableHandle;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s4.redb");
        let lens = [1u64, 1850, 3967, 1100, 2000, 3600, 500, 3967, 3967, 7, 1234];
        let mut blobs_in = Vec::new();
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(schema::META).unwrap();
                meta.insert(schema::META_SCHEMA_VERSION, 4u32.to_be_bytes().as_slice())
                    .unwrap();
                let mut records = txn.open_table(schema::BLOB_RECORDS).unwrap();
                let mut stream: Vec<u8> = Vec::new();
                for (i, &len) in lens.iter().cycle().take(300).enumerate() {
                    let mut id = [0u8; 32];
                    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    let bytes: Vec<u8> = (0..len).map(|j| (j as u8) ^ (i as u8)).collect();
                    let layout = blobs::Layout::new(len);
                    assert_eq!(layout.packed_len(), len);
                    records
                        .insert(&id, (len, 1, layout.field(), stream.len() as u64))
                        .unwrap();
                    stream.extend_from_slice(&bytes);
                    blobs_in.push((id, bytes));
                }
                // A damaged chunk field: packed bytes without split pieces would be all of a
                // 100,000-byte tail, never gathered from the old stream.
                let damaged = (1u32 << 30) | CHUNK_SIZE;
                let size = 3 * u64::from(CHUNK_SIZE) + 100_000;
                assert_eq!(
                    blobs::Layout::from_field(size, damaged).packed_len(),
                    100_000
                );
                records.insert(&[0xEE; 32], (size, 1, damaged, 0)).unwrap();
                let mut old = txn.open_table(schema::PACKS).unwrap();
                let d = usize::try_from(packs::PACK_DATA_V4).unwrap();
                for (r, part) in stream.chunks(d).enumerate() {
                    let mut v = u32::try_from(part.len()).unwrap().to_le_bytes().to_vec();
                    v.extend_from_slice(part);
                    old.insert(r as u64, v.as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::SCHEMA_VERSION);
        store
            .read(|txn| {
                for (id, bytes) in &blobs_in {
                    let reader = BlobReader::open(txn, id)?.unwrap();
                    let mut got = Vec::new();
                    while reader.read_at(got.len() as u64, 4096, &mut got)? > 0 {}
                    assert_eq!(&got, bytes);
                }
                assert!(matches!(
                    BlobReader::open(txn, &[0xEE; 32]),
                    Err(Error::Corrupt(m)) if m.contains("lacks its packed bytes")
                ));
                let names: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
                assert!(
                    !names.iter().any(|n| n == "packs" || n == "blob_records"),
                    "{names:?}"
                );
                Ok(())
            })
            .unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.blobs, 301);
        let packs: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.what.contains("pack record"))
            .collect();
        assert!(packs.is_empty(), "{packs:?}");
        assert!(report
            .problems
            .iter()
            .any(|p| p.what.ends_with("lacks its packed bytes")));
        assert!(report.pack_records > 100, "{}", report.pack_records);
    }

    /// A `.mod` longer than `INLINE_MOD_MAX` is kept apart from its version's record (so that
    /// a list or `.info` never reads it), one at the limit inline: both read back, `verify` is
    /// clean of `.mod` problems, and deleting the versions leaves nothing of them behind.
    #[test]
    fn long_mod_files_are_kept_apart_and_go_with_their_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("long.redb")).unwrap();
        let at_limit = "m".repeat(INLINE_MOD_MAX).into_bytes();
        let over = "m".repeat(INLINE_MOD_MAX + 1).into_bytes();
        let zip = b"zip bytes".to_vec();
        for (version, go_mod) in [("v1.0.0", &at_limit), ("v1.1.0", &over)] {
            let key = ("acme", "example.com/long", version);
            put_test_module_with_mod(&store, key, "h1:zip", &zip, go_mod.clone()).unwrap();
            let (_, got) = store
                .get_go_mod("acme", "example.com/long", version)
                .unwrap();
            assert!(got.unwrap() == *go_mod, "{version}");
        }
        let apart = || {
            store
                .read(|txn| Ok(txn.open_table(schema::GO_MODS)?.len()?))
                .unwrap()
        };
        assert_eq!(apart(), 1, "only the longer one is apart");
        let mod_problems = || -> Vec<String> {
            let report = store.verify().unwrap();
            let whats = report.whats();
            whats
                .into_iter()
                .filter(|w| w.contains(".mod"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(mod_problems(), Vec::<String>::new());
        // A `.mod` apart for a version that keeps its own inline, or for none: named.
        write_raw(&store, |txn| {
            let mut mods = txn.open_table(schema::GO_MODS)?;
            mods.insert(("acme", "example.com/long", "v1.0.0"), b"x".as_slice())?;
            mods.insert(("acme", "example.com/long", "v9.0.0"), b"x".as_slice())?;
            Ok(())
        });
        let report = store.verify().unwrap();
        let stray: Vec<&str> = report
            .problems
            .iter()
            .filter(|p| p.what.starts_with(".mod stored apart for a version"))
            .flat_map(|p| p.versions.iter().map(String::as_str))
            .collect();
        assert_eq!(
            stray,
            [
                "acme example.com/long@v1.0.0",
                "acme example.com/long@v9.0.0"
            ]
        );
        write_raw(&store, |txn| {
            let mut mods = txn.open_table(schema::GO_MODS)?;
            mods.remove(("acme", "example.com/long", "v1.0.0"))?;
            mods.remove(("acme", "example.com/long", "v9.0.0"))?;
            Ok(())
        });
        for version in ["v1.0.0", "v1.1.0"] {
            assert!(store
                .delete_version("acme", "example.com/long", version, 0)
                .unwrap());
        }
        assert_eq!(apart(), 0);
        assert_eq!(mod_problems(), Vec::<String>::new());
    }

    /// A schema-3 log whose records do not match its size, or lack a stored hash, is refused,
    /// and the file is left as it was (still schema 3).
    #[test]
    fn a_damaged_schema3_log_is_refused_and_left_as_it_was() {
        for (what, size, ids, hashes) in [
            ("a record missing", 3u64, vec![0u64, 2], true),
            (
                "a record missing, one past the size",
                3,
                vec![0, 2, 3],
                true,
            ),
            ("records past the size", 1, vec![0, 1], true),
            ("records missing at the end", 3, vec![0, 1], true),
            ("a stored hash missing", 2, vec![0, 1], false),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("old.redb");
            {
                let db = redb::Database::create(&path).unwrap();
                let txn = db.begin_write().unwrap();
                {
                    txn.open_table(schema::META)
                        .unwrap()
                        .insert(schema::META_SCHEMA_VERSION, 3u32.to_be_bytes().as_slice())
                        .unwrap();
                    txn.open_table(schema::SUMDB_META)
                        .unwrap()
                        .insert("size", size.to_be_bytes().as_slice())
                        .unwrap();
                    let mut records = txn.open_table(schema::SUMDB_RECORDS).unwrap();
                    let mut stored = txn.open_table(schema::SUMDB_HASHES).unwrap();
                    for &id in &ids {
                        records.insert(id, b"x".as_slice()).unwrap();
                        let first = crate::sumdb::tlog::stored_hash_index(0, id);
                        let count = if hashes { 1 + id.trailing_ones() } else { 0 };
                        for k in 0..u64::from(count) {
                            stored.insert(first + k, &[7u8; 32]).unwrap();
                        }
                    }
                }
                txn.commit().unwrap();
            }
            match Store::open(&path) {
                Err(Error::Corrupt(m)) => assert!(
                    m.contains("checksum database of this file") && m.contains("was not upgraded"),
                    "{what}: {m}"
                ),
                other => panic!("{what}: {other:?}"),
            }
            let db = redb::Database::create(&path).unwrap();
            let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
            let meta = txn.open_table(schema::META).unwrap();
            let found = meta.get(schema::META_SCHEMA_VERSION).unwrap().unwrap();
            assert_eq!(found.value(), 3u32.to_be_bytes(), "{what}");
        }
    }

    #[test]
    fn a_panic_inside_the_guard_is_a_corrupt_error() {
        // The panics' messages go to the test's captured output.
        let from_str = guard_damage::<()>(|| panic!("slice index starts at 9 but ends at 3"));
        let from_string = guard_damage::<()>(|| panic!("{} pages", 7));
        for (got, what) in [
            (from_str, "slice index starts at 9 but ends at 3"),
            (from_string, "7 pages"),
        ] {
            match got {
                Err(Error::Corrupt(m)) => assert!(
                    m.contains(&format!("a page it could not read ({what})")),
                    "{m}"
                ),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(guard_damage(|| Ok(5)).ok(), Some(5));
        assert!(matches!(
            guard_damage::<()>(|| Err(Error::Corrupt("x".into()))),
            Err(Error::Corrupt(m)) if m == "x"
        ));
    }
}
