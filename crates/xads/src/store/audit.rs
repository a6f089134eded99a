//! The audit trail: one row per write, with before/after, mode and X's request id.

use serde_json::Value;

use super::millis;
use crate::db::{Db, DbError};

/// One audited write.
#[derive(Debug)]
pub struct AuditEntry<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The ad account.
    pub account_id: &'a str,
    /// `create_campaign`, `pause_line_item`, …
    pub action: &'a str,
    /// `campaign`, `line_item`, `promoted_tweet`.
    pub entity_kind: &'a str,
    /// The entity.
    pub entity_id: &'a str,
    /// Dry-run or live.
    pub dry_run: bool,
    /// The entity before (None for creates).
    pub before: Option<&'a Value>,
    /// The entity after (None for deletes).
    pub after: Option<&'a Value>,
    /// X's `x-transaction`, when live.
    pub x_request_id: Option<&'a str>,
    /// When it happened (the service's clock).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Appends an audit row.
pub async fn record(db: &Db, e: &AuditEntry<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, account_id, action, entity_kind, entity_id, mode,
            before_json, after_json, x_request_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(super::new_id("aud"))
    .bind(e.tenant_id)
    .bind(e.account_id)
    .bind(e.action)
    .bind(e.entity_kind)
    .bind(e.entity_id)
    .bind(if e.dry_run { "dry_run" } else { "live" })
    .bind(e.before.map(Value::to_string))
    .bind(e.after.map(Value::to_string))
    .bind(e.x_request_id)
    .bind(millis(e.at))
    .execute(db.pool())
    .await?;
    Ok(())
}
