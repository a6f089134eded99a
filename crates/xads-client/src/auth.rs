//! Request signing: the [`Signer`] trait, secrets that never print, and the OAuth 2.0 bearer signer.
//!
//! X documents OAuth 1.0a for REST and OAuth 2.0 user tokens for newer surfaces (x-ads-api.md §2),
//! so the client signs through a trait and the connection picks the kind. A signer is called on
//! every attempt, so OAuth 1.0a gets a fresh nonce and timestamp per retry.

use std::fmt;

use http::{HeaderMap, HeaderValue, Method, header::AUTHORIZATION};
use url::Url;

use crate::error::XError;

/// A secret string (token, client secret, refresh token, verifier, authorization code) whose
/// `Debug` and `Display` hide it and whose bytes are overwritten with zeros when it is dropped
/// (every clone wipes its own copy).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl zeroize::Zeroize for Secret {
    fn zeroize(&mut self) {
        // Zeroes the whole allocation (capacity, not just length), then empties the string.
        self.0.zeroize();
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self);
    }
}

impl zeroize::ZeroizeOnDrop for Secret {}

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// Secrets arrive in token responses; they are deserializable but deliberately not serializable.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret::new(<String as serde::Deserialize>::deserialize(d)?))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which kind of credentials a signer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// OAuth 2.0 user access token (`Authorization: Bearer`).
    OAuth2Bearer,
    /// OAuth 1.0a user context (`Authorization: OAuth ...`, HMAC-SHA1).
    OAuth1,
}

/// What a signer sees of a request, and where it puts its headers.
#[derive(Debug)]
pub struct SignableRequest {
    method: Method,
    url: Url,
    form: Vec<(String, String)>,
    headers: HeaderMap,
}

impl SignableRequest {
    /// A request to sign: method, full URL (with query), and the form-encoded body parameters
    /// (empty unless the body is `application/x-www-form-urlencoded`).
    pub fn new(method: Method, url: Url, form: Vec<(String, String)>) -> Self {
        SignableRequest {
            method,
            url,
            form,
            headers: HeaderMap::new(),
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The full URL including the query string.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The form body parameters (RFC 5849 §3.4.1.3.1 signs them with the query).
    pub fn form_params(&self) -> &[(String, String)] {
        &self.form
    }

    /// Sets a header on the outgoing request.
    pub fn set_header(&mut self, name: http::HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    /// The headers the signer set.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Takes the headers the signer set.
    pub fn into_headers(self) -> HeaderMap {
        self.headers
    }
}

/// Adds credentials to a request. Called once per attempt.
pub trait Signer: Send + Sync {
    /// Sets the authorization header(s) of `req`.
    fn sign(&self, req: &mut SignableRequest) -> Result<(), XError>;
    /// The kind of credentials.
    fn kind(&self) -> AuthKind;
}

/// An OAuth 2.0 user access token. Prints as `Bearer(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Secret);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(Secret::new(token))
    }

    /// The token itself; only for the `Authorization` header.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(***)")
    }
}

/// Signs with `Authorization: Bearer <OAuth 2.0 user access token>`.
#[derive(Clone, Debug)]
pub struct BearerSigner {
    token: BearerToken,
}

impl BearerSigner {
    /// A signer for one user access token.
    pub fn new(token: impl Into<String>) -> Self {
        BearerSigner {
            token: BearerToken::new(token),
        }
    }
}

impl Signer for BearerSigner {
    fn sign(&self, req: &mut SignableRequest) -> Result<(), XError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            // The message must not echo the token.
            .map_err(|_| XError::Signing("bearer token is not a valid header value".into()))?;
        value.set_sensitive(true);
        req.set_header(AUTHORIZATION, value);
        Ok(())
    }

    fn kind(&self) -> AuthKind {
        AuthKind::OAuth2Bearer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = BearerSigner::new("tok-123");
        assert_eq!(format!("{s:?}"), "BearerSigner { token: Bearer(***) }");
        assert_eq!(format!("{:?}", Secret::new("x")), "Secret(***)");
        // Dropping wipes: `Secret` is `ZeroizeOnDrop`, and the path `Drop` takes empties it.
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<Secret>();
        let mut s = Secret::new("refresh-token-value");
        zeroize::Zeroize::zeroize(&mut s);
        assert_eq!(s.expose(), "");
        assert_eq!(Secret::new("x").to_string(), "***");
    }

    #[test]
    fn bearer_sets_authorization() {
        let mut req = SignableRequest::new(
            Method::GET,
            Url::parse("https://ads-api.x.com/12/accounts").unwrap(),
            vec![],
        );
        BearerSigner::new("tok-123").sign(&mut req).unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer tok-123");
        assert!(req.headers()[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn bad_token_error_does_not_echo_it() {
        let mut req = SignableRequest::new(
            Method::GET,
            Url::parse("https://ads-api.x.com/12/accounts").unwrap(),
            vec![],
        );
        let err = BearerSigner::new("sec\nret").sign(&mut req).unwrap_err();
        assert!(!err.to_string().contains("sec"));
    }
}
