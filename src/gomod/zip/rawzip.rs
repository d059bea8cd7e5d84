//! Archives for tests: a zip writer ([`write_zip`]) that writes every header field itself,
//! so a test can make archives no library would (lying sizes and CRCs, foreign compression
//! methods, zip64 records, overlapping entries, junk before the archive), and a deflate "bomb
//! kernel". Deterministic: no timestamps, no library whose output may change between
//! versions.
//!
//! Test code only, shared: the unit tests of `gomod::zip` use it (as `gomod::zip::rawzip`),
//! and the integration tests include this same file (`tests/support/hostile.rs`). Each uses
//! a part of it.
#![allow(dead_code, clippy::cast_possible_truncation)]

/// General purpose flag bit 0: the entry is encrypted.
pub const FLAG_ENCRYPTED: u16 = 1;
/// Bit 3: sizes and CRC follow the data in a data descriptor.
pub const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// Bit 6: strong encryption.
pub const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;

/// Compression method 0.
pub const STORE: u16 = 0;
/// Compression method 8.
pub const DEFLATE: u16 = 8;

/// One entry as [`write_zip`] writes it. `data` is the uncompressed content; the compressed bytes
/// are made from it (stored, or deflate in stored blocks) unless `compressed` overrides them.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    /// The method written in both headers.
    pub method: u16,
    /// Compressed bytes to write instead of the ones derived from `data` and `method`.
    pub compressed: Option<Vec<u8>>,
    pub flags: u16,
    /// `(host system << 8) | zip spec version`; 0x031E is Unix, zip 3.0.
    pub version_made_by: u16,
    pub external_attrs: u32,
    pub extra: Vec<u8>,
}

impl RawEntry {
    /// A stored regular file (Unix mode 0644).
    pub fn stored(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> RawEntry {
        RawEntry {
            name: name.as_ref().to_vec(),
            data: data.as_ref().to_vec(),
            method: STORE,
            compressed: None,
            flags: 0,
            version_made_by: 0x031E,
            external_attrs: 0o100_644 << 16,
            extra: Vec::new(),
        }
    }

    /// A deflated regular file (stored deflate blocks: valid method-8 data, no compression).
    pub fn deflated(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> RawEntry {
        RawEntry {
            method: DEFLATE,
            ..RawEntry::stored(name, data)
        }
    }

    /// A directory entry (name should end in `/`), Unix mode 0755.
    pub fn dir(name: impl AsRef<[u8]>) -> RawEntry {
        RawEntry {
            external_attrs: 0o040_755 << 16,
            ..RawEntry::stored(name, b"")
        }
    }

    /// Sets the Unix mode (type bits included) and marks the entry as made on Unix.
    pub fn mode(mut self, mode: u32) -> RawEntry {
        self.version_made_by = 0x031E;
        self.external_attrs = mode << 16;
        self
    }

    pub fn method(mut self, method: u16) -> RawEntry {
        self.method = method;
        self
    }

    pub fn flags(mut self, flags: u16) -> RawEntry {
        self.flags |= flags;
        self
    }

    pub fn compressed(mut self, bytes: Vec<u8>) -> RawEntry {
        self.compressed = Some(bytes);
        self
    }

    pub fn extra(mut self, extra: Vec<u8>) -> RawEntry {
        self.extra = extra;
        self
    }

    fn compressed_bytes(&self) -> Vec<u8> {
        match (&self.compressed, self.method) {
            (Some(c), _) => c.clone(),
            (None, DEFLATE) => deflate_stored(&self.data),
            (None, _) => self.data.clone(),
        }
    }
}

/// Where one entry's records sit in [`Zip::bytes`].
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub local: usize,
    pub central: usize,
    /// First byte of the compressed data.
    pub data: usize,
    pub data_len: usize,
}

/// A written archive with the positions of its records, for patching single fields.
#[derive(Clone, Debug)]
pub struct Zip {
    pub bytes: Vec<u8>,
    pub entries: Vec<At>,
    /// Offset of the end of central directory record.
    pub eocd: usize,
}

/// Central directory header field offsets (APPNOTE 4.3.12).
pub mod central {
    pub const CRC: usize = 16;
    pub const CSIZE: usize = 20;
    pub const USIZE: usize = 24;
    pub const NAME_LEN: usize = 28;
    pub const LOCAL_OFFSET: usize = 42;
}

/// Local file header field offsets (APPNOTE 4.3.7).
pub mod local {
    pub const METHOD: usize = 8;
    pub const CRC: usize = 14;
    pub const CSIZE: usize = 18;
    pub const USIZE: usize = 22;
    pub const NAME: usize = 30;
}

/// End of central directory record field offsets (APPNOTE 4.3.16).
pub mod eocd {
    pub const DISK: usize = 4;
    pub const CD_DISK: usize = 6;
    pub const ENTRIES_ON_DISK: usize = 8;
    pub const ENTRIES: usize = 10;
    pub const CD_SIZE: usize = 12;
    pub const CD_OFFSET: usize = 16;
    pub const COMMENT_LEN: usize = 20;
}

impl Zip {
    /// Overwrites bytes at an absolute offset.
    pub fn put(&mut self, at: usize, bytes: &[u8]) -> &mut Zip {
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    /// Overwrites a field of entry `i`'s central header.
    pub fn central(&mut self, i: usize, field: usize, bytes: &[u8]) -> &mut Zip {
        let at = self.entries[i].central + field;
        self.put(at, bytes)
    }

    /// Overwrites a field of entry `i`'s local header.
    pub fn local(&mut self, i: usize, field: usize, bytes: &[u8]) -> &mut Zip {
        let at = self.entries[i].local + field;
        self.put(at, bytes)
    }

    /// Overwrites a field of the end of central directory record.
    pub fn end(&mut self, field: usize, bytes: &[u8]) -> &mut Zip {
        let at = self.eocd + field;
        self.put(at, bytes)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Little-endian u16.
pub fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

/// Little-endian u32.
pub fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Little-endian u64.
pub fn le64(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

fn u16_of(n: usize) -> u16 {
    u16::try_from(n).expect("field does not fit in 16 bits")
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).expect("field does not fit in 32 bits")
}

/// Writes `entries` as a plain (non-zip64) archive: local headers and data in order, then the
/// central directory and the end record. Names are written verbatim, duplicates included.
pub fn write_zip(entries: &[RawEntry]) -> Zip {
    let mut out = Vec::new();
    let mut ats = Vec::with_capacity(entries.len());
    for e in entries {
        let compressed = e.compressed_bytes();
        let local_at = out.len();
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&le16(20));
        out.extend_from_slice(&le16(e.flags));
        out.extend_from_slice(&le16(e.method));
        out.extend_from_slice(&le16(0)); // time
        out.extend_from_slice(&le16(0x21)); // date: 1980-01-01
        out.extend_from_slice(&le32(crc32(&e.data)));
        out.extend_from_slice(&le32(u32_of(compressed.len())));
        out.extend_from_slice(&le32(u32_of(e.data.len())));
        out.extend_from_slice(&le16(u16_of(e.name.len())));
        out.extend_from_slice(&le16(u16_of(e.extra.len())));
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.extra);
        let data_at = out.len();
        out.extend_from_slice(&compressed);
        ats.push(At {
            local: local_at,
            central: 0,
            data: data_at,
            data_len: compressed.len(),
        });
    }
    let cd_at = out.len();
    for (e, at) in entries.iter().zip(ats.iter_mut()) {
        at.central = out.len();
        out.extend_from_slice(&central_record(e, at.local, at.data_len));
    }
    let cd_len = out.len() - cd_at;
    let eocd_at = out.len();
    out.extend_from_slice(&end_record(entries.len(), cd_len, cd_at));
    Zip {
        bytes: out,
        entries: ats,
        eocd: eocd_at,
    }
}

/// One central directory record for `e`, whose local header is at `local_at`.
pub fn central_record(e: &RawEntry, local_at: usize, compressed_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(46 + e.name.len() + e.extra.len());
    out.extend_from_slice(b"PK\x01\x02");
    out.extend_from_slice(&le16(e.version_made_by));
    out.extend_from_slice(&le16(20));
    out.extend_from_slice(&le16(e.flags));
    out.extend_from_slice(&le16(e.method));
    out.extend_from_slice(&le16(0));
    out.extend_from_slice(&le16(0x21));
    out.extend_from_slice(&le32(crc32(&e.data)));
    out.extend_from_slice(&le32(u32_of(compressed_len)));
    out.extend_from_slice(&le32(u32_of(e.data.len())));
    out.extend_from_slice(&le16(u16_of(e.name.len())));
    out.extend_from_slice(&le16(u16_of(e.extra.len())));
    out.extend_from_slice(&le16(0)); // comment
    out.extend_from_slice(&le16(0)); // disk
    out.extend_from_slice(&le16(0)); // internal attributes
    out.extend_from_slice(&le32(e.external_attrs));
    out.extend_from_slice(&le32(u32_of(local_at)));
    out.extend_from_slice(&e.name);
    out.extend_from_slice(&e.extra);
    out
}

/// A plain end of central directory record. Counts above 65535 wrap, as old writers did.
pub fn end_record(entries: usize, cd_len: usize, cd_at: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(22);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&le16(0));
    out.extend_from_slice(&le16(0));
    #[allow(clippy::cast_possible_truncation)] // wrapping is the point
    let count = entries as u16;
    out.extend_from_slice(&le16(count));
    out.extend_from_slice(&le16(count));
    out.extend_from_slice(&le32(u32_of(cd_len)));
    out.extend_from_slice(&le32(u32_of(cd_at)));
    out.extend_from_slice(&le16(0));
    out
}

/// A zip64 end of central directory record (at `at`) followed by its locator, then a plain end
/// record whose fields are all saturated, as writers do when a count or offset overflows.
pub fn zip64_end(entries: u64, cd_len: u64, cd_at: u64, at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(56 + 20 + 22);
    out.extend_from_slice(b"PK\x06\x06");
    out.extend_from_slice(&le64(44)); // size of the rest of the record
    out.extend_from_slice(&le16(45));
    out.extend_from_slice(&le16(45));
    out.extend_from_slice(&le32(0)); // disk
    out.extend_from_slice(&le32(0)); // cd disk
    out.extend_from_slice(&le64(entries));
    out.extend_from_slice(&le64(entries));
    out.extend_from_slice(&le64(cd_len));
    out.extend_from_slice(&le64(cd_at));
    out.extend_from_slice(&zip64_locator(at));
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&le16(0));
    out.extend_from_slice(&le16(0));
    out.extend_from_slice(&le16(0xFFFF));
    out.extend_from_slice(&le16(0xFFFF));
    out.extend_from_slice(&le32(0xFFFF_FFFF));
    out.extend_from_slice(&le32(0xFFFF_FFFF));
    out.extend_from_slice(&le16(0));
    out
}

/// `z` with its end record replaced by what `record` makes (given where the directory
/// starts, its length and where the record goes): a zip64 end record, its locator and a
/// saturated end record ([`zip64_end`]), as writers do past 65,535 entries or 4 GiB.
pub fn as_zip64(z: &Zip, record: impl Fn(u64, u64, u64) -> Vec<u8>) -> Vec<u8> {
    let mut out = z.bytes[..z.eocd].to_vec();
    let cd_at = z.entries[0].central as u64;
    let cd_len = z.eocd as u64 - cd_at;
    out.extend_from_slice(&record(cd_at, cd_len, out.len() as u64));
    out
}

/// A zip64 end of central directory locator pointing at `record_at`.
fn zip64_locator(record_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(b"PK\x06\x07");
    out.extend_from_slice(&le32(0));
    out.extend_from_slice(&le64(record_at));
    out.extend_from_slice(&le32(1));
    out
}

/// An Info-ZIP Unicode path extra field (0x7075): version 1, the raw name's CRC (written as 0:
/// goshelf compares the names and does not read it), the UTF-8 name.
pub fn unicode_field(name: &[u8]) -> Vec<u8> {
    let mut f = vec![0x75, 0x70];
    f.extend_from_slice(&le16(u16::try_from(5 + name.len()).unwrap_or(u16::MAX)));
    f.push(1);
    f.extend_from_slice(&le32(0));
    f.extend_from_slice(name);
    f
}

/// CRC-32 (IEEE 802.3), table-driven.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0_u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = u32::try_from(i).unwrap();
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut crc = !0_u32;
    for &b in data {
        crc = table[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

/// Deflate (RFC 1951) made of stored blocks only: valid method-8 data, byte-exact and
/// independent of any compressor's version.
pub fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 1));
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = u16_of(chunk.len());
        out.extend_from_slice(&le16(len));
        out.extend_from_slice(&le16(!len));
        out.extend_from_slice(chunk);
    }
    out
}

/// LSB-first bit writer for deflate.
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    /// `value`'s low `count` bits, least significant first (deflate's header fields).
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.acc |= ((value >> i) & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    /// A Huffman code of `len` bits, most significant first.
    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The best-ratio deflate stream there is (about 1032:1): one dynamic-Huffman block that emits
/// a literal zero, then `copies` matches of length 258 at distance 1, each coded in two bits
/// (length symbol 285 and distance symbol 0 both get one-bit codes). It inflates to
/// `1 + 258 * copies` zero bytes; `bomb_kernel(168_000)` is 42,020 bytes and inflates to
/// 43,344,001.
pub fn bomb_kernel(copies: usize) -> Vec<u8> {
    let mut b = Bits {
        out: Vec::with_capacity(copies / 4 + 64),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(2, 2); // BTYPE = dynamic Huffman
    b.put(29, 5); // HLIT: 286 literal/length codes
    b.put(1, 5); // HDIST: 2 distance codes
    b.put(14, 4); // HCLEN: 18 code length codes
                  // Code length code lengths, in RFC 1951's order: symbol 18 gets 1 bit, 1 and 2 get 2.
    const ORDER: [u32; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for sym in ORDER {
        b.put(
            match sym {
                18 => 1,
                1 | 2 => 2,
                _ => 0,
            },
            3,
        );
    }
    // Canonical codes: 18 -> 0, 1 -> 10, 2 -> 11.
    let (len1, len2, zeros) = ((0b10, 2), (0b11, 2), (0, 1));
    let run_of_zeros = |b: &mut Bits, mut n: u32| {
        while n > 0 {
            let run = n.min(138);
            b.code(zeros.0, zeros.1);
            b.put(run - 11, 7);
            n -= run;
        }
    };
    b.code(len2.0, len2.1); // literal 0: 2 bits
    run_of_zeros(&mut b, 255); // literals 1..=255 unused
    b.code(len2.0, len2.1); // 256, end of block: 2 bits
    run_of_zeros(&mut b, 28); // 257..=284 unused
    b.code(len1.0, len1.1); // 285, length 258: 1 bit
    b.code(len1.0, len1.1); // distance 0 (1): 1 bit
    b.code(len1.0, len1.1); // distance 1 (2): 1 bit, so the code is complete
                            // Literal/length codes: 285 -> 0, 0 -> 10, 256 -> 11. Distances: 0 -> 0, 1 -> 1.
    b.code(0b10, 2);
    for _ in 0..copies {
        b.code(0, 1);
        b.code(0, 1);
    }
    b.code(0b11, 2);
    b.finish()
}

/// How many bytes [`bomb_kernel`] inflates to.
pub fn bomb_kernel_len(copies: usize) -> usize {
    1 + 258 * copies
}

/// A reader over `data` whose reads fail ("disk on fire", of `kind`) while its position is
/// in `bad`, like a disk error: from some byte on ([`Failing::at`]), or only under some bytes.
pub struct Failing {
    pub data: std::io::Cursor<Vec<u8>>,
    pub bad: std::ops::Range<u64>,
    pub kind: std::io::ErrorKind,
}

impl Failing {
    /// Reads of `data` fail from byte `fail_at` on.
    pub fn at(data: Vec<u8>, fail_at: u64) -> Self {
        Self {
            data: std::io::Cursor::new(data),
            bad: fail_at..u64::MAX,
            kind: std::io::ErrorKind::Other,
        }
    }
}

impl std::io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let at = self.data.position();
        if self.bad.contains(&at) {
            return Err(std::io::Error::new(self.kind, "disk on fire"));
        }
        // A read stops where the bad bytes start.
        let room = self
            .bad
            .start
            .checked_sub(at)
            .filter(|&r| r > 0)
            .unwrap_or(u64::MAX);
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.data.read(&mut buf[..n])
    }
}

impl std::io::Seek for Failing {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.data.seek(pos)
    }
}

/// A reader that is interrupted before every other read, as a signal may interrupt one.
pub struct Interrupted<R> {
    pub inner: R,
    pub calls: u32,
}

impl<R> Interrupted<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, calls: 0 }
    }
}

impl<R: std::io::Read> std::io::Read for Interrupted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls % 2 == 1 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        self.inner.read(buf)
    }
}

impl<R: std::io::Seek> std::io::Seek for Interrupted<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}
