//! The admins' pages: settings (`/settings`: the GOSUMDB line, the private patterns with a
//! form to add one, uncovered and claimed paths) and the pull-through cache (`/cache`).

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::signin::{field, form_actor, viewer, Form, Viewer};
use super::{chrome, html, redirect, render};
use crate::http::body::Response;
use crate::http::edge::ConnInfo;
use crate::http::error::ApiError;
use crate::http::{blocking, AppState};
use crate::store;
use crate::web::pages;

/// Runs `op` as `crate::admin::execute` does for the CLI (its checks and its effect at once),
/// acting as the signed-in viewer of a form (`signin::form_actor`).
async fn execute_for_form(
    state: &AppState,
    viewer: &Viewer,
    op: crate::admin::Op,
) -> Result<(), ApiError> {
    let actor = form_actor(&viewer.principal);
    let s = Arc::clone(&state.store);
    blocking(move || crate::admin::execute(&s, &actor, op, store::now_unix())).await?;
    Ok(())
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
    let op = crate::admin::Op::PrivateAdd {
        pattern: pattern.clone(),
    };
    execute_for_form(&state, &viewer, op).await?;
    tracing::info!(
        "private pattern {pattern} added by {}",
        viewer.principal.user
    );
    settings_page(&state, &viewer, Ok(format!("Pattern {pattern} added."))).await
}

/// The pull-through cache's page, for admins.
pub(super) async fn cache(state: AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(viewer) = viewer(&state, &headers).await? else {
        return Ok(redirect("/signin?next=/cache", None));
    };
    if !viewer.principal.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only an admin may open the cache's page",
        ));
    }
    let (s, ui) = (Arc::clone(&state.store), Arc::clone(&state.ui));
    let rows = blocking(move || {
        let mut downloads: std::collections::HashMap<
            String,
            std::collections::HashMap<String, u64>,
        > = std::collections::HashMap::new();
        let mut rows = Vec::new();
        for (module, version, r) in s.cached_all()? {
            if !downloads.contains_key(&module) {
                // Stored counts and those not yet flushed.
                let lan = crate::gomod::proxy::LAN;
                let mut counts = s.download_counts(lan, &module)?;
                for (v, n) in ui.downloads.pending_for(lan, &module) {
                    *counts.entry(v).or_insert(0) += n;
                }
                downloads.insert(module.clone(), counts);
            }
            let n = downloads
                .get(&module)
                .and_then(|c| c.get(&version))
                .copied()
                .unwrap_or(0);
            rows.push(pages::CachedRow {
                docs_href: r.blake3.is_some().then(|| {
                    pages::pkg_href_under(&pages::cached_version_href(&module, &version), "")
                }),
                zip: r.size.map_or_else(|| "-".to_owned(), pages::size),
                origin: r.origin,
                fetched: crate::http::goproxy::rfc3339(r.fetched_at),
                downloads: n,
                module,
                version,
            });
        }
        Ok::<_, store::Error>(rows)
    })
    .await?;
    let cap = state.config.cache_max_bytes;
    let upstream = if state.config.offline {
        "offline: nothing is fetched".to_owned()
    } else if state.config.upstream.is_empty() {
        "none configured".to_owned()
    } else {
        state
            .config
            .upstream
            .iter()
            .map(|u| u.url.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let page = pages::CachePage {
        chrome: chrome("Cache", Some(&viewer), ""),
        rows,
        bytes: pages::size(state.pull.cached_bytes()),
        cap: if cap == 0 {
            "none".to_owned()
        } else {
            pages::size(cap)
        },
        upstream,
    };
    let mut resp = html(StatusCode::OK, render(&page)?);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Sets a namespace's retention rules from its page (`POST /retention`), through the same
/// operation as `goshelf owner set-retention` (its permission check: writers of the
/// namespace); every field empty clears them. Answers with the namespace page again.
pub(super) async fn set_retention(
    state: AppState,
    viewer: Viewer,
    form: Form,
    _conn: ConnInfo,
) -> Result<Response, ApiError> {
    let owner = crate::auth::normalize_owner(field(&form, "owner"))
        .ok_or_else(|| ApiError::bad_request("no such namespace"))?;
    let number = |name: &str| -> Result<Option<u32>, ApiError> {
        let text = field(&form, name).trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<u32>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "{name}: {text:?} is not a whole number of at least 0"
            ))
        })
    };
    let rules = crate::gomod::retention::Retention {
        keep_pseudo: number("keep_pseudo")?,
        keep_pseudo_days: number("keep_pseudo_days")?,
        prerelease_days: number("prerelease_days")?,
    };
    let op = crate::admin::Op::OwnerRetention {
        owner: owner.clone(),
        rules: (!rules.is_empty()).then_some(rules),
    };
    execute_for_form(&state, &viewer, op).await?;
    tracing::info!(
        "retention of {owner} set by {}: {}",
        viewer.principal.user,
        rules.describe()
    );
    Ok(redirect(&format!("/ui/{owner}"), None))
}
