//! Sync bookkeeping: the (account, slot) leases that make each scheduled sync run once across
//! instances, the runs with their counts, and per-account sync health.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{from_millis, millis};
use crate::db::{Db, DbError};

/// An ad account that syncs: its tenant holds a working connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncTarget {
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
}

/// Every (tenant, ad account) whose connection is usable, in a stable order.
pub async fn targets(db: &Db) -> Result<Vec<SyncTarget>, DbError> {
    let rows = sqlx::query(
        "SELECT a.tenant_id, a.id FROM ad_accounts a JOIN connections c ON c.tenant_id = a.tenant_id
         WHERE a.deleted = 0 AND c.status IN ('connected', 'error')
         ORDER BY a.tenant_id, a.id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| SyncTarget {
            tenant_id: r.get(0),
            account_id: r.get(1),
        })
        .collect())
}

/// Claims the scheduler slot `slot` of an account for `holder`, for `hold` from the database's
/// now. Exactly one caller wins a fresh slot (a conditional insert on the primary key); a slot
/// whose holder stopped without finishing can be taken over once its lease lapsed by the
/// database's clock (a conditional update). The holder renews it with [`renew_slot`].
pub async fn claim_slot(
    db: &Db,
    target: &SyncTarget,
    slot: DateTime<Utc>,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    let db_now = db.now_ms_sql();
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sync_leases (tenant_id, account_id, slot, holder, lease_until, done)
         VALUES ($1, $2, $3, $4, {db_now} + $5, 0)
         ON CONFLICT (tenant_id, account_id, slot) DO NOTHING"
    )))
    .bind(&target.tenant_id)
    .bind(&target.account_id)
    .bind(millis(slot))
    .bind(holder)
    .bind(super::lease_ms(hold))
    .execute(db.pool())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(true);
    }
    let taken = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sync_leases SET holder = $1, lease_until = {db_now} + $2
         WHERE tenant_id = $3 AND account_id = $4 AND slot = $5 AND done = 0
           AND lease_until < {db_now}"
    )))
    .bind(holder)
    .bind(super::lease_ms(hold))
    .bind(&target.tenant_id)
    .bind(&target.account_id)
    .bind(millis(slot))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Extends `holder`'s lease on a slot by `hold` from the database's now, while its run lasts;
/// `false` once another holder has it.
pub async fn renew_slot(
    db: &Db,
    target: &SyncTarget,
    slot: DateTime<Utc>,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sync_leases SET lease_until = {} + $1
         WHERE tenant_id = $2 AND account_id = $3 AND slot = $4 AND holder = $5 AND done = 0",
        db.now_ms_sql()
    )))
    .bind(super::lease_ms(hold))
    .bind(&target.tenant_id)
    .bind(&target.account_id)
    .bind(millis(slot))
    .bind(holder)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks a slot done (it is never run again) — or, after a failure, releases it so that the
/// next tick of any instance retries it.
pub async fn finish_slot(
    db: &Db,
    target: &SyncTarget,
    slot: DateTime<Utc>,
    holder: &str,
    succeeded: bool,
) -> Result<(), DbError> {
    let sql = if succeeded {
        "UPDATE sync_leases SET done = 1 WHERE tenant_id = $1 AND account_id = $2 AND slot = $3 AND holder = $4"
    } else {
        "UPDATE sync_leases SET lease_until = 0 WHERE tenant_id = $1 AND account_id = $2 AND slot = $3 AND holder = $4"
    };
    sqlx::query(sql)
        .bind(&target.tenant_id)
        .bind(&target.account_id)
        .bind(millis(slot))
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes leases of slots older than `before` (they only guard the current slot).
pub async fn sweep_leases(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM sync_leases WHERE slot < $1")
        .bind(millis(before))
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// How a run was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The hourly scheduler.
    Scheduled,
    /// `POST …/stats/sync`.
    OnDemand,
    /// `xads sync`.
    Cli,
}

impl Trigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::OnDemand => "on_demand",
            Trigger::Cli => "cli",
        }
    }
}

/// The counts a run reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls made to X (mirror refresh, active entities, stats).
    pub x_calls: i64,
    /// Entities in the refreshed mirror.
    pub entities: i64,
    /// Entities `active_entities` returned.
    pub active_entities: i64,
    /// Stats rows written.
    pub rows_upserted: i64,
}

/// One sync run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRun {
    /// `syn_…`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
    /// How it started.
    pub trigger: String,
    /// `running | succeeded | failed`.
    pub status: String,
    /// The stats window, when known.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Its counts so far.
    pub counts: Counts,
    /// Why it failed: a message safe to show (never SQL or a transport chain).
    pub error: Option<String>,
    /// The API's error code of the failure (`x_rate_limited`, `not_connected`, `internal`, …).
    pub error_code: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
}

/// How [`start_run`] ended: a new run, or the one already running for the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The run was recorded as `running`, with its lease; the caller executes it.
    New(String),
    /// Another run of the account is running (its lease live): its id. Nothing was recorded.
    Running(String),
}

/// Records a run as started, unless one of the account is running: at most one `running` run per
/// account (a partial unique index). A run holds a lease of `hold` by the database's clock,
/// renewed by [`renew_run`] while it executes; a run whose lease lapsed (its instance died) is
/// failed as interrupted here first, so it does not block the account.
pub async fn start_run(
    db: &Db,
    id: &str,
    target: &SyncTarget,
    trigger: Trigger,
    now: DateTime<Utc>,
    hold: std::time::Duration,
) -> Result<Begun, DbError> {
    let db_now = db.now_ms_sql();
    for _ in 0..5 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sync_runs SET status = 'failed', error = $1, error_code = 'interrupted',
                finished_at = $2
             WHERE tenant_id = $3 AND account_id = $4 AND status = 'running'
               AND lease_until IS NOT NULL AND lease_until < {db_now}"
        )))
        .bind(INTERRUPTED)
        .bind(millis(now))
        .bind(&target.tenant_id)
        .bind(&target.account_id)
        .execute(db.pool())
        .await?;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sync_runs (id, tenant_id, account_id, trigger_kind, status, started_at, lease_until)
             VALUES ($1, $2, $3, $4, 'running', $5, {db_now} + $6)
             ON CONFLICT DO NOTHING"
        )))
        .bind(id)
        .bind(&target.tenant_id)
        .bind(&target.account_id)
        .bind(trigger.as_str())
        .bind(millis(now))
        .bind(super::lease_ms(hold))
        .execute(db.pool())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Begun::New(id.to_owned()));
        }
        let running: Option<String> = sqlx::query_scalar(
            "SELECT id FROM sync_runs WHERE tenant_id = $1 AND account_id = $2 AND status = 'running'",
        )
        .bind(&target.tenant_id)
        .bind(&target.account_id)
        .fetch_optional(db.pool())
        .await?;
        if let Some(running) = running {
            return Ok(Begun::Running(running));
        }
        // It ended between the insert and the read: try again.
    }
    Err(DbError::Corrupt("a running sync kept starting and ending"))
}

/// Extends a running run's lease by `hold` from the database's now; `false` once it is no
/// longer running (finished, or failed as interrupted by another instance).
pub async fn renew_run(db: &Db, id: &str, hold: std::time::Duration) -> Result<bool, DbError> {
    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sync_runs SET lease_until = {} + $1 WHERE id = $2 AND status = 'running'",
        db.now_ms_sql()
    )))
    .bind(super::lease_ms(hold))
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The error text of a run whose instance stopped.
const INTERRUPTED: &str = "the instance running this sync stopped";

/// Why a run failed, as it is kept: the API's error code and a message safe to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure<'a> {
    /// The API's error code.
    pub code: &'a str,
    /// The safe message.
    pub message: &'a str,
}

/// Records how a run ended, and the account's sync health with it.
pub async fn finish_run(
    db: &Db,
    id: &str,
    target: &SyncTarget,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    counts: Counts,
    failure: Option<Failure<'_>>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE sync_runs SET status = $1, window_from = $2, window_to = $3, x_calls = $4,
            entities = $5, active_entities = $6, rows_upserted = $7, error = $8, finished_at = $9,
            error_code = $10
         WHERE id = $11",
    )
    .bind(if failure.is_none() {
        "succeeded"
    } else {
        "failed"
    })
    .bind(window.map(|w| millis(w.0)))
    .bind(window.map(|w| millis(w.1)))
    .bind(counts.x_calls)
    .bind(counts.entities)
    .bind(counts.active_entities)
    .bind(counts.rows_upserted)
    .bind(failure.map(|f| f.message))
    .bind(millis(now))
    .bind(failure.map(|f| f.code))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    match failure.map(|f| f.message) {
        None => {
            // `synced_until` only moves forward: a backfill of an old range must not make the
            // next hourly run forget what it already covered.
            sqlx::query(
                "INSERT INTO sync_health (tenant_id, account_id, last_success_at, synced_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, account_id) DO UPDATE SET last_success_at = excluded.last_success_at,
                    synced_until = CASE WHEN sync_health.synced_until IS NULL
                        OR sync_health.synced_until < excluded.synced_until
                        THEN excluded.synced_until ELSE sync_health.synced_until END",
            )
            .bind(&target.tenant_id)
            .bind(&target.account_id)
            .bind(millis(now))
            .bind(window.map(|w| millis(w.1)))
            .execute(&mut *tx)
            .await?;
        }
        Some(e) => {
            sqlx::query(
                "INSERT INTO sync_health (tenant_id, account_id, last_error, last_error_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, account_id) DO UPDATE SET last_error = excluded.last_error,
                    last_error_at = excluded.last_error_at",
            )
            .bind(&target.tenant_id)
            .bind(&target.account_id)
            .bind(e)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

fn run_from_row(r: &AnyRow) -> SyncRun {
    let from: Option<i64> = r.get(5);
    let to: Option<i64> = r.get(6);
    SyncRun {
        id: r.get(0),
        tenant_id: r.get(1),
        account_id: r.get(2),
        trigger: r.get(3),
        status: r.get(4),
        window: from.zip(to).map(|(f, t)| (from_millis(f), from_millis(t))),
        counts: Counts {
            x_calls: r.get(7),
            entities: r.get(8),
            active_entities: r.get(9),
            rows_upserted: r.get(10),
        },
        error: r.get(11),
        started_at: from_millis(r.get(12)),
        finished_at: r.get::<Option<i64>, _>(13).map(from_millis),
        error_code: r.get(14),
    }
}

const RUN_COLUMNS: &str = "id, tenant_id, account_id, trigger_kind, status, window_from, window_to, \
    x_calls, entities, active_entities, rows_upserted, error, started_at, finished_at, error_code";

/// One run of the tenant (`None` for another tenant's id).
pub async fn get_run(db: &Db, tenant_id: &str, id: &str) -> Result<Option<SyncRun>, DbError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(run_from_row))
}

/// Every run of an account, oldest first (tests and the CLI).
pub async fn runs(db: &Db, tenant_id: &str, account_id: &str) -> Result<Vec<SyncRun>, DbError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 AND account_id = $2 ORDER BY started_at, id"
    )))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(run_from_row).collect())
}

/// Marks runs still `running` whose lease lapsed as failed (their instance died); runs recorded
/// before runs had leases count by their start, before `before`.
pub async fn fail_stale_runs(
    db: &Db,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sync_runs SET status = 'failed', error = $1, error_code = 'interrupted',
            finished_at = $2
         WHERE status = 'running'
           AND (lease_until < {} OR (lease_until IS NULL AND started_at < $3))",
        db.now_ms_sql()
    )))
    .bind(INTERRUPTED)
    .bind(millis(now))
    .bind(millis(before))
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// The sync health of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// When the last successful sync ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// End of the last successfully synced window.
    pub synced_until: Option<DateTime<Utc>>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The account's health (default when it never synced).
pub async fn health(db: &Db, tenant_id: &str, account_id: &str) -> Result<Health, DbError> {
    Ok(all_health(db, tenant_id)
        .await?
        .into_iter()
        .find(|(a, _)| a == account_id)
        .map(|(_, h)| h)
        .unwrap_or_default())
}

/// The health of each of the tenant's accounts that ever synced.
pub async fn all_health(db: &Db, tenant_id: &str) -> Result<Vec<(String, Health)>, DbError> {
    let rows = sqlx::query(
        "SELECT account_id, last_success_at, synced_until, last_error, last_error_at
         FROM sync_health WHERE tenant_id = $1 ORDER BY account_id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                Health {
                    last_success_at: r.get::<Option<i64>, _>(1).map(from_millis),
                    synced_until: r.get::<Option<i64>, _>(2).map(from_millis),
                    last_error: r.get(3),
                    last_error_at: r.get::<Option<i64>, _>(4).map(from_millis),
                },
            )
        })
        .collect())
}

/// The sync health of every account of every tenant, as `(tenant_id, account_id, health)`
/// (for `/metrics`).
pub async fn health_everywhere(db: &Db) -> Result<Vec<(String, String, Health)>, DbError> {
    let rows = sqlx::query(
        "SELECT tenant_id, account_id, last_success_at, synced_until, last_error, last_error_at
         FROM sync_health ORDER BY tenant_id, account_id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                Health {
                    last_success_at: r.get::<Option<i64>, _>(2).map(from_millis),
                    synced_until: r.get::<Option<i64>, _>(3).map(from_millis),
                    last_error: r.get(4),
                    last_error_at: r.get::<Option<i64>, _>(5).map(from_millis),
                },
            )
        })
        .collect())
}
