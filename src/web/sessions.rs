//! Sign-in sessions, in memory only: a restart signs everyone out. The cookie carries a random
//! id; the map is keyed by its SHA-256, so a memory dump does not yield usable cookies.
//! Expiring (`SESSION_TTL`) and bounded per user (`MAX_SESSIONS_PER_USER`: a user's oldest
//! session goes first, so nobody can sign others out by signing in many times) and in all
//! (`MAX_SESSIONS`).
//!
//! A session is bound to its user's credentials when it began ([`credential_stamp`]: the
//! password hash and the admin flag): the UI checks the stamp on every request, so changing a
//! password, demoting or removing the user ends every session of theirs at once, however the
//! change was made (API, web, or the CLI on a stopped server).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::store::UserRecord;

/// How long a session lasts, in seconds.
pub const SESSION_TTL: i64 = 7 * 24 * 3600;
/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;
/// Most sessions one user has at once.
pub const MAX_SESSIONS_PER_USER: usize = 16;
/// The cookie's name.
pub const COOKIE: &str = "goshelf_session";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub expires_at: i64,
    /// Sent back in every form of this session (CSRF token).
    pub csrf: String,
    /// The user's `credential_stamp` when the session began.
    pub stamp: [u8; 32],
}

/// What a session's validity depends on: the user's name, creation time, password hash and
/// admin flag. A change to any of them ends the sessions stamped before it.
#[must_use]
pub fn credential_stamp(user: &UserRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.name.as_bytes());
    h.update([0]);
    h.update(user.created_at.to_be_bytes());
    h.update([u8::from(user.is_admin)]);
    if let Some(phc) = &user.password {
        h.update([1]);
        h.update(phc.as_bytes());
    }
    h.finalize().into()
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session for `user` with their credentials' `stamp`; returns the cookie value
    /// (shown to the browser only).
    pub fn create(&self, user: &str, stamp: [u8; 32], now: i64) -> String {
        let id = random_hex();
        let session = Session {
            user: user.to_owned(),
            expires_at: now + SESSION_TTL,
            csrf: random_hex(),
            stamp,
        };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.expires_at > now);
        loop {
            let mut theirs: Vec<([u8; 32], i64)> = map
                .iter()
                .filter(|(_, s)| s.user == user)
                .map(|(k, s)| (*k, s.expires_at))
                .collect();
            if theirs.len() < MAX_SESSIONS_PER_USER {
                break;
            }
            theirs.sort_by_key(|(_, expires)| *expires);
            map.remove(&theirs[0].0);
        }
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k)
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(key(&id), session);
        id
    }

    /// The live session for a cookie value.
    #[must_use]
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let k = key(id);
        match map.get(&k) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&key(id));
    }

    /// How many live sessions `user` has.
    #[must_use]
    pub fn count_of(&self, user: &str) -> usize {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().filter(|s| s.user == user).count()
    }
}

/// The value of cookie `name` in a `Cookie` header.
#[must_use]
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_removed() {
        let s = Sessions::default();
        let id = s.create("alice", [1; 32], 1_000);
        assert_eq!(s.get(&id, 1_001).map(|x| x.user), Some("alice".into()));
        assert_eq!(s.get(&id, 1_001).map(|x| x.stamp), Some([1; 32]));
        assert!(s.get("other", 1_001).is_none());
        assert!(s.get(&id, 1_000 + SESSION_TTL).is_none());
        let id = s.create("alice", [1; 32], 1_000);
        s.remove(&id);
        assert!(s.get(&id, 1_001).is_none());
    }

    #[test]
    fn one_user_signing_in_again_and_again_evicts_only_their_own_sessions() {
        let s = Sessions::default();
        let bob = s.create("bob", [2; 32], 1_000);
        let first = s.create("mallory", [3; 32], 1_000);
        for i in 0..10_000 {
            s.create("mallory", [3; 32], 1_001 + i);
        }
        assert_eq!(s.count_of("mallory"), MAX_SESSIONS_PER_USER);
        assert!(
            s.get(&first, 20_000).is_none(),
            "mallory's oldest went first"
        );
        assert_eq!(
            s.get(&bob, 20_000).map(|x| x.user),
            Some("bob".into()),
            "bob is still signed in"
        );
    }

    #[test]
    fn the_stamp_changes_with_the_password_and_the_admin_flag() {
        let user = UserRecord {
            name: "alice".into(),
            is_admin: true,
            created_at: 7,
            password: Some("$argon2id$v=19$one".into()),
            lookup_budget: None,
        };
        let stamp = credential_stamp(&user);
        assert_eq!(stamp, credential_stamp(&user.clone()));
        let mut changed = user.clone();
        changed.password = Some("$argon2id$v=19$two".into());
        assert_ne!(credential_stamp(&changed), stamp);
        let mut demoted = user.clone();
        demoted.is_admin = false;
        assert_ne!(credential_stamp(&demoted), stamp);
        let mut recreated = user.clone();
        recreated.created_at = 8;
        assert_ne!(credential_stamp(&recreated), stamp);
        let mut no_password = user;
        no_password.password = None;
        assert_ne!(credential_stamp(&no_password), stamp);
    }

    #[test]
    fn cookie_value_finds_the_named_cookie() {
        assert_eq!(
            cookie_value("a=1; goshelf_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", COOKIE), None);
    }
}
