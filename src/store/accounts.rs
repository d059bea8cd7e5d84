//! Users, organisations and their members, tokens, namespace visibility and quotas.
//!
//! Secrets are never stored: a token is kept under its SHA-256, a password as an argon2id PHC
//! string (hashed by the caller, off the write lock). The access rule itself is
//! `auth::access`; this module only gathers the facts it needs.

use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::{MemberRecord, NamespaceRecord, TokenRecord, UserRecord, VersionRecord};
use super::{decode, encode, schema, version_record, Error, Result, Store};
use crate::auth::{self, Access, Kind, NamespaceFacts, Principal, Scope, Visibility};

/// SHA-256 of a token's secret: the key under which it is stored.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The public id of a token: the first 8 bytes of its hash, hex. It names the token in lists
/// and for revocation, and reveals nothing usable of the secret.
#[must_use]
pub fn token_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used: Option<i64>,
}

impl TokenInfo {
    fn new(hash: &[u8; 32], rec: &TokenRecord) -> Self {
        Self {
            id: token_id(hash),
            user: rec.user.clone(),
            name: rec.name.clone(),
            scope: rec.scope(),
            created_at: rec.created_at,
            expires_at: rec.expires_at,
            last_used: rec.last_used,
        }
    }
}

/// A user as listed (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub has_password: bool,
    /// An admin's checksum database lookup budget for this user (per hour), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_budget: Option<u64>,
}

/// A namespace as listed for admins: its settings and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerInfo {
    pub name: String,
    pub kind: Kind,
    pub visibility: Visibility,
    pub quota_bytes: Option<u64>,
    pub quota_versions: Option<u64>,
    pub versions: u64,
    pub bytes: u64,
    pub members: Vec<MemberInfo>,
    /// Its retention rules, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::gomod::retention::Retention>,
    /// A deleted user's namespace (`NamespaceRecord::former_user`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub former_user: bool,
}

/// `LastAdmin` unless `users` (in the write transaction that takes an admin's rights away)
/// still holds an admin: checked there, so that two admins taking each other's rights at
/// once cannot both succeed.
fn an_admin_is_left(users: &redb::Table<&str, &[u8]>) -> Result<()> {
    for item in users.iter()? {
        let (_, v) = item?;
        let rec: UserRecord = decode("user", v.value())?;
        if rec.is_admin {
            return Ok(());
        }
    }
    Err(Error::LastAdmin)
}

/// Logs every version of namespace `owner` (its record `ns`) that the log takes and does not
/// hold yet, in publish order, as an upload would: a path another namespace holds, one held
/// from upstream without a claim, or a `path@version` logged with other content refuses the
/// whole change (nothing is written).
fn log_namespace(txn: &redb::WriteTransaction, owner: &str, ns: &NamespaceRecord) -> Result<()> {
    let readers = super::sumdb::readers_in(txn)?;
    let mut all = Vec::new();
    for item in txn.open_table(schema::VERSIONS)?.range((owner, "", "")..)? {
        let (k, v) = item?;
        let (o, module, version) = k.value();
        if o != owner {
            break;
        }
        let rec = version_record(v.value())?;
        all.push((
            rec.time,
            module.to_owned(),
            version.to_owned(),
            rec.h1,
            rec.mod_h1,
        ));
    }
    all.sort();
    for (_, module, version, h1, mod_h1) in all {
        use super::sumdb::Logged;
        match super::sumdb::log_version(txn, readers, owner, ns, &module, &version, (&h1, &mod_h1))?
        {
            Some(Logged::NeedsClaim(held)) => {
                return Err(Error::NeedsClaim {
                    module,
                    owner: owner.to_owned(),
                    held,
                });
            }
            Some(Logged::NotOwner) => {
                return Err(Error::PathTaken {
                    module,
                    owner: owner.to_owned(),
                });
            }
            Some(Logged::Conflict(text)) => {
                return Err(Error::LogConflict {
                    module,
                    version,
                    h1: super::sumdb::record_zip_h1(&text).to_owned(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub user: String,
    pub role: Scope,
}

/// What a token secret turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Unknown,
    Expired,
    Valid {
        user: Box<UserRecord>,
        token: Box<TokenRecord>,
        hash: [u8; 32],
    },
}

/// A change to a namespace's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerUpdate {
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Bytes of zips the namespace may hold; -1 removes the limit (Gitea's convention).
    #[serde(default)]
    pub quota_bytes: Option<i64>,
    /// Versions the namespace may hold; -1 removes the limit.
    #[serde(default)]
    pub quota_versions: Option<i64>,
}

/// Which limit an upload would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Bytes,
    Versions,
}

fn read_record<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    what: &str,
    key: &str,
) -> Result<Option<T>> {
    match table.get(key)? {
        Some(g) => Ok(Some(decode(what, g.value())?)),
        None => Ok(None),
    }
}

fn read_namespace(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    owner: &str,
) -> Result<Option<NamespaceRecord>> {
    read_record(table, "namespace", owner)
}

fn read_user(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<UserRecord>> {
    read_record(table, "user", name)
}

fn member_role(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    org: &str,
    user: &str,
) -> Result<Option<Scope>> {
    match table.get((org, user))? {
        Some(g) => Ok(Some(decode::<MemberRecord>("member", g.value())?.role)),
        None => Ok(None),
    }
}

/// What `viewer` may do in namespace `owner`, whose record is `ns`. `role` gives a user's
/// role in an organisation; it is asked only when the viewer may be a member of one.
fn access_to(
    viewer: Option<&Principal>,
    owner: &str,
    ns: &NamespaceRecord,
    role: impl FnOnce(&str) -> Result<Option<Scope>>,
) -> Result<Access> {
    let member_role = match viewer {
        Some(p) if ns.kind == Kind::Org => role(&p.user)?,
        _ => None,
    };
    let facts = NamespaceFacts {
        owner,
        kind: ns.kind,
        visibility: ns.visibility(),
        member_role,
    };
    Ok(auth::access(viewer, Some(&facts)))
}

/// The (versions, bytes) a namespace holds, from its version records.
pub(super) fn namespace_usage(
    versions: &impl ReadableTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    owner: &str,
) -> Result<(u64, u64)> {
    let (mut count, mut bytes) = (0u64, 0u64);
    for item in versions.range((owner, "", "")..)? {
        let (k, v) = item?;
        if k.value().0 != owner {
            break;
        }
        let rec: VersionRecord = version_record(v.value())?;
        count += 1;
        bytes = bytes.saturating_add(rec.size);
    }
    Ok((count, bytes))
}

/// Refuses an upload of `size` bytes that would take the namespace over one of its quotas.
pub(super) fn check_quota(
    versions: &impl ReadableTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    owner: &str,
    ns: &NamespaceRecord,
    size: u64,
) -> Result<()> {
    if ns.quota_bytes.is_none() && ns.quota_versions.is_none() {
        return Ok(());
    }
    let (count, bytes) = namespace_usage(versions, owner)?;
    if let Some(max) = ns.quota_versions {
        if count.saturating_add(1) > max {
            return Err(Error::QuotaExceeded {
                quota: Quota::Versions,
                message: format!(
                    "quota exceeded: {owner} holds {count} versions and may hold at most {max}"
                ),
            });
        }
    }
    if let Some(max) = ns.quota_bytes {
        if bytes.saturating_add(size) > max {
            return Err(Error::QuotaExceeded {
                quota: Quota::Bytes,
                message: format!(
                    "quota exceeded: {owner} holds {bytes} bytes; this {size}-byte zip would \
                     pass its limit of {max} bytes"
                ),
            });
        }
    }
    Ok(())
}

fn quota_value(v: i64) -> Option<u64> {
    u64::try_from(v).ok()
}

impl Store {
    /// Whether any user exists.
    ///
    /// # Errors
    /// Storage errors.
    pub fn has_users(&self) -> Result<bool> {
        self.read(|txn| {
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
            let txn = self.begin_write(db)?;
            {
                let mut users = txn.open_table(schema::USERS)?;
                if users.first()?.is_some() {
                    return Ok(false);
                }
                let user = UserRecord {
                    name: "admin".into(),
                    is_admin: true,
                    created_at: now,
                    password: None,
                    lookup_budget: None,
                };
                users.insert("admin", encode(&user)?.as_slice())?;
                let rec = TokenRecord {
                    user: "admin".into(),
                    name: "initial".into(),
                    scope: Scope::Write.as_str().into(),
                    created_at: now,
                    expires_at: None,
                    last_used: None,
                };
                let mut tokens = txn.open_table(schema::TOKENS)?;
                tokens.insert(&token_hash(token), encode(&rec)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(true)
        })
    }

    /// The user and token record a token secret belongs to (expiry not checked; see
    /// `check_token`).
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn user_for_token(&self, token: &str) -> Result<Option<(UserRecord, TokenRecord)>> {
        Ok(match self.check_token(token, i64::MIN)? {
            TokenCheck::Valid { user, token, .. } => Some((*user, *token)),
            TokenCheck::Unknown | TokenCheck::Expired => None,
        })
    }

    /// Looks a token secret up and checks its expiry against `now`.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn check_token(&self, secret: &str, now: i64) -> Result<TokenCheck> {
        let hash = token_hash(secret);
        self.read(|txn| {
            let tokens = txn.open_table(schema::TOKENS)?;
            let Some(tok) = tokens.get(&hash)? else {
                return Ok(TokenCheck::Unknown);
            };
            let token: TokenRecord = decode("token", tok.value())?;
            let users = txn.open_table(schema::USERS)?;
            let Some(user) = read_user(&users, &token.user)? else {
                return Ok(TokenCheck::Unknown);
            };
            if token.expires_at.is_some_and(|t| t <= now) {
                return Ok(TokenCheck::Expired);
            }
            Ok(TokenCheck::Valid {
                user: Box::new(user),
                token: Box::new(token),
                hash,
            })
        })
    }

    /// The user whose password this is; `None` for an unknown user, a user without a password,
    /// or a wrong password. Costs one argon2 verification (tens of milliseconds) when the user
    /// has a password.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn verify_password(&self, user: &str, password: &str) -> Result<Option<UserRecord>> {
        let rec = self.get_user(user)?;
        match rec.as_ref().and_then(|u| u.password.as_deref()) {
            Some(phc) => Ok(rec.clone().filter(|_| auth::verify_password(phc, password))),
            None => {
                // Spend the same time as for a real user, so the answer's timing does not
                // tell which user names exist.
                let _ = auth::verify_password(auth::dummy_password_hash(), password);
                Ok(None)
            }
        }
    }

    /// A user record.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn get_user(&self, name: &str) -> Result<Option<UserRecord>> {
        self.read(|txn| {
            let users = txn.open_table(schema::USERS)?;
            read_user(&users, name)
        })
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_users(&self) -> Result<Vec<UserInfo>> {
        self.read(|txn| {
            let users = txn.open_table(schema::USERS)?;
            let mut out = Vec::new();
            for item in users.iter()? {
                let (_, v) = item?;
                let u: UserRecord = decode("user", v.value())?;
                out.push(UserInfo {
                    name: u.name,
                    is_admin: u.is_admin,
                    created_at: u.created_at,
                    has_password: u.password.is_some(),
                    lookup_budget: u.lookup_budget,
                });
            }
            Ok(out)
        })
    }

    /// Creates a user, with `password` already hashed (`auth::hash_password`), and their
    /// namespace. A namespace of that name made by an admin's upload, without members, becomes
    /// the user's.
    ///
    /// # Errors
    /// `UserExists`; `NameTaken` when an organisation with members has the name.
    pub fn create_user(
        &self,
        name: &str,
        password: Option<String>,
        is_admin: bool,
        now: i64,
    ) -> Result<UserInfo> {
        let has_password = password.is_some();
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut users = txn.open_table(schema::USERS)?;
                if users.get(name)?.is_some() {
                    return Err(Error::UserExists {
                        name: name.to_owned(),
                    });
                }
                let mut namespaces = txn.open_table(schema::NAMESPACES)?;
                let members = txn.open_table(schema::MEMBERS)?;
                let ns = match read_namespace(&namespaces, name)? {
                    Some(ns) => {
                        let has_members = members
                            .range((name, "")..)?
                            .next()
                            .transpose()?
                            .is_some_and(|(k, _)| k.value().0 == name);
                        if ns.kind == Kind::User || has_members {
                            return Err(Error::NameTaken {
                                name: name.to_owned(),
                            });
                        }
                        NamespaceRecord {
                            kind: Kind::User,
                            former_user: false,
                            ..ns
                        }
                    }
                    None => NamespaceRecord::new(now, Kind::User),
                };
                namespaces.insert(name, encode(&ns)?.as_slice())?;
                let rec = UserRecord {
                    name: name.to_owned(),
                    is_admin,
                    created_at: now,
                    password,
                    lookup_budget: None,
                };
                users.insert(name, encode(&rec)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(UserInfo {
                name: name.to_owned(),
                is_admin,
                created_at: now,
                has_password,
                lookup_budget: None,
            })
        })
    }

    /// Replaces a user's password (already hashed).
    ///
    /// # Errors
    /// `NoSuchUser`.
    pub fn set_password(&self, name: &str, password: String) -> Result<()> {
        self.update_user(name, |u| u.password = Some(password))
    }

    /// Grants or withdraws admin rights.
    ///
    /// # Errors
    /// `NoSuchUser`; `LastAdmin` when it would leave no admin.
    pub fn set_admin(&self, name: &str, is_admin: bool) -> Result<()> {
        self.update_user(name, |u| u.is_admin = is_admin)
    }

    /// Sets (or, with `None`, removes) a user's checksum database lookup budget per hour.
    ///
    /// # Errors
    /// `NoSuchUser`; storage errors.
    pub fn set_lookup_budget(&self, name: &str, budget: Option<u64>) -> Result<()> {
        self.update_user(name, |u| u.lookup_budget = budget)
    }

    /// A user's checksum database lookup budget per hour, when an admin set one.
    ///
    /// # Errors
    /// Storage errors.
    pub fn lookup_budget(&self, name: &str) -> Result<Option<u64>> {
        self.read(|txn| {
            let users = txn.open_table(schema::USERS)?;
            Ok(read_user(&users, name)?.and_then(|u| u.lookup_budget))
        })
    }

    fn update_user(&self, name: &str, change: impl FnOnce(&mut UserRecord)) -> Result<()> {
        self.with_db_once(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut users = txn.open_table(schema::USERS)?;
                let mut rec = read_user(&users, name)?.ok_or_else(|| Error::NoSuchUser {
                    name: name.to_owned(),
                })?;
                let was_admin = rec.is_admin;
                change(&mut rec);
                users.insert(name, encode(&rec)?.as_slice())?;
                if was_admin && !rec.is_admin {
                    an_admin_is_left(&users)?;
                }
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Deletes a user, their tokens and memberships. Their namespace and its modules stay
    /// (builds depend on them): it becomes an organisation without members, managed by admins,
    /// that still counts as personal for the LAN (`NamespaceRecord::former_user`).
    ///
    /// # Errors
    /// `NoSuchUser`; `LastAdmin` for the only admin.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut users = txn.open_table(schema::USERS)?;
                let gone: Option<UserRecord> = match users.remove(name)? {
                    Some(v) => Some(decode("user", v.value())?),
                    None => None,
                };
                let Some(gone) = gone else {
                    return Err(Error::NoSuchUser {
                        name: name.to_owned(),
                    });
                };
                if gone.is_admin {
                    an_admin_is_left(&users)?;
                }
                let mut tokens = txn.open_table(schema::TOKENS)?;
                let mut doomed = Vec::new();
                for item in tokens.iter()? {
                    let (k, v) = item?;
                    let rec: TokenRecord = decode("token", v.value())?;
                    if rec.user == name {
                        doomed.push(*k.value());
                    }
                }
                for k in &doomed {
                    tokens.remove(k)?;
                }
                let mut members = txn.open_table(schema::MEMBERS)?;
                let mut gone = Vec::new();
                for item in members.iter()? {
                    let (k, _) = item?;
                    let (org, user) = k.value();
                    if user == name {
                        gone.push(org.to_owned());
                    }
                }
                for org in &gone {
                    members.remove((org.as_str(), name))?;
                }
                let mut namespaces = txn.open_table(schema::NAMESPACES)?;
                if let Some(ns) = read_namespace(&namespaces, name)? {
                    let ns = NamespaceRecord {
                        kind: Kind::Org,
                        former_user: ns.kind == Kind::User || ns.former_user,
                        ..ns
                    };
                    namespaces.insert(name, encode(&ns)?.as_slice())?;
                }
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Creates a token for `user`; returns its secret (to show once) and its listing.
    ///
    /// # Errors
    /// `NoSuchUser`.
    pub fn create_token(
        &self,
        user: &str,
        name: &str,
        scope: Scope,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(String, TokenInfo)> {
        let secret = auth::generate_token();
        let hash = token_hash(&secret);
        let rec = TokenRecord {
            user: user.to_owned(),
            name: name.to_owned(),
            scope: scope.as_str().to_owned(),
            created_at: now,
            expires_at,
            last_used: None,
        };
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let users = txn.open_table(schema::USERS)?;
                if users.get(user)?.is_none() {
                    return Err(Error::NoSuchUser {
                        name: user.to_owned(),
                    });
                }
                let mut tokens = txn.open_table(schema::TOKENS)?;
                tokens.insert(&hash, encode(&rec)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(())
        })?;
        Ok((secret, TokenInfo::new(&hash, &rec)))
    }

    /// The tokens of `user`, or of everyone for `None`, oldest first.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_tokens_of(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        self.read(|txn| {
            let tokens = txn.open_table(schema::TOKENS)?;
            let mut out = Vec::new();
            for item in tokens.iter()? {
                let (k, v) = item?;
                let rec: TokenRecord = decode("token", v.value())?;
                if user.is_none_or(|u| u == rec.user) {
                    out.push(TokenInfo::new(k.value(), &rec));
                }
            }
            out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(out)
        })
    }

    /// The tokens of `user`, oldest first.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>> {
        self.list_tokens_of(Some(user))
    }

    /// Revokes (deletes) the token with public id `id` belonging to `user`, or to anyone for
    /// `None`. Returns whether one was revoked.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn revoke_token_of(&self, user: Option<&str>, id: &str) -> Result<bool> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            let found = {
                let mut tokens = txn.open_table(schema::TOKENS)?;
                let mut found = None;
                for item in tokens.iter()? {
                    let (k, v) = item?;
                    if token_id(k.value()) != id {
                        continue;
                    }
                    let rec: TokenRecord = decode("token", v.value())?;
                    if user.is_none_or(|u| u == rec.user) {
                        found = Some(*k.value());
                        break;
                    }
                }
                if let Some(k) = &found {
                    tokens.remove(k)?;
                }
                found.is_some()
            };
            self.commit_txn(txn)?;
            Ok(found)
        })
    }

    /// Revokes `user`'s token with public id `id`. Returns whether one was revoked.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn revoke_token(&self, user: &str, id: &str) -> Result<bool> {
        self.revoke_token_of(Some(user), id)
    }

    /// Records when tokens were last used, in one transaction that is made durable by the next
    /// durable commit (a lost last-used time after a crash is harmless).
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn record_token_use(&self, uses: &[([u8; 32], i64)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.with_db(|db| {
            let txn = self.begin_write_lazy(db)?;
            {
                let mut tokens = txn.open_table(schema::TOKENS)?;
                for (hash, at) in uses {
                    let rec: Option<TokenRecord> = match tokens.get(hash)? {
                        Some(g) => Some(decode("token", g.value())?),
                        None => None,
                    };
                    if let Some(mut rec) = rec {
                        if rec.last_used.is_none_or(|t| t < *at) {
                            rec.last_used = Some(*at);
                            tokens.insert(hash, encode(&rec)?.as_slice())?;
                        }
                    }
                }
            }
            self.commit_txn_unseen(txn)?;
            Ok(())
        })
    }

    /// Creates an organisation namespace.
    ///
    /// # Errors
    /// `OwnerExists` when the namespace exists, `NameTaken` when a user has the name.
    pub fn create_org(&self, name: &str, visibility: Visibility, now: i64) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let users = txn.open_table(schema::USERS)?;
                if users.get(name)?.is_some() {
                    return Err(Error::NameTaken {
                        name: name.to_owned(),
                    });
                }
                let mut namespaces = txn.open_table(schema::NAMESPACES)?;
                if namespaces.get(name)?.is_some() {
                    return Err(Error::OwnerExists {
                        name: name.to_owned(),
                    });
                }
                let mut ns = NamespaceRecord::new(now, Kind::Org);
                ns.visibility = visibility.as_str().to_owned();
                namespaces.insert(name, encode(&ns)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Adds `user` to organisation `org` with `role`, or changes their role.
    ///
    /// # Errors
    /// `NoSuchOwner`, `NotAnOrg` (a user's namespace), `NoSuchUser`.
    pub fn set_member(&self, org: &str, user: &str, role: Scope, now: i64) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let namespaces = txn.open_table(schema::NAMESPACES)?;
                let ns = read_namespace(&namespaces, org)?.ok_or_else(|| Error::NoSuchOwner {
                    name: org.to_owned(),
                })?;
                if ns.kind != Kind::Org {
                    return Err(Error::NotAnOrg {
                        name: org.to_owned(),
                    });
                }
                let users = txn.open_table(schema::USERS)?;
                if users.get(user)?.is_none() {
                    return Err(Error::NoSuchUser {
                        name: user.to_owned(),
                    });
                }
                let mut members = txn.open_table(schema::MEMBERS)?;
                let rec = MemberRecord {
                    role,
                    added_at: now,
                };
                members.insert((org, user), encode(&rec)?.as_slice())?;
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Removes `user` from `org`. Returns whether they were a member.
    ///
    /// # Errors
    /// Storage errors.
    pub fn remove_member(&self, org: &str, user: &str) -> Result<bool> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            let removed = txn
                .open_table(schema::MEMBERS)?
                .remove((org, user))?
                .is_some();
            self.commit_txn(txn)?;
            Ok(removed)
        })
    }

    /// Changes a namespace's visibility and quotas.
    ///
    /// # Errors
    /// `NoSuchOwner`.
    pub fn update_owner(&self, owner: &str, update: &OwnerUpdate) -> Result<()> {
        self.with_db(|db| {
            let txn = self.begin_write(db)?;
            {
                let mut namespaces = txn.open_table(schema::NAMESPACES)?;
                let mut ns =
                    read_namespace(&namespaces, owner)?.ok_or_else(|| Error::NoSuchOwner {
                        name: owner.to_owned(),
                    })?;
                let readers = super::sumdb::readers_in(&txn)?;
                let was_logged = readers.is_some_and(|r| r.logs(&ns));
                if let Some(v) = update.visibility {
                    v.as_str().clone_into(&mut ns.visibility);
                    // Made private: every path it hosts must be covered by `private`.
                    let mut paths = Vec::new();
                    for item in txn.open_table(schema::MODULES)?.range((owner, "")..)? {
                        let (k, _) = item?;
                        let (o, m) = k.value();
                        if o != owner {
                            break;
                        }
                        paths.push(m.to_owned());
                    }
                    if let Some(path) = super::sumdb::uncovered_private(
                        &txn,
                        super::sumdb::readers_in(&txn)?,
                        &ns,
                        &mut paths.into_iter(),
                    )? {
                        return Err(Error::PrivateUncovered {
                            suggestion: super::sumdb::suggested_pattern(&path).to_owned(),
                            module: path,
                        });
                    }
                }
                if let Some(q) = update.quota_bytes {
                    ns.quota_bytes = quota_value(q);
                }
                if let Some(q) = update.quota_versions {
                    ns.quota_versions = quota_value(q);
                }
                namespaces.insert(owner, encode(&ns)?.as_slice())?;
                // Logged from now on (made public, the log read by anyone): its versions are
                // logged in the same transaction, under the rules of an upload.
                if !was_logged && readers.is_some_and(|r| r.logs(&ns)) {
                    log_namespace(&txn, owner, &ns)?;
                }
            }
            self.commit_txn(txn)?;
            Ok(())
        })
    }

    /// Every namespace with its settings, members and usage, by name.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn list_owners(&self) -> Result<Vec<OwnerInfo>> {
        self.read(|txn| {
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let members = txn.open_table(schema::MEMBERS)?;
            let versions = txn.open_table(schema::VERSIONS)?;
            let mut out = Vec::new();
            for item in namespaces.iter()? {
                let (k, v) = item?;
                let name = k.value();
                let ns: NamespaceRecord = decode("namespace", v.value())?;
                let (count, bytes) = namespace_usage(&versions, name)?;
                let mut list = Vec::new();
                for m in members.range((name, "")..)? {
                    let (mk, mv) = m?;
                    let (org, user) = mk.value();
                    if org != name {
                        break;
                    }
                    let rec: MemberRecord = decode("member", mv.value())?;
                    list.push(MemberInfo {
                        user: user.to_owned(),
                        role: rec.role,
                    });
                }
                out.push(OwnerInfo {
                    name: name.to_owned(),
                    kind: ns.kind,
                    visibility: ns.visibility(),
                    quota_bytes: ns.quota_bytes,
                    quota_versions: ns.quota_versions,
                    versions: count,
                    bytes,
                    members: list,
                    retention: ns.retention,
                    former_user: ns.former_user,
                });
            }
            Ok(out)
        })
    }

    /// What `viewer` may do in namespace `owner` (`Access::None` also when it does not exist,
    /// except for admins, whose upload creates it).
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn namespace_access(&self, owner: &str, viewer: Option<&Principal>) -> Result<Access> {
        Ok(self.namespace_view(owner, viewer)?.0)
    }

    /// What `viewer` may do in namespace `owner` (as `namespace_access`), and whether the
    /// namespace is public (anyone may read it; `false` also when it does not exist). Answers
    /// from a namespace that is not public must not be kept by shared caches.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn namespace_view(
        &self,
        owner: &str,
        viewer: Option<&Principal>,
    ) -> Result<(Access, bool)> {
        self.read(|txn| {
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let Some(ns) = read_namespace(&namespaces, owner)? else {
                return Ok((auth::access(viewer, None), false));
            };
            let public = ns.visibility() == auth::Visibility::Public;
            let access = access_to(viewer, owner, &ns, |user| {
                member_role(&txn.open_table(schema::MEMBERS)?, owner, user)
            })?;
            Ok((access, public))
        })
    }

    /// The namespaces `viewer` may read, by name.
    ///
    /// # Errors
    /// Storage errors, or a damaged record.
    pub fn visible_namespaces(
        &self,
        viewer: Option<&Principal>,
    ) -> Result<Vec<(String, NamespaceRecord)>> {
        self.read(|txn| {
            let namespaces = txn.open_table(schema::NAMESPACES)?;
            let members = txn.open_table(schema::MEMBERS)?;
            let mut out = Vec::new();
            for item in namespaces.iter()? {
                let (k, v) = item?;
                let owner = k.value();
                let ns: NamespaceRecord = decode("namespace", v.value())?;
                let access = access_to(viewer, owner, &ns, |user| {
                    member_role(&members, owner, user)
                })?;
                if access >= Access::Read {
                    out.push((owner.to_owned(), ns));
                }
            }
            Ok(out)
        })
    }

    /// How many users exist (for metrics and tests).
    ///
    /// # Errors
    /// Storage errors.
    pub fn user_count(&self) -> Result<u64> {
        self.read(|txn| Ok(txn.open_table(schema::USERS)?.len()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        (dir, store)
    }

    fn who(user: &str, scope: Scope) -> Principal {
        Principal {
            user: user.into(),
            is_admin: false,
            scope,
        }
    }

    #[test]
    fn user_owns_their_namespace_and_org_members_get_their_role() {
        let (_d, s) = store();
        s.create_user("bob", None, false, 1).unwrap();
        s.create_user("rita", None, false, 1).unwrap();
        s.create_org("acme", Visibility::Private, 1).unwrap();
        s.set_member("acme", "rita", Scope::Read, 1).unwrap();
        assert_eq!(
            s.namespace_access("bob", Some(&who("bob", Scope::Write)))
                .unwrap(),
            Access::Write
        );
        assert_eq!(s.namespace_access("acme", None).unwrap(), Access::None);
        assert_eq!(
            s.namespace_access("acme", Some(&who("rita", Scope::Write)))
                .unwrap(),
            Access::Read
        );
        assert_eq!(
            s.namespace_access("acme", Some(&who("bob", Scope::Write)))
                .unwrap(),
            Access::None
        );
        let visible: Vec<String> = s
            .visible_namespaces(Some(&who("rita", Scope::Read)))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(visible, ["acme", "bob", "rita"]);
        assert!(matches!(
            s.create_user("acme", None, false, 1),
            Err(Error::NameTaken { .. })
        ));
        assert!(matches!(
            s.create_org("bob", Visibility::Public, 1),
            Err(Error::NameTaken { .. })
        ));
        assert!(matches!(
            s.set_member("bob", "rita", Scope::Read, 1),
            Err(Error::NotAnOrg { .. })
        ));
    }

    #[test]
    fn tokens_are_stored_hashed_expire_and_revoke_by_id() {
        let (_d, s) = store();
        s.create_user("bob", None, false, 1).unwrap();
        let (secret, info) = s
            .create_token("bob", "ci", Scope::Read, Some(100), 1)
            .unwrap();
        assert!(matches!(
            s.check_token(&secret, 99).unwrap(),
            TokenCheck::Valid { .. }
        ));
        assert_eq!(s.check_token(&secret, 100).unwrap(), TokenCheck::Expired);
        assert_eq!(s.check_token("gs_nope", 1).unwrap(), TokenCheck::Unknown);
        assert_eq!(s.list_tokens("bob").unwrap(), vec![info.clone()]);
        assert!(!s.revoke_token("rita", &info.id).unwrap());
        assert!(s.revoke_token("bob", &info.id).unwrap());
        assert_eq!(s.check_token(&secret, 1).unwrap(), TokenCheck::Unknown);
    }

    #[test]
    fn last_admin_cannot_be_deleted_or_demoted() {
        let (_d, s) = store();
        s.bootstrap_admin("t", 1).unwrap();
        assert!(matches!(s.delete_user("admin"), Err(Error::LastAdmin)));
        assert!(matches!(s.set_admin("admin", false), Err(Error::LastAdmin)));
        s.create_user("root2", None, true, 1).unwrap();
        s.delete_user("admin").unwrap();
        assert_eq!(s.user_count().unwrap(), 1);
    }

    /// Two admins taking each other's rights (or removing each other) at once: one of them
    /// is refused, every time, so an admin is always left (a review found the check made on
    /// a snapshot before the write, where both could pass).
    #[test]
    fn two_admins_removing_each_other_at_once_leave_one() {
        let (_d, s) = store();
        let s = std::sync::Arc::new(s);
        for round in 0..40 {
            for name in ["ann", "ben"] {
                if s.get_user(name).unwrap().is_none() {
                    s.create_user(name, None, true, 1).unwrap();
                }
                s.set_admin(name, true).unwrap();
            }
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let go = |other: &'static str| {
                let (s, barrier) = (std::sync::Arc::clone(&s), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    if round % 2 == 0 {
                        s.set_admin(other, false)
                    } else {
                        s.delete_user(other)
                    }
                })
            };
            let (a, b) = (go("ben"), go("ann"));
            let results = [a.join().unwrap(), b.join().unwrap()];
            assert_eq!(
                results
                    .iter()
                    .filter(|r| matches!(r, Err(Error::LastAdmin)))
                    .count(),
                1,
                "round {round}: {results:?}"
            );
            assert!(
                s.list_users().unwrap().iter().any(|u| u.is_admin),
                "round {round}"
            );
        }
    }

    #[test]
    fn deleting_a_user_drops_tokens_and_memberships_but_keeps_the_namespace() {
        let (_d, s) = store();
        s.create_user("bob", None, false, 1).unwrap();
        s.create_org("acme", Visibility::Public, 1).unwrap();
        s.set_member("acme", "bob", Scope::Write, 1).unwrap();
        let (secret, _) = s.create_token("bob", "x", Scope::Write, None, 1).unwrap();
        s.delete_user("bob").unwrap();
        assert_eq!(s.check_token(&secret, 1).unwrap(), TokenCheck::Unknown);
        let owners = s.list_owners().unwrap();
        let acme = owners.iter().find(|o| o.name == "acme").unwrap();
        assert!(acme.members.is_empty());
        let bob = owners.iter().find(|o| o.name == "bob").unwrap();
        assert_eq!(bob.kind, Kind::Org);
        // Still personal for the LAN: a user's uploads never shadow a public module.
        assert!(bob.former_user && !acme.former_user);
        let ns = |name: &str| {
            s.read(|txn| read_namespace(&txn.open_table(schema::NAMESPACES)?, name))
                .unwrap()
                .unwrap()
        };
        assert!(ns("bob").personal() && !ns("acme").personal());
        // A user made again with that name takes it back as their own.
        s.create_user("bob", None, false, 2).unwrap();
        let again = ns("bob");
        assert!(again.kind == Kind::User && !again.former_user && again.personal());
        s.delete_user("bob").unwrap();
        assert!(ns("bob").former_user);
    }

    /// Publishes `bytes` as `owner example.com/q@version`.
    fn put(s: &Store, owner: &str, version: &str, bytes: &[u8]) -> Result<()> {
        super::super::put_test_module(s, owner, "example.com/q", version, "h1:z=", bytes)
    }

    /// `owner` as `list_owners` lists it.
    fn owner(s: &Store, name: &str) -> OwnerInfo {
        s.list_owners()
            .unwrap()
            .into_iter()
            .find(|o| o.name == name)
            .unwrap()
    }

    fn usage(s: &Store, name: &str) -> (u64, u64) {
        let o = owner(s, name);
        (o.versions, o.bytes)
    }

    #[test]
    fn quotas_count_the_namespaces_own_versions_and_bytes() {
        let (_d, s) = store();
        s.create_org("acm", Visibility::Public, 1).unwrap();
        s.create_org("acme", Visibility::Public, 1).unwrap();
        s.create_org("acmez", Visibility::Public, 1).unwrap();
        // Neighbours in key order count nothing towards acme's usage.
        put(&s, "acm", "v0.0.1", &[1; 50]).unwrap();
        put(&s, "acmez", "v0.0.1", &[2; 70]).unwrap();
        let limit = |bytes: i64, versions: i64| OwnerUpdate {
            visibility: None,
            quota_bytes: Some(bytes),
            quota_versions: Some(versions),
        };
        s.update_owner("acme", &limit(100, 2)).unwrap();
        put(&s, "acme", "v1.0.0", &[3; 60]).unwrap();
        assert_eq!(usage(&s, "acme"), (1, 60));
        // 60 + 41 > 100: refused; 60 + 40 = 100: taken.
        match put(&s, "acme", "v1.1.0", &[4; 41]) {
            Err(Error::QuotaExceeded { quota, message }) => {
                assert_eq!(quota, Quota::Bytes);
                assert_eq!(
                    message,
                    "quota exceeded: acme holds 60 bytes; this 41-byte zip would pass its limit \
                     of 100 bytes"
                );
            }
            other => panic!("{other:?}"),
        }
        put(&s, "acme", "v1.1.0", &[5; 40]).unwrap();
        assert_eq!(usage(&s, "acme"), (2, 100));
        // A third version passes the version quota of 2, whatever its size.
        s.update_owner("acme", &limit(-1, 2)).unwrap();
        match put(&s, "acme", "v1.2.0", &[6; 1]) {
            Err(Error::QuotaExceeded { quota, message }) => {
                assert_eq!(quota, Quota::Versions);
                assert_eq!(
                    message,
                    "quota exceeded: acme holds 2 versions and may hold at most 2"
                );
            }
            other => panic!("{other:?}"),
        }
        let acme = owner(&s, "acme");
        assert_eq!(
            (acme.quota_bytes, acme.quota_versions),
            (None, Some(2)),
            "-1 removes"
        );
        s.update_owner("acme", &limit(0, 3)).unwrap();
        assert!(matches!(
            put(&s, "acme", "v1.2.0", &[6; 1]),
            Err(Error::QuotaExceeded {
                quota: Quota::Bytes,
                ..
            })
        ));
        s.update_owner("acme", &limit(-1, -1)).unwrap();
        put(&s, "acme", "v1.2.0", &[6; 1]).unwrap();
        assert_eq!(usage(&s, "acme"), (3, 101));
        assert_eq!(usage(&s, "acm"), (1, 50));
        assert_eq!(usage(&s, "acmez"), (1, 70));
        assert!(matches!(
            s.update_owner("nobody", &limit(1, 1)),
            Err(Error::NoSuchOwner { .. })
        ));
    }

    #[test]
    fn users_are_created_read_and_changed() {
        let (_d, s) = store();
        assert!(!s.has_users().unwrap());
        // A namespace made by an admin's upload, without members, becomes the user's.
        put(&s, "carol", "v1.0.0", b"x").unwrap();
        assert_eq!(owner(&s, "carol").kind, Kind::Org);
        let phc = auth::hash_password("hunter2 is long").unwrap();
        let info = s.create_user("carol", Some(phc), false, 5).unwrap();
        assert!(info.has_password && !info.is_admin);
        assert!(s.has_users().unwrap());
        assert_eq!(owner(&s, "carol").kind, Kind::User);
        assert!(matches!(
            s.create_user("carol", None, false, 5),
            Err(Error::UserExists { .. })
        ));
        let rec = s.get_user("carol").unwrap().unwrap();
        assert_eq!((rec.name.as_str(), rec.created_at), ("carol", 5));
        assert!(s.get_user("nobody").unwrap().is_none());
        assert!(s
            .verify_password("carol", "hunter2 is long")
            .unwrap()
            .is_some());
        assert!(s.verify_password("carol", "wrong").unwrap().is_none());
        assert!(s
            .verify_password("nobody", "hunter2 is long")
            .unwrap()
            .is_none());
        s.set_password("carol", auth::hash_password("another one").unwrap())
            .unwrap();
        assert!(s
            .verify_password("carol", "hunter2 is long")
            .unwrap()
            .is_none());
        assert!(s.verify_password("carol", "another one").unwrap().is_some());
        assert!(matches!(
            s.set_password("nobody", String::new()),
            Err(Error::NoSuchUser { .. })
        ));
        assert_eq!(s.lookup_budget("carol").unwrap(), None);
        s.set_lookup_budget("carol", Some(7)).unwrap();
        assert_eq!(s.lookup_budget("carol").unwrap(), Some(7));
        s.set_lookup_budget("carol", None).unwrap();
        assert_eq!(s.lookup_budget("carol").unwrap(), None);
        // Admin rights: granted, and withdrawn while another admin remains.
        s.create_user("root", None, true, 5).unwrap();
        s.set_admin("carol", true).unwrap();
        assert!(s.get_user("carol").unwrap().unwrap().is_admin);
        s.set_admin("root", false).unwrap();
        assert!(!s.get_user("root").unwrap().unwrap().is_admin);
        assert!(matches!(s.set_admin("carol", false), Err(Error::LastAdmin)));
        // Withdrawing rights from a user who has none changes nothing.
        s.set_admin("root", false).unwrap();
        assert!(matches!(
            s.delete_user("nobody"),
            Err(Error::NoSuchUser { .. })
        ));
        s.delete_user("root").unwrap();
        assert!(s.get_user("root").unwrap().is_none());
    }

    #[test]
    fn a_token_names_its_user_by_a_public_id() {
        let (_d, s) = store();
        s.create_user("bob", None, false, 1).unwrap();
        let (secret, info) = s
            .create_token("bob", "ci", Scope::Write, Some(10), 1)
            .unwrap();
        let hash = token_hash(&secret);
        assert_eq!(info.id, hex::encode(&hash[..8]));
        assert_eq!(token_id(&hash), info.id);
        assert_eq!(token_id(&[0xab; 32]), "abababababababab");
        // Expiry is not asked here.
        let (user, token) = s.user_for_token(&secret).unwrap().unwrap();
        assert_eq!((user.name.as_str(), token.name.as_str()), ("bob", "ci"));
        assert!(s.user_for_token("gs_unknown").unwrap().is_none());
    }

    #[test]
    fn memberships_token_uses_and_views_stay_with_their_own_names() {
        let (_d, s) = store();
        for u in ["bob", "rita"] {
            s.create_user(u, None, false, 1).unwrap();
        }
        assert_eq!(s.user_count().unwrap(), 2);
        s.create_org("acme", Visibility::Public, 1).unwrap();
        s.create_org("acmez", Visibility::Private, 1).unwrap();
        s.set_member("acme", "bob", Scope::Write, 1).unwrap();
        s.set_member("acmez", "rita", Scope::Read, 1).unwrap();
        s.set_member("acme", "rita", Scope::Read, 1).unwrap();
        let members = |org: &str| -> Vec<String> {
            owner(&s, org).members.into_iter().map(|m| m.user).collect()
        };
        assert_eq!(members("acme"), ["bob", "rita"]);
        assert_eq!(members("acmez"), ["rita"]);
        assert!(s.remove_member("acme", "rita").unwrap());
        assert!(
            !s.remove_member("acme", "rita").unwrap(),
            "not a member any more"
        );
        assert_eq!(members("acme"), ["bob"]);
        // Deleting a user takes only that user's memberships and tokens.
        let (bobs, _) = s.create_token("bob", "b", Scope::Write, None, 1).unwrap();
        let (secret, _) = s.create_token("rita", "t", Scope::Read, None, 1).unwrap();
        s.delete_user("bob").unwrap();
        assert!(members("acme").is_empty());
        assert_eq!(members("acmez"), ["rita"]);
        assert_eq!(s.check_token(&bobs, 1).unwrap(), TokenCheck::Unknown);
        assert!(matches!(
            s.check_token(&secret, 1).unwrap(),
            TokenCheck::Valid { .. }
        ));
        // Public or not, as seen by anyone.
        assert_eq!(
            s.namespace_view("acme", None).unwrap(),
            (Access::Read, true)
        );
        assert_eq!(
            s.namespace_view("acmez", None).unwrap(),
            (Access::None, false)
        );
        assert!(!s.namespace_view("nobody", None).unwrap().1);
        // A token's last use only moves forward.
        let hash = token_hash(&secret);
        let last = || s.list_tokens("rita").unwrap()[0].last_used;
        s.record_token_use(&[]).unwrap();
        assert_eq!(last(), None);
        s.record_token_use(&[(hash, 50), ([9; 32], 60)]).unwrap();
        assert_eq!(last(), Some(50));
        s.record_token_use(&[(hash, 40)]).unwrap();
        assert_eq!(last(), Some(50));
        s.record_token_use(&[(hash, 70)]).unwrap();
        assert_eq!(last(), Some(70));
    }

    #[test]
    fn making_a_namespace_private_asks_only_for_its_own_paths() {
        let (_d, s) = store();
        s.sumdb_open(
            None,
            "shelf.test/sumdb",
            [7; 32],
            super::super::sumdb::Readers::Anyone,
        )
        .unwrap();
        s.create_org("acme", Visibility::Public, 1).unwrap();
        s.create_org("acmez", Visibility::Public, 1).unwrap();
        super::super::put_test_module(&s, "acmez", "other.example/x", "v1.0.0", "h1:o=", b"o")
            .unwrap();
        super::super::put_test_module(&s, "acme", "corp.example/y", "v1.0.0", "h1:c=", b"c")
            .unwrap();
        s.private_add(["corp.example"]).unwrap();
        let private = OwnerUpdate {
            visibility: Some(Visibility::Private),
            quota_bytes: None,
            quota_versions: None,
        };
        // acmez's path is no concern of acme's.
        s.update_owner("acme", &private).unwrap();
        match s.update_owner("acmez", &private) {
            Err(Error::PrivateUncovered { module, suggestion }) => {
                assert_eq!(
                    (module.as_str(), suggestion.as_str()),
                    ("other.example/x", "other.example")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.namespace_view("acmez", None).unwrap(),
            (Access::Read, true),
            "unchanged"
        );
    }
}
