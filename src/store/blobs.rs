//! Content-addressed zip blobs: stored once per BLAKE3, in chunks, with a reference count.
//!
//! Neither writing nor reading ever holds more than one chunk of a blob in memory.

use std::io::Read;
use std::sync::Arc;

use redb::{ReadOnlyTable, ReadableTable, WriteTransaction};

use super::{schema, Error, Result};

/// Bytes per chunk. A little under 256 KiB, so that a chunk and its B-tree leaf overhead fit
/// one 256 KiB redb page allocation instead of spilling into a 512 KiB one.
pub const CHUNK_SIZE: u32 = 255 * 1024;

/// Adds one reference to blob `id`, writing it from `content` when it is new.
///
/// `content` must yield exactly `size` bytes whose BLAKE3 is `id`; anything else aborts the
/// transaction with `Error::Corrupt` (the spool file changed under us).
pub(super) fn add_ref(
    txn: &WriteTransaction,
    id: &[u8; 32],
    size: u64,
    content: &mut dyn Read,
) -> Result<()> {
    let mut blobs = txn.open_table(schema::BLOBS)?;
    let existing = blobs.get(id)?.map(|g| g.value());
    if let Some((stored_size, refs, chunk)) = existing {
        if stored_size != size {
            return Err(Error::Corrupt(format!(
                "blob {} has size {stored_size}, expected {size}",
                hex::encode(id)
            )));
        }
        blobs.insert(id, (stored_size, refs + 1, chunk))?;
        return Ok(());
    }
    let mut chunks = txn.open_table(schema::CHUNKS)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    let mut written: u64 = 0;
    let mut index: u32 = 0;
    loop {
        let n = read_full(content, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        chunks.insert((id, index), &buf[..n])?;
        written += n as u64;
        index = index
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("blob has too many chunks".into()))?;
        if n < buf.len() {
            break;
        }
    }
    if written != size || hasher.finalize().as_bytes() != id {
        return Err(Error::Corrupt(format!(
            "upload spool changed while storing blob {} ({written} of {size} bytes)",
            hex::encode(id)
        )));
    }
    blobs.insert(id, (size, 1, CHUNK_SIZE))?;
    Ok(())
}

/// Drops one reference to blob `id`; frees its chunks when none is left.
pub(super) fn release(txn: &WriteTransaction, id: &[u8; 32]) -> Result<()> {
    let mut blobs = txn.open_table(schema::BLOBS)?;
    let Some((size, refs, chunk)) = blobs.get(id)?.map(|g| g.value()) else {
        return Err(Error::Corrupt(format!(
            "blob {} is missing",
            hex::encode(id)
        )));
    };
    if refs > 1 {
        blobs.insert(id, (size, refs - 1, chunk))?;
        return Ok(());
    }
    blobs.remove(id)?;
    let mut chunks = txn.open_table(schema::CHUNKS)?;
    let count = chunk_count(size, chunk);
    for index in 0..count {
        chunks.remove((id, index))?;
    }
    txn.open_table(schema::ZIP_FACTS)?.remove(id)?;
    Ok(())
}

fn chunk_count(size: u64, chunk: u32) -> u32 {
    let chunk = u64::from(chunk.max(1));
    u32::try_from(size.div_ceil(chunk)).unwrap_or(u32::MAX)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads one blob from a read-transaction snapshot: the bytes stay readable even if the
/// version is deleted meanwhile.
pub struct BlobReader {
    chunks: Arc<ChunkTable>,
    id: [u8; 32],
    size: u64,
    chunk: u32,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("id", &hex::encode(self.id))
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    pub(super) fn open(txn: &redb::ReadTransaction, id: &[u8; 32]) -> Result<Option<Self>> {
        let blobs = txn.open_table(schema::BLOBS)?;
        let Some((size, _refs, chunk)) = blobs.get(id)?.map(|g| g.value()) else {
            return Ok(None);
        };
        let chunks = Arc::new(txn.open_table(schema::CHUNKS)?);
        Ok(Some(Self {
            chunks,
            id: *id,
            size,
            chunk,
        }))
    }

    /// Total size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends to `out` the bytes of `[offset, offset + max)` that lie in the chunk holding
    /// `offset`; returns how many were appended (0 at the end).
    ///
    /// # Errors
    /// A missing or short chunk is `Error::Corrupt`.
    pub fn read_at(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> Result<usize> {
        let bytes = self.bytes_at(offset, max)?;
        out.extend_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// The bytes of `[offset, offset + max)` that lie in the chunk holding `offset` (empty at
    /// the end), without copying them: the `Bytes` keeps the database page they are on.
    ///
    /// Serving a zip this way spares one copy per byte and one chunk-sized allocation per
    /// step (measured in BENCHMARKS.md). The page stays in memory until the last `Bytes` of it
    /// is dropped, i.e. until the socket took it; the snapshot it belongs to does not.
    ///
    /// # Errors
    /// A missing or short chunk is `Error::Corrupt`.
    pub fn bytes_at(&self, offset: u64, max: usize) -> Result<bytes::Bytes> {
        if offset >= self.size || max == 0 {
            return Ok(bytes::Bytes::new());
        }
        let chunk = u64::from(self.chunk.max(1));
        let index = u32::try_from(offset / chunk)
            .map_err(|_| Error::Corrupt("chunk index overflow".into()))?;
        let within = usize::try_from(offset % chunk)
            .map_err(|_| Error::Corrupt("chunk offset overflow".into()))?;
        let guard = self.chunks.get((&self.id, index))?.ok_or_else(|| {
            Error::Corrupt(format!("blob {} lacks chunk {index}", hex::encode(self.id)))
        })?;
        let len = guard.value().len();
        if within >= len {
            return Err(Error::Corrupt(format!(
                "blob {} chunk {index} is short",
                hex::encode(self.id)
            )));
        }
        let end = len.min(within.saturating_add(max));
        let owner = ChunkGuard {
            guard,
            _snapshot: Arc::clone(&self.chunks),
        };
        Ok(bytes::Bytes::from_owner(owner).slice(within..end))
    }
}

type ChunkTable = ReadOnlyTable<(&'static [u8; 32], u32), &'static [u8]>;

/// A chunk as read from the database, owned: it holds the page the bytes are on, and the
/// read snapshot that page belongs to. The snapshot matters: redb reuses a freed page only
/// once no snapshot that can see it is alive, and it rewrites a page in place in its cache
/// (`Arc::get_mut`), so a page must never outlive its snapshot while we still read it.
struct ChunkGuard {
    guard: redb::AccessGuard<'static, &'static [u8]>,
    _snapshot: Arc<ChunkTable>,
}

impl AsRef<[u8]> for ChunkGuard {
    fn as_ref(&self) -> &[u8] {
        self.guard.value()
    }
}
