//! The admins' settings page (`/settings`): the GOSUMDB line, the private patterns with a
//! form to add one, uncovered and claimed paths.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::signin::{field, viewer, Form, Viewer};
use super::{chrome, html, redirect, render};
use crate::auth::{Principal, Scope};
use crate::http::body::Response;
use crate::http::edge::ConnInfo;
use crate::http::error::ApiError;
use crate::http::{blocking, AppState};
use crate::store;
use crate::web::pages;

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

pub(super) async fn settings(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    match viewer(&state, &headers).await? {
        Some(v) => settings_page(&state, &v, Ok(String::new())).await,
        None => Ok(redirect("/signin?next=/settings", None)),
    }
}

/// Adds a `private` pattern from the settings page, through the same operation as
/// `goshelf private add` (its checks and its effect at once).
pub(super) async fn add_private_pattern(
    state: AppState,
    viewer: Viewer,
    form: Form,
    _conn: ConnInfo,
) -> Result<Response, ApiError> {
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
