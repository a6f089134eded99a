//! Reports: spend (USD) and impressions per local day of the account as an SVG chart, a table
//! by campaign, line item or promoted tweet (`?level=`; each currency in its own units, USD
//! estimated where the rate is stale), the account's sync state, a date range, on-demand sync
//! and CSV download — all from `GET …/stats` and `POST …/stats/sync`. A disconnected account's stored history stays
//! readable, under a banner saying it is no longer refreshed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
use xads_client::vocab::StatsEntityType;

use super::view::StatsRow;
use super::{
    Fields, Picker, flash_code, render_refreshing, see_other, see_other_flash, shown_once,
};
use crate::app::AppState;
use crate::cache::Versioned;
use crate::money;
use crate::store::entities::Kind;
use crate::store::stats::IMPRESSIONS;
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

/// The local days the hourly view covers (today and the days before it).
const HOURLY_DAYS: i64 = 3;

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
    range: (NaiveDate, NaiveDate),
    granularity: &str,
) -> Result<Vec<Value>, ApiError> {
    stats_at(state, user, account, &LEVELS[0], range, granularity).await
}

/// A level the page reports at: `?level=` (`key`), the stats rows it reads
/// (`GET …/stats?entity=`), and its names in words.
pub(super) struct Level {
    key: &'static str,
    entity: StatsEntityType,
    /// The table's first column and the "By …" heading.
    one: &'static str,
    /// The level in the plural, in a sentence.
    many: &'static str,
}

/// The levels of the Reports page, the default first.
const LEVELS: [Level; 3] = [
    Level {
        key: "campaign",
        entity: StatsEntityType::Campaign,
        one: "Campaign",
        many: "campaigns",
    },
    Level {
        key: "line_item",
        entity: StatsEntityType::LineItem,
        one: "Line item",
        many: "line items",
    },
    Level {
        key: "promoted_tweet",
        entity: StatsEntityType::PromotedTweet,
        one: "Promoted tweet",
        many: "promoted tweets",
    },
];

/// The level `?level=` names (the campaigns when absent or unknown).
fn level_of(qs: &Fields) -> &'static Level {
    qs.get("level")
        .and_then(|k| LEVELS.iter().find(|l| l.key == k.as_str()))
        .unwrap_or(&LEVELS[0])
}

/// Where the rows of a level other than the campaigns come from, for a range that has none:
/// said plainly, with what fills it (the campaigns' own note is in their empty table).
fn level_empty(level: &Level) -> Option<Markup> {
    match level.entity {
        StatsEntityType::LineItem => Some(html! {
            "No line-item stats are stored in this range. Line-item rows come from the history "
            "backfill (by itself at connect, or “xads sync --from --to”) and, hour by hour, "
            "from the sync of campaigns that run an experiment."
        }),
        StatsEntityType::PromotedTweet => Some(html! {
            "No promoted-tweet stats are stored in this range. Promoted-tweet rows come from the "
            "history backfill (by itself at connect, or “xads sync --from --to”); the hourly "
            "sync keeps the campaigns' rows fresh, so the same spend is reported by campaign."
        }),
        _ => None,
    }
}

/// The stats of `account` at `level` (`granularity`) over the local dates `from` to `to` (both
/// included), read as `GET …/stats?entity={level}&from={from}&to={to}&granularity=…` reads
/// them.
async fn stats_at(
    state: &AppState,
    user: &User,
    account: &str,
    level: &Level,
    (from, to): (NaiveDate, NaiveDate),
    granularity: &str,
) -> Result<Vec<Value>, ApiError> {
    let account = web::ids::account(account)?;
    let q = StatsQuery {
        entity: Some(level.entity.as_str().to_owned()),
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

/// The chart's points of `account` at `level` (`granularity` hour or day) over the local dates
/// `from` to `to`: the rows of `GET …/stats?entity={level}&from={from}&to={to}&granularity=…`
/// summed per hour or day over every entity, by the database.
async fn points_at(
    state: &AppState,
    user: &User,
    account: &str,
    level: &Level,
    (from, to): (NaiveDate, NaiveDate),
    granularity: &str,
) -> Result<Vec<web::reports::Point>, ApiError> {
    let account = web::ids::account(account)?;
    let q = StatsQuery {
        entity: Some(level.entity.as_str().to_owned()),
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        granularity: Some(granularity.to_owned()),
        ..StatsQuery::default()
    };
    web::reports::points_of(state, &user.0.tenant.id, account.as_str(), &q).await
}

/// The breakdowns the Reports page offers (`GET …/stats?segment=`), with their names.
const BREAKDOWNS: &[(&str, &str)] = &[
    ("PLATFORMS", "Platform"),
    ("AGE", "Age"),
    ("GENDER", "Gender"),
    ("METROS", "Metro"),
    ("CONVERSION_TAGS", "Conversion tag"),
];

/// The totals of `account`'s entities at `level` over the local dates split by the segments of
/// `segment`, as `GET …/stats?entity={level}&segment=…&granularity=total` reads them.
async fn segment_stats(
    state: &AppState,
    user: &User,
    account: &str,
    level: &Level,
    (from, to): (NaiveDate, NaiveDate),
    segment: &str,
) -> Result<Vec<Value>, ApiError> {
    let account = web::ids::account(account)?;
    let q = StatsQuery {
        entity: Some(level.entity.as_str().to_owned()),
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        granularity: Some("total".to_owned()),
        segment: Some(segment.to_owned()),
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
    let today = now.with_timezone(&tz).date_naive();
    // The hourly view: the last few local days, hour by hour.
    let hourly = qs.get("view").map(String::as_str) == Some("hour");
    let (from, to) = if hourly {
        (today - Duration::days(HOURLY_DAYS - 1), today)
    } else {
        range(&qs, today)
    };
    // The level reported (campaigns unless `?level=` names another), kept by every link.
    let level = level_of(&qs);
    let keep_level = if level.key == LEVELS[0].key {
        String::new()
    } else {
        format!("&level={}", level.key)
    };
    let day_view = format!(
        "/reports?account={}&from={from}&to={to}{keep_level}",
        q(account_id)
    );
    let hour_view = format!("/reports?account={}&view=hour{keep_level}", q(account_id));
    let clean = if hourly {
        hour_view.clone()
    } else {
        day_view.clone()
    };
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
    // The breakdown chosen, by segment: every campaign's rows of a segment summed.
    let breakdown = qs
        .get("segment")
        .and_then(|s| BREAKDOWNS.iter().find(|(k, _)| k == s))
        .copied();
    let view = View {
        level,
        range: (from, to),
        hourly,
        breakdown: breakdown.map(|(k, _)| k),
    };
    let figures = figures_of(&state, &user, &picker, &view).await;
    let Figures {
        days,
        stale,
        daily_problem,
        rows,
        all,
        previous,
        rollup,
        segments,
        breakdown_problem,
    } = &*figures;
    // The level's names from the mirror (kept after a disconnect), and their parents' (a line
    // item's campaign, a promoted tweet's line item).
    let kind = crate::store::entities::kind_of(level.entity);
    let labels =
        |kind| crate::store::entities::labels(&state.db, &user.0.tenant.id, account_id, kind);
    let names = labels(kind).await.unwrap_or_default();
    let parents = match kind {
        Kind::LineItem => labels(Kind::Campaign).await.unwrap_or_default(),
        Kind::PromotedTweet => labels(Kind::LineItem).await.unwrap_or_default(),
        Kind::Campaign => Default::default(),
    };
    let health = crate::store::sync_runs::health(&state.db, &user.0.tenant.id, account_id)
        .await
        .unwrap_or_default();

    let labels: Vec<String> = days
        .keys()
        .map(|k| match chrono::DateTime::parse_from_rfc3339(k) {
            // An hour as the account's wall clock reads it.
            Ok(t) if hourly => t.with_timezone(&tz).format("%m-%d %H:00").to_string(),
            _ => k.get(5..).unwrap_or(k).to_owned(),
        })
        .collect();
    // One chart per measure, each on its own axis of nice ticks: two series of different units
    // on one plot crossed each other with nothing to read from the crossing.
    let spend_chart = html::line_chart(
        &labels,
        &[Series {
            label: if stale.is_empty() {
                "Spend (USD)"
            } else {
                "Spend (USD, est.)"
            },
            color: "#0b6fb8",
            prefix: "$",
            values: days.values().map(|v| v.0).collect(),
        }],
    );
    let impressions_chart = html::line_chart(
        &labels,
        &[Series {
            label: "Impressions",
            color: "#7856ff",
            prefix: "",
            values: days.values().map(|v| v.1).collect(),
        }],
    );
    let (days_in_range, (prev_from, prev_to)) = previous_period(from, to);
    let rollup_total = rollup
        .iter()
        .fold(Sums::default(), |acc, s| acc.plus_in_usd(s));
    let segment_usd: Decimal = segments.iter().map(|(_, s)| s.spend_usd).sum();
    // The page at another level: the same dates (or hourly view) and breakdown.
    let level_href = |l: &Level| {
        let mut href = if hourly {
            format!("/reports?account={}&view=hour", q(account_id))
        } else {
            format!("/reports?account={}&from={from}&to={to}", q(account_id))
        };
        if l.key != LEVELS[0].key {
            href.push_str("&level=");
            href.push_str(l.key);
        }
        if let Some((k, _)) = breakdown {
            href.push_str("&segment=");
            href.push_str(k);
        }
        href
    };
    let any_stale = all.stale;
    let usd_account = currency == "USD";
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
            nav class="tabs" id="levels" aria-label="Report level" {
                "Report by: "
                @for l in &LEVELS {
                    a id={ "level-" (l.key) } href=(level_href(l))
                        aria-current=[(l.key == level.key).then_some("page")]
                        class=[(l.key == level.key).then_some("on")] { (l.one) "s" }
                }
            }
            form method="get" action="/reports" class="row" {
                input type="hidden" name="account" value=(account_id);
                @if level.key != LEVELS[0].key {
                    input type="hidden" name="level" value=(level.key);
                }
                @if let Some((k, _)) = breakdown {
                    input type="hidden" name="segment" value=(k);
                }
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
                        href={ "/reports.csv?account=" (q(account_id)) "&from=" (from) "&to=" (to) (keep_level) } {
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
                    @if level.key != LEVELS[0].key {
                        input type="hidden" name="level" value=(level.key);
                    }
                    div { button type="submit" id="sync-now" { "Sync now from X" } }
                    div class="note" {
                        "Syncs run hourly; X revises data for up to 3 days, so recent rows may still change."
                    }
                }
            }
        }
        @if let Some(e) = daily_problem {
            div class="problem" { (e) }
        }
        div class="card" id="chart" {
            h2 style="margin-top:0" {
                "Spend and impressions per " (if hourly { "hour" } else { "day" })
                " (" (picker.current.timezone) ")"
            }
            nav class="tabs" aria-label="Chart view" {
                a href=(day_view) aria-current=[(!hourly).then_some("page")] class=[(!hourly).then_some("on")] { "By day" }
                " "
                a href=(hour_view) id="hourly-view" aria-current=[hourly.then_some("page")] class=[hourly.then_some("on")] {
                    "By hour, last " (HOURLY_DAYS) " days"
                }
            }
            div class="charts" {
                div { h3 { "Spend (USD)" } (html::scroll("Spend per day", spend_chart)) }
                div { h3 { "Impressions" } (html::scroll("Impressions per day", impressions_chart)) }
            }
            @if days.values().any(|v| v.2) {
                p class="note" {
                    "Some days have no FX rate yet: their USD spend is empty until the rate arrives."
                }
            }
        }
        @if !rollup.is_empty() {
            div class="card" id="all-accounts" {
                h2 style="margin-top:0" { "All accounts, in USD" }
                p class="note" {
                    (from) " to " (to) ", each account's own days, from its campaigns' rows"
                    @match level.entity {
                        StatsEntityType::LineItem => {
                            " (every sync stores those; line items have rows only where a backfill or an experiment asked)"
                        }
                        StatsEntityType::PromotedTweet => {
                            " (every sync stores those; promoted tweets have rows only where a backfill asked)"
                        }
                        _ => {}
                    }
                    "; the total adds the USD of every account "
                    "(local spend does not add up across currencies)."
                }
                (html::scroll("All accounts", html! { table id="rollup" {
                    thead {
                        tr {
                            th { "Account" }
                            (metric_headers(Some("local")))
                        }
                    }
                    tbody {
                        @for (a, sums) in picker.accounts.iter().zip(rollup) {
                            tr data-account=(a.id) class=[(a.id == picker.current.id).then_some("on")] {
                                td {
                                    a href={ "/reports?account=" (q(&a.id)) "&from=" (from) "&to=" (to) (keep_level) } { (a.name) }
                                    " " span class="note" { "(" (a.currency) ")" }
                                }
                                (sums.cells(&a.currency, false))
                            }
                        }
                    }
                    tfoot {
                        tr id="rollup-total" {
                            th scope="row" { "TOTAL (USD)" }
                            (rollup_total.cells("", false))
                        }
                    }
                } }))
            }
        }
        div class="card" id="breakdown-card" {
            h2 style="margin-top:0" { "Breakdown" }
            form method="get" action="/reports" class="row" aria-label="Breakdown" {
                input type="hidden" name="account" value=(account_id);
                @if level.key != LEVELS[0].key {
                    input type="hidden" name="level" value=(level.key);
                }
                input type="hidden" name="from" value=(from);
                input type="hidden" name="to" value=(to);
                div {
                    label for="segment" { "Split by" }
                    select id="segment" name="segment" {
                        option value="" selected[breakdown.is_none()] { "Nothing" }
                        @for (k, name) in BREAKDOWNS {
                            option value=(k) selected[breakdown.is_some_and(|b| b.0 == *k)] { (name) }
                        }
                    }
                }
                div { button type="submit" { "Show" } }
            }
            @if let Some(p) = &breakdown_problem {
                div class="problem" { (p) }
            }
            @if let Some((_, what)) = breakdown {
                @if segments.is_empty() {
                    p class="note" id="breakdown-empty" {
                        "No " (what.to_lowercase()) " breakdown of " (level.many) " is stored for these dates: breakdowns come from X's "
                        "asynchronous jobs (a backfill with a segment, which stores campaigns and line items)."
                    }
                } @else {
                    p class="note" { (level.one) "s' rows of each segment, summed." }
                    // Each segment's share of the USD spend, stacked in one bar.
                    (share_bar(segments, segment_usd))
                    (html::scroll("Breakdown", html! { table id="breakdown" {
                        thead {
                            tr {
                                th { (what) }
                                (metric_headers((!usd_account).then_some(currency)))
                            }
                        }
                        tbody {
                            @for (name, sums) in segments {
                                tr data-segment=(name) {
                                    td { (name) }
                                    (sums.cells(currency, usd_account))
                                }
                            }
                        }
                    } }))
                }
            }
        }
        div class="card" id="level-card" {
            h2 style="margin-top:0" { "By " (level.one.to_lowercase()) }
            (html::scroll(&format!("By {}", level.one.to_lowercase()), html! { table id={ "by-" (level.key.replace('_', "-")) } data-level=(level.entity.as_str()) {
                thead {
                    tr {
                        // Names of line items wrap word by word on a phone without a floor.
                        th style="min-width:9em" { (level.one) }
                        // On a USD account the local spend is the USD spend: one column.
                        (metric_headers((!usd_account).then_some(if currency.is_empty() { "local" } else { currency })))
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr {
                            td colspan=(if usd_account { "12" } else { "13" }) class="note" {
                                @if level.key != LEVELS[0].key {
                                    "None stored in this range."
                                } @else if picker.offline.is_some() {
                                    "No stats stored in this range."
                                } @else {
                                    "No stats in this range. Use “Sync now from X” to pull them."
                                }
                            }
                        }
                    }
                    @for r in rows {
                        @let id = r.entity_id.as_str();
                        tr data-id=(id) {
                            td {
                                @let label = names.get(id);
                                (label.map_or(id, |l| l.name.as_str()))
                                @if let Some(parent) = label.and_then(|l| parents.get(l.parent_id.as_deref()?)) {
                                    div class="note" { "in " (parent.name) }
                                }
                                div class="note mono" { (id) }
                            }
                            (Sums::of(std::slice::from_ref(r)).cells(currency, usd_account))
                        }
                    }
                }
                @if !rows.is_empty() {
                    tfoot {
                        tr id="total" {
                            th scope="row" { "TOTAL" }
                            (all.cells(currency, usd_account))
                        }
                        tr id="previous" {
                            th scope="row" {
                                "Previous " (html::counted(days_in_range, "days"))
                                div class="note" { (prev_from) " – " (prev_to) }
                            }
                            (previous.cells(currency, usd_account))
                        }
                        tr id="change" {
                            th scope="row" { "Change" }
                            (all.change_cells(previous, usd_account))
                        }
                    }
                }
            } }))
            // Below the table, not in it: a sentence in a row as wide as the table runs out of
            // sight on a phone.
            @if let Some(why) = level_empty(level).filter(|_| rows.is_empty()) {
                p class="note" id="level-empty" { (why) }
            }
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

/// What a view of the page shows beside the account: the level, the local dates, by hour or
/// by day, and the breakdown.
struct View {
    level: &'static Level,
    range: (NaiveDate, NaiveDate),
    hourly: bool,
    breakdown: Option<&'static str>,
}

/// What the page computes from the stored stats, the costly part of a view: the chart's
/// points, the table's rows, their TOTAL, the previous period, the all-accounts roll-up and
/// the breakdown. A function of the stats rows of the tenant's accounts and of the view (the
/// names, the sync state and the clock are read for every request).
#[derive(Debug)]
struct Figures {
    /// Per local day (or hour): spend in USD, impressions, and whether some spend has no USD
    /// yet, over every entity of the level; keyed by the day, or by the hour's UTC start
    /// (RFC 3339 sorts as time does).
    days: BTreeMap<String, (f64, f64, bool)>,
    /// The stale rates used (rate, its date), for the estimate's footnote.
    stale: BTreeSet<(String, String)>,
    /// Why the chart could not be read.
    daily_problem: Option<String>,
    /// The level's entities' totals over the range.
    rows: Vec<StatsRow>,
    /// Their TOTAL: every column summed.
    all: Sums,
    /// The previous period's TOTAL.
    previous: Sums,
    /// Every account's totals over the same local dates (campaign rows), when there are several.
    /// (The accounts are the picker's, in its order, which the cache's key holds: their names
    /// are read per request.)
    rollup: Vec<Sums>,
    /// The breakdown's totals per segment name.
    segments: Vec<(String, Sums)>,
    /// Why the breakdown could not be read.
    breakdown_problem: Option<String>,
}

/// The Reports page's [`Figures`] of recent views, each under the versions of the accounts'
/// stored stats it was computed from (`store::daily::versions`, kept by the database and moved
/// in the transaction of every write of an account's stats rows): a `cache::Versioned`, so no
/// instance shows figures older than the rows any instance committed before the request. Keyed
/// by tenant and everything the figures depend on; never shared between tenants.
#[derive(Clone, Debug)]
pub struct ReportCache(Versioned<ViewKey, Figures>);

impl Default for ReportCache {
    fn default() -> Self {
        ReportCache(Versioned::new(CACHE_MAX))
    }
}

impl ReportCache {
    /// The figures of `key` read at versions at least `versions`: cached, or read by `reading`
    /// (which answers them and whether to keep them).
    async fn figures(
        &self,
        key: ViewKey,
        versions: Vec<i64>,
        reading: impl std::future::Future<Output = (Figures, bool)>,
    ) -> Arc<Figures> {
        let read = async { Ok::<_, std::convert::Infallible>(reading.await) };
        match self.0.get_or_read(key, versions, read).await {
            Ok(figures) => figures,
            Err(never) => match never {},
        }
    }
}

/// Most views remembered (a view of 100 campaigns holds ~30 kB); past this the cache starts
/// over (it only saves reads).
const CACHE_MAX: usize = 256;
/// Largest view remembered, in table rows (entities and segments): a level of thousands of line
/// items or promoted tweets is read each time rather than held, so the cache stays within
/// `CACHE_MAX` views of about this size.
const CACHE_MAX_ROWS: usize = 1_000;

/// Everything a view's [`Figures`] depend on besides the stats rows: the tenant, the account,
/// the view, and the accounts read (each one's id, currency and zone; every account of the
/// tenant when the roll-up shows them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ViewKey {
    tenant_id: String,
    account_id: String,
    level: &'static str,
    range: (NaiveDate, NaiveDate),
    hourly: bool,
    breakdown: Option<&'static str>,
    accounts: Vec<(String, String, String)>,
}

/// The figures of `view` of the picker's account: from the cache when they were read at stats
/// versions at least those of the accounts it reads now, else read (and cached when every read
/// succeeded) by one request at a time per view. The versions are read first, so figures
/// cached under them are at least as new.
async fn figures_of(state: &AppState, user: &User, picker: &Picker, view: &View) -> Arc<Figures> {
    let tenant_id = &user.0.tenant.id;
    let read = if picker.accounts.len() > 1 {
        picker.accounts.iter().collect::<Vec<_>>()
    } else {
        vec![&picker.current]
    };
    let key = ViewKey {
        tenant_id: tenant_id.clone(),
        account_id: picker.current.id.clone(),
        level: view.level.key,
        range: view.range,
        hourly: view.hourly,
        breakdown: view.breakdown,
        accounts: read
            .iter()
            .map(|a| (a.id.clone(), a.currency.clone(), a.timezone.clone()))
            .collect(),
    };
    let versions = crate::store::daily::versions(&state.db, tenant_id)
        .await
        .map(|v| {
            read.iter()
                .map(|a| v.get(&a.id).copied().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .ok();
    let Some(versions) = versions else {
        return Arc::new(read_figures(state, user, picker, view).await.0);
    };
    let reading = async {
        let (figures, complete) = read_figures(state, user, picker, view).await;
        let keep = complete && figures.rows.len() + figures.segments.len() <= CACHE_MAX_ROWS;
        (figures, keep)
    };
    state.reports.figures(key, versions, reading).await
}

/// The number of days in `from..=to`, and the previous period: as long, ending the day before.
fn previous_period(from: NaiveDate, to: NaiveDate) -> (i64, (NaiveDate, NaiveDate)) {
    let days = (to - from).num_days() + 1;
    (
        days,
        (from - Duration::days(days), from - Duration::days(1)),
    )
}

/// Reads a view's [`Figures`]; `false` beside them when some read failed (what failed shows as
/// empty or as its problem, and is not cached).
async fn read_figures(
    state: &AppState,
    user: &User,
    picker: &Picker,
    view: &View,
) -> (Figures, bool) {
    let account_id = picker.current.id.as_str();
    let (level, (from, to)) = (view.level, view.range);
    let mut complete = true;
    let mut ok = |r: Result<Vec<Value>, ApiError>| {
        r.unwrap_or_else(|_| {
            complete = false;
            Vec::new()
        })
    };
    let granularity = if view.hourly { "hour" } else { "day" };
    let (_, previous) = previous_period(from, to);
    // Every read of the view at once (each on its own pooled connection): a miss waits for the
    // slowest, not for their sum.
    let rollup_reads = async {
        if picker.accounts.len() > 1 {
            futures::future::join_all(
                picker
                    .accounts
                    .iter()
                    .map(|a| stats(state, user, &a.id, (from, to), "total")),
            )
            .await
        } else {
            Vec::new()
        }
    };
    let breakdown_read = futures::future::OptionFuture::from(
        view.breakdown
            .map(|key| segment_stats(state, user, account_id, level, (from, to), key)),
    );
    let (daily, totals, previous_totals, rollup_totals, breakdown) = tokio::join!(
        points_at(state, user, account_id, level, (from, to), granularity),
        stats_at(state, user, account_id, level, (from, to), "total"),
        stats_at(state, user, account_id, level, previous, "total"),
        rollup_reads,
        breakdown_read,
    );
    let totals = ok(totals);
    let mut days: BTreeMap<String, (f64, f64, bool)> = BTreeMap::new();
    let mut stale: BTreeSet<(String, String)> = BTreeSet::new();
    for p in daily.iter().flatten() {
        use rust_decimal::prelude::ToPrimitive as _;
        let key = if view.hourly {
            web::reports::rfc3339(p.start)
        } else {
            p.date.to_string()
        };
        let e = days.entry(key).or_insert((0.0, 0.0, false));
        e.0 += p.sums.spend_usd.to_f64().unwrap_or(0.0);
        e.1 += p.sums.values[IMPRESSIONS].unwrap_or(0) as f64;
        e.2 |= p.sums.usd_missing;
        for (rate, date) in &p.sums.stale_rates {
            stale.insert((rate.normalize().to_string(), date.to_string()));
        }
    }
    let rows: Vec<StatsRow> = totals.iter().map(StatsRow::from_api).collect();
    // The TOTAL row sums every column.
    let all = Sums::of(&rows);
    let sums = |api: Vec<Value>| Sums::of(&api.iter().map(StatsRow::from_api).collect::<Vec<_>>());
    let previous = sums(ok(previous_totals));
    // Every account over the same local dates, summed in USD (only USD adds up across
    // currencies). An account's totals are its campaigns' rows whatever the level: every sync
    // stores those, while line-item rows exist only where a backfill or an experiment asked.
    let rollup: Vec<Sums> = rollup_totals.into_iter().map(|t| sums(ok(t))).collect();
    // The breakdown chosen, by segment: every campaign's rows of a segment summed.
    let mut segments: BTreeMap<String, Vec<StatsRow>> = BTreeMap::new();
    let mut breakdown_problem = None;
    match breakdown {
        Some(Ok(data)) => {
            for r in data.iter().map(StatsRow::from_api) {
                let name = r.segment_name.clone().unwrap_or_default();
                segments.entry(name).or_default().push(r);
            }
        }
        Some(Err(e)) => {
            complete = false;
            breakdown_problem = Some(e.message);
        }
        None => {}
    }
    let segments: Vec<(String, Sums)> = segments
        .into_iter()
        .map(|(name, rows)| (name, Sums::of(&rows)))
        .collect();
    let daily_problem = daily.err().map(|e| {
        complete = false;
        e.message
    });
    (
        Figures {
            days,
            stale,
            daily_problem,
            rows,
            all,
            previous,
            rollup,
            segments,
            breakdown_problem,
        },
        complete,
    )
}

/// One horizontal bar split into each segment's share of the USD spend (the breakdown's stacked
/// chart), with a legend naming each share.
fn share_bar(segments: &[(String, Sums)], total: Decimal) -> Markup {
    let share = |s: &Sums| {
        if total.is_zero() {
            0.0
        } else {
            use rust_decimal::prelude::ToPrimitive;
            (s.spend_usd / total).to_f64().unwrap_or(0.0)
        }
    };
    // Each segment's (x, width) along the bar, one after the other.
    let spans: Vec<(f64, f64)> = segments
        .iter()
        .scan(0.0_f64, |x, (_, s)| {
            let w = 900.0 * share(s);
            let at = *x;
            *x += w;
            Some((at, w))
        })
        .collect();
    html! {
        svg class="chart share" viewBox="0 0 900 36" role="img" aria-label="Share of spend by segment"
            xmlns="http://www.w3.org/2000/svg" {
            @for (i, ((name, s), (x, w))) in segments.iter().zip(&spans).enumerate() {
                rect x=(format!("{x:.1}")) y="4" width=(format!("{w:.1}")) height="28"
                    fill=(html::PALETTE[i % html::PALETTE.len()]) {
                    title { (name) ": " (format!("{:.1}", share(s) * 100.0)) "% of spend" }
                }
            }
        }
        p class="note" {
            @for (i, (name, s)) in segments.iter().enumerate() {
                span style={ "color:" (html::PALETTE[i % html::PALETTE.len()]) } { "■ " }
                (name) " " (format!("{:.1}", share(s) * 100.0)) "%  "
            }
        }
    }
}

/// Every column of the report summed over some rows (a campaign's, the range's, the previous
/// period's), and the ratios of those sums: CTR, CPC, CPM and CPA (USD; none where the
/// denominator is 0). Counts and money are summed exactly (USD as decimals, local spend in
/// micros), never as floats.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sums {
    impressions: u64,
    clicks: u64,
    engagements: u64,
    conversions: u64,
    /// App installs; `None` when no row has them (no app campaign: not asked of X).
    installs: Option<u64>,
    /// Local spend in micros; `None` when no row has any.
    spend_local_micros: Option<i64>,
    /// The rows' currency (the account's).
    currency: Option<String>,
    spend_usd: Decimal,
    /// Some spend has no USD yet (no rate for its date).
    usd_missing: bool,
    /// Some USD was converted with a stale rate (an estimate).
    stale: bool,
}

impl Sums {
    fn of(rows: &[StatsRow]) -> Sums {
        let mut s = Sums::default();
        for r in rows {
            let n = |v: f64| v.max(0.0).round() as u64;
            s.impressions += n(r.impressions);
            s.clicks += n(r.clicks);
            s.engagements += n(r.engagements);
            s.conversions += n(r.conversions);
            if let Some(i) = r.installs {
                s.installs = Some(s.installs.unwrap_or(0) + n(i));
            }
            if s.currency.is_none() {
                s.currency.clone_from(&r.currency);
            }
            if let Some(m) = r.spend_local_micros {
                s.spend_local_micros = Some(s.spend_local_micros.unwrap_or(0).saturating_add(m));
            }
            match r
                .spend_usd
                .as_deref()
                .and_then(|u| u.parse::<Decimal>().ok())
            {
                Some(u) => s.spend_usd += u,
                None => s.usd_missing |= r.spend_local_micros.is_some_and(|m| m > 0),
            }
            s.stale |= r.fx_stale;
        }
        s
    }

    /// These sums and `o`'s together in USD: counts and USD add up, local spend does not (the
    /// accounts' currencies differ), so it is left out.
    fn plus_in_usd(&self, o: &Sums) -> Sums {
        Sums {
            impressions: self.impressions + o.impressions,
            clicks: self.clicks + o.clicks,
            engagements: self.engagements + o.engagements,
            conversions: self.conversions + o.conversions,
            installs: match (self.installs, o.installs) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
            spend_local_micros: None,
            currency: None,
            spend_usd: self.spend_usd + o.spend_usd,
            usd_missing: self.usd_missing || o.usd_missing,
            stale: self.stale || o.stale,
        }
    }

    fn per(&self, n: u64, times: u64) -> Option<Decimal> {
        (n > 0 && !self.usd_missing)
            .then(|| self.spend_usd * Decimal::from(times) / Decimal::from(n))
    }
    fn ctr(&self) -> Option<Decimal> {
        (self.impressions > 0).then(|| {
            Decimal::from(self.clicks) * Decimal::from(100) / Decimal::from(self.impressions)
        })
    }
    fn cpc(&self) -> Option<Decimal> {
        self.per(self.clicks, 1)
    }
    fn cpm(&self) -> Option<Decimal> {
        self.per(self.impressions, 1000)
    }
    fn cpa(&self) -> Option<Decimal> {
        self.per(self.conversions, 1)
    }
    fn cpi(&self) -> Option<Decimal> {
        self.per(self.installs?, 1)
    }

    /// USD as money, marked as an estimate where a stale rate made it.
    fn usd_text(&self, v: Option<Decimal>) -> Markup {
        html! {
            @match v {
                None => { "—" }
                Some(d) if self.stale => {
                    span class="estimate" title="estimated: converted with a rate more than 7 days older than the data" {
                        "≈ " (money::with_currency(d, "USD")) " est."
                    }
                }
                Some(d) => { (money::with_currency(d, "USD")) }
            }
        }
    }

    /// The row's cells after its name, in the table's column order.
    fn cells(&self, currency: &str, usd_account: bool) -> Markup {
        let pct =
            |v: Option<Decimal>| v.map_or("—".to_owned(), |d| format!("{:.2}%", d.round_dp(2)));
        html! {
            td class="n" { (html::group(self.impressions)) }
            td class="n" { (html::group(self.clicks)) }
            td class="n" { (pct(self.ctr())) }
            td class="n" { (html::group(self.engagements)) }
            td class="n" { (html::group(self.conversions)) }
            @if !usd_account {
                td class="n" {
                    @match self.spend_local_micros {
                        Some(m) => { (money::format(m, self.currency.as_deref().unwrap_or(currency))) }
                        None => { "—" }
                    }
                }
            }
            td class="n" { (self.usd_text((!self.usd_missing || self.spend_usd > Decimal::ZERO).then_some(self.spend_usd))) }
            td class="n" { (self.usd_text(self.cpc())) }
            td class="n" { (self.usd_text(self.cpm())) }
            td class="n" { (self.usd_text(self.cpa())) }
            td class="n" { (self.installs.map_or("—".to_owned(), html::group)) }
            td class="n" { (self.usd_text(self.cpi())) }
        }
    }

    /// Each column's change against `before`, in percent (`—` where `before` is 0).
    fn change_cells(&self, before: &Sums, usd_account: bool) -> Markup {
        let change = |now: Option<Decimal>, then: Option<Decimal>| -> String {
            match (now, then) {
                (Some(n), Some(t)) if !t.is_zero() => {
                    let c = ((n - t) * Decimal::from(100) / t).round_dp(1);
                    if c.is_sign_positive() && !c.is_zero() {
                        format!("+{c:.1}%")
                    } else {
                        format!("{c:.1}%")
                    }
                }
                _ => "—".to_owned(),
            }
        };
        let d = |v: u64| Some(Decimal::from(v));
        let local = |s: &Sums| s.spend_local_micros.map(Decimal::from);
        html! {
            td class="n" { (change(d(self.impressions), d(before.impressions))) }
            td class="n" { (change(d(self.clicks), d(before.clicks))) }
            td class="n" { (change(self.ctr(), before.ctr())) }
            td class="n" { (change(d(self.engagements), d(before.engagements))) }
            td class="n" { (change(d(self.conversions), d(before.conversions))) }
            @if !usd_account {
                td class="n" { (change(local(self), local(before))) }
            }
            td class="n" { (change(Some(self.spend_usd), Some(before.spend_usd))) }
            td class="n" { (change(self.cpc(), before.cpc())) }
            td class="n" { (change(self.cpm(), before.cpm())) }
            td class="n" { (change(self.cpa(), before.cpa())) }
            td class="n" { (change(self.installs.map(Decimal::from), before.installs.map(Decimal::from))) }
            td class="n" { (change(self.cpi(), before.cpi())) }
        }
    }
}

/// The metric columns' headers after the name column, in [`Sums::cells`]' order; `local`
/// names the local spend column (none on a USD account, where it is the USD column).
fn metric_headers(local: Option<&str>) -> Markup {
    html! {
        th class="n" { "Impressions" } th class="n" { "Clicks" }
        th class="n" { "CTR" } th class="n" { "Engagements" } th class="n" { "Conversions" }
        @if let Some(c) = local {
            th class="n" { "Spend (" (c) ")" }
        }
        th class="n" { "Spend (USD)" }
        th class="n" { abbr title="cost per click" { "CPC" } }
        th class="n" { abbr title="cost per thousand impressions" { "CPM" } }
        th class="n" { abbr title="cost per conversion" { "CPA" } }
        th class="n" { "Installs" }
        th class="n" { abbr title="cost per install" { "CPI" } }
    }
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
    let level = level_of(&f);
    let mut back = format!("/reports?account={}&from={from}&to={to}", q(&account));
    if level.key != LEVELS[0].key {
        back.push_str("&level=");
        back.push_str(level.key);
    }
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
    // What `GET …/stats?entity={level}` answers with `Accept: text/csv`, named for the range:
    // one line per entity of the page's level and local day, with the entity's name and
    // decimal amounts beside the micros.
    let level = level_of(&qs);
    let data = match stats_at(&state, &user, &account, level, range, "day").await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let names = web::reports::names_of(&state, &user.0.tenant.id, &account, level.entity)
        .await
        .unwrap_or_default();
    let (from, to) = range;
    let name = format!(
        "attachment; filename=\"x_ads_{}{}_{from}_{to}.csv\"",
        account.replace(|c: char| !c.is_ascii_alphanumeric(), ""),
        if level.key == LEVELS[0].key {
            String::new()
        } else {
            format!("_{}", level.key)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(imp: u64, clicks: u64, conv: u64, micros: i64, usd: Option<&str>) -> StatsRow {
        StatsRow::from_api(&serde_json::json!({
            "entity_id": "c", "impressions": imp, "clicks": clicks, "engagements": clicks,
            "conversions": conv, "spend_local_micro": micros, "currency": "JPY",
            "spend_usd": usd,
        }))
    }

    #[test]
    fn totals_sum_every_column_exactly_and_ratios_come_from_the_sums() {
        let s = Sums::of(&[
            row(1_000, 10, 1, 300_000_000, Some("2.031900")),
            row(3_000, 30, 0, 700_000_000, Some("4.741100")),
        ]);
        assert_eq!((s.impressions, s.clicks, s.conversions), (4_000, 40, 1));
        assert_eq!(s.spend_local_micros, Some(1_000_000_000));
        assert_eq!(s.spend_usd, "6.773000".parse::<Decimal>().unwrap());
        assert_eq!(s.ctr(), Some(Decimal::ONE));
        assert_eq!(s.cpc(), Some("0.169325".parse().unwrap()));
        assert_eq!(s.cpm(), Some("1.69325".parse().unwrap()));
        assert_eq!(s.cpa(), Some("6.773".parse().unwrap()));
        // No app campaign: installs were not asked, so neither they nor CPI are 0.
        assert_eq!((s.installs, s.cpi()), (None, None));
        let app = |installs: u64, usd: &str| {
            StatsRow::from_api(&serde_json::json!({
                "entity_id": "a", "impressions": 100, "clicks": 1, "engagements": 1,
                "conversions": 0, "installs": installs, "spend_local_micro": 1,
                "currency": "USD", "spend_usd": usd,
            }))
        };
        let with_app = Sums::of(&[app(3, "1.500000"), app(1, "0.500000")]);
        assert_eq!(with_app.installs, Some(4));
        assert_eq!(with_app.cpi(), Some("0.5".parse().unwrap()));
        assert_eq!(with_app.plus_in_usd(&s).installs, Some(4));
        assert_eq!(Sums::of(&[app(0, "1.000000")]).cpi(), None);
        // No USD for some spend: no cost ratios rather than ones that look cheaper.
        let gap = Sums::of(&[row(1_000, 10, 1, 300_000_000, None)]);
        assert_eq!((gap.cpc(), gap.cpm(), gap.cpa()), (None, None, None));
        assert_eq!(Sums::of(&[]).ctr(), None);
        let cells = s
            .change_cells(&Sums::of(&[row(2_000, 40, 1, 1, Some("6.773"))]), true)
            .into_string();
        assert!(
            cells.contains(">+100.0%<") && cells.contains(">-50.0%<") && cells.contains(">0.0%<"),
            "{cells}"
        );
    }
}
