//! Outbound write intents (PRODUCT.md §4.5): recorded before every write to X, so an ambiguous
//! failure or a crash can be reconciled instead of blindly repeated.
//!
//! An intent is held by the execution working on it (`holder`, a token per execution) under a
//! lease on the database's clock, renewed while its call to X is in progress; only the holder
//! moves its state, and recovery takes only intents whose lease lapsed.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_millis, millis};
use crate::db::{Db, DbError};

/// Where an intent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteState {
    /// Recorded, not sent yet.
    Pending,
    /// Sent; no answer recorded yet (a crash here leaves it so).
    Sent,
    /// The answer was lost (timeout, dropped connection, 5xx): X may or may not have executed it.
    Unknown,
    /// X executed it; `entity_id` says on what.
    Done,
    /// X refused it (4xx) or it was abandoned.
    Failed,
}

impl WriteState {
    fn as_str(self) -> &'static str {
        match self {
            WriteState::Pending => "pending",
            WriteState::Sent => "sent",
            WriteState::Unknown => "unknown",
            WriteState::Done => "done",
            WriteState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> WriteState {
        match s {
            "pending" => WriteState::Pending,
            "sent" => WriteState::Sent,
            "unknown" => WriteState::Unknown,
            "done" => WriteState::Done,
            _ => WriteState::Failed,
        }
    }
}

/// One recorded intent.
#[derive(Clone, Debug)]
pub struct Intent {
    /// Also the `Idempotency-Key` sent to X.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
    /// `create_campaign`, …
    pub operation: String,
    /// The parameters sent (JSON).
    pub request: serde_json::Value,
    /// Where it stands.
    pub state: WriteState,
    /// Sends so far.
    pub attempts: i32,
    /// What X created or changed.
    pub entity_id: Option<String>,
    /// When it was first recorded (reconciliation looks at entities created after this).
    pub created_at: DateTime<Utc>,
}

/// Records the intent if new, held by `holder` for `lease` (the database's clock); returns it as
/// stored (an earlier attempt's, when the id exists), or `None` when another execution holds it
/// under a lease that has not lapsed.
pub async fn record(
    db: &Db,
    intent: &Intent,
    holder: &str,
    lease: StdDuration,
    now: DateTime<Utc>,
) -> Result<Option<Intent>, DbError> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO x_writes (id, tenant_id, account_id, operation, request, state, attempts, holder, lease_until, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, {} + $7, $8, $8) ON CONFLICT (id) DO NOTHING",
        db.now_ms_sql()
    )))
    .bind(&intent.id)
    .bind(&intent.tenant_id)
    .bind(&intent.account_id)
    .bind(&intent.operation)
    .bind(intent.request.to_string())
    .bind(holder)
    .bind(super::lease_ms(lease))
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    if inserted == 0 && !acquire(db, &intent.id, holder, lease).await? {
        return Ok(None);
    }
    Ok(Some(
        get(db, &intent.id)
            .await?
            .ok_or(DbError::Corrupt("write intent vanished"))?,
    ))
}

/// Takes the intent for `holder` if nobody holds it: released, written before leases existed,
/// or its holder's lease lapsed (the condition is re-checked by the update, so of two
/// executions racing for it one wins).
pub async fn acquire(db: &Db, id: &str, holder: &str, lease: StdDuration) -> Result<bool, DbError> {
    let db_now = db.now_ms_sql();
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE x_writes SET holder = $1, lease_until = {db_now} + $2
         WHERE id = $3 AND (holder IS NULL OR holder = $1 OR lease_until < {db_now})",
    )))
    .bind(holder)
    .bind(super::lease_ms(lease))
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Extends `holder`'s lease by `lease` from now; false when the intent is no longer its.
pub async fn renew(db: &Db, id: &str, holder: &str, lease: StdDuration) -> Result<bool, DbError> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE x_writes SET lease_until = {} + $1 WHERE id = $2 AND holder = $3",
        db.now_ms_sql()
    )))
    .bind(super::lease_ms(lease))
    .bind(id)
    .bind(holder)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Ends `holder`'s lease (its execution is over): a retry, or recovery if the intent is still
/// open, may take it at once.
pub async fn release(db: &Db, id: &str, holder: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE x_writes SET lease_until = 0 WHERE id = $1 AND holder = $2")
        .bind(id)
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// An intent by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Intent>, DbError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, account_id, operation, request, state, attempts, entity_id, created_at
         FROM x_writes WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| intent_from_row(&r)).transpose()
}

fn intent_from_row(r: &sqlx::any::AnyRow) -> Result<Intent, DbError> {
    Ok(Intent {
        id: r.get(0),
        tenant_id: r.get(1),
        account_id: r.get(2),
        operation: r.get(3),
        request: serde_json::from_str(&r.get::<String, _>(4))
            .map_err(|_| DbError::Corrupt("intent request is not JSON"))?,
        state: WriteState::parse(&r.get::<String, _>(5)),
        attempts: r.get(6),
        entity_id: r.get(7),
        created_at: from_millis(r.get(8)),
    })
}

/// Moves an intent to `state`, optionally recording the entity or error, if `holder` holds
/// it. False (nothing written) when it does not: another execution took the intent over.
pub async fn set_state(
    db: &Db,
    id: &str,
    holder: &str,
    state: WriteState,
    entity_id: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let bump = i32::from(state == WriteState::Sent);
    let moved = sqlx::query(
        "UPDATE x_writes SET state = $1, attempts = attempts + $2, entity_id = COALESCE($3, entity_id),
            error = $4, updated_at = $5 WHERE id = $6 AND holder = $7",
    )
    .bind(state.as_str())
    .bind(bump)
    .bind(entity_id)
    .bind(error)
    .bind(millis(now))
    .bind(id)
    .bind(holder)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1;
    if !moved {
        tracing::error!(intent.id = %id, intent.state = state.as_str(), "an intent taken over by another execution was not updated");
    }
    Ok(moved)
}

/// True when another finished intent already claimed `entity_id` for `operation` (so a
/// reconciliation never hands one X entity to two logical writes).
pub async fn entity_claimed(
    db: &Db,
    tenant_id: &str,
    operation: &str,
    entity_id: &str,
    except_id: &str,
) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM x_writes WHERE tenant_id = $1 AND operation = $2 AND entity_id = $3 AND id <> $4",
    )
    .bind(tenant_id)
    .bind(operation)
    .bind(entity_id)
    .bind(except_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// Open intents (`pending`, `sent`, `unknown`) nobody holds: their holder's lease lapsed on the
/// database's clock (it died, or released the intent unresolved), or — rows written before
/// leases existed — last touched before `legacy_before`.
pub async fn open_unheld(db: &Db, legacy_before: DateTime<Utc>) -> Result<Vec<Intent>, DbError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, tenant_id, account_id, operation, request, state, attempts, entity_id, created_at
         FROM x_writes WHERE state IN ('pending', 'sent', 'unknown')
           AND ((holder IS NOT NULL AND lease_until < {}) OR (holder IS NULL AND updated_at < $1))
         ORDER BY created_at",
        db.now_ms_sql()
    )))
    .bind(millis(legacy_before))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(intent_from_row).collect()
}
