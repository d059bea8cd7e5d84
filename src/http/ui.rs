//! The web UI's routes: server-rendered pages, embedded assets, sign-in, tokens, and the
//! `?go-get=1` answer. Thin: pages are built by `crate::web`, data comes from the store.
//!
//! URL scheme (module paths `!`-escaped as on the GOPROXY protocol, spec.md §1.3):
//! - `/` home (`/?q=text` searches module paths)
//! - `/ui/{owner}` namespace
//! - `/ui/{owner}/{module}` module at its latest version
//! - `/ui/{owner}/{module}/@v/{version}` module at one version (module paths contain no `@`)
//! - `/assets/{hash}/{file}` embedded CSS and JS, immutable
//! - `/signin`, `/signout`, `/tokens`
//! - any other `GET /{path}?go-get=1` whose `{host}/{path}` is a visible module (or inside
//!   one): the go-import `mod` tag pointing at the module's namespace (spec.md §6.1).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, OnceLock};

use http::{header, HeaderMap, HeaderValue, StatusCode};
use rust_embed::RustEmbed;
use warp::filters::BoxedFilter;
use warp::path::{FullPath, Tail};
use warp::Filter;

use super::body::{Body, Response};
use super::edge::ConnInfo;
use super::error::ApiError;
use super::goproxy::select_latest;
use super::{authn, blocking, Answer, AppState, BodyStream};
use crate::auth::{self, Access, Principal, Scope};
use crate::gomod::{modfile, path as modpath, version as semver};
use crate::store::{self, BlobReader, NamespaceRecord, Store, ZipLookup};
use crate::web::downloads::Downloads;
use crate::web::facts::{self, FactsCache, FactsKey, ZipFacts};
use crate::web::pages::{self, Chrome};
use crate::web::sessions::{self, Sessions};

/// The UI's shared state.
#[derive(Default)]
pub struct UiState {
    pub facts: FactsCache,
    pub downloads: Downloads,
    pub sessions: Sessions,
    /// Whether a `warm_facts` task is running.
    pub warming: std::sync::atomic::AtomicBool,
}

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Assets;

/// A page: HTML, for this viewer only. Pages show who is signed in and what they may see, so
/// a shared cache must never keep one (`private`); the browser revalidates (`no-cache`).
/// The security headers (CSP and the rest) are `finish::decorate`'s.
fn html(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    resp
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The fingerprinted URL of an embedded asset: `/assets/{first 16 hex of SHA-256}/{name}`.
fn asset_url(name: &str) -> String {
    static URLS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let urls = URLS.get_or_init(|| {
        Assets::iter()
            .filter_map(|n| {
                let file = Assets::get(&n)?;
                let hash = hex::encode(file.metadata.sha256_hash());
                Some((n.to_string(), format!("/assets/{}/{n}", &hash[..16])))
            })
            .collect()
    });
    urls.get(name)
        .cloned()
        .unwrap_or_else(|| format!("/assets/0/{name}"))
}

fn serve_asset(hash: &str, name: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(name) else {
        return not_found_plain();
    };
    let full = hex::encode(file.metadata.sha256_hash());
    let etag = format!("\"{full}\"");
    let content_type = match name.rsplit_once('.').map(|(_, e)| e) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(file.data.into_owned().into())
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A matching fingerprint never changes; a stale one (a page from before an upgrade) gets
    // today's file, revalidated.
    let cache = if full.starts_with(hash) && hash.len() == 16 {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

fn not_found_plain() -> Response {
    ApiError::not_found("not found").into_response()
}

/// Who is looking: a signed-in user, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
    session_id: String,
}

/// The viewer of a request, from its session cookie.
async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, ApiError> {
    let Some(id) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| sessions::cookie_value(c, sessions::COOKIE))
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let Some(session) = state.ui.sessions.get(&id, store::now_unix()) else {
        return Ok(None);
    };
    let s = Arc::clone(&state.store);
    let name = session.user.clone();
    let user = blocking(move || s.get_user(&name)).await?;
    // The user is gone, or their password or admin flag changed since the session began.
    let Some(user) = user.filter(|u| sessions::credential_stamp(u) == session.stamp) else {
        state.ui.sessions.remove(&id);
        return Ok(None);
    };
    Ok(Some(Viewer {
        principal: Principal {
            user: user.name,
            is_admin: user.is_admin,
            // A session browses; what it may change (its own tokens) is checked per form.
            scope: Scope::Read,
        },
        csrf: session.csrf,
        session_id: id,
    }))
}

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

/// `scheme://host` of this request: the scheme of the connection it came on (`X-Forwarded-Proto`
/// is not trusted), and the Host header if it looks like a host (else `localhost`).
fn base_url(conn: ConnInfo, headers: &HeaderMap) -> String {
    let scheme = if conn.tls { "https" } else { "http" };
    let host = request_host(headers).unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn request_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

fn chrome(title: impl Into<String>, viewer: Option<&Viewer>, query: &str) -> Chrome {
    Chrome {
        title: title.into(),
        css: asset_url("style.css"),
        js: asset_url("app.js"),
        viewer: viewer.map(|v| v.principal.user.clone()),
        admin: viewer.is_some_and(|v| v.principal.is_admin),
        csrf: viewer.map(|v| v.csrf.clone()).unwrap_or_default(),
        query: query.to_owned(),
    }
}

fn render(page: &impl askama::Template) -> Result<String, ApiError> {
    page.render()
        .map_err(|e| ApiError::internal("rendering a page", &e))
}

/// The HTML 404 page.
fn not_found_page(viewer: Option<&Viewer>, message: &str) -> Response {
    let page = pages::NotFoundPage {
        chrome: chrome("Not found", viewer, ""),
        message: message.to_owned(),
    };
    match render(&page) {
        Ok(body) => html(StatusCode::NOT_FOUND, body),
        Err(e) => e.into_response(),
    }
}

/// A Read + Seek view of a stored blob for the zip reader, keeping the chunk it last read.
struct BlobCursor {
    reader: BlobReader,
    pos: u64,
    chunk_start: u64,
    chunk: Vec<u8>,
}

impl BlobCursor {
    fn new(reader: BlobReader) -> Self {
        Self {
            reader,
            pos: 0,
            chunk_start: 0,
            chunk: Vec::new(),
        }
    }
}

impl Read for BlobCursor {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let cached_end = self.chunk_start + self.chunk.len() as u64;
        if self.pos < self.chunk_start || self.pos >= cached_end {
            self.chunk.clear();
            self.chunk_start = self.pos;
            self.reader
                .read_at(self.pos, usize::MAX, &mut self.chunk)
                .map_err(std::io::Error::other)?;
            if self.chunk.is_empty() {
                return Ok(0);
            }
        }
        let within = usize::try_from(self.pos - self.chunk_start).unwrap_or(usize::MAX);
        let avail = self.chunk.get(within..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobCursor {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let size = self.reader.size();
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        self.pos = target;
        Ok(target)
    }
}

/// The zip facts of a version: from the memory cache, else as stored in the database
/// (`ZIP_FACTS`, written at publish by `warm_facts`), else read from the zip once, stored
/// when they hold a rendered README, and cached.
fn version_facts(
    store: &Store,
    cache: &FactsCache,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<Option<Arc<ZipFacts>>, ApiError> {
    let key = (owner.to_owned(), module.to_owned(), version.to_owned());
    if let Some(f) = cache.get(&key) {
        return Ok(Some(f));
    }
    let Some(facts) = stored_or_computed_facts(store, owner, module, version)? else {
        return Ok(None);
    };
    let facts = Arc::new(facts);
    cache.insert(key, Arc::clone(&facts));
    Ok(Some(facts))
}

fn stored_or_computed_facts(
    store: &Store,
    owner: &str,
    module: &str,
    version: &str,
) -> Result<Option<ZipFacts>, ApiError> {
    let ZipLookup::Found(rec, reader) = store.open_zip(owner, module, version)? else {
        return Ok(None);
    };
    let id: Option<[u8; 32]> = hex::decode(&rec.blake3)
        .ok()
        .and_then(|b| b.try_into().ok());
    if let Some(id) = &id {
        // An entry of another format, or damaged, is computed again below.
        if let Some(facts) = store.get_zip_facts(id)?.and_then(|b| ZipFacts::decode(&b)) {
            return Ok(Some(facts));
        }
    }
    let prefix = format!("{module}@{version}/");
    let facts = facts::extract(BlobCursor::new(*reader), &prefix)
        .map_err(|e| ApiError::internal("zip facts", &e))?;
    if let (Some(id), true) = (&id, facts.worth_storing()) {
        // Only a cache: failing to keep it must not fail the page.
        if let Err(e) = store.put_zip_facts(id, &facts.encode()) {
            tracing::warn!("storing the README of {module}@{version}: {e}");
        }
    }
    Ok(Some(facts))
}

/// After a publish: reads the new version's README and file list and stores them (rendered)
/// in the database, off the request path, so that even the first page view of the version
/// does not render a large README. At most one runs at a time; a publish that finds one
/// running skips it (the page then computes the facts on its first view). The facts are not
/// put into the memory cache: nobody may look.
pub fn warm_facts(state: &AppState, owner: String, module: String, version: String) {
    use std::sync::atomic::Ordering;
    let ui = Arc::clone(&state.ui);
    if ui
        .warming
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let store = Arc::clone(&state.store);
    state.uploads.spawn(move || {
        if let Err(e) = stored_or_computed_facts(&store, &owner, &module, &version) {
            tracing::warn!("reading {module}@{version} for the web UI: {}", e.message);
        }
        ui.warming.store(false, Ordering::Release);
    });
}

/// Versions newest first by semver (never by upload time or string order).
fn sort_desc(versions: &mut [(String, store::VersionRecord)]) {
    versions.sort_by(|a, b| semver::compare(&b.0, &a.0).then_with(|| b.0.cmp(&a.0)));
}

struct ModuleQuery {
    owner: String,
    module: String,
    version: Option<String>,
}

/// Parses what follows `/ui/`: `{owner}[/{module}[/@v/{version}]]`, `!`-escaped.
fn parse_ui_path(tail: &str) -> Option<(String, Option<ModuleQuery>)> {
    let decoded = super::goproxy::percent_decode(tail)?;
    let decoded = decoded.trim_end_matches('/');
    let (owner, rest) = match decoded.split_once('/') {
        Some((o, r)) => (o, Some(r)),
        None => (decoded, None),
    };
    let owner = auth::normalize_owner(owner)?;
    let Some(rest) = rest else {
        return Some((owner, None));
    };
    let (escaped_module, version) = match rest.split_once("/@v/") {
        Some((m, v)) => (m, Some(modpath::unescape_version(v).ok()?)),
        None => (rest, None),
    };
    let module = modpath::unescape_path(escaped_module)
        .ok()?
        .as_str()
        .to_owned();
    Some((
        owner.clone(),
        Some(ModuleQuery {
            owner,
            module,
            version,
        }),
    ))
}

async fn ui_page(
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
        Some(q) => module_page(state, viewer, q, base).await,
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
        Ok(Some((ns, s.list_all_versions(Some(&o))?)))
    })
    .await?;
    let Some((ns, versions)) = found else {
        return Ok(not_found_page(
            viewer.as_ref(),
            &format!("There is no namespace {owner} that you can see."),
        ));
    };
    let page = pages::NamespacePage {
        chrome: chrome(owner.clone(), viewer.as_ref(), ""),
        private: ns.visibility != "public",
        proxy_url: format!("{base}/api/packages/{owner}/go"),
        modules: module_rows(&versions),
        owner,
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
                        version_facts(&s, &ui.facts, owner, module, version)
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
    let page = module_page_data(&q, &data, &base, viewer.as_ref(), state.sumdb.vkey());
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
    }
}

/// Most entries on the home page's "recently published" list, and of search results.
const RECENT: usize = 20;
const MAX_RESULTS: usize = 200;

async fn home(
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
async fn go_get(
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
    let decoded = super::goproxy::percent_decode(&path).unwrap_or_default();
    let import = format!("{host_name}{}", decoded.trim_end_matches('/'));
    let s = Arc::clone(&state.store);
    let p = viewer.as_ref().map(|v| v.principal.clone());
    let imp = import.clone();
    let found = blocking(move || -> Result<Option<(String, String)>, store::Error> {
        let namespaces = visible_namespaces(&s, p.as_ref())?;
        // The longest module path that is the import path or a path prefix of it.
        let mut candidates: Vec<&str> = vec![imp.as_str()];
        let mut rest = imp.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            candidates.push(parent);
            rest = parent;
        }
        for cand in candidates {
            for (owner, _) in &namespaces {
                if s.module_exists(owner, cand)? {
                    return Ok(Some((cand.to_owned(), owner.clone())));
                }
            }
        }
        Ok(None)
    })
    .await?;
    let Some((module, owner)) = found else {
        return Ok(not_found_page(
            viewer.as_ref(),
            &format!("There is no module {import} here."),
        ));
    };
    let proxy = format!("{}/api/packages/{owner}/go", base_url(conn, &headers));
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

/// A form body: small, url-encoded.
type Form = HashMap<String, String>;
/// The largest form body read.
const FORM_LIMIT: usize = 16 * 1024;

/// Reads a url-encoded form: at most `FORM_LIMIT` bytes, all within `header_timeout` (a form
/// that trickles is cut off like a slow head).
async fn read_form(state: &AppState, body: BodyStream) -> Result<Form, ApiError> {
    let raw =
        super::api::read_small_body(body, FORM_LIMIT, state.config.header_timeout, "form").await?;
    Ok(form_urlencoded::parse(&raw).into_owned().collect())
}

/// A query string as a form.
fn query_form(query: &str) -> Form {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(form: &'a Form, name: &str) -> &'a str {
    form.get(name).map_or("", String::as_str)
}

/// Where to go after signing in: a local path only (no `//host`, no scheme), else `/`.
fn local_path(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// A state-changing form must come from our own pages: its `Origin` (or, without one, its
/// `Referer`) names this host. Together with `SameSite=Strict` cookies and the per-session
/// token checked by the callers, this refuses cross-site posts.
fn same_origin(conn: ConnInfo, headers: &HeaderMap) -> bool {
    let Some(host) = request_host(headers) else {
        return false;
    };
    let ours = base_url(conn, headers);
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match claimed {
        Some(url) => url == ours || url.starts_with(&format!("{ours}/")),
        // No Origin and no Referer (privacy settings): the session token alone decides.
        None => !host.is_empty(),
    }
}

/// The session cookie; `Secure` when set over HTTPS, so the browser never sends it over plain
/// HTTP.
fn session_cookie(conn: ConnInfo, value: &str, max_age: i64) -> String {
    let secure = if conn.tls { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        sessions::COOKIE
    )
}

fn signin_page(
    viewer: Option<&Viewer>,
    status: StatusCode,
    error: &str,
    user: &str,
    next: &str,
) -> Result<Response, ApiError> {
    let page = pages::SignInPage {
        chrome: chrome("Sign in", viewer, ""),
        error: error.to_owned(),
        user: user.to_owned(),
        next: local_path(next),
    };
    Ok(html(status, render(&page)?))
}

/// Where a sign-in over plain HTTP goes when the shelf also serves HTTPS and
/// `plain_http_signin` is off: the same page over HTTPS, so the password never crosses the
/// network in clear. `None`: sign in here.
fn https_signin(
    state: &AppState,
    conn: ConnInfo,
    headers: &HeaderMap,
    query: &str,
) -> Option<String> {
    if conn.tls || state.config.plain_http_signin {
        return None;
    }
    let port = *state.https_port.get()?;
    let host = request_host(headers).unwrap_or("localhost");
    let name = host.rsplit_once(':').filter(|(h, p)| {
        !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    });
    let name = match name {
        Some((h, _)) if !host.ends_with(']') => h,
        _ => host,
    };
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Some(format!("https://{name}{port}/signin{query}"))
}

async fn signin_form(
    state: AppState,
    query: String,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    if let Some(to) = https_signin(&state, conn, &headers, &query) {
        let mut resp = redirect(&to, None);
        *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
        return Ok(resp);
    }
    let query = query_form(&query);
    let viewer = viewer(&state, &headers).await?;
    signin_page(
        viewer.as_ref(),
        StatusCode::OK,
        "",
        "",
        field(&query, "next"),
    )
}

async fn signin(
    state: AppState,
    body: BodyStream,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    if let Some(to) = https_signin(&state, conn, &headers, "") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "sign in over HTTPS: {to} (this server does not take passwords over plain HTTP)"
            ),
        ));
    }
    let form = read_form(&state, body).await?;
    let (user, next) = (field(&form, "user").trim(), field(&form, "next"));
    if !same_origin(conn, &headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sign-in form posted from another site",
        ));
    }
    match authn::sign_in_password(&state, user, field(&form, "password"), Some(conn.peer)).await {
        Ok(principal) => {
            let s = Arc::clone(&state.store);
            let name = principal.user.clone();
            let Some(rec) = blocking(move || s.get_user(&name)).await? else {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "sign in first"));
            };
            let id = state.ui.sessions.create(
                &principal.user,
                sessions::credential_stamp(&rec),
                store::now_unix(),
            );
            let cookie = session_cookie(conn, &id, sessions::SESSION_TTL);
            Ok(redirect(&local_path(next), Some(cookie)))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => signin_page(
            None,
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
            user,
            next,
        ),
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            signin_page(None, e.status, &e.message, user, next)
        }
        Err(e) => Err(e),
    }
}

/// The signed-in viewer of a state-changing form, after the CSRF checks.
async fn form_viewer(
    state: &AppState,
    form: &Form,
    headers: &HeaderMap,
    conn: ConnInfo,
) -> Result<Viewer, ApiError> {
    let viewer = viewer(state, headers)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "sign in first"))?;
    if field(form, "csrf") != viewer.csrf || !same_origin(conn, headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "form token mismatch; reload the page and try again",
        ));
    }
    Ok(viewer)
}

async fn signout(
    state: AppState,
    body: BodyStream,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let form = read_form(&state, body).await?;
    let viewer = form_viewer(&state, &form, &headers, conn).await?;
    state.ui.sessions.remove(&viewer.session_id);
    Ok(redirect("/", Some(session_cookie(conn, "", 0))))
}

/// The settings page, for admins; `outcome` is the message or error of a change just made.
async fn settings_page(
    state: &AppState,
    viewer: &Viewer,
    outcome: Result<String, String>,
) -> Result<Response, ApiError> {
    if !viewer.principal.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only an admin may open the settings",
        ));
    }
    let s = Arc::clone(&state.store);
    let (patterns, claims) =
        blocking(move || Ok::<_, store::Error>((s.private_patterns()?, s.sumdb_claims()?))).await?;
    let patterns = patterns
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let (message, error) = match outcome {
        Ok(m) => (m, String::new()),
        Err(e) => (String::new(), e),
    };
    let page = pages::SettingsPage {
        chrome: chrome("Settings", Some(viewer), ""),
        gosumdb: state.sumdb.vkey().to_owned(),
        patterns,
        uncovered: state.sumdb.uncovered().to_vec(),
        claims,
        message,
        error,
    };
    let status = if page.error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut resp = html(status, render(&page)?);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn settings(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    match viewer(&state, &headers).await? {
        Some(v) => settings_page(&state, &v, Ok(String::new())).await,
        None => Ok(redirect("/signin?next=/settings", None)),
    }
}

/// Adds a `private` pattern from the settings page, through the same operation as
/// `goshelf private add` (its checks and its effect at once).
async fn add_private_pattern(
    state: AppState,
    body: BodyStream,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let form = read_form(&state, body).await?;
    let viewer = form_viewer(&state, &form, &headers, conn).await?;
    let pattern = field(&form, "pattern").to_owned();
    if let Err(e) = crate::gomod::patterns::check_pattern(&pattern) {
        return settings_page(&state, &viewer, Err(e)).await;
    }
    // The form came from this origin with the session's token: the signed-in admin acts
    // with a write credential, as with a password.
    let actor = Principal {
        scope: Scope::Write,
        ..viewer.principal.clone()
    };
    let s = Arc::clone(&state.store);
    let op = crate::admin::Op::PrivateAdd {
        pattern: pattern.clone(),
    };
    blocking(move || crate::admin::execute(&s, &actor, op, store::now_unix())).await?;
    tracing::info!(
        "private pattern {pattern} added by {}",
        viewer.principal.user
    );
    settings_page(&state, &viewer, Ok(format!("Pattern {pattern} added."))).await
}

fn token_rows(tokens: Vec<store::TokenInfo>) -> Vec<pages::TokenRow> {
    let when = |t: Option<i64>, none: &str| t.map_or_else(|| none.to_owned(), pages::date);
    tokens
        .into_iter()
        .map(|t| pages::TokenRow {
            id: t.id,
            name: t.name,
            scope: t.scope.as_str().to_owned(),
            created: pages::date(t.created_at),
            expires: when(t.expires_at, "never"),
            last_used: when(t.last_used, "never"),
        })
        .collect()
}

async fn tokens_page(
    state: &AppState,
    viewer: &Viewer,
    new: Option<(String, String)>,
    message: &str,
) -> Result<Response, ApiError> {
    let s = Arc::clone(&state.store);
    let user = viewer.principal.user.clone();
    let tokens = blocking(move || s.list_tokens(&user)).await?;
    let (new_name, new_secret) = new.unwrap_or_default();
    let page = pages::TokensPage {
        chrome: chrome("Tokens", Some(viewer), ""),
        tokens: token_rows(tokens),
        new_secret,
        new_name,
        message: message.to_owned(),
    };
    let mut resp = html(StatusCode::OK, render(&page)?);
    // The page may hold a secret: keep it out of every cache and history snapshot.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn tokens(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    match viewer(&state, &headers).await? {
        Some(v) => tokens_page(&state, &v, None, "").await,
        None => Ok(redirect("/signin?next=/tokens", None)),
    }
}

/// Longest token name accepted from the form.
const MAX_TOKEN_NAME: usize = 64;
/// Longest expiry accepted, in days.
const MAX_TOKEN_DAYS: i64 = 3650;

async fn create_token(
    state: AppState,
    body: BodyStream,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let form = read_form(&state, body).await?;
    let viewer = form_viewer(&state, &form, &headers, conn).await?;
    let name = field(&form, "name").trim().to_owned();
    if name.is_empty() || name.len() > MAX_TOKEN_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "a token name is 1 to {MAX_TOKEN_NAME} characters"
        )));
    }
    let scope = match field(&form, "scope") {
        "read" => Scope::Read,
        "write" => Scope::Write,
        other => return Err(ApiError::bad_request(format!("unknown scope {other:?}"))),
    };
    let now = store::now_unix();
    let days = field(&form, "days").trim();
    let expires_at = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => Some(now + d * 86_400),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "expiry is a number of days from 1 to {MAX_TOKEN_DAYS}, or empty"
                )))
            }
        }
    };
    let s = Arc::clone(&state.store);
    let (user, n) = (viewer.principal.user.clone(), name.clone());
    let (secret, _) = blocking(move || s.create_token(&user, &n, scope, expires_at, now)).await?;
    tokens_page(&state, &viewer, Some((name, secret)), "").await
}

async fn revoke_token(
    state: AppState,
    body: BodyStream,
    headers: HeaderMap,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    let form = read_form(&state, body).await?;
    let viewer = form_viewer(&state, &form, &headers, conn).await?;
    let s = Arc::clone(&state.store);
    let (user, id) = (viewer.principal.user.clone(), field(&form, "id").to_owned());
    let found = blocking(move || s.revoke_token(&user, &id)).await?;
    if !found {
        return Err(ApiError::not_found("no such token of yours"));
    }
    Ok(redirect("/tokens", None))
}

fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

fn respond(r: Result<Response, ApiError>) -> Answer {
    Answer(r.unwrap_or_else(ApiError::into_response))
}

/// The UI's routes. Unknown paths are rejected (not found) so the caller's other routes and
/// its recovery still apply; `fallback` answers what nothing else took.
///
/// Each route is boxed: a chain of unboxed `or`s makes a type so deep that compiling the
/// crate took minutes; one dynamic call per route costs nothing next to a page.
pub fn routes(state: AppState) -> BoxedFilter<(Answer,)> {
    let get_or_head = warp::get().or(warp::head()).unify();
    let raw_query = || warp::query::raw().or(warp::any().map(String::new)).unify();
    let conn = super::conn;
    let body = super::body_stream;

    let home = warp::path::end()
        .and(get_or_head)
        .and(with_state(state.clone()))
        .and(raw_query())
        .and(warp::header::headers_cloned())
        .and(conn())
        .then(|state, query: String, headers, conn| async move {
            let query = query_form(&query);
            if query.get("go-get").is_some_and(|v| v == "1") {
                return respond(go_get(state, String::new(), headers, conn).await);
            }
            respond(home(state, query, headers).await)
        });

    let ui = warp::path("ui")
        .and(warp::path::tail())
        .and(get_or_head)
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(conn())
        .then(|tail: Tail, state, headers, conn| async move {
            respond(ui_page(state, tail.as_str().to_owned(), headers, conn).await)
        });

    let assets = warp::path!("assets" / String / String)
        .and(get_or_head)
        .and(warp::header::headers_cloned())
        .map(|hash: String, name: String, headers: HeaderMap| {
            Answer(serve_asset(&hash, &name, &headers))
        });

    let signin = warp::path!("signin").and(
        get_or_head
            .and(with_state(state.clone()))
            .and(raw_query())
            .and(warp::header::headers_cloned())
            .and(conn())
            .then(|state, query, headers, conn| async move {
                respond(signin_form(state, query, headers, conn).await)
            })
            .or(warp::post()
                .and(with_state(state.clone()))
                .and(body())
                .and(warp::header::headers_cloned())
                .and(conn())
                .then(|state, body, headers, conn| async move {
                    respond(signin(state, body, headers, conn).await)
                }))
            .unify(),
    );

    let signout = warp::path!("signout")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(body())
        .and(warp::header::headers_cloned())
        .and(conn())
        .then(|state, body, headers, conn| async move {
            respond(signout(state, body, headers, conn).await)
        });

    let tokens_routes = warp::path!("tokens").and(
        get_or_head
            .and(with_state(state.clone()))
            .and(warp::header::headers_cloned())
            .then(|state, headers| async move { respond(tokens(state, headers).await) })
            .or(warp::post()
                .and(with_state(state.clone()))
                .and(body())
                .and(warp::header::headers_cloned())
                .and(conn())
                .then(|state, body, headers, conn| async move {
                    respond(create_token(state, body, headers, conn).await)
                }))
            .unify(),
    );

    let revoke = warp::path!("tokens" / "revoke")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(body())
        .and(warp::header::headers_cloned())
        .and(conn())
        .then(|state, body, headers, conn| async move {
            respond(revoke_token(state, body, headers, conn).await)
        });

    let settings_routes = warp::path!("settings")
        .and(get_or_head)
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .then(|state, headers| async move { respond(settings(state, headers).await) });

    let private_add = warp::path!("settings" / "private")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(body())
        .and(warp::header::headers_cloned())
        .and(conn())
        .then(|state, body, headers, conn| async move {
            respond(add_private_pattern(state, body, headers, conn).await)
        });

    home.boxed()
        .or(ui.boxed())
        .unify()
        .or(assets.boxed())
        .unify()
        .or(signin.boxed())
        .unify()
        .or(signout.boxed())
        .unify()
        .or(tokens_routes.boxed())
        .unify()
        .or(revoke.boxed())
        .unify()
        .or(settings_routes.boxed())
        .unify()
        .or(private_add.boxed())
        .unify()
        .boxed()
}

/// Last routes: `?go-get=1` on any other path, and an HTML 404 page for browsers (requests
/// that accept `text/html`) outside `/api/`; everything else is left to the caller's recovery.
pub fn fallback(state: AppState) -> BoxedFilter<(Answer,)> {
    warp::get()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state(state))
        .and(warp::header::headers_cloned())
        .and(super::conn())
        .and_then(
            |path: FullPath, query: String, state: AppState, headers: HeaderMap, conn| async move {
                let p = path.as_str();
                if p.starts_with("/api/") {
                    return Err(warp::reject::not_found());
                }
                let go_get_asked = query.split('&').any(|kv| kv == "go-get=1");
                if go_get_asked {
                    return Ok(respond(go_get(state, p.to_owned(), headers, conn).await));
                }
                let wants_html = headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"));
                if !wants_html {
                    return Err(warp::reject::not_found());
                }
                let viewer = viewer(&state, &headers).await.ok().flatten();
                Ok(Answer(not_found_page(viewer.as_ref(), "No such page.")))
            },
        )
        .boxed()
}
