//! Who is calling: the tenant named by `Authorization: Bearer <API key>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::tenants::{self, Tenant};

/// The authenticated tenant of an `/api/v1` request.
#[derive(Clone, Debug)]
pub struct AuthTenant(pub Tenant);

/// A tenant the web UI already authenticated (by its session), attached as a request extension
/// when the UI calls the API in process. Extensions never cross the wire, so no client can set it.
#[derive(Clone, Debug)]
pub struct InProcessTenant(pub Tenant);

impl FromRequestParts<AppState> for AuthTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(InProcessTenant(t)) = parts.extensions.get::<InProcessTenant>() {
            return Ok(AuthTenant(t.clone()));
        }
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        match tenants::by_api_key(&state.db, key).await? {
            Some(t) => Ok(AuthTenant(t)),
            None => Err(ApiError::unauthorized()),
        }
    }
}
