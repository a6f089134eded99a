//! The OAuth 1.0a three-legged flow on the X API host (PRODUCT.md §5.1): request token →
//! user authorizes → access token; and `invalidate_token` on disconnect.
//!
//! X answers the token steps form-encoded (`oauth_token=…&oauth_token_secret=…`). Like the OAuth 2.0
//! calls these are writes, retried only after a 429: a request token or verifier is single-use.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Method;

use crate::auth::{Secret, Signer};
use crate::config::XAdsClient;
use crate::envelope::RawResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::oauth1::OAuth1Signer;
use crate::params::percent_encode;
use crate::request::{Auth, Call};

/// A temporary request token (10-minute, single use).
#[derive(Clone)]
pub struct RequestToken {
    /// `oauth_token`: goes into the authorize URL; not secret.
    pub token: String,
    /// `oauth_token_secret`: needed to sign the access-token call.
    pub secret: Secret,
    /// X's `oauth_callback_confirmed`.
    pub callback_confirmed: bool,
}

impl fmt::Debug for RequestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestToken")
            .field("token", &self.token)
            .field("secret", &self.secret)
            .field("callback_confirmed", &self.callback_confirmed)
            .finish()
    }
}

/// A user's OAuth 1.0a access token pair.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// `oauth_token`.
    pub token: Secret,
    /// `oauth_token_secret`.
    pub secret: Secret,
    /// The X user id, when X sends it.
    pub user_id: Option<String>,
    /// The X screen name, when X sends it.
    pub screen_name: Option<String>,
}

fn form_body(
    operation: &'static str,
    raw: &RawResponse,
) -> Result<HashMap<String, String>, XError> {
    let map: HashMap<String, String> = url::form_urlencoded::parse(&raw.body)
        .into_owned()
        .collect();
    let present = |k: &str| map.get(k).is_some_and(|v| !v.trim().is_empty());
    if !present("oauth_token") || !present("oauth_token_secret") {
        return Err(XError::Decode {
            operation,
            status: raw.status,
            message: "response lacks a non-empty oauth_token / oauth_token_secret".into(),
        });
    }
    Ok(map)
}

impl XAdsClient {
    async fn oauth1_post(
        &self,
        operation: &'static str,
        path: &str,
        signer: OAuth1Signer,
    ) -> Result<RawResponse, XError> {
        let signer: Arc<dyn Signer> = Arc::new(signer);
        let call = Call::api(operation, Method::POST, path.into(), EndpointFamily::OAuth);
        self.execute(Auth::Signer(&signer), "oauth1", call).await
    }

    /// `POST {api}/oauth/request_token` with `oauth_callback`.
    pub async fn oauth1_request_token(
        &self,
        consumer_key: &str,
        consumer_secret: &Secret,
        callback: &str,
    ) -> Result<RequestToken, XError> {
        const OP: &str = "oauth1_request_token";
        let signer = OAuth1Signer::consumer_only(consumer_key, consumer_secret.clone())
            .with_oauth_param("oauth_callback", callback);
        let raw = self.oauth1_post(OP, "/oauth/request_token", signer).await?;
        let mut map = form_body(OP, &raw)?;
        // RFC 5849 §2.1: without `oauth_callback_confirmed=true` the server did not take our
        // callback, and the verifier would go elsewhere (or nowhere): don't send the user there.
        if map.get("oauth_callback_confirmed").map(String::as_str) != Some("true") {
            return Err(XError::Decode {
                operation: OP,
                status: raw.status,
                message: "oauth_callback_confirmed is not true: X did not accept the callback URL"
                    .into(),
            });
        }
        Ok(RequestToken {
            token: map.remove("oauth_token").unwrap_or_default(),
            secret: Secret::new(map.remove("oauth_token_secret").unwrap_or_default()),
            callback_confirmed: true,
        })
    }

    /// Where to send the user: `{api}/oauth/authorize?oauth_token=…`.
    pub fn oauth1_authorize_url(&self, request_token: &str) -> String {
        format!(
            "{}/oauth/authorize?oauth_token={}",
            self.inner.api_base.as_str().trim_end_matches('/'),
            percent_encode(request_token)
        )
    }

    /// `POST {api}/oauth/access_token` with the callback's `oauth_verifier`.
    pub async fn oauth1_access_token(
        &self,
        consumer_key: &str,
        consumer_secret: &Secret,
        request_token: &RequestToken,
        verifier: &str,
    ) -> Result<AccessToken, XError> {
        const OP: &str = "oauth1_access_token";
        let signer = OAuth1Signer::new(
            consumer_key,
            consumer_secret.clone(),
            request_token.token.clone(),
            request_token.secret.clone(),
        )
        .with_oauth_param("oauth_verifier", verifier);
        let raw = self.oauth1_post(OP, "/oauth/access_token", signer).await?;
        let mut map = form_body(OP, &raw)?;
        Ok(AccessToken {
            token: Secret::new(map.remove("oauth_token").unwrap_or_default()),
            secret: Secret::new(map.remove("oauth_token_secret").unwrap_or_default()),
            user_id: map.remove("user_id"),
            screen_name: map.remove("screen_name"),
        })
    }

    /// `POST {api}/1.1/oauth/invalidate_token`, signed with the user's pair (best effort on
    /// disconnect).
    pub async fn oauth1_invalidate_token(&self, signer: &OAuth1Signer) -> Result<(), XError> {
        self.oauth1_post(
            "oauth1_invalidate_token",
            "/1.1/oauth/invalidate_token",
            signer.clone(),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_token_secrets() {
        let request = RequestToken {
            token: "req-token".into(),
            secret: Secret::new("req-secret-1111"),
            callback_confirmed: true,
        };
        let access = AccessToken {
            token: Secret::new("acc-token-2222"),
            secret: Secret::new("acc-secret-3333"),
            user_id: Some("42".into()),
            screen_name: None,
        };
        let shown = format!("{request:?} {access:?}");
        for secret in ["req-secret-1111", "acc-token-2222", "acc-secret-3333"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("req-token") && shown.contains("42"),
            "{shown}"
        );
    }
}
