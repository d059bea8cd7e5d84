//! Go doc comments (Go 1.19+ syntax, <https://go.dev/doc/comment>): parsed into blocks and
//! rendered as HTML the way `go/doc/comment`'s `Printer.HTML` does, byte for byte on Go's own
//! test cases (tests/fixtures/go-doc-comment, the unit test `go_testdata_html`).
//!
//! - Blocks: paragraphs (unindented lines), `# Headings` and old-style headings (a single
//!   capitalised line without punctuation between blank lines), code blocks (indented
//!   lines), lists (indented lines starting with `-`, `*`, `+`, `•` or `1.`/`1)`), and link
//!   definitions (`[Text]: URL`, whole paragraphs of them, not shown).
//! - Text: `[Text]` links to a definition, doc links (`[Name]`, `[Recv.Name]`, `[pkg.Name]`,
//!   `[pkg]`, `[*Name]`) when the caller's lookups know the target, URLs linked as written,
//!   ``` `` ``` and `''` as curly quotes, and words the parser is told to italicise.
//!
//! Safety: every byte of text is escaped (`<`, `>`, `&`, `"`, `'`), and only URLs whose
//! scheme is one of Go's seven (`http`, `https`, `ftp`, `file`, `gopher`, `mailto`, `nntp`)
//! ever become links: a `javascript:` URL in a comment stays text. Heading anchors are
//! `hdr-` and ASCII letters, digits and underscores only.
//!
//! Characters are classed by Go's own unicode tables (`crate::gomod::unicode`), not by
//! Rust's properties, which differ beyond ASCII (a line starting `Ⅻ` is no heading for Go).
//! Checked against go/doc/comment on 1,328 generated comments as well
//! (tests/fixtures/doc-comment-oracle, the unit test `go_oracle_cases`).

use std::collections::HashMap;

use crate::gomod::unicode;

/// A parsed comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doc {
    pub content: Vec<Block>,
    /// Every link definition, in order, used or not.
    pub links: Vec<LinkDef>,
}

/// A link definition `[Text]: URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDef {
    pub text: String,
    pub url: String,
}

/// A block of a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Text>),
    Heading(Vec<Text>),
    /// The code, unindented, ending in a newline.
    Code(String),
    List(List),
}

/// A list: bulleted when its first item has no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub items: Vec<ListItem>,
    /// A blank line separated two items (or an item's paragraphs).
    pub force_blank_between: bool,
}

impl List {
    /// Whether items are separated by blank lines: then each item's paragraphs are `<p>`s.
    #[must_use]
    pub fn blank_between(&self) -> bool {
        self.force_blank_between || self.items.iter().any(|i| i.content.len() != 1)
    }
}

/// One item of a list: its number (`""` in a bulleted list) and its paragraphs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub number: String,
    pub content: Vec<Block>,
}

/// A piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Plain(String),
    Italic(String),
    Link {
        /// A URL written in the text, not a `[Text]` link.
        auto: bool,
        text: Vec<Text>,
        url: String,
    },
    DocLink(DocLink),
}

/// A link to Go documentation: a package, or a symbol of one (`import_path` empty: of the
/// package the comment belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocLink {
    pub text: Vec<Text>,
    pub import_path: String,
    /// The receiver type of a method, without `*`.
    pub recv: String,
    /// The symbol; empty for a link to a package.
    pub name: String,
}

impl DocLink {
    /// Go's default URL: `base/import/path#Recv.Name`, or `#Name` within the package.
    #[must_use]
    pub fn default_url(&self, base: &str) -> String {
        if self.import_path.is_empty() {
            return if self.recv.is_empty() {
                format!("#{}", self.name)
            } else {
                format!("#{}.{}", self.recv, self.name)
            };
        }
        let (base, slash) = match base.strip_suffix('/') {
            Some(b) => (b, "/"),
            None => (base, ""),
        };
        let path = format!("{base}/{}{slash}", self.import_path);
        match (self.name.is_empty(), self.recv.is_empty()) {
            (true, _) => path,
            (false, true) => format!("{path}#{}", self.name),
            (false, false) => format!("{path}#{}.{}", self.recv, self.name),
        }
    }
}

/// The standard library's packages whose import path is one word, which a doc link may name
/// without its path (Go's `stdPkgs`, go 1.27).
const STD_PACKAGES: &[&str] = &[
    "bufio", "bytes", "cmp", "context", "crypto", "embed", "encoding", "errors", "expvar", "flag",
    "fmt", "hash", "html", "image", "io", "iter", "log", "maps", "math", "mime", "net", "os",
    "path", "plugin", "reflect", "regexp", "runtime", "slices", "sort", "strconv", "strings",
    "structs", "sync", "syscall", "testing", "time", "unicode", "unique", "unsafe", "weak",
];

/// What the parser knows beyond the comment: words to italicise (with a URL to link them
/// to, or `""`), and which packages and symbols doc links may name.
pub struct Parser<'a> {
    pub words: HashMap<String, String>,
    /// A package name's import path (beyond the one-word standard packages).
    pub lookup_package: &'a dyn Fn(&str) -> Option<String>,
    /// Whether the comment's own package has symbol `name` (a method of `recv` if not empty).
    pub lookup_sym: &'a dyn Fn(&str, &str) -> bool,
}

impl Default for Parser<'_> {
    fn default() -> Self {
        Self {
            words: HashMap::new(),
            lookup_package: &|_| None,
            lookup_sym: &|_, _| false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanKind {
    Code,
    Heading,
    List,
    OldHeading,
    Para,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    kind: SpanKind,
}

impl Parser<'_> {
    /// Parses comment text (without `//` or `/* */`).
    #[must_use]
    pub fn parse(&self, text: &str) -> Doc {
        let all: Vec<&str> = text.split('\n').collect();
        let lines = unindent(&all);
        let mut doc = Doc::default();
        let mut defs: HashMap<String, String> = HashMap::new();
        // Blocks whose text is parsed for links once every definition is known.
        let mut raw: Vec<RawBlock> = Vec::new();
        for s in parse_spans(&lines) {
            let block = &lines[s.start..s.end];
            match s.kind {
                SpanKind::List => raw.push(RawBlock::List(list(block, &mut doc, &mut defs))),
                SpanKind::Code => {
                    let mut body = unindent(block);
                    body.push(String::new());
                    raw.push(RawBlock::Done(Block::Code(body.join("\n"))));
                }
                SpanKind::OldHeading => {
                    raw.push(RawBlock::Done(Block::Heading(vec![Text::Plain(
                        block[0].trim().to_owned(),
                    )])))
                }
                SpanKind::Heading => raw.push(RawBlock::Done(Block::Heading(vec![Text::Plain(
                    block[0][1..].trim().to_owned(),
                )]))),
                SpanKind::Para => {
                    if let Some(text) = paragraph(block, &mut doc, &mut defs) {
                        raw.push(RawBlock::Para(text));
                    }
                }
            }
        }
        doc.content = raw
            .into_iter()
            .map(|b| match b {
                RawBlock::Done(b) => b,
                RawBlock::Para(t) => Block::Paragraph(self.linked_text(&t, &defs)),
                RawBlock::List(items) => {
                    let (items, force_blank_between) = items;
                    Block::List(List {
                        items: items
                            .into_iter()
                            .map(|(number, paras)| ListItem {
                                number,
                                content: paras
                                    .iter()
                                    .map(|t| Block::Paragraph(self.linked_text(t, &defs)))
                                    .collect(),
                            })
                            .collect(),
                        force_blank_between,
                    })
                }
            })
            .collect();
        doc
    }

    /// Text with `[...]` links to definitions and doc links found (Go's `parseLinkedText`).
    fn linked_text(&self, text: &str, defs: &HashMap<String, String>) -> Vec<Text> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut wrote = 0;
        let mut start: Option<usize> = None;
        let mut buf: Vec<u8> = Vec::new();
        for i in 0..b.len() {
            let c = match b[i] {
                b'\n' | b'\t' => b' ',
                c => c,
            };
            match c {
                b'[' => start = Some(i),
                b']' => {
                    if let Some(s) = start {
                        let key = String::from_utf8_lossy(&buf);
                        if let Some(url) = defs.get(key.as_ref()) {
                            self.plain_text(&mut out, &text[wrote..s], true);
                            out.push(Text::Link {
                                auto: false,
                                text: self.text_of(&text[s + 1..i]),
                                url: url.clone(),
                            });
                            wrote = i + 1;
                        } else if let Some(mut link) =
                            self.doc_link(&text[s + 1..i], &text[..s], &text[i + 1..])
                        {
                            self.plain_text(&mut out, &text[wrote..s], true);
                            link.text = self.text_of(&text[s + 1..i]);
                            out.push(Text::DocLink(link));
                            wrote = i + 1;
                        }
                    }
                    start = None;
                    buf.clear();
                }
                _ => {}
            }
            if start.is_some_and(|s| s != i) {
                buf.push(c);
            }
        }
        self.plain_text(&mut out, &text[wrote..], true);
        out
    }

    fn text_of(&self, s: &str) -> Vec<Text> {
        let mut out = Vec::new();
        self.plain_text(&mut out, s, false);
        out
    }

    /// A doc link for `[text]` between `before` and `after`, if the lookups know its target
    /// and the brackets stand apart from the words beside them.
    fn doc_link(&self, text: &str, before: &str, after: &str) -> Option<DocLink> {
        let apart = |c: Option<char>| {
            c.is_none_or(|c| unicode::is_punct(c) || c == ' ' || c == '\t' || c == '\n')
        };
        if !apart(before.chars().next_back()) || !apart(after.chars().next()) {
            return None;
        }
        let text = text.strip_prefix('*').unwrap_or(text);
        let (mut pkg, name, found) = split_doc_name(text);
        let mut recv = "";
        if found {
            let (p, r, _) = split_doc_name(pkg);
            pkg = p;
            recv = r;
        }
        let import_path = if pkg.is_empty() {
            if !(self.lookup_sym)(recv, name) {
                return None;
            }
            String::new()
        } else {
            self.lookup_pkg(pkg)?
        };
        Some(DocLink {
            text: Vec::new(),
            import_path,
            recv: recv.to_owned(),
            name: name.to_owned(),
        })
    }

    fn lookup_pkg(&self, pkg: &str) -> Option<String> {
        if pkg.contains('/') {
            return valid_import_path(pkg).then(|| pkg.to_owned());
        }
        if let Some(path) = (self.lookup_package)(pkg) {
            return Some(path);
        }
        STD_PACKAGES.contains(&pkg).then(|| pkg.to_owned())
    }

    /// Appends `s` as text: URLs linked (when `auto_link`), known words italicised, and
    /// ``` `` ```/`''` as curly quotes (Go's `parseText`).
    fn plain_text(&self, out: &mut Vec<Text>, s: &str, auto_link: bool) {
        let mut w = String::new();
        let mut wrote = 0;
        let flush = |w: &mut String, out: &mut Vec<Text>| {
            if !w.is_empty() {
                out.push(Text::Plain(std::mem::take(w)));
            }
        };
        // The bytes before `next` are taken; the loop visits each character once, so no step
        // can send it back or hold it in place.
        let mut next = 0;
        for (i, _) in s.char_indices() {
            if i < next {
                continue;
            }
            let t = &s[i..];
            if auto_link {
                if let Some(url) = auto_url(t) {
                    w.push_str(&s[wrote..i]);
                    flush(&mut w, out);
                    out.push(Text::Link {
                        auto: true,
                        text: vec![Text::Plain(url.to_owned())],
                        url: url.to_owned(),
                    });
                    next = i + url.len();
                    wrote = next;
                    continue;
                }
                if let Some(id) = ident(t) {
                    next = i + id.len();
                    if let Some(url) = self.words.get(id) {
                        w.push_str(&s[wrote..i]);
                        flush(&mut w, out);
                        let word = Text::Italic(id.to_owned());
                        out.push(if url.is_empty() {
                            word
                        } else {
                            Text::Link {
                                auto: true,
                                text: vec![word],
                                url: url.clone(),
                            }
                        });
                        wrote = next;
                    }
                    continue;
                }
            }
            if t.starts_with("```") {
                // A run of three or more backticks stays as written.
                next = i + t.bytes().take_while(|&c| c == b'`').count();
            } else if t.starts_with("``") {
                w.push_str(&s[wrote..i]);
                w.push('“');
                next = i + 2;
                wrote = next;
            } else if t.starts_with("''") {
                w.push_str(&s[wrote..i]);
                w.push('”');
                next = i + 2;
                wrote = next;
            }
        }
        w.push_str(&s[wrote..]);
        flush(&mut w, out);
    }
}

/// A block before its text is parsed for links.
enum RawBlock {
    Done(Block),
    Para(String),
    /// Items (number, paragraphs) and whether a blank line separated them.
    List((Vec<(String, Vec<String>)>, bool)),
}

/// A paragraph's text, or `None` when every line is a link definition (then recorded).
fn paragraph(
    lines: &[String],
    doc: &mut Doc,
    defs: &mut HashMap<String, String>,
) -> Option<String> {
    let parsed: Option<Vec<LinkDef>> = lines.iter().map(|l| parse_link_def(l)).collect();
    match parsed {
        Some(found) => {
            for def in found {
                defs.entry(def.text.clone())
                    .or_insert_with(|| def.url.clone());
                doc.links.push(def);
            }
            None
        }
        None => Some(lines.join("\n")),
    }
}

/// `[Text]: URL` with a URL of a known scheme.
fn parse_link_def(line: &str) -> Option<LinkDef> {
    if !line.starts_with('[') {
        return None;
    }
    let i = line.find("]:")?;
    let b = line.as_bytes();
    if i + 3 >= b.len() || (b[i + 2] != b' ' && b[i + 2] != b'\t') {
        return None;
    }
    let url = line[i + 3..].trim();
    let j = url.find("://")?;
    if !is_scheme(&url[..j]) {
        return None;
    }
    Some(LinkDef {
        text: line[1..i].to_owned(),
        url: url.to_owned(),
    })
}

/// A list span's items (number, paragraphs' text) and whether blank lines separate them.
fn list(
    lines: &[String],
    doc: &mut Doc,
    defs: &mut HashMap<String, String>,
) -> (Vec<(String, Vec<String>)>, bool) {
    let numbered = list_marker(&lines[0]).is_some_and(|(n, _)| !n.is_empty());
    let mut items: Vec<(String, Vec<String>)> = Vec::new();
    let mut text: Vec<String> = Vec::new();
    let mut blank = false;
    let flush = |items: &mut Vec<(String, Vec<String>)>,
                 text: &mut Vec<String>,
                 doc: &mut Doc,
                 defs: &mut HashMap<String, String>| {
        if let Some(item) = items.last_mut() {
            if let Some(p) = paragraph(text, doc, defs) {
                item.1.push(p);
            }
        }
        text.clear();
    };
    for line in lines {
        let mut line = line.as_str();
        if let Some((n, rest)) = list_marker(line) {
            if n.is_empty() != numbered {
                flush(&mut items, &mut text, doc, defs);
                items.push((n.to_owned(), Vec::new()));
                line = rest;
            }
        }
        let line = line.trim();
        if line.is_empty() {
            blank = true;
            flush(&mut items, &mut text, doc, defs);
            continue;
        }
        text.push(line.to_owned());
    }
    flush(&mut items, &mut text, doc, defs);
    (items, blank)
}

/// The marker of a list item line: its number (`""` for a bullet) and the text after it.
fn list_marker(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let first = line.chars().next()?;
    let (num, rest) = if matches!(first, '•' | '*' | '+' | '-') {
        ("", &line[first.len_utf8()..])
    } else if first.is_ascii_digit() {
        let n = line.bytes().take_while(u8::is_ascii_digit).count();
        match line.as_bytes().get(n) {
            Some(b'.' | b')') => (&line[..n], &line[n + 1..]),
            _ => return None,
        }
    } else {
        return None;
    };
    (indented(rest) && !rest.trim().is_empty()).then_some((num, rest))
}

fn is_list(line: &str) -> bool {
    list_marker(line).is_some()
}

fn indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// The spans of blocks in unindented `lines` (Go's `parseSpans`).
///
/// Where unindented lines turn out to begin an indented section (list items whose text
/// wraps onto indented lines, code whose first line was not indented), Go's loop records
/// where the section ends and reads it, forced indented, in a later round; here the
/// unindented span says where that section begins, and it is read at once. Each round adds
/// a span that ends after its first line, so there are no more rounds than lines (Go's
/// watchdog has nothing to watch, and a broken step gives wrong spans, not a hang).
fn parse_spans(lines: &[String]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for _ in 0..lines.len() {
        let from = spans.last().map_or(0, |s| s.end);
        let Some(start) = (from..lines.len()).find(|&k| !lines[k].is_empty()) else {
            break;
        };
        if indented(&lines[start]) {
            spans.push(indented_span(lines, start, false));
        } else {
            let (para, forced) = unindented_span(lines, start);
            spans.extend(para);
            spans.extend(forced.map(|f| indented_span(lines, f, true)));
        }
    }
    spans
}

/// The indented span at `start` (`forced`: unindented lines that begin an indented section):
/// a list or code, to the next unindented line (blank lines allowed inside, not at its end).
fn indented_span(lines: &[String], start: usize, forced: bool) -> Span {
    // The unindented items of a forced list are accepted up to the first blank line (which
    // keeps the guess to the unformatted part of the comment).
    let mut unindented_list_ok = forced && is_list(&lines[start]);
    let stop = (start + 1..lines.len())
        .find(|&k| {
            let line = &lines[k];
            if line.is_empty() {
                unindented_list_ok = false;
                return false;
            }
            !(indented(line) || (unindented_list_ok && is_list(line)))
        })
        .unwrap_or(lines.len());
    let mut end = (start..stop)
        .rev()
        .find(|&k| !lines[k].is_empty())
        .unwrap_or(start)
        + 1;
    // An unindented line starting with `}` right after the code belongs to it (a pasted
    // function whose closing brace was not indented).
    if lines.get(end).is_some_and(|l| l.starts_with('}')) {
        end += 1;
    }
    let kind = if is_list(&lines[start]) {
        SpanKind::List
    } else {
        SpanKind::Code
    };
    Span { start, end, kind }
}

/// The unindented span at `start`, to the next blank or indented line, less its last lines
/// when they begin an indented section: then also where that section begins (and the span
/// is `None` when all its lines go there).
fn unindented_span(lines: &[String], start: usize) -> (Option<Span>, Option<usize>) {
    // `lines[start]` is neither blank nor indented: it is in.
    let stop = (start..lines.len())
        .find(|&k| lines[k].is_empty() || indented(&lines[k]))
        .unwrap_or(lines.len());
    let mut end = stop;
    let mut forced = None;
    // An indented line right after (not a list item) may continue what the last unindented
    // lines began: list items whose text wraps, or code whose first line was not indented.
    if lines
        .get(stop)
        .is_some_and(|l| !l.is_empty() && !is_list(l))
    {
        let last = &lines[stop - 1];
        if is_list(last) {
            end = (start..stop)
                .rev()
                .find(|&k| !is_list(&lines[k]))
                .map_or(start, |k| k + 1);
            forced = Some(end);
        } else if last.ends_with('{') || last.ends_with('\\') {
            end = stop - 1;
            forced = Some(end);
        }
    }
    if end == start {
        return (None, forced);
    }
    let kind = if end - start == 1 && is_heading(&lines[start]) {
        SpanKind::Heading
    } else if end - start == 1 && is_old_heading(&lines[start], lines, start) {
        SpanKind::OldHeading
    } else {
        SpanKind::Para
    };
    (Some(Span { start, end, kind }), forced)
}

/// The lines without their common leading white space, and without blank lines at either
/// end (a line of only white space becomes empty).
fn unindent<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let blank = |s: &str| s.is_empty() || s == "\n";
    let mut lines: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    while lines.first().is_some_and(|l| blank(l)) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| blank(l)) {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    let mut prefix = leading_space(first);
    for line in &lines[1..] {
        if !blank(line) {
            let lead = leading_space(line);
            let n = prefix
                .bytes()
                .zip(lead.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            prefix = &prefix[..n];
        }
    }
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| {
            let l = l.strip_prefix(prefix).unwrap_or(l);
            if l.trim().is_empty() {
                String::new()
            } else {
                l.to_owned()
            }
        })
        .collect();
    while out.first().is_some_and(String::is_empty) {
        out.remove(0);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

fn leading_space(s: &str) -> &str {
    let n = s.bytes().take_while(|&c| c == b' ' || c == b'\t').count();
    &s[..n]
}

/// `# Heading`.
fn is_heading(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 2 && b[0] == b'#' && (b[1] == b' ' || b[1] == b'\t') && line.trim() != "#"
}

/// An old-style heading: one capitalised line between blank lines, followed by text, ending
/// in a letter or digit, without most punctuation.
fn is_old_heading(line: &str, all: &[String], off: usize) -> bool {
    if off == 0
        || !all[off - 1].is_empty()
        || off + 2 >= all.len()
        || !all[off + 1].is_empty()
        || !leading_space(&all[off + 2]).is_empty()
    {
        return false;
    }
    let line = line.trim();
    if !line.chars().next().is_some_and(unicode::is_upper) {
        return false;
    }
    if !line
        .chars()
        .next_back()
        .is_some_and(|c| unicode::is_letter(c) || unicode::is_digit(c))
    {
        return false;
    }
    if line.contains(|c| ";:!?+*/=[]{}_^°&§~%#@<\">\\".contains(c)) {
        return false;
    }
    // "'" only in a possessive "'s", "." only followed by a non-space.
    let possessive = line
        .split('\'')
        .skip(1)
        .all(|after| after == "s" || after.starts_with("s "));
    let dots = line
        .split('.')
        .skip(1)
        .all(|after| !after.is_empty() && !after.starts_with(' '));
    possessive && dots
}

/// Splits `pkg.Recv.Name` at its last dot when what follows is an exported name.
fn split_doc_name(text: &str) -> (&str, &str, bool) {
    let (before, name) = match text.rfind('.') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => ("", text),
    };
    if !is_name(name) {
        return (text, "", false);
    }
    (before, name, true)
}

/// An exported Go identifier.
fn is_name(s: &str) -> bool {
    ident(s) == Some(s) && s.chars().next().is_some_and(unicode::is_upper)
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> Option<&str> {
    let mut n = 0;
    for c in s.chars() {
        let ok = if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_'
        } else {
            unicode::is_letter(c)
        };
        if !ok || (n == 0 && c.is_ascii_digit()) {
            break;
        }
        n += c.len_utf8();
    }
    (n > 0).then(|| &s[..n])
}

fn is_scheme(s: &str) -> bool {
    matches!(
        s,
        "file" | "ftp" | "gopher" | "http" | "https" | "mailto" | "nntp"
    )
}

fn is_host(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'-' | b'.' | b'[' | b']' | b':')
}

/// Punctuation a URL may not end with.
fn is_url_punct(c: u8) -> bool {
    matches!(c, b'.' | b',' | b':' | b';' | b'?' | b'!')
}

fn is_path(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"$'()*+&#=@~_/-[]{}%".contains(&c)
}

/// The URL at the start of `s`: a known scheme, `://`, a host and a path, without trailing
/// punctuation or unbalanced closing brackets (Go's `autoURL`).
fn auto_url(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let colon = (3..=6).find(|&k| b.get(k) == Some(&b':'))?;
    if b.get(colon..colon + 3) != Some(b"://") || !is_scheme(&s[..colon]) {
        return None;
    }
    // The host: at least one byte, not starting or ending with punctuation.
    let host = colon + 3;
    if !b.get(host).is_some_and(|&c| is_host(c) && !is_url_punct(c)) {
        return None;
    }
    let host_len = b[host..].iter().take_while(|&&c| is_host(c)).count();
    let last = b[host..host + host_len]
        .iter()
        .rposition(|&c| !is_url_punct(c));
    let mut end = host + last.unwrap_or(0) + 1;
    let mut i = end;
    let mut open: Vec<u8> = Vec::new();
    while i < b.len() {
        let c = b[i];
        if is_url_punct(c) {
            i += 1;
            continue;
        }
        if !is_path(c) {
            break;
        }
        match c {
            b'(' => open.push(b')'),
            b'{' => open.push(b'}'),
            b'[' => open.push(b']'),
            b')' | b'}' | b']' => {
                if open.last() != Some(&c) {
                    break;
                }
                open.pop();
            }
            _ => {}
        }
        if open.is_empty() {
            end = i + 1;
        }
        i += 1;
    }
    Some(&s[..end])
}

/// Go's `validImportPath`: its empty, `//` and trailing-`/` checks are the empty element's.
fn valid_import_path(path: &str) -> bool {
    !path.starts_with('-')
        && path.split('/').all(|elem| {
            !elem.is_empty()
                && !elem.starts_with('.')
                && !elem.ends_with('.')
                && elem
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-.~_+".contains(&c))
        })
}

/// How `html` renders: the heading level (`<h3>` unless set) and where doc links point.
pub struct HtmlOptions<'a> {
    pub heading_level: u8,
    pub doc_link_url: &'a dyn Fn(&DocLink) -> String,
}

impl Default for HtmlOptions<'_> {
    fn default() -> Self {
        Self {
            heading_level: 3,
            doc_link_url: &|l| l.default_url(""),
        }
    }
}

/// The comment as HTML (Go's `Printer.HTML`).
#[must_use]
pub fn html(doc: &Doc, opts: &HtmlOptions<'_>) -> String {
    let mut out = String::new();
    for b in &doc.content {
        html_block(&mut out, b, opts, false);
    }
    out
}

/// A heading's anchor: `hdr-` and its text with every character but ASCII letters, digits
/// and `_` made `_`.
#[must_use]
pub fn heading_id(text: &[Text]) -> String {
    let mut s = String::new();
    one_long_line(&mut s, text);
    let s = s.trim();
    if s.is_empty() {
        return String::new();
    }
    let mut id = String::from("hdr-");
    id.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    id
}

fn one_long_line(out: &mut String, text: &[Text]) {
    for t in text {
        match t {
            Text::Plain(s) | Text::Italic(s) => out.push_str(s),
            Text::Link { text, .. } | Text::DocLink(DocLink { text, .. }) => {
                one_long_line(out, text);
            }
        }
    }
}

fn html_block(out: &mut String, block: &Block, opts: &HtmlOptions<'_>, tight: bool) {
    match block {
        Block::Paragraph(text) => {
            if !tight {
                out.push_str("<p>");
            }
            html_text(out, text, opts);
            out.push('\n');
        }
        Block::Heading(text) => {
            let h = opts.heading_level.to_string();
            out.push_str("<h");
            out.push_str(&h);
            let id = heading_id(text);
            if !id.is_empty() {
                out.push_str(" id=\"");
                escape(out, &id);
                out.push('"');
            }
            out.push('>');
            html_text(out, text, opts);
            out.push_str("</h");
            out.push_str(&h);
            out.push_str(">\n");
        }
        Block::Code(code) => {
            out.push_str("<pre>");
            escape(out, code);
            out.push_str("</pre>\n");
        }
        Block::List(list) => {
            let kind = if list.items.first().is_some_and(|i| i.number.is_empty()) {
                "ul>\n"
            } else {
                "ol>\n"
            };
            out.push('<');
            out.push_str(kind);
            let tight = !list.blank_between();
            let mut next = String::from("1");
            for item in &list.items {
                out.push_str("<li");
                if !item.number.is_empty() {
                    if item.number != next {
                        out.push_str(" value=\"");
                        out.push_str(&item.number);
                        out.push('"');
                        next.clone_from(&item.number);
                    }
                    next = increment(&next);
                }
                out.push('>');
                for b in &item.content {
                    html_block(out, b, opts, tight);
                }
            }
            out.push_str("</");
            out.push_str(kind);
        }
    }
}

/// A decimal string plus one.
fn increment(s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    for i in (0..b.len()).rev() {
        if b[i] < b'9' {
            b[i] += 1;
            return String::from_utf8_lossy(&b).into_owned();
        }
        b[i] = b'0';
    }
    format!("1{}", String::from_utf8_lossy(&b))
}

fn html_text(out: &mut String, text: &[Text], opts: &HtmlOptions<'_>) {
    for t in text {
        match t {
            Text::Plain(s) => escape(out, s),
            Text::Italic(s) => {
                out.push_str("<i>");
                escape(out, s);
                out.push_str("</i>");
            }
            Text::Link { text, url, .. } => {
                out.push_str("<a href=\"");
                escape(out, url);
                out.push_str("\">");
                html_text(out, text, opts);
                out.push_str("</a>");
            }
            Text::DocLink(link) => {
                let url = (opts.doc_link_url)(link);
                if !url.is_empty() {
                    out.push_str("<a href=\"");
                    escape(out, &url);
                    out.push_str("\">");
                }
                html_text(out, &link.text, opts);
                if !url.is_empty() {
                    out.push_str("</a>");
                }
            }
        }
    }
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Go test cases' files: (optional JSON line, [(name, body)]).
    fn txtar(text: &str) -> (String, Vec<(String, String)>) {
        let mut comment = String::new();
        let mut files: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            if let Some(name) = bare.strip_prefix("-- ").and_then(|r| r.strip_suffix(" --")) {
                files.push((name.to_owned(), String::new()));
            } else if let Some((_, body)) = files.last_mut() {
                body.push_str(line);
            } else {
                comment.push_str(line);
            }
        }
        (comment, files)
    }

    /// Parsed and rendered within 5 s: a step that broke fails the test, not hangs it.
    fn render(text: &str) -> String {
        let text = text.to_owned();
        crate::testing::within(move || {
            html(&Parser::default().parse(&text), &HtmlOptions::default())
        })
    }

    #[test]
    fn hostile_comments_stay_text() {
        let out = render(
            "Hi <script>alert('x')</script> & \"q\".\n\n\
             See [evil] and [ok].\n\n\
             [evil]: javascript:alert(1)\n\n\
             [ok]: https://example.com/a?b=\"c\"&d='e'\n",
        );
        assert_eq!(
            out,
            "<p>Hi &lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;.\n\
             <p>See [evil] and <a href=\"https://example.com/a?b=&quot;c&quot;&amp;d=&apos;e&apos;\">ok</a>.\n\
             <p>[evil]: javascript:alert(1)\n"
        );
        // A paragraph of definitions is not shown; a javascript: "definition" is no
        // definition, and a javascript: URL in the text is no link.
        let out = render("Go to javascript://x.com/%0aalert(1) or data:text/html,<b>.\n");
        assert!(!out.contains("<a "), "{out}");
        assert!(out.contains("data:text/html,&lt;b&gt;"), "{out}");
        // Code blocks are escaped too.
        assert_eq!(
            render("Code:\n\n\t<img src=x onerror=alert(1)>\n"),
            "<p>Code:\n<pre>&lt;img src=x onerror=alert(1)&gt;\n</pre>\n"
        );
    }

    #[test]
    fn heading_anchors_are_prefixed_ascii() {
        let out = render("Intro.\n\n# Über \"id\" <x>\n\nText.\n");
        assert_eq!(
            out,
            "<p>Intro.\n<h3 id=\"hdr-_ber__id___x_\">Über &quot;id&quot; &lt;x&gt;</h3>\n<p>Text.\n"
        );
        // An old-style heading: a capitalised line between paragraphs.
        let out = render("Intro.\n\nUsing the API\n\nText.\n");
        assert!(
            out.contains("<h3 id=\"hdr-Using_the_API\">Using the API</h3>"),
            "{out}"
        );
        // Punctuation makes it a paragraph.
        let out = render("Intro.\n\nUsing the API: a guide\n\nText.\n");
        assert!(!out.contains("<h3"), "{out}");
    }

    #[test]
    fn doc_links_resolve_through_the_lookups() {
        let parser = Parser {
            words: HashMap::new(),
            lookup_package: &|name| (name == "shelf").then(|| "example.com/shelf".to_owned()),
            lookup_sym: &|recv, name| {
                (recv, name) == ("Client", "Do") || (recv, name) == ("", "New")
            },
        };
        let doc = parser.parse(
            "Use [New], [*Client.Do], [shelf.Get], [io.Reader], [example.com/x/y] and \
             [Missing]; not a[New].",
        );
        let base = |l: &DocLink| l.default_url("/ui/docs");
        let out = html(
            &doc,
            &HtmlOptions {
                heading_level: 3,
                doc_link_url: &base,
            },
        );
        assert_eq!(
            out,
            "<p>Use <a href=\"#New\">New</a>, <a href=\"#Client.Do\">*Client.Do</a>, \
             <a href=\"/ui/docs/example.com/shelf#Get\">shelf.Get</a>, \
             <a href=\"/ui/docs/io#Reader\">io.Reader</a>, \
             <a href=\"/ui/docs/example.com/x/y\">example.com/x/y</a> and [Missing]; not a[New].\n"
        );
    }

    /// A doc link's brackets stand apart from the words beside them: a space, a tab, a line
    /// break or punctuation (Go's docLink).
    #[test]
    fn doc_links_stand_apart_from_words() {
        let parser = Parser {
            words: HashMap::new(),
            lookup_package: &|_| None,
            lookup_sym: &|recv, name| recv.is_empty() && name == "New",
        };
        let out = |text: &str| {
            let base = |l: &DocLink| l.default_url("/d");
            let opts = HtmlOptions {
                heading_level: 3,
                doc_link_url: &base,
            };
            html(&parser.parse(text), &opts)
        };
        let link = "<a href=\"#New\">New</a>";
        assert_eq!(out("Use\n[New]\nhere."), format!("<p>Use\n{link}\nhere.\n"));
        assert_eq!(out("Use\t[New]\there."), format!("<p>Use\t{link}\there.\n"));
        assert_eq!(out("([New])"), format!("<p>({link})\n"));
        assert_eq!(out("Use [New]x."), "<p>Use [New]x.\n");
        assert_eq!(out("Use x[New]."), "<p>Use x[New].\n");
    }

    /// ``` `` ``` and `''` become curly quotes; a run of three or more backticks stays as
    /// written; other characters, one byte or several, pass through.
    #[test]
    fn quotes_become_curly_and_backtick_runs_stay() {
        assert_eq!(render("a ``q'' b\n"), "<p>a “q” b\n");
        assert_eq!(render("``q''\n"), "<p>“q”\n");
        assert_eq!(render("x``y''z\n"), "<p>x“y”z\n");
        assert_eq!(render("a ```c``` ``d''\n"), "<p>a ```c``` “d”\n");
        assert_eq!(render("````\n"), "<p>````\n");
        assert_eq!(render("x—y ``z'' Ünï\n"), "<p>x—y “z” Ünï\n");
        assert_eq!(render("x—``y''…\n"), "<p>x—“y”…\n");
    }

    /// `[text]:` defines a link with a space or a tab before the URL; without, it is text.
    #[test]
    fn link_definitions_need_a_blank_before_the_url() {
        let out = render("[abc]:x  https://example.com/\n");
        assert!(out.starts_with("<p>[abc]:x  <a href="), "{out}");
        assert_eq!(
            render("See [abc].\n\n[abc]:\thttps://example.com/\n"),
            "<p>See <a href=\"https://example.com/\">abc</a>.\n"
        );
    }

    /// A list marker (`-`, `*`, `+`, `•`, `1.`, `1)`) is followed by a blank and text.
    #[test]
    fn list_markers_are_followed_by_a_blank_and_text() {
        for line in ["- x", "* x", "+ x", "• x", "12. x", "3) x", "  -\tx"] {
            assert!(is_list(line), "{line:?}");
        }
        for line in ["-x", "1.x", "1) ", "-", "x. y", "1 x", "--"] {
            assert!(!is_list(line), "{line:?}");
        }
    }

    #[test]
    fn lists_number_from_their_first_item() {
        assert_eq!(
            render("Steps:\n  3. three\n  4. four\n  7. seven\n"),
            "<p>Steps:\n<ol>\n<li value=\"3\">three\n<li>four\n<li value=\"7\">seven\n</ol>\n"
        );
        assert_eq!(increment("9"), "10");
        assert_eq!(increment("199"), "200");
    }

    /// Generated comments (random lines that reach the block rules, URL-like and doc-link-like
    /// words, old-style heading candidates), with the HTML Go's go/doc/comment makes of each,
    /// pinned by `tests/fixtures/doc-comment-oracle/main.go` (tests/doc_api.rs checks the pin).
    #[test]
    fn go_oracle_cases() {
        crate::testing::within(go_oracle_cases_run);
    }

    fn go_oracle_cases_run() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/doc-comment-oracle/cases.txt");
        let (_, files) = txtar(&std::fs::read_to_string(&path).unwrap());
        let strip = |s: &str| s.replace("$\n", "\n");
        let mut failed = Vec::new();
        for pair in files.chunks(2) {
            let [(name, input), (_, want)] = pair else {
                panic!("{}: an input without its html", path.display());
            };
            let input = strip(input);
            let have = html(&Parser::default().parse(&input), &HtmlOptions::default());
            if have != strip(want) {
                failed.push(format!("{name}:\n{input}--- want\n{want}--- have\n{have}"));
            }
        }
        assert_eq!(files.len(), 2 * 1328, "{}", path.display());
        assert!(
            failed.is_empty(),
            "{} of 1328 differ:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    #[test]
    fn go_testdata_html() {
        // Within 5 s: a step that broke fails the test, not hangs it.
        crate::testing::within(go_testdata_html_cases);
    }

    fn go_testdata_html_cases() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go-doc-comment");
        let mut words = HashMap::new();
        words.insert("italicword".to_owned(), String::new());
        words.insert(
            "linkedword".to_owned(),
            "https://example.com/linkedword".to_owned(),
        );
        let parser = Parser {
            words,
            lookup_package: &|name| (name == "comment").then(|| "go/doc/comment".to_owned()),
            lookup_sym: &|recv, name| {
                (recv == "Parser" && name == "Parse")
                    || (recv.is_empty() && (name == "Doc" || name == "NoURL"))
            },
        };
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        names.sort();
        let mut checked = 0;
        let mut failed = Vec::new();
        for path in &names {
            let text = std::fs::read_to_string(path).unwrap();
            let (comment, files) = txtar(&text);
            assert_eq!(files[0].0, "input", "{}", path.display());
            let Some((_, want)) = files.iter().find(|(n, _)| n == "html") else {
                continue;
            };
            let config: serde_json::Value = if comment.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(&comment).unwrap()
            };
            let base = config["DocLinkBaseURL"].as_str().unwrap_or("").to_owned();
            let level = config["HeadingLevel"].as_u64().map_or(3, |l| l as u8);
            let url = move |l: &DocLink| l.default_url(&base);
            let opts = HtmlOptions {
                heading_level: level,
                doc_link_url: &url,
            };
            let strip = |s: &str| s.replace("$\n", "\n");
            let doc = parser.parse(&strip(&files[0].1));
            let mut want = strip(want);
            while want.ends_with("\n\n") {
                want.pop();
            }
            let have = html(&doc, &opts);
            checked += 1;
            if have != want {
                failed.push(format!(
                    "{}:\n--- want\n{want}--- have\n{have}",
                    path.display()
                ));
            }
        }
        println!("go doc comment test cases with html: {checked} checked");
        assert!(
            checked >= 30,
            "only {checked} cases found in {}",
            dir.display()
        );
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}
