//! The hook through which every call to X is paced.
//!
//! The client knows nothing of Redis or of our budget; it asks a [`RateGate`] before each attempt and
//! tells it what X's rate-limit headers said afterwards. The service implements the gate (sliding
//! window per `(client_id, ads_account_id)`, holds until X's `reset`), tests use [`NoGate`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// X's rate-limit categories (x-ads-api.md §3). X keeps a separate budget per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointFamily {
    /// POST/PUT/DELETE on Ads entities.
    Write,
    /// `GET /12/stats/...` (synchronous analytics, active entities).
    Analytics,
    /// GETs of core entities under an account (campaigns, line items, promoted tweets, ...).
    CoreRead,
    /// Other GETs under an account, and GETs without an account (`/12/accounts`).
    OtherRead,
    /// `api.x.com/2/media/upload...`.
    Media,
    /// Token, revoke and OAuth 1.0a endpoints: never paced by our budget.
    OAuth,
}

impl EndpointFamily {
    /// A short stable name for keys, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointFamily::Write => "write",
            EndpointFamily::Analytics => "analytics",
            EndpointFamily::CoreRead => "core_read",
            EndpointFamily::OtherRead => "other_read",
            EndpointFamily::Media => "media",
            EndpointFamily::OAuth => "oauth",
        }
    }
}

/// Whom a call is paced for.
///
/// Our own budget is keyed by `(client_id, account_id)`; X's headers are tracked per
/// `(token_id, account_id, family)`. `token_id` is a non-secret identifier of the user token
/// (e.g. the connection id), never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The OAuth 2.0 client id, or the OAuth 1.0a consumer key.
    pub client_id: String,
    /// The ads account the call is for; `None` for calls outside an account (`GET /12/accounts`).
    pub account_id: Option<String>,
    /// A non-secret identifier of the user token (the connection id).
    pub token_id: String,
    /// X's rate-limit category of the endpoint.
    pub family: EndpointFamily,
}

/// Which of X's header families a [`RateLimitInfo`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitScope {
    /// `x-account-rate-limit-*` (ad-account level; preferred when present).
    Account,
    /// `x-rate-limit-*` (user-token level).
    User,
}

/// What X's response headers said about rate limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// The limit in force, and which header family it came from.
    pub limit: Option<u64>,
    /// Calls left in X's current window.
    pub remaining: Option<u64>,
    /// When X's window resets (from the epoch-seconds `reset` header).
    pub reset: Option<DateTime<Utc>>,
    /// Which family the three values above came from (`None` when no header was present).
    pub scope: Option<LimitScope>,
    /// `retry-after` (seconds), sent with 503.
    pub retry_after: Option<Duration>,
}

impl RateLimitInfo {
    /// True when X said no calls are left before `reset`.
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Why a gate refused to let a call through.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum GateError {
    /// The call would have had to wait past its deadline for a slot.
    #[error("rate limit: no slot within {waited:?} for {family} calls on account {account}")]
    DeadlineExceeded {
        /// How long the caller was willing to wait.
        waited: Duration,
        /// The endpoint family.
        family: &'static str,
        /// The ads account (or `-`).
        account: String,
    },
}

/// Paces calls to X. Implementations must be safe to share across tasks.
#[async_trait]
pub trait RateGate: Send + Sync {
    /// Waits until a call for `key` may be sent: within our budget and not held by X's headers.
    async fn acquire(&self, key: &RateKey) -> Result<(), GateError>;
    /// Records what X's headers said after a call, so later calls for the key wait for `reset`
    /// when `remaining` reached 0.
    async fn observe(&self, key: &RateKey, info: &RateLimitInfo);
}

/// A gate that lets everything through at once (tests, tools).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoGate;

#[async_trait]
impl RateGate for NoGate {
    async fn acquire(&self, _key: &RateKey) -> Result<(), GateError> {
        Ok(())
    }
    async fn observe(&self, _key: &RateKey, _info: &RateLimitInfo) {}
}
