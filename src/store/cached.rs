//! The pull-through cache's versions (`http::pull`): public modules fetched from an
//! upstream, kept apart from hosted versions (tables `CACHED`, `CACHED_MODS`), their zips in
//! the same content-addressed blobs, deduplicated with hosted ones.
//!
//! A version's `.info` and `.mod` are stored when either is first asked for; its zip joins the
//! record on its first request. The first copy is kept forever (proxy-cache.md §2): storing
//! a version that is there already changes nothing.
//!
//! Writes here are not durable on their own and leave `generation` alone: a cached version
//! lost to a crash is fetched again, and no answer the answer cache keeps depends on these
//! tables except immutable version files, which never change once stored. (The log records
//! that verified them are appended durably, by the checksum database's code.)

use std::io::Read;

use redb::ReadableTable;

use super::modules::blob_start;
use super::records::CachedRecord;
use super::{blobs, decode, encode, schema, BlobSite, Error, Result, Store};

impl Store {
    /// Makes every commit so far durable (one empty durable commit): the cache's writes
    /// are not durable on their own, and a graceful stop keeps them.
    ///
    /// # Errors
    /// Storage errors.
    pub fn make_durable(&self) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }

    /// A kept answer of the upstream checksum database: when it was fetched, and its body.
    ///
    /// # Errors
    /// Storage errors, a damaged value.
    pub fn upstream_sumdb_kept(&self, key: &str) -> Result<Option<(i64, Vec<u8>)>> {
        self.read(|txn| {
            let table = txn.open_table(schema::UPSTREAM_SUMDB)?;
            let Some(g) = table.get(key)? else {
                return Ok(None);
            };
            let v = g.value();
            let (at, body) = v
                .split_first_chunk::<8>()
                .ok_or_else(|| Error::Corrupt(format!("kept checksum answer {key}: too short")))?;
            Ok(Some((i64::from_be_bytes(*at), body.to_vec())))
        })
    }

    /// A hash tile of the upstream checksum database `name` from the kept answers: that tile,
    /// or the first `t.w` hashes of a wider copy of its place (the full tile, or a wider
    /// partial one: every copy of one place is a prefix of the next). `None` when none is
    /// kept.
    ///
    /// # Errors
    /// Storage errors, a damaged value.
    pub fn upstream_sumdb_tile(
        &self,
        name: &str,
        t: &crate::sumdb::Tile,
    ) -> Result<Option<Vec<u8>>> {
        let want = t.w as usize * 32;
        let full = crate::sumdb::Tile { w: 1 << t.h, ..*t };
        let exact = format!("{name}/{}", t.path());
        let whole = format!("{name}/{}", full.path());
        let partials = format!("{whole}.p/");
        self.read(|txn| {
            let table = txn.open_table(schema::UPSTREAM_SUMDB)?;
            let body = |v: &[u8]| v.get(8..).map(<[u8]>::to_vec);
            if let Some(g) = table.get(exact.as_str())? {
                return Ok(body(g.value()).filter(|b| b.len() == want));
            }
            if let Some(g) = table.get(whole.as_str())? {
                if let Some(mut b) = body(g.value()).filter(|b| b.len() >= want) {
                    b.truncate(want);
                    return Ok(Some(b));
                }
            }
            for item in table.range(partials.as_str()..)? {
                let (k, v) = item?;
                if !k.value().starts_with(&partials) {
                    break;
                }
                if let Some(mut b) = body(v.value()).filter(|b| b.len() >= want) {
                    b.truncate(want);
                    return Ok(Some(b));
                }
            }
            Ok(None)
        })
    }

    /// Every kept answer whose key starts with `prefix` (`<database name>/tile/`, ...): key
    /// and body.
    ///
    /// # Errors
    /// Storage errors.
    pub fn upstream_sumdb_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|txn| {
            let table = txn.open_table(schema::UPSTREAM_SUMDB)?;
            let mut out = Vec::new();
            for item in table.range(prefix..)? {
                let (k, v) = item?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((
                    k.value().to_owned(),
                    v.value().get(8..).unwrap_or_default().to_vec(),
                ));
            }
            Ok(out)
        })
    }

    /// A cached version's record and a reader of its zip (one read snapshot), when its zip
    /// is cached: for `goshelf export`, which streams it piece by piece.
    ///
    /// # Errors
    /// Storage errors, a damaged record or blob.
    pub fn open_cached_zip(
        &self,
        module: &str,
        version: &str,
    ) -> Result<Option<(CachedRecord, Box<super::BlobReader>)>> {
        self.with_db(|db| {
            let txn = redb::ReadableDatabase::begin_read(db)?;
            let Some((rec, blake3)) = with_zip(&txn, module, version)? else {
                return Ok(None);
            };
            let id = super::parse_blake3(&blake3)?;
            let reader = super::BlobReader::open(&txn, &id)?.ok_or_else(|| {
                Error::Corrupt(format!("cached {module}@{version}: blob {blake3} missing"))
            })?;
            Ok(Some((rec, Box::new(reader))))
        })
    }

    /// Whether anything is kept of the upstream checksum database `name`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn upstream_sumdb_holds(&self, name: &str) -> Result<bool> {
        let prefix = format!("{name}/");
        self.read(|txn| {
            let table = txn.open_table(schema::UPSTREAM_SUMDB)?;
            let first = table.range(prefix.as_str()..)?.next().transpose()?;
            Ok(first.is_some_and(|(k, _)| k.value().starts_with(&prefix)))
        })
    }

    /// The cached version `module@version`.
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cached(&self, module: &str, version: &str) -> Result<Option<CachedRecord>> {
        self.read(|txn| {
            let table = txn.open_table(schema::CACHED)?;
            match table.get((module, version))? {
                Some(g) => Ok(Some(decode("cached version", g.value())?)),
                None => Ok(None),
            }
        })
    }

    /// The cached `.mod` of `module@version`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn cached_mod(&self, module: &str, version: &str) -> Result<Option<Vec<u8>>> {
        self.read(|txn| {
            let table = txn.open_table(schema::CACHED_MODS)?;
            Ok(table.get((module, version))?.map(|g| g.value().to_vec()))
        })
    }

    /// The cached versions of `module`, in key order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn cached_versions(&self, module: &str) -> Result<Vec<String>> {
        self.read(|txn| {
            let table = txn.open_table(schema::CACHED)?;
            let mut out = Vec::new();
            for item in table.range((module, "")..)? {
                let (k, _) = item?;
                let (m, v) = k.value();
                if m != module {
                    break;
                }
                out.push(v.to_owned());
            }
            Ok(out)
        })
    }

    /// Every cached version, with its record, in key order (module, version).
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cached_all(&self) -> Result<Vec<(String, String, CachedRecord)>> {
        self.read(|txn| {
            let table = txn.open_table(schema::CACHED)?;
            let mut out = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let (m, ver) = k.value();
                out.push((
                    m.to_owned(),
                    ver.to_owned(),
                    decode("cached version", v.value())?,
                ));
            }
            Ok(out)
        })
    }

    /// The module paths with a version fetched with credentials (`CachedRecord::private`),
    /// sorted, once each.
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cached_private_modules(&self) -> Result<Vec<String>> {
        self.read(|txn| {
            let table = txn.open_table(schema::CACHED)?;
            let mut out: Vec<String> = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let module = k.value().0;
                if out.last().is_some_and(|m| m == module) {
                    continue;
                }
                let rec: CachedRecord = decode("cached version", v.value())?;
                if rec.private {
                    out.push(module.to_owned());
                }
            }
            Ok(out)
        })
    }

    /// The bytes of every cached zip (counted per version, before deduplication).
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cached_zip_bytes(&self) -> Result<u64> {
        Ok(self
            .cached_all()?
            .iter()
            .filter_map(|(_, _, r)| r.size)
            .sum())
    }

    /// Drops the zips of the cached versions `victims` (their `.info`, `.mod` and hashes stay,
    /// so a zip fetched again must hash as before), durably, so that redb may reuse their
    /// pages. Returns the bytes dropped.
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cache_evict_zips(&self, victims: &[(String, String)]) -> Result<u64> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            let mut freed = 0;
            {
                let mut table = txn.open_table(schema::CACHED)?;
                for (module, version) in victims {
                    let key = (module.as_str(), version.as_str());
                    let mut rec: CachedRecord = match table.get(key)? {
                        Some(g) => decode("cached version", g.value())?,
                        None => continue,
                    };
                    let Some(blake3) = rec.blake3.take() else {
                        continue;
                    };
                    blobs::release(&txn, &super::parse_blake3(&blake3)?)?;
                    freed += rec.size.take().unwrap_or(0);
                    table.insert(key, encode(&rec)?.as_slice())?;
                }
            }
            // Cached zip answers may be kept by the answer cache: a new generation drops them.
            self.commit_txn(txn)?;
            Ok(freed)
        })
    }

    /// Removes the cached versions of `module` (`version`, or all of them): records, `.mod`
    /// and zips, durably. Their checksum records stay. Returns how many went.
    ///
    /// # Errors
    /// Storage errors, a damaged record.
    pub fn cache_remove(&self, module: &str, version: Option<&str>) -> Result<u64> {
        let versions: Vec<String> = match version {
            Some(v) => vec![v.to_owned()],
            None => self.cached_versions(module)?,
        };
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            let mut removed = 0;
            {
                let mut table = txn.open_table(schema::CACHED)?;
                let mut mods = txn.open_table(schema::CACHED_MODS)?;
                for v in &versions {
                    let Some(g) = table.remove((module, v.as_str()))? else {
                        continue;
                    };
                    let rec: CachedRecord = decode("cached version", g.value())?;
                    drop(g);
                    mods.remove((module, v.as_str()))?;
                    if let Some(blake3) = rec.blake3 {
                        blobs::release(&txn, &super::parse_blake3(&blake3)?)?;
                    }
                    removed += 1;
                }
            }
            self.commit_txn(txn)?;
            Ok(removed)
        })
    }

    /// Stores a fetched version's `.info` and `.mod` unless it is stored already (the first
    /// copy stays). Returns the record that is stored now.
    ///
    /// # Errors
    /// Storage errors.
    pub fn cache_put_meta(
        &self,
        module: &str,
        version: &str,
        rec: &CachedRecord,
        go_mod: &[u8],
    ) -> Result<CachedRecord> {
        self.with_db(|db| {
            let txn = self.begin_write_lazy(db)?;
            let kept = {
                let mut table = txn.open_table(schema::CACHED)?;
                let existing: Option<CachedRecord> = match table.get((module, version))? {
                    Some(g) => Some(decode("cached version", g.value())?),
                    None => None,
                };
                match existing {
                    Some(e) => e,
                    None => {
                        table.insert((module, version), encode(rec)?.as_slice())?;
                        txn.open_table(schema::CACHED_MODS)?
                            .insert((module, version), go_mod)?;
                        rec.clone()
                    }
                }
            };
            self.commit_txn_unseen(txn)?;
            Ok(kept)
        })
    }

    /// Adds the fetched zip (BLAKE3 `id`, `size` bytes read from `zip`, go.sum hash `h1`) to
    /// the cached version `module@version`, whose `.info` and `.mod` are stored. A version
    /// whose zip is stored already keeps it.
    ///
    /// # Errors
    /// `Corrupt` when the version is not cached or `zip` does not yield the announced bytes;
    /// storage errors.
    pub fn cache_put_zip(
        &self,
        module: &str,
        version: &str,
        (id, size, h1): ([u8; 32], u64, &str),
        zip: &mut dyn Read,
    ) -> Result<CachedRecord> {
        self.with_db_once(|db| {
            let txn = self.begin_write_lazy(db)?;
            let rec = {
                let mut table = txn.open_table(schema::CACHED)?;
                let mut rec: CachedRecord = match table.get((module, version))? {
                    Some(g) => decode("cached version", g.value())?,
                    None => {
                        return Err(Error::Corrupt(format!(
                            "{module}@{version}: a zip for a version not cached"
                        )))
                    }
                };
                if rec.blake3.is_some() {
                    return Ok(rec);
                }
                blobs::add_ref(&txn, &id, size, zip)?;
                rec.blake3 = Some(hex::encode(id));
                rec.size = Some(size);
                rec.h1 = Some(h1.to_owned());
                table.insert((module, version), encode(&rec)?.as_slice())?;
                rec
            };
            self.commit_txn_unseen(txn)?;
            Ok(rec)
        })
    }

    /// A cached version's record and, from the same snapshot, a copy of its zip's bytes
    /// `[start, start + want)` (as `zip_start` for hosted versions). `None` when the version
    /// or its zip is not cached.
    ///
    /// # Errors
    /// Storage errors, a damaged record or blob.
    pub fn cached_zip_start(
        &self,
        module: &str,
        version: &str,
        start: u64,
        want: usize,
    ) -> Result<Option<(CachedRecord, bytes::Bytes, BlobSite)>> {
        self.read(|txn| {
            let Some((rec, blake3)) = with_zip(txn, module, version)? else {
                return Ok(None);
            };
            let (bytes, site) = blob_start(
                txn,
                &blake3,
                start,
                want,
                &format!("cached {module}@{version}"),
            )?;
            Ok(Some((rec, bytes, site)))
        })
    }
}

/// The cached version `module@version` and its zip's BLAKE3 (hex), when its zip is cached.
fn with_zip(
    txn: &redb::ReadTransaction,
    module: &str,
    version: &str,
) -> Result<Option<(CachedRecord, String)>> {
    let table = txn.open_table(schema::CACHED)?;
    let Some(g) = table.get((module, version))? else {
        return Ok(None);
    };
    let rec: CachedRecord = decode("cached version", g.value())?;
    Ok(rec.blake3.clone().map(|b| (rec, b)))
}

/// Writes authenticated answers of the upstream checksum database `name` (`key`: `<name>/
/// <path>`, `body`), fetched at `now`, into `txn` (`Store::sumdb_append_upstream`).
///
/// A tile kept with the same bytes is not written again: nothing reads a tile's fetch time,
/// and every verification of a record sends the tiles of its proof, mostly the same full
/// tiles (8 KiB each) for every record of one upstream tree. A lookup is always written:
/// its fetch time says how long the proxy may serve it without asking again.
pub(super) fn keep_upstream_answers(
    txn: &redb::WriteTransaction,
    name: &str,
    items: &[(String, Vec<u8>)],
    now: i64,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(schema::UPSTREAM_SUMDB)?;
    for (key, body) in items {
        if is_tile_key(name, key)
            && table
                .get(key.as_str())?
                .is_some_and(|g| g.value().get(8..) == Some(body.as_slice()))
        {
            continue;
        }
        let mut value = Vec::with_capacity(8 + body.len());
        value.extend_from_slice(&now.to_be_bytes());
        value.extend_from_slice(body);
        table.insert(key.as_str(), value.as_slice())?;
    }
    Ok(())
}

/// Whether a kept answer's key (`<name>/<path>`) names a tile of the database `name`: its
/// path starts with `tile/` (a module path may hold `/tile/`, and a name slashes).
fn is_tile_key(name: &str, key: &str) -> bool {
    key.strip_prefix(name)
        .and_then(|path| path.strip_prefix("/tile/"))
        .is_some()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A cached version's record with `info`, nothing else of note.
    pub(crate) fn rec(info: &str) -> CachedRecord {
        CachedRecord {
            info: info.to_owned(),
            time: 0,
            mod_h1: "h1:m".into(),
            h1: None,
            blake3: None,
            size: None,
            fetched_at: 1,
            origin: "http://up".into(),
            private: false,
            last_used: None,
        }
    }

    #[test]
    fn the_modules_fetched_with_credentials_are_listed_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        assert!(store.cached_private_modules().unwrap().is_empty());
        let secret = CachedRecord {
            private: true,
            ..rec("s")
        };
        for (module, version, rec) in [
            ("corp.example/a", "v1.0.0", &secret),
            ("corp.example/a", "v1.1.0", &secret),
            ("corp.example/a/v2", "v2.0.0", &rec("p")),
            ("corp.example/b", "v0.1.0", &rec("p")),
            ("corp.example/b", "v0.2.0", &secret),
            ("golang.org/x/text", "v0.3.0", &rec("p")),
        ] {
            store.cache_put_meta(module, version, rec, b"m").unwrap();
        }
        assert_eq!(
            store.cached_private_modules().unwrap(),
            ["corp.example/a", "corp.example/b"]
        );
    }

    #[test]
    fn the_first_copy_stays_and_a_zip_joins_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let gen = store.generation();
        let mut meta = rec("{\"Version\":\"v1.0.0\"}");
        meta.mod_h1 = crate::gomod::hash::hash_go_mod(b"module example.com/a\n");
        let first = store
            .cache_put_meta("example.com/a", "v1.0.0", &meta, b"module example.com/a\n")
            .unwrap();
        let second = store
            .cache_put_meta("example.com/a", "v1.0.0", &rec("other"), b"other")
            .unwrap();
        assert_eq!(first, second);
        assert_eq!(
            store
                .cached_mod("example.com/a", "v1.0.0")
                .unwrap()
                .unwrap(),
            b"module example.com/a\n"
        );
        store
            .cache_put_meta("example.com/a", "v1.1.0", &rec("x"), b"m")
            .unwrap();
        store
            .cache_put_meta("example.com/ab", "v1.0.0", &rec("x"), b"m")
            .unwrap();
        assert_eq!(
            store.cached_versions("example.com/a").unwrap(),
            ["v1.0.0", "v1.1.0"]
        );
        assert!(store
            .cached_zip_start("example.com/a", "v1.0.0", 0, 10)
            .unwrap()
            .is_none());
        let zip = crate::ingest::zip_bytes("example.com/a", "v1.0.0");
        let size = zip.len() as u64;
        let summary = crate::gomod::zip::validate(
            std::io::Cursor::new(&zip),
            size,
            "example.com/a",
            "v1.0.0",
        )
        .unwrap();
        let id = *blake3::hash(&zip).as_bytes();
        let put = |m: &str, h1: &str| {
            store.cache_put_zip(m, "v1.0.0", (id, size, h1), &mut zip.as_slice())
        };
        let stored = put("example.com/a", &summary.h1).unwrap();
        assert_eq!(stored.h1.as_deref(), Some(summary.h1.as_str()));
        let (r, bytes, _) = store
            .cached_zip_start("example.com/a", "v1.0.0", 4, 100)
            .unwrap()
            .unwrap();
        assert_eq!(&bytes[..], &zip[4..zip.len().min(104)]);
        assert_eq!(r.size, Some(size));
        assert!(
            put("example.com/zz", "h1:z").is_err(),
            "a zip needs its version"
        );
        assert_eq!(store.generation(), gen, "cache writes leave the generation");
        // `verify` counts the cached version's use of its blob and checks its hash.
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        store
            .cache_put_meta("example.com/b", "v1.0.0", &rec("x"), b"m")
            .unwrap();
        put("example.com/b", "h1:wrong").unwrap();
        let report = store.verify().unwrap();
        assert!(
            !report.problems.is_empty(),
            "a wrong recorded hash is found"
        );
    }

    #[test]
    fn a_tile_kept_with_the_same_bytes_is_not_written_again_a_lookup_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let keep = |items: &[(&str, &[u8])], now: i64| {
            let items: Vec<(String, Vec<u8>)> = items
                .iter()
                .map(|(k, b)| ((*k).to_owned(), b.to_vec()))
                .collect();
            store
                .with_db_once(|db| {
                    let txn = store.begin_write(db)?;
                    keep_upstream_answers(&txn, "up.example/db", &items, now)?;
                    Ok(store.commit_txn_unseen(txn)?)
                })
                .unwrap();
        };
        let at = |key: &str| store.upstream_sumdb_kept(key).unwrap();
        let tile = "up.example/db/tile/8/0/001";
        let partial = "up.example/db/tile/8/1/000.p/3";
        // A lookup of a module whose path holds `/tile/` is a lookup.
        let lookup = "up.example/db/lookup/example.com/tile/x@v1.0.0";
        keep(&[(tile, b"t1"), (partial, b"p1"), (lookup, b"l1")], 10);
        keep(&[(tile, b"t1"), (partial, b"p2"), (lookup, b"l1")], 20);
        assert_eq!(
            at(tile),
            Some((10, b"t1".to_vec())),
            "same bytes: kept as it was"
        );
        assert_eq!(
            at(partial),
            Some((20, b"p2".to_vec())),
            "other bytes: written"
        );
        assert_eq!(
            at(lookup),
            Some((20, b"l1".to_vec())),
            "a lookup's time moves on"
        );
        // Another database's tile of the same path is its own.
        assert!(!is_tile_key("up.example/db", "up.example/db2/tile/8/0/001"));
        assert!(!is_tile_key(
            "up.example/db",
            "up.example/db/lookup/a/tile/b@v1"
        ));
        assert!(is_tile_key("up.example/db", tile));
    }

    /// A narrower copy of a tile's place is cut from a kept full tile (or a wider partial).
    #[test]
    fn a_partial_tile_is_cut_from_the_kept_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let full = crate::sumdb::Tile {
            h: 2,
            l: 0,
            n: 1,
            w: 4,
        };
        let bytes: Vec<u8> = (0..128u8).collect();
        store
            .with_db_once(|db| {
                let txn = store.begin_write(db)?;
                let key = format!("up.example/db/{}", full.path());
                keep_upstream_answers(&txn, "up.example/db", &[(key, bytes.clone())], 1)?;
                Ok(store.commit_txn_unseen(txn)?)
            })
            .unwrap();
        let partial = crate::sumdb::Tile { w: 3, ..full };
        let got = store
            .upstream_sumdb_tile("up.example/db", &partial)
            .unwrap();
        assert_eq!(got.as_deref(), Some(&bytes[..96]));
        assert_eq!(
            store
                .upstream_sumdb_tile("up.example/db", &full)
                .unwrap()
                .as_deref(),
            Some(&bytes[..])
        );
        let elsewhere = crate::sumdb::Tile { n: 2, w: 3, ..full };
        assert!(store
            .upstream_sumdb_tile("up.example/db", &elsewhere)
            .unwrap()
            .is_none());
    }
}
