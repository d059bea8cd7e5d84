//! The tamper-evident log: an RFC 6962 Merkle tree over record texts (x/mod `sumdb/tlog`).
//!
//! - Hashes: leaf `SHA-256(0x00 || record)`, interior `SHA-256(0x01 || left || right)`,
//!   empty tree `SHA-256("")` (spec §4.1).
//! - Stored hashes: appending record `n` stores its leaf hash and one interior hash per
//!   trailing 1-bit of `n`, in the dense order of [`stored_hash_index`] (spec §4.2).
//! - Proofs: [`prove_record`]/[`check_record`] (RFC 6962 audit path) and
//!   [`prove_tree`]/[`check_tree`] (RFC 6962 consistency proof).
//! - Text forms: the tree head `go.sum database tree\nN\nhash\n` and the lookup record
//!   framing `id\ntext\n` (spec §3, §5).
//!
//! Storage is abstracted as a [`HashReader`] callback returning stored hashes by index.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{Error, B64};

/// A SHA-256 hash identifying a record or a (sub)tree.
pub type Hash = [u8; 32];

/// Size of a [`Hash`](type@Hash) in bytes.
pub const HASH_SIZE: usize = 32;

/// Reads stored hashes by stored hash index (see [`stored_hash_index`]).
///
/// Must return exactly one hash per requested index, in order, or an error.
/// The functions here always request indexes in increasing order.
pub type HashReader<'a> = dyn FnMut(&[u64]) -> Result<Vec<Hash>, Error> + 'a;

/// A tree head: the number of records and the root hash (x/mod `tlog.Tree`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tree {
    /// Number of records in the tree.
    pub n: u64,
    /// Root hash of the tree.
    pub hash: Hash,
}

/// Hash of a record: `SHA-256(0x00 || data)` (x/mod `tlog.RecordHash`, RFC 6962 §2.1).
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 || left || right)` (x/mod `tlog.NodeHash`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Hash of the empty tree: `SHA-256("")` (RFC 6962 §2.1).
pub fn empty_tree_hash() -> Hash {
    Sha256::digest([]).into()
}

/// Standard padded base64 of a hash, as printed in tree heads (x/mod `Hash.String`).
pub fn hash_to_base64(h: &Hash) -> String {
    B64.encode(h)
}

/// Parses the standard padded base64 form of a hash (x/mod `tlog.ParseHash`).
pub fn parse_hash(s: &str) -> Result<Hash, Error> {
    let data = B64.decode(s).map_err(|_| Error::MalformedHash)?;
    Hash::try_from(data.as_slice()).map_err(|_| Error::MalformedHash)
}

/// `x >> s`, or 0 when `s >= 64` (Go shift semantics; never panics).
pub(crate) fn shr(x: u64, s: u32) -> u64 {
    x.checked_shr(s).unwrap_or(0)
}

/// `x << s`, or 0 when `s >= 64` (Go shift semantics; never panics).
pub(crate) fn shl(x: u64, s: u32) -> u64 {
    x.checked_shl(s).unwrap_or(0)
}

/// Largest power of two `<= x` and its log2, for `x >= 1`.
fn pow2_at_most(x: u64) -> (u64, u32) {
    let l = 63u32.saturating_sub(x.leading_zeros());
    (1u64 << l, l)
}

/// Largest power of two strictly below `x`, for `x >= 2` (x/mod `maxpow2`).
fn pow2_below(x: u64) -> (u64, u32) {
    pow2_at_most(x.saturating_sub(1).max(1))
}

/// Maps tree coordinates (level, n) to the dense stored hash order
/// (x/mod `tlog.StoredHashIndex`; Crosby–Wallach §3.3).
///
/// Rule: repeat `level` times `n = 2n+1`; then sum `n + n/2 + n/4 + …`; add `level`.
/// Exact for any coordinates of trees below 2^62 records; wraps (never panics) beyond.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    let mut n = n;
    // After 64 doublings n is all ones; further ones change nothing.
    for _ in 0..level.min(64) {
        n = n.wrapping_mul(2).wrapping_add(1);
    }
    // n + n/2 + n/4 + ... = 2n - popcount(n) (each set bit 2^b adds 2^(b+1) - 1), so no
    // loop: the same value, modulo 2^64, in constant time.
    n.wrapping_mul(2)
        .wrapping_sub(u64::from(n.count_ones()))
        .wrapping_add(u64::from(level))
}

/// Inverse of [`stored_hash_index`]: the (level, n) stored at `index`
/// (x/mod `tlog.SplitStoredHashIndex`).
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) = n + n/2 + n/4 + ... < 2n, so for n = index/2 it is at most
    // `index`, and the record that wrote `index` is in [index/2, index/2 + log2(index)]:
    // at most 64 steps forward.
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    for _ in 0..=64 {
        // Record n+1 starts after record n's 1 + trailing_ones(n) hashes.
        let extra = u64::from(n.trailing_ones());
        match index_n.checked_add(1 + extra) {
            Some(x) if x <= index => {
                n += 1;
                index_n = x;
            }
            _ => break,
        }
    }
    // The wanted hash was stored with record n: one of (0, n), (1, n/2), (2, n/4), ...
    let level = (index - index_n) as u32;
    (level, shr(n, level))
}

/// Number of stored hashes for a tree of `n` records (x/mod `tlog.StoredHashCount`).
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Hashes up to the last leaf, plus the subtrees that leaf completes.
    stored_hash_index(0, n - 1)
        .wrapping_add(1)
        .wrapping_add(u64::from((n - 1).trailing_ones()))
}

/// The hashes to store when appending record `n` with text `data`, starting at
/// `stored_hash_index(0, n)` (x/mod `tlog.StoredHashes`).
pub fn stored_hashes(n: u64, data: &[u8], read: &mut HashReader<'_>) -> Result<Vec<Hash>, Error> {
    stored_hashes_for_record_hash(n, record_hash(data), read)
}

/// Like [`stored_hashes`] but given the record hash (x/mod `tlog.StoredHashesForRecordHash`).
///
/// Rule (spec §4.2): store `h` = the leaf hash; then for each trailing 1-bit `i` of `n`,
/// `h = node(stored(level i, (n >> i) - 1), h)` and store `h`.
pub fn stored_hashes_for_record_hash(
    n: u64,
    h: Hash,
    read: &mut HashReader<'_>,
) -> Result<Vec<Hash>, Error> {
    let m = n.trailing_ones();
    // Sibling subtree roots, in increasing index order (highest level first).
    let indexes: Vec<u64> = (0..m)
        .rev()
        .map(|i| stored_hash_index(i, shr(n, i) - 1))
        .collect();
    let old = read_exact(read, &indexes)?;
    let mut hashes = Vec::with_capacity(old.len() + 1);
    hashes.push(h);
    let mut h = h;
    for sibling in old.iter().rev() {
        h = node_hash(sibling, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// Calls `read`, checking that it returned one hash per index.
fn read_exact(read: &mut HashReader<'_>, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(Error::BadHashCount {
            want: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Reads the hashes at `indexes` and builds a value from them with `build`, which must use
/// them all: a remainder is [`Error::Internal`] with `bad_math`.
fn build_from_hashes<T>(
    read: &mut HashReader<'_>,
    indexes: &[u64],
    bad_math: &'static str,
    build: impl for<'h> FnOnce(&'h [Hash]) -> Result<(T, &'h [Hash]), Error>,
) -> Result<T, Error> {
    let hashes = read_exact(read, indexes)?;
    let (built, rest) = build(&hashes)?;
    if !rest.is_empty() {
        return Err(Error::Internal(bad_math));
    }
    Ok(built)
}

/// Root hash of the tree of `n` records from stored hashes (x/mod `tlog.TreeHash`).
///
/// Reads at most `1 + log2 n` hashes in one call: the roots of the maximal aligned
/// power-of-two subtrees of `[0, n)`, folded right to left (spec §4.2).
pub fn tree_hash(n: u64, read: &mut HashReader<'_>) -> Result<Hash, Error> {
    if n == 0 {
        return Ok(empty_tree_hash());
    }
    let indexes = sub_tree_index(0, n);
    build_from_hashes(read, &indexes, "bad index math in tree_hash", |hashes| {
        sub_tree_hash(0, n, hashes)
    })
}

/// Stored indexes of the maximal aligned subtrees covering records `[lo, hi)`
/// (x/mod `subTreeIndex`).
pub(crate) fn sub_tree_index(lo: u64, hi: u64) -> Vec<u64> {
    let mut need = Vec::new();
    push_sub_tree_index(lo, hi, &mut need);
    need
}

fn push_sub_tree_index(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    // One subtree per set bit of `hi - lo`, the largest first.
    for _ in 0..64 {
        if lo >= hi {
            break;
        }
        let (k, level) = pow2_at_most(hi - lo);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Hash of records `[lo, hi)` from the hashes listed by [`sub_tree_index`]; returns the
/// unused remainder of `hashes` (x/mod `subTreeHash`).
fn sub_tree_hash(lo: u64, hi: u64, hashes: &[Hash]) -> Result<(Hash, &[Hash]), Error> {
    let num_tree = sub_tree_index(lo, hi).len();
    let (mine, rest) = hashes
        .split_at_checked(num_tree)
        .ok_or(Error::Internal("bad index math in sub_tree_hash"))?;
    let mut iter = mine.iter().rev();
    let mut h = *iter.next().ok_or(Error::Internal("empty subtree"))?;
    for left in iter {
        h = node_hash(left, &h);
    }
    Ok((h, rest))
}

/// Proof that the tree of size `t` contains record `n` (RFC 6962 audit path;
/// x/mod `tlog.ProveRecord`).
pub fn prove_record(t: u64, n: u64, read: &mut HashReader<'_>) -> Result<Vec<Hash>, Error> {
    if n >= t {
        return Err(Error::InvalidInput("ProveRecord"));
    }
    let mut indexes = Vec::new();
    leaf_proof_index(0, t, n, &mut indexes);
    build_from_hashes(read, &indexes, "bad index math in prove_record", |hashes| {
        leaf_proof(0, t, n, hashes)
    })
}

/// Indexes needed to prove leaf `n` is in the subtree `[lo, hi)` (x/mod `leafProofIndex`).
fn leaf_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 >= hi {
        return;
    }
    let (k, _) = pow2_below(hi - lo);
    let mid = lo + k;
    split_proof_index(lo, mid, hi, n < mid, need, |lo, hi, need| {
        leaf_proof_index(lo, hi, n, need)
    });
}

/// Indexes for one level of a proof over `[lo, hi)` split at `mid`: the sub-proof's in the
/// left half (`left`) or the right one, and the other half's subtrees, in the order
/// [`split_proof`] reads them.
fn split_proof_index(
    lo: u64,
    mid: u64,
    hi: u64,
    left: bool,
    need: &mut Vec<u64>,
    sub_proof_index: impl FnOnce(u64, u64, &mut Vec<u64>),
) {
    if left {
        sub_proof_index(lo, mid, need);
        push_sub_tree_index(mid, hi, need);
    } else {
        push_sub_tree_index(lo, mid, need);
        sub_proof_index(mid, hi, need);
    }
}

/// One level of a proof over `[lo, hi)` split at `mid`: the sub-proof in the left half
/// (`left`) or the right one, then the hash of the other half. Reads `hashes` in the order
/// [`split_proof_index`] listed them and returns the unused remainder.
fn split_proof<'h>(
    lo: u64,
    mid: u64,
    hi: u64,
    left: bool,
    hashes: &'h [Hash],
    sub_proof: impl FnOnce(u64, u64, &'h [Hash]) -> Result<(Vec<Hash>, &'h [Hash]), Error>,
) -> Result<(Vec<Hash>, &'h [Hash]), Error> {
    let (mut p, th, rest) = if left {
        let (p, rest) = sub_proof(lo, mid, hashes)?;
        let (th, rest) = sub_tree_hash(mid, hi, rest)?;
        (p, th, rest)
    } else {
        let (th, rest) = sub_tree_hash(lo, mid, hashes)?;
        let (p, rest) = sub_proof(mid, hi, rest)?;
        (p, th, rest)
    };
    p.push(th);
    Ok((p, rest))
}

/// Builds the audit path for leaf `n` in `[lo, hi)`, leaf side first (x/mod `leafProof`).
fn leaf_proof(lo: u64, hi: u64, n: u64, hashes: &[Hash]) -> Result<(Vec<Hash>, &[Hash]), Error> {
    if lo + 1 >= hi {
        // The verifier knows the leaf hash itself.
        return Ok((Vec::new(), hashes));
    }
    let (k, _) = pow2_below(hi - lo);
    let mid = lo + k;
    split_proof(lo, mid, hi, n < mid, hashes, |lo, hi, hashes| {
        leaf_proof(lo, hi, n, hashes)
    })
}

/// Checks that `proof` shows the tree of size `t` with hash `th` has record hash `h` at
/// index `n` (x/mod `tlog.CheckRecord`).
pub fn check_record(proof: &[Hash], t: u64, th: &Hash, n: u64, h: &Hash) -> Result<(), Error> {
    if n >= t {
        return Err(Error::InvalidInput("CheckRecord"));
    }
    if run_record_proof(proof, 0, t, n, h)? == *th {
        Ok(())
    } else {
        Err(Error::ProofFailed)
    }
}

/// Recomputes the hash of `[lo, hi)` from an audit path (x/mod `runRecordProof`).
fn run_record_proof(p: &[Hash], lo: u64, hi: u64, n: u64, leaf: &Hash) -> Result<Hash, Error> {
    if lo + 1 >= hi {
        // At the leaf, the proof must be used up.
        return if p.is_empty() {
            Ok(*leaf)
        } else {
            Err(Error::ProofFailed)
        };
    }
    let (last, inner) = p.split_last().ok_or(Error::ProofFailed)?;
    let (k, _) = pow2_below(hi - lo);
    if n < lo + k {
        let th = run_record_proof(inner, lo, lo + k, n, leaf)?;
        Ok(node_hash(&th, last))
    } else {
        let th = run_record_proof(inner, lo + k, hi, n, leaf)?;
        Ok(node_hash(last, &th))
    }
}

/// Proof that the tree of size `t` contains the tree of size `n` as a prefix
/// (RFC 6962 consistency proof; x/mod `tlog.ProveTree`). Needs `1 <= n <= t`.
pub fn prove_tree(t: u64, n: u64, read: &mut HashReader<'_>) -> Result<Vec<Hash>, Error> {
    if n < 1 || n > t {
        return Err(Error::InvalidInput("ProveTree"));
    }
    let mut indexes = Vec::new();
    tree_proof_index(0, t, n, &mut indexes);
    build_from_hashes(read, &indexes, "bad index math in prove_tree", |hashes| {
        tree_proof(0, t, n, hashes)
    })
}

/// Indexes needed for the consistency sub-proof of `[lo, hi)` (x/mod `treeProofIndex`).
fn tree_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if n >= hi {
        if lo != 0 {
            push_sub_tree_index(lo, hi, need);
        }
        return;
    }
    let (k, _) = pow2_below(hi - lo);
    let mid = lo + k;
    split_proof_index(lo, mid, hi, n <= mid, need, |lo, hi, need| {
        tree_proof_index(lo, hi, n, need)
    });
}

/// Builds the consistency sub-proof of `[lo, hi)` (x/mod `treeProof`).
fn tree_proof(lo: u64, hi: u64, n: u64, hashes: &[Hash]) -> Result<(Vec<Hash>, &[Hash]), Error> {
    if n >= hi {
        if lo == 0 {
            // Exactly the old tree: the verifier knows its hash.
            return Ok((Vec::new(), hashes));
        }
        let (th, rest) = sub_tree_hash(lo, hi, hashes)?;
        return Ok((vec![th], rest));
    }
    let (k, _) = pow2_below(hi - lo);
    let mid = lo + k;
    split_proof(lo, mid, hi, n <= mid, hashes, |lo, hi, hashes| {
        tree_proof(lo, hi, n, hashes)
    })
}

/// Checks that `proof` shows the tree of size `t` with hash `th` contains as a prefix the
/// tree of size `n` with hash `h` (x/mod `tlog.CheckTree`). Needs `1 <= n <= t`.
pub fn check_tree(proof: &[Hash], t: u64, th: &Hash, n: u64, h: &Hash) -> Result<(), Error> {
    if n < 1 || n > t {
        return Err(Error::InvalidInput("CheckTree"));
    }
    let (h2, th2) = run_tree_proof(proof, 0, t, n, h)?;
    if th2 == *th && h2 == *h {
        Ok(())
    } else {
        Err(Error::ProofFailed)
    }
}

/// Recomputes (old hash, new hash) of `[lo, hi)` from a consistency proof
/// (x/mod `runTreeProof`).
fn run_tree_proof(p: &[Hash], lo: u64, hi: u64, n: u64, old: &Hash) -> Result<(Hash, Hash), Error> {
    if n >= hi {
        return match (lo, p) {
            (0, []) => Ok((*old, *old)),
            (0, _) => Err(Error::ProofFailed),
            (_, [only]) => Ok((*only, *only)),
            _ => Err(Error::ProofFailed),
        };
    }
    let (last, inner) = p.split_last().ok_or(Error::ProofFailed)?;
    let (k, _) = pow2_below(hi - lo);
    if n <= lo + k {
        let (oh, th) = run_tree_proof(inner, lo, lo + k, n, old)?;
        Ok((oh, node_hash(&th, last)))
    } else {
        let (oh, th) = run_tree_proof(inner, lo + k, hi, n, old)?;
        Ok((node_hash(last, &oh), node_hash(last, &th)))
    }
}

const TREE_PREFIX: &str = "go.sum database tree\n";

/// Formats a tree head for signing: `go.sum database tree\nN\nbase64(hash)\n`
/// (x/mod `tlog.FormatTree`).
pub fn format_tree(tree: &Tree) -> String {
    format!("{TREE_PREFIX}{}\n{}\n", tree.n, hash_to_base64(&tree.hash))
}

/// Parses a tree head (x/mod `tlog.ParseTree`, spec §5).
///
/// Rules: starts with `go.sum database tree\n`; at least three `\n`; at most 1e6 bytes;
/// line 2 is canonical decimal `N` in `0..=i64::MAX`; line 3 is a base64 32-byte hash;
/// anything after the third line is ignored.
pub fn parse_tree(text: &str) -> Result<Tree, Error> {
    if !text.starts_with(TREE_PREFIX) || text.len() > 1_000_000 {
        return Err(Error::MalformedTree);
    }
    if text.bytes().filter(|&b| b == b'\n').count() < 3 {
        return Err(Error::MalformedTree);
    }
    let mut lines = text.splitn(4, '\n').skip(1);
    let n_text = lines.next().ok_or(Error::MalformedTree)?;
    let hash_text = lines.next().ok_or(Error::MalformedTree)?;
    let n = parse_canonical_decimal(n_text).ok_or(Error::MalformedTree)?;
    let hash = parse_hash(hash_text).map_err(|_| Error::MalformedTree)?;
    Ok(Tree { n, hash })
}

/// Parses `s` as decimal in `0..=i64::MAX` written exactly as Go's `FormatInt` would.
fn parse_canonical_decimal(s: &str) -> Option<u64> {
    // `parse` also takes `+5` and `007`; only the canonical text prints back as itself.
    let n: u64 = s.parse().ok()?;
    (n <= i64::MAX as u64 && n.to_string() == s).then_some(n)
}

/// Checks record text (x/mod `isValidRecordText`): valid UTF-8, no control characters
/// other than `\n`, no `\n\n` (blank line), and ends with `\n`.
pub fn check_record_text(text: &[u8]) -> Result<(), Error> {
    let s = std::str::from_utf8(text).map_err(|_| Error::MalformedRecord)?;
    let bad_char = s.chars().any(|c| c < ' ' && c != '\n');
    if bad_char || s.contains("\n\n") || !s.ends_with('\n') {
        return Err(Error::MalformedRecord);
    }
    Ok(())
}

/// Formats a record for a lookup answer: `id\n` + text + `\n` (x/mod `tlog.FormatRecord`).
pub fn format_record(id: u64, text: &[u8]) -> Result<Vec<u8>, Error> {
    check_record_text(text)?;
    let mut msg = format!("{id}\n").into_bytes();
    msg.extend_from_slice(text);
    msg.push(b'\n');
    Ok(msg)
}

/// Parses a record at the start of a lookup answer, stopping after its terminating blank
/// line: returns (id, record text, rest) (x/mod `tlog.ParseRecord`).
///
/// The id must be ASCII decimal digits (Go's `ParseInt` also takes a sign, which no log
/// writes: refused here); the text is everything up to and including the first
/// `\n` of the first `\n\n`, and must pass [`check_record_text`].
pub fn parse_record(msg: &[u8]) -> Result<(u64, &[u8], &[u8]), Error> {
    let nl = msg
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(Error::MalformedRecord)?;
    let id_text = &msg[..nl];
    if !id_text.iter().all(u8::is_ascii_digit) {
        return Err(Error::MalformedRecord);
    }
    let id = std::str::from_utf8(id_text)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&id| id <= i64::MAX as u64)
        .ok_or(Error::MalformedRecord)?;
    let body = &msg[nl + 1..];
    let end = body
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or(Error::MalformedRecord)?;
    let (text, rest) = (&body[..end + 1], &body[end + 2..]);
    check_record_text(text)?;
    Ok((id, text, rest))
}

/// A [`HashReader`] over an in-memory slice of stored hashes (index = position).
pub fn slice_reader(hashes: &[Hash]) -> impl FnMut(&[u64]) -> Result<Vec<Hash>, Error> + '_ {
    move |indexes: &[u64]| {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| hashes.get(i))
                    .copied()
                    .ok_or(Error::IndexNotInTree {
                        index: i,
                        size: hashes.len() as u64,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An in-memory log for tests: record texts and stored hashes.
    #[derive(Default, Clone)]
    pub(crate) struct MemLog {
        pub records: Vec<Vec<u8>>,
        pub hashes: Vec<Hash>,
    }

    impl MemLog {
        pub fn append(&mut self, text: &[u8]) -> u64 {
            let n = self.records.len() as u64;
            let new = stored_hashes(n, text, &mut slice_reader(&self.hashes)).unwrap();
            self.hashes.extend(new);
            self.records.push(text.to_vec());
            n
        }

        /// Appends a record known only by its hash (its text is left empty).
        pub fn append_leaf_hash(&mut self, h: Hash) {
            let n = self.records.len() as u64;
            let new = stored_hashes_for_record_hash(n, h, &mut slice_reader(&self.hashes));
            self.hashes.extend(new.unwrap());
            self.records.push(Vec::new());
        }

        pub fn tree(&self) -> Tree {
            self.tree_at(self.records.len() as u64)
        }

        pub fn tree_at(&self, n: u64) -> Tree {
            let hash = tree_hash(n, &mut slice_reader(&self.hashes)).unwrap();
            Tree { n, hash }
        }
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn b64(h: &Hash) -> String {
        hash_to_base64(h)
    }

    // V1 (x/mod tlog/note_test.go).
    #[test]
    fn v1_record_hash_and_tree_format() {
        let h = record_hash(b"hello world");
        assert_eq!(b64(&h), "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=");
        let tree = Tree {
            n: 123456789012,
            hash: h,
        };
        let text =
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        assert_eq!(format_tree(&tree), text);
        assert_eq!(parse_tree(text).unwrap(), tree);
    }

    #[test]
    fn v1_parse_tree_rules() {
        let good =
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        for bad in [
            format!("not-{good}"),
            "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n".into(),
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n"
                .into(),
            good.replace("\n123456789012\n", "\n0123456789012\n"),
            good.replace("\n123456789012\n", "\n+123456789012\n"),
            good.replace("\n123456789012\n", "\n-1\n"),
            good.replace("\n123456789012\n", "\n9223372036854775808\n"),
            good.trim_end_matches('\n').to_string(),
            format!("{good}{}", "x".repeat(1_000_000)),
            format!("{good}{}", "x".repeat(1_000_001 - good.len())),
            good.replace("\n123456789012\n", "\n\n"),
        ] {
            assert_eq!(parse_tree(&bad), Err(Error::MalformedTree), "{bad:.80?}");
        }
        for extra in ["JOE", "JOE\n", &"JOE\n".repeat(1000)] {
            let t = parse_tree(&format!("{good}{extra}")).unwrap();
            assert_eq!(t.n, 123456789012);
        }
        // At most 1e6 bytes in all.
        let limit = format!("{good}{}", "x".repeat(1_000_000 - good.len()));
        assert_eq!(parse_tree(&limit).unwrap().n, 123456789012);
        let max = good.replace("\n123456789012\n", "\n9223372036854775807\n");
        assert_eq!(parse_tree(&max).unwrap().n, i64::MAX as u64);
        let zero = good.replace("\n123456789012\n", "\n0\n");
        assert_eq!(parse_tree(&zero).unwrap().n, 0);
    }

    #[test]
    fn v1_format_and_parse_record() {
        let msg = format_record(123456789012, b"hello, world\n").unwrap();
        assert_eq!(msg, b"123456789012\nhello, world\n\n");
        for bad in [
            &b""[..],
            b"hello\nworld",
            b"hello\n\nworld\n",
            b"hello\x01world\n",
        ] {
            assert_eq!(
                format_record(1, bad),
                Err(Error::MalformedRecord),
                "{bad:?}"
            );
            assert!(check_record_text(bad).is_err());
        }
        let (id, text, rest) =
            parse_record(b"123456789012\nhello, world\n\njunk on end\x01\xff").unwrap();
        assert_eq!(
            (id, text, rest),
            (
                123456789012,
                &b"hello, world\n"[..],
                &b"junk on end\x01\xff"[..]
            )
        );
        let (_, _, rest) = parse_record(b"123456789012\nhello, world\n\n").unwrap();
        assert!(rest.is_empty());
        for bad in [
            &b"not-123456789012\nhello, world\n\n"[..],
            b"123\nhello\x01world\n\n",
            b"123\nhello\xffworld\n\n",
            b"123\nhello world\n",
            b"0x123\nhello world\n\n",
            b"\nhello world\n\n",
            b"-1\nhello world\n\n",
            b"+1\nhello world\n\n",
            b"99999999999999999999\nhello world\n\n",
            b"9223372036854775808\nhello world\n\n",
        ] {
            assert_eq!(parse_record(bad), Err(Error::MalformedRecord), "{bad:?}");
        }
    }

    // V2 (transparency-dev/merkle testonly, RFC 6962 leaves).
    #[test]
    fn v2_small_tree_hashes() {
        let leaves: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let want = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut log = MemLog::default();
        assert_eq!(hex(&log.tree().hash), want[0]);
        assert_eq!(hex(&empty_tree_hash()), want[0]);
        for (i, leaf) in leaves.iter().enumerate() {
            log.append(leaf);
            assert_eq!(hex(&log.tree().hash), want[i + 1], "n={}", i + 1);
        }
        assert_eq!(log.hashes.len(), 15);
        assert_eq!(stored_hash_count(8), 15);
    }

    // Spec §4.2 values.
    #[test]
    fn stored_hash_index_values() {
        let level0: Vec<u64> = (0..8).map(|n| stored_hash_index(0, n)).collect();
        assert_eq!(level0, [0, 1, 3, 4, 7, 8, 10, 11]);
        for (level, n, want) in [
            (1, 0, 2),
            (2, 1, 13),
            (3, 0, 14),
            (8, 0, 510),
            (0, 255, 502),
            (0, 256, 511),
            (0, 65535, 131054),
            (0, 65536, 131071),
        ] {
            assert_eq!(stored_hash_index(level, n), want, "({level},{n})");
            assert_eq!(split_stored_hash_index(want), (level, n));
        }
        // The closed form is x/mod's loop (n + n/2 + n/4 + ..., then the level), wrapping.
        let by_loop = |level: u32, n: u64| {
            let mut n = n;
            for _ in 0..level.min(64) {
                n = n.wrapping_mul(2).wrapping_add(1);
            }
            let mut i = 0u64;
            while n > 0 {
                i = i.wrapping_add(n);
                n >>= 1;
            }
            i.wrapping_add(u64::from(level))
        };
        for n in (0..3000).chain([1 << 40, (1 << 62) - 1, u64::MAX - 1, u64::MAX]) {
            for level in [0, 1, 2, 7, 63, 64, 70] {
                assert_eq!(
                    stored_hash_index(level, n),
                    by_loop(level, n),
                    "({level},{n})"
                );
            }
        }
        assert_eq!(stored_hash_count(4), 7);
        assert_eq!(stored_hash_count(8), 15);
        assert_eq!(stored_hash_count(1000), 1994);
        assert_eq!(stored_hash_count(0), 0);
    }

    #[test]
    fn sub_tree_hash_needs_one_hash_per_subtree() {
        let h = |b: u8| [b; 32];
        // [0, 3): subtrees [0, 2) and [2, 3).
        let three = [h(1), h(2), h(3)];
        let (got, rest) = sub_tree_hash(0, 3, &three).unwrap();
        assert_eq!((got, rest), (node_hash(&h(1), &h(2)), &[h(3)][..]));
        assert_eq!(
            sub_tree_hash(0, 3, &[h(1)]),
            Err(Error::Internal("bad index math in sub_tree_hash"))
        );
        assert_eq!(
            sub_tree_hash(5, 5, &[h(1)]),
            Err(Error::Internal("empty subtree"))
        );
    }

    #[test]
    fn split_stored_hash_index_inverts() {
        for index in 0..5000u64 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
        // Trees far larger than any test builds (below 2^62 records, where the order is exact).
        for n in [1 << 40, (1 << 40) + 12_345, (1 << 61) - 1, (1 << 62) - 3] {
            for level in 0..4 {
                let index = stored_hash_index(level, n >> level);
                assert_eq!(
                    split_stored_hash_index(index),
                    (level, n >> level),
                    "{n} {level}"
                );
            }
        }
        // Extreme inputs do not panic.
        let _ = split_stored_hash_index(u64::MAX);
        let _ = stored_hash_index(u32::MAX, u64::MAX);
        let _ = stored_hash_count(u64::MAX);
        assert_eq!(stored_hash_count(1 << 40), stored_hash_index(0, 1 << 40));
    }

    #[test]
    fn stored_hashes_layout_matches_count() {
        let mut log = MemLog::default();
        for i in 0..600u64 {
            assert_eq!(log.hashes.len() as u64, stored_hash_index(0, i));
            log.append(format!("leaf {i}\n").as_bytes());
            assert_eq!(log.hashes.len() as u64, stored_hash_count(i + 1));
        }
    }

    #[test]
    fn tree_hash_matches_recursive_definition() {
        fn rfc6962(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => empty_tree_hash(),
                1 => leaves[0],
                n => {
                    let (k, _) = pow2_below(n as u64);
                    let (l, r) = leaves.split_at(k as usize);
                    node_hash(&rfc6962(l), &rfc6962(r))
                }
            }
        }
        let mut log = MemLog::default();
        let mut leaves = Vec::new();
        for i in 0..130u64 {
            let text = format!("leaf {i}\n");
            leaves.push(record_hash(text.as_bytes()));
            log.append(text.as_bytes());
            assert_eq!(log.tree().hash, rfc6962(&leaves), "n={}", i + 1);
        }
    }

    fn check_all_proofs(log: &MemLog, t: u64, th: &Hash, leaf_hashes: &[Hash], roots: &[Hash]) {
        let mut read = slice_reader(&log.hashes);
        for n in 0..t {
            let p = prove_record(t, n, &mut read).unwrap();
            check_record(&p, t, th, n, &leaf_hashes[n as usize]).unwrap();
        }
        for n in 1..=t {
            let p = prove_tree(t, n, &mut read).unwrap();
            check_tree(&p, t, th, n, &roots[n as usize]).unwrap();
        }
    }

    #[test]
    fn a_tree_proof_with_a_hash_too_many_is_refused() {
        // Tree 4 inside tree 8: the proof is the hash of [4, 8). Prefixed with tree 4's own
        // hash, the proof still computes both hashes, but x/mod's runTreeProof refuses a
        // proof left over when it reaches the old tree at its start.
        let mut log = MemLog::default();
        for i in 0..8 {
            log.append(format!("leaf {i}\n").as_bytes());
        }
        let (old, new) = (log.tree_at(4).hash, log.tree_at(8).hash);
        let mut read = slice_reader(&log.hashes);
        let p = prove_tree(8, 4, &mut read).unwrap();
        assert_eq!(p.len(), 1);
        check_tree(&p, 8, &new, 4, &old).unwrap();
        let padded = [old, p[0]];
        assert_eq!(
            check_tree(&padded, 8, &new, 4, &old),
            Err(Error::ProofFailed)
        );
    }

    #[test]
    fn proofs_round_trip_small_trees() {
        let mut log = MemLog::default();
        let mut leaf_hashes = Vec::new();
        let mut roots = vec![empty_tree_hash()];
        for i in 0..300u64 {
            let text = format!("leaf {i}\n");
            leaf_hashes.push(record_hash(text.as_bytes()));
            log.append(text.as_bytes());
            roots.push(log.tree().hash);
        }
        for t in 1..=300u64 {
            check_all_proofs(&log, t, &roots[t as usize], &leaf_hashes, &roots);
        }
    }

    #[test]
    fn corrupt_proofs_fail() {
        let mut log = MemLog::default();
        for i in 0..40u64 {
            log.append(format!("leaf {i}\n").as_bytes());
        }
        let mut read = slice_reader(&log.hashes);
        for t in 1..=40u64 {
            let th = log.tree_at(t).hash;
            for n in 0..t {
                let leaf = record_hash(format!("leaf {n}\n").as_bytes());
                let mut p = prove_record(t, n, &mut read).unwrap();
                for k in 0..p.len() {
                    p[k][0] ^= 1;
                    assert_eq!(check_record(&p, t, &th, n, &leaf), Err(Error::ProofFailed));
                    p[k][0] ^= 1;
                }
                let mut longer = p.clone();
                longer.push(th);
                assert!(check_record(&longer, t, &th, n, &leaf).is_err());
                if !p.is_empty() {
                    assert!(check_record(&p[1..], t, &th, n, &leaf).is_err());
                }
                let mut wrong = leaf;
                wrong[31] ^= 1;
                assert!(check_record(&p, t, &th, n, &wrong).is_err());
            }
            for n in 1..=t {
                let h = log.tree_at(n).hash;
                let mut p = prove_tree(t, n, &mut read).unwrap();
                for k in 0..p.len() {
                    p[k][0] ^= 1;
                    assert!(check_tree(&p, t, &th, n, &h).is_err());
                    p[k][0] ^= 1;
                }
                let mut wrong = h;
                wrong[0] ^= 1;
                assert!(check_tree(&p, t, &th, n, &wrong).is_err());
            }
        }
    }

    #[test]
    fn invalid_proof_inputs() {
        let mut read = slice_reader(&[]);
        assert!(prove_record(0, 0, &mut read).is_err());
        assert!(prove_record(3, 3, &mut read).is_err());
        assert!(prove_tree(3, 0, &mut read).is_err());
        assert!(prove_tree(3, 4, &mut read).is_err());
        let h = empty_tree_hash();
        assert!(check_record(&[], 0, &h, 0, &h).is_err());
        assert!(check_tree(&[], 1, &h, 0, &h).is_err());
        assert!(check_tree(&[], 1, &h, 2, &h).is_err());
        // A reader returning the wrong count is refused.
        let mut short = |_: &[u64]| -> Result<Vec<Hash>, Error> { Ok(vec![]) };
        assert_eq!(
            tree_hash(3, &mut short),
            Err(Error::BadHashCount { want: 2, got: 0 })
        );
    }

    /// Grows a log to just past 65,536 records (leaf hashes only: cheap) and checks
    /// tree hashes and proofs at sampled sizes, including around the 2^16 boundary.
    #[test]
    fn proofs_round_trip_large_tree() {
        const N: u64 = 65_536 + 37;
        let leaf = |i: u64| record_hash(&i.to_be_bytes());
        let mut log = MemLog::default();
        for i in 0..N {
            log.append_leaf_hash(leaf(i));
        }
        assert_eq!(log.hashes.len() as u64, stored_hash_count(N));
        let mut read = slice_reader(&log.hashes);
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = move |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let sizes = [1, 2, 255, 256, 257, 65_535, 65_536, 65_537, N];
        for &t in &sizes {
            let th = tree_hash(t, &mut read).unwrap();
            for _ in 0..40 {
                let n = next(t);
                let p = prove_record(t, n, &mut read).unwrap();
                check_record(&p, t, &th, n, &leaf(n)).unwrap();
                let m = 1 + next(t);
                let mh = tree_hash(m, &mut read).unwrap();
                let p = prove_tree(t, m, &mut read).unwrap();
                check_tree(&p, t, &th, m, &mh).unwrap();
            }
            for &m in sizes.iter().filter(|&&m| m <= t) {
                let mh = tree_hash(m, &mut read).unwrap();
                let p = prove_tree(t, m, &mut read).unwrap();
                check_tree(&p, t, &th, m, &mh).unwrap();
            }
        }
    }

    #[test]
    fn parse_hash_rules() {
        let h = record_hash(b"x");
        assert_eq!(parse_hash(&b64(&h)).unwrap(), h);
        assert!(parse_hash("").is_err());
        assert!(parse_hash(&b64(&h)[..43]).is_err());
        assert!(parse_hash("AAAA").is_err());
    }
}
