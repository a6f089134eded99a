//! OAuth 1.0a: signatures verified the way X verifies them, and the three-legged flow.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use http::Method;
use percent_encoding::percent_decode_str;
use sha1::Sha1;
use xads_client::models::{Granularity, MetricGroup, Placement, StatsEntityType, StatsQuery};
use xads_client::oauth1::signature_base_string;
use xads_client::oauth1_flow::RequestToken;
use xads_client::{ListParams, OAuth1Signer, RetryPolicy, Secret, SignableRequest};

use crate::stub::{Recorded, Reply, Stub};

/// The `oauth_*` parameters of an `Authorization: OAuth …` header, decoded.
fn oauth_params(header: &str) -> BTreeMap<String, String> {
    header
        .strip_prefix("OAuth ")
        .expect("OAuth header")
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let v = v.trim_matches('"');
            (
                k.to_owned(),
                percent_decode_str(v).decode_utf8().unwrap().into_owned(),
            )
        })
        .collect()
}

/// Recomputes the signature from what the server received, as X would.
fn verify(stub: &Stub, req: &Recorded, consumer_secret: &str, token_secret: &str) {
    let params = oauth_params(req.header("authorization").unwrap());
    let mut url = format!("{}{}", stub.url, req.path);
    if !req.raw_query.is_empty() {
        url = format!("{url}?{}", req.raw_query);
    }
    let signable = SignableRequest::new(
        Method::from_bytes(req.method.as_bytes()).unwrap(),
        url::Url::parse(&url).unwrap(),
        vec![],
    );
    let oauth: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "oauth_signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let base = signature_base_string(&signable, &oauth);
    let key = format!("{consumer_secret}&{token_secret}");
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(params["oauth_signature"], expected, "signature of {url}");
}

#[tokio::test]
async fn signed_requests_verify_against_what_the_server_received() {
    let stub = Stub::start(vec![
        Reply::json(200, r#"{"data":[],"next_cursor":null}"#),
        Reply::json(200, r#"{"data_type":"stats","data":[],"request":{}}"#),
    ])
    .await;
    let signer = Arc::new(OAuth1Signer::new("ckey", "c:secret", "utoken", "u,secret"));
    let ads = stub.client(RetryPolicy::none()).with_auth(signer, "conn");
    ads.list_campaigns(
        "acc",
        &ListParams::new()
            .ids("campaign_ids", ["a", "b"])
            .q("Spring sale: 50% + more"),
    )
    .await
    .unwrap();
    let start = Utc.with_ymd_and_hms(2026, 5, 19, 7, 0, 0).unwrap();
    ads.stats(
        "acc",
        &StatsQuery {
            entity: StatsEntityType::Campaign,
            entity_ids: vec!["a".into(), "b".into()],
            start_time: start,
            end_time: start + chrono::Duration::hours(24),
            granularity: Granularity::Hour,
            placement: Placement::AllOnTwitter,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
        },
    )
    .await
    .unwrap();
    for req in stub.requests() {
        let params = oauth_params(req.header("authorization").unwrap());
        assert_eq!(params["oauth_consumer_key"], "ckey");
        assert_eq!(params["oauth_token"], "utoken");
        assert_eq!(params["oauth_signature_method"], "HMAC-SHA1");
        assert_eq!(params["oauth_version"], "1.0");
        verify(&stub, &req, "c%3Asecret", "u%2Csecret");
    }
}

#[tokio::test]
async fn three_legged_flow() {
    let stub = Stub::start(vec![
        Reply::Http {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: "oauth_token=RQT&oauth_token_secret=RQS&oauth_callback_confirmed=true".into(),
        },
        Reply::Http {
            status: 200,
            headers: vec![],
            body:
                "oauth_token=AT-1&oauth_token_secret=AS-1&user_id=6253282&screen_name=XDevelopers"
                    .into(),
        },
        Reply::json(200, r#"{"access_token":"ACCESS_TOKEN"}"#),
    ])
    .await;
    let client = stub.client(RetryPolicy::none());
    let consumer_secret = Secret::new("CS");
    let rt = client
        .oauth1_request_token("ckey", &consumer_secret, "https://app.example/cb?x=1")
        .await
        .unwrap();
    assert_eq!(rt.token, "RQT");
    assert_eq!(rt.secret.expose(), "RQS");
    assert!(rt.callback_confirmed);
    assert!(!format!("{rt:?}").contains("RQS"));
    assert_eq!(
        client.oauth1_authorize_url(&rt.token),
        format!("{}/oauth/authorize?oauth_token=RQT", stub.url)
    );

    let at = client
        .oauth1_access_token("ckey", &consumer_secret, &rt, "VERIFIER")
        .await
        .unwrap();
    assert_eq!(at.token.expose(), "AT-1");
    assert_eq!(at.secret.expose(), "AS-1");
    assert_eq!(at.user_id.as_deref(), Some("6253282"));
    assert!(!format!("{at:?}").contains("AS-1"));

    let user = OAuth1Signer::new("ckey", "CS", at.token.expose(), at.secret.expose());
    client.oauth1_invalidate_token(&user).await.unwrap();

    let reqs = stub.requests();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/oauth/request_token");
    let p0 = oauth_params(reqs[0].header("authorization").unwrap());
    assert_eq!(p0["oauth_callback"], "https://app.example/cb?x=1");
    assert!(!p0.contains_key("oauth_token"));
    verify(&stub, &reqs[0], "CS", "");

    assert_eq!(reqs[1].path, "/oauth/access_token");
    let p1 = oauth_params(reqs[1].header("authorization").unwrap());
    assert_eq!(p1["oauth_token"], "RQT");
    assert_eq!(p1["oauth_verifier"], "VERIFIER");
    verify(&stub, &reqs[1], "CS", "RQS");

    assert_eq!(reqs[2].path, "/1.1/oauth/invalidate_token");
    assert_eq!(
        oauth_params(reqs[2].header("authorization").unwrap())["oauth_token"],
        "AT-1"
    );
    verify(&stub, &reqs[2], "CS", "AS-1");
}

#[tokio::test]
async fn a_token_step_without_tokens_is_a_decode_error() {
    let stub = Stub::start(vec![Reply::html(200, "nope")]).await;
    let err = stub
        .client(RetryPolicy::none())
        .oauth1_access_token(
            "ckey",
            &Secret::new("CS"),
            &RequestToken {
                token: "RQT".into(),
                secret: Secret::new("RQS"),
                callback_confirmed: true,
            },
            "V",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, xads_client::XError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn a_request_token_without_a_confirmed_callback_or_a_token_is_refused() {
    for body in [
        // No confirmation: X did not take our callback.
        "oauth_token=RQT&oauth_token_secret=RQS",
        "oauth_token=RQT&oauth_token_secret=RQS&oauth_callback_confirmed=false",
        // Empty token or secret.
        "oauth_token=&oauth_token_secret=RQS&oauth_callback_confirmed=true",
        "oauth_token=RQT&oauth_token_secret=&oauth_callback_confirmed=true",
    ] {
        let stub = Stub::start(vec![Reply::Http {
            status: 200,
            headers: vec![],
            body: body.into(),
        }])
        .await;
        let client = stub.client(RetryPolicy::none());
        let err = client
            .oauth1_request_token("ckey", &Secret::new("CS"), "https://app.example/cb")
            .await
            .unwrap_err();
        assert!(
            matches!(err, xads_client::XError::Decode { .. }),
            "{body}: {err}"
        );
    }
}

#[tokio::test]
async fn an_access_token_answer_with_an_empty_token_is_refused() {
    let stub = Stub::start(vec![Reply::Http {
        status: 200,
        headers: vec![],
        body: "oauth_token=&oauth_token_secret=AS-1&user_id=1".into(),
    }])
    .await;
    let client = stub.client(RetryPolicy::none());
    let rt = xads_client::oauth1_flow::RequestToken {
        token: "RQT".into(),
        secret: Secret::new("RQS"),
        callback_confirmed: true,
    };
    let err = client
        .oauth1_access_token("ckey", &Secret::new("CS"), &rt, "V")
        .await
        .unwrap_err();
    assert!(matches!(err, xads_client::XError::Decode { .. }), "{err}");
}
