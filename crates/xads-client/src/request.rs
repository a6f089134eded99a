//! The one request path every endpoint goes through: URL building, headers, signing, pacing,
//! retries, rate-limit headers and logging.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderName, HeaderValue, Method, header};
use serde_json::Value;
use url::Url;

use crate::auth::{Secret, SignableRequest, Signer};
use crate::config::XAdsClient;
use crate::envelope::{RawResponse, decode_error};
use crate::error::XError;
use crate::gate::{EndpointFamily, RateKey};
use crate::headers::{parse_rate_limit, request_id};
use crate::params::{Params, percent_encode};
use crate::retry::RetryReason;

/// Per-call options for writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Sent as `Idempotency-Key` (X ignores it today; the service records it, PRODUCT.md §4.5).
    pub idempotency_key: Option<String>,
    /// Allow retrying a write after a 5xx or an ambiguous transport failure. Set it only when the
    /// caller reconciles exactly-once (looks for the entity before retrying a create).
    pub retry_ambiguous: bool,
}

impl CallOptions {
    /// No key, no ambiguous retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// With an idempotency key.
    pub fn idempotency_key(key: impl Into<String>) -> Self {
        CallOptions {
            idempotency_key: Some(key.into()),
            retry_ambiguous: false,
        }
    }

    /// Sets `retry_ambiguous`.
    pub fn retry_ambiguous(mut self, yes: bool) -> Self {
        self.retry_ambiguous = yes;
        self
    }
}

/// Which of X's hosts a call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ads,
    Api,
}

/// One multipart field; kept as bytes so each attempt can rebuild the form.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub name: &'static str,
    pub data: Bytes,
    pub file_name: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    None,
    Form(Params),
    Json(Value),
    Multipart(Vec<Part>),
}

/// How a call authenticates.
pub(crate) enum Auth<'a> {
    Signer(&'a Arc<dyn Signer>),
    /// OAuth 2.0 confidential-client authentication (`client_secret_basic`).
    Basic {
        client_id: &'a str,
        secret: &'a Secret,
    },
    /// Public client: `client_id` goes in the form instead.
    None,
}

/// A call, described as data so the retry loop can rebuild and re-sign it.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub operation: &'static str,
    pub method: Method,
    pub host: Host,
    pub path: String,
    pub query: Params,
    pub body: Body,
    pub family: EndpointFamily,
    pub account_id: Option<String>,
    pub options: CallOptions,
}

impl Call {
    /// A call to the Ads host; `segments` are joined and percent-encoded (ids come from callers).
    pub fn ads(operation: &'static str, method: Method, segments: &[&str]) -> Self {
        let path = segments
            .iter()
            .map(|s| percent_encode(s))
            .collect::<Vec<_>>()
            .join("/");
        let family = if method == Method::GET {
            EndpointFamily::CoreRead
        } else {
            EndpointFamily::Write
        };
        Call {
            operation,
            method,
            host: Host::Ads,
            path: format!("/{path}"),
            query: Params::new(),
            body: Body::None,
            family,
            account_id: None,
            options: CallOptions::default(),
        }
    }

    /// A call to the X API host with a literal path.
    pub fn api(
        operation: &'static str,
        method: Method,
        path: String,
        family: EndpointFamily,
    ) -> Self {
        Call {
            operation,
            method,
            host: Host::Api,
            path,
            query: Params::new(),
            body: Body::None,
            family,
            account_id: None,
            options: CallOptions::default(),
        }
    }

    pub fn account(mut self, account_id: &str) -> Self {
        self.account_id = Some(account_id.to_owned());
        self
    }

    pub fn family(mut self, family: EndpointFamily) -> Self {
        self.family = family;
        self
    }

    pub fn query(mut self, query: Params) -> Self {
        self.query = query;
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub fn options(mut self, options: &CallOptions) -> Self {
        self.options = options.clone();
        self
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }
}

fn transport_error(operation: &'static str, e: &reqwest::Error) -> XError {
    if e.is_builder() {
        // The request could not even be built (bad URL or header): nothing was sent.
        return XError::Config(format!("{operation}: {e}"));
    }
    // Only a failure to connect proves X never saw the request.
    let ambiguous = !e.is_connect();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    XError::Transport {
        operation,
        ambiguous,
        timeout: e.is_timeout(),
        message,
    }
}

impl XAdsClient {
    fn url_for(&self, call: &Call) -> Result<Url, XError> {
        let base = match call.host {
            Host::Ads => &self.inner.ads_base,
            Host::Api => &self.inner.api_base,
        };
        let mut s = format!("{}{}", base.as_str().trim_end_matches('/'), call.path);
        if !call.query.is_empty() {
            s.push('?');
            s.push_str(&call.query.encode());
        }
        Url::parse(&s).map_err(|e| XError::Config(format!("bad request URL: {e}")))
    }

    async fn send_once(
        &self,
        call: &Call,
        url: &Url,
        auth: &Auth<'_>,
    ) -> Result<RawResponse, XError> {
        let op = call.operation;
        let form = match &call.body {
            Body::Form(p) => p.pairs().to_vec(),
            _ => Vec::new(),
        };
        let mut signable = SignableRequest::new(call.method.clone(), url.clone(), form);
        match auth {
            Auth::Signer(signer) => signer.sign(&mut signable)?,
            Auth::Basic { client_id, secret } => {
                let raw = format!(
                    "{}:{}",
                    percent_encode(client_id),
                    percent_encode(secret.expose())
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut value =
                    HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                        XError::Signing("client credentials are not header-safe".into())
                    })?;
                value.set_sensitive(true);
                signable.set_header(header::AUTHORIZATION, value);
            }
            Auth::None => {}
        }

        let mut rb = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .header(header::USER_AGENT, self.inner.user_agent.as_str())
            .header(header::ACCEPT, "application/json");
        if let Some(t) = self.inner.timeout {
            rb = rb.timeout(t);
        }
        if call.is_write()
            && let Some(key) = &call.options.idempotency_key
        {
            rb = rb.header(HeaderName::from_static("idempotency-key"), key.as_str());
        }
        rb = match &call.body {
            // Front ends may answer 411 to a POST/PUT without a length; send an explicit empty body.
            Body::None if call.is_write() => rb.body(Vec::<u8>::new()),
            Body::None => rb,
            Body::Form(p) => rb
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(p.encode()),
            Body::Json(v) => rb.json(v),
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for p in parts {
                    let mut part = reqwest::multipart::Part::bytes(p.data.to_vec());
                    if let Some(name) = &p.file_name {
                        part = part.file_name(name.clone());
                    }
                    form = form.part(p.name, part);
                }
                rb.multipart(form)
            }
        };
        for (name, value) in signable.into_headers() {
            if let Some(name) = name {
                rb = rb.header(name, value);
            }
        }

        let resp = rb.send().await.map_err(|e| transport_error(op, &e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport_error(op, &e))?;
        Ok(RawResponse {
            status,
            rate_limit: parse_rate_limit(&headers),
            request_id: request_id(&headers),
            headers,
            body,
        })
    }

    /// Sends `call`, pacing through the gate and retrying per the policy. Returns the first 2xx
    /// response, or the last error.
    pub(crate) async fn execute(
        &self,
        auth: Auth<'_>,
        token_id: &str,
        call: Call,
    ) -> Result<RawResponse, XError> {
        let url = self.url_for(&call)?;
        let key = RateKey {
            client_id: self.inner.client_id.clone(),
            account_id: call.account_id.clone(),
            token_id: token_id.to_owned(),
            family: call.family,
        };
        let policy = &self.inner.retry;
        let mut attempts = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            self.inner.gate.acquire(&key).await?;
            let attempt = attempts + rate_limit_waits + 1;
            let started = Instant::now();
            let result = self.send_once(&call, &url, &auth).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let status_label = match &result {
                Ok(raw) => raw.status.to_string(),
                Err(_) => "transport".to_owned(),
            };
            // Through the `metrics` facade: the service exports these at `/metrics`.
            metrics::counter!("xads_x_calls_total", "endpoint" => call.operation, "status" => status_label)
                .increment(1);
            let err = match result {
                Ok(raw) => {
                    self.inner.gate.observe(&key, &raw.rate_limit).await;
                    tracing::info!(
                        x.endpoint = call.operation,
                        x.method = %call.method,
                        x.status = raw.status,
                        x.request_id = raw.request_id.as_deref(),
                        x.rate_limit_remaining = raw.rate_limit.remaining,
                        ad_account.id = call.account_id.as_deref(),
                        duration_ms,
                        attempt,
                        "X call"
                    );
                    if (200..300).contains(&raw.status) {
                        return Ok(raw);
                    }
                    decode_error(call.operation, &raw)
                }
                Err(e @ (XError::Signing(_) | XError::Config(_))) => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        x.endpoint = call.operation,
                        x.method = %call.method,
                        ad_account.id = call.account_id.as_deref(),
                        duration_ms,
                        attempt,
                        error = %e,
                        "X call failed in transport"
                    );
                    e
                }
            };
            if !err.is_rate_limited() {
                attempts += 1;
            }
            let decision = policy.decide(
                &err,
                call.is_write(),
                call.options.retry_ambiguous,
                attempts,
                rate_limit_waits,
                Utc::now(),
            );
            let Some((wait, reason)) = decision else {
                return Err(err);
            };
            if reason == RetryReason::RateLimited {
                rate_limit_waits += 1;
            }
            metrics::counter!("xads_x_retries_total", "endpoint" => call.operation, "reason" => format!("{reason:?}"))
                .increment(1);
            tracing::warn!(
                x.endpoint = call.operation,
                x.status = err.status(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                attempt,
                reason = ?reason,
                "retrying X call"
            );
            sleep(wait).await;
        }
    }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
