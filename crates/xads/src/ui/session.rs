//! Login sessions of the web UI and CSRF protection.
//!
//! The session cookie (`xads_session`) is HttpOnly and SameSite=Lax (Lax, not Strict, so the
//! browser still sends it when X's authorize page redirects back through the callback to
//! `/integrations`); it is `Secure` when the service is reached over https. Every state-changing
//! form carries the session's CSRF token (a synchronizer token derived from the session token),
//! checked in constant time before anything runs.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::store::sessions::{self, BrowserSession};

/// The cookie's name.
pub const COOKIE_NAME: &str = "xads_session";

/// The session token in the request's cookies, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that stores `token` (or, with `None`, clears the cookie).
pub fn set_cookie(state: &AppState, token: Option<&str>) -> String {
    let secure = if state.config.redirect_uri.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    match token {
        Some(t) => format!(
            "{COOKIE_NAME}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            sessions::TTL.num_seconds()
        ),
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// A logged-in visitor. Pages that need one redirect to `/login` when there is none.
#[derive(Clone, Debug)]
pub struct User(pub BrowserSession);

impl FromRequestParts<AppState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            (
                StatusCode::SEE_OTHER,
                [(LOCATION, "/login")],
                "log in first",
            )
                .into_response()
        };
        let Some(token) = token(&parts.headers) else {
            return Err(to_login());
        };
        match sessions::lookup(&state.db, &token, state.clock.now()).await {
            Ok(Some(s)) => Ok(User(s)),
            Ok(None) => Err(to_login()),
            Err(e) => Err(super::failure(&e.to_string())),
        }
    }
}

impl User {
    /// A 403 page unless `sent` is this session's CSRF token.
    pub fn csrf_rejection(&self, sent: Option<&str>) -> Option<Response> {
        let expected = self.0.csrf.as_bytes();
        let ok = sent.is_some_and(|s| {
            let s = s.as_bytes();
            s.len() == expected.len()
                && s.iter()
                    .zip(expected)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if ok {
            None
        } else {
            Some((
                StatusCode::FORBIDDEN,
                axum::response::Html(super::html::bare_page(
                    "Form expired",
                    "<main class=\"login card\"><h1>This form has expired</h1>\
                     <p>The page was open too long or came from elsewhere. Go back, reload and try again.</p>\
                     <p><a href=\"/integrations\">Integrations</a></p></main>",
                )),
            )
                .into_response())
        }
    }
}
