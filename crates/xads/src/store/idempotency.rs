//! Inbound idempotency keys of the dashboard API (PRODUCT.md §4.5): per tenant, kept ≥ 24 h.

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::millis;
use crate::db::{Db, DbError};

/// How long a key is remembered.
pub const KEEP_FOR: Duration = Duration::hours(24);
/// How long an execution may hold a key before another request may take it over (crash recovery).
pub const LEASE: Duration = Duration::seconds(60);

/// What claiming a key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the key now and must execute, then [`finish`] (or [`release`]).
    Execute,
    /// Done before with the same request: replay this status and body verbatim.
    Replay {
        /// The stored status.
        status: u16,
        /// The stored body bytes.
        body: String,
    },
    /// Used with another request (method, path, body or mode).
    Mismatch,
    /// Another execution holds it right now.
    InFlight,
}

/// Claims `key` for a request with `fingerprint`.
pub async fn claim(
    db: &Db,
    tenant_id: &str,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Claim, DbError> {
    // Forget expired keys first, so a key past its retention starts afresh.
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND expires_at < $3",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(millis(now))
    .execute(db.pool())
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, lease_until, created_at, expires_at)
         VALUES ($1, $2, $3, 'in_flight', $4, $5, $6) ON CONFLICT (tenant_id, idem_key) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(fingerprint)
    .bind(millis(now + LEASE))
    .bind(millis(now))
    .bind(millis(now + KEEP_FOR))
    .execute(db.pool())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Execute);
    }
    let Some(row) = sqlx::query(
        "SELECT fingerprint, state, lease_until, status, response FROM idempotency_keys
         WHERE tenant_id = $1 AND idem_key = $2",
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_optional(db.pool())
    .await?
    else {
        // Deleted between our insert and read (a failed execution released it): try once more.
        return Box::pin(claim(db, tenant_id, key, fingerprint, now)).await;
    };
    if row.get::<String, _>(0) != fingerprint {
        return Ok(Claim::Mismatch);
    }
    if row.get::<String, _>(1) == "done" {
        return Ok(Claim::Replay {
            status: row.get::<i32, _>(3) as u16,
            body: row.get(4),
        });
    }
    // In flight: take it over only when its holder's lease lapsed (it crashed).
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET lease_until = $1
         WHERE tenant_id = $2 AND idem_key = $3 AND state = 'in_flight' AND lease_until < $4",
    )
    .bind(millis(now + LEASE))
    .bind(tenant_id)
    .bind(key)
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(if taken == 1 {
        Claim::Execute
    } else {
        Claim::InFlight
    })
}

/// Stores the final answer for replays.
pub async fn finish(
    db: &Db,
    tenant_id: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, response = $2
         WHERE tenant_id = $3 AND idem_key = $4",
    )
    .bind(i32::from(status))
    .bind(body)
    .bind(tenant_id)
    .bind(key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets the key (the execution failed in a way a retry may fix, e.g. X unavailable).
pub async fn release(db: &Db, tenant_id: &str, key: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2")
        .bind(tenant_id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets keys past their retention (they would be treated as new anyway).
pub async fn sweep(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(millis(now))
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}
