//! The zip facts of a version (its README, rendered, and its file list) for the module
//! page, and its package documentation: from the memory cache, the database, or the zip
//! itself, read through `BlobCursor`; and `warm_facts`, which stores them after a publish.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::gomod::doc::module::ModuleDocs;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::{BlobReader, Derived, Store, ZipLookup};
use crate::web::docs;
use crate::web::facts::{self, FactsCache, FactsError, Weighed, ZipFacts};

/// A Read + Seek view of a stored blob for the zip reader, keeping the chunk it last read.
pub(super) struct BlobCursor {
    reader: BlobReader,
    pos: u64,
    chunk_start: u64,
    chunk: Vec<u8>,
}

impl BlobCursor {
    pub(super) fn new(reader: BlobReader) -> Self {
        Self {
            reader,
            pos: 0,
            chunk_start: 0,
            chunk: Vec::new(),
        }
    }
}

impl Read for BlobCursor {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let cached_end = self.chunk_start + self.chunk.len() as u64;
        if self.pos < self.chunk_start || self.pos >= cached_end {
            self.chunk.clear();
            self.chunk_start = self.pos;
            self.reader
                .read_at(self.pos, usize::MAX, &mut self.chunk)
                .map_err(std::io::Error::other)?;
            if self.chunk.is_empty() {
                return Ok(0);
            }
        }
        let within = usize::try_from(self.pos - self.chunk_start).unwrap_or(usize::MAX);
        let avail = self.chunk.get(within..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobCursor {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let size = self.reader.size();
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        self.pos = target;
        Ok(target)
    }
}

/// What the UI derives from a version's zip: its README and file list (`ZipFacts`) or its
/// package documentation (`ModuleDocs`).
pub(super) trait Derivable: Weighed + Sized + Send + Sync + 'static {
    const KIND: Derived;
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// The stored form, when worth storing.
    fn stored_form(&self) -> Option<Vec<u8>>;
    fn compute(cursor: BlobCursor, module: &str, prefix: &str) -> Result<Self, FactsError>;
}

impl Derivable for ZipFacts {
    const KIND: Derived = Derived::Facts;
    fn decode(bytes: &[u8]) -> Option<Self> {
        ZipFacts::decode(bytes)
    }
    fn stored_form(&self) -> Option<Vec<u8>> {
        self.worth_storing().then(|| self.encode())
    }
    fn compute(cursor: BlobCursor, _module: &str, prefix: &str) -> Result<Self, FactsError> {
        facts::extract(cursor, prefix)
    }
}

impl Derivable for ModuleDocs {
    const KIND: Derived = Derived::Docs;
    fn decode(bytes: &[u8]) -> Option<Self> {
        ModuleDocs::decode(bytes)
    }
    fn stored_form(&self) -> Option<Vec<u8>> {
        self.worth_storing().then(|| self.encode())
    }
    fn compute(cursor: BlobCursor, module: &str, prefix: &str) -> Result<Self, FactsError> {
        docs::extract(cursor, module, prefix)
    }
}

/// A stored zip: its BLAKE3 (when its record names a well-formed one) and a reader.
pub(super) type OpenZip = (Option<[u8; 32]>, BlobReader);

/// Whose version: a namespace's (hosted) or the pull-through cache's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shelf {
    Hosted(String),
    Cached,
}

impl Shelf {
    /// The owner part of memory cache keys: the namespace, or the LAN's base for the cache
    /// (no namespace has its empty name).
    fn key_owner(&self) -> &str {
        match self {
            Shelf::Hosted(owner) => owner,
            Shelf::Cached => crate::gomod::proxy::LAN,
        }
    }

    /// The BLAKE3 of the version's zip and a reader of it, if it is stored.
    pub(super) fn open(
        &self,
        store: &Store,
        module: &str,
        version: &str,
    ) -> Result<Option<OpenZip>, ApiError> {
        Ok(match self {
            Shelf::Hosted(owner) => match store.open_zip(owner, module, version)? {
                ZipLookup::Found(rec, reader) => Some((parse_id(&rec.blake3), *reader)),
                _ => None,
            },
            Shelf::Cached => store
                .open_cached_zip(module, version)?
                .map(|(rec, reader)| (rec.blake3.as_deref().and_then(parse_id), *reader)),
        })
    }
}

fn parse_id(hex_id: &str) -> Option<[u8; 32]> {
    hex::decode(hex_id).ok().and_then(|b| b.try_into().ok())
}

/// What the UI derived of kind `T` from a version's zip: from the memory cache, else as
/// stored in the database (written at publish by `warm_facts`), else read from the zip once,
/// stored, and cached.
pub(super) fn version_facts<T: Derivable>(
    store: &Store,
    cache: &FactsCache<T>,
    shelf: &Shelf,
    module: &str,
    version: &str,
) -> Result<Option<Arc<T>>, ApiError> {
    through_cache(cache, shelf, module, version, || {
        stored_or_computed::<T>(store, shelf, module, version)
    })
}

/// The memory cache's entry for the version, else what `read` gives, then cached.
fn through_cache<T: Derivable>(
    cache: &FactsCache<T>,
    shelf: &Shelf,
    module: &str,
    version: &str,
    read: impl FnOnce() -> Result<Option<T>, ApiError>,
) -> Result<Option<Arc<T>>, ApiError> {
    let key = (
        shelf.key_owner().to_owned(),
        module.to_owned(),
        version.to_owned(),
    );
    if let Some(f) = cache.get(&key) {
        return Ok(Some(f));
    }
    let Some(facts) = read()? else {
        return Ok(None);
    };
    let facts = Arc::new(facts);
    cache.insert(key, Arc::clone(&facts));
    Ok(Some(facts))
}

fn stored_or_computed<T: Derivable>(
    store: &Store,
    shelf: &Shelf,
    module: &str,
    version: &str,
) -> Result<Option<T>, ApiError> {
    let Some((id, found)) = stored_or_built::<T>(store, shelf, module, version)? else {
        return Ok(None);
    };
    if let (Some(id), Found::Built(Some(bytes), _)) = (&id, &found) {
        // Only a cache: failing to keep it must not fail the page.
        if let Err(e) = store.put_derived(&[(T::KIND, id, bytes.as_slice())]) {
            tracing::warn!("storing what the UI shows of {module}@{version}: {e}");
        }
    }
    Ok(Some(found.into_value()))
}

/// The zip's id (when its record names a well-formed one) and what was found for it.
type Lookup<T> = (Option<[u8; 32]>, Found<T>);

/// What `stored_or_built` found: stored already, or built now (with its stored form when it
/// is worth storing).
enum Found<T> {
    Stored(T),
    Built(Option<Vec<u8>>, T),
}

impl<T> Found<T> {
    fn into_value(self) -> T {
        match self {
            Found::Stored(v) | Found::Built(_, v) => v,
        }
    }
}

/// The zip's id and what is stored of kind `T` for it, else `T` built from the zip; `None`
/// when the version has no zip.
fn stored_or_built<T: Derivable>(
    store: &Store,
    shelf: &Shelf,
    module: &str,
    version: &str,
) -> Result<Option<Lookup<T>>, ApiError> {
    let Some((id, reader)) = shelf.open(store, module, version)? else {
        return Ok(None);
    };
    if let Some(id) = &id {
        // An entry of another format, or damaged, is computed again below.
        if let Some(facts) = store.get_derived(T::KIND, id)?.and_then(|b| T::decode(&b)) {
            return Ok(Some((Some(*id), Found::Stored(facts))));
        }
    }
    let prefix = format!("{module}@{version}/");
    let facts = T::compute(BlobCursor::new(reader), module, &prefix)
        .map_err(|e| ApiError::internal("zip facts", &e))?;
    Ok(Some((id, Found::Built(facts.stored_form(), facts))))
}

/// Builds the README facts and package docs of one version (`goshelf reindex` and the
/// publish path) and stores those worth storing that are not stored yet, in one commit.
///
/// # Errors
/// Storage errors, or a zip that cannot be read.
pub fn index_version(
    store: &Store,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<(), ApiError> {
    let shelf = Shelf::Hosted(owner.to_owned());
    let facts = stored_or_built::<ZipFacts>(store, &shelf, module, version)?;
    let docs = stored_or_built::<ModuleDocs>(store, &shelf, module, version)?;
    let mut puts: Vec<(Derived, &[u8; 32], &[u8])> = Vec::new();
    if let Some((Some(id), Found::Built(Some(bytes), _))) = &facts {
        puts.push((Derived::Facts, id, bytes));
    }
    if let Some((Some(id), Found::Built(Some(bytes), _))) = &docs {
        puts.push((Derived::Docs, id, bytes));
    }
    if !puts.is_empty() {
        store.put_derived(&puts)?;
    }
    Ok(())
}

/// After a publish: reads the new version's README, file list and package docs and stores
/// them in the database, off the request path, so that even the first page view of the
/// version renders nothing large. Nothing is put into the memory caches: nobody may look.
pub fn warm_facts(state: &AppState, owner: String, module: String, version: String) {
    warm(state, move |store| {
        index_version(store, &owner, &module, &version)
            .map_err(|e| format!("reading {module}@{version} for the web UI: {}", e.message))
    });
}

/// Runs `job` on the upload pool, where reading zips is bounded. At most one runs at a time;
/// one asked while another runs is skipped (the page then does the work on its first view).
fn warm(state: &AppState, job: impl FnOnce(&Store) -> Result<(), String> + Send + 'static) {
    use std::sync::atomic::Ordering;
    let ui = Arc::clone(&state.ui);
    if ui
        .warming
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let store = Arc::clone(&state.store);
    state.uploads.spawn(move || {
        if let Err(why) = job(&store) {
            tracing::warn!("{why}");
        }
        ui.warming.store(false, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored blob of `bytes`, through the store as a publish stores a zip; the store and
    /// its directory live as long as the reader is used.
    fn stored(bytes: &[u8]) -> ((tempfile::TempDir, Store), BlobReader) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        crate::store::put_test_version(&store, bytes);
        let ZipLookup::Found(_, reader) =
            store.open_zip("acme", "example.com/m", "v1.0.0").unwrap()
        else {
            panic!("the version was just stored");
        };
        ((dir, store), *reader)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn read_n(cursor: &mut BlobCursor, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        cursor.read_exact(&mut out).unwrap();
        out
    }

    /// Two whole chunks and a tail: reads and seeks give the blob's bytes wherever they start,
    /// across the values it is stored in, in any order.
    #[test]
    fn blob_cursor_reads_and_seeks_like_a_file() {
        let chunk = crate::store::CHUNK_SIZE as usize;
        let bytes = pattern(2 * chunk + 5000);
        let (_store, reader) = stored(&bytes);
        let mut cursor = BlobCursor::new(reader);

        let mut all = Vec::new();
        cursor.read_to_end(&mut all).unwrap();
        assert!(all == bytes, "the whole blob");
        assert_eq!(cursor.stream_position().unwrap(), bytes.len() as u64);

        // Across the end of the first chunk, then back into it.
        let at = chunk - 3;
        assert_eq!(cursor.seek(SeekFrom::Start(at as u64)).unwrap(), at as u64);
        assert_eq!(read_n(&mut cursor, 10), bytes[at..at + 10]);
        assert_eq!(
            cursor.seek(SeekFrom::Current(-20)).unwrap(),
            (at - 10) as u64
        );
        assert_eq!(read_n(&mut cursor, 20), bytes[at - 10..at + 10]);
        // One byte at a time over the second boundary.
        let at = 2 * chunk - 2;
        cursor.seek(SeekFrom::Start(at as u64)).unwrap();
        for (i, b) in bytes.iter().enumerate().skip(at).take(4) {
            assert_eq!(read_n(&mut cursor, 1), [*b], "byte {i}");
        }
        // From the end, as a zip reader looks for the central directory.
        let from_end = cursor.seek(SeekFrom::End(-22)).unwrap();
        assert_eq!(from_end, (bytes.len() - 22) as u64);
        let mut tail = Vec::new();
        cursor.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, bytes[bytes.len() - 22..]);
        // Back to the start after all that.
        cursor.rewind().unwrap();
        assert_eq!(read_n(&mut cursor, 100), bytes[..100]);
    }

    #[test]
    fn blob_cursor_reads_nothing_past_the_end_and_refuses_to_seek_before_the_start() {
        let bytes = pattern(3000);
        let (_store, reader) = stored(&bytes);
        let mut cursor = BlobCursor::new(reader);
        let mut buf = [0u8; 16];

        assert_eq!(cursor.seek(SeekFrom::End(0)).unwrap(), 3000);
        assert_eq!(cursor.read(&mut buf).unwrap(), 0);
        // Beyond the end is a position (as for a file), where nothing is read.
        assert_eq!(cursor.seek(SeekFrom::End(10)).unwrap(), 3010);
        assert_eq!(cursor.read(&mut buf).unwrap(), 0);
        assert_eq!(cursor.seek(SeekFrom::Start(5000)).unwrap(), 5000);
        assert_eq!(cursor.read(&mut buf).unwrap(), 0);

        cursor.seek(SeekFrom::Start(10)).unwrap();
        for bad in [SeekFrom::Current(-11), SeekFrom::End(-3001)] {
            let e = cursor.seek(bad).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
        }
        // A refused seek leaves the position where it was.
        assert_eq!(cursor.stream_position().unwrap(), 10);
        assert_eq!(read_n(&mut cursor, 5), bytes[10..15]);
        // An empty buffer reads nothing and moves nothing.
        assert_eq!(cursor.read(&mut []).unwrap(), 0);
        assert_eq!(cursor.stream_position().unwrap(), 15);
    }
}
