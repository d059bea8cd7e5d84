//! The checksum database's log in the file: records with their stored hashes, the index by
//! `path@version` (both in one tree, `SUMDB_LOG`, so that an append touches one tree: issue
//! 24), and the log's name and signing key (`crate::sumdb` is the pure algorithm; this is only
//! where its bytes live).
//!
//! A record is appended in the same write transaction as the version it logs
//! (`apply_version`), so a `201` means stored and logged, and a crash leaves both or neither.
//! Nothing here ever removes or rewrites a record or a hash: the log only grows.
//! Tree notes are not stored: Ed25519 is deterministic, so the note of a size is signed again
//! from the stored hashes whenever it is needed, always the same bytes.

use redb::{ReadableTable, ReadableTableMetadata};
use std::sync::atomic::{AtomicU64, Ordering};

use super::records::{NamespaceRecord, VersionRecord};
use super::{decode, schema, version_record, Error, Result, Store};
use crate::sumdb::tlog::{self, Hash};
use crate::sumdb::Error as SumdbError;

pub use super::schema::{
    PRIVATE_PATTERNS, SUMDB_CLAIMS, SUMDB_LOG, SUMDB_META, SUMDB_PATHS, SUMDB_SHARES,
    SUMDB_UPSTREAM_PATHS,
};

const META_NAME: &str = "name";
const META_SKEY: &str = "skey";
const META_READERS: &str = "readers";
/// Before schema 4, the log's size (u64 big-endian); removed by the migration.
const META_SIZE: &str = "size";
/// Records appended from the upstream database, u64 big-endian (`sumdb_upstream_max_records`).
const META_UPSTREAM_RECORDS: &str = "upstream_records";
/// Set once the upstream paths table covers every upstream record (`index_upstream_paths`).
const META_UPSTREAM_PATHS_INDEXED: &str = "upstream_paths_indexed";

fn upstream_records_of(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64> {
    match meta.get(META_UPSTREAM_RECORDS)? {
        None => Ok(0),
        Some(v) => Ok(u64::from_be_bytes(v.value().try_into().map_err(|_| {
            Error::Corrupt("sumdb upstream record count is not 8 bytes".into())
        })?)),
    }
}

/// The log's appends made without `fsync` and how many of them are durable: upstream
/// records are appended non-durably (a cold pull-through fetch would otherwise wait for one
/// `fsync` per version, serially) and made durable, in groups, before anything of the log
/// is published.
#[derive(Debug, Default)]
pub struct LogDurability {
    /// Non-durable appends begun.
    appends: AtomicU64,
    /// Appends a durable commit covers.
    durable: AtomicU64,
    /// One flush at a time; the others wait for it and usually find their appends covered.
    flushing: std::sync::Mutex<()>,
}

impl LogDurability {
    fn appended(&self) {
        self.appends.fetch_add(1, Ordering::AcqRel);
    }

    fn pending(&self) -> bool {
        self.durable.load(Ordering::Acquire) < self.appends.load(Ordering::Acquire)
    }
}

/// Which namespaces are logged, and who may read the log (setting `sumdb_readers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Public namespaces are logged; anyone may read the log.
    Anyone,
    /// Every namespace is logged; only signed-in clients may read the log.
    SignedIn,
}

impl Readers {
    /// The setting's value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Readers::Anyone => "anyone",
            Readers::SignedIn => "signed-in",
        }
    }

    /// Parses the setting's value.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anyone" => Some(Readers::Anyone),
            "signed-in" => Some(Readers::SignedIn),
            _ => None,
        }
    }

    /// Whether versions of a namespace of this visibility are logged.
    #[must_use]
    pub fn logs(self, ns: &NamespaceRecord) -> bool {
        self == Readers::SignedIn || ns.visibility() == crate::auth::Visibility::Public
    }
}

/// The log's identity as kept in the file.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    pub name: String,
    /// `PRIVATE+KEY+...`: the signer key. Secret.
    pub skey: String,
    pub readers: Readers,
}

/// What opening the log did.
#[derive(Debug, Clone)]
pub struct LogOpened {
    pub identity: LogIdentity,
    /// Whether the log was made now.
    pub created: bool,
    /// Versions appended now (existing versions of logged namespaces, at the first start or
    /// after `sumdb_readers` widened).
    pub appended: u64,
    /// Versions served but not logged because the log holds other hashes for their
    /// `path@version`: `(owner, module, version, recorded h1)`.
    pub conflicts: Vec<(String, String, String, String)>,
    /// Records in the log.
    pub size: u64,
}

/// A record in the log: its id and text.
pub type LogRecord = (u64, Vec<u8>);

/// The outcome of logging one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// Appended as record `id`.
    New(u64),
    /// The log holds exactly this record already (same path, version and hashes).
    Same(u64),
    /// The log holds other hashes for this `path@version`: its record text.
    Conflict(String),
    /// The module path belongs to another logged namespace, which has not shared it.
    NotOwner,
    /// An organisation would host a path that the log holds from upstream (or a proper
    /// prefix of one: the path named) without an admin's claim.
    NeedsClaim(String),
}

/// Stores the signed head `(n, note)` under `key` unless the stored one is as large.
fn raise_upstream_head(
    txn: &redb::WriteTransaction,
    key: &str,
    (n, note): (u64, &[u8]),
) -> Result<()> {
    let mut meta = txn.open_table(SUMDB_META)?;
    let stored_n = meta
        .get(key)?
        .and_then(|v| {
            let text = String::from_utf8_lossy(v.value()).into_owned();
            let head = text.split("\n\n").next().unwrap_or("").to_owned();
            tlog::parse_tree(&format!("{head}\n")).ok()
        })
        .map(|t| t.n);
    if stored_n.is_none_or(|s| s < n) {
        meta.insert(key, note)?;
    }
    Ok(())
}

/// The record text of one module version: its two go.sum lines.
#[must_use]
pub fn record_text(module: &str, version: &str, h1: &str, mod_h1: &str) -> String {
    format!("{module} {version} {h1}\n{module} {version}/go.mod {mod_h1}\n")
}

/// The `h1:` hash of the zip in a record text (its first line's third field).
#[must_use]
pub fn record_zip_h1(text: &str) -> &str {
    text.lines()
        .next()
        .and_then(|l| l.split(' ').nth(2))
        .unwrap_or("")
}

/// The tag of a record's key in `SUMDB_LOG` (then its id, u64 big-endian).
const RECORD: u8 = b'r';
/// The tag of an index entry's key in `SUMDB_LOG` (then `path@version`).
const INDEX: u8 = b'i';

/// The key of record `id` in `SUMDB_LOG`.
fn record_at(id: u64) -> [u8; 9] {
    let mut key = [RECORD; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The key of the index entry of `path@version` in `SUMDB_LOG`.
fn index_at(key: &str) -> Vec<u8> {
    [&[INDEX][..], key.as_bytes()].concat()
}

/// The id of a record's key.
fn id_of_record_key(key: &[u8]) -> Result<u64> {
    match key {
        [RECORD, id @ ..] => <[u8; 8]>::try_from(id).map(u64::from_be_bytes).ok(),
        _ => None,
    }
    .ok_or_else(|| Error::Corrupt(format!("checksum log key {key:?}")))
}

/// Stored hashes the append of record `id` made: its leaf and one per level its id ends in 1
/// bits (x/mod's `StoredHashIndex` order).
fn hashes_made_by(id: u64) -> usize {
    1 + id.trailing_ones() as usize
}

/// The text and the stored hashes of record `id`'s value in `SUMDB_LOG`.
fn split_record(id: u64, value: &[u8]) -> Result<(&[u8], &[u8])> {
    value
        .len()
        .checked_sub(32 * hashes_made_by(id))
        .map(|at| value.split_at(at))
        .ok_or_else(|| Error::Corrupt(format!("sumdb record {id} lacks its stored hashes")))
}

/// Records in the log: its last record's id plus one.
fn size_of(log: &impl ReadableTable<&'static [u8], &'static [u8]>) -> Result<u64> {
    let (lo, hi) = (record_at(0), record_at(u64::MAX));
    match log.range(lo.as_slice()..=hi.as_slice())?.next_back() {
        None => Ok(0),
        Some(item) => Ok(id_of_record_key(item?.0.value())? + 1),
    }
}

/// The text of record `id`, if the log holds it.
fn text_at(
    log: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: u64,
) -> Result<Option<Vec<u8>>> {
    match log.get(record_at(id).as_slice())? {
        None => Ok(None),
        Some(v) => Ok(Some(split_record(id, v.value())?.0.to_vec())),
    }
}

/// The record id the index gives `path@version`, if any.
fn indexed(
    log: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &str,
) -> Result<Option<u64>> {
    match log.get(index_at(key).as_slice())? {
        None => Ok(None),
        Some(v) => <[u8; 8]>::try_from(v.value())
            .map(|b| Some(u64::from_be_bytes(b)))
            .map_err(|_| Error::Corrupt(format!("sumdb index entry of {key} is not 8 bytes"))),
    }
}

/// The stored hash at x/mod's index `at`: the hash at level `l`, position `n` of the tree is
/// made by the append of record `((n + 1) << l) - 1`, the last it covers, and is the `l`-th
/// of that record's hashes.
fn stored_hash(log: &impl ReadableTable<&'static [u8], &'static [u8]>, at: u64) -> Result<Hash> {
    let missing = || Error::Corrupt(format!("stored hash {at} missing"));
    let (level, n) = tlog::split_stored_hash_index(at);
    let id = n
        .checked_add(1)
        .filter(|m| level < 64 && m.leading_zeros() >= level)
        .map(|m| (m << level) - 1)
        .ok_or_else(missing)?;
    let value = log.get(record_at(id).as_slice())?.ok_or_else(missing)?;
    let (_, hashes) = split_record(id, value.value())?;
    let from = 32 * level as usize;
    hashes
        .get(from..from + 32)
        .and_then(|h| Hash::try_from(h).ok())
        .ok_or_else(missing)
}

fn readers_of(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Option<Readers>> {
    match meta.get(META_READERS)? {
        None => Ok(None),
        Some(v) => {
            let s = std::str::from_utf8(v.value()).unwrap_or("");
            Readers::parse(s)
                .map(Some)
                .ok_or_else(|| Error::Corrupt(format!("sumdb readers {s:?}")))
        }
    }
}

fn tlog_err(e: &SumdbError) -> Error {
    Error::Corrupt(format!("checksum database: {e}"))
}

/// Appends one record inside `txn`, or finds it there. The caller has checked nothing; this
/// is the only writer of the log's tables.
///
/// # Errors
/// Storage errors; `Corrupt` when the stored hashes are missing.
pub(super) fn log_record(
    txn: &redb::WriteTransaction,
    module: &str,
    version: &str,
    h1: &str,
    mod_h1: &str,
) -> Result<Logged> {
    let key = format!("{module}@{version}");
    let text = record_text(module, version, h1, mod_h1);
    match existing(txn, &key, &text)? {
        Some(logged) => Ok(logged),
        None => append(txn, &key, &text).map(Logged::New),
    }
}

/// What the log holds for `key` (`path@version`) against the record `text`: `Same`,
/// `Conflict`, or `None` when it holds nothing.
fn existing(txn: &redb::WriteTransaction, key: &str, text: &str) -> Result<Option<Logged>> {
    let log = txn.open_table(SUMDB_LOG)?;
    let Some(id) = indexed(&log, key)? else {
        return Ok(None);
    };
    let stored = text_at(&log, id)?
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .ok_or_else(|| Error::Corrupt(format!("sumdb record {id} missing")))?;
    Ok(Some(if stored == text {
        Logged::Same(id)
    } else {
        Logged::Conflict(stored)
    }))
}

/// Appends record `text` under `key`, which the log does not hold: the record with its leaf
/// and interior hashes, and the index entry. Returns its id.
fn append(txn: &redb::WriteTransaction, key: &str, text: &str) -> Result<u64> {
    let mut log = txn.open_table(SUMDB_LOG)?;
    let n = size_of(&log)?;
    let leaf = tlog::record_hash(text.as_bytes());
    let new = tlog::stored_hashes_for_record_hash(n, leaf, &mut reader(&log))
        .map_err(|e| tlog_err(&e))?;
    if new.len() != hashes_made_by(n) {
        return Err(Error::Corrupt(format!(
            "record {n} makes {} stored hashes",
            new.len()
        )));
    }
    let mut value = Vec::with_capacity(text.len() + 32 * new.len());
    value.extend_from_slice(text.as_bytes());
    new.iter().for_each(|h| value.extend_from_slice(h));
    log.insert(record_at(n).as_slice(), value.as_slice())?;
    log.insert(index_at(key).as_slice(), n.to_be_bytes().as_slice())?;
    Ok(n)
}

/// Logs a version accepted into `ns` when the log exists and logs that namespace.
///
/// Refusals (`Conflict`, `NotOwner`) write nothing. A path hosted in a logged namespace
/// belongs to it: another logged namespace may publish it only once shared.
pub(super) fn log_version(
    txn: &redb::WriteTransaction,
    readers: Option<Readers>,
    owner: &str,
    ns: &NamespaceRecord,
    module: &str,
    version: &str,
    hashes: (&str, &str),
) -> Result<Option<Logged>> {
    if !readers.is_some_and(|r| r.logs(ns)) {
        return Ok(None);
    }
    let key = format!("{module}@{version}");
    let text = record_text(module, version, hashes.0, hashes.1);
    let found = existing(txn, &key, &text)?;
    if let Some(conflict @ Logged::Conflict(_)) = found {
        return Ok(Some(conflict));
    }
    let mut paths = txn.open_table(SUMDB_PATHS)?;
    let holder = paths.get(module)?.map(|v| v.value().to_owned());
    let claimed = || covered_for(&txn.open_table(SUMDB_CLAIMS)?, module, owner);
    match holder {
        None => {
            if ns.kind == crate::auth::Kind::Org && !claimed()? {
                if let Some(held) = upstream_path_at_or_below(txn, module)? {
                    return Ok(Some(Logged::NeedsClaim(held)));
                }
            }
            paths.insert(module, owner)?;
        }
        Some(h) if h == owner => {}
        Some(_) => {
            if !covered_for(&txn.open_table(SUMDB_SHARES)?, module, owner)? && !claimed()? {
                return Ok(Some(Logged::NotOwner));
            }
        }
    }
    match found {
        Some(same) => Ok(Some(same)),
        None => append(txn, &key, &text).map(|id| Some(Logged::New(id))),
    }
}

/// Whether `table` (shares or claims: (path, namespace)) lets `owner` publish `module`: an
/// entry for the path or for a prefix of it (`example.com/team` covers
/// `example.com/team/lib`).
fn covered_for(
    table: &impl ReadableTable<(&'static str, &'static str), u8>,
    module: &str,
    owner: &str,
) -> Result<bool> {
    for (i, _) in module.match_indices('/').chain([(module.len(), "")]) {
        if table.get((&module[..i], owner))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A module path the log holds from upstream that is `module` or lies below it
/// (`golang.org/x/text` for `golang.org/x`), if any.
fn upstream_path_at_or_below(txn: &redb::WriteTransaction, module: &str) -> Result<Option<String>> {
    let table = txn.open_table(SUMDB_UPSTREAM_PATHS)?;
    if table.get(module)?.is_some() {
        return Ok(Some(module.to_owned()));
    }
    // Every path below `module` starts with `module/`, and sorts before `module0` ('0'
    // follows '/').
    let (lo, hi) = (format!("{module}/"), format!("{module}0"));
    let below = table.range(lo.as_str()..hi.as_str())?.next().transpose()?;
    Ok(below.map(|(k, _)| k.value().to_owned()))
}

/// A record of the log (`path@version`) that only signed-in readers may see, if any: of a
/// version published in a namespace that is not public, of a path such a namespace holds in
/// the log (a version since purged included), or of a version fetched with credentials.
fn private_record(txn: &redb::WriteTransaction) -> Result<Option<String>> {
    let log = txn.open_table(SUMDB_LOG)?;
    let logged = |module: &str, version: &str| -> Result<Option<String>> {
        let key = format!("{module}@{version}");
        Ok(indexed(&log, &key)?.map(|_| key))
    };
    let namespaces = txn.open_table(schema::NAMESPACES)?;
    let mut private = std::collections::BTreeSet::new();
    for item in namespaces.iter()? {
        let (k, v) = item?;
        let ns: NamespaceRecord = decode("namespace", v.value())?;
        if ns.visibility() != crate::auth::Visibility::Public {
            private.insert(k.value().to_owned());
        }
    }
    let versions = txn.open_table(schema::VERSIONS)?;
    for owner in &private {
        for item in versions.range((owner.as_str(), "", "")..)? {
            let (k, _) = item?;
            let (o, module, version) = k.value();
            if o != owner {
                break;
            }
            if let Some(record) = logged(module, version)? {
                return Ok(Some(record));
            }
        }
    }
    for item in txn.open_table(SUMDB_PATHS)?.iter()? {
        let (k, v) = item?;
        if private.contains(v.value()) {
            // Versions contain no `~`, which sorts after every character they may hold.
            let (lo, hi) = (
                index_at(&format!("{}@", k.value())),
                index_at(&format!("{}@~", k.value())),
            );
            if let Some(item) = log.range(lo.as_slice()..hi.as_slice())?.next() {
                let key = item?.0.value()[1..].to_vec();
                return Ok(Some(String::from_utf8_lossy(&key).into_owned()));
            }
        }
    }
    for item in txn.open_table(schema::CACHED)?.iter()? {
        let (k, v) = item?;
        let rec: super::records::CachedRecord = decode("cached version", v.value())?;
        let (module, version) = k.value();
        if rec.private {
            if let Some(record) = logged(module, version)? {
                return Ok(Some(record));
            }
        }
    }
    Ok(None)
}

/// Which namespaces the log takes, read in a write transaction (`None`: no log yet).
pub(super) fn readers_in(txn: &redb::WriteTransaction) -> Result<Option<Readers>> {
    readers_of(&txn.open_table(SUMDB_META)?)
}

/// Reads stored hashes for `tlog` from the log (of a snapshot, or of the write transaction
/// appending to it).
fn reader<'t>(
    log: &'t impl ReadableTable<&'static [u8], &'static [u8]>,
) -> impl FnMut(&[u64]) -> std::result::Result<Vec<Hash>, SumdbError> + 't {
    move |idx: &[u64]| {
        idx.iter()
            .map(|&i| stored_hash(log, i).map_err(|e| SumdbError::External(e.to_string())))
            .collect()
    }
}

impl Store {
    /// Opens the log, making it (name, key) when the file has none, and appends the versions
    /// of logged namespaces that have no record yet: all of them at the first start, the
    /// newly logged ones when `readers` widened. Versions are appended in publish order; when
    /// two contents share a `path@version`, the earliest is logged and the others are
    /// reported as conflicts.
    ///
    /// `name` is the configured name, if any; `default_name` and `seed` are used only when the
    /// log is made now (the seed becomes the Ed25519 key).
    ///
    /// # Errors
    /// A configured name other than the log's (a log keeps its name); storage errors.
    pub fn sumdb_open(
        &self,
        name: Option<&str>,
        default_name: &str,
        seed: [u8; 32],
        readers: Readers,
    ) -> Result<LogOpened> {
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            let (identity, created, catch_up) = {
                let mut meta = txn.open_table(SUMDB_META)?;
                let stored_name = meta
                    .get(META_NAME)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned());
                let stored_skey = meta
                    .get(META_SKEY)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned());
                let stored_readers = readers_of(&meta)?;
                let (ident_name, skey, created) = match (stored_name, stored_skey) {
                    (Some(n), Some(k)) => {
                        if let Some(want) = name {
                            if want != n {
                                return Err(Error::LogName {
                                    stored: n,
                                    configured: want.to_owned(),
                                });
                            }
                        }
                        (n, k, false)
                    }
                    _ => {
                        let n = name.unwrap_or(default_name).to_owned();
                        let signer = crate::sumdb::note::Signer::from_seed(&n, seed)
                            .map_err(|e| Error::Corrupt(format!("checksum database key: {e}")))?;
                        let k = signer.skey();
                        meta.insert(META_NAME, n.as_bytes())?;
                        meta.insert(META_SKEY, k.as_bytes())?;
                        (n, k, true)
                    }
                };
                // Widening (anyone -> signed-in) logs more namespaces; narrowing keeps every
                // record (records are forever) and logs fewer from now on, so it is refused
                // while the log holds a record of a private module.
                if stored_readers == Some(Readers::SignedIn) && readers == Readers::Anyone {
                    if let Some(record) = private_record(&txn)? {
                        return Err(Error::LogReaders { record });
                    }
                }
                let catch_up = created || stored_readers != Some(readers);
                if stored_readers != Some(readers) {
                    meta.insert(META_READERS, readers.as_str().as_bytes())?;
                }
                (
                    LogIdentity {
                        name: ident_name,
                        skey,
                        readers,
                    },
                    created,
                    catch_up,
                )
            };
            let (appended, conflicts) = if catch_up {
                catch_up_versions(&txn, readers)?
            } else {
                (0, Vec::new())
            };
            index_upstream_paths(&txn)?;
            let size = size_of(&txn.open_table(SUMDB_LOG)?)?;
            self.commit_txn(txn)?;
            Ok(LogOpened {
                identity,
                created,
                appended,
                conflicts,
                size,
            })
        })
    }

    /// The log's identity, when the file has one (`sumdb_open` made it).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_identity(&self) -> Result<Option<LogIdentity>> {
        self.read(|txn| {
            let meta = txn.open_table(SUMDB_META)?;
            let name = meta
                .get(META_NAME)?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            let skey = meta
                .get(META_SKEY)?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            let readers = readers_of(&meta)?.unwrap_or(Readers::Anyone);
            Ok(name.zip(skey).map(|(name, skey)| LogIdentity {
                name,
                skey,
                readers,
            }))
        })
    }

    /// The newest signed tree note of the upstream database `name` that this server has
    /// verified and stored (it never goes backwards).
    ///
    /// # Errors
    /// Storage errors; `Corrupt` for a stored note that does not parse.
    pub fn sumdb_upstream_head(&self, name: &str) -> Result<Option<(tlog::Tree, Vec<u8>)>> {
        let key = format!("upstream_head:{name}");
        self.read(|txn| {
            let meta = txn.open_table(SUMDB_META)?;
            let Some(note) = meta.get(key.as_str())?.map(|v| v.value().to_vec()) else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(&note);
            let head = text.split("\n\n").next().unwrap_or("");
            let tree = tlog::parse_tree(&format!("{head}\n"))
                .map_err(|e| Error::Corrupt(format!("stored upstream head of {name}: {e}")))?;
            Ok(Some((tree, note)))
        })
    }

    /// Appends a record verified against the upstream database `upstream` and, when its
    /// tree is newer than the stored head, stores that head (never an older one), with the
    /// verified answers its proxy serves (`kept`: `cached::keep_upstream_answers`), in one
    /// durable transaction.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_append_upstream(
        &self,
        module: &str,
        version: &str,
        hashes: (&str, &str),
        upstream: &str,
        head: Option<(u64, &[u8])>,
        kept: &[(String, Vec<u8>)],
    ) -> Result<Logged> {
        self.append_upstream(module, version, hashes, upstream, head, kept, None)?
            .ok_or_else(|| Error::Corrupt("an unchecked append was refused".into()))
    }

    /// [`Store::sumdb_append_upstream`] if the stored head of `upstream` is still `stored`
    /// (the note the record was verified against, `None` for none), in the same
    /// transaction; `Ok(None)`, with nothing written, when another verification moved it
    /// meanwhile (then verify again against the new head). Verifications run at once, each
    /// against the head it read, and append one at a time this way.
    ///
    /// # Errors
    /// Storage errors.
    #[allow(clippy::too_many_arguments)]
    pub fn sumdb_append_upstream_if_head(
        &self,
        module: &str,
        version: &str,
        hashes: (&str, &str),
        upstream: &str,
        head: Option<(u64, &[u8])>,
        kept: &[(String, Vec<u8>)],
        stored: Option<&[u8]>,
    ) -> Result<Option<Logged>> {
        self.append_upstream(module, version, hashes, upstream, head, kept, Some(stored))
    }

    #[allow(clippy::too_many_arguments)]
    fn append_upstream(
        &self,
        module: &str,
        version: &str,
        hashes: (&str, &str),
        upstream: &str,
        head: Option<(u64, &[u8])>,
        kept: &[(String, Vec<u8>)],
        stored: Option<Option<&[u8]>>,
    ) -> Result<Option<Logged>> {
        let key = format!("upstream_head:{upstream}");
        self.with_db_once(|db| {
            // Without `fsync`: nothing of the log is published before `log_make_durable`
            // (every signed tree head, lookup and tile waits for it), so a crash can lose
            // this record only while no client can have seen it.
            let txn = self.begin_write_lazy(db)?;
            if let Some(stored) = stored {
                let meta = txn.open_table(SUMDB_META)?;
                let now = meta.get(key.as_str())?;
                if now.as_ref().map(|v| v.value()) != stored {
                    return Ok(None);
                }
            }
            super::cached::keep_upstream_answers(&txn, upstream, kept, super::now_unix())?;
            let logged = log_record(&txn, module, version, hashes.0, hashes.1)?;
            if matches!(logged, Logged::New(_) | Logged::Same(_)) {
                txn.open_table(SUMDB_UPSTREAM_PATHS)?.insert(module, 1)?;
            }
            if matches!(logged, Logged::New(_)) {
                let mut meta = txn.open_table(SUMDB_META)?;
                let n = upstream_records_of(&meta)?;
                meta.insert(META_UPSTREAM_RECORDS, (n + 1).to_be_bytes().as_slice())?;
            }
            if let Some(head) = head {
                raise_upstream_head(&txn, &key, head)?;
            }
            // Counted before the commit, so that a reader who sees the record also sees it
            // pending.
            if matches!(logged, Logged::New(_)) {
                self.log_durability.appended();
            }
            self.commit_txn(txn)?;
            Ok(Some(logged))
        })
    }

    /// Stores `head` as the newest head of the upstream database `upstream` when it is newer
    /// than the stored one (never an older one), with the verified answers its proxy serves
    /// (`kept`), without a record: what an import keeps of a bundle's proofs. Not durable on
    /// its own (`make_durable`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_keep_upstream(
        &self,
        upstream: &str,
        head: Option<(u64, &[u8])>,
        kept: &[(String, Vec<u8>)],
    ) -> Result<()> {
        let key = format!("upstream_head:{upstream}");
        self.with_db_once(|db| {
            let txn = self.begin_write_lazy(db)?;
            super::cached::keep_upstream_answers(&txn, upstream, kept, super::now_unix())?;
            if let Some(head) = head {
                raise_upstream_head(&txn, &key, head)?;
            }
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }

    /// The heads of the upstream database `name` that earlier exports bundled (`goshelf
    /// export` proves each consistent with the head it bundles next): `(size, hash)`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_export_heads(&self, name: &str) -> Result<Vec<tlog::Tree>> {
        let key = format!("export_heads:{name}");
        self.read(|txn| {
            let meta = txn.open_table(SUMDB_META)?;
            let Some(v) = meta.get(key.as_str())? else {
                return Ok(Vec::new());
            };
            Ok(v.value()
                .chunks_exact(40)
                .filter_map(|c| {
                    let (n, h) = c.split_first_chunk::<8>()?;
                    Some(tlog::Tree {
                        n: u64::from_be_bytes(*n),
                        hash: h.try_into().ok()?,
                    })
                })
                .collect())
        })
    }

    /// Remembers `tree` as bundled by an export (durably; at most the last 64).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_add_export_head(&self, name: &str, tree: tlog::Tree) -> Result<()> {
        let key = format!("export_heads:{name}");
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut meta = txn.open_table(SUMDB_META)?;
                let mut all = meta
                    .get(key.as_str())?
                    .map(|v| v.value().to_vec())
                    .unwrap_or_default();
                let mut one = tree.n.to_be_bytes().to_vec();
                one.extend_from_slice(&tree.hash);
                if !all.chunks_exact(40).any(|c| c == one.as_slice()) {
                    all.extend_from_slice(&one);
                }
                let keep = all.len().saturating_sub(64 * 40);
                meta.insert(key.as_str(), &all[keep..])?;
            }
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }

    /// Who may read the log, as the file records it (`None` for a file without a log yet).
    ///
    /// # Errors
    /// Storage errors, a damaged value.
    pub fn sumdb_stored_readers(&self) -> Result<Option<Readers>> {
        self.read(|txn| readers_of(&txn.open_table(SUMDB_META)?))
    }

    /// Whether the log holds appends that are not yet durable (cheap: no I/O).
    #[must_use]
    pub fn log_pending(&self) -> bool {
        self.log_durability.pending()
    }

    /// Makes every append to the log so far durable, one `fsync` for all that are pending
    /// (callers waiting at once share it). Call it after reading the log's size and before
    /// publishing anything of it: a signed tree head, a lookup, a tile.
    ///
    /// # Errors
    /// Storage errors.
    pub fn log_make_durable(&self) -> Result<()> {
        let d = &self.log_durability;
        let target = d.appends.load(Ordering::Acquire);
        if d.durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one = d
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if d.durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.durable_commit_covering_log()
    }

    /// One durable commit (`make_durable`), counted as covering every append of the log
    /// counted before it began: those have committed or are committing, and the durable
    /// commit begins after them (redb's writes are serial).
    fn durable_commit_covering_log(&self) -> Result<()> {
        let d = &self.log_durability;
        let covered = d.appends.load(Ordering::Acquire);
        self.make_durable()?;
        d.durable.fetch_max(covered, Ordering::AcqRel);
        Ok(())
    }

    /// Makes every write made without `fsync` so far durable (the pull-through cache's
    /// versions, the log's upstream records, last-used times), in one durable commit, if any
    /// was made since the last call: the server calls it every `SETTLE_INTERVAL`, so a crash
    /// or power loss loses at most that much of them. Returns whether it committed.
    ///
    /// # Errors
    /// Storage errors (what was pending stays pending).
    pub fn settle(&self) -> Result<bool> {
        // Every write that marked itself holds or has released redb's writer; the durable
        // commit below begins after it (`begin_write_lazy`).
        if !self.unsettled.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        if let Err(e) = self.durable_commit_covering_log() {
            self.unsettled.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(true)
    }

    /// Whether `path` equals or lies below a module path hosted here in a namespace whose
    /// paths must never be asked of an upstream (`protected_roots`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_hosted_here(&self, path: &str) -> Result<bool> {
        Ok(self
            .protected_roots()?
            .iter()
            .any(|root| crate::gomod::patterns::at_or_below(path, root)))
    }

    /// The module paths that are this shelf's, whose paths (and those below them) are never
    /// asked of an upstream: those hosted in an organisation or in any namespace that is not
    /// public (a public personal namespace does not count: anyone may make one; nor does a
    /// deleted user's, `NamespaceRecord::personal`), and those an admin placed here (claims
    /// and shares) before their first upload. Sorted, once each.
    ///
    /// # Errors
    /// Storage errors.
    pub fn protected_roots(&self) -> Result<Vec<String>> {
        self.read(|txn| {
            let mut roots = std::collections::BTreeSet::new();
            for table in [SUMDB_CLAIMS, SUMDB_SHARES] {
                for item in txn.open_table(table)?.iter()? {
                    let (k, _) = item?;
                    roots.insert(k.value().0.to_owned());
                }
            }
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let modules = txn.open_table(schema::MODULES)?;
            for item in modules.iter()? {
                let (k, _) = item?;
                let (owner, module) = k.value();
                if roots.contains(module) {
                    continue;
                }
                let personal_public = match namespaces.get(owner)? {
                    Some(ns) => {
                        let ns: NamespaceRecord = decode("namespace", ns.value())?;
                        ns.personal() && ns.visibility() == crate::auth::Visibility::Public
                    }
                    None => false,
                };
                if !personal_public {
                    roots.insert(module.to_owned());
                }
            }
            Ok(roots.into_iter().collect())
        })
    }

    /// Gives the log a new name and key (`goshelf sumdb rotate`), for a log that went
    /// backwards (an older file restored): clients remember a name's key and newest tree
    /// forever, so the only way on is a new name. The records stay, in the same order: the
    /// new log is the current records appended afresh, which leaves every stored hash as it is.
    /// Returns the new signer key.
    ///
    /// # Errors
    /// `LogName` when `name` is the current one or there is no log; storage errors.
    pub fn sumdb_rotate(&self, name: &str, seed: [u8; 32]) -> Result<String> {
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            let skey = {
                let mut meta = txn.open_table(SUMDB_META)?;
                let current = meta
                    .get(META_NAME)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned());
                if current.as_deref().is_none_or(|c| c == name) {
                    return Err(Error::LogName {
                        stored: current.unwrap_or_default(),
                        configured: name.to_owned(),
                    });
                }
                let signer = crate::sumdb::note::Signer::from_seed(name, seed)
                    .map_err(|e| Error::Corrupt(format!("checksum database key: {e}")))?;
                let skey = signer.skey();
                meta.insert(META_NAME, name.as_bytes())?;
                meta.insert(META_SKEY, skey.as_bytes())?;
                skey
            };
            self.commit_txn(txn)?;
            Ok(skey)
        })
    }

    /// Lets logged namespace `owner` publish `path`, and the paths below it, which another
    /// namespace holds (an admin's `goshelf owner share`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_share(&self, owner: &str, path: &str) -> Result<()> {
        self.with_db_once(|db| {
            // The namespace need not exist yet: an admin may share a path with a namespace
            // before its first upload makes it.
            let txn = self.begin_write(db)?;
            txn.open_table(SUMDB_SHARES)?.insert((path, owner), 1)?;
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Lets namespace `owner` host `path`, and the paths below it, although the log holds
    /// them from upstream, or another namespace holds them (an admin's `goshelf owner
    /// claim`). From then on lookups of those paths are answered here, never upstream;
    /// records already in the log stay (records are forever).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_claim(&self, owner: &str, path: &str) -> Result<()> {
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            txn.open_table(SUMDB_CLAIMS)?.insert((path, owner), 1)?;
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// The claims (`goshelf owner claim`): (module path, namespace), sorted.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_claims(&self) -> Result<Vec<(String, String)>> {
        self.read(|txn| {
            let mut out = Vec::new();
            for item in txn.open_table(SUMDB_CLAIMS)?.iter()? {
                let (k, _) = item?;
                let (path, owner) = k.value();
                out.push((path.to_owned(), owner.to_owned()));
            }
            Ok(out)
        })
    }

    /// Records in the log and the record of `module@version`, from one snapshot.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_lookup(&self, module: &str, version: &str) -> Result<(u64, Option<LogRecord>)> {
        let key = format!("{module}@{version}");
        self.read(|txn| {
            let log = txn.open_table(SUMDB_LOG)?;
            let size = size_of(&log)?;
            let Some(id) = indexed(&log, &key)? else {
                return Ok((size, None));
            };
            let text = text_at(&log, id)?
                .ok_or_else(|| Error::Corrupt(format!("sumdb record {id} missing")))?;
            Ok((size, Some((id, text))))
        })
    }

    /// Records appended from the upstream database.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_upstream_records(&self) -> Result<u64> {
        self.read(|txn| upstream_records_of(&txn.open_table(SUMDB_META)?))
    }

    /// Records in the log.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_size(&self) -> Result<u64> {
        self.read(|txn| size_of(&txn.open_table(SUMDB_LOG)?))
    }

    /// The tree hash of the first `n` records (`n` at most the log's size).
    ///
    /// # Errors
    /// Storage errors; `Corrupt` when a stored hash is missing.
    pub fn sumdb_tree_hash(&self, n: u64) -> Result<Hash> {
        self.read(|txn| {
            let table = txn.open_table(SUMDB_LOG)?;
            let mut read = reader(&table);
            let hash = tlog::tree_hash(n, &mut read).map_err(|e| tlog_err(&e));
            drop(read);
            hash
        })
    }

    /// Stored hashes by index, all from one snapshot; `Corrupt` when one is missing.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        self.read(|txn| {
            let table = txn.open_table(SUMDB_LOG)?;
            let mut read = reader(&table);
            let hashes = read(indexes).map_err(|e| tlog_err(&e));
            drop(read);
            hashes
        })
    }

    /// The texts of records `[from, from + count)`; fewer when the log is shorter.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_records(&self, from: u64, count: u64) -> Result<Vec<Vec<u8>>> {
        self.read(|txn| {
            let table = txn.open_table(SUMDB_LOG)?;
            let (lo, hi) = (record_at(from), record_at(from.saturating_add(count)));
            let mut out = Vec::new();
            for item in table.range(lo.as_slice()..hi.as_slice())? {
                let (k, v) = item?;
                let id = id_of_record_key(k.value())?;
                out.push(split_record(id, v.value())?.0.to_vec());
            }
            Ok(out)
        })
    }

    /// The record text of `module@version`, if logged (for pages and `verify`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn sumdb_record(&self, module: &str, version: &str) -> Result<Option<(u64, String)>> {
        Ok(self
            .sumdb_lookup(module, version)?
            .1
            .map(|(id, t)| (id, String::from_utf8_lossy(&t).into_owned())))
    }

    /// Appends `texts` as records in one transaction (a fast bulk path for tests of large
    /// logs: no version is stored).
    ///
    /// # Errors
    /// Storage errors.
    #[doc(hidden)]
    pub fn sumdb_append_for_test(
        &self,
        entries: &[(String, String, String, String)],
    ) -> Result<u64> {
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            for (m, v, h1, mh1) in entries {
                log_record(&txn, m, v, h1, mh1)?;
            }
            let size = size_of(&txn.open_table(SUMDB_LOG)?)?;
            self.commit_txn(txn)?;
            Ok(size)
        })
    }
}

type Conflicts = Vec<(String, String, String, String)>;

/// Appends every version of a logged namespace that has no record, in publish order.
fn catch_up_versions(txn: &redb::WriteTransaction, readers: Readers) -> Result<(u64, Conflicts)> {
    let mut logged_ns = std::collections::HashSet::new();
    {
        let namespaces = txn.open_table(schema::NAMESPACES)?;
        for item in namespaces.iter()? {
            let (k, v) = item?;
            let ns: NamespaceRecord = decode("namespace", v.value())?;
            if readers.logs(&ns) {
                logged_ns.insert(k.value().to_owned());
            }
        }
    }
    let mut all = Vec::new();
    {
        let versions = txn.open_table(schema::VERSIONS)?;
        for item in versions.iter()? {
            let (k, v) = item?;
            let (owner, module, version) = k.value();
            if !logged_ns.contains(owner) {
                continue;
            }
            let rec: VersionRecord = version_record(v.value())?;
            all.push((
                rec.time,
                owner.to_owned(),
                module.to_owned(),
                version.to_owned(),
                rec.h1,
                rec.mod_h1,
            ));
        }
    }
    all.sort();
    let mut appended = 0;
    let mut conflicts = Vec::new();
    for (_, owner, module, version, h1, mod_h1) in all {
        // Paths hosted by several logged namespaces before the log existed are shared among
        // them; the first to publish holds the path.
        {
            let mut paths = txn.open_table(SUMDB_PATHS)?;
            let holder = paths.get(module.as_str())?.map(|v| v.value().to_owned());
            match holder {
                None => {
                    paths.insert(module.as_str(), owner.as_str())?;
                }
                Some(h) if h == owner => {}
                Some(_) => {
                    txn.open_table(SUMDB_SHARES)?
                        .insert((module.as_str(), owner.as_str()), 1)?;
                }
            }
        }
        match log_record(txn, &module, &version, &h1, &mod_h1)? {
            Logged::New(_) => appended += 1,
            Logged::Same(_) => {}
            Logged::Conflict(text) => {
                conflicts.push((owner, module, version, record_zip_h1(&text).to_owned()));
            }
            Logged::NotOwner | Logged::NeedsClaim(_) => {}
        }
    }
    Ok((appended, conflicts))
}

/// Fills the upstream paths table once for a log made before it existed: every logged path
/// that no namespace holds came from upstream.
fn index_upstream_paths(txn: &redb::WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(SUMDB_META)?;
    if meta.get(META_UPSTREAM_PATHS_INDEXED)?.is_some() {
        return Ok(());
    }
    if upstream_records_of(&meta)? > 0 {
        let log = txn.open_table(SUMDB_LOG)?;
        let paths = txn.open_table(SUMDB_PATHS)?;
        let mut upstream = txn.open_table(SUMDB_UPSTREAM_PATHS)?;
        let (lo, hi) = ([INDEX], [INDEX + 1]);
        for item in log.range(lo.as_slice()..hi.as_slice())? {
            let (k, _) = item?;
            let key = String::from_utf8_lossy(&k.value()[1..]).into_owned();
            let Some((module, _)) = key.rsplit_once('@') else {
                continue;
            };
            if paths.get(module)?.is_none() {
                upstream.insert(module, 1)?;
            }
        }
    }
    meta.insert(META_UPSTREAM_PATHS_INDEXED, [1u8].as_slice())?;
    Ok(())
}

/// Moves a log of schema 3 or older (`SUMDB_RECORDS`, `SUMDB_HASHES`, `SUMDB_INDEX` and the
/// size in `SUMDB_META`) into `SUMDB_LOG`, and removes the old tables and the size. Part of the
/// transaction that marks the file schema 4 (`Store::open`).
///
/// The new log's size is its last record's id plus one, so a damaged old log (a record or a
/// stored hash missing, records past its size) is refused rather than migrated: the tree the
/// shelf signs would no longer be the one its clients hold. The file is left as it was.
///
/// # Errors
/// Storage errors; `Corrupt` naming the damage.
pub(super) fn migrate_log(txn: &redb::WriteTransaction) -> Result<()> {
    let damaged = |what: String| {
        Error::Corrupt(format!(
            "the checksum database of this file (schema 3 or older) is damaged, {what}; it \
             was not upgraded: restore a backup, or run `goshelf verify` with the release that \
             wrote it"
        ))
    };
    let size = match txn.open_table(SUMDB_META)?.get(META_SIZE)? {
        None => 0,
        Some(v) => <[u8; 8]>::try_from(v.value())
            .map(u64::from_be_bytes)
            .map_err(|_| damaged("its size is not 8 bytes".into()))?,
    };
    let mut log = txn.open_table(SUMDB_LOG)?;
    {
        let records = txn.open_table(schema::SUMDB_RECORDS)?;
        let hashes = txn.open_table(schema::SUMDB_HASHES)?;
        let mut next = 0u64;
        for item in records.iter()? {
            let (k, v) = item?;
            let id = k.value();
            if id != next {
                return Err(damaged(format!("record {next} of {size} is missing")));
            }
            next += 1;
            let first = tlog::stored_hash_index(0, id);
            let mut value = v.value().to_vec();
            for k in 0..hashes_made_by(id) as u64 {
                let hash = hashes.get(first + k)?.ok_or_else(|| {
                    damaged(format!(
                        "stored hash {} of record {id} is missing",
                        first + k
                    ))
                })?;
                value.extend_from_slice(hash.value());
            }
            log.insert(record_at(id).as_slice(), value.as_slice())?;
        }
        if next != size {
            return Err(damaged(format!(
                "it holds {next} records where its size says {size}"
            )));
        }
        for item in txn.open_table(schema::SUMDB_INDEX)?.iter()? {
            let (k, v) = item?;
            log.insert(
                index_at(k.value()).as_slice(),
                v.value().to_be_bytes().as_slice(),
            )?;
        }
    }
    txn.open_table(SUMDB_META)?.remove(META_SIZE)?;
    txn.delete_table(schema::SUMDB_RECORDS)?;
    txn.delete_table(schema::SUMDB_HASHES)?;
    txn.delete_table(schema::SUMDB_INDEX)?;
    Ok(())
}

/// `verify`'s part for the log: the records are dense, well-formed and indexed; every stored
/// hash is recomputed from the records (each new hash from the records and the hashes already
/// checked, so memory stays constant); the log's key signs a tree note that its own verifier
/// key accepts; and every version of a logged namespace has its record, or is reported (as a
/// note, not a problem) when the log holds another content for it.
pub(super) fn check_log(
    txn: &redb::ReadTransaction,
    report: &mut super::VerifyReport,
) -> Result<()> {
    let meta = txn.open_table(SUMDB_META)?;
    let log = txn.open_table(SUMDB_LOG)?;
    let size = size_of(&log)?;
    let readers = readers_of(&meta)?;
    report.log_records = size;
    let mut bad = Vec::new();
    for id in 0..size {
        let Some(value) = log.get(record_at(id).as_slice())? else {
            report.problem(
                format!("checksum database record {id} is missing"),
                Vec::new(),
            );
            return Ok(());
        };
        let (text, stored) = match split_record(id, value.value()) {
            Ok(parts) => parts,
            Err(e) => {
                report.problem(format!("checksum database: {e}"), Vec::new());
                return Ok(());
            }
        };
        let Some(key) = record_key(text) else {
            bad.push(format!("record {id}"));
            continue;
        };
        if indexed(&log, &key)? != Some(id) {
            report.problem(
                format!("checksum database record {id} is not indexed as {key}"),
                Vec::new(),
            );
        }
        let leaf = tlog::record_hash(text);
        let mut read = reader(&log);
        let want = match tlog::stored_hashes_for_record_hash(id, leaf, &mut read) {
            Ok(w) => w,
            Err(e) => {
                report.problem(
                    format!("checksum database hashes of record {id}: {e}"),
                    Vec::new(),
                );
                return Ok(());
            }
        };
        let first = tlog::stored_hash_index(0, id);
        for (k, h) in want.iter().enumerate() {
            if stored.get(32 * k..32 * k + 32) != Some(h.as_slice()) {
                let at = first + k as u64;
                report.problem(
                    format!(
                        "checksum database: stored hash {at} does not match record {id} \
                         (a record or a hash was changed)"
                    ),
                    vec![key.clone()],
                );
                return Ok(());
            }
        }
    }
    let unindexable = bad.len() as u64;
    if !bad.is_empty() {
        report.problem(
            "checksum database records that are not go.sum lines".into(),
            bad,
        );
    }
    // Every index entry names a record that names it back (the records were checked above).
    let (lo, hi) = ([INDEX], [INDEX + 1]);
    let mut entries = 0u64;
    for item in log.range(lo.as_slice()..hi.as_slice())? {
        let (k, v) = item?;
        entries += 1;
        let key = String::from_utf8_lossy(&k.value()[1..]).into_owned();
        let id = <[u8; 8]>::try_from(v.value()).map(u64::from_be_bytes).ok();
        let named = match id.filter(|&id| id < size) {
            Some(id) => text_at(&log, id)?.and_then(|t| record_key(&t)) == Some(key.clone()),
            None => false,
        };
        if !named {
            report.problem(
                format!("checksum database index entry {key} names no record of it"),
                Vec::new(),
            );
        }
    }
    if entries + unindexable < size {
        report.problem(
            format!("checksum database index has {entries} entries for {size} records"),
            Vec::new(),
        );
    }
    let others = log.len()?.saturating_sub(entries + size);
    if others > 0 {
        report.problem(
            format!("checksum database log holds {others} keys that are neither records nor index entries"),
            Vec::new(),
        );
    }
    if let Some(skey) = meta.get(META_SKEY)? {
        let skey = String::from_utf8_lossy(skey.value()).into_owned();
        let signed = crate::sumdb::note::Signer::parse(&skey).and_then(|signer| {
            let mut read = reader(&log);
            let hash = tlog::tree_hash(size, &mut read)?;
            let text = tlog::format_tree(&tlog::Tree { n: size, hash });
            let note = crate::sumdb::sign(&text, &[&signer])?;
            crate::sumdb::open_tree_note(&signer.verifier(), note.as_bytes()).map(|_| ())
        });
        if let Err(e) = signed {
            report.problem(
                format!("checksum database head cannot be signed and checked: {e}"),
                Vec::new(),
            );
        }
    }
    let Some(readers) = readers else {
        return Ok(());
    };
    // Every version of a logged namespace has its record.
    let namespaces = txn.open_table(schema::NAMESPACES)?;
    let versions = txn.open_table(schema::VERSIONS)?;
    let mut missing = Vec::new();
    for item in versions.iter()? {
        let (k, v) = item?;
        let (owner, module, version) = k.value();
        let Some(ns) = namespaces.get(owner)? else {
            continue;
        };
        let ns: NamespaceRecord = decode("namespace", ns.value())?;
        if !readers.logs(&ns) {
            continue;
        }
        let rec: VersionRecord = version_record(v.value())?;
        let name = format!("{owner} {module}@{version}");
        let want = record_text(module, version, &rec.h1, &rec.mod_h1);
        match indexed(&log, &format!("{module}@{version}"))? {
            None => missing.push(name),
            Some(id) => {
                let text = text_at(&log, id)?.unwrap_or_default();
                if text != want.as_bytes() {
                    report.note(
                        format!(
                            "served but not logged: the checksum database holds {} for it \
                             (record {id}); clients verifying with it need GONOSUMDB={module}",
                            record_zip_h1(&String::from_utf8_lossy(&text))
                        ),
                        vec![name],
                    );
                }
            }
        }
    }
    if !missing.is_empty() {
        report.problem(
            "versions of a logged namespace without a checksum database record".into(),
            missing,
        );
    }
    Ok(())
}

/// `path@version` of a well-formed record text (its two go.sum lines), else `None`.
fn record_key(text: &[u8]) -> Option<String> {
    tlog::check_record_text(text).ok()?;
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines();
    let (first, second) = (lines.next()?, lines.next()?);
    if lines.next().is_some() {
        return None;
    }
    let mut f = first.split(' ');
    let (path, version, h1) = (f.next()?, f.next()?, f.next()?);
    let mut g = second.split(' ');
    let (path2, gomod, mod_h1) = (g.next()?, g.next()?, g.next()?);
    let ok = f.next().is_none()
        && g.next().is_none()
        && path2 == path
        && gomod.strip_suffix("/go.mod") == Some(version)
        && h1.starts_with("h1:")
        && mod_h1.starts_with("h1:");
    ok.then(|| format!("{path}@{version}"))
}

/// The `private` patterns as one GOPRIVATE list.
fn patterns_in(table: &impl ReadableTable<&'static str, u8>) -> Result<String> {
    let mut out = Vec::new();
    for item in table.iter()? {
        out.push(item?.0.value().to_owned());
    }
    Ok(out.join(","))
}

/// The pattern to suggest for `module`: its first path element (`corp.example.com`).
#[must_use]
pub fn suggested_pattern(module: &str) -> &str {
    module.split('/').next().unwrap_or(module)
}

/// With the log read by anyone, every module path of a non-public namespace must match a
/// `private` pattern (so that which paths go upstream tells nothing about private modules):
/// the path that does not, if any.
pub(super) fn uncovered_private(
    txn: &redb::WriteTransaction,
    readers: Option<Readers>,
    ns: &NamespaceRecord,
    modules: &mut dyn Iterator<Item = String>,
) -> Result<Option<String>> {
    if readers != Some(Readers::Anyone) || ns.visibility() == crate::auth::Visibility::Public {
        return Ok(None);
    }
    let patterns = patterns_in(&txn.open_table(PRIVATE_PATTERNS)?)?;
    for m in modules {
        if !crate::gomod::patterns::match_prefix_patterns(&patterns, &m) {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

impl Store {
    /// The `private` patterns, as one GOPRIVATE list.
    ///
    /// # Errors
    /// Storage errors.
    pub fn private_patterns(&self) -> Result<String> {
        self.read(|txn| patterns_in(&txn.open_table(PRIVATE_PATTERNS)?))
    }

    /// Adds `private` patterns, in one transaction, and none at all when every one is
    /// there already (the setting's patterns are added at every start); how many were new.
    ///
    /// # Errors
    /// Storage errors.
    pub fn private_add<'p>(&self, patterns: impl IntoIterator<Item = &'p str>) -> Result<usize> {
        let patterns: Vec<&str> = patterns.into_iter().collect();
        let new: Vec<&str> = self.read(|txn| {
            let table = txn.open_table(PRIVATE_PATTERNS)?;
            let mut new = Vec::new();
            for p in &patterns {
                if table.get(*p)?.is_none() {
                    new.push(*p);
                }
            }
            Ok(new)
        })?;
        if new.is_empty() {
            return Ok(0);
        }
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut table = txn.open_table(PRIVATE_PATTERNS)?;
                for p in &new {
                    table.insert(*p, 1)?;
                }
            }
            self.commit_txn(txn)?;
            Ok(new.len())
        })
    }

    /// Module paths of non-public namespaces that no `private` pattern covers (shelves from
    /// before the rule): they are answered as if they matched, and the banner lists them.
    ///
    /// # Errors
    /// Storage errors.
    pub fn private_uncovered(&self) -> Result<Vec<String>> {
        self.read(|txn| {
            let patterns = patterns_in(&txn.open_table(PRIVATE_PATTERNS)?)?;
            let mut private = std::collections::HashSet::new();
            for item in txn.open_table(schema::NAMESPACES)?.iter()? {
                let (k, v) = item?;
                let ns: NamespaceRecord = decode("namespace", v.value())?;
                if ns.visibility() != crate::auth::Visibility::Public {
                    private.insert(k.value().to_owned());
                }
            }
            let mut out = Vec::new();
            if private.is_empty() {
                return Ok(out);
            }
            for item in txn.open_table(schema::MODULES)?.iter()? {
                let (k, _) = item?;
                let (owner, module) = k.value();
                if private.contains(owner)
                    && !crate::gomod::patterns::match_prefix_patterns(&patterns, module)
                {
                    out.push(module.to_owned());
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::write_raw as damage;
    use super::*;

    const H1: &str = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn held_below(store: &Store, module: &str) -> Option<String> {
        store
            .with_db_once(|db| {
                let txn = store.begin_write(db)?;
                upstream_path_at_or_below(&txn, module)
            })
            .unwrap()
    }

    /// A log of six records: `acme example.com/m@v1.0.0` (hosted in a public organisation,
    /// record 0) and `golang.org/x/m0..m4@v1.0.0` from an upstream (records 1 to 5).
    fn logged() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        store
            .sumdb_open(None, "shelf.test/sumdb", [7; 32], Readers::Anyone)
            .unwrap();
        store
            .create_org("acme", crate::auth::Visibility::Public, 0)
            .unwrap();
        store
            .create_org("hidden", crate::auth::Visibility::Private, 0)
            .unwrap();
        super::super::put_test_version(&store, b"zip bytes");
        for i in 0..5 {
            let module = format!("golang.org/x/m{i}");
            store
                .sumdb_append_upstream(&module, "v1.0.0", (H1, H1), "up", None, &[])
                .unwrap();
        }
        (dir, store)
    }

    fn check(store: &Store) -> super::super::VerifyReport {
        let txn = store.begin_read().unwrap();
        let mut report = super::super::VerifyReport::default();
        check_log(&txn, &mut report).unwrap();
        report
    }

    /// A version record written directly (no log record made for it).
    fn served(store: &Store, owner: &str, module: &str, h1: &str) {
        let rec = VersionRecord {
            blake3: "00".repeat(32),
            size: 1,
            h1: h1.into(),
            mod_h1: H1.into(),
            time: 0,
            uploader: "t".into(),
        };
        damage(store, |txn| {
            txn.open_table(schema::VERSIONS)?.insert(
                (owner, module, "v1.0.0"),
                super::super::version_value(&rec, Some(b"module m\n"))?.as_slice(),
            )?;
            Ok(())
        });
    }

    /// Rewrites record `id`'s value in `SUMDB_LOG` with `edit`, given its text and hashes.
    fn edit_record(
        txn: &redb::WriteTransaction,
        id: u64,
        edit: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>),
    ) -> Result<()> {
        let mut log = txn.open_table(SUMDB_LOG)?;
        let value = log.get(record_at(id).as_slice())?.unwrap().value().to_vec();
        let (text, hashes) = split_record(id, &value)?;
        let (mut text, mut hashes) = (text.to_vec(), hashes.to_vec());
        edit(&mut text, &mut hashes);
        log.insert(record_at(id).as_slice(), [text, hashes].concat().as_slice())?;
        Ok(())
    }

    #[test]
    fn a_sound_log_checks_clean() {
        let (_dir, store) = logged();
        let report = check(&store);
        assert_eq!(report.log_records, 6);
        assert!(report.is_clean(), "{:?}", report.whats());
        assert!(report.notes.is_empty());
    }

    #[test]
    fn a_changed_record_is_found_by_its_hashes() {
        let (_dir, store) = logged();
        damage(&store, |txn| {
            let other = record_text("golang.org/x/m1", "v1.0.0", "h1:other=", H1);
            edit_record(txn, 2, |text, _| *text = other.into_bytes())
        });
        let report = check(&store);
        assert_eq!(
            report.whats(),
            [format!(
                "checksum database: stored hash {} does not match record 2 (a record or a hash \
                 was changed)",
                tlog::stored_hash_index(0, 2)
            )]
        );
        assert_eq!(report.problems[0].versions, ["golang.org/x/m1@v1.0.0"]);
    }

    #[test]
    fn a_changed_higher_hash_is_found() {
        let (_dir, store) = logged();
        // Record 3 completes a subtree: its stored hashes are its leaf and the level-1 and
        // level-2 hashes above it; the last one changed.
        let at = tlog::stored_hash_index(2, 0);
        damage(&store, |txn| {
            edit_record(txn, 3, |_, hashes| {
                hashes[64..96].copy_from_slice(&[1u8; 32])
            })
        });
        let report = check(&store);
        assert_eq!(report.problems.len(), 1, "{:?}", report.whats());
        assert!(report.whats()[0].contains(&format!("stored hash {at} does not match record 3")));
    }

    #[test]
    fn records_missing_unindexed_malformed_or_short_are_found() {
        let (_dir, store) = logged();
        damage(&store, |txn| {
            txn.open_table(SUMDB_LOG)?
                .remove(index_at("golang.org/x/m2@v1.0.0").as_slice())?;
            Ok(())
        });
        let report = check(&store);
        assert_eq!(
            report.whats(),
            [
                "checksum database record 3 is not indexed as golang.org/x/m2@v1.0.0",
                "checksum database index has 5 entries for 6 records"
            ]
        );

        // A record that is no go.sum lines: named, and the records after it still checked.
        damage(&store, |txn| {
            txn.open_table(SUMDB_LOG)?.insert(
                index_at("golang.org/x/m2@v1.0.0").as_slice(),
                3u64.to_be_bytes().as_slice(),
            )?;
            edit_record(txn, 4, |text, _| *text = b"not a go.sum line\n".to_vec())?;
            edit_record(txn, 5, |text, _| *text = b"x".to_vec())
        });
        let report = check(&store);
        assert_eq!(
            report.whats()[0],
            "checksum database records that are not go.sum lines"
        );
        assert_eq!(report.problems[0].versions, ["record 4", "record 5"]);
        // Their index entries now name records of no such path.
        assert_eq!(
            report.whats()[1..],
            [
                "checksum database index entry golang.org/x/m3@v1.0.0 names no record of it",
                "checksum database index entry golang.org/x/m4@v1.0.0 names no record of it"
            ]
        );

        // A record too short for the hashes its id says it made.
        damage(&store, |txn| {
            txn.open_table(SUMDB_LOG)?
                .insert(record_at(3).as_slice(), [0u8; 95].as_slice())?;
            Ok(())
        });
        assert_eq!(
            check(&store).whats(),
            ["checksum database: the database is damaged: sumdb record 3 lacks its stored hashes"]
        );

        damage(&store, |txn| {
            txn.open_table(SUMDB_LOG)?.remove(record_at(1).as_slice())?;
            Ok(())
        });
        assert_eq!(
            check(&store).whats(),
            ["checksum database record 1 is missing"]
        );
    }

    #[test]
    fn index_entries_without_their_record_and_stray_keys_are_found() {
        let (_dir, store) = logged();
        damage(&store, |txn| {
            let mut log = txn.open_table(SUMDB_LOG)?;
            log.insert(
                index_at("golang.org/x/gone@v1.0.0").as_slice(),
                9u64.to_be_bytes().as_slice(),
            )?;
            log.insert(b"zzz".as_slice(), b"?".as_slice())?;
            Ok(())
        });
        assert_eq!(
            check(&store).whats(),
            [
                "checksum database index entry golang.org/x/gone@v1.0.0 names no record of it",
                "checksum database log holds 1 keys that are neither records nor index entries"
            ]
        );
    }

    #[test]
    fn a_key_that_cannot_sign_is_found() {
        let (_dir, store) = logged();
        damage(&store, |txn| {
            txn.open_table(SUMDB_META)?
                .insert(META_SKEY, b"PRIVATE+KEY+broken".as_slice())?;
            Ok(())
        });
        let report = check(&store);
        assert_eq!(report.problems.len(), 1, "{:?}", report.whats());
        assert!(report.problems[0]
            .what
            .starts_with("checksum database head cannot be signed and checked: "));
    }

    #[test]
    fn logged_namespaces_versions_need_their_record() {
        let (_dir, store) = logged();
        // Not logged: a public organisation's version (a problem), a private one's and one
        // of a namespace that does not exist (neither is logged with readers = anyone).
        served(&store, "acme", "example.com/new", H1);
        served(&store, "hidden", "example.com/secret", H1);
        served(&store, "nobody", "example.com/stray", H1);
        // Served with other hashes than the log holds for its path@version: a note.
        served(&store, "acme", "golang.org/x/m0", "h1:mine=");
        // Served with the hashes the log holds: nothing to say.
        served(&store, "acme", "golang.org/x/m1", H1);
        let report = check(&store);
        assert_eq!(
            report.whats(),
            ["versions of a logged namespace without a checksum database record"]
        );
        assert_eq!(report.problems[0].versions, ["acme example.com/new@v1.0.0"]);
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert_eq!(report.notes[0].versions, ["acme golang.org/x/m0@v1.0.0"]);
        assert_eq!(
            report.notes[0].what,
            format!(
                "served but not logged: the checksum database holds {H1} for it (record 1); \
                 clients verifying with it need GONOSUMDB=golang.org/x/m0"
            )
        );
    }

    /// A shelf with a log read by `readers`, public organisations `acme` and `beta`, and a
    /// private organisation `hidden`.
    fn shelf(readers: Readers) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        store
            .sumdb_open(None, "shelf.test/sumdb", [7; 32], readers)
            .unwrap();
        for (org, vis) in [
            ("acme", crate::auth::Visibility::Public),
            ("beta", crate::auth::Visibility::Public),
            ("hidden", crate::auth::Visibility::Private),
        ] {
            store.create_org(org, vis, 0).unwrap();
        }
        (dir, store)
    }

    /// Publishes `owner module@version` with zip hash `h1` (bytes of its own).
    fn put(store: &Store, owner: &str, module: &str, version: &str, h1: &str) -> Result<()> {
        let bytes = format!("{owner} {module} {version} {h1}");
        super::super::put_test_module(store, owner, module, version, h1, bytes.as_bytes())
    }

    #[test]
    fn a_path_belongs_to_the_first_logged_namespace_until_it_is_shared() {
        let (_dir, store) = shelf(Readers::Anyone);
        put(&store, "acme", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        put(&store, "acme", "example.com/lib", "v1.1.0", "h1:b=").unwrap();
        match put(&store, "beta", "example.com/lib", "v1.2.0", "h1:c=") {
            Err(Error::PathTaken { module, owner }) => {
                assert_eq!(
                    (module.as_str(), owner.as_str()),
                    ("example.com/lib", "beta")
                );
            }
            other => panic!("{other:?}"),
        }
        // Paths are owned one by one: a path below another is a path of its own.
        put(&store, "beta", "example.com/lib/sub", "v1.0.0", "h1:d=").unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 3, "the refusal logged nothing");
        // A share of a prefix covers the paths below it, for that namespace only.
        store.sumdb_share("beta", "example.com").unwrap();
        put(&store, "beta", "example.com/lib", "v1.2.0", "h1:c=").unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 4);
        store
            .create_org("gamma", crate::auth::Visibility::Public, 0)
            .unwrap();
        assert!(matches!(
            put(&store, "gamma", "example.com/lib", "v1.3.0", "h1:e="),
            Err(Error::PathTaken { .. })
        ));
        // A share of another path covers nothing here; nor does a share's suffix.
        store.sumdb_share("gamma", "example.com/li").unwrap();
        store.sumdb_share("gamma", "example.com/lib/sub").unwrap();
        assert!(matches!(
            put(&store, "gamma", "example.com/lib", "v1.3.0", "h1:e="),
            Err(Error::PathTaken { .. })
        ));
        // An admin's claim lets a namespace publish a held path too.
        store.sumdb_claim("gamma", "example.com/lib").unwrap();
        put(&store, "gamma", "example.com/lib", "v1.3.0", "h1:e=").unwrap();
        assert_eq!(
            store.sumdb_claims().unwrap(),
            [("example.com/lib".to_owned(), "gamma".to_owned())]
        );
        // A private namespace is not logged when anyone reads the log: nothing is owned.
        store.private_add(["example.com"]).unwrap();
        put(&store, "hidden", "example.com/lib", "v9.0.0", "h1:f=").unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 5);
    }

    #[test]
    fn a_version_is_logged_once_and_other_content_is_refused() {
        let (_dir, store) = shelf(Readers::Anyone);
        store.sumdb_share("beta", "example.com/lib").unwrap();
        put(&store, "acme", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        // The same content in a namespace that shares the path: the record is reused.
        put(&store, "beta", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 1);
        // Other content for a logged path@version: refused, and the conflict is found before
        // whether the namespace may publish the path at all.
        store
            .create_org("gamma", crate::auth::Visibility::Public, 0)
            .unwrap();
        match put(&store, "gamma", "example.com/lib", "v1.0.0", "h1:other=") {
            Err(Error::LogConflict {
                module,
                version,
                h1,
            }) => {
                assert_eq!(
                    (module.as_str(), version.as_str(), h1.as_str()),
                    ("example.com/lib", "v1.0.0", "h1:a=")
                );
            }
            other => panic!("{other:?}"),
        }
        let (size, rec) = store.sumdb_lookup("example.com/lib", "v1.0.0").unwrap();
        assert_eq!(size, 1);
        let (id, text) = rec.unwrap();
        assert_eq!(id, 0);
        assert_eq!(
            text,
            record_text("example.com/lib", "v1.0.0", "h1:a=", "h1:mod").into_bytes()
        );
        assert_eq!(
            store.sumdb_record("example.com/lib", "v1.0.0").unwrap(),
            Some((
                0,
                record_text("example.com/lib", "v1.0.0", "h1:a=", "h1:mod")
            ))
        );
        assert_eq!(
            store.sumdb_lookup("example.com/lib", "v2.0.0").unwrap(),
            (1, None)
        );
        assert_eq!(
            store.sumdb_record("example.com/lib", "v2.0.0").unwrap(),
            None
        );
    }

    #[test]
    fn an_organisation_needs_a_claim_for_paths_held_from_upstream() {
        let (_dir, store) = shelf(Readers::Anyone);
        store
            .sumdb_append_upstream("golang.org/x/text", "v0.3.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert_eq!(store.sumdb_upstream_records().unwrap(), 1);
        for module in ["golang.org/x/text", "golang.org/x"] {
            match put(&store, "acme", module, "v9.0.0", "h1:a=") {
                Err(Error::NeedsClaim {
                    module: m,
                    owner,
                    held,
                }) => {
                    assert_eq!(
                        (m.as_str(), owner.as_str(), held.as_str()),
                        (module, "acme", "golang.org/x/text")
                    );
                }
                other => panic!("{module}: {other:?}"),
            }
        }
        // Neither a path above it in name only nor one below it is held.
        put(&store, "acme", "golang.org/xy", "v1.0.0", "h1:b=").unwrap();
        put(&store, "acme", "golang.org/x/text/v2", "v2.0.0", "h1:c=").unwrap();
        // A personal namespace needs no claim (it hosts only for its own URL).
        store.create_user("alice", None, false, 0).unwrap();
        put(&store, "alice", "golang.org/x/text", "v9.0.0", "h1:d=").unwrap();
        // A claim of a prefix lets the organisation host what lies below it.
        store.sumdb_claim("acme", "golang.org/x").unwrap();
        put(&store, "acme", "golang.org/x", "v9.0.0", "h1:a=").unwrap();
        put(&store, "acme", "golang.org/x/text", "v9.1.0", "h1:e=").unwrap();
        assert_eq!(
            store.sumdb_upstream_records().unwrap(),
            1,
            "upstream records only"
        );
        assert_eq!(store.sumdb_size().unwrap(), 6);
    }

    #[test]
    fn a_private_namespace_needs_a_pattern_while_anyone_reads_the_log() {
        let (_dir, store) = shelf(Readers::Anyone);
        match put(
            &store,
            "hidden",
            "corp.example/secret/lib",
            "v1.0.0",
            "h1:a=",
        ) {
            Err(Error::PrivateUncovered { module, suggestion }) => {
                assert_eq!(
                    (module.as_str(), suggestion.as_str()),
                    ("corp.example/secret/lib", "corp.example")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            store
                .private_add(["*.internal", "corp.example/secret"])
                .unwrap(),
            2
        );
        assert_eq!(
            store.private_add(["corp.example/secret"]).unwrap(),
            0,
            "kept once"
        );
        assert_eq!(
            store.private_add(["corp.example/secret", "x.y"]).unwrap(),
            1
        );
        assert_eq!(
            store.private_patterns().unwrap(),
            "*.internal,corp.example/secret,x.y"
        );
        put(
            &store,
            "hidden",
            "corp.example/secret/lib",
            "v1.0.0",
            "h1:a=",
        )
        .unwrap();
        // Public namespaces need none.
        put(&store, "acme", "corp.example/open", "v1.0.0", "h1:b=").unwrap();
        assert!(store.private_uncovered().unwrap().is_empty());
        // A module from before the rule (hosted privately, no pattern): listed.
        damage(&store, |txn| {
            txn.open_table(schema::MODULES)?
                .insert(("hidden", "old.example/tool"), b"{}".as_slice())?;
            txn.open_table(schema::MODULES)?
                .insert(("acme", "old.example/free"), b"{}".as_slice())?;
            Ok(())
        });
        assert_eq!(store.private_uncovered().unwrap(), ["old.example/tool"]);
        assert_eq!(suggested_pattern("old.example/tool/v2"), "old.example");
        assert_eq!(suggested_pattern("single"), "single");
    }

    #[test]
    fn with_signed_in_readers_private_namespaces_are_logged_and_need_no_pattern() {
        let (_dir, store) = shelf(Readers::SignedIn);
        put(&store, "hidden", "corp.example/lib", "v1.0.0", "h1:a=").unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 1);
        assert_eq!(
            store.sumdb_stored_readers().unwrap(),
            Some(Readers::SignedIn)
        );
        assert!(matches!(
            put(&store, "acme", "corp.example/lib", "v1.1.0", "h1:b="),
            Err(Error::PathTaken { .. })
        ));
    }

    #[test]
    fn opening_keeps_the_identity_and_logs_what_wider_readers_take() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        assert!(store.sumdb_identity().unwrap().is_none());
        assert_eq!(store.sumdb_stored_readers().unwrap(), None);
        // Versions published before the log exists.
        store
            .create_org("acme", crate::auth::Visibility::Public, 0)
            .unwrap();
        store
            .create_org("hidden", crate::auth::Visibility::Private, 0)
            .unwrap();
        put(&store, "acme", "example.com/a", "v1.0.0", "h1:a=").unwrap();
        put(&store, "hidden", "corp.example/b", "v1.0.0", "h1:b=").unwrap();
        let first = store
            .sumdb_open(None, "shelf.test/sumdb", [7; 32], Readers::Anyone)
            .unwrap();
        assert!(first.created);
        assert_eq!((first.appended, first.size), (1, 1), "the public version");
        assert_eq!(first.identity.name, "shelf.test/sumdb");
        let again = store
            .sumdb_open(
                Some("shelf.test/sumdb"),
                "other.test",
                [8; 32],
                Readers::Anyone,
            )
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.appended, 0);
        assert_eq!(again.identity.skey, first.identity.skey, "the key is kept");
        let stored = store.sumdb_identity().unwrap().unwrap();
        assert_eq!(
            (stored.name.as_str(), stored.skey.as_str(), stored.readers),
            (
                "shelf.test/sumdb",
                first.identity.skey.as_str(),
                Readers::Anyone
            )
        );
        match store.sumdb_open(Some("renamed.test"), "x", [7; 32], Readers::Anyone) {
            Err(Error::LogName { stored, configured }) => {
                assert_eq!(
                    (stored.as_str(), configured.as_str()),
                    ("shelf.test/sumdb", "renamed.test")
                );
            }
            other => panic!("{:?}", other.map(|o| o.size)),
        }
        // Widening the readers logs the private namespace's version, once.
        let wider = store
            .sumdb_open(None, "x", [7; 32], Readers::SignedIn)
            .unwrap();
        assert_eq!((wider.appended, wider.size), (1, 2));
        assert_eq!(
            store.sumdb_stored_readers().unwrap(),
            Some(Readers::SignedIn)
        );
        let same = store
            .sumdb_open(None, "x", [7; 32], Readers::SignedIn)
            .unwrap();
        assert_eq!((same.appended, same.size), (0, 2));
        // Narrowing is refused while the log holds a private namespace's record (anyone
        // could then read it), and changes nothing.
        match store.sumdb_open(None, "x", [7; 32], Readers::Anyone) {
            Err(Error::LogReaders { record }) => assert_eq!(record, "corp.example/b@v1.0.0"),
            other => panic!("{:?}", other.map(|o| o.size)),
        }
        assert_eq!(
            store.sumdb_stored_readers().unwrap(),
            Some(Readers::SignedIn)
        );
        // Once that namespace is public, narrowing keeps every record.
        store
            .update_owner(
                "hidden",
                &crate::store::OwnerUpdate {
                    visibility: Some(crate::auth::Visibility::Public),
                    ..Default::default()
                },
            )
            .unwrap();
        let narrow = store
            .sumdb_open(None, "x", [7; 32], Readers::Anyone)
            .unwrap();
        assert_eq!((narrow.appended, narrow.size), (0, 2));
        // A rotation gives a new name and key, never the current name.
        assert!(matches!(
            store.sumdb_rotate("shelf.test/sumdb", [9; 32]),
            Err(Error::LogName { .. })
        ));
        let skey = store.sumdb_rotate("shelf.test/sumdb2", [9; 32]).unwrap();
        assert_ne!(skey, first.identity.skey);
        let rotated = store.sumdb_identity().unwrap().unwrap();
        assert_eq!(
            (rotated.name.as_str(), rotated.skey),
            ("shelf.test/sumdb2", skey)
        );
        assert_eq!(store.sumdb_size().unwrap(), 2, "records stay");
    }

    /// Versions published before the log existed: at its first open, a path hosted by
    /// several logged namespaces belongs to the first that published it and is shared with
    /// the others; a second content for a logged path@version is a conflict, not a record.
    #[test]
    fn the_first_open_shares_paths_hosted_by_several_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        for org in ["acme", "beta", "gamma"] {
            store
                .create_org(org, crate::auth::Visibility::Public, 0)
                .unwrap();
        }
        put(&store, "acme", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        put(&store, "acme", "example.com/lib", "v1.1.0", "h1:b=").unwrap();
        put(&store, "beta", "example.com/lib", "v1.0.0", "h1:other=").unwrap();
        put(&store, "beta", "example.com/lib", "v1.2.0", "h1:c=").unwrap();
        let opened = store
            .sumdb_open(None, "shelf.test/sumdb", [7; 32], Readers::Anyone)
            .unwrap();
        assert_eq!((opened.appended, opened.size), (3, 3));
        assert_eq!(
            opened.conflicts,
            [(
                "beta".to_owned(),
                "example.com/lib".to_owned(),
                "v1.0.0".to_owned(),
                "h1:a=".to_owned()
            )]
        );
        let txn = store.begin_read().unwrap();
        let holder = txn.open_table(SUMDB_PATHS).unwrap();
        assert_eq!(
            holder.get("example.com/lib").unwrap().unwrap().value(),
            "acme"
        );
        let shares: Vec<(String, String)> = txn
            .open_table(SUMDB_SHARES)
            .unwrap()
            .iter()
            .unwrap()
            .map(|e| {
                let (k, _) = e.unwrap();
                let (p, o) = k.value();
                (p.to_owned(), o.to_owned())
            })
            .collect();
        assert_eq!(shares, [("example.com/lib".to_owned(), "beta".to_owned())]);
        drop((holder, txn));
        put(&store, "beta", "example.com/lib", "v1.3.0", "h1:d=").unwrap();
        assert!(matches!(
            put(&store, "gamma", "example.com/lib", "v1.4.0", "h1:e="),
            Err(Error::PathTaken { .. })
        ));
    }

    /// A namespace made public, the log read by anyone, has its versions logged in the same
    /// transaction (a review found them left out: verify flagged them for ever and verifying
    /// clients got 404 for their lookups), under the rules of an upload: a path another
    /// namespace holds refuses the change, and nothing is written.
    #[test]
    fn a_namespace_made_public_has_its_versions_logged() {
        let (_dir, store) = shelf(Readers::Anyone);
        store.private_add(["corp.example", "example.com"]).unwrap();
        put(&store, "hidden", "corp.example/b", "v1.0.0", "h1:b=").unwrap();
        put(&store, "hidden", "corp.example/b", "v1.1.0", "h1:c=").unwrap();
        let logged = |m: &str, v: &str| store.sumdb_lookup(m, v).unwrap().1.is_some();
        assert!(!logged("corp.example/b", "v1.0.0"));
        let public = crate::store::OwnerUpdate {
            visibility: Some(crate::auth::Visibility::Public),
            ..Default::default()
        };
        // Quotas alone change nothing in the log.
        store
            .update_owner(
                "hidden",
                &crate::store::OwnerUpdate {
                    quota_versions: Some(10),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(store.sumdb_size().unwrap(), 0);
        store.update_owner("hidden", &public).unwrap();
        assert!(logged("corp.example/b", "v1.0.0") && logged("corp.example/b", "v1.1.0"));
        assert_eq!(store.sumdb_size().unwrap(), 2);
        assert_eq!(check(&store).whats(), Vec::<String>::new());

        // A namespace logged already is not logged again by a change of quotas: its version
        // that was served but not logged at the first open (another content held the
        // `path@version`) does not refuse the change.
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = Store::open(&dir2.path().join("c.redb")).unwrap();
        for org in ["acme", "beta"] {
            store2
                .create_org(org, crate::auth::Visibility::Public, 0)
                .unwrap();
        }
        put(&store2, "acme", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        put(&store2, "beta", "example.com/lib", "v1.0.0", "h1:other=").unwrap();
        let opened = store2
            .sumdb_open(None, "shelf.test/sumdb", [7; 32], Readers::Anyone)
            .unwrap();
        assert_eq!(opened.conflicts.len(), 1);
        store2
            .update_owner(
                "beta",
                &crate::store::OwnerUpdate {
                    quota_versions: Some(10),
                    ..Default::default()
                },
            )
            .unwrap();

        // A path another namespace holds: refused, nothing written, still private.
        let (_dir, store) = shelf(Readers::Anyone);
        store.private_add(["example.com"]).unwrap();
        put(&store, "acme", "example.com/lib", "v1.0.0", "h1:a=").unwrap();
        put(&store, "hidden", "example.com/lib", "v2.0.0", "h1:x=").unwrap();
        let size = store.sumdb_size().unwrap();
        match store.update_owner("hidden", &public) {
            Err(Error::PathTaken { module, owner }) => {
                assert_eq!(
                    (module.as_str(), owner.as_str()),
                    ("example.com/lib", "hidden")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.sumdb_size().unwrap(), size);
        assert_eq!(
            store.namespace_view("hidden", None).unwrap(),
            (crate::auth::Access::None, false)
        );
    }

    /// Each way a record only signed-in readers may see can be in the log keeps it from
    /// being opened to anyone: a version of a private namespace since deleted and purged (its
    /// path still held there), and a version fetched with credentials.
    #[test]
    fn a_log_with_private_records_is_not_opened_to_anyone() {
        let narrow = |store: &Store| store.sumdb_open(None, "x", [7; 32], Readers::Anyone);
        // Public versions only: opened to anyone.
        let (_d, store) = shelf(Readers::SignedIn);
        put(&store, "acme", "example.com/a", "v1.0.0", "h1:a=").unwrap();
        assert_eq!(narrow(&store).unwrap().size, 1);

        let (_d, store) = shelf(Readers::SignedIn);
        put(&store, "acme", "example.com/a", "v1.0.0", "h1:a=").unwrap();
        put(&store, "hidden", "corp.example/b", "v1.0.0", "h1:b=").unwrap();
        assert!(store
            .delete_version("hidden", "corp.example/b", "v1.0.0", 1)
            .unwrap());
        assert!(store
            .purge_tombstone("hidden", "corp.example/b", "v1.0.0")
            .unwrap());
        match narrow(&store) {
            Err(Error::LogReaders { record }) => assert_eq!(record, "corp.example/b@v1.0.0"),
            other => panic!("{:?}", other.map(|o| o.size)),
        }

        let (_d, store) = shelf(Readers::SignedIn);
        let fetched = super::super::records::CachedRecord {
            private: true,
            ..super::super::records::CachedRecord::fetched("v0.1.0", H1)
        };
        store
            .cache_put_meta("central.example/lib", "v0.1.0", &fetched, b"m")
            .unwrap();
        store
            .sumdb_append_upstream("central.example/lib", "v0.1.0", (H1, H1), "up", None, &[])
            .unwrap();
        match narrow(&store) {
            Err(Error::LogReaders { record }) => assert_eq!(record, "central.example/lib@v0.1.0"),
            other => panic!("{:?}", other.map(|o| o.size)),
        }
    }

    /// Stored hashes live in the value of the record whose append made them (schema 4): with
    /// 600 records (hashes up to level 9), every stored hash index reads back the hash a log
    /// kept in memory computes, and an index past the log, or one whose record id would
    /// overflow, is an error, not a panic.
    #[test]
    fn every_stored_hash_is_found_in_the_record_that_made_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let entries: Vec<_> = (0..600)
            .map(|i| {
                (
                    format!("example.com/m{i}"),
                    "v1.0.0".to_owned(),
                    H1.to_owned(),
                    H1.to_owned(),
                )
            })
            .collect();
        assert_eq!(store.sumdb_append_for_test(&entries).unwrap(), 600);
        let mut mem: Vec<Hash> = Vec::new();
        for (m, v, h1, mh1) in &entries {
            let text = record_text(m, v, h1, mh1);
            let id = store.sumdb_record(m, v).unwrap().unwrap().0;
            let new = tlog::stored_hashes_for_record_hash(
                id,
                tlog::record_hash(text.as_bytes()),
                &mut |idx: &[u64]| Ok(idx.iter().map(|&i| mem[i as usize]).collect()),
            )
            .unwrap();
            mem.extend(new);
        }
        assert_eq!(mem.len() as u64, tlog::stored_hash_count(600));
        let all: Vec<u64> = (0..mem.len() as u64).collect();
        assert_eq!(store.sumdb_hashes(&all).unwrap(), mem);
        for past in [
            mem.len() as u64,
            tlog::stored_hash_index(9, 2),
            tlog::stored_hash_index(62, 5),
            u64::MAX,
        ] {
            assert!(
                matches!(store.sumdb_hashes(&[past]), Err(Error::Corrupt(_))),
                "{past}"
            );
        }
    }

    #[test]
    fn the_logs_hashes_and_records_read_back_as_a_tree() {
        let (_dir, logged_store) = logged();
        assert_eq!(logged_store.sumdb_upstream_records().unwrap(), 5);
        let texts = logged_store.sumdb_records(0, 100).unwrap();
        assert_eq!(texts.len(), 6);
        assert_eq!(logged_store.sumdb_records(4, 1).unwrap(), texts[4..5]);
        assert_eq!(logged_store.sumdb_records(5, 10).unwrap(), texts[5..]);
        assert!(logged_store.sumdb_records(6, 10).unwrap().is_empty());
        // The same records in a log kept in memory give the same stored hashes and tree.
        let mut mem: Vec<Hash> = Vec::new();
        for (n, text) in texts.iter().enumerate() {
            let leaf = tlog::record_hash(text);
            let new = tlog::stored_hashes_for_record_hash(n as u64, leaf, &mut |idx: &[u64]| {
                Ok(idx.iter().map(|&i| mem[i as usize]).collect())
            })
            .unwrap();
            mem.extend(new);
        }
        let all: Vec<u64> = (0..mem.len() as u64).collect();
        assert_eq!(logged_store.sumdb_hashes(&all).unwrap(), mem);
        assert!(matches!(
            logged_store.sumdb_hashes(&[mem.len() as u64]),
            Err(Error::Corrupt(_))
        ));
        for n in 1..=6u64 {
            let want = tlog::tree_hash(n, &mut |idx: &[u64]| {
                Ok(idx.iter().map(|&i| mem[i as usize]).collect())
            })
            .unwrap();
            assert_eq!(
                logged_store.sumdb_tree_hash(n).unwrap(),
                want,
                "tree of {n}"
            );
        }
        assert_ne!(
            logged_store.sumdb_tree_hash(5).unwrap(),
            logged_store.sumdb_tree_hash(6).unwrap()
        );
        // The tests' bulk append answers the new size (and appends a record once).
        let entry = |m: &str| {
            (
                m.to_owned(),
                "v1.0.0".to_owned(),
                H1.to_owned(),
                H1.to_owned(),
            )
        };
        let bulk = [
            entry("example.com/p"),
            entry("example.com/q"),
            entry("example.com/p"),
        ];
        assert_eq!(logged_store.sumdb_append_for_test(&bulk).unwrap(), 8);
    }

    #[test]
    fn an_append_checked_against_a_head_that_moved_writes_nothing() {
        let (_dir, store) = logged();
        let note = |n: u64| {
            let tree = tlog::format_tree(&tlog::Tree {
                n,
                hash: [n as u8; 32],
            });
            format!("{tree}\n— up signature\n").into_bytes()
        };
        let append = |module: &str, head: u64, stored: Option<&[u8]>| {
            store
                .sumdb_append_upstream_if_head(
                    module,
                    "v1.0.0",
                    (H1, H1),
                    "up",
                    Some((head, &note(head))),
                    &[(format!("up/lookup/{module}@v1.0.0"), b"body".to_vec())],
                    stored,
                )
                .unwrap()
        };
        // Verified against no head, none stored: appended, its head stored.
        assert!(matches!(
            append("golang.org/a", 10, None),
            Some(Logged::New(_))
        ));
        let size = store.sumdb_size().unwrap();
        assert!(store
            .upstream_sumdb_kept("up/lookup/golang.org/a@v1.0.0")
            .unwrap()
            .is_some());
        // Another verified against no head too, while the first stored one: refused whole.
        assert_eq!(append("golang.org/b", 12, None), None);
        assert_eq!(append("golang.org/b", 12, Some(&note(9))), None);
        assert_eq!(store.sumdb_size().unwrap(), size, "no record");
        assert_eq!(store.sumdb_record("golang.org/b", "v1.0.0").unwrap(), None);
        assert_eq!(
            store.sumdb_upstream_head("up").unwrap().unwrap().1,
            note(10)
        );
        assert_eq!(
            store
                .upstream_sumdb_kept("up/lookup/golang.org/b@v1.0.0")
                .unwrap(),
            None,
            "nothing kept"
        );
        // Verified again against the head stored now: appended.
        assert!(matches!(
            append("golang.org/b", 12, Some(&note(10))),
            Some(Logged::New(_))
        ));
        assert_eq!(
            store.sumdb_upstream_head("up").unwrap().unwrap().1,
            note(12)
        );
    }

    #[test]
    fn upstream_heads_only_move_forward() {
        let (_dir, store) = logged();
        assert_eq!(store.sumdb_upstream_head("up").unwrap(), None);
        let note = |n: u64| {
            let tree = tlog::format_tree(&tlog::Tree {
                n,
                hash: [n as u8; 32],
            });
            format!("{tree}\n— up signature\n").into_bytes()
        };
        store
            .sumdb_append_upstream(
                "golang.org/y",
                "v1.0.0",
                (H1, H1),
                "up",
                Some((10, &note(10))),
                &[],
            )
            .unwrap();
        let (tree, stored) = store.sumdb_upstream_head("up").unwrap().unwrap();
        assert_eq!((tree.n, tree.hash, stored), (10, [10; 32], note(10)));
        store
            .sumdb_keep_upstream("up", Some((7, &note(7))), &[])
            .unwrap();
        // A note of the same size signed otherwise (another cosigner): the first is kept.
        let mut resigned = note(10);
        resigned.extend_from_slice("— another signature\n".as_bytes());
        store
            .sumdb_keep_upstream("up", Some((10, &resigned)), &[])
            .unwrap();
        assert_eq!(
            store.sumdb_upstream_head("up").unwrap().unwrap(),
            (
                tlog::Tree {
                    n: 10,
                    hash: [10; 32]
                },
                note(10)
            ),
            "never back, nor sideways"
        );
        store
            .sumdb_keep_upstream("up", Some((12, &note(12))), &[])
            .unwrap();
        assert_eq!(store.sumdb_upstream_head("up").unwrap().unwrap().0.n, 12);
        assert_eq!(
            store.sumdb_upstream_head("other").unwrap(),
            None,
            "per database"
        );
        // An append with a record already logged changes neither the log nor the count.
        let before = store.sumdb_upstream_records().unwrap();
        assert!(matches!(
            store
                .sumdb_append_upstream("golang.org/y", "v1.0.0", (H1, H1), "up", None, &[])
                .unwrap(),
            Logged::Same(6)
        ));
        assert_eq!(store.sumdb_upstream_records().unwrap(), before);
    }

    #[test]
    fn export_heads_are_kept_once_each_and_the_last_64() {
        let (_dir, store) = logged();
        assert!(store.sumdb_export_heads("up").unwrap().is_empty());
        let tree = |n: u64| tlog::Tree {
            n,
            hash: [(n % 251) as u8; 32],
        };
        store.sumdb_add_export_head("up", tree(3)).unwrap();
        store.sumdb_add_export_head("up", tree(3)).unwrap();
        store.sumdb_add_export_head("up", tree(5)).unwrap();
        assert_eq!(store.sumdb_export_heads("up").unwrap(), [tree(3), tree(5)]);
        assert!(store.sumdb_export_heads("other").unwrap().is_empty());
        for n in 6..80 {
            store.sumdb_add_export_head("up", tree(n)).unwrap();
        }
        let kept = store.sumdb_export_heads("up").unwrap();
        assert_eq!(kept.len(), 64);
        assert_eq!((kept[0], kept[63]), (tree(16), tree(79)));
    }

    #[test]
    fn appends_are_pending_until_made_durable() {
        let (_dir, store) = logged();
        // `logged` appended five upstream records without fsync.
        assert!(store.log_pending());
        store.log_make_durable().unwrap();
        assert!(!store.log_pending());
        store.log_make_durable().unwrap();
        store
            .sumdb_append_upstream("golang.org/z", "v1.0.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert!(store.log_pending());
        // The same record again is no new append.
        store.log_make_durable().unwrap();
        store
            .sumdb_append_upstream("golang.org/z", "v1.0.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert!(!store.log_pending());
    }

    #[test]
    fn settling_makes_every_write_without_fsync_durable_once() {
        let (_dir, store) = logged();
        assert!(store.log_pending());
        assert!(store.settle().unwrap(), "the appends were pending");
        assert!(!store.log_pending(), "settled appends are durable");
        assert!(!store.settle().unwrap(), "nothing written since");
        // A write without fsync that is not the log's (a cached version).
        let rec = super::super::cached::tests::rec("{}");
        store
            .cache_put_meta("golang.org/c", "v1.0.0", &rec, b"module golang.org/c\n")
            .unwrap();
        assert!(!store.log_pending());
        assert!(store.settle().unwrap());
        assert!(!store.settle().unwrap());
        store
            .sumdb_append_upstream("golang.org/z", "v1.0.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert!(store.settle().unwrap());
        assert!(!store.log_pending());
    }

    #[test]
    fn protected_roots_are_the_paths_hosted_claimed_or_shared_here() {
        let (_dir, store) = shelf(Readers::Anyone);
        store.private_add(["corp.example"]).unwrap();
        put(&store, "acme", "example.com/org/lib", "v1.0.0", "h1:a=").unwrap();
        put(&store, "hidden", "corp.example/x", "v1.0.0", "h1:b=").unwrap();
        store.create_user("alice", None, false, 0).unwrap();
        put(&store, "alice", "github.com/alice/tool", "v1.0.0", "h1:c=").unwrap();
        store.sumdb_claim("acme", "claimed.example").unwrap();
        store.sumdb_share("beta", "shared.example/lib").unwrap();
        store.sumdb_share("beta", "example.com/org/lib").unwrap();
        // A deleted user's public namespace is an organisation that still protects nothing.
        store.create_user("bob", None, false, 0).unwrap();
        put(
            &store,
            "bob",
            "github.com/gin-gonic/gin",
            "v1.99.0",
            "h1:g=",
        )
        .unwrap();
        store.delete_user("bob").unwrap();
        assert_eq!(
            store.protected_roots().unwrap(),
            [
                "claimed.example",
                "corp.example/x",
                "example.com/org/lib",
                "shared.example/lib"
            ],
            "a public personal namespace protects nothing; each root once"
        );
        // A public organisation's path is a root by itself, not only through a share.
        put(&store, "acme", "example.com/solo", "v1.0.0", "h1:d=").unwrap();
        assert!(store
            .protected_roots()
            .unwrap()
            .contains(&"example.com/solo".to_owned()));
        for (path, here) in [
            ("example.com/org/lib", true),
            ("example.com/org/lib/v2", true),
            ("example.com/org", false),
            ("example.com/org/libx", false),
            ("claimed.example/any/thing", true),
            ("corp.example/x/y", true),
            ("corp.example/y", false),
            ("github.com/alice/tool", false),
        ] {
            assert_eq!(store.sumdb_hosted_here(path).unwrap(), here, "{path}");
        }
    }

    #[test]
    fn record_keys_need_two_well_formed_go_sum_lines() {
        let good = record_text("example.com/m", "v1.0.0", "h1:a=", "h1:b=");
        assert_eq!(
            record_key(good.as_bytes()).as_deref(),
            Some("example.com/m@v1.0.0")
        );
        for bad in [
            String::new(),
            "example.com/m v1.0.0 h1:a=\n".to_owned(),
            format!("{good}example.com/m v1.0.0 h1:c=\n"),
            "example.com/m v1.0.0 h1:a= x\nexample.com/m v1.0.0/go.mod h1:b=\n".to_owned(),
            "example.com/m v1.0.0 h1:a=\nexample.com/m v1.0.0/go.mod h1:b= x\n".to_owned(),
            "example.com/m v1.0.0 h1:a=\nexample.com/n v1.0.0/go.mod h1:b=\n".to_owned(),
            "example.com/m v1.0.0 h1:a=\nexample.com/m v1.0.1/go.mod h1:b=\n".to_owned(),
            "example.com/m v1.0.0 h1:a=\nexample.com/m v1.0.0 h1:b=\n".to_owned(),
            "example.com/m v1.0.0 h2:a=\nexample.com/m v1.0.0/go.mod h1:b=\n".to_owned(),
            "example.com/m v1.0.0 h1:a=\nexample.com/m v1.0.0/go.mod h2:b=\n".to_owned(),
        ] {
            assert_eq!(record_key(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(record_zip_h1(&good), "h1:a=");
        assert_eq!(record_zip_h1(""), "");
    }

    /// A log made before the upstream paths table existed gets it filled at the next open,
    /// from the logged paths no namespace holds.
    #[test]
    fn upstream_paths_of_an_older_log_are_indexed_once_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let open = || {
            store
                .sumdb_open(None, "shelf.test/sumdb", [7; 32], Readers::Anyone)
                .unwrap()
        };
        open();
        store
            .sumdb_append_upstream("golang.org/x/text", "v1.0.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert_eq!(
            held_below(&store, "golang.org/x").as_deref(),
            Some("golang.org/x/text")
        );
        // Back to what the previous release wrote: no index, no flag.
        store
            .with_db_once(|db| {
                let txn = store.begin_write(db)?;
                txn.open_table(SUMDB_UPSTREAM_PATHS)?
                    .remove("golang.org/x/text")?;
                txn.open_table(SUMDB_META)?
                    .remove(META_UPSTREAM_PATHS_INDEXED)?;
                Ok(store.commit_txn(txn)?)
            })
            .unwrap();
        assert_eq!(held_below(&store, "golang.org/x"), None);
        open();
        assert_eq!(
            held_below(&store, "golang.org/x").as_deref(),
            Some("golang.org/x/text")
        );
        assert_eq!(
            held_below(&store, "golang.org/x/text").as_deref(),
            Some("golang.org/x/text")
        );
        assert_eq!(held_below(&store, "golang.org/xy"), None);
        assert_eq!(held_below(&store, "golang.org/x/text/v2"), None);
        // Below means below a `/`: a longer sibling is not below.
        store
            .sumdb_append_upstream("example.com/ab", "v1.0.0", (H1, H1), "up", None, &[])
            .unwrap();
        assert_eq!(held_below(&store, "example.com/a"), None);
        assert_eq!(
            held_below(&store, "example.com").as_deref(),
            Some("example.com/ab")
        );
    }
}
