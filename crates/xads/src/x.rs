//! The service's gateway to X: the configured client, and per-tenant sessions whose tokens are
//! refreshed ahead of expiry and once on a 401 — one refresh at a time per connection across all
//! instances (PRODUCT.md §4.1 step 5).
//!
//! Refresh protocol: read the tokens and their `token_version`; if a refresh is due, take the
//! refresh lock with a conditional `UPDATE … WHERE token_version = v AND lock free`, its expiry
//! on the database's clock. The winner renews the lock while it works (so the lock outlives the
//! refresh however long X takes), calls X once (bounded by [`refresh_bound`]; the client never
//! repeats a refresh that may have reached X), persists the new pair (version v+1) before
//! anyone uses it, and releases the lock; everyone else waits and re-reads until the version
//! moves. X's refresh tokens are single-use, so a second refresh with the same token would make
//! X revoke the whole grant: after an outcome we cannot know (a timeout, a 5xx), the lock is
//! kept for a cool-down instead of released, and nobody retries blindly.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use xads_client::{BearerSigner, XAds, XAdsClient, XError};

use crate::services::Services;
use crate::store::connections::{self, Connection, Method, Status, Tokens};

/// Refresh when less than this remains on the access token.
pub const REFRESH_AHEAD: Duration = Duration::minutes(5);
/// How many times a refreshed pair is written before giving up (X already rotated: losing the
/// new pair loses the grant, so a database blip is waited out, with the lock still renewed).
const SAVE_ATTEMPTS: u32 = 5;

/// The longest one refresh may take: twice the per-attempt timeout (`XADS_X_TIMEOUT`), room for
/// a retry of a call that never reached X. Past it, the refresh counts as of unknown outcome.
pub fn refresh_bound(config: &crate::config::Config) -> StdDuration {
    config.x_timeout.saturating_mul(2)
}

/// The user-facing text for a grant that no longer works (PRODUCT.md §4.9).
pub const PROBLEM_401: &str = "X Ads /accounts returned 401";

/// Why no authenticated call could be made for a tenant.
#[derive(Debug, thiserror::Error)]
pub enum XSessionError {
    /// The tenant never connected, or disconnected.
    #[error("X Ads is not connected")]
    NotConnected,
    /// The grant is gone; the user must connect again.
    #[error("{0}")]
    NeedsReconnect(String),
    /// Another instance held the refresh lock for too long.
    #[error("timed out waiting for a token refresh")]
    RefreshTimeout,
    /// X refused or failed.
    #[error(transparent)]
    X(#[from] XError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl XSessionError {
    /// The API's error code for this failure (the one `web::error` answers), for failures that
    /// are stored rather than answered (a failed sync run).
    pub fn code(&self) -> &'static str {
        match self {
            XSessionError::NotConnected => "not_connected",
            XSessionError::NeedsReconnect(_) => "needs_reconnect",
            XSessionError::RefreshTimeout => "x_unavailable",
            XSessionError::X(x) => x_code(x),
            XSessionError::Db(_) => "internal",
        }
    }

    /// The text a client may be shown (X's refusals as they are, no transport chain, no SQL).
    pub fn public_message(&self) -> String {
        match self {
            XSessionError::X(x) => x.public_message(),
            XSessionError::Db(d) => d.public_message(),
            other => other.to_string(),
        }
    }
}

/// The API's error code for X's refusal after retries (PRODUCT.md §5.1: 429, 503, X's 4xx, or
/// any other failure to get an answer).
pub fn x_code(e: &XError) -> &'static str {
    match e.status() {
        Some(429) => "x_rate_limited",
        Some(503) => "x_unavailable",
        Some(s) if (400..500).contains(&s) => "x_rejected",
        _ => "x_error",
    }
}

/// The OAuth 2.0 client id, which keys the limiter for OAuth 2.0 connections.
pub fn oauth2_client_id(config: &crate::config::Config) -> String {
    config
        .oauth2
        .as_ref()
        .map(|a| a.client_id.clone())
        .unwrap_or_else(|| "unconfigured".into())
}

/// Builds an X client for one app (`client_id`: the OAuth 2.0 client id or the OAuth 1.0a
/// consumer key, which keys our rate budget), paced by `gate`.
pub fn build_client(
    config: &crate::config::Config,
    client_id: String,
    gate: Arc<dyn xads_client::RateGate>,
) -> Result<XAdsClient, XError> {
    XAdsClient::builder()
        .ads_base_url(config.ads_api_base_url.as_str().trim_end_matches('/'))
        .api_base_url(config.api_base_url.as_str().trim_end_matches('/'))
        .client_id(client_id)
        .timeout(Some(config.x_timeout))
        .gate(gate)
        .build()
}

/// The signed view of X for a connection's tokens: a bearer token (OAuth 2.0) or an HMAC-SHA1
/// signer over the consumer and token pairs (OAuth 1.0a), on the client of that app.
pub fn view(
    state: &Services,
    connection_id: &str,
    method: Method,
    tokens: &Tokens,
) -> Result<XAds, XSessionError> {
    match method {
        Method::OAuth2 => Ok(state.x.with_auth(
            Arc::new(BearerSigner::new(tokens.access.expose())),
            connection_id.to_owned(),
        )),
        Method::OAuth1 => {
            let (Some(app), Some(client)) = (state.config.oauth1.as_ref(), state.x1.as_ref())
            else {
                return Err(XSessionError::NeedsReconnect(
                    "this connection uses OAuth 1.0a, but X_ADS_CONSUMER_KEY / X_ADS_CONSUMER_SECRET are not set".into(),
                ));
            };
            let token_secret = tokens
                .refresh
                .as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default();
            let signer = xads_client::OAuth1Signer::new(
                app.consumer_key.clone(),
                app.consumer_secret.expose(),
                tokens.access.expose(),
                token_secret,
            );
            Ok(client.with_auth(Arc::new(signer), connection_id.to_owned()))
        }
    }
}

/// An authenticated view of X for one tenant's connection.
#[derive(Clone, Debug)]
pub struct XSession {
    state: Services,
    connection: Connection,
}

impl XSession {
    /// The tenant's session, or why there is none.
    pub async fn for_tenant(state: &Services, tenant_id: &str) -> Result<XSession, XSessionError> {
        let connection = connections::for_tenant(&state.db, tenant_id)
            .await?
            .ok_or(XSessionError::NotConnected)?;
        match connection.status {
            Status::Disconnected => Err(XSessionError::NotConnected),
            Status::NeedsReconnect => Err(XSessionError::NeedsReconnect(
                connection
                    .problem
                    .clone()
                    .unwrap_or_else(|| PROBLEM_401.into()),
            )),
            Status::Connected | Status::Error => Ok(XSession {
                state: state.clone(),
                connection,
            }),
        }
    }

    /// The connection behind this session.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Runs `call` with fresh credentials; on a 401 refreshes once and runs it again. A second 401
    /// marks the connection as needing a re-connect.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, XSessionError>
    where
        F: Fn(XAds) -> Fut,
        Fut: Future<Output = Result<T, XError>>,
    {
        let tokens = self.tokens(None).await?;
        match call(self.view(&tokens)?).await {
            Err(e) if e.status() == Some(401) => {
                let tokens = self.tokens(Some(tokens.version)).await?;
                match call(self.view(&tokens)?).await {
                    Err(e) if e.status() == Some(401) => {
                        self.mark(Status::NeedsReconnect, PROBLEM_401).await?;
                        Err(XSessionError::NeedsReconnect(PROBLEM_401.into()))
                    }
                    other => Ok(other?),
                }
            }
            other => Ok(other?),
        }
    }

    fn view(&self, tokens: &Tokens) -> Result<XAds, XSessionError> {
        view(
            &self.state,
            &self.connection.id,
            self.connection.method,
            tokens,
        )
    }

    async fn mark(&self, status: Status, problem: &str) -> Result<(), XSessionError> {
        connections::mark_status(
            &self.state.db,
            &self.connection.id,
            status,
            Some(problem),
            self.state.clock.now(),
        )
        .await?;
        Ok(())
    }

    /// Current tokens, refreshed first when due — or, with `stale_version`, when the tokens are
    /// still the ones that just got a 401.
    async fn tokens(&self, stale_version: Option<i64>) -> Result<Tokens, XSessionError> {
        let state = &self.state;
        let id = &self.connection.id;
        let hold = state.config.leases.refresh_lock;
        // A live lock is renewed while its refresh runs, which is bounded: wait that long (and a
        // lock's length more, for a holder that died) before giving up.
        let wait_limit = refresh_bound(&state.config) + hold;
        let started = tokio::time::Instant::now();
        loop {
            let now = state.clock.now();
            let conn = connections::get(&state.db, id)
                .await?
                .ok_or(XSessionError::NotConnected)?;
            match conn.status {
                Status::Connected | Status::Error => {}
                Status::Disconnected => return Err(XSessionError::NotConnected),
                Status::NeedsReconnect => {
                    return Err(XSessionError::NeedsReconnect(
                        conn.problem.unwrap_or_else(|| PROBLEM_401.into()),
                    ));
                }
            }
            let tokens = connections::load_tokens(&state.db, &state.sealer, id)
                .await?
                .ok_or(XSessionError::NotConnected)?;
            let due = match stale_version {
                Some(v) => tokens.version == v,
                None => tokens
                    .access_expires_at
                    .is_some_and(|at| at - now < REFRESH_AHEAD),
            };
            if !due {
                return Ok(tokens);
            }
            if conn.method == Method::OAuth1 || tokens.refresh.is_none() {
                // Nothing to refresh with: the grant itself is dead.
                self.mark(Status::NeedsReconnect, PROBLEM_401).await?;
                return Err(XSessionError::NeedsReconnect(PROBLEM_401.into()));
            }
            let holder = crate::store::new_id("rfl");
            if connections::try_lock_refresh(&state.db, id, tokens.version, &holder, hold).await? {
                let renew = || async {
                    connections::renew_refresh_lock(&state.db, id, &holder, hold)
                        .await
                        .unwrap_or_else(|e| {
                            // Tried again at the next beat; the lock may lapse, as it should
                            // when its holder cannot reach the database.
                            tracing::warn!(connection.id = %id, error = %e, "renewing the refresh lock failed");
                            true
                        })
                };
                return crate::lease::renewing(
                    self.refresh_locked(tokens, &holder),
                    crate::config::Leases::renew_every(hold),
                    renew,
                )
                .await;
            }
            if started.elapsed() > wait_limit {
                return Err(XSessionError::RefreshTimeout);
            }
            let jitter = rand::random_range(20..80);
            tokio::time::sleep(StdDuration::from_millis(jitter)).await;
        }
    }

    /// The refresh itself, under the lock `holder` took (and renews meanwhile).
    async fn refresh_locked(&self, tokens: Tokens, holder: &str) -> Result<Tokens, XSessionError> {
        let state = &self.state;
        let id = &self.connection.id;
        let Some(app) = state.config.oauth2.as_ref() else {
            connections::unlock_refresh(&state.db, id, holder).await?;
            return Err(XSessionError::NeedsReconnect(
                "X_ADS_CLIENT_ID / X_ADS_CLIENT_SECRET are not set, so tokens cannot be refreshed"
                    .into(),
            ));
        };
        let refresh = tokens.refresh.as_ref().expect("checked by caller");
        let secret = &app.client_secret;
        let bound = refresh_bound(&state.config);
        // The client repeats a refresh only when it surely never reached X (nothing sent, or a
        // 429); a timeout or a 5xx after sending ends it, and so does this bound.
        let result = match tokio::time::timeout(
            bound,
            state.x.refresh(refresh, &app.client_id, Some(secret)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(XError::Transport {
                operation: "refresh_token",
                ambiguous: true,
                timeout: true,
                message: format!("no answer within {}s", bound.as_secs()),
            }),
        };
        let now = state.clock.now();
        match result {
            Ok(t) => {
                let access = t.access_token.clone();
                let new_refresh = t.refresh_token.as_ref().cloned();
                let expires = t
                    .expires_in
                    .map(|s| now + Duration::seconds(s.min(i64::MAX as u64) as i64));
                let new = connections::NewTokens {
                    access: &access,
                    refresh: new_refresh.as_ref(),
                    expires_at: expires,
                };
                // Persisted before anyone uses it: X has spent the old refresh token.
                let mut attempt = 0;
                let version = loop {
                    attempt += 1;
                    match connections::save_refreshed(
                        &state.db,
                        &state.sealer,
                        id,
                        tokens.version,
                        new,
                        now,
                    )
                    .await
                    {
                        Ok(v) => break v,
                        Err(e @ crate::db::DbError::Corrupt(_)) => return Err(e.into()),
                        Err(e) if attempt >= SAVE_ATTEMPTS => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(connection.id = %id, error = %e, attempt, "saving refreshed tokens failed; retrying");
                            tokio::time::sleep(StdDuration::from_millis(200 * u64::from(attempt)))
                                .await;
                        }
                    }
                };
                tracing::info!(connection.id = %id, token.version = version, "access token refreshed");
                Ok(Tokens {
                    access,
                    refresh: new_refresh.or(tokens.refresh),
                    version,
                    access_expires_at: expires,
                })
            }
            Err(e) if matches!(e.status(), Some(400 | 401 | 403)) => {
                tracing::warn!(connection.id = %id, error = %e, "token refresh refused; connection needs a re-connect");
                self.mark(Status::NeedsReconnect, PROBLEM_401).await?;
                Err(XSessionError::NeedsReconnect(PROBLEM_401.into()))
            }
            Err(e) if e.is_ambiguous() => {
                // X may have rotated the token: no retry now, by anyone, for a lock's length.
                tracing::warn!(connection.id = %id, error = %e, "token refresh outcome unknown; not retried for a cool-down");
                connections::cool_down_refresh(
                    &state.db,
                    id,
                    holder,
                    state.config.leases.refresh_lock,
                )
                .await?;
                Err(e.into())
            }
            Err(e) => {
                connections::unlock_refresh(&state.db, id, holder).await?;
                Err(e.into())
            }
        }
    }
}
