//! Sign-in sessions, in memory only: a restart signs everyone out. The cookie carries a random
//! id; the map is keyed by its SHA-256, so a memory dump does not yield usable cookies. Bounded
//! (`MAX_SESSIONS`, oldest evicted first) and expiring (`SESSION_TTL`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// How long a session lasts, in seconds.
pub const SESSION_TTL: i64 = 7 * 24 * 3600;
/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;
/// The cookie's name.
pub const COOKIE: &str = "goshelf_session";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub expires_at: i64,
    /// Sent back in every form of this session (CSRF token).
    pub csrf: String,
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
    /// Starts a session for `user`; returns the cookie value (shown to the browser only).
    pub fn create(&self, user: &str, now: i64) -> String {
        let id = random_hex();
        let session = Session {
            user: user.to_owned(),
            expires_at: now + SESSION_TTL,
            csrf: random_hex(),
        };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.expires_at > now);
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
        let id = s.create("alice", 1_000);
        assert_eq!(s.get(&id, 1_001).map(|x| x.user), Some("alice".into()));
        assert!(s.get("other", 1_001).is_none());
        assert!(s.get(&id, 1_000 + SESSION_TTL).is_none());
        let id = s.create("alice", 1_000);
        s.remove(&id);
        assert!(s.get(&id, 1_001).is_none());
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
