//! Credentials and permissions, as pure functions: parse `Authorization`, name the rules of who
//! may do what. Looking a token up is the store's job.

use base64::Engine;

/// Credentials as a client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>` or `Authorization: token <token>`.
    Token(String),
    /// `Authorization: Basic base64(user:secret)`; the secret is a token here.
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
    #[error("{user} may not publish to {owner}")]
    Forbidden { user: String, owner: String },
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

/// Who is making a request, once their credentials checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub is_admin: bool,
    /// `write` or `read`.
    pub scope: String,
}

impl Principal {
    /// Whether this principal may publish into namespace `owner`: an admin anywhere, a user
    /// into the namespace of their own name, and only with a `write` token.
    ///
    /// # Errors
    /// `Forbidden` otherwise.
    pub fn check_publish(&self, owner: &str) -> Result<(), Error> {
        if self.scope == "write" && (self.is_admin || self.user == owner) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                user: self.user.clone(),
                owner: owner.to_owned(),
            })
        }
    }

    /// Whether this principal may delete versions in `owner`: admins only.
    ///
    /// # Errors
    /// `Forbidden` otherwise.
    pub fn check_delete(&self, owner: &str) -> Result<(), Error> {
        if self.is_admin && self.scope == "write" {
            Ok(())
        } else {
            Err(Error::Forbidden {
                user: self.user.clone(),
                owner: owner.to_owned(),
            })
        }
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
        assert_eq!(
            parse_authorization(&format!("Basic {b}")),
            Ok(Credentials::Basic {
                user: "admin".into(),
                secret: "s3:cret".into()
            })
        );
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

    #[test]
    fn check_publish_allows_admin_anywhere_and_user_in_own_namespace() {
        let admin = Principal {
            user: "admin".into(),
            is_admin: true,
            scope: "write".into(),
        };
        assert!(admin.check_publish("acme").is_ok());
        let bob = Principal {
            user: "bob".into(),
            is_admin: false,
            scope: "write".into(),
        };
        assert!(bob.check_publish("bob").is_ok());
        assert!(bob.check_publish("acme").is_err());
        let reader = Principal {
            scope: "read".into(),
            ..admin
        };
        assert!(reader.check_publish("acme").is_err());
    }

    #[test]
    fn generate_token_is_random_and_prefixed() {
        let (a, b) = (generate_token(), generate_token());
        assert!(a.starts_with("gs_") && a.len() == 67);
        assert_ne!(a, b);
    }
}
