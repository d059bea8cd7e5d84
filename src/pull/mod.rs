//! The pull-through cache of public modules (`/go`): what the `upstream` setting means, how
//! concurrent misses share one fetch, and the HTTP client that fetches from an upstream
//! GOPROXY under the shelf's limits (`fetch`). Serving (`http::pull`) and storage
//! (`store::cached`) are thin around these.

pub mod fetch;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::{BoxFuture, FutureExt, Shared};

/// One entry of the `upstream` list: a GOPROXY base URL and whether the next entry is tried
/// after any error (`|` after it) or only after a "not found" (`,`), as the go command reads
/// `GOPROXY` (proxy-cache.md §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The base URL, without a trailing `/`.
    pub url: String,
    /// `|` followed this entry: any error falls through to the next one.
    pub on_any_error: bool,
}

/// Parses `upstream`: GOPROXY syntax (`,` and `|` separators, empty entries skipped, `off`
/// ends the list). An empty list (or `off`): nothing is fetched.
///
/// # Errors
/// `direct` (goshelf never runs version control tools), `noproxy`, or an entry that is not
/// an `http(s)://` URL; a one-line reason.
pub fn parse_upstreams(value: &str) -> Result<Vec<Upstream>, String> {
    let mut out = Vec::new();
    // Each piece ends with the separator that follows its entry (the last with none).
    for piece in value.trim().split_inclusive([',', '|']) {
        let any = piece.ends_with('|');
        let entry = piece.trim_end_matches([',', '|']).trim();
        match entry {
            "" => continue,
            "off" => break,
            "direct" => {
                return Err(
                    "`direct` is not supported: goshelf fetches from module proxies \
                            only and never runs version control tools"
                        .into(),
                )
            }
            _ if entry.starts_with("https://") || entry.starts_with("http://") => {
                if entry.contains(['?', '#']) {
                    return Err(format!("{entry}: a proxy URL has no query or fragment"));
                }
                out.push(Upstream {
                    url: entry.trim_end_matches('/').to_owned(),
                    on_any_error: any,
                });
            }
            _ => return Err(format!("{entry}: not an http(s):// URL")),
        }
    }
    Ok(out)
}

/// Concurrent requests for one key share one run of the work: the first starts it as a task
/// of its own (so a client that goes away does not cancel it for the others), the rest await
/// the same outcome. The task forgets its key when it ends, so a later request starts afresh
/// (and finds what the first one stored). At most `MAX_FLIGHTS` keys run at once: a task
/// outlives its client, so without a bound a client that asks for ever new keys and hangs up
/// would leave ever more tasks waiting for an upstream turn.
pub struct Flights<T: Clone + Send + Sync + 'static> {
    running: Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>>,
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self {
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Most runs of one `Flights` under way at once (far more than `upstream_concurrency` lets
/// run; the rest wait for a turn).
pub const MAX_FLIGHTS: usize = 4096;

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// The outcome of the run of `key` under way, or of `work` started now. `failed` makes
    /// the outcome of a task that panicked, `busy` the answer when `MAX_FLIGHTS` other keys
    /// are running (nothing is started).
    pub async fn run<F>(&self, key: &str, work: F, failed: fn() -> T, busy: fn() -> T) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let shared = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = running.get(key) {
                s.clone()
            } else if running.len() >= MAX_FLIGHTS {
                return busy();
            } else {
                let map = Arc::clone(&self.running);
                let k = key.to_owned();
                // The task removes its own entry; it takes the lock held here, so it cannot
                // do that before the entry is in.
                let task = tokio::spawn(async move {
                    let out = work.await;
                    map.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&k);
                    out
                });
                let shared = async move { task.await.unwrap_or_else(|_| failed()) }
                    .boxed()
                    .shared();
                running.insert(key.to_owned(), shared.clone());
                shared
            }
        };
        shared.await
    }

    /// Runs under way.
    #[must_use]
    pub fn len(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no run is under way.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Waits (a bounded number of turns) until a run is under way, and fails if none starts.
    async fn started(flights: &Flights<usize>) {
        for _ in 0..10_000 {
            if flights.len() == 1 {
                assert!(!flights.is_empty());
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("no run under way: {} runs", flights.len());
    }

    #[test]
    fn the_list_reads_as_goproxy_does() {
        let p = |s| parse_upstreams(s);
        assert_eq!(p(""), Ok(vec![]));
        assert_eq!(p("off"), Ok(vec![]));
        assert_eq!(
            p("https://a.example/,http://b.example:8080/x|https://c.example"),
            Ok(vec![
                Upstream {
                    url: "https://a.example".into(),
                    on_any_error: false
                },
                Upstream {
                    url: "http://b.example:8080/x".into(),
                    on_any_error: true
                },
                Upstream {
                    url: "https://c.example".into(),
                    on_any_error: false
                },
            ])
        );
        assert_eq!(p(",,https://a.example,,").map(|l| l.len()), Ok(1));
        assert_eq!(
            p("https://a.example,off,https://b.example").map(|l| l.len()),
            Ok(1),
            "off ends the list"
        );
        assert!(p("https://a.example,direct")
            .unwrap_err()
            .contains("never runs version control tools"));
        assert!(p("ftp://x").is_err());
        assert!(p("proxy.golang.org").is_err());
        assert!(p("https://a.example/?q=1").is_err());
    }

    #[tokio::test]
    async fn concurrent_runs_of_one_key_share_one_outcome() {
        let flights: Arc<Flights<usize>> = Arc::new(Flights::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut waiters = Vec::new();
        for _ in 0..20 {
            let (flights, runs, mut rx) = (Arc::clone(&flights), Arc::clone(&runs), rx.clone());
            waiters.push(tokio::spawn(async move {
                flights
                    .run(
                        "k",
                        async move {
                            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                            let _ = rx.wait_for(|go| *go).await;
                            n * 7
                        },
                        || 0,
                        || 0,
                    )
                    .await
            }));
        }
        started(&flights).await;
        tx.send(true).unwrap();
        for w in waiters {
            assert_eq!(w.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty(), "the finished run forgot its key");
        // A later request runs again.
        assert_eq!(flights.run("k", async { 9 }, || 0, || 0).await, 9);
    }

    /// Past `MAX_FLIGHTS` runs under way, a new key is answered `busy` and nothing starts;
    /// a key under way is still joined, and room comes back as runs end.
    #[tokio::test]
    async fn runs_under_way_are_bounded() {
        let flights: Arc<Flights<usize>> = Arc::new(Flights::default());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut waiters = Vec::new();
        for i in 0..MAX_FLIGHTS {
            let (f, mut rx) = (Arc::clone(&flights), rx.clone());
            waiters.push(tokio::spawn(async move {
                f.run(
                    &format!("k{i}"),
                    async move {
                        let _ = rx.wait_for(|go| *go).await;
                        i
                    },
                    || usize::MAX,
                    || usize::MAX - 1,
                )
                .await
            }));
        }
        for _ in 0..100_000 {
            if flights.len() == MAX_FLIGHTS {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(flights.len(), MAX_FLIGHTS);
        let started = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&started);
        let refused = flights
            .run(
                "new",
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    1
                },
                || usize::MAX,
                || usize::MAX - 1,
            )
            .await;
        assert_eq!(refused, usize::MAX - 1);
        assert_eq!(started.load(Ordering::SeqCst), 0, "nothing started");
        // A key under way is joined.
        let joined = {
            let f = Arc::clone(&flights);
            tokio::spawn(async move { f.run("k7", async { 0 }, || 0, || 0).await })
        };
        // Let it reach the run it joins before the runs end (one runtime thread: a yield
        // runs it until it waits).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        tx.send(true).unwrap();
        assert_eq!(joined.await.unwrap(), 7);
        for (i, w) in waiters.into_iter().enumerate() {
            assert_eq!(w.await.unwrap(), i);
        }
        assert!(flights.is_empty());
        assert_eq!(flights.run("new", async { 3 }, || 0, || 0).await, 3);
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_does_not_cancel_the_run() {
        let flights: Arc<Flights<usize>> = Arc::new(Flights::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(AtomicUsize::new(0));
        let d = Arc::clone(&done);
        let f = Arc::clone(&flights);
        let first = tokio::spawn(async move {
            f.run(
                "k",
                async move {
                    let _ = rx.await;
                    d.fetch_add(1, Ordering::SeqCst);
                    5
                },
                || 0,
                || 0,
            )
            .await
        });
        started(&flights).await;
        first.abort();
        let _ = first.await;
        let f = Arc::clone(&flights);
        let second = tokio::spawn(async move { f.run("k", async { 6 }, || 0, || 0).await });
        tx.send(()).unwrap();
        assert_eq!(
            second.await.unwrap(),
            5,
            "the second joined the first's run"
        );
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
