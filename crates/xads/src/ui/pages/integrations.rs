//! Paid UA → Integrations: the X (Twitter) Ads tile.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};

use super::view::Tile;
use super::{Account, Fields, problem, render_refreshing, see_other};
use crate::app::AppState;
use crate::ui::html::{Nav, button_form, csrf_field, flash, scroll};
use crate::ui::session::{CsrfForm, User};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(page))
        .route("/integrations/x_ads/connect", post(connect))
        .route("/integrations/x_ads/disconnect", post(disconnect))
        .route("/integrations/x_ads/sync", post(sync_all))
}

/// The note shown on disconnect (PRODUCT.md §4.2).
const REVOKE_NOTE: &str = "Tokens were deleted from the dashboard. To fully revoke access, also remove the app from your X account's connected apps (X → Settings → Security and account access → Apps and sessions → Connected apps).";

async fn page(State(state): State<AppState>, user: User, Query(q): Query<Fields>) -> Response {
    let msg = if q.get("connected").map(String::as_str) == Some("x_ads") {
        Some(Ok("X (Twitter) Ads is connected.".to_owned()))
    } else if q.contains_key("disconnected") {
        Some(Ok(REVOKE_NOTE.to_owned()))
    } else {
        None
    };
    let progress = match q.get("sync") {
        Some(ids) => {
            let again = format!("/integrations?sync={}", crate::ui::html::q(ids));
            Some(super::reports::sync_progress(&state, &user, ids, &again).await)
        }
        None => None,
    };
    tile_page(&state, &user, msg, progress).await
}

async fn tile_page(
    state: &AppState,
    user: &User,
    msg: Option<Result<String, String>>,
    progress: Option<(Markup, bool)>,
) -> Response {
    // The tile `GET /api/v1/integrations` answers, from the function its handler calls.
    let tile = match crate::web::integrations::tile(state, &user.0.tenant.id).await {
        Ok(t) => t,
        Err(e) => return crate::ui::failure(&problem(e)),
    };
    let body = html! {
        h1 { "Integrations" }
        div class="crumb" { "Paid UA → Integrations" }
        (flash(&msg))
        @if let Some((status, _)) = &progress {
            (status)
        }
        (tile_html(&Tile::from_api(&tile), &user.0.csrf))
    };
    let refresh = progress.as_ref().is_some_and(|p| p.1).then_some(2);
    render_refreshing(user, "Integrations", Nav::Integrations, refresh, body)
}

fn tile_html(t: &Tile, csrf: &str) -> Markup {
    let status = t.status.as_str();
    let (badge, label) = match status {
        "connected" => ("badge b-ok", "Connected"),
        "needs_reconnect" => ("badge b-warn", "Needs re-connect"),
        "error" => ("badge b-bad", "Error"),
        _ => ("badge b-off", "Not connected"),
    };
    let live = t.live;
    let missing = &t.missing_scopes;
    let accounts = &t.accounts;
    let has = |m: &str| t.methods.iter().any(|x| x == m);
    let verb = if status == "disconnected" {
        "Connect"
    } else {
        "Re-connect"
    };
    html! {
        section class="card tile" id="x_ads" data-status=(status) {
            div class="top" {
                div class="logo" { "𝕏" }
                div {
                    h2 style="margin:0" { "X (Twitter) Ads" }
                    span class=(badge) id="status" { (label) }
                    " "
                    @if live {
                        span class="badge b-live" id="mode" { "Live" }
                    } @else {
                        span class="badge b-dry" id="mode" { "Dry-run" }
                    }
                }
            }
            @if !live {
                p class="note" {
                    "Dry-run: writes are validated and stored here with "
                    span class="mono" { "dry_" }
                    " ids, never sent to X. To send writes to X, set "
                    span class="mono" { "X_ADS_LIVE_MODE=true" }
                    " (with "
                    span class="mono" { "XADS_ENCRYPTION_KEY" }
                    ") and restart."
                }
            }
            @if let Some(p) = &t.problem {
                div class="problem" role="alert" { (p) }
            }
            @if !missing.is_empty() {
                div class="problem" {
                    "The grant lacks scope(s) " (missing.join(", "))
                    " that some features need; re-connect to grant them."
                }
            }
            @if !accounts.is_empty() {
                h2 { "Ad accounts" }
                (scroll("Ad accounts", html! { table id="accounts" {
                    thead { tr { th { "Name" } th { "Id" } th { "Currency" } th { "Time zone" } } }
                    tbody {
                        @for a in accounts {
                            tr {
                                td { (a.name) }
                                td class="mono" { (a.id) }
                                td { (a.currency.as_deref().unwrap_or("—")) }
                                td { (a.timezone.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                } }))
            }
            @if status != "disconnected" {
                p class="note" id="sync" {
                    "Sync: last success " (t.last_sync_success.as_deref().unwrap_or("never"))
                    @if let Some(s) = t.sync_lag_seconds {
                        " (" (s / 60) " min ago)"
                    }
                    ". Change detection is the hourly sync (webhooks are not supported on x_ads)."
                }
                @if let Some(e) = &t.last_sync_error {
                    div class="problem" { "Last sync error: " (e) }
                }
                @if let Some(at) = &t.connected_at {
                    p class="note" { "Connected since " (at) "." }
                }
            }
            div class="row" style="margin-top:12px" {
                @if status != "connected" {
                    @if has("oauth2") {
                        (connect_form(csrf, "oauth2", verb, "primary", "connect"))
                    }
                    @if has("oauth1") {
                        (connect_form(csrf, "oauth1", &format!("{verb} with OAuth 1.0a"), "", "connect-oauth1"))
                    }
                    @if t.methods.is_empty() {
                        p class="note" {
                            "Set X_ADS_CLIENT_ID and X_ADS_CLIENT_SECRET (or the OAuth 1.0a consumer key and secret) to connect."
                        }
                    }
                }
                @if status == "connected" && !accounts.is_empty() {
                    (button_form("/integrations/x_ads/sync", csrf, "Sync all accounts now", ""))
                }
                @if status != "disconnected" {
                    (button_form("/integrations/x_ads/disconnect", csrf, "Disconnect", "danger"))
                    p class="note" style="flex-basis:100%" {
                        "Disconnect deletes the tokens here and keeps the synced history. Full revocation also needs removing the app from the X account's connected apps."
                    }
                }
            }
        }
    }
}

fn connect_form(csrf: &str, method: &str, label: &str, class: &str, id: &str) -> Markup {
    html! {
        form class="inline" method="post" action="/integrations/x_ads/connect" {
            (csrf_field(csrf))
            input type="hidden" name="method" value=(method);
            button id=(id) type="submit" class=(class) { (label) }
        }
    }
}

/// The page the OAuth callback answers when connecting failed (the browser arrives from X, so
/// it stands alone: no session is needed to read it).
pub fn connect_failed_page(message: &str) -> String {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "X Ads connection failed" }
            }
            body {
                main {
                    h1 { "X (Twitter) Ads: connection failed" }
                    p class="problem" { (message) }
                    p { a href=(crate::connect::INTEGRATIONS_PAGE) { "Back to Integrations" } }
                }
            }
        }
    }
    .into_string()
}

async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    // Bound to this browser's session: the callback completes only where this session is.
    let session =
        crate::ui::session::token(&headers).map(|t| crate::store::sessions::token_hash(&t));
    let tenant = &user.0.tenant;
    let started = match f.get("method").map(String::as_str).unwrap_or("oauth2") {
        "oauth1" => crate::connect::start_oauth1(&state, tenant, session.as_deref()).await,
        _ => crate::connect::start_oauth2(&state, tenant, session.as_deref()).await,
    };
    match started {
        Ok(s) => see_other(s.authorize_url.as_str()),
        Err(e) => {
            let message = crate::web::error::ApiError::from(e).message;
            tile_page(&state, &user, Some(Err(message)), None).await
        }
    }
}

async fn disconnect(
    State(state): State<AppState>,
    CsrfForm(user, _): CsrfForm<Fields>,
) -> Response {
    // What `DELETE /api/v1/integrations/x_ads` does.
    match crate::connect::disconnect(&state, &user.0.tenant).await {
        Ok(_) => see_other("/integrations?disconnected=1"),
        Err(e) => tile_page(&state, &user, Some(Err(problem(e))), None).await,
    }
}

/// Starts a sync of every ad account now (the hourly job does the same), as `POST …/stats/sync`
/// does for each; the page then follows the runs.
async fn sync_all(State(state): State<AppState>, CsrfForm(user, _): CsrfForm<Fields>) -> Response {
    let accounts = match Account::all(&state, &user).await {
        Ok(a) => a,
        Err(e) => return tile_page(&state, &user, Some(Err(e)), None).await,
    };
    let mut runs = vec![];
    for a in &accounts {
        let body = crate::web::reports::SyncBody::default();
        match crate::web::reports::sync_start(&state, &user.0.tenant.id, &a.id, body).await {
            Ok(id) => runs.push(id),
            Err(e) => return tile_page(&state, &user, Some(Err(problem(e))), None).await,
        }
    }
    see_other(&format!(
        "/integrations?sync={}",
        crate::ui::html::q(&runs.join(","))
    ))
}
