//! The media library of an ad account, with upload (multipart, forwarded as is to the API).

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::Value;

use super::{Fields, account_tabs, accounts, flash, pick, render, see_other};
use crate::app::AppState;
use crate::media::sniff;
use crate::ui::api;
use crate::ui::html::{Nav, esc, q};
use crate::ui::session::User;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/media", get(page))
        .route("/media/upload", post(upload))
}

async fn page(State(state): State<AppState>, user: User, Query(qs): Query<Fields>) -> Response {
    let msg = qs
        .get("done")
        .map(|_| Ok("Uploaded to the media library.".to_owned()));
    media_page(&state, &user, qs.get("account"), msg).await
}

async fn media_page(
    state: &AppState,
    user: &User,
    requested: Option<&String>,
    msg: Option<Result<String, String>>,
) -> Response {
    let accts = match accounts(state, user).await {
        Ok(a) => a,
        Err(body) => return render(user, "Media", Nav::Media, &format!("<h1>Media</h1>{body}")),
    };
    let Some(account) = pick(&accts, requested) else {
        return render(
            user,
            "Media",
            Nav::Media,
            "<h1>Media</h1><p>No ad accounts yet.</p>",
        );
    };
    let account_id = account["id"].as_str().unwrap_or_default();
    let list = api::get(
        state,
        &user.0.tenant,
        &format!("/api/v1/x_ads/accounts/{}/media", q(account_id)),
    )
    .await;
    let mut body = format!(
        "<h1>Media library</h1>{}{}",
        account_tabs("/media", &accts, account_id),
        flash(&msg)
    );
    if let Some(e) = list.error() {
        body.push_str(&format!("<div class=\"problem\">{}</div>", esc(&e)));
    }
    body.push_str("<div class=\"card\"><table id=\"media\"><thead><tr><th>Name</th><th>Media key</th><th>Kind</th><th>Status</th><th>Added</th></tr></thead><tbody>");
    let rows = list.data();
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"5\" class=\"note\">No media yet.</td></tr>");
    }
    let s = |v: &Value| v.as_str().map(esc).unwrap_or_else(|| "—".into());
    for m in &rows {
        body.push_str(&format!(
            "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s(if m["name"].is_null() {
                &m["file_name"]
            } else {
                &m["name"]
            }),
            s(&m["media_key"]),
            s(if m["media_category"].is_null() {
                &m["media_type"]
            } else {
                &m["media_category"]
            }),
            s(&m["media_status"]),
            s(&m["created_at"]),
        ));
    }
    body.push_str("</tbody></table></div>");
    // Multipart forms cannot be read twice, so the CSRF token rides in the action's query.
    body.push_str(&format!(
        "<div class=\"card\"><h2 style=\"margin-top:0\">Upload</h2>\
<form method=\"post\" enctype=\"multipart/form-data\" action=\"/media/upload?account={}&amp;csrf={}\" id=\"upload\">\
<div class=\"row\"><div><label for=\"file\">Image or video</label><input id=\"file\" type=\"file\" name=\"file\" required accept=\"image/*,video/mp4,video/quicktime\"></div>\
<div><label for=\"mname\">Name</label><input id=\"mname\" name=\"name\" maxlength=\"100\"></div>\
<div><button class=\"primary\" type=\"submit\">Upload</button></div></div></form>\
<p class=\"note\">PNG, JPEG or WebP up to {} MB, GIF up to {} MB, MP4/MOV video up to {} MB; videos are processed by X before they can be used.</p></div>",
        q(account_id),
        q(&user.0.csrf),
        sniff::IMAGE_LIMIT / sniff::MB,
        sniff::GIF_LIMIT / sniff::MB,
        sniff::VIDEO_LIMIT / sniff::MB,
    ));
    render(user, "Media", Nav::Media, &body)
}

async fn upload(
    State(state): State<AppState>,
    user: User,
    Query(qs): Query<Fields>,
    req: Request,
) -> Response {
    if let Some(r) = user.csrf_rejection(qs.get("csrf").map(String::as_str)) {
        return r;
    }
    let account = qs.get("account").cloned().unwrap_or_default();
    let (parts, body) = req.into_parts();
    let mut fwd = axum::http::Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/x_ads/accounts/{}/media", q(&account)));
    for h in [
        axum::http::header::CONTENT_TYPE,
        axum::http::header::CONTENT_LENGTH,
    ] {
        if let Some(v) = parts.headers.get(&h) {
            fwd = fwd.header(h, v.clone());
        }
    }
    let Ok(fwd) = fwd.body(Body::new(body)) else {
        return see_other("/media");
    };
    let resp = api::raw(&state, &user.0.tenant, fwd).await;
    let status = resp.status();
    if status.is_success() {
        return see_other(&format!("/media?account={}&done=1", q(&account)));
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let e = v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("upload failed ({status})"));
    media_page(&state, &user, Some(&account), Some(Err(e))).await
}
