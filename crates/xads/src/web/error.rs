//! The one error rule, and the one error type of the dashboard API.
//!
//! # Which error type each layer uses
//!
//! | layer | error type | what it says |
//! |---|---|---|
//! | X client (`xads-client`) | [`xads_client::XError`] | X's refusal (status, X's codes), transport, decode, local refusal |
//! | store (`store::*`, `db`) | [`DbError`] | the database failed; its text may hold SQL |
//! | domain: X session (`x`) | [`XSessionError`] | not connected, needs reconnect, refresh timeout, X, DB |
//! | domain: writes to X (`manage::exactly_once`) | [`WriteError`] | unresolved after reconciliation, in flight elsewhere, session, DB |
//! | domain: management, experiments, media (`manage`, `experiments`, `media`) | [`ManageError`] | invalid input ([`Invalid`]), not found, conflict, session, write, DB |
//! | domain: sync (`sync`) | [`SyncError`] | not found, invalid window, session, mirror refresh, DB |
//! | domain: connect (`connect`) | [`StartError`] for starting (a callback's failure is a value, [`crate::connect::CallbackProblem`], whose status `web::integrations` picks) | not configured, X, DB |
//! | below the domain: FX parsing (`fx`), uploads (`media::spool`), media previews (`media::preview`) | [`FxError`], [`SpoolError`], [`PreviewError`] | a bad field, a refused file, a preview not read |
//! | web (`web::*`) | [`ApiError`] | status, snake_case code, message, details |
//! | UI pages (`ui`) | the API's answers as they read them; their own failures go to `ui::failure` | a generic HTML page, the cause logged |
//! | CLI (`cli`, `commands`) | `anyhow::Error` with the domain error's text | the operator's own terminal |
//!
//! Every conversion into [`ApiError`] is a `From` impl in this module, so handlers write `?`;
//! nowhere else does a handler pick a status or code for a domain failure.
//!
//! # What a client may see
//!
//! - X's refusals as PRODUCT.md §4.9 writes them (`X Ads <operation>: <status> — <message>`),
//!   with X's codes and parameters under `x_errors`; the status is 429, 503, 422 (X's 4xx) or
//!   502. A transport failure says only which kind it was ([`XError::public_message`]): its
//!   chain names URLs and sockets.
//! - Validation failures (422 `validation_failed`) name their `field`.
//! - An internal failure (database, our own files, signing, configuration) is logged once here
//!   with its cause and answered as 500 `internal` with [`INTERNAL_MESSAGE`]: never SQL text or
//!   a driver's chain.
//!
//! # Stored failures
//!
//! A failure that is kept and shown later keeps a code and a safe message, never the cause:
//! an idempotent refusal stores the very body it answered ([`ApiError::body`], `details`
//! included), so its replay is byte-identical; a failed sync run stores
//! [`SyncError::code`] and [`SyncError::public_message`]; an experiment's or a connection's
//! `problem` is built from `public_message` too. The cause goes to the log where it happened.

use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use xads_client::XError;

use crate::connect::StartError;
use crate::db::{DbError, INTERNAL_MESSAGE};
use crate::fx::FxError;
use crate::manage::ManageError;
use crate::manage::exactly_once::WriteError;
use crate::manage::input::Invalid;
use crate::media::preview::PreviewError;
use crate::media::sniff::FileError;
use crate::media::spool::SpoolError;
use crate::sync::SyncError;
use crate::x::XSessionError;

/// An API error: status, snake_case code, human message, optional details (X's errors, fields).
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human text (PRODUCT.md §4.9 where one applies).
    pub message: String,
    /// Extra fields merged into the error object.
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// Adds fields to the error object (e.g. `parameter`, X's `errors`).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API key: send Authorization: Bearer <tenant API key>",
        )
    }
    /// 404 `not_found` (also for other tenants' ids: nothing about them is revealed).
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    /// 409 `not_connected`.
    pub fn not_connected() -> Self {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_connected",
            "X Ads is not connected: connect it on the Integrations page first",
        )
    }
    /// 422 `validation_failed` naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
        .with_details(json!({ "field": field }))
    }
    /// 500 `internal`, logging the cause once (it is never answered).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            INTERNAL_MESSAGE,
        )
    }

    /// The JSON body answered for this error: `{"error": {"code", "message", …details}}`. An
    /// idempotent refusal stores exactly this text, so a replay answers the same bytes.
    pub fn body(&self) -> String {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(Value::Object(extra)), Value::Object(obj)) = (&self.details, &mut error) {
            for (k, v) in extra {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        json!({ "error": error }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response()
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

// ---- the store ----

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::internal(e)
    }
}

// ---- axum's rejections of the request itself ----

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match &r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        let code = if status == StatusCode::UNPROCESSABLE_ENTITY {
            "validation_failed"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "file_too_large", e.body_text());
        }
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

// ---- X ----

impl From<XError> for ApiError {
    /// X's refusal after retries, as PRODUCT.md §5.1 wants it: 429/502/503, or X's 4xx as 422
    /// with its codes and parameters; the message as §4.9 writes it, without transport chains.
    fn from(e: XError) -> Self {
        let status = match crate::x::x_code(&e) {
            "x_rate_limited" => StatusCode::TOO_MANY_REQUESTS,
            "x_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "x_rejected" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_GATEWAY,
        };
        let message = e.public_message();
        if message != e.to_string() {
            // The detail the client is not shown, once, for the operator.
            tracing::warn!(error = %e, "X call failed");
        }
        let mut err = ApiError::new(status, crate::x::x_code(&e), message);
        if let XError::Api { errors, .. } = &e {
            err = err.with_details(json!({
                "x_status": e.status(),
                "x_errors": errors.iter().map(|x| json!({
                    "code": x.code.as_ref().map(|c| c.as_string()),
                    "message": x.message,
                    "parameter": x.parameter,
                })).collect::<Vec<_>>(),
            }));
        }
        err
    }
}

// ---- the domain ----

impl From<XSessionError> for ApiError {
    fn from(e: XSessionError) -> Self {
        match e {
            XSessionError::NotConnected => ApiError::not_connected(),
            XSessionError::NeedsReconnect(problem) => {
                ApiError::new(StatusCode::CONFLICT, "needs_reconnect", problem)
            }
            XSessionError::RefreshTimeout => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "x_unavailable",
                "timed out waiting for a token refresh; try again",
            ),
            XSessionError::X(x) => x.into(),
            XSessionError::Db(db) => db.into(),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        ApiError::invalid(&i.field, i.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Session(s) => s.into(),
            WriteError::Db(d) => d.into(),
            w @ WriteError::Unresolved { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "x_unresolved", w.to_string())
            }
            // The same request still executing elsewhere: the client's view is the in-flight
            // Idempotency-Key's (the inbound claim normally answers this first).
            WriteError::InFlight { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "a request with this Idempotency-Key is still being processed; retry later",
            ),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(i) => i.into(),
            ManageError::NotFound(what) => ApiError::not_found(what),
            ManageError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ManageError::Session(s) => s.into(),
            ManageError::Write(w) => w.into(),
            ManageError::Db(d) => d.into(),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotFound(what) => ApiError::not_found(what),
            SyncError::Invalid(m) => ApiError::invalid("from", m),
            SyncError::InvalidField(field, m) => ApiError::invalid(field, m),
            m @ SyncError::Job(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "x_job_failed", m.to_string())
            }
            SyncError::Session(s) => s.into(),
            SyncError::Db(d) => d.into(),
            m @ SyncError::Mirror(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "x_error", m.to_string())
            }
            m @ SyncError::AlreadyRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, "sync_running", m.to_string())
            }
        }
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::NotConfigured | StartError::OAuth1NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                e.to_string(),
            ),
            StartError::X(x) => x.into(),
            StartError::Db(db) => db.into(),
        }
    }
}

// ---- below the domain ----

impl From<FxError> for ApiError {
    fn from(e: FxError) -> Self {
        ApiError::invalid(&e.field, e.message)
    }
}

impl From<SpoolError> for ApiError {
    fn from(e: SpoolError) -> Self {
        match e {
            SpoolError::File(f @ FileError::TooLarge { .. }) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                f.to_string(),
            )
            .with_details(json!({ "field": "file" })),
            SpoolError::File(f @ FileError::Unsupported) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                f.to_string(),
            )
            .with_details(json!({ "field": "file" })),
            SpoolError::File(f) => ApiError::invalid("file", f.to_string()),
            SpoolError::Io(e) => ApiError::internal(e),
        }
    }
}

impl From<PreviewError> for ApiError {
    fn from(e: PreviewError) -> Self {
        match e {
            // A URL we do not read is answered as an unknown one: nothing to learn from it.
            PreviewError::NotAllowed => ApiError::not_found("preview"),
            other => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "preview_unavailable",
                other.to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport() -> XError {
        XError::Transport {
            operation: "list_campaigns",
            ambiguous: false,
            timeout: false,
            message: "error sending request for url (http://127.0.0.1:9/12/accounts/18ce54d4x5t/campaigns): client error (Connect): tcp connect error: Connection refused (os error 111)".into(),
        }
    }

    fn api(status: u16) -> XError {
        XError::Api {
            operation: "create_campaign",
            status,
            errors: vec![xads_client::XErrorItem::synthetic("refused")],
            rate_limit: Box::default(),
            retry_after: None,
            request_id: None,
        }
    }

    #[test]
    fn a_database_failure_answers_no_sql() {
        let e = ApiError::from(DbError::Sqlx(sqlx::Error::Protocol(
            "SELECT secret FROM tenants WHERE api_key_hash = $1: relation missing".into(),
        )));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            e.body(),
            r#"{"error":{"code":"internal","message":"internal error; it has been logged"}}"#
        );
    }

    #[test]
    fn a_transport_failure_answers_no_url_or_chain() {
        let e = ApiError::from(XSessionError::X(transport()));
        assert_eq!((e.status, e.code), (StatusCode::BAD_GATEWAY, "x_error"));
        let body = e.body();
        for leak in ["http", "127.0.0.1", "tcp", "os error", "Connect"] {
            assert!(!body.contains(leak), "{leak} in {body}");
        }
        assert!(
            body.contains("X Ads list_campaigns: transport error"),
            "{body}"
        );
    }

    #[test]
    fn details_are_part_of_the_body() {
        let e = ApiError::from(Invalid {
            field: "name".into(),
            message: "is required".into(),
        });
        assert_eq!(
            e.body(),
            r#"{"error":{"code":"validation_failed","field":"name","message":"name: is required"}}"#
        );
    }

    #[test]
    fn a_failed_runs_stored_code_is_the_code_the_api_answers() {
        let cases: Vec<fn() -> SyncError> = vec![
            || SyncError::NotFound("ad account"),
            || SyncError::Invalid("empty".into()),
            || SyncError::Mirror("entity refresh".into()),
            || SyncError::Db(DbError::Corrupt("x")),
            || SyncError::Session(XSessionError::NotConnected),
            || SyncError::Session(XSessionError::NeedsReconnect("again".into())),
            || SyncError::Session(XSessionError::RefreshTimeout),
            || SyncError::Session(XSessionError::X(transport())),
            || SyncError::Session(XSessionError::X(api(400))),
            || SyncError::Session(XSessionError::X(api(429))),
            || SyncError::Session(XSessionError::X(api(503))),
            || SyncError::Session(XSessionError::X(api(500))),
        ];
        for make in cases {
            let (e, api) = (make(), ApiError::from(make()));
            assert_eq!(e.code(), api.code, "{e:?}");
            let kept = e.public_message();
            for leak in ["http", "127.0.0.1", "os error", "database:"] {
                assert!(!kept.contains(leak), "{leak} kept in {kept}");
            }
        }
    }
}
