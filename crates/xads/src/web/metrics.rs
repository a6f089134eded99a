//! `GET /metrics`: Prometheus text. Calls to X (by endpoint and status), retries, limiter waits,
//! 429s and failovers, and each ad account's sync health (which names tenant and account ids).
//!
//! It is an operator's surface: served on its own listener (`XADS_METRICS_BIND`, loopback by
//! default; [`operator_router`]). On the public listener `/metrics` is a 404 unless
//! `XADS_METRICS_TOKEN` is set and the scrape carries it as a bearer token.
//!
//! The client counts through the `metrics` facade; the recorder is installed once per process
//! (several apps in one test process share it). Limiter and sync-health figures are read at scrape
//! time, so they are always current and cost nothing between scrapes.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::error::ApiError;
use crate::app::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (first call wins); `None` if another recorder was installed.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(public_scrape))
}

/// The operators' listener: `/metrics` alone, no credential (it is bound to a private address).
pub fn operator_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// `/metrics` on the public listener: only with `Authorization: Bearer <XADS_METRICS_TOKEN>`;
/// anyone else gets the same 404 as an unknown path.
async fn public_scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&state.config.metrics_token, presented) {
        (Some(token), Some(p)) => {
            crate::crypto::constant_time_eq(token.expose().as_bytes(), p.trim().as_bytes())
        }
        _ => false,
    };
    if !allowed {
        return ApiError::not_found("route").into_response();
    }
    scrape(State(state)).await.into_response()
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.limiter.stats();
    metrics::gauge!("xads_limiter_admitted_total").set(stats.admitted as f64);
    metrics::gauge!("xads_limiter_waits_total").set(stats.waited as f64);
    metrics::gauge!("xads_limiter_wait_seconds_total").set(stats.wait_time.as_secs_f64());
    metrics::gauge!("xads_limiter_held_by_x_total").set(stats.held_by_x as f64);
    metrics::gauge!("xads_limiter_deadline_exceeded_total").set(stats.deadline_exceeded as f64);
    metrics::gauge!("xads_limiter_redis_failovers_total").set(stats.redis_failovers as f64);
    metrics::gauge!("xads_limiter_fallback_decisions_total").set(stats.fallback_decisions as f64);
    match crate::store::sync_runs::health_everywhere(&state.db).await {
        Ok(rows) => {
            let now = state.clock.now();
            for (tenant, account, h) in rows {
                let labels = [("tenant", tenant), ("account", account)];
                if let Some(at) = h.last_success_at {
                    metrics::gauge!("xads_sync_last_success_timestamp_seconds", &labels)
                        .set(at.timestamp() as f64);
                    metrics::gauge!("xads_sync_lag_seconds", &labels)
                        .set((now - at).num_seconds().max(0) as f64);
                }
                metrics::gauge!("xads_sync_failing", &labels).set(if h.last_error.is_some() {
                    1.0
                } else {
                    0.0
                });
            }
        }
        Err(e) => tracing::warn!(error = %e, "sync health for /metrics unavailable"),
    }
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
