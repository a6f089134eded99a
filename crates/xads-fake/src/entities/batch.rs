//! Batch endpoints' shared machinery: a JSON array of `{operation_type, params}`, executed
//! atomically (all or nothing), answered as `{data, request:[…]}` (plus `data_type` where X's
//! example has one: targeting criteria); per-item failures come back as `operation_errors`
//! aligned with the input, without `errors`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelope::{ApiError, Params};
use crate::state::State;

/// One parsed operation.
pub struct Operation {
    /// `Create`, `Update` or `Delete`.
    pub kind: String,
    /// Its params, as if sent in a query string.
    pub params: Params,
    /// The params object as sent (for the `request` echo).
    pub raw: Value,
}

fn to_param(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(to_param).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parses a batch body; request-level problems are `errors`.
pub fn parse(body: &[u8], max: usize, allowed: &[&str]) -> Result<Vec<Operation>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid("body", "Expected a JSON array of operations"))?;
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::invalid("body", "Expected a JSON array of operations"))?;
    if items.is_empty() || items.len() > max {
        return Err(ApiError::invalid(
            "body",
            format!(
                "Expected between 1 and {max} operations, got {}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .map(|item| {
            let kind = item["operation_type"].as_str().unwrap_or("").to_string();
            if !allowed.contains(&kind.as_str()) {
                return Err(ApiError::invalid(
                    "operation_type",
                    format!("Expected one of [{}], got \"{kind}\"", allowed.join(", ")),
                ));
            }
            let raw = item.get("params").cloned().unwrap_or_else(|| json!({}));
            let pairs = raw
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), to_param(v))).collect())
                .unwrap_or_default();
            Ok(Operation {
                kind,
                params: Params::new(pairs),
                raw,
            })
        })
        .collect()
}

/// Runs every operation; on the first failure restores the entity collections (atomicity) and
/// answers `operation_errors`.
pub fn run(
    s: &mut State,
    account_id: &str,
    data_type: Option<&str>,
    ops: &[Operation],
    mut exec: impl FnMut(&mut State, &Operation) -> Result<Value, ApiError>,
) -> Response {
    let backup = (
        s.campaigns.clone(),
        s.line_items.clone(),
        s.targeting.clone(),
        s.ids.clone(),
    );
    let request: Vec<Value> = ops
        .iter()
        .map(|o| {
            let mut params = o.raw.clone();
            if let Some(m) = params.as_object_mut() {
                m.insert("account_id".into(), json!(account_id));
            }
            json!({ "params": params, "operation_type": o.kind })
        })
        .collect();
    let mut data = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match exec(s, op) {
            Ok(v) => data.push(v),
            Err(e) => {
                (s.campaigns, s.line_items, s.targeting, s.ids) = backup;
                let operation_errors: Vec<Value> = (0..ops.len())
                    .map(|j| {
                        if j == i {
                            let mut body = e.body();
                            body["errors"].take()
                        } else {
                            json!([])
                        }
                    })
                    .collect();
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "operation_errors": operation_errors, "request": request })),
                )
                    .into_response();
            }
        }
    }
    let mut body = json!({ "data": data, "request": request });
    if let Some(t) = data_type {
        body["data_type"] = json!(t);
    }
    Json(body).into_response()
}
