//! Reads the `module` directive of a go.mod the way `modfile.ParseLax` does, and, for the web
//! UI, the `// Deprecated:` comment and the `retract` directives (`annotations`).
//!
//! The go command parses every `.mod` it downloads with `ParseLax` and fails on a syntax error
//! anywhere in the file (spec.md §1.2), so this follows its lexer and statement structure
//! (golang.org/x/mod/modfile read.go): `//` comments, `"` and `` ` `` strings, and `verb (`
//! blocks. Of the directives ParseLax looks at, `module`, `go` and `require` are checked as it
//! checks them; `retract` and `ignore` are skipped, so a malformed retraction passes here and
//! is reported by the client instead.

use super::{path, version};

/// An error reading go.mod; `Display` is the go command's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModFileError(pub String);

/// The module path declared by `go.mod`, unquoted.
///
/// # Errors
/// `missing module line`, or a malformed `module` directive (`go.mod:3: usage: module
/// module/path`), or any syntax error ParseLax reports (`go.mod:5: unexpected newline in
/// string`).
pub fn module_path(gomod: &[u8]) -> Result<String, ModFileError> {
    let summary = parse_lax(gomod)?;
    summary
        .module
        .ok_or_else(|| ModFileError("missing module line".to_owned()))
}

/// The `go` directive's version (`1.24`), if any; used by the zip creation vendor rules.
#[must_use]
pub fn go_version(gomod: &[u8]) -> Option<String> {
    parse_lax(gomod).ok()?.go
}

/// The `require` directives of a go.mod (or a go.work): module path and canonical version,
/// in file order (`goshelf export --for`).
///
/// # Errors
/// Any syntax error ParseLax reports.
pub fn requirements(gomod: &[u8]) -> Result<Vec<(String, String)>, ModFileError> {
    Ok(parse_lax(gomod)?.requires)
}

/// The `use` directives of a go.work: the directories of its modules, as written.
///
/// # Errors
/// Any syntax error ParseLax reports.
pub fn work_uses(gowork: &[u8]) -> Result<Vec<String>, ModFileError> {
    Ok(parse_lax(gowork)?.uses)
}

/// A `retract` directive (spec.md §3.6): the versions from `low` to `high` inclusive (equal
/// for a single version), with the rationale from the comments above it or at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub low: String,
    pub high: String,
    pub rationale: String,
}

impl Retraction {
    /// Whether `v` lies in `[low, high]` by semver order.
    #[must_use]
    pub fn covers(&self, v: &str) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        version::compare(v, &self.low) != Less && version::compare(v, &self.high) != Greater
    }
}

/// What a go.mod says about its module's standing: deprecation and retractions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// The text after `Deprecated:` in the comment paragraph on or above the `module` line.
    pub deprecated: Option<String>,
    pub retractions: Vec<Retraction>,
}

/// Reads the `// Deprecated:` comment of the `module` directive and every `retract`
/// directive, as golang.org/x/mod/modfile does (rule.go `parseDeprecation`,
/// `parseDirectiveComment`, `parseVersionInterval`): a directive's comment is the run of
/// comment lines directly above it plus the comment at the end of its line; inside a block, a
/// line without comments takes the block's. Malformed directives are skipped: this is for
/// display, and the go command reports them itself.
#[must_use]
pub fn annotations(gomod: &[u8]) -> Annotations {
    let text = String::from_utf8_lossy(gomod);
    let mut out = Annotations::default();
    // Comment lines directly above the current line (a blank line ends a run).
    let mut before: Vec<String> = Vec::new();
    // Inside `verb (`: the verb and the block's own comments.
    let mut block: Option<(String, Vec<String>)> = None;
    for raw in text.lines() {
        let (code, comment) = split_comment(raw);
        let code = code.trim();
        if code.is_empty() {
            match comment {
                Some(c) => before.push(c),
                None => before.clear(),
            }
            continue;
        }
        let mut comments = std::mem::take(&mut before);
        comments.extend(comment);
        if let Some((verb, block_comments)) = &block {
            if code == ")" {
                block = None;
                continue;
            }
            let used = if comments.is_empty() {
                block_comments.clone()
            } else {
                comments
            };
            apply_annotation(verb, code, &used, &mut out);
            continue;
        }
        let mut words = code.splitn(2, char::is_whitespace);
        let verb = words.next().unwrap_or_default();
        let rest = words.next().unwrap_or_default().trim();
        if rest == "(" {
            block = Some((verb.to_owned(), comments));
            continue;
        }
        apply_annotation(verb, rest, &comments, &mut out);
    }
    out
}

/// Splits a line at a `//` outside quotes; the comment is trimmed, without its slashes.
fn split_comment(line: &str) -> (&str, Option<String>) {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    // An iterator, not an index: each step moves forward, whatever the branch.
    let mut at = bytes.iter().enumerate();
    while let Some((i, &b)) = at.next() {
        match quote {
            Some(q) if b == q => quote = None,
            // A backslash in a "string" escapes the next byte (a quote, say).
            Some(b'"') if b == b'\\' => {
                at.next();
            }
            Some(_) => {}
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'/' && bytes.get(i + 1) == Some(&b'/') => {
                return (&line[..i], Some(line[i + 2..].trim().to_owned()));
            }
            None => {}
        }
    }
    (line, None)
}

fn apply_annotation(verb: &str, args: &str, comments: &[String], out: &mut Annotations) {
    let text = comments.join("\n");
    match verb {
        "module" => {
            out.deprecated = deprecation(&text);
        }
        "retract" => {
            let unquote_word = |w: &str| parse_string(w.trim()).ok();
            let (low, high) = if let Some(inner) = args
                .strip_prefix('[')
                .and_then(|a| a.trim_end().strip_suffix(']'))
            {
                let Some((lo, hi)) = inner.split_once(',') else {
                    return;
                };
                match (unquote_word(lo), unquote_word(hi)) {
                    (Some(lo), Some(hi)) => (lo, hi),
                    _ => return,
                }
            } else {
                match unquote_word(args) {
                    Some(v) => (v.clone(), v),
                    None => return,
                }
            };
            let (Some(low), Some(high)) = (
                version::canonical_version(&low),
                version::canonical_version(&high),
            ) else {
                return;
            };
            out.retractions.push(Retraction {
                low,
                high,
                rationale: text,
            });
        }
        _ => {}
    }
}

/// rule.go `deprecatedRE`: `(?s)(?:^|\n\n)Deprecated: *(.*?)(?:$|\n\n)`.
fn deprecation(text: &str) -> Option<String> {
    // Where the regexp's `(?:^|\n\n)` may end: the start, and after every `\n\n`, overlapping
    // ones too (`\n\n\n` ends one at its second and one at its third byte).
    let bytes = text.as_bytes();
    let starts = std::iter::once(0)
        .chain((2..=bytes.len()).filter(|&i| bytes[i - 2] == b'\n' && bytes[i - 1] == b'\n'));
    for start in starts {
        if let Some(rest) = text[start..].strip_prefix("Deprecated:") {
            let rest = rest.trim_start_matches(' ');
            let end = rest.find("\n\n").unwrap_or(rest.len());
            return Some(rest[..end].to_owned());
        }
    }
    None
}

/// What the lax parse keeps.
#[derive(Debug, Default)]
struct Summary {
    module: Option<String>,
    go: Option<String>,
    /// `require` directives: path and canonical version.
    requires: Vec<(String, String)>,
    /// `use` directives of a go.work: directories.
    uses: Vec<String>,
}

/// One lexical token (read.go `tokenKind`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// End of line, including a line ended by a `//` comment.
    Newline,
    Eof,
    LParen,
    RParen,
    /// An identifier, a quoted string (with its quotes) or other punctuation (`[ ] { } ,`).
    Word(String),
}

impl Token {
    fn is_eol(&self) -> bool {
        matches!(self, Token::Newline | Token::Eof)
    }

    fn text(&self) -> &str {
        match self {
            Token::Word(w) => w,
            Token::LParen => "(",
            Token::RParen => ")",
            Token::Newline | Token::Eof => "",
        }
    }
}

/// read.go's lexer over the file's characters. Invalid UTF-8 becomes U+FFFD, which Go's
/// `DecodeRune` also yields and `IsPrint` accepts as an identifier character.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    peeked: Option<(Token, usize)>,
}

impl Lexer {
    fn new(data: &[u8]) -> Self {
        Self {
            chars: String::from_utf8_lossy(data).chars().collect(),
            pos: 0,
            line: 1,
            peeked: None,
        }
    }

    fn err(line: usize, msg: &str) -> ModFileError {
        ModFileError(format!("go.mod:{line}: {msg}"))
    }

    fn peek(&mut self) -> Result<&Token, ModFileError> {
        if self.peeked.is_none() {
            let next = self.scan()?;
            self.peeked = Some(next);
        }
        match &self.peeked {
            Some((tok, _)) => Ok(tok),
            None => Ok(&Token::Eof),
        }
    }

    /// The next token and the line it starts on.
    fn lex(&mut self) -> Result<(Token, usize), ModFileError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.scan(),
        }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// The next token. Every token but the end consumes input, so the parser's loops end
    /// with the input whatever the token; checked here, since a lexer that stops consuming
    /// would have the parser loop forever.
    fn scan(&mut self) -> Result<(Token, usize), ModFileError> {
        let before = self.pos;
        let (token, line) = self.scan_token()?;
        if token != Token::Eof && self.pos <= before {
            return Err(Self::err(
                line,
                "internal error: the lexer made no progress",
            ));
        }
        Ok((token, line))
    }

    // Each step below is bounded by the input (no index loop).
    fn scan_token(&mut self) -> Result<(Token, usize), ModFileError> {
        let blanks = self.chars[self.pos..]
            .iter()
            .take_while(|c| matches!(c, ' ' | '\t' | '\r'))
            .count();
        self.pos += blanks;
        if self.at(self.pos) == Some('/') && self.at(self.pos + 1) == Some('/') {
            // A comment runs to the end of its line and ends the line.
            let line = self.line;
            match self.chars[self.pos..].iter().position(|&c| c == '\n') {
                Some(n) => {
                    self.pos += n + 1;
                    self.line += 1;
                }
                None => self.pos = self.chars.len(),
            }
            return Ok((Token::Newline, line));
        }
        // `/*` is refused by the word scanner below (read.go checks it before words too).
        let line = self.line;
        let Some(c) = self.at(self.pos) else {
            return Ok((Token::Eof, line));
        };
        match c {
            '\n' => {
                self.pos += 1;
                self.line += 1;
                Ok((Token::Newline, line))
            }
            '(' => {
                self.pos += 1;
                Ok((Token::LParen, line))
            }
            ')' => {
                self.pos += 1;
                Ok((Token::RParen, line))
            }
            '[' | ']' | '{' | '}' | ',' => {
                self.pos += 1;
                Ok((Token::Word(c.to_string()), line))
            }
            '"' | '`' => self.scan_string(c, line),
            c if is_ident(c) => {
                let start = self.pos;
                let mut end = self.chars.len();
                for (i, &c) in self.chars.iter().enumerate().skip(start) {
                    let next = self.at(i + 1);
                    if !is_ident(c) || (c == '/' && next == Some('/')) {
                        end = i;
                        break;
                    }
                    if c == '/' && next == Some('*') {
                        return Err(Self::err(
                            line,
                            "mod files must use // comments (not /* */ comments)",
                        ));
                    }
                }
                self.pos = end;
                Ok((Token::Word(self.chars[start..end].iter().collect()), line))
            }
            c => Err(Self::err(
                line,
                &format!("unexpected input character {}", path::go_quote_rune(c)),
            )),
        }
    }

    /// A quoted string, kept with its quotes; it may not span lines. A backslash escapes the
    /// next character in a "string", not in a `raw string`.
    fn scan_string(&mut self, quote: char, line: usize) -> Result<(Token, usize), ModFileError> {
        let start = self.pos;
        let mut escaped = false;
        for (i, &c) in self.chars.iter().enumerate().skip(start + 1) {
            if c == '\n' {
                return Err(Self::err(line, "unexpected newline in string"));
            }
            if escaped {
                escaped = false;
            } else if c == quote {
                self.pos = i + 1;
                return Ok((Token::Word(self.chars[start..=i].iter().collect()), line));
            } else if c == '\\' && quote != '`' {
                escaped = true;
            }
        }
        Err(Self::err(line, "unexpected EOF in string"))
    }
}

/// read.go `isIdent`: printable (Go's `unicode.IsPrint`), not a space, not one of `()[]{},`.
fn is_ident(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',')
        && !c.is_whitespace()
        && super::unicode::is_print(c)
}

/// Parses the statement structure and applies the lax rules for the directives kept.
fn parse_lax(data: &[u8]) -> Result<Summary, ModFileError> {
    let mut lx = Lexer::new(data);
    let mut summary = Summary::default();
    loop {
        let (tok, line) = lx.lex()?;
        match tok {
            Token::Eof => return Ok(summary),
            Token::Newline => {}
            first => parse_stmt(&mut lx, first, line, &mut summary)?,
        }
    }
}

/// read.go `parseStmt`: one line, or a `verb (` block when `(` ends the line. The first token
/// is the verb whatever it is, even `(`.
fn parse_stmt(
    lx: &mut Lexer,
    first: Token,
    line: usize,
    summary: &mut Summary,
) -> Result<(), ModFileError> {
    let mut tokens: Vec<String> = vec![first.text().to_owned()];
    loop {
        match lx.lex()?.0 {
            Token::Newline | Token::Eof => {
                if let Some((verb, args)) = tokens.split_first() {
                    apply(verb, args, line, summary)?;
                }
                return Ok(());
            }
            Token::LParen => {
                if lx.peek()?.is_eol() {
                    lx.lex()?;
                    return parse_block(lx, &tokens, line, summary);
                }
                if lx.peek()? == &Token::RParen {
                    lx.lex()?;
                    if lx.peek()?.is_eol() {
                        // An empty block.
                        lx.lex()?;
                        return Ok(());
                    }
                    tokens.push("(".to_owned());
                    tokens.push(")".to_owned());
                } else {
                    tokens.push("(".to_owned());
                }
            }
            other => tokens.push(other.text().to_owned()),
        }
    }
}

/// The lines of a `verb (` block up to its `)` line; each is applied as `verb <line>`.
fn parse_block(
    lx: &mut Lexer,
    header: &[String],
    start: usize,
    summary: &mut Summary,
) -> Result<(), ModFileError> {
    loop {
        let (tok, line) = lx.lex()?;
        match tok {
            Token::Newline => {}
            Token::Eof => {
                return Err(Lexer::err(
                    line,
                    &format!("syntax error (unterminated block started at go.mod:{start})"),
                ))
            }
            Token::RParen => {
                let (after, line) = lx.lex()?;
                if !after.is_eol() {
                    return Err(Lexer::err(
                        line,
                        "syntax error (expected newline after closing paren)",
                    ));
                }
                return Ok(());
            }
            first => {
                let mut args = vec![first.text().to_owned()];
                loop {
                    let (next, _) = lx.lex()?;
                    if next.is_eol() {
                        break;
                    }
                    args.push(next.text().to_owned());
                }
                // A block whose header has several words is an unknown block type; ParseLax
                // skips it.
                if let [verb] = header {
                    apply(verb, &args, line, summary)?;
                }
            }
        }
    }
}

/// rule.go `add` in lax mode, for `module`, `go` and `require`.
fn apply(
    verb: &str,
    args: &[String],
    line: usize,
    summary: &mut Summary,
) -> Result<(), ModFileError> {
    let fail = |msg: String| Err(Lexer::err(line, &msg));
    match verb {
        "module" => {
            if summary.module.is_some() {
                return fail("repeated module statement".to_owned());
            }
            let [arg] = args else {
                return fail("usage: module module/path".to_owned());
            };
            match parse_string(arg) {
                Ok(path) => summary.module = Some(path),
                Err(e) => return fail(format!("invalid quoted string: {e}")),
            }
        }
        "go" => {
            if summary.go.is_some() {
                return fail("repeated go statement".to_owned());
            }
            let [arg] = args else {
                return fail("go directive expects exactly one argument".to_owned());
            };
            // ParseLax repairs a version that only laxGoVersionRE matches to its `N.M` prefix.
            let fixed = if is_go_version(arg) {
                Some(arg.as_str())
            } else {
                lax_go_prefix(arg)
            };
            let Some(go) = fixed else {
                return fail(format!(
                    "invalid go version '{arg}': must match format 1.23.0"
                ));
            };
            summary.go = Some(go.to_owned());
        }
        "require" => {
            let [mod_path, ver] = args else {
                return fail("usage: require module/path v1.2.3".to_owned());
            };
            let mod_path = match parse_string(mod_path) {
                Ok(p) => p,
                Err(e) => return fail(format!("invalid quoted string: {e}")),
            };
            let ver = match parse_string(ver) {
                Ok(v) => v,
                Err(e) => return fail(format!("require {mod_path}: invalid quoted string: {e}")),
            };
            let Some(ver) = version::canonical_version(&ver) else {
                return fail(format!(
                    "require {mod_path}: version {} invalid: must be of the form v1.2.3",
                    path::go_quote(ver.as_bytes())
                ));
            };
            let Some((_, major)) = path::split_path_version(&mod_path) else {
                return fail(format!("require {mod_path}: invalid module path"));
            };
            if let Err(reason) = path::path_major_reason(&ver, major) {
                return fail(format!(
                    "require {mod_path}: version {} invalid: {reason}",
                    path::go_quote(ver.as_bytes())
                ));
            }
            summary.requires.push((mod_path, ver));
        }
        "use" => {
            if let [dir] = args {
                if let Ok(dir) = parse_string(dir) {
                    summary.uses.push(dir);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// rule.go `parseString`: a `"`-quoted Go string, or a bare word without quote characters.
fn parse_string(s: &str) -> Result<String, String> {
    if s.starts_with('"') {
        unquote(s).ok_or_else(|| "invalid syntax".to_owned())
    } else if s.contains(['"', '\'', '`']) {
        Err("unquoted string cannot contain quote".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

/// `strconv.Unquote` for a double-quoted string; `None` on any syntax error or when the
/// result is not UTF-8 (no module path could use it).
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return None,
            '\\' => {
                let e = chars.next()?;
                match e {
                    'a' => out.push(7),
                    'b' => out.push(8),
                    'f' => out.push(12),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(11),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    '0'..='7' => {
                        let digits: String =
                            std::iter::once(e).chain(chars.by_ref().take(2)).collect();
                        let v = u32::from_str_radix(&digits, 8)
                            .ok()
                            .filter(|_| digits.len() == 3)?;
                        out.push(u8::try_from(v).ok()?);
                    }
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let digits: String = chars.by_ref().take(n).collect();
                        if digits.len() != n || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        let v = u32::from_str_radix(&digits, 16).ok()?;
                        if e == 'x' {
                            out.push(u8::try_from(v).ok()?);
                        } else {
                            let c = char::from_u32(v)?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                    }
                    _ => return None,
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    String::from_utf8(out).ok()
}

/// modfile `GoVersionRE`: `^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$`.
fn is_go_version(v: &str) -> bool {
    let Some(rest) = number(v, true).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let Some(mut rest) = number(rest, false) else {
        return false;
    };
    if let Some(r) = rest.strip_prefix('.') {
        match number(r, false) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    if rest.is_empty() {
        return true;
    }
    // Letters then digits, each at least one. `rest` cannot start with a digit (the number
    // above took them all), so digits right at its start mean no letters came first.
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = rest[letters..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    digits > 0 && letters + digits == rest.len()
}

/// modfile `laxGoVersionRE`, `^v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)$`: the `N.M`
/// group when it matches.
fn lax_go_prefix(v: &str) -> Option<&str> {
    let body = v.strip_prefix('v').unwrap_or(v);
    let rest = number(body, true)?.strip_prefix('.')?;
    let rest = number(rest, false)?;
    let next = rest.chars().next()?;
    (!next.is_ascii_digit()).then(|| &body[..body.len() - rest.len()])
}

/// `[1-9][0-9]*` (or also `0` when `!nonzero`), and the rest.
fn number(s: &str, nonzero: bool) -> Option<&str> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let digits = &s[..n];
    let ok = match digits.as_bytes() {
        [] => false,
        [b'0'] => !nonzero,
        [b'0', ..] => false,
        _ => true,
    };
    ok.then(|| &s[n..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::within;

    // The parsers as the tests call them: each within a deadline, so that a loop made
    // endless fails its test instead of hanging the run.
    fn module_path(src: &[u8]) -> Result<String, ModFileError> {
        let src = src.to_vec();
        within(move || super::module_path(&src))
    }

    fn go_version(src: &[u8]) -> Option<String> {
        let src = src.to_vec();
        within(move || super::go_version(&src))
    }

    fn requirements(src: &[u8]) -> Result<Vec<(String, String)>, ModFileError> {
        let src = src.to_vec();
        within(move || super::requirements(&src))
    }

    fn work_uses(src: &[u8]) -> Result<Vec<String>, ModFileError> {
        let src = src.to_vec();
        within(move || super::work_uses(&src))
    }

    fn annotations(src: &[u8]) -> Annotations {
        let src = src.to_vec();
        within(move || super::annotations(&src))
    }

    #[test]
    fn requirements_and_work_uses_are_read_in_order() {
        let gomod = b"module example.com/m\n\ngo 1.21\n\nrequire a.example/x v1.2.0\nrequire (\n\t\"b.example/y/v2\" v2.0.1 // indirect\n\tc.example/z v0.0.0-20240102030405-abcdefabcdef\n)\nreplace a.example/x => ../x\n";
        assert_eq!(
            requirements(gomod).unwrap(),
            [
                ("a.example/x".to_owned(), "v1.2.0".to_owned()),
                ("b.example/y/v2".to_owned(), "v2.0.1".to_owned()),
                (
                    "c.example/z".to_owned(),
                    "v0.0.0-20240102030405-abcdefabcdef".to_owned()
                ),
            ]
        );
        assert!(requirements(b"module a.b\nrequire x.y latest\n").is_err());
        let work = b"go 1.22\n\nuse (\n\t./app\n\t\"./lib two\"\n)\nuse ./tool\n";
        assert_eq!(work_uses(work).unwrap(), ["./app", "./lib two", "./tool"]);
        assert!(work_uses(b"use (\n").is_err());
    }

    /// The tokens of `src` as `line:text` (`line:` for a line's end), up to the end or the
    /// first error.
    fn tokens(src: &'static str) -> Vec<String> {
        within(move || {
            let mut lx = Lexer::new(src.as_bytes());
            let mut out = Vec::new();
            loop {
                match lx.lex() {
                    Ok((Token::Eof, _)) => return out,
                    Ok((t, line)) => out.push(format!("{line}:{}", t.text())),
                    Err(e) => {
                        out.push(e.0);
                        return out;
                    }
                }
            }
        })
    }

    #[test]
    fn the_lexer_splits_words_strings_and_lines() {
        let cases: [(&str, &[&str]); 9] = [
            ("a b\n", &["1:a", "1:b", "1:"]),
            (" \t\ra(b)c\r\n", &["1:a", "1:(", "1:b", "1:)", "1:c", "1:"]),
            ("a // c\nb", &["1:a", "1:", "2:b"]),
            ("// c\n// d\n\nx", &["1:", "2:", "3:", "4:x"]),
            ("a//c", &["1:a", "1:"]),
            (
                "[a,b]{}",
                &["1:[", "1:a", "1:,", "1:b", "1:]", "1:{", "1:}"],
            ),
            (
                r#""a\"b" `c\` "d""#,
                &[r#"1:"a\"b""#, r"1:`c\`", r#"1:"d""#],
            ),
            (
                "a/b/*c",
                &["go.mod:1: mod files must use // comments (not /* */ comments)"],
            ),
            (
                "\n\n/*",
                &[
                    "1:",
                    "2:",
                    "go.mod:3: mod files must use // comments (not /* */ comments)",
                ],
            ),
        ];
        for (src, want) in cases {
            assert_eq!(tokens(src), want, "{src:?}");
        }
    }

    /// strconv.Unquote's escapes, and what it refuses.
    #[test]
    fn unquote_reads_go_escapes() {
        for (quoted, want) in [
            (
                r#""a\ab\bc\fd\ne\rf\tg\vh""#,
                Some("a\u{7}b\u{8}c\u{c}d\ne\rf\tg\u{b}h"),
            ),
            (r#""\\ \" x""#, Some("\\ \" x")),
            (r#""\101\060""#, Some("A0")),
            (r#""\x41\x7e""#, Some("A~")),
            (r#""\u00e9\U0001F600""#, Some("é😀")),
            (r#""plain é""#, Some("plain é")),
            (r#""""#, Some("")),
            // Octal needs three digits and fits a byte; hex its count of hex digits.
            (r#""\10""#, None),
            (r#""\18x""#, None),
            (r#""\400""#, None),
            (r#""\x4""#, None),
            (r#""\xZZ""#, None),
            (r#""\u00e""#, None),
            (r#""\U0001F60""#, None),
            // Not a character, or not UTF-8 once unquoted.
            (r#""\uD800""#, None),
            (r#""\xff""#, None),
            // A bare quote or newline inside, an unknown escape, a backslash at the end.
            (r#""a"b""#, None),
            ("\"a\nb\"", None),
            (r#""\q""#, None),
            (r#""a\""#, None),
            ("a", None),
            ("\"a", None),
        ] {
            assert_eq!(unquote(quoted).as_deref(), want, "{quoted}");
        }
    }

    /// modfile's GoVersionRE: `N.M`, `N.M.P`, then optionally letters and digits.
    #[test]
    fn go_versions_follow_the_go_version_regexp() {
        for (v, ok) in [
            ("1.21", true),
            ("1.21.0", true),
            ("1.21rc1", true),
            ("1.21.0rc12", true),
            ("1.0", true),
            ("1.21rc", false),
            ("1.21rc1x", false),
            ("1.21-rc1", false),
            ("1.21.", false),
            ("1.21.01", false),
            ("1.021", false),
            ("01.21", false),
            ("1", false),
            ("1.21RC1", false),
            ("", false),
        ] {
            assert_eq!(is_go_version(v), ok, "{v}");
        }
    }

    fn path_of(src: &str) -> Result<String, String> {
        module_path(src.as_bytes()).map_err(|e| e.0)
    }

    #[test]
    fn module_path_reads_bare_and_quoted_forms() {
        let cases = [
            ("module example.com/m\n", "example.com/m"),
            ("module example.com/m", "example.com/m"),
            ("// header\n\nmodule example.com/m // trailing\n\ngo 1.13\n", "example.com/m"),
            ("module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n", "rsc.io/quote"),
            ("module \"ex\\x61mple.com/\\u0041\"\n", "example.com/A"),
            ("\t module   example.com/m  \r\n", "example.com/m"),
            ("module (\n\texample.com/m\n)\n", "example.com/m"),
            ("go 1.21\nmodule example.com/m\n", "example.com/m"),
            ("module example.com/m\ntoolchain go1.22.1\ngodebug (\n\tdefault=go1.21\n)\n", "example.com/m"),
            ("module example.com/m\nretract [v1.0.0, v1.1.0] // oops\n", "example.com/m"),
            ("module example.com/m\nrequire (\n\tgolang.org/x/text v0.3.0 // indirect\n\texample.com/b/v2 v2.1.0\n)\n", "example.com/m"),
            ("module example.com/m\nrequire ()\n", "example.com/m"),
            ("module example.com/m\nreplace x.y => /abs/dir\n", "example.com/m"),
            ("module \"example.com/\\\"m\"\n", "example.com/\"m"),
            ("module example.com/m//c\n", "example.com/m"),
            ("module example.com/m\n//", "example.com/m"),
            ("module example.com/m\nreplace x.y => ./a/b // c\n", "example.com/m"),
        ];
        for (src, want) in cases {
            assert_eq!(path_of(src).as_deref(), Ok(want), "{src:?}");
        }
    }

    #[test]
    fn module_path_missing_line_is_an_error() {
        for src in [
            "",
            "go 1.13\n",
            "// module example.com/m\n",
            "modules example.com/m\n",
        ] {
            assert_eq!(
                path_of(src),
                Err("missing module line".to_owned()),
                "{src:?}"
            );
        }
    }

    #[test]
    fn module_path_rejects_malformed_files() {
        let cases = [
            ("module\n", "go.mod:1: usage: module module/path"),
            ("module a.b c.d\n", "go.mod:1: usage: module module/path"),
            (
                "module a.b\nmodule c.d\n",
                "go.mod:2: repeated module statement",
            ),
            ("module \"a.b\n", "go.mod:1: unexpected newline in string"),
            ("module \"a.b", "go.mod:1: unexpected EOF in string"),
            (
                "module 'a.b'\n",
                "go.mod:1: invalid quoted string: unquoted string cannot contain quote",
            ),
            (
                "module `a.b`\n",
                "go.mod:1: invalid quoted string: unquoted string cannot contain quote",
            ),
            (
                "module \"a\\qb\"\n",
                "go.mod:1: invalid quoted string: invalid syntax",
            ),
            (
                "module a.b\nrequire (\n\tx.y v1.0.0\n",
                "go.mod:4: syntax error (unterminated block started at go.mod:2)",
            ),
            (
                "module \"a.b\\\n\"\n",
                "go.mod:1: unexpected newline in string",
            ),
            ("module \"a.b\\", "go.mod:1: unexpected EOF in string"),
            ("module `a.b\n`\n", "go.mod:1: unexpected newline in string"),
            (
                "// one\n\t// two\nmodule a.b // three\n\nmodule c.d\n",
                "go.mod:5: repeated module statement",
            ),
            (
                "module a.b\n/* c */\n",
                "go.mod:2: mod files must use // comments (not /* */ comments)",
            ),
            (
                "module a.b\n  /*c*/\n",
                "go.mod:2: mod files must use // comments (not /* */ comments)",
            ),
            (
                "module a.b\nreplace x.y => ./z/*\n",
                "go.mod:2: mod files must use // comments (not /* */ comments)",
            ),
            (
                "module a.b\ngo x1.2\n",
                "go.mod:2: invalid go version 'x1.2': must match format 1.23.0",
            ),
            (
                "module a.b\ngo 1\n",
                "go.mod:2: invalid go version '1': must match format 1.23.0",
            ),
            (
                "module a.b\ngo 1.21\ngo 1.22\n",
                "go.mod:3: repeated go statement",
            ),
            (
                "module a.b\nrequire x.y\n",
                "go.mod:2: usage: require module/path v1.2.3",
            ),
            (
                "module a.b\nrequire x.y latest\n",
                "go.mod:2: require x.y: version \"latest\" invalid: must be of the form v1.2.3",
            ),
            (
                "module a.b\nrequire x.y/v2 v1.0.0\n",
                "go.mod:2: require x.y/v2: version \"v1.0.0\" invalid: should be v2, not v1",
            ),
            (
                "module a.b\nmodule\u{1}\n",
                "go.mod:2: unexpected input character '\\x01'",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(path_of(src), Err(want.to_owned()), "{src:?}");
        }
    }

    #[test]
    fn go_version_reads_go_directive() {
        let cases = [
            ("module m.n\n\ngo 1.24\n", Some("1.24")),
            ("module m.n\ngo 1.21.0\n", Some("1.21.0")),
            ("module m.n\ngo 1.21rc1\n", Some("1.21rc1")),
            // laxGoVersionRE: accepted by ParseLax.
            ("module m.n\ngo 1.18-beta\n", Some("1.18")),
            ("module m.n\ngo v1.2.3.4\n", Some("1.2")),
            ("module m.n\n", None),
            ("module m.n\ngo 01.2\n", None),
        ];
        for (src, want) in cases {
            assert_eq!(go_version(src.as_bytes()).as_deref(), want, "{src:?}");
        }
    }

    #[test]
    fn annotations_read_deprecation_above_or_on_the_module_line() {
        let a = annotations(b"// Deprecated: use example.com/b instead.\nmodule example.com/a\n");
        assert_eq!(a.deprecated.as_deref(), Some("use example.com/b instead."));
        let a = annotations(b"module example.com/a // Deprecated: gone\n");
        assert_eq!(a.deprecated.as_deref(), Some("gone"));
        // Only a paragraph that begins with the word counts (modfile deprecatedRE).
        let a = annotations(b"// Package a.\n//\n// Deprecated: old.\nmodule example.com/a\n");
        assert_eq!(a.deprecated.as_deref(), Some("old."));
        let a = annotations(b"// This is not Deprecated: really.\nmodule example.com/a\n");
        assert_eq!(a.deprecated, None);
        // After two blank comment lines, and with the text running on to a paragraph.
        let a = annotations(b"// A.\n//\n//\n// Deprecated:   x\n// y\n//\n// z\nmodule a\n");
        assert_eq!(a.deprecated.as_deref(), Some("x\ny"));
        for (text, want) in [
            ("Deprecated: x", Some("x")),
            ("Deprecated:x\n\ny", Some("x")),
            ("a\n\nb\n\nDeprecated: x", Some("x")),
            ("a\n\n\nDeprecated: x", Some("x")),
            ("a\nDeprecated: x", None),
            ("a Deprecated: x", None),
            ("a\n\n", None),
            ("", None),
        ] {
            assert_eq!(deprecation(text).as_deref(), want, "{text:?}");
        }
        // A blank line detaches a comment from the directive.
        let a = annotations(b"// Deprecated: detached\n\nmodule example.com/a\n");
        assert_eq!(a.deprecated, None);
    }

    #[test]
    fn annotations_read_retractions_single_interval_and_block_with_rationale() {
        let src = b"module example.com/a\n\n// Published too early.\nretract v1.0.0\nretract [v1.1.0, v1.2.0] // broken builds\n\n// block comment\nretract (\n\tv0.9.0\n\t// own reason\n\t\"v0.8.0\"\n)\n";
        let a = annotations(src);
        let got: Vec<(&str, &str, &str)> = a
            .retractions
            .iter()
            .map(|r| (r.low.as_str(), r.high.as_str(), r.rationale.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("v1.0.0", "v1.0.0", "Published too early."),
                ("v1.1.0", "v1.2.0", "broken builds"),
                ("v0.9.0", "v0.9.0", "block comment"),
                ("v0.8.0", "v0.8.0", "own reason"),
            ]
        );
        assert!(a.retractions[1].covers("v1.1.5"));
        assert!(a.retractions[1].covers("v1.2.0"));
        assert!(!a.retractions[1].covers("v1.2.1"));
        assert!(!a.retractions[1].covers("v1.10.0"));
    }

    /// `//` starts a comment only outside quotes; a backslash escapes a quote inside a
    /// "string" but not inside a `raw string`.
    #[test]
    fn comments_start_outside_quoted_and_raw_strings() {
        for (line, code, comment) in [
            ("module a // c", "module a ", Some("c")),
            ("module a", "module a", None),
            (r#"module "a//b" // c"#, r#"module "a//b" "#, Some("c")),
            (r#"module "a//b""#, r#"module "a//b""#, None),
            (r#"x "a\"//b" // c"#, r#"x "a\"//b" "#, Some("c")),
            (r#"x "a\\" // c"#, r#"x "a\\" "#, Some("c")),
            ("x `a//b` // c", "x `a//b` ", Some("c")),
            (r"x `a\` // c", r"x `a\` ", Some("c")),
            (r#"x `a"//b` // c"#, r#"x `a"//b` "#, Some("c")),
            (r#"x "a`//b" // c"#, r#"x "a`//b" "#, Some("c")),
            ("x / y // c", "x / y ", Some("c")),
            ("x \"unterminated // c", "x \"unterminated // c", None),
            (r#"x "a\"#, r#"x "a\"#, None),
        ] {
            let (got_code, got_comment) = split_comment(line);
            assert_eq!(
                (got_code, got_comment.as_deref()),
                (code, comment),
                "{line}"
            );
        }
        // As read for a directive: the comment of a retract line with `//` in its strings.
        let a = annotations(b"module a\nretract \"v1.0.0\" // see \"x//y\"\n");
        assert_eq!(a.retractions[0].rationale, "see \"x//y\"");
    }

    #[test]
    fn annotations_skip_malformed_retractions_and_slashes_in_strings() {
        let a = annotations(b"module \"example.com/a\"\nretract [v1.0.0]\nretract notaversion\n");
        assert!(a.retractions.is_empty(), "{a:?}");
        assert_eq!(a.deprecated, None);
    }
}
