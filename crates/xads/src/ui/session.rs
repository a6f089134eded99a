//! Login sessions of the web UI and CSRF protection.
//!
//! The session cookie (`xads_session`) is HttpOnly and SameSite=Lax (Lax, not Strict, so the
//! browser still sends it when X's authorize page redirects back through the callback to
//! `/integrations`); it is `Secure` when the service is reached over https. Every state-changing
//! form carries the session's CSRF token (a synchronizer token derived from the session token),
//! checked in constant time before anything runs.
//!
//! The check cannot be skipped: [`User`] is refused on any request that is not a GET or HEAD, so
//! a state-changing handler can only reach the session through [`CsrfForm`] (urlencoded forms)
//! or [`CsrfMultipart`] (the media upload), and both check the token before they yield.

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

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

/// A logged-in visitor, on a page that only reads (GET or HEAD). Pages that need one redirect to
/// `/login` when there is none. Any other method is refused here: take [`CsrfForm`] or
/// [`CsrfMultipart`] instead, which check the form's CSRF token.
#[derive(Clone, Debug)]
pub struct User(pub BrowserSession);

impl FromRequestParts<AppState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            // A programming error, not the visitor's: fail closed and say what to use.
            return Err(super::failure(&format!(
                "{} {} takes `User`; state-changing handlers take `CsrfForm` or `CsrfMultipart`",
                parts.method,
                parts.uri.path()
            )));
        }
        User::from_cookie(parts, state).await
    }
}

impl User {
    /// The session of the request's cookie, or the redirect to `/login`.
    async fn from_cookie(parts: &Parts, state: &AppState) -> Result<Self, Response> {
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

    /// True when `sent` is this session's CSRF token (compared in constant time).
    fn csrf_matches(&self, sent: Option<&[u8]>) -> bool {
        let expected = self.0.csrf.as_bytes();
        sent.is_some_and(|s| {
            s.len() == expected.len()
                && s.iter()
                    .zip(expected)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// The 403 page of a form without this session's token.
fn form_expired() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(
            super::html::notice_page(
                "Form expired",
                "This form has expired",
                "The page was open too long or came from elsewhere. Go back, reload and try again.",
            )
            .into_string(),
        ),
    )
        .into_response()
}

/// A urlencoded form posted by the logged-in user, its `csrf` field checked against the session
/// before the handler runs: `CsrfForm(user, fields)`. Without a session the visitor is sent to
/// `/login`; without the session's token (missing, another session's, forged, or a body that is
/// not a urlencoded form) the answer is the 403 "form expired" page.
#[derive(Debug)]
pub struct CsrfForm<T>(pub User, pub T);

/// The largest urlencoded form the UI reads (its forms are a few hundred bytes).
const FORM_LIMIT: usize = 64 * 1024;

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let user = User::from_cookie(&parts, state).await?;
        let urlencoded = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let bytes = if urlencoded {
            axum::body::to_bytes(body, FORM_LIMIT)
                .await
                .map_err(|_| form_expired())?
        } else {
            Bytes::new()
        };
        let sent = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !user.csrf_matches(sent.as_deref().map(str::as_bytes)) {
            return Err(form_expired());
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(form) => Ok(CsrfForm(user, form)),
            Err(e) => Err((StatusCode::BAD_REQUEST, format!("bad form: {e}")).into_response()),
        }
    }
}

/// A multipart form (the media upload) posted by the logged-in user whose first part is the
/// `csrf` field, checked against the session before the handler runs. It yields the rest of the
/// form as axum's [`Multipart`], still streaming: the file is not read here. The route's
/// `DefaultBodyLimit` applies to it as to any extractor.
#[derive(Debug)]
pub struct CsrfMultipart {
    /// The session.
    pub user: User,
    /// The parts after the `csrf` part (a rejection when they are not a multipart body).
    pub form: Result<Multipart, MultipartRejection>,
}

/// Most bytes read while looking for the end of the `csrf` part (the token is 43 characters;
/// the part's headers are a line or two).
const CSRF_PART_LIMIT: usize = 8 * 1024;

impl FromRequest<AppState> for CsrfMultipart {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let user = User::from_cookie(&parts, state).await?;
        let Some(content_type) = parts.headers.get(CONTENT_TYPE).cloned() else {
            return Err(form_expired());
        };
        let Some(boundary) = content_type.to_str().ok().and_then(multipart_boundary) else {
            return Err(form_expired());
        };
        let mut stream = body.into_data_stream();
        let mut head = Vec::new();
        let (token, rest_at) = loop {
            match first_part(&head, &boundary) {
                FirstPart::Csrf { value, rest_at } => break (value, rest_at),
                FirstPart::Other => return Err(form_expired()),
                FirstPart::Incomplete if head.len() >= CSRF_PART_LIMIT => {
                    return Err(form_expired());
                }
                FirstPart::Incomplete => match stream.next().await {
                    Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                    _ => return Err(form_expired()),
                },
            }
        };
        if !user.csrf_matches(Some(&head[token])) {
            return Err(form_expired());
        }
        let rest = Bytes::copy_from_slice(&head[rest_at..]);
        let body = Body::from_stream(futures::stream::once(async move { Ok(rest) }).chain(stream));
        // The same request (headers, extensions such as the body limit) minus the `csrf` part,
        // whose length no longer matches the client's `Content-Length`.
        let mut parts = parts;
        parts.headers.remove(CONTENT_LENGTH);
        let form = Multipart::from_request(Request::from_parts(parts, body), state).await;
        Ok(CsrfMultipart { user, form })
    }
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// What the start of a multipart body holds.
#[derive(Debug, PartialEq, Eq)]
enum FirstPart {
    /// The first part is the `csrf` field: its value's byte range, and where the next
    /// delimiter line (`--boundary…`) starts.
    Csrf {
        value: std::ops::Range<usize>,
        rest_at: usize,
    },
    /// The first part is something else (or the body is not multipart).
    Other,
    /// Not enough bytes yet to tell.
    Incomplete,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads the first part of a multipart body (`--B CRLF headers CRLF CRLF value CRLF --B`).
fn first_part(head: &[u8], boundary: &str) -> FirstPart {
    let open = format!("--{boundary}\r\n");
    if head.len() < open.len() {
        return FirstPart::Incomplete;
    }
    // Browsers send no preamble: the body starts with the first delimiter.
    if !head.starts_with(open.as_bytes()) {
        return FirstPart::Other;
    }
    let after_open = open.len();
    let Some(headers_len) = find(&head[after_open..], b"\r\n\r\n") else {
        return FirstPart::Incomplete;
    };
    let headers = String::from_utf8_lossy(&head[after_open..after_open + headers_len]);
    let is_csrf = headers.split("\r\n").any(|line| {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("content-disposition")
            && value
                .split(';')
                .skip(1)
                .filter_map(|p| p.trim().split_once('='))
                .any(|(k, v)| k.trim().eq_ignore_ascii_case("name") && v.trim() == "\"csrf\"")
    });
    if !is_csrf {
        return FirstPart::Other;
    }
    let value_at = after_open + headers_len + 4;
    let close = format!("\r\n--{boundary}");
    match find(&head[value_at..], close.as_bytes()) {
        Some(len) => FirstPart::Csrf {
            value: value_at..value_at + len,
            rest_at: value_at + len + 2,
        },
        None => FirstPart::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundaryX1"),
            Some("----WebKitFormBoundaryX1".into())
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; charset=utf-8; boundary=\"a b\""),
            Some("a b".into())
        );
        assert_eq!(multipart_boundary("application/json; boundary=x"), None);
        assert_eq!(multipart_boundary("multipart/form-data"), None);
    }

    #[test]
    fn the_csrf_part_is_found_only_first() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nPNG\r\n--B--\r\n";
        let FirstPart::Csrf { value, rest_at } = first_part(body, "B") else {
            panic!("csrf part expected");
        };
        assert_eq!(&body[value], b"tok");
        assert!(
            body[rest_at..].starts_with(b"--B\r\nContent-Disposition: form-data; name=\"file\"")
        );
        // Every prefix is incomplete or the same answer, never a wrong one.
        for n in 0..body.len() {
            let got = first_part(&body[..n], "B");
            assert!(
                got == FirstPart::Incomplete || matches!(got, FirstPart::Csrf { .. }),
                "{n}: {got:?}"
            );
        }
        // A file first, a `filename="csrf"`, or a preamble: refused.
        let file_first = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"csrf\"\r\n\r\nx\r\n--B--";
        assert_eq!(first_part(file_first, "B"), FirstPart::Other);
        assert_eq!(first_part(b"preamble\r\n--B\r\n", "B"), FirstPart::Other);
    }
}
