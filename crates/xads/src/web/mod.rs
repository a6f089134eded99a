//! The HTTP surface: operations endpoints, the dashboard API (`/api/v1`), the OAuth callback.

pub(crate) mod answer;
pub mod auth;
mod backfill;
pub mod envelope;
pub mod error;
pub(crate) mod experiments;
mod health;
pub mod ids;
pub(crate) mod integrations;
pub mod limits;
pub(crate) mod manage;
pub(crate) mod media;
pub mod metrics;
pub mod openapi;
pub(crate) mod reports;
pub mod serve;

use axum::Router;
use axum::http::HeaderValue;
use axum::middleware;

use crate::app::AppState;

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
        .merge(backfill::routes())
        .with_state(state)
        .layer(middleware::from_fn(envelope::api_envelope))
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
