//! Connecting and disconnecting an X account (PRODUCT.md §4.1, §4.2).

use chrono::{DateTime, Duration, Utc};
use url::Url;
use xads_client::{BearerSigner, ListParams, XError};

use crate::pkce::{self, Pkce};
use crate::services::Services;
use crate::store::connections::{self, AdAccount, Method, Pending, PendingError, Status};
use crate::store::tenants::Tenant;

/// The page the browser lands on after the callback.
pub const INTEGRATIONS_PAGE: &str = "/integrations";

/// The text for an unknown, used or expired `state` (PRODUCT.md §4.9).
pub const STATE_PROBLEM: &str = "This connect link is no longer valid (unknown, already used, or older than the 10-minute state TTL). Restart the connect flow from the Integrations page.";
/// The text for a PKCE mismatch (PRODUCT.md §4.9).
pub const PKCE_PROBLEM: &str = "Token exchange returns 400 on PKCE flow — the code_verifier did not match the code_challenge sent during authorize. The state TTL is 10 minutes; restart the connect flow.";
/// The text for an app X has not approved for the Ads API.
pub const NOT_APPROVED_PROBLEM: &str = "X Ads /accounts returned 403 UNAUTHORIZED_CLIENT_APPLICATION — this app is not approved for the X Ads API. Apply for Ads API access; if the app's REST access is OAuth 1.0a only, set X_ADS_CONSUMER_KEY and X_ADS_CONSUMER_SECRET and connect with OAuth 1.0a.";

/// The start of a connect flow.
#[derive(Debug)]
pub struct Started {
    /// Where to send the browser.
    pub authorize_url: Url,
    /// When the `state` stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Why a connect could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The OAuth 2.0 app is not configured.
    #[error("X_ADS_CLIENT_ID and X_ADS_CLIENT_SECRET must be set to connect with OAuth 2.0")]
    NotConfigured,
    /// The OAuth 1.0a app is not configured.
    #[error("X_ADS_CONSUMER_KEY and X_ADS_CONSUMER_SECRET must be set to connect with OAuth 1.0a")]
    OAuth1NotConfigured,
    /// X refused or failed the request-token call.
    #[error("X refused the OAuth 1.0a request token: {0}")]
    X(#[from] XError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// Starts an OAuth 2.0 + PKCE connect for the tenant.
///
/// `bound_session` is the SHA-256 of the UI session that clicked Connect: the callback then
/// completes only in a browser carrying that session. A start through the JSON API passes `None`
/// (its caller, the dashboard's backend, authenticates its own users).
pub async fn start_oauth2(
    state: &Services,
    tenant: &Tenant,
    bound_session: Option<&str>,
) -> Result<Started, StartError> {
    let app = state
        .config
        .oauth2
        .as_ref()
        .ok_or(StartError::NotConfigured)?;
    let pkce = Pkce::generate();
    let state_value = pkce::random_token();
    let now = state.clock.now();
    let expires_at = connections::insert_pending(
        &state.db,
        &state.sealer,
        &pkce::hash_hex(&state_value),
        &Pending {
            tenant_id: tenant.id.clone(),
            method: Method::OAuth2,
            secret: pkce.verifier,
            redirect_to: INTEGRATIONS_PAGE.into(),
            session_hash: bound_session.map(str::to_owned),
        },
        now,
    )
    .await?;
    let authorize_url = pkce::authorize_url(
        &state.config.authorize_url,
        &app.client_id,
        &state.config.redirect_uri,
        &state.config.scopes,
        &state_value,
        &pkce.challenge,
    );
    tracing::info!(tenant.id = %tenant.id, "connect started");
    Ok(Started {
        authorize_url,
        expires_at,
    })
}

/// How a callback ended.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// Connected: send the browser here.
    Connected {
        /// The integrations page.
        redirect_to: String,
    },
    /// Failed: what went wrong, and the §4.9 text the page shows.
    Failed {
        /// Which kind of failure.
        problem: CallbackProblem,
        /// The §4.9 text.
        message: String,
    },
}

/// Why a callback did not connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackProblem {
    /// The link is unusable: unknown, used or expired state, no code.
    InvalidLink,
    /// The user did not grant access at X.
    Denied,
    /// X refused the code or verifier (a PKCE mismatch, a bad OAuth 1.0a verifier).
    Refused,
    /// X failed the exchange (5xx, transport).
    XFailed,
    /// This instance cannot finish the flow (the app is not configured, no client).
    NotConfigured,
    /// Connected, but the token cannot use the Ads API (the tile shows `error`).
    NoAdsAccess,
    /// Connected, but X refused the new token (the tile shows `needs_reconnect`).
    Unauthorized,
    /// The connect was started from a UI session this browser does not carry.
    OtherSession,
}

/// What the callback page says when the browser is not the session that clicked Connect.
pub const OTHER_SESSION_PROBLEM: &str = "This connect was started from another dashboard session, so nothing was stored. Log in to the dashboard in this browser and click Connect again.";

/// Refuses a pending authorization bound to a UI session that `presented` (the callback
/// browser's session, hashed) is not.
fn wrong_session(pending: &Pending, presented: Option<&str>) -> Option<CallbackOutcome> {
    let expected = pending.session_hash.as_deref()?;
    let same = presented
        .is_some_and(|p| crate::crypto::constant_time_eq(p.as_bytes(), expected.as_bytes()));
    if same {
        return None;
    }
    tracing::warn!(tenant.id = %pending.tenant_id, "connect callback from another browser session refused");
    Some(failed(CallbackProblem::OtherSession, OTHER_SESSION_PROBLEM))
}

fn failed(problem: CallbackProblem, message: impl Into<String>) -> CallbackOutcome {
    CallbackOutcome::Failed {
        problem,
        message: message.into(),
    }
}

/// The callback failure of a failed `/accounts` probe, by the tile status it left.
fn probe_failed(status: Status, problem: String) -> CallbackOutcome {
    let kind = if status == Status::Error {
        CallbackProblem::NoAdsAccess
    } else {
        CallbackProblem::Unauthorized
    };
    failed(kind, problem)
}

/// Completes an OAuth 2.0 connect: consumes the state, exchanges the code, stores the sealed
/// tokens, probes `GET /12/accounts` and stores the ad accounts.
pub async fn finish_oauth2(
    state: &Services,
    code: Option<&str>,
    state_value: Option<&str>,
    denied: Option<&str>,
    presented_session: Option<&str>,
) -> Result<CallbackOutcome, crate::db::DbError> {
    let Some(state_value) = state_value.filter(|s| !s.is_empty()) else {
        return Ok(failed(CallbackProblem::InvalidLink, STATE_PROBLEM));
    };
    let now = state.clock.now();
    let pending = match connections::consume_pending(
        &state.db,
        &state.sealer,
        &pkce::hash_hex(state_value),
        now,
    )
    .await?
    {
        Ok(p) if p.method == Method::OAuth2 => p,
        Ok(_) | Err(PendingError::Unknown | PendingError::Used | PendingError::Expired) => {
            tracing::info!("callback with an unknown, used or expired state");
            return Ok(failed(CallbackProblem::InvalidLink, STATE_PROBLEM));
        }
    };
    if let Some(refusal) = wrong_session(&pending, presented_session) {
        return Ok(refusal);
    }
    if let Some(reason) = denied {
        tracing::info!(tenant.id = %pending.tenant_id, reason, "authorization denied at X");
        return Ok(failed(
            CallbackProblem::Denied,
            "X did not grant access (the request was denied). Restart the connect flow to try again.",
        ));
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Ok(failed(CallbackProblem::InvalidLink, STATE_PROBLEM));
    };
    let Some(app) = state.config.oauth2.as_ref() else {
        return Ok(failed(
            CallbackProblem::NotConfigured,
            StartError::NotConfigured.to_string(),
        ));
    };
    let client_secret = &app.client_secret;
    let tokens = match state
        .x
        .exchange_code(
            code,
            state.config.redirect_uri.as_str(),
            pending.secret.expose(),
            &app.client_id,
            Some(client_secret),
        )
        .await
    {
        Ok(t) => t,
        Err(e) if e.status() == Some(400) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "token exchange refused");
            return Ok(failed(CallbackProblem::Refused, PKCE_PROBLEM));
        }
        Err(e) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "token exchange failed");
            return Ok(failed(
                CallbackProblem::XFailed,
                format!(
                    "Token exchange with X failed: {}. Restart the connect flow.",
                    e.public_message()
                ),
            ));
        }
    };
    let access = tokens.access_token.clone();
    let refresh = tokens.refresh_token.as_ref().cloned();
    let expires = tokens
        .expires_in
        .map(|s| now + Duration::seconds(s.min(i64::MAX as u64) as i64));
    let scopes = tokens
        .scope
        .clone()
        .unwrap_or_else(|| state.config.scopes.clone());
    let connection = connections::save_grant(
        &state.db,
        &state.sealer,
        &pending.tenant_id,
        Method::OAuth2,
        &scopes,
        connections::NewTokens {
            access: &access,
            refresh: refresh.as_ref(),
            expires_at: expires,
        },
        now,
    )
    .await?;
    tracing::info!(tenant.id = %pending.tenant_id, connection.id = %connection.id, "tokens stored; probing /12/accounts");

    let x = state.x.with_auth(
        std::sync::Arc::new(BearerSigner::new(access.expose())),
        connection.id.clone(),
    );
    match probe_accounts(&x).await {
        Ok(accounts) => {
            connections::replace_ad_accounts(&state.db, &pending.tenant_id, &accounts, now).await?;
            backfill_on_connect(state, &pending.tenant_id).await;
            Ok(CallbackOutcome::Connected {
                redirect_to: pending.redirect_to,
            })
        }
        Err(e) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "probing /12/accounts failed");
            let (status, problem) = probe_problem(&e);
            connections::mark_status(&state.db, &connection.id, status, Some(&problem), now)
                .await?;
            Ok(probe_failed(status, problem))
        }
    }
}

/// Starts an OAuth 1.0a three-legged connect: a request token (its secret sealed server-side,
/// single use, 10 minutes), then the browser goes to X's authorize page.
/// `bound_session` as for [`start_oauth2`].
pub async fn start_oauth1(
    state: &Services,
    tenant: &Tenant,
    bound_session: Option<&str>,
) -> Result<Started, StartError> {
    let (Some(app), Some(client)) = (state.config.oauth1.as_ref(), state.x1.as_ref()) else {
        return Err(StartError::OAuth1NotConfigured);
    };
    let request = client
        .oauth1_request_token(
            &app.consumer_key,
            &app.consumer_secret,
            state.config.redirect_uri.as_str(),
        )
        .await?;
    let now = state.clock.now();
    let expires_at = connections::insert_pending(
        &state.db,
        &state.sealer,
        &pkce::hash_hex(&request.token),
        &Pending {
            tenant_id: tenant.id.clone(),
            method: Method::OAuth1,
            secret: request.secret.clone(),
            redirect_to: INTEGRATIONS_PAGE.into(),
            session_hash: bound_session.map(str::to_owned),
        },
        now,
    )
    .await?;
    let authorize_url = Url::parse(&client.oauth1_authorize_url(&request.token))
        .map_err(|e| StartError::X(XError::Config(format!("authorize URL: {e}"))))?;
    tracing::info!(tenant.id = %tenant.id, "OAuth 1.0a connect started");
    Ok(Started {
        authorize_url,
        expires_at,
    })
}

/// What the callback page says when the user declines the OAuth 1.0a app at X.
pub const OAUTH1_DENIED_PROBLEM: &str = "X did not grant access to the OAuth 1.0a app (the request was denied at X). Restart the connect flow to try again.";

/// The OAuth 1.0a callback when the user declined at X (`?denied=<request token>`): the request
/// token is consumed (so it cannot be replayed) and nothing is stored.
pub async fn deny_oauth1(
    state: &Services,
    request_token: &str,
) -> Result<CallbackOutcome, crate::db::DbError> {
    let now = state.clock.now();
    match connections::consume_pending(
        &state.db,
        &state.sealer,
        &pkce::hash_hex(request_token),
        now,
    )
    .await?
    {
        Ok(p) if p.method == Method::OAuth1 => {
            tracing::info!(tenant.id = %p.tenant_id, "OAuth 1.0a authorization denied at X");
            Ok(failed(CallbackProblem::Denied, OAUTH1_DENIED_PROBLEM))
        }
        _ => Ok(failed(CallbackProblem::InvalidLink, STATE_PROBLEM)),
    }
}

/// Completes an OAuth 1.0a connect: consumes the request token, trades it and the verifier for
/// the access pair, stores it sealed, probes `GET /12/accounts` (signed) and stores the accounts.
pub async fn finish_oauth1(
    state: &Services,
    oauth_token: &str,
    verifier: &str,
    presented_session: Option<&str>,
) -> Result<CallbackOutcome, crate::db::DbError> {
    let now = state.clock.now();
    let pending = match connections::consume_pending(
        &state.db,
        &state.sealer,
        &pkce::hash_hex(oauth_token),
        now,
    )
    .await?
    {
        Ok(p) if p.method == Method::OAuth1 => p,
        _ => return Ok(failed(CallbackProblem::InvalidLink, STATE_PROBLEM)),
    };
    if let Some(refusal) = wrong_session(&pending, presented_session) {
        return Ok(refusal);
    }
    let (Some(app), Some(client)) = (state.config.oauth1.as_ref(), state.x1.as_ref()) else {
        return Ok(failed(
            CallbackProblem::NotConfigured,
            StartError::OAuth1NotConfigured.to_string(),
        ));
    };
    let request = xads_client::oauth1_flow::RequestToken {
        token: oauth_token.to_owned(),
        secret: pending.secret.clone(),
        callback_confirmed: true,
    };
    let access = match client
        .oauth1_access_token(&app.consumer_key, &app.consumer_secret, &request, verifier)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "OAuth 1.0a access-token call refused");
            return Ok(failed(
                if e.status().is_some_and(|s| s < 500) {
                    CallbackProblem::Refused
                } else {
                    CallbackProblem::XFailed
                },
                format!(
                    "X refused the OAuth 1.0a verifier ({}). Restart the connect flow.",
                    e.public_message()
                ),
            ));
        }
    };
    let token = access.token.clone();
    let token_secret = access.secret.clone();
    let connection = connections::save_grant(
        &state.db,
        &state.sealer,
        &pending.tenant_id,
        Method::OAuth1,
        "",
        connections::NewTokens {
            access: &token,
            refresh: Some(&token_secret),
            expires_at: None,
        },
        now,
    )
    .await?;
    let tokens = connections::Tokens {
        access: token,
        refresh: Some(token_secret),
        version: connection.token_version,
        access_expires_at: None,
    };
    let x = match crate::x::view(state, &connection.id, Method::OAuth1, &tokens) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(tenant.id = %pending.tenant_id, error = %e, "no X client for the new OAuth 1.0a pair");
            return Ok(failed(CallbackProblem::NotConfigured, e.public_message()));
        }
    };
    finish_probe(state, &pending, &connection, &x, now).await
}

async fn finish_probe(
    state: &Services,
    pending: &Pending,
    connection: &connections::Connection,
    x: &xads_client::XAds,
    now: DateTime<Utc>,
) -> Result<CallbackOutcome, crate::db::DbError> {
    match probe_accounts(x).await {
        Ok(accounts) => {
            connections::replace_ad_accounts(&state.db, &pending.tenant_id, &accounts, now).await?;
            tracing::info!(tenant.id = %pending.tenant_id, accounts = accounts.len(), "connected");
            backfill_on_connect(state, &pending.tenant_id).await;
            Ok(CallbackOutcome::Connected {
                redirect_to: pending.redirect_to.clone(),
            })
        }
        Err(e) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "probing /12/accounts failed");
            let (status, problem) = probe_problem(&e);
            connections::mark_status(&state.db, &connection.id, status, Some(&problem), now)
                .await?;
            Ok(probe_failed(status, problem))
        }
    }
}

/// Starts the history backfill of a newly connected tenant's accounts (`XADS_BACKFILL_DAYS`); a
/// failure to record it is logged, never the connect's failure.
async fn backfill_on_connect(state: &Services, tenant_id: &str) {
    if let Err(e) = crate::sync::backfill::on_connect(state, tenant_id).await {
        tracing::warn!(tenant.id = %tenant_id, error = %e, "starting the connect backfill failed");
    }
}

/// The tile status and text for a failed `/accounts` probe.
pub fn probe_problem(e: &XError) -> (Status, String) {
    match (e.status(), e.first_code().as_deref()) {
        (Some(401), _) => (Status::NeedsReconnect, crate::x::PROBLEM_401.into()),
        (Some(403), Some("UNAUTHORIZED_CLIENT_APPLICATION")) => {
            (Status::Error, NOT_APPROVED_PROBLEM.into())
        }
        _ => (
            Status::Error,
            format!("Probing X Ads /accounts failed: {}", e.public_message()),
        ),
    }
}

/// Lists every ad account the token reaches, with each one's currency from its funding instruments.
pub async fn probe_accounts(x: &xads_client::XAds) -> Result<Vec<AdAccount>, XError> {
    let accounts = x.list_all_accounts(&ListParams::new().count(1000)).await?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        // Accounts carry no currency; their funding instruments do (x-ads-api.md §5, currency).
        let currency = x
            .list_all_funding_instruments(&a.id, &ListParams::new().count(1000))
            .await
            .ok()
            .and_then(|fis| fis.into_iter().find_map(|fi| fi.currency));
        out.push(AdAccount {
            name: a.name.clone().unwrap_or_else(|| a.id.clone()),
            timezone: a.timezone.clone().unwrap_or_else(|| "UTC".into()),
            approval_status: a.approval_status.clone(),
            id: a.id,
            currency,
        });
    }
    Ok(out)
}

/// Lists the ad accounts through the tenant's session (refreshing its token as needed) and
/// stores them. A connection in `error` that answers is `connected` again: no new OAuth round
/// trip is needed after X was down during the connect's probe. Used by the background
/// re-probe ([`reprobe_tick`]) and `GET /api/v1/x_ads/accounts?refresh=true`.
pub async fn list_accounts(
    state: &Services,
    session: &crate::x::XSession,
) -> Result<Vec<AdAccount>, crate::x::XSessionError> {
    let accounts = session
        .call(|x| async move { probe_accounts(&x).await })
        .await?;
    let conn = session.connection();
    let now = state.clock.now();
    connections::replace_ad_accounts(&state.db, &conn.tenant_id, &accounts, now).await?;
    if connections::mark_recovered(&state.db, &conn.id, now).await? {
        tracing::info!(tenant.id = %conn.tenant_id, connection.id = %conn.id, accounts = accounts.len(), "connection recovered from error");
    }
    Ok(accounts)
}

/// How often an instance looks for connections in `error` whose re-probe is due.
pub const REPROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// What one re-probe did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reprobed {
    /// The connection.
    pub connection_id: String,
    /// The status it was left in.
    pub status: Status,
}

/// One pass of the background re-probe: claims (a lease on the database's clock, renewed while
/// it runs) the connections in `error` whose re-probe is due, so each is probed once across
/// instances, and probes each through its session (its tokens kept, refreshed when due). Success
/// lists the accounts and makes it `connected`; a 401 after a refresh makes it
/// `needs_reconnect`; any other failure keeps it in `error` and backs off (30 s, doubling, ≤ 1 h).
pub async fn reprobe_tick(
    state: &Services,
    holder: &str,
) -> Result<Vec<Reprobed>, crate::db::DbError> {
    let hold = state.config.leases.probe;
    let claimed =
        connections::claim_reprobes(&state.db, holder, state.clock.now(), hold, 16).await?;
    let mut out = Vec::with_capacity(claimed.len());
    for conn in claimed {
        let probe = async {
            match crate::x::XSession::for_tenant(state, &conn.tenant_id).await {
                Ok(session) if session.connection().id == conn.id => {
                    list_accounts(state, &session).await.map(|_| ())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }
        };
        let renew = || async {
            connections::renew_reprobe(&state.db, &conn.id, holder, hold)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(connection.id = %conn.id, error = %e, "renewing a re-probe lease failed");
                    true
                })
        };
        let outcome =
            crate::lease::renewing(probe, crate::config::Leases::renew_every(hold), renew).await;
        let now = state.clock.now();
        match outcome {
            Ok(()) => {}
            Err(crate::x::XSessionError::X(e)) => {
                tracing::warn!(connection.id = %conn.id, error = %e, "re-probing /12/accounts failed");
                match probe_problem(&e) {
                    (Status::Error, problem) => {
                        connections::reprobe_failed(&state.db, &conn.id, holder, &problem, now)
                            .await?
                    }
                    (status, problem) => {
                        connections::mark_status(&state.db, &conn.id, status, Some(&problem), now)
                            .await?
                    }
                }
            }
            // Marked by the session itself.
            Err(
                crate::x::XSessionError::NeedsReconnect(_) | crate::x::XSessionError::NotConnected,
            ) => {}
            Err(e) => {
                tracing::warn!(connection.id = %conn.id, error = %e, "re-probe failed");
                let problem = format!("Probing X Ads /accounts failed: {}", e.public_message());
                connections::reprobe_failed(&state.db, &conn.id, holder, &problem, now).await?;
            }
        }
        let status = connections::get(&state.db, &conn.id)
            .await?
            .map_or(Status::Disconnected, |c| c.status);
        out.push(Reprobed {
            connection_id: conn.id,
            status,
        });
    }
    Ok(out)
}

/// Runs [`reprobe_tick`] every [`REPROBE_EVERY`] (each instance; the leases make each re-probe
/// happen once), until the task is dropped.
pub async fn reprobe_forever(state: Services) {
    let holder = crate::store::new_id("probe");
    loop {
        tokio::time::sleep(REPROBE_EVERY).await;
        match reprobe_tick(&state, &holder).await {
            Ok(done) if !done.is_empty() => {
                tracing::debug!(connections = done.len(), "re-probe tick")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "re-probe tick failed"),
        }
    }
}

/// Disconnects: deletes the tokens (best-effort revoke at X first), keeps the history.
pub async fn disconnect(state: &Services, tenant: &Tenant) -> Result<bool, crate::db::DbError> {
    let Some(conn) = connections::for_tenant(&state.db, &tenant.id).await? else {
        return Ok(false);
    };
    if conn.status == Status::Disconnected {
        return Ok(false);
    }
    let tokens = connections::load_tokens(&state.db, &state.sealer, &conn.id).await?;
    if let (Method::OAuth1, Some(tokens)) = (conn.method, tokens.as_ref()) {
        // Best effort: X's invalidate_token ends the OAuth 1.0a pair.
        if let Some((app, client)) = state.config.oauth1.as_ref().zip(state.x1.as_ref()) {
            let signer = xads_client::OAuth1Signer::new(
                app.consumer_key.clone(),
                app.consumer_secret.expose(),
                tokens.access.expose(),
                tokens
                    .refresh
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            );
            if let Err(e) = client.oauth1_invalidate_token(&signer).await {
                tracing::warn!(connection.id = %conn.id, error = %e, "invalidate_token at X failed; tokens deleted anyway");
            }
        }
    } else if let (Some(app), Some(tokens)) = (state.config.oauth2.as_ref(), tokens) {
        let secret = &app.client_secret;
        // Revoking the refresh token ends the grant; failures don't block the disconnect.
        let token = tokens.refresh.as_ref().unwrap_or(&tokens.access);
        if let Err(e) = state.x.revoke(token, &app.client_id, Some(secret)).await {
            tracing::warn!(connection.id = %conn.id, error = %e, "revoke at X failed; tokens deleted anyway");
        }
    }
    connections::disconnect(&state.db, &conn.id, state.clock.now()).await?;
    // Without tokens the runner cannot switch line items: stop it rather than leave
    // experiments `running` that nothing runs.
    let stopped = crate::experiments::stop_for_disconnect(state, &tenant.id).await?;
    tracing::info!(tenant.id = %tenant.id, connection.id = %conn.id, experiments_stopped = stopped.len(), "disconnected");
    Ok(true)
}
