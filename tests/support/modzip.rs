//! [`ModZip`]: module zips for upload, built with the zip crate as `go mod` would lay them
//! out (spec.md §2): Deflate, every entry named `path@version/name`, no directory entries.
//! [`ModZip::dir`] and [`ModZip::stored`] opt into layouts the go command accepts but never
//! creates itself.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{fixture_module_dir, walk_files};

/// A module version's files, ready to be zipped.
#[derive(Clone, Debug)]
pub struct ModZip {
    path: String,
    version: String,
    files: Vec<(String, Vec<u8>)>,
    dirs: Vec<String>,
    method: CompressionMethod,
}

impl ModZip {
    /// A zip with no files yet.
    pub fn new(path: &str, version: &str) -> ModZip {
        ModZip {
            path: path.to_owned(),
            version: version.to_owned(),
            files: Vec::new(),
            dirs: Vec::new(),
            method: CompressionMethod::Deflated,
        }
    }

    /// A zip of the given (name relative to the module root, content) pairs.
    pub fn with_files(path: &str, version: &str, files: &[(&str, &[u8])]) -> ModZip {
        files
            .iter()
            .fold(ModZip::new(path, version), |zip, (name, data)| {
                zip.file(name, data)
            })
    }

    /// A zip of every file under tests/fixtures/modules/`fixture`.
    pub fn from_fixture(fixture: &str, path: &str, version: &str) -> ModZip {
        let dir = fixture_module_dir(fixture);
        walk_files(&dir)
            .into_iter()
            .fold(ModZip::new(path, version), |zip, (name, file)| {
                zip.file(&name, &std::fs::read(file).unwrap())
            })
    }

    /// Adds (or replaces) one file.
    pub fn file(mut self, name: &str, data: &[u8]) -> ModZip {
        self.files.retain(|(n, _)| n != name);
        self.files.push((name.to_owned(), data.to_vec()));
        self
    }

    /// Adds a directory entry `path@version/<name>/` (written before the files). Go's
    /// `HashZip` hashes it as an empty file (spec.md §4.2).
    pub fn dir(mut self, name: &str) -> ModZip {
        self.dirs.push(name.trim_end_matches('/').to_owned());
        self
    }

    /// Stores entries uncompressed (method 0) instead of deflating them.
    pub fn stored(mut self) -> ModZip {
        self.method = CompressionMethod::Stored;
        self
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The content of `name`, if the zip has it.
    pub fn content(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
    }

    /// The go.sum hash of the zip (`dirhash.Hash1` of its files; directories count as
    /// empty files), computed here rather than by the server.
    pub fn h1(&self) -> String {
        use sha2::{Digest, Sha256};
        let prefix = format!("{}@{}/", self.path, self.version);
        let mut files: Vec<(String, [u8; 32])> = self
            .files
            .iter()
            .map(|(n, d)| (format!("{prefix}{n}"), Sha256::digest(d).into()))
            .collect();
        files.extend(
            self.dirs
                .iter()
                .map(|d| (format!("{prefix}{d}/"), Sha256::digest(b"").into())),
        );
        goshelf::gomod::hash::hash1_of(files.iter().map(|(n, h)| (n.as_bytes(), *h))).unwrap()
    }

    /// The zip bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(self.method)
            .unix_permissions(0o644);
        for name in &self.dirs {
            writer
                .add_directory(format!("{}@{}/{name}/", self.path, self.version), options)
                .unwrap();
        }
        for (name, data) in &self.files {
            writer
                .start_file(format!("{}@{}/{name}", self.path, self.version), options)
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Writes the zip to `dir/<file_name>` and returns the path.
    pub fn write_to(&self, dir: &Path, file_name: &str) -> PathBuf {
        let path = dir.join(file_name);
        std::fs::write(&path, self.bytes()).unwrap();
        path
    }
}

/// The entries of a zip as an independent reader (the zip crate) lists them, in directory
/// order: each name after `prefix` and its uncompressed size. For checking what a validated
/// zip holds.
pub fn listing(zip: &[u8], prefix: &str) -> Vec<(String, u64)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .filter_map(|i| {
            let f = archive.by_index_raw(i).unwrap();
            let name = String::from_utf8_lossy(f.name_raw())
                .strip_prefix(prefix)?
                .to_owned();
            (!name.is_empty()).then(|| (name, f.size()))
        })
        .collect()
}
