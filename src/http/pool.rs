//! A fixed pool of threads for expensive work: validating and storing uploads, checking
//! passwords. Its size is the bound on how much of that work runs at once; jobs beyond it wait
//! in line (a waiting job holds its closure, nothing else). A job whose caller went away
//! before it started (a client that hung up) never runs, and its closure, with what it holds
//! (an upload's spool file), is dropped at once rather than when its turn comes.
//!
//! Why threads of its own rather than tokio's blocking pool: the blocking pool grows to
//! hundreds of threads, and glibc's malloc gives threads arenas of their own and keeps what an
//! arena once held. Four 200,000-entry uploads validated in turn on four different blocking
//! threads left about 30 MB each behind (RSS 36 -> 113 MiB, with one validation's peak at
//! 32 MB); on a fixed pool the same memory is used again, so what is kept is at most the pool's
//! size times one job's peak.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// The closure of a job not begun, dropped with the future that waits for it (on the blocking
/// pool: what it holds may be slow to drop, a large spool file's unlink).
struct Unwanted<F: Send + 'static>(Arc<Mutex<Option<F>>>);

impl<F: Send + 'static> Drop for Unwanted<F> {
    fn drop(&mut self) {
        let Some(f) = self.0.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || drop(f))),
            Err(_) => drop(f),
        }
    }
}

/// A pool of `size` named threads.
pub struct WorkPool {
    /// `None` when no thread could be started: jobs then run on tokio's blocking pool.
    jobs: Option<Mutex<mpsc::Sender<Job>>>,
    size: usize,
}

impl std::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkPool")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl WorkPool {
    /// Starts `size` (at least 1) threads named `name-N`. Should no thread start (the
    /// process is out of threads), the pool is logged and its jobs run on tokio's blocking
    /// pool, unbounded.
    #[must_use]
    pub fn new(name: &str, size: usize) -> Self {
        let size = size.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..size {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // One waiting thread holds the lock; the job runs after it is released.
                    let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => job(),
                        // The pool was dropped: the thread ends.
                        Err(_) => return,
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!("starting a {name} thread: {e}"),
            }
        }
        Self {
            jobs: (started > 0).then(|| Mutex::new(tx)),
            size: started,
        }
    }

    /// How many jobs run at once at most.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` on the pool and waits for its result; a panic in it is a 500.
    ///
    /// # Errors
    /// `f`'s error; a 500 when it panicked or the pool is gone.
    pub async fn run<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let Some(jobs) = &self.jobs else {
            return super::blocking(f).await;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiting = Arc::new(Mutex::new(Some(f)));
        let slot = Arc::clone(&waiting);
        let job: Job = Box::new(move || {
            let Some(f) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() else {
                return;
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        });
        // Dropped with this future: takes the closure out unless the job has begun.
        let _unwanted = Unwanted(waiting);
        let sent = jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        if sent.is_err() {
            return Err(ApiError::internal("work pool", &"the pool has stopped"));
        }
        match rx.await {
            Ok(Ok(r)) => r.map_err(Into::into),
            Ok(Err(_)) => Err(ApiError::internal("work pool", &"a job panicked")),
            Err(e) => Err(ApiError::internal("work pool", &e)),
        }
    }

    /// Runs `f` on the pool without waiting for it.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                tracing::error!("a background job panicked");
            }
        });
        let Some(jobs) = &self.jobs else {
            drop(tokio::task::spawn_blocking(job));
            return;
        };
        if jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .is_err()
        {
            tracing::warn!("the work pool has stopped; a background job was dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn no_more_jobs_run_at_once_than_the_pool_has_threads() {
        let pool = Arc::new(WorkPool::new("test", 2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let (pool, running, most) =
                    (Arc::clone(&pool), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ApiError>(i)
                    })
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for j in jobs {
            results.push(j.await.unwrap().unwrap());
        }
        results.sort_unstable();
        assert_eq!(results, (0..8).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.size(), 2);
        assert_eq!(format!("{pool:?}"), "WorkPool { size: 2, .. }");
        assert_eq!(WorkPool::new("test", 0).size(), 1, "at least one thread");
    }

    #[test]
    fn spawned_jobs_run_and_a_panic_in_one_spares_the_next() {
        let pool = WorkPool::new("test", 1);
        let (tx, rx) = mpsc::channel();
        pool.spawn(|| panic!("on purpose"));
        pool.spawn(move || tx.send(7).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    }

    /// A job whose waiter is dropped before it begins never runs, and what its closure holds
    /// is dropped then, not when its turn comes (a review found the uploads of clients that
    /// hung up validated one by one, each holding its spool file until then).
    #[tokio::test]
    async fn a_job_nobody_waits_for_is_dropped_before_it_runs() {
        struct Held(Arc<AtomicUsize>);
        impl Drop for Held {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pool = Arc::new(WorkPool::new("test", 1));
        let (release, blocked) = mpsc::channel::<()>();
        let busy = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run(move || {
                    blocked.recv_timeout(Duration::from_secs(30)).ok();
                    Ok::<_, ApiError>(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (dropped, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let held = Held(Arc::clone(&dropped));
        let ran_in = Arc::clone(&ran);
        let waiting = pool.run(move || {
            let _held = held;
            ran_in.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ApiError>(())
        });
        // The caller gives up while the only thread is busy.
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting)
            .await
            .is_err());
        for _ in 0..100 {
            if dropped.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "dropped while the pool is busy"
        );
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        // The pool goes on, and the abandoned job never ran.
        assert_eq!(pool.run(|| Ok::<_, ApiError>(7)).await.unwrap(), 7);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_is_a_500_and_the_pool_goes_on() {
        let pool = WorkPool::new("test", 1);
        let e = pool
            .run(|| -> Result<(), ApiError> { panic!("on purpose") })
            .await
            .unwrap_err();
        assert_eq!(e.status, http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(pool.run(|| Ok::<_, ApiError>(7)).await.unwrap(), 7);
    }
}
