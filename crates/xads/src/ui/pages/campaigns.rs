//! Campaigns per ad account: a list with search, status filter, sorting, pages and the date
//! range's metrics; create, edit, pause/resume, delete (with a confirmation page); and a
//! campaign's line items (create, edit, pause) and promoted tweets.
//!
//! Every form keeps what was typed when it is refused (the refusal beside the field it names)
//! and redirects after a write that succeeded, so a reload never posts again.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde_json::json;
use xads_client::ListParams;

use super::list::{Key, Listing, base_of, words};
use super::view::{Campaign, LineItem, PromotedTweet, StatsRow, Status};
use super::{
    CreateForm, Fields, Input, Picker, Problem, Text, UsdHint, budget_confirmation, checkbox,
    dry_tag, entities_or_refresh, entity_id, field, micros, problem, refused, render, scope,
    see_other, select, status_badge, write, write_answer,
};
use crate::app::AppState;
use crate::manage;
use crate::money;
use crate::store::entities::Kind;
use crate::ui::html::{self, Nav, button_form, csrf_field, flash, money, q, scroll};
use crate::ui::session::{CsrfForm, User};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list_page))
        .route("/campaigns/create", post(create))
        .route("/campaigns/{account}/{id}", get(detail))
        .route("/campaigns/{account}/{id}/edit", post(edit))
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
            "/line_items/{account}/{campaign}/{id}/edit",
            get(line_item_edit_page).post(edit_line_item),
        )
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
    campaigns_page(&state, &user, &qs, done_message(&qs), Input::fresh()).await
}

fn done_message(qs: &Fields) -> Option<Result<String, String>> {
    let text = match qs.get("done").map(String::as_str) {
        Some("created") => "Campaign created.",
        Some("paused") => "Paused.",
        Some("resumed") => "Resumed.",
        Some("deleted") => "Campaign deleted.",
        Some("updated") => "Campaign saved.",
        Some("line-item-created") => "Line item created.",
        Some("line-item-updated") => "Line item saved.",
        Some("line-item-paused") => "Line item paused.",
        Some("line-item-resumed") => "Line item resumed.",
        Some("promoted") => "Tweet promoted.",
        _ => return None,
    };
    Some(Ok(text.to_owned()))
}

/// A campaign's metrics over the page's date range (from `GET …/stats?granularity=total`).
#[derive(Clone, Debug, Default)]
struct Metrics {
    spend_usd: Option<f64>,
    spend_local_micros: Option<i64>,
    impressions: f64,
    clicks: f64,
    conversions: f64,
    /// `None` where installs were not asked (not an app campaign).
    installs: Option<f64>,
    cpi_usd: Option<f64>,
}

impl Metrics {
    fn of(r: &StatsRow) -> Metrics {
        Metrics {
            spend_usd: r.spend_usd_known.then_some(r.spend_usd_value),
            spend_local_micros: r.spend_local_micros,
            impressions: r.impressions,
            clicks: r.clicks,
            conversions: r.conversions,
            installs: r.installs,
            cpi_usd: r.cpi_usd,
        }
    }
    fn ratio(a: Option<f64>, b: f64) -> Option<f64> {
        a.filter(|_| b > 0.0).map(|a| a / b)
    }
    fn ctr(&self) -> Option<f64> {
        Self::ratio(Some(self.clicks), self.impressions)
    }
    fn cpc(&self) -> Option<f64> {
        Self::ratio(self.spend_usd, self.clicks)
    }
    fn cpa(&self) -> Option<f64> {
        Self::ratio(self.spend_usd, self.conversions)
    }
}

/// The sort key of a campaign row.
fn campaign_key(c: &(Campaign, Metrics), key: &str) -> Key {
    let (c, m) = c;
    let n = |v: f64| Key::Num(Some(v));
    match key {
        "status" => Key::Text(c.status.key().to_owned()),
        "daily" => Key::Num(c.daily_budget_micros.map(|v| v as f64)),
        "total" => Key::Num(c.total_budget_micros.map(|v| v as f64)),
        "spend" => Key::Num(m.spend_usd),
        "impressions" => n(m.impressions),
        "clicks" => n(m.clicks),
        "ctr" => Key::Num(m.ctr()),
        "cpc" => Key::Num(m.cpc()),
        "conversions" => n(m.conversions),
        "cpa" => Key::Num(m.cpa()),
        "installs" => Key::Num(m.installs),
        "cpi" => Key::Num(m.cpi_usd),
        _ => Key::Text(c.name.clone()),
    }
}

async fn campaigns_page(
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
        ("/campaigns", "Campaigns", Nav::Campaigns),
    )
    .await
    {
        Ok(p) => p,
        Err(page) => return page,
    };
    let account = &picker.current;
    let refresh = qs.contains_key("refresh");
    // An empty mirror (before the first sync) or an explicit refresh reads through to X.
    let list = match scope(state, user, &account.id, None) {
        Ok(scope) => entities_or_refresh(&scope, Kind::Campaign, None, refresh).await,
        Err(e) => Err(e),
    };
    let (from, to) = super::reports::range(qs, state.clock.now().date_naive());
    let totals: BTreeMap<String, Metrics> =
        super::reports::stats(state, user, &account.id, (from, to), "total")
            .await
            .unwrap_or_default()
            .iter()
            .map(StatsRow::from_api)
            .map(|r| (r.entity_id.clone(), Metrics::of(&r)))
            .collect();
    let rows: Vec<(Campaign, Metrics)> = list
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(Campaign::from_api)
        .filter(|c| c.status != Status::Deleted)
        .map(|c| {
            let m = totals.get(&c.id).cloned().unwrap_or_default();
            (c, m)
        })
        .collect();
    let listing = Listing::from_query(qs, "", "name");
    let page = listing.apply(rows, |r| &r.0.name, |r| r.0.status.key(), campaign_key);
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let hidden = [
        ("account", account.id.as_str()),
        ("from", from_s.as_str()),
        ("to", to_s.as_str()),
    ];
    let here = base_of("/campaigns", &hidden);
    let fis = funding_instruments(state, user, &account.id).await;
    let hint = UsdHint::load(state, user, &account.currency).await;
    let th = |key: &str, label: &str, numeric: bool| listing.th(&here, key, label, numeric);
    let usd_account = account.currency == "USD";
    let body = html! {
        h1 { "Campaigns" }
        (picker.tabs())
        (flash(&msg))
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            (range_form("/campaigns", &account.id, (from, to), &listing))
            (listing.controls("/campaigns", &hidden, "campaigns", Status::OPTIONS))
        }
        div class="card" {
            p class="note" style="margin-top:0" {
                "Metrics from " (from) " to " (to) "; spend in USD"
                @if !usd_account { " and in the account's currency (" (account.currency) ")" }
                "; CPC, CPA and CPI in USD; conversions are web conversions, installs app installs (— where not an app campaign)."
            }
            (scroll("Campaigns", html! {
                table id="campaigns" {
                    thead {
                        tr {
                            (th("name", "Campaign", false)) (th("status", "Status", false))
                            (th("daily", "Daily budget", true)) (th("total", "Total budget", true))
                            (th("spend", "Spend (USD)", true))
                            // On a USD account the local spend is the USD spend: one column.
                            @if !usd_account { th class="n" { "Spend (" (account.currency) ")" } }
                            (th("impressions", "Impressions", true)) (th("clicks", "Clicks", true))
                            (th("ctr", "CTR", true)) (th("cpc", "CPC", true))
                            (th("conversions", "Conversions", true))
                            (th("cpa", "CPA", true))
                            (th("installs", "Installs", true))
                            (th("cpi", "CPI", true))
                            th { span class="note" { "Actions" } }
                        }
                    }
                    tbody {
                        @if page.rows.is_empty() {
                            tr { td colspan=(if usd_account { "14" } else { "15" }) class="note" {
                                @if listing.search.is_empty() && listing.status.is_empty() {
                                    "No campaigns yet."
                                } @else {
                                    "No campaign matches."
                                }
                            } }
                        }
                        @for (c, m) in &page.rows {
                            (campaign_row(c, m, account, &user.0.csrf, &hint))
                        }
                    }
                }
            }))
            (listing.pager(&here, &page, "campaigns"))
            p class="note" {
                "Listed from the local mirror (refreshed by every sync). "
                a href={ "/campaigns?account=" (q(&account.id)) "&refresh=1" } { "Refresh from X" }
            }
        }
        (create_form(&user.0.csrf, account, &fis, &input, (&hint, state.config.budget_confirm_usd)))
    };
    render(user, "Campaigns", Nav::Campaigns, body)
}

/// The date range of a list's metrics: a GET form keeping the list's view.
fn range_form(
    path: &str,
    account: &str,
    (from, to): (NaiveDate, NaiveDate),
    listing: &Listing,
) -> Markup {
    html! {
        form method="get" action=(path) class="row" aria-label="Date range" {
            input type="hidden" name="account" value=(account);
            @if !listing.search.is_empty() { input type="hidden" name="q" value=(listing.search); }
            @if !listing.status.is_empty() { input type="hidden" name="status" value=(listing.status); }
            input type="hidden" name="sort" value=(listing.sort);
            input type="hidden" name="dir" value=(if listing.desc { "desc" } else { "asc" });
            div { label for="from" { "Metrics from" } input id="from" type="date" name="from" value=(from); }
            div { label for="to" { "To" } input id="to" type="date" name="to" value=(to); }
            div { button type="submit" { "Show" } }
        }
    }
}

fn usd(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| {
        format!("${}", money(Some((v * 1e6).round() as i64)))
    })
}

fn count(v: f64) -> String {
    html::group(v.max(0.0) as u64)
}

/// An amount in its currency's own units (`¥300,000`, `600.500 KWD`), `—` when absent.
fn amount_in(micros: Option<i64>, currency: &str) -> String {
    micros.map_or_else(|| "—".to_owned(), |m| money::format(m, currency))
}

/// The account's currency (empty when unknown).
async fn account_currency(state: &AppState, user: &User, account: &str) -> String {
    crate::store::connections::ad_account(&state.db, &user.0.tenant.id, account)
        .await
        .ok()
        .flatten()
        .and_then(|a| a.currency)
        .unwrap_or_default()
}

fn campaign_row(
    c: &Campaign,
    m: &Metrics,
    account: &super::Account,
    csrf: &str,
    hint: &UsdHint,
) -> Markup {
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
            td class="n" { (amount_in(c.daily_budget_micros, cur)) (hint.beside(c.daily_budget_micros)) }
            td class="n" { (amount_in(c.total_budget_micros, cur)) (hint.beside(c.total_budget_micros)) }
            td class="n" { (usd(m.spend_usd)) }
            @if account.currency != "USD" {
                td class="n" { (amount_in(m.spend_local_micros, cur)) }
            }
            td class="n" { (count(m.impressions)) }
            td class="n" { (count(m.clicks)) }
            td class="n" { (m.ctr().map_or("—".into(), |v| format!("{:.2}%", v * 100.0))) }
            td class="n" { (usd(m.cpc())) }
            td class="n" { (count(m.conversions)) }
            td class="n" { (usd(m.cpa())) }
            td class="n" { (m.installs.map_or_else(|| "—".into(), count)) }
            td class="n" { (usd(m.cpi_usd)) }
            td class="actions" {
                (button_form(&format!("{href}/{action}"), csrf, label, ""))
                " "
                a class="btn" href={ (href) "/delete" } aria-label={ "Delete " (c.name) "…" } { "Delete…" }
            }
        }
    }
}

/// The account's tweets `ids` as X shows them (`GET …/tweets`), by tweet id: their text and
/// their first image's URL, where they have one. Empty when X cannot be asked (the page then
/// shows the ids alone).
async fn tweet_texts(
    state: &AppState,
    user: &User,
    account_id: &str,
    ids: Vec<String>,
) -> BTreeMap<String, (String, Option<String>)> {
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let Ok(session) = crate::x::XSession::for_tenant(state, &user.0.tenant.id).await else {
        return BTreeMap::new();
    };
    let account = account_id.to_owned();
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(200) {
        let chunk = chunk.to_vec();
        let got = session
            .call(|x| {
                let (account, chunk) = (account.clone(), chunk.clone());
                async move { x.list_tweets(&account, &chunk).await }
            })
            .await;
        match got {
            Ok(r) => out.extend(r.data.into_iter().filter_map(|t| {
                let image = t.image_url().map(str::to_owned);
                Some((t.id_str?, (t.full_text?, image)))
            })),
            Err(e) => {
                tracing::info!(error = %e, "tweet texts not read");
                break;
            }
        }
    }
    out
}

/// A tweet's text cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max).collect();
        t.push('…');
        t
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
                        words(f.kind.as_deref().unwrap_or("funding")),
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
fn create_form(
    csrf: &str,
    account: &super::Account,
    fis: &[(String, String)],
    input: &Input,
    (hint, confirm_above): (&UsdHint, rust_decimal::Decimal),
) -> Markup {
    let cur = &account.currency;
    let form = CreateForm {
        heading: "New campaign",
        action: "/campaigns/create",
        id: Some("create-campaign"),
        hidden: &[("account", &account.id)],
    };
    let daily = format!("Daily budget ({cur})");
    let total = format!("Total budget ({cur})");
    form.render(
        csrf,
        html! {
            (input.general(&["name", "funding_instrument_id", "daily_budget", "total_budget"]))
            div class="row" {
                (Text::new("name", "name", "Name").required().render(input))
                @if fis.is_empty() {
                    (Text::new("fi", "funding_instrument_id", "Funding instrument id").required().render(input))
                } @else {
                    (select(input, ("fi", "funding_instrument_id", "Funding instrument"), fis, ""))
                }
                (Text::new("daily", "daily_budget", &daily).amount().render(input))
                (Text::new("total", "total_budget", &total).amount().render(input))
                (checkbox(input, ("start-now", "start_now", "Start now"), false))
                div { button class="primary" type="submit" id="create" { "Create campaign" } }
            }
            p class="note" id="budget-note" {
                "Created paused unless “Start now” is ticked. "
                @if cur != "USD" { (hint.sentence()) ". " }
                "A daily budget above " (money::with_currency(confirm_above, "USD"))
                " asks for confirmation."
            }
        },
    )
}

async fn create(State(state): State<AppState>, CsrfForm(user, f): CsrfForm<Fields>) -> Response {
    let account = f.get("account").cloned().unwrap_or_default();
    // A large daily budget is confirmed first, with its USD equivalent.
    let hint = UsdHint::load(
        &state,
        &user,
        &account_currency(&state, &user, &account).await,
    )
    .await;
    let daily = micros(&f, "daily_budget", "Daily budget").ok().flatten();
    let back = format!("/campaigns?account={}", q(&account));
    if let Some(page) = budget_confirmation(
        &state,
        &user,
        &hint,
        (daily, None),
        ("/campaigns/create", &back, "Yes, create with this budget"),
        &f,
    ) {
        return page;
    }
    let result = async {
        let body = json!({
            "name": field(&f, "name").unwrap_or_default(),
            "funding_instrument_id": field(&f, "funding_instrument_id").unwrap_or_default(),
            "daily_budget_amount_local_micro": micros(&f, "daily_budget", "Daily budget")?,
            "total_budget_amount_local_micro": micros(&f, "total_budget", "Total budget")?,
            // The UI's default is paused: a campaign spends only once asked to.
            "paused": !f.contains_key("start_now"),
        });
        let scope = scope(&state, &user, &account, field(&f, "idem"))?;
        let path = format!("{}/campaigns", base(&account));
        write_answer(&scope, Method::POST, &path, Some(&body), || {
            manage::campaigns::create(&scope, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/campaigns?account={}&done=created", q(&account))),
        Err(p) => {
            let qs = Fields::from([("account".to_owned(), account)]);
            refused(campaigns_page(&state, &user, &qs, None, Input::kept(f, p)).await)
        }
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
        Err(e) => account_page_with(&state, &user, &account, e).await,
    }
}

/// The campaigns page of `account` with a problem shown.
async fn account_page_with(state: &AppState, user: &User, account: &str, e: String) -> Response {
    let qs = Fields::from([("account".to_owned(), account.to_owned())]);
    campaigns_page(state, user, &qs, Some(Err(e)), Input::fresh()).await
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
) -> Response {
    let name = match campaign(&state, &user, &account, &id).await {
        Ok(c) => c.name,
        Err(e) => return account_page_with(&state, &user, &account, e).await,
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
        Err(e) => account_page_with(&state, &user, &account, e).await,
    }
}

async fn detail(
    State(state): State<AppState>,
    user: User,
    Path((account, id)): Path<(String, String)>,
    Query(qs): Query<Fields>,
) -> Response {
    let msg = done_message(&qs);
    detail_page(&state, &user, &account, &id, &qs, msg, Refused::None).await
}

/// Which form of the campaign page was refused, with what was typed.
enum Refused {
    None,
    Edit(Input),
    LineItem(Input),
    Promote(Input),
}

impl Refused {
    fn edit(&self) -> Input {
        match self {
            Refused::Edit(i) => i.clone(),
            _ => Input::fresh(),
        }
    }
    fn line_item(&self) -> Input {
        match self {
            Refused::LineItem(i) => i.clone(),
            _ => Input::fresh(),
        }
    }
    fn promote(&self) -> Input {
        match self {
            Refused::Promote(i) => i.clone(),
            _ => Input::fresh(),
        }
    }
}

fn campaign_href(account: &str, campaign: &str) -> String {
    format!("/campaigns/{}/{}", q(account), q(campaign))
}

/// The sort key of a line-item row.
fn line_item_key(l: &LineItem, key: &str) -> Key {
    match key {
        "status" => Key::Text(l.status.key().to_owned()),
        "objective" => Key::Text(l.objective.clone().unwrap_or_default()),
        "bid" => Key::Num(l.bid_micros.map(|v| v as f64)),
        "daily" => Key::Num(l.daily_budget_micros.map(|v| v as f64)),
        _ => Key::Text(l.name.clone()),
    }
}

async fn detail_page(
    state: &AppState,
    user: &User,
    account: &str,
    id: &str,
    qs: &Fields,
    msg: Option<Result<String, String>>,
    refused: Refused,
) -> Response {
    let csrf = &user.0.csrf;
    let campaign = match campaign(state, user, account, id).await {
        Ok(c) => c,
        Err(e) => return account_page_with(state, user, account, e).await,
    };
    let cur = campaign.currency.as_deref().unwrap_or("");
    let hint = UsdHint::load(state, user, cur).await;
    // Before the first sync the mirror may hold none of these: then read through to X once.
    let (items, tweets) = match scope(state, user, account, None) {
        Ok(scope) => (
            entities_or_refresh(&scope, Kind::LineItem, Some(id), false).await,
            entities_or_refresh(&scope, Kind::PromotedTweet, None, false).await,
        ),
        Err(e) => (Err(e.clone()), Err(e)),
    };
    let items: Vec<LineItem> = items
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(LineItem::from_api)
        .filter(|l| l.status != Status::Deleted)
        .collect();
    let names: BTreeMap<String, String> = items
        .iter()
        .map(|l| (l.id.clone(), l.name.clone()))
        .collect();
    let tweets: Vec<PromotedTweet> = tweets
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(PromotedTweet::from_api)
        .filter(|p| {
            p.status != Status::Deleted
                && p.line_item_id
                    .as_ref()
                    .is_some_and(|l| names.contains_key(l))
        })
        .collect();
    let mut tweet_ids: Vec<String> = tweets.iter().filter_map(|p| p.tweet_id.clone()).collect();
    tweet_ids.sort();
    tweet_ids.dedup();
    let texts = tweet_texts(state, user, account, tweet_ids).await;
    let text_of = |p: &PromotedTweet| -> String {
        p.tweet_id
            .as_ref()
            .and_then(|t| texts.get(t))
            .map(|t| t.0.clone())
            .unwrap_or_default()
    };
    let image_of =
        |p: &PromotedTweet| -> Option<&str> { texts.get(p.tweet_id.as_ref()?)?.1.as_deref() };
    let here = campaign_href(account, id);
    let li_list = Listing::from_query(qs, "li_", "name");
    let pt_list = Listing::from_query(qs, "pt_", "tweet");
    let all_items = items.clone();
    let all_tweets: Vec<(PromotedTweet, String)> =
        tweets.iter().map(|p| (p.clone(), text_of(p))).collect();
    let li_page = li_list.apply(items, |l| &l.name, |l| l.status.key(), line_item_key);
    let pt_page = pt_list.apply(
        all_tweets.clone(),
        |(_, text)| text,
        |(p, _)| p.status.key(),
        |(p, text), key| match key {
            "line_item" => Key::Text(
                p.line_item_id
                    .as_ref()
                    .and_then(|l| names.get(l))
                    .cloned()
                    .unwrap_or_default(),
            ),
            "status" => Key::Text(p.status.key().to_owned()),
            _ => Key::Text(text.clone()),
        },
    );
    let li_th = |key: &str, label: &str, numeric: bool| li_list.th(&here, key, label, numeric);
    let pt_th = |key: &str, label: &str| pt_list.th(&here, key, label, false);
    let body = html! {
        div class="crumb" {
            a href={ "/campaigns?account=" (q(account)) } { "Campaigns" } " → " (campaign.name)
        }
        h1 { (campaign.name) (dry_tag(campaign.dry_run)) }
        (flash(&msg))
        p {
            (status_badge(campaign.status))
            " · daily " (amount_in(campaign.daily_budget_micros, cur)) (hint.beside(campaign.daily_budget_micros))
            " · total " (amount_in(campaign.total_budget_micros, cur)) (hint.beside(campaign.total_budget_micros))
            " · " span class="mono" { (campaign.id) }
        }
        (edit_form(csrf, account, &campaign, cur, &refused.edit()))
        @if cur != "USD" && !cur.is_empty() {
            p class="note" id="edit-usd" { "Budgets are in " (cur) ": " (hint.sentence()) "." }
        }
        h2 { "Line items" }
        div class="card" {
            (li_list.controls(&here, &[], "line items", Status::OPTIONS))
            (scroll("Line items", html! {
                table id="line-items" {
                    thead {
                        tr {
                            (li_th("name", "Line item", false)) (li_th("status", "Status", false))
                            (li_th("objective", "Objective", false)) th { "Placements" }
                            (li_th("bid", "Bid", true)) (li_th("daily", "Daily budget", true))
                            th { "Promoted tweets" } th { span class="note" { "Actions" } }
                        }
                    }
                    tbody {
                        @if li_page.rows.is_empty() {
                            tr { td colspan="8" class="note" { "No line items." } }
                        }
                        @for l in &li_page.rows {
                            (line_item_row(l, &all_tweets, account, id, cur, csrf))
                        }
                    }
                }
            }))
            (li_list.pager(&here, &li_page, "line items"))
        }
        h2 { "Promoted tweets" }
        div class="card" {
            (pt_list.controls(&here, &[], "promoted tweets by text", &[("active", "Active"), ("paused", "Paused")]))
            (scroll("Promoted tweets", html! {
                table id="promoted-tweets" {
                    thead {
                        tr {
                            (pt_th("tweet", "Tweet")) (pt_th("line_item", "Line item"))
                            (pt_th("status", "Status"))
                        }
                    }
                    tbody {
                        @if pt_page.rows.is_empty() {
                            tr { td colspan="3" class="note" { "No promoted tweets." } }
                        }
                        @for (p, text) in &pt_page.rows {
                            tr data-id=(p.id) {
                                td class="tweet" {
                                    (html::thumb(image_of(p))) " "
                                    @if !text.is_empty() { "“" (cut(text, 140)) "”" }
                                    div class="note mono" { "Tweet " (p.tweet_id.as_deref().unwrap_or("—")) }
                                }
                                td { (p.line_item_id.as_ref().and_then(|l| names.get(l)).map_or("—", String::as_str)) }
                                td { (status_badge(p.status)) }
                            }
                        }
                    }
                }
            }))
            (pt_list.pager(&here, &pt_page, "promoted tweets"))
        }
        (line_item_forms(csrf, account, id, cur, &all_items, &refused))
    };
    render(user, "Campaign", Nav::Campaigns, body)
}

/// The campaign's edit form: name and budgets (pause and delete have their own buttons).
fn edit_form(csrf: &str, account: &str, c: &Campaign, cur: &str, input: &Input) -> Markup {
    let amount = |m: Option<i64>| {
        m.map(|m| money(Some(m)).replace(',', ""))
            .unwrap_or_default()
    };
    let (daily, total) = (amount(c.daily_budget_micros), amount(c.total_budget_micros));
    let daily_label = format!("Daily budget ({cur})");
    let total_label = format!("Total budget ({cur})");
    html! {
        details class="card" open[input.problem.is_some()] {
            summary { strong { "Edit campaign" } }
            form method="post" action={ (campaign_href(account, &c.id)) "/edit" } id="edit-campaign" {
                (csrf_field(csrf))
                (input.general(&["name", "daily_budget", "total_budget"]))
                div class="row" {
                    (Text::new("edit-name", "name", "Name").value(&c.name).required().render(input))
                    (Text::new("edit-daily", "daily_budget", &daily_label).value(&daily).amount().render(input))
                    (Text::new("edit-total", "total_budget", &total_label).value(&total).amount().render(input))
                    div { button class="primary" type="submit" { "Save campaign" } }
                }
            }
        }
    }
}

/// Answers a form posted from a campaign's page: back to the page with `done` once the write
/// went through; otherwise the page again (422) with that form (`kept`) as typed and the refusal
/// beside the field it names.
async fn back_to_detail<T>(
    state: &AppState,
    user: &User,
    (account, campaign): (&str, &str),
    result: Result<T, Problem>,
    form: Fields,
    done: &str,
    kept: fn(Input) -> Refused,
) -> Response {
    match result {
        Ok(_) => see_other(&format!("{}?done={done}", campaign_href(account, campaign))),
        Err(p) => refused(
            detail_page(
                state,
                user,
                account,
                campaign,
                &Fields::new(),
                None,
                kept(Input::kept(form, p)),
            )
            .await,
        ),
    }
}

async fn edit(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    // A new daily budget above the threshold is confirmed first, with its USD equivalent, as
    // on the create form (keeping the current one asks nothing).
    let current = campaign(&state, &user, &account, &id).await.ok();
    let currency = match current.as_ref().and_then(|c| c.currency.clone()) {
        Some(c) => c,
        None => account_currency(&state, &user, &account).await,
    };
    let hint = UsdHint::load(&state, &user, &currency).await;
    let daily = micros(&f, "daily_budget", "Daily budget").ok().flatten();
    let back = campaign_href(&account, &id);
    if let Some(page) = budget_confirmation(
        &state,
        &user,
        &hint,
        (daily, current.and_then(|c| c.daily_budget_micros)),
        (&format!("{back}/edit"), &back, "Yes, save with this budget"),
        &f,
    ) {
        return page;
    }
    let path = format!("{}/campaigns/{}", base(&account), q(&id));
    let result = async {
        let mut body = json!({ "name": field(&f, "name").unwrap_or_default() });
        if let Some(m) = micros(&f, "daily_budget", "Daily budget")? {
            body["daily_budget_amount_local_micro"] = json!(m);
        }
        if let Some(m) = micros(&f, "total_budget", "Total budget")? {
            body["total_budget_amount_local_micro"] = json!(m);
        }
        let scope = scope(&state, &user, &account, None)?;
        let id = entity_id(&scope, &id, "campaign").await?;
        write_answer(&scope, Method::PATCH, &path, Some(&body), || {
            manage::campaigns::update(&scope, &id, &body)
        })
        .await
    }
    .await;
    back_to_detail(
        &state,
        &user,
        (&account, &id),
        result,
        f,
        "updated",
        Refused::Edit,
    )
    .await
}

fn line_item_row(
    l: &LineItem,
    tweets: &[(PromotedTweet, String)],
    account: &str,
    campaign: &str,
    cur: &str,
    csrf: &str,
) -> Markup {
    let promoted: Vec<&(PromotedTweet, String)> = tweets
        .iter()
        .filter(|(p, _)| p.line_item_id.as_deref() == Some(&l.id))
        .collect();
    let (action, label) = if l.paused {
        ("resume", "Resume")
    } else {
        ("pause", "Pause")
    };
    let item = format!("/line_items/{}/{}/{}", q(account), q(campaign), q(&l.id));
    html! {
        tr data-id=(l.id) {
            td {
                (l.name) (dry_tag(l.dry_run))
                div class="note mono" { (l.id) }
            }
            td { (status_badge(l.status)) }
            td { (l.objective.as_deref().map(words).unwrap_or_default()) }
            td { (l.placements.iter().map(|p| words(p)).collect::<Vec<_>>().join(", ")) }
            td class="n" {
                @match l.bid_micros {
                    None => { "Automatic" }
                    Some(bid) => { (money::format(bid, l.currency.as_deref().unwrap_or(cur))) }
                }
            }
            td class="n" {
                @match l.daily_budget_micros {
                    None => { "—" }
                    Some(b) => { (money::format(b, l.currency.as_deref().unwrap_or(cur))) }
                }
            }
            td {
                @if promoted.is_empty() {
                    "—"
                }
                @for (p, text) in &promoted {
                    div class="tweet" {
                        @if text.is_empty() {
                            span class="mono" { "Tweet " (p.tweet_id.as_deref().unwrap_or("")) }
                        } @else {
                            "“" (cut(text, 60)) "”"
                        }
                        " " (status_badge(p.status))
                    }
                }
            }
            td class="actions" {
                (button_form(&format!("{item}/{action}"), csrf, label, ""))
                " "
                a class="btn" href={ (item) "/edit" } aria-label={ "Edit " (l.name) } { "Edit" }
            }
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
    let here = campaign_href(&account, &campaign);
    match result {
        Ok(()) => see_other(&format!(
            "{here}?done={}",
            if paused {
                "line-item-paused"
            } else {
                "line-item-resumed"
            }
        )),
        Err(e) => {
            detail_page(
                &state,
                &user,
                &account,
                &campaign,
                &Fields::new(),
                Some(Err(e)),
                Refused::None,
            )
            .await
        }
    }
}

/// `(value, words)` options of a vocabulary.
fn vocab(values: &[&str]) -> Vec<(String, String)> {
    values.iter().map(|v| ((*v).to_owned(), words(v))).collect()
}

/// The forms under a campaign: a new line item, and a tweet to promote on one of its line items.
fn line_item_forms(
    csrf: &str,
    account: &str,
    campaign: &str,
    cur: &str,
    items: &[LineItem],
    refused: &Refused,
) -> Markup {
    use crate::manage::input::{BID_STRATEGIES, OBJECTIVES, PLACEMENTS, PRODUCT_TYPES};
    // X wants one objective per campaign: offer the one its line items already have.
    let objective = items
        .first()
        .and_then(|l| l.objective.as_deref())
        .unwrap_or("WEBSITE_CLICKS");
    let action = campaign_href(account, campaign);
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
    let li = refused.line_item();
    let pr = refused.promote();
    let bid = format!("Bid ({cur})");
    let daily = format!("Daily budget ({cur})");
    let item_options: Vec<(String, String)> = items
        .iter()
        .map(|l| (l.id.clone(), l.name.clone()))
        .collect();
    html! {
        (new_line_item.render(csrf, html! {
            (li.general(&["name", "objective", "product_type", "placement", "bid_strategy", "bid", "daily_budget"]))
            div class="row" {
                (Text::new("li-name", "name", "Name").render(&li))
                (select(&li, ("li-objective", "objective", "Objective"), &vocab(OBJECTIVES), objective))
                (select(&li, ("li-product", "product_type", "Product"), &vocab(PRODUCT_TYPES), "PROMOTED_TWEETS"))
                (select(&li, ("li-placement", "placement", "Placement"), &vocab(PLACEMENTS), "ALL_ON_TWITTER"))
                (select(&li, ("li-bidding", "bid_strategy", "Bidding"), &vocab(BID_STRATEGIES), "AUTO"))
                (Text::new("li-bid", "bid", &bid).amount().render(&li))
                (Text::new("li-daily", "daily_budget", &daily).amount().render(&li))
                (checkbox(&li, ("li-start-now", "start_now", "Start now"), false))
                div { button class="primary" type="submit" { "Create line item" } }
            }
            p class="note" { "Created paused unless “Start now” is ticked." }
        }))
        @if !items.is_empty() {
            (promote.render(csrf, html! {
                (pr.general(&["line_item_id", "tweet_id"]))
                div class="row" {
                    (select(&pr, ("promote-line-item", "line_item_id", "Line item"), &item_options, ""))
                    (Text::new("tweet", "tweet_id", "Tweet id").required()
                        .pattern("[0-9]+", "the tweet's number (digits only)").render(&pr))
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
    let hint = UsdHint::load(
        &state,
        &user,
        &account_currency(&state, &user, &account).await,
    )
    .await;
    let daily = micros(&f, "daily_budget", "Daily budget").ok().flatten();
    let back = campaign_href(&account, &campaign);
    if let Some(page) = budget_confirmation(
        &state,
        &user,
        &hint,
        (daily, None),
        (
            &format!("{back}/line_items"),
            &back,
            "Yes, create with this budget",
        ),
        &f,
    ) {
        return page;
    }
    let result = async {
        let mut body = json!({
            "campaign_id": campaign,
            "objective": field(&f, "objective").unwrap_or_default(),
            "product_type": field(&f, "product_type").unwrap_or_default(),
            "placements": [field(&f, "placement").unwrap_or_default()],
            // The UI's default is paused: a line item spends only once asked to.
            "paused": !f.contains_key("start_now"),
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
        write_answer(&scope, Method::POST, &path, Some(&body), || {
            manage::line_items::create(&scope, &body)
        })
        .await
    }
    .await;
    back_to_detail(
        &state,
        &user,
        (&account, &campaign),
        result,
        f,
        "line-item-created",
        Refused::LineItem,
    )
    .await
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
            write_answer(&scope, Method::POST, &path, Some(&body), || {
                manage::promoted_tweets::create(&scope, &body)
            })
            .await
        }
        Err(e) => Err(Problem::general(e)),
    };
    back_to_detail(
        &state,
        &user,
        (&account, &campaign),
        result,
        f,
        "promoted",
        Refused::Promote,
    )
    .await
}

/// The line item `id` of `account`, as the API's `GET …/line_items/{id}` reads it.
async fn line_item(
    state: &AppState,
    user: &User,
    account: &str,
    id: &str,
) -> Result<LineItem, String> {
    let scope = scope(state, user, account, None)?;
    let id = entity_id(&scope, id, "line item").await?;
    let entity = manage::line_items::get(&scope, &id)
        .await
        .map_err(problem)?;
    Ok(LineItem::from_api(&entity.data))
}

async fn line_item_edit_page(
    State(state): State<AppState>,
    user: User,
    Path((account, campaign, id)): Path<(String, String, String)>,
) -> Response {
    edit_line_item_page(&state, &user, (&account, &campaign, &id), Input::fresh()).await
}

/// The line item's edit page: name, bid, budgets and the flight's end date.
async fn edit_line_item_page(
    state: &AppState,
    user: &User,
    (account, campaign, id): (&str, &str, &str),
    input: Input,
) -> Response {
    let l = match line_item(state, user, account, id).await {
        Ok(l) => l,
        Err(e) => {
            return detail_page(
                state,
                user,
                account,
                campaign,
                &Fields::new(),
                Some(Err(e)),
                Refused::None,
            )
            .await;
        }
    };
    let cur = l.currency.clone().unwrap_or_default();
    let amount = |m: Option<i64>| {
        m.map(|m| money(Some(m)).replace(',', ""))
            .unwrap_or_default()
    };
    let (bid, daily, total) = (
        amount(l.bid_micros),
        amount(l.daily_budget_micros),
        amount(l.total_budget_micros),
    );
    let end = l
        .end_time
        .as_deref()
        .map(|t| t.chars().take(10).collect::<String>())
        .unwrap_or_default();
    let back = campaign_href(account, campaign);
    let labels = (
        format!("Bid ({cur}; empty: automatic)"),
        format!("Daily budget ({cur})"),
        format!("Total budget ({cur})"),
    );
    let body = html! {
        div class="crumb" {
            a href={ "/campaigns?account=" (q(account)) } { "Campaigns" } " → "
            a href=(back) { "Campaign" } " → " (l.name)
        }
        h1 { "Edit line item" }
        div class="card" {
            form method="post" action={ "/line_items/" (q(account)) "/" (q(campaign)) "/" (q(id)) "/edit" } id="edit-line-item" {
                (csrf_field(&user.0.csrf))
                (input.general(&["name", "bid", "daily_budget", "total_budget", "end_date"]))
                div class="row" {
                    (Text::new("li-edit-name", "name", "Name").value(&l.name).required().render(&input))
                    (Text::new("li-edit-bid", "bid", &labels.0).value(&bid).amount().render(&input))
                    (Text::new("li-edit-daily", "daily_budget", &labels.1).value(&daily).amount().render(&input))
                    (Text::new("li-edit-total", "total_budget", &labels.2).value(&total).amount().render(&input))
                    (Text::new("li-edit-end", "end_date", "Flight ends (UTC date)").value(&end).kind("date").render(&input))
                }
                p {
                    button class="primary" type="submit" { "Save line item" }
                    " "
                    a class="btn" href=(back) { "Cancel" }
                }
            }
        }
    };
    render(user, "Edit line item", Nav::Campaigns, body)
}

async fn edit_line_item(
    State(state): State<AppState>,
    Path((account, campaign, id)): Path<(String, String, String)>,
    CsrfForm(user, f): CsrfForm<Fields>,
) -> Response {
    // A new daily budget above the threshold is confirmed first, as on the create forms.
    let current = line_item(&state, &user, &account, &id).await.ok();
    let currency = match current.as_ref().and_then(|l| l.currency.clone()) {
        Some(c) => c,
        None => account_currency(&state, &user, &account).await,
    };
    let hint = UsdHint::load(&state, &user, &currency).await;
    let daily = micros(&f, "daily_budget", "Daily budget").ok().flatten();
    let here = format!(
        "/line_items/{}/{}/{}/edit",
        q(&account),
        q(&campaign),
        q(&id)
    );
    if let Some(page) = budget_confirmation(
        &state,
        &user,
        &hint,
        (daily, current.and_then(|l| l.daily_budget_micros)),
        (&here, &here, "Yes, save with this budget"),
        &f,
    ) {
        return page;
    }
    let path = format!("{}/line_items/{}", base(&account), q(&id));
    let result = async {
        let mut body = json!({ "name": field(&f, "name").unwrap_or_default() });
        for (name, label, key) in [
            ("bid", "Bid", "bid_amount_local_micro"),
            (
                "daily_budget",
                "Daily budget",
                "daily_budget_amount_local_micro",
            ),
            (
                "total_budget",
                "Total budget",
                "total_budget_amount_local_micro",
            ),
        ] {
            if let Some(m) = micros(&f, name, label)? {
                body[key] = json!(m);
            }
        }
        if let Some(d) = field(&f, "end_date") {
            let day = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Problem::at("end_date", format!("Flight end: not a date: {d}")))?;
            body["end_time"] = json!(format!("{day}T00:00:00Z"));
        }
        let scope = scope(&state, &user, &account, None)?;
        let id = entity_id(&scope, &id, "line item").await?;
        write_answer(&scope, Method::PATCH, &path, Some(&body), || {
            manage::line_items::update(&scope, &id, &body)
        })
        .await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!(
            "{}?done=line-item-updated",
            campaign_href(&account, &campaign)
        )),
        Err(mut p) => {
            if p.field.as_deref() == Some("end_time") {
                p.field = Some("end_date".into());
            }
            refused(
                edit_line_item_page(&state, &user, (&account, &campaign, &id), Input::kept(f, p))
                    .await,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_divide_only_where_there_is_data() {
        let m = Metrics {
            spend_usd: Some(30.0),
            spend_local_micros: Some(30_000_000),
            impressions: 1000.0,
            clicks: 20.0,
            conversions: 0.0,
            installs: None,
            cpi_usd: None,
        };
        assert_eq!(m.ctr(), Some(0.02));
        assert_eq!(m.cpc(), Some(1.5));
        assert_eq!(m.cpa(), None, "no conversions: no CPA");
        assert_eq!(Metrics::default().cpc(), None);
        assert_eq!(usd(Some(1234.5)), "$1,234.50");
        assert_eq!(usd(None), "—");
    }
}
