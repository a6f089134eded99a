//! The media library of an ad account, with upload (multipart, forwarded as is to the API once
//! its leading `csrf` part is checked and taken out).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::Response;
use axum::routing::{get, post};
use maud::html;
use serde_json::Value;

use super::view::Media;
use super::{Fields, Picker, problem, render, scope, see_other};
use crate::app::AppState;
use crate::media::{self, sniff};
use crate::ui::api;
use crate::ui::html::{Nav, csrf_field, flash, q};
use crate::ui::session::{CsrfMultipart, User};

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
    let picker = match Picker::load(state, user, requested, ("/media", "Media", Nav::Media)).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let account_id = &picker.current.id;
    // What `GET /api/v1/x_ads/accounts/{id}/media` lists (its first page of 200).
    let list = match scope(state, user, account_id, None) {
        Ok(scope) => media::page(&scope, false, None, None)
            .await
            .map_err(problem),
        Err(e) => Err(e),
    };
    let rows: Vec<Media> = match &list {
        Ok(page) => page.entries.iter().map(|e| Media::from_api(&e.0)).collect(),
        Err(_) => vec![],
    };
    let s = |v: &Option<String>| v.as_deref().unwrap_or("—").to_owned();
    let body = html! {
        h1 { "Media library" }
        (picker.tabs())
        (flash(&msg))
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            table id="media" {
                thead {
                    tr {
                        th { "Name" } th { "Media key" } th { "Kind" } th { "Status" } th { "Added" }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr { td colspan="5" class="note" { "No media yet." } }
                    }
                    @for m in &rows {
                        tr {
                            td { (s(&m.name)) }
                            td class="mono" { (s(&m.media_key)) }
                            td { (s(&m.kind)) }
                            td { (s(&m.status)) }
                            td { (s(&m.created_at)) }
                        }
                    }
                }
            }
        }
        div class="card" {
            h2 style="margin-top:0" { "Upload" }
            // The CSRF field must be the form's first part: the upload route reads it before
            // the file (browsers send the parts in the form's order).
            form method="post" enctype="multipart/form-data"
                action={ "/media/upload?account=" (q(account_id)) } id="upload" {
                (csrf_field(&user.0.csrf))
                div class="row" {
                    div {
                        label for="file" { "Image or video" }
                        input id="file" type="file" name="file" required
                            accept="image/*,video/mp4,video/quicktime";
                    }
                    div {
                        label for="mname" { "Name" }
                        input id="mname" name="name" maxlength="100";
                    }
                    div { button class="primary" type="submit" { "Upload" } }
                }
            }
            p class="note" {
                "PNG, JPEG or WebP up to " (sniff::IMAGE_LIMIT / sniff::MB) " MB, GIF up to "
                (sniff::GIF_LIMIT / sniff::MB) " MB, MP4/MOV video up to "
                (sniff::VIDEO_LIMIT / sniff::MB)
                " MB; videos are processed by X before they can be used."
            }
        }
    };
    render(user, "Media", Nav::Media, body)
}

async fn upload(
    State(state): State<AppState>,
    Query(qs): Query<Fields>,
    CsrfMultipart { user, form }: CsrfMultipart,
) -> Response {
    let account = qs.get("account").cloned().unwrap_or_default();
    let mut fwd = axum::http::Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/x_ads/accounts/{}/media", q(&account)))
        .header(CONTENT_TYPE, form.content_type);
    if let Some(n) = form.content_length {
        fwd = fwd.header(CONTENT_LENGTH, n);
    }
    let Ok(fwd) = fwd.body(form.body) else {
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
