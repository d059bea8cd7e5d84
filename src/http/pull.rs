//! `/go` past the hosted modules: public modules fetched from the `upstream` proxies,
//! verified, kept, and served (proxy-cache.md; the client's side in its §1).
//!
//! - **Never upstream**: a path that is the shelf's (`Store::protected_roots`: hosted in an
//!   organisation or a non-public namespace, claimed, shared; or cached with credentials,
//!   whatever the settings say now), lies below one or above one (a proper prefix of a hosted
//!   path, such as `corp.example` for `corp.example/lib`: asking for it would name the
//!   private domain), or matches `private`, is answered from local data only, as a
//!   never-seen path that exists nowhere is answered at that moment, word for word (the 404;
//!   while the upstream fails, the same failure: `hidden`).
//! - **Only what was asked**: an `.info` or `.mod` miss fetches that version's `.info` and
//!   `.mod`; the `.mod` is verified against the version's record in the checksum database
//!   (fetched and verified from `upstream_sumdb` and appended to the shelf's own log, where it
//!   is not yet), then both are kept. The zip is fetched on its first `.zip` request, spooled
//!   to disk, checked by the upload rules, its h1 compared with the record's; only then kept.
//!   A failure is a 502 with the reason and a `SECURITY` log line, and nothing is kept.
//! - **Lists, `@latest`, queries** change upstream: they are asked again after `list_ttl`
//!   (remembered in memory, with a byte budget), the last copy served when the upstream
//!   fails; a list is the union of the upstream's and the cached versions.
//! - **Failures of a never-seen path** keep the go command's prefix search going: `list`,
//!   `@latest` and `.info` answer 404 (`no-store`) saying the upstream is unavailable; `.mod`
//!   and `.zip` answer 502/504, the message a user without an internet link then sees.
//! - **Single flight**: concurrent misses of one version, zip or list make one fetch
//!   (`pull::Flights`); every upstream GET holds a turn of `upstream_concurrency`.
//!
//! None of these answers is kept by the answer cache but the version files of cached
//! versions (immutable): the rest are marked [`Volatile`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::body::Response;
use super::budget::Requester;
use super::error::ApiError;
use super::metrics::Pull;
use super::AppState;
use crate::auth::Principal;
use crate::gomod::proxy::{select_latest, Request as ProxyRequest};
use crate::gomod::{hash, path as modpath, patterns, version};
use crate::ingest::{self, Spool};
use crate::pull::fetch::{self, Client, Failure, Sink};
use crate::pull::{Flights, Upstream};
use crate::store::sumdb::Logged;
use crate::store::{self, CachedRecord};

/// The most bytes of an upstream `.info` (and `@latest`, and a query).
const MAX_INFO: u64 = 64 << 10;
/// Of an upstream `list`.
const MAX_LIST: u64 = 4 << 20;
/// Of an upstream `.mod`.
const MAX_MOD: u64 = 16 << 20;
/// The memory lists, `@latest` answers and queries may take while remembered.
const REMEMBERED_BYTES: usize = 16 << 20;

/// Marks an answer the answer cache must not keep: it may change without a write to the
/// store (a list after `list_ttl`, an upstream back up).
#[derive(Clone, Copy, Debug)]
pub struct Volatile;

/// Why a fetch gave nothing.
#[derive(Debug, Clone)]
enum Miss {
    /// No upstream has it.
    NotFound,
    /// The upstream failed: the reason; a timeout (504) or not (502).
    Unavailable { reason: Arc<str>, timeout: bool },
    /// What it sent failed verification (502); logged as a `SECURITY` matter.
    Refused(Arc<str>),
    /// No turn at the upstream within `upstream_queue_timeout` (503).
    Busy,
    /// Past the requester's `sumdb_lookup_budget` or `sumdb_upstream_max_records` (503):
    /// the reason.
    OverBudget(Arc<str>),
    /// Our own failure (500; logged where it happened).
    Internal,
}

impl Miss {
    fn unavailable(reason: impl Into<Arc<str>>) -> Self {
        Miss::Unavailable {
            reason: reason.into(),
            timeout: false,
        }
    }

    fn internal(context: &str, e: &dyn std::fmt::Display) -> Self {
        tracing::error!("pull-through cache: {context}: {e}");
        Miss::Internal
    }
}

impl From<Failure> for Miss {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotFound => Miss::NotFound,
            Failure::Failed { reason, timeout } => Miss::Unavailable {
                reason: reason.into(),
                timeout,
            },
        }
    }
}

impl From<store::Error> for Miss {
    fn from(e: store::Error) -> Self {
        Miss::internal("storage", &e)
    }
}

/// What the shelf knows of the upstreams: the client, flights under way, and the answers
/// that change (remembered for `list_ttl`).
pub struct PullThrough {
    client: Client,
    upstreams: Vec<Upstream>,
    versions: Flights<Result<CachedRecord, Miss>>,
    zips: Flights<Result<Zipped, Miss>>,
    /// Zips verified and being stored, by `module@version`: served from their spools until
    /// their store commits (an entry goes after that).
    pending: Mutex<HashMap<String, Arc<Pending>>>,
    changing: Flights<Result<Bytes, Miss>>,
    remembered: Mutex<Remembered>,
    protected: Mutex<Option<(u64, Arc<Protected>)>>,
    /// The modules with a version fetched with credentials, read once: each stays private
    /// whatever the settings say now, so it is protected like a hosted root (the paths
    /// cached with credentials later are private by this process's settings anyway; one
    /// evicted stays protected until the next start).
    held_private: std::sync::OnceLock<Arc<Vec<String>>>,
    /// How the last walk of a public path over the public upstreams failed, if it did
    /// (`hidden` answers alike while it is recent).
    outage: Mutex<Option<Outage>>,
    /// `cache_max_bytes` (0: no cap), and the bytes of cached zips (set at start).
    cap: u64,
    cached_bytes: std::sync::atomic::AtomicU64,
    /// Room is made for one zip at a time (its bytes counted in `cached_bytes` before it is
    /// stored).
    storing: Mutex<()>,
    /// The name of the upstream checksum database the shelf proxies (`http::sumdb_proxy`).
    pub sumdb_name: Option<String>,
    /// The upstreams that need credentials (`upstream_private`), unless offline.
    private: Vec<crate::config::PrivateUpstream>,
    /// Only admins may read what came from it.
    private_admins: bool,
}

/// A zip fetched and verified, on its way into the store: its spool, and the cached version
/// as it is once stored (its zip's BLAKE3, size and `h1` set).
pub struct Pending {
    spool: Spool,
    rec: CachedRecord,
}

impl super::goproxy::Pieces for Pending {
    fn piece(&self, offset: u64, want: usize) -> std::io::Result<Bytes> {
        self.spool.piece(offset, want)
    }
}

/// A cached version's zip to serve: stored, or verified and being stored.
#[derive(Clone)]
enum Zipped {
    Stored(CachedRecord),
    Pending(Arc<Pending>),
}

impl Zipped {
    fn rec(&self) -> &CachedRecord {
        match self {
            Zipped::Stored(rec) => rec,
            Zipped::Pending(p) => &p.rec,
        }
    }
}

impl std::fmt::Debug for PullThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullThrough")
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

/// A failure of the public upstreams: when, which upstream, what followed its request URL
/// in the reason (`<url>: <cause>`), and whether it was a timeout.
#[derive(Debug, Clone)]
struct Outage {
    at: Instant,
    upstream: String,
    cause: String,
    timeout: bool,
}

/// The paths that never go upstream, as of one store generation.
struct Protected {
    roots: Vec<String>,
    patterns: String,
}

impl Protected {
    /// Whether `path` matches a pattern, or is at, below or above a root (`roots` sorted:
    /// each prefix of `path` is one binary search, and the roots below `path` start at the
    /// first one not before `path/`), or at, below or above an `uncovered` path.
    fn covers(&self, path: &str, uncovered: &[String]) -> bool {
        let sorted = &self.roots;
        let is_root = |p: &str| sorted.binary_search_by(|r| r.as_str().cmp(p)).is_ok();
        let prefix_is_root = path
            .match_indices('/')
            .map(|(i, _)| &path[..i])
            .chain(std::iter::once(path))
            .any(is_root);
        let below = format!("{path}/");
        let root_below = sorted
            .get(sorted.partition_point(|r| r.as_str() < below.as_str()))
            .is_some_and(|r| r.starts_with(&below));
        prefix_is_root
            || root_below
            || patterns::match_prefix_patterns(&self.patterns, path)
            || uncovered
                .iter()
                .any(|root| patterns::at_or_below(path, root) || patterns::at_or_below(root, path))
    }
}

/// An upstream answer that changes, with when it was fetched; `None`: the upstream said
/// not found.
struct Kept {
    at: Instant,
    body: Option<Bytes>,
}

#[derive(Default)]
struct Remembered {
    answers: HashMap<String, Kept>,
    bytes: usize,
}

impl Remembered {
    fn get(&self, key: &str) -> Option<&Kept> {
        self.answers.get(key)
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.answers.remove(key) {
            self.bytes -= Self::weight(key, &old.body);
        }
    }

    fn weight(key: &str, body: &Option<Bytes>) -> usize {
        key.len() + body.as_ref().map_or(0, Bytes::len) + 64
    }

    /// Keeps `body` for `key`; when over the budget, forgets everything first (the answers
    /// are asked again, nothing is lost).
    fn put(&mut self, key: &str, body: Option<Bytes>) {
        let w = Self::weight(key, &body);
        if w > REMEMBERED_BYTES {
            return;
        }
        self.remove(key);
        if self.bytes + w > REMEMBERED_BYTES {
            self.answers.clear();
            self.bytes = 0;
        }
        self.bytes += w;
        self.answers.insert(
            key.to_owned(),
            Kept {
                at: Instant::now(),
                body,
            },
        );
    }
}

impl PullThrough {
    /// The pull-through cache of `config`; it fetches nothing with `upstream = "off"` or
    /// `offline` (and still serves what it holds).
    ///
    /// # Errors
    /// An unreadable `upstream_ca_file`.
    pub fn new(config: &crate::config::Config) -> Result<Self, String> {
        let ca = match &config.upstream_ca_file {
            Some(p) => Some(
                std::fs::read(p).map_err(|e| format!("upstream_ca_file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let client = Client::new(
            fetch::Limits {
                connect: config.upstream_connect_timeout,
                idle: config.upstream_timeout,
                min_rate: config.upstream_min_rate,
            },
            ca.as_deref(),
        )?;
        Ok(Self {
            client,
            upstreams: if config.offline {
                Vec::new()
            } else {
                config.upstream.clone()
            },
            versions: Flights::default(),
            zips: Flights::default(),
            pending: Mutex::new(HashMap::new()),
            changing: Flights::default(),
            remembered: Mutex::new(Remembered::default()),
            protected: Mutex::new(None),
            held_private: std::sync::OnceLock::new(),
            outage: Mutex::new(None),
            cap: config.cache_max_bytes,
            cached_bytes: std::sync::atomic::AtomicU64::new(0),
            storing: Mutex::new(()),
            sumdb_name: super::sumdb_proxy::upstream_name(config),
            private: if config.offline {
                Vec::new()
            } else {
                config.upstream_private.clone()
            },
            private_admins: config.upstream_readers_admins,
        })
    }

    /// The HTTP client of every upstream request (the checksum database's too).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sets the bytes of cached zips (at start, from the store).
    pub fn set_cached_bytes(&self, n: u64) {
        self.cached_bytes
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The bytes of cached zips.
    #[must_use]
    pub fn cached_bytes(&self) -> u64 {
        self.cached_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the remembered list, `@latest`, queries and not-founds of `module`: the next
    /// request asks the upstream.
    pub fn forget(&self, module: &str) {
        let prefix = format!("{module}@");
        let mut r = self.remembered();
        let keys: Vec<String> = r
            .answers
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in keys {
            r.remove(&k);
        }
    }

    /// Makes room for a zip of `size` bytes under `cache_max_bytes`, dropping the least
    /// recently used cached zips. Blocking; the caller holds `storing`.
    ///
    /// # Errors
    /// A zip larger than the cap (a one-line reason); storage errors.
    fn make_room(&self, store: &store::Store, size: u64) -> Result<u64, String> {
        use std::sync::atomic::Ordering;
        if self.cap == 0 {
            return Ok(0);
        }
        if size > self.cap {
            return Err(format!(
                "the zip ({size} bytes) is larger than the cache's cap (cache_max_bytes = {})",
                self.cap
            ));
        }
        let used = self.cached_bytes.load(Ordering::Relaxed);
        if used + size <= self.cap {
            return Ok(0);
        }
        // Down to nine tenths of the cap, so that the scan of every cached version below
        // runs once per tenth of the cap fetched, not for every zip once the cache is full.
        let mut need = used + size - (self.cap - self.cap / 10);
        let all = store.cached_all().map_err(|e| e.to_string())?;
        let mut held: Vec<(i64, String, String, u64)> = all
            .into_iter()
            .filter_map(|(m, v, r)| Some((r.last_used.unwrap_or(r.fetched_at), m, v, r.size?)))
            .collect();
        held.sort();
        let mut victims = Vec::new();
        for (_, m, v, size) in held {
            if need == 0 {
                break;
            }
            need = need.saturating_sub(size);
            victims.push((m, v));
        }
        let freed = store
            .cache_evict_zips(&victims)
            .map_err(|e| e.to_string())?;
        self.cached_bytes
            .fetch_sub(freed.min(self.cached_bytes()), Ordering::Relaxed);
        tracing::info!(
            "pull-through cache: dropped {} zips ({freed} bytes) to stay under cache_max_bytes",
            victims.len()
        );
        Ok(victims.len() as u64)
    }

    /// The zip of `key` (`module@version`) verified and being stored, if it is.
    fn pending_zip(&self, key: &str) -> Option<Arc<Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Whether anything is fetched from the public upstreams.
    fn fetches(&self) -> bool {
        !self.upstreams.is_empty()
    }

    /// Whether `module` is fetched from the upstream that needs credentials (and from no
    /// other): it matches `upstream_private_paths`. Checked with the configuration, so an
    /// offline shelf still treats such paths as private.
    pub(super) fn is_private(&self, config: &crate::config::Config, module: &str) -> bool {
        config
            .upstream_private
            .iter()
            .any(|p| patterns::match_prefix_patterns(&p.paths, module))
    }

    /// Whether anything is fetched for `module`.
    fn fetches_for(&self, config: &crate::config::Config, module: &str) -> bool {
        if self.is_private(config, module) {
            !self.private.is_empty()
        } else {
            self.fetches()
        }
    }

    /// Whether `viewer` may read what came from the upstream that needs credentials.
    fn may_read_private(&self, viewer: Option<&Principal>) -> bool {
        viewer.is_some_and(|v| !self.private_admins || v.is_admin)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The 404 of a path that is not here, the same for one that exists nowhere and for one
/// that may not be asked upstream.
fn unknown(state: &AppState, module: &str) -> ApiError {
    let why = if state.config.offline {
        ": not cached (offline)"
    } else if !state.pull.fetches() {
        ": not cached (no upstream configured)"
    } else {
        ""
    };
    ApiError::not_found(format!("unknown module {module}{why}"))
}

/// The answer to a path nothing may be learnt of (kept from the upstreams, or fetched with
/// credentials for other viewers): what a never-seen path that exists nowhere gets now. That
/// is `unknown`'s 404, unless the last walk of a public path failed (within `negative_ttl`):
/// then the failure a never-seen path would get, its URL made for this request (a list's
/// for `list` and `@latest`, the `.info`'s for a version), so that an outage does not tell
/// these paths from the rest.
fn hidden(state: &AppState, req: &ProxyRequest, module: &str) -> ApiError {
    let outage = state
        .pull
        .outage
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .filter(|o| o.at.elapsed() < state.config.negative_ttl);
    let (Some(outage), Ok(m)) = (outage, modpath::escape_path(module)) else {
        return unknown(state, module);
    };
    let info = |v: &str| modpath::escape_version(v).map(|v| format!("{m}/@v/{v}.info"));
    let (tail, as_not_found) = match req {
        ProxyRequest::List { .. } | ProxyRequest::Latest { .. } => {
            (Ok(format!("{m}/@v/list")), true)
        }
        ProxyRequest::Info { version, .. } => (info(version), true),
        ProxyRequest::Mod { version, .. } | ProxyRequest::Zip { version, .. }
            if canonical(module, version) =>
        {
            (info(version), false)
        }
        _ => return unknown(state, module),
    };
    let Ok(tail) = tail else {
        return unknown(state, module);
    };
    let miss = Miss::Unavailable {
        reason: format!("{}/{tail}: {}", outage.upstream, outage.cause).into(),
        timeout: outage.timeout,
    };
    failed(state, module, &miss, as_not_found)
}

fn volatile(mut resp: Response) -> Response {
    resp.extensions_mut().insert(Volatile);
    resp
}

/// Answers a `/go` request for a module no namespace `/go` serves hosts (or none the viewer
/// may read).
pub async fn answer(
    state: &AppState,
    req: ProxyRequest,
    viewer: Option<&Principal>,
    head: bool,
    headers: &HeaderMap,
    requester: &Requester,
) -> Response {
    let answered: Result<Response, ApiError> = async {
        let module = match &req {
            ProxyRequest::List { module }
            | ProxyRequest::Latest { module }
            | ProxyRequest::Info { module, .. }
            | ProxyRequest::Mod { module, .. }
            | ProxyRequest::Zip { module, .. } => module.clone(),
            ProxyRequest::Sumdb { .. } => return Err(ApiError::not_found("not found")),
        };
        if modpath::check_path(&module).is_err() {
            return Err(unknown(state, &module));
        }
        // Paths of the upstream that needs credentials: only for the viewers `upstream_readers`
        // names (anyone else gets the 404 of a path that exists nowhere, and no upstream is
        // asked), every answer `private`; fetched from that upstream alone.
        let private = state.pull.is_private(&state.config, &module);
        if private {
            if !state.pull.may_read_private(viewer) {
                return Err(hidden(state, &req, &module));
            }
        } else if protected(state, &module).await? {
            return Err(hidden(state, &req, &module));
        }
        let mut resp =
            answer_files(state, req, module, private, (head, headers), requester).await?;
        if private {
            super::goproxy::make_private(&mut resp);
            resp.extensions_mut().insert(Volatile);
        } else if viewer.is_some() {
            // Every answer to a signed-in viewer at `/go` is `private`, as a hosted one is
            // (the same URL may answer another viewer from a private organisation).
            super::goproxy::make_private(&mut resp);
        }
        Ok(resp)
    }
    .await;
    answered.unwrap_or_else(|e| volatile(e.into_response()))
}

async fn answer_files(
    state: &AppState,
    req: ProxyRequest,
    module: String,
    private: bool,
    (head, headers): (bool, &HeaderMap),
    requester: &Requester,
) -> Result<Response, ApiError> {
    match req {
        ProxyRequest::List { .. } => list(state, &module).await,
        ProxyRequest::Latest { .. } => latest(state, &module, requester).await,
        ProxyRequest::Info { version, .. } if !canonical(&module, &version) => {
            query(state, &module, &version).await
        }
        ProxyRequest::Info { version, .. } => {
            let rec = version_files(state, &module, &version, (true, true), requester).await?;
            if rec.private && !private {
                return Err(unknown(state, &module));
            }
            Ok(super::goproxy::cached_info(&rec))
        }
        ProxyRequest::Mod { version, .. } => {
            if !canonical(&module, &version) {
                return Err(unknown(state, &module));
            }
            let rec = version_files(state, &module, &version, (false, true), requester).await?;
            if rec.private && !private {
                return Err(unknown(state, &module));
            }
            let bytes = state
                .store
                .cached_mod(&module, &version)?
                .ok_or_else(|| unknown(state, &module))?;
            Ok(super::goproxy::cached_mod(bytes))
        }
        ProxyRequest::Zip { version, .. } => {
            if !canonical(&module, &version) {
                return Err(unknown(state, &module));
            }
            let zipped = zip_files(state, &module, &version, requester).await?;
            // A version fetched with credentials stays private, whatever the patterns say now.
            if zipped.rec().private && !private {
                return Err(unknown(state, &module));
            }
            match zipped {
                Zipped::Stored(_) => {
                    super::goproxy::cached_zip(state, module, version, head, headers).await
                }
                Zipped::Pending(p) => {
                    let zip = super::goproxy::Spooled {
                        rec: &p.rec,
                        spool: Arc::clone(&p) as Arc<dyn super::goproxy::Pieces>,
                    };
                    super::goproxy::spooled_zip(state, module, version, zip, head, headers)
                }
            }
        }
        ProxyRequest::Sumdb { .. } => Err(ApiError::not_found("not found")),
    }
}

/// Whether `version` is a canonical version of `module` (a query otherwise: `master`, `v1`,
/// a commit).
fn canonical(module: &str, v: &str) -> bool {
    version::canonical_version(v).as_deref() == Some(v) && version::check(module, v).is_ok()
}

/// Whether `module` must never be asked of an upstream (module docs).
pub(super) async fn protected(state: &AppState, module: &str) -> Result<bool, ApiError> {
    let pull = &state.pull;
    // The credentialed upstream's paths go to it alone, never to a public one.
    if pull.is_private(&state.config, module) {
        return Ok(true);
    }
    let generation = state.store.generation();
    let known = pull
        .protected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .filter(|(g, _)| *g == generation)
        .map(|(_, p)| Arc::clone(p));
    let p = match known {
        Some(p) => p,
        None => {
            let store = Arc::clone(&state.store);
            let held = pull.held_private.get().cloned();
            let (p, held) = super::blocking(move || {
                let held = match held {
                    Some(h) => h,
                    None => Arc::new(store.cached_private_modules()?),
                };
                let mut roots = store.protected_roots()?;
                roots.extend(held.iter().cloned());
                roots.sort();
                roots.dedup();
                let p = Protected {
                    roots,
                    patterns: store.private_patterns()?,
                };
                Ok::<_, store::Error>((Arc::new(p), held))
            })
            .await?;
            let _ = pull.held_private.set(held);
            *pull
                .protected
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some((generation, Arc::clone(&p)));
            p
        }
    };
    Ok(p.covers(module, state.sumdb.uncovered()))
}

/// GETs `tail` (under each upstream's base) from the upstreams in order, as the go command
/// walks `GOPROXY`: the next one after a not-found, or after any error behind a `|`.
/// Returns the body and the upstream that sent it.
async fn get_small(
    state: &AppState,
    module: &str,
    tail: &str,
    cap: u64,
) -> Result<(Vec<u8>, String), Miss> {
    let mut body = Vec::new();
    let origin = walk(state, module, tail, cap, &mut body).await?;
    Ok((body, origin))
}

/// Where each attempt of a walk writes: afresh for each upstream tried.
trait Sinks: Send {
    fn fresh(&mut self) -> Result<&mut (dyn Sink + Send), Miss>;
}

impl Sinks for Vec<u8> {
    fn fresh(&mut self) -> Result<&mut (dyn Sink + Send), Miss> {
        self.clear();
        Ok(self)
    }
}

/// A new spool file for each attempt (the previous one is removed). Always a file, also for
/// a small zip (unlike an upload's, `ingest::SMALL_SPOOL`): what an upstream sends is streamed
/// to disk, never held in memory (issue 27's rule).
struct Spools {
    db: std::path::PathBuf,
    max: u64,
    spool: Option<Spool>,
}

impl Sinks for Spools {
    fn fresh(&mut self) -> Result<&mut (dyn Sink + Send), Miss> {
        self.spool = None;
        let fresh =
            Spool::create(&self.db, self.max).map_err(|e| Miss::internal("zip spool", &e))?;
        Ok(self.spool.insert(fresh))
    }
}

/// The upstreams `module` is asked of, in order, with the `Authorization` each gets: the one
/// that needs credentials alone for its paths, the public ones (without any) for the rest.
fn route(state: &AppState, module: &str) -> Vec<(Upstream, Option<String>)> {
    let pull = &state.pull;
    if pull.is_private(&state.config, module) {
        // The first whose paths match, alone.
        return pull
            .private
            .iter()
            .filter(|p| patterns::match_prefix_patterns(&p.paths, module))
            .take(1)
            .map(|p| {
                let up = Upstream {
                    url: p.url.clone(),
                    on_any_error: false,
                };
                (up, p.authorization())
            })
            .collect();
    }
    pull.upstreams.iter().map(|u| (u.clone(), None)).collect()
}

async fn walk(
    state: &AppState,
    module: &str,
    tail: &str,
    cap: u64,
    sinks: &mut dyn Sinks,
) -> Result<String, Miss> {
    let pull = &state.pull;
    let mut failure = None;
    let mut outage = None;
    for (up, token) in route(state, module) {
        let url = format!("{}/{tail}", up.url);
        let Some(turn) = state.upstream_turn().await else {
            return Err(Miss::Busy);
        };
        let got = pull
            .client
            .get(&url, cap, sinks.fresh()?, token.as_deref())
            .await;
        drop(turn);
        state.metrics.pull(Pull::Fetch);
        match got {
            Ok(n) => {
                state.metrics.pull_bytes(n);
                if !pull.is_private(&state.config, module) {
                    *pull.outage.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                return Ok(up.url);
            }
            Err(Failure::NotFound) => continue,
            Err(f) => {
                tracing::warn!("upstream: {f:?}");
                let miss = Miss::from(f);
                outage = match &miss {
                    Miss::Unavailable { reason, timeout } => reason
                        .strip_prefix(url.as_str())
                        .and_then(|r| r.strip_prefix(": "))
                        .map(|cause| Outage {
                            at: Instant::now(),
                            upstream: up.url.clone(),
                            cause: cause.to_owned(),
                            timeout: *timeout,
                        }),
                    _ => None,
                };
                failure = Some(miss);
                if !up.on_any_error {
                    break;
                }
            }
        }
    }
    if !pull.is_private(&state.config, module) {
        *pull.outage.lock().unwrap_or_else(PoisonError::into_inner) = outage;
    }
    // As the go command ranks them: a failure above a not-found.
    Err(failure.unwrap_or(Miss::NotFound))
}

fn escaped(module: &str, v: Option<&str>) -> Result<(String, String), ApiError> {
    let m = modpath::escape_path(module).map_err(|e| ApiError::not_found(e.to_string()))?;
    let v = match v {
        Some(v) => modpath::escape_version(v).map_err(|e| ApiError::not_found(e.to_string()))?,
        None => String::new(),
    };
    Ok((m, v))
}

/// The cached version `module@version` (its `.info` and `.mod`), fetched and verified on a
/// miss. `info` says which file was asked, for the status of a failure (module docs).
async fn version_files(
    state: &AppState,
    module: &str,
    version: &str,
    (info, count): (bool, bool),
    requester: &Requester,
) -> Result<CachedRecord, ApiError> {
    let count = |event| {
        if count {
            state.metrics.pull(event);
        }
    };
    if let Some(rec) = state.store.cached(module, version)? {
        count(Pull::Hit);
        return Ok(rec);
    }
    count(Pull::Miss);
    let pull = &state.pull;
    if !pull.fetches_for(&state.config, module) {
        return Err(unknown(state, module));
    }
    let key = format!("{module}@{version}");
    let negative = pull
        .remembered()
        .get(&key)
        .is_some_and(|k| k.body.is_none() && k.at.elapsed() < state.config.negative_version_ttl);
    if negative {
        return Err(unknown(state, module));
    }
    let (s, m, v, r) = (
        state.clone(),
        module.to_owned(),
        version.to_owned(),
        requester.clone(),
    );
    let got = pull
        .versions
        .run(
            &key,
            async move { counted(&s, fetch_version(&s, &m, &v, info, &r).await) },
            || Miss::Internal.into_err(),
            || Miss::Busy.into_err(),
        )
        .await;
    match got {
        Ok(rec) => Ok(rec),
        Err(Miss::NotFound) => {
            pull.remembered().put(&key, None);
            Err(unknown(state, module))
        }
        Err(miss) => {
            // A never-seen module's `.info` keeps the prefix search going (module docs).
            let never_seen = info && state.store.cached_versions(module)?.is_empty();
            Err(failed(state, module, &miss, never_seen))
        }
    }
}

/// `result`, counting a refusal once per fetch (not once per waiter).
fn counted<T>(state: &AppState, result: Result<T, Miss>) -> Result<T, Miss> {
    if matches!(result, Err(Miss::Refused(_))) {
        state.metrics.pull(Pull::Refused);
    }
    result
}

trait IntoErr<T> {
    fn into_err(self) -> Result<T, Miss>;
}

impl<T> IntoErr<T> for Miss {
    fn into_err(self) -> Result<T, Miss> {
        Err(self)
    }
}

/// The answer to a failed fetch: 404 (`no-store`) where the go command must go on with its
/// prefix search, else 502/504/503 with the reason.
fn failed(state: &AppState, module: &str, miss: &Miss, as_not_found: bool) -> ApiError {
    match miss {
        Miss::NotFound => unknown(state, module),
        Miss::Unavailable { reason, timeout } => {
            if as_not_found {
                ApiError::not_found(format!("upstream unavailable: {reason}"))
            } else if *timeout {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("upstream unavailable: {reason}"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("upstream unavailable: {reason}"),
                )
            }
        }
        Miss::Refused(why) => ApiError::new(StatusCode::BAD_GATEWAY, why.to_string()),
        Miss::Busy => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the upstream is busy: {} requests are under way; try again",
                state.config.upstream_concurrency
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
        Miss::OverBudget(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why.to_string())
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("3600")),
        Miss::Internal => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; see the server log",
        ),
    }
}

/// A refusal of what an upstream sent: logged as a `SECURITY` matter; nothing is stored.
fn refused(module: &str, version: &str, why: String) -> Miss {
    tracing::error!(
        "SECURITY: the upstream sent {module}@{version} in a form that failed verification; \
         nothing was stored: {why}"
    );
    Miss::Refused(format!("{module}@{version}: refused: {why}").into())
}

async fn fetch_version(
    state: &AppState,
    module: &str,
    version: &str,
    info_first: bool,
    requester: &Requester,
) -> Result<CachedRecord, Miss> {
    let (m, v) = escaped(module, Some(version)).map_err(|_| Miss::NotFound)?;
    let private = state.pull.is_private(&state.config, module);
    let pinned = pinned(state, module);
    let info_tail = format!("{m}/@v/{v}.info");
    let mod_tail = format!("{m}/@v/{v}.mod");
    let logged = async {
        if pinned {
            Ok(None)
        } else {
            record(state, module, version, requester).await.map(Some)
        }
    };
    // An `.info` miss asks for the `.info` alone first: such misses are mostly versions
    // that exist nowhere (queries of the go command's searches), and should cost the
    // upstream one request. A `.mod` or `.zip` miss names a version the client's graph
    // requires: its three answers are asked at once (one round trip, not two, on the path
    // of every cold build).
    let ((info, origin), (go_mod, _), logged) = if info_first {
        let info = get_small(state, module, &info_tail, MAX_INFO).await?;
        let (go_mod, logged) = tokio::join!(get_small(state, module, &mod_tail, MAX_MOD), logged);
        (info, go_mod?, logged)
    } else {
        let (info, go_mod, logged) = tokio::join!(
            get_small(state, module, &info_tail, MAX_INFO),
            get_small(state, module, &mod_tail, MAX_MOD),
            logged
        );
        // Not found anywhere wins over what the other answers say.
        (info?, go_mod?, logged)
    };
    let time = check_info(&info, version).map_err(|why| refused(module, version, why))?;
    let mod_h1 = hash::hash_go_mod(&go_mod);
    let h1 = match logged? {
        None => None,
        Some((zip_h1, logged_mod_h1)) => {
            if logged_mod_h1 != mod_h1 {
                return Err(refused(
                    module,
                    version,
                    format!(
                        "its go.mod hashes to {mod_h1}, the checksum database says \
                         {logged_mod_h1}"
                    ),
                ));
            }
            Some(zip_h1)
        }
    };
    let rec = CachedRecord {
        info: String::from_utf8_lossy(&info).into_owned(),
        time,
        mod_h1,
        h1,
        blake3: None,
        size: None,
        fetched_at: store::now_unix(),
        origin,
        private,
        last_used: None,
    };
    let store = Arc::clone(&state.store);
    let (mo, ve) = (module.to_owned(), version.to_owned());
    super::blocking(move || store.cache_put_meta(&mo, &ve, &rec, &go_mod))
        .await
        .map_err(|e| Miss::internal("storing a cached version", &e.message))
}

/// Whether `module`'s content is pinned at its first fetch instead of verified against a
/// checksum database: it matches `upstream_nosumdb`, or it is a credentialed upstream's
/// (whose paths are never asked of a checksum database) and that upstream's own log is not
/// read with `upstream_sumdb_token` (the chain case: a central goshelf with sumdb_readers =
/// signed-in logs its private modules, which are then verified there like any other).
fn pinned(state: &AppState, module: &str) -> bool {
    nosumdb(state, module)
        || (state.pull.is_private(&state.config, module)
            && state.config.upstream_sumdb_token.is_none())
}

/// Whether no checksum database may be asked about `module` (a lookup of the shelf's own log
/// that misses, the proxy of the upstream's): the paths `protected` keeps here, and content
/// no checksum database covers (`upstream_nosumdb`: like the go command's `GONOSUMDB`, it
/// keeps the paths from being sent to one).
pub(super) async fn never_looked_up(state: &AppState, module: &str) -> Result<bool, ApiError> {
    Ok(nosumdb(state, module) || protected(state, module).await?)
}

/// Whether `module` matches `upstream_nosumdb`: content no checksum database covers.
fn nosumdb(state: &AppState, module: &str) -> bool {
    patterns::match_prefix_patterns(&state.config.upstream_nosumdb, module)
}

/// An upstream `.info` for `version`: a JSON object whose `Version` is it; returns its
/// `Time` (Unix seconds, 0 without one).
pub(crate) fn check_info(body: &[u8], version: &str) -> Result<i64, String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
        #[serde(rename = "Time", default)]
        time: Option<String>,
    }
    let info: Info =
        serde_json::from_slice(body).map_err(|e| format!("its .info is not valid: {e}"))?;
    if info.version != version {
        return Err(format!("its .info names version {:?}", info.version));
    }
    Ok(info
        .time
        .and_then(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, time::OffsetDateTime::unix_timestamp))
}

/// The zip and go.mod hashes of `module@version` in the shelf's log, fetched from the
/// upstream checksum database (verified, appended) when the log lacks them.
async fn record(
    state: &AppState,
    module: &str,
    version: &str,
    requester: &Requester,
) -> Result<(String, String), Miss> {
    let lines = |text: &[u8]| {
        let hash = |v: &str| match crate::sumdb::lookup_lines(text, module, v).as_slice() {
            [line] => line.rsplit(' ').next().map(str::to_owned),
            _ => None,
        };
        hash(version).zip(hash(&format!("{version}/go.mod")))
    };
    if let Some((_, text)) = state.store.sumdb_record(module, version)? {
        return lines(text.as_bytes())
            .ok_or_else(|| refused(module, version, "its log record lacks a hash".into()));
    }
    let Some(upstream) = state.upstream.clone() else {
        return Err(refused(
            module,
            version,
            "no checksum database verifies it (upstream_sumdb is off and it does not match \
             upstream_nosumdb)"
                .into(),
        ));
    };
    // The record is charged to the requester, as a lookup miss of the shelf's own log is
    // (`sumdb_lookup_budget`): fetching modules through `/go` is the other way to make the
    // log grow forever.
    let hour = super::sumdb::this_hour();
    if let Some(why) = super::sumdb::refused_record(state, requester, hour)? {
        return Err(Miss::OverBudget(why.into()));
    }
    let Some(turn) = state.upstream_turn().await else {
        return Err(Miss::Busy);
    };
    let store = Arc::clone(&state.store);
    let (m, v) = (module.to_owned(), version.to_owned());
    let up = Arc::clone(&upstream);
    let fetched = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        up.fetch_record(&store, &m, &v)
    })
    .await
    .map_err(|e| Miss::internal("checksum database lookup", &e))?;
    // The record is appended without `fsync`: it becomes durable before anything of the log
    // is served (a lookup of it waits for that), or within `Store::settle`'s delay. The
    // `.mod` answer does not wait for it.
    match fetched {
        Ok(Some((logged, hashes))) => match logged {
            Logged::New(_) => {
                state.budgets.charge(&requester.who, hour);
                return Ok(hashes);
            }
            Logged::Same(_) => return Ok(hashes),
            // What the log holds decides (below).
            Logged::Conflict(_) | Logged::NotOwner | Logged::NeedsClaim(_) => {}
        },
        Ok(None) => {
            return Err(Miss::Refused(
                format!(
                    "{module}@{version}: not in the checksum database {}; refused",
                    upstream.name()
                )
                .into(),
            ))
        }
        Err(crate::http::upstream::Failure::Unreachable(why)) => {
            return Err(Miss::unavailable(format!(
                "checksum database {}: {why}",
                upstream.name()
            )))
        }
        Err(crate::http::upstream::Failure::Refused(why)) => {
            return Err(Miss::Refused(
                format!(
                    "{module}@{version}: the checksum database {} failed verification: {why}",
                    upstream.name()
                )
                .into(),
            ))
        }
    }
    let (_, text) = state
        .store
        .sumdb_record(module, version)?
        .ok_or_else(|| Miss::internal("checksum database", &"a fetched record is missing"))?;
    lines(text.as_bytes())
        .ok_or_else(|| refused(module, version, "its log record lacks a hash".into()))
}

impl Sink for Spool {
    fn put(&mut self, piece: &[u8]) -> Result<(), String> {
        self.append(piece).map_err(|e| e.to_string())
    }
}

/// The cached version with its zip, fetched and verified on a miss.
async fn zip_files(
    state: &AppState,
    module: &str,
    version: &str,
    requester: &Requester,
) -> Result<Zipped, ApiError> {
    let key = format!("{module}@{version}");
    // Before the store: a pending entry goes only after its store commits.
    if let Some(p) = state.pull.pending_zip(&key) {
        state.metrics.pull(Pull::Hit);
        return Ok(Zipped::Pending(p));
    }
    let rec = version_files(state, module, version, (false, false), requester).await?;
    if rec.blake3.is_some() {
        state.metrics.pull(Pull::Hit);
        return Ok(Zipped::Stored(rec));
    }
    state.metrics.pull(Pull::Miss);
    let pull = &state.pull;
    if !pull.fetches_for(&state.config, module) {
        return Err(unknown(state, module));
    }
    let (s, m, v, k) = (
        state.clone(),
        module.to_owned(),
        version.to_owned(),
        key.clone(),
    );
    let got = pull
        .zips
        .run(
            &key,
            async move {
                // A flight just ended may have left it pending, or stored.
                if let Some(p) = s.pull.pending_zip(&k) {
                    return Ok(Zipped::Pending(p));
                }
                match s.store.cached(&m, &v) {
                    Ok(Some(stored)) if stored.blake3.is_some() => {
                        return Ok(Zipped::Stored(stored))
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.into()),
                }
                counted(&s, fetch_zip(&s, (&m, &v, k), rec).await)
            },
            || Miss::Internal.into_err(),
            || Miss::Busy.into_err(),
        )
        .await;
    got.map_err(|miss| failed(state, module, &miss, false))
}

/// Fetches, checks and verifies the zip of `module@version` (`key`; its `.info` and `.mod` are
/// `rec`), makes room for it, and leaves it pending: served from its spool at once, stored
/// by a job of the upload pool meanwhile (`store_pending`). The client's answer does not
/// wait for the store: for a large zip that is half the shelf's work, done while the client
/// reads and checks the bytes.
async fn fetch_zip(
    state: &AppState,
    (module, version, key): (&str, &str, String),
    rec: CachedRecord,
) -> Result<Zipped, Miss> {
    let (m, v) = escaped(module, Some(version)).map_err(|_| Miss::NotFound)?;
    let mut spools = Spools {
        db: state.config.db.clone(),
        max: state.config.max_upload,
        spool: None,
    };
    walk(
        state,
        module,
        &format!("{m}/@v/{v}.zip"),
        spools.max,
        &mut spools,
    )
    .await?;
    let Some(mut spool) = spools.spool else {
        return Err(Miss::internal("zip spool", &"no spool"));
    };
    let store = Arc::clone(&state.store);
    let pull = Arc::clone(&state.pull);
    let metrics = Arc::clone(&state.metrics);
    let (mo, ve) = (module.to_owned(), version.to_owned());
    let source = if pinned(state, module) {
        "it was pinned at its first fetch as"
    } else {
        "the checksum database says"
    };
    let checked = state
        .uploads
        .run(move || -> Result<Result<Pending, Miss>, ApiError> {
            let summary = match ingest::validate(&mut spool) {
                Ok(s) => s,
                Err(ingest::Error::Zip(e)) => {
                    return Ok(Err(refused(&mo, &ve, format!("its zip is not valid: {e}"))))
                }
                Err(e) => return Ok(Err(Miss::internal("zip spool", &e))),
            };
            if summary.path.as_str() != mo || summary.version.as_str() != ve {
                return Ok(Err(refused(
                    &mo,
                    &ve,
                    format!(
                        "its zip holds {}@{}",
                        summary.path.as_str(),
                        summary.version.as_str()
                    ),
                )));
            }
            let want = rec.h1.clone().unwrap_or_else(|| summary.h1.clone());
            if summary.h1 != want {
                return Ok(Err(refused(
                    &mo,
                    &ve,
                    format!("its zip hashes to {}, {source} {want}", summary.h1),
                )));
            }
            if summary.mod_h1 != rec.mod_h1 {
                return Ok(Err(refused(
                    &mo,
                    &ve,
                    format!(
                        "the go.mod in its zip hashes to {}, its .mod to {}",
                        summary.mod_h1, rec.mod_h1
                    ),
                )));
            }
            {
                let _storing = pull.storing.lock().unwrap_or_else(PoisonError::into_inner);
                match pull.make_room(&store, spool.size()) {
                    Ok(evicted) => {
                        for _ in 0..evicted {
                            metrics.pull(Pull::Evicted);
                        }
                    }
                    Err(why) => return Ok(Err(Miss::unavailable(why))),
                }
                // Counted now, so that the next zip's room is made with this one in.
                pull.cached_bytes
                    .fetch_add(spool.size(), std::sync::atomic::Ordering::Relaxed);
            }
            metrics.set_pull_cached_bytes(pull.cached_bytes());
            let rec = CachedRecord {
                blake3: Some(hex::encode(spool.id())),
                size: Some(spool.size()),
                h1: Some(want),
                ..rec
            };
            Ok(Ok(Pending { spool, rec }))
        })
        .await
        .map_err(|e| Miss::internal("zip validation", &e.message))?;
    let pending = Arc::new(checked?);
    state
        .pull
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key.clone(), Arc::clone(&pending));
    let (s, p) = (state.clone(), Arc::clone(&pending));
    let (m, v) = (module.to_owned(), version.to_owned());
    tokio::spawn(async move { store_pending(&s, &key, &m, &v, p).await });
    Ok(Zipped::Pending(pending))
}

/// Stores a pending zip (`fetch_zip`) on the upload pool; then it is served from the store
/// and its entry goes. A failure is logged, its bytes uncounted: the next request fetches
/// it again.
async fn store_pending(state: &AppState, key: &str, module: &str, version: &str, p: Arc<Pending>) {
    let store = Arc::clone(&state.store);
    let (mo, ve, job) = (module.to_owned(), version.to_owned(), Arc::clone(&p));
    let stored = state
        .uploads
        .run(move || {
            let h1 = job.rec.h1.as_deref().unwrap_or_default();
            ingest::cache(&store, &job.spool, &mo, &ve, h1)
                .map_err(|e| ApiError::internal("storing a cached zip", &e))
        })
        .await;
    // Its package docs are built on the first view of its page, not here: most cached
    // versions are never looked at, and this runs beside a cold build's next misses.
    if let Err(e) = stored {
        tracing::warn!("{key}: the verified zip was not stored: {}", e.message);
        let pull = &state.pull;
        pull.cached_bytes.fetch_sub(
            p.spool.size().min(pull.cached_bytes()),
            std::sync::atomic::Ordering::Relaxed,
        );
        state.metrics.set_pull_cached_bytes(pull.cached_bytes());
    }
    state
        .pull
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(key);
}

/// Checks an upstream answer of a module and gives the bytes to serve.
type Check = fn(&str, &[u8]) -> Option<Bytes>;

/// What changes upstream: a module's list, its `@latest`, a query.
#[derive(Clone, Copy)]
enum Changing<'q> {
    List,
    Latest,
    Query(&'q str),
}

/// A remembered changing answer of `module`, or a fresh one: fetched once for all waiters,
/// remembered for `list_ttl` (a not-found for `negative_ttl`), the last copy served when the
/// upstream fails. `Ok(None)`: the upstream says not found.
async fn changing(
    state: &AppState,
    module: &str,
    what: Changing<'_>,
) -> Result<Option<Bytes>, Miss> {
    let pull = &state.pull;
    if !pull.fetches_for(&state.config, module) {
        return Ok(None);
    }
    // (Paths and versions were checked before: an escape that fails is a path nobody has.)
    let Ok(m) = modpath::escape_path(module) else {
        return Ok(None);
    };
    // Remembered under `module@...` (`forget` drops them all), asked at the escaped path.
    let (key, tail, cap, check): (String, String, u64, Check) = match what {
        Changing::List => (
            format!("{module}@v/list"),
            format!("{m}/@v/list"),
            MAX_LIST,
            check_list,
        ),
        Changing::Latest => (
            format!("{module}@latest"),
            format!("{m}/@latest"),
            MAX_INFO,
            check_query,
        ),
        Changing::Query(q) => {
            let Ok(v) = modpath::escape_version(q) else {
                return Ok(None);
            };
            (
                format!("{module}@{q}"),
                format!("{m}/@v/{v}.info"),
                MAX_INFO,
                check_query,
            )
        }
    };
    let key = key.as_str();
    let module = module.to_owned();
    let fresh = |k: &Kept| {
        let ttl = if k.body.is_some() {
            state.config.list_ttl
        } else {
            state.config.negative_ttl
        };
        k.at.elapsed() < ttl
    };
    if let Some(k) = pull.remembered().get(key).filter(|k| fresh(k)) {
        return Ok(k.body.clone());
    }
    let s = state.clone();
    let got = pull
        .changing
        .run(
            key,
            async move {
                let (body, _) = get_small(&s, &module, &tail, cap).await?;
                check(&module, &body)
                    .ok_or_else(|| Miss::unavailable("the upstream's answer is malformed"))
            },
            || Miss::Internal.into_err(),
            || Miss::Busy.into_err(),
        )
        .await;
    match got {
        Ok(body) => {
            pull.remembered().put(key, Some(body.clone()));
            Ok(Some(body))
        }
        Err(Miss::NotFound) => {
            pull.remembered().put(key, None);
            Ok(None)
        }
        Err(miss) => {
            if let Some(body) = pull.remembered().get(key).and_then(|k| k.body.clone()) {
                tracing::warn!("upstream failed ({miss:?}); serving the last copy of {key}");
                state.metrics.pull(Pull::Stale);
                return Ok(Some(body));
            }
            Err(miss)
        }
    }
}

/// The versions of an upstream list that are versions of `module`, one per line.
fn check_list(module: &str, body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::new();
    for v in text.lines().map(str::trim) {
        if canonical(module, v) && !version::is_pseudo(v) {
            out.push_str(v);
            out.push('\n');
        }
    }
    Some(Bytes::from(out))
}

/// An upstream `.info` answer of a query or `@latest`: a JSON object naming a canonical
/// version of `module`.
fn check_query(module: &str, body: &[u8]) -> Option<Bytes> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(body).ok()?;
    canonical(module, &info.version).then(|| Bytes::copy_from_slice(body))
}

fn changing_answer(state: &AppState, body: Bytes, content_type: &'static str) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        super::goproxy::changing_cache(state, true),
    );
    volatile(resp)
}

/// The versions `list` answers (releases and prereleases, no pseudo-versions): the
/// upstream's list (remembered for `list_ttl`, its last copy when the upstream fails) and the
/// cached versions, in semver order. `Ok(None)`: neither has the module.
async fn versions(state: &AppState, module: &str) -> Result<Option<Vec<String>>, ApiError> {
    let cached = state.store.cached_versions(module)?;
    let upstream = changing(state, module, Changing::List).await;
    let upstream = match upstream {
        Ok(Some(body)) => Some(body),
        Ok(None) => None,
        Err(miss) if cached.is_empty() => return Err(failed(state, module, &miss, true)),
        Err(miss) => {
            tracing::warn!("upstream failed ({miss:?}); listing the cached versions of {module}");
            state.metrics.pull(Pull::Stale);
            None
        }
    };
    if upstream.is_none() && cached.is_empty() {
        return Ok(None);
    }
    let mut all: Vec<String> = cached
        .into_iter()
        .filter(|v| !version::is_pseudo(v))
        .collect();
    if let Some(body) = &upstream {
        all.extend(String::from_utf8_lossy(body).lines().map(str::to_owned));
    }
    all.sort_by(|a, b| version::compare(a, b).then_with(|| a.cmp(b)));
    all.dedup();
    Ok(Some(all))
}

async fn list(state: &AppState, module: &str) -> Result<Response, ApiError> {
    let all = versions(state, module)
        .await?
        .ok_or_else(|| unknown(state, module))?;
    let mut body = String::new();
    for v in &all {
        body.push_str(v);
        body.push('\n');
    }
    Ok(changing_answer(
        state,
        Bytes::from(body),
        "text/plain; charset=utf-8",
    ))
}

/// `@latest`: the `.info` of the newest listed version (`select_latest`, as for hosted
/// modules); for a module without releases, the upstream's `@latest`, else the newest cached
/// pseudo-version's.
async fn latest(
    state: &AppState,
    module: &str,
    requester: &Requester,
) -> Result<Response, ApiError> {
    let listed = versions(state, module).await?.unwrap_or_default();
    if let Some(v) = select_latest(listed.iter().map(String::as_str)) {
        let rec = version_files(state, module, v, (true, false), requester).await?;
        return Ok(changing_answer(
            state,
            Bytes::from(rec.info),
            "application/json",
        ));
    }
    let upstream = changing(state, module, Changing::Latest).await;
    let miss = match upstream {
        Ok(Some(body)) => return Ok(changing_answer(state, body, "application/json")),
        Ok(None) => None,
        Err(miss) => Some(miss),
    };
    let cached = state.store.cached_versions(module)?;
    if let Some(v) = select_latest(cached.iter().map(String::as_str)) {
        if let Some(rec) = state.store.cached(module, v)? {
            return Ok(changing_answer(
                state,
                Bytes::from(rec.info),
                "application/json",
            ));
        }
    }
    Err(match miss {
        Some(miss) => failed(state, module, &miss, true),
        None => unknown(state, module),
    })
}

/// `.info` of a query (`master`, `v1`, a commit): the upstream's answer, never stored as a
/// version.
async fn query(state: &AppState, module: &str, q: &str) -> Result<Response, ApiError> {
    let got = changing(state, module, Changing::Query(q)).await;
    match got {
        Ok(Some(body)) => Ok(changing_answer(state, body, "application/json")),
        Ok(None) => Err(unknown(state, module)),
        Err(miss) => Err(failed(state, module, &miss, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_info_must_name_its_version() {
        assert_eq!(
            check_info(
                br#"{"Version":"v1.2.3","Time":"2024-01-02T15:04:05Z"}"#,
                "v1.2.3"
            ),
            Ok(1_704_207_845)
        );
        assert_eq!(check_info(br#"{"Version":"v1.2.3"}"#, "v1.2.3"), Ok(0));
        assert!(check_info(br#"{"Version":"v1.2.4"}"#, "v1.2.3").is_err());
        assert!(check_info(b"not json", "v1.2.3").is_err());
    }

    #[test]
    fn lists_keep_canonical_releases_of_the_module_only() {
        let body = b"v1.0.0\nv1.1.0\n v1.2.0 \nbogus\nv2.0.0\nv1.0.1-0.20240101000000-abcdefabcdef\nv1.3\n";
        assert_eq!(
            &check_list("example.com/m", body).unwrap()[..],
            b"v1.0.0\nv1.1.0\nv1.2.0\n"
        );
        assert_eq!(
            &check_list("example.com/m/v2", b"v2.0.0\nv1.0.0\n").unwrap()[..],
            b"v2.0.0\n"
        );
    }

    #[test]
    fn a_query_answer_names_a_version_of_the_module() {
        assert!(check_query("example.com/m", br#"{"Version":"v1.0.0"}"#).is_some());
        assert!(check_query("example.com/m", br#"{"Version":"master"}"#).is_none());
        assert!(check_query("example.com/m", br#"{"Version":"v2.0.0"}"#).is_none());
    }

    #[test]
    fn protection_covers_roots_below_and_above_and_patterns() {
        let mut roots: Vec<String> = vec![
            "corp.example/lib".into(),
            "a.example/x".into(),
            "corp.example/lib-other".into(),
            "z.example/deep/er".into(),
        ];
        roots.sort();
        let p = Protected {
            roots,
            patterns: "*.internal".into(),
        };
        for path in [
            "corp.example/lib",
            "corp.example/lib/v2",
            "corp.example/lib/sub",
            "corp.example",
            "git.internal/x",
            "shared.example/y",
        ] {
            assert!(p.covers(path, &["shared.example".into()]), "{path}");
        }
        for path in [
            "corp.example/library",
            "golang.org/x/text",
            "internal.example/x",
            "a.example/xy",
            "z.example/deeper",
            "corp.example/li",
        ] {
            assert!(!p.covers(path, &[]), "{path}");
        }
        for path in ["a.example", "a.example/x/v2", "z.example/deep", "z.example"] {
            assert!(p.covers(path, &[]), "{path}");
        }
    }

    #[test]
    fn remembered_answers_stay_within_their_budget() {
        let mut r = Remembered::default();
        // Under the budget, everything stays.
        for i in 0..100 {
            r.put(&format!("small{i}"), Some(Bytes::from_static(b"v1.0.0\n")));
        }
        assert!((0..100).all(|i| r.get(&format!("small{i}")).is_some()));
        assert_eq!(
            r.bytes,
            (0..100)
                .map(|i| format!("small{i}").len() + 7 + 64)
                .sum::<usize>()
        );
        let big = Bytes::from(vec![0u8; REMEMBERED_BYTES / 3]);
        for i in 0..10 {
            r.put(&format!("k{i}"), Some(big.clone()));
            assert!(r.bytes <= REMEMBERED_BYTES);
            assert!(r.get(&format!("k{i}")).is_some(), "the newest stays");
        }
        // Two of the big ones fit: the one put after a clear stays with the next.
        assert!(r.get("k8").is_some() && r.get("k9").is_some());
        r.put("k9", None);
        assert!(r.get("k9").unwrap().body.is_none());
        r.put("huge", Some(Bytes::from(vec![0u8; REMEMBERED_BYTES + 1])));
        assert!(r.get("huge").is_none());
        // One that weighs the budget exactly is kept, alone.
        r.put("x", Some(Bytes::from(vec![0u8; REMEMBERED_BYTES - 1 - 64])));
        assert!(r.get("x").is_some());
        assert_eq!(r.bytes, REMEMBERED_BYTES);
    }
}
