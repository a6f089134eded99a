//! Inbound idempotency keys of the dashboard API (PRODUCT.md §4.5): per tenant, kept ≥ 24 h.
//!
//! A key in flight is held by one execution ([`Holder`]) under a lease on the database's clock,
//! renewed while its request runs; only the holder finishes or releases it, and another request
//! takes it over only once the lease lapsed (the holder died). A retry meanwhile is [`Claim::InFlight`].

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::millis;
use crate::db::{Db, DbError};

/// How long a key is remembered.
pub const KEEP_FOR: Duration = Duration::hours(24);

/// The execution holding an in-flight key: a token only it knows. Renewing, finishing and
/// releasing the key are conditional on it, so an execution that lost its claim (its lease
/// lapsed and another took the key over) can neither store its answer over the new holder's nor
/// delete the new holder's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder(String);

impl Holder {
    /// The token as stored (tests use it to play a holder).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What claiming a key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key now and must execute, renewing it ([`renew`]) while it runs,
    /// then [`finish`] (or [`release`]) it as this holder.
    Execute(Holder),
    /// Done before with the same request: replay this status and body verbatim.
    Replay {
        /// The stored status.
        status: u16,
        /// The stored body bytes.
        body: String,
    },
    /// Used with another request (method, path, body or mode).
    Mismatch,
    /// Another execution holds it right now (its lease has not lapsed).
    InFlight,
}

/// Claims `key` for a request with `fingerprint`, for `lease` on the database's clock (taken
/// over from an earlier holder only when its lease lapsed). `now` (the service's clock) dates
/// the key's retention only.
pub async fn claim(
    db: &Db,
    tenant_id: &str,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
    lease: StdDuration,
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
    let holder = Holder(super::new_id("idh"));
    let db_now = db.now_ms_sql();
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, lease_until, holder, created_at, expires_at)
         VALUES ($1, $2, $3, 'in_flight', {db_now} + $4, $5, $6, $7) ON CONFLICT (tenant_id, idem_key) DO NOTHING",
    )))
    .bind(tenant_id)
    .bind(key)
    .bind(fingerprint)
    .bind(super::lease_ms(lease))
    .bind(&holder.0)
    .bind(millis(now))
    .bind(millis(now + KEEP_FOR))
    .execute(db.pool())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Execute(holder));
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
        return Box::pin(claim(db, tenant_id, key, fingerprint, now, lease)).await;
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
    // In flight: take it over only when its holder's lease lapsed (it died). The condition is
    // re-checked by the update itself, so of two instances racing for a lapsed key one wins.
    let taken = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE idempotency_keys SET lease_until = {db_now} + $1, holder = $2
         WHERE tenant_id = $3 AND idem_key = $4 AND state = 'in_flight' AND lease_until < {db_now}",
    )))
    .bind(super::lease_ms(lease))
    .bind(&holder.0)
    .bind(tenant_id)
    .bind(key)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(if taken == 1 {
        tracing::warn!(idempotency.tenant = %tenant_id, "took over an idempotency key whose holder's lease lapsed");
        Claim::Execute(holder)
    } else {
        Claim::InFlight
    })
}

/// Extends `holder`'s lease on the key by `lease` from now (the database's clock). False when
/// the key is no longer this holder's (it lapsed and was taken over, or it was finished).
pub async fn renew(
    db: &Db,
    tenant_id: &str,
    key: &str,
    holder: &Holder,
    lease: StdDuration,
) -> Result<bool, DbError> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE idempotency_keys SET lease_until = {} + $1
         WHERE tenant_id = $2 AND idem_key = $3 AND holder = $4 AND state = 'in_flight'",
        db.now_ms_sql()
    )))
    .bind(super::lease_ms(lease))
    .bind(tenant_id)
    .bind(key)
    .bind(&holder.0)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Stores the final answer for replays, if `holder` still holds the key. False (nothing
/// written) when the claim was lost: the answer of whoever holds it now stands.
pub async fn finish(
    db: &Db,
    tenant_id: &str,
    key: &str,
    holder: &Holder,
    status: u16,
    body: &str,
) -> Result<bool, DbError> {
    Ok(sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, response = $2
         WHERE tenant_id = $3 AND idem_key = $4 AND holder = $5 AND state = 'in_flight'",
    )
    .bind(i32::from(status))
    .bind(body)
    .bind(tenant_id)
    .bind(key)
    .bind(&holder.0)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Forgets the key (the execution failed in a way a retry may fix, e.g. X unavailable), if
/// `holder` still holds it. False (nothing deleted) when the claim was lost.
pub async fn release(
    db: &Db,
    tenant_id: &str,
    key: &str,
    holder: &Holder,
) -> Result<bool, DbError> {
    Ok(sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE tenant_id = $1 AND idem_key = $2 AND holder = $3 AND state = 'in_flight'",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(&holder.0)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
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
