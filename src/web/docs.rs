//! Package documentation of a version, read from its zip: the `.go` files of each directory
//! that may hold a package, one directory at a time (memory bounded by the largest
//! directory, each file at most `MAX_GO_FILE`), turned into `ModuleDocs`. The work is
//! bounded too: at most `MAX_GO_SOURCE` bytes of Go and `MAX_PACKAGES` packages a version.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::facts::{FactsError, Weighed};
use crate::gomod::doc::module::{self, ModuleDocs, MAX_GO_FILE, MAX_GO_SOURCE, MAX_PACKAGES};

impl Weighed for ModuleDocs {
    fn weight(&self) -> usize {
        // The stored form's size is close to what the structure holds.
        self.encode().len() + 128
    }
}

/// Reads the docs of every package of the zip; `prefix` is `module@version/`.
///
/// # Errors
/// When the zip's directory or one of its `.go` entries cannot be read.
pub fn extract<R: Read + Seek>(
    reader: R,
    module: &str,
    prefix: &str,
) -> Result<ModuleDocs, FactsError> {
    extract_within(reader, module, prefix, MAX_GO_SOURCE, MAX_PACKAGES)
}

fn extract_within<R: Read + Seek>(
    mut reader: R,
    module: &str,
    prefix: &str,
    max_source: u64,
    max_packages: usize,
) -> Result<ModuleDocs, FactsError> {
    let size = reader
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| FactsError::new(&e))?;
    let listing =
        crate::gomod::zip::Listing::read(&mut reader, size).map_err(|e| FactsError::new(&e))?;
    // Directory -> (file name, entry index, size) of its .go files.
    let mut dirs: BTreeMap<String, Vec<(String, usize, u64)>> = BTreeMap::new();
    for entry in listing.entries() {
        if entry.is_dir {
            continue;
        }
        let raw = String::from_utf8_lossy(entry.name);
        let Some(name) = raw.strip_prefix(prefix) else {
            continue;
        };
        if !name.ends_with(".go") {
            continue;
        }
        let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
        if module::is_package_dir(dir) {
            dirs.entry(dir.to_owned()).or_default().push((
                file.to_owned(),
                entry.index,
                entry.size,
            ));
        }
    }
    let mut docs = ModuleDocs::default();
    let mut read: u64 = 0;
    for (dir, entries) in dirs {
        let bytes: u64 = entries
            .iter()
            .filter(|e| e.2 <= MAX_GO_FILE)
            .map(|e| e.2)
            .sum();
        if docs.packages.len() >= max_packages || read.saturating_add(bytes) > max_source {
            docs.truncated = true;
            break;
        }
        read += bytes;
        docs.source_bytes = read;
        let mut files = Vec::with_capacity(entries.len());
        for (file, index, size) in entries {
            let shown = if dir.is_empty() {
                file.clone()
            } else {
                format!("{dir}/{file}")
            };
            if size > MAX_GO_FILE {
                docs.skipped.push(shown);
                continue;
            }
            let bytes = listing
                .contents(&mut reader, index)
                .map_err(|e| FactsError::new(&e))?;
            match String::from_utf8(bytes) {
                Ok(src) => files.push((file, src)),
                Err(_) => docs.skipped.push(shown),
            }
        }
        if let Some(p) = module::package_doc(module, &dir, &files) {
            docs.packages.push(p);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in files {
            w.start_file(format!("example.com/m@v1.0.0/{name}"), opts)
                .unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn packages_are_read_per_directory_within_the_bounds() {
        let z = zip(&[
            ("go.mod", b"module example.com/m\n"),
            ("a.go", b"// Package m is the root.\npackage m\n"),
            ("b/b.go", b"// Package b.\npackage b\n"),
            ("c/c.go", b"// Package c.\npackage c\n"),
            ("testdata/t.go", b"package t\n"),
            ("vendor/v/v.go", b"package v\n"),
            ("d/bad.go", b"package d\xff"),
        ]);
        let all = extract(Cursor::new(&z), "example.com/m", "example.com/m@v1.0.0/").unwrap();
        let dirs: Vec<&str> = all.packages.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "b", "c"]);
        assert!(!all.truncated);
        // Byte 0xff is no UTF-8: the file is named, the directory has no package left.
        assert_eq!(all.skipped, ["d/bad.go"]);
        let two = extract_within(
            Cursor::new(&z),
            "example.com/m",
            "example.com/m@v1.0.0/",
            1 << 20,
            2,
        )
        .unwrap();
        assert_eq!(two.packages.len(), 2);
        assert!(two.truncated);
        let small = extract_within(
            Cursor::new(&z),
            "example.com/m",
            "example.com/m@v1.0.0/",
            50,
            10,
        )
        .unwrap();
        assert_eq!(
            small.packages.len(),
            1,
            "only the root (36 bytes) fits in 50"
        );
        assert!(small.truncated);
    }
}
