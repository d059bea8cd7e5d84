//! The database file's storage backend: redb's own file backend, plus early writeback.
//!
//! A large upload writes hundreds of megabytes of pages before its commit. Left alone, the
//! kernel keeps them all dirty in the page cache (its background writeback starts at 10 % of
//! RAM or after 30 s), and the commit's `fsync` then waits for the whole write to reach the
//! disk while the CPU has nothing to do. Here, every `STEP` bytes that redb writes wake a
//! thread that calls `fdatasync` on its own handle to the file, so the disk writes
//! the pages while the upload is still being hashed and copied, and the commit's `fsync` finds
//! little left.
//!
//! This changes nothing about durability or crash safety: the kernel may write any dirty
//! page at any time anyway, and redb's commit still makes its own `fsync` before a commit
//! counts. An error of the early `fdatasync` is kept and returned by the next `sync_data`, so
//! the commit fails as it would have: since Linux 4.13 redb's own handle sees the error too,
//! but older kernels report a write error to the first `fsync` only, which may be ours.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Bytes written by redb between two wake-ups of the writeback thread.
const STEP: u64 = 32 << 20;

/// redb's file backend, with early writeback.
#[derive(Debug)]
pub struct Backend {
    inner: FileBackend,
    /// Bytes written since the last wake-up.
    pending: AtomicU64,
    /// Wakes the writeback thread; it ends when this is dropped with the backend.
    wake: SyncSender<()>,
    /// The writeback thread's last error, for the next `sync_data` to return.
    failed: Arc<Mutex<Option<std::io::Error>>>,
}

impl Backend {
    /// Opens (creating when absent) `path` for redb, and a second handle for the writeback
    /// thread.
    ///
    /// # Errors
    /// I/O errors opening the file or starting the thread.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = super::private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // A separate open file description: it takes no locks, so it cannot hold or release
        // any of redb's. Opened for writing, though nothing is written with it: Windows
        // flushes only handles with write access, and a failed flush fails the next commit.
        let flusher = std::fs::OpenOptions::new().write(true).open(path)?;
        let (wake, woken) = sync_channel::<()>(1);
        let failed = Arc::new(Mutex::new(None));
        let report = Arc::clone(&failed);
        std::thread::Builder::new()
            .name("goshelf-writeback".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    if let Err(e) = flusher.sync_data() {
                        tracing::warn!("early writeback of the database file: {e}");
                        *report.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    }
                }
            })?;
        Ok(Self {
            inner: FileBackend::new(file).map_err(std::io::Error::other)?,
            pending: AtomicU64::new(0),
            wake,
            failed,
        })
    }

    fn wrote(&self, len: usize) {
        let before = self.pending.fetch_add(len as u64, Ordering::Relaxed);
        if before + len as u64 >= STEP {
            self.pending.store(0, Ordering::Relaxed);
            // Full: a writeback is already due, and it takes these pages too. Disconnected:
            // the thread is gone with a closing backend. Neither needs anything done.
            let _ = self.wake.try_send(());
        }
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.pending.store(0, Ordering::Relaxed);
        let result = self.inner.sync_data();
        let early = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match early {
            Some(e) => Err(e),
            None => result,
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)?;
        self.wrote(data.len());
        Ok(())
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Error, Store};

    /// redb locks the file through this backend: a second open is refused while the first
    /// holds it, and succeeds once it is closed.
    #[test]
    fn a_second_open_of_the_file_waits_for_the_first_to_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.redb");
        let first = Store::open(&path).unwrap();
        assert!(matches!(Store::open(&path), Err(Error::Locked { .. })));
        drop(first);
        Store::open(&path).unwrap();
    }

    /// Every `STEP` bytes written wake the writeback thread; the count starts again after a
    /// wake-up and after each `sync_data`.
    #[test]
    fn the_writeback_count_starts_again_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("w.bin")).unwrap();
        let pending = || backend.pending.load(Ordering::Relaxed);
        let block = vec![5u8; 1 << 20];
        let blocks = STEP / (1 << 20);
        for k in 0..blocks - 1 {
            backend.write(k << 20, &block).unwrap();
        }
        assert_eq!(pending(), STEP - (1 << 20));
        backend.write((blocks - 1) << 20, &block).unwrap();
        assert_eq!(pending(), 0, "a step's worth woke the thread");
        backend.write(STEP, &block[..100]).unwrap();
        assert_eq!(pending(), 100);
        backend.sync_data().unwrap();
        assert_eq!(pending(), 0);
        assert_eq!(backend.len().unwrap(), STEP + 100);
    }

    /// An error of the early writeback fails the next `sync_data` (a commit), once.
    #[test]
    fn an_early_writeback_error_fails_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("w.bin")).unwrap();
        backend.write(0, b"abc").unwrap();
        *backend.failed.lock().unwrap() = Some(std::io::Error::other("disk on fire"));
        let err = backend.sync_data().unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        backend.sync_data().unwrap();
        let mut back = [0u8; 3];
        backend.read(0, &mut back).unwrap();
        assert_eq!(&back, b"abc");
    }
}
