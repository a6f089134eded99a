//! X's error classes reach the caller as parsed values (one attempt each: `RetryPolicy::none()`).

use std::time::Duration;

use xads_client::models::CampaignCreate;
use xads_client::{
    CallOptions, ErrorClass, ErrorCode, LimitScope, ListParams, RetryPolicy, XError,
};

use crate::stub::{Reply, Stub, TOKEN};

async fn list_error(reply: Reply) -> XError {
    let stub = Stub::start(vec![reply]).await;
    let err = stub
        .ads(RetryPolicy::none())
        .list_campaigns("acc", &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(stub.requests().len(), 1);
    err
}

fn api_parts(err: &XError) -> (&[xads_client::XErrorItem], Option<Duration>) {
    match err {
        XError::Api {
            errors,
            retry_after,
            ..
        } => (errors, *retry_after),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_request_with_parameter() {
    let err = list_error(Reply::json(
        400,
        r#"{"errors":[{"code":"INVALID_PARAMETER","message":"Expected time, got \"\" for start_time","parameter":"start_time","details":"invalid date","value":""}],"request":{"params":{"account_id":"acc"}}}"#,
    ))
    .await;
    let (errors, _) = api_parts(&err);
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.first_code().as_deref(), Some("INVALID_PARAMETER"));
    assert_eq!(errors[0].parameter.as_deref(), Some("start_time"));
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "X Ads list_campaigns: 400 — Expected time, got \"\" for start_time"
    );
}

#[tokio::test]
async fn several_errors_and_legacy_attribute() {
    let err = list_error(Reply::json(
        400,
        r#"{"errors":[{"code":"INVALID","message":"first","attribute":"name"},{"code":"INVALID","message":"second","attribute":"bid"}]}"#,
    ))
    .await;
    let (errors, _) = api_parts(&err);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1].attribute.as_deref(), Some("bid"));
    assert!(err.to_string().ends_with("— first"));
}

#[tokio::test]
async fn unauthorized_never_echoes_the_token() {
    let err = list_error(Reply::error(
        401,
        "UNAUTHORIZED_ACCESS",
        "This request is not properly authenticated",
    ))
    .await;
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.first_code().as_deref(), Some("UNAUTHORIZED_ACCESS"));
    assert!(!format!("{err:?}").contains(TOKEN));
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn legacy_gateway_numeric_code() {
    let err = list_error(Reply::json(
        400,
        r#"{"errors":[{"code":215,"message":"Bad Authentication data."}]}"#,
    ))
    .await;
    let (errors, _) = api_parts(&err);
    assert_eq!(errors[0].code, Some(ErrorCode::Number(215)));
    assert_eq!(err.first_code().as_deref(), Some("215"));
    // The legacy gateway answers bad credentials with 400; it is still an auth failure.
    assert_eq!(err.class(), ErrorClass::Unauthorized);
}

#[tokio::test]
async fn account_not_found_is_a_403() {
    let err = list_error(Reply::error(
        403,
        "ACCOUNT_NOT_FOUND",
        "Account acc was not found",
    ))
    .await;
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.first_code().as_deref(), Some("ACCOUNT_NOT_FOUND"));
    assert_eq!(err.class(), ErrorClass::Forbidden);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn html_404_keeps_the_status() {
    let err = list_error(Reply::html(
        404,
        "<html><body>Sorry, that page does not exist</body></html>",
    ))
    .await;
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.first_code(), None);
    assert_eq!(err.to_string(), "X Ads list_campaigns: 404 — Not Found");
}

#[tokio::test]
async fn rate_limited_write_carries_the_parsed_reset() {
    let stub = Stub::start(vec![
        Reply::error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
            .header("x-rate-limit-limit", 450)
            .header("x-rate-limit-remaining", 0)
            .header("x-rate-limit-reset", 1_900_000_000),
    ])
    .await;
    let err = stub
        .ads(RetryPolicy::none())
        .create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "X Ads create_campaign: 429 — Rate limit exceeded"
    );
    let info = err.rate_limit().unwrap();
    assert_eq!(info.scope, Some(LimitScope::User));
    assert_eq!(info.limit, Some(450));
    assert_eq!(info.remaining, Some(0));
    assert_eq!(info.reset.unwrap().timestamp(), 1_900_000_000);
    assert!(err.is_rate_limited() && err.is_retryable() && !err.is_ambiguous());
}

#[tokio::test]
async fn service_unavailable_carries_retry_after() {
    let err = list_error(
        Reply::error(503, "SERVICE_UNAVAILABLE", "Over capacity").header("retry-after", 7),
    )
    .await;
    let (_, retry_after) = api_parts(&err);
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        err.rate_limit().unwrap().retry_after,
        Some(Duration::from_secs(7))
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn non_json_bad_gateway() {
    let err = list_error(Reply::html(
        502,
        "<html><title>502 Bad Gateway</title></html>",
    ))
    .await;
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.to_string(), "X Ads list_campaigns: 502 — Bad Gateway");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn success_with_an_undecodable_body_is_a_decode_error() {
    let err = list_error(Reply::html(200, "<html>maintenance</html>")).await;
    assert!(matches!(err, XError::Decode { status: 200, .. }), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_an_unambiguous_transport_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = xads_client::XAdsClient::builder()
        .ads_base_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client
        .with_auth(
            std::sync::Arc::new(xads_client::BearerSigner::new(TOKEN)),
            "c",
        )
        .create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            XError::Transport {
                ambiguous: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Following a 302 would turn a POST into a GET on another URL.
    let stub = Stub::start(vec![
        Reply::html(302, "moved").header("location", "/elsewhere"),
        Reply::json(200, r#"{"data":{"id":"c1"}}"#),
    ])
    .await;
    let err = stub
        .ads(RetryPolicy::default())
        .create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(302));
    assert_eq!(err.class(), ErrorClass::OtherClient);
    assert_eq!(stub.requests().len(), 1);
}
