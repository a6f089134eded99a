//! Who is calling: `Authorization: Bearer <fake-issued OAuth 2.0 token>`
//!
//! or `Authorization: OAuth …` (OAuth 1.0a, HMAC-SHA1, signed by a fake-issued token).
//! The check is one function returning a [`Principal`]; routes never see the scheme.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::config::FakeConfig;
use crate::envelope::ApiError;
use crate::state::State;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// OAuth 2.0 user access token.
    Bearer,
    /// OAuth 1.0a user token with an HMAC-SHA1 signature.
    OAuth1,
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

/// The parts of a request a signature covers.
pub struct Signed<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Base URL as the client signed it (see [`crate::oauth1::base_url`]).
    pub base_url: &'a str,
    /// Query and form-body params.
    pub params: &'a [(String, String)],
}

/// Authenticates a request or answers 401 `UNAUTHORIZED_ACCESS`.
pub fn authenticate(
    state: &mut State,
    config: &FakeConfig,
    headers: &HeaderMap,
    signed: &Signed<'_>,
) -> Result<Principal, ApiError> {
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
    if scheme.eq_ignore_ascii_case("oauth") {
        let user_id = crate::oauth1::verify_access(
            &mut state.oauth1,
            (&config.consumer_key, &config.consumer_secret),
            signed.method,
            signed.base_url,
            value,
            signed.params,
        )
        .map_err(|_| ApiError::unauthorized())?;
        return Ok(Principal {
            user_id,
            client_id: config.consumer_key.clone(),
            scheme: Scheme::OAuth1,
        });
    }
    Err(ApiError::unauthorized())
}
