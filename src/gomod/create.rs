//! Module zip *creation* rules (spec.md §2.5): which files of a source tree go into a module
//! zip, which are omitted and why, which make it invalid; and writing the zip.
//!
//! This follows golang.org/x/mod/zip's `CheckFiles`, `CheckDir` (with `listFilesInDir`) and
//! `Create`, with their texts and their order of checks, so that a zip made here hashes like
//! the one the go command would make from the same tree. Pure: the caller lists the tree (see
//! `crate::publish::tree`), reads the root go.mod's `go` line, and supplies file contents
//! through readers.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::hash::H1Builder;
use super::path::{check_file_path, go_quote};
use super::zip::{
    check_module_version, check_names, clean, CheckedFiles, Collisions, ZipError, MAX_GO_MOD,
    MAX_LICENSE, MAX_ZIP_FILE,
};

/// What kind of file a tree entry is, as `Lstat` sees it (links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    /// A device, socket, pipe...
    Other,
}

/// One entry of a source tree listing, relative to the module root, slash-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: FileKind,
    /// The size `Lstat` reports; only a regular file's size is used.
    pub size: u64,
}

impl TreeEntry {
    /// A regular file of `size` bytes.
    #[must_use]
    pub fn file(path: impl Into<String>, size: u64) -> Self {
        Self {
            path: path.into(),
            kind: FileKind::Regular,
            size,
        }
    }
}

/// A module source tree as x/mod's `listFilesInDir` sees it: the listing and the root go.mod's
/// `go` version, the two inputs of [`check_dir`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Every entry below the root, in `filepath.Walk` order: lexical within a directory,
    /// parents before their contents, links not followed.
    pub entries: Vec<TreeEntry>,
    /// The `go` directive of the root go.mod, read through a link if it is one
    /// ([`super::modfile::go_version`]); `None` without one, or when go.mod does not parse.
    pub go_version: Option<String>,
}

// x/mod zip.go's texts for invalid and omitted files.
const PATH_NOT_CLEAN: &str = "file path is not clean";
const PATH_NOT_RELATIVE: &str = "file path is not relative";
const GO_MOD_CASE: &str = "go.mod files must have lowercase names";
const VCS: &str = "directory is a version control repository";
const VENDORED: &str = "file is in vendor directory";
const SUBMODULE_FILE: &str = "file is in another module";
const SUBMODULE_DIR: &str = "directory is in another module";
const HG_ARCHIVAL: &str = "file is inserted by 'hg archive' and is always omitted";
const SYMLINK: &str = "file is a symbolic link";
const NOT_REGULAR: &str = "not a regular file";

/// Whether a go.mod `go` directive (`1.24`, `1.21rc1`; `None` when there is none or go.mod
/// does not parse) selects the vendor rules of Go 1.24 and later (spec.md §2.5): x/mod's
/// `version.Compare(version.Lang("go" + v), "go1.24") >= 0`, where a version that
/// `go/version` cannot parse counts as older than any.
#[must_use]
pub fn has_go124_vendor_rules(go_version: Option<&str>) -> bool {
    let Some((major, minor)) = go_version.and_then(go_lang) else {
        return false;
    };
    match compare_decimal(major, "1") {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => compare_decimal(minor, "24").is_ge(),
    }
}

/// go/version `Lang` on `"go" + v`, as `(major, minor)`; `None` when go/version rejects `v`
/// (internal/gover `parse`: `1`, `1.21`, `1.21.3`, `1.21rc1`, but not `1.21.3rc1` or `1.02`).
fn go_lang(v: &str) -> Option<(&str, &str)> {
    let (major, rest) = cut_int(v)?;
    if rest.is_empty() {
        return Some((major, "0"));
    }
    let (minor, rest) = cut_int(rest.strip_prefix('.')?)?;
    if rest.is_empty() {
        return Some((major, minor));
    }
    if let Some(patch) = rest.strip_prefix('.') {
        let (_, rest) = cut_int(patch)?;
        return rest.is_empty().then_some((major, minor));
    }
    // A prerelease: lower-case letters, then an optional number. `rest` starts with a
    // letter or other byte here (cut_int took the digits, '.' is handled above).
    let kind = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
    if !rest[..kind].bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let rest = &rest[kind..];
    if rest.is_empty() {
        return Some((major, minor));
    }
    let (_, rest) = cut_int(rest)?;
    rest.is_empty().then_some((major, minor))
}

/// internal/gover `cutInt`: a decimal without a leading zero, and what follows it.
fn cut_int(x: &str) -> Option<(&str, &str)> {
    let n = x.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (x.starts_with('0') && n != 1) {
        return None;
    }
    Some(x.split_at(n))
}

/// Compares decimals without leading zeros, of any length.
fn compare_decimal(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// zip.go `isVendoredPackage`: whether `name` is in a vendored package.
///
/// Before Go 1.24, the offset after a nested `/vendor/` is measured from the start of the path
/// (golang/go#37397), so `pkg/vendor/vendor.go` counts as vendored, and `vendor/modules.txt` is
/// kept. From Go 1.24 the offset is right, and `vendor/modules.txt` is omitted (golang/go#63395).
fn is_vendored(name: &str, go124: bool) -> bool {
    if go124 && name == "vendor/modules.txt" {
        return true;
    }
    let start = if name.starts_with("vendor/") {
        "vendor/".len()
    } else if let Some(j) = name.find("/vendor/") {
        if go124 {
            j + "/vendor/".len()
        } else {
            // The historical offset: kept, or existing checksums would change.
            "/vendor/".len()
        }
    } else {
        return false;
    };
    // Bytes: the buggy offset need not fall on a character boundary.
    name.as_bytes()[start..].contains(&b'/')
}

/// `path.Split`: the directory with its trailing slash (empty at the root), and the base name.
fn split(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => ("", p),
    }
}

/// x/mod's `CheckFiles` over a list of files (as `Create` gets them): each path lands in
/// exactly one of `valid`, `omitted` and `invalid`, with zip.go's texts, in the given order.
/// A path that is reported once is not reported again (zip.go's `addError`), so a third copy
/// of a file adds nothing.
///
/// `go_version` is the `go` directive of the root go.mod ([`super::modfile::go_version`]);
/// like x/mod, it is used only when the list holds a regular root `go.mod`.
///
/// Names in the result are the entries' paths. An error is [`CheckedFiles::error`].
#[must_use]
pub fn check_files(files: &[TreeEntry], go_version: Option<&str>) -> CheckedFiles {
    check_files_indexed(files, go_version).0
}

/// [`check_files`], and the indices of the valid files.
fn check_files_indexed<'a>(
    files: &'a [TreeEntry],
    go_version: Option<&str>,
) -> (CheckedFiles, Vec<usize>) {
    let mut cf = CheckedFiles::default();
    let mut reported: HashSet<&str> = HashSet::new();
    let mut report = |cf: &mut CheckedFiles, path: &'a str, omitted: bool, reason: String| {
        if reported.insert(path) {
            let list = if omitted {
                &mut cf.omitted
            } else {
                &mut cf.invalid
            };
            list.push((path.to_owned(), reason));
        }
    };

    // Directories holding a regular go.mod, whatever its case, are other modules; the root
    // go.mod (directory "") gives the Go version.
    let mut have_go_mod: HashSet<&str> = HashSet::new();
    let mut root_go_mod = false;
    for f in files {
        let (dir, base) = split(&f.path);
        if base.eq_ignore_ascii_case("go.mod") && f.kind == FileKind::Regular {
            have_go_mod.insert(dir);
            root_go_mod |= dir.is_empty() && base == "go.mod";
        }
    }
    let go124 = root_go_mod && has_go124_vendor_rules(go_version);
    // zip.go's `inSubmodule`: whether any directory above `p` (`a/`, `a/b/`, ...) holds one.
    let in_submodule = |p: &str| {
        p.match_indices('/')
            .any(|(i, _)| have_go_mod.contains(&p[..=i]))
    };

    let mut collisions = Collisions::default();
    let mut valid = Vec::new();
    let mut left = MAX_ZIP_FILE;
    for (index, f) in files.iter().enumerate() {
        let p = f.path.as_str();
        if clean(p.as_bytes()) != p.as_bytes() {
            report(&mut cf, p, false, PATH_NOT_CLEAN.to_owned());
            continue;
        }
        if p.starts_with('/') {
            report(&mut cf, p, false, PATH_NOT_RELATIVE.to_owned());
            continue;
        }
        if is_vendored(p, go124) {
            report(&mut cf, p, true, VENDORED.to_owned());
            continue;
        }
        if in_submodule(p) {
            report(&mut cf, p, true, SUBMODULE_FILE.to_owned());
            continue;
        }
        if p == ".hg_archival.txt" {
            // The go command drops it whatever the VCS.
            report(&mut cf, p, true, HG_ARCHIVAL.to_owned());
            continue;
        }
        if let Err(e) = check_file_path(p) {
            report(&mut cf, p, false, e.0);
            continue;
        }
        // No non-ASCII character lower-cases to a letter of "go.mod".
        if p.eq_ignore_ascii_case("go.mod") && p != "go.mod" {
            report(&mut cf, p, false, GO_MOD_CASE.to_owned());
            continue;
        }
        if let Err(e) = collisions.check(p, f.kind == FileKind::Directory) {
            report(&mut cf, p, false, e);
            continue;
        }
        match f.kind {
            FileKind::Regular => {}
            FileKind::Symlink => {
                report(&mut cf, p, true, SYMLINK.to_owned());
                continue;
            }
            FileKind::Directory | FileKind::Other => {
                report(&mut cf, p, true, NOT_REGULAR.to_owned());
                continue;
            }
        }
        // Go holds sizes in an int64: 2^63 and more are negative there, so too large.
        if f.size <= i64::MAX as u64 && f.size <= left {
            left -= f.size;
        } else if cf.size_error.is_none() {
            cf.size_error = Some(format!(
                "module source tree too large (max size is {MAX_ZIP_FILE} bytes)"
            ));
        }
        let limit = match p {
            "go.mod" => Some(MAX_GO_MOD),
            "LICENSE" => Some(MAX_LICENSE),
            _ => None,
        };
        if let Some(max) = limit.filter(|&max| f.size > max) {
            let message = format!("{p} file too large (max size is {max} bytes)");
            report(&mut cf, p, false, message);
            continue;
        }
        cf.valid.push(p.to_owned());
        valid.push(index);
    }
    (cf, valid)
}

/// x/mod's `CheckDir` over a listed tree (`publish::tree::list_dir`). The root itself may be
/// listed, as `""` or `.`; it is ignored.
///
/// The walk's own omissions come last, in listing order, as in `CheckDir`: vendored entries
/// (files and directories; a vendored directory's contents are still walked),
/// `.bzr`/`.git`/`.hg`/`.svn` directories, directories holding a non-directory `go.mod`
/// (exact name, as `Lstat` finds it on a case-sensitive file system), whose contents are
/// skipped, and anything not a regular file. The regular files then go through
/// [`check_files`], whose results come first.
///
/// Names in the result are the entries' paths, relative to the root; `CheckDir` joins them to
/// the directory.
#[must_use]
pub fn check_dir(tree: &Tree) -> CheckedFiles {
    let (entries, go_version) = (&tree.entries, tree.go_version.as_deref());
    let go124 = has_go124_vendor_rules(go_version);
    let with_go_mod: HashSet<&str> = entries
        .iter()
        .filter(|e| e.kind != FileKind::Directory)
        .filter_map(|e| e.path.strip_suffix("/go.mod"))
        .collect();
    let mut skipped: HashSet<&str> = HashSet::new();
    let mut omitted = Vec::new();
    let mut files = Vec::new();
    for e in entries {
        let p = e.path.as_str();
        let under_skipped = p.match_indices('/').any(|(i, _)| skipped.contains(&p[..i]));
        if under_skipped {
            continue;
        }
        if is_vendored(p, go124) {
            omitted.push((p.to_owned(), VENDORED.to_owned()));
            continue;
        }
        match e.kind {
            FileKind::Directory => {
                let (_, base) = split(p);
                let reason = if matches!(base, ".bzr" | ".git" | ".hg" | ".svn") {
                    VCS
                } else if with_go_mod.contains(p) {
                    SUBMODULE_DIR
                } else {
                    continue;
                };
                omitted.push((p.to_owned(), reason.to_owned()));
                skipped.insert(p);
            }
            FileKind::Regular => files.push(e.clone()),
            FileKind::Symlink | FileKind::Other => {
                omitted.push((p.to_owned(), NOT_REGULAR.to_owned()));
            }
        }
    }
    let mut cf = check_files(&files, go_version);
    cf.omitted.extend(omitted);
    cf
}

/// x/mod's `Create`: checks `path@version` (a canonical version, `module.Check`), then the
/// files ([`check_files`]), and writes the valid ones with [`write_zip`]; returns the h1.
///
/// # Errors
/// The path or version error, the size error or the list of invalid files (as
/// [`CheckedFiles::error`]), or any error of [`write_zip`].
pub fn create<W, R, F>(
    out: W,
    path: &str,
    version: &str,
    files: &[TreeEntry],
    go_version: Option<&str>,
    open: F,
) -> Result<String, ZipError>
where
    W: Write + Seek,
    R: Read,
    F: FnMut(&TreeEntry) -> std::io::Result<R>,
{
    check_module_version(path, version)?;
    let (cf, valid) = check_files_indexed(files, go_version);
    if let Some(e) = cf.error() {
        return Err(e);
    }
    let valid: Vec<TreeEntry> = valid.into_iter().map(|i| files[i].clone()).collect();
    write_zip(out, path, version, &valid, open)
}

/// The buffer each file streams through.
const COPY_BUFFER: usize = 64 << 10;

/// Writes the module zip of `files` (the valid files of a check, regular, with their declared
/// sizes) for `path@version` as x/mod's `Create` does: one deflated entry per file, in the
/// given order, named `path@version/<file>`, no directory entries. Returns the zip's h1.
///
/// `open` is called once per file, just before its entry is written, so at most one file is
/// open at a time. Every reader must yield exactly the declared size: x/mod rejects more
/// (`larger than declared size`), and goshelf rejects less too, since the zip would then
/// disagree with the check that admitted it.
///
/// # Errors
/// [`ZipError::Invalid`] for a bad path or version, or files that would not make a valid
/// module zip (checkZip's rules: bad or colliding names, a nested go.mod, a file that is not
/// regular); [`ZipError::TooLarge`] when the declared sizes add up to more than 500 MiB;
/// [`ZipError::Io`] when `open`, a reader or the writer fails, or a reader's size differs from
/// the declared one.
pub fn write_zip<W, R, F>(
    out: W,
    path: &str,
    version: &str,
    files: &[TreeEntry],
    mut open: F,
) -> Result<String, ZipError>
where
    W: Write + Seek,
    R: Read,
    F: FnMut(&TreeEntry) -> std::io::Result<R>,
{
    check_module_version(path, version)?;
    let prefix = format!("{path}@{version}/");
    if let Some(f) = files.iter().find(|f| f.kind != FileKind::Regular) {
        return Err(ZipError::Invalid(format!("{}: {NOT_REGULAR}", f.path)));
    }
    let checked = check_names(&prefix, files.iter().map(|f| (f.path.as_str(), f.size)));
    if let Some(e) = checked.error() {
        return Err(e);
    }

    let written = |e: zip::result::ZipError| ZipError::Io(format!("writing zip: {e}"));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(out);
    let mut h1 = H1Builder::new();
    let mut buf = vec![0_u8; COPY_BUFFER];
    for f in files {
        let name = format!("{prefix}{}", f.path);
        let quoted = go_quote(f.path.as_bytes());
        let mut reader = open(f).map_err(|e| ZipError::Io(format!("opening {}: {e}", f.path)))?;
        zip.start_file(name.as_str(), options).map_err(written)?;
        let mut sha = Sha256::new();
        let mut total: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ZipError::Io(format!("reading {}: {e}", f.path))),
            };
            total += n as u64;
            if total > f.size {
                return Err(ZipError::Io(format!(
                    "file {quoted} is larger than declared size"
                )));
            }
            sha.update(&buf[..n]);
            zip.write_all(&buf[..n])
                .map_err(|e| ZipError::Io(format!("writing zip: {e}")))?;
        }
        if total < f.size {
            return Err(ZipError::Io(format!(
                "file {quoted} is smaller than declared size"
            )));
        }
        h1.add(&name, sha.finalize().into());
    }
    zip.finish().map_err(written)?;
    h1.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn files(paths: &[&str]) -> Vec<TreeEntry> {
        paths.iter().map(|p| TreeEntry::file(*p, 1)).collect()
    }

    /// [`write_zip`] of `entries` for `example.com/m@version` into memory, every file
    /// reading `data`.
    fn write_in_memory(
        version: &str,
        entries: &[TreeEntry],
        data: &'static [u8],
    ) -> Result<String, ZipError> {
        write_zip(
            Cursor::new(Vec::new()),
            "example.com/m",
            version,
            entries,
            |_| Ok(data),
        )
    }

    /// The omitted (path, reason) pairs of `cf`, borrowed for comparing with literals.
    fn omitted(cf: &CheckedFiles) -> Vec<(&str, &str)> {
        cf.omitted
            .iter()
            .map(|(p, r)| (p.as_str(), r.as_str()))
            .collect()
    }

    #[test]
    fn go124_rules_follow_go_version_lang() {
        // vendor_test.go's pre124 list, then 1.24 and later.
        for v in [
            None,
            Some("1.14"),
            Some("1.21.0"),
            Some("1.22.4"),
            Some("1.23"),
            Some("1.23.1"),
            Some("1.2"),
            Some("1.7"),
            Some("1.9"),
            Some("1"),
            // go/version rejects these, and an invalid version is older than any.
            Some("1.24.0rc1"),
            Some("1.024"),
            Some("bad"),
            // A prerelease is lower-case letters, then digits.
            Some("1.24RC1"),
            Some("1.24rC1"),
            Some("1.24rc1x"),
            Some("1.24rc01"),
            Some("1.24-rc1"),
        ] {
            assert!(!has_go124_vendor_rules(v), "{v:?}");
        }
        for v in ["1.24", "1.24.0", "1.24rc1", "1.99.0", "1.100", "2", "2.0"] {
            assert!(has_go124_vendor_rules(Some(v)), "{v}");
        }
    }

    #[test]
    fn is_vendored_matches_vendor_test_go() {
        // zip/vendor_test.go TestIsVendoredPackage.
        for go124 in [false, true] {
            assert!(is_vendored("vendor/foo/foo.go", go124));
            assert!(is_vendored("pkg/vendor/foo/foo.go", go124));
            assert!(is_vendored("longpackagename/vendor/foo/foo.go", go124));
            assert!(!is_vendored("vendor/vendor.go", go124));
            assert!(is_vendored("vendor/foo/modules.txt", go124));
            assert!(!is_vendored("modules.txt", go124));
            assert!(!is_vendored("vendor/amodules.txt", go124));
        }
        assert!(!is_vendored("vendor/modules.txt", false));
        assert!(is_vendored("vendor/modules.txt", true));
        // golang/go#37397: false positives before 1.24 only.
        assert!(is_vendored("pkg/vendor/vendor.go", false));
        assert!(is_vendored("longpackagename/vendor/vendor.go", false));
        assert!(!is_vendored("pkg/vendor/vendor.go", true));
        assert!(!is_vendored("longpackagename/vendor/vendor.go", true));
        // The buggy offset (8) may fall inside a multi-byte character.
        assert!(is_vendored("aaaaaaa€/vendor/x/y", false));
        assert!(!is_vendored("aaaaaaa€/vendor/x", true));
    }

    #[test]
    fn check_files_reports_each_path_once() {
        let cf = check_files(&files(&["a.go", "a.go", "a.go", "b'", "b'"]), None);
        assert_eq!(cf.valid, ["a.go"]);
        assert_eq!(
            cf.invalid,
            [
                (
                    "a.go".to_owned(),
                    "multiple entries for file \"a.go\"".to_owned()
                ),
                (
                    "b'".to_owned(),
                    "malformed file path \"b'\": invalid char '\\''".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn check_files_omits_the_files_of_nested_modules() {
        let cf = check_files(
            &files(&[
                "go.mod",
                "a.go",
                "sub/go.mod",
                "sub/b.go",
                "sub/deep/c.go",
                "subx/d.go",
                "x/sub/e.go",
                "other/GO.MOD",
                "other/f.go",
                "x/y/go.mod",
                "x/y/z/g.go",
                "x/h.go",
            ]),
            None,
        );
        assert_eq!(
            cf.valid,
            ["go.mod", "a.go", "subx/d.go", "x/sub/e.go", "x/h.go"]
        );
        let nested = [
            "sub/go.mod",
            "sub/b.go",
            "sub/deep/c.go",
            "other/GO.MOD",
            "other/f.go",
            "x/y/go.mod",
            "x/y/z/g.go",
        ];
        let want: Vec<(&str, &str)> = nested.iter().map(|p| (*p, SUBMODULE_FILE)).collect();
        assert_eq!(omitted(&cf), want);
        assert!(cf.invalid.is_empty(), "{:?}", cf.invalid);
    }

    #[test]
    fn check_files_omits_links_and_irregular_files() {
        let entries = [
            TreeEntry {
                path: "link.go".to_owned(),
                kind: FileKind::Symlink,
                size: 5,
            },
            TreeEntry {
                path: "fifo".to_owned(),
                kind: FileKind::Other,
                size: 0,
            },
            TreeEntry {
                path: "dir".to_owned(),
                kind: FileKind::Directory,
                size: 0,
            },
            // A linked go.mod does not make a submodule.
            TreeEntry {
                path: "sub/go.mod".to_owned(),
                kind: FileKind::Symlink,
                size: 0,
            },
            TreeEntry::file("sub/a.go", 1),
            TreeEntry::file("/abs.go", 1),
        ];
        let cf = check_files(&entries, None);
        assert_eq!(cf.valid, ["sub/a.go"]);
        assert_eq!(
            omitted(&cf),
            [
                ("link.go", SYMLINK),
                ("fifo", NOT_REGULAR),
                ("dir", NOT_REGULAR),
                ("sub/go.mod", SYMLINK),
            ]
        );
        assert_eq!(
            cf.invalid,
            [("/abs.go".to_owned(), PATH_NOT_RELATIVE.to_owned())]
        );
    }

    #[test]
    fn check_files_uses_go_version_only_with_a_regular_root_go_mod() {
        let mut entries = files(&["vendor/modules.txt", "pkg/vendor/vendor.go"]);
        let cf = check_files(&entries, Some("1.24"));
        assert_eq!(cf.valid, ["vendor/modules.txt"]);
        // A go.mod elsewhere, or one spelled otherwise, is not the root go.mod.
        for other in ["GO.MOD", "sub/go.mod"] {
            let mut with_other = entries.clone();
            with_other.push(TreeEntry::file(other, 10));
            let cf = check_files(&with_other, Some("1.24"));
            assert!(
                cf.valid.iter().any(|v| v == "vendor/modules.txt"),
                "{other}: {cf:?}"
            );
        }
        entries.push(TreeEntry::file("go.mod", 10));
        let cf = check_files(&entries, Some("1.24"));
        assert_eq!(cf.valid, ["pkg/vendor/vendor.go", "go.mod"]);
    }

    #[test]
    fn check_files_size_limits_follow_go() {
        // zip_test.go sizeLimitTests, for CheckFiles.
        let run = |entries: &[(&str, u64)]| {
            let entries: Vec<TreeEntry> = entries
                .iter()
                .map(|&(p, n)| TreeEntry::file(p, n))
                .collect();
            check_files(&entries, None)
        };
        let too_large = Some("module source tree too large (max size is 524288000 bytes)");
        assert_eq!(run(&[("a", MAX_ZIP_FILE)]).error(), None);
        assert_eq!(
            run(&[("a", MAX_ZIP_FILE + 1)]).size_error.as_deref(),
            too_large
        );
        assert_eq!(run(&[("a", 10), ("b", MAX_ZIP_FILE - 10)]).error(), None);
        assert_eq!(
            run(&[("a", 10), ("b", MAX_ZIP_FILE - 9)])
                .size_error
                .as_deref(),
            too_large
        );
        assert_eq!(run(&[("a", 1 << 63)]).size_error.as_deref(), too_large);
        assert_eq!(run(&[("go.mod", MAX_GO_MOD)]).error(), None);
        assert_eq!(
            run(&[("go.mod", MAX_GO_MOD + 1)]).error(),
            Some(ZipError::Invalid(
                "go.mod: go.mod file too large (max size is 16777216 bytes)".to_owned()
            ))
        );
        assert_eq!(run(&[("LICENSE", MAX_LICENSE)]).error(), None);
        assert_eq!(
            run(&[("LICENSE", MAX_LICENSE + 1)]).error(),
            Some(ZipError::Invalid(
                "LICENSE: LICENSE file too large (max size is 16777216 bytes)".to_owned()
            ))
        );
        assert!(matches!(
            run(&[("a", MAX_ZIP_FILE + 1)]).error(),
            Some(ZipError::TooLarge(_))
        ));
    }

    #[test]
    fn check_dir_skips_contents_of_vcs_and_submodule_dirs() {
        let dir = |p: &str| TreeEntry {
            path: p.to_owned(),
            kind: FileKind::Directory,
            size: 0,
        };
        let entries = [
            dir(""),
            dir(".git"),
            TreeEntry::file(".git/config", 1),
            dir("a"),
            TreeEntry::file("a/a.go", 1),
            dir("sub"),
            TreeEntry::file("sub/go.mod", 1),
            dir("sub/x"),
            TreeEntry::file("sub/x/x.go", 1),
            dir("vendor"),
            dir("vendor/v"),
            // A vendored directory is omitted, but its contents are still walked.
            dir("vendor/v/w"),
            TreeEntry::file("vendor/v/w/w.go", 1),
            TreeEntry {
                path: "link".to_owned(),
                kind: FileKind::Symlink,
                size: 3,
            },
        ];
        let cf = check_dir(&Tree {
            entries: entries.to_vec(),
            go_version: None,
        });
        assert_eq!(cf.valid, ["a/a.go"]);
        assert_eq!(
            omitted(&cf),
            [
                (".git", VCS),
                ("sub", SUBMODULE_DIR),
                ("vendor/v/w", VENDORED),
                ("vendor/v/w/w.go", VENDORED),
                ("link", NOT_REGULAR),
            ]
        );
        assert!(cf.invalid.is_empty());
    }

    #[test]
    fn write_zip_checks_declared_sizes() {
        let write = |declared: u64, data: &'static [u8]| {
            write_in_memory("v1.0.0", &[TreeEntry::file("a.go", declared)], data)
        };
        assert!(write(3, b"abc").is_ok());
        let larger = write(2, b"abc").unwrap_err();
        assert_eq!(
            larger,
            ZipError::Io("file \"a.go\" is larger than declared size".to_owned())
        );
        let smaller = write(4, b"abc").unwrap_err();
        assert_eq!(
            smaller,
            ZipError::Io("file \"a.go\" is smaller than declared size".to_owned())
        );
    }

    #[test]
    fn write_zip_refuses_what_would_not_be_a_valid_zip() {
        let write = |entries: &[TreeEntry]| write_in_memory("v1.0.0", entries, b"");
        let err = write(&[TreeEntry::file("sub/go.mod", 0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "example.com/m@v1.0.0/sub/go.mod: go.mod file not in module root directory"
        );
        let err = write(&[TreeEntry::file("a", 0), TreeEntry::file("A", 0)]).unwrap_err();
        assert!(err
            .to_string()
            .contains("case-insensitive file name collision"));
        let link = TreeEntry {
            path: "l".to_owned(),
            kind: FileKind::Symlink,
            size: 0,
        };
        assert_eq!(
            write(&[link]).unwrap_err(),
            ZipError::Invalid("l: not a regular file".to_owned())
        );
        let err = write_in_memory("v2.0.0", &[], b"").unwrap_err();
        assert!(err.to_string().contains("should be v0 or v1, not v2"));
    }

    /// zip/testdata/create/simple.txt: its files, and the h1 of their zip.
    const SIMPLE: [(&str, &[u8]); 3] = [
        ("go.mod", b"module example.com/m\n\ngo 1.13\n"),
        ("m.go", b"package m\n\nfunc Foo() int { return 42 }\n"),
        (
            "cmd/hello/hello.go",
            b"package main\n\nimport (\n  \"fmt\"\n  \"example.com/m\"\n)\n\nfunc main() {\n  fmt.Println(m.Foo())\n}\n",
        ),
    ];
    const SIMPLE_H1: &str = "h1:tpqYOOmuilagXzyqoJ3roUjp8gneQeTv5YVpL6BG7/k=";

    fn simple_entries() -> Vec<TreeEntry> {
        SIMPLE
            .iter()
            .map(|(p, d)| TreeEntry::file(*p, d.len() as u64))
            .collect()
    }

    /// What the upload rules make of a zip of `example.com/m@v1.0.0`.
    fn validated(zip: &[u8]) -> super::super::zip::ZipSummary {
        super::super::zip::validate(
            Cursor::new(zip),
            zip.len() as u64,
            "example.com/m",
            "v1.0.0",
        )
        .unwrap()
    }

    fn simple_contents(f: &TreeEntry) -> &'static [u8] {
        SIMPLE
            .iter()
            .find(|(p, _)| *p == f.path)
            .map(|(_, d)| *d)
            .unwrap()
    }

    #[test]
    fn write_zip_retries_interrupted_reads_and_reports_other_errors() {
        use super::super::zip::rawzip::{Failing, Interrupted};
        let h1 = write_zip(
            Cursor::new(Vec::new()),
            "example.com/m",
            "v1.0.0",
            &simple_entries(),
            |f| Ok(Interrupted::new(simple_contents(f))),
        )
        .unwrap();
        assert_eq!(h1, SIMPLE_H1);
        let err = crate::testing::within(|| {
            write_zip(
                Cursor::new(Vec::new()),
                "example.com/m",
                "v1.0.0",
                &simple_entries(),
                |f| Ok(Failing::at(simple_contents(f).to_vec(), 5)),
            )
        })
        .unwrap_err();
        assert_eq!(err, ZipError::Io("reading go.mod: disk on fire".to_owned()));
    }

    #[test]
    fn create_zips_the_valid_files_and_refuses_invalid_ones() {
        let mut files = simple_entries();
        // Left out of the zip as x/mod's Create leaves them: another module's files and
        // a vendored file (go 1.13 in go.mod: the rules before Go 1.24).
        files.push(TreeEntry::file("sub/go.mod", 10));
        files.push(TreeEntry::file("sub/x.go", 10));
        files.push(TreeEntry::file("vendor/a/b.go", 10));
        let mut out = Cursor::new(Vec::new());
        let h1 = create(
            &mut out,
            "example.com/m",
            "v1.0.0",
            &files,
            Some("1.13"),
            |f| Ok(simple_contents(f)),
        )
        .unwrap();
        assert_eq!(h1, SIMPLE_H1);
        let summary = validated(&out.into_inner());
        assert_eq!((summary.h1.as_str(), summary.files), (SIMPLE_H1, 3));
        // An invalid file fails the whole zip, before anything is opened.
        files.push(TreeEntry::file("bad'name.go", 1));
        let err = create(
            Cursor::new(Vec::new()),
            "example.com/m",
            "v1.0.0",
            &files,
            Some("1.13"),
            |f| -> std::io::Result<&[u8]> { panic!("{} opened", f.path) },
        )
        .unwrap_err();
        assert!(
            matches!(&err, ZipError::Invalid(m) if m.contains("bad'name.go")),
            "{err:?}"
        );
        // So does a bad version.
        let err = create(
            Cursor::new(Vec::new()),
            "example.com/m",
            "v1.0",
            &simple_entries(),
            None,
            |f| Ok(simple_contents(f)),
        )
        .unwrap_err();
        assert!(matches!(err, ZipError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn write_zip_output_validates_with_the_same_h1() {
        let mut out = Cursor::new(Vec::new());
        let h1 = write_zip(
            &mut out,
            "example.com/m",
            "v1.0.0",
            &simple_entries(),
            |f| Ok(simple_contents(f)),
        )
        .unwrap();
        assert_eq!(h1, SIMPLE_H1);
        let zip = out.into_inner();
        let summary = validated(&zip);
        assert_eq!(summary.h1, h1);
        assert_eq!(summary.files, 3);
        let checked = super::super::zip::check_zip(
            Cursor::new(&zip),
            zip.len() as u64,
            "example.com/m",
            "v1.0.0",
        )
        .unwrap();
        let names: Vec<&str> = checked
            .valid
            .iter()
            .map(|n| n.trim_start_matches("example.com/m@v1.0.0/"))
            .collect();
        assert_eq!(names, ["go.mod", "m.go", "cmd/hello/hello.go"]);
    }
}
