//! The JSON/admin API under `/api/v1/`: for now, deleting a version.

use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::error::ApiError;
use super::{authenticate, blocking, AppState};
use crate::gomod;
use crate::store;

/// `DELETE /api/v1/packages/{owner}/go/{module, / as %2F}/{version}` (admin): 204.
pub async fn delete_version(
    state: AppState,
    owner: String,
    module: String,
    version: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let owner = crate::auth::normalize_owner(&owner)
        .ok_or_else(|| ApiError::not_found(format!("no such owner: {owner}")))?;
    principal.check_delete(&owner)?;
    let module = super::goproxy::percent_decode(&module)
        .ok_or_else(|| ApiError::not_found("malformed module path"))?;
    let version = super::goproxy::percent_decode(&version)
        .ok_or_else(|| ApiError::not_found("malformed version"))?;
    gomod::path::check_path(&module).map_err(|e| ApiError::not_found(e.to_string()))?;
    let (m, v) = (module.clone(), version.clone());
    let deleted = blocking(move || {
        state
            .store
            .delete_version(&owner, &m, &v, store::now_unix())
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "unknown version {module}@{version}"
        )));
    }
    tracing::info!(module = %module, version = %version, by = %principal.user, "deleted");
    let mut resp = Response::new(warp::hyper::Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}
