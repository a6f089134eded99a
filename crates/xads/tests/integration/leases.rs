//! Leases that outlive the work (issue 15, items 1 and 2), on two instances sharing the
//! database — and, on PostgreSQL, Redis — as behind a load balancer.
//!
//! Leases are shortened (a few hundred milliseconds instead of 60 s) so that a write can be held
//! at X "past its lease" several times over without a test waiting a minute; the renewal period
//! is a third of the lease as in production. Holding is the fake's `hold` fault (a gate the test
//! opens), so nothing depends on how fast the machine is.

use std::time::Duration as StdDuration;

use serde_json::{Value, json};
use xads::app::{AppState, Application};
use xads::config::{Config, Leases};
use xads::store::idempotency::{self, Claim};
use xads_fake::{FakeConfig, FakeX, FaultKind, FaultRule};

use crate::helpers::{AccountCtx, TestApp, vars_for};

/// The leases of these tests: short, and the pause before a second lookup long enough for a
/// test to act in between.
fn short_leases() -> Leases {
    Leases {
        idempotency: StdDuration::from_millis(300),
        x_write: StdDuration::from_millis(300),
        recheck_after: StdDuration::from_secs(2),
        recovery_every: StdDuration::from_secs(3600),
    }
}

/// Whether a Redis answers (else the test skips, or fails when CI requires services).
async fn redis_up(url: &str) -> bool {
    let up = async {
        let client = redis::Client::open(url).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    let ok = tokio::time::timeout(StdDuration::from_secs(2), up)
        .await
        .ok()
        .flatten()
        .is_some();
    if !ok {
        xads::testing::skip_or_fail(&format!("no Redis at {url}"));
    }
    ok
}

/// The configuration of one instance: live, on `db`, against `fake`, with `leases`; on
/// PostgreSQL also on the shared Redis (as a scaled-out deployment runs).
async fn config(db: &str, fake: &FakeX, leases: Leases) -> Option<Config> {
    let mut vars = vars_for(db, fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    if db.starts_with("postgres") {
        let redis = xads::testing::redis_url();
        if !redis_up(&redis).await {
            return None;
        }
        vars.insert("REDIS_URL".into(), redis);
    }
    let mut config = Config::from_vars(&vars).expect("config");
    config.leases = leases;
    Some(config)
}

/// A second instance serving on its own port, on the same database (and Redis) and fake.
struct Peer {
    base: String,
    state: AppState,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Instance A (a connected tenant on the USD account) and instance B, both with `leases`.
async fn two_instances(db: &str, leases: Leases) -> Option<(AccountCtx, Peer)> {
    let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
    let config_a = config(db, &fake, leases).await?;
    let config_b = config(db, &fake, leases).await?;
    let app = TestApp::spawn_config(fake, config_a).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let a = AccountCtx::of(app, key);
    let b = Application::build(config_b).await.expect("instance B");
    let peer = Peer {
        base: format!("http://{}", b.local_addr()),
        state: b.state().clone(),
        server: tokio::spawn(b.run(std::future::pending())),
    };
    Some((a, peer))
}

/// `POST …/campaigns` with an `Idempotency-Key` on the instance at `base`.
async fn post_campaign(a: &AccountCtx, base: &str, idem: &str, body: &Value) -> (u16, Value, bool) {
    let resp = a
        .app
        .http
        .post(format!("{base}{}", a.path("campaigns")))
        .bearer_auth(&a.key)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().contains_key("idempotent-replayed");
    (status, resp.json().await.unwrap_or_default(), replayed)
}

/// The POSTs that reached X on `path_suffix` of the account (`campaigns`, `line_items`, …).
fn posts_at_x(a: &AccountCtx, path_suffix: &str) -> usize {
    let path = format!("/12/accounts/{}/{path_suffix}", a.account);
    a.app
        .fake
        .state()
        .ledger()
        .iter()
        .filter(|e| e.method == "POST" && e.path == path)
        .count()
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The stored lease of an idempotency key, in epoch milliseconds of the database's clock.
async fn key_lease(state: &AppState, idem: &str) -> i64 {
    sqlx::query_scalar("SELECT lease_until FROM idempotency_keys WHERE idem_key = $1")
        .bind(idem)
        .fetch_one(state.db.pool())
        .await
        .unwrap()
}

/// A create held at X far past the lease it started with: its claim is renewed, so the same
/// request on the other instance answers 409 in flight instead of taking the key over and
/// creating a second campaign; once X answers, the retry replays the one campaign.
#[tokio::test]
async fn a_write_held_at_x_past_its_lease_is_made_once_across_instances() {
    for db in xads::testing::all_backend_urls().await {
        let Some((a, b)) = two_instances(&db, short_leases()).await else {
            continue;
        };
        let body = json!({"name": "Held at X", "funding_instrument_id": a.fi, "daily_budget_amount_local_micro": 2_000_000});
        a.app.fake.state().add_fault(
            FaultRule::new(
                Some("POST"),
                &format!("/12/accounts/{}/campaigns", a.account),
                FaultKind::Hold {
                    gate: "campaign".into(),
                },
            )
            .times(1),
        );
        let first = {
            let (a_base, body) = (a.app.base.clone(), body.clone());
            let (http, key, path) = (a.app.http.clone(), a.key.clone(), a.path("campaigns"));
            tokio::spawn(async move {
                http.post(format!("{a_base}{path}"))
                    .bearer_auth(key)
                    .header("Idempotency-Key", "held-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            })
        };
        until("the create is held at X", async || {
            posts_at_x(&a, "campaigns") == 1
        })
        .await;
        // Far past the first lease: it would have lapsed three times over without renewal.
        let first_lease = key_lease(&a.app.state, "held-1").await;
        until("the first lease is long gone", async || {
            let now = a.app.state.db.now().await.unwrap().timestamp_millis();
            now > first_lease + 3 * 300
        })
        .await;
        let db_now = a.app.state.db.now().await.unwrap().timestamp_millis();
        assert!(
            key_lease(&b.state, "held-1").await > db_now,
            "{db}: the claim was renewed while its request ran"
        );

        // The retry reaches the other instance: in flight, nothing sent.
        let (status, err, _) = post_campaign(&a, &b.base, "held-1", &body).await;
        assert_eq!(status, 409, "{db}: {err}");
        assert_eq!(err["error"]["code"], "idempotency_key_in_flight");
        assert_eq!(posts_at_x(&a, "campaigns"), 1, "{db}: no second create");

        // X answers the first; the retry on B replays it.
        a.app.fake.state().open_gate("campaign");
        let resp = first.await.unwrap();
        assert_eq!(resp.status(), 201, "{db}");
        let made: Value = resp.json().await.unwrap();
        let (status, again, replayed) = post_campaign(&a, &b.base, "held-1", &body).await;
        assert_eq!((status, replayed), (201, true), "{db}: {again}");
        assert_eq!(again["id"], made["id"]);
        let at_x: Vec<_> = a
            .app
            .fake
            .state()
            .campaigns(&a.account)
            .into_iter()
            .filter(|c| c.name == "Held at X")
            .collect();
        assert_eq!(at_x.len(), 1, "{db}: exactly one campaign at X");
        assert_eq!(made["id"], json!(at_x[0].id));
        assert_eq!(posts_at_x(&a, "campaigns"), 1);
        drop(b);
    }
}

/// A holder that died (it claimed the key and stopped renewing) keeps the key in flight until
/// its lease lapsed; then the other instance takes it over and executes, and the dead holder, if
/// it woke up, can neither store its answer nor release the key.
#[tokio::test]
async fn a_dead_holders_key_is_taken_over_only_after_its_lease_lapsed() {
    for db in xads::testing::all_backend_urls().await {
        let Some((a, b)) = two_instances(&db, short_leases()).await else {
            continue;
        };
        let state = &a.app.state;
        let tenant = xads::store::tenants::by_api_key(&state.db, &a.key)
            .await
            .unwrap()
            .unwrap();
        let body = json!({"name": "Taken over", "funding_instrument_id": a.fi});
        // The request's fingerprint, as a first key stored it.
        let (status, _, _) = post_campaign(&a, &a.app.base, "probe", &body).await;
        assert_eq!(status, 201);
        let fingerprint: String =
            sqlx::query_scalar("SELECT fingerprint FROM idempotency_keys WHERE idem_key = 'probe'")
                .fetch_one(state.db.pool())
                .await
                .unwrap();
        // The dead holder: claimed "dead-1" for this request on A (for 2 s, so that B surely
        // comes while it runs), then died (no renewals).
        let lease = StdDuration::from_secs(2);
        let Claim::Execute(dead) = idempotency::claim(
            &state.db,
            &tenant.id,
            "dead-1",
            &fingerprint,
            state.clock.now(),
            lease,
        )
        .await
        .unwrap() else {
            panic!("a new key is executed")
        };
        let dead_lease = key_lease(state, "dead-1").await;
        let posts = posts_at_x(&a, "campaigns");
        // While its lease runs the key is in flight on B: nothing sent.
        let (status, err, _) = post_campaign(&a, &b.base, "dead-1", &body).await;
        assert_eq!(status, 409, "{db}: {err}");
        assert_eq!(posts_at_x(&a, "campaigns"), posts);
        // Lapsed: B takes the key over and executes it once.
        until("the dead holder's lease lapsed", async || {
            b.state.db.now().await.unwrap().timestamp_millis() > dead_lease
        })
        .await;
        let (status, made, replayed) = post_campaign(&a, &b.base, "dead-1", &body).await;
        assert_eq!((status, replayed), (201, false), "{db}: {made}");
        assert_eq!(posts_at_x(&a, "campaigns"), posts + 1);
        // The dead holder wakes up: refused, and the stored answer stays B's.
        assert!(
            !idempotency::finish(&state.db, &tenant.id, "dead-1", &dead, 500, "{}")
                .await
                .unwrap()
        );
        assert!(
            !idempotency::release(&state.db, &tenant.id, "dead-1", &dead)
                .await
                .unwrap()
        );
        let (status, again, replayed) = post_campaign(&a, &a.app.base, "dead-1", &body).await;
        assert_eq!((status, replayed), (201, true), "{db}");
        assert_eq!(again["id"], made["id"]);
        drop(b);
    }
}
