//! Users and token hashes. A token is never stored: only its SHA-256.

use redb::{ReadableDatabase, ReadableTable};
use sha2::{Digest, Sha256};

use super::records::{TokenRecord, UserRecord};
use super::{decode, encode, schema, Result, Store};

/// SHA-256 of a token's secret: the key under which it is stored.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Store {
    /// Whether any user exists.
    ///
    /// # Errors
    /// Storage errors.
    pub fn has_users(&self) -> Result<bool> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let users = txn.open_table(schema::USERS)?;
            let any = users.first()?.is_some();
            Ok(any)
        })
    }

    /// Creates the `admin` user with a first token, if the database has no user yet.
    /// Returns whether it did.
    ///
    /// # Errors
    /// Storage errors.
    pub fn bootstrap_admin(&self, token: &str, now: i64) -> Result<bool> {
        self.with_db(|db| {
            let txn = Self::begin_write(db)?;
            {
                let mut users = txn.open_table(schema::USERS)?;
                if users.first()?.is_some() {
                    return Ok(false);
                }
                let user = UserRecord {
                    name: "admin".into(),
                    is_admin: true,
                    created_at: now,
                };
                users.insert("admin", encode(&user)?.as_slice())?;
                let rec = TokenRecord {
                    user: "admin".into(),
                    name: "initial".into(),
                    scope: "write".into(),
                    created_at: now,
                };
                let mut tokens = txn.open_table(schema::TOKENS)?;
                tokens.insert(&token_hash(token), encode(&rec)?.as_slice())?;
            }
            txn.commit()?;
            Ok(true)
        })
    }

    /// The user and token record a token secret belongs to.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn user_for_token(&self, token: &str) -> Result<Option<(UserRecord, TokenRecord)>> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let tokens = txn.open_table(schema::TOKENS)?;
            let Some(tok) = tokens.get(&token_hash(token))? else {
                return Ok(None);
            };
            let tok: TokenRecord = decode("token", tok.value())?;
            let users = txn.open_table(schema::USERS)?;
            let Some(user) = users.get(tok.user.as_str())? else {
                return Ok(None);
            };
            let user: UserRecord = decode("user", user.value())?;
            Ok(Some((user, tok)))
        })
    }
}
