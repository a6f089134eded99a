//! Reports (PRODUCT.md §5.1): stored stats rows by hour, local day or total, as JSON or CSV; the
//! on-demand sync and its status; FX rates in; the sync health of the integrations tile.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};
use xads_client::vocab::{COLUMNS, SegmentationType, StatsEntityType};

use super::auth::AuthTenant;
use super::error::{ApiError, ApiResult};
use super::ids::{self, PathIds};
use crate::app::AppState;
use crate::fx::{self, Source};
use crate::manage::paging;
use crate::store::entities;
use crate::store::stats::{self as stats_store, COUNTS};
use crate::store::sync_runs::{self, Begun, SyncRun, SyncTarget, Trigger};
use crate::store::{connections, fx_rates};
use crate::sync::{self, Request, Silent};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/x_ads/accounts/{account_id}/stats", get(stats))
        .route(
            "/api/v1/x_ads/accounts/{account_id}/stats/sync",
            post(start_sync),
        )
        .route(
            "/api/v1/x_ads/accounts/{account_id}/stats/sync/{sync_id}",
            get(sync_status),
        )
        .route("/api/v1/fx_rates", post(add_rates).get(list_rates))
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A time bound: RFC 3339, or a date meaning the account's local midnight (`end_of_day` moves
/// a `to` date to the next midnight, so the day is included).
pub(super) fn bound(
    field: &str,
    raw: &str,
    tz: Tz,
    end_of_day: bool,
) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.to_utc());
    }
    let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be an RFC 3339 time or a YYYY-MM-DD date"),
        )
    })?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    Ok(local_midnight(d, tz))
}

/// The instant the account's local day `d` starts.
pub(crate) fn local_midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    match naive.and_local_timezone(tz) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.to_utc(),
        // A zone that skips midnight (DST at 00:00) starts the day an hour later.
        chrono::LocalResult::None => (naive + Duration::hours(1))
            .and_local_timezone(tz)
            .earliest()
            .map_or_else(|| naive.and_utc(), |t| t.to_utc()),
    }
}

pub(super) async fn account_tz(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
) -> ApiResult<(connections::AdAccount, Tz)> {
    let account = connections::ad_account(&state.db, tenant_id, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("ad account"))?;
    let tz: Tz = account.timezone.parse().unwrap_or(Tz::UTC);
    Ok((account, tz))
}

/// The query of `GET …/stats` (the UI's reports page builds one as its request would carry).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatsQuery {
    pub entity: Option<String>,
    pub ids: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub granularity: Option<String>,
    /// A segmentation (`AGE`, `GENDER`, `PLATFORMS`, `METROS`, `CONVERSION_TAGS`): the rows of
    /// its segments instead of the unsegmented ones.
    pub segment: Option<String>,
}

/// What `GET …/stats` answers: the rows (as JSON) and the window and granularity read.
pub(crate) struct Stats {
    pub data: Vec<Value>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: String,
}

/// One reported row (an hour, a local day or the total of a stored series): a bucket the
/// database summed, and the instant it starts.
struct Out {
    entity: StatsEntityType,
    /// The segmentation read, when the read is segmented.
    segment: Option<SegmentationType>,
    start: DateTime<Utc>,
    b: stats_store::Bucket,
}

impl Out {
    fn is_final(&self, now: DateTime<Utc>) -> bool {
        self.b.last_hour + Duration::hours(1) <= now - sync::FINAL_AFTER
    }

    /// The row as answered; a `total` row adds the costs per install and per conversion.
    fn json(&self, now: DateTime<Utc>, tz: Tz, total: bool) -> Value {
        let b = &self.b;
        let fx = b.fx.as_ref().filter(|_| !b.mixed_fx);
        let mut row = json!({
            "entity": self.entity,
            "entity_id": b.entity_id,
            "start": rfc3339(self.start),
            // The account's local day of `start`: what a day row is, and what reports show.
            "date": self.start.with_timezone(&tz).date_naive().to_string(),
            "placement": b.placement,
            "currency": b.currency,
            "fx_rate": fx.map(|f| f.0.normalize().to_string()),
            "fx_rate_date": fx.map(|f| f.1.to_string()),
            "fx_source": fx.map(|f| f.2.clone()),
            "spend_usd": b.spend_usd.map(|d| { let mut d = d; d.rescale(fx::USD_PLACES); d.to_string() }),
            "fx_stale": b.fx_stale,
            "final": self.is_final(now),
        });
        for (c, v) in COLUMNS.iter().zip(b.values) {
            row[c.name] = json!(v);
        }
        if let (Some(ty), Some((name, value))) = (self.segment, &b.segment) {
            row["segment_type"] = json!(ty);
            row["segment_name"] = json!(name);
            row["segment_value"] = json!(value);
        }
        if total {
            // USD per install / per conversion: null without USD or without events.
            let per = |count: Option<i64>| {
                b.spend_usd
                    .zip(count)
                    .and_then(|(usd, n)| fx::usd_per(usd, n))
                    .map(|d| d.to_string())
            };
            row[CPI_USD] = json!(per(b.values[stats_store::INSTALLS]));
            row[CPA_USD] = json!(per(b.values[stats_store::CONVERSIONS]));
        }
        row
    }
}

/// The field of a total row's USD per install (`spend_usd / installs`).
const CPI_USD: &str = "cpi_usd";
/// The field of a total row's USD per conversion (`spend_usd / conversions`).
const CPA_USD: &str = "cpa_usd";

/// The CSV's columns: the account's local date, the row's key with the entity's name (and of a
/// segmented read, the segment), the counts, `currency`, the money (the metric columns from
/// the client's table, each in micros and beside it as a decimal in the currency's minor
/// units, named without `_micro`), the conversion and `final`; a total's CSV then adds
/// `cpi_usd` and `cpa_usd`.
fn csv_columns(segmented: bool, total: bool) -> &'static [&'static str] {
    static ALL: LazyLock<[Vec<&'static str>; 4]> = LazyLock::new(|| {
        [(false, false), (false, true), (true, false), (true, true)]
            .map(|(segmented, total)| columns_of_csv(segmented, total))
    });
    &ALL[usize::from(segmented) * 2 + usize::from(total)]
}

fn columns_of_csv(segmented: bool, total: bool) -> Vec<&'static str> {
    {
        let mut cols = vec![
            "date",
            "entity",
            "entity_id",
            ENTITY_NAME,
            "start",
            "placement",
        ];
        if segmented {
            cols.extend(SEGMENT_FIELDS);
        }
        cols.extend(COLUMNS[..COUNTS].iter().map(|c| c.name));
        cols.push("currency");
        for c in &COLUMNS[COUNTS..] {
            cols.push(c.name);
            cols.push(decimal_column(c.name));
        }
        cols.extend([
            "fx_rate",
            "fx_rate_date",
            "fx_source",
            "spend_usd",
            "fx_stale",
            "final",
        ]);
        if total {
            cols.extend([CPI_USD, CPA_USD]);
        }
        cols
    }
}

/// The fields a segmented read adds to a row (PRODUCT.md §5.1).
const SEGMENT_FIELDS: [&str; 3] = ["segment_type", "segment_name", "segment_value"];

/// The CSV column of an entity's name (from the mirror; empty when unknown).
const ENTITY_NAME: &str = "entity_name";

/// The decimal column beside a micros column: `spend_local_micro` → `spend_local`.
fn decimal_column(micros_column: &'static str) -> &'static str {
    micros_column
        .strip_suffix("_micro")
        .unwrap_or(micros_column)
}

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// What a `GET …/stats` query reads, checked: the aggregate to run and how to label it.
struct Read {
    agg: stats_store::Aggregate,
    tz: Tz,
    granularity: String,
    now: DateTime<Utc>,
}

impl Read {
    /// The instant a bucket of `key` starts.
    fn start_of(&self, key: i64) -> DateTime<Utc> {
        match self.agg.bucketing {
            stats_store::Bucketing::Hour => from_millis_utc(key),
            stats_store::Bucketing::Day(_) => {
                let day = NaiveDate::from_num_days_from_ce_opt(EPOCH_DAYS_FROM_CE + key as i32)
                    .unwrap_or_default();
                local_midnight(day, self.tz)
            }
            stats_store::Bucketing::Total => self.agg.from,
        }
    }

    /// The reported row of a bucket.
    fn out(&self, b: stats_store::Bucket) -> Out {
        Out {
            entity: self.agg.entity,
            segment: self.agg.segment,
            start: self.start_of(b.key),
            b,
        }
    }

    /// The buckets as reported rows, streamed from the database in the answer's order.
    fn rows(
        self,
        state: &AppState,
    ) -> impl futures::Stream<Item = Result<Value, crate::db::DbError>> + Send + 'static {
        use futures::StreamExt as _;
        let stream = stats_store::aggregate(&state.db, self.agg.clone());
        let total = self.agg.bucketing == stats_store::Bucketing::Total;
        stream.map(move |b| b.map(|b| self.out(b).json(self.now, self.tz, total)))
    }
}

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn from_millis_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The entities' names of the level `entity` by id, for the CSV's `entity_name`.
pub(crate) async fn names_of(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    entity: StatsEntityType,
) -> Result<HashMap<String, String>, crate::db::DbError> {
    Ok(
        crate::store::entities::labels(&state.db, tenant_id, account_id, entities::kind_of(entity))
            .await?
            .into_iter()
            .map(|(id, l)| (id, l.name))
            .collect(),
    )
}

/// Checks `q` for the tenant's `account_id`: the aggregate it asks for.
async fn read_of(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    q: &StatsQuery,
) -> ApiResult<Read> {
    let (_, tz) = account_tz(state, tenant_id, account_id).await?;
    let entity = match q.entity.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("") => StatsEntityType::Campaign,
        Some(raw) => entities::REPORTED
            .iter()
            .copied()
            .find(|e| e.as_str() == raw)
            .ok_or_else(|| {
                ApiError::invalid(
                    "entity",
                    format!("entity must be campaign, line_item or promoted_tweet, got {raw:?}"),
                )
            })?,
    };
    let segment = match q.segment.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            raw.to_ascii_uppercase()
                .parse::<SegmentationType>()
                .map_err(|_| {
                    ApiError::invalid(
                        "segment",
                        format!(
                            "segment must be one of {}, got {raw:?}",
                            SegmentationType::WIRE.join(", ")
                        ),
                    )
                })?,
        ),
    };
    // X's breakdowns come by job and are read by day or in total; a segmented read defaults
    // to days.
    let granularity = q
        .granularity
        .as_deref()
        .unwrap_or(if segment.is_some() { "day" } else { "hour" })
        .to_ascii_lowercase();
    if !["hour", "day", "total"].contains(&granularity.as_str()) {
        return Err(ApiError::invalid(
            "granularity",
            "granularity must be hour, day or total",
        ));
    }
    if segment.is_some() && granularity == "hour" {
        return Err(ApiError::invalid(
            "granularity",
            "a segmented read (segment=…) takes granularity day or total, not hour",
        ));
    }
    let now = state.clock.now();
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => bound("to", raw, tz, true)?,
        None => sync::floor_hour(now) + Duration::hours(1),
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => bound("from", raw, tz, false)?,
        None => to - Duration::days(7),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "from must be before to"));
    }
    let mut ids: Vec<String> = q
        .ids
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_IDS {
        return Err(ApiError::invalid(
            "ids",
            format!("at most {MAX_IDS} ids per request"),
        ));
    }
    let bucketing = match granularity.as_str() {
        "hour" => stats_store::Bucketing::Hour,
        "day" => stats_store::Bucketing::Day(crate::store::daily::zone_offsets(tz, from, to)),
        _ => stats_store::Bucketing::Total,
    };
    Ok(Read {
        agg: stats_store::Aggregate {
            tenant_id: tenant_id.to_owned(),
            account_id: account_id.to_owned(),
            entity,
            ids,
            from,
            to,
            bucketing,
            segment,
        },
        tz,
        granularity,
        now,
    })
}

/// The most ids one stats request may name.
const MAX_IDS: usize = 1000;

/// The rows `GET /api/v1/x_ads/accounts/{account_id}/stats` answers for `q` (its account id
/// already checked at the edge). The database sums the buckets; only they are held here.
pub(crate) async fn stats_of(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    q: &StatsQuery,
) -> ApiResult<Stats> {
    use futures::TryStreamExt as _;
    let read = read_of(state, tenant_id, account_id, q).await?;
    let (from, to, granularity) = (read.agg.from, read.agg.to, read.granularity.clone());
    let data: Vec<Value> = read.rows(state).try_collect().await?;
    Ok(Stats {
        data,
        from,
        to,
        granularity,
    })
}

/// One point of the account's chart: every entity's rows of one hour or local day, summed.
#[derive(Clone, Debug)]
pub(crate) struct Point {
    /// The hour's or the local day's first instant.
    pub start: DateTime<Utc>,
    /// The account's local day of `start` (what a day row's `date` is).
    pub date: NaiveDate,
    /// The sums, from the database.
    pub sums: stats_store::KeyTotal,
}

/// What `GET …/stats` answers for `q`, summed per hour or local day over every entity (and
/// placement) by the database: the rows a chart of the whole account adds up, without the
/// per-entity rows crossing the wire.
pub(crate) async fn points_of(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    q: &StatsQuery,
) -> ApiResult<Vec<Point>> {
    let read = read_of(state, tenant_id, account_id, q).await?;
    let sums = stats_store::aggregate_keys(&state.db, &read.agg).await?;
    Ok(sums
        .into_iter()
        .map(|sums| {
            let start = read.start_of(sums.key);
            Point {
                start,
                date: start.with_timezone(&read.tz).date_naive(),
                sums,
            }
        })
        .collect())
}

/// One CSV line of a reported row in `columns`; `names` are the entities' names by id.
fn csv_line(row: &Value, columns: &[&str], names: &HashMap<String, String>, out: &mut String) {
    let currency = row["currency"].as_str().unwrap_or_default();
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let field = if *c == ENTITY_NAME {
            let id = row["entity_id"].as_str().unwrap_or_default();
            csv_field(&json!(names.get(id)))
        } else {
            match COLUMNS[COUNTS..]
                .iter()
                .find(|m| decimal_column(m.name) == *c)
            {
                Some(m) if m.name != *c => csv_field(&json!(
                    row[m.name]
                        .as_i64()
                        .map(|v| crate::money::plain(v, currency))
                )),
                _ => csv_field(&row[*c]),
            }
        };
        out.push_str(&field);
    }
    out.push('\n');
}

/// The CSV of `GET …/stats` with `Accept: text/csv`: a header line of [`csv_columns`] (with
/// the costs when the rows are totals, which carry them), then a line per row; `names` are the
/// entities' names by id.
pub(crate) fn stats_csv(data: &[Value], names: &HashMap<String, String>) -> String {
    let first = data.first();
    let columns = csv_columns(
        first.is_some_and(|r| r.get("segment_type").is_some()),
        first.is_some_and(|r| r.get(CPI_USD).is_some()),
    );
    let mut body = columns.join(",");
    body.push('\n');
    for row in data {
        csv_line(row, columns, names, &mut body);
    }
    body
}

/// Bytes of CSV gathered before they are handed to the connection.
const CSV_CHUNK: usize = 32 * 1024;

/// [`stats_csv`] as a streamed body: lines are written as the database hands over buckets, in
/// chunks of about [`CSV_CHUNK`] bytes, so an export of any length holds one chunk in memory.
/// A database error after the first bytes ends the body early (the client sees a cut answer).
fn stats_csv_body(
    read: Read,
    names: HashMap<String, String>,
    state: &AppState,
) -> axum::body::Body {
    use futures::StreamExt as _;
    let columns = csv_columns(
        read.agg.segment.is_some(),
        read.agg.bucketing == stats_store::Bucketing::Total,
    );
    let mut header = columns.join(",");
    header.push('\n');
    let rows = read.rows(state).ready_chunks(64);
    let lines = rows.map(move |chunk| {
        let mut out = String::with_capacity(CSV_CHUNK);
        for row in chunk {
            match row {
                Ok(row) => csv_line(&row, columns, &names, &mut out),
                Err(e) => {
                    tracing::error!(error = %e, "stats CSV export failed");
                    return Err(std::io::Error::other("stats export failed"));
                }
            }
        }
        Ok(bytes::Bytes::from(out))
    });
    axum::body::Body::from_stream(
        futures::stream::once(async move { Ok(bytes::Bytes::from(header)) }).chain(lines),
    )
}

async fn stats(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    headers: HeaderMap,
    q: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let account_id = path.account()?.into_string();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let read = read_of(&state, &tenant.id, &account_id, &q).await?;
        let names = names_of(&state, &tenant.id, &account_id, read.agg.entity).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"x_ads_{account_id}_stats.csv\""),
                ),
            ],
            stats_csv_body(read, names, &state),
        )
            .into_response());
    }
    let Stats {
        data,
        from,
        to,
        granularity,
    } = stats_of(&state, &tenant.id, &account_id, &q).await?;
    Ok(Json(json!({
        "data": data,
        "next_cursor": null,
        "from": rfc3339(from),
        "to": rfc3339(to),
        "granularity": granularity,
    }))
    .into_response())
}

/// The body of `POST …/stats/sync` (the UI's "sync now" builds one as its request would carry).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncBody {
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub line_item_campaign_ids: Vec<String>,
}

/// `?wait=` of `POST …/stats/sync` and `GET …/stats/sync/{sync_id}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WaitQuery {
    pub(super) wait: Option<bool>,
}

fn run_json(run: &SyncRun) -> Value {
    json!({
        "sync_id": run.id,
        "status": run.status,
        "account_id": run.account_id,
        "trigger": run.trigger,
        "from": run.window.map(|w| rfc3339(w.0)),
        "to": run.window.map(|w| rfc3339(w.1)),
        "counts": {
            "x_calls": run.counts.x_calls,
            "entities": run.counts.entities,
            "active_entities": run.counts.active_entities,
            "rows_upserted": run.counts.rows_upserted,
        },
        "error": run.error,
        "started_at": rfc3339(run.started_at),
        "finished_at": run.finished_at.map(rfc3339),
    })
}

async fn start_sync(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    wait: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    // Malformed JSON answers our JSON error shape, not axum's plain-text rejection.
    body: Result<Option<Json<Value>>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Query(wait) = wait?;
    let body = body?;
    let account_id = path.account()?.into_string();
    let body: SyncBody = match body {
        None => SyncBody::default(),
        Some(Json(Value::Null)) => SyncBody::default(),
        Some(Json(v)) => serde_json::from_value(v)
            .map_err(|e| ApiError::invalid("body", format!("invalid body: {e}")))?,
    };
    let request = on_demand_request(&state, &tenant.id, &account_id, body).await?;
    let id = begin_on_demand(&state, &tenant.id, account_id, request).await?;
    if wait.wait.unwrap_or(false) {
        let run = wait_for_run(&state, &tenant.id, &id).await?;
        if run.status != "running" {
            return Ok((StatusCode::OK, Json(run_json(&run))).into_response());
        }
        // The bound passed: the run goes on; the caller polls `GET …/stats/sync/{sync_id}`.
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "sync_id": id, "status": "running" })),
    )
        .into_response())
}

/// Waits for a run (on this instance or another: the database is the only shared view of it)
/// until it ends or `config.leases.sync_wait` passes, and answers it as it then is.
async fn wait_for_run(state: &AppState, tenant_id: &str, id: &str) -> ApiResult<SyncRun> {
    let started = tokio::time::Instant::now();
    loop {
        let run = sync_runs::get_run(&state.db, tenant_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("sync"))?;
        if run.status != "running" || started.elapsed() >= state.config.leases.sync_wait {
            return Ok(run);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Starts an on-demand run of `request` on the tenant's `account_id` (its window already
/// checked): refused at once when X cannot be reached for this tenant, rather than a run that
/// fails. Answers the run's id. While a run of the account is running (here or on another
/// instance) the request joins it: the answer is that run's id, and nothing new starts.
async fn begin_on_demand(
    state: &AppState,
    tenant_id: &str,
    account_id: String,
    request: Request,
) -> ApiResult<String> {
    crate::x::XSession::for_tenant(state, tenant_id).await?;
    let target = SyncTarget {
        tenant_id: tenant_id.to_owned(),
        account_id,
    };
    match sync::begin(state, &target, Trigger::OnDemand).await? {
        Begun::Running(id) => Ok(id),
        Begun::New(id) => {
            let (state, run_id) = (state.clone(), id.clone());
            tokio::spawn(async move {
                // The outcome is recorded on the run; the caller polls it.
                let _ = sync::execute(&state, &run_id, &target, &request, &Silent).await;
            });
            Ok(id)
        }
    }
}

/// The run `body` asks of the tenant's `account_id` (a known account): its window read and
/// checked in the account's time zone.
async fn on_demand_request(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    body: SyncBody,
) -> ApiResult<Request> {
    let (_, tz) = account_tz(state, tenant_id, account_id).await?;
    let now = state.clock.now();
    let window = match (body.from.as_deref(), body.to.as_deref()) {
        (None, None) => None,
        (from, to) => {
            let to = match to {
                Some(raw) => bound("to", raw, tz, true)?,
                None => now,
            };
            let from = match from {
                Some(raw) => bound("from", raw, tz, false)?,
                None => to - sync::TRAILING,
            };
            if from >= to {
                return Err(ApiError::invalid("from", "from must be before to"));
            }
            if to - from > sync::MAX_BACKFILL {
                return Err(ApiError::invalid(
                    "from",
                    format!(
                        "a backfill may span at most {} days; split it",
                        sync::MAX_BACKFILL.num_days()
                    ),
                ));
            }
            Some((from, to))
        }
    };
    Ok(Request {
        window,
        line_item_campaigns: body.line_item_campaign_ids,
    })
}

/// What `POST …/accounts/{account_id}/stats/sync` with `body` starts (its account id already
/// checked at the edge), without waiting: the run's id (or that of the account's run it joined),
/// the run going on in the background (the UI follows it in `sync_runs`, as
/// `GET …/stats/sync/{id}` does). Refusals (unknown account, a bad window, X unreachable) are
/// errors.
pub(crate) async fn sync_start(
    state: &AppState,
    tenant_id: &str,
    account_id: &str,
    body: SyncBody,
) -> ApiResult<String> {
    let request = on_demand_request(state, tenant_id, account_id, body).await?;
    begin_on_demand(state, tenant_id, account_id.to_owned(), request).await
}

async fn sync_status(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    path: PathIds,
    wait: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(wait) = wait?;
    // A run is looked up by tenant and id and must be the path's account's: ids that cannot be
    // an account's or a run's find nothing, as an unknown one does.
    let (Ok(account), Some(sync_id)) = (path.account(), ids::local_id(path.raw("sync_id"))) else {
        return Err(ApiError::not_found("sync"));
    };
    let (account_id, sync_id) = (account.into_string(), sync_id.to_owned());
    let run = sync_runs::get_run(&state.db, &tenant.id, &sync_id)
        .await?
        .filter(|r| r.account_id == account_id)
        .ok_or_else(|| ApiError::not_found("sync"))?;
    if run.status != "running" || !wait.wait.unwrap_or(false) {
        return Ok(Json(run_json(&run)));
    }
    Ok(Json(run_json(
        &wait_for_run(&state, &tenant.id, &sync_id).await?,
    )))
}

#[derive(Debug, Deserialize)]
struct RateIn {
    date: String,
    currency: String,
    usd_per_unit: Value,
}

fn rate_in(r: &RateIn, i: usize) -> Result<fx::Rate, ApiError> {
    let field = |f: &str| format!("rates[{i}].{f}");
    let value = match &r.usd_per_unit {
        Value::String(s) => s.clone(),
        // A JSON number is accepted as the text it was written with (no float on the way).
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::invalid(
                &field("usd_per_unit"),
                "must be a decimal string",
            ));
        }
    };
    Ok(fx::Rate {
        date: fx::date(&r.date).map_err(|e| e.at(&field("date")))?,
        currency: fx::currency(&r.currency).map_err(|e| e.at(&field("currency")))?,
        usd_per_unit: fx::rate_value(&value).map_err(|e| e.at(&field("usd_per_unit")))?,
        source: Source::Api,
    })
}

async fn add_rates(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(body) = body?;
    let items: Vec<Value> = match body {
        Value::Array(items) => items,
        Value::Object(ref o) if o.contains_key("rates") => {
            o["rates"].as_array().cloned().unwrap_or_default()
        }
        other => vec![other],
    };
    if items.is_empty() {
        return Err(ApiError::invalid("rates", "no rates given"));
    }
    let mut rates = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let r: RateIn = serde_json::from_value(item).map_err(|e| {
            ApiError::invalid(
                &format!("rates[{i}]"),
                format!("expected {{date, currency, usd_per_unit}}: {e}"),
            )
        })?;
        rates.push(rate_in(&r, i)?);
    }
    // The tenant's own override: it converts this tenant's rows and no one else's.
    let (changed, rows) = sync::import_tenant_rates(&state, &tenant.id, &rates).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "rates": rates.len(), "currencies_changed": changed, "rows_reconverted": rows }),
        ),
    ))
}

/// `GET /api/v1/fx_rates`' query.
#[derive(Debug, Deserialize)]
pub(super) struct RatesQuery {
    pub(super) currency: Option<String>,
    pub(super) cursor: Option<String>,
    pub(super) count: Option<u32>,
}

async fn list_rates(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    q: Result<Query<RatesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q?;
    let currency = match q.currency.as_deref() {
        None | Some("") => None,
        Some(c) => Some(fx::currency(c).map_err(|e| e.at("currency"))?),
    };
    let count = paging::count(q.count)?;
    let after = match paging::decode(q.cursor.as_deref(), 3)? {
        None => None,
        Some(k) => Some((
            chrono::NaiveDate::parse_from_str(&k[0], "%Y-%m-%d").map_err(|_| {
                crate::manage::input::Invalid {
                    field: "cursor".into(),
                    message: "not a cursor this API returned".into(),
                }
            })?,
            k[1].clone(),
            k[2].clone(),
        )),
    };
    let mut rates = fx_rates::page(
        &state.db,
        &tenant.id,
        currency.as_deref(),
        after.as_ref().map(|(d, c, s)| (*d, c.as_str(), s.as_str())),
        count + 1,
    )
    .await?;
    let next_cursor = if rates.len() as i64 > count {
        rates.truncate(count as usize);
        rates
            .last()
            .map(|r| paging::encode(&[&r.date.to_string(), &r.currency, r.source.as_str()]))
    } else {
        None
    };
    Ok(Json(json!({
        "data": rates.iter().map(|r| json!({
            "date": r.date.to_string(),
            "currency": r.currency,
            "usd_per_unit": r.usd_per_unit.normalize().to_string(),
            "source": r.source.as_str(),
        })).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// The tile's `sync` field: the laggiest account's last success and lag, and the latest error
/// of an account still failing.
pub(super) async fn sync_health(
    state: &AppState,
    tenant_id: &str,
) -> Result<Value, crate::db::DbError> {
    let accounts = connections::ad_accounts(&state.db, tenant_id).await?;
    let health = sync_runs::all_health(&state.db, tenant_id).await?;
    let now = state.clock.now();
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut never = false;
    let mut error: Option<(DateTime<Utc>, String)> = None;
    for a in &accounts {
        let h = health
            .iter()
            .find(|(id, _)| *id == a.id)
            .map(|(_, h)| h.clone())
            .unwrap_or_default();
        match h.last_success_at {
            Some(t) => oldest = Some(oldest.map_or(t, |o| o.min(t))),
            None => never = true,
        }
        if let (Some(at), Some(msg)) = (h.last_error_at, h.last_error.as_ref())
            && h.last_success_at.is_none_or(|s| s < at)
            && error.as_ref().is_none_or(|(t, _)| *t < at)
        {
            error = Some((at, format!("{}: {msg}", a.id)));
        }
    }
    let last = if never { None } else { oldest };
    let backfill = crate::store::backfills::latest(&state.db, tenant_id, None).await?;
    Ok(json!({
        "last_success_at": last.map(rfc3339),
        "lag_seconds": last.map(|t| (now - t).num_seconds().max(0)),
        "last_error": error.map(|(_, m)| m),
        "backfill": backfill.as_ref().map(super::backfill::backfill_json),
    }))
}
