//! The media library of an ad account, with upload: once the form's leading `csrf` part is
//! checked, the rest streams through the API route's own receiver ([`web::media::receive_form`])
//! into [`media::create`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;

use super::list::{Key, Listing, base_of, words};
use super::view::Media;
use super::{Fields, Picker, dry_tag, problem, render, scope, see_other};
use crate::app::AppState;
use crate::media::{self, sniff};
use crate::ui::html::{Nav, csrf_field, flash, q, scroll, thumb};
use crate::ui::session::{CsrfForm, CsrfMultipart, User};
use crate::web;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/media", get(page))
        .route(
            "/media/upload",
            post(upload).layer(DefaultBodyLimit::max(web::media::BODY_LIMIT)),
        )
        .route(
            "/media/{account}/{key}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/media/preview", get(preview))
}

/// `GET /media/preview?src=<X's media URL>`: the image read through our origin (see
/// [`media::preview`]: allowed hosts only, bounded in size and time, an image by its bytes), for
/// a logged-in user; the pages show thumbnails from here and keep `img-src 'self'`.
async fn preview(State(state): State<AppState>, _user: User, Query(qs): Query<Fields>) -> Response {
    let src = qs.get("src").map(String::as_str).unwrap_or_default();
    match media::preview::fetch(&state.config.media_hosts, src).await {
        Ok(p) => (
            [
                (CONTENT_TYPE, p.content_type),
                (CACHE_CONTROL, "private, max-age=3600"),
            ],
            p.bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::info!(error = %e, "media preview not answered");
            web::error::ApiError::from(e).into_response()
        }
    }
}

async fn page(State(state): State<AppState>, user: User, Query(qs): Query<Fields>) -> Response {
    let msg = qs.get("done").map(|done| {
        Ok(match done.as_str() {
            "deleted" => "Deleted from the media library.",
            _ => "Uploaded to the media library.",
        }
        .to_owned())
    });
    media_page(&state, &user, &qs, msg).await
}

/// A duration in milliseconds as `m:ss`.
fn duration(ms: i64) -> String {
    let s = (ms + 500) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The status filter's value of an item: ready, processing or failed.
fn state_of(m: &Media) -> &'static str {
    match m.status.as_deref() {
        Some("TRANSCODE_COMPLETED") | None => "ready",
        Some(s) if s.contains("FAIL") => "failed",
        Some(_) => "processing",
    }
}

async fn media_page(
    state: &AppState,
    user: &User,
    qs: &Fields,
    msg: Option<Result<String, String>>,
) -> Response {
    let requested = qs.get("account");
    let picker = match Picker::load(state, user, requested, ("/media", "Media", Nav::Media)).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let account_id = &picker.current.id;
    // What `GET /api/v1/x_ads/accounts/{id}/media` lists, every page of it (its cursors).
    let list = match scope(state, user, account_id, None) {
        Ok(scope) => super::all_pages(|cursor| {
            let scope = &scope;
            async move {
                let page = media::page(
                    scope,
                    false,
                    cursor.as_deref(),
                    Some(crate::manage::paging::MAX_COUNT),
                )
                .await?;
                Ok::<_, crate::manage::ManageError>((page.entries, page.next_cursor))
            }
        })
        .await
        .map_err(problem),
        Err(e) => Err(e),
    };
    let rows: Vec<Media> = match &list {
        Ok(entries) => entries.iter().map(|e| Media::from_api(&e.0)).collect(),
        Err(_) => vec![],
    };
    let s = |v: &Option<String>| v.as_deref().unwrap_or("—").to_owned();
    let listing = Listing::from_query(qs, "", "added");
    let page = listing.apply(
        rows,
        |m| m.name.as_deref().unwrap_or_default(),
        |m| state_of(m),
        |m, key| match key {
            "name" => Key::Text(m.name.clone().unwrap_or_default()),
            "type" => Key::Text(m.kind.clone().unwrap_or_default()),
            "duration" => Key::Num(m.duration_ms.map(|d| d as f64)),
            "status" => Key::Text(state_of(m).to_owned()),
            _ => Key::Text(m.created_at.clone().unwrap_or_default()),
        },
    );
    let hidden = [("account", account_id.as_str())];
    let here = base_of("/media", &hidden);
    let body = html! {
        h1 { "Media library" }
        (picker.tabs())
        (flash(&msg))
        @if let Err(e) = &list {
            div class="problem" { (e) }
        }
        div class="card" {
            (listing.controls("/media", &hidden, "media",
                &[("ready", "Ready"), ("processing", "Processing"), ("failed", "Failed")]))
            (scroll("Media library", html! {
                table id="media" {
                    thead {
                        tr {
                            th { span class="note" { "Preview" } }
                            (listing.th(&here, "name", "Name", false))
                            (listing.th(&here, "type", "Type", false))
                            (listing.th(&here, "duration", "Duration", true))
                            th { "Aspect ratio" }
                            (listing.th(&here, "status", "Status", false))
                            (listing.th(&here, "added", "Added", false))
                            th { span class="note" { "Actions" } }
                        }
                    }
                    tbody {
                        @if page.rows.is_empty() {
                            tr { td colspan="8" class="note" { "No media yet." } }
                        }
                        @for m in &page.rows {
                            tr {
                                td { (thumb(m.preview_url.as_deref())) }
                                td {
                                    (s(&m.name)) (dry_tag(m.dry_run))
                                    div class="note mono" { (s(&m.media_key)) }
                                }
                                td { (m.kind.as_deref().or(m.media_type.as_deref()).map(words).unwrap_or_else(|| "—".into())) }
                                td class="n" { (m.duration_ms.map(duration).unwrap_or_else(|| "—".into())) }
                                td { (s(&m.aspect_ratio)) }
                                td {
                                    @match state_of(m) {
                                        "ready" => { span class="badge b-ok" { "Ready" } }
                                        "failed" => { span class="badge b-bad" { "Failed" } }
                                        _ => { span class="badge b-warn" { (m.status.as_deref().map(words).unwrap_or_default()) } }
                                    }
                                }
                                td { (m.created_at.as_deref().map(|t| t.get(..10).unwrap_or(t)).unwrap_or("—")) }
                                td {
                                    @if let Some(key) = &m.media_key {
                                        a class="btn" href={ "/media/" (q(account_id)) "/" (q(key)) "/delete" }
                                            aria-label={ "Delete " (m.name.as_deref().unwrap_or(key)) "…" } { "Delete…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }))
            (listing.pager(&here, &page, "media items"))
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
    let qs = Fields::from([("account".to_owned(), account.clone())]);
    let scope = match scope(&state, &user, &account, None) {
        Ok(s) => s,
        Err(e) => return super::refused(media_page(&state, &user, &qs, Some(Err(e))).await),
    };
    // What `POST …/media` does, minus the Idempotency-Key (a page post has none): the unknown
    // account is refused before the file is read, then the same receive and checks.
    if let Err(e) = scope.check_account().await {
        return super::refused(media_page(&state, &user, &qs, Some(Err(problem(e)))).await);
    }
    let new = match web::media::receive_form(form).await {
        Ok(new) => new,
        Err(refused) => {
            let page = media_page(&state, &user, &qs, Some(Err(refused.error.message))).await;
            let page = super::refused(page);
            return web::media::Refused::closing(refused.drained, page);
        }
    };
    match media::create(&scope, &new).await {
        Ok(_) => see_other(&format!("/media?account={}&done=1", q(&account))),
        Err(e) => super::refused(media_page(&state, &user, &qs, Some(Err(problem(e)))).await),
    }
}

/// The media page of `account` with a problem shown.
async fn account_page_with(state: &AppState, user: &User, account: &str, e: String) -> Response {
    let qs = Fields::from([("account".to_owned(), account.to_owned())]);
    media_page(state, user, &qs, Some(Err(e))).await
}

/// The entry `key` of `account`, as `DELETE …/media/{id}` would find it.
async fn entry(state: &AppState, user: &User, account: &str, key: &str) -> Result<Media, String> {
    let scope = scope(state, user, account, None)?;
    let Some(key) = web::ids::media_key(key) else {
        scope.check_account().await.map_err(problem)?;
        return Err(problem(crate::manage::ManageError::NotFound("media")));
    };
    let e = media::get(&scope, key).await.map_err(problem)?;
    Ok(Media::from_api(&e.0))
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: User,
    Path((account, key)): Path<(String, String)>,
) -> Response {
    let m = match entry(&state, &user, &account, &key).await {
        Ok(m) => m,
        Err(e) => return account_page_with(&state, &user, &account, e).await,
    };
    let body = html! {
        h1 { "Delete from the media library?" }
        div class="card" {
            p {
                "Delete " strong { (m.name.as_deref().unwrap_or("this item")) } " "
                span class="mono" { (key) }
                "? It is removed from the ad account's media library at X; tweets already using it are not changed."
            }
            form method="post" action={ "/media/" (q(&account)) "/" (q(&key)) "/delete" } {
                (csrf_field(&user.0.csrf))
                button class="danger" type="submit" id="confirm-delete" { "Delete media" }
                " "
                a class="btn" href={ "/media?account=" (q(&account)) } { "Cancel" }
            }
        }
    };
    render(&user, "Delete media", Nav::Media, body)
}

async fn delete(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
    CsrfForm(user, _): CsrfForm<Fields>,
) -> Response {
    let path = format!("/api/v1/x_ads/accounts/{}/media/{}", q(&account), q(&key));
    let result = async {
        let scope = scope(&state, &user, &account, None)?;
        let key = entry(&state, &user, &account, &key)
            .await?
            .media_key
            .unwrap_or(key);
        super::write(&scope, Method::DELETE, &path, None, || {
            media::delete(&scope, &key)
        })
        .await
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/media?account={}&done=deleted", q(&account))),
        Err(e) => account_page_with(&state, &user, &account, e).await,
    }
}
