//! Content-addressed zip blobs: stored once per BLAKE3, in chunks, with a reference count.
//!
//! Neither writing nor reading ever holds more than one chunk of a blob in memory.

use std::io::Read;
use std::sync::Arc;

use redb::{ReadOnlyTable, ReadableTable, WriteTransaction};

use super::{packs, schema, Error, Result};

/// Bytes per chunk. A little under 256 KiB, so that a chunk and its B-tree leaf overhead fit
/// one 256 KiB redb page allocation instead of spilling into a 512 KiB one.
pub const CHUNK_SIZE: u32 = 255 * 1024;

/// Flag in a blob's `chunk` field: the bytes after its whole chunks (the tail) are stored as
/// pieces (`Layout::tail_values`), not as one value. Blobs written before schema 2 lack it
/// and keep one tail value; both are read.
const SPLIT_TAIL: u32 = 1 << 31;

/// Flag in a blob's `chunk` field: what is left after the tail's page-sized pieces (under one
/// page) is in the pack stream (`packs`), at the position its record holds, not a value of its
/// own. Set on blobs written since schema 3.
const PACKED_TAIL: u32 = 1 << 30;

/// redb's page, and the bytes a value leaves free in its allocation for the leaf's header,
/// key (36 bytes) and offsets. A leaf holding one large value is allocated a power-of-two
/// number of pages, so a 40 KB value took 64 KiB and a 70 KB one 128 KiB (measured: 1.64x
/// and 1.87x the stored bytes); pieces sized to fill their allocation waste almost nothing.
pub(super) const PAGE: u64 = 4096;
const PIECE_OVERHEAD: u64 = 128;

/// How a blob of `size` bytes is cut into values of the `chunks` table: whole chunks of
/// `chunk` bytes, then the tail, as one value (before schema 2) or in pieces, the last of
/// which, under one page, is packed (since schema 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    size: u64,
    chunk: u64,
    split_tail: bool,
    packed: bool,
}

/// Where a byte of a blob is (`Layout::locate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In `chunks` value `index` of `len` bytes, at `within`.
    Chunk { index: u32, within: u64, len: u64 },
    /// In the packed bytes, at `within` from their start.
    Packed { within: u64 },
}

impl Layout {
    /// The layout of blobs written now.
    #[must_use]
    pub fn new(size: u64) -> Self {
        Self {
            size,
            chunk: u64::from(CHUNK_SIZE),
            split_tail: true,
            packed: true,
        }
    }

    /// The layout a blob record describes: its size and its `chunk` field.
    #[must_use]
    pub fn from_field(size: u64, field: u32) -> Self {
        Self {
            size,
            chunk: u64::from((field & !(SPLIT_TAIL | PACKED_TAIL)).max(1)),
            split_tail: field & SPLIT_TAIL != 0,
            packed: field & PACKED_TAIL != 0,
        }
    }

    /// The `chunk` field that describes this layout.
    #[must_use]
    pub fn field(&self) -> u32 {
        let mut field = u32::try_from(self.chunk).unwrap_or(CHUNK_SIZE);
        if self.split_tail {
            field |= SPLIT_TAIL;
        }
        if self.packed {
            field |= PACKED_TAIL;
        }
        field
    }

    fn whole_chunks(&self) -> u64 {
        self.size / self.chunk
    }

    fn tail(&self) -> u64 {
        self.size % self.chunk
    }

    /// The sizes of every `chunks` value, in index order; never increasing, so the first is
    /// the largest. With the packed bytes, they make the whole blob.
    pub fn pieces(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.whole_chunks())
            .map(|_| self.chunk)
            .chain(self.tail_values())
    }

    /// How many of the blob's last bytes are packed: what is left of the tail after its
    /// page-sized pieces, under one page; 0 for blobs written before schema 3.
    #[must_use]
    pub fn packed_len(&self) -> u64 {
        if self.packed {
            self.tail() - self.tail_values().sum::<u64>()
        } else {
            0
        }
    }

    /// The sizes of the `chunks` values after the whole chunks: one value (before schema 2),
    /// or pieces that each fill a power-of-two number of pages less `PIECE_OVERHEAD`, largest
    /// first, then what is left (under one page): one value before schema 3, packed since.
    /// (Cutting that last value smaller was tried first: redb still gave each small value its
    /// own leaf page, measured with 40 KB zips, so it only added values.)
    fn tail_values(&self) -> impl Iterator<Item = u64> {
        let mut left = self.tail();
        let (split, packed) = (self.split_tail, self.packed);
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
            } else if packed {
                return None;
            } else {
                left
            };
            left -= piece;
            Some(piece)
        })
    }

    /// How many `chunks` values the blob has.
    #[must_use]
    pub fn count(&self) -> u32 {
        let tail = self.tail_values().count() as u64;
        u32::try_from(self.whole_chunks() + tail).unwrap_or(u32::MAX)
    }

    /// Where byte `offset` is; `None` past the end.
    #[must_use]
    pub fn locate(&self, offset: u64) -> Option<Place> {
        if offset >= self.size {
            return None;
        }
        let packed_from = self.size - self.packed_len();
        if offset >= packed_from {
            return Some(Place::Packed {
                within: offset - packed_from,
            });
        }
        let whole = self.whole_chunks();
        if offset / self.chunk < whole {
            let index = u32::try_from(offset / self.chunk).ok()?;
            return Some(Place::Chunk {
                index,
                within: offset % self.chunk,
                len: self.chunk,
            });
        }
        let mut start = whole * self.chunk;
        let mut index = u32::try_from(whole).ok()?;
        for len in self.tail_values() {
            if offset < start + len {
                return Some(Place::Chunk {
                    index,
                    within: offset - start,
                    len,
                });
            }
            start += len;
            index = index.checked_add(1)?;
        }
        None
    }
}

/// A blob's record in the blob store (`schema::BLOB_STORE`, key `blob_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRecord {
    /// The zip's size in bytes.
    pub size: u64,
    /// Versions (and cached versions) that hold it.
    pub refs: u64,
    /// The chunk field (`Layout::field`).
    pub chunk: u32,
    /// Where its packed bytes are in the pack stream: 0 when none are, `LOST` when a damaged
    /// older file had lost it.
    pub packed_at: u64,
}

/// Bytes of an encoded `BlobRecord`.
const RECORD_LEN: usize = 28;

impl BlobRecord {
    /// Size, references and packed position as u64, the chunk field as u32, little-endian.
    #[must_use]
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(&self.size.to_le_bytes());
        out[8..16].copy_from_slice(&self.refs.to_le_bytes());
        out[16..20].copy_from_slice(&self.chunk.to_le_bytes());
        out[20..].copy_from_slice(&self.packed_at.to_le_bytes());
        out
    }

    /// The record `encode` wrote.
    ///
    /// # Errors
    /// A value of another length is `Error::Corrupt`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let fixed: &[u8; RECORD_LEN] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt(format!("a blob record of {} bytes", bytes.len())))?;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fixed[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let mut chunk = [0u8; 4];
        chunk.copy_from_slice(&fixed[16..20]);
        Ok(Self {
            size: u64_at(0),
            refs: u64_at(8),
            chunk: u32::from_le_bytes(chunk),
            packed_at: u64_at(20),
        })
    }

    /// How its bytes are cut (`Layout::from_field`).
    pub(super) fn layout(&self) -> Layout {
        Layout::from_field(self.size, self.chunk)
    }
}

/// The tag of blob records' keys in the blob store.
const TAG: u8 = b'b';

/// The blob store's key of blob `id`'s record.
#[must_use]
pub fn blob_key(id: &[u8; 32]) -> [u8; 33] {
    let mut key = [TAG; 33];
    key[1..].copy_from_slice(id);
    key
}

/// The blob id of a blob store key, if it is a blob record's.
#[must_use]
pub fn id_of(key: &[u8]) -> Option<[u8; 32]> {
    match key {
        [TAG, rest @ ..] => rest.try_into().ok(),
        _ => None,
    }
}

/// Every blob record of the blob store, in id order (`range` bounds).
#[must_use]
pub fn all_keys() -> std::ops::Range<&'static [u8]> {
    &[TAG][..]..&[TAG + 1][..]
}

/// Blob `id`'s record in the blob store `store`.
///
/// # Errors
/// Storage errors, or a malformed record.
pub fn record<T: ReadableTable<&'static [u8], &'static [u8]>>(
    store: &T,
    id: &[u8; 32],
) -> Result<Option<BlobRecord>> {
    match store.get(blob_key(id).as_slice())? {
        Some(g) => BlobRecord::decode(g.value()).map(Some),
        None => Ok(None),
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
    let mut store = txn.open_table(schema::BLOB_STORE)?;
    let key = blob_key(id);
    if let Some(rec) = record(&store, id)? {
        if rec.size != size {
            return Err(Error::Corrupt(format!(
                "blob {} has size {}, expected {size}",
                hex::encode(id),
                rec.size
            )));
        }
        let rec = BlobRecord {
            refs: rec.refs + 1,
            ..rec
        };
        store.insert(key.as_slice(), rec.encode().as_slice())?;
        return Ok(());
    }
    let mut chunks = txn.open_table(schema::CHUNKS)?;
    let mut hasher = blake3::Hasher::new();
    let layout = Layout::new(size);
    let packed_len = layout.packed_len();
    let mut written: u64 = 0;
    let mut index: u32 = 0;
    let mut short = false;
    let mut packed_at = 0;
    // Chunk values are read from the spool straight into the space redb reserves for them.
    // redb fills a reservation from a zeroed vector of its own, so it is not copy-free, but
    // the zeroes come from fresh pages, which is cheaper than copying our buffer's bytes
    // (perf/ingest.py, five alternating pairs: 4-10 MiB/s faster in each).
    for len in layout.pieces() {
        let len = usize::try_from(len)
            .map_err(|_| Error::Corrupt(format!("{len} bytes to store at once")))?;
        let mut slot = chunks.insert_reserve((id, index), len)?;
        if fill(content, slot.as_mut(), &mut hasher, &mut written)? < len {
            // The transaction is aborted: the half-filled value is never seen.
            short = true;
            break;
        }
        drop(slot);
        index = index
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("blob has too many chunks".into()))?;
    }
    if packed_len > 0 && !short {
        let len = usize::try_from(packed_len)
            .map_err(|_| Error::Corrupt(format!("{packed_len} bytes to pack")))?;
        let mut packed = vec![0u8; len];
        if fill(content, &mut packed, &mut hasher, &mut written)? == packed.len() {
            packed_at = packs::append(&mut store, &packed)?;
        }
    }
    // Nothing may follow the declared size.
    let extra = read_full(content, &mut [0u8; 1])?;
    if extra > 0 || written != size || hasher.finalize().as_bytes() != id {
        return Err(Error::Corrupt(format!(
            "upload spool changed while storing blob {} ({written} of {size} bytes)",
            hex::encode(id)
        )));
    }
    let rec = BlobRecord {
        size,
        refs: 1,
        chunk: layout.field(),
        packed_at,
    };
    store.insert(key.as_slice(), rec.encode().as_slice())?;
    Ok(())
}

/// The position a migrated blob gets when its packed bytes' position was lost (a damaged
/// older file): reading the blob fails (`lacks_packed`) instead of reading another blob's
/// bytes, and releasing it releases nothing in the pack stream (its bytes there stay counted
/// as live, which `verify` keeps reporting for that pack record).
pub(super) const LOST: u64 = u64::MAX;

/// A blob whose layout packs bytes has lost their position (`LOST`).
fn lacks_packed(id: &[u8; 32]) -> Error {
    Error::Corrupt(format!("blob {} lacks its packed bytes", hex::encode(id)))
}

/// Moves the blob records of schema 3 or older (`BLOBS`, and `PACKED` for the position of
/// packed bytes) into `BLOB_RECORDS` (schema 4's), and removes the old tables. Part of the
/// transaction that marks the file current (`Store::open`), before `migrate_store`.
pub(super) fn migrate(txn: &WriteTransaction) -> Result<()> {
    {
        let mut records = txn.open_table(schema::BLOB_RECORDS)?;
        let packed = txn.open_table(schema::PACKED)?;
        for item in txn.open_table(schema::BLOBS)?.iter()? {
            let (k, v) = item?;
            let (size, refs, chunk) = v.value();
            let at = if Layout::from_field(size, chunk).packed_len() > 0 {
                packed.get(k.value())?.map_or(LOST, |g| g.value())
            } else {
                0
            };
            records.insert(k.value(), (size, refs, chunk, at))?;
        }
    }
    txn.delete_table(schema::BLOBS)?;
    txn.delete_table(schema::PACKED)?;
    Ok(())
}

/// Moves schema 4's blob records (`BLOB_RECORDS`) and pack stream (`PACKS`, records of
/// `PACK_DATA_V4` bytes) into the blob store (schema 5), and removes the old tables. Each
/// blob's packed bytes are appended to the new stream (records of `PACK_DATA`, whose keys are
/// longer) and get a new position; the live counts follow from the appends, and what no blob
/// held is left behind. A blob whose position was lost keeps `LOST`, and so does one whose
/// packed bytes are missing or short (a damaged file): reading it fails as it did, `verify`
/// names it, and the file still opens. Part of the transaction that marks the file 5
/// (`Store::open`).
pub(super) fn migrate_store(txn: &WriteTransaction) -> Result<()> {
    {
        let mut store = txn.open_table(schema::BLOB_STORE)?;
        let old_packs = txn.open_table(schema::PACKS)?;
        for item in txn.open_table(schema::BLOB_RECORDS)?.iter()? {
            let (k, v) = item?;
            let id = k.value();
            let (size, refs, chunk, old_at) = v.value();
            let len = Layout::from_field(size, chunk).packed_len();
            let packed_at = if len == 0 || old_at == LOST {
                old_at
            } else if len >= PAGE {
                // Packed bytes are under one page; more is a damaged chunk field, not bytes
                // to gather from the old stream.
                LOST
            } else {
                let mut bytes = Vec::new();
                for (r, at, n) in packs::spans_in(packs::PACK_DATA_V4, old_at, len) {
                    let Some(g) = old_packs.get(r)? else { break };
                    let part = usize::try_from(at)
                        .ok()
                        .zip(usize::try_from(at + n).ok())
                        .and_then(|(a, b)| packs::data(g.value()).get(a..b));
                    match part {
                        Some(part) => bytes.extend_from_slice(part),
                        None => break,
                    }
                }
                if bytes.len() as u64 == len {
                    packs::append(&mut store, &bytes)?
                } else {
                    LOST
                }
            };
            let rec = BlobRecord {
                size,
                refs,
                chunk,
                packed_at,
            };
            store.insert(blob_key(id).as_slice(), rec.encode().as_slice())?;
        }
    }
    txn.delete_table(schema::BLOB_RECORDS)?;
    txn.delete_table(schema::PACKS)?;
    Ok(())
}

/// Fills `dest` from `content`, hashing and counting the bytes; returns how many were read,
/// fewer than `dest.len()` only at the content's end.
fn fill(
    content: &mut dyn Read,
    dest: &mut [u8],
    hasher: &mut blake3::Hasher,
    written: &mut u64,
) -> Result<usize> {
    let n = read_full(content, dest)?;
    hasher.update(&dest[..n]);
    *written += n as u64;
    Ok(n)
}

/// Drops one reference to blob `id`; frees its chunks when none is left.
pub(super) fn release(txn: &WriteTransaction, id: &[u8; 32]) -> Result<()> {
    let mut store = txn.open_table(schema::BLOB_STORE)?;
    let key = blob_key(id);
    let Some(rec) = record(&store, id)? else {
        return Err(Error::Corrupt(format!(
            "blob {} is missing",
            hex::encode(id)
        )));
    };
    if rec.refs > 1 {
        let rec = BlobRecord {
            refs: rec.refs - 1,
            ..rec
        };
        store.insert(key.as_slice(), rec.encode().as_slice())?;
        return Ok(());
    }
    store.remove(key.as_slice())?;
    let mut chunks = txn.open_table(schema::CHUNKS)?;
    let layout = rec.layout();
    for index in 0..layout.count() {
        chunks.remove((id, index))?;
    }
    if layout.packed_len() > 0 && rec.packed_at != LOST {
        packs::release(&mut store, rec.packed_at, layout.packed_len())?;
    }
    txn.open_table(schema::ZIP_FACTS)?.remove(id)?;
    txn.open_table(schema::DOC_FACTS)?.remove(id)?;
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
    /// `None` when the blob has no `chunks` values (all of it is packed).
    chunks: Option<Arc<ChunkTable>>,
    /// The blob store (for its pack stream) and the packed bytes' position in it, when some
    /// are packed.
    packed: Option<(Arc<StoreTable>, u64)>,
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

/// Where a blob's bytes are stored: its layout and the position of its packed bytes. Stable
/// for as long as the blob is stored: chunks are keyed by the blob's id, and the pack stream
/// only grows (a position is never given twice, and a record keeps its released bytes until
/// it goes). A site read after the blob is gone finds its values missing, or its own bytes
/// still there, never another blob's (`BlobReader::at_site`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobSite {
    pub id: [u8; 32],
    layout: Layout,
    packed_at: u64,
}

impl BlobSite {
    /// The blob's size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.layout.size
    }

    /// A site for a blob of `size` bytes never stored (for tests of what keeps sites).
    #[cfg(test)]
    #[must_use]
    pub fn unstored(id: [u8; 32], size: u64) -> Self {
        Self {
            id,
            layout: Layout::new(size),
            packed_at: 0,
        }
    }
}

impl BlobReader {
    pub(super) fn open(txn: &redb::ReadTransaction, id: &[u8; 32]) -> Result<Option<Self>> {
        let store = txn.open_table(schema::BLOB_STORE)?;
        let Some(rec) = record(&store, id)? else {
            return Ok(None);
        };
        let (layout, packed_at) = (rec.layout(), rec.packed_at);
        if layout.packed_len() > 0 && packed_at == LOST {
            return Err(lacks_packed(id));
        }
        Self::at_site(
            txn,
            BlobSite {
                id: *id,
                layout,
                packed_at,
            },
        )
        .map(Some)
    }

    /// A reader of the blob at `site` (from `site` of an earlier reader), without looking the
    /// blob up again: what a read of its bytes finds missing, the blob has lost since (it was
    /// deleted), and reading it is an error.
    pub(super) fn at_site(txn: &redb::ReadTransaction, site: BlobSite) -> Result<Self> {
        let BlobSite {
            id,
            layout,
            packed_at,
        } = site;
        let chunks = if layout.count() > 0 {
            Some(Arc::new(txn.open_table(schema::CHUNKS)?))
        } else {
            None
        };
        let packed = if layout.packed_len() > 0 {
            Some((Arc::new(txn.open_table(schema::BLOB_STORE)?), packed_at))
        } else {
            None
        };
        Ok(Self {
            chunks,
            packed,
            id,
            layout,
        })
    }

    /// Where this blob's bytes are (for `at_site`).
    #[must_use]
    pub fn site(&self) -> BlobSite {
        BlobSite {
            id: self.id,
            layout: self.layout,
            packed_at: self.packed.as_ref().map_or(0, |(_, at)| *at),
        }
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

    /// The bytes of `[offset, offset + max)` that lie in the value holding `offset` (a chunk,
    /// or a pack record; empty at the end), without copying them: the `Bytes` keeps the
    /// database page they are on.
    ///
    /// Serving a zip this way spares one copy per byte and one chunk-sized allocation per
    /// step (measured in BENCHMARKS.md). The page stays in memory until the last `Bytes` of it
    /// is dropped, i.e. until the socket took it; the snapshot it belongs to does not.
    ///
    /// # Errors
    /// A missing or short chunk or pack record is `Error::Corrupt`.
    pub fn bytes_at(&self, offset: u64, max: usize) -> Result<bytes::Bytes> {
        if max == 0 {
            return Ok(bytes::Bytes::new());
        }
        let max = max as u64;
        match self.layout.locate(offset) {
            None => Ok(bytes::Bytes::new()),
            Some(Place::Chunk { index, within, .. }) => {
                let chunks = self.chunks.as_ref().ok_or_else(|| self.lacks("chunks"))?;
                let guard = chunks
                    .get((&self.id, index))?
                    .ok_or_else(|| self.lacks(&format!("chunk {index}")))?;
                let len = guard.value().len() as u64;
                if within >= len {
                    return Err(self.lacks(&format!("the end of chunk {index}")));
                }
                let end = len.min(within.saturating_add(max));
                slice(guard, chunks, within, end)
            }
            Some(Place::Packed { within }) => {
                let (store, pos) = self.packed.as_ref().ok_or_else(|| self.lacks("packs"))?;
                let left = self.layout.packed_len() - within;
                let at = pos
                    .checked_add(within)
                    .ok_or_else(|| self.lacks("a packed position in range"))?;
                let Some((record, at, n)) = packs::spans(at, left).next() else {
                    return Ok(bytes::Bytes::new());
                };
                let guard = store
                    .get(packs::pack_key(record).as_slice())?
                    .ok_or_else(|| self.lacks(&format!("pack record {record}")))?;
                if (packs::data(guard.value()).len() as u64) < at + n {
                    return Err(self.lacks(&format!("the end of pack record {record}")));
                }
                let start = packs::HEADER as u64 + at;
                slice(guard, store, start, start + n.min(max))
            }
        }
    }

    fn lacks(&self, what: &str) -> Error {
        Error::Corrupt(format!("blob {} lacks {what}", hex::encode(self.id)))
    }
}

/// `guard`'s bytes `[start, end)`, owned: the `Bytes` keeps the guard and its snapshot.
fn slice<T: Send + Sync + 'static>(
    guard: redb::AccessGuard<'static, &'static [u8]>,
    snapshot: &Arc<T>,
    start: u64,
    end: u64,
) -> Result<bytes::Bytes> {
    let range = usize::try_from(start).map_err(|_| Error::Corrupt("offset overflow".into()))?
        ..usize::try_from(end).map_err(|_| Error::Corrupt("offset overflow".into()))?;
    let owner = ValueGuard {
        guard,
        _snapshot: Arc::clone(snapshot),
    };
    Ok(bytes::Bytes::from_owner(owner).slice(range))
}

type ChunkTable = ReadOnlyTable<(&'static [u8; 32], u32), &'static [u8]>;
type StoreTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A chunk or pack record as read from the database, owned: it holds the page the bytes are
/// on, and the read snapshot that page belongs to. The snapshot matters: redb reuses a freed
/// page only once no snapshot that can see it is alive, and it rewrites a page in place in its
/// cache (`Arc::get_mut`), so a page must never outlive its snapshot while we still read it.
struct ValueGuard<T> {
    guard: redb::AccessGuard<'static, &'static [u8]>,
    _snapshot: Arc<T>,
}

impl<T> AsRef<[u8]> for ValueGuard<T> {
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

    /// The layouts of every schema, for one size: 1 (one tail value), 2 (tail pieces, the
    /// last under a page), 3 (tail pieces, the rest packed).
    fn layouts(size: u64) -> [Layout; 3] {
        [
            Layout::from_field(size, CHUNK_SIZE),
            Layout::from_field(size, CHUNK_SIZE | SPLIT_TAIL),
            Layout::new(size),
        ]
    }

    #[test]
    fn pieces_cover_the_blob_and_fill_their_pages() {
        for size in sizes() {
            let layout = Layout::new(size);
            let pieces: Vec<u64> = layout.pieces().collect();
            let packed = layout.packed_len();
            assert_eq!(pieces.iter().sum::<u64>() + packed, size, "{size}");
            assert!(packed < PAGE - PIECE_OVERHEAD, "{size}: {packed} packed");
            assert_eq!(pieces.len(), layout.count() as usize, "{size}");
            assert!(pieces.iter().all(|&p| p > 0), "{size}: {pieces:?}");
            // Whole chunks first, then the tail pieces, largest first.
            assert!(
                pieces.windows(2).all(|w| w[0] >= w[1]),
                "{size}: {pieces:?}"
            );
            let whole = usize::try_from(size / u64::from(CHUNK_SIZE)).unwrap();
            // Every tail piece fills 2^k pages less the overhead; the rest is packed.
            for &p in &pieces[whole..] {
                let filled = (p + PIECE_OVERHEAD).is_power_of_two() && p + PIECE_OVERHEAD >= PAGE;
                assert!(filled, "{size}: piece {p} in {pieces:?}");
            }
            // Pages the values take, each alone in its leaf: the bytes plus 1 KiB for each
            // whole chunk (its slack) and at most 128 bytes for each other.
            let pages: u64 = pieces
                .iter()
                .map(|&p| (p + PIECE_OVERHEAD).div_ceil(PAGE).next_power_of_two())
                .sum();
            assert!(
                pages * PAGE + packed <= size + 1024 * pieces.len() as u64,
                "{size}: {pages} pages for {pieces:?}"
            );
        }
        assert_eq!(Layout::new(2147).count(), 0);
        assert_eq!(Layout::new(2147).packed_len(), 2147);
        assert_eq!(Layout::new(3968).packed_len(), 0);
        assert_eq!(Layout::new(3969).packed_len(), 1);
    }

    #[test]
    fn layouts_before_schema_3_pack_nothing() {
        for size in sizes() {
            let [one, two, _] = layouts(size);
            for layout in [one, two] {
                assert_eq!(layout.packed_len(), 0, "{layout:?}");
                assert_eq!(layout.pieces().sum::<u64>(), size, "{layout:?}");
            }
            // Schema 2: only its last tail value may be under a page.
            let tail: Vec<u64> = two
                .pieces()
                .skip(usize::try_from(size / u64::from(CHUNK_SIZE)).unwrap())
                .collect();
            for (i, &p) in tail.iter().enumerate() {
                let filled = (p + PIECE_OVERHEAD).is_power_of_two() && p + PIECE_OVERHEAD >= PAGE;
                assert!(filled || i + 1 == tail.len(), "{size}: {tail:?}");
            }
        }
    }

    #[test]
    fn locate_finds_every_byte_in_its_place() {
        for size in sizes().into_iter().filter(|&s| s < 3 << 20) {
            for layout in layouts(size) {
                let mut start = 0;
                for (index, len) in layout.pieces().enumerate() {
                    for offset in [start, start + len / 2, start + len - 1] {
                        let place = Place::Chunk {
                            index: index as u32,
                            within: offset - start,
                            len,
                        };
                        assert_eq!(layout.locate(offset), Some(place), "{layout:?} at {offset}");
                    }
                    start += len;
                }
                let packed = layout.packed_len();
                if packed > 0 {
                    for within in [0, packed / 2, packed - 1] {
                        assert_eq!(
                            layout.locate(start + within),
                            Some(Place::Packed { within }),
                            "{layout:?}"
                        );
                    }
                }
                assert_eq!(start + packed, size);
                assert_eq!(layout.locate(size), None);
            }
        }
    }

    #[test]
    fn the_field_tells_the_layouts_apart() {
        let c = u64::from(CHUNK_SIZE);
        for size in sizes() {
            for layout in layouts(size) {
                assert_eq!(Layout::from_field(size, layout.field()), layout);
            }
            // Before schema 2: whole chunks and one tail value.
            let old = Layout::from_field(size, CHUNK_SIZE);
            assert_eq!(old.count(), u32::try_from(size.div_ceil(c)).unwrap());
            assert!(old.pieces().all(|p| p <= c && p > 0));
        }
        assert_eq!(
            Layout::new(70_000).field(),
            CHUNK_SIZE | SPLIT_TAIL | PACKED_TAIL
        );
    }

    #[test]
    fn the_tail_pieces_are_the_format_of_schema_3() {
        // Worked by hand from the rule (each piece the largest power-of-two pages less 128
        // that fits what is left, the rest under a page packed): a reader of older files
        // computes the same cut from the size alone, so it may never change.
        let c = u64::from(CHUNK_SIZE);
        for (size, pieces, packed) in [
            (2000, vec![], 2000),
            (8100, vec![8064], 36),
            (12_365, vec![8064, 3968], 333),
            (70_000, vec![65_408, 3968], 624),
            (2 * c + 17, vec![c, c], 17),
        ] {
            let layout = Layout::new(size);
            assert_eq!(layout.pieces().collect::<Vec<_>>(), pieces, "size {size}");
            assert_eq!(layout.packed_len(), packed, "size {size}");
        }
    }

    /// The blob store's two kinds of keys: blob records first, in id order, then the pack
    /// records in number order; each key reads back as what it was made from, and a record's
    /// value as the record.
    #[test]
    fn blob_and_pack_keys_keep_apart_and_in_order() {
        let ids = [[0u8; 32], [1u8; 32], [0xFF; 32]];
        let mut keys: Vec<Vec<u8>> = ids.iter().map(|id| blob_key(id).to_vec()).collect();
        keys.extend([0u64, 1, 255, 256, u64::MAX].map(|r| packs::pack_key(r).to_vec()));
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "blobs by id, then packs by number");
        for id in ids {
            let key = blob_key(&id);
            assert_eq!(id_of(&key), Some(id));
            assert_eq!(packs::record_of(&key), None);
            assert!(all_keys().contains(&&key[..]));
            assert!(!packs::all_keys().contains(&&key[..]));
        }
        for r in [0u64, 7, u64::MAX] {
            let key = packs::pack_key(r);
            assert_eq!(packs::record_of(&key), Some(r));
            assert_eq!(id_of(&key), None);
            assert!(packs::all_keys().contains(&&key[..]));
            assert!(!all_keys().contains(&&key[..]));
        }
        assert_eq!(id_of(&blob_key(&[3; 32])[..32]), None, "too short");
        assert_eq!(packs::record_of(b"p1234567"), None, "too short");
        let rec = BlobRecord {
            size: 1 << 40,
            refs: 3,
            chunk: SPLIT_TAIL | PACKED_TAIL | 17,
            packed_at: LOST,
        };
        assert_eq!(BlobRecord::decode(&rec.encode()).unwrap(), rec);
        for bad in [&rec.encode()[..27], &[0u8; 29][..], &[][..]] {
            assert!(matches!(BlobRecord::decode(bad), Err(Error::Corrupt(_))));
        }
    }

    /// A fresh redb file of its own.
    fn fresh_db() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("b.redb")).unwrap();
        (dir, db)
    }

    fn content(size: u64) -> Vec<u8> {
        (0..size).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// The blob `id` as stored: its reference count, `chunks` values and packed position.
    fn stored(txn: &WriteTransaction, id: &[u8; 32]) -> (Option<u64>, usize, Option<u64>) {
        let record = record(&txn.open_table(schema::BLOB_STORE).unwrap(), id).unwrap();
        let chunks = txn
            .open_table(schema::CHUNKS)
            .unwrap()
            .range((id, 0)..=(id, u32::MAX))
            .unwrap()
            .count();
        (record.map(|r| r.refs), chunks, record.map(|r| r.packed_at))
    }

    /// The live bytes the pack stream's records count, in all.
    fn live_packed(txn: &WriteTransaction) -> u64 {
        let store = txn.open_table(schema::BLOB_STORE).unwrap();
        let live = store
            .range(packs::all_keys())
            .unwrap()
            .map(|e| u64::from(packs::live(e.unwrap().1.value()).unwrap()))
            .sum();
        live
    }

    #[test]
    fn a_blob_stays_until_its_last_reference_goes() {
        let c = u64::from(CHUNK_SIZE);
        for size in [2000, 8192 - 128, 70_000, 2 * c + 17] {
            let (_dir, db) = fresh_db();
            let bytes = content(size);
            let id = *blake3::hash(&bytes).as_bytes();
            let layout = Layout::new(size);
            let txn = db.begin_write().unwrap();
            // Another blob first, so that its packed bytes do not start the pack stream.
            let other = vec![9u8; 1000];
            add_ref(
                &txn,
                blake3::hash(&other).as_bytes(),
                1000,
                &mut other.as_slice(),
            )
            .unwrap();
            // Read through a reader that is interrupted before every other read.
            for _ in 0..3 {
                let mut slow = crate::gomod::zip::rawzip::Interrupted::new(bytes.as_slice());
                add_ref(&txn, &id, size, &mut slow).unwrap();
            }
            // And one after, so that its packed bytes do not end the stream either.
            let after = vec![8u8; 500];
            add_ref(
                &txn,
                blake3::hash(&after).as_bytes(),
                500,
                &mut after.as_slice(),
            )
            .unwrap();
            let (refs, chunks, packed) = stored(&txn, &id);
            assert_eq!(refs, Some(3), "size {size}");
            assert_eq!(chunks as u32, layout.count(), "size {size}");
            // Another blob's bytes start the stream: a packed blob's position is past them.
            assert_eq!(
                packed.is_some_and(|at| at > 0),
                layout.packed_len() > 0,
                "size {size}"
            );
            txn.commit().unwrap();
            for left in [2, 1] {
                let txn = db.begin_write().unwrap();
                release(&txn, &id).unwrap();
                assert_eq!(stored(&txn, &id).0, Some(left), "size {size}");
                txn.commit().unwrap();
                let read = redb::ReadableDatabase::begin_read(&db).unwrap();
                let reader = BlobReader::open(&read, &id).unwrap().unwrap();
                assert_eq!(reader.site().size(), size);
                let mut got = Vec::new();
                while reader.read_at(got.len() as u64, 1 << 20, &mut got).unwrap() > 0 {}
                assert!(got == bytes, "size {size}: the bytes read back differ");
            }
            let txn = db.begin_write().unwrap();
            // The pack stream counts the three blobs' packed bytes live, then the two others'.
            assert_eq!(live_packed(&txn), 1500 + layout.packed_len(), "size {size}");
            release(&txn, &id).unwrap();
            assert_eq!(
                stored(&txn, &id),
                (None, 0, None),
                "size {size}: all of it goes"
            );
            assert_eq!(
                live_packed(&txn),
                1500,
                "size {size}: its packed bytes are released"
            );
            assert!(
                matches!(release(&txn, &id), Err(Error::Corrupt(_))),
                "a missing blob cannot be released"
            );
        }
    }

    #[test]
    fn content_that_is_not_the_announced_blob_is_refused() {
        let c = u64::from(CHUNK_SIZE);
        for size in [2000, 8192 - 128, 70_000, 2 * c + 17] {
            let bytes = content(size);
            let id = *blake3::hash(&bytes).as_bytes();
            let n = bytes.len();
            let mut flipped = bytes.clone();
            flipped[n / 2] ^= 1;
            let mut longer = bytes.clone();
            longer.push(0);
            for (what, wrong) in [
                ("one byte short", &bytes[..n - 1]),
                ("half of it", &bytes[..n / 2]),
                ("one byte more", &longer[..]),
                ("one byte changed", &flipped[..]),
            ] {
                let (_dir, db) = fresh_db();
                let txn = db.begin_write().unwrap();
                assert!(
                    matches!(
                        add_ref(&txn, &id, size, &mut &wrong[..]),
                        Err(Error::Corrupt(_))
                    ),
                    "size {size}, {what}: accepted"
                );
            }
            // A read error is the reader's, not corruption.
            let (_dir, db) = fresh_db();
            let txn = db.begin_write().unwrap();
            let mut failing = crate::gomod::zip::rawzip::Failing::at(bytes.clone(), (n / 2) as u64);
            assert!(matches!(
                add_ref(&txn, &id, size, &mut failing),
                Err(Error::Io(e)) if e.to_string() == "disk on fire"
            ));
            // A second reference must announce the stored size.
            let (_dir, db) = fresh_db();
            let txn = db.begin_write().unwrap();
            add_ref(&txn, &id, size, &mut bytes.as_slice()).unwrap();
            assert!(matches!(
                add_ref(&txn, &id, size + 1, &mut bytes.as_slice()),
                Err(Error::Corrupt(_))
            ));
            assert_eq!(stored(&txn, &id).0, Some(1));
        }
    }
}
