//! Who is asking: turns an `Authorization` header into a `Principal`, slows down addresses that
//! keep failing, remembers recent password checks, and batches tokens' last-used times.
//!
//! Secrets never reach a log line: errors name no token and no password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};

use super::error::ApiError;
use super::{blocking, AppState};
use crate::auth::{self, Credentials, Principal, Scope};
use crate::store::{self, TokenCheck};

/// The client's address, put into each request's extensions by `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

/// How long a verified password is remembered (so a go command fetching 300 modules with
/// `user:password` costs one argon2 run, not 300).
const PASSWORD_CACHE_TTL: Duration = Duration::from_secs(600);
/// Most remembered password checks; the cache is emptied when it is full.
const PASSWORD_CACHE_MAX: usize = 1024;
/// Most addresses tracked for failures; fully recovered ones are dropped first.
const FAILURE_TABLE_MAX: usize = 4096;

/// Per-process authentication state.
pub struct AuthState {
    /// Failures an address may make at once; 0 disables the limit.
    burst: u32,
    /// How long one failure takes to be forgiven.
    refill: Duration,
    /// Random per process: cache keys say nothing about passwords outside this process.
    salt: [u8; 32],
    passwords: Mutex<HashMap<[u8; 32], CachedPassword>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    token_uses: Mutex<HashMap<[u8; 32], i64>>,
}

struct CachedPassword {
    user: String,
    /// The PHC string the password matched: a password change invalidates the entry.
    phc: String,
    until: Instant,
}

/// A leaky bucket of failures: each failure adds one, one leaks out every `refill`; at `burst`
/// the address must wait.
#[derive(Debug, Clone, Copy)]
struct Failures {
    level: f64,
    at: Instant,
}

impl Failures {
    fn level_at(&self, now: Instant, refill: Duration) -> f64 {
        let leaked = now.duration_since(self.at).as_secs_f64() / refill.as_secs_f64();
        (self.level - leaked).max(0.0)
    }
}

impl AuthState {
    /// State allowing `per_minute` failed authentications per address per minute (0: any).
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self {
            burst: per_minute,
            refill: Duration::from_secs(60) / per_minute.max(1),
            salt: rand::random(),
            passwords: Mutex::default(),
            failures: Mutex::default(),
            token_uses: Mutex::default(),
        }
    }
}

impl AuthState {
    /// How long `ip` must wait before its credentials are looked at again, if at all.
    fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.burst == 0 {
            return None;
        }
        let table = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let level = table.get(&ip)?.level_at(now, self.refill);
        // `burst` failures in a row are allowed; after them the address waits until one
        // has leaked out.
        let allowed = f64::from(self.burst) - 1.0;
        (level > allowed).then(|| self.refill.mul_f64(level - allowed))
    }

    fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.burst == 0 {
            return;
        }
        let refill = self.refill;
        let mut table = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= FAILURE_TABLE_MAX {
            table.retain(|_, f| f.level_at(now, refill) > 0.0);
            if table.len() >= FAILURE_TABLE_MAX {
                // Still full: a flood from many addresses. Forget the calmest half.
                let mut levels: Vec<f64> =
                    table.values().map(|f| f.level_at(now, refill)).collect();
                levels.sort_by(f64::total_cmp);
                let median = levels.get(levels.len() / 2).copied().unwrap_or(0.0);
                table.retain(|_, f| f.level_at(now, refill) > median);
            }
        }
        let entry = table.entry(ip).or_insert(Failures {
            level: 0.0,
            at: now,
        });
        entry.level = entry.level_at(now, refill) + 1.0;
        entry.at = now;
    }

    fn password_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn cached_password(&self, key: &[u8; 32], now: Instant) -> Option<(String, String)> {
        let cache = self
            .passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|c| c.until > now)
            .map(|c| (c.user.clone(), c.phc.clone()))
    }

    fn remember_password(&self, key: [u8; 32], user: String, phc: String, now: Instant) {
        let mut cache = self
            .passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= PASSWORD_CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            key,
            CachedPassword {
                user,
                phc,
                until: now + PASSWORD_CACHE_TTL,
            },
        );
    }

    fn note_token_use(&self, hash: [u8; 32], at: i64) {
        self.token_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, at);
    }

    /// Takes the last-used times noted since the previous call.
    pub fn take_token_uses(&self) -> Vec<([u8; 32], i64)> {
        let mut map = self
            .token_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.drain().collect()
    }
}

/// Writes the batched last-used times of tokens to the store.
pub async fn flush_token_uses(state: &AppState) {
    let uses = state.auth.take_token_uses();
    if uses.is_empty() {
        return;
    }
    let store = Arc::clone(&state.store);
    if let Err(e) = blocking(move || store.record_token_use(&uses)).await {
        tracing::warn!("recording tokens' last use: {}", e.message);
    }
}

/// The principal of a request that must carry credentials.
///
/// # Errors
/// 401 for missing, malformed, unknown or expired credentials; 429 for an address that failed
/// too often.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<Principal, ApiError> {
    authenticate_optional(state, headers, peer)
        .await?
        .ok_or_else(|| auth::Error::MissingCredentials.into())
}

/// The principal of a request, `None` when it carries no credentials. Credentials that are
/// present must be right, even where anonymous access would do: a client with a wrong password
/// learns it at once.
///
/// # Errors
/// 401 for malformed, unknown or expired credentials; 429 for an address that failed too often.
pub async fn authenticate_optional(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let now = Instant::now();
    if let Some(Peer(ip)) = peer {
        if let Some(wait) = state.auth.blocked_for(ip, now) {
            let secs = wait.as_secs().max(1);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed sign-ins from this address; try again in {secs} s"),
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("60")),
            ));
        }
    }
    let result = check(state, value).await;
    if let (Err(e), Some(Peer(ip))) = (&result, peer) {
        if e.status == StatusCode::UNAUTHORIZED {
            state.auth.record_failure(ip, now);
            tracing::info!(target: "goshelf::auth", peer = %ip, "failed authentication: {}", e.message);
        }
    }
    result.map(Some)
}

/// A web UI sign-in with user name and password only (a token is not a password here), under
/// the same per-address failure limit as the API.
///
/// # Errors
/// 401 for a wrong user name or password; 429 for an address that failed too often.
pub async fn sign_in_password(
    state: &AppState,
    user: &str,
    password: &str,
    peer: Option<Peer>,
) -> Result<Principal, ApiError> {
    let now = Instant::now();
    if let Some(Peer(ip)) = peer {
        if let Some(wait) = state.auth.blocked_for(ip, now) {
            let secs = wait.as_secs().max(1);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed sign-ins from this address; try again in {secs} s"),
            ));
        }
    }
    let result = check_password(state, user.to_ascii_lowercase(), password.to_owned()).await;
    if let (Err(e), Some(Peer(ip))) = (&result, peer) {
        if e.status == StatusCode::UNAUTHORIZED {
            state.auth.record_failure(ip, now);
            tracing::info!(target: "goshelf::auth", peer = %ip, "failed web sign-in");
        }
    }
    result
}

async fn check(state: &AppState, value: &HeaderValue) -> Result<Principal, ApiError> {
    let value = value.to_str().map_err(|_| auth::Error::Malformed)?;
    let creds = auth::parse_authorization(value)?;
    let secret = creds.secret().to_owned();
    let store = Arc::clone(&state.store);
    let unix = store::now_unix();
    let found = blocking(move || store.check_token(&secret, unix)).await?;
    let claimed = creds.claimed_user().map(str::to_ascii_lowercase);
    match found {
        TokenCheck::Valid { user, token, hash } => {
            if claimed.as_ref().is_some_and(|u| *u != user.name) {
                return Err(auth::Error::InvalidCredentials.into());
            }
            state.auth.note_token_use(hash, unix);
            Ok(Principal {
                user: user.name,
                is_admin: user.is_admin,
                scope: token.scope(),
            })
        }
        TokenCheck::Expired => Err(auth::Error::Expired.into()),
        TokenCheck::Unknown => match creds {
            Credentials::Basic { user, secret } => {
                check_password(state, user.to_ascii_lowercase(), secret).await
            }
            Credentials::Token(_) => Err(auth::Error::InvalidCredentials.into()),
        },
    }
}

async fn check_password(
    state: &AppState,
    user: String,
    password: String,
) -> Result<Principal, ApiError> {
    let key = state.auth.password_key(&user, &password);
    let now = Instant::now();
    let store = Arc::clone(&state.store);
    if let Some((cached_user, phc)) = state.auth.cached_password(&key, now) {
        let rec = blocking(move || store.get_user(&cached_user)).await?;
        if let Some(rec) = rec.filter(|r| r.password.as_deref() == Some(phc.as_str())) {
            return Ok(Principal {
                user: rec.name,
                is_admin: rec.is_admin,
                scope: Scope::Write,
            });
        }
    }
    let store = Arc::clone(&state.store);
    let u = user.clone();
    let rec = blocking(move || store.verify_password(&u, &password)).await?;
    let rec = rec.ok_or(auth::Error::InvalidCredentials)?;
    if let Some(phc) = &rec.password {
        state
            .auth
            .remember_password(key, rec.name.clone(), phc.clone(), now);
    }
    Ok(Principal {
        user: rec.name,
        is_admin: rec.is_admin,
        scope: Scope::Write,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_an_address_after_the_burst_and_leak_away() {
        let a = AuthState::new(10);
        let refill = Duration::from_secs(6);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..9 {
            a.record_failure(ip, t0);
        }
        assert_eq!(a.blocked_for(ip, t0), None);
        a.record_failure(ip, t0);
        let wait = a.blocked_for(ip, t0).unwrap();
        assert!(wait >= refill, "{wait:?}");
        assert_eq!(a.blocked_for(other, t0), None);
        // After one refill period the level is below the burst again.
        assert_eq!(
            a.blocked_for(ip, t0 + refill + Duration::from_millis(1)),
            None
        );
        let off = AuthState::new(0);
        for _ in 0..100 {
            off.record_failure(ip, t0);
        }
        assert_eq!(off.blocked_for(ip, t0), None);
    }

    #[test]
    fn failure_table_stays_bounded_under_a_flood_of_addresses() {
        let a = AuthState::new(10);
        let t0 = Instant::now();
        for i in 0..(FAILURE_TABLE_MAX as u32 * 3) {
            a.record_failure(IpAddr::from(i.to_be_bytes()), t0);
        }
        let n = a.failures.lock().unwrap().len();
        assert!(n <= FAILURE_TABLE_MAX, "{n}");
    }

    #[test]
    fn password_cache_keys_depend_on_user_password_and_process_salt() {
        let a = AuthState::new(10);
        let b = AuthState::new(10);
        assert_ne!(a.password_key("bob", "pw"), a.password_key("bob", "pw2"));
        assert_ne!(a.password_key("bob", "pw"), a.password_key("bo", "bpw"));
        assert_ne!(a.password_key("bob", "pw"), b.password_key("bob", "pw"));
    }
}
