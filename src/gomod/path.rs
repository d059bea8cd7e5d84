//! Module paths and file paths (spec.md §1.3, §2.3, §3.1, §3.2): golang.org/x/mod/module's
//! `CheckPath`, `CheckImportPath`, `CheckFilePath`, `SplitPathVersion`, `CheckPathMajor`, the
//! `!` case-escaping of paths and versions, and the case-fold key that zip collision checks use.
//!
//! Error texts are the go command's own, byte for byte, because clients and conformance tests
//! match on them. Pure string rules: no I/O.

use super::unicode::{is_letter, is_print};
use super::version::{self, VersionError};

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

    /// The path as written, unescaped.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `!`-escaped form used in proxy URLs (spec.md §1.3). A checked path is ASCII without
    /// `!`, so escaping cannot fail.
    #[must_use]
    pub fn escaped(&self) -> String {
        escape_ascii_upper(&self.0)
    }
}

impl std::fmt::Display for ModulePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which of x/mod's three path grammars applies (module.go `pathKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    Import,
    File,
}

/// `module.CheckPath`.
///
/// # Errors
/// `malformed module path "<p>": <reason>`.
pub fn check_path(path: &str) -> Result<(), PathError> {
    check_path_bytes(path.as_bytes())
}

/// `module.CheckPath` on raw bytes, so that a non-UTF-8 path (say, percent-decoded from a URL)
/// gets Go's `malformed module path "\xff": invalid UTF-8` rather than a lossy conversion.
///
/// # Errors
/// `malformed module path "<p>": <reason>`.
pub fn check_path_bytes(path: &[u8]) -> Result<(), PathError> {
    module_path_reason(path).map_err(|reason| {
        PathError(format!(
            "malformed module path {}: {reason}",
            go_quote(path)
        ))
    })
}

/// The reason part of `CheckPath` (spec.md §3.1).
fn module_path_reason(raw: &[u8]) -> Result<(), String> {
    let path = general_path_reason(raw, Kind::Module)?;
    let first = path.split('/').next().unwrap_or_default();
    if first.is_empty() {
        return Err("leading slash".to_owned());
    }
    if !first.contains('.') {
        return Err("missing dot in first path element".to_owned());
    }
    if path.starts_with('-') {
        return Err("leading dash in first path element".to_owned());
    }
    if let Some(c) = first.chars().find(|&c| !first_path_ok(c)) {
        return Err(format!(
            "invalid char {} in first path element",
            go_quote_rune(c)
        ));
    }
    if split_path_version(path).is_none() {
        return Err("invalid version".to_owned());
    }
    Ok(())
}

/// `module.CheckImportPath`.
///
/// # Errors
/// `malformed import path "<p>": <reason>`.
pub fn check_import_path(path: &str) -> Result<(), PathError> {
    general_path_reason(path.as_bytes(), Kind::Import)
        .map(drop)
        .map_err(|reason| {
            PathError(format!(
                "malformed import path {}: {reason}",
                go_quote(path.as_bytes())
            ))
        })
}

/// `module.CheckFilePath`.
///
/// # Errors
/// `malformed file path "<p>": <reason>`.
pub fn check_file_path(path: &str) -> Result<(), PathError> {
    check_file_path_bytes(path.as_bytes())
}

/// `module.CheckFilePath` on raw bytes: zip entry names are bytes, and Go checks them as such
/// (spec.md §2.4), so an invalid name reports `invalid UTF-8` with its bytes `\x`-escaped.
///
/// # Errors
/// `malformed file path "<p>": <reason>`.
pub fn check_file_path_bytes(path: &[u8]) -> Result<(), PathError> {
    general_path_reason(path, Kind::File)
        .map(drop)
        .map_err(|reason| PathError(format!("malformed file path {}: {reason}", go_quote(path))))
}

/// module.go `checkPath`: the rules shared by module, import and file paths. Returns the path
/// as `&str` once it is known to be UTF-8.
fn general_path_reason(raw: &[u8], kind: Kind) -> Result<&str, String> {
    let Ok(path) = std::str::from_utf8(raw) else {
        return Err("invalid UTF-8".to_owned());
    };
    if path.is_empty() {
        return Err("empty string".to_owned());
    }
    if path.starts_with('-') && kind != Kind::File {
        return Err("leading dash".to_owned());
    }
    if path.contains("//") {
        return Err("double slash".to_owned());
    }
    if path.ends_with('/') {
        return Err("trailing slash".to_owned());
    }
    for elem in path.split('/') {
        check_elem(elem, kind)?;
    }
    Ok(path)
}

/// Windows reserved names, compared case-insensitively with an element's part before its first
/// dot (spec.md §2.3). None of them holds `k` or `s`, the only ASCII letters with non-ASCII case
/// partners, so ASCII case folding gives the same answer as Go's `strings.EqualFold`.
const BAD_WINDOWS_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// module.go `checkElem` (spec.md §2.3, §3.1).
fn check_elem(elem: &str, kind: Kind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".to_owned());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!(
            "invalid path element {}",
            go_quote(elem.as_bytes())
        ));
    }
    if elem.starts_with('.') && kind == Kind::Module {
        return Err("leading dot in path element".to_owned());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".to_owned());
    }
    let char_ok = match kind {
        Kind::Module => mod_path_ok,
        Kind::Import => import_path_ok,
        Kind::File => file_name_ok,
    };
    if let Some(c) = elem.chars().find(|&c| !char_ok(c)) {
        return Err(format!("invalid char {}", go_quote_rune(c)));
    }
    let short = elem.split('.').next().unwrap_or_default();
    if BAD_WINDOWS_NAMES
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{} disallowed as path element component on Windows",
            go_quote(short.as_bytes())
        ));
    }
    if kind == Kind::File {
        // spec.md §2.3: the `~digits` short-name rule is for module and import paths only.
        return Ok(());
    }
    if let Some(tilde) = short.rfind('~') {
        let suffix = &short[tilde + 1..];
        if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            return Err("trailing tilde and digits in path element".to_owned());
        }
    }
    Ok(())
}

/// `firstPathOK`: the first element of a module path is a lower-case LDH domain name.
fn first_path_ok(c: char) -> bool {
    c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase()
}

/// `modPathOK`: ASCII letters, digits and `-._~` (spec.md §3.1).
fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// `importPathOK`: the module set plus `+`.
fn import_path_ok(c: char) -> bool {
    mod_path_ok(c) || c == '+'
}

/// `fileNameOK`: Unicode letters, ASCII digits, space and `!#$%&()+,-.=@[]^_{}~` (spec.md §2.3).
fn file_name_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
    } else {
        is_letter(c)
    }
}

/// `module.SplitPathVersion`: the path without its major suffix, and the suffix (`/v2`,
/// `.v1`, `.v1-unstable` or empty). `None` when the suffix is malformed.
#[must_use]
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    // The trailing run of digits and dots.
    let i = b.len()
        - b.iter()
            .rev()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .count();
    let dot = b[i..].contains(&b'.');
    if i <= 1 || i == b.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(i - 2);
    // spec.md §3.2: `/v0`, `/v1`, `/v01` and `/v2.0` make the path invalid.
    if dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

/// `splitGopkgIn`: gopkg.in paths end in `.vN`, optionally followed by `-unstable`.
fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    i -= b[..i]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    // i >= 9: the digits cannot reach into the `gopkg.in/` the caller saw.
    if b[i - 1] != b'v' || b[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = path.split_at(i - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// `module.CheckPathMajor`: whether `version` fits the major suffix `path_major` that
/// `split_path_version` returned (spec.md §3.2).
///
/// # Errors
/// `version "v2.0.0" invalid: should be v0 or v1, not v2` (Go's `InvalidVersionError`).
pub fn check_path_major(version: &str, path_major: &str) -> Result<(), VersionError> {
    path_major_reason(version, path_major).map_err(|reason| {
        VersionError(format!(
            "version {} invalid: {reason}",
            go_quote_str(version)
        ))
    })
}

/// The reason part of `CheckPathMajor`, which `module.Check` wraps differently.
pub(super) fn path_major_reason(v: &str, path_major: &str) -> Result<(), String> {
    let mut want = path_major;
    if want.starts_with(".v") {
        want = want.strip_suffix("-unstable").unwrap_or(want);
    }
    if v.starts_with("v0.0.0-") && want == ".v1" {
        // Early vgo generated v0.0.0- pseudo-versions for gopkg.in .v1 paths; Go accepts them.
        return Ok(());
    }
    let m = version::major(v);
    if want.is_empty() {
        if m == "v0" || m == "v1" || version::build(v) == "+incompatible" {
            return Ok(());
        }
        want = "v0 or v1";
    } else if want.starts_with('/') || want.starts_with('.') {
        if m == &want[1..] {
            return Ok(());
        }
        want = &want[1..];
    }
    Err(format!("should be {want}, not {m}"))
}

/// `module.EscapePath`.
///
/// # Errors
/// When the path fails `check_path`.
pub fn escape_path(path: &str) -> Result<String, PathError> {
    check_path(path)?;
    Ok(escape_ascii_upper(path))
}

/// `module.UnescapePath`: decodes `!x` to `X` and requires the result to pass `check_path`.
///
/// # Errors
/// A bare upper-case letter, `!` not followed by `a`-`z`, non-ASCII, or an invalid result.
pub fn unescape_path(escaped: &str) -> Result<ModulePath, PathError> {
    let quoted = go_quote_str(escaped);
    let Some(path) = unescape_string(escaped) else {
        return Err(PathError(format!("invalid escaped module path {quoted}")));
    };
    match check_path(&path) {
        Ok(()) => Ok(ModulePath(path)),
        Err(err) => Err(PathError(format!(
            "invalid escaped module path {quoted}: {err}"
        ))),
    }
}

/// `module.EscapeVersion`.
///
/// # Errors
/// When the version is not a valid file-path element or contains `!`.
pub fn escape_version(version: &str) -> Result<String, PathError> {
    if check_elem(version, Kind::File).is_err() || version.contains('!') {
        return Err(PathError(format!(
            "version {} invalid: disallowed version string",
            go_quote_str(version)
        )));
    }
    if !version.is_ascii() {
        // File-path elements admit Unicode letters, but the escaping is defined for ASCII only;
        // Go fails the same way.
        return Err(PathError(
            "internal error: inconsistency in EscapePath".to_owned(),
        ));
    }
    Ok(escape_ascii_upper(version))
}

/// `module.UnescapeVersion`.
///
/// # Errors
/// As for `unescape_path`, with the file-path element rules for the result.
pub fn unescape_version(escaped: &str) -> Result<String, PathError> {
    let Some(version) = unescape_string(escaped) else {
        return Err(PathError(format!(
            "invalid escaped version {}",
            go_quote_str(escaped)
        )));
    };
    match check_elem(&version, Kind::File) {
        Ok(()) => Ok(version),
        Err(reason) => Err(PathError(format!(
            "invalid escaped version {}: {reason}",
            go_quote_str(&version)
        ))),
    }
}

/// `escapeString` for input already known to be ASCII without `!`.
fn escape_ascii_upper(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `unescapeString` (spec.md §1.3): `None` for a bare upper-case letter, `!` not followed by
/// `a`-`z`, a trailing `!`, or any non-ASCII character.
fn unescape_string(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if !c.is_ascii() {
            return None;
        }
        if bang {
            bang = false;
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// Go's `%q` of a byte string, for error texts (`"\xff"`).
#[must_use]
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c, '"');
        }
        for b in chunk.invalid() {
            // strconv.Quote escapes each byte of an invalid sequence on its own.
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a string.
fn go_quote_str(s: &str) -> String {
    go_quote(s.as_bytes())
}

/// Go's `%q` of a rune (`strconv.QuoteRune`), as in `invalid char '\''`.
#[must_use]
pub fn go_quote_rune(c: char) -> String {
    let mut out = String::from('\'');
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// strconv's `appendEscapedRune`.
fn push_escaped(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\0'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        '\0'..='\u{ffff}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        _ => out.push_str(&format!("\\U{:08x}", u32::from(c))),
    }
}

/// zip.go `strToFold`: a key equal for two paths exactly when Go treats them as colliding
/// under Unicode simple case folding (spec.md §2.2, §2.3).
///
/// Go maps each rune to the smallest rune of its `unicode.SimpleFold` orbit. Rust has no fold
/// table, and the orbit's minimum is not always reachable through `to_uppercase` and
/// `to_lowercase` (nothing lower-cases to U+00B5 MICRO SIGN, yet it shares an orbit with μ and
/// Μ), so the key is a different representative of the same class: the lower case of the upper
/// case, with four exceptions where Unicode's simple folding differs from its case mappings.
/// Checked against Go 1.27 over every code point.
#[must_use]
pub fn fold_key(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return s.to_owned();
    }
    s.chars().map(fold_char).collect()
}

/// The characters of `fold_key(s)`, without building it.
pub fn fold_chars(s: &str) -> impl Iterator<Item = char> + Clone + '_ {
    s.chars().map(fold_char)
}

/// The per-character representative for `fold_key`.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c {
        // U+0131 dotless i upper-cases to `I`, but folds only to itself (CaseFolding.txt
        // lists it under the Turkic status T, which SimpleFold ignores).
        '\u{131}' => c,
        // Pairs that CaseFolding.txt folds together although they have no single-character
        // case mappings to each other.
        '\u{1FD3}' => '\u{390}',
        '\u{1FE3}' => '\u{3B0}',
        '\u{FB06}' => '\u{FB05}',
        _ => {
            let upper = single(c.to_uppercase()).unwrap_or(c);
            single(upper.to_lowercase()).unwrap_or(upper)
        }
    }
}

/// The one character of a case mapping, or `None` when it expands to several (`ß` -> `SS`).
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One row of a path table: the path, and the expected error texts of `CheckPath`,
    /// `CheckImportPath` and `CheckFilePath` (`""` = valid). Rows mirror the cases of x/mod's
    /// `checkPathTests` (module/module_test.go), with texts from module.go.
    struct PathCase {
        path: &'static str,
        module: &'static str,
        import: &'static str,
        file: &'static str,
    }

    const fn case(
        path: &'static str,
        module: &'static str,
        import: &'static str,
        file: &'static str,
    ) -> PathCase {
        PathCase {
            path,
            module,
            import,
            file,
        }
    }

    const OK: &str = "";

    const PATH_CASES: &[PathCase] = &[
        case("x.y/z", OK, OK, OK),
        case("x.y", OK, OK, OK),
        case("", "empty string", "empty string", "empty string"),
        case(
            "/x.y/z",
            "empty path element",
            "empty path element",
            "empty path element",
        ),
        case(
            "x./z",
            "trailing dot in path element",
            "trailing dot in path element",
            "trailing dot in path element",
        ),
        case(".x/z", "leading dot in path element", OK, OK),
        case("-x/z", "leading dash", "leading dash", OK),
        case("x..y/z", OK, OK, OK),
        case(
            "x.y/z/../../w",
            r#"invalid path element "..""#,
            r#"invalid path element "..""#,
            r#"invalid path element "..""#,
        ),
        case("x.y//z", "double slash", "double slash", "double slash"),
        case("x.y/z//w", "double slash", "double slash", "double slash"),
        case(
            "x.y/z/",
            "trailing slash",
            "trailing slash",
            "trailing slash",
        ),
        case("x.y/z/v0", "invalid version", OK, OK),
        case("x.y/z/v1", "invalid version", OK, OK),
        case("x.y/z/v2", OK, OK, OK),
        case("x.y/z/v2.0", "invalid version", OK, OK),
        case("x.y/z/v02", "invalid version", OK, OK),
        case("x.y/v", OK, OK, OK),
        case("X.y/z", "invalid char 'X' in first path element", OK, OK),
        case("cache", "missing dot in first path element", OK, OK),
        case("!x.y/z", "invalid char '!'", "invalid char '!'", OK),
        case("_x.y/z", "invalid char '_' in first path element", OK, OK),
        case("x.y!/z", "invalid char '!'", "invalid char '!'", OK),
        case(
            "x.y\"/z",
            "invalid char '\"'",
            "invalid char '\"'",
            "invalid char '\"'",
        ),
        case("x.y#/z", "invalid char '#'", "invalid char '#'", OK),
        case(
            "x.y'/z",
            r"invalid char '\''",
            r"invalid char '\''",
            r"invalid char '\''",
        ),
        case(
            "x.y*/z",
            "invalid char '*'",
            "invalid char '*'",
            "invalid char '*'",
        ),
        case("x.y+/z", "invalid char '+'", OK, OK),
        case("x.y-/z", OK, OK, OK),
        case(
            "x.y:/z",
            "invalid char ':'",
            "invalid char ':'",
            "invalid char ':'",
        ),
        case("x.y=/z", "invalid char '='", "invalid char '='", OK),
        case("x.y@/z", "invalid char '@'", "invalid char '@'", OK),
        case(
            r"x.y\/z",
            r"invalid char '\\'",
            r"invalid char '\\'",
            r"invalid char '\\'",
        ),
        case("x.y_/z", "invalid char '_' in first path element", OK, OK),
        case(
            "x.y`/z",
            "invalid char '`'",
            "invalid char '`'",
            "invalid char '`'",
        ),
        case("x.y~/z", "invalid char '~' in first path element", OK, OK),
        case("x.y/z!", "invalid char '!'", "invalid char '!'", OK),
        case("x.y/z+", "invalid char '+'", OK, OK),
        case("x.y/z-", OK, OK, OK),
        case("x.y/z.t", OK, OK, OK),
        case("x.y/z_", OK, OK, OK),
        case("x.y/z~", OK, OK, OK),
        case("x.y/z ", "invalid char ' '", "invalid char ' '", OK),
        case("x.y/x.foo", OK, OK, OK),
        case(
            "x.y/aux.foo",
            r#""aux" disallowed as path element component on Windows"#,
            r#""aux" disallowed as path element component on Windows"#,
            r#""aux" disallowed as path element component on Windows"#,
        ),
        case(
            "x.y/prn",
            r#""prn" disallowed as path element component on Windows"#,
            r#""prn" disallowed as path element component on Windows"#,
            r#""prn" disallowed as path element component on Windows"#,
        ),
        case("x.y/prn2", OK, OK, OK),
        case("x.y/com", OK, OK, OK),
        case(
            "x.y/Com1.txt",
            r#""Com1" disallowed as path element component on Windows"#,
            r#""Com1" disallowed as path element component on Windows"#,
            r#""Com1" disallowed as path element component on Windows"#,
        ),
        case("x.y/calm1", OK, OK, OK),
        // The `~digits` rule (Windows short names) is for module and import paths only.
        case(
            "x.y/z~0",
            "trailing tilde and digits in path element",
            "trailing tilde and digits in path element",
            OK,
        ),
        case(
            "x.y/z~09.go",
            "trailing tilde and digits in path element",
            "trailing tilde and digits in path element",
            OK,
        ),
        case("x.y/z09~", OK, OK, OK),
        case("x.y/z09~09z", OK, OK, OK),
        case(
            "x.y/z09~09z~09",
            "trailing tilde and digits in path element",
            "trailing tilde and digits in path element",
            OK,
        ),
        case(
            "github.com/!123/logrus",
            "invalid char '!'",
            "invalid char '!'",
            OK,
        ),
        case(
            "github.com/user/unicode/испытание",
            "invalid char 'и'",
            "invalid char 'и'",
            OK,
        ),
        case(
            "../x",
            r#"invalid path element "..""#,
            r#"invalid path element "..""#,
            r#"invalid path element "..""#,
        ),
        case(
            "./y",
            r#"invalid path element ".""#,
            r#"invalid path element ".""#,
            r#"invalid path element ".""#,
        ),
        case(
            "x:y",
            "invalid char ':'",
            "invalid char ':'",
            "invalid char ':'",
        ),
        case(
            r"\temp\foo",
            r"invalid char '\\'",
            r"invalid char '\\'",
            r"invalid char '\\'",
        ),
        case(".gitignore", "leading dot in path element", OK, OK),
        case(
            ".github/ISSUE_TEMPLATE",
            "leading dot in path element",
            OK,
            OK,
        ),
        case(
            "x☺y",
            "invalid char '☺'",
            "invalid char '☺'",
            "invalid char '☺'",
        ),
        // U+0301 COMBINING ACUTE ACCENT is alphabetic for Rust but not a letter for Go (it is
        // printable, so `%q` leaves it as is).
        case(
            "x.y/e\u{301}.go",
            "invalid char '\u{301}'",
            "invalid char '\u{301}'",
            "invalid char '\u{301}'",
        ),
        case(
            "x.y/\u{2160}.go",
            "invalid char 'Ⅰ'",
            "invalid char 'Ⅰ'",
            "invalid char 'Ⅰ'",
        ),
        case(
            "x.y/a\u{7f}",
            r"invalid char '\x7f'",
            r"invalid char '\x7f'",
            r"invalid char '\x7f'",
        ),
        case(
            "x.y/a\tb",
            r"invalid char '\t'",
            r"invalid char '\t'",
            r"invalid char '\t'",
        ),
        case("gopkg.in/yaml.v2", OK, OK, OK),
        case("gopkg.in/yaml.v0", OK, OK, OK),
        case("gopkg.in/yaml.v02", "invalid version", OK, OK),
        case("gopkg.in/yaml", "invalid version", OK, OK),
        case("gopkg.in/yaml.v1-unstable", OK, OK, OK),
    ];

    fn wrap(kind: &str, path: &str, reason: &str) -> String {
        if reason.is_empty() {
            String::new()
        } else {
            format!(
                "malformed {kind} path {}: {reason}",
                go_quote(path.as_bytes())
            )
        }
    }

    fn text(r: Result<(), PathError>) -> String {
        r.err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn check_path_table_matches_go_texts() {
        for c in PATH_CASES {
            assert_eq!(
                text(check_path(c.path)),
                wrap("module", c.path, c.module),
                "{}",
                c.path
            );
            assert_eq!(
                text(check_import_path(c.path)),
                wrap("import", c.path, c.import),
                "{}",
                c.path
            );
            assert_eq!(
                text(check_file_path(c.path)),
                wrap("file", c.path, c.file),
                "{}",
                c.path
            );
        }
    }

    #[test]
    fn check_path_invalid_utf8_quotes_bytes() {
        assert_eq!(
            text(check_path_bytes(b"\xff")),
            r#"malformed module path "\xff": invalid UTF-8"#
        );
        assert_eq!(
            text(check_file_path_bytes(b"x.y/\xffz")),
            r#"malformed file path "x.y/\xffz": invalid UTF-8"#
        );
    }

    #[test]
    fn check_path_every_windows_name_is_reserved_in_any_case() {
        for name in BAD_WINDOWS_NAMES {
            for spelled in [name.to_owned(), name.to_ascii_lowercase()] {
                let p = format!("x.y/{spelled}.txt");
                assert!(check_file_path(&p).is_err(), "{p}");
                assert!(check_path(&p).is_err(), "{p}");
            }
        }
    }

    #[test]
    fn module_path_parse_keeps_the_path() {
        let p = ModulePath::parse("github.com/Azure/go").unwrap();
        assert_eq!(p.as_str(), "github.com/Azure/go");
        assert_eq!(p.to_string(), "github.com/Azure/go");
        assert_eq!(p.escaped(), "github.com/!azure/go");
        assert!(ModulePath::parse("Github.com/x").is_err());
    }

    #[test]
    fn split_path_version_splits_major_suffixes() {
        // x/mod's splitPathVersionTests, plus the invalid suffixes of spec.md §3.2.
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("x.y/z", Some(("x.y/z", ""))),
            ("x.y/z/v2", Some(("x.y/z", "/v2"))),
            ("x.y/z/v3", Some(("x.y/z", "/v3"))),
            ("x.y/z/v10", Some(("x.y/z", "/v10"))),
            ("x.y/v", Some(("x.y/v", ""))),
            // A major suffix is `/v` and digits: not `v2` without its slash, nor `/w2`.
            ("x.y/zv2", Some(("x.y/zv2", ""))),
            ("x.y/z/w2", Some(("x.y/z/w2", ""))),
            ("x.y/z/2", Some(("x.y/z/2", ""))),
            ("x.y/z/v1", None),
            ("x.y/z/v0", None),
            ("x.y/z/v2.0", None),
            ("x.y/z/v02", None),
            ("gopkg.in/yaml.v0", Some(("gopkg.in/yaml", ".v0"))),
            ("gopkg.in/yaml.v1", Some(("gopkg.in/yaml", ".v1"))),
            ("gopkg.in/yaml.v2", Some(("gopkg.in/yaml", ".v2"))),
            (
                "gopkg.in/yaml.v3-unstable",
                Some(("gopkg.in/yaml", ".v3-unstable")),
            ),
            ("gopkg.in/yaml.v01", None),
            ("gopkg.in/yaml.x2", None),
            ("gopkg.in/yaml-v2", None),
            ("gopkg.in/yaml.w2-unstable", None),
            ("gopkg.in/2", None),
            ("gopkg.in/yaml", None),
        ];
        for (path, want) in cases {
            assert_eq!(split_path_version(path), *want, "{path}");
        }
    }

    #[test]
    fn check_path_major_matches_go() {
        // x/mod's TestMatchPathMajor.
        let cases = [
            ("v0.0.0", "", true),
            ("v0.0.0", "/v2", false),
            ("v0.0.0", ".v0", true),
            ("v0.0.0-20190510104115-cbcb75029529", ".v1", true),
            ("v1.0.0", "/v2", false),
            ("v1.0.0", ".v1", true),
            ("v1.0.0", ".v1-unstable", true),
            ("v2.0.0+incompatible", "", true),
            ("v2.0.0", "", false),
            ("v2.0.0", "/v2", true),
            ("v2.0.0", ".v2", true),
        ];
        for (v, major, ok) in cases {
            assert_eq!(check_path_major(v, major).is_ok(), ok, "{v} {major}");
        }
        assert_eq!(
            check_path_major("v2.0.0", "").unwrap_err().0,
            r#"version "v2.0.0" invalid: should be v0 or v1, not v2"#
        );
        assert_eq!(
            check_path_major("v3.1.0", "/v2").unwrap_err().0,
            r#"version "v3.1.0" invalid: should be v2, not v3"#
        );
    }

    #[test]
    fn escape_path_round_trips_spec_vectors() {
        // x/mod's escapeTests (spec.md §1.3).
        let cases = [
            ("ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789", None),
            (
                "github.com/GoogleCloudPlatform/omega",
                Some("github.com/!google!cloud!platform/omega"),
            ),
        ];
        for (path, esc) in cases {
            let esc = esc.unwrap_or(path);
            assert_eq!(escape_path(path).unwrap(), esc);
            assert_eq!(unescape_path(esc).unwrap().as_str(), path);
        }
    }

    #[test]
    fn escape_path_rejects_invalid_paths() {
        for c in PATH_CASES.iter().filter(|c| !c.module.is_empty()) {
            assert!(escape_path(c.path).is_err(), "{}", c.path);
            assert!(unescape_path(c.path).is_err(), "{}", c.path);
        }
    }

    #[test]
    fn unescape_path_rejects_bad_escapes() {
        // x/mod's badUnescape.
        for bad in [
            "github.com/GoogleCloudPlatform/omega",
            "github.com/!google!cloud!platform!/omega",
            "github.com/!0google!cloud!platform/omega",
            "github.com/!_google!cloud!platform/omega",
            "github.com/!!google!cloud!platform/omega",
            "github.com/!google!cloud!platform/omega!",
            "github.com/é",
            "",
        ] {
            assert!(unescape_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            unescape_path("github.com/Google").unwrap_err().0,
            r#"invalid escaped module path "github.com/Google""#
        );
        assert_eq!(
            unescape_path("cache").unwrap_err().0,
            r#"invalid escaped module path "cache": malformed module path "cache": missing dot in first path element"#
        );
    }

    #[test]
    fn escape_version_handles_upper_case_and_rejects_bang() {
        assert_eq!(escape_version("v1.0.0-RC1").unwrap(), "v1.0.0-!r!c1");
        assert_eq!(unescape_version("v1.0.0-!r!c1").unwrap(), "v1.0.0-RC1");
        assert_eq!(
            escape_version("v1.0.0+incompatible").unwrap(),
            "v1.0.0+incompatible"
        );
        assert_eq!(
            escape_version("v1!").unwrap_err().0,
            r#"version "v1!" invalid: disallowed version string"#
        );
        assert!(escape_version("v1/x").is_err());
        assert!(escape_version("").is_err());
        assert!(unescape_version("v1.0.0-RC1").is_err());
        assert!(unescape_version("v1.0.0-!").is_err());
        assert_eq!(
            unescape_version("..").unwrap_err().0,
            r#"invalid escaped version "..": invalid path element "..""#
        );
    }

    #[test]
    fn go_quote_matches_strconv() {
        assert_eq!(go_quote(b"\xff"), r#""\xff""#);
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\n\t\u{7}\u{0}".as_bytes()), r#""x\n\t\a\x00""#);
        assert_eq!(go_quote("é☺".as_bytes()), "\"é☺\"");
        assert_eq!(
            go_quote("\u{a0}\u{200b}\u{1d173}".as_bytes()),
            r#""\u00a0\u200b\U0001d173""#
        );
        assert_eq!(go_quote(b"\xf0\x9f"), r#""\xf0\x9f""#);
        // Each escape at the ends of its range.
        assert_eq!(
            go_quote("\u{8}\u{b}\u{c}\r\u{1}\u{1f}\u{7f}\u{80}\u{ffff}\u{e0001}".as_bytes()),
            r#""\b\v\f\r\x01\x1f\x7f\u0080\uffff\U000e0001""#
        );
        assert_eq!(go_quote_rune('\''), r"'\''");
        assert_eq!(go_quote_rune('"'), "'\"'");
        assert_eq!(go_quote_rune('\\'), r"'\\'");
    }

    #[test]
    fn fold_key_collides_case_variants() {
        let classes: &[&[&str]] = &[
            &["K", "k", "\u{212a}"],
            &["Σ", "σ", "ς"],
            &["S", "s", "ſ"],
            &["µ", "μ", "Μ"],
            &["Å", "å", "\u{212b}"],
            &["ǅ", "Ǆ", "ǆ"],
            &["θ", "Θ", "ϑ", "ϴ"],
            &["ß", "ẞ"],
            &["\u{390}", "\u{1fd3}"],
            &["\u{3b0}", "\u{1fe3}"],
            &["\u{fb05}", "\u{fb06}"],
            &["M.GO", "m.go", "M.go"],
        ];
        for class in classes {
            let key = fold_key(class[0]);
            for s in *class {
                assert_eq!(fold_key(s), key, "{s} vs {}", class[0]);
            }
        }
    }

    #[test]
    fn fold_key_keeps_distinct_letters_apart() {
        // Go's SimpleFold leaves dotless ı and dotted İ in orbits of their own.
        for (a, b) in [("ı", "i"), ("İ", "i"), ("a", "b"), ("ss", "ß"), ("é", "e")] {
            assert_ne!(fold_key(a), fold_key(b), "{a} vs {b}");
        }
        assert_eq!(fold_key("go.mod"), "go.mod");
        assert_eq!(fold_key("Go.Mod"), "go.mod");
    }

    proptest! {
        #[test]
        fn escape_then_unescape_is_identity(
            path in "[a-z0-9]{1,8}\\.[a-z]{2,4}(/[A-Za-z0-9_][A-Za-z0-9._~-]{0,10}[A-Za-z0-9_]){0,4}"
        ) {
            prop_assume!(check_path(&path).is_ok());
            let esc = escape_path(&path).unwrap();
            prop_assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()));
            let back = unescape_path(&esc).unwrap();
            prop_assert_eq!(back.as_str(), path.as_str());
        }

        #[test]
        fn escape_version_then_unescape_is_identity(v in "v[0-9]{1,3}\\.[0-9]\\.[0-9](-[A-Za-z0-9]{1,8})?") {
            let esc = escape_version(&v).unwrap();
            prop_assert_eq!(unescape_version(&esc).unwrap(), v);
        }

        #[test]
        fn fold_key_is_idempotent_and_case_blind(s in "\\PC{0,12}") {
            let key = fold_key(&s);
            prop_assert_eq!(fold_key(&key), key.clone());
            prop_assert_eq!(key.chars().count(), s.chars().count());
            prop_assert_eq!(fold_key(&s.to_ascii_uppercase()), fold_key(&s.to_ascii_lowercase()));
        }
    }
}
