//! Ingest: a module zip from wherever it comes (an upload, the pull-through cache; `goshelf
//! import` next) into the store, with no HTTP in it.
//!
//! 1. **Spool**: the bytes go to a file beside the database ([`Spool`]), or stay in memory
//!    when the zip is small (`SMALL_SPOOL`, within a `SpoolBudget`), hashed with BLAKE3 and
//!    capped as they are appended.
//! 2. **Early refusal**: a version the namespace holds already is refused from the zip's first
//!    entry ([`existing`]), before the rest of it is read.
//! 3. **Validation**: the go command's rules and the registry's policy ([`validate`]); costly
//!    in CPU and memory by the zip's entries, so callers bound how many run at once.
//! 4. **Publish**: one durable transaction ([`publish`]); storing reads the zip again from
//!    the spool, 64 KiB at a time.
//!
//! A spool file is removed when the [`Spool`] is dropped, and leftovers of a crash at the
//! next start ([`clean_stale_spools`]). Every refusal is an [`Error`] with a domain name;
//! `http::error` alone turns it into a status and a text.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::gomod::zip::{self, ZipError, ZipSummary};
use crate::store::{self, NewVersion, Store, VersionLookup};

/// Why a zip was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing was sent.
    #[error("empty body: send the module zip as the request body")]
    Empty,
    /// More bytes than the limit (`max_upload`).
    #[error("upload larger than the limit of {max} bytes")]
    TooLarge { max: u64 },
    /// The zip breaks a rule of the go command or of the registry.
    #[error("invalid module zip: {0}")]
    Zip(ZipError),
    /// The store refused (the version exists, a quota, the checksum database) or failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Writing or reading the spool file failed (a full disk among others).
    #[error("upload spool: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether the disk is full: nothing was stored.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io(e) => e.kind() == std::io::ErrorKind::StorageFull,
            Error::Store(e) => e.is_disk_full(),
            _ => false,
        }
    }
}

impl From<ZipError> for Error {
    fn from(e: ZipError) -> Self {
        match e {
            // The spool, not the zip, failed to be read.
            ZipError::Io(message) => Error::Io(std::io::Error::other(message)),
            other => Error::Zip(other),
        }
    }
}

/// The largest zip a spool holds in memory. Most modules' zips are a few KiB: kept in memory,
/// their upload writes nothing but the database's own commit (no spool file made, written and
/// unlinked: on an SD card, a file's creation and removal cost journal blocks of their own).
/// The bytes of an upload are gathered in memory up to `http::upload`'s step of 256 KiB
/// anyway; what this changes is that a small one stays there until it is stored.
pub const SMALL_SPOOL: usize = 64 << 10;

/// The memory all in-memory spools may hold at once, in shares of `SMALL_SPOOL` (a
/// semaphore's permits, taken without waiting): past it, a small zip goes to a file like a
/// large one (uploads waiting for a validation turn keep their bytes, so their number alone
/// does not bound this memory).
#[derive(Debug)]
pub struct SpoolBudget {
    shares: std::sync::Arc<tokio::sync::Semaphore>,
    total: usize,
}

impl SpoolBudget {
    /// A budget of `bytes` (whole shares of `SMALL_SPOOL`; fewer than one: none in memory).
    #[must_use]
    pub fn new(bytes: usize) -> std::sync::Arc<Self> {
        let total = bytes / SMALL_SPOOL;
        std::sync::Arc::new(Self {
            shares: std::sync::Arc::new(tokio::sync::Semaphore::new(total)),
            total,
        })
    }

    /// The budget for the memory the process may use: 8 MiB (128 small zips at once) from
    /// 1 GiB up, less in proportion below, 1 MiB at least.
    #[must_use]
    pub fn for_memory(memory: Option<u64>) -> std::sync::Arc<Self> {
        Self::new(Self::bytes_for(memory))
    }

    /// The bytes `for_memory` gives.
    #[must_use]
    pub fn bytes_for(memory: Option<u64>) -> usize {
        crate::memory::scaled(8 << 20, 1 << 20, memory)
    }

    /// Shares not taken.
    #[must_use]
    pub fn free(&self) -> usize {
        self.shares.available_permits()
    }

    /// Shares in all.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// A share, given back when dropped; `None` when all are taken.
    fn take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        std::sync::Arc::clone(&self.shares).try_acquire_owned().ok()
    }
}

/// A zip on its way in, with the size and BLAKE3 of what was appended: in memory while it is
/// small (`Spool::start`), else a file beside the database, removed when dropped.
pub struct Spool {
    place: Place,
    /// Where a file for it goes: beside this database file.
    db: PathBuf,
    size: u64,
    max: u64,
    hasher: blake3::Hasher,
}

enum Place {
    /// At most `SMALL_SPOOL` bytes, holding one share of the budget until it is dropped.
    Memory {
        held: Vec<u8>,
        _share: tokio::sync::OwnedSemaphorePermit,
    },
    File(SpoolFile),
}

/// A spool file, removed when dropped.
struct SpoolFile {
    path: PathBuf,
    file: std::fs::File,
}

impl SpoolFile {
    /// Creates `<db file>.upload-<random>` beside the database (private to the server's user).
    fn create(db: &Path) -> std::io::Result<Self> {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(SPOOL_INFIX);
        name.push(hex::encode(rand::random::<[u8; 8]>()));
        let path = db.with_file_name(name);
        let file = store::private_file_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self { path, file })
    }

    /// Up to `want` bytes from `offset`, by position (no handle's offset moves).
    fn piece(&self, offset: u64, want: usize) -> std::io::Result<bytes::Bytes> {
        let mut buf = vec![0; want];
        let mut got = 0;
        while got < want {
            let at = offset + got as u64;
            #[cfg(unix)]
            let n = std::os::unix::fs::FileExt::read_at(&self.file, &mut buf[got..], at)?;
            #[cfg(windows)]
            let n = std::os::windows::fs::FileExt::seek_read(&self.file, &mut buf[got..], at)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf.into())
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!("removing spool file {}: {e}", self.path.display());
        }
    }
}

impl Spool {
    /// A spool file `<db file>.upload-<random>` beside the database, taking at most `max`
    /// bytes.
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn create(db: &Path, max: u64) -> std::io::Result<Self> {
        let file = SpoolFile::create(db)?;
        Ok(Self::with(Place::File(file), db, max))
    }

    /// A spool taking at most `max` bytes that starts in memory, with a share of `budget`,
    /// when `expected` (the body's announced length, if any) is at most `SMALL_SPOOL` and a
    /// share is free; it moves to a file (`create`) when it grows past `SMALL_SPOOL`, and
    /// otherwise starts there.
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn start(
        db: &Path,
        max: u64,
        expected: Option<u64>,
        budget: &SpoolBudget,
    ) -> std::io::Result<Self> {
        let small = expected.is_none_or(|n| n <= SMALL_SPOOL as u64);
        match budget.take().filter(|_| small) {
            Some(share) => Ok(Self::with(
                Place::Memory {
                    held: Vec::new(),
                    _share: share,
                },
                db,
                max,
            )),
            None => Self::create(db, max),
        }
    }

    fn with(place: Place, db: &Path, max: u64) -> Self {
        Self {
            place,
            db: db.to_path_buf(),
            size: 0,
            max,
            hasher: blake3::Hasher::new(),
        }
    }

    /// Appends `bytes` (one write; callers gather small pieces first). A spool in memory
    /// that would pass `SMALL_SPOOL` moves to a file first, giving its share back.
    ///
    /// # Errors
    /// `TooLarge` past the limit (nothing of `bytes` is written then); I/O errors.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let size = self.size + bytes.len() as u64;
        if size > self.max {
            return Err(Error::TooLarge { max: self.max });
        }
        if matches!(&self.place, Place::Memory { .. }) && size > SMALL_SPOOL as u64 {
            let mut file = SpoolFile::create(&self.db)?;
            if let Place::Memory { held, .. } = &self.place {
                file.file.write_all(held)?;
            }
            self.place = Place::File(file);
        }
        match &mut self.place {
            Place::Memory { held, .. } => held.extend_from_slice(bytes),
            Place::File(f) => f.file.write_all(bytes)?,
        }
        self.hasher.update(bytes);
        self.size = size;
        Ok(())
    }

    /// Bytes appended.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The most bytes it takes.
    #[must_use]
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The file holding its bytes; `None` while they are in memory.
    #[cfg(test)]
    fn file(&self) -> Option<&Path> {
        match &self.place {
            Place::Memory { .. } => None,
            Place::File(f) => Some(&f.path),
        }
    }

    /// The BLAKE3 of what was appended.
    #[must_use]
    pub fn id(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }

    /// Up to `want` bytes from `offset` (fewer only at the end), read without moving any
    /// reader: one spool may be served and stored at once (the pull-through cache answers a
    /// verified zip from its spool while storing it).
    ///
    /// # Errors
    /// I/O errors reading the file.
    pub fn piece(&self, offset: u64, want: usize) -> std::io::Result<bytes::Bytes> {
        let held = match &self.place {
            Place::Memory { held, .. } => held,
            Place::File(f) => return f.piece(offset, want),
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(held.len());
        let end = start.saturating_add(want).min(held.len());
        Ok(bytes::Bytes::copy_from_slice(&held[start..end]))
    }

    /// The spool from its start, through a reader of its own (a file's own handle, buffered
    /// with `capacity` bytes), so that other readers may read it at the same time (`piece`).
    fn own_reader(&self, capacity: usize) -> std::io::Result<SpoolReader<'_>> {
        Ok(match &self.place {
            Place::Memory { held, .. } => {
                SpoolReader::Memory(std::io::Cursor::new(held.as_slice()))
            }
            Place::File(f) => SpoolReader::Own(BufReader::with_capacity(
                capacity,
                std::fs::File::open(&f.path)?,
            )),
        })
    }

    /// The spool from its start; a file's is buffered with `capacity` bytes.
    fn reader(&mut self, capacity: usize) -> std::io::Result<SpoolReader<'_>> {
        Ok(match &mut self.place {
            Place::Memory { held, .. } => {
                SpoolReader::Memory(std::io::Cursor::new(held.as_slice()))
            }
            Place::File(f) => {
                f.file.seek(SeekFrom::Start(0))?;
                SpoolReader::File(BufReader::with_capacity(capacity, &mut f.file))
            }
        })
    }
}

/// A spool read from its start.
enum SpoolReader<'a> {
    Memory(std::io::Cursor<&'a [u8]>),
    File(BufReader<&'a mut std::fs::File>),
    /// Through a handle of its own (`Spool::own_reader`).
    Own(BufReader<std::fs::File>),
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Memory(c) => c.read(buf),
            Self::File(f) => f.read(buf),
            Self::Own(f) => f.read(buf),
        }
    }
}

impl Seek for SpoolReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Self::Memory(c) => c.seek(pos),
            Self::File(f) => f.seek(pos),
            Self::Own(f) => f.seek(pos),
        }
    }
}

/// What a spool file's name has between the database's name and its random part.
const SPOOL_INFIX: &str = ".upload-";

/// Removes spool files left by a crash, at startup.
pub fn clean_stale_spools(db: &Path) {
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(SPOOL_INFIX);
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("removed stale upload spool {}", entry.path().display()),
                Err(e) => tracing::warn!("removing {}: {e}", entry.path().display()),
            }
        }
    }
}

/// The `path@version` the spooled zip claims, when namespace `owner` holds it already: the
/// store's `VersionExists`. A zip whose first entry cannot be read is left to [`validate`]
/// to refuse.
///
/// # Errors
/// I/O errors reading the spool; storage errors.
pub fn existing(store: &Store, spool: &mut Spool, owner: &str) -> Result<Option<Error>, Error> {
    let Ok((module, version)) = zip::read_prefix(spool.reader(8 << 10)?) else {
        return Ok(None);
    };
    Ok(match store.get_version(owner, &module, &version)? {
        VersionLookup::Found(_) => Some(Error::Store(store::Error::VersionExists {
            module,
            version,
        })),
        _ => None,
    })
}

/// Validates the spooled zip: the `path@version` its first entry claims, then every rule
/// (`gomod::zip::validate`).
///
/// # Errors
/// `Empty`; `Zip` for a zip that breaks a rule; I/O errors reading the spool.
pub fn validate(spool: &mut Spool) -> Result<ZipSummary, Error> {
    let size = spool.size;
    if size == 0 {
        return Err(Error::Empty);
    }
    let mut reader = spool.reader(8 << 10)?;
    let (path, version) = zip::read_prefix(&mut reader)?;
    reader.seek(SeekFrom::Start(0))?;
    Ok(zip::validate(reader, size, &path, &version)?)
}

/// What was published, as the upload's `201` answers it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Published {
    pub module: String,
    pub version: String,
    pub h1: String,
    pub go_mod_h1: String,
    pub size: u64,
}

/// Stores the validated version `summary` of the spooled zip in namespace `owner`, in one
/// durable transaction (logged in the checksum database with it, when that namespace is).
///
/// # Errors
/// The store's refusals (`VersionExists`, quotas, the checksum database's rules) and
/// failures; I/O errors reading the spool.
pub fn publish(
    store: &Store,
    spool: &mut Spool,
    summary: &ZipSummary,
    owner: &str,
    uploader: &str,
) -> Result<Published, Error> {
    let new = NewVersion {
        owner,
        summary,
        blake3: spool.id(),
        size: spool.size,
        uploader,
        time: store::now_unix(),
    };
    let size = spool.size;
    let mut reader = spool.reader(1 << 16)?;
    store.put_version(&new, &mut reader)?;
    Ok(Published {
        module: summary.path.as_str().to_owned(),
        version: summary.version.as_str().to_owned(),
        h1: summary.h1.clone(),
        go_mod_h1: summary.mod_h1.clone(),
        size,
    })
}

/// Adds the validated spooled zip to the cached version `module@version` (the pull-through
/// cache) with go.sum hash `h1`, deduplicated with every stored zip; not durable on its own
/// (`store::cached`).
///
/// # Errors
/// The store's failures; I/O errors reading the spool.
pub fn cache(
    store: &Store,
    spool: &Spool,
    module: &str,
    version: &str,
    h1: &str,
) -> Result<store::CachedRecord, Error> {
    let id = spool.id();
    let size = spool.size;
    let mut reader = spool.own_reader(1 << 16)?;
    Ok(store.cache_put_zip(module, version, (id, size, h1), &mut reader)?)
}

/// A module zip holding only `go.mod` (`module <path>`), for the unit tests of the store and
/// the ingest pipeline.
#[cfg(test)]
pub(crate) fn zip_bytes(path: &str, version: &str) -> Vec<u8> {
    padded_zip_bytes(path, version, 0)
}

/// `zip_bytes` with, when `pad` > 0, a stored file of `pad` bytes of noise beside the go.mod
/// (so the zip is at least that long and spans chunks when `pad` is large).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn padded_zip_bytes(path: &str, version: &str, pad: usize) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = ::zip::ZipWriter::new(&mut out);
    let opts = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Stored);
    w.start_file(format!("{path}@{version}/go.mod"), opts)
        .unwrap();
    w.write_all(format!("module {path}\n").as_bytes()).unwrap();
    if pad > 0 {
        w.start_file(format!("{path}@{version}/data.bin"), opts)
            .unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..pad)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        w.write_all(&noise).unwrap();
    }
    w.finish().unwrap();
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooled(dir: &Path, bytes: &[u8], max: u64) -> Spool {
        let mut spool = Spool::create(&dir.join("g.redb"), max).unwrap();
        spool.append(bytes).unwrap();
        spool
    }

    #[test]
    fn a_spool_caps_hashes_and_removes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(&dir.path().join("g.redb"), 5).unwrap();
        spool.append(b"abc").unwrap();
        assert!(matches!(
            spool.append(b"def"),
            Err(Error::TooLarge { max: 5 })
        ));
        spool.append(b"de").unwrap();
        assert_eq!(spool.size(), 5);
        assert_eq!(spool.max(), 5);
        assert_eq!(
            spool.hasher.finalize(),
            blake3::hash(b"abcde"),
            "the refused piece is not hashed"
        );
        let path = spool.file().unwrap().to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcde");
        drop(spool);
        assert!(!path.exists());
    }

    /// The files in `dir` whose names mark them as spools.
    fn spool_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(SPOOL_INFIX))
            .collect()
    }

    #[test]
    fn a_small_zip_stays_in_memory_and_a_growing_one_moves_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.redb");
        let budget = SpoolBudget::new(2 * SMALL_SPOOL);
        assert_eq!((budget.total(), budget.free()), (2, 2));
        let mut small = Spool::start(&db, 1 << 20, Some(100), &budget).unwrap();
        small.append(&[1; 100]).unwrap();
        assert!(small.file().is_none());
        assert_eq!(budget.free(), 1, "a spool in memory holds a share");
        assert!(
            spool_files(dir.path()).is_empty(),
            "no file for a small zip"
        );
        // Up to SMALL_SPOOL in all it stays; one byte more moves it, bytes and all.
        small.append(&vec![2; SMALL_SPOOL - 100]).unwrap();
        assert!(small.file().is_none());
        small.append(&[3]).unwrap();
        let path = small.file().unwrap().to_path_buf();
        assert_eq!(
            budget.free(),
            2,
            "the share is given back when the bytes move"
        );
        let mut want = vec![1; 100];
        want.extend(vec![2; SMALL_SPOOL - 100]);
        want.push(3);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(small.size(), want.len() as u64);
        assert_eq!(small.hasher.finalize(), blake3::hash(&want));
        let mut read = Vec::new();
        small.reader(4096).unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, want);
        drop(small);
        assert!(!path.exists());
        // An announced length over the limit, or no share left: a file from the start.
        let big = Spool::start(&db, 1 << 20, Some(SMALL_SPOOL as u64 + 1), &budget).unwrap();
        assert!(big.file().is_some());
        assert_eq!(budget.free(), 2);
        let held: Vec<Spool> = (0..2)
            .map(|_| Spool::start(&db, 1 << 20, None, &budget).unwrap())
            .collect();
        assert!(held.iter().all(|s| s.file().is_none()));
        let third = Spool::start(&db, 1 << 20, Some(10), &budget).unwrap();
        assert!(third.file().is_some(), "the budget is spent");
        drop(held);
        assert_eq!(budget.free(), 2, "dropped spools give their shares back");
        // The limit holds in memory too.
        let mut capped = Spool::start(&db, 5, Some(5), &budget).unwrap();
        capped.append(b"abc").unwrap();
        assert!(matches!(
            capped.append(b"def"),
            Err(Error::TooLarge { max: 5 })
        ));
        assert_eq!(capped.size(), 3);
    }

    #[test]
    fn the_budget_follows_the_memory_the_process_may_use() {
        assert_eq!(SpoolBudget::bytes_for(None), 8 << 20);
        assert_eq!(SpoolBudget::bytes_for(Some(256 << 20)), 2 << 20);
        assert_eq!(SpoolBudget::bytes_for(Some(16 << 20)), 1 << 20);
        assert_eq!(SpoolBudget::for_memory(Some(256 << 20)).total(), 32);
        assert_eq!(SpoolBudget::new(SMALL_SPOOL - 1).total(), 0);
    }

    #[test]
    fn a_spool_is_read_by_position_while_a_reader_of_its_own_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.redb");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let budget = SpoolBudget::new(SMALL_SPOOL);
        let mut small = Spool::start(&db, 1 << 20, None, &budget).unwrap();
        small.append(&bytes[..1000]).unwrap();
        assert!(small.file().is_none());
        let big = spooled(dir.path(), &bytes, 1 << 20);
        assert!(big.file().is_some());
        for (spool, want) in [(&small, &bytes[..1000]), (&big, &bytes[..])] {
            let n = want.len();
            assert_eq!(spool.id(), *blake3::hash(want).as_bytes());
            let mut reader = spool.own_reader(64).unwrap();
            let mut read = Vec::new();
            let mut buf = [0u8; 700];
            loop {
                // A positional read between every read of the reader moves nothing.
                assert_eq!(spool.piece(7, 3).unwrap().as_ref(), &want[7..10]);
                let got = reader.read(&mut buf).unwrap();
                if got == 0 {
                    break;
                }
                read.extend_from_slice(&buf[..got]);
            }
            assert_eq!(read, want);
            assert_eq!(spool.piece(0, n + 10).unwrap().as_ref(), want);
            assert_eq!(
                spool.piece(n as u64 - 5, 100).unwrap().as_ref(),
                &want[n - 5..]
            );
            assert!(spool.piece(n as u64, 10).unwrap().is_empty());
            assert!(spool.piece(n as u64 + 100, 10).unwrap().is_empty());
        }
    }

    #[test]
    fn a_zip_held_in_memory_is_validated_and_published_like_a_spooled_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.redb");
        let store = Store::open(&db).unwrap();
        let bytes = zip_bytes("example.com/m", "v1.0.0");
        let budget = SpoolBudget::new(SMALL_SPOOL);
        let mut spool = Spool::start(&db, 1 << 20, None, &budget).unwrap();
        spool.append(&bytes).unwrap();
        assert!(spool.file().is_none());
        assert!(existing(&store, &mut spool, "acme").unwrap().is_none());
        let summary = validate(&mut spool).unwrap();
        let published = publish(&store, &mut spool, &summary, "acme", "admin").unwrap();
        assert_eq!(published.size, bytes.len() as u64);
        assert!(spool_files(dir.path()).is_empty());
        let mut again = Spool::start(&db, 1 << 20, None, &budget).unwrap();
        again.append(&bytes).unwrap();
        assert!(matches!(
            existing(&store, &mut again, "acme").unwrap(),
            Some(Error::Store(store::Error::VersionExists { .. }))
        ));
        let store::ZipLookup::Found(_, zip) =
            store.open_zip("acme", "example.com/m", "v1.0.0").unwrap()
        else {
            panic!("the version was just published");
        };
        let mut stored = Vec::new();
        zip.read_at(0, bytes.len() + 1, &mut stored).unwrap();
        assert_eq!(stored, bytes);
    }

    #[test]
    fn stale_spools_of_this_database_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.redb");
        for name in ["g.redb.upload-1234", "g.redb", "other.redb.upload-1"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        clean_stale_spools(&db);
        assert!(!dir.path().join("g.redb.upload-1234").exists());
        assert!(dir.path().join("g.redb").exists());
        assert!(dir.path().join("other.redb.upload-1").exists());
    }

    #[test]
    fn a_zip_is_validated_published_and_refused_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let bytes = zip_bytes("example.com/m", "v1.0.0");
        let mut spool = spooled(dir.path(), &bytes, 1 << 20);
        assert!(existing(&store, &mut spool, "acme").unwrap().is_none());
        let summary = validate(&mut spool).unwrap();
        let published = publish(&store, &mut spool, &summary, "acme", "admin").unwrap();
        assert_eq!(published.module, "example.com/m");
        assert_eq!(published.size, bytes.len() as u64);
        assert_eq!(published.h1, summary.h1);
        let mut again = spooled(dir.path(), &bytes, 1 << 20);
        let found = existing(&store, &mut again, "acme").unwrap();
        assert!(
            matches!(
                found,
                Some(Error::Store(store::Error::VersionExists { .. }))
            ),
            "{found:?}"
        );
        // Another namespace may hold the same version.
        assert!(existing(&store, &mut again, "beta").unwrap().is_none());
    }

    #[test]
    fn empty_and_broken_zips_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut empty = Spool::create(&dir.path().join("g.redb"), 10).unwrap();
        assert!(matches!(validate(&mut empty), Err(Error::Empty)));
        let mut junk = spooled(dir.path(), b"not a zip at all", 1 << 20);
        assert!(matches!(validate(&mut junk), Err(Error::Zip(_))));
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        assert!(existing(&store, &mut junk, "acme").unwrap().is_none());
    }

    /// A full disk is told apart (507, nothing stored) whether the spool or the store met it.
    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        use std::io::ErrorKind;
        let io = |kind: ErrorKind| std::io::Error::from(kind);
        assert!(Error::Io(io(ErrorKind::StorageFull)).is_disk_full());
        assert!(!Error::Io(io(ErrorKind::PermissionDenied)).is_disk_full());
        assert!(Error::Store(store::Error::Io(io(ErrorKind::StorageFull))).is_disk_full());
        assert!(!Error::Store(store::Error::Io(io(ErrorKind::NotFound))).is_disk_full());
        assert!(!Error::TooLarge { max: 1 }.is_disk_full());
        assert!(!Error::Empty.is_disk_full());
    }
}
