//! Line items (X's ad sets): list, read, create under a campaign, update, `paused`, delete.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
use xads_client::ids::Micros;
use xads_client::models::{EntityStatus, LineItem, LineItemCreate, LineItemUpdate};
use xads_client::{CallOptions, ListParams, XAds, XError, XResponse};

use super::exactly_once;
use super::input::{self, Invalid, LineItemChange, LineItemInput, LineItemPatch, NewLineItem};
use super::{Created, ManageError, Scope, dry_id, render};
use crate::store::entities::{Entity, Kind};

const KIND: Kind = Kind::LineItem;

/// The mirror entity of a line item.
pub(crate) fn entity(scope: &Scope, l: &LineItem, dry_run: bool) -> Entity {
    Entity {
        kind: KIND,
        account_id: scope.account_id.clone(),
        id: l.id.clone(),
        parent_id: l.campaign_id.clone(),
        dry_run,
        deleted: l.deleted,
        data: render::line_item(&scope.account_id, l, dry_run),
    }
}

/// `POST …/line_items`.
pub async fn create(scope: &Scope, body: &Value) -> Result<Created<Entity>, ManageError> {
    let input = input::parse::<LineItemInput>(body)?.validate()?;
    scope.check_account().await?;
    create_validated(scope, &input, body, "create_line_item").await
}

/// Creates an already validated line item (experiments create several, one step each).
pub async fn create_validated(
    scope: &Scope,
    input: &NewLineItem,
    request: &Value,
    step: &str,
) -> Result<Created<Entity>, ManageError> {
    let campaign = scope
        .entity(Kind::Campaign, &input.campaign_id, "campaign")
        .await
        .map_err(|_| Invalid {
            field: "campaign_id".into(),
            message: format!(
                "campaign {} not found in this ad account",
                input.campaign_id
            ),
        })?;
    if !scope.live() || campaign.dry_run {
        if scope.live() {
            return Err(Invalid {
                field: "campaign_id".into(),
                message: "is a dry-run campaign, which X has never seen; create the campaign in live mode first".into(),
            }
            .into());
        }
        let now = scope.state.clock.now();
        let l: LineItem = serde_json::from_value(json!({
            "id": dry_id(),
            "campaign_id": input.campaign_id,
            "name": input.name,
            "objective": input.objective,
            "product_type": input.product_type,
            "placements": input.placements,
            "bid_strategy": input.bid_strategy,
            "bid_amount_local_micro": input.bid_amount_local_micro,
            "goal": input.goal,
            "pay_by": input.pay_by,
            "start_time": input.start_time,
            "end_time": input.end_time,
            "daily_budget_amount_local_micro": input.daily_budget_amount_local_micro,
            "total_budget_amount_local_micro": input.total_budget_amount_local_micro,
            "entity_status": EntityStatus::from_paused(input.paused).as_str(),
            "currency": campaign.data["currency"],
            "created_at": now, "updated_at": now, "deleted": false,
        }))
        .expect("a dry-run line item is a valid wire object");
        let e = entity(scope, &l, true);
        scope.record("create_line_item", &e, None, None).await?;
        return Ok(Created(e));
    }
    let session = scope.session().await?;
    let req = LineItemCreate {
        name: input.name.clone(),
        bid_strategy: input.bid_strategy,
        bid_amount_local_micro: input.bid_amount_local_micro.map(Micros::get),
        goal: input.goal,
        pay_by: input.pay_by,
        // X documents `start_time` as required on POST line_items: without one from the
        // dashboard, the line item starts now.
        start_time: input
            .start_time
            .or_else(|| Some(scope.state.clock.now().trunc_subsecs(0))),
        end_time: input.end_time,
        daily_budget_amount_local_micro: input.daily_budget_amount_local_micro.map(Micros::get),
        total_budget_amount_local_micro: input.total_budget_amount_local_micro.map(Micros::get),
        entity_status: Some(EntityStatus::from_paused(input.paused)),
        ..LineItemCreate::new(
            input.campaign_id.clone(),
            input.objective,
            input.product_type,
            input.placements.clone(),
        )
    };
    let created = exactly_once::create(
        &scope.state,
        &session,
        scope.write_request(scope.intent_id(step), request.clone()),
        &LineItemCreation {
            account: scope.account_id.clone(),
            req,
        },
    )
    .await?;
    let e = entity(scope, &created.entity, false);
    let request_id = created.request_id;
    scope
        .record("create_line_item", &e, None, request_id.as_deref())
        .await?;
    Ok(Created(e))
}

/// A line item to create at X (the exactly-once protocol's view of it).
pub(crate) struct LineItemCreation {
    account: String,
    req: LineItemCreate,
}

impl exactly_once::CreateAtX for LineItemCreation {
    type Entity = LineItem;
    type Request = LineItemCreate;
    const OPERATION: &'static str = "create_line_item";

    fn new(account: String, req: LineItemCreate) -> Self {
        LineItemCreation { account, req }
    }

    fn request(&self) -> &LineItemCreate {
        &self.req
    }

    async fn send(&self, x: XAds, opts: CallOptions) -> Result<XResponse<LineItem>, XError> {
        x.create_line_item(&self.account, &self.req, &opts).await
    }

    /// The campaign's line items with this name, objective, product type, placements and bid,
    /// created at or after `since`, newest first.
    async fn find(&self, x: XAds, since: DateTime<Utc>) -> Result<Vec<LineItem>, XError> {
        let req = &self.req;
        let page = x
            .list_line_items(
                &self.account,
                &ListParams::new()
                    .ids("campaign_ids", [req.campaign_id.clone()])
                    .sort_by("created_at-desc")
                    .count(200)
                    .with_draft(true),
            )
            .await?;
        Ok(page
            .data
            .into_iter()
            .filter(|l| {
                l.name == req.name
                    && l.objective.as_deref() == Some(req.objective.as_str())
                    && l.product_type.as_deref() == Some(req.product_type.as_str())
                    && l.placements
                        .iter()
                        .map(String::as_str)
                        .eq(req.placements.iter().map(|p| p.as_str()))
                    && l.bid_amount_local_micro == req.bid_amount_local_micro
                    && l.created_at.is_none_or(|t| t >= since)
            })
            .collect())
    }

    async fn fetch(&self, x: XAds, id: String) -> Result<LineItem, XError> {
        Ok(x.get_line_item(&self.account, &id, false).await?.data)
    }

    fn id(l: &LineItem) -> &str {
        l.id.as_str()
    }
}

/// `GET …/line_items/{id}`.
pub async fn get(scope: &Scope, id: &str) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    scope.entity(KIND, id, "line item").await
}

/// `PATCH …/line_items/{id}`.
pub async fn update(scope: &Scope, id: &str, body: &Value) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "line item").await?;
    let patch = input::parse::<LineItemPatch>(body)?.validate(&current.data)?;
    update_validated(scope, current, &patch, body).await
}

/// Applies a validated patch (the experiment runner pauses and resumes through this).
pub async fn update_validated(
    scope: &Scope,
    current: Entity,
    patch: &LineItemChange,
    request: &Value,
) -> Result<Entity, ManageError> {
    let update = LineItemUpdate {
        name: patch.name.clone(),
        placements: patch.placements.clone(),
        bid_amount_local_micro: patch.bid_amount_local_micro.map(|m| Some(m.get())),
        end_time: patch.end_time.map(Some),
        daily_budget_amount_local_micro: patch
            .daily_budget_amount_local_micro
            .map(|m| Some(m.get())),
        total_budget_amount_local_micro: patch
            .total_budget_amount_local_micro
            .map(|m| Some(m.get())),
        entity_status: patch.paused.map(EntityStatus::from_paused),
        ..LineItemUpdate::default()
    };
    super::update_entity(
        scope,
        current,
        patch.paused,
        &json!({
            "name": patch.name,
            "bid_amount_local_micro": patch.bid_amount_local_micro,
            "daily_budget_amount_local_micro": patch.daily_budget_amount_local_micro,
            "total_budget_amount_local_micro": patch.total_budget_amount_local_micro,
            "placements": patch.placements,
            "end_time": patch.end_time,
            "paused": patch.paused,
        }),
        request,
        |x, account, id, opts| {
            let update = update.clone();
            async move { x.update_line_item(&account, &id, &update, &opts).await }
        },
        |scope, l| entity(scope, l, false),
    )
    .await
}

/// `DELETE …/line_items/{id}`.
pub async fn delete(scope: &Scope, id: &str) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "line item").await?;
    super::delete_entity(scope, current, "delete_line_item", |x, account, id, opts| async move {
        x.delete_line_item(&account, &id, &opts).await.map(|_| ())
    })
    .await
}
