//! Experiments: list and create, a detail page with variants (live state, next switch), results
//! with intervals and the verdict, and start / stop / conclude — over `…/experiments`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::view::{Estimate, Experiment, Results};
use super::{
    CreateForm, Fields, Picker, entities, field, micros, problem, render, scope, see_other, write,
    write_answer,
};
use crate::app::AppState;
use crate::experiments;
use crate::store::entities::Kind;
use crate::ui::html::{self, Nav, button_form, csrf_field, flash, q};
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
    experiments_page(&state, &user, qs.get("account"), None).await
}

async fn experiments_page(
    state: &AppState,
    user: &User,
    requested: Option<&String>,
    msg: Option<Result<String, String>>,
) -> Response {
    let picker = match Picker::load(
        state,
        user,
        requested,
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
            experiments::list(&scope).await.map_err(problem),
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
    let body = html! {
        h1 { "Experiments" }
        (picker.tabs())
        (flash(&msg))
        p class="note" {
            "X has no experiment primitive: each variant is a line item with its own creative under one campaign; "
            "the control ships unpaused, treatments paused until the runner rotates them."
        }
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            table id="experiments" {
                thead {
                    tr {
                        th { "Experiment" } th { "Status" } th { "Metric" } th { "Schedule" }
                        th { "Variants" }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr { td colspan="5" class="note" { "No experiments yet." } }
                    }
                    @for e in &rows {
                        tr {
                            td {
                                a href={ "/experiments/" (q(&account.id)) "/" (q(&e.id)) } {
                                    (e.name)
                                }
                                div class="note mono" { (e.id) }
                            }
                            td { (dash(&e.status)) }
                            td { (dash(&e.primary_metric)) }
                            td { (dash(&e.schedule_mode)) }
                            td { (e.variants.len()) }
                        }
                    }
                }
            }
        }
        datalist id="tweets" {
            @for t in &tweet_ids {
                option value=(t);
            }
        }
        (create_form(&user.0.csrf, account, &campaigns))
    };
    render(user, "Experiments", Nav::Experiments, body)
}

/// The create form: a campaign, the metric, the schedule, and two variants (first = control).
fn create_form(csrf: &str, account: &super::Account, campaigns: &[(String, String)]) -> Markup {
    let cur = &account.currency;
    let variant = |i: usize, name: &str| {
        html! {
            div class="row" style="margin-top:8px" {
                div {
                    label { "Variant " (i + 1) @if i == 0 { " (control)" } }
                    input name={ "v" (i) "_name" } value=(name) required;
                }
                div {
                    label { "Tweet id" }
                    input name={ "v" (i) "_tweet" } id={ "v" (i) "_tweet" } list="tweets" required
                        pattern="[0-9]+";
                }
                div {
                    label { "Bid (" (cur) ")" }
                    input name={ "v" (i) "_bid" } inputmode="decimal" size="8" value="1.50";
                }
                div {
                    label { "Daily budget (" (cur) ")" }
                    input name={ "v" (i) "_daily" } inputmode="decimal" size="8" value="50";
                }
            }
        }
    };
    let form = CreateForm {
        heading: "New experiment",
        action: "/experiments/create",
        id: None,
        hidden: &[("account", &account.id)],
    };
    form.render(
        csrf,
        html! {
            div class="row" {
                div { label { "Name" } input name="name" id="exp-name" required; }
                div {
                    label { "Campaign" }
                    select name="campaign_id" {
                        @for (id, name) in campaigns {
                            option value=(id) { (name) }
                        }
                    }
                }
                div {
                    label for="objective" { "Objective (as the campaign's line items)" }
                    select name="objective" id="objective" {
                        @for o in ["WEBSITE_CLICKS", "ENGAGEMENTS", "AWARENESS", "FOLLOWERS",
                            "APP_INSTALLS", "APP_ENGAGEMENTS", "VIDEO_VIEWS", "REACH"] {
                            option { (o) }
                        }
                    }
                }
                div {
                    label { "Primary metric" }
                    select name="primary_metric" {
                        @for m in ["ctr", "conversion_rate", "cpc", "cpa"] {
                            option { (m) }
                        }
                    }
                }
                div {
                    label { "Schedule" }
                    select name="mode" {
                        option value="rotate" { "rotate" }
                        option value="concurrent" { "concurrent" }
                    }
                }
                div { label { "Slot hours" } input name="slot_hours" value="6" size="4"; }
                div { label { "Min impressions" } input name="min_impressions" value="1000" size="7"; }
                div { label { "Max days" } input name="max_days" value="14" size="4"; }
            }
            (variant(0, "Control"))
            (variant(1, "Treatment"))
            p { button class="primary" type="submit" id="create-experiment" { "Create experiment" } }
        },
    )
}

fn int(f: &Fields, name: &str) -> Result<Option<i64>, String> {
    field(f, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{name}: not a whole number"))
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
            json!({"mode": "rotate", "slot_hours": int(&f, "slot_hours")?.unwrap_or(6)})
        };
        let mut stop = serde_json::Map::new();
        for k in ["min_impressions", "min_conversions", "max_days"] {
            if let Some(n) = int(&f, k)? {
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
        Err(e) => experiments_page(&state, &user, Some(&account), Some(Err(e))).await,
    }
}

async fn detail(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
) -> Response {
    detail_page(&state, &user, &account, &id, None).await
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
            return experiments_page(state, user, Some(&account.to_owned()), Some(Err(err))).await;
        }
    };
    let x = Experiment::from_api(&view.json());
    let res = experiments::results(&scope, &id)
        .await
        .map(|r| Results::from_api(&r.json()))
        .map_err(problem);
    let results = res.as_ref().map_err(String::clone);
    let body = detail_body(account, &id, &x, results, &msg, &user.0.csrf);
    render(user, "Experiment", Nav::Experiments, body)
}

/// The detail page's body: the experiment, the actions its state allows, and the results (or
/// the problem reading them).
fn detail_body(
    account: &str,
    id: &str,
    x: &Experiment,
    results: Result<&Results, String>,
    msg: &Option<Result<String, String>>,
    csrf: &str,
) -> Markup {
    let no_results = Results {
        verdict: None,
        winner: None,
        method: None,
        variants: None,
    };
    let res = results.as_ref().copied().unwrap_or(&no_results);
    let variants = res.variants.as_ref().unwrap_or(&x.variants);
    let path = format!("/experiments/{}/{}", q(account), q(id));
    let verdict = match res.verdict.as_deref() {
        Some("winner") => format!("Winner: {}", dash(&res.winner)),
        Some("no_difference") => "No difference yet".into(),
        Some("insufficient_data") => "Not enough data yet".into(),
        _ => dash(&res.verdict).to_owned(),
    };
    html! {
        div class="crumb" {
            a href={ "/experiments?account=" (q(account)) } { "Experiments" } " → " (id)
        }
        h1 { (x.name) }
        (flash(msg))
        p {
            "Status " (dash(&x.status)) " · metric " (dash(&x.primary_metric))
            " · schedule " (dash(&x.schedule_mode))
            @if let Some(h) = x.slot_hours {
                " (" (h) " h slots)"
            }
        }
        @if let Some(next) = &x.next_switch {
            p id="next-switch" { "Next switch: " strong { (next) } }
        }
        @if let Some(p) = &x.problem {
            div class="problem" { (p) }
        }
        @if let Some(c) = &x.conclusion {
            div class="flash" { (c) }
        }
        p {
            @if x.status.as_deref() != Some("concluded") {
                (button_form(&format!("{path}/start"), csrf, "Start", ""))
                " "
                (button_form(&format!("{path}/stop"), csrf, "Stop", ""))
                " "
                // Conclude keeps one variant running and pauses the others: the verdict's
                // winner, or the one the user picks.
                form class="inline" method="post" action={ (path) "/conclude" } id="conclude" {
                    (csrf_field(csrf))
                    label class="inline" style="display:inline" {
                        "Keep "
                        select name="winner" {
                            option value="" { "the verdict's winner" }
                            @for v in &x.variants {
                                @let name = v.name.as_deref().unwrap_or_default();
                                option value=(name) { (name) }
                            }
                        }
                    }
                    " "
                    button class="primary" type="submit" { "Conclude" }
                }
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
                                div class="note mono" { (dash(&v.line_item_id)) }
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
                                (v.spend_usd.map_or("—".into(), |x| format!("${x:.2}")))
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
            @if variants.iter().any(|v| v.p_best.is_none()) {
                p class="note" id="p-best-note" {
                    "P(best) shows once every variant has data: before that it would rank a guess against evidence."
                }
            }
            @if let Some(m) = &res.method {
                p class="note" { (m) }
            }
            @if let Some(n) = &x.note {
                p class="note" { (n) }
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
fn estimate(e: Estimate) -> Markup {
    let two = |v: Option<f64>| v.map_or("—".into(), |x| format!("{x:.2}"));
    html! {
        @match e.value {
            None => { "—" }
            Some(v) => {
                (format!("{v:.2}")) " "
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
    let msg = match done {
        Ok(()) => Ok(match action.as_str() {
            "start" => "Experiment started.".to_owned(),
            "stop" => "Experiment stopped.".to_owned(),
            _ => "Experiment concluded: losers paused, the winner kept.".to_owned(),
        }),
        Err(e) => Err(e),
    };
    detail_page(&state, &user, &account, &id, Some(msg)).await
}
