//! HTTPS material: the self-signed mode's local CA and server certificate (building them,
//! deciding when to reissue), PEM loading for `--tls-cert`/`--tls-key`, and the rustls server
//! configuration. Certificate logic is pure (bytes and times in, values out); only
//! [`load_pem_files`] reads files. Storage lives in `store::tls`, serving in `http::tls`.
//!
//! The CA lives about ten years, so that clients trust it once; the server certificate 825
//! days (the longest validity Apple platforms accept for a TLS server certificate) and is
//! reissued from the same CA when the host names change or it nears its end.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Validity of the local CA: about ten years.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of a server certificate issued by the local CA.
pub const SERVER_VALIDITY_DAYS: i64 = 825;
/// A server certificate closer than this to its end is reissued at startup.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Certificates start this long before "now", so a client whose clock is a little behind
/// still accepts them.
const BACKDATE: Duration = Duration::hours(24);

/// What went wrong building or loading TLS material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A host name in `--tls-self-signed` is not a DNS name or an IP address.
    #[error("{0:?} is not a host name (letters, digits, '-', '.') or an IP address")]
    BadName(String),
    /// `--tls-self-signed` names nothing.
    #[error("no host name given (e.g. nas.lan,192.168.1.10,localhost,127.0.0.1)")]
    NoNames,
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    /// Certificate generation failed (rcgen).
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The certificate and key do not fit together, or rustls refused them.
    #[error("the certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
    /// Stored material is damaged.
    #[error("stored TLS material is damaged: {0}")]
    Corrupt(String),
}

/// The self-signed mode's material, as stored in the database (PEM text).
#[derive(Clone, PartialEq, Eq)]
pub struct SelfSigned {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// The normalized names (see [`parse_names`]) the server certificate was issued for.
    pub server_names: Vec<String>,
    /// End of the server certificate's validity, Unix seconds.
    pub server_not_after: i64,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("server_names", &self.server_names)
            .field("server_not_after", &self.server_not_after)
            .finish_non_exhaustive()
    }
}

/// What startup does with the stored self-signed material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing stored: create a CA and a server certificate.
    CreateAll,
    /// Keep everything.
    Reuse,
    /// Keep the CA, issue a new server certificate (the reason is for the log).
    ReissueServer(String),
}

/// Parses a comma-separated list of host names and IP addresses into a normalized list:
/// DNS names lower-cased, IPs in canonical form, sorted, without duplicates. A leading `*.`
/// (one wildcard label) is allowed.
///
/// # Errors
/// `BadName` for an entry that is neither, `NoNames` for an empty list.
pub fn parse_names(text: &str) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for raw in text.split(',') {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let bare = raw
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(raw);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            names.push(ip.to_string());
        } else if is_dns_name(raw) {
            names.push(raw.trim_end_matches('.').to_ascii_lowercase());
        } else {
            return Err(Error::BadName(raw.to_owned()));
        }
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Error::NoNames);
    }
    Ok(names)
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let body = name.strip_prefix("*.").unwrap_or(name);
    if body.is_empty() || name.len() > 253 {
        return false;
    }
    body.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn at(unix: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|e| Error::Corrupt(format!("time: {e}")))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // a positive INTEGER
    bytes[0] |= 0x01; // and exactly 16 bytes long
    SerialNumber::from_slice(&bytes)
}

fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // A random suffix: two goshelf installations must not issue under the same name.
    let tag: [u8; 4] = rand::random();
    dn.push(DnType::OrganizationName, "goshelf");
    dn.push(
        DnType::CommonName,
        format!("goshelf local CA {}", hex::encode(tag)),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    params.serial_number = Some(random_serial());
    params
}

/// Creates a new CA and a server certificate for `names` signed by it.
///
/// # Errors
/// Key generation or signing failures.
pub fn create(names: &[String], now_unix: i64) -> Result<SelfSigned, Error> {
    let now = at(now_unix)?;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params(now).self_signed(&ca_key)?;
    reissue_server(&ca_cert.pem(), &ca_key.serialize_pem(), names, now_unix)
}

/// Issues a new server certificate for `names` from the CA in `ca_cert_pem`/`ca_key_pem`,
/// returning the whole material (the CA unchanged).
///
/// # Errors
/// A damaged CA, or signing failures.
pub fn reissue_server(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    names: &[String],
    now_unix: i64,
) -> Result<SelfSigned, Error> {
    let now = at(now_unix)?;
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    let not_after = now + Duration::days(SERVER_VALIDITY_DAYS);
    params.not_after = not_after;
    params.serial_number = Some(random_serial());
    let server_key = KeyPair::generate()?;
    let cert = params.signed_by(&server_key, &issuer)?;
    Ok(SelfSigned {
        ca_cert_pem: ca_cert_pem.to_owned(),
        ca_key_pem: ca_key_pem.to_owned(),
        server_cert_pem: cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        server_names: names.to_vec(),
        server_not_after: not_after.unix_timestamp(),
    })
}

/// Decides what to do with the stored material for the wanted `names` at `now_unix`.
#[must_use]
pub fn plan(stored: Option<&SelfSigned>, names: &[String], now_unix: i64) -> Plan {
    let Some(stored) = stored else {
        return Plan::CreateAll;
    };
    if stored.server_names != names {
        return Plan::ReissueServer(format!(
            "host names changed from {} to {}",
            stored.server_names.join(","),
            names.join(",")
        ));
    }
    let renew_at = stored
        .server_not_after
        .saturating_sub(RENEW_BEFORE_DAYS * 24 * 3600);
    if now_unix >= renew_at {
        return Plan::ReissueServer("the server certificate is about to expire".into());
    }
    Plan::Reuse
}

/// Applies [`plan`]: returns the material to serve and whether it differs from `stored` (and
/// must be saved).
///
/// # Errors
/// As for [`create`] and [`reissue_server`].
pub fn ensure(
    stored: Option<SelfSigned>,
    names: &[String],
    now_unix: i64,
) -> Result<(SelfSigned, Plan), Error> {
    let plan = plan(stored.as_ref(), names, now_unix);
    let material = match (&plan, stored) {
        (Plan::Reuse, Some(s)) => s,
        (Plan::ReissueServer(_), Some(s)) => {
            reissue_server(&s.ca_cert_pem, &s.ca_key_pem, names, now_unix)?
        }
        _ => create(names, now_unix)?,
    };
    Ok((material, plan))
}

/// The SHA-256 fingerprint of the first certificate in `pem`, as colon-separated upper-case
/// hex (the form browsers and `openssl x509 -fingerprint -sha256` show).
///
/// # Errors
/// When `pem` holds no certificate.
pub fn fingerprint(pem: &[u8]) -> Result<String, Error> {
    let der = CertificateDer::from_pem_slice(pem)
        .map_err(|e| Error::Corrupt(format!("certificate PEM: {e}")))?;
    let digest = Sha256::digest(der.as_ref());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// A certificate chain and its private key, ready for rustls.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// From PEM text: the chain (leaf first) and a PKCS#8, PKCS#1 (RSA) or SEC1 key. `what`
    /// names the source in errors.
    ///
    /// # Errors
    /// No certificate or no key in the text.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], what: &str) -> Result<Self, Error> {
        Ok(Self {
            chain: parse_chain(cert_pem, what)?,
            key: parse_key(key_pem, what)?,
        })
    }

    /// The self-signed mode's server identity: the server certificate, then the CA.
    ///
    /// # Errors
    /// Damaged stored material.
    pub fn from_self_signed(m: &SelfSigned) -> Result<Self, Error> {
        let mut chain_pem = m.server_cert_pem.clone();
        chain_pem.push_str(&m.ca_cert_pem);
        Self::from_pem(
            chain_pem.as_bytes(),
            m.server_key_pem.as_bytes(),
            "stored self-signed certificate",
        )
    }
}

fn parse_chain(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            path: what.to_owned(),
            reason: format!("bad certificate PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(Error::Pem {
            path: what.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(chain)
}

fn parse_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Pem {
        path: what.to_owned(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key (a PKCS#8, RSA or EC PEM block) found".into()
            }
            other => format!("bad private key PEM: {other}"),
        },
    })
}

/// Reads `--tls-cert` (chain, leaf first) and `--tls-key` files.
///
/// # Errors
/// Unreadable files, or files without a certificate or key.
pub fn load_pem_files(cert: &Path, key: &Path) -> Result<Identity, Error> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::Pem {
            path: p.display().to_string(),
            reason: e.to_string(),
        })
    };
    Ok(Identity {
        chain: parse_chain(&read(cert)?, &cert.display().to_string())?,
        key: parse_key(&read(key)?, &key.display().to_string())?,
    })
}

/// The rustls server configuration: ring provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN (the
/// server speaks HTTP/1 only).
///
/// # Errors
/// A key that does not match the certificate, or an unsupported key type.
pub fn server_config(id: Identity) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(id.chain, id.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000; // 2026-09-21

    fn names(s: &str) -> Vec<String> {
        parse_names(s).unwrap()
    }

    #[test]
    fn parse_names_normalizes_sorts_and_dedups() {
        assert_eq!(
            names(" NAS.lan, 192.168.1.10,localhost,127.0.0.1,nas.lan., [::1] ,,"),
            vec!["127.0.0.1", "192.168.1.10", "::1", "localhost", "nas.lan"]
        );
        assert_eq!(names("*.corp.example"), vec!["*.corp.example"]);
    }

    #[test]
    fn parse_names_rejects_garbage_and_empty_lists() {
        for bad in [
            "nas lan",
            "-x.lan",
            "a..b",
            "http://nas",
            "nas/x",
            "*",
            "x.*.y",
        ] {
            assert!(
                matches!(parse_names(bad), Err(Error::BadName(_))),
                "{bad} was accepted"
            );
        }
        assert!(matches!(parse_names(" , "), Err(Error::NoNames)));
        assert!(matches!(
            parse_names(&"a".repeat(64)),
            Err(Error::BadName(_))
        ));
    }

    #[test]
    fn plan_creates_reuses_and_reissues() {
        let n = names("localhost,127.0.0.1");
        assert_eq!(plan(None, &n, NOW), Plan::CreateAll);
        let m = create(&n, NOW).unwrap();
        assert_eq!(plan(Some(&m), &n, NOW), Plan::Reuse);
        assert!(matches!(
            plan(Some(&m), &names("localhost"), NOW),
            Plan::ReissueServer(r) if r.contains("host names changed")
        ));
        let late = m.server_not_after - RENEW_BEFORE_DAYS * 24 * 3600;
        assert_eq!(plan(Some(&m), &n, late - 1), Plan::Reuse);
        assert!(matches!(
            plan(Some(&m), &n, late),
            Plan::ReissueServer(r) if r.contains("expire")
        ));
    }

    #[test]
    fn ensure_reissue_keeps_the_ca_and_changes_the_server_certificate() {
        let first = create(&names("localhost"), NOW).unwrap();
        let (again, plan) = ensure(Some(first.clone()), &names("localhost"), NOW).unwrap();
        assert_eq!(plan, Plan::Reuse);
        assert_eq!(again, first);
        let (second, plan) =
            ensure(Some(first.clone()), &names("localhost,nas.lan"), NOW + 60).unwrap();
        assert!(matches!(plan, Plan::ReissueServer(_)));
        assert_eq!(second.ca_cert_pem, first.ca_cert_pem);
        assert_eq!(second.ca_key_pem, first.ca_key_pem);
        assert_ne!(second.server_cert_pem, first.server_cert_pem);
        assert_eq!(second.server_names, vec!["localhost", "nas.lan"]);
    }

    /// The chain must verify with webpki against the CA as the only root, for every name,
    /// and fail for a name not in the list: what curl and go do.
    #[test]
    fn issued_certificate_verifies_against_the_ca_for_its_names_only() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{ServerName, UnixTime};
        let m = create(&names("nas.lan,127.0.0.1"), NOW).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(m.ca_cert_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let id = Identity::from_self_signed(&m).unwrap();
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(NOW).unwrap() + 3600,
        ));
        for name in ["nas.lan", "127.0.0.1"] {
            verifier
                .verify_server_cert(
                    &id.chain[0],
                    &id.chain[1..],
                    &ServerName::try_from(name).unwrap(),
                    &[],
                    at,
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(verifier
            .verify_server_cert(
                &id.chain[0],
                &id.chain[1..],
                &ServerName::try_from("other.lan").unwrap(),
                &[],
                at,
            )
            .is_err());
        // After a reissue, the same root still verifies the new certificate.
        let m2 = reissue_server(&m.ca_cert_pem, &m.ca_key_pem, &names("x.lan"), NOW).unwrap();
        let id2 = Identity::from_self_signed(&m2).unwrap();
        verifier
            .verify_server_cert(
                &id2.chain[0],
                &id2.chain[1..],
                &ServerName::try_from("x.lan").unwrap(),
                &[],
                at,
            )
            .unwrap();
        server_config(id2).unwrap();
    }

    #[test]
    fn ca_validity_is_about_ten_years_and_server_825_days() {
        let m = create(&names("localhost"), NOW).unwrap();
        assert_eq!(m.server_not_after, NOW + SERVER_VALIDITY_DAYS * 86400);
        // Two CAs differ (random names and keys).
        let other = create(&names("localhost"), NOW).unwrap();
        assert_ne!(m.ca_cert_pem, other.ca_cert_pem);
        assert_ne!(
            fingerprint(m.ca_cert_pem.as_bytes()).unwrap(),
            fingerprint(other.ca_cert_pem.as_bytes()).unwrap()
        );
        assert_eq!(
            fingerprint(m.ca_cert_pem.as_bytes()).unwrap().len(),
            32 * 3 - 1
        );
    }

    #[test]
    fn identity_from_pem_rejects_missing_blocks() {
        let m = create(&names("localhost"), NOW).unwrap();
        assert!(Identity::from_pem(b"", m.server_key_pem.as_bytes(), "x").is_err());
        assert!(Identity::from_pem(m.server_cert_pem.as_bytes(), b"junk", "x").is_err());
        // A key that does not belong to the certificate is refused by rustls.
        let other = create(&names("localhost"), NOW).unwrap();
        let id = Identity::from_pem(
            m.server_cert_pem.as_bytes(),
            other.server_key_pem.as_bytes(),
            "x",
        )
        .unwrap();
        assert!(server_config(id).is_err());
    }
}
