//! Pending authorizations, connections (with sealed tokens) and their ad accounts.
//!
//! Tokens never leave this module in clear except as return values of [`load_tokens`]; they are
//! sealed with associated data naming their row and field (see [`crate::crypto`]).

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{from_millis, millis};
use crate::crypto::Sealer;
use crate::db::{Db, DbError};
use xads_client::Secret;

/// How long a connect attempt stays valid (PRODUCT.md §4.1: 10-minute TTL, single use).
pub const PENDING_TTL: Duration = Duration::minutes(10);

/// How a connection authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// OAuth 2.0 Authorization Code + PKCE, bearer tokens with rotating refresh.
    OAuth2,
    /// OAuth 1.0a three-legged, HMAC-SHA1 signed requests, no refresh.
    OAuth1,
}

impl Method {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::OAuth2 => "oauth2",
            Method::OAuth1 => "oauth1",
        }
    }
    fn parse(s: &str) -> Method {
        if s == "oauth1" {
            Method::OAuth1
        } else {
            Method::OAuth2
        }
    }
}

/// The state of a connection, as the tile shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Tokens work (as far as we know).
    Connected,
    /// The grant is gone (refresh failed, 401 after refresh, revoked): the user must connect again.
    NeedsReconnect,
    /// Connected, but X refuses the app or the account (e.g. 403 not approved).
    Error,
    /// The user disconnected; history is kept, tokens are deleted.
    Disconnected,
}

impl Status {
    /// The name used by the API (`status` on the tile).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::NeedsReconnect => "needs_reconnect",
            Status::Error => "error",
            Status::Disconnected => "disconnected",
        }
    }
    fn parse(s: &str) -> Status {
        match s {
            "connected" => Status::Connected,
            "needs_reconnect" => Status::NeedsReconnect,
            "error" => Status::Error,
            _ => Status::Disconnected,
        }
    }
}

/// A connection without its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `con_…`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// How it authenticates.
    pub method: Method,
    /// Tile status.
    pub status: Status,
    /// Granted scopes (space-separated as X returns them).
    pub scopes: String,
    /// When the access token expires (OAuth 2.0).
    pub access_expires_at: Option<DateTime<Utc>>,
    /// Bumped on every new token pair.
    pub token_version: i64,
    /// The user-facing problem text, if any.
    pub problem: Option<String>,
    /// When the current grant was made.
    pub connected_at: Option<DateTime<Utc>>,
}

/// The token pair of a connection, in clear (never logged: `Secret` hides them).
#[derive(Debug, Clone)]
pub struct Tokens {
    /// OAuth 2.0 access token, or OAuth 1.0a access token.
    pub access: Secret,
    /// OAuth 2.0 refresh token, or OAuth 1.0a token secret.
    pub refresh: Option<Secret>,
    /// The version these tokens carry.
    pub version: i64,
    /// When the access token expires.
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// A token pair about to be stored.
#[derive(Debug, Clone, Copy)]
pub struct NewTokens<'a> {
    /// The access token (OAuth 1.0a: the access token).
    pub access: &'a Secret,
    /// The refresh token (OAuth 1.0a: the token secret); `None` keeps the stored one on refresh.
    pub refresh: Option<&'a Secret>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A pending authorization, consumed by the callback.
#[derive(Debug)]
pub struct Pending {
    /// The tenant that started it.
    pub tenant_id: String,
    /// The method it was started with.
    pub method: Method,
    /// The PKCE verifier (OAuth 2.0) or request-token secret (OAuth 1.0a).
    pub secret: Secret,
    /// Where to send the browser afterwards.
    pub redirect_to: String,
    /// The SHA-256 of the UI session that started it, whose browser alone may finish it; `None`
    /// for a start through the JSON API.
    pub session_hash: Option<String>,
}

/// Why a pending authorization could not be consumed.
#[derive(Debug, PartialEq, Eq)]
pub enum PendingError {
    /// No such state was ever issued (or it was forged).
    Unknown,
    /// It was already used once.
    Used,
    /// It is older than the 10-minute TTL.
    Expired,
}

fn aad_pending(state_hash: &str) -> String {
    format!("oauth_pending:{state_hash}")
}
fn aad_access(connection_id: &str) -> String {
    format!("connection:{connection_id}:access")
}
fn aad_refresh(connection_id: &str) -> String {
    format!("connection:{connection_id}:refresh")
}

/// Records a connect attempt keyed by the hash of its `state`.
pub async fn insert_pending(
    db: &Db,
    sealer: &Sealer,
    state_hash: &str,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbError> {
    let expires = now + PENDING_TTL;
    sqlx::query(
        "INSERT INTO oauth_pending (state_hash, tenant_id, method, secret_ct, redirect_to, created_at, expires_at, session_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(state_hash)
    .bind(&pending.tenant_id)
    .bind(pending.method.as_str())
    .bind(sealer.seal(pending.secret.expose().as_bytes(), &aad_pending(state_hash)))
    .bind(&pending.redirect_to)
    .bind(millis(now))
    .bind(millis(expires))
    .bind(&pending.session_hash)
    .execute(db.pool())
    .await?;
    Ok(expires)
}

/// Consumes a pending authorization exactly once: concurrent callbacks with the same state see
/// one success and `Used` for the rest.
pub async fn consume_pending(
    db: &Db,
    sealer: &Sealer,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Result<Pending, PendingError>, DbError> {
    let row = sqlx::query(
        "SELECT tenant_id, method, secret_ct, redirect_to, expires_at, used_at, session_hash FROM oauth_pending WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Err(PendingError::Unknown));
    };
    if row.get::<Option<i64>, _>(5).is_some() {
        return Ok(Err(PendingError::Used));
    }
    if row.get::<i64, _>(4) <= millis(now) {
        return Ok(Err(PendingError::Expired));
    }
    // The conditional update is the single-use guarantee; the read above only picks the message.
    let claimed = sqlx::query(
        "UPDATE oauth_pending SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL",
    )
    .bind(millis(now))
    .bind(state_hash)
    .execute(db.pool())
    .await?
    .rows_affected();
    if claimed != 1 {
        return Ok(Err(PendingError::Used));
    }
    let secret = sealer
        .open_secret(&row.get::<Vec<u8>, _>(2), None, &aad_pending(state_hash))
        .map_err(|_| DbError::Corrupt("pending authorization secret does not open"))?;
    Ok(Ok(Pending {
        tenant_id: row.get(0),
        method: Method::parse(&row.get::<String, _>(1)),
        secret,
        redirect_to: row.get(3),
        session_hash: row.get(6),
    }))
}

/// Removes pending authorizations that expired more than a day ago.
pub async fn sweep_pending(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(
        sqlx::query("DELETE FROM oauth_pending WHERE expires_at < $1")
            .bind(millis(now - Duration::days(1)))
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, method, status, scopes, access_expires_at, token_version, problem, connected_at";

fn connection_from_row(r: &AnyRow) -> Connection {
    Connection {
        id: r.get(0),
        tenant_id: r.get(1),
        method: Method::parse(&r.get::<String, _>(2)),
        status: Status::parse(&r.get::<String, _>(3)),
        scopes: r.get(4),
        access_expires_at: r.get::<Option<i64>, _>(5).map(from_millis),
        token_version: r.get(6),
        problem: r.get(7),
        connected_at: r.get::<Option<i64>, _>(8).map(from_millis),
    }
}

/// The tenant's connection (in any status), if it ever connected.
pub async fn for_tenant(db: &Db, tenant_id: &str) -> Result<Option<Connection>, DbError> {
    let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(connection_from_row))
}

/// A connection by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Connection>, DbError> {
    let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(connection_from_row))
}

/// A new grant for the tenant: stores the sealed pair and marks the connection connected.
/// Reuses the tenant's connection row (and id) when there is one, so history stays attached.
pub async fn save_grant(
    db: &Db,
    sealer: &Sealer,
    tenant_id: &str,
    method: Method,
    scopes: &str,
    tokens: NewTokens<'_>,
    now: DateTime<Utc>,
) -> Result<Connection, DbError> {
    let NewTokens {
        access,
        refresh,
        expires_at: access_expires_at,
    } = tokens;
    let id = match for_tenant(db, tenant_id).await? {
        Some(c) => c.id,
        None => super::new_id("con"),
    };
    let access_ct = sealer.seal(access.expose().as_bytes(), &aad_access(&id));
    let refresh_ct = refresh.map(|r| sealer.seal(r.expose().as_bytes(), &aad_refresh(&id)));
    let updated = sqlx::query(
        "UPDATE connections SET method = $1, status = 'connected', scopes = $2, access_ct = $3, refresh_ct = $4,
            access_expires_at = $5, token_version = token_version + 1, refresh_lock_until = NULL,
            problem = NULL, connected_at = $6, updated_at = $6
         WHERE id = $7",
    )
    .bind(method.as_str())
    .bind(scopes)
    .bind(&access_ct)
    .bind(&refresh_ct)
    .bind(access_expires_at.map(millis))
    .bind(millis(now))
    .bind(&id)
    .execute(db.pool())
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO connections (id, tenant_id, method, status, scopes, access_ct, refresh_ct,
                access_expires_at, token_version, connected_at, updated_at)
             VALUES ($1, $2, $3, 'connected', $4, $5, $6, $7, 1, $8, $8)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(method.as_str())
        .bind(scopes)
        .bind(&access_ct)
        .bind(&refresh_ct)
        .bind(access_expires_at.map(millis))
        .bind(millis(now))
        .execute(db.pool())
        .await?;
    }
    get(db, &id)
        .await?
        .ok_or(DbError::Corrupt("connection vanished after save"))
}

/// The connection's tokens in clear.
pub async fn load_tokens(db: &Db, sealer: &Sealer, id: &str) -> Result<Option<Tokens>, DbError> {
    let row = sqlx::query(
        "SELECT access_ct, refresh_ct, token_version, access_expires_at FROM connections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(access_ct) = row.get::<Option<Vec<u8>>, _>(0) else {
        return Ok(None);
    };
    let access = sealer
        .open_secret(&access_ct, None, &aad_access(id))
        .map_err(|_| DbError::Corrupt("access token does not open with this key"))?;
    let refresh = match row.get::<Option<Vec<u8>>, _>(1) {
        None => None,
        Some(ct) => Some(
            sealer
                .open_secret(&ct, None, &aad_refresh(id))
                .map_err(|_| DbError::Corrupt("refresh token does not open with this key"))?,
        ),
    };
    Ok(Some(Tokens {
        access,
        refresh,
        version: row.get(2),
        access_expires_at: row.get::<Option<i64>, _>(3).map(from_millis),
    }))
}

/// Takes the refresh lock if the tokens are still at `version` and nobody holds it.
/// Across instances exactly one caller wins; the lock lapses after `hold` if its holder dies.
pub async fn try_lock_refresh(
    db: &Db,
    id: &str,
    version: i64,
    now: DateTime<Utc>,
    hold: Duration,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE connections SET refresh_lock_until = $1
         WHERE id = $2 AND token_version = $3 AND status = 'connected'
           AND (refresh_lock_until IS NULL OR refresh_lock_until < $4)",
    )
    .bind(millis(now + hold))
    .bind(id)
    .bind(version)
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Releases the refresh lock without new tokens (the refresh failed in a way worth retrying).
pub async fn unlock_refresh(db: &Db, id: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE connections SET refresh_lock_until = NULL WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Persists a refreshed pair (before anyone uses it) and releases the lock.
pub async fn save_refreshed(
    db: &Db,
    sealer: &Sealer,
    id: &str,
    from_version: i64,
    tokens: NewTokens<'_>,
    now: DateTime<Utc>,
) -> Result<i64, DbError> {
    let NewTokens {
        access,
        refresh,
        expires_at: access_expires_at,
    } = tokens;
    let access_ct = sealer.seal(access.expose().as_bytes(), &aad_access(id));
    let refresh_ct = refresh.map(|r| sealer.seal(r.expose().as_bytes(), &aad_refresh(id)));
    // Without a new refresh token (X rotates, but be safe) the old one is kept.
    let n = sqlx::query(
        "UPDATE connections SET access_ct = $1, refresh_ct = COALESCE($2, refresh_ct), access_expires_at = $3,
            token_version = token_version + 1, refresh_lock_until = NULL, updated_at = $4
         WHERE id = $5 AND token_version = $6",
    )
    .bind(&access_ct)
    .bind(&refresh_ct)
    .bind(access_expires_at.map(millis))
    .bind(millis(now))
    .bind(id)
    .bind(from_version)
    .execute(db.pool())
    .await?
    .rows_affected();
    if n != 1 {
        return Err(DbError::Corrupt(
            "token version moved while holding the refresh lock",
        ));
    }
    Ok(from_version + 1)
}

/// Marks the connection as needing a new grant, with the text the tile shows.
pub async fn mark_status(
    db: &Db,
    id: &str,
    status: Status,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE connections SET status = $1, problem = $2, refresh_lock_until = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(problem)
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Deletes the tokens and marks the connection disconnected; history stays.
pub async fn disconnect(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE connections SET status = 'disconnected', access_ct = NULL, refresh_ct = NULL,
            access_expires_at = NULL, refresh_lock_until = NULL, problem = NULL,
            token_version = token_version + 1, updated_at = $1
         WHERE id = $2",
    )
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// An ad account reachable through a tenant's connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdAccount {
    /// X's account id (base-36).
    pub id: String,
    /// Its name.
    pub name: String,
    /// IANA timezone (stats days are local days).
    pub timezone: String,
    /// ISO-4217 currency of its funding instruments, when known.
    pub currency: Option<String>,
    /// X's approval status.
    pub approval_status: Option<String>,
}

/// Replaces the tenant's list of ad accounts with what X just returned (others marked deleted).
pub async fn replace_ad_accounts(
    db: &Db,
    tenant_id: &str,
    accounts: &[AdAccount],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE ad_accounts SET deleted = 1 WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    for a in accounts {
        sqlx::query(
            "INSERT INTO ad_accounts (tenant_id, id, name, timezone, currency, approval_status, deleted, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
             ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
                currency = COALESCE(excluded.currency, ad_accounts.currency),
                approval_status = excluded.approval_status, deleted = 0, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(&a.id)
        .bind(&a.name)
        .bind(&a.timezone)
        .bind(&a.currency)
        .bind(&a.approval_status)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The tenant's (not deleted) ad accounts, by name.
pub async fn ad_accounts(db: &Db, tenant_id: &str) -> Result<Vec<AdAccount>, DbError> {
    let rows = sqlx::query(
        "SELECT id, name, timezone, currency, approval_status FROM ad_accounts
         WHERE tenant_id = $1 AND deleted = 0 ORDER BY name, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| AdAccount {
            id: r.get(0),
            name: r.get(1),
            timezone: r.get(2),
            currency: r.get(3),
            approval_status: r.get(4),
        })
        .collect())
}

/// One ad account of the tenant (404 material when `None`).
pub async fn ad_account(db: &Db, tenant_id: &str, id: &str) -> Result<Option<AdAccount>, DbError> {
    // X's account ids are short base-36 strings; anything else (a NUL byte, which PostgreSQL
    // refuses in text, or a 300-character path segment) is simply not one of ours.
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, name, timezone, currency, approval_status FROM ad_accounts
         WHERE tenant_id = $1 AND id = $2 AND deleted = 0",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| AdAccount {
        id: r.get(0),
        name: r.get(1),
        timezone: r.get(2),
        currency: r.get(3),
        approval_status: r.get(4),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type of ours that carries a token, a verifier or a code prints it redacted.
    #[test]
    fn debug_never_shows_tokens_verifiers_or_codes() {
        let access = Secret::new("access-AAAA1111");
        let refresh = Secret::new("refresh-RRRR2222");
        let shown = [
            format!(
                "{:?}",
                Tokens {
                    access: access.clone(),
                    refresh: Some(refresh.clone()),
                    version: 3,
                    access_expires_at: None,
                }
            ),
            format!(
                "{:?}",
                NewTokens {
                    access: &access,
                    refresh: Some(&refresh),
                    expires_at: None,
                }
            ),
            format!(
                "{:?}",
                Pending {
                    tenant_id: "ten_1".into(),
                    method: Method::OAuth2,
                    secret: Secret::new("verifier-VVVV3333"),
                    redirect_to: "/integrations".into(),
                    session_hash: Some("session-hash-SSSS5555".into()),
                }
            ),
            format!("{:?}", crate::pkce::Pkce::generate()),
            format!(
                "{:?}",
                super::super::sessions::BrowserSession {
                    tenant: crate::store::tenants::Tenant {
                        id: "ten_1".into(),
                        name: "t".into(),
                    },
                    csrf: "csrf-CCCC4444".into(),
                }
            ),
        ]
        .join("\n");
        for secret in [
            "access-AAAA1111",
            "refresh-RRRR2222",
            "verifier-VVVV3333",
            "csrf-CCCC4444",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let pkce = crate::pkce::Pkce::generate();
        assert!(!format!("{pkce:?}").contains(pkce.verifier.expose()));
        assert!(shown.contains("ten_1"), "{shown}");
    }
}
