//! golang.org/x/mod/zip's creation cases (spec.md §2.5, §2.6), run against `gomod::create` and
//! `publish::tree`.
//!
//! `create/*.txt` and `check_files/*.txt` become in-memory file lists (each size is its data's
//! length), as x/mod's `TestCreate` and `TestCheckFiles` build them; `create_from_dir/*.txt`
//! and `check_dir/*.txt` are written to a temporary directory, listed with `list_dir` and
//! checked with `check_dir`, as in `TestCreateFromDir` and `TestCheckDir`. A case either fails
//! with an error containing `wantErr`, or produces a zip whose h1 is `hash`; a check case
//! renders its result as Go's `formatCheckedFiles` and must equal `want` byte for byte, with
//! check_dir's paths under `$work`. Every zip produced is also validated as an upload, which
//! must report the same h1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use goshelf::gomod::create::{self, check_dir, check_files, FileKind, Tree, TreeEntry};
use goshelf::gomod::modfile;
use goshelf::gomod::path::check_path_bytes;
use goshelf::gomod::zip::{validate, CheckedFiles, ZipError};
use goshelf::publish::tree::{list_dir, zip_dir};

use crate::gomod_conformance::{assert_all_covered, format_checked, load, Params};
use crate::gomod_zipkit::Entry;

/// h1 of a zip with no files: SHA-256 of nothing (spec.md §4.4).
const EMPTY_HASH: &str = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("fixture file names are UTF-8")
}

/// The `go` line of the last root go.mod in the list, as x/mod's checkFiles reads it.
fn root_go_version(files: &[Entry]) -> Option<String> {
    files
        .iter()
        .rev()
        .find(|(name, _)| name == b"go.mod")
        .and_then(|(_, data)| modfile::go_version(data))
}

/// The module path as `&str`, or, for a path that is not UTF-8 (which no `&str` API can take),
/// checks that Go's own first step rejects it with `wantErr`.
fn module_path(p: &Params) -> Option<&str> {
    match std::str::from_utf8(&p.path) {
        Ok(path) => Some(path),
        Err(_) => {
            let err = check_path_bytes(&p.path).unwrap_err().0;
            assert_contains(&err, p.want_err.as_deref().expect("an error case"));
            None
        }
    }
}

fn assert_contains(text: &str, want: &str) {
    assert!(
        text.contains(want),
        "error {text:?} does not contain {want:?}"
    );
}

/// Compares a creation result with the case: the error, or the h1, which an upload of the zip
/// must also report.
fn expect(case: &str, p: &Params, got: Result<String, ZipError>, zip: &[u8]) {
    match (&p.want_err, &p.hash) {
        (Some(want), _) => {
            let err = got.expect_err("created a zip Go refuses to create");
            assert_contains(&err.to_string(), want);
        }
        (None, Some(hash)) => {
            let h1 = got.unwrap_or_else(|e| panic!("{case}: creation failed: {e}"));
            assert_eq!(&h1, hash, "{case}");
            assert_uploads_with_h1(zip, module_path(p).unwrap(), &p.version, &h1);
        }
        (None, None) => panic!("case {case} has neither wantErr nor hash"),
    }
}

/// The zip passes the upload validator, and the validator's h1 is the one creation returned.
fn assert_uploads_with_h1(zip: &[u8], path: &str, version: &str, h1: &str) {
    let summary = validate(Cursor::new(zip), zip.len() as u64, path, version)
        .unwrap_or_else(|e| panic!("a created zip fails validation: {e}"));
    assert_eq!(summary.h1, h1);
}

/// zip_test.go `TestCreate` for one case.
fn run_create(case: &str) {
    let (p, files) = load("create", case);
    let Some(path) = module_path(&p) else {
        return;
    };
    let entries: Vec<TreeEntry> = files
        .iter()
        .map(|(name, data)| TreeEntry::file(utf8(name), data.len() as u64))
        .collect();
    let contents: HashMap<String, &[u8]> = files
        .iter()
        .rev()
        .map(|(name, data)| (utf8(name), data.as_slice()))
        .collect();
    let mut out = Cursor::new(Vec::new());
    let got = create::create(
        &mut out,
        path,
        &p.version,
        &entries,
        root_go_version(&files).as_deref(),
        |f| Ok(contents[&f.path]),
    );
    expect(case, &p, got, out.get_ref());
}

/// Writes the txtar files under `root`, creating parent directories.
fn write_tree(root: &Path, files: &[Entry]) {
    for (name, data) in files {
        let file = root.join(utf8(name));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, data).unwrap();
    }
}

/// x/mod's `CreateFromDir` over `root`: list, check, zip the valid files.
fn create_from_dir(root: &Path, path: &str, version: &str) -> (Result<String, ZipError>, Vec<u8>) {
    let tree = list_dir(root).unwrap();
    let checked = check_dir(&tree);
    if let Some(e) = checked.error() {
        return (Err(e), Vec::new());
    }
    let mut out = Cursor::new(Vec::new());
    let got = zip_dir(root, path, version, &checked.valid, &mut out);
    (got, out.into_inner())
}

/// zip_test.go `TestCreateFromDir` for one case.
fn run_create_from_dir(case: &str) {
    let (p, files) = load("create_from_dir", case);
    let Some(path) = module_path(&p) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &files);
    let (got, zip) = create_from_dir(dir.path(), path, &p.version);
    expect(case, &p, got, &zip);
}

/// Splits off a check case's `want` file.
fn want_and_files(files: Vec<Entry>) -> (String, Vec<Entry>) {
    let (want, files): (Vec<Entry>, Vec<Entry>) =
        files.into_iter().partition(|(name, _)| name == b"want");
    let want = want.into_iter().next().expect("a want file").1;
    (String::from_utf8(want).unwrap(), files)
}

/// zip_test.go `TestCheckFiles` for one case.
fn run_check_files(case: &str) {
    let (_, files) = load("check_files", case);
    let (want, files) = want_and_files(files);
    let entries: Vec<TreeEntry> = files
        .iter()
        .map(|(name, data)| TreeEntry::file(utf8(name), data.len() as u64))
        .collect();
    let cf = check_files(&entries, root_go_version(&files).as_deref());
    assert_eq!(format_checked(&cf), want);
}

/// `CheckDir`'s names: each path joined to the directory, here `$work`.
fn under_work(cf: CheckedFiles) -> CheckedFiles {
    let join = |p: String| format!("$work/{p}");
    CheckedFiles {
        valid: cf.valid.into_iter().map(join).collect(),
        omitted: cf.omitted.into_iter().map(|(p, r)| (join(p), r)).collect(),
        invalid: cf.invalid.into_iter().map(|(p, r)| (join(p), r)).collect(),
        size_error: cf.size_error,
    }
}

/// zip_test.go `TestCheckDir` for one case.
fn run_check_dir(case: &str) {
    let (_, files) = load("check_dir", case);
    let (want, files) = want_and_files(files);
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &files);
    let cf = check_dir(&list_dir(dir.path()).unwrap());
    assert_eq!(format_checked(&under_work(cf)), want);
}

macro_rules! cases {
    ($runner:ident: $($test:ident => $case:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $runner($case);
            }
        )*
    };
}

cases! { run_create:
    create_bad_file_path => "bad_file_path",
    create_bad_gomod_case => "bad_gomod_case",
    create_bad_mod_path => "bad_mod_path",
    create_bad_mod_path_version_suffix => "bad_mod_path_version_suffix",
    create_bad_version => "bad_version",
    create_dup_file => "dup_file",
    create_dup_file_and_dir => "dup_file_and_dir",
    create_empty => "empty",
    create_exclude_cap_go_mod_submodule => "exclude_cap_go_mod_submodule",
    create_exclude_submodule => "exclude_submodule",
    create_exclude_vendor => "exclude_vendor",
    create_exclude_vendor_go124 => "exclude_vendor_go124",
    create_file_case_conflict => "file_case_conflict",
    create_go_mod_dir => "go_mod_dir",
    create_invalid_utf8_mod_path => "invalid_utf8_mod_path",
    create_simple => "simple",
}

cases! { run_create_from_dir:
    create_from_dir_bad_file_path => "bad_file_path",
    create_from_dir_bad_gomod_case => "bad_gomod_case",
    create_from_dir_bad_mod_path => "bad_mod_path",
    create_from_dir_bad_mod_path_version_suffix => "bad_mod_path_version_suffix",
    create_from_dir_bad_version => "bad_version",
    create_from_dir_empty => "empty",
    create_from_dir_exclude_submodule => "exclude_submodule",
    create_from_dir_exclude_vcs => "exclude_vcs",
    create_from_dir_exclude_vendor => "exclude_vendor",
    create_from_dir_exclude_vendor_go124 => "exclude_vendor_go124",
    create_from_dir_go_mod_dir => "go_mod_dir",
    create_from_dir_invalid_utf8_mod_path => "invalid_utf8_mod_path",
    create_from_dir_simple => "simple",
}

cases! { run_check_files:
    check_files_empty => "empty",
    check_files_various => "various",
    check_files_various_go123 => "various_go123",
    check_files_various_go124 => "various_go124",
}

cases! { run_check_dir:
    check_dir_empty => "empty",
    check_dir_various => "various",
    check_dir_various_go123 => "various_go123",
    check_dir_various_go124 => "various_go124",
}

#[test]
fn conformance_every_creation_case_has_a_test() {
    let create = [
        "bad_file_path",
        "bad_gomod_case",
        "bad_mod_path",
        "bad_mod_path_version_suffix",
        "bad_version",
        "dup_file",
        "dup_file_and_dir",
        "empty",
        "exclude_cap_go_mod_submodule",
        "exclude_submodule",
        "exclude_vendor",
        "exclude_vendor_go124",
        "file_case_conflict",
        "go_mod_dir",
        "invalid_utf8_mod_path",
        "simple",
    ];
    assert_all_covered("create", &create);
    assert_all_covered(
        "create_from_dir",
        &[
            "bad_file_path",
            "bad_gomod_case",
            "bad_mod_path",
            "bad_mod_path_version_suffix",
            "bad_version",
            "empty",
            "exclude_submodule",
            "exclude_vcs",
            "exclude_vendor",
            "exclude_vendor_go124",
            "go_mod_dir",
            "invalid_utf8_mod_path",
            "simple",
        ],
    );
    let various = ["empty", "various", "various_go123", "various_go124"];
    assert_all_covered("check_files", &various);
    assert_all_covered("check_dir", &various);
}

// zip_test.go TestCreateFromDirSpecial.

#[test]
fn create_from_dir_omits_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let (h1, zip) = create_from_dir(dir.path(), "example.com/m", "v1.0.0");
    assert_eq!(h1.unwrap(), EMPTY_HASH);
    assert_uploads_with_h1(&zip, "example.com/m", "v1.0.0", EMPTY_HASH);
}

#[cfg(unix)]
#[test]
fn create_from_dir_omits_symlink_without_following_it() {
    let dir = tempfile::tempdir().unwrap();
    // A link to the module root itself: following it would never end.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("link")).unwrap();
    let tree = list_dir(dir.path()).unwrap();
    assert_eq!(tree.entries.len(), 1);
    assert_eq!(tree.entries[0].kind, FileKind::Symlink);
    let checked = check_dir(&tree);
    assert_eq!(
        checked.omitted,
        [("link".to_owned(), "not a regular file".to_owned())]
    );
    let (h1, _) = create_from_dir(dir.path(), "example.com/m", "v1.0.0");
    assert_eq!(h1.unwrap(), EMPTY_HASH);
}

#[test]
fn create_from_dir_includes_module_root_named_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join("vendor");
    std::fs::create_dir(&vendor).unwrap();
    std::fs::write(vendor.join("go.mod"), "module example.com/m\n\ngo 1.13\n").unwrap();
    let (h1, zip) = create_from_dir(&vendor, "example.com/m", "v1.0.0");
    let want = "h1:XduFAgX/GaspZa8Jv4pfzoGEzNaU/r88PiCunijw5ok=";
    assert_eq!(h1.unwrap(), want);
    assert_uploads_with_h1(&zip, "example.com/m", "v1.0.0", want);
}

/// A tree with something of every kind: what zip_dir writes validates as an upload with the
/// h1 write_zip returned, and holds exactly the valid files, in check order.
#[cfg(unix)]
#[test]
fn zip_dir_output_validates_with_its_own_h1() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tree(
        root,
        &[
            (
                b"go.mod".to_vec(),
                b"module example.com/m/v2\n\ngo 1.24\n".to_vec(),
            ),
            (b"LICENSE".to_vec(), b"MIT\n".to_vec()),
            (b"m.go".to_vec(), b"package m\n".to_vec()),
            (b"internal/x/x.go".to_vec(), vec![b'x'; 200_000]),
            (
                b"pkg/vendor/vendor.go".to_vec(),
                b"package vendor\n".to_vec(),
            ),
            (
                b"vendor/modules.txt".to_vec(),
                b"# example.com/dep\n".to_vec(),
            ),
            (
                b"vendor/example.com/dep/d.go".to_vec(),
                b"package dep\n".to_vec(),
            ),
            (
                b"tools/go.mod".to_vec(),
                b"module example.com/m/tools\n".to_vec(),
            ),
            (b"tools/t.go".to_vec(), b"package tools\n".to_vec()),
            (b".git/HEAD".to_vec(), b"ref: refs/heads/main\n".to_vec()),
            (b".hg_archival.txt".to_vec(), b"repo: x\n".to_vec()),
        ],
    );
    std::os::unix::fs::symlink("m.go", root.join("alias.go")).unwrap();
    let tree = list_dir(root).unwrap();
    assert_eq!(tree.go_version.as_deref(), Some("1.24"));
    let checked = check_dir(&tree);
    assert_eq!(checked.error(), None);
    assert_eq!(
        checked.valid,
        [
            "LICENSE",
            "go.mod",
            "internal/x/x.go",
            "m.go",
            "pkg/vendor/vendor.go"
        ]
    );
    let mut out = Cursor::new(Vec::new());
    let h1 = zip_dir(root, "example.com/m/v2", "v2.1.0", &checked.valid, &mut out).unwrap();
    let zip = out.into_inner();
    let summary = validate(
        Cursor::new(&zip),
        zip.len() as u64,
        "example.com/m/v2",
        "v2.1.0",
    )
    .unwrap();
    assert_eq!(summary.h1, h1);
    let files = crate::support::modzip::listing(&zip, "example.com/m/v2@v2.1.0/");
    assert_eq!(summary.files, files.len());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, checked.valid);
    assert_eq!(files[2].1, 200_000);
    // The same files given in another order hash the same (h1 sorts names).
    let mut reversed = checked.valid.clone();
    reversed.reverse();
    let again = zip_dir(
        root,
        "example.com/m/v2",
        "v2.1.0",
        &reversed,
        Cursor::new(Vec::new()),
    )
    .unwrap();
    assert_eq!(again, h1);
}

#[test]
fn zip_dir_fails_when_a_file_changes_size_after_listing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.go"), "package a\n").unwrap();
    let tree = list_dir(dir.path()).unwrap();
    let entries = check_dir(&tree);
    std::fs::write(dir.path().join("a.go"), "package a // longer\n").unwrap();
    // zip_dir stats again, so a change before it runs is picked up and zipped consistently;
    // write_zip itself holds a reader to the size it was given.
    let mut out = Cursor::new(Vec::new());
    assert!(zip_dir(
        dir.path(),
        "example.com/m",
        "v1.0.0",
        &entries.valid,
        &mut out
    )
    .is_ok());
    let err = create::write_zip(
        Cursor::new(Vec::new()),
        "example.com/m",
        "v1.0.0",
        &tree.entries,
        |f| std::fs::File::open(dir.path().join(&f.path)),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ZipError::Io("file \"a.go\" is larger than declared size".to_owned())
    );
}

#[test]
fn check_dir_of_empty_tree_is_empty() {
    assert_eq!(check_dir(&Tree::default()), CheckedFiles::default());
}
