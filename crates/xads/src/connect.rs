//! Connecting and disconnecting an X account (PRODUCT.md §4.1, §4.2).

use chrono::{DateTime, Duration, Utc};
use url::Url;
use xads_client::{BearerSigner, ListParams, XError};

use crate::app::AppState;
use crate::config::Secret;
use crate::pkce::{self, Pkce};
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
    /// The OAuth app is not configured.
    #[error("X_ADS_CLIENT_ID and X_ADS_CLIENT_SECRET must be set to connect with OAuth 2.0")]
    NotConfigured,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// Starts an OAuth 2.0 + PKCE connect for the tenant.
pub async fn start_oauth2(state: &AppState, tenant: &Tenant) -> Result<Started, StartError> {
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
    /// Failed: show this page text with this status.
    Failed {
        /// 400 for a bad link, 502 when X failed.
        status: u16,
        /// The §4.9 text.
        message: String,
    },
}

fn failed(status: u16, message: impl Into<String>) -> CallbackOutcome {
    CallbackOutcome::Failed {
        status,
        message: message.into(),
    }
}

/// Completes an OAuth 2.0 connect: consumes the state, exchanges the code, stores the sealed
/// tokens, probes `GET /12/accounts` and stores the ad accounts.
pub async fn finish_oauth2(
    state: &AppState,
    code: Option<&str>,
    state_value: Option<&str>,
    denied: Option<&str>,
) -> Result<CallbackOutcome, crate::db::DbError> {
    let Some(state_value) = state_value.filter(|s| !s.is_empty()) else {
        return Ok(failed(400, STATE_PROBLEM));
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
            return Ok(failed(400, STATE_PROBLEM));
        }
    };
    if let Some(reason) = denied {
        tracing::info!(tenant.id = %pending.tenant_id, reason, "authorization denied at X");
        return Ok(failed(
            400,
            "X did not grant access (the request was denied). Restart the connect flow to try again.",
        ));
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Ok(failed(400, STATE_PROBLEM));
    };
    let Some(app) = state.config.oauth2.as_ref() else {
        return Ok(failed(500, StartError::NotConfigured.to_string()));
    };
    let client_secret = xads_client::Secret::new(app.client_secret.expose());
    let tokens = match state
        .x
        .exchange_code(
            code,
            state.config.redirect_uri.as_str(),
            pending.secret.expose(),
            &app.client_id,
            Some(&client_secret),
        )
        .await
    {
        Ok(t) => t,
        Err(e) if e.status() == Some(400) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "token exchange refused");
            return Ok(failed(400, PKCE_PROBLEM));
        }
        Err(e) => {
            tracing::warn!(tenant.id = %pending.tenant_id, error = %e, "token exchange failed");
            return Ok(failed(
                502,
                format!("Token exchange with X failed: {e}. Restart the connect flow."),
            ));
        }
    };
    let access = Secret::new(tokens.access_token.expose());
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|r| Secret::new(r.expose()));
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
            Ok(CallbackOutcome::Connected {
                redirect_to: pending.redirect_to,
            })
        }
        Err(e) => {
            let (status, problem) = probe_problem(&e);
            connections::mark_status(&state.db, &connection.id, status, Some(&problem), now)
                .await?;
            Ok(failed(
                if status == Status::Error { 403 } else { 401 },
                problem,
            ))
        }
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
            format!("Probing X Ads /accounts failed: {e}"),
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

/// Disconnects: deletes the tokens (best-effort revoke at X first), keeps the history.
pub async fn disconnect(state: &AppState, tenant: &Tenant) -> Result<bool, crate::db::DbError> {
    let Some(conn) = connections::for_tenant(&state.db, &tenant.id).await? else {
        return Ok(false);
    };
    if conn.status == Status::Disconnected {
        return Ok(false);
    }
    if let (Some(app), Some(tokens)) = (
        state.config.oauth2.as_ref(),
        connections::load_tokens(&state.db, &state.sealer, &conn.id).await?,
    ) {
        let secret = xads_client::Secret::new(app.client_secret.expose());
        // Revoking the refresh token ends the grant; failures don't block the disconnect.
        let token = tokens.refresh.as_ref().unwrap_or(&tokens.access);
        if let Err(e) = state
            .x
            .revoke(
                &xads_client::Secret::new(token.expose()),
                &app.client_id,
                Some(&secret),
            )
            .await
        {
            tracing::warn!(connection.id = %conn.id, error = %e, "revoke at X failed; tokens deleted anyway");
        }
    }
    connections::disconnect(&state.db, &conn.id, state.clock.now()).await?;
    tracing::info!(tenant.id = %tenant.id, connection.id = %conn.id, "disconnected");
    Ok(true)
}
