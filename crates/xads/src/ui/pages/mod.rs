//! The pages, one module per section, and what they share: the account picker, the create-form
//! frame, status badges and form-field parsing.

mod campaigns;
mod experiments;
mod integrations;
mod login;
mod media;
mod reports;
mod view;

pub use integrations::connect_failed_page;

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
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
    Html(html::page(title, nav, &user.0.tenant.name, &user.0.csrf, body).into_string())
        .into_response()
}

/// 303 to `to`.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// An ad account as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    id: String,
    name: String,
    currency: String,
}

impl Account {
    fn from_domain(a: AdAccount) -> Account {
        Account {
            id: a.id,
            name: a.name,
            currency: a.currency.unwrap_or_default(),
        }
    }

    /// The tenant's ad accounts, as the API's `GET /api/v1/x_ads/accounts` lists them: a
    /// tenant without a usable connection to X gets that refusal's message.
    async fn all(state: &AppState, user: &User) -> Result<Vec<Account>, String> {
        let tenant = &user.0.tenant.id;
        XSession::for_tenant(state, tenant).await.map_err(problem)?;
        let accounts = connections::ad_accounts(&state.db, tenant)
            .await
            .map_err(problem)?;
        Ok(accounts.into_iter().map(Account::from_domain).collect())
    }
}

/// The account picker of a per-account page: the tenant's ad accounts and the one shown.
#[derive(Debug)]
struct Picker {
    /// The page's own path (`/campaigns`): each account links to it with `?account=`.
    path: &'static str,
    accounts: Vec<Account>,
    current: Account,
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
            Err(e) => return Err(render(user, title, nav, not_connected(title, &e))),
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
            }),
            None => Err(render(
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
                    a href={ (self.path) "?account=" (q(&a.id)) }
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

/// The body of a per-account page when the accounts cannot be read (not connected, …).
fn not_connected(title: &str, problem: &str) -> Markup {
    html! {
        h1 { (title) }
        div class="problem" { (problem) }
        p { a class="btn primary" href="/integrations" { "Go to Integrations" } }
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

/// The documents of the account's `kind` (under `parent`) in the mirror, up to 1 000, as the
/// API's list reads them (`refresh` reads through to X first).
async fn entities(
    scope: &Scope,
    kind: Kind,
    parent: Option<&str>,
    refresh: bool,
) -> Result<Vec<Value>, String> {
    let run = async {
        scope.check_account().await?;
        if refresh {
            let session = scope.session().await?;
            manage::mirror::refresh(scope, &session, kind).await?;
        }
        manage::mirror::page(scope, kind, parent, None, Some(1000))
            .await?
            .documents()
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
    write_answer(scope, method, path, body, run).await.map(drop)
}

/// [`write`], answering the API's JSON document of the result (the stored one on a replay).
async fn write_answer<F, Fut, T, E>(
    scope: &Scope,
    method: Method,
    path: &str,
    body: Option<&Value>,
    run: F,
) -> Result<Value, String>
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
            .map_err(problem)?;
    Ok(serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// A non-empty trimmed field.
fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// An amount in currency units (`12.5`) as micros; empty is `None`.
fn micros(f: &Fields, name: &str, label: &str) -> Result<Option<i64>, String> {
    let Some(raw) = field(f, name) else {
        return Ok(None);
    };
    let d: Decimal = raw
        .replace(',', "")
        .parse()
        .map_err(|_| format!("{label}: not an amount: {raw}"))?;
    // Checked: an amount past Decimal's range (e.g. 10^23 units) is an error, not a panic.
    d.checked_mul(Decimal::from(1_000_000))
        .and_then(|m| m.trunc().to_i64())
        .map(Some)
        .ok_or_else(|| format!("{label}: amount too large"))
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
                Err("Budget: amount too large".to_owned()),
                "{huge}"
            );
        }
        assert!(micros(&one("lots"), "budget", "Budget").is_err());
    }
}
