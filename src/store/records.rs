//! The JSON records stored as table values. Unknown fields are ignored and new fields take
//! defaults, so a newer binary reads an older file without a migration.

use serde::{Deserialize, Serialize};

/// A namespace (Gitea's "owner"): created on first upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub created_at: i64,
    /// `public` (anonymous read) or `private`; every namespace is public until accounts exist.
    #[serde(default = "public")]
    pub visibility: String,
}

fn public() -> String {
    "public".to_owned()
}

impl NamespaceRecord {
    #[must_use]
    pub fn new(created_at: i64) -> Self {
        Self {
            created_at,
            visibility: public(),
        }
    }
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
}

/// A token, found by the SHA-256 of its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub user: String,
    pub name: String,
    /// `write` or `read`.
    pub scope: String,
    pub created_at: i64,
}
