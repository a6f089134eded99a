//! OAuth 1.0a (RFC 5849, HMAC-SHA1): request signing verification for the API routes, and the
//! three-legged flow (`/oauth/request_token`, `/oauth/authorize`, `/oauth/access_token`) plus
//! `/1.1/oauth/invalidate_token`.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use sha1::Sha1;

use crate::envelope::Params;
use crate::ids::random_token;
use crate::state::FakeState;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (`:` and `,` too).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Request tokens live this long (seconds).
const REQUEST_TOKEN_TTL_SECS: i64 = 600;
/// Accepted clock skew of `oauth_timestamp` against wall time (seconds).
const MAX_SKEW_SECS: i64 = 300;

/// Percent-encodes per RFC 3986 as OAuth 1.0a requires.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The signature base string: `METHOD&enc(base_url)&enc(sorted encoded params)`.
pub fn base_string(method: &str, base_url: &str, params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    enc.sort();
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_url),
        encode(&joined)
    )
}

/// `base64(HMAC-SHA1(enc(consumer_secret)&enc(token_secret), base))`.
pub fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(base.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Parses `Authorization: OAuth k="v", …` into decoded pairs.
pub fn parse_header(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value
        .strip_prefix("OAuth ")
        .or_else(|| value.strip_prefix("oauth "))?;
    rest.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim().trim_matches('"');
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((dec(k.trim())?, dec(v)?))
        })
        .collect()
}

/// The base URL a client signed: scheme, lower-case host (default port dropped) and path.
pub fn base_url(headers: &HeaderMap, uri: &Uri) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    let host = match (scheme, host.strip_suffix(":80"), host.strip_suffix(":443")) {
        ("http", Some(h), _) | ("https", _, Some(h)) => h.to_string(),
        _ => host,
    };
    format!("{scheme}://{host}{}", uri.path())
}

#[derive(Debug, Clone)]
struct RequestToken {
    secret: String,
    callback: String,
    verifier: Option<String>,
    user_id: Option<String>,
    issued_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug, Clone)]
struct AccessToken {
    secret: String,
    user_id: String,
    revoked: bool,
}

/// All OAuth 1.0a state.
#[derive(Debug, Default)]
pub struct OAuth1State {
    request: HashMap<String, RequestToken>,
    access: HashMap<String, AccessToken>,
    nonces: HashSet<String>,
}

impl OAuth1State {
    /// Mints an access token pair for `user_id`.
    pub fn issue(&mut self, user_id: &str) -> (String, String) {
        let token = format!("{user_id}-{}", random_token(40));
        let secret = random_token(45);
        self.access.insert(
            token.clone(),
            AccessToken {
                secret: secret.clone(),
                user_id: user_id.into(),
                revoked: false,
            },
        );
        (token, secret)
    }

    /// Revokes every token of `user_id`.
    pub fn revoke_user(&mut self, user_id: &str) {
        for t in self.access.values_mut().filter(|t| t.user_id == user_id) {
            t.revoked = true;
        }
    }
}

/// What a verified signature proves.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `oauth_token` (empty for request_token calls).
    pub token: String,
    /// All oauth_* header params.
    pub oauth: HashMap<String, String>,
}

/// Why verification failed (never echoes secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Malformed or missing header, wrong consumer or method.
    BadRequest,
    /// Stale timestamp or replayed nonce.
    Replay,
    /// Signature mismatch or unknown token.
    Signature,
}

/// Verifies a signed request. `token_secret` maps the `oauth_token` to its secret (`None` when
/// unknown); for request-token calls pass a closure answering `Some("")` for an empty token.
pub fn verify(
    state: &mut OAuth1State,
    consumer: (&str, &str),
    method: &str,
    base_url: &str,
    header_value: &str,
    params: &[(String, String)],
    token_secret: impl Fn(&OAuth1State, &str) -> Option<String>,
) -> Result<Verified, Failure> {
    let header = parse_header(header_value).ok_or(Failure::BadRequest)?;
    let oauth: HashMap<String, String> = header
        .iter()
        .filter(|(k, _)| k.starts_with("oauth_"))
        .cloned()
        .collect();
    let get = |k: &str| oauth.get(k).map(String::as_str);
    if get("oauth_consumer_key") != Some(consumer.0)
        || get("oauth_signature_method") != Some("HMAC-SHA1")
        || get("oauth_version").is_some_and(|v| v != "1.0")
    {
        return Err(Failure::BadRequest);
    }
    let signature = get("oauth_signature").ok_or(Failure::BadRequest)?;
    let nonce = get("oauth_nonce").ok_or(Failure::BadRequest)?;
    let ts: i64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or(Failure::BadRequest)?;
    // Clients sign with wall time, so skew is judged against wall time, not the fake clock.
    if (Utc::now().timestamp() - ts).abs() > MAX_SKEW_SECS {
        return Err(Failure::Replay);
    }
    let token = get("oauth_token").unwrap_or("").to_string();
    let secret = token_secret(state, &token).ok_or(Failure::Signature)?;
    let mut all: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .cloned()
        .collect();
    all.extend(
        oauth
            .iter()
            .filter(|(k, _)| *k != "oauth_signature")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let expected = sign(&base_string(method, base_url, &all), consumer.1, &secret);
    if expected != signature {
        return Err(Failure::Signature);
    }
    let nonce_key = format!("{}:{ts}:{nonce}", consumer.0);
    if !state.nonces.insert(nonce_key) {
        return Err(Failure::Replay);
    }
    Ok(Verified { token, oauth })
}

/// Verifies an API call signed with an access token; answers the user id.
pub fn verify_access(
    state: &mut OAuth1State,
    consumer: (&str, &str),
    method: &str,
    base_url: &str,
    header_value: &str,
    params: &[(String, String)],
) -> Result<String, Failure> {
    let v = verify(
        state,
        consumer,
        method,
        base_url,
        header_value,
        params,
        |s, t| {
            s.access
                .get(t)
                .filter(|a| !a.revoked)
                .map(|a| a.secret.clone())
        },
    )?;
    state
        .access
        .get(&v.token)
        .map(|a| a.user_id.clone())
        .ok_or(Failure::Signature)
}

fn could_not_authenticate() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "errors": [{ "code": 32, "message": "Could not authenticate you." }] })),
    )
        .into_response()
}

fn form_body(pairs: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

fn header_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// `POST /oauth/request_token` (signed with the consumer only; `oauth_callback` must be registered).
pub async fn request_token(
    State(st): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Extension(p): Extension<Params>,
) -> Response {
    let cfg = st.config().clone();
    let Some(h) = header_value(&headers) else {
        return could_not_authenticate();
    };
    let base = base_url(&headers, &uri);
    let mut s = st.lock();
    let now = s.clock.now();
    let verified = verify(
        &mut s.oauth1,
        (&cfg.consumer_key, &cfg.consumer_secret),
        method.as_str(),
        &base,
        h,
        p.pairs(),
        |_, t| t.is_empty().then(String::new),
    );
    let Ok(v) = verified else {
        return could_not_authenticate();
    };
    let callback = v
        .oauth
        .get("oauth_callback")
        .cloned()
        .or_else(|| p.get("oauth_callback").map(String::from))
        .unwrap_or_default();
    if !cfg.redirect_uris.contains(&callback) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "errors": [{ "code": 415, "message": "Callback URL not approved for this client application." }] })),
        )
            .into_response();
    }
    let token = random_token(27);
    let secret = random_token(32);
    s.oauth1.request.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            callback,
            verifier: None,
            user_id: None,
            issued_at: now,
            used: false,
        },
    );
    form_body(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

/// `GET /oauth/authorize?oauth_token=…`: auto-approves and redirects to the callback (302), or,
/// for `oauth_callback=oob` (allowed when `oob` is a registered redirect URI), shows the PIN.
pub async fn authorize(State(st): State<FakeState>, Extension(p): Extension<Params>) -> Response {
    let bad = || {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><body><h1>This page is no longer valid.</h1></body></html>",
        )
            .into_response()
    };
    let Some(token) = p.get("oauth_token") else {
        return bad();
    };
    let mut s = st.lock();
    let now = s.clock.now();
    let user = p
        .get("fake_user_id")
        .map(String::from)
        .unwrap_or_else(|| s.seed.user_id.clone());
    let Some(rt) = s.oauth1.request.get_mut(token) else {
        return bad();
    };
    if rt.used || now - rt.issued_at > Duration::seconds(REQUEST_TOKEN_TTL_SECS) {
        return bad();
    }
    if rt.callback == "oob" {
        // The PIN flow (`oauth_callback=oob`): X shows a numeric PIN the user types into the app.
        let pin = format!("{:07}", rand::random::<u32>() % 10_000_000);
        rt.verifier = Some(pin.clone());
        rt.user_id = Some(user);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!(
                "<!DOCTYPE html><html><body><p>Enter this PIN in the application:</p><code id=\"oauth_pin\">{pin}</code></body></html>"
            ),
        )
            .into_response();
    }
    let verifier = random_token(32);
    rt.verifier = Some(verifier.clone());
    rt.user_id = Some(user);
    let Ok(mut url) = url::Url::parse(&rt.callback) else {
        return bad();
    };
    url.query_pairs_mut()
        .append_pair("oauth_token", token)
        .append_pair("oauth_verifier", &verifier);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// `POST /oauth/access_token`: exchanges an approved request token (single use) and its verifier.
pub async fn access_token(
    State(st): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Extension(p): Extension<Params>,
) -> Response {
    let cfg = st.config().clone();
    let Some(h) = header_value(&headers) else {
        return could_not_authenticate();
    };
    let base = base_url(&headers, &uri);
    let mut s = st.lock();
    let now = s.clock.now();
    let verified = verify(
        &mut s.oauth1,
        (&cfg.consumer_key, &cfg.consumer_secret),
        method.as_str(),
        &base,
        h,
        p.pairs(),
        |s, t| s.request.get(t).map(|r| r.secret.clone()),
    );
    let Ok(v) = verified else {
        return could_not_authenticate();
    };
    let verifier = v
        .oauth
        .get("oauth_verifier")
        .cloned()
        .or_else(|| p.get("oauth_verifier").map(String::from));
    let Some(rt) = s.oauth1.request.get_mut(&v.token) else {
        return could_not_authenticate();
    };
    let fresh = now - rt.issued_at <= Duration::seconds(REQUEST_TOKEN_TTL_SECS);
    if rt.used || !fresh || rt.verifier.is_none() || rt.verifier != verifier {
        return could_not_authenticate();
    }
    rt.used = true;
    let Some(user) = rt.user_id.clone() else {
        return could_not_authenticate();
    };
    let (token, secret) = s.oauth1.issue(&user);
    let screen_name = s.seed.screen_name.clone();
    form_body(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("user_id", &user),
        ("screen_name", &screen_name),
    ])
}

/// `POST /1.1/oauth/invalidate_token`: signed with the access token it invalidates.
pub async fn invalidate_token(
    State(st): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Extension(p): Extension<Params>,
) -> Response {
    let cfg = st.config().clone();
    let Some(h) = header_value(&headers) else {
        return could_not_authenticate();
    };
    let base = base_url(&headers, &uri);
    let mut s = st.lock();
    let verified = verify(
        &mut s.oauth1,
        (&cfg.consumer_key, &cfg.consumer_secret),
        method.as_str(),
        &base,
        h,
        p.pairs(),
        |s, t| {
            s.access
                .get(t)
                .filter(|a| !a.revoked)
                .map(|a| a.secret.clone())
        },
    );
    let Ok(v) = verified else {
        return could_not_authenticate();
    };
    if let Some(a) = s.oauth1.access.get_mut(&v.token) {
        a.revoked = true;
    }
    Json(json!({ "access_token": v.token })).into_response()
}
