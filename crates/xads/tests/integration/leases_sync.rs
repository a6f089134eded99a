//! Leases that outlive the work they guard (issue 15, items 3 and 4), on two instances sharing
//! the database (and Redis, where one is reachable): a token refresh slower than its lock is
//! spent once and the grant survives; a connection left in `error` by X being down during the
//! connect recovers by itself; one running sync per account; an account X holds back does not
//! delay the others; `?wait=true` is bounded.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::Duration;
use xads::app::{AppState, Application};
use xads::config::Config;
use xads::store::connections::{self, Status};
use xads::x::XSession;
use xads_fake::{FakeConfig, FakeX, FaultKind, FaultRule};

use crate::helpers::{TestApp, vars_for};

/// Another instance of the service on the same database, Redis and fake X: its own state,
/// pools, clock and HTTP listener. Stops when dropped.
pub struct Instance {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its state.
    pub state: AppState,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Instance {
    pub async fn start(config: Config) -> Instance {
        let app = Application::build(config).await.expect("second instance");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let server = tokio::spawn(app.run(std::future::pending()));
        Instance {
            base,
            state,
            server,
        }
    }
}

/// Redis for both instances' limiter when one answers (or fail, when services are required).
pub async fn shared_redis() -> Option<String> {
    let url = xads::testing::redis_url();
    if xads::redis_conn::Redis::connect(&url).await.is_ok() {
        Some(url)
    } else {
        xads::testing::skip_or_fail(&format!("no Redis at {url}: instances without one"));
        None
    }
}

/// The variables of an instance on `db` against `fake`, sharing Redis when given.
pub fn vars(db: &str, fake: &FakeX, redis: Option<&str>) -> HashMap<String, String> {
    let mut vars = vars_for(db, fake);
    if let Some(r) = redis {
        vars.insert("REDIS_URL".into(), r.into());
    }
    vars.insert("XADS_METRICS_BIND".into(), "off".into());
    vars
}

/// Two instances on `db`: A (a `TestApp`, owning the fake) and B, both with `tune` applied to
/// their configuration.
pub async fn two_instances(
    db: &str,
    fake_config: FakeConfig,
    tune: impl Fn(&mut Config),
) -> (TestApp, Instance) {
    let fake = FakeX::start(fake_config).await.expect("fake X");
    let redis = shared_redis().await;
    let vars = vars(db, &fake, redis.as_deref());
    let mut config = Config::from_vars(&vars).expect("config");
    tune(&mut config);
    let b = Instance::start(config.clone()).await;
    let a = TestApp::spawn_config(fake, config).await;
    (a, b)
}

async fn tenant_id(state: &AppState, key: &str) -> String {
    xads::store::tenants::by_api_key(&state.db, key)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// One authenticated call to X through the tenant's session on `state`.
async fn call_x(state: AppState, tenant_id: String) -> Result<(), xads::x::XSessionError> {
    let session = XSession::for_tenant(&state, &tenant_id).await?;
    session
        .call(|x| async move {
            x.list_accounts(&xads_client::ListParams::new())
                .await
                .map(|_| ())
        })
        .await
}

/// X's token endpoint takes three times the refresh lock's length to answer, while callers on
/// two instances (whose clocks disagree by ten minutes) meet a due access token: the lock is
/// renewed while its holder waits for X, so the refresh token is spent exactly once and X never
/// revokes the grant. Under the old lock (fixed length, each instance's clock) the second
/// instance took the lapsed lock and spent the token again.
#[tokio::test]
async fn a_refresh_slower_than_its_lock_is_spent_once_and_the_grant_survives() {
    for db in xads::testing::all_backend_urls().await {
        let (a, b) = two_instances(&db, FakeConfig::default(), |c| {
            c.leases.refresh_lock = StdDuration::from_secs(1);
        })
        .await;
        let key = a.tenant("Growth").await;
        a.connect(&key).await;
        let tenant = tenant_id(&a.state, &key).await;
        // Both see the access token due; B's clock runs ten minutes ahead of A's.
        a.state.clock.advance(Duration::hours(2));
        b.state
            .clock
            .advance(Duration::hours(2) + Duration::minutes(10));
        a.fake.add_fault(FaultRule::new(
            Some("POST"),
            "/2/oauth2/token",
            FaultKind::Latency { ms: 3_000 },
        ));
        let before = a.fake.oauth_counters();
        let mut calls = Vec::new();
        for i in 0..16 {
            let state = if i % 2 == 0 {
                a.state.clone()
            } else {
                b.state.clone()
            };
            calls.push(tokio::spawn(call_x(state, tenant.clone())));
            if i == 0 {
                // The first caller is at X with the refresh before the others arrive.
                tokio::time::sleep(StdDuration::from_millis(300)).await;
            }
        }
        for c in calls {
            c.await.unwrap().expect("every caller gets through");
        }
        let after = a.fake.oauth_counters();
        assert_eq!(after.refresh_calls - before.refresh_calls, 1, "{db}");
        assert_eq!(after.refresh_successes - before.refresh_successes, 1);
        assert!(a.fake.family_revocations().is_empty(), "{db}");
        // The new pair was stored and works; the lock is free again.
        a.fake.clear_faults();
        let conn = connections::for_tenant(&a.state.db, &tenant)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conn.status, Status::Connected);
        let (lock, holder): (Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT refresh_lock_until, refresh_lock_holder FROM connections WHERE id = $1",
        )
        .bind(&conn.id)
        .fetch_one(a.state.db.pool())
        .await
        .unwrap();
        assert_eq!((lock, holder), (None, None));
        call_x(b.state.clone(), tenant.clone()).await.unwrap();
    }
}

/// The refresh lock's expiry is written and compared by the database's clock: an instance whose
/// own clock runs an hour ahead still sees another's fresh lock as held.
#[tokio::test]
async fn the_refresh_lock_expires_by_the_database_clock() {
    for db in xads::testing::all_backend_urls().await {
        let app = TestApp::spawn(&db, FakeConfig::default()).await;
        let key = app.tenant("Growth").await;
        app.connect(&key).await;
        let tenant = tenant_id(&app.state, &key).await;
        let conn = connections::for_tenant(&app.state.db, &tenant)
            .await
            .unwrap()
            .unwrap();
        let db_ = &app.state.db;
        let hold = StdDuration::from_secs(60);
        let v = conn.token_version;
        assert!(
            connections::try_lock_refresh(db_, &conn.id, v, "one", hold)
                .await
                .unwrap()
        );
        // Whatever the instances' clocks say, the lock is held: nobody else takes it.
        app.state.clock.advance(Duration::hours(1));
        assert!(
            !connections::try_lock_refresh(db_, &conn.id, v, "two", hold)
                .await
                .unwrap()
        );
        let until: i64 =
            sqlx::query_scalar("SELECT refresh_lock_until FROM connections WHERE id = $1")
                .bind(&conn.id)
                .fetch_one(db_.pool())
                .await
                .unwrap();
        let db_now = db_.now().await.unwrap().timestamp_millis();
        assert!(
            until > db_now && until <= db_now + 60_000,
            "{until} vs {db_now}"
        );
        // Only the holder renews or releases it.
        assert!(
            !connections::renew_refresh_lock(db_, &conn.id, "two", hold)
                .await
                .unwrap()
        );
        connections::unlock_refresh(db_, &conn.id, "two")
            .await
            .unwrap();
        assert!(
            !connections::try_lock_refresh(db_, &conn.id, v, "two", hold)
                .await
                .unwrap()
        );
        assert!(
            connections::renew_refresh_lock(db_, &conn.id, "one", hold)
                .await
                .unwrap()
        );
        connections::unlock_refresh(db_, &conn.id, "one")
            .await
            .unwrap();
        assert!(
            connections::try_lock_refresh(db_, &conn.id, v, "two", hold)
                .await
                .unwrap()
        );
    }
}

/// X is down while the connect probes `/12/accounts`: the connection is left in `error` with
/// its tokens. Re-probed in the background with backoff (the first within a minute, each once
/// across the two instances, with a token refresh on the way), it is `connected` with its
/// accounts once X answers — without a new OAuth round trip.
#[tokio::test]
async fn a_connection_left_in_error_by_x_down_recovers_by_itself() {
    for db in xads::testing::all_backend_urls().await {
        let (a, b) = two_instances(&db, FakeConfig::default(), |_| {}).await;
        let key = a.tenant("Growth").await;
        let tenant = tenant_id(&a.state, &key).await;
        let authorize = a.start_connect(&key).await;
        let query = a.approve_at_x(&authorize).await;
        a.fake.add_fault(FaultRule::new(
            Some("GET"),
            "/12/accounts",
            FaultKind::InternalError,
        ));
        let resp = a.callback(&query).await;
        assert!(resp.status().is_client_error(), "{}", resp.status());
        let (_, tile) = a.get(&key, "/api/v1/integrations").await;
        assert_eq!(tile["data"][0]["status"], "error", "{tile}");
        let conn = connections::for_tenant(&a.state.db, &tenant)
            .await
            .unwrap()
            .unwrap();
        assert!(
            connections::load_tokens(&a.state.db, &a.state.sealer, &conn.id)
                .await
                .unwrap()
                .is_some(),
            "tokens kept"
        );
        let (due, failed) = connections::reprobe_schedule(&a.state.db, &conn.id)
            .await
            .unwrap()
            .unwrap();
        let due = due.expect("a re-probe is scheduled");
        assert!(due <= a.state.clock.now() + Duration::minutes(1), "{due}");
        assert_eq!(failed, 0);
        let exchanges = a.fake.oauth_counters().code_exchanges;

        // Not due yet: nobody probes.
        assert!(
            xads::connect::reprobe_tick(&a.state, "probe-a")
                .await
                .unwrap()
                .is_empty()
        );
        // Due, X still down: one instance probes, it stays in error and backs off.
        for s in [&a.state, &b.state] {
            s.clock.advance(Duration::minutes(1));
        }
        let (ra, rb) = tokio::join!(
            xads::connect::reprobe_tick(&a.state, "probe-a"),
            xads::connect::reprobe_tick(&b.state, "probe-b")
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.len() + rb.len() <= 1, "{ra:?} {rb:?}");
        let (due2, failed) = connections::reprobe_schedule(&a.state.db, &conn.id)
            .await
            .unwrap()
            .unwrap();
        if ra.len() + rb.len() == 1 {
            assert_eq!(failed, 1);
            assert!(due2.unwrap() > due + Duration::seconds(60), "backs off");
        }
        let (_, tile) = a.get(&key, "/api/v1/integrations").await;
        assert_eq!(tile["data"][0]["status"], "error", "{tile}");

        // X is back, and by now the access token is due: the re-probe refreshes it (the
        // connection in error may) and recovers the connection, once across both instances.
        a.fake.clear_faults();
        for s in [&a.state, &b.state] {
            s.clock.advance(Duration::hours(2));
        }
        a.fake.clear_ledger();
        let refreshes = a.fake.oauth_counters().refresh_successes;
        let (ra, rb) = tokio::join!(
            xads::connect::reprobe_tick(&a.state, "probe-a"),
            xads::connect::reprobe_tick(&b.state, "probe-b")
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.len() + rb.len() <= 1, "{ra:?} {rb:?}");
        let probes = a
            .fake
            .ledger()
            .iter()
            .filter(|e| e.method == "GET" && e.path == "/12/accounts")
            .count();
        assert_eq!(probes, 1, "{db}: probed once across the instances");
        assert_eq!(a.fake.oauth_counters().refresh_successes - refreshes, 1);
        // Either instance shows it.
        let tile: serde_json::Value = a
            .http
            .get(format!("{}/api/v1/integrations", b.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(tile["data"][0]["status"], "connected", "{tile}");
        assert_eq!(tile["data"][0]["problem"], serde_json::Value::Null);
        assert_eq!(tile["data"][0]["accounts"].as_array().unwrap().len(), 3);
        assert_eq!(
            a.fake.oauth_counters().code_exchanges,
            exchanges,
            "no new OAuth round trip"
        );
        assert!(a.fake.family_revocations().is_empty());
        // Nothing more to probe.
        assert_eq!(
            connections::reprobe_schedule(&a.state.db, &conn.id)
                .await
                .unwrap()
                .unwrap(),
            (None, 0)
        );
    }
}

/// The first ad account of the fake (in the order the scheduler walks them) and the others.
fn accounts_in_order(fake: &FakeX) -> Vec<String> {
    let mut ids: Vec<String> = fake.accounts().into_iter().map(|a| a.id).collect();
    ids.sort();
    ids
}

/// Polls a run until it is no longer running.
async fn finished_run(app: &TestApp, key: &str, account: &str, id: &str) -> serde_json::Value {
    loop {
        let (status, run) = app
            .get(
                key,
                &format!("/api/v1/x_ads/accounts/{account}/stats/sync/{id}?wait=true"),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        if run["status"] != "running" {
            return run;
        }
    }
}

/// Two on-demand syncs of one account at once, one on each instance, while X holds the account's
/// stats: one run, whose `sync_id` both answers carry (the second joins it, 202 as PRODUCT.md
/// §5.1 answers a start). `?wait=true` waits a bounded time, then answers 202 with the id.
#[tokio::test]
async fn concurrent_on_demand_syncs_of_one_account_are_one_run_and_wait_is_bounded() {
    for db in xads::testing::all_backend_urls().await {
        let (a, b) = two_instances(&db, FakeConfig::default(), |c| {
            c.leases.sync_wait = StdDuration::from_millis(300);
        })
        .await;
        let key = a.tenant("Growth").await;
        a.connect(&key).await;
        let tenant = tenant_id(&a.state, &key).await;
        let account = accounts_in_order(&a.fake)[0].clone();
        a.fake.add_fault(FaultRule::new(
            Some("GET"),
            &format!("/12/stats/accounts/{account}"),
            FaultKind::Latency { ms: 1_500 },
        ));
        let path = format!("/api/v1/x_ads/accounts/{account}/stats/sync");
        let post = |base: String| {
            let (http, key, path) = (a.http.clone(), key.clone(), path.clone());
            async move {
                let resp = http
                    .post(format!("{base}{path}"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<serde_json::Value>().await.unwrap())
            }
        };
        let ((sa, ra), (sb, rb)) = tokio::join!(post(a.base.clone()), post(b.base.clone()));
        assert_eq!((sa, sb), (202, 202), "{ra} {rb}");
        assert_eq!(
            ra["sync_id"], rb["sync_id"],
            "{db}: the second joined the first"
        );
        let id = ra["sync_id"].as_str().unwrap().to_owned();
        // A third, waiting: the run outlasts the bound, so 202 with the same id.
        let waited = a
            .http
            .post(format!("{}{path}?wait=true", b.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(waited.status().as_u16(), 202);
        let waited: serde_json::Value = waited.json().await.unwrap();
        assert_eq!(waited["sync_id"], id.as_str());
        assert_eq!(waited["status"], "running");
        let run = finished_run(&a, &key, &account, &id).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let runs = xads::store::sync_runs::runs(&a.state.db, &tenant, &account)
            .await
            .unwrap();
        assert_eq!(runs.len(), 1, "{db}: one run");
        // Once it ended, the next request starts a new run.
        a.fake.clear_faults();
        let (status, next) = a.send(reqwest::Method::POST, &key, &path, None).await;
        assert_eq!(status, 202, "{next}");
        let next_id = next["sync_id"].as_str().unwrap().to_owned();
        let done = finished_run(&a, &key, &account, &next_id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_ne!(done["sync_id"], id.as_str());
    }
}

/// The scheduler with X holding one account's stats (the first account it walks) three times
/// longer than a sync lease: the instance that claimed the slot syncs the other accounts while
/// that one is still held (they start and end before it ends), and the other instance, ticking
/// after the lease's length, takes over nothing (the held account's lease is renewed): each
/// account syncs once.
#[tokio::test]
async fn the_scheduler_syncs_the_others_while_x_holds_one_account() {
    for db in xads::testing::all_backend_urls().await {
        let (a, b) = two_instances(&db, FakeConfig::default(), |c| {
            c.leases.sync = StdDuration::from_secs(1);
        })
        .await;
        let key = a.tenant("Growth").await;
        a.connect(&key).await;
        let tenant = tenant_id(&a.state, &key).await;
        // The tenant's accounts, in the order the scheduler walks them.
        let mut accounts: Vec<String> = connections::ad_accounts(&a.state.db, &tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        accounts.sort();
        assert_eq!(accounts.len(), 3);
        let held = accounts[0].clone();
        a.fake.add_fault(FaultRule::new(
            Some("GET"),
            &format!("/12/stats/accounts/{held}"),
            FaultKind::Latency { ms: 3_000 },
        ));
        let state = a.state.clone();
        let on_a = tokio::spawn(async move { xads::sync::scheduler::tick(&state).await });
        // Past the lease's length, while X still holds the account.
        tokio::time::sleep(StdDuration::from_millis(1_800)).await;
        let on_b = xads::sync::scheduler::tick(&b.state).await.unwrap();
        assert!(on_b.is_empty(), "{db}: B took over {on_b:?}");
        let on_a = on_a.await.unwrap().unwrap();
        assert_eq!(on_a.len(), 3, "{on_a:?}");
        assert!(on_a.iter().all(|o| o.result.is_ok()), "{on_a:?}");
        let mut runs = HashMap::new();
        for acct in &accounts {
            let r = xads::store::sync_runs::runs(&a.state.db, &tenant, acct)
                .await
                .unwrap();
            assert_eq!(r.len(), 1, "{db}: {acct} synced once");
            assert_eq!(r[0].status, "succeeded");
            runs.insert(acct.clone(), r[0].clone());
        }
        let held_end = runs[&held].finished_at.unwrap();
        for acct in &accounts[1..] {
            let r = &runs[acct];
            assert!(
                r.finished_at.unwrap() < held_end,
                "{db}: {acct} waited for the held account ({r:?} vs {held_end})"
            );
        }
    }
}
