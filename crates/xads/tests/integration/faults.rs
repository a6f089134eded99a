//! Faults (quality.md, reliability: exactly-once writes, crash mid-write, data loss): Redis killed
//! and paused, PostgreSQL cut, the fake X failing in every way it can, and the real `xads serve`
//! process killed with `kill -9` between "sent" and "recorded". Each test ends with nothing lost
//! and nothing duplicated — checked against the fake's state and ledger and against the database —
//! and the API answering throughout (`/healthz` and a read route during the outage).
//!
//! Nothing here touches the shared PostgreSQL cluster or the Redis on 6379: Redis is a private
//! `redis-server` on a free port, PostgreSQL is reached through a TCP proxy the test cuts.
//!
//! These take minutes (real retry-after waits, timeouts, a 60 s idempotency lease after the
//! kill), so they are `#[ignore]`d: the default `cargo test` lists them as ignored (not passed),
//! and `scripts/slow-tests.sh` (called by `.ci/run`) runs them with `--include-ignored`.

// The limiter tests' cuttable TCP proxy, reused as is (its items are private to its parent).
#[allow(clippy::duplicate_mod)]
#[path = "limiter/proxy.rs"]
mod proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xads_fake::FaultKind as FakeKind;
use xads_fake::{FakeConfig, FakeX, FaultRule};

use crate::helpers::{TestApp, vars_for};

/// The fake's frozen "now" (the service's clock is moved onto it), as in the reporting tests.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

fn fake_config() -> FakeConfig {
    FakeConfig {
        start_time: Some(t0()),
        history_days: 10,
        ..FakeConfig::default()
    }
}

/// A live service against a frozen fake X, connected as a tenant.
struct Ctx {
    app: TestApp,
    key: String,
    /// Writes go to this account.
    usd: String,
    fi: String,
    /// Syncs run on this one (no writes there, so its stats match a fault-free reference).
    kwd: String,
}

/// Per-attempt timeout to X in these tests (so "latency past the timeout" costs seconds).
const X_TIMEOUT_SECS: u64 = 2;

async fn connected(db: &str, extra: &[(&str, String)]) -> Ctx {
    let fake = FakeX::start(fake_config()).await.expect("fake X");
    let mut vars = vars_for(db, &fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    vars.insert("XADS_X_TIMEOUT".into(), format!("{X_TIMEOUT_SECS}s"));
    for (k, v) in extra {
        vars.insert((*k).into(), v.clone());
    }
    let app = TestApp::spawn_with(fake, &vars).await;
    app.state.clock.advance(t0() - Utc::now());
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let seed = app.fake.state().seed_info();
    let usd = seed.account(&seed.usd_account_id).unwrap().clone();
    Ctx {
        usd: usd.id.clone(),
        fi: usd.funding_instrument_id.clone(),
        kwd: seed.kwd_account_id.clone(),
        key,
        app,
    }
}

/// What a status means for a caller that retries with the same key.
fn retryable(status: u16) -> bool {
    matches!(status, 0 | 409 | 429 | 500 | 502 | 503 | 504)
}

impl Ctx {
    fn campaigns_path(&self) -> String {
        format!("/api/v1/x_ads/accounts/{}/campaigns", self.usd)
    }

    /// One `POST …/campaigns` with an `Idempotency-Key` (status 0: no answer at all).
    async fn create_once(&self, name: &str, idem: &str) -> (u16, Value) {
        let resp = self
            .app
            .http
            .post(format!("{}{}", self.app.base, self.campaigns_path()))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", idem)
            .timeout(Duration::from_secs(60))
            .json(&json!({"name": name, "funding_instrument_id": self.fi,
                "daily_budget_amount_local_micro": 2_000_000}))
            .send()
            .await;
        match resp {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or_default())
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Creates `name` the way a dashboard does: the same key again while the answer says "try
    /// again" (bounded). Returns the final answer.
    async fn create(&self, name: &str, idem: &str) -> (u16, Value) {
        let mut last = (0, Value::Null);
        for _ in 0..20 {
            last = self.create_once(name, idem).await;
            if !retryable(last.0) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        last
    }

    /// Creates `name` and asserts it was created (or replayed) with X's id.
    async fn create_ok(&self, name: &str) -> String {
        let idem = format!("faults-{name}");
        let (status, body) = self.create(name, &idem).await;
        assert_eq!(status, 201, "{name}: {body}");
        body["id"].as_str().expect("an id").to_owned()
    }

    /// `/healthz` answers 200 and a read route answers (any status, within a bound).
    async fn assert_answering(&self) {
        let health = self
            .app
            .http
            .get(format!("{}/healthz", self.app.base))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("/healthz answers");
        assert_eq!(health.status(), 200);
        let read = self
            .app
            .http
            .get(format!("{}{}", self.app.base, self.campaigns_path()))
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("a read route answers");
        assert!(read.status().as_u16() < 600);
    }

    /// Every name in `created` exists exactly once at X (with the id the caller got), exactly once
    /// in our database, and was POSTed to X no more often than the faults explain.
    async fn assert_exactly_once(&self, created: &BTreeMap<String, String>) {
        let at_x = self.app.fake.state().campaigns(&self.usd);
        let rows = sqlx::query(
            "SELECT id, data FROM entities WHERE account_id = $1 AND kind = 'campaign'",
        )
        .bind(&self.usd)
        .fetch_all(self.app.state.db.pool())
        .await
        .unwrap();
        let in_db: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                let data: Value = serde_json::from_str(&r.get::<String, _>(1)).unwrap();
                (
                    r.get::<String, _>(0),
                    data["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (name, id) in created {
            let x: Vec<_> = at_x.iter().filter(|c| &c.name == name).collect();
            assert_eq!(x.len(), 1, "{name}: exactly one campaign at X");
            assert_eq!(&x[0].id, id, "{name}: the caller got X's id");
            let db: Vec<_> = in_db.iter().filter(|(_, n)| n == name).collect();
            assert_eq!(db.len(), 1, "{name}: exactly one row in the database");
            assert_eq!(&db[0].0, id);
        }
    }

    /// `POST …/stats/sync?wait=true` on the KWD account: the run's status (or the HTTP error).
    async fn sync(&self) -> String {
        let resp = self
            .app
            .http
            .post(format!(
                "{}/api/v1/x_ads/accounts/{}/stats/sync?wait=true",
                self.app.base, self.kwd
            ))
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(120))
            .json(&json!({}))
            .send()
            .await;
        match resp {
            Ok(r) if r.status() == 200 => {
                let run: Value = r.json().await.unwrap();
                run["status"].as_str().unwrap_or_default().to_owned()
            }
            Ok(r) => format!("http {}", r.status()),
            Err(e) => format!("no answer: {e}"),
        }
    }

    /// Syncs until a run succeeds (bounded): the sync resumes after the fault.
    async fn sync_until_succeeded(&self) {
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            let status = self.sync().await;
            if status == "succeeded" {
                return;
            }
            outcomes.push(status);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the sync never succeeded again: {outcomes:?}");
    }

    async fn stats_rows(&self) -> Rows {
        stats_rows(&self.app, &self.kwd).await
    }
}

/// Stored stats of an account: (entity, id, hour, placement) → (impressions, clicks, spend).
type Rows = BTreeMap<(String, String, i64, String), (i64, i64, i64)>;

async fn stats_rows(app: &TestApp, account: &str) -> Rows {
    let rows = sqlx::query(
        "SELECT entity, entity_id, hour, placement, impressions, clicks, spend_local_micro
         FROM stats_hourly WHERE account_id = $1",
    )
    .bind(account)
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let n = rows.len();
    let map: Rows = rows
        .iter()
        .map(|r| {
            (
                (r.get(0), r.get(1), r.get(2), r.get(3)),
                (r.get(4), r.get(5), r.get(6)),
            )
        })
        .collect();
    assert_eq!(map.len(), n, "no row stored twice");
    map
}

/// The rows a fault-free sync of the same (deterministic) fake stores.
async fn reference_rows() -> Rows {
    let c = connected(&xads::testing::sqlite_url(), &[]).await;
    assert_eq!(c.sync().await, "succeeded");
    let rows = c.stats_rows().await;
    assert!(rows.len() > 50, "the seeded world delivers");
    rows
}

fn assert_same_rows(got: &Rows, want: &Rows) {
    let missing = want.keys().filter(|k| !got.contains_key(*k)).count();
    let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
    let differ = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count();
    assert_eq!(
        (missing, extra, differ),
        (0, 0, 0),
        "stats rows lost / extra / different from a fault-free sync"
    );
}

fn stats_prefix(account: &str) -> String {
    format!("/12/stats/accounts/{account}")
}

// ---------------------------------------------------------------------------------------------
// The fake X failing in every way it can.

#[tokio::test]
#[ignore = "slow: scripts/slow-tests.sh"]
async fn every_x_fault_during_writes_leaves_exactly_one_entity_per_request() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, &[]).await;
        let post = format!("/12/accounts/{}/campaigns", c.usd);
        let faults: Vec<(&str, FakeKind, u32)> = vec![
            (
                "rate limited",
                FakeKind::RateLimited {
                    reset_after_secs: 1,
                },
                1,
            ),
            (
                "503 burst",
                FakeKind::ServiceUnavailable {
                    retry_after_secs: 1,
                },
                2,
            ),
            ("500", FakeKind::InternalError, 1),
            ("502 html", FakeKind::BadGatewayHtml, 1),
            ("504 html", FakeKind::GatewayTimeoutHtml, 1),
            ("5xx storm", FakeKind::InternalError, 5),
            (
                "latency past the timeout",
                FakeKind::Latency {
                    ms: X_TIMEOUT_SECS * 1000 + 1500,
                },
                1,
            ),
            ("dropped after commit", FakeKind::DropAfterCommit, 1),
            ("dropped twice after commit", FakeKind::DropAfterCommit, 2),
            ("dropped before commit", FakeKind::DropBeforeCommit, 1),
            ("truncated JSON", FakeKind::TruncatedBody, 1),
        ];
        let mut created = BTreeMap::new();
        for (what, kind, times) in faults {
            c.app
                .fake
                .state()
                .add_fault(FaultRule::new(Some("POST"), &post, kind).times(times));
            let name = format!("Fault: {what}");
            created.insert(name.clone(), c.create_ok(&name).await);
            c.app.fake.state().clear_faults();
            // A slow answer may still be executing at the fake: let it finish before counting.
            tokio::time::sleep(Duration::from_millis(1600)).await;
            c.assert_exactly_once(&created).await;
            c.assert_answering().await;
        }
        // The same key once more replays the answer; nothing more reaches X.
        let posts = c.app.x_writes().len();
        let (status, body) = c.create_once("Fault: 500", "faults-Fault: 500").await;
        assert_eq!(
            (status, body["id"].clone()),
            (201, json!(created["Fault: 500"]))
        );
        assert_eq!(c.app.x_writes().len(), posts);
        c.assert_exactly_once(&created).await;
    }
}

#[tokio::test]
#[ignore = "slow: scripts/slow-tests.sh"]
async fn every_x_fault_during_a_sync_loses_and_duplicates_no_row() {
    let want = reference_rows().await;
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, &[]).await;
        let stats = stats_prefix(&c.kwd);
        let faults: Vec<(FakeKind, u32)> = vec![
            (
                FakeKind::ServiceUnavailable {
                    retry_after_secs: 1,
                },
                2,
            ),
            (FakeKind::InternalError, 1),
            (FakeKind::BadGatewayHtml, 1),
            (FakeKind::GatewayTimeoutHtml, 1),
            (
                FakeKind::Latency {
                    ms: X_TIMEOUT_SECS * 1000 + 500,
                },
                1,
            ),
            (FakeKind::DropAfterCommit, 1),
            (FakeKind::DropBeforeCommit, 1),
            (FakeKind::TruncatedBody, 1),
            // A storm longer than the retry budget: this run fails, the next one resumes.
            (FakeKind::InternalError, 4),
        ];
        for (kind, times) in faults {
            c.app
                .fake
                .state()
                .add_fault(FaultRule::new(Some("GET"), &stats, kind).times(times));
            let _ = c.sync().await;
            c.assert_answering().await;
            c.app.fake.state().clear_faults();
            c.sync_until_succeeded().await;
            assert_same_rows(&c.stats_rows().await, &want);
        }

        // X down for a whole sync: the run fails, the API keeps answering, the next run resumes.
        c.app.fake.state().add_fault(FaultRule::new(
            None,
            "/12/",
            FakeKind::ServiceUnavailable {
                retry_after_secs: 1,
            },
        ));
        let during = c.sync().await;
        assert_ne!(during, "succeeded", "X is down");
        c.assert_answering().await;
        c.app.fake.state().clear_faults();
        c.sync_until_succeeded().await;
        assert_same_rows(&c.stats_rows().await, &want);
    }
}

// ---------------------------------------------------------------------------------------------
// Redis killed, restarted and paused.

/// A private `redis-server` on a free loopback port, killed and restarted at will.
struct RedisServer {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts one, or `None` (after skip-or-fail) where `redis-server` is not installed.
    async fn start() -> Option<RedisServer> {
        let dir = std::env::temp_dir().join(format!("xads-redis-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer {
            port: free_port(),
            dir,
            child: None,
        };
        if !server.spawn() {
            xads::testing::skip_or_fail("redis-server is not installed");
            return None;
        }
        server.wait_up().await;
        Some(server)
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                self.child = Some(c);
                true
            }
            Err(_) => false,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_up(&self) {
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server on {} never answered", self.port);
    }

    /// `kill -9`.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        assert!(self.spawn());
        self.wait_up().await;
    }

    /// `DEBUG SLEEP secs` on its own connection: Redis answers nobody meanwhile.
    async fn pause(&self, secs: u32) -> tokio::task::JoinHandle<()> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        tokio::spawn(async move {
            let _ = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(secs)
                .query_async::<()>(&mut conn)
                .await;
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
#[ignore = "slow: scripts/slow-tests.sh"]
async fn redis_killed_restarted_and_paused_during_writes_and_a_sync() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let want = reference_rows().await;
    let c = connected(&xads::testing::sqlite_url(), &[("REDIS_URL", redis.url())]).await;
    let mut created = BTreeMap::new();
    for i in 0..3 {
        let name = format!("Redis up {i}");
        created.insert(name.clone(), c.create_ok(&name).await);
    }

    // Redis dies: the limiter fails over to in-process (the documented side), writes and syncs go on.
    redis.kill();
    c.assert_answering().await;
    for i in 0..3 {
        let name = format!("Redis down {i}");
        created.insert(name.clone(), c.create_ok(&name).await);
    }
    c.sync_until_succeeded().await;
    assert_same_rows(&c.stats_rows().await, &want);
    c.assert_answering().await;

    // Back (empty: no persistence), then writes again.
    redis.restart().await;
    for i in 0..2 {
        let name = format!("Redis back {i}");
        created.insert(name.clone(), c.create_ok(&name).await);
    }

    // Redis hangs (DEBUG SLEEP) during writes and a sync.
    let paused = redis.pause(4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.assert_answering().await;
    for i in 0..2 {
        let name = format!("Redis paused {i}");
        created.insert(name.clone(), c.create_ok(&name).await);
    }
    c.sync_until_succeeded().await;
    paused.await.unwrap();

    c.assert_exactly_once(&created).await;
    assert_same_rows(&c.stats_rows().await, &want);
    assert_eq!(
        c.app
            .x_writes()
            .iter()
            .filter(|w| w.method == "POST")
            .count(),
        created.len(),
        "one POST per create: no fault at X, so nothing was retried"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL cut during a sync and writes.

#[tokio::test]
#[ignore = "slow: scripts/slow-tests.sh"]
async fn postgres_cut_during_a_sync_and_writes_loses_and_duplicates_nothing() {
    let Some(schema_url) = xads::testing::postgres_schema_url().await else {
        return;
    };
    let want = reference_rows().await;
    let mut url = url::Url::parse(&schema_url).unwrap();
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let mut pg = proxy::Proxy::start(&target).await;
    url.set_port(Some(pg.addr().port())).unwrap();
    let c = connected(url.as_str(), &[]).await;
    let mut created = BTreeMap::new();
    created.insert(
        "Before the cut".to_owned(),
        c.create_ok("Before the cut").await,
    );

    // A sync is under way (its stats call is slow) when PostgreSQL goes away.
    let stats = stats_prefix(&c.kwd);
    c.app
        .fake
        .state()
        .add_fault(FaultRule::new(Some("GET"), &stats, FakeKind::Latency { ms: 1500 }).times(1));
    let sync = {
        let (http, base, key, kwd) = (
            c.app.http.clone(),
            c.app.base.clone(),
            c.key.clone(),
            c.kwd.clone(),
        );
        tokio::spawn(async move {
            http.post(format!(
                "{base}/api/v1/x_ads/accounts/{kwd}/stats/sync?wait=true"
            ))
            .bearer_auth(key)
            .timeout(Duration::from_secs(120))
            .json(&json!({}))
            .send()
            .await
            .map(|r| r.status().as_u16())
        })
    };
    let mut reached = false;
    for _ in 0..100 {
        if c.app
            .fake
            .state()
            .ledger()
            .iter()
            .any(|e| e.path.starts_with(&stats))
        {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reached, "the sync reached its stats calls");
    pg.stop().await;
    c.assert_answering().await;
    // A write while the database is away is refused (nothing half-written), not hung.
    let (status, body) = c
        .create_once("During the cut", "faults-During the cut")
        .await;
    assert!(
        retryable(status),
        "a write without a database is refused with a retryable status: {status} {body}"
    );
    let _ = sync.await.unwrap();
    pg.restart().await;

    // PostgreSQL is back: the same key completes the write exactly once, the sync resumes.
    created.insert("During the cut".to_owned(), {
        let (status, body) = c.create("During the cut", "faults-During the cut").await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    });
    c.sync_until_succeeded().await;
    c.assert_exactly_once(&created).await;
    assert_same_rows(&c.stats_rows().await, &want);
    c.assert_answering().await;
}

// ---------------------------------------------------------------------------------------------
// The process killed between "sent" and "recorded".

/// A TCP proxy to the fake X that can swallow X's answers: the request reaches X (and commits),
/// the answer never comes back — the window in which a crash leaves "sent but not recorded".
struct HoldProxy {
    addr: SocketAddr,
    hold: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldProxy {
    async fn start(target: String) -> HoldProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = Arc::new(AtomicBool::new(false));
        let flag = hold.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (target, hold) = (target.clone(), flag.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut in_r, mut in_w) = inbound.into_split();
                    let (mut out_r, mut out_w) = outbound.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut in_r, &mut out_w).await;
                        let _ = out_w.shutdown().await;
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match out_r.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if hold.load(Ordering::SeqCst) {
                                // The answer is lost on the way; the socket stays open.
                                std::future::pending::<()>().await;
                            }
                            if in_w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = in_w.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        HoldProxy { addr, hold, task }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `xads serve` as a child process, killed on drop.
struct Serve {
    child: Child,
}

impl Serve {
    fn spawn(vars: &std::collections::HashMap<String, String>) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_xads"))
            .arg("serve")
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .envs(vars)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xads serve");
        Serve { child }
    }

    fn kill_9(&mut self) {
        // `Child::kill` is SIGKILL on Unix: no shutdown hook runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill_9();
    }
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("xads serve never answered /healthz");
}

#[tokio::test]
#[ignore = "slow: scripts/slow-tests.sh"]
async fn a_process_killed_between_send_and_record_resumes_with_exactly_one_entity() {
    let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
    let x = HoldProxy::start(fake.base_url().authority().to_owned()).await;
    let db_url = xads::testing::sqlite_url();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut vars = vars_for(&db_url, &fake);
    for (k, v) in [
        ("X_ADS_API_BASE_URL", x.base()),
        ("X_API_BASE_URL", x.base()),
        ("XADS_BIND", format!("127.0.0.1:{port}")),
        ("X_ADS_LIVE_MODE", "true".into()),
    ] {
        vars.insert(k.into(), v);
    }
    let key = {
        let db = xads::db::Db::connect(&db_url).await.unwrap();
        db.migrate(chrono::Utc::now()).await.unwrap();
        let (_, key) = xads::store::tenants::create(&db, "Growth", chrono::Utc::now())
            .await
            .unwrap();
        db.close().await;
        key.0
    };
    let http = crate::http_client();
    let mut serve = Serve::spawn(&vars);
    wait_healthy(&http, &base).await;

    // Connect through the process: X's authorize page, then our callback.
    let resp = http
        .post(format!("{base}/api/v1/integrations/x_ads/connect"))
        .bearer_auth(&key)
        .json(&json!({"method": "oauth2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let authorize: Value = resp.json().await.unwrap();
    let at_x = http
        .get(authorize["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(at_x.headers()["location"].to_str().unwrap()).unwrap();
    let cb = http
        .get(format!(
            "{base}/oauth/x_ads/callback?{}",
            location.query().unwrap_or_default()
        ))
        .send()
        .await
        .unwrap();
    assert!(cb.status().is_redirection(), "{}", cb.status());

    let seed = fake.state().seed_info();
    let account = seed.account(&seed.usd_account_id).unwrap().clone();
    let body = json!({"name": "Killed mid-write", "funding_instrument_id": account.funding_instrument_id,
        "daily_budget_amount_local_micro": 3_000_000});
    let url = format!("{base}/api/v1/x_ads/accounts/{}/campaigns", account.id);
    let idem = "kill-9-mid-write";
    let post = |http: reqwest::Client| {
        let (url, key, body) = (url.clone(), key.clone(), body.clone());
        async move {
            http.post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", idem)
                .timeout(Duration::from_secs(60))
                .json(&body)
                .send()
                .await
        }
    };
    let committed = |fake: &FakeX| {
        fake.state()
            .campaigns(&account.id)
            .into_iter()
            .filter(|c| c.name == "Killed mid-write")
            .collect::<Vec<_>>()
    };

    // X commits the create; its answer is lost; the process dies before recording anything.
    x.hold.store(true, Ordering::SeqCst);
    let pending = tokio::spawn(post(http.clone()));
    let mut reached = false;
    for _ in 0..200 {
        if !committed(&fake).is_empty() {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reached, "the create reached X");
    serve.kill_9();
    assert!(
        pending.await.unwrap().is_err(),
        "the dashboard saw no answer"
    );
    x.hold.store(false, Ordering::SeqCst);

    // Restarted, the same request with the same key resumes: it reconciles with X, sends nothing
    // twice, and answers with X's id. Until the dead holder's lease lapses it answers 409.
    let mut serve = Serve::spawn(&vars);
    wait_healthy(&http, &base).await;
    let mut answer = None;
    let mut in_flight = 0;
    for _ in 0..60 {
        let r = post(http.clone())
            .await
            .expect("the restarted process answers");
        let status = r.status().as_u16();
        if status == 409 {
            in_flight += 1;
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        answer = Some((status, r.json::<Value>().await.unwrap()));
        break;
    }
    let (status, got) = answer.expect("the retried write completed within the bound");
    assert_eq!(status, 201, "{got} (after {in_flight} × 409)");
    let at_x = committed(&fake);
    assert_eq!(at_x.len(), 1, "exactly one campaign at X");
    assert_eq!(got["id"], json!(at_x[0].id));
    let posts = fake
        .state()
        .ledger()
        .iter()
        .filter(|e| {
            e.method == "POST" && e.path == format!("/12/accounts/{}/campaigns", account.id)
        })
        .count();
    assert_eq!(posts, 1, "the create was sent to X once");
    let db = xads::db::Db::connect(&db_url).await.unwrap();
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM entities WHERE kind = 'campaign' AND id = $1")
            .bind(at_x[0].id.clone())
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(rows, 1);
    db.close().await;
    // A replay after that is byte-identical in substance and sends nothing.
    let again: Value = post(http.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], got["id"]);
    serve.kill_9();
}
