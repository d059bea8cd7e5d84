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
        let glob = glob.strip_suffix('/').unwrap_or(glob);
        if glob.is_empty() {
            return false;
        }
        // A glob with n slashes is matched against the target's first n + 1 elements,
        // which end before its (n + 1)-th slash; a target with fewer elements never matches.
        let n = glob.matches('/').count();
        let mut ends = target
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(target.len()));
        ends.nth(n)
            .is_some_and(|end| path_match(glob.as_bytes(), &target.as_bytes()[..end]) == Some(true))
    })
}

/// Checks one pattern to be kept (`goshelf private add`, the settings page): not empty, no
/// `,` (that would be two) and no whitespace (the go command does not trim), and a
/// well-formed glob, since a malformed one matches nothing and would protect nothing.
///
/// # Errors
/// The reason, one line.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let glob = pattern.strip_suffix('/').unwrap_or(pattern);
    if glob.is_empty()
        || glob.ends_with('/')
        || pattern.contains(',')
        || pattern.contains(char::is_whitespace)
    {
        return Err(format!(
            "{pattern:?} is not one pattern (GOPRIVATE syntax, e.g. corp.example.com)"
        ));
    }
    if !well_formed(glob.as_bytes()) {
        return Err(format!(
            "{pattern:?} is a malformed glob (Go's path.Match syntax: an unclosed or empty [], \
             a range without both ends, a trailing \\), which would match nothing"
        ));
    }
    Ok(())
}

/// A malformed pattern (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BadPattern;

/// Whether a pattern parses as `path.Match` syntax: classes closed and not empty, ranges with
/// both ends, escapes escaping something, valid UTF-8.
fn well_formed(pattern: &[u8]) -> bool {
    // Matching the empty name reads the whole pattern: no chunk matches it, so each is
    // parsed to its end, and the rest of the pattern is then checked as Go checks it.
    path_match(pattern, b"").is_some()
}

/// Go's `path.Match`, step for step: the pattern is read in chunks, each a run of stars and
/// what follows up to the next star outside a class. `*` matches any run of non-`/`
/// characters, `?` one non-`/` character, `[...]` one character of a class (`^` negates,
/// ranges `a-z`, `\` escapes; a class may match a `/`), `\` escapes. `None` for a
/// malformed pattern, when Go returns `ErrBadPattern`.
fn path_match(mut pattern: &[u8], mut name: &[u8]) -> Option<bool> {
    // Every round takes at least one byte of the pattern (a chunk is never empty unless the
    // pattern ends with stars, which returns).
    'chunks: for _ in 0..=pattern.len() {
        if pattern.is_empty() {
            return Some(name.is_empty());
        }
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it holds a `/`.
            return Some(!name.contains(&b'/'));
        }
        // The chunk here; the last chunk must take the whole name.
        match match_chunk(chunk, name) {
            Ok(Some(t)) if t.is_empty() || !pattern.is_empty() => {
                name = t;
                continue 'chunks;
            }
            Err(BadPattern) => return None,
            Ok(_) => {}
        }
        if star {
            // Or after the star took 1, 2, ... bytes of the name, never a `/`.
            for (i, _) in name.iter().enumerate().take_while(|(_, b)| **b != b'/') {
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok(Some(t)) if t.is_empty() || !pattern.is_empty() => {
                        name = t;
                        continue 'chunks;
                    }
                    Err(BadPattern) => return None,
                    Ok(_) => {}
                }
            }
        }
        // No match: still an error if the rest of the pattern is malformed.
        for _ in 0..=pattern.len() {
            if pattern.is_empty() {
                return Some(false);
            }
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"").ok()?;
        }
        return None;
    }
    None
}

/// `scanChunk`: the leading stars (whether there were any), the chunk up to the next star
/// outside a class, and the rest of the pattern.
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|b| **b == b'*').count();
    let pattern = &pattern[stars..];
    let mut in_class = false;
    let mut bytes = pattern.iter().enumerate();
    while let Some((i, b)) = bytes.next() {
        match b {
            // The escaped byte is skipped (a trailing `\` is matchChunk's error).
            b'\\' => {
                bytes.next();
            }
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => return (stars > 0, &pattern[..i], &pattern[i..]),
            _ => {}
        }
    }
    (stars > 0, pattern, &[])
}

/// `matchChunk`: the rest of `s` after `chunk` matched its start (`None`: no match). The
/// whole chunk is read even after a mismatch, so a malformed chunk is always an error.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, BadPattern> {
    let mut failed = false;
    // Every round takes at least one byte of the chunk.
    for _ in 0..=chunk.len() {
        let Some(&c) = chunk.first() else {
            return Ok((!failed).then_some(s));
        };
        failed = failed || s.is_empty();
        match c {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                let (matched, rest) = class(&chunk[1..], r)?;
                chunk = rest;
                failed = failed || !matched;
            }
            b'?' => {
                if !failed {
                    failed = s[0] == b'/';
                    s = &s[decode_rune(s).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                }
                let &want = chunk.first().ok_or(BadPattern)?;
                if !failed {
                    failed = want != s[0];
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Err(BadPattern)
}

/// A class after its `[`: whether rune `r` is in it, and the chunk after its `]`.
fn class(mut chunk: &[u8], r: u32) -> Result<(bool, &[u8]), BadPattern> {
    let negated = chunk.first() == Some(&b'^');
    if negated {
        chunk = &chunk[1..];
    }
    let mut matched = false;
    // Every range takes at least one byte of the chunk.
    for ranges in 0..=chunk.len() {
        if ranges > 0 && chunk.first() == Some(&b']') {
            return Ok((matched != negated, &chunk[1..]));
        }
        let (lo, rest) = get_esc(chunk)?;
        chunk = rest;
        let mut hi = lo;
        if chunk[0] == b'-' {
            (hi, chunk) = get_esc(&chunk[1..])?;
        }
        matched = matched || (lo <= r && r <= hi);
    }
    Err(BadPattern)
}

/// `getEsc`: one character of a class, escaped or not, and a non-empty rest (a class that
/// ends there is unclosed). `-` and `]` must be escaped where a character is due.
fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let chunk = match chunk.first() {
        None | Some(b'-' | b']') => return Err(BadPattern),
        Some(b'\\') => chunk.get(1..).filter(|c| !c.is_empty()).ok_or(BadPattern)?,
        Some(_) => chunk,
    };
    let (r, n) = decode_rune(chunk);
    let rest = &chunk[n..];
    if (r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// `utf8.DecodeRune`: the first character of `s` and its length; U+FFFD and 1 for a byte
/// that does not start valid UTF-8 (and for an empty `s`, with length 0).
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let Some(&lead) = s.first() else {
        return (u32::from(char::REPLACEMENT_CHARACTER), 0);
    };
    let width = match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    };
    // An invalid lead byte has width 0: no character, so U+FFFD and 1 as for the others.
    let invalid = (u32::from(char::REPLACEMENT_CHARACTER), 1);
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(c)) => c.chars().next().map_or(invalid, |c| (u32::from(c), width)),
        _ => invalid,
    }
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
        for ok in [
            "corp.example.com",
            "*.corp.example.com/team",
            "corp.example.com/",
            "x[a-c]",
            "x[\\]a]",
        ] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        // Malformed as Go's path.Match has it: `]` or `-` unescaped where a character is due.
        for bad in [
            "", "/", "a//", "a,b", "a b", "\tcorp", "x[a-", "x\\", "[]a]", "x[a-]", "x[-a]", "x[]",
            "x[a-b-c]",
        ] {
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
            // x/mod counts every `/` of the glob, one inside a class too: a path with fewer
            // elements than that never matches, whatever the class would say.
            ("x[^/]y", "xby", false),
            ("x[^/]y", "xby/z", false),
            ("x[/]y", "x/y", true),
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

    /// Go's path/match_test.go `matchTests` (go 1.27): `None` where Go returns
    /// `ErrBadPattern`.
    #[test]
    fn path_match_follows_go_vectors() {
        for (pattern, name, want) in [
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a\u{263a}b", Some(true)),
            ("a[^a]b", "a\u{263a}b", Some(true)),
            ("a???b", "a\u{263a}b", Some(false)),
            ("a[^a][^a][^a]b", "a\u{263a}b", Some(false)),
            ("[a-\u{3b6}]*", "\u{3b1}", Some(true)),
            ("*[a-\u{3b6}]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[x-]", "-", None),
            ("[x-]", "z", None),
            ("[-x]", "x", None),
            ("[-x]", "-", None),
            ("[-x]", "a", None),
            ("\\", "a", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("a[", "x", None),
            ("a/b[", "x", None),
            ("*x", "xxx", Some(true)),
        ] {
            let got =
                crate::testing::within(move || path_match(pattern.as_bytes(), name.as_bytes()));
            assert_eq!(got, want, "path.Match({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn path_match_edges() {
        // `*` and `?` never match a `/`; a class may (path.Match has no rule against it).
        assert_eq!(path_match(b"a*", b"a/b"), Some(false));
        assert_eq!(path_match(b"a?b", b"a/b"), Some(false));
        assert_eq!(path_match(b"a[^x]b", b"a/b"), Some(true));
        assert_eq!(path_match(b"a*/c", b"ab/c"), Some(true));
        // Without a star the pattern matches from the name's start; a `*` in a class is a
        // character, not a star.
        assert_eq!(path_match(b"bc", b"abc"), Some(false));
        assert_eq!(path_match(b"b*", b"ab"), Some(false));
        assert_eq!(path_match(b"a[*]b", b"a*b"), Some(true));
        assert_eq!(path_match(b"a[*]b", b"axb"), Some(false));
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
        // `?` and classes take one whole character, however many bytes it has; a byte that
        // is not UTF-8 is one character too.
        for name in ["a\u{e9}c", "a\u{263a}c", "a\u{1f600}c"] {
            assert_eq!(path_match(b"a?c", name.as_bytes()), Some(true), "{name}");
            assert_eq!(path_match(b"a[^x]c", name.as_bytes()), Some(true), "{name}");
            assert_eq!(path_match(b"a??c", name.as_bytes()), Some(false), "{name}");
        }
        assert_eq!(path_match(b"a?c", b"a\xffc"), Some(true));
        assert_eq!(path_match(b"a??c", b"a\xe2\x98c"), Some(true));
        assert_eq!(
            path_match("[\u{e9}-\u{ea}]".as_bytes(), "\u{ea}".as_bytes()),
            Some(true)
        );
        assert_eq!(
            path_match("[\u{e9}-\u{ea}]".as_bytes(), "\u{eb}".as_bytes()),
            Some(false)
        );
        // A class of invalid UTF-8 is malformed.
        assert_eq!(path_match(b"[\xff]", b"a"), None);
        // A negated class holds neither `[` nor `^` unless it says so.
        assert_eq!(path_match(b"a[^0-9]", b"a^"), Some(true));
        assert_eq!(path_match(b"a[^0-9]", b"a["), Some(true));
        assert_eq!(path_match(b"a[^^]", b"a^"), Some(false));
        // A malformed rest is an error even after a mismatch, and a star goes on only up to
        // a `/`.
        assert_eq!(path_match(b"x*[", b"abc"), None);
        assert_eq!(path_match(b"a*b", b"a/b"), Some(false));
        // The round bounds are never what ends a match, however much backtracking it takes.
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
