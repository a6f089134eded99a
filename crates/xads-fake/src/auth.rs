//! Who is calling: `Authorization: Bearer <fake-issued OAuth 2.0 token>`.
//!
//! The check is one function returning a [`Principal`] so another scheme (OAuth 1.0a's
//! `Authorization: OAuth …`) can be added as another arm without touching the routes.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::envelope::ApiError;
use crate::state::State;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// OAuth 2.0 user access token.
    Bearer,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// X user id.
    pub user_id: String,
    /// App client id (consumer key for OAuth 1.0a).
    pub client_id: String,
    /// The scheme used.
    pub scheme: Scheme,
}

impl Principal {
    /// Rate-limit identity: X keys user-level limits on the user token; a user's successive
    /// OAuth 2.0 access tokens share one identity, as an OAuth 1.0a token (which never rotates) would.
    pub fn rate_key(&self) -> String {
        format!("{}:{}", self.client_id, self.user_id)
    }
}

/// Authenticates a request or answers 401 `UNAUTHORIZED_ACCESS`.
pub fn authenticate(state: &State, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::unauthorized)?;
    let (scheme, credentials) = value.split_once(' ').ok_or_else(ApiError::unauthorized)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let owner = state
            .oauth
            .check_access(credentials.trim(), state.clock.now())
            .ok_or_else(ApiError::unauthorized)?;
        return Ok(Principal {
            user_id: owner.user_id,
            client_id: owner.client_id,
            scheme: Scheme::Bearer,
        });
    }
    Err(ApiError::unauthorized())
}
