//! Package documentation pages (`/ui/{owner}/{module}/@v/{version}/pkg/{dir}`, and at
//! `@latest`), the source view of a version's files (`.../src/{path}`, lines anchored
//! `#L{n}`), the same for the pull-through cache's versions (`/cache/{module}/@v/...`, for
//! admins, who alone see the cache in the UI), the symbol search of the home page, and
//! "imported by" across the shelf. Every page follows the UI's one visibility rule
//! (`can_view`): a namespace the viewer may not read has no pages, 404, whatever is asked of
//! it.

use std::io::Seek;
use std::sync::Arc;

use http::StatusCode;

use super::browse::{can_view, parse_module_path, ModuleQuery, Sub};
use super::facts::{version_facts, BlobCursor, Shelf};
use super::signin::{viewer, Viewer};
use super::{chrome, html, not_found_page, render};
use crate::auth::Principal;
use crate::gomod::doc::module::ModuleDocs;
use crate::gomod::proxy::select_latest;
use crate::http::body::Response;
use crate::http::error::ApiError;
use crate::http::{blocking, AppState};
use crate::store::Store;
use crate::web::docpage::{self, PageInput, Target};
use crate::web::pages;

/// The largest file the source view shows.
pub const MAX_SOURCE: u64 = 2 << 20;
/// Most symbol search results, and most "imported by" rows.
const MAX_SYMBOLS: usize = 100;
/// Most modules a symbol search or "imported by" reads: the latest published.
const MAX_SCANNED: usize = 1_000;

/// The latest version of a module the viewer may see, and the one asked for (the latest
/// when `want` is `None`), if both exist. The cache's versions are an admin's to see (as its
/// page is), those whose zip is cached.
fn resolve(
    s: &Store,
    p: Option<&Principal>,
    shelf: &Shelf,
    module: &str,
    want: Option<&str>,
) -> Result<Option<(String, String)>, ApiError> {
    let versions: Vec<String> = match shelf {
        Shelf::Hosted(owner) => {
            if !can_view(s, p, owner)? {
                return Ok(None);
            }
            let Some(versions) = s.list_versions(owner, module)? else {
                return Ok(None);
            };
            versions.into_iter().map(|(v, _)| v).collect()
        }
        Shelf::Cached => {
            if !p.is_some_and(|p| p.is_admin) {
                return Ok(None);
            }
            let mut with_zip = Vec::new();
            for v in s.cached_versions(module)? {
                if s.cached(module, &v)?.is_some_and(|r| r.blake3.is_some()) {
                    with_zip.push(v);
                }
            }
            with_zip
        }
    };
    let Some(latest) = select_latest(versions.iter().map(String::as_str)) else {
        return Ok(None);
    };
    let shown = want.unwrap_or(latest);
    if !versions.iter().any(|v| v == shown) {
        return Ok(None);
    }
    Ok(Some((latest.to_owned(), shown.to_owned())))
}

/// The docs of a version: from memory, the database, or (on the upload pool, where reading
/// zips is bounded) the zip.
pub(super) async fn docs_of(
    state: &AppState,
    shelf: Shelf,
    module: &str,
    version: &str,
) -> Result<Option<Arc<ModuleDocs>>, ApiError> {
    let s = Arc::clone(&state.store);
    let ui = Arc::clone(&state.ui);
    let (module, version) = (module.to_owned(), version.to_owned());
    state
        .uploads
        .run(move || version_facts(&s, &ui.docs, &shelf, &module, &version))
        .await
}

/// `/cache/{module}/@v/{version}/pkg/{dir}` (or `@latest`, or `/src/{path}`): a cached
/// version's docs and sources, for admins; a 404 page for anyone else.
pub(super) async fn cached_page(
    state: AppState,
    headers: http::HeaderMap,
    tail: String,
) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let parsed = crate::gomod::proxy::percent_decode(&tail)
        .and_then(|d| parse_module_path(d.trim_end_matches('/')));
    let Some((module, version, page)) = parsed else {
        return Ok(not_found_page(viewer.as_ref(), "No such page."));
    };
    let q = ModuleQuery {
        owner: String::new(),
        module,
        version,
        page: page.clone(),
    };
    match page {
        Sub::Package(dir) => package_page(state, viewer, Shelf::Cached, q, dir).await,
        Sub::Source(path) => source_page(state, viewer, Shelf::Cached, q, path).await,
        Sub::Module => Ok(not_found_page(viewer.as_ref(), "No such page.")),
    }
}

fn target<'a>(shelf: &'a Shelf, module: &'a str, version: &'a str) -> Target<'a> {
    match shelf {
        Shelf::Hosted(owner) => Target::hosted(owner, module, version),
        Shelf::Cached => Target::cached(module, version),
    }
}

fn not_found(viewer: Option<&Viewer>, q: &ModuleQuery, what: &str) -> Response {
    let at = match &q.version {
        Some(v) => format!("{}@{v}", q.module),
        None => q.module.clone(),
    };
    not_found_page(
        viewer,
        &format!("There is no {what} in {at} in a namespace you can see."),
    )
}

/// `resolve` for the version a page asks, on the blocking pool.
async fn resolved(
    state: &AppState,
    viewer: Option<&Viewer>,
    shelf: &Shelf,
    q: &ModuleQuery,
) -> Result<Option<(String, String)>, ApiError> {
    let s = Arc::clone(&state.store);
    let p = viewer.map(|v| v.principal.clone());
    let (sh, module, want) = (shelf.clone(), q.module.clone(), q.version.clone());
    blocking(move || resolve(&s, p.as_ref(), &sh, &module, want.as_deref())).await
}

pub(super) async fn package_page(
    state: AppState,
    viewer: Option<Viewer>,
    shelf: Shelf,
    q: ModuleQuery,
    dir: String,
) -> Result<Response, ApiError> {
    let found = resolved(&state, viewer.as_ref(), &shelf, &q).await?;
    let what = if dir.is_empty() {
        "root package".to_owned()
    } else {
        format!("package {dir}")
    };
    let Some((latest, shown)) = found else {
        return Ok(not_found(viewer.as_ref(), &q, &what));
    };
    let Some(docs) = docs_of(&state, shelf.clone(), &q.module, &shown).await? else {
        return Ok(not_found(viewer.as_ref(), &q, &what));
    };
    let Some(pkg) = docs.package(&dir) else {
        return Ok(not_found(viewer.as_ref(), &q, &what));
    };
    let import_path = pkg.import_path.clone();
    let imported_by = search(&state, viewer.as_ref(), move |owner, module, version, d| {
        d.packages
            .iter()
            .filter(|p| p.api.imports.contains(&import_path))
            .map(|p| {
                (
                    p.import_path.clone(),
                    pages::package_href(owner, module, Some(version), &p.dir),
                )
            })
            .collect()
    })
    .await?;
    let page = docpage::package_page(PageInput {
        chrome: chrome(
            format!("{} ({})", pkg.import_path, shown),
            viewer.as_ref(),
            "",
        ),
        docs: &docs,
        pkg,
        target: target(&shelf, &q.module, &shown),
        latest: &latest,
        imported_by,
    });
    Ok(html(StatusCode::OK, render(&page)?))
}

/// Runs `f` over the docs of the latest version of every module the viewer may see (from
/// memory, the database, or, for small modules whose docs are not stored, their zip: on the
/// upload pool, where reading zips is bounded), collecting at most `MAX_SYMBOLS` results.
/// At most `MAX_SCANNED` modules are read, those published last first, so that no request
/// holds the pool long whatever the shelf holds.
async fn search<T, F>(state: &AppState, viewer: Option<&Viewer>, f: F) -> Result<Vec<T>, ApiError>
where
    T: Send + 'static,
    F: Fn(&str, &str, &str, &ModuleDocs) -> Vec<T> + Send + 'static,
{
    let s = Arc::clone(&state.store);
    let ui = Arc::clone(&state.ui);
    let p = viewer.map(|v| v.principal.clone());
    state
        .uploads
        .run(move || -> Result<_, ApiError> {
            // (owner, module) -> (its newest publish time, its versions)
            let mut modules: std::collections::HashMap<(String, String), (i64, Vec<String>)> =
                std::collections::HashMap::new();
            for (owner, _) in s.visible_namespaces(p.as_ref())? {
                for v in s.list_all_versions(Some(&owner))? {
                    let e = modules.entry((owner.clone(), v.module)).or_default();
                    e.0 = e.0.max(v.time);
                    e.1.push(v.version);
                }
            }
            let mut order: Vec<_> = modules.into_iter().collect();
            order.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
            let mut out = Vec::new();
            for ((owner, module), (_, versions)) in order.into_iter().take(MAX_SCANNED) {
                let Some(latest) = select_latest(versions.iter().map(String::as_str)) else {
                    continue;
                };
                let shelf = Shelf::Hosted(owner.clone());
                let Some(docs) = version_facts(&s, &ui.docs, &shelf, &module, latest)? else {
                    continue;
                };
                out.extend(f(&owner, &module, latest, &docs));
                if out.len() >= MAX_SYMBOLS {
                    out.truncate(MAX_SYMBOLS);
                    break;
                }
            }
            Ok(out)
        })
        .await
}

/// What a query asks: `Name`, `Type.Method` or `pkg.Name` (case-insensitive).
fn symbol_matches(query: &str, pkg_name: &str, recv: &str, name: &str) -> bool {
    let q = query.to_lowercase();
    match q.split_once('.') {
        Some((a, b)) => {
            b == name.to_lowercase()
                && (a == recv.to_lowercase() || (recv.is_empty() && a == pkg_name.to_lowercase()))
        }
        None => q == name.to_lowercase(),
    }
}

/// The home page's symbol search: exported symbols of the latest versions the viewer may
/// see whose name is the query (`NewReader`, `Client.Do`, `http.Get`).
pub(super) async fn symbol_search(
    state: &AppState,
    viewer: Option<&Viewer>,
    query: &str,
) -> Result<Vec<pages::SymbolRow>, ApiError> {
    let q = query.trim().to_owned();
    if q.is_empty() || q.contains(char::is_whitespace) || q.matches('.').count() > 1 {
        return Ok(Vec::new());
    }
    search(state, viewer, move |owner, module, version, docs| {
        let mut out = Vec::new();
        for p in &docs.packages {
            let api = &p.api;
            let href = |id: &str| {
                format!(
                    "{}#{id}",
                    pages::package_href(owner, module, Some(version), &p.dir)
                )
            };
            let mut hit = |recv: &str, name: &str, line: &str, id: &str| {
                if symbol_matches(&q, &api.name, recv, name) {
                    out.push(pages::SymbolRow {
                        import_path: p.import_path.clone(),
                        symbol: if recv.is_empty() {
                            format!("{}.{name}", api.name)
                        } else {
                            format!("{}.{recv}.{name}", api.name)
                        },
                        line: line.to_owned(),
                        href: href(id),
                    });
                }
            };
            let values = api.consts.iter().chain(&api.vars);
            for v in values {
                for n in &v.names {
                    hit("", n, &v.line, n);
                }
            }
            for f in &api.funcs {
                hit("", &f.name, &f.line, &f.name);
            }
            for t in &api.types {
                hit("", &t.name, &t.line, &t.name);
                for v in t.consts.iter().chain(&t.vars) {
                    for n in &v.names {
                        hit("", n, &v.line, n);
                    }
                }
                for f in &t.funcs {
                    hit("", &f.name, &f.line, &f.name);
                }
                for m in &t.methods {
                    hit(&t.name, &m.name, &m.line, &format!("{}.{}", t.name, m.name));
                }
            }
        }
        out
    })
    .await
}

/// One file of a version's zip, read on the upload pool: `None` when absent.
fn read_source(
    s: &Store,
    shelf: &Shelf,
    module: &str,
    version: &str,
    path: &str,
) -> Result<Option<(u64, Option<String>)>, ApiError> {
    let Some((_, reader)) = shelf.open(s, module, version)? else {
        return Ok(None);
    };
    let mut cursor = BlobCursor::new(reader);
    let size = cursor
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| ApiError::internal("reading a zip", &e))?;
    let listing = crate::gomod::zip::Listing::read(&mut cursor, size)
        .map_err(|e| ApiError::internal("reading a zip", &e))?;
    let name = format!("{module}@{version}/{path}");
    let Some(entry) = listing
        .entries()
        .find(|e| !e.is_dir && e.name == name.as_bytes())
    else {
        return Ok(None);
    };
    if entry.size > MAX_SOURCE {
        return Ok(Some((entry.size, None)));
    }
    let (index, size) = (entry.index, entry.size);
    let bytes = listing
        .contents(&mut cursor, index)
        .map_err(|e| ApiError::internal("reading a zip", &e))?;
    Ok(Some((size, String::from_utf8(bytes).ok())))
}

pub(super) async fn source_page(
    state: AppState,
    viewer: Option<Viewer>,
    shelf: Shelf,
    q: ModuleQuery,
    path: String,
) -> Result<Response, ApiError> {
    let found = resolved(&state, viewer.as_ref(), &shelf, &q).await?;
    let what = format!("file {path}");
    let Some((_, shown)) = found else {
        return Ok(not_found(viewer.as_ref(), &q, &what));
    };
    let s = Arc::clone(&state.store);
    let (sh, module, version, file) =
        (shelf.clone(), q.module.clone(), shown.clone(), path.clone());
    let read = state
        .uploads
        .run(move || read_source(&s, &sh, &module, &version, &file))
        .await?;
    let Some((size, text)) = read else {
        return Ok(not_found(viewer.as_ref(), &q, &what));
    };
    let t = target(&shelf, &q.module, &shown);
    let page = pages::SourcePage {
        chrome: chrome(
            format!("{path} ({}@{shown})", q.module),
            viewer.as_ref(),
            "",
        ),
        owner_href: t.owner_href.clone(),
        module_href: t.module_href.clone(),
        version_href: t.version_base.clone(),
        owner: t.owner.to_owned(),
        module: q.module.clone(),
        version: shown,
        size: pages::size(size),
        shown: text.is_some(),
        lines: text
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        path,
    };
    Ok(html(StatusCode::OK, render(&page)?))
}

#[cfg(test)]
mod tests {
    use super::symbol_matches;

    #[test]
    fn symbol_queries_name_a_symbol_a_method_or_a_package_symbol() {
        // (query, package name, receiver, name, matches)
        for (q, pkg, recv, name, want) in [
            ("NewReader", "bufio", "", "NewReader", true),
            ("newreader", "bufio", "", "NewReader", true),
            ("NewRead", "bufio", "", "NewReader", false),
            ("Client.Do", "http", "Client", "Do", true),
            ("client.do", "http", "Client", "Do", true),
            ("Client.Do", "http", "Request", "Do", false),
            ("http.Get", "http", "", "Get", true),
            ("http.Get", "http", "Client", "Get", false),
            ("url.Get", "http", "", "Get", false),
            ("Do", "http", "Client", "Do", true),
        ] {
            assert_eq!(
                symbol_matches(q, pkg, recv, name),
                want,
                "{q} ~ {pkg}.{recv}.{name}"
            );
        }
    }
}
