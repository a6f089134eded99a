//! Retry rules, on a paused tokio clock (no real waiting, no timing assertions beyond ordering).

use std::sync::Arc;
use std::time::Duration;

use xads_client::models::CampaignCreate;
use xads_client::{CallOptions, ListParams, OAuth1Signer, RetryPolicy, XError};

use crate::stub::{Reply, Stub};

const PAGE: &str = r#"{"data":[{"id":"c1"}],"next_cursor":null}"#;

#[tokio::test(start_paused = true)]
async fn a_5xx_storm_on_a_read_makes_exactly_three_attempts() {
    let stub = Stub::start(vec![Reply::error(500, "INTERNAL_ERROR", "Internal error")]).await;
    let err = stub
        .ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(stub.requests().len(), 3);
    assert_eq!(
        err.to_string(),
        "X Ads list_campaigns: 500 — Internal error"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_recovers_after_transient_failures() {
    let stub = Stub::start(vec![
        Reply::html(502, "bad gateway"),
        Reply::error(500, "INTERNAL_ERROR", "oops"),
        Reply::json(200, PAGE),
    ])
    .await;
    let page = stub
        .ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap();
    assert_eq!(page.data[0].id, "c1");
    assert_eq!(stub.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_400_is_never_retried() {
    let stub = Stub::start(vec![Reply::error(400, "INVALID_PARAMETER", "bad")]).await;
    let err = stub
        .ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_until_the_reset_before_the_next_attempt() {
    let reset = chrono::Utc::now().timestamp() + 30;
    let stub = Stub::start(vec![
        Reply::error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
            .header("x-account-rate-limit-remaining", 0)
            .header("x-account-rate-limit-reset", reset),
        Reply::json(200, PAGE),
    ])
    .await;
    stub.ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap();
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    // Reset was ≥ 29 s after the first answer (epoch seconds truncate); the retry came after it.
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_secs(29),
        "retried after {:?}",
        reqs[1].at - reqs[0].at
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_is_retried_after_a_429() {
    let stub = Stub::start(vec![
        Reply::error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded"),
        Reply::ok(r#"{"id":"c9"}"#),
    ])
    .await;
    let created = stub
        .ads(RetryPolicy::default())
        .create_campaign(
            "acc",
            &CampaignCreate::default(),
            &CallOptions::idempotency_key("k"),
        )
        .await
        .unwrap();
    assert_eq!(created.data.id, "c9");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter()
            .all(|r| r.header("idempotency-key") == Some("k"))
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_waits_have_their_own_small_budget() {
    let stub = Stub::start(vec![Reply::error(
        429,
        "TOO_MANY_REQUESTS",
        "Rate limit exceeded",
    )])
    .await;
    let err = stub
        .ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap_err();
    // One attempt plus max_rate_limit_waits (3) retries, then X's message.
    assert_eq!(stub.requests().len(), 4);
    assert_eq!(
        err.to_string(),
        "X Ads list_campaigns: 429 — Rate limit exceeded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_503_honours_retry_after() {
    let stub = Stub::start(vec![
        Reply::error(503, "SERVICE_UNAVAILABLE", "Over capacity").header("retry-after", 7),
        Reply::json(200, PAGE),
    ])
    .await;
    stub.ads(RetryPolicy::default())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap();
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn a_write_with_a_500_is_not_retried_unless_guarded() {
    let stub = Stub::start(vec![Reply::error(500, "INTERNAL_ERROR", "Internal error")]).await;
    let ads = stub.ads(RetryPolicy::default());
    let err = ads
        .create_campaign(
            "acc",
            &CampaignCreate::default(),
            &CallOptions::idempotency_key("k1"),
        )
        .await
        .unwrap_err();
    assert_eq!(stub.requests().len(), 1);
    assert!(err.is_ambiguous());

    let guarded = CallOptions::idempotency_key("k2").retry_ambiguous(true);
    ads.create_campaign("acc", &CampaignCreate::default(), &guarded)
        .await
        .unwrap_err();
    assert_eq!(stub.requests().len(), 1 + 3);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_ambiguous_and_retried_only_for_reads() {
    let stub = Stub::start(vec![Reply::Drop]).await;
    let ads = stub.ads(RetryPolicy::default());
    let err = ads
        .create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            XError::Transport {
                ambiguous: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_ambiguous());
    assert_eq!(stub.requests().len(), 1);

    let err = ads
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Transport { .. }));
    assert_eq!(stub.requests().len(), 1 + 3);
}

#[tokio::test(start_paused = true)]
async fn every_attempt_is_signed_anew() {
    let stub = Stub::start(vec![Reply::html(502, "x"), Reply::json(200, PAGE)]).await;
    let signer = Arc::new(OAuth1Signer::new("ckey", "csecret", "utoken", "usecret"));
    stub.client(RetryPolicy::default())
        .with_auth(signer, "conn")
        .list_campaigns("acc", &ListParams::new().ids("campaign_ids", ["a", "b"]))
        .await
        .unwrap();
    let reqs = stub.requests();
    let a = reqs[0].header("authorization").unwrap();
    let b = reqs[1].header("authorization").unwrap();
    assert!(a.starts_with("OAuth ") && a.contains("oauth_consumer_key=\"ckey\""));
    assert_ne!(a, b, "a retried call needs a fresh nonce and signature");
}
