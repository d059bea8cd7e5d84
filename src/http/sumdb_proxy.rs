//! The proxy of the upstream checksum database (`upstream_sumdb`, sum.golang.org by default)
//! at `/go/sumdb/<its name>/...` (and every base the shelf's own database answers at), so
//! that clients keeping `GOSUMDB=sum.golang.org` verify through the shelf with no internet
//! access of their own (checksum-db.md §8).
//!
//! - `supported`: 200 while the shelf fetches (not `offline`), or while it holds answers of
//!   that database; else 404 (the go command then asks the database directly).
//! - `lookup/...`: verified with the client algorithm before anything is kept
//!   (`upstream::Upstream::fetch`, which also appends the record to the shelf's own log);
//!   the upstream's signed body is served as it came, fresh for `list_ttl`, then asked
//!   again, and served stale while the upstream fails. A private or hosted path is never
//!   forwarded: it gets the 404 of a record that exists nowhere.
//! - `tile/...`: the tiles verifications authenticated are kept and served forever; others
//!   are forwarded (exactly `W×32` bytes) and not kept (clients authenticate them).
//! - `latest`: forwarded, never kept.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use super::body::Response;
use super::budget::Requester;
use super::error::ApiError;
use super::upstream::Failure;
use super::AppState;
use crate::gomod::path as modpath;
use crate::sumdb::Verifier;

/// The name of the upstream checksum database of `config`, when one is set.
#[must_use]
pub fn upstream_name(config: &crate::config::Config) -> Option<String> {
    let u = config.upstream_sumdb.as_ref()?;
    Verifier::parse(&u.vkey).ok().map(|v| v.name().to_owned())
}

/// The answer when `rest` (after `sumdb/`) names the upstream database; `None` otherwise
/// (the shelf's own database, or another name). Only the LAN's bases and the fixed root
/// route here: a namespace's base serves the shelf's own database alone. A database read
/// with `upstream_sumdb_token` is proxied to signed-in viewers only (`signed_in`), as the
/// shelf's own log then is: its tiles may name private modules of that server.
pub async fn route(
    state: &AppState,
    rest: &str,
    signed_in: bool,
    requester: &Requester,
) -> Option<Result<Response, ApiError>> {
    let name = state.pull.sumdb_name.as_deref()?;
    let what = rest.strip_prefix(name)?.strip_prefix('/')?;
    if state.config.upstream_sumdb_token.is_some() && !signed_in {
        return Some(Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this checksum database is read with a token here (upstream_sumdb_token)",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"goshelf\""),
        )));
    }
    Some(handle(state, name, what, requester).await)
}

/// An answer as the shelf's own log gives one (`sumdb::answer`): for shared caches unless
/// the database is read with `upstream_sumdb_token` (then `private`).
fn answer(
    state: &AppState,
    body: Vec<u8>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let shared = state.config.upstream_sumdb_token.is_none();
    super::sumdb::answer(Bytes::from(body), content_type, cache, shared)
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Answers `what` (the path after `sumdb/<name>/`) for the upstream database `name`.
///
/// # Errors
/// The one-line answers.
pub async fn handle(
    state: &AppState,
    name: &str,
    what: &str,
    requester: &Requester,
) -> Result<Response, ApiError> {
    let store = &state.store;
    if what == "supported" {
        let holds = {
            let (s, n) = (Arc::clone(store), name.to_owned());
            super::blocking(move || s.upstream_sumdb_holds(&n)).await?
        };
        if state.config.offline && !holds {
            return Err(ApiError::not_found(format!(
                "offline: this shelf holds nothing of {name}"
            )));
        }
        return Ok(answer(state, Vec::new(), TEXT, "public, max-age=86400"));
    }
    if let Some(target) = what.strip_prefix("lookup/") {
        return lookup(state, name, target, requester).await;
    }
    if what.starts_with("tile/") {
        return tile(state, name, what).await;
    }
    if what == "latest" {
        let Some(up) = state.upstream.clone() else {
            return Err(ApiError::not_found(format!("offline: {name}/latest")));
        };
        let turn = turn(state).await?;
        let got = super::blocking(move || {
            let _turn = turn;
            Ok::<_, ApiError>(up.get_raw("latest"))
        })
        .await?;
        return match got {
            Ok(Some(body)) => {
                let mut resp = answer(state, body, TEXT, "no-cache");
                resp.extensions_mut().insert(super::pull::Volatile);
                Ok(resp)
            }
            Ok(None) => Err(ApiError::not_found(format!("{name}/latest: not found"))),
            Err(Failure::Unreachable(why) | Failure::Refused(why)) => {
                Err(ApiError::new(StatusCode::BAD_GATEWAY, why))
            }
        };
    }
    Err(ApiError::not_found(format!(
        "not a checksum database request: {what}"
    )))
}

/// A turn at the upstream (`upstream_concurrency`), or the 503 of a busy upstream.
async fn turn(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state
        .upstream_turn()
        .await
        .ok_or_else(|| super::sumdb::upstream_busy(state))
}

async fn lookup(
    state: &AppState,
    name: &str,
    target: &str,
    requester: &Requester,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("not found: {target}"));
    let (path, version) = target.rsplit_once('@').ok_or_else(not_found)?;
    let path = modpath::unescape_path(path).map_err(|_| not_found())?;
    let version = modpath::unescape_version(version).map_err(|_| not_found())?;
    let path = path.as_str().to_owned();
    if super::pull::never_looked_up(state, &path).await? {
        return Err(not_found());
    }
    let key = format!("{name}/lookup/{target}");
    let kept = {
        let (s, k) = (Arc::clone(&state.store), key.clone());
        super::blocking(move || s.upstream_sumdb_kept(&k)).await?
    };
    let fresh = kept.as_ref().is_some_and(|(at, _)| {
        crate::store::now_unix().saturating_sub(*at)
            < i64::try_from(state.config.list_ttl.as_secs()).unwrap_or(i64::MAX)
    });
    let serve = |body: Vec<u8>| Ok(answer(state, body, TEXT, "public, max-age=60"));
    if fresh || state.upstream.is_none() {
        return match kept {
            Some((_, body)) => serve(body),
            None => Err(not_found()),
        };
    }
    let Some(up) = state.upstream.clone() else {
        return Err(not_found());
    };
    // A record fetched here is appended to the shelf's own log, as a lookup miss of that log
    // is: charged to the requester's budget, and within `sumdb_upstream_max_records`.
    let hour = super::sumdb::this_hour();
    if let Some(why) = super::sumdb::refused_record(state, requester, hour)? {
        return match kept {
            Some((_, body)) => serve(body),
            None => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("3600"))),
        };
    }
    let Some(turn) = state.upstream_turn().await else {
        return match kept {
            Some((_, body)) => serve(body),
            None => Err(super::sumdb::upstream_busy(state)),
        };
    };
    let store = Arc::clone(&state.store);
    let (p, v) = (path.clone(), version.clone());
    let fetched = super::blocking(move || {
        let _turn = turn;
        Ok::<_, ApiError>(up.fetch(&store, &p, &v))
    })
    .await?;
    match fetched {
        Ok(Some(logged)) => {
            if matches!(logged, crate::store::sumdb::Logged::New(_)) {
                state.budgets.charge(&requester.who, hour);
            }
            let (s, k) = (Arc::clone(&state.store), key.clone());
            match super::blocking(move || s.upstream_sumdb_kept(&k)).await? {
                Some((_, body)) => serve(body),
                None => Err(ApiError::internal(
                    "checksum database proxy",
                    &"a verified lookup was not kept",
                )),
            }
        }
        Ok(None) => Err(not_found()),
        Err(Failure::Unreachable(why)) => match kept {
            Some((_, body)) => {
                tracing::warn!("{name} unreachable ({why}); serving the last copy of {target}");
                state.metrics.pull(super::metrics::Pull::Stale);
                serve(body)
            }
            None => Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("upstream checksum database {name} unreachable: {why}"),
            )),
        },
        Err(Failure::Refused(why)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("upstream checksum database {name} failed verification: {why}"),
        )),
    }
}

async fn tile(state: &AppState, name: &str, what: &str) -> Result<Response, ApiError> {
    let t = super::sumdb::parse_tile(what)?;
    if t.is_data() {
        return Err(ApiError::not_found(format!(
            "{what}: data tiles are not proxied"
        )));
    }
    // Kept: that tile, or the first W hashes of a wider copy of its place (what an offline
    // shelf holds after an import is often the full tile).
    let kept = {
        let (s, n) = (Arc::clone(&state.store), name.to_owned());
        super::blocking(move || s.upstream_sumdb_tile(&n, &t)).await?
    };
    if let Some(body) = kept {
        return Ok(answer(
            state,
            body,
            "application/octet-stream",
            "public, max-age=31536000, immutable",
        ));
    }
    let Some(up) = state.upstream.clone() else {
        return Err(ApiError::not_found(format!("not found: {what}")));
    };
    let path = t.path();
    let turn = turn(state).await?;
    let got = super::blocking(move || {
        let _turn = turn;
        Ok::<_, ApiError>(up.get_raw(&path))
    })
    .await?;
    match got {
        Ok(Some(body)) if body.len() as u64 == u64::from(t.w) * 32 => Ok(answer(
            state,
            body,
            "application/octet-stream",
            "public, max-age=3600",
        )),
        Ok(Some(body)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "upstream checksum database {name}: {what} has {} bytes, not {}",
                body.len(),
                u64::from(t.w) * 32
            ),
        )),
        Ok(None) => Err(ApiError::not_found(format!("not found: {what}"))),
        Err(Failure::Unreachable(why) | Failure::Refused(why)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("upstream checksum database {name} unreachable: {why}"),
        )),
    }
}
