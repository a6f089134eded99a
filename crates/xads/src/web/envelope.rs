//! The contract's error shape at the edge of `/api/v1`: every 4xx/5xx answer carries
//! `{"error": {"code", "message"}}` (PRODUCT.md §5), including answers no handler wrote —
//! axum's own rejections (plain text), the body limit's 413, an unknown route's empty 404,
//! a wrong method's 405 — and no path or query value with a control byte gets past it (such a
//! value cannot be an id of ours or X's; PostgreSQL refuses NUL in text).

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// The most of a non-JSON error body kept as the envelope's message.
const MESSAGE_MAX: usize = 16 * 1024;

/// True for the API's own paths (the UI's pages and the OAuth callback answer HTML).
fn is_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| *b < 0x20 || *b == 0x7f)
}

/// A refusal for a path or query carrying control bytes, before any handler sees it.
fn refuse_control_bytes(req: &Request) -> Option<ApiError> {
    let path: Vec<u8> = percent_decode_str(req.uri().path()).collect();
    if has_control(&path) {
        return Some(ApiError::not_found("resource"));
    }
    let query = req.uri().query()?;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if has_control(k.as_bytes()) || has_control(v.as_bytes()) {
            let name: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
            return Some(ApiError::bad_request(format!(
                "query parameter {name:?} contains a control character"
            )));
        }
    }
    None
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The snake_case code of a status the handlers did not answer themselves.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "too_many_requests",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// The middleware (see the module doc).
pub async fn api_envelope(req: Request, next: Next) -> Response {
    if !is_api(req.uri().path()) {
        return next.run(req).await;
    }
    if let Some(refusal) = refuse_control_bytes(&req) {
        return refusal.into_response();
    }
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match (status, text.trim()) {
        (_, _) if status.is_server_error() => {
            tracing::error!(%status, body = %text.trim(), "a non-JSON server error reached the edge");
            "internal error; it has been logged".to_owned()
        }
        (StatusCode::NOT_FOUND, "") => "route not found".to_owned(),
        (StatusCode::METHOD_NOT_ALLOWED, "") => "method not allowed on this route".to_owned(),
        (_, "") => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
        (_, t) => t.to_owned(),
    };
    let mut answer = ApiError::new(status, code_for(status), message).into_response();
    // Keep what tells the client how to go on (e.g. `Allow` of a 405, `Retry-After`).
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(v) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, v.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn body_json(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn app() -> Router {
        Router::new()
            .route("/api/v1/things/{id}", get(|| async { "a thing" }))
            .route(
                "/api/v1/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "Failed to parse") }),
            )
            .route(
                "/page",
                get(|| async { (StatusCode::NOT_FOUND, "<h1>no</h1>") }),
            )
            .layer(axum::middleware::from_fn(api_envelope))
    }

    async fn call(uri: &str, method: &str) -> Response {
        app()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_api_error_carries_the_envelope() {
        let cases = [
            ("/api/v1/nowhere", "GET", 404, "not_found"),
            ("/api/v1/things/1", "DELETE", 405, "method_not_allowed"),
            ("/api/v1/plain", "GET", 400, "bad_request"),
            ("/api/v1/things/a%00b", "GET", 404, "not_found"),
            ("/api/v1/things/a%1Fb", "GET", 404, "not_found"),
            ("/api/v1/things/1?ids=a%00", "GET", 400, "bad_request"),
        ];
        for (uri, method, status, code) in cases {
            let r = call(uri, method).await;
            assert_eq!(r.status().as_u16(), status, "{method} {uri}");
            assert!(is_json(r.headers()), "{method} {uri}");
            let body = body_json(r).await;
            assert_eq!(body["error"]["code"], code, "{method} {uri}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        // The handler's own text survives as the message.
        let body = body_json(call("/api/v1/plain", "GET").await).await;
        assert_eq!(body["error"]["message"], "Failed to parse");
    }

    #[tokio::test]
    async fn pages_and_successes_pass_untouched() {
        let r = call("/api/v1/things/1", "GET").await;
        assert_eq!(r.status(), 200);
        let r = call("/page", "GET").await;
        assert_eq!(r.status(), 404);
        assert!(!is_json(r.headers()));
    }
}
