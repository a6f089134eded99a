//! Campaigns per ad account: table, create, pause/resume, delete (with a confirmation page), and a
//! campaign's line items and promoted tweets.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::json;
use xads_client::ListParams;

use super::view::{Campaign, LineItem, PromotedTweet, Status};
use super::{
    CreateForm, Fields, Picker, dry_tag, entities_or_refresh, entity_id, field, micros, problem,
    render, scope, see_other, status_badge, write,
};
use crate::app::AppState;
use crate::manage;
use crate::store::entities::Kind;
use crate::ui::html::{Nav, button_form, csrf_field, flash, money, q};
use crate::ui::session::{CsrfForm, User};

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

/// The API path of the account's resources: the fingerprint of a form's idempotency key is
/// the API request's (method, path, body), so a key means the same on either surface.
fn base(account: &str) -> String {
    format!("/api/v1/x_ads/accounts/{}", q(account))
}

/// The campaign `id` of `account`, as the API's `GET …/campaigns/{id}` reads it.
async fn campaign(
    state: &AppState,
    user: &User,
    account: &str,
    id: &str,
) -> Result<Campaign, String> {
    let scope = scope(state, user, account, None)?;
    let id = entity_id(&scope, id, "campaign").await?;
    let entity = manage::campaigns::get(&scope, &id).await.map_err(problem)?;
    Ok(Campaign::from_api(&entity.data))
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
    let picker = match Picker::load(
        state,
        user,
        requested,
        ("/campaigns", "Campaigns", Nav::Campaigns),
    )
    .await
    {
        Ok(p) => p,
        Err(page) => return page,
    };
    let account = &picker.current;
    // An empty mirror (before the first sync) or an explicit refresh reads through to X.
    let list = match scope(state, user, &account.id, None) {
        Ok(scope) => entities_or_refresh(&scope, Kind::Campaign, None, refresh).await,
        Err(e) => Err(e),
    };
    let rows: Vec<Campaign> = list
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(Campaign::from_api)
        .filter(|c| c.status != Status::Deleted)
        .collect();
    let fis = funding_instruments(state, user, &account.id).await;
    let body = html! {
        h1 { "Campaigns" }
        (picker.tabs())
        (flash(&msg))
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            table id="campaigns" {
                thead {
                    tr {
                        th { "Campaign" } th { "Status" } th class="n" { "Daily budget" }
                        th class="n" { "Total budget" } th {}
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr { td colspan="5" class="note" { "No campaigns yet." } }
                    }
                    @for c in &rows {
                        (campaign_row(c, account, &user.0.csrf))
                    }
                }
            }
            p class="note" {
                "Listed from the local mirror (refreshed by every sync). "
                a href={ "/campaigns?account=" (q(&account.id)) "&refresh=1" } { "Refresh from X" }
            }
        }
        (create_form(&user.0.csrf, account, &fis))
    };
    render(user, "Campaigns", Nav::Campaigns, body)
}

fn campaign_row(c: &Campaign, account: &super::Account, csrf: &str) -> Markup {
    let cur = c.currency.as_deref().unwrap_or(&account.currency);
    let href = format!("/campaigns/{}/{}", q(&account.id), q(&c.id));
    let (action, label) = if c.paused {
        ("resume", "Resume")
    } else {
        ("pause", "Pause")
    };
    html! {
        tr data-id=(c.id) data-name=(c.name) {
            td {
                a href=(href) { (c.name) }
                (dry_tag(c.dry_run))
                div class="note mono" { (c.id) }
            }
            td class="status" { (status_badge(c.status)) }
            td class="n" { (money(c.daily_budget_micros)) " " (cur) }
            td class="n" { (money(c.total_budget_micros)) " " (cur) }
            td {
                (button_form(&format!("{href}/{action}"), csrf, label, ""))
                " "
                a class="btn" href={ (href) "/delete" } { "Delete…" }
            }
        }
    }
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

/// The new-campaign form; a select of the account's funding instruments when X listed them.
fn create_form(csrf: &str, account: &super::Account, fis: &[(String, String)]) -> Markup {
    let cur = &account.currency;
    let form = CreateForm {
        heading: "New campaign",
        action: "/campaigns/create",
        id: Some("create-campaign"),
        hidden: &[("account", &account.id)],
    };
    form.render(
        csrf,
        html! {
            div class="row" {
                div {
                    label for="name" { "Name" }
                    input id="name" name="name" required maxlength="255";
                }
                div {
                    label for="fi" { "Funding instrument" }
                    @if fis.is_empty() {
                        input id="fi" name="funding_instrument_id" required
                            placeholder="funding instrument id";
                    } @else {
                        select id="fi" name="funding_instrument_id" {
                            @for (id, label) in fis {
                                option value=(id) { (label) }
                            }
                        }
                    }
                }
                div {
                    label for="daily" { "Daily budget (" (cur) ")" }
                    input id="daily" name="daily_budget" inputmode="decimal" size="10";
                }
                div {
                    label for="total" { "Total budget (" (cur) ")" }
                    input id="total" name="total_budget" inputmode="decimal" size="10";
                }
                div { label { input type="checkbox" name="paused" value="1"; " start paused" } }
                div { button class="primary" type="submit" id="create" { "Create campaign" } }
            }
        },
    )
}

async fn create(State(state): State<AppState>, CsrfForm(user, f): CsrfForm<Fields>) -> Response {
    let account = f.get("account").cloned().unwrap_or_default();
    let result = async {
        let body = json!({
            "name": field(&f, "name").unwrap_or_default(),
            "funding_instrument_id": field(&f, "funding_instrument_id").unwrap_or_default(),
            "daily_budget_amount_local_micro": micros(&f, "daily_budget", "Daily budget")?,
            "total_budget_amount_local_micro": micros(&f, "total_budget", "Total budget")?,
            "paused": f.contains_key("paused"),
        });
        let scope = scope(&state, &user, &account, field(&f, "idem"))?;
        let path = format!("{}/campaigns", base(&account));
        write(&scope, Method::POST, &path, Some(&body), || {
            manage::campaigns::create(&scope, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns?account={}&done=created", q(&account))),
        Err(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    }
}

async fn set_paused(
    State(state): State<AppState>,
    Path((account, id, action)): Path<(String, String, String)>,
    CsrfForm(user, _): CsrfForm<Fields>,
) -> Response {
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return see_other("/campaigns"),
    };
    let body = json!({ "paused": paused });
    let path = format!("{}/campaigns/{}", base(&account), q(&id));
    let result = async {
        let scope = scope(&state, &user, &account, None)?;
        let id = entity_id(&scope, &id, "campaign").await?;
        write(&scope, Method::PATCH, &path, Some(&body), || {
            manage::campaigns::update(&scope, &id, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!(
            "/campaigns?account={}&done={}",
            q(&account),
            if paused { "paused" } else { "resumed" }
        )),
        Err(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
) -> Response {
    let name = match campaign(&state, &user, &account, &id).await {
        Ok(c) => c.name,
        Err(e) => return campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
    };
    let body = html! {
        h1 { "Delete campaign?" }
        div class="card" {
            p {
                "Delete " strong { (name) } " " span class="mono" { (id) }
                "? Its line items and promoted tweets stop serving. This cannot be undone at X."
            }
            form method="post" action={ "/campaigns/" (q(&account)) "/" (q(&id)) "/delete" } {
                (csrf_field(&user.0.csrf))
                button class="danger" type="submit" id="confirm-delete" { "Delete campaign" }
                " "
                a class="btn" href={ "/campaigns?account=" (q(&account)) } { "Cancel" }
            }
        }
    };
    render(&user, "Delete campaign", Nav::Campaigns, body)
}

async fn delete(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    CsrfForm(user, _): CsrfForm<Fields>,
) -> Response {
    let path = format!("{}/campaigns/{}", base(&account), q(&id));
    let result = async {
        let scope = scope(&state, &user, &account, None)?;
        let id = entity_id(&scope, &id, "campaign").await?;
        write(&scope, Method::DELETE, &path, None, || {
            manage::campaigns::delete(&scope, &id)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns?account={}&done=deleted", q(&account))),
        Err(e) => campaigns_page(&state, &user, Some(&account), Some(Err(e)), false).await,
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
    let campaign = match campaign(state, user, account, id).await {
        Ok(c) => c,
        Err(e) => {
            return campaigns_page(state, user, Some(&account.to_owned()), Some(Err(e)), false)
                .await;
        }
    };
    let cur = campaign.currency.as_deref().unwrap_or("");
    // Before the first sync the mirror may hold none of these: then read through to X once.
    let (items, tweets) = match scope(state, user, account, None) {
        Ok(scope) => (
            entities_or_refresh(&scope, Kind::LineItem, Some(id), false).await,
            entities_or_refresh(&scope, Kind::PromotedTweet, None, false).await,
        ),
        Err(e) => (Err(e.clone()), Err(e)),
    };
    let tweets: Vec<PromotedTweet> = tweets
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(PromotedTweet::from_api)
        .collect();
    let items: Vec<LineItem> = items
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(LineItem::from_api)
        .filter(|l| l.status != Status::Deleted)
        .collect();
    let body = html! {
        div class="crumb" {
            a href={ "/campaigns?account=" (q(account)) } { "Campaigns" } " → " (id)
        }
        h1 { (campaign.name) (dry_tag(campaign.dry_run)) }
        (flash(&msg))
        p {
            (status_badge(campaign.status))
            " · daily " (money(campaign.daily_budget_micros)) " " (cur)
            " · total " (money(campaign.total_budget_micros)) " " (cur)
        }
        h2 { "Line items" }
        div class="card" {
            table id="line-items" {
                thead {
                    tr {
                        th { "Line item" } th { "Status" } th { "Objective" } th { "Placements" }
                        th class="n" { "Bid" } th { "Promoted tweets" } th {}
                    }
                }
                tbody {
                    @if items.is_empty() {
                        tr { td colspan="7" class="note" { "No line items." } }
                    }
                    @for l in &items {
                        (line_item_row(l, &tweets, account, id, cur, csrf))
                    }
                }
            }
        }
        (line_item_forms(csrf, account, id, cur, &items))
    };
    render(user, "Campaign", Nav::Campaigns, body)
}

fn line_item_row(
    l: &LineItem,
    tweets: &[PromotedTweet],
    account: &str,
    campaign: &str,
    cur: &str,
    csrf: &str,
) -> Markup {
    let promoted: Vec<&PromotedTweet> = tweets
        .iter()
        .filter(|p| p.line_item_id.as_deref() == Some(&l.id) && p.status != Status::Deleted)
        .collect();
    let (action, label) = if l.paused {
        ("resume", "Resume")
    } else {
        ("pause", "Pause")
    };
    let toggle = format!(
        "/line_items/{}/{}/{}/{action}",
        q(account),
        q(campaign),
        q(&l.id)
    );
    html! {
        tr {
            td {
                (l.name) (dry_tag(l.dry_run))
                div class="note mono" { (l.id) }
            }
            td { (status_badge(l.status)) }
            td { (l.objective.as_deref().unwrap_or("")) }
            td { (l.placements.join(", ")) }
            td class="n" {
                @match l.bid_micros {
                    None => { "auto" }
                    Some(bid) => { (money(Some(bid))) " " (l.currency.as_deref().unwrap_or(cur)) }
                }
            }
            td {
                @if promoted.is_empty() {
                    "—"
                }
                @for p in &promoted {
                    div class="mono" {
                        "tweet " (p.tweet_id.as_deref().unwrap_or("")) " " (status_badge(p.status))
                    }
                }
            }
            td { (button_form(&toggle, csrf, label, "")) }
        }
    }
}

async fn set_line_item_paused(
    State(state): State<AppState>,
    Path((account, campaign, id, action)): Path<(String, String, String, String)>,
    CsrfForm(user, _): CsrfForm<Fields>,
) -> Response {
    let paused = action == "pause";
    let body = json!({ "paused": paused });
    let path = format!("{}/line_items/{}", base(&account), q(&id));
    let result = async {
        let scope = scope(&state, &user, &account, None)?;
        let id = entity_id(&scope, &id, "line item").await?;
        write(&scope, Method::PATCH, &path, Some(&body), || {
            manage::line_items::update(&scope, &id, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Err(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}

fn options(values: &[&str], selected: &str) -> Markup {
    html! {
        @for v in values {
            option selected[*v == selected] { (v) }
        }
    }
}

/// The forms under a campaign: a new line item, and a tweet to promote on one of its line items.
fn line_item_forms(
    csrf: &str,
    account: &str,
    campaign: &str,
    cur: &str,
    items: &[LineItem],
) -> Markup {
    use crate::manage::input::{BID_STRATEGIES, OBJECTIVES, PLACEMENTS, PRODUCT_TYPES};
    // X wants one objective per campaign: offer the one its line items already have.
    let objective = items
        .first()
        .and_then(|l| l.objective.as_deref())
        .unwrap_or("WEBSITE_CLICKS");
    let action = format!("/campaigns/{}/{}", q(account), q(campaign));
    let new_line_item = CreateForm {
        heading: "New line item",
        action: &format!("{action}/line_items"),
        id: Some("create-line-item"),
        hidden: &[],
    };
    let promote = CreateForm {
        heading: "Promote a tweet",
        action: &format!("{action}/promote"),
        id: Some("promote"),
        hidden: &[],
    };
    html! {
        (new_line_item.render(csrf, html! {
            div class="row" {
                div {
                    label for="li-name" { "Name" }
                    input id="li-name" name="name" maxlength="255";
                }
                div { label { "Objective" } select name="objective" { (options(OBJECTIVES, objective)) } }
                div { label { "Product" } select name="product_type" { (options(PRODUCT_TYPES, "PROMOTED_TWEETS")) } }
                div { label { "Placement" } select name="placement" { (options(PLACEMENTS, "ALL_ON_TWITTER")) } }
                div { label { "Bidding" } select name="bid_strategy" { (options(BID_STRATEGIES, "AUTO")) } }
                div { label { "Bid (" (cur) ")" } input name="bid" inputmode="decimal" size="7"; }
                div {
                    label { "Daily budget (" (cur) ")" }
                    input name="daily_budget" inputmode="decimal" size="8";
                }
                div { label { input type="checkbox" name="paused" value="1"; " paused" } }
                div { button class="primary" type="submit" { "Create line item" } }
            }
        }))
        @if !items.is_empty() {
            (promote.render(csrf, html! {
                div class="row" {
                    div {
                        label { "Line item" }
                        select name="line_item_id" {
                            @for l in items {
                                option value=(l.id) { (l.name) }
                            }
                        }
                    }
                    div {
                        label for="tweet" { "Tweet id" }
                        input id="tweet" name="tweet_id" required pattern="[0-9]+";
                    }
                    div { button type="submit" { "Promote" } }
                }
            }))
        }
    }
}

async fn create_line_item(
    State(state): State<AppState>,
    Path((account, campaign)): Path<(String, String)>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
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
        let scope = scope(&state, &user, &account, field(&f, "idem"))?;
        let path = format!("{}/line_items", base(&account));
        write(&scope, Method::POST, &path, Some(&body), || {
            manage::line_items::create(&scope, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Err(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}

async fn promote(
    State(state): State<AppState>,
    Path((account, campaign)): Path<(String, String)>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    let body = json!({
        "line_item_id": field(&f, "line_item_id").unwrap_or_default(),
        "tweet_ids": [field(&f, "tweet_id").unwrap_or_default()],
    });
    let path = format!("{}/promoted_tweets", base(&account));
    let result = match scope(&state, &user, &account, field(&f, "idem")) {
        Ok(scope) => {
            write(&scope, Method::POST, &path, Some(&body), || {
                manage::promoted_tweets::create(&scope, &body)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => see_other(&format!("/campaigns/{}/{}", q(&account), q(&campaign))),
        Err(e) => detail_page(&state, &user, &account, &campaign, Some(Err(e))).await,
    }
}
