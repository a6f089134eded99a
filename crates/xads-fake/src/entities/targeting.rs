//! Targeting criteria: list (by line items), get, create, delete, and the batch endpoint.

use axum::extract::Path;
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::{Ctx, DEFAULT_LIST, account, batch, find, find_live_idx, ids_filter, one_of, page};
use crate::envelope::{ApiError, Params, collection, single};
use crate::model::{Record, TargetingCriterion};
use crate::state::State;

/// Targeting types the fake accepts (X's documented set, positive and negative forms).
pub const TARGETING_TYPES: &[&str] = &[
    "AGE",
    "BROAD_KEYWORD",
    "CONVERSATION",
    "CUSTOM_AUDIENCE",
    "CUSTOM_AUDIENCE_EXPANDED",
    "DEVICE",
    "EVENT",
    "EXACT_KEYWORD",
    "FOLLOWER_LOOKALIKE",
    "GENDER",
    "INTEREST",
    "LANGUAGE",
    "LOCATION",
    "NETWORK_OPERATOR",
    "PHRASE_KEYWORD",
    "PLATFORM",
    "PLATFORM_VERSION",
    "SIMILAR_TO_FOLLOWERS_OF_USER",
    "TV_SHOW",
    "UNORDERED_KEYWORD",
    "WIFI_ONLY",
    "NEGATIVE_PHRASE_KEYWORD",
    "NEGATIVE_EXACT_KEYWORD",
    "NEGATIVE_UNORDERED_KEYWORD",
    "NEGATIVE_BROAD_KEYWORD",
    "NEGATIVE_CUSTOM_AUDIENCE",
];

/// Creates one criterion (shared by the single and batch routes).
fn create_one(s: &mut State, account_id: &str, p: &Params) -> Result<TargetingCriterion, ApiError> {
    let li = p.require("line_item_id")?.to_string();
    p.require("targeting_type")?;
    let kind = one_of(p, "targeting_type", TARGETING_TYPES)?.unwrap_or_default();
    let value = p.require("targeting_value")?.to_string();
    let operator =
        one_of(p, "operator_type", &["EQ", "GTE", "LT", "NE"])?.unwrap_or_else(|| "EQ".into());
    if !s
        .line_items
        .iter()
        .any(|l| l.account_id == account_id && l.id == li && !l.deleted)
    {
        return Err(ApiError::invalid(
            "line_item_id",
            format!("Line item {li} not found for account {account_id}"),
        ));
    }
    let now = s.clock.now();
    let t = TargetingCriterion {
        id: s.ids.entity(),
        account_id: account_id.into(),
        line_item_id: li,
        name: value.clone(),
        targeting_type: kind,
        targeting_value: value,
        operator_type: operator,
        created_at: now,
        updated_at: now,
        deleted: false,
    };
    s.targeting.push(t.clone());
    Ok(t)
}

fn delete_one(s: &mut State, account_id: &str, id: &str) -> Result<Value, ApiError> {
    let idx = find_live_idx(&s.targeting, account_id, id)?;
    let now = s.clock.now();
    let t = &mut s.targeting[idx];
    t.mark_deleted(now);
    Ok(t.to_json())
}

/// `GET /12/accounts/:account_id/targeting_criteria` (`line_item_ids` required, ≤ 200).
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let lis = ids_filter(&ctx.p, "line_item_ids")?
            .ok_or_else(|| ApiError::missing("line_item_ids"))?;
        let ids = ids_filter(&ctx.p, "targeting_criterion_ids")?;
        let items: Vec<&TargetingCriterion> = s
            .targeting
            .iter()
            .filter(|t| t.account_id == account_id && lis.contains(&t.line_item_id))
            .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id)))
            .collect();
        let pg = page(items, &ctx.p, &DEFAULT_LIST)?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/targeting_criteria/:id`.
pub async fn get(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("targeting_criterion_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let t = find(&s.targeting, &account_id, &id, ctx.p.flag("with_deleted")?)?;
        Ok(single(echo, t.to_json()))
    })
}

/// `POST /12/accounts/:account_id/targeting_criteria`.
pub async fn create(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let t = create_one(s, &account_id, &ctx.p)?;
        Ok(single(echo, t.to_json()))
    })
}

/// `DELETE /12/accounts/:account_id/targeting_criteria/:id`.
pub async fn delete(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("targeting_criterion_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        Ok(single(echo, delete_one(s, &account_id, &id)?))
    })
}

/// `POST /12/batch/accounts/:account_id/targeting_criteria` (≤ 500 Create/Delete, atomic).
pub async fn batch(ctx: Ctx, Path(account_id): Path<String>, body: Bytes) -> Response {
    let echo = serde_json::json!({ "account_id": account_id });
    ctx.run(echo, |s| {
        account(s, &ctx.who, &account_id)?;
        let ops = batch::parse(&body, 500, &["Create", "Delete"])?;
        Ok(batch::run(
            s,
            &account_id,
            "targeting_criterion",
            &ops,
            |s, op| {
                if op.kind == "Create" {
                    create_one(s, &account_id, &op.params).map(|t| t.to_json())
                } else {
                    let id = op.params.require("targeting_criterion_id")?.to_string();
                    delete_one(s, &account_id, &id)
                }
            },
        ))
    })
}
