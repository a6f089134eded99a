//! Campaigns per ad account: table, create, pause/resume, delete (with a confirmation page), and a
//! campaign's line items and promoted tweets.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};
use xads_client::ListParams;

use super::{
    Fields, account_tabs, accounts, dry_tag, field, flash, form_key, micros, money, pick, render,
    see_other, status_badge,
};
use crate::app::AppState;
use crate::ui::api;
use crate::ui::html::{Nav, button_form, csrf_field, esc, q};
use crate::ui::session::User;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list_page))
        .route("/campaigns/create", post(create))
        .route("/campaigns/{account}/{id}", get(detail))
        .route(
            "/campaigns/{account}/{id}/delete",
            get(confirm_delete).post(delete),
        )
        .route(
            "/campaigns/{account}/{id}/line_items",
            post(create_line_item),
        )
        .route("/campaigns/{account}/{id}/promote", post(promote))
        .route("/campaigns/{account}/{id}/{action}", post(set_paused))
        .route(
            "/line_items/{account}/{campaign}/{id}/{action}",
            post(set_line_item_paused),
        )
}

fn base(account: &str) -> String {
    format!("/api/v1/x_ads/accounts/{}", q(account))
}

async fn list_page(
    State(state): State<AppState>,
    user: User,
    Query(qs): Query<Fields>,
) -> Response {
    let refresh = qs.contains_key("refresh");
    campaigns_page(&state, &user, qs.get("account"), done_message(&qs), refresh).await
}

fn done_message(qs: &Fields) -> Option<Result<String, String>> {
    let text = match qs.get("done").map(String::as_str) {
        Some("created") => "Campaign created.",
        Some("paused") => "Paused.",
        Some("resumed") => "Resumed.",
        Some("deleted") => "Campaign deleted.",
        _ => return None,
    };
    Some(Ok(text.to_owned()))
}

async fn campaigns_page(
    state: &AppState,
    user: &User,
    requested: Option<&String>,
    msg: Option<Result<String, String>>,
    refresh: bool,
) -> Response {
    let csrf = &user.0.csrf;
    let accts = match accounts(state, user).await {
        Ok(a) => a,
        Err(body) => {
            return render(
                user,
                "Campaigns",
                Nav::Campaigns,
                &format!("<h1>Campaigns</h1>{body}"),
            );
        }
    };
    let Some(account) = pick(&accts, requested) else {
        return render(
            user,
            "Campaigns",
            Nav::Campaigns,
            "<h1>Campaigns</h1><p>No ad accounts yet.</p>",
        );
    };
    let account_id = account["id"].as_str().unwrap_or_default();
    let currency = account["currency"].as_str().unwrap_or("");
    let path = format!("{}/campaigns?count=1000", base(account_id));
    let mut list = api::get(state, &user.0.tenant, &path).await;
    // An empty mirror (before the first sync) or an explicit refresh reads through to X.
    if refresh || (list.error().is_none() && list.data().is_empty()) {
        list = api::get(state, &user.0.tenant, &format!("{path}&refresh=true")).await;
    }
    let mut body = format!(
        "<h1>Campaigns</h1>{}{}",
        account_tabs("/campaigns", &accts, account_id),
        flash(&msg)
    );
    if let Some(e) = list.error() {
        body.push_str(&format!("<div class=\"problem\">{}</div>", esc(&e)));
    }
    body.push_str(
        "<div class=\"card\"><table id=\"campaigns\"><thead><tr><th>Campaign</th><th>Status</th>\
<th class=\"n\">Daily budget</th><th class=\"n\">Total budget</th><th></th></tr></thead><tbody>",
    );
    let rows: Vec<Value> = list
        .data()
        .into_iter()
        .filter(|c| c["deleted"].as_bool() != Some(true))
        .collect();
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"5\" class=\"note\">No campaigns yet.</td></tr>");
    }
    for c in &rows {
        let id = c["id"].as_str().unwrap_or_default();
        let name = c["name"].as_str().unwrap_or(id);
        let paused = c["paused"].as_bool() == Some(true);
        let cur = c["currency"].as_str().unwrap_or(currency);
        let toggle = if paused {
            button_form(
                &format!("/campaigns/{}/{}/resume", q(account_id), q(id)),
                csrf,
                "Resume",
                "",
            )
        } else {
            button_form(
                &format!("/campaigns/{}/{}/pause", q(account_id), q(id)),
                csrf,
                "Pause",
                "",
            )
        };
        body.push_str(&format!(
            "<tr data-id=\"{id_e}\" data-name=\"{name_e}\"><td><a href=\"/campaigns/{a}/{i}\">{name_e}</a>{dry}<div class=\"note mono\">{id_e}</div></td>\
<td class=\"status\">{status}</td><td class=\"n\">{daily} {cur}</td><td class=\"n\">{total} {cur}</td>\
<td>{toggle} <a class=\"btn\" href=\"/campaigns/{a}/{i}/delete\">Delete…</a></td></tr>",
            id_e = esc(id),
            name_e = esc(name),
            a = q(account_id),
            i = q(id),
            dry = dry_tag(c),
            status = status_badge(c),
            daily = money(&c["daily_budget_amount_local_micro"]),
            total = money(&c["total_budget_amount_local_micro"]),
            cur = esc(cur),
        ));
    }
    body.push_str(&format!(
        "</tbody></table><p class=\"note\">Listed from the local mirror (refreshed by every sync). <a href=\"/campaigns?account={}&amp;refresh=1\">Refresh from X</a></p></div>",
        q(account_id)
    ));
    body.push_str(&create_form(state, user, account_id, currency).await);
    render(user, "Campaigns", Nav::Campaigns, &body)
}

/// The account's funding instruments (read from X), for the create form.
async fn funding_instruments(
    state: &AppState,
    user: &User,
    account_id: &str,
) -> Vec<(String, String)> {
    let Ok(session) = crate::x::XSession::for_tenant(state, &user.0.tenant.id).await else {
        return vec![];
    };
    let account = account_id.to_owned();
    session
        .call(|x| {
            let account = account.clone();
            async move {
                x.list_all_funding_instruments(&account, &ListParams::new().count(200))
                    .await
            }
        })
        .await
        .map(|list| {
            list.into_iter()
                .map(|f| {
                    let label = format!(
                        "{} {} ({})",
                        f.kind.as_deref().unwrap_or("funding"),
                        f.description.as_deref().unwrap_or(""),
                        f.currency.as_deref().unwrap_or("")
                    );
                    (f.id, label)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn create_form(state: &AppState, user: &User, account_id: &str, currency: &str) -> String {
    let fis = funding_instruments(state, user, account_id).await;
    let fi_input = if fis.is_empty() {
        "<input id=\"fi\" name=\"funding_instrument_id\" required placeholder=\"funding instrument id\">".to_owned()
    } else {
        let mut s = String::from("<select id=\"fi\" name=\"funding_instrument_id\">");
        for (id, label) in &fis {
            s.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                esc(id),
                esc(label)
            ));
        }
        s.push_str("</select>");
        s
    };
    format!(
        "<div class=\"card\"><h2 style=\"margin-top:0\">New campaign</h2>\
<form method=\"post\" action=\"/campaigns/create\" id=\"create-campaign\">{csrf}\
<input type=\"hidden\" name=\"account\" value=\"{acct}\"><input type=\"hidden\" name=\"idem\" value=\"{key}\">\
<div class=\"row\"><div><label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"255\"></div>\
<div><label for=\"fi\">Funding instrument</label>{fi_input}</div>\
<div><label for=\"daily\">Daily budget ({cur})</label><input id=\"daily\" name=\"daily_budget\" inputmode=\"decimal\" size=\"10\"></div>\
<div><label for=\"total\">Total budget ({cur})</label><input id=\"total\" name=\"total_budget\" inputmode=\"decimal\" size=\"10\"></div>\
<div><label><input type=\"checkbox\" name=\"paused\" value=\"1\"> start paused</label></div>\
<div><button class=\"primary\" type=\"submit\" id=\"create\">Create campaign</button></div></div></form></div>",
        csrf = csrf_field(&user.0.csrf),
        acct = esc(account_id),
        key = esc(&form_key()),
        cur = esc(currency),
    )
}

async fn create(State(state): State<AppState>, user: User, Form(f): Form<Fields>) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let account = f.get("account").cloned().unwrap_or_default();
    let result = async {
        let body = json!({
            "name": field(&f, "name").unwrap_or_default(),
            "funding_instrument_id": field(&f, "funding_instrument_id").unwrap_or_default(),
            "daily_budget_amount_local_micro": micros(&f, "daily_budget", "Daily budget")?,
            "total_budget_amount_local_micro": micros(&f, "total_budget", "Total budget")?,
            "paused": f.contains_key("paused"),
        });
        let a = api::send(
            &state,
            &user.0.tenant,
            Method::POST,
            &format!("{}/campaigns", base(&account)),
            Some(&body),
            field(&f, "idem"),
        )
        .await;
        a.error().map_or(Ok(()), Err)
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns?account={}&done=created", q(&account))),
        Err(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    }
}

async fn set_paused(
    State(state): State<AppState>,
    user: User,
    Path((account, id, action)): Path<(String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return see_other("/campaigns"),
    };
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::PATCH,
        &format!("{}/campaigns/{}", base(&account), q(&id)),
        Some(&json!({ "paused": paused })),
    )
    .await;
    match a.error() {
        None => see_other(&format!(
            "/campaigns?account={}&done={}",
            q(&account),
            if paused { "paused" } else { "resumed" }
        )),
        Some(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
) -> Response {
    let c = api::get(
        &state,
        &user.0.tenant,
        &format!("{}/campaigns/{}", base(&account), q(&id)),
    )
    .await;
    if let Some(e) = c.error() {
        return campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await;
    }
    let name = c.body["name"].as_str().unwrap_or(&id);
    let body = format!(
        "<h1>Delete campaign?</h1><div class=\"card\"><p>Delete <strong>{}</strong> <span class=\"mono\">{}</span>? \
Its line items and promoted tweets stop serving. This cannot be undone at X.</p>\
<form method=\"post\" action=\"/campaigns/{}/{}/delete\">{}<button class=\"danger\" type=\"submit\" id=\"confirm-delete\">Delete campaign</button> \
<a class=\"btn\" href=\"/campaigns?account={}\">Cancel</a></form></div>",
        esc(name),
        esc(&id),
        q(&account),
        q(&id),
        csrf_field(&user.0.csrf),
        q(&account),
    );
    render(&user, "Delete campaign", Nav::Campaigns, &body)
}

async fn delete(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::DELETE,
        &format!("{}/campaigns/{}", base(&account), q(&id)),
        None,
    )
    .await;
    match a.error() {
        None => see_other(&format!("/campaigns?account={}&done=deleted", q(&account))),
        Some(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    }
}

async fn detail(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
    Query(qs): Query<Fields>,
) -> Response {
    let msg = qs
        .get("err")
        .map(|_| Err("The change was refused.".to_owned()));
    detail_page(&state, &user, &account, &id, msg).await
}

async fn detail_page(
    state: &AppState,
    user: &User,
    account: &str,
    id: &str,
    msg: Option<Result<String, String>>,
) -> Response {
    let csrf = &user.0.csrf;
    let tenant = &user.0.tenant;
    let c = api::get(
        state,
        tenant,
        &format!("{}/campaigns/{}", base(account), q(id)),
    )
    .await;
    if let Some(e) = c.error() {
        return campaigns_page(state, user, Some(&account.to_owned()), Some(Err(e)), false).await;
    }
    let cur = c.body["currency"].as_str().unwrap_or("");
    let mut body = format!(
        "<div class=\"crumb\"><a href=\"/campaigns?account={}\">Campaigns</a> → {}</div><h1>{}{}</h1>{}\
<p>{} · daily {} {cur} · total {} {cur}</p>",
        q(account),
        esc(id),
        esc(c.body["name"].as_str().unwrap_or(id)),
        dry_tag(&c.body),
        flash(&msg),
        status_badge(&c.body),
        money(&c.body["daily_budget_amount_local_micro"]),
        money(&c.body["total_budget_amount_local_micro"]),
        cur = esc(cur),
    );
    // Before the first sync the mirror may hold none of these: then read through to X once.
    let items_path = format!(
        "{}/line_items?campaign_id={}&count=1000",
        base(account),
        q(id)
    );
    let mut items = api::get(state, tenant, &items_path).await;
    if items.error().is_none() && items.data().is_empty() {
        items = api::get(state, tenant, &format!("{items_path}&refresh=true")).await;
    }
    let tweets_path = format!("{}/promoted_tweets?count=1000", base(account));
    let mut tweets = api::get(state, tenant, &tweets_path).await;
    if tweets.error().is_none() && tweets.data().is_empty() {
        tweets = api::get(state, tenant, &format!("{tweets_path}&refresh=true")).await;
    }
    let tweets = tweets.data();
    body.push_str("<h2>Line items</h2><div class=\"card\"><table id=\"line-items\"><thead><tr><th>Line item</th><th>Status</th><th>Objective</th><th>Placements</th><th class=\"n\">Bid</th><th>Promoted tweets</th><th></th></tr></thead><tbody>");
    let items: Vec<Value> = items
        .data()
        .into_iter()
        .filter(|l| l["deleted"].as_bool() != Some(true))
        .collect();
    if items.is_empty() {
        body.push_str("<tr><td colspan=\"7\" class=\"note\">No line items.</td></tr>");
    }
    for l in &items {
        let lid = l["id"].as_str().unwrap_or_default();
        let tweets: Vec<String> = tweets
            .iter()
            .filter(|p| {
                p["line_item_id"].as_str() == Some(lid) && p["deleted"].as_bool() != Some(true)
            })
            .map(|p| {
                format!(
                    "<div class=\"mono\">tweet {} {}</div>",
                    esc(p["tweet_id"].as_str().unwrap_or("")),
                    status_badge(p)
                )
            })
            .collect();
        let paused = l["paused"].as_bool() == Some(true);
        let action = if paused { "resume" } else { "pause" };
        body.push_str(&format!(
            "<tr><td>{}{}<div class=\"note mono\">{}</div></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(l["name"].as_str().unwrap_or(lid)),
            dry_tag(l),
            esc(lid),
            status_badge(l),
            esc(l["objective"].as_str().unwrap_or("")),
            esc(&l["placements"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()),
            if l["bid_amount_local_micro"].is_null() {
                "auto".to_owned()
            } else {
                format!(
                    "{} {}",
                    money(&l["bid_amount_local_micro"]),
                    esc(l["currency"].as_str().unwrap_or(cur))
                )
            },
            if tweets.is_empty() { "—".to_owned() } else { tweets.join("") },
            button_form(
                &format!("/line_items/{}/{}/{}/{action}", q(account), q(id), q(lid)),
                csrf,
                if paused { "Resume" } else { "Pause" },
                "",
            ),
        ));
    }
    body.push_str("</tbody></table></div>");
    body.push_str(&line_item_forms(user, account, id, cur, &items));
    render(user, "Campaign", Nav::Campaigns, &body)
}

async fn set_line_item_paused(
    State(state): State<AppState>,
    user: User,
    Path((account, campaign, id, action)): Path<(String, String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let paused = action == "pause";
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::PATCH,
        &format!("{}/line_items/{}", base(&account), q(&id)),
        Some(&json!({ "paused": paused })),
    )
    .await;
    match a.error() {
        None => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Some(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}

fn options(values: &[&str], selected: &str) -> String {
    values
        .iter()
        .map(|v| {
            format!(
                "<option{}>{}</option>",
                if *v == selected { " selected" } else { "" },
                esc(v)
            )
        })
        .collect()
}

/// The forms under a campaign: a new line item, and a tweet to promote on one of its line items.
fn line_item_forms(
    user: &User,
    account: &str,
    campaign: &str,
    cur: &str,
    items: &[Value],
) -> String {
    use crate::manage::input::{BID_STRATEGIES, OBJECTIVES, PLACEMENTS, PRODUCT_TYPES};
    // X wants one objective per campaign: offer the one its line items already have.
    let objective = items
        .first()
        .and_then(|l| l["objective"].as_str())
        .unwrap_or("WEBSITE_CLICKS");
    let action = format!("/campaigns/{}/{}", q(account), q(campaign));
    let mut out = format!(
        "<div class=\"card\"><h2 style=\"margin-top:0\">New line item</h2>\
<form method=\"post\" action=\"{action}/line_items\" id=\"create-line-item\">{csrf}<input type=\"hidden\" name=\"idem\" value=\"{key}\">\
<div class=\"row\"><div><label for=\"li-name\">Name</label><input id=\"li-name\" name=\"name\" maxlength=\"255\"></div>\
<div><label>Objective</label><select name=\"objective\">{obj}</select></div>\
<div><label>Product</label><select name=\"product_type\">{prod}</select></div>\
<div><label>Placement</label><select name=\"placement\">{place}</select></div>\
<div><label>Bidding</label><select name=\"bid_strategy\">{bid}</select></div>\
<div><label>Bid ({cur})</label><input name=\"bid\" inputmode=\"decimal\" size=\"7\"></div>\
<div><label>Daily budget ({cur})</label><input name=\"daily_budget\" inputmode=\"decimal\" size=\"8\"></div>\
<div><label><input type=\"checkbox\" name=\"paused\" value=\"1\"> paused</label></div>\
<div><button class=\"primary\" type=\"submit\">Create line item</button></div></div></form></div>",
        csrf = csrf_field(&user.0.csrf),
        key = esc(&form_key()),
        obj = options(OBJECTIVES, objective),
        prod = options(PRODUCT_TYPES, "PROMOTED_TWEETS"),
        place = options(PLACEMENTS, "ALL_ON_TWITTER"),
        bid = options(BID_STRATEGIES, "AUTO"),
        cur = esc(cur),
    );
    if !items.is_empty() {
        let mut li = String::new();
        for l in items {
            let id = l["id"].as_str().unwrap_or_default();
            li.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                esc(id),
                esc(l["name"].as_str().unwrap_or(id))
            ));
        }
        out.push_str(&format!(
            "<div class=\"card\"><h2 style=\"margin-top:0\">Promote a tweet</h2>\
<form method=\"post\" action=\"{action}/promote\" id=\"promote\">{}<input type=\"hidden\" name=\"idem\" value=\"{}\">\
<div class=\"row\"><div><label>Line item</label><select name=\"line_item_id\">{li}</select></div>\
<div><label for=\"tweet\">Tweet id</label><input id=\"tweet\" name=\"tweet_id\" required pattern=\"[0-9]+\"></div>\
<div><button type=\"submit\">Promote</button></div></div></form></div>",
            csrf_field(&user.0.csrf),
            esc(&form_key()),
        ));
    }
    out
}

async fn create_line_item(
    State(state): State<AppState>,
    user: User,
    Path((account, campaign)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let result = async {
        let mut body = json!({
            "campaign_id": campaign,
            "objective": field(&f, "objective").unwrap_or_default(),
            "product_type": field(&f, "product_type").unwrap_or_default(),
            "placements": [field(&f, "placement").unwrap_or_default()],
            "paused": f.contains_key("paused"),
        });
        if let Some(n) = field(&f, "name") {
            body["name"] = json!(n);
        }
        if let Some(b) = field(&f, "bid_strategy") {
            body["bid_strategy"] = json!(b);
        }
        if let Some(m) = micros(&f, "bid", "Bid")? {
            body["bid_amount_local_micro"] = json!(m);
        }
        if let Some(m) = micros(&f, "daily_budget", "Daily budget")? {
            body["daily_budget_amount_local_micro"] = json!(m);
        }
        let a = api::send(
            &state,
            &user.0.tenant,
            Method::POST,
            &format!("{}/line_items", base(&account)),
            Some(&body),
            field(&f, "idem"),
        )
        .await;
        a.error().map_or(Ok(()), Err)
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Err(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}

async fn promote(
    State(state): State<AppState>,
    user: User,
    Path((account, campaign)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let body = json!({
        "line_item_id": field(&f, "line_item_id").unwrap_or_default(),
        "tweet_ids": [field(&f, "tweet_id").unwrap_or_default()],
    });
    let a = api::send(
        &state,
        &user.0.tenant,
        Method::POST,
        &format!("{}/promoted_tweets", base(&account)),
        Some(&body),
        field(&f, "idem"),
    )
    .await;
    match a.error() {
        None => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Some(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}
