//! What the UI shows from inside a version's zip: its README (rendered) and its file list with
//! sizes. Computed once per version (published versions never change) and kept in a cache
//! bounded by bytes, least recently used first out.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::sync::{Arc, Mutex, PoisonError};

use super::markdown;

/// The largest README read and rendered; a bigger one is named but not shown.
pub const MAX_README: u64 = 8 << 20;
/// The most files listed on a page; the rest are counted.
pub const MAX_LISTED_FILES: usize = 2_000;

/// A README found at the module root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readme {
    /// Its file name, e.g. `README.md`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Sanitised HTML; `None` when it is over `MAX_README`.
    pub html: Option<String>,
}

/// One file of the zip.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// Path below the module root.
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
}

/// Facts about one version's zip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipFacts {
    pub readme: Option<Readme>,
    /// The first `MAX_LISTED_FILES` files, sorted by name.
    pub files: Vec<FileEntry>,
    /// How many files the zip holds.
    pub file_count: usize,
    /// Sum of the uncompressed sizes.
    pub unpacked_bytes: u64,
}

/// What a [`FactsCache`] entry weighs: approximate memory held, for the cache's budget.
pub trait Weighed {
    fn weight(&self) -> usize;
}

impl Weighed for ZipFacts {
    fn weight(&self) -> usize {
        let readme = self
            .readme
            .as_ref()
            .map_or(0, |r| r.name.len() + r.html.as_ref().map_or(0, String::len));
        let files: usize = self.files.iter().map(|f| f.name.len() + 40).sum();
        readme + files + 128
    }
}

/// The format of `encode`; an entry of another format decodes to `None` (recomputed).
const FORMAT: u8 = 1;

/// Everything but the README's HTML, as JSON in the stored form.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    readme_name: Option<String>,
    readme_size: u64,
    has_html: bool,
    files: Vec<FileEntry>,
    file_count: usize,
    unpacked_bytes: u64,
}

impl ZipFacts {
    /// Whether these facts are worth keeping in the database: they hold a rendered README
    /// (the file list alone is cheap to read again from the central directory).
    #[must_use]
    pub fn worth_storing(&self) -> bool {
        self.readme.as_ref().is_some_and(|r| r.html.is_some())
    }

    /// The stored form: a format byte, the length of the JSON of everything but the README's
    /// HTML (u32, little-endian), that JSON, then the HTML as it is (no escaping to undo when a
    /// 2 MiB README is read back).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let readme = self.readme.as_ref();
        let html = readme.and_then(|r| r.html.as_deref()).unwrap_or("");
        let meta = Meta {
            readme_name: readme.map(|r| r.name.clone()),
            readme_size: readme.map_or(0, |r| r.size),
            has_html: readme.is_some_and(|r| r.html.is_some()),
            files: self.files.clone(),
            file_count: self.file_count,
            unpacked_bytes: self.unpacked_bytes,
        };
        // Serialising plain strings and numbers cannot fail.
        let json = serde_json::to_vec(&meta).unwrap_or_default();
        let mut out = Vec::with_capacity(5 + json.len() + html.len());
        out.push(FORMAT);
        out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(html.as_bytes());
        out
    }

    /// Reads `encode`'s form; `None` for another format or damaged bytes.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        if format != FORMAT {
            return None;
        }
        let len = usize::try_from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
        let json = rest.get(4..4 + len)?;
        let html = std::str::from_utf8(rest.get(4 + len..)?).ok()?;
        let meta: Meta = serde_json::from_slice(json).ok()?;
        let readme = meta.readme_name.map(|name| Readme {
            name,
            size: meta.readme_size,
            html: meta.has_html.then(|| html.to_owned()),
        });
        Some(Self {
            readme,
            files: meta.files,
            file_count: meta.file_count,
            unpacked_bytes: meta.unpacked_bytes,
        })
    }
}

/// Why a zip could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the module zip: {0}")]
pub struct FactsError(String);

impl FactsError {
    pub(crate) fn new(e: &dyn std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// README names in order of preference (root of the module only).
const README_NAMES: [&str; 5] = [
    "readme.md",
    "readme.markdown",
    "readme",
    "readme.txt",
    "readme.rst",
];

/// Reads the zip's central directory and its README. `prefix` is `module@version/`.
///
/// Memory is bounded whatever the number of entries: the directory as `gomod::zip::Listing`
/// keeps it (48 bytes an entry and the names), and only the `MAX_LISTED_FILES` first names
/// (in name order) are kept, through a bounded heap.
///
/// # Errors
/// When the zip cannot be parsed or the README entry cannot be read.
pub fn extract<R: Read + Seek>(mut reader: R, prefix: &str) -> Result<ZipFacts, FactsError> {
    use std::collections::BinaryHeap;
    let size = reader
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| FactsError(e.to_string()))?;
    let listing = crate::gomod::zip::Listing::read(&mut reader, size)
        .map_err(|e| FactsError(e.to_string()))?;
    let mut facts = ZipFacts::default();
    let mut readme: Option<(usize, usize, String, u64)> = None; // (rank, index, name, size)
                                                                // The first names in order: a max-heap of at most MAX_LISTED_FILES, its top the last.
    let mut first: BinaryHeap<(String, u64)> = BinaryHeap::new();
    for entry in listing.entries() {
        if entry.is_dir {
            continue;
        }
        let raw = String::from_utf8_lossy(entry.name);
        let name = raw.strip_prefix(prefix).unwrap_or(&raw);
        facts.file_count += 1;
        facts.unpacked_bytes = facts.unpacked_bytes.saturating_add(entry.size);
        if !name.contains('/') {
            let lower = name.to_ascii_lowercase();
            if let Some(rank) = README_NAMES.iter().position(|n| *n == lower) {
                if readme.as_ref().is_none_or(|(r, ..)| rank < *r) {
                    readme = Some((rank, entry.index, name.to_owned(), entry.size));
                }
            }
        }
        if first.len() < MAX_LISTED_FILES {
            first.push((name.to_owned(), entry.size));
        } else if first.peek().is_some_and(|(top, _)| name < top.as_str()) {
            first.pop();
            first.push((name.to_owned(), entry.size));
        }
    }
    facts.files = first
        .into_sorted_vec()
        .into_iter()
        .map(|(name, size)| FileEntry { name, size })
        .collect();
    if let Some((rank, index, name, size)) = readme {
        let html = if size > MAX_README {
            None
        } else {
            let bytes = listing
                .contents(&mut reader, index)
                .map_err(|e| FactsError(e.to_string()))?;
            let text = String::from_utf8_lossy(&bytes);
            Some(if rank <= 1 {
                markdown::render(&text)
            } else {
                format!("<pre>{}</pre>", super::pages::escape(&text))
            })
        };
        facts.readme = Some(Readme { name, size, html });
    }
    Ok(facts)
}

/// Which version a cache entry belongs to: (owner, module, version).
pub type FactsKey = (String, String, String);

struct Slot<T> {
    facts: Arc<T>,
    weight: usize,
    used: u64,
}

struct Inner<T> {
    slots: HashMap<FactsKey, Slot<T>>,
    bytes: usize,
    tick: u64,
}

impl<T> Default for Inner<T> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            bytes: 0,
            tick: 0,
        }
    }
}

/// A cache of what the UI derives from a version's zip (`ZipFacts`, or its package docs), at
/// most `budget` bytes; evicts the least recently used entries. An entry heavier than the
/// whole budget is not kept.
pub struct FactsCache<T = ZipFacts> {
    inner: Mutex<Inner<T>>,
    budget: usize,
}

/// The default budget: enough for the READMEs of many versions, small for a Pi.
pub const DEFAULT_BUDGET: usize = 64 << 20;

impl<T: Weighed> Default for FactsCache<T> {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET)
    }
}

impl<T: Weighed> FactsCache<T> {
    #[must_use]
    pub fn new(budget: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            budget,
        }
    }

    /// The cached facts for `key`, marking them as just used.
    #[must_use]
    pub fn get(&self, key: &FactsKey) -> Option<Arc<T>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tick += 1;
        let tick = inner.tick;
        let slot = inner.slots.get_mut(key)?;
        slot.used = tick;
        Some(Arc::clone(&slot.facts))
    }

    /// Stores facts, evicting the least recently used entries to stay within budget.
    pub fn insert(&self, key: FactsKey, facts: Arc<T>) {
        let weight = facts.weight() + key.0.len() + key.1.len() + key.2.len();
        if weight > self.budget {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tick += 1;
        let used = inner.tick;
        if let Some(old) = inner.slots.insert(
            key,
            Slot {
                facts,
                weight,
                used,
            },
        ) {
            inner.bytes -= old.weight;
        }
        inner.bytes += weight;
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(s) = inner.slots.remove(&oldest) {
                inner.bytes -= s.weight;
            }
        }
    }

    /// Drops every entry (benchmarks measure a cold page with it).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.slots.clear();
        inner.bytes = 0;
    }

    /// Bytes held and entries, for tests and metrics.
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (inner.bytes, inner.slots.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_refuses_other_formats() {
        let facts = ZipFacts {
            readme: Some(Readme {
                name: "README.md".into(),
                size: 42,
                html: Some("<h1>Hi \"there\"</h1>\n<p>é</p>".into()),
            }),
            files: vec![
                FileEntry {
                    name: "README.md".into(),
                    size: 42,
                },
                FileEntry {
                    name: "go.mod".into(),
                    size: 20,
                },
            ],
            file_count: 3,
            unpacked_bytes: 70,
        };
        assert!(facts.worth_storing());
        let bytes = facts.encode();
        assert_eq!(ZipFacts::decode(&bytes), Some(facts.clone()));
        let mut other = bytes.clone();
        other[0] = FORMAT + 1;
        assert_eq!(ZipFacts::decode(&other), None);
        assert_eq!(ZipFacts::decode(&bytes[..3]), None);
        assert_eq!(ZipFacts::decode(&[]), None);
        let mut bad_json = bytes.clone();
        bad_json[5] = b'!';
        assert_eq!(ZipFacts::decode(&bad_json), None);
        // A README too large to render keeps its name and size, without HTML.
        let big = ZipFacts {
            readme: Some(Readme {
                name: "README".into(),
                size: MAX_README + 1,
                html: None,
            }),
            ..ZipFacts::default()
        };
        assert!(!big.worth_storing());
        assert_eq!(ZipFacts::decode(&big.encode()), Some(big));
        assert!(!ZipFacts::default().worth_storing());
    }

    fn key(v: &str) -> FactsKey {
        ("o".into(), "m".into(), v.into())
    }

    fn facts(size: usize) -> Arc<ZipFacts> {
        Arc::new(ZipFacts {
            readme: Some(Readme {
                name: "README.md".into(),
                size: 0,
                html: Some("x".repeat(size)),
            }),
            ..ZipFacts::default()
        })
    }

    #[test]
    fn cache_evicts_least_recently_used_within_budget() {
        let cache = FactsCache::new(3_000);
        cache.insert(key("a"), facts(1_000));
        cache.insert(key("b"), facts(1_000));
        assert!(cache.get(&key("a")).is_some()); // a is now newer than b
        cache.insert(key("c"), facts(1_000));
        assert!(cache.get(&key("b")).is_none(), "b was least recently used");
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.get(&key("c")).is_some());
        assert!(cache.usage().0 <= 3_000);
        cache.insert(key("huge"), facts(10_000));
        assert!(cache.get(&key("huge")).is_none());
        assert_eq!(cache.usage().1, 2);
    }
}
