//! Read-only listings for the web UI (namespaces, modules, every version) and the download
//! counters it shows.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use super::records::NamespaceRecord;
use super::{decode, schema, Result, Store, VersionRecord};

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
                let rec: VersionRecord = decode("version", v.value())?;
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
            let mut txn = self.begin_write(db)?;
            txn.set_durability(redb::Durability::None)
                .map_err(|e| super::Error::Corrupt(format!("setting durability: {e}")))?;
            let mut stored = false;
            for (kind, id, bytes) in entries {
                stored = txn.open_table(schema::BLOBS)?.get(*id)?.is_some();
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
            let mut txn = self.begin_write(db)?;
            txn.set_durability(redb::Durability::None)
                .map_err(|e| super::Error::Corrupt(format!("setting durability: {e}")))?;
            txn.open_table(kind.table())?.remove(id)?;
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }
}
