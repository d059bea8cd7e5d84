//! The module zip: Go's `checkZip` with its error texts (spec.md §2.2), and the upload checks a
//! registry adds on top (spec.md §2.4, §8). Reads every entry fully, so CRCs and sizes are
//! proven, and computes the h1 of the zip and of its `.mod`.
//!
//! Three parts: `archive` reads the zip's structure and data as Go's `archive/zip` does (and
//! refuses what would make two readers see two archives); `check` is Go's `checkZip` over the
//! names and sizes; `policy` holds the registry's rules beyond Go's. This module puts them
//! together: [`check_zip`] (Go's `CheckZip`), [`read_prefix`], and [`validate`] (everything,
//! for an upload).
//!
//! The central directory is walked by `archive`, not through a zip library's index: such an
//! index keys entries by name, so duplicate entries (which checkZip must report, in order)
//! collapse into one; it may replace a name by an Info-ZIP Unicode path extra field, while Go
//! uses the raw bytes; and it holds hundreds of bytes per entry, where a 200,000-entry upload
//! must cost tens of megabytes at most (`archive::Entry` is 48 bytes, names are kept once).

mod archive;
mod check;
mod policy;
#[cfg(test)]
pub(crate) mod rawzip;

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::hash::{hash1_of, hash_go_mod};
use super::path::go_quote;
use super::version::{self, not_canonical, VersionError};
use super::{modfile, ModulePath, Version};
use archive::{DataReader, Directory};
use check::{classify, Kind};
pub(super) use check::{clean, Collisions};

/// `MaxZipFile`: 500 MiB.
pub const MAX_ZIP_FILE: u64 = 500 << 20;
/// `MaxGoMod`: 16 MiB.
pub const MAX_GO_MOD: u64 = 16 << 20;
/// `MaxLICENSE`: 16 MiB.
pub const MAX_LICENSE: u64 = 16 << 20;
/// goshelf's own limit on the number of zip entries, not Go's: checked from the end of central
/// directory record before any per-entry work, so that a small archive of empty entries cannot
/// make the validator allocate for millions of them. Real modules stay far below it.
pub const MAX_FILES: usize = 200_000;

/// The buffer each entry streams through; one per validation, whatever the entry sizes.
const READ_BUFFER: usize = 64 << 10;

/// Why a zip was not accepted. `Display` is the text alone: one or more lines in Go's format.
///
/// The kind tells whose fault it is: the archive's ([`ZipError::Invalid`]), the archive's size
/// against a limit ([`ZipError::TooLarge`]), or the reader the caller handed in
/// ([`ZipError::Io`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZipError {
    /// The archive breaks a rule: it does not parse, or an entry, the path or the version is
    /// invalid.
    #[error("{0}")]
    Invalid(String),
    /// Go's `SizeError` (the zip file or the total declared content over 500 MiB), or more
    /// entries than [`MAX_FILES`].
    #[error("{0}")]
    TooLarge(String),
    /// The reader (or a writer) failed, or disagreed with the size it was given: a failure on
    /// the caller's side, not the archive's.
    #[error("{0}")]
    Io(String),
}

impl ZipError {
    /// The text, as `Display` shows it.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::TooLarge(m) | Self::Io(m) => m,
        }
    }
}

impl From<VersionError> for ZipError {
    fn from(e: VersionError) -> Self {
        Self::Invalid(e.0)
    }
}

/// What an accepted upload contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipSummary {
    /// The module path the zip was validated against.
    pub path: super::ModulePath,
    /// The version the zip was validated against.
    pub version: super::Version,
    /// `h1:` of the zip, as `go mod download -json` reports in `Sum`.
    pub h1: String,
    /// The `.mod` bytes: the root go.mod verbatim, or `module <path>\n`.
    pub mod_bytes: Vec<u8>,
    /// `h1:` of `mod_bytes`, as in `GoModSum`.
    pub mod_h1: String,
    /// Whether the zip had a root go.mod.
    pub has_go_mod: bool,
    /// How many files and directories it holds, the prefix directory itself left out.
    pub files: usize,
}

/// Go's `CheckedFiles` for a zip: what `formatCheckedFiles` prints in the conformance `want`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedFiles {
    /// Full entry names.
    pub valid: Vec<String>,
    /// `(full entry name, reason)`.
    pub omitted: Vec<(String, String)>,
    /// `(full entry name, reason)`.
    pub invalid: Vec<(String, String)>,
    /// A `SizeError` text, if any.
    pub size_error: Option<String>,
}

impl CheckedFiles {
    /// Go's `CheckedFiles.Err`: the size error if there is one, otherwise every invalid entry
    /// as `<full entry name>: <reason>`, one per line; `None` for a valid zip.
    #[must_use]
    pub fn error_text(&self) -> Option<String> {
        self.error().map(|e| e.message().to_owned())
    }

    /// [`Self::error_text`] with its kind: [`ZipError::TooLarge`] for the size error,
    /// [`ZipError::Invalid`] for the list of invalid entries.
    #[must_use]
    pub fn error(&self) -> Option<ZipError> {
        if let Some(size) = &self.size_error {
            return Some(ZipError::TooLarge(size.clone()));
        }
        problem_list(self.invalid.iter(), |(name, reason)| {
            format!("{name}: {reason}")
        })
        .map(ZipError::Invalid)
    }
}

/// The text of a list of invalid entries, one `line` each: at most [`ERROR_LINES`] of them,
/// then how many more (a hostile zip of thousands of bad names must not turn into an error
/// text many times its size; the rest are counted, not written). `None` for no problem.
pub(super) fn problem_list<T>(
    problems: impl Iterator<Item = T>,
    line: impl Fn(T) -> String,
) -> Option<String> {
    let mut problems = problems.peekable();
    problems.peek()?;
    let mut lines: Vec<String> = problems.by_ref().take(ERROR_LINES).map(line).collect();
    let more = problems.count();
    if more > 0 {
        lines.push(format!("... and {more} more invalid entries"));
    }
    Some(lines.join("\n"))
}

/// goshelf's own limit on the central directory (names, extra fields, comments): it bounds
/// the memory a zip's listing takes while it is checked. Real modules stay far below it (a
/// module of 20,000 files has a directory of about 2 MiB).
pub const MAX_CENTRAL_DIRECTORY: u64 = 16 << 20;

/// The most invalid entries an error text lists.
pub const ERROR_LINES: usize = 10;

/// Go's `CheckZip(m, zipFile)` on the central directory (no data read).
///
/// # Errors
/// Only for a version or path that fails `module.Check`, or a zip that does not parse (which
/// includes one with more than [`MAX_FILES`] entries); entry problems land in
/// `CheckedFiles::invalid`.
pub fn check_zip<R: Read + Seek>(
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<CheckedFiles, ZipError> {
    Watched::run(reader, |reader| {
        check_module_version(path, version)?;
        if zip_size > MAX_ZIP_FILE {
            return Ok(CheckedFiles {
                size_error: Some(too_large(zip_size)),
                ..CheckedFiles::default()
            });
        }
        let dir = archive::read_directory(reader, zip_size)?;
        Ok(classify(&dir, &prefix_of(path, version), true).0)
    })
}

/// The `path@version` a zip claims, from its first entry name.
///
/// # Errors
/// When the zip does not parse or its first entry has no `path@version/` prefix.
pub fn read_prefix<R: Read + Seek>(reader: R) -> Result<(String, String), ZipError> {
    Watched::run(reader, |reader| {
        let first = archive::first_name(reader)?.ok_or_else(|| {
            ZipError::Invalid("zip has no entries, so it names no module version".to_owned())
        })?;
        let no_prefix = || {
            ZipError::Invalid(format!(
                "zip entry {} does not start with a path@version/ prefix",
                go_quote(&first)
            ))
        };
        let name = std::str::from_utf8(&first).map_err(|_| no_prefix())?;
        let (path, rest) = name.split_once('@').ok_or_else(no_prefix)?;
        let (version, _) = rest.split_once('/').ok_or_else(no_prefix)?;
        Ok((path.to_owned(), version.to_owned()))
    })
}

/// Validates an upload completely against `path@version` and reads every entry.
///
/// On top of checkZip (spec.md §2.2), in this order: `+incompatible` only for major >= 2, a path
/// without a major suffix and no root go.mod (spec.md §2.4, §3.4); a pseudo-version must have a
/// real timestamp, a base that `module.PseudoVersionBase` accepts and a 12-character lower-case
/// hex revision (goshelf's reading of spec.md §3.5: the shape cmd/go itself produces); entries
/// must be stored or deflated, unencrypted, regular files or directories (directory entries are
/// kept, must be empty, may appear only once, and count in the h1 as empty files), and read back
/// to exactly their declared size with a matching CRC; the archive must mean one thing to every
/// reader (`archive`); the root go.mod must declare `path` (spec.md §8).
///
/// # Errors
/// Any rule of spec.md §2.2 and §2.4 broken, with the go command's text where it has one. Entry
/// problems read `<full entry name>: <reason>`, one line each; the first line says the most.
pub fn validate<R: Read + Seek>(
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<ZipSummary, ZipError> {
    Watched::run(reader, |reader| {
        validate_watched(reader, zip_size, path, version)
    })
}

fn validate_watched<R: Read + Seek>(
    reader: &mut R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<ZipSummary, ZipError> {
    check_module_version(path, version)?;
    let module_path = ModulePath::parse(path).map_err(|e| ZipError::Invalid(e.0))?;
    let module_version = Version::parse(version)?;
    policy::check_version(path, version)?;
    if zip_size > MAX_ZIP_FILE {
        return Err(ZipError::TooLarge(too_large(zip_size)));
    }

    let dir = archive::read_directory(reader, zip_size)?;
    let prefix = prefix_of(path, version);
    let (checked, kinds) = classify(&dir, &prefix, false);
    if let Some(e) = checked.error() {
        return Err(e);
    }
    drop(checked);
    policy::check_entries(&dir)?;
    let starts = archive::check_layout(reader, &dir)?;

    let go_mod_name = format!("{prefix}go.mod");
    let go_mod_at = dir
        .entries
        .iter()
        .position(|e| dir.name(e) == go_mod_name.as_bytes());
    if go_mod_at.is_some() && module_version.is_incompatible() {
        return Err(ZipError::Invalid(format!(
            "{path}@{version}: invalid version: +incompatible suffix not allowed: module \
             contains a go.mod file, so semantic import versioning is required"
        )));
    }

    // Entries are read in the order their bytes lie in the file (one pass forward); each
    // one's SHA-256 goes into the h1 under its name.
    let mut order: Vec<u32> = (0..dir.entries.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    order.sort_unstable_by_key(|&i| starts[i as usize]);
    let mut sums = vec![[0_u8; 32]; dir.entries.len()];
    let mut data = DataReader::new();
    let mut go_mod: Option<Vec<u8>> = None;
    for &i in &order {
        let i = i as usize;
        let entry = &dir.entries[i];
        let mut sha = Sha256::new();
        if Some(i) == go_mod_at {
            let mut keep = Vec::new();
            data.read(reader, &dir, entry, starts[i], &mut |b: &[u8]| {
                sha.update(b);
                keep.extend_from_slice(b);
            })?;
            go_mod = Some(keep);
        } else {
            data.read(reader, &dir, entry, starts[i], &mut |b: &[u8]| {
                sha.update(b)
            })?;
        }
        sums[i] = sha.finalize().into();
    }
    drop(order);
    drop(starts);
    let h1 = hash1_of(
        dir.entries
            .iter()
            .zip(&sums)
            .map(|(e, sum)| (dir.name(e), *sum)),
    )?;
    let files = kinds.iter().filter(|k| **k == Kind::Entry).count();

    let mod_bytes = match go_mod {
        Some(bytes) => {
            let declared = modfile::module_path(&bytes)
                .map_err(|e| ZipError::Invalid(format!("{go_mod_name}: {e}")))?;
            if declared != path {
                return Err(ZipError::Invalid(format!(
                    "{go_mod_name}: module declares its path as {}, but the zip is for {}",
                    go_quote(declared.as_bytes()),
                    go_quote(path.as_bytes())
                )));
            }
            bytes
        }
        // spec.md §1.2: cmd/go's LegacyGoMod, never quoted for a path that passes CheckPath.
        None => format!("module {path}\n").into_bytes(),
    };
    let mod_h1 = hash_go_mod(&mod_bytes);
    Ok(ZipSummary {
        path: module_path,
        version: module_version,
        h1,
        mod_bytes,
        mod_h1,
        has_go_mod: go_mod_at.is_some(),
        files,
    })
}

/// The entries of a zip, for reading what it holds (names, sizes, one file's bytes) without
/// validating it again: 48 bytes per entry and the names, whatever the zip library would
/// take.
#[derive(Debug)]
pub struct Listing {
    dir: Directory,
}

/// One entry of a [`Listing`].
#[derive(Debug, Clone, Copy)]
pub struct Listed<'a> {
    /// Its place in the directory (for [`Listing::read`]).
    pub index: usize,
    /// The raw name, prefix included.
    pub name: &'a [u8],
    /// The declared uncompressed size.
    pub size: u64,
    pub is_dir: bool,
}

impl Listing {
    /// Reads the central directory of the `size`-byte zip in `reader`.
    ///
    /// # Errors
    /// When the directory does not parse.
    pub fn read<R: Read + Seek>(reader: R, size: u64) -> Result<Self, ZipError> {
        Watched::run(reader, |r| {
            Ok(Self {
                dir: archive::read_directory(r, size)?,
            })
        })
    }

    /// The entries in directory order.
    pub fn entries(&self) -> impl Iterator<Item = Listed<'_>> {
        self.dir.entries.iter().enumerate().map(|(index, e)| {
            let name = self.dir.name(e);
            Listed {
                index,
                name,
                size: e.uncompressed_size,
                is_dir: name.ends_with(b"/"),
            }
        })
    }

    /// The bytes of entry `index`, checked (local header, size, CRC).
    ///
    /// # Errors
    /// When the entry cannot be read back as its directory record says.
    pub fn contents<R: Read + Seek>(&self, reader: R, index: usize) -> Result<Vec<u8>, ZipError> {
        let e = self
            .dir
            .entries
            .get(index)
            .ok_or_else(|| ZipError::Invalid(format!("no entry {index}")))?;
        Watched::run(reader, |r| {
            let start = archive::entry_start(r, &self.dir, e)?;
            let mut out = Vec::new();
            DataReader::new().read(r, &self.dir, e, start, &mut |b: &[u8]| {
                out.extend_from_slice(b);
            })?;
            Ok(out)
        })
    }
}

/// checkZip's first two steps (spec.md §2.2): a canonical version, then `module.Check`.
pub(super) fn check_module_version(path: &str, version: &str) -> Result<(), ZipError> {
    let canonical = version::canonical_version(version).unwrap_or_default();
    if canonical != version {
        return Err(not_canonical(version, &canonical).into());
    }
    version::check(path, version)?;
    Ok(())
}

/// checkZip's entry rules (spec.md §2.2 step 5) over the files a zip is about to hold:
/// `(name after the prefix, declared size)`. Names in the result carry the prefix.
pub(super) fn check_names<'a>(
    prefix: &str,
    files: impl IntoIterator<Item = (&'a str, u64)>,
) -> CheckedFiles {
    let names: Vec<(Vec<u8>, u64)> = files
        .into_iter()
        .map(|(name, size)| (format!("{prefix}{name}").into_bytes(), size))
        .collect();
    let dir = Directory::of_names(names.iter().map(|(n, s)| (n.as_slice(), *s)));
    classify(&dir, prefix, true).0
}

/// The caller's reader, watched: its first failure is remembered, so that whatever error the
/// parsing code (ours or the zip crate's) makes of it, the result blames the reader
/// ([`ZipError::Io`]) and not the archive. A short read is not a failure: `read_exact` turns it
/// into `UnexpectedEof` above this layer, and a truncated archive is the archive's fault.
struct Watched<R> {
    inner: R,
    failure: std::rc::Rc<std::cell::RefCell<Option<std::io::Error>>>,
}

impl<R> Watched<R> {
    /// Runs `f` over the watched reader; if the reader failed, the error becomes
    /// [`ZipError::Io`] with the reader's own error.
    fn run<T>(
        inner: R,
        f: impl FnOnce(&mut Watched<R>) -> Result<T, ZipError>,
    ) -> Result<T, ZipError> {
        let mut watched = Self {
            inner,
            failure: std::rc::Rc::default(),
        };
        let failure = std::rc::Rc::clone(&watched.failure);
        f(&mut watched).map_err(|e| match failure.borrow_mut().take() {
            Some(io) => io_error(io),
            None => e,
        })
    }

    fn note(&self, e: std::io::Error) -> std::io::Error {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        e
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => Err(self.note(e)),
            other => other,
        }
    }
}

impl<R: Seek> Seek for Watched<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        // The archive seeks only to `Start(offset)` and `End(0)`, never before the start: a
        // failed seek is the reader's.
        self.inner.seek(pos).map_err(|e| self.note(e))
    }
}

fn too_large(zip_size: u64) -> String {
    format!("module zip file is too large ({zip_size} bytes; limit is {MAX_ZIP_FILE} bytes)")
}

fn prefix_of(path: &str, version: &str) -> String {
    format!("{path}@{version}/")
}

fn io_error(e: std::io::Error) -> ZipError {
    ZipError::Io(format!("reading zip: {e}"))
}

#[cfg(test)]
mod tests {
    use super::rawzip::Failing;
    use super::*;
    use std::io::{Cursor, Seek, SeekFrom, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            if let Some(dir) = name.strip_suffix('/') {
                w.add_directory(dir, SimpleFileOptions::default()).unwrap();
            } else {
                w.start_file(*name, SimpleFileOptions::default()).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn validate_bytes(zip: &[u8], path: &str, version: &str) -> Result<ZipSummary, ZipError> {
        validate(Cursor::new(zip), zip.len() as u64, path, version)
    }

    fn check_zip_bytes(zip: &[u8], path: &str, version: &str) -> Result<CheckedFiles, ZipError> {
        check_zip(Cursor::new(zip), zip.len() as u64, path, version)
    }

    /// Runs `f` on another thread and fails if it has not finished within 10 s: a loop that
    /// never ends fails the test instead of hanging it.
    fn finishes<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("did not finish within 10 s: an endless loop")
    }

    /// An empty archive (an end record alone) ending a file of exactly `len` bytes: a sparse
    /// temporary file, so nothing of that size is written or held.
    fn empty_zip_of_size(len: u64) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(len).unwrap();
        f.seek(SeekFrom::Start(len - 22)).unwrap();
        let cd_at = usize::try_from(len - 22).unwrap();
        f.write_all(&super::rawzip::end_record(0, 0, cd_at))
            .unwrap();
        f
    }

    #[test]
    fn a_zip_of_exactly_the_size_limit_is_not_too_large() {
        let (m, v) = ("example.com/m", "v1.0.0");
        let at_limit = check_zip(empty_zip_of_size(MAX_ZIP_FILE), MAX_ZIP_FILE, m, v).unwrap();
        assert_eq!(at_limit.error(), None);
        let over = check_zip(empty_zip_of_size(MAX_ZIP_FILE + 1), MAX_ZIP_FILE + 1, m, v);
        assert!(over.unwrap().size_error.is_some());
        let validated = validate(empty_zip_of_size(MAX_ZIP_FILE), MAX_ZIP_FILE, m, v).unwrap();
        assert_eq!(validated.files, 0);
        let over = validate(empty_zip_of_size(MAX_ZIP_FILE + 1), MAX_ZIP_FILE + 1, m, v);
        assert!(matches!(over, Err(ZipError::TooLarge(_))), "{over:?}");
    }

    #[test]
    fn at_most_error_lines_invalid_entries_are_listed_then_how_many_more() {
        let bad = |n: usize| {
            let names: Vec<String> = (0..n).map(|i| format!("bad{i}\\x")).collect();
            let cf = check_names(
                "example.com/m@v1.0.0/",
                names.iter().map(|n| (n.as_str(), 1)),
            );
            cf.error_text().unwrap()
        };
        let exactly = bad(ERROR_LINES);
        assert_eq!(exactly.lines().count(), ERROR_LINES, "{exactly}");
        assert!(!exactly.contains("more invalid entries"), "{exactly}");
        let one_more = bad(ERROR_LINES + 1);
        assert_eq!(one_more.lines().count(), ERROR_LINES + 1, "{one_more}");
        assert!(
            one_more.ends_with("\n... and 1 more invalid entries"),
            "{one_more}"
        );
        assert!(bad(ERROR_LINES + 5).ends_with("\n... and 5 more invalid entries"));
    }

    #[test]
    fn a_listing_names_each_entry_and_reads_its_checked_bytes() {
        use super::rawzip::{write_zip, RawEntry};
        // Stored, so that the test can find an entry's bytes in the archive.
        let zip = write_zip(&[
            RawEntry::stored("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            RawEntry::dir("example.com/m@v1.0.0/sub/"),
            RawEntry::stored("example.com/m@v1.0.0/sub/a.go", b"package sub\n"),
        ])
        .into_bytes();
        let listing = Listing::read(Cursor::new(&zip), zip.len() as u64).unwrap();
        let listed: Vec<(usize, &[u8], u64, bool)> = listing
            .entries()
            .map(|e| (e.index, e.name, e.size, e.is_dir))
            .collect();
        assert_eq!(
            listed,
            [
                (0, &b"example.com/m@v1.0.0/go.mod"[..], 21, false),
                (1, &b"example.com/m@v1.0.0/sub/"[..], 0, true),
                (2, &b"example.com/m@v1.0.0/sub/a.go"[..], 12, false),
            ]
        );
        assert_eq!(
            listing.contents(Cursor::new(&zip), 0).unwrap(),
            b"module example.com/m\n"
        );
        assert_eq!(
            listing.contents(Cursor::new(&zip), 2).unwrap(),
            b"package sub\n"
        );
        assert_eq!(listing.contents(Cursor::new(&zip), 1).unwrap(), b"");
        assert_eq!(
            listing.contents(Cursor::new(&zip), 3),
            Err(ZipError::Invalid("no entry 3".to_owned()))
        );
        // The bytes are checked against the directory's CRC.
        let mut corrupt = zip.clone();
        let at = corrupt
            .windows(12)
            .position(|w| w == b"package sub\n")
            .unwrap();
        corrupt[at] = b'P';
        let err = listing.contents(Cursor::new(&corrupt), 2).unwrap_err();
        assert!(matches!(err, ZipError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn a_failing_reader_is_blamed_even_where_the_archive_reads_a_failure_as_corruption() {
        // The first local header is read only after the directory (the entry is large enough
        // that the search for the end record does not reach it), and a read failing there
        // reads, to the archive code, as a header that is not there.
        let zip = super::rawzip::write_zip(&[super::rawzip::RawEntry::stored(
            "example.com/m@v1.0.0/a.go",
            vec![b'a'; 70 << 10],
        )])
        .into_bytes();
        let size = zip.len() as u64;
        for kind in [std::io::ErrorKind::Other, std::io::ErrorKind::UnexpectedEof] {
            let reader = Failing {
                data: Cursor::new(zip.clone()),
                bad: 0..30,
                kind,
            };
            let err = validate(reader, size, "example.com/m", "v1.0.0").unwrap_err();
            assert!(
                matches!(&err, ZipError::Io(m) if m.contains("disk on fire")),
                "{kind:?}: {err:?}"
            );
        }
    }

    #[test]
    fn an_interrupted_read_is_not_a_failure_of_the_reader() {
        // Interrupted reads are retried; the archive's own fault is still reported as such.
        let zip = zip_of(&[("example.com/m@v1.0.0/a.go", b"package m\n")]);
        let size = zip.len() as u64;
        let reader = super::rawzip::Interrupted::new(Cursor::new(zip.clone()));
        let ok = validate(reader, size, "example.com/m", "v1.0.0").unwrap();
        assert_eq!(ok.files, 1);
        let reader = super::rawzip::Interrupted::new(Cursor::new(zip));
        let err = validate(reader, size, "example.com/other", "v1.0.0").unwrap_err();
        assert!(matches!(err, ZipError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn validation_keeps_no_list_of_the_valid_files() {
        // What an upload validates may hold 200,000 entries: only checkZip's report keeps
        // their names.
        let prefix = "example.com/m@v1.0.0/";
        let names: Vec<(Vec<u8>, u64)> = ["go.mod", "a.go", "b/c.go"]
            .iter()
            .map(|n| (format!("{prefix}{n}").into_bytes(), 10))
            .collect();
        let dir = Directory::of_names(names.iter().map(|(n, s)| (n.as_slice(), *s)));
        let (kept, _) = classify(&dir, prefix, true);
        assert_eq!(kept.valid.len(), 3);
        let (not_kept, kinds) = classify(&dir, prefix, false);
        assert!(not_kept.valid.is_empty(), "{:?}", not_kept.valid);
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn clean_matches_go_path_clean() {
        // Go's path.Clean table (path_test.go cleantests), abridged.
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
            ("not/../clean", "clean"),
            // Names that start with a dot but are not `.` or `..`.
            (".a", ".a"),
            ("abc/.d/e", "abc/.d/e"),
            ("a/..b/c", "a/..b/c"),
            ("a/.b/../c", "a/c"),
        ];
        for (input, want) in cases {
            let got = finishes(move || clean(input.as_bytes()));
            assert_eq!(String::from_utf8(got).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn validate_simple_module_reports_hashes_and_files() {
        let gomod: &[u8] = b"module example.com/m\n\ngo 1.13\n";
        let zip = zip_of(&[
            ("example.com/m@v1.0.0/go.mod", gomod),
            ("example.com/m@v1.0.0/m.go", b"package m\n\nfunc Foo() int { return 42 }\n"),
            (
                "example.com/m@v1.0.0/cmd/hello/hello.go",
                b"package main\n\nimport (\n  \"fmt\"\n  \"example.com/m\"\n)\n\nfunc main() {\n  fmt.Println(m.Foo())\n}\n",
            ),
        ]);
        let s = validate_bytes(&zip, "example.com/m", "v1.0.0").unwrap();
        assert_eq!(s.h1, "h1:tpqYOOmuilagXzyqoJ3roUjp8gneQeTv5YVpL6BG7/k=");
        assert_eq!(s.mod_bytes, gomod);
        assert_eq!(s.mod_h1, "h1:UWkIka9t4wTRf5TZ+sRdwnADRAp+U7R9A2lAeNEx1cA=");
        assert!(s.has_go_mod);
        assert_eq!(s.files, 3);
        let cf = check_zip_bytes(&zip, "example.com/m", "v1.0.0").unwrap();
        assert_eq!(
            cf.valid,
            [
                "example.com/m@v1.0.0/go.mod",
                "example.com/m@v1.0.0/m.go",
                "example.com/m@v1.0.0/cmd/hello/hello.go"
            ]
        );
        assert_eq!(s.path.as_str(), "example.com/m");
        assert_eq!(s.version.as_str(), "v1.0.0");
    }

    #[test]
    fn validate_without_go_mod_synthesizes_module_line() {
        let zip = zip_of(&[("example.com/m@v2.0.0+incompatible/a.go", b"package a\n")]);
        let s = validate_bytes(&zip, "example.com/m", "v2.0.0+incompatible").unwrap();
        assert!(!s.has_go_mod);
        assert_eq!(s.mod_bytes, b"module example.com/m\n");
        assert_eq!(s.mod_h1, hash_go_mod(b"module example.com/m\n"));
    }

    #[test]
    fn read_prefix_splits_first_entry_name() {
        let zip = zip_of(&[(
            "example.com/m/v2@v2.1.0/go.mod",
            b"module example.com/m/v2\n",
        )]);
        assert_eq!(
            read_prefix(Cursor::new(zip)).unwrap(),
            ("example.com/m/v2".to_owned(), "v2.1.0".to_owned())
        );
        let zip = zip_of(&[("noprefix.go", b"")]);
        assert!(read_prefix(Cursor::new(zip)).is_err());
        assert!(read_prefix(Cursor::new(zip_of(&[]))).is_err());
        assert!(read_prefix(Cursor::new(b"garbage".to_vec())).is_err());
    }

    #[test]
    fn check_zip_oversized_file_is_a_size_error_before_parsing() {
        let cf = check_zip(
            Cursor::new(Vec::new()),
            MAX_ZIP_FILE + 1,
            "example.com/m",
            "v1.0.0",
        )
        .unwrap();
        assert_eq!(
            cf.size_error.as_deref(),
            Some("module zip file is too large (524288001 bytes; limit is 524288000 bytes)")
        );
        assert_eq!(cf.error_text(), cf.size_error);
    }

    #[test]
    fn check_zip_rejects_bad_module_version_first() {
        let zip = zip_of(&[]);
        let err = check_zip_bytes(&zip, "example.com/m", "v1.0.0+bad").unwrap_err();
        assert_eq!(
            err.message(),
            r#"version "v1.0.0+bad" is not canonical (should be "v1.0.0")"#
        );
        let err = check_zip_bytes(&zip, "example.com/m", "v2.0.0").unwrap_err();
        assert_eq!(
            err.message(),
            "example.com/m@v2.0.0: invalid version: should be v0 or v1, not v2"
        );
    }

    #[test]
    fn validate_error_kinds_tell_archive_from_size_from_reader() {
        let zip = zip_of(&[("example.com/m@v1.0.0/a.go", &[b'a'; 4096])]);
        let size = zip.len() as u64;
        let invalid = validate_bytes(&zip, "example.com/m", "v1.0.0+bad").unwrap_err();
        assert!(matches!(invalid, ZipError::Invalid(_)), "{invalid:?}");
        let garbage = validate_bytes(b"not a zip", "example.com/m", "v1.0.0").unwrap_err();
        assert!(matches!(garbage, ZipError::Invalid(_)), "{garbage:?}");
        let big = validate(
            Cursor::new(&zip),
            MAX_ZIP_FILE + 1,
            "example.com/m",
            "v1.0.0",
        );
        assert!(matches!(big, Err(ZipError::TooLarge(_))), "{big:?}");
        // Every failing position, from the entry data to the central directory, blames the
        // reader; none is reported as a broken archive.
        for fail_at in [0, 10, 40, size / 2, size - 30, size - 1] {
            let reader = Failing::at(zip.clone(), fail_at);
            let err = validate(reader, size, "example.com/m", "v1.0.0").unwrap_err();
            assert!(
                matches!(&err, ZipError::Io(m) if m.contains("disk on fire")),
                "fail_at {fail_at}: {err:?}"
            );
        }
        let reader = Failing::at(zip.clone(), size - 1);
        assert!(matches!(read_prefix(reader), Err(ZipError::Io(_))));
    }

    #[test]
    fn total_size_error_is_too_large() {
        let cf = CheckedFiles {
            size_error: Some("too big".to_owned()),
            invalid: vec![("a".to_owned(), "bad".to_owned())],
            ..CheckedFiles::default()
        };
        assert_eq!(cf.error(), Some(ZipError::TooLarge("too big".to_owned())));
        let cf = CheckedFiles {
            invalid: vec![("a".to_owned(), "bad".to_owned())],
            ..CheckedFiles::default()
        };
        assert_eq!(cf.error(), Some(ZipError::Invalid("a: bad".to_owned())));
    }

    #[test]
    fn classify_size_limits_follow_go() {
        // zip_test.go sizeLimitTests, applied to declared sizes.
        let entry = |name: &str, size: u64| (name.to_owned(), size);
        let run = |entries: &[(String, u64)]| {
            check_names(
                "example.com/m@v1.0.0/",
                entries.iter().map(|(n, s)| (n.as_str(), *s)),
            )
        };
        assert_eq!(run(&[entry("a", MAX_ZIP_FILE)]).error_text(), None);
        assert!(run(&[entry("a", MAX_ZIP_FILE + 1)]).size_error.is_some());
        assert_eq!(
            run(&[entry("a", 10), entry("b", MAX_ZIP_FILE - 10)]).error_text(),
            None
        );
        assert!(run(&[entry("a", 10), entry("b", MAX_ZIP_FILE - 9)])
            .size_error
            .is_some());
        assert!(run(&[entry("a", 1 << 63)]).size_error.is_some());
        assert_eq!(run(&[entry("go.mod", MAX_GO_MOD)]).error_text(), None);
        assert_eq!(
            run(&[entry("go.mod", MAX_GO_MOD + 1)])
                .error_text()
                .unwrap(),
            "example.com/m@v1.0.0/go.mod: go.mod file too large (max size is 16777216 bytes)"
        );
        assert_eq!(run(&[entry("LICENSE", MAX_LICENSE)]).error_text(), None);
        assert_eq!(
            run(&[entry("LICENSE", MAX_LICENSE + 1)])
                .error_text()
                .unwrap(),
            "example.com/m@v1.0.0/LICENSE: LICENSE file too large (max size is 16777216 bytes)"
        );
        // Only the exact root name is limited.
        assert_eq!(
            run(&[entry("sub/LICENSE", MAX_LICENSE + 1)]).error_text(),
            None
        );
    }
}
