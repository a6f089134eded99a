//! Configuration of the fake: the registered OAuth app, seed sizes, lifetimes and rate limits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything that shapes one fake X instance; `Default` gives a small, sensible world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeConfig {
    /// Seed of all generated ids and metrics: same seed, same world.
    pub seed: u64,
    /// The registered OAuth 2.0 app's client id.
    pub client_id: String,
    /// The registered OAuth 2.0 app's client secret (confidential client, HTTP Basic).
    pub client_secret: String,
    /// Redirect URIs the app registered (exact match, as X does).
    pub redirect_uris: Vec<String>,
    /// OAuth 1.0a consumer key (reserved for the OAuth 1.0a flow).
    pub consumer_key: String,
    /// OAuth 1.0a consumer secret (reserved for the OAuth 1.0a flow).
    pub consumer_secret: String,
    /// Access-token lifetime in seconds (X: 7200).
    pub access_token_ttl_secs: i64,
    /// Authorization-code lifetime in seconds (X: 30).
    pub auth_code_ttl_secs: i64,
    /// `false` makes `/12/...` answer 403 `UNAUTHORIZED_CLIENT_APPLICATION` (app not approved).
    pub app_approved: bool,
    /// Campaigns seeded per ad account.
    pub campaigns_per_account: usize,
    /// Line items seeded per campaign.
    pub line_items_per_campaign: usize,
    /// App campaigns seeded in the USD account after its `campaigns_per_account` others (named
    /// `App campaign N`, active): their line items share an app objective (`APP_INSTALLS`,
    /// every second campaign's `APP_ENGAGEMENTS`), so they report installs under
    /// `MOBILE_CONVERSION`. The other accounts stay web-only.
    pub app_campaigns: usize,
    /// Promoted tweets seeded per line item.
    pub promoted_tweets_per_line_item: usize,
    /// Promotable tweets seeded per account.
    pub tweets_per_account: usize,
    /// Media-library items seeded per account.
    pub media_per_account: usize,
    /// How many days before the clock's start the seeded entities were created (their stats history).
    pub history_days: i64,
    /// STATUS polls a video needs before it succeeds: the first answers `pending`, then `in_progress`.
    pub video_processing_polls: u32,
    /// Initial fake time; `None` starts at the real time (the clock then runs with real time plus an offset).
    pub start_time: Option<DateTime<Utc>>,
    /// Per-family limits and windows.
    pub rate_limits: RateLimitConfig,
    /// Ledger entries kept; the oldest are dropped beyond this (a long `xads demo` stays bounded).
    pub ledger_capacity: usize,
    /// Asynchronous analytics jobs: polls and time they take, result lifetime, concurrency.
    pub jobs: crate::jobs::JobSettings,
    /// Serve X's media CDN (`pbs.twimg.com`, `video.twimg.com`) on the fake's own host under
    /// [`crate::cdn::PATH`], and point media URLs (library items, tweets' images) there, so a
    /// test or the demo can fetch previews without the internet. Off: X's own hosts.
    pub media_on_own_host: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            seed: 42,
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            redirect_uris: vec![
                "http://127.0.0.1:8080/oauth/x_ads/callback".into(),
                "http://localhost:8080/oauth/x_ads/callback".into(),
            ],
            consumer_key: "fake-consumer-key".into(),
            consumer_secret: "fake-consumer-secret".into(),
            access_token_ttl_secs: 7200,
            auth_code_ttl_secs: 30,
            app_approved: true,
            campaigns_per_account: 3,
            line_items_per_campaign: 2,
            app_campaigns: 0,
            promoted_tweets_per_line_item: 1,
            tweets_per_account: 6,
            media_per_account: 3,
            history_days: 30,
            video_processing_polls: 2,
            start_time: None,
            rate_limits: RateLimitConfig::default(),
            ledger_capacity: 100_000,
            jobs: crate::jobs::JobSettings::default(),
            media_on_own_host: false,
        }
    }
}

/// One limit: `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: i64,
}

impl Limit {
    /// A limit of `limit` requests per `window_secs` seconds.
    pub const fn new(limit: u32, window_secs: i64) -> Self {
        Limit { limit, window_secs }
    }
}

/// X's rate-limit families (x-ads-api.md §3); defaults are X's documented numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// POST/PUT/DELETE under `/12`, per user token (450 / 1 min).
    pub writes: Limit,
    /// Synchronous analytics `GET /12/stats/...`, per user token (250 / 15 min).
    pub analytics: Limit,
    /// Core entity reads under an account, per (account, endpoint) (10 000 / 15 min).
    pub core_reads_account: Limit,
    /// User-level quota shown on core entity reads (a high app-wide quota at X).
    pub core_reads_user: Limit,
    /// Other GETs (accounts, tweets), per (token, endpoint) (2 000 / 15 min).
    pub other_reads: Limit,
    /// X API v2 media upload calls, per user token.
    pub media_upload: Limit,
    /// Targeting-criteria GETs, per user token (400 / 15 min).
    pub targeting: Limit,
    /// GETs without an account (e.g. `line_items/placements`), per (token, endpoint) (5 / 15 min).
    pub global_reads: Limit,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            writes: Limit::new(450, 60),
            analytics: Limit::new(250, 900),
            core_reads_account: Limit::new(10_000, 900),
            core_reads_user: Limit::new(100_000, 900),
            other_reads: Limit::new(2_000, 900),
            media_upload: Limit::new(500, 900),
            global_reads: Limit::new(5, 900),
            targeting: Limit::new(400, 900),
        }
    }
}
