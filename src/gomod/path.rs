//! Module paths and file paths (spec.md §1.3, §2.3, §3.1, §3.2).

/// An error from a path rule; `Display` is the go command's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(pub String);

/// A module path that passed `module.CheckPath`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModulePath(String);

impl ModulePath {
    /// Checks `path` with `module.CheckPath`.
    ///
    /// # Errors
    /// `malformed module path "<p>": <reason>`.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        check_path(path)?;
        Ok(Self(path.to_owned()))
    }

    /// Wraps a path read back from our own store, which checked it on the way in.
    #[must_use]
    pub fn from_store_unchecked(path: String) -> Self {
        Self(path)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ModulePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `module.CheckPath`.
///
/// # Errors
/// `malformed module path "<p>": <reason>`.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let _ = path;
    todo!()
}

/// `module.CheckFilePath`.
///
/// # Errors
/// `malformed file path "<p>": <reason>`.
pub fn check_file_path(path: &str) -> Result<(), PathError> {
    let _ = path;
    todo!()
}

/// `module.SplitPathVersion`: the path without its major suffix, and the suffix (`/v2`,
/// `.v1`, `.v1-unstable` or empty). `None` when the suffix is malformed.
#[must_use]
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    let _ = path;
    todo!()
}

/// `module.EscapePath`.
///
/// # Errors
/// When the path fails `check_path`.
pub fn escape_path(path: &str) -> Result<String, PathError> {
    let _ = path;
    todo!()
}

/// `module.UnescapePath`: decodes `!x` to `X` and requires the result to pass `check_path`.
///
/// # Errors
/// A bare upper-case letter, `!` not followed by `a`-`z`, non-ASCII, or an invalid result.
pub fn unescape_path(escaped: &str) -> Result<ModulePath, PathError> {
    let _ = escaped;
    todo!()
}

/// `module.EscapeVersion`.
///
/// # Errors
/// When the version is not a valid file-path element or contains `!`.
pub fn escape_version(version: &str) -> Result<String, PathError> {
    let _ = version;
    todo!()
}

/// `module.UnescapeVersion`.
///
/// # Errors
/// As for `unescape_path`, with the file-path element rules for the result.
pub fn unescape_version(escaped: &str) -> Result<String, PathError> {
    let _ = escaped;
    todo!()
}

/// Go's `%q` of a byte string, for error texts (`"\xff"`).
#[must_use]
pub fn go_quote(bytes: &[u8]) -> String {
    let _ = bytes;
    todo!()
}
