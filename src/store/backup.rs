//! Consistent copies of the whole store: a snapshot (one read transaction) is written as a
//! stream of frames, and a stream of frames is read into a new database file.
//!
//! The frame format is ours and versioned: `GSHB` + u32 format version, then per entry
//! `table id u8, key length u32, key, value length u32, value`, then `0xFF` + u64 entry count.
//! Integers are big-endian. Keys and values are redb's own encodings of the table types.

use std::io::{Read, Write};
use std::path::Path;

use redb::{Key, ReadTransaction, ReadableTable, TableDefinition, Value, WriteTransaction};

use super::{Error, Result, Store};

const MAGIC: &[u8; 4] = b"GSHB";
const FORMAT: u32 = 1;
const END: u8 = 0xFF;
/// Largest key or value a frame may carry: a chunk is the largest value we store, a go.mod
/// record at most 16 MiB.
const MAX_ITEM: u32 = 32 << 20;

use super::schema::for_each_table;

fn export_table<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    id: u8,
    def: TableDefinition<K, V>,
    out: &mut dyn Write,
    count: &mut u64,
) -> Result<()> {
    let table = txn.open_table(def)?;
    for item in table.iter()? {
        let (k, v) = item?;
        let (kv, vv) = (k.value(), v.value());
        let key = K::as_bytes(&kv);
        let value = V::as_bytes(&vv);
        let (key, value) = (key.as_ref(), value.as_ref());
        out.write_all(&[id])?;
        out.write_all(&len32(key.len())?.to_be_bytes())?;
        out.write_all(key)?;
        out.write_all(&len32(value.len())?.to_be_bytes())?;
        out.write_all(value)?;
        *count += 1;
    }
    Ok(())
}

fn len32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Corrupt("record too large to export".into()))
}

fn import_one<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    def: TableDefinition<K, V>,
    key: &[u8],
    value: &[u8],
) -> Result<()> {
    let mut table = txn.open_table(def)?;
    table.insert(K::from_bytes(key), V::from_bytes(value))?;
    Ok(())
}

impl Store {
    /// Writes a consistent snapshot of every table to `out`. Returns the number of entries.
    ///
    /// # Errors
    /// Storage errors, or `out` failing (`Error::Io`).
    pub fn export(&self, out: &mut dyn Write) -> Result<u64> {
        // A long snapshot read holds its transaction, not the database handle, so a reopen
        // after an I/O error elsewhere need not wait for it.
        let txn = self.begin_read()?;
        {
            out.write_all(MAGIC)?;
            out.write_all(&FORMAT.to_be_bytes())?;
            let mut count = 0u64;
            macro_rules! export {
                (derived, $def:expr, $($rest:tt)*) => {};
                (legacy $id:tt, $def:expr, $($rest:tt)*) => {};
                ($id:expr, $def:expr, $txn:expr, $out:expr, $count:expr) => {
                    export_table($txn, $id, $def, $out, $count)?
                };
            }
            for_each_table!(export, &txn, out, &mut count);
            out.write_all(&[END])?;
            out.write_all(&count.to_be_bytes())?;
            out.flush()?;
            Ok(count)
        }
    }

    /// Creates a new database at `path` (which must not exist) from an export stream, in one
    /// transaction, and checks that it opens as a store. Returns the number of entries.
    ///
    /// # Errors
    /// A malformed or truncated stream (`Error::Corrupt`), an existing `path`, storage errors.
    pub fn import(path: &Path, input: &mut dyn Read) -> Result<u64> {
        if path.exists() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists; choose a new file", path.display()),
            )));
        }
        let mut head = [0u8; 8];
        input.read_exact(&mut head).map_err(|e| truncated(&e))?;
        if &head[..4] != MAGIC {
            return Err(Error::Corrupt("not a goshelf backup stream".into()));
        }
        let format = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if format != FORMAT {
            return Err(Error::Corrupt(format!(
                "backup stream format {format} is not supported"
            )));
        }
        // Made here, not by redb, so that it is private (0600) from its first byte.
        let file = super::private_file_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let db = redb::Builder::new()
            .set_cache_size(super::CACHE_BYTES)
            .create_with_backend(redb::backends::FileBackend::new(file)?)?;
        let mut txn = db.begin_write()?;
        txn.set_quick_repair(true);
        let mut count = 0u64;
        let mut key = Vec::new();
        let mut value = Vec::new();
        loop {
            let mut id = [0u8; 1];
            input.read_exact(&mut id).map_err(|e| truncated(&e))?;
            if id[0] == END {
                let mut n = [0u8; 8];
                input.read_exact(&mut n).map_err(|e| truncated(&e))?;
                if u64::from_be_bytes(n) != count {
                    return Err(Error::Corrupt("backup stream entry count mismatch".into()));
                }
                break;
            }
            read_item(input, &mut key)?;
            read_item(input, &mut value)?;
            macro_rules! import {
                (derived, $def:expr, $($rest:tt)*) => {};
                (legacy $tid:tt, $def:expr, $txn:expr, $id:expr, $k:expr, $v:expr) => {
                    import!($tid, $def, $txn, $id, $k, $v)
                };
                ($tid:expr, $def:expr, $txn:expr, $id:expr, $k:expr, $v:expr) => {
                    if $id == $tid {
                        import_one($txn, $def, $k, $v)?;
                        count += 1;
                        continue;
                    }
                };
            }
            for_each_table!(import, &txn, id[0], &key, &value);
            return Err(Error::Corrupt(format!(
                "unknown table id {} in backup stream",
                id[0]
            )));
        }
        txn.commit()?;
        drop(db);
        Store::open(path)?;
        Ok(count)
    }

    /// Reclaims free space in the file (offline: needs the only handle to the database).
    /// Returns whether anything was moved.
    ///
    /// # Errors
    /// Storage errors.
    pub fn compact(&mut self) -> Result<bool> {
        let slot = self
            .db
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let db = slot
            .as_mut()
            .and_then(std::sync::Arc::get_mut)
            .ok_or_else(|| {
                Error::Corrupt("the database is in use; compact needs it alone".into())
            })?;
        let mut any = false;
        while db
            .compact()
            .map_err(|e| Error::Storage(redb::Error::from(e)))?
        {
            any = true;
        }
        Ok(any)
    }

    /// The file's length against its blocks on disk: one `stat`, nothing read.
    ///
    /// # Errors
    /// I/O errors reading the file's metadata.
    pub fn file_space(&self) -> Result<FileSpace> {
        let meta = std::fs::metadata(&self.path)?;
        #[cfg(unix)]
        let on_disk = std::os::unix::fs::MetadataExt::blocks(&meta).saturating_mul(512);
        #[cfg(not(unix))]
        let on_disk = meta.len();
        Ok(FileSpace {
            length: meta.len(),
            on_disk,
        })
    }
}

/// Holes below which a stop does not compact the file, however small the database.
pub const COMPACT_MIN_HOLES: u64 = 32 << 20;

/// The database file's length against its blocks on disk.
///
/// redb grows a file under 4 GiB by doubling it (beyond, by 4 GiB at a time), and the part
/// not written yet is a hole: no disk blocks, but `ls`, quotas on apparent size and backups
/// that do not keep holes see it. redb trims free pages at the file's end when it closes,
/// but pages in use above a hole keep the file long. A compaction moves them down into the
/// hole and cuts the file after the last page in use.
///
/// Pages that were written and later freed (after deletes) have blocks, so they do not count
/// here: every page in use has blocks, so the holes are a lower bound of what a compaction
/// gives back, and a stop never compacts for nothing. `goshelf compact` reclaims freed pages
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpace {
    pub length: u64,
    /// Bytes of the file's blocks on disk (its length on systems without block counts).
    pub on_disk: u64,
}

impl FileSpace {
    /// Bytes of the file's length that have no blocks on disk.
    #[must_use]
    pub fn holes(&self) -> u64 {
        self.length.saturating_sub(self.on_disk)
    }

    /// Whether a compaction is worth a stop's time: the holes exceed a sixteenth of the
    /// blocks, and `COMPACT_MIN_HOLES`.
    #[must_use]
    pub fn worth_compacting(&self) -> bool {
        let holes = self.holes();
        holes >= COMPACT_MIN_HOLES && holes > self.on_disk / 16
    }
}

fn read_item(input: &mut dyn Read, buf: &mut Vec<u8>) -> Result<()> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|e| truncated(&e))?;
    let len = u32::from_be_bytes(len);
    if len > MAX_ITEM {
        return Err(Error::Corrupt(format!("backup stream item of {len} bytes")));
    }
    buf.resize(len as usize, 0);
    input.read_exact(buf).map_err(|e| truncated(&e))
}

fn truncated(e: &std::io::Error) -> Error {
    Error::Corrupt(format!("backup stream truncated or unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{for_each_table, read_item, FileSpace, Store, COMPACT_MIN_HOLES, MAX_ITEM};
    use redb::TableHandle;

    /// The one list of tables (`schema::for_each_table`) names every table defined anywhere in
    /// `src/` (all in schema.rs), each once, with distinct backup ids, and a new store has
    /// exactly those: a table defined but not listed would be missing from backups.
    #[test]
    fn the_table_list_is_every_table_defined() {
        let mut listed: Vec<(Option<u8>, String)> = Vec::new();
        let mut legacy: Vec<String> = Vec::new();
        macro_rules! list {
            (derived, $def:expr, $out:expr) => {
                $out.push((None, $def.name().to_owned()))
            };
            (legacy $id:tt, $def:expr, $out:expr) => {{
                $out.push((Some($id), $def.name().to_owned()));
                legacy.push($def.name().to_owned());
            }};
            ($id:expr, $def:expr, $out:expr) => {
                $out.push((Some($id), $def.name().to_owned()))
            };
        }
        for_each_table!(list, &mut listed);
        let mut ids: Vec<u8> = listed.iter().filter_map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            listed.iter().filter(|(id, _)| id.is_some()).count()
        );
        let mut names: Vec<String> = listed.into_iter().map(|(_, n)| n).collect();
        names.sort();
        // The name of every table definition in the sources.
        let mut defined = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (i, _) in text.match_indices("TableDefinition::new(\"") {
                        let rest = &text[i + "TableDefinition::new(\"".len()..];
                        let name = &rest[..rest.find('"').unwrap()];
                        defined.push(name.to_owned());
                    }
                }
            }
        }
        defined.sort();
        assert_eq!(names, defined);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let mut found: Vec<String> = store
            .read(|txn| {
                Ok(txn
                    .list_tables()?
                    .map(|t| t.name().to_owned())
                    .collect::<Vec<_>>())
            })
            .unwrap();
        found.sort();
        // Tables of older schemas are only ever written by a restore, then migrated away.
        names.retain(|n| !legacy.contains(n));
        assert_eq!(names, found);
    }

    /// A backup carries every listed table but the derived ones: download counts included.
    #[test]
    fn a_backup_carries_download_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.redb")).unwrap();
        let key = (
            "acme".to_owned(),
            "example.com/m".to_owned(),
            "v1.0.0".to_owned(),
        );
        let seven = crate::web::downloads::Pending { count: 7, last: 0 };
        store.add_downloads(&[(key, seven)]).unwrap();
        let mut stream = Vec::new();
        store.export(&mut stream).unwrap();
        let copy = dir.path().join("b.redb");
        Store::import(&copy, &mut stream.as_slice()).unwrap();
        let copy = Store::open(&copy).unwrap();
        let counts = copy.download_counts("acme", "example.com/m").unwrap();
        assert_eq!(counts.get("v1.0.0"), Some(&7));
    }

    #[test]
    fn compaction_is_worth_a_stop_only_for_large_holes() {
        let worth = |length: u64, on_disk: u64| FileSpace { length, on_disk }.worth_compacting();
        // A small file: the holes must reach COMPACT_MIN_HOLES, however large in proportion.
        assert!(!worth(COMPACT_MIN_HOLES, 1 << 20));
        assert!(worth(COMPACT_MIN_HOLES + (1 << 20), 1 << 20));
        // A large file: the holes must also exceed a sixteenth of the blocks.
        let gib = 1u64 << 30;
        assert!(!worth(gib + gib / 16, gib));
        assert!(worth(gib + gib / 16 + 1, gib));
        // A doubled file, the common case after growth.
        assert!(worth(2 * gib, gib + gib / 10));
        // Never without holes, nor when the blocks exceed the length (the file system's
        // own blocks for a file's extents count too).
        assert!(!worth(gib, gib));
        assert!(!worth(gib, gib + (1 << 20)));
        assert!(!worth(0, 0));
    }

    /// An item of the stream may be `MAX_ITEM` bytes long, not one more: the length alone is
    /// refused before anything is allocated for it.
    #[test]
    fn a_stream_item_is_at_most_max_item_bytes() {
        let item = |len: u32, body: &[u8]| [&len.to_be_bytes()[..], body].concat();
        let mut buf = Vec::new();
        read_item(&mut item(3, b"abc").as_slice(), &mut buf).unwrap();
        assert_eq!(buf, b"abc");
        for (len, refused_for_size) in [(MAX_ITEM, false), (MAX_ITEM + 1, true)] {
            // The body is missing: a length that is allowed fails for that instead.
            let err = read_item(&mut item(len, b"").as_slice(), &mut buf).unwrap_err();
            let text = err.to_string();
            assert_eq!(
                text.contains(&format!("item of {len} bytes")),
                refused_for_size,
                "{len}: {text}"
            );
            assert_eq!(
                text.contains("truncated"),
                !refused_for_size,
                "{len}: {text}"
            );
        }
    }

    /// `compact` says whether it moved anything: after a large version is deleted, it does;
    /// right after, there is nothing left to move.
    #[test]
    fn compact_says_whether_it_moved_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        let store = Store::open(&path).unwrap();
        let big: Vec<u8> = (0..(4u32 << 20)).map(|i| (i ^ (i >> 9)) as u8).collect();
        crate::store::put_test_version(&store, &big);
        store
            .delete_version("acme", "example.com/m", "v1.0.0", 1_700_000_001)
            .unwrap();
        let small: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
        crate::store::put_test_version(&store, &small);
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert!(store.compact().unwrap(), "the deleted zip's pages are free");
        assert!(!store.compact().unwrap(), "nothing is left to move");
    }
}
