//! Limiter tests (both backends).
//!
//! Each behaviour is written once as an `async fn` over a [`Harness`]; `both!` turns it into an
//! `in_process` test (tokio's paused clock drives time, so waits cost nothing) and a `redis` test
//! (a real Redis from `REDIS_URL` or `redis://127.0.0.1:6379`, short windows, a random key prefix
//! per test). Redis time cannot be paused, so Redis cases check the admission history (Redis
//! `TIME` as returned by the script) rather than elapsed time. Without Redis the `redis` tests print
//! one line and pass, unless `XADS_TEST_REQUIRE_SERVICES=1` (CI), where they fail.

mod history;
mod proxy;

use std::sync::Once;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use xads::limiter::{
    Admission, Decider, Pace, PaceDecision, RateLimiter, RateLimiterBuilder, WaitCause,
};
use xads_client::gate::{EndpointFamily, GateError, RateGate, RateKey, RateLimitInfo};

/// The backend a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    InProcess,
    Redis,
}

/// What a case needs: the backend, a fresh key prefix and the Redis URL.
struct Harness {
    backend: Backend,
    prefix: String,
    url: String,
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// True when Redis answers; else skips (one line per process) or fails when CI requires services.
async fn redis_or_skip(url: &str) -> bool {
    let up = async {
        let client = redis::Client::open(url).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    if tokio::time::timeout(Duration::from_secs(2), up)
        .await
        .ok()
        .flatten()
        .is_some()
    {
        return true;
    }
    if xads::testing::services_required() {
        panic!("XADS_TEST_REQUIRE_SERVICES=1 but no redis at {url}");
    }
    static SKIP_LINE: Once = Once::new();
    // Written to the stderr handle itself: libtest captures `println!` of passing tests.
    SKIP_LINE.call_once(|| {
        let line = format!("skipping redis limiter tests: no redis at {url}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    });
    false
}

fn random_prefix() -> String {
    format!("rltest{:016x}", rand::random::<u64>())
}

impl Harness {
    /// `None` when the backend is Redis and there is none (the test is skipped).
    async fn new(backend: Backend) -> Option<Harness> {
        let url = redis_url();
        if backend == Backend::Redis && !redis_or_skip(&url).await {
            return None;
        }
        Some(Harness {
            backend,
            prefix: random_prefix(),
            url,
        })
    }

    /// The test's settings: its own key prefix.
    fn builder(&self) -> RateLimiterBuilder {
        RateLimiter::builder().key_prefix(self.prefix.clone())
    }

    /// One limiter instance (call twice for two instances sharing Redis).
    async fn build(&self, builder: RateLimiterBuilder) -> RateLimiter {
        match self.backend {
            Backend::InProcess => builder.in_process(),
            Backend::Redis => {
                let limiter = builder.redis(&self.url).await.expect("valid redis url");
                assert_eq!(
                    limiter.stats().redis_failovers,
                    0,
                    "redis answered the probe"
                );
                limiter
            }
        }
    }

    /// Who must take every decision (a silent failover would make a Redis test vacuous).
    fn source(&self) -> Decider {
        match self.backend {
            Backend::InProcess => Decider::InProcess,
            Backend::Redis => Decider::Redis,
        }
    }

    async fn check(&self, limiter: &RateLimiter, key: &RateKey) -> PaceDecision {
        let d = limiter.check(key).await;
        if key.family != EndpointFamily::OAuth {
            assert_eq!(d.source, self.source(), "decided by the backend under test");
        }
        d
    }

    async fn admit(&self, limiter: &RateLimiter, key: &RateKey) -> Admission {
        let a = limiter
            .admit(key)
            .await
            .expect("admitted before the deadline");
        assert_eq!(a.source, self.source(), "decided by the backend under test");
        a
    }
}

/// Runs a case on both backends: `case::in_process` (paused clock) and `case::redis`.
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(start_paused = true)]
            async fn in_process() {
                let h = super::Harness::new(super::Backend::InProcess)
                    .await
                    .unwrap();
                super::$case(&h).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                if let Some(h) = super::Harness::new(super::Backend::Redis).await {
                    super::$case(&h).await;
                }
            }
        }
    };
}

fn key(account: Option<&str>) -> RateKey {
    RateKey {
        client_id: "client-1".to_owned(),
        account_id: account.map(str::to_owned),
        token_id: "conn-1".to_owned(),
        family: EndpointFamily::CoreRead,
    }
}

fn with_family(key: &RateKey, family: EndpointFamily) -> RateKey {
    RateKey {
        family,
        ..key.clone()
    }
}

fn exhausted_until(reset: chrono::DateTime<Utc>) -> RateLimitInfo {
    RateLimitInfo {
        limit: Some(450),
        remaining: Some(0),
        reset: Some(reset),
        scope: Some(xads_client::gate::LimitScope::Account),
        retry_after: None,
    }
}

// ---------------------------------------------------------------------------------------------

both!(admits_the_limit_then_reports_the_wait_for_the_oldest_slot);
async fn admits_the_limit_then_reports_the_wait_for_the_oldest_slot(h: &Harness) {
    let window = Duration::from_secs(60);
    let limiter = h.build(h.builder().limit(3).window(window)).await;
    let k = key(Some("acct-1"));
    for _ in 0..3 {
        assert_eq!(h.check(&limiter, &k).await.verdict, Pace::Admit);
    }
    let Pace::Wait { wait, cause } = h.check(&limiter, &k).await.verdict else {
        panic!("the 4th call within the window must wait");
    };
    assert_eq!(cause, WaitCause::Budget);
    // The oldest admission leaves one window (+1 µs) after it was made: no sooner, and the checks
    // took far less than 10 s.
    assert!(wait <= window + Duration::from_micros(1), "{wait:?}");
    assert!(wait > window - Duration::from_secs(10), "{wait:?}");
    // Another account of the same client has its own budget.
    assert_eq!(
        h.check(&limiter, &key(Some("acct-2"))).await.verdict,
        Pace::Admit
    );
}

both!(a_waiting_call_is_admitted_once_the_oldest_slot_leaves_the_window);
async fn a_waiting_call_is_admitted_once_the_oldest_slot_leaves_the_window(h: &Harness) {
    let window = Duration::from_secs(1);
    let limiter = h.build(h.builder().limit(2).window(window)).await;
    let k = key(Some("acct-1"));
    let first = h.admit(&limiter, &k).await;
    let second = h.admit(&limiter, &k).await;
    assert_eq!(first.waited, Duration::ZERO);
    assert_eq!(second.waited, Duration::ZERO);
    let third = h.admit(&limiter, &k).await;
    assert!(third.waited > Duration::ZERO, "the third call had to wait");
    // On the backend's own clock (Redis TIME for Redis): strictly after the first left the window.
    assert!(
        third.at_us > first.at_us + window.as_micros() as i64,
        "{} vs {}",
        third.at_us,
        first.at_us
    );
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.waited, stats.held_by_x), (3, 1, 0));
    assert!(stats.wait_time >= third.waited);
}

/// A step of the shared schedule.
enum Step {
    Check(RateKey),
    Observe(RateKey, fn() -> RateLimitInfo),
    /// `admit`: waits for the slot the previous check reported.
    Admit(RateKey),
}

/// What a step gave, with waits rounded to whole seconds (Redis time moves on between steps).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Admit,
    Unpaced,
    Wait(WaitCause, u64),
    AdmittedAfterWaiting,
    Observed,
}

both!(backends_agree_on_a_schedule);
async fn backends_agree_on_a_schedule(h: &Harness) {
    use EndpointFamily::{OAuth, Write};
    let a1 = key(Some("acct-1"));
    let a2 = key(Some("acct-2"));
    let none = key(None);
    let a2_other_token = RateKey {
        token_id: "conn-2".to_owned(),
        ..a2.clone()
    };
    let schedule = vec![
        (Step::Check(a1.clone()), Outcome::Admit),
        (Step::Check(a1.clone()), Outcome::Admit),
        (Step::Check(a1.clone()), Outcome::Admit),
        (Step::Check(a1.clone()), Outcome::Wait(WaitCause::Budget, 2)),
        // Our budget is per (client, account), whatever the family.
        (
            Step::Check(with_family(&a1, Write)),
            Outcome::Wait(WaitCause::Budget, 2),
        ),
        (Step::Check(with_family(&a1, OAuth)), Outcome::Unpaced),
        (Step::Check(a2.clone()), Outcome::Admit),
        (Step::Check(none.clone()), Outcome::Admit),
        (
            Step::Observe(a2.clone(), || {
                exhausted_until(Utc::now() + Duration::from_secs(30))
            }),
            Outcome::Observed,
        ),
        (Step::Check(a2.clone()), Outcome::Wait(WaitCause::XHold, 30)),
        // X's holds are per (token, account, family).
        (Step::Check(with_family(&a2, Write)), Outcome::Admit),
        (Step::Check(a2_other_token.clone()), Outcome::Admit),
        (
            Step::Check(a2_other_token),
            Outcome::Wait(WaitCause::Budget, 2),
        ),
        (
            Step::Observe(none.clone(), || RateLimitInfo {
                retry_after: Some(Duration::from_secs(10)),
                ..RateLimitInfo::default()
            }),
            Outcome::Observed,
        ),
        (
            Step::Check(none.clone()),
            Outcome::Wait(WaitCause::XHold, 10),
        ),
        // remaining > 0 holds nothing.
        (
            Step::Observe(a1.clone(), || RateLimitInfo {
                remaining: Some(7),
                ..exhausted_until(Utc::now() + Duration::from_secs(30))
            }),
            Outcome::Observed,
        ),
        (Step::Admit(a1.clone()), Outcome::AdmittedAfterWaiting),
    ];
    let limiter = h
        .build(h.builder().limit(3).window(Duration::from_secs(2)))
        .await;
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (step, outcome) in schedule {
        want.push(outcome);
        got.push(match step {
            Step::Check(k) => {
                let d = h.check(&limiter, &k).await;
                match d.verdict {
                    Pace::Admit if d.source == Decider::Unpaced => Outcome::Unpaced,
                    Pace::Admit => Outcome::Admit,
                    Pace::Wait { wait, cause } => {
                        Outcome::Wait(cause, (wait.as_millis() as u64 + 500) / 1000)
                    }
                }
            }
            Step::Observe(k, info) => {
                limiter.observe(&k, &info()).await;
                Outcome::Observed
            }
            Step::Admit(k) => {
                let a = h.admit(&limiter, &k).await;
                assert!(a.waited > Duration::ZERO);
                Outcome::AdmittedAfterWaiting
            }
        });
    }
    assert_eq!(got, want);
}

both!(a_call_never_goes_before_x_reset);
async fn a_call_never_goes_before_x_reset(h: &Harness) {
    // In-process the clock is paused, so a long hold costs nothing; on Redis keep it short.
    let (hold, jitter) = match h.backend {
        Backend::InProcess => (Duration::from_secs(30), Duration::from_secs(1)),
        Backend::Redis => (Duration::from_millis(1500), Duration::from_millis(200)),
    };
    let builder = h.builder().limit(50).hold_jitter(jitter);
    let observer = h.build(builder.clone()).await;
    // With Redis the hold is stored there: another instance must honour it too.
    let caller = match h.backend {
        Backend::InProcess => observer.clone(),
        Backend::Redis => h.build(builder).await,
    };
    let k = key(Some("acct-1"));
    let reset = Utc::now() + hold;
    RateGate::observe(&observer, &k, &exhausted_until(reset)).await;
    let started = Instant::now();
    let a = h.admit(&caller, &k).await;
    let reset_us = reset.timestamp_micros();
    assert!(
        a.at_us >= reset_us,
        "admitted {} µs before the reset",
        reset_us - a.at_us
    );
    if h.backend == Backend::InProcess {
        // Virtual time: the wake-up is exactly reset + this waiter's jitter (+ timer granularity).
        assert!(started.elapsed() >= hold);
        assert!(a.at_us <= reset_us + jitter.as_micros() as i64 + 2_000);
    }
    let stats = caller.stats();
    assert_eq!((stats.held_by_x, stats.waited, stats.admitted), (1, 1, 1));
    // Through the trait as the client calls it: the hold is over, the call goes at once.
    let before = Instant::now();
    RateGate::acquire(&caller, &k).await.unwrap();
    assert_eq!(
        caller.stats().waited,
        1,
        "no second wait: {:?}",
        before.elapsed()
    );
}

both!(retry_after_holds_the_key);
async fn retry_after_holds_the_key(h: &Harness) {
    let hold = match h.backend {
        Backend::InProcess => Duration::from_secs(20),
        Backend::Redis => Duration::from_millis(1200),
    };
    let limiter = h
        .build(h.builder().hold_jitter(Duration::from_millis(100)))
        .await;
    let k = key(Some("acct-9"));
    let before = h.check(&limiter, &k).await;
    assert_eq!(before.verdict, Pace::Admit);
    let info = RateLimitInfo {
        retry_after: Some(hold),
        ..RateLimitInfo::default()
    };
    limiter.observe(&k, &info).await;
    let a = h.admit(&limiter, &k).await;
    // The hold starts when it is observed, i.e. after the first admission.
    assert!(a.at_us >= before.now_us + hold.as_micros() as i64);
    assert_eq!(limiter.stats().held_by_x, 1);
}

both!(over_budget_with_a_short_deadline_fails_after_waiting);
async fn over_budget_with_a_short_deadline_fails_after_waiting(h: &Harness) {
    let max_wait = Duration::from_millis(300);
    let limiter = h
        .build(
            h.builder()
                .limit(1)
                .window(Duration::from_secs(60))
                .max_wait(max_wait),
        )
        .await;
    let k = key(Some("acct-1"));
    h.admit(&limiter, &k).await;
    let started = Instant::now();
    let err = limiter.admit(&k).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(
        err,
        GateError::DeadlineExceeded {
            waited: max_wait,
            family: "core_read",
            account: "acct-1".to_owned(),
        }
    );
    assert!(
        waited >= max_wait,
        "failed after {waited:?}: it must wait first"
    );
    let stats = limiter.stats();
    assert_eq!(
        (stats.deadline_exceeded, stats.waited, stats.admitted),
        (1, 1, 1)
    );
}

both!(oauth_calls_are_never_paced);
async fn oauth_calls_are_never_paced(h: &Harness) {
    let limiter = h.build(h.builder().limit(1)).await;
    let k = with_family(&key(Some("acct-1")), EndpointFamily::OAuth);
    limiter
        .observe(&k, &exhausted_until(Utc::now() + Duration::from_secs(600)))
        .await;
    for _ in 0..5 {
        let a = limiter.admit(&k).await.unwrap();
        assert_eq!((a.source, a.waited), (Decider::Unpaced, Duration::ZERO));
    }
    assert_eq!(limiter.stats().admitted, 0);
    // And they took nothing from the account's budget.
    assert_eq!(
        h.check(&limiter, &key(Some("acct-1"))).await.verdict,
        Pace::Admit
    );
}

/// In-process only: the jitter must be visible on the paused clock, where without it every waiter
/// would wake at the very same virtual microsecond (on Redis, times differ anyway).
#[tokio::test(start_paused = true)]
async fn waiters_on_an_x_hold_wake_at_different_times() {
    let jitter = Duration::from_secs(2);
    let limiter = RateLimiter::builder()
        .limit(50)
        .hold_jitter(jitter)
        .in_process();
    let reset = Utc::now() + Duration::from_secs(60);
    let keys: Vec<RateKey> = (0..4).map(|i| key(Some(&format!("acct-{i}")))).collect();
    for k in &keys {
        limiter.observe(k, &exhausted_until(reset)).await;
    }
    let mut tasks = Vec::new();
    for k in keys.iter().chain(keys.iter()) {
        let (limiter, k) = (limiter.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            limiter.admit(&k).await.unwrap().at_us
        }));
    }
    let mut woke = Vec::new();
    for t in tasks {
        woke.push(t.await.unwrap());
    }
    let reset_us = reset.timestamp_micros();
    for &at in &woke {
        assert!(at >= reset_us);
        assert!(at <= reset_us + jitter.as_micros() as i64 + 2_000);
    }
    woke.sort_unstable();
    woke.dedup();
    assert!(
        woke.len() >= 4,
        "8 waiters woke at only {} instants",
        woke.len()
    );
}

/// Redis only: every key the limiter writes expires.
#[tokio::test]
async fn every_redis_key_has_a_ttl() {
    let Some(h) = Harness::new(Backend::Redis).await else {
        return;
    };
    let window = Duration::from_secs(2);
    let limiter = h.build(h.builder().window(window)).await;
    let k = key(Some("acct-ttl"));
    h.admit(&limiter, &k).await;
    limiter
        .observe(&k, &exhausted_until(Utc::now() + Duration::from_secs(5)))
        .await;
    let mut conn = redis::Client::open(h.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", h.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "the window and the hold: {keys:?}");
    for name in keys {
        assert!(
            name.starts_with(&format!("{}:{{client-1}}:acct-ttl", h.prefix)),
            "{name}"
        );
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&name)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 6_000, "{name}: PTTL {ttl}");
    }
}

/// Redis down from the start: decisions are made in-process, and the failover is counted.
#[tokio::test]
async fn an_unreachable_redis_fails_over_to_in_process() {
    // A port that was just free and is now closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let limiter = RateLimiter::builder()
        .limit(2)
        .key_prefix(random_prefix())
        .redis(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect("an unreachable redis is not a build error");
    assert!(limiter.uses_redis());
    assert_eq!(
        limiter.stats().redis_failovers,
        1,
        "the startup probe failed over"
    );
    let k = key(Some("acct-1"));
    let verdicts: Vec<(Pace, Decider)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let d = limiter.check(&k).await;
            v.push((d.verdict, d.source));
        }
        v
    };
    assert_eq!(verdicts[0], (Pace::Admit, Decider::InProcess));
    assert_eq!(verdicts[1], (Pace::Admit, Decider::InProcess));
    assert!(matches!(
        verdicts[2],
        (
            Pace::Wait {
                cause: WaitCause::Budget,
                ..
            },
            Decider::InProcess
        )
    ));
    // X holds are honoured in-process too.
    let k2 = key(Some("acct-2"));
    limiter
        .observe(&k2, &exhausted_until(Utc::now() + Duration::from_secs(30)))
        .await;
    assert!(matches!(
        limiter.check(&k2).await.verdict,
        Pace::Wait {
            cause: WaitCause::XHold,
            ..
        }
    ));
    let stats = limiter.stats();
    assert_eq!(stats.redis_failovers, 1, "one failover, not one per call");
    assert_eq!(stats.fallback_decisions, 4);
}

/// A Redis that accepts connections but never answers, behind a shared connection with long
/// timeouts of its own: the limiter's `redis_timeout` still bounds every call.
#[tokio::test]
async fn a_redis_that_never_answers_fails_over_after_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = redis::Client::open(format!("redis://{addr}")).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(Some(Duration::from_secs(60)))
        .set_response_timeout(Some(Duration::from_secs(60)));
    let manager = redis::aio::ConnectionManager::new_lazy_with_config(client, config).unwrap();
    let run = async {
        let limiter = RateLimiter::builder()
            .limit(1)
            .key_prefix(random_prefix())
            .redis_timeout(Duration::from_millis(200))
            .redis_with(manager)
            .await;
        assert_eq!(
            limiter.stats().redis_failovers,
            1,
            "the startup probe timed out"
        );
        let d = limiter.check(&key(Some("acct-1"))).await;
        assert_eq!((d.verdict, d.source), (Pace::Admit, Decider::InProcess));
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("a silent redis must not stall the limiter");
    silent.abort();
}

/// Redis goes away mid-run and comes back: in-process meanwhile, back on Redis after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limiter_returns_to_redis_when_it_answers_again() {
    let Some(h) = Harness::new(Backend::Redis).await else {
        return;
    };
    let target = redis::Client::open(h.url.as_str())
        .unwrap()
        .get_connection_info()
        .addr()
        .to_string();
    let mut proxy = proxy::Proxy::start(&target).await;
    let limiter = h
        .builder()
        .redis_retry_interval(Duration::from_millis(20))
        .redis_timeout(Duration::from_millis(300))
        .redis(&format!("redis://{}", proxy.addr()))
        .await
        .unwrap();
    let k = key(Some("acct-1"));
    assert_eq!(limiter.check(&k).await.source, Decider::Redis);

    proxy.stop().await;
    let down = limiter.check(&k).await;
    assert_eq!(
        (down.verdict, down.source),
        (Pace::Admit, Decider::InProcess)
    );
    // X says stop while Redis is away: only this instance knows.
    let held = key(Some("acct-held"));
    limiter
        .observe(
            &held,
            &exhausted_until(Utc::now() + Duration::from_secs(60)),
        )
        .await;
    assert_eq!(limiter.stats().redis_failovers, 1);

    proxy.restart().await;
    // The manager reconnects in the background; a few probes later Redis decides again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if limiter.check(&k).await.source == Decider::Redis {
            break;
        }
        assert!(Instant::now() < deadline, "never went back to redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(limiter.stats().redis_failovers, 1);
    // Back on Redis, the hold it never learnt still holds this instance's calls.
    assert!(matches!(
        limiter.check(&held).await.verdict,
        Pace::Wait {
            cause: WaitCause::XHold,
            ..
        }
    ));
}

both!(no_window_ever_holds_more_than_the_limit);
async fn no_window_ever_holds_more_than_the_limit(h: &Harness) {
    history::run(h).await;
}

/// The second process of the Redis history check; does nothing unless the parent started it
/// (which runs it with `--ignored`), so on its own it is ignored rather than counted as a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process: run by limiter::no_window_ever_holds_more_than_the_limit::redis"]
async fn history_child() {
    history::child().await;
}

/// X's fixed user-level window as the fake keeps it (quality.md, "X budget in a backfill"): a
/// window starts at the first call after the last one ended, counts in whole seconds, and
/// answers `x-rate-limit-*` (user scope) on every call, 429 past the limit.
struct XWindow {
    limit: u64,
    window_s: i64,
    start_s: Option<i64>,
    count: u64,
    /// Calls per window, in order (the last one may be cut short by the end of the work).
    per_window: Vec<u64>,
    refused: u64,
}

impl XWindow {
    fn hit(&mut self, now_s: i64) -> (bool, RateLimitInfo) {
        if self.start_s.is_none_or(|s| now_s >= s + self.window_s) {
            self.start_s = Some(now_s);
            self.count = 0;
            self.per_window.push(0);
        }
        let ok = self.count < self.limit;
        if ok {
            self.count += 1;
            *self.per_window.last_mut().unwrap() += 1;
        } else {
            self.refused += 1;
        }
        let reset = self.start_s.unwrap() + self.window_s;
        let info = RateLimitInfo {
            limit: Some(self.limit),
            remaining: Some(self.limit - self.count),
            reset: chrono::DateTime::from_timestamp(reset, 0),
            scope: Some(xads_client::gate::LimitScope::User),
            retry_after: None,
        };
        (ok, info)
    }
}

/// A backfill of 12 accounts under one token, 8 calls in flight at a time, against X's 250 calls
/// per 15 s window (the fake's scaled-down 15 min): not one call refused in 1 200, every window
/// but the last filled to ≥ 90 % (in fact to the last call), and a second token's calls, made
/// while the first one's window is spent, never wait.
#[tokio::test(start_paused = true)]
async fn a_backfill_under_one_token_fills_x_s_window_without_a_429_and_never_delays_another_token()
{
    use std::sync::{Arc, Mutex};
    let t0 = Utc::now();
    let limiter = RateLimiter::builder()
        .limit(10_000)
        .hold_jitter(Duration::from_millis(50))
        .app_clock(Arc::new(move || t0))
        .in_process();
    let started = Instant::now();
    // The limiter's clock and X's are the same here: t0 plus the (paused) elapsed time.
    let now_s = move || (t0 + (Instant::now() - started)).timestamp();
    let x = Arc::new(Mutex::new(XWindow {
        limit: 250,
        window_s: 15,
        start_s: None,
        count: 0,
        per_window: vec![],
        refused: 0,
    }));
    let analytics = |token: &str, account: String| RateKey {
        client_id: "client-1".into(),
        account_id: Some(account),
        token_id: token.into(),
        family: EndpointFamily::Analytics,
    };
    let work = Arc::new(std::sync::atomic::AtomicU64::new(1_200));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (limiter, x, work) = (limiter.clone(), x.clone(), work.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while work
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |left| left.checked_sub(1),
                )
                .is_ok()
            {
                let key = analytics("token-a", format!("acct-{}", (w + n) % 12));
                n += 1;
                limiter.admit(&key).await.expect("admitted");
                // On the way to X, X counts it, on the way back.
                tokio::time::sleep(Duration::from_millis(20 + (n % 7) * 10)).await;
                let (ok, info) = x.lock().unwrap().hit(now_s());
                tokio::time::sleep(Duration::from_millis(30)).await;
                limiter.observe(&key, &info).await;
                assert!(ok, "X refused a call of the backfill");
            }
        }));
    }
    // The other token: one call a second for 40 s, while token A's windows fill and wait.
    let mut other_waits = 0;
    let mut other_during_a_hold = 0;
    for i in 0..40 {
        let key = analytics("token-b", format!("acct-b{}", i % 3));
        let a_held = matches!(
            limiter
                .check(&analytics("token-a", "acct-probe".into()))
                .await
                .verdict,
            Pace::Wait { .. }
        );
        match limiter.check(&key).await.verdict {
            Pace::Admit => {
                if a_held {
                    other_during_a_hold += 1;
                }
            }
            Pace::Wait { .. } => other_waits += 1,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for w in workers {
        w.await.unwrap();
    }
    let x = x.lock().unwrap();
    assert_eq!(x.refused, 0, "0 × 429");
    assert_eq!(x.per_window.iter().sum::<u64>(), 1_200);
    let (last, full) = x.per_window.split_last().unwrap();
    assert!(full.len() >= 4, "{:?}", x.per_window);
    for used in full {
        assert!(
            *used >= 225,
            "a window used {used} of 250: {:?}",
            x.per_window
        );
    }
    assert!(*last <= 250);
    assert_eq!(other_waits, 0, "token B never waited");
    assert!(
        other_during_a_hold > 0,
        "token B went while token A waited for its window"
    );
}
