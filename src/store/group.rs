//! Group commit of uploads: versions published at the same time share one durable write
//! transaction, so N concurrent uploads cost one fsync instead of N.
//!
//! Every caller still returns only after the transaction holding its version has committed
//! with `Durability::Immediate`: an acknowledged upload is durable, exactly as with one
//! transaction per upload, and a version is visible to readers only once it is durable.
//!
//! How a group forms: the first caller opens a write transaction (redb's `begin_write` waits
//! while the previous group's commit runs, so callers arriving during an fsync pile up here),
//! writes its version and, unless a commit is already running, commits. Callers that find the
//! transaction open add their version to it and wait for its committer. A version that fails
//! half-written aborts the whole group; the others write theirs again into a new transaction.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::modules::{apply_version, ApplyError};
use super::{Error, NewVersion, Result, Store};

/// The state of the group being formed and the outcomes not yet read by their members.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<GroupState>,
    changed: Condvar,
}

#[derive(Default)]
struct GroupState {
    open: Option<Open>,
    next_gen: u64,
    committing: bool,
    /// Outcome of each finished group, with how many members have yet to read it.
    outcomes: HashMap<u64, (Outcome, usize)>,
}

struct Open {
    gen: u64,
    db: Arc<redb::Database>,
    txn: redb::WriteTransaction,
    members: usize,
}

#[derive(Clone)]
enum Outcome {
    Committed,
    Failed(Arc<Error>),
    /// A member failed half-written; the others must write their versions again.
    Aborted,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl GroupState {
    /// Records the outcome of group `gen` for its `members` to read.
    fn finish(&mut self, gen: u64, members: usize, outcome: Outcome) {
        if members > 0 {
            self.outcomes.insert(gen, (outcome, members));
        }
    }

    fn take_outcome(&mut self, gen: u64) -> Option<Outcome> {
        let (outcome, left) = self.outcomes.get_mut(&gen)?;
        let outcome = outcome.clone();
        *left -= 1;
        if *left == 0 {
            self.outcomes.remove(&gen);
        }
        Some(outcome)
    }
}

impl Store {
    /// Publishes a version durably, in one write transaction shared with the uploads that
    /// arrive at the same time (see the module docs).
    ///
    /// # Errors
    /// `VersionExists` when the version is published; `TombstoneMismatch` when it was deleted
    /// with other content; `Corrupt` when `zip` does not yield the announced bytes; storage
    /// errors of the shared commit.
    pub fn put_version<R: Read + Seek>(&self, new: &NewVersion<'_>, zip: &mut R) -> Result<()> {
        let start = zip.stream_position()?;
        loop {
            let db = self.handle()?;
            let mut g = self.group.lock();
            if g.open.as_ref().is_some_and(|o| !Arc::ptr_eq(&o.db, &db)) {
                // The store reopened its file: that transaction belongs to the old handle.
                if let Some(stale) = g.open.take() {
                    g.finish(stale.gen, stale.members, Outcome::Aborted);
                    self.group.changed.notify_all();
                }
            }
            if g.open.is_none() {
                let txn = match self.begin_write(&db) {
                    Ok(t) => t,
                    Err(e) => {
                        drop(g);
                        return Err(self.failed(e, db));
                    }
                };
                let gen = g.next_gen;
                g.next_gen += 1;
                g.open = Some(Open {
                    gen,
                    db: Arc::clone(&db),
                    txn,
                    members: 0,
                });
            }
            let Some(open) = g.open.as_mut() else {
                return Err(Error::Commit("no open transaction".into()));
            };
            zip.seek(SeekFrom::Start(start))?;
            let gen = open.gen;
            // A panic while writing (redb panics on some damage) must not leave its partial
            // writes in the open transaction for the next member to commit: it fails the
            // group as an error would.
            let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                apply_version(&open.txn, new, zip)
            }))
            .unwrap_or_else(|_| {
                Err(ApplyError::Failed(Error::Corrupt(
                    "storing the version failed unexpectedly (a panic, logged); nothing was \
                     stored"
                        .into(),
                )))
            });
            match applied {
                Ok(()) => open.members += 1,
                Err(ApplyError::Refused(e)) => {
                    // Nothing was written. An open transaction nobody else joined would hold
                    // redb's write slot with no one to commit it: drop it.
                    if g.open.as_ref().is_some_and(|o| o.members == 0) {
                        g.open = None;
                    }
                    return Err(e);
                }
                Err(ApplyError::Failed(e)) => {
                    if let Some(open) = g.open.take() {
                        g.finish(open.gen, open.members, Outcome::Aborted);
                    }
                    self.group.changed.notify_all();
                    drop(g);
                    return Err(self.failed(e, db));
                }
            }
            // Waiting members hold no database handle, so a reopen need not wait for them.
            drop(db);
            loop {
                if let Some(outcome) = g.take_outcome(gen) {
                    match outcome {
                        Outcome::Committed => return Ok(()),
                        Outcome::Failed(e) => return Err(share(&e)),
                        Outcome::Aborted => break, // write it again, into a new group
                    }
                }
                let open_is_mine = g.open.as_ref().is_some_and(|o| o.gen == gen);
                if open_is_mine && !g.committing {
                    if let Some(open) = g.open.take() {
                        g.committing = true;
                        drop(g);
                        // A panic in the commit must not leave `committing` set for ever
                        // (every later upload would wait on it).
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                self.commit(open.txn, open.db)
                            }))
                            .unwrap_or_else(|_| {
                                Outcome::Failed(Arc::new(Error::Commit(
                                    "the commit failed unexpectedly (a panic, logged)".into(),
                                )))
                            });
                        g = self.group.lock();
                        g.committing = false;
                        g.finish(open.gen, open.members, outcome);
                        self.group.changed.notify_all();
                        continue;
                    }
                }
                g = self
                    .group
                    .changed
                    .wait(g)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Commits a group durably; after an I/O error, reopens the database for the next caller.
    fn commit(&self, txn: redb::WriteTransaction, db: Arc<redb::Database>) -> Outcome {
        match self.commit_txn(txn) {
            Ok(()) => Outcome::Committed,
            Err(e) => {
                let e = Error::from(e);
                if self.reopenable && e.needs_reopen() {
                    tracing::error!("database I/O error, reopening: {e}");
                    self.reopen(db);
                }
                Outcome::Failed(Arc::new(e))
            }
        }
    }

    /// Reopens the database after an I/O error seen by this caller; returns the error.
    fn failed(&self, e: Error, db: Arc<redb::Database>) -> Error {
        if self.reopenable && e.needs_reopen() {
            tracing::error!("database I/O error, reopening: {e}");
            self.reopen(db);
        }
        e
    }
}

/// A copy of a group's error for each member: the kind that decides the status code (disk
/// full, I/O) is kept.
fn share(e: &Error) -> Error {
    match e {
        Error::Storage(redb::Error::Io(io)) => Error::Storage(redb::Error::Io(
            std::io::Error::new(io.kind(), io.to_string()),
        )),
        Error::Storage(redb::Error::PreviousIo) => Error::Storage(redb::Error::PreviousIo),
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => Error::Commit(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group's outcome is kept until each of its members has read it, then dropped; a group
    /// that ended with no member keeps nothing (the map would only grow).
    #[test]
    fn an_outcome_goes_when_its_last_member_has_read_it() {
        let mut g = GroupState::default();
        g.finish(7, 3, Outcome::Committed);
        g.finish(8, 0, Outcome::Aborted);
        assert_eq!(g.outcomes.len(), 1, "a group of no member keeps nothing");
        for left in [2, 1] {
            assert!(matches!(g.take_outcome(7), Some(Outcome::Committed)));
            assert_eq!(g.outcomes.get(&7).map(|(_, n)| *n), Some(left));
        }
        assert!(matches!(g.take_outcome(7), Some(Outcome::Committed)));
        assert!(g.outcomes.is_empty(), "read by all three: dropped");
        assert!(g.take_outcome(7).is_none());
        assert!(g.take_outcome(8).is_none());
    }

    /// A panic while a version is written into the group's transaction fails that upload
    /// with an error, leaves none of its writes to be committed by the next one, and leaves
    /// the group usable (a review found the partial writes joined by the next upload).
    #[test]
    fn a_panic_while_writing_fails_that_upload_and_nothing_of_it_is_kept() {
        use crate::gomod::zip::ZipSummary;
        use crate::gomod::{ModulePath, Version};
        /// Reads half its bytes, then panics.
        struct Breaks(std::io::Cursor<Vec<u8>>);
        impl Read for Breaks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.position() * 2 >= self.0.get_ref().len() as u64 {
                    panic!("on purpose, half-way");
                }
                let n = buf.len().min(64);
                self.0.read(&mut buf[..n])
            }
        }
        impl Seek for Breaks {
            fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
                self.0.seek(to)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let summary = ZipSummary {
            path: ModulePath::from_store_unchecked("example.com/p".into()),
            version: Version::from_store_unchecked("v1.0.0".into()),
            h1: "h1:p=".into(),
            mod_bytes: b"module example.com/p\n".to_vec(),
            mod_h1: "h1:mod".into(),
            has_go_mod: true,
            files: 1,
        };
        let new = NewVersion {
            owner: "acme",
            summary: &summary,
            blake3: *blake3::hash(&bytes).as_bytes(),
            size: bytes.len() as u64,
            uploader: "test",
            time: 1_700_000_000,
        };
        let got = store.put_version(&new, &mut Breaks(std::io::Cursor::new(bytes.clone())));
        assert!(
            matches!(&got, Err(Error::Corrupt(m)) if m.contains("panic")),
            "{got:?}"
        );
        // The next upload commits alone: nothing of the broken one comes with it.
        super::super::put_test_module(&store, "acme", "example.com/q", "v1.0.0", "h1:q=", b"q")
            .unwrap();
        assert!(matches!(
            store
                .get_version("acme", "example.com/p", "v1.0.0")
                .unwrap(),
            crate::store::VersionLookup::Missing | crate::store::VersionLookup::NoModule
        ));
        // Nothing orphaned or miscounted (the test zips are not zips: that finding only).
        let report = store.verify().unwrap();
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.what.starts_with("zip no longer valid")),
            "{:?}",
            report.problems
        );
        // And the same version, whole this time, is taken.
        store
            .put_version(&new, &mut std::io::Cursor::new(bytes))
            .unwrap();
    }
}
