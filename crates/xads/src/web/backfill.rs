//! Backfills through X's asynchronous jobs (PRODUCT.md §4.10, §5.1): `POST …/stats/backfill`
//! records one (202), `GET …/stats/backfill/{backfill_id}` reads it (`?wait=true`: until it ends
//! or `leases.sync_wait` passed), `DELETE` cancels it and X's jobs. The domain is
//! `sync::backfill`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use xads_client::vocab::SegmentationType;

use super::auth::AuthTenant;
use super::error::{ApiError, ApiResult};
use super::ids::{self, PathIds};
use super::reports::{WaitQuery, account_tz, bound, rfc3339};
use crate::app::AppState;
use crate::store::backfills::{self, Backfill};
use crate::store::sync_runs::SyncTarget;
use crate::sync::backfill;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/x_ads/accounts/{account_id}/stats/backfill",
            post(start),
        )
        .route(
            "/api/v1/x_ads/accounts/{account_id}/stats/backfill/{backfill_id}",
            axum::routing::get(status).delete(cancel),
        )
}

/// The body of `POST …/stats/backfill`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    from: Option<String>,
    to: Option<String>,
    segment: Option<String>,
    country: Option<String>,
}

/// A backfill as the API answers it (also the tile's `sync.backfill`).
pub(crate) fn backfill_json(b: &Backfill) -> Value {
    json!({
        "backfill_id": b.id,
        "status": b.status,
        "account_id": b.account_id,
        "trigger": b.trigger,
        "from": rfc3339(b.window.0),
        "to": rfc3339(b.window.1),
        "segment": b.segment,
        "country": b.country,
        "progress": {
            "jobs_done": b.jobs_done,
            "jobs_total": b.jobs_total,
            "rows": b.rows,
        },
        "error": b.error,
        "created_at": rfc3339(b.created_at),
        "finished_at": b.finished_at.map(rfc3339),
    })
}

async fn start(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    // Malformed JSON answers our JSON error shape, not axum's plain-text rejection.
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let account_id = path.account()?.into_string();
    let body: Body = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid("body", format!("invalid body: {e}")))?;
    let (_, tz) = account_tz(&state, &tenant.id, &account_id).await?;
    let from = body
        .from
        .as_deref()
        .ok_or_else(|| ApiError::invalid("from", "from is required"))?;
    let to = body
        .to
        .as_deref()
        .ok_or_else(|| ApiError::invalid("to", "to is required"))?;
    let (from, to) = (bound("from", from, tz, false)?, bound("to", to, tz, true)?);
    let segment = match body.segment.as_deref() {
        None => None,
        Some(s) => Some(
            s.to_ascii_uppercase()
                .parse::<SegmentationType>()
                .map_err(|_| {
                    ApiError::invalid(
                        "segment",
                        format!(
                            "unknown segment {s:?}; expected one of {}",
                            SegmentationType::WIRE.join(", ")
                        ),
                    )
                })?,
        ),
    };
    let request = backfill::check(state.clock.now(), from, to, segment, body.country)?;
    // Refused at once when X cannot be reached for this tenant, rather than a backfill that fails.
    crate::x::XSession::for_tenant(&state, &tenant.id).await?;
    let target = SyncTarget {
        tenant_id: tenant.id.clone(),
        account_id,
    };
    let b = backfill::start(&state, &target, &request, "on_demand", None).await?;
    Ok((StatusCode::ACCEPTED, Json(backfill_json(&b))).into_response())
}

/// The tenant's backfill named by the path, of the path's account (404 otherwise).
async fn find(state: &AppState, tenant_id: &str, path: &PathIds) -> ApiResult<Backfill> {
    let (Ok(account), Some(id)) = (path.account(), ids::local_id(path.raw("backfill_id"))) else {
        return Err(ApiError::not_found("backfill"));
    };
    let account_id = account.into_string();
    backfills::get(&state.db, tenant_id, id)
        .await?
        .filter(|b| b.account_id == account_id)
        .ok_or_else(|| ApiError::not_found("backfill"))
}

async fn status(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    wait: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(wait) = wait?;
    let mut b = find(&state, &tenant.id, &path).await?;
    if wait.wait.unwrap_or(false) {
        let started = tokio::time::Instant::now();
        while b.status == "running" && started.elapsed() < state.config.leases.sync_wait {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            b = backfills::get(&state.db, &tenant.id, &b.id)
                .await?
                .ok_or_else(|| ApiError::not_found("backfill"))?;
        }
    }
    Ok(Json(backfill_json(&b)))
}

async fn cancel(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
) -> ApiResult<Json<Value>> {
    let b = find(&state, &tenant.id, &path).await?;
    let b = backfill::cancel(&state, &tenant.id, &b.id)
        .await?
        .ok_or_else(|| ApiError::not_found("backfill"))?;
    Ok(Json(backfill_json(&b)))
}
