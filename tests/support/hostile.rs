//! Tools for hostile-input tests (issue 5): [`RawZip`], a zip writer that writes every header
//! field itself, so a test can make archives no library would (lying sizes and CRCs, foreign
//! compression methods, zip64 records, overlapping entries, junk before the archive); a deflate
//! "bomb kernel"; and the peak memory of a running server process.
//!
//! Everything is deterministic: no timestamps, no library whose output may change between
//! versions, so fixtures written from these recipes are byte-identical on every run.

use std::path::Path;

use super::TestServer;

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

/// One entry as [`RawZip`] writes it. `data` is the uncompressed content; the compressed bytes
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

/// A zip64 end of central directory locator pointing at `record_at`.
fn zip64_locator(record_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(b"PK\x06\x07");
    out.extend_from_slice(&le32(0));
    out.extend_from_slice(&le64(record_at));
    out.extend_from_slice(&le32(1));
    out
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

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set since start or since [`reset_peak`].
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+), so the
/// next reading is the peak of what happens in between. Returns false when not permitted.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// The status code of a response's first line (`HTTP/1.1 200 OK\r\n`), 0 when it has none.
pub fn status_code(line: &[u8]) -> u16 {
    String::from_utf8_lossy(line)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The pid of `server`'s process, found by its `--db` argument (unique per test server).
pub fn server_pid(server: &TestServer) -> u32 {
    let db = server.db_path();
    let want = db.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
        else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        if args.any(|a| a == b"--db") && args.next() == Some(want) {
            return pid;
        }
    }
    panic!("no process serves {}", db.display())
}

// ---- Shared by tests/edge_hostile.rs and tests/hostile_mix.rs ----

pub fn mz(path: &str, version: &str) -> super::ModZip {
    super::ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.21\n").as_bytes())
        .file("m.go", b"package m\n")
}

pub fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
    )
}

/// A stored zip of `n` empty files (and a go.mod) for `module@version`, with zip64 records
/// when `n` needs them; names are short so that 200,000 of them fit goshelf's 16 MiB limit
/// on the central directory.
pub fn many_entry_zip(module: &str, version: &str, n: usize) -> Vec<u8> {
    let prefix = format!("{module}@{version}/");
    let go_mod = format!("module {module}\n");
    let mut out = Vec::with_capacity(n * 80);
    let mut central = Vec::with_capacity(n * 70);
    for i in 0..n {
        let name = if i == 0 {
            format!("{prefix}go.mod")
        } else {
            format!("{prefix}{:03}/{i:06}", i % 1000)
        };
        let data: &[u8] = if i == 0 { go_mod.as_bytes() } else { b"" };
        let crc = crc32(data);
        let at = u32::try_from(out.len()).unwrap();
        let len = u32::try_from(data.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x1e\x03\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&(0o100_644_u32 << 16).to_le_bytes());
        central.extend_from_slice(&at.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_at = out.len();
    let cd_len = central.len();
    out.extend_from_slice(&central);
    if n > 0xFFFF {
        // The zip64 record, its locator and a saturated end record.
        let record_at = out.len() as u64;
        out.extend_from_slice(&zip64_end(n as u64, cd_len as u64, cd_at as u64, record_at));
        return out;
    }
    let count = u16::try_from(n.min(0xFFFF)).unwrap();
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&u32::try_from(cd_len).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(cd_at).unwrap().to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The database file's length and blocks on disk.
pub fn file_space(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.blocks() * 512)
}

/// Asserts that a database's (length, blocks on disk) `with` ends within 1.2x of `without`'s,
/// the same work done without the hostile clients.
pub fn assert_space_within(with: (u64, u64), without: (u64, u64), what: &str) {
    assert!(
        with.0 * 10 <= without.0 * 12,
        "{what}: database length {} against {}",
        with.0,
        without.0
    );
    assert!(
        with.1 * 10 <= without.1 * 12,
        "{what}: database blocks {} against {}",
        with.1,
        without.1
    );
}
