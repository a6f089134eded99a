//! Login with the tenant key, logout, and `/`.

use axum::extract::State;
use axum::http::header::{HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;

use super::{Fields, field, see_other};
use crate::app::AppState;
use crate::store::{sessions, tenants};
use crate::ui::html::bare_page;
use crate::ui::session::{self, CsrfForm};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let logged_in = match session::token(&headers) {
        Some(t) => matches!(
            sessions::lookup(&state.db, &t, state.clock.now()).await,
            Ok(Some(_))
        ),
        None => false,
    };
    see_other(if logged_in { "/integrations" } else { "/login" })
}

fn login_page(problem: Option<&str>) -> String {
    bare_page(
        "Log in",
        html! {
            main class="login card" {
                h1 { "Paid UA dashboard" }
                p class="note" {
                    "Log in with your team's key (from "
                    span class="mono" { "xads tenant create" }
                    " or "
                    span class="mono" { "xads demo" }
                    ")."
                }
                @if let Some(p) = problem {
                    div class="problem" role="alert" { (p) }
                }
                form method="post" action="/login" {
                    label for="key" { "Login key" }
                    input id="key" name="key" type="password" autocomplete="current-password"
                        required autofocus;
                    p { button class="primary" type="submit" { "Log in" } }
                }
            }
        },
    )
    .into_string()
}

async fn login_form() -> Html<String> {
    Html(login_page(None))
}

/// True when the request's `Origin` (sent by browsers on POST) is another site than the one it
/// was sent to: the login form has no session yet, so this is its CSRF guard.
fn cross_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    match headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h);
            origin_host != host
        }
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    if cross_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            Html(login_page(Some("Log in from this site's own login page."))),
        )
            .into_response();
    }
    let Some(key) = field(&f, "key") else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_page(Some("Enter your login key."))),
        )
            .into_response();
    };
    let tenant = match tenants::by_api_key(&state.db, key).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                Html(login_page(Some("That key is not valid."))),
            )
                .into_response();
        }
        Err(e) => return crate::ui::failure(&e.to_string()),
    };
    let token = match sessions::create(&state.db, &tenant.id, state.clock.now()).await {
        Ok(t) => t,
        Err(e) => return crate::ui::failure(&e.to_string()),
    };
    tracing::info!(tenant.id = %tenant.id, "ui login");
    let mut resp = see_other("/integrations");
    if let Ok(v) = session::set_cookie(&state, Some(&token)).parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(_, _): CsrfForm<Fields>,
) -> Response {
    if let Some(t) = session::token(&headers)
        && let Err(e) = sessions::delete(&state.db, &t).await
    {
        return crate::ui::failure(&e.to_string());
    }
    let mut resp = see_other("/login");
    if let Ok(v) = session::set_cookie(&state, None).parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}
