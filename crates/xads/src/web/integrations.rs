//! The X (Twitter) Ads tile: connect, callback, disconnect, tile data, ad accounts, webhooks.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use xads_client::Secret;

use super::auth::AuthTenant;
use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::connect::{self, CallbackOutcome, CallbackProblem};
use crate::manage::paging;
use crate::store::connections::{self, Status};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/integrations", get(tiles))
        .route("/api/v1/integrations/x_ads/connect", post(connect_start))
        .route("/api/v1/integrations/x_ads", delete(disconnect))
        .route("/api/v1/integrations/x_ads/webhooks", post(webhooks))
        .route("/api/v1/x_ads/accounts", get(accounts))
        .route("/oauth/x_ads/callback", get(callback))
}

// Unknown fields are refused like on every other write route (a typo must not start a connect).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    #[serde(default)]
    method: Option<String>,
}

async fn connect_start(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    // Malformed JSON answers our JSON error shape, not axum's plain-text rejection.
    body: Result<Option<Json<Value>>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Value>> {
    let body = body?;
    let body: ConnectBody = match body {
        None => ConnectBody::default(),
        Some(Json(v)) => serde_json::from_value(v)
            .map_err(|e| ApiError::invalid("method", format!("invalid body: {e}")))?,
    };
    let started = match body.method.as_deref().unwrap_or("oauth2") {
        // Not bound to a browser: the dashboard's backend authenticates its own users (SECURITY.md).
        "oauth2" => connect::start_oauth2(&state, &tenant, None).await,
        "oauth1" => connect::start_oauth1(&state, &tenant, None).await,
        other => {
            return Err(ApiError::invalid(
                "method",
                format!("method must be oauth2 or oauth1, got {other:?}"),
            ));
        }
    }?;
    Ok(Json(json!({
        "authorize_url": started.authorize_url.as_str(),
        "expires_at": started.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })))
}

/// The callback serves both flows: OAuth 2.0 sends `code` + `state`, OAuth 1.0a sends
/// `oauth_token` + `oauth_verifier`. The code, state and verifier are `Secret`s: hidden from
/// `Debug`, wiped when the request is done.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<Secret>,
    state: Option<Secret>,
    error: Option<String>,
    oauth_token: Option<String>,
    oauth_verifier: Option<Secret>,
    denied: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    // The browser's dashboard session, if any: a connect started from the UI completes only in it.
    let session =
        crate::ui::session::token(&headers).map(|t| crate::store::sessions::token_hash(&t));
    let session = session.as_deref();
    let outcome = match (&q.oauth_token, &q.oauth_verifier, &q.denied) {
        (Some(token), Some(verifier), None) => {
            connect::finish_oauth1(&state, token, verifier.expose(), session).await?
        }
        // X's OAuth 1.0a "cancel" sends `denied=<request token>` (OAuth 2.0 denials come as
        // `error=access_denied` with the `state`).
        (_, _, Some(denied)) => connect::deny_oauth1(&state, denied).await?,
        _ => {
            connect::finish_oauth2(
                &state,
                q.code.as_ref().map(Secret::expose),
                q.state.as_ref().map(Secret::expose),
                q.error.as_deref(),
                session,
            )
            .await?
        }
    };
    Ok(match outcome {
        CallbackOutcome::Connected { redirect_to } => {
            Redirect::to(&format!("{redirect_to}?connected=x_ads")).into_response()
        }
        CallbackOutcome::Failed { problem, message } => {
            let status = match problem {
                CallbackProblem::InvalidLink
                | CallbackProblem::Denied
                | CallbackProblem::Refused => StatusCode::BAD_REQUEST,
                CallbackProblem::XFailed => StatusCode::BAD_GATEWAY,
                CallbackProblem::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
                CallbackProblem::NoAdsAccess | CallbackProblem::OtherSession => {
                    StatusCode::FORBIDDEN
                }
                CallbackProblem::Unauthorized => StatusCode::UNAUTHORIZED,
            };
            (status, Html(crate::ui::connect_failed_page(&message))).into_response()
        }
    })
}

async fn disconnect(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> ApiResult<Json<Value>> {
    let was_connected = connect::disconnect(&state, &tenant).await?;
    Ok(Json(json!({
        "provider": "x_ads",
        "status": "disconnected",
        "was_connected": was_connected,
        "note": "Tokens were deleted from the dashboard. To fully revoke access, also remove the app from your X account's connected apps.",
    })))
}

async fn webhooks(AuthTenant(_): AuthTenant) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "webhooks_not_supported",
        "webhooks not supported on x_ads",
    )
}

/// The tile data of PRODUCT.md §5.1.
pub async fn tile(state: &AppState, tenant_id: &str) -> Result<Value, crate::db::DbError> {
    let conn = connections::for_tenant(&state.db, tenant_id).await?;
    let accounts = connections::ad_accounts(&state.db, tenant_id).await?;
    let (status, scopes, connected_at, problem) = match &conn {
        None => (Status::Disconnected, vec![], None, None),
        Some(c) => (
            c.status,
            c.scopes.split_whitespace().map(str::to_owned).collect(),
            c.connected_at
                .filter(|_| c.status != Status::Disconnected)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            c.problem.clone(),
        ),
    };
    let missing: Vec<&str> = if status == Status::Connected {
        ["ads.read", "ads.write", "offline.access", "media.write"]
            .into_iter()
            .filter(|s| !scopes.iter().any(|g: &String| g == s))
            .collect()
    } else {
        vec![]
    };
    let show_accounts = matches!(status, Status::Connected | Status::Error);
    Ok(json!({
        "provider": "x_ads",
        "name": "X (Twitter) Ads",
        "status": status.as_str(),
        "mode": if state.config.live_mode { "live" } else { "dry_run" },
        "accounts": if show_accounts { accounts.iter().map(account_json).collect::<Vec<_>>() } else { vec![] },
        "scopes": scopes,
        "missing_scopes": missing,
        "connected_at": connected_at,
        "problem": problem,
        "methods": methods(state),
        "sync": super::reports::sync_health(state, tenant_id).await?,
    }))
}

fn methods(state: &AppState) -> Vec<&'static str> {
    let mut m = vec![];
    if state.config.oauth2.is_some() {
        m.push("oauth2");
    }
    if state.config.oauth1.is_some() {
        m.push("oauth1");
    }
    m
}

fn account_json(a: &connections::AdAccount) -> Value {
    json!({ "id": a.id, "name": a.name, "timezone": a.timezone, "currency": a.currency })
}

async fn tiles(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "data": [tile(&state, &tenant.id).await?] })))
}

/// `GET /api/v1/x_ads/accounts`' query.
#[derive(Debug, Deserialize)]
pub(super) struct AccountsQuery {
    #[serde(default)]
    pub(super) refresh: Option<bool>,
    pub(super) cursor: Option<String>,
    pub(super) count: Option<u32>,
}

async fn accounts(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    q: Result<Query<AccountsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q?;
    let count = paging::count(q.count)?;
    let after = paging::decode(q.cursor.as_deref(), 2)?;
    let session = crate::x::XSession::for_tenant(&state, &tenant.id).await?;
    if q.refresh.unwrap_or(false) {
        connect::list_accounts(&state, &session).await?;
    }
    let mut accounts = connections::ad_accounts_page(
        &state.db,
        &tenant.id,
        after.as_ref().map(|k| (k[0].as_str(), k[1].as_str())),
        count + 1,
    )
    .await?;
    let next_cursor = if accounts.len() as i64 > count {
        accounts.truncate(count as usize);
        accounts.last().map(|a| paging::encode(&[&a.name, &a.id]))
    } else {
        None
    };
    Ok(Json(json!({
        "data": accounts.iter().map(account_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_query_hides_code_state_and_verifier() {
        let q: CallbackQuery = serde_urlencoded::from_str(
            "code=code-1234abcd&state=state-5678efgh&oauth_token=req-tok&oauth_verifier=verif-9999zzzz",
        )
        .unwrap();
        assert_eq!(q.code.as_ref().map(Secret::expose), Some("code-1234abcd"));
        let shown = format!("{q:?}");
        for secret in ["code-1234abcd", "state-5678efgh", "verif-9999zzzz"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
