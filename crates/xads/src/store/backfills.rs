//! Backfills through X's asynchronous analytics jobs (`sync::backfill`): the backfill, leased to
//! the runner working on it, and its jobs, each recorded before X is asked (ARCHITECTURE.md,
//! "Leases and locks").

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{from_millis, lease_ms, millis};
use crate::db::{Db, DbError};

/// One backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backfill {
    /// `bf_…`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
    /// `connect | on_demand | cli`.
    pub trigger: String,
    /// `running | succeeded | failed | cancelled`.
    pub status: String,
    /// `[from, to)`, whole hours.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// X's segmentation type, when segmented.
    pub segment: Option<String>,
    /// X's country targeting value (METROS).
    pub country: Option<String>,
    /// Whether its jobs are recorded.
    pub planned: bool,
    /// Jobs planned.
    pub jobs_total: i64,
    /// Jobs whose rows are stored.
    pub jobs_done: i64,
    /// Rows written.
    pub rows: i64,
    /// Why it failed (a safe message).
    pub error: Option<String>,
    /// The API's error code of the failure.
    pub error_code: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, account_id, trigger_kind, status, window_from, window_to,
    segment, country, planned, jobs_total, jobs_done, rows_upserted, error, error_code,
    created_at, finished_at";

fn backfill(r: &AnyRow) -> Backfill {
    Backfill {
        id: r.get(0),
        tenant_id: r.get(1),
        account_id: r.get(2),
        trigger: r.get(3),
        status: r.get(4),
        window: (from_millis(r.get(5)), from_millis(r.get(6))),
        segment: r.get(7),
        country: r.get(8),
        planned: r.get::<i16, _>(9) != 0,
        jobs_total: r.get(10),
        jobs_done: r.get(11),
        rows: r.get(12),
        error: r.get(13),
        error_code: r.get(14),
        created_at: from_millis(r.get(15)),
        finished_at: r.get::<Option<i64>, _>(16).map(from_millis),
    }
}

/// What a new backfill is.
#[derive(Clone, Debug)]
pub struct NewBackfill<'a> {
    /// `bf_…`.
    pub id: &'a str,
    /// The tenant.
    pub tenant_id: &'a str,
    /// The ad account.
    pub account_id: &'a str,
    /// How it started.
    pub trigger: &'a str,
    /// `[from, to)`, whole hours.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// X's segmentation type.
    pub segment: Option<&'a str>,
    /// X's country targeting value.
    pub country: Option<&'a str>,
}

/// Records a running backfill. With `holder`, held by it for `hold` (the CLI runs it at once);
/// without, nobody holds it and the first instance's worker to claim it runs it.
pub async fn create(
    db: &Db,
    b: &NewBackfill<'_>,
    holder: Option<&str>,
    hold: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let lease = if holder.is_some() {
        format!("{} + $11", db.now_ms_sql())
    } else {
        "0 + $11 * 0".to_owned()
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO backfills (id, tenant_id, account_id, trigger_kind, status, window_from,
            window_to, segment, country, planned, jobs_total, jobs_done, rows_upserted, holder,
            lease_until, created_at)
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, 0, 0, 0, 0, $9, {lease}, $10)"
    )))
    .bind(b.id)
    .bind(b.tenant_id)
    .bind(b.account_id)
    .bind(b.trigger)
    .bind(millis(b.window.0))
    .bind(millis(b.window.1))
    .bind(b.segment)
    .bind(b.country)
    .bind(holder)
    .bind(millis(now))
    .bind(lease_ms(hold))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A tenant's backfill.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Backfill>, DbError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backfills WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(backfill))
}

/// A backfill by id alone (its runner).
pub async fn by_id(db: &Db, id: &str) -> Result<Option<Backfill>, DbError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backfills WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(backfill))
}

/// The tenant's latest backfill, of one account or of any.
pub async fn latest(
    db: &Db,
    tenant_id: &str,
    account_id: Option<&str>,
) -> Result<Option<Backfill>, DbError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backfills
         WHERE tenant_id = $1 AND ($2 IS NULL OR account_id = $2)
         ORDER BY {NEWEST_FIRST} LIMIT 1"
    )))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(backfill))
}

/// The order [`latest`] picks in: the newest, and at an equal `created_at` the unsegmented one
/// (the connect records its history and its breakdown at once; the history is what the tile
/// shows).
const NEWEST_FIRST: &str = "created_at DESC, CASE WHEN segment IS NULL THEN 0 ELSE 1 END, id DESC";

/// [`latest`] of every account of the tenant that has a backfill, by account id, in one query
/// (the Integrations page shows each account's).
pub async fn latest_by_account(
    db: &Db,
    tenant_id: &str,
) -> Result<std::collections::HashMap<String, Backfill>, DbError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backfills b
         WHERE tenant_id = $1 AND id = (
           SELECT id FROM backfills
            WHERE tenant_id = $1 AND account_id = b.account_id
            ORDER BY {NEWEST_FIRST} LIMIT 1)"
    )))
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(backfill)
        .map(|b| (b.account_id.clone(), b))
        .collect())
}

/// Takes over running backfills nobody holds (new ones, and those whose holder's lease lapsed on
/// the database's clock), at most `limit`; each by a conditional update, so one instance wins.
pub async fn claim_free(
    db: &Db,
    holder: &str,
    hold: std::time::Duration,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let db_now = db.now_ms_sql();
    let candidates: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM backfills WHERE status = 'running' AND lease_until < {db_now}
         ORDER BY created_at, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut won = Vec::new();
    for id in candidates {
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE backfills SET holder = $1, lease_until = {db_now} + $2
             WHERE id = $3 AND status = 'running' AND lease_until < {db_now}"
        )))
        .bind(holder)
        .bind(lease_ms(hold))
        .bind(&id)
        .execute(db.pool())
        .await?
        .rows_affected();
        if n == 1 {
            won.push(id);
        }
    }
    Ok(won)
}

/// Extends `holder`'s lease; `false` once another holder has it or it ended.
pub async fn renew(
    db: &Db,
    id: &str,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE backfills SET lease_until = {} + $1
         WHERE id = $2 AND holder = $3 AND status = 'running'",
        db.now_ms_sql()
    )))
    .bind(lease_ms(hold))
    .bind(id)
    .bind(holder)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Lets go of a backfill still running (its holder stops: the next claim resumes it).
pub async fn release(db: &Db, id: &str, holder: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE backfills SET lease_until = 0 WHERE id = $1 AND holder = $2")
        .bind(id)
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends a running backfill: `succeeded`, or `failed` with a code and a safe message. `false`
/// when it was no longer running (cancelled meanwhile).
pub async fn finish(
    db: &Db,
    id: &str,
    failure: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE backfills SET status = $1, error_code = $2, error = $3, finished_at = $4,
            lease_until = 0
         WHERE id = $5 AND status = 'running'",
    )
    .bind(if failure.is_some() {
        "failed"
    } else {
        "succeeded"
    })
    .bind(failure.map(|f| f.0))
    .bind(failure.map(|f| f.1))
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks a tenant's running backfill cancelled; `false` when it was not running.
pub async fn cancel(
    db: &Db,
    tenant_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE backfills SET status = 'cancelled', finished_at = $1
         WHERE tenant_id = $2 AND id = $3 AND status = 'running'",
    )
    .bind(millis(now))
    .bind(tenant_id)
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A planned job of a backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// Jobs of one unit are merged before the upsert.
    pub unit: i64,
    /// `main | mobile`.
    pub part: String,
    /// The job's parameters (JSON).
    pub query: String,
}

/// Records the plan of a backfill held by `holder`: its jobs, `planned`, `jobs_total`, in one
/// transaction. `false` (nothing recorded) when `holder` no longer holds it or it was planned.
pub async fn record_plan(
    db: &Db,
    id: &str,
    holder: &str,
    jobs: &[NewJob],
) -> Result<bool, DbError> {
    let mut tx = db.pool().begin().await?;
    let n = sqlx::query(
        "UPDATE backfills SET planned = 1, jobs_total = $1
         WHERE id = $2 AND holder = $3 AND planned = 0 AND status = 'running'",
    )
    .bind(jobs.len() as i64)
    .bind(id)
    .bind(holder)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    for (seq, j) in jobs.iter().enumerate() {
        sqlx::query(
            "INSERT INTO backfill_jobs (backfill_id, seq, unit, part, query, state, attempts,
                rows_upserted)
             VALUES ($1, $2, $3, $4, $5, 'planned', 0, 0)",
        )
        .bind(id)
        .bind(seq as i64)
        .bind(j.unit)
        .bind(&j.part)
        .bind(&j.query)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// One recorded job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Its position in the plan.
    pub seq: i64,
    /// Its unit.
    pub unit: i64,
    /// `main | mobile`.
    pub part: String,
    /// The parameters (JSON).
    pub query: String,
    /// `planned | submitting | submitted | ready | done | failed`.
    pub state: String,
    /// Submissions so far.
    pub attempts: i64,
    /// X's job id, once known.
    pub x_job_id: Option<String>,
    /// The result file, once X finished it.
    pub url: Option<String>,
    /// When its last submission was recorded.
    pub asked_at: Option<DateTime<Utc>>,
}

/// A backfill's jobs, in plan order.
pub async fn jobs(db: &Db, id: &str) -> Result<Vec<Job>, DbError> {
    let rows = sqlx::query(
        "SELECT seq, unit, part, query, state, attempts, x_job_id, url, asked_at
         FROM backfill_jobs WHERE backfill_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| Job {
            seq: r.get(0),
            unit: r.get(1),
            part: r.get(2),
            query: r.get(3),
            state: r.get(4),
            attempts: r.get(5),
            x_job_id: r.get(6),
            url: r.get(7),
            asked_at: r.get::<Option<i64>, _>(8).map(from_millis),
        })
        .collect())
}

/// Records `holder`'s intent to submit a planned job (before X is asked): `submitting`, one
/// more attempt. `false` when the job is not planned any more, the backfill stopped running (a
/// cancelled backfill submits nothing new) or another holder took it over (a runner that lost
/// its lease submits nothing).
pub async fn intend_submit(
    db: &Db,
    id: &str,
    holder: &str,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE backfill_jobs SET state = 'submitting', attempts = attempts + 1, asked_at = $1,
            x_job_id = NULL, url = NULL
         WHERE backfill_id = $2 AND seq = $3 AND state = 'planned'
           AND EXISTS (SELECT 1 FROM backfills b
                       WHERE b.id = $2 AND b.status = 'running' AND b.holder = $4)",
    )
    .bind(millis(now))
    .bind(id)
    .bind(seq)
    .bind(holder)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A job's move from one state to another, with what X said.
#[derive(Clone, Copy, Debug, Default)]
pub struct Transition<'a> {
    /// The state the job must be in.
    pub from: &'a str,
    /// Its new state.
    pub to: &'a str,
    /// X's job id, when learnt.
    pub x_job_id: Option<&'a str>,
    /// The result file, when X finished the job.
    pub url: Option<&'a str>,
    /// Why, for a failure.
    pub error: Option<&'a str>,
}

impl<'a> Transition<'a> {
    /// From `from` to `to`, nothing else learnt.
    pub fn new(from: &'a str, to: &'a str) -> Self {
        Transition {
            from,
            to,
            ..Transition::default()
        }
    }
}

/// Moves a job as `t` says; `false` when the job was not in `t.from`.
pub async fn set_state(db: &Db, id: &str, seq: i64, t: Transition<'_>) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE backfill_jobs SET state = $1, x_job_id = COALESCE($2, x_job_id),
            url = COALESCE($3, url), error = COALESCE($4, error)
         WHERE backfill_id = $5 AND seq = $6 AND state = $7",
    )
    .bind(t.to)
    .bind(t.x_job_id)
    .bind(t.url)
    .bind(t.error)
    .bind(id)
    .bind(seq)
    .bind(t.from)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Puts a job back to `planned` (X failed it, or its result expired): the next submission is a
/// new job at X.
pub async fn replan(db: &Db, id: &str, seq: i64, error: &str) -> Result<(), DbError> {
    back_to_planned(db, id, seq, error, false).await
}

/// Puts a job X refused to make because the account's concurrent-job limit was reached back to
/// `planned`, the submission not counted as an attempt (X made no job, so none failed).
pub async fn unsubmit(db: &Db, id: &str, seq: i64, error: &str) -> Result<(), DbError> {
    back_to_planned(db, id, seq, error, true).await
}

/// [`replan`] and [`unsubmit`]: the job `planned` again, X's job and result forgotten, `error`
/// kept; its attempt given back when `refund`.
async fn back_to_planned(
    db: &Db,
    id: &str,
    seq: i64,
    error: &str,
    refund: bool,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE backfill_jobs SET state = 'planned', x_job_id = NULL, url = NULL, error = $1,
                attempts = CASE WHEN $2 = 1 AND attempts > 0 THEN attempts - 1 ELSE attempts END
         WHERE backfill_id = $3 AND seq = $4",
    )
    .bind(error)
    .bind(i64::from(refund))
    .bind(id)
    .bind(seq)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records a unit's rows as stored: its ready jobs `done`, and the backfill's progress, in one
/// transaction.
pub async fn unit_done(db: &Db, id: &str, unit: i64, rows: i64) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    let jobs = sqlx::query(
        "UPDATE backfill_jobs SET state = 'done', rows_upserted = $1
         WHERE backfill_id = $2 AND unit = $3 AND state = 'ready'",
    )
    .bind(rows)
    .bind(id)
    .bind(unit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE backfills SET jobs_done = jobs_done + $1, rows_upserted = rows_upserted + $2
         WHERE id = $3",
    )
    .bind(jobs as i64)
    .bind(rows)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
