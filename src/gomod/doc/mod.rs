//! Go package documentation (issue 22), pure: doc comments parsed and rendered as `go doc`
//! and pkg.go.dev render them.

pub mod api;
pub mod build;
pub mod comment;
pub mod module;
