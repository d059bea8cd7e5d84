//! A module version's documentation: one [`PackageDoc`] for each directory of its zip that
//! holds a package for linux/amd64, built from the `.go` files of that directory alone (as
//! `go doc` reads a package), with its examples from the test files, its synopsis and its
//! imports. Pure: the caller hands over each directory's files.

use serde::{Deserialize, Serialize};

use super::api::{self, Example, Package};
use super::build::Context;
use crate::gomod::unicode;

/// The format of [`ModuleDocs::encode`]; a stored entry of another format is built again.
const FORMAT: u8 = 1;

/// The largest `.go` file read for documentation; a bigger one is left out (and named).
pub const MAX_GO_FILE: u64 = 4 << 20;
/// The most Go source read for one version's docs (about 4 s of parsing on a small board's
/// core); the directories past it are left out and the docs say so (`truncated`).
pub const MAX_GO_SOURCE: u64 = 32 << 20;
// The limits leave room for what real modules hold: generated tables of a few MiB in one
// file (golang.org/x/text's), and a version of several such files; a board reads the most
// in seconds. Checked when the crate is built.
const _: () = assert!(MAX_GO_FILE >= 2 << 20);
const _: () = assert!(MAX_GO_FILE <= 16 << 20);
const _: () = assert!(MAX_GO_SOURCE >= 4 * MAX_GO_FILE);
const _: () = assert!(MAX_GO_SOURCE <= 64 << 20);
/// The most packages documented for one version.
pub const MAX_PACKAGES: usize = 2_000;

/// Every package of a module version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleDocs {
    /// By directory (`""` for the module root first).
    pub packages: Vec<PackageDoc>,
    /// Files left out: too large, or not UTF-8.
    pub skipped: Vec<String>,
    /// Packages were left out: the version holds more than `MAX_GO_SOURCE` bytes of Go or
    /// `MAX_PACKAGES` packages (in directory order, the first ones are documented).
    #[serde(default)]
    pub truncated: bool,
    /// Bytes of Go read to build them.
    #[serde(default)]
    pub source_bytes: u64,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDoc {
    /// Its directory below the module root, `""` for the root.
    pub dir: String,
    pub import_path: String,
    /// First sentence of the package comment (go/doc's `Synopsis`).
    pub synopsis: String,
    /// Under an `internal` directory: importable only from within the module's tree.
    pub internal: bool,
    pub api: Package,
    pub examples: Vec<Example>,
    /// The `.go` files that make the package for linux/amd64.
    pub files: Vec<String>,
}

impl PackageDoc {
    /// A `package main`: a command, not a library.
    #[must_use]
    pub fn is_command(&self) -> bool {
        self.api.name == "main"
    }
}

/// Below this much Go, docs are built again on a page view rather than stored: that takes a
/// few milliseconds, and not writing them keeps a small board's SD card from one more commit
/// per published version.
pub const STORE_FROM_SOURCE: u64 = 32 << 10;

impl ModuleDocs {
    /// Whether these docs are worth keeping in the database (`STORE_FROM_SOURCE`).
    #[must_use]
    pub fn worth_storing(&self) -> bool {
        self.source_bytes >= STORE_FROM_SOURCE || self.truncated
    }

    /// A format byte then JSON.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        // Strings and numbers only: serialising cannot fail.
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    /// `encode`'s form; `None` for another format or damaged bytes.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&format, json) = bytes.split_first()?;
        if format != FORMAT {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// The package in directory `dir`.
    #[must_use]
    pub fn package(&self, dir: &str) -> Option<&PackageDoc> {
        self.packages.iter().find(|p| p.dir == dir)
    }
}

/// Whether a directory of a module zip may hold a package of the module: the go command
/// ignores `testdata`, `vendor` (in a module zip, vendored code is not the module's) and
/// directories starting with `.` or `_`.
#[must_use]
pub fn is_package_dir(dir: &str) -> bool {
    dir.is_empty()
        || dir.split('/').all(|e| {
            !e.is_empty() && !e.starts_with(['.', '_']) && e != "testdata" && e != "vendor"
        })
}

/// The import path of directory `dir` of module `module`.
#[must_use]
pub fn import_path(module: &str, dir: &str) -> String {
    if dir.is_empty() {
        module.to_owned()
    } else {
        format!("{module}/{dir}")
    }
}

/// The package of directory `dir` from its files (name in the directory, source): `None`
/// when no file is built for linux/amd64.
#[must_use]
pub fn package_doc(module: &str, dir: &str, files: &[(String, String)]) -> Option<PackageDoc> {
    let ctx = Context::linux_amd64();
    let api = api::read_package(files, &ctx).ok()?;
    let mut used: Vec<String> = files
        .iter()
        .filter(|(n, s)| ctx.includes(n, s))
        .map(|(n, _)| n.clone())
        .collect();
    used.sort();
    Some(PackageDoc {
        dir: dir.to_owned(),
        import_path: import_path(module, dir),
        synopsis: synopsis(&api.doc),
        internal: is_internal(dir),
        examples: api::read_examples(files, &ctx),
        api,
        files: used,
    })
}

/// Whether the package of directory `dir` is internal: a path element is `internal` (the
/// go command's rule; only the module's own packages may import it).
#[must_use]
pub fn is_internal(dir: &str) -> bool {
    dir.split('/').any(|e| e == "internal")
}

/// Whether a doc comment has a paragraph starting `Deprecated: ` (go/doc's rule).
#[must_use]
pub fn is_deprecated(doc: &str) -> bool {
    let mut at_start = true;
    for line in doc.lines() {
        if at_start && line.starts_with("Deprecated: ") {
            return true;
        }
        at_start = line.trim().is_empty();
    }
    false
}

/// go/doc's `Synopsis`: the first sentence of the comment's first paragraph (none when the
/// comment starts with something else, or with a copyright or author line), whitespace
/// collapsed.
#[must_use]
pub fn synopsis(doc: &str) -> String {
    let first = doc.trim_start_matches('\n');
    if first.starts_with("# ") || first.starts_with([' ', '\t']) {
        return String::new();
    }
    let para: Vec<&str> = first.lines().take_while(|l| !l.trim().is_empty()).collect();
    let text = para.join(" ");
    let sentence = first_sentence(&text);
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let out = words.join(" ");
    let lower = out.to_lowercase();
    if ["copyright", "all rights", "author"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return String::new();
    }
    out
}

/// Up to the first period followed by a space and not preceded by exactly one upper-case
/// letter, or the first ideographic full stop.
fn first_sentence(s: &str) -> &str {
    let (mut ppp, mut pp, mut p) = (' ', ' ', ' ');
    for (i, q) in s.char_indices() {
        let q = if matches!(q, '\n' | '\r' | '\t') {
            ' '
        } else {
            q
        };
        if q == ' ' && p == '.' && (!unicode::is_upper(pp) || unicode::is_upper(ppp)) {
            return &s[..i];
        }
        if p == '。' || p == '．' {
            return &s[..i];
        }
        (ppp, pp, p) = (pp, p, q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect()
    }

    #[test]
    fn synopsis_is_the_first_sentence_as_go_doc_takes_it() {
        for (doc, want) in [
            ("Package a does x. And y.\n", "Package a does x."),
            (
                "Package a is named after X. Then more.\n",
                "Package a is named after X. Then more.",
            ),
            (
                "Package a uses the U.S. spelling. More.\n",
                "Package a uses the U.S. spelling.",
            ),
            (
                "Package a\nspans lines.\n\nSecond paragraph.\n",
                "Package a spans lines.",
            ),
            ("Package a has no period\n", "Package a has no period"),
            ("Copyright 2024 Someone.\n", ""),
            ("# Heading\n\nText.\n", ""),
            ("", ""),
            ("包裹。其他\n", "包裹。"),
        ] {
            assert_eq!(synopsis(doc), want, "{doc:?}");
        }
    }

    #[test]
    fn deprecated_is_a_paragraph_of_its_own() {
        assert!(is_deprecated("Deprecated: no.\n"));
        assert!(is_deprecated("F does.\n\nDeprecated: use G.\n"));
        assert!(!is_deprecated("F is not Deprecated: really.\n"));
        assert!(!is_deprecated("F does\nDeprecated: within a paragraph.\n"));
    }

    #[test]
    fn package_dirs_follow_the_go_command() {
        for (dir, ok) in [
            ("", true),
            ("a/b", true),
            ("a/testdata/b", false),
            ("vendor/x", false),
            ("_x", false),
            ("a/.git", false),
            ("a//b", false),
        ] {
            assert_eq!(is_package_dir(dir), ok, "{dir}");
        }
    }

    #[test]
    fn a_package_has_its_examples_synopsis_imports_and_files() {
        let f = files(&[
            (
                "a.go",
                "// Package a adds. It is small.\npackage a\n\nimport (\n\t\"fmt\"\n\tstr \"strings\"\n)\n\n// Add adds.\nfunc Add(x, y int) int { return x + y }\n\nvar _ = fmt.Sprint\nvar _ = str.ToUpper\n",
            ),
            (
                "a_windows.go",
                "package a\n\nimport \"syscall\"\n\nfunc Win() {}\n",
            ),
            (
                "a_test.go",
                "package a_test\n\nimport \"fmt\"\n\n// Adding two numbers.\nfunc ExampleAdd() {\n\tfmt.Println(a.Add(1, 2))\n\t// Output: 3\n}\n\nfunc ExampleAdd_second() {\n\tfmt.Println(\"x\")\n}\n\nfunc Example() {\n\t// Unordered output:\n\t// b\n\t// a\n}\n\nfunc Examplefoo() {}\n\nfunc ExampleBad(x int) {}\n",
            ),
        ]);
        let p = package_doc("example.com/m", "internal/a", &f).unwrap();
        assert_eq!(p.import_path, "example.com/m/internal/a");
        assert!(p.internal);
        assert_eq!(p.synopsis, "Package a adds.");
        assert_eq!(p.api.imports, ["fmt", "strings"]);
        assert_eq!(p.files, ["a.go"]);
        let names: Vec<&str> = p.examples.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["", "Add", "Add_second"]);
        let add = &p.examples[1];
        assert_eq!(add.code, "fmt.Println(a.Add(1, 2))");
        assert_eq!(add.output.as_deref(), Some("3"));
        assert_eq!(add.doc, "Adding two numbers.\n");
        assert_eq!(add.target(), ("Add".to_owned(), String::new()));
        assert_eq!(
            p.examples[2].target(),
            ("Add".to_owned(), "second".to_owned())
        );
        assert_eq!(p.examples[2].output, None);
        assert_eq!(p.examples[0].output.as_deref(), Some("b\na"));
        assert_eq!(p.examples[0].code, "");
        let docs = ModuleDocs {
            packages: vec![p],
            skipped: vec![],
            truncated: false,
            source_bytes: 0,
        };
        assert_eq!(ModuleDocs::decode(&docs.encode()), Some(docs.clone()));
        let mut other = docs.encode();
        other[0] = FORMAT + 1;
        assert_eq!(ModuleDocs::decode(&other), None);
        assert!(package_doc("m", "", &f[1..2]).is_none());
    }

    #[test]
    fn internal_is_a_whole_path_element() {
        for dir in ["internal", "internal/a", "a/internal", "a/internal/b"] {
            assert!(is_internal(dir), "{dir}");
        }
        for dir in [
            "",
            "a",
            "internals",
            "a/xinternal",
            "internal_a/b",
            "a/b-internal",
        ] {
            assert!(!is_internal(dir), "{dir}");
        }
        let f = files(&[("a.go", "package a\n")]);
        assert!(package_doc("m", "a/internal", &f).unwrap().internal);
        assert!(!package_doc("m", "a/internals", &f).unwrap().internal);
    }

    #[test]
    fn a_package_main_is_a_command() {
        let main = package_doc(
            "example.com/m",
            "cmd/x",
            &files(&[("x.go", "package main\n")]),
        );
        assert!(main.unwrap().is_command());
        let lib = package_doc("example.com/m", "", &files(&[("m.go", "package m\n")]));
        assert!(!lib.unwrap().is_command());
    }

    /// Docs built from 32 KiB of Go or more are stored; below that they are built again on a
    /// page view; truncated docs (the most work) are always stored.
    #[test]
    fn docs_are_stored_from_32_kib_of_source_or_when_truncated() {
        let docs = |source_bytes, truncated| ModuleDocs {
            source_bytes,
            truncated,
            ..ModuleDocs::default()
        };
        assert!(!docs(0, false).worth_storing());
        assert!(!docs(32 * 1024 - 1, false).worth_storing());
        assert!(docs(32 * 1024, false).worth_storing());
        assert!(docs(0, true).worth_storing());
    }

    #[test]
    fn a_package_is_found_by_its_directory() {
        let package = |dir: &str, name: &str| {
            package_doc(
                "example.com/m",
                dir,
                &files(&[("a.go", &format!("package {name}\n"))]),
            )
            .unwrap()
        };
        let docs = ModuleDocs {
            packages: vec![package("", "m"), package("b", "b"), package("b/c", "c")],
            ..ModuleDocs::default()
        };
        assert_eq!(docs.package("").map(|p| p.api.name.as_str()), Some("m"));
        assert_eq!(docs.package("b").map(|p| p.api.name.as_str()), Some("b"));
        assert_eq!(docs.package("b/c").map(|p| p.api.name.as_str()), Some("c"));
        assert!(docs.package("c").is_none());
        assert!(docs.package("b/").is_none());
    }

    #[test]
    fn example_targets_name_symbols_and_methods() {
        let e = |name: &str| Example {
            name: name.to_owned(),
            doc: String::new(),
            code: String::new(),
            output: None,
            pos: api::Pos::default(),
        };
        assert_eq!(e("T_M").target(), ("T.M".to_owned(), String::new()));
        assert_eq!(e("T_M_x").target(), ("T.M".to_owned(), "x".to_owned()));
        assert_eq!(e("_x").target(), (String::new(), "x".to_owned()));
        // `Example_X` (a suffix that go vet refuses, and go/doc drops) is shown with the
        // package's examples, its suffix as written.
        assert_eq!(e("_X").target(), (String::new(), "X".to_owned()));
        assert_eq!(e("").target(), (String::new(), String::new()));
    }
}
