//! OAuth 2.0 on the X API host: code exchange, refresh and revoke (x-ads-api.md §2).
//!
//! Confidential clients authenticate with HTTP Basic (`client_secret_basic`; X rejects
//! `client_secret_post`); public clients send `client_id` in the form. These calls are writes: they
//! are retried only after a 429, never after an ambiguous failure (codes are single-use and refresh
//! tokens rotate, so a blind retry would burn them).

use std::fmt;

use http::Method;
use serde::Deserialize;

use crate::auth::Secret;
use crate::config::XAdsClient;
use crate::envelope::decode_whole;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::params::Params;
use crate::request::{Auth, Body, Call};

/// The rate key's `token_id` for calls made before a user token exists.
const OAUTH_TOKEN_ID: &str = "oauth";

/// X's token response. `Debug` hides both tokens.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds until the access token expires (7200 in practice).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The user access token.
    pub access_token: Secret,
    /// Space-separated granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Present only with `offline.access`; rotates on every refresh: store the newest.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

impl TokenResponse {
    /// The granted scopes as a list.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope
            .as_deref()
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default()
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("access_token", &self.access_token)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

/// X's revoke response.
#[derive(Clone, Debug, Deserialize)]
struct RevokeResponse {
    #[serde(default)]
    revoked: bool,
}

impl XAdsClient {
    async fn oauth_post(
        &self,
        operation: &'static str,
        path: &str,
        mut form: Params,
        client_id: &str,
        client_secret: Option<&Secret>,
    ) -> Result<crate::envelope::RawResponse, XError> {
        let auth = match client_secret {
            Some(secret) => Auth::Basic { client_id, secret },
            None => {
                form.push("client_id", client_id);
                Auth::None
            }
        };
        let call = Call::api(operation, Method::POST, path.into(), EndpointFamily::OAuth)
            .body(Body::Form(form));
        self.execute(auth, OAUTH_TOKEN_ID, call).await
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens:
    /// `POST {api}/2/oauth2/token grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        client_id: &str,
        client_secret: Option<&Secret>,
    ) -> Result<TokenResponse, XError> {
        const OP: &str = "exchange_code";
        let mut form = Params::new();
        form.push("grant_type", "authorization_code")
            .push("code", code)
            .push("redirect_uri", redirect_uri)
            .push("code_verifier", code_verifier);
        let raw = self
            .oauth_post(OP, "/2/oauth2/token", form, client_id, client_secret)
            .await?;
        Ok(decode_whole(OP, raw)?.data)
    }

    /// Trades a refresh token for new tokens (`grant_type=refresh_token`). X rotates the refresh
    /// token: the old one is dead after this call.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        client_id: &str,
        client_secret: Option<&Secret>,
    ) -> Result<TokenResponse, XError> {
        const OP: &str = "refresh_token";
        let mut form = Params::new();
        form.push("grant_type", "refresh_token")
            .push("refresh_token", refresh_token.expose());
        let raw = self
            .oauth_post(OP, "/2/oauth2/token", form, client_id, client_secret)
            .await?;
        Ok(decode_whole(OP, raw)?.data)
    }

    /// Revokes an access or refresh token: `POST {api}/2/oauth2/revoke`. Returns X's `revoked`.
    pub async fn revoke(
        &self,
        token: &Secret,
        client_id: &str,
        client_secret: Option<&Secret>,
    ) -> Result<bool, XError> {
        const OP: &str = "revoke_token";
        let mut form = Params::new();
        form.push("token", token.expose());
        let raw = self
            .oauth_post(OP, "/2/oauth2/revoke", form, client_id, client_secret)
            .await?;
        if raw.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(true);
        }
        Ok(decode_whole::<RevokeResponse>(OP, raw)?.data.revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_parses_and_hides_tokens() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"token_type":"bearer","expires_in":7200,"access_token":"AAA","scope":"ads.read ads.write offline.access","refresh_token":"RRR"}"#,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "AAA");
        assert_eq!(t.refresh_token.as_ref().unwrap().expose(), "RRR");
        assert_eq!(t.scopes(), vec!["ads.read", "ads.write", "offline.access"]);
        let shown = format!("{t:?}");
        assert!(!shown.contains("AAA") && !shown.contains("RRR"), "{shown}");
    }
}
