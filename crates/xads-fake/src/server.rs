//! The HTTP side: the router, the request pipeline (ledger → faults → auth → rate limits →
//! handler → headers), and [`FakeX`], which serves connections itself so a fault can drop one.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::auth::{Signed, authenticate};
use crate::config::FakeConfig;
use crate::entities::{accounts, campaigns, line_items, media_library, promoted_tweets, targeting};
use crate::envelope::{ApiError, Params};
use crate::faults::FaultKind;
use crate::ledger::{BODY_CAP, LedgerEntry};
use crate::ratelimit::{Snapshot, classify};
use crate::state::FakeState;
use crate::{control, jobs, media, oauth1, oauth2, stats};

/// Per-connection kill switch: the pipeline notifies it to close the TCP connection mid-request.
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

/// The full fake as an axum router (for `axum::serve` in a CLI). Served this way, the
/// drop-connection faults end the response body with an error instead of closing the socket
/// before the status line; [`FakeX`] closes the socket.
pub fn router(state: FakeState) -> Router {
    let acct = "/12/accounts/{account_id}";
    Router::new()
        .route("/12/accounts", get(accounts::list))
        .route(acct, get(accounts::get))
        .route(
            &format!("{acct}/funding_instruments"),
            get(accounts::list_funding),
        )
        .route(
            &format!("{acct}/funding_instruments/{{id}}"),
            get(accounts::get_funding),
        )
        .route(&format!("{acct}/tweets"), get(accounts::tweets))
        .route(
            &format!("{acct}/authenticated_user_access"),
            get(accounts::user_access),
        )
        .route("/12/line_items/placements", get(accounts::placements))
        .route(
            &format!("{acct}/campaigns"),
            get(campaigns::list).post(campaigns::create),
        )
        .route(
            &format!("{acct}/campaigns/{{id}}"),
            get(campaigns::get)
                .put(campaigns::update)
                .delete(campaigns::delete),
        )
        .route(
            &format!("{acct}/line_items"),
            get(line_items::list).post(line_items::create),
        )
        .route(
            &format!("{acct}/line_items/{{id}}"),
            get(line_items::get)
                .put(line_items::update)
                .delete(line_items::delete),
        )
        .route(
            &format!("{acct}/promoted_tweets"),
            get(promoted_tweets::list).post(promoted_tweets::create),
        )
        .route(
            &format!("{acct}/promoted_tweets/{{id}}"),
            get(promoted_tweets::get)
                .put(promoted_tweets::update)
                .delete(promoted_tweets::delete),
        )
        .route(
            &format!("{acct}/media_library"),
            get(media_library::list).post(media_library::create),
        )
        .route(
            &format!("{acct}/media_library/{{media_key}}"),
            get(media_library::get)
                .put(media_library::update)
                .delete(media_library::delete),
        )
        .route(
            &format!("{acct}/targeting_criteria"),
            get(targeting::list).post(targeting::create),
        )
        .route(
            &format!("{acct}/targeting_criteria/{{id}}"),
            get(targeting::get).delete(targeting::delete),
        )
        .route(
            "/12/batch/accounts/{account_id}/campaigns",
            post(campaigns::batch),
        )
        .route(
            "/12/batch/accounts/{account_id}/line_items",
            post(line_items::batch),
        )
        .route(
            "/12/batch/accounts/{account_id}/targeting_criteria",
            post(targeting::batch),
        )
        .route("/12/stats/accounts/{account_id}", get(stats::stats))
        .route(
            "/12/stats/accounts/{account_id}/active_entities",
            get(stats::active_entities),
        )
        .route(
            "/12/stats/jobs/accounts/{account_id}",
            get(jobs::list).post(jobs::create),
        )
        .route(
            "/12/stats/jobs/accounts/{account_id}/{job_id}",
            axum::routing::delete(jobs::cancel),
        )
        .route(
            &format!("{}/{{file}}", jobs::RESULT_PATH),
            get(jobs::download),
        )
        .route(
            &format!("{}/{{host}}/{{*path}}", crate::cdn::PATH),
            get(crate::cdn::serve),
        )
        .route("/i/oauth2/authorize", get(oauth2::authorize))
        .route("/2/oauth2/token", post(oauth2::token))
        .route("/2/oauth2/revoke", post(oauth2::revoke))
        .route("/oauth/request_token", post(oauth1::request_token))
        .route("/oauth/authorize", get(oauth1::authorize))
        .route("/oauth/access_token", post(oauth1::access_token))
        .route(
            "/1.1/oauth/invalidate_token",
            post(oauth1::invalidate_token),
        )
        .route("/2/media/upload", get(media::status).post(media::upload))
        .route("/2/media/upload/initialize", post(media::initialize))
        .route("/2/media/upload/{id}/append", post(media::append))
        .route("/2/media/upload/{id}/finalize", post(media::finalize))
        .route(
            "/__fake/ledger",
            get(control::ledger).delete(control::clear_ledger),
        )
        .route(
            "/__fake/faults",
            get(control::list_faults)
                .post(control::add_faults)
                .delete(control::clear_faults),
        )
        .route("/__fake/state", get(control::state))
        .route("/__fake/clock", post(control::clock))
        .route("/__fake/tokens", post(control::mint_tokens))
        .route("/__fake/tokens/expire", post(control::expire_tokens))
        .route("/__fake/grants/revoke", post(control::revoke_grants))
        .route("/__fake/revise", post(control::revise))
        .route(
            "/__fake/rate_limits/reset",
            post(control::reset_rate_limits),
        )
        .route("/__fake/app", post(control::app))
        .route("/__fake/tweets", post(control::add_tweet))
        .route(
            "/__fake/jobs",
            get(control::jobs).post(control::jobs_control),
        )
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), pipeline))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn route_not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        "The requested resource could not be found",
        None,
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "The request method is not supported for this resource",
        None,
    )
    .into_response()
}

fn html(status: StatusCode, title: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"),
    )
        .into_response()
}

fn set(resp: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn rate_headers(resp: &mut Response, user: Option<Snapshot>, account: Option<Snapshot>) {
    if let Some(u) = user {
        set(resp, "x-rate-limit-limit", u.limit);
        set(resp, "x-rate-limit-remaining", u.remaining);
        set(resp, "x-rate-limit-reset", u.reset);
    }
    if let Some(a) = account {
        set(resp, "x-account-rate-limit-limit", a.limit);
        set(resp, "x-account-rate-limit-remaining", a.remaining);
        set(resp, "x-account-rate-limit-reset", a.reset);
    }
}

/// A response whose body fails mid-stream (the drop fallback outside [`FakeX`]).
fn broken_body(status: StatusCode) -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped by fault injection",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    r
}

/// Closes the connection (or, outside [`FakeX`], breaks the body).
async fn drop_connection(kill: Option<ConnKill>, status: StatusCode) -> Response {
    match kill {
        Some(k) => {
            k.0.notify_one();
            // The connection task drops this future together with the socket.
            std::future::pending::<Response>().await
        }
        None => broken_body(status),
    }
}

fn finish(st: &FakeState, seq: u64, status: Option<u16>, fault: Option<&FaultKind>) {
    let mut s = st.lock();
    // Path only: query strings and headers may carry codes or tokens, which are never logged.
    if let Some(e) = s.ledger.entries_ref().iter().rev().find(|e| e.seq == seq) {
        tracing::debug!(
            x.seq = seq,
            x.method = %e.method,
            x.path = %e.path,
            x.status = status,
            x.fault = fault.map(FaultKind::name),
            "fake X answered"
        );
    }
    s.ledger
        .finish(seq, status, fault.map(|f| f.name().to_string()));
}

async fn pipeline(State(st): State<FakeState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path.starts_with("/__fake") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let method = parts.method.as_str().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let query_pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut pairs = query_pairs.clone();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        pairs.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    let params = Params::new(pairs);
    parts.extensions.insert(params.clone());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let kill = parts.extensions.get::<ConnKill>().cloned();

    let (seq, fault) = {
        let mut s = st.lock();
        let now = s.clock.now();
        let stored = &bytes[..bytes.len().min(BODY_CAP)];
        let seq = s.ledger.push(LedgerEntry {
            seq: 0,
            at: now,
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            query_pairs,
            headers,
            body: stored.to_vec(),
            body_text: String::from_utf8_lossy(stored).into_owned(),
            body_len: bytes.len(),
            status: None,
            fault: None,
        });
        (seq, s.faults.take(&method, &path))
    };

    // Faults a gateway would produce before the API runs: nothing is executed.
    let early = match &fault {
        Some(FaultKind::RateLimited { reset_after_secs }) => {
            let reset = st.now().timestamp() + reset_after_secs;
            let mut r = ApiError::rate_limited().into_response();
            set(&mut r, "x-rate-limit-limit", 0);
            set(&mut r, "x-rate-limit-remaining", 0);
            set(&mut r, "x-rate-limit-reset", reset);
            set(&mut r, "x-account-rate-limit-remaining", 0);
            set(&mut r, "x-account-rate-limit-reset", reset);
            Some(r)
        }
        Some(FaultKind::ServiceUnavailable { retry_after_secs }) => {
            let mut r = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Service unavailable",
                None,
            )
            .into_response();
            set(&mut r, "retry-after", retry_after_secs);
            Some(r)
        }
        Some(FaultKind::InternalError) => Some(
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Internal error",
                None,
            )
            .into_response(),
        ),
        Some(FaultKind::BadGatewayHtml) => Some(html(StatusCode::BAD_GATEWAY, "502 Bad Gateway")),
        Some(FaultKind::GatewayTimeoutHtml) => {
            Some(html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"))
        }
        Some(FaultKind::DropBeforeCommit) => {
            finish(&st, seq, None, fault.as_ref());
            return drop_connection(kill, StatusCode::OK).await;
        }
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            None
        }
        Some(FaultKind::Hold { gate }) => {
            st.gate_opened(gate).await;
            None
        }
        Some(
            k @ (FaultKind::MediaProcessingFailed { .. }
            | FaultKind::JobFailed
            | FaultKind::JobExpired),
        ) => {
            parts.extensions.insert(k.clone());
            None
        }
        _ => None,
    };
    if let Some(mut r) = early {
        set(&mut r, "x-current-api-version", 12);
        finish(&st, seq, Some(r.status().as_u16()), fault.as_ref());
        return r;
    }

    // Authentication, app approval and rate limits for the API routes.
    let mut snapshots = (None, None);
    if path.starts_with("/12/") || path.starts_with("/2/media") {
        let gate = {
            let base = oauth1::base_url(&parts.headers, &parts.uri);
            let signed = Signed {
                method: &method,
                base_url: &base,
                params: params.pairs(),
            };
            let mut s = st.lock();
            match authenticate(&mut s, st.config(), &parts.headers, &signed) {
                Err(e) => Err(e),
                Ok(_) if path.starts_with("/12/") && !s.app_approved => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "UNAUTHORIZED_CLIENT_APPLICATION",
                    "The client application making this request does not have access to Twitter Ads API",
                    None,
                )),
                Ok(who) => {
                    let now = s.clock.now();
                    match classify(&st.config().rate_limits, &method, &path) {
                        None => Ok((who, None, None)),
                        Some(b) => {
                            let key = format!("{}|{}", who.rate_key(), b.user.0);
                            let user = s.limits.hit(&key, b.user.1, now);
                            let account = b
                                .account
                                .map(|(k, l)| s.limits.hit(&format!("acct|{k}"), l, now));
                            Ok((who, Some(user), account))
                        }
                    }
                }
            }
        };
        match gate {
            Err(e) => {
                let mut r = e.into_response();
                set(&mut r, "x-current-api-version", 12);
                finish(&st, seq, Some(r.status().as_u16()), fault.as_ref());
                return r;
            }
            Ok((who, user, account)) => {
                snapshots = (user, account);
                let exceeded =
                    user.is_some_and(|u| u.exceeded) || account.is_some_and(|a| a.exceeded);
                if exceeded {
                    let mut r = ApiError::rate_limited().into_response();
                    rate_headers(&mut r, user, account);
                    set(&mut r, "x-current-api-version", 12);
                    finish(&st, seq, Some(429), fault.as_ref());
                    return r;
                }
                parts.extensions.insert(who);
            }
        }
    }

    if let Some(FaultKind::CommitLate { gate }) = &fault {
        // The caller sees the connection close now; X executes the write when the gate opens.
        let (late, gate, kind) = (st.clone(), gate.clone(), fault.clone());
        tokio::spawn(async move {
            late.gate_opened(&gate).await;
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            finish(&late, seq, Some(resp.status().as_u16()), kind.as_ref());
        });
        return drop_connection(kill, StatusCode::OK).await;
    }
    let mut resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    rate_headers(&mut resp, snapshots.0, snapshots.1);
    set(&mut resp, "x-current-api-version", 12);
    let status = resp.status();
    match &fault {
        Some(FaultKind::DropAfterCommit) => {
            finish(&st, seq, Some(status.as_u16()), fault.as_ref());
            drop_connection(kill, status).await
        }
        Some(FaultKind::TruncatedBody) => {
            let (mut head, body) = resp.into_parts();
            let full = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let cut = full.slice(..full.len() / 2);
            head.headers.remove(header::CONTENT_LENGTH);
            finish(&st, seq, Some(status.as_u16()), fault.as_ref());
            Response::from_parts(head, Body::from(cut))
        }
        _ => {
            finish(&st, seq, Some(status.as_u16()), fault.as_ref());
            resp
        }
    }
}

/// A running fake X on a real socket. Dereferences to [`FakeState`] for every control.
pub struct FakeX {
    state: FakeState,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeX {
    /// Starts a seeded fake on `127.0.0.1:0`.
    pub async fn start(config: FakeConfig) -> io::Result<FakeX> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a seeded fake on a fixed address.
    pub async fn bind(addr: SocketAddr, config: FakeConfig) -> io::Result<FakeX> {
        let listener = TcpListener::bind(addr).await?;
        Self::serve(listener, FakeState::new(config))
    }

    /// Serves an existing world on an already bound listener.
    pub fn serve(listener: TcpListener, state: FakeState) -> io::Result<FakeX> {
        let addr = listener.local_addr()?;
        if state.config().media_on_own_host {
            state.lock().media_origin = Some(format!("http://{addr}"));
        }
        let (tx, rx) = watch::channel(false);
        let app = router(state.clone());
        let task = tokio::spawn(accept_loop(listener, app, rx));
        Ok(FakeX {
            state,
            addr,
            shutdown: tx,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/` — both the Ads API host and api.x.com.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr)).expect("valid url")
    }

    /// The world and its controls.
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (bounded), then returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Deref for FakeX {
    type Target = FakeState;
    fn deref(&self) -> &FakeState {
        &self.state
    }
}

impl Drop for FakeX {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                conns.spawn(serve_conn(stream, app.clone(), shutdown.clone()));
            }
            _ = shutdown.changed() => break,
        }
        // Reap finished connections so the set does not grow with keep-alive churn.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

async fn serve_conn(
    stream: tokio::net::TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = ConnKill(Arc::new(Notify::new()));
    let k = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(k.clone());
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(Body::new)).await;
            Ok::<_, Infallible>(resp.unwrap_or_else(|e| match e {}))
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Dropping the connection closes the socket without a (complete) response.
        _ = kill.0.notified() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
