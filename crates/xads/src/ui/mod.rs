//! The web UI (PRODUCT.md §6): server-rendered pages with no external assets, usable without
//! JavaScript. Login with the tenant key starts a server-side session; every POST handler takes
//! its form through [`session::CsrfForm`] (or [`session::CsrfMultipart`]), which checks the
//! session's CSRF token before the handler runs. Pages are maud templates ([`html`]), so every
//! outside value is escaped by construction. The pages call the domain directly, with the
//! API's scope, id checks, idempotency and error texts (`web::manage`, `web::ids`,
//! `web::error`, and the functions the `web::integrations` / `web::reports` handlers answer
//! from); only the media upload still streams its body to the `/api/v1` handler dispatched in
//! process ([`api`]). Either way the UI holds no business logic of its own.

pub mod html;
mod pages;
pub use pages::{ReportCache, connect_failed_page};
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
        Html(
            html::notice_page(
                "Something went wrong",
                "Something went wrong",
                "The error was logged. Try again.",
            )
            .into_string(),
        ),
    )
        .into_response()
}
