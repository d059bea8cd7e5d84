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

/// Flag in a blob's `chunk` field: the bytes after its whole chunks (the tail) are stored as
/// pieces (`Layout::tail_values`), not as one value. Blobs written before schema 2 lack it and keep one tail
/// value; both are read.
const SPLIT_TAIL: u32 = 1 << 31;

/// redb's page, and the bytes a value leaves free in its allocation for the leaf's header,
/// key (36 bytes) and offsets. A leaf holding one large value is allocated a power-of-two
/// number of pages, so a 40 KB value took 64 KiB and a 70 KB one 128 KiB (measured: 1.64x
/// and 1.87x the stored bytes); pieces sized to fill their allocation waste almost nothing.
const PAGE: u64 = 4096;
const PIECE_OVERHEAD: u64 = 128;

/// How a blob of `size` bytes is cut into values of the `chunks` table: whole chunks of
/// `chunk` bytes, then the tail, as one value (before schema 2) or in pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    size: u64,
    chunk: u64,
    split_tail: bool,
}

impl Layout {
    /// The layout of blobs written now.
    #[must_use]
    pub fn new(size: u64) -> Self {
        Self {
            size,
            chunk: u64::from(CHUNK_SIZE),
            split_tail: true,
        }
    }

    /// The layout a blob record describes: its size and its `chunk` field.
    #[must_use]
    pub fn from_field(size: u64, field: u32) -> Self {
        Self {
            size,
            chunk: u64::from((field & !SPLIT_TAIL).max(1)),
            split_tail: field & SPLIT_TAIL != 0,
        }
    }

    /// The `chunk` field that describes this layout.
    #[must_use]
    pub fn field(&self) -> u32 {
        let chunk = u32::try_from(self.chunk).unwrap_or(CHUNK_SIZE);
        if self.split_tail {
            chunk | SPLIT_TAIL
        } else {
            chunk
        }
    }

    fn whole_chunks(&self) -> u64 {
        self.size / self.chunk
    }

    fn tail(&self) -> u64 {
        self.size % self.chunk
    }

    /// The sizes of every value, in index order; never increasing, so the first is the
    /// largest.
    pub fn pieces(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.whole_chunks())
            .map(|_| self.chunk)
            .chain(self.tail_values())
    }

    /// The sizes of the values after the whole chunks: one value (before schema 2), or pieces
    /// that each fill a power-of-two number of pages less `PIECE_OVERHEAD`, largest first,
    /// then what is left (under one page) as one value. (Cutting that last value smaller was
    /// tried: redb still gave each small value its own leaf page, measured with 40 KB zips, so
    /// it only added values.)
    fn tail_values(&self) -> impl Iterator<Item = u64> {
        let mut left = self.tail();
        let split = self.split_tail;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let piece = if split && left >= PAGE - PIECE_OVERHEAD {
                let mut slot = PAGE;
                while (slot * 2) - PIECE_OVERHEAD <= left {
                    slot *= 2;
                }
                slot - PIECE_OVERHEAD
            } else {
                left
            };
            left -= piece;
            Some(piece)
        })
    }

    /// How many values the blob has.
    #[must_use]
    pub fn count(&self) -> u32 {
        let tail = self.tail_values().count() as u64;
        u32::try_from(self.whole_chunks() + tail).unwrap_or(u32::MAX)
    }

    /// The value holding byte `offset`, and where in it: `(index, within, value size)`;
    /// `None` past the end.
    #[must_use]
    pub fn locate(&self, offset: u64) -> Option<(u32, u64, u64)> {
        if offset >= self.size {
            return None;
        }
        let whole = self.whole_chunks();
        if offset / self.chunk < whole {
            let index = u32::try_from(offset / self.chunk).ok()?;
            return Some((index, offset % self.chunk, self.chunk));
        }
        let mut start = whole * self.chunk;
        let mut index = u32::try_from(whole).ok()?;
        for len in self.tail_values() {
            if offset < start + len {
                return Some((index, offset - start, len));
            }
            start += len;
            index = index.checked_add(1)?;
        }
        None
    }
}

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
    let layout = Layout::new(size);
    // As large as the largest value (the first), and at least one byte for the check that
    // nothing follows: a 2 KiB zip does not zero a whole chunk's buffer.
    let largest = layout.pieces().next().unwrap_or(0).max(1);
    let mut buf = vec![0u8; usize::try_from(largest).unwrap_or(CHUNK_SIZE as usize)];
    let mut written: u64 = 0;
    let mut index: u32 = 0;
    for len in layout.pieces() {
        let piece = buf
            .get_mut(..usize::try_from(len).unwrap_or(usize::MAX))
            .ok_or_else(|| Error::Corrupt(format!("piece of {len} bytes")))?;
        let n = read_full(content, piece)?;
        hasher.update(&piece[..n]);
        written += n as u64;
        if n < piece.len() {
            break;
        }
        chunks.insert((id, index), &*piece)?;
        index = index
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("blob has too many chunks".into()))?;
    }
    // Nothing may follow the declared size.
    let extra = read_full(content, &mut buf[..1])?;
    if extra > 0 || written != size || hasher.finalize().as_bytes() != id {
        return Err(Error::Corrupt(format!(
            "upload spool changed while storing blob {} ({written} of {size} bytes)",
            hex::encode(id)
        )));
    }
    blobs.insert(id, (size, 1, layout.field()))?;
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
    let count = Layout::from_field(size, chunk).count();
    for index in 0..count {
        chunks.remove((id, index))?;
    }
    txn.open_table(schema::ZIP_FACTS)?.remove(id)?;
    Ok(())
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
    layout: Layout,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("id", &hex::encode(self.id))
            .field("size", &self.layout.size)
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
            layout: Layout::from_field(size, chunk),
        }))
    }

    /// Total size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.layout.size
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
        if max == 0 {
            return Ok(bytes::Bytes::new());
        }
        let Some((index, within, _)) = self.layout.locate(offset) else {
            return Ok(bytes::Bytes::new());
        };
        let within =
            usize::try_from(within).map_err(|_| Error::Corrupt("chunk offset overflow".into()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Vec<u64> {
        let c = u64::from(CHUNK_SIZE);
        let mut v = vec![
            0,
            1,
            1023,
            1024,
            1025,
            2147,
            3967,
            3968,
            3969,
            4096,
            8063,
            8064,
            40_000,
            70_000,
            262_015,
            c - 1,
            c,
            c + 1,
            2 * c + 17,
            500 << 20,
        ];
        v.extend((0..64).map(|k| 4096 * k + 77));
        v
    }

    #[test]
    fn pieces_cover_the_blob_and_fill_their_pages() {
        for size in sizes() {
            let layout = Layout::new(size);
            let pieces: Vec<u64> = layout.pieces().collect();
            assert_eq!(pieces.iter().sum::<u64>(), size, "{size}");
            assert_eq!(pieces.len(), layout.count() as usize, "{size}");
            assert!(pieces.iter().all(|&p| p > 0), "{size}: {pieces:?}");
            // add_ref sizes its buffer by the first value.
            assert!(
                pieces.windows(2).all(|w| w[0] >= w[1]),
                "{size}: {pieces:?}"
            );
            let whole = usize::try_from(size / u64::from(CHUNK_SIZE)).unwrap();
            let tail = &pieces[whole..];
            for (i, &p) in tail.iter().enumerate() {
                // A tail piece fills 2^k pages less the overhead; only the last may be less
                // than a page.
                let filled = (p + PIECE_OVERHEAD).is_power_of_two() && p + PIECE_OVERHEAD >= PAGE;
                let last_small = i + 1 == tail.len() && p < PAGE - PIECE_OVERHEAD;
                assert!(filled || last_small, "{size}: piece {p} in {pieces:?}");
            }
            // Pages the values take, each alone in its leaf: the bytes plus at most one page
            // for the last value and 1 KiB for each other (a whole chunk's slack).
            let pages: u64 = pieces
                .iter()
                .map(|&p| (p + PIECE_OVERHEAD).div_ceil(PAGE).next_power_of_two())
                .sum();
            assert!(
                pages * PAGE <= size + PAGE + 1024 * pieces.len() as u64,
                "{size}: {pages} pages for {pieces:?}"
            );
        }
    }

    #[test]
    fn locate_finds_every_byte_in_its_piece() {
        for size in sizes().into_iter().filter(|&s| s < 3 << 20) {
            for layout in [Layout::new(size), Layout::from_field(size, CHUNK_SIZE)] {
                let mut start = 0;
                for (index, len) in layout.pieces().enumerate() {
                    for offset in [start, start + len / 2, start + len - 1] {
                        assert_eq!(
                            layout.locate(offset),
                            Some((index as u32, offset - start, len)),
                            "{layout:?} at {offset}"
                        );
                    }
                    start += len;
                }
                assert_eq!(start, size);
                assert_eq!(layout.locate(size), None);
            }
        }
    }

    #[test]
    fn the_field_tells_the_two_layouts_apart() {
        let c = u64::from(CHUNK_SIZE);
        for size in sizes() {
            let new = Layout::new(size);
            assert_eq!(Layout::from_field(size, new.field()), new);
            // Before schema 2: whole chunks and one tail value.
            let old = Layout::from_field(size, CHUNK_SIZE);
            assert_eq!(old.count(), u32::try_from(size.div_ceil(c)).unwrap());
            let old_pieces: Vec<u64> = old.pieces().collect();
            assert_eq!(old_pieces.iter().sum::<u64>(), size);
            assert!(old_pieces.iter().all(|&p| p <= c && p > 0));
        }
        assert_eq!(Layout::new(70_000).field(), CHUNK_SIZE | SPLIT_TAIL);
    }
}
