//! Package documentation of a version, read from its zip: the `.go` files of each directory
//! that may hold a package, one directory at a time (memory bounded by the largest
//! directory, each file at most `MAX_GO_FILE`), turned into `ModuleDocs`. The work is
//! bounded too: at most `MAX_GO_SOURCE` bytes of Go and `MAX_PACKAGES` packages a version.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::facts::{FactsError, Weighed};
use crate::gomod::doc::module::{self, ModuleDocs, MAX_GO_FILE, MAX_GO_SOURCE, MAX_PACKAGES};

impl Weighed for ModuleDocs {
    /// The bytes of its strings and a little for each item: counted, not serialised (a
    /// cold page view inserts the docs it decoded; encoding them again only to weigh them
    /// cost as much as decoding).
    fn weight(&self) -> usize {
        use crate::gomod::doc::api::{Func, Value};
        const ITEM: usize = 64;
        let func = |f: &Func| {
            ITEM + f.name.len() + f.doc.len() + f.line.len() + f.source.len() + f.pos.file.len()
        };
        let value = |v: &Value| {
            ITEM + v.names.iter().map(String::len).sum::<usize>()
                + v.doc.len()
                + v.line.len()
                + v.source.len()
                + v.pos.file.len()
        };
        let mut total = 128 + self.skipped.iter().map(String::len).sum::<usize>();
        for p in &self.packages {
            let a = &p.api;
            total += ITEM + p.dir.len() + p.import_path.len() + p.synopsis.len() + a.doc.len();
            total += p
                .files
                .iter()
                .chain(&a.imports)
                .map(|f| ITEM + f.len())
                .sum::<usize>();
            total += a.consts.iter().chain(&a.vars).map(value).sum::<usize>();
            total += a.funcs.iter().map(func).sum::<usize>();
            for t in &a.types {
                total += ITEM + t.name.len() + t.doc.len() + t.line.len() + t.source.len();
                total += t.consts.iter().chain(&t.vars).map(value).sum::<usize>();
                total += t.funcs.iter().chain(&t.methods).map(func).sum::<usize>();
            }
            for e in &p.examples {
                total += ITEM + e.name.len() + e.doc.len() + e.code.len() + e.pos.file.len();
                total += e.output.as_ref().map_or(0, String::len);
            }
        }
        total
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

    /// A `.go` file of more than 4 MiB is named and not read; one of exactly 4 MiB is read.
    #[test]
    fn go_files_over_4_mib_are_named_not_read() {
        let sized = |size: usize| {
            let mut src = b"// Package m.\npackage m\n//".to_vec();
            src.resize(size - 1, b'x');
            src.push(b'\n');
            src
        };
        let (at, over) = (sized(4 << 20), sized((4 << 20) + 1));
        let z = zip(&[
            ("a/a.go", &at),
            ("b/b.go", &over),
            ("c/c.go", b"package c\n"),
        ]);
        let docs = extract(Cursor::new(&z), "example.com/m", "example.com/m@v1.0.0/").unwrap();
        let dirs: Vec<&str> = docs.packages.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["a", "c"]);
        assert_eq!(docs.skipped, ["b/b.go"]);
        assert_eq!(docs.source_bytes, (4 << 20) + 10);
        assert!(!docs.truncated);
    }

    /// The cache's weight of docs, counted without serialising them, stays near the size of
    /// their stored form (within half to twice it, on a package with every kind of item).
    #[test]
    fn weight_is_near_the_stored_size() {
        let mut src = String::from("// Package m is weighed.\npackage m\n\n");
        for i in 0..200 {
            src.push_str(&format!(
                "// C{i} is a constant.\nconst C{i} = {i}\n\n// T{i} is a type.\n\
                 type T{i} struct{{ X int }}\n\n// M does.\nfunc (T{i}) M(x int) error {{ return nil }}\n\n\
                 // New{i} makes one.\nfunc New{i}() T{i} {{ return T{i}{{}} }}\n\n"
            ));
        }
        let z = zip(&[
            ("go.mod", b"module example.com/m\n"),
            ("m.go", src.as_bytes()),
        ]);
        let docs = extract(Cursor::new(&z), "example.com/m", "example.com/m@v1.0.0/").unwrap();
        assert_eq!(docs.packages[0].api.types.len(), 200);
        let (weight, stored) = (docs.weight(), docs.encode().len());
        assert!(
            weight > stored / 2 && weight < stored * 2,
            "weight {weight}, stored form {stored}"
        );
    }
}
