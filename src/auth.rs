//! Credentials and permissions, as pure functions: parse `Authorization`, name the rules of who
//! may do what. Looking a token up is the store's job.

use base64::Engine;

/// Credentials as a client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>` or `Authorization: token <token>`.
    Token(String),
    /// `Authorization: Basic base64(user:secret)`; the secret is a token or the password.
    Basic { user: String, secret: String },
}

/// Why credentials could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("authentication required")]
    MissingCredentials,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("the token has expired")]
    Expired,
    #[error("{user} may not {action} {owner}")]
    Forbidden {
        user: String,
        action: &'static str,
        owner: String,
    },
}

/// Parses an `Authorization` header value.
///
/// # Errors
/// `Malformed` for an unknown scheme or undecodable Basic credentials.
pub fn parse_authorization(value: &str) -> Result<Credentials, Error> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(Error::Malformed)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(Error::Malformed);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Ok(Credentials::Token(rest.to_owned())),
        "basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| Error::Malformed)?;
            let text = String::from_utf8(raw).map_err(|_| Error::Malformed)?;
            let (user, secret) = text.split_once(':').ok_or(Error::Malformed)?;
            Ok(Credentials::Basic {
                user: user.to_owned(),
                secret: secret.to_owned(),
            })
        }
        _ => Err(Error::Malformed),
    }
}

impl Credentials {
    /// The secret to look up.
    #[must_use]
    pub fn secret(&self) -> &str {
        match self {
            Credentials::Token(t) => t,
            Credentials::Basic { secret, .. } => secret,
        }
    }

    /// The user name the client claims, if it claims one.
    #[must_use]
    pub fn claimed_user(&self) -> Option<&str> {
        match self {
            Credentials::Token(_) => None,
            Credentials::Basic { user, .. } => Some(user),
        }
    }
}

/// A level of access: a token's scope, and an organisation member's role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    /// `read` or `write`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// Parses `read` or `write`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may read a namespace without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone may read (the default, as before accounts existed).
    Public,
    /// Only members (and admins) may read; everyone else gets the same 404 as for a module
    /// that does not exist.
    Private,
}

impl Visibility {
    /// `public` or `private`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }

    /// Parses a stored or requested visibility. Anything but `public` is private: an unknown
    /// word in a damaged record must fail closed.
    #[must_use]
    pub fn parse_lenient(s: &str) -> Visibility {
        if s == "public" {
            Visibility::Public
        } else {
            Visibility::Private
        }
    }

    /// Parses `public` or `private` exactly.
    #[must_use]
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// Whether a namespace belongs to one user (the user of the same name) or is an organisation
/// with members. A namespace created by an admin's first upload is an organisation without
/// members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Org,
}

/// What a viewer may do in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the namespace is answered as if it did not exist.
    None,
    Read,
    Write,
}

impl From<Scope> for Access {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => Access::Read,
            Scope::Write => Access::Write,
        }
    }
}

/// What the access rule needs to know of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceFacts<'a> {
    pub owner: &'a str,
    pub kind: Kind,
    pub visibility: Visibility,
    /// The viewer's role when they are a member of this organisation.
    pub member_role: Option<Scope>,
}

/// The access rule, the one place it is written:
/// - anyone may read a public namespace;
/// - an admin may do anything their credential's scope allows, anywhere (even in a namespace
///   that does not exist yet: an admin's upload creates it);
/// - a user has `write` in the namespace of their own name, a member the role they were given;
///   a `read` token caps either at `read`;
/// - nobody else gets anything, and a namespace that does not exist gives nothing to non-admins.
#[must_use]
pub fn access(viewer: Option<&Principal>, ns: Option<&NamespaceFacts<'_>>) -> Access {
    let public = match ns {
        Some(ns) if ns.visibility == Visibility::Public => Access::Read,
        _ => Access::None,
    };
    let Some(p) = viewer else {
        return public;
    };
    if p.is_admin {
        return Access::from(p.scope).max(public);
    }
    let Some(ns) = ns else {
        return Access::None;
    };
    let role = if ns.kind == Kind::User && ns.owner == p.user {
        Some(Scope::Write)
    } else {
        ns.member_role
    };
    let granted = role.map_or(Access::None, |r| Access::from(r.min(p.scope)));
    granted.max(public)
}

/// Who is making a request, once their credentials checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub is_admin: bool,
    /// What the credential allows: a password is `write`, a token its scope.
    pub scope: Scope,
}

impl Principal {
    /// Whether this principal is an admin using a `write` credential (what changing accounts,
    /// backups and purges need).
    #[must_use]
    pub fn is_admin_writer(&self) -> bool {
        self.is_admin && self.scope == Scope::Write
    }
}

/// Longest owner name accepted.
pub const MAX_OWNER_LEN: usize = 64;

/// Normalises an owner (namespace) name from a URL: lower-cased, as Gitea matches owners
/// case-insensitively. `None` when it is not `[a-z0-9]` with inner `.`, `_` or `-`.
#[must_use]
pub fn normalize_owner(owner: &str) -> Option<String> {
    let lower = owner.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (first, last) = (*bytes.first()?, *bytes.last()?);
    let inner_ok = bytes
        .iter()
        .all(|&b| edge_ok(b) || b == b'.' || b == b'_' || b == b'-');
    (lower.len() <= MAX_OWNER_LEN && edge_ok(first) && edge_ok(last) && inner_ok).then_some(lower)
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (hashing cost grows with it).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password's length.
///
/// # Errors
/// A one-line reason.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password must have at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the OWASP
/// minimum) and a random 16-byte salt, as a PHC string.
///
/// # Errors
/// Only if argon2 refuses its input (a password over its length limit).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash to verify against when there is no user or no password, so that a failed sign-in
/// costs the same either way.
#[must_use]
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("goshelf dummy password").unwrap_or_default())
}

/// Whether `password` matches a PHC string from `hash_password`. A malformed string matches
/// nothing.
///
/// The 19 MiB of argon2's working memory are this thread's, kept for its next check
/// (`with_argon2_memory`): allocated and freed at every check, they fragmented the heap, and a
/// flood of checks (each on a pool thread, one at a time) still grew the process by 19 MiB a
/// check, about 200 MiB for eleven.
#[must_use]
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = argon2::Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = with_argon2_memory(blocks, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    });
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|got| got == expected)
}

/// Runs `f` with `blocks` argon2 memory blocks of this thread's, kept between calls.
fn with_argon2_memory<T>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        // Grown to the largest check so far, never shrunk.
        let len = memory.len().max(blocks);
        memory.resize(len, argon2::Block::default());
        f(&mut memory[..blocks])
    })
}

/// A new random token: 32 bytes from the OS generator, hex-encoded, prefixed `gs_`.
#[must_use]
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("gs_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_authorization_accepts_bearer_token_and_basic() {
        assert_eq!(
            parse_authorization("Bearer abc"),
            Ok(Credentials::Token("abc".into()))
        );
        assert_eq!(
            parse_authorization("token abc"),
            Ok(Credentials::Token("abc".into()))
        );
        // "admin:s3:cret" — the secret may contain colons.
        let b = base64::engine::general_purpose::STANDARD.encode("admin:s3:cret");
        let basic = parse_authorization(&format!("Basic {b}")).unwrap();
        assert_eq!(
            basic,
            Credentials::Basic {
                user: "admin".into(),
                secret: "s3:cret".into()
            }
        );
        // What is looked up: the secret of either form, and the name only Basic claims.
        assert_eq!(
            (basic.secret(), basic.claimed_user()),
            ("s3:cret", Some("admin"))
        );
        let token = Credentials::Token("abc".into());
        assert_eq!((token.secret(), token.claimed_user()), ("abc", None));
        assert_eq!(format!("{} {}", Scope::Read, Scope::Write), "read write");
    }

    #[test]
    fn parse_authorization_rejects_unknown_scheme_and_bad_base64() {
        assert_eq!(parse_authorization("Digest x"), Err(Error::Malformed));
        assert_eq!(parse_authorization("Basic !!!"), Err(Error::Malformed));
        assert_eq!(parse_authorization("Bearer "), Err(Error::Malformed));
        assert_eq!(parse_authorization("Bearer"), Err(Error::Malformed));
    }

    #[test]
    fn normalize_owner_lowercases_and_rejects_odd_names() {
        assert_eq!(normalize_owner("Acme").as_deref(), Some("acme"));
        assert_eq!(
            normalize_owner("my-team.dev_1").as_deref(),
            Some("my-team.dev_1")
        );
        for bad in [
            "",
            "-acme",
            "acme-",
            ".x",
            "a/b",
            "a b",
            "ümlaut",
            &"a".repeat(65),
        ] {
            assert_eq!(normalize_owner(bad), None, "{bad:?}");
        }
    }

    fn who(user: &str, is_admin: bool, scope: Scope) -> Principal {
        Principal {
            user: user.into(),
            is_admin,
            scope,
        }
    }

    fn facts(
        owner: &str,
        kind: Kind,
        visibility: Visibility,
        role: Option<Scope>,
    ) -> NamespaceFacts<'_> {
        NamespaceFacts {
            owner,
            kind,
            visibility,
            member_role: role,
        }
    }

    #[test]
    fn access_public_namespace_is_readable_by_anyone_and_writable_by_its_writers() {
        use Access as A;
        use Scope::{Read as R, Write as W};
        let public_org = facts("acme", Kind::Org, Visibility::Public, None);
        assert_eq!(access(None, Some(&public_org)), A::Read);
        assert_eq!(
            access(Some(&who("eve", false, W)), Some(&public_org)),
            A::Read
        );
        let member_w = facts("acme", Kind::Org, Visibility::Public, Some(W));
        assert_eq!(
            access(Some(&who("bob", false, W)), Some(&member_w)),
            A::Write
        );
        assert_eq!(
            access(Some(&who("bob", false, R)), Some(&member_w)),
            A::Read
        );
        assert_eq!(
            access(Some(&who("root", true, W)), Some(&public_org)),
            A::Write
        );
        assert_eq!(
            access(Some(&who("root", true, R)), Some(&public_org)),
            A::Read
        );
    }

    #[test]
    fn access_private_namespace_is_invisible_to_non_members() {
        use Access as A;
        use Scope::{Read as R, Write as W};
        let private_org = facts("acme", Kind::Org, Visibility::Private, None);
        assert_eq!(access(None, Some(&private_org)), A::None);
        assert_eq!(
            access(Some(&who("eve", false, W)), Some(&private_org)),
            A::None
        );
        let member_r = facts("acme", Kind::Org, Visibility::Private, Some(R));
        assert_eq!(
            access(Some(&who("rita", false, W)), Some(&member_r)),
            A::Read
        );
        assert_eq!(
            access(Some(&who("root", true, R)), Some(&private_org)),
            A::Read
        );
        let own = facts("bob", Kind::User, Visibility::Private, None);
        assert_eq!(access(Some(&who("bob", false, W)), Some(&own)), A::Write);
        assert_eq!(access(Some(&who("bob", false, R)), Some(&own)), A::Read);
        // A user does not own an organisation that happens to share a prefix or their name.
        let org_named_bob = facts("bob", Kind::Org, Visibility::Private, None);
        assert_eq!(
            access(Some(&who("bob", false, W)), Some(&org_named_bob)),
            A::None
        );
    }

    #[test]
    fn only_an_admin_with_a_write_credential_is_an_admin_writer() {
        assert!(who("root", true, Scope::Write).is_admin_writer());
        assert!(!who("root", true, Scope::Read).is_admin_writer());
        assert!(!who("bob", false, Scope::Write).is_admin_writer());
    }

    #[test]
    fn access_missing_namespace_is_writable_only_by_admins() {
        assert_eq!(access(None, None), Access::None);
        assert_eq!(
            access(Some(&who("bob", false, Scope::Write)), None),
            Access::None
        );
        assert_eq!(
            access(Some(&who("root", true, Scope::Write)), None),
            Access::Write
        );
    }

    #[test]
    fn visibility_parse_lenient_fails_closed() {
        assert_eq!(Visibility::parse_lenient("public"), Visibility::Public);
        assert_eq!(Visibility::parse_lenient("Public"), Visibility::Private);
        assert_eq!(Visibility::parse_lenient(""), Visibility::Private);
        assert_eq!(Visibility::parse("private"), Some(Visibility::Private));
        assert_eq!(Visibility::parse("secret"), None);
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "correct hors"));
        assert!(!verify_password("not a phc string", "correct horse"));
        // Salted: the same password hashes differently each time.
        assert_ne!(phc, hash_password("correct horse").unwrap());
        // Lengths at their edges: characters below, bytes above.
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("seven77").is_err());
        assert!(check_new_password("eight888").is_ok());
        assert!(
            check_new_password("ééééééé").is_err(),
            "7 characters in 14 bytes"
        );
        assert!(check_new_password(&"p".repeat(MAX_PASSWORD_LEN)).is_ok());
        assert!(check_new_password(&"p".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(check_new_password(&"p".repeat(2 * MAX_PASSWORD_LEN)).is_err());
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash() {
        // A failed sign-in without a user costs one full check against it.
        let dummy = dummy_password_hash();
        assert!(dummy.starts_with("$argon2id$"), "{dummy}");
        assert!(verify_password(dummy, "goshelf dummy password"));
        assert!(!verify_password(dummy, ""));
    }

    #[test]
    fn generate_token_is_random_and_prefixed() {
        let (a, b) = (generate_token(), generate_token());
        assert!(a.starts_with("gs_") && a.len() == 67);
        assert_ne!(a, b);
    }
}
