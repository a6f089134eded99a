//! Shared helpers: start a fake on a fixed clock, mint a token, call it with reqwest.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use xads_fake::{FakeConfig, FakeX};

/// The fixed start of the fake clock in tests.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 20, 12, 34, 56).unwrap()
}

/// A config on a frozen clock.
pub fn config() -> FakeConfig {
    FakeConfig {
        start_time: Some(t0()),
        ..FakeConfig::default()
    }
}

/// A reqwest client that does not follow redirects.
pub fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A running fake plus an authenticated client.
pub struct T {
    pub fake: FakeX,
    pub http: Client,
    pub token: String,
}

/// An answer: status, headers, JSON body (Null when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header as string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first error's code.
    pub fn error_code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or("")
    }

    /// The first error's parameter.
    pub fn error_parameter(&self) -> &str {
        self.body["errors"][0]["parameter"].as_str().unwrap_or("")
    }
}

impl T {
    /// A fake with `config` and a token of the seeded user.
    pub async fn with(config: FakeConfig) -> T {
        let fake = FakeX::start(config).await.unwrap();
        let user = fake.seed_info().user_id;
        let token = fake
            .issue_tokens(&user, "ads.read ads.write offline.access media.write")
            .access_token;
        T {
            fake,
            http: http(),
            token,
        }
    }

    /// A default fake.
    pub async fn new() -> T {
        Self::with(config()).await
    }

    /// The USD account id.
    pub fn usd(&self) -> String {
        self.fake.seed_info().usd_account_id
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        self.fake
            .base_url()
            .join(path.trim_start_matches('/'))
            .unwrap()
            .to_string()
    }

    /// Calls with the bearer token and query params.
    pub async fn call(&self, method: Method, path: &str, query: &[(&str, &str)]) -> Answer {
        let resp = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    /// GET.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, path, query).await
    }

    /// POST (params in the query string, as X's SDKs send them).
    pub async fn post(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::POST, path, query).await
    }

    /// PUT.
    pub async fn put(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::PUT, path, query).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::DELETE, path, query).await
    }
}

/// Reads a response into an [`Answer`].
pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}
