//! The zip facts of a version (its README, rendered, and its file list) for the module
//! page: from the memory cache, the database, or the zip itself, read through `BlobCursor`;
//! and `warm_facts`, which stores them after a publish.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::{BlobReader, Store, ZipLookup};
use crate::web::facts::{self, FactsCache, ZipFacts};

/// A Read + Seek view of a stored blob for the zip reader, keeping the chunk it last read.
struct BlobCursor {
    reader: BlobReader,
    pos: u64,
    chunk_start: u64,
    chunk: Vec<u8>,
}

impl BlobCursor {
    fn new(reader: BlobReader) -> Self {
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

/// The zip facts of a version: from the memory cache, else as stored in the database
/// (`ZIP_FACTS`, written at publish by `warm_facts`), else read from the zip once, stored
/// when they hold a rendered README, and cached.
pub(super) fn version_facts(
    store: &Store,
    cache: &FactsCache,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<Option<Arc<ZipFacts>>, ApiError> {
    let key = (owner.to_owned(), module.to_owned(), version.to_owned());
    if let Some(f) = cache.get(&key) {
        return Ok(Some(f));
    }
    let Some(facts) = stored_or_computed_facts(store, owner, module, version)? else {
        return Ok(None);
    };
    let facts = Arc::new(facts);
    cache.insert(key, Arc::clone(&facts));
    Ok(Some(facts))
}

fn stored_or_computed_facts(
    store: &Store,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<Option<ZipFacts>, ApiError> {
    let ZipLookup::Found(rec, reader) = store.open_zip(owner, module, version)? else {
        return Ok(None);
    };
    let id: Option<[u8; 32]> = hex::decode(&rec.blake3)
        .ok()
        .and_then(|b| b.try_into().ok());
    if let Some(id) = &id {
        // An entry of another format, or damaged, is computed again below.
        if let Some(facts) = store.get_zip_facts(id)?.and_then(|b| ZipFacts::decode(&b)) {
            return Ok(Some(facts));
        }
    }
    let prefix = format!("{module}@{version}/");
    let facts = facts::extract(BlobCursor::new(*reader), &prefix)
        .map_err(|e| ApiError::internal("zip facts", &e))?;
    if let (Some(id), true) = (&id, facts.worth_storing()) {
        // Only a cache: failing to keep it must not fail the page.
        if let Err(e) = store.put_zip_facts(id, &facts.encode()) {
            tracing::warn!("storing the README of {module}@{version}: {e}");
        }
    }
    Ok(Some(facts))
}

/// After a publish: reads the new version's README and file list and stores them (rendered)
/// in the database, off the request path, so that even the first page view of the version
/// does not render a large README. At most one runs at a time; a publish that finds one
/// running skips it (the page then computes the facts on its first view). The facts are not
/// put into the memory cache: nobody may look.
pub fn warm_facts(state: &AppState, owner: String, module: String, version: String) {
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
        if let Err(e) = stored_or_computed_facts(&store, &owner, &module, &version) {
            tracing::warn!("reading {module}@{version} for the web UI: {}", e.message);
        }
        ui.warming.store(false, Ordering::Release);
    });
}
