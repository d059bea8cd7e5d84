//! The module zip: Go's `checkZip` with its error texts (spec.md §2.2), and the upload checks a
//! registry adds on top (spec.md §2.4, §8). Reads every entry fully, so CRCs and sizes are
//! proven, and computes the h1 of the zip and of its `.mod`.

use std::io::{Read, Seek};

/// `MaxZipFile`: 500 MiB.
pub const MAX_ZIP_FILE: u64 = 500 << 20;
/// `MaxGoMod`: 16 MiB.
pub const MAX_GO_MOD: u64 = 16 << 20;
/// `MaxLICENSE`: 16 MiB.
pub const MAX_LICENSE: u64 = 16 << 20;

/// Why a zip is not a valid module zip. `Display` is one or more lines in Go's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ZipError(pub String);

/// One entry of an accepted zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The name after the `path@version/` prefix; directories keep their trailing `/`.
    pub name: String,
    pub size: u64,
}

/// What an accepted upload contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipSummary {
    pub path: super::ModulePath,
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

/// Go's `CheckZip(m, zipFile)` on the central directory (no data read).
///
/// # Errors
/// Only for a version or path that fails `module.Check`, or a zip that does not parse; entry
/// problems land in `CheckedFiles::invalid`.
pub fn check_zip<R: Read + Seek>(
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<CheckedFiles, ZipError> {
    let _ = (reader, zip_size, path, version);
    todo!()
}

/// The `path@version` a zip claims, from its first entry name.
///
/// # Errors
/// When the zip does not parse or its first entry has no `path@version/` prefix.
pub fn read_prefix<R: Read + Seek>(reader: R) -> Result<(String, String), ZipError> {
    let _ = reader;
    todo!()
}

/// Validates an upload completely against `path@version` and reads every entry.
///
/// # Errors
/// Any rule of spec.md §2.2 and §2.4 broken, with the go command's text where it has one.
pub fn validate<R: Read + Seek>(
    reader: R,
    zip_size: u64,
    path: &str,
    version: &str,
) -> Result<ZipSummary, ZipError> {
    let _ = (reader, zip_size, path, version);
    todo!()
}
