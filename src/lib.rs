//! goshelf: a Go module registry in one binary and one redb file.
//!
//! The library holds everything the binary wires together, so that tests and benches can call
//! the pure Go rules (`gomod`), the store and the HTTP routes directly.

pub mod admin;
pub mod auth;
pub mod bundle;
pub mod cli;
pub mod client;
pub mod config;
pub mod gomod;
pub mod http;
pub mod ingest;
pub mod logging;
pub mod memory;
pub mod publish;
pub mod pull;
pub mod store;
pub mod sumdb;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub mod web;
