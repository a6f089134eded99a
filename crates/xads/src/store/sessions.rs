//! Web UI sessions: a random token in an HttpOnly cookie, stored only as its SHA-256. The CSRF
//! token of a session is derived from the session token (so it is bound to it and never stored).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::millis;
use super::tenants::Tenant;
use crate::db::{Db, DbError};

/// How long a session lasts after login.
pub const TTL: Duration = Duration::hours(12);

/// A live browser session (the web UI's login, not `x::XSession`): its tenant and the CSRF
/// token every form must carry. `Debug` hides the token.
#[derive(Clone)]
pub struct BrowserSession {
    /// The logged-in tenant.
    pub tenant: Tenant,
    /// The session's CSRF token.
    pub csrf: String,
}

impl std::fmt::Debug for BrowserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSession")
            .field("tenant", &self.tenant)
            .field("csrf", &"***")
            .finish()
    }
}

/// The stored SHA-256 of a session token (also what a connect started from that session is
/// bound to).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session token (a one-way derivation, distinct from the stored hash).
pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"xads-csrf\0");
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Starts a session for `tenant_id`; returns the cookie value (shown to the browser only).
pub async fn create(db: &Db, tenant_id: &str, now: DateTime<Utc>) -> Result<String, DbError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
        .bind(millis(now))
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO ui_sessions (token_hash, tenant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(tenant_id)
    .bind(millis(now))
    .bind(millis(now + TTL))
    .execute(db.pool())
    .await?;
    Ok(token)
}

/// The live session of a cookie value, if any.
pub async fn lookup(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<BrowserSession>, DbError> {
    let row = sqlx::query(
        "SELECT t.id, t.name FROM ui_sessions s JOIN tenants t ON t.id = s.tenant_id
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(millis(now))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| BrowserSession {
        tenant: Tenant {
            id: r.get(0),
            name: r.get(1),
        },
        csrf: csrf_for(token),
    }))
}

/// Ends a session (logout).
pub async fn delete(db: &Db, token: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db.pool())
        .await?;
    Ok(())
}
