//! OAuth 1.0a: signature primitive against X's documented example, the three-legged flow, and
//! signed Ads API calls (replay and tampering refused).

use reqwest::{Method, StatusCode};
use xads_fake::oauth1::{base_string, encode, sign};

use crate::support::T;

const REDIRECT: &str = "http://127.0.0.1:8080/oauth/x_ads/callback";

#[test]
fn signature_matches_x_documented_example() {
    let params: Vec<(String, String)> = [
        (
            "status",
            "Hello Ladies + Gentlemen, a signed OAuth request!",
        ),
        ("include_entities", "true"),
        ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
        ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1318622958"),
        (
            "oauth_token",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        ),
        ("oauth_version", "1.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let base = base_string(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        &params,
    );
    assert_eq!(
        sign(
            &base,
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
        ),
        "hCtSmYh+iHYCEqBWrE7C7hYmtUk="
    );
    assert_eq!(
        encode("2026-05-18T00:00:00Z,a"),
        "2026-05-18T00%3A00%3A00Z%2Ca"
    );
}

/// Builds an `Authorization: OAuth …` header for a request.
fn authorization(
    method: &str,
    url: &str,
    query: &[(&str, &str)],
    token: Option<(&str, &str)>,
    extra: &[(&str, &str)],
    nonce: &str,
) -> String {
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), "fake-consumer-key".into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), ts),
        ("oauth_version".into(), "1.0".into()),
    ];
    if let Some((t, _)) = token {
        oauth.push(("oauth_token".into(), t.into()));
    }
    oauth.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut all = oauth.clone();
    all.extend(query.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let sig = sign(
        &base_string(method, url, &all),
        "fake-consumer-secret",
        token.map_or("", |(_, s)| s),
    );
    oauth.push(("oauth_signature".into(), sig));
    let parts: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect();
    format!("OAuth {}", parts.join(", "))
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn field(pairs: &[(String, String)], k: &str) -> String {
    pairs
        .iter()
        .find(|(kk, _)| kk == k)
        .map(|(_, v)| v.clone())
        .unwrap()
}

async fn three_legged(t: &T) -> (String, String, String) {
    let url = t.url("/oauth/request_token");
    let h = authorization(
        "POST",
        &url,
        &[],
        None,
        &[("oauth_callback", REDIRECT)],
        "n1",
    );
    let r = t
        .http
        .post(&url)
        .header("authorization", h)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rt = form(&r.text().await.unwrap());
    assert_eq!(field(&rt, "oauth_callback_confirmed"), "true");
    let (rtok, rsec) = (field(&rt, "oauth_token"), field(&rt, "oauth_token_secret"));

    let r = t
        .http
        .get(t.url("/oauth/authorize"))
        .query(&[("oauth_token", &rtok)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(field(&q, "oauth_token"), rtok);
    let verifier = field(&q, "oauth_verifier");

    let url = t.url("/oauth/access_token");
    let h = authorization(
        "POST",
        &url,
        &[],
        Some((&rtok, &rsec)),
        &[("oauth_verifier", &verifier)],
        "n2",
    );
    let r = t
        .http
        .post(&url)
        .header("authorization", h.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let at = form(&r.text().await.unwrap());
    assert_eq!(field(&at, "user_id"), t.fake.seed_info().user_id);
    // The request token is single use.
    let h = authorization(
        "POST",
        &url,
        &[],
        Some((&rtok, &rsec)),
        &[("oauth_verifier", &verifier)],
        "n3",
    );
    assert_eq!(
        t.http
            .post(&url)
            .header("authorization", h)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    (
        field(&at, "oauth_token"),
        field(&at, "oauth_token_secret"),
        verifier,
    )
}

#[tokio::test]
async fn three_legged_flow_then_signed_calls_replays_and_invalidation() {
    let t = T::new().await;
    let (token, secret, _) = three_legged(&t).await;
    let path = format!("/12/stats/accounts/{}", t.usd());
    let url = t.url(&path);
    let li = t.fake.seed_info().accounts[0].line_item_ids.clone();
    let ids = format!("{},{}", li[0], li[1]);
    let query = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", ids.as_str()),
        ("start_time", "2026-05-18T00:00:00Z"),
        ("end_time", "2026-05-19T00:00:00Z"),
        ("granularity", "TOTAL"),
        ("placement", "ALL_ON_TWITTER"),
        ("metric_groups", "ENGAGEMENT"),
    ];
    let h = authorization("GET", &url, &query, Some((&token, &secret)), &[], "call-1");
    let send = |h: String, query: Vec<(&'static str, String)>| {
        let t = &t;
        let url = url.clone();
        async move {
            t.http
                .request(Method::GET, &url)
                .header("authorization", h)
                .query(&query)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let owned: Vec<(&'static str, String)> =
        query.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(send(h.clone(), owned.clone()).await, 200);
    assert_eq!(
        send(h, owned.clone()).await,
        401,
        "a replayed nonce is refused"
    );
    let h = authorization("GET", &url, &query, Some((&token, &secret)), &[], "call-2");
    let mut tampered = owned.clone();
    tampered[0].1 = "CAMPAIGN".into();
    assert_eq!(
        send(h, tampered).await,
        401,
        "params are covered by the signature"
    );
    let h = authorization("GET", &url, &query, Some((&token, "wrong")), &[], "call-3");
    assert_eq!(send(h, owned.clone()).await, 401);

    let inv = t.url("/1.1/oauth/invalidate_token");
    let h = authorization("POST", &inv, &[], Some((&token, &secret)), &[], "inv");
    assert_eq!(
        t.http
            .post(&inv)
            .header("authorization", h)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let h = authorization("GET", &url, &query, Some((&token, &secret)), &[], "call-4");
    assert_eq!(send(h, owned).await, 401, "invalidated tokens stop working");
}

#[tokio::test]
async fn signed_writes_with_form_bodies_are_verified() {
    let t = T::new().await;
    let (token, secret) = t.fake.issue_oauth1_tokens(&t.fake.seed_info().user_id);
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let url = t.url(&format!("/12/accounts/{}/campaigns", t.usd()));
    let body = [
        ("funding_instrument_id", fi.as_str()),
        ("name", "signed, with: punctuation"),
    ];
    let h = authorization("POST", &url, &body, Some((&token, &secret)), &[], "w1");
    let r = t
        .http
        .post(&url)
        .header("authorization", h)
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["data"]["name"], "signed, with: punctuation");
    assert_eq!(
        t.fake
            .ledger()
            .last()
            .unwrap()
            .header("authorization")
            .map(|h| h.starts_with("OAuth ")),
        Some(true)
    );
}

#[tokio::test]
async fn oob_callback_shows_a_pin_that_the_access_token_exchange_takes() {
    let t = T::with(xads_fake::FakeConfig {
        redirect_uris: vec!["oob".into()],
        ..crate::support::config()
    })
    .await;
    let url = t.url("/oauth/request_token");
    let auth = authorization(
        "POST",
        &url,
        &[],
        None,
        &[("oauth_callback", "oob")],
        "oob-1",
    );
    let r = t
        .http
        .post(&url)
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pairs = form(&r.text().await.unwrap());
    let (rt, rs) = (
        field(&pairs, "oauth_token"),
        field(&pairs, "oauth_token_secret"),
    );
    let page = t
        .http
        .get(t.url(&format!("/oauth/authorize?oauth_token={rt}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the PIN flow shows a page, no redirect");
    let html = page.text().await.unwrap();
    let pin = html
        .split("<code id=\"oauth_pin\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert!(
        pin.len() == 7 && pin.chars().all(|c| c.is_ascii_digit()),
        "{pin}"
    );
    let url = t.url("/oauth/access_token");
    let wrong = authorization(
        "POST",
        &url,
        &[],
        Some((&rt, &rs)),
        &[("oauth_verifier", "0000000x")],
        "oob-2",
    );
    let r = t
        .http
        .post(&url)
        .header("authorization", wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong PIN is refused");
    let auth = authorization(
        "POST",
        &url,
        &[],
        Some((&rt, &rs)),
        &[("oauth_verifier", &pin)],
        "oob-3",
    );
    let r = t
        .http
        .post(&url)
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pairs = form(&r.text().await.unwrap());
    assert_eq!(field(&pairs, "user_id"), t.fake.seed_info().user_id);
    assert!(!field(&pairs, "oauth_token_secret").is_empty());
}
