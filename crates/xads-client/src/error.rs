//! The one error type of the client.
//!
//! Every public method returns [`XError`]. Its `Display` is the user-facing text of PRODUCT.md §4.9
//! (`X Ads <operation>: <status> — <message>`), so callers can show it as is. Nothing in an error
//! ever carries a token, code, verifier or secret.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::gate::{GateError, RateLimitInfo};

/// An error code as X sends it: a CAPS_CASE string (`INVALID_PARAMETER`) from the Ads API, or a
/// number (e.g. `215`) from the legacy v1.1 gateway.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// The Ads API's string codes.
    Text(String),
    /// The legacy gateway's numeric codes.
    Number(i64),
}

impl ErrorCode {
    /// The code as text (numbers are printed in decimal).
    pub fn as_string(&self) -> String {
        match self {
            ErrorCode::Text(s) => s.clone(),
            ErrorCode::Number(n) => n.to_string(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Text(s) => f.write_str(s),
            ErrorCode::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One item of X's `errors` array: X's error object (our own API's error is
/// `xads::web::error::ApiError`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct XErrorItem {
    /// X's error code; `None` when the body had none (e.g. non-JSON bodies).
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// Human text from X.
    #[serde(default, alias = "detail")]
    pub message: String,
    /// The offending parameter (current API).
    #[serde(default)]
    pub parameter: Option<String>,
    /// The offending attribute (older API versions use this instead of `parameter`).
    #[serde(default)]
    pub attribute: Option<String>,
    /// Extra detail from X.
    #[serde(default)]
    pub details: Option<String>,
    /// The rejected value, as X echoed it (may be any JSON type).
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl XErrorItem {
    /// An error item made by the client when X's body said nothing usable.
    pub fn synthetic(message: impl Into<String>) -> Self {
        XErrorItem {
            code: None,
            message: message.into(),
            parameter: None,
            attribute: None,
            details: None,
            value: None,
        }
    }
}

/// Everything that can go wrong talking to X.
#[derive(Debug, thiserror::Error)]
pub enum XError {
    /// X answered with a non-2xx status (Ads or X API v2 error envelope, or a non-JSON body).
    #[error("X Ads {operation}: {status} — {}", first_message(errors))]
    Api {
        /// Our name of the call (`create_campaign`).
        operation: &'static str,
        /// The HTTP status; authoritative even when the body is not JSON.
        status: u16,
        /// X's `errors` array (one synthetic item for non-JSON bodies).
        errors: Vec<XErrorItem>,
        /// The rate-limit headers of the error response (boxed to keep `XError` small).
        rate_limit: Box<RateLimitInfo>,
        /// `retry-after`, when X sent it.
        retry_after: Option<Duration>,
        /// `x-transaction` / `x-request-id`, when X sent one.
        request_id: Option<String>,
    },
    /// An OAuth 2.0 endpoint (token, revoke) answered `{error, error_description}`.
    #[error("X Ads {operation}: {status} — {}", description.as_deref().unwrap_or(error))]
    OAuth {
        /// Our name of the call (`exchange_code`).
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The RFC 6749 error code (`invalid_request`, `invalid_grant`, ...).
        error: String,
        /// X's `error_description`.
        description: Option<String>,
    },
    /// No usable answer: timeout, connection refused or dropped.
    #[error("X Ads {operation}: transport error — {message}")]
    Transport {
        /// Our name of the call.
        operation: &'static str,
        /// True when the request may have reached X (it may have been executed).
        ambiguous: bool,
        /// True when the cause was a timeout.
        timeout: bool,
        /// What happened (never contains a header or a secret).
        message: String,
    },
    /// X answered 2xx, but the body did not match the expected shape.
    #[error("X Ads {operation}: {status} — could not decode response: {message}")]
    Decode {
        /// Our name of the call.
        operation: &'static str,
        /// The HTTP status of the response.
        status: u16,
        /// The decoder's complaint.
        message: String,
    },
    /// The request broke one of X's documented rules; it was not sent.
    #[error("X Ads {operation}: invalid request — {message}")]
    Invalid {
        /// Our name of the call.
        operation: &'static str,
        /// Which rule and why.
        message: String,
    },
    /// The rate gate refused a slot.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The signer could not sign the request.
    #[error("X Ads request signing failed: {0}")]
    Signing(String),
    /// The client was configured wrongly (bad base URL, TLS setup, ...).
    #[error("X Ads client configuration: {0}")]
    Config(String),
}

/// What kind of failure an [`XError`] is, for deciding what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 400: the request was wrong (`INVALID_PARAMETER`, ...). Fix the input.
    BadRequest,
    /// 401, or the legacy gateway's auth codes on a 400: the token is bad or expired. Re-connect.
    Unauthorized,
    /// 403 (`ACCOUNT_NOT_FOUND`, `UNAUTHORIZED_CLIENT_APPLICATION`, ...): no access.
    Forbidden,
    /// 404 (`NOT_FOUND`, `CAMPAIGN_NOT_FOUND`, ...), including deleted entities.
    NotFound,
    /// 429: X's rate limit; X did not execute the call.
    RateLimited,
    /// Other non-2xx statuses: 405, 408, 409, 423, ..., and 3xx (redirects are not followed).
    OtherClient,
    /// 503: X is over capacity.
    Unavailable,
    /// Other 5xx.
    Server,
    /// No response (timeout, connection refused or dropped).
    Transport,
    /// A 2xx with an unexpected body.
    Decode,
    /// Refused locally: invalid request, gate, signing or configuration.
    Local,
}

/// Legacy v1.1 gateway codes that mean "bad credentials" even when sent with HTTP 400:
/// 32 could not authenticate, 89 invalid or expired token, 215 bad authentication data.
const LEGACY_AUTH_CODES: [i64; 3] = [32, 89, 215];

fn first_message(errors: &[XErrorItem]) -> &str {
    errors.first().map(|e| e.message.as_str()).unwrap_or("")
}

impl XError {
    /// The HTTP status X answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            XError::Api { status, .. }
            | XError::OAuth { status, .. }
            | XError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// X's first error code (`INVALID_PARAMETER`, `215`, or the OAuth `error`).
    pub fn first_code(&self) -> Option<String> {
        match self {
            XError::Api { errors, .. } => errors
                .first()
                .and_then(|e| e.code.as_ref())
                .map(ErrorCode::as_string),
            XError::OAuth { error, .. } => Some(error.clone()),
            _ => None,
        }
    }

    /// The operation name the error belongs to, when known.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            XError::Api { operation, .. }
            | XError::OAuth { operation, .. }
            | XError::Transport { operation, .. }
            | XError::Decode { operation, .. }
            | XError::Invalid { operation, .. } => Some(operation),
            _ => None,
        }
    }

    /// Turns a broken rule of `operation`'s query (its `validate()` message) into
    /// [`XError::Invalid`]: `query.validate().map_err(XError::invalid(OP))?`.
    pub fn invalid(operation: &'static str) -> impl FnOnce(String) -> XError {
        move |message| XError::Invalid { operation, message }
    }

    /// The rate-limit headers that came with an API error.
    pub fn rate_limit(&self) -> Option<&RateLimitInfo> {
        match self {
            XError::Api { rate_limit, .. } => Some(rate_limit),
            _ => None,
        }
    }

    /// True for failures a read may be retried on: 429, 5xx, transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            XError::Api { status, .. } => *status == 429 || *status >= 500,
            XError::Transport { .. } => true,
            _ => false,
        }
    }

    /// True when X may have executed the call although we saw no success: a timeout or a dropped
    /// connection after the request was sent, or any 5xx (X does not say whether it did the work).
    pub fn is_ambiguous(&self) -> bool {
        match self {
            XError::Transport { ambiguous, .. } => *ambiguous,
            XError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The class of failure (by HTTP status, as x-ads-api.md §1 maps X's codes).
    pub fn class(&self) -> ErrorClass {
        match self {
            XError::Api { status, errors, .. } => {
                let legacy_auth = errors.iter().any(|e| {
                    matches!(e.code, Some(ErrorCode::Number(n)) if LEGACY_AUTH_CODES.contains(&n))
                });
                match status {
                    400 if legacy_auth => ErrorClass::Unauthorized,
                    400 => ErrorClass::BadRequest,
                    401 => ErrorClass::Unauthorized,
                    403 => ErrorClass::Forbidden,
                    404 => ErrorClass::NotFound,
                    429 => ErrorClass::RateLimited,
                    503 => ErrorClass::Unavailable,
                    500..=599 => ErrorClass::Server,
                    _ => ErrorClass::OtherClient,
                }
            }
            XError::OAuth { status, error, .. } => match (*status, error.as_str()) {
                (401, _) | (_, "invalid_client") => ErrorClass::Unauthorized,
                (429, _) => ErrorClass::RateLimited,
                (503, _) => ErrorClass::Unavailable,
                (500..=599, _) => ErrorClass::Server,
                _ => ErrorClass::BadRequest,
            },
            XError::Transport { .. } => ErrorClass::Transport,
            XError::Decode { .. } => ErrorClass::Decode,
            XError::Invalid { .. } | XError::Gate(_) | XError::Signing(_) | XError::Config(_) => {
                ErrorClass::Local
            }
        }
    }

    /// True for 429.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// The text a caller of ours may be shown: the `Display` text, except where that carries
    /// internals. A transport failure says only which kind it was (its error chain names URLs,
    /// addresses and sockets); a signing or configuration failure says nothing of its cause.
    /// Whoever shows this logs the `Display` text once, for the operator.
    pub fn public_message(&self) -> String {
        match self {
            XError::Transport {
                operation,
                ambiguous,
                timeout,
                ..
            } => {
                let what = if *timeout {
                    "X did not answer in time"
                } else if *ambiguous {
                    "the connection to X failed"
                } else {
                    "X could not be reached"
                };
                format!("X Ads {operation}: transport error — {what}")
            }
            XError::Signing(_) => "X Ads request signing failed".into(),
            XError::Config(_) => "X Ads client configuration error".into(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> XError {
        XError::Api {
            operation: "create_campaign",
            status,
            errors: vec![XErrorItem {
                code: Some(ErrorCode::Text("TOO_MANY_REQUESTS".into())),
                ..XErrorItem::synthetic(message)
            }],
            rate_limit: Box::default(),
            retry_after: None,
            request_id: None,
        }
    }

    #[test]
    fn api_error_display_is_the_product_text() {
        assert_eq!(
            api(429, "Rate limit exceeded").to_string(),
            "X Ads create_campaign: 429 — Rate limit exceeded"
        );
    }

    #[test]
    fn oauth_error_display_prefers_description() {
        let e = XError::OAuth {
            operation: "refresh_token",
            status: 400,
            error: "invalid_request".into(),
            description: Some("Value passed for the token was invalid.".into()),
        };
        assert_eq!(
            e.to_string(),
            "X Ads refresh_token: 400 — Value passed for the token was invalid."
        );
        assert_eq!(e.first_code().as_deref(), Some("invalid_request"));
    }

    #[test]
    fn code_may_be_text_or_number() {
        let e: XErrorItem =
            serde_json::from_str(r#"{"code":215,"message":"Bad Authentication data."}"#).unwrap();
        assert_eq!(e.code, Some(ErrorCode::Number(215)));
        let e: XErrorItem =
            serde_json::from_str(r#"{"code":"INVALID","attribute":"name"}"#).unwrap();
        assert_eq!(e.code.unwrap().as_string(), "INVALID");
        assert_eq!(e.attribute.as_deref(), Some("name"));
    }

    #[test]
    fn status_classes() {
        assert_eq!(api(400, "x").class(), ErrorClass::BadRequest);
        assert_eq!(api(401, "x").class(), ErrorClass::Unauthorized);
        assert_eq!(api(403, "x").class(), ErrorClass::Forbidden);
        assert_eq!(api(404, "x").class(), ErrorClass::NotFound);
        assert_eq!(api(423, "x").class(), ErrorClass::OtherClient);
        assert_eq!(api(429, "x").class(), ErrorClass::RateLimited);
        assert_eq!(api(503, "x").class(), ErrorClass::Unavailable);
        assert_eq!(api(504, "x").class(), ErrorClass::Server);
        let legacy = XError::Api {
            operation: "list_accounts",
            status: 400,
            errors: vec![XErrorItem {
                code: Some(ErrorCode::Number(215)),
                ..XErrorItem::synthetic("Bad Authentication data.")
            }],
            rate_limit: Box::default(),
            retry_after: None,
            request_id: None,
        };
        assert_eq!(legacy.class(), ErrorClass::Unauthorized);
    }

    #[test]
    fn retry_classes() {
        assert!(api(429, "x").is_retryable());
        assert!(api(502, "x").is_retryable());
        assert!(!api(400, "x").is_retryable());
        assert!(api(500, "x").is_ambiguous());
        assert!(api(503, "x").is_ambiguous());
        assert!(!api(429, "x").is_ambiguous());
        let t = XError::Transport {
            operation: "x",
            ambiguous: false,
            timeout: false,
            message: "refused".into(),
        };
        assert!(t.is_retryable() && !t.is_ambiguous());
    }

    #[test]
    fn public_message_hides_transport_chains_and_local_causes() {
        let t = XError::Transport {
            operation: "list_campaigns",
            ambiguous: true,
            timeout: false,
            message: "error sending request for url (http://127.0.0.1:9/12/accounts): connection closed before message completed".into(),
        };
        assert_eq!(
            t.public_message(),
            "X Ads list_campaigns: transport error — the connection to X failed"
        );
        assert!(
            t.to_string().contains("http://127.0.0.1:9"),
            "the log keeps it"
        );
        let c = XError::Config("base URL http://user:pw@host is not a base".into());
        assert_eq!(c.public_message(), "X Ads client configuration error");
        // X's own refusals are shown as they are (PRODUCT.md §4.9).
        assert_eq!(
            api(429, "Rate limit exceeded").public_message(),
            api(429, "Rate limit exceeded").to_string()
        );
    }
}
