//! X's wire objects → our API's JSON: X's field names, except `paused`, which replaces
//! `entity_status` (PRODUCT.md §5).

use serde_json::{Value, json};
use xads_client::models::{Campaign, EntityStatus, LineItem, PromotedTweet};

fn paused(status: Option<&EntityStatus>) -> bool {
    matches!(status, Some(EntityStatus::Paused))
}

fn draft(status: Option<&EntityStatus>) -> bool {
    matches!(status, Some(EntityStatus::Draft))
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

/// A campaign as the API shows it.
pub fn campaign(account_id: &str, c: &Campaign, dry_run: bool) -> Value {
    json!({
        "id": c.id,
        "account_id": account_id,
        "name": c.name,
        "funding_instrument_id": c.funding_instrument_id,
        "daily_budget_amount_local_micro": c.daily_budget_amount_local_micro,
        "total_budget_amount_local_micro": c.total_budget_amount_local_micro,
        "currency": c.currency,
        "purchase_order_number": c.purchase_order_number,
        "paused": paused(c.entity_status.as_ref()),
        "draft": draft(c.entity_status.as_ref()),
        "effective_status": c.effective_status,
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "deleted": c.deleted,
        "dry_run": dry_run,
    })
}

/// A line item as the API shows it.
pub fn line_item(account_id: &str, l: &LineItem, dry_run: bool) -> Value {
    json!({
        "id": l.id,
        "account_id": account_id,
        "campaign_id": l.campaign_id,
        "name": l.name,
        "objective": l.objective,
        "product_type": l.product_type,
        "placements": l.placements,
        "bid_strategy": l.bid_strategy,
        "bid_amount_local_micro": l.bid_amount_local_micro,
        "goal": l.goal,
        "pay_by": l.pay_by,
        "start_time": time(l.start_time),
        "end_time": time(l.end_time),
        "daily_budget_amount_local_micro": l.daily_budget_amount_local_micro,
        "total_budget_amount_local_micro": l.total_budget_amount_local_micro,
        "currency": l.currency,
        "paused": paused(l.entity_status.as_ref()),
        "draft": draft(l.entity_status.as_ref()),
        "created_at": time(l.created_at),
        "updated_at": time(l.updated_at),
        "deleted": l.deleted,
        "dry_run": dry_run,
    })
}

/// A promoted tweet as the API shows it. `paused_via` says how it was last paused or resumed.
pub fn promoted_tweet(account_id: &str, p: &PromotedTweet, dry_run: bool) -> Value {
    json!({
        "id": p.id,
        "account_id": account_id,
        "line_item_id": p.line_item_id,
        "tweet_id": p.tweet_id,
        "approval_status": p.approval_status,
        "paused": paused(p.entity_status.as_ref()) || p.deleted,
        "created_at": time(p.created_at),
        "updated_at": time(p.updated_at),
        "deleted": p.deleted,
        "dry_run": dry_run,
    })
}
