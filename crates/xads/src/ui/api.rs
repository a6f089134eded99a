//! The UI's way to the dashboard API: requests dispatched in process to the same `/api/v1`
//! handlers, as the logged-in tenant. So the pages hold no business logic of their own: every
//! validation, dry-run rule, idempotency and error text is the API's.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

use crate::app::AppState;
use crate::store::tenants::Tenant;
use crate::web::auth::InProcessTenant;

/// An API answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The parsed body.
    pub body: Value,
}

impl Answer {
    /// The API's error message, when this is an error.
    pub fn error(&self) -> Option<String> {
        if self.status.is_success() {
            return None;
        }
        Some(
            self.body["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the request failed ({})", self.status)),
        )
    }

    /// The `data` array of a list answer (empty on errors).
    pub fn data(&self) -> Vec<Value> {
        self.body["data"].as_array().cloned().unwrap_or_default()
    }
}

/// Sends `req` to the service's router as `tenant`; returns the raw response.
pub async fn raw(state: &AppState, tenant: &Tenant, mut req: Request<Body>) -> Response {
    req.extensions_mut().insert(InProcessTenant(tenant.clone()));
    match crate::web::router(state.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Sends a JSON request (or none) as `tenant` and parses the answer.
pub async fn call(
    state: &AppState,
    tenant: &Tenant,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    send(state, tenant, method, path, body, None).await
}

/// Like [`call`], with the dashboard's `Idempotency-Key` (forms carry one, so a double submit
/// acts once).
pub async fn send(
    state: &AppState,
    tenant: &Tenant,
    method: Method,
    path: &str,
    body: Option<&Value>,
    idem_key: Option<&str>,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(k) = idem_key {
        builder = builder.header("idempotency-key", k);
    }
    let body = match body {
        Some(v) => {
            builder = builder.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let req = match builder.body(body) {
        Ok(r) => r,
        Err(e) => {
            return Answer {
                status: StatusCode::BAD_REQUEST,
                body: serde_json::json!({"error": {"message": format!("bad request: {e}")}}),
            };
        }
    };
    let resp = raw(state, tenant, req).await;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A GET.
pub async fn get(state: &AppState, tenant: &Tenant, path: &str) -> Answer {
    call(state, tenant, Method::GET, path, None).await
}
