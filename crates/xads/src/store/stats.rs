//! Hourly stats rows (one per tenant, account, entity, hour, placement), their USD conversion,
//! per-account sync settings and the campaigns whose line items get their own stats.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::fx_rates::Series;
use super::{from_millis, millis};
use crate::db::{Backend, Db, DbError};

/// One stored hour of one entity in one placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    /// The ad account.
    pub account_id: String,
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: String,
    /// X's id.
    pub entity_id: String,
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// `ALL_ON_TWITTER`, …
    pub placement: String,
    /// Impressions.
    pub impressions: i64,
    /// Clicks.
    pub clicks: i64,
    /// Engagements.
    pub engagements: i64,
    /// Retweets.
    pub retweets: i64,
    /// Likes.
    pub likes: i64,
    /// Replies.
    pub replies: i64,
    /// Follows.
    pub follows: i64,
    /// Billed engagements.
    pub billed_engagements: i64,
    /// Conversions (web purchases, plus mobile installs when asked for).
    pub conversions: i64,
    /// ISO-4217 of the spend.
    pub currency: String,
    /// Spend in local micros.
    pub spend_local_micro: i64,
    /// The conversion, when a rate is known.
    pub fx: Option<Fx>,
}

/// The USD conversion of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fx {
    /// USD per one unit of the row's currency.
    pub rate: Decimal,
    /// The rate's date.
    pub date: NaiveDate,
    /// Where the rate came from.
    pub source: String,
    /// Spend in USD, 6 places.
    pub spend_usd: Decimal,
}

impl StatRow {
    /// Sets the conversion from the rates of the row's currency (the latest on or before the
    /// UTC date of its hour); clears it when there is none.
    pub fn convert(&mut self, rates: Option<&Series>) {
        self.fx = rates
            .and_then(|s| crate::fx::rate_on(s, self.hour.date_naive()))
            .map(|(date, rate, source)| Fx {
                rate: *rate,
                date: *date,
                source: source.clone(),
                spend_usd: crate::fx::spend_usd(self.spend_local_micro, *rate),
            });
    }
}

const COLUMNS: &str = "account_id, entity, entity_id, hour, placement, impressions, clicks, \
    engagements, retweets, likes, replies, follows, billed_engagements, conversions, currency, \
    spend_local_micro, fx_rate, fx_rate_date, fx_source, spend_usd";
/// Bound values per row in an upsert (the columns above plus tenant and fetch time).
const BINDS: usize = 22;
/// Rows per statement: well under SQLite's 32 766 and Postgres' 65 535 bound values.
const BATCH: usize = 1000;

/// The multi-row upsert. SQLite gets anonymous `?` placeholders here, the one exception to the
/// `$n` convention: SQLite treats `$1` as a *named* parameter and looks names up linearly, which
/// makes binding thousands of them quadratic (measured: 97% of ingestion time).
fn upsert_sql(rows: usize, backend: Backend) -> String {
    let mut sql = format!("INSERT INTO stats_hourly (tenant_id, fetched_at, {COLUMNS}) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..BINDS {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${}", r * BINDS + c + 1);
                }
            }
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(UPDATE_SET);
    sql
}

/// Inserts or replaces rows on their key, in one transaction; returns how many were written.
pub async fn upsert(
    db: &Db,
    tenant_id: &str,
    rows: &[StatRow],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    if db.backend() == Backend::Postgres {
        return upsert_pg(db, tenant_id, rows, now).await;
    }
    let full_sql = upsert_sql(BATCH, db.backend());
    let mut tx = db.pool().begin().await?;
    for chunk in rows.chunks(BATCH) {
        let tail_sql;
        let sql = if chunk.len() == BATCH {
            &full_sql
        } else {
            tail_sql = upsert_sql(chunk.len(), db.backend());
            &tail_sql
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for r in chunk {
            let fx = r.fx.as_ref();
            q = q
                .bind(tenant_id)
                .bind(millis(now))
                .bind(r.account_id.as_str())
                .bind(r.entity.as_str())
                .bind(r.entity_id.as_str())
                .bind(millis(r.hour))
                .bind(r.placement.as_str())
                .bind(r.impressions)
                .bind(r.clicks)
                .bind(r.engagements)
                .bind(r.retweets)
                .bind(r.likes)
                .bind(r.replies)
                .bind(r.follows)
                .bind(r.billed_engagements)
                .bind(r.conversions)
                .bind(r.currency.as_str())
                .bind(r.spend_local_micro)
                .bind(fx.map(|f| f.rate.to_string()))
                .bind(fx.map(|f| f.date.to_string()))
                .bind(fx.map(|f| f.source.clone()))
                .bind(fx.map(|f| f.spend_usd.to_string()));
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Rows per statement on Postgres, sent as one JSON document.
const PG_BATCH: usize = 5000;

const UPDATE_SET: &str =
    "ON CONFLICT (tenant_id, account_id, entity, entity_id, hour, placement) DO UPDATE SET
    impressions = excluded.impressions, clicks = excluded.clicks,
    engagements = excluded.engagements, retweets = excluded.retweets,
    likes = excluded.likes, replies = excluded.replies, follows = excluded.follows,
    billed_engagements = excluded.billed_engagements, conversions = excluded.conversions,
    currency = excluded.currency, spend_local_micro = excluded.spend_local_micro,
    fx_rate = excluded.fx_rate, fx_rate_date = excluded.fx_rate_date,
    fx_source = excluded.fx_source, spend_usd = excluded.spend_usd,
    fetched_at = excluded.fetched_at";

fn push_json_str(out: &mut String, s: Option<&str>) {
    match s {
        None => out.push_str("null"),
        Some(s) => out.push_str(&serde_json::Value::from(s).to_string()),
    }
}

/// Postgres: the rows travel as one JSON parameter expanded by `json_to_recordset`. Thousands of
/// separate bound values per statement cost Postgres far more to plan and bind (measured ~5×
/// slower) than parsing one document.
async fn upsert_pg(
    db: &Db,
    tenant_id: &str,
    rows: &[StatRow],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let sql = format!(
        "INSERT INTO stats_hourly (tenant_id, fetched_at, {COLUMNS})
         SELECT $1, $2, t.a, t.b, t.c, t.d, t.e, t.f, t.g, t.h, t.i, t.j, t.k, t.l, t.m, t.n,
                t.o, t.p, t.q, t.r, t.s, t.u
         FROM json_to_recordset($3::json) AS t(a text, b text, c text, d bigint, e text,
              f bigint, g bigint, h bigint, i bigint, j bigint, k bigint, l bigint, m bigint,
              n bigint, o text, p bigint, q text, r text, s text, u text)
         {UPDATE_SET}"
    );
    let mut tx = db.pool().begin().await?;
    for chunk in rows.chunks(PG_BATCH) {
        let mut doc = String::with_capacity(chunk.len() * 320);
        doc.push('[');
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            let fx = r.fx.as_ref();
            doc.push_str("{\"a\":");
            push_json_str(&mut doc, Some(&r.account_id));
            doc.push_str(",\"b\":");
            push_json_str(&mut doc, Some(&r.entity));
            doc.push_str(",\"c\":");
            push_json_str(&mut doc, Some(&r.entity_id));
            let _ = write!(doc, ",\"d\":{},\"e\":", millis(r.hour));
            push_json_str(&mut doc, Some(&r.placement));
            let _ = write!(
                doc,
                ",\"f\":{},\"g\":{},\"h\":{},\"i\":{},\"j\":{},\"k\":{},\"l\":{},\"m\":{},\"n\":{},\"o\":",
                r.impressions,
                r.clicks,
                r.engagements,
                r.retweets,
                r.likes,
                r.replies,
                r.follows,
                r.billed_engagements,
                r.conversions
            );
            push_json_str(&mut doc, Some(&r.currency));
            let _ = write!(doc, ",\"p\":{},\"q\":", r.spend_local_micro);
            push_json_str(&mut doc, fx.map(|f| f.rate.to_string()).as_deref());
            doc.push_str(",\"r\":");
            push_json_str(&mut doc, fx.map(|f| f.date.to_string()).as_deref());
            doc.push_str(",\"s\":");
            push_json_str(&mut doc, fx.map(|f| f.source.as_str()));
            doc.push_str(",\"u\":");
            push_json_str(&mut doc, fx.map(|f| f.spend_usd.to_string()).as_deref());
            doc.push('}');
        }
        doc.push(']');
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(millis(now))
            .bind(doc)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

fn from_row(r: &AnyRow) -> Result<StatRow, DbError> {
    let corrupt = |_| DbError::Corrupt("stats_hourly holds a malformed FX value");
    let fx = match (
        r.get::<Option<String>, _>(16),
        r.get::<Option<String>, _>(17),
        r.get::<Option<String>, _>(18),
        r.get::<Option<String>, _>(19),
    ) {
        (Some(rate), Some(date), Some(source), Some(usd)) => Some(Fx {
            rate: rate.parse().map_err(corrupt)?,
            date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|_| DbError::Corrupt("stats_hourly.fx_rate_date is not a date"))?,
            source,
            spend_usd: usd.parse().map_err(corrupt)?,
        }),
        _ => None,
    };
    Ok(StatRow {
        account_id: r.get(0),
        entity: r.get(1),
        entity_id: r.get(2),
        hour: from_millis(r.get(3)),
        placement: r.get(4),
        impressions: r.get(5),
        clicks: r.get(6),
        engagements: r.get(7),
        retweets: r.get(8),
        likes: r.get(9),
        replies: r.get(10),
        follows: r.get(11),
        billed_engagements: r.get(12),
        conversions: r.get(13),
        currency: r.get(14),
        spend_local_micro: r.get(15),
        fx,
    })
}

/// Stored rows of an account in `[from, to)`, of one entity type, optionally only some ids,
/// ordered by entity id, placement and hour.
pub async fn query(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    entity: &str,
    ids: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StatRow>, DbError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stats_hourly
         WHERE tenant_id = $1 AND account_id = $2 AND entity = $3 AND hour >= $4 AND hour < $5
         ORDER BY entity_id, placement, hour"
    )))
    .bind(tenant_id)
    .bind(account_id)
    .bind(entity)
    .bind(millis(from))
    .bind(millis(to))
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = from_row(r)?;
        if ids.is_empty() || ids.contains(&row.entity_id) {
            out.push(row);
        }
    }
    Ok(out)
}

/// How many rows are stored for the account (tests and the CLI's summary).
pub async fn count(db: &Db, tenant_id: &str, account_id: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM stats_hourly WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(db.pool())
    .await?)
}

/// Re-converts the rows of `currency` from `since` on (all tenants) with `rates`, writing only
/// rows whose conversion changed: how new or corrected rates reach rows already stored,
/// including rows that had none. Returns the number of rows updated.
pub async fn reconvert(
    db: &Db,
    currency: &str,
    since: NaiveDate,
    rates: &Series,
) -> Result<u64, DbError> {
    let since_ms = millis(since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, tenant_id FROM stats_hourly WHERE currency = $1 AND hour >= $2"
    )))
    .bind(currency)
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?;
    let mut tx = db.pool().begin().await?;
    let mut updated = 0;
    for r in &rows {
        let mut row = from_row(r)?;
        let before = row.fx.clone();
        row.convert(Some(rates));
        if row.fx == before {
            continue;
        }
        let fx = row.fx.as_ref();
        updated += sqlx::query(
            "UPDATE stats_hourly SET fx_rate = $1, fx_rate_date = $2, fx_source = $3, spend_usd = $4
             WHERE tenant_id = $5 AND account_id = $6 AND entity = $7 AND entity_id = $8
               AND hour = $9 AND placement = $10",
        )
        .bind(fx.map(|f| f.rate.to_string()))
        .bind(fx.map(|f| f.date.to_string()))
        .bind(fx.map(|f| f.source.clone()))
        .bind(fx.map(|f| f.spend_usd.to_string()))
        .bind(r.get::<String, _>(20))
        .bind(&row.account_id)
        .bind(&row.entity)
        .bind(&row.entity_id)
        .bind(millis(row.hour))
        .bind(&row.placement)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(updated)
}

/// Per-account sync settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Placements to pull, one call each (default `ALL_ON_TWITTER`).
    pub placements: Vec<String>,
    /// Conversion metric groups to add: `WEB_CONVERSION` (default, same call) and/or
    /// `MOBILE_CONVERSION` (X wants it in a call of its own).
    pub conversions: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            placements: vec!["ALL_ON_TWITTER".into()],
            conversions: vec!["WEB_CONVERSION".into()],
        }
    }
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The account's settings (defaults when never set).
pub async fn settings(db: &Db, tenant_id: &str, account_id: &str) -> Result<Settings, DbError> {
    let row = sqlx::query(
        "SELECT placements, conversions FROM stats_settings WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        None => Settings::default(),
        Some(r) => Settings {
            placements: split(&r.get::<String, _>(0)),
            conversions: split(&r.get::<String, _>(1)),
        },
    })
}

/// Replaces the account's settings.
pub async fn set_settings(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    s: &Settings,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO stats_settings (tenant_id, account_id, placements, conversions) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET placements = excluded.placements,
            conversions = excluded.conversions",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(s.placements.join(","))
    .bind(s.conversions.join(","))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Asks every later sync to also pull `LINE_ITEM` stats for the line items of these campaigns
/// (experiments compare line items of one campaign).
pub async fn track_line_items(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    campaign_ids: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for c in campaign_ids {
        sqlx::query(
            "INSERT INTO stats_line_item_campaigns (tenant_id, account_id, campaign_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, account_id, campaign_id) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(c)
        .bind(millis(now))
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// Stops pulling `LINE_ITEM` stats for these campaigns (rows already stored stay).
pub async fn untrack_line_items(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    campaign_ids: &[String],
) -> Result<(), DbError> {
    for c in campaign_ids {
        sqlx::query(
            "DELETE FROM stats_line_item_campaigns WHERE tenant_id = $1 AND account_id = $2 AND campaign_id = $3",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(c)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// The campaigns whose line items get `LINE_ITEM` stats.
pub async fn line_item_campaigns(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT campaign_id FROM stats_line_item_campaigns WHERE tenant_id = $1 AND account_id = $2
         ORDER BY campaign_id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?)
}

/// The currency of each mirrored campaign and line item of the account (from the mirror's
/// `currency` field, which X copies from the funding instrument).
pub async fn entity_currencies(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<HashMap<String, String>, DbError> {
    let rows = sqlx::query(
        "SELECT id, data FROM entities WHERE tenant_id = $1 AND account_id = $2
           AND kind IN ('campaign', 'line_item') AND dry_run = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let data: serde_json::Value =
            serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default();
        if let Some(c) = data.get("currency").and_then(|c| c.as_str()) {
            out.insert(r.get::<String, _>(0), c.to_owned());
        }
    }
    Ok(out)
}
