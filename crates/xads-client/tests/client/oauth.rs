//! OAuth 2.0 token, refresh and revoke on the API host.

use base64::Engine;
use xads_client::{RetryPolicy, Secret, XError};

use crate::stub::{Reply, Stub};

const TOKENS: &str = r#"{"token_type":"bearer","expires_in":7200,"access_token":"AT-1","scope":"ads.read ads.write offline.access","refresh_token":"RT-1"}"#;

#[tokio::test]
async fn exchange_code_posts_the_form_with_basic_client_auth() {
    let stub = Stub::start(vec![Reply::json(200, TOKENS)]).await;
    let secret = Secret::new("cs-1");
    let t = stub
        .client(RetryPolicy::default())
        .exchange_code(
            "code-1",
            "https://app.example/cb",
            "verifier-1",
            "cid-1",
            Some(&secret),
        )
        .await
        .unwrap();
    assert_eq!(t.access_token.expose(), "AT-1");
    assert_eq!(t.refresh_token.as_ref().map(Secret::expose), Some("RT-1"));
    assert_eq!(t.expires_in, Some(7200));
    assert!(t.scopes().contains(&"offline.access"));

    let req = stub.single();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/2/oauth2/token");
    assert_eq!(req.raw_query, "");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = req.form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["redirect_uri"], "https://app.example/cb");
    assert_eq!(form["code_verifier"], "verifier-1");
    assert!(
        !form.contains_key("client_secret"),
        "X rejects client_secret_post"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("cid-1:cs-1");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
}

#[tokio::test]
async fn public_clients_send_client_id_in_the_form() {
    let stub = Stub::start(vec![Reply::json(200, TOKENS)]).await;
    stub.client(RetryPolicy::default())
        .refresh(&Secret::new("RT-0"), "cid-1", None)
        .await
        .unwrap();
    let req = stub.single();
    let form = req.form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "RT-0");
    assert_eq!(form["client_id"], "cid-1");
    assert_eq!(req.header("authorization"), None);
}

#[tokio::test]
async fn revoke() {
    let stub = Stub::start(vec![Reply::json(200, r#"{"revoked":true}"#)]).await;
    let revoked = stub
        .client(RetryPolicy::default())
        .revoke(&Secret::new("AT-1"), "cid-1", Some(&Secret::new("cs-1")))
        .await
        .unwrap();
    assert!(revoked);
    let req = stub.single();
    assert_eq!(req.path, "/2/oauth2/revoke");
    assert_eq!(req.form()["token"], "AT-1");
}

#[tokio::test]
async fn oauth_errors_have_their_own_variant_and_hide_secrets() {
    let stub = Stub::start(vec![Reply::json(
        400,
        r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
    )])
    .await;
    let err = stub
        .client(RetryPolicy::default())
        .refresh(
            &Secret::new("RT-SECRET"),
            "cid-1",
            Some(&Secret::new("CS-SECRET")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, XError::OAuth { status: 400, .. }), "{err:?}");
    assert_eq!(err.first_code().as_deref(), Some("invalid_request"));
    assert_eq!(
        err.to_string(),
        "X Ads refresh_token: 400 — Value passed for the token was invalid."
    );
    let shown = format!("{err:?} {err}");
    assert!(!shown.contains("RT-SECRET") && !shown.contains("CS-SECRET"));
    assert_eq!(stub.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_token_call_is_not_retried_after_a_5xx() {
    // Codes are single-use and refresh tokens rotate: a blind retry would burn them.
    let stub = Stub::start(vec![Reply::html(500, "oops")]).await;
    let err = stub
        .client(RetryPolicy::default())
        .refresh(&Secret::new("RT-0"), "cid-1", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(stub.requests().len(), 1);
}
