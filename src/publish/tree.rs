//! The I/O side of zip creation: lists a module directory as x/mod's `listFilesInDir` does
//! (`filepath.Walk`, links not followed), reads the root go.mod's `go` line, and zips the
//! valid files through `gomod::create::write_zip`. The rules themselves live in
//! `gomod::create`; nothing here decides what goes into a zip.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Seek, Write};
use std::path::Path;

use crate::gomod::create::{self, FileKind, Tree, TreeEntry};
use crate::gomod::modfile;
use crate::gomod::zip::ZipError;

/// Directories a walk never enters (x/mod's `listFilesInDir` skips them).
const VCS_DIRS: [&str; 4] = [".bzr", ".git", ".hg", ".svn"];

/// Lists the module tree at `root` for [`create::check_dir`]: every entry below the root in
/// `filepath.Walk` order (names sorted bytewise within a directory, a directory before its
/// contents), slash-separated paths relative to `root`, symbolic links reported as
/// [`FileKind::Symlink`] and not followed; and the root go.mod's `go` version ([`go_version`]).
///
/// Like Go's walk, it does not read what `check_dir` skips whole: the contents of a
/// `.bzr`/`.git`/`.hg`/`.svn` directory, and of a directory holding a `go.mod` (only that
/// go.mod is listed), unless the directory's path contains `vendor/`, where the vendor rule
/// may apply first and the walk goes on. Names that are not UTF-8 are converted lossily; they
/// fail the file path check anyway.
///
/// # Errors
/// When `root` is not a directory, or a directory cannot be read or an entry stat'ed; the
/// error names the path.
pub fn list_dir(root: &Path) -> io::Result<Tree> {
    let meta = fs::symlink_metadata(root).map_err(|e| at(root, e))?;
    if !meta.is_dir() {
        return Err(at(
            root,
            io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    let mut entries = Vec::new();
    walk(root, "", &mut entries)?;
    Ok(Tree {
        entries,
        go_version: go_version(root),
    })
}

/// The `go` directive of `root/go.mod` (`1.24`), read as x/mod's `listFilesInDir` reads it:
/// through a link, `None` when the file cannot be read, does not parse, or has no `go` line.
#[must_use]
pub fn go_version(root: &Path) -> Option<String> {
    let data = fs::read(root.join("go.mod")).ok()?;
    modfile::go_version(&data)
}

/// Writes the module zip of `root` for `path@version` to `out`: the files of `valid`
/// (slash-separated paths relative to `root`, as [`create::check_dir`] lists them), in that
/// order, with [`create::write_zip`]. Returns the zip's h1.
///
/// Each file is stat'ed (without following links) for its declared size, then opened and
/// checked to still be a regular file; `write_zip` then requires exactly that many bytes.
///
/// # Errors
/// [`ZipError::Io`] when a file cannot be stat'ed, opened or read, is no longer a regular
/// file, or changed size; [`ZipError::Invalid`] or [`ZipError::TooLarge`] when `path`,
/// `version` or the files would not make a valid module zip.
pub fn zip_dir<W: Write + Seek>(
    root: &Path,
    path: &str,
    version: &str,
    valid: &[String],
    out: W,
) -> Result<String, ZipError> {
    let mut files = Vec::with_capacity(valid.len());
    for name in valid {
        let meta = fs::symlink_metadata(root.join(name))
            .map_err(|e| ZipError::Io(format!("{name}: {e}")))?;
        files.push(TreeEntry {
            path: name.clone(),
            kind: kind_of(&meta),
            size: meta.len(),
        });
    }
    create::write_zip(out, path, version, &files, |f| {
        let file = File::open(root.join(&f.path))?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other(
                "no longer a regular file (replaced while zipping?)",
            ));
        }
        Ok(file)
    })
}

/// `filepath.Walk` below `dir`, whose path relative to the root is `rel` (`""` for the root).
fn walk(dir: &Path, rel: &str, out: &mut Vec<TreeEntry>) -> io::Result<()> {
    let mut names = read_names(dir)?;
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let full = dir.join(&name);
        let meta = fs::symlink_metadata(&full).map_err(|e| at(&full, e))?;
        let name = name.to_string_lossy();
        let path = if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        let kind = kind_of(&meta);
        out.push(TreeEntry {
            path: path.clone(),
            kind,
            size: meta.len(),
        });
        if kind != FileKind::Directory {
            continue;
        }
        // check_dir skips these directories whole unless the vendor rule, which only a path
        // containing "vendor/" can meet, takes them first.
        let prunable = !path.contains("vendor/");
        if prunable && VCS_DIRS.iter().any(|v| path.rsplit('/').next() == Some(*v)) {
            continue;
        }
        if prunable {
            let go_mod = full.join("go.mod");
            match fs::symlink_metadata(&go_mod) {
                Ok(m) if !m.is_dir() => {
                    out.push(TreeEntry {
                        path: format!("{path}/go.mod"),
                        kind: kind_of(&m),
                        size: m.len(),
                    });
                    continue;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(at(&go_mod, e)),
            }
        }
        walk(&full, &path, out)?;
    }
    Ok(())
}

fn read_names(dir: &Path) -> io::Result<Vec<OsString>> {
    fs::read_dir(dir)
        .map_err(|e| at(dir, e))?
        .map(|entry| entry.map(|e| e.file_name()).map_err(|e| at(dir, e)))
        .collect()
}

fn kind_of(meta: &Metadata) -> FileKind {
    let t = meta.file_type();
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_file() {
        FileKind::Regular
    } else {
        FileKind::Other
    }
}

/// `e`, with the path it concerns in front.
fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(tree: &Tree) -> Vec<(&str, FileKind)> {
        tree.entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn list_dir_walks_in_go_order_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "a/b",
            "a.go",
            "b",
            "z/.git/objects",
            "sub/deep",
            "vendor/x/.git",
        ] {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            if p.extension().is_some() {
                fs::write(&p, "package a\n").unwrap();
            } else {
                fs::create_dir_all(&p).unwrap();
            }
        }
        fs::write(root.join("go.mod"), "module example.com/m\n\ngo 1.24.2\n").unwrap();
        fs::write(root.join("sub/go.mod"), "module example.com/m/sub\n").unwrap();
        fs::write(root.join("sub/deep/d.go"), "package d\n").unwrap();
        fs::write(root.join("vendor/x/.git/HEAD"), "ref\n").unwrap();
        std::os::unix::fs::symlink("a", root.join("link")).unwrap();
        let tree = list_dir(root).unwrap();
        use FileKind::{Directory as D, Regular as R, Symlink as L};
        assert_eq!(
            paths(&tree),
            [
                ("a", D),
                ("a/b", D),
                ("a.go", R),
                ("b", D),
                ("go.mod", R),
                ("link", L),
                ("sub", D),
                ("sub/go.mod", R),
                ("vendor", D),
                ("vendor/x", D),
                ("vendor/x/.git", D),
                ("vendor/x/.git/HEAD", R),
                ("z", D),
                ("z/.git", D),
            ]
        );
        assert_eq!(tree.entries[2].size, 10);
        assert_eq!(tree.go_version.as_deref(), Some("1.24.2"));
    }

    #[test]
    fn list_dir_of_a_file_or_missing_dir_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "").unwrap();
        assert!(list_dir(&file).is_err());
        let err = list_dir(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn go_version_is_none_without_a_readable_go_line() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(go_version(dir.path()), None);
        fs::write(dir.path().join("go.mod"), "module m\n").unwrap();
        assert_eq!(go_version(dir.path()), None);
        fs::write(dir.path().join("go.mod"), "module m\ngo 1.21rc1\n").unwrap();
        assert_eq!(go_version(dir.path()).as_deref(), Some("1.21rc1"));
        fs::write(dir.path().join("go.mod"), "module m\ngo 1.21\n\"\n").unwrap();
        assert_eq!(go_version(dir.path()), None);
    }

    #[cfg(unix)]
    #[test]
    fn zip_dir_refuses_a_file_replaced_by_a_link() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.go"), "package a\n").unwrap();
        std::os::unix::fs::symlink("a.go", dir.path().join("b.go")).unwrap();
        let out = std::io::Cursor::new(Vec::new());
        let err = zip_dir(
            dir.path(),
            "example.com/m",
            "v1.0.0",
            &["a.go".to_owned(), "b.go".to_owned()],
            out,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ZipError::Invalid("b.go: not a regular file".to_owned())
        );
        let err = zip_dir(
            dir.path(),
            "example.com/m",
            "v1.0.0",
            &["gone.go".to_owned()],
            std::io::Cursor::new(Vec::new()),
        )
        .unwrap_err();
        assert!(matches!(err, ZipError::Io(_)), "{err:?}");
    }
}
