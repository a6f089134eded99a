//! X's envelopes and errors, and the request parameters (query string + form body) they echo.
//!
//! Every handler builds its answers here so success and error shapes stay identical across routes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Parameters of a request: query-string pairs followed by form-body pairs, as X reads both.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Params X echoes as arrays even when sent as one comma string.
const LIST_PARAMS: &[&str] = &["placements", "metric_groups", "categories", "tweet_ids"];

impl Params {
    /// Builds from decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs }
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The last value sent for `name` (raw, possibly empty).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first parameter name sent more than once, if any.
    pub fn repeated(&self) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        self.pairs
            .iter()
            .find(|(k, _)| !seen.insert(k.as_str()))
            .map(|(k, _)| k.clone())
    }

    /// The value of `name`, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).filter(|v| !v.is_empty())
    }

    /// Whether `name` was sent at all (even empty, which means "unset" on PUT).
    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// A required value or `MISSING_PARAMETER`.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }

    /// A comma list (empty when absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean flag (`true`/`false`), default false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(v) => Err(ApiError::invalid(
                name,
                format!("Expected boolean, got \"{v}\" for {name}"),
            )),
        }
    }

    /// An optional integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid(name, format!("Expected Long, got \"{v}\" for {name}"))
            }),
        }
    }

    /// X's `request.params` echo: path params first, lists as arrays, numbers as numbers.
    pub fn echo(&self, path: &[(&str, &str)]) -> Value {
        let mut m = Map::new();
        for (k, v) in path {
            m.insert((*k).to_string(), json!(v));
        }
        for (k, v) in &self.pairs {
            if k == "cursor" && v.is_empty() {
                continue;
            }
            let value = if k.ends_with("_ids") || LIST_PARAMS.contains(&k.as_str()) {
                Value::Array(
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| json!(s.trim()))
                        .collect(),
                )
            } else if (k.ends_with("_micro") || k == "count") && v.parse::<i64>().is_ok() {
                json!(v.parse::<i64>().unwrap_or_default())
            } else if v == "true" || v == "false" {
                json!(v == "true")
            } else {
                json!(v)
            };
            m.insert(k.clone(), value);
        }
        Value::Object(m)
    }
}

/// One item of X's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorItem {
    /// CAPS_CASE code.
    pub code: String,
    /// Human message.
    pub message: String,
    /// The offending parameter, when there is one.
    pub parameter: Option<String>,
}

/// An X API error: status, items and the request echo.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error items.
    pub errors: Vec<ErrorItem>,
    /// `request.params` echo (filled by [`ApiError::with_params`]).
    pub params: Option<Value>,
    /// Extra headers (e.g. `retry-after`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with one item.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        parameter: Option<&str>,
    ) -> Self {
        ApiError {
            status,
            errors: vec![ErrorItem {
                code: code.into(),
                message: message.into(),
                parameter: parameter.map(String::from),
            }],
            params: None,
            headers: Vec::new(),
        }
    }

    /// 400 `INVALID_PARAMETER` on `param`.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            message,
            Some(param),
        )
    }

    /// 400 `MISSING_PARAMETER` on `param`.
    pub fn missing(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            format!("\"{param}\" is missing"),
            Some(param),
        )
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found",
            None,
        )
    }

    /// 403 `ACCOUNT_NOT_FOUND` (X answers 403, not 404, for unknown or foreign accounts).
    pub fn account_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ACCOUNT_NOT_FOUND",
            format!("User is not authorized to access account {id}"),
            None,
        )
        .with_params(json!({ "account_id": id }))
    }

    /// 401 `UNAUTHORIZED_ACCESS`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED_ACCESS",
            "This request is not properly authenticated",
            None,
        )
    }

    /// 429 `TOO_MANY_REQUESTS`.
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Rate limit exceeded",
            None,
        )
    }

    /// Attaches the `request.params` echo unless one is already set.
    pub fn with_params(mut self, params: Value) -> Self {
        if self.params.is_none() {
            self.params = Some(params);
        }
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut v = json!({ "code": e.code, "message": e.message });
                if let Some(p) = &e.parameter {
                    v["parameter"] = json!(p);
                }
                v
            })
            .collect();
        let mut body = json!({ "errors": errors });
        if let Some(p) = &self.params {
            body["request"] = json!({ "params": p });
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                resp.headers_mut().insert(*k, v);
            }
        }
        resp
    }
}

/// Result type of API handlers.
pub type ApiResult = Result<Response, ApiError>;

/// `{data, request:{params}}` for single objects.
pub fn single(params: Value, data: Value) -> Response {
    Json(json!({ "request": { "params": params }, "data": data })).into_response()
}

/// `{data:[…], request, next_cursor, total_count?}` for collections.
pub fn collection(
    params: Value,
    data: Vec<Value>,
    next_cursor: Option<String>,
    total_count: Option<usize>,
) -> Response {
    let mut body =
        json!({ "request": { "params": params }, "data": data, "next_cursor": next_cursor });
    if let Some(n) = total_count {
        body["total_count"] = json!(n);
    }
    Json(body).into_response()
}

/// A status with an OAuth-style error body (`{"error","error_description"}`).
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
