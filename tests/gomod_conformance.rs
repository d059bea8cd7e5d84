//! golang.org/x/mod/zip's conformance cases (spec.md §2.6), run against `gomod::zip`.
//!
//! The cases are copied, with their LICENSE, into tests/fixtures/xmod-zip. Each `unzip/*.txt`
//! becomes a zip whose entries are the txtar files, names verbatim and in order, deflated, as
//! x/mod's `TestUnzip` builds them; `validate` must fail with an error containing `wantErr`, or
//! succeed with `h1 == hash`. Each `check_zip/*.txt` runs `check_zip` and compares Go's
//! `formatCheckedFiles` rendering with the case's `want` file byte for byte. The create,
//! create_from_dir, check_files and check_dir sets run in gomod_create.rs, with the txtar
//! reader shared from here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Cursor;
use std::path::PathBuf;

use goshelf::gomod::path::check_path_bytes;
use goshelf::gomod::zip::{check_zip, validate, CheckedFiles};

use crate::gomod_zipkit::{deflate_zip, Entry};

/// A parsed txtar archive (golang.org/x/tools/txtar), on bytes.
#[derive(Debug, Default)]
pub(crate) struct Txtar {
    pub(crate) comment: Vec<u8>,
    pub(crate) files: Vec<Entry>,
}

/// txtar `Parse`: a comment, then sections that each start at a `-- NAME --` line.
pub(crate) fn parse_txtar(data: &[u8]) -> Txtar {
    let mut archive = Txtar::default();
    let (comment, mut name, mut rest) = find_marker(data);
    archive.comment = comment;
    while let Some(file) = name {
        let (body, next, after) = find_marker(rest);
        archive.files.push((file, body));
        name = next;
        rest = after;
    }
    archive
}

/// txtar `findFileMarker`: the data before the next marker line, its name and what follows.
/// Without another marker, the data gets a final newline if it lacks one.
fn find_marker(data: &[u8]) -> (Vec<u8>, Option<Vec<u8>>, &[u8]) {
    let mut i = 0;
    loop {
        if let Some((name, after)) = is_marker(&data[i..]) {
            return (data[..i].to_vec(), Some(name), after);
        }
        match data[i..].windows(4).position(|w| w == b"\n-- ") {
            Some(j) => i += j + 1,
            None => {
                let mut tail = data.to_vec();
                if !tail.is_empty() && !tail.ends_with(b"\n") {
                    tail.push(b'\n');
                }
                return (tail, None, &[]);
            }
        }
    }
}

/// txtar `isMarker`: `-- NAME --` with a non-empty trimmed name.
fn is_marker(data: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if !data.starts_with(b"-- ") {
        return None;
    }
    let (line, after) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    if !line.ends_with(b" --") || line.len() < 6 {
        return None;
    }
    let name = line[3..line.len() - 3].trim_ascii();
    (!name.is_empty()).then(|| (name.to_vec(), after))
}

/// The keys of a case's comment (zip_test.go `readTest`).
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub(crate) path: Vec<u8>,
    pub(crate) version: String,
    pub(crate) want_err: Option<String>,
    pub(crate) hash: Option<String>,
}

pub(crate) fn read_params(comment: &[u8]) -> Params {
    let mut p = Params::default();
    for line in comment.split(|&b| b == b'\n') {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .expect("missing = separator");
        let key = std::str::from_utf8(line[..eq].trim_ascii()).unwrap();
        let value = line[eq + 1..].trim_ascii().to_vec();
        assert!(
            !value.starts_with(b"\""),
            "quoted values are not used by these cases"
        );
        let text = || String::from_utf8(value.clone()).unwrap();
        match key {
            "path" => p.path = value,
            "version" => p.version = text(),
            "wantErr" => p.want_err = Some(text()),
            "hash" => p.hash = Some(text()),
            other => panic!("unknown key {other:?}"),
        }
    }
    p
}

pub(crate) fn fixtures(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/xmod-zip")
        .join(set)
}

pub(crate) fn load(set: &str, case: &str) -> (Params, Vec<Entry>) {
    let file = fixtures(set).join(format!("{case}.txt"));
    let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let archive = parse_txtar(&data);
    (read_params(&archive.comment), archive.files)
}

/// zip_test.go `TestUnzip` for one case.
fn run_unzip(case: &str) {
    let (p, files) = load("unzip", case);
    let Ok(path) = std::str::from_utf8(&p.path) else {
        // `validate` takes the path as &str, so a non-UTF-8 path cannot reach it; its first
        // step is this check, which gives Go's text for the raw bytes.
        let err = check_path_bytes(&p.path).unwrap_err().0;
        let want = p.want_err.expect("a non-UTF-8 path must be an error case");
        assert!(
            err.contains(&want),
            "error {err:?} does not contain {want:?}"
        );
        return;
    };
    let zip = deflate_zip(&files);
    let got = validate(Cursor::new(&zip), zip.len() as u64, path, &p.version);
    match (p.want_err, p.hash) {
        (Some(want), _) => {
            let err = got
                .expect_err("validate accepted a zip Go rejects")
                .to_string();
            assert!(
                err.contains(&want),
                "error {err:?} does not contain {want:?}"
            );
        }
        (None, Some(hash)) => {
            let summary = got.unwrap_or_else(|e| panic!("validate rejected a valid zip: {e}"));
            assert_eq!(summary.h1, hash);
        }
        (None, None) => panic!("case {case} has neither wantErr nor hash"),
    }
}

/// zip_test.go `formatCheckedFiles`.
pub(crate) fn format_checked(cf: &CheckedFiles) -> String {
    let mut out = String::from("valid:\n");
    for name in &cf.valid {
        out.push_str(&format!("{name}\n"));
    }
    out.push_str("\nomitted:\n");
    for (name, reason) in &cf.omitted {
        out.push_str(&format!("{name}: {reason}\n"));
    }
    out.push_str("\ninvalid:\n");
    for (name, reason) in &cf.invalid {
        out.push_str(&format!("{name}: {reason}\n"));
    }
    out
}

/// zip_test.go `TestCheckZip` for one case.
fn run_check_zip(case: &str) {
    let (p, files) = load("check_zip", case);
    let (want, entries): (Vec<Entry>, Vec<Entry>) =
        files.into_iter().partition(|(name, _)| name == b"want");
    let want = String::from_utf8(want.into_iter().next().expect("a want file").1).unwrap();
    let zip = deflate_zip(&entries);
    let path = std::str::from_utf8(&p.path).unwrap();
    let cf = check_zip(Cursor::new(&zip), zip.len() as u64, path, &p.version).unwrap();
    assert_eq!(format_checked(&cf), want);
    // The error is exactly the list of invalid files (CheckZip's SizeError is not covered).
    let joined: Vec<String> = cf
        .invalid
        .iter()
        .map(|(n, r)| format!("{n}: {r}"))
        .collect();
    assert_eq!(
        cf.error_text(),
        (!joined.is_empty()).then(|| joined.join("\n"))
    );
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

cases! { run_unzip:
    unzip_bad_file_path => "bad_file_path",
    unzip_bad_gomod_case => "bad_gomod_case",
    unzip_bad_mod_path => "bad_mod_path",
    unzip_bad_mod_path_version_suffix => "bad_mod_path_version_suffix",
    unzip_bad_submodule => "bad_submodule",
    unzip_bad_version => "bad_version",
    unzip_cap_go_mod_not_submodule => "cap_go_mod_not_submodule",
    unzip_dup_file => "dup_file",
    unzip_dup_file_and_dir => "dup_file_and_dir",
    unzip_empty => "empty",
    unzip_file_case_conflict => "file_case_conflict",
    unzip_go_mod_dir => "go_mod_dir",
    unzip_invalid_utf8_mod_path => "invalid_utf8_mod_path",
    unzip_prefix_only => "prefix_only",
    unzip_simple => "simple",
}

cases! { run_check_zip:
    check_zip_empty => "empty",
    check_zip_various => "various",
}

/// Every case file of `set` has a test above, so a new fixture cannot be skipped silently.
pub(crate) fn assert_all_covered(set: &str, covered: &[&str]) {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures(set))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut covered: Vec<&str> = covered.to_vec();
    covered.sort_unstable();
    assert_eq!(on_disk, covered);
}

#[test]
fn conformance_every_unzip_and_check_zip_case_has_a_test() {
    assert_all_covered(
        "unzip",
        &[
            "bad_file_path",
            "bad_gomod_case",
            "bad_mod_path",
            "bad_mod_path_version_suffix",
            "bad_submodule",
            "bad_version",
            "cap_go_mod_not_submodule",
            "dup_file",
            "dup_file_and_dir",
            "empty",
            "file_case_conflict",
            "go_mod_dir",
            "invalid_utf8_mod_path",
            "prefix_only",
            "simple",
        ],
    );
    assert_all_covered("check_zip", &["empty", "various"]);
}

#[test]
fn txtar_parse_splits_sections_and_adds_final_newline() {
    let a = parse_txtar(
        b"path=x\n-- a --\none\n-- b --\ntwo\n--  --\nstill b\n-- dup --\n-- dup --\nend",
    );
    assert_eq!(a.comment, b"path=x\n");
    let names: Vec<&[u8]> = a.files.iter().map(|(n, _)| n.as_slice()).collect();
    assert_eq!(names, [&b"a"[..], b"b", b"dup", b"dup"]);
    assert_eq!(a.files[0].1, b"one\n");
    assert_eq!(a.files[1].1, b"two\n--  --\nstill b\n");
    assert_eq!(a.files[2].1, b"");
    assert_eq!(a.files[3].1, b"end\n");
    let raw = parse_txtar(b"path=\xff  # 0xFF\n");
    assert_eq!(read_params(&raw.comment).path, b"\xff");
}
