//! Download counters: counted in memory per version, flushed to the store in one write
//! transaction at a time (every `http::BACKGROUND_FLUSH_INTERVAL`, 30 s, and at shutdown),
//! never one write per download.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::facts::FactsKey;

/// Counts not yet written to the store, each with the time of its latest download.
#[derive(Debug, Default)]
pub struct Downloads {
    pending: Mutex<HashMap<FactsKey, Pending>>,
}

/// A version's downloads since the last flush: how many, and when the latest was (Unix
/// seconds; the pull-through cache evicts by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub count: u64,
    pub last: i64,
}

impl Downloads {
    /// Counts one download of (owner, module, version); the key is copied only when first
    /// counted.
    pub fn record(&self, key: &FactsKey) {
        let last = crate::store::now_unix();
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = map.get_mut(key) {
            p.count += 1;
            p.last = last;
        } else {
            map.insert(key.clone(), Pending { count: 1, last });
        }
    }

    /// Counts of a module's versions not yet flushed.
    #[must_use]
    pub fn pending_for(&self, owner: &str, module: &str) -> HashMap<String, u64> {
        let map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|((o, m, _), _)| o == owner && m == module)
            .map(|((_, _, v), p)| (v.clone(), p.count))
            .collect()
    }

    /// Takes every pending count, to be written; give them back with `restore` if that fails.
    #[must_use]
    pub fn take(&self) -> Vec<(FactsKey, Pending)> {
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *map).into_iter().collect()
    }

    /// Puts counts back after a failed write, so no download is lost.
    pub fn restore(&self, counts: Vec<(FactsKey, Pending)>) {
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (k, p) in counts {
            let e = map.entry(k).or_insert(Pending {
                count: 0,
                last: p.last,
            });
            e.count += p.count;
            e.last = e.last.max(p.last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(module: &str) -> FactsKey {
        ("o".into(), module.into(), "v1.0.0".into())
    }

    #[test]
    fn downloads_take_and_restore_keep_every_count() {
        let d = Downloads::default();
        d.record(&key("m"));
        d.record(&key("m"));
        d.record(&key("n"));
        d.record(&key("n"));
        assert_eq!(d.pending_for("o", "n").get("v1.0.0"), Some(&2));
        assert_eq!(d.pending_for("o", "m").get("v1.0.0"), Some(&2));
        let taken = d.take();
        assert_eq!(taken.len(), 2);
        let now = crate::store::now_unix();
        assert!(taken
            .iter()
            .all(|(_, p)| p.count == 2 && (now - p.last).abs() <= 1));
        assert!(d.pending_for("o", "m").is_empty());
        d.record(&key("m"));
        d.restore(taken);
        assert_eq!(d.pending_for("o", "m").get("v1.0.0"), Some(&3));
    }
}
