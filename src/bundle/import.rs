//! `goshelf import DIR`: modules carried across an air gap (issue 28), from a module cache
//! made on a connected machine (`go mod download -json all`: `$GOMODCACHE`, its
//! `cache/download`, or a `$GOPATH`) or a tree written by `goshelf export`, into the shelf's
//! file: a stopped server's, or a running server's (`--server`, `http::api::import`).
//!
//! Every version (proxy-cache.md §9.3) is checked as an upload is (the zip rules, its path
//! and version), its h1 recomputed and compared with its `.ziphash`, its `.mod` with the
//! go.mod in its zip; then it is **trusted** only when
//! - the bundle holds its lookup of the upstream checksum database (`--upstream-sumdb`,
//!   the server's `upstream_sumdb`, sum.golang.org by default) or of a database named with
//!   `--trust-sumdb`, whose signed note verifies with that key, whose record is proven in
//!   that note's tree by the bundle's tiles (or tiles the shelf kept), and whose tree is
//!   proven consistent with the newest head of that database the shelf holds; or
//! - a `--go-sum` file given by the operator has its lines.
//!
//! Otherwise it is refused, or imported with `--allow-unverified`, marked so (the cache
//! page's origin, the uploader of a hosted version) and never logged.
//!
//! **Later deliveries.** Before any version, the bundle's newest head of the upstream
//! database must be proven consistent with the newest one the shelf holds (and so with
//! every head it has served): a bundle that cannot show it is refused whole, naming both
//! heads. The tiles it proves with are kept, and at the end every kept lookup is signed
//! anew in the newest head held where the kept tiles prove it (`rebase_lookups`).
//!
//! **Where a version goes.** Into the pull-through cache, logged in the shelf's own
//! checksum database (with the upstream's lookup and tiles kept for its proxy), unless it
//! comes from a namespace that is not public (`goshelf-bundle.json` of an export) or
//! `--namespace NS` is given: then it is a hosted version of that namespace (made private
//! when new), under its rules (a path no `private` pattern covers is refused with the
//! `goshelf private add` to run). A path the shelf hosts, or one matching `private`, never
//! enters the cache.
//!
//! **Re-runs.** Each version is stored by steps that each leave the file consistent and that
//! a re-run completes (the record, then `.info` and `.mod`, then the zip): an import stopped
//! at any point, `kill -9` included, is finished by running it again. Progress is made
//! durable every `--checkpoint` seconds (2 by default), so a crash loses at most that much. A version already
//! present with the same hashes is counted as present; with other hashes it is a conflict,
//! reported and never overwritten.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::gomod::path::{escape_path, escape_version, unescape_path, unescape_version};
use crate::gomod::{hash, patterns, version};
use crate::store::{self, CachedRecord, NewVersion, Store, VersionLookup};
use crate::sumdb::{self as log, Tile, Verifier};

/// The most bytes of a bundle's `.mod` (as of an upstream's).
const MAX_MOD: u64 = 16 << 20;
/// Of a `.info`, a `.ziphash`, a lookup.
const MAX_SMALL: u64 = 1 << 20;
/// Of a zip: the go command's own limit on module zips.
const MAX_ZIP: u64 = 500 << 20;

/// What the operator asked for.
#[derive(Debug, Default)]
pub struct Options {
    /// The upstream checksum database (`None`: off).
    pub upstream_sumdb: Option<Verifier>,
    /// More databases whose bundled lookups verify versions (`--trust-sumdb`).
    pub trust: Vec<Verifier>,
    /// go.sum files whose lines verify versions.
    pub go_sum: Vec<PathBuf>,
    /// Import versions nothing verifies, marked so.
    pub allow_unverified: bool,
    /// Every version into this namespace (hosted).
    pub namespace: Option<String>,
    /// How often the progress is made durable (a crash loses at most this much work); zero:
    /// after every version.
    pub checkpoint: std::time::Duration,
}

/// What became of the bundle's versions.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Into the cache: `module@version`.
    pub cached: Vec<String>,
    /// Hosted: `(namespace, module@version)`.
    pub hosted: Vec<(String, String)>,
    /// Already here with the same hashes.
    pub present: Vec<String>,
    /// Imported with `--allow-unverified`: no record in any log.
    pub unverified: Vec<String>,
    /// Imported with only a `.mod` whose zip hash nothing gave: not logged.
    pub unlogged: Vec<String>,
    /// `(what, why)`.
    pub refused: Vec<(String, String)>,
    /// Commands that let a re-run import what was refused.
    pub commands: BTreeSet<String>,
    /// The bundle's newest head of the upstream database, when it held one: its size.
    pub head: Option<u64>,
}

/// One version the bundle holds: its `@v` directory and escaped version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub module: String,
    pub version: String,
    pub dir: PathBuf,
    pub file: String,
}

impl Entry {
    fn name(&self) -> String {
        format!("{}@{}", self.module, self.version)
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.file))
    }
}

/// Where the GOPROXY tree of `dir` is: `dir/cache/download` (a module cache),
/// `dir/pkg/mod/cache/download` (a GOPATH), else `dir` itself (an export, or a
/// `cache/download` given directly).
#[must_use]
pub fn tree_root(dir: &Path) -> PathBuf {
    for sub in ["cache/download", "pkg/mod/cache/download"] {
        let candidate = dir.join(sub);
        if candidate.is_dir() {
            return candidate;
        }
    }
    dir.to_owned()
}

/// The versions under `root` (every `<module>/@v/<version>.mod`), sorted; what cannot be a
/// version is refused with its reason. Symbolic links are never followed; `sumdb/` at the
/// top is the checksum databases' part.
///
/// # Errors
/// A directory that cannot be read.
pub fn scan(root: &Path, refused: &mut Vec<(String, String)>) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), root.to_owned(), 0usize)];
    while let Some((rel, dir, depth)) = stack.pop() {
        let mut items: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        items.sort_by_key(std::fs::DirEntry::file_name);
        for item in items {
            let name = item.file_name().to_string_lossy().into_owned();
            let sub = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if rel.is_empty() && name == "sumdb" {
                continue;
            }
            let kind = item.file_type()?;
            if kind.is_symlink() {
                refused.push((sub, "a symbolic link; not followed".into()));
                continue;
            }
            if !kind.is_dir() {
                continue;
            }
            if name == "@v" {
                versions(&rel, &item.path(), &mut out, refused)?;
            } else if depth < 64 {
                stack.push((sub, item.path(), depth + 1));
            } else {
                refused.push((sub, "nested too deep".into()));
            }
        }
    }
    out.sort_by(|a, b| {
        a.module
            .cmp(&b.module)
            .then_with(|| version::compare(&a.version, &b.version))
    });
    Ok(out)
}

/// The versions of the `@v` directory `dir` of escaped module path `escaped`.
fn versions(
    escaped: &str,
    dir: &Path,
    out: &mut Vec<Entry>,
    refused: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    let module = match unescape_path(escaped) {
        Ok(m) => m.as_str().to_owned(),
        Err(e) => {
            refused.push((escaped.to_owned(), format!("not a module path: {e}")));
            return Ok(());
        }
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let has = |file: &str, ext: &str| names.iter().any(|n| *n == format!("{file}.{ext}"));
    for name in &names {
        let Some((file, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let what = format!("{module}@{file}");
        match ext {
            "mod" => {}
            "zip" | "info" | "ziphash" if !has(file, "mod") => {
                refused.push((what, format!("a .{ext} without its .mod")));
                continue;
            }
            _ => continue,
        }
        let version = match unescape_version(file) {
            Ok(v) => v,
            Err(e) => {
                refused.push((what, format!("not a version: {e}")));
                continue;
            }
        };
        if version::canonical_version(&version).as_deref() != Some(version.as_str()) {
            refused.push((what, "not a canonical version".into()));
            continue;
        }
        if let Err(e) = version::check(&module, &version) {
            refused.push((what, format!("not a version of this module: {e}")));
            continue;
        }
        out.push(Entry {
            module: module.clone(),
            version,
            dir: dir.to_owned(),
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// The lines of go.sum files: `(module, version)` (version `vX/go.mod` for a go.mod line)
/// to its hash; a key given two different hashes maps to `None` (it verifies nothing).
pub type GoSum = HashMap<(String, String), Option<String>>;

/// Reads go.sum `text` into `sums`.
///
/// # Errors
/// A line that is not `<module> <version> h1:<hash>`, with its number.
pub fn parse_go_sum(text: &str, sums: &mut GoSum) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            [m, v, h] if h.starts_with("h1:") => {
                let key = ((*m).to_owned(), (*v).to_owned());
                let hash = Some((*h).to_owned());
                match sums.get(&key) {
                    Some(old) if *old != hash => {
                        sums.insert(key, None);
                    }
                    _ => {
                        sums.insert(key, hash);
                    }
                }
            }
            [_, _, _] => {} // another hash algorithm: not ours to check
            _ => return Err(format!("line {}: not a go.sum line", i + 1)),
        }
    }
    Ok(())
}

/// The namespace of each module an export recorded, and which of those are not public
/// (`goshelf-bundle.json`).
#[derive(Debug, Default)]
struct Provenance {
    modules: HashMap<String, String>,
    not_public: BTreeSet<String>,
    /// The exporting shelf's `private` patterns.
    patterns: Vec<String>,
}

fn provenance(root: &Path) -> anyhow::Result<Provenance> {
    let path = root.join("goshelf-bundle.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(Provenance::default());
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a goshelf bundle record", path.display()))?;
    let mut p = Provenance::default();
    if let Some(m) = v["modules"].as_object() {
        for (module, ns) in m {
            if let Some(ns) = ns.as_str() {
                p.modules.insert(module.clone(), ns.to_ascii_lowercase());
            }
        }
    }
    if let Some(text) = v["private_patterns"].as_str() {
        p.patterns = text
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
    }
    for ns in v["namespaces"].as_array().into_iter().flatten() {
        if ns["visibility"].as_str() != Some("public") {
            if let Some(name) = ns["name"].as_str() {
                p.not_public.insert(name.to_ascii_lowercase());
            }
        }
    }
    Ok(p)
}

/// Reads at most `cap` bytes of the regular file `path` (`None` when there is none).
fn read_small(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > cap {
        return Err(format!("{}: larger than {cap} bytes", path.display()));
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A checksum database whose bundled lookups the import trusts.
struct Db {
    verifier: Verifier,
    /// The upstream one (its answers kept for its proxy, its head stored).
    upstream: bool,
}

struct Import<'a> {
    store: &'a Store,
    root: PathBuf,
    dbs: Vec<Db>,
    go_sum: GoSum,
    options: &'a Options,
    provenance: Provenance,
    private: String,
    namespaces: HashMap<String, crate::store::NamespaceRecord>,
    report: Report,
}

/// How a version was trusted: by which database's record (its hashes, the lookup and the
/// tiles to keep, a newer head), by go.sum, or not.
enum Trust {
    Logged {
        db: usize,
        zip_h1: String,
        mod_h1: String,
        kept: Vec<(String, Vec<u8>)>,
        head: Option<(u64, Vec<u8>)>,
    },
    GoSum {
        zip_h1: Option<String>,
        mod_h1: String,
    },
    Unverified,
}

/// A version's own files, checked.
struct Checked {
    go_mod: Vec<u8>,
    mod_h1: String,
    info: String,
    time: i64,
    zip: Option<(crate::gomod::zip::ZipSummary, [u8; 32], u64)>,
}

impl Import<'_> {
    /// Tiles of database `name`: kept by the shelf, else from the bundle (that tile, the
    /// full one, or a wider partial one, cut to width).
    fn tile(&self, name: &str, t: &Tile) -> Result<Vec<u8>, log::Error> {
        if let Ok(Some(data)) = self.store.upstream_sumdb_tile(name, t) {
            return Ok(data);
        }
        let want = t.w as usize * 32;
        let base = self.root.join("sumdb").join(name);
        let full = Tile { w: 1 << t.h, ..*t };
        let mut candidates = vec![base.join(t.path()), base.join(full.path())];
        if let Ok(dir) = std::fs::read_dir(base.join(format!("{}.p", full.path()))) {
            candidates.extend(dir.flatten().map(|e| e.path()));
        }
        for path in candidates {
            if let Ok(Some(mut data)) = read_small(&path, 1 << 16) {
                if data.len() >= want && data.len() % 32 == 0 {
                    data.truncate(want);
                    return Ok(data);
                }
            }
        }
        Err(log::Error::External(format!(
            "the bundle lacks {name}/{}",
            t.path()
        )))
    }

    fn fetcher<'s>(
        &'s self,
        name: &'s str,
    ) -> impl FnMut(&[Tile]) -> Result<Vec<Vec<u8>>, log::Error> + 's {
        move |tiles: &[Tile]| tiles.iter().map(|t| self.tile(name, t)).collect()
    }

    /// The newest signed head of the upstream database among the bundle's lookups and its
    /// `latest` (signatures checked), proven consistent with the stored head and stored.
    ///
    /// # Errors
    /// The refusal of the whole bundle.
    fn check_head(&mut self) -> anyhow::Result<()> {
        let Some(db) = self.dbs.iter().find(|d| d.upstream) else {
            return Ok(());
        };
        let verifier = db.verifier.clone();
        let name = verifier.name().to_owned();
        let base = self.root.join("sumdb").join(&name);
        let mut notes: Vec<Vec<u8>> = Vec::new();
        if let Ok(Some(latest)) = read_small(&base.join("latest"), MAX_SMALL) {
            notes.push(latest);
        }
        let mut stack = vec![base.join("lookup")];
        while let Some(dir) = stack.pop() {
            let Ok(items) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in items.flatten() {
                let Ok(kind) = item.file_type() else { continue };
                if kind.is_dir() {
                    stack.push(item.path());
                } else if kind.is_file() {
                    if let Ok(Some(body)) = read_small(&item.path(), MAX_SMALL) {
                        if let Ok((_, _, note)) = log::parse_record(&body) {
                            notes.push(note.to_vec());
                        }
                    }
                }
            }
        }
        let mut newest: Option<(log::Tree, Vec<u8>)> = None;
        for note in notes {
            // A note that does not verify is the entry's refusal, later.
            if let Ok((tree, _)) = log::open_tree_note(&verifier, &note) {
                if newest.as_ref().is_none_or(|(t, _)| t.n < tree.n) {
                    newest = Some((tree, note));
                }
            }
        }
        let Some((head, note)) = newest else {
            return Ok(());
        };
        self.report.head = Some(head.n);
        let stored = self.store.sumdb_upstream_head(&name)?;
        let mut fetch = self.fetcher(&name);
        let checked = match &stored {
            None => Ok(Vec::new()),
            Some((old, old_note)) if old.n <= head.n => {
                log::check_trees(old, old_note, &head, &note, log::TILE_HEIGHT, &mut fetch)
            }
            Some((old, old_note)) => {
                log::check_trees(&head, &note, old, old_note, log::TILE_HEIGHT, &mut fetch)
            }
        };
        let tiles = match checked {
            Ok(t) => t,
            Err(e) => {
                let old_n = stored.as_ref().map_or(0, |(t, _)| t.n);
                let what = if matches!(e, log::Error::Fork(_)) {
                    "SECURITY: the two heads are a fork of the log"
                } else {
                    "its tiles cannot prove it"
                };
                anyhow::bail!(
                    "the bundle's head of {name} ({} records) is not proven consistent with \
                     the head this shelf holds ({} records): {what} ({e}); nothing was \
                     imported. Make the bundle with `goshelf export` on the connected shelf, \
                     which adds that proof",
                    head.n,
                    old_n
                );
            }
        };
        let kept: Vec<(String, Vec<u8>)> = tiles
            .into_iter()
            .map(|(t, d)| (format!("{name}/{}", t.path()), d))
            .collect();
        let newer = stored.as_ref().is_none_or(|(old, _)| old.n < head.n);
        self.store
            .sumdb_keep_upstream(&name, newer.then_some((head.n, note.as_slice())), &kept)?;
        Ok(())
    }

    /// The version's own files: `.mod`, `.info`, `.zip` checked by the upload rules,
    /// `.ziphash`.
    fn check_files(&self, e: &Entry) -> Result<Checked, String> {
        let go_mod = read_small(&e.path("mod"), MAX_MOD)?.unwrap_or_default();
        let mod_h1 = hash::hash_go_mod(&go_mod);
        let (info, time) = match read_small(&e.path("info"), MAX_SMALL)? {
            Some(body) => {
                let time = crate::http::pull::check_info(&body, &e.version)?;
                (String::from_utf8_lossy(&body).into_owned(), time)
            }
            None => match version::pseudo_time(&e.version) {
                Ok(t) if version::is_pseudo(&e.version) => {
                    (crate::http::goproxy::info_json(&e.version, t), t)
                }
                _ => (format!("{{\"Version\":\"{}\"}}\n", e.version), 0),
            },
        };
        let zip_path = e.path("zip");
        let zip = match std::fs::symlink_metadata(&zip_path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(format!("its zip: {err}")),
            Ok(meta) if !meta.is_file() => return Err("its zip is not a regular file".into()),
            Ok(meta) if meta.len() > MAX_ZIP => {
                return Err(format!("its zip is larger than {MAX_ZIP} bytes"))
            }
            Ok(meta) => {
                let size = meta.len();
                let file =
                    std::fs::File::open(&zip_path).map_err(|err| format!("its zip: {err}"))?;
                let summary = crate::gomod::zip::validate(
                    std::io::BufReader::new(file),
                    size,
                    &e.module,
                    &e.version,
                )
                .map_err(|err| format!("its zip is not valid: {err}"))?;
                let mut hasher = blake3::Hasher::new();
                let mut file =
                    std::fs::File::open(&zip_path).map_err(|err| format!("its zip: {err}"))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = file
                        .read(&mut buf)
                        .map_err(|err| format!("its zip: {err}"))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                if summary.mod_h1 != mod_h1 {
                    return Err(format!(
                        "its .mod hashes to {mod_h1}, the go.mod in its zip to {}",
                        summary.mod_h1
                    ));
                }
                if let Some(said) = read_small(&e.path("ziphash"), MAX_SMALL)? {
                    let said = String::from_utf8_lossy(&said).trim().to_owned();
                    if said != summary.h1 {
                        return Err(format!(
                            "its .ziphash says {said}, its zip hashes to {}",
                            summary.h1
                        ));
                    }
                }
                Some((summary, *hasher.finalize().as_bytes(), size))
            }
        };
        Ok(Checked {
            go_mod,
            mod_h1,
            info,
            time,
            zip,
        })
    }

    /// Who vouches for the version's hashes (module docs).
    fn trust(&self, e: &Entry, c: &Checked) -> Result<Trust, String> {
        let zip_h1 = c.zip.as_ref().map(|(s, _, _)| s.h1.clone());
        let (em, ev) = (
            escape_path(&e.module).map_err(|err| err.to_string())?,
            escape_version(&e.version).map_err(|err| err.to_string())?,
        );
        for (i, db) in self.dbs.iter().enumerate() {
            let name = db.verifier.name();
            let lookup = self
                .root
                .join("sumdb")
                .join(name)
                .join(format!("lookup/{em}@{ev}"));
            let Some(body) = read_small(&lookup, MAX_SMALL)? else {
                continue;
            };
            let stored = self
                .store
                .sumdb_upstream_head(name)
                .map_err(|err| err.to_string())?;
            let mut fetch = self.fetcher(name);
            let verified = log::verify_lookup(
                &db.verifier,
                stored.as_ref().map(|(t, n)| (*t, n.as_slice())),
                &body,
                &mut fetch,
            )
            .map_err(|err| format!("its lookup in {name} fails verification: {err}"))?;
            let line = |v: &str| -> Option<String> {
                match log::lookup_lines(&verified.record_text, &e.module, v).as_slice() {
                    [line] => line.rsplit(' ').next().map(str::to_owned),
                    _ => None,
                }
            };
            let (Some(rec_zip), Some(rec_mod)) =
                (line(&e.version), line(&format!("{}/go.mod", e.version)))
            else {
                return Err(format!("its record in {name} lacks a hash"));
            };
            if rec_mod != c.mod_h1 {
                return Err(format!(
                    "its .mod hashes to {}, {name} says {rec_mod}",
                    c.mod_h1
                ));
            }
            if let Some(h1) = &zip_h1 {
                if *h1 != rec_zip {
                    return Err(format!("its zip hashes to {h1}, {name} says {rec_zip}"));
                }
            }
            let mut kept = vec![(format!("{name}/lookup/{em}@{ev}"), body)];
            kept.extend(
                verified
                    .tiles
                    .iter()
                    .map(|(t, d)| (format!("{name}/{}", t.path()), d.clone())),
            );
            return Ok(Trust::Logged {
                db: i,
                zip_h1: rec_zip,
                mod_h1: rec_mod,
                kept,
                head: verified
                    .newer_than_stored
                    .then(|| (verified.tree.n, verified.note.clone())),
            });
        }
        let sum = |v: String| self.go_sum.get(&(e.module.clone(), v));
        match sum(format!("{}/go.mod", e.version)) {
            Some(Some(h)) if *h == c.mod_h1 => {
                let zip_line = sum(e.version.clone());
                match (&zip_h1, zip_line) {
                    (Some(h1), Some(Some(said))) if said == h1 => {}
                    (Some(h1), Some(Some(said))) => {
                        return Err(format!("its zip hashes to {h1}, go.sum says {said}"))
                    }
                    (Some(_), _) => {
                        if !self.options.allow_unverified {
                            return Err("go.sum has no line for its zip".into());
                        }
                        return Ok(Trust::Unverified);
                    }
                    (None, _) => {}
                }
                return Ok(Trust::GoSum {
                    zip_h1: zip_h1.or_else(|| sum(e.version.clone()).cloned().flatten()),
                    mod_h1: c.mod_h1.clone(),
                });
            }
            Some(Some(h)) => {
                return Err(format!("its .mod hashes to {}, go.sum says {h}", c.mod_h1))
            }
            Some(None) => return Err("go.sum gives its go.mod two different hashes".into()),
            None => {}
        }
        if self.options.allow_unverified {
            return Ok(Trust::Unverified);
        }
        let names: Vec<&str> = self.dbs.iter().map(|d| d.verifier.name()).collect();
        Err(format!(
            "nothing verifies it: the bundle holds no lookup of {} and no go.sum line \
             vouches for it (--go-sum FILE, or --allow-unverified)",
            if names.is_empty() {
                "any checksum database (upstream_sumdb is off)".to_owned()
            } else {
                names.join(" or ")
            }
        ))
    }

    /// The namespace the version goes to: `--namespace`, or the non-public namespace the
    /// bundle says it comes from; `None`: the cache.
    fn destination(&self, e: &Entry) -> Option<String> {
        if let Some(ns) = &self.options.namespace {
            return Some(ns.clone());
        }
        let ns = self.provenance.modules.get(&e.module)?;
        self.provenance.not_public.contains(ns).then(|| ns.clone())
    }

    fn one(&mut self, e: &Entry) -> Result<(), String> {
        let checked = self.check_files(e)?;
        let trust = self.trust(e, &checked)?;
        match self.destination(e) {
            Some(ns) => self.host(e, &ns, checked, &trust),
            None => self.cache(e, checked, trust),
        }
    }

    fn host(&mut self, e: &Entry, ns: &str, c: Checked, trust: &Trust) -> Result<(), String> {
        let Some((summary, blake3, size)) = &c.zip else {
            return Err(format!(
                "only its .mod is in the bundle: a version of namespace {ns} needs its zip"
            ));
        };
        match self.namespaces.get(ns) {
            Some(rec)
                if rec.visibility() == crate::auth::Visibility::Public
                    && self.options.namespace.is_none() =>
            {
                return Err(format!(
                    "it comes from a namespace that is not public, and {ns} is public here; \
                     import it with --namespace naming a private one"
                ));
            }
            Some(_) => {}
            None => {
                self.store
                    .create_org(ns, crate::auth::Visibility::Private, store::now_unix())
                    .map_err(|err| format!("creating namespace {ns}: {err}"))?;
                self.namespaces = self
                    .store
                    .list_namespaces()
                    .map_err(|err| err.to_string())?
                    .into_iter()
                    .collect();
            }
        }
        let uploader = if matches!(trust, Trust::Unverified) {
            "import (unverified)"
        } else {
            "import"
        };
        let new = NewVersion {
            owner: ns,
            summary,
            blake3: *blake3,
            size: *size,
            uploader,
            time: if c.time > 0 {
                c.time
            } else {
                store::now_unix()
            },
        };
        let mut file =
            std::fs::File::open(e.path("zip")).map_err(|err| format!("its zip: {err}"))?;
        match self.store.put_version(&new, &mut file) {
            Ok(()) => {
                self.report.hosted.push((ns.to_owned(), e.name()));
                if matches!(trust, Trust::Unverified) {
                    self.report.unverified.push(e.name());
                }
                Ok(())
            }
            Err(store::Error::VersionExists { .. }) => {
                match self.store.get_version(ns, &e.module, &e.version) {
                    Ok(VersionLookup::Found(rec)) if rec.h1 == summary.h1 => {
                        self.report.present.push(e.name());
                        Ok(())
                    }
                    Ok(VersionLookup::Found(rec)) => Err(format!(
                        "conflict: {ns} holds it with zip hash {}, the bundle's is {}; never \
                         overwritten",
                        rec.h1, summary.h1
                    )),
                    other => Err(format!("{ns}: {other:?}")),
                }
            }
            Err(store::Error::PrivateUncovered { suggestion, .. }) => {
                // The exporting shelf's pattern that covers it, if the bundle says.
                let pattern = self
                    .provenance
                    .patterns
                    .iter()
                    .find(|p| patterns::match_prefix_patterns(p, &e.module))
                    .cloned()
                    .unwrap_or(suggestion);
                let command = format!("goshelf private add {pattern}");
                self.report.commands.insert(command.clone());
                Err(format!(
                    "namespace {ns} is not public and no private pattern covers its path: \
                     run `{command}`, then import again"
                ))
            }
            Err(err) => Err(err.to_string()),
        }
    }

    fn cache(&mut self, e: &Entry, c: Checked, trust: Trust) -> Result<(), String> {
        if self
            .store
            .sumdb_hosted_here(&e.module)
            .map_err(|err| err.to_string())?
        {
            return Err(
                "its path is this shelf's (hosted, claimed or shared here): import it with \
                 --namespace NS"
                    .into(),
            );
        }
        if patterns::match_prefix_patterns(&self.private, &e.module) {
            return Err(format!(
                "its path matches the private patterns ({}): it never enters the cache of \
                 public modules; import it with --namespace NS",
                self.private
            ));
        }
        let zip_h1 = c.zip.as_ref().map(|(s, _, _)| s.h1.clone());
        let existing = self
            .store
            .cached(&e.module, &e.version)
            .map_err(|err| err.to_string())?;
        if let Some(old) = &existing {
            let other_zip = matches!((&old.h1, &zip_h1), (Some(a), Some(b)) if a != b);
            if old.mod_h1 != c.mod_h1 || other_zip {
                return Err(format!(
                    "conflict: the cache holds it with other hashes (go.mod {}, zip {}); never \
                     overwritten",
                    old.mod_h1,
                    old.h1.as_deref().unwrap_or("unknown")
                ));
            }
        }
        let mut new_here = false;
        // The record first: it is what verified the version.
        let unverified = matches!(trust, Trust::Unverified);
        let known_h1 = match trust {
            Trust::Logged {
                db,
                zip_h1: rec_zip,
                mod_h1,
                kept,
                head,
            } => {
                let name = self.dbs[db].verifier.name().to_owned();
                let upstream = self.dbs[db].upstream;
                let logged = self
                    .store
                    .sumdb_append_upstream(
                        &e.module,
                        &e.version,
                        (&rec_zip, &mod_h1),
                        &name,
                        if upstream {
                            head.as_ref().map(|(n, note)| (*n, note.as_slice()))
                        } else {
                            None
                        },
                        if upstream { &kept } else { &[] },
                    )
                    .map_err(|err| err.to_string())?;
                match logged {
                    store::sumdb::Logged::New(_) => new_here = true,
                    store::sumdb::Logged::Same(_) => {}
                    other => return Err(format!("the shelf's log refuses it: {other:?}")),
                }
                Some(rec_zip)
            }
            Trust::GoSum {
                zip_h1: Some(h1),
                mod_h1,
            } => {
                let logged = self
                    .store
                    .sumdb_append_upstream(
                        &e.module,
                        &e.version,
                        (&h1, &mod_h1),
                        "go.sum",
                        None,
                        &[],
                    )
                    .map_err(|err| err.to_string())?;
                match logged {
                    store::sumdb::Logged::New(_) => new_here = true,
                    store::sumdb::Logged::Same(_) => {}
                    other => return Err(format!("the shelf's log refuses it: {other:?}")),
                }
                Some(h1)
            }
            Trust::GoSum { zip_h1: None, .. } => {
                self.report.unlogged.push(e.name());
                None
            }
            Trust::Unverified => None,
        };
        if existing.is_none() {
            let rec = CachedRecord {
                info: c.info.clone(),
                time: c.time,
                mod_h1: c.mod_h1.clone(),
                h1: known_h1.or_else(|| zip_h1.clone()),
                blake3: None,
                size: None,
                fetched_at: store::now_unix(),
                origin: if unverified {
                    "import (unverified: not in any checksum database; clients need GONOSUMDB)"
                        .to_owned()
                } else {
                    "import".to_owned()
                },
                last_used: None,
                private: false,
            };
            self.store
                .cache_put_meta(&e.module, &e.version, &rec, &c.go_mod)
                .map_err(|err| err.to_string())?;
            new_here = true;
        }
        if let Some((summary, blake3, size)) = &c.zip {
            let has_zip = existing.as_ref().is_some_and(|r| r.blake3.is_some());
            if !has_zip {
                let mut file =
                    std::fs::File::open(e.path("zip")).map_err(|err| format!("its zip: {err}"))?;
                self.store
                    .cache_put_zip(
                        &e.module,
                        &e.version,
                        (*blake3, *size, &summary.h1),
                        &mut file,
                    )
                    .map_err(|err| err.to_string())?;
                new_here = true;
            }
        }
        if new_here {
            self.report.cached.push(e.name());
            if unverified {
                self.report.unverified.push(e.name());
            }
        } else {
            self.report.present.push(e.name());
        }
        Ok(())
    }
}

/// Signs every kept lookup of the upstream database `name` anew in the newest head held,
/// where the kept tiles prove its record there (`http::upstream::in_newest_head`), once per
/// import rather than per answer: offline clients then meet one head at a time, growing with
/// each delivery, and a client that remembers the newest never meets an older one whose
/// consistency with it the shelf could not show.
fn rebase_lookups(store: &Store, name: &str) -> anyhow::Result<()> {
    let mut changed = Vec::new();
    for (key, body) in store.upstream_sumdb_under(&format!("{name}/lookup/"))? {
        let newest = crate::http::upstream::in_newest_head(store, name, body.clone());
        if newest != body {
            changed.push((key, newest));
        }
        if changed.len() >= 256 {
            store.sumdb_keep_upstream(name, None, &std::mem::take(&mut changed))?;
        }
    }
    store.sumdb_keep_upstream(name, None, &changed)?;
    Ok(())
}

/// Imports the tree at `dir` into `store`.
///
/// # Errors
/// A bundle refused whole (its head unproven), an unreadable tree or go.sum, storage
/// failures. Refusals of single versions are in the report.
pub fn import(store: &Store, dir: &Path, options: &Options) -> anyhow::Result<Report> {
    let root = tree_root(dir);
    if !root.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    let mut go_sum = GoSum::new();
    for path in &options.go_sum {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        parse_go_sum(&text, &mut go_sum).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let mut dbs: Vec<Db> = options
        .upstream_sumdb
        .iter()
        .map(|v| Db {
            verifier: v.clone(),
            upstream: true,
        })
        .collect();
    for v in &options.trust {
        if !dbs.iter().any(|d| d.verifier.name() == v.name()) {
            dbs.push(Db {
                verifier: v.clone(),
                upstream: false,
            });
        }
    }
    let mut run = Import {
        store,
        root: root.clone(),
        dbs,
        go_sum,
        options,
        provenance: provenance(&root)?,
        private: store.private_patterns()?,
        namespaces: store.list_namespaces()?.into_iter().collect(),
        report: Report::default(),
    };
    let mut refused = Vec::new();
    let entries = scan(&root, &mut refused)?;
    run.report.refused = refused;
    run.check_head()?;
    let progress = std::io::stderr().is_terminal();
    let mut durable_at = std::time::Instant::now();
    for (i, e) in entries.iter().enumerate() {
        // The cache's writes are not durable on their own: a checkpoint now and then keeps
        // what was done across a crash (a re-run goes on from there).
        if durable_at.elapsed() >= options.checkpoint && i > 0 {
            store.make_durable()?;
            store.log_make_durable()?;
            durable_at = std::time::Instant::now();
        }
        if progress {
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r\x1b[Kimporting {}/{}: {}",
                i + 1,
                entries.len(),
                e.name()
            );
            let _ = err.flush();
        }
        if let Err(why) = run.one(e) {
            run.report.refused.push((e.name(), why));
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    if let Some(db) = options.upstream_sumdb.as_ref() {
        rebase_lookups(store, db.name())?;
    }
    store.make_durable()?;
    store.log_make_durable()?;
    Ok(run.report)
}

/// What `goshelf import --server` asks a running shelf (`POST /api/v1/admin/import`): the
/// directory is read by the server, on its machine; the upstream database is the server's.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub dir: PathBuf,
    #[serde(default)]
    pub trust_sumdb: Vec<String>,
    #[serde(default)]
    pub go_sum: Vec<PathBuf>,
    #[serde(default)]
    pub allow_unverified: bool,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default = "default_checkpoint")]
    pub checkpoint_secs: u64,
}

fn default_checkpoint() -> u64 {
    2
}

impl Request {
    /// The options, with `upstream_sumdb` (the setting's key).
    ///
    /// # Errors
    /// A `trust_sumdb` that is not a verifier key.
    pub fn options(&self, upstream_sumdb: Option<Verifier>) -> Result<Options, String> {
        Ok(Options {
            upstream_sumdb,
            trust: self
                .trust_sumdb
                .iter()
                .map(|k| Verifier::parse(k).map_err(|e| format!("{k}: not a verifier key: {e}")))
                .collect::<Result<_, _>>()?,
            go_sum: self.go_sum.clone(),
            allow_unverified: self.allow_unverified,
            namespace: self.namespace.as_ref().map(|n| n.to_ascii_lowercase()),
            checkpoint: std::time::Duration::from_secs(self.checkpoint_secs),
        })
    }
}

/// The report as the CLI prints it (`upstream`: the upstream database's name).
#[must_use]
pub fn describe(report: &Report, upstream: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let imported = report.cached.len() + report.hosted.len();
    let _ = writeln!(
        out,
        "imported {imported} versions ({} into the cache, {} hosted), {} already present, {} refused",
        report.cached.len(),
        report.hosted.len(),
        report.present.len(),
        report.refused.len()
    );
    if let (Some(n), Some(name)) = (report.head, upstream) {
        let _ = writeln!(out, "the bundle's newest head of {name} holds {n} records");
    }
    let mut by_ns: BTreeMap<&str, usize> = BTreeMap::new();
    for (ns, _) in &report.hosted {
        *by_ns.entry(ns).or_default() += 1;
    }
    for (ns, n) in by_ns {
        let _ = writeln!(out, "hosted in {ns}: {n} versions");
    }
    if !report.unverified.is_empty() {
        let _ = writeln!(
            out,
            "unverified (in no checksum database; their clients need GONOSUMDB): {}",
            report.unverified.join(", ")
        );
    }
    if !report.unlogged.is_empty() {
        let _ = writeln!(
            out,
            "only a .mod, zip hash unknown, so not logged (their clients need GONOSUMDB): {}",
            report.unlogged.join(", ")
        );
    }
    for (what, why) in &report.refused {
        let _ = writeln!(out, "refused: {what}: {why}");
    }
    for command in &report.commands {
        let _ = writeln!(out, "to import what was refused, run: {command}");
    }
    out
}

/// Runs `goshelf import` on the database file `db`: the report on standard output; an
/// error (exit 1) when anything was refused.
///
/// # Errors
/// As [`import`], and any refusal.
pub fn run(db: &Path, dir: &Path, options: &Options) -> anyhow::Result<()> {
    let store = crate::cli::open_or_create(db)?;
    let report = import(&store, dir, options)?;
    print!(
        "{}",
        describe(&report, options.upstream_sumdb.as_ref().map(Verifier::name))
    );
    if !report.refused.is_empty() {
        anyhow::bail!("{} entries refused", report.refused.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sum_lines_map_to_hashes_and_contradictions_verify_nothing() {
        let mut sums = GoSum::new();
        parse_go_sum(
            "a.example/m v1.0.0 h1:AAA=\na.example/m v1.0.0/go.mod h1:BBB=\n\nb.example v1.0.0 h2:x\n",
            &mut sums,
        )
        .unwrap();
        assert_eq!(
            sums[&("a.example/m".into(), "v1.0.0".into())].as_deref(),
            Some("h1:AAA=")
        );
        assert_eq!(
            sums[&("a.example/m".into(), "v1.0.0/go.mod".into())].as_deref(),
            Some("h1:BBB=")
        );
        assert!(!sums.contains_key(&("b.example".into(), "v1.0.0".into())));
        parse_go_sum("a.example/m v1.0.0 h1:AAA=\n", &mut sums).unwrap();
        assert!(sums[&("a.example/m".into(), "v1.0.0".into())].is_some());
        parse_go_sum("a.example/m v1.0.0 h1:CCC=\n", &mut sums).unwrap();
        assert_eq!(sums[&("a.example/m".into(), "v1.0.0".into())], None);
        assert!(parse_go_sum("one two\n", &mut sums)
            .unwrap_err()
            .starts_with("line 1"));
    }

    #[test]
    fn the_scan_finds_versions_and_refuses_what_cannot_be_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache/download");
        let at = |m: &str| root.join(m).join("@v");
        for (m, files) in [
            (
                "example.com/!upper",
                &["v1.0.0.mod", "v1.0.0.zip", "list", "v1.0.0.lock"][..],
            ),
            (
                "example.com/ok",
                &["v1.1.0.mod", "v1.0.0.mod", "v1.2.0.info"][..],
            ),
            ("example.com/bad", &["v1.0.mod", "...mod", "v2.0.0.mod"][..]),
            ("Bad.Example", &["v1.0.0.mod"][..]),
            ("sumdb/x", &["v1.0.0.mod"][..]),
        ] {
            std::fs::create_dir_all(at(m)).unwrap();
            for f in files {
                std::fs::write(at(m).join(f), b"x").unwrap();
            }
        }
        std::fs::create_dir_all(root.join("sumdb/sum.golang.org/lookup")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc", root.join("example.com/link")).unwrap();
        assert_eq!(tree_root(dir.path()), root);
        let mut refused = Vec::new();
        let found = scan(&root, &mut refused).unwrap();
        let names: Vec<String> = found.iter().map(Entry::name).collect();
        assert_eq!(
            names,
            [
                "example.com/Upper@v1.0.0",
                "example.com/ok@v1.0.0",
                "example.com/ok@v1.1.0"
            ]
        );
        let reasons: BTreeMap<String, String> = refused.into_iter().collect();
        assert!(
            reasons["example.com/ok@v1.2.0"].contains("without its .mod"),
            "{reasons:?}"
        );
        assert!(
            reasons["example.com/bad@v1.0"].contains("canonical"),
            "{reasons:?}"
        );
        assert!(
            reasons["example.com/bad@.."].contains("version"),
            "{reasons:?}"
        );
        assert!(
            reasons["example.com/bad@v2.0.0"].contains("this module"),
            "{reasons:?}"
        );
        assert!(
            reasons["Bad.Example"].contains("module path"),
            "{reasons:?}"
        );
        assert!(
            reasons["example.com/link"].contains("symbolic link"),
            "{reasons:?}"
        );
        assert!(
            !reasons.keys().any(|k| k.starts_with("sumdb")),
            "{reasons:?}"
        );
    }
}
