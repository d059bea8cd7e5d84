//! The GOPROXY read path, served before warp's filters, with a cache of small answers.
//!
//! Every `go build` on the LAN asks for `.info`, `.mod`, `list`, `@latest` and a 404 for each
//! prefix of an import path, so these small answers are the hot path (issue 6). Two things
//! make them cheaper than going through the warp routes:
//!
//! - **Routing**: `edge::dispatch` (and `conn`) send `GET`/`HEAD` under
//!   `/api/packages/{owner}/go/` straight to `goproxy::handle` through [`serve`], skipping the
//!   chain of warp filters; this is the only way GOPROXY reads are answered.
//! - **Answer cache**: anonymous answers that are small and final (200, 404 and 410, never
//!   an error of the server) are kept by request path: text answers up to `MAX_ENTRY` bytes,
//!   and zips up to `MAX_ZIP_ENTRY` on a shelf of their own (`ZIP_BUDGET`), whose cached
//!   `GET`s still count as downloads. A zip asked for in part or on condition (`Range`,
//!   `If-Range`, `If-None-Match`) is always the handler's. Answered from the store, a small
//!   zip cost three times nginx's CPU per request (redb lookups, headers, a copy of its
//!   pieces); from the cache it costs what a `.info` does. An entry is used only while the store's `generation` is the one read before the
//!   answer was computed; any write to the store that can change an answer (an upload, a
//!   delete, a visibility change, an account change) changes it, so nothing stale is ever
//!   served and a new version shows at once. The periodic flushes of download counts and
//!   tokens' last-used times, and the UI's zip facts, do not (`Store::commit_txn_unseen`).
//!   Each shelf is bounded by bytes (`BUDGET`, `ZIP_BUDGET`); when full, entries are evicted
//!   to make room, so a client asking for endless distinct paths costs memory up to the
//!   budgets (22 MiB in all, bookkeeping included; less on a small machine, `crate::memory`)
//!   and no more.
//!
//! Requests with credentials never touch the cache: they are checked (401, 403, 429) every time.
//! "Credentials" means an `Authorization` header, the only thing `authn::authenticate_optional`
//! reads on these routes (session cookies are for `/ui` pages only), so an answer cached for
//! a request without one is exactly what any request without one gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};

use super::body::{Body, Response};
use super::edge::ConnInfo;
use super::{finish, goproxy, into_response, AppState};
use crate::web::downloads::Downloads;
use crate::web::facts::FactsKey;

/// The largest text answer kept.
pub const MAX_ENTRY: usize = 16 << 10;
/// Bytes of text answers kept in all, as `weight` counts them: about 12,000 answers (a
/// `.info` with its path, head lines and bookkeeping is about 650 bytes).
pub const BUDGET: usize = 8 << 20;
/// The largest zip kept. Most modules' zips are smaller (85 % of the harness's graph, whose
/// sizes are log-normal around 24 KiB); larger ones are read from the store each time, where
/// the per-request cost is small next to their bytes.
pub const MAX_ZIP_ENTRY: usize = 128 << 10;
/// Bytes of paths and zip answers kept in all.
pub const ZIP_BUDGET: usize = 8 << 20;
/// Bytes of zip heads kept (`ZipHead`: a zip's answer without its bytes, about 750 bytes with
/// its path and bookkeeping): about 8,000, as many as nginx's `open_file_cache` holds in the
/// harness (perf/harness.py).
pub const HEAD_BUDGET: usize = 6 << 20;
/// The largest zip a head serves by reading its bytes at once; larger ones are computed (and
/// streamed) each time.
pub const MAX_HEAD_READ: u64 = 255 << 10;
/// Once the zip shelf is full, one new zip in this many is kept (see `Shelf::insert`).
const ZIP_ADMISSION: u64 = 8;
/// Per-entry memory counted against the budget besides path, body and head lines: the
/// entry and its `Arc` (about 110 bytes), its slots in the map and the paths vector (both
/// grow by doubling: up to about 100), and the allocator's headers of its four allocations.
const ENTRY_OVERHEAD: usize = 320;

/// The headers a kept answer may have: the two of every text answer, a zip's, and what
/// `finish::decorate` adds to a GOPROXY answer.
const KEPT_HEADERS: [header::HeaderName; 8] = [
    header::CONTENT_TYPE,
    // `Vary: Authorization` of anonymous answers at `/go` (the cache serves anonymous
    // requests only).
    header::VARY,
    header::CACHE_CONTROL,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::LAST_MODIFIED,
    header::CONTENT_LENGTH,
    header::X_CONTENT_TYPE_OPTIONS,
];

/// A cached answer.
struct Cached {
    status: StatusCode,
    body: Bytes,
    /// Its header lines but `Date` as `conn` writes them (and as hyper does), made once: the
    /// status line, the finished answer's headers in order, then `content-length` unless
    /// they have it.
    lines: Bytes,
    /// Where the answer's own headers end in `lines` (the hyper path rebuilds them from
    /// there).
    handler_end: usize,
    /// For a zip's 200: the version whose download count a `GET` of it adds to.
    download: Option<Arc<FactsKey>>,
}

/// A zip's finished answer without its bytes, kept by path like a cached answer: a later
/// request of it is served by reading the bytes from where the store keeps them
/// (`Store::site_bytes`, one short read that looks up neither the version nor the blob),
/// without computing the answer again. What nginx's `open_file_cache` is to its
/// files, this is to zips: under a working set of zips larger than the zip shelf, most requests
/// miss the bytes but still find their head.
pub struct ZipHead {
    /// As `Cached::lines` (with `content-length`).
    lines: Bytes,
    handler_end: usize,
    /// Where the zip's bytes are (`Store::site_bytes`).
    site: crate::store::BlobSite,
    download: Option<Arc<FactsKey>>,
}

impl Weighed for ZipHead {
    fn bytes(&self) -> usize {
        self.lines.len() + 32
    }
}

/// Counts a download when the answer is a zip's 200 (`download` is its key) served whole (not
/// to a `HEAD`), as the handler counts the `GET`s it answers.
fn count_download(download: Option<&Arc<FactsKey>>, head_only: bool, downloads: &Downloads) {
    if let (Some(key), false) = (download, head_only) {
        downloads.record(key);
    }
}

impl Cached {
    /// Counts a download when this is a zip's 200 served whole (`count_download`).
    fn count(&self, head_only: bool, downloads: &Downloads) {
        count_download(self.download.as_ref(), head_only, downloads);
    }
}

impl Cached {
    /// An entry for a finished answer. `body` is kept as it is: it must be an exact
    /// allocation (a `Vec` built by pushing can hold up to twice its length, which the budget
    /// would not see), owned (no database page: kept, it would keep redb from reusing any page
    /// freed since); every body `keep` gives is collected into one exact buffer.
    fn new(
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        download: Option<Arc<FactsKey>>,
    ) -> Self {
        let (lines, handler_end) = head_lines(status, headers, body.len() as u64);
        Self {
            status,
            body,
            lines,
            handler_end,
            download,
        }
    }

    /// The answer as it was finished, for hyper's side (handed-over connections, and every
    /// connection with `fast_path` off): its headers are read back from `lines` rather than
    /// kept twice.
    fn response(&self) -> Response {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = headers_of(self.lines.get(..self.handler_end).unwrap_or_default());
        resp
    }
}

/// The head lines of an answer but `Date`, as `conn` writes them (and as hyper does), made
/// once: the status line, the headers in order, then `content-length: len` unless they have
/// it. Returns them (an exact copy) and where the headers end.
fn head_lines(status: StatusCode, headers: &HeaderMap, len: u64) -> (Bytes, usize) {
    let mut lines = Vec::with_capacity(256);
    status_line(status, &mut lines);
    for (name, value) in headers {
        lines.extend_from_slice(name.as_str().as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(value.as_bytes());
        lines.extend_from_slice(b"\r\n");
    }
    let handler_end = lines.len();
    if !headers.contains_key(header::CONTENT_LENGTH) {
        lines.extend_from_slice(b"content-length: ");
        lines.extend_from_slice(len.to_string().as_bytes());
        lines.extend_from_slice(b"\r\n");
    }
    (Bytes::copy_from_slice(&lines), handler_end)
}

/// The headers of head lines made by `head_lines` (the status line first, then `name: value`
/// lines written from a valid map).
fn headers_of(lines: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for line in lines.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            h.append(name, value);
        }
    }
    h
}

/// What a shelf holds: something that knows its weight against the shelf's budget.
trait Weighed {
    /// Bytes counted for this entry besides its path and `ENTRY_OVERHEAD`.
    fn bytes(&self) -> usize;
}

impl Weighed for Cached {
    fn bytes(&self) -> usize {
        self.body.len() + self.lines.len()
    }
}

/// Answers computed at one store generation, within a byte budget.
struct Shelf<T> {
    /// The store generation every entry was computed at.
    generation: u64,
    bytes: usize,
    budget: usize,
    /// Each entry and its place in `keys`.
    map: HashMap<Arc<str>, (Arc<T>, usize)>,
    /// The paths held, to pick one to evict in constant time.
    keys: Vec<Arc<str>>,
    /// xorshift state for that pick (and for `admit`).
    rng: u64,
    /// When full, a new entry is kept one time in `admit_one_in` (1: always).
    admit_one_in: u64,
    /// Lookups that found their entry (`/metrics`).
    hits: u64,
}

impl<T: Weighed> Shelf<T> {
    fn new(budget: usize) -> Self {
        Self {
            generation: 0,
            bytes: 0,
            budget,
            map: HashMap::new(),
            keys: Vec::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
            admit_one_in: 1,
            hits: 0,
        }
    }

    /// A shelf that, once full, keeps a new entry only one time in `n`.
    fn admitting_one_in(mut self, n: u64) -> Self {
        self.admit_one_in = n.max(1);
        self
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: cheap, and good enough to spread evictions.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn get(&mut self, path: &str, generation: u64) -> Option<Arc<T>> {
        if self.generation != generation {
            return None;
        }
        let found = self.map.get(path).map(|(c, _)| Arc::clone(c));
        self.hits += u64::from(found.is_some());
        found
    }

    /// Keeps an answer computed after reading `generation`. An answer from an older
    /// generation is dropped; one from a newer generation first empties the shelf. When the
    /// budget is reached, entries picked at random go until the new one fits: under a
    /// working set larger than the budget, part of it still hits, where least recently used
    /// (or first in, first out) would evict every entry before its next use in a repeated
    /// sweep, such as a `go mod download` of more zips than fit.
    fn insert(&mut self, path: &str, generation: u64, entry: T) {
        let needed = weight(path, &entry);
        if generation < self.generation || needed > self.budget {
            return;
        }
        if generation > self.generation {
            self.map.clear();
            self.keys.clear();
            self.bytes = 0;
            self.generation = generation;
        }
        if let Some((old, at)) = self.map.remove(path) {
            self.bytes -= weight(path, &*old);
            self.forget(at);
        }
        // Full: under a working set larger than the budget, keeping every new entry costs an
        // eviction and a copy at every miss for a hit rate that random eviction keeps at
        // budget / working set anyway; keeping one in n costs n times less for the same rate
        // (and an entry asked for often still gets in soon).
        if self.bytes + needed > self.budget
            && self.admit_one_in > 1
            && !self.next_random().is_multiple_of(self.admit_one_in)
        {
            return;
        }
        while self.bytes + needed > self.budget && !self.keys.is_empty() {
            let at = usize::try_from(self.next_random() % self.keys.len() as u64).unwrap_or(0);
            let key = Arc::clone(&self.keys[at]);
            if let Some((old, _)) = self.map.remove(&*key) {
                self.bytes -= weight(&key, &*old);
            }
            self.forget(at);
        }
        let key: Arc<str> = path.into();
        self.keys.push(Arc::clone(&key));
        self.map.insert(key, (Arc::new(entry), self.keys.len() - 1));
        self.bytes += needed;
    }

    /// Takes the path at `at` out of `keys`, moving the last one into its place.
    fn forget(&mut self, at: usize) {
        self.keys.swap_remove(at);
        if let Some(moved) = self.keys.get(at) {
            if let Some(entry) = self.map.get_mut(&**moved) {
                entry.1 = at;
            }
        }
    }
}

/// What an entry is counted for against its budget.
fn weight<T: Weighed>(path: &str, entry: &T) -> usize {
    path.len() + entry.bytes() + ENTRY_OVERHEAD
}

/// Appends the HTTP/1.1 status line of `status`, as hyper writes it.
pub fn status_line(status: StatusCode, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A cached answer written by `conn`.
pub struct Hit {
    pub status: u16,
    /// The body's length (what `content-length` says, also for `HEAD`).
    pub len: u64,
    /// The body when it was too large to copy into `out`: to be written after it.
    pub body: Option<Bytes>,
}

/// A body up to this size is copied after the head; a larger one is written from where it is.
const COPY_BODY: usize = 4 << 10;

/// Writes a kept answer's head lines, `date` and the end of the head into `out`, then `body`
/// (none for `HEAD`) when it is small; a larger body is handed back, to be written from where
/// it is.
fn write_answer(
    out: &mut Vec<u8>,
    lines: &[u8],
    date: &[u8],
    body: Option<Bytes>,
) -> Option<Bytes> {
    out.extend_from_slice(lines);
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    match body {
        Some(b) if b.len() <= COPY_BODY => {
            out.extend_from_slice(&b);
            None
        }
        other => other,
    }
}

/// Small anonymous GOPROXY answers by request path, valid for one store generation: text
/// answers (`list`, `.info`, `.mod`, `@latest`, 404s and 410s) on one shelf, zips on another,
/// so that zips never push out the answers every build asks for.
pub struct AnswerCache {
    text: Mutex<Shelf<Cached>>,
    zips: Mutex<Shelf<Cached>>,
    heads: Mutex<Shelf<ZipHead>>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self::for_memory(None)
    }
}

/// Each shelf's budget for a process that may use `memory` (`crate::memory::scaled`: the
/// full budgets from 1 GiB up, in proportion below, at least 1 MiB each).
fn budgets(memory: Option<u64>) -> [usize; 3] {
    [BUDGET, ZIP_BUDGET, HEAD_BUDGET].map(|b| crate::memory::scaled(b, 1 << 20, memory))
}

/// The answer cache's bytes in all for a process that may use `memory`.
#[must_use]
pub fn answer_budget(memory: Option<u64>) -> usize {
    budgets(memory).iter().sum()
}

impl AnswerCache {
    /// A cache sized for a process that may use `memory` (`None`: the full budgets).
    #[must_use]
    pub fn for_memory(memory: Option<u64>) -> Self {
        let [text, zips, heads] = budgets(memory);
        Self {
            text: Mutex::new(Shelf::new(text)),
            zips: Mutex::new(Shelf::new(zips).admitting_one_in(ZIP_ADMISSION)),
            heads: Mutex::new(Shelf::new(heads)),
        }
    }
}

impl AnswerCache {
    fn shelf(&self, path: &str) -> std::sync::MutexGuard<'_, Shelf<Cached>> {
        let shelf = if path.ends_with(".zip") {
            &self.zips
        } else {
            &self.text
        };
        shelf.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `path` if it was computed at store generation `generation` (a zip's
    /// `GET` counts as its download).
    fn get(
        &self,
        path: &str,
        generation: u64,
        head_only: bool,
        downloads: &Downloads,
    ) -> Option<Response> {
        let c = self.shelf(path).get(path, generation)?;
        c.count(head_only, downloads);
        Some(c.response())
    }

    /// Writes the HTTP/1.1 response for `path` into `out` if it was computed at store
    /// generation `generation`: status line, the headers the hyper path sends, `date`, and
    /// the body unless `head_only` (a large body is handed back instead, to be written from
    /// where it is). A `GET` of a zip counts as its download.
    pub fn write_hit(
        &self,
        downloads: &Downloads,
        path: &str,
        generation: u64,
        head_only: bool,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        let c = self.shelf(path).get(path, generation)?;
        let body = write_answer(out, &c.lines, date, (!head_only).then(|| c.body.clone()));
        c.count(head_only, downloads);
        Some(Hit {
            status: c.status.as_u16(),
            len: c.body.len() as u64,
            body,
        })
    }

    fn insert(&self, path: &str, generation: u64, entry: Cached) {
        self.shelf(path).insert(path, generation, entry);
    }

    /// Lookups that found their entry so far, by shelf: text answers, zips, zip heads.
    pub fn hits(&self) -> [(&'static str, u64); 3] {
        let hits =
            |shelf: &Mutex<Shelf<_>>| shelf.lock().unwrap_or_else(PoisonError::into_inner).hits;
        [
            ("text", hits(&self.text)),
            ("zips", hits(&self.zips)),
            ("heads", {
                self.heads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .hits
            }),
        ]
    }

    fn head(&self, path: &str, generation: u64) -> Option<Arc<ZipHead>> {
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path, generation)
    }

    /// Keeps the head of a zip's finished 200 answer.
    fn insert_head(
        &self,
        path: &str,
        generation: u64,
        resp: &Response,
        site: crate::store::BlobSite,
    ) {
        let (lines, handler_end) = head_lines(resp.status(), resp.headers(), site.size());
        let download = resp
            .extensions()
            .get::<goproxy::Download>()
            .map(|d| Arc::clone(&d.0));
        let head = ZipHead {
            lines,
            handler_end,
            site,
            download,
        };
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path, generation, head);
    }

    /// The bytes of the zip whose head is kept for `path` at `generation`, read from the store
    /// (at most `MAX_HEAD_READ`), with the head; `None` when there is no such head, or the zip
    /// is larger, or its bytes are gone or cannot be read (the handler then answers as it
    /// must).
    fn head_and_bytes(
        &self,
        store: &crate::store::Store,
        path: &str,
        generation: u64,
        head_only: bool,
    ) -> Option<(Arc<ZipHead>, Bytes)> {
        let head = self.head(path, generation)?;
        if head_only {
            return Some((head, Bytes::new()));
        }
        if head.site.size() > MAX_HEAD_READ {
            return None;
        }
        let bytes = store.site_bytes(head.site).ok()??;
        // Offered to the zip shelf as a computed answer would be (it admits one in
        // `ZIP_ADMISSION` when full): a small zip asked for often moves back into memory
        // instead of being read from the store at every request. The bytes are an exact
        // copy (`site_bytes`).
        if bytes.len() <= MAX_ZIP_ENTRY {
            let entry = Cached {
                status: StatusCode::OK,
                body: bytes.clone(),
                lines: head.lines.clone(),
                handler_end: head.handler_end,
                download: head.download.clone(),
            };
            self.zips
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(path, generation, entry);
        }
        Some((head, bytes))
    }

    /// As `write_hit`, for a zip whose head is kept: the head lines, then its bytes read from
    /// the store.
    pub fn write_head_hit(
        &self,
        state: &AppState,
        path: &str,
        generation: u64,
        head_only: bool,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        let (head, bytes) = self.head_and_bytes(&state.store, path, generation, head_only)?;
        let body = write_answer(out, &head.lines, date, (!head_only).then_some(bytes));
        count_download(head.download.as_ref(), head_only, &state.ui.downloads);
        Some(Hit {
            status: 200,
            len: head.site.size(),
            body,
        })
    }

    /// As `get`, for a zip whose head is kept (hyper's side).
    fn get_by_head(
        &self,
        store: &crate::store::Store,
        path: &str,
        generation: u64,
        head_only: bool,
        downloads: &Downloads,
    ) -> Option<Response> {
        let (head, bytes) = self.head_and_bytes(store, path, generation, head_only)?;
        count_download(head.download.as_ref(), head_only, downloads);
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() = StatusCode::OK;
        *resp.headers_mut() = headers_of(&head.lines[..head.handler_end]);
        Some(resp)
    }

    /// Entries and bytes held, text and zips together.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        [&self.text, &self.zips].iter().fold((0, 0), |(n, b), s| {
            let s = s.lock().unwrap_or_else(PoisonError::into_inner);
            (n + s.map.len(), b + s.bytes)
        })
    }
}

/// The headers that ask for part of an answer, or for it only if changed: requests of a zip
/// with any of them are answered by the handler, not from the cache (text answers ignore
/// them).
pub const CONDITIONAL: [header::HeaderName; 3] =
    [header::RANGE, header::IF_RANGE, header::IF_NONE_MATCH];

/// Whether `headers` has one of `CONDITIONAL`.
#[must_use]
pub fn conditional(headers: &HeaderMap) -> bool {
    CONDITIONAL.iter().any(|h| headers.contains_key(h))
}

/// `(owner, tail)` of a GOPROXY read (`GET`/`HEAD /api/packages/{owner}/go/{tail}`), else
/// `None` (the request goes through warp).
#[must_use]
pub fn goproxy_read(method: &Method, path: &str) -> Option<(String, String)> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let (owner, tail) = crate::gomod::proxy::split(path)?;
    Some((owner.to_owned(), tail.to_owned()))
}

/// Whether an answer (finished: `finish::decorate` ran) may be kept: a final status (200,
/// 404, 410), no header but the ones GOPROXY answers have (`KEPT_HEADERS`, with a type and a
/// cache policy that is not `private`), and a length of at most `max` bytes: the body's known
/// size, or its `content-length` (a zip of several stored pieces is a stream, gathered by
/// `keep`); when it has both, they agree (a zip's `HEAD` answer has none of the bytes its
/// length announces).
fn cacheable(resp: &Response, max: usize) -> bool {
    use http_body::Body as _;
    let h = resp.headers();
    let declared = h
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    let len = match (declared, resp.body().size_hint().exact()) {
        (Some(Some(n)), Some(m)) if n != m => return false,
        (Some(Some(n)), _) | (None, Some(n)) => n,
        (Some(None), _) | (None, None) => return false,
    };
    let shared = h
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| !v.as_bytes().starts_with(b"private"));
    matches!(
        resp.status(),
        StatusCode::OK | StatusCode::NOT_FOUND | StatusCode::GONE
    ) && h.contains_key(header::CONTENT_TYPE)
        && shared
        && h.keys().all(|k| KEPT_HEADERS.contains(k))
        && h.len() == h.keys_len()
        && len <= max as u64
}

/// Whether a zip's 200 may be kept as a head: the headers a GOPROXY answer has, each once, a
/// length, and a cache policy that is not `private`.
fn head_cacheable(resp: &Response) -> bool {
    let h = resp.headers();
    resp.status() == StatusCode::OK
        && h.contains_key(header::CONTENT_LENGTH)
        && h.get(header::CACHE_CONTROL)
            .is_some_and(|v| !v.as_bytes().starts_with(b"private"))
        && h.keys().all(|k| KEPT_HEADERS.contains(k))
        && h.len() == h.keys_len()
}

/// Answers a GOPROXY read (`goproxy_read` matched), from the cache when it can; the answer is
/// finished (`finish`: headers, count, log line).
pub async fn serve(
    state: AppState,
    parts: http::request::Parts,
    owner: String,
    tail: String,
    conn: ConnInfo,
) -> Response {
    let start = Instant::now();
    let path = parts.uri.path();
    let head = parts.method == Method::HEAD;
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    let zip = tail.ends_with(".zip");
    let sumdb = tail.starts_with("sumdb/");
    let use_cache =
        anonymous && parts.uri.query().is_none() && !(zip && conditional(&parts.headers));
    // Read before the answer is computed (see `Store::generation`).
    let generation = state.store.generation();
    if use_cache {
        let hit = state
            .answers
            .get(path, generation, head, &state.ui.downloads)
            .or_else(|| {
                zip.then(|| {
                    state.answers.get_by_head(
                        &state.store,
                        path,
                        generation,
                        head,
                        &state.ui.downloads,
                    )
                })
                .flatten()
            });
        if let Some(hit) = hit {
            let len = finish::declared_len(&hit);
            finish::record(
                &state.metrics,
                start,
                &parts.method,
                path,
                hit.status().as_u16(),
                len,
            );
            return hit;
        }
    }
    let mut resp = into_response(
        goproxy::handle(
            state.clone(),
            owner,
            tail,
            parts.method.clone(),
            parts.headers.clone(),
            Some(conn),
        )
        .await,
    );
    finish::decorate(path, resp.headers_mut());
    // An answer that changes without a write to the store (the pull-through cache's lists,
    // its upstream failures) is never kept.
    if use_cache && resp.extensions().get::<super::pull::Volatile>().is_none() {
        if let Some(goproxy::ZipBlob(site)) = resp.extensions().get().copied() {
            if site.size() <= MAX_HEAD_READ && head_cacheable(&resp) {
                state.answers.insert_head(path, generation, &resp, site);
            }
        }
        // A checksum database miss may be answered otherwise without any write (the upstream
        // back, a record fetched): only its hits are kept.
        let sumdb_miss = sumdb && resp.status() != StatusCode::OK;
        if !sumdb_miss {
            resp = keep(&state, path, zip, generation, resp).await;
        }
    }
    let len = finish::declared_len(&resp);
    finish::record(
        &state.metrics,
        start,
        &parts.method,
        path,
        resp.status().as_u16(),
        len,
    );
    resp
}

/// Puts a cacheable answer into the cache and gives it back.
async fn keep(
    state: &AppState,
    path: &str,
    zip: bool,
    generation: u64,
    resp: Response,
) -> Response {
    if !cacheable(&resp, if zip { MAX_ZIP_ENTRY } else { MAX_ENTRY }) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // A small body: in memory already, or a zip's few stored pieces (see `goproxy`), so this
    // completes at once and copies at most `MAX_ZIP_ENTRY`.
    let body = match body.collect().await {
        Ok(b) => b,
        Err(e) => {
            let mut resp =
                super::error::ApiError::internal("reading an answer", &e).into_response();
            finish::decorate(path, resp.headers_mut());
            return resp;
        }
    };
    let declared = parts.headers.get(header::CONTENT_LENGTH);
    if declared.is_some_and(|v| v.as_bytes() != body.len().to_string().as_bytes()) {
        // Cut short: not kept; written as it is, the connection ends after it.
        return Response::from_parts(parts, Body::from(body));
    }
    let download = parts
        .extensions
        .get::<goproxy::Download>()
        .map(|d| Arc::clone(&d.0));
    // A zip's body is exact already (its stored pieces are copied out of the database, and
    // `collect` joins several into one exact buffer); a text answer's may be a `Vec` built by
    // pushing, so it is copied (it is small).
    let kept = if zip {
        body.clone()
    } else {
        Bytes::copy_from_slice(&body)
    };
    state.answers.insert(
        path,
        generation,
        Cached::new(parts.status, &parts.headers, kept, download),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn text_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h
    }

    fn entry(body: &'static str) -> Cached {
        Cached::new(
            StatusCode::OK,
            &text_headers(),
            Bytes::from_static(body.as_bytes()),
            None,
        )
    }

    /// A zip's 200 as `goproxy::zip` makes it, `len` bytes.
    fn zip_response(len: usize, body_len: usize) -> Response {
        let mut r = Response::new(Body::from(vec![b'z'; body_len]));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(header::ETAG, HeaderValue::from_static("\"ab\""));
        h.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    }

    /// A lookup that counts no download (as for a `HEAD`).
    fn look(cache: &AnswerCache, path: &str, generation: u64) -> Option<Response> {
        cache.get(path, generation, true, &Downloads::default())
    }

    async fn body_of(resp: Response) -> Bytes {
        resp.into_body().collect().await.unwrap()
    }

    #[tokio::test]
    async fn an_entry_lives_exactly_as_long_as_its_generation() {
        let cache = AnswerCache::default();
        cache.insert("/a", 3, entry("v1.0.0\n"));
        assert_eq!(body_of(look(&cache, "/a", 3).unwrap()).await, "v1.0.0\n");
        assert!(look(&cache, "/b", 3).is_none());
        // A write happened: the entry is not served any more.
        assert!(look(&cache, "/a", 4).is_none());
        cache.insert("/a", 4, entry("v1.0.0\nv1.1.0\n"));
        // An answer read before that write arrives late: dropped, not kept.
        cache.insert("/c", 3, entry("old\n"));
        assert!(look(&cache, "/c", 4).is_none());
        assert!(look(&cache, "/a", 3).is_none());
        assert_eq!(
            body_of(look(&cache, "/a", 4).unwrap()).await,
            "v1.0.0\nv1.1.0\n"
        );
        assert_eq!(cache.usage().0, 1);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_budget() {
        let cache = AnswerCache::default();
        let body: &'static str = Box::leak("x".repeat(MAX_ENTRY).into_boxed_str());
        for i in 0..(2 * BUDGET / MAX_ENTRY) {
            let path = format!("/p{i}");
            cache.insert(&path, 1, entry(body));
            let (_, bytes) = cache.usage();
            assert!(bytes <= BUDGET, "{bytes} after {i}");
            assert!(look(&cache, &path, 1).is_some(), "the newest entry is kept");
        }
        // Replacing entries and evicting keep the shelf's books straight.
        for i in 0..500 {
            let path = format!("/p{}", i % 300);
            cache.insert(&path, 1, entry(&body[..(i * 37) % MAX_ENTRY]));
        }
        let text = cache.text.lock().unwrap();
        assert_eq!(text.keys.len(), text.map.len());
        for (at, key) in text.keys.iter().enumerate() {
            assert_eq!(text.map[key].1, at, "{key}");
        }
        let sum: usize = text.map.iter().map(|(k, (c, _))| weight(k, &**c)).sum();
        assert_eq!(sum, text.bytes);
        drop(text);
        // Room is made by evicting some entries, not all of them.
        let (n, bytes) = cache.usage();
        assert!(
            n >= BUDGET / (MAX_ENTRY + 512) - 1,
            "{n} entries, {bytes} bytes"
        );
    }

    #[tokio::test]
    async fn zips_have_their_own_shelf_and_count_their_downloads() {
        let cache = AnswerCache::default();
        cache.insert("/m/@v/list", 1, entry("v1.0.0\n"));
        let key = Arc::new(("o".to_owned(), "m".to_owned(), "v1.0.0".to_owned()));
        let zip = |n: u8| {
            Cached::new(
                StatusCode::OK,
                zip_response(MAX_ZIP_ENTRY, MAX_ZIP_ENTRY).headers(),
                Bytes::from(vec![n; MAX_ZIP_ENTRY]),
                Some(Arc::clone(&key)),
            )
        };
        // More zips than their budget holds: the text answer stays, the zips stay within it.
        for i in 0..(2 * ZIP_BUDGET / MAX_ZIP_ENTRY) {
            cache.insert(&format!("/m/@v/v1.0.{i}.zip"), 1, zip(1));
            let zips = cache.zips.lock().unwrap();
            assert!(zips.bytes <= ZIP_BUDGET, "{} after {i}", zips.bytes);
        }
        assert!(look(&cache, "/m/@v/list", 1).is_some());
        // Once full, a new zip is kept one time in `ZIP_ADMISSION`: any kept one will do.
        let last = cache.zips.lock().unwrap().keys[0].to_string();
        // A GET served from the cache counts the zip's download; a HEAD does not.
        let downloads = Downloads::default();
        assert!(cache.get(&last, 1, true, &downloads).is_some());
        assert!(downloads.pending_for("o", "m").is_empty());
        let resp = cache.get(&last, 1, false, &downloads).unwrap();
        assert_eq!(downloads.pending_for("o", "m").get("v1.0.0"), Some(&1));
        assert_eq!(
            resp.headers()[header::CONTENT_LENGTH],
            MAX_ZIP_ENTRY.to_string().as_str()
        );
        assert_eq!(body_of(resp).await.len(), MAX_ZIP_ENTRY);
        // The head lines are the answer's headers in order, then its length.
        let lines = cache.zips.lock().unwrap().map[last.as_str()]
            .0
            .lines
            .clone();
        let text = std::str::from_utf8(&lines).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/zip\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("content-length: {MAX_ZIP_ENTRY}\r\n")),
            "{text}"
        );
        // After a write, nothing of the old generation is served, and the first answer of
        // the new one empties its shelf.
        assert!(look(&cache, &last, 2).is_none());
        assert!(look(&cache, "/m/@v/list", 2).is_none());
        cache.insert("/m/@v/v2.0.0.zip", 2, zip(2));
        assert_eq!(cache.zips.lock().unwrap().map.len(), 1);
        assert!(look(&cache, "/m/@v/v2.0.0.zip", 2).is_some());
    }

    /// Once the zip shelf is full, about one new zip in `ZIP_ADMISSION` is kept, the rest
    /// served and dropped; until then, every one is kept. The text shelf keeps every new
    /// answer (shown by `the_cache_never_holds_more_than_its_budget`).
    #[test]
    fn a_full_zip_shelf_admits_one_new_zip_in_eight() {
        let cache = AnswerCache::default();
        let zip = || {
            Cached::new(
                StatusCode::OK,
                zip_response(MAX_ZIP_ENTRY, MAX_ZIP_ENTRY).headers(),
                Bytes::from(vec![1; MAX_ZIP_ENTRY]),
                None,
            )
        };
        let mut i = 0;
        loop {
            let path = format!("/m/@v/v1.0.{i}.zip");
            let full = {
                let zips = cache.zips.lock().unwrap();
                zips.bytes + weight(&path, &zip()) > zips.budget
            };
            if full {
                break;
            }
            cache.insert(&path, 1, zip());
            assert!(look(&cache, &path, 1).is_some(), "kept while there is room");
            i += 1;
        }
        let tries = 1600;
        let kept = (i..i + tries)
            .filter(|i| {
                let path = format!("/m/@v/v1.0.{i}.zip");
                cache.insert(&path, 1, zip());
                look(&cache, &path, 1).is_some()
            })
            .count();
        let expected = tries / usize::try_from(ZIP_ADMISSION).unwrap();
        assert!(
            kept > expected / 2 && kept < expected * 2,
            "{kept} of {tries} kept"
        );
        assert!(cache.zips.lock().unwrap().bytes <= ZIP_BUDGET);
    }

    /// A zip's head is kept only for a whole public answer with its length and the headers
    /// a GOPROXY answer has; its lines are those `get` would give, with the length.
    #[test]
    fn zip_heads_are_kept_only_for_whole_public_answers() {
        assert!(head_cacheable(&zip_response(300_000, 0)));
        let mut private = zip_response(300_000, 0);
        private.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=300"),
        );
        assert!(!head_cacheable(&private));
        let mut partial = zip_response(300_000, 0);
        *partial.status_mut() = StatusCode::PARTIAL_CONTENT;
        assert!(!head_cacheable(&partial));
        let mut unknown = zip_response(300_000, 0);
        unknown.headers_mut().remove(header::CONTENT_LENGTH);
        assert!(!head_cacheable(&unknown));
        let mut odd = zip_response(300_000, 0);
        odd.headers_mut()
            .insert("set-cookie", HeaderValue::from_static("a=b"));
        assert!(!head_cacheable(&odd));

        let cache = AnswerCache::default();
        let resp = zip_response(300_000, 0);
        let site = crate::store::BlobSite::unstored([7; 32], 300_000);
        cache.insert_head("/m/@v/v1.0.0.zip", 1, &resp, site);
        let head = cache.head("/m/@v/v1.0.0.zip", 1).unwrap();
        assert_eq!(head.site, site);
        assert_eq!(headers_of(&head.lines[..head.handler_end]), *resp.headers());
        assert!(std::str::from_utf8(&head.lines)
            .unwrap()
            .starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/zip\r\n"));
        assert!(
            cache.head("/m/@v/v1.0.0.zip", 2).is_none(),
            "a write happened"
        );
    }

    /// A zip served by its head is read from where the store keeps it, and offered to the
    /// zip shelf, so that the next request finds it in memory.
    #[test]
    fn a_zip_served_by_its_head_moves_onto_the_zip_shelf() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("t.redb")).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        crate::store::put_test_version(&store, &bytes);
        let (_, _, site) = store
            .zip_start("acme", "example.com/m", "v1.0.0", 0, 0)
            .unwrap();
        let path = "/example.com/m/@v/v1.0.0.zip";
        let generation = store.generation();
        let cache = AnswerCache::default();
        let resp = zip_response(bytes.len(), 0);
        cache.insert_head(path, generation, &resp, site.unwrap());
        assert!(
            look(&cache, path, generation).is_none(),
            "not on the zip shelf yet"
        );
        let (head, read) = cache
            .head_and_bytes(&store, path, generation, false)
            .unwrap();
        assert_eq!(read[..], bytes[..]);
        assert_eq!(head.site.size(), bytes.len() as u64);
        let kept = look(&cache, path, generation).expect("on the zip shelf now");
        assert_eq!(
            kept.headers()[header::CONTENT_LENGTH],
            bytes.len().to_string().as_str()
        );
        let hits = cache.hits();
        assert_eq!((hits[1], hits[2]), (("zips", 1), ("heads", 1)));
    }

    #[test]
    fn only_goproxy_reads_take_the_fast_path() {
        let m = Method::GET;
        assert_eq!(
            goproxy_read(&m, "/api/packages/acme/go/example.com/m/@v/list"),
            Some(("acme".into(), "example.com/m/@v/list".into()))
        );
        assert_eq!(
            goproxy_read(&Method::HEAD, "/api/packages/acme/go/x/@latest"),
            Some(("acme".into(), "x/@latest".into()))
        );
        assert!(goproxy_read(&Method::PUT, "/api/packages/acme/go/upload").is_none());
        assert!(goproxy_read(&Method::DELETE, "/api/packages/acme/go/x/@v/list").is_none());
        assert!(goproxy_read(&m, "/api/packages//go/x/@v/list").is_none());
        assert!(goproxy_read(&m, "/api/packages/acme/npm/x").is_none());
        assert!(goproxy_read(&m, "/api/v1/packages/acme/go/x").is_none());
        assert!(goproxy_read(&m, "/ui/acme").is_none());
    }

    #[test]
    fn only_small_final_goproxy_answers_are_cacheable() {
        let ok = |status: StatusCode, body: Vec<u8>| {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = status;
            *r.headers_mut() = text_headers();
            r
        };
        let text = |r: &Response| cacheable(r, MAX_ENTRY);
        assert!(text(&ok(StatusCode::OK, b"v1.0.0\n".to_vec())));
        assert!(text(&ok(
            StatusCode::NOT_FOUND,
            b"unknown module x\n".to_vec()
        )));
        assert!(text(&ok(StatusCode::GONE, b"deleted\n".to_vec())));
        assert!(!text(&ok(StatusCode::INTERNAL_SERVER_ERROR, b"x".to_vec())));
        assert!(!text(&ok(StatusCode::UNAUTHORIZED, b"x".to_vec())));
        assert!(!text(&ok(StatusCode::OK, vec![b'x'; MAX_ENTRY + 1])));
        let mut extra = ok(StatusCode::OK, b"x".to_vec());
        extra
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        assert!(!text(&extra));
        let mut twice = ok(StatusCode::OK, b"x".to_vec());
        twice
            .headers_mut()
            .append(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(!text(&twice));

        let zip = |r: &Response| cacheable(r, MAX_ZIP_ENTRY);
        assert!(zip(&zip_response(3000, 3000)));
        assert!(zip(&zip_response(MAX_ZIP_ENTRY, MAX_ZIP_ENTRY)));
        assert!(!zip(&zip_response(MAX_ZIP_ENTRY + 1, MAX_ZIP_ENTRY + 1)));
        assert!(
            !text(&zip_response(MAX_ENTRY + 1, MAX_ENTRY + 1)),
            "a text answer's limit"
        );
        // A HEAD answer: the length of bytes it does not have.
        assert!(!zip(&zip_response(3000, 0)));
        // A zip of several stored pieces is a stream of the length it declares.
        let mut streamed = zip_response(3000, 0);
        let pieces =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 3000]))]);
        *streamed.body_mut() = Body::stream(None, pieces);
        assert!(zip(&streamed));
        *streamed.body_mut() = Body::stream(
            None,
            futures_util::stream::empty::<Result<Bytes, std::io::Error>>(),
        );
        streamed.headers_mut().remove(header::CONTENT_LENGTH);
        assert!(!zip(&streamed), "no known length");
        let mut private = zip_response(3000, 3000);
        private.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        assert!(!zip(&private), "a private answer is never shared");
    }
}
