//! The module zip: Go's `checkZip` with its error texts (spec.md §2.2), and the upload checks a
//! registry adds on top (spec.md §2.4, §8). Reads every entry fully, so CRCs and sizes are
//! proven, and computes the h1 of the zip and of its `.mod`.
//!
//! The central directory is walked here, not through the zip crate's index, for three reasons:
//! the crate keys entries by name, so duplicate entries (which checkZip must report, in order)
//! collapse into one; it may replace a name by an Info-ZIP Unicode path extra field, while Go
//! uses the raw bytes; and the entry count must be bounded before anything allocates per entry.
//! The crate still parses the archive (both must agree on every name and size) and inflates and
//! CRC-checks the data.

use std::io::{BufReader, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};
use zip::{ZipArchive, ZipReadOptions};

use super::hash::{hash_go_mod, H1Builder};
use super::path::{check_file_path_bytes, fold_key, go_quote};
use super::version::{self, not_canonical, VersionError};
use super::{modfile, path, ModulePath, Version};

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

/// Go's `archive/zip` text for an archive it cannot parse.
const NOT_A_ZIP: &str = "zip: not a valid zip file";

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

/// One entry of an accepted zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The name after the `path@version/` prefix; directories keep their trailing `/`.
    pub name: String,
    /// The uncompressed size, as declared and as read.
    pub size: u64,
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
    /// Entries in central-directory order, the prefix directory itself left out.
    pub files: Vec<ZipEntry>,
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
        if self.invalid.is_empty() {
            return None;
        }
        // At most ERROR_LINES lines: a hostile zip of thousands of bad names must not turn
        // into an error text many times its size.
        let mut lines: Vec<String> = self
            .invalid
            .iter()
            .take(ERROR_LINES)
            .map(|(name, reason)| format!("{name}: {reason}"))
            .collect();
        if self.invalid.len() > ERROR_LINES {
            lines.push(format!(
                "... and {} more invalid entries",
                self.invalid.len() - ERROR_LINES
            ));
        }
        Some(ZipError::Invalid(lines.join("\n")))
    }
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
        check_zip_watched(reader, zip_size, path, version)
    })
}

fn check_zip_watched<R: Read + Seek>(
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<CheckedFiles, ZipError> {
    check_module_version(path, version)?;
    if zip_size > MAX_ZIP_FILE {
        return Ok(CheckedFiles {
            size_error: Some(too_large(zip_size)),
            ..CheckedFiles::default()
        });
    }
    let (entries, _) = open(reader, zip_size)?;
    Ok(classify(&entries, &prefix_of(path, version)).0)
}

/// The `path@version` a zip claims, from its first entry name.
///
/// # Errors
/// When the zip does not parse or its first entry has no `path@version/` prefix.
pub fn read_prefix<R: Read + Seek>(reader: R) -> Result<(String, String), ZipError> {
    Watched::run(reader, |reader| read_prefix_watched(reader))
}

fn read_prefix_watched<R: Read + Seek>(mut reader: R) -> Result<(String, String), ZipError> {
    let size = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    let end = read_directory_end(&mut reader, size)?;
    if end.entries == 0 {
        return Err(ZipError::Invalid(
            "zip has no entries, so it names no module version".to_owned(),
        ));
    }
    reader.seek(SeekFrom::Start(end.offset)).map_err(io_error)?;
    let first = read_header(&mut BufReader::new(&mut reader), &mut 0)?
        .ok_or_else(|| ZipError::Invalid(NOT_A_ZIP.to_owned()))?;
    let no_prefix = || {
        ZipError::Invalid(format!(
            "zip entry {} does not start with a path@version/ prefix",
            go_quote(&first.name)
        ))
    };
    let name = std::str::from_utf8(&first.name).map_err(|_| no_prefix())?;
    let (path, rest) = name.split_once('@').ok_or_else(no_prefix)?;
    let (version, _) = rest.split_once('/').ok_or_else(no_prefix)?;
    Ok((path.to_owned(), version.to_owned()))
}

/// Validates an upload completely against `path@version` and reads every entry.
///
/// On top of checkZip (spec.md §2.2), in this order: `+incompatible` only for major >= 2, a path
/// without a major suffix and no root go.mod (spec.md §2.4, §3.4); a pseudo-version must have a
/// real timestamp, a base that `module.PseudoVersionBase` accepts and a 12-character lower-case
/// hex revision (goshelf's reading of spec.md §3.5: the shape cmd/go itself produces); entries
/// must be stored or deflated, unencrypted, regular files or directories (directory entries are
/// kept, must be empty, may appear only once, and count in the h1 as empty files), and read back
/// to exactly their declared size with a matching CRC; the root go.mod must declare `path`
/// (spec.md §8).
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
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<ZipSummary, ZipError> {
    check_module_version(path, version)?;
    let module_path = ModulePath::parse(path).map_err(|e| ZipError::Invalid(e.0))?;
    let module_version = Version::parse(version)?;
    check_version_policy(path, version)?;
    if zip_size > MAX_ZIP_FILE {
        return Err(ZipError::TooLarge(too_large(zip_size)));
    }

    let (entries, mut archive) = open(reader, zip_size)?;
    let prefix = prefix_of(path, version);
    let (checked, kinds) = classify(&entries, &prefix);
    if let Some(e) = checked.error() {
        return Err(e);
    }
    let mut seen = std::collections::HashSet::new();
    let problems: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            let problem = upload_problem(e).or_else(|| {
                // checkZip allows a directory twice; the zip crate keeps one record per name,
                // so a second copy could not be read and verified on its own.
                (!seen.insert(e.name.as_slice()))
                    .then(|| "duplicate directory entry (list each directory once)".to_owned())
            });
            problem.map(|p| format!("{}: {p}", e.display_name()))
        })
        .collect();
    if !problems.is_empty() {
        return Err(ZipError::Invalid(problems.join("\n")));
    }
    check_crate_agrees(&entries, &archive)?;

    let go_mod_name = format!("{prefix}go.mod");
    let has_go_mod = entries.iter().any(|e| e.name == go_mod_name.as_bytes());
    if has_go_mod && module_version.is_incompatible() {
        return Err(ZipError::Invalid(format!(
            "{path}@{version}: invalid version: +incompatible suffix not allowed: module \
             contains a go.mod file, so semantic import versioning is required"
        )));
    }

    let mut h1 = H1Builder::new();
    let mut buf = vec![0_u8; READ_BUFFER];
    let mut go_mod: Option<Vec<u8>> = None;
    let mut files = Vec::with_capacity(entries.len());
    for (index, (entry, kind)) in entries.iter().zip(&kinds).enumerate() {
        // classify accepted every name, so each is UTF-8 and starts with the prefix.
        let name = entry.display_name();
        let is_go_mod = entry.name == go_mod_name.as_bytes();
        let mut keep =
            is_go_mod.then(|| Vec::with_capacity(bounded_capacity(entry.uncompressed_size)));
        let sha = read_entry(&mut archive, index, entry, &mut buf, keep.as_mut())?;
        h1.add(&name, sha);
        if is_go_mod {
            go_mod = keep;
        }
        if *kind == Kind::Entry {
            files.push(ZipEntry {
                name: name[prefix.len()..].to_owned(),
                size: entry.uncompressed_size,
            });
        }
    }
    let h1 = h1.finish()?;

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
        has_go_mod,
        files,
    })
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

/// The version rules a registry adds (spec.md §2.4, §3.4, §3.5, §8 steps 3–4).
fn check_version_policy(path: &str, version: &str) -> Result<(), ZipError> {
    let invalid = |noun: &str, reason: String| {
        Err(ZipError::Invalid(format!(
            "{path}@{version}: invalid {noun}: {reason}"
        )))
    };
    if version::build(version) == "+incompatible" {
        let major = version::major(version);
        if major == "v0" || major == "v1" {
            return invalid(
                "version",
                format!("+incompatible suffix not allowed: major version {major} is compatible"),
            );
        }
        if let Some((_, suffix)) = path::split_path_version(path).filter(|(_, s)| !s.is_empty()) {
            return invalid(
                "version",
                format!(
                    "+incompatible suffix not allowed: module path has major version suffix {}",
                    go_quote(suffix.as_bytes())
                ),
            );
        }
    }
    if version::is_pseudo(version) {
        // The errors name the version already; keep only their reasons.
        let reason = |e: VersionError| {
            e.0.split_once(" invalid: ")
                .map_or(e.0.clone(), |(_, r)| r.to_owned())
        };
        if let Err(e) = version::pseudo_time(version) {
            return invalid("pseudo-version", reason(e));
        }
        if let Err(e) = version::pseudo_base(version) {
            return invalid("pseudo-version", reason(e));
        }
        let head = &version[..version.len() - version::build(version).len()];
        let rev = head.rsplit_once('-').map_or("", |(_, rev)| rev);
        if rev.len() != 12
            || !rev
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return invalid(
                "pseudo-version",
                format!(
                    "revision {} is not a 12-character lower-case hex commit prefix",
                    go_quote(rev.as_bytes())
                ),
            );
        }
    }
    Ok(())
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
        match self.inner.seek(pos) {
            // A seek before the start comes from offsets in the archive, not a failing reader.
            Err(e) if e.kind() != std::io::ErrorKind::InvalidInput => Err(self.note(e)),
            other => other,
        }
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

/// Preallocation for go.mod, whose declared size checkZip bounds by `MAX_GO_MOD`.
fn bounded_capacity(declared: u64) -> usize {
    usize::try_from(declared.min(MAX_GO_MOD)).unwrap_or(0)
}

/// One central directory record, as Go's `archive/zip` reads it.
#[derive(Debug, Clone)]
struct RawEntry {
    /// The name's raw bytes; never transcoded (spec.md §2.4).
    name: Vec<u8>,
    version_made_by: u16,
    flags: u16,
    method: u16,
    uncompressed_size: u64,
    external_attrs: u32,
    /// CRC-32, compressed size and local header offset, for the data descriptor check.
    crc32: u32,
    compressed_size: u64,
    header_offset: u64,
}

impl RawEntry {
    /// The name for messages: Go prints the raw bytes; invalid UTF-8 shows as U+FFFD here.
    fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The end of central directory record, after any zip64 redirection.
#[derive(Debug, Clone, Copy)]
struct DirectoryEnd {
    entries: u64,
    offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut le = [0_u8; 8];
    le.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(le)
}

const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
const EOCD_LEN: usize = 22;
const LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const LOCATOR_LEN: u64 = 20;
const EOCD64_SIG: [u8; 4] = *b"PK\x06\x06";
const CENTRAL_SIG: [u8; 4] = *b"PK\x01\x02";

/// archive/zip `readDirectoryEnd`: the last end record within the final 64 KiB, whose comment
/// must fit in the file, then its zip64 form if any field is saturated.
fn read_directory_end<R: Read + Seek>(r: &mut R, size: u64) -> Result<DirectoryEnd, ZipError> {
    let bad = || ZipError::Invalid(NOT_A_ZIP.to_owned());
    let tail_len = size.min((EOCD_LEN + 65 * 1024) as u64);
    let mut tail = vec![0_u8; usize::try_from(tail_len).map_err(|_| bad())?];
    r.seek(SeekFrom::Start(size - tail_len)).map_err(io_error)?;
    r.read_exact(&mut tail).map_err(io_error)?;
    let at = (0..=tail.len().checked_sub(EOCD_LEN).ok_or_else(bad)?)
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD_SIG)
        .ok_or_else(bad)?;
    let rec = &tail[at..];
    if at + EOCD_LEN + usize::from(u16_at(rec, 20)) > tail.len() {
        return Err(bad());
    }
    let disk = u16_at(rec, 4);
    let cd_disk = u16_at(rec, 6);
    let mut end = DirectoryEnd {
        entries: u64::from(u16_at(rec, 10)),
        offset: u64::from(u32_at(rec, 16)),
    };
    let cd_size = u32_at(rec, 12);
    if disk != 0 || cd_disk != 0 {
        return Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (multi-disk archives are not supported)"
        )));
    }
    let end_at = size - tail_len + at as u64;
    // goshelf's own check (Go ignores the size): the directory must end before its end record.
    if cd_size != 0xFFFF_FFFF && end.offset.saturating_add(u64::from(cd_size)) > end_at {
        return Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (central directory size runs past its end record)"
        )));
    }
    if end.entries == 0xFFFF || cd_size == 0xFFFF_FFFF || end.offset == 0xFFFF_FFFF {
        if let Some(zip64) = read_zip64_end(r, end_at)? {
            end = zip64;
        }
    }
    if end.offset >= size {
        return Err(bad());
    }
    Ok(end)
}

/// The zip64 end record that the locator just before the end record points to, if any.
fn read_zip64_end<R: Read + Seek>(
    r: &mut R,
    end_at: u64,
) -> Result<Option<DirectoryEnd>, ZipError> {
    let bad = || ZipError::Invalid(NOT_A_ZIP.to_owned());
    let Some(locator_at) = end_at.checked_sub(LOCATOR_LEN) else {
        return Ok(None);
    };
    let mut loc = [0_u8; 20];
    r.seek(SeekFrom::Start(locator_at)).map_err(io_error)?;
    r.read_exact(&mut loc).map_err(io_error)?;
    if loc[..4] != LOCATOR_SIG {
        return Ok(None);
    }
    let record_at = u64_at(&loc, 8);
    let mut rec = [0_u8; 56];
    r.seek(SeekFrom::Start(record_at)).map_err(|_| bad())?;
    r.read_exact(&mut rec).map_err(|_| bad())?;
    if rec[..4] != EOCD64_SIG || u32_at(&rec, 16) != 0 || u32_at(&rec, 20) != 0 {
        return Err(bad());
    }
    Ok(Some(DirectoryEnd {
        entries: u64_at(&rec, 32),
        offset: u64_at(&rec, 48),
    }))
}

/// archive/zip `readDirectoryHeader`: one central directory record, or `None` at the first
/// bytes that are not a record signature (the end of the directory).
fn read_header<R: Read>(
    r: &mut R,
    directory_bytes: &mut u64,
) -> Result<Option<RawEntry>, ZipError> {
    let bad = || ZipError::Invalid(NOT_A_ZIP.to_owned());
    let mut fixed = [0_u8; 46];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut fixed[got..4]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    if fixed[..4] != CENTRAL_SIG {
        return Ok(None);
    }
    r.read_exact(&mut fixed[4..]).map_err(|_| bad())?;
    let name_len = usize::from(u16_at(&fixed, 28));
    let extra_len = usize::from(u16_at(&fixed, 30));
    let comment_len = usize::from(u16_at(&fixed, 32));
    let mut var = vec![0_u8; name_len + extra_len + comment_len];
    *directory_bytes += 46 + var.len() as u64;
    if *directory_bytes > MAX_CENTRAL_DIRECTORY {
        return Err(ZipError::TooLarge(format!(
            "zip central directory larger than {MAX_CENTRAL_DIRECTORY} bytes (goshelf's limit)"
        )));
    }
    r.read_exact(&mut var).map_err(|_| bad())?;
    let mut uncompressed = u64::from(u32_at(&fixed, 24));
    let mut compressed = u64::from(u32_at(&fixed, 20));
    let mut header_offset = u64::from(u32_at(&fixed, 42));
    let mut need_usize = u32_at(&fixed, 24) == u32::MAX;
    let mut need_csize = u32_at(&fixed, 20) == u32::MAX;
    let mut need_offset = u32_at(&fixed, 42) == u32::MAX;
    let mut extra = &var[name_len..name_len + extra_len];
    while extra.len() >= 4 {
        let tag = u16_at(extra, 0);
        let size = usize::from(u16_at(extra, 2));
        if extra.len() - 4 < size {
            break;
        }
        let mut field = &extra[4..4 + size];
        extra = &extra[4 + size..];
        if tag != 0x0001 {
            continue;
        }
        // Zip64 fields appear only for the values saturated above, in this order.
        for (need, slot) in [
            (&mut need_usize, &mut uncompressed),
            (&mut need_csize, &mut compressed),
            (&mut need_offset, &mut header_offset),
        ] {
            if *need {
                *need = false;
                if field.len() < 8 {
                    return Err(bad());
                }
                *slot = u64_at(field, 0);
                field = &field[8..];
            }
        }
    }
    // Like Go, accept an uncompressed size of exactly 2^32-1 without zip64 (42.zip), but not a
    // saturated compressed size or offset.
    if need_csize || need_offset {
        return Err(bad());
    }
    Ok(Some(RawEntry {
        name: var[..name_len].to_vec(),
        version_made_by: u16_at(&fixed, 4),
        flags: u16_at(&fixed, 8),
        method: u16_at(&fixed, 10),
        uncompressed_size: uncompressed,
        external_attrs: u32_at(&fixed, 38),
        crc32: u32_at(&fixed, 16),
        compressed_size: compressed,
        header_offset,
    }))
}

/// Reads the central directory and opens the archive with the zip crate, which must agree on
/// where the directory is.
fn open<R: Read + Seek>(
    mut reader: R,
    zip_size: u64,
) -> Result<(Vec<RawEntry>, ZipArchive<R>), ZipError> {
    let bad = || ZipError::Invalid(NOT_A_ZIP.to_owned());
    let size = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    if size != zip_size {
        return Err(ZipError::Io(format!(
            "reading zip: the reader holds {size} bytes but the zip size is {zip_size}"
        )));
    }
    let end = read_directory_end(&mut reader, size)?;
    if end.entries > MAX_FILES as u64 {
        return Err(ZipError::TooLarge(format!(
            "zip has {} entries; goshelf accepts at most {MAX_FILES}",
            end.entries
        )));
    }
    reader.seek(SeekFrom::Start(end.offset)).map_err(io_error)?;
    let mut entries = Vec::new();
    {
        let mut buffered = BufReader::with_capacity(READ_BUFFER, &mut reader);
        let mut directory_bytes = 0_u64;
        while let Some(entry) = read_header(&mut buffered, &mut directory_bytes)? {
            if entries.len() == MAX_FILES {
                return Err(ZipError::TooLarge(format!(
                    "zip has more than {MAX_FILES} entries"
                )));
            }
            entries.push(entry);
        }
    }
    if entries.len() as u64 != end.entries {
        return Err(bad());
    }
    for entry in entries
        .iter()
        .filter(|e| e.flags & FLAG_DATA_DESCRIPTOR != 0)
    {
        check_data_descriptor(&mut reader, entry, size)?;
    }
    let archive = ZipArchive::new(reader).map_err(|_| bad())?;
    if archive.central_directory_start() != end.offset || archive.offset() != 0 {
        return Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (data before the archive is not supported)"
        )));
    }
    Ok((entries, archive))
}

/// General purpose flag bit 3: sizes and CRC follow the data in a descriptor.
const FLAG_DATA_DESCRIPTOR: u16 = 0x0008;
const DESCRIPTOR_SIG: [u8; 4] = *b"PK\x07\x08";

/// archive/zip `readDataDescriptor`: an entry with flag bit 3 is followed by a descriptor
/// (its signature optional) whose CRC-32 must equal the central directory's, or Go's reader
/// fails with `zip: checksum error` (or an unexpected EOF when there is no room for it) and
/// the go command could never unzip the module. The sizes in it are ignored, as Go does.
fn check_data_descriptor<R: Read + Seek>(
    r: &mut R,
    entry: &RawEntry,
    size: u64,
) -> Result<(), ZipError> {
    let name = entry.display_name();
    let bad = |why: &str| ZipError::Invalid(format!("{name}: {why}"));
    let mut local = [0_u8; 30];
    r.seek(SeekFrom::Start(entry.header_offset))
        .map_err(io_error)?;
    r.read_exact(&mut local).map_err(|_| bad(NOT_A_ZIP))?;
    let data_at = entry
        .header_offset
        .checked_add(30 + u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28)))
        .and_then(|d| d.checked_add(entry.compressed_size))
        .filter(|&end| end <= size)
        .ok_or_else(|| bad(NOT_A_ZIP))?;
    let mut desc = [0_u8; 8];
    let avail = usize::try_from((size - data_at).min(8)).unwrap_or(0);
    r.seek(SeekFrom::Start(data_at)).map_err(io_error)?;
    r.read_exact(&mut desc[..avail]).map_err(io_error)?;
    let crc_at = if desc[..4] == DESCRIPTOR_SIG { 4 } else { 0 };
    if avail < crc_at + 4 {
        return Err(bad("zip: data descriptor missing (unexpected EOF)"));
    }
    if u32_at(&desc, crc_at) != entry.crc32 {
        return Err(bad(
            "zip: checksum error (data descriptor CRC differs from the directory)",
        ));
    }
    Ok(())
}

/// How checkZip saw an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The `path@version/` directory itself, which checkZip skips.
    PrefixDir,
    /// A valid file or directory.
    Entry,
    Invalid,
}

/// checkZip's entry rules (spec.md §2.2 step 5) over the files a zip is about to hold:
/// `(name after the prefix, declared size)`. Names in the result carry the prefix.
pub(super) fn check_names<'a>(
    prefix: &str,
    files: impl IntoIterator<Item = (&'a str, u64)>,
) -> CheckedFiles {
    let entries: Vec<RawEntry> = files
        .into_iter()
        .map(|(name, size)| RawEntry {
            name: format!("{prefix}{name}").into_bytes(),
            version_made_by: 0,
            flags: 0,
            method: 8,
            uncompressed_size: size,
            external_attrs: 0,
            crc32: 0,
            compressed_size: 0,
            header_offset: 0,
        })
        .collect();
    classify(&entries, prefix).0
}

/// zip.go's `checkZip` loop over the central directory (spec.md §2.2 step 5).
fn classify(entries: &[RawEntry], prefix: &str) -> (CheckedFiles, Vec<Kind>) {
    let mut cf = CheckedFiles::default();
    let mut kinds = Vec::with_capacity(entries.len());
    let mut collisions = Collisions::default();
    let mut total: u64 = 0;
    for entry in entries {
        let kind = match classify_one(entry, prefix, &mut collisions, &mut total, &mut cf) {
            Ok(kind) => kind,
            Err(reason) => {
                cf.invalid.push((entry.display_name(), reason));
                Kind::Invalid
            }
        };
        kinds.push(kind);
    }
    (cf, kinds)
}

fn classify_one(
    entry: &RawEntry,
    prefix: &str,
    collisions: &mut Collisions,
    total: &mut u64,
    cf: &mut CheckedFiles,
) -> Result<Kind, String> {
    let Some(rest) = entry.name.strip_prefix(prefix.as_bytes()) else {
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
    cf.valid.push(entry.display_name());
    Ok(Kind::Entry)
}

/// Go's `path.Clean`, on bytes.
pub(super) fn clean(path: &[u8]) -> Vec<u8> {
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
    while r < n {
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
            while r < n && path[r] != b'/' {
                out.push(path[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// zip.go's `collisionChecker`: folded path to the first spelling seen and whether it is a
/// directory.
#[derive(Debug, Default)]
pub(super) struct Collisions {
    seen: std::collections::HashMap<String, (String, bool)>,
}

impl Collisions {
    /// Records `path` and, as directories, each of its parents.
    pub(super) fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        let (mut path, mut is_dir) = (path, is_dir);
        loop {
            match self.seen.entry(fold_key(path)) {
                std::collections::hash_map::Entry::Occupied(other) => {
                    let (other_path, other_dir) = other.get();
                    if other_path != path {
                        return Err(format!(
                            "case-insensitive file name collision: {} and {}",
                            go_quote(other_path.as_bytes()),
                            go_quote(path.as_bytes())
                        ));
                    }
                    if *other_dir != is_dir {
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
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert((path.to_owned(), is_dir));
                }
            }
            match path.rfind('/') {
                Some(i) => (path, is_dir) = (&path[..i], true),
                None => return Ok(()),
            }
        }
    }
}

/// Zip host systems whose external attributes carry a Unix mode in their upper 16 bits.
const HOST_UNIX: u16 = 3;
const HOST_MACOS: u16 = 19;
const MODE_TYPE: u32 = 0o170_000;
const MODE_REGULAR: u32 = 0o100_000;
const MODE_DIR: u32 = 0o040_000;
const MODE_SYMLINK: u32 = 0o120_000;

/// The per-entry upload rules of spec.md §2.4 that checkZip leaves out.
fn upload_problem(e: &RawEntry) -> Option<String> {
    if std::str::from_utf8(&e.name).is_err() {
        return Some("file name is not valid UTF-8".to_owned());
    }
    // General purpose bit 0: encrypted; bit 6: strong encryption.
    if e.flags & 0x41 != 0 {
        return Some("encrypted entries are not allowed".to_owned());
    }
    if e.method != 0 && e.method != 8 {
        return Some(format!(
            "unsupported compression method {} (only 0, store, and 8, deflate, are allowed)",
            e.method
        ));
    }
    let is_dir = e.name.ends_with(b"/");
    let host = e.version_made_by >> 8;
    if host == HOST_UNIX || host == HOST_MACOS {
        let mode = e.external_attrs >> 16;
        match mode & MODE_TYPE {
            0 | MODE_REGULAR => {}
            MODE_DIR if is_dir => {}
            MODE_DIR => {
                return Some("directory mode on an entry whose name does not end in /".to_owned())
            }
            MODE_SYMLINK => return Some("symbolic links are not allowed".to_owned()),
            _ => return Some(format!("not a regular file or directory (mode {mode:#o})")),
        }
    }
    if is_dir && e.uncompressed_size != 0 {
        return Some("directory entry has content".to_owned());
    }
    None
}

/// The zip crate indexes entries by name; with no duplicates left, its index must list the same
/// names, in the same order, with the same sizes, or the two readers disagree about the archive.
fn check_crate_agrees<R: Read + Seek>(
    entries: &[RawEntry],
    archive: &ZipArchive<R>,
) -> Result<(), ZipError> {
    if archive.len() != entries.len() {
        return Err(ZipError::Invalid(NOT_A_ZIP.to_owned()));
    }
    for (index, entry) in entries.iter().enumerate() {
        let data = archive
            .by_index_data(index)
            .map_err(|_| ZipError::Invalid(NOT_A_ZIP.to_owned()))?;
        if data.name_raw() != entry.name.as_slice() {
            return Err(ZipError::Invalid(format!(
                "{}: the Info-ZIP Unicode path field names the entry differently",
                entry.display_name()
            )));
        }
        if data.size() != entry.uncompressed_size {
            return Err(ZipError::Invalid(format!(
                "{}: {NOT_A_ZIP} (inconsistent uncompressed size)",
                entry.display_name()
            )));
        }
    }
    Ok(())
}

/// Streams entry `index` through SHA-256, reading at most its declared size plus one byte, and
/// copies it into `keep` when asked. The zip crate checks the CRC at the end of the data.
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    index: usize,
    entry: &RawEntry,
    buf: &mut [u8],
    mut keep: Option<&mut Vec<u8>>,
) -> Result<[u8; 32], ZipError> {
    let name = entry.display_name();
    let declared = entry.uncompressed_size;
    let larger = || {
        ZipError::Invalid(format!(
            "{name}: uncompressed size is larger than declared size ({declared} bytes)"
        ))
    };
    let options = ZipReadOptions::new().enforce_header_consistency(true);
    let file = archive
        .by_index_with_options(index, options)
        .map_err(|e| match e {
            zip::result::ZipError::InvalidArchive(why) => {
                ZipError::Invalid(format!("{name}: {NOT_A_ZIP} ({why})"))
            }
            _ => ZipError::Invalid(format!("{name}: {NOT_A_ZIP}")),
        })?;
    let mut limited = file.take(declared.saturating_add(1));
    let mut sha = Sha256::new();
    let mut total: u64 = 0;
    loop {
        let n = match limited.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let text = e.to_string();
                return Err(if text.contains("larger than") {
                    larger()
                } else if text.contains("checksum") {
                    ZipError::Invalid(format!("{name}: zip: checksum error"))
                } else {
                    ZipError::Invalid(format!("{name}: zip: corrupt entry data ({text})"))
                });
            }
        };
        total += n as u64;
        if total > declared {
            return Err(larger());
        }
        sha.update(&buf[..n]);
        if let Some(keep) = keep.as_mut() {
            keep.extend_from_slice(&buf[..n]);
        }
    }
    if total < declared {
        return Err(ZipError::Invalid(format!(
            "{name}: uncompressed size is smaller than declared size ({declared} bytes)"
        )));
    }
    Ok(sha.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
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
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(clean(input.as_bytes())).unwrap(),
                want,
                "{input}"
            );
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
        let names: Vec<&str> = s.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["go.mod", "m.go", "cmd/hello/hello.go"]);
        assert_eq!(s.files[0].size, gomod.len() as u64);
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
        let err = check_zip(
            Cursor::new(&zip),
            zip.len() as u64,
            "example.com/m",
            "v1.0.0+bad",
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            r#"version "v1.0.0+bad" is not canonical (should be "v1.0.0")"#
        );
        let err = check_zip(
            Cursor::new(&zip),
            zip.len() as u64,
            "example.com/m",
            "v2.0.0",
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "example.com/m@v2.0.0: invalid version: should be v0 or v1, not v2"
        );
    }

    /// A reader over `data` whose reads fail from byte `fail_at` on, like a disk error.
    struct Failing {
        data: Cursor<Vec<u8>>,
        fail_at: u64,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.position() >= self.fail_at {
                return Err(std::io::Error::other("disk on fire"));
            }
            let room = usize::try_from(self.fail_at - self.data.position()).unwrap();
            let n = buf.len().min(room);
            self.data.read(&mut buf[..n])
        }
    }

    impl Seek for Failing {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.data.seek(pos)
        }
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
            let reader = Failing {
                data: Cursor::new(zip.clone()),
                fail_at,
            };
            let err = validate(reader, size, "example.com/m", "v1.0.0").unwrap_err();
            assert!(
                matches!(&err, ZipError::Io(m) if m.contains("disk on fire")),
                "fail_at {fail_at}: {err:?}"
            );
        }
        let reader = Failing {
            data: Cursor::new(zip.clone()),
            fail_at: size - 1,
        };
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
        let entry = |name: &str, size: u64| RawEntry {
            name: format!("example.com/m@v1.0.0/{name}").into_bytes(),
            version_made_by: 0,
            flags: 0,
            method: 8,
            uncompressed_size: size,
            external_attrs: 0,
            crc32: 0,
            compressed_size: 0,
            header_offset: 0,
        };
        let run = |entries: &[RawEntry]| classify(entries, "example.com/m@v1.0.0/").0;
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
