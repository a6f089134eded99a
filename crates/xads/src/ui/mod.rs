//! The web UI (PRODUCT.md §6): server-rendered pages with no external assets, usable without
//! JavaScript. Login with the tenant key starts a server-side session; every form carries the
//! session's CSRF token. Pages reach data and actions through the same `/api/v1` handlers,
//! dispatched in process ([`api`]), so the UI holds no business logic of its own.

pub mod api;
pub mod html;
mod pages;
pub mod session;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// The UI's routes (merged into the service's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(css))
        .merge(pages::routes())
}

async fn css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        html::CSS,
    )
        .into_response()
}

/// A 500 page; the cause is logged, not shown.
pub fn failure(cause: &str) -> Response {
    tracing::error!(error = %cause, "ui failure");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(html::bare_page(
            "Something went wrong",
            "<main class=\"login card\"><h1>Something went wrong</h1><p>The error was logged. Try again.</p>\
             <p><a href=\"/integrations\">Integrations</a></p></main>",
        )),
    )
        .into_response()
}
