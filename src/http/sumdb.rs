//! The shelf's own checksum database over HTTP (checksum-db.md §2): `supported`, `latest`,
//! `lookup/<path>@<version>`, hash tiles and data tiles, under every GOPROXY base
//! (`/api/packages/{owner}/go/sumdb/<name>/...`) and at the fixed root `/sumdb/<name>/...`
//! (for `GOSUMDB="<vkey> <url>"`).
//!
//! Everything answered is derived from the stored log (`store::sumdb`), which only grows:
//! hash tiles are slices of the stored hashes, data tiles the record texts, and the tree
//! note of a size is signed again when needed (Ed25519 is deterministic, so always the same
//! bytes; the newest is kept in memory).
//!
//! A lookup that misses gets the same answer whatever the reason (unknown, private, never
//! logged), apart from the echoed path: nothing tells which private modules exist.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use super::body::Response;
use super::error::ApiError;
use super::AppState;
use crate::auth::Principal;
use crate::gomod::path as modpath;
use crate::store::sumdb::{LogOpened, Readers};
use crate::store::{self, Store};
use crate::sumdb::{self as log, note::Signer, Tile};

/// The log as the server uses it: its name, its signer and the newest signed note.
pub struct SumdbLog {
    name: String,
    signer: Signer,
    vkey: String,
    readers: Readers,
    /// The newest tree note signed: (size, note bytes).
    note: Mutex<Option<(u64, Bytes)>>,
    /// `<db>.sumdb-head`: the largest size ever published under this name, kept beside the
    /// database so that a restored older file is noticed (`None` for a store without a file).
    sidecar: Option<std::path::PathBuf>,
    /// The largest size published (recorded there at once or by a later `write_sidecar`).
    published: std::sync::atomic::AtomicU64,
    /// The size last written there, and when.
    sidecar_written: Mutex<(u64, Option<std::time::Instant>)>,
    /// Set when the log is shorter than what was published: (records, published).
    rolled_back: Option<(u64, u64)>,
    /// Module paths of non-public namespaces no `private` pattern covered at start (older
    /// shelves): answered as if they matched.
    uncovered: Vec<String>,
}

/// Where the largest published size of the log of the database at `db` is kept.
#[must_use]
pub fn sidecar_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".sumdb-head");
    std::path::PathBuf::from(name)
}

/// Reads a sidecar: `(name, size)`, `None` when absent or unreadable (its loss only
/// disables the check).
fn read_sidecar(path: &std::path::Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (name, size) = text.trim().rsplit_once(' ')?;
    Some((name.to_owned(), size.parse().ok()?))
}

/// Writes a sidecar atomically (a temp file renamed over it); not fsynced: losing it only
/// weakens the check.
fn write_sidecar(path: &std::path::Path, name: &str, size: u64) {
    let tmp = path.with_extension("sumdb-head.tmp");
    let result =
        std::fs::write(&tmp, format!("{name} {size}\n")).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!("writing {}: {e}", path.display());
    }
}

impl std::fmt::Debug for SumdbLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SumdbLog")
            .field("name", &self.name)
            .field("readers", &self.readers)
            .finish_non_exhaustive()
    }
}

impl SumdbLog {
    /// Opens (or makes, at the first start) the log of `store` (`Store::sumdb_open`).
    ///
    /// # Errors
    /// A configured name other than the log's; a damaged key; storage errors.
    pub fn open(
        store: &Store,
        name: Option<&str>,
        readers: Readers,
    ) -> Result<(Self, LogOpened), store::Error> {
        let seed: [u8; 32] = rand::random();
        let opened = store.sumdb_open(name, &default_name(seed), seed, readers)?;
        let signer = Signer::parse(&opened.identity.skey)
            .map_err(|e| store::Error::Corrupt(format!("checksum database key: {e}")))?;
        let name = opened.identity.name.clone();
        let sidecar = store.is_file_backed().then(|| sidecar_path(store.path()));
        let published = sidecar
            .as_deref()
            .and_then(read_sidecar)
            .filter(|(n, _)| *n == name)
            .map_or(0, |(_, size)| size);
        let rolled_back = (published > opened.size).then_some((opened.size, published));
        let uncovered = store.private_uncovered()?;
        let log = Self {
            name,
            vkey: signer.vkey(),
            signer,
            readers,
            note: Mutex::new(None),
            sidecar,
            published: std::sync::atomic::AtomicU64::new(published),
            sidecar_written: Mutex::new((published, None)),
            rolled_back,
            uncovered,
        };
        Ok((log, opened))
    }

    /// Records the largest size published in the sidecar, if it grew since the last write:
    /// at once when `now` or when the last write is `SETTLE_INTERVAL` old, else left for the
    /// next call (the settle task's, at the latest). A cold pull-through with the shelf's own
    /// `GOSUMDB` publishes a new size per version; a file written and renamed for each cost a
    /// fifth of a millisecond of its lookup (perf, BENCHMARKS.md). The server calls this with `now` every `SETTLE_INTERVAL`
    /// and at stop, so the sidecar lags what was published by at most that long: a backup
    /// restored is older than that.
    pub fn write_sidecar(&self, now: bool) {
        let Some(path) = &self.sidecar else {
            return;
        };
        let mut last = self
            .sidecar_written
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let size = self.published.load(std::sync::atomic::Ordering::Acquire);
        if size <= last.0 {
            return;
        }
        let due = last
            .1
            .is_none_or(|at| at.elapsed() >= super::SETTLE_INTERVAL);
        if now || due {
            write_sidecar(path, &self.name, size);
            *last = (size, Some(std::time::Instant::now()));
        }
    }

    /// Module paths of non-public namespaces that no `private` pattern covered at start.
    #[must_use]
    pub fn uncovered(&self) -> &[String] {
        &self.uncovered
    }

    /// When the log is shorter than the largest size ever published under its name (an
    /// older backup restored): (records, published).
    #[must_use]
    pub fn rolled_back(&self) -> Option<(u64, u64)> {
        self.rolled_back
    }

    /// The log's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key: the value of `GOSUMDB` (with the URL of the fixed root after it,
    /// when the client cannot find the log through its GOPROXY).
    #[must_use]
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// Who may read the log.
    #[must_use]
    pub fn readers(&self) -> Readers {
        self.readers
    }

    /// The signed note of the tree of the first `size` records.
    ///
    /// # Errors
    /// Storage errors; a tree note that cannot be signed (never, for a valid key).
    pub fn note(&self, store: &Store, size: u64) -> Result<Bytes, ApiError> {
        // Nothing is signed over appends a crash could still lose. The handlers flush off
        // the async workers first (`durable`); this catches an append that raced in since.
        if store.log_pending() {
            store.log_make_durable()?;
        }
        if let Some((n, note)) = &*self.note.lock().unwrap_or_else(PoisonError::into_inner) {
            if *n == size {
                return Ok(note.clone());
            }
        }
        let hash = store.sumdb_tree_hash(size)?;
        let text = log::format_tree(&log::Tree { n: size, hash });
        let signed = log::sign(&text, &[&self.signer])
            .map_err(|e| ApiError::internal("signing the checksum database tree", &e))?;
        let note = Bytes::from(signed);
        self.published
            .fetch_max(size, std::sync::atomic::Ordering::AcqRel);
        self.write_sidecar(false);
        let mut slot = self.note.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_none_or(|(n, _)| *n < size) {
            *slot = Some((size, note.clone()));
        }
        Ok(note)
    }
}

/// `<hostname>/sumdb/<8 hex>`: the hostname alone would repeat across machines (every
/// Raspberry Pi is `raspberrypi`), and a client remembers a name's key forever.
#[must_use]
pub fn default_name(seed: [u8; 32]) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let host = host.trim_matches(['.', '-']);
    let host = if host.is_empty() { "goshelf" } else { host };
    let tag = blake3::hash(&seed);
    format!("{host}/sumdb/{}", hex::encode(&tag.as_bytes()[..4]))
}

/// Answers `rest`, the part of the path after `sumdb/` (already percent-decoded once for a
/// GOPROXY base, raw for the root).
///
/// # Errors
/// The one-line answers: 404 for another database or a missing lookup or tile, 400 for bad
/// syntax, 401 without credentials when only signed-in clients may read the log.
pub async fn handle(
    state: &AppState,
    rest: &str,
    viewer: Option<&Principal>,
    peer: Option<std::net::IpAddr>,
    headers: &http::HeaderMap,
) -> Result<Response, ApiError> {
    let log = &state.sumdb;
    let Some(what) = rest
        .strip_prefix(log.name())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Err(ApiError::not_found(format!(
            "this shelf serves only the checksum database {}",
            log.name()
        )));
    };
    if let Some((size, published)) = log.rolled_back() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this checksum database holds {size} records but published {published}: the \
                 database file was restored from an older copy; its admin must run \
                 goshelf sumdb rotate --name NEW"
            ),
        ));
    }
    if log.readers() == Readers::SignedIn && viewer.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this checksum database is read with a token (sumdb_readers = signed-in)",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"goshelf\""),
        ));
    }
    let shared = log.readers() == Readers::Anyone;
    let store = &state.store;
    if what == "supported" {
        return Ok(answer(Bytes::new(), TEXT, "public, max-age=86400", shared));
    }
    if what == "latest" {
        let size = store.sumdb_size()?;
        durable(state).await?;
        return Ok(answer(log.note(store, size)?, TEXT, "no-cache", shared));
    }
    if let Some(target) = what.strip_prefix("lookup/") {
        // Who a fetch from the upstream is charged to (`sumdb_lookup_budget`).
        let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let requester = super::budget::Requester::of(
            peer,
            xff,
            &state.config.trusted_proxies,
            viewer.map(|v| v.user.as_str()),
        );
        return lookup(state, target, shared, &requester).await;
    }
    if what.starts_with("tile/") {
        // A tile may hold appends not yet durable: those before the size it is checked
        // against are flushed first.
        let size = store.sumdb_size()?;
        durable(state).await?;
        return tile(state, what, size, shared);
    }
    Err(ApiError::not_found(format!(
        "not a checksum database request: {what}"
    )))
}

/// Makes the log's pending appends durable, off the async workers, before anything of it
/// is published (`Store::log_make_durable`); free when nothing is pending.
async fn durable(state: &AppState) -> Result<(), ApiError> {
    if !state.store.log_pending() {
        return Ok(());
    }
    let store = Arc::clone(&state.store);
    super::blocking(move || store.log_make_durable()).await
}

const TEXT: &str = "text/plain; charset=utf-8";
const BINARY: &str = "application/octet-stream";

/// An answer of the database: `cache` as it is when `shared` caches may keep it, made
/// `private` otherwise (`goproxy::make_private`).
pub(super) fn answer(
    body: Bytes,
    content_type: &'static str,
    cache: &'static str,
    shared: bool,
) -> Response {
    let mut resp = super::body::typed_response(body, content_type, cache);
    if !shared {
        super::goproxy::make_private(&mut resp);
    }
    resp
}

/// The lookup syntax of the reference server: `<path>@v<major>.<minor>.<patch>[-...][+incompatible]`.
fn lookup_syntax(target: &str) -> Option<(&str, &str)> {
    let (path, version) = target.rsplit_once('@')?;
    if path.is_empty() || path.contains('@') {
        return None;
    }
    let v = version.strip_prefix('v')?;
    let v = v.strip_suffix("+incompatible").unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(|p| digits(p)) {
        return None;
    }
    if pre.is_some_and(|p| p.contains('@')) {
        return None;
    }
    Some((path, version))
}

/// The answer to every lookup miss, whatever its reason (unknown, private, never logged,
/// or not fetched): the same words apart from the path, and, while the upstream is
/// unreachable or nothing may be fetched, one more line that is the same for every path.
fn not_logged(state: &AppState, path: &str) -> ApiError {
    let mut text =
        format!("{path}: not in this checksum database; for a private module set GONOSUMDB={path}");
    let status = if state.config.offline {
        Some("offline: nothing is fetched".to_owned())
    } else {
        state.upstream.as_ref().and_then(|u| u.status_line())
    };
    if let Some(line) = status {
        text.push('\n');
        text.push_str(&line);
    }
    ApiError::not_found(text)
}

/// Whether a lookup miss of `path` may be asked of the upstream: never for a path that
/// `pull::protected` keeps here (a `private` path, a path at, below or above one hosted here
/// or placed here; checksum-db.md §8: private paths never leave), the same rule the module
/// proxy and the checksum database proxy follow, nor for content no checksum database covers
/// (`upstream_nosumdb`; `pull::never_looked_up`).
async fn may_ask_upstream(state: &AppState, path: &str) -> Result<bool, ApiError> {
    Ok(state.upstream.is_some() && !super::pull::never_looked_up(state, path).await?)
}

/// Why `requester` may not make the shelf fetch and log one more upstream record in `hour`
/// (its `sumdb_lookup_budget`, an admin's budget for a signed-in user, or
/// `sumdb_upstream_max_records`), counted and logged; `None` when it may. The one check of
/// both ways a record comes from upstream: a lookup miss, and a version fetched through `/go`
/// (`pull`). The caller charges `state.budgets` once a record is appended.
///
/// # Errors
/// Storage errors.
pub(crate) fn refused_record(
    state: &AppState,
    requester: &super::budget::Requester,
    hour: u64,
) -> Result<Option<String>, store::Error> {
    let who = requester.who.as_str();
    let budget = match &requester.user {
        Some(u) => state.store.lookup_budget(u)?,
        None => None,
    }
    .unwrap_or(state.config.sumdb_lookup_budget);
    if !state.budgets.available(who, budget, hour) {
        return Ok(Some(over_budget_text(state, false, who, budget)));
    }
    if state.store.sumdb_upstream_records()? >= state.config.sumdb_upstream_max_records {
        return Ok(Some(over_budget_text(state, true, who, 0)));
    }
    Ok(None)
}

/// The reason of a refusal past a budget (`cap`: `sumdb_upstream_max_records`, else `who`'s
/// `budget`), counted and logged.
fn over_budget_text(state: &AppState, cap: bool, who: &str, budget: u64) -> String {
    state.metrics.sumdb_refused(cap);
    let text = if cap {
        format!(
            "this checksum database holds its most records from upstream \
             (sumdb_upstream_max_records = {}); nothing more is fetched",
            state.config.sumdb_upstream_max_records
        )
    } else {
        format!(
            "{who} has made this checksum database fetch {budget} records from upstream in the \
             last hour (sumdb_lookup_budget); try again later"
        )
    };
    tracing::warn!("checksum database lookup refused: {text}");
    text
}

pub(crate) fn this_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

async fn lookup(
    state: &AppState,
    target: &str,
    shared: bool,
    requester: &super::budget::Requester,
) -> Result<Response, ApiError> {
    let who = requester.who.as_str();
    let (escaped_path, escaped_version) = lookup_syntax(target)
        .ok_or_else(|| ApiError::bad_request(format!("malformed lookup: {target}")))?;
    let path = modpath::unescape_path(escaped_path)
        .map_err(|e| ApiError::bad_request(format!("malformed lookup: {e}")))?;
    let version = modpath::unescape_version(escaped_version)
        .map_err(|e| ApiError::bad_request(format!("malformed lookup: {e}")))?;
    let (mut size, mut found) = state.store.sumdb_lookup(path.as_str(), &version)?;
    let hour = this_hour();
    // A requester past its budget is refused every miss, also those of paths that would never
    // be asked upstream: a refusal for some paths only would tell which paths are private.
    if found.is_none() && state.upstream.is_some() {
        if let Some(why) = refused_record(state, requester, hour)? {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("3600")));
        }
    }
    if found.is_none() && may_ask_upstream(state, path.as_str()).await? {
        if let Some(upstream) = state.upstream.clone() {
            let Some(turn) = state.upstream_turn().await else {
                return Err(upstream_busy(state));
            };
            let store = Arc::clone(&state.store);
            let (p, v) = (path.as_str().to_owned(), version.clone());
            let fetched = super::blocking(move || {
                let _turn = turn;
                Ok::<_, ApiError>(upstream.fetch(&store, &p, &v).ok().flatten())
            })
            .await?;
            if let Some(logged) = fetched {
                if matches!(logged, crate::store::sumdb::Logged::New(_)) {
                    state.budgets.charge(who, hour);
                }
                (size, found) = state.store.sumdb_lookup(path.as_str(), &version)?;
            }
        }
    }
    let Some((id, text)) = found else {
        return Err(not_logged(state, path.as_str()));
    };
    durable(state).await?;
    let note = state.sumdb.note(&state.store, size)?;
    let mut body = Vec::with_capacity(24 + text.len() + note.len());
    body.extend_from_slice(format!("{id}\n").as_bytes());
    body.extend_from_slice(&text);
    body.push(b'\n');
    body.extend_from_slice(&note);
    Ok(answer(
        Bytes::from(body),
        TEXT,
        "public, max-age=60",
        shared,
    ))
}

/// A tile path the go command asks for: of height 8 (`TILE_HEIGHT`), the only height this
/// shelf serves and proxies (a taller one would read up to 2^30 records for one request).
///
/// # Errors
/// 400 for a malformed path, 404 for another height.
pub(super) fn parse_tile(path: &str) -> Result<Tile, ApiError> {
    let t: Tile = log::parse_tile_path(path)
        .map_err(|e| ApiError::bad_request(format!("malformed tile path: {e}")))?;
    if t.h != crate::sumdb::verify::TILE_HEIGHT {
        return Err(ApiError::not_found(format!(
            "{path}: this checksum database serves tiles of height {} only",
            crate::sumdb::verify::TILE_HEIGHT
        )));
    }
    Ok(t)
}

/// The 503 of an upstream checksum database with no turn free within
/// `upstream_queue_timeout`.
pub(super) fn upstream_busy(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the upstream checksum database is busy: {} lookups are under way and this one \
             waited {} s for its turn; try again",
            state.config.upstream_concurrency,
            state.config.upstream_queue_timeout.as_secs()
        ),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

fn tile(state: &AppState, path: &str, size: u64, shared: bool) -> Result<Response, ApiError> {
    let t = parse_tile(path)?;
    if !log::tile_exists(&t, size) {
        return Err(ApiError::not_found(format!(
            "{path}: no such tile in a log of {size} records"
        )));
    }
    // Any width of a tile is a prefix of stored hashes that never change: immutable.
    let cache = "public, max-age=31536000, immutable";
    if t.is_data() {
        let first = t.n << t.h;
        let records = state.store.sumdb_records(first, u64::from(t.w))?;
        if records.len() != t.w as usize {
            return Err(ApiError::internal(
                "reading a data tile",
                &format!("{} records of {} in {path}", records.len(), t.w),
            ));
        }
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        return Ok(answer(
            Bytes::from(log::format_data_tile(&refs)),
            TEXT,
            cache,
            shared,
        ));
    }
    let store = Arc::clone(&state.store);
    let mut read = |idx: &[u64]| -> Result<Vec<log::Hash>, log::Error> {
        store
            .sumdb_hashes(idx)
            .map_err(|e| log::Error::External(e.to_string()))
    };
    let data = log::read_tile_data(&t, &mut read)
        .map_err(|e| ApiError::internal("reading a hash tile", &e))?;
    Ok(answer(Bytes::from(data), BINARY, cache, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_syntax_is_the_reference_servers() {
        assert_eq!(
            lookup_syntax("example.com/m@v1.2.3"),
            Some(("example.com/m", "v1.2.3"))
        );
        assert!(lookup_syntax("example.com/m@v1.2.3-pre.1+incompatible").is_some());
        assert!(lookup_syntax("example.com/!m@v0.0.0-20200101000000-abcdefabcdef").is_some());
        for bad in [
            "example.com/m",
            "@v1.2.3",
            "example.com/m@1.2.3",
            "example.com/m@v1.2",
            "example.com/m@v1.2.x",
            "example.com/m@latest",
            "a@b@v1.2.3",
        ] {
            assert_eq!(lookup_syntax(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_default_name_is_a_usable_sumdb_name_and_differs_per_seed() {
        let a = default_name([1; 32]);
        let b = default_name([2; 32]);
        assert_ne!(a, b);
        assert!(a.contains("/sumdb/"), "{a}");
        log::check_go_sumdb_name(&a).unwrap();
        log::check_go_sumdb_name(&b).unwrap();
    }

    /// The sidecar records the first size published at once, a larger one within
    /// `SETTLE_INTERVAL` of that only when the server flushes it (its settle tick or stop),
    /// and never a smaller one; a log opened on a file behind it is rolled back.
    #[test]
    fn the_sidecar_is_written_at_once_then_at_most_once_an_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path).unwrap();
        let (log, _) = SumdbLog::open(&store, None, Readers::Anyone).unwrap();
        let entry = |v: &str| {
            (
                "example.com/m".to_owned(),
                v.to_owned(),
                format!("h1:{}=", "A".repeat(43)),
                format!("h1:{}=", "B".repeat(43)),
            )
        };
        store.sumdb_append_for_test(&[entry("v1.0.0")]).unwrap();
        let side = sidecar_path(&path);
        assert_eq!(read_sidecar(&side), None);
        log.note(&store, 1).unwrap();
        assert_eq!(read_sidecar(&side), Some((log.name().to_owned(), 1)));
        store
            .sumdb_append_for_test(&[entry("v1.1.0"), entry("v1.2.0")])
            .unwrap();
        log.note(&store, 3).unwrap();
        assert_eq!(
            read_sidecar(&side).unwrap().1,
            1,
            "written again within the interval"
        );
        log.note(&store, 2).unwrap();
        log.write_sidecar(true);
        assert_eq!(read_sidecar(&side).unwrap().1, 3);
        log.note(&store, 2).unwrap();
        log.write_sidecar(true);
        assert_eq!(
            read_sidecar(&side).unwrap().1,
            3,
            "a smaller size published"
        );
        drop(log);
        // A sidecar ahead of the file, as after an older copy of it is restored, is noticed.
        std::fs::write(&side, format!("{} 4\n", read_sidecar(&side).unwrap().0)).unwrap();
        let (again, _) = SumdbLog::open(&store, None, Readers::Anyone).unwrap();
        assert_eq!(again.rolled_back(), Some((3, 4)));
    }
}
