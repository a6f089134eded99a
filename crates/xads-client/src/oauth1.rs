//! OAuth 1.0a (RFC 5849) HMAC-SHA1 request signing, the method X documents for the REST Ads API.
//!
//! The signature covers the method, the base URL, and every query, form and `oauth_*` parameter;
//! values are RFC 3986 encoded (`:` and `,` included). Each call to [`Signer::sign`] draws a fresh
//! nonce and timestamp, so a retried request is signed anew.

use std::fmt;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderValue, header::AUTHORIZATION};
use rand::Rng;
use sha1::Sha1;
use url::Url;

use crate::auth::{AuthKind, Secret, SignableRequest, Signer};
use crate::error::XError;
use crate::params::percent_encode;

/// OAuth 1.0a credentials: the app's consumer pair and (except when asking for a request token)
/// a token pair, plus the flow's one-off `oauth_callback` / `oauth_verifier` when set.
#[derive(Clone)]
pub struct OAuth1Signer {
    consumer_key: String,
    consumer_secret: Secret,
    token: Option<Secret>,
    token_secret: Secret,
    /// Extra `oauth_*` protocol parameters (`oauth_callback`, `oauth_verifier`), signed too.
    extra: Vec<(&'static str, Secret)>,
}

impl fmt::Debug for OAuth1Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The consumer key is public (it is the limiter's client_id); the rest is secret.
        f.debug_struct("OAuth1Signer")
            .field("consumer_key", &self.consumer_key)
            .field("token", &"***")
            .finish()
    }
}

impl OAuth1Signer {
    /// A signer for one user token of one app.
    pub fn new(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<Secret>,
        token: impl Into<Secret>,
        token_secret: impl Into<Secret>,
    ) -> Self {
        OAuth1Signer {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            token: Some(token.into()),
            token_secret: token_secret.into(),
            extra: Vec::new(),
        }
    }

    /// Consumer credentials only (no token): for `POST /oauth/request_token`.
    pub fn consumer_only(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<Secret>,
    ) -> Self {
        OAuth1Signer {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            token: None,
            token_secret: Secret::new(""),
            extra: Vec::new(),
        }
    }

    /// Adds a one-off protocol parameter (`oauth_callback`, `oauth_verifier`).
    pub fn with_oauth_param(mut self, name: &'static str, value: impl Into<Secret>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// The app's consumer key (not secret).
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The `Authorization` header value for `req` with a given nonce and timestamp (deterministic;
    /// [`Signer::sign`] supplies fresh ones).
    pub fn authorization(&self, req: &SignableRequest, nonce: &str, timestamp: u64) -> String {
        let timestamp = timestamp.to_string();
        let mut oauth = vec![
            ("oauth_consumer_key", self.consumer_key.as_str()),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp.as_str()),
            ("oauth_version", "1.0"),
        ];
        if let Some(token) = &self.token {
            oauth.push(("oauth_token", token.expose()));
        }
        oauth.extend(self.extra.iter().map(|(k, v)| (*k, v.expose())));
        let signature = self.signature(req, &oauth);
        let mut parts: Vec<String> = oauth
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", percent_encode(v)))
            .collect();
        parts.push(format!(
            "oauth_signature=\"{}\"",
            percent_encode(&signature)
        ));
        parts.sort();
        format!("OAuth {}", parts.join(", "))
    }

    fn signature(&self, req: &SignableRequest, oauth: &[(&str, &str)]) -> String {
        let base = signature_base_string(req, oauth);
        let key = format!(
            "{}&{}",
            percent_encode(self.consumer_secret.expose()),
            percent_encode(self.token_secret.expose())
        );
        let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
        mac.update(base.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// RFC 5849 §3.4.1.2: scheme and host lower case, default port dropped, no query or fragment.
fn base_url(url: &Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}{}", url.path()),
        None => format!("{scheme}://{host}{}", url.path()),
    }
}

/// RFC 5849 §3.4.1: `METHOD&enc(base_url)&enc(sorted, encoded params)`.
pub fn signature_base_string(req: &SignableRequest, oauth: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = req
        .url()
        .query_pairs()
        .map(|(k, v)| (percent_encode(&k), percent_encode(&v)))
        .chain(
            req.form_params()
                .iter()
                .map(|(k, v)| (percent_encode(k), percent_encode(v))),
        )
        .chain(
            oauth
                .iter()
                .map(|(k, v)| (percent_encode(k), percent_encode(v))),
        )
        .collect();
    params.sort();
    let joined = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        req.method().as_str().to_ascii_uppercase(),
        percent_encode(&base_url(req.url())),
        percent_encode(&joined)
    )
}

fn fresh_nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Signer for OAuth1Signer {
    fn sign(&self, req: &mut SignableRequest) -> Result<(), XError> {
        let timestamp = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let header = self.authorization(req, &fresh_nonce(), timestamp);
        let mut value = HeaderValue::from_str(&header)
            .map_err(|_| XError::Signing("OAuth 1.0a header is not a valid header value".into()))?;
        value.set_sensitive(true);
        req.set_header(AUTHORIZATION, value);
        Ok(())
    }

    fn kind(&self) -> AuthKind {
        AuthKind::OAuth1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    /// docs.x.com "Creating a signature" worked example.
    fn example() -> (OAuth1Signer, SignableRequest) {
        let signer = OAuth1Signer::new(
            "xvz1evFS4wEEPTGEFPHBog",
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        );
        let req = SignableRequest::new(
            Method::POST,
            Url::parse("https://api.twitter.com/1.1/statuses/update.json?include_entities=true")
                .unwrap(),
            vec![(
                "status".into(),
                "Hello Ladies + Gentlemen, a signed OAuth request!".into(),
            )],
        );
        (signer, req)
    }

    #[test]
    fn matches_x_documented_signature() {
        let (signer, req) = example();
        let header = signer.authorization(
            &req,
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            1318622958,
        );
        assert!(
            header.contains(r#"oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D""#),
            "{header}"
        );
        assert!(header.starts_with("OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\""));
    }

    #[test]
    fn base_string_matches_x_documented_one() {
        let (_, req) = example();
        let base = signature_base_string(
            &req,
            &[
                ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
                ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1318622958"),
                (
                    "oauth_token",
                    "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                ),
                ("oauth_version", "1.0"),
            ],
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
    }

    #[test]
    fn each_sign_uses_a_fresh_nonce() {
        let (signer, mut a) = example();
        let (_, mut b) = example();
        signer.sign(&mut a).unwrap();
        signer.sign(&mut b).unwrap();
        assert_ne!(a.headers()[AUTHORIZATION], b.headers()[AUTHORIZATION]);
        assert_eq!(signer.kind(), AuthKind::OAuth1);
        assert!(!format!("{signer:?}").contains("LswwdoU"));
    }
}
