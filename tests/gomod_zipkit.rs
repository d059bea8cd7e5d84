//! Builds module zips in memory for the gomod tests, with entry names written verbatim
//! (duplicates, `..`, non-UTF-8 bytes), and patches single header fields to craft archives
//! that no zip writer would produce: other compression methods, encryption flags, Unix modes,
//! size lies and corrupted data.
//!
//! The zip crate's writer refuses duplicate names, so every entry is first written under a
//! unique placeholder of the same byte length, then renamed in place in both its local and its
//! central header.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Cursor, Write};
use std::ops::Range;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// One entry to write: raw name bytes and content.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A zip of `entries` in order, compressed with `method`, names exactly as given.
pub fn build_zip(entries: &[Entry], method: CompressionMethod) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (i, (name, data)) in entries.iter().enumerate() {
        w.start_file(placeholder(i, name.len()), options).unwrap();
        w.write_all(data).unwrap();
    }
    let mut zip = w.finish().unwrap().into_inner();
    for (i, (name, _)) in entries.iter().enumerate() {
        set_name(&mut zip, i, name);
    }
    zip
}

/// `build_zip` with Deflate, as Go's `zip.Writer.Create` writes the conformance zips.
pub fn deflate_zip(entries: &[Entry]) -> Vec<u8> {
    build_zip(entries, CompressionMethod::Deflated)
}

/// Entries from `(name, content)` string pairs.
pub fn entries(files: &[(&str, &str)]) -> Vec<Entry> {
    files
        .iter()
        .map(|(n, d)| (n.as_bytes().to_vec(), d.as_bytes().to_vec()))
        .collect()
}

/// A unique name of exactly `len` bytes for entry `i`: its decimal index padded with `x`.
fn placeholder(i: usize, len: usize) -> String {
    let digits = i.to_string();
    assert!(
        digits.len() <= len,
        "entry name too short for a placeholder"
    );
    format!("{digits:x<len$}")
}

/// Where one entry's headers and data sit in the archive bytes.
#[derive(Debug, Clone)]
pub struct EntryAt {
    /// Offset of the central directory header.
    pub central: usize,
    /// Offset of the local file header.
    pub local: usize,
    /// Name length.
    pub name_len: usize,
    /// The compressed data.
    pub data: Range<usize>,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The entries of an archive without a comment or zip64 records, as the writer above makes.
pub fn layout(zip: &[u8]) -> Vec<EntryAt> {
    let end = zip.len() - 22;
    assert_eq!(&zip[end..end + 4], b"PK\x05\x06");
    let count = u16_at(zip, end + 10);
    let mut at = u32_at(zip, end + 16);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(&zip[at..at + 4], b"PK\x01\x02");
        let name_len = u16_at(zip, at + 28);
        let local = u32_at(zip, at + 42);
        assert_eq!(&zip[local..local + 4], b"PK\x03\x04");
        let start = local + 30 + u16_at(zip, local + 26) + u16_at(zip, local + 28);
        let data = start..start + u32_at(zip, at + 20);
        out.push(EntryAt {
            central: at,
            local,
            name_len,
            data,
        });
        at += 46 + name_len + u16_at(zip, at + 30) + u16_at(zip, at + 32);
    }
    out
}

/// Renames entry `i` in both headers; the new name must have the old name's length.
pub fn set_name(zip: &mut [u8], i: usize, name: &[u8]) {
    let e = layout(zip).swap_remove(i);
    assert_eq!(e.name_len, name.len());
    zip[e.central + 46..e.central + 46 + name.len()].copy_from_slice(name);
    zip[e.local + 30..e.local + 30 + name.len()].copy_from_slice(name);
}

/// Renames entry `i` in its local header only, leaving the central directory as it was.
pub fn set_local_name(zip: &mut [u8], i: usize, name: &[u8]) {
    let e = layout(zip).swap_remove(i);
    assert_eq!(e.name_len, name.len());
    zip[e.local + 30..e.local + 30 + name.len()].copy_from_slice(name);
}

/// Appends an Info-ZIP Unicode path extra field (0x7075) naming `unicode` to the central
/// header of the last entry. Readers that honour the field (its CRC matches the stored name)
/// see `unicode` instead of the stored name.
pub fn add_unicode_path_to_last(zip: &mut Vec<u8>, unicode: &[u8]) {
    let entries = layout(zip);
    let last = entries.last().unwrap();
    let name = zip[last.central + 46..last.central + 46 + last.name_len].to_vec();
    let extra_len = u16_at(zip, last.central + 30);
    let comment_len = u16_at(zip, last.central + 32);
    assert_eq!(comment_len, 0);
    let mut field = Vec::new();
    field.extend_from_slice(&0x7075_u16.to_le_bytes());
    field.extend_from_slice(&u16::try_from(5 + unicode.len()).unwrap().to_le_bytes());
    field.push(1);
    field.extend_from_slice(&crc32(&name).to_le_bytes());
    field.extend_from_slice(unicode);
    let at = last.central + 46 + last.name_len + extra_len;
    zip.splice(at..at, field.iter().copied());
    put_u16(
        zip,
        last.central + 30,
        u16::try_from(extra_len + field.len()).unwrap(),
    );
    let end = zip.len() - 22;
    let cd_size = u32_at(zip, end + 12) + field.len();
    put_u32(zip, end + 12, u32::try_from(cd_size).unwrap());
}

/// CRC-32 (IEEE), bit by bit; only for the few bytes of a name.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Sets entry `i`'s compression method in both headers.
pub fn set_method(zip: &mut [u8], i: usize, method: u16) {
    let e = layout(zip).swap_remove(i);
    put_u16(zip, e.local + 8, method);
    put_u16(zip, e.central + 10, method);
}

/// Sets bits of entry `i`'s general purpose flags in both headers.
pub fn add_flags(zip: &mut [u8], i: usize, bits: u16) {
    let e = layout(zip).swap_remove(i);
    let local = u16_at(zip, e.local + 6) as u16 | bits;
    let central = u16_at(zip, e.central + 8) as u16 | bits;
    put_u16(zip, e.local + 6, local);
    put_u16(zip, e.central + 8, central);
}

/// Declares entry `i`'s uncompressed size as `size` in both headers.
pub fn set_uncompressed_size(zip: &mut [u8], i: usize, size: u32) {
    let e = layout(zip).swap_remove(i);
    put_u32(zip, e.local + 22, size);
    put_u32(zip, e.central + 24, size);
}

/// Marks entry `i` as made on Unix with file mode `mode` (type bits included).
pub fn set_unix_mode(zip: &mut [u8], i: usize, mode: u32) {
    let e = layout(zip).swap_remove(i);
    put_u16(zip, e.central + 4, (3 << 8) | 20);
    put_u32(zip, e.central + 38, mode << 16);
}

/// The range of entry `i`'s compressed data.
pub fn data_range(zip: &[u8], i: usize) -> Range<usize> {
    layout(zip).swap_remove(i).data
}

/// dirhash `Hash1` of `(name, content)` pairs, computed here independently of goshelf's code:
/// the summary is written out the way `sha256sum` would print it (spec.md §4.1).
pub fn independent_h1(files: &[(&str, &[u8])]) -> String {
    use base64::Engine as _;
    let mut sorted: Vec<&(&str, &[u8])> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let lines: Vec<String> = sorted
        .iter()
        .map(|(name, data)| format!("{:x}  {name}\n", Sha256::digest(data)))
        .collect();
    let summary = Sha256::digest(lines.concat().as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary)
    )
}
