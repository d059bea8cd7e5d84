//! `verify`: re-reads everything the store promises and reports what does not hold.
//!
//! From one snapshot: every blob's chunks are present, of the right sizes, and hash to its
//! BLAKE3; every chunk belongs to a blob; every blob's reference count equals the versions
//! that use it; every version's zip is valid and has the h1 and `.mod` recorded at upload.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::records::VersionRecord;
use super::{
    blobs::BlobReader, decode, packs, schema, version_go_mod, version_parts, version_record,
    Result, Store,
};
use crate::gomod;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub versions: u64,
    pub blobs: u64,
    pub chunks: u64,
    /// Records of the pack stream.
    #[serde(default)]
    pub pack_records: u64,
    pub bytes: u64,
    /// Records in the checksum database's log.
    #[serde(default)]
    pub log_records: u64,
    pub problems: Vec<Problem>,
    /// Findings that are not damage (versions served but not logged because the log holds
    /// another content for their `path@version`).
    #[serde(default)]
    pub notes: Vec<Problem>,
}

/// One thing that is wrong, and the versions it affects (`owner module@version`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub versions: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// What each problem says, in order.
    #[must_use]
    pub fn whats(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.what.as_str()).collect()
    }

    pub(super) fn problem(&mut self, what: String, versions: Vec<String>) {
        self.problems.push(Problem { what, versions });
    }

    pub(super) fn note(&mut self, what: String, versions: Vec<String>) {
        self.notes.push(Problem { what, versions });
    }
}

/// A `Read + Seek` view of a blob, for re-validating its zip.
struct BlobCursor<'a> {
    reader: &'a BlobReader,
    pos: u64,
}

impl Read for BlobCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len().min(1 << 16));
        let n = self
            .reader
            .read_at(self.pos, buf.len().min(1 << 16), &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        buf[..n].copy_from_slice(&out[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobCursor<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let size = self.reader.size();
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

/// How a cached version is named in a report (no namespace has this name).
const CACHE_OWNER: &str = "(cache)";

impl Store {
    /// Checks the whole store from one snapshot.
    ///
    /// # Errors
    /// Storage errors that stop the check itself; damage it finds goes into the report.
    pub fn verify(&self) -> Result<VerifyReport> {
        // A damaged page can make redb panic mid-scan: the report's error says so.
        super::guard_damage(|| self.verify_unguarded())
    }

    fn verify_unguarded(&self) -> Result<VerifyReport> {
        // A long snapshot read holds its transaction, not the database handle, so a reopen
        // after an I/O error elsewhere need not wait for it.
        let txn = self.begin_read()?;
        {
            let mut report = VerifyReport::default();

            // Versions, by the blob they use.
            let mut users: BTreeMap<String, Vec<(String, String, String, VersionRecord)>> =
                BTreeMap::new();
            let versions = txn.open_table(schema::VERSIONS)?;
            let mods = txn.open_table(schema::GO_MODS)?;
            for item in versions.iter()? {
                let (k, v) = item?;
                let (owner, module, version) = k.value();
                report.versions += 1;
                let name = format!("{owner} {module}@{version}");
                let apart = version_parts(v.value()).is_ok_and(|(_, inline)| inline.is_none());
                if apart && mods.get((owner, module, version))?.is_none() {
                    report.problem("no .mod stored".into(), vec![name.clone()]);
                }
                match version_record(v.value()) {
                    Ok(rec) => users.entry(rec.blake3.clone()).or_default().push((
                        owner.to_owned(),
                        module.to_owned(),
                        version.to_owned(),
                        rec,
                    )),
                    Err(e) => report.problem(format!("unreadable version record: {e}"), vec![name]),
                }
            }
            // `.mod` bytes kept apart belong to a version that says so.
            for item in mods.iter()? {
                let (k, _) = item?;
                let (owner, module, version) = k.value();
                let apart = versions
                    .get((owner, module, version))?
                    .is_some_and(|v| version_parts(v.value()).is_ok_and(|(_, m)| m.is_none()));
                if !apart {
                    report.problem(
                        ".mod stored apart for a version that does not exist or keeps its own"
                            .into(),
                        vec![format!("{owner} {module}@{version}")],
                    );
                }
            }
            // Cached versions use blobs as hosted ones do, once their zip was fetched.
            for item in txn.open_table(schema::CACHED)?.iter()? {
                let (k, v) = item?;
                let (module, version) = k.value();
                report.versions += 1;
                let name = format!("{CACHE_OWNER} {module}@{version}");
                match decode::<super::CachedRecord>("cached version", v.value()) {
                    Ok(c) => {
                        if let (Some(blake3), Some(size), Some(h1)) = (c.blake3, c.size, c.h1) {
                            users.entry(blake3.clone()).or_default().push((
                                CACHE_OWNER.to_owned(),
                                module.to_owned(),
                                version.to_owned(),
                                VersionRecord {
                                    blake3,
                                    size,
                                    h1,
                                    mod_h1: c.mod_h1,
                                    time: c.time,
                                    uploader: c.origin,
                                },
                            ));
                        }
                    }
                    Err(e) => {
                        report.problem(format!("unreadable cached version record: {e}"), vec![name])
                    }
                }
            }
            // Blobs: presence, reference counts, chunk sizes, content hash.
            let store = txn.open_table(schema::BLOB_STORE)?;
            let mut expected_chunks: BTreeMap<[u8; 32], u32> = BTreeMap::new();
            let mut expected_packed: Vec<(u64, u64)> = Vec::new();
            for item in store.range(super::blobs::all_keys())? {
                let (k, v) = item?;
                let Some(id) = super::blobs::id_of(k.value()) else {
                    report.problem(
                        format!("a blob record key of {} bytes", k.value().len()),
                        Vec::new(),
                    );
                    continue;
                };
                let blob = match super::blobs::BlobRecord::decode(v.value()) {
                    Ok(blob) => blob,
                    Err(e) => {
                        report.problem(format!("blob {}: {e}", hex::encode(id)), Vec::new());
                        continue;
                    }
                };
                report.blobs += 1;
                report.bytes += blob.size;
                let hex_id = hex::encode(id);
                let names: Vec<String> = users
                    .get(&hex_id)
                    .map(|u| {
                        u.iter()
                            .map(|(o, m, v, _)| format!("{o} {m}@{v}"))
                            .collect()
                    })
                    .unwrap_or_default();
                if blob.refs != names.len() as u64 {
                    report.problem(
                        format!(
                            "blob {hex_id} has reference count {} but {} versions use it",
                            blob.refs,
                            names.len()
                        ),
                        names.clone(),
                    );
                }
                let layout = blob.layout();
                expected_chunks.insert(id, layout.count());
                if layout.packed_len() > 0 && blob.packed_at != super::blobs::LOST {
                    expected_packed.push((blob.packed_at, layout.packed_len()));
                }
                let reader = match BlobReader::open(&txn, &id) {
                    Ok(Some(reader)) => reader,
                    Ok(None) => continue,
                    Err(e) => {
                        report.problem(format!("blob {hex_id}: {e}"), names.clone());
                        continue;
                    }
                };
                match hash_blob(&reader) {
                    Ok(hash) if hash == id => {}
                    Ok(_) => report.problem(
                        format!("blob {hex_id}: content does not match its BLAKE3"),
                        names.clone(),
                    ),
                    Err(e) => report.problem(format!("blob {hex_id}: {e}"), names.clone()),
                }
                // Re-validate the zip once per distinct (module, version) using this blob.
                let mut seen = BTreeMap::new();
                for (owner, module, version, rec) in users.get(&hex_id).into_iter().flatten() {
                    let name = format!("{owner} {module}@{version}");
                    let result = seen
                        .entry((module.clone(), version.clone()))
                        .or_insert_with(|| {
                            gomod::zip::validate(
                                BlobCursor {
                                    reader: &reader,
                                    pos: 0,
                                },
                                blob.size,
                                module,
                                version,
                            )
                            .map_err(|e| e.to_string())
                        })
                        .clone();
                    match result {
                        Ok(summary) => {
                            if summary.h1 != rec.h1 || summary.mod_h1 != rec.mod_h1 {
                                report.problem(
                                    format!(
                                        "zip hashes to {} / {} but {} / {} was recorded",
                                        summary.h1, summary.mod_h1, rec.h1, rec.mod_h1
                                    ),
                                    vec![name.clone()],
                                );
                            }
                            let key = (owner.as_str(), module.as_str(), version.as_str());
                            let stored = (owner != CACHE_OWNER)
                                .then(|| versions.get(key))
                                .transpose()?
                                .flatten()
                                .map(|v| v.value().to_vec());
                            let differs = stored.is_some_and(|v| {
                                version_go_mod(key, &v, || {
                                    Ok(mods.get(key)?.map(|m| m.value().to_vec()))
                                })
                                .is_ok_and(|m| m != summary.mod_bytes.as_slice())
                            });
                            if differs {
                                report.problem(
                                    "stored .mod differs from the zip's go.mod".into(),
                                    vec![name.clone()],
                                );
                            }
                        }
                        Err(e) => {
                            report.problem(format!("zip no longer valid: {e}"), vec![name.clone()])
                        }
                    }
                    if rec.size != blob.size {
                        report.problem(
                            format!(
                                "version records size {} but blob has {}",
                                rec.size, blob.size
                            ),
                            vec![name],
                        );
                    }
                }
            }
            for (hex_id, list) in &users {
                let mut id = [0u8; 32];
                if hex::decode_to_slice(hex_id, &mut id).is_err()
                    || !expected_chunks.contains_key(&id)
                {
                    let names = list
                        .iter()
                        .map(|(o, m, v, _)| format!("{o} {m}@{v}"))
                        .collect();
                    report.problem(format!("blob {hex_id} is missing"), names);
                }
            }

            // Chunks: every one belongs to a blob, inside its range.
            let chunks = txn.open_table(schema::CHUNKS)?;
            let mut orphans = 0u64;
            for item in chunks.iter()? {
                let (k, _) = item?;
                let (id, index) = k.value();
                report.chunks += 1;
                if expected_chunks.get(id).is_none_or(|&count| index >= count) {
                    orphans += 1;
                }
            }
            if orphans > 0 {
                report.problem(
                    format!("{orphans} orphan chunks (belonging to no blob)"),
                    Vec::new(),
                );
            }
            check_packs(&txn, &expected_packed, &mut report)?;
            super::sumdb::check_log(&txn, &mut report)?;
            Ok(report)
        }
    }
}

/// The pack stream against the blobs that use it: each record's live count is what the
/// packed blobs (their position and packed length, `expected`) hold in it, and no record but
/// the last is left with none. (Whether the bytes are there and right, `hash_blob` saw.)
fn check_packs(
    txn: &redb::ReadTransaction,
    expected: &[(u64, u64)],
    report: &mut VerifyReport,
) -> Result<()> {
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    for &(at, len) in expected {
        for (record, _, n) in packs::spans(at, len) {
            *live.entry(record).or_default() += n;
        }
    }
    let table = txn.open_table(schema::BLOB_STORE)?;
    // The last well-formed record (a malformed key is reported below, not an error here).
    let last = table
        .range(packs::all_keys())?
        .rev()
        .find_map(|item| item.ok().and_then(|(k, _)| packs::record_of(k.value())));
    for item in table.range(packs::all_keys())? {
        let (k, v) = item?;
        let Some(record) = packs::record_of(k.value()) else {
            report.problem(
                format!("a pack record key of {} bytes", k.value().len()),
                Vec::new(),
            );
            continue;
        };
        report.pack_records += 1;
        let want = live.get(&record).copied().unwrap_or(0);
        match packs::live(v.value()) {
            Ok(count) if u64::from(count) == want => {}
            Ok(count) => report.problem(
                format!("pack record {record} counts {count} live bytes, blobs hold {want}"),
                Vec::new(),
            ),
            Err(e) => report.problem(format!("pack record {record}: {e}"), Vec::new()),
        }
        if want == 0 && Some(record) != last {
            report.problem(
                format!("pack record {record} holds bytes of no blob"),
                Vec::new(),
            );
        }
    }
    Ok(())
}

fn hash_blob(reader: &BlobReader) -> Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    let mut offset = 0u64;
    let mut buf = Vec::with_capacity(super::CHUNK_SIZE as usize);
    while offset < reader.size() {
        buf.clear();
        let n = reader.read_at(offset, super::CHUNK_SIZE as usize, &mut buf)?;
        if n == 0 {
            return Err(super::Error::Corrupt(format!("ends early at {offset}")));
        }
        hasher.update(&buf);
        offset += n as u64;
    }
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use redb::ReadableTable;

    use super::*;
    use crate::ingest;
    use crate::store::blobs;
    use crate::store::CachedRecord;

    fn module_zip(path: &str, version: &str, pad: usize) -> Vec<u8> {
        ingest::padded_zip_bytes(path, version, pad)
    }

    /// `example.com/big@v1.0.0`, exactly two chunks long: a blob with no packed bytes.
    fn big_zip() -> Vec<u8> {
        let overhead = module_zip("example.com/big", "v1.0.0", 1).len() - 1;
        let zip = module_zip("example.com/big", "v1.0.0", 2 * CHUNK as usize - overhead);
        assert_eq!(zip.len(), 2 * CHUNK as usize);
        zip
    }

    /// Publishes `bytes` in namespace `owner` as an upload does (spool, zip checks, store).
    fn publish(store: &Store, dir: &std::path::Path, owner: &str, bytes: &[u8]) {
        let mut spool = ingest::Spool::create(&dir.join("v.redb"), 1 << 30).unwrap();
        spool.append(bytes).unwrap();
        let summary = ingest::validate(&mut spool).unwrap();
        ingest::publish(store, &mut spool, &summary, owner, "t").unwrap();
    }

    /// A store holding `acme example.com/small@v1.0.0` (a zip under one page: packed),
    /// `acme example.com/big@v1.0.0` (two full chunks, nothing packed) and the small one's bytes
    /// again as `zeta example.com/small@v1.0.0` (one blob, two references).
    fn fixture() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.redb")).unwrap();
        let small = module_zip("example.com/small", "v1.0.0", 0);
        let big = big_zip();
        publish(&store, dir.path(), "acme", &small);
        publish(&store, dir.path(), "acme", &big);
        publish(&store, dir.path(), "zeta", &small);
        (dir, store)
    }

    const CHUNK: u32 = super::super::CHUNK_SIZE;

    /// Writes to the store's tables directly, past every rule (damage).
    fn damage(store: &Store, f: impl Fn(&redb::WriteTransaction)) {
        super::super::write_raw(store, |txn| {
            f(txn);
            Ok(())
        });
    }

    /// The problem whose text contains `part`, and the versions it names.
    fn found<'r>(report: &'r VerifyReport, part: &str) -> &'r Problem {
        report
            .problems
            .iter()
            .find(|p| p.what.contains(part))
            .unwrap_or_else(|| panic!("no problem with {part:?} in {:?}", report.whats()))
    }

    /// `found`, in a report that is not clean.
    fn damaged<'r>(report: &'r VerifyReport, part: &str) -> &'r Problem {
        assert!(!report.is_clean(), "a report with problems is not clean");
        found(report, part)
    }

    /// The id of the blob of `owner module@v1.0.0`.
    fn blob_of(store: &Store, owner: &str, module: &str) -> [u8; 32] {
        let txn = store.begin_read().unwrap();
        let versions = txn.open_table(schema::VERSIONS).unwrap();
        let g = versions.get((owner, module, "v1.0.0")).unwrap().unwrap();
        let rec: VersionRecord = version_record(g.value()).unwrap();
        let mut id = [0u8; 32];
        hex::decode_to_slice(rec.blake3, &mut id).unwrap();
        id
    }

    /// Rewrites the version record of `owner module@v1.0.0` with `f`.
    fn edit_version(store: &Store, owner: &str, module: &str, f: fn(&mut VersionRecord)) {
        damage(store, |txn| {
            let mut t = txn.open_table(schema::VERSIONS).unwrap();
            let key = (owner, module, "v1.0.0");
            let value = t.get(key).unwrap().unwrap().value().to_vec();
            let mut rec: VersionRecord = version_record(&value).unwrap();
            let go_mod = version_parts(&value).unwrap().1;
            f(&mut rec);
            t.insert(
                key,
                super::super::version_value(&rec, go_mod)
                    .unwrap()
                    .as_slice(),
            )
            .unwrap();
        });
    }

    #[test]
    fn a_sound_store_is_clean_and_counted() {
        let (_dir, store) = fixture();
        let report = store.verify().unwrap();
        assert!(report.is_clean(), "{:?}", report.whats());
        assert_eq!(report.versions, 3);
        assert_eq!(report.blobs, 2, "the small zip is stored once");
        assert_eq!(report.chunks, 2, "the big zip's two full chunks");
        assert!(report.pack_records >= 1);
        let small = module_zip("example.com/small", "v1.0.0", 0).len() as u64;
        let big = big_zip().len();
        assert_eq!(report.bytes, small + big as u64);
        assert_eq!(report.log_records, 0, "no namespace is logged");
        assert!(report.notes.is_empty());
    }

    #[test]
    fn damaged_version_records_are_named() {
        let (_dir, store) = fixture();
        damage(&store, |txn| {
            let mut versions = txn.open_table(schema::VERSIONS).unwrap();
            // Too short for its record's length; a length past the value's end.
            versions
                .insert(("zeta", "example.com/small", "v1.0.0"), b"{".as_slice())
                .unwrap();
            versions
                .insert(
                    ("acme", "example.com/big", "v1.0.0"),
                    [&9u32.to_le_bytes()[..], b"{}"].concat().as_slice(),
                )
                .unwrap();
        });
        let report = store.verify().unwrap();
        let unreadable = damaged(
            &report,
            "unreadable version record: the database is damaged: a version value of 1 bytes",
        );
        assert_eq!(unreadable.versions, ["zeta example.com/small@v1.0.0"]);
        assert_eq!(
            found(
                &report,
                "unreadable version record: the database is damaged: a version value of 6 bytes"
            )
            .versions,
            ["acme example.com/big@v1.0.0"]
        );
        // The unreadable records no longer count as users of their blobs.
        assert!(
            found(&report, "has reference count 2 but 1 versions use it")
                .versions
                .contains(&"acme example.com/small@v1.0.0".to_owned())
        );
        found(&report, "has reference count 1 but 0 versions use it");
        assert_eq!(report.versions, 3, "an unreadable version is still counted");
        assert_eq!(report.problems.len(), 4, "{:?}", report.whats());
    }

    #[test]
    fn recorded_hashes_sizes_and_mods_are_checked_against_the_zip() {
        let (_dir, store) = fixture();
        edit_version(&store, "acme", "example.com/small", |r| {
            r.h1 = "h1:other".into()
        });
        edit_version(&store, "acme", "example.com/big", |r| r.size += 1);
        damage(&store, |txn| {
            let mut versions = txn.open_table(schema::VERSIONS).unwrap();
            let key = ("zeta", "example.com/small", "v1.0.0");
            let value = versions.get(key).unwrap().unwrap().value().to_vec();
            let rec = version_record(&value).unwrap();
            let other =
                super::super::version_value(&rec, Some(b"module example.com/other\n")).unwrap();
            versions.insert(key, other.as_slice()).unwrap();
        });
        let report = store.verify().unwrap();
        let hashes = found(&report, "but h1:other / ");
        assert!(
            hashes.what.starts_with("zip hashes to h1:"),
            "{}",
            hashes.what
        );
        assert_eq!(hashes.versions, ["acme example.com/small@v1.0.0"]);
        let big = big_zip().len();
        assert_eq!(
            found(&report, "version records size").what,
            format!("version records size {} but blob has {big}", big + 1)
        );
        assert_eq!(
            found(&report, "stored .mod differs").versions,
            ["zeta example.com/small@v1.0.0"]
        );
        assert_eq!(report.problems.len(), 3, "{:?}", report.whats());
    }

    #[test]
    fn a_mod_hash_alone_that_differs_is_found() {
        let (_dir, store) = fixture();
        edit_version(&store, "acme", "example.com/big", |r| {
            r.mod_h1 = "h1:othermod".into();
        });
        let report = store.verify().unwrap();
        assert_eq!(
            found(&report, "/ h1:othermod was recorded").versions,
            ["acme example.com/big@v1.0.0"]
        );
        assert_eq!(report.problems.len(), 1, "{:?}", report.whats());
    }

    #[test]
    fn a_changed_chunk_a_lost_chunk_and_a_stray_one_are_found() {
        let (_dir, store) = fixture();
        let big = blob_of(&store, "acme", "example.com/big");
        damage(&store, |txn| {
            let mut chunks = txn.open_table(schema::CHUNKS).unwrap();
            let mut bytes = chunks.get((&big, 1)).unwrap().unwrap().value().to_vec();
            bytes[100] ^= 1;
            chunks.insert((&big, 1), bytes.as_slice()).unwrap();
            // A chunk past the blob's last, and one of no blob.
            chunks.insert((&big, 2), b"x".as_slice()).unwrap();
            chunks.insert((&[9u8; 32], 0), b"y".as_slice()).unwrap();
        });
        let report = store.verify().unwrap();
        assert_eq!(
            found(&report, "content does not match its BLAKE3").versions,
            ["acme example.com/big@v1.0.0"]
        );
        assert_eq!(
            found(&report, "orphan chunks").what,
            "2 orphan chunks (belonging to no blob)"
        );
        assert_eq!(report.chunks, 4);

        damage(&store, |txn| {
            txn.open_table(schema::CHUNKS)
                .unwrap()
                .remove((&big, 0))
                .unwrap();
        });
        let report = store.verify().unwrap();
        let lost = found(&report, &format!("blob {}: ", hex::encode(big)));
        assert_eq!(lost.versions, ["acme example.com/big@v1.0.0"]);
        assert!(
            !report.whats().iter().any(|w| w.contains("does not match")),
            "a blob that cannot be read is not hashed: {:?}",
            report.whats()
        );
    }

    #[test]
    fn a_missing_blob_names_every_version_that_used_it() {
        let (_dir, store) = fixture();
        let small = blob_of(&store, "acme", "example.com/small");
        damage(&store, |txn| {
            txn.open_table(schema::BLOB_STORE)
                .unwrap()
                .remove(blobs::blob_key(&small).as_slice())
                .unwrap();
        });
        let report = store.verify().unwrap();
        let missing = found(&report, &format!("blob {} is missing", hex::encode(small)));
        assert_eq!(
            missing.versions,
            [
                "acme example.com/small@v1.0.0",
                "zeta example.com/small@v1.0.0"
            ]
        );
        assert_eq!(report.blobs, 1);
        // Its packed bytes are now nobody's: the pack record counts more than blobs hold.
        assert!(
            report
                .whats()
                .iter()
                .any(|w| w.starts_with("pack record 0 counts") && w.ends_with("blobs hold 0")),
            "{:?}",
            report.whats()
        );
    }

    #[test]
    fn a_version_naming_no_valid_blob_id_is_a_missing_blob() {
        let (_dir, store) = fixture();
        edit_version(&store, "acme", "example.com/big", |r| {
            r.blake3 = "zz".into()
        });
        let report = store.verify().unwrap();
        assert_eq!(
            found(&report, "blob zz is missing").versions,
            ["acme example.com/big@v1.0.0"]
        );
    }

    #[test]
    fn bytes_that_are_no_module_zip_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.redb")).unwrap();
        super::super::put_test_version(&store, b"not a zip at all");
        let report = store.verify().unwrap();
        let invalid = found(&report, "zip no longer valid: ");
        assert_eq!(invalid.versions, ["acme example.com/m@v1.0.0"]);
        assert_eq!(report.problems.len(), 1, "{:?}", report.whats());
    }

    #[test]
    fn cached_versions_hold_references_too() {
        let (dir, store) = fixture();
        let bytes = module_zip("example.com/small", "v1.0.0", 0);
        let summary = gomod::zip::validate(
            std::io::Cursor::new(&bytes),
            bytes.len() as u64,
            "example.com/small",
            "v1.0.0",
        )
        .unwrap();
        let rec = CachedRecord::fetched("v1.0.0", &summary.mod_h1);
        store
            .cache_put_meta("example.com/small", "v1.0.0", &rec, &summary.mod_bytes)
            .unwrap();
        // Its .info and .mod alone use no blob.
        let report = store.verify().unwrap();
        assert!(report.is_clean(), "{:?}", report.whats());
        assert_eq!(report.versions, 4);
        let id = *blake3::hash(&bytes).as_bytes();
        store
            .cache_put_zip(
                "example.com/small",
                "v1.0.0",
                (id, bytes.len() as u64, &summary.h1),
                &mut std::io::Cursor::new(&bytes),
            )
            .unwrap();
        let report = store.verify().unwrap();
        assert!(report.is_clean(), "{:?}", report.whats());
        assert_eq!(report.blobs, 2, "deduplicated with the hosted zip");

        damage(&store, |txn| {
            txn.open_table(schema::CACHED)
                .unwrap()
                .insert(("example.com/small", "v1.0.0"), b"[]".as_slice())
                .unwrap();
        });
        let report = store.verify().unwrap();
        assert_eq!(
            found(&report, "unreadable cached version record").versions,
            ["(cache) example.com/small@v1.0.0"]
        );
        assert!(
            found(&report, "has reference count 3 but 2 versions use it")
                .versions
                .len()
                == 2
        );
        drop(dir);
    }

    /// The live count of pack record `record`.
    fn live_count(store: &Store, record: u64) -> u32 {
        let txn = store.begin_read().unwrap();
        let table = txn.open_table(schema::BLOB_STORE).unwrap();
        let g = table
            .get(packs::pack_key(record).as_slice())
            .unwrap()
            .unwrap();
        packs::live(g.value()).unwrap()
    }

    #[test]
    fn the_pack_stream_is_checked_against_its_blobs() {
        let (_dir, store) = fixture();
        let small = blob_of(&store, "acme", "example.com/small");
        let live = live_count(&store, 0);
        assert!(live > 0);
        // A wrong live count; a record after it with none (not the last: its bytes are
        // nobody's); a last record with none (where the next packed bytes will go); a record
        // too short for its header.
        damage(&store, |txn| {
            let mut table = txn.open_table(schema::BLOB_STORE).unwrap();
            let key = |r: u64| packs::pack_key(r);
            let mut rec = table
                .get(key(0).as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            rec[..4].copy_from_slice(&(live + 7).to_le_bytes());
            table.insert(key(0).as_slice(), rec.as_slice()).unwrap();
            table
                .insert(key(5).as_slice(), [0u8, 0, 0, 0, 1, 2].as_slice())
                .unwrap();
            table
                .insert(key(6).as_slice(), [1u8, 0].as_slice())
                .unwrap();
            table
                .insert(key(9).as_slice(), [0u8; 4].as_slice())
                .unwrap();
            // A key under the pack tag that is no record number, after all the others.
            table
                .insert(b"pxyz".as_slice(), [0u8; 4].as_slice())
                .unwrap();
        });
        let report = store.verify().unwrap();
        assert_eq!(report.pack_records, 4);
        assert!(found(&report, "a pack record key of 4 bytes")
            .versions
            .is_empty());
        assert_eq!(
            found(&report, "pack record 0 counts").what,
            format!(
                "pack record 0 counts {} live bytes, blobs hold {live}",
                live + 7
            )
        );
        assert_eq!(
            found(&report, "pack record 5").what,
            "pack record 5 holds bytes of no blob"
        );
        assert!(found(&report, "pack record 6: ")
            .what
            .contains("without its header"));
        assert!(
            !report.whats().iter().any(|w| w.contains("pack record 9")),
            "the last record may be empty: {:?}",
            report.whats()
        );

        // A packed blob that lost its position (as the migration of a damaged older file
        // leaves it): counted, and unreadable.
        damage(&store, |txn| {
            let mut table = txn.open_table(schema::BLOB_STORE).unwrap();
            let key = blobs::blob_key(&small);
            let rec = blobs::record(&table, &small).unwrap().unwrap();
            let lost = blobs::BlobRecord {
                packed_at: u64::MAX,
                ..rec
            };
            table
                .insert(key.as_slice(), lost.encode().as_slice())
                .unwrap();
        });
        let report = store.verify().unwrap();
        assert_eq!(report.blobs, 2);
        assert_eq!(
            found(&report, &format!("blob {}: ", hex::encode(small))).versions,
            [
                "acme example.com/small@v1.0.0",
                "zeta example.com/small@v1.0.0"
            ]
        );
    }

    #[test]
    fn a_blob_cursor_reads_and_seeks_like_a_file() {
        let (_dir, store) = fixture();
        let big = blob_of(&store, "acme", "example.com/big");
        let want = big_zip();
        let txn = store.begin_read().unwrap();
        let reader = BlobReader::open(&txn, &big).unwrap().unwrap();
        let mut cursor = BlobCursor {
            reader: &reader,
            pos: 0,
        };
        let size = want.len() as u64;
        // Reads bounded a byte past the end: a cursor that never ends fails, not hangs.
        let mut all = Vec::new();
        (&mut cursor).take(size + 1).read_to_end(&mut all).unwrap();
        assert!(all == want, "the whole blob, in reads of at most 64 KiB");
        assert_eq!(cursor.seek(SeekFrom::End(-10)).unwrap(), size - 10);
        let mut tail = Vec::new();
        (&mut cursor).take(11).read_to_end(&mut tail).unwrap();
        assert_eq!(tail, want[want.len() - 10..]);
        assert_eq!(cursor.seek(SeekFrom::Current(-4)).unwrap(), size - 4);
        assert_eq!(cursor.seek(SeekFrom::Start(3)).unwrap(), 3);
        let mut three = [0u8; 3];
        cursor.read_exact(&mut three).unwrap();
        assert_eq!(three, want[3..6]);
        assert!(
            cursor.seek(SeekFrom::Current(-7)).is_err(),
            "before the start"
        );
        assert!(cursor.seek(SeekFrom::End(-(size as i64) - 1)).is_err());
        assert_eq!(hash_blob(&reader).unwrap(), big);
    }
}
