//! X's response envelopes: success `{request:{params}, data, next_cursor, total_count}` and error
//! `{errors:[...], request}` (x-ads-api.md §1), plus the OAuth and X API v2 error shapes.
//!
//! Bodies are parsed to a `serde_json::Value` first: X's own examples carry duplicate keys, which a
//! derived struct would reject, while a map keeps the last one.

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorCode, XError, XErrorItem};
use crate::gate::RateLimitInfo;

/// A successful answer from X with what came around the data.
#[derive(Clone, Debug)]
pub struct XResponse<T> {
    /// The `data` member, typed.
    pub data: T,
    /// The cursor of the next page; `None` on the last page and for single objects.
    pub next_cursor: Option<String>,
    /// Only with `with_total_count=true` (and on POST promoted_tweets).
    pub total_count: Option<u64>,
    /// X's `request.params` echo, untyped (X echoes numbers for some ids).
    pub request_params: Value,
    /// The rate-limit headers of the response.
    pub rate_limit: RateLimitInfo,
    /// `x-transaction` / `x-request-id`, when present.
    pub request_id: Option<String>,
}

impl<T> XResponse<T> {
    /// Replaces the data, keeping the rest.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> XResponse<U> {
        XResponse {
            data: f(self.data),
            next_cursor: self.next_cursor,
            total_count: self.total_count,
            request_params: self.request_params,
            rate_limit: self.rate_limit,
            request_id: self.request_id,
        }
    }
}

/// A response as it came off the wire, before decoding.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Parsed rate-limit headers.
    pub rate_limit: RateLimitInfo,
    /// `x-transaction` / `x-request-id`.
    pub request_id: Option<String>,
}

fn parse_value(operation: &'static str, status: u16, body: &[u8]) -> Result<Value, XError> {
    serde_json::from_slice(body).map_err(|e| XError::Decode {
        operation,
        status,
        message: e.to_string(),
    })
}

fn lenient_count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn request_params(root: &Value) -> Value {
    match root.get("request") {
        Some(Value::Object(obj)) => obj.get("params").cloned().unwrap_or(Value::Null),
        // Batch responses echo an array of {params, operation_type}.
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// Decodes X's success envelope, typing `data` as `T`.
pub fn decode_envelope<T: DeserializeOwned>(
    operation: &'static str,
    raw: RawResponse,
) -> Result<XResponse<T>, XError> {
    let mut root = parse_value(operation, raw.status, &raw.body)?;
    let data_value = root
        .get_mut("data")
        .map(Value::take)
        .ok_or_else(|| XError::Decode {
            operation,
            status: raw.status,
            message: "response has no `data` member".into(),
        })?;
    let data = T::deserialize(data_value).map_err(|e| XError::Decode {
        operation,
        status: raw.status,
        message: e.to_string(),
    })?;
    Ok(XResponse {
        data,
        next_cursor: root
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        total_count: lenient_count(root.get("total_count")),
        request_params: request_params(&root),
        rate_limit: raw.rate_limit,
        request_id: raw.request_id,
    })
}

/// Decodes a body that is not in the usual envelope (stats, OAuth tokens) as a whole.
pub fn decode_whole<T: DeserializeOwned>(
    operation: &'static str,
    raw: RawResponse,
) -> Result<XResponse<T>, XError> {
    let root = parse_value(operation, raw.status, &raw.body)?;
    let params = request_params(&root);
    let data = T::deserialize(root).map_err(|e| XError::Decode {
        operation,
        status: raw.status,
        message: e.to_string(),
    })?;
    Ok(XResponse {
        data,
        next_cursor: None,
        total_count: None,
        request_params: params,
        rate_limit: raw.rate_limit,
        request_id: raw.request_id,
    })
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn error_item(v: Value) -> XErrorItem {
    match v {
        Value::Object(ref obj) => {
            let mut item = XErrorItem::deserialize(v.clone())
                .unwrap_or_else(|_| XErrorItem::synthetic(v.to_string()));
            // X API v2 problem items use title/detail/type instead of code/message.
            if item.code.is_none()
                && let Some(t) = obj
                    .get("type")
                    .or_else(|| obj.get("title"))
                    .and_then(Value::as_str)
            {
                item.code = Some(ErrorCode::Text(t.to_owned()));
            }
            if item.message.is_empty()
                && let Some(t) = obj.get("title").and_then(Value::as_str)
            {
                item.message = t.to_owned();
            }
            item
        }
        Value::String(s) => XErrorItem::synthetic(s),
        other => XErrorItem::synthetic(other.to_string()),
    }
}

fn reason(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_owned()
}

/// Turns a non-2xx response into an [`XError`]. The status is authoritative: a body that is not
/// JSON (HTML 404/502 pages) yields one synthetic error item with the status's reason phrase.
pub fn decode_error(operation: &'static str, raw: &RawResponse) -> XError {
    let value: Option<Value> = serde_json::from_slice(&raw.body).ok();
    if let Some(v) = &value
        && let Ok(oauth) = OAuthErrorBody::deserialize(v)
    {
        return XError::OAuth {
            operation,
            status: raw.status,
            error: oauth.error,
            description: oauth.error_description,
        };
    }
    let mut errors: Vec<XErrorItem> = match value {
        Some(Value::Object(mut obj)) => match obj.remove("errors") {
            Some(Value::Array(items)) => items.into_iter().map(error_item).collect(),
            _ if obj.contains_key("title") || obj.contains_key("detail") => {
                vec![error_item(Value::Object(obj))]
            }
            _ => vec![],
        },
        _ => vec![],
    };
    if errors.is_empty() {
        errors.push(XErrorItem::synthetic(reason(raw.status)));
    }
    XError::Api {
        operation,
        status: raw.status,
        errors,
        retry_after: raw.rate_limit.retry_after,
        rate_limit: Box::new(raw.rate_limit.clone()),
        request_id: raw.request_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            rate_limit: RateLimitInfo::default(),
            request_id: None,
        }
    }

    #[test]
    fn html_bodies_keep_the_status() {
        let e = decode_error("list_campaigns", &raw(502, "<html>Bad Gateway</html>"));
        assert_eq!(e.status(), Some(502));
        assert_eq!(e.to_string(), "X Ads list_campaigns: 502 — Bad Gateway");
        assert_eq!(e.first_code(), None);
    }

    #[test]
    fn v2_problem_items_map_to_code_and_message() {
        let e = decode_error(
            "media_finalize",
            &raw(
                400,
                r#"{"errors":[{"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}]}"#,
            ),
        );
        assert_eq!(
            e.first_code().as_deref(),
            Some("https://api.twitter.com/2/problems/invalid-request")
        );
        assert!(
            e.to_string()
                .ends_with("— One or more parameters to your request was invalid.")
        );
    }

    #[test]
    fn oauth_error_shape() {
        let e = decode_error(
            "exchange_code",
            &raw(
                400,
                r#"{"error":"invalid_grant","error_description":"Value passed for the authorization code was invalid."}"#,
            ),
        );
        assert!(matches!(e, XError::OAuth { status: 400, .. }));
        assert_eq!(e.first_code().as_deref(), Some("invalid_grant"));
    }

    #[test]
    fn envelope_tolerates_missing_and_empty_cursor() {
        let r: XResponse<Vec<Value>> =
            decode_envelope("x", raw(200, r#"{"data":[],"next_cursor":""}"#)).unwrap();
        assert_eq!(r.next_cursor, None);
        assert_eq!(r.request_params, Value::Null);
        let e = decode_envelope::<Vec<Value>>("x", raw(200, "")).unwrap_err();
        assert!(matches!(e, XError::Decode { status: 200, .. }));
    }
}
