//! The Go module rules, pure: module paths, versions, the module zip, go.sum hashes, go.mod.
//!
//! Nothing here does I/O beyond the `Read + Seek` it is handed, logs, awaits or touches redb.
//! The facts come from `../shared/spec/go-module-protocol.md` (spec.md), sections 1.3, 2, 3, 4.

pub mod create;
pub mod doc;
pub mod hash;
pub mod modfile;
pub mod path;
pub mod patterns;
pub mod proxy;
pub mod retention;
pub mod unicode;
mod unicode_tables;
pub mod version;
pub mod zip;

pub use path::ModulePath;
pub use version::Version;
