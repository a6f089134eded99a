//! Inbound limits and response hardening, as middleware of the public router:
//!
//! - [`body_deadline`]: a request body must arrive within `XADS_BODY_TIMEOUT` (a media upload:
//!   that plus one second per 256 KiB it declares); past it the request ends with 408 and the
//!   connection closes, before anything reaches X.
//! - [`per_caller`]: at most `XADS_TENANT_CONCURRENCY` requests of one API key or UI session in
//!   progress on this instance; more are answered 429 at once.
//! - [`security_headers`]: CSP, `X-Frame-Options`, `X-Content-Type-Options` and
//!   `Referrer-Policy` on every response.
//!
//! (Headers are bounded by the accept loop in `web::serve`.)

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::config::Limits;

/// The extra time a media upload gets per 256 KiB it declares (about 2 Mbit/s).
const UPLOAD_SECOND_PER_BYTES: u64 = 256 * 1024;
/// The largest upload the budget is computed for (X's video limit); without a `Content-Length`
/// an upload gets this budget.
const UPLOAD_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// How long the body of `req` may take to arrive.
pub fn body_budget(req: &Request, limits: &Limits) -> Duration {
    let path = req.uri().path();
    let is_upload =
        req.method() == Method::POST && (path.ends_with("/media") || path == "/media/upload");
    if !is_upload {
        return limits.body_timeout;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(UPLOAD_MAX_BYTES)
        .min(UPLOAD_MAX_BYTES);
    limits.body_timeout + Duration::from_secs(declared.div_ceil(UPLOAD_SECOND_PER_BYTES))
}

/// The body-deadline middleware (see the module doc).
pub async fn body_deadline(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let budget = body_budget(&req, &limits);
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let req = req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(budget)),
            expired: flag,
        })
    });
    let response = next.run(req).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    tracing::info!(
        budget_s = budget.as_secs(),
        "request body too slow: cut off"
    );
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request body did not arrive within {} s",
            budget.as_secs()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

/// The error a too-slow body ends with (the middleware answers 408 for it).
#[derive(Debug, thiserror::Error)]
#[error("request body deadline passed")]
struct BodyDeadline;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(BodyDeadline))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Requests in progress per caller (by the SHA-256 of its API key or session cookie).
#[derive(Debug)]
pub struct CallerSlots {
    per_caller: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl CallerSlots {
    /// At most `per_caller` requests of one caller at once.
    pub fn new(per_caller: usize) -> Arc<CallerSlots> {
        Arc::new(CallerSlots {
            per_caller,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn semaphore(&self, caller: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(caller.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_caller)))
            .clone()
    }

    /// Forgets an idle caller, so presented keys (valid or not) do not pile up.
    fn release(&self, caller: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots
            .get(caller)
            .is_some_and(|s| Arc::strong_count(s) == 1 && s.available_permits() == self.per_caller)
        {
            slots.remove(caller);
        }
    }

    /// Callers currently tracked (tests).
    pub fn tracked(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Who is calling, as far as the limit cares: the API key or the UI session cookie, hashed.
fn caller(req: &Request) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    bearer
        .or_else(|| crate::ui::session::token(req.headers()))
        .map(|raw| crate::store::tenants::hash_key(&raw))
}

/// The per-caller concurrency middleware (see the module doc).
pub async fn per_caller(
    State(slots): State<Arc<CallerSlots>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(who) = caller(&req) else {
        return next.run(req).await;
    };
    let semaphore = slots.semaphore(&who);
    let Ok(permit) = semaphore.clone().try_acquire_owned() else {
        drop(semaphore);
        slots.release(&who);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "more than {} requests of this caller in progress; retry when one has finished",
                slots.per_caller
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    drop(semaphore);
    let response = next.run(req).await;
    drop(permit);
    slots.release(&who);
    response
}

/// The Content-Security-Policy of every answer: our own stylesheet and images only, no scripts,
/// no framing, forms posting only to us and to X's authorize pages (the connect button's
/// redirect is a form navigation, which `form-action` also governs).
pub fn content_security_policy(form_targets: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    format!(
        "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Adds the hardening headers (see the module doc) unless a handler set its own.
pub async fn security_headers(
    State(csp): State<HeaderValue>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Not `no-referrer`: browsers then send `Origin: null` on our own form posts, which the
        // login's cross-site check (rightly) refuses.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ];
    for (name, value) in defaults {
        headers.entry(name).or_insert(value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(len: Option<u64>) -> Request {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/x_ads/accounts/a1/media");
        if let Some(n) = len {
            b = b.header(header::CONTENT_LENGTH, n);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn uploads_get_time_by_their_size_and_json_gets_the_base() {
        let limits = Limits::default();
        let json = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/x_ads/accounts/a1/campaigns")
            .header(header::CONTENT_LENGTH, 10_000_000)
            .body(Body::empty())
            .unwrap();
        assert_eq!(body_budget(&json, &limits), Duration::from_secs(30));
        // 10 MiB → 40 extra seconds.
        assert_eq!(
            body_budget(&upload(Some(10 * 1024 * 1024)), &limits),
            Duration::from_secs(70)
        );
        // Undeclared or overstated sizes get the budget of X's largest video, no more.
        let max = Duration::from_secs(30 + 2048);
        assert_eq!(body_budget(&upload(None), &limits), max);
        assert_eq!(body_budget(&upload(Some(u64::MAX)), &limits), max);
    }

    #[test]
    fn csp_allows_only_our_own_and_the_connect_redirect() {
        let csp = content_security_policy(&["https://x.com".into()]);
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("form-action 'self' https://x.com;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let slots = CallerSlots::new(2);
        let s = slots.semaphore("k");
        let p = s.clone().try_acquire_owned().unwrap();
        drop(s);
        slots.release("k");
        assert_eq!(slots.tracked(), 1, "busy caller kept");
        drop(p);
        slots.release("k");
        assert_eq!(slots.tracked(), 0);
    }
}
