//! Outbound write intents (PRODUCT.md §4.5): recorded before every write to X, so an ambiguous
//! failure or a crash can be reconciled instead of blindly repeated.

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

/// Records the intent if new; returns it as stored (an earlier attempt's, when the id exists).
pub async fn record(db: &Db, intent: &Intent, now: DateTime<Utc>) -> Result<Intent, DbError> {
    sqlx::query(
        "INSERT INTO x_writes (id, tenant_id, account_id, operation, request, state, attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&intent.id)
    .bind(&intent.tenant_id)
    .bind(&intent.account_id)
    .bind(&intent.operation)
    .bind(intent.request.to_string())
    .bind(millis(now))
    .execute(db.pool())
    .await?;
    get(db, &intent.id)
        .await?
        .ok_or(DbError::Corrupt("write intent vanished"))
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

/// Moves an intent to `state`, optionally recording the entity or error.
pub async fn set_state(
    db: &Db,
    id: &str,
    state: WriteState,
    entity_id: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let bump = i32::from(state == WriteState::Sent);
    sqlx::query(
        "UPDATE x_writes SET state = $1, attempts = attempts + $2, entity_id = COALESCE($3, entity_id),
            error = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(state.as_str())
    .bind(bump)
    .bind(entity_id)
    .bind(error)
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
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

/// Intents left `sent` or `unknown` before `older_than` (a crash or a lost answer).
pub async fn open_before(db: &Db, older_than: DateTime<Utc>) -> Result<Vec<Intent>, DbError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, account_id, operation, request, state, attempts, entity_id, created_at
         FROM x_writes WHERE state IN ('pending', 'sent', 'unknown') AND updated_at < $1 ORDER BY created_at",
    )
    .bind(millis(older_than))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(intent_from_row).collect()
}
