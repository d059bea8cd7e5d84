//! Bundles across an air gap (issue 28): `export` writes the shelf's modules as a module
//! cache tree with the checksum databases' proofs, `import` takes such a tree (or a go
//! command's module cache) into a shelf. Both run on a store: the CLI's, offline on the
//! database file, or a running server's (`POST /api/v1/admin/import`, `/export`).

pub mod export;
pub mod import;
