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

/// Keyword types: any text, and the criterion is named after it (docs-x targeting_criteria_post).
const KEYWORD_TYPES: &[&str] = &[
    "BROAD_KEYWORD",
    "EXACT_KEYWORD",
    "PHRASE_KEYWORD",
    "UNORDERED_KEYWORD",
    "NEGATIVE_BROAD_KEYWORD",
    "NEGATIVE_EXACT_KEYWORD",
    "NEGATIVE_PHRASE_KEYWORD",
    "NEGATIVE_UNORDERED_KEYWORD",
];

/// Locations the fake knows: key → (name, location type). X's keys from its docs' examples
/// (United States in analytics.mdx, the San Francisco city in docs-x batch_targeting_criteria).
const LOCATIONS: &[(&str, &str, &str)] = &[
    ("96683cc9126741d1", "United States", "COUNTRIES"),
    (
        "5122804691e5fecc",
        "San Francisco-Oakland-San Jose CA, US",
        "CITY",
    ),
];

/// Languages the fake knows (ISO 639-1, as X's `targeting_criteria/languages` answers them).
const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("de", "German"),
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("hi", "Hindi"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("pt", "Portuguese"),
    ("tr", "Turkish"),
];

/// Platforms (X's `targeting_criteria/platforms` values).
const PLATFORMS: &[(&str, &str)] = &[
    ("0", "iOS"),
    ("1", "Android"),
    ("2", "BlackBerry phones and tablets"),
    ("3", "Mobile web on other devices"),
    ("4", "Desktop and laptop computers"),
];

/// The display name (and, for locations, the location type) X gives a targeting value; an error
/// naming `targeting_value` when the fake does not know the value. X checks values against its
/// catalogues (`GET targeting_criteria/*`); how it answers an unknown one is not documented, so the
/// fake refuses it loudly rather than invent a criterion named after the value.
fn describe(
    s: &State,
    kind: &str,
    value: &str,
) -> Result<(String, Option<&'static str>), ApiError> {
    let unknown = |what: &str| {
        ApiError::invalid(
            "targeting_value",
            format!("Unknown {what} \"{value}\" for targeting_type {kind}"),
        )
    };
    if KEYWORD_TYPES.contains(&kind) {
        if value.trim().is_empty() || value.chars().count() > 120 {
            return Err(unknown("keyword"));
        }
        return Ok((value.to_string(), None));
    }
    match kind {
        "LOCATION" => LOCATIONS
            .iter()
            .find(|(k, _, _)| *k == value)
            .map(|(_, n, t)| (n.to_string(), Some(*t)))
            .ok_or_else(|| {
                unknown("location (the fake knows 96683cc9126741d1 and 5122804691e5fecc)")
            }),
        "LANGUAGE" => LANGUAGES
            .iter()
            .find(|(k, _)| *k == value)
            .map(|(_, n)| (n.to_string(), None))
            .ok_or_else(|| unknown("language")),
        "PLATFORM" => PLATFORMS
            .iter()
            .find(|(k, _)| *k == value)
            .map(|(_, n)| (n.to_string(), None))
            .ok_or_else(|| unknown("platform")),
        "GENDER" => match value {
            "1" => Ok(("Male".into(), None)),
            "2" => Ok(("Female".into(), None)),
            _ => Err(unknown("gender (1 or 2)")),
        },
        "AGE" => age_bucket(value)
            .map(|n| (n, None))
            .ok_or_else(|| unknown("age bucket (AGE_18_TO_24, AGE_OVER_25, …)")),
        "FOLLOWER_LOOKALIKE" | "SIMILAR_TO_FOLLOWERS_OF_USER" => {
            if value == s.seed.user_id {
                Ok((format!("@{}", s.seed.screen_name), None))
            } else {
                Err(unknown("user id"))
            }
        }
        _ => Err(ApiError::invalid(
            "targeting_value",
            format!(
                "The fake X has no catalogue of {kind} values; it accepts keywords, LOCATION, LANGUAGE, PLATFORM, GENDER, AGE and FOLLOWER_LOOKALIKE"
            ),
        )),
    }
}

/// `AGE_<from>_TO_<to>` or `AGE_OVER_<from>` → "18 to 24" / "25 and over".
fn age_bucket(value: &str) -> Option<String> {
    let rest = value.strip_prefix("AGE_")?;
    let ok = |n: &str| n.parse::<u32>().ok().filter(|n| (13..=65).contains(n));
    if let Some(from) = rest.strip_prefix("OVER_") {
        return ok(from).map(|f| format!("{f} and over"));
    }
    let (from, to) = rest.split_once("_TO_")?;
    let (f, t) = (ok(from)?, ok(to)?);
    (f < t).then(|| format!("{f} to {t}"))
}

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
    let (name, location_type) = describe(s, &kind, &value)?;
    let now = s.clock.now();
    let t = TargetingCriterion {
        id: s.ids.entity(),
        account_id: account_id.into(),
        line_item_id: li,
        name,
        location_type: location_type.map(String::from),
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
        // X's single-create example answers without `operator_type` (docs-x
        // targeting_criteria_post); lists and batch answers carry it.
        let mut data = t.to_json();
        if let Some(m) = data.as_object_mut() {
            m.remove("operator_type");
        }
        Ok(single(echo, data))
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
            Some("targeting_criterion"),
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
