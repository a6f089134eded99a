//! Rate limiting of calls to X (PRODUCT.md §4.6). Implements `xads_client::gate::RateGate`.
//!
//! # What it enforces
//! - **Our budget**: at most `limit` admissions (`X_ADS_RATE_LIMIT_PER_MINUTE`, default 50) per
//!   `(client_id, ads_account_id)` in a **sliding** window (60 s by default). The window is exact:
//!   a log of admission times, not a counter. An admission at `t` counts while `now - t <= window`,
//!   so every closed interval of one window length holds at most `limit` admissions.
//! - **X's headers**: [`RateLimiter::observe`] reads what the client parsed from
//!   `x-account-rate-limit-*` (preferred) or `x-rate-limit-*`, per `(token_id, account_id,
//!   family)`. When `remaining == 0` the key is held until `reset`; a 503's `retry-after` holds it
//!   likewise. Each waiter then wakes at the end of the hold **plus its own random jitter** (up to
//!   [`RateLimiterBuilder::hold_jitter`]) so a burst of waiters does not hit X at the same instant.
//!   A call is never let through before the hold ends. A later hold extends an earlier one, never
//!   the other way round. `remaining == 0` without a `reset` holds nothing (the client's 429 backoff
//!   covers that case).
//! - **X's user-level windows** (module `token`): X caps synchronous analytics per user token
//!   across all of its accounts (250 / 15 min) and reports the window in `x-rate-limit-*`. Once
//!   it has, calls of that token and family go while X's window has calls left (less the calls
//!   in flight), then wait for `reset`; the next window starts with one probe call whose answer
//!   tells the rest how many may go. Per `(token, family)`: another token never waits for it.
//!   Checked before our own budget; a call our budget makes wait gives its place back.
//! - `EndpointFamily::OAuth` calls are never paced.
//!
//! # Waiting
//! A call over budget or under a hold **waits** (`tokio::time::sleep`) for the exact time the
//! decision reports, re-checks, and so on until admitted or until the deadline
//! ([`RateLimiterBuilder::max_wait`], 16 min by default: X's longest windows are 15 min). At the
//! deadline it checks once more and then fails with `GateError::DeadlineExceeded`: never at once.
//! Dropping the future is safe: a slot is only taken by the check that admits.
//!
//! # Backends, one semantics
//! - **In-process** (no `REDIS_URL`): the `local` store behind a mutex, on a clock anchored to the
//!   app's wall clock at construction and advanced by tokio's monotonic clock (so
//!   `tokio::time::pause()` drives it in tests).
//! - **Redis** (`REDIS_URL`): one atomic Lua script per decision (module `redis_store`), time
//!   from Redis `TIME` (never the app's clock, so instances with skewed clocks share one budget),
//!   the window kept as a list of the latest admission times, keys
//!   `rl:{client_id}:account` and `rl:{client_id}:account:x:family:token` (hash tag: one Cluster
//!   slot per client), a TTL on every key. X holds are stored there too, so they hold on every
//!   instance.
//!
//! # When Redis is unreachable
//! Unreachable means an error, or no answer within [`RateLimiterBuilder::redis_timeout`]
//! (500 ms), also on a shared connection whose own timeouts are longer. The limiter then **fails
//! over to the in-process backend** of the instance: calls keep flowing, paced by the same rules,
//! but the budget is then per instance (N instances may admit up to N × `limit` per window between
//! them) and X holds seen by other instances are not known. X's own limits and headers remain the
//! backstop. The switch logs one `warn` line and counts a failover; Redis is probed again after
//! [`RateLimiterBuilder::redis_retry_interval`] (1 s) and, when it answers, decisions go back to
//! it (one `info` line). X holds are kept locally as well, so a failover does not forget them,
//! and holds observed while Redis was down keep holding this instance's calls after it is back
//! (Redis never learns them: other instances rely on X's 429s). Failing closed instead would stop
//! every sync and API call on a Redis outage, which quality.md's data-loss row rules out ("API
//! keeps answering").
//!
//! # Observability
//! Plain counters, read with [`RateLimiter::stats`] (no metrics facade: the server can export
//! them as it likes): admissions, calls that waited and their total wait, waits caused by X
//! holds, deadline errors, Redis failovers and decisions taken in-process while Redis was down.

mod local;
mod redis_store;
mod token;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use xads_client::gate::{EndpointFamily, GateError, RateGate, RateKey, RateLimitInfo};

use self::local::LocalStore;
use self::redis_store::RedisStore;

/// The app's wall clock, injectable so tests can skew it (it must not matter with Redis).
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// The call may go now; the admission was recorded.
    Admit,
    /// Nothing was recorded; a slot may free after `wait`.
    Wait {
        /// How long until the oldest admission leaves the window, or the X hold ends.
        wait: Duration,
        /// Why the call has to wait.
        cause: WaitCause,
    },
}

impl Pace {
    fn wait_us(us: i64, cause: WaitCause) -> Pace {
        Pace::Wait {
            wait: Duration::from_micros(us.max(1).unsigned_abs()),
            cause,
        }
    }
}

/// Why a check did not admit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCause {
    /// Our sliding-window budget is spent.
    Budget,
    /// X said `remaining: 0` (or sent `retry-after`) for this key.
    XHold,
}

/// Which backend took a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// The Redis script (time = Redis `TIME`).
    Redis,
    /// The in-process store (configured so, or failed over from Redis).
    InProcess,
    /// Not paced at all (`EndpointFamily::OAuth`).
    Unpaced,
}

/// One check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaceDecision {
    /// Admit or wait.
    pub verdict: Pace,
    /// The deciding backend's clock, µs since the Unix epoch (Redis `TIME` for Redis).
    pub now_us: i64,
    /// Who decided.
    pub source: Decider,
}

/// A granted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// When the slot was recorded, µs since the epoch on the deciding backend's clock.
    pub at_us: i64,
    /// How long the caller waited for it.
    pub waited: Duration,
    /// Who decided.
    pub source: Decider,
}

/// Counters since the limiter was built (shared by its clones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Calls admitted (OAuth calls excluded: they are not paced).
    pub admitted: u64,
    /// Calls that had to sleep at least once (admitted or not).
    pub waited: u64,
    /// Total time those calls slept.
    pub wait_time: Duration,
    /// Calls that slept for an X hold (`remaining: 0` or `retry-after`).
    pub held_by_x: u64,
    /// Calls refused with `GateError::DeadlineExceeded`.
    pub deadline_exceeded: u64,
    /// Switches from Redis to the in-process backend (Redis unreachable or failing).
    pub redis_failovers: u64,
    /// Decisions taken in-process although Redis is configured.
    pub fallback_decisions: u64,
}

/// Why a limiter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// `REDIS_URL` does not parse (an unreachable Redis is not an error: see the module doc).
    #[error("invalid REDIS_URL: {0}")]
    InvalidRedisUrl(#[source] ::redis::RedisError),
}

/// The rate limiter of calls to X; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.inner.limit)
            .field("window_us", &self.inner.window_us)
            .field("redis", &self.inner.redis.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    limit: usize,
    window_us: i64,
    max_wait: Duration,
    hold_jitter_us: u64,
    redis_retry_us: i64,
    /// Bounds every Redis call here, whatever the (possibly shared) connection's own timeouts.
    redis_timeout: Duration,
    /// The in-process store; a std mutex because it is never held across an await and a
    /// decision takes well under a microsecond.
    local: Mutex<LocalStore>,
    /// X's user-level windows, by token (in-process on every backend: see `token`).
    tokens: Mutex<token::TokenWindows>,
    /// Decisions since the token windows were last swept.
    token_checks: AtomicU64,
    /// The app's wall clock at construction (µs) and the monotonic instant it was read at: the
    /// in-process clock is their sum with the elapsed monotonic time.
    anchor_wall_us: i64,
    anchor: Instant,
    redis: Option<RedisStore>,
    /// Monotonic µs since `anchor` before which Redis is not tried again (0 = try).
    redis_down_until: AtomicI64,
    /// True between a failover and Redis answering again (one log line per switch).
    redis_down: AtomicBool,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    admitted: AtomicU64,
    waited: AtomicU64,
    wait_time_ns: AtomicU64,
    held_by_x: AtomicU64,
    deadline_exceeded: AtomicU64,
    redis_failovers: AtomicU64,
    fallback_decisions: AtomicU64,
}

/// Settings of a [`RateLimiter`]; start from [`RateLimiter::builder`].
#[derive(Clone)]
pub struct RateLimiterBuilder {
    limit: u32,
    window: Duration,
    max_wait: Duration,
    hold_jitter: Duration,
    key_prefix: String,
    app_clock: WallClock,
    redis_timeout: Duration,
    redis_retry_interval: Duration,
}

impl Default for RateLimiterBuilder {
    fn default() -> Self {
        RateLimiterBuilder {
            limit: 50,
            window: Duration::from_secs(60),
            max_wait: Duration::from_secs(16 * 60),
            hold_jitter: Duration::from_secs(1),
            key_prefix: "rl".to_owned(),
            app_clock: crate::clock::Clock::default().wall_clock(),
            redis_timeout: Duration::from_millis(500),
            redis_retry_interval: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for RateLimiterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("max_wait", &self.max_wait)
            .field("hold_jitter", &self.hold_jitter)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RateLimiterBuilder {
    /// Admissions per window per `(client_id, account)` (default 50; 0 is taken as 1).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The sliding window's length (default 60 s; tests shorten it). Whole microseconds.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long a call may wait for a slot before `DeadlineExceeded` (default 16 min).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The most random delay added after an X hold ends, per waiter (default 1 s).
    pub fn hold_jitter(mut self, jitter: Duration) -> Self {
        self.hold_jitter = jitter;
        self
    }

    /// The Redis key prefix (default `rl`; tests use a random one each).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The app's wall clock (default: the system time, read through `clock::Clock`); anchors the
    /// in-process clock.
    pub fn app_clock(mut self, clock: WallClock) -> Self {
        self.app_clock = clock;
        self
    }

    /// How long a Redis call may take before the limiter fails over (default 500 ms); applies to
    /// a shared connection (`redis_with`) too, on top of its own timeouts.
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// How long to stay in-process after Redis failed before trying it again (default 1 s).
    pub fn redis_retry_interval(mut self, interval: Duration) -> Self {
        self.redis_retry_interval = interval;
        self
    }

    /// A limiter with the in-process backend only.
    pub fn in_process(self) -> RateLimiter {
        self.build(None)
    }

    /// A limiter on Redis at `url`; an unreachable Redis is not an error (see the module doc).
    pub async fn redis(self, url: &str) -> Result<RateLimiter, LimiterError> {
        let client = ::redis::Client::open(url).map_err(LimiterError::InvalidRedisUrl)?;
        // No retries inside the manager: a failed call fails over at once instead of stalling
        // the caller; the manager reconnects in the background on the next try.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.redis_timeout))
            .set_response_timeout(Some(self.redis_timeout))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(LimiterError::InvalidRedisUrl)?;
        Ok(self.redis_with(conn).await)
    }

    /// A limiter on an existing connection (share the service's one `ConnectionManager`).
    pub async fn redis_with(self, conn: ConnectionManager) -> RateLimiter {
        let prefix = self.key_prefix.clone();
        let limiter = self.build(Some(RedisStore::new(conn, prefix)));
        // Probe now so an outage at startup is logged and counted before the first call.
        if let Some(redis) = &limiter.inner.redis
            && let Err(e) = limiter.inner.bounded(redis.time()).await
        {
            limiter.inner.redis_failed(&e);
        }
        limiter
    }

    fn build(self, redis: Option<RedisStore>) -> RateLimiter {
        let anchor = Instant::now();
        let anchor_wall_us = (self.app_clock)().timestamp_micros();
        RateLimiter {
            inner: Arc::new(Inner {
                limit: self.limit.max(1) as usize,
                window_us: micros(self.window),
                max_wait: self.max_wait,
                hold_jitter_us: micros(self.hold_jitter).unsigned_abs(),
                redis_retry_us: micros(self.redis_retry_interval),
                redis_timeout: self.redis_timeout,
                local: Mutex::new(LocalStore::default()),
                tokens: Mutex::new(token::TokenWindows::default()),
                token_checks: AtomicU64::new(0),
                anchor_wall_us,
                anchor,
                redis,
                redis_down_until: AtomicI64::new(0),
                redis_down: AtomicBool::new(false),
                counters: Counters::default(),
            }),
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl RateLimiter {
    /// All settings at their defaults (50 per 60 s, in-process unless built with `redis`).
    pub fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder::default()
    }

    /// An in-process limiter of `per_minute` calls per `(client_id, account)`.
    pub fn in_process(per_minute: u32) -> RateLimiter {
        Self::builder().limit(per_minute).in_process()
    }

    /// A Redis limiter of `per_minute` calls per `(client_id, account)`, shared by all instances.
    pub async fn redis(url: &str, per_minute: u32) -> Result<RateLimiter, LimiterError> {
        Self::builder().limit(per_minute).redis(url).await
    }

    /// From the service config: Redis when `REDIS_URL` is set, else in-process.
    pub async fn from_config(
        redis_url: Option<&str>,
        per_minute: u32,
    ) -> Result<RateLimiter, LimiterError> {
        match redis_url {
            Some(url) => Self::redis(url, per_minute).await,
            None => Ok(Self::in_process(per_minute)),
        }
    }

    /// True when built on Redis (whether or not Redis answers right now).
    pub fn uses_redis(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// The counters so far.
    pub fn stats(&self) -> LimiterStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LimiterStats {
            admitted: get(&c.admitted),
            waited: get(&c.waited),
            wait_time: Duration::from_nanos(get(&c.wait_time_ns)),
            held_by_x: get(&c.held_by_x),
            deadline_exceeded: get(&c.deadline_exceeded),
            redis_failovers: get(&c.redis_failovers),
            fallback_decisions: get(&c.fallback_decisions),
        }
    }

    /// One decision without waiting; records the admission when it admits.
    pub async fn check(&self, key: &RateKey) -> PaceDecision {
        let inner = &*self.inner;
        if key.family == EndpointFamily::OAuth {
            return PaceDecision {
                verdict: Pace::Admit,
                now_us: inner.local_now_us(),
                source: Decider::Unpaced,
            };
        }
        let now_us = inner.local_now_us();
        let margin = i64::try_from(inner.hold_jitter_us).unwrap_or(i64::MAX);
        let reserved = {
            let mut tokens = inner.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            if inner.token_checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                tokens.sweep(now_us);
            }
            tokens.reserve(key, now_us, margin)
        };
        let wait = match reserved {
            token::Verdict::Go => None,
            token::Verdict::UntilReset(us) => Some(Pace::wait_us(us, WaitCause::XHold)),
            token::Verdict::ForProbe(us) => Some(Pace::wait_us(us, WaitCause::Budget)),
        };
        if let Some(verdict) = wait {
            return PaceDecision {
                verdict,
                now_us,
                source: Decider::InProcess,
            };
        }
        let decision = self.check_budget(key).await;
        if decision.verdict != Pace::Admit {
            inner
                .tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release(key);
        }
        decision
    }

    /// Our own budget's decision (and X's per-account holds), after the token window let the
    /// call through.
    async fn check_budget(&self, key: &RateKey) -> PaceDecision {
        let inner = &*self.inner;
        if let Some(redis) = &inner.redis {
            let now_us = inner.local_now_us();
            let unsynced = inner
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unsynced_hold(key, now_us);
            if let Some(wait_us) = unsynced {
                inner
                    .counters
                    .fallback_decisions
                    .fetch_add(1, Ordering::Relaxed);
                return PaceDecision {
                    verdict: Pace::wait_us(wait_us, WaitCause::XHold),
                    now_us,
                    source: Decider::InProcess,
                };
            }
            if inner.redis_usable() {
                match inner
                    .bounded(redis.decide(key, inner.limit, inner.window_us))
                    .await
                {
                    Ok((verdict, now_us)) => {
                        inner.redis_answered();
                        return PaceDecision {
                            verdict,
                            now_us,
                            source: Decider::Redis,
                        };
                    }
                    Err(e) => inner.redis_failed(&e),
                }
            }
            inner
                .counters
                .fallback_decisions
                .fetch_add(1, Ordering::Relaxed);
        }
        let now_us = inner.local_now_us();
        let verdict = inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decide(key, inner.limit, inner.window_us, now_us);
        PaceDecision {
            verdict,
            now_us,
            source: Decider::InProcess,
        }
    }

    /// Waits for a slot for `key` (budget and X holds), up to the deadline.
    pub async fn admit(&self, key: &RateKey) -> Result<Admission, GateError> {
        let inner = &*self.inner;
        let start = Instant::now();
        let deadline = start + inner.max_wait;
        let mut slept = false;
        let mut held = false;
        loop {
            let decision = self.check(key).await;
            let Pace::Wait { wait, cause } = decision.verdict else {
                // Only sleeping counts as waiting, not the round trip of the check itself.
                let waited = if slept {
                    start.elapsed()
                } else {
                    Duration::ZERO
                };
                if decision.source != Decider::Unpaced {
                    inner.counters.admitted.fetch_add(1, Ordering::Relaxed);
                }
                inner.count_wait(slept, held, waited);
                return Ok(Admission {
                    at_us: decision.now_us,
                    waited,
                    source: decision.source,
                });
            };
            let now = Instant::now();
            if now >= deadline {
                inner.count_wait(slept, held, start.elapsed());
                inner
                    .counters
                    .deadline_exceeded
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    ad_account.id = key.account_id.as_deref().unwrap_or("-"),
                    x.family = key.family.as_str(),
                    max_wait_ms = inner.max_wait.as_millis() as u64,
                    "rate limit: no slot before the deadline"
                );
                return Err(GateError::DeadlineExceeded {
                    waited: inner.max_wait,
                    family: key.family.as_str(),
                    account: key.account_id.clone().unwrap_or_else(|| "-".to_owned()),
                });
            }
            let nap = match cause {
                WaitCause::Budget => wait,
                WaitCause::XHold => {
                    held = true;
                    wait + inner.jitter()
                }
            };
            tracing::debug!(
                ad_account.id = key.account_id.as_deref().unwrap_or("-"),
                x.family = key.family.as_str(),
                wait_ms = nap.as_millis() as u64,
                cause = ?cause,
                "rate limit: waiting for a slot"
            );
            slept = true;
            tokio::time::sleep_until((now + nap).min(deadline)).await;
        }
    }

    /// Records X's rate-limit headers for `key`: holds it until `reset` when `remaining` is 0,
    /// or for `retry_after`.
    pub async fn observe(&self, key: &RateKey, info: &RateLimitInfo) {
        if key.family == EndpointFamily::OAuth {
            return;
        }
        let inner = &*self.inner;
        inner
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(key, info, inner.local_now_us());
        let until_us = if info.exhausted() {
            info.reset.map(|reset| reset.timestamp_micros())
        } else {
            None
        };
        let for_us = info.retry_after.map(micros);
        if until_us.is_none() && for_us.is_none() {
            return;
        }
        tracing::debug!(
            ad_account.id = key.account_id.as_deref().unwrap_or("-"),
            x.family = key.family.as_str(),
            reset = ?info.reset,
            retry_after_ms = info.retry_after.map(|d| d.as_millis() as u64),
            "x rate limit: holding calls"
        );
        let mut in_redis = false;
        if let Some(redis) = &inner.redis
            && inner.redis_usable()
        {
            let hold = redis.hold(key, until_us.unwrap_or(0), for_us.unwrap_or(0));
            match inner.bounded(hold).await {
                Ok(_) => {
                    inner.redis_answered();
                    in_redis = true;
                }
                Err(e) => inner.redis_failed(&e),
            }
        }
        // Kept locally even when Redis has it, so a failover still honours it; one Redis missed
        // is honoured by this instance after Redis is back, too.
        let now_us = inner.local_now_us();
        let local_until = until_us
            .unwrap_or(0)
            .max(for_us.map_or(0, |f| now_us.saturating_add(f)));
        inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hold(key, local_until, now_us, in_redis);
    }
}

impl Inner {
    /// The in-process clock: µs since the epoch.
    fn local_now_us(&self) -> i64 {
        self.anchor_wall_us + self.mono_us()
    }

    fn mono_us(&self) -> i64 {
        micros(self.anchor.elapsed())
    }

    fn redis_usable(&self) -> bool {
        self.mono_us() >= self.redis_down_until.load(Ordering::Relaxed)
    }

    /// A Redis call cut off after `redis_timeout`. A check that timed out may still have been
    /// recorded by Redis: that slot is then lost, which errs on the side of fewer calls.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.redis_timeout, call).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.redis_timeout)),
        }
    }

    fn redis_failed(&self, error: &str) {
        self.redis_down_until.store(
            self.mono_us().saturating_add(self.redis_retry_us),
            Ordering::Relaxed,
        );
        if !self.redis_down.swap(true, Ordering::Relaxed) {
            self.counters
                .redis_failovers
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                error = %error,
                "redis unreachable: rate limiting in-process (per instance) until it answers"
            );
        }
    }

    fn redis_answered(&self) {
        if self.redis_down.load(Ordering::Relaxed) && self.redis_down.swap(false, Ordering::Relaxed)
        {
            tracing::info!("redis answers again: rate limiting in redis");
        }
    }

    fn jitter(&self) -> Duration {
        Duration::from_micros(rand::random_range(0..=self.hold_jitter_us))
    }

    fn count_wait(&self, slept: bool, held: bool, waited: Duration) {
        if !slept {
            return;
        }
        let c = &self.counters;
        c.waited.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        c.wait_time_ns.fetch_add(ns, Ordering::Relaxed);
        if held {
            c.held_by_x.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl RateGate for RateLimiter {
    async fn acquire(&self, key: &RateKey) -> Result<(), GateError> {
        self.admit(key).await.map(|_| ())
    }

    async fn observe(&self, key: &RateKey, info: &RateLimitInfo) {
        RateLimiter::observe(self, key, info).await;
    }
}
