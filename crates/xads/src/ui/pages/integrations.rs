//! Paid UA → Integrations: the X (Twitter) Ads tile.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::view::Tile;
use super::{
    Account, Fields, flash_code, problem, render, render_refreshing, see_other, see_other_flash,
    shown_once,
};
use crate::app::AppState;
use crate::store::backfills::Backfill;
use crate::store::sync_runs::Health;
use crate::ui::html::{self, Nav, button_form, csrf_field, flash, scroll};
use crate::ui::session::{CsrfForm, User};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(page))
        .route("/integrations/x_ads/connect", post(connect))
        .route(
            "/integrations/x_ads/disconnect",
            get(confirm_disconnect).post(disconnect),
        )
        .route("/integrations/x_ads/sync", post(sync_all))
}

/// The note shown on disconnect (PRODUCT.md §4.2).
const REVOKE_NOTE: &str = "Tokens were deleted from the dashboard. To fully revoke access, also remove the app from your X account's connected apps (X → Settings → Security and account access → Apps and sessions → Connected apps).";

/// The fixed texts of this page's flash codes (`connected`, `disconnected-1`, …).
fn flash_text(code: &str) -> Option<Result<String, String>> {
    let (what, n) = match code.rsplit_once('-') {
        Some((w, n)) => (w, n.parse::<u32>().ok()),
        None => (code, None),
    };
    Some(Ok(match (what, n) {
        ("connected", _) => "X (Twitter) Ads is connected.".to_owned(),
        ("disconnected", Some(0) | None) => REVOKE_NOTE.to_owned(),
        ("disconnected", Some(n)) => format!(
            "{REVOKE_NOTE} {} stopped: their line items stay as they are at X.",
            html::counted(n, "running experiments")
        ),
        _ => return None,
    }))
}

async fn page(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    // The OAuth callback lands here with `?connected=x_ads`: its message moves to the one-shot
    // cookie, so a reload does not repeat it.
    if q.get("connected").map(String::as_str) == Some("x_ads") {
        return see_other_flash("/integrations", "connected");
    }
    let code = flash_code(&headers);
    let msg = code.as_deref().and_then(flash_text);
    let progress = match q.get("sync") {
        Some(ids) => {
            let again = format!("/integrations?sync={}", crate::ui::html::q(ids));
            match super::reports::sync_progress(&state, &user, ids, &again).await {
                Ok(running) => Some((running, true)),
                // Done: the clean address shows the result once.
                Err(code) => return see_other_flash("/integrations", &code),
            }
        }
        None => code
            .as_deref()
            .and_then(super::reports::sync_result)
            .map(|done| (done, false)),
    };
    shown_once(
        tile_page(&state, &user, msg, progress).await,
        code.is_some(),
    )
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
    // Each account's own sync state (the tile's `sync` sums them up).
    let health = crate::store::sync_runs::all_health(&state.db, &user.0.tenant.id)
        .await
        .unwrap_or_default();
    // Each account's latest backfill (its history through X's jobs, PRODUCT §4.10).
    let tile = Tile::from_api(&tile);
    let mut latest = crate::store::backfills::latest_by_account(&state.db, &user.0.tenant.id)
        .await
        .unwrap_or_default();
    let history: Vec<_> = tile
        .accounts
        .iter()
        .map(|a| (a.id.clone(), latest.remove(&a.id)))
        .collect();
    let now = state.clock.now();
    let body = html! {
        h1 { "Integrations" }
        div class="crumb" { "Paid UA → Integrations" }
        (flash(&msg))
        @if let Some((status, _)) = &progress {
            (status)
        }
        (tile_html(&tile, &user.0.csrf, &health, &history, now))
    };
    // A sync still running: the page follows it (seconds). A history loads for minutes: the
    // page says how far it got and offers a link to look again rather than reloading itself
    // for that long (a refresh that keeps moving the page is an accessibility failure).
    let refresh = progress.as_ref().is_some_and(|p| p.1).then_some(2);
    render_refreshing(user, "Integrations", Nav::Integrations, refresh, body)
}

/// One account's sync state: last success (local time), lag, and the error while it lasts.
fn sync_cells(h: Option<&Health>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Markup {
    let h = h.cloned().unwrap_or_default();
    let failing = h
        .last_error_at
        .is_some_and(|e| h.last_success_at.is_none_or(|s| s < e));
    html! {
        td class="sync-last" {
            @match h.last_success_at {
                Some(t) => { (html::local_instant(t, tz)) }
                None => { "never" }
            }
        }
        td class="sync-lag" {
            @match h.last_success_at {
                Some(t) => { (html::lag((now - t).num_seconds())) }
                None => { "—" }
            }
        }
        td class="sync-error" {
            @if failing {
                span class="badge b-bad" { "failing" } " " (h.last_error.as_deref().unwrap_or(""))
            } @else {
                "—"
            }
        }
    }
}

/// One account's history: its latest backfill's state in words.
fn history_text(b: &Backfill, tz: chrono_tz::Tz) -> Markup {
    let (from, to) = b.window;
    let days = html::counted(((to - from).num_hours() + 23) / 24, "days");
    html! {
        @match b.status.as_str() {
            "running" => {
                span class="badge b-warn" { "loading" } " " (days) " through X's reporting jobs: "
                @if b.planned {
                    (b.jobs_done) " of " (html::counted(b.jobs_total, "jobs done"))
                } @else {
                    "planning"
                }
                ", " (html::counted(b.rows, "rows")) " so far. "
                a href="/integrations" { "Check again" }
            }
            "succeeded" => {
                (days) " loaded (" (html::counted(b.rows, "rows")) ")"
                @if let Some(at) = b.finished_at {
                    ", " (html::local_instant(at, tz))
                }
            }
            "cancelled" => { (days) ": cancelled" }
            _ => {
                span class="badge b-bad" { "failed" } " "
                (b.error.as_deref().unwrap_or("the history could not be loaded"))
            }
        }
    }
}

fn tile_html(
    t: &Tile,
    csrf: &str,
    health: &[(String, Health)],
    history: &[(String, Option<Backfill>)],
    now: DateTime<Utc>,
) -> Markup {
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
                    thead {
                        tr {
                            th { "Name" } th { "Id" } th { "Currency" } th { "Time zone" }
                            th { "Last sync" } th { "Lag" } th { "Last error" }
                        }
                    }
                    tbody {
                        @for a in accounts {
                            @let tz = a.timezone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::Tz::UTC);
                            tr data-account=(a.id) {
                                td { (a.name) }
                                td class="mono" { (a.id) }
                                td { (a.currency.as_deref().unwrap_or("—")) }
                                td { (a.timezone.as_deref().unwrap_or("—")) }
                                (sync_cells(health.iter().find(|(id, _)| *id == a.id).map(|(_, h)| h), tz, now))
                            }
                        }
                    }
                } }))
                @if history.iter().any(|(_, b)| b.is_some()) {
                    h2 { "History" }
                    ul id="history" {
                        @for a in accounts {
                            @if let Some(b) = history.iter().find(|(id, _)| *id == a.id).and_then(|(_, b)| b.as_ref()) {
                                @let tz = a.timezone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::Tz::UTC);
                                li data-account=(a.id) { strong { (a.name) } ": " (history_text(b, tz)) }
                            }
                        }
                    }
                }
            }
            @if status != "disconnected" {
                p class="note" id="sync" {
                    "Sync: last success " (t.last_sync_success.as_deref().map_or_else(|| "never".to_owned(), |t| html::local_rfc3339(t, chrono_tz::Tz::UTC)))
                    @if let Some(s) = t.sync_lag_seconds {
                        " (" (s / 60) " min ago)"
                    }
                    ". Change detection is the hourly sync (webhooks are not supported on x_ads)."
                }
                @if let Some(e) = &t.last_sync_error {
                    div class="problem" { "Last sync error: " (e) }
                }
                @if let Some(at) = &t.connected_at {
                    p class="note" { "Connected since " (html::local_rfc3339(at, chrono_tz::Tz::UTC)) "." }
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
                    a class="btn danger" id="disconnect" href="/integrations/x_ads/disconnect" { "Disconnect…" }
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

/// Disconnect asks first: what it deletes, what stays, and which running experiments stop
/// (their line items staying as they are at X).
async fn confirm_disconnect(State(state): State<AppState>, user: User) -> Response {
    let running = crate::store::experiments::running_of_tenant(&state.db, &user.0.tenant.id)
        .await
        .unwrap_or_default();
    let body = html! {
        h1 { "Disconnect X (Twitter) Ads?" }
        div class="card" id="disconnect-confirm" {
            p {
                "The tokens are deleted here. The synced history stays readable on Reports, "
                "no longer refreshed."
            }
            @if running.is_empty() {
                p id="running-experiments" { "No experiment is running." }
            } @else {
                div class="problem" id="running-experiments" {
                    p {
                        (running.len()) " running experiment(s) stop: the runner no longer switches their line items, "
                        "which stay as they are at X right now. A live variant keeps delivering, and spending, "
                        "until you pause it at X (or here, after re-connecting)."
                    }
                    ul {
                        @for e in &running {
                            li { (e.name) " " span class="note mono" { "(account " (e.account_id) ")" } }
                        }
                    }
                }
            }
            p class="note" {
                "To fully revoke access, also remove the app from your X account's connected apps "
                "(X → Settings → Security and account access → Apps and sessions → Connected apps)."
            }
            form method="post" action="/integrations/x_ads/disconnect" class="row" {
                (csrf_field(&user.0.csrf))
                input type="hidden" name="confirm" value="1";
                button class="danger" type="submit" id="confirm-disconnect" { "Disconnect" }
                a class="btn" href="/integrations" { "Cancel" }
            }
        }
    };
    render(&user, "Disconnect", Nav::Integrations, body)
}

async fn disconnect(
    State(state): State<AppState>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    // One click is not enough: the confirmation page says what happens first.
    if f.get("confirm").map(String::as_str) != Some("1") {
        return see_other("/integrations/x_ads/disconnect");
    }
    let running = crate::store::experiments::running_of_tenant(&state.db, &user.0.tenant.id)
        .await
        .map(|r| r.len())
        .unwrap_or(0);
    // What `DELETE /api/v1/integrations/x_ads` does.
    match crate::connect::disconnect(&state, &user.0.tenant).await {
        Ok(_) => see_other_flash("/integrations", &format!("disconnected-{running}")),
        Err(e) => tile_page(&state, &user, Some(Err(problem(e))), None).await,
    }
}

/// Starts a sync of every ad account now (the hourly job does the same), as `POST …/stats/sync`
/// does for each; the page then follows the runs.
async fn sync_all(State(state): State<AppState>, CsrfForm(user, _): CsrfForm<Fields>) -> Response {
    let accounts = match Account::all(&state, &user).await {
        Ok(a) => a,
        Err(e) => return tile_page(&state, &user, Some(Err(e.text())), None).await,
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
