//! Module zip *creation* rules (spec.md §2.5): which files of a source tree go into a module
//! zip, which are omitted and why, which make it invalid; and writing the zip.
//!
//! Pure: the caller lists the tree (see `crate::publish::tree`) and supplies file contents
//! through readers.

use std::io::{Read, Seek, Write};

use super::zip::{CheckedFiles, ZipError};

/// What kind of file a tree entry is.
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
    pub size: u64,
}

/// x/mod's `CheckFiles` over an in-memory file list (only regular files and symlinks/others):
/// per-file omission texts (`file is in another module`, `file is in vendor directory`, ...).
/// Names in the result are the entries' paths.
#[must_use]
pub fn check_files(files: &[TreeEntry]) -> CheckedFiles {
    let _ = files;
    todo!()
}

/// x/mod's `CheckDir` over a full directory listing (directories included, as a walk finds
/// them): directory-level omissions (`directory is a version control repository`,
/// `directory is in another module`). Names in the result are the entries' paths.
#[must_use]
pub fn check_dir(entries: &[TreeEntry]) -> CheckedFiles {
    let _ = entries;
    todo!()
}

/// Writes a module zip of `files` (the `valid` list of a check) for `path@version`, the way
/// x/mod's `Create` does (Deflate, no directory entries), and returns its h1.
///
/// # Errors
/// Invalid path or version, a reader failing, or a file whose real size differs from its
/// declared size.
pub fn write_zip<W: Write + Seek>(
    out: W,
    path: &str,
    version: &str,
    files: &mut dyn Iterator<Item = (String, u64, Box<dyn Read>)>,
) -> Result<String, ZipError> {
    let _ = (out, path, version, files);
    todo!()
}
