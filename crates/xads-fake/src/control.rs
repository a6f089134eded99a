//! `/__fake/...`: the test controls over HTTP, for a fake running in another process.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::FaultRule;
use crate::state::FakeState;

/// `GET /__fake/ledger`.
pub async fn ledger(State(st): State<FakeState>) -> Response {
    Json(st.ledger()).into_response()
}

/// `DELETE /__fake/ledger`.
pub async fn clear_ledger(State(st): State<FakeState>) -> Response {
    st.clear_ledger();
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /__fake/faults`: one rule or an array of rules.
pub async fn add_faults(State(st): State<FakeState>, Json(v): Json<Value>) -> Response {
    let rules: Result<Vec<FaultRule>, _> = if v.is_array() {
        serde_json::from_value(v)
    } else {
        serde_json::from_value(v).map(|r| vec![r])
    };
    match rules {
        Ok(rules) => {
            let n = rules.len();
            for r in rules {
                st.add_fault(r);
            }
            (StatusCode::CREATED, Json(json!({ "added": n }))).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// `GET /__fake/faults`.
pub async fn list_faults(State(st): State<FakeState>) -> Response {
    Json(st.faults()).into_response()
}

/// `DELETE /__fake/faults`.
pub async fn clear_faults(State(st): State<FakeState>) -> Response {
    st.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /__fake/state`.
pub async fn state(State(st): State<FakeState>) -> Response {
    Json(st.snapshot()).into_response()
}

/// Body of `POST /__fake/clock`.
#[derive(Debug, Deserialize)]
pub struct ClockBody {
    /// Seconds to move the clock (negative moves back).
    #[serde(default)]
    pub advance_secs: i64,
}

/// `POST /__fake/clock` `{advance_secs}` → `{now}`.
pub async fn clock(State(st): State<FakeState>, Json(b): Json<ClockBody>) -> Response {
    st.advance_clock(Duration::seconds(b.advance_secs));
    Json(json!({ "now": crate::model::fmt_time(st.now()) })).into_response()
}

/// `POST /__fake/tokens/expire`.
pub async fn expire_tokens(State(st): State<FakeState>) -> Response {
    st.expire_access_tokens();
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /__fake/tokens` and `POST /__fake/grants/revoke`.
#[derive(Debug, Deserialize)]
pub struct UserBody {
    /// X user id (the seeded main user when absent).
    pub user_id: Option<String>,
    /// Scopes for minted tokens.
    pub scope: Option<String>,
}

/// `POST /__fake/tokens` `{user_id?, scope?}`: mints a token pair without the browser flow.
pub async fn mint_tokens(State(st): State<FakeState>, Json(b): Json<UserBody>) -> Response {
    let user = b.user_id.unwrap_or_else(|| st.seed_info().user_id);
    let scope = b
        .scope
        .unwrap_or_else(|| "ads.read ads.write offline.access media.write".into());
    Json(st.issue_tokens(&user, &scope)).into_response()
}

/// `POST /__fake/grants/revoke` `{user_id}`.
pub async fn revoke_grants(State(st): State<FakeState>, Json(b): Json<UserBody>) -> Response {
    let user = b.user_id.unwrap_or_else(|| st.seed_info().user_id);
    st.revoke_grants_for_user(&user);
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /__fake/revise`.
#[derive(Debug, Deserialize)]
pub struct ReviseBody {
    /// Entity id.
    pub entity_id: String,
    /// The hour to revise.
    pub hour: DateTime<Utc>,
}

/// `POST /__fake/revise` `{entity_id, hour}` → `{revision}`.
pub async fn revise(State(st): State<FakeState>, Json(b): Json<ReviseBody>) -> Response {
    Json(json!({ "revision": st.revise(&b.entity_id, b.hour) })).into_response()
}

/// `POST /__fake/rate_limits/reset`.
pub async fn reset_rate_limits(State(st): State<FakeState>) -> Response {
    st.reset_rate_limits();
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /__fake/app`.
#[derive(Debug, Deserialize)]
pub struct AppBody {
    /// Whether the app is approved for the Ads API.
    pub approved: bool,
}

/// `POST /__fake/app` `{approved}`.
pub async fn app(State(st): State<FakeState>, Json(b): Json<AppBody>) -> Response {
    st.set_app_approved(b.approved);
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /__fake/tweets`.
#[derive(Debug, Deserialize)]
pub struct TweetBody {
    /// Account that may promote it.
    pub account_id: String,
    /// Text.
    #[serde(default)]
    pub text: String,
}

/// `POST /__fake/tweets` `{account_id, text}` → `{id}`: a new promotable tweet.
pub async fn add_tweet(State(st): State<FakeState>, Json(b): Json<TweetBody>) -> Response {
    Json(json!({ "id": st.add_tweet(&b.account_id, &b.text) })).into_response()
}

/// `GET /__fake/jobs?account_id=` → `{settings, jobs}`: the job settings and an account's jobs.
pub async fn jobs(
    State(st): State<FakeState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let jobs = q
        .get("account_id")
        .map(|a| st.stats_jobs(a))
        .unwrap_or_default();
    Json(json!({ "settings": st.job_settings(), "jobs": jobs })).into_response()
}

/// `POST /__fake/jobs` `{settings?: {polls, processing_secs, result_ttl_secs, concurrency_limit},
/// fail?: job_id, expire?: job_id}` → the settings in force.
pub async fn jobs_control(
    State(st): State<FakeState>,
    Json(b): Json<crate::jobs::JobControl>,
) -> Response {
    match crate::jobs::apply_control(&st, b) {
        Ok(settings) => Json(json!({ "settings": settings })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({ "error": e }))).into_response(),
    }
}
