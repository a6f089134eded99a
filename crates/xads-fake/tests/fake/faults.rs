//! Fault injection, the ledger, and the HTTP control surface.

use serde_json::json;
use xads_fake::{FaultKind, FaultRule};

use crate::support::T;

#[tokio::test]
async fn rate_limited_burst_then_recovery_and_the_ledger_marks_it() {
    let t = T::new().await;
    let p = format!("/12/accounts/{}/campaigns", t.usd());
    t.fake.clear_ledger();
    t.fake.add_fault(
        FaultRule::new(
            Some("GET"),
            &p,
            FaultKind::RateLimited {
                reset_after_secs: 60,
            },
        )
        .times(2),
    );
    for _ in 0..2 {
        let a = t.get(&p, &[]).await;
        assert_eq!(a.status, 429);
        assert_eq!(a.error_code(), "TOO_MANY_REQUESTS");
        assert_eq!(a.header("x-rate-limit-remaining"), Some("0"));
        let reset: i64 = a.header("x-rate-limit-reset").unwrap().parse().unwrap();
        assert_eq!(reset, t.fake.now().timestamp() + 60);
    }
    assert_eq!(t.get(&p, &[]).await.status, 200);
    let ledger = t.fake.ledger();
    assert_eq!(ledger.len(), 3);
    assert_eq!(ledger[0].fault.as_deref(), Some("rate_limited"));
    assert_eq!(ledger[0].status, Some(429));
    assert_eq!(ledger[2].fault, None);
    assert_eq!(ledger[2].status, Some(200));
}

#[tokio::test]
async fn service_unavailable_internal_error_and_html_gateway_errors() {
    let t = T::new().await;
    let p = "/12/accounts";
    t.fake.add_fault(
        FaultRule::new(
            None,
            p,
            FaultKind::ServiceUnavailable {
                retry_after_secs: 7,
            },
        )
        .times(1),
    );
    t.fake
        .add_fault(FaultRule::new(None, p, FaultKind::InternalError).times(1));
    t.fake
        .add_fault(FaultRule::new(None, p, FaultKind::BadGatewayHtml).times(1));
    t.fake
        .add_fault(FaultRule::new(None, p, FaultKind::GatewayTimeoutHtml).times(1));
    let a = t.get(p, &[]).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("7"));
    assert_eq!(a.error_code(), "SERVICE_UNAVAILABLE");
    let a = t.get(p, &[]).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.error_code(), "INTERNAL_ERROR");
    let a = t.get(p, &[]).await;
    assert_eq!(a.status, 502);
    assert!(a.body.is_null(), "502 body is HTML, not JSON");
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    let a = t.get(p, &[]).await;
    assert_eq!(a.status, 504);
    assert!(a.body.is_null());
    assert_eq!(t.get(p, &[]).await.status, 200);
}

#[tokio::test]
async fn dropped_connection_after_commit_is_a_transport_error_but_the_write_happened() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let p = format!("/12/accounts/{acct}/campaigns");
    let before = t.fake.counts(&acct).campaigns;
    t.fake.clear_ledger();
    t.fake
        .add_fault(FaultRule::new(Some("POST"), &p, FaultKind::DropAfterCommit).times(1));
    let err = t
        .http
        .post(t.url(&p))
        .bearer_auth(&t.token)
        .query(&[("funding_instrument_id", fi.as_str()), ("name", "dropped")])
        .send()
        .await;
    assert!(err.is_err(), "client sees a transport error, not a status");
    assert_eq!(
        t.fake.counts(&acct).campaigns,
        before + 1,
        "the write committed"
    );
    let ledger = t.fake.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].fault.as_deref(), Some("drop_after_commit"));
    assert_eq!(ledger[0].query_param("name"), Some("dropped"));
    assert!(ledger[0].header("authorization").is_some());
    // The fake keeps serving on new connections.
    assert_eq!(
        t.get(&p, &[("q", "dropped")]).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn dropped_connection_before_commit_writes_nothing() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let p = format!("/12/accounts/{acct}/campaigns");
    let before = t.fake.counts(&acct).campaigns;
    t.fake
        .add_fault(FaultRule::new(Some("POST"), &p, FaultKind::DropBeforeCommit).times(1));
    let r = t
        .http
        .post(t.url(&p))
        .bearer_auth(&t.token)
        .query(&[("funding_instrument_id", fi.as_str()), ("name", "x")])
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(t.fake.counts(&acct).campaigns, before);
}

#[tokio::test]
async fn truncated_body_is_a_complete_response_with_broken_json() {
    let t = T::new().await;
    t.fake
        .add_fault(FaultRule::new(None, "/12/accounts", FaultKind::TruncatedBody).times(1));
    let resp = t
        .http
        .get(t.url("/12/accounts"))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    assert!(!bytes.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
}

#[tokio::test]
async fn latency_fault_still_answers_and_is_recorded() {
    let t = T::new().await;
    t.fake.clear_ledger();
    t.fake
        .add_fault(FaultRule::new(None, "/12/accounts", FaultKind::Latency { ms: 5 }).times(1));
    assert_eq!(t.get("/12/accounts", &[]).await.status, 200);
    assert_eq!(t.fake.ledger()[0].fault.as_deref(), Some("latency"));
}

#[tokio::test]
async fn http_controls_manage_faults_ledger_and_state() {
    let t = T::new().await;
    let c = &t.http;
    let r = c
        .post(t.url("/__fake/faults"))
        .json(&json!({ "path_prefix": "/12/accounts", "kind": "internal_error", "times": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(t.get("/12/accounts", &[]).await.status, 500);
    c.post(t.url("/__fake/faults"))
        .json(&json!([{ "method": "GET", "path_prefix": "/12", "kind": "service_unavailable", "retry_after_secs": 3 }]))
        .send()
        .await
        .unwrap();
    assert_eq!(t.get("/12/accounts", &[]).await.status, 503);
    assert_eq!(
        c.delete(t.url("/__fake/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(t.get("/12/accounts", &[]).await.status, 200);

    let ledger: serde_json::Value = c
        .get(t.url("/__fake/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = ledger.as_array().unwrap();
    assert_eq!(entries.len(), 3, "control calls are not recorded");
    assert_eq!(entries[0]["fault"], "internal_error");
    assert_eq!(entries[2]["status"], 200);
    assert_eq!(entries[2]["path"], "/12/accounts");
    c.delete(t.url("/__fake/ledger")).send().await.unwrap();
    assert!(t.fake.ledger().is_empty());

    let state: serde_json::Value = c
        .get(t.url("/__fake/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["seed"]["usd_account_id"], "18ce54d4x5t");
    assert!(!state["campaigns"].as_array().unwrap().is_empty());

    let tokens: serde_json::Value = c
        .post(t.url("/__fake/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = c
        .get(t.url("/12/accounts"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ledger_caps_stored_bodies_but_keeps_their_length() {
    let t = T::new().await;
    t.fake.clear_ledger();
    let body = vec![b'a'; 100 * 1024];
    t.http
        .post(t.url("/12/accounts"))
        .bearer_auth(&t.token)
        .body(body)
        .send()
        .await
        .unwrap();
    let e = &t.fake.ledger()[0];
    assert_eq!(e.body_len, 100 * 1024);
    assert_eq!(e.body.len(), 64 * 1024);
}

#[tokio::test]
async fn the_router_serves_under_axum_serve_and_breaks_bodies_for_drops() {
    let state = xads_fake::FakeState::new(crate::support::config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = xads_fake::router(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let token = state
        .issue_tokens(&state.seed_info().user_id, "ads.read")
        .access_token;
    let http = crate::support::http();
    let url = format!("http://{addr}/12/accounts");
    let ok = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    state.add_fault(FaultRule::new(None, "/12/accounts", FaultKind::DropAfterCommit).times(1));
    let outcome = match http.get(&url).bearer_auth(&token).send().await {
        Err(_) => Err(()),
        Ok(r) => r.bytes().await.map_err(|_| ()),
    };
    assert!(outcome.is_err(), "the client sees a transport error");
    server.abort();
}
