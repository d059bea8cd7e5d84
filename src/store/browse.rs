//! Read-only listings for the web UI (namespaces, modules, every version) and the download
//! counters it shows.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use super::records::NamespaceRecord;
use super::{decode, schema, version_record, Result, Store, VersionRecord};

/// One published version, as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionBrief {
    pub owner: String,
    pub module: String,
    pub version: String,
    pub time: i64,
    pub size: u64,
}

impl Store {
    /// Every namespace with its record, by name.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_namespaces(&self) -> Result<Vec<(String, NamespaceRecord)>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(schema::NAMESPACES)?;
            let mut out = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                out.push((k.value().to_owned(), decode("namespace", v.value())?));
            }
            Ok(out)
        })
    }

    /// A namespace's record, if it exists.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn get_namespace(&self, owner: &str) -> Result<Option<NamespaceRecord>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(schema::NAMESPACES)?;
            match table.get(owner)? {
                Some(v) => Ok(Some(decode("namespace", v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// Every published version of every module of `owner` (all namespaces when `None`), in
    /// key order, from one snapshot.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_all_versions(&self, owner: Option<&str>) -> Result<Vec<VersionBrief>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(schema::VERSIONS)?;
            let mut out = Vec::new();
            let iter = match owner {
                Some(o) => table.range((o, "", "")..)?,
                None => table.range::<(&str, &str, &str)>(..)?,
            };
            for item in iter {
                let (k, v) = item?;
                let (o, m, ver) = k.value();
                if owner.is_some_and(|want| want != o) {
                    break;
                }
                let rec: VersionRecord = version_record(v.value())?;
                out.push(VersionBrief {
                    owner: o.to_owned(),
                    module: m.to_owned(),
                    version: ver.to_owned(),
                    time: rec.time,
                    size: rec.size,
                });
            }
            Ok(out)
        })
    }

    /// Download counts of a module's versions, as last flushed.
    ///
    /// # Errors
    /// Storage errors.
    pub fn download_counts(&self, owner: &str, module: &str) -> Result<HashMap<String, u64>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let mut out = HashMap::new();
            let table = txn.open_table(schema::DOWNLOADS)?;
            super::modules::for_module(&table, owner, module, |ver, n| {
                out.insert(ver.to_owned(), n.value());
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Adds download counts in one write transaction. The latest download of a cached
    /// version (owner `proxy::LAN`) also becomes its last use, which orders eviction: every
    /// whole download is counted, the answer cache's included.
    ///
    /// # Errors
    /// Storage errors; nothing is added then.
    pub fn add_downloads(
        &self,
        counts: &[((String, String, String), crate::web::downloads::Pending)],
    ) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut table = txn.open_table(schema::DOWNLOADS)?;
                let mut cached = txn.open_table(schema::CACHED)?;
                for ((o, m, v), p) in counts {
                    let key = (o.as_str(), m.as_str(), v.as_str());
                    let old = table.get(key)?.map_or(0, |g| g.value());
                    table.insert(key, old.saturating_add(p.count))?;
                    if o == crate::gomod::proxy::LAN {
                        let rec = match cached.get((m.as_str(), v.as_str()))? {
                            Some(g) => Some(super::decode::<super::CachedRecord>(
                                "cached version",
                                g.value(),
                            )?),
                            None => None,
                        };
                        if let Some(mut rec) = rec {
                            rec.last_used = Some(rec.last_used.unwrap_or(p.last).max(p.last));
                            cached.insert(
                                (m.as_str(), v.as_str()),
                                super::encode(&rec)?.as_slice(),
                            )?;
                        }
                    }
                }
            }
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }
}

/// What the web UI derives from a zip and keeps beside it: derivable, so written without
/// durability, left out of backups, removed with the blob's last reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// README and file list (`schema::ZIP_FACTS`).
    Facts,
    /// Package documentation (`schema::DOC_FACTS`).
    Docs,
}

impl Derived {
    fn table(self) -> redb::TableDefinition<'static, &'static [u8; 32], &'static [u8]> {
        match self {
            Derived::Facts => schema::ZIP_FACTS,
            Derived::Docs => schema::DOC_FACTS,
        }
    }
}

impl Store {
    /// The stored UI facts of the zip with BLAKE3 `id` (`schema::ZIP_FACTS`), as stored.
    ///
    /// # Errors
    /// Storage errors.
    pub fn get_zip_facts(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        self.get_derived(Derived::Facts, id)
    }

    /// Stores the UI facts of the zip with BLAKE3 `id` (see `put_derived`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn put_zip_facts(&self, id: &[u8; 32], bytes: &[u8]) -> Result<bool> {
        self.put_derived(&[(Derived::Facts, id, bytes)])
    }

    /// Removes the stored UI facts of one zip (benchmarks and tests of recomputation).
    ///
    /// # Errors
    /// Storage errors.
    pub fn forget_zip_facts(&self, id: &[u8; 32]) -> Result<()> {
        self.forget_derived(Derived::Facts, id)
    }

    /// What is stored of `kind` for the zip with BLAKE3 `id`, as stored.
    ///
    /// # Errors
    /// Storage errors.
    pub fn get_derived(&self, kind: Derived, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(kind.table())?;
            Ok(table.get(id)?.map(|v| v.value().to_vec()))
        })
    }

    /// Stores what the UI derived from zips, `(kind, BLAKE3 of the zip, bytes)`, in one
    /// commit, for the zips still stored (a zip deleted meanwhile gets no orphan entry); whether
    /// the last one was stored. Not durable on its own: it can be computed again, so this costs
    /// no `fsync`; the next durable commit makes it durable.
    ///
    /// # Errors
    /// Storage errors.
    pub fn put_derived(&self, entries: &[(Derived, &[u8; 32], &[u8])]) -> Result<bool> {
        self.with_db(|db| {
            let txn = self.begin_write_lazy(db)?;
            let mut stored = false;
            for (kind, id, bytes) in entries {
                stored = txn
                    .open_table(schema::BLOB_STORE)?
                    .get(super::blobs::blob_key(id).as_slice())?
                    .is_some();
                if stored {
                    txn.open_table(kind.table())?.insert(*id, *bytes)?;
                }
            }
            self.commit_txn_unseen(txn)?;
            Ok(stored)
        })
    }

    /// Removes what is stored of `kind` for one zip.
    ///
    /// # Errors
    /// Storage errors.
    pub fn forget_derived(&self, kind: Derived, id: &[u8; 32]) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write_lazy(db)?;
            txn.open_table(kind.table())?.remove(id)?;
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::Visibility;
    use crate::store::CachedRecord;
    use crate::web::downloads::Pending;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.redb")).unwrap();
        (dir, store)
    }

    /// Writes a version record of `owner module@version` directly (listings read only it).
    fn version(store: &Store, owner: &str, module: &str, v: &str, time: i64) {
        let rec = VersionRecord {
            blake3: "00".repeat(32),
            size: time as u64 * 10,
            h1: "h1:x".into(),
            mod_h1: "h1:y".into(),
            time,
            uploader: "t".into(),
        };
        super::super::write_raw(store, |txn| {
            txn.open_table(schema::VERSIONS)?.insert(
                (owner, module, v),
                super::super::version_value(&rec, Some(b""))?.as_slice(),
            )?;
            Ok(())
        });
    }

    /// Download counts as the web UI flushes them: `(owner, module, version, count, last)`.
    fn batch(entries: &[(&str, &str, &str, u64, i64)]) -> Vec<((String, String, String), Pending)> {
        entries
            .iter()
            .map(|&(o, m, v, count, last)| {
                ((o.into(), m.into(), v.into()), Pending { count, last })
            })
            .collect()
    }

    #[test]
    fn versions_are_listed_for_one_namespace_or_all() {
        let (_dir, store) = store();
        // Namespaces whose names are prefixes of each other, or sort around "acme".
        version(&store, "acm", "example.com/a", "v1.0.0", 1);
        version(&store, "acme", "example.com/b", "v1.0.0", 2);
        version(&store, "acme", "example.com/b", "v1.1.0", 3);
        version(&store, "acme", "example.com/c", "v0.1.0", 4);
        version(&store, "acmez", "example.com/d", "v1.0.0", 5);
        let names = |list: Vec<VersionBrief>| -> Vec<String> {
            list.iter()
                .map(|b| {
                    format!(
                        "{} {}@{} {} {}",
                        b.owner, b.module, b.version, b.time, b.size
                    )
                })
                .collect()
        };
        assert_eq!(
            names(store.list_all_versions(Some("acme")).unwrap()),
            [
                "acme example.com/b@v1.0.0 2 20",
                "acme example.com/b@v1.1.0 3 30",
                "acme example.com/c@v0.1.0 4 40"
            ]
        );
        assert_eq!(store.list_all_versions(None).unwrap().len(), 5);
        assert_eq!(
            names(store.list_all_versions(Some("acmez")).unwrap()),
            ["acmez example.com/d@v1.0.0 5 50"]
        );
        assert!(store.list_all_versions(Some("ac")).unwrap().is_empty());
        assert!(store.list_all_versions(Some("zzz")).unwrap().is_empty());
    }

    #[test]
    fn namespaces_are_read_back() {
        let (_dir, store) = store();
        assert!(store.get_namespace("acme").unwrap().is_none());
        store.create_org("acme", Visibility::Private, 7).unwrap();
        store.create_org("beta", Visibility::Public, 8).unwrap();
        let acme = store.get_namespace("acme").unwrap().unwrap();
        assert_eq!(
            (acme.created_at, acme.visibility()),
            (7, Visibility::Private)
        );
        let all = store.list_namespaces().unwrap();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["acme", "beta"]);
        assert_eq!(all[1].1.visibility(), Visibility::Public);
    }

    #[test]
    fn downloads_add_up_per_version_and_mark_cached_versions_used() {
        let (_dir, store) = store();
        let cached = CachedRecord::fetched("v1.0.0", "h1:y");
        store
            .cache_put_meta(
                "example.com/pub",
                "v1.0.0",
                &cached,
                b"module example.com/pub\n",
            )
            .unwrap();
        let lan = crate::gomod::proxy::LAN;
        store.add_downloads(&[]).unwrap();
        store
            .add_downloads(&batch(&[
                ("acme", "example.com/m", "v1.0.0", 2, 100),
                ("acme", "example.com/m", "v1.1.0", 1, 100),
                ("acme", "example.com/other", "v1.0.0", 9, 100),
                (lan, "example.com/pub", "v1.0.0", 1, 500),
                // A cached version that is not stored gets no record.
                (lan, "example.com/gone", "v1.0.0", 1, 500),
            ]))
            .unwrap();
        store
            .add_downloads(&batch(&[
                ("acme", "example.com/m", "v1.0.0", 3, 200),
                (lan, "example.com/pub", "v1.0.0", 1, 400),
            ]))
            .unwrap();
        let counts = store.download_counts("acme", "example.com/m").unwrap();
        assert_eq!(counts.len(), 2);
        assert_eq!((counts["v1.0.0"], counts["v1.1.0"]), (5, 1));
        assert_eq!(
            store.download_counts(lan, "example.com/pub").unwrap()["v1.0.0"],
            2
        );
        assert!(store
            .download_counts("acme", "example.com")
            .unwrap()
            .is_empty());
        // The latest use is kept, whatever order the batches came in.
        let txn = store.begin_read().unwrap();
        let table = txn.open_table(schema::CACHED).unwrap();
        let rec: CachedRecord = decode(
            "cached",
            table
                .get(("example.com/pub", "v1.0.0"))
                .unwrap()
                .unwrap()
                .value(),
        )
        .unwrap();
        assert_eq!(rec.last_used, Some(500));
        assert!(table.get(("example.com/gone", "v1.0.0")).unwrap().is_none());
        drop((table, txn));
        // Counts saturate instead of wrapping.
        store
            .add_downloads(&batch(&[(
                "acme",
                "example.com/m",
                "v1.1.0",
                u64::MAX,
                300,
            )]))
            .unwrap();
        assert_eq!(
            store.download_counts("acme", "example.com/m").unwrap()["v1.1.0"],
            u64::MAX
        );
    }

    #[test]
    fn derived_data_is_kept_only_for_stored_zips() {
        let (_dir, store) = store();
        let zip = b"not a zip, stored as one";
        super::super::put_test_version(&store, zip);
        let id = *blake3::hash(zip).as_bytes();
        let gone = [5u8; 32];
        assert!(store.get_zip_facts(&id).unwrap().is_none());
        assert!(store.put_zip_facts(&id, b"facts").unwrap());
        assert!(
            !store.put_zip_facts(&gone, b"orphan").unwrap(),
            "no such zip"
        );
        assert!(store.get_zip_facts(&gone).unwrap().is_none());
        // One commit for several entries: the answer says whether the last was stored.
        assert!(!store
            .put_derived(&[(Derived::Docs, &id, b"docs"), (Derived::Docs, &gone, b"x")])
            .unwrap());
        assert!(store
            .put_derived(&[
                (Derived::Facts, &gone, b"x"),
                (Derived::Docs, &id, b"docs2")
            ])
            .unwrap());
        assert_eq!(store.get_zip_facts(&id).unwrap().unwrap(), b"facts");
        assert_eq!(
            store.get_derived(Derived::Docs, &id).unwrap().unwrap(),
            b"docs2"
        );
        assert!(store.get_derived(Derived::Docs, &gone).unwrap().is_none());
        store.forget_zip_facts(&id).unwrap();
        assert!(store.get_zip_facts(&id).unwrap().is_none());
        assert!(
            store.get_derived(Derived::Docs, &id).unwrap().is_some(),
            "kept"
        );
        store.forget_derived(Derived::Docs, &id).unwrap();
        assert!(store.get_derived(Derived::Docs, &id).unwrap().is_none());
    }
}
