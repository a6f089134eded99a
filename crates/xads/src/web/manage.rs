//! `/api/v1/x_ads/accounts/{account_id}/…`: campaigns, line items, promoted tweets.
//!
//! Every write honours the dashboard's `Idempotency-Key` (PRODUCT.md §4.5): same key and same
//! request → the stored answer, byte for byte, with `Idempotent-Replayed: true`; same key and
//! another request (or another mode) → 422; same key still executing → 409 (the claim is leased to
//! the executing request and renewed while it runs; see `store::idempotency`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::answer::Answer;
use super::auth::AuthTenant;
use super::error::ApiError;
use super::ids::{self, PathIds};
use crate::app::AppState;
use crate::manage::{self, Scope};
use crate::store::entities::Kind;
use crate::store::idempotency::{self, Claim};

pub(super) fn routes() -> Router<AppState> {
    let base = "/api/v1/x_ads/accounts/{account_id}";
    Router::new()
        .route(
            &format!("{base}/campaigns"),
            get(list_campaigns).post(create_campaign),
        )
        .route(
            &format!("{base}/campaigns/{{id}}"),
            get(get_campaign)
                .patch(update_campaign)
                .delete(delete_campaign),
        )
        .route(
            &format!("{base}/line_items"),
            get(list_line_items).post(create_line_item),
        )
        .route(
            &format!("{base}/line_items/{{id}}"),
            get(get_line_item)
                .patch(update_line_item)
                .delete(delete_line_item),
        )
        .route(
            &format!("{base}/promoted_tweets"),
            get(list_promoted_tweets).post(create_promoted_tweets),
        )
        .route(
            &format!("{base}/promoted_tweets/{{id}}"),
            patch(update_promoted_tweet).delete(delete_promoted_tweet),
        )
}

pub(super) fn scope(
    state: AppState,
    tenant: crate::store::tenants::Tenant,
    account_id: String,
    headers: &HeaderMap,
) -> Result<Scope, ApiError> {
    let raw = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map_err(|_| bad_idem_key()))
        .transpose()?;
    scope_for(state, tenant, account_id, raw)
}

/// The scope of a read: `tenant` on the path's account, no idempotency key.
pub(super) fn read_scope(
    state: AppState,
    tenant: crate::store::tenants::Tenant,
    path: &PathIds,
) -> Result<Scope, ApiError> {
    scope_for(state, tenant, path.account()?.into_string(), None)
}

fn bad_idem_key() -> ApiError {
    ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
}

/// The scope of `tenant` on `account_id` with the dashboard's idempotency key (the API's header,
/// the UI's form field), checked: 1 to 255 visible ASCII characters once trimmed.
pub(crate) fn scope_for(
    state: AppState,
    tenant: crate::store::tenants::Tenant,
    account_id: String,
    idem_key: Option<&str>,
) -> Result<Scope, ApiError> {
    let idem_key = idem_key
        .map(|k| {
            Some(k.trim())
                .filter(|k| {
                    !k.is_empty()
                        && k.len() <= 255
                        && k.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
                })
                .map(str::to_owned)
                .ok_or_else(bad_idem_key)
        })
        .transpose()?;
    Ok(Scope {
        state: state.services,
        tenant,
        account_id,
        idem_key,
    })
}

/// The path's entity id, parsed at the edge. One that cannot be an id (a NUL or control byte,
/// 300 characters, …) gets the answer an unknown id gets — the account checked first, then 404
/// `{what} not found` — without reaching the domain or a database query with it.
pub(crate) async fn path_entity(
    scope: &Scope,
    raw: &str,
    what: &'static str,
) -> Result<String, ApiError> {
    match ids::entity_id(raw) {
        Some(id) => Ok(id.to_owned()),
        None => {
            scope.check_account().await?;
            Err(ApiError::not_found(what))
        }
    }
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
}

/// The status and body of a domain result.
pub(super) fn answer(a: impl Answer) -> (u16, String) {
    (a.status().as_u16(), a.body())
}

pub(super) fn json_response(status: u16, body: String, replayed: bool) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

/// A 200 JSON answer sent as the buffers it is made of ([`EntityPage::parts`]), not joined into
/// one: its length is known, so it goes out with `Content-Length` like any other answer.
///
/// [`EntityPage::parts`]: crate::manage::mirror::EntityPage::parts
fn json_parts_response(parts: [Bytes; 3]) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::new(Parts(parts.into())),
    )
        .into_response()
}

/// A response body of buffers sent one after another, each as it is.
struct Parts(std::collections::VecDeque<Bytes>);

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// Runs a write under the request's `Idempotency-Key`, if any (the UI's forms too, with their
/// `idem` field: same key, same fingerprint, same stored answer).
pub(crate) async fn idempotent<F, Fut, T, E>(
    scope: &Scope,
    method: &Method,
    path: &str,
    body: &[u8],
    run: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: Answer,
    ApiError: From<E>,
{
    let (status, body, replayed) = idempotent_answer(scope, method, path, body, run).await?;
    Ok(json_response(status, body, replayed))
}

/// [`idempotent`]'s status, JSON body and whether it is a replay, before they become a response
/// (the UI's forms read the body: a created experiment's `id`).
pub(crate) async fn idempotent_answer<F, Fut, T, E>(
    scope: &Scope,
    method: &Method,
    path: &str,
    body: &[u8],
    run: F,
) -> Result<(u16, String, bool), ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: Answer,
    ApiError: From<E>,
{
    let Some(key) = scope.idem_key.clone() else {
        let (status, body) = answer(run().await?);
        return Ok((status, body, false));
    };
    let mode = if scope.live() { "live" } else { "dry_run" };
    let mut h = Sha256::new();
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        mode.as_bytes(),
        body,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let fingerprint = hex::encode(h.finalize());
    let db = &scope.state.db;
    let tenant = scope.tenant.id.as_str();
    let now = scope.state.clock.now();
    let lease = scope.state.config.leases.idempotency;
    let holder = match idempotency::claim(db, tenant, &key, &fingerprint, now, lease).await? {
        Claim::Replay { status, body } => return Ok((status, body, true)),
        Claim::Mismatch => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request (method, path, body or dry-run/live mode)",
            ));
        }
        // The first execution is alive (its lease is being renewed): answer at once rather than
        // wait for it, since it may legitimately take many minutes (the limiter holds a call up
        // to X's window reset); the retry after it finished gets the stored answer.
        Claim::InFlight => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        Claim::Execute(holder) => holder,
    };
    // The claim is renewed for as long as the request runs, however long X keeps it waiting.
    let outcome = crate::lease::renewing(
        run(),
        crate::config::Leases::renew_every(lease),
        || async {
            match idempotency::renew(db, tenant, &key, &holder, lease).await {
                Ok(true) => true,
                Ok(false) => {
                    tracing::error!(idempotency.tenant = %tenant, "lost an idempotency key's claim while its request ran");
                    false
                }
                // A failed renewal is retried at the next period (the lease outlasts two).
                Err(e) => {
                    tracing::warn!(idempotency.tenant = %tenant, error = %e, "renewing an idempotency key's claim failed");
                    true
                }
            }
        },
    )
    .await;
    match outcome {
        Ok(a) => {
            let (status, body) = answer(a);
            if !idempotency::finish(db, tenant, &key, &holder, status, &body).await? {
                lost_claim(tenant, "finish");
            }
            Ok((status, body, false))
        }
        Err(e) => {
            let err = ApiError::from(e);
            let kept = if err.status.is_client_error() && err.status != StatusCode::CONFLICT {
                // A refusal is final: store the very body it answers (code, safe message and
                // details), so a retry sees the same bytes.
                idempotency::finish(db, tenant, &key, &holder, err.status.as_u16(), &err.body())
                    .await?
            } else {
                // X unavailable, ambiguous or internal: let a retry execute again (the outbound
                // intent makes that safe).
                idempotency::release(db, tenant, &key, &holder).await?
            };
            if !kept {
                lost_claim(tenant, "release");
            }
            Err(err)
        }
    }
}

/// A holder found its claim gone at the end (its lease lapsed and another execution took the key
/// over): what the other holder stores stands; this one's answer goes only to its own caller.
fn lost_claim(tenant: &str, step: &str) {
    tracing::error!(idempotency.tenant = %tenant, idempotency.step = step, "the idempotency key's claim was lost before its answer was stored; the current holder's answer stands");
}

/// The query of the campaign, line-item and promoted-tweet lists.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    pub(super) refresh: Option<bool>,
    pub(super) cursor: Option<String>,
    pub(super) count: Option<u32>,
    pub(super) campaign_id: Option<String>,
    pub(super) line_item_id: Option<String>,
}

async fn list(
    state: AppState,
    tenant: crate::store::tenants::Tenant,
    account_id: String,
    kind: Kind,
    q: ListQuery,
) -> Result<Response, ApiError> {
    let scope = scope_for(state, tenant, account_id, None)?;
    // The page's own query checks the account; a read-through checks it before calling X.
    if q.refresh.unwrap_or(false) {
        scope.check_account().await?;
        let session = scope.session().await?;
        manage::mirror::refresh(&scope, &session, kind).await?;
    }
    let parent = match kind {
        Kind::LineItem => q.campaign_id.as_deref(),
        Kind::PromotedTweet => q.line_item_id.as_deref(),
        Kind::Campaign => None,
    };
    let page = manage::mirror::page(&scope, kind, parent, q.cursor.as_deref(), q.count).await?;
    Ok(json_parts_response(page.parts()))
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

macro_rules! list_handler {
    ($name:ident, $kind:expr) => {
        async fn $name(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            path: PathIds,
            q: QueryResult<ListQuery>,
        ) -> Result<Response, ApiError> {
            let Query(q) = q?;
            list(state, tenant, path.account()?.into_string(), $kind, q).await
        }
    };
}
list_handler!(list_campaigns, Kind::Campaign);
list_handler!(list_line_items, Kind::LineItem);
list_handler!(list_promoted_tweets, Kind::PromotedTweet);

macro_rules! create_handler {
    ($name:ident, $op:path) => {
        #[axum::debug_handler(state = AppState)]
        async fn $name(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            path: PathIds,
            method: Method,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
            let value = parse_body(&body)?;
            idempotent(&scope, &method, uri.path(), &body, || $op(&scope, &value)).await
        }
    };
}
create_handler!(create_campaign, manage::campaigns::create);
create_handler!(create_line_item, manage::line_items::create);
create_handler!(create_promoted_tweets, manage::promoted_tweets::create);

macro_rules! update_handler {
    ($name:ident, $op:path, $what:literal) => {
        async fn $name(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            path: PathIds,
            method: Method,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
            let value = parse_body(&body)?;
            let id = path_entity(&scope, path.raw("id"), $what).await?;
            idempotent(&scope, &method, uri.path(), &body, || {
                $op(&scope, &id, &value)
            })
            .await
        }
    };
}
update_handler!(update_campaign, manage::campaigns::update, "campaign");
update_handler!(update_line_item, manage::line_items::update, "line item");
update_handler!(
    update_promoted_tweet,
    manage::promoted_tweets::set_paused,
    "promoted tweet"
);

macro_rules! id_handler {
    ($name:ident, $op:path, $write:expr, $what:literal) => {
        async fn $name(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            path: PathIds,
            method: Method,
            uri: axum::http::Uri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            let scope = scope(state, tenant, path.account()?.into_string(), &headers)?;
            let id = path_entity(&scope, path.raw("id"), $what).await?;
            if $write {
                idempotent(&scope, &method, uri.path(), b"", || $op(&scope, &id)).await
            } else {
                let (status, body) = answer($op(&scope, &id).await?);
                Ok(json_response(status, body, false))
            }
        }
    };
}
id_handler!(get_campaign, manage::campaigns::get, false, "campaign");
id_handler!(delete_campaign, manage::campaigns::delete, true, "campaign");
id_handler!(get_line_item, manage::line_items::get, false, "line item");
id_handler!(
    delete_line_item,
    manage::line_items::delete,
    true,
    "line item"
);
id_handler!(
    delete_promoted_tweet,
    manage::promoted_tweets::delete,
    true,
    "promoted tweet"
);
