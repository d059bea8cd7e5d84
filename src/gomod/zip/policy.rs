//! The rules a registry adds to Go's checkZip (spec.md §2.4, §3.4, §3.5, §8): versions the go
//! command would never produce, and entries a module zip never holds (links, encrypted or
//! foreign-compressed data, names that are not UTF-8, directories with content or listed
//! twice, a Unicode path field that renames an entry).

use std::collections::HashSet;

use super::archive::{Directory, Entry};
use super::{problem_list, ZipError};
use crate::gomod::path::{self, go_quote};
use crate::gomod::version::{self, VersionError};

/// The version rules (spec.md §2.4, §3.4, §3.5, §8 steps 3–4).
pub(super) fn check_version(path: &str, version: &str) -> Result<(), ZipError> {
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
    if let Some(pseudo) = version::pseudo(version) {
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
        let rev = pseudo.rev;
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

/// The per-entry rules, over every entry of a zip checkZip accepted: every problem, one line
/// each (at most `ERROR_LINES`, then how many more), then a Unicode path field that renames
/// an entry.
pub(super) fn check_entries(dir: &Directory) -> Result<(), ZipError> {
    // checkZip allows a directory twice; a second copy is one entry too many to verify.
    let mut directories: HashSet<&[u8]> = HashSet::new();
    let problems = dir.entries.iter().filter_map(|e| {
        let name = dir.name(e);
        let problem = upload_problem(name, e).or_else(|| {
            (name.ends_with(b"/") && !directories.insert(name))
                .then(|| "duplicate directory entry (list each directory once)".to_owned())
        });
        problem.map(|p| (e, p))
    });
    if let Some(text) = problem_list(problems, |(e, p)| format!("{}: {p}", dir.display_name(e))) {
        return Err(ZipError::Invalid(text));
    }
    if let Some(e) = dir.entries.iter().find(|e| e.unicode_differs) {
        return Err(ZipError::Invalid(format!(
            "{}: the Info-ZIP Unicode path field names the entry differently",
            dir.display_name(e)
        )));
    }
    Ok(())
}

/// Zip host systems whose external attributes carry a Unix mode in their upper 16 bits.
const HOST_UNIX: u16 = 3;
const HOST_MACOS: u16 = 19;
const MODE_TYPE: u32 = 0o170_000;
const MODE_REGULAR: u32 = 0o100_000;
const MODE_DIR: u32 = 0o040_000;
const MODE_SYMLINK: u32 = 0o120_000;

/// The per-entry upload rules of spec.md §2.4 that checkZip leaves out.
fn upload_problem(name: &[u8], e: &Entry) -> Option<String> {
    if std::str::from_utf8(name).is_err() {
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
    let is_dir = name.ends_with(b"/");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gomod::zip::archive::read_directory;
    use crate::gomod::zip::rawzip::{
        unicode_field, write_zip, RawEntry, FLAG_ENCRYPTED, FLAG_STRONG_ENCRYPTION,
    };
    use crate::gomod::zip::ERROR_LINES;
    use std::io::Cursor;

    const M: &str = "example.com/m@v1.0.0/";

    /// `check_entries` over the directory of a zip of `entries` (each name under `M`).
    fn entries(entries: &[RawEntry]) -> Result<(), String> {
        let entries: Vec<RawEntry> = entries
            .iter()
            .map(|e| RawEntry {
                name: [M.as_bytes(), &e.name].concat(),
                ..e.clone()
            })
            .collect();
        let bytes = write_zip(&entries).into_bytes();
        let dir = read_directory(&mut Cursor::new(&bytes), bytes.len() as u64)
            .map_err(|e| format!("not read: {e:?}"))?;
        match check_entries(&dir) {
            Ok(()) => Ok(()),
            Err(ZipError::Invalid(why)) => Err(why),
            Err(other) => Err(format!("not Invalid: {other:?}")),
        }
    }

    fn file(name: &str) -> RawEntry {
        RawEntry::stored(name, b"package m\n")
    }

    /// `version_made_by` for host system `host`, zip 3.0.
    fn made_on(mut e: RawEntry, host: u16) -> RawEntry {
        e.version_made_by = (host << 8) | 30;
        e
    }

    #[test]
    fn regular_files_and_directories_pass() {
        let ok = [
            file("go.mod"),
            RawEntry::deflated("m.go", b"package m\n"),
            RawEntry::dir("sub/"),
            file("sub/a.go"),
            // Mode type 0 (some writers leave it out), and a flag bit that is not encryption
            // (bit 11: the name is UTF-8).
            file("b.go").mode(0o644).flags(1 << 11),
        ];
        assert_eq!(entries(&ok), Ok(()));
    }

    #[test]
    fn each_entry_rule_names_the_entry_and_its_problem() {
        let cases: Vec<(RawEntry, String)> = vec![
            (
                RawEntry::stored(b"\xffm.go", b"x"),
                format!("{M}\u{fffd}m.go: file name is not valid UTF-8"),
            ),
            (
                file("m.go").flags(FLAG_ENCRYPTED),
                format!("{M}m.go: encrypted entries are not allowed"),
            ),
            (
                file("m.go").flags(FLAG_STRONG_ENCRYPTION),
                format!("{M}m.go: encrypted entries are not allowed"),
            ),
            (
                file("m.go").method(12).compressed(b"BZh".to_vec()),
                format!(
                    "{M}m.go: unsupported compression method 12 (only 0, store, and 8, deflate, \
                     are allowed)"
                ),
            ),
            (
                file("m.go").method(1).compressed(b"x".to_vec()),
                format!(
                    "{M}m.go: unsupported compression method 1 (only 0, store, and 8, deflate, \
                     are allowed)"
                ),
            ),
            (
                file("link").mode(0o120_777),
                format!("{M}link: symbolic links are not allowed"),
            ),
            (
                made_on(file("link").mode(0o120_777), HOST_MACOS),
                format!("{M}link: symbolic links are not allowed"),
            ),
            (
                file("d").mode(0o040_755),
                format!("{M}d: directory mode on an entry whose name does not end in /"),
            ),
            (
                file("fifo").mode(0o010_644),
                format!("{M}fifo: not a regular file or directory (mode 0o10644)"),
            ),
            (
                RawEntry::stored("d/", b"x").mode(0o040_755),
                format!("{M}d/: directory entry has content"),
            ),
        ];
        for (entry, want) in cases {
            assert_eq!(entries(&[file("go.mod"), entry]), Err(want));
        }
    }

    #[test]
    fn modes_count_only_from_unix_and_macos_hosts() {
        // MS-DOS (0) and NTFS (10) keep other things in the external attributes.
        for host in [0, 10] {
            let e = made_on(file("link").mode(0o120_777), host);
            assert_eq!(entries(&[e]), Ok(()), "host {host}");
        }
    }

    #[test]
    fn a_directory_listed_twice_is_refused_but_files_are_left_to_checkzip() {
        let twice = [RawEntry::dir("d/"), file("d/a.go"), RawEntry::dir("d/")];
        assert_eq!(
            entries(&twice),
            Err(format!(
                "{M}d/: duplicate directory entry (list each directory once)"
            ))
        );
        // Two files of one name are checkZip's to refuse (`multiple entries for file`).
        assert_eq!(entries(&[file("a.go"), file("a.go")]), Ok(()));
    }

    #[test]
    fn at_most_error_lines_problems_are_listed_then_how_many_more() {
        let bad = |n: usize| -> Vec<RawEntry> {
            (0..n)
                .map(|i| file(&format!("l{i}")).mode(0o120_777))
                .collect()
        };
        let why = entries(&bad(ERROR_LINES)).unwrap_err();
        assert_eq!(why.lines().count(), ERROR_LINES, "{why}");
        assert!(!why.contains("more invalid entries"), "{why}");
        let why = entries(&bad(ERROR_LINES + 3)).unwrap_err();
        let lines: Vec<&str> = why.lines().collect();
        assert_eq!(lines.len(), ERROR_LINES + 1, "{why}");
        assert_eq!(lines[0], format!("{M}l0: symbolic links are not allowed"));
        assert_eq!(lines[ERROR_LINES], "... and 3 more invalid entries");
    }

    #[test]
    fn a_unicode_path_field_may_not_rename_an_entry() {
        let same = file("m.go").extra(unicode_field(format!("{M}m.go").as_bytes()));
        assert_eq!(entries(&[same]), Ok(()));
        let renamed = file("m.go").extra(unicode_field(format!("{M}n.go").as_bytes()));
        assert_eq!(
            entries(&[file("go.mod"), renamed.clone()]),
            Err(format!(
                "{M}m.go: the Info-ZIP Unicode path field names the entry differently"
            ))
        );
        // The per-entry problems are told first.
        assert_eq!(
            entries(&[renamed, file("l").mode(0o120_777)]),
            Err(format!("{M}l: symbolic links are not allowed"))
        );
    }

    fn refused(path: &str, version: &str) -> String {
        match check_version(path, version) {
            Err(ZipError::Invalid(why)) => why,
            other => panic!("{path}@{version}: {other:?}"),
        }
    }

    #[test]
    fn incompatible_needs_a_major_version_above_one_and_a_path_without_suffix() {
        assert!(check_version("example.com/m", "v2.0.0+incompatible").is_ok());
        assert!(check_version("example.com/m", "v3.1.0-rc.1+incompatible").is_ok());
        for v in ["v0.1.0+incompatible", "v1.2.0+incompatible"] {
            let why = refused("example.com/m", v);
            assert!(why.contains("major version v"), "{why}");
            assert!(
                why.starts_with(&format!("example.com/m@{v}: invalid version")),
                "{why}"
            );
        }
        let why = refused("example.com/m/v2", "v2.0.0+incompatible");
        assert!(
            why.contains("module path has major version suffix \"/v2\""),
            "{why}"
        );
        // Without +incompatible neither rule applies.
        assert!(check_version("example.com/m", "v1.2.0").is_ok());
        assert!(check_version("example.com/m/v2", "v2.0.0").is_ok());
    }

    #[test]
    fn a_pseudo_version_needs_a_time_a_base_and_a_twelve_character_hex_revision() {
        let ok = [
            "v0.0.0-20240102030405-abcdefabcdef",
            "v1.2.4-0.20240102030405-0123456789ab",
            "v2.0.1-0.20240102030405-abcdefabcdef+incompatible",
        ];
        for v in ok {
            let got = check_version("example.com/m", v);
            assert!(got.is_ok(), "{v}: {got:?}");
        }
        for (v, says) in [
            (
                "v0.0.0-20241302030405-abcdefabcdef",
                "invalid pseudo-version",
            ),
            (
                "v0.0.0-20240102030405-ABCDEFABCDEF",
                "revision \"ABCDEFABCDEF\"",
            ),
            (
                "v0.0.0-20240102030405-abcdefabcde",
                "revision \"abcdefabcde\"",
            ),
            (
                "v0.0.0-20240102030405-abcdefabcdefa",
                "revision \"abcdefabcdefa\"",
            ),
            (
                "v0.0.0-20240102030405-abcdefabcdeg",
                "revision \"abcdefabcdeg\"",
            ),
            (
                "v2.0.1-0.20240102030405-abcdefabcde+incompatible",
                "revision \"abcdefabcde\"",
            ),
            (
                "v2.0.0-20240102030405-abcdefabcdef+incompatible",
                "lacks base version",
            ),
        ] {
            let why = refused("example.com/m", v);
            assert!(why.contains(says), "{v}: {why}");
            assert!(why.contains("invalid pseudo-version"), "{v}: {why}");
        }
    }
}
