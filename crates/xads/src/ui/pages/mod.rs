//! The pages, one module per section, and what they share (account picking, form helpers).

mod campaigns;
mod experiments;
mod integrations;
mod login;
mod media;
mod reports;

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;

use super::api;
use super::html::{self, Nav, esc, q};
use super::session::User;
use crate::app::AppState;

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
fn render(user: &User, title: &str, nav: Nav, body: &str) -> Response {
    Html(html::page(
        title,
        nav,
        &user.0.tenant.name,
        &user.0.csrf,
        body,
    ))
    .into_response()
}

/// 303 to `to`.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// A message box: `Ok` is a success flash, `Err` a problem.
fn flash(msg: &Option<Result<String, String>>) -> String {
    match msg {
        Some(Ok(m)) => format!("<div class=\"flash\" role=\"status\">{}</div>", esc(m)),
        Some(Err(m)) => format!("<div class=\"problem\" role=\"alert\">{}</div>", esc(m)),
        None => String::new(),
    }
}

/// The tenant's ad accounts, or the page body to show instead (not connected, …).
async fn accounts(state: &AppState, user: &User) -> Result<Vec<Value>, String> {
    let a = api::get(state, &user.0.tenant, "/api/v1/x_ads/accounts").await;
    match a.error() {
        None => Ok(a.data()),
        Some(e) => Err(format!(
            "<div class=\"problem\">{}</div><p><a class=\"btn primary\" href=\"/integrations\">Go to Integrations</a></p>",
            esc(&e)
        )),
    }
}

/// The requested account, else the first one.
fn pick<'a>(accounts: &'a [Value], requested: Option<&String>) -> Option<&'a Value> {
    requested
        .and_then(|r| accounts.iter().find(|a| a["id"].as_str() == Some(r)))
        .or_else(|| accounts.first())
}

/// Links to the same page for each account.
fn account_tabs(path: &str, accounts: &[Value], current: &str) -> String {
    let mut out = String::from("<p class=\"tabs\">Ad account: ");
    for a in accounts {
        let id = a["id"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "<a href=\"{path}?account={}\"{}>{} <span class=\"note\">({})</span></a> ",
            q(id),
            if id == current { " class=\"on\"" } else { "" },
            esc(a["name"].as_str().unwrap_or(id)),
            esc(a["currency"].as_str().unwrap_or("?"))
        ));
    }
    out.push_str("</p>");
    out
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
    (d * Decimal::from(1_000_000))
        .trunc()
        .to_i64()
        .map(Some)
        .ok_or_else(|| format!("{label}: amount too large"))
}

/// A micros value of a JSON field, as an amount.
fn money(v: &Value) -> String {
    html::money(v.as_i64())
}

/// `Paused`/`Active`/… as a badge.
fn status_badge(e: &Value) -> String {
    if e["deleted"].as_bool() == Some(true) {
        "<span class=\"badge b-off\">Deleted</span>".into()
    } else if e["draft"].as_bool() == Some(true) {
        "<span class=\"badge b-off\">Draft</span>".into()
    } else if e["paused"].as_bool() == Some(true) {
        "<span class=\"badge b-warn\">Paused</span>".into()
    } else {
        "<span class=\"badge b-ok\">Active</span>".into()
    }
}

/// The `dry_run` marker of an entity.
fn dry_tag(e: &Value) -> &'static str {
    if e["dry_run"].as_bool() == Some(true) {
        " <span class=\"badge b-dry\" title=\"stored locally, never sent to X\">dry-run</span>"
    } else {
        ""
    }
}

/// A fresh idempotency key for a form (a double submit then creates one entity).
fn form_key() -> String {
    format!("ui-{:032x}", rand::random::<u128>())
}
