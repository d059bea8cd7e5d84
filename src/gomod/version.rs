//! Versions: semver as golang.org/x/mod/semver has it, canonical form, pseudo-versions,
//! `+incompatible`, ordering, and `module.Check` (spec.md §3.2–§3.5).
//!
//! Go's semver differs from the `semver` crate (a required `v`, the `vMAJOR` and `vMAJOR.MINOR`
//! shorthands, build metadata dropped by `Canonical`), so semver.go is followed by hand.

use std::cmp::Ordering;

use super::path::{self, go_quote};

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
    /// `version "v1.0.0+bad" is not canonical (should be "v1.0.0")`, or
    /// `version "x" invalid: not a semantic version`.
    pub fn parse(v: &str) -> Result<Self, VersionError> {
        match canonical_version(v) {
            None => Err(VersionError(format!(
                "version {} invalid: not a semantic version",
                go_quote(v.as_bytes())
            ))),
            Some(c) if c != v => Err(not_canonical(v, &c)),
            Some(_) => Ok(Self(v.to_owned())),
        }
    }

    /// Wraps a version read back from our own store.
    #[must_use]
    pub fn from_store_unchecked(v: String) -> Self {
        Self(v)
    }

    /// The version text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a pseudo-version (`module.IsPseudoVersion`, spec.md §3.5).
    #[must_use]
    pub fn is_pseudo(&self) -> bool {
        is_pseudo(&self.0)
    }

    /// Whether the version has a prerelease part (pseudo-versions do).
    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        !prerelease(&self.0).is_empty()
    }

    /// Whether the version carries the `+incompatible` build suffix (spec.md §3.4).
    #[must_use]
    pub fn is_incompatible(&self) -> bool {
        build(&self.0) == "+incompatible"
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

/// zip.go's text for a version that is not in canonical form (spec.md §2.2 step 1).
pub(super) fn not_canonical(v: &str, canonical: &str) -> VersionError {
    VersionError(format!(
        "version {} is not canonical (should be {})",
        go_quote(v.as_bytes()),
        go_quote(canonical.as_bytes())
    ))
}

/// semver.go's `parsed`: slices of the input; `short` is what `Canonical` appends.
#[derive(Debug, Clone, Copy)]
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    short: &'static str,
    prerelease: &'a str,
    build: &'a str,
}

/// semver.go `parse` (spec.md §3.3).
fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_int(rest)?;
    let mut p = Parsed {
        major,
        minor: "0",
        patch: "0",
        short: "",
        prerelease: "",
        build: "",
    };
    if rest.is_empty() {
        p.short = ".0.0";
        return Some(p);
    }
    let (minor, rest) = parse_int(rest.strip_prefix('.')?)?;
    p.minor = minor;
    if rest.is_empty() {
        p.short = ".0";
        return Some(p);
    }
    let (patch, mut rest) = parse_int(rest.strip_prefix('.')?)?;
    p.patch = patch;
    if rest.starts_with('-') {
        let end = rest.find('+').unwrap_or(rest.len());
        let pre = &rest[..end];
        if !idents_ok(&pre[1..], true) {
            return None;
        }
        p.prerelease = pre;
        rest = &rest[end..];
    }
    if rest.starts_with('+') {
        if !idents_ok(&rest[1..], false) {
            return None;
        }
        p.build = rest;
        rest = "";
    }
    rest.is_empty().then_some(p)
}

/// A decimal number without leading zeros, and the rest of the input.
fn parse_int(v: &str) -> Option<(&str, &str)> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && v.starts_with('0')) {
        return None;
    }
    Some(v.split_at(digits))
}

/// Dot-separated, non-empty identifiers of `[0-9A-Za-z-]`; in a prerelease, numeric
/// identifiers have no leading zeros.
fn idents_ok(s: &str, prerelease: bool) -> bool {
    s.split('.').all(|id| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(prerelease && is_bad_num(id))
    })
}

/// A numeric identifier with a leading zero.
fn is_bad_num(id: &str) -> bool {
    id.len() > 1 && id.starts_with('0') && is_num(id)
}

fn is_num(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_digit())
}

/// `semver.IsValid`.
#[must_use]
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// `semver.Canonical`: `None` for an invalid version. Drops build metadata.
#[must_use]
pub fn canonical(v: &str) -> Option<String> {
    let p = parse(v)?;
    if !p.build.is_empty() {
        return Some(v[..v.len() - p.build.len()].to_owned());
    }
    Some(format!("{v}{}", p.short))
}

/// `module.CanonicalVersion`: like `canonical` but keeps `+incompatible`.
#[must_use]
pub fn canonical_version(v: &str) -> Option<String> {
    let mut c = canonical(v)?;
    if build(v) == "+incompatible" {
        c.push_str("+incompatible");
    }
    Some(c)
}

/// `semver.Compare`: invalid versions sort below all valid ones and equal each other.
#[must_use]
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare_int(x.major, y.major)
            .then_with(|| compare_int(x.minor, y.minor))
            .then_with(|| compare_int(x.patch, y.patch))
            .then_with(|| compare_prerelease(x.prerelease, y.prerelease)),
    }
}

/// Numbers without leading zeros compare by length, then lexically.
fn compare_int(x: &str, y: &str) -> Ordering {
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// SemVer 2.0.0 precedence of prereleases (each `-` or empty): no prerelease sorts above any
/// prerelease; numeric identifiers compare numerically and below alphanumeric ones; a shorter
/// list of equal identifiers sorts first.
fn compare_prerelease(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    let mut xs = x[1..].split('.');
    let mut ys = y[1..].split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(dx), Some(dy)) if dx == dy => {}
            (Some(dx), Some(dy)) => {
                return match (is_num(dx), is_num(dy)) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => compare_int(dx, dy),
                    (false, false) => dx.cmp(dy),
                };
            }
        }
    }
}

/// `semver.Major`: `v2` for `v2.3.4`; empty for an invalid version.
#[must_use]
pub fn major(v: &str) -> &str {
    parse(v).map_or("", |p| &v[..1 + p.major.len()])
}

/// `semver.Prerelease`: `-pre` or empty.
#[must_use]
pub fn prerelease(v: &str) -> &str {
    parse(v).map_or("", |p| p.prerelease)
}

/// `semver.Build`: `+meta` or empty.
#[must_use]
pub fn build(v: &str) -> &str {
    parse(v).map_or("", |p| p.build)
}

/// The parts of a pseudo-version, each a slice of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pseudo<'a> {
    /// What precedes the timestamp and its separator: `vX.0.0` (form 1, no base version),
    /// `vX.Y.Z-0` (form 3) or `vX.Y.Z-pre.0` (form 2), as module/pseudo.go's
    /// parsePseudoVersion splits.
    pub base: &'a str,
    /// The 14-digit commit time, `yyyymmddhhmmss`.
    pub timestamp: &'a str,
    /// The revision after the last `-` (before any build suffix).
    pub rev: &'a str,
}

/// `module.IsPseudoVersion`'s test, with the parts: valid semver, and the shape of
/// `^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`
/// (spec.md §3.5), matched here by hand. (Go first counts two `-`: a shortcut, as the shape
/// has two before any `+`; a count here could not change an answer.)
#[must_use]
pub fn pseudo(v: &str) -> Option<Pseudo<'_>> {
    if !is_valid(v) {
        return None;
    }
    pseudo_parts(v)
}

/// `module.IsPseudoVersion`.
#[must_use]
pub fn is_pseudo(v: &str) -> bool {
    pseudo(v).is_some()
}

/// The parts of `v`, or `None` when it does not have the shape of the pseudo-version
/// pattern (whether it is valid semver is [`pseudo`]'s to ask).
fn pseudo_parts(v: &str) -> Option<Pseudo<'_>> {
    // Nothing before the build suffix may hold `+`: not `[^+]*`, the digits, nor the revision.
    let (head, build) = match v.split_once('+') {
        Some((head, build)) => (head, Some(build)),
        None => (v, None),
    };
    if let Some(build) = build {
        if !idents_ok(build, false) {
            return None;
        }
    }
    let (before_rev, rev) = head.rsplit_once('-')?;
    if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let split = before_rev.len().checked_sub(14)?;
    if !before_rev.is_char_boundary(split) {
        return None;
    }
    let (with_separator, timestamp) = before_rev.split_at(split);
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // `v<digits>.` followed by `0.0-` (form 1), or by `<digits>.<digits>-`, an optional
    // `<anything without +>.` and `0.` (forms 2 and 3); the separator is its last byte.
    let rest = skip_digits(with_separator.strip_prefix('v')?)?.strip_prefix('.')?;
    let shaped = rest == "0.0-" || {
        let rest = skip_digits(rest)?.strip_prefix('.')?;
        let rest = skip_digits(rest)?.strip_prefix('-')?;
        let middle = rest.strip_suffix("0.")?;
        middle.is_empty() || middle.ends_with('.')
    };
    let base = with_separator.get(..with_separator.len() - 1)?;
    shaped.then_some(Pseudo {
        base,
        timestamp,
        rev,
    })
}

fn ascii_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// One or more ASCII digits, and what follows them.
fn skip_digits(s: &str) -> Option<&str> {
    let n = ascii_digits(s);
    (n > 0).then(|| &s[n..])
}

/// The UTC time embedded in a pseudo-version, as Unix seconds.
///
/// # Errors
/// When `v` is not a pseudo-version (`pseudo-version "v" invalid: syntax error`) or its
/// timestamp is not a real time (`... invalid: malformed time "20061302150405"`).
pub fn pseudo_time(v: &str) -> Result<i64, VersionError> {
    let quoted = go_quote(v.as_bytes());
    let Some(Pseudo { timestamp, .. }) = pseudo(v) else {
        return Err(VersionError(format!(
            "pseudo-version {quoted} invalid: syntax error"
        )));
    };
    parse_timestamp(timestamp).ok_or_else(|| {
        VersionError(format!(
            "pseudo-version {quoted} invalid: malformed time {}",
            go_quote(timestamp.as_bytes())
        ))
    })
}

/// Go's `time.Parse("20060102150405", s)` in UTC, as Unix seconds.
fn parse_timestamp(ts: &str) -> Option<i64> {
    let field = |range: std::ops::Range<usize>| ts.get(range)?.parse::<u16>().ok();
    let year = i32::from(field(0..4)?);
    let month = time::Month::try_from(u8::try_from(field(4..6)?).ok()?).ok()?;
    let day = u8::try_from(field(6..8)?).ok()?;
    let hour = u8::try_from(field(8..10)?).ok()?;
    let minute = u8::try_from(field(10..12)?).ok()?;
    let second = u8::try_from(field(12..14)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(hour, minute, second).ok()?;
    Some(date.with_time(t).assume_utc().unix_timestamp())
}

/// `module.PseudoVersionBase`: the version a pseudo-version was derived from, or `""` for the
/// `vX.0.0-yyyymmddhhmmss-abcdefabcdef` form, which has none (spec.md §3.5).
///
/// # Errors
/// When `v` is not a pseudo-version, when form 1 carries build metadata (`lacks base version,
/// but has build metadata "+incompatible"`), or when form 2 has patch 0 (`cannot decrement 0`).
pub fn pseudo_base(v: &str) -> Result<String, VersionError> {
    let invalid = |reason: String| {
        VersionError(format!(
            "pseudo-version {} invalid: {reason}",
            go_quote(v.as_bytes())
        ))
    };
    let Some(Pseudo { base, .. }) = pseudo(v) else {
        return Err(invalid("syntax error".to_owned()));
    };
    let build = build(v);
    // Form 1's base has no prerelease; forms 2 and 3 always have one.
    match prerelease(base) {
        "" => {
            if build.is_empty() {
                Ok(String::new())
            } else {
                Err(invalid(format!(
                    "lacks base version, but has build metadata {}",
                    go_quote(build.as_bytes())
                )))
            }
        }
        "-0" => {
            let release = &base[..base.len() - 2];
            let (major_minor, patch) = release.rsplit_once('.').unwrap_or((release, ""));
            let patch =
                dec_decimal(patch).ok_or_else(|| invalid(format!("cannot decrement {patch}")))?;
            Ok(format!("{major_minor}.{patch}{build}"))
        }
        _ => Ok(format!(
            "{}{build}",
            base.strip_suffix(".0").unwrap_or(base)
        )),
    }
}

/// `module.PseudoVersion` (spec.md §3.5) for a commit of the module: `major` is the major
/// version of the module path (`v0`, `v1`, `v2`, ...; empty means `v0`), used only without a
/// `base`; `base` is the highest semver tag that is an ancestor of the commit; `unix_time` is
/// the commit time; `rev` is the commit hash, of which the first 12 characters are used.
///
/// The three forms: `vX.0.0-yyyymmddhhmmss-abcdefabcdef` without a base,
/// `vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef` after the release `vX.Y.Z`, and
/// `vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef` after the prerelease `vX.Y.Z-pre`; the base's
/// build suffix (`+incompatible`) is carried over.
///
/// # Errors
/// When `rev` is not a lower-case hex hash of at least 12 characters, `major` is not `vN`,
/// `base` is not a semantic version, or the time is outside the years 0000 to 9999.
pub fn pseudo_version(
    major: &str,
    base: Option<&str>,
    unix_time: i64,
    rev: &str,
) -> Result<String, VersionError> {
    let is_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if rev.len() < 12 || !is_hex(rev) {
        return Err(VersionError(format!(
            "revision {} is not a lower-case hex commit hash of 12 or more characters",
            go_quote(rev.as_bytes())
        )));
    }
    let major = if major.is_empty() { "v0" } else { major };
    let major_ok = major.strip_prefix('v').is_some_and(|n| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    });
    if !major_ok {
        return Err(VersionError(format!(
            "major version {} is not of the form vN",
            go_quote(major.as_bytes())
        )));
    }
    if let Some(base) = base.filter(|b| !is_valid(b)) {
        return Err(VersionError(format!(
            "base version {} invalid: not a semantic version",
            go_quote(base.as_bytes())
        )));
    }
    let timestamp = format_timestamp(unix_time).ok_or_else(|| {
        VersionError(format!(
            "commit time {unix_time} is outside the years 0000 to 9999"
        ))
    })?;
    Ok(pseudo_version_of(
        major,
        base.unwrap_or(""),
        &timestamp,
        &rev[..12],
    ))
}

/// module/pseudo.go `PseudoVersion`, with the time already formatted; `older` is `""` or a
/// valid semantic version.
fn pseudo_version_of(major: &str, older: &str, timestamp: &str, rev: &str) -> String {
    let major = if major.is_empty() { "v0" } else { major };
    let segment = format!("{timestamp}-{rev}");
    let build = build(older);
    let Some(older) = canonical(older) else {
        return format!("{major}.0.0-{segment}");
    };
    if !prerelease(&older).is_empty() {
        return format!("{older}.0.{segment}{build}");
    }
    let (v, patch) = older.split_at(older.rfind('.').map_or(0, |i| i + 1));
    format!("{v}{}-0.{segment}{build}", inc_decimal(patch))
}

/// A decimal string plus one (pseudo.go `incDecimal`).
fn inc_decimal(d: &str) -> String {
    let mut digits = d.as_bytes().to_vec();
    // The trailing nines become zeros (counted, not stepped over: no index loop).
    let i = digits.len() - digits.iter().rev().take_while(|&&d| d == b'9').count();
    digits[i..].fill(b'0');
    if i > 0 {
        digits[i - 1] += 1;
    } else {
        digits.insert(0, b'1');
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// Go's `t.UTC().Format("20060102150405")`, for years 0 to 9999.
fn format_timestamp(unix_time: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_time).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// A decimal string minus one, or `None` for zero.
fn dec_decimal(d: &str) -> Option<String> {
    let mut digits = d.as_bytes().to_vec();
    // The trailing zeros become nines.
    let i = digits.len() - digits.iter().rev().take_while(|&&d| d == b'0').count();
    digits[i..].fill(b'9');
    if i == 0 {
        return None;
    }
    digits[i - 1] -= 1;
    if digits[i - 1] == b'0' && i == 1 && digits.len() > 1 {
        digits.remove(0);
    }
    String::from_utf8(digits).ok()
}

/// `module.Check(path, version)`.
///
/// # Errors
/// The go command's texts, e.g. `example.com/m@v2.0.0: invalid version: should be v0 or v1,
/// not v2`, or `malformed module path "cache": missing dot in first path element`.
pub fn check(path: &str, version: &str) -> Result<(), VersionError> {
    path::check_path(path).map_err(|e| VersionError(e.0))?;
    if !is_valid(version) {
        return Err(VersionError(format!(
            "{path}@{version}: invalid version: not a semantic version"
        )));
    }
    let path_major = path::split_path_version(path).map_or("", |(_, major)| major);
    path::path_major_reason(version, path_major)
        .map_err(|reason| VersionError(format!("{path}@{version}: invalid version: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// pseudo_test.go's `pseudoTime`, 2006-01-02T15:04:05Z.
    const PSEUDO_TIME: i64 = 1_136_214_245;

    #[test]
    fn pseudo_version_of_matches_pseudo_test_go() {
        // module/pseudo_test.go pseudoTests: (major, older, version).
        let cases = [
            ("", "", "v0.0.0-20060102150405-hash"),
            ("v0", "", "v0.0.0-20060102150405-hash"),
            ("v1", "", "v1.0.0-20060102150405-hash"),
            ("v2", "", "v2.0.0-20060102150405-hash"),
            ("unused", "v0.0.0", "v0.0.1-0.20060102150405-hash"),
            ("unused", "v1.2.3", "v1.2.4-0.20060102150405-hash"),
            (
                "unused",
                "v1.2.99999999999999999",
                "v1.2.100000000000000000-0.20060102150405-hash",
            ),
            ("unused", "v1.2.3-pre", "v1.2.3-pre.0.20060102150405-hash"),
            ("unused", "v1.3.0-pre", "v1.3.0-pre.0.20060102150405-hash"),
            ("unused", "v0.0.0--", "v0.0.0--.0.20060102150405-hash"),
            (
                "unused",
                "v1.0.0+metadata",
                "v1.0.1-0.20060102150405-hash+metadata",
            ),
            (
                "unused",
                "v2.0.0+incompatible",
                "v2.0.1-0.20060102150405-hash+incompatible",
            ),
            (
                "unused",
                "v2.3.0-pre+incompatible",
                "v2.3.0-pre.0.20060102150405-hash+incompatible",
            ),
        ];
        let timestamp = format_timestamp(PSEUDO_TIME).unwrap();
        assert_eq!(timestamp, "20060102150405");
        for (major, older, want) in cases {
            let got = pseudo_version_of(major, older, &timestamp, "hash");
            assert_eq!(got, want, "{major} {older}");
            // TestPseudoVersion also checks these round trips.
            assert!(is_pseudo(&got), "{got}");
            assert_eq!(pseudo_time(&got).unwrap(), PSEUDO_TIME, "{got}");
            if !older.is_empty() {
                assert_eq!(pseudo_base(&got).unwrap(), older, "{got}");
            }
        }
    }

    #[test]
    fn pseudo_version_uses_twelve_hex_characters_of_the_hash() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            pseudo_version("v0", None, PSEUDO_TIME, hash).unwrap(),
            "v0.0.0-20060102150405-0123456789ab"
        );
        assert_eq!(
            pseudo_version("", None, PSEUDO_TIME, &hash[..12]).unwrap(),
            "v0.0.0-20060102150405-0123456789ab"
        );
        assert_eq!(
            pseudo_version("v3", Some("v3.1.0"), PSEUDO_TIME, hash).unwrap(),
            "v3.1.1-0.20060102150405-0123456789ab"
        );
        assert_eq!(
            pseudo_version("v0", Some("v4.1.2+incompatible"), PSEUDO_TIME, hash).unwrap(),
            "v4.1.3-0.20060102150405-0123456789ab+incompatible"
        );
        let v = pseudo_version("v1", Some("v1.5.0-rc.1"), 0, hash).unwrap();
        assert_eq!(v, "v1.5.0-rc.1.0.19700101000000-0123456789ab");
        assert!(Version::parse(&v).unwrap().is_pseudo());
    }

    #[test]
    fn pseudo_version_rejects_bad_input() {
        let hash = "0123456789ab";
        for rev in ["0123456789a", "0123456789AB", "0123456789abz", ""] {
            assert!(pseudo_version("v0", None, 0, rev).is_err(), "{rev}");
        }
        for major in ["1", "v", "v01", "vx", "v1.0"] {
            assert!(pseudo_version(major, None, 0, hash).is_err(), "{major}");
        }
        assert!(pseudo_version("v1", Some("1.2.3"), 0, hash).is_err());
        assert!(pseudo_version("v1", Some("v1.2.3-"), 0, hash).is_err());
        assert!(pseudo_version("v1", None, -62_167_219_201, hash).is_err());
        assert!(pseudo_version("v1", None, 253_402_300_800, hash).is_err());
        assert_eq!(
            pseudo_version("v1", None, 253_402_300_799, hash).unwrap(),
            "v1.0.0-99991231235959-0123456789ab"
        );
    }

    #[test]
    fn is_valid_and_canonical_follow_semver_go() {
        // (input, canonical or "" when invalid), after x/mod's semver_test.go `tests`.
        let cases = [
            ("bad", ""),
            ("v1-alpha.beta.gamma", ""),
            ("v1-pre", ""),
            ("v1+meta", ""),
            ("v1-pre+meta", ""),
            ("v1.2-pre", ""),
            ("v1.2+meta", ""),
            ("v1.2-pre+meta", ""),
            ("v1.0.0-alpha", "v1.0.0-alpha"),
            ("v1.0.0-alpha.1", "v1.0.0-alpha.1"),
            ("v1.0.0-alpha.beta", "v1.0.0-alpha.beta"),
            ("v1.0.0-beta", "v1.0.0-beta"),
            ("v1.0.0-beta.2", "v1.0.0-beta.2"),
            ("v1.0.0-beta.11", "v1.0.0-beta.11"),
            ("v1.0.0-rc.1", "v1.0.0-rc.1"),
            ("v1", "v1.0.0"),
            ("v1.0", "v1.0.0"),
            ("v1.0.0", "v1.0.0"),
            ("v1.2", "v1.2.0"),
            ("v1.2.0", "v1.2.0"),
            ("v1.2.3-456", "v1.2.3-456"),
            ("v1.2.3-456.789", "v1.2.3-456.789"),
            ("v1.2.3-456-789", "v1.2.3-456-789"),
            ("v1.2.3-456a", "v1.2.3-456a"),
            ("v1.2.3-pre", "v1.2.3-pre"),
            ("v1.2.3-pre+meta", "v1.2.3-pre"),
            ("v1.2.3-pre.1", "v1.2.3-pre.1"),
            ("v1.2.3-zzz", "v1.2.3-zzz"),
            ("v1.2.3", "v1.2.3"),
            ("v1.2.3+meta", "v1.2.3"),
            ("v1.2.3+meta-pre", "v1.2.3"),
            ("v1.2.3+meta-pre.sha.256a", "v1.2.3"),
            ("1.2.3", ""),
            ("v01.2.3", ""),
            ("v1.02.3", ""),
            ("v1.2.03", ""),
            ("v1.2.3-01", ""),
            ("v1.2.3-0a", "v1.2.3-0a"),
            ("v1.2.3-", ""),
            ("v1.2.3-a..b", ""),
            ("v1.2.3+", ""),
            ("v1.2.3+a_b", ""),
            ("v1.2.3.4", ""),
            ("v", ""),
            ("", ""),
        ];
        for (v, want) in cases {
            assert_eq!(canonical(v).unwrap_or_default(), want, "{v}");
            assert_eq!(is_valid(v), !want.is_empty(), "{v}");
        }
    }

    #[test]
    fn major_prerelease_build_split_versions() {
        assert_eq!(major("v2.3.4"), "v2");
        assert_eq!(major("v10"), "v10");
        assert_eq!(major("v1.2.3+x"), "v1");
        assert_eq!(major("2.3.4"), "");
        assert_eq!(prerelease("v1.2.3-pre.1+meta"), "-pre.1");
        assert_eq!(prerelease("v1.2"), "");
        assert_eq!(build("v1.2.3-pre+meta.1"), "+meta.1");
        assert_eq!(build("v1.2+meta"), "");
    }

    #[test]
    fn canonical_version_keeps_incompatible() {
        assert_eq!(
            canonical_version("v2.0.0+incompatible").unwrap(),
            "v2.0.0+incompatible"
        );
        assert_eq!(canonical_version("v2.0.0+meta").unwrap(), "v2.0.0");
        assert_eq!(canonical_version("v2+incompatible"), None);
        assert_eq!(canonical_version("v2.1").unwrap(), "v2.1.0");
    }

    #[test]
    fn compare_orders_like_semver_go() {
        // Ascending; equal neighbours are marked by `=`. From semver.org §11 and x/mod's table.
        let ordered = [
            "bad",
            "=v1-pre",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1",
            "=v1.0",
            "=v1.0.0",
            "=v1.0.0+build",
            "v1.2",
            "v1.2.3-456",
            "v1.2.3-456.789",
            "v1.2.3-456-789",
            "v1.2.3-456a",
            "v1.2.3-pre",
            "v1.2.3-pre.1",
            "v1.2.3-zzz",
            "v1.2.3",
            "v1.2.10",
            "v1.10.0",
            "v2.0.0-0.20060102150405-abcdefabcdef",
            "v2.0.0",
            "v10.0.0",
        ];
        let clean = |s: &str| s.trim_start_matches('=').to_owned();
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                let (a, b) = (clean(a), clean(b));
                let mut want = i.cmp(&j);
                let (lo, hi) = (i.min(j), i.max(j));
                if ordered[lo + 1..=hi].iter().all(|s| s.starts_with('=')) {
                    want = Ordering::Equal;
                }
                assert_eq!(compare(&a, &b), want, "compare({a}, {b})");
            }
        }
    }

    #[test]
    fn version_parse_accepts_only_canonical() {
        assert_eq!(Version::parse("v1.0.0").unwrap().as_str(), "v1.0.0");
        assert!(Version::parse("v2.0.0+incompatible")
            .unwrap()
            .is_incompatible());
        assert_eq!(
            Version::parse("v1.0.0+bad").unwrap_err().0,
            r#"version "v1.0.0+bad" is not canonical (should be "v1.0.0")"#
        );
        assert_eq!(
            Version::parse("v1.2").unwrap_err().0,
            r#"version "v1.2" is not canonical (should be "v1.2.0")"#
        );
        assert_eq!(
            Version::parse("latest").unwrap_err().0,
            r#"version "latest" invalid: not a semantic version"#
        );
    }

    #[test]
    fn version_ord_is_semver_then_text() {
        let mut vs: Vec<Version> = [
            "v1.10.0",
            "v1.2.0",
            "v1.2.0-rc.1",
            "v2.0.0+incompatible",
            "v0.1.0",
        ]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
        vs.sort();
        let got: Vec<&str> = vs.iter().map(Version::as_str).collect();
        assert_eq!(
            got,
            [
                "v0.1.0",
                "v1.2.0-rc.1",
                "v1.2.0",
                "v1.10.0",
                "v2.0.0+incompatible"
            ]
        );
        assert!(Version::parse("v1.2.0-rc.1").unwrap().is_prerelease());
    }

    #[test]
    fn releases_prereleases_pseudo_and_incompatible_versions_are_told_apart() {
        // (version, pseudo, prerelease, +incompatible)
        for (v, pseudo, pre, incompatible) in [
            ("v1.2.3", false, false, false),
            ("v1.2.3-rc.1", false, true, false),
            ("v0.0.0-20060102150405-0123456789ab", true, true, false),
            ("v1.2.4-0.20060102150405-0123456789ab", true, true, false),
            ("v2.0.0+incompatible", false, false, true),
            (
                "v2.0.1-0.20060102150405-0123456789ab+incompatible",
                true,
                true,
                true,
            ),
        ] {
            let parsed = Version::parse(v).unwrap();
            assert_eq!(parsed.to_string(), v);
            assert_eq!(parsed.is_pseudo(), pseudo, "{v} pseudo");
            assert_eq!(parsed.is_prerelease(), pre, "{v} prerelease");
            assert_eq!(parsed.is_incompatible(), incompatible, "{v} incompatible");
        }
    }

    #[test]
    fn is_pseudo_matches_spec_vectors() {
        // spec.md §3.5 and x/mod's pseudo_test.go.
        let yes = [
            "v0.0.0-20060102150405-hash",
            "v1.2.4-0.20060102150405-hash",
            "v1.2.3-pre.0.20060102150405-hash",
            "v2.0.1-0.20060102150405-hash+incompatible",
            "v0.0.0--.0.20060102150405-hash",
            "v1.2.3-pre.x.0.20060102150405-abcdefabcdef",
            "v0.0.0-20191109021931-daa7c04131f5",
        ];
        let no = [
            "v1.2.3",
            "v1.2.3-pre",
            "v0.0.0-2006010215040-hash",
            "v0.0.0-200601021504050-hash",
            "v1.2.3-20060102150405-hash",
            "v1.2.4-1.20060102150405-hash",
            "v1.2.4-0.20060102150405-",
            "v1.2.4-0.20060102150405-ha_sh",
            "v1.2.4-0.20060102150405-hash+",
            "v0.0.0-20060102150405-hash+a..b",
            "v1.2.3-pre0.20060102150405-hash",
            "0.0.0-20060102150405-hash",
            "v0.0.0-20060102150405",
            "vx.0.0-20060102150405-hash",
        ];
        for v in yes {
            assert!(is_pseudo(v), "{v} should be a pseudo-version");
        }
        for v in no {
            assert!(!is_pseudo(v), "{v} should not be a pseudo-version");
        }
    }

    #[test]
    fn pseudo_parts_needs_digits_in_each_number_of_the_base() {
        // pseudo_parts is only asked about valid semver by is_pseudo and pseudo_time, where
        // numbers always have digits; its own contract is the regexp's `[0-9]+` and `\d+`.
        assert_eq!(
            pseudo_parts("v1.2.4-0.20060102150405-hash"),
            Some(Pseudo {
                base: "v1.2.4-0",
                timestamp: "20060102150405",
                rev: "hash"
            })
        );
        assert_eq!(
            pseudo("v0.0.0-20060102150405-abc+incompatible").map(|p| p.base),
            Some("v0.0.0")
        );
        assert_eq!(
            pseudo("v1.2.3-pre.x.0.20060102150405-abc").map(|p| (p.base, p.rev)),
            Some(("v1.2.3-pre.x.0", "abc"))
        );
        // The shape, but not valid semver.
        assert_eq!(
            pseudo_parts("v01.0.0-20060102150405-hash").map(|p| p.base),
            Some("v01.0.0")
        );
        assert_eq!(pseudo("v01.0.0-20060102150405-hash"), None);
        for v in [
            "v.0.0-20060102150405-hash",
            "v1..4-0.20060102150405-hash",
            "v1.2.-0.20060102150405-hash",
        ] {
            assert_eq!(pseudo_parts(v), None, "{v}");
        }
        assert_eq!(skip_digits("12.3"), Some(".3"));
        assert_eq!(skip_digits(".3"), None);
    }

    #[test]
    fn pseudo_time_reads_utc_timestamp() {
        assert_eq!(
            pseudo_time("v0.0.0-20060102150405-hash").unwrap(),
            1_136_214_245
        );
        assert_eq!(
            pseudo_time("v2.0.1-0.20060102150405-hash+incompatible").unwrap(),
            1_136_214_245
        );
        assert_eq!(
            pseudo_time("v1.2.3").unwrap_err().0,
            r#"pseudo-version "v1.2.3" invalid: syntax error"#
        );
        // The shape of a pseudo-version, but not valid semver (a leading zero): Go's
        // parsePseudoVersion asks IsPseudoVersion, which asks semver.IsValid first.
        assert_eq!(
            pseudo_time("v01.0.0-20060102150405-hash").unwrap_err().0,
            r#"pseudo-version "v01.0.0-20060102150405-hash" invalid: syntax error"#
        );
        assert_eq!(
            pseudo_time("v0.0.0-20061302150405-hash").unwrap_err().0,
            r#"pseudo-version "v0.0.0-20061302150405-hash" invalid: malformed time "20061302150405""#
        );
        assert!(pseudo_time("v0.0.0-20060231000000-hash").is_err());
        assert!(pseudo_time("v0.0.0-20060102240000-hash").is_err());
    }

    #[test]
    fn pseudo_base_recovers_base_version() {
        // x/mod's pseudo_test.go pseudoTests.
        let cases = [
            ("v0.0.0-20060102150405-hash", ""),
            ("v1.2.4-0.20060102150405-hash", "v1.2.3"),
            ("v1.2.3-pre.0.20060102150405-hash", "v1.2.3-pre"),
            (
                "v2.0.1-0.20060102150405-hash+incompatible",
                "v2.0.0+incompatible",
            ),
            ("v0.0.0--.0.20060102150405-hash", "v0.0.0--"),
            ("v1.2.10-0.20060102150405-hash", "v1.2.9"),
            ("v1.2.100-0.20060102150405-hash", "v1.2.99"),
        ];
        for (v, want) in cases {
            assert_eq!(pseudo_base(v).unwrap(), want, "{v}");
        }
        assert_eq!(
            pseudo_base("v1.2.0-0.20060102150405-hash").unwrap_err().0,
            r#"pseudo-version "v1.2.0-0.20060102150405-hash" invalid: cannot decrement 0"#
        );
        assert_eq!(
            pseudo_base("v2.0.0-20060102150405-hash+incompatible")
                .unwrap_err()
                .0,
            r#"pseudo-version "v2.0.0-20060102150405-hash+incompatible" invalid: lacks base version, but has build metadata "+incompatible""#
        );
        assert!(pseudo_base("v1.2.3").is_err());
    }

    #[test]
    fn check_matches_module_check_vectors() {
        // x/mod's checkTests (spec.md §3.2).
        let cases = [
            ("rsc.io/quote", "0.1.0", false),
            ("rsc io/quote", "v1.0.0", false),
            ("github.com/go-yaml/yaml", "v0.8.0", true),
            ("github.com/go-yaml/yaml", "v1.0.0", true),
            ("github.com/go-yaml/yaml", "v2.0.0", false),
            ("github.com/go-yaml/yaml", "v2.1.5", false),
            ("github.com/go-yaml/yaml", "v3.0.0", false),
            ("github.com/go-yaml/yaml/v2", "v1.0.0", false),
            ("github.com/go-yaml/yaml/v2", "v2.0.0", true),
            ("github.com/go-yaml/yaml/v2", "v2.1.5", true),
            ("github.com/go-yaml/yaml/v2", "v3.0.0", false),
            ("gopkg.in/yaml.v0", "v0.8.0", true),
            ("gopkg.in/yaml.v0", "v1.0.0", false),
            ("gopkg.in/yaml.v1", "v0.8.0", false),
            ("gopkg.in/yaml.v1", "v1.0.0", true),
            ("gopkg.in/yaml.v1", "v2.0.0", false),
            ("gopkg.in/check.v1", "v0.0.0", false),
            (
                "gopkg.in/check.v1",
                "v0.0.0-20160102150405-abcdef123456",
                true,
            ),
            ("gopkg.in/yaml.v2", "v1.0.0", false),
            ("gopkg.in/yaml.v2", "v2.0.0", true),
            ("gopkg.in/yaml.v2", "v2.1.5", true),
            ("gopkg.in/yaml.v2", "v3.0.0", false),
            ("rsc.io/quote", "v17.0.0", false),
            ("rsc.io/quote", "v17.0.0+incompatible", true),
        ];
        for (path, version, ok) in cases {
            assert_eq!(check(path, version).is_ok(), ok, "{path}@{version}");
        }
    }

    #[test]
    fn check_reports_go_texts() {
        let err = |p, v| check(p, v).unwrap_err().0;
        assert_eq!(
            err("example.com/m", "v2.0.0"),
            "example.com/m@v2.0.0: invalid version: should be v0 or v1, not v2"
        );
        assert_eq!(
            err("example.com/m/v2", "v3.0.0"),
            "example.com/m/v2@v3.0.0: invalid version: should be v2, not v3"
        );
        assert_eq!(
            err("gopkg.in/yaml.v1", "v0.8.0"),
            "gopkg.in/yaml.v1@v0.8.0: invalid version: should be v1, not v0"
        );
        assert_eq!(
            err("example.com/m", "1.0.0"),
            "example.com/m@1.0.0: invalid version: not a semantic version"
        );
        assert_eq!(
            err("cache", "v1.0.0"),
            r#"malformed module path "cache": missing dot in first path element"#
        );
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        let num = prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,2}"];
        let ident = prop_oneof!["[0-9]|[1-9][0-9]{1,2}", "[0-9A-Za-z-]{1,4}"]
            .prop_filter("no leading zero", |s| !is_bad_num(s));
        (
            num.clone(),
            num.clone(),
            num,
            proptest::collection::vec(ident, 0..3),
            proptest::option::of("[0-9A-Za-z-]{1,4}"),
        )
            .prop_map(|(a, b, c, pre, build)| {
                let mut v = format!("v{a}.{b}.{c}");
                if !pre.is_empty() {
                    v.push('-');
                    v.push_str(&pre.join("."));
                }
                if let Some(build) = build {
                    v.push('+');
                    v.push_str(&build);
                }
                v
            })
    }

    proptest! {
        #[test]
        fn generated_versions_are_valid(v in version_strategy()) {
            prop_assert!(is_valid(&v), "{}", v);
            prop_assert!(is_valid(&canonical(&v).unwrap()));
        }

        #[test]
        fn compare_is_antisymmetric(a in version_strategy(), b in version_strategy()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
        }

        #[test]
        fn compare_is_transitive(
            a in version_strategy(),
            b in version_strategy(),
            c in version_strategy(),
        ) {
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare(x, y));
            prop_assert_ne!(compare(&v[0], &v[1]), Ordering::Greater);
            prop_assert_ne!(compare(&v[1], &v[2]), Ordering::Greater);
            prop_assert_ne!(compare(&v[0], &v[2]), Ordering::Greater);
        }

        #[test]
        fn compare_ignores_build_metadata(v in version_strategy()) {
            prop_assert_eq!(compare(&v, &canonical(&v).unwrap()), Ordering::Equal);
        }
    }
}
