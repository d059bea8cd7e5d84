//! Signed notes and Ed25519 keys (x/mod `sumdb/note`, spec §5).
//!
//! A signed note is text ending in `\n`, a blank line, then one or more signature lines
//! `— <name> <base64(key hash, 4 bytes big-endian || 64-byte Ed25519 signature)>\n`
//! (`—` is U+2014). The signature covers the text including its final `\n`.
//!
//! Keys: verifier `<name>+<hash8>+<base64(0x01 || public key)>`, signer
//! `PRIVATE+KEY+<name>+<hash8>+<base64(0x01 || seed)>`, where hash8 is the lowercase hex
//! [`key_hash`]. Only algorithm 1 (Ed25519) exists.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use ed25519_dalek::{
    Signature as EdSignature, Signer as _, SigningKey, Verifier as _, VerifyingKey,
};
use sha2::{Digest, Sha256};

use super::{Error, B64};

/// Algorithm byte of Ed25519 keys.
const ALG_ED25519: u8 = 1;

/// Prefix of every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Prefix of a signer key string.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Most signature lines [`open`] will parse (x/mod).
const MAX_SIGNATURES: usize = 100;

/// Key hash: the first 4 bytes, big-endian, of `SHA-256(name || "\n" || alg || key)`
/// (x/mod `keyHash`).
pub fn key_hash(name: &str, alg_and_pub: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(alg_and_pub);
    let sum = h.finalize();
    u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

/// Checks a key name (x/mod `isValidName`): non-empty, no Unicode white space, no `+`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(Error::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Checks a database name as cmd/go does for GOSUMDB (`modfetch/key.go`,
/// "invalid sumdb name (must be host\[/path\])"): a valid key name such that
/// `https://<name>` parses to only scheme, host and path, with no trailing `/`.
///
/// Concretely: no userinfo (`@` in the host), query (`?`) or fragment (`#`); a non-empty
/// host whose ASCII bytes are those Go's URL parser allows in hosts, with an optional
/// numeric `:port` (or a bracketed IPv6 literal); a path whose bytes Go would not
/// percent-encode (so the URL has no distinct raw path). Go accepts a name ending in a
/// bare `#`, and C1 control characters (U+0080 to U+009F) in the host; this check refuses
/// every `#` and every control character (names are printed in logs and pages).
pub fn check_go_sumdb_name(name: &str) -> Result<(), Error> {
    let bad = || Error::InvalidSumdbName(name.to_string());
    check_name(name).map_err(|_| bad())?;
    if name.ends_with('/') || name.contains(['?', '#']) || name.chars().any(char::is_control) {
        return Err(bad());
    }
    let (host, path) = match name.find('/') {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    if !valid_url_host(host) || !path.bytes().all(path_byte_unescaped) {
        return Err(bad());
    }
    Ok(())
}

/// Whether Go's `url.Parse` accepts `host` as the whole authority (no userinfo).
fn valid_url_host(host: &str) -> bool {
    if host.is_empty() || !host.bytes().all(host_byte_allowed) {
        return false;
    }
    let port = if let Some(rest) = host.strip_prefix('[') {
        match rest.rfind(']') {
            Some(i) => &rest[i + 1..],
            None => return false,
        }
    } else {
        match host.rfind(':') {
            Some(i) => &host[i..],
            None => "",
        }
    };
    port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Host bytes Go's URL parser accepts unescaped (`shouldEscape` in host mode), plus any
/// non-ASCII byte. `%` and `@` (userinfo) are refused.
fn host_byte_allowed(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

/// Path bytes Go leaves as they are when re-escaping a path (`shouldEscape` in path mode).
fn path_byte_unescaped(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b)
}

/// Parses a key's `<hash8>+<base64>` tail into (hash, decoded key bytes).
fn parse_hash_and_key(hash16: &str, key64: &str) -> Option<(u32, Vec<u8>)> {
    if hash16.len() != 8 || !hash16.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hash = u32::from_str_radix(hash16, 16).ok()?;
    let key = B64.decode(key64).ok()?;
    (!key.is_empty()).then_some((hash, key))
}

/// Splits a key `<name>+<hash8>+<base64>` into (name, hash, decoded key bytes), checking
/// the name; a key that does not parse is the error `malformed`.
fn parse_key_fields<'k>(key: &'k str, malformed: &Error) -> Result<(&'k str, u32, Vec<u8>), Error> {
    let (name, rest) = key.split_once('+').unwrap_or((key, ""));
    let (hash16, key64) = rest.split_once('+').unwrap_or((rest, ""));
    let (hash, key) = parse_hash_and_key(hash16, key64).ok_or_else(|| malformed.clone())?;
    check_name(name).map_err(|_| malformed.clone())?;
    Ok((name, hash, key))
}

/// The Ed25519 key in decoded key bytes `alg || key`: [`Error::UnknownAlgorithm`] unless
/// `alg` is Ed25519, the error `malformed` unless the key is 32 bytes.
fn ed25519_key_bytes(key: &[u8], malformed: &Error) -> Result<[u8; 32], Error> {
    let (&alg, bytes) = key.split_first().ok_or_else(|| malformed.clone())?;
    if alg != ALG_ED25519 {
        return Err(Error::UnknownAlgorithm);
    }
    bytes.try_into().map_err(|_| malformed.clone())
}

/// A key's name and key hash, as a [`Verifier`] and a [`Signer`] both carry them.
#[derive(Clone, PartialEq, Eq)]
struct KeyId {
    name: String,
    hash: u32,
}

impl KeyId {
    /// Checks `name` and computes the key hash of `name` and an Ed25519 public key.
    fn new(name: &str, public: &[u8; 32]) -> Result<KeyId, Error> {
        check_name(name)?;
        Ok(KeyId {
            name: name.to_string(),
            hash: key_hash(name, &alg_and_key(public)),
        })
    }

    /// The key string `name+hash8+base64(0x01 || key)`, what [`parse_key_fields`] reads.
    fn key_string(&self, key: &[u8; 32]) -> String {
        let key = B64.encode(alg_and_key(key));
        format!("{}+{:08x}+{key}", self.name, self.hash)
    }
}

/// An Ed25519 note verifier: name, key hash and public key (x/mod `note.NewVerifier`).
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Verifier").field(&self.vkey()).finish()
    }
}

impl Verifier {
    /// Parses a verifier key `name+hash8+base64(0x01 || pub32)`, checking that the hash
    /// matches the name and key (x/mod `note.NewVerifier`).
    pub fn parse(vkey: &str) -> Result<Verifier, Error> {
        let malformed = Error::MalformedVerifierKey;
        let (name, hash, key) = parse_key_fields(vkey, &malformed)?;
        if hash != key_hash(name, &key) {
            return Err(Error::KeyHashMismatch);
        }
        let public = ed25519_key_bytes(&key, &malformed)?;
        Self::from_public_key(name, &public)
    }

    /// A verifier for an Ed25519 public key (x/mod `note.NewEd25519VerifierKey`).
    pub fn from_public_key(name: &str, public: &[u8; 32]) -> Result<Verifier, Error> {
        let id = KeyId::new(name, public)?;
        let key = VerifyingKey::from_bytes(public).map_err(|_| Error::MalformedVerifierKey)?;
        Ok(Verifier { id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// The key hash.
    pub fn key_hash(&self) -> u32 {
        self.id.hash
    }

    /// The verifier key string `name+hash8+base64(0x01 || pub32)`.
    pub fn vkey(&self) -> String {
        self.id.key_string(self.key.as_bytes())
    }

    /// Whether `sig` is a valid Ed25519 signature of `msg` by this key.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = EdSignature::from_slice(sig) else {
            return false;
        };
        // Cofactorless check with canonical S, as Go's crypto/ed25519.Verify.
        self.key.verify(msg, &sig).is_ok()
    }
}

/// `0x01 || key`.
fn alg_and_key(key: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(33);
    v.push(ALG_ED25519);
    v.extend_from_slice(key);
    v
}

/// An Ed25519 note signer (x/mod `note.NewSigner`). Its `Debug` form hides the seed.
#[derive(Clone)]
pub struct Signer {
    id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.id.name)
            .field("hash", &format_args!("{:08x}", self.id.hash))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses `PRIVATE+KEY+name+hash8+base64(0x01 || seed32)`, checking that the hash
    /// matches the name and the derived public key (x/mod `note.NewSigner`).
    pub fn parse(skey: &str) -> Result<Signer, Error> {
        let malformed = Error::MalformedSignerKey;
        let rest = skey
            .strip_prefix(SIGNER_KEY_PREFIX)
            .ok_or(Error::MalformedSignerKey)?;
        let (name, hash, key) = parse_key_fields(rest, &malformed)?;
        let seed = ed25519_key_bytes(&key, &malformed)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.id.hash != hash {
            return Err(Error::KeyHashMismatch);
        }
        Ok(signer)
    }

    /// A signer for the Ed25519 key with this 32-byte seed (RFC 8032 private key).
    /// Key generation is the caller's: pass 32 bytes from a secure random source.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Signer, Error> {
        let key = SigningKey::from_bytes(&seed);
        let id = KeyId::new(name, key.verifying_key().as_bytes())?;
        Ok(Signer { id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// The key hash.
    pub fn key_hash(&self) -> u32 {
        self.id.hash
    }

    /// The secret signer key string `PRIVATE+KEY+name+hash8+base64(0x01 || seed32)`.
    pub fn skey(&self) -> String {
        format!(
            "{SIGNER_KEY_PREFIX}{}",
            self.id.key_string(self.key.as_bytes())
        )
    }

    /// The public verifier key string for this signer.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// The verifier for this signer's public key.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            id: self.id.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The 64-byte Ed25519 signature of `msg` (deterministic, RFC 8032).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    /// Key name.
    pub name: String,
    /// Key hash.
    pub hash: u32,
    /// base64 of key hash (4 bytes) and signature, as written in the note.
    pub base64: String,
}

/// A parsed note (x/mod `note.Note`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Note {
    /// The signed text, ending in `\n`.
    pub text: String,
    /// Signatures verified by a known key.
    pub sigs: Vec<Signature>,
    /// Signatures by unknown keys, kept but not verified.
    pub unverified: Vec<Signature>,
}

/// Signs `text` (which must end in `\n`) with each signer: returns
/// `text + "\n" + one signature line per signer` (x/mod `note.Sign`).
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, Error> {
    let note = Note {
        text: text.to_string(),
        ..Note::default()
    };
    sign_note(&note, signers)
}

/// Signs a note, keeping its existing signatures (verified, then unverified) except those
/// by the new signers' keys, which are replaced; new signature lines come last
/// (x/mod `note.Sign`).
pub fn sign_note(note: &Note, signers: &[&Signer]) -> Result<String, Error> {
    if !note.text.ends_with('\n') {
        return Err(Error::MalformedNote);
    }
    let mut new_lines = String::new();
    let mut replaced = HashSet::new();
    for s in signers {
        check_name(s.name()).map_err(|_| Error::InvalidSigner)?;
        replaced.insert((s.name(), s.key_hash()));
        let mut raw = s.key_hash().to_be_bytes().to_vec();
        raw.extend_from_slice(&s.sign_bytes(note.text.as_bytes()));
        new_lines.push_str(&signature_line(s.name(), &B64.encode(raw)));
    }
    let mut out = format!("{}\n", note.text);
    for sig in note.sigs.iter().chain(&note.unverified) {
        check_name(&sig.name).map_err(|_| Error::MalformedNote)?;
        if replaced.contains(&(sig.name.as_str(), sig.hash)) {
            continue;
        }
        let raw = B64.decode(&sig.base64).map_err(|_| Error::MalformedNote)?;
        if raw.len() < 4 || raw[..4] != sig.hash.to_be_bytes() {
            return Err(Error::MalformedNote);
        }
        out.push_str(&signature_line(&sig.name, &sig.base64));
    }
    out.push_str(&new_lines);
    Ok(out)
}

fn signature_line(name: &str, b64: &str) -> String {
    format!("{SIG_PREFIX}{name} {b64}\n")
}

/// Opens a signed note, verifying signatures by the known `verifiers` (x/mod `note.Open`).
///
/// Rules: the whole message is UTF-8 with no control characters but `\n`; it splits at
/// the last `\n\n` into text and a non-empty signature block ending in `\n`; every line of
/// that block is `— name base64` with a valid name and at least 5 decoded bytes; more than
/// 100 lines is malformed; signatures by unknown (name, hash) pairs are kept as
/// unverified (identical lines once); a known key's repeated signature counts once; a
/// known key with a bad signature is an error; at least one verified signature is needed.
pub fn open(msg: &[u8], verifiers: &[&Verifier]) -> Result<Note, Error> {
    let msg = std::str::from_utf8(msg).map_err(|_| Error::MalformedNote)?;
    if msg.chars().any(|c| c < ' ' && c != '\n') {
        return Err(Error::MalformedNote);
    }
    let split = msg.rfind("\n\n").ok_or(Error::MalformedNote)?;
    let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(Error::MalformedNote);
    }
    let mut note = Note {
        text: text.to_string(),
        ..Note::default()
    };
    let mut seen = HashSet::new();
    let mut seen_unverified = HashSet::new();
    for (count, line) in sigs.split_terminator('\n').enumerate() {
        let (sig, raw) = parse_signature_line(line)?;
        if count >= MAX_SIGNATURES {
            return Err(Error::MalformedNote);
        }
        let Some(v) = find_verifier(verifiers, &sig.name, sig.hash)? else {
            if seen_unverified.insert(line) {
                note.unverified.push(sig);
            }
            continue;
        };
        if !seen.insert((sig.name.clone(), sig.hash)) {
            continue;
        }
        if !v.verify(text.as_bytes(), &raw[4..]) {
            return Err(Error::InvalidSignature {
                name: sig.name,
                hash: sig.hash,
            });
        }
        note.sigs.push(sig);
    }
    if note.sigs.is_empty() {
        return Err(Error::UnverifiedNote(Box::new(note)));
    }
    Ok(note)
}

/// Parses `— name base64` into the signature and its decoded bytes (hash || sig).
fn parse_signature_line(line: &str) -> Result<(Signature, Vec<u8>), Error> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(Error::MalformedNote)?;
    let (name, b64) = rest.split_once(' ').unwrap_or((rest, ""));
    let raw = B64.decode(b64).map_err(|_| Error::MalformedNote)?;
    if check_name(name).is_err() || raw.len() < 5 {
        return Err(Error::MalformedNote);
    }
    let hash = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let sig = Signature {
        name: name.to_string(),
        hash,
        base64: b64.to_string(),
    };
    Ok((sig, raw))
}

/// The single verifier with this name and hash; `None` if unknown; an error if several.
fn find_verifier<'v>(
    verifiers: &[&'v Verifier],
    name: &str,
    hash: u32,
) -> Result<Option<&'v Verifier>, Error> {
    let mut found = verifiers
        .iter()
        .filter(|v| v.id.name == name && v.id.hash == hash);
    let first = found.next().copied();
    if found.next().is_some() {
        return Err(Error::AmbiguousKey {
            name: name.to_string(),
            hash,
        });
    }
    Ok(first)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    pub(crate) const PETER_VKEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    pub(crate) const TEST_SKEY: &str =
        "PRIVATE+KEY+localhost.localdev/sumdb+00000c67+AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk";
    pub(crate) const TEST_VKEY: &str =
        "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6";

    fn sig(name: &str, hash: u32, b64: &str) -> Signature {
        Signature {
            name: name.into(),
            hash,
            base64: b64.into(),
        }
    }

    fn last_field(line: &str) -> &str {
        line.trim_end().rsplit(' ').next().unwrap()
    }

    fn peter() -> Signature {
        sig("PeterNeumann", 0xc74f20a3, last_field(PETER_SIG))
    }

    fn enoch() -> Signature {
        sig("EnochRoot", 0xaf0cfe78, last_field(ENOCH_SIG))
    }

    // V4 (x/mod note_test.go).
    #[test]
    fn v4_sign_is_byte_exact() {
        let signer = Signer::parse(PETER_SKEY).unwrap();
        assert_eq!(signer.skey(), PETER_SKEY);
        assert_eq!(signer.vkey(), PETER_VKEY);
        let msg = sign(TEXT, &[&signer]).unwrap();
        assert_eq!(msg, format!("{TEXT}\n{PETER_SIG}"));
        // An existing signature by the same key is replaced.
        let old = Note {
            text: TEXT.into(),
            sigs: vec![sig("PeterNeumann", 0xc74f20a3, "BADSIGN=")],
            unverified: vec![],
        };
        assert_eq!(sign_note(&old, &[&signer]).unwrap(), msg);
        // Others are kept, before the new ones.
        let with_enoch = Note {
            unverified: vec![enoch()],
            ..old.clone()
        };
        let msg2 = sign_note(&with_enoch, &[&signer]).unwrap();
        assert_eq!(msg2, format!("{TEXT}\n{ENOCH_SIG}{PETER_SIG}"));
        assert_eq!(sign("abc", &[&signer]), Err(Error::MalformedNote));
        let bad_name = Note {
            sigs: vec![sig("a+b", 0, "ABCD")],
            ..old.clone()
        };
        assert_eq!(sign_note(&bad_name, &[]), Err(Error::MalformedNote));
        let bad_hash = Note {
            sigs: vec![sig("PeterNeumann", 0xc74f20a3, "BADHASH=")],
            ..old
        };
        assert_eq!(sign_note(&bad_hash, &[]), Err(Error::MalformedNote));
        // A kept signature needs its 4-byte hash and nothing more (x/mod's `len(sig) < 4`).
        let four = Note {
            text: TEXT.into(),
            sigs: vec![],
            unverified: vec![sig("Other", 0, "AAAAAA==")],
        };
        assert_eq!(
            sign_note(&four, &[]).unwrap(),
            format!("{TEXT}\n\u{2014} Other AAAAAA==\n")
        );
        let three = Note {
            unverified: vec![sig("Other", 0, "AAAA")],
            ..four
        };
        assert_eq!(sign_note(&three, &[]), Err(Error::MalformedNote));
    }

    /// Asserts that `parse` refuses every proper substring of `key` and every copy of it with
    /// one byte incremented.
    fn assert_refuses_mangled<T>(key: &str, parse: impl Fn(&str) -> Result<T, Error>) {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let s = String::from_utf8_lossy(&b[i..j]);
                    assert!(parse(&s).is_err(), "{s}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            assert!(parse(&String::from_utf8_lossy(&m)).is_err());
        }
    }

    #[test]
    fn v4_verifier_keys() {
        let v = Verifier::parse(PETER_VKEY).unwrap();
        assert_eq!((v.name(), v.key_hash()), ("PeterNeumann", 0xc74f20a3));
        assert_eq!(format!("{v:?}"), format!("Verifier({PETER_VKEY:?})"));
        assert_eq!(v.vkey(), PETER_VKEY);
        assert_eq!(
            Verifier::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(Error::MalformedVerifierKey)
        );
        assert_eq!(
            Verifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
            Err(Error::UnknownAlgorithm)
        );
        // x/mod TestNewVerifier.
        assert_refuses_mangled(PETER_VKEY, Verifier::parse);
        assert!(Verifier::parse(
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_ok());
        assert!(Verifier::parse(
            "PeterNeumann++74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
        // The hash is exactly 8 hex digits: leading zeros that leave its value alone still
        // make a key Go refuses.
        for hash in ["0c74f20a3", "00c74f20a3"] {
            assert_eq!(
                Verifier::parse(&format!(
                    "PeterNeumann+{hash}+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                )),
                Err(Error::MalformedVerifierKey),
                "{hash}"
            );
        }
    }

    #[test]
    fn v4_signer_keys_refuse_mangling() {
        assert_refuses_mangled(PETER_SKEY, Signer::parse);
    }

    #[test]
    fn v4_open() {
        let pv = Verifier::parse(PETER_VKEY).unwrap();
        let ev = Verifier::parse(ENOCH_VKEY).unwrap();
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

        let n = open(both.as_bytes(), &[&pv]).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!((n.sigs, n.unverified), (vec![peter()], vec![enoch()]));

        let n = open(both.as_bytes(), &[&pv, &ev]).unwrap();
        assert_eq!((n.sigs, n.unverified), (vec![peter(), enoch()], vec![]));

        match open(both.as_bytes(), &[]) {
            Err(Error::UnverifiedNote(n)) => {
                assert!(n.sigs.is_empty());
                assert_eq!(n.unverified, vec![peter(), enoch()]);
            }
            other => panic!("want unverified note, got {other:?}"),
        }
        assert_eq!(
            open(format!("{TEXT}\n{ENOCH_SIG}").as_bytes(), &[&ev, &pv, &ev]),
            Err(Error::AmbiguousKey {
                name: "EnochRoot".into(),
                hash: 0xaf0cfe78
            })
        );
        assert!(open(format!("{TEXT}\n{PETER_SIG}").as_bytes(), &[&ev, &pv, &ev]).is_ok());
    }

    #[test]
    fn v4_open_refusals() {
        let pv = Verifier::parse(PETER_VKEY).unwrap();
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(open(many.as_bytes(), &[&pv]), Err(Error::MalformedNote));
        assert_eq!(open(many.as_bytes(), &[]), Err(Error::MalformedNote));
        let hundred = format!("{TEXT}\n{}", PETER_SIG.repeat(100));
        assert!(open(hundred.as_bytes(), &[&pv]).is_ok());

        let bad_sig = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(
            open(bad_sig.as_bytes(), &[&pv]),
            Err(Error::InvalidSignature {
                name: "PeterNeumann".into(),
                hash: 0xc74f20a3
            })
        );
        // Duplicates: verified counted once, identical unverified lines once.
        let enoch_abcd = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let dup = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
        let n = open(dup.as_bytes(), &[&pv]).unwrap();
        assert_eq!(n.sigs, vec![peter()]);
        assert_eq!(n.unverified.len(), 2);
        assert_eq!(n.unverified[0], enoch());

        for bad in [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann \n"),
            format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
            // An invalid name, however good the signature bytes.
            format!("{TEXT}\n{PETER_SIG}\u{2014} a+b AAAAAAAA\n"),
            // Four bytes: a hash and no signature.
            format!("{TEXT}\n{PETER_SIG}\u{2014} Other AAAAAA==\n"),
        ] {
            assert_eq!(open(bad.as_bytes(), &[&pv]), Err(Error::MalformedNote), "{bad}");
        }
        // Five bytes (a hash and one byte) is the least a signature line holds.
        let five = format!("{TEXT}\n{PETER_SIG}\u{2014} Other AAAAAAA=\n");
        let n = open(five.as_bytes(), &[&pv]).unwrap();
        assert_eq!(n.unverified, vec![sig("Other", 0, "AAAAAAA=")]);
        let mut invalid_utf8 = b"\xff".to_vec();
        invalid_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
        assert_eq!(open(&invalid_utf8, &[&pv]), Err(Error::MalformedNote));
    }

    // V5 keys.
    #[test]
    fn v5_test_key_pair() {
        let s = Signer::parse(TEST_SKEY).unwrap();
        assert_eq!(s.vkey(), TEST_VKEY);
        assert_eq!(s.key_hash(), 0x00000c67);
        assert_eq!(Verifier::parse(TEST_VKEY).unwrap(), s.verifier());
    }

    #[test]
    fn v5_goshelf_example_key() {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        let s = Signer::from_seed("goshelf.example/sumdb", seed).unwrap();
        assert_eq!(
            s.skey(),
            "PRIVATE+KEY+goshelf.example/sumdb+e9cc0e8a+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
        );
        assert_eq!(
            s.vkey(),
            "goshelf.example/sumdb+e9cc0e8a+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        );
        let mut input = b"goshelf.example/sumdb\n".to_vec();
        input.extend_from_slice(&alg_and_key(s.key.verifying_key().as_bytes()));
        let digest: String = Sha256::digest(&input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            digest.starts_with("e9cc0e8a4e08") && digest.ends_with("08f5"),
            "{digest}"
        );
        assert_eq!(Signer::parse(&s.skey()).unwrap().vkey(), s.vkey());

        let text = "go.sum database tree\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        let want = format!("{text}\n\u{2014} goshelf.example/sumdb 6cwOinYZdul+e1wahMSM7+26QyZcK6KcVzKGZhEK0q8wm8zd3bnixlGjXr0j0GLYE88i5Vm3Hb1DBoyaUbhiMjxDuAw=\n");
        assert_eq!(sign(text, &[&s]).unwrap(), want);
        let v = Verifier::parse(&s.vkey()).unwrap();
        assert_eq!(open(want.as_bytes(), &[&v]).unwrap().text, text);
    }

    #[test]
    fn signer_debug_hides_seed() {
        let s = Signer::parse(PETER_SKEY).unwrap();
        let dbg = format!("{s:?}");
        assert!(
            dbg.contains("PeterNeumann") && !dbg.contains("AYEKFALV"),
            "{dbg}"
        );
    }

    #[test]
    fn names() {
        for ok in ["a", "goshelf.example/sumdb", "é"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a+b", "a\tb", "a\u{2003}b", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_sumdb_names() {
        for ok in [
            "goshelf.example/sumdb",
            "goshelf",
            "reg.lan:8443/sumdb",
            "sum.golang.org",
            "localhost.localdev/sumdb",
            "a/b/c",
            "[::1]:8443/x",
            "reg.lan:",
        ] {
            assert!(check_go_sumdb_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "reg.lan/sumdb/",
            "example.com/",
            "",
            "/sumdb",
            "user@host/sumdb",
            "host?x",
            "host/a?b",
            "host#frag",
            "host:port/x",
            "host/%41",
            "host/a b",
            "host/a!b",
            "ho%41st",
            "[::1/x",
            "host/é",
            "a+b",
            "host\x01",
            // A C1 control in the host (its bytes are non-ASCII, which hosts may hold).
            "ho\u{80}st",
            "host\u{9f}",
        ] {
            assert!(check_go_sumdb_name(bad).is_err(), "{bad:?}");
        }
    }
}
