//! What the service benches share: the configuration of an instance against the in-process
//! fake X, and connecting a tenant through the real OAuth flow (so the mirror is filled as a
//! user's connect fills it).

use std::collections::HashMap;

/// The redirect URI the fake X is told to expect.
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/x_ads/callback";

/// An instance on `db_url` against the fake at `fake_base` (no trailing slash): loopback
/// listener, no ECB fetch, no experiment runner; `extra` is added last.
pub fn vars(db_url: &str, fake_base: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("XADS_BIND", "127.0.0.1:0".to_owned()),
        ("XADS_RUNNER_INTERVAL", "off".to_owned()),
        ("XADS_FX_URL", "off".to_owned()),
        ("DATABASE_URL", db_url.to_owned()),
        ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
        ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
        ("X_ADS_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_ADS_API_BASE_URL", fake_base.to_owned()),
        ("X_API_BASE_URL", fake_base.to_owned()),
        (
            "X_OAUTH_AUTHORIZE_URL",
            format!("{fake_base}/i/oauth2/authorize"),
        ),
        (
            "XADS_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars
}

/// Connects the tenant of `key` to the fake X through the service at `base`: the connect
/// call, X's (auto-approving) authorize page, and the callback.
pub async fn connect(http: &reqwest::Client, base: &str, key: &str) {
    let started: serde_json::Value = http
        .post(format!("{base}/api/v1/integrations/x_ads/connect"))
        .bearer_auth(key)
        .send()
        .await
        .expect("connect")
        .json()
        .await
        .expect("connect body");
    let at_x = http
        .get(started["authorize_url"].as_str().expect("authorize_url"))
        .send()
        .await
        .expect("authorize");
    let location = url::Url::parse(at_x.headers()["location"].to_str().unwrap()).unwrap();
    let callback = http
        .get(format!(
            "{base}/oauth/x_ads/callback?{}",
            location.query().unwrap_or_default()
        ))
        .send()
        .await
        .expect("callback");
    assert!(callback.status().is_redirection(), "connect failed");
}

/// A client that does not follow redirects (the callback's answer is the redirect).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}
