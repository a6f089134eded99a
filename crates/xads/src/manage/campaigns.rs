//! Campaigns: list, read, create, update (name, budgets, `paused`), delete.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use xads_client::models::{Campaign, CampaignCreate, CampaignUpdate, EntityStatus};
use xads_client::{CallOptions, ListParams, XAds, XError, XResponse};

use super::exactly_once::{self, CreateAtX};
use super::input::{self, CampaignInput, CampaignPatch};
use super::{Created, ManageError, Scope, dry_id, render};
use crate::store::entities::{Entity, Kind};

const KIND: Kind = Kind::Campaign;

pub(crate) fn entity(scope: &Scope, c: &Campaign, dry_run: bool) -> Entity {
    Entity {
        kind: KIND,
        account_id: scope.account_id.clone(),
        id: c.id.clone(),
        parent_id: None,
        dry_run,
        deleted: c.deleted,
        data: render::campaign(&scope.account_id, c, dry_run),
    }
}

/// X's create parameters for validated input.
fn to_create(input: &CampaignInput) -> CampaignCreate {
    CampaignCreate {
        funding_instrument_id: input.funding_instrument_id.clone(),
        name: input.name.clone(),
        daily_budget_amount_local_micro: input.daily_budget_amount_local_micro,
        total_budget_amount_local_micro: input.total_budget_amount_local_micro,
        entity_status: Some(EntityStatus::from_paused(input.paused)),
        purchase_order_number: input.purchase_order_number.clone(),
        budget_optimization: None,
    }
}

/// Campaigns at X that match `req` and were created at or after `since`, newest first: what a
/// create whose answer was lost may have made.
pub async fn find(
    x: &xads_client::XAds,
    account: &str,
    req: &CampaignCreate,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Campaign>, xads_client::XError> {
    let page = x
        .list_campaigns(
            account,
            &ListParams::new()
                .sort_by("created_at-desc")
                .count(200)
                .with_draft(true),
        )
        .await?;
    Ok(page
        .data
        .into_iter()
        .filter(|c| {
            c.name.as_deref() == Some(req.name.as_str())
                && c.funding_instrument_id.as_deref() == Some(req.funding_instrument_id.as_str())
                && c.daily_budget_amount_local_micro == req.daily_budget_amount_local_micro
                && c.total_budget_amount_local_micro == req.total_budget_amount_local_micro
                && c.created_at.is_none_or(|t| t >= since)
        })
        .collect())
}

/// A campaign to create at X (the exactly-once protocol's view of it).
pub(crate) struct CampaignCreation {
    account: String,
    req: CampaignCreate,
}

impl CreateAtX for CampaignCreation {
    type Entity = Campaign;
    type Request = CampaignCreate;
    const OPERATION: &'static str = "create_campaign";

    fn new(account: String, req: CampaignCreate) -> Self {
        CampaignCreation { account, req }
    }

    fn request(&self) -> &CampaignCreate {
        &self.req
    }

    /// Also an intent recorded before X's parameters were (the dashboard's body).
    fn from_intent(intent: &crate::store::x_writes::Intent) -> Option<Self> {
        let request = match intent.request.get("x") {
            Some(x) => serde_json::from_value(x.clone()).ok()?,
            None => to_create(
                &input::parse::<CampaignInput>(&intent.request)
                    .and_then(CampaignInput::validate)
                    .ok()?,
            ),
        };
        Some(CampaignCreation {
            account: intent.account_id.clone(),
            req: request,
        })
    }

    async fn send(&self, x: XAds, opts: CallOptions) -> Result<XResponse<Campaign>, XError> {
        x.create_campaign(&self.account, &self.req, &opts).await
    }

    async fn find(&self, x: XAds, since: DateTime<Utc>) -> Result<Vec<Campaign>, XError> {
        find(&x, &self.account, &self.req, since).await
    }

    async fn fetch(&self, x: XAds, id: String) -> Result<Campaign, XError> {
        Ok(x.get_campaign(&self.account, &id, false).await?.data)
    }

    fn id(c: &Campaign) -> &str {
        c.id.as_str()
    }
}

/// `POST …/campaigns`.
pub async fn create(scope: &Scope, body: &Value) -> Result<Created<Entity>, ManageError> {
    let input = input::parse::<CampaignInput>(body)?.validate()?;
    scope.check_account().await?;
    if !scope.live() {
        let now = scope.state.clock.now();
        let account = crate::store::connections::ad_account(
            &scope.state.db,
            &scope.tenant.id,
            &scope.account_id,
        )
        .await?;
        let c: Campaign = serde_json::from_value(json!({
            "id": dry_id(),
            "name": input.name,
            "funding_instrument_id": input.funding_instrument_id,
            "daily_budget_amount_local_micro": input.daily_budget_amount_local_micro,
            "total_budget_amount_local_micro": input.total_budget_amount_local_micro,
            "purchase_order_number": input.purchase_order_number,
            "entity_status": EntityStatus::from_paused(input.paused).as_str(),
            "currency": account.and_then(|a| a.currency),
            "created_at": now, "updated_at": now, "deleted": false,
        }))
        .expect("a dry-run campaign is a valid wire object");
        let e = entity(scope, &c, true);
        scope.record("create_campaign", &e, None, None).await?;
        return Ok(Created(e));
    }
    let session = scope.session().await?;
    let created = exactly_once::create(
        &scope.state,
        &session,
        scope.write_request(scope.intent_id("create_campaign"), body.clone()),
        &CampaignCreation {
            account: scope.account_id.clone(),
            req: to_create(&input),
        },
    )
    .await?;
    let e = entity(scope, &created.entity, false);
    let request_id = created.request_id;
    scope
        .record("create_campaign", &e, None, request_id.as_deref())
        .await?;
    Ok(Created(e))
}

/// `GET …/campaigns/{id}`.
pub async fn get(scope: &Scope, id: &str) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let e = scope.entity(KIND, id, "campaign").await?;
    Ok(e)
}

/// `PATCH …/campaigns/{id}`: name, budgets, `paused`.
pub async fn update(scope: &Scope, id: &str, body: &Value) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "campaign").await?;
    let patch = input::parse::<CampaignPatch>(body)?.validate(&current.data)?;
    let update = CampaignUpdate {
        name: patch.name.clone(),
        daily_budget_amount_local_micro: patch.daily_budget_amount_local_micro.map(Some),
        total_budget_amount_local_micro: patch.total_budget_amount_local_micro.map(Some),
        entity_status: patch.paused.map(EntityStatus::from_paused),
        purchase_order_number: patch.purchase_order_number.clone().map(Some),
        ..CampaignUpdate::default()
    };
    super::update_entity(
        scope,
        current,
        patch.paused,
        &json!({
            "name": patch.name,
            "daily_budget_amount_local_micro": patch.daily_budget_amount_local_micro,
            "total_budget_amount_local_micro": patch.total_budget_amount_local_micro,
            "purchase_order_number": patch.purchase_order_number,
            "paused": patch.paused,
        }),
        body,
        |x, account, id, opts| {
            let update = update.clone();
            async move { x.update_campaign(&account, &id, &update, &opts).await }
        },
        |scope, c| entity(scope, c, false),
    )
    .await
}

/// `DELETE …/campaigns/{id}` (irreversible at X).
pub async fn delete(scope: &Scope, id: &str) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "campaign").await?;
    super::delete_entity(scope, current, "delete_campaign", |x, account, id, opts| async move {
        x.delete_campaign(&account, &id, &opts).await.map(|_| ())
    })
    .await
}
