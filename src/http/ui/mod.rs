//! The web UI's routes: server-rendered pages, embedded assets, sign-in, tokens, the admins'
//! settings, and the `?go-get=1` answer. Thin: pages are built by `crate::web`, data comes
//! from the store.
//!
//! URL scheme (module paths `!`-escaped as on the GOPROXY protocol, spec.md §1.3):
//! - `/` home (`/?q=text` searches module paths)
//! - `/ui/{owner}` namespace
//! - `/ui/{owner}/{module}` module at its latest version
//! - `/ui/{owner}/{module}/@v/{version}` module at one version (module paths contain no `@`)
//! - `/assets/{hash}/{file}` embedded CSS and JS, immutable
//! - `/signin`, `/signout`
//! - `/tokens` (`POST`: a new token), `/tokens/revoke`
//! - `/settings` (admins), `/settings/private` (`POST`: a new private pattern)
//! - `/retention` (`POST`: a namespace's retention rules, from its page; its writers)
//! - `/cache` (admins): the pull-through cache's versions
//! - any other `GET /{path}?go-get=1` whose `{host}/{path}` is a visible module (or inside
//!   one): the go-import `mod` tag pointing at the module's namespace (spec.md §6.1).
//!
//! Here: the shared state, what every page uses (`html`, `chrome`, `render`, the 404 page),
//! and the routes. The rest, by concern:
//! - `assets`: the embedded CSS and JS, and their fingerprinted URLs
//! - `signin`: who is looking (`Viewer`), forms and their checks, sign-in and sign-out
//! - `browse`: the home, namespace and module pages, and `?go-get=1`
//! - `facts`: the zip facts (README, files) of a version for the module page
//! - `tokens`: the viewer's API tokens
//! - `settings`: the admins' settings page

mod assets;
mod browse;
mod docs;
mod facts;
mod settings;
mod signin;
mod tokens;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::filters::BoxedFilter;
use warp::path::{FullPath, Tail};
use warp::Filter;

use super::body::{typed_response, Body, Response};
use super::edge::ConnInfo;
use super::error::ApiError;
use super::{answer, body_stream, get_or_head, raw_query, with_state, Answer, AppState};
use crate::web::downloads::Downloads;
use crate::web::facts::FactsCache;
use crate::web::pages::{self, Chrome};
use crate::web::sessions::Sessions;

pub use browse::{can_view, flush_downloads};
pub use facts::{index_version, warm_facts};
pub use signin::Viewer;

use assets::{asset_url, serve_asset};
use browse::{go_get, home, ui_page};
use settings::{add_private_pattern, cache, set_retention, settings};
use signin::{query_form, signin, signin_form, signout, viewer};
use tokens::{create_token, revoke_token, tokens};

/// The UI's shared state.
pub struct UiState {
    pub facts: FactsCache,
    pub docs: FactsCache<crate::gomod::doc::module::ModuleDocs>,
    pub downloads: Downloads,
    pub sessions: Sessions,
    /// Whether a `warm_facts` task is running.
    pub warming: std::sync::atomic::AtomicBool,
}

impl Default for UiState {
    /// The memory caches share `web::facts::DEFAULT_BUDGET`: half for README facts, half for
    /// package docs.
    fn default() -> Self {
        Self {
            facts: FactsCache::new(crate::web::facts::DEFAULT_BUDGET / 2),
            docs: FactsCache::new(crate::web::facts::DEFAULT_BUDGET / 2),
            downloads: Downloads::default(),
            sessions: Sessions::default(),
            warming: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// A page: HTML, for this viewer only. Pages show who is signed in and what they may see, so
/// a shared cache must never keep one (`private`); the browser revalidates (`no-cache`).
/// The security headers (CSP and the rest) are `finish::decorate`'s.
fn html(status: StatusCode, body: String) -> Response {
    let mut resp = typed_response(body, "text/html; charset=utf-8", "private, no-cache");
    *resp.status_mut() = status;
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

/// Who is looking, and how: the state, the request's headers (the session cookie, the Host)
/// and the connection it came on.
fn visitor(
    state: &AppState,
) -> impl Filter<Extract = (AppState, HeaderMap, ConnInfo), Error = std::convert::Infallible> + Clone
{
    with_state(state.clone())
        .and(warp::header::headers_cloned())
        .and(super::conn())
}

/// A `GET` (or `HEAD`) of a page that needs only who is looking: `handle` answers from the
/// request's headers.
fn viewer_page<F, Fut>(state: &AppState, handle: F) -> BoxedFilter<(Answer,)>
where
    F: Fn(AppState, HeaderMap) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    get_or_head()
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .then(move |state, headers| {
            let answered = handle(state, headers);
            async move { answer(answered.await) }
        })
        .boxed()
}

/// A `POST` of a form that changes something for the signed-in user: the body is read under
/// the form limit, and the viewer must have a session whose CSRF token the form carries and
/// come from this origin (`signin::form_viewer`), before `handle` runs. The one place every
/// such form is checked.
fn signed_in_form<F, Fut>(state: &AppState, handle: F) -> BoxedFilter<(Answer,)>
where
    F: Fn(AppState, Viewer, signin::Form, ConnInfo) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    warp::post()
        .and(body_stream())
        .and(visitor(state))
        .then(move |body, state: AppState, headers: HeaderMap, conn| {
            let handle = handle.clone();
            async move {
                let checked = async {
                    let form = signin::read_form(&state, body).await?;
                    let viewer = signin::form_viewer(&state, &form, &headers, conn).await?;
                    Ok::<_, ApiError>((viewer, form))
                }
                .await;
                answer(match checked {
                    Ok((viewer, form)) => handle(state, viewer, form, conn).await,
                    Err(e) => Err(e),
                })
            }
        })
        .boxed()
}

/// The UI's routes. Unknown paths are rejected (not found) so the caller's other routes and
/// its recovery still apply; `fallback` answers what nothing else took.
///
/// Each route is boxed: a chain of unboxed `or`s makes a type so deep that compiling the
/// crate took minutes; one dynamic call per route costs nothing next to a page.
pub fn routes(state: AppState) -> BoxedFilter<(Answer,)> {
    let home = warp::path::end()
        .and(get_or_head())
        .and(raw_query())
        .and(visitor(&state))
        .then(|query: String, state, headers, conn| async move {
            let query = query_form(&query);
            if query.get("go-get").is_some_and(|v| v == "1") {
                return answer(go_get(state, String::new(), headers, conn).await);
            }
            answer(home(state, query, headers).await)
        });

    let ui = warp::path("ui")
        .and(warp::path::tail())
        .and(get_or_head())
        .and(visitor(&state))
        .then(|tail: Tail, state, headers, conn| async move {
            answer(ui_page(state, tail.as_str().to_owned(), headers, conn).await)
        });

    let assets = warp::path!("assets" / String / String)
        .and(get_or_head())
        .and(warp::header::headers_cloned())
        .map(|hash: String, name: String, headers: HeaderMap| {
            Answer(serve_asset(&hash, &name, &headers))
        });

    let signin = warp::path!("signin").and(
        get_or_head()
            .and(raw_query())
            .and(visitor(&state))
            .then(|query, state, headers, conn| async move {
                answer(signin_form(state, query, headers, conn).await)
            })
            .or(warp::post().and(body_stream()).and(visitor(&state)).then(
                |body, state, headers, conn| async move {
                    answer(signin(state, body, headers, conn).await)
                },
            ))
            .unify(),
    );

    let signout = warp::path!("signout").and(signed_in_form(&state, signout));

    let tokens_routes = warp::path!("tokens").and(
        viewer_page(&state, tokens)
            .or(signed_in_form(&state, create_token))
            .unify(),
    );

    let revoke = warp::path!("tokens" / "revoke").and(signed_in_form(&state, revoke_token));

    let settings_routes = warp::path!("settings").and(viewer_page(&state, settings));

    let private_add =
        warp::path!("settings" / "private").and(signed_in_form(&state, add_private_pattern));

    let retention = warp::path!("retention").and(signed_in_form(&state, set_retention));

    let cache_page = warp::path!("cache").and(viewer_page(&state, cache));
    let cached_docs = warp::path("cache")
        .and(warp::path::tail())
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .then(|tail: Tail, state, headers| async move {
            answer(docs::cached_page(state, headers, tail.as_str().to_owned()).await)
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
        .or(cache_page.boxed())
        .unify()
        .or(cached_docs.boxed())
        .unify()
        .or(retention.boxed())
        .unify()
        .boxed()
}

/// Last routes: `?go-get=1` on any other path, and an HTML 404 page for browsers (requests
/// that accept `text/html`) outside `/api/`; everything else is left to the caller's recovery.
pub fn fallback(state: AppState) -> BoxedFilter<(Answer,)> {
    warp::get()
        .and(warp::path::full())
        .and(raw_query())
        .and(visitor(&state))
        .and_then(
            |path: FullPath, query: String, state: AppState, headers: HeaderMap, conn| async move {
                let p = path.as_str();
                if p.starts_with("/api/") {
                    return Err(warp::reject::not_found());
                }
                let go_get_asked = query.split('&').any(|kv| kv == "go-get=1");
                if go_get_asked {
                    return Ok(answer(go_get(state, p.to_owned(), headers, conn).await));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        h
    }

    /// The Host header goes into links, the go-import tag and the origin check: only what
    /// looks like a host (name or address, optional port) is taken.
    #[test]
    fn request_host_takes_only_what_looks_like_a_host() {
        for ok in [
            "shelf.example",
            "shelf.example:8080",
            "nas.lan",
            "127.0.0.1:3000",
            "[::1]:8080",
            "Shelf-1.Example",
        ] {
            assert_eq!(request_host(&host(ok)), Some(ok));
        }
        for bad in [
            "",
            "shelf.example/path",
            "evil.example@shelf.example",
            "shelf.example evil.example",
            "shelf.example\"><script>",
            "shelf.example?x",
            "shelf.example#x",
            "shelf.example\\x",
        ] {
            assert_eq!(request_host(&host(bad)), None, "{bad:?}");
        }
        assert_eq!(
            request_host(&host(&"a".repeat(255))).map(str::len),
            Some(255)
        );
        assert_eq!(request_host(&host(&"a".repeat(256))), None);
        assert_eq!(request_host(&HeaderMap::new()), None);
    }

    /// The scheme is the connection's (a client's `X-Forwarded-Proto` is not believed).
    #[test]
    fn base_url_follows_the_connection_and_falls_back_to_localhost() {
        let plain = ConnInfo::local();
        let tls = ConnInfo {
            tls: true,
            ..ConnInfo::local()
        };
        let mut h = host("shelf.example:8080");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(base_url(plain, &h), "http://shelf.example:8080");
        assert_eq!(base_url(tls, &h), "https://shelf.example:8080");
        assert_eq!(base_url(tls, &host("evil/x")), "https://localhost");
        assert_eq!(base_url(plain, &HeaderMap::new()), "http://localhost");
    }

    #[test]
    fn pages_are_private_and_redirects_are_never_stored() {
        let page = html(StatusCode::OK, "<p>hi</p>".to_owned());
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page.headers()[header::CACHE_CONTROL], "private, no-cache");

        let to = redirect("/tokens", Some("goshelf_session=x; Path=/".to_owned()));
        assert_eq!(to.status(), StatusCode::SEE_OTHER);
        assert_eq!(to.headers()[header::LOCATION], "/tokens");
        assert_eq!(
            to.headers()[header::SET_COOKIE],
            "goshelf_session=x; Path=/"
        );
        assert_eq!(to.headers()[header::CACHE_CONTROL], "no-store");
        let bare = redirect("/", None);
        assert!(!bare.headers().contains_key(header::SET_COOKIE));
    }
}
