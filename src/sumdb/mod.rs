//! Go checksum database ("sumdb") log primitives, pure and deterministic.
//!
//! This module implements the data structures and algorithms that the go command and
//! `golang.org/x/mod/sumdb` use for a go.sum database (spec `checksum-db.md` §3–§5), so
//! that goshelf can both serve its own database and verify an upstream one:
//!
//! - [`tlog`]: the RFC 6962 Merkle tree of records: record and interior hashes, the
//!   append-only stored-hash layout, tree hashes, inclusion and consistency proofs, the
//!   signed tree head text and the lookup record framing (x/mod `sumdb/tlog`).
//! - [`tile`]: tiles of stored hashes and their URL paths, which tiles exist for a tree
//!   size, which ones a publisher must write when the tree grows, and data tiles
//!   (x/mod `sumdb/tlog/tile.go`).
//! - [`note`]: Ed25519 signed notes, verifier and signer keys, key hashes and name rules
//!   (x/mod `sumdb/note`, plus cmd/go's `host[/path]` rule for database names).
//! - [`verify`]: the client side, used to check an upstream database's lookup answers and
//!   tiles before storing them: signed tree, timeline consistency with the newest stored
//!   tree, record inclusion, and tile authentication (x/mod `sumdb/client.go` and
//!   `tileHashReader`, without the two client holes fixed in x/mod v0.40.0).
//!
//! Nothing here performs I/O or reads a clock: storage and network access are callbacks
//! supplied by the caller ([`tlog::HashReader`], [`verify::TileFetcher`]).

pub mod note;
pub mod tile;
pub mod tlog;
pub mod verify;

use std::fmt;

pub use note::{
    check_go_sumdb_name, check_name, key_hash, open, sign, sign_note, Note, Signature, Signer,
    Verifier,
};
pub use tile::{
    format_data_tile, hash_from_tile, new_tiles, parse_tile_path, read_tile_data, tile_exists,
    tile_for_index, tile_parent, Tile,
};
pub use tlog::{
    check_record, check_record_text, check_tree, empty_tree_hash, format_record, format_tree,
    node_hash, parse_record, parse_tree, prove_record, prove_tree, record_hash,
    split_stored_hash_index, stored_hash_count, stored_hash_index, stored_hashes,
    stored_hashes_for_record_hash, tree_hash, Hash, HashReader, Tree,
};
pub use verify::{
    check_trees, lookup_lines, open_tree_note, prove_record_in, verify_lookup, verify_lookup_held,
    verify_lookup_with_height, verify_tree_note, AuthenticatedTile, HeldTree, TileFetcher,
    TileHashReader, VerifiedLookup, VerifiedTree, MAX_HELD_TILES, TILE_HEIGHT,
};

/// Evidence that a database signed two trees that cannot both be prefixes of one log.
///
/// Mirrors the "SECURITY ERROR / go.sum database server misbehavior detected!" report of
/// x/mod `sumdb.Client.checkTrees`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The smaller (or equal-size) tree and its signed note.
    pub older: Tree,
    /// Signed note bytes of `older`.
    pub older_note: Vec<u8>,
    /// The larger (or equal-size) tree and its signed note.
    pub newer: Tree,
    /// Signed note bytes of `newer`.
    pub newer_note: Vec<u8>,
    /// "Proof of misbehavior": the hash that `newer` implies for a tree of `older.n`
    /// records, followed by the consistency proof from that hash to `newer`.
    /// Empty when both trees have the same size.
    pub proof: Vec<Hash>,
}

/// Errors from the sumdb primitives.
///
/// The messages follow x/mod's where one exists, so they read the same as the go
/// command's diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Arguments outside the function's domain (e.g. a record index not below the size).
    InvalidInput(&'static str),
    /// A record or tree proof does not verify.
    ProofFailed,
    /// A hash reader returned a different number of hashes than requested.
    BadHashCount {
        /// Number of hashes requested.
        want: usize,
        /// Number of hashes returned.
        got: usize,
    },
    /// A base64 hash that is not 32 bytes of standard padded base64.
    MalformedHash,
    /// Tree head text that does not follow `go.sum database tree\nN\nhash\n`.
    MalformedTree,
    /// Record text or lookup framing that is not valid.
    MalformedRecord,
    /// A tile path that does not re-encode to itself.
    MalformedTilePath(String),
    /// A tile or tile data that cannot hold the requested hash.
    InvalidTile(String),
    /// A signed note that does not parse.
    MalformedNote,
    /// A verifier key that does not parse.
    MalformedVerifierKey,
    /// A signer key that does not parse.
    MalformedSignerKey,
    /// A key whose algorithm byte is not 1 (Ed25519).
    UnknownAlgorithm,
    /// A key whose `+hash8+` does not match its name and public key.
    KeyHashMismatch,
    /// A key or signer name that is empty, has white space or `+`.
    InvalidName(String),
    /// A database name that cmd/go would refuse (must be host\[/path\]).
    InvalidSumdbName(String),
    /// A signer with an invalid name was passed to `sign`.
    InvalidSigner,
    /// More than one verifier has the name and key hash of a signature.
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key hash.
        hash: u32,
    },
    /// A signature by a known key that does not verify.
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key hash.
        hash: u32,
    },
    /// A note with no signature by any known key (the note is kept for diagnostics).
    UnverifiedNote(Box<Note>),
    /// A stored hash index at or beyond the tree's stored hashes.
    IndexNotInTree {
        /// Requested stored hash index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// Tile data that does not hash to the signed tree (or to its parent tile).
    InconsistentTile,
    /// A tile fetcher returned the wrong number of tiles or a tile of the wrong length.
    BadTileData(String),
    /// A lookup answer names a record id outside the tree it is signed with.
    RecordNotInTree {
        /// Record id.
        id: u64,
        /// Tree size.
        size: u64,
    },
    /// The record text of a lookup answer is not the record at its id.
    RecordMismatch,
    /// Two signed trees that cannot both belong to one append-only log.
    Fork(Box<ForkEvidence>),
    /// A caller-supplied reader or fetcher failed.
    External(String),
    /// An internal invariant failed (a bug, never expected).
    Internal(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(what) => write!(f, "tlog: invalid inputs in {what}"),
            Error::ProofFailed => f.write_str("invalid transparency proof"),
            Error::BadHashCount { want, got } => {
                write!(f, "tlog: ReadHashes({want} indexes) = {got} hashes")
            }
            Error::MalformedHash => f.write_str("malformed hash"),
            Error::MalformedTree => f.write_str("malformed tree note"),
            Error::MalformedRecord => f.write_str("malformed record data"),
            Error::MalformedTilePath(p) => write!(f, "malformed tile path {p:?}"),
            Error::InvalidTile(msg) => f.write_str(msg),
            Error::MalformedNote => f.write_str("malformed note"),
            Error::MalformedVerifierKey => f.write_str("malformed verifier id"),
            Error::MalformedSignerKey => f.write_str("malformed signer id"),
            Error::UnknownAlgorithm => f.write_str("unknown verifier algorithm"),
            Error::KeyHashMismatch => f.write_str("invalid verifier hash"),
            Error::InvalidName(n) => write!(f, "invalid key name {n:?}"),
            Error::InvalidSumdbName(n) => {
                write!(f, "invalid sumdb name (must be host[/path]): {n}")
            }
            Error::InvalidSigner => f.write_str("invalid signer"),
            Error::AmbiguousKey { name, hash } => write!(f, "ambiguous key {name}+{hash:08x}"),
            Error::InvalidSignature { name, hash } => {
                write!(f, "invalid signature for key {name}+{hash:08x}")
            }
            Error::UnverifiedNote(_) => f.write_str("note has no verifiable signatures"),
            Error::IndexNotInTree { index, size } => {
                write!(f, "indexes not in tree (index {index}, tree size {size})")
            }
            Error::InconsistentTile => f.write_str("downloaded inconsistent tile"),
            Error::BadTileData(msg) => write!(f, "TileReader returned bad result: {msg}"),
            Error::RecordNotInTree { id, size } => {
                write!(f, "cannot validate record {id} in tree of size {size}")
            }
            Error::RecordMismatch => {
                f.write_str("cannot authenticate record data in server response")
            }
            Error::Fork(ev) => write_fork(f, ev),
            Error::External(msg) => f.write_str(msg),
            Error::Internal(msg) => write!(f, "internal error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// Formats fork evidence like x/mod `checkTrees` (notes indented with a tab).
fn write_fork(f: &mut fmt::Formatter<'_>, ev: &ForkEvidence) -> fmt::Result {
    let indent = |b: &[u8]| String::from_utf8_lossy(b).replace('\n', "\n\t");
    writeln!(f, "SECURITY ERROR")?;
    writeln!(f, "go.sum database server misbehavior detected!")?;
    writeln!(f)?;
    writeln!(f, "old database:\n\t{}", indent(&ev.older_note))?;
    writeln!(f, "new database:\n\t{}", indent(&ev.newer_note))?;
    write!(f, "proof of misbehavior:")?;
    for h in &ev.proof {
        write!(f, "\n\t{}", tlog::hash_to_base64(h))?;
    }
    Ok(())
}

/// Standard base64 with padding, decoding like Go's `base64.StdEncoding` (which accepts
/// non-zero trailing bits) so that keys and signatures Go accepts are accepted here too.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);
