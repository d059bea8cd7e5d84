//! A package's documentation page as data: the package comment, the index, every exported
//! declaration with its doc comment (rendered by `gomod::doc::comment`, every byte escaped),
//! examples, files, imports and the module's other packages. Pure: the handler
//! (`http::ui::docs`) reads the docs and what imports the package, and renders the page.

use std::collections::HashMap;

use crate::gomod::doc::api::{Example, Func, Package, Pos, Type, Value};
use crate::gomod::doc::comment::{self, DocLink, HtmlOptions, Parser};
use crate::gomod::doc::module::{is_deprecated, ModuleDocs, PackageDoc};

use super::pages::{self, Chrome};

/// Where the page's links go: the module version shown, hosted in a namespace or kept by the
/// pull-through cache.
pub struct Target<'a> {
    pub module: &'a str,
    pub version: &'a str,
    /// The crumb before the module: the namespace, or `cache`.
    pub owner: &'a str,
    pub owner_href: String,
    pub module_href: String,
    /// `/ui/{owner}/{module}/@v/{version}` or `/cache/{module}/@v/{version}`.
    pub version_base: String,
    /// The same at `@latest`.
    pub latest_base: String,
}

impl Target<'_> {
    /// A hosted version's pages.
    #[must_use]
    pub fn hosted<'a>(owner: &'a str, module: &'a str, version: &'a str) -> Target<'a> {
        Target {
            module,
            version,
            owner,
            owner_href: pages::namespace_href(owner),
            module_href: pages::module_href(owner, module),
            version_base: pages::version_href(owner, module, version),
            latest_base: format!("{}/@latest", pages::module_href(owner, module)),
        }
    }

    /// A version of the pull-through cache (no module page: the crumbs go to `/cache`).
    #[must_use]
    pub fn cached<'a>(module: &'a str, version: &'a str) -> Target<'a> {
        Target {
            module,
            version,
            owner: "cache",
            owner_href: "/cache".to_owned(),
            module_href: "/cache".to_owned(),
            version_base: pages::cached_version_href(module, version),
            latest_base: pages::cached_latest_href(module),
        }
    }

    /// The page of the package in directory `dir` of this version.
    #[must_use]
    pub fn package(&self, dir: &str) -> String {
        pages::pkg_href_under(&self.version_base, dir)
    }

    /// The source view of `file` in directory `dir`, at `line` (0: the top).
    #[must_use]
    pub fn source(&self, dir: &str, file: &str, line: usize) -> String {
        let path = if dir.is_empty() {
            file.to_owned()
        } else {
            format!("{dir}/{file}")
        };
        let href = pages::src_href_under(&self.version_base, &path);
        if line == 0 {
            href
        } else {
            format!("{href}#L{line}")
        }
    }
}

/// One entry of the index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub href: String,
    pub line: String,
    /// Nested under a type (its constructors and methods).
    pub nested: bool,
    pub deprecated: bool,
}

/// An example, shown under what it documents.
#[derive(Debug, Clone)]
pub struct ExampleView {
    pub id: String,
    pub title: String,
    pub doc_html: String,
    pub code: String,
    pub output: Option<String>,
}

/// One declaration: a value group, a function, a type, or a type's constructor or method.
#[derive(Debug, Clone)]
pub struct DeclView {
    /// The anchor (`Name`, `Type.Method`); values have one per exported name in `ids`.
    pub id: String,
    pub ids: Vec<String>,
    /// `func Name`, `type Name`, `func (T) Method`; empty for a value group.
    pub title: String,
    pub source: String,
    pub source_href: String,
    pub doc_html: String,
    pub deprecated: bool,
    pub examples: Vec<ExampleView>,
}

/// A type with what belongs to it.
#[derive(Debug, Clone)]
pub struct TypeView {
    pub decl: DeclView,
    pub consts: Vec<DeclView>,
    pub vars: Vec<DeclView>,
    pub funcs: Vec<DeclView>,
    pub methods: Vec<DeclView>,
}

/// A link with a label (files, imports, packages).
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub label: String,
    pub href: String,
    pub note: String,
}

#[derive(askama::Template)]
#[template(path = "package.html")]
pub struct PackagePage {
    pub chrome: Chrome,
    pub owner: String,
    pub owner_href: String,
    pub module: String,
    pub module_href: String,
    pub version: String,
    pub version_href: String,
    pub latest: String,
    pub latest_href: String,
    pub is_latest: bool,
    pub dir: String,
    pub import_path: String,
    pub name: String,
    pub internal: bool,
    pub command: bool,
    /// The package comment as HTML (`comment::html`: escaped), shown with `|safe`.
    pub doc_html: String,
    pub examples: Vec<ExampleView>,
    pub example_index: Vec<LinkRow>,
    pub index: Vec<IndexEntry>,
    pub consts: Vec<DeclView>,
    pub vars: Vec<DeclView>,
    pub funcs: Vec<DeclView>,
    pub types: Vec<TypeView>,
    pub files: Vec<LinkRow>,
    pub imports: Vec<LinkRow>,
    pub imported_by: Vec<LinkRow>,
    pub packages: Vec<LinkRow>,
    pub skipped: Vec<String>,
    /// Some packages of the version were left out (`ModuleDocs::truncated`).
    pub truncated: bool,
}

/// What the comment renderer needs to resolve doc links within a package.
struct Links<'a> {
    pkg: &'a Package,
    docs: &'a ModuleDocs,
    target: &'a Target<'a>,
    /// Package name (last element of the import path) → import path.
    imports: HashMap<String, String>,
}

impl Links<'_> {
    fn has_symbol(&self, recv: &str, name: &str) -> bool {
        let p = self.pkg;
        if !recv.is_empty() {
            return p
                .types
                .iter()
                .any(|t| t.name == recv && t.methods.iter().any(|m| m.name == name));
        }
        let in_values = |vs: &[Value]| vs.iter().any(|v| v.names.iter().any(|n| n == name));
        in_values(&p.consts)
            || in_values(&p.vars)
            || p.funcs.iter().any(|f| f.name == name)
            || p.types.iter().any(|t| {
                t.name == name
                    || in_values(&t.consts)
                    || in_values(&t.vars)
                    || t.funcs.iter().any(|f| f.name == name)
            })
    }

    /// A doc link's URL: an anchor on this page; another package of this module version on
    /// the shelf; the standard library on pkg.go.dev; anything else through the shelf's
    /// symbol search.
    fn url(&self, l: &DocLink) -> String {
        let anchor = match (l.recv.is_empty(), l.name.is_empty()) {
            (_, true) => String::new(),
            (true, false) => format!("#{}", l.name),
            (false, false) => format!("#{}.{}", l.recv, l.name),
        };
        if l.import_path.is_empty() {
            return anchor;
        }
        if let Some(p) = self
            .docs
            .packages
            .iter()
            .find(|p| p.import_path == l.import_path)
        {
            return format!("{}{anchor}", self.target.package(&p.dir));
        }
        let first = l.import_path.split('/').next().unwrap_or_default();
        if !first.contains('.') {
            return format!("https://pkg.go.dev/{}{anchor}", l.import_path);
        }
        let q = if l.name.is_empty() {
            l.import_path.clone()
        } else if l.recv.is_empty() {
            l.name.clone()
        } else {
            format!("{}.{}", l.recv, l.name)
        };
        format!("/?q={}", percent_encoding::utf8_percent_encode(&q, QUERY))
    }

    fn html(&self, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let lookup_package = |name: &str| self.imports.get(name).cloned();
        let lookup_sym = |recv: &str, name: &str| self.has_symbol(recv, name);
        let parser = Parser {
            words: HashMap::new(),
            lookup_package: &lookup_package,
            lookup_sym: &lookup_sym,
        };
        let doc = parser.parse(text);
        let url = |l: &DocLink| self.url(l);
        comment::html(
            &doc,
            &HtmlOptions {
                heading_level: 3,
                doc_link_url: &url,
            },
        )
    }
}

/// Characters a query string value must escape.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'/');

/// Everything the page shows, apart from the frame and what the handler looks up.
pub struct PageInput<'a> {
    pub chrome: Chrome,
    pub docs: &'a ModuleDocs,
    pub pkg: &'a PackageDoc,
    pub target: Target<'a>,
    pub latest: &'a str,
    /// Packages of the shelf's modules that import this one: (import path, href).
    pub imported_by: Vec<(String, String)>,
}

/// Builds the page.
#[must_use]
pub fn package_page(input: PageInput<'_>) -> PackagePage {
    let PageInput {
        chrome,
        docs,
        pkg,
        target,
        latest,
        imported_by,
    } = input;
    let api = &pkg.api;
    let links = Links {
        pkg: api,
        docs,
        target: &target,
        imports: api
            .imports
            .iter()
            .map(|p| (p.rsplit('/').next().unwrap_or(p).to_owned(), p.clone()))
            .collect(),
    };
    let mut examples: HashMap<String, Vec<ExampleView>> = HashMap::new();
    let mut example_index = Vec::new();
    for e in &pkg.examples {
        let (symbol, suffix) = e.target();
        let view = example_view(e, &suffix, &symbol, &links);
        example_index.push(LinkRow {
            label: view.title.clone(),
            href: format!("#{}", view.id),
            note: String::new(),
        });
        examples.entry(symbol).or_default().push(view);
    }
    let mut take = |id: &str| examples.remove(id).unwrap_or_default();
    let dir = pkg.dir.as_str();
    let decl = |id: String, title: String, doc: &str, source: &str, pos: &Pos, ex| DeclView {
        ids: vec![id.clone()],
        id,
        title,
        source: source.to_owned(),
        source_href: target.source(dir, &pos.file, pos.line),
        doc_html: links.html(doc),
        deprecated: is_deprecated(doc),
        examples: ex,
    };
    let value = |v: &Value| {
        let mut d = decl(
            v.names.first().cloned().unwrap_or_default(),
            String::new(),
            &v.doc,
            &v.source,
            &v.pos,
            Vec::new(),
        );
        d.ids.clone_from(&v.names);
        d
    };
    // The index lists what `go doc -short` lists, in its order, each type followed by its
    // values, constructors and then its methods.
    let mut index: Vec<IndexEntry> = api
        .consts
        .iter()
        .chain(&api.vars)
        .map(|v| value_entry(v, false))
        .collect();
    let funcs = func_views(&api.funcs, false, &mut index, &mut take, &decl);
    let mut types = Vec::new();
    for t in &api.types {
        index.push(IndexEntry {
            href: format!("#{}", t.name),
            line: t.line.clone(),
            nested: false,
            deprecated: is_deprecated(&t.doc),
        });
        types.push(type_view(t, &mut index, &mut take, &decl, &value));
    }
    let package_examples = take("");
    // Examples of symbols this page does not show (unexported, or misnamed) are listed with
    // the package's.
    let mut rest: Vec<ExampleView> = examples.into_values().flatten().collect();
    rest.sort_by(|a, b| a.id.cmp(&b.id));
    let mut all_package_examples = package_examples;
    all_package_examples.extend(rest);
    PackagePage {
        chrome,
        owner: target.owner.to_owned(),
        owner_href: target.owner_href.clone(),
        module: target.module.to_owned(),
        module_href: target.module_href.clone(),
        version: target.version.to_owned(),
        version_href: target.version_base.clone(),
        latest: latest.to_owned(),
        latest_href: pages::pkg_href_under(&target.latest_base, dir),
        is_latest: latest == target.version,
        dir: dir.to_owned(),
        import_path: pkg.import_path.clone(),
        name: api.name.clone(),
        internal: pkg.internal,
        command: pkg.is_command(),
        doc_html: links.html(&api.doc),
        examples: all_package_examples,
        example_index,
        index,
        consts: api.consts.iter().map(&value).collect(),
        vars: api.vars.iter().map(&value).collect(),
        funcs,
        types,
        files: pkg
            .files
            .iter()
            .map(|f| LinkRow {
                label: f.clone(),
                href: target.source(dir, f, 0),
                note: String::new(),
            })
            .collect(),
        imports: api
            .imports
            .iter()
            .map(|p| import_row(p, docs, &target))
            .collect(),
        imported_by: imported_by
            .into_iter()
            .map(|(label, href)| LinkRow {
                label,
                href,
                note: String::new(),
            })
            .collect(),
        packages: docs
            .packages
            .iter()
            .filter(|p| p.dir != pkg.dir)
            .map(|p| LinkRow {
                label: p.import_path.clone(),
                href: target.package(&p.dir),
                note: p.synopsis.clone(),
            })
            .collect(),
        skipped: docs.skipped.clone(),
        truncated: docs.truncated,
    }
}

fn value_entry(v: &Value, nested: bool) -> IndexEntry {
    IndexEntry {
        href: format!("#{}", v.names.first().map_or("", String::as_str)),
        line: v.line.clone(),
        nested,
        deprecated: is_deprecated(&v.doc),
    }
}

fn func_entry(f: &Func, id: &str, nested: bool) -> IndexEntry {
    IndexEntry {
        href: format!("#{id}"),
        line: f.line.clone(),
        nested,
        deprecated: is_deprecated(&f.doc),
    }
}

type DeclFn<'a> = dyn Fn(String, String, &str, &str, &Pos, Vec<ExampleView>) -> DeclView + 'a;

/// Functions (a package's, or a type's constructors): their index entries and declarations.
fn func_views(
    funcs: &[Func],
    nested: bool,
    index: &mut Vec<IndexEntry>,
    take: &mut dyn FnMut(&str) -> Vec<ExampleView>,
    decl: &DeclFn<'_>,
) -> Vec<DeclView> {
    funcs
        .iter()
        .map(|f| {
            index.push(func_entry(f, &f.name, nested));
            let title = format!("func {}", f.name);
            decl(
                f.name.clone(),
                title,
                &f.doc,
                &f.source,
                &f.pos,
                take(&f.name),
            )
        })
        .collect()
}

fn type_view(
    t: &Type,
    index: &mut Vec<IndexEntry>,
    take: &mut dyn FnMut(&str) -> Vec<ExampleView>,
    decl: &DeclFn<'_>,
    value: &dyn Fn(&Value) -> DeclView,
) -> TypeView {
    index.extend(t.consts.iter().chain(&t.vars).map(|v| value_entry(v, true)));
    let funcs = func_views(&t.funcs, true, index, take, decl);
    let mut methods = Vec::new();
    for m in &t.methods {
        let id = format!("{}.{}", t.name, m.name);
        index.push(func_entry(m, &id, true));
        let ex = take(&id);
        // A promoted method is shown with the receiver of this type.
        let source = promoted_source(m);
        methods.push(decl(
            id,
            format!("func ({}) {}", t.name, m.name),
            &m.doc,
            &source,
            &m.pos,
            ex,
        ));
    }
    TypeView {
        decl: decl(
            t.name.clone(),
            format!("type {}", t.name),
            &t.doc,
            &t.source,
            &t.pos,
            take(&t.name),
        ),
        consts: t.consts.iter().map(value).collect(),
        vars: t.vars.iter().map(value).collect(),
        funcs,
        methods,
    }
}

/// A method's declaration with the receiver it is listed under: its one-line form when that
/// names another receiver than the source (a promoted method), else the source.
fn promoted_source(m: &Func) -> String {
    let recv_of = |s: &str| {
        s.strip_prefix("func (")
            .and_then(|r| r.split_once(')'))
            .map(|(r, _)| r.to_owned())
    };
    match (recv_of(&m.line), recv_of(&m.source)) {
        (Some(a), Some(b)) if a != b => m.line.clone(),
        _ => m.source.clone(),
    }
}

fn example_view(e: &Example, suffix: &str, symbol: &str, links: &Links<'_>) -> ExampleView {
    let what = if symbol.is_empty() { "package" } else { symbol };
    let title = if suffix.is_empty() {
        format!("Example ({what})")
    } else {
        format!("Example ({what}, {suffix})")
    };
    ExampleView {
        id: format!(
            "example-{}",
            if e.name.is_empty() {
                "package"
            } else {
                &e.name
            }
        ),
        title,
        doc_html: links.html(&e.doc),
        code: e.code.clone(),
        output: e.output.clone(),
    }
}

fn import_row(path: &str, docs: &ModuleDocs, target: &Target<'_>) -> LinkRow {
    let href = if let Some(p) = docs.packages.iter().find(|p| p.import_path == path) {
        target.package(&p.dir)
    } else if !path.split('/').next().unwrap_or_default().contains('.') {
        format!("https://pkg.go.dev/{path}")
    } else {
        format!("/?q={}", percent_encoding::utf8_percent_encode(path, QUERY))
    };
    LinkRow {
        label: path.to_owned(),
        href,
        note: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gomod::doc::module::package_doc;
    use askama::Template;

    fn page_for(src: &str) -> PackagePage {
        let files = vec![
            ("a.go".to_owned(), src.to_owned()),
            (
                "a_test.go".to_owned(),
                "package a\n\nfunc ExampleT_Get() {\n\t_ = 1\n\t// Output: 1\n}\n".to_owned(),
            ),
        ];
        let pkg = package_doc("example.com/m", "sub", &files).unwrap();
        let docs = ModuleDocs {
            packages: vec![pkg.clone()],
            skipped: vec![],
            truncated: false,
            source_bytes: 0,
        };
        package_page(PageInput {
            chrome: Chrome::default(),
            docs: &docs,
            pkg: &pkg,
            target: Target::hosted("acme", "example.com/m", "v1.0.0"),
            latest: "v1.1.0",
            imported_by: vec![],
        })
    }

    #[test]
    fn hostile_comments_are_escaped_and_links_resolve() {
        let page = page_for(
            "// Package a <script>alert(1)</script> see [T.Get] and [Old] and [strings.Cut].\n\
             // Also [evil]: javascript:alert(1)\n\
             package a\n\nimport \"strings\"\n\nvar _ = strings.Cut\n\n\
             // T is a thing.\ntype T struct{ X int }\n\n\
             // Get gets.\nfunc (T) Get() int { return 1 }\n\n\
             // Old is old.\n//\n// Deprecated: use T.\nfunc Old() {}\n",
        );
        assert!(!page.doc_html.contains("<script>"), "{}", page.doc_html);
        assert!(page.doc_html.contains("&lt;script&gt;"));
        assert!(
            page.doc_html.contains("href=\"#T.Get\""),
            "{}",
            page.doc_html
        );
        assert!(page.doc_html.contains("href=\"#Old\""));
        assert!(page
            .doc_html
            .contains("href=\"https://pkg.go.dev/strings#Cut\""));
        assert!(!page.doc_html.contains("javascript:alert(1)\""));
        let old = page.funcs.iter().find(|f| f.id == "Old").unwrap();
        assert!(old.deprecated);
        assert!(page.index.iter().any(|e| e.deprecated && e.href == "#Old"));
        let t = &page.types[0];
        assert_eq!(t.methods[0].id, "T.Get");
        assert_eq!(t.methods[0].examples[0].output.as_deref(), Some("1"));
        assert_eq!(
            t.methods[0].source_href,
            "/ui/acme/example.com/m/@v/v1.0.0/src/sub/a.go#L13"
        );
        assert_eq!(
            page.files[0].href,
            "/ui/acme/example.com/m/@v/v1.0.0/src/sub/a.go"
        );
        assert_eq!(page.latest_href, "/ui/acme/example.com/m/@latest/pkg/sub");
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("id=\"T.Get\""));
    }
}
