//! The test harness: the service on port 0 against a fresh fake X, with a tenant and an HTTP client.

use std::collections::HashMap;

use xads::app::{AppState, Application};
use xads::config::Config;
use xads_fake::{FakeConfig, FakeX};

/// The OAuth redirect URI registered at the fake (the callback itself is called on the app's port).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/x_ads/callback";

/// A running service wired to its own fake X.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the service.
    pub base: String,
    /// `http://127.0.0.1:<port>` of its operators' listener (`/metrics`), when one is bound.
    pub metrics_base: Option<String>,
    /// The service's state (database, clock, client).
    pub state: AppState,
    /// The fake X it talks to.
    pub fake: FakeX,
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The environment a test service runs with, on `database_url`, pointed at `fake`.
pub fn vars_for(database_url: &str, fake: &FakeX) -> HashMap<String, String> {
    let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    HashMap::from(
        [
            ("XADS_BIND", "127.0.0.1:0".to_owned()),
            ("XADS_METRICS_BIND", "127.0.0.1:0".to_owned()),
            // Tests drive the experiment runner by hand, at the instants they choose.
            ("XADS_RUNNER_INTERVAL", "off".to_owned()),
            ("XADS_SYNC_INTERVAL", "off".to_owned()),
            // The connect backfill (90 days of X's jobs) is off unless a test is about it.
            ("XADS_BACKFILL_DAYS", "0".to_owned()),
            // Tests never reach the internet: ECB's rates come from a loopback stand-in where a
            // test wants them (reporting's FX tests set XADS_FX_URL themselves).
            ("XADS_FX_URL", "off".to_owned()),
            // These tests compress hours of X traffic into a second (a week of rotation is ~80
            // calls); at the default 50/min an unlucky split between two instances waited a whole
            // window. The limiter has its own suite.
            ("X_ADS_RATE_LIMIT_PER_MINUTE", "10000".to_owned()),
            ("DATABASE_URL", database_url.to_owned()),
            ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
            ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
            ("X_ADS_CONSUMER_KEY", "fake-consumer-key".to_owned()),
            ("X_ADS_CONSUMER_SECRET", "fake-consumer-secret".to_owned()),
            ("X_ADS_REDIRECT_URI", REDIRECT_URI.to_owned()),
            ("X_ADS_API_BASE_URL", fake_base.clone()),
            ("X_API_BASE_URL", fake_base.clone()),
            (
                "X_OAUTH_AUTHORIZE_URL",
                format!("{fake_base}/i/oauth2/authorize"),
            ),
            (
                "XADS_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    )
}

impl TestApp {
    /// Starts a fake X with `fake_config` and the service on `database_url`.
    pub async fn spawn(database_url: &str, fake_config: FakeConfig) -> TestApp {
        let fake = FakeX::start(fake_config).await.expect("fake X");
        let vars = vars_for(database_url, &fake);
        Self::spawn_with(fake, &vars).await
    }

    /// Starts a fake X and the service in live mode (writes go to the fake), connected as a tenant.
    /// Returns the app and the tenant's API key.
    pub async fn live_connected(database_url: &str) -> (TestApp, String) {
        let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
        let mut vars = vars_for(database_url, &fake);
        vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
        let app = Self::spawn_with(fake, &vars).await;
        let key = app.tenant("Growth").await;
        app.connect(&key).await;
        (app, key)
    }

    /// The dry-run twin of [`TestApp::live_connected`].
    pub async fn dry_run_connected(database_url: &str) -> (TestApp, String) {
        let app = Self::spawn(database_url, FakeConfig::default()).await;
        let key = app.tenant("Growth").await;
        app.connect(&key).await;
        (app, key)
    }

    /// The fake's ledger entries of writes (POST/PUT/DELETE) under `/12`.
    pub fn x_writes(&self) -> Vec<xads_fake::LedgerEntry> {
        self.fake
            .state()
            .ledger()
            .into_iter()
            .filter(|e| e.path.starts_with("/12/") && e.method != "GET")
            .collect()
    }

    /// Starts the service with explicit variables against an already running fake.
    pub async fn spawn_with(fake: FakeX, vars: &HashMap<String, String>) -> TestApp {
        let config = Config::from_vars(vars).expect("config");
        Self::spawn_config(fake, config).await
    }

    /// Starts the service with an explicit configuration against an already running fake.
    pub async fn spawn_config(fake: FakeX, config: Config) -> TestApp {
        crate::init_logs();
        let app = Application::build(config).await.expect("app");
        let base = format!("http://{}", app.local_addr());
        let metrics_base = app.metrics_addr().map(|a| format!("http://{a}"));
        let state = app.state().clone();
        let server = tokio::spawn(app.run(std::future::pending()));
        TestApp {
            base,
            metrics_base,
            state,
            fake,
            http: crate::http_client(),
            server,
        }
    }

    /// Stops the service as a crash would (its tasks aborted, nothing released); the fake keeps
    /// running for another instance.
    pub fn crash(&self) {
        self.server.abort();
    }

    /// Creates a tenant and returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let (_, key) = xads::store::tenants::create(&self.state.db, name, self.state.clock.now())
            .await
            .expect("tenant");
        key.0
    }

    /// `POST /api/v1/integrations/x_ads/connect`, returning the authorize URL.
    pub async fn start_connect(&self, key: &str) -> url::Url {
        self.start_connect_with(key, "oauth2").await
    }

    /// `POST /api/v1/integrations/x_ads/connect` with `{"method": …}`.
    pub async fn start_connect_with(&self, key: &str, method: &str) -> url::Url {
        let resp = self
            .http
            .post(format!("{}/api/v1/integrations/x_ads/connect", self.base))
            .bearer_auth(key)
            .json(&serde_json::json!({ "method": method }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap()
    }

    /// Plays the browser at X's authorize page: returns the callback query X redirects to.
    pub async fn approve_at_x(&self, authorize_url: &url::Url) -> String {
        let resp = self.http.get(authorize_url.clone()).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let location = url::Url::parse(&location).unwrap();
        assert_eq!(
            format!(
                "{}://{}{}",
                location.scheme(),
                location.authority(),
                location.path()
            ),
            REDIRECT_URI
        );
        location.query().unwrap_or_default().to_owned()
    }

    /// Calls the service's callback with X's query; returns the response.
    pub async fn callback(&self, query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/oauth/x_ads/callback?{query}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The whole connect round trip for `key`; asserts it lands on the integrations page.
    pub async fn connect(&self, key: &str) {
        let authorize = self.start_connect(key).await;
        let query = self.approve_at_x(&authorize).await;
        let resp = self.callback(&query).await;
        assert!(resp.status().is_redirection(), "{}", resp.status());
        assert_eq!(resp.headers()["location"], "/integrations?connected=x_ads");
    }

    /// An authenticated GET on the API, returning status and JSON body.
    pub async fn get(&self, key: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    /// An authenticated request with a JSON body, returning status and JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }
}

/// Every secret value that crossed the wire to the fake: bearer tokens, refresh tokens, codes,
/// verifiers and the client secret's Basic header, from its ledger.
pub fn secrets_seen(fake: &FakeX) -> Vec<String> {
    let mut out = vec!["fake-client-secret".to_owned()];
    for e in fake.state().ledger() {
        if let Some(v) = e.header("authorization") {
            if let Some(t) = v.strip_prefix("Bearer ") {
                out.push(t.to_owned());
            }
            if let Some(b) = v.strip_prefix("Basic ") {
                out.push(b.to_owned());
            }
        }
        for (k, v) in url::form_urlencoded::parse(e.body_text.as_bytes()) {
            if matches!(&*k, "refresh_token" | "code" | "code_verifier" | "token") {
                out.push(v.into_owned());
            }
        }
        for (k, v) in &e.query_pairs {
            if k == "code" || k == "code_challenge" {
                out.push(v.clone());
            }
        }
    }
    out.retain(|s| s.len() >= 8);
    out.sort();
    out.dedup();
    out
}

/// A connected tenant acting on the fake's USD ad account: the common setup of the
/// management and experiment tests.
pub struct AccountCtx {
    /// The running service and fake.
    pub app: TestApp,
    /// The tenant's API key.
    pub key: String,
    /// The USD ad account.
    pub account: String,
    /// Its funding instrument.
    pub fi: String,
    /// Its promotable tweets.
    pub tweets: Vec<String>,
}

impl AccountCtx {
    /// Connected, in live mode (`live`) or dry-run, on `database_url`.
    pub async fn new(database_url: &str, live: bool) -> AccountCtx {
        let (app, key) = if live {
            TestApp::live_connected(database_url).await
        } else {
            TestApp::dry_run_connected(database_url).await
        };
        Self::of(app, key)
    }

    /// The context of an already connected tenant.
    pub fn of(app: TestApp, key: String) -> AccountCtx {
        let seed = app.fake.state().seed_info();
        let acct = seed.account(&seed.usd_account_id).unwrap().clone();
        AccountCtx {
            account: acct.id.clone(),
            fi: acct.funding_instrument_id.clone(),
            tweets: acct.tweet_ids.clone(),
            key,
            app,
        }
    }

    /// `/api/v1/x_ads/accounts/{account}/{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/x_ads/accounts/{}/{rest}", self.account)
    }

    /// An authenticated request under the account.
    pub async fn send(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.app
            .send(method, &self.key, &self.path(rest), body)
            .await
    }

    /// The last write that reached the fake X.
    pub fn last_write(&self) -> xads_fake::LedgerEntry {
        self.app.x_writes().pop().expect("a write reached X")
    }
}

/// A minimal valid PNG: signature, IHDR (1×1 RGB), one IDAT, IEND (CRCs are not checked).
pub fn png() -> Vec<u8> {
    crate::media::png(7)
}
