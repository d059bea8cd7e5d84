//! Who is looking (`Viewer`, from the session cookie), the forms the pages post and their
//! checks (CSRF token, same origin, local `next`), and signing in and out.

use std::collections::HashMap;
use std::sync::Arc;

use http::{header, HeaderMap, StatusCode};

use super::{base_url, chrome, html, redirect, render, request_host};
use crate::auth::{Principal, Scope};
use crate::http::body::Response;
use crate::http::edge::ConnInfo;
use crate::http::error::ApiError;
use crate::http::{authn, blocking, AppState, BodyStream};
use crate::store;
use crate::web::pages;
use crate::web::sessions;

/// Who is looking: a signed-in user, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
    session_id: String,
}

/// The viewer of a request, from its session cookie.
pub(super) async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, ApiError> {
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

/// A form body: small, url-encoded.
pub(super) type Form = HashMap<String, String>;
/// The largest form body read.
const FORM_LIMIT: usize = 16 * 1024;

/// Reads a url-encoded form: at most `FORM_LIMIT` bytes, all within `header_timeout` (a form
/// that trickles is cut off like a slow head).
pub(super) async fn read_form(state: &AppState, body: BodyStream) -> Result<Form, ApiError> {
    let raw =
        crate::http::api::read_small_body(body, FORM_LIMIT, state.config.header_timeout, "form")
            .await?;
    Ok(form_urlencoded::parse(&raw).into_owned().collect())
}

/// A query string as a form.
pub(super) fn query_form(query: &str) -> Form {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn field<'a>(form: &'a Form, name: &str) -> &'a str {
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

pub(super) async fn signin_form(
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

pub(super) async fn signin(
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
        Err(authn::SignInError::Wrong) => signin_page(
            None,
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
            user,
            next,
        ),
        Err(authn::SignInError::Wait(text)) => {
            signin_page(None, StatusCode::TOO_MANY_REQUESTS, &text, user, next)
        }
        Err(authn::SignInError::Failed(e)) => Err(e),
    }
}

/// The signed-in viewer of a state-changing form, after the CSRF checks.
pub(super) async fn form_viewer(
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

/// Who a signed-in form acts as: its viewer with a write credential, as with a password. A
/// session reads with a read scope; a form that passed `form_viewer` came from this origin
/// with the session's token, so it may write.
pub(super) fn form_actor(viewer: &Principal) -> Principal {
    Principal {
        scope: Scope::Write,
        ..viewer.clone()
    }
}

pub(super) async fn signout(
    state: AppState,
    viewer: Viewer,
    _form: Form,
    conn: ConnInfo,
) -> Result<Response, ApiError> {
    state.ui.sessions.remove(&viewer.session_id);
    Ok(redirect("/", Some(session_cookie(conn, "", 0))))
}

#[cfg(test)]
mod tests {
    use http::header::HeaderName;
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_static(value));
        }
        h
    }

    fn plain() -> ConnInfo {
        ConnInfo::local()
    }

    fn tls() -> ConnInfo {
        ConnInfo {
            tls: true,
            ..ConnInfo::local()
        }
    }

    /// `next` after signing in is taken only as a path on this host: anything a browser
    /// would read as another host (`//host`, a scheme, a backslash it turns into a slash,
    /// a tab or newline it drops) goes to `/`.
    #[test]
    fn local_path_keeps_local_paths_only() {
        for kept in [
            "/",
            "/tokens",
            "/settings",
            "/ui/acme/example.com/m/@v/v1.0.0",
            "/?q=alpha",
            // Escaped slashes are one path segment on this host.
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(local_path(kept), kept);
        }
        for refused in [
            "",
            "tokens",
            "//evil.example",
            "///evil.example",
            "https://evil.example/",
            "http:/evil.example",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
            "/tokens\\..",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/tokens\u{7f}",
            " /tokens",
        ] {
            assert_eq!(local_path(refused), "/", "{refused:?}");
        }
    }

    #[test]
    fn same_origin_wants_origin_or_referer_to_name_this_scheme_and_host() {
        let host = (header::HOST, "shelf.example:8080");
        let from = |name: HeaderName, value: &'static str| headers(&[host.clone(), (name, value)]);
        assert!(same_origin(
            plain(),
            &from(header::ORIGIN, "http://shelf.example:8080")
        ));
        assert!(same_origin(
            plain(),
            &from(header::REFERER, "http://shelf.example:8080/tokens")
        ));
        assert!(same_origin(
            plain(),
            &from(header::REFERER, "http://shelf.example:8080/")
        ));
        for other in [
            "http://evil.example",
            "http://shelf.example",
            "http://shelf.example:8080.evil.example",
            "http://shelf.example:80800",
            "http://shelf.example:8080@evil.example",
            "https://shelf.example:8080",
            "null",
            "",
        ] {
            assert!(
                !same_origin(plain(), &from(header::ORIGIN, other)),
                "{other}"
            );
        }
        assert!(!same_origin(
            plain(),
            &from(
                header::REFERER,
                "http://shelf.example:8080.evil.example/tokens"
            )
        ));
        assert!(!same_origin(
            plain(),
            &from(header::REFERER, "http://shelf.example:8080@evil.example/")
        ));
        // The scheme is the connection's.
        assert!(same_origin(
            tls(),
            &from(header::ORIGIN, "https://shelf.example:8080")
        ));
        assert!(!same_origin(
            tls(),
            &from(header::ORIGIN, "http://shelf.example:8080")
        ));
        // The Origin decides when there is one, whatever the Referer says.
        assert!(!same_origin(
            plain(),
            &headers(&[
                host.clone(),
                (header::ORIGIN, "http://evil.example"),
                (header::REFERER, "http://shelf.example:8080/tokens"),
            ])
        ));
        // Neither (privacy settings): the session's token alone decides.
        assert!(same_origin(plain(), &headers(&[host])));
        // No usable Host: refused, even with a matching Origin.
        assert!(!same_origin(
            plain(),
            &headers(&[(header::ORIGIN, "http://localhost")])
        ));
        assert!(!same_origin(
            plain(),
            &headers(&[
                (header::HOST, "shelf.example/x"),
                (header::ORIGIN, "http://shelf.example/x"),
            ])
        ));
    }

    #[test]
    fn session_cookie_is_http_only_strict_for_the_whole_site_and_secure_over_https() {
        assert_eq!(
            session_cookie(plain(), "abc", 3600),
            "goshelf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"
        );
        assert_eq!(
            session_cookie(tls(), "abc", 3600),
            "goshelf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure"
        );
        // Signing out: the same cookie, emptied and expired at once.
        assert_eq!(
            session_cookie(tls(), "", 0),
            "goshelf_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        assert!(session_cookie(plain(), "abc", 1).starts_with(&format!("{}=", sessions::COOKIE)));
    }

    #[test]
    fn forms_decode_their_fields_and_a_missing_field_is_empty() {
        let form = query_form("next=%2Ftokens&name=ci+token&csrf=&x=%E2%9C%93");
        assert_eq!(field(&form, "next"), "/tokens");
        assert_eq!(field(&form, "name"), "ci token");
        assert_eq!(field(&form, "csrf"), "");
        assert_eq!(field(&form, "x"), "\u{2713}");
        assert_eq!(field(&form, "missing"), "");
        assert!(query_form("").is_empty());
    }

    fn app_state(
        plain_http_signin: bool,
        https_port: Option<u16>,
    ) -> (tempfile::TempDir, AppState) {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::for_test(dir.path(), |c| c.plain_http_signin = plain_http_signin);
        if let Some(port) = https_port {
            state.https_port.set(port).unwrap();
        }
        (dir, state)
    }

    /// A sign-in over plain HTTP is sent to the HTTPS listener, on the same host name.
    #[test]
    fn https_signin_sends_plain_http_sign_ins_to_the_https_port() {
        let (_dir, state) = app_state(false, Some(8443));
        let at = |host: &'static str, query: &str| {
            https_signin(&state, plain(), &headers(&[(header::HOST, host)]), query)
        };
        for (host, query, to) in [
            (
                "shelf.example:8080",
                "",
                "https://shelf.example:8443/signin",
            ),
            (
                "shelf.example",
                "next=%2Ftokens",
                "https://shelf.example:8443/signin?next=%2Ftokens",
            ),
            ("[::1]:8080", "", "https://[::1]:8443/signin"),
            ("[::1]", "", "https://[::1]:8443/signin"),
        ] {
            assert_eq!(at(host, query).as_deref(), Some(to), "{host:?} {query:?}");
        }
        assert_eq!(
            https_signin(&state, plain(), &HeaderMap::new(), "").as_deref(),
            Some("https://localhost:8443/signin")
        );
        // Already over HTTPS: sign in here.
        assert_eq!(
            https_signin(
                &state,
                tls(),
                &headers(&[(header::HOST, "shelf.example")]),
                ""
            ),
            None
        );

        let (_dir, state) = app_state(false, Some(443));
        assert_eq!(
            https_signin(
                &state,
                plain(),
                &headers(&[(header::HOST, "shelf.example:80")]),
                ""
            )
            .as_deref(),
            Some("https://shelf.example/signin")
        );
    }

    /// Without an HTTPS listener, or with `plain_http_signin` on, plain HTTP sign-ins stay.
    #[test]
    fn https_signin_stays_without_https_or_when_plain_http_is_allowed() {
        let host = headers(&[(header::HOST, "shelf.example:8080")]);
        let (_dir, no_https) = app_state(false, None);
        assert_eq!(https_signin(&no_https, plain(), &host, ""), None);
        let (_dir, allowed) = app_state(true, Some(8443));
        assert_eq!(https_signin(&allowed, plain(), &host, ""), None);
    }
}
