//! X's OAuth 2.0 (Authorization Code + PKCE): authorize (auto-approve), token, revoke.
//!
//! Refresh tokens rotate and are single use; presenting a used one revokes the whole grant
//! ("family"), as RFC 9700 §4.14.2 recommends. One live grant per (app, user).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::envelope::{Params, oauth_error};
use crate::ids::random_token;
use crate::state::FakeState;

const INVALID_CODE: &str = "Value passed for the authorization code was invalid.";
const INVALID_TOKEN: &str = "Value passed for the token was invalid.";

#[derive(Debug, Clone)]
struct AuthCode {
    code: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    challenge: String,
    method: String,
    user_id: String,
    issued_at: DateTime<Utc>,
    used_by_grant: Option<u64>,
}

#[derive(Debug, Clone)]
struct Grant {
    id: u64,
    client_id: String,
    user_id: String,
    scope: String,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct AccessToken {
    grant_id: u64,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    grant_id: u64,
    used: bool,
    revoked: bool,
}

/// A grant ("token family") that the fake revoked, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FamilyRevocation {
    /// Internal grant number.
    pub grant_id: u64,
    /// The X user of the grant.
    pub user_id: String,
    /// `refresh_token_reuse`, `code_reuse`, `superseded` (a newer grant for the same app and user),
    /// `revoked` (revoke endpoint) or `control` (test control).
    pub reason: String,
    /// Fake-clock time.
    pub at: DateTime<Utc>,
}

/// Tokens as the token endpoint issues them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenPair {
    /// Bearer access token.
    pub access_token: String,
    /// Refresh token (only with `offline.access`).
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Space-separated scopes.
    pub scope: String,
}

/// Who an access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// X user id.
    pub user_id: String,
    /// App client id.
    pub client_id: String,
    /// Scopes.
    pub scope: String,
}

/// Counters tests assert on.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct OAuthCounters {
    /// `grant_type=authorization_code` calls.
    pub code_exchanges: u64,
    /// `grant_type=refresh_token` calls (successful or not).
    pub refresh_calls: u64,
    /// Successful refreshes.
    pub refresh_successes: u64,
    /// `POST /2/oauth2/revoke` calls.
    pub revoke_calls: u64,
}

/// All OAuth 2.0 state.
#[derive(Debug, Default)]
pub struct OAuthState {
    codes: Vec<AuthCode>,
    grants: Vec<Grant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    /// Counters.
    pub counters: OAuthCounters,
    /// Revoked families.
    pub revocations: Vec<FamilyRevocation>,
}

impl OAuthState {
    fn revoke_grant(&mut self, grant_id: u64, reason: &str, at: DateTime<Utc>) {
        let Some(g) = self.grants.iter_mut().find(|g| g.id == grant_id) else {
            return;
        };
        if g.revoked {
            return;
        }
        g.revoked = true;
        let user_id = g.user_id.clone();
        for t in self.access.values_mut().filter(|t| t.grant_id == grant_id) {
            t.revoked = true;
        }
        for t in self.refresh.values_mut().filter(|t| t.grant_id == grant_id) {
            t.revoked = true;
        }
        self.revocations.push(FamilyRevocation {
            grant_id,
            user_id,
            reason: reason.into(),
            at,
        });
    }

    /// Starts a new grant for (client, user), revoking the previous live one.
    pub fn new_grant(
        &mut self,
        client_id: &str,
        user_id: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> u64 {
        let previous: Vec<u64> = self
            .grants
            .iter()
            .filter(|g| !g.revoked && g.client_id == client_id && g.user_id == user_id)
            .map(|g| g.id)
            .collect();
        for id in previous {
            self.revoke_grant(id, "superseded", now);
        }
        let id = self.grants.len() as u64 + 1;
        self.grants.push(Grant {
            id,
            client_id: client_id.into(),
            user_id: user_id.into(),
            scope: scope.into(),
            revoked: false,
        });
        id
    }

    /// Issues an access token (and a refresh token with `offline.access`) in grant `grant_id`.
    pub fn issue(&mut self, grant_id: u64, ttl_secs: i64, now: DateTime<Utc>) -> TokenPair {
        let scope = self
            .grants
            .iter()
            .find(|g| g.id == grant_id)
            .map(|g| g.scope.clone())
            .unwrap_or_default();
        let access_token = random_token(48);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                grant_id,
                expires_at: now + Duration::seconds(ttl_secs),
                revoked: false,
            },
        );
        let refresh_token = scope.split(' ').any(|s| s == "offline.access").then(|| {
            let t = random_token(48);
            self.refresh.insert(
                t.clone(),
                RefreshToken {
                    grant_id,
                    used: false,
                    revoked: false,
                },
            );
            t
        });
        TokenPair {
            access_token,
            refresh_token,
            expires_in: ttl_secs,
            scope,
        }
    }

    /// The owner of a live access token.
    pub fn check_access(&self, token: &str, now: DateTime<Utc>) -> Option<TokenOwner> {
        let t = self.access.get(token)?;
        if t.revoked || t.expires_at <= now {
            return None;
        }
        let g = self.grants.iter().find(|g| g.id == t.grant_id)?;
        (!g.revoked).then(|| TokenOwner {
            user_id: g.user_id.clone(),
            client_id: g.client_id.clone(),
            scope: g.scope.clone(),
        })
    }

    /// Expires every access token now (refresh tokens stay valid).
    pub fn expire_access_tokens(&mut self, now: DateTime<Utc>) {
        for t in self.access.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
    }

    /// Revokes every live grant of `user_id`.
    pub fn revoke_user(&mut self, user_id: &str, now: DateTime<Utc>) {
        let ids: Vec<u64> = self
            .grants
            .iter()
            .filter(|g| !g.revoked && g.user_id == user_id)
            .map(|g| g.id)
            .collect();
        for id in ids {
            self.revoke_grant(id, "control", now);
        }
    }

    /// Number of grants not revoked.
    pub fn live_grants(&self) -> usize {
        self.grants.iter().filter(|g| !g.revoked).count()
    }
}

/// S256 challenge of a verifier: `base64url(sha256(verifier))` without padding (RFC 7636).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn bad_authorize(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html><html><body><h1>Something went wrong</h1><p>{msg}</p></body></html>"
        ),
    )
        .into_response()
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return bad_authorize("invalid redirect_uri"),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    // X answers the approval with a 302 Found.
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// `GET /i/oauth2/authorize`: validates the app and redirect, then auto-approves (302 with code).
pub async fn authorize(State(st): State<FakeState>, Extension(p): Extension<Params>) -> Response {
    let cfg = st.config();
    if p.get("client_id") != Some(cfg.client_id.as_str()) {
        return bad_authorize("unknown client_id");
    }
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return bad_authorize("missing redirect_uri");
    };
    if !cfg.redirect_uris.iter().any(|r| r == redirect_uri) {
        return bad_authorize("redirect_uri does not match the app's registered callback URLs");
    }
    let state = p.raw("state").unwrap_or("");
    let fail = |error: &str| redirect_with(redirect_uri, &[("error", error), ("state", state)]);
    if p.get("response_type") != Some("code") {
        return fail("unsupported_response_type");
    }
    if state.is_empty() || state.len() > 500 {
        return fail("invalid_request");
    }
    let Some(scope) = p.get("scope") else {
        return fail("invalid_scope");
    };
    let Some(challenge) = p.get("code_challenge") else {
        return fail("invalid_request");
    };
    let method = p.get("code_challenge_method").unwrap_or("plain");
    if method != "S256" && method != "plain" {
        return fail("invalid_request");
    }
    let code = random_token(40);
    {
        let mut s = st.lock();
        let user_id = p
            .get("fake_user_id")
            .map(String::from)
            .unwrap_or_else(|| s.seed.user_id.clone());
        let now = s.clock.now();
        s.oauth.codes.push(AuthCode {
            code: code.clone(),
            client_id: cfg.client_id.clone(),
            redirect_uri: redirect_uri.into(),
            scope: scope.split_whitespace().collect::<Vec<_>>().join(" "),
            challenge: challenge.into(),
            method: method.into(),
            user_id,
            issued_at: now,
            used_by_grant: None,
        });
    }
    redirect_with(redirect_uri, &[("state", state), ("code", &code)])
}

/// Client authentication: HTTP Basic for the confidential app; `client_secret_post` is rejected.
fn client_auth(st: &FakeState, headers: &HeaderMap, p: &Params) -> Result<(), Box<Response>> {
    let cfg = st.config();
    let unauthorized = || {
        Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Missing valid authorization header",
        ))
    };
    if p.has("client_secret") {
        return Err(unauthorized());
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (id, secret) = basic.split_once(':').ok_or_else(unauthorized)?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    if decode(id) != cfg.client_id || decode(secret) != cfg.client_secret {
        return Err(unauthorized());
    }
    if p.get("client_id").is_some_and(|c| c != cfg.client_id) {
        return Err(unauthorized());
    }
    Ok(())
}

fn token_response(t: &TokenPair) -> Response {
    let mut body = json!({
        "token_type": "bearer",
        "expires_in": t.expires_in,
        "access_token": t.access_token,
        "scope": t.scope,
    });
    if let Some(r) = &t.refresh_token {
        body["refresh_token"] = json!(r);
    }
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// `POST /2/oauth2/token`.
pub async fn token(
    State(st): State<FakeState>,
    headers: HeaderMap,
    Extension(p): Extension<Params>,
) -> Response {
    if let Err(r) = client_auth(&st, &headers, &p) {
        return *r;
    }
    let invalid = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let ttl = st.config().access_token_ttl_secs;
    let code_ttl = st.config().auth_code_ttl_secs;
    let mut s = st.lock();
    let now = s.clock.now();
    match p.get("grant_type") {
        Some("authorization_code") => {
            s.oauth.counters.code_exchanges += 1;
            let Some(code) = p.get("code") else {
                return invalid(INVALID_CODE);
            };
            let Some(idx) = s.oauth.codes.iter().position(|c| c.code == code) else {
                return invalid(INVALID_CODE);
            };
            let c = s.oauth.codes[idx].clone();
            if let Some(grant) = c.used_by_grant {
                // A replayed code revokes what it issued (RFC 6749 §4.1.2).
                s.oauth.revoke_grant(grant, "code_reuse", now);
                return invalid(INVALID_CODE);
            }
            if now - c.issued_at > Duration::seconds(code_ttl)
                || p.get("redirect_uri") != Some(c.redirect_uri.as_str())
            {
                return invalid(INVALID_CODE);
            }
            let Some(verifier) = p.get("code_verifier") else {
                return invalid("Missing required parameter [code_verifier].");
            };
            let computed = if c.method == "S256" {
                s256_challenge(verifier)
            } else {
                verifier.to_string()
            };
            if computed != c.challenge {
                return invalid(INVALID_CODE);
            }
            let grant = s.oauth.new_grant(&c.client_id, &c.user_id, &c.scope, now);
            s.oauth.codes[idx].used_by_grant = Some(grant);
            let pair = s.oauth.issue(grant, ttl, now);
            token_response(&pair)
        }
        Some("refresh_token") => {
            s.oauth.counters.refresh_calls += 1;
            let Some(rt) = p.get("refresh_token") else {
                return invalid(INVALID_TOKEN);
            };
            let Some(t) = s.oauth.refresh.get(rt).cloned() else {
                return invalid(INVALID_TOKEN);
            };
            if t.revoked {
                return invalid(INVALID_TOKEN);
            }
            if t.used {
                // Reuse of a rotated refresh token: assume theft and revoke the family.
                s.oauth.revoke_grant(t.grant_id, "refresh_token_reuse", now);
                return invalid(INVALID_TOKEN);
            }
            if let Some(r) = s.oauth.refresh.get_mut(rt) {
                r.used = true;
            }
            s.oauth.counters.refresh_successes += 1;
            let pair = s.oauth.issue(t.grant_id, ttl, now);
            token_response(&pair)
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Value passed for the grant type was invalid.",
        ),
        None => invalid("Missing required parameter [grant_type]."),
    }
}

/// `POST /2/oauth2/revoke`: revoking a refresh token ends its grant; an access token ends alone.
pub async fn revoke(
    State(st): State<FakeState>,
    headers: HeaderMap,
    Extension(p): Extension<Params>,
) -> Response {
    if let Err(r) = client_auth(&st, &headers, &p) {
        return *r;
    }
    let mut s = st.lock();
    s.oauth.counters.revoke_calls += 1;
    let now = s.clock.now();
    let Some(token) = p.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter [token].",
        );
    };
    if let Some(grant) = s.oauth.refresh.get(token).map(|t| t.grant_id) {
        s.oauth.revoke_grant(grant, "revoked", now);
    } else if let Some(t) = s.oauth.access.get_mut(token) {
        t.revoked = true;
    }
    Json(json!({ "revoked": true })).into_response()
}
