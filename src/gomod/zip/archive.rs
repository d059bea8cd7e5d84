//! Reading a zip's structure, as Go's `archive/zip` reads it, and reading its entries, with a
//! registry's stricter view where Go is lenient.
//!
//! What Go reads: the end of central directory record (and its zip64 form), the central
//! directory records with their raw name bytes (never an Info-ZIP Unicode path field), and
//! each entry's data after its local header, stored or deflated, checked against the CRC-32
//! and size of the directory.
//!
//! What is refused on top (the archive must mean one thing to every reader): extra fields
//! that do not parse (a field running past its block, stray bytes, a short extended
//! timestamp or Unicode path field), a Unicode path field naming an entry otherwise, a local
//! header that disagrees with its directory record (name, method, encryption and descriptor
//! flags, sizes and CRC unless a data descriptor carries them), entries whose bytes overlap
//! or run into the central directory, and a data descriptor whose CRC differs.
//!
//! Memory: one [`Entry`] of 48 bytes per entry and the names once, in one buffer; the
//! directory is bounded by `MAX_FILES` entries and `MAX_CENTRAL_DIRECTORY` bytes before
//! anything is allocated for them. Data is read through one caller-owned buffer and one
//! reused inflater, whatever the number of entries.

use std::io::{BufReader, Read, Seek, SeekFrom};

use super::{io_error, ZipError, MAX_CENTRAL_DIRECTORY, MAX_FILES, READ_BUFFER};
use crate::gomod::path::go_quote;

/// Go's `archive/zip` text for an archive it cannot parse.
pub(super) const NOT_A_ZIP: &str = "zip: not a valid zip file";

fn not_a_zip() -> ZipError {
    ZipError::Invalid(NOT_A_ZIP.to_owned())
}

/// One central directory record, as Go's `archive/zip` reads it; its name is in the
/// [`Directory`]'s buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    name_at: u32,
    name_len: u16,
    pub version_made_by: u16,
    pub flags: u16,
    pub method: u16,
    pub external_attrs: u32,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub header_offset: u64,
    /// An Info-ZIP Unicode path field (0x7075) names the entry otherwise than its raw name.
    pub unicode_differs: bool,
}

/// The central directory: its entries in order, their names in one buffer.
#[derive(Debug, Default)]
pub(super) struct Directory {
    names: Vec<u8>,
    pub entries: Vec<Entry>,
    /// Where the directory starts: every entry's bytes end before it.
    pub offset: u64,
}

impl Directory {
    /// A directory of the given names and declared sizes (no archive behind it): for
    /// checking a file list by checkZip's rules before a zip is written.
    pub fn of_names<'a>(files: impl IntoIterator<Item = (&'a [u8], u64)>) -> Self {
        let mut dir = Self::default();
        for (name, size) in files {
            let mut e = Entry::blank();
            e.method = 8;
            e.uncompressed_size = size;
            dir.push(name, e);
        }
        dir
    }

    fn push(&mut self, name: &[u8], mut e: Entry) {
        e.name_at = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        e.name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        self.names.extend_from_slice(name);
        self.entries.push(e);
    }

    /// The raw name bytes of `e`.
    pub fn name(&self, e: &Entry) -> &[u8] {
        let start = e.name_at as usize;
        self.names
            .get(start..start + usize::from(e.name_len))
            .unwrap_or_default()
    }

    /// The name for messages: Go prints the raw bytes; invalid UTF-8 shows as U+FFFD here.
    pub fn display_name(&self, e: &Entry) -> String {
        String::from_utf8_lossy(self.name(e)).into_owned()
    }
}

impl Entry {
    fn blank() -> Self {
        Self {
            name_at: 0,
            name_len: 0,
            version_made_by: 0,
            flags: 0,
            method: 0,
            external_attrs: 0,
            crc32: 0,
            compressed_size: 0,
            uncompressed_size: 0,
            header_offset: 0,
            unicode_differs: false,
        }
    }

    /// General purpose bit 3: sizes and CRC follow the data in a descriptor.
    pub fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DATA_DESCRIPTOR != 0
    }
}

/// The end of central directory record, after any zip64 redirection.
#[derive(Debug, Clone, Copy)]
pub(super) struct DirectoryEnd {
    pub entries: u64,
    pub offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut le = [0_u8; 8];
    le.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(le)
}

const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
const EOCD_LEN: usize = 22;
/// How far from the file's end archive/zip looks for the end record.
const END_SEARCH: u64 = 65 * 1024;
const LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const LOCATOR_LEN: u64 = 20;
const EOCD64_SIG: [u8; 4] = *b"PK\x06\x06";
const CENTRAL_SIG: [u8; 4] = *b"PK\x01\x02";
const LOCAL_SIG: [u8; 4] = *b"PK\x03\x04";
const LOCAL_LEN: u64 = 30;
/// General purpose flag bit 3: sizes and CRC follow the data in a descriptor.
pub(super) const FLAG_DATA_DESCRIPTOR: u16 = 0x0008;
/// The flags a local header must share with its directory record: encryption (bits 0 and 6)
/// and the data descriptor (bit 3).
const FLAGS_THAT_MUST_AGREE: u16 = 0x0049;
const DESCRIPTOR_SIG: [u8; 4] = *b"PK\x07\x08";

/// archive/zip `readDirectoryEnd`: the last end record within the final 64 KiB, whose comment
/// must fit in the file, then its zip64 form if any field is saturated.
pub(super) fn read_directory_end<R: Read + Seek>(
    r: &mut R,
    size: u64,
) -> Result<DirectoryEnd, ZipError> {
    // archive/zip looks for the record in the last 65 KiB only (the record itself included).
    let tail_len = size.min(END_SEARCH);
    let mut tail = vec![0_u8; usize::try_from(tail_len).map_err(|_| not_a_zip())?];
    r.seek(SeekFrom::Start(size - tail_len)).map_err(io_error)?;
    r.read_exact(&mut tail).map_err(io_error)?;
    let at = (0..=tail.len().checked_sub(EOCD_LEN).ok_or_else(not_a_zip)?)
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD_SIG)
        .ok_or_else(not_a_zip)?;
    let rec = &tail[at..];
    if at + EOCD_LEN + usize::from(u16_at(rec, 20)) > tail.len() {
        return Err(not_a_zip());
    }
    let disk = u16_at(rec, 4);
    let cd_disk = u16_at(rec, 6);
    let mut end = DirectoryEnd {
        entries: u64::from(u16_at(rec, 10)),
        offset: u64::from(u32_at(rec, 16)),
    };
    let cd_size = u32_at(rec, 12);
    if disk != 0 || cd_disk != 0 {
        return Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (multi-disk archives are not supported)"
        )));
    }
    let end_at = size - tail_len + at as u64;
    // goshelf's own check (Go ignores the size): the directory must end before its end record.
    // Not when either field is saturated: then the zip64 record holds the real values (a
    // writer may saturate only the field that overflowed).
    if cd_size != 0xFFFF_FFFF
        && end.offset != 0xFFFF_FFFF
        && end.offset.saturating_add(u64::from(cd_size)) > end_at
    {
        return Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (central directory size runs past its end record)"
        )));
    }
    if end.entries == 0xFFFF || cd_size == 0xFFFF_FFFF || end.offset == 0xFFFF_FFFF {
        if let Some(zip64) = read_zip64_end(r, end_at)? {
            end = zip64;
        }
    }
    if end.offset >= size {
        return Err(not_a_zip());
    }
    Ok(end)
}

/// The zip64 end record that the locator just before the end record points to, if any.
fn read_zip64_end<R: Read + Seek>(
    r: &mut R,
    end_at: u64,
) -> Result<Option<DirectoryEnd>, ZipError> {
    let Some(locator_at) = end_at.checked_sub(LOCATOR_LEN) else {
        return Ok(None);
    };
    let mut loc = [0_u8; 20];
    r.seek(SeekFrom::Start(locator_at)).map_err(io_error)?;
    r.read_exact(&mut loc).map_err(io_error)?;
    // archive/zip takes a locator only on disk 0 of 1 disk; otherwise the plain record's
    // (saturated) values stand, as they do without a locator.
    if loc[..4] != LOCATOR_SIG || u32_at(&loc, 4) != 0 || u32_at(&loc, 16) != 1 {
        return Ok(None);
    }
    let record_at = u64_at(&loc, 8);
    let mut rec = [0_u8; 56];
    r.seek(SeekFrom::Start(record_at))
        .map_err(|_| not_a_zip())?;
    r.read_exact(&mut rec).map_err(|_| not_a_zip())?;
    if rec[..4] != EOCD64_SIG || u32_at(&rec, 16) != 0 || u32_at(&rec, 20) != 0 {
        return Err(not_a_zip());
    }
    Ok(Some(DirectoryEnd {
        entries: u64_at(&rec, 32),
        offset: u64_at(&rec, 48),
    }))
}

/// The first central directory record: its name, or `None` when there is none.
pub(super) fn first_name<R: Read + Seek>(reader: &mut R) -> Result<Option<Vec<u8>>, ZipError> {
    let size = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    let end = read_directory_end(reader, size)?;
    if end.entries == 0 {
        return Ok(None);
    }
    reader.seek(SeekFrom::Start(end.offset)).map_err(io_error)?;
    let mut dir = Directory::default();
    if !read_header(&mut BufReader::new(&mut *reader), &mut 0, &mut dir)? {
        return Err(not_a_zip());
    }
    let first = dir.entries[0];
    Ok(Some(dir.name(&first).to_vec()))
}

/// Reads the central directory (`zip_size` must be the reader's length), bounded by
/// `MAX_FILES` entries (checked from the end record, before any per-entry work) and
/// `MAX_CENTRAL_DIRECTORY` bytes, and checks the data descriptors.
pub(super) fn read_directory<R: Read + Seek>(
    reader: &mut R,
    zip_size: u64,
) -> Result<Directory, ZipError> {
    let size = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    if size != zip_size {
        return Err(ZipError::Io(format!(
            "reading zip: the reader holds {size} bytes but the zip size is {zip_size}"
        )));
    }
    let end = read_directory_end(reader, size)?;
    if end.entries > MAX_FILES as u64 {
        return Err(ZipError::TooLarge(format!(
            "zip has {} entries; goshelf accepts at most {MAX_FILES}",
            end.entries
        )));
    }
    reader.seek(SeekFrom::Start(end.offset)).map_err(io_error)?;
    let mut dir = Directory {
        offset: end.offset,
        ..Directory::default()
    };
    dir.entries
        .reserve_exact(usize::try_from(end.entries).unwrap_or(0));
    {
        let mut buffered = BufReader::with_capacity(READ_BUFFER, &mut *reader);
        let mut directory_bytes = 0_u64;
        // One record more than the limit at most: each round reads a record or ends.
        for _ in 0..=MAX_FILES {
            if !read_header(&mut buffered, &mut directory_bytes, &mut dir)? {
                break;
            }
        }
    }
    if dir.entries.len() > MAX_FILES {
        return Err(ZipError::TooLarge(format!(
            "zip has more than {MAX_FILES} entries"
        )));
    }
    if dir.entries.len() as u64 != end.entries {
        return Err(not_a_zip());
    }
    dir.names.shrink_to_fit();
    for e in dir.entries.iter().filter(|e| e.has_descriptor()) {
        check_data_descriptor(reader, &dir, e, size)?;
    }
    Ok(dir)
}

/// archive/zip `readDirectoryHeader`: one central directory record, appended to `dir`;
/// `false` at the first bytes that are not a record signature (the end of the directory).
fn read_header<R: Read>(
    r: &mut R,
    directory_bytes: &mut u64,
    dir: &mut Directory,
) -> Result<bool, ZipError> {
    let mut fixed = [0_u8; 46];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut fixed[got..4]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    if fixed[..4] != CENTRAL_SIG {
        return Ok(false);
    }
    r.read_exact(&mut fixed[4..]).map_err(|_| not_a_zip())?;
    let name_len = usize::from(u16_at(&fixed, 28));
    let extra_len = usize::from(u16_at(&fixed, 30));
    let comment_len = usize::from(u16_at(&fixed, 32));
    *directory_bytes += 46 + (name_len + extra_len + comment_len) as u64;
    if *directory_bytes > MAX_CENTRAL_DIRECTORY {
        return Err(ZipError::TooLarge(format!(
            "zip central directory larger than {MAX_CENTRAL_DIRECTORY} bytes (goshelf's limit)"
        )));
    }
    let mut var = vec![0_u8; name_len + extra_len + comment_len];
    r.read_exact(&mut var).map_err(|_| not_a_zip())?;
    let name = &var[..name_len];
    let mut e = Entry::blank();
    e.version_made_by = u16_at(&fixed, 4);
    e.flags = u16_at(&fixed, 8);
    e.method = u16_at(&fixed, 10);
    e.crc32 = u32_at(&fixed, 16);
    e.compressed_size = u64::from(u32_at(&fixed, 20));
    e.uncompressed_size = u64::from(u32_at(&fixed, 24));
    e.external_attrs = u32_at(&fixed, 38);
    e.header_offset = u64::from(u32_at(&fixed, 42));
    let mut need_usize = u32_at(&fixed, 24) == u32::MAX;
    let mut need_csize = u32_at(&fixed, 20) == u32::MAX;
    let mut need_offset = u32_at(&fixed, 42) == u32::MAX;
    for (tag, field) in extra_fields(&var[name_len..name_len + extra_len])? {
        match tag {
            ZIP64 => {
                // Zip64 fields appear only for the values saturated above, in this order.
                let mut field = field;
                for (need, slot) in [
                    (&mut need_usize, &mut e.uncompressed_size),
                    (&mut need_csize, &mut e.compressed_size),
                    (&mut need_offset, &mut e.header_offset),
                ] {
                    if *need {
                        *need = false;
                        if field.len() < 8 {
                            return Err(not_a_zip());
                        }
                        *slot = u64_at(field, 0);
                        field = &field[8..];
                    }
                }
            }
            UNICODE_PATH => e.unicode_differs |= unicode_path(field)? != name,
            _ => {}
        }
    }
    // Like Go, accept an uncompressed size of exactly 2^32-1 without zip64 (42.zip), but not a
    // saturated compressed size or offset.
    if need_csize || need_offset {
        return Err(not_a_zip());
    }
    dir.push(name, e);
    Ok(true)
}

const ZIP64: u16 = 0x0001;
const EXTENDED_TIMESTAMP: u16 = 0x5455;
const UNICODE_PATH: u16 = 0x7075;

/// The fields of an extra block, each as `(tag, data)`. goshelf's rule (Go skips what it
/// cannot parse): the block must be whole fields, and the fields goshelf or other readers
/// interpret must be well formed.
fn extra_fields(mut block: &[u8]) -> Result<Vec<(u16, &[u8])>, ZipError> {
    let bad = |why: &str| ZipError::Invalid(format!("{NOT_A_ZIP} ({why})"));
    let mut fields = Vec::new();
    // Each field takes at least 4 bytes: at most `len / 4` rounds (a bound, not an index
    // loop, so that no step can loop forever).
    for _ in 0..=block.len() / 4 {
        if block.is_empty() {
            break;
        }
        if block.len() < 4 {
            return Err(bad("stray bytes after the last extra field"));
        }
        let tag = u16_at(block, 0);
        let size = usize::from(u16_at(block, 2));
        let Some(data) = block.get(4..4 + size) else {
            return Err(bad("an extra field runs past its block"));
        };
        if tag == EXTENDED_TIMESTAMP && (data.is_empty() || (data[0] & 1 != 0 && data.len() < 5)) {
            return Err(bad("extended timestamp field too short"));
        }
        fields.push((tag, data));
        block = &block[4 + size..];
    }
    Ok(fields)
}

/// The name an Info-ZIP Unicode path field (version 1, the CRC of the raw name, the name in
/// UTF-8) gives.
fn unicode_path(field: &[u8]) -> Result<&[u8], ZipError> {
    match field.split_first() {
        Some((1, rest)) if rest.len() >= 4 => Ok(&rest[4..]),
        _ => Err(ZipError::Invalid(format!(
            "{NOT_A_ZIP} (malformed Unicode path extra field)"
        ))),
    }
}

/// archive/zip `readDataDescriptor`: an entry with flag bit 3 is followed by a descriptor
/// (its signature optional) whose CRC-32 must equal the central directory's, or Go's reader
/// fails with `zip: checksum error` (or an unexpected EOF when there is no room for it) and
/// the go command could never unzip the module. The sizes in it are ignored, as Go does.
fn check_data_descriptor<R: Read + Seek>(
    r: &mut R,
    dir: &Directory,
    entry: &Entry,
    size: u64,
) -> Result<(), ZipError> {
    let name = dir.display_name(entry);
    let bad = |why: &str| ZipError::Invalid(format!("{name}: {why}"));
    let mut local = [0_u8; 30];
    r.seek(SeekFrom::Start(entry.header_offset))
        .map_err(io_error)?;
    r.read_exact(&mut local).map_err(|_| bad(NOT_A_ZIP))?;
    let data_at = entry
        .header_offset
        .checked_add(30 + u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28)))
        .and_then(|d| d.checked_add(entry.compressed_size))
        .filter(|&end| end <= size)
        .ok_or_else(|| bad(NOT_A_ZIP))?;
    let mut desc = [0_u8; 8];
    let avail = usize::try_from((size - data_at).min(8)).unwrap_or(0);
    r.seek(SeekFrom::Start(data_at)).map_err(io_error)?;
    r.read_exact(&mut desc[..avail]).map_err(io_error)?;
    let crc_at = if desc[..4] == DESCRIPTOR_SIG { 4 } else { 0 };
    if avail < crc_at + 4 {
        return Err(bad("zip: data descriptor missing (unexpected EOF)"));
    }
    if u32_at(&desc, crc_at) != entry.crc32 {
        return Err(bad(
            "zip: checksum error (data descriptor CRC differs from the directory)",
        ));
    }
    Ok(())
}

/// Reads every local header: each must agree with its directory record, and no two
/// entries' bytes (local header and data) may overlap or reach into the central directory.
/// Returns where each entry's data starts, in directory order.
pub(super) fn check_layout<R: Read + Seek>(
    r: &mut R,
    dir: &Directory,
) -> Result<Vec<u64>, ZipError> {
    let mut starts = Vec::with_capacity(dir.entries.len());
    let mut name_buf = Vec::new();
    for e in &dir.entries {
        starts.push(local_header(r, dir, e, &mut name_buf)?);
    }
    let mut order: Vec<u32> = (0..dir.entries.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    order.sort_unstable_by_key(|&i| dir.entries[i as usize].header_offset);
    let mut reached = 0_u64;
    let mut previous: Option<usize> = None;
    for &i in &order {
        let i = i as usize;
        let e = &dir.entries[i];
        let end = starts[i].saturating_add(e.compressed_size);
        if e.header_offset < reached {
            let other = previous.map_or_else(String::new, |p| {
                format!(" and {}", go_quote(dir.name(&dir.entries[p])))
            });
            return Err(ZipError::Invalid(format!(
                "{}: {NOT_A_ZIP} (the bytes of {}{other} overlap)",
                dir.display_name(e),
                go_quote(dir.name(e))
            )));
        }
        if end > dir.offset {
            return Err(ZipError::Invalid(format!(
                "{}: {NOT_A_ZIP} (its data runs into the central directory)",
                dir.display_name(e)
            )));
        }
        reached = end;
        previous = Some(i);
    }
    Ok(starts)
}

/// Where `e`'s data starts, after its local header (checked against the directory record).
pub(super) fn entry_start<R: Read + Seek>(
    r: &mut R,
    dir: &Directory,
    e: &Entry,
) -> Result<u64, ZipError> {
    local_header(r, dir, e, &mut Vec::new())
}

/// Reads `e`'s local header and checks it against the directory record; returns where its
/// data starts.
fn local_header<R: Read + Seek>(
    r: &mut R,
    dir: &Directory,
    e: &Entry,
    name_buf: &mut Vec<u8>,
) -> Result<u64, ZipError> {
    let name = dir.name(e);
    let bad = |why: &str| {
        ZipError::Invalid(format!(
            "{}: {NOT_A_ZIP} ({why})",
            String::from_utf8_lossy(name)
        ))
    };
    let mut fixed = [0_u8; 30];
    r.seek(SeekFrom::Start(e.header_offset)).map_err(io_error)?;
    r.read_exact(&mut fixed)
        .map_err(|_| bad("no local header where the directory says"))?;
    if fixed[..4] != LOCAL_SIG {
        return Err(bad("no local header where the directory says"));
    }
    let name_len = usize::from(u16_at(&fixed, 26));
    let extra_len = usize::from(u16_at(&fixed, 28));
    name_buf.clear();
    name_buf.resize(name_len + extra_len, 0);
    r.read_exact(name_buf)
        .map_err(|_| bad("local header cut short"))?;
    if &name_buf[..name_len] != name {
        return Err(bad(
            "header inconsistency: the local header names another file",
        ));
    }
    let flags = u16_at(&fixed, 6);
    if flags & FLAGS_THAT_MUST_AGREE != e.flags & FLAGS_THAT_MUST_AGREE {
        return Err(bad(
            "header inconsistency: the local header's flags differ from the directory's",
        ));
    }
    if u16_at(&fixed, 8) != e.method {
        return Err(bad(
            "header inconsistency: the local header's method differs from the directory's",
        ));
    }
    let (mut crc, mut csize, mut usize_) = (
        u32_at(&fixed, 14),
        u64::from(u32_at(&fixed, 18)),
        u64::from(u32_at(&fixed, 22)),
    );
    let fields = extra_fields(&name_buf[name_len..])?;
    if usize_ == u64::from(u32::MAX) || csize == u64::from(u32::MAX) {
        // The local zip64 field holds both sizes, uncompressed first.
        if let Some((_, f)) = fields.iter().find(|(t, _)| *t == ZIP64) {
            if f.len() >= 16 {
                (usize_, csize) = (u64_at(f, 0), u64_at(f, 8));
            }
        }
    }
    for (tag, field) in &fields {
        if *tag == UNICODE_PATH && unicode_path(field)? != name {
            return Err(bad(
                "header inconsistency: the local Unicode path field names another file",
            ));
        }
    }
    if e.has_descriptor() {
        // The sizes and CRC follow the data; a header may give them as zeros or as they are.
        (crc, csize, usize_) = (
            if crc == 0 { e.crc32 } else { crc },
            if csize == 0 { e.compressed_size } else { csize },
            if usize_ == 0 {
                e.uncompressed_size
            } else {
                usize_
            },
        );
    }
    if crc != e.crc32 || csize != e.compressed_size || usize_ != e.uncompressed_size {
        return Err(bad(
            "header inconsistency: the local header's sizes or CRC differ from the directory's",
        ));
    }
    Ok(e.header_offset + LOCAL_LEN + (name_len + extra_len) as u64)
}

/// Reads entries' data: one buffer of `READ_BUFFER` bytes for input and one for output, and
/// one inflater reset for each deflated entry.
pub(super) struct DataReader {
    input: Vec<u8>,
    output: Vec<u8>,
    inflater: flate2::Decompress,
}

impl DataReader {
    pub fn new() -> Self {
        Self {
            input: vec![0; READ_BUFFER],
            output: vec![0; READ_BUFFER],
            inflater: flate2::Decompress::new(false),
        }
    }

    /// Streams entry `e`'s data (from `start`) to `sink`, at most its declared size (one byte
    /// more is an error), and checks its size and CRC-32 against the directory.
    pub fn read<R: Read + Seek>(
        &mut self,
        r: &mut R,
        dir: &Directory,
        e: &Entry,
        start: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ZipError> {
        let name = dir.display_name(e);
        let declared = e.uncompressed_size;
        let larger = || {
            ZipError::Invalid(format!(
                "{name}: uncompressed size is larger than declared size ({declared} bytes)"
            ))
        };
        let corrupt =
            |why: &str| ZipError::Invalid(format!("{name}: zip: corrupt entry data ({why})"));
        r.seek(SeekFrom::Start(start)).map_err(io_error)?;
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0_u64;
        let mut left = e.compressed_size;
        let mut emit = |bytes: &[u8], total: &mut u64| -> Result<(), ZipError> {
            *total += bytes.len() as u64;
            if *total > declared {
                return Err(larger());
            }
            crc.update(bytes);
            sink(bytes);
            Ok(())
        };
        match e.method {
            0 => {
                // Stored: the data is exactly the compressed size.
                while left > 0 {
                    let want = usize::try_from(left.min(self.input.len() as u64)).unwrap_or(0);
                    let n = read_some(r, &mut self.input[..want])?;
                    if n == 0 {
                        return Err(corrupt("unexpected EOF"));
                    }
                    left -= n as u64;
                    emit(&self.input[..n], &mut total)?;
                }
            }
            8 => {
                self.inflater.reset(false);
                let (mut at, mut filled) = (0_usize, 0_usize);
                loop {
                    if at == filled && left > 0 {
                        let want = usize::try_from(left.min(self.input.len() as u64)).unwrap_or(0);
                        filled = read_some(r, &mut self.input[..want])?;
                        if filled == 0 {
                            return Err(corrupt("unexpected EOF"));
                        }
                        left -= filled as u64;
                        at = 0;
                    }
                    let (in0, out0) = (self.inflater.total_in(), self.inflater.total_out());
                    let status = self
                        .inflater
                        .decompress(
                            &self.input[at..filled],
                            &mut self.output,
                            flate2::FlushDecompress::None,
                        )
                        .map_err(|e| corrupt(&format!("flate: {e}")))?;
                    let used = usize::try_from(self.inflater.total_in() - in0).unwrap_or(0);
                    let made = usize::try_from(self.inflater.total_out() - out0).unwrap_or(0);
                    at += used;
                    emit(&self.output[..made], &mut total)?;
                    match status {
                        flate2::Status::StreamEnd => break,
                        _ if used == 0 && made == 0 && at == filled && left == 0 => {
                            return Err(corrupt("the deflate stream ends early"));
                        }
                        _ => {}
                    }
                }
            }
            // `upload_problem` refused every other method before any data is read.
            other => return Err(corrupt(&format!("method {other}"))),
        }
        if total < declared {
            return Err(ZipError::Invalid(format!(
                "{name}: uncompressed size is smaller than declared size ({declared} bytes)"
            )));
        }
        if crc.finalize() != e.crc32 {
            return Err(ZipError::Invalid(format!("{name}: zip: checksum error")));
        }
        Ok(())
    }
}

/// One `read`, retried when interrupted.
fn read_some<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, ZipError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rawzip::{
        as_zip64, central, deflate_stored, eocd, le16, le32, le64, local, unicode_field, write_zip,
        zip64_end, Failing, Interrupted, RawEntry, Zip, FLAG_DATA_DESCRIPTOR,
    };
    use super::*;
    use crate::testing::within;
    use std::io::Cursor;

    const GO_MOD: &[u8] = b"module example.com/m\n";
    const M_GO: &[u8] = b"package m\n";

    fn two() -> [RawEntry; 2] {
        [
            RawEntry::stored("example.com/m@v1.0.0/go.mod", GO_MOD),
            RawEntry::deflated("example.com/m@v1.0.0/m.go", M_GO),
        ]
    }

    /// The directory of `bytes`, read within a deadline (a loop made endless fails).
    fn read(bytes: &[u8]) -> Result<Directory, ZipError> {
        let bytes = bytes.to_vec();
        within(move || read_directory(&mut Cursor::new(&bytes), bytes.len() as u64))
    }

    fn message(r: Result<impl std::fmt::Debug, ZipError>) -> String {
        match r {
            Ok(v) => panic!("accepted: {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Every entry's data, read through its local header, or the first error (within a
    /// deadline).
    fn contents(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ZipError> {
        let bytes = bytes.to_vec();
        within(move || contents_of(&bytes))
    }

    fn contents_of(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ZipError> {
        let mut r = Cursor::new(bytes);
        let dir = read_directory(&mut r, bytes.len() as u64)?;
        let starts = check_layout(&mut r, &dir)?;
        let mut reader = DataReader::new();
        let mut out = Vec::new();
        for (e, start) in dir.entries.iter().zip(starts) {
            let mut data = Vec::new();
            reader.read(&mut r, &dir, e, start, &mut |b| data.extend_from_slice(b))?;
            out.push(data);
        }
        Ok(out)
    }

    fn zip64_field(values: &[u64]) -> Vec<u8> {
        let mut f = vec![0x01, 0x00];
        f.extend_from_slice(&le16(u16::try_from(values.len() * 8).unwrap()));
        for v in values {
            f.extend_from_slice(&le64(*v));
        }
        f
    }

    #[test]
    fn a_plain_archive_reads_as_written() {
        let z = write_zip(&two());
        let dir = read(&z.bytes).unwrap();
        assert_eq!(dir.offset, z.entries[0].central as u64);
        let names: Vec<&[u8]> = dir.entries.iter().map(|e| dir.name(e)).collect();
        assert_eq!(
            names,
            [
                &b"example.com/m@v1.0.0/go.mod"[..],
                b"example.com/m@v1.0.0/m.go"
            ]
        );
        let m = dir.entries[1];
        assert_eq!((m.method, m.uncompressed_size), (8, M_GO.len() as u64));
        assert_eq!(m.compressed_size, deflate_stored(M_GO).len() as u64);
        assert_eq!(m.header_offset, z.entries[1].local as u64);
        assert_eq!(m.version_made_by, 0x031E);
        assert_eq!(m.external_attrs, 0o100_644 << 16);
        assert_eq!(contents(&z.bytes).unwrap(), [GO_MOD, M_GO]);
        let mut r = Cursor::new(&z.bytes);
        assert_eq!(
            first_name(&mut r).unwrap().as_deref(),
            Some(&b"example.com/m@v1.0.0/go.mod"[..])
        );
        assert_eq!(
            first_name(&mut Cursor::new(write_zip(&[]).bytes)).unwrap(),
            None
        );
    }

    /// The zip64 end record's count and directory offset replace the saturated ones.
    #[test]
    fn zip64_end_record_offsets() {
        let z = write_zip(&two());
        let good = as_zip64(&z, |cd_at, cd_len, at| zip64_end(2, cd_len, cd_at, at));
        let dir = read(&good).unwrap();
        assert_eq!(dir.entries.len(), 2);
        assert_eq!(dir.offset, z.entries[0].central as u64);
        assert_eq!(contents(&good).unwrap(), [GO_MOD, M_GO]);

        // Only a saturated field sends the reader to the zip64 record: a plain end record
        // before a zip64 one that lies is read as it stands.
        let mut plain_first = as_zip64(&z, |cd_at, cd_len, at| zip64_end(9, cd_len, cd_at, at));
        let end_at = plain_first.len() - EOCD_LEN;
        plain_first.truncate(end_at);
        plain_first.extend_from_slice(&z.bytes[z.eocd..]);
        assert_eq!(read(&plain_first).unwrap().entries.len(), 2);

        // Each saturated field alone is enough.
        for (field, value) in [
            (eocd::ENTRIES, &le16(0xFFFF)[..]),
            (eocd::CD_SIZE, &le32(0xFFFF_FFFF)[..]),
            (eocd::CD_OFFSET, &le32(0xFFFF_FFFF)[..]),
        ] {
            let mut one = as_zip64(&z, |cd_at, cd_len, at| zip64_end(2, cd_len, cd_at, at));
            let end_at = one.len() - EOCD_LEN;
            one[end_at..].copy_from_slice(&z.bytes[z.eocd..]);
            one[end_at + field..end_at + field + value.len()].copy_from_slice(value);
            let dir = read(&one).unwrap_or_else(|e| panic!("field {field}: {e}"));
            assert_eq!(dir.entries.len(), 2, "field {field}");
            assert_eq!(dir.offset, z.entries[0].central as u64, "field {field}");
        }

        // The zip64 record sits where the plain end record was.
        let edited = |edit: &dyn Fn(&mut Vec<u8>, usize)| {
            let mut b = as_zip64(&z, |cd_at, cd_len, at| zip64_end(2, cd_len, cd_at, at));
            edit(&mut b, z.eocd);
            b
        };
        let lie = |edit: &dyn Fn(&mut Vec<u8>, usize)| message(read(&edited(edit)));
        let not_zip = "zip: not a valid zip file";
        // The locator points past the file, or at entry data.
        let locator = |to: u64| {
            move |b: &mut Vec<u8>, at: usize| {
                b[at + 56 + 8..at + 56 + 16].copy_from_slice(&le64(to));
            }
        };
        assert_eq!(lie(&locator(1 << 40)), not_zip);
        assert_eq!(lie(&locator(40)), not_zip);
        // A locator on another disk, or of another number of disks, is no locator: the
        // saturated plain values stand, and point nowhere.
        assert_eq!(lie(&|b, at| b[at + 56 + 4] = 1), not_zip);
        assert_eq!(lie(&|b, at| b[at + 56 + 16] = 2), not_zip);
        assert_eq!(lie(&|b, at| b[at + 56 + 16] = 0), not_zip);
        // The record's signature, or either of its disk numbers.
        assert_eq!(lie(&|b, at| b[at + 3] = 5), not_zip);
        assert_eq!(lie(&|b, at| b[at + 16] = 7), not_zip);
        assert_eq!(lie(&|b, at| b[at + 20] = 7), not_zip);
        // The count: one short, one over, more than goshelf takes.
        let count = |n: u64| {
            move |b: &mut Vec<u8>, at: usize| {
                b[at + 32..at + 40].copy_from_slice(&le64(n));
            }
        };
        assert_eq!(lie(&count(1)), not_zip);
        assert_eq!(lie(&count(3)), not_zip);
        assert_eq!(
            lie(&count(1 << 62)),
            format!(
                "zip has {} entries; goshelf accepts at most {MAX_FILES}",
                1_u64 << 62
            )
        );
        // The directory's offset: past the end, or one byte off.
        let offset = |d: u64| {
            move |b: &mut Vec<u8>, at: usize| {
                let cd_at = u64::from_le_bytes(b[at + 48..at + 56].try_into().unwrap());
                b[at + 48..at + 56].copy_from_slice(&le64(cd_at.wrapping_add(d)));
            }
        };
        assert_eq!(lie(&offset(1 << 40)), not_zip);
        assert_eq!(lie(&offset(1)), not_zip);
        // The count is read at offset 32 and the offset at 48, not from their neighbours
        // (the count on this disk, the directory's size), which Go ignores.
        let neighbours = edited(&|b, at| {
            b[at + 24..at + 32].copy_from_slice(&le64(7));
            b[at + 40..at + 48].copy_from_slice(&le64(1 << 40));
        });
        assert_eq!(read(&neighbours).unwrap().entries.len(), 2);
    }

    /// Sizes and offsets saturated in a directory record come from its zip64 extra field, in
    /// the order uncompressed size, compressed size, offset, each present only when saturated.
    #[test]
    fn zip64_extra_fields_give_sizes_and_offsets_in_order() {
        let entries = two();
        let csize = deflate_stored(M_GO).len() as u64;
        let usize_ = M_GO.len() as u64;
        let offset = write_zip(&entries).entries[1].local as u64;
        let with = |extra: Vec<u8>, saturated: &[usize]| {
            let [a, b] = two();
            let mut z = write_zip(&[a, b.extra(extra)]);
            for &field in saturated {
                z.central(1, field, &le32(0xFFFF_FFFF));
            }
            z.into_bytes()
        };
        // All three, and each alone (the field then holds that one value).
        let all = with(
            zip64_field(&[usize_, csize, offset]),
            &[central::USIZE, central::CSIZE, central::LOCAL_OFFSET],
        );
        let e = read(&all).unwrap().entries[1];
        assert_eq!(
            (e.uncompressed_size, e.compressed_size, e.header_offset),
            (usize_, csize, offset)
        );
        assert_eq!(contents(&all).unwrap(), [GO_MOD, M_GO]);
        for (field, value) in [
            (central::USIZE, usize_),
            (central::CSIZE, csize),
            (central::LOCAL_OFFSET, offset),
        ] {
            let one = with(zip64_field(&[value]), &[field]);
            assert_eq!(contents(&one).unwrap(), [GO_MOD, M_GO], "field {field}");
        }
        // Compressed size and offset without the uncompressed size: the second and third.
        let two_of_three = with(
            zip64_field(&[csize, offset]),
            &[central::CSIZE, central::LOCAL_OFFSET],
        );
        assert_eq!(contents(&two_of_three).unwrap(), [GO_MOD, M_GO]);
        // Values past 4 GiB are read whole (and then found to lie).
        let huge = with(zip64_field(&[5 << 30]), &[central::USIZE]);
        assert_eq!(read(&huge).unwrap().entries[1].uncompressed_size, 5 << 30);
        let not_zip = "zip: not a valid zip file";
        // A field too short for what is saturated, or none at all.
        let short = with(zip64_field(&[usize_]), &[central::USIZE, central::CSIZE]);
        assert_eq!(message(read(&short)), not_zip);
        let mut seven = zip64_field(&[usize_]);
        seven.pop();
        seven[2] = 7;
        assert_eq!(message(read(&with(seven, &[central::USIZE]))), not_zip);
        assert_eq!(message(read(&with(vec![], &[central::CSIZE]))), not_zip);
        assert_eq!(
            message(read(&with(vec![], &[central::LOCAL_OFFSET]))),
            not_zip
        );
        // An uncompressed size of exactly 2^32-1 without zip64 is taken as it stands (Go
        // does: 42.zip); the data then disagrees with it.
        let exact = with(vec![], &[central::USIZE]);
        assert_eq!(
            read(&exact).unwrap().entries[1].uncompressed_size,
            0xFFFF_FFFF
        );
        assert!(message(contents(&exact)).contains("header inconsistency"));
        // A zip64 field of an entry with nothing saturated changes nothing.
        let unused = with(zip64_field(&[1, 2, 3]), &[]);
        assert_eq!(contents(&unused).unwrap(), [GO_MOD, M_GO]);
    }

    /// A local header whose sizes are saturated takes both from its zip64 field (uncompressed
    /// first), which must then agree with the directory.
    #[test]
    fn local_zip64_sizes_must_agree_with_the_directory() {
        let csize = deflate_stored(M_GO).len() as u64;
        let usize_ = M_GO.len() as u64;
        let with = |values: &[u64], saturated: &[usize]| {
            let [a, b] = two();
            let mut z = write_zip(&[a, b.extra(zip64_field(values))]);
            for &field in saturated {
                z.local(1, field, &le32(0xFFFF_FFFF));
            }
            z.into_bytes()
        };
        let both = [local::USIZE, local::CSIZE];
        assert_eq!(
            contents(&with(&[usize_, csize], &both)).unwrap(),
            [GO_MOD, M_GO]
        );
        assert_eq!(
            contents(&with(&[usize_, csize], &[local::USIZE])).unwrap(),
            [GO_MOD, M_GO]
        );
        assert_eq!(
            contents(&with(&[usize_, csize], &[local::CSIZE])).unwrap(),
            [GO_MOD, M_GO]
        );
        let inconsistent = "the local header's sizes or CRC differ from the directory's";
        for lie in [[csize, usize_], [usize_, csize + 1], [usize_ + 1, csize]] {
            let m = message(contents(&with(&lie, &both)));
            assert!(m.contains(inconsistent), "{lie:?}: {m}");
        }
        // A field of one value cannot give both: the saturated sizes stand, and differ.
        let m = message(contents(&with(&[usize_], &both)));
        assert!(m.contains(inconsistent), "{m}");
    }

    #[test]
    fn the_end_record_is_the_last_within_the_comment_limit() {
        let z = write_zip(&two());
        // A comment after the end record, declared: read; declared longer than the file: not.
        let mut commented = z.bytes.clone();
        commented[z.eocd + eocd::COMMENT_LEN..z.eocd + eocd::COMMENT_LEN + 2]
            .copy_from_slice(&le16(5));
        commented.extend_from_slice(b"hello");
        assert_eq!(read(&commented).unwrap().entries.len(), 2);
        let mut over = commented.clone();
        over[z.eocd + eocd::COMMENT_LEN] = 6;
        assert_eq!(message(read(&over)), NOT_A_ZIP);
        // An end record's signature in the comment is the last one, and wins.
        let mut fake = commented.clone();
        fake.truncate(fake.len() - 5);
        fake[z.eocd + eocd::COMMENT_LEN] = 22;
        fake.extend_from_slice(&z.bytes[z.eocd..]);
        assert_eq!(read(&fake).unwrap().entries.len(), 2);
        // Too short to hold an end record, or no signature at all.
        assert_eq!(message(read(&z.bytes[..21])), NOT_A_ZIP);
        assert_eq!(message(read(&z.bytes[..z.eocd])), NOT_A_ZIP);
        assert_eq!(message(read(b"")), NOT_A_ZIP);
        // An end record alone is an empty archive; 65 KiB of junk before the directory is
        // not searched (the record is found from the end).
        let empty = write_zip(&[]).bytes;
        assert_eq!(read(&empty).unwrap().entries.len(), 0);
        let mut junk = vec![0_u8; 70 << 10];
        junk.extend_from_slice(&empty);
        let dir = read(&junk).unwrap();
        assert_eq!(dir.entries.len(), 0);
        // Junk after the record: read when the record starts within the last 65 KiB, as
        // archive/zip reads it; one byte further is not a zip to Go, nor to goshelf.
        let junk_after = |n: usize| {
            let mut b = z.bytes.clone();
            b.resize(b.len() + n, b'j');
            read(&b)
        };
        assert_eq!(junk_after(2048).unwrap().entries.len(), 2);
        assert_eq!(junk_after(65 * 1024 - EOCD_LEN).unwrap().entries.len(), 2);
        assert_eq!(message(junk_after(65 * 1024 - EOCD_LEN + 1)), NOT_A_ZIP);
        // Multi-disk archives.
        for field in [eocd::DISK, eocd::CD_DISK] {
            let mut multi = z.bytes.clone();
            multi[z.eocd + field] = 1;
            assert_eq!(
                message(read(&multi)),
                "zip: not a valid zip file (multi-disk archives are not supported)"
            );
        }
        // The directory's size must end it before the end record: one byte more is refused.
        let mut long = z.bytes.clone();
        let cd_len = u32::try_from(z.eocd - z.entries[0].central).unwrap();
        long[z.eocd + eocd::CD_SIZE..z.eocd + eocd::CD_SIZE + 4].copy_from_slice(&le32(cd_len + 1));
        assert_eq!(
            message(read(&long)),
            "zip: not a valid zip file (central directory size runs past its end record)"
        );
        let mut exact = z.bytes.clone();
        exact[z.eocd + eocd::CD_SIZE..z.eocd + eocd::CD_SIZE + 4].copy_from_slice(&le32(cd_len));
        assert!(read(&exact).is_ok());
        // A zip64 offset exactly at the end of the file (a plain one cannot pass the size
        // check above).
        let at_end = as_zip64(&z, |_, cd_len, at| {
            zip64_end(0, cd_len, at + 56 + 20 + EOCD_LEN as u64, at)
        });
        assert_eq!(message(read(&at_end)), NOT_A_ZIP);
        let before_end = as_zip64(&z, |_, cd_len, at| {
            zip64_end(0, cd_len, at + 56 + 20 + EOCD_LEN as u64 - 1, at)
        });
        assert_eq!(read(&before_end).unwrap().entries.len(), 0);
    }

    #[test]
    fn the_directory_count_and_size_are_bounded() {
        let z = write_zip(&two());
        // The count says one entry more or less than the directory holds.
        for n in [1_u16, 3] {
            let mut b = z.bytes.clone();
            b[z.eocd + eocd::ENTRIES..z.eocd + eocd::ENTRIES + 2].copy_from_slice(&le16(n));
            assert_eq!(message(read(&b)), NOT_A_ZIP, "{n}");
        }
        // A reader whose length is not the zip's size.
        let b = z.bytes.clone();
        let m = message(read_directory(&mut Cursor::new(&b), b.len() as u64 + 1));
        assert!(m.contains("the reader holds"), "{m}");
        // A record cut short after its signature.
        let mut cut = z.bytes[..z.entries[1].central + 10].to_vec();
        cut.extend_from_slice(&z.bytes[z.eocd..]);
        let cd_at = z.entries[0].central;
        let eocd_at = cut.len() - EOCD_LEN;
        let cd_len = u32::try_from(eocd_at - cd_at).unwrap();
        cut[eocd_at + eocd::CD_SIZE..eocd_at + eocd::CD_SIZE + 4].copy_from_slice(&le32(cd_len));
        assert_eq!(message(read(&cut)), NOT_A_ZIP);
        // A name and extra field reaching past the file.
        let mut long_name = z.bytes.clone();
        long_name[z.entries[1].central + central::NAME_LEN] = 0xF0;
        assert!(read(&long_name).is_err());
    }

    /// An entry with flag bit 3 needs a descriptor after its data (signature optional) whose
    /// CRC is the directory's.
    #[test]
    fn data_descriptors_carry_the_directory_crc() {
        let crc = |data: &[u8]| super::super::rawzip::crc32(data);
        // go.mod stored with a descriptor, then `tail` after its data, then m.go.
        let with = |tail: Vec<u8>, zero_local: bool| {
            let e = RawEntry::stored("example.com/m@v1.0.0/go.mod", GO_MOD)
                .flags(FLAG_DATA_DESCRIPTOR)
                .compressed([GO_MOD, &tail[..]].concat());
            let [_, m] = two();
            let mut z = write_zip(&[e, m]);
            // The directory gives the data's real length; the descriptor is not data.
            let len = le32(u32::try_from(GO_MOD.len()).unwrap());
            z.central(0, central::CSIZE, &len);
            if zero_local {
                z.local(0, local::CRC, &le32(0));
                z.local(0, local::CSIZE, &le32(0));
                z.local(0, local::USIZE, &le32(0));
            } else {
                z.local(0, local::CSIZE, &len);
            }
            z.into_bytes()
        };
        // With an extra field in both headers: the data starts after it.
        let with_extra = |tail: Vec<u8>| {
            let e = RawEntry::stored("example.com/m@v1.0.0/go.mod", GO_MOD)
                .flags(FLAG_DATA_DESCRIPTOR)
                .compressed([GO_MOD, &tail[..]].concat())
                .extra(vec![0x99, 0x99, 3, 0, 1, 2, 3]);
            let [_, m] = two();
            let mut z = write_zip(&[e, m]);
            let len = le32(u32::try_from(GO_MOD.len()).unwrap());
            z.central(0, central::CSIZE, &len);
            z.local(0, local::CSIZE, &len);
            z.into_bytes()
        };
        let crc_only = le32(crc(GO_MOD)).to_vec();
        assert_eq!(contents(&with_extra(crc_only)).unwrap(), [GO_MOD, M_GO]);
        let signed = [&b"PK\x07\x08"[..], &le32(crc(GO_MOD)), &le32(21), &le32(21)].concat();
        let unsigned = [&le32(crc(GO_MOD))[..], &le32(21), &le32(21)].concat();
        for zero_local in [false, true] {
            assert_eq!(
                contents(&with(signed.clone(), zero_local)).unwrap(),
                [GO_MOD, M_GO]
            );
            assert_eq!(
                contents(&with(unsigned.clone(), zero_local)).unwrap(),
                [GO_MOD, M_GO]
            );
        }
        let differs = "zip: checksum error (data descriptor CRC differs from the directory)";
        let bad_signed = [&b"PK\x07\x08"[..], &le32(crc(GO_MOD) ^ 1)].concat();
        assert!(message(read(&with(bad_signed, false))).ends_with(differs));
        assert!(message(read(&with(le32(crc(GO_MOD) ^ 1).to_vec(), false))).ends_with(differs));
        // The signature then the CRC of the directory is read after the signature.
        let sig_then_other = [&b"PK\x07\x08"[..], &le32(7)].concat();
        assert!(message(read(&with(sig_then_other, false))).ends_with(differs));
    }

    #[test]
    fn a_descriptor_at_the_very_end_must_fit() {
        // A lone stored entry with a descriptor whose data ends where the directory starts
        // reads its descriptor from the directory's first bytes: `PK\x01\x02` is no
        // descriptor signature and no CRC.
        let e = RawEntry::stored("example.com/m@v1.0.0/go.mod", GO_MOD).flags(FLAG_DATA_DESCRIPTOR);
        let z = write_zip(&[e]);
        let m = message(read(&z.bytes));
        assert!(
            m.ends_with("data descriptor CRC differs from the directory)"),
            "{m}"
        );
        // Its data said to run to the file's end: no room for any descriptor.
        let mut b = z.bytes.clone();
        let to_end = u32::try_from(b.len() - z.entries[0].data).unwrap();
        b[z.entries[0].central + central::CSIZE..z.entries[0].central + central::CSIZE + 4]
            .copy_from_slice(&le32(to_end));
        assert!(message(read(&b)).ends_with("zip: data descriptor missing (unexpected EOF)"));
        // Past the file's end.
        b[z.entries[0].central + central::CSIZE..z.entries[0].central + central::CSIZE + 4]
            .copy_from_slice(&le32(to_end + 1));
        assert!(message(read(&b)).ends_with(NOT_A_ZIP));
    }

    #[test]
    fn unicode_path_fields_are_compared_with_the_raw_name() {
        let name = b"example.com/m@v1.0.0/m.go";
        let with = |field: Vec<u8>| {
            let [a, b] = two();
            write_zip(&[a, b.extra(field)]).into_bytes()
        };
        let same = read(&with(unicode_field(name))).unwrap();
        assert!(!same.entries[1].unicode_differs);
        assert!(!same.entries[0].unicode_differs);
        let other = read(&with(unicode_field(b"example.com/m@v1.0.0/n.go"))).unwrap();
        assert!(other.entries[1].unicode_differs);
        // Malformed: another version, or too short for the CRC.
        let mut v2 = unicode_field(name);
        v2[4] = 2;
        assert!(message(read(&with(v2))).contains("malformed Unicode path extra field"));
        let short = vec![0x75, 0x70, 4, 0, 1, 0, 0, 0];
        assert!(message(read(&with(short))).contains("malformed Unicode path extra field"));
        // Exactly the version and the CRC: an empty name, which differs.
        let empty = vec![0x75, 0x70, 5, 0, 1, 0, 0, 0, 0];
        assert!(read(&with(empty)).unwrap().entries[1].unicode_differs);
    }

    /// Each local header must agree with its directory record; no entry's bytes may overlap
    /// another's or reach into the directory.
    #[test]
    fn local_headers_agree_and_entries_do_not_overlap() {
        let good = write_zip(&two());
        let starts = check_layout(&mut Cursor::new(&good.bytes), &read(&good.bytes).unwrap());
        let data: Vec<u64> = good.entries.iter().map(|e| e.data as u64).collect();
        assert_eq!(starts.unwrap(), data);
        let layout = |z: &Zip| message(contents(&z.bytes));
        let says = |z: Zip, want: &str| {
            let m = layout(&z);
            assert!(m.contains(want), "{m} (want {want})");
        };
        let edit = |f: &dyn Fn(&mut Zip)| {
            let mut z = write_zip(&two());
            f(&mut z);
            z
        };
        says(
            edit(&|z| {
                let at = z.entries[1].local + local::NAME;
                z.bytes[at] = b'E';
            }),
            "the local header names another file",
        );
        says(
            edit(&|z| {
                z.local(1, 6, &le16(FLAG_DATA_DESCRIPTOR));
            }),
            "the local header's flags differ",
        );
        says(
            edit(&|z| {
                z.local(1, 6, &le16(1));
            }),
            "the local header's flags differ",
        );
        // Other flag bits (here: UTF-8 names, bit 11) need not agree.
        let utf8 = edit(&|z| {
            z.local(1, 6, &le16(1 << 11));
        });
        assert_eq!(contents(&utf8.bytes).unwrap(), [GO_MOD, M_GO]);
        says(
            edit(&|z| {
                z.local(1, local::METHOD, &le16(0));
            }),
            "the local header's method differs",
        );
        for field in [local::CRC, local::CSIZE, local::USIZE] {
            says(
                edit(&|z| {
                    let at = z.entries[1].local + field;
                    z.bytes[at] ^= 1;
                }),
                "the local header's sizes or CRC differ",
            );
        }
        says(
            edit(&|z| {
                z.local(1, 0, b"PK\x03\x05");
            }),
            "no local header where the directory says",
        );
        // The directory points past the file, at its last bytes, or at a header whose name
        // runs past the file.
        for offset in [1_u32 << 30, 0] {
            let mut z = write_zip(&two());
            let end = z.bytes.len() - 10;
            let to = if offset == 0 { end } else { offset as usize };
            z.central(1, central::LOCAL_OFFSET, &le32(u32::try_from(to).unwrap()));
            says(z, "no local header where the directory says");
        }
        says(
            edit(&|z| {
                z.local(1, 26, &le16(0xFFF0));
            }),
            "local header cut short",
        );
        // A local Unicode path field naming another file.
        let [a, b] = two();
        let mut z = write_zip(&[a, b.extra(unicode_field(b"example.com/m@v1.0.0/m.go"))]);
        assert!(contents(&z.bytes).is_ok());
        let at = z.entries[1].local + local::NAME + 25 + 9 + 24;
        z.bytes[at] = b'x';
        says(z, "the local Unicode path field names another file");

        // Two entries at one offset, and data running into the directory.
        let [a, _] = two();
        let mut same = write_zip(&[a.clone(), a]);
        same.central(1, central::LOCAL_OFFSET, &le32(0));
        let m = layout(&same);
        assert!(m.contains("overlap"), "{m}");
        assert!(m.contains("\"example.com/m@v1.0.0/go.mod\""), "{m}");
        let into = edit(&|z| {
            let csize = u32::try_from(z.entries[1].data_len + 1).unwrap();
            z.central(1, central::CSIZE, &le32(csize));
            z.local(1, local::CSIZE, &le32(csize));
        });
        says(into, "its data runs into the central directory");
        // Entries in any order of offsets, as long as they do not overlap.
        let mut swapped = Vec::new();
        let [a, b] = two();
        let z = write_zip(&[b.clone(), a.clone()]);
        swapped.extend_from_slice(&z.bytes[..z.entries[0].central]);
        swapped.extend_from_slice(&z.bytes[z.entries[1].central..z.eocd]);
        swapped.extend_from_slice(&z.bytes[z.entries[0].central..z.entries[1].central]);
        swapped.extend_from_slice(&z.bytes[z.eocd..]);
        assert_eq!(contents(&swapped).unwrap(), [GO_MOD, M_GO]);
    }

    /// Data is read to exactly its declared size and CRC, stored or deflated.
    #[test]
    fn entry_data_must_match_its_declared_size_and_crc() {
        let one = |e: RawEntry, edit: &dyn Fn(&mut Zip)| {
            let mut z = write_zip(&[e]);
            edit(&mut z);
            z.into_bytes()
        };
        let name = "example.com/m@v1.0.0/go.mod";
        let big: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        for e in [
            RawEntry::stored(name, &big),
            RawEntry::deflated(name, &big),
            RawEntry::stored(name, b""),
            RawEntry::deflated(name, b""),
        ] {
            let data = e.data.clone();
            assert_eq!(contents(&one(e, &|_| {})).unwrap(), [data]);
        }
        let both = |z: &mut Zip, field_c: usize, field_l: usize, v: u32| {
            z.central(0, field_c, &le32(v));
            z.local(0, field_l, &le32(v));
        };
        // Declared one byte smaller or larger than the data.
        let n = u32::try_from(GO_MOD.len()).unwrap();
        let smaller = one(RawEntry::deflated(name, GO_MOD), &|z| {
            both(z, central::USIZE, local::USIZE, n - 1);
        });
        assert_eq!(
            message(contents(&smaller)),
            format!(
                "{name}: uncompressed size is larger than declared size ({} bytes)",
                n - 1
            )
        );
        let larger = one(RawEntry::deflated(name, GO_MOD), &|z| {
            both(z, central::USIZE, local::USIZE, n + 1);
        });
        assert_eq!(
            message(contents(&larger)),
            format!(
                "{name}: uncompressed size is smaller than declared size ({} bytes)",
                n + 1
            )
        );
        // A stored entry's data is its compressed size: declared sizes apart, it is read to
        // its end and no further.
        let stored_larger = one(RawEntry::stored(name, GO_MOD), &|z| {
            both(z, central::USIZE, local::USIZE, n + 1);
        });
        assert!(message(contents(&stored_larger)).contains("smaller than declared size"));
        let crc = one(RawEntry::deflated(name, GO_MOD), &|z| {
            both(z, central::CRC, local::CRC, 7);
        });
        assert_eq!(
            message(contents(&crc)),
            format!("{name}: zip: checksum error")
        );
        // Compressed bytes that end before the stream does, or are not deflate.
        let cut = one(
            RawEntry::deflated(name, GO_MOD).compressed(deflate_stored(GO_MOD)[..10].to_vec()),
            &|_| {},
        );
        let m = message(contents(&cut));
        assert!(m.contains("zip: corrupt entry data"), "{m}");
        let junk = one(
            RawEntry::deflated(name, GO_MOD).compressed(vec![0xFF; 21]),
            &|_| {},
        );
        assert!(message(contents(&junk)).contains("zip: corrupt entry data (flate"));
        // A stored entry whose data reaches past the file.
        let mut past = write_zip(&[RawEntry::stored(name, GO_MOD)]);
        let csize = u32::try_from(past.bytes.len()).unwrap();
        past.central(0, central::CSIZE, &le32(csize));
        past.central(0, central::USIZE, &le32(csize));
        let mut r = Cursor::new(&past.bytes);
        let dir = read(&past.bytes).unwrap();
        let mut reader = DataReader::new();
        let e = dir.entries[0];
        let start = past.entries[0].data as u64;
        let m = message(reader.read(&mut r, &dir, &e, start, &mut |_| {}));
        assert!(m.contains("unexpected EOF"), "{m}");
        // Another method never reaches here, but is refused if it does.
        let mut other = e;
        other.method = 12;
        let m = message(reader.read(&mut r, &dir, &other, start, &mut |_| {}));
        assert!(m.contains("method 12"), "{m}");
        // One reader serves many entries: its inflater is reset for each.
        let z = write_zip(&[
            RawEntry::deflated("a", &big),
            RawEntry::deflated("b", GO_MOD),
            RawEntry::deflated("c", &big),
        ]);
        assert_eq!(contents(&z.bytes).unwrap(), [&big[..], GO_MOD, &big]);
    }

    /// At most `MAX_FILES` entries: by the end record's count before anything is read, and
    /// by the records found when the count says fewer.
    #[test]
    fn the_entry_count_is_bounded_before_and_while_reading() {
        let z = write_zip(&two());
        let count = |n: u64| {
            let b = as_zip64(&z, |cd_at, cd_len, at| zip64_end(n, cd_len, cd_at, at));
            message(read(&b))
        };
        // Allowed by the count, then found to disagree with the directory.
        assert_eq!(count(MAX_FILES as u64), NOT_A_ZIP);
        assert_eq!(
            count(MAX_FILES as u64 + 1),
            format!(
                "zip has {} entries; goshelf accepts at most {MAX_FILES}",
                MAX_FILES + 1
            )
        );
        let many = |n: usize| {
            let entries: Vec<RawEntry> = (0..n)
                .map(|i| RawEntry::stored(format!("{i:x}"), b""))
                .collect();
            write_zip(&entries)
        };
        // Exactly the limit (counted in a zip64 record): read. One more, with a plain count
        // that wrapped at 65,536 (as old writers did): refused while reading.
        let at_limit = as_zip64(&many(MAX_FILES), |cd_at, cd_len, at| {
            zip64_end(MAX_FILES as u64, cd_len, cd_at, at)
        });
        assert_eq!(read(&at_limit).unwrap().entries.len(), MAX_FILES);
        assert_eq!(
            message(read(&many(MAX_FILES + 1).bytes)),
            format!("zip has more than {MAX_FILES} entries")
        );
    }

    /// Entries of empty files whose directory records take `total` bytes (46 fixed bytes
    /// each and their names; `total` at least 94).
    fn records_of(total: u64) -> Vec<RawEntry> {
        let mut entries = Vec::new();
        let mut left = total;
        let push = |size: u64, entries: &mut Vec<RawEntry>| {
            let name = format!(
                "{:0>1$}",
                entries.len(),
                usize::try_from(size - 46).unwrap()
            );
            entries.push(RawEntry::stored(name, b""));
        };
        while left >= 2 * 60_046 {
            push(60_046, &mut entries);
            left -= 60_046;
        }
        let half = left / 2;
        push(half, &mut entries);
        push(left - half, &mut entries);
        entries
    }

    /// The central directory may hold at most `MAX_CENTRAL_DIRECTORY` bytes of records
    /// (46 fixed bytes each, and their names, extra fields and comments).
    #[test]
    fn the_directory_is_at_most_16_mib() {
        let entries = |n: u64| read(&write_zip(&records_of(n)).bytes).map(|d| d.entries.len());
        assert!(entries(MAX_CENTRAL_DIRECTORY).is_ok());
        assert_eq!(
            entries(MAX_CENTRAL_DIRECTORY + 1).unwrap_err().to_string(),
            format!(
                "zip central directory larger than {MAX_CENTRAL_DIRECTORY} bytes (goshelf's limit)"
            )
        );
        // Extra fields and comments count too: records 1,000 bytes short of the limit, then
        // an extra field or a comment of 1,000 bytes (at the limit) or 1,001 (over it).
        for n in [1000_u16, 1001] {
            let mut extra = vec![0x99, 0x99];
            extra.extend_from_slice(&le16(n - 4));
            extra.resize(usize::from(n), 0);
            let mut with_extra = records_of(MAX_CENTRAL_DIRECTORY - 1000);
            let last = with_extra.pop().unwrap();
            with_extra.push(last.extra(extra));
            let with_extra = write_zip(&with_extra).into_bytes();
            let plain = write_zip(&records_of(MAX_CENTRAL_DIRECTORY - 1000)).into_bytes();
            let commented = with_comment(&plain, 1, &vec![b'c'; usize::from(n)]);
            for (what, b) in [("extra", with_extra), ("comment", commented)] {
                let r = read(&b).map(|d| d.entries.len());
                if n == 1000 {
                    assert!(r.is_ok(), "{what} {n}: {r:?}");
                } else {
                    assert!(matches!(r, Err(ZipError::TooLarge(_))), "{what} {n}: {r:?}");
                }
            }
        }
    }

    /// `bytes` (a zip written by `write_zip`) with a comment added to its `i`-th directory
    /// record.
    fn with_comment(bytes: &[u8], i: usize, comment: &[u8]) -> Vec<u8> {
        let mut r = Cursor::new(bytes);
        let end = read_directory_end(&mut r, bytes.len() as u64).unwrap();
        let mut at = usize::try_from(end.offset).unwrap();
        for _ in 0..i {
            let var = usize::from(u16_at(bytes, at + 28))
                + usize::from(u16_at(bytes, at + 30))
                + usize::from(u16_at(bytes, at + 32));
            at += 46 + var;
        }
        let record_end =
            at + 46 + usize::from(u16_at(bytes, at + 28)) + usize::from(u16_at(bytes, at + 30));
        let mut out = bytes[..record_end].to_vec();
        out[at + 32..at + 34].copy_from_slice(&le16(u16::try_from(comment.len()).unwrap()));
        out.extend_from_slice(comment);
        out.extend_from_slice(&bytes[record_end..]);
        // The end record's directory size.
        let eocd = out.len() - EOCD_LEN;
        let size = u32_at(&out, eocd + 12) + u32::try_from(comment.len()).unwrap();
        out[eocd + 12..eocd + 16].copy_from_slice(&le32(size));
        out
    }

    #[test]
    fn interrupted_reads_are_retried_and_other_errors_end_the_read() {
        let z = write_zip(&two());
        let mut r = Interrupted::new(Cursor::new(z.bytes.clone()));
        let dir = read_directory(&mut r, z.bytes.len() as u64).unwrap();
        assert_eq!(dir.entries.len(), 2);
        let e = dir.entries[1];
        let mut data = Vec::new();
        DataReader::new()
            .read(&mut r, &dir, &e, z.entries[1].data as u64, &mut |b| {
                data.extend_from_slice(b);
            })
            .unwrap();
        assert_eq!(data, M_GO);
        // A failing disk is an I/O error, not a retry forever nor a bad archive.
        let bytes = z.bytes.clone();
        let cd_at = z.entries[0].central as u64;
        let (directory, data) = within(move || {
            let dir = read(&bytes).unwrap();
            let mut failing = Failing::at(bytes, cd_at);
            let mut seen = Vec::new();
            failing.seek(SeekFrom::Start(cd_at)).unwrap();
            let directory = read_header(&mut failing, &mut 0, &mut Directory::default());
            let e = dir.entries[1];
            let data = DataReader::new().read(&mut failing, &dir, &e, cd_at, &mut |b| {
                seen.extend_from_slice(b);
            });
            (
                directory.map_err(|e| e.to_string()),
                data.map_err(|e| e.to_string()),
            )
        });
        assert!(directory.unwrap_err().contains("disk on fire"));
        assert!(data.unwrap_err().contains("disk on fire"));
    }

    #[test]
    fn an_entry_is_48_bytes_and_names_are_stored_once() {
        assert!(std::mem::size_of::<Entry>() <= 48);
        let dir = Directory::of_names([(&b"a/b"[..], 1), (&b"cd"[..], 2)]);
        assert_eq!(dir.names, b"a/bcd");
        assert_eq!(dir.name(&dir.entries[1]), b"cd");
        assert_eq!(dir.entries[1].uncompressed_size, 2);
    }

    #[test]
    fn extra_blocks_must_be_whole_fields() {
        assert_eq!(extra_fields(&[]).unwrap().len(), 0);
        let ok = [
            0x01, 0x00, 0x00, 0x00, 0x55, 0x54, 0x05, 0x00, 1, 2, 3, 4, 5,
        ];
        assert_eq!(extra_fields(&ok).unwrap().len(), 2);
        // A field with no data is whole; an extended timestamp needs its flags byte, and
        // four bytes of time after it only when flag bit 0 (the modification time) is set.
        assert_eq!(extra_fields(&[0x99, 0x99, 0, 0]).unwrap().len(), 1);
        let three_empty = [0x99, 0x99, 0, 0, 0x98, 0x98, 0, 0, 0x97, 0x97, 0, 0];
        assert_eq!(extra_fields(&three_empty).unwrap().len(), 3);
        for data in [&[0_u8][..], &[2], &[1, 0, 0, 0, 0], &[3, 0, 0, 0, 0, 9]] {
            let mut field = vec![0x55, 0x54, u8::try_from(data.len()).unwrap(), 0];
            field.extend_from_slice(data);
            assert!(extra_fields(&field).is_ok(), "{data:?}");
        }
        for bad in [
            &[0x55, 0x54, 0x04, 0x00, 1, 0, 0, 0][..],
            &[0x55, 0x54, 0x01, 0x00, 3],
            &[0x01, 0x00][..],
            &[0x55, 0x54, 0xFF, 0x00, 1, 2, 3, 4],
            &[0x55, 0x54, 0x01, 0x00, 0x07],
            &[0x55, 0x54, 0x00, 0x00],
        ] {
            assert!(extra_fields(bad).is_err(), "{bad:?}");
        }
    }
}
