//! The pack stream: the last bytes of many blobs, end to end, in records that each fill one
//! redb page.
//!
//! Why: redb gives every leaf at least one 4 KiB page, and a leaf holds one value of over
//! 2 KiB alone, so a blob's last value under one page (a 2 KiB zip, or what is left of a 70 KB
//! one after its page-sized pieces) took a page of its own: half a page wasted on average, per
//! blob. Measured with the perf harness's 100,000 versions, 90,000 of them 2 KiB zips, that was
//! most of a file 1.31x the zips' size. Packed, those bytes share pages.
//!
//! The stream only grows: a blob's packed bytes get a position when written and keep it.
//! Each record counts its bytes still in use; a record with none is removed, except the
//! last, which new bytes are appended to. A record with some bytes still in use keeps its
//! released ones (at most one page per live blob, what each took before packing).
//!
//! Since schema 5 the records live in the blob store's tree (`schema::BLOB_STORE`), under keys
//! `p` + record number, after the blob records (`b` + id): an upload that writes a blob record
//! and packed bytes then rewrites one tree's root, not two.

use redb::{AccessGuard, ReadableTable, Table};

use super::{Error, Result};

/// Stream bytes per record. A record is a u32 count of live bytes and up to this many bytes of
/// the stream; alone in a leaf it takes exactly one page: 4 bytes of page header, 4 of key
/// length, 4 of value length, 9 of key, 4 of count and 4,071 of data make 4,096. (Checked
/// against redb's own statistics by `store_model::packed_tails_fill_their_pages`.)
pub const PACK_DATA: u64 = 4071;

/// Stream bytes per record of schemas 3 and 4 (`schema::PACKS`, whose keys were 8 bytes
/// without a length), read only to migrate.
pub(super) const PACK_DATA_V4: u64 = 4076;

/// Bytes before the data in a record: the live count.
pub const HEADER: usize = 4;

/// The tag of pack records' keys in the blob store.
const TAG: u8 = b'p';

/// The blob store's key of pack record `record`.
#[must_use]
pub fn pack_key(record: u64) -> [u8; 9] {
    let mut key = [TAG; 9];
    key[1..].copy_from_slice(&record.to_be_bytes());
    key
}

/// The record number of a blob store key, if it is a pack record's.
#[must_use]
pub fn record_of(key: &[u8]) -> Option<u64> {
    match key {
        [TAG, rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// Every pack record of the blob store, in order (`range` bounds).
#[must_use]
pub fn all_keys() -> std::ops::Range<&'static [u8]> {
    &[TAG][..]..&[TAG + 1][..]
}

/// The last pack record: its number and bytes.
///
/// # Errors
/// Storage errors; a key under the pack tag that is no record number is `Error::Corrupt`.
pub fn last<T: ReadableTable<&'static [u8], &'static [u8]>>(
    store: &T,
) -> Result<Option<(u64, Vec<u8>)>> {
    Ok(last_entry(store)?.map(|(record, v)| (record, v.value().to_vec())))
}

/// The number of the last pack record, without copying it.
///
/// # Errors
/// As `last` (a damaged file: which record is last is then unknown, and no record is
/// removed).
fn last_number(store: &Store<'_>) -> Result<Option<u64>> {
    Ok(last_entry(store)?.map(|(record, _)| record))
}

/// A pack record's number and its value as stored.
type Entry<'a> = (u64, AccessGuard<'a, &'static [u8]>);

/// The last pack record.
fn last_entry<T: ReadableTable<&'static [u8], &'static [u8]>>(
    store: &T,
) -> Result<Option<Entry<'_>>> {
    let Some(item) = store.range(all_keys())?.next_back() else {
        return Ok(None);
    };
    let (k, v) = item?;
    let record = record_of(k.value())
        .ok_or_else(|| Error::Corrupt("a pack record key without its number".into()))?;
    Ok(Some((record, v)))
}

/// The parts of the stream range `[pos, pos + len)`: `(record, offset in its data, bytes)`, in
/// order. Pure: where bytes are, without reading them.
pub fn spans(pos: u64, len: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    spans_in(PACK_DATA, pos, len)
}

/// `spans` for a stream of `per_record` bytes per record (`PACK_DATA_V4` for older files).
pub(super) fn spans_in(
    per_record: u64,
    pos: u64,
    len: u64,
) -> impl Iterator<Item = (u64, u64, u64)> {
    let end = pos.saturating_add(len);
    // The records the range touches, first to last: none when it is empty.
    let records = if end > pos {
        pos / per_record..(end - 1) / per_record + 1
    } else {
        0..0
    };
    records.map(move |record| {
        let first = record.saturating_mul(per_record);
        let start = first.max(pos);
        let stop = first.saturating_add(per_record).min(end);
        (record, start - first, stop - start)
    })
}

/// The live count at the head of a stored record.
///
/// # Errors
/// A record shorter than its header is `Error::Corrupt`.
pub fn live(record: &[u8]) -> Result<u32> {
    match record.get(..HEADER) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(Error::Corrupt("pack record without its header".into())),
    }
}

/// The stream bytes a stored record holds.
#[must_use]
pub fn data(record: &[u8]) -> &[u8] {
    record.get(HEADER..).unwrap_or_default()
}

fn with_live(record: &mut [u8], live: u32) {
    if let Some(head) = record.get_mut(..HEADER) {
        head.copy_from_slice(&live.to_le_bytes());
    }
}

/// Whether bytes of length `len` go to a new record rather than after the `used` bytes of the
/// last one, leaving the rest of it unused: when they would fit one record but not the room
/// left, and that room is under an eighth of a record. Each record a small version's bytes
/// touch is one more page written by its commit (an SD card's wear, issue 24), and one more
/// page read to serve its zip; at most an eighth of a page of the file is given up for it.
/// (A quarter saved straddles twice as often, but left 19 % of each record unused for zips of
/// 1,100 bytes; an eighth leaves at most 12.5 %.)
#[must_use]
pub fn starts_a_record(used: u64, len: u64) -> bool {
    let room = PACK_DATA.saturating_sub(used);
    len > room && len <= PACK_DATA && room < PACK_DATA / 8
}

/// The blob store's table, as written.
pub(super) type Store<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// Appends `bytes` to the stream in `store` (the blob store); returns their position.
/// Nothing is written for no bytes (their position is where the next would go), and no record
/// is removed: the stream never goes back to a position it gave.
pub(super) fn append(store: &mut Store<'_>, bytes: &[u8]) -> Result<u64> {
    let (mut record, mut buf) = last(store)?.unwrap_or((0, vec![0u8; HEADER]));
    let mut used = data(&buf).len() as u64;
    if used > PACK_DATA || buf.len() < HEADER {
        return Err(Error::Corrupt(format!("pack record {record} is malformed")));
    }
    if bytes.is_empty() {
        return Ok(record * PACK_DATA + used);
    }
    if used == PACK_DATA || starts_a_record(used, bytes.len() as u64) {
        // Full, or left with too little room to be worth a second record written for these
        // bytes: a last record nobody uses any more goes now, as any other would have.
        if live(&buf)? == 0 {
            store.remove(pack_key(record).as_slice())?;
        }
        record += 1;
        buf.truncate(HEADER);
        buf.fill(0);
        used = 0;
    }
    let pos = record * PACK_DATA + used;
    // What fits in this record, then whole records' worth: a bounded walk over the bytes.
    let full = usize::try_from(PACK_DATA).unwrap_or(usize::MAX);
    let room = usize::try_from(PACK_DATA - used).unwrap_or(full);
    let (first, others) = bytes.split_at(room.min(bytes.len()));
    for (n, now) in std::iter::once(first)
        .chain(others.chunks(full))
        .enumerate()
    {
        if n > 0 {
            record += 1;
            buf.truncate(HEADER);
            buf.fill(0);
        }
        buf.extend_from_slice(now);
        let count = live(&buf)?
            .checked_add(u32::try_from(now.len()).unwrap_or(u32::MAX))
            .ok_or_else(|| Error::Corrupt(format!("pack record {record} overflows")))?;
        with_live(&mut buf, count);
        store.insert(pack_key(record).as_slice(), buf.as_slice())?;
    }
    Ok(pos)
}

/// Releases `[pos, pos + len)` of the stream in `store`: its records' live counts go down, and
/// a record left with none is removed unless it is the last.
pub(super) fn release(store: &mut Store<'_>, pos: u64, len: u64) -> Result<()> {
    let last = last_number(store)?;
    for (record, _, n) in spans(pos, len) {
        let key = pack_key(record);
        let mut buf = store
            .get(key.as_slice())?
            .ok_or_else(|| Error::Corrupt(format!("pack record {record} is missing")))?
            .value()
            .to_vec();
        let count = live(&buf)?
            .checked_sub(u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or_else(|| {
                Error::Corrupt(format!("pack record {record} releases more than it holds"))
            })?;
        if count == 0 && Some(record) != last {
            store.remove(key.as_slice())?;
        } else {
            with_live(&mut buf, count);
            store.insert(key.as_slice(), buf.as_slice())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;
    use redb::WriteTransaction;

    fn append(txn: &WriteTransaction, bytes: &[u8]) -> Result<u64> {
        super::append(&mut txn.open_table(schema::BLOB_STORE)?, bytes)
    }

    fn release(txn: &WriteTransaction, pos: u64, len: u64) -> Result<()> {
        super::release(&mut txn.open_table(schema::BLOB_STORE)?, pos, len)
    }

    #[test]
    fn spans_cover_the_range_in_record_order() {
        let d = PACK_DATA;
        assert_eq!(spans(0, 0).count(), 0);
        assert_eq!(spans(d + 5, 0).count(), 0);
        assert_eq!(
            spans(u64::MAX - 1, 5).map(|p| p.2).sum::<u64>(),
            1,
            "cut at the end"
        );
        assert_eq!(spans(5, 10).collect::<Vec<_>>(), vec![(0, 5, 10)]);
        assert_eq!(
            spans(d - 3, 10).collect::<Vec<_>>(),
            vec![(0, d - 3, 3), (1, 0, 7)]
        );
        assert_eq!(spans(d, d).collect::<Vec<_>>(), vec![(1, 0, d)]);
        assert_eq!(
            spans(2 * d - 1, d + 2).collect::<Vec<_>>(),
            vec![(1, d - 1, 1), (2, 0, d), (3, 0, 1)]
        );
        for pos in [0, 1, d - 1, d, 7 * d + 100] {
            for len in [1, 2, 100, d - 1, d, d + 1, 3 * d] {
                let parts: Vec<_> = spans(pos, len).collect();
                assert_eq!(parts.iter().map(|p| p.2).sum::<u64>(), len);
                let mut at = pos;
                for &(r, w, n) in &parts {
                    assert_eq!(r * d + w, at, "{pos} {len}");
                    assert!(n > 0 && w + n <= d, "{pos} {len}");
                    at += n;
                }
            }
        }
    }

    /// The stream's records: (record, live count, data length), in order.
    fn records(txn: &WriteTransaction) -> Vec<(u64, u32, usize)> {
        let store = txn.open_table(schema::BLOB_STORE).unwrap();
        let records = store
            .range(all_keys())
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                let record = record_of(k.value()).unwrap();
                (record, live(v.value()).unwrap(), data(v.value()).len())
            })
            .collect();
        records
    }

    /// The stream bytes `[pos, pos + len)`, read back record by record.
    fn read(txn: &WriteTransaction, pos: u64, len: u64) -> Vec<u8> {
        let store = txn.open_table(schema::BLOB_STORE).unwrap();
        let mut out = Vec::new();
        for (record, at, n) in spans(pos, len) {
            let rec = store.get(pack_key(record).as_slice()).unwrap().unwrap();
            let at = usize::try_from(at).unwrap();
            out.extend_from_slice(&data(rec.value())[at..at + usize::try_from(n).unwrap()]);
        }
        out
    }

    #[test]
    fn appended_bytes_keep_their_place_and_released_records_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let d = usize::try_from(PACK_DATA).unwrap();
        let a = vec![1u8; 100];
        let b: Vec<u8> = (0..=255u8).cycle().take(2 * d + 10).collect();
        let c = vec![3u8; d - 110];
        assert_eq!(append(&txn, &a).unwrap(), 0);
        assert_eq!(append(&txn, &b).unwrap(), 100, "after a");
        // b ends 110 bytes into record 2; c fills that record to the byte.
        assert_eq!(append(&txn, &c).unwrap(), 2 * PACK_DATA + 110);
        let full = (2 * d + 10 + 100) - 2 * d;
        assert_eq!(
            records(&txn),
            vec![
                (0, u32::try_from(d).unwrap(), d),
                (1, u32::try_from(d).unwrap(), d),
                (2, u32::try_from(full + c.len()).unwrap(), d),
            ]
        );
        assert_eq!(read(&txn, 0, 100), a);
        assert_eq!(read(&txn, 100, b.len() as u64), b);
        assert_eq!(read(&txn, 2 * PACK_DATA + 110, c.len() as u64), c);
        // The next bytes open record 3.
        assert_eq!(append(&txn, b"xyz").unwrap(), 3 * PACK_DATA);
        assert_eq!(records(&txn).last(), Some(&(3, 3, 3)));

        // b is released: record 1 held only b and goes; 0 and 2 keep their other bytes.
        release(&txn, 100, b.len() as u64).unwrap();
        assert_eq!(
            records(&txn),
            vec![
                (0, 100, d),
                (2, u32::try_from(c.len()).unwrap(), d),
                (3, 3, 3)
            ]
        );
        assert_eq!(read(&txn, 0, 100), a);
        // The last record stays, with nothing live, and is appended to again.
        release(&txn, 3 * PACK_DATA, 3).unwrap();
        assert_eq!(records(&txn).last(), Some(&(3, 0, 3)));
        assert_eq!(append(&txn, b"uv").unwrap(), 3 * PACK_DATA + 3);
        assert_eq!(records(&txn).last(), Some(&(3, 2, 5)));
        // Releasing more than a record holds is corruption, not an underflow.
        assert!(matches!(release(&txn, 0, 101), Err(Error::Corrupt(_))));
    }

    #[test]
    fn a_malformed_last_record_is_corruption() {
        for bad in [
            vec![1u8, 0],
            vec![0u8; HEADER + usize::try_from(PACK_DATA).unwrap() + 1],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(schema::BLOB_STORE)
                .unwrap()
                .insert(pack_key(4).as_slice(), bad.as_slice())
                .unwrap();
            assert!(
                matches!(append(&txn, b"x"), Err(Error::Corrupt(m)) if m.contains("malformed")),
                "{} bytes",
                bad.len()
            );
        }
    }

    #[test]
    fn a_full_last_record_nobody_uses_goes_when_the_next_opens() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let d = PACK_DATA;
        assert_eq!(
            append(&txn, &vec![7u8; usize::try_from(d).unwrap()]).unwrap(),
            0
        );
        release(&txn, 0, d).unwrap();
        assert_eq!(records(&txn), vec![(0, 0, usize::try_from(d).unwrap())]);
        assert_eq!(append(&txn, b"n").unwrap(), d);
        assert_eq!(records(&txn), vec![(1, 1, 1)]);
    }

    #[test]
    fn small_bytes_start_a_record_rather_than_straddle_two_when_little_room_is_left() {
        let d = PACK_DATA;
        let eighth = d / 8;
        // The rule itself, at its edges.
        assert!(
            !starts_a_record(0, d),
            "a whole record's worth fits an empty one"
        );
        assert!(
            !starts_a_record(d - eighth, eighth),
            "fits the room exactly"
        );
        assert!(
            !starts_a_record(d - eighth, eighth + 1),
            "room of an eighth: straddle"
        );
        assert!(
            starts_a_record(d - eighth + 1, eighth),
            "room under an eighth"
        );
        assert!(
            starts_a_record(d - 1, d),
            "a record's worth, one byte of room"
        );
        assert!(
            !starts_a_record(d - 1, d + 1),
            "more than a record straddles anyway"
        );
        assert!(!starts_a_record(d - 10, 10), "fits");

        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let size = |n: u64| vec![5u8; usize::try_from(n).unwrap()];
        // Two 1,850-byte tails leave under an eighth of a record: the third opens record 1, whole.
        assert_eq!(append(&txn, &size(1850)).unwrap(), 0);
        assert_eq!(append(&txn, &size(1850)).unwrap(), 1850);
        assert_eq!(append(&txn, &size(1850)).unwrap(), d);
        assert_eq!(records(&txn), vec![(0, 3700, 3700), (1, 1850, 1850)]);
        assert_eq!(read(&txn, d, 1850), size(1850));
        // With more room than an eighth, bytes still straddle: 1,850 + 1,100 leave over 1,100.
        assert_eq!(append(&txn, &size(1100)).unwrap(), d + 1850);
        assert_eq!(append(&txn, &size(2000)).unwrap(), d + 2950);
        // Record 1 holds 1,850 + 1,100 and the start of the 2,000; record 2 the rest.
        let full = usize::try_from(d).unwrap();
        let rest = 2950 + 2000 - d;
        let n = |v: u64| (u32::try_from(v).unwrap(), usize::try_from(v).unwrap());
        assert_eq!(
            records(&txn),
            vec![
                (0, 3700, 3700),
                (1, u32::try_from(d).unwrap(), full),
                (2, n(rest).0, n(rest).1)
            ]
        );
        assert_eq!(read(&txn, d + 2950, 2000), size(2000));
        // A last record left with nothing live goes when small bytes skip past it.
        assert_eq!(append(&txn, &size(2800)).unwrap(), 2 * d + rest);
        release(&txn, d + 2950, 2000).unwrap();
        release(&txn, 2 * d + rest, 2800).unwrap();
        assert_eq!(records(&txn).last(), Some(&(2, 0, n(rest + 2800).1)));
        assert_eq!(append(&txn, &size(1000)).unwrap(), 3 * d);
        assert_eq!(
            records(&txn),
            vec![(0, 3700, 3700), (1, 2950, full), (3, 1000, 1000)]
        );
    }

    /// No bytes write nothing and remove nothing, even where the next bytes would open a new
    /// record past a full one nobody uses: their position is never given twice.
    #[test]
    fn no_bytes_move_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let d = PACK_DATA;
        assert_eq!(append(&txn, b"").unwrap(), 0, "an empty stream");
        assert_eq!(records(&txn), vec![]);
        assert_eq!(append(&txn, &vec![1u8; 3700]).unwrap(), 0);
        assert_eq!(
            append(&txn, &vec![2u8; usize::try_from(d).unwrap()]).unwrap(),
            d
        );
        release(&txn, d, d).unwrap();
        let before = records(&txn);
        assert_eq!(before.last(), Some(&(1, 0, usize::try_from(d).unwrap())));
        assert_eq!(append(&txn, b"").unwrap(), 2 * d);
        assert_eq!(records(&txn), before, "nothing removed");
        // The next bytes go past it, as they would have.
        assert_eq!(append(&txn, b"abc").unwrap(), 2 * d);
        assert_eq!(records(&txn).last(), Some(&(2, 3, 3)));
    }

    /// A pack key that is no record number (a damaged file) is an error for whoever needs the
    /// last record, never a reason to take another record for the last.
    #[test]
    fn a_malformed_last_key_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        assert_eq!(append(&txn, b"abc").unwrap(), 0);
        txn.open_table(schema::BLOB_STORE)
            .unwrap()
            .insert(b"pxyz".as_slice(), [0u8; 4].as_slice())
            .unwrap();
        assert!(matches!(append(&txn, b"x"), Err(Error::Corrupt(_))));
        assert!(matches!(release(&txn, 0, 3), Err(Error::Corrupt(_))));
        assert_eq!(records_raw(&txn), 2, "nothing removed");
    }

    /// How many keys the pack tag holds, well formed or not.
    fn records_raw(txn: &WriteTransaction) -> usize {
        let store = txn.open_table(schema::BLOB_STORE).unwrap();
        let n = store.range(all_keys()).unwrap().count();
        n
    }

    #[test]
    fn a_record_is_its_count_then_its_bytes() {
        let mut rec = vec![0u8; HEADER];
        rec.extend_from_slice(b"abc");
        with_live(&mut rec, 258);
        assert_eq!(live(&rec).unwrap(), 258);
        assert_eq!(data(&rec), b"abc");
        assert!(live(&[1, 2]).is_err());
        assert_eq!(data(&[1, 2]), b"");
    }
}
