//! The JSON records stored as table values. Unknown fields are ignored and new fields take
//! defaults, so a newer binary reads an older file without a migration.

use serde::{Deserialize, Serialize};

use crate::auth::{Kind, Scope, Visibility};

/// A namespace (Gitea's "owner"): a user's own (created with the user), an organisation, or
/// created by an admin's first upload to a new owner name (an organisation without members).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub created_at: i64,
    /// `public` (anonymous read) or `private`. Read with `Visibility::parse_lenient`: anything
    /// but `public` is private.
    #[serde(default = "public")]
    pub visibility: String,
    /// Files written before accounts existed have no kind: their namespaces were made by
    /// admin uploads, so they are organisations.
    #[serde(default = "org")]
    pub kind: Kind,
    /// Most bytes of zips (counted per version, before deduplication) the namespace may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Most versions the namespace may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_versions: Option<u64>,
    /// Its retention rules (`goshelf owner set-retention`); none: nothing is ever removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::gomod::retention::Retention>,
    /// A personal namespace whose user was deleted: an organisation, for admins to manage,
    /// that still counts as personal for the LAN (not served at `/go` unless
    /// `lan_namespaces` names it; when public, its paths not kept from upstreams), so that
    /// what a user uploaded never shadows a public module for the whole LAN, not even once
    /// the user is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub former_user: bool,
}

fn public() -> String {
    "public".to_owned()
}

fn org() -> Kind {
    Kind::Org
}

impl NamespaceRecord {
    /// A public namespace of `kind` without quotas.
    #[must_use]
    pub fn new(created_at: i64, kind: Kind) -> Self {
        Self {
            created_at,
            visibility: public(),
            kind,
            quota_bytes: None,
            quota_versions: None,
            retention: None,
            former_user: false,
        }
    }

    /// Whether it counts as personal for the LAN: a user's, or one whose user was deleted.
    #[must_use]
    pub fn personal(&self) -> bool {
        self.kind == Kind::User || self.former_user
    }

    /// The visibility, failing closed.
    #[must_use]
    pub fn visibility(&self) -> Visibility {
        Visibility::parse_lenient(&self.visibility)
    }
}

/// A member of an organisation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberRecord {
    pub role: Scope,
    pub added_at: i64,
}

/// A module within a namespace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModuleRecord {
    pub created_at: i64,
}

/// A published version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    /// BLAKE3 of the zip, hex.
    pub blake3: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// go.sum hash of the zip.
    pub h1: String,
    /// go.sum hash of the `.mod` bytes.
    pub mod_h1: String,
    /// Upload time, Unix seconds (UTC).
    pub time: i64,
    /// Who uploaded it.
    #[serde(default)]
    pub uploader: String,
}

/// What is left of a deleted version: the hashes clients have pinned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TombstoneRecord {
    pub h1: String,
    pub mod_h1: String,
    pub deleted_at: i64,
}

/// A user account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// The password as an argon2id PHC string (`$argon2id$v=19$...`); none for a user who
    /// signs in with tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Records this user's checksum database lookups may fetch from upstream per hour, set
    /// by an admin; none: the setting `sumdb_lookup_budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_budget: Option<u64>,
}

/// A token, found by the SHA-256 of its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub user: String,
    pub name: String,
    /// `write` or `read`; read with `TokenRecord::scope`, which fails closed to `read`.
    pub scope: String,
    pub created_at: i64,
    /// Unix seconds after which the token no longer works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Unix seconds of the last request that used it (recorded at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
}

impl TokenRecord {
    /// The scope, failing closed: an unknown word is `read`.
    #[must_use]
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.scope).unwrap_or(Scope::Read)
    }
}

/// A version of a public module fetched from an upstream (`store::cached`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedRecord {
    /// The `.info` as the upstream sent it (checked: a JSON object naming this version).
    pub info: String,
    /// Its time (from `.info`), Unix seconds; 0 when it had none.
    #[serde(default)]
    pub time: i64,
    /// go.sum hash of the `.mod` bytes (verified against the checksum database).
    pub mod_h1: String,
    /// go.sum hash of the zip: from the checksum database's record when the `.mod` was
    /// fetched, or from the zip itself for a path no checksum database covers
    /// (`upstream_nosumdb`), pinned at its first fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h1: Option<String>,
    /// BLAKE3 of the zip, hex, once it was fetched (zips are fetched on their first request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// Size of the zip in bytes, once fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When the `.info` and `.mod` were fetched, Unix seconds.
    pub fetched_at: i64,
    /// The upstream they came from (its URL).
    pub origin: String,
    /// When its zip was last downloaded whole (Unix seconds; written with the download
    /// counts), for eviction; none: not since its fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
    /// Fetched with credentials (`upstream_private`): served only to `upstream_readers`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

#[cfg(test)]
impl CachedRecord {
    /// A record of `version` as a `.mod` miss stores it (no zip yet), for unit tests.
    pub(crate) fn fetched(version: &str, mod_h1: &str) -> Self {
        Self {
            info: format!(r#"{{"Version":"{version}"}}"#),
            time: 0,
            mod_h1: mod_h1.to_owned(),
            h1: None,
            blake3: None,
            size: None,
            fetched_at: 0,
            origin: "https://up.example".into(),
            last_used: None,
            private: false,
        }
    }
}
