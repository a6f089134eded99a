//! Paid UA → Integrations: the X (Twitter) Ads tile.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};

use super::{Fields, flash, render, see_other};
use crate::app::AppState;
use crate::ui::api;
use crate::ui::html::{Nav, button_form, csrf_field, esc};
use crate::ui::session::User;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(page))
        .route("/integrations/x_ads/connect", post(connect))
        .route("/integrations/x_ads/disconnect", post(disconnect))
        .route("/integrations/x_ads/sync", post(sync_all))
}

/// The note shown on disconnect (PRODUCT.md §4.2).
const REVOKE_NOTE: &str = "Tokens were deleted from the dashboard. To fully revoke access, also remove the app from your X account's connected apps (X → Settings → Security and account access → Apps and sessions → Connected apps).";

async fn page(State(state): State<AppState>, user: User, Query(q): Query<Fields>) -> Response {
    let msg = if q.get("connected").map(String::as_str) == Some("x_ads") {
        Some(Ok("X (Twitter) Ads is connected.".to_owned()))
    } else if let Some(n) = q.get("synced") {
        Some(Ok(format!(
            "Synced {} ad account(s); see Reports.",
            n.parse::<u32>().unwrap_or(0)
        )))
    } else if q.contains_key("disconnected") {
        Some(Ok(REVOKE_NOTE.to_owned()))
    } else {
        None
    };
    tile_page(&state, &user, msg).await
}

async fn tile_page(state: &AppState, user: &User, msg: Option<Result<String, String>>) -> Response {
    let a = api::get(state, &user.0.tenant, "/api/v1/integrations").await;
    if let Some(e) = a.error() {
        return crate::ui::failure(&e);
    }
    let tile = a.data().into_iter().next().unwrap_or(Value::Null);
    let body = format!(
        "<h1>Integrations</h1><div class=\"crumb\">Paid UA → Integrations</div>{}{}",
        flash(&msg),
        tile_html(&tile, &user.0.csrf)
    );
    render(user, "Integrations", Nav::Integrations, &body)
}

fn tile_html(t: &Value, csrf: &str) -> String {
    let status = t["status"].as_str().unwrap_or("disconnected");
    let (badge, label) = match status {
        "connected" => ("b-ok", "Connected"),
        "needs_reconnect" => ("b-warn", "Needs re-connect"),
        "error" => ("b-bad", "Error"),
        _ => ("b-off", "Not connected"),
    };
    let live = t["mode"].as_str() == Some("live");
    let mode = if live {
        "<span class=\"badge b-live\" id=\"mode\">Live</span>"
    } else {
        "<span class=\"badge b-dry\" id=\"mode\">Dry-run</span>"
    };
    let mut out = format!(
        "<section class=\"card tile\" id=\"x_ads\" data-status=\"{}\"><div class=\"top\"><div class=\"logo\">𝕏</div>\
<div><h2 style=\"margin:0\">X (Twitter) Ads</h2><span class=\"badge {badge}\" id=\"status\">{label}</span> {mode}</div></div>",
        esc(status)
    );
    if !live {
        out.push_str(
            "<p class=\"note\">Dry-run: writes are validated and stored here with <span class=\"mono\">dry_</span> ids, \
             never sent to X. To send writes to X, set <span class=\"mono\">X_ADS_LIVE_MODE=true</span> (with \
             <span class=\"mono\">XADS_ENCRYPTION_KEY</span>) and restart.</p>",
        );
    }
    if let Some(p) = t["problem"].as_str() {
        out.push_str(&format!(
            "<div class=\"problem\" role=\"alert\">{}</div>",
            esc(p)
        ));
    }
    let missing: Vec<&str> = t["missing_scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !missing.is_empty() {
        out.push_str(&format!(
            "<div class=\"problem\">The grant lacks scope(s) {} that some features need; re-connect to grant them.</div>",
            esc(&missing.join(", "))
        ));
    }
    let accounts = t["accounts"].as_array().cloned().unwrap_or_default();
    if !accounts.is_empty() {
        out.push_str("<h2>Ad accounts</h2><table id=\"accounts\"><thead><tr><th>Name</th><th>Id</th><th>Currency</th><th>Time zone</th></tr></thead><tbody>");
        for a in &accounts {
            out.push_str(&format!(
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(a["name"].as_str().unwrap_or("")),
                esc(a["id"].as_str().unwrap_or("")),
                esc(a["currency"].as_str().unwrap_or("—")),
                esc(a["timezone"].as_str().unwrap_or("—")),
            ));
        }
        out.push_str("</tbody></table>");
    }
    if status != "disconnected" {
        let sync = &t["sync"];
        let last = sync["last_success_at"].as_str().unwrap_or("never");
        let lag = sync["lag_seconds"]
            .as_i64()
            .map(|s| format!(" ({} min ago)", s / 60))
            .unwrap_or_default();
        out.push_str(&format!(
            "<p class=\"note\" id=\"sync\">Sync: last success {}{}. Change detection is the hourly sync (webhooks are not supported on x_ads).</p>",
            esc(last),
            esc(&lag)
        ));
        if let Some(e) = sync["last_error"].as_str() {
            out.push_str(&format!(
                "<div class=\"problem\">Last sync error: {}</div>",
                esc(e)
            ));
        }
        if let Some(at) = t["connected_at"].as_str() {
            out.push_str(&format!(
                "<p class=\"note\">Connected since {}.</p>",
                esc(at)
            ));
        }
    }
    let methods: Vec<&str> = t["methods"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<div class=\"row\" style=\"margin-top:12px\">");
    if status != "connected" {
        let verb = if status == "disconnected" {
            "Connect"
        } else {
            "Re-connect"
        };
        if methods.contains(&"oauth2") {
            out.push_str(&connect_form(csrf, "oauth2", verb, "primary", "connect"));
        }
        if methods.contains(&"oauth1") {
            out.push_str(&connect_form(
                csrf,
                "oauth1",
                &format!("{verb} with OAuth 1.0a"),
                "",
                "connect-oauth1",
            ));
        }
        if methods.is_empty() {
            out.push_str("<p class=\"note\">Set X_ADS_CLIENT_ID and X_ADS_CLIENT_SECRET (or the OAuth 1.0a consumer key and secret) to connect.</p>");
        }
    }
    if status == "connected" && !accounts.is_empty() {
        out.push_str(&button_form(
            "/integrations/x_ads/sync",
            csrf,
            "Sync all accounts now",
            "",
        ));
    }
    if status != "disconnected" {
        out.push_str(&button_form(
            "/integrations/x_ads/disconnect",
            csrf,
            "Disconnect",
            "danger",
        ));
        out.push_str("<p class=\"note\" style=\"flex-basis:100%\">Disconnect deletes the tokens here and keeps the synced history. Full revocation also needs removing the app from the X account's connected apps.</p>");
    }
    out.push_str("</div></section>");
    out
}

fn connect_form(csrf: &str, method: &str, label: &str, class: &str, id: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/integrations/x_ads/connect\">{}\
<input type=\"hidden\" name=\"method\" value=\"{}\"><button id=\"{}\" type=\"submit\" class=\"{}\">{}</button></form>",
        csrf_field(csrf),
        esc(method),
        esc(id),
        esc(class),
        esc(label)
    )
}

async fn connect(State(state): State<AppState>, user: User, Form(f): Form<Fields>) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let method = f.get("method").map(String::as_str).unwrap_or("oauth2");
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::POST,
        "/api/v1/integrations/x_ads/connect",
        Some(&json!({ "method": method })),
    )
    .await;
    match (a.error(), a.body["authorize_url"].as_str()) {
        (None, Some(url)) => see_other(url),
        (e, _) => {
            tile_page(
                &state,
                &user,
                Some(Err(e.unwrap_or_else(|| "X did not answer".into()))),
            )
            .await
        }
    }
}

async fn disconnect(State(state): State<AppState>, user: User, Form(f): Form<Fields>) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let a = api::call(
        &state,
        &user.0.tenant,
        Method::DELETE,
        "/api/v1/integrations/x_ads",
        None,
    )
    .await;
    match a.error() {
        None => see_other("/integrations?disconnected=1"),
        Some(e) => tile_page(&state, &user, Some(Err(e))).await,
    }
}

/// Syncs every ad account now (the hourly job does the same), through `POST …/stats/sync`.
async fn sync_all(State(state): State<AppState>, user: User, Form(f): Form<Fields>) -> Response {
    if let Some(r) = user.csrf_rejection(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let accounts = api::get(&state, &user.0.tenant, "/api/v1/x_ads/accounts").await;
    let mut done = 0;
    for a in accounts.data() {
        let id = a["id"].as_str().unwrap_or_default();
        let r = api::call(
            &state,
            &user.0.tenant,
            Method::POST,
            &format!(
                "/api/v1/x_ads/accounts/{}/stats/sync?wait=true",
                crate::ui::html::q(id)
            ),
            Some(&json!({})),
        )
        .await;
        match r.error() {
            None => done += 1,
            Some(e) => return tile_page(&state, &user, Some(Err(e))).await,
        }
    }
    see_other(&format!("/integrations?synced={done}"))
}
