//! Go's `checkZip` rules over a zip's entry names and declared sizes (spec.md §2.2 step 5):
//! the `path@version/` prefix, clean paths that `module.CheckFilePath` accepts, no
//! case-insensitive collisions, a root `go.mod` only, and the size limits. Pure: the names come
//! from an [`archive::Directory`](super::archive::Directory), whether read from a zip or made
//! from a file list before one is written.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::archive::{Directory, Entry};
use super::{CheckedFiles, MAX_GO_MOD, MAX_LICENSE, MAX_ZIP_FILE};
use crate::gomod::path::{check_file_path_bytes, fold_chars, go_quote};

/// How checkZip saw an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The `path@version/` directory itself, which checkZip skips.
    PrefixDir,
    /// A valid file or directory.
    Entry,
    Invalid,
}

/// zip.go's `checkZip` loop over the central directory. With `keep_valid`, the full names of
/// the valid entries are listed (as Go's `CheckedFiles.Valid`); without, only the problems are
/// (what an upload needs: a listing of 200,000 names is memory for nothing).
pub(super) fn classify(
    dir: &Directory,
    prefix: &str,
    keep_valid: bool,
) -> (CheckedFiles, Vec<Kind>) {
    let mut cf = CheckedFiles::default();
    let mut kinds = Vec::with_capacity(dir.entries.len());
    let mut collisions = Collisions::default();
    let mut total: u64 = 0;
    for entry in &dir.entries {
        let kind = match classify_one(dir, entry, prefix, &mut collisions, &mut total, &mut cf) {
            Ok(kind) => kind,
            Err(reason) => {
                cf.invalid.push((dir.display_name(entry), reason));
                Kind::Invalid
            }
        };
        if keep_valid && kind == Kind::Entry {
            cf.valid.push(dir.display_name(entry));
        }
        kinds.push(kind);
    }
    (cf, kinds)
}

fn classify_one(
    dir: &Directory,
    entry: &Entry,
    prefix: &str,
    collisions: &mut Collisions,
    total: &mut u64,
    cf: &mut CheckedFiles,
) -> Result<Kind, String> {
    let Some(rest) = dir.name(entry).strip_prefix(prefix.as_bytes()) else {
        return Err(format!(
            "path does not have prefix {}",
            go_quote(prefix.as_bytes())
        ));
    };
    if rest.is_empty() {
        return Ok(Kind::PrefixDir);
    }
    let (name, is_dir) = match rest.strip_suffix(b"/") {
        Some(dir) => (dir, true),
        None => (rest, false),
    };
    if clean(name) != name {
        return Err("file path is not clean".to_owned());
    }
    check_file_path_bytes(name).map_err(|e| e.0)?;
    // CheckFilePath accepted it, so it is UTF-8.
    let name = std::str::from_utf8(name).map_err(|_| "invalid UTF-8".to_owned())?;
    collisions.check(name, is_dir)?;
    if is_dir {
        return Ok(Kind::Entry);
    }
    let base = name.rsplit('/').next().unwrap_or(name);
    // No non-ASCII character folds to a letter of "go.mod", so ASCII folding is EqualFold here.
    if base.eq_ignore_ascii_case("go.mod") {
        if base != name {
            return Err("go.mod file not in module root directory".to_owned());
        }
        if name != "go.mod" {
            return Err("go.mod files must have lowercase names".to_owned());
        }
    }
    let size = entry.uncompressed_size;
    // Go converts the size to int64, so sizes of 2^63 and more count as too large.
    if size <= i64::MAX as u64 && MAX_ZIP_FILE - *total >= size {
        *total += size;
    } else if cf.size_error.is_none() {
        cf.size_error = Some(format!(
            "total uncompressed size of module contents too large (max size is {MAX_ZIP_FILE} bytes)"
        ));
    }
    if name == "go.mod" && size > MAX_GO_MOD {
        return Err(format!(
            "go.mod file too large (max size is {MAX_GO_MOD} bytes)"
        ));
    }
    if name == "LICENSE" && size > MAX_LICENSE {
        return Err(format!(
            "LICENSE file too large (max size is {MAX_LICENSE} bytes)"
        ));
    }
    Ok(Kind::Entry)
}

/// Go's `path.Clean`, on bytes.
pub(in crate::gomod) fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let n = path.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        (r, dotdot) = (1, 1);
    }
    // Every pass consumes at least one byte, so n passes end it: bounded, so that a broken
    // step ends in a wrong answer a test sees rather than a loop that never ends.
    for _ in 0..n {
        if r >= n {
            break;
        }
        let at_end = |i: usize| i == n || path[i] == b'/';
        if path[r] == b'/' || (path[r] == b'.' && at_end(r + 1)) {
            r += 1;
        } else if path[r] == b'.' && path[r + 1] == b'.' && at_end(r + 2) {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out.last() != Some(&b'/') {
                    out.pop();
                }
                if out.len() > dotdot {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            // The element, to the next slash or the end, copied at once.
            let len = path[r..].iter().position(|&c| c == b'/').unwrap_or(n - r);
            out.extend_from_slice(&path[r..r + len]);
            r += len;
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// zip.go's `collisionChecker`: each path seen (and, as directories, its parents), by its
/// case-folded form, with the first spelling seen and whether it is a directory.
///
/// Compact, for zips of 200,000 entries: the spellings live in one buffer, a slot of 16 bytes
/// each, found through a map from a keyed hash of the folded form (chained on the rare equal
/// hashes; the key is random per checker, so no chosen names can make the chains long).
#[derive(Debug, Default)]
pub(in crate::gomod) struct Collisions {
    spellings: String,
    slots: Vec<Slot>,
    heads: HashMap<u64, u32>,
    keys: std::collections::hash_map::RandomState,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    at: u32,
    len: u32,
    is_dir: bool,
    /// The next slot with the same hash, or `NONE`.
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Most bytes of paths (each file and each directory once, a directory's being its whole
/// path) one zip may make `Collisions` keep. Far above any real module, whose names fit the
/// 16 MiB central directory; the bound of a zip of deep paths each in directories of their
/// own, where every level is a path of its own (a 64 KiB name 32,000 levels deep would keep
/// 1 GiB): past it the zip is refused, as x/mod would take minutes and gigabytes over it.
pub(in crate::gomod) const MAX_SPELLINGS: usize = 64 << 20;

impl Collisions {
    fn fold_hash(&self, path: &str) -> u64 {
        let mut h = self.keys.build_hasher();
        for c in fold_chars(path) {
            h.write_u32(u32::from(c));
        }
        h.finish()
    }

    fn spelling(&self, slot: &Slot) -> &str {
        let at = slot.at as usize;
        self.spellings
            .get(at..at + slot.len as usize)
            .unwrap_or_default()
    }

    /// Records `path` and, as directories, each of its parents.
    pub(in crate::gomod) fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        let (mut path, mut is_dir) = (path, is_dir);
        loop {
            let hash = self.fold_hash(path);
            let mut at = self.heads.get(&hash).copied().unwrap_or(NONE);
            let mut found = None;
            while at != NONE {
                let slot = self.slots[at as usize];
                if fold_chars(self.spelling(&slot)).eq(fold_chars(path)) {
                    found = Some(slot);
                    break;
                }
                at = slot.next;
            }
            match found {
                Some(other) => {
                    let other_path = self.spelling(&other);
                    if other_path != path {
                        return Err(format!(
                            "case-insensitive file name collision: {} and {}",
                            go_quote(other_path.as_bytes()),
                            go_quote(path.as_bytes())
                        ));
                    }
                    if other.is_dir != is_dir {
                        return Err(format!(
                            "entry {} is both a file and a directory",
                            go_quote(path.as_bytes())
                        ));
                    }
                    if !is_dir {
                        return Err(format!(
                            "multiple entries for file {}",
                            go_quote(path.as_bytes())
                        ));
                    }
                    // A directory seen before, spelled the same: its parents were recorded
                    // with it, spelled as here, so x/mod's walk on up finds nothing more.
                    return Ok(());
                }
                None => {
                    if self.spellings.len() + path.len() > MAX_SPELLINGS {
                        return Err(format!(
                            "its file paths are too long and too deeply nested: more than {} \
                             MiB of file and directory paths",
                            MAX_SPELLINGS >> 20
                        ));
                    }
                    let slot = Slot {
                        at: u32::try_from(self.spellings.len()).unwrap_or(u32::MAX),
                        len: u32::try_from(path.len()).unwrap_or(u32::MAX),
                        is_dir,
                        next: self.heads.get(&hash).copied().unwrap_or(NONE),
                    };
                    self.spellings.push_str(path);
                    let index = u32::try_from(self.slots.len()).unwrap_or(NONE);
                    self.slots.push(slot);
                    self.heads.insert(hash, index);
                }
            }
            match path.rfind('/') {
                Some(i) => (path, is_dir) = (&path[..i], true),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_report_the_first_spelling_and_the_kind() {
        let mut c = Collisions::default();
        assert_eq!(c.check("a/b.go", false), Ok(()));
        assert_eq!(c.check("a/c.go", false), Ok(()));
        assert_eq!(
            c.check("A/x.go", false),
            Err(r#"case-insensitive file name collision: "a" and "A""#.to_owned())
        );
        assert_eq!(
            c.check("a/B.go", false),
            Err(r#"case-insensitive file name collision: "a/b.go" and "a/B.go""#.to_owned())
        );
        assert_eq!(
            c.check("a/b.go", false),
            Err(r#"multiple entries for file "a/b.go""#.to_owned())
        );
        assert_eq!(
            c.check("a/b.go", true),
            Err(r#"entry "a/b.go" is both a file and a directory"#.to_owned())
        );
        assert_eq!(c.check("a", true), Ok(()), "a directory may appear again");
        assert_eq!(
            c.check("a", false),
            Err(r#"entry "a" is both a file and a directory"#.to_owned())
        );
        // Unicode folding: K (Kelvin sign) and k are one file name.
        assert_eq!(c.check("k", false), Ok(()));
        assert!(c.check("\u{212A}", false).is_err());
    }

    #[test]
    fn many_paths_cost_little_each() {
        let mut c = Collisions::default();
        for i in 0..20_000 {
            c.check(&format!("{:03}/{i:06}", i % 100), false).unwrap();
        }
        // 20,000 files and 100 directories.
        assert_eq!(c.slots.len(), 20_100);
        assert_eq!(c.heads.len(), 20_100);
        assert!(c.spellings.len() < 20_100 * 11);
    }

    /// A directory seen before ends the walk: a file in a deep directory costs its own path
    /// and none of its parents'.
    #[test]
    fn a_known_directory_ends_the_walk() {
        let mut c = Collisions::default();
        let deep = "d/".repeat(1000);
        c.check(&format!("{deep}a.go"), false).unwrap();
        let kept = c.spellings.len();
        c.check(&format!("{deep}b.go"), false).unwrap();
        assert_eq!(
            c.spellings.len(),
            kept + deep.len() + 4,
            "b.go's path alone"
        );
        assert_eq!(
            c.check(&format!("{deep}A.go"), false),
            Err(format!(
                "case-insensitive file name collision: \"{deep}a.go\" and \"{deep}A.go\""
            ))
        );
        // A parent spelled otherwise is still found, as x/mod finds it: its deepest
        // directory first.
        let mut c = Collisions::default();
        c.check("d/d/d/a.go", false).unwrap();
        assert_eq!(
            c.check("D/d/d/x.go", false),
            Err(r#"case-insensitive file name collision: "d/d/d" and "D/d/d""#.to_owned())
        );
        assert_eq!(
            c.check("d/D/x.go", false),
            Err(r#"case-insensitive file name collision: "d/d" and "d/D""#.to_owned())
        );
    }

    /// The bound is on the bytes kept, to the byte: a path that fills it is taken, one byte
    /// more is refused.
    #[test]
    fn the_bound_is_exact() {
        let mut c = Collisions::default();
        assert_eq!(c.check(&"a".repeat(MAX_SPELLINGS - 1), false), Ok(()));
        assert_eq!(c.check("b", false), Ok(()));
        assert!(c
            .check("c", false)
            .unwrap_err()
            .contains("too deeply nested"));
        let mut c = Collisions::default();
        assert!(c.check(&"a".repeat(MAX_SPELLINGS + 1), false).is_err());
    }

    /// Many files in one deep directory cost their own paths' hashing, not their parents':
    /// 2,000 files 2,000 levels down take well under a second where the walk to the root for
    /// each (x/mod's) hashes about 8 GB.
    #[test]
    fn files_in_one_deep_directory_cost_their_own_paths() {
        let mut c = Collisions::default();
        let deep = "d/".repeat(2000);
        let started = std::time::Instant::now();
        for i in 0..2000 {
            c.check(&format!("{deep}f{i}.go"), false).unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    /// Deep paths each under a directory of its own keep every level as a path: bounded, and
    /// refused past the bound (an upload of 1 MiB of such names asked for about 16 GiB).
    #[test]
    fn deep_paths_in_directories_of_their_own_are_refused_past_the_bound() {
        let mut c = Collisions::default();
        let chain = "a/".repeat(32_000);
        let start = std::time::Instant::now();
        let mut refused = None;
        for top in 0..64 {
            if let Err(e) = c.check(&format!("t{top}/{chain}x.go"), false) {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("refused");
        assert!(e.contains("too deeply nested"), "{e}");
        assert!(c.spellings.len() <= MAX_SPELLINGS);
        assert!(c.spellings.capacity() <= 2 * MAX_SPELLINGS);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
}
