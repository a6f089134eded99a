//! Ads API v12 entity routes. Shared here: the request context, account access, list paging,
//! sorting, filters, lookups and field validation, so each entity file only states its own rules.

pub mod accounts;
pub mod batch;
pub mod campaigns;
pub mod line_items;
pub mod media_library;
pub mod promoted_tweets;
pub mod targeting;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::auth::Principal;
use crate::envelope::{ApiError, ApiResult, Params};
use crate::model::{Account, Record};
use crate::state::{FakeState, State};

/// Every request parameter a `/12` route of the fake reads; a repeated one is refused.
const PARAMETERS: &[&str] = &[
    "account_ids",
    "bid_amount_local_micro",
    "bid_strategy",
    "budget_optimization",
    "campaign_id",
    "campaign_ids",
    "count",
    "country",
    "cursor",
    "daily_budget_amount_local_micro",
    "description",
    "end_time",
    "entity",
    "entity_ids",
    "entity_status",
    "file_name",
    "funding_instrument_id",
    "funding_instrument_ids",
    "goal",
    "granularity",
    "include_mentions_and_replies",
    "job_ids",
    "line_item_id",
    "line_item_ids",
    "media_category",
    "media_key",
    "media_type",
    "metric_groups",
    "name",
    "objective",
    "operator_type",
    "pay_by",
    "placement",
    "placements",
    "platform",
    "poster_media_key",
    "product_type",
    "promoted_tweet_ids",
    "purchase_order_number",
    "q",
    "segmentation_type",
    "sort_by",
    "standard_delivery",
    "start_time",
    "targeting_criterion_id",
    "targeting_criterion_ids",
    "targeting_type",
    "targeting_value",
    "timeline_type",
    "title",
    "total_budget_amount_local_micro",
    "trim_user",
    "tweet_ids",
    "tweet_type",
    "user_id",
    "with_deleted",
    "with_draft",
    "with_total_count",
];

/// What every `/12` handler needs: the world, the caller and the merged parameters.
pub struct Ctx {
    /// The world.
    pub st: FakeState,
    /// The caller (set by the middleware).
    pub who: Principal,
    /// Query + form params.
    pub p: Params,
}

impl FromRequestParts<FakeState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &FakeState) -> Result<Self, ApiError> {
        let who = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)?;
        let p = parts
            .extensions
            .get::<Params>()
            .cloned()
            .unwrap_or_default();
        if let Some(name) = p.repeated().filter(|n| PARAMETERS.contains(&n.as_str())) {
            // X documents lists as one comma-separated value; what it does with a repeated key is
            // not documented, so the fake refuses it instead of silently keeping one of them.
            // Parameters the fake does not read are ignored, repeated or not: X's own SDK sends
            // an object's read-only fields back on `save()` (`reasons_not_servable=A&…=B`).
            return Err(ApiError::invalid(
                &name,
                format!(
                    "{name} was sent more than once; send one comma-separated value (e.g. {name}=A,B)"
                ),
            )
            .with_params(p.echo(&path_account(parts.uri.path()))));
        }
        Ok(Ctx {
            st: st.clone(),
            who,
            p,
        })
    }
}

impl Ctx {
    /// Runs `f` under the lock; errors get `echo` as their `request.params`.
    pub fn run(&self, echo: Value, f: impl FnOnce(&mut State) -> ApiResult) -> Response {
        let mut s = self.st.lock();
        match f(&mut s) {
            Ok(r) => r,
            Err(e) => axum::response::IntoResponse::into_response(e.with_params(echo)),
        }
    }
}

/// The `account_id` path parameter of a `/12/…/accounts/:id…` path, for errors raised before
/// the route's own extractor runs.
fn path_account(path: &str) -> Vec<(&'static str, &str)> {
    let mut parts = path.split('/');
    std::iter::from_fn(|| parts.next())
        .skip_while(|p| *p != "accounts")
        .nth(1)
        .filter(|id| !id.is_empty())
        .map(|id| vec![("account_id", id)])
        .unwrap_or_default()
}

/// The account if the caller's user can access it; else 403 `ACCOUNT_NOT_FOUND`.
pub fn account<'a>(s: &'a State, who: &Principal, id: &str) -> Result<&'a Account, ApiError> {
    s.accounts
        .iter()
        .find(|a| a.id == id && a.owner_user_id == who.user_id && !a.deleted)
        .ok_or_else(|| ApiError::account_not_found(id))
}

/// Paging and sorting limits of a collection.
pub struct ListSpec {
    /// Default `count`.
    pub default_count: usize,
    /// Maximum `count`.
    pub max_count: usize,
    /// Whether drafts are hidden unless `with_draft=true`.
    pub drafts: bool,
}

/// Ordinary collections: count 200 by default, 1000 at most.
pub const DEFAULT_LIST: ListSpec = ListSpec {
    default_count: 200,
    max_count: 1000,
    drafts: false,
};

/// One page of a collection.
pub struct Page {
    /// Items as JSON.
    pub data: Vec<Value>,
    /// Opaque cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
    /// With `with_total_count=true`.
    pub total_count: Option<usize>,
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("xo:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("xo:")?
        .parse()
        .ok()
}

/// Checks a `*_ids` filter (≤ 200 ids).
pub fn ids_filter(p: &Params, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    let ids = p.list(name);
    if ids.len() > 200 {
        return Err(ApiError::invalid(
            name,
            format!("Expected at most 200 items, got {} for {name}", ids.len()),
        ));
    }
    Ok((!ids.is_empty()).then_some(ids))
}

/// Filters deleted/draft/`q`, sorts by `sort_by`, and cuts the page given by `count`/`cursor`.
pub fn page<T: Record>(items: Vec<&T>, p: &Params, spec: &ListSpec) -> Result<Page, ApiError> {
    page_by(items, p, spec, |e| e.json())
}

/// [`page`] with the JSON of each item made by `render` (for shapes that need more than the item).
pub fn page_by<T: Record>(
    items: Vec<&T>,
    p: &Params,
    spec: &ListSpec,
    render: impl Fn(&T) -> Value,
) -> Result<Page, ApiError> {
    let with_deleted = p.flag("with_deleted")?;
    let with_draft = p.flag("with_draft")?;
    let with_total = p.flag("with_total_count")?;
    if with_total && p.get("cursor").is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "EXCLUSIVE_PARAMETERS",
            "with_total_count and cursor are mutually exclusive",
            Some("with_total_count"),
        ));
    }
    let count = match p.int("count")? {
        None => spec.default_count,
        Some(n) if n >= 1 && n as usize <= spec.max_count => n as usize,
        Some(n) => {
            return Err(ApiError::invalid(
                "count",
                format!(
                    "Expected Integer between 1 and {}, got \"{n}\" for count",
                    spec.max_count
                ),
            ));
        }
    };
    let offset = match p.get("cursor") {
        None => 0,
        Some(c) => decode_cursor(c).ok_or_else(|| {
            ApiError::invalid("cursor", format!("Invalid cursor \"{c}\" for cursor"))
        })?,
    };
    let q = p.get("q").map(str::to_lowercase);
    let mut items: Vec<&T> = items
        .into_iter()
        .filter(|e| with_deleted || !e.is_deleted())
        .filter(|e| !spec.drafts || with_draft || !e.is_draft())
        .filter(|e| match &q {
            None => true,
            Some(q) => e
                .name_for_q()
                .is_some_and(|n| n.to_lowercase().contains(q.as_str())),
        })
        .collect();
    if let Some(sort) = p.get("sort_by") {
        let (attr, dir) = sort.rsplit_once('-').unwrap_or((sort, "asc"));
        let desc = match dir {
            "asc" => false,
            "desc" => true,
            _ => {
                return Err(ApiError::invalid(
                    "sort_by",
                    format!("Invalid sort_by \"{sort}\""),
                ));
            }
        };
        match attr {
            "created_at" => items.sort_by_key(|e| e.created()),
            "updated_at" => items.sort_by_key(|e| e.updated()),
            "deleted" => items.sort_by_key(|e| e.is_deleted()),
            "name" => items.sort_by(|a, b| a.name_for_q().cmp(&b.name_for_q())),
            "id" => items.sort_by(|a, b| a.rid().cmp(b.rid())),
            _ => {
                return Err(ApiError::invalid(
                    "sort_by",
                    format!("Unsupported sort attribute \"{attr}\" for sort_by"),
                ));
            }
        }
        if desc {
            items.reverse();
        }
    }
    let total = items.len();
    let data: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(count)
        .map(|e| render(e))
        .collect();
    let next_cursor = (offset + count < total).then(|| encode_cursor(offset + count));
    Ok(Page {
        data,
        next_cursor,
        total_count: with_total.then_some(total),
    })
}

/// Finds an entity of `account_id` by id; deleted ones only with `with_deleted=true`; else 404.
pub fn find<'a, T: Record>(
    items: &'a [T],
    account_id: &str,
    id: &str,
    with_deleted: bool,
) -> Result<&'a T, ApiError> {
    items
        .iter()
        .find(|e| e.account() == account_id && e.rid() == id && (with_deleted || !e.is_deleted()))
        .ok_or_else(ApiError::not_found)
}

/// Index of a live (not deleted) entity, for updates; else 404.
pub fn find_live_idx<T: Record>(
    items: &[T],
    account_id: &str,
    id: &str,
) -> Result<usize, ApiError> {
    items
        .iter()
        .position(|e| e.account() == account_id && e.rid() == id && !e.is_deleted())
        .ok_or_else(ApiError::not_found)
}

/// An optional enum value.
pub fn one_of(p: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
        Some(v) => Err(ApiError::invalid(
            name,
            format!(
                "Expected one of [{}], got \"{v}\" for {name}",
                allowed.join(", ")
            ),
        )),
    }
}

/// A string no longer than `max` (`Some("")` when sent empty).
pub fn text(p: &Params, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    match p.raw(name) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(
            name,
            format!("Expected String of at most {max} characters for {name}"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// An amount in micros, > 0. `Ok(Some(None))` = sent empty (unset on PUT).
pub fn micros(p: &Params, name: &str) -> Result<Option<Option<i64>>, ApiError> {
    if !p.has(name) {
        return Ok(None);
    }
    match p.int(name)? {
        None => Ok(Some(None)),
        Some(v) if v > 0 => Ok(Some(Some(v))),
        Some(v) => Err(ApiError::invalid(
            name,
            format!("Expected a positive amount, got \"{v}\" for {name}"),
        )),
    }
}

/// X's budget rule: daily ≤ total.
pub fn check_budgets(daily: Option<i64>, total: Option<i64>) -> Result<(), ApiError> {
    if let (Some(d), Some(t)) = (daily, total)
        && d > t
    {
        return Err(ApiError::invalid(
            "daily_budget_amount_local_micro",
            "The daily budget amount must be less than or equal to the total budget amount",
        ));
    }
    Ok(())
}

/// `ACTIVE|PAUSED|DRAFT` on create, `ACTIVE|PAUSED` on update.
pub fn entity_status(p: &Params, create: bool) -> Result<Option<String>, ApiError> {
    if create {
        one_of(p, "entity_status", ENTITY_STATUSES)
    } else {
        one_of(p, "entity_status", &ENTITY_STATUSES[..2])
    }
}

/// Entity statuses (a create takes all three, an update the first two).
pub const ENTITY_STATUSES: &[&str] = &["ACTIVE", "PAUSED", "DRAFT"];
