//! Experiments: list and create, a detail page with variants (live state, next switch), results
//! with intervals and the verdict, and start / stop / conclude — over `…/experiments`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::list::{Key, Listing, base_of};
use super::view::{Estimate, Experiment, Results, StatsRow};
use super::{
    CreateForm, Fields, Input, Picker, Problem, Text, entities, field, micros, problem, render,
    scope, see_other, select, write, write_answer,
};
use crate::app::AppState;
use crate::experiments;
use crate::experiments::schedule::SLOT_HOURS;
use crate::store::entities::Kind;
use crate::ui::html::{self, Nav, button_form, csrf_field, flash, q, scroll};
use crate::ui::session::{CsrfForm, User};
use crate::web::answer::Answer;
use crate::web::experiments::path_experiment;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/experiments", get(list_page))
        .route("/experiments/create", post(create))
        .route("/experiments/{account}/{id}", get(detail))
        .route("/experiments/{account}/{id}/{action}", post(act))
}

fn base(account: &str) -> String {
    format!("/api/v1/x_ads/accounts/{}/experiments", q(account))
}

/// A value, or `—` when there is none.
fn dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

/// A JSON value as text: strings as they are, `—` for null.
fn s(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn list_page(
    State(state): State<AppState>,
    user: User,
    Query(qs): Query<Fields>,
) -> Response {
    experiments_page(&state, &user, &qs, None, Input::fresh()).await
}

/// An experiment's status in words.
fn status_words(status: Option<&str>) -> &'static str {
    match status {
        Some("creating") => "Being created",
        Some("ready") => "Ready to start",
        Some("running") => "Running",
        Some("stopped") => "Stopped",
        Some("concluded") => "Concluded",
        Some("failed") => "Failed",
        _ => "—",
    }
}

/// A primary metric in words.
fn metric_words(metric: Option<&str>) -> &'static str {
    match metric {
        Some("ctr") => "Click-through rate",
        Some("conversion_rate") => "Conversion rate",
        Some("cpc") => "Cost per click",
        Some("cpa") => "Cost per conversion",
        Some("install_rate") => "Install rate",
        Some("cpi") => "Cost per install",
        _ => "—",
    }
}

/// A schedule in words.
fn schedule_words(mode: Option<&str>) -> &'static str {
    match mode {
        Some("rotate") => "Rotation (switchback)",
        Some("concurrent") => "Side by side",
        _ => "—",
    }
}

const STATUSES: &[(&str, &str)] = &[
    ("ready", "Ready to start"),
    ("running", "Running"),
    ("stopped", "Stopped"),
    ("concluded", "Concluded"),
    ("failed", "Failed"),
];

async fn experiments_page(
    state: &AppState,
    user: &User,
    qs: &Fields,
    msg: Option<Result<String, String>>,
    input: Input,
) -> Response {
    let picker = match Picker::load(
        state,
        user,
        qs.get("account"),
        ("/experiments", "Experiments", Nav::Experiments),
    )
    .await
    {
        Ok(p) => p,
        Err(page) => return page,
    };
    let account = &picker.current;
    // The create form offers the account's campaigns, and the tweets already promoted in it as
    // suggestions (each list empty when it cannot be read).
    let (list, campaigns, promoted) = match scope(state, user, &account.id, None) {
        Ok(scope) => (
            // What `GET …/experiments` lists, every page of it (its cursors).
            super::all_pages(|cursor| {
                let scope = &scope;
                async move {
                    let page = experiments::page(
                        scope,
                        cursor.as_deref(),
                        Some(crate::manage::paging::MAX_COUNT),
                    )
                    .await?;
                    Ok::<_, crate::manage::ManageError>((page.items, page.next_cursor))
                }
            })
            .await
            .map_err(problem),
            entities(&scope, Kind::Campaign, None, false)
                .await
                .unwrap_or_default(),
            entities(&scope, Kind::PromotedTweet, None, false)
                .await
                .unwrap_or_default(),
        ),
        Err(e) => (Err(e), vec![], vec![]),
    };
    let rows: Vec<Experiment> = list
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|x| Experiment::from_api(&x.json()))
        .collect();
    let campaigns: Vec<(String, String)> = campaigns
        .iter()
        .filter(|c| c["deleted"].as_bool() != Some(true))
        .map(|c| (s(&c["id"]), s(&c["name"])))
        .collect();
    let mut tweet_ids: Vec<String> = promoted
        .iter()
        .filter_map(|p| p["tweet_id"].as_str().map(str::to_owned))
        .collect();
    tweet_ids.sort();
    tweet_ids.dedup();
    let listing = Listing::from_query(qs, "", "name");
    let page = listing.apply(
        rows,
        |e| &e.name,
        |e| e.status.as_deref().unwrap_or_default(),
        |e, key| match key {
            "status" => Key::Text(e.status.clone().unwrap_or_default()),
            "created" => Key::Text(e.created_at.clone().unwrap_or_default()),
            _ => Key::Text(e.name.clone()),
        },
    );
    let hidden = [("account", account.id.as_str())];
    let here = base_of("/experiments", &hidden);
    let body = html! {
        h1 { "Experiments" }
        (picker.tabs())
        (flash(&msg))
        p class="note" {
            "X has no experiment primitive: each variant is a line item with its own creative under one campaign. "
            "The control is live at X from creation (it is business as usual, the baseline); every treatment waits paused until you press Start; "
            "Start runs them on the schedule, Stop pauses them all."
        }
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            (listing.controls("/experiments", &hidden, "experiments", STATUSES))
            (scroll("Experiments", html! {
                table id="experiments" {
                    thead {
                        tr {
                            (listing.th(&here, "name", "Experiment", false))
                            (listing.th(&here, "status", "Status", false))
                            th { "Metric" } th { "Schedule" }
                            th class="n" { "Variants" }
                            (listing.th(&here, "created", "Created", false))
                        }
                    }
                    tbody {
                        @if page.rows.is_empty() {
                            tr { td colspan="6" class="note" { "No experiments yet." } }
                        }
                        @for e in &page.rows {
                            tr {
                                td {
                                    a href={ "/experiments/" (q(&account.id)) "/" (q(&e.id)) } {
                                        (e.name)
                                    }
                                }
                                td { (status_words(e.status.as_deref())) }
                                td { (metric_words(e.primary_metric.as_deref())) }
                                td { (schedule_words(e.schedule_mode.as_deref())) }
                                td class="n" { (e.variants.len()) }
                                td { (e.created_at.as_deref().map(|t| t.get(..10).unwrap_or(t)).unwrap_or("—")) }
                            }
                        }
                    }
                }
            }))
            (listing.pager(&here, &page, "experiments"))
        }
        datalist id="tweets" {
            @for t in &tweet_ids {
                option value=(t);
            }
        }
        (create_form(&user.0.csrf, account, &campaigns, &input))
    };
    render(user, "Experiments", Nav::Experiments, body)
}

/// The create form: a campaign, the metric, the schedule, and two variants (first = control).
fn create_form(
    csrf: &str,
    account: &super::Account,
    campaigns: &[(String, String)],
    input: &Input,
) -> Markup {
    let cur = &account.currency;
    let bid = format!("Bid ({cur})");
    let daily = format!("Daily budget ({cur})");
    let variant = |i: usize, name: &str| {
        let ids = [
            format!("v{i}_name"),
            format!("v{i}_tweet"),
            format!("v{i}_bid"),
            format!("v{i}_daily"),
        ];
        let label = if i == 0 {
            format!("Variant {} name (control)", i + 1)
        } else {
            format!("Variant {} name", i + 1)
        };
        html! {
            fieldset class="row" style="margin-top:8px;border:0;padding:0" {
                legend class="note" { "Variant " (i + 1) @if i == 0 { " (control)" } }
                (Text::new(&ids[0], &ids[0], &label).value(name).required().render(input))
                (Text::new(&ids[1], &ids[1], "Tweet id").required().list("tweets")
                    .pattern("[0-9]+", "the tweet's number (digits only)").render(input))
                (Text::new(&ids[2], &ids[2], &bid).value("1.50").amount().render(input))
                (Text::new(&ids[3], &ids[3], &daily).value("50").amount().render(input))
            }
        }
    };
    let form = CreateForm {
        heading: "New experiment",
        action: "/experiments/create",
        id: None,
        hidden: &[("account", &account.id)],
    };
    let opts = |v: &[&str], words: fn(Option<&str>) -> &'static str| -> Vec<(String, String)> {
        v.iter()
            .map(|m| ((*m).to_owned(), words(Some(m)).to_owned()))
            .collect()
    };
    let objectives: Vec<(String, String)> = crate::manage::input::OBJECTIVES
        .iter()
        .map(|o| ((*o).to_owned(), super::list::words(o)))
        .collect();
    let slots: Vec<(String, String)> = SLOT_HOURS
        .iter()
        .map(|h| (h.to_string(), format!("{h} h")))
        .collect();
    let fields = [
        "name",
        "campaign_id",
        "objective",
        "primary_metric",
        "mode",
        "slot_hours",
        "min_impressions",
        "max_days",
        "v0_name",
        "v0_tweet",
        "v0_bid",
        "v0_daily",
        "v1_name",
        "v1_tweet",
        "v1_bid",
        "v1_daily",
    ];
    form.render(
        csrf,
        html! {
            (input.general(&fields))
            div class="row" {
                (Text::new("exp-name", "name", "Name").required().render(input))
                (select(input, ("exp-campaign", "campaign_id", "Campaign"), campaigns, ""))
                (select(input, ("objective", "objective", "Objective (as the campaign's line items)"), &objectives, "WEBSITE_CLICKS"))
                (select(input, ("exp-metric", "primary_metric", "Primary metric"),
                    &opts(&["ctr", "conversion_rate", "cpc", "cpa", "install_rate", "cpi"], metric_words), "ctr"))
                (select(input, ("exp-mode", "mode", "Schedule"),
                    &opts(&["rotate", "concurrent"], schedule_words), "rotate"))
                // Only a rotation has slots: the stylesheet hides this when the schedule
                // chosen is concurrent (no script; where `:has` is unsupported the label says
                // so, and the server ignores it for a concurrent schedule). Nothing sits under
                // the select, so it lines up with the row's other fields.
                div class="rotation-only" {
                    (select(input, ("exp-slot", "slot_hours", "Slot length (rotation only)"), &slots, "6"))
                }
                (Text::new("exp-min-imp", "min_impressions", "Min impressions").value("1000").whole().render(input))
                (Text::new("exp-max-days", "max_days", "Max days (1–90)").value("14").whole().render(input))
            }
            (variant(0, "Control"))
            (variant(1, "Treatment"))
            p { button class="primary" type="submit" id="create-experiment" { "Create experiment" } }
        },
    )
}

fn int(f: &Fields, name: &str, label: &str) -> Result<Option<i64>, Problem> {
    field(f, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Problem::at(name, format!("{label}: not a whole number: {v}")))
        })
        .transpose()
}

async fn create(State(state): State<AppState>, CsrfForm(user, f): CsrfForm<Fields>) -> Response {
    let account = f.get("account").cloned().unwrap_or_default();
    let result = async {
        let mut variants = vec![];
        for i in 0..2 {
            variants.push(json!({
                "name": field(&f, &format!("v{i}_name")).unwrap_or_default(),
                "control": i == 0,
                "tweet_id": field(&f, &format!("v{i}_tweet")).unwrap_or_default(),
                "line_item": {
                    "objective": field(&f, "objective").unwrap_or("WEBSITE_CLICKS"),
                    "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"],
                    "bid_amount_local_micro": micros(&f, &format!("v{i}_bid"), "Bid")?,
                    "daily_budget_amount_local_micro": micros(&f, &format!("v{i}_daily"), "Daily budget")?,
                    "targeting": [],
                },
            }));
        }
        let schedule = if field(&f, "mode") == Some("concurrent") {
            json!({"mode": "concurrent"})
        } else {
            // Checked here as the select offers them: a slot length must divide a day.
            let hours = int(&f, "slot_hours", "Slot length")?.unwrap_or(6);
            if !u32::try_from(hours).is_ok_and(|h| SLOT_HOURS.contains(&h)) {
                return Err(Problem::at(
                    "slot_hours",
                    format!("Slot length must divide a day: one of {SLOT_HOURS:?} hours"),
                ));
            }
            json!({"mode": "rotate", "slot_hours": hours})
        };
        let mut stop = serde_json::Map::new();
        for (k, label) in [
            ("min_impressions", "Min impressions"),
            ("min_conversions", "Min conversions"),
            ("max_days", "Max days"),
        ] {
            if let Some(n) = int(&f, k, label)? {
                stop.insert(k.to_owned(), json!(n));
            }
        }
        let body = json!({
            "name": field(&f, "name").unwrap_or_default(),
            "campaign_id": field(&f, "campaign_id").unwrap_or_default(),
            "primary_metric": field(&f, "primary_metric").unwrap_or("ctr"),
            "schedule": schedule,
            "stop": stop,
            "variants": variants,
        });
        let scope = scope(&state, &user, &account, field(&f, "idem"))?;
        // The answer's `id`, fresh or replayed (a double submit answers the stored body).
        let answer = write_answer(&scope, Method::POST, &base(&account), Some(&body), || {
            experiments::create(&scope, &body)
        })
        .await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }
    .await;
    match result {
        Ok(id) if !id.is_empty() => see_other(&format!("/experiments/{}/{}", q(&account), q(&id))),
        Ok(_) => see_other(&format!("/experiments?account={}", q(&account))),
        Err(p) => {
            let qs = Fields::from([("account".to_owned(), account)]);
            let page = experiments_page(&state, &user, &qs, None, Input::kept(f, p)).await;
            super::refused(page)
        }
    }
}

async fn detail(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
    Query(qs): Query<Fields>,
) -> Response {
    let msg = match qs.get("done").map(String::as_str) {
        Some("start") => Some(Ok("Experiment started.".to_owned())),
        Some("stop") => Some(Ok("Experiment stopped: every variant is paused.".to_owned())),
        Some("conclude") => Some(Ok(
            "Experiment concluded: the kept variant runs on, the others are paused.".to_owned(),
        )),
        _ => None,
    };
    detail_page(&state, &user, &account, &id, msg).await
}

/// A variant's name and its primary metric per day (`None`: no data that day).
type VariantSeries = (String, Vec<Option<f64>>);

/// Each variant's primary metric per day since the experiment started (or was created), from
/// its line item's daily stats (`GET …/stats?entity=line_item&granularity=day`).
async fn daily_series(
    state: &AppState,
    user: &User,
    account: &str,
    x: &Experiment,
) -> (Vec<String>, Vec<VariantSeries>) {
    let ids: Vec<&str> = x
        .variants
        .iter()
        .filter_map(|v| v.line_item_id.as_deref())
        .collect();
    let today = state.clock.now().date_naive();
    let since = x
        .started_at
        .as_deref()
        .or(x.created_at.as_deref())
        .and_then(|t| chrono::NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
        .unwrap_or(today)
        .max(today - chrono::Duration::days(89));
    let query = crate::web::reports::StatsQuery {
        entity: Some("line_item".to_owned()),
        ids: Some(ids.join(",")),
        from: Some(since.to_string()),
        to: Some((today + chrono::Duration::days(1)).to_string()),
        granularity: Some("day".to_owned()),
        segment: None,
    };
    let rows: Vec<StatsRow> = if ids.is_empty() {
        vec![]
    } else {
        match crate::web::ids::account(account) {
            Ok(a) => crate::web::reports::stats_of(state, &user.0.tenant.id, a.as_str(), &query)
                .await
                .map(|s| s.data.iter().map(StatsRow::from_api).collect())
                .unwrap_or_default(),
            Err(_) => vec![],
        }
    };
    let mut days: Vec<String> = rows
        .iter()
        // The account's local days (as the API's day rows name them).
        .map(|r| r.date.clone())
        .collect();
    days.sort();
    days.dedup();
    let metric = x.primary_metric.as_deref().unwrap_or("ctr");
    let series = x
        .variants
        .iter()
        .map(|v| {
            let name = v.name.clone().unwrap_or_default();
            let values = days
                .iter()
                .map(|d| {
                    let r = rows.iter().find(|r| {
                        v.line_item_id.as_deref() == Some(&r.entity_id) && r.date == *d
                    })?;
                    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
                    match metric {
                        "conversion_rate" => ratio(r.conversions, r.clicks),
                        "cpc" => ratio(r.spend_usd_value, r.clicks),
                        "cpa" => ratio(r.spend_usd_value, r.conversions),
                        "install_rate" => ratio(r.installs?, r.impressions),
                        "cpi" => ratio(r.spend_usd_value, r.installs?),
                        _ => ratio(r.clicks, r.impressions),
                    }
                })
                .collect();
            (name, values)
        })
        .collect();
    let labels = days
        .iter()
        .map(|d| d.get(5..).unwrap_or(d).to_owned())
        .collect();
    (labels, series)
}

/// Whether the experiment's campaign is paused (or gone) in the mirror.
async fn campaign_paused(scope: &crate::manage::Scope, x: &Experiment) -> Option<&'static str> {
    let id = x.campaign_id.as_deref()?;
    let campaigns = entities(scope, Kind::Campaign, None, false).await.ok()?;
    let c = campaigns.iter().find(|c| c["id"].as_str() == Some(id))?;
    if c["deleted"].as_bool() == Some(true) {
        Some("deleted")
    } else if c["paused"].as_bool() == Some(true) {
        Some("paused")
    } else {
        None
    }
}

async fn detail_page(
    state: &AppState,
    user: &User,
    account: &str,
    id: &str,
    msg: Option<Result<String, String>>,
) -> Response {
    let read = async {
        let scope = scope(state, user, account, None)?;
        let id = path_experiment(&scope, id).await.map_err(problem)?;
        let view = experiments::get(&scope, &id).await.map_err(problem)?;
        Ok::<_, String>((scope, id, view))
    };
    let (scope, id, view) = match read.await {
        Ok(read) => read,
        Err(err) => {
            let qs = Fields::from([("account".to_owned(), account.to_owned())]);
            return experiments_page(state, user, &qs, Some(Err(err)), Input::fresh()).await;
        }
    };
    let x = Experiment::from_api(&view.json());
    let res = experiments::results(&scope, &id)
        .await
        .map(|r| Results::from_api(&r.json()))
        .map_err(problem);
    let results = res.as_ref().map_err(String::clone);
    let campaign = campaign_paused(&scope, &x).await;
    let (labels, series) = daily_series(state, user, account, &x).await;
    let tz = super::reports::account_tz(state, user, account).await;
    let ctx = Detail {
        account,
        tz,
        id: &id,
        x: &x,
        campaign_state: campaign,
        chart: (labels, series),
    };
    let body = detail_body(&ctx, results, &msg, &user.0.csrf);
    render(user, "Experiment", Nav::Experiments, body)
}

/// What the detail page shows besides the results.
struct Detail<'a> {
    account: &'a str,
    /// The account's time zone: instants on the page are shown in it, the zone named.
    tz: chrono_tz::Tz,
    id: &'a str,
    x: &'a Experiment,
    /// `paused` or `deleted` when the experiment's campaign is.
    campaign_state: Option<&'static str>,
    chart: (Vec<String>, Vec<VariantSeries>),
}

/// The conclusion in words: which variant was kept and who chose it.
fn conclusion_words(x: &Experiment) -> Option<String> {
    let raw = x.conclusion.as_deref()?;
    let kept = x.winner.as_deref().unwrap_or("the chosen variant");
    let who = if raw.contains("chosen by the user") {
        "you chose it".to_owned()
    } else if raw.contains("chosen by the verdict") {
        format!(
            "the results picked it on {}",
            metric_words(x.primary_metric.as_deref()).to_lowercase()
        )
    } else {
        // A reason given through the API, in its author's words.
        raw.to_owned()
    };
    Some(format!(
        "Concluded: “{kept}” keeps running and the other variants are paused ({who})."
    ))
}

/// The detail page's body: the experiment, the actions its state allows, warnings, and the
/// results (or the problem reading them) with a per-variant chart over time.
fn detail_body(
    d: &Detail<'_>,
    results: Result<&Results, String>,
    msg: &Option<Result<String, String>>,
    csrf: &str,
) -> Markup {
    let (account, id, x) = (d.account, d.id, d.x);
    let no_results = Results {
        verdict: None,
        winner: None,
        method: None,
        variants: None,
    };
    let res = results.as_ref().copied().unwrap_or(&no_results);
    let variants = res.variants.as_ref().unwrap_or(&x.variants);
    let path = format!("/experiments/{}/{}", q(account), q(id));
    let verdict_winner = (res.verdict.as_deref() == Some("winner"))
        .then(|| res.winner.clone())
        .flatten();
    let verdict = match res.verdict.as_deref() {
        Some("winner") => format!("Winner: {}", dash(&res.winner)),
        Some("no_difference") => "No difference yet".into(),
        Some("insufficient_data") => "Not enough data yet".into(),
        _ => dash(&res.verdict).to_owned(),
    };
    let status = x.status.as_deref().unwrap_or_default();
    let can_start = matches!(status, "creating" | "ready" | "stopped" | "failed");
    let can_stop = status == "running";
    let can_conclude = matches!(status, "running" | "stopped");
    let rotation = x.schedule_mode.as_deref() == Some("rotate");
    let drifted: Vec<(&str, &str)> = x
        .variants
        .iter()
        .filter_map(|v| Some((v.name.as_deref().unwrap_or("?"), v.drift.as_deref()?)))
        .collect();
    let metric = x.primary_metric.as_deref().unwrap_or("ctr");
    let unit = move |v: f64| match metric {
        "cpc" | "cpa" => format!("${v:.2}"),
        _ => format!("{:.2}%", v * 100.0),
    };
    html! {
        div class="crumb" {
            a href={ "/experiments?account=" (q(account)) } { "Experiments" } " → " (x.name)
        }
        h1 { (x.name) }
        (flash(msg))
        p {
            strong { (status_words(x.status.as_deref())) }
            " · judged on " (metric_words(x.primary_metric.as_deref()).to_lowercase())
            " · " (schedule_words(x.schedule_mode.as_deref()))
            @if let (true, Some(h)) = (rotation, x.slot_hours) {
                ", " (h) " h slots"
            }
        }
        @if let Some(next) = &x.next_switch {
            p id="next-switch" {
                "Next switch: "
                strong { (html::local_rfc3339(next, d.tz)) }
                " (" (d.tz.name()) ")"
            }
        }
        @if let Some(state) = d.campaign_state {
            div class="warning" role="status" id="campaign-warning" {
                "The experiment's campaign is " (state)
                ": no variant is delivering, so results will not move until it runs again."
            }
        }
        @if !drifted.is_empty() {
            div class="warning" role="status" id="drift" {
                "Changed outside the dashboard (for example in X Ads Manager); the runner leaves these as they are:"
                ul {
                    @for (name, note) in &drifted {
                        li { strong { (name) } ": " (note) }
                    }
                }
            }
        }
        @if let Some(p) = x.problem.as_deref().filter(|p| !p.starts_with("drift:") || drifted.is_empty()) {
            div class="problem" { (p) }
        }
        @if let Some(c) = conclusion_words(x) {
            div class="flash" id="conclusion" { (c) }
        }
        @if can_start || can_stop || can_conclude {
            div class="row" id="actions" {
                @if can_start {
                    div { (button_form(&format!("{path}/start"), csrf,
                        if status == "stopped" { "Start again" } else { "Start" }, "primary")) }
                }
                @if can_stop {
                    div { (button_form(&format!("{path}/stop"), csrf, "Stop (pause every variant)", "")) }
                }
                @if can_conclude {
                    // Conclude keeps one variant running and pauses the others: the verdict's
                    // winner, or the one the user picks.
                    form class="row" method="post" action={ (path) "/conclude" } id="conclude" {
                        (csrf_field(csrf))
                        div {
                            label for="winner" { "Variant to keep" }
                            select name="winner" id="winner" required[verdict_winner.is_none()] {
                                @if let Some(w) = &verdict_winner {
                                    option value="" { (w) " (the results' winner)" }
                                } @else {
                                    option value="" { "Choose a variant…" }
                                }
                                @for v in &x.variants {
                                    @let name = v.name.as_deref().unwrap_or_default();
                                    option value=(name) { (name) }
                                }
                            }
                        }
                        div { button class="primary" type="submit" { "Conclude" } }
                    }
                }
            }
        }
        @if matches!(status, "creating" | "ready") {
            p class="note" id="before-start" {
                "The control is live at X (its campaign's own status applies); the treatments wait paused until you press Start."
            }
        }
        // Results: verdict and per-variant metrics with intervals.
        div class="card" id="results" {
            h2 style="margin-top:0" { "Results" }
            @if let Err(err) = &results {
                div class="problem" { (err) }
            } @else {
                p id="verdict" { strong { "Verdict:" } " " (verdict) }
            }
            (scroll("Variants", html! {
                table id="variants" {
                    thead {
                        tr {
                            th { "Variant" } th { "Live" } th class="n" { "Impressions" }
                            th class="n" { "Clicks" } th class="n" { "CTR (95% interval)" }
                            th class="n" { "Spend (USD)" } th class="n" { "Conversions" }
                            th class="n" { "CPC" } th class="n" { "CPA" } th class="n" { "P(best)" }
                        }
                    }
                    tbody {
                        @for v in variants {
                            tr {
                                td {
                                    (dash(&v.name))
                                    @if v.control {
                                        " " span class="badge b-off" { "control" }
                                    }
                                }
                                td {
                                    @match x.paused(v.name.as_deref()).or(v.paused) {
                                        Some(true) => { span class="badge b-warn" { "paused" } }
                                        Some(false) => { span class="badge b-ok" { "live" } }
                                        None => { "—" }
                                    }
                                }
                                td class="n" { (html::group(v.impressions)) }
                                td class="n" { (html::group(v.clicks)) }
                                td class="n" { (ctr_cell(v.ctr)) }
                                td class="n" {
                                    (v.spend_usd.map_or("—".into(), usd))
                                }
                                td class="n" { (dash(&v.conversions)) }
                                td class="n" { (estimate(v.cpc)) }
                                td class="n" { (estimate(v.cpa)) }
                                td class="n" {
                                    (v.p_best
                                        .map(|p| format!("{:.0}%", p * 100.0))
                                        .unwrap_or_else(|| "—".into()))
                                }
                            }
                        }
                    }
                }
            }))
            h3 { (metric_words(x.primary_metric.as_deref())) " per day, by variant" }
            div id="variant-chart" {
                (scroll("Chart", html::shared_chart(&d.chart.0, &d.chart.1, unit,
                    &format!("{} per day for each variant", metric_words(x.primary_metric.as_deref())))))
            }
            @if variants.iter().any(|v| v.p_best.is_none()) {
                p class="note" id="p-best-note" {
                    "P(best) shows once every variant has data: before that it would rank a guess against evidence."
                }
            }
            @if let Some(m) = &res.method {
                p class="note" { (m) }
            }
            @if rotation {
                @if let Some(n) = &x.note {
                    p class="note" id="rotation-caveat" { (n) }
                }
            }
        }
    }
}

/// A ratio as a percentage with two decimals, or `—`.
fn pct(v: Option<f64>) -> String {
    v.map(|f| format!("{:.2}%", f * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// The CTR with its interval, or `—`.
fn ctr_cell(ctr: Estimate) -> Markup {
    html! {
        @if ctr.value.is_none() {
            "—"
        } @else {
            (pct(ctr.value)) " "
            span class="note" { "[" (pct(ctr.low)) " – " (pct(ctr.high)) "]" }
        }
    }
}

/// An estimate with two decimals and its interval, or `—`.
/// USD as money (`$1,234.50`): CPC, CPA and spend are USD figures.
fn usd(x: f64) -> String {
    rust_decimal::Decimal::try_from(x)
        .map(|d| crate::money::with_currency(d, "USD"))
        .unwrap_or_else(|_| format!("${x:.2}"))
}

/// A USD cost (CPC, CPA) with its interval, each with the currency.
fn estimate(e: Estimate) -> Markup {
    let two = |v: Option<f64>| v.map_or("—".into(), usd);
    html! {
        @match e.value {
            None => { "—" }
            Some(v) => {
                (usd(v)) " "
                span class="note" { "[" (two(e.low)) " – " (two(e.high)) "]" }
            }
        }
    }
}

async fn act(
    State(state): State<AppState>,
    Path((account, id, action)): Path<(String, String, String)>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    if !matches!(action.as_str(), "start" | "stop" | "conclude") {
        return see_other("/experiments");
    }
    let body = match field(&f, "winner") {
        Some(w) if action == "conclude" => json!({ "winner": w }),
        _ => json!({}),
    };
    let path = format!("{}/{}/{action}", base(&account), q(&id));
    let done = async {
        let scope = scope(&state, &user, &account, None)?;
        let id = path_experiment(&scope, &id).await.map_err(problem)?;
        let post = Method::POST;
        match action.as_str() {
            "start" => {
                write(&scope, post, &path, Some(&body), || {
                    experiments::start(&scope, &id)
                })
                .await
            }
            "stop" => {
                write(&scope, post, &path, Some(&body), || {
                    experiments::stop(&scope, &id)
                })
                .await
            }
            _ => {
                write(&scope, post, &path, Some(&body), || {
                    experiments::conclude(&scope, &id, &body)
                })
                .await
            }
        }
    }
    .await;
    match done {
        Ok(()) => see_other(&format!(
            "/experiments/{}/{}?done={action}",
            q(&account),
            q(&id)
        )),
        Err(e) => {
            let e = if action == "conclude" && e.starts_with("no winner yet") {
                "There is no winner yet: choose the variant to keep.".to_owned()
            } else {
                e
            };
            super::refused(detail_page(&state, &user, &account, &id, Some(Err(e))).await)
        }
    }
}
