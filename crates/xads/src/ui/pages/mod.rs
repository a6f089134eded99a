//! The pages, one module per section, and what they share: the account picker, the create-form
//! frame, status badges and form-field parsing.

mod campaigns;
mod experiments;
mod integrations;
mod list;
mod login;
mod media;
mod reports;
mod view;

pub use integrations::connect_failed_page;
pub use reports::ReportCache;

use std::collections::HashMap;

use axum::Router;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;

use axum::http::Method;

use super::html::{self, Nav, csrf_field, q};
use super::session::User;
use crate::app::AppState;
use crate::manage::{self, Scope};
use crate::store::connections::{self, AdAccount};
use crate::store::entities::Kind;
use crate::web::{self, error::ApiError};
use crate::x::XSession;

/// A submitted form.
pub(super) type Fields = HashMap<String, String>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .merge(login::routes())
        .merge(integrations::routes())
        .merge(campaigns::routes())
        .merge(media::routes())
        .merge(reports::routes())
        .merge(experiments::routes())
}

/// A full page for a logged-in user.
fn render(user: &User, title: &str, nav: Nav, body: Markup) -> Response {
    render_refreshing(user, title, nav, None, body)
}

/// [`render`], reloading every `refresh` seconds when set (work still running in the
/// background: the page follows it without a script).
fn render_refreshing(
    user: &User,
    title: &str,
    nav: Nav,
    refresh: Option<u32>,
    body: Markup,
) -> Response {
    let page = html::page_with(title, nav, &user.0.tenant.name, &user.0.csrf, refresh, body);
    Html(page.into_string()).into_response()
}

/// A page answered for a refused form: the same page, its input kept, as 422.
fn refused(page: Response) -> Response {
    let (mut parts, body) = page.into_parts();
    if parts.status == StatusCode::OK {
        parts.status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Response::from_parts(parts, body)
}

/// 303 to `to`.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// The cookie carrying a flash message to the next page: shown once, then cleared.
const FLASH_COOKIE: &str = "xads_flash";

/// 303 to `to` with a flash `code` ([a-z0-9_-], a key of a page's fixed texts, never the text
/// itself: a cookie someone else set can only pick one of our messages) for the next page.
fn see_other_flash(to: &str, code: &str) -> Response {
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .take(64)
        .collect();
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, to.to_owned()),
            (
                SET_COOKIE,
                format!("{FLASH_COOKIE}={code}; Path=/; HttpOnly; SameSite=Lax; Max-Age=300"),
            ),
        ],
    )
        .into_response()
}

/// The flash code the previous answer left, if any.
fn flash_code(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == FLASH_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `page` with the flash cookie cleared when one was shown: a reload shows no message.
fn shown_once(mut page: Response, had_flash: bool) -> Response {
    if had_flash
        && let Ok(v) = format!("{FLASH_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0").parse()
    {
        page.headers_mut().append(SET_COOKIE, v);
    }
    page
}

/// An ad account as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    id: String,
    name: String,
    currency: String,
    /// IANA time zone (days and times on the pages are the account's).
    timezone: String,
}

impl Account {
    fn from_domain(a: AdAccount) -> Account {
        Account {
            id: a.id,
            name: a.name,
            currency: a.currency.unwrap_or_default(),
            timezone: a.timezone,
        }
    }

    /// The account's time zone (UTC when X named none we know).
    fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }

    /// The tenant's stored ad accounts, whether or not X can be reached now: the history stays
    /// readable after a disconnect (PRODUCT.md §4.2). With them, why X cannot be reached (the
    /// refusal's message), when it cannot.
    async fn stored(
        state: &AppState,
        user: &User,
    ) -> Result<(Vec<Account>, Option<String>), String> {
        let tenant = &user.0.tenant.id;
        let offline = XSession::for_tenant(state, tenant)
            .await
            .err()
            .map(|e| offline_reason(&e));
        let accounts = connections::ad_accounts(&state.db, tenant)
            .await
            .map_err(problem)?;
        Ok((
            accounts.into_iter().map(Account::from_domain).collect(),
            offline,
        ))
    }

    /// The tenant's ad accounts, as the API's `GET /api/v1/x_ads/accounts` lists them: a
    /// tenant without a usable connection to X gets that refusal's message.
    async fn all(state: &AppState, user: &User) -> Result<Vec<Account>, Unreadable> {
        let tenant = &user.0.tenant.id;
        XSession::for_tenant(state, tenant)
            .await
            .map_err(|e| Unreadable::Offline(offline_reason(&e)))?;
        let accounts = connections::ad_accounts(&state.db, tenant)
            .await
            .map_err(|e| Unreadable::Failed(problem(e)))?;
        Ok(accounts.into_iter().map(Account::from_domain).collect())
    }
}

/// Why the accounts cannot be listed: X cannot be reached (`offline_reason`), or our own
/// storage failed (the API's text for it).
#[derive(Debug)]
enum Unreadable {
    Offline(String),
    Failed(String),
}

impl Unreadable {
    /// The text for a form or flash message.
    fn text(self) -> String {
        match self {
            Unreadable::Offline(why) => {
                format!("{why}: connect it on the Integrations page first.")
            }
            Unreadable::Failed(why) => why,
        }
    }
}

/// Why X cannot be reached, as the first half of one sentence (the page adds what to do):
/// "X Ads is not connected", "X refused the saved connection (…)", "X cannot be reached right
/// now (…)". The API's message for the same refusal already says what to do, so a page that
/// put it after its own words said it twice.
fn offline_reason(e: &crate::x::XSessionError) -> String {
    use crate::x::XSessionError as E;
    match e {
        E::NotConnected => "X Ads is not connected".to_owned(),
        E::NeedsReconnect(why) => format!(
            "X refused the saved connection ({})",
            why.trim_end_matches('.')
        ),
        other => format!(
            "X cannot be reached right now ({})",
            other.public_message().trim_end_matches('.')
        ),
    }
}

/// The account picker of a per-account page: the tenant's ad accounts and the one shown.
#[derive(Debug)]
struct Picker {
    /// The page's own path (`/campaigns`): each account links to it with `?account=`.
    path: &'static str,
    accounts: Vec<Account>,
    current: Account,
    /// Why X cannot be reached now (pages of stored data only: see [`Picker::load_stored`]).
    offline: Option<String>,
}

impl Picker {
    /// The requested account, else the first one; or, when there is none to show (not
    /// connected, no accounts), the page `title` says so instead.
    async fn load(
        state: &AppState,
        user: &User,
        requested: Option<&String>,
        (path, title, nav): (&'static str, &str, Nav),
    ) -> Result<Picker, Response> {
        let accounts = match Account::all(state, user).await {
            Ok(a) => a,
            Err(Unreadable::Offline(why)) => {
                return Err(render(user, title, nav, not_connected(title, &why)));
            }
            Err(Unreadable::Failed(why)) => return Err(crate::ui::failure(&why)),
        };
        let current = requested
            .and_then(|r| accounts.iter().find(|a| &a.id == r))
            .or_else(|| accounts.first())
            .cloned();
        match current {
            Some(current) => Ok(Picker {
                path,
                accounts,
                current,
                offline: None,
            }),
            None => Err(render(
                user,
                title,
                nav,
                html! { h1 { (title) } p { "No ad accounts yet." } },
            )),
        }
    }

    /// Like [`Picker::load`], for pages of stored data (Reports): the stored accounts are shown
    /// even when X cannot be reached (after a disconnect), with `offline` saying why.
    async fn load_stored(
        state: &AppState,
        user: &User,
        requested: Option<&String>,
        (path, title, nav): (&'static str, &str, Nav),
    ) -> Result<Picker, Response> {
        let (accounts, offline) = match Account::stored(state, user).await {
            Ok(a) => a,
            Err(e) => return Err(crate::ui::failure(&e)),
        };
        let current = requested
            .and_then(|r| accounts.iter().find(|a| &a.id == r))
            .or_else(|| accounts.first())
            .cloned();
        match (current, offline) {
            (Some(current), offline) => Ok(Picker {
                path,
                accounts,
                current,
                offline,
            }),
            (None, Some(problem)) => Err(render(user, title, nav, not_connected(title, &problem))),
            (None, None) => Err(render(
                user,
                title,
                nav,
                html! { h1 { (title) } p { "No ad accounts yet." } },
            )),
        }
    }

    /// Links to the same page for each account, the current one highlighted.
    fn tabs(&self) -> Markup {
        html! {
            p class="tabs" {
                "Ad account: "
                @for a in &self.accounts {
                    a href={ (self.path) "?account=" (q(&a.id)) } title=(a.name)
                        class=[(a.id == self.current.id).then_some("on")] {
                        (a.name) " "
                        span class="note" {
                            "(" (if a.currency.is_empty() { "?" } else { &a.currency }) ")"
                        }
                    }
                    " "
                }
            }
        }
    }
}

/// The USD equivalent of an account's currency, for budgets on forms and lists: the tenant's
/// rate in force today (its own override, else the global one), if any.
#[derive(Clone, Debug)]
struct UsdHint {
    currency: String,
    /// USD per unit and the rate's date.
    rate: Option<(Decimal, chrono::NaiveDate)>,
}

impl UsdHint {
    async fn load(state: &AppState, user: &User, currency: &str) -> UsdHint {
        let currency = currency.trim().to_ascii_uppercase();
        let series = crate::store::fx_rates::tenant_series(&state.db, &user.0.tenant.id, &currency)
            .await
            .unwrap_or_default();
        let today = state.clock.now().date_naive();
        let rate = crate::fx::rate_on(&series, today).map(|(d, r, _)| (*r, *d));
        UsdHint { currency, rate }
    }

    /// USD for `micros` of the currency, when a rate is known.
    fn usd(&self, micros: i64) -> Option<Decimal> {
        self.rate.map(|(r, _)| crate::fx::spend_usd(micros, r))
    }

    /// `≈ $16,215.00` beside a local amount (nothing for USD or without a rate).
    fn beside(&self, micros: Option<i64>) -> Markup {
        match (micros, self.currency.as_str()) {
            (Some(m), c) if c != "USD" => match self.usd(m) {
                Some(usd) => {
                    html! { " " span class="note usd" { "≈ " (crate::money::with_currency(usd, "USD")) } }
                }
                None => html! {},
            },
            _ => html! {},
        }
    }

    /// The rate as a sentence for forms: `1 KWD = 3.243 USD (rate of 2025-10-01)`.
    fn sentence(&self) -> String {
        match (&self.rate, self.currency.as_str()) {
            (_, "USD") => String::new(),
            (Some((r, d)), c) => format!("1 {c} = {} USD (rate of {d})", r.normalize()),
            (None, c) => format!("no USD rate is known for {c} yet"),
        }
    }
}

/// The confirmation asked before a daily budget worth more than `XADS_BUDGET_CONFIRM_USD` (or
/// of unknown worth) is created or saved: `None` when no confirmation is needed (an edit that
/// keeps the `current` daily budget asks nothing). The page re-posts the same fields (the same
/// idempotency key included) with `confirm_budget=1` to `action`; `button` says what it does.
fn budget_confirmation(
    state: &AppState,
    user: &User,
    hint: &UsdHint,
    (daily_micros, current): (Option<i64>, Option<i64>),
    (action, back, button): (&str, &str, &str),
    f: &Fields,
) -> Option<Response> {
    let micros = daily_micros.filter(|m| *m > 0 && Some(*m) != current)?;
    if f.get("confirm_budget").map(String::as_str) == Some("1") {
        return None;
    }
    let threshold = state.config.budget_confirm_usd;
    let usd = if hint.currency == "USD" {
        Some(Decimal::from_i128_with_scale(i128::from(micros), 6))
    } else {
        hint.usd(micros)
    };
    if usd.is_some_and(|u| u <= threshold) {
        return None;
    }
    let local = crate::money::format(micros, &hint.currency);
    let body = html! {
        h1 { "Confirm the daily budget" }
        div class="card" id="budget-confirm" {
            p class="problem" {
                "Daily budget " strong { (local) }
                @match usd {
                    Some(u) => { " ≈ " strong { (crate::money::with_currency(u, "USD")) } " a day" }
                    None => { " (its USD worth is unknown: " (hint.sentence()) ")" }
                }
                ", above the " (crate::money::with_currency(threshold, "USD"))
                " a day that asks for confirmation."
            }
            @if usd.is_some() && hint.currency != "USD" {
                p class="note" { (hint.sentence()) "." }
            }
            form method="post" action=(action) class="row" {
                (csrf_field(&user.0.csrf))
                @for (k, v) in f {
                    @if k != "csrf" && k != "confirm_budget" {
                        input type="hidden" name=(k) value=(v);
                    }
                }
                input type="hidden" name="confirm_budget" value="1";
                button class="primary" type="submit" id="confirm-budget" { (button) }
                a class="btn" href=(back) { "Change it" }
            }
        }
    };
    Some(render(
        user,
        "Confirm the daily budget",
        Nav::Campaigns,
        body,
    ))
}

/// The body of a per-account page when the accounts cannot be read (not connected, …).
fn not_connected(title: &str, problem: &str) -> Markup {
    html! {
        h1 { (title) }
        div class="problem" id="not-connected" {
            (problem) ": connect it on "
            a href="/integrations" { "Integrations" } " to see this page."
        }
    }
}

/// The frame of every create form: a card with its heading, a POST form carrying the CSRF
/// field, the `hidden` fields and a fresh idempotency key (a double submit then creates one
/// entity), around the form's own `fields`.
struct CreateForm<'a> {
    heading: &'a str,
    action: &'a str,
    id: Option<&'a str>,
    hidden: &'a [(&'a str, &'a str)],
}

impl CreateForm<'_> {
    fn render(&self, csrf: &str, fields: Markup) -> Markup {
        html! {
            div class="card" {
                h2 style="margin-top:0" { (self.heading) }
                form method="post" action=(self.action) id=[self.id] {
                    (csrf_field(csrf))
                    @for (name, value) in self.hidden {
                        input type="hidden" name=(name) value=(value);
                    }
                    input type="hidden" name="idem" value=(form_key());
                    (fields)
                }
            }
        }
    }
}

/// The page's text for a domain error: the API's message for it, from the one mapping
/// (`web::error`), so a page and the API say the same.
fn problem(e: impl Into<ApiError>) -> String {
    e.into().message
}

/// A refusal shown on a form: the API's message, and the form field it names when it names one
/// (a validation failure's `field`, or the `parameter` of X's first error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Problem {
    message: String,
    field: Option<String>,
}

impl Problem {
    /// A refusal of the form as a whole.
    fn general(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            field: None,
        }
    }

    /// A refusal naming the form field `field`.
    fn at(field: &str, message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// A domain error as the API answers it, with the field it names mapped to the form's.
    fn of(e: impl Into<ApiError>) -> Problem {
        let e: ApiError = e.into();
        let details = e.details.unwrap_or(Value::Null);
        let named = details["field"]
            .as_str()
            .or_else(|| details["x_errors"][0]["parameter"].as_str());
        Problem {
            field: named.map(form_field),
            message: e.message,
        }
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem::general(message)
    }
}

/// The form field of an API field (`daily_budget_amount_local_micro` → `daily_budget`,
/// `variants[1].tweet_id` → `v1_tweet`, `schedule.slot_hours` → `slot_hours`).
fn form_field(api: &str) -> String {
    let plain = |f: &str| -> String {
        let f = f.split('[').next().unwrap_or(f);
        match f {
            "daily_budget_amount_local_micro" => "daily_budget",
            "total_budget_amount_local_micro" => "total_budget",
            "bid_amount_local_micro" => "bid",
            "placements" => "placement",
            "tweet_ids" => "tweet_id",
            other => other,
        }
        .to_owned()
    };
    if let Some(rest) = api.strip_prefix("variants[")
        && let Some((i, tail)) = rest.split_once("].")
    {
        let tail = tail.strip_prefix("line_item.").unwrap_or(tail);
        let short = match plain(tail).as_str() {
            "tweet_id" => "tweet".to_owned(),
            "daily_budget" => "daily".to_owned(),
            other => other.to_owned(),
        };
        return format!("v{i}_{short}");
    }
    let tail = api.rsplit('.').next().unwrap_or(api);
    plain(tail)
}

/// What a form shows: the values it was submitted with (kept when it was refused) and the
/// refusal, placed beside the field it names or above the form when it names none here.
#[derive(Clone, Debug, Default)]
struct Input {
    values: Option<Fields>,
    problem: Option<Problem>,
}

impl Input {
    /// An empty form, with its defaults.
    fn fresh() -> Input {
        Input::default()
    }

    /// The submitted `values`, refused with `problem`.
    fn kept(values: Fields, problem: Problem) -> Input {
        Input {
            values: Some(values),
            problem: Some(problem),
        }
    }

    /// The submitted value of `name`, else `default`.
    fn value<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match &self.values {
            Some(v) => v.get(name).map_or("", String::as_str),
            None => default,
        }
    }

    /// Whether a checkbox is ticked: as submitted, else `default`.
    fn checked(&self, name: &str, default: bool) -> bool {
        match &self.values {
            Some(v) => v.contains_key(name),
            None => default,
        }
    }

    fn names(&self, name: &str) -> bool {
        self.problem
            .as_ref()
            .and_then(|p| p.field.as_deref())
            .is_some_and(|f| f == name)
    }

    /// `aria-invalid` of the input `name`.
    fn invalid(&self, name: &str) -> Option<&'static str> {
        self.names(name).then_some("true")
    }

    /// `aria-describedby` of the input `name` whose element id is `id`.
    fn described(&self, name: &str, id: &str) -> Option<String> {
        self.names(name).then(|| format!("{id}-error"))
    }

    /// The refusal beside the input `name` (element id `id`), when it names that field.
    fn error(&self, name: &str, id: &str) -> Markup {
        html! {
            @if let Some(p) = self.problem.as_ref().filter(|_| self.names(name)) {
                p class="field-error" id={ (id) "-error" } { (p.message) }
            }
        }
    }

    /// The refusal above the form when none of its `fields` is the one it names.
    fn general(&self, fields: &[&str]) -> Markup {
        html! {
            @if let Some(p) = &self.problem {
                @if !p.field.as_deref().is_some_and(|f| fields.contains(&f)) {
                    div class="problem" role="alert" { (p.message) }
                } @else {
                    div class="problem" role="alert" {
                        "The form was not saved: see the field marked below."
                    }
                }
            }
        }
    }
}

/// A labelled text input of a form: label, input (value kept after a refusal, marked invalid
/// when the refusal names it), and the refusal beside it.
struct Text<'a> {
    id: &'a str,
    name: &'a str,
    label: &'a str,
    default: &'a str,
    /// `inputmode="decimal"` (amounts) or `"numeric"` (whole numbers), or none.
    mode: Option<&'static str>,
    required: bool,
    /// A `pattern` the browser checks before posting, with its explanation as the title.
    pattern: Option<(&'a str, &'a str)>,
    list: Option<&'a str>,
    kind: &'static str,
}

impl<'a> Text<'a> {
    fn new(id: &'a str, name: &'a str, label: &'a str) -> Text<'a> {
        Text {
            id,
            name,
            label,
            default: "",
            mode: None,
            required: false,
            pattern: None,
            list: None,
            kind: "text",
        }
    }
    fn value(mut self, default: &'a str) -> Self {
        self.default = default;
        self
    }
    fn amount(mut self) -> Self {
        self.mode = Some("decimal");
        self
    }
    fn whole(mut self) -> Self {
        self.mode = Some("numeric");
        self.pattern = Some(("[0-9]+", "a whole number"));
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn pattern(mut self, pattern: &'a str, title: &'a str) -> Self {
        self.pattern = Some((pattern, title));
        self
    }
    fn list(mut self, list: &'a str) -> Self {
        self.list = Some(list);
        self
    }
    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    fn render(&self, input: &Input) -> Markup {
        html! {
            div {
                label for=(self.id) { (self.label) }
                input id=(self.id) name=(self.name) type=(self.kind)
                    value=(input.value(self.name, self.default))
                    inputmode=[self.mode] required[self.required]
                    pattern=[self.pattern.map(|p| p.0)] title=[self.pattern.map(|p| p.1)]
                    list=[self.list]
                    aria-invalid=[input.invalid(self.name)]
                    aria-describedby=[input.described(self.name, self.id)];
                (input.error(self.name, self.id))
            }
        }
    }
}

/// A labelled select of `(value, text)` options, the submitted (or `default`) one selected.
fn select(
    input: &Input,
    (id, name, label): (&str, &str, &str),
    options: &[(String, String)],
    default: &str,
) -> Markup {
    let chosen = input.value(name, default);
    html! {
        div {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[input.invalid(name)]
                aria-describedby=[input.described(name, id)] {
                @for (value, text) in options {
                    option value=(value) selected[value == chosen] { (text) }
                }
            }
            (input.error(name, id))
        }
    }
}

/// A labelled checkbox, ticked as submitted (or `default`).
fn checkbox(input: &Input, (id, name, label): (&str, &str, &str), default: bool) -> Markup {
    html! {
        div {
            label class="check" for=(id) {
                input type="checkbox" id=(id) name=(name) value="1"
                    checked[input.checked(name, default)];
                (label)
            }
        }
    }
}

/// The session tenant's management scope on `account`, with the form's idempotency key (an
/// account id that cannot be X's refused as the API's edge refuses it).
fn scope(
    state: &AppState,
    user: &User,
    account: &str,
    idem_key: Option<&str>,
) -> Result<Scope, String> {
    let account = web::ids::account(account).map_err(problem)?;
    web::manage::scope_for(
        state.clone(),
        user.0.tenant.clone(),
        account.into_string(),
        idem_key,
    )
    .map_err(problem)
}

/// The most entries a list page reads (pages of [`manage::paging::MAX_COUNT`], walked by
/// cursor).
const MAX_LISTED: usize = 20_000;

/// Every entry of a list, read as the API's clients read it: page after page with the domain's
/// own paging (`count` = 1 000, then each page's `next_cursor`), up to [`MAX_LISTED`]. The page
/// then searches, filters, sorts and cuts its own pages of 20 ([`list::Listing`]) over all of
/// them, so no entry past the domain's first page is left out of a search, a sort or the last
/// page.
async fn all_pages<T, E, F, Fut>(mut page: F) -> Result<Vec<T>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) = page(cursor.take()).await?;
        out.extend(items);
        match next {
            Some(c) if out.len() < MAX_LISTED => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

/// The documents of the account's `kind` (under `parent`) in the mirror, every page of them,
/// as the API's list reads them (`refresh` reads through to X first).
async fn entities(
    scope: &Scope,
    kind: Kind,
    parent: Option<&str>,
    refresh: bool,
) -> Result<Vec<Value>, String> {
    let run = async {
        if refresh {
            scope.check_account().await?;
            let session = scope.session().await?;
            manage::mirror::refresh(scope, &session, kind).await?;
        }
        all_pages(|cursor| async move {
            let page = manage::mirror::page(
                scope,
                kind,
                parent,
                cursor.as_deref(),
                Some(manage::paging::MAX_COUNT),
            )
            .await?;
            Ok::<_, manage::ManageError>((page.documents()?, page.next_cursor))
        })
        .await
    };
    run.await.map_err(problem)
}

/// [`entities`], reading through to X when the mirror holds none yet (before the first sync)
/// or when `refresh` asks.
async fn entities_or_refresh(
    scope: &Scope,
    kind: Kind,
    parent: Option<&str>,
    refresh: bool,
) -> Result<Vec<Value>, String> {
    let list = entities(scope, kind, parent, refresh).await;
    match &list {
        Ok(v) if v.is_empty() && !refresh => entities(scope, kind, parent, true).await,
        _ => list,
    }
}

/// An entity id from a page's path, checked as the API's edge checks it: one that cannot be an
/// id answers as an unknown `what` does (the account checked first).
async fn entity_id(scope: &Scope, raw: &str, what: &'static str) -> Result<String, String> {
    web::manage::path_entity(scope, raw, what)
        .await
        .map_err(problem)
}

/// Runs a write of `scope` the way the API's handler runs it: under the form's idempotency key
/// (`method`, the API `path` and the JSON `body` are the request's fingerprint).
async fn write<F, Fut, T, E>(
    scope: &Scope,
    method: Method,
    path: &str,
    body: Option<&Value>,
    run: F,
) -> Result<(), String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: web::answer::Answer,
    ApiError: From<E>,
{
    write_answer(scope, method, path, body, run)
        .await
        .map(drop)
        .map_err(|p| p.message)
}

/// [`write`], answering the API's JSON document of the result (the stored one on a replay), or
/// the refusal with the form field it names.
async fn write_answer<F, Fut, T, E>(
    scope: &Scope,
    method: Method,
    path: &str,
    body: Option<&Value>,
    run: F,
) -> Result<Value, Problem>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: web::answer::Answer,
    ApiError: From<E>,
{
    let bytes = body.map(Value::to_string).unwrap_or_default();
    let (_, answer, _) =
        web::manage::idempotent_answer(scope, &method, path, bytes.as_bytes(), run)
            .await
            .map_err(Problem::of)?;
    Ok(serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// A non-empty trimmed field.
fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// An amount in currency units (`12.5`) as micros; empty is `None`. A refusal names the field.
fn micros(f: &Fields, name: &str, label: &str) -> Result<Option<i64>, Problem> {
    let Some(raw) = field(f, name) else {
        return Ok(None);
    };
    let d: Decimal = raw
        .replace(',', "")
        .parse()
        .map_err(|_| Problem::at(name, format!("{label}: not an amount: {raw}")))?;
    // Checked: an amount past Decimal's range (e.g. 10^23 units) is an error, not a panic.
    d.checked_mul(Decimal::from(1_000_000))
        .and_then(|m| m.trunc().to_i64())
        .map(Some)
        .ok_or_else(|| Problem::at(name, format!("{label}: amount too large")))
}

/// An entity's state as a badge.
fn status_badge(status: view::Status) -> Markup {
    let (class, label) = match status {
        view::Status::Deleted => ("badge b-off", "Deleted"),
        view::Status::Draft => ("badge b-off", "Draft"),
        view::Status::Paused => ("badge b-warn", "Paused"),
        view::Status::Active => ("badge b-ok", "Active"),
    };
    html! { span class=(class) { (label) } }
}

/// The marker of an entity stored in dry-run.
fn dry_tag(dry_run: bool) -> Markup {
    html! {
        @if dry_run {
            " "
            span class="badge b-dry" title="stored locally, never sent to X" { "dry-run" }
        }
    }
}

/// A fresh idempotency key for a form (a double submit then creates one entity).
fn form_key() -> String {
    format!("ui-{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Fields {
        Fields::from([("budget".to_owned(), value.to_owned())])
    }

    #[test]
    fn amounts_become_micros_and_huge_ones_are_refused_without_panicking() {
        assert_eq!(
            micros(&one("12.5"), "budget", "Budget"),
            Ok(Some(12_500_000))
        );
        assert_eq!(
            micros(&one("1,000"), "budget", "Budget"),
            Ok(Some(1_000_000_000))
        );
        assert_eq!(micros(&one(""), "budget", "Budget"), Ok(None));
        for huge in [
            "100000000000000000000000",
            "79228162514264337593543950335",
            "9300000000000",
        ] {
            assert_eq!(
                micros(&one(huge), "budget", "Budget"),
                Err(Problem::at("budget", "Budget: amount too large")),
                "{huge}"
            );
        }
        assert_eq!(
            micros(&one("lots"), "budget", "Budget")
                .unwrap_err()
                .field
                .as_deref(),
            Some("budget")
        );
    }

    #[test]
    fn api_fields_name_the_forms_fields() {
        for (api, form) in [
            ("name", "name"),
            ("daily_budget_amount_local_micro", "daily_budget"),
            ("total_budget_amount_local_micro", "total_budget"),
            ("bid_amount_local_micro", "bid"),
            ("placements[0]", "placement"),
            ("tweet_ids[0]", "tweet_id"),
            ("schedule.slot_hours", "slot_hours"),
            ("stop.max_days", "max_days"),
            ("variants[1].tweet_id", "v1_tweet"),
            ("variants[0].name", "v0_name"),
            ("variants[0].line_item.bid_amount_local_micro", "v0_bid"),
            (
                "variants[1].line_item.daily_budget_amount_local_micro",
                "v1_daily",
            ),
        ] {
            assert_eq!(form_field(api), form, "{api}");
        }
    }

    #[test]
    fn a_refused_form_keeps_its_values_and_marks_the_named_field() {
        let values = Fields::from([
            ("name".to_owned(), "Spring <push>".to_owned()),
            ("daily_budget".to_owned(), "lots".to_owned()),
        ]);
        let input = Input::kept(
            values,
            Problem::at("daily_budget", "Daily budget: not an amount"),
        );
        let name = Text::new("name", "name", "Name")
            .render(&input)
            .into_string();
        assert!(name.contains("value=\"Spring &lt;push&gt;\""), "{name}");
        assert!(!name.contains("aria-invalid"), "{name}");
        let daily = Text::new("daily", "daily_budget", "Daily budget")
            .value("10")
            .render(&input)
            .into_string();
        assert!(daily.contains("value=\"lots\""), "{daily}");
        assert!(
            daily.contains("aria-invalid=\"true\"")
                && daily.contains("aria-describedby=\"daily-error\"")
                && daily.contains(
                    "<p class=\"field-error\" id=\"daily-error\">Daily budget: not an amount</p>"
                ),
            "{daily}"
        );
        // A fresh form shows its defaults; an unticked box stays unticked once submitted.
        let fresh = Text::new("daily", "daily_budget", "Daily budget").value("10");
        assert!(
            fresh
                .render(&Input::fresh())
                .into_string()
                .contains("value=\"10\"")
        );
        let boxed = checkbox(&input, ("p", "paused", "Paused"), true).into_string();
        assert!(!boxed.contains("checked"), "{boxed}");
        assert!(
            input
                .general(&["name", "daily_budget"])
                .into_string()
                .contains("marked below")
        );
        assert!(
            input
                .general(&["name"])
                .into_string()
                .contains("not an amount")
        );
    }
}
