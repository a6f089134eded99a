//! `/api/v1/x_ads/accounts/{account_id}/experiments…` (PRODUCT.md §5.1).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::ids::{self, PathIds};
use super::manage::{answer, idempotent, json_response, parse_body, read_scope, scope};
use crate::app::AppState;
use crate::experiments;
use crate::manage::Scope;

pub(super) fn routes() -> Router<AppState> {
    let base = "/api/v1/x_ads/accounts/{account_id}/experiments";
    Router::new()
        .route(base, get(list).post(create))
        .route(&format!("{base}/{{id}}"), get(read))
        .route(&format!("{base}/{{id}}/results"), get(results))
        .route(&format!("{base}/{{id}}/{{action}}"), post(act))
}

/// The path's experiment id, parsed at the edge; one that cannot be ours gets the answer an
/// unknown one gets (the account checked first, then 404).
pub(crate) async fn path_experiment(scope: &Scope, raw: &str) -> Result<String, ApiError> {
    match ids::local_id(raw) {
        Some(id) => Ok(id.to_owned()),
        None => {
            scope.check_account().await?;
            Err(ApiError::not_found("experiment"))
        }
    }
}

/// `GET …/experiments`' query.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    pub(super) cursor: Option<String>,
    pub(super) count: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    q: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = q?;
    let scope = read_scope(state, tenant, &path)?;
    let page = experiments::page(&scope, q.cursor.as_deref(), q.count).await?;
    let (status, body) = answer(page);
    Ok(json_response(status, body, false))
}

async fn create(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
    let value = parse_body(&body)?;
    idempotent(&scope, &method, uri.path(), &body, || {
        experiments::create(&scope, &value)
    })
    .await
}

async fn read(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
) -> Result<Response, ApiError> {
    let scope = read_scope(state, tenant, &path)?;
    let id = path_experiment(&scope, path.raw("id")).await?;
    let (status, body) = answer(experiments::get(&scope, &id).await?);
    Ok(json_response(status, body, false))
}

async fn results(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
) -> Result<Response, ApiError> {
    let scope = read_scope(state, tenant, &path)?;
    let id = path_experiment(&scope, path.raw("id")).await?;
    let (status, body) = answer(experiments::results(&scope, &id).await?);
    Ok(json_response(status, body, false))
}

async fn act(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
    let value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        parse_body(&body)?
    };
    let action = path.raw("action");
    if !["start", "stop", "conclude"].contains(&action) {
        return Err(ApiError::not_found("route"));
    }
    let id = path_experiment(&scope, path.raw("id")).await?;
    match action {
        "start" => {
            idempotent(&scope, &method, uri.path(), &body, || {
                experiments::start(&scope, &id)
            })
            .await
        }
        "stop" => {
            idempotent(&scope, &method, uri.path(), &body, || {
                experiments::stop(&scope, &id)
            })
            .await
        }
        "conclude" => {
            idempotent(&scope, &method, uri.path(), &body, || {
                experiments::conclude(&scope, &id, &value)
            })
            .await
        }
        _ => Err(ApiError::not_found("route")),
    }
}
