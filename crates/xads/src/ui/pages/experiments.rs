//! Experiments: list and create, a detail page with variants (live state, next switch), results
//! with intervals and the verdict, and start / stop / conclude — over `…/experiments`.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};

use super::{
    Fields, account_tabs, accounts, field, flash, form_key, micros, pick, render, see_other,
};
use crate::app::AppState;
use crate::ui::api;
use crate::ui::html::{self, Nav, button_form, csrf_field, esc, q};
use crate::ui::session::User;

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

fn s(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
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
    let accts = match accounts(state, user).await {
        Ok(a) => a,
        Err(body) => {
            return render(
                user,
                "Experiments",
                Nav::Experiments,
                &format!("<h1>Experiments</h1>{body}"),
            );
        }
    };
    let Some(account) = pick(&accts, requested) else {
        return render(
            user,
            "Experiments",
            Nav::Experiments,
            "<h1>Experiments</h1><p>No ad accounts yet.</p>",
        );
    };
    let account_id = account["id"].as_str().unwrap_or_default();
    let currency = account["currency"].as_str().unwrap_or("");
    let tenant = &user.0.tenant;
    let list = api::get(state, tenant, &base(account_id)).await;
    let mut body = format!(
        "<h1>Experiments</h1>{}{}<p class=\"note\">X has no experiment primitive: each variant is a line item with its own creative under one campaign; \
the control ships unpaused, treatments paused until the runner rotates them.</p>",
        account_tabs("/experiments", &accts, account_id),
        flash(&msg)
    );
    if let Some(e) = list.error() {
        body.push_str(&format!("<div class=\"problem\">{}</div>", esc(&e)));
    }
    body.push_str("<div class=\"card\"><table id=\"experiments\"><thead><tr><th>Experiment</th><th>Status</th><th>Metric</th><th>Schedule</th><th>Variants</th></tr></thead><tbody>");
    let rows = list.data();
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"5\" class=\"note\">No experiments yet.</td></tr>");
    }
    for e in &rows {
        let id = e["id"].as_str().unwrap_or_default();
        body.push_str(&format!(
            "<tr><td><a href=\"/experiments/{}/{}\">{}</a><div class=\"note mono\">{}</div></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            q(account_id),
            q(id),
            esc(e["name"].as_str().unwrap_or(id)),
            esc(id),
            s(&e["status"]),
            s(&e["primary_metric"]),
            s(&e["schedule"]["mode"]),
            e["variants"].as_array().map_or(0, Vec::len),
        ));
    }
    body.push_str("</tbody></table></div>");

    // The create form: a campaign, the metric, the schedule, and two variants (first = control).
    let campaigns = api::get(
        state,
        tenant,
        &format!(
            "/api/v1/x_ads/accounts/{}/campaigns?count=1000",
            q(account_id)
        ),
    )
    .await;
    let mut options = String::new();
    for c in campaigns
        .data()
        .iter()
        .filter(|c| c["deleted"].as_bool() != Some(true))
    {
        options.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            s(&c["id"]),
            s(&c["name"])
        ));
    }
    let variant = |i: usize, name: &str| {
        format!(
            "<div class=\"row\" style=\"margin-top:8px\"><div><label>Variant {n}{ctl}</label><input name=\"v{i}_name\" value=\"{name}\" required></div>\
<div><label>Tweet id</label><input name=\"v{i}_tweet\" id=\"v{i}_tweet\" list=\"tweets\" required pattern=\"[0-9]+\"></div>\
<div><label>Bid ({cur})</label><input name=\"v{i}_bid\" inputmode=\"decimal\" size=\"8\" value=\"1.50\"></div>\
<div><label>Daily budget ({cur})</label><input name=\"v{i}_daily\" inputmode=\"decimal\" size=\"8\" value=\"50\"></div></div>",
            n = i + 1,
            ctl = if i == 0 { " (control)" } else { "" },
            cur = esc(currency),
        )
    };
    // Tweets already promoted in this account, offered as suggestions.
    let promoted = api::get(
        state,
        tenant,
        &format!(
            "/api/v1/x_ads/accounts/{}/promoted_tweets?count=1000",
            q(account_id)
        ),
    )
    .await;
    let mut tweet_ids: Vec<String> = promoted
        .data()
        .iter()
        .filter_map(|p| p["tweet_id"].as_str().map(str::to_owned))
        .collect();
    tweet_ids.sort();
    tweet_ids.dedup();
    body.push_str("<datalist id=\"tweets\">");
    for t in &tweet_ids {
        body.push_str(&format!("<option value=\"{}\">", esc(t)));
    }
    body.push_str("</datalist>");
    body.push_str(&format!(
        "<div class=\"card\"><h2 style=\"margin-top:0\">New experiment</h2><form method=\"post\" action=\"/experiments/create\">{csrf}\
<input type=\"hidden\" name=\"account\" value=\"{a}\"><input type=\"hidden\" name=\"idem\" value=\"{key}\">\
<div class=\"row\"><div><label>Name</label><input name=\"name\" id=\"exp-name\" required></div>\
<div><label>Campaign</label><select name=\"campaign_id\">{options}</select></div>\
<div><label for=\"objective\">Objective (as the campaign's line items)</label><select name=\"objective\" id=\"objective\">\
<option>WEBSITE_CLICKS</option><option>ENGAGEMENTS</option><option>AWARENESS</option><option>FOLLOWERS</option>\
<option>APP_INSTALLS</option><option>APP_ENGAGEMENTS</option><option>VIDEO_VIEWS</option><option>REACH</option></select></div>\
<div><label>Primary metric</label><select name=\"primary_metric\"><option>ctr</option><option>conversion_rate</option><option>cpc</option><option>cpa</option></select></div>\
<div><label>Schedule</label><select name=\"mode\"><option value=\"rotate\">rotate</option><option value=\"concurrent\">concurrent</option></select></div>\
<div><label>Slot hours</label><input name=\"slot_hours\" value=\"6\" size=\"4\"></div>\
<div><label>Min impressions</label><input name=\"min_impressions\" value=\"1000\" size=\"7\"></div>\
<div><label>Max days</label><input name=\"max_days\" value=\"14\" size=\"4\"></div></div>\
{v0}{v1}<p><button class=\"primary\" type=\"submit\" id=\"create-experiment\">Create experiment</button></p></form></div>",
        csrf = csrf_field(&user.0.csrf),
        a = esc(account_id),
        key = esc(&form_key()),
        v0 = variant(0, "Control"),
        v1 = variant(1, "Treatment"),
    ));
    render(user, "Experiments", Nav::Experiments, &body)
}

fn int(f: &Fields, name: &str) -> Result<Option<i64>, String> {
    field(f, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{name}: not a whole number"))
        })
        .transpose()
}

async fn create(State(state): State<AppState>, user: User, Form(f): Form<Fields>) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
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
        let a = api::send(&state, &user.0.tenant, Method::POST, &base(&account), Some(&body), field(&f, "idem")).await;
        match a.error() {
            None => Ok(a.body["id"].as_str().unwrap_or_default().to_owned()),
            Some(e) => Err(e),
        }
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
    let tenant = &user.0.tenant;
    let e = api::get(state, tenant, &format!("{}/{}", base(account), q(id))).await;
    if let Some(err) = e.error() {
        return experiments_page(state, user, Some(&account.to_owned()), Some(Err(err))).await;
    }
    let r = api::get(
        state,
        tenant,
        &format!("{}/{}/results", base(account), q(id)),
    )
    .await;
    let x = &e.body;
    let mut body = format!(
        "<div class=\"crumb\"><a href=\"/experiments?account={}\">Experiments</a> → {}</div><h1>{}</h1>{}\
<p>Status {} · metric {} · schedule {}{}</p>",
        q(account),
        esc(id),
        esc(x["name"].as_str().unwrap_or(id)),
        flash(&msg),
        s(&x["status"]),
        s(&x["primary_metric"]),
        s(&x["schedule"]["mode"]),
        x["schedule"]["slot_hours"]
            .as_i64()
            .map(|h| format!(" ({h} h slots)"))
            .unwrap_or_default(),
    );
    if let Some(next) = x["next_switch"].as_str() {
        body.push_str(&format!(
            "<p id=\"next-switch\">Next switch: <strong>{}</strong></p>",
            esc(next)
        ));
    }
    if let Some(p) = x["problem"].as_str() {
        body.push_str(&format!("<div class=\"problem\">{}</div>", esc(p)));
    }
    if let Some(c) = x["conclusion"].as_str() {
        body.push_str(&format!("<div class=\"flash\">{}</div>", esc(c)));
    }
    body.push_str("<p>");
    if x["status"].as_str() != Some("concluded") {
        for action in ["start", "stop"] {
            body.push_str(&button_form(
                &format!("/experiments/{}/{}/{action}", q(account), q(id)),
                &user.0.csrf,
                &format!("{}{}", action[..1].to_uppercase(), &action[1..]),
                "",
            ));
            body.push(' ');
        }
        // Conclude keeps one variant running and pauses the others: the verdict's winner, or
        // the one the user picks.
        let mut choices = String::from("<option value=\"\">the verdict's winner</option>");
        for v in x["variants"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default();
            choices.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                esc(name),
                esc(name)
            ));
        }
        body.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/experiments/{}/{}/conclude\" id=\"conclude\">{}\
<label class=\"inline\" style=\"display:inline\">Keep <select name=\"winner\">{choices}</select></label> \
<button class=\"primary\" type=\"submit\">Conclude</button></form>",
            q(account),
            q(id),
            csrf_field(&user.0.csrf),
        ));
    }
    body.push_str("</p>");

    // Results: verdict and per-variant metrics with intervals.
    let res = &r.body;
    body.push_str("<div class=\"card\" id=\"results\"><h2 style=\"margin-top:0\">Results</h2>");
    if let Some(err) = r.error() {
        body.push_str(&format!("<div class=\"problem\">{}</div>", esc(&err)));
    } else {
        let verdict = match res["verdict"].as_str() {
            Some("winner") => format!("Winner: {}", s(&res["winner"])),
            Some("no_difference") => "No difference yet".into(),
            Some("insufficient_data") => "Not enough data yet".into(),
            _ => s(&res["verdict"]),
        };
        body.push_str(&format!(
            "<p id=\"verdict\"><strong>Verdict:</strong> {verdict}</p>"
        ));
    }
    body.push_str("<table id=\"variants\"><thead><tr><th>Variant</th><th>Live</th><th class=\"n\">Impressions</th><th class=\"n\">Clicks</th>\
<th class=\"n\">CTR (95% interval)</th><th class=\"n\">Spend (USD)</th><th class=\"n\">Conversions</th><th class=\"n\">CPC</th><th class=\"n\">CPA</th><th class=\"n\">P(best)</th></tr></thead><tbody>");
    let live: Vec<Value> = x["variants"].as_array().cloned().unwrap_or_default();
    let variants = res["variants"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| live.clone());
    let live_paused = |name: &Value| {
        live.iter()
            .find(|v| &v["name"] == name)
            .and_then(|v| v["paused"].as_bool())
    };
    let est = |e: &Value| match e["value"].as_f64() {
        None => "—".to_owned(),
        Some(v) => format!(
            "{v:.2} <span class=\"note\">[{} – {}]</span>",
            e["low"].as_f64().map_or("—".into(), |l| format!("{l:.2}")),
            e["high"].as_f64().map_or("—".into(), |h| format!("{h:.2}"))
        ),
    };
    let pct = |v: &Value| {
        v.as_f64()
            .map(|f| format!("{:.2}%", f * 100.0))
            .unwrap_or_else(|| "—".into())
    };
    for v in &variants {
        let ctr = &v["ctr"];
        body.push_str(&format!(
            "<tr><td>{}{}<div class=\"note mono\">{}</div></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            s(&v["name"]),
            if v["control"].as_bool() == Some(true) { " <span class=\"badge b-off\">control</span>" } else { "" },
            s(&v["line_item_id"]),
            match live_paused(&v["name"]).or(v["paused"].as_bool()) {
                Some(true) => "<span class=\"badge b-warn\">paused</span>",
                Some(false) => "<span class=\"badge b-ok\">live</span>",
                None => "—",
            },
            html::group(v["impressions"].as_u64().unwrap_or(0)),
            html::group(v["clicks"].as_u64().unwrap_or(0)),
            if ctr["value"].is_null() {
                "—".to_owned()
            } else {
                format!(
                    "{} <span class=\"note\">[{} – {}]</span>",
                    pct(&ctr["value"]),
                    pct(&ctr["low"]),
                    pct(&ctr["high"])
                )
            },
            v["spend_usd"]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .map_or("—".into(), |x| format!("${x:.2}")),
            s(&v["conversions"]),
            est(&v["cpc"]),
            est(&v["cpa"]),
            v["p_best"].as_f64().map(|p| format!("{:.0}%", p * 100.0)).unwrap_or_else(|| "—".into()),
        ));
    }
    body.push_str("</tbody></table>");
    if let Some(m) = res["method"].as_str() {
        body.push_str(&format!("<p class=\"note\">{}</p>", esc(m)));
    }
    if let Some(n) = x["note"].as_str() {
        body.push_str(&format!("<p class=\"note\">{}</p>", esc(n)));
    }
    body.push_str("</div>");
    render(user, "Experiment", Nav::Experiments, &body)
}

async fn act(
    State(state): State<AppState>,
    user: User,
    Path((account, id, action)): Path<(String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    if !matches!(action.as_str(), "start" | "stop" | "conclude") {
        return see_other("/experiments");
    }
    let body = match field(&f, "winner") {
        Some(w) if action == "conclude" => json!({ "winner": w }),
        _ => json!({}),
    };
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::POST,
        &format!("{}/{}/{action}", base(&account), q(&id)),
        Some(&body),
    )
    .await;
    let msg = match a.error() {
        None => Ok(match action.as_str() {
            "start" => "Experiment started.".to_owned(),
            "stop" => "Experiment stopped.".to_owned(),
            _ => "Experiment concluded: losers paused, the winner kept.".to_owned(),
        }),
        Some(e) => Err(e),
    };
    detail_page(&state, &user, &account, &id, Some(msg)).await
}
