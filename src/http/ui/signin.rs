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

pub(super) async fn signout(
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
