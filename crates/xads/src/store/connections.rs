//! Pending authorizations, connections (with sealed tokens) and their ad accounts.
//!
//! Tokens never leave this module in clear except as return values of [`load_tokens`]; they are
//! sealed with associated data naming their row, field and token version (see [`crate::crypto`]),
//! and each sealed row records the id of the key that sealed it (`key_id`), which
//! [`reseal_connection`] / [`reseal_pending`] (`xads keys rotate`) use to move rows to a new key.

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

/// `seal_scheme` of rows sealed before tokens were bound to their version (row and field only).
pub const SCHEME_LEGACY: i16 = 1;
/// `seal_scheme` of rows whose tokens are bound to row, field and `token_version`.
pub const SCHEME_VERSIONED: i16 = 2;

/// The associated data of a connection's token: `field` is `access` or `refresh`.
pub fn aad_token(connection_id: &str, field: &str, scheme: i16, version: i64) -> String {
    if scheme == SCHEME_LEGACY {
        format!("connection:{connection_id}:{field}")
    } else {
        format!("connection:{connection_id}:{field}:v{version}")
    }
}

/// A token pair sealed for one version of a row.
struct SealedPair {
    access: Vec<u8>,
    refresh: Option<Vec<u8>>,
}

fn seal_pair(
    sealer: &Sealer,
    id: &str,
    version: i64,
    access: &Secret,
    refresh: Option<&Secret>,
) -> SealedPair {
    let aad = |field| aad_token(id, field, SCHEME_VERSIONED, version);
    SealedPair {
        access: sealer.seal(access.expose().as_bytes(), &aad("access")),
        refresh: refresh.map(|r| sealer.seal(r.expose().as_bytes(), &aad("refresh"))),
    }
}

/// The stored, sealed tokens of a connection row and how they were sealed.
struct StoredPair {
    access: Vec<u8>,
    refresh: Option<Vec<u8>>,
    version: i64,
    scheme: i16,
    key_id: Option<String>,
}

impl StoredPair {
    /// Opens both tokens (with the associated data of the row's scheme and version).
    fn open(&self, sealer: &Sealer, id: &str) -> Result<(Secret, Option<Secret>), DbError> {
        let aad = |field| aad_token(id, field, self.scheme, self.version);
        let key = self.key_id.as_deref();
        let access = sealer
            .open_secret(&self.access, key, &aad("access"))
            .map_err(|_| DbError::Corrupt("access token does not open with this key"))?;
        let refresh = match &self.refresh {
            None => None,
            Some(ct) => Some(
                sealer
                    .open_secret(ct, key, &aad("refresh"))
                    .map_err(|_| DbError::Corrupt("refresh token does not open with this key"))?,
            ),
        };
        Ok((access, refresh))
    }
}

/// The sealed pair of a connection, `None` when it has no tokens (never connected, disconnected).
async fn stored_pair(db: &Db, id: &str) -> Result<Option<(StoredPair, Option<i64>)>, DbError> {
    let row = sqlx::query(
        "SELECT access_ct, refresh_ct, token_version, seal_scheme, key_id, access_expires_at
         FROM connections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(access) = row.get::<Option<Vec<u8>>, _>(0) else {
        return Ok(None);
    };
    Ok(Some((
        StoredPair {
            access,
            refresh: row.get(1),
            version: row.get(2),
            scheme: row.get::<i16, _>(3),
            key_id: row.get(4),
        },
        row.get::<Option<i64>, _>(5),
    )))
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
        "INSERT INTO oauth_pending (state_hash, tenant_id, method, secret_ct, redirect_to, created_at, expires_at, session_hash, key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(state_hash)
    .bind(&pending.tenant_id)
    .bind(pending.method.as_str())
    .bind(sealer.seal(pending.secret.expose().as_bytes(), &aad_pending(state_hash)))
    .bind(&pending.redirect_to)
    .bind(millis(now))
    .bind(millis(expires))
    .bind(&pending.session_hash)
    .bind(sealer.key_id())
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
        "SELECT tenant_id, method, secret_ct, redirect_to, expires_at, used_at, session_hash, key_id FROM oauth_pending WHERE state_hash = $1",
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
        .open_secret(
            &row.get::<Vec<u8>, _>(2),
            row.get::<Option<String>, _>(7).as_deref(),
            &aad_pending(state_hash),
        )
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
    // The tokens are bound to the version they are stored at, so the update is conditional on
    // the version read; a concurrent refresh or disconnect makes it read and seal again.
    for _ in 0..5 {
        let Some(current) = for_tenant(db, tenant_id).await? else {
            let id = super::new_id("con");
            let sealed = seal_pair(sealer, &id, 1, access, refresh);
            sqlx::query(
                "INSERT INTO connections (id, tenant_id, method, status, scopes, access_ct, refresh_ct,
                    access_expires_at, token_version, connected_at, updated_at, seal_scheme, key_id)
                 VALUES ($1, $2, $3, 'connected', $4, $5, $6, $7, 1, $8, $8, $9, $10)",
            )
            .bind(&id)
            .bind(tenant_id)
            .bind(method.as_str())
            .bind(scopes)
            .bind(&sealed.access)
            .bind(&sealed.refresh)
            .bind(access_expires_at.map(millis))
            .bind(millis(now))
            .bind(SCHEME_VERSIONED)
            .bind(sealer.key_id())
            .execute(db.pool())
            .await?;
            return get(db, &id)
                .await?
                .ok_or(DbError::Corrupt("connection vanished after save"));
        };
        let version = current.token_version + 1;
        let sealed = seal_pair(sealer, &current.id, version, access, refresh);
        let updated = sqlx::query(
            "UPDATE connections SET method = $1, status = 'connected', scopes = $2, access_ct = $3, refresh_ct = $4,
                access_expires_at = $5, token_version = $6, refresh_lock_until = NULL,
                refresh_lock_holder = NULL, probe_due_at = NULL, probe_attempts = 0,
                probe_lease_until = NULL, probe_holder = NULL,
                problem = NULL, connected_at = $7, updated_at = $7, seal_scheme = $8, key_id = $9
             WHERE id = $10 AND token_version = $11",
        )
        .bind(method.as_str())
        .bind(scopes)
        .bind(&sealed.access)
        .bind(&sealed.refresh)
        .bind(access_expires_at.map(millis))
        .bind(version)
        .bind(millis(now))
        .bind(SCHEME_VERSIONED)
        .bind(sealer.key_id())
        .bind(&current.id)
        .bind(current.token_version)
        .execute(db.pool())
        .await?
        .rows_affected();
        if updated == 1 {
            return get(db, &current.id)
                .await?
                .ok_or(DbError::Corrupt("connection vanished after save"));
        }
    }
    Err(DbError::Corrupt(
        "the connection's token version kept moving while saving a grant",
    ))
}

/// The connection's tokens in clear. A row sealed under the legacy scheme (bound to row and field
/// only) is opened that way once and re-sealed bound to its token version.
pub async fn load_tokens(db: &Db, sealer: &Sealer, id: &str) -> Result<Option<Tokens>, DbError> {
    let Some((stored, expires)) = stored_pair(db, id).await? else {
        return Ok(None);
    };
    let (access, refresh) = stored.open(sealer, id)?;
    if stored.scheme == SCHEME_LEGACY {
        let sealed = seal_pair(sealer, id, stored.version, &access, refresh.as_ref());
        // Conditional: a refresh or another upgrade in between wins; nothing is lost either way.
        let upgraded = sqlx::query(
            "UPDATE connections SET access_ct = $1, refresh_ct = $2, seal_scheme = $3, key_id = $4
             WHERE id = $5 AND token_version = $6 AND seal_scheme = $7 AND access_ct = $8",
        )
        .bind(&sealed.access)
        .bind(&sealed.refresh)
        .bind(SCHEME_VERSIONED)
        .bind(sealer.key_id())
        .bind(id)
        .bind(stored.version)
        .bind(SCHEME_LEGACY)
        .bind(&stored.access)
        .execute(db.pool())
        .await?
        .rows_affected();
        if upgraded == 1 {
            tracing::info!(connection.id = %id, "tokens re-sealed bound to their token version");
        }
    }
    Ok(Some(Tokens {
        access,
        refresh,
        version: stored.version,
        access_expires_at: expires.map(from_millis),
    }))
}

/// Re-seals a connection's tokens under the sealer's current key and the versioned scheme, when
/// they are sealed otherwise (`xads keys rotate`). Conditional on the row being unchanged since
/// it was read (version and ciphertext), so a refresh racing it wins. `Ok(true)` when it wrote.
pub async fn reseal_connection(db: &Db, sealer: &Sealer, id: &str) -> Result<bool, DbError> {
    let Some((stored, _)) = stored_pair(db, id).await? else {
        return Ok(false);
    };
    if stored.scheme == SCHEME_VERSIONED && stored.key_id.as_deref() == Some(sealer.key_id()) {
        return Ok(false);
    }
    let (access, refresh) = stored.open(sealer, id)?;
    let sealed = seal_pair(sealer, id, stored.version, &access, refresh.as_ref());
    let n = sqlx::query(
        "UPDATE connections SET access_ct = $1, refresh_ct = $2, seal_scheme = $3, key_id = $4
         WHERE id = $5 AND token_version = $6 AND access_ct = $7",
    )
    .bind(&sealed.access)
    .bind(&sealed.refresh)
    .bind(SCHEME_VERSIONED)
    .bind(sealer.key_id())
    .bind(id)
    .bind(stored.version)
    .bind(&stored.access)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Re-seals a pending authorization's secret under the sealer's current key, when it is sealed
/// under another one. Conditional on the ciphertext read. `Ok(true)` when it wrote.
pub async fn reseal_pending(db: &Db, sealer: &Sealer, state_hash: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT secret_ct, key_id FROM oauth_pending WHERE state_hash = $1")
        .bind(state_hash)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(false) };
    let ct: Vec<u8> = row.get(0);
    let key_id: Option<String> = row.get(1);
    if key_id.as_deref() == Some(sealer.key_id()) {
        return Ok(false);
    }
    let aad = aad_pending(state_hash);
    let secret = sealer
        .open_secret(&ct, key_id.as_deref(), &aad)
        .map_err(|_| DbError::Corrupt("pending authorization secret does not open"))?;
    let n = sqlx::query(
        "UPDATE oauth_pending SET secret_ct = $1, key_id = $2 WHERE state_hash = $3 AND secret_ct = $4",
    )
    .bind(sealer.seal(secret.expose().as_bytes(), &aad))
    .bind(sealer.key_id())
    .bind(state_hash)
    .bind(&ct)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Which sealed rows are not yet sealed under the key `key_id` with the current scheme: up to
/// `limit` connection ids and pending state hashes after the given cursors (in id order).
pub async fn sealed_elsewhere(
    db: &Db,
    key_id: &str,
    after_connection: &str,
    after_pending: &str,
    limit: i64,
) -> Result<(Vec<String>, Vec<String>), DbError> {
    let connections = sqlx::query_scalar(
        "SELECT id FROM connections
         WHERE access_ct IS NOT NULL AND (key_id IS NULL OR key_id <> $1 OR seal_scheme <> $2) AND id > $3
         ORDER BY id LIMIT $4",
    )
    .bind(key_id)
    .bind(SCHEME_VERSIONED)
    .bind(after_connection)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let pending = sqlx::query_scalar(
        "SELECT state_hash FROM oauth_pending
         WHERE (key_id IS NULL OR key_id <> $1) AND state_hash > $2
         ORDER BY state_hash LIMIT $3",
    )
    .bind(key_id)
    .bind(after_pending)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok((connections, pending))
}

/// Takes the refresh lock for `holder` if the tokens are still at `version` and nobody holds it
/// (a connection in `error` may refresh too). Across instances exactly one caller wins; the lock
/// lasts `hold` by the database's clock, and its holder renews it ([`renew_refresh_lock`]) while
/// the refresh runs, so it lapses only when the holder died.
pub async fn try_lock_refresh(
    db: &Db,
    id: &str,
    version: i64,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    let now = db.now_ms_sql();
    let sql = format!(
        "UPDATE connections SET refresh_lock_until = {now} + $1, refresh_lock_holder = $2
         WHERE id = $3 AND token_version = $4 AND status IN ('connected', 'error')
           AND (refresh_lock_until IS NULL OR refresh_lock_until < {now})"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::lease_ms(hold))
        .bind(holder)
        .bind(id)
        .bind(version)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Extends the refresh lock by `hold` from the database's now, if `holder` still holds it.
pub async fn renew_refresh_lock(
    db: &Db,
    id: &str,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    renew_lease(
        db,
        id,
        holder,
        hold,
        "refresh_lock_until",
        "refresh_lock_holder",
    )
    .await
}

/// Releases the refresh lock without new tokens, when X surely did not spend the refresh token
/// (the call never reached X, or X said 429). Only its holder releases it.
pub async fn unlock_refresh(db: &Db, id: &str, holder: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE connections SET refresh_lock_until = NULL, refresh_lock_holder = NULL
         WHERE id = $1 AND refresh_lock_holder = $2",
    )
    .bind(id)
    .bind(holder)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// After a refresh whose outcome is unknown (a timeout or a 5xx once the request was sent: X may
/// have rotated the token), keeps anyone from refreshing for `cool_down` (database clock), instead
/// of a blind retry with a token X may already have spent. Only its holder does this.
pub async fn cool_down_refresh(
    db: &Db,
    id: &str,
    holder: &str,
    cool_down: std::time::Duration,
) -> Result<(), DbError> {
    let sql = format!(
        "UPDATE connections SET refresh_lock_until = {} + $1, refresh_lock_holder = NULL
         WHERE id = $2 AND refresh_lock_holder = $3",
        db.now_ms_sql()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::lease_ms(cool_down))
        .bind(id)
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// How many connections and pending authorizations are not yet sealed under `key_id` with the
/// current scheme.
pub async fn count_sealed_elsewhere(db: &Db, key_id: &str) -> Result<(u64, u64), DbError> {
    let connections: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM connections
         WHERE access_ct IS NOT NULL AND (key_id IS NULL OR key_id <> $1 OR seal_scheme <> $2)",
    )
    .bind(key_id)
    .bind(SCHEME_VERSIONED)
    .fetch_one(db.pool())
    .await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM oauth_pending WHERE key_id IS NULL OR key_id <> $1",
    )
    .bind(key_id)
    .fetch_one(db.pool())
    .await?;
    Ok((connections as u64, pending as u64))
}

/// Persists a refreshed pair (before anyone uses it) and releases the lock. The pair is sealed
/// bound to the new version; without a new refresh token the stored one is re-sealed for it.
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
    let version = from_version + 1;
    // Without a new refresh token (X rotates, but be safe) the old one is kept.
    let kept = match refresh {
        Some(_) => None,
        None => match stored_pair(db, id).await? {
            Some((stored, _)) if stored.version == from_version => stored.open(sealer, id)?.1,
            _ => None,
        },
    };
    let sealed = seal_pair(sealer, id, version, access, refresh.or(kept.as_ref()));
    let n = sqlx::query(
        "UPDATE connections SET access_ct = $1, refresh_ct = $2, access_expires_at = $3,
            token_version = $4, refresh_lock_until = NULL, refresh_lock_holder = NULL, updated_at = $5,
            seal_scheme = $6, key_id = $7
         WHERE id = $8 AND token_version = $9",
    )
    .bind(&sealed.access)
    .bind(&sealed.refresh)
    .bind(access_expires_at.map(millis))
    .bind(version)
    .bind(millis(now))
    .bind(SCHEME_VERSIONED)
    .bind(sealer.key_id())
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
    Ok(version)
}

/// Sets the connection's status and the text the tile shows. `error` (a failed probe: X down,
/// the app not approved) keeps the tokens and schedules a background re-probe
/// [`FIRST_REPROBE`] from `now`; any other status cancels a scheduled one.
pub async fn mark_status(
    db: &Db,
    id: &str,
    status: Status,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let due = (status == Status::Error).then(|| millis(now + FIRST_REPROBE));
    sqlx::query(
        "UPDATE connections SET status = $1, problem = $2, refresh_lock_until = NULL,
            refresh_lock_holder = NULL, probe_due_at = $3, probe_attempts = 0,
            probe_lease_until = NULL, probe_holder = NULL, updated_at = $4
         WHERE id = $5",
    )
    .bind(status.as_str())
    .bind(problem)
    .bind(due)
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The first background re-probe of a connection left in `error` comes this long after it.
pub const FIRST_REPROBE: Duration = Duration::seconds(30);
/// Re-probes back off up to this.
pub const MAX_REPROBE_GAP: Duration = Duration::hours(1);

/// The wait before the next re-probe once `failed` re-probes failed: 30 s, then doubling, at
/// most an hour.
pub fn reprobe_gap(failed: i64) -> Duration {
    let exp = u32::try_from(failed.clamp(0, 12)).unwrap_or(12);
    (FIRST_REPROBE * 2i32.pow(exp)).min(MAX_REPROBE_GAP)
}

/// Claims for `holder`, until `hold` from the database's now, up to `limit` connections in
/// `error` whose re-probe is due at `now` and that no live lease covers: each is claimed by a
/// conditional update, so one instance probes it however many look.
pub async fn claim_reprobes(
    db: &Db,
    holder: &str,
    now: DateTime<Utc>,
    hold: std::time::Duration,
    limit: i64,
) -> Result<Vec<Connection>, DbError> {
    let db_now = db.now_ms_sql();
    let free = format!(
        "status = 'error' AND probe_due_at IS NOT NULL AND probe_due_at <= $1
         AND (probe_lease_until IS NULL OR probe_lease_until < {db_now})"
    );
    let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM connections WHERE {free} ORDER BY probe_due_at, id LIMIT $2"
    )))
    .bind(millis(now))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut claimed = Vec::new();
    for id in ids {
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE connections SET probe_lease_until = {db_now} + $2, probe_holder = $3
             WHERE id = $4 AND {free}"
        )))
        .bind(millis(now))
        .bind(super::lease_ms(hold))
        .bind(holder)
        .bind(&id)
        .execute(db.pool())
        .await?
        .rows_affected();
        if n == 1
            && let Some(c) = get(db, &id).await?
        {
            claimed.push(c);
        }
    }
    Ok(claimed)
}

/// Extends `holder`'s re-probe lease by `hold` from the database's now.
pub async fn renew_reprobe(
    db: &Db,
    id: &str,
    holder: &str,
    hold: std::time::Duration,
) -> Result<bool, DbError> {
    renew_lease(db, id, holder, hold, "probe_lease_until", "probe_holder").await
}

/// Extends a connection's lease (`until`, held by `holder_column`) by `hold` from the
/// database's now, if `holder` still holds it. The column names are this module's constants.
async fn renew_lease(
    db: &Db,
    id: &str,
    holder: &str,
    hold: std::time::Duration,
    until: &'static str,
    holder_column: &'static str,
) -> Result<bool, DbError> {
    let sql = format!(
        "UPDATE connections SET {until} = {} + $1 WHERE id = $2 AND {holder_column} = $3",
        db.now_ms_sql()
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::lease_ms(hold))
        .bind(id)
        .bind(holder)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A connection in `error` answered a call: it is `connected` again (problem cleared, no
/// re-probe scheduled). Conditional on the status still being `error`, so it never undoes a
/// disconnect or a `needs_reconnect` that happened meanwhile. `Ok(true)` when it changed.
pub async fn mark_recovered(db: &Db, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE connections SET status = 'connected', problem = NULL, probe_due_at = NULL,
            probe_attempts = 0, probe_lease_until = NULL, probe_holder = NULL, updated_at = $1
         WHERE id = $2 AND status = 'error'",
    )
    .bind(millis(now))
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// `holder`'s re-probe failed and the connection stays in `error` with `problem`: the next one
/// is due after [`reprobe_gap`] of the attempts so far, and the lease is released.
pub async fn reprobe_failed(
    db: &Db,
    id: &str,
    holder: &str,
    problem: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let Some(attempts) = sqlx::query_scalar::<_, i64>(
        "SELECT probe_attempts FROM connections WHERE id = $1 AND probe_holder = $2",
    )
    .bind(id)
    .bind(holder)
    .fetch_optional(db.pool())
    .await?
    else {
        return Ok(());
    };
    let failed = attempts + 1;
    sqlx::query(
        "UPDATE connections SET probe_attempts = $1, probe_due_at = $2, probe_lease_until = NULL,
            probe_holder = NULL, problem = $3, updated_at = $4
         WHERE id = $5 AND probe_holder = $6 AND status = 'error'",
    )
    .bind(failed)
    .bind(millis(now + reprobe_gap(failed)))
    .bind(problem)
    .bind(millis(now))
    .bind(id)
    .bind(holder)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The re-probe schedule of a connection: (due at, failed attempts), for tests and the tile.
pub async fn reprobe_schedule(
    db: &Db,
    id: &str,
) -> Result<Option<(Option<DateTime<Utc>>, i64)>, DbError> {
    let row = sqlx::query("SELECT probe_due_at, probe_attempts FROM connections WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| (r.get::<Option<i64>, _>(0).map(from_millis), r.get(1))))
}

/// Deletes the tokens and marks the connection disconnected; history stays.
pub async fn disconnect(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE connections SET status = 'disconnected', access_ct = NULL, refresh_ct = NULL,
            access_expires_at = NULL, refresh_lock_until = NULL, refresh_lock_holder = NULL,
            problem = NULL, probe_due_at = NULL, probe_attempts = 0, probe_lease_until = NULL,
            probe_holder = NULL, token_version = token_version + 1, updated_at = $1
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

/// Replaces the tenant's list of ad accounts with what X just returned (others marked deleted),
/// moving the tenant's mirror version (a list answers only for the tenant's ad accounts).
pub async fn replace_ad_accounts(
    db: &Db,
    tenant_id: &str,
    accounts: &[AdAccount],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    super::entities::bump_mirror(&mut tx, tenant_id).await?;
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
    ad_accounts_page(db, tenant_id, None, i64::MAX).await
}

/// At most `limit` of the tenant's (not deleted) ad accounts, by name and id, after the
/// `(name, id)` key of the previous page.
pub async fn ad_accounts_page(
    db: &Db,
    tenant_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<AdAccount>, DbError> {
    let rows = sqlx::query(
        "SELECT id, name, timezone, currency, approval_status FROM ad_accounts
         WHERE tenant_id = $1 AND deleted = 0
           AND ($2 = 0 OR name > $3 OR (name = $3 AND id > $4))
         ORDER BY name, id LIMIT $5",
    )
    .bind(tenant_id)
    .bind(i16::from(after.is_some()))
    .bind(after.map(|a| a.0).unwrap_or(""))
    .bind(after.map(|a| a.1).unwrap_or(""))
    .bind(limit)
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
