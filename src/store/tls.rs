//! The self-signed mode's TLS material: the local CA and the server certificate with their
//! private keys, as PEM text in the `TLS` table. Written whole in one transaction, so a crash
//! never leaves a server certificate that its stored CA did not sign.

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::{decode, encode, schema, Error, Result, Store};
use crate::tls::SelfSigned;

const CA_CERT: &str = "ca_cert";
const CA_KEY: &str = "ca_key";
const SERVER_CERT: &str = "server_cert";
const SERVER_KEY: &str = "server_key";
const SERVER: &str = "server";

/// What the server certificate was issued for (key `"server"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct TlsServerRecord {
    names: Vec<String>,
    not_after: i64,
}

fn text(key: &str, bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Corrupt(format!("TLS entry {key:?} is not UTF-8 PEM")))
}

impl Store {
    /// The stored self-signed material, or `None` when no CA was ever created.
    ///
    /// # Errors
    /// Storage errors, or a partial or damaged set of entries.
    pub fn self_signed_tls(&self) -> Result<Option<SelfSigned>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(schema::TLS)?;
            let get = |key: &str| -> Result<Option<Vec<u8>>> {
                Ok(table.get(key)?.map(|v| v.value().to_vec()))
            };
            let Some(ca_cert) = get(CA_CERT)? else {
                return Ok(None);
            };
            let need = |key: &str| {
                get(key)?.ok_or_else(|| Error::Corrupt(format!("TLS entry {key:?} is missing")))
            };
            let ca_key = need(CA_KEY)?;
            let server_cert = need(SERVER_CERT)?;
            let server_key = need(SERVER_KEY)?;
            let server: TlsServerRecord = decode("TLS server", &need(SERVER)?)?;
            Ok(Some(SelfSigned {
                ca_cert_pem: text(CA_CERT, &ca_cert)?,
                ca_key_pem: text(CA_KEY, &ca_key)?,
                server_cert_pem: text(SERVER_CERT, &server_cert)?,
                server_key_pem: text(SERVER_KEY, &server_key)?,
                server_names: server.names,
                server_not_after: server.not_after,
            }))
        })
    }

    /// Stores `m` (CA and server certificate), replacing what was there, in one transaction.
    ///
    /// # Errors
    /// Storage errors.
    pub fn put_self_signed_tls(&self, m: &SelfSigned) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut table = txn.open_table(schema::TLS)?;
                table.insert(CA_CERT, m.ca_cert_pem.as_bytes())?;
                table.insert(CA_KEY, m.ca_key_pem.as_bytes())?;
                table.insert(SERVER_CERT, m.server_cert_pem.as_bytes())?;
                table.insert(SERVER_KEY, m.server_key_pem.as_bytes())?;
                let record = TlsServerRecord {
                    names: m.server_names.clone(),
                    not_after: m.server_not_after,
                };
                table.insert(SERVER, encode(&record)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// The local CA's certificate (PEM), or `None` when none was created (`GET /ca.pem`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn tls_ca_pem(&self) -> Result<Option<Vec<u8>>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(schema::TLS)?;
            let pem = table.get(CA_CERT)?.map(|v| v.value().to_vec());
            Ok(pem)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_material_round_trips_and_is_absent_at_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        assert!(store.self_signed_tls().unwrap().is_none());
        assert!(store.tls_ca_pem().unwrap().is_none());
        let m = SelfSigned {
            ca_cert_pem: "CA CERT".into(),
            ca_key_pem: "CA KEY".into(),
            server_cert_pem: "SERVER CERT".into(),
            server_key_pem: "SERVER KEY".into(),
            server_names: vec!["localhost".into(), "nas.lan".into()],
            server_not_after: 1_900_000_000,
        };
        store.put_self_signed_tls(&m).unwrap();
        assert_eq!(store.self_signed_tls().unwrap(), Some(m.clone()));
        assert_eq!(store.tls_ca_pem().unwrap().unwrap(), b"CA CERT");
        drop(store);
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        assert_eq!(store.self_signed_tls().unwrap(), Some(m));
    }
}
