//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! Hand-built from [`ROUTES`], the list of every `/api/v1` route kept next to the routers: a test
//! walks the routers' sources and the live router and fails when a route is missing here (or
//! listed here but not served). Add a row when you add a route.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use xads_client::vocab::SegmentationType;

use crate::app::AppState;
use crate::experiments::stats::PrimaryMetric;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(serve))
}

async fn serve() -> Json<Value> {
    Json(document())
}

/// What a route takes and answers, for its entry in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No request body.
    None,
    /// A JSON object (schema named by the route's summary).
    Json(&'static str),
    /// `multipart/form-data` (media upload).
    Multipart,
}

/// One `/api/v1` route: method, path (axum's `{param}` syntax, which is OpenAPI's), tag, summary,
/// request body, and whether it is a write that honours `Idempotency-Key`.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// The tag grouping it.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The request body.
    pub body: Body,
}

const A: &str = "/api/v1/x_ads/accounts/{account_id}";

macro_rules! r {
    ($m:literal, $p:expr, $t:literal, $s:literal) => {
        Route {
            method: $m,
            path: $p,
            tag: $t,
            summary: $s,
            body: Body::None,
        }
    };
    ($m:literal, $p:expr, $t:literal, $s:literal, $b:expr) => {
        Route {
            method: $m,
            path: $p,
            tag: $t,
            summary: $s,
            body: $b,
        }
    };
}

/// Every `/api/v1` route the service serves.
pub const ROUTES: &[Route] = &[
    r!("GET", "/api/v1/openapi.json", "operations", "This document"),
    r!(
        "GET",
        "/api/v1/integrations",
        "integrations",
        "Integration tiles: status, mode, ad accounts, scopes, problem, sync health"
    ),
    r!(
        "POST",
        "/api/v1/integrations/x_ads/connect",
        "integrations",
        "Start connecting X (OAuth 2.0 + PKCE, or {\"method\":\"oauth1\"}); answers {authorize_url, expires_at}",
        Body::Json("ConnectRequest")
    ),
    r!(
        "DELETE",
        "/api/v1/integrations/x_ads",
        "integrations",
        "Disconnect: delete the tokens (best-effort revoke), keep the history"
    ),
    r!(
        "POST",
        "/api/v1/integrations/x_ads/webhooks",
        "integrations",
        "Always 400 webhooks_not_supported: change detection is the hourly sync"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts",
        "accounts",
        "Ad accounts of the connection (?refresh=true reads through to X)"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/campaigns",
        "campaigns",
        "List campaigns (?refresh, cursor, count)"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/campaigns",
        "campaigns",
        "Create a campaign",
        Body::Json("CampaignCreate")
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/campaigns/{id}",
        "campaigns",
        "Read a campaign"
    ),
    r!(
        "PATCH",
        "/api/v1/x_ads/accounts/{account_id}/campaigns/{id}",
        "campaigns",
        "Update a campaign (paused, name, budgets)",
        Body::Json("CampaignUpdate")
    ),
    r!(
        "DELETE",
        "/api/v1/x_ads/accounts/{account_id}/campaigns/{id}",
        "campaigns",
        "Delete a campaign"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/line_items",
        "line_items",
        "List line items (?campaign_id, refresh, cursor, count)"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/line_items",
        "line_items",
        "Create a line item",
        Body::Json("LineItemCreate")
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/line_items/{id}",
        "line_items",
        "Read a line item"
    ),
    r!(
        "PATCH",
        "/api/v1/x_ads/accounts/{account_id}/line_items/{id}",
        "line_items",
        "Update a line item (paused, name, bid, budgets)",
        Body::Json("LineItemUpdate")
    ),
    r!(
        "DELETE",
        "/api/v1/x_ads/accounts/{account_id}/line_items/{id}",
        "line_items",
        "Delete a line item"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/promoted_tweets",
        "promoted_tweets",
        "List promoted tweets (?line_item_id, refresh, cursor, count)"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/promoted_tweets",
        "promoted_tweets",
        "Promote tweets on a line item",
        Body::Json("PromotedTweetsCreate")
    ),
    r!(
        "PATCH",
        "/api/v1/x_ads/accounts/{account_id}/promoted_tweets/{id}",
        "promoted_tweets",
        "Pause or resume a promoted tweet (answers paused_via: put | delete)",
        Body::Json("Paused")
    ),
    r!(
        "DELETE",
        "/api/v1/x_ads/accounts/{account_id}/promoted_tweets/{id}",
        "promoted_tweets",
        "Delete a promoted tweet"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/media",
        "media",
        "The ad account's media library"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/media",
        "media",
        "Upload an image or video into the media library (fields file, name, title, description)",
        Body::Multipart
    ),
    r!(
        "DELETE",
        "/api/v1/x_ads/accounts/{account_id}/media/{id}",
        "media",
        "Delete a media library entry (id = its media_key)"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/stats",
        "reports",
        "Stored stats rows (?entity, ids, from, to, granularity=hour|day|total, segment=AGE|GENDER|PLATFORMS|METROS|CONVERSION_TAGS for a breakdown by day or total); Accept: text/csv exports"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/stats/sync",
        "reports",
        "On-demand sync ({from?, to?}); 202 {sync_id, status}; one run per account: while one runs, a request joins it (202 with its sync_id); ?wait=true answers 200 with the run when done, or 202 {sync_id, status} once a bounded wait (120 s) passed",
        Body::Json("SyncRequest")
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/stats/sync/{sync_id}",
        "reports",
        "A sync's status: running | succeeded | failed, with counts; ?wait=true waits for the end at most 120 s"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/stats/backfill",
        "reports",
        "History through X's asynchronous analytics jobs ({from, to, segment?, country?}); 202 {backfill_id, status, progress: {jobs_done, jobs_total, rows}}; the jobs respect X's limits (≤ 90 days, ≤ 20 ids, X's concurrent-job limit) and are resumed by any instance after a restart",
        Body::Json("BackfillRequest")
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/stats/backfill/{backfill_id}",
        "reports",
        "A backfill: status running | succeeded | failed | cancelled, progress {jobs_done, jobs_total, rows}; ?wait=true waits for the end at most 120 s"
    ),
    r!(
        "DELETE",
        "/api/v1/x_ads/accounts/{account_id}/stats/backfill/{backfill_id}",
        "reports",
        "Cancels a running backfill and its jobs at X; answers the backfill"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/experiments",
        "experiments",
        "List experiments"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/experiments",
        "experiments",
        "Create an experiment: one line item per variant under a campaign (control live, treatments paused)",
        Body::Json("ExperimentCreate")
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/experiments/{id}",
        "experiments",
        "An experiment: variants with line items and live state, schedule, next switch"
    ),
    r!(
        "GET",
        "/api/v1/x_ads/accounts/{account_id}/experiments/{id}/results",
        "experiments",
        "Per-variant results with intervals, P(best) and the verdict"
    ),
    r!(
        "POST",
        "/api/v1/x_ads/accounts/{account_id}/experiments/{id}/{action}",
        "experiments",
        "start | stop | conclude (conclude pauses the losers and keeps the winner)"
    ),
    r!(
        "GET",
        "/api/v1/fx_rates",
        "reports",
        "FX rates this tenant converts with (?currency): the global ones (bundled, ECB, operators' imports) and its own overrides (source api)"
    ),
    r!(
        "POST",
        "/api/v1/fx_rates",
        "reports",
        "Add this tenant's own FX rates ({date, currency, usd_per_unit} or a list): each overrides a global rate of its date and re-converts only this tenant's rows",
        Body::Json("FxRates")
    ),
];

/// A query parameter: name, JSON schema, description.
type Param = (&'static str, Value, &'static str);

fn cursor_and_count() -> [Param; 2] {
    [
        (
            "cursor",
            json!({"type": "string"}),
            "the next_cursor of the previous page (opaque); absent or empty: the first page",
        ),
        (
            "count",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}),
            "entries per page",
        ),
    ]
}

fn refresh() -> Param {
    (
        "refresh",
        json!({"type": "boolean", "default": false}),
        "read through to X first (following X's cursors to the end), then answer from the local mirror",
    )
}

fn wait() -> Param {
    (
        "wait",
        json!({"type": "boolean", "default": false}),
        "answer when the sync has finished (200), or after a bounded wait (120 s) with 202 and its sync_id, instead of at once",
    )
}

/// The query parameters of a route (`tests` hold them to the handlers' query types).
pub fn query_params(r: &Route) -> Vec<Param> {
    let list = |extra: Vec<Param>| -> Vec<Param> {
        let mut v = extra;
        v.extend(cursor_and_count());
        v
    };
    let account = |rest: &str| format!("{A}/{rest}");
    match (r.method, r.path) {
        ("GET", "/api/v1/x_ads/accounts") => list(vec![refresh()]),
        ("GET", p) if p == account("campaigns") || p == account("media") => list(vec![refresh()]),
        ("GET", p) if p == account("line_items") => list(vec![
            (
                "campaign_id",
                json!({"type": "string"}),
                "only the line items of this campaign",
            ),
            refresh(),
        ]),
        ("GET", p) if p == account("promoted_tweets") => list(vec![
            (
                "line_item_id",
                json!({"type": "string"}),
                "only the promoted tweets of this line item",
            ),
            refresh(),
        ]),
        ("GET", p) if p == account("experiments") => list(vec![]),
        ("GET", "/api/v1/fx_rates") => list(vec![(
            "currency",
            json!({"type": "string", "pattern": "^[A-Za-z]{3}$"}),
            "only this ISO 4217 currency",
        )]),
        ("GET", p) if p == account("stats") => vec![
            (
                "entity",
                json!({"type": "string", "default": "campaign"}),
                "campaign, line_item or promoted_tweet (case-insensitive); promoted_tweet answers no rows yet: neither the sync nor the backfill stores them",
            ),
            (
                "ids",
                json!({"type": "string"}),
                "comma-separated entity ids; absent: every entity of the type",
            ),
            (
                "from",
                json!({"type": "string"}),
                "start of the window: an RFC 3339 time, or YYYY-MM-DD (that day's midnight in the ad account's time zone); default 7 days before `to`",
            ),
            (
                "to",
                json!({"type": "string"}),
                "end of the window, exclusive: an RFC 3339 time, or YYYY-MM-DD (that day included, in the ad account's time zone); default the end of the current hour",
            ),
            (
                "granularity",
                json!({"type": "string", "enum": ["hour", "day", "total"], "default": "hour"}),
                "hour (UTC hours), day (the ad account's local days) or total (one row per entity and placement over the window); the rows are bounded by the window, not paged. Default hour; day with segment, which refuses hour",
            ),
            (
                "segment",
                json!({"type": "string", "enum": SegmentationType::WIRE}),
                "a breakdown (case-insensitive): the rows of each segment X reported for this segmentation (stored by a segmented backfill), with segment_type, segment_name and segment_value; absent: the unsegmented rows only. Segment rows are never part of unsegmented rows or totals",
            ),
        ],
        ("POST", p) if p == account("stats/sync") => vec![wait()],
        ("GET", p) if p == account("stats/sync/{sync_id}") => vec![wait()],
        ("GET", p) if p == account("stats/backfill/{backfill_id}") => vec![wait()],
        _ => vec![],
    }
}

/// The routes that answer a page `{data, next_cursor}` of a list with `cursor` and `count`.
fn is_list(r: &Route) -> bool {
    query_params(r).iter().any(|(name, _, _)| *name == "cursor")
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn operation_id(r: &Route) -> String {
    let mut id = r.method.to_ascii_lowercase();
    for seg in r.path.trim_start_matches("/api/v1/").split('/') {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        id.push('_');
        id.extend(
            seg.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// A row of `GET …/stats`: the fixed fields, every metric column of the client's table, and a
/// breakdown's segment.
fn stats_row_schema() -> Value {
    let text_or_null = json!({"type": ["string", "null"]});
    let mut props = json!({
        "entity": {"type": "string", "enum": ["CAMPAIGN", "LINE_ITEM", "PROMOTED_TWEET"]},
        "entity_id": {"type": "string"},
        "start": {"type": "string", "format": "date-time", "description": "start of the hour, local day or window, UTC"},
        "date": {"type": "string", "format": "date", "description": "the ad account's local day of start"},
        "placement": {"type": "string"},
        "currency": {"type": "string", "description": "ISO 4217 of the spend"},
        "fx_rate": {"type": ["string", "null"], "description": "USD per one unit of currency, decimal; null while unknown or when the row's hours had different rates"},
        "fx_rate_date": text_or_null,
        "fx_source": text_or_null,
        "spend_usd": {"type": ["string", "null"], "description": "decimal, 6 places; null while a rate is unknown"},
        "fx_stale": {"type": "boolean"},
        "final": {"type": "boolean", "description": "X will not change these numbers any more"},
        "segment_type": {"type": "string", "enum": SegmentationType::WIRE, "description": "with ?segment= only"},
        "segment_name": {"type": "string", "description": "with ?segment= only: what X shows for the segment, as X sent it"},
        "segment_value": {"type": "string", "description": "with ?segment= only: X's value of the segment, as X sent it"},
        "cpi_usd": {"type": ["string", "null"], "description": "granularity=total only: spend_usd / installs, decimal, half-even to 6 places; null where installs is 0 or null or USD is unknown"},
        "cpa_usd": {"type": ["string", "null"], "description": "granularity=total only: spend_usd / conversions, decimal, half-even to 6 places; null where conversions is 0 or USD is unknown"},
    });
    for c in &xads_client::vocab::COLUMNS {
        props[c.name] = match (c.micros, c.nullable, c.name) {
            (true, _, _) => {
                json!({"type": "integer", "format": "int64", "description": "micros of currency"})
            }
            (false, true, "installs") => json!({"type": ["integer", "null"], "format": "int64",
                "description": "app installs (post-view + post-engagement, X's MOBILE_CONVERSION); null where not asked: not an app campaign"}),
            (false, true, _) => json!({"type": ["integer", "null"], "format": "int64",
                "description": "null where its metric group was not asked"}),
            (false, false, "conversions") => json!({"type": "integer", "format": "int64",
                "description": "web conversions (purchases); app installs are installs"}),
            (false, false, _) => json!({"type": "integer", "format": "int64"}),
        };
    }
    json!({"type": "object", "properties": props,
           "required": ["entity", "entity_id", "start", "placement", "currency", "final"]})
}

fn schemas() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let micros = json!({"type": "integer", "format": "int64", "description": "micros of the account's currency"});
    json!({
        "StatsRow": stats_row_schema(),
        "StatsRows": obj(json!({
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/StatsRow"}},
            "next_cursor": {"type": "null"},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "granularity": {"type": "string", "enum": ["hour", "day", "total"]},
        }), &["data", "next_cursor", "from", "to", "granularity"]),
        "Error": obj(json!({"error": obj(json!({
            "code": {"type": "string", "description": "snake_case"},
            "message": {"type": "string"},
        }), &["code", "message"])}), &["error"]),
        "List": obj(json!({"data": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}}), &["data", "next_cursor"]),
        "ConnectRequest": obj(json!({"method": {"type": "string", "enum": ["oauth2", "oauth1"], "default": "oauth2"}}), &[]),
        "CampaignCreate": obj(json!({
            "name": {"type": "string"}, "funding_instrument_id": {"type": "string"},
            "daily_budget_amount_local_micro": micros, "total_budget_amount_local_micro": micros,
            "paused": {"type": "boolean", "default": false}, "purchase_order_number": {"type": "string"},
        }), &["name", "funding_instrument_id"]),
        "CampaignUpdate": obj(json!({
            "name": {"type": "string"}, "paused": {"type": "boolean"},
            "daily_budget_amount_local_micro": micros, "total_budget_amount_local_micro": micros,
        }), &[]),
        "LineItemCreate": obj(json!({
            "campaign_id": {"type": "string"}, "name": {"type": "string"},
            "objective": {"type": "string"}, "product_type": {"type": "string"},
            "placements": {"type": "array", "items": {"type": "string"}},
            "bid_amount_local_micro": micros, "paused": {"type": "boolean"},
        }), &["campaign_id", "objective", "product_type", "placements"]),
        "LineItemUpdate": obj(json!({
            "name": {"type": "string"}, "paused": {"type": "boolean"}, "bid_amount_local_micro": micros,
        }), &[]),
        "PromotedTweetsCreate": obj(json!({
            "line_item_id": {"type": "string"}, "tweet_ids": {"type": "array", "items": {"type": "string"}},
        }), &["line_item_id", "tweet_ids"]),
        "Paused": obj(json!({"paused": {"type": "boolean"}}), &["paused"]),
        "ExperimentCreate": obj(json!({
            "name": {"type": "string"}, "campaign_id": {"type": "string"},
            "primary_metric": {"type": "string", "enum": PrimaryMetric::ALL.map(PrimaryMetric::as_str)},
            "schedule": {"type": "object", "description": "{mode: rotate, slot_hours} | {mode: concurrent}"},
            "stop": obj(json!({"min_impressions": {"type": "integer"}, "min_conversions": {"type": "integer"}, "max_days": {"type": "integer"}}), &[]),
            "variants": {"type": "array", "items": obj(json!({
                "name": {"type": "string"}, "control": {"type": "boolean"}, "tweet_id": {"type": "string"},
                "line_item": obj(json!({
                    "objective": {"type": "string"}, "product_type": {"type": "string"},
                    "placements": {"type": "array", "items": {"type": "string"}},
                    "bid_amount_local_micro": micros, "daily_budget_amount_local_micro": micros,
                    "targeting": {"type": "array", "items": obj(json!({"targeting_type": {"type": "string"}, "targeting_value": {"type": "string"}}), &["targeting_type", "targeting_value"])},
                }), &["objective"]),
            }), &["name", "tweet_id", "line_item"])},
        }), &["name", "campaign_id", "variants"]),
        "BackfillRequest": obj(json!({"from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"}, "segment": {"type": "string", "enum": xads_client::vocab::SegmentationType::WIRE}, "country": {"type": "string", "description": "X's targeting value of a country (METROS); US = 96683cc9126741d1"}}), &["from", "to"]),
        "SyncRequest": obj(json!({"from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"}}), &[]),
        "FxRates": obj(json!({"date": {"type": "string", "format": "date"}, "currency": {"type": "string"}, "usd_per_unit": {"type": "string", "description": "decimal"}}), &["date", "currency", "usd_per_unit"]),
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = json!({
            "operationId": operation_id(r),
            "tags": [r.tag],
            "summary": r.summary,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "An error: 400 malformed request, 401 missing or bad API key, 404 unknown or another tenant's id, 409 not connected to X or Idempotency-Key in flight, 422 validation failed or Idempotency-Key reused with another body, 429/502/503 X refused after retries", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if is_list(r) {
            op["responses"]["200"]["content"]["application/json"]["schema"] =
                json!({"$ref": "#/components/schemas/List"});
        }
        if r.method == "GET" && r.path == format!("{A}/stats") {
            op["responses"]["200"]["content"]["application/json"]["schema"] =
                json!({"$ref": "#/components/schemas/StatsRows"});
            op["responses"]["200"]["content"]["text/csv"] = json!({"schema": {"type": "string"}});
        }
        if r.method == "POST" {
            // Creates answer 201, a started sync 202 (schemathesis validated them against
            // `default`, the error shape, while they were undocumented).
            op["responses"]["201"] = json!({"description": "Created", "content": {"application/json": {"schema": {"type": "object"}}}});
            op["responses"]["202"] = json!({"description": "Accepted", "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let mut params: Vec<Value> = path_params(r.path)
            .into_iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(query_params(r).into_iter().map(|(name, schema, description)| {
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
        }));
        if matches!(r.method, "POST" | "PATCH" | "DELETE") && r.path.starts_with(A) {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "same key + same body replays the stored answer; another body → 422; in flight → 409",
                "schema": {"type": "string", "maxLength": 255}}));
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        match r.body {
            Body::None => {}
            Body::Json(schema) => {
                op["requestBody"] = json!({"required": r.method != "POST" || !schema.ends_with("Request"),
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
            }
            Body::Multipart => {
                op["requestBody"] = json!({"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                                   "title": {"type": "string"}, "description": {"type": "string"}}}}}});
            }
        }
        if r.path == "/api/v1/openapi.json" {
            op["security"] = json!([]);
        }
        let entry = paths
            .entry(r.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xads — X (Twitter) Ads integration of the Paid UA dashboard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON over HTTP. Authenticate with Authorization: Bearer <tenant API key>. Money is integer micros plus a currency code; USD is a decimal string; times are RFC 3339 UTC. Lists answer {data, next_cursor}. Every write answers id and dry_run.",
        },
        "servers": [{"url": "/"}],
        "security": [{"tenantKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"tenantKey": {"type": "http", "scheme": "bearer", "description": "the tenant API key from `xads tenant create`"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use serde::de::{self, DeserializeOwned, Visitor};

    use super::*;

    /// Stops a deserialization at its struct and keeps the field names serde asked for.
    #[derive(Debug)]
    struct Fields(Option<&'static [&'static str]>);

    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fields")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Fields(None)
        }
    }

    struct Grab;

    impl<'de> de::Deserializer<'de> for Grab {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(None))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(Some(fields)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    /// The query parameters a handler's query type reads.
    fn fields_of<T: DeserializeOwned>() -> Vec<&'static str> {
        match T::deserialize(Grab) {
            Err(Fields(Some(f))) => f.to_vec(),
            _ => panic!("not a struct"),
        }
    }

    fn documented(method: &str, path: &str) -> Vec<&'static str> {
        let path = path.replace("{A}", A);
        let doc = document();
        let op = &doc["paths"][&path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is documented");
        let mut names: Vec<&'static str> = ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path)
            .map(query_params)
            .unwrap_or_default()
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        let in_doc = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "query").count())
            .unwrap_or(0);
        assert_eq!(in_doc, names.len(), "{method} {path}");
        names.sort_unstable();
        names
    }

    fn sorted(mut v: Vec<&'static str>, without: &[&str]) -> Vec<&'static str> {
        v.retain(|f| !without.contains(f));
        v.sort_unstable();
        v
    }

    #[test]
    fn every_query_parameter_a_handler_reads_is_documented() {
        use crate::web::{experiments, integrations, manage, media, reports};
        let list = fields_of::<manage::ListQuery>();
        for (method, path, fields) in [
            (
                "GET",
                "/api/v1/x_ads/accounts",
                fields_of::<integrations::AccountsQuery>(),
            ),
            (
                "GET",
                "{A}/campaigns",
                sorted(list.clone(), &["campaign_id", "line_item_id"]),
            ),
            (
                "GET",
                "{A}/line_items",
                sorted(list.clone(), &["line_item_id"]),
            ),
            (
                "GET",
                "{A}/promoted_tweets",
                sorted(list.clone(), &["campaign_id"]),
            ),
            ("GET", "{A}/media", fields_of::<media::ListQuery>()),
            (
                "GET",
                "{A}/experiments",
                fields_of::<experiments::ListQuery>(),
            ),
            ("GET", "{A}/stats", fields_of::<reports::StatsQuery>()),
            ("POST", "{A}/stats/sync", fields_of::<reports::WaitQuery>()),
            (
                "GET",
                "{A}/stats/sync/{sync_id}",
                fields_of::<reports::WaitQuery>(),
            ),
            (
                "GET",
                "{A}/stats/backfill/{backfill_id}",
                fields_of::<reports::WaitQuery>(),
            ),
            (
                "GET",
                "/api/v1/fx_rates",
                fields_of::<reports::RatesQuery>(),
            ),
        ] {
            assert_eq!(
                documented(method, path),
                sorted(fields, &[]),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn lists_take_cursor_and_count_and_nothing_points_at_internal_documents() {
        let doc = document();
        for r in ROUTES.iter().filter(|r| r.method == "GET") {
            let answers_a_list = r.summary.starts_with("List")
                || matches!(r.path, "/api/v1/x_ads/accounts" | "/api/v1/fx_rates")
                || r.path.ends_with("/media");
            assert_eq!(is_list(r), answers_a_list, "{}", r.path);
        }
        let text = doc.to_string();
        for internal in [".md", "PRODUCT", "ARCHITECTURE", "§"] {
            assert!(!text.contains(internal), "the document names {internal}");
        }
    }
}
