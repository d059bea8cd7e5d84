//! Namespaces, modules and versions: publish, delete, look up, list.

use std::io::Read;

use redb::{ReadableDatabase, ReadableTable};

use super::records::{ModuleRecord, NamespaceRecord, TombstoneRecord, VersionRecord};
use super::{
    blobs, decode, encode, schema, version_go_mod, version_parts, version_record, version_value,
    version_value_raw, BlobReader, BlobSite, Error, Result, Store, INLINE_MOD_MAX,
};
use crate::gomod::zip::ZipSummary;

/// A version about to be published: the validated zip and where its bytes are.
#[derive(Debug)]
pub struct NewVersion<'a> {
    pub owner: &'a str,
    pub summary: &'a ZipSummary,
    /// BLAKE3 of the zip bytes.
    pub blake3: [u8; 32],
    /// Size of the zip in bytes.
    pub size: u64,
    pub uploader: &'a str,
    pub time: i64,
}

/// A version looked up by (owner, module, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionLookup {
    Found(VersionRecord),
    /// It existed and was deleted.
    Deleted,
    /// The module exists, the version never did.
    Missing,
    /// The module does not exist in this namespace.
    NoModule,
}

/// A version's zip, ready to stream from one snapshot.
#[derive(Debug)]
pub enum ZipLookup {
    Found(VersionRecord, Box<BlobReader>),
    Deleted,
    Missing,
    NoModule,
}

impl Store {
    /// Deletes a version: it leaves list, info, mod and zip; a tombstone keeps its hashes; its
    /// blob loses a reference and is freed with the last one.
    ///
    /// Returns `false` when there was no such version.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn delete_version(
        &self,
        owner: &str,
        module: &str,
        version: &str,
        now: i64,
    ) -> Result<bool> {
        self.remove_version(owner, module, version, now, false)
    }

    /// Deletes a version as `delete_version` does and, with `purge`, removes its tombstone
    /// too (or the tombstone of a version deleted before), in one transaction: a failure
    /// leaves both as they were. Returns whether there was a version or a tombstone to remove.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn remove_version(
        &self,
        owner: &str,
        module: &str,
        version: &str,
        now: i64,
        purge: bool,
    ) -> Result<bool> {
        self.with_db(|db| {
            let key = (owner, module, version);
            let txn = self.begin_write(db)?;
            let removed = {
                let mut versions = txn.open_table(schema::VERSIONS)?;
                let (rec, apart) = match versions.remove(key)? {
                    Some(g) => (
                        Some(version_record(g.value())?),
                        version_parts(g.value())?.1.is_none(),
                    ),
                    None => (None, false),
                };
                if apart {
                    txn.open_table(schema::GO_MODS)?.remove(key)?;
                }
                let mut tombstones = txn.open_table(schema::TOMBSTONES)?;
                if let Some(rec) = &rec {
                    if !purge {
                        let tomb = TombstoneRecord {
                            h1: rec.h1.clone(),
                            mod_h1: rec.mod_h1.clone(),
                            deleted_at: now,
                        };
                        tombstones.insert(key, encode(&tomb)?.as_slice())?;
                    }
                    blobs::release(&txn, &parse_blake3(&rec.blake3)?)?;
                }
                let purged = purge && tombstones.remove(key)?.is_some();
                rec.is_some() || purged
            };
            if !removed {
                return Ok(false);
            }
            self.commit_txn(txn)?;
            Ok(true)
        })
    }

    /// Removes the tombstone of a deleted version, so that the version may be uploaded again
    /// with any content (clients that pinned the old checksum will then fail to verify it).
    /// Returns whether there was one.
    ///
    /// # Errors
    /// Storage errors.
    pub fn purge_tombstone(&self, owner: &str, module: &str, version: &str) -> Result<bool> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            let removed = txn
                .open_table(schema::TOMBSTONES)?
                .remove((owner, module, version))?
                .is_some();
            self.commit_txn(txn)?;
            Ok(removed)
        })
    }

    /// Whether `module` exists in namespace `owner`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn module_exists(&self, owner: &str, module: &str) -> Result<bool> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let modules = txn.open_table(schema::MODULES)?;
            Ok(modules.get((owner, module))?.is_some())
        })
    }

    /// The first of `paths` (in order) that a namespace of `owners` hosts, with the first such
    /// namespace (in order), read from one snapshot.
    ///
    /// # Errors
    /// Storage errors.
    pub fn first_hosted(
        &self,
        paths: &[&str],
        owners: &[&str],
    ) -> Result<Option<(String, String)>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let modules = txn.open_table(schema::MODULES)?;
            for path in paths {
                for owner in owners {
                    if modules.get((*owner, *path))?.is_some() {
                        return Ok(Some(((*path).to_owned(), (*owner).to_owned())));
                    }
                }
            }
            Ok(None)
        })
    }

    /// The namespaces that host `module`, by name, with their records, from one snapshot. A
    /// namespace's record is read only when it hosts the module, so a miss costs one lookup
    /// per namespace.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn hosts_of(&self, module: &str) -> Result<Vec<(String, NamespaceRecord)>> {
        self.read(|txn| {
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let modules = txn.open_table(schema::MODULES)?;
            let mut out = Vec::new();
            for item in namespaces.iter()? {
                let (k, v) = item?;
                let owner = k.value();
                if modules.get((owner, module))?.is_some() {
                    out.push((owner.to_owned(), decode("namespace", v.value())?));
                }
            }
            Ok(out)
        })
    }

    /// Looks a version up.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn get_version(&self, owner: &str, module: &str, version: &str) -> Result<VersionLookup> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            lookup(&txn, owner, module, version)
        })
    }

    /// The `.mod` bytes of a version, with its lookup state.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn get_go_mod(
        &self,
        owner: &str,
        module: &str,
        version: &str,
    ) -> Result<(VersionLookup, Option<Vec<u8>>)> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let key = (owner, module, version);
            // One read of the version's value gives its record and (most often) its `.mod`.
            let value = txn
                .open_table(schema::VERSIONS)?
                .get(key)?
                .map(|v| v.value().to_vec());
            let Some(value) = value else {
                return Ok((lookup(&txn, owner, module, version)?, None));
            };
            let go_mod = version_go_mod(key, &value, || {
                Ok(txn
                    .open_table(schema::GO_MODS)?
                    .get(key)?
                    .map(|v| v.value().to_vec()))
            })?;
            Ok((VersionLookup::Found(version_record(&value)?), Some(go_mod)))
        })
    }

    /// A version's zip, for streaming from one consistent snapshot.
    ///
    /// # Errors
    /// Storage errors, a damaged record, or a version whose blob is missing.
    pub fn open_zip(&self, owner: &str, module: &str, version: &str) -> Result<ZipLookup> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            Ok(match lookup(&txn, owner, module, version)? {
                VersionLookup::Found(rec) => {
                    let id = parse_blake3(&rec.blake3)?;
                    let reader = BlobReader::open(&txn, &id)?.ok_or_else(|| {
                        Error::Corrupt(format!("{module}@{version}: blob {} missing", rec.blake3))
                    })?;
                    ZipLookup::Found(rec, Box::new(reader))
                }
                VersionLookup::Deleted => ZipLookup::Deleted,
                VersionLookup::Missing => ZipLookup::Missing,
                VersionLookup::NoModule => ZipLookup::NoModule,
            })
        })
    }

    /// The BLAKE3 of a version's zip (the key of what is derived from it), if the version
    /// is published.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn zip_id(&self, owner: &str, module: &str, version: &str) -> Result<Option<[u8; 32]>> {
        match self.get_version(owner, module, version)? {
            VersionLookup::Found(rec) => Ok(Some(parse_blake3(&rec.blake3)?)),
            _ => Ok(None),
        }
    }

    /// A version's record and, read in the same short snapshot, a copy of its zip's bytes
    /// `[start, start + want)` (fewer at the zip's end), gathered across stored values. Nothing
    /// of the snapshot outlives the call: a client that reads the answer slowly holds no
    /// database pages (`blob_piece` reads the rest the same way).
    ///
    /// # Errors
    /// Storage errors, or a damaged record or blob.
    pub fn zip_start(
        &self,
        owner: &str,
        module: &str,
        version: &str,
        start: u64,
        want: usize,
    ) -> Result<(VersionLookup, bytes::Bytes, Option<BlobSite>)> {
        self.read(|txn| {
            let found = lookup(txn, owner, module, version)?;
            let VersionLookup::Found(rec) = &found else {
                return Ok((found, bytes::Bytes::new(), None));
            };
            let (bytes, site) = blob_start(
                txn,
                &rec.blake3,
                start,
                want,
                &format!("{module}@{version}"),
            )?;
            Ok((found, bytes, Some(site)))
        })
    }

    /// A copy of the bytes of blob `id` from `offset`: at most `max`, from the one stored value
    /// holding `offset`, read in a read transaction of its own that ends before this returns.
    /// Blobs are content-addressed, so whatever snapshot it reads, the bytes are the same;
    /// `None` when no version holds the blob any more (it was deleted meanwhile).
    ///
    /// # Errors
    /// Storage errors, or a damaged blob.
    pub fn blob_piece(
        &self,
        id: &[u8; 32],
        offset: u64,
        max: usize,
    ) -> Result<Option<bytes::Bytes>> {
        self.read(|txn| {
            let Some(reader) = BlobReader::open(txn, id)? else {
                return Ok(None);
            };
            Ok(Some(bytes::Bytes::copy_from_slice(
                &reader.bytes_at(offset, max)?,
            )))
        })
    }

    /// A copy of the bytes of the blob at `site` (from `zip_start`), gathered across stored
    /// values in one short read transaction without looking the blob up again; `None` when
    /// they are not all there any more (the blob was deleted since; see `BlobSite`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn site_bytes(&self, site: BlobSite) -> Result<Option<bytes::Bytes>> {
        self.read(|txn| {
            let reader = BlobReader::at_site(txn, site)?;
            let size = site.size();
            let mut out = bytes::BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
            while (out.len() as u64) < size {
                match reader.bytes_at(out.len() as u64, usize::MAX) {
                    Ok(piece) if !piece.is_empty() => out.extend_from_slice(&piece),
                    Ok(_) | Err(Error::Corrupt(_)) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            Ok(Some(out.freeze()))
        })
    }

    /// The published version strings of a module, in key order, without decoding their records
    /// (what `@v/list` needs); `None` when the module does not exist.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list_version_names(&self, owner: &str, module: &str) -> Result<Option<Vec<String>>> {
        self.module_versions(owner, module, |ver, _| Ok(ver.to_owned()))
    }

    /// Every published version of a module, in key order; `None` when the module does not exist.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_versions(
        &self,
        owner: &str,
        module: &str,
    ) -> Result<Option<Vec<(String, VersionRecord)>>> {
        self.module_versions(owner, module, |ver, v| {
            Ok((ver.to_owned(), version_record(v.value())?))
        })
    }

    /// `each` of every version record of a module, in key order; `None` when the module does
    /// not exist.
    fn module_versions<T>(
        &self,
        owner: &str,
        module: &str,
        each: impl Fn(&str, redb::AccessGuard<'_, &'static [u8]>) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            if txn
                .open_table(schema::MODULES)?
                .get((owner, module))?
                .is_none()
            {
                return Ok(None);
            }
            let mut out = Vec::new();
            for_module(
                &txn.open_table(schema::VERSIONS)?,
                owner,
                module,
                |ver, v| {
                    out.push(each(ver, v)?);
                    Ok(())
                },
            )?;
            Ok(Some(out))
        })
    }
}

/// Why a version could not be written into a (possibly shared) write transaction.
pub(super) enum ApplyError {
    /// Refused before anything was written: the transaction is intact.
    Refused(Error),
    /// Failed after writing part of the version: the transaction must be aborted.
    Failed(Error),
}

/// Writes one version into `txn`: blob (or one more reference to it), namespace and module
/// records on first use, version record and `.mod` bytes. Committing is the caller's business
/// (`Store::put_version`, which may share the transaction with concurrent uploads).
pub(super) fn apply_version(
    txn: &redb::WriteTransaction,
    new: &NewVersion<'_>,
    zip: &mut dyn Read,
) -> std::result::Result<(), ApplyError> {
    let module = new.summary.path.as_str();
    let version = new.summary.version.as_str();
    let key = (new.owner, module, version);
    let failed = |e: Error| ApplyError::Failed(e);
    let mut versions = txn
        .open_table(schema::VERSIONS)
        .map_err(|e| failed(e.into()))?;
    if versions.get(key).map_err(|e| failed(e.into()))?.is_some() {
        return Err(ApplyError::Refused(Error::VersionExists {
            module: module.to_owned(),
            version: version.to_owned(),
        }));
    }
    let mut tombstones = txn
        .open_table(schema::TOMBSTONES)
        .map_err(|e| failed(e.into()))?;
    let tomb: Option<TombstoneRecord> = match tombstones.get(key).map_err(|e| failed(e.into()))? {
        Some(g) => Some(decode("tombstone", g.value()).map_err(failed)?),
        None => None,
    };
    if let Some(tomb) = &tomb {
        if tomb.h1 != new.summary.h1 || tomb.mod_h1 != new.summary.mod_h1 {
            return Err(ApplyError::Refused(Error::TombstoneMismatch {
                module: module.to_owned(),
                version: version.to_owned(),
                h1: tomb.h1.clone(),
            }));
        }
    }
    let mut namespaces = txn
        .open_table(schema::NAMESPACES)
        .map_err(|e| failed(e.into()))?;
    let ns: Option<NamespaceRecord> =
        match namespaces.get(new.owner).map_err(|e| failed(e.into()))? {
            Some(g) => Some(decode("namespace", g.value()).map_err(failed)?),
            None => None,
        };
    if let Some(ns) = &ns {
        // Usage counts what this transaction holds, the versions of a shared group included.
        match super::accounts::check_quota(&versions, new.owner, ns, new.size) {
            Ok(()) => {}
            Err(e @ Error::QuotaExceeded { .. }) => return Err(ApplyError::Refused(e)),
            Err(e) => return Err(failed(e)),
        }
    }
    // The checksum database: a path@version logged with other hashes is refused (records
    // are forever); a new one is appended in this same transaction, so the version is
    // stored and logged together or not at all.
    let ns_now = ns
        .clone()
        .unwrap_or_else(|| NamespaceRecord::new(new.time, crate::auth::Kind::Org));
    let readers = super::sumdb::readers_in(txn).map_err(failed)?;
    match super::sumdb::uncovered_private(
        txn,
        readers,
        &ns_now,
        &mut std::iter::once(module.to_owned()),
    ) {
        Ok(Some(path)) => {
            return Err(ApplyError::Refused(Error::PrivateUncovered {
                suggestion: super::sumdb::suggested_pattern(&path).to_owned(),
                module: path,
            }));
        }
        Ok(None) => {}
        Err(e) => return Err(failed(e)),
    }
    match super::sumdb::log_version(
        txn,
        readers,
        new.owner,
        &ns_now,
        module,
        version,
        (&new.summary.h1, &new.summary.mod_h1),
    ) {
        Ok(Some(super::sumdb::Logged::NeedsClaim(held))) => {
            return Err(ApplyError::Refused(Error::NeedsClaim {
                module: module.to_owned(),
                owner: new.owner.to_owned(),
                held,
            }));
        }
        Ok(Some(super::sumdb::Logged::NotOwner)) => {
            return Err(ApplyError::Refused(Error::PathTaken {
                module: module.to_owned(),
                owner: new.owner.to_owned(),
            }));
        }
        Ok(Some(super::sumdb::Logged::Conflict(text))) => {
            return Err(ApplyError::Refused(Error::LogConflict {
                module: module.to_owned(),
                version: version.to_owned(),
                h1: super::sumdb::record_zip_h1(&text).to_owned(),
            }));
        }
        Ok(_) => {}
        Err(e) => return Err(failed(e)),
    }
    // From here on the transaction is written to: any error aborts it.
    (|| -> Result<()> {
        if tomb.is_some() {
            tombstones.remove(key)?;
        }
        if ns.is_none() {
            let ns = NamespaceRecord::new(new.time, crate::auth::Kind::Org);
            namespaces.insert(new.owner, encode(&ns)?.as_slice())?;
        }
        let mut modules = txn.open_table(schema::MODULES)?;
        if modules.get((new.owner, module))?.is_none() {
            let rec = ModuleRecord {
                created_at: new.time,
            };
            modules.insert((new.owner, module), encode(&rec)?.as_slice())?;
        }
        blobs::add_ref(txn, &new.blake3, new.size, zip)?;
        let rec = VersionRecord {
            blake3: hex::encode(new.blake3),
            size: new.size,
            h1: new.summary.h1.clone(),
            mod_h1: new.summary.mod_h1.clone(),
            time: new.time,
            uploader: new.uploader.to_owned(),
        };
        let go_mod = new.summary.mod_bytes.as_slice();
        if go_mod.len() <= INLINE_MOD_MAX {
            versions.insert(key, version_value(&rec, Some(go_mod))?.as_slice())?;
        } else {
            versions.insert(key, version_value(&rec, None)?.as_slice())?;
            txn.open_table(schema::GO_MODS)?.insert(key, go_mod)?;
        }
        Ok(())
    })()
    .map_err(failed)
}

/// Moves the `.mod` bytes of schema 3 or older (`GO_MODS`) up to `INLINE_MOD_MAX` into the
/// `VERSIONS` values; longer ones stay in `GO_MODS`, and so does the lack of one (a damaged
/// file: reading it fails as before, and `verify` names it). Records are copied unread, so a
/// damaged one is reported by `verify`, not a reason the file cannot open. Part of the
/// transaction that marks the file schema 4 (`Store::open`); rewritten a batch of keys at a
/// time, as a table cannot be written while it is iterated.
pub(super) fn migrate_go_mods(txn: &redb::WriteTransaction) -> Result<()> {
    const BATCH: usize = 1024;
    let mut versions = txn.open_table(schema::VERSIONS)?;
    let mut mods = txn.open_table(schema::GO_MODS)?;
    let mut after: Option<(String, String, String)> = None;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        {
            let range = match &after {
                None => versions.range::<(&str, &str, &str)>(..)?,
                Some((o, m, v)) => versions.range((
                    std::ops::Bound::Excluded((o.as_str(), m.as_str(), v.as_str())),
                    std::ops::Bound::Unbounded,
                ))?,
            };
            for item in range.take(BATCH) {
                let (k, v) = item?;
                let (o, m, ver) = k.value();
                batch.push((
                    (o.to_owned(), m.to_owned(), ver.to_owned()),
                    v.value().to_vec(),
                ));
            }
        }
        let Some((last, _)) = batch.last() else {
            break;
        };
        after = Some(last.clone());
        for ((o, m, v), json) in &batch {
            let key = (o.as_str(), m.as_str(), v.as_str());
            let go_mod = mods.get(key)?.map(|g| g.value().to_vec());
            let value = match go_mod {
                Some(go_mod) if go_mod.len() <= INLINE_MOD_MAX => {
                    mods.remove(key)?;
                    version_value_raw(json, Some(&go_mod))?
                }
                _ => version_value_raw(json, None)?,
            };
            versions.insert(key, value.as_slice())?;
        }
    }
    Ok(())
}

fn lookup(
    txn: &redb::ReadTransaction,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<VersionLookup> {
    let versions = txn.open_table(schema::VERSIONS)?;
    if let Some(g) = versions.get((owner, module, version))? {
        return Ok(VersionLookup::Found(version_record(g.value())?));
    }
    let modules = txn.open_table(schema::MODULES)?;
    if modules.get((owner, module))?.is_none() {
        return Ok(VersionLookup::NoModule);
    }
    let tombstones = txn.open_table(schema::TOMBSTONES)?;
    if tombstones.get((owner, module, version))?.is_some() {
        return Ok(VersionLookup::Deleted);
    }
    Ok(VersionLookup::Missing)
}

/// A copy of bytes `[start, start + want)` of the blob `blake3_hex` (fewer at its end),
/// gathered across stored values, and where the blob is; `what` names its user in errors.
pub(super) fn blob_start(
    txn: &redb::ReadTransaction,
    blake3_hex: &str,
    start: u64,
    want: usize,
    what: &str,
) -> Result<(bytes::Bytes, BlobSite)> {
    let id = parse_blake3(blake3_hex)?;
    let reader = BlobReader::open(txn, &id)?
        .ok_or_else(|| Error::Corrupt(format!("{what}: blob {blake3_hex} missing")))?;
    let end = reader.size().min(start.saturating_add(want as u64));
    let mut out =
        bytes::BytesMut::with_capacity(usize::try_from(end.saturating_sub(start)).unwrap_or(0));
    let mut at = start;
    while at < end {
        let piece = reader.bytes_at(at, usize::try_from(end - at).unwrap_or(usize::MAX))?;
        if piece.is_empty() {
            return Err(Error::Corrupt(format!(
                "blob {blake3_hex} ended early at {at}"
            )));
        }
        out.extend_from_slice(&piece);
        at += piece.len() as u64;
    }
    Ok((out.freeze(), reader.site()))
}

/// A blob id from its hex form (as in `VersionRecord::blake3`).
///
/// # Errors
/// `Error::Corrupt` for anything but 64 hex digits.
pub fn parse_blake3(hex_id: &str) -> Result<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(hex_id, &mut id)
        .map_err(|_| Error::Corrupt(format!("bad blob id {hex_id:?}")))?;
    Ok(id)
}

/// Calls `f` with the version and value of each entry of `table` (keyed by owner, module
/// path and version) that belongs to one module, in key order.
pub(super) fn for_module<V: redb::Value + 'static>(
    table: &impl ReadableTable<(&'static str, &'static str, &'static str), V>,
    owner: &str,
    module: &str,
    mut f: impl FnMut(&str, redb::AccessGuard<'_, V>) -> Result<()>,
) -> Result<()> {
    for item in table.range((owner, module, "")..)? {
        let (k, v) = item?;
        let (o, m, ver) = k.value();
        if o != owner || m != module {
            break;
        }
        f(ver, v)?;
    }
    Ok(())
}

/// A version a retention run removes (or would).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retired {
    pub owner: String,
    pub module: String,
    pub version: String,
    pub reason: &'static str,
}

impl Store {
    /// Sets (or, with `None` or empty rules, clears) namespace `owner`'s retention rules.
    ///
    /// # Errors
    /// `NoSuchOwner`; storage errors.
    pub fn set_retention(
        &self,
        owner: &str,
        rules: Option<crate::gomod::retention::Retention>,
    ) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut namespaces = txn.open_table(schema::NAMESPACES)?;
                let mut ns: NamespaceRecord = match namespaces.get(owner)? {
                    Some(g) => decode("namespace", g.value())?,
                    None => {
                        return Err(Error::NoSuchOwner {
                            name: owner.to_owned(),
                        })
                    }
                };
                ns.retention = rules.filter(|r| !r.is_empty());
                namespaces.insert(owner, encode(&ns)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// What the namespaces' retention rules remove at `now`, by namespace, module and
    /// version (`owner`: that namespace only), read from one snapshot.
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn retention_plan(&self, owner: Option<&str>, now: i64) -> Result<Vec<Retired>> {
        self.read(|txn| {
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let modules = txn.open_table(schema::MODULES)?;
            let versions = txn.open_table(schema::VERSIONS)?;
            let mut out = Vec::new();
            for item in namespaces.iter()? {
                let (k, v) = item?;
                let name = k.value();
                if owner.is_some_and(|o| o != name) {
                    continue;
                }
                let ns: NamespaceRecord = decode("namespace", v.value())?;
                let Some(rules) = ns.retention else {
                    continue;
                };
                for m in modules.range((name, "")..)? {
                    let (mk, _) = m?;
                    let (o, module) = mk.value();
                    if o != name {
                        break;
                    }
                    let mut held = Vec::new();
                    for_module(&versions, name, module, |ver, rec| {
                        let rec: VersionRecord = version_record(rec.value())?;
                        held.push((ver.to_owned(), rec.time));
                        Ok(())
                    })?;
                    for (version, reason) in crate::gomod::retention::to_remove(&rules, &held, now)
                    {
                        out.push(Retired {
                            owner: name.to_owned(),
                            module: module.to_owned(),
                            version: version.to_owned(),
                            reason: reason.as_str(),
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    /// Deletes what `plan` names (each as `delete_version` does: a tombstone, `410`), and
    /// returns what was deleted (a version deleted meanwhile is skipped).
    ///
    /// # Errors
    /// Storage errors; what was deleted before the error stays deleted.
    pub fn retention_apply(&self, plan: Vec<Retired>, now: i64) -> Result<Vec<Retired>> {
        let mut done = Vec::with_capacity(plan.len());
        for r in plan {
            if self.delete_version(&r.owner, &r.module, &r.version, now)? {
                done.push(r);
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::put_test_module;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.redb")).unwrap();
        (dir, store)
    }

    /// `len` bytes of a pattern that does not repeat within a page.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    fn put(s: &Store, owner: &str, module: &str, version: &str, zip: &[u8]) -> Result<()> {
        put_test_module(
            s,
            owner,
            module,
            version,
            &format!("h1:{}=", zip.len()),
            zip,
        )
    }

    fn state(s: &Store, owner: &str, module: &str, version: &str) -> &'static str {
        match s.get_version(owner, module, version).unwrap() {
            VersionLookup::Found(_) => "found",
            VersionLookup::Deleted => "deleted",
            VersionLookup::Missing => "missing",
            VersionLookup::NoModule => "no module",
        }
    }

    #[test]
    fn versions_are_found_listed_and_kept_apart_by_module_and_namespace() {
        let (_d, s) = store();
        put(&s, "acme", "example.com/m", "v1.1.0", &bytes(10, 1)).unwrap();
        put(&s, "acme", "example.com/m", "v1.0.0", &bytes(20, 2)).unwrap();
        // Neighbours in key order: a longer path, a path below it, another namespace.
        put(&s, "acme", "example.com/mx", "v9.0.0", &bytes(30, 3)).unwrap();
        put(&s, "acme", "example.com/m/v2", "v2.0.0", &bytes(40, 4)).unwrap();
        put(&s, "acmez", "example.com/m", "v7.0.0", &bytes(50, 5)).unwrap();
        assert_eq!(
            s.list_version_names("acme", "example.com/m")
                .unwrap()
                .unwrap(),
            ["v1.0.0", "v1.1.0"]
        );
        let listed = s.list_versions("acme", "example.com/m").unwrap().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0].1.size, listed[1].1.size), (20, 10));
        assert_eq!(listed[0].1.h1, "h1:20=");
        assert_eq!(s.list_version_names("acme", "example.com/n").unwrap(), None);
        assert_eq!(s.list_versions("acmez", "example.com/mx").unwrap(), None);
        assert!(s.module_exists("acme", "example.com/m/v2").unwrap());
        assert!(!s.module_exists("acmez", "example.com/mx").unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "found");
        assert_eq!(state(&s, "acme", "example.com/m", "v1.2.0"), "missing");
        assert_eq!(state(&s, "acme", "example.com/q", "v1.0.0"), "no module");
        assert_eq!(state(&s, "zeta", "example.com/m", "v1.0.0"), "no module");
        let (found, go_mod) = s.get_go_mod("acme", "example.com/m/v2", "v2.0.0").unwrap();
        assert!(matches!(found, VersionLookup::Found(_)));
        assert_eq!(go_mod.unwrap(), b"module example.com/m/v2\n");
        let (found, go_mod) = s.get_go_mod("acme", "example.com/m", "v3.0.0").unwrap();
        assert!(matches!(found, VersionLookup::Missing) && go_mod.is_none());
        // Hosts and the first hosted path, in the order asked.
        let hosts: Vec<String> = s
            .hosts_of("example.com/m")
            .unwrap()
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(hosts, ["acme", "acmez"]);
        assert!(s.hosts_of("example.com/none").unwrap().is_empty());
        assert_eq!(
            s.first_hosted(
                &["example.com/none", "example.com/m"],
                &["zeta", "acmez", "acme"]
            )
            .unwrap(),
            Some(("example.com/m".to_owned(), "acmez".to_owned()))
        );
        assert_eq!(
            s.first_hosted(&["example.com/mx", "example.com/m"], &["acme"])
                .unwrap(),
            Some(("example.com/mx".to_owned(), "acme".to_owned()))
        );
        assert_eq!(s.first_hosted(&["example.com/m"], &["zeta"]).unwrap(), None);
        assert!(matches!(
            put(&s, "acme", "example.com/m", "v1.0.0", b"again"),
            Err(Error::VersionExists { .. })
        ));
    }

    #[test]
    fn a_zip_is_read_whole_or_by_range() {
        let (_d, s) = store();
        // Two full chunks and a packed tail.
        let zip = bytes(2 * crate::store::CHUNK_SIZE as usize + 777, 9);
        put(&s, "acme", "example.com/big", "v1.0.0", &zip).unwrap();
        let id = s
            .zip_id("acme", "example.com/big", "v1.0.0")
            .unwrap()
            .unwrap();
        assert_eq!(id, *blake3::hash(&zip).as_bytes());
        assert_eq!(s.zip_id("acme", "example.com/big", "v2.0.0").unwrap(), None);
        match s.open_zip("acme", "example.com/big", "v1.0.0").unwrap() {
            ZipLookup::Found(rec, reader) => {
                assert_eq!(
                    (rec.size, reader.size()),
                    (zip.len() as u64, zip.len() as u64)
                );
            }
            _ => panic!("not found"),
        }
        assert!(matches!(
            s.open_zip("acme", "example.com/big", "v0.1.0").unwrap(),
            ZipLookup::Missing
        ));
        assert!(matches!(
            s.open_zip("zeta", "example.com/big", "v1.0.0").unwrap(),
            ZipLookup::NoModule
        ));
        let (found, first, site) = s
            .zip_start("acme", "example.com/big", "v1.0.0", 100, 1000)
            .unwrap();
        assert!(matches!(found, VersionLookup::Found(_)));
        assert_eq!(first, zip[100..1100]);
        let site = site.unwrap();
        assert_eq!(
            s.site_bytes(site).unwrap().unwrap(),
            zip,
            "every stored value, in order"
        );
        // A range across the last chunk into the packed tail, and one past the end.
        let at = 2 * u64::from(crate::store::CHUNK_SIZE) - 10;
        let (_, across, _) = s
            .zip_start("acme", "example.com/big", "v1.0.0", at, 100)
            .unwrap();
        assert_eq!(
            across,
            zip[at as usize..at as usize + 100],
            "gathered across values"
        );
        let piece = s.blob_piece(&id, at + 10, 5000).unwrap().unwrap();
        assert_eq!(piece, zip[at as usize + 10..]);
        assert!(s.blob_piece(&[7; 32], 0, 10).unwrap().is_none());
        let (missing, empty, none) = s
            .zip_start("acme", "example.com/big", "v9.0.0", 0, 10)
            .unwrap();
        assert!(matches!(missing, VersionLookup::Missing) && empty.is_empty() && none.is_none());
        // Once deleted, the site's bytes are gone.
        assert!(s
            .delete_version("acme", "example.com/big", "v1.0.0", 5)
            .unwrap());
        assert!(s.site_bytes(site).unwrap().is_none());
        assert!(s.blob_piece(&id, 0, 10).unwrap().is_none());
        assert!(matches!(
            s.open_zip("acme", "example.com/big", "v1.0.0").unwrap(),
            ZipLookup::Deleted
        ));
    }

    #[test]
    fn a_deleted_version_keeps_its_hashes_until_purged() {
        let (_d, s) = store();
        let zip = bytes(300, 1);
        put(&s, "acme", "example.com/m", "v1.0.0", &zip).unwrap();
        put(&s, "acme", "example.com/m", "v1.1.0", &zip).unwrap();
        assert!(s
            .delete_version("acme", "example.com/m", "v1.0.0", 5)
            .unwrap());
        assert!(!s
            .delete_version("acme", "example.com/m", "v1.0.0", 5)
            .unwrap());
        assert!(!s
            .delete_version("acme", "example.com/m", "v8.0.0", 5)
            .unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "deleted");
        assert_eq!(
            s.list_version_names("acme", "example.com/m")
                .unwrap()
                .unwrap(),
            ["v1.1.0"]
        );
        // The shared blob stays for the other version.
        let id = s
            .zip_id("acme", "example.com/m", "v1.1.0")
            .unwrap()
            .unwrap();
        assert_eq!(s.blob_piece(&id, 0, 1000).unwrap().unwrap(), zip);
        // Other content for the deleted version: refused; the same content: taken back.
        match put(&s, "acme", "example.com/m", "v1.0.0", &bytes(301, 1)) {
            Err(Error::TombstoneMismatch {
                module,
                version,
                h1,
            }) => {
                assert_eq!(
                    (module.as_str(), version.as_str(), h1.as_str()),
                    ("example.com/m", "v1.0.0", "h1:300=")
                );
            }
            other => panic!("{other:?}"),
        }
        put(&s, "acme", "example.com/m", "v1.0.0", &zip).unwrap();
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "found");
        // Purged, any content may come.
        assert!(s
            .delete_version("acme", "example.com/m", "v1.0.0", 6)
            .unwrap());
        assert!(s
            .purge_tombstone("acme", "example.com/m", "v1.0.0")
            .unwrap());
        assert!(!s
            .purge_tombstone("acme", "example.com/m", "v1.0.0")
            .unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "missing");
        put(&s, "acme", "example.com/m", "v1.0.0", &bytes(301, 1)).unwrap();
        // The last reference gone, the blob goes.
        for v in ["v1.0.0", "v1.1.0"] {
            s.delete_version("acme", "example.com/m", v, 7).unwrap();
        }
        assert!(s.blob_piece(&id, 0, 10).unwrap().is_none());
    }

    /// A delete with a purge is one transaction: the version and its tombstone go together
    /// (a review found them in two commits, so that a failed purge answered an error after
    /// the delete had happened); a purge alone takes a tombstone left before.
    #[test]
    fn a_delete_with_a_purge_leaves_no_tombstone() {
        let (_d, s) = store();
        put(&s, "acme", "example.com/m", "v1.0.0", &bytes(10, 1)).unwrap();
        put(&s, "acme", "example.com/m", "v1.1.0", &bytes(20, 2)).unwrap();
        let id = s
            .zip_id("acme", "example.com/m", "v1.0.0")
            .unwrap()
            .unwrap();
        assert!(s
            .remove_version("acme", "example.com/m", "v1.0.0", 5, true)
            .unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "missing");
        assert!(
            s.blob_piece(&id, 0, 10).unwrap().is_none(),
            "its blob freed"
        );
        assert!(!s
            .remove_version("acme", "example.com/m", "v1.0.0", 5, true)
            .unwrap());
        // Deleted first, purged later.
        assert!(s
            .remove_version("acme", "example.com/m", "v1.1.0", 5, false)
            .unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.1.0"), "deleted");
        assert!(!s
            .remove_version("acme", "example.com/m", "v1.1.0", 6, false)
            .unwrap());
        assert!(s
            .remove_version("acme", "example.com/m", "v1.1.0", 6, true)
            .unwrap());
        assert_eq!(state(&s, "acme", "example.com/m", "v1.1.0"), "missing");
        // Any content may come back now.
        put(&s, "acme", "example.com/m", "v1.0.0", &bytes(30, 3)).unwrap();
        assert_eq!(state(&s, "acme", "example.com/m", "v1.0.0"), "found");
    }

    #[test]
    fn blob_ids_are_64_hex_digits() {
        let id = [0xa5; 32];
        assert_eq!(parse_blake3(&hex::encode(id)).unwrap(), id);
        for bad in ["", "a5", &"g".repeat(64), &"a5".repeat(33)] {
            assert!(matches!(parse_blake3(bad), Err(Error::Corrupt(_))), "{bad}");
        }
    }
}
