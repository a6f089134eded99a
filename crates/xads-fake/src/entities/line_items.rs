//! Line items: list, get, create, partial update, delete (no cascade to promoted tweets).

use axum::extract::Path;
use axum::response::Response;

use super::{
    Ctx, ListSpec, account, check_budgets, entity_status, find, find_live_idx, ids_filter, micros,
    one_of, page, text,
};
use crate::envelope::{ApiError, Params, collection, single};
use crate::model::{LineItem, Record, ServingLog};
use crate::state::State;
use crate::time::{parse_time, tz_of};

const LIST: ListSpec = ListSpec {
    default_count: 200,
    max_count: 1000,
    drafts: true,
};

/// Line-item objectives accepted in v12.
pub const OBJECTIVES: &[&str] = &[
    "APP_ENGAGEMENTS",
    "APP_INSTALLS",
    "REACH",
    "FOLLOWERS",
    "ENGAGEMENTS",
    "VIDEO_VIEWS",
    "PREROLL_VIEWS",
    "WEBSITE_CLICKS",
    "WEBSITE_CONVERSIONS",
];
/// Product types.
pub const PRODUCT_TYPES: &[&str] = &["MEDIA", "PROMOTED_ACCOUNT", "PROMOTED_TWEETS"];
/// Line-item placements.
pub const PLACEMENTS: &[&str] = &[
    "ALL_ON_TWITTER",
    "PUBLISHER_NETWORK",
    "TAP_BANNER",
    "TAP_FULL",
    "TAP_FULL_LANDSCAPE",
    "TAP_NATIVE",
    "TAP_MRECT",
    "TWITTER_PROFILE",
    "TWITTER_REPLIES",
    "TWITTER_SEARCH",
    "TWITTER_TIMELINE",
];
/// Bid strategies.
pub const BID_STRATEGIES: &[&str] = &["AUTO", "MAX", "TARGET"];
/// Billing events.
pub const PAY_BY: &[&str] = &["APP_CLICK", "IMPRESSION", "LINK_CLICK", "ENGAGEMENT"];
/// Optimisation goals.
pub const GOALS: &[&str] = &[
    "APP_CLICKS",
    "APP_INSTALLS",
    "APP_PURCHASES",
    "ENGAGEMENT",
    "FOLLOWERS",
    "LINK_CLICKS",
    "MAX_REACH",
    "PREROLL",
    "PREROLL_STARTS",
    "REACH_WITH_ENGAGEMENT",
    "SITE_VISITS",
    "VIDEO_VIEW",
    "VIEW_3S_100PCT",
    "VIEW_6S",
    "VIEW_15S",
    "WEBSITE_CONVERSIONS",
];

fn placements(p: &Params) -> Result<Option<Vec<String>>, ApiError> {
    if !p.has("placements") {
        return Ok(None);
    }
    let list = p.list("placements");
    if list.is_empty() {
        return Err(ApiError::invalid(
            "placements",
            "Expected at least one placement",
        ));
    }
    if let Some(bad) = list.iter().find(|v| !PLACEMENTS.contains(&v.as_str())) {
        return Err(ApiError::invalid(
            "placements",
            format!(
                "Expected one of [{}], got \"{bad}\" for placements",
                PLACEMENTS.join(", ")
            ),
        ));
    }
    Ok(Some(list))
}

/// A time param: `Some(None)` when sent empty (unset on PUT).
fn time_param(
    p: &Params,
    name: &str,
    tz: chrono_tz::Tz,
) -> Result<Option<Option<chrono::DateTime<chrono::Utc>>>, ApiError> {
    match p.raw(name) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) => parse_time(v, tz).map(|t| Some(Some(t))).ok_or_else(|| {
            ApiError::invalid(name, format!("Expected time, got \"{v}\" for {name}"))
        }),
    }
}

/// `GET /12/accounts/:account_id/line_items`.
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let ids = ids_filter(&ctx.p, "line_item_ids")?;
        let campaigns = ids_filter(&ctx.p, "campaign_ids")?;
        let fis = ids_filter(&ctx.p, "funding_instrument_ids")?;
        let items: Vec<&LineItem> = s
            .line_items
            .iter()
            .filter(|l| l.account_id == account_id)
            .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.id)))
            .filter(|l| {
                campaigns
                    .as_ref()
                    .is_none_or(|c| c.contains(&l.campaign_id))
            })
            .filter(|l| {
                fis.as_ref()
                    .is_none_or(|f| f.contains(&l.funding_instrument_id))
            })
            .collect();
        let pg = page(items, &ctx.p, &LIST)?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/line_items/:line_item_id`.
pub async fn get(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("line_item_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let l = find(&s.line_items, &account_id, &id, ctx.p.flag("with_deleted")?)?;
        Ok(single(echo, l.to_json()))
    })
}

/// `POST /12/accounts/:account_id/line_items`.
pub async fn create(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let i = create_one(s, &account_id, &ctx.p, false)?;
        Ok(single(echo, s.line_items[i].to_write_json()))
    })
}

/// `PUT /12/accounts/:account_id/line_items/:line_item_id` (partial; empty value unsets).
pub async fn update(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("line_item_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let i = update_one(s, &account_id, &id, &ctx.p)?;
        Ok(single(echo, s.line_items[i].to_write_json()))
    })
}

/// `DELETE /12/accounts/:account_id/line_items/:line_item_id`.
pub async fn delete(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("line_item_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let i = delete_one(s, &account_id, &id)?;
        Ok(single(echo, s.line_items[i].to_write_json()))
    })
}

/// The goal X sets when none is sent ("default based on objective").
fn default_goal(objective: &str) -> &'static str {
    match objective {
        "APP_ENGAGEMENTS" => "APP_CLICKS",
        "APP_INSTALLS" => "APP_INSTALLS",
        "REACH" => "MAX_REACH",
        "FOLLOWERS" => "FOLLOWERS",
        "ENGAGEMENTS" => "ENGAGEMENT",
        "VIDEO_VIEWS" => "VIDEO_VIEW",
        "PREROLL_VIEWS" => "PREROLL",
        "WEBSITE_CONVERSIONS" => "WEBSITE_CONVERSIONS",
        _ => "LINK_CLICKS",
    }
}

/// The `pay_by` X sets when none is sent: `ENGAGEMENT` for the engagement goal (docs-x
/// line_items_post), `APP_CLICK` for app clicks, `LINK_CLICK` for link clicks bid with `TARGET`,
/// otherwise `IMPRESSION` (the documented default of APP_INSTALLS, LINK_CLICKS and SITE_VISITS).
fn default_pay_by(goal: &str, bid_strategy: &str) -> &'static str {
    match (goal, bid_strategy) {
        ("ENGAGEMENT", _) => "ENGAGEMENT",
        ("APP_CLICKS", _) => "APP_CLICK",
        ("LINK_CLICKS", "TARGET") => "LINK_CLICK",
        _ => "IMPRESSION",
    }
}

/// Creates one line item (single and batch routes); answers its index. X documents `start_time`
/// as required; its own batch example creates without one (and answers `start_time: null`), so
/// only the single route requires it.
fn create_one(s: &mut State, account_id: &str, p: &Params, batch: bool) -> Result<usize, ApiError> {
    let (tz, owner) = account_zone_owner(s, account_id)?;
    let campaign_id = p.require("campaign_id")?.to_string();
    p.require("objective")?;
    p.require("product_type")?;
    p.require("placements")?;
    let objective = one_of(p, "objective", OBJECTIVES)?.unwrap_or_default();
    let product_type = one_of(p, "product_type", PRODUCT_TYPES)?.unwrap_or_default();
    let placements = placements(p)?.unwrap_or_default();
    let status = entity_status(p, true)?.unwrap_or_else(|| "ACTIVE".into());
    let name = text(p, "name", 255)?.filter(|n| !n.is_empty());
    let bid = micros(p, "bid_amount_local_micro")?.flatten();
    // A bid without a strategy is a maximum bid (docs-x line_items_post answers MAX).
    let bid_strategy = one_of(p, "bid_strategy", BID_STRATEGIES)?
        .unwrap_or_else(|| if bid.is_some() { "MAX" } else { "AUTO" }.into());
    if bid_strategy != "AUTO" && bid.is_none() {
        return Err(ApiError::missing("bid_amount_local_micro"));
    }
    let goal = one_of(p, "goal", GOALS)?.unwrap_or_else(|| default_goal(&objective).into());
    let pay_by =
        one_of(p, "pay_by", PAY_BY)?.unwrap_or_else(|| default_pay_by(&goal, &bid_strategy).into());
    let daily = micros(p, "daily_budget_amount_local_micro")?.flatten();
    let total = micros(p, "total_budget_amount_local_micro")?.flatten();
    check_budgets(daily, total)?;
    // Standard delivery paces a daily budget: on by default when there is one (docs-x
    // line_items_post answers true with a daily budget; the examples without one answer null).
    let standard_delivery = match p.has("standard_delivery") {
        true => Some(p.flag("standard_delivery")?),
        false => daily.map(|_| true),
    };
    if !batch {
        p.require("start_time")?;
    }
    let start = time_param(p, "start_time", tz)?.flatten();
    let end = time_param(p, "end_time", tz)?.flatten();
    if let (Some(a), Some(b)) = (start, end)
        && b <= a
    {
        return Err(ApiError::invalid(
            "end_time",
            "end_time must be after start_time",
        ));
    }
    let campaign = s
        .campaigns
        .iter()
        .find(|c| c.account_id == account_id && c.id == campaign_id && !c.deleted)
        .ok_or_else(|| {
            ApiError::invalid(
                "campaign_id",
                format!("Campaign {campaign_id} not found for account {account_id}"),
            )
        })?;
    let siblings: Vec<&LineItem> = s
        .line_items
        .iter()
        .filter(|l| l.campaign_id == campaign_id && !l.deleted)
        .collect();
    if siblings.len() >= 100 {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "TOO_MANY_LINE_ITEMS",
            "A campaign can have at most 100 line items",
            None,
        ));
    }
    // X: all line items of a campaign share objective and product type.
    if let Some(l) = siblings.first() {
        if l.objective != objective {
            return Err(ApiError::invalid(
                "objective",
                "All line items in a campaign must share the objective",
            ));
        }
        if l.product_type != product_type {
            return Err(ApiError::invalid(
                "product_type",
                "All line items in a campaign must share the product_type",
            ));
        }
    }
    let (fi_id, currency) = (
        campaign.funding_instrument_id.clone(),
        campaign.currency.clone(),
    );
    let now = s.clock.now();
    let l = LineItem {
        id: s.ids.entity(),
        account_id: account_id.to_string(),
        campaign_id,
        funding_instrument_id: fi_id,
        currency,
        name,
        objective,
        product_type,
        placements,
        bid_strategy,
        bid_amount_local_micro: bid,
        goal: Some(goal),
        pay_by: Some(pay_by),
        start_time: start,
        end_time: end,
        daily_budget_amount_local_micro: daily,
        total_budget_amount_local_micro: total,
        standard_delivery,
        serving: ServingLog::starting(now, status == "ACTIVE"),
        entity_status: status,
        advertiser_user_id: owner,
        created_at: now,
        updated_at: now,
        deleted: false,
    };
    s.line_items.push(l);
    Ok(s.line_items.len() - 1)
}

/// Updates one line item (single and batch routes); answers its index.
fn update_one(s: &mut State, account_id: &str, id: &str, p: &Params) -> Result<usize, ApiError> {
    let (tz, _) = account_zone_owner(s, account_id)?;
    let idx = find_live_idx(&s.line_items, account_id, id)?;
    let status = entity_status(p, false)?;
    let name = text(p, "name", 255)?;
    let placements = placements(p)?;
    let bid_strategy = one_of(p, "bid_strategy", BID_STRATEGIES)?;
    let bid = micros(p, "bid_amount_local_micro")?;
    let pay_by = one_of(p, "pay_by", PAY_BY)?;
    let goal = one_of(p, "goal", GOALS)?;
    let daily = micros(p, "daily_budget_amount_local_micro")?;
    let total = micros(p, "total_budget_amount_local_micro")?;
    let start = time_param(p, "start_time", tz)?;
    let end = time_param(p, "end_time", tz)?;
    let standard_delivery = p
        .has("standard_delivery")
        .then(|| p.flag("standard_delivery"))
        .transpose()?;
    // Objective, product type and parent campaign are fixed once created.
    let current = &s.line_items[idx];
    for (fixed, value) in [
        ("objective", &current.objective),
        ("product_type", &current.product_type),
        ("campaign_id", &current.campaign_id),
    ] {
        if p.has(fixed) && p.get(fixed) != Some(value.as_str()) {
            return Err(ApiError::invalid(
                fixed,
                format!("{fixed} cannot be changed"),
            ));
        }
    }
    let now = s.clock.now();
    let l = &mut s.line_items[idx];
    let new_daily = daily.unwrap_or(l.daily_budget_amount_local_micro);
    let new_total = total.unwrap_or(l.total_budget_amount_local_micro);
    check_budgets(new_daily, new_total)?;
    let new_strategy = bid_strategy.unwrap_or_else(|| l.bid_strategy.clone());
    let new_bid = bid.unwrap_or(l.bid_amount_local_micro);
    if new_strategy != "AUTO" && new_bid.is_none() {
        return Err(ApiError::missing("bid_amount_local_micro"));
    }
    let new_start = start.unwrap_or(l.start_time);
    let new_end = end.unwrap_or(l.end_time);
    if let (Some(a), Some(b)) = (new_start, new_end)
        && b <= a
    {
        return Err(ApiError::invalid(
            "end_time",
            "end_time must be after start_time",
        ));
    }
    l.daily_budget_amount_local_micro = new_daily;
    l.total_budget_amount_local_micro = new_total;
    l.bid_strategy = new_strategy;
    l.bid_amount_local_micro = new_bid;
    l.start_time = new_start;
    l.end_time = new_end;
    if let Some(n) = name {
        l.name = (!n.is_empty()).then_some(n);
    }
    if let Some(pl) = placements {
        l.placements = pl;
    }
    if pay_by.is_some() {
        l.pay_by = pay_by;
    }
    if goal.is_some() {
        l.goal = goal;
    }
    if let Some(sd) = standard_delivery {
        l.standard_delivery = Some(sd);
    }
    if let Some(st) = status {
        l.serving.record(now, st == "ACTIVE");
        l.entity_status = st;
    }
    l.updated_at = now;
    Ok(idx)
}

/// Deletes one line item (single and batch routes); answers its index.
fn delete_one(s: &mut State, account_id: &str, id: &str) -> Result<usize, ApiError> {
    let idx = find_live_idx(&s.line_items, account_id, id)?;
    let now = s.clock.now();
    s.line_items[idx].mark_deleted(now);
    Ok(idx)
}

fn account_zone_owner(s: &State, account_id: &str) -> Result<(chrono_tz::Tz, String), ApiError> {
    s.accounts
        .iter()
        .find(|a| a.id == account_id)
        .map(|a| (tz_of(&a.timezone), a.owner_user_id.clone()))
        .ok_or_else(|| ApiError::account_not_found(account_id))
}

/// `POST /12/batch/accounts/:account_id/line_items` (≤ 40 Create/Update/Delete, atomic).
pub async fn batch(ctx: Ctx, Path(account_id): Path<String>, body: bytes::Bytes) -> Response {
    let echo = serde_json::json!({ "account_id": account_id });
    ctx.run(echo, |s| {
        account(s, &ctx.who, &account_id)?;
        let ops = super::batch::parse(&body, 40, &["Create", "Update", "Delete"])?;
        Ok(super::batch::run(s, &account_id, None, &ops, |s, op| {
            let i = match op.kind.as_str() {
                "Create" => create_one(s, &account_id, &op.params, true)?,
                kind => {
                    let id = op.params.require("line_item_id")?.to_string();
                    if kind == "Update" {
                        update_one(s, &account_id, &id, &op.params)?
                    } else {
                        delete_one(s, &account_id, &id)?
                    }
                }
            };
            Ok(s.line_items[i].to_json())
        }))
    })
}
