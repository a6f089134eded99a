//! OAuth 2.0: authorize, PKCE code exchange, refresh rotation and family revocation, revoke.

use reqwest::StatusCode;
use serde_json::Value;
use xads_fake::s256_challenge;

use crate::support::{T, answer};

const REDIRECT: &str = "http://127.0.0.1:8080/oauth/x_ads/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[test]
fn s256_matches_rfc7636_appendix_b() {
    assert_eq!(
        s256_challenge(VERIFIER),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

async fn authorize(t: &T, scope: &str) -> String {
    let resp = t
        .http
        .get(t.url("/i/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "fake-client-id"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "st4te"),
            ("code_challenge", &s256_challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "st4te".into())));
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .unwrap()
}

async fn token(t: &T, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = t
        .http
        .post(t.url("/2/oauth2/token"))
        .basic_auth("fake-client-id", Some("fake-client-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    (a.status, a.body)
}

async fn exchange(t: &T, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(t: &T, rt: &str) -> (StatusCode, Value) {
    token(t, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await
}

async fn accounts_status(t: &T, access: &str) -> StatusCode {
    t.http
        .get(t.url("/12/accounts"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

const SCOPES: &str = "ads.read ads.write offline.access";

#[tokio::test]
async fn pkce_exchange_issues_tokens_that_open_the_ads_api() {
    let t = T::new().await;
    let code = authorize(&t, SCOPES).await;
    let (status, body) = exchange(&t, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body["scope"], SCOPES);
    assert!(body["refresh_token"].is_string());
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(accounts_status(&t, access).await, 200);
}

#[tokio::test]
async fn wrong_verifier_reused_or_expired_code_is_400() {
    let t = T::new().await;
    let code = authorize(&t, SCOPES).await;
    let (status, body) = exchange(&t, &code, "wrong-verifier-wrong-verifier-wrong-verifier").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("authorization code")
    );

    let code = authorize(&t, SCOPES).await;
    assert_eq!(exchange(&t, &code, VERIFIER).await.0, 200);
    assert_eq!(
        exchange(&t, &code, VERIFIER).await.0,
        400,
        "codes are single use"
    );

    let code = authorize(&t, SCOPES).await;
    t.fake.advance_clock(chrono::Duration::seconds(31));
    assert_eq!(
        exchange(&t, &code, VERIFIER).await.0,
        400,
        "codes live 30 s"
    );
}

#[tokio::test]
async fn token_endpoint_requires_basic_client_auth() {
    let t = T::new().await;
    let code = authorize(&t, SCOPES).await;
    let resp = t
        .http
        .post(t.url("/2/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "fake-client-id"),
            ("client_secret", "fake-client-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn authorize_refuses_unknown_client_and_unregistered_redirect() {
    let t = T::new().await;
    for (client, redirect) in [
        ("other", REDIRECT),
        ("fake-client-id", "http://evil.example/cb"),
    ] {
        let resp = t
            .http
            .get(t.url("/i/oauth2/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
                ("scope", SCOPES),
                ("state", "s"),
                ("code_challenge", "abc"),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let t = T::new().await;
    let code = authorize(&t, SCOPES).await;
    let (_, first) = exchange(&t, &code, VERIFIER).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = refresh(&t, &rt1).await;
    assert_eq!(status, 200);
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    let at2 = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    assert_eq!(accounts_status(&t, &at2).await, 200);
    let reuse = |t: &T| t.fake.family_revocations().len();
    assert_eq!(reuse(&t), 0);

    let (status, body) = refresh(&t, &rt1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(reuse(&t), 1);
    assert_eq!(
        accounts_status(&t, &at2).await,
        401,
        "family access tokens die"
    );
    assert_eq!(refresh(&t, &rt2).await.0, 400, "family refresh tokens die");
    assert_eq!(t.fake.oauth_counters().refresh_calls, 3);
    assert_eq!(t.fake.oauth_counters().refresh_successes, 1);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let t = T::new().await;
    let code = authorize(&t, "ads.read").await;
    let (status, body) = exchange(&t, &code, VERIFIER).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn a_new_grant_revokes_the_previous_one_and_revoke_ends_a_grant() {
    let t = T::new().await;
    let (_, a) = exchange(&t, &authorize(&t, SCOPES).await, VERIFIER).await;
    let (_, b) = exchange(&t, &authorize(&t, SCOPES).await, VERIFIER).await;
    let at_a = a["access_token"].as_str().unwrap();
    let at_b = b["access_token"].as_str().unwrap();
    assert_eq!(accounts_status(&t, at_a).await, 401);
    assert_eq!(accounts_status(&t, at_b).await, 200);
    assert_eq!(
        t.fake
            .revocations()
            .iter()
            .filter(|r| r.reason == "superseded")
            .count(),
        2,
        "the test token's grant and grant a"
    );
    assert!(
        t.fake.family_revocations().is_empty(),
        "superseding is not reuse"
    );

    let resp = t
        .http
        .post(t.url("/2/oauth2/revoke"))
        .basic_auth("fake-client-id", Some("fake-client-secret"))
        .form(&[("token", b["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(accounts_status(&t, at_b).await, 401);
}

#[tokio::test]
async fn expired_access_token_is_401_and_refresh_still_works() {
    let t = T::new().await;
    let (_, a) = exchange(&t, &authorize(&t, SCOPES).await, VERIFIER).await;
    t.fake.advance_clock(chrono::Duration::seconds(7200));
    assert_eq!(
        accounts_status(&t, a["access_token"].as_str().unwrap()).await,
        401
    );
    let (status, b) = refresh(&t, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        accounts_status(&t, b["access_token"].as_str().unwrap()).await,
        200
    );
}
