//! Experiments, their variants and the runner's claimed slots.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use xads_client::vocab::{COLUMNS, StatsEntityType};

use super::{from_millis, millis, stats};
use crate::db::{Db, DbError};

/// An experiment row.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// `exp_…`.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Ad account.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// The campaign the variants' line items live under.
    pub campaign_id: String,
    /// `ctr | conversion_rate | cpc | cpa`.
    pub primary_metric: String,
    /// `{mode, slot_hours?}`.
    pub schedule: Value,
    /// `{min_impressions, min_conversions, max_days}`.
    pub rules: Value,
    /// `creating | ready | running | stopped | concluded | failed`.
    pub status: String,
    /// Made in dry-run.
    pub dry_run: bool,
    /// Why creation stopped, or the drift the runner saw.
    pub problem: Option<String>,
    /// The chosen variant.
    pub winner: Option<String>,
    /// Why it was concluded so.
    pub conclusion: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Stopped or concluded.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// A variant row.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Position (0-based).
    pub idx: i32,
    /// Name.
    pub name: String,
    /// The variant the treatments are compared with.
    pub control: bool,
    /// The creative tweet.
    pub tweet_id: String,
    /// The line item's settings (API JSON).
    pub line_item: Value,
    /// Set once the line item exists.
    pub line_item_id: Option<String>,
    /// Set once the tweet is promoted.
    pub promoted_tweet_id: Option<String>,
    /// What the runner last set.
    pub expected_paused: bool,
    /// A change made outside xads, when seen.
    pub drift: Option<String>,
}

const COLS: &str = "id, tenant_id, account_id, name, campaign_id, primary_metric, schedule, rules, status, dry_run, problem, winner, conclusion, created_at, started_at, stopped_at";

fn json(s: String) -> Result<Value, DbError> {
    serde_json::from_str(&s).map_err(|_| DbError::Corrupt("experiment JSON column"))
}

fn experiment(r: &sqlx::any::AnyRow) -> Result<Experiment, DbError> {
    Ok(Experiment {
        id: r.get(0),
        tenant_id: r.get(1),
        account_id: r.get(2),
        name: r.get(3),
        campaign_id: r.get(4),
        primary_metric: r.get(5),
        schedule: json(r.get(6))?,
        rules: json(r.get(7))?,
        status: r.get(8),
        dry_run: r.get::<i16, _>(9) != 0,
        problem: r.get(10),
        winner: r.get(11),
        conclusion: r.get(12),
        created_at: from_millis(r.get(13)),
        started_at: r.get::<Option<i64>, _>(14).map(from_millis),
        stopped_at: r.get::<Option<i64>, _>(15).map(from_millis),
    })
}

/// Inserts an experiment with its variants (status `creating`).
pub async fn insert(db: &Db, e: &Experiment, variants: &[Variant]) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO experiments (id, tenant_id, account_id, name, campaign_id, primary_metric, schedule, rules,
            status, dry_run, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&e.id)
    .bind(&e.tenant_id)
    .bind(&e.account_id)
    .bind(&e.name)
    .bind(&e.campaign_id)
    .bind(&e.primary_metric)
    .bind(e.schedule.to_string())
    .bind(e.rules.to_string())
    .bind(&e.status)
    .bind(i16::from(e.dry_run))
    .bind(millis(e.created_at))
    .execute(&mut *tx)
    .await?;
    for v in variants {
        sqlx::query(
            "INSERT INTO experiment_variants (experiment_id, idx, name, control, tweet_id, line_item, expected_paused)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(v.idx)
        .bind(&v.name)
        .bind(i16::from(v.control))
        .bind(&v.tweet_id)
        .bind(v.line_item.to_string())
        .bind(i16::from(v.expected_paused))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One experiment of the tenant in the account.
pub async fn get(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    id: &str,
) -> Result<Option<Experiment>, DbError> {
    let sql = format!(
        "SELECT {COLS} FROM experiments WHERE tenant_id = $1 AND account_id = $2 AND id = $3"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(account_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(experiment)
        .transpose()
}

/// The tenant's experiments in the account, newest first.
pub async fn list(db: &Db, tenant_id: &str, account_id: &str) -> Result<Vec<Experiment>, DbError> {
    page(db, tenant_id, account_id, None, i64::MAX).await
}

/// At most `limit` of the tenant's experiments in the account, newest first (creation time, then
/// id), after the `(created_at, id)` of the previous page's last one.
pub async fn page(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Experiment>, DbError> {
    let sql = format!(
        "SELECT {COLS} FROM experiments WHERE tenant_id = $1 AND account_id = $2
           AND ($3 = 0 OR created_at < $4 OR (created_at = $4 AND id > $5))
         ORDER BY created_at DESC, id LIMIT $6"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(account_id)
        .bind(i16::from(after.is_some()))
        .bind(after.map(|a| millis(a.0)).unwrap_or(0))
        .bind(after.map(|a| a.1).unwrap_or(""))
        .bind(limit)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(experiment)
        .collect()
}

/// Every running experiment (for the runner).
pub async fn running(db: &Db) -> Result<Vec<Experiment>, DbError> {
    let sql = format!("SELECT {COLS} FROM experiments WHERE status = 'running' ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(experiment)
        .collect()
}

/// The tenant's running experiments in every account (a disconnect stops them).
pub async fn running_of_tenant(db: &Db, tenant_id: &str) -> Result<Vec<Experiment>, DbError> {
    let sql = format!(
        "SELECT {COLS} FROM experiments WHERE tenant_id = $1 AND status = 'running' ORDER BY id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(experiment)
        .collect()
}

/// The variants, in order.
pub async fn variants(db: &Db, experiment_id: &str) -> Result<Vec<Variant>, DbError> {
    sqlx::query(
        "SELECT idx, name, control, tweet_id, line_item, line_item_id, promoted_tweet_id, expected_paused, drift
         FROM experiment_variants WHERE experiment_id = $1 ORDER BY idx",
    )
    .bind(experiment_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(Variant {
            idx: r.get(0),
            name: r.get(1),
            control: r.get::<i16, _>(2) != 0,
            tweet_id: r.get(3),
            line_item: json(r.get(4))?,
            line_item_id: r.get(5),
            promoted_tweet_id: r.get(6),
            expected_paused: r.get::<i16, _>(7) != 0,
            drift: r.get(8),
        })
    })
    .collect()
}

/// Records a variant's created line item / promoted tweet.
pub async fn set_variant_ids(
    db: &Db,
    experiment_id: &str,
    idx: i32,
    line_item_id: Option<&str>,
    promoted_tweet_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE experiment_variants SET line_item_id = COALESCE($1, line_item_id),
            promoted_tweet_id = COALESCE($2, promoted_tweet_id)
         WHERE experiment_id = $3 AND idx = $4",
    )
    .bind(line_item_id)
    .bind(promoted_tweet_id)
    .bind(experiment_id)
    .bind(idx)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records what the runner set on a variant, and any drift it saw.
pub async fn set_variant_state(
    db: &Db,
    experiment_id: &str,
    idx: i32,
    expected_paused: bool,
    drift: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE experiment_variants SET expected_paused = $1, drift = $2 WHERE experiment_id = $3 AND idx = $4",
    )
    .bind(i16::from(expected_paused))
    .bind(drift)
    .bind(experiment_id)
    .bind(idx)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Moves an experiment to `status`; `problem` replaces the stored one.
pub async fn set_status(
    db: &Db,
    id: &str,
    status: &str,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE experiments SET status = $1, problem = $2, updated_at = $3,
            started_at = CASE WHEN $1 = 'running' AND started_at IS NULL THEN $3 ELSE started_at END,
            stopped_at = CASE WHEN $1 IN ('stopped', 'concluded') THEN $3 ELSE stopped_at END
         WHERE id = $4",
    )
    .bind(status)
    .bind(problem)
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records the conclusion.
pub async fn conclude(
    db: &Db,
    id: &str,
    winner: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE experiments SET status = 'concluded', winner = $1, conclusion = $2, stopped_at = $3, updated_at = $3 WHERE id = $4",
    )
    .bind(winner)
    .bind(why)
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Claims a slot for the runner: exactly one caller across instances gets `true`.
pub async fn claim_slot(
    db: &Db,
    experiment_id: &str,
    slot: i64,
    live: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "INSERT INTO experiment_slots (experiment_id, slot, live, claimed_by, claimed_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (experiment_id, slot) DO NOTHING",
    )
    .bind(experiment_id)
    .bind(slot)
    .bind(live)
    .bind(holder)
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks a claimed slot as applied.
pub async fn slot_done(
    db: &Db,
    experiment_id: &str,
    slot: i64,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE experiment_slots SET done_at = $1 WHERE experiment_id = $2 AND slot = $3")
        .bind(millis(now))
        .bind(experiment_id)
        .bind(slot)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The claimed slots (for tests and the UI's history).
pub async fn slots(
    db: &Db,
    experiment_id: &str,
) -> Result<Vec<(i64, String, Option<i64>)>, DbError> {
    Ok(sqlx::query(
        "SELECT slot, live, done_at FROM experiment_slots WHERE experiment_id = $1 ORDER BY slot",
    )
    .bind(experiment_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect())
}

/// One line item's totals from its stored LINE_ITEM stats ([`line_item_totals`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineItemTotals {
    /// The line item.
    pub line_item_id: String,
    /// Impressions.
    pub impressions: i64,
    /// Clicks.
    pub clicks: i64,
    /// Web conversions.
    pub conversions: i64,
    /// App installs (hours where they were not asked count 0).
    pub installs: i64,
    /// Each hour's USD spend, a decimal string (hours without a rate left out).
    pub spend_usd: Vec<String>,
}

/// Per-line-item totals from the stored LINE_ITEM stats since `from`.
pub async fn line_item_totals(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    line_item_ids: &[String],
    from: DateTime<Utc>,
) -> Result<Vec<LineItemTotals>, DbError> {
    let mut out = Vec::new();
    for id in line_item_ids {
        // The metric columns by the client's table (`store::stats` indexes them).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, {}, {}, {}, spend_usd FROM stats_hourly
             WHERE tenant_id = $1 AND account_id = $2 AND entity = '{}' AND entity_id = $3 AND hour >= $4",
            COLUMNS[stats::IMPRESSIONS].name,
            COLUMNS[stats::CLICKS].name,
            COLUMNS[stats::CONVERSIONS].name,
            COLUMNS[stats::INSTALLS].name,
            StatsEntityType::LineItem.as_str(),
        )))
        .bind(tenant_id)
        .bind(account_id)
        .bind(id)
        .bind(millis(from))
        .fetch_all(db.pool())
        .await?;
        let mut t = LineItemTotals {
            line_item_id: id.clone(),
            ..LineItemTotals::default()
        };
        for r in rows {
            t.impressions += r.get::<i64, _>(0);
            t.clicks += r.get::<i64, _>(1);
            t.conversions += r.get::<i64, _>(2);
            t.installs += r.get::<Option<i64>, _>(3).unwrap_or(0);
            if let Some(s) = r.get::<Option<String>, _>(4) {
                t.spend_usd.push(s);
            }
        }
        out.push(t);
    }
    Ok(out)
}
