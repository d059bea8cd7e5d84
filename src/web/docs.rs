//! Package documentation of a version, read from its zip: the `.go` files of each directory
//! that may hold a package, one directory at a time (memory bounded by the largest
//! directory, each file at most `MAX_GO_FILE`), turned into `ModuleDocs`.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::facts::{FactsError, Weighed};
use crate::gomod::doc::module::{self, ModuleDocs, MAX_GO_FILE};

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
    mut reader: R,
    module: &str,
    prefix: &str,
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
    for (dir, entries) in dirs {
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
