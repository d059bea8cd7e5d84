//! GOPRIVATE / GONOSUMDB patterns (x/mod `module.MatchPrefixPatterns`): a comma-separated
//! list of `path.Match` globs, each matched against the leading path elements of a module
//! path, as many as the pattern has (checksum-db.md §7).
//!
//! Empty and malformed patterns match nothing; a trailing `/` on a pattern is ignored; there
//! is no whitespace trimming (as in the go command).

/// Whether module path `path` is `root` or lies below it (`root` then a `/`): `a.example/x`
/// is below `a.example`, `a.example/xy` is not.
#[must_use]
pub fn at_or_below(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `target` or one of its path prefixes matches a pattern of `globs`.
#[must_use]
pub fn match_prefix_patterns(globs: &str, target: &str) -> bool {
    globs.split(',').any(|glob| {
        let glob = glob.trim_end_matches('/');
        if glob.is_empty() {
            return false;
        }
        // The target's prefix with as many elements as the pattern has.
        let n = glob.matches('/').count();
        let mut prefix_end = target.len();
        let mut seen = 0;
        for (i, b) in target.bytes().enumerate() {
            if b == b'/' {
                if seen == n {
                    prefix_end = i;
                    break;
                }
                seen += 1;
            }
        }
        // A target with fewer elements than the pattern leaves fewer `/` in its prefix than
        // the pattern has, and `path_match` never matches a `/` with anything but a `/`.
        path_match(glob.as_bytes(), &target.as_bytes()[..prefix_end]) == Some(true)
    })
}

/// Checks one pattern to be kept (`goshelf private add`, the settings page): not empty, no
/// `,` (that would be two) and no whitespace (the go command does not trim), and a
/// well-formed glob, since a malformed one matches nothing and would protect nothing.
///
/// # Errors
/// The reason, one line.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let glob = pattern.trim_end_matches('/');
    if glob.is_empty() || pattern.contains(',') || pattern.contains(char::is_whitespace) {
        return Err(format!(
            "{pattern:?} is not one pattern (GOPRIVATE syntax, e.g. corp.example.com)"
        ));
    }
    if !well_formed(glob.as_bytes()) {
        return Err(format!(
            "{pattern:?} is a malformed glob (an unclosed [ or a trailing \\), which would \
             match nothing"
        ));
    }
    Ok(())
}

/// Go's `path.Match`: `*` any run of non-`/` bytes, `?` one non-`/` character, `[...]` a
/// class (`^` negates, ranges `a-z`, `\` escapes), `\` escapes. `None` for a malformed
/// pattern.
fn path_match(pattern: &[u8], name: &[u8]) -> Option<bool> {
    let (mut p, mut n) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    // Each round moves on in the pattern, or backtracks with the `*` taking one more byte of
    // the name, or ends: at most (pattern + 1) x (name + 1) rounds. The bound makes a broken
    // step a wrong answer (the tests see it) instead of a hang.
    for _ in 0..=(pattern.len() + 1) * (name.len() + 1) {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    star = Some((p, n));
                    continue;
                }
                b'?' if n < name.len() && name[n] != b'/' => {
                    let w = char_width(&name[n..]);
                    p += 1;
                    n += w;
                    continue;
                }
                b'[' => {
                    let (matched, len) = class(&pattern[p..], name.get(n..).unwrap_or(&[]))?;
                    if matched {
                        p += len;
                        n += char_width(&name[n..]);
                        continue;
                    }
                }
                b'\\' => {
                    let c = *pattern.get(p + 1)?;
                    if n < name.len() && name[n] == c {
                        p += 2;
                        n += 1;
                        continue;
                    }
                }
                c if c != b'?' && n < name.len() && name[n] == c => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            return Some(true);
        }
        // Mismatch: let the last `*` take one more byte (never a `/`).
        match star {
            Some((sp, sn)) if sn < name.len() && name[sn] != b'/' => {
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
            _ => {
                // A malformed rest of the pattern is still an error in Go.
                return if well_formed(&pattern[p.min(pattern.len())..]) {
                    Some(false)
                } else {
                    None
                };
            }
        }
    }
    None
}

fn char_width(s: &[u8]) -> usize {
    match s.first() {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    }
}

/// Matches the class at the start of `pattern` (`[...]`) against the first byte of `name`;
/// returns whether it matched and the class's length. ASCII classes only (module paths).
fn class(pattern: &[u8], name: &[u8]) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let c = name.first().copied();
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pattern.get(i)?;
        if lo == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if lo == b'\\' {
            i += 1;
            *pattern.get(i)?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if pattern.get(i) == Some(&b'-') && pattern.get(i + 1) != Some(&b']') {
            i += 1;
            hi = *pattern.get(i)?;
            if hi == b'\\' {
                i += 1;
                hi = *pattern.get(i)?;
            }
            i += 1;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    let ok = c.is_some_and(|c| c != b'/') && matched != negate;
    Some((ok, i))
}

/// Whether the rest of a pattern parses (its classes close, its escapes escape something).
fn well_formed(pattern: &[u8]) -> bool {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => {
                if i + 1 >= pattern.len() {
                    return false;
                }
                i += 2;
            }
            b'[' => match class(&pattern[i..], b"a") {
                Some((_, len)) => i += len,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_or_below_means_the_path_or_below_a_slash() {
        assert!(at_or_below("a.example/x", "a.example/x"));
        assert!(at_or_below("a.example/x/v2", "a.example/x"));
        assert!(at_or_below("a.example/x/y/z", "a.example"));
        assert!(
            !at_or_below("a.example/xy", "a.example/x"),
            "not a mere string prefix"
        );
        assert!(
            !at_or_below("a.example", "a.example/x"),
            "above is not below"
        );
        assert!(!at_or_below("b.example/x", "a.example/x"));
    }

    #[test]
    fn check_pattern_takes_one_well_formed_glob() {
        // A `]` first in a class is a member, as in Go (`[]a]`).
        for ok in [
            "corp.example.com",
            "*.corp.example.com/team",
            "corp.example.com/",
            "x[a-c]",
            "[]a]",
        ] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/", "a,b", "a b", "\tcorp", "x[a-", "x\\"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }

    /// x/mod module_test.go `TestMatchPrefixPatterns` (checksum-db.md §7).
    #[test]
    fn the_x_mod_vectors() {
        for (globs, target, want) in [
            ("*/quote", "rsc.io/quote", true),
            ("*/quo", "rsc.io/quote", false),
            ("*/quo??", "rsc.io/quote", true),
            ("*/quo*", "rsc.io/quote", true),
            ("*quo*", "rsc.io/quote", false),
            ("rsc.io", "rsc.io/quote", true),
            ("*.io", "rsc.io/quote", true),
            ("rsc.io/", "rsc.io/quote", true),
            ("rsc", "rsc.io/quote", false),
            ("rsc*", "rsc.io/quote", true),
            ("rsc.io", "rsc.io/quote/v3", true),
            ("*/quote", "rsc.io/quote/v3", true),
            ("*/quote/", "rsc.io/quote/v3", true),
            ("*/quote/*", "rsc.io/quote/v3", true),
            ("*/quote/*/", "rsc.io/quote/v3", true),
            ("*/v3", "rsc.io/quote/v3", false),
            ("*/*/v3", "rsc.io/quote/v3", true),
            ("*/*/*", "rsc.io/quote/v3", true),
            ("*/*/*/", "rsc.io/quote/v3", true),
            ("*/*/*", "rsc.io/quote", false),
            ("*/*/*/", "rsc.io/quote", false),
            ("*/*/*,,", "rsc.io/quote", false),
            ("*/*/*,,*/quote", "rsc.io/quote", true),
            (",,*/quote", "rsc.io/quote", true),
        ] {
            assert_eq!(
                match_prefix_patterns(globs, target),
                want,
                "{globs} on {target}"
            );
        }
    }

    /// x/mod sumdb client_test.go: GONOSUMDB=`p,*/q`.
    #[test]
    fn the_client_test_list() {
        for skipped in ["p", "p/x", "x/q", "x/q/z"] {
            assert!(match_prefix_patterns("p,*/q", skipped), "{skipped}");
        }
        for looked_up in ["abc", "a/p", "pq", "q", "n/o/p/q"] {
            assert!(!match_prefix_patterns("p,*/q", looked_up), "{looked_up}");
        }
    }

    /// Go's `path.Match`: `*`, `?` and classes never match a `/`.
    #[test]
    fn path_match_never_crosses_a_slash() {
        assert_eq!(path_match(b"a*", b"a/b"), Some(false));
        assert_eq!(path_match(b"a?b", b"a/b"), Some(false));
        assert_eq!(path_match(b"a[^x]b", b"a/b"), Some(false));
        assert_eq!(path_match(b"a*", b"abc"), Some(true));
        assert_eq!(path_match(b"a*/c", b"ab/c"), Some(true));
        // `?` needs a character to match.
        assert_eq!(path_match(b"a?", b"a"), Some(false));
        assert_eq!(path_match(b"a?", b"ab"), Some(true));
        assert_eq!(path_match(b"*?", b""), Some(false));
        // Backtracking: the first `*` gives back what the rest needs.
        assert_eq!(path_match(b"*b*c", b"abxbyc"), Some(true));
        assert_eq!(path_match(b"*b*c", b"abxbyd"), Some(false));
        // An escape matches its character, and needs one.
        assert_eq!(path_match(b"abc\\*d", b"abc*d"), Some(true));
        assert_eq!(path_match(b"abc\\*d", b"abcxd"), Some(false));
        assert_eq!(path_match(b"a\\b", b"a"), Some(false));
        // `?` and classes take one whole character, however many bytes it has.
        for name in ["a\u{e9}c", "a\u{263a}c", "a\u{1f600}c"] {
            assert_eq!(path_match(b"a?c", name.as_bytes()), Some(true), "{name}");
            assert_eq!(path_match(b"a[^x]c", name.as_bytes()), Some(true), "{name}");
            assert_eq!(path_match(b"a??c", name.as_bytes()), Some(false), "{name}");
        }
        // A negated class holds neither `[` nor `^` unless it says so.
        assert_eq!(path_match(b"a[^0-9]", b"a^"), Some(true));
        assert_eq!(path_match(b"a[^0-9]", b"a["), Some(true));
        assert_eq!(path_match(b"a[^^]", b"a^"), Some(false));
        // The round bound is never what ends a match, however much backtracking it takes.
        let a = vec![b'a'; 200];
        let mut ab = a.clone();
        ab.push(b'b');
        assert_eq!(path_match(b"*a*a*a*a*a*b", &a), Some(false));
        assert_eq!(path_match(b"*a*a*a*a*a*b", &ab), Some(true));
        assert_eq!(path_match(b"*?*?*?b", &ab), Some(true));
        assert_eq!(path_match(b"a*", &ab), Some(true));
    }

    #[test]
    fn classes_escapes_and_malformed_patterns() {
        assert!(match_prefix_patterns(
            "corp[0-9].example",
            "corp7.example/x"
        ));
        assert!(!match_prefix_patterns(
            "corp[^0-9].example",
            "corp7.example/x"
        ));
        assert!(match_prefix_patterns("a\\*b", "a*b/c"));
        assert!(!match_prefix_patterns("a\\*b", "axb/c"));
        // Malformed patterns match nothing.
        assert!(!match_prefix_patterns("corp[0-9", "corp7/x"));
        assert!(!match_prefix_patterns("a\\", "a/x"));
        assert!(!match_prefix_patterns("", "anything"));
        assert!(match_prefix_patterns("*", "anything/at/all"));
    }
}
