//! Reports: spend (USD) and impressions per local day of the account as an SVG chart, a table
//! by campaign (each currency in its own units, USD estimated where the rate is stale), the
//! account's sync state, a date range, on-demand sync and CSV download — all from
//! `GET …/stats` and `POST …/stats/sync`. A disconnected account's stored history stays
//! readable, under a banner saying it is no longer refreshed.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use maud::{Markup, html};
use rust_decimal::Decimal;
use serde_json::Value;

use super::view::StatsRow;
use super::{
    Fields, Picker, flash_code, render_refreshing, see_other, see_other_flash, shown_once,
};
use crate::app::AppState;
use crate::money;
use crate::store::sync_runs;
use crate::ui::html::{self, Nav, Series, csrf_field, flash, q};
use crate::ui::session::{CsrfForm, User};
use crate::web::reports::{StatsQuery, SyncBody};
use crate::web::{self, error::ApiError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/reports", get(page))
        .route("/reports/sync", post(sync))
        .route("/reports.csv", get(csv))
}

/// The date range of a request: `from`/`to` (inclusive dates), default the 14 days to `today`.
pub(super) fn range(qs: &Fields, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let parse = |k: &str| {
        qs.get(k)
            .and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
    };
    let to = parse("to").unwrap_or(today);
    let from = parse("from").unwrap_or(to - Duration::days(13));
    if from > to { (to, from) } else { (from, to) }
}

/// The stats of `account` (campaigns, `granularity`) over the local dates `from` to `to`
/// (both included), read as `GET …/stats?entity=campaign&from={from}&to={to}&granularity=…`
/// reads them.
pub(super) async fn stats(
    state: &AppState,
    user: &User,
    account: &str,
    (from, to): (NaiveDate, NaiveDate),
    granularity: &str,
) -> Result<Vec<Value>, ApiError> {
    let account = web::ids::account(account)?;
    let q = StatsQuery {
        entity: Some("campaign".to_owned()),
        from: Some(from.to_string()),
        // A date `to` includes its whole local day (the API moves it to the next midnight).
        to: Some(to.to_string()),
        granularity: Some(granularity.to_owned()),
        ..StatsQuery::default()
    };
    Ok(
        web::reports::stats_of(state, &user.0.tenant.id, account.as_str(), &q)
            .await?
            .data,
    )
}

/// The progress of the sync runs `ids` (comma-separated, the tenant's own) while one is still
/// running: a status region that says what is running and what it did so far (the page
/// reloads itself to follow it). Once none runs: `Err(code)`, the flash code of the result,
/// for a 303 to the page's clean address that shows it once ([`sync_result`]), so a reload
/// never shows a finished sync again.
pub(super) async fn sync_progress(
    state: &AppState,
    user: &User,
    ids: &str,
    again: &str,
) -> Result<Markup, String> {
    let mut runs = vec![];
    for id in ids.split(',').filter(|i| !i.is_empty()).take(20) {
        if let Ok(Some(run)) = sync_runs::get_run(&state.db, &user.0.tenant.id, id).await {
            runs.push(run);
        }
    }
    let running = runs.iter().filter(|r| r.status == "running").count();
    let failed = runs.iter().filter(|r| r.status == "failed").count();
    let rows: i64 = runs.iter().map(|r| r.counts.rows_upserted).sum();
    let calls: i64 = runs.iter().map(|r| r.counts.x_calls).sum();
    if runs.is_empty() {
        return Err("sync-unknown".to_owned());
    }
    if running == 0 {
        return Err(if failed > 0 {
            format!("sync-failed-{failed}")
        } else {
            format!("sync-ok-{}-{calls}-{rows}", runs.len())
        });
    }
    Ok(html! {
        div id="sync-status" role="status" aria-live="polite" data-state="running" class="warning" {
            strong { "Syncing from X… " }
            (runs.len() - running) " of " (html::counted(runs.len() as u64, "accounts")) " done; "
            (html::counted(calls, "calls to X")) ", " (html::counted(rows, "rows")) " written so far. "
            "This page refreshes every few seconds; you can leave it, the sync goes on. "
            a href=(again) { "Check now" }
        }
    })
}

/// The result of a finished sync, from its flash code (`sync-ok-<accounts>-<calls>-<rows>`,
/// `sync-failed-<accounts>`, `sync-unknown`): shown once, after the 303 that left `?sync=`.
pub(super) fn sync_result(code: &str) -> Option<Markup> {
    let rest = code.strip_prefix("sync-")?;
    let numbers = |s: &str| -> Option<Vec<i64>> { s.split('-').map(|n| n.parse().ok()).collect() };
    let (class, body) = if let Some(n) = rest.strip_prefix("ok-").and_then(numbers) {
        let [accounts, calls, rows] = n[..] else {
            return None;
        };
        (
            "flash",
            html! {
                strong { "Sync succeeded." } " "
                (html::counted(accounts, "accounts")) ", " (html::counted(calls, "calls to X")) ", "
                (html::counted(rows, "rows")) " written."
            },
        )
    } else if let Some(n) = rest.strip_prefix("failed-").and_then(numbers) {
        let [accounts] = n[..] else { return None };
        (
            "problem",
            html! {
                strong { "Sync failed" } " for " (html::counted(accounts, "accounts"))
                ": the error is shown with the account's sync state."
            },
        )
    } else if rest == "unknown" {
        ("problem", html! { "That sync is not known here." })
    } else {
        return None;
    };
    Some(html! {
        div id="sync-status" role="status" data-state="done" class=(class) { (body) }
    })
}

/// The fixed texts of the flash codes this page's actions leave.
fn flash_text(code: &str) -> Option<Result<String, String>> {
    match code {
        "sync-refused" => Some(Err(
            "The sync could not start; the reason is under Sync below or on the Integrations tile."
                .to_owned(),
        )),
        _ => None,
    }
}

async fn page(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Query(qs): Query<Fields>,
) -> Response {
    let flash_code = flash_code(&headers);
    let msg = flash_code.as_deref().and_then(flash_text);
    // History stays readable after a disconnect: the stored accounts, with why X is offline.
    let picker = match Picker::load_stored(
        &state,
        &user,
        qs.get("account"),
        ("/reports", "Reports", Nav::Reports),
    )
    .await
    {
        Ok(p) => p,
        Err(page) => return shown_once(page, flash_code.is_some()),
    };
    let account_id = picker.current.id.as_str();
    let currency = picker.current.currency.as_str();
    let tz = picker.current.tz();
    let now = state.clock.now();
    let (from, to) = range(&qs, now.with_timezone(&tz).date_naive());
    let clean = format!("/reports?account={}&from={from}&to={to}", q(account_id));
    let progress = match qs.get("sync") {
        Some(ids) => {
            let again = format!("{clean}&sync={}", q(ids));
            match sync_progress(&state, &user, ids, &again).await {
                Ok(running) => Some(running),
                // Done: the clean address shows the result once.
                Err(code) => return see_other_flash(&clean, &code),
            }
        }
        None => None,
    };
    let finished = flash_code.as_deref().and_then(sync_result);
    let daily = stats(&state, &user, account_id, (from, to), "day")
        .await
        .map_err(|e| e.message);
    let totals = stats(&state, &user, account_id, (from, to), "total")
        .await
        .unwrap_or_default();
    // The campaigns' names from the mirror (kept after a disconnect).
    let names = crate::store::stats::entity_names(&state.db, &user.0.tenant.id, account_id)
        .await
        .unwrap_or_default();
    let health = crate::store::sync_runs::health(&state.db, &user.0.tenant.id, account_id)
        .await
        .unwrap_or_default();

    // Per local day: spend in USD and impressions over all campaigns.
    let mut days: BTreeMap<String, (f64, f64, bool)> = BTreeMap::new();
    // The stale rates used (rate, its date), for the estimate's footnote.
    let mut stale: BTreeSet<(String, String)> = BTreeSet::new();
    for r in daily.iter().flatten().map(StatsRow::from_api) {
        let e = days.entry(r.date.clone()).or_insert((0.0, 0.0, false));
        e.0 += r.spend_usd_value;
        e.1 += r.impressions;
        e.2 |= !r.spend_usd_known && r.spend_local_micros.is_some_and(|m| m > 0);
        if r.fx_stale
            && let (Some(rate), Some(date)) = (&r.fx_rate, &r.fx_rate_date)
        {
            stale.insert((rate.clone(), date.clone()));
        }
    }
    let labels: Vec<String> = days
        .keys()
        .map(|d| d.get(5..).unwrap_or(d).to_owned())
        .collect();
    let chart = html::line_chart(
        &labels,
        &[
            Series {
                label: if stale.is_empty() {
                    "Spend (USD)"
                } else {
                    "Spend (USD, est.)"
                },
                color: "#0b6fb8",
                prefix: "$",
                values: days.values().map(|v| v.0).collect(),
            },
            Series {
                label: "Impressions",
                color: "#7856ff",
                prefix: "",
                values: days.values().map(|v| v.1).collect(),
            },
        ],
    );
    let rows: Vec<StatsRow> = totals.iter().map(StatsRow::from_api).collect();
    let total_impressions: f64 = rows.iter().map(|r| r.impressions).sum();
    let total_usd: Decimal = rows
        .iter()
        .filter_map(|r| r.spend_usd.as_deref()?.parse::<Decimal>().ok())
        .sum();
    let any_stale = rows.iter().any(|r| r.fx_stale);
    let usd_account = currency == "USD";
    let count = |n: f64| html::group(n as u64);
    let lag = health.last_success_at.map(|t| (now - t).num_seconds());

    let body = html! {
        h1 { "Reports" }
        (picker.tabs())
        (flash(&msg))
        @if let Some(status) = &progress {
            (status)
        }
        @if let Some(done) = &finished {
            (done)
        }
        @if let Some(why) = &picker.offline {
            div class="problem" id="history-banner" role="status" {
                (why) ", so the history below is no longer refreshed: connect again on "
                a href="/integrations" { "Integrations" } " to resume syncing."
            }
        }
        p class="note" id="timezone" {
            "Days and times are the account's: " strong { (picker.current.timezone) }
            " (now " (html::local_instant(now, tz)) ")."
        }
        div class="card" id="sync-state" {
            h2 style="margin-top:0" { "Sync" }
            p {
                "Last success: "
                @match health.last_success_at {
                    Some(t) => { (html::local_instant(t, tz)) }
                    None => { "never" }
                }
                @if let Some(s) = lag {
                    " · lag " (html::lag(s))
                }
                @if let Some(t) = health.synced_until {
                    " · data up to " (html::local_instant(t, tz))
                }
            }
            @if let (Some(e), Some(at)) = (&health.last_error, health.last_error_at) {
                @if health.last_success_at.is_none_or(|s| s < at) {
                    div class="problem" id="sync-error" {
                        "Last sync error (" (html::local_instant(at, tz)) "): " (e)
                    }
                } @else {
                    p class="note" { "Earlier error, since recovered (" (html::local_instant(at, tz)) "): " (e) }
                }
            }
        }
        div class="card" {
            form method="get" action="/reports" class="row" {
                input type="hidden" name="account" value=(account_id);
                div {
                    label for="from" { "From" }
                    input id="from" type="date" name="from" value=(from);
                }
                div {
                    label for="to" { "To" }
                    input id="to" type="date" name="to" value=(to);
                }
                div { button type="submit" { "Show" } }
                div {
                    a class="btn" id="csv"
                        href={ "/reports.csv?account=" (q(account_id)) "&from=" (from) "&to=" (to) } {
                        "Download CSV"
                    }
                }
            }
            @if picker.offline.is_none() {
                form method="post" action="/reports/sync" class="row" style="margin-top:10px" {
                    (csrf_field(&user.0.csrf))
                    input type="hidden" name="account" value=(account_id);
                    input type="hidden" name="from" value=(from);
                    input type="hidden" name="to" value=(to);
                    div { button type="submit" id="sync-now" { "Sync now from X" } }
                    div class="note" {
                        "Syncs run hourly; X revises data for up to 3 days, so recent rows may still change."
                    }
                }
            }
        }
        @if let Err(e) = &daily {
            div class="problem" { (e) }
        }
        div class="card" id="chart" {
            h2 style="margin-top:0" { "Spend and impressions per day (" (picker.current.timezone) ")" }
            (html::scroll("Chart", chart))
            @if days.values().any(|v| v.2) {
                p class="note" {
                    "Some days have no FX rate yet: their USD spend is empty until the rate arrives."
                }
            }
        }
        div class="card" {
            h2 style="margin-top:0" { "By campaign" }
            (html::scroll("By campaign", html! { table id="by-campaign" {
                thead {
                    tr {
                        th { "Campaign" } th class="n" { "Impressions" } th class="n" { "Clicks" }
                        th class="n" { "Engagements" } th class="n" { "Conversions" }
                        // On a USD account the local spend is the USD spend: one column.
                        @if !usd_account {
                            th class="n" { "Spend (" (if currency.is_empty() { "local" } else { currency }) ")" }
                        }
                        th class="n" { "Spend (USD)" }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr {
                            td colspan=(if usd_account { "6" } else { "7" }) class="note" {
                                @if picker.offline.is_some() {
                                    "No stats stored in this range."
                                } @else {
                                    "No stats in this range. Use “Sync now from X” to pull them."
                                }
                            }
                        }
                    }
                    @for r in &rows {
                        @let id = r.entity_id.as_str();
                        tr {
                            td {
                                (names.get(id).map(String::as_str).unwrap_or(id))
                                div class="note mono" { (id) }
                            }
                            td class="n" { (count(r.impressions)) }
                            td class="n" { (count(r.clicks)) }
                            td class="n" { (count(r.engagements)) }
                            td class="n" { (count(r.conversions)) }
                            @if !usd_account {
                                td class="n" {
                                    @match r.spend_local_micros {
                                        Some(m) => { (money::format(m, r.currency.as_deref().unwrap_or(currency))) }
                                        None => { "—" }
                                    }
                                }
                            }
                            td class="n" {
                                @match &r.spend_usd {
                                    Some(s) if r.fx_stale => {
                                        span class="estimate" title="estimated: converted with a rate more than 7 days older than the data" {
                                            "≈ " (usd(s)) " est."
                                        }
                                    }
                                    Some(s) => { (usd(s)) }
                                    None => { "—" }
                                }
                            }
                        }
                    }
                    @if !rows.is_empty() {
                        tr {
                            th { "Total" }
                            th class="n" { (html::group(total_impressions as u64)) }
                            th colspan=(if usd_account { "3" } else { "4" }) {}
                            th class="n" {
                                @if any_stale { "≈ " }
                                (money::with_currency(total_usd, "USD"))
                                @if any_stale { " est." }
                            }
                        }
                    }
                }
            } }))
            @if any_stale || !stale.is_empty() {
                p class="note" id="fx-stale" {
                    "≈ est.: USD estimated with a rate more than 7 days older than the data (no newer rate is stored"
                    @if !currency.is_empty() && currency != "USD" { " for " (currency) }
                    "): "
                    @for (i, (rate, date)) in stale.iter().enumerate() {
                        @if i > 0 { "; " }
                        "1 " (currency) " = " (rate) " USD of " (date)
                    }
                    "."
                }
            }
        }
    };
    let refresh = progress.is_some().then_some(2);
    shown_once(
        render_refreshing(&user, "Reports", Nav::Reports, refresh, body),
        flash_code.is_some(),
    )
}

/// A USD decimal string as money (`$11,245.00`).
fn usd(s: &str) -> String {
    s.parse::<Decimal>()
        .map(|d| money::with_currency(d, "USD"))
        .unwrap_or_else(|_| s.to_owned())
}

/// The account's time zone (UTC for an unknown account: its request is refused anyway).
pub(super) async fn account_tz(state: &AppState, user: &User, account: &str) -> Tz {
    crate::store::connections::ad_account(&state.db, &user.0.tenant.id, account)
        .await
        .ok()
        .flatten()
        .and_then(|a| a.timezone.parse().ok())
        .unwrap_or(Tz::UTC)
}

async fn sync(State(state): State<AppState>, CsrfForm(user, f): CsrfForm<Fields>) -> Response {
    let account = f.get("account").cloned().unwrap_or_default();
    let now = state.clock.now();
    let tz = account_tz(&state, &user, &account).await;
    // The page's dates are the account's local days: the window runs from the first one's local
    // midnight to the end of the last one (or now), in whole hours.
    let (from, to) = range(&f, now.with_timezone(&tz).date_naive());
    let from_t = web::reports::local_midnight(from, tz);
    let to_t = web::reports::local_midnight(to + Duration::days(1), tz).min(now);
    let hour = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:00:00Z").to_string();
    // What `POST …/stats/sync?wait=true` runs for this window.
    let body = SyncBody {
        from: Some(hour(from_t)),
        to: Some(hour(to_t)),
        ..SyncBody::default()
    };
    // What `POST …/stats/sync` starts for this window; the page follows the run.
    let run = match web::ids::account(&account) {
        Ok(id) => web::reports::sync_start(&state, &user.0.tenant.id, id.as_str(), body).await,
        Err(e) => Err(e),
    };
    let back = format!("/reports?account={}&from={from}&to={to}", q(&account));
    match run {
        Ok(id) => see_other(&format!("{back}&sync={}", q(&id))),
        Err(e) => {
            tracing::info!(error = %e.message, "ui sync refused");
            see_other_flash(&back, "sync-refused")
        }
    }
}

async fn csv(State(state): State<AppState>, user: User, Query(qs): Query<Fields>) -> Response {
    let account = qs.get("account").cloned().unwrap_or_default();
    let tz = account_tz(&state, &user, &account).await;
    let range = range(&qs, state.clock.now().with_timezone(&tz).date_naive());
    // What `GET …/stats` answers with `Accept: text/csv`, named for the range: one line per
    // campaign and local day, with the campaign's name and decimal amounts beside the micros.
    let data = match stats(&state, &user, &account, range, "day").await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let names = crate::store::stats::entity_names(&state.db, &user.0.tenant.id, &account)
        .await
        .unwrap_or_default();
    let (from, to) = range;
    let name = format!(
        "attachment; filename=\"x_ads_{}_{from}_{to}.csv\"",
        account.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, name),
        ],
        web::reports::stats_csv(&data, &names),
    )
        .into_response()
}
