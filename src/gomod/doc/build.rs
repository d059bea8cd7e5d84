//! Which `.go` files of a directory make its package, as `go/build` decides for one build
//! context: the file name's `_GOOS`/`_GOARCH` suffixes and the `//go:build` line (or the old
//! `// +build` lines). Documentation is built for linux/amd64 with cgo, the way pkg.go.dev
//! shows a package when nothing else is asked (`Context::linux_amd64`).

/// A build context: the tags a constraint may be satisfied by.
#[derive(Debug, Clone)]
pub struct Context {
    goos: &'static str,
    goarch: &'static str,
    tags: Vec<String>,
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// The newest Go release whose `go1.N` tags are satisfied.
pub const GO_MINOR: u32 = 27;

/// The tool tags of the go 1.27 toolchain on amd64: its experiments on by default.
const TOOL_TAGS: &[&str] = &[
    "goexperiment.regabiwrappers",
    "goexperiment.regabiargs",
    "goexperiment.dwarf5",
    "goexperiment.jsonv2",
    "goexperiment.greenteagc",
    "goexperiment.randomizedheapbase64",
    "goexperiment.sizespecializedmalloc",
    "amd64.v1",
];

impl Context {
    /// linux/amd64, cgo enabled, the gc toolchain of go 1.27.
    #[must_use]
    pub fn linux_amd64() -> Self {
        let mut tags: Vec<String> = ["linux", "amd64", "unix", "gc", "cgo"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        tags.extend((1..=GO_MINOR).map(|n| format!("go1.{n}")));
        tags.extend(TOOL_TAGS.iter().map(|s| (*s).to_owned()));
        Self {
            goos: "linux",
            goarch: "amd64",
            tags,
        }
    }

    /// Whether `tag` is satisfied.
    #[must_use]
    pub fn matches(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether the file `name` with content `src` is part of the package in this context:
    /// a Go file, not a test, not hidden (`_x.go`, `.x.go`), for this GOOS and GOARCH, and
    /// with a build constraint this context satisfies.
    #[must_use]
    pub fn includes(&self, name: &str, src: &str) -> bool {
        name.strip_suffix(".go")
            .is_some_and(|stem| !stem.ends_with("_test") && self.includes_stem(stem, src))
    }

    /// Whether the test file `name` (`_test.go`) with content `src` is built in this
    /// context (examples come from these).
    #[must_use]
    pub fn includes_test(&self, name: &str, src: &str) -> bool {
        name.strip_suffix("_test.go")
            .is_some_and(|stem| self.includes_stem(stem, src))
    }

    fn includes_stem(&self, stem: &str, src: &str) -> bool {
        !stem.starts_with(['_', '.']) && self.good_os_arch(stem) && self.constraint_ok(src)
    }

    fn good_os_arch(&self, stem: &str) -> bool {
        // Everything before the first `_` is the name proper.
        let Some(i) = stem.find('_') else {
            return true;
        };
        let parts: Vec<&str> = stem[i..].split('_').collect();
        let n = parts.len();
        if n >= 2 && KNOWN_OS.contains(&parts[n - 2]) && KNOWN_ARCH.contains(&parts[n - 1]) {
            return self.os_or_arch(parts[n - 2]) && self.os_or_arch(parts[n - 1]);
        }
        if n >= 1 && (KNOWN_OS.contains(&parts[n - 1]) || KNOWN_ARCH.contains(&parts[n - 1])) {
            return self.os_or_arch(parts[n - 1]);
        }
        true
    }

    fn os_or_arch(&self, tag: &str) -> bool {
        tag == self.goos || tag == self.goarch
    }

    /// The file header's `//go:build` expression, else its `// +build` lines, satisfied.
    fn constraint_ok(&self, src: &str) -> bool {
        let mut plus: Vec<&str> = Vec::new();
        for line in header_lines(src) {
            if let Some(expr) = line.strip_prefix("//go:build") {
                if expr.starts_with([' ', '\t']) {
                    return Expr::parse(expr).is_some_and(|e| e.eval(self));
                }
            }
            if let Some(rest) = line.strip_prefix("//") {
                if let Some(terms) = rest.trim_start().strip_prefix("+build") {
                    if terms.starts_with([' ', '\t']) {
                        plus.push(terms);
                    }
                }
            }
        }
        // Old style: the lines are ANDed; on a line, space-separated terms are ORed, and a
        // term's comma-separated tags ANDed.
        plus.iter().all(|line| {
            line.split_whitespace().any(|term| {
                term.split(',').all(|t| match t.strip_prefix('!') {
                    Some(t) => !self.matches(t),
                    None => self.matches(t),
                })
            })
        })
    }
}

/// The lines of the file before its first line of code: blank lines and `//` comments
/// (a `/* */` comment ends the header, which is enough for build lines).
fn header_lines(src: &str) -> impl Iterator<Item = &str> {
    src.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("//"))
}

/// A `//go:build` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Tag(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Most tokens of one `//go:build` expression.
const MAX_TOKENS: usize = 1000;

impl Expr {
    fn parse(text: &str) -> Option<Expr> {
        let tokens = tokenize(text)?;
        // The parser, `eval` and the drop of the tree recurse once per level, and a level
        // takes a token at least: a line longer than this (go/build/constraint refuses one
        // past its own size limit too) is refused rather than let overflow a thread's stack.
        if tokens.len() > MAX_TOKENS {
            return None;
        }
        let mut pos = 0;
        let e = parse_or(&tokens, &mut pos)?;
        (pos == tokens.len()).then_some(e)
    }

    fn eval(&self, ctx: &Context) -> bool {
        match self {
            Expr::Tag(t) => ctx.matches(t),
            Expr::Not(e) => !e.eval(ctx),
            Expr::And(a, b) => a.eval(ctx) && b.eval(ctx),
            Expr::Or(a, b) => a.eval(ctx) || b.eval(ctx),
        }
    }
}

fn tokenize(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    // Every step takes at least one byte: a step past the length is a bug, refused rather
    // than looped on.
    for _ in 0..b.len() {
        if i >= b.len() {
            break;
        }
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'(' | b')' | b'!' => {
                out.push((b[i] as char).to_string());
                i += 1;
            }
            b'&' | b'|' => {
                if b.get(i + 1) != Some(&b[i]) {
                    return None;
                }
                out.push(text[i..i + 2].to_owned());
                i += 2;
            }
            _ => {
                let start = i;
                i += b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || b"_.".contains(c))
                    .count();
                if i == start {
                    return None;
                }
                out.push(text[start..i].to_owned());
            }
        }
    }
    (i >= b.len()).then_some(out)
}

fn parse_or(t: &[String], pos: &mut usize) -> Option<Expr> {
    let mut left = parse_and(t, pos)?;
    // Each turn takes two tokens at least; bounded by their number all the same, so a step
    // that went wrong ends in a refused line rather than a loop.
    for _ in 0..t.len() {
        if t.get(*pos).is_none_or(|s| s != "||") {
            break;
        }
        *pos += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(t, pos)?));
    }
    Some(left)
}

fn parse_and(t: &[String], pos: &mut usize) -> Option<Expr> {
    let mut left = parse_not(t, pos)?;
    // Each turn takes two tokens at least; bounded by their number all the same, so a step
    // that went wrong ends in a refused line rather than a loop.
    for _ in 0..t.len() {
        if t.get(*pos).is_none_or(|s| s != "&&") {
            break;
        }
        *pos += 1;
        left = Expr::And(Box::new(left), Box::new(parse_not(t, pos)?));
    }
    Some(left)
}

fn parse_not(t: &[String], pos: &mut usize) -> Option<Expr> {
    let tok = t.get(*pos)?;
    *pos += 1;
    match tok.as_str() {
        "!" => Some(Expr::Not(Box::new(parse_not(t, pos)?))),
        "(" => {
            let e = parse_or(t, pos)?;
            (t.get(*pos)? == ")").then(|| *pos += 1)?;
            Some(e)
        }
        ")" | "&&" | "||" => None,
        tag => Some(Expr::Tag(tag.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_select_os_and_arch() {
        let ctx = Context::linux_amd64();
        for (name, want) in [
            ("a.go", true),
            ("linux.go", true),
            ("a_linux.go", true),
            ("a_windows.go", false),
            ("a_linux_amd64.go", true),
            ("a_linux_arm64.go", false),
            ("a_windows_amd64.go", false),
            ("a_b_c_windows_amd64.go", false),
            ("a_b_c_linux_amd64.go", true),
            ("a_linux_b.go", true),
            ("a_arm64.go", false),
            ("a_amd64.go", true),
            ("a_unix.go", true),
            ("a_test.go", false),
            ("a_linux_test.go", false),
            ("_a.go", false),
            (".a.go", false),
            ("a.txt", false),
        ] {
            assert_eq!(ctx.includes(name, "package a\n"), want, "{name}");
        }
    }

    /// Test files (where examples live) follow the same rules, `_test` aside.
    #[test]
    fn test_files_select_os_arch_and_build_lines() {
        let ctx = Context::linux_amd64();
        for (name, src, want) in [
            ("a_test.go", "package a\n", true),
            ("a_linux_test.go", "package a\n", true),
            ("a_windows_test.go", "package a\n", false),
            ("a_linux_arm64_test.go", "package a\n", false),
            ("_a_test.go", "package a\n", false),
            ("a.go", "package a\n", false),
            ("a_test.go", "//go:build ignore\n\npackage a\n", false),
            ("a_test.go", "//go:build linux\n\npackage a\n", true),
        ] {
            assert_eq!(ctx.includes_test(name, src), want, "{name} {src:?}");
        }
    }

    #[test]
    fn build_lines_are_evaluated() {
        let ctx = Context::linux_amd64();
        for (line, want) in [
            ("//go:build linux", true),
            ("//go:build !linux", false),
            ("//go:build unix && !darwin", true),
            ("//go:build (windows || plan9) && amd64", false),
            ("//go:build linux || windows", true),
            ("//go:build windows || linux", true),
            ("//go:build windows || plan9", false),
            ("//go:build  linux", true),
            ("//go:build\tlinux", true),
            ("//go:build (linux)", true),
            ("//go:build !!linux", true),
            ("//go:build linux &", false),
            ("//go:build linux | windows", false),
            ("//go:build linux &| windows", false),
            ("//go:build go1.21 && cgo", true),
            ("//go:build go1.99", false),
            ("//go:build ignore", false),
            ("//go:build goexperiment.jsonv2", true),
            ("//go:build linux &&", false),
            ("// +build linux darwin", true),
            ("// +build !linux", false),
            ("// +build linux,386 windows", false),
        ] {
            let src = format!("// Copyright.\n\n{line}\n\npackage a\n");
            assert_eq!(ctx.includes("a.go", &src), want, "{line}");
        }
        // After the package clause a build line is only a comment.
        assert!(ctx.includes("a.go", "package a\n\n//go:build ignore\n"));
    }

    /// An expression of more than `MAX_TOKENS` tokens is refused (its file left out), so no
    /// line can make the parser, `eval` or the tree's drop recurse past a thread's stack: a
    /// review found `!` repeated 100,000 times before `linux` aborting the process.
    #[test]
    fn long_build_lines_are_refused_not_recursed_into() {
        let ctx = Context::linux_amd64();
        let line = |expr: String| format!("//go:build {expr}\n\npackage a\n");
        let nots = |n: usize| format!("{}linux", "!".repeat(n));
        // 998 `!` and the tag: 999 tokens, true; 1,000 `!` and the tag would be true too,
        // but are 1,001 tokens: refused.
        assert!(ctx.includes("a.go", &line(nots(998))));
        assert!(!ctx.includes("a.go", &line(nots(1000))));
        // Deep, nested and long, far past the limit.
        for expr in [
            nots(100_000),
            format!("{}linux{}", "(".repeat(100_000), ")".repeat(100_000)),
            vec!["linux"; 100_000].join(" || "),
        ] {
            let started = std::time::Instant::now();
            assert!(!ctx.includes("a.go", &line(expr)));
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        assert!(ctx.includes("a.go", &line(vec!["linux"; 400].join(" || "))));
    }
}
