//! `/metrics` in the Prometheus text format: requests by route and status, bytes served,
//! upload outcomes, and what the store holds (database size, versions, blob bytes, the bytes
//! deduplication saves). Counters are atomics and one small map; store figures are read at
//! most every `STORE_REFRESH`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::{Stats, Store};

/// How long store figures are reused between scrapes.
const STORE_REFRESH: Duration = Duration::from_secs(10);

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    bytes_served: AtomicU64,
    /// Connections accepted, and of them those served by hyper (`http::conn`, `http::edge`).
    connections: AtomicU64,
    handed: AtomicU64,
    store: Mutex<Option<(Instant, Stats)>>,
    /// The edge's connection table, once serving.
    conns: std::sync::OnceLock<std::sync::Arc<super::edge::Conns>>,
    /// Checksum database lookups answered 503 instead of fetched: past a requester's budget,
    /// past the global cap.
    sumdb_over_budget: AtomicU64,
    sumdb_over_cap: AtomicU64,
    /// The pull-through cache (`http::pull`), by `Pull` event, and the bytes it received.
    pull: [AtomicU64; PULL_EVENTS.len()],
    pull_bytes: AtomicU64,
    pull_cached_bytes: AtomicU64,
}

/// What the pull-through cache counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// A version file answered from the cache.
    Hit,
    /// A version file that had to be fetched.
    Miss,
    /// A request sent to an upstream proxy.
    Fetch,
    /// A list or `@latest` answered from its last copy while the upstream failed.
    Stale,
    /// Upstream content refused by verification.
    Refused,
    /// A cached zip dropped under `cache_max_bytes`.
    Evicted,
}

/// (event, metric name, help), in `Pull` order.
const PULL_EVENTS: [(Pull, &str, &str); 6] = [
    (
        Pull::Hit,
        "goshelf_pull_hits_total",
        "Version files (.info, .mod, .zip) of public modules answered from the pull-through cache.",
    ),
    (
        Pull::Miss,
        "goshelf_pull_misses_total",
        "Version files of public modules the pull-through cache had to fetch.",
    ),
    (
        Pull::Fetch,
        "goshelf_pull_upstream_requests_total",
        "Requests sent to the upstream module proxies.",
    ),
    (
        Pull::Stale,
        "goshelf_pull_stale_answers_total",
        "Lists and @latest answered from their last copy while the upstream failed.",
    ),
    (
        Pull::Refused,
        "goshelf_pull_verification_failures_total",
        "Upstream content refused by verification (nothing stored; a SECURITY log line each).",
    ),
    (
        Pull::Evicted,
        "goshelf_pull_evictions_total",
        "Cached zips dropped to stay under cache_max_bytes.",
    ),
];

/// The route a path belongs to, for the `route` label (a fixed set, so labels stay bounded).
#[must_use]
pub fn route_of(method: &str, path: &str) -> &'static str {
    use crate::gomod::proxy::{self, Kind};
    if let Some((_, tail)) = proxy::split(path) {
        return match proxy::kind(tail) {
            Kind::Upload if method == "PUT" => "upload",
            Kind::List => "list",
            Kind::Latest => "latest",
            Kind::Info => "info",
            Kind::Mod => "mod",
            Kind::Zip => "zip",
            Kind::Sumdb => "sumdb",
            Kind::Upload | Kind::Other => "other_goproxy",
        };
    }
    if path.starts_with("/api/v1/packages/") {
        return "delete";
    }
    if path.starts_with("/api/v1/admin/") {
        return "admin";
    }
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        _ => "other",
    }
}

/// The `outcome` label of an upload answered with `status`.
#[must_use]
pub fn upload_outcome(status: u16) -> &'static str {
    match status {
        201 => "created",
        400 => "invalid",
        401 | 403 => "denied",
        408 => "stalled",
        409 => "conflict",
        413 => "too_large",
        507 => "disk_full",
        _ => "error",
    }
}

impl Metrics {
    /// Counts a lookup refused past a budget (`cap`: the global one).
    pub fn sumdb_refused(&self, cap: bool) {
        let c = if cap {
            &self.sumdb_over_cap
        } else {
            &self.sumdb_over_budget
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a pull-through cache event.
    pub fn pull(&self, event: Pull) {
        self.pull[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts bytes received from upstream proxies.
    pub fn pull_bytes(&self, n: u64) {
        self.pull_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the bytes of zips the pull-through cache holds.
    pub fn set_pull_cached_bytes(&self, n: u64) {
        self.pull_cached_bytes.store(n, Ordering::Relaxed);
    }

    /// Counts one answered request.
    pub fn record(&self, route: &'static str, status: u16, bytes: u64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((route, status))
            .or_insert(0) += 1;
        self.bytes_served.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Requests counted for `route` with `status`, and bytes counted in all (for tests).
    #[cfg(test)]
    pub(crate) fn counted(&self, route: &'static str, status: u16) -> (u64, u64) {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        (
            requests.get(&(route, status)).copied().unwrap_or(0),
            self.bytes_served.load(Ordering::Relaxed),
        )
    }

    /// Counts one accepted plain-HTTP connection.
    pub fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports the edge's connection table (open connections, evictions, refusals).
    pub fn watch_connections(&self, conns: std::sync::Arc<super::edge::Conns>) {
        self.conns.set(conns).ok();
    }

    /// Counts one plain-HTTP connection handed to hyper.
    pub fn connection_handed(&self) {
        self.handed.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text. Reads the store (at most every `STORE_REFRESH`) and the file size.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn render(
        &self,
        store: &Store,
        answers: &super::fast::AnswerCache,
    ) -> Result<String, crate::store::Error> {
        let stats = {
            let mut cached = self.store.lock().unwrap_or_else(PoisonError::into_inner);
            match *cached {
                Some((at, stats)) if at.elapsed() < STORE_REFRESH => stats,
                _ => {
                    let stats = store.stats()?;
                    *cached = Some((Instant::now(), stats));
                    stats
                }
            }
        };
        let db_bytes = std::fs::metadata(store.path())
            .map(|m| m.len())
            .unwrap_or(0);
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP goshelf_http_requests_total HTTP requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE goshelf_http_requests_total counter");
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "goshelf_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP goshelf_http_response_bytes_total Bytes of response bodies sent."
        );
        let _ = writeln!(out, "# TYPE goshelf_http_response_bytes_total counter");
        let _ = writeln!(
            out,
            "goshelf_http_response_bytes_total {}",
            self.bytes_served.load(Ordering::Relaxed)
        );
        let (evicted, refused) = self.conns.get().map_or((0, 0), |c| c.counts());
        let counters = [
            (
                "goshelf_http_connections_total",
                "Connections accepted (plain and HTTPS).",
                self.connections.load(Ordering::Relaxed),
            ),
            (
                "goshelf_http_connections_general_total",
                "Connections served by hyper: those whose first request that was not an anonymous GOPROXY read handed them over, and all of them with fast_path off.",
                self.handed.load(Ordering::Relaxed),
            ),
            (
                "goshelf_http_connections_evicted_total",
                "Idle kept-alive connections closed to make room under max_connections or max_connections_per_ip.",
                evicted,
            ),
            (
                "goshelf_http_connections_refused_total",
                "Connections answered 503 because their address held max_connections_per_ip busy connections.",
                refused,
            ),
        ];
        let _ = writeln!(
            out,
            "# HELP goshelf_sumdb_lookups_refused_total Checksum database lookups answered 503 instead of fetched from the upstream: past the requester's sumdb_lookup_budget, or past sumdb_upstream_max_records."
        );
        let _ = writeln!(out, "# TYPE goshelf_sumdb_lookups_refused_total counter");
        for (reason, n) in [
            ("budget", self.sumdb_over_budget.load(Ordering::Relaxed)),
            ("cap", self.sumdb_over_cap.load(Ordering::Relaxed)),
        ] {
            let _ = writeln!(
                out,
                "goshelf_sumdb_lookups_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let pull_bytes = [(
            "goshelf_pull_upstream_bytes_total",
            "Bytes received from the upstream module proxies.",
            self.pull_bytes.load(Ordering::Relaxed),
        )];
        let pull = PULL_EVENTS
            .iter()
            .map(|&(e, name, help)| (name, help, self.pull[e as usize].load(Ordering::Relaxed)));
        for (name, help, value) in counters.into_iter().chain(pull).chain(pull_bytes) {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP goshelf_answer_cache_hits_total Anonymous GOPROXY reads answered from memory, by shelf: text answers, small zips, and zips read again by the answer's head."
        );
        let _ = writeln!(out, "# TYPE goshelf_answer_cache_hits_total counter");
        for (shelf, n) in answers.hits() {
            let _ = writeln!(
                out,
                "goshelf_answer_cache_hits_total{{shelf=\"{shelf}\"}} {n}"
            );
        }
        let mut uploads: BTreeMap<&str, u64> = BTreeMap::new();
        for ((route, status), n) in &requests {
            if *route == "upload" {
                *uploads.entry(upload_outcome(*status)).or_insert(0) += n;
            }
        }
        let _ = writeln!(out, "# HELP goshelf_uploads_total Uploads, by outcome.");
        let _ = writeln!(out, "# TYPE goshelf_uploads_total counter");
        for (outcome, n) in &uploads {
            let _ = writeln!(out, "goshelf_uploads_total{{outcome=\"{outcome}\"}} {n}");
        }
        let open = self.conns.get().map_or(0, |c| c.len() as u64);
        let gauges = [
            (
                "goshelf_http_connections_open",
                "Connections open now.",
                open,
            ),
            (
                "goshelf_pull_cached_bytes",
                "Bytes of zips the pull-through cache holds (per version, before deduplication).",
                self.pull_cached_bytes.load(Ordering::Relaxed),
            ),
            (
                "goshelf_database_bytes",
                "Size of the database file.",
                db_bytes,
            ),
            (
                "goshelf_namespaces",
                "Namespaces (owners).",
                stats.namespaces,
            ),
            ("goshelf_modules", "Modules.", stats.modules),
            ("goshelf_versions", "Published versions.", stats.versions),
            ("goshelf_blobs", "Distinct zips stored.", stats.blobs),
            (
                "goshelf_blob_bytes",
                "Bytes of distinct zips stored.",
                stats.blob_bytes,
            ),
            (
                "goshelf_dedup_saved_bytes",
                "Bytes deduplication saves: what the versions reference minus what is stored.",
                stats.referenced_bytes.saturating_sub(stats.blob_bytes),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pull_events_are_listed_in_their_order() {
        for (i, (event, _, _)) in PULL_EVENTS.iter().enumerate() {
            assert_eq!(*event as usize, i);
        }
    }

    use super::*;

    #[test]
    fn route_of_names_each_endpoint() {
        let b = "/api/packages/acme/go/example.com/m";
        assert_eq!(route_of("GET", &format!("{b}/@v/list")), "list");
        assert_eq!(route_of("GET", &format!("{b}/@v/v1.0.0.info")), "info");
        assert_eq!(route_of("GET", &format!("{b}/@v/v1.0.0.mod")), "mod");
        assert_eq!(route_of("HEAD", &format!("{b}/@v/v1.0.0.zip")), "zip");
        assert_eq!(route_of("GET", &format!("{b}/@latest")), "latest");
        assert_eq!(route_of("PUT", "/api/packages/acme/go/upload"), "upload");
        assert_eq!(
            route_of(
                "GET",
                "/api/packages/acme/go/sumdb/sum.golang.org/supported"
            ),
            "sumdb"
        );
        assert_eq!(
            route_of("DELETE", "/api/v1/packages/acme/go/m/v1"),
            "delete"
        );
        assert_eq!(route_of("GET", "/api/v1/admin/backup"), "admin");
        assert_eq!(route_of("GET", "/healthz"), "healthz");
        assert_eq!(route_of("GET", "/x"), "other");
    }
}
