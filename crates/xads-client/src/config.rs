//! Building the client: base URLs, HTTP client, timeout, retries, rate gate, credentials.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::Signer;
use crate::error::XError;
use crate::gate::{NoGate, RateGate};
use crate::retry::RetryPolicy;

/// X's production Ads API host.
pub const DEFAULT_ADS_BASE_URL: &str = "https://ads-api.x.com";
/// X's API host (OAuth 2.0 token/revoke, v2 media upload).
pub const DEFAULT_API_BASE_URL: &str = "https://api.x.com";
/// Per-attempt timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) ads_base: Url,
    pub(crate) api_base: Url,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    /// Shared by every connection view, so the service's limiter sees every call.
    pub(crate) gate: Arc<dyn RateGate>,
    pub(crate) client_id: String,
    pub(crate) signer: Option<Arc<dyn Signer>>,
    pub(crate) user_agent: String,
}

/// The X Ads client: configuration shared by all connections. Cheap to clone.
#[derive(Clone)]
pub struct XAdsClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for XAdsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XAdsClient")
            .field("ads_base_url", &self.inner.ads_base.as_str())
            .field("api_base_url", &self.inner.api_base.as_str())
            .field("client_id", &self.inner.client_id)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// A view of the client for one connection: one signer (user credentials) and the non-secret
/// `token_id` that names it in rate keys and logs. Cheap to clone.
#[derive(Clone)]
pub struct XAds {
    pub(crate) client: XAdsClient,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) token_id: String,
}

impl fmt::Debug for XAds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XAds")
            .field("token_id", &self.token_id)
            .field("auth", &self.signer.kind())
            .finish_non_exhaustive()
    }
}

impl XAdsClient {
    /// Starts a builder with X's production defaults.
    pub fn builder() -> XAdsClientBuilder {
        XAdsClientBuilder::default()
    }

    /// A view for one connection, signing with `signer`.
    pub fn with_auth(&self, signer: Arc<dyn Signer>, token_id: impl Into<String>) -> XAds {
        XAds {
            client: self.clone(),
            signer,
            token_id: token_id.into(),
        }
    }

    /// A view for one connection using the signer given to the builder.
    pub fn connection(&self, token_id: impl Into<String>) -> Result<XAds, XError> {
        let signer = self
            .inner
            .signer
            .clone()
            .ok_or_else(|| XError::Config("no signer configured on the client".into()))?;
        Ok(self.with_auth(signer, token_id))
    }

    /// The OAuth client id (or consumer key) used in rate keys.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }
}

impl XAds {
    /// The shared client.
    pub fn client(&self) -> &XAdsClient {
        &self.client
    }

    /// The non-secret id of this connection's token.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }
}

/// Builds an [`XAdsClient`].
pub struct XAdsClientBuilder {
    ads_base_url: String,
    api_base_url: String,
    http: Option<reqwest::Client>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    gate: Arc<dyn RateGate>,
    client_id: String,
    signer: Option<Arc<dyn Signer>>,
    user_agent: String,
}

impl Default for XAdsClientBuilder {
    fn default() -> Self {
        XAdsClientBuilder {
            ads_base_url: DEFAULT_ADS_BASE_URL.into(),
            api_base_url: DEFAULT_API_BASE_URL.into(),
            http: None,
            timeout: Some(DEFAULT_TIMEOUT),
            retry: RetryPolicy::default(),
            gate: Arc::new(NoGate),
            client_id: String::new(),
            signer: None,
            user_agent: format!("xads/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl XAdsClientBuilder {
    /// The Ads API base URL (default `https://ads-api.x.com`; the fake's URL in tests).
    pub fn ads_base_url(mut self, url: impl Into<String>) -> Self {
        self.ads_base_url = url.into();
        self
    }

    /// The X API base URL (default `https://api.x.com`).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = url.into();
        self
    }

    /// Uses a shared `reqwest::Client` (connection pool) instead of building one.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Per-attempt timeout; `None` disables it.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The rate gate consulted before every attempt (default [`NoGate`]).
    pub fn gate(mut self, gate: Arc<dyn RateGate>) -> Self {
        self.gate = gate;
        self
    }

    /// The OAuth client id (or consumer key) for rate keys.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// A default signer, used by [`XAdsClient::connection`].
    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Overrides `User-Agent` (default `xads/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<XAdsClient, XError> {
        let parse = |s: &str| {
            let trimmed = s.trim_end_matches('/');
            Url::parse(trimmed).map_err(|e| XError::Config(format!("bad base URL {s:?}: {e}")))
        };
        let http = match self.http {
            Some(http) => http,
            None => {
                // reqwest is built without a default crypto provider; installing twice is harmless.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    // A followed redirect would turn a POST into a GET and drop credentials;
                    // a 3xx from X is surfaced as an error instead.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| XError::Config(format!("HTTP client: {e}")))?
            }
        };
        Ok(XAdsClient {
            inner: Arc::new(Inner {
                http,
                ads_base: parse(&self.ads_base_url)?,
                api_base: parse(&self.api_base_url)?,
                timeout: self.timeout,
                retry: self.retry,
                gate: self.gate,
                client_id: self.client_id,
                signer: self.signer,
                user_agent: self.user_agent,
            }),
        })
    }
}
