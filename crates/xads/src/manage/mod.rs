//! Campaign management (PRODUCT.md §4.3–§4.5): campaigns, line items and promoted tweets, in
//! dry-run or live mode, written to X exactly once, mirrored locally and audited.
//!
//! Handlers call the kind modules with a [`Scope`]; each operation validates first (nothing is
//! stored or sent for bad input), then either stays local (dry-run: `dry_` ids, `dry_run: true`)
//! or goes through [`exactly_once`] to X.

pub mod campaigns;
pub mod exactly_once;
pub mod input;
pub mod line_items;
pub mod mirror;
pub mod paging;
pub mod promoted_tweets;
pub mod recovery;
pub mod render;

use serde_json::Value;

use crate::services::Services;
use crate::store::audit::{self, AuditEntry};
use crate::store::connections;
use crate::store::entities::{self, Entity, Kind};
use crate::store::tenants::Tenant;
use crate::x::{XSession, XSessionError};
use exactly_once::WriteError;
use input::Invalid;

/// Who acts on which ad account, and the dashboard request's `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Everything the service can reach.
    pub state: Services,
    /// The acting tenant.
    pub tenant: Tenant,
    /// The ad account (checked to be the tenant's).
    pub account_id: String,
    /// The inbound idempotency key, when the request had one.
    pub idem_key: Option<String>,
}

/// Why a management operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Bad input; nothing was stored or sent.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Unknown (or another tenant's) id.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The operation does not apply (e.g. a deleted entity).
    #[error("{0}")]
    Conflict(String),
    /// No session with X, or X refused.
    #[error(transparent)]
    Session(#[from] XSessionError),
    /// The write's outcome at X could not be established.
    #[error(transparent)]
    Write(WriteError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<WriteError> for ManageError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Session(s) => ManageError::Session(s),
            WriteError::Db(d) => ManageError::Db(d),
            other => ManageError::Write(other),
        }
    }
}

impl ManageError {
    /// The text a client may be shown, and the one a stored failure keeps: no SQL, no transport
    /// chain (those are logged where they happen).
    pub fn public_message(&self) -> String {
        match self {
            ManageError::Session(s) => s.public_message(),
            ManageError::Write(w) => w.public_message(),
            ManageError::Db(d) => d.public_message(),
            other => other.to_string(),
        }
    }
}

/// A new entity (or entities) a write made. The web layer answers it 201; everything else a
/// management operation returns (read, update, delete, pause) it answers 200.
///
/// Campaigns, line items and promoted tweets travel as the mirror's [`Entity`]: its typed
/// `kind`, `id`, `parent_id`, `dry_run` and `deleted`, and `data`, the API document that
/// [`render`] made from X's object — kept as JSON because it is stored, listed and answered as
/// is (X's objects pass through).
#[derive(Debug)]
pub struct Created<T>(pub T);

/// The promoted tweets one request attached to a line item (one per tweet id, in order).
#[derive(Debug)]
pub struct Attached(pub Vec<Entity>);

impl Attached {
    /// The first one (the API's `id`).
    pub fn first(&self) -> Option<&Entity> {
        self.0.first()
    }
}

/// How a promoted tweet's pause or resume reached X.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausedVia {
    /// A PUT of `entity_status` (and every dry-run change).
    Put,
    /// X refused the PUT: pause was a DELETE, resume a re-POST of the same tweet.
    Delete,
}

impl PausedVia {
    /// The API's `paused_via` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PausedVia::Put => "put",
            PausedVia::Delete => "delete",
        }
    }
}

/// A promoted tweet after a pause or resume, and which way it went.
#[derive(Debug)]
pub struct Paused {
    /// The promoted tweet as mirrored now (a resume by re-POST may carry a new id).
    pub entity: Entity,
    /// How X was told.
    pub via: PausedVia,
}

impl Scope {
    /// True when writes go to X.
    pub fn live(&self) -> bool {
        self.state.config.live_mode
    }

    /// Fails with 404 unless the account is one of the tenant's.
    pub async fn check_account(&self) -> Result<(), ManageError> {
        connections::ad_account(&self.state.db, &self.tenant.id, &self.account_id)
            .await?
            .map(|_| ())
            .ok_or(ManageError::NotFound("ad account"))
    }

    /// The X session of the tenant.
    pub async fn session(&self) -> Result<XSession, ManageError> {
        Ok(XSession::for_tenant(&self.state, &self.tenant.id).await?)
    }

    /// The id of the outbound intent for `step` of this request.
    pub fn intent_id(&self, step: &str) -> String {
        exactly_once::intent_id(&self.tenant.id, self.idem_key.as_deref(), step)
    }

    /// A write of this tenant on this account under `intent_id`, recording `request`.
    pub fn write_request(
        &self,
        intent_id: String,
        request: Value,
    ) -> exactly_once::WriteRequest<'_> {
        exactly_once::WriteRequest {
            tenant_id: &self.tenant.id,
            account_id: &self.account_id,
            intent_id,
            request,
        }
    }

    /// A mirrored entity of this account, or 404.
    pub async fn entity(
        &self,
        kind: Kind,
        id: &str,
        what: &'static str,
    ) -> Result<Entity, ManageError> {
        input::entity_id("id", id).map_err(|_| ManageError::NotFound(what))?;
        entities::get(&self.state.db, &self.tenant.id, &self.account_id, kind, id)
            .await?
            .filter(|e| !e.deleted)
            .ok_or(ManageError::NotFound(what))
    }

    /// Stores the entity in the mirror and appends the audit row.
    pub async fn record(
        &self,
        action: &str,
        entity: &Entity,
        before: Option<&Value>,
        x_request_id: Option<&str>,
    ) -> Result<(), ManageError> {
        let now = self.state.clock.now();
        entities::upsert(&self.state.db, &self.tenant.id, entity, now).await?;
        audit::record(
            &self.state.db,
            &AuditEntry {
                tenant_id: &self.tenant.id,
                account_id: &self.account_id,
                action,
                entity_kind: entity.kind.as_str(),
                entity_id: &entity.id,
                dry_run: entity.dry_run,
                before,
                after: (!entity.deleted).then_some(&entity.data),
                x_request_id,
                at: now,
            },
        )
        .await?;
        tracing::info!(
            tenant.id = %self.tenant.id,
            ad_account.id = %self.account_id,
            action,
            entity.id = %entity.id,
            mode = if entity.dry_run { "dry_run" } else { "live" },
            "write recorded"
        );
        Ok(())
    }
}

/// A fresh dry-run id: `dry_` + 16 hex digits, which X's base-36 ids can never look like.
pub fn dry_id() -> String {
    format!("dry_{:016x}", rand::random::<u64>())
}

/// Sets `paused`, and the keys of `patch` that are present, on a stored API object.
pub fn apply_patch(data: &mut Value, patch: &Value) {
    if let (Value::Object(target), Value::Object(fields)) = (data, patch) {
        for (k, v) in fields {
            if !v.is_null() {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The audit action of an update: pause, resume or plain update of `kind`.
pub fn update_action(kind: Kind, paused: Option<bool>) -> &'static str {
    match (kind, paused) {
        (Kind::Campaign, Some(true)) => "pause_campaign",
        (Kind::Campaign, Some(false)) => "resume_campaign",
        (Kind::Campaign, None) => "update_campaign",
        (Kind::LineItem, Some(true)) => "pause_line_item",
        (Kind::LineItem, Some(false)) => "resume_line_item",
        (Kind::LineItem, None) => "update_line_item",
        (Kind::PromotedTweet, Some(true)) => "pause_promoted_tweet",
        (Kind::PromotedTweet, Some(false)) => "resume_promoted_tweet",
        (Kind::PromotedTweet, None) => "update_promoted_tweet",
    }
}

/// Updates an entity: for dry-run entities (or in dry-run mode) `patch_view` (API names) is applied
/// locally; otherwise `send` PUTs it to X through the exactly-once record and X's answer becomes
/// the mirror entity.
#[allow(clippy::too_many_arguments)]
pub async fn update_entity<T, F, Fut>(
    scope: &Scope,
    current: Entity,
    paused: Option<bool>,
    patch_view: &Value,
    request: &Value,
    send: F,
    to_entity: fn(&Scope, &T) -> Entity,
) -> Result<Entity, ManageError>
where
    F: Fn(xads_client::XAds, String, String, xads_client::CallOptions) -> Fut,
    Fut: std::future::Future<Output = Result<xads_client::XResponse<T>, xads_client::XError>>,
{
    let action = update_action(current.kind, paused);
    if current.dry_run || !scope.live() {
        let mut next = current.clone();
        apply_patch(&mut next.data, patch_view);
        next.data["dry_run"] = Value::Bool(true);
        if current.dry_run {
            scope
                .record(action, &next, Some(&current.data), None)
                .await?;
        }
        return Ok(next);
    }
    let session = scope.session().await?;
    let account = scope.account_id.clone();
    let id = current.id.clone();
    let resp = exactly_once::tracked(
        &scope.state,
        &session,
        scope.write_request(scope.intent_id(&format!("{action}:{id}")), request.clone()),
        update_action(current.kind, None),
        &id,
        |x, opts| send(x, account.clone(), id.clone(), opts),
    )
    .await?;
    let e = to_entity(scope, &resp.data);
    scope
        .record(action, &e, Some(&current.data), resp.request_id.as_deref())
        .await?;
    Ok(e)
}

/// Deletes an entity: locally for dry-run entities (or in dry-run mode), at X otherwise. Returns
/// it as deleted.
pub async fn delete_entity<F, Fut>(
    scope: &Scope,
    current: Entity,
    action: &'static str,
    send: F,
) -> Result<Entity, ManageError>
where
    F: Fn(xads_client::XAds, String, String, xads_client::CallOptions) -> Fut,
    Fut: std::future::Future<Output = Result<(), xads_client::XError>>,
{
    let mut gone = current.clone();
    gone.deleted = true;
    gone.data["deleted"] = Value::Bool(true);
    if current.dry_run || !scope.live() {
        gone.data["dry_run"] = Value::Bool(true);
        if current.dry_run {
            scope
                .record(action, &gone, Some(&current.data), None)
                .await?;
        }
        return Ok(gone);
    }
    let session = scope.session().await?;
    delete_at_x(scope, &session, &current, action, send).await?;
    scope
        .record(action, &gone, Some(&current.data), None)
        .await?;
    Ok(gone)
}

/// Sends a DELETE to X through the exactly-once record. A 404 (already gone, e.g. a retried
/// delete) counts as done.
pub async fn delete_at_x<F, Fut>(
    scope: &Scope,
    session: &XSession,
    current: &Entity,
    action: &str,
    send: F,
) -> Result<(), ManageError>
where
    F: Fn(xads_client::XAds, String, String, xads_client::CallOptions) -> Fut,
    Fut: std::future::Future<Output = Result<(), xads_client::XError>>,
{
    let account = scope.account_id.clone();
    let id = current.id.clone();
    let result = exactly_once::tracked(
        &scope.state,
        session,
        scope.write_request(
            scope.intent_id(&format!("{action}:{id}")),
            serde_json::json!({ "id": id, "kind": current.kind.as_str() }),
        ),
        "delete",
        &id,
        |x, opts| {
            let fut = send(x, account.clone(), id.clone(), opts);
            async move {
                fut.await?;
                Ok(xads_client::XResponse {
                    data: (),
                    next_cursor: None,
                    total_count: None,
                    request_params: Value::Null,
                    rate_limit: Default::default(),
                    request_id: None,
                })
            }
        },
    )
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(WriteError::Session(XSessionError::X(e))) if e.status() == Some(404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
