//! Every redb table, every key encoding, and the schema version of the file.
//!
//! Keys are redb's own fixed encodings (strings, fixed byte arrays, little-endian integers in
//! tuples); record values are JSON documents (`records.rs`) so that fields can be added without
//! a migration. Bump `SCHEMA_VERSION` only for a change an older binary would misread.

use redb::TableDefinition;

/// The schema this binary writes. A file with a higher number is refused (`Error::SchemaTooNew`).
///
/// - 1: the first.
/// - 2: a blob's tail may be split into several `CHUNKS` values (`blobs::Layout`), which a
///   schema-1 binary would misread. A schema-1 file is marked 2 when opened; its blobs keep
///   their one-value tails, and both layouts are read.
/// - 3: a blob's last bytes under one page may live in the pack stream (`PACKS`, `PACKED`)
///   instead of a value of their own, which a schema-2 binary would misread. Older files are
///   marked 3 when opened; their blobs keep their layout.
/// - 4: fewer trees per upload, for SD cards (issue 24: redb rewrites the path to the root of
///   every tree a commit touches): a version's `.mod` bytes inside its `VERSIONS` value (up
///   to `INLINE_MOD_MAX`; longer ones stay in `GO_MODS`), the
///   packed bytes' position inside the blob's record (`BLOB_RECORDS`), and the checksum log
///   in one tree (`SUMDB_LOG`) whose records carry their stored hashes, the log's size being
///   its last record's id plus one. Older files are migrated when opened (`migrate`), in the
///   transaction that marks them 4; backups of older files are migrated when restored.
/// - 5: the blob records and the pack stream in one tree (`BLOB_STORE`), so that a small
///   upload writes three trees and not four (issue 24 again: one root page less per commit).
///   Older files' blob records move over and their packed bytes are appended again to a new
///   stream cut for the tree's longer keys, when opened, in the transaction that marks them 5.
pub const SCHEMA_VERSION: u32 = 5;

/// `"schema_version"` → u32 big-endian; `"created_at"` → i64 big-endian Unix seconds.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Owner (namespace) name → `NamespaceRecord`.
pub const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");

/// (owner, module path) → `ModuleRecord`.
pub const MODULES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("modules");

/// (owner, module path, version) → the `VersionRecord` and the version's `.mod` bytes, in one
/// value (`store::version_value`): one tree per upload instead of two. Readers of the record
/// alone decode its JSON prefix (`store::version_record`). `.mod` bytes over
/// `INLINE_MOD_MAX` are kept apart in `GO_MODS`, so that a record's value stays small.
pub const VERSIONS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("versions");

/// (owner, module path, version) → the `.mod` bytes of a version whose `VERSIONS` value says
/// they are kept apart (over `INLINE_MOD_MAX`). Before schema 4 every version's were here.
pub const GO_MODS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("go_mods");

/// (owner, module path, version) → `TombstoneRecord` of a deleted version (its h1 stays pinned).
pub const TOMBSTONES: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("tombstones");

/// Before schema 4: BLAKE3 of a zip → (size in bytes, reference count, chunk field). Read
/// only to migrate into `BLOB_RECORDS`, then removed.
pub(crate) const BLOBS: TableDefinition<&[u8; 32], (u64, u64, u32)> = TableDefinition::new("blobs");

/// Schema 4: BLAKE3 of a zip → (size in bytes, reference count, chunk field, position of its
/// packed bytes in the schema-4 pack stream). Read only to migrate into `BLOB_STORE`.
pub(crate) const BLOB_RECORDS: TableDefinition<&[u8; 32], (u64, u64, u32, u64)> =
    TableDefinition::new("blob_records");

/// The blob store, one tree (schema 5), keys made by `blobs::blob_key` and `packs::pack_key`:
/// - `b` + BLAKE3 of a zip → its record (`blobs::BlobRecord`: size in bytes, reference count,
///   chunk field (`blobs::Layout`), position of its packed bytes in the pack stream: 0 when
///   none are packed, `u64::MAX` when a damaged older file had lost it (`blobs::LOST`));
/// - `p` + record number (u64 big-endian) → a record of the pack stream: a u32
///   (little-endian) count of its bytes still in use, then the stream's bytes
///   `[r * PACK_DATA, r * PACK_DATA + len)` (`packs::PACK_DATA`). A blob's last bytes under one
///   page are appended there, so that many small remainders share a page instead of each
///   taking one of their own. A record alone fills one 4 KiB leaf. A record whose bytes are
///   all released is removed, unless it is the last one.
pub const BLOB_STORE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blob_store");

/// (BLAKE3 of a zip, chunk index) → chunk bytes; every chunk but the last is full.
pub const CHUNKS: TableDefinition<(&[u8; 32], u32), &[u8]> = TableDefinition::new("chunks");

/// Schemas 3 and 4: the pack stream, records of `packs::PACK_DATA_V4` bytes (record `r` → live
/// count, then bytes). Read only to migrate into `BLOB_STORE`.
pub(crate) const PACKS: TableDefinition<u64, &[u8]> = TableDefinition::new("packs");

/// Before schema 4: BLAKE3 of a zip whose last bytes are packed → their position in the pack
/// stream. Read only to migrate into `BLOB_RECORDS`, then removed.
pub(crate) const PACKED: TableDefinition<&[u8; 32], u64> = TableDefinition::new("packed");

/// User name → `UserRecord`.
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");

/// SHA-256 of a token → `TokenRecord`. Tokens themselves are never stored.
pub const TOKENS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("tokens");

/// (organisation, user) → `MemberRecord`.
pub const MEMBERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("members");

/// Meta key of the schema version.
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// Meta key of the creation time.
pub const META_CREATED_AT: &str = "created_at";

/// (owner, module path, version) → number of zip downloads, flushed from memory in batches
/// (web UI). A table added after schema 1: older files get it on open, nothing to migrate.
pub const DOWNLOADS: TableDefinition<(&str, &str, &str), u64> = TableDefinition::new("downloads");
/// The self-signed mode's TLS material (`store::tls`): `"ca_cert"`, `"ca_key"`,
/// `"server_cert"`, `"server_key"` → PEM text; `"server"` → `TlsServerRecord` (JSON). The
/// private keys make the database file as secret as a key file.
pub const TLS: TableDefinition<&str, &[u8]> = TableDefinition::new("tls");

/// BLAKE3 of a zip → what the web UI shows from inside it, rendered README included
/// (`web::facts::ZipFacts::encode`), for zips with a README only. Derivable from the zip, so
/// written without durability, left out of backups and recomputed when absent or of an
/// older format; removed with the blob's last reference.
pub const ZIP_FACTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("zip_facts");
/// BLAKE3 of a zip → its package documentation (`gomod::doc::module::ModuleDocs::encode`),
/// derived like `ZIP_FACTS` (a table added after schema 1: created on open, nothing to
/// migrate).
pub const DOC_FACTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("doc_facts");

// The checksum database (`store::sumdb`).

/// The log, one tree (keys made by `store::sumdb`'s `record_at` and `index_at`): `r` + record
/// id (u64 big-endian) → the record text (the go.sum lines of one module version) followed by
/// the 32-byte stored hashes its append made (x/mod's `StoredHashIndex` order: the leaf, then
/// one per level its id ends in 1 bits); `i` + `path@version` → record id (u64 big-endian).
/// The log's size is its last record's id plus one.
pub const SUMDB_LOG: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sumdb_log");
/// Before schema 4: record id → record text. Read only to migrate into `SUMDB_LOG`.
pub(crate) const SUMDB_RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("sumdb_records");
/// Before schema 4: `path@version` → record id. Read only to migrate into `SUMDB_LOG`.
pub(crate) const SUMDB_INDEX: TableDefinition<&str, u64> = TableDefinition::new("sumdb_index");
/// Before schema 4: stored hash index → hash. Read only to migrate into `SUMDB_LOG`.
pub(crate) const SUMDB_HASHES: TableDefinition<u64, &[u8; 32]> =
    TableDefinition::new("sumdb_hashes");
/// Module path → the logged namespace it belongs to (the first that published it).
pub const SUMDB_PATHS: TableDefinition<&str, &str> = TableDefinition::new("sumdb_paths");
/// (module path, namespace) → 1: another logged namespace may publish that path too
/// (`goshelf owner share`, or two namespaces that hosted it before the log existed).
pub const SUMDB_SHARES: TableDefinition<(&str, &str), u8> = TableDefinition::new("sumdb_shares");
/// (module path, namespace) → 1: an admin's `goshelf owner claim`: the namespace may host
/// that path and the paths below it although the log holds them (or paths below them) from
/// upstream, and lookups of them are answered here from then on, never upstream.
pub const SUMDB_CLAIMS: TableDefinition<(&str, &str), u8> = TableDefinition::new("sumdb_claims");
/// Module path → 1: the log holds records of this path obtained from an upstream database.
/// Hosting such a path, or a proper prefix of one, in an organisation needs a claim.
pub const SUMDB_UPSTREAM_PATHS: TableDefinition<&str, u8> =
    TableDefinition::new("sumdb_upstream_paths");
/// GOPRIVATE-syntax pattern → 1: module paths never asked of an upstream, which every path
/// of a non-public namespace must match (`goshelf private add`, setting `private`).
pub const PRIVATE_PATTERNS: TableDefinition<&str, u8> = TableDefinition::new("private_patterns");
/// `name`, `skey` (the signer key, secret), `readers` (`anyone` or `signed-in`); before
/// schema 4 also `size` (u64 big-endian: records in the log), removed by the migration.
pub const SUMDB_META: TableDefinition<&str, &[u8]> = TableDefinition::new("sumdb_meta");

/// Versions of public modules fetched from an upstream (the pull-through cache), by module
/// path and version: a `CachedRecord` (JSON). Apart from hosted versions, which no cached
/// one may ever shadow.
pub const CACHED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("cached");

/// The `.mod` bytes of each cached version.
pub const CACHED_MODS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("cached_mods");

/// What the proxy of the upstream checksum database serves (`http::sumdb`): by
/// `<database name>/<path>` (`lookup/<path>@<version>`, `tile/...`), the Unix time it was
/// fetched (8 bytes, big-endian) then the body. Only authenticated data is kept.
pub const UPSTREAM_SUMDB: TableDefinition<&str, &[u8]> = TableDefinition::new("upstream_sumdb");

/// Every table, once: `$m!(id, TABLE, args...)` for each table a backup carries, `id` being
/// its number in the backup frame format (`store::backup`; never reused),
/// `$m!(derived, TABLE, args...)` for one a backup leaves out because it is recomputed from
/// the others, and `$m!(legacy id, TABLE, args...)` for a table of an older schema: a backup
/// of an older file may hold it, so a restore writes it and the migration then empties and
/// removes it; it is neither created nor exported. Opening a store creates every current table
/// from this list (`Store::open`), and backup exports and imports from it, so a table cannot
/// be added to one and not the other.
///
/// `DOWNLOADS` is carried (since backup format 1 with id 23): counts are data the UI shows and
/// would not come back. `ZIP_FACTS` and `DOC_FACTS` are derived: it is written without durability and rebuilt
/// from the zips when absent.
macro_rules! for_each_table {
    ($m:ident, $($args:tt)*) => {
        $m!(0, $crate::store::schema::META, $($args)*);
        $m!(1, $crate::store::schema::NAMESPACES, $($args)*);
        $m!(2, $crate::store::schema::MODULES, $($args)*);
        $m!(3, $crate::store::schema::VERSIONS, $($args)*);
        $m!(4, $crate::store::schema::GO_MODS, $($args)*);
        $m!(5, $crate::store::schema::TOMBSTONES, $($args)*);
        $m!(legacy 6, $crate::store::schema::BLOBS, $($args)*);
        $m!(7, $crate::store::schema::CHUNKS, $($args)*);
        $m!(8, $crate::store::schema::USERS, $($args)*);
        $m!(9, $crate::store::schema::TOKENS, $($args)*);
        $m!(10, $crate::store::schema::MEMBERS, $($args)*);
        $m!(11, $crate::store::schema::TLS, $($args)*);
        $m!(legacy 12, $crate::store::schema::PACKS, $($args)*);
        $m!(legacy 13, $crate::store::schema::PACKED, $($args)*);
        $m!(legacy 14, $crate::store::schema::SUMDB_RECORDS, $($args)*);
        $m!(legacy 15, $crate::store::schema::SUMDB_INDEX, $($args)*);
        $m!(legacy 16, $crate::store::schema::SUMDB_HASHES, $($args)*);
        $m!(17, $crate::store::schema::SUMDB_META, $($args)*);
        $m!(18, $crate::store::schema::SUMDB_PATHS, $($args)*);
        $m!(19, $crate::store::schema::SUMDB_SHARES, $($args)*);
        $m!(20, $crate::store::schema::PRIVATE_PATTERNS, $($args)*);
        $m!(21, $crate::store::schema::SUMDB_CLAIMS, $($args)*);
        $m!(22, $crate::store::schema::SUMDB_UPSTREAM_PATHS, $($args)*);
        $m!(23, $crate::store::schema::DOWNLOADS, $($args)*);
        $m!(24, $crate::store::schema::CACHED, $($args)*);
        $m!(25, $crate::store::schema::CACHED_MODS, $($args)*);
        $m!(26, $crate::store::schema::UPSTREAM_SUMDB, $($args)*);
        $m!(legacy 27, $crate::store::schema::BLOB_RECORDS, $($args)*);
        $m!(28, $crate::store::schema::SUMDB_LOG, $($args)*);
        $m!(29, $crate::store::schema::BLOB_STORE, $($args)*);
        $m!(derived, $crate::store::schema::ZIP_FACTS, $($args)*);
        $m!(derived, $crate::store::schema::DOC_FACTS, $($args)*);
    };
}
pub(crate) use for_each_table;
