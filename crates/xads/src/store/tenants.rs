//! Tenants and their API keys. A key is shown once at creation and stored only as its SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Db, DbError};

/// A tenant: one customer team, owner of connections, entities, stats and experiments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Stable id (`ten_…`).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A freshly created API key. Its `Debug` hides the key.
pub struct NewApiKey(pub String);

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewApiKey(***)")
    }
}

/// The SHA-256 hex under which a key is stored (and cached).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Why a tenant could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The name is empty or too long.
    #[error("tenant name must be 1 to 100 characters")]
    BadName,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for TenantError {
    fn from(e: sqlx::Error) -> Self {
        TenantError::Db(e.into())
    }
}

/// Creates a tenant and its first API key (returned once, never stored in clear).
pub async fn create(
    db: &Db,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Tenant, NewApiKey), TenantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(TenantError::BadName);
    }
    let tenant = Tenant {
        id: super::new_id("ten"),
        name: name.to_owned(),
    };
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let key = format!("xads_{}", URL_SAFE_NO_PAD.encode(raw));
    let now = now.timestamp_millis();
    let mut tx = db.pool().begin().await?;
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES ($1, $2, $3)")
        .bind(hash_key(&key))
        .bind(&tenant.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((tenant, NewApiKey(key)))
}

/// The tenant an API key belongs to, if any.
pub async fn by_api_key(db: &Db, key: &str) -> Result<Option<Tenant>, DbError> {
    by_key_hash(db, &hash_key(key)).await
}

/// The tenant whose key hashes to `key_hash`, if any.
pub async fn by_key_hash(db: &Db, key_hash: &str) -> Result<Option<Tenant>, DbError> {
    let row = sqlx::query(
        "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| Tenant {
        id: r.get(0),
        name: r.get(1),
    }))
}

/// A tenant by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Tenant>, DbError> {
    let row = sqlx::query("SELECT id, name FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| Tenant {
        id: r.get(0),
        name: r.get(1),
    }))
}

/// Tenants with exactly this display name (names need not be unique).
pub async fn by_name(db: &Db, name: &str) -> Result<Vec<Tenant>, DbError> {
    let rows = sqlx::query("SELECT id, name FROM tenants WHERE name = $1 ORDER BY created_at")
        .bind(name.trim())
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Tenant {
            id: r.get(0),
            name: r.get(1),
        })
        .collect())
}

/// A tenant as `xads tenant list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: Tenant,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its current API key was issued (`None`: it has none).
    pub key_issued_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its connected (or failing) X connections' ad accounts.
    pub ad_accounts: i64,
}

/// Every tenant, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TenantSummary>, DbError> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.created_at,
                (SELECT MAX(k.created_at) FROM api_keys k WHERE k.tenant_id = t.id),
                (SELECT COUNT(*) FROM ad_accounts a WHERE a.tenant_id = t.id AND a.deleted = 0)
         FROM tenants t ORDER BY t.created_at, t.id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| TenantSummary {
            tenant: Tenant {
                id: r.get(0),
                name: r.get(1),
            },
            created_at: super::from_millis(r.get(2)),
            key_issued_at: r.get::<Option<i64>, _>(3).map(super::from_millis),
            ad_accounts: r.get(4),
        })
        .collect())
}

/// Replaces every API key of the tenant by a new one (returned once) and ends the tenant's web
/// UI sessions, in one transaction: from its commit the old keys resolve to no tenant. (An
/// instance that verified an old key shortly before still trusts it from its cache for at most
/// `web::auth::KEY_CACHE_TTL`.)
pub async fn rotate_key(
    db: &Db,
    tenant_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewApiKey, DbError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let key = format!("xads_{}", URL_SAFE_NO_PAD.encode(raw));
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM ui_sessions WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES ($1, $2, $3)")
        .bind(hash_key(&key))
        .bind(tenant_id)
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(NewApiKey(key))
}
