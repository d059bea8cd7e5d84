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
use super::{blobs::BlobReader, decode, packs, schema, Result, Store};
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
                match decode::<VersionRecord>("version", v.value()) {
                    Ok(rec) => users.entry(rec.blake3.clone()).or_default().push((
                        owner.to_owned(),
                        module.to_owned(),
                        version.to_owned(),
                        rec,
                    )),
                    Err(e) => report.problem(
                        format!("unreadable version record: {e}"),
                        vec![name.clone()],
                    ),
                }
                if mods.get((owner, module, version))?.is_none() {
                    report.problem("no .mod stored".into(), vec![name]);
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
            for item in mods.iter()? {
                let (k, _) = item?;
                let (owner, module, version) = k.value();
                if versions.get((owner, module, version))?.is_none() {
                    report.problem(
                        ".mod stored for a version that does not exist".into(),
                        vec![format!("{owner} {module}@{version}")],
                    );
                }
            }

            // Blobs: presence, reference counts, chunk sizes, content hash.
            let blobs = txn.open_table(schema::BLOBS)?;
            let mut expected_chunks: BTreeMap<[u8; 32], u32> = BTreeMap::new();
            let mut expected_packed: BTreeMap<[u8; 32], u64> = BTreeMap::new();
            for item in blobs.iter()? {
                let (k, v) = item?;
                let id = *k.value();
                let (size, refs, chunk) = v.value();
                report.blobs += 1;
                report.bytes += size;
                let hex_id = hex::encode(id);
                let names: Vec<String> = users
                    .get(&hex_id)
                    .map(|u| {
                        u.iter()
                            .map(|(o, m, v, _)| format!("{o} {m}@{v}"))
                            .collect()
                    })
                    .unwrap_or_default();
                if refs != names.len() as u64 {
                    report.problem(
                        format!(
                            "blob {hex_id} has reference count {refs} but {} versions use it",
                            names.len()
                        ),
                        names.clone(),
                    );
                }
                let layout = super::blobs::Layout::from_field(size, chunk);
                expected_chunks.insert(id, layout.count());
                if layout.packed_len() > 0 {
                    expected_packed.insert(id, layout.packed_len());
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
                                size,
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
                            let stored =
                                mods.get((owner.as_str(), module.as_str(), version.as_str()))?;
                            if stored.is_some_and(|m| m.value() != summary.mod_bytes.as_slice()) {
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
                    if rec.size != size {
                        report.problem(
                            format!("version records size {} but blob has {size}", rec.size),
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

/// The pack stream against the blobs that use it: every packed blob has a position, every
/// position a blob, each record's live count is what those blobs hold in it, and no record but
/// the last is left with none. (Whether the bytes are there and right, `hash_blob` saw.)
fn check_packs(
    txn: &redb::ReadTransaction,
    expected: &BTreeMap<[u8; 32], u64>,
    report: &mut VerifyReport,
) -> Result<()> {
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    let mut positioned = 0usize;
    for item in txn.open_table(schema::PACKED)?.iter()? {
        let (k, v) = item?;
        let hex_id = hex::encode(k.value());
        match expected.get(k.value()) {
            Some(&len) => {
                positioned += 1;
                for (record, _, n) in packs::spans(v.value(), len) {
                    *live.entry(record).or_default() += n;
                }
            }
            None => report.problem(
                format!("packed position for blob {hex_id}, which has no packed bytes"),
                Vec::new(),
            ),
        }
    }
    if positioned != expected.len() {
        report.problem(
            format!(
                "{} blobs lack the position of their packed bytes",
                expected.len() - positioned
            ),
            Vec::new(),
        );
    }
    let table = txn.open_table(schema::PACKS)?;
    let last = table.last()?.map(|(k, _)| k.value());
    for item in table.iter()? {
        let (k, v) = item?;
        let record = k.value();
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
