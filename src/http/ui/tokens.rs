//! The viewer's API tokens (`/tokens`): the list, creating one (its secret shown once), and
//! revoking one.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::signin::{field, viewer, Form, Viewer};
use super::{chrome, html, redirect, render};
use crate::auth::Scope;
use crate::http::body::Response;
use crate::http::edge::ConnInfo;
use crate::http::error::ApiError;
use crate::http::{blocking, AppState};
use crate::store;
use crate::web::pages;

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

pub(super) async fn tokens(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    match viewer(&state, &headers).await? {
        Some(v) => tokens_page(&state, &v, None, "").await,
        None => Ok(redirect("/signin?next=/tokens", None)),
    }
}

/// Longest token name accepted from the form.
const MAX_TOKEN_NAME: usize = 64;
/// Longest expiry accepted, in days.
const MAX_TOKEN_DAYS: i64 = 3650;

pub(super) async fn create_token(
    state: AppState,
    viewer: Viewer,
    form: Form,
    _conn: ConnInfo,
) -> Result<Response, ApiError> {
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

pub(super) async fn revoke_token(
    state: AppState,
    viewer: Viewer,
    form: Form,
    _conn: ConnInfo,
) -> Result<Response, ApiError> {
    let s = Arc::clone(&state.store);
    let (user, id) = (viewer.principal.user.clone(), field(&form, "id").to_owned());
    let found = blocking(move || s.revoke_token(&user, &id)).await?;
    if !found {
        return Err(ApiError::not_found("no such token of yours"));
    }
    Ok(redirect("/tokens", None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rows_show_dates_scope_and_never() {
        let day = 86_400;
        let rows = token_rows(vec![
            store::TokenInfo {
                id: "t1".to_owned(),
                user: "ana".to_owned(),
                name: "laptop".to_owned(),
                scope: Scope::Read,
                created_at: 1_700_000_000,
                expires_at: None,
                last_used: None,
            },
            store::TokenInfo {
                id: "t2".to_owned(),
                user: "ana".to_owned(),
                name: "ci".to_owned(),
                scope: Scope::Write,
                created_at: 1_700_000_000,
                expires_at: Some(1_700_000_000 + 30 * day),
                last_used: Some(1_700_000_000 + day),
            },
        ]);
        let never = &rows[0];
        assert_eq!((never.id.as_str(), never.name.as_str()), ("t1", "laptop"));
        assert_eq!(never.scope, "read");
        assert_eq!(never.created, pages::date(1_700_000_000));
        assert_eq!(
            (never.expires.as_str(), never.last_used.as_str()),
            ("never", "never")
        );
        let ci = &rows[1];
        assert_eq!(ci.scope, "write");
        assert_eq!(ci.expires, pages::date(1_700_000_000 + 30 * day));
        assert_eq!(ci.last_used, pages::date(1_700_000_000 + day));
    }
}
