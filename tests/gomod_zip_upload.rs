//! The upload rules `gomod::zip::validate` adds to Go's checkZip (spec.md §2.4, §8): entry
//! methods, flags and modes, CRCs and real sizes, `+incompatible`, pseudo-versions, the root
//! go.mod, directory entries in the h1, and archives that are not zips at all. Crafted archives
//! are made by patching single header fields of a zip the zip crate wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Cursor, Write};

use goshelf::gomod::hash::hash_go_mod;
use goshelf::gomod::zip::{validate, ZipSummary, MAX_FILES};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::gomod_zipkit::{
    add_flags, add_unicode_path_to_last, build_zip, data_range, deflate_zip, entries,
    independent_h1, set_local_name, set_method, set_uncompressed_size, set_unix_mode,
};

const GO_MOD: &str = "module example.com/m\n\ngo 1.19\n";

fn upload(zip: &[u8], path: &str, version: &str) -> Result<ZipSummary, String> {
    validate(Cursor::new(zip), zip.len() as u64, path, version).map_err(|e| e.to_string())
}

fn rejected(zip: &[u8], path: &str, version: &str) -> String {
    match upload(zip, path, version) {
        Ok(s) => panic!("accepted {path}@{version} with h1 {}", s.h1),
        Err(e) => e,
    }
}

fn assert_contains(err: &str, want: &str) {
    assert!(
        err.contains(want),
        "error {err:?} does not contain {want:?}"
    );
}

/// A small valid module at example.com/m@v1.0.0: go.mod and one Go file.
fn module(method: CompressionMethod) -> Vec<u8> {
    build_zip(
        &entries(&[
            ("example.com/m@v1.0.0/go.mod", GO_MOD),
            ("example.com/m@v1.0.0/m.go", "package m\n\nconst X = 42\n"),
        ]),
        method,
    )
}

#[test]
fn upload_accepts_stored_and_deflated_entries_with_equal_h1() {
    let stored = upload(
        &module(CompressionMethod::Stored),
        "example.com/m",
        "v1.0.0",
    )
    .unwrap();
    let deflated = upload(
        &module(CompressionMethod::Deflated),
        "example.com/m",
        "v1.0.0",
    )
    .unwrap();
    let want = independent_h1(&[
        ("example.com/m@v1.0.0/go.mod", GO_MOD.as_bytes()),
        ("example.com/m@v1.0.0/m.go", b"package m\n\nconst X = 42\n"),
    ]);
    assert_eq!(stored.h1, want);
    assert_eq!(deflated.h1, want);
    assert_eq!(stored.mod_bytes, GO_MOD.as_bytes());
    assert_eq!(stored.mod_h1, hash_go_mod(GO_MOD.as_bytes()));
    assert!(stored.has_go_mod);
}

#[test]
fn upload_rejects_symlink_entry() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    w.start_file("example.com/m@v1.0.0/go.mod", options)
        .unwrap();
    w.write_all(GO_MOD.as_bytes()).unwrap();
    w.add_symlink("example.com/m@v1.0.0/link.go", "/etc/passwd", options)
        .unwrap();
    let zip = w.finish().unwrap().into_inner();
    let err = rejected(&zip, "example.com/m", "v1.0.0");
    assert_eq!(
        err,
        "example.com/m@v1.0.0/link.go: symbolic links are not allowed"
    );
}

#[test]
fn upload_rejects_crafted_symlink_and_device_modes() {
    let mut zip = module(CompressionMethod::Stored);
    set_unix_mode(&mut zip, 1, 0o120_777);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "m.go: symbolic links are not allowed",
    );
    let mut zip = module(CompressionMethod::Stored);
    set_unix_mode(&mut zip, 1, 0o010_644);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "m.go: not a regular file or directory (mode 0o10644)",
    );
    let mut zip = module(CompressionMethod::Stored);
    set_unix_mode(&mut zip, 1, 0o100_755);
    upload(&zip, "example.com/m", "v1.0.0").unwrap();
}

#[test]
fn upload_rejects_bzip2_and_other_methods() {
    for method in [12_u16, 14, 93, 99, 1] {
        let mut zip = module(CompressionMethod::Stored);
        set_method(&mut zip, 1, method);
        let err = rejected(&zip, "example.com/m", "v1.0.0");
        assert_contains(
            &err,
            &format!("example.com/m@v1.0.0/m.go: unsupported compression method {method}"),
        );
    }
}

#[test]
fn upload_rejects_encrypted_entry() {
    let mut zip = module(CompressionMethod::Stored);
    add_flags(&mut zip, 0, 0x1);
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/go.mod: encrypted entries are not allowed"
    );
}

#[test]
fn upload_rejects_crc_mismatch() {
    let mut zip = module(CompressionMethod::Stored);
    let data = data_range(&zip, 1);
    zip[data.start] ^= 0x20;
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/m.go: zip: checksum error"
    );
}

#[test]
fn upload_rejects_entry_larger_than_declared() {
    let mut zip = module(CompressionMethod::Stored);
    let real = data_range(&zip, 1).len() as u32;
    set_uncompressed_size(&mut zip, 1, real - 1);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/m.go: uncompressed size is larger than declared size",
    );
}

#[test]
fn upload_rejects_entry_smaller_than_declared() {
    let mut zip = module(CompressionMethod::Stored);
    let real = data_range(&zip, 1).len() as u32;
    set_uncompressed_size(&mut zip, 1, real + 5);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/m.go: uncompressed size is smaller than declared size",
    );
}

#[test]
fn upload_stops_a_zip_bomb_at_its_declared_size() {
    // 16 MiB of zeros deflate to a few KiB; the entry claims 100 bytes.
    let bomb = vec![0_u8; 16 << 20];
    let mut zip = build_zip(
        &[
            (
                b"example.com/m@v1.0.0/go.mod".to_vec(),
                GO_MOD.as_bytes().to_vec(),
            ),
            (b"example.com/m@v1.0.0/bomb.txt".to_vec(), bomb),
        ],
        CompressionMethod::Deflated,
    );
    assert!(zip.len() < 1 << 20);
    set_uncompressed_size(&mut zip, 1, 100);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "bomb.txt: uncompressed size is larger than declared size (100 bytes)",
    );
}

#[test]
fn upload_rejects_local_header_that_disagrees_with_central_directory() {
    let mut zip = module(CompressionMethod::Deflated);
    set_local_name(&mut zip, 1, b"example.com/m@v1.0.0/x.go");
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/m.go: zip: not a valid zip file",
    );
}

#[test]
fn upload_rejects_unicode_path_field_that_renames_an_entry() {
    // Go reads the stored name; a reader honouring the Info-ZIP field would see another file.
    let mut zip = module(CompressionMethod::Deflated);
    add_unicode_path_to_last(&mut zip, b"example.com/m@v1.0.0/evil.go");
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/m.go: the Info-ZIP Unicode path field names the entry differently"
    );
}

#[test]
fn upload_rejects_non_utf8_name() {
    let zip = deflate_zip(&[
        (
            b"example.com/m@v1.0.0/go.mod".to_vec(),
            GO_MOD.as_bytes().to_vec(),
        ),
        (
            b"example.com/m@v1.0.0/\xffbad.go".to_vec(),
            b"package m\n".to_vec(),
        ),
    ]);
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        r#": malformed file path "\xffbad.go": invalid UTF-8"#,
    );
}

#[test]
fn upload_lists_every_invalid_entry_one_per_line() {
    let zip = deflate_zip(&entries(&[
        ("example.com/m@v1.0.0/a'.go", ""),
        ("other.com/x@v1.0.0/b.go", ""),
    ]));
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/a'.go: malformed file path \"a'.go\": invalid char '\\''\n\
         other.com/x@v1.0.0/b.go: path does not have prefix \"example.com/m@v1.0.0/\""
    );
}

#[test]
fn upload_incompatible_without_go_mod_is_accepted_with_synthetic_mod() {
    let zip = deflate_zip(&entries(&[(
        "example.com/m@v2.0.0+incompatible/m.go",
        "package m\n",
    )]));
    let s = upload(&zip, "example.com/m", "v2.0.0+incompatible").unwrap();
    assert!(!s.has_go_mod);
    assert_eq!(s.mod_bytes, b"module example.com/m\n");
    assert_eq!(s.mod_h1, hash_go_mod(b"module example.com/m\n"));
    assert_eq!(s.version.as_str(), "v2.0.0+incompatible");
}

#[test]
fn upload_incompatible_with_major_one_is_rejected() {
    let zip = deflate_zip(&entries(&[(
        "example.com/m@v1.0.0+incompatible/m.go",
        "package m\n",
    )]));
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0+incompatible"),
        "example.com/m@v1.0.0+incompatible: invalid version: +incompatible suffix not allowed: \
         major version v1 is compatible"
    );
}

#[test]
fn upload_incompatible_with_root_go_mod_is_rejected() {
    let zip = deflate_zip(&entries(&[
        ("example.com/m@v2.0.0+incompatible/go.mod", GO_MOD),
        ("example.com/m@v2.0.0+incompatible/m.go", "package m\n"),
    ]));
    assert_contains(
        &rejected(&zip, "example.com/m", "v2.0.0+incompatible"),
        "+incompatible suffix not allowed: module contains a go.mod file, so semantic import \
         versioning is required",
    );
}

#[test]
fn upload_incompatible_on_major_suffixed_path_is_rejected() {
    let zip = deflate_zip(&entries(&[(
        "example.com/m/v2@v2.0.0+incompatible/m.go",
        "package m\n",
    )]));
    assert_contains(
        &rejected(&zip, "example.com/m/v2", "v2.0.0+incompatible"),
        "+incompatible suffix not allowed: module path has major version suffix \"/v2\"",
    );
}

#[test]
fn upload_go_mod_naming_another_module_is_rejected() {
    let zip = deflate_zip(&entries(&[(
        "example.com/m@v1.0.0/go.mod",
        "module example.com/other\n",
    )]));
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/go.mod: module declares its path as \"example.com/other\", but the \
         zip is for \"example.com/m\""
    );
}

#[test]
fn upload_go_mod_without_module_line_is_rejected() {
    let zip = deflate_zip(&entries(&[("example.com/m@v1.0.0/go.mod", "go 1.21\n")]));
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/go.mod: missing module line"
    );
    let zip = deflate_zip(&entries(&[(
        "example.com/m@v1.0.0/go.mod",
        "module \"example.com/m\n",
    )]));
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "go.mod: go.mod:1: unexpected newline in string",
    );
}

#[test]
fn upload_keeps_directory_entries_and_hashes_them_as_empty_files() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    w.add_directory("example.com/m@v1.0.0/", options).unwrap();
    w.start_file("example.com/m@v1.0.0/go.mod", options)
        .unwrap();
    w.write_all(GO_MOD.as_bytes()).unwrap();
    w.add_directory("example.com/m@v1.0.0/pkg/", options)
        .unwrap();
    w.start_file("example.com/m@v1.0.0/pkg/p.go", options)
        .unwrap();
    w.write_all(b"package p\n").unwrap();
    w.add_directory("example.com/m@v1.0.0/empty/", options)
        .unwrap();
    let zip = w.finish().unwrap().into_inner();

    let s = upload(&zip, "example.com/m", "v1.0.0").unwrap();
    let want = independent_h1(&[
        ("example.com/m@v1.0.0/", b""),
        ("example.com/m@v1.0.0/go.mod", GO_MOD.as_bytes()),
        ("example.com/m@v1.0.0/pkg/", b""),
        ("example.com/m@v1.0.0/pkg/p.go", b"package p\n"),
        ("example.com/m@v1.0.0/empty/", b""),
    ]);
    assert_eq!(s.h1, want);
    assert_eq!(s.files, 4);
    let files = crate::support::modzip::listing(&zip, "example.com/m@v1.0.0/");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["go.mod", "pkg/", "pkg/p.go", "empty/"]);
}

#[test]
fn upload_rejects_directory_entry_with_content() {
    let zip = deflate_zip(&entries(&[
        ("example.com/m@v1.0.0/go.mod", GO_MOD),
        ("example.com/m@v1.0.0/dir/", "surprise"),
    ]));
    assert_eq!(
        rejected(&zip, "example.com/m", "v1.0.0"),
        "example.com/m@v1.0.0/dir/: directory entry has content"
    );
}

#[test]
fn upload_accepts_pseudo_versions() {
    for (path, version) in [
        ("example.com/m", "v0.0.0-20200102150405-abcdef123456"),
        ("example.com/m", "v1.2.4-0.20200102150405-abcdef123456"),
        ("example.com/m", "v1.2.3-pre.0.20200102150405-0123456789ab"),
        (
            "example.com/m",
            "v2.0.1-0.20200102150405-abcdef123456+incompatible",
        ),
        ("example.com/m/v3", "v3.0.0-20200102150405-abcdef123456"),
    ] {
        let zip = deflate_zip(&entries(&[(
            &format!("{path}@{version}/a.go"),
            "package a\n",
        )]));
        let s = upload(&zip, path, version).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert!(s.version.is_pseudo(), "{version}");
    }
}

#[test]
fn upload_rejects_malformed_pseudo_versions() {
    let cases = [
        (
            "v0.0.0-20201302150405-abcdef123456",
            "malformed time \"20201302150405\"",
        ),
        ("v1.2.0-0.20200102150405-abcdef123456", "cannot decrement 0"),
        (
            "v1.2.4-0.20200102150405-ABCDEF123456",
            "revision \"ABCDEF123456\" is not a 12-character",
        ),
        (
            "v1.2.4-0.20200102150405-abc",
            "revision \"abc\" is not a 12-character",
        ),
        (
            "v2.0.0-20200102150405-abcdef123456+incompatible",
            "lacks base version, but has build metadata \"+incompatible\"",
        ),
    ];
    for (version, want) in cases {
        let zip = deflate_zip(&entries(&[(
            &format!("example.com/m@{version}/a.go"),
            "package a\n",
        )]));
        let err = rejected(&zip, "example.com/m", version);
        assert_contains(
            &err,
            &format!("example.com/m@{version}: invalid pseudo-version: {want}"),
        );
    }
}

#[test]
fn upload_rejects_truncated_archive() {
    let zip = module(CompressionMethod::Deflated);
    for cut in [1, 10, 22, zip.len() / 2] {
        assert_contains(
            &rejected(&zip[..zip.len() - cut], "example.com/m", "v1.0.0"),
            "zip: not a valid zip file",
        );
    }
}

#[test]
fn upload_rejects_garbage_bytes() {
    let garbage: Vec<u8> = (0..4096_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(
        rejected(&garbage, "example.com/m", "v1.0.0"),
        "zip: not a valid zip file"
    );
}

#[test]
fn upload_rejects_empty_body() {
    assert_eq!(
        rejected(b"", "example.com/m", "v1.0.0"),
        "zip: not a valid zip file"
    );
}

#[test]
fn upload_accepts_empty_zip_as_module_without_files() {
    let zip = deflate_zip(&[]);
    let s = upload(&zip, "example.com/empty", "v1.0.0").unwrap();
    assert_eq!(s.h1, "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_eq!(s.files, 0);
    assert_eq!(s.mod_bytes, b"module example.com/empty\n");
}

#[test]
fn upload_refuses_more_entries_than_max_files_before_reading_them() {
    // An end record that claims MAX_FILES + 1 entries, with no directory behind it.
    let mut zip = deflate_zip(&[]);
    let count = u16::MAX.to_le_bytes();
    zip[8..10].copy_from_slice(&count);
    zip[10..12].copy_from_slice(&count);
    let mut zip64 = Vec::new();
    // zip64 end record (56 bytes), locator (20 bytes), then the classic end record.
    zip64.extend_from_slice(b"PK\x06\x06");
    zip64.extend_from_slice(&44_u64.to_le_bytes());
    zip64.extend_from_slice(&[45, 0, 45, 0]);
    zip64.extend_from_slice(&[0; 8]);
    let claimed = (MAX_FILES as u64 + 1).to_le_bytes();
    zip64.extend_from_slice(&claimed);
    zip64.extend_from_slice(&claimed);
    zip64.extend_from_slice(&0_u64.to_le_bytes());
    zip64.extend_from_slice(&0_u64.to_le_bytes());
    zip64.extend_from_slice(b"PK\x06\x07");
    zip64.extend_from_slice(&0_u32.to_le_bytes());
    zip64.extend_from_slice(&0_u64.to_le_bytes());
    zip64.extend_from_slice(&1_u32.to_le_bytes());
    zip64.extend_from_slice(&zip);
    assert_eq!(
        rejected(&zip64, "example.com/m", "v1.0.0"),
        format!(
            "zip has {} entries; goshelf accepts at most {MAX_FILES}",
            MAX_FILES + 1
        )
    );
}

#[test]
fn upload_rejects_data_before_the_archive() {
    let mut zip = b"#!/bin/sh\nexit 0\n".to_vec();
    zip.extend_from_slice(&module(CompressionMethod::Deflated));
    assert_contains(
        &rejected(&zip, "example.com/m", "v1.0.0"),
        "zip: not a valid zip file",
    );
}

#[test]
fn upload_rejects_size_that_disagrees_with_reader() {
    let zip = module(CompressionMethod::Deflated);
    let err = validate(
        Cursor::new(&zip),
        zip.len() as u64 + 1,
        "example.com/m",
        "v1.0.0",
    )
    .unwrap_err();
    assert_contains(err.message(), "but the zip size is");
}
