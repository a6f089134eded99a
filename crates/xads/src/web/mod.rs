//! The HTTP surface: operations endpoints, the dashboard API (`/api/v1`), the OAuth callback.

pub mod auth;
pub mod error;
mod experiments;
mod health;
mod integrations;
pub mod limits;
mod manage;
mod media;
pub mod metrics;
pub mod openapi;
mod reports;
pub mod serve;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;

use crate::app::AppState;
use crate::x::XSessionError;
use error::ApiError;

/// Every route of the service, behind the inbound limits and the hardening headers
/// (`web::limits`).
pub fn router(state: AppState) -> Router {
    let limits = state.config.limits;
    let callers = state.callers.clone();
    let csp = HeaderValue::from_str(&limits::content_security_policy(&form_targets(
        &state.config,
    )))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(integrations::routes())
        .merge(manage::routes())
        .merge(experiments::routes())
        .merge(openapi::routes())
        .merge(crate::ui::routes())
        .merge(media::routes())
        .merge(reports::routes())
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            limits,
            limits::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(callers, limits::per_caller))
        .layer(middleware::from_fn_with_state(
            csp,
            limits::security_headers,
        ))
}

/// Where the UI's forms may lead besides us: X's authorize pages, reached by the connect
/// button's redirect.
fn form_targets(config: &crate::config::Config) -> Vec<String> {
    let mut origins = vec![config.authorize_url.origin().ascii_serialization()];
    if config.oauth1.is_some() {
        origins.push(config.api_base_url.origin().ascii_serialization());
    }
    origins.dedup();
    origins
}

/// Maps a failure to reach X for a tenant onto the API's error shape.
pub fn session_error(e: XSessionError) -> ApiError {
    match e {
        XSessionError::NotConnected => ApiError::not_connected(),
        XSessionError::NeedsReconnect(problem) => {
            ApiError::new(StatusCode::CONFLICT, "needs_reconnect", problem)
        }
        XSessionError::RefreshTimeout => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "x_unavailable",
            "timed out waiting for a token refresh; try again",
        ),
        XSessionError::X(x) => x_error(&x),
        XSessionError::Db(db) => db.into(),
    }
}

/// X's refusal after retries, as PRODUCT.md §5.1 wants it: 429/502/503 (or X's 4xx with its code,
/// message and parameter), the message as §4.9 writes it.
pub fn x_error(e: &xads_client::XError) -> ApiError {
    let (status, code) = match e.status() {
        Some(429) => (StatusCode::TOO_MANY_REQUESTS, "x_rate_limited"),
        Some(503) => (StatusCode::SERVICE_UNAVAILABLE, "x_unavailable"),
        Some(s) if (400..500).contains(&s) => (StatusCode::UNPROCESSABLE_ENTITY, "x_rejected"),
        _ => (StatusCode::BAD_GATEWAY, "x_error"),
    };
    let mut err = ApiError::new(status, code, e.to_string());
    if let xads_client::XError::Api { errors, .. } = e {
        err = err.with_details(serde_json::json!({
            "x_status": e.status(),
            "x_errors": errors.iter().map(|x| serde_json::json!({
                "code": x.code.as_ref().map(|c| c.as_string()),
                "message": x.message,
                "parameter": x.parameter,
            })).collect::<Vec<_>>(),
        }));
    }
    err
}
