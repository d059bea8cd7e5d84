//! Reads the `module` directive of a go.mod the way `modfile.ParseLax` does, and nothing more.

/// An error reading go.mod; `Display` is the go command's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModFileError(pub String);

/// The module path declared by `go.mod`, unquoted.
///
/// # Errors
/// `missing module line`, or a malformed `module` directive.
pub fn module_path(gomod: &[u8]) -> Result<String, ModFileError> {
    let _ = gomod;
    todo!()
}

/// The `go` directive's version (`1.24`), if any; used by the zip creation vendor rules.
#[must_use]
pub fn go_version(gomod: &[u8]) -> Option<String> {
    let _ = gomod;
    todo!()
}
