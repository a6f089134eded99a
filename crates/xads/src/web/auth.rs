//! Who is calling: the tenant named by `Authorization: Bearer <API key>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::tenants::{self, Tenant};

/// How long a verified key is trusted without asking the database again: the bound on how long
/// a key replaced by `xads tenant rotate-key` keeps working on an instance that verified it just
/// before (the rotation runs in another process and cannot reach the instances' caches; after
/// this long no instance accepts the old key).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most keys remembered; past this the cache starts over (it only saves a query).
const KEY_CACHE_MAX: usize = 10_000;

/// Recently verified API keys (by SHA-256, never the key itself) → their tenant and when they
/// were verified (the service's clock). Saves a database round trip on every API call; only
/// successes are cached, so unknown keys cannot fill it.
#[derive(Clone, Debug, Default)]
pub struct KeyCache {
    entries: Arc<Mutex<HashMap<String, Verified>>>,
}

/// A cached key's tenant and when it was verified.
type Verified = (Tenant, DateTime<Utc>);

impl KeyCache {
    fn get(&self, key_hash: &str, now: DateTime<Utc>) -> Option<Tenant> {
        let ttl = chrono::Duration::from_std(KEY_CACHE_TTL).unwrap_or_default();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key_hash)
            .filter(|(_, at)| now >= *at && now - *at < ttl)
            .map(|(t, _)| t.clone())
    }

    fn put(&self, key_hash: String, tenant: Tenant, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= KEY_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key_hash, (tenant, now));
    }
}

/// The authenticated tenant of an `/api/v1` request.
#[derive(Clone, Debug)]
pub struct AuthTenant(pub Tenant);

impl FromRequestParts<AppState> for AuthTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let key_hash = tenants::hash_key(key);
        let now = state.clock.now();
        if let Some(t) = state.keys.get(&key_hash, now) {
            return Ok(AuthTenant(t));
        }
        match tenants::by_key_hash(&state.db, &key_hash).await? {
            Some(t) => {
                state.keys.put(key_hash, t.clone(), now);
                Ok(AuthTenant(t))
            }
            None => Err(ApiError::unauthorized()),
        }
    }
}
