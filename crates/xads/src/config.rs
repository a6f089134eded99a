//! Configuration from the environment (PRODUCT.md §3).
//!
//! Every variable is read once at start; a bad or missing value fails with a message naming the
//! variable, so an operator never has to guess which setting is wrong.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;
use xads_client::Secret;

/// Scopes requested on connect: the seed's three plus `media.write`, which v2 media upload needs.
pub const DEFAULT_SCOPES: &str = "ads.read ads.write offline.access media.write";

/// The default of `XADS_FX_URL`: ECB's daily reference rates.
pub const DEFAULT_FX_URL: &str = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml";

/// The default of `XADS_BUDGET_CONFIRM_USD`: daily budgets above 1 000 USD ask for confirmation.
pub const DEFAULT_BUDGET_CONFIRM_USD: u32 = 1_000;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// OAuth 2.0 app credentials.
#[derive(Clone, Debug)]
pub struct OAuth2App {
    /// `X_ADS_CLIENT_ID`.
    pub client_id: String,
    /// `X_ADS_CLIENT_SECRET`.
    pub client_secret: Secret,
}

/// OAuth 1.0a app credentials.
#[derive(Clone, Debug)]
pub struct OAuth1App {
    /// `X_ADS_CONSUMER_KEY`.
    pub consumer_key: String,
    /// `X_ADS_CONSUMER_SECRET`.
    pub consumer_secret: Secret,
}

/// The whole service configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The OAuth 2.0 app, when configured (required to connect with OAuth 2.0).
    pub oauth2: Option<OAuth2App>,
    /// The OAuth 1.0a app, when configured.
    pub oauth1: Option<OAuth1App>,
    /// `X_ADS_REDIRECT_URI`: must equal the one registered with X.
    pub redirect_uri: Url,
    /// `X_ADS_SCOPES`: space-separated scopes requested on connect.
    pub scopes: String,
    /// `X_ADS_LIVE_MODE`: writes go to X only when true.
    pub live_mode: bool,
    /// `X_ADS_API_BASE_URL`: the Ads API host.
    pub ads_api_base_url: Url,
    /// `X_API_BASE_URL`: token, revoke and media-upload host.
    pub api_base_url: Url,
    /// `X_OAUTH_AUTHORIZE_URL`: where the browser approves.
    pub authorize_url: Url,
    /// `X_ADS_RATE_LIMIT_PER_MINUTE`: our sliding-window budget per (client_id, account).
    pub rate_limit_per_minute: u32,
    /// `DATABASE_URL`: SQLite or PostgreSQL (its password hidden from `Debug`).
    pub database_url: ServiceUrl,
    /// `REDIS_URL`: shared limiter and locks; `None` = in-process (its password hidden from `Debug`).
    pub redis_url: Option<ServiceUrl>,
    /// `XADS_ENCRYPTION_KEY`: 32-byte key for tokens at rest; `None` = key file (dry-run only).
    pub encryption_key: Option<Secret>,
    /// `XADS_OLD_ENCRYPTION_KEY`: during a key rotation, the previous key: secrets sealed under it
    /// still open; nothing is sealed with it.
    pub old_encryption_key: Option<Secret>,
    /// `XADS_BIND`: listen address.
    pub bind: SocketAddr,
    /// `XADS_SYNC_INTERVAL`: metrics-sync period.
    pub sync_interval: Duration,
    /// False when `XADS_SYNC_INTERVAL=off`: this instance runs no scheduled syncs (on-demand syncs
    /// still work; tests drive the scheduler by hand).
    pub sync_scheduler: bool,
    /// `XADS_RUNNER_INTERVAL`: how often the experiment runner ticks (`off` disables it on this
    /// instance; tests drive it by hand).
    pub runner_interval: Option<Duration>,
    /// `XADS_X_TIMEOUT`: per-attempt timeout of a call to X (default 30s).
    pub x_timeout: Duration,
    /// `XADS_METRICS_BIND`: the operators' listener for `/metrics` (default `127.0.0.1:9464`;
    /// `off`: none). The public listener never serves `/metrics` without `metrics_token`.
    pub metrics_bind: Option<SocketAddr>,
    /// True when `XADS_METRICS_BIND` was set explicitly: then failing to bind it stops the start;
    /// the default address taken (a second instance on one host) only logs a warning.
    pub metrics_bind_explicit: bool,
    /// `XADS_METRICS_TOKEN`: when set, `/metrics` on the public listener answers to
    /// `Authorization: Bearer <token>` (and stays a 404 for everyone else).
    pub metrics_token: Option<Secret>,
    /// Inbound limits of the public listener.
    pub limits: Limits,
    /// `XADS_SYNC_CONCURRENCY` (4): scheduled syncs of different ad accounts this instance runs
    /// at once (one account held by X keeps one of them, not the others).
    pub sync_concurrency: usize,
    /// `XADS_BACKFILL_DAYS` (90): the history a newly connected account gets by itself through
    /// X's asynchronous jobs (`sync::backfill::on_connect`); 0 disables it.
    pub backfill_days: u32,
    /// How long the leases and locks shared by instances last (not configurable from the
    /// environment; tests shorten them).
    pub leases: Leases,
    /// `XADS_FX_URL`: ECB's daily reference-rate file, fetched at start and daily (the 90-day
    /// history beside it fills gaps); `None` when set to `off`.
    pub fx_url: Option<Url>,
    /// `XADS_BUDGET_CONFIRM_USD`: a daily budget worth more USD than this asks the UI user to
    /// confirm (showing the USD equivalent) before the campaign is created or changed.
    pub budget_confirm_usd: rust_decimal::Decimal,
    /// `XADS_MEDIA_HOSTS`: the hosts (`host` or `host:port`) whose media the UI's preview route
    /// fetches for the pages (X's media CDN by default); nothing else is ever fetched.
    pub media_hosts: Vec<String>,
}

/// The default of `XADS_MEDIA_HOSTS`: X's media CDN (images and thumbnails, async-job files,
/// videos).
pub const DEFAULT_MEDIA_HOSTS: &str = "pbs.twimg.com,ton.twimg.com,video.twimg.com";

/// A connection URL (`DATABASE_URL`, `REDIS_URL`) whose `Debug` hides the password:
/// `postgres://user:***@host/db` (a `password=` query parameter too). Derefs to the full URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> ServiceUrl {
        ServiceUrl(url.into())
    }

    /// The full URL, password included: only for connecting.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***` (for logs and `Debug`).
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl std::ops::Deref for ServiceUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for ServiceUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.redacted(), f)
    }
}

/// `scheme://user:password@host/…?password=…` → `scheme://user:***@host/…?password=***`.
/// Works on the text (no parsing that could fail or normalise), so any URL shape is covered.
fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        // The authority ends at the first '/', '?' or '#' after the scheme; its userinfo at the
        // last '@' inside it.
        let end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

/// What one client may hold of the public listener (quality.md, security: slow clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `XADS_HEADER_TIMEOUT` (30s): a request's headers must arrive within this.
    pub header_timeout: Duration,
    /// `XADS_BODY_TIMEOUT` (30s): a request body must arrive within this; a media upload gets
    /// this plus one second per 256 KiB it declares (about 2 Mbit/s).
    pub body_timeout: Duration,
    /// `XADS_MAX_CONNECTIONS` (1024): open connections at once; more wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
    /// `XADS_TENANT_CONCURRENCY` (32): requests of one API key or UI session in progress at
    /// once on an instance; more are answered 429 `too_many_requests` at once.
    pub tenant_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            tenant_concurrency: 32,
        }
    }
}

/// How long a write, a token refresh, a re-probe or a sync holds what it claimed, and how a
/// write looks for a create X may still be committing (ARCHITECTURE.md, "Leases and locks"). Fixed in production; tests shorten them so
/// that a write can be held "past its lease" without waiting a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leases {
    /// An inbound `Idempotency-Key` claim (60 s), renewed every third of it while its request
    /// runs; another instance takes it over only once it lapsed (its holder died).
    pub idempotency: Duration,
    /// An outbound intent held by the execution calling X (60 s), renewed every third of it
    /// while the call is in progress; recovery takes only intents whose lease lapsed.
    pub x_write: Duration,
    /// After an ambiguous failure of a create and a lookup that found nothing, the pause before
    /// looking again (X may still be committing the write) and only then re-sending (5 s).
    pub recheck_after: Duration,
    /// How often an instance reconciles intents whose lease lapsed.
    pub recovery_every: Duration,
    /// Whether the first reconciliation runs at start (true) or one `recovery_every` later
    /// (tests that stage a crash and run recovery themselves, so no start-up pass races them).
    pub recovery_at_start: bool,
    /// A connection's token-refresh lock (60 s), renewed while its refresh runs.
    pub refresh_lock: Duration,
    /// A background re-probe of a connection in `error` (2 min).
    pub probe: Duration,
    /// A running sync's own lease, which makes it the account's one running run, and a
    /// scheduled sync's (account, slot) lease (2 min).
    pub sync: Duration,
    /// How long `?wait=true` on `POST …/stats/sync` (and on `GET …/stats/sync/{sync_id}`)
    /// waits for the run before answering it as it is: 202 with its `sync_id` (120 s).
    pub sync_wait: Duration,
    /// A running backfill's lease, held by the runner driving it and renewed while it runs; any
    /// instance's worker resumes one whose lease lapsed (2 min).
    pub backfill: Duration,
    /// The first wait between two polls of a backfill's jobs (and the worker's tick is five of
    /// them); it doubles while nothing changes, up to `backfill_poll_max` (2 s, 60 s).
    pub backfill_poll: Duration,
    /// The longest wait between two polls of a backfill's jobs.
    pub backfill_poll_max: Duration,
}

impl Default for Leases {
    fn default() -> Self {
        Leases {
            idempotency: Duration::from_secs(60),
            x_write: Duration::from_secs(60),
            recheck_after: Duration::from_secs(5),
            recovery_every: Duration::from_secs(300),
            recovery_at_start: true,
            refresh_lock: Duration::from_secs(60),
            probe: Duration::from_secs(120),
            sync: Duration::from_secs(120),
            sync_wait: Duration::from_secs(120),
            backfill: Duration::from_secs(120),
            backfill_poll: Duration::from_secs(2),
            backfill_poll_max: Duration::from_secs(60),
        }
    }
}

impl Leases {
    /// How often a lease of `length` is renewed: a third of it, so two renewals may fail (a slow
    /// database) before it lapses.
    pub fn renew_every(length: Duration) -> Duration {
        (length / 3).max(Duration::from_millis(10))
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(&std::env::vars().collect())
    }

    /// Reads the configuration from a map of variables (tests pass their own).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let oauth2 = match (get("X_ADS_CLIENT_ID"), get("X_ADS_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some(OAuth2App {
                client_id: id.to_owned(),
                client_secret: Secret::new(secret),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(missing("X_ADS_CLIENT_SECRET", "X_ADS_CLIENT_ID")),
            (None, Some(_)) => return Err(missing("X_ADS_CLIENT_ID", "X_ADS_CLIENT_SECRET")),
        };
        let oauth1 = match (get("X_ADS_CONSUMER_KEY"), get("X_ADS_CONSUMER_SECRET")) {
            (Some(key), Some(secret)) => Some(OAuth1App {
                consumer_key: key.to_owned(),
                consumer_secret: Secret::new(secret),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(missing("X_ADS_CONSUMER_SECRET", "X_ADS_CONSUMER_KEY")),
            (None, Some(_)) => return Err(missing("X_ADS_CONSUMER_KEY", "X_ADS_CONSUMER_SECRET")),
        };

        let live_mode = match get("X_ADS_LIVE_MODE") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| ConfigError {
                var: "X_ADS_LIVE_MODE",
                problem: format!("expected true or false, got {v:?}"),
            })?,
        };
        let encryption_key = get("XADS_ENCRYPTION_KEY").map(Secret::new);
        if let Some(key) = &encryption_key {
            crate::crypto::decode_key(key.expose()).map_err(|problem| ConfigError {
                var: "XADS_ENCRYPTION_KEY",
                problem,
            })?;
        } else if live_mode {
            return Err(ConfigError {
                var: "XADS_ENCRYPTION_KEY",
                problem: "required when X_ADS_LIVE_MODE=true (32 random bytes, base64)".into(),
            });
        }

        let old_encryption_key = get("XADS_OLD_ENCRYPTION_KEY").map(Secret::new);
        if let Some(old) = &old_encryption_key {
            crate::crypto::decode_key(old.expose()).map_err(|problem| ConfigError {
                var: "XADS_OLD_ENCRYPTION_KEY",
                problem,
            })?;
            if encryption_key.is_none() {
                return Err(ConfigError {
                    var: "XADS_OLD_ENCRYPTION_KEY",
                    problem:
                        "set only during a key rotation, together with the new XADS_ENCRYPTION_KEY"
                            .into(),
                });
            }
        }

        let rate_limit_per_minute = match get("X_ADS_RATE_LIMIT_PER_MINUTE") {
            None => 50,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ConfigError {
                        var: "X_ADS_RATE_LIMIT_PER_MINUTE",
                        problem: format!("expected a positive whole number, got {v:?}"),
                    });
                }
            },
        };
        let database_url = ServiceUrl::new(get("DATABASE_URL").unwrap_or("sqlite://xads.db"));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(ConfigError {
                var: "DATABASE_URL",
                problem: "expected sqlite://… or postgres://…".into(),
            });
        }
        let redis_url = get("REDIS_URL").map(ServiceUrl::new);
        if let Some(r) = &redis_url
            && !(r.starts_with("redis://") || r.starts_with("rediss://"))
        {
            return Err(ConfigError {
                var: "REDIS_URL",
                problem: "expected redis://… or rediss://…".into(),
            });
        }
        let bind = get("XADS_BIND")
            .unwrap_or("127.0.0.1:8080")
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError {
                var: "XADS_BIND",
                problem: format!("expected host:port, {e}"),
            })?;
        let sync_scheduler = get("XADS_SYNC_INTERVAL") != Some("off");
        let sync_interval = match get("XADS_SYNC_INTERVAL") {
            None | Some("off") => Duration::from_secs(3600),
            Some(v) => parse_duration(v).ok_or_else(|| ConfigError {
                var: "XADS_SYNC_INTERVAL",
                problem: format!("expected a duration like 30s, 15m, 1h or 24h, got {v:?}"),
            })?,
        };

        let runner_interval = match get("XADS_RUNNER_INTERVAL") {
            None => Some(Duration::from_secs(60)),
            Some("off") => None,
            Some(v) => Some(parse_duration(v).ok_or_else(|| ConfigError {
                var: "XADS_RUNNER_INTERVAL",
                problem: format!("expected a duration like 30s or 1m, or off, got {v:?}"),
            })?),
        };

        let x_timeout = match get("XADS_X_TIMEOUT") {
            None => Duration::from_secs(30),
            Some(v) => parse_duration(v).ok_or_else(|| ConfigError {
                var: "XADS_X_TIMEOUT",
                problem: format!("expected a duration like 10s or 1m, got {v:?}"),
            })?,
        };

        let (metrics_bind, metrics_bind_explicit) = match get("XADS_METRICS_BIND") {
            None => (Some(SocketAddr::from(([127, 0, 0, 1], 9464))), false),
            Some("off") => (None, true),
            Some(v) => (
                Some(v.parse::<SocketAddr>().map_err(|e| ConfigError {
                    var: "XADS_METRICS_BIND",
                    problem: format!("expected host:port or off, {e}"),
                })?),
                true,
            ),
        };
        let metrics_token = get("XADS_METRICS_TOKEN").map(Secret::new);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(ConfigError {
                var: "XADS_METRICS_TOKEN",
                problem: "too short: use at least 16 random characters".into(),
            });
        }
        let defaults = Limits::default();
        let limits = Limits {
            header_timeout: duration_var(get, "XADS_HEADER_TIMEOUT", defaults.header_timeout)?,
            body_timeout: duration_var(get, "XADS_BODY_TIMEOUT", defaults.body_timeout)?,
            max_connections: count_var(get, "XADS_MAX_CONNECTIONS", defaults.max_connections)?,
            tenant_concurrency: count_var(
                get,
                "XADS_TENANT_CONCURRENCY",
                defaults.tenant_concurrency,
            )?,
        };

        let fx_url = match get("XADS_FX_URL") {
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            _ => Some(url_var(get, "XADS_FX_URL", DEFAULT_FX_URL)?),
        };
        let budget_confirm_usd = match get("XADS_BUDGET_CONFIRM_USD") {
            None => rust_decimal::Decimal::from(DEFAULT_BUDGET_CONFIRM_USD),
            Some(v) => v
                .parse::<rust_decimal::Decimal>()
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| ConfigError {
                    var: "XADS_BUDGET_CONFIRM_USD",
                    problem: format!("expected a USD amount such as 1000, got {v:?}"),
                })?,
        };

        let media_hosts = media_hosts(get("XADS_MEDIA_HOSTS"))?;

        let sync_concurrency = match get("XADS_SYNC_CONCURRENCY") {
            None => 4,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "XADS_SYNC_CONCURRENCY",
                        problem: format!("expected a whole number from 1 to 256, got {v:?}"),
                    });
                }
            },
        };

        let backfill_days = match get("XADS_BACKFILL_DAYS") {
            None => 90,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n <= 366 => n,
                _ => {
                    return Err(ConfigError {
                        var: "XADS_BACKFILL_DAYS",
                        problem: format!(
                            "expected a whole number of days from 0 (off) to 366, got {v:?}"
                        ),
                    });
                }
            },
        };

        Ok(Config {
            oauth2,
            oauth1,
            redirect_uri: url_var(
                get,
                "X_ADS_REDIRECT_URI",
                "http://127.0.0.1:8080/oauth/x_ads/callback",
            )?,
            scopes: get("X_ADS_SCOPES").unwrap_or(DEFAULT_SCOPES).to_owned(),
            live_mode,
            ads_api_base_url: url_var(get, "X_ADS_API_BASE_URL", "https://ads-api.x.com")?,
            api_base_url: url_var(get, "X_API_BASE_URL", "https://api.x.com")?,
            authorize_url: url_var(
                get,
                "X_OAUTH_AUTHORIZE_URL",
                "https://x.com/i/oauth2/authorize",
            )?,
            rate_limit_per_minute,
            database_url,
            redis_url,
            encryption_key,
            old_encryption_key,
            bind,
            sync_interval,
            sync_scheduler,
            runner_interval,
            x_timeout,
            metrics_bind,
            metrics_bind_explicit,
            metrics_token,
            limits,
            sync_concurrency,
            backfill_days,
            leases: Leases::default(),
            fx_url,
            budget_confirm_usd,
            media_hosts,
        })
    }
}

fn duration_var<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => parse_duration(v).ok_or_else(|| ConfigError {
            var,
            problem: format!("expected a duration like 10s or 1m, got {v:?}"),
        }),
    }
}

fn count_var<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                var,
                problem: format!("expected a whole number from 1 to 1000000, got {v:?}"),
            }),
        },
    }
}

fn missing(var: &'static str, other: &str) -> ConfigError {
    ConfigError {
        var,
        problem: format!("must be set together with {other}"),
    }
}

fn url_var<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: &str,
) -> Result<Url, ConfigError> {
    let raw = get(var).unwrap_or(default);
    let url = Url::parse(raw).map_err(|e| ConfigError {
        var,
        problem: format!("not a URL ({e}): {raw:?}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError {
            var,
            problem: format!("expected an http(s) URL, got {raw:?}"),
        });
    }
    Ok(url)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parses `30s`, `15m`, `1h`, `24h` (also `d`); zero is refused.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// `XADS_MEDIA_HOSTS`: a comma list of host names, each optionally with `:port`, lower-cased;
/// the default when unset. A value with a scheme, a path or a user is refused (it names hosts).
fn media_hosts(raw: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let raw = raw.unwrap_or(DEFAULT_MEDIA_HOSTS);
    let mut hosts = Vec::new();
    for h in raw.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let ok = url::Url::parse(&format!("https://{h}/")).ok().filter(|u| {
            u.username().is_empty() && u.host_str().is_some() && !h.contains(['/', '@', '?', '#'])
        });
        if ok.is_none() {
            return Err(ConfigError {
                var: "XADS_MEDIA_HOSTS",
                problem: format!("expected host names such as pbs.twimg.com, got {h:?}"),
            });
        }
        hosts.push(h.to_ascii_lowercase());
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_product_spec() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert!(!c.live_mode);
        assert_eq!(c.rate_limit_per_minute, 50);
        assert_eq!(c.database_url, "sqlite://xads.db");
        assert_eq!(c.ads_api_base_url.as_str(), "https://ads-api.x.com/");
        assert_eq!(c.api_base_url.as_str(), "https://api.x.com/");
        assert_eq!(c.authorize_url.as_str(), "https://x.com/i/oauth2/authorize");
        assert_eq!(
            c.redirect_uri.as_str(),
            "http://127.0.0.1:8080/oauth/x_ads/callback"
        );
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.sync_interval, Duration::from_secs(3600));
        assert_eq!(c.scopes, "ads.read ads.write offline.access media.write");
        assert!(c.oauth2.is_none() && c.oauth1.is_none() && c.redis_url.is_none());
        assert_eq!(c.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(!c.metrics_bind_explicit && c.metrics_token.is_none());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.header_timeout, Duration::from_secs(30));
        assert_eq!(c.limits.body_timeout, Duration::from_secs(30));
        assert_eq!(
            c.fx_url.as_ref().map(Url::as_str),
            Some("https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml")
        );
        assert_eq!(c.budget_confirm_usd, rust_decimal::Decimal::from(1_000));
        assert_eq!(
            c.media_hosts,
            ["pbs.twimg.com", "ton.twimg.com", "video.twimg.com"]
        );
        let off = Config::from_vars(&vars(&[("XADS_FX_URL", "off")])).unwrap();
        assert!(off.fx_url.is_none());
        assert_eq!(c.leases, Leases::default());
        assert_eq!(c.sync_concurrency, 4);
        let c = Config::from_vars(&vars(&[("XADS_SYNC_CONCURRENCY", "16")])).unwrap();
        assert_eq!(c.sync_concurrency, 16);
        assert_eq!(c.backfill_days, 90);
        let c = Config::from_vars(&vars(&[("XADS_BACKFILL_DAYS", "0")])).unwrap();
        assert_eq!(c.backfill_days, 0);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("X_ADS_LIVE_MODE", "maybe")], "X_ADS_LIVE_MODE"),
            (
                &[("X_ADS_RATE_LIMIT_PER_MINUTE", "0")],
                "X_ADS_RATE_LIMIT_PER_MINUTE",
            ),
            (
                &[("X_ADS_RATE_LIMIT_PER_MINUTE", "-5")],
                "X_ADS_RATE_LIMIT_PER_MINUTE",
            ),
            (&[("X_ADS_API_BASE_URL", "not a url")], "X_ADS_API_BASE_URL"),
            (&[("X_API_BASE_URL", "ftp://x")], "X_API_BASE_URL"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (&[("REDIS_URL", "http://x")], "REDIS_URL"),
            (&[("XADS_BIND", "8080")], "XADS_BIND"),
            (&[("XADS_FX_URL", "ftp://ecb")], "XADS_FX_URL"),
            (
                &[("XADS_MEDIA_HOSTS", "https://pbs.twimg.com/x")],
                "XADS_MEDIA_HOSTS",
            ),
            (
                &[("XADS_BUDGET_CONFIRM_USD", "lots")],
                "XADS_BUDGET_CONFIRM_USD",
            ),
            (&[("XADS_SYNC_INTERVAL", "an hour")], "XADS_SYNC_INTERVAL"),
            (&[("XADS_ENCRYPTION_KEY", "short")], "XADS_ENCRYPTION_KEY"),
            (&[("X_ADS_CLIENT_ID", "id")], "X_ADS_CLIENT_SECRET"),
            (&[("X_ADS_CONSUMER_SECRET", "s")], "X_ADS_CONSUMER_KEY"),
            (&[("X_ADS_LIVE_MODE", "true")], "XADS_ENCRYPTION_KEY"),
            (
                &[(
                    "XADS_OLD_ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                )],
                "XADS_OLD_ENCRYPTION_KEY",
            ),
            (
                &[
                    (
                        "XADS_ENCRYPTION_KEY",
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    ),
                    ("XADS_OLD_ENCRYPTION_KEY", "short"),
                ],
                "XADS_OLD_ENCRYPTION_KEY",
            ),
            (&[("XADS_METRICS_BIND", "9464")], "XADS_METRICS_BIND"),
            (&[("XADS_METRICS_TOKEN", "short")], "XADS_METRICS_TOKEN"),
            (&[("XADS_HEADER_TIMEOUT", "soon")], "XADS_HEADER_TIMEOUT"),
            (&[("XADS_BODY_TIMEOUT", "0s")], "XADS_BODY_TIMEOUT"),
            (&[("XADS_MAX_CONNECTIONS", "0")], "XADS_MAX_CONNECTIONS"),
            (
                &[("XADS_TENANT_CONCURRENCY", "many")],
                "XADS_TENANT_CONCURRENCY",
            ),
            (&[("XADS_SYNC_CONCURRENCY", "0")], "XADS_SYNC_CONCURRENCY"),
            (&[("XADS_BACKFILL_DAYS", "400")], "XADS_BACKFILL_DAYS"),
            (&[("XADS_BACKFILL_DAYS", "-1")], "XADS_BACKFILL_DAYS"),
            (
                &[("XADS_SYNC_CONCURRENCY", "1000")],
                "XADS_SYNC_CONCURRENCY",
            ),
            (
                &[("XADS_SYNC_CONCURRENCY", "four")],
                "XADS_SYNC_CONCURRENCY",
            ),
        ];
        for (pairs, var) in cases {
            let err = Config::from_vars(&vars(pairs)).unwrap_err();
            assert_eq!(err.var, *var, "for {pairs:?}");
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_vars(&vars(&[
            ("X_ADS_CLIENT_ID", "client-1"),
            ("X_ADS_CLIENT_SECRET", "very-secret-value"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("client-1"));
        assert!(!shown.contains("very-secret-value"));

        // Passwords in the database and Redis URLs, and the keys, never print either.
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let old = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";
        let c = Config::from_vars(&vars(&[
            (
                "DATABASE_URL",
                "postgres://app:db-pass-123@db.internal:5432/xads",
            ),
            ("REDIS_URL", "redis://:redis-pass-456@cache.internal:6379/0"),
            ("XADS_ENCRYPTION_KEY", key),
            ("XADS_OLD_ENCRYPTION_KEY", old),
        ]))
        .unwrap();
        assert_eq!(
            c.database_url.as_str(),
            "postgres://app:db-pass-123@db.internal:5432/xads"
        );
        let shown = format!("{c:?}");
        for secret in ["db-pass-123", "redis-pass-456", key, old] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("postgres://app:***@db.internal:5432/xads"),
            "{shown}"
        );
        assert!(
            shown.contains("redis://:***@cache.internal:6379/0"),
            "{shown}"
        );
    }

    #[test]
    fn url_redaction() {
        for (url, shown) in [
            ("postgres://user:pw@host/db", "postgres://user:***@host/db"),
            ("postgres://user@host/db", "postgres://user@host/db"),
            (
                "postgres://host/db?password=pw&sslmode=require",
                "postgres://host/db?password=***&sslmode=require",
            ),
            (
                "postgres://u:p%40ss@h:5432/db?user=u",
                "postgres://u:***@h:5432/db?user=u",
            ),
            ("postgres://u:a@b@h/db", "postgres://u:***@h/db"),
            ("rediss://default:pw@h:6380", "rediss://default:***@h:6380"),
            ("sqlite://xads.db", "sqlite://xads.db"),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            assert_eq!(ServiceUrl::new(url).redacted(), shown, "{url}");
            assert_eq!(format!("{:?}", ServiceUrl::new(url)), format!("{shown:?}"));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        for bad in ["", "h", "0s", "1x", "1.5h", "-1h", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
