//! A package's exported API read from its Go files with a real Go parser (tree-sitter-go), the
//! way `go/doc` reads it: exported constants and variables (a declaration whose specs are
//! mostly of one exported type is that type's), functions (one returning exactly one of the
//! package's exported types, or a slice or array of it, is that type's constructor), types
//! and their methods. Each declaration has its one-line form as `go doc -short` prints it
//! (`short`) and its doc comment.
//!
//! The one-line forms follow `cmd/doc`'s rules: struct and interface bodies become
//! `{ ... }`, function literals `{ ... }`, composite literals `{ ... }` (or `{}` when every
//! element was an unexported field), lists longer than 80 bytes end in `...`, a group of
//! several specs ends in ` ...`, and anything that spans lines becomes `...`. Everything else
//! is printed as written, which is what `gofmt` prints for gofmt-formatted sources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tree_sitter::Node;

use super::build::Context;
use crate::gomod::unicode;

/// Why a package could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No file of the package is built in this context.
    NoFiles,
    /// The parser could not be set up (a tree-sitter version mismatch).
    Parser(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoFiles => f.write_str("no Go files for linux/amd64"),
            Error::Parser(e) => write!(f, "Go parser: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A package's exported API as `go doc` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// The package comment's text (comment markers removed).
    pub doc: String,
    /// Constants no exported type claims, by name (groups first), then those of unexported
    /// types.
    pub consts: Vec<Value>,
    pub vars: Vec<Value>,
    /// Exported functions that are no exported type's constructor, by name.
    pub funcs: Vec<Func>,
    /// Exported types, by name.
    pub types: Vec<Type>,
    /// The import paths its files import, sorted (`"C"` left out).
    pub imports: Vec<String>,
}

/// Where a declaration starts: file name (in the package directory) and 1-based line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    pub file: String,
    pub line: usize,
}

/// A `const` or `var` declaration (one spec or a group), with its exported names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    pub names: Vec<String>,
    pub doc: String,
    /// Its one-line form (`""` when no spec's first name is exported).
    pub line: String,
    /// The declaration as written.
    pub source: String,
    pub pos: Pos,
    /// The name it sorts by: its one spec's first name, or `""` for a group.
    #[serde(skip)]
    sort_name: String,
    #[serde(skip)]
    order: usize,
}

/// A function or method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Func {
    pub name: String,
    pub doc: String,
    /// Its one-line form; for a method promoted from an embedded type, with the receiver
    /// of the type it is listed under.
    pub line: String,
    /// The declaration as written, without its body.
    pub source: String,
    pub pos: Pos,
}

/// An exported type with what belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Type {
    pub name: String,
    pub doc: String,
    pub line: String,
    /// The declaration as written, unexported fields and methods left out.
    pub source: String,
    pub pos: Pos,
    pub consts: Vec<Value>,
    pub vars: Vec<Value>,
    /// Its exported constructors, by name.
    pub funcs: Vec<Func>,
    /// Its exported methods (with those promoted from unexported embedded types), by name.
    pub methods: Vec<Func>,
}

/// The names Go predeclares as types.
const PREDECLARED: &[&str] = &[
    "any",
    "bool",
    "byte",
    "comparable",
    "complex64",
    "complex128",
    "error",
    "float32",
    "float64",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "rune",
    "string",
    "uint",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uintptr",
];

/// `cmd/doc`'s width for a list before it is cut with `...`.
const LIST_WIDTH: usize = 80;
/// How deep `one_line` descends before printing `...`.
const MAX_DEPTH: usize = 10;
/// Most steps of one type's walk of its embedded types (`collect_embedded`).
const MAX_EMBED_STEPS: usize = 4096;
/// Deepest level of embedded types that one type's method set takes methods from.
const MAX_EMBED_DEPTH: usize = 64;

/// Go's `token.IsExported`: the first letter is upper case (category Lu).
fn exported(name: &str) -> bool {
    name.chars().next().is_some_and(unicode::is_upper)
}

/// Reads the package made of `files` (name, source) in `ctx`: the files it builds, in name
/// order (as `go/build` lists them).
///
/// # Errors
/// `NoFiles` when no file is built in `ctx`; `Parser` if tree-sitter cannot load the grammar.
pub fn read_package(files: &[(String, String)], ctx: &Context) -> Result<Package, Error> {
    let mut chosen: Vec<&(String, String)> = files
        .iter()
        .filter(|(name, src)| ctx.includes(name, src))
        .collect();
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    if chosen.is_empty() {
        return Err(Error::NoFiles);
    }
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_go::LANGUAGE.into())
        .map_err(|e| Error::Parser(e.to_string()))?;
    let mut r = Reader::default();
    let mut trees: Vec<(&String, &String, tree_sitter::Tree)> = Vec::new();
    for (file, src) in chosen {
        let Some(tree) = parser.parse(src, None) else {
            continue;
        };
        let name = package_name(tree.root_node(), src);
        match (&r.name, name) {
            (_, None) => continue,
            (None, Some(n)) => r.name = Some(n),
            (Some(have), Some(n)) if *have != n => continue,
            _ => {}
        }
        trees.push((file, src, tree));
    }
    // Declarations first, file by file; functions after them all, when every type name the
    // package uses is known (go/doc's readPackage).
    for (file, src, tree) in &trees {
        r.file.clone_from(file);
        r.read_file(tree.root_node(), src, false);
    }
    for (file, src, tree) in &trees {
        r.file.clone_from(file);
        r.read_file(tree.root_node(), src, true);
    }
    Ok(r.finish())
}

fn package_name(root: Node<'_>, src: &str) -> Option<String> {
    let mut c = root.walk();
    let clause = root
        .named_children(&mut c)
        .find(|n| n.kind() == "package_clause")?;
    let mut c2 = clause.walk();
    let name = clause.named_children(&mut c2).next()?;
    Some(text(name, src).to_owned())
}

fn text<'s>(n: Node<'_>, src: &'s str) -> &'s str {
    &src[n.byte_range()]
}

/// A value spec: its names, its type (one-line, and its base type name) and its values
/// (one-line).
#[derive(Debug, Clone)]
struct Spec {
    names: Vec<String>,
    typ: Option<TypeRef>,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct TypeRef {
    line: String,
    /// The base type name, unless it is imported (`pkg.T`) or not a name.
    base: Option<String>,
}

/// A method as declared, before it is promoted through embedding.
#[derive(Debug, Clone)]
struct Method {
    func: Func,
    /// The receiver's name (`r` in `func (r *T) M()`), if it has one.
    recv_name: Option<String>,
    /// Whether the receiver is a pointer.
    recv_ptr: bool,
    /// The line after the receiver: `M(x int) error`.
    rest: String,
}

/// A method set being built: name -> (embedding depth, the method and whether its receiver
/// is a pointer after promotion), `None` for two at the same depth (or a hidden one).
type MethodSet = BTreeMap<String, (usize, Option<(Method, bool)>)>;

/// A type declaration with what belongs to it, exported or not (`go/doc` in `AllDecls`
/// mode, as `cmd/doc` reads a package).
#[derive(Debug, Default)]
struct TypeEntry {
    declared: Option<Declared>,
    consts: Vec<Value>,
    vars: Vec<Value>,
    funcs: Vec<Func>,
    methods: Vec<Method>,
    /// Embedded in a struct or interface of the package.
    is_embedded: bool,
}

#[derive(Debug)]
struct Declared {
    doc: String,
    line: String,
    source: String,
    pos: Pos,
    /// Embedded types of a struct: base name, and whether embedded as a pointer.
    embedded: Vec<(String, bool)>,
    is_struct: bool,
}

#[derive(Debug, Default)]
struct Reader {
    name: Option<String>,
    doc: String,
    consts: Vec<Value>,
    vars: Vec<Value>,
    funcs: Vec<Func>,
    types: BTreeMap<String, TypeEntry>,
    order: usize,
    file: String,
    /// Some file has a dot import (`import . "pkg"`).
    dot_import: bool,
    imports: std::collections::BTreeSet<String>,
}

impl Reader {
    /// Whether `name` is a predeclared type the package has not (yet) used as a type name:
    /// go/doc records a type for every name it meets as a value's type, an embedded field
    /// or a declaration, so after `var ErrX error` (or an interface embedding `error`) a
    /// function returning `(*T, error)` has two result types and is no constructor.
    fn is_predeclared(&self, name: &str) -> bool {
        PREDECLARED.contains(&name) && !self.types.contains_key(name)
    }

    fn pos(&self, n: Node<'_>) -> Pos {
        Pos {
            file: self.file.clone(),
            line: n.start_position().row + 1,
        }
    }

    /// Reads a file's declarations, or (`funcs`) its functions and methods.
    fn read_file(&mut self, root: Node<'_>, src: &str, funcs: bool) {
        let mut c = root.walk();
        let decls: Vec<Node<'_>> = root.named_children(&mut c).collect();
        for (i, decl) in decls.iter().enumerate() {
            let doc = || doc_comment(&decls[..i], *decl, src);
            let is_func = matches!(decl.kind(), "function_declaration" | "method_declaration");
            if is_func != funcs {
                continue;
            }
            match decl.kind() {
                "package_clause" => {
                    // Every file's package comment counts, in file order.
                    let d = doc();
                    if !d.is_empty() {
                        if !self.doc.is_empty() {
                            self.doc.push('\n');
                        }
                        self.doc.push_str(&d);
                    }
                }
                "const_declaration" => self.read_value(*decl, src, true, doc()),
                "var_declaration" => self.read_value(*decl, src, false, doc()),
                "type_declaration" => self.read_types(*decl, src, &doc()),
                "function_declaration" | "method_declaration" => {
                    self.read_func(*decl, src, doc());
                }
                "import_declaration" => {
                    self.dot_import |= has_dot_import(*decl);
                    import_paths(*decl, src, &mut self.imports);
                }
                _ => {}
            }
        }
    }

    fn read_value(&mut self, decl: Node<'_>, src: &str, is_const: bool, doc: String) {
        let mut raw: Vec<(Vec<String>, Option<TypeRef>, Vec<Node<'_>>)> = Vec::new();
        collect_specs(decl, src, &mut raw);
        if raw.is_empty() {
            return;
        }
        let specs: Vec<Spec> = raw
            .into_iter()
            .map(|(names, typ, values)| Spec {
                names,
                typ,
                values: values.iter().map(|v| one_line(*v, src, 2)).collect(),
            })
            .collect();
        // A declaration whose specs are mostly (75 %) of one type declared here belongs to
        // it; a constant without type and value repeats the previous spec's type.
        let mut dom: Option<String> = None;
        let mut freq = 0;
        let mut prev: Option<String> = None;
        for s in &specs {
            let name = match &s.typ {
                Some(t) => t.base.clone(),
                None if is_const && s.values.is_empty() => prev.clone(),
                None => None,
            };
            if let Some(n) = &name {
                if dom.as_ref().is_some_and(|d| d != n) {
                    dom = None;
                    break;
                }
                dom = Some(n.clone());
                freq += 1;
            }
            prev = name;
        }
        let value = Value {
            names: specs
                .iter()
                .flat_map(|s| s.names.iter().filter(|n| exported(n)).cloned())
                .collect(),
            doc,
            line: value_decl_line(if is_const { "const" } else { "var" }, &specs),
            source: text(decl, src).to_owned(),
            pos: self.pos(decl),
            sort_name: if specs.len() == 1 {
                specs[0].names.first().cloned().unwrap_or_default()
            } else {
                String::new()
            },
            order: self.order,
        };
        self.order += 1;
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        #[allow(clippy::cast_sign_loss)]
        let threshold = (specs.len() as f64 * 0.75) as usize;
        let list = match dom {
            Some(d) if freq >= threshold => {
                let t = self.types.entry(d).or_default();
                if is_const {
                    &mut t.consts
                } else {
                    &mut t.vars
                }
            }
            _ if is_const => &mut self.consts,
            _ => &mut self.vars,
        };
        list.push(value);
    }

    fn read_types(&mut self, decl: Node<'_>, src: &str, doc: &str) {
        let mut c = decl.walk();
        let specs: Vec<Node<'_>> = decl
            .named_children(&mut c)
            .filter(|n| matches!(n.kind(), "type_spec" | "type_alias"))
            .collect();
        let grouped = text(decl, src)
            .strip_prefix("type")
            .is_some_and(|rest| rest.trim_start().starts_with('('));
        for spec in specs {
            let Some(name) = spec.child_by_field_name("name") else {
                continue;
            };
            let name = text(name, src).to_owned();
            // In a group, each spec's own comment is its doc, else the group's.
            let doc = match grouped {
                true => Some(own_comment(spec, src))
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| doc.to_owned()),
                false => doc.to_owned(),
            };
            let typ = spec.child_by_field_name("type");
            let is_struct = typ.is_some_and(|t| t.kind() == "struct_type");
            self.types.entry(name.clone()).or_default();
            let embedded = typ.map(|t| embedded_types(t, src)).unwrap_or_default();
            for (e, _) in &embedded {
                self.types.entry(e.clone()).or_default().is_embedded = true;
            }
            let source = format!("type {}", exported_source(spec, src));
            let declared = Declared {
                doc,
                line: type_spec_line(spec, src),
                source,
                pos: self.pos(spec),
                embedded,
                is_struct,
            };
            self.types.entry(name).or_default().declared = Some(declared);
        }
    }

    fn read_func(&mut self, decl: Node<'_>, src: &str, doc: String) {
        let Some(name) = decl.child_by_field_name("name") else {
            return;
        };
        let name = text(name, src).to_owned();
        let source = match decl.child_by_field_name("body") {
            Some(body) => src[decl.start_byte()..body.start_byte()].trim_end(),
            None => text(decl, src),
        };
        let f = Func {
            name,
            doc,
            line: func_decl_line(decl, src),
            source: source.to_owned(),
            pos: self.pos(decl),
        };
        if let Some(recv) = decl.child_by_field_name("receiver") {
            let mut c = recv.walk();
            let Some(first) = recv
                .named_children(&mut c)
                .find(|n| n.kind() == "parameter_declaration")
            else {
                return;
            };
            let Some(t) = first.child_by_field_name("type") else {
                return;
            };
            if let Some(base) = base_type_name(t, src) {
                let recv_name = first
                    .child_by_field_name("name")
                    .map(|n| text(n, src).to_owned());
                let rest = f
                    .line
                    .find(") ")
                    .map(|i| f.line[i + 2..].to_owned())
                    .unwrap_or_default();
                let method = Method {
                    func: f,
                    recv_name,
                    recv_ptr: t.kind() == "pointer_type",
                    rest,
                };
                self.types.entry(base).or_default().methods.push(method);
            }
            return;
        }
        // A constructor returns exactly one of the package's types (not a type parameter, not
        // a predeclared type), or a slice or array of it, among its result fields.
        let tparams = type_param_names(decl, src);
        let mut found: Option<String> = None;
        let mut count = 0;
        for t in result_types(decl) {
            let t = match t.kind() {
                "slice_type" | "array_type" | "implicit_length_array_type" => {
                    match t.child_by_field_name("element") {
                        Some(e) => e,
                        None => continue,
                    }
                }
                _ => t,
            };
            if let Some(n) = base_type_name(t, src) {
                if tparams.contains(&n) || self.is_predeclared(&n) {
                    continue;
                }
                found = Some(n);
                count += 1;
            }
        }
        match found {
            Some(t) if count == 1 => self.types.entry(t).or_default().funcs.push(f),
            _ => self.funcs.push(f),
        }
    }

    /// The methods of struct `name`, its own and those promoted from embedded types whose
    /// original receiver type is unexported (`go/doc`'s method sets: a shallower method hides
    /// deeper ones, two at the same depth hide each other).
    fn method_set(&self, name: &str) -> Vec<Func> {
        let Some(t) = self.types.get(name) else {
            return Vec::new();
        };
        // name -> (level, method, pointer receiver after promotion), None for a conflict.
        let mut set: MethodSet = BTreeMap::new();
        for m in &t.methods {
            set.insert(m.func.name.clone(), (0, Some((m.clone(), m.recv_ptr))));
        }
        if t.declared.as_ref().is_some_and(|d| d.is_struct) {
            let mut visited = vec![name.to_owned()];
            let mut steps = MAX_EMBED_STEPS;
            self.collect_embedded(&mut set, name, false, 1, &mut visited, &mut steps);
        }
        let mut out: Vec<Func> = Vec::new();
        for (level, entry) in set.into_values() {
            let Some((m, ptr)) = entry else { continue };
            if level == 0 {
                out.push(m.func);
                continue;
            }
            let mut f = m.func;
            let star = if ptr { "*" } else { "" };
            f.line = match &m.recv_name {
                Some(r) => format!("func ({r} {star}{name}) {}", m.rest),
                None => format!("func ({star}{name}) {}", m.rest),
            };
            out.push(f);
        }
        out
    }

    /// go/doc's walk of embedded types: every path, a type left only while on the path, so
    /// embedding can make it exponential in the types (60 lines of `type aN struct{ aN+1;
    /// *aN+1 }` ask for 2^60 steps) and as deep as the types: it takes `steps` (one each) and
    /// goes `MAX_EMBED_DEPTH` levels at most, and what lies past either is left out of the
    /// method set (no real type comes near them).
    fn collect_embedded(
        &self,
        set: &mut MethodSet,
        typ: &str,
        embedded_ptr: bool,
        level: usize,
        visited: &mut Vec<String>,
        steps: &mut usize,
    ) {
        if *steps == 0 || level > MAX_EMBED_DEPTH {
            return;
        }
        *steps -= 1;
        let Some(decl) = self.types.get(typ).and_then(|t| t.declared.as_ref()) else {
            return;
        };
        for (emb, is_ptr) in &decl.embedded {
            let Some(e) = self.types.get(emb) else {
                continue;
            };
            let this_ptr = embedded_ptr || *is_ptr;
            if !exported(emb) {
                for m in &e.methods {
                    let ptr = !this_ptr && m.recv_ptr;
                    match set.get(&m.func.name) {
                        Some((l, _)) if *l < level => {}
                        Some((l, _)) if *l == level => {
                            set.insert(m.func.name.clone(), (level, None));
                        }
                        _ => {
                            set.insert(m.func.name.clone(), (level, Some((m.clone(), ptr))));
                        }
                    }
                }
            } else {
                // Methods of an exported embedded type are not listed, but still hide
                // deeper ones of the same name.
                for m in &e.methods {
                    if set.get(&m.func.name).is_none_or(|(l, _)| *l >= level) {
                        set.insert(m.func.name.clone(), (level, None));
                    }
                }
            }
            if !visited.contains(emb) {
                visited.push(emb.clone());
                self.collect_embedded(set, emb, this_ptr, level + 1, visited, steps);
                visited.pop();
            }
        }
    }

    fn finish(mut self) -> Package {
        // What belongs to a type declared nowhere goes back to the package when the type is
        // predeclared (`const c int = 1`), or embedded somewhere, or when a dot import may
        // declare it; else it is dropped (go/doc's cleanupTypes).
        let names: Vec<String> = self.types.keys().cloned().collect();
        for name in names {
            let Some(t) = self.types.get(&name) else {
                continue;
            };
            if t.declared.is_some() {
                continue;
            }
            let predeclared = PREDECLARED.contains(&name.as_str());
            let Some(t) = self.types.remove(&name) else {
                continue;
            };
            if predeclared || t.is_embedded || self.dot_import {
                self.consts.extend(t.consts);
                self.vars.extend(t.vars);
                self.funcs.extend(t.funcs);
                if !predeclared {
                    for m in t.methods {
                        if !self.funcs.iter().any(|f| f.name == m.func.name) {
                            self.funcs.push(m.func);
                        }
                    }
                }
            }
        }
        let sort_values = |mut v: Vec<Value>| {
            v.sort_by(|a, b| a.sort_name.cmp(&b.sort_name).then(a.order.cmp(&b.order)));
            v
        };
        let sort_funcs = |mut f: Vec<Func>| {
            f.sort_by(|a, b| a.name.cmp(&b.name));
            f
        };
        let shown = |v: &Value| !v.line.is_empty();
        let mut consts = sort_values(std::mem::take(&mut self.consts));
        let mut vars = sort_values(std::mem::take(&mut self.vars));
        let mut funcs: Vec<Func> = sort_funcs(std::mem::take(&mut self.funcs));
        funcs.retain(|f| exported(&f.name));
        let mut types = Vec::new();
        for (name, t) in &self.types {
            let Some(d) = &t.declared else {
                continue;
            };
            if !exported(name) {
                // cmd/doc lists an unexported type's values and constructors with the
                // package's, after them.
                consts.extend(sort_values(t.consts.clone()));
                vars.extend(sort_values(t.vars.clone()));
                let own = sort_funcs(t.funcs.clone());
                funcs.extend(own.into_iter().filter(|f| exported(&f.name)));
                continue;
            }
            let mut methods = self.method_set(name);
            methods.retain(|m| exported(&m.name));
            types.push(Type {
                name: name.clone(),
                doc: d.doc.clone(),
                line: d.line.clone(),
                source: d.source.clone(),
                pos: d.pos.clone(),
                consts: sort_values(t.consts.clone())
                    .into_iter()
                    .filter(shown)
                    .collect(),
                vars: sort_values(t.vars.clone())
                    .into_iter()
                    .filter(shown)
                    .collect(),
                funcs: sort_funcs(t.funcs.clone())
                    .into_iter()
                    .filter(|f| exported(&f.name))
                    .collect(),
                methods,
            });
        }
        consts.retain(shown);
        vars.retain(shown);
        Package {
            name: self.name.unwrap_or_default(),
            doc: self.doc,
            consts,
            vars,
            funcs,
            types,
            imports: self.imports.into_iter().filter(|p| p != "C").collect(),
        }
    }
}

/// An example function (`func ExampleT_M()` in a test file), as pkg.go.dev shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// What follows `Example`: `""` (the package), `F`, `T`, `T_M`, each maybe with a
    /// `_suffix` starting with a lower-case letter.
    pub name: String,
    pub doc: String,
    /// The body, one level of indentation removed, without the output comment.
    pub code: String,
    /// The text after `// Output:` (or `// Unordered output:`), if the example has one.
    pub output: Option<String>,
    pub pos: Pos,
}

impl Example {
    /// The symbol it documents (`""`, `F`, `T`, `T.M`) and its suffix.
    #[must_use]
    pub fn target(&self) -> (String, String) {
        // A last `_part` starting with a lower-case letter is a suffix.
        let (base, suffix) = match self.name.rsplit_once('_') {
            Some((b, s)) if s.starts_with(unicode::is_lower) => (b, s),
            _ if self.name.starts_with('_') => ("", &self.name[1..]),
            _ => (self.name.as_str(), ""),
        };
        (base.replacen('_', ".", 1), suffix.to_owned())
    }
}

/// The examples of a package's test files built in `ctx` (of the package and of its
/// `_test` package), by name.
#[must_use]
pub fn read_examples(files: &[(String, String)], ctx: &Context) -> Vec<Example> {
    let mut parser = tree_sitter::Parser::new();
    if parser
        .set_language(&tree_sitter_go::LANGUAGE.into())
        .is_err()
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (file, src) in files {
        if !ctx.includes_test(file, src) {
            continue;
        }
        let Some(tree) = parser.parse(src, None) else {
            continue;
        };
        let root = tree.root_node();
        let mut c = root.walk();
        let decls: Vec<Node<'_>> = root.named_children(&mut c).collect();
        for (i, decl) in decls.iter().enumerate() {
            if decl.kind() != "function_declaration" {
                continue;
            }
            let Some(name) = decl.child_by_field_name("name").map(|n| text(n, src)) else {
                continue;
            };
            let Some(rest) = name.strip_prefix("Example") else {
                continue;
            };
            // `Examplefoo` is no example; an example takes and returns nothing.
            if rest.starts_with(unicode::is_lower)
                || decl.child_by_field_name("result").is_some()
                || decl.child_by_field_name("type_parameters").is_some()
                || decl
                    .child_by_field_name("parameters")
                    .is_some_and(|p| p.named_child_count() > 0)
            {
                continue;
            }
            let Some(body) = decl.child_by_field_name("body") else {
                continue;
            };
            let (code, output) = example_body(body, src);
            out.push(Example {
                name: rest.to_owned(),
                doc: doc_comment(&decls[..i], *decl, src),
                code,
                output,
                pos: Pos {
                    file: file.clone(),
                    line: decl.start_position().row + 1,
                },
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// An example's code (between the braces, one tab of indentation removed) and its output
/// comment: the last comment group of the body, when it starts with `Output:`.
fn example_body(body: Node<'_>, src: &str) -> (String, Option<String>) {
    let mut c = body.walk();
    let mut last: Vec<Node<'_>> = Vec::new();
    let children: Vec<Node<'_>> = body.named_children(&mut c).collect();
    // tree-sitter-go wraps the statements in a statement_list.
    let items: Vec<Node<'_>> = match children.as_slice() {
        [list] if list.kind() == "statement_list" => {
            let mut c2 = list.walk();
            let mut all: Vec<Node<'_>> = list.named_children(&mut c2).collect();
            all.extend(children.iter().skip(1).copied());
            all
        }
        _ => children,
    };
    for n in items.iter().rev() {
        if n.kind() != "comment" {
            break;
        }
        if last
            .last()
            .is_some_and(|l| n.end_position().row + 1 != l.start_position().row)
        {
            break;
        }
        last.push(*n);
    }
    last.reverse();
    let comments: Vec<&str> = last.iter().map(|n| text(*n, src)).collect();
    let joined = comment_text(&comments);
    let trimmed = joined.trim_start();
    let output = trimmed
        .strip_prefix("Output:")
        .or_else(|| trimmed.strip_prefix("Unordered output:"))
        .map(|o| o.trim().to_owned());
    let start = body.start_byte() + 1;
    let end = match (&output, last.first()) {
        (Some(_), Some(first)) => first.start_byte(),
        _ => body.end_byte().saturating_sub(1),
    };
    let inner = src.get(start..end.max(start)).unwrap_or_default();
    let code: Vec<&str> = inner
        .trim_matches('\n')
        .lines()
        .map(|l| l.strip_prefix('\t').unwrap_or(l))
        .collect();
    (code.join("\n").trim_end().to_owned(), output)
}

/// The `go doc -short` listing: constants, variables and functions of the package, then each
/// type with its constants, variables and constructors indented.
#[must_use]
pub fn short(pkg: &Package) -> String {
    let mut out = String::new();
    let mut line = |indent: &str, l: &str| {
        out.push_str(indent);
        out.push_str(l);
        out.push('\n');
    };
    for v in pkg.consts.iter().chain(&pkg.vars) {
        line("", &v.line);
    }
    for f in &pkg.funcs {
        line("", &f.line);
    }
    for t in &pkg.types {
        line("", &t.line);
        for v in t.consts.iter().chain(&t.vars) {
            line("    ", &v.line);
        }
        for f in &t.funcs {
            line("    ", &f.line);
        }
    }
    out
}

/// The paths an import declaration imports.
fn import_paths(decl: Node<'_>, src: &str, out: &mut std::collections::BTreeSet<String>) {
    let mut c = decl.walk();
    for n in decl.named_children(&mut c) {
        match n.kind() {
            "import_spec" => {
                if let Some(p) = n.child_by_field_name("path") {
                    let quoted = text(p, src);
                    let path = quoted.trim_matches(|c| c == '"' || c == '`');
                    if !path.is_empty() {
                        out.insert(path.to_owned());
                    }
                }
            }
            "import_spec_list" => import_paths(n, src, out),
            _ => {}
        }
    }
}

/// Whether an import declaration has a dot import (`import . "pkg"`).
fn has_dot_import(decl: Node<'_>) -> bool {
    let mut c = decl.walk();
    let found = decl.named_children(&mut c).any(|n| match n.kind() {
        "import_spec" => n
            .child_by_field_name("name")
            .is_some_and(|x| x.kind() == "dot"),
        "import_spec_list" => has_dot_import(n),
        _ => false,
    });
    found
}

/// The embedded fields of a struct type, or embedded types of an interface: base name
/// (unless imported) and pointer-ness.
fn embedded_types(t: Node<'_>, src: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut c = t.walk();
    let push = |out: &mut Vec<(String, bool)>, typ: Node<'_>, ptr: bool| {
        if let Some(name) = base_type_name(typ, src) {
            out.push((name, ptr));
        }
    };
    match t.kind() {
        "struct_type" => {
            for list in t.named_children(&mut c) {
                let mut c2 = list.walk();
                for f in list.named_children(&mut c2) {
                    if f.kind() != "field_declaration" || f.child_by_field_name("name").is_some() {
                        continue;
                    }
                    if let Some(typ) = f.child_by_field_name("type") {
                        push(&mut out, typ, text(f, src).trim_start().starts_with('*'));
                    }
                }
            }
        }
        "interface_type" => {
            for e in t.named_children(&mut c) {
                if e.kind() != "type_elem" {
                    continue;
                }
                let mut c2 = e.walk();
                let parts: Vec<Node<'_>> = e.named_children(&mut c2).collect();
                if let [one] = parts.as_slice() {
                    push(&mut out, *one, false);
                }
            }
        }
        _ => {}
    }
    out
}

/// A type spec's source with unexported struct fields and interface methods left out and a
/// `// Has unexported fields.` (or `methods.`) line in their place, as `go doc` shows it.
fn exported_source(spec: Node<'_>, src: &str) -> String {
    match filtered_source(spec, src) {
        Filtered::Written(source) => unindent_spec(spec, src, &source),
        Filtered::Spread(source) => source,
    }
}

/// A spec's source: as written (maybe with lines left out), or printed anew.
enum Filtered {
    Written(String),
    Spread(String),
}

/// A spec alone on its first line (inside a group) is indented: its later lines lose that
/// indentation. A spec after `type ` on its line keeps its lines as they are.
fn unindent_spec(spec: Node<'_>, src: &str, source: &str) -> String {
    let line_start = src[..spec.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let before = &src[line_start..spec.start_byte()];
    if !before.chars().all(|c| c == '\t' || c == ' ') {
        return source.to_owned();
    }
    let indent = before.len();
    let mut lines = source.lines();
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    for l in lines {
        let cut = l
            .char_indices()
            .take(indent)
            .take_while(|(_, c)| *c == '\t' || *c == ' ')
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        out.push(&l[cut..]);
    }
    out.join("\n")
}

fn filtered_source(spec: Node<'_>, src: &str) -> Filtered {
    let whole = text(spec, src);
    let Some(t) = spec.child_by_field_name("type") else {
        return Filtered::Written(whole.to_owned());
    };
    let mut hidden: Vec<Node<'_>> = Vec::new();
    let mut shown: Vec<Node<'_>> = Vec::new();
    let mut c = t.walk();
    let (what, items): (&str, Vec<Node<'_>>) = match t.kind() {
        "struct_type" => {
            let lists: Vec<Node<'_>> = t.named_children(&mut c).collect();
            let mut items = Vec::new();
            for l in lists {
                let mut c2 = l.walk();
                items.extend(
                    l.named_children(&mut c2)
                        .filter(|f| f.kind() == "field_declaration"),
                );
            }
            ("fields", items)
        }
        "interface_type" => (
            "methods",
            t.named_children(&mut c)
                .filter(|m| m.kind() == "method_elem")
                .collect(),
        ),
        _ => return Filtered::Written(whole.to_owned()),
    };
    for f in items {
        let mut c3 = f.walk();
        let names: Vec<String> = f
            .children_by_field_name("name", &mut c3)
            .map(|n| text(n, src).to_owned())
            .collect();
        let visible = if names.is_empty() {
            f.child_by_field_name("type")
                .and_then(|t| base_type_name(t, src))
                .is_none_or(|n| exported(&n))
        } else {
            names.iter().any(|n| exported(n))
        };
        if visible {
            shown.push(f);
        } else {
            hidden.push(f);
        }
    }
    if hidden.is_empty() {
        return Filtered::Written(whole.to_owned());
    }
    if t.start_position().row == t.end_position().row {
        return Filtered::Spread(spread(spec, t, &shown, what, src));
    }
    // Drop the lines of the hidden items (and the comment lines right above each).
    let base = spec.start_position().row;
    let lines: Vec<&str> = whole.lines().collect();
    let mut drop = vec![false; lines.len()];
    for f in &hidden {
        let (a, b) = (f.start_position().row - base, f.end_position().row - base);
        if a == 0 || b + 1 >= lines.len() {
            // An item on the line of the braces, in a body of several lines: shown as
            // written (gofmt never leaves one there).
            return Filtered::Written(whole.to_owned());
        }
        // The comment lines right above it (never the first line: that is the spec's).
        let above = lines[1..a]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("//"))
            .count();
        for d in drop.iter_mut().take(b + 1).skip(a - above) {
            *d = true;
        }
    }
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i + 1 == lines.len() {
            out.push(format!("\t// Has unexported {what}."));
        }
        if !drop[i] {
            out.push((*l).to_owned());
        }
    }
    Filtered::Written(out.join("\n"))
}

/// A one-line struct or interface `t` (of `spec`) with hidden items, as go/printer prints
/// it filtered: one line for each shown item, then the note, each indented by a tab (field
/// names padded to one column, as gofmt aligns them).
fn spread(spec: Node<'_>, t: Node<'_>, shown: &[Node<'_>], what: &str, src: &str) -> String {
    let keyword = if what == "fields" {
        "struct"
    } else {
        "interface"
    };
    let mut out = format!("{}{keyword} {{\n", &src[spec.start_byte()..t.start_byte()]);
    // A named field's names, and where its type starts.
    let named = |f: &Node<'_>| -> Option<(&str, usize)> {
        f.child_by_field_name("name")?;
        let ty = f.child_by_field_name("type")?;
        Some((
            src[f.start_byte()..ty.start_byte()].trim_end(),
            ty.start_byte(),
        ))
    };
    let width = shown.iter().filter_map(named).map(|(n, _)| n.len()).max();
    for f in shown {
        match named(f) {
            Some((names, at)) => {
                let width = width.unwrap_or(0);
                out.push_str(&format!("\t{names:width$} {}\n", &src[at..f.end_byte()]));
            }
            None => out.push_str(&format!("\t{}\n", text(*f, src))),
        }
    }
    out.push_str(&format!("\t// Has unexported {what}.\n}}"));
    out
}

/// The value specs of a `const` or `var` declaration: names, type and value nodes.
fn collect_specs<'t>(
    decl: Node<'t>,
    src: &str,
    out: &mut Vec<(Vec<String>, Option<TypeRef>, Vec<Node<'t>>)>,
) {
    let mut c = decl.walk();
    for n in decl.named_children(&mut c) {
        match n.kind() {
            "const_spec" | "var_spec" => {
                let mut c2 = n.walk();
                let names = n
                    .children_by_field_name("name", &mut c2)
                    .map(|x| text(x, src).to_owned())
                    .collect();
                let typ = n.child_by_field_name("type").map(|t| TypeRef {
                    line: one_line(t, src, 2),
                    base: base_type_name(t, src),
                });
                let values = n
                    .child_by_field_name("value")
                    .map(|list| {
                        let mut c3 = list.walk();
                        list.named_children(&mut c3)
                            .filter(|x| x.kind() != "comment")
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((names, typ, values));
            }
            "var_spec_list" => collect_specs(n, src, out),
            _ => {}
        }
    }
}

/// `const A = 1 ...`: the first spec whose first name is exported, with the type carried
/// over from earlier specs, its value (the one at the spec's own index, as `cmd/doc` picks
/// it), and ` ...` after a group.
fn value_decl_line(tok: &str, specs: &[Spec]) -> String {
    let trailer = if specs.len() > 1 { " ..." } else { "" };
    let mut typ = String::new();
    for (i, s) in specs.iter().enumerate() {
        if let Some(t) = &s.typ {
            typ = format!(" {}", t.line);
        } else if !s.values.is_empty() {
            typ.clear();
        }
        let Some(first) = s.names.first().filter(|n| exported(n)) else {
            continue;
        };
        let val = s
            .values
            .get(i)
            .map(|v| format!(" = {v}"))
            .unwrap_or_default();
        return format!("{tok} {first}{typ}{val}{trailer}");
    }
    String::new()
}

fn type_spec_line(spec: Node<'_>, src: &str) -> String {
    let name = spec
        .child_by_field_name("name")
        .map(|n| text(n, src))
        .unwrap_or_default();
    let sep = if spec.kind() == "type_alias" {
        " = "
    } else {
        " "
    };
    let tparams = type_params(spec, src, 1);
    let typ = spec
        .child_by_field_name("type")
        .map(|t| one_line(t, src, 2))
        .unwrap_or_default();
    format!("type {name}{tparams}{sep}{typ}")
}

fn func_decl_line(decl: Node<'_>, src: &str) -> String {
    let name = decl
        .child_by_field_name("name")
        .map(|n| text(n, src))
        .unwrap_or_default();
    let recv = decl
        .child_by_field_name("receiver")
        .map(|r| receiver(r, src))
        .filter(|r| !r.is_empty())
        .map(|r| format!("({r}) "))
        .unwrap_or_default();
    let sig = func_type(decl, src, 3);
    let sig = sig.strip_prefix("func").unwrap_or(&sig);
    format!("func {recv}{name}{sig}")
}

/// `go/doc`'s base type name of a type expression, unless it is imported (`pkg.T`, which
/// is nobody's here: not a constructor's, not a receiver's, not embedded from here) or not
/// a name.
fn base_type_name(t: Node<'_>, src: &str) -> Option<String> {
    // A loop, not recursion: `type T *****...int` may nest as deep as its author likes.
    let mut t = t;
    loop {
        match t.kind() {
            "type_identifier" | "identifier" => return Some(text(t, src).to_owned()),
            "generic_type" => t = t.child_by_field_name("type")?,
            "pointer_type" | "parenthesized_type" => {
                let mut c = t.walk();
                let inner = t.named_children(&mut c).next()?;
                t = inner;
            }
            _ => return None,
        }
    }
}

fn type_param_names(decl: Node<'_>, src: &str) -> Vec<String> {
    let Some(list) = decl.child_by_field_name("type_parameters") else {
        return Vec::new();
    };
    let mut c = list.walk();
    let mut out = Vec::new();
    for p in list.named_children(&mut c) {
        let mut c2 = p.walk();
        out.extend(
            p.children_by_field_name("name", &mut c2)
                .map(|n| text(n, src).to_owned()),
        );
    }
    out
}

/// The type of each result field of a function.
fn result_types(decl: Node<'_>) -> Vec<Node<'_>> {
    let Some(result) = decl.child_by_field_name("result") else {
        return Vec::new();
    };
    if result.kind() != "parameter_list" {
        return vec![result];
    }
    let mut c = result.walk();
    result
        .named_children(&mut c)
        .filter_map(|p| p.child_by_field_name("type"))
        .collect()
}

/// `cmd/doc`'s `joinStrings`: comma-separated, cut with `...` past 80 bytes.
fn join(items: &[String]) -> String {
    let mut n = 0;
    let mut out: Vec<&str> = Vec::new();
    for s in items {
        n += s.len() + 2;
        if n > LIST_WIDTH {
            out.push("...");
            break;
        }
        out.push(s);
    }
    out.join(", ")
}

/// One parameter, result, receiver or type parameter: `names type`, or the type alone.
fn field(p: Node<'_>, src: &str, depth: usize) -> String {
    let mut c = p.walk();
    let names: Vec<String> = p
        .children_by_field_name("name", &mut c)
        .map(|n| text(n, src).to_owned())
        .collect();
    let typ = match p.child_by_field_name("type") {
        Some(t) if p.kind() == "variadic_parameter_declaration" => {
            let s = text(t, src);
            if s.contains('\n') {
                "...".to_owned()
            } else {
                format!("...{s}")
            }
        }
        Some(t) if t.kind() == "type_constraint" => constraint(t, src, depth),
        Some(t) => one_line(t, src, depth),
        None => String::new(),
    };
    if names.is_empty() {
        typ
    } else {
        format!("{} {typ}", names.join(", "))
    }
}

fn constraint(t: Node<'_>, src: &str, depth: usize) -> String {
    let mut c = t.walk();
    let parts: Vec<Node<'_>> = t.named_children(&mut c).collect();
    match parts.as_slice() {
        [one] => one_line(*one, src, depth),
        _ => flat(t, src),
    }
}

fn fields(list: Node<'_>, src: &str, depth: usize) -> Vec<String> {
    let mut c = list.walk();
    list.named_children(&mut c)
        .filter(|p| p.kind() != "comment")
        .map(|p| field(p, src, depth))
        .collect()
}

/// A field list as one node (a receiver): empty, its one field, or `...`.
/// A method's receiver: its one field (a list of another length is no receiver, and
/// `read_func` drops the method).
fn receiver(list: Node<'_>, src: &str) -> String {
    match fields(list, src, 3).as_slice() {
        [one] => one.clone(),
        _ => "...".to_owned(),
    }
}

fn type_params(n: Node<'_>, src: &str, depth: usize) -> String {
    match n.child_by_field_name("type_parameters") {
        Some(list) => {
            let f = fields(list, src, depth);
            if f.is_empty() {
                String::new()
            } else {
                format!("[{}]", join(&f))
            }
        }
        None => String::new(),
    }
}

/// `func[T](params) results` of anything with parameters (a declaration, a function type or
/// literal, an interface method).
fn func_type(n: Node<'_>, src: &str, depth: usize) -> String {
    let params = n
        .child_by_field_name("parameters")
        .map(|p| fields(p, src, depth))
        .unwrap_or_default();
    let (results, parens) = match n.child_by_field_name("result") {
        None => (Vec::new(), false),
        Some(r) if r.kind() == "parameter_list" => {
            let mut c = r.walk();
            let named = r
                .named_children(&mut c)
                .any(|p| p.child_by_field_name("name").is_some());
            let f = fields(r, src, depth);
            let parens = f.len() > 1 || named;
            (f, parens)
        }
        Some(r) => (vec![one_line(r, src, depth)], false),
    };
    let tparams = type_params(n, src, depth);
    let params = join(&params);
    if results.is_empty() {
        format!("func{tparams}({params})")
    } else if parens {
        format!("func{tparams}({params}) ({})", join(&results))
    } else {
        format!("func{tparams}({params}) {}", join(&results))
    }
}

/// The node as written, or `...` when it spans lines.
fn flat(n: Node<'_>, src: &str) -> String {
    let s = text(n, src);
    if s.contains('\n') {
        "...".to_owned()
    } else {
        s.to_owned()
    }
}

/// `cmd/doc`'s `oneLineNodeDepth` for a type or expression.
fn one_line(n: Node<'_>, src: &str, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "...".to_owned();
    }
    let depth = depth + 1;
    let child = |name: &str| {
        n.child_by_field_name(name)
            .map(|c| one_line(c, src, depth))
            .unwrap_or_default()
    };
    match n.kind() {
        "function_type" => func_type(n, src, depth),
        "func_literal" => format!("{} {{ ... }}", func_type(n, src, depth)),
        "struct_type" => {
            let mut c = n.walk();
            let has = n.named_children(&mut c).any(|l| {
                let mut c2 = l.walk();
                let any = l
                    .named_children(&mut c2)
                    .any(|f| f.kind() == "field_declaration");
                any
            });
            if has { "struct{ ... }" } else { "struct{}" }.to_owned()
        }
        "interface_type" => {
            let mut c = n.walk();
            let has = n.named_children(&mut c).any(|m| m.kind() != "comment");
            if has {
                "interface{ ... }"
            } else {
                "interface{}"
            }
            .to_owned()
        }
        "composite_literal" => {
            let typ = child("type");
            let empty = n.child_by_field_name("body").is_none_or(|b| {
                let mut c = b.walk();
                let none = b.named_children(&mut c).all(|e| e.kind() == "comment");
                none
            });
            if empty {
                format!("{typ}{{}}")
            } else {
                format!("{typ}{{ ... }}")
            }
        }
        // A slice's missing length is printed too, as `...` past the depth limit.
        "slice_type" => {
            let len = if depth > MAX_DEPTH { "..." } else { "" };
            format!("[{len}]{}", child("element"))
        }
        "array_type" => format!("[{}]{}", child("length"), child("element")),
        "implicit_length_array_type" => format!("[...]{}", child("element")),
        "map_type" => format!("map[{}]{}", child("key"), child("value")),
        "call_expression" => {
            let fun = match (
                n.child_by_field_name("function"),
                n.child_by_field_name("type_arguments"),
            ) {
                (Some(f), Some(t)) => flat_range(f.start_byte(), t.end_byte(), src),
                (Some(f), None) => one_line(f, src, depth),
                _ => String::new(),
            };
            let args: Vec<String> = n
                .child_by_field_name("arguments")
                .map(|a| {
                    let mut c = a.walk();
                    a.named_children(&mut c)
                        .filter(|x| x.kind() != "comment")
                        .map(|x| {
                            // `f(xs...)`: the go command prints the argument without `...`.
                            let x = if x.kind() == "variadic_argument" {
                                let mut c2 = x.walk();
                                let inner = x.named_children(&mut c2).next();
                                inner.unwrap_or(x)
                            } else {
                                x
                            };
                            one_line(x, src, depth)
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("{fun}({})", join(&args))
        }
        "unary_expression" => {
            let op = n
                .child_by_field_name("operator")
                .map(|o| text(o, src))
                .unwrap_or_default();
            format!("{op}{}", child("operand"))
        }
        // Names among them: one line always.
        _ => flat(n, src),
    }
}

fn flat_range(start: usize, end: usize, src: &str) -> String {
    let s = &src[start..end];
    if s.contains('\n') {
        "...".to_owned()
    } else {
        s.to_owned()
    }
}

/// The comment lines right above `decl` (no blank line between), as text.
fn doc_comment(before: &[Node<'_>], decl: Node<'_>, src: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut row = decl.start_position().row;
    for c in before.iter().rev() {
        if c.kind() != "comment" || c.end_position().row + 1 != row {
            break;
        }
        lines.push(text(*c, src));
        row = c.start_position().row;
    }
    lines.reverse();
    comment_text(&lines)
}

/// The comment of a spec inside a group: the comments right above it within the group.
fn own_comment(spec: Node<'_>, src: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut row = spec.start_position().row;
    let mut prev = spec.prev_named_sibling();
    while let Some(c) = prev {
        if c.kind() != "comment" || c.end_position().row + 1 != row {
            break;
        }
        lines.push(text(c, src));
        row = c.start_position().row;
        prev = c.prev_named_sibling();
    }
    lines.reverse();
    comment_text(&lines)
}

/// Comment text without `//`, `/*`, `*/`, without `//go:` and `//line` directives, and
/// without trailing blanks on each line (go/ast's `CommentGroup.Text`).
fn comment_text(comments: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in comments {
        if let Some(line) = c.strip_prefix("//") {
            if line.starts_with("go:") || line.starts_with("line ") {
                continue;
            }
            out.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
        } else if let Some(body) = c.strip_prefix("/*").and_then(|b| b.strip_suffix("*/")) {
            out.extend(body.lines().map(|l| l.trim_end().to_owned()));
        }
    }
    let mut text = out.join("\n");
    while text.ends_with('\n') {
        text.pop();
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(src: &str) -> Package {
        read_package(
            &[("a.go".to_owned(), src.to_owned())],
            &Context::linux_amd64(),
        )
        .unwrap()
    }

    /// The declarations of the types of package source `src`, by name.
    fn type_sources(src: &str) -> Vec<String> {
        pkg(src).types.into_iter().map(|t| t.source).collect()
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// The `.go` files of `tests/fixtures/docpkg`, as (name, source).
    fn docpkg_files() -> Vec<(String, String)> {
        let mut files = Vec::new();
        for e in std::fs::read_dir(fixture("docpkg")).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".go") {
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
        files
    }

    /// The declarations `go doc -all` prints, in its order (package constants, variables,
    /// functions, then each type with its constants, variables, functions and methods): the
    /// declaration (a type's whole, else its first line) and its doc's first paragraph (`""` when it has none), its
    /// lines joined by spaces.
    fn go_doc_all_decls(all: &str) -> Vec<(String, String)> {
        let lines: Vec<&str> = all.lines().collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let starts = ["const ", "var ", "func ", "type "];
            if !starts.iter().any(|s| line.starts_with(s)) {
                continue;
            }
            // The doc is indented by four spaces after the declaration (a group or a body
            // ends with a line starting `)` or `}`), before a blank line or the next one.
            let end = match line.ends_with('(') || line.ends_with('{') {
                true => lines[i..]
                    .iter()
                    .position(|l| l.starts_with(')') || l.starts_with('}'))
                    .map_or(i, |k| i + k),
                false => i,
            };
            let doc: Vec<&str> = lines[end + 1..]
                .iter()
                .take_while(|l| !l.is_empty() && !starts.iter().any(|s| l.starts_with(s)))
                .filter_map(|l| l.strip_prefix("    "))
                .collect();
            // A type's whole declaration (unexported items left out), else its first line.
            let decl = match line.starts_with("type ") {
                true => lines[i..=end].join("\n"),
                false => (*line).to_owned(),
            };
            out.push((decl, doc.join(" ")));
        }
        out
    }

    /// The same list from what `read_package` read.
    fn our_decls(p: &Package) -> Vec<(String, String)> {
        let first = |s: &str| s.lines().next().unwrap_or_default().to_owned();
        // go doc wraps a doc's first paragraph at 80 columns.
        let para = |s: &str| {
            s.split("\n\n")
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let value = |v: &Value| (first(&v.source), para(&v.doc));
        let func = |f: &Func| (f.line.clone(), para(&f.doc));
        let mut out: Vec<(String, String)> = p.consts.iter().chain(&p.vars).map(value).collect();
        out.extend(p.funcs.iter().map(func));
        for t in &p.types {
            out.push((t.source.clone(), para(&t.doc)));
            out.extend(t.consts.iter().chain(&t.vars).map(value));
            out.extend(t.funcs.iter().chain(&t.methods).map(func));
        }
        out
    }

    /// The fixture package `tests/fixtures/docpkg` (generics, embedding, value groups,
    /// constructors, cgo and build constraints) read as go 1.27's `go doc` reads it: its
    /// `-short` listing, and every declaration `-all` lists, in its order, with its doc (each
    /// method under its type, promoted ones with their receivers). go's output is pinned
    /// beside the fixture (`docpkg.go-doc-short.txt`, `docpkg.go-doc-all.txt`);
    /// `tests/doc_api.rs` checks the pins against the go command.
    #[test]
    fn fixture_package_reads_as_go_doc_reads_it() {
        let p = read_package(&docpkg_files(), &Context::linux_amd64()).unwrap();
        let pinned = |name| std::fs::read_to_string(fixture(name)).unwrap();
        assert_eq!(short(&p), pinned("docpkg.go-doc-short.txt"));
        let want = go_doc_all_decls(&pinned("docpkg.go-doc-all.txt"));
        assert_eq!(our_decls(&p), want);
        assert!(want.len() > 30, "{want:?}");
    }

    /// A function returning `(*T, error)` is no constructor once the package has used
    /// `error` as a type (`var ErrBad error`); with a dot import, what belongs to a type
    /// declared nowhere stays listed. Every file's package comment counts, in file order.
    #[test]
    fn used_predeclared_names_and_dot_imports_as_go_doc_has_them() {
        let files = [
            (
                "a.go".to_owned(),
                "// Package dq has an error variable and a dot import.\npackage dq\n\nimport . \"strings\"\n\n// ErrBad makes error a name the package has used.\nvar ErrBad error\n\n// T is a type.\ntype T struct{}\n\n// Make returns a T and an error: no constructor after ErrBad.\nfunc Make() (*T, error) { return nil, nil }\n\n// NewReader returns a type a dot import may declare.\nfunc NewReader() *Reader { return nil }\n\nfunc Fields2() []string { return Fields(\"\") }\n\nconst (\n\t// Max is typed with a type declared nowhere.\n\tMax Builder = 1\n)\n".to_owned(),
            ),
            (
                "c.go".to_owned(),
                "// Second file's package comment.\npackage dq\n\nfunc C() {}\n".to_owned(),
            ),
        ];
        let p = read_package(&files, &Context::linux_amd64()).unwrap();
        assert_eq!(
            short(&p),
            // What go 1.27's `go doc -short` prints for this package.
            "const Max Builder = 1\n\
             var ErrBad error\n\
             func C()\n\
             func Fields2() []string\n\
             func Make() (*T, error)\n\
             func NewReader() *Reader\n\
             type T struct{}\n"
        );
        assert_eq!(
            p.doc,
            "Package dq has an error variable and a dot import.\n\nSecond file's package comment.\n"
        );
        assert_eq!(p.imports, ["strings"]);
        // A dot import in an import group counts the same.
        let grouped = [(
            "a.go".to_owned(),
            files[0].1.replace(
                "import . \"strings\"",
                "import (\n\t\"fmt\"\n\t. \"strings\"\n)",
            ),
        )];
        let g = read_package(&grouped, &Context::linux_amd64()).unwrap();
        assert!(
            short(&g).contains("func NewReader() *Reader\n"),
            "{}",
            short(&g)
        );
    }

    /// A file of another package, or with no package clause, is left out: go doc refuses a
    /// directory of two packages; the shelf documents the first one in file-name order.
    #[test]
    fn files_of_another_package_or_of_none_are_left_out() {
        let file = |name: &str, src: &str| (name.to_owned(), src.to_owned());
        let files = [
            file("a.go", "package a\n\nfunc A() {}\n"),
            file("b.go", "package b\n\nfunc B() {}\n"),
            file("c.go", "package a\n\nfunc C() {}\n"),
            file("d.go", "func D() {}\n"),
        ];
        let p = read_package(&files, &Context::linux_amd64()).unwrap();
        assert_eq!(p.name, "a");
        assert_eq!(short(&p), "func A()\nfunc C()\n");
        assert_eq!(Error::NoFiles.to_string(), "no Go files for linux/amd64");
        assert_eq!(
            Error::Parser("version 9".to_owned()).to_string(),
            "Go parser: version 9"
        );
    }

    /// Example functions take and return nothing; the output is the body's last comment,
    /// on a line of its own or after the last statement (go/doc's rule).
    #[test]
    fn examples_are_the_functions_that_take_and_return_nothing() {
        let files = [(
            "a_test.go".to_owned(),
            "package a\n\nfunc ExampleOne() {\n\t// Output: one\n}\n\nfunc ExampleTwo() {\n\ttwo() // Output: two\n}\n\nfunc ExampleResult() int { return 0 }\n\nfunc ExampleGeneric[T any]() {}\n\nfunc ExampleArgs(x int) {}\n".to_owned(),
        )];
        let ex = read_examples(&files, &Context::linux_amd64());
        let got: Vec<(&str, &str, Option<&str>, usize)> = ex
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.code.as_str(),
                    e.output.as_deref(),
                    e.pos.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("One", "", Some("one"), 3),
                ("Two", "two()", Some("two"), 7)
            ]
        );
    }

    /// A type in a group loses the group's indentation, tabs or spaces; one after `type `
    /// keeps its lines as written.
    #[test]
    fn grouped_types_lose_the_groups_indentation() {
        assert_eq!(
            type_sources("package a\n\ntype (\n    S struct {\n        A int\n    }\n\tT struct {\n\t\tB int\n\t}\n)\n\ntype U struct {\n\tC int\n}\n"),
            [
                "type S struct {\n    A int\n}",
                "type T struct {\n\tB int\n}",
                "type U struct {\n\tC int\n}"
            ]
        );
    }

    /// An unexported field's lines go with the comment lines right above it; one on the
    /// line of a brace (which gofmt never leaves) keeps the type as written.
    #[test]
    fn unexported_fields_go_with_their_comments() {
        assert_eq!(
            type_sources("package a\n\ntype C struct {\n\t// hidden is not shown,\n\t// nor this.\n\thidden int\n\t// Shown is.\n\tShown int\n\t// other neither.\n\tother int\n}\n\ntype D struct { d int\n\tE int\n}\n\ntype F struct {\n\tG int\n\tf int }\n"),
            [
                "type C struct {\n\t// Shown is.\n\tShown int\n\t// Has unexported fields.\n}",
                "type D struct { d int\n\tE int\n}",
                "type F struct {\n\tG int\n\tf int }",
            ]
        );
    }

    /// The walk of embedded types is bounded: 60 unexported types each embedding the next
    /// twice (2^60 paths: endless on the old walk) and a chain 20,000 types deep (a stack
    /// overflow on the old walk, which aborted the process) end at once; what the walk
    /// reaches within its bounds is still promoted, as go/doc promotes it. (Found by a review.)
    #[test]
    fn the_walk_of_embedded_types_is_bounded() {
        let mut wide = String::from("package w\n\ntype T struct {\n\ta1\n\t*a1\n}\n\n");
        for i in 1..60 {
            wide.push_str(&format!(
                "type a{i} struct {{\n\ta{n}\n\t*a{n}\n}}\n\n",
                n = i + 1
            ));
        }
        wide.push_str("type a60 struct{}\n\nfunc (a60) M() {}\n\nfunc (a1) Top() {}\n");
        let started = std::time::Instant::now();
        let p = pkg(&wide);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let t = p.types.iter().find(|t| t.name == "T").unwrap();
        let names: Vec<&str> = t.methods.iter().map(|m| m.name.as_str()).collect();
        // `a1` is embedded twice at level 1: go/doc's conflict hides its method.
        assert!(!names.contains(&"Top"), "{names:?}");

        let mut deep = String::from("package d\n\ntype T struct{ b0 }\n\n");
        for i in 0..20_000 {
            deep.push_str(&format!("type b{i} struct{{ b{} }}\n", i + 1));
        }
        deep.push_str("type b20000 struct{}\n\nfunc (b20000) Far() {}\nfunc (b3) Near() {}\n");
        let started = std::time::Instant::now();
        let p = pkg(&deep);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let t = p.types.iter().find(|t| t.name == "T").unwrap();
        let names: Vec<&str> = t.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["Near"],
            "within the bounds promoted, past them left out"
        );

        // The depth bound, exactly: `b{i}` is embedded at level i + 1.
        let mut edge = String::from("package e\n\ntype T struct{ b0 }\n\n");
        for i in 0..70 {
            edge.push_str(&format!("type b{i} struct{{ b{} }}\n", i + 1));
        }
        edge.push_str("type b70 struct{}\n\nfunc (b63) AtLimit() {}\nfunc (b64) Past() {}\n");
        let p = pkg(&edge);
        let t = p.types.iter().find(|t| t.name == "T").unwrap();
        let names: Vec<&str> = t.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["AtLimit"]);
    }

    /// Type parameters' constraints are one-line forms like any type.
    #[test]
    fn constraints_are_shortened_like_types() {
        let p = pkg("package dr\n\nfunc G[T interface{ M() }](t T) {}\n\nfunc H[T interface {\n\tM()\n}](t T) {\n}\n\nfunc K[T ~int | ~string](t T) {}\n");
        assert_eq!(
            short(&p),
            // What go 1.27's `go doc -short` prints for this package.
            "func G[T interface{ ... }](t T)\n\
             func H[T interface{ ... }](t T)\n\
             func K[T ~int | ~string](t T)\n"
        );
    }

    /// A list is cut with `...` where it would pass 80 bytes, counting `, ` after each item
    /// (cmd/doc's joinStrings).
    #[test]
    fn lists_are_cut_past_80_bytes() {
        let eight = vec!["abcdefgh".to_owned(); 8];
        assert_eq!(join(&eight), eight.join(", "));
        let nine = vec!["abcdefgh".to_owned(); 9];
        assert_eq!(join(&nine), format!("{}, ...", eight.join(", ")));
    }

    /// Types and values inside composite types are shortened at every level, down to
    /// cmd/doc's depth limit; a detached comment is no doc; a lone unnamed result has no
    /// parentheses.
    #[test]
    fn nested_types_are_shortened_to_the_depth_limit() {
        let p = pkg(r#"package dr

// Not a doc: a blank line follows.

// F has a named result of a struct type.
func F() (s struct{ A int }, err error) { return }

func P() (int) { return 0 }

var Slices []struct{ A int }

var Arrays [2]struct{ A int }

var Dots = [...]struct{ A int }{{1}}

var Maps map[string]struct{ A int }

var Funcs func(struct{ A int })

var Generic = New[int](1)

func New[T any](t T) *T { return &t }

var E5 [][][][][]int

var E6 [][][][][][]int

var E7 [][][][][][][]int

var E8 [][][][][][][][]int

var E9 [][][][][][][][][]int

var E10 [][][][][][][][][][]int

func P7(x [][][][][][][]int) {}

func R7() [][][][][][][]int { return nil }

type T7 [][][][][][][]int

var V7 = [][][][][][][]int{}

func P8(x [][][][][][][][]int) {}

func R8() [][][][][][][][]int { return nil }

type T8 [][][][][][][][]int

var V8 = [][][][][][][][]int{}

func P9(x [][][][][][][][][]int) {}

func R9() [][][][][][][][][]int { return nil }

type T9 [][][][][][][][][]int

var V9 = [][][][][][][][][]int{}

func P10(x [][][][][][][][][][]int) {}

func R10() [][][][][][][][][][]int { return nil }

type T10 [][][][][][][][][][]int

var V10 = [][][][][][][][][][]int{}

var Generic2 = Two[int, string](1, "a")

func Two[A, B any](a A, b B) int { return 0 }
"#);
        assert_eq!(
            short(&p),
            // What go 1.27's `go doc -short` prints for this package.
            "var Arrays [2]struct{ ... }\n\
             var Dots = [...]struct{ ... }{ ... }\n\
             var E10 [][][][][][][][][...]...\n\
             var E5 [][][][][]int\n\
             var E6 [][][][][][]int\n\
             var E7 [][][][][][][]int\n\
             var E8 [][][][][][][][]int\n\
             var E9 [][][][][][][][][...]...\n\
             var Funcs func(struct{ ... })\n\
             var Generic = New[int](1)\n\
             var Generic2 = Two[int, string](1, \"a\")\n\
             var Maps map[string]struct{ ... }\n\
             var Slices []struct{ ... }\n\
             var V10 = [][][][][][][][...]...{}\n\
             var V7 = [][][][][][][]int{}\n\
             var V8 = [][][][][][][][...]...{}\n\
             var V9 = [][][][][][][][...]...{}\n\
             func F() (s struct{ ... }, err error)\n\
             func New[T any](t T) *T\n\
             func P() int\n\
             func P10(x [][][][][][][][...]...)\n\
             func P7(x [][][][][][][]int)\n\
             func P8(x [][][][][][][][...]...)\n\
             func P9(x [][][][][][][][...]...)\n\
             func R10() [][][][][][][][...]...\n\
             func R7() [][][][][][][]int\n\
             func R8() [][][][][][][][...]...\n\
             func R9() [][][][][][][][...]...\n\
             func Two[A, B any](a A, b B) int\n\
             type T10 [][][][][][][][][...]...\n\
             type T7 [][][][][][][]int\n\
             type T8 [][][][][][][][]int\n\
             type T9 [][][][][][][][][...]...\n"
        );
        let f = p.funcs.iter().find(|f| f.name == "F").unwrap();
        assert_eq!(f.doc, "F has a named result of a struct type.\n");
    }

    /// Directives (`//go:...`, `//line ...`) are no part of a doc comment; a `/* */`
    /// comment's lines are.
    #[test]
    fn directives_are_left_out_of_docs() {
        let p = pkg("package a\n\n// F is documented.\n//go:noinline\n//line a.go:10\nfunc F() {}\n\n/* G is\n   documented. */\nfunc G() {}\n");
        let docs: Vec<&str> = p.funcs.iter().map(|f| f.doc.as_str()).collect();
        // go/ast's CommentGroup.Text: trailing blanks go, a block's leading ones stay.
        assert_eq!(docs, ["F is documented.\n", " G is\n   documented.\n"]);
    }

    /// Every declaration's position is the file and line where it starts (a promoted method
    /// keeps its own).
    #[test]
    fn positions_are_the_declarations_lines() {
        let files = docpkg_files();
        let p = read_package(&files, &Context::linux_amd64()).unwrap();
        let line_of = |pos: &Pos| -> String {
            let (_, src) = files.iter().find(|(n, _)| *n == pos.file).unwrap();
            src.lines().nth(pos.line - 1).unwrap().to_owned()
        };
        let mut checked = 0;
        let mut check = |pos: &Pos, starts: &str| {
            let line = line_of(pos);
            assert!(
                line.trim_start().starts_with(starts),
                "{pos:?}: {line:?}, want {starts:?}"
            );
            checked += 1;
        };
        for v in p.consts.iter().chain(&p.vars) {
            check(&v.pos, v.line.split(' ').next().unwrap());
        }
        for f in &p.funcs {
            // A method of a type declared nowhere is listed with the functions.
            let line = line_of(&f.pos);
            assert!(line.starts_with("func "), "{line:?}");
            assert!(
                line.contains(&format!("{}(", f.name)) || line.contains(&format!("{}[", f.name)),
                "{line:?}"
            );
        }
        for t in &p.types {
            // A type in a group starts at its name, else at `type`.
            let line = line_of(&t.pos);
            assert!(
                line.starts_with(&format!("type {}", t.name))
                    || line.starts_with(&format!("\t{} ", t.name)),
                "{}: {line:?}",
                t.name
            );
            for f in t.funcs.iter() {
                check(&f.pos, &format!("func {}", f.name));
            }
            for m in &t.methods {
                let line = line_of(&m.pos);
                assert!(
                    line.starts_with("func (") && line.contains(&format!(") {}(", m.name)),
                    "{line:?}"
                );
            }
        }
        assert!(checked > 10, "{checked}");
        let wrapper = p.types.iter().find(|t| t.name == "Wrapper").unwrap();
        let name = wrapper.methods.iter().find(|m| m.name == "Name").unwrap();
        assert_eq!(name.pos.file, "doc.go");
        assert_eq!(
            line_of(&name.pos),
            "func (base) Name() string { return \"\" }"
        );
    }

    #[test]
    fn short_lists_what_go_doc_lists() {
        let p = pkg(r#"// Package a is a test.
package a

import "errors"

// Errors.
var (
	ErrA = errors.New("a")
	errb = errors.New("b")
)

const Big = 1 << 40

const (
	x = iota
	Y
)

type Kind int

const (
	KindA Kind = iota
	KindB
)

// T is a type.
type T[K comparable, V any] struct {
	X int
	y string
}

type Empty struct{}

type I interface {
	M(a, b int) (n int, err error)
}

type Alias = map[string][]int

// New makes a T.
func New[K comparable, V any](xs ...int) *T[K, V] { return nil }

func NewPair() (*T[int, int], *T[int, int]) { return nil, nil }

func Parse(s string) ([]Kind, error) { return nil, nil }

func (t *T[K, V]) Do(f func(int) bool) error { return nil }

func hidden() {}

var Cfg = Config{name: "x"}

var Ptr = &Config{name: "x"}

type Config struct{ name string }
"#);
        assert_eq!(
            short(&p),
            // What go 1.27's `go doc -short` prints for this package.
            "const Y ...\n\
             const Big = 1 << 40\n\
             var ErrA = errors.New(\"a\") ...\n\
             var Cfg = Config{ ... }\n\
             var Ptr = &Config{ ... }\n\
             func NewPair() (*T[int, int], *T[int, int])\n\
             type Alias = map[string][]int\n\
             type Config struct{ ... }\n\
             type Empty struct{}\n\
             type I interface{ ... }\n\
             type Kind int\n\
             \x20   const KindA Kind = iota ...\n\
             \x20   func Parse(s string) ([]Kind, error)\n\
             type T[K comparable, V any] struct{ ... }\n\
             \x20   func New[K comparable, V any](xs ...int) *T[K, V]\n"
        );
        assert_eq!(p.name, "a");
        assert_eq!(p.doc, "Package a is a test.\n");
        let t = p.types.iter().find(|t| t.name == "T").unwrap();
        assert_eq!(t.doc, "T is a type.\n");
        assert_eq!(
            t.methods[0].line,
            "func (t *T[K, V]) Do(f func(int) bool) error"
        );
        assert_eq!(t.funcs[0].doc, "New makes a T.\n");
    }

    #[test]
    fn long_lists_are_cut_and_multi_line_values_elided() {
        let p = pkg("package a\n\nfunc F(aaaaaaaaaa, bbbbbbbbbb, cccccccccc, dddddddddd, eeeeeeeeee, ffffffffff, gggggggggg int) {}\n\nvar V = `x\ny`\n\nvar W = func() int { return 1 }()\n");
        assert_eq!(
            short(&p),
            "var V = ...\n\
             var W = func() int { ... }()\n\
             func F(...)\n"
        );
    }

    /// Deep nesting and broken sources: read without a panic or a stack overflow.
    #[test]
    fn hostile_sources_are_read_without_panic() {
        let deep_ptr = format!(
            "package a\n\ntype T {}int\n\nvar V {}T\n",
            "*".repeat(50_000),
            "*".repeat(50_000)
        );
        let deep_paren = format!(
            "package a\n\nvar X = {}1{}\n",
            "(".repeat(20_000),
            ")".repeat(20_000)
        );
        let deep_func = format!(
            "package a\n\nfunc F(f {}) {{}}\n",
            "func(".repeat(5_000) + &")".repeat(5_000)
        );
        for src in [
            deep_ptr.as_str(),
            deep_paren.as_str(),
            deep_func.as_str(),
            "package a\n\nfunc (",
            "package a\n\ntype ( A struct { B",
            "package a\n\nconst ( A = iota; B; C = \"\n",
            "package a\n\nvar , = 1\n",
            "package\n",
            "\u{0}\u{1}package a",
        ] {
            let files = [("a.go".to_owned(), src.to_owned())];
            let _ = read_package(&files, &Context::linux_amd64()).map(|p| short(&p));
            let _ = read_examples(&files, &Context::linux_amd64());
        }
    }

    #[test]
    fn files_for_other_systems_are_left_out() {
        let files = [
            ("a.go".to_owned(), "package a\n\nfunc A() {}\n".to_owned()),
            (
                "a_windows.go".to_owned(),
                "package a\n\nfunc W() {}\n".to_owned(),
            ),
            (
                "b.go".to_owned(),
                "//go:build !linux\n\npackage a\n\nfunc B() {}\n".to_owned(),
            ),
            (
                "a_test.go".to_owned(),
                "package a\n\nfunc T() {}\n".to_owned(),
            ),
            (
                "gen.go".to_owned(),
                "//go:build ignore\n\npackage main\n\nfunc G() {}\n".to_owned(),
            ),
        ];
        let p = read_package(&files, &Context::linux_amd64()).unwrap();
        assert_eq!(short(&p), "func A()\n");
        assert_eq!(
            read_package(&files[1..2], &Context::linux_amd64()),
            Err(Error::NoFiles)
        );
    }
}
