//! Browsing: the home page (with search), a namespace's page, a module's page at a version,
//! the `?go-get=1` answer, and what they share (who may see a namespace, module rows); and
//! saving the download counts the module page shows.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};

use super::facts::{version_facts, Shelf};
use super::signin::{viewer, Viewer};
use super::{base_url, chrome, html, not_found_page, render, request_host};
use crate::auth::{self, Access, Principal};
use crate::gomod::proxy::select_latest;
use crate::gomod::{modfile, path as modpath, version as semver};
use crate::http::body::Response;
use crate::http::edge::ConnInfo;
use crate::http::error::ApiError;
use crate::http::{blocking, AppState};
use crate::store::{self, NamespaceRecord, Store};
use crate::web::facts::{FactsKey, ZipFacts};
use crate::web::pages;

/// The one visibility rule of the UI: whether `viewer` may read namespace `owner` (a missing
/// namespace is not visible), as the accounts rules say (`Store::namespace_access`).
///
/// # Errors
/// Storage errors.
pub fn can_view(
    store: &Store,
    viewer: Option<&Principal>,
    owner: &str,
) -> Result<bool, store::Error> {
    Ok(store.namespace_access(owner, viewer)? >= Access::Read
        && store.get_namespace(owner)?.is_some())
}

/// Namespaces `viewer` may see, by name.
fn visible_namespaces(
    store: &Store,
    viewer: Option<&Principal>,
) -> Result<Vec<(String, NamespaceRecord)>, store::Error> {
    store.visible_namespaces(viewer)
}

/// Versions newest first by semver (never by upload time or string order).
fn sort_desc(versions: &mut [(String, store::VersionRecord)]) {
    versions.sort_by(|a, b| semver::compare(&b.0, &a.0).then_with(|| b.0.cmp(&a.0)));
}

pub(super) struct ModuleQuery {
    pub owner: String,
    pub module: String,
    /// `None`: the latest.
    pub version: Option<String>,
    pub page: Sub,
}

/// Which page of a module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sub {
    /// The module page.
    Module,
    /// A package's documentation: its directory (`""` for the root).
    Package(String),
    /// A file of the zip: its path below the module root.
    Source(String),
}

/// Parses what follows the version (or `@latest`): nothing, `pkg[/{dir}]` or `src/{path}`.
fn parse_sub(rest: &str) -> Option<Sub> {
    match rest.split_once('/') {
        None if rest.is_empty() => Some(Sub::Module),
        None if rest == "pkg" => Some(Sub::Package(String::new())),
        Some(("pkg", dir)) if !dir.is_empty() => Some(Sub::Package(dir.to_owned())),
        Some(("src", path)) if !path.is_empty() => Some(Sub::Source(path.to_owned())),
        _ => None,
    }
}

/// Parses what follows `/ui/`: `{owner}[/{module}[/@v/{version}[/pkg[/{dir}]|/src/{path}]]]`
/// or `{owner}/{module}/@latest/pkg[/{dir}]`, module and version `!`-escaped, all of it
/// percent-decoded. Module paths never hold `@`, so the splits are unambiguous.
fn parse_ui_path(tail: &str) -> Option<(String, Option<ModuleQuery>)> {
    let decoded = crate::gomod::proxy::percent_decode(tail)?;
    let decoded = decoded.trim_end_matches('/');
    let (owner, rest) = match decoded.split_once('/') {
        Some((o, r)) => (o, Some(r)),
        None => (decoded, None),
    };
    let owner = auth::normalize_owner(owner)?;
    let Some(rest) = rest else {
        return Some((owner, None));
    };
    let (module, version, page) = parse_module_path(rest)?;
    Some((
        owner.clone(),
        Some(ModuleQuery {
            owner,
            module,
            version,
            page,
        }),
    ))
}

/// Parses `{module}[/@v/{version}[/pkg[/{dir}]|/src/{path}]]` or
/// `{module}/@latest/pkg[/{dir}]` (decoded already): the module path and version
/// `!`-unescaped, and the page asked.
pub(super) fn parse_module_path(rest: &str) -> Option<(String, Option<String>, Sub)> {
    let (escaped_module, version, page) = if let Some((m, at)) = rest.split_once("/@v/") {
        let (v, sub) = at.split_once('/').unwrap_or((at, ""));
        (m, Some(modpath::unescape_version(v).ok()?), parse_sub(sub)?)
    } else if let Some((m, sub)) = rest.split_once("/@latest/") {
        match parse_sub(sub)? {
            Sub::Package(dir) => (m, None, Sub::Package(dir)),
            _ => return None,
        }
    } else {
        (rest, None, Sub::Module)
    };
    let module = modpath::unescape_path(escaped_module)
        .ok()?
        .as_str()
        .to_owned();
    Some((module, version, page))
}

pub(super) async fn ui_page(
    state: AppState,
    tail: String,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let Some((owner, query)) = parse_ui_path(&tail) else {
        return Ok(not_found_page(viewer.as_ref(), "No such page."));
    };
    let base = base_url(conn, &headers);
    match query {
        None => namespace_page(state, viewer, owner, base).await,
        Some(q) => {
            let shelf = Shelf::Hosted(q.owner.clone());
            match q.page.clone() {
                Sub::Module => module_page(state, viewer, q, base).await,
                Sub::Package(dir) => super::docs::package_page(state, viewer, shelf, q, dir).await,
                Sub::Source(path) => super::docs::source_page(state, viewer, shelf, q, path).await,
            }
        }
    }
}

async fn namespace_page(
    state: AppState,
    viewer: Option<Viewer>,
    owner: String,
    base: String,
) -> Result<Response, ApiError> {
    let s = Arc::clone(&state.store);
    let p = viewer.as_ref().map(|v| v.principal.clone());
    let o = owner.clone();
    let found = blocking(move || -> Result<_, store::Error> {
        if !can_view(&s, p.as_ref(), &o)? {
            return Ok(None);
        }
        let Some(ns) = s.get_namespace(&o)? else {
            return Ok(None);
        };
        // The form shows to those whose forms would be allowed (`signin::form_actor`).
        let can_edit = match &p {
            Some(p) => {
                let writer = super::signin::form_actor(p);
                s.namespace_access(&o, Some(&writer))? >= crate::auth::Access::Write
            }
            None => false,
        };
        Ok(Some((ns, s.list_all_versions(Some(&o))?, can_edit)))
    })
    .await?;
    let Some((ns, versions, can_edit)) = found else {
        return Ok(not_found_page(
            viewer.as_ref(),
            &format!("There is no namespace {owner} that you can see."),
        ));
    };
    let rules = ns.retention.unwrap_or_default();
    let shown = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    let page = pages::NamespacePage {
        chrome: chrome(owner.clone(), viewer.as_ref(), ""),
        private: ns.visibility != "public",
        proxy_url: format!("{base}/api/packages/{owner}/go"),
        modules: module_rows(&versions),
        owner,
        retention: rules.describe(),
        can_edit,
        keep_pseudo: shown(rules.keep_pseudo),
        keep_pseudo_days: shown(rules.keep_pseudo_days),
        prerelease_days: shown(rules.prerelease_days),
    };
    Ok(html(StatusCode::OK, render(&page)?))
}

/// One row per module of `versions` (grouped by owner and module), with its latest version.
fn module_rows(versions: &[store::VersionBrief]) -> Vec<pages::ModuleRow> {
    let mut groups: Vec<(&str, &str, Vec<&store::VersionBrief>)> = Vec::new();
    for v in versions {
        match groups.last_mut() {
            Some((o, m, list)) if *o == v.owner && *m == v.module => list.push(v),
            _ => groups.push((&v.owner, &v.module, vec![v])),
        }
    }
    groups
        .into_iter()
        .filter_map(|(owner, module, list)| {
            let latest = select_latest(list.iter().map(|v| v.version.as_str()))?;
            let rec = list.iter().find(|v| v.version == latest)?;
            Some(pages::ModuleRow {
                owner: owner.to_owned(),
                module: module.to_owned(),
                href: pages::module_href(owner, module),
                latest: latest.to_owned(),
                date: pages::date(rec.time),
                size: pages::size(rec.size),
                versions: list.len(),
            })
        })
        .collect()
}

struct ModuleData {
    versions: Vec<(String, store::VersionRecord)>,
    latest: String,
    latest_mod: Vec<u8>,
    shown_mod: Vec<u8>,
    facts: Option<Arc<ZipFacts>>,
    downloads: HashMap<String, u64>,
    /// The shown version's record in the checksum database: its id, and whether it holds
    /// this version's hashes (else another content of the same `path@version` was logged).
    record: Option<(u64, bool)>,
}

async fn module_page(
    state: AppState,
    viewer: Option<Viewer>,
    q: ModuleQuery,
    base: String,
) -> Result<Response, ApiError> {
    let s = Arc::clone(&state.store);
    let ui = Arc::clone(&state.ui);
    let p = viewer.as_ref().map(|v| v.principal.clone());
    let (owner, module, want) = (q.owner.clone(), q.module.clone(), q.version.clone());
    let data = blocking(
        move || -> Result<Option<(ModuleData, FactsKey)>, ApiError> {
            if !can_view(&s, p.as_ref(), &owner)? {
                return Ok(None);
            }
            let Some(mut versions) = s.list_versions(&owner, &module)? else {
                return Ok(None);
            };
            let Some(latest) =
                select_latest(versions.iter().map(|(v, _)| v.as_str())).map(str::to_owned)
            else {
                return Ok(None);
            };
            let shown = want.unwrap_or_else(|| latest.clone());
            if !versions.iter().any(|(v, _)| *v == shown) {
                return Ok(None);
            }
            sort_desc(&mut versions);
            let latest_mod = s
                .get_go_mod(&owner, &module, &latest)?
                .1
                .unwrap_or_default();
            let shown_mod = if shown == latest {
                latest_mod.clone()
            } else {
                s.get_go_mod(&owner, &module, &shown)?.1.unwrap_or_default()
            };
            let facts_key = (owner.clone(), module.clone(), shown.clone());
            let facts = ui.facts.get(&facts_key);
            let mut downloads = s.download_counts(&owner, &module)?;
            for (v, n) in ui.downloads.pending_for(&owner, &module) {
                *downloads.entry(v).or_insert(0) += n;
            }
            let record = match (
                s.sumdb_record(&module, &shown)?,
                versions.iter().find(|(v, _)| *v == shown),
            ) {
                (Some((id, text)), Some((_, rec))) => Some((
                    id,
                    text == store::sumdb::record_text(&module, &shown, &rec.h1, &rec.mod_h1),
                )),
                _ => None,
            };
            Ok(Some((
                ModuleData {
                    versions,
                    latest,
                    latest_mod,
                    shown_mod,
                    facts,
                    downloads,
                    record,
                },
                facts_key,
            )))
        },
    )
    .await?;
    // Facts not in memory are read from the database or the zip on the upload pool: reading
    // a zip's directory costs memory by its entries (`web::facts::extract`), so it is done
    // where that work is bounded, not on any blocking thread.
    let data = match data {
        Some((mut data, key)) => {
            if data.facts.is_none() {
                let s = Arc::clone(&state.store);
                let ui = Arc::clone(&state.ui);
                data.facts = state
                    .uploads
                    .run(move || {
                        let (owner, module, version) = &key;
                        let shelf = Shelf::Hosted(owner.clone());
                        version_facts(&s, &ui.facts, &shelf, module, version)
                    })
                    .await?;
            }
            Some(data)
        }
        None => None,
    };
    let Some(data) = data else {
        let what = match &q.version {
            Some(v) => format!("{}@{v}", q.module),
            None => q.module.clone(),
        };
        return Ok(not_found_page(
            viewer.as_ref(),
            &format!("There is no module {what} in a namespace you can see."),
        ));
    };
    let shown = q.version.clone().unwrap_or_else(|| data.latest.clone());
    let shelf = Shelf::Hosted(q.owner.clone());
    let docs = super::docs::docs_of(&state, shelf, &q.module, &shown).await?;
    let mut page = module_page_data(&q, &data, &base, viewer.as_ref(), state.sumdb.vkey());
    page.packages = docs
        .map(|d| {
            d.packages
                .iter()
                .map(|p| pages::PackageRow {
                    import_path: p.import_path.clone(),
                    href: pages::package_href(&q.owner, &q.module, Some(&shown), &p.dir),
                    synopsis: p.synopsis.clone(),
                    internal: p.internal,
                    command: p.is_command(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(html(StatusCode::OK, render(&page)?))
}

fn module_page_data(
    q: &ModuleQuery,
    data: &ModuleData,
    base: &str,
    viewer: Option<&Viewer>,
    vkey: &str,
) -> pages::ModulePage {
    let (owner, module) = (q.owner.as_str(), q.module.as_str());
    let shown = q.version.clone().unwrap_or_else(|| data.latest.clone());
    let notes = modfile::annotations(&data.latest_mod);
    let retraction = |v: &str| notes.retractions.iter().find(|r| r.covers(v));
    let rec = data
        .versions
        .iter()
        .find(|(v, _)| *v == shown)
        .map(|(_, r)| r.clone());
    let (h1, mod_h1, time, zip_size) = rec
        .as_ref()
        .map_or((String::new(), String::new(), 0, 0), |r| {
            (r.h1.clone(), r.mod_h1.clone(), r.time, r.size)
        });
    let versions = data
        .versions
        .iter()
        .map(|(v, r)| {
            let retracted = retraction(v);
            pages::VersionRow {
                version: v.clone(),
                href: pages::version_href(owner, module, v),
                date: pages::date(r.time),
                size: pages::size(r.size),
                downloads: data.downloads.get(v).copied().unwrap_or(0),
                is_latest: *v == data.latest,
                is_current: *v == shown,
                is_retracted: retracted.is_some(),
                retract_reason: retracted.map(|r| r.rationale.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let shown_retraction = retraction(&shown);
    let proxy_url = format!("{base}/api/packages/{owner}/go");
    let facts = data.facts.clone().unwrap_or_default();
    let readme = facts.readme.as_ref();
    pages::ModulePage {
        chrome: chrome(format!("{module}@{shown}"), viewer, ""),
        owner: owner.to_owned(),
        owner_href: pages::namespace_href(owner),
        module: module.to_owned(),
        latest_href: pages::module_href(owner, module),
        is_latest: shown == data.latest,
        latest: data.latest.clone(),
        date: pages::date(time),
        size: pages::size(zip_size),
        deprecated: notes.deprecated.clone(),
        is_retracted: shown_retraction.is_some(),
        retract_reason: shown_retraction
            .map(|r| r.rationale.clone())
            .unwrap_or_default(),
        // Verified by the shelf's checksum database when this version is logged; otherwise
        // (a private namespace, or another content logged first) left out of verification.
        install: match data.record {
            Some((_, true)) => {
                format!("GOPROXY={proxy_url} GOSUMDB={vkey} go get {module}@{shown}")
            }
            _ => format!(
                "GOPROXY={proxy_url} GOSUMDB={vkey} GONOSUMDB={module} go get {module}@{shown}"
            ),
        },
        record: match data.record {
            Some((id, true)) => format!("record {id} of this shelf's checksum database"),
            Some((id, false)) => format!(
                "not logged: the checksum database holds other hashes for this version \
                 (record {id}); clients verifying with it need GONOSUMDB={module}"
            ),
            None => "not in this shelf's checksum database (a private namespace)".to_owned(),
        },
        gosum: format!("{module} {shown} {h1}\n{module} {shown}/go.mod {mod_h1}"),
        proxy_url,
        readme_name: readme.map(|r| r.name.clone()).unwrap_or_default(),
        readme_html: readme.and_then(|r| r.html.clone()).unwrap_or_default(),
        readme_too_large: readme.is_some_and(|r| r.html.is_none()),
        go_mod: String::from_utf8_lossy(&data.shown_mod).into_owned(),
        files: facts
            .files
            .iter()
            .map(|f| pages::FileRow {
                name: f.name.clone(),
                size: pages::size(f.size),
            })
            .collect(),
        file_count: facts.file_count,
        more_files: facts.file_count.saturating_sub(facts.files.len()),
        unpacked: pages::size(facts.unpacked_bytes),
        downloads: data.downloads.get(&shown).copied().unwrap_or(0),
        versions,
        version: shown,
        packages: Vec::new(),
    }
}

/// Most entries on the home page's "recently published" list, and of search results.
const RECENT: usize = 20;
const MAX_RESULTS: usize = 200;

pub(super) async fn home(
    state: AppState,
    query: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let q = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    let s = Arc::clone(&state.store);
    let p = viewer.as_ref().map(|v| v.principal.clone());
    let (namespaces, versions, stats) = blocking(move || -> Result<_, store::Error> {
        let namespaces = visible_namespaces(&s, p.as_ref())?;
        let mut versions = Vec::new();
        for (name, _) in &namespaces {
            versions.extend(s.list_all_versions(Some(name))?);
        }
        Ok((namespaces, versions, s.stats()?))
    })
    .await?;
    let mut counts: HashMap<&str, (std::collections::HashSet<&str>, usize)> = HashMap::new();
    for v in &versions {
        let e = counts.entry(v.owner.as_str()).or_default();
        e.0.insert(v.module.as_str());
        e.1 += 1;
    }
    let namespace_rows = namespaces
        .iter()
        .map(|(name, ns)| {
            let (modules, versions) = counts
                .get(name.as_str())
                .map_or((0, 0), |(m, n)| (m.len(), *n));
            pages::NamespaceRow {
                name: name.clone(),
                href: pages::namespace_href(name),
                modules,
                versions,
                private: ns.visibility != "public",
            }
        })
        .collect();
    let mut recent: Vec<&store::VersionBrief> = versions.iter().collect();
    recent.sort_by(|a, b| {
        b.time
            .cmp(&a.time)
            .then_with(|| semver::compare(&b.version, &a.version))
    });
    let recent = recent
        .into_iter()
        .take(RECENT)
        .map(|v| pages::RecentRow {
            owner: v.owner.clone(),
            module: v.module.clone(),
            version: v.version.clone(),
            href: pages::version_href(&v.owner, &v.module, &v.version),
            date: pages::date(v.time),
        })
        .collect();
    let results = if q.is_empty() {
        Vec::new()
    } else {
        let needle = q.to_lowercase();
        let matching: Vec<store::VersionBrief> = versions
            .iter()
            .filter(|v| v.module.to_lowercase().contains(&needle))
            .cloned()
            .collect();
        let mut rows = module_rows(&matching);
        rows.truncate(MAX_RESULTS);
        rows
    };
    let symbols = if q.is_empty() {
        Vec::new()
    } else {
        super::docs::symbol_search(&state, viewer.as_ref(), &q).await?
    };
    let page = pages::HomePage {
        chrome: chrome(
            if q.is_empty() {
                "Home".to_owned()
            } else {
                format!("Search: {q}")
            },
            viewer.as_ref(),
            &q,
        ),
        namespaces: namespace_rows,
        recent,
        searched: !q.is_empty(),
        results,
        symbols,
        storage: pages::StorageView {
            versions: stats.versions,
            stored: pages::size(stats.blob_bytes),
            saved: pages::size(stats.referenced_bytes.saturating_sub(stats.blob_bytes)),
        },
    };
    Ok(html(StatusCode::OK, render(&page)?))
}

/// `GET /{path}?go-get=1`: the go-import tag for the module at or above `{host}/{path}`
/// (spec.md §6.1), looked up in the namespaces the viewer can see; 404 page otherwise.
/// The most leading path elements of a `?go-get=1` request tried as module paths (a package
/// may lie deeper inside its module; no module path is this deep).
const MAX_GO_GET_ELEMENTS: usize = 32;

pub(super) async fn go_get(
    state: AppState,
    path: String,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let Some(host) = request_host(&headers) else {
        return Ok(not_found_page(viewer.as_ref(), "No module here."));
    };
    // Module paths have no port; the go command asks `https://{module path}?go-get=1`.
    let host_name = host.split(':').next().unwrap_or(host).to_owned();
    let decoded = crate::gomod::proxy::percent_decode(&path).unwrap_or_default();
    let import = format!("{host_name}{}", decoded.trim_end_matches('/'));
    let s = Arc::clone(&state.store);
    let p = viewer.as_ref().map(|v| v.principal.clone());
    let imp = import.clone();
    let found = blocking(move || -> Result<Option<(String, String)>, store::Error> {
        let namespaces = visible_namespaces(&s, p.as_ref())?;
        let owners: Vec<&str> = namespaces.iter().map(|(o, _)| o.as_str()).collect();
        // The longest module path that is the import path or a path prefix of it, among the
        // first `MAX_GO_GET_ELEMENTS` elements (a path of thousands of `/a` costs no more), in
        // one snapshot.
        let mut candidates: Vec<&str> = Vec::new();
        for (i, _) in imp
            .match_indices('/')
            .chain([(imp.len(), "")])
            .take(MAX_GO_GET_ELEMENTS)
        {
            let cand = &imp[..i];
            if crate::gomod::path::check_path(cand).is_ok() {
                candidates.push(cand);
            }
        }
        candidates.reverse();
        s.first_hosted(&candidates, &owners)
    })
    .await?;
    let Some((module, owner)) = found else {
        return Ok(not_found_page(
            viewer.as_ref(),
            &format!("There is no module {import} here."),
        ));
    };
    let proxy = format!(
        "{}{}",
        base_url(conn, &headers),
        crate::gomod::proxy::base(&owner)
    );
    Ok(html(StatusCode::OK, pages::go_import_page(&module, &proxy)))
}

/// Writes the pending download counts in one transaction; on failure they stay pending.
pub async fn flush_downloads(state: &AppState) {
    let counts = state.ui.downloads.take();
    if counts.is_empty() {
        return;
    }
    let s = Arc::clone(&state.store);
    let batch = counts.clone();
    if let Err(e) = blocking(move || s.add_downloads(&batch)).await {
        tracing::warn!(
            "download counts not saved ({}); kept for the next flush",
            e.message
        );
        state.ui.downloads.restore(counts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Scope, Visibility};

    /// A parsed module: (owner, module, version).
    type Module = (String, String, Option<String>);

    /// `parse_ui_path` as plain values: the namespace, and the module if one is named.
    fn parsed(tail: &str) -> Option<(String, Option<Module>)> {
        parse_ui_path(tail).map(|(owner, q)| (owner, q.map(|q| (q.owner, q.module, q.version))))
    }

    fn module(owner: &str, module: &str, version: Option<&str>) -> Option<Module> {
        Some((
            owner.to_owned(),
            module.to_owned(),
            version.map(str::to_owned),
        ))
    }

    #[test]
    fn parse_ui_path_reads_owner_module_and_version() {
        assert_eq!(parsed("acme"), Some(("acme".to_owned(), None)));
        assert_eq!(parsed("acme/"), Some(("acme".to_owned(), None)));
        // Owners are matched case-insensitively, as Gitea does.
        assert_eq!(parsed("Acme"), Some(("acme".to_owned(), None)));
        assert_eq!(
            parsed("acme/example.com/m"),
            Some(("acme".to_owned(), module("acme", "example.com/m", None)))
        );
        assert_eq!(
            parsed("acme/example.com/m/"),
            Some(("acme".to_owned(), module("acme", "example.com/m", None)))
        );
        assert_eq!(
            parsed("acme/example.com/m/v2/@v/v2.1.0"),
            Some((
                "acme".to_owned(),
                module("acme", "example.com/m/v2", Some("v2.1.0"))
            ))
        );
        assert_eq!(
            parsed("acme/example.com/m/@v/v2.0.0+incompatible"),
            Some((
                "acme".to_owned(),
                module("acme", "example.com/m", Some("v2.0.0+incompatible"))
            ))
        );
        // Percent-encoding is undone first.
        assert_eq!(
            parsed("acme/example.com%2Fm/%40v/v1.0.0"),
            Some((
                "acme".to_owned(),
                module("acme", "example.com/m", Some("v1.0.0"))
            ))
        );
    }

    /// Upper case in module paths and versions is `!`-escaped, as on the GOPROXY protocol; a
    /// bare upper-case letter is no path.
    #[test]
    fn parse_ui_path_undoes_the_bang_escaping() {
        assert_eq!(
            parsed("acme/github.com/!azure/!s!d!k/@v/v1.0.0-!r!c1"),
            Some((
                "acme".to_owned(),
                module("acme", "github.com/Azure/SDK", Some("v1.0.0-RC1"))
            ))
        );
        for bad in [
            "acme/github.com/Azure/sdk",
            "acme/github.com/!!azure/sdk",
            "acme/github.com/azure!/sdk",
            "acme/example.com/m/@v/v1.0.0-RC1",
        ] {
            assert!(parsed(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parse_ui_path_refuses_what_is_no_owner_module_or_version() {
        for bad in [
            "",
            "/",
            "-acme",
            "ac me",
            "acme%",
            "acme%zz",
            "acme/%ff",
            "acme/example.com//m",
            "acme/example.com/m@v1",
            "acme/@v/v1.0.0",
            "acme/example.com/m/@v/v1.0.0/extra",
            "acme/example.com/m/@v/",
            "acme/../etc",
        ] {
            assert!(parsed(bad).is_none(), "{bad:?}: {:?}", parsed(bad));
        }
    }

    /// The links the pages make are the paths this parses.
    #[test]
    fn parse_ui_path_reads_back_the_hrefs_of_the_pages() {
        for (m, v) in [
            ("example.com/m", "v1.0.0"),
            ("github.com/Azure/SDK-for-Go/v2", "v2.3.4-RC.1+meta"),
            ("example.com/m", "v0.0.0-20240101000000-abcdefabcdef"),
        ] {
            let href = pages::version_href("acme", m, v);
            let tail = href.strip_prefix("/ui/").unwrap();
            assert_eq!(
                parsed(tail),
                Some(("acme".to_owned(), module("acme", m, Some(v)))),
                "{href}"
            );
            let href = pages::module_href("acme", m);
            let tail = href.strip_prefix("/ui/").unwrap();
            assert_eq!(
                parsed(tail),
                Some(("acme".to_owned(), module("acme", m, None)))
            );
        }
    }

    /// The package and source links of the doc pages are the paths this parses, hosted and
    /// cached alike; other words after a version are no page.
    #[test]
    fn parse_module_path_reads_back_package_and_source_hrefs() {
        let m = "github.com/Azure/SDK/v2";
        for (dir, want) in [("", ""), ("net/http", "net/http"), ("a+b/c~d", "a+b/c~d")] {
            for href in [
                pages::package_href("acme", m, Some("v2.0.0-RC1"), dir),
                pages::pkg_href_under(&pages::cached_version_href(m, "v2.0.0-RC1"), dir),
            ] {
                let rest = href.split_once(if href.starts_with("/ui/") {
                    "/ui/acme/"
                } else {
                    "/cache/"
                });
                let decoded = crate::gomod::proxy::percent_decode(rest.unwrap().1).unwrap();
                assert_eq!(
                    parse_module_path(&decoded),
                    Some((
                        m.to_owned(),
                        Some("v2.0.0-RC1".to_owned()),
                        Sub::Package(want.to_owned())
                    )),
                    "{href}"
                );
            }
        }
        let latest = pages::package_href("acme", m, None, "x");
        let rest = latest.strip_prefix("/ui/acme/").unwrap();
        assert_eq!(
            parse_module_path(rest),
            Some((m.to_owned(), None, Sub::Package("x".to_owned())))
        );
        let src = pages::src_href_under(&pages::version_href("acme", m, "v2.0.0"), "a/b.go");
        let rest = src.strip_prefix("/ui/acme/").unwrap();
        assert_eq!(
            parse_module_path(rest).map(|p| p.2),
            Some(Sub::Source("a/b.go".to_owned()))
        );
        for bad in [
            "example.com/m/@v/v1.0.0/pkg/",
            "example.com/m/@v/v1.0.0/doc/x",
            "example.com/m/@v/v1.0.0/src",
            "example.com/m/@latest/src/a.go",
            "example.com/m/@latest",
            "example.com/m/@latest/",
        ] {
            assert_eq!(parse_module_path(bad), None, "{bad}");
        }
    }

    fn record(time: i64) -> store::VersionRecord {
        store::VersionRecord {
            blake3: String::new(),
            size: 1000,
            h1: String::new(),
            mod_h1: String::new(),
            time,
            uploader: String::new(),
        }
    }

    #[test]
    fn versions_are_listed_newest_first_by_semver() {
        let mut versions: Vec<(String, store::VersionRecord)> = [
            ("v1.2.0", 5),
            ("v1.10.0", 1),
            ("v1.0.0-rc.1", 9),
            ("v0.9.0", 7),
            ("v1.0.0", 2),
            ("v1.0.0-alpha", 3),
        ]
        .into_iter()
        .map(|(v, t)| (v.to_owned(), record(t)))
        .collect();
        sort_desc(&mut versions);
        let order: Vec<&str> = versions.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            order,
            [
                "v1.10.0",
                "v1.2.0",
                "v1.0.0",
                "v1.0.0-rc.1",
                "v1.0.0-alpha",
                "v0.9.0"
            ]
        );
    }

    fn brief(owner: &str, module: &str, version: &str, time: i64) -> store::VersionBrief {
        store::VersionBrief {
            owner: owner.to_owned(),
            module: module.to_owned(),
            version: version.to_owned(),
            time,
            size: 2048,
        }
    }

    /// One row per (owner, module) run, its latest version chosen by semver, not upload time.
    #[test]
    fn module_rows_group_by_module_and_show_the_latest_by_semver() {
        let versions = [
            brief("acme", "example.com/a", "v1.0.0", 300),
            brief("acme", "example.com/a", "v1.10.0", 100),
            brief("acme", "example.com/a", "v1.2.0", 500),
            brief("acme", "example.com/b", "v0.1.0", 50),
            brief("other", "example.com/a", "v2.0.0-pre", 60),
        ];
        let rows = module_rows(&versions);
        let got: Vec<(&str, &str, &str, usize)> = rows
            .iter()
            .map(|r| {
                (
                    r.owner.as_str(),
                    r.module.as_str(),
                    r.latest.as_str(),
                    r.versions,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("acme", "example.com/a", "v1.10.0", 3),
                ("acme", "example.com/b", "v0.1.0", 1),
                ("other", "example.com/a", "v2.0.0-pre", 1),
            ]
        );
        assert_eq!(rows[0].date, pages::date(100), "the latest version's date");
        assert_eq!(rows[0].href, pages::module_href("acme", "example.com/a"));
        assert!(module_rows(&[]).is_empty());
    }

    #[test]
    fn a_namespace_is_visible_when_it_exists_and_the_viewer_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        store.create_org("open", Visibility::Public, 0).unwrap();
        store.create_org("closed", Visibility::Private, 0).unwrap();
        let admin = Principal {
            user: "root".to_owned(),
            is_admin: true,
            scope: Scope::Read,
        };
        let someone = Principal {
            user: "someone".to_owned(),
            is_admin: false,
            scope: Scope::Write,
        };
        assert!(can_view(&store, None, "open").unwrap());
        assert!(can_view(&store, Some(&someone), "open").unwrap());
        assert!(!can_view(&store, None, "closed").unwrap());
        assert!(!can_view(&store, Some(&someone), "closed").unwrap());
        assert!(can_view(&store, Some(&admin), "closed").unwrap());
        // A namespace that does not exist is visible to nobody, admins included.
        for viewer in [None, Some(&someone), Some(&admin)] {
            assert!(!can_view(&store, viewer, "nowhere").unwrap());
        }
    }
}
