//! Campaigns: list, get, create, partial update, delete.

use axum::extract::Path;
use axum::response::Response;
use serde_json::Value;

use super::{
    Ctx, ListSpec, account, check_budgets, entity_status, find, find_live_idx, ids_filter, micros,
    one_of, page_by, text,
};
use crate::envelope::{ApiError, Params, collection, single};
use crate::model::{Campaign, Record, ServingLog};
use crate::state::State;

const LIST: ListSpec = ListSpec {
    default_count: 200,
    max_count: 1000,
    drafts: true,
};

/// X's JSON for `c`, its servability judged from its live line items.
pub fn render(s: &State, c: &Campaign) -> Value {
    let incomplete = !s
        .line_items
        .iter()
        .any(|l| l.campaign_id == c.id && l.account_id == c.account_id && !l.deleted);
    c.to_json_with(incomplete)
}

/// `GET /12/accounts/:account_id/campaigns`.
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let ids = ids_filter(&ctx.p, "campaign_ids")?;
        let fis = ids_filter(&ctx.p, "funding_instrument_ids")?;
        let items: Vec<&Campaign> = s
            .campaigns
            .iter()
            .filter(|c| c.account_id == account_id)
            .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .filter(|c| {
                fis.as_ref()
                    .is_none_or(|f| f.contains(&c.funding_instrument_id))
            })
            .collect();
        let pg = page_by(items, &ctx.p, &LIST, |c| render(s, c))?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/campaigns/:campaign_id`.
pub async fn get(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("campaign_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let c = find(&s.campaigns, &account_id, &id, ctx.p.flag("with_deleted")?)?;
        Ok(single(echo, render(s, c)))
    })
}

/// `POST /12/accounts/:account_id/campaigns`.
pub async fn create(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        Ok(single(echo, create_one(s, &account_id, &ctx.p)?))
    })
}

/// `PUT /12/accounts/:account_id/campaigns/:campaign_id` (partial; empty value unsets).
pub async fn update(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("campaign_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        Ok(single(echo, update_one(s, &account_id, &id, &ctx.p)?))
    })
}

/// `DELETE /12/accounts/:account_id/campaigns/:campaign_id`.
pub async fn delete(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("campaign_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        Ok(single(echo, delete_one(s, &account_id, &id)?))
    })
}

/// Creates one campaign (single and batch routes).
fn create_one(s: &mut State, account_id: &str, p: &Params) -> Result<Value, ApiError> {
    let fi_id = p.require("funding_instrument_id")?.to_string();
    let name = p.require("name")?;
    let name = text(p, "name", 255)?.unwrap_or_else(|| name.to_string());
    one_of(p, "budget_optimization", &["LINE_ITEM"])?;
    let status = entity_status(p, true)?.unwrap_or_else(|| "ACTIVE".into());
    let daily = micros(p, "daily_budget_amount_local_micro")?.flatten();
    let total = micros(p, "total_budget_amount_local_micro")?.flatten();
    check_budgets(daily, total)?;
    let po = text(p, "purchase_order_number", 50)?.filter(|v| !v.is_empty());
    let standard_delivery = p
        .has("standard_delivery")
        .then(|| p.flag("standard_delivery"))
        .transpose()?;
    let fi = s
        .funding
        .iter()
        .find(|f| f.account_id == account_id && f.id == fi_id && !f.deleted)
        .ok_or_else(|| {
            ApiError::invalid(
                "funding_instrument_id",
                format!("Funding instrument {fi_id} not found for account {account_id}"),
            )
        })?;
    let now = s.clock.now();
    let c = Campaign {
        id: s.ids.entity(),
        account_id: account_id.to_string(),
        name,
        funding_instrument_id: fi_id.clone(),
        currency: fi.currency.clone(),
        daily_budget_amount_local_micro: daily,
        total_budget_amount_local_micro: total,
        serving: ServingLog::starting(now, status == "ACTIVE"),
        entity_status: status,
        purchase_order_number: po,
        standard_delivery,
        created_at: now,
        updated_at: now,
        deleted: false,
    };
    s.campaigns.push(c);
    Ok(render(s, &s.campaigns[s.campaigns.len() - 1]))
}

/// Updates one campaign (single and batch routes).
fn update_one(s: &mut State, account_id: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let idx = find_live_idx(&s.campaigns, account_id, id)?;
    let name = text(p, "name", 255)?;
    if name.as_deref() == Some("") {
        return Err(ApiError::invalid("name", "Expected a non-empty name"));
    }
    let status = entity_status(p, false)?;
    let daily = micros(p, "daily_budget_amount_local_micro")?;
    let total = micros(p, "total_budget_amount_local_micro")?;
    let po = text(p, "purchase_order_number", 50)?;
    let standard_delivery = p
        .has("standard_delivery")
        .then(|| p.flag("standard_delivery"))
        .transpose()?;
    let fi_id = p.get("funding_instrument_id").map(String::from);
    if let Some(fi) = &fi_id
        && !s
            .funding
            .iter()
            .any(|f| f.account_id == account_id && &f.id == fi && !f.deleted)
    {
        return Err(ApiError::invalid(
            "funding_instrument_id",
            format!("Funding instrument {fi} not found for account {account_id}"),
        ));
    }
    let now = s.clock.now();
    let c = &mut s.campaigns[idx];
    let new_daily = daily.unwrap_or(c.daily_budget_amount_local_micro);
    let new_total = total.unwrap_or(c.total_budget_amount_local_micro);
    check_budgets(new_daily, new_total)?;
    c.daily_budget_amount_local_micro = new_daily;
    c.total_budget_amount_local_micro = new_total;
    if let Some(n) = name {
        c.name = n;
    }
    if let Some(st) = status {
        c.serving.record(now, st == "ACTIVE");
        c.entity_status = st;
    }
    if let Some(po) = po {
        c.purchase_order_number = (!po.is_empty()).then_some(po);
    }
    if let Some(sd) = standard_delivery {
        c.standard_delivery = Some(sd);
    }
    if let Some(fi) = fi_id {
        c.funding_instrument_id = fi;
    }
    c.updated_at = now;
    Ok(render(s, &s.campaigns[idx]))
}

/// Deletes one campaign (single and batch routes).
fn delete_one(s: &mut State, account_id: &str, id: &str) -> Result<Value, ApiError> {
    let idx = find_live_idx(&s.campaigns, account_id, id)?;
    let now = s.clock.now();
    let c = &mut s.campaigns[idx];
    c.mark_deleted(now);
    Ok(render(s, &s.campaigns[idx]))
}

/// `POST /12/batch/accounts/:account_id/campaigns` (≤ 40 Create/Update/Delete, atomic).
pub async fn batch(ctx: Ctx, Path(account_id): Path<String>, body: bytes::Bytes) -> Response {
    let echo = serde_json::json!({ "account_id": account_id });
    ctx.run(echo, |s| {
        account(s, &ctx.who, &account_id)?;
        let ops = super::batch::parse(&body, 40, &["Create", "Update", "Delete"])?;
        Ok(super::batch::run(
            s,
            &account_id,
            None,
            &ops,
            |s, op| match op.kind.as_str() {
                "Create" => create_one(s, &account_id, &op.params),
                kind => {
                    let id = op.params.require("campaign_id")?.to_string();
                    if kind == "Update" {
                        update_one(s, &account_id, &id, &op.params)
                    } else {
                        delete_one(s, &account_id, &id)
                    }
                }
            },
        ))
    })
}
