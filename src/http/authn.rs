//! Who is asking: turns an `Authorization` header into a `Principal`, slows down addresses that
//! keep failing, remembers recent password checks, and batches tokens' last-used times.
//!
//! Password checks (argon2id, 19 MiB and tens of milliseconds each) are the one expensive
//! thing an anonymous client can ask for, so they are bounded three ways:
//! - at most as many run at once as there are CPU cores (`AppState::checks`, a pool of
//!   threads of its own), so a flood costs queueing, not memory;
//! - an address is charged one failure *before* its check runs, and gets it back when the
//!   password was right: a burst of N wrong guesses costs at most `auth_failures_per_minute`
//!   checks, and the rest are answered 429 at once;
//! - concurrent checks of the same user and password share one run (`inflight`), so a go
//!   command that opens 300 connections with one correct password costs one check and no
//!   charge beyond it.
//!
//! Web sign-ins are also rate-limited per address whether they succeed or not (`signins`).
//!
//! Secrets never reach a log line: errors name no token and no password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{header, HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{blocking, AppState};
use crate::auth::{self, Credentials, Principal, Scope};
use crate::store::{self, TokenCheck, UserRecord};

/// The client's address, put into each request's extensions by the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

/// How long a verified password is remembered (so a go command fetching 300 modules with
/// `user:password` costs one argon2 run, not 300).
const PASSWORD_CACHE_TTL: Duration = Duration::from_secs(600);
/// Most remembered password checks; the cache is emptied when it is full.
const PASSWORD_CACHE_MAX: usize = 1024;
/// Most addresses tracked by a limiter; fully recovered ones are dropped first.
const FAILURE_TABLE_MAX: usize = 4096;

/// The outcome of one password check, shared by the requests that waited for it: the user
/// when the password was right, `None` when it was not (or no such user), or the text of a
/// storage error.
type Checked = Result<Option<UserRecord>, Arc<str>>;

/// Per-process authentication state.
pub struct AuthState {
    /// Failed authentications per address.
    failures: Limiter,
    /// Web sign-ins per address, whatever their outcome.
    signins: Limiter,
    /// Random per process: cache keys say nothing about passwords outside this process.
    salt: [u8; 32],
    passwords: Mutex<HashMap<[u8; 32], CachedPassword>>,
    inflight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::OnceCell<Checked>>>>,
    token_uses: Mutex<HashMap<[u8; 32], i64>>,
}

struct CachedPassword {
    user: String,
    /// The PHC string the password matched: a password change invalidates the entry.
    phc: String,
    until: Instant,
}

/// A leaky bucket per address: each charge adds one, one leaks out every `refill`; at `burst`
/// the address must wait.
struct Limiter {
    /// Charges an address may make at once; 0 disables the limit.
    burst: u32,
    /// How long one charge takes to be forgiven.
    refill: Duration,
    table: Mutex<HashMap<IpAddr, Level>>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    level: f64,
    at: Instant,
}

impl Level {
    fn at(&self, now: Instant, refill: Duration) -> f64 {
        let leaked = now.duration_since(self.at).as_secs_f64() / refill.as_secs_f64();
        (self.level - leaked).max(0.0)
    }
}

impl Limiter {
    fn new(per_minute: u32) -> Self {
        Self {
            burst: per_minute,
            refill: Duration::from_secs(60) / per_minute.max(1),
            table: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Level>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `ip` must wait before it may be charged again, if at all.
    fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = super::budget::network_of(ip);
        if self.burst == 0 {
            return None;
        }
        let level = self.lock().get(&ip)?.at(now, self.refill);
        self.wait(level)
    }

    fn wait(&self, level: f64) -> Option<Duration> {
        // `burst` charges in a row are allowed; after them the address waits until one has
        // leaked out.
        let allowed = f64::from(self.burst) - 1.0;
        (level > allowed).then(|| self.refill.mul_f64(level - allowed))
    }

    /// Charges `ip` one unit, unless it must wait first (then how long, and nothing charged).
    fn charge(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let ip = super::budget::network_of(ip);
        if self.burst == 0 {
            return Ok(());
        }
        let refill = self.refill;
        let mut table = self.lock();
        if let Some(wait) = table.get(&ip).and_then(|l| self.wait(l.at(now, refill))) {
            return Err(wait);
        }
        if table.len() >= FAILURE_TABLE_MAX {
            table.retain(|_, l| l.at(now, refill) > 0.0);
            if table.len() >= FAILURE_TABLE_MAX {
                // Still full: a flood from many addresses. Forget the calmest half.
                let mut levels: Vec<f64> = table.values().map(|l| l.at(now, refill)).collect();
                levels.sort_by(f64::total_cmp);
                let median = levels.get(levels.len() / 2).copied().unwrap_or(0.0);
                table.retain(|_, l| l.at(now, refill) > median);
            }
        }
        let entry = table.entry(ip).or_insert(Level {
            level: 0.0,
            at: now,
        });
        entry.level = entry.at(now, refill) + 1.0;
        entry.at = now;
        Ok(())
    }

    /// Gives back one charge (the password was right after all).
    fn refund(&self, ip: IpAddr, now: Instant) {
        let ip = super::budget::network_of(ip);
        if self.burst == 0 {
            return;
        }
        let refill = self.refill;
        if let Some(l) = self.lock().get_mut(&ip) {
            l.level = (l.at(now, refill) - 1.0).max(0.0);
            l.at = now;
        }
    }

    /// Records one failure after the fact (a cheap check that failed): like `charge`, but
    /// never refused.
    fn record(&self, ip: IpAddr, now: Instant) {
        let ip = super::budget::network_of(ip);
        if self.burst == 0 {
            return;
        }
        let refill = self.refill;
        let mut table = self.lock();
        if table.len() >= FAILURE_TABLE_MAX && !table.contains_key(&ip) {
            table.retain(|_, l| l.at(now, refill) > 0.0);
        }
        if table.len() < FAILURE_TABLE_MAX || table.contains_key(&ip) {
            let entry = table.entry(ip).or_insert(Level {
                level: 0.0,
                at: now,
            });
            entry.level = entry.at(now, refill) + 1.0;
            entry.at = now;
        }
    }
}

impl AuthState {
    /// State allowing `per_minute` failed authentications (and web sign-ins) per address per
    /// minute (0: any).
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self {
            failures: Limiter::new(per_minute),
            signins: Limiter::new(per_minute),
            salt: rand::random(),
            passwords: Mutex::default(),
            inflight: Mutex::default(),
            token_uses: Mutex::default(),
        }
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

/// What an address that must wait is told.
fn too_many_text(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    format!("too many failed sign-ins from this address; try again in {secs} s")
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, too_many_text(wait)).with_header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("60")),
    )
}

/// Why a credential check failed, before it becomes an answer.
enum Denied {
    /// Wrong, unknown or expired credentials: a failure of the address (already charged for
    /// it when the flag says so: the password check that ran was this request's).
    Credentials(auth::Error, bool),
    /// The address must wait (charged before a password check).
    Wait(Duration),
    /// Not the client's fault (storage).
    Other(ApiError),
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Credentials(e, _) => e.into(),
            Denied::Wait(w) => too_many(w),
            Denied::Other(e) => e,
        }
    }
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
    let ip = peer.map(|p| p.0);
    if let Some(wait) = ip.and_then(|ip| state.auth.failures.blocked_for(ip, now)) {
        return Err(too_many(wait));
    }
    match check(state, value, ip).await {
        Ok(p) => Ok(Some(p)),
        Err(Denied::Credentials(e, charged)) => {
            if let Some(ip) = ip {
                if !charged {
                    state.auth.failures.record(ip, now);
                }
                tracing::info!(target: "goshelf::auth", peer = %ip, "failed authentication: {e}");
            }
            Err(e.into())
        }
        Err(other) => Err(other.into()),
    }
}

/// Why a web UI sign-in failed.
#[derive(Debug)]
pub enum SignInError {
    /// A wrong user name or password (the address is charged for it).
    Wrong,
    /// The address failed, or signed in, too often: it must wait. The text says how long.
    Wait(String),
    /// Not the client's fault (storage).
    Failed(ApiError),
}

/// A web UI sign-in with user name and password only (a token is not a password here), under
/// the same per-address failure limit as the API, and at most `auth_failures_per_minute`
/// sign-ins per address per minute whatever their outcome.
///
/// # Errors
/// `Wrong` for a wrong user name or password; `Wait` for an address that failed (or signed
/// in) too often; `Failed` for storage errors.
pub async fn sign_in_password(
    state: &AppState,
    user: &str,
    password: &str,
    peer: Option<Peer>,
) -> Result<Principal, SignInError> {
    let now = Instant::now();
    let ip = peer.map(|p| p.0);
    if let Some(ip) = ip {
        if let Some(wait) = state.auth.failures.blocked_for(ip, now) {
            return Err(SignInError::Wait(too_many_text(wait)));
        }
        state
            .auth
            .signins
            .charge(ip, now)
            .map_err(|w| SignInError::Wait(too_many_text(w)))?;
    }
    match check_password(state, user.to_ascii_lowercase(), password.to_owned(), ip).await {
        Ok(p) => Ok(p),
        Err(Denied::Credentials(e, charged)) => {
            if let Some(ip) = ip {
                if !charged {
                    state.auth.failures.record(ip, now);
                }
                tracing::info!(target: "goshelf::auth", peer = %ip, "failed web sign-in: {e}");
            }
            Err(SignInError::Wrong)
        }
        Err(Denied::Wait(w)) => Err(SignInError::Wait(too_many_text(w))),
        Err(Denied::Other(e)) => Err(SignInError::Failed(e)),
    }
}

async fn check(
    state: &AppState,
    value: &HeaderValue,
    ip: Option<IpAddr>,
) -> Result<Principal, Denied> {
    let value = value
        .to_str()
        .map_err(|_| Denied::Credentials(auth::Error::Malformed, false))?;
    let creds = auth::parse_authorization(value).map_err(|e| Denied::Credentials(e, false))?;
    let secret = creds.secret().to_owned();
    let store = Arc::clone(&state.store);
    let unix = store::now_unix();
    let found = blocking(move || store.check_token(&secret, unix))
        .await
        .map_err(Denied::Other)?;
    let claimed = creds.claimed_user().map(str::to_ascii_lowercase);
    match found {
        TokenCheck::Valid { user, token, hash } => {
            if claimed.as_ref().is_some_and(|u| *u != user.name) {
                return Err(Denied::Credentials(auth::Error::InvalidCredentials, false));
            }
            state.auth.note_token_use(hash, unix);
            Ok(Principal {
                user: user.name,
                is_admin: user.is_admin,
                scope: token.scope(),
            })
        }
        TokenCheck::Expired => Err(Denied::Credentials(auth::Error::Expired, false)),
        TokenCheck::Unknown => match creds {
            Credentials::Basic { user, secret } => {
                check_password(state, user.to_ascii_lowercase(), secret, ip).await
            }
            Credentials::Token(_) => {
                Err(Denied::Credentials(auth::Error::InvalidCredentials, false))
            }
        },
    }
}

/// Checks a password (module docs: cached, single-flight, charged, bounded).
async fn check_password(
    state: &AppState,
    user: String,
    password: String,
    ip: Option<IpAddr>,
) -> Result<Principal, Denied> {
    let key = state.auth.password_key(&user, &password);
    let now = Instant::now();
    if let Some((cached_user, phc)) = state.auth.cached_password(&key, now) {
        let store = Arc::clone(&state.store);
        let rec = blocking(move || store.get_user(&cached_user))
            .await
            .map_err(Denied::Other)?;
        if let Some(rec) = rec.filter(|r| r.password.as_deref() == Some(phc.as_str())) {
            return Ok(principal(rec));
        }
    }
    let cell = {
        let mut inflight = state
            .auth
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(inflight.entry(key).or_default())
    };
    // Whoever runs the check removes the entry when it ends, also when its request is dropped
    // mid-check (a client that hung up), so that no entry outlives its check.
    let leader = Leader {
        state,
        key,
        led: std::sync::atomic::AtomicBool::new(false),
    };
    let checked = cell
        .get_or_init(|| {
            leader.led.store(true, std::sync::atomic::Ordering::Relaxed);
            run_check(state, user, password, ip, now)
        })
        .await
        .clone();
    let led = leader.led.load(std::sync::atomic::Ordering::Relaxed);
    drop(leader);
    match checked {
        Ok(Some(rec)) => {
            if let Some(phc) = &rec.password {
                state
                    .auth
                    .remember_password(key, rec.name.clone(), phc.clone(), now);
            }
            Ok(principal(rec))
        }
        // The one that ran the check was charged for it (`run_check`); those that shared it
        // were not.
        Ok(None) => Err(Denied::Credentials(
            auth::Error::InvalidCredentials,
            led && ip.is_some(),
        )),
        Err(why) if why.as_ref() == WAIT => {
            let wait = ip
                .and_then(|ip| state.auth.failures.blocked_for(ip, Instant::now()))
                .unwrap_or(Duration::from_secs(1));
            Err(Denied::Wait(wait))
        }
        Err(why) => Err(Denied::Other(ApiError::internal(
            "checking a password",
            &why,
        ))),
    }
}

/// The shared outcome of a check refused before it ran: the address must wait.
const WAIT: &str = "the address must wait";

/// The one run of a password check that concurrent requests with the same credentials share:
/// the address is charged first (and refunded when the password was right), then the check
/// waits for one of the `checks` permits and runs argon2 on the blocking pool.
async fn run_check(
    state: &AppState,
    user: String,
    password: String,
    ip: Option<IpAddr>,
    now: Instant,
) -> Checked {
    if let Some(ip) = ip {
        if state.auth.failures.charge(ip, now).is_err() {
            return Err(WAIT.into());
        }
    }
    let store = Arc::clone(&state.store);
    let found = state
        .checks
        .run(move || store.verify_password(&user, &password))
        .await;
    match found {
        Ok(Some(rec)) => {
            if let Some(ip) = ip {
                state.auth.failures.refund(ip, Instant::now());
            }
            Ok(Some(rec))
        }
        Ok(None) => Ok(None),
        Err(e) => {
            if let Some(ip) = ip {
                state.auth.failures.refund(ip, Instant::now());
            }
            Err(e.message.into())
        }
    }
}

/// Removes a shared password check's entry once the request that ran it is done with it.
struct Leader<'a> {
    state: &'a AppState,
    key: [u8; 32],
    led: std::sync::atomic::AtomicBool,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if self.led.load(std::sync::atomic::Ordering::Relaxed) {
            self.state
                .auth
                .inflight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.key);
        }
    }
}

fn principal(rec: UserRecord) -> Principal {
    Principal {
        user: rec.name,
        is_admin: rec.is_admin,
        scope: Scope::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password check whose request is dropped mid-check leaves no entry behind (a review
    /// found the entry of a dropped leader kept until the same credentials came again).
    #[tokio::test]
    async fn a_dropped_check_leaves_no_entry_behind() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::for_test(dir.path(), |_| {});
        let check = check_password(
            &state,
            "nobody".into(),
            "a guess of a password".into(),
            None,
        );
        // The check begins (its entry made, the argon2 work queued), then the client leaves.
        assert!(tokio::time::timeout(Duration::from_millis(1), check)
            .await
            .is_err());
        assert!(state.auth.inflight.lock().unwrap().is_empty());
        // A check run to its end leaves none either.
        let done = check_password(&state, "nobody".into(), "another guess".into(), None).await;
        assert!(
            matches!(done, Err(Denied::Credentials(..))),
            "{:?}",
            done.is_ok()
        );
        assert!(state.auth.inflight.lock().unwrap().is_empty());
    }

    #[test]
    fn failures_block_an_address_after_the_burst_and_leak_away() {
        let a = Limiter::new(10);
        let refill = Duration::from_secs(6);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..9 {
            a.record(ip, t0);
        }
        assert_eq!(a.blocked_for(ip, t0), None);
        a.record(ip, t0);
        let wait = a.blocked_for(ip, t0).unwrap();
        assert!(wait >= refill, "{wait:?}");
        assert_eq!(a.blocked_for(other, t0), None);
        // After one refill period the level is below the burst again.
        assert_eq!(
            a.blocked_for(ip, t0 + refill + Duration::from_millis(1)),
            None
        );
        let off = Limiter::new(0);
        for _ in 0..100 {
            off.record(ip, t0);
        }
        assert_eq!(off.blocked_for(ip, t0), None);
    }

    /// Failures from anywhere in one IPv6 /64 count together (a host may pick any address of
    /// its /64 for each guess); another /64 is another address.
    #[test]
    fn an_ipv6_slash_64_is_one_address_for_the_limiter() {
        let a = Limiter::new(10);
        let t0 = Instant::now();
        for i in 0..10u16 {
            let ip: IpAddr = format!("2001:db8:7:7::{i:x}").parse().unwrap();
            a.record(ip, t0);
        }
        let elsewhere_in_it: IpAddr = "2001:db8:7:7:dead:beef::1".parse().unwrap();
        assert!(a.blocked_for(elsewhere_in_it, t0).is_some());
        assert!(a.charge(elsewhere_in_it, t0).is_err());
        let next_net: IpAddr = "2001:db8:7:8::1".parse().unwrap();
        assert_eq!(a.blocked_for(next_net, t0), None);
        // A refund from any address of the /64 gives its one charge back to all of it.
        a.refund(elsewhere_in_it, t0);
        assert_eq!(a.blocked_for("2001:db8:7:7::1".parse().unwrap(), t0), None);
    }

    #[test]
    fn a_charge_is_refused_past_the_burst_and_a_refund_gives_it_back() {
        let a = Limiter::new(10);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        // A burst of 300 charged at once: exactly the limit's worth gets through.
        let through = (0..300).filter(|_| a.charge(ip, t0).is_ok()).count();
        assert_eq!(through, 10);
        a.refund(ip, t0);
        assert!(a.charge(ip, t0).is_ok(), "a refund makes room for one");
        assert!(a.charge(ip, t0).is_err());
    }

    #[test]
    fn failure_table_stays_bounded_under_a_flood_of_addresses() {
        let a = Limiter::new(10);
        let t0 = Instant::now();
        for i in 0..(FAILURE_TABLE_MAX as u32 * 3) {
            a.record(IpAddr::from(i.to_be_bytes()), t0);
            a.charge(IpAddr::from(((i + 1) << 20).to_be_bytes()), t0)
                .ok();
        }
        let n = a.table.lock().unwrap().len();
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
