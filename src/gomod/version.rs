//! Versions: semver as golang.org/x/mod/semver has it, canonical form, pseudo-versions,
//! `+incompatible`, ordering, and `module.Check` (spec.md §3.2–§3.5).

use std::cmp::Ordering;

/// An error from a version rule; `Display` is the go command's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VersionError(pub String);

/// A canonical module version (`module.CanonicalVersion(v) == v`). `Ord` is semver order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// Accepts only a valid, canonical version.
    ///
    /// # Errors
    /// `version "v1.0.0+bad" is not canonical (should be "v1.0.0")`, or not a semantic version.
    pub fn parse(v: &str) -> Result<Self, VersionError> {
        let _ = v;
        todo!()
    }

    /// Wraps a version read back from our own store.
    #[must_use]
    pub fn from_store_unchecked(v: String) -> Self {
        Self(v)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_pseudo(&self) -> bool {
        is_pseudo(&self.0)
    }

    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        !prerelease(&self.0).is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `semver.IsValid`.
#[must_use]
pub fn is_valid(v: &str) -> bool {
    let _ = v;
    todo!()
}

/// `semver.Canonical`: `None` for an invalid version. Drops build metadata.
#[must_use]
pub fn canonical(v: &str) -> Option<String> {
    let _ = v;
    todo!()
}

/// `module.CanonicalVersion`: like `canonical` but keeps `+incompatible`.
#[must_use]
pub fn canonical_version(v: &str) -> Option<String> {
    let _ = v;
    todo!()
}

/// `semver.Compare`: invalid versions sort below all valid ones and equal each other.
#[must_use]
pub fn compare(a: &str, b: &str) -> Ordering {
    let _ = (a, b);
    todo!()
}

/// `semver.Major`: `v2` for `v2.3.4`; empty for an invalid version.
#[must_use]
pub fn major(v: &str) -> &str {
    let _ = v;
    todo!()
}

/// `semver.Prerelease`: `-pre` or empty.
#[must_use]
pub fn prerelease(v: &str) -> &str {
    let _ = v;
    todo!()
}

/// `semver.Build`: `+meta` or empty.
#[must_use]
pub fn build(v: &str) -> &str {
    let _ = v;
    todo!()
}

/// `module.IsPseudoVersion`.
#[must_use]
pub fn is_pseudo(v: &str) -> bool {
    let _ = v;
    todo!()
}

/// The UTC time embedded in a pseudo-version, as Unix seconds.
///
/// # Errors
/// When `v` is not a pseudo-version or its timestamp is not a real time.
pub fn pseudo_time(v: &str) -> Result<i64, VersionError> {
    let _ = v;
    todo!()
}

/// `module.Check(path, version)`.
///
/// # Errors
/// The go command's texts, e.g. `example.com/m@v2.0.0: invalid version: should be v0 or v1,
/// not v2`, or `malformed module path "cache": missing dot in first path element`.
pub fn check(path: &str, version: &str) -> Result<(), VersionError> {
    let _ = (path, version);
    todo!()
}
